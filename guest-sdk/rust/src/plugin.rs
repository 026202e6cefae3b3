//! The [`Plugin`] trait: one method per hook, each a no-op unless the plugin overrides it.

use crate::{
    CallContext, Chunk, ChunkOutcome, Config, Failure, LogPayload, PostCall, PreCall, Rejection, Request, Response,
};

/// A hookgate plugin: a constructor plus the hooks it implements.
///
/// Override only the hooks you need and put
/// [`#[hookgate_sdk::plugin]`](macro@crate::plugin) on the `impl` block: the host then
/// calls exactly those hooks. The defaults do nothing (proceed, accept).
///
/// **Lifetime.** One value of the plugin type lives exactly as long as one request: the
/// SDK creates it with [`Plugin::new`] on the request's first hook, in a component
/// instance the host created for that request and drops after the request's last hook
/// (logging included). Fields on `self` are therefore state the hooks of one request
/// share (what `pre_call` saw, a stream's rolling window); requests never share them.
/// State that must outlive a request belongs in [`kv`](crate::kv).
///
/// **Rejections and faults.** Returning `Err(Rejection)` is the plugin's answer: the
/// client gets its 4xx status and message as an OpenAI error. Panicking, looping past
/// the plugin's `timeout_ms`, burning its `fuel`, growing past `memory_mb`, or returning
/// unusable output (a body that is not JSON, more than `max_output_bytes`) is a fault:
/// the host drops the instance and applies the plugin's `on_error` policy
/// (`fail-open` ignores the plugin for this call, `fail-closed` fails the request); the
/// client never sees it as the plugin's answer.
pub trait Plugin: Sized + 'static {
    /// Creates the plugin from its config.
    ///
    /// Called when the host loads the plugin (through the `init` export, where an `Err`
    /// refuses the plugin with that message) and again at the start of every request.
    /// Validate the config here and keep what the hooks need, parsed, on `self`.
    fn new(config: Config) -> Result<Self, String>;

    /// Before the upstream call, in priority order among plugins: proceed, change the
    /// body (later plugins and the upstream see the change), answer the client directly,
    /// or reject.
    fn pre_call(&mut self, _req: &Request) -> Result<PreCall, Rejection> {
        Ok(PreCall::Proceed)
    }

    /// Runs concurrently with the upstream call, for checks too slow to hold the request
    /// up; a rejection cancels the upstream call. It cannot change the request.
    fn moderation(&mut self, _req: &Request) -> Result<(), Rejection> {
        Ok(())
    }

    /// After a successful non-streaming upstream call: change the response body, add
    /// headers, or reject.
    fn post_call_success(&mut self, _req: &Request, _resp: &Response) -> Result<PostCall, Rejection> {
        Ok(PostCall::Proceed)
    }

    /// After any upstream or proxy error. `Ok(())` keeps the error the client would
    /// get; the first rejection among plugins replaces it.
    fn post_call_failure(&mut self, _req: &Request, _failure: &Failure) -> Result<(), Rejection> {
        Ok(())
    }

    /// Once per streamed chunk, as it arrives: forward it, replace it, or drop it. A
    /// rejection ends the stream with an SSE error event.
    fn stream_chunk(&mut self, _ctx: &CallContext, _chunk: &Chunk) -> Result<ChunkOutcome, Rejection> {
        Ok(ChunkOutcome::Proceed)
    }

    /// Once when a stream ends, with the assembled assistant text. A rejection adds an
    /// SSE error event before `[DONE]` (the text has already been sent).
    fn stream_end(&mut self, _ctx: &CallContext, _text: &str) -> Result<(), Rejection> {
        Ok(())
    }

    /// Off the response path, after a success, with the standard logging payload: for
    /// metering, auditing and exporting. It cannot change what the client got.
    fn log_success(&mut self, _payload: &LogPayload) {}

    /// Off the response path, after a failure, with the standard logging payload.
    fn log_failure(&mut self, _payload: &LogPayload) {}
}
