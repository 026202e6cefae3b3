//! One hook call's view of a body: what a 0.2 `content` resource reads and edits.
//!
//! The view holds the shared body and copies it on the first edit only, so a hook that
//! reads costs no copy and a rejected or failed hook leaves nothing behind: the caller
//! keeps the edits only when the hook returned normally ([`View::finish`]). A body lent
//! to the view alone (a stream chunk) that keeps its JSON text is not copied: the edit
//! takes its value, and the body stays behind as that text ([`Body::take_value_keeping_text`]).
//!
//! Edits are bounded by the plugin's `max_output_bytes`: the view keeps the size of the
//! body's JSON text up to date as it is edited (exactly for the text that changed, so a
//! guest cannot grow a body past its limit in small steps).

use std::sync::Arc;

use serde_json::Value;

use super::chars::has_control_character;
use super::json;
use super::texts::{self, BodyKind, TextPart};
use super::Body;
use super::Header;

/// Most headers one hook call may set on a response.
pub const MAX_SET_HEADERS: usize = 64;
/// Most bytes (names and values) of the headers one hook call may set.
pub const MAX_SET_HEADER_BYTES: usize = 16 * 1024;

/// Headers a plugin may not set: the proxy computes them, and a wrong one breaks framing.
const MANAGED_HEADERS: [&str; 5] =
    ["content-length", "transfer-encoding", "connection", "content-type", "content-encoding"];

/// What the running hook may do with a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only (moderation, the logging hooks, the request after pre-call).
    ReadOnly,
    /// Read and edit, keeping the body's JSON text within `max_bytes`.
    Edit {
        /// The plugin's `max_output_bytes`.
        max_bytes: usize,
    },
}

/// Why an edit was refused; nothing changed. Mirrors the contract's `edit-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The running hook may not edit this value.
    #[error("this hook may not edit it")]
    ReadOnly,
    /// No text has this position.
    #[error("no text at position {0}")]
    NoSuchText(u32),
    /// The value is not JSON, or not what it must be.
    #[error("{0}")]
    Invalid(String),
    /// The edited body's JSON text would be this many bytes, over `max_output_bytes`.
    #[error("the edited body would be {0} bytes, over the plugin's max_output_bytes")]
    TooLarge(u64),
}

/// One hook call's view of a body (see the module docs).
#[derive(Debug)]
pub struct View {
    kind: BodyKind,
    base: Arc<Body>,
    edited: Option<Value>,
    /// The length of the current body's JSON text.
    size: usize,
    access: Access,
    /// Headers set on a response (`post-call-success`), in order, one per name.
    set_headers: Vec<Header>,
}

impl View {
    /// A view of `base`, a body of `kind`, with `access`.
    pub fn new(kind: BodyKind, base: Arc<Body>, access: Access) -> Self {
        let size = base.size();
        Self { kind, base, edited: None, size, access, set_headers: Vec::new() }
    }

    /// The body as it stands, with the edits so far.
    pub fn value(&self) -> &Value {
        self.edited.as_ref().unwrap_or_else(|| self.base.value())
    }

    /// Every text of the body, in document order.
    pub fn texts(&self) -> Vec<TextPart<'_>> {
        texts::texts(self.kind, self.value())
    }

    /// [`View::texts`], unless they take more than `max_bytes` with their paths
    /// ([`texts::texts_within`]).
    pub fn texts_within(&self, max_bytes: usize) -> Result<Vec<TextPart<'_>>, usize> {
        texts::texts_within(self.kind, self.value(), max_bytes)
    }

    /// The names of the body's top-level fields, in order.
    pub fn field_names(&self) -> Vec<String> {
        self.value().as_object().map(|fields| fields.keys().cloned().collect()).unwrap_or_default()
    }

    /// A top-level field as JSON text.
    pub fn field(&self, name: &str) -> Option<String> {
        self.value().get(name).map(Value::to_string)
    }

    /// The body's JSON text.
    pub fn body_json(&self) -> String {
        match &self.edited {
            Some(value) => value.to_string(),
            None => self.base.json().to_owned(),
        }
    }

    /// The headers set so far (a response's).
    pub fn set_headers(&self) -> &[Header] {
        &self.set_headers
    }

    /// Replaces texts by their position in [`View::texts`]; all or nothing.
    pub fn set_texts(&mut self, edits: &[(u32, String)]) -> Result<(), EditError> {
        self.set_texts_within(edits, usize::MAX).unwrap_or_else(|bytes| Err(EditError::TooLarge(bytes as u64)))
    }

    /// [`View::set_texts`], unless the paths of the texts to edit come to more than
    /// `max_bytes`: then `Err` with the bytes counted, as [`View::texts_within`] does (a
    /// caller bounds the host's work by what the plugin may hold). One walk finds the
    /// texts and keeps the paths of the edited ones only.
    pub fn set_texts_within(
        &mut self,
        edits: &[(u32, String)],
        max_bytes: usize,
    ) -> Result<Result<(), EditError>, usize> {
        let max = match self.max_bytes() {
            Ok(max) => max,
            Err(error) => return Ok(Err(error)),
        };
        let plan = match texts::plan_edits(self.kind, self.value(), edits, max_bytes) {
            Ok(plan) => plan,
            Err(texts::TextEditError::NoSuchText(index)) => return Ok(Err(EditError::NoSuchText(index))),
            Err(texts::TextEditError::TooLarge(bytes)) => return Err(bytes),
        };
        let size = usize::try_from((self.size as i128 + plan.growth()).max(0)).unwrap_or(usize::MAX);
        if size > max {
            return Ok(Err(EditError::TooLarge(size as u64)));
        }
        if plan.is_empty() {
            return Ok(Ok(()));
        }
        let choices: Vec<usize> = plan.items().iter().map(|&item| item as usize).collect();
        plan.apply(self.edit());
        if self.kind != BodyKind::Request {
            self.forget_logprobs(choices);
        }
        self.size = size;
        Ok(Ok(()))
    }

    /// Drops the `logprobs` of each of `choices` (positions in `choices`): they list the
    /// tokens of the text the model wrote, so after an edit of that text they would show
    /// the client what the edit took out (a redacted address, token by token). Only
    /// shrinks the body, so the size kept stays an upper bound.
    fn forget_logprobs(&mut self, choices: Vec<usize>) {
        let body = self.edit().as_object_mut().and_then(|body| json::field_mut(body, "choices"));
        let Some(Value::Array(list)) = body else { return };
        for index in choices {
            if let Some(Value::Object(choice)) = list.get_mut(index) {
                if json::field(choice, "logprobs").is_some_and(|logprobs| !logprobs.is_null()) {
                    json::set(choice, "logprobs", Value::Null);
                }
            }
        }
    }

    /// Sets a top-level field to `json`, or removes it.
    pub fn set_field(&mut self, name: &str, json: Option<&str>) -> Result<(), EditError> {
        let max = self.max_bytes()?;
        let Some(fields) = self.value().as_object() else {
            return Err(EditError::Invalid("the body is not a JSON object".into()));
        };
        let new = json.map(|json| parse(json, max)).transpose()?;
        // `"name":value,` in and out.
        let entry = |value: &Value| json_string_len(name) + 2 + value.to_string().len();
        let old_size = fields.get(name).map_or(0, entry);
        let new_size = new.as_ref().map_or(0, entry);
        let size = (self.size + new_size).saturating_sub(old_size);
        if size > max {
            return Err(EditError::TooLarge(size as u64));
        }
        let fields = self.edit().as_object_mut().expect("checked to be an object above");
        match new {
            Some(value) => {
                fields.insert(name.to_owned(), value);
            }
            None => {
                fields.shift_remove(name);
            }
        }
        self.size = size;
        Ok(())
    }

    /// Replaces the whole body with `json`, which must be a JSON object.
    pub fn set_body(&mut self, json: &str) -> Result<(), EditError> {
        let max = self.max_bytes()?;
        let value = parse(json, max)?;
        if !value.is_object() {
            return Err(EditError::Invalid("the body must be a JSON object".into()));
        }
        self.edited = Some(value);
        self.size = json.len();
        Ok(())
    }

    /// Sets a header of the client's response, replacing an earlier one of that name.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        self.max_bytes()?;
        let (name, value) = check_header(name, value).map_err(EditError::Invalid)?;
        let bytes: usize = self.set_headers.iter().filter(|(n, _)| *n != name).map(|(n, v)| n.len() + v.len()).sum();
        let count = self.set_headers.iter().filter(|(n, _)| *n != name).count() + 1;
        if count > MAX_SET_HEADERS || bytes + name.len() + value.len() > MAX_SET_HEADER_BYTES {
            return Err(EditError::Invalid(format!(
                "a hook may set at most {MAX_SET_HEADERS} headers of {MAX_SET_HEADER_BYTES} bytes in all"
            )));
        }
        match self.set_headers.iter_mut().find(|(n, _)| *n == name) {
            Some(existing) => existing.1 = value,
            None => self.set_headers.push((name, value)),
        }
        Ok(())
    }

    /// A chunk's `choices[choice].finish_reason`, when it has one.
    pub fn finish_reason(&self, choice: u32) -> Option<String> {
        let choice = json::get(self.value(), "choices")?.get(choice as usize)?;
        json::get(choice, "finish_reason")?.as_str().map(str::to_owned)
    }

    /// Sets the answer text of a chunk's `choices[choice]`: `text` when the choice has one
    /// (a text completion chunk), `delta.content` when it has a delta or no `text`
    /// (adding the delta when missing); and drops the choice's `logprobs`.
    pub fn set_content(&mut self, choice: u32, text: &str) -> Result<(), EditError> {
        let choice_index = choice as usize;
        let max = self.max_bytes()?;
        let target = json::get(self.value(), "choices").and_then(|choices| choices.get(choice as usize));
        let Some(Value::Object(fields)) = target else {
            return Err(EditError::Invalid(format!("the chunk has no choice {choice}")));
        };
        // A text completion's choice keeps its text in `text`, a chat one in `delta`. An
        // upstream may write both, and a client reads only its own: then both get the
        // text, so the edit reaches the client whichever it reads.
        let completion = json::field(fields, "text").is_some_and(Value::is_string);
        let chat = !completion || json::field(fields, "delta").is_some_and(Value::is_object);
        let olds = [
            completion.then(|| json::field(fields, "text")).flatten(),
            chat.then(|| json::field(fields, "delta").and_then(|delta| json::get(delta, "content"))).flatten(),
        ];
        // `"content":` and the string, in and out, for each place written (an existing
        // non-string content is replaced; its length is not subtracted, which only
        // overestimates, as `"text"` counted as `"content"` does).
        let entry = |text: &str| json_string_len(text) + json_string_len("content") + 2;
        let old_size: usize = olds.iter().flatten().filter_map(|old| old.as_str()).map(entry).sum();
        let written = usize::from(completion) + usize::from(chat);
        let size = (self.size + written * entry(text)).saturating_sub(old_size);
        if size > max {
            return Err(EditError::TooLarge(size as u64));
        }
        let edited = self.edit().as_object_mut().and_then(|body| json::field_mut(body, "choices"));
        // The body to edit is the one read above: the choice is there.
        let Some(Value::Object(choice)) = edited.and_then(|choices| choices.get_mut(choice as usize)) else {
            return Err(EditError::Invalid(format!("the chunk has no choice {choice}")));
        };
        let text = Value::String(text.to_owned());
        if completion {
            json::set(choice, "text", text.clone());
        }
        if chat {
            if !json::field(choice, "delta").is_some_and(Value::is_object) {
                json::set(choice, "delta", Value::Object(Default::default()));
            }
            if let Some(Value::Object(delta)) = json::field_mut(choice, "delta") {
                json::set(delta, "content", text);
            }
        }
        self.forget_logprobs(vec![choice_index]);
        self.size = size;
        Ok(())
    }

    /// Ends the hook call: the edited body, if it was edited, and the headers set.
    pub fn finish(self) -> (Option<Body>, Vec<Header>) {
        let body = self.edited.map(|value| Body::new(value, self.size));
        (body, self.set_headers)
    }

    fn max_bytes(&self) -> Result<usize, EditError> {
        match self.access {
            Access::ReadOnly => Err(EditError::ReadOnly),
            Access::Edit { max_bytes } => Ok(max_bytes),
        }
    }

    /// Like [`View::finish`], and the body the view was made with, as it was.
    pub fn finish_keeping_base(self) -> (Option<Body>, Arc<Body>) {
        let edited = self.edited.map(|value| Body::new(value, self.size));
        (edited, self.base)
    }

    /// The body to edit: on the first edit, the base's value moved out when this view is
    /// the base's only holder and the base keeps its text, else a copy.
    fn edit(&mut self) -> &mut Value {
        let base = &mut self.base;
        self.edited.get_or_insert_with(|| match Arc::get_mut(base).and_then(Body::take_value_keeping_text) {
            Some(moved) => moved,
            None => base.to_value(),
        })
    }
}

/// Parses a guest's JSON text of at most `max` bytes.
fn parse(json: &str, max: usize) -> Result<Value, EditError> {
    if json.len() > max {
        return Err(EditError::TooLarge(json.len() as u64));
    }
    serde_json::from_str(json).map_err(|error| EditError::Invalid(format!("not valid JSON: {error}")))
}

/// The length of `text` as a JSON string, quotes included, escaped as serde_json does.
pub fn json_string_len(text: &str) -> usize {
    if !crate::json::needs_escaping(text) {
        return text.len() + 2;
    }
    2 + text
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

/// A header a plugin sets on the client response: the name lower-cased and a token, not
/// one the proxy manages, the value at most 8 KiB without control characters.
///
/// Checked a byte at a time: a header-injecting plugin sets headers on every request, and
/// checking them a character at a time (a substring search per punctuation mark, Unicode's
/// control test per character) cost some 1,700 instructions a header.
pub fn check_header(name: &str, value: &str) -> Result<Header, String> {
    let name = name.to_ascii_lowercase();
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(format!("header name {name:?} is not a valid HTTP header name"));
    }
    if MANAGED_HEADERS.contains(&name.as_str()) {
        return Err(format!("header {name:?} is managed by the proxy"));
    }
    if value.len() > 8192 || has_control_character(value) {
        return Err(format!("value of header {name:?} is not a valid HTTP header value"));
    }
    Ok((name, value.to_owned()))
}

/// Whether `byte` may appear in an HTTP header name (RFC 9110's `tchar`).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(byte, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^'..=b'`' | b'|' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(access: Access) -> View {
        let body =
            json!({"model": "m", "messages": [{"role": "user", "content": "my secret plan"}], "temperature": 0.2});
        View::new(BodyKind::Request, Arc::new(Body::measured(body)), access)
    }

    const EDIT: Access = Access::Edit { max_bytes: 1 << 20 };

    #[test]
    fn reading_copies_nothing_and_edits_stay_in_the_view() {
        let base = Arc::new(Body::measured(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})));
        let mut view = View::new(BodyKind::Request, Arc::clone(&base), EDIT);
        assert_eq!(view.texts()[0].text, "hi");
        assert_eq!(view.texts()[0].role, Some("user"));
        assert_eq!(view.texts()[0].path, "/messages/0/content");
        view.set_texts(&[(0, "hello".into())]).unwrap();
        assert_eq!(base.value()["messages"][0]["content"], "hi", "the shared body is untouched");
        let (edited, _) = view.finish();
        let edited = edited.unwrap();
        assert_eq!(edited.value()["messages"][0]["content"], "hello");
        assert_eq!(edited.size(), edited.value().to_string().len(), "the size follows the edit exactly");
    }

    #[test]
    fn read_only_views_refuse_every_edit() {
        let mut view = request(Access::ReadOnly);
        assert_eq!(view.set_texts(&[(0, "x".into())]), Err(EditError::ReadOnly));
        assert_eq!(view.set_field("temperature", Some("1")), Err(EditError::ReadOnly));
        assert_eq!(view.set_body("{}"), Err(EditError::ReadOnly));
        assert_eq!(view.set_header("x-a", "1"), Err(EditError::ReadOnly));
        assert!(view.finish().0.is_none());
    }

    #[test]
    fn a_bad_position_changes_nothing() {
        let mut view = request(EDIT);
        assert_eq!(view.set_texts(&[(0, "changed".into()), (5, "x".into())]), Err(EditError::NoSuchText(5)));
        assert_eq!(view.texts()[0].text, "my secret plan");
    }

    #[test]
    fn fields_read_and_edit_as_json_text() {
        let mut view = request(EDIT);
        assert_eq!(view.field("temperature").as_deref(), Some("0.2"));
        assert_eq!(view.field("nope"), None);
        view.set_field("max_tokens", Some("64")).unwrap();
        view.set_field("temperature", None).unwrap();
        assert_eq!(view.field_names(), ["model", "messages", "max_tokens"]);
        assert!(matches!(view.set_field("x", Some("{nope")), Err(EditError::Invalid(_))));
        let (edited, _) = view.finish();
        let edited = edited.unwrap();
        assert_eq!(edited.size(), edited.value().to_string().len());
    }

    #[test]
    fn edits_cannot_grow_a_body_past_max_output_bytes() {
        let mut view = request(Access::Edit { max_bytes: 120 });
        let size = view.value().to_string().len();
        let room = 120 - size;
        assert_eq!(view.set_texts(&[(0, "q".repeat(14 + room + 1))]), Err(EditError::TooLarge(121)));
        view.set_texts(&[(0, "q".repeat(14 + room))]).unwrap();
        // Characters JSON escapes count as what they cost.
        assert!(matches!(view.set_texts(&[(0, "\n".repeat(14 + room))]), Err(EditError::TooLarge(_))));
        assert!(matches!(view.set_body(&format!("{{\"a\":\"{}\"}}", "x".repeat(200))), Err(EditError::TooLarge(_))));
    }

    /// The size counts the edit a position ends with: repeating a position, each time
    /// with less than its text, must not buy room for a last, longer edit.
    #[test]
    fn repeating_a_position_buys_no_room() {
        let mut view = request(Access::Edit { max_bytes: 120 });
        let room = 120 - view.value().to_string().len();
        let mut edits = vec![(0, String::new()); 100];
        edits.push((0, "q".repeat(14 + room + 1)));
        assert_eq!(view.set_texts(&edits), Err(EditError::TooLarge(121)));
        edits.push((0, "fits".into()));
        view.set_texts(&edits).unwrap();
        assert_eq!(view.texts()[0].text, "fits");
        let (edited, _) = view.finish();
        let edited = edited.unwrap();
        assert_eq!(edited.size(), edited.value().to_string().len());
    }

    /// Editing one text of a deep body keeps that text's path only, so a tight bound on
    /// the host's work still lets it through; editing them all does not fit.
    #[test]
    fn an_edit_keeps_the_paths_of_the_texts_it_edits_only() {
        let mut deep = json!(vec!["a"; 1000]);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        let body = json!({"messages": [{"role": "user", "content": "hi"}],
                          "tools": [{"type": "function", "function": {"name": "f", "parameters": {"deep": deep}}}]});
        let mut view = View::new(BodyKind::Request, Arc::new(Body::measured(body)), EDIT);
        let one_path = 4096;
        assert!(view.texts_within(one_path).is_err(), "the whole list is far more than one path");
        view.set_texts_within(&[(900, "b".into())], one_path).unwrap().unwrap();
        assert_eq!(view.texts()[900].text, "b");
        let all: Vec<(u32, String)> = (0..1000).map(|index| (index, "c".into())).collect();
        assert!(view.set_texts_within(&all, one_path).is_err());
        assert_eq!(view.texts()[2].text, "a", "and nothing changed");
    }

    #[test]
    fn a_body_must_stay_an_object() {
        let mut view = request(EDIT);
        assert!(matches!(view.set_body("[1]"), Err(EditError::Invalid(_))));
        view.set_body(r#"{"model":"other","messages":[]}"#).unwrap();
        assert_eq!(view.field("model").as_deref(), Some("\"other\""));
    }

    #[test]
    fn header_name_bytes_are_judged_as_the_character_definition_judges_them() {
        for byte in 0..=u8::MAX {
            let c = char::from(byte);
            let token = c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            assert_eq!(is_token_byte(byte), token, "{byte:#x}");
        }
    }

    #[test]
    fn headers_are_checked_and_the_last_value_of_a_name_wins() {
        let mut view = request(EDIT);
        view.set_header("X-Team", "blue").unwrap();
        view.set_header("x-team", "red").unwrap();
        assert!(view.set_header("content-length", "1").is_err());
        assert!(view.set_header("bad name", "1").is_err());
        assert!(view.set_header("x-ok", "line\r\nbreak").is_err());
        for i in 0..MAX_SET_HEADERS - 1 {
            view.set_header(&format!("x-h{i}"), "v").unwrap();
        }
        assert!(view.set_header("x-one-too-many", "v").is_err());
        assert_eq!(view.set_headers()[0], ("x-team".to_owned(), "red".to_owned()));
    }

    #[test]
    fn a_body_lent_to_the_view_alone_is_edited_without_a_copy_and_left_as_it_was() {
        let text = r#"{"choices":[{"index":0,"delta":{"content":"secret"}}]}"#;
        let original: Value = serde_json::from_str(text).unwrap();
        for shared in [false, true] {
            let base = Arc::new(Body::with_json(original.clone(), text.to_owned()));
            let other_holder = shared.then(|| Arc::clone(&base));
            let mut view = View::new(BodyKind::Chunk, base, EDIT);
            view.set_content(0, "******").unwrap();
            assert_eq!(view.value()["choices"][0]["delta"]["content"], "******");
            let (edited, base) = view.finish_keeping_base();
            assert_eq!(edited.unwrap().value()["choices"][0]["delta"]["content"], "******");
            // Moved out (lent alone) or copied (shared): either way the base reads as before.
            assert_eq!(base.json_if_made(), Some(text), "shared: {shared}");
            assert_eq!(*base.value(), original, "shared: {shared}");
            assert_eq!(base.size(), text.len());
            if let Some(other) = other_holder {
                assert!(Arc::ptr_eq(&other, &base));
            }
        }
        // A body without its text cannot be left whole without a copy: it is copied.
        let base = Arc::new(Body::measured(original.clone()));
        let mut view = View::new(BodyKind::Chunk, base, EDIT);
        view.set_content(0, "x").unwrap();
        let (_, base) = view.finish_keeping_base();
        assert_eq!(*base.value(), original);
    }

    #[test]
    fn an_edited_choice_loses_its_logprobs_and_the_others_keep_theirs() {
        let logprobs =
            json!({"content": [{"token": "ann", "logprob": -0.1}, {"token": "@example.com", "logprob": -0.2}]});
        let answer = json!({"choices": [
            {"index": 0, "message": {"content": "mail ann@example.com"}, "logprobs": logprobs},
            {"index": 1, "message": {"content": "no address"}, "logprobs": logprobs},
        ]});
        let mut view = View::new(BodyKind::Response, Arc::new(Body::measured(answer)), EDIT);
        view.set_texts(&[(0, "mail [EMAIL]".into())]).unwrap();
        assert_eq!(view.value()["choices"][0]["logprobs"], Value::Null);
        assert_eq!(view.value()["choices"][1]["logprobs"], logprobs);
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": "ann@"}, "logprobs": logprobs}]});
        let mut view = View::new(BodyKind::Chunk, Arc::new(Body::measured(chunk)), EDIT);
        view.set_content(0, "").unwrap();
        assert_eq!(view.value()["choices"][0]["logprobs"], Value::Null);
        // A request has no logprobs to forget; its edits leave the rest as it was.
        let request = json!({"messages": [{"role": "user", "content": "hi"}], "logprobs": true});
        let mut view = View::new(BodyKind::Request, Arc::new(Body::measured(request)), EDIT);
        view.set_texts(&[(0, "hello".into())]).unwrap();
        assert_eq!(view.value()["logprobs"], true);
    }

    #[test]
    fn a_chunk_s_content_is_set_where_its_kind_keeps_it() {
        let chunk = |value: Value| View::new(BodyKind::Chunk, Arc::new(Body::measured(value)), EDIT);
        let mut chat = chunk(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
        assert_eq!(chat.finish_reason(0).as_deref(), Some("stop"));
        assert_eq!(chat.finish_reason(1), None);
        chat.set_content(0, "held back").unwrap();
        assert_eq!(chat.value()["choices"][0]["delta"]["content"], "held back");
        let mut completion = chunk(json!({"choices": [{"index": 0, "text": "Once"}]}));
        completion.set_content(0, "Once upon").unwrap();
        assert_eq!(completion.texts()[0].text, "Once upon");
        assert!(matches!(completion.set_content(3, "x"), Err(EditError::Invalid(_))));
        // An upstream that writes both: each place gets the edit, as each kind of client
        // reads one of them.
        let mut both = chunk(json!({"choices": [{"index": 0, "delta": {"content": "ann@example.com"}, "text": ""}]}));
        both.set_content(0, "[EMAIL]").unwrap();
        assert_eq!(both.value()["choices"][0]["delta"]["content"], "[EMAIL]");
        assert_eq!(both.value()["choices"][0]["text"], "[EMAIL]");
        let mut odd = chunk(json!({"choices": [{"delta": null, "index": 0}, {"delta": {"role": "assistant"}}]}));
        odd.set_content(0, "a").unwrap();
        odd.set_content(1, "b").unwrap();
        odd.set_content(1, "c").unwrap();
        assert_eq!(
            odd.value().to_string(),
            r#"{"choices":[{"delta":{"content":"a"},"index":0},{"delta":{"role":"assistant","content":"c"}}]}"#,
            "a delta that is not an object is replaced in place, content goes last and is replaced in place"
        );
        let mut read_only =
            View::new(BodyKind::Chunk, Arc::new(Body::measured(json!({"choices": []}))), Access::ReadOnly);
        assert_eq!(read_only.set_content(0, "x"), Err(EditError::ReadOnly));
        let (edited, _) = chat.finish();
        let edited = edited.unwrap();
        assert!(edited.size() >= edited.value().to_string().len(), "the size estimate never undercounts");
    }

    #[test]
    fn json_string_lengths_match_serde_json() {
        for text in ["", "plain", "quote\" and \\ slash", "tab\tnew\nline\r", "\u{1}\u{1f}", "é✓😀", "\u{7f}"] {
            assert_eq!(json_string_len(text), serde_json::to_string(text).unwrap().len(), "{text:?}");
        }
    }
}
