//! What hooks decide: go on, change something, or (for `pre_call`) answer directly.
//!
//! These are the SDK's spelling of the WIT outcome variants, with builders for the
//! common cases; the export glue converts them.

use serde::Serialize;

use crate::bindings::wit;

/// What a `pre_call` hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreCall {
    /// Go on with the request unchanged.
    Proceed,
    /// Go on with this body (JSON text) instead; later hooks and the upstream see it.
    Modify(String),
    /// Answer the client with this text without calling the upstream: a normal
    /// completion for chat and text completions, a 400 for embeddings.
    Respond(String),
}

impl PreCall {
    /// Go on with `body`, serialized to JSON, as the new request body.
    ///
    /// # Panics
    /// When `body` cannot be serialized (a map with non-string keys): a plugin bug,
    /// which the host then handles as a fault under the plugin's `on_error` policy.
    pub fn modify_json(body: &impl Serialize) -> Self {
        PreCall::Modify(to_json(body))
    }

    /// Answer the client with `text` instead of calling the upstream.
    pub fn respond(text: impl Into<String>) -> Self {
        PreCall::Respond(text.into())
    }
}

impl From<PreCall> for wit::PreCallOutcome {
    fn from(outcome: PreCall) -> Self {
        match outcome {
            PreCall::Proceed => wit::PreCallOutcome::Proceed,
            PreCall::Modify(body) => wit::PreCallOutcome::Modify(body),
            PreCall::Respond(text) => wit::PreCallOutcome::Respond(text),
        }
    }
}

/// What a `post_call_success` hook decided.
///
/// Build edits with the constructors and chain more with the `with_` methods:
/// `PostCall::add_header("x-a", "1").with_header("x-b", "2")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostCall {
    /// Send the response as it is.
    Proceed,
    /// Apply this edit, then send.
    Modify {
        /// A replacement response body (JSON text), or `None` to keep the current one.
        body: Option<String>,
        /// Headers to add to the client response; a later value for a name wins.
        headers: Vec<(String, String)>,
    },
}

impl PostCall {
    /// Adds the header `name: value` to the client response.
    pub fn add_header(name: impl Into<String>, value: impl Into<String>) -> Self {
        PostCall::Proceed.with_header(name, value)
    }

    /// Adds every `(name, value)` of `headers` to the client response.
    pub fn add_headers<N: Into<String>, V: Into<String>>(headers: impl IntoIterator<Item = (N, V)>) -> Self {
        headers.into_iter().fold(PostCall::Proceed, |edit, (name, value)| edit.with_header(name, value))
    }

    /// Replaces the response body with `body` (JSON text).
    pub fn replace_body(body: impl Into<String>) -> Self {
        PostCall::Proceed.with_body(body)
    }

    /// Replaces the response body with `body` serialized to JSON.
    ///
    /// # Panics
    /// When `body` cannot be serialized, as [`PreCall::modify_json`].
    pub fn replace_body_json(body: &impl Serialize) -> Self {
        PostCall::replace_body(to_json(body))
    }

    /// This edit plus the header `name: value`. The name is lower-cased, as the
    /// contract wants header names.
    #[must_use]
    pub fn with_header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (body, mut headers) = self.into_parts();
        headers.push((name.into().to_ascii_lowercase(), value.into()));
        PostCall::Modify { body, headers }
    }

    /// This edit with `body` (JSON text) as the new response body.
    #[must_use]
    pub fn with_body(self, body: impl Into<String>) -> Self {
        let (_, headers) = self.into_parts();
        PostCall::Modify { body: Some(body.into()), headers }
    }

    fn into_parts(self) -> (Option<String>, Vec<(String, String)>) {
        match self {
            PostCall::Proceed => (None, Vec::new()),
            PostCall::Modify { body, headers } => (body, headers),
        }
    }
}

impl From<PostCall> for wit::PostCallOutcome {
    fn from(outcome: PostCall) -> Self {
        match outcome {
            PostCall::Proceed => wit::PostCallOutcome::Proceed,
            PostCall::Modify { body, headers } => wit::PostCallOutcome::Modify(wit::ResponseEdit { body, headers }),
        }
    }
}

/// What a `stream_chunk` hook decided for one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Forward the chunk unchanged.
    Proceed,
    /// Forward this chunk (JSON text of a `chat.completion.chunk`) instead.
    Replace(String),
    /// Do not forward this chunk.
    Drop,
}

impl ChunkOutcome {
    /// Forward `chunk`, serialized to JSON, instead of the original.
    ///
    /// # Panics
    /// When `chunk` cannot be serialized, as [`PreCall::modify_json`].
    pub fn replace_json(chunk: &impl Serialize) -> Self {
        ChunkOutcome::Replace(to_json(chunk))
    }
}

impl From<ChunkOutcome> for wit::ChunkOutcome {
    fn from(outcome: ChunkOutcome) -> Self {
        match outcome {
            ChunkOutcome::Proceed => wit::ChunkOutcome::Proceed,
            ChunkOutcome::Replace(chunk) => wit::ChunkOutcome::Replace(chunk),
            ChunkOutcome::Drop => wit::ChunkOutcome::Drop,
        }
    }
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| panic!("hookgate plugin: cannot serialize its output as JSON: {e}"))
}
