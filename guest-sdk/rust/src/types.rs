//! What hooks receive: the request, the response, stream chunks and logging payloads.
//!
//! [`Request`], [`Response`], [`CallContext`], [`KeyInfo`] and [`Failure`] are the WIT
//! records themselves (no copy on the way in); this module adds accessors that parse
//! their JSON bodies on demand, so a hook pays for parsing only when it asks.

use serde_json::Value;

use crate::bindings::wit;
use crate::openai::{ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse};

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
    /// All the user-visible input text of the request: every message's content (plain
    /// or the text parts of a multi-part content) for chat completions, `prompt` for
    /// completions and `input` for embeddings (each a string or a list of strings).
    ///
    /// This is what a content filter checks. Empty when the body is not JSON.
    pub fn texts(&self) -> Vec<String> {
        let body = self.json();
        let mut texts = Vec::new();
        if let Some(messages) = body["messages"].as_array() {
            for message in messages {
                content_texts(&message["content"], &mut texts);
            }
        }
        strings(&body["prompt"], &mut texts);
        strings(&body["input"], &mut texts);
        texts
    }
}

impl Response {
    /// The generated text of every choice: the assistant message's content for chat
    /// completions, `text` for completions. Empty when the body is not JSON.
    pub fn texts(&self) -> Vec<String> {
        let body = self.json();
        let mut texts = Vec::new();
        if let Some(choices) = body["choices"].as_array() {
            for choice in choices {
                content_texts(&choice["message"]["content"], &mut texts);
                strings(&choice["text"], &mut texts);
            }
        }
        texts
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

    /// The text this chunk adds: the delta content of its choices, concatenated. `None`
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

/// Collects a message content: a string, or a list of parts whose `text` fields count.
fn content_texts(content: &Value, out: &mut Vec<String>) {
    match content {
        Value::String(text) => out.push(text.clone()),
        Value::Array(parts) => {
            out.extend(parts.iter().filter_map(|part| part["text"].as_str()).map(str::to_owned));
        }
        _ => {}
    }
}

/// Collects a string, or the strings of a list (token-id prompts have none).
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => out.extend(items.iter().filter_map(Value::as_str).map(str::to_owned)),
        _ => {}
    }
}
