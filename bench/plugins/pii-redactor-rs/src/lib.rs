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
//! - `pre_call` masks every text of the request the model reads (`req.map_texts`: message
//!   contents and names, tool calls, tool and schema texts, prompts, input), edited in
//!   place by the host: the plugin parses no JSON.
//! - `stream_chunk` masks the streamed text. A match can span chunks, so a chunk's tail
//!   that could still grow into one (its last word, and a run of digits, spaces and
//!   `+().-` before it) is held back and sent with the next chunk; the chunk with
//!   `finish_reason` sends everything, and so does a tail past 256 characters. The held
//!   text is per-request state (`Ctx`), so a reused instance never sends it elsewhere.
//! - `post_call_success` masks a non-streamed response's texts, unless `responses` is false.
//!
//! As in app.py, the masks are `re.sub` replacements (`\g<0>` is the match, `\\` a
//! backslash) and non-string values are read as Python's `str` and `bool` read them. A
//! mask Python's `re` would fail on refuses the plugin at load here, where app.py fails
//! every hook that masks; a list or object as a mask is refused too.
//!
//! The patterns are matched by hand ([`scan`]) instead of by a regex engine, whose set-up
//! would cost more per instance (one per request) than all of a request's masking.

mod mask;
mod scan;

use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::Value;

use crate::mask::Masker;

/// A held tail longer than this many characters is sent anyway.
const MAX_HELD: usize = 256;

struct PiiRedactor {
    masker: Masker,
    responses: bool,
}

/// One stream's state: the held-back tail, text the client has not been sent yet.
#[derive(Default)]
struct Held(String);

#[hookgate_sdk::plugin(name = "pii-redactor")]
impl Plugin for PiiRedactor {
    type Ctx = Held;

    // `new` also runs when the host loads the plugin, so a bad config refuses the plugin.
    fn new(config: Config) -> Result<Self, String> {
        let settings = settings(config.json()).map_err(|e| format!("invalid config: {e}"))?;
        let Settings { mask_email, mask_phone, responses } = settings;
        let masker = Masker::new(&mask_email, &mask_phone).map_err(|e| format!("invalid config: {e}"))?;
        Ok(PiiRedactor { masker, responses })
    }

    fn pre_call(&self, _held: &mut Held, req: &Request) -> HookResult<PreCall> {
        req.map_texts(|text| self.mask(text))?;
        Ok(PreCall::Proceed)
    }

    fn post_call_success(&self, _held: &mut Held, _req: &Request, resp: &Response) -> HookResult<()> {
        if self.responses {
            resp.map_texts(|text| self.mask(text))?;
        }
        Ok(())
    }

    fn stream_chunk(&self, held: &mut Held, _req: &Request, chunk: &Chunk) -> HookResult<ChunkOutcome> {
        let text = chunk.text();
        let finished = chunk.finish_reason(0).is_some();
        if text.is_none() && (held.0.is_empty() || !finished && chunk.field("choices").is_none_or(|c| c == "[]")) {
            // Nothing to send, or no choice to carry the held text (a usage-only chunk):
            // keep holding it for the next one.
            return Ok(ChunkOutcome::Proceed);
        }
        let send = send_now(&mut held.0, text.as_deref().unwrap_or_default(), finished);
        let masked = self.masker.mask(&send);
        if text.as_deref() != Some(&*masked) {
            chunk.set_content(0, &masked)?;
        }
        Ok(ChunkOutcome::Proceed)
    }
}

impl PiiRedactor {
    fn mask(&self, text: &str) -> String {
        self.masker.mask(text).into_owned()
    }
}

/// The held tail plus this chunk's `text`, minus the new tail to hold back: what the
/// client can be sent now. Everything when the stream is finishing or the tail has grown
/// past [`MAX_HELD`] characters.
fn send_now(held: &mut String, text: &str, finished: bool) -> String {
    let mut all = std::mem::take(held);
    all.push_str(text);
    let cut = scan::open_tail(&all);
    let tail = &all[cut..];
    if !finished && (tail.len() <= MAX_HELD || tail.chars().count() <= MAX_HELD) {
        *held = tail.to_owned();
        all.truncate(cut);
    }
    all
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
    let mut unknown: Vec<&str> =
        fields.keys().map(String::as_str).filter(|k| !["mask_email", "mask_phone", "responses"].contains(k)).collect();
    if !unknown.is_empty() {
        // Sorted, as Python's `sorted` gives them.
        unknown.sort_unstable();
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

#[cfg(test)]
mod tests {
    use hookgate_sdk::serde_json::json;

    use super::*;

    fn redactor(config: &str) -> PiiRedactor {
        PiiRedactor::new(Config::from(config)).unwrap()
    }

    fn chunk(content: Option<&str>, finish: Option<&str>) -> Chunk<'static> {
        let delta = match content {
            Some(text) => json!({"content": text}),
            None => json!({}),
        };
        Chunk::local(json!({"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
    }

    /// Streams `pieces` (the last one finishing) and returns what the client gets of each.
    fn stream(pieces: &[&str]) -> Vec<String> {
        let plugin = redactor("null");
        let mut held = Held::default();
        let req = Request::local(json!({"model": "m", "messages": []}));
        let mut sent = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let finish = (i + 1 == pieces.len()).then_some("stop");
            let chunk = chunk(Some(piece), finish);
            assert_eq!(plugin.stream_chunk(&mut held, &req, &chunk).unwrap(), ChunkOutcome::Proceed);
            sent.push(chunk.text().unwrap_or_default());
        }
        sent
    }

    #[test]
    fn masks_every_text_the_model_reads() {
        let req = Request::local(json!({"model": "m", "messages": [
            {"role": "user", "content": "mail bob@example.com or ring +44 20 7946 0958, not 12 apples"},
            {"role": "user", "content": [{"type": "text", "text": "(555) 123-4567"}]},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"to\": \"ann@example.com\"}"}}]},
        ], "max_tokens": 64}));
        redactor("null").pre_call(&mut Held::default(), &req).unwrap();
        let texts: Vec<String> = req.texts().into_iter().map(|text| text.text).collect();
        assert_eq!(texts, ["mail [EMAIL] or ring [PHONE], not 12 apples", "[PHONE]", "f", "{\"to\": \"[EMAIL]\"}"]);
        assert_eq!(req.field("max_tokens").as_deref(), Some("64"));
    }

    #[test]
    fn leaves_clean_requests_alone() {
        let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "12 apples in 2024"}]});
        let req = Request::local(body.clone());
        assert_eq!(redactor("null").pre_call(&mut Held::default(), &req).unwrap(), PreCall::Proceed);
        assert_eq!(req.json(), body);
    }

    #[test]
    fn masks_responses_unless_told_not_to() {
        let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "555.123.4567"}}]});
        let req = Request::local(json!({"model": "m", "messages": []}));
        let resp = Response::local(body.clone());
        redactor("null").post_call_success(&mut Held::default(), &req, &resp).unwrap();
        assert_eq!(resp.texts()[0].text, "[PHONE]");
        let untouched = Response::local(body.clone());
        redactor(r#"{"responses": false}"#).post_call_success(&mut Held::default(), &req, &untouched).unwrap();
        assert_eq!(untouched.json(), body);
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
        let plugin = redactor("null");
        let mut held = Held::default();
        let req = Request::local(json!({"model": "m", "messages": []}));
        let first = chunk(Some("ring 555 123 4567"), None);
        plugin.stream_chunk(&mut held, &req, &first).unwrap();
        assert_eq!(first.text().unwrap(), "ring");
        let last = chunk(None, Some("stop"));
        plugin.stream_chunk(&mut held, &req, &last).unwrap();
        assert_eq!(last.text().unwrap(), " [PHONE]");
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
