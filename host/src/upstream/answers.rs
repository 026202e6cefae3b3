//! OpenAI answer shapes hookgate writes itself: the mock provider's answers and a
//! pre-call hook's `respond(text)`. One place for both, so neither can drift from what
//! an upstream sends and a client cannot tell them apart.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::content::json;
use crate::types::CallType;

/// An answer id with the prefix OpenAI uses for the call type (`chatcmpl-…`, `cmpl-…`).
pub fn id(call_type: CallType, unique: &str) -> String {
    let prefix = match call_type {
        CallType::TextCompletion => "cmpl",
        _ => "chatcmpl",
    };
    format!("{prefix}-{unique}")
}

/// A `usage` object.
pub fn usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// A stand-in for a tokenizer: whitespace-separated words.
pub fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A complete answer with `text`: a `text_completion` for text completions, else a
/// `chat.completion`.
pub fn completion(call_type: CallType, id: &str, model: &str, text: &str, prompt_tokens: u64) -> Value {
    let (object, choice) = match call_type {
        CallType::TextCompletion => ("text_completion", json!({"text": text})),
        _ => ("chat.completion", json!({"message": {"role": "assistant", "content": text}})),
    };
    let mut choice = choice;
    choice["index"] = json!(0);
    choice["logprobs"] = Value::Null;
    choice["finish_reason"] = json!("stop");
    json!({
        "id": id,
        "object": object,
        "created": unix_now(),
        "model": model,
        "choices": [choice],
        "usage": usage(prompt_tokens, word_count(text)),
    })
}

/// Every chunk of a streamed answer whose text arrives in `pieces`, in order: for chat a
/// role chunk first, then one chunk per piece, a finish chunk, and, when `usage` is
/// given, a last chunk carrying it (the others then carry `usage: null`, as OpenAI's do).
pub fn chunks(call_type: CallType, id: &str, model: &str, pieces: &[&str], usage: Option<Value>) -> Vec<Value> {
    let created = unix_now();
    let chat = call_type == CallType::ChatCompletion;
    let include_usage = usage.is_some();
    let chunk = |choices: Value| {
        let mut c = Map::new();
        c.insert("id".into(), json!(id));
        c.insert("object".into(), json!(if chat { "chat.completion.chunk" } else { "text_completion" }));
        c.insert("created".into(), json!(created));
        c.insert("model".into(), json!(model));
        c.insert("choices".into(), choices);
        if include_usage {
            c.insert("usage".into(), Value::Null);
        }
        Value::Object(c)
    };
    let choice = |content: &str, finish: Option<&str>| {
        if chat {
            let delta = if finish.is_some() { json!({}) } else { json!({"content": content}) };
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}])
        } else {
            json!([{"text": content, "index": 0, "logprobs": null, "finish_reason": finish}])
        }
    };
    let mut chunks = Vec::with_capacity(pieces.len() + 3);
    if chat {
        let role = json!({"role": "assistant", "content": ""});
        chunks.push(chunk(json!([{"index": 0, "delta": role, "logprobs": null, "finish_reason": null}])));
    }
    chunks.extend(pieces.iter().map(|piece| chunk(choice(piece, None))));
    chunks.push(chunk(choice("", Some("stop"))));
    if let Some(usage) = usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage;
        chunks.push(last);
    }
    chunks
}

/// Appends the assistant text in a chunk (chat `delta.content` or text-completion
/// `text`) to `text`: the streamed answer is assembled chunk by chunk, without a string
/// of its own for each.
pub fn push_chunk_text(text: &mut String, chunk: &Value) {
    let Some(choices) = json::get(chunk, "choices").and_then(Value::as_array) else {
        return;
    };
    // Not `pointer("/delta/content")`: that parses its path and allocates for each of
    // its tokens, for every chunk of every stream (bench/instructions/count.sh).
    for choice in choices {
        let part = json::get(choice, "delta")
            .and_then(|delta| json::get(delta, "content"))
            .or_else(|| json::get(choice, "text"))
            .and_then(Value::as_str);
        text.push_str(part.unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_chunks_carry_the_text_once() {
        for call_type in [CallType::ChatCompletion, CallType::TextCompletion] {
            let mut text = String::new();
            chunks(call_type, "x", "m", &["can", "ned"], None)
                .iter()
                .for_each(|chunk| push_chunk_text(&mut text, chunk));
            assert_eq!(text, "canned");
        }
    }

    #[test]
    fn completions_have_openai_shapes() {
        let chat = completion(CallType::ChatCompletion, "chatcmpl-1", "m", "two words", 3);
        assert_eq!(chat["object"], "chat.completion");
        assert_eq!(chat["choices"][0]["message"]["content"], "two words");
        assert_eq!(chat["usage"], usage(3, 2));
        let text = completion(CallType::TextCompletion, "cmpl-1", "m", "hi", 0);
        assert_eq!(
            (text["object"].as_str(), text["choices"][0]["text"].as_str()),
            (Some("text_completion"), Some("hi"))
        );
        assert_eq!(id(CallType::TextCompletion, "7"), "cmpl-7");
    }
}
