//! The texts of requests, responses and stream chunks, and the normalization guardrails
//! match them in.
//!
//! [`Request::texts`](crate::Request::texts), [`Request::map_texts`](crate::Request::map_texts),
//! [`Response::texts`](crate::Response::texts) and [`Chunk::texts`](crate::Chunk::texts)
//! are these functions applied to the hook's body. Nothing here calls the host, so the
//! module runs (and is tested) natively. The Python (`hookgate_sdk.text`) and JavaScript
//! (`src/text.js`) SDKs implement the same locations, order and normalization; all three
//! are tested against `guest-sdk/conformance/text.json`.
//!
//! **Request texts**, in this order (document order of the fields below; values of
//! another type are skipped):
//!
//! - `messages[]`, per message: `name`; `content` (a string, or of a list of parts: the
//!   `text` of every part that has a string `text`, the `refusal` of `refusal` parts);
//!   `refusal`; per `tool_calls[]` entry: `function.name`, `function.arguments` (JSON
//!   text, taken as text), `custom.input`; the deprecated `function_call.name` and
//!   `function_call.arguments`.
//! - `tools[]`: a function tool (`type` `"function"` or absent): `function.name`,
//!   `function.description`, then the schema `function.parameters`; a custom tool: every
//!   string leaf of `custom`.
//! - the deprecated `functions[]`: `name`, `description`, the schema `parameters`.
//! - `response_format.json_schema`: `name`, `description`, the schema `schema`.
//! - `prediction.content` (a string or text parts).
//! - `prompt` (a string or a list of strings; token-id prompts carry no text), `suffix`.
//! - `input` (a string or a list of strings).
//!
//! A *schema* contributes every string leaf, in document order, plus the keys of every
//! `properties` object in it (the property names, each before its schema). Image, audio
//! and file parts carry no text.
//!
//! **Response texts**: per choice, `message.content` (string or parts),
//! `message.refusal`, `message.tool_calls[].function.name` and `.arguments`, and `text`
//! (completions). **Chunk texts**: per choice, `delta.content`, `delta.refusal`,
//! `delta.tool_calls[].function.name` and `.arguments`.
//!
//! Bodies are read in document order: `serde_json::Value` (without serde_json's
//! `preserve_order` feature) sorts object keys, so this module parses into its own
//! order-keeping tree, and [`map_request_texts`] writes the body back in the order it came.

use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use unicode_normalization::UnicodeNormalization;

/// Every text of a request body (JSON text) the model reads, in order; empty when the body
/// is not JSON.
pub fn request_texts(body: &str) -> Vec<String> {
    collect(body, request)
}

/// The request body with every text [`request_texts`] lists replaced by `f(text)`, visited
/// in the same order, as JSON text (object keys in their original order); `None` when `f`
/// changed no text or the body is not JSON.
///
/// A property name `f` changes is renamed in place; if it then collides with another, the
/// first position keeps the later value.
pub fn map_request_texts(body: &str, mut f: impl FnMut(&str) -> String) -> Option<String> {
    let mut tree = parse(body)?;
    let mut changed = false;
    request(&mut tree, &mut |text: &mut String| {
        let new = f(text);
        if new != *text {
            *text = new;
            changed = true;
        }
    });
    changed.then(|| serde_json::to_string(&tree).expect("a JSON tree serializes"))
}

/// Every generated text of a response body: content, refusal, tool calls, `text`.
pub fn response_texts(body: &str) -> Vec<String> {
    collect(body, response)
}

/// Every text a stream chunk (JSON text) adds: the deltas' content, refusal and tool calls.
pub fn chunk_texts(chunk: &str) -> Vec<String> {
    collect(chunk, self::chunk)
}

/// The form guardrails match text in, the same in every hookgate SDK:
///
/// 1. Unicode NFKC (fullwidth `ｓｅｃｒｅｔ` → `secret`, `ﬁ` → `fi`, `²` → `2`);
/// 2. every Default_Ignorable_Code_Point removed (soft hyphen, zero-width space and
///    joiners, bidi controls, variation selectors, tag characters, ...), then NFKC again
///    if any was: an ignorable between a letter and its combining mark would otherwise
///    keep them apart (`cafe<ZWSP><U+0301>` → `café`);
/// 3. every run of White_Space (tabs, newlines, no-break and ideographic spaces, ...)
///    replaced by one space, and the ends trimmed;
/// 4. lower-cased with the full Unicode mapping ([`str::to_lowercase`]: `ẞ` → `ß`, `İ` →
///    `i̇`), then Greek final sigma `ς` folded to `σ`: engines disagree on when `Σ`
///    lower-cases to `ς`, and a word should match wherever it ends.
///
/// Look-alikes from other scripts are not folded: Cyrillic `е` stays distinct from Latin
/// `e`. NFKC follows the `unicode-normalization` crate's Unicode version (18.0), lower-casing
/// the standard library's.
///
/// ```
/// assert_eq!(hookgate_sdk::normalize(" ＳＥＣＲＥＴ\u{a0}pl\u{200b}an "), "secret plan");
/// ```
pub fn normalize(text: &str) -> String {
    let mut composed: String = if text.is_ascii() { text.to_owned() } else { text.nfkc().collect() };
    if composed.chars().any(is_default_ignorable) {
        composed = composed.chars().filter(|&c| !is_default_ignorable(c)).nfkc().collect();
    }
    let mut spaced = String::with_capacity(composed.len());
    let mut space = false;
    for c in composed.chars() {
        if is_white_space(c) {
            space = !spaced.is_empty();
        } else {
            if space {
                spaced.push(' ');
                space = false;
            }
            spaced.push(c);
        }
    }
    let lower = spaced.to_lowercase();
    if lower.contains('ς') {
        lower.replace('ς', "σ")
    } else {
        lower
    }
}

/// Whether `c` is a Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt).
#[rustfmt::skip]
pub fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{34F}' | '\u{61C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// Whether `c` is White_Space (Unicode's PropList.txt; not [`char::is_whitespace`], which
/// is the same set, but spelled out here as in the other SDKs).
#[rustfmt::skip]
pub fn is_white_space(c: char) -> bool {
    matches!(c,
        '\u{9}'..='\u{D}' | ' ' | '\u{85}' | '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}'
        | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

// --- the walk -------------------------------------------------------------------------

/// What the walk calls on each text: it may change it in place.
type Visit<'a> = dyn FnMut(&mut String) + 'a;

fn collect(body: &str, walk: fn(&mut Json, &mut Visit)) -> Vec<String> {
    let mut texts = Vec::new();
    if let Some(mut tree) = parse(body) {
        walk(&mut tree, &mut |text: &mut String| texts.push(text.clone()));
    }
    texts
}

fn parse(body: &str) -> Option<Json> {
    serde_json::from_str(body).ok()
}

fn field<'j>(value: &'j mut Json, key: &str) -> Option<&'j mut Json> {
    match value {
        Json::Object(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn is_string(value: &mut Json, key: &str, expected: &str) -> bool {
    matches!(field(value, key), Some(Json::String(s)) if s == expected)
}

fn with(value: &mut Json, key: &str, f: &mut Visit, walk: fn(&mut Json, &mut Visit)) {
    if let Some(inner) = field(value, key) {
        walk(inner, f);
    }
}

fn items(value: &mut Json, f: &mut Visit, walk: fn(&mut Json, &mut Visit)) {
    if let Json::Array(items) = value {
        items.iter_mut().for_each(|item| walk(item, f));
    }
}

fn text(value: &mut Json, f: &mut Visit) {
    if let Json::String(s) = value {
        f(s);
    }
}

/// A string, or the strings of a list (token ids are skipped).
fn strings(value: &mut Json, f: &mut Visit) {
    match value {
        Json::Array(_) => items(value, f, text),
        _ => text(value, f),
    }
}

fn part(value: &mut Json, f: &mut Visit) {
    let refusal = is_string(value, "type", "refusal");
    with(value, "text", f, text);
    if refusal {
        with(value, "refusal", f, text);
    }
}

/// A message content: a string, or a list of parts.
fn content(value: &mut Json, f: &mut Visit) {
    match value {
        Json::Array(_) => items(value, f, part),
        _ => text(value, f),
    }
}

fn schema(value: &mut Json, f: &mut Visit) {
    schema_of(value, f, false);
}

/// Every string leaf in document order; with `names`, `value` is a `properties` object,
/// whose keys (property names) are texts too.
fn schema_of(value: &mut Json, f: &mut Visit, names: bool) {
    match value {
        Json::String(s) => f(s),
        Json::Array(items) => items.iter_mut().for_each(|item| schema_of(item, f, false)),
        Json::Object(entries) => {
            let mut renamed = false;
            for (key, inner) in entries.iter_mut() {
                if names {
                    let old = key.clone();
                    f(key);
                    renamed |= *key != old;
                }
                let properties = !names && key == "properties";
                schema_of(inner, f, properties);
            }
            if renamed {
                *entries = dedup(std::mem::take(entries));
            }
        }
        _ => {}
    }
}

/// Entries with repeated keys merged as JSON parsers do: the first position, the last value.
fn dedup(entries: Vec<(String, Json)>) -> Vec<(String, Json)> {
    let mut out: Vec<(String, Json)> = Vec::with_capacity(entries.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    for (key, value) in entries {
        match index.get(&key) {
            Some(&i) => out[i].1 = value,
            None => {
                index.insert(key.clone(), out.len());
                out.push((key, value));
            }
        }
    }
    out
}

/// `name`, `description`, `parameters`: a function tool or a legacy function.
fn function(value: &mut Json, f: &mut Visit) {
    with(value, "name", f, text);
    with(value, "description", f, text);
    with(value, "parameters", f, schema);
}

/// `name` and `arguments` of a (tool or legacy) function call.
fn call(value: &mut Json, f: &mut Visit) {
    with(value, "name", f, text);
    with(value, "arguments", f, text);
}

fn custom_call(value: &mut Json, f: &mut Visit) {
    with(value, "input", f, text);
}

fn tool_call(value: &mut Json, f: &mut Visit) {
    with(value, "function", f, call);
    with(value, "custom", f, custom_call);
}

fn message(value: &mut Json, f: &mut Visit) {
    with(value, "name", f, text);
    with(value, "content", f, content);
    with(value, "refusal", f, text);
    if let Some(calls) = field(value, "tool_calls") {
        items(calls, f, tool_call);
    }
    with(value, "function_call", f, call);
}

fn tool(value: &mut Json, f: &mut Visit) {
    if !matches!(value, Json::Object(_)) {
        return;
    }
    let kind = match field(value, "type") {
        None => Some("function"),
        Some(Json::String(kind)) if kind == "function" => Some("function"),
        Some(Json::String(kind)) if kind == "custom" => Some("custom"),
        Some(_) => None,
    };
    match kind {
        Some("function") => with(value, "function", f, function),
        Some(_) => with(value, "custom", f, schema),
        None => {}
    }
}

fn json_schema(value: &mut Json, f: &mut Visit) {
    with(value, "name", f, text);
    with(value, "description", f, text);
    with(value, "schema", f, schema);
}

fn request(body: &mut Json, f: &mut Visit) {
    if let Some(messages) = field(body, "messages") {
        items(messages, f, message);
    }
    if let Some(tools) = field(body, "tools") {
        items(tools, f, tool);
    }
    if let Some(functions) = field(body, "functions") {
        items(functions, f, function);
    }
    if let Some(format) = field(body, "response_format") {
        with(format, "json_schema", f, json_schema);
    }
    if let Some(prediction) = field(body, "prediction") {
        with(prediction, "content", f, content);
    }
    with(body, "prompt", f, strings);
    with(body, "suffix", f, text);
    with(body, "input", f, strings);
}

fn reply_call(value: &mut Json, f: &mut Visit) {
    with(value, "function", f, call);
}

/// A response message or a chunk delta: content, refusal, tool call functions.
fn reply(value: &mut Json, f: &mut Visit) {
    with(value, "content", f, content);
    with(value, "refusal", f, text);
    if let Some(calls) = field(value, "tool_calls") {
        items(calls, f, reply_call);
    }
}

fn response_choice(value: &mut Json, f: &mut Visit) {
    with(value, "message", f, reply);
    with(value, "text", f, text);
}

fn response(body: &mut Json, f: &mut Visit) {
    if let Some(choices) = field(body, "choices") {
        items(choices, f, response_choice);
    }
}

fn chunk_choice(value: &mut Json, f: &mut Visit) {
    with(value, "delta", f, reply);
}

fn chunk(body: &mut Json, f: &mut Visit) {
    if let Some(choices) = field(body, "choices") {
        items(choices, f, chunk_choice);
    }
}

// --- an order-keeping JSON tree -------------------------------------------------------

/// A JSON value whose objects keep their keys in document order. A key repeated in the
/// input keeps its first position and its last value, as in the other SDKs' parsers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        let mut repeated = false;
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            // Repeated keys are rare: check cheaply for small objects, merge at the end.
            if !repeated && entries.len() < 32 {
                repeated = entries.iter().any(|(k, _)| *k == key);
            } else if entries.len() >= 32 {
                repeated = true;
            }
            entries.push((key, value));
        }
        Ok(Json::Object(if repeated { dedup(entries) } else { entries }))
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests;
