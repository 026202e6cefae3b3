//! Masks e-mail addresses and phone numbers before they reach the model, and in what the
//! model sends back: a Rust port of plugins/pii-redactor/app.py, with the same config,
//! the same matches and the same streaming behaviour.
//!
//! Config (all optional):
//!
//! ```json
//! {"mask_email": "[EMAIL]", "mask_phone": "[PHONE]", "responses": true}
//! ```
//!
//! - `pre_call` masks every message's text (string contents and text parts) and rewrites
//!   the request only when something was masked.
//! - `stream_chunk` masks the streamed text. A match can span chunks, so a chunk's tail
//!   that could still grow into one (its last word, and a run of digits, spaces and
//!   `+().-` before it) is held back and sent with the next chunk; the chunk with
//!   `finish_reason` sends everything, and so does a tail past 256 characters.
//! - `post_call_success` masks a non-streamed response, unless `responses` is false.
//!
//! As in app.py, the masks are `re.sub` replacements (`\g<0>` is the match, `\\` a
//! backslash) and non-string values are read as Python's `str` and `bool` read them. A
//! mask Python's `re` would fail on refuses the plugin at load here, where app.py fails
//! every hook that masks; a list or object as a mask is refused too.
//!
//! The patterns are matched by hand ([`scan`]) instead of by a regex engine, whose set-up
//! would cost more per instance (one per request) than all of a request's masking.

mod body;
mod mask;
mod scan;

use std::borrow::Cow;

use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::{self, Value};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::body::Shape;
use crate::mask::Masker;

/// A held tail longer than this many characters is sent anyway.
const MAX_HELD: usize = 256;

struct PiiRedactor {
    masker: Masker,
    responses: bool,
    /// The stream's held-back tail: text the client has not been sent yet.
    held: String,
}

#[hookgate_sdk::plugin(name = "pii-redactor")]
impl Plugin for PiiRedactor {
    // `new` also runs when the host loads the plugin, so a bad config refuses the plugin.
    fn new(config: Config) -> Result<Self, String> {
        let settings = settings(config.json()).map_err(|e| format!("invalid config: {e}"))?;
        let Settings { mask_email, mask_phone, responses } = settings;
        let masker = Masker::new(&mask_email, &mask_phone).map_err(|e| format!("invalid config: {e}"))?;
        Ok(PiiRedactor { masker, responses, held: String::new() })
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        // Every request starts here: a reused instance (`instances: reuse`) must not carry
        // a cut-off stream's held text into another request's answer.
        self.held.clear();
        // A body that is not JSON (the host never sends one) has nothing to mask.
        Ok(match self.masked(&req.body, Shape::Request) {
            Some(body) => PreCall::Modify(body),
            None => PreCall::Proceed,
        })
    }

    fn post_call_success(&mut self, _req: &Request, resp: &Response) -> Result<PostCall, Rejection> {
        if !self.responses {
            return Ok(PostCall::Proceed);
        }
        Ok(match self.masked(&resp.body, Shape::Response) {
            Some(body) => PostCall::replace_body(body),
            None => PostCall::Proceed,
        })
    }

    fn stream_chunk(&mut self, _ctx: &CallContext, chunk: &Chunk) -> Result<ChunkOutcome, Rejection> {
        let Some(view) = ChunkView::read(chunk.raw()) else {
            return Ok(ChunkOutcome::Proceed);
        };
        if view.text.is_none() && self.held.is_empty() {
            return Ok(ChunkOutcome::Proceed);
        }
        // app.py fails on a chunk without a choice to carry the held text (a usage-only
        // chunk): keep holding it for the next one instead.
        if !view.has_choice {
            return Ok(ChunkOutcome::Proceed);
        }
        let send = self.send_now(view.text.as_deref().unwrap_or_default(), view.finished);
        let masked = self.masker.mask(&send);
        if view.text.as_deref() == Some(&*masked) {
            // app.py would send a copy of the chunk with the same content: forwarding the
            // chunk itself is the same to the client, without writing it anew.
            return Ok(ChunkOutcome::Proceed);
        }
        Ok(ChunkOutcome::Replace(match view.content {
            Some(literal) => body::patch(chunk.raw(), &[(literal, body::encode(&masked))]),
            None => with_content(chunk.raw(), &masked),
        }))
    }
}

impl PiiRedactor {
    /// `body` with the strings of `shape` masked, or `None` when none changed.
    fn masked(&self, body: &str, shape: Shape) -> Option<String> {
        let literals = body::literals(body, shape).ok()?;
        let mut edits = Vec::new();
        for literal in literals {
            let Some(text) = body::decode(literal) else { continue };
            if let Cow::Owned(masked) = self.masker.mask(&text) {
                // A mask like `\g<0>` can give the text back unchanged: not a change.
                if masked != text {
                    edits.push((literal, body::encode(&masked)));
                }
            }
        }
        (!edits.is_empty()).then(|| body::patch(body, &edits))
    }

    /// The held tail plus this chunk's `text`, minus the new tail to hold back: what the
    /// client can be sent now. Everything when the stream is finishing or the tail has
    /// grown past [`MAX_HELD`] characters.
    fn send_now(&mut self, text: &str, finished: bool) -> String {
        let mut all = std::mem::take(&mut self.held);
        all.push_str(text);
        let cut = scan::open_tail(&all);
        let tail = &all[cut..];
        if !finished && (tail.len() <= MAX_HELD || tail.chars().count() <= MAX_HELD) {
            self.held = tail.to_owned();
            all.truncate(cut);
        }
        all
    }
}

/// The config, read as app.py reads it.
struct Settings {
    mask_email: String,
    mask_phone: String,
    responses: bool,
}

fn settings(config: Value) -> Result<Settings, String> {
    // `config or {}`: no config, or any falsy one, is the empty object.
    let config = if truthy(&config) { config } else { Value::Object(Default::default()) };
    let Value::Object(fields) = config else {
        return Err("the config must be an object".into());
    };
    let unknown: Vec<&str> =
        fields.keys().map(String::as_str).filter(|k| !["mask_email", "mask_phone", "responses"].contains(k)).collect();
    if !unknown.is_empty() {
        // The keys come sorted, as Python's `sorted` gives them.
        return Err(format!("unknown field(s): {}", unknown.join(", ")));
    }
    let mask = |name, default: &str| fields.get(name).map_or(Ok(default.to_owned()), |value| python_str(name, value));
    Ok(Settings {
        mask_email: mask("mask_email", "[EMAIL]")?,
        mask_phone: mask("mask_phone", "[PHONE]")?,
        responses: fields.get("responses").is_none_or(truthy),
    })
}

/// Python's `bool()` of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
    }
}

/// Python's `str()` of a JSON scalar; lists and objects are refused rather than masked
/// with their Python `repr`.
fn python_str(name: &str, value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) if !n.is_f64() => n.to_string(),
        Value::Number(n) => python_float(n.as_f64().expect("a JSON number is finite")),
        Value::Array(_) | Value::Object(_) => return Err(format!("`{name}` must be a string")),
    })
}

/// Python's `repr` of a float: Rust's `{:?}` has the same digits and switches to an
/// exponent at the same sizes, but writes `1e16` and `1e-5` where Python writes `1e+16`
/// and `1e-05`.
fn python_float(value: f64) -> String {
    let text = format!("{value:?}");
    let Some((mantissa, exponent)) = text.split_once('e') else {
        return text;
    };
    let (sign, digits) = exponent.strip_prefix('-').map_or(("+", exponent), |digits| ("-", digits));
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// What `stream_chunk` needs of a chunk: its first choice's `delta.content` and whether
/// that choice has a `finish_reason`, as app.py's `Chunk` reads them.
struct ChunkView<'a> {
    has_choice: bool,
    text: Option<Cow<'a, str>>,
    finished: bool,
    /// The content's string literal in the chunk's text, to patch in place; `None` when
    /// the first choice has no content string.
    content: Option<&'a str>,
}

/// The typed, borrowing read of a chunk, for the usual case.
#[derive(Deserialize)]
struct RawChunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<RawChoice<'a>>,
}

#[derive(Deserialize)]
struct RawChoice<'a> {
    #[serde(borrow)]
    delta: Option<RawDelta<'a>>,
    finish_reason: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RawDelta<'a> {
    #[serde(borrow)]
    content: Option<&'a RawValue>,
}

impl<'a> ChunkView<'a> {
    /// `None` when the chunk is not JSON (the host never sends one).
    fn read(chunk: &'a str) -> Option<Self> {
        let Ok(RawChunk { choices }) = serde_json::from_str::<RawChunk>(chunk) else {
            // Something unusual (a repeated key, an odd type): read it loosely.
            return ChunkView::read_value(&serde_json::from_str(chunk).ok()?);
        };
        let Some(first) = choices.into_iter().next() else {
            return Some(ChunkView { has_choice: false, text: None, finished: false, content: None });
        };
        let content = first.delta.and_then(|delta| delta.content).map(RawValue::get).filter(|c| c.starts_with('"'));
        Some(ChunkView {
            has_choice: true,
            text: content.and_then(body::decode),
            finished: first.finish_reason.is_some(),
            content,
        })
    }

    fn read_value(chunk: &Value) -> Option<ChunkView<'a>> {
        let first = chunk["choices"].as_array().and_then(|choices| choices.first());
        Some(ChunkView {
            has_choice: first.is_some(),
            text: first.and_then(|c| c["delta"]["content"].as_str()).map(|text| Cow::Owned(text.to_owned())),
            finished: first.is_some_and(|c| !c["finish_reason"].is_null()),
            content: None,
        })
    }
}

/// `chunk` with its first choice's `delta.content` set to `text`, for the chunks whose
/// content cannot be patched in place (it has none: held text flushed into a finishing
/// chunk).
fn with_content(chunk: &str, text: &str) -> String {
    let mut chunk: Value = serde_json::from_str(chunk).expect("the chunk was read as JSON");
    if let Some(Value::Object(choice)) = chunk["choices"].get_mut(0) {
        let delta = choice.entry("delta").or_insert_with(|| Value::Object(Default::default()));
        if !delta.is_object() {
            *delta = Value::Object(Default::default());
        }
        delta["content"] = Value::String(text.to_owned());
    }
    serde_json::to_string(&chunk).expect("a JSON value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(config: &str) -> PiiRedactor {
        PiiRedactor::new(Config::from(config)).unwrap()
    }

    fn request(body: &str) -> Request {
        Request {
            id: "req-1".into(),
            call_type: CallType::ChatCompletion,
            model: "mock/echo".into(),
            body: body.into(),
            headers: Vec::new(),
            key: KeyInfo { alias: None, hash: "0".repeat(64), user_id: None, team_id: None, metadata: "{}".into() },
        }
    }

    fn context() -> CallContext {
        let req = request("{}");
        CallContext { id: req.id, call_type: req.call_type, model: req.model, key: req.key }
    }

    fn chunk(content: Option<&str>, finish: Option<&str>) -> Chunk {
        let delta = match content {
            Some(text) => serde_json::json!({"content": text}),
            None => serde_json::json!({}),
        };
        Chunk::new(
            serde_json::json!({"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
                .to_string(),
        )
    }

    /// Streams `pieces` (the last one finishing) and returns what the client gets of each.
    fn stream(pieces: &[&str]) -> Vec<String> {
        let mut plugin = redactor("null");
        let mut sent = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let finish = (i + 1 == pieces.len()).then_some("stop");
            let chunk = chunk(Some(piece), finish);
            let forwarded = match plugin.stream_chunk(&context(), &chunk).unwrap() {
                ChunkOutcome::Proceed => chunk.raw().to_owned(),
                ChunkOutcome::Replace(replaced) => replaced,
                ChunkOutcome::Drop => unreachable!("the redactor never drops"),
            };
            sent.push(Chunk::new(forwarded).delta_text().unwrap_or_default());
        }
        sent
    }

    #[test]
    fn masks_requests() {
        let body = r#"{"model": "m", "messages": [{"role": "user", "content": "mail bob@example.com or ring +44 20 7946 0958, not 12 apples"}, {"role": "user", "content": [{"type": "text", "text": "(555) 123-4567"}]}], "max_tokens": 64}"#;
        let PreCall::Modify(masked) = redactor("null").pre_call(&request(body)).unwrap() else {
            panic!("the request was not rewritten");
        };
        assert_eq!(
            masked,
            r#"{"model": "m", "messages": [{"role": "user", "content": "mail [EMAIL] or ring [PHONE], not 12 apples"}, {"role": "user", "content": [{"type": "text", "text": "[PHONE]"}]}], "max_tokens": 64}"#
        );
    }

    #[test]
    fn leaves_clean_requests_alone() {
        let body = r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "12 apples in 2024"}]}"#;
        assert_eq!(redactor("null").pre_call(&request(body)).unwrap(), PreCall::Proceed);
    }

    #[test]
    fn masks_responses_unless_told_not_to() {
        let resp = Response {
            status: 200,
            body: r#"{"choices": [{"index": 0, "message": {"role": "assistant", "content": "555.123.4567"}}]}"#.into(),
            headers: Vec::new(),
        };
        let masked = redactor("null").post_call_success(&request("{}"), &resp).unwrap();
        assert_eq!(
            masked,
            PostCall::replace_body(
                r#"{"choices": [{"index": 0, "message": {"role": "assistant", "content": "[PHONE]"}}]}"#
            )
        );
        let off = redactor(r#"{"responses": false}"#).post_call_success(&request("{}"), &resp).unwrap();
        assert_eq!(off, PostCall::Proceed);
    }

    #[test]
    fn holds_back_what_may_grow_into_a_match() {
        assert_eq!(stream(&["Write to bob@exa", "mple.com now", "."]), ["Write to", " [EMAIL]", " now."]);
        assert_eq!(stream(&["Call +44 20 79", "46 0958 today"]), ["Call", " [PHONE] today"]);
        assert_eq!(stream(&["Hello", " world", ""]), ["", "Hello", " world"]);
    }

    #[test]
    fn sends_a_tail_past_the_limit() {
        let long = "x".repeat(MAX_HELD + 1);
        assert_eq!(stream(&["a ", &long, "b"]), ["a", &format!(" {long}"), "b"]);
    }

    #[test]
    fn flushes_held_text_into_a_finishing_chunk_without_content() {
        let mut plugin = redactor("null");
        let first = plugin.stream_chunk(&context(), &chunk(Some("ring 555 123 4567"), None)).unwrap();
        let ChunkOutcome::Replace(first) = first else { panic!("the tail was not held") };
        assert_eq!(Chunk::new(first).delta_text().unwrap(), "ring");
        let last = plugin.stream_chunk(&context(), &chunk(None, Some("stop"))).unwrap();
        let ChunkOutcome::Replace(last) = last else { panic!("the held text was not sent") };
        assert_eq!(Chunk::new(last).delta_text().unwrap(), " [PHONE]");
    }

    #[test]
    fn a_new_request_drops_the_last_ones_held_text() {
        // `instances: reuse`: a stream cut off mid-tail, then another request.
        let mut plugin = redactor("null");
        let first = plugin.stream_chunk(&context(), &chunk(Some("secret tail"), None)).unwrap();
        let ChunkOutcome::Replace(first) = first else { panic!("the tail was not held") };
        assert_eq!(Chunk::new(first).delta_text().unwrap(), "secret");
        assert_eq!(plugin.pre_call(&request(r#"{"messages": []}"#)).unwrap(), PreCall::Proceed);
        assert_eq!(plugin.stream_chunk(&context(), &chunk(None, Some("stop"))).unwrap(), ChunkOutcome::Proceed);
        assert_eq!(stream(&["x"]), ["x"]);
    }

    #[test]
    fn reads_config_as_python_does() {
        assert!(PiiRedactor::new(Config::from("[]")).is_ok());
        assert_eq!(
            PiiRedactor::new(Config::from("[1]")).err().unwrap(),
            "invalid config: the config must be an object"
        );
        assert_eq!(
            PiiRedactor::new(Config::from(r#"{"zeta": 1, "alpha": 2}"#)).err().unwrap(),
            "invalid config: unknown field(s): alpha, zeta"
        );
        let plugin = redactor(r#"{"mask_email": null, "mask_phone": 1e-5, "responses": 0}"#);
        assert_eq!(plugin.masker.mask("bob@example.com 555 123 4567"), "None 1e-05");
        assert!(!plugin.responses);
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_float(2.5), "2.5");
    }
}
