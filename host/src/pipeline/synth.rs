//! Completions the proxy writes itself, for a pre-call hook's `respond(text)`: the same
//! shapes an upstream sends, so a client cannot tell a canned answer from a model's.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Value};

use crate::plugins::CallType;

fn created() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn usage() -> Value {
    json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
}

/// A complete (non-streaming) answer with `text`, for chat or text completions.
pub fn completion(call_type: CallType, id: &str, model: &str, text: &str) -> Value {
    match call_type {
        CallType::TextCompletion => json!({
            "id": format!("cmpl-{id}"), "object": "text_completion", "created": created(), "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": null}],
            "usage": usage(),
        }),
        _ => json!({
            "id": format!("chatcmpl-{id}"), "object": "chat.completion", "created": created(), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": null}],
            "usage": usage(),
        }),
    }
}

/// The chunks of a streamed answer with `text`: role, content, finish.
pub fn chunks(call_type: CallType, id: &str, model: &str, text: &str) -> Vec<Value> {
    let created = created();
    match call_type {
        CallType::TextCompletion => {
            let chunk = |text: &str, finish: Value| {
                json!({
                    "id": format!("cmpl-{id}"), "object": "text_completion", "created": created, "model": model,
                    "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": null}],
                })
            };
            vec![chunk(text, Value::Null), chunk("", json!("stop"))]
        }
        _ => {
            let chunk = |delta: Value, finish: Value| {
                json!({
                    "id": format!("chatcmpl-{id}"), "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                })
            };
            vec![
                chunk(json!({"role": "assistant", "content": ""}), Value::Null),
                chunk(json!({"content": text}), Value::Null),
                chunk(json!({}), json!("stop")),
            ]
        }
    }
}

/// One SSE event carrying `data`.
pub fn sse_data(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// The event that ends every stream.
pub fn sse_done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// The assistant text in a chunk (chat `delta.content` or text-completion `text`).
pub fn chunk_text(chunk: &Value) -> String {
    let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
        return String::new();
    };
    choices
        .iter()
        .filter_map(|choice| choice.pointer("/delta/content").or_else(|| choice.get("text")).and_then(Value::as_str))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_chunks_carry_the_text_once() {
        for call_type in [CallType::ChatCompletion, CallType::TextCompletion] {
            let text: String = chunks(call_type, "x", "m", "canned").iter().map(chunk_text).collect();
            assert_eq!(text, "canned");
        }
    }
}
