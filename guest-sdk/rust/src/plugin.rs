//! The [`Plugin`] trait: a constructor, a per-request context type, and one method per
//! hook, each a no-op unless the plugin overrides it.

use crate::{Chunk, ChunkOutcome, Config, Failure, HookResult, LogEntry, PreCall, Request, Response};

/// A hookgate plugin: a constructor, the state one request carries, and the hooks it
/// implements.
///
/// Override only the hooks you need and put
/// [`#[hookgate_sdk::plugin]`](macro@crate::plugin) on the `impl` block: the component
/// then exports exactly those hooks, and the host calls no others. The defaults do
/// nothing (proceed, approve).
///
/// **State.** The plugin value is made once per component instance, by [`Plugin::new`]
/// from the config, and hooks get it as `&self`: what it holds is configuration, the same
/// for every request. State of one request goes in `Ctx`: the SDK makes a fresh
/// `Ctx::default()` for every request (it tells requests apart by their id, which the host
/// never repeats) and hands it to each of the request's hooks as `&mut`. That holds
/// however the operator runs the plugin: an instance per request, or one instance serving
/// request after request (`instances: reuse`); no hook ever sees another request's
/// context, and nothing needs resetting by hand. State that must outlive a request (a
/// counter, a rate window) belongs in [`kv`](crate::kv). A plugin with no per-request
/// state writes `type Ctx = ();`.
///
/// **Rejections and failures.** A hook returns `Err(HookError)`: a
/// [`Rejection`](crate::Rejection) is the plugin's answer (the client gets its 4xx), a
/// [`fail`](crate::fail)ure is not (the host applies the plugin's `on_error` policy, as it
/// does for a panic, running past `timeout_ms` or `fuel`, growing past `memory_mb`, or
/// edits it refuses). `?` turns a `Rejection` into a rejection and an
/// [`EditError`](crate::EditError) or a [`KvError`](crate::kv::KvError) into a failure.
pub trait Plugin: Sized + 'static {
    /// What one request's hooks share: made fresh (`Default`) for every request.
    type Ctx: Default;

    /// Creates the plugin from its config: once when the host loads it (an `Err` refuses
    /// the plugin with that message), and once in every instance that runs hooks.
    /// Validate the config here and keep what the hooks need, parsed, on `self`.
    fn new(config: Config) -> Result<Self, String>;

    /// Before the upstream call, in priority order among plugins: proceed (with the edits
    /// made to `req`, which later plugins and the upstream see), answer the client
    /// directly, or reject.
    fn pre_call(&self, _ctx: &mut Self::Ctx, _req: &Request) -> HookResult<PreCall> {
        Ok(PreCall::Proceed)
    }

    /// Runs concurrently with the upstream call, for checks too slow to hold the request
    /// up; a rejection cancels the upstream call. `req` is read-only.
    fn moderation(&self, _ctx: &mut Self::Ctx, _req: &Request) -> HookResult<()> {
        Ok(())
    }

    /// After a successful non-streaming upstream call: edit the response (its texts,
    /// body, headers) or reject.
    fn post_call_success(&self, _ctx: &mut Self::Ctx, _req: &Request, _resp: &Response) -> HookResult<()> {
        Ok(())
    }

    /// After any upstream or proxy error. `Ok(())` keeps the error the client gets; the
    /// first rejection among plugins replaces it.
    fn post_call_failure(&self, _ctx: &mut Self::Ctx, _req: &Request, _failure: &Failure) -> HookResult<()> {
        Ok(())
    }

    /// Once per streamed chunk, as it arrives: forward it (with the edits made to it) or
    /// drop it. A rejection ends the stream with an SSE error event.
    fn stream_chunk(&self, _ctx: &mut Self::Ctx, _req: &Request, _chunk: &Chunk) -> HookResult<ChunkOutcome> {
        Ok(ChunkOutcome::Proceed)
    }

    /// Once when a stream ends, with the assembled assistant text: the content, then the
    /// refusal, each tool call's name and arguments, the audio transcript and the texts of
    /// any other field (`reasoning_content`, an annotation's title), each on a line of its own
    /// (exactly the content when there is nothing else). A rejection adds an SSE error
    /// event before `[DONE]` (the text has been sent).
    fn stream_end(&self, _ctx: &mut Self::Ctx, _req: &Request, _text: &str) -> HookResult<()> {
        Ok(())
    }

    /// Off the response path, after a success: the request, the answer and what happened,
    /// for metering, auditing and exporting. Read-only; it cannot change what the client
    /// got. An `Err` is logged as the plugin's failure.
    fn log_success(
        &self,
        _ctx: &mut Self::Ctx,
        _req: &Request,
        _resp: &Response,
        _entry: &LogEntry,
    ) -> Result<(), String> {
        Ok(())
    }

    /// Off the response path, after a failure (`entry.failure` is the error the client
    /// got). Read-only.
    fn log_failure(&self, _ctx: &mut Self::Ctx, _req: &Request, _entry: &LogEntry) -> Result<(), String> {
        Ok(())
    }
}
