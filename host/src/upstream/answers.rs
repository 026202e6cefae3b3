//! OpenAI answer shapes hookgate writes itself: the mock provider's answers and a
//! pre-call hook's `respond(text)`. One place for both, so neither can drift from what
//! an upstream sends and a client cannot tell them apart.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::content::json;
// The fields the hooks' walk reads by name: every string in any other field of a delta is text.
use crate::content::texts::{self, REPLY_FIELDS};
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

/// A streamed answer put back together chunk by chunk, as the client got it: what
/// `stream-end` reads and what the logging hooks get as the answer. Besides the content,
/// a chat stream writes a refusal, tool calls (whose name and arguments arrive in
/// pieces, by `index`), an audio transcript and fields such as `reasoning_content`: a
/// model asked to answer through a tool writes its whole answer there, so a stream-end
/// guardrail that read only the content would read nothing.
///
/// Each choice is put together on its own, by its `index`: a stream of several choices
/// (`n`) interleaves their chunks, and one text of them all would split every choice's
/// words with the others' (a request whose plugins check streams may not ask for several,
/// `pipeline::unreadable`; its logging plugins still get each choice whole).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StreamedAnswer {
    /// By their `index`.
    choices: BTreeMap<u64, StreamedChoice>,
}

/// One choice of a [`StreamedAnswer`].
#[derive(Debug, Default, Clone, PartialEq)]
struct StreamedChoice {
    content: String,
    refusal: String,
    /// In the order they first appeared.
    tool_calls: Vec<StreamedCall>,
    /// Where each `index` is in `tool_calls`: found without a scan, however many calls
    /// an upstream streams.
    tool_call_positions: BTreeMap<u64, usize>,
    /// The deprecated `function_call`.
    function_call: Option<StreamedCall>,
    /// `delta.audio.transcript`.
    audio_transcript: String,
    /// The delta's other fields that hold text, in the order they first appeared: a
    /// string (`reasoning_content`) put together from its pieces, an array (`annotations`)
    /// of all the items the chunks sent, an object as the last chunk sent it.
    other_fields: Map<String, Value>,
    /// The texts of other fields' values that a later chunk replaced (an object sent
    /// again, a string sent as an object): the client got them, so `stream-end` reads
    /// them too.
    replaced_texts: Vec<String>,
    finish_reason: Option<String>,
}

/// A tool call (or the deprecated function call) as its chunks built it.
#[derive(Debug, Default, Clone, PartialEq)]
struct StreamedCall {
    id: String,
    kind: String,
    name: String,
    arguments: String,
}

impl StreamedCall {
    /// Appends the `name` and `arguments` of a tool call delta's `function`, or of a
    /// `function_call` delta.
    fn push(&mut self, function: &Value) {
        let piece = |field| json::get(function, field).and_then(Value::as_str).unwrap_or_default();
        self.name.push_str(piece("name"));
        self.arguments.push_str(piece("arguments"));
    }

    fn function(&self) -> Value {
        json!({"name": self.name, "arguments": self.arguments})
    }
}

impl StreamedAnswer {
    /// An answer that is only `text` (a pre-call hook's `respond`).
    pub fn from_text(text: String) -> Self {
        Self { choices: BTreeMap::from([(0, StreamedChoice { content: text, ..StreamedChoice::default() })]) }
    }

    /// Adds what a chunk carries, to the choice each of its choices names by `index` (by
    /// its place in `choices` where it names none): chat `delta.content`, `delta.refusal`,
    /// `delta.tool_calls`, `delta.function_call`, `delta.audio.transcript` and the delta's
    /// other fields that can hold text (strings, arrays, objects), or text-completion
    /// `text`, and the choice's `finish_reason`. Values of another type are skipped, as
    /// the texts' walk skips them.
    pub fn push(&mut self, chunk: &Value) {
        let Some(choices) = json::get(chunk, "choices").and_then(Value::as_array) else {
            return;
        };
        for (place, choice) in choices.iter().enumerate() {
            let index = json::get(choice, "index").and_then(Value::as_u64).unwrap_or(place as u64);
            self.choices.entry(index).or_default().push(choice);
        }
    }

    /// The texts a model wrote: each choice's (see [`StreamedChoice::text`]), in the order
    /// of their `index`, one per line. An answer of one choice is exactly its text.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for choice in self.choices.values() {
            let choice = choice.text();
            if !text.is_empty() && !choice.is_empty() {
                text.push('\n');
            }
            text.push_str(&choice);
        }
        text
    }

    /// The whole answer as a complete one of `call_type` (the logging hooks' response):
    /// one choice for each the stream had, in the order of their `index`.
    pub fn completion(&self, call_type: CallType, id: &str, model: &str) -> Value {
        let mut body = completion(call_type, id, model, "", 0);
        if self.choices.is_empty() {
            return body;
        }
        let words = self.choices.values().map(|choice| word_count(&choice.content)).sum();
        body["usage"] = usage(0, words);
        body["choices"] = self.choices.iter().map(|(&index, choice)| choice.completion(call_type, index)).collect();
        body
    }
}

impl StreamedChoice {
    /// Adds what one choice of a chunk carries.
    fn push(&mut self, choice: &Value) {
        // Not `pointer("/delta/content")`: that parses its path and allocates for each of
        // its tokens, for every chunk of every stream (bench/instructions/count.sh).
        fn text<'a>(value: Option<&'a Value>, field: &str) -> Option<&'a str> {
            value.and_then(|value| json::get(value, field)).and_then(Value::as_str)
        }
        let delta = json::get(choice, "delta");
        self.content.push_str(text(delta, "content").or_else(|| text(Some(choice), "text")).unwrap_or_default());
        // Content as parts, as the texts' walk reads them: a text part's `text`, a
        // refusal part's `refusal`.
        let parts = delta.and_then(|d| json::get(d, "content")).and_then(Value::as_array);
        for part in parts.into_iter().flatten() {
            self.content.push_str(text(Some(part), "text").unwrap_or_default());
            if text(Some(part), "type") == Some("refusal") {
                self.refusal.push_str(text(Some(part), "refusal").unwrap_or_default());
            }
        }
        self.refusal.push_str(text(delta, "refusal").unwrap_or_default());
        for call in delta.and_then(|d| json::get(d, "tool_calls")).and_then(Value::as_array).into_iter().flatten() {
            self.push_tool_call(call);
        }
        if let Some(function) = delta.and_then(|d| json::get(d, "function_call")) {
            self.function_call.get_or_insert_with(StreamedCall::default).push(function);
        }
        self.audio_transcript
            .push_str(text(delta.and_then(|d| json::get(d, "audio")), "transcript").unwrap_or_default());
        let fields = delta.and_then(Value::as_object).into_iter().flatten();
        for (name, value) in fields.filter(|(name, _)| !REPLY_FIELDS.contains(&name.as_str())) {
            match (self.other_fields.get_mut(name), value) {
                (Some(Value::String(text)), Value::String(piece)) => text.push_str(piece),
                (Some(Value::Array(items)), Value::Array(more)) => items.extend(more.iter().cloned()),
                // Numbers and booleans hold no text.
                (_, Value::String(_) | Value::Array(_) | Value::Object(_)) => {
                    if let Some(replaced) = self.other_fields.insert(name.clone(), value.clone()) {
                        self.replaced_texts.extend(other_texts(&Map::from_iter([(name.clone(), replaced)])));
                    }
                }
                _ => {}
            }
        }
        if let Some(reason) = text(Some(choice), "finish_reason") {
            self.finish_reason = Some(reason.to_owned());
        }
    }

    fn push_tool_call(&mut self, delta: &Value) {
        let index = json::get(delta, "index").and_then(Value::as_u64);
        // A delta without an index continues the last call, as a client reading it would.
        let known = match index {
            Some(index) => self.tool_call_positions.get(&index).copied(),
            None => self.tool_calls.len().checked_sub(1),
        };
        let position = known.unwrap_or_else(|| {
            self.tool_calls.push(StreamedCall::default());
            let position = self.tool_calls.len() - 1;
            if let Some(index) = index {
                self.tool_call_positions.insert(index, position);
            }
            position
        });
        let call = &mut self.tool_calls[position];
        let set = |field, to: &mut String| {
            if let Some(value) = json::get(delta, field).and_then(Value::as_str) {
                value.clone_into(to);
            }
        };
        set("id", &mut call.id);
        set("type", &mut call.kind);
        if let Some(function) = json::get(delta, "function") {
            call.push(function);
        }
        // A custom tool's call: its `input` is what the model wrote.
        if let Some(custom) = json::get(delta, "custom") {
            call.name.push_str(json::get(custom, "name").and_then(Value::as_str).unwrap_or_default());
            call.arguments.push_str(json::get(custom, "input").and_then(Value::as_str).unwrap_or_default());
            if call.kind.is_empty() {
                call.kind = "custom".into();
            }
        }
    }

    /// The texts the choice holds, in the order a response's texts are read (content,
    /// refusal, each tool call's name and arguments, the deprecated function call's, the
    /// audio transcript, the other fields' texts), one per line; only the content when
    /// there is nothing else, so an answer of text alone is exactly its text. The other
    /// fields are read by the walk the chunk hooks' texts come from, as a delta of their
    /// own, so `stream-end` reads every text they read (an annotation's title, say).
    fn text(&self) -> String {
        let current = other_texts(&self.other_fields);
        let calls = self.tool_calls.iter().chain(&self.function_call);
        let others = std::iter::once(self.refusal.as_str())
            .chain(calls.flat_map(|call| [call.name.as_str(), call.arguments.as_str()]))
            .chain([self.audio_transcript.as_str()])
            .chain(self.replaced_texts.iter().chain(&current).map(String::as_str))
            .filter(|text| !text.is_empty());
        let mut text = self.content.clone();
        for other in others {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(other);
        }
        text
    }

    /// The choice, of `index`, as one of a complete answer of `call_type`.
    fn completion(&self, call_type: CallType, index: u64) -> Value {
        let mut body = completion(call_type, "", "", &self.content, 0);
        let mut choice = body["choices"][0].take();
        choice["index"] = json!(index);
        if let Some(reason) = &self.finish_reason {
            choice["finish_reason"] = json!(reason);
        }
        if call_type != CallType::ChatCompletion {
            return choice;
        }
        let message = &mut choice["message"];
        if !self.refusal.is_empty() {
            message["refusal"] = json!(self.refusal);
        }
        if !self.tool_calls.is_empty() {
            let calls = self.tool_calls.iter().map(|call| match call.kind.as_str() {
                "custom" => json!({"id": call.id, "type": "custom", "custom": {"name": call.name, "input": call.arguments}}),
                kind => json!({"id": call.id, "type": if kind.is_empty() { "function" } else { kind }, "function": call.function()}),
            });
            message["tool_calls"] = Value::Array(calls.collect());
        }
        if let Some(call) = &self.function_call {
            message["function_call"] = call.function();
        }
        if !self.audio_transcript.is_empty() {
            message["audio"] = json!({"transcript": self.audio_transcript});
        }
        for (name, value) in &self.other_fields {
            message[name] = value.clone();
        }
        if self.content.is_empty() && (self.tool_calls.len() + usize::from(self.function_call.is_some())) > 0 {
            // As OpenAI writes an answer that only calls: no content.
            message["content"] = Value::Null;
        }
        choice
    }
}

/// The texts of a delta's other `fields`, as the walk the chunk hooks' texts come from
/// reads them in a delta of their own.
fn other_texts(fields: &Map<String, Value>) -> Vec<String> {
    let chunk = json!({"choices": [{"delta": fields}]});
    texts::texts(texts::BodyKind::Chunk, &chunk).into_iter().map(|part| part.text.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_chunks_carry_the_text_once() {
        for call_type in [CallType::ChatCompletion, CallType::TextCompletion] {
            let mut answer = StreamedAnswer::default();
            chunks(call_type, "x", "m", &["can", "ned"], None).iter().for_each(|chunk| answer.push(chunk));
            assert_eq!(answer.text(), "canned");
            let whole = answer.completion(call_type, "x", "m");
            let mut expected = completion(call_type, "x", "m", "canned", 0);
            expected["created"] = whole["created"].clone();
            assert_eq!(whole, expected);
        }
    }

    #[test]
    fn a_streamed_tool_call_is_put_back_together_by_index() {
        let deltas = [
            json!({"role": "assistant", "content": "Looking."}),
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":"}}]}),
            json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "send", "arguments": ""}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"secret\"}"}}, {"index": 1, "function": {"arguments": "{}"}}]}),
            json!({"refusal": "no", "reasoning_content": "I should "}),
            json!({"reasoning_content": "look it up", "audio": {"transcript": "heard"}}),
        ];
        let mut answer = StreamedAnswer::default();
        for delta in deltas {
            answer.push(&json!({"choices": [{"index": 0, "delta": delta, "finish_reason": null}]}));
        }
        answer.push(&json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}));
        assert_eq!(answer.text(), "Looking.\nno\nlookup\n{\"q\":\"secret\"}\nsend\n{}\nheard\nI should look it up");
        let whole = answer.completion(CallType::ChatCompletion, "x", "m");
        assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            whole["choices"][0]["message"],
            json!({"role": "assistant", "content": "Looking.", "refusal": "no", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"secret\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "send", "arguments": "{}"}},
            ], "audio": {"transcript": "heard"}, "reasoning_content": "I should look it up"})
        );
        // Content as parts, and a custom tool's input.
        let mut parts = StreamedAnswer::default();
        parts.push(&json!({"choices": [{"delta": {"content": [{"type": "text", "text": "a "}, {"type": "refusal", "refusal": "nope"}]}}]}));
        parts.push(&json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "type": "custom", "custom": {"name": "sh", "input": "rm "}}]}}]}));
        parts.push(&json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "custom": {"input": "-rf"}}]}}]}));
        assert_eq!(parts.text(), "a \nnope\nsh\nrm -rf");
        let message = &parts.completion(CallType::ChatCompletion, "x", "m")["choices"][0]["message"];
        assert_eq!(
            message["tool_calls"],
            json!([{"id": "c", "type": "custom", "custom": {"name": "sh", "input": "rm -rf"}}])
        );
        // A call alone: no content, and the text is the call's.
        let mut call = StreamedAnswer::default();
        call.push(&json!({"choices": [{"delta": {"function_call": {"name": "f", "arguments": "{\"a\""}}}]}));
        call.push(&json!({"choices": [{"delta": {"function_call": {"arguments": ":1}"}}}]}));
        assert_eq!(call.text(), "f\n{\"a\":1}");
        let message = &call.completion(CallType::ChatCompletion, "x", "m")["choices"][0]["message"];
        assert_eq!((&message["content"], &message["function_call"]["arguments"]), (&Value::Null, &json!("{\"a\":1}")));
    }

    #[test]
    fn interleaved_choices_are_each_put_back_together() {
        // `n: 2`, streamed: each chunk carries one choice, the choices' chunks interleave.
        let pieces = [(0, "END"), (1, "zz"), (0, "REJECT"), (1, "z")];
        let mut answer = StreamedAnswer::default();
        for (index, piece) in pieces {
            answer.push(&json!({"choices": [{"index": index, "delta": {"content": piece}, "finish_reason": null}]}));
        }
        answer.push(&json!({"choices": [{"index": 1, "delta": {}, "finish_reason": "length"}]}));
        answer.push(&json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "stop"}]}));
        assert_eq!(answer.text(), "ENDREJECT\nf\n{}\nzzz");
        let whole = answer.completion(CallType::ChatCompletion, "x", "m");
        let choices = whole["choices"].as_array().unwrap();
        assert_eq!(choices.len(), 2);
        assert_eq!((&choices[0]["index"], &choices[0]["message"]["content"]), (&json!(0), &json!("ENDREJECT")));
        assert_eq!(choices[0]["message"]["tool_calls"][0]["function"]["name"], "f");
        assert_eq!((&choices[0]["finish_reason"], &choices[1]["finish_reason"]), (&json!("stop"), &json!("length")));
        assert_eq!((&choices[1]["index"], &choices[1]["message"]["content"]), (&json!(1), &json!("zzz")));
        assert_eq!(whole["usage"], usage(0, 2));
        // Text completions alike, a choice found by its index wherever it is in `choices`.
        let mut text = StreamedAnswer::default();
        text.push(&json!({"choices": [{"index": 1, "text": "b"}, {"index": 0, "text": "a"}]}));
        text.push(&json!({"choices": [{"index": 0, "text": "A"}]}));
        assert_eq!(text.text(), "aA\nb");
        assert_eq!(text.completion(CallType::TextCompletion, "x", "m")["choices"][1]["text"], "b");
    }

    #[test]
    fn nested_texts_of_other_fields_are_read_as_the_chunk_hooks_read_them() {
        let citation = |title: &str| json!([{"type": "url_citation", "url_citation": {"title": title, "url": "u"}}]);
        let deltas = [
            json!({"content": "See", "annotations": citation("BAN"), "score": 3}),
            json!({"reasoning_content": "why", "annotations": citation("NED"), "meta": {"note": "old"}}),
            json!({"meta": {"note": "new"}}),
        ];
        let mut answer = StreamedAnswer::default();
        for delta in deltas {
            answer.push(&json!({"choices": [{"index": 0, "delta": delta}]}));
        }
        // The texts of the object the last chunk replaced (the client got them), then the
        // texts the walk finds in each field, in the order the fields first came.
        assert_eq!(answer.text(), "See\nold\nurl_citation\nBAN\nu\nurl_citation\nNED\nu\nwhy\nnew");
        let message = &answer.completion(CallType::ChatCompletion, "x", "m")["choices"][0]["message"];
        assert_eq!(message["annotations"], json!([citation("BAN")[0], citation("NED")[0]]));
        assert_eq!((&message["meta"], &message["score"]), (&json!({"note": "new"}), &Value::Null));
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
