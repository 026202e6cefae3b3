//! Everything a plugin usually needs: `use hookgate_sdk::prelude::*;`.

pub use crate::{
    normalize, CallContext, CallType, Chunk, ChunkOutcome, Config, Failure, KeyInfo, LogPayload, OrFail, Plugin,
    PostCall, PreCall, Rejection, Request, Response,
};
