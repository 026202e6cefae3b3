//! The request, the response and stream chunks as hooks see them, parsed once and shared.
//!
//! - [`Body`]: one JSON body (parsed), its JSON text made at most once, and its size.
//! - [`RequestDoc`] and [`ResponseDoc`]: a body with its headers (and status).
//! - [`View`]: what one 0.2 hook call reads and edits through a `content` resource: the
//!   body it was given, copied only on its first edit, and kept only if the hook returns
//!   normally.
//! - [`texts`]: where the texts a model reads or wrote are, and how they are replaced.
//! - [`fit`]: a body cut to a byte budget, for the logging hooks.
//! - [`chars`]: the control characters no log line or header value may carry.
//! - [`json`]: finding a field and writing compact JSON text, cheaper than serde_json's
//!   general-purpose paths.
//!
//! Nothing here knows about wasm: the host's contract adapters map the WIT resources onto
//! these types and its pipeline passes them from hook to hook; the Rust SDK runs the same
//! code as the native test double of those resources.

pub mod chars;
pub mod fit;
pub mod json;
pub mod texts;
mod view;

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

pub use texts::{BodyKind, TextPart};
pub use view::{check_header, json_string_len, Access, EditError, View, MAX_SET_HEADERS, MAX_SET_HEADER_BYTES};

/// An HTTP header as (name, value); names lower-case.
pub type Header = (String, String);

/// One JSON body, parsed at most once; its JSON text is made the first time someone asks
/// (a 0.1 plugin, a `body()` call, the client's response) and then reused. An answer
/// that arrived as text is parsed only when someone reads its tree: one no hook reads
/// goes back to the client as it came, never parsed into values.
#[derive(Debug, Clone)]
pub struct Body {
    /// The parsed body; unmade only for a body made by [`Body::parse_later`].
    value: OnceLock<Value>,
    json: OnceLock<String>,
    /// The length of the JSON text when known without making it (the bytes a client or
    /// an upstream sent; an edit's exact count), else the length of `json`.
    size: Option<usize>,
}

impl Body {
    /// A body whose JSON text is `size` bytes long.
    pub fn new(value: Value, size: usize) -> Self {
        Self { value: OnceLock::from(value), json: OnceLock::new(), size: Some(size) }
    }

    /// A body whose JSON text is at hand already (a stream chunk as it arrived).
    pub fn with_json(value: Value, json: String) -> Self {
        Self { size: Some(json.len()), value: OnceLock::from(value), json: OnceLock::from(json) }
    }

    /// A body whose size is learnt, if anyone asks, by making its JSON text.
    pub fn measured(value: Value) -> Self {
        Self { value: OnceLock::from(value), json: OnceLock::new(), size: None }
    }

    /// A body known by its JSON text only, parsed (by serde_json) the first time someone
    /// reads its values. `json` must be JSON without a duplicated key, checked by the
    /// caller (the host's strict check of an upstream's answer): then the values are the
    /// ones a strict parse would have made. Text that does not parse reads as `null`.
    pub fn parse_later(json: String) -> Self {
        Self { size: Some(json.len()), value: OnceLock::new(), json: OnceLock::from(json) }
    }

    /// The parsed body, taken out.
    pub fn into_value(self) -> Value {
        match self.value.into_inner() {
            Some(value) => value,
            None => parse(&self.json),
        }
    }

    /// The parsed body (parsed now if it was not yet).
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| parse(&self.json))
    }

    /// The body's top-level fields (none when it is not an object).
    pub fn fields(&self) -> Option<&Map<String, Value>> {
        self.value().as_object()
    }

    /// The JSON text, made on first use.
    pub fn json(&self) -> &str {
        self.json.get_or_init(|| json::to_string(self.value()))
    }

    /// The length of the JSON text.
    pub fn size(&self) -> usize {
        self.size.unwrap_or_else(|| self.json().len())
    }

    /// The JSON text if it was already made (to send it without serializing again).
    pub fn json_if_made(&self) -> Option<&str> {
        self.json.get().map(String::as_str)
    }

    /// A copy of the parsed body, for an edit.
    pub fn to_value(&self) -> Value {
        self.value().clone()
    }

    /// The parsed body, moved out for an edit, when the body keeps its JSON text: the
    /// body is then what [`Body::parse_later`] makes of that text, still the same body to
    /// anyone who reads it, and the edit costs no copy. `None` (nothing taken) for a body
    /// without its text, which only a copy can leave whole.
    pub fn take_value_keeping_text(&mut self) -> Option<Value> {
        let json = self.json.get()?;
        self.size = Some(json.len());
        Some(self.value.take().unwrap_or_else(|| parse(&self.json)))
    }
}

/// The values of the text [`Body::parse_later`] was given, which its caller checked.
fn parse(json: &OnceLock<String>) -> Value {
    serde_json::from_str(json.get().map_or("", String::as_str)).unwrap_or(Value::Null)
}

impl PartialEq for Body {
    /// Bodies are equal when their JSON values are.
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

/// The client's request as hooks see it: its body (with the edits of the pre-call hooks
/// so far) and its headers (credentials removed).
#[derive(Debug, Clone)]
pub struct RequestDoc {
    /// The body, a JSON object.
    pub body: Arc<Body>,
    /// The client's headers, names lower-case, credentials removed.
    pub headers: Arc<[Header]>,
}

impl RequestDoc {
    /// A request with `fields` as its body, whose JSON text is about `size` bytes.
    pub fn new(fields: Map<String, Value>, size: usize, headers: Vec<Header>) -> Self {
        Self { body: Arc::new(Body::new(Value::Object(fields), size)), headers: headers.into() }
    }

    /// The same request with another body (a pre-call hook's edit).
    pub fn with_body(&self, body: Body) -> Self {
        Self { body: Arc::new(body), headers: Arc::clone(&self.headers) }
    }

    /// The body's fields.
    pub fn fields(&self) -> &Map<String, Value> {
        self.body.fields().expect("a request body is an object")
    }

    /// The body's `model`.
    pub fn model(&self) -> &str {
        json::field(self.fields(), "model").and_then(Value::as_str).unwrap_or_default()
    }
}

/// An answer on its way to the client: the upstream's status, its body (with the edits of
/// the post-call hooks so far) and the headers the client will get.
#[derive(Debug, Clone)]
pub struct ResponseDoc {
    /// The upstream's HTTP status.
    pub status: u16,
    /// The response body.
    pub body: Arc<Body>,
    /// The headers for the client so far.
    pub headers: Vec<Header>,
}

/// The answer (or stream chunk) without its choices' `logprobs`, when a choice has them;
/// `None` when none does (the body goes on as it is, its text and all).
///
/// A choice's `logprobs` list its tokens and, with `top_logprobs`, the alternatives the
/// model weighed: text the model wrote that no hook reads. Where hooks check answers they
/// do not go on to the client, edited or not.
pub fn without_logprobs(body: &Body) -> Option<Body> {
    let has_logprobs = |choice: &Value| json::get(choice, "logprobs").is_some_and(|logprobs| !logprobs.is_null());
    let choices = json::get(body.value(), "choices")?.as_array()?;
    if !choices.iter().any(has_logprobs) {
        return None;
    }
    let mut value = body.to_value();
    let fields = value.as_object_mut()?;
    if let Some(Value::Array(choices)) = json::field_mut(fields, "choices") {
        for choice in choices.iter_mut().filter_map(Value::as_object_mut) {
            if json::field(choice, "logprobs").is_some_and(|logprobs| !logprobs.is_null()) {
                json::set(choice, "logprobs", Value::Null);
            }
        }
    }
    Some(Body::measured(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_parsed_later_is_its_text_until_its_values_are_read() {
        let text = r#"{"b":1,"a":[true,"x\u00e9"],"c":{"d":null}}"#;
        let body = Body::parse_later(text.to_owned());
        assert_eq!(body.json_if_made(), Some(text));
        assert_eq!(body.size(), text.len());
        assert!(body.value.get().is_none(), "not parsed before anyone reads it");
        assert_eq!(body.value(), &serde_json::json!({"b": 1, "a": [true, "xé"], "c": {"d": null}}));
        assert_eq!(body.fields().unwrap().keys().collect::<Vec<_>>(), ["b", "a", "c"], "in the text's order");
        assert_eq!(body.json(), text, "the text is kept, not made again");
        assert_eq!(Body::parse_later(text.to_owned()).into_value(), *body.value());
        assert_eq!(Body::parse_later(text.to_owned()), Body::measured(body.to_value()));
    }
}
