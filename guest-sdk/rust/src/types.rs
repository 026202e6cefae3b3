//! What hooks receive: the request, the response, stream chunks and logging payloads.
//!
//! [`Request`], [`Response`], [`CallContext`], [`KeyInfo`] and [`Failure`] are the WIT
//! records themselves (no copy on the way in); this module adds accessors that parse
//! their JSON bodies on demand, so a hook pays for parsing only when it asks.

use serde_json::Value;

use crate::bindings::wit;
use crate::openai::{ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse};
use crate::text;

pub use wit::{CallContext, CallType, Failure, Hook, KeyInfo, Request, Response};

/// The accessors requests and responses share: headers and a JSON body, parsed on demand.
macro_rules! json_message {
    ($message:ident, $chat:ty, $what:literal) => {
        impl $message {
            #[doc = concat!("The value of the ", $what, " header `name` (case-insensitive), if present.")]
            pub fn header(&self, name: &str) -> Option<&str> {
                self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
            }

            #[doc = concat!("The body as a chat completion ", $what, ". Fails when the body does not have")]
            /// that shape (for example on the completions or embeddings endpoints).
            pub fn chat(&self) -> Result<$chat, serde_json::Error> {
                serde_json::from_str(&self.body)
            }

            /// The body as a JSON value; `Null` if it is not JSON (the host always sends JSON).
            pub fn json(&self) -> Value {
                parse_or_null(&self.body)
            }
        }
    };
}

json_message!(Request, ChatCompletionRequest, "request");
json_message!(Response, ChatCompletionResponse, "response");

impl Request {
    /// Every text of the request the model reads, in document order: message names,
    /// contents (strings and text parts), refusals and tool calls; tool and function
    /// definitions (names, descriptions, parameter schemas); `response_format`'s JSON
    /// schema; `prediction`; `prompt` and `suffix`; `input`. Image, audio and file parts
    /// carry none. The full list is in [`text`](crate::text).
    ///
    /// This is what a guardrail checks: compare [`normalize`](crate::normalize)d texts with
    /// normalized keywords. Empty when the body is not JSON.
    pub fn texts(&self) -> Vec<String> {
        text::request_texts(&self.body)
    }

    /// The body with every text [`texts`](Request::texts) lists replaced by `f(text)`,
    /// visited in the same order, as JSON text with the keys in their original order;
    /// `None` when `f` changed none (or the body is not JSON).
    ///
    /// ```ignore
    /// fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
    ///     Ok(match req.map_texts(|text| self.mask(text)) {
    ///         Some(body) => PreCall::Modify(body),
    ///         None => PreCall::Proceed,
    ///     })
    /// }
    /// ```
    pub fn map_texts(&self, f: impl FnMut(&str) -> String) -> Option<String> {
        text::map_request_texts(&self.body, f)
    }
}

impl Response {
    /// The generated texts of every choice: the message's content (string or text parts),
    /// refusal and tool calls (function name, arguments), and `text` for completions.
    /// Empty when the body is not JSON.
    pub fn texts(&self) -> Vec<String> {
        text::response_texts(&self.body)
    }
}

impl KeyInfo {
    /// The key's configured metadata as JSON (an object; empty when none was set).
    pub fn metadata_json(&self) -> Value {
        parse_or_null(&self.metadata)
    }
}

/// One streamed chunk: the JSON text of a `chat.completion.chunk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    text: String,
}

impl Chunk {
    /// Wraps a chunk's JSON text (the glue does this; useful in a plugin's unit tests).
    pub fn new(text: impl Into<String>) -> Self {
        Chunk { text: text.into() }
    }

    /// The chunk's JSON text, exactly as the host passed it.
    pub fn raw(&self) -> &str {
        &self.text
    }

    /// The chunk as a typed `chat.completion.chunk`; unknown fields are kept, so it can
    /// be edited and sent back with [`ChunkOutcome::replace_json`](crate::ChunkOutcome::replace_json).
    pub fn parse(&self) -> Result<ChatCompletionChunk, serde_json::Error> {
        serde_json::from_str(&self.text)
    }

    /// Every text this chunk adds, over all choices: the delta's content, refusal and tool
    /// calls (function name, argument pieces). Empty when the chunk is not JSON.
    pub fn texts(&self) -> Vec<String> {
        text::chunk_texts(&self.text)
    }

    /// The content this chunk adds: the delta content of its choices, concatenated. `None`
    /// when no choice carries content (role-only, finish and usage chunks).
    pub fn delta_text(&self) -> Option<String> {
        let chunk = self.parse().ok()?;
        let mut contents = chunk.choices.into_iter().filter_map(|choice| choice.delta.content).peekable();
        contents.peek()?;
        Some(contents.collect())
    }
}

/// The standard logging payload the logging hooks receive, as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPayload {
    text: String,
}

impl LogPayload {
    /// Wraps a payload's JSON text (the glue does this; useful in a plugin's unit tests).
    pub fn new(text: impl Into<String>) -> Self {
        LogPayload { text: text.into() }
    }

    /// The payload's JSON text, exactly as the host passed it.
    pub fn raw(&self) -> &str {
        &self.text
    }

    /// The payload as a JSON value, e.g. `payload.json()["id"]`; `Null` if it is not JSON.
    pub fn json(&self) -> Value {
        parse_or_null(&self.text)
    }
}

fn parse_or_null(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}
