//! The contract's records, as hooks receive them.
//!
//! [`CallContext`] (request id, call type, key, stream) comes with every hook; the SDK
//! keeps it on the [`Request`](crate::Request) (`req.id()`, `req.call_type()`,
//! `req.key()`). [`Failure`] is what `post_call_failure` observes; [`LogEntry`] what the
//! logging hooks are told besides the request and answer.

pub use crate::bindings::wit::{CallContext, CallType, Decision, Failure, KeyInfo, LogEntry, Usage};
