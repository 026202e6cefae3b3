//! Every text of a request a model reads, and of a response or stream chunk a model wrote:
//! where `content.texts` finds them and how `content.set-texts` replaces them.
//!
//! The locations and their order are the contract's (`wit/plugin.wit`, interface
//! `content`), checked against the shared vectors in `guest-sdk/conformance/text.json`:
//!
//! - request: per `messages[]` entry its `name`, `content` (a string, or the `text` of its
//!   parts and the `refusal` of `refusal` parts), `refusal`, per `tool_calls[]` entry
//!   `function.name`, `function.arguments` and `custom.input`, and the deprecated
//!   `function_call`; per `tools[]` entry a function's `name`, `description` and
//!   `parameters` schema (or every string of a `custom` tool); the deprecated
//!   `functions[]`; `response_format.json_schema`'s `name`, `description`, `schema`;
//!   `prediction.content`; `prompt` (a string or strings) and `suffix`; `input`; and,
//!   after those, every string of any other field of a message or of a function or
//!   custom tool, as a schema's (`role`, `tool_call_id` and `audio` excepted).
//! - a *schema* contributes every string in it, in document order, and the keys of its
//!   `properties` objects (each property name before its schema).
//! - response: per `choices[]` entry `message.content`, `message.refusal`,
//!   `message.tool_calls[].function.name` and `.arguments` (or `.custom.input`), the
//!   deprecated `message.function_call.name` and `.arguments`,
//!   `message.audio.transcript`, then every string of any other field of the message
//!   (`reasoning_content`, annotations), and `text`; a chunk the same of each choice's
//!   `delta`.
//!
//! Values of another type than the one named are skipped, never an error: the request
//! checks (`pipeline::shapes`) have refused malformed client bodies before any hook runs.

use serde_json::{Map, Value};

use crate::json;

/// Which kind of body a walk reads: the places texts are differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// A client request (chat, text completion or embeddings).
    Request,
    /// A non-streamed response.
    Response,
    /// One streamed chunk.
    Chunk,
}

/// One text of a body and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPart<'a> {
    /// A JSON pointer to the text (for a property name, to that property).
    pub path: String,
    /// True when the text is a property name rather than a string value.
    pub is_key: bool,
    /// The index in `messages` (request) or `choices` (response, chunk) it belongs to.
    pub item: Option<u32>,
    /// The role of that message; `assistant` for response and chunk texts.
    pub role: Option<&'a str>,
    /// The text.
    pub text: &'a str,
}

/// Why [`plan_edits`] refused an edit. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextEditError {
    /// No text has this position.
    #[error("no text at position {0}; the body has fewer texts")]
    NoSuchText(u32),
    /// The paths of the texts to edit come to more than the bytes allowed; this many
    /// were counted when the walk gave up (see [`texts_within`]).
    #[error("the texts to edit take more than {0} bytes with their paths")]
    TooLarge(usize),
}

/// Every text of `body`, in document order (none when it is not an object).
pub fn texts(kind: BodyKind, body: &Value) -> Vec<TextPart<'_>> {
    texts_within(kind, body, usize::MAX).unwrap_or_default()
}

/// [`texts`], unless the texts with their paths and roles come to more than `max_bytes`:
/// then `Err` with the bytes counted when the walk gave up. A path is as long as its text
/// is deep, so a body can hold far more bytes of paths than of text (a million one-letter
/// strings a hundred arrays deep in a tool's schema: some 300 MB of paths from an 8 MB
/// body); a caller that hands the list on bounds it by what the receiver may hold.
pub fn texts_within(kind: BodyKind, body: &Value, max_bytes: usize) -> Result<Vec<TextPart<'_>>, usize> {
    let walk = walk(kind, body, None, max_bytes);
    match walk.spent > walk.room {
        true => Err(walk.spent),
        false => Ok(walk.found),
    }
}

/// Walks `body`, keeping the texts at `wanted` (sorted positions; every text when `None`)
/// while they fit in `max_bytes`.
fn walk<'a>(kind: BodyKind, body: &'a Value, wanted: Option<Vec<u32>>, max_bytes: usize) -> Walk<'a> {
    let mut walk = Walk {
        path: Vec::new(),
        item: None,
        role: None,
        found: Vec::new(),
        room: max_bytes,
        spent: 0,
        wanted,
        seen: 0,
    };
    if let Value::Object(body) = body {
        match kind {
            BodyKind::Request => walk.request(body),
            BodyKind::Response => walk.choices(body, Walk::response_choice),
            BodyKind::Chunk => walk.choices(body, Walk::chunk_choice),
        }
    }
    walk
}

/// An edit of texts found and checked in one walk, ready to [`apply`](TextEdits::apply):
/// it owns the paths of the texts it changes, so the body it was planned on can then be
/// lent mutably.
#[derive(Debug)]
pub struct TextEdits {
    /// Texts to replace: path, new text.
    values: Vec<(String, String)>,
    /// Property names to rename: position, path, new name.
    keys: Vec<(u32, String, String)>,
    /// How many bytes the body's JSON text grows by (negative: shrinks).
    growth: i128,
    /// The `item` (message or choice) of each text that changes.
    items: Vec<u32>,
}

/// Plans replacing texts of `body` by their position in [`texts`]' list; all or nothing.
/// A later edit of the same position wins. A renamed property that collides with another
/// keeps the first position of the two and the later value, as JSON parsers merge
/// repeated keys.
///
/// Only the texts edited are kept from the walk, and only while their paths fit in
/// `max_bytes` ([`TextEditError::TooLarge`]): an edit of one text of a deep body costs
/// one path, not the list of all.
pub fn plan_edits(
    kind: BodyKind,
    body: &Value,
    edits: &[(u32, String)],
    max_bytes: usize,
) -> Result<TextEdits, TextEditError> {
    // The latest edit of each position, by position.
    let mut latest: Vec<(u32, &str)> = edits.iter().rev().map(|(index, text)| (*index, text.as_str())).collect();
    latest.sort_by_key(|(index, _)| *index);
    latest.dedup_by_key(|(index, _)| *index);
    let walk = walk(kind, body, Some(latest.iter().map(|(index, _)| *index).collect()), max_bytes);
    if let Some(&(index, _)) = edits.iter().find(|(index, _)| *index >= walk.seen) {
        return Err(TextEditError::NoSuchText(index));
    }
    if walk.spent > walk.room {
        return Err(TextEditError::TooLarge(walk.spent));
    }
    let mut plan = TextEdits { values: Vec::new(), keys: Vec::new(), growth: 0, items: Vec::new() };
    for ((index, text), part) in latest.into_iter().zip(walk.found) {
        if part.text == text {
            continue;
        }
        plan.growth += crate::json_string_len(text) as i128 - crate::json_string_len(part.text) as i128;
        plan.items.extend(part.item);
        match part.is_key {
            true => plan.keys.push((index, part.path, text.to_owned())),
            false => plan.values.push((part.path, text.to_owned())),
        }
    }
    Ok(plan)
}

impl TextEdits {
    /// How many bytes the body's JSON text grows by (negative when it shrinks).
    pub fn growth(&self) -> i128 {
        self.growth
    }

    /// The `item` (message or choice position) of each text the edit changes.
    pub fn items(&self) -> &[u32] {
        &self.items
    }

    /// Whether the edit changes nothing (every text already reads as edited).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.keys.is_empty()
    }

    /// Makes the edit on the body it was planned on.
    pub fn apply(self, body: &mut Value) {
        for (path, text) in self.values {
            if let Some(Value::String(slot)) = body.pointer_mut(&path) {
                *slot = text;
            }
        }
        // A property's name comes before everything inside it: renaming from the last
        // one back keeps the paths of those still to rename valid.
        let mut keys = self.keys;
        keys.sort_by_key(|(index, _, _)| std::cmp::Reverse(*index));
        for (_, path, text) in keys {
            let (parent, name) = split_last(&path);
            if let Some(Value::Object(object)) = body.pointer_mut(parent) {
                rename(object, &name, text);
            }
        }
    }
}

/// Replaces texts of `body` by their position in [`texts`]' list ([`plan_edits`], then
/// [`TextEdits::apply`]).
pub fn set_texts(kind: BodyKind, body: &mut Value, edits: &[(u32, String)]) -> Result<(), TextEditError> {
    plan_edits(kind, body, edits, usize::MAX)?.apply(body);
    Ok(())
}

/// Renames `from` to `to` in place; on a collision the first position wins, with the
/// later value.
fn rename(object: &mut Map<String, Value>, from: &str, to: String) {
    let entries: Vec<(String, Value)> = std::mem::take(object).into_iter().collect();
    let renamed = entries.into_iter().map(|(key, value)| if key == from { (to.clone(), value) } else { (key, value) });
    let mut out: Vec<(String, Value)> = Vec::new();
    for (key, value) in renamed {
        match out.iter_mut().find(|(existing, _)| *existing == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
    }
    object.extend(out);
}

/// `/a/b~1c` → (`/a`, `b/c`).
fn split_last(path: &str) -> (&str, String) {
    let cut = path.rfind('/').unwrap_or(0);
    let token = &path[(cut + 1).min(path.len())..];
    (&path[..cut], token.replace("~1", "/").replace("~0", "~"))
}

/// The fields of a message the walk reads as what they are (or that hold no text a model
/// reads: its role, the id of the call a tool message answers, an earlier audio answer's
/// id); every string of any other field is read as text.
const MESSAGE_FIELDS: &[&str] =
    &["role", "name", "content", "refusal", "tool_calls", "function_call", "tool_call_id", "audio"];

/// The fields of a response message or chunk delta the walk reads as what they are (or
/// that hold no text: its role, an audio answer's id and data); every string of any other
/// field is read as text, as a model wrote it (`reasoning_content`, a vendor's extra).
pub const REPLY_FIELDS: &[&str] = &["role", "content", "refusal", "tool_calls", "function_call", "audio"];

/// A walk over one body, keeping the path to where it is.
struct Walk<'a> {
    /// Written out as a JSON pointer only for a text found: most steps lead to none.
    path: Vec<Step<'a>>,
    item: Option<u32>,
    role: Option<&'a str>,
    found: Vec<TextPart<'a>>,
    /// The positions of the texts to keep (sorted), or `None` for every one.
    wanted: Option<Vec<u32>>,
    /// How many texts the walk has passed so far.
    seen: u32,
    /// The bytes the texts found may take, and what they take so far: once past it, the
    /// walk keeps no more.
    room: usize,
    spent: usize,
}

type Visit<'a> = fn(&mut Walk<'a>, &'a Value);

/// One step of a walk's path: an object's key or an array's index.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `value[key]` when `value` is an object, found as [`json::field`] finds it: without
/// hashing the key in the small objects bodies are made of.
fn get<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    value.as_object().and_then(|object| json::field(object, key))
}

impl<'a> Walk<'a> {
    fn pointer(&self) -> String {
        // Allocated to its exact length: a deep text's path is long, and a guess per step
        // made every path of a deep body several times the bytes it holds.
        let length: usize = self
            .path
            .iter()
            .map(|step| match *step {
                Step::Key(key) => 1 + key.len() + key.bytes().filter(|&byte| byte == b'~' || byte == b'/').count(),
                Step::Index(index) => 1 + index.checked_ilog10().map_or(1, |digits| digits as usize + 1),
            })
            .sum();
        let mut pointer = String::with_capacity(length);
        for step in &self.path {
            pointer.push('/');
            match *step {
                Step::Key(key) if key.bytes().any(|byte| byte == b'~' || byte == b'/') => {
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                }
                Step::Key(key) => pointer.push_str(key),
                Step::Index(index) => {
                    use std::fmt::Write as _;
                    write!(pointer, "{index}").expect("writing to a String does not fail");
                }
            }
        }
        pointer
    }

    fn push(&mut self, text: &'a str, is_key: bool) {
        let position = self.seen;
        self.seen = self.seen.saturating_add(1);
        if self.spent > self.room || self.wanted.as_ref().is_some_and(|wanted| wanted.binary_search(&position).is_err())
        {
            return;
        }
        let path = self.pointer();
        debug_assert_eq!(path.len(), path.capacity(), "{path}");
        let size = path.len() + text.len() + self.role.map_or(0, str::len) + std::mem::size_of::<TextPart<'_>>();
        self.spent = self.spent.saturating_add(size);
        if self.spent > self.room {
            self.found = Vec::new();
            return;
        }
        self.found.push(TextPart { path, is_key, item: self.item, role: self.role, text });
    }

    /// Runs `visit` on `object[key]` when present.
    fn field(&mut self, object: &'a Value, key: &'a str, visit: Visit<'a>) {
        if let Some(inner) = get(object, key) {
            self.path.push(Step::Key(key));
            visit(self, inner);
            self.path.pop();
        }
    }

    /// Runs `visit` on every item of an array.
    fn items(&mut self, value: &'a Value, visit: Visit<'a>) {
        if let Value::Array(items) = value {
            for (index, item) in items.iter().enumerate() {
                self.path.push(Step::Index(index));
                visit(self, item);
                self.path.pop();
            }
        }
    }

    fn text(&mut self, value: &'a Value) {
        if let Value::String(text) = value {
            self.push(text, false);
        }
    }

    /// A string, or the strings of a list (token ids are skipped).
    fn strings(&mut self, value: &'a Value) {
        match value {
            Value::Array(_) => self.items(value, Walk::text),
            _ => self.text(value),
        }
    }

    fn part(&mut self, value: &'a Value) {
        self.field(value, "text", Walk::text);
        if get(value, "type").and_then(Value::as_str) == Some("refusal") {
            self.field(value, "refusal", Walk::text);
        }
    }

    /// A message content: a string, or a list of parts.
    fn content(&mut self, value: &'a Value) {
        match value {
            Value::Array(_) => self.items(value, Walk::part),
            _ => self.text(value),
        }
    }

    fn schema(&mut self, value: &'a Value) {
        self.schema_of(value, false);
    }

    /// Every string leaf in document order; with `names`, `value` is a `properties`
    /// object, whose keys (property names) are texts too.
    fn schema_of(&mut self, value: &'a Value, names: bool) {
        match value {
            Value::String(text) => self.push(text, false),
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.path.push(Step::Index(index));
                    self.schema_of(item, false);
                    self.path.pop();
                }
            }
            Value::Object(entries) => {
                for (key, inner) in entries {
                    self.path.push(Step::Key(key));
                    if names {
                        self.push(key, true);
                    }
                    self.schema_of(inner, !names && key == "properties");
                    self.path.pop();
                }
            }
            _ => {}
        }
    }

    /// `name`, `description`, `parameters`: a function tool or a legacy function.
    fn function(&mut self, value: &'a Value) {
        self.field(value, "name", Walk::text);
        self.field(value, "description", Walk::text);
        self.field(value, "parameters", Walk::schema);
        self.rest(value, &["name", "description", "parameters", "strict"]);
    }

    /// Every string of each field of `value` not in `known`, as a schema's: a model's
    /// template may render a message or a tool whole (`tool | tojson`, a message's
    /// `reasoning_content`), so a field this walk does not know is read as text too.
    fn rest(&mut self, value: &'a Value, known: &[&str]) {
        if let Value::Object(entries) = value {
            for (key, inner) in entries {
                if !known.contains(&key.as_str()) {
                    self.path.push(Step::Key(key));
                    self.schema(inner);
                    self.path.pop();
                }
            }
        }
    }

    /// `name` and `arguments` of a (tool or legacy) function call.
    fn call(&mut self, value: &'a Value) {
        self.field(value, "name", Walk::text);
        self.field(value, "arguments", Walk::text);
    }

    fn tool_call(&mut self, value: &'a Value) {
        self.field(value, "function", Walk::call);
        self.field(value, "custom", |walk, custom| walk.field(custom, "input", Walk::text));
    }

    fn message(&mut self, value: &'a Value) {
        self.role = get(value, "role").and_then(Value::as_str);
        self.field(value, "name", Walk::text);
        self.field(value, "content", Walk::content);
        self.field(value, "refusal", Walk::text);
        self.field(value, "tool_calls", |walk, calls| walk.items(calls, Walk::tool_call));
        self.field(value, "function_call", Walk::call);
        self.rest(value, MESSAGE_FIELDS);
    }

    fn tool(&mut self, value: &'a Value) {
        // A built-in tool (`web_search_preview`, ...) is the upstream's to run, not text
        // for the model; a function or custom tool is rendered for it, whole.
        match get(value, "type") {
            None => self.field(value, "function", Walk::function),
            Some(Value::String(kind)) if kind == "function" => self.field(value, "function", Walk::function),
            Some(Value::String(kind)) if kind == "custom" => self.field(value, "custom", Walk::schema),
            Some(_) => return,
        }
        self.rest(value, &["type", "function", "custom"]);
    }

    fn json_schema(&mut self, value: &'a Value) {
        self.field(value, "name", Walk::text);
        self.field(value, "description", Walk::text);
        self.field(value, "schema", Walk::schema);
    }

    fn request(&mut self, body: &'a Map<String, Value>) {
        let at = |walk: &mut Self, key: &'a str, visit: Visit<'a>| {
            if let Some(inner) = json::field(body, key) {
                walk.path.push(Step::Key(key));
                visit(walk, inner);
                walk.path.pop();
            }
        };
        at(self, "messages", |walk, messages| {
            if let Value::Array(items) = messages {
                for (index, message) in items.iter().enumerate() {
                    walk.item = u32::try_from(index).ok();
                    walk.path.push(Step::Index(index));
                    walk.message(message);
                    walk.path.pop();
                }
                (walk.item, walk.role) = (None, None);
            }
        });
        at(self, "tools", |walk, tools| walk.items(tools, Walk::tool));
        at(self, "functions", |walk, functions| walk.items(functions, Walk::function));
        at(self, "response_format", |walk, format| walk.field(format, "json_schema", Walk::json_schema));
        at(self, "prediction", |walk, prediction| walk.field(prediction, "content", Walk::content));
        at(self, "prompt", Walk::strings);
        at(self, "suffix", Walk::text);
        at(self, "input", Walk::strings);
    }

    /// A response message or a chunk delta: everything the model wrote into it (a
    /// client reads a tool call's arguments or a transcript as surely as the content).
    fn reply(&mut self, value: &'a Value) {
        self.field(value, "content", Walk::content);
        self.field(value, "refusal", Walk::text);
        self.field(value, "tool_calls", |walk, calls| walk.items(calls, Walk::tool_call));
        self.field(value, "function_call", Walk::call);
        self.field(value, "audio", |walk, audio| walk.field(audio, "transcript", Walk::text));
        self.rest(value, REPLY_FIELDS);
    }

    fn response_choice(&mut self, value: &'a Value) {
        self.field(value, "message", Walk::reply);
        self.field(value, "text", Walk::text);
    }

    fn chunk_choice(&mut self, value: &'a Value) {
        self.field(value, "delta", Walk::reply);
        self.field(value, "text", Walk::text);
    }

    fn choices(&mut self, body: &'a Map<String, Value>, visit: Visit<'a>) {
        let Some(Value::Array(choices)) = json::field(body, "choices") else { return };
        self.path.push(Step::Key("choices"));
        self.role = Some("assistant");
        for (index, choice) in choices.iter().enumerate() {
            self.item = u32::try_from(index).ok();
            self.path.push(Step::Index(index));
            visit(self, choice);
            self.path.pop();
        }
        self.path.pop();
    }
}

#[cfg(test)]
mod tests;
