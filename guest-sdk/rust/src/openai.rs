//! Serde types for the OpenAI chat completion bodies hooks most often read and edit.
//!
//! Every struct keeps the fields it does not name in `extra`, so parsing a body,
//! changing one field and serializing it again loses nothing the client or the upstream
//! sent (tools, sampling parameters, vendor extensions...). Only the fields plugins
//! commonly touch are typed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields a struct does not name, kept verbatim for the round trip.
pub type Extra = Map<String, Value>;

/// A `POST /v1/chat/completions` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// The model the client asked for.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Whether the client asked for a server-sent-event stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Every other field of the request.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One message of a conversation, in a request or as a response choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool`, ...
    pub role: String,
    /// The message's content; `None` (JSON `null`) e.g. for assistant tool calls.
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// Every other field (`name`, `tool_calls`, `tool_call_id`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatMessage {
    /// A message with plain-text content and no other fields.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage { role: role.into(), content: Some(MessageContent::Text(content.into())), extra: Extra::new() }
    }

    /// The message's text: the content string, or its text parts joined; empty if none.
    pub fn text(&self) -> String {
        self.content.as_ref().map(MessageContent::text).unwrap_or_default()
    }
}

/// A message content: a plain string, or a list of typed parts (text, images, audio).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// `"content": "..."`.
    Text(String),
    /// `"content": [{"type": "text", "text": "..."}, {"type": "image_url", ...}]`.
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text of the content: the string itself, or the text parts concatenated.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(text) => text.clone(),
            MessageContent::Parts(parts) => parts.iter().filter_map(|part| part.text.as_deref()).collect(),
        }
    }
}

/// One part of a multi-part message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    /// The part's type: `text`, `image_url`, `input_audio`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Every other field (`image_url`, `input_audio`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A (non-streaming) chat completion response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionResponse {
    /// The completion's id, e.g. `chatcmpl-123`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The generated answers; usually one.
    pub choices: Vec<ChatChoice>,
    /// Token counts, when the upstream reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Every other field (`object`, `created`, `system_fingerprint`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One answer of a chat completion response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    /// The choice's position in `choices`.
    #[serde(default)]
    pub index: u32,
    /// The assistant's message.
    pub message: ChatMessage,
    /// Why generation stopped: `stop`, `length`, `tool_calls`, ...
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Every other field (`logprobs`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// Token counts of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: u64,
    /// Every other field (token details).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One server-sent event of a streamed chat completion: a `chat.completion.chunk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// The completion's id, the same in every chunk of a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model that answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The choices this chunk extends (empty in a final usage-only chunk).
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Every other field (`object`, `created`, `usage`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// What one chunk adds to one choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// The choice's position.
    #[serde(default)]
    pub index: u32,
    /// The increment.
    #[serde(default)]
    pub delta: ChunkDelta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Every other field (`logprobs`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The increment of a streamed message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkDelta {
    /// Set on the first chunk of a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The text this chunk adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Every other field (`tool_calls`, `refusal`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}
