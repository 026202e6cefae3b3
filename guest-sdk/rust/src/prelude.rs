//! Everything a plugin usually needs: `use hookgate_sdk::prelude::*;`.

pub use crate::{
    fail, normalize, CallType, Chunk, ChunkOutcome, Config, Failure, HoldBack, HookError, HookResult, LogEntry, Plugin,
    PreCall, Rejection, Request, Response,
};
