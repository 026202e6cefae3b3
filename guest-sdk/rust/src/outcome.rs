//! What the hooks that decide something return, besides an error.

/// What a `pre_call` hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreCall {
    /// Go on, with the edits made to the request (none, or some through
    /// [`Request::set_texts`](crate::Request::set_texts) and its siblings).
    Proceed,
    /// Answer the client with this text without calling the upstream: a normal
    /// completion for chat and text completions (streamed if asked), a 400 for embeddings.
    Respond(String),
}

impl PreCall {
    /// Answer the client with `text` instead of calling the upstream.
    pub fn respond(text: impl Into<String>) -> Self {
        PreCall::Respond(text.into())
    }
}

/// What a `stream_chunk` hook decided for one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Forward the chunk, with the edits made to it.
    Proceed,
    /// Do not forward it.
    Drop,
}
