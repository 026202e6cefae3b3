//! The request, the response and stream chunks, as hooks read and edit them.
//!
//! In a component these are the host's `content` resources: nothing is copied or parsed
//! until a hook asks, and edits happen in the host (the body never goes through a JSON
//! parser in the guest). [`Request::texts`] lists every text the model reads, with where
//! it is; [`Request::set_texts`] replaces some of them; [`Request::map_texts`] rewrites
//! them all, which is what a redactor needs. Edits stand only if the hook returns `Ok`.
//!
//! In a plugin's native unit tests, [`Request::local`] (and [`Response::local`],
//! [`Chunk::local`]) make the same types from a JSON body, backed by the very code the
//! host runs (`hookgate-content`), so a test sees what the proxy would do.

use std::borrow::Cow;
use std::cell::RefCell;

use hookgate_content::{texts::BodyKind, Access, Body, View};
use serde_json::Value;

use crate::bindings::content as host;
use crate::bindings::wit::{CallContext, CallType, KeyInfo};
use crate::openai::{ChatCompletionRequest, ChatCompletionResponse};

pub use hookgate_content::EditError;

/// One text of a body, and where it is. Derefs to the text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// A JSON pointer to it in the body, e.g. `/messages/2/content/0/text`.
    pub path: String,
    /// True when the text is a property name of a schema rather than a string value.
    pub is_key: bool,
    /// The index of the message (request) or choice (response, chunk) it belongs to.
    pub item: Option<usize>,
    /// That message's role; `assistant` for response and chunk texts.
    pub role: Option<String>,
    /// The text.
    pub text: String,
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl From<host::TextPart> for Text {
    fn from(part: host::TextPart) -> Self {
        Text {
            path: part.path,
            is_key: part.is_key,
            item: part.item.map(|i| i as usize),
            role: part.role,
            text: part.text,
        }
    }
}

impl From<hookgate_content::TextPart<'_>> for Text {
    fn from(part: hookgate_content::TextPart<'_>) -> Self {
        Text {
            path: part.path,
            is_key: part.is_key,
            item: part.item.map(|i| i as usize),
            role: part.role.map(str::to_owned),
            text: part.text.to_owned(),
        }
    }
}

fn edit_error(error: host::EditError) -> EditError {
    match error {
        host::EditError::ReadOnly => EditError::ReadOnly,
        host::EditError::NoSuchText(index) => EditError::NoSuchText(index),
        host::EditError::Invalid(message) => EditError::Invalid(message),
        host::EditError::TooLarge(bytes) => EditError::TooLarge(bytes),
    }
}

/// The operations the three host resources share.
trait HostDoc {
    fn texts(&self) -> Vec<host::TextPart>;
    fn set_texts(&self, edits: &[host::TextEdit]) -> Result<(), host::EditError>;
    fn field(&self, name: &str) -> Option<String>;
    fn body(&self) -> String;
    fn set_body(&self, json: &str) -> Result<(), host::EditError>;
}

macro_rules! host_doc {
    ($resource:ty) => {
        impl HostDoc for $resource {
            fn texts(&self) -> Vec<host::TextPart> {
                <$resource>::texts(self)
            }
            fn set_texts(&self, edits: &[host::TextEdit]) -> Result<(), host::EditError> {
                <$resource>::set_texts(self, edits)
            }
            fn field(&self, name: &str) -> Option<String> {
                <$resource>::field(self, name)
            }
            fn body(&self) -> String {
                <$resource>::body(self)
            }
            fn set_body(&self, json: &str) -> Result<(), host::EditError> {
                <$resource>::set_body(self, json)
            }
        }
    };
}

host_doc!(host::Request);
host_doc!(host::Response);
host_doc!(host::Chunk);

/// `a == b`, eight bytes at a time: a guest's `memcmp` goes a byte at a time, each
/// step metered, and most texts a plugin maps come back unchanged, so whole.
fn same_text(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, b_words) = (a.as_bytes().chunks_exact(8), b.as_bytes().chunks_exact(8));
    a_words.remainder() == b_words.remainder()
        && a_words.zip(b_words).all(|(x, y)| {
            u64::from_ne_bytes(x.try_into().expect("eight bytes"))
                == u64::from_ne_bytes(y.try_into().expect("eight bytes"))
        })
}

/// A body in the host, or (in native tests) in this process.
enum Doc<'a, H> {
    /// The host's body, and its texts as last read: a hook that reads them twice (a
    /// chunk's `text()`, then a `HoldBack`) crosses into the host once. Only this call's
    /// own edits change the body, and every edit forgets them.
    Host {
        handle: &'a H,
        texts: RefCell<Option<Vec<Text>>>,
    },
    Local(RefCell<View>),
}

impl<'a, H: HostDoc> Doc<'a, H> {
    fn host(handle: &'a H) -> Self {
        Doc::Host { handle, texts: RefCell::new(None) }
    }

    fn local(kind: BodyKind, body: Value) -> Self {
        let body = std::sync::Arc::new(Body::measured(body));
        Doc::Local(RefCell::new(View::new(kind, body, Access::Edit { max_bytes: usize::MAX })))
    }

    fn texts(&self) -> Vec<Text> {
        match self {
            Doc::Host { handle, texts } => {
                texts.borrow_mut().get_or_insert_with(|| handle.texts().into_iter().map(Text::from).collect()).clone()
            }
            Doc::Local(view) => view.borrow().texts().into_iter().map(Text::from).collect(),
        }
    }

    /// Edits the body with `edit`: through the host's resource, or the local view;
    /// either way the texts read so far are forgotten.
    fn edit<E>(
        &self,
        edit: E,
        host: impl FnOnce(&H, E) -> Result<(), host::EditError>,
        local: impl FnOnce(&mut View, E) -> Result<(), EditError>,
    ) -> Result<(), EditError> {
        match self {
            Doc::Host { handle, texts } => {
                texts.take();
                host(handle, edit).map_err(edit_error)
            }
            Doc::Local(view) => local(&mut view.borrow_mut(), edit),
        }
    }

    fn set_texts(&self, edits: Vec<(usize, String)>) -> Result<(), EditError> {
        let position = |index: usize| u32::try_from(index).unwrap_or(u32::MAX);
        self.edit(
            edits,
            |handle, edits| {
                let edits: Vec<host::TextEdit> =
                    edits.into_iter().map(|(index, text)| host::TextEdit { index: position(index), text }).collect();
                handle.set_texts(&edits)
            },
            |view, edits| {
                let edits: Vec<(u32, String)> =
                    edits.into_iter().map(|(index, text)| (position(index), text)).collect();
                view.set_texts(&edits)
            },
        )
    }

    fn map_texts(&self, mut f: impl FnMut(&str) -> String) -> Result<bool, EditError> {
        let edits: Vec<(usize, String)> = self
            .texts()
            .iter()
            .enumerate()
            .filter_map(|(index, text)| {
                let new = f(text);
                (!same_text(&new, &text.text)).then_some((index, new))
            })
            .collect();
        let changed = !edits.is_empty();
        if changed {
            self.set_texts(edits)?;
        }
        Ok(changed)
    }

    fn field(&self, name: &str) -> Option<String> {
        match self {
            Doc::Host { handle, .. } => handle.field(name),
            Doc::Local(view) => view.borrow().field(name),
        }
    }

    fn body(&self) -> String {
        match self {
            Doc::Host { handle, .. } => handle.body(),
            Doc::Local(view) => view.borrow().body_json(),
        }
    }

    fn set_body(&self, json: &str) -> Result<(), EditError> {
        self.edit(json, |handle, json| handle.set_body(json), |view, json| view.set_body(json))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body()).unwrap_or(Value::Null)
    }
}

/// Who is calling, as the operator configured the key. Never the raw key.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a>(&'a KeyInfo);

impl<'a> Key<'a> {
    /// The key's alias from the proxy config; `master` for the master key.
    pub fn alias(&self) -> Option<&'a str> {
        self.0.alias.as_deref()
    }

    /// The key's id: stable, not reversible; good for per-key counters.
    pub fn id(&self) -> &'a str {
        &self.0.id
    }

    /// The user id configured for the key.
    pub fn user_id(&self) -> Option<&'a str> {
        self.0.user_id.as_deref()
    }

    /// The team id configured for the key.
    pub fn team_id(&self) -> Option<&'a str> {
        self.0.team_id.as_deref()
    }

    /// The key's metadata from the config: a JSON object, empty when none was set.
    pub fn metadata(&self) -> Value {
        match serde_json::from_str(&self.0.metadata) {
            Ok(value @ Value::Object(_)) => value,
            _ => Value::Object(Default::default()),
        }
    }
}

impl CallContext {
    /// A context for a plugin's native unit tests: request id `test-request`, a chat
    /// completion, key alias `test`, not streamed.
    pub fn for_tests() -> Self {
        CallContext {
            request_id: "test-request".into(),
            call_type: CallType::ChatCompletion,
            key: KeyInfo {
                alias: Some("test".into()),
                id: "0".repeat(64),
                user_id: None,
                team_id: None,
                metadata: "{}".into(),
            },
            stream: false,
        }
    }
}

/// The client's request, with the edits of earlier pre-call hooks (and, in `pre_call`,
/// this hook's own so far). Edits are allowed in `pre_call` only.
pub struct Request<'a> {
    ctx: Cow<'a, CallContext>,
    doc: Doc<'a, host::Request>,
    local_headers: Vec<(String, String)>,
}

impl<'a> Request<'a> {
    /// The request the host lent to this hook call (the export glue makes it).
    #[doc(hidden)]
    pub fn from_host(ctx: &'a CallContext, handle: &'a host::Request) -> Self {
        Request { ctx: Cow::Borrowed(ctx), doc: Doc::host(handle), local_headers: Vec::new() }
    }

    /// A request made of `body` (a JSON object), for native unit tests: it reads and edits
    /// exactly as the host's would. The context is [`CallContext::for_tests`].
    pub fn local(body: Value) -> Request<'static> {
        Request::local_with(CallContext::for_tests(), body, Vec::new())
    }

    /// [`Request::local`] with a context and headers of the test's choosing.
    pub fn local_with(ctx: CallContext, body: Value, headers: Vec<(String, String)>) -> Request<'static> {
        Request { ctx: Cow::Owned(ctx), doc: Doc::local(BodyKind::Request, body), local_headers: headers }
    }

    /// The request id: unique, generated by the proxy, the same in its logs.
    pub fn id(&self) -> &str {
        &self.ctx.request_id
    }

    /// The endpoint the request arrived on.
    pub fn call_type(&self) -> &CallType {
        &self.ctx.call_type
    }

    /// Who is calling.
    pub fn key(&self) -> Key<'_> {
        Key(&self.ctx.key)
    }

    /// Whether the client asked for a streamed answer.
    pub fn is_stream(&self) -> bool {
        self.ctx.stream
    }

    /// The context the host passed (request id, call type, key, stream).
    pub fn context(&self) -> &CallContext {
        &self.ctx
    }

    /// The body's `model`.
    pub fn model(&self) -> String {
        match &self.doc {
            Doc::Host { handle, .. } => handle.model(),
            Doc::Local(view) => view.borrow().value().get("model").and_then(Value::as_str).unwrap_or_default().into(),
        }
    }

    /// Every text the model reads, in document order: message names, contents, refusals,
    /// tool calls; tool and function definitions and their schemas; `response_format`'s
    /// schema; `prediction`; `prompt`, `suffix`; `input` (see `wit/plugin.wit`).
    ///
    /// This is what a guardrail checks: compare [`normalize`](crate::normalize)d texts
    /// with normalized keywords.
    pub fn texts(&self) -> Vec<Text> {
        self.doc.texts()
    }

    /// Replaces texts by their position in [`Request::texts`]; all or nothing.
    pub fn set_texts<S: Into<String>>(&self, edits: impl IntoIterator<Item = (usize, S)>) -> Result<(), EditError> {
        self.doc.set_texts(edits.into_iter().map(|(index, text)| (index, text.into())).collect())
    }

    /// Replaces the text at `index` of [`Request::texts`].
    pub fn set_text(&self, index: usize, text: impl Into<String>) -> Result<(), EditError> {
        self.set_texts([(index, text.into())])
    }

    /// Rewrites every text with `f` (in [`Request::texts`] order); `true` when any changed.
    pub fn map_texts(&self, f: impl FnMut(&str) -> String) -> Result<bool, EditError> {
        self.doc.map_texts(f)
    }

    /// The names of the body's top-level fields, in order.
    pub fn field_names(&self) -> Vec<String> {
        match &self.doc {
            Doc::Host { handle, .. } => handle.field_names(),
            Doc::Local(view) => view.borrow().field_names(),
        }
    }

    /// A top-level field as JSON text (`temperature` → `0.2`).
    pub fn field(&self, name: &str) -> Option<String> {
        self.doc.field(name)
    }

    /// Sets a top-level field to JSON text, or removes it with `None`.
    pub fn set_field(&self, name: &str, json: Option<&str>) -> Result<(), EditError> {
        self.doc.edit(json, |handle, json| handle.set_field(name, json), |view, json| view.set_field(name, json))
    }

    /// The whole body as JSON text.
    pub fn body(&self) -> String {
        self.doc.body()
    }

    /// Replaces the whole body (JSON text of an object).
    pub fn set_body(&self, json: &str) -> Result<(), EditError> {
        self.doc.set_body(json)
    }

    /// The whole body, parsed (costs a JSON parse in the guest: prefer the texts and
    /// fields above).
    pub fn json(&self) -> Value {
        self.doc.json()
    }

    /// The body as a typed chat completion request (parsed in the guest).
    pub fn chat(&self) -> Result<ChatCompletionRequest, serde_json::Error> {
        serde_json::from_str(&self.body())
    }

    /// The client's headers (credentials removed), names lower-case.
    pub fn headers(&self) -> Vec<(String, String)> {
        match &self.doc {
            Doc::Host { handle, .. } => handle.headers(),
            Doc::Local(_) => self.local_headers.clone(),
        }
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers().into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }
}

/// The answer on its way to the client: the upstream's response, with earlier hooks'
/// edits; or, in `log_success` after a stream, the completion assembled from it. Edits
/// (body, texts, headers) are allowed in `post_call_success` only.
pub struct Response<'a> {
    doc: Doc<'a, host::Response>,
    local_headers: RefCell<Vec<(String, String)>>,
}

impl<'a> Response<'a> {
    /// The response the host lent to this hook call (the export glue makes it).
    #[doc(hidden)]
    pub fn from_host(handle: &'a host::Response) -> Self {
        Response { doc: Doc::host(handle), local_headers: RefCell::new(Vec::new()) }
    }

    /// A response made of `body`, for native unit tests.
    pub fn local(body: Value) -> Response<'static> {
        Response { doc: Doc::local(BodyKind::Response, body), local_headers: RefCell::new(Vec::new()) }
    }

    /// The upstream's HTTP status.
    pub fn status(&self) -> u16 {
        match &self.doc {
            Doc::Host { handle, .. } => handle.status(),
            Doc::Local(_) => 200,
        }
    }

    /// Every text the model wrote: per choice its message's content, refusal and tool
    /// calls, and `text` for completions.
    pub fn texts(&self) -> Vec<Text> {
        self.doc.texts()
    }

    /// Replaces texts by their position in [`Response::texts`]; all or nothing.
    pub fn set_texts<S: Into<String>>(&self, edits: impl IntoIterator<Item = (usize, S)>) -> Result<(), EditError> {
        self.doc.set_texts(edits.into_iter().map(|(index, text)| (index, text.into())).collect())
    }

    /// Replaces the text at `index` of [`Response::texts`].
    pub fn set_text(&self, index: usize, text: impl Into<String>) -> Result<(), EditError> {
        self.set_texts([(index, text.into())])
    }

    /// Rewrites every text with `f`; `true` when any changed.
    pub fn map_texts(&self, f: impl FnMut(&str) -> String) -> Result<bool, EditError> {
        self.doc.map_texts(f)
    }

    /// The names of the body's top-level fields, in order.
    pub fn field_names(&self) -> Vec<String> {
        match &self.doc {
            Doc::Host { handle, .. } => handle.field_names(),
            Doc::Local(view) => view.borrow().field_names(),
        }
    }

    /// A top-level field as JSON text (`usage` → `{"prompt_tokens":...}`).
    pub fn field(&self, name: &str) -> Option<String> {
        self.doc.field(name)
    }

    /// Sets a top-level field to JSON text, or removes it with `None`.
    pub fn set_field(&self, name: &str, json: Option<&str>) -> Result<(), EditError> {
        self.doc.edit(json, |handle, json| handle.set_field(name, json), |view, json| view.set_field(name, json))
    }

    /// The whole body as JSON text.
    pub fn body(&self) -> String {
        self.doc.body()
    }

    /// Replaces the whole body (JSON text of an object).
    pub fn set_body(&self, json: &str) -> Result<(), EditError> {
        self.doc.set_body(json)
    }

    /// The whole body, parsed in the guest.
    pub fn json(&self) -> Value {
        self.doc.json()
    }

    /// The body as a typed chat completion (parsed in the guest).
    pub fn chat(&self) -> Result<ChatCompletionResponse, serde_json::Error> {
        serde_json::from_str(&self.body())
    }

    /// The headers the client will get so far, names lower-case.
    pub fn headers(&self) -> Vec<(String, String)> {
        match &self.doc {
            Doc::Host { handle, .. } => handle.headers(),
            Doc::Local(view) => {
                let set = view.borrow().set_headers().to_vec();
                let mut headers: Vec<_> = self
                    .local_headers
                    .borrow()
                    .iter()
                    .filter(|(n, _)| !set.iter().any(|(s, _)| s == n))
                    .cloned()
                    .collect();
                headers.extend(set);
                headers
            }
        }
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers().into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// Sets a header of the client's response, replacing any of that name.
    pub fn set_header(&self, name: &str, value: &str) -> Result<(), EditError> {
        match &self.doc {
            Doc::Host { handle, .. } => handle.set_header(name, value).map_err(edit_error),
            Doc::Local(view) => view.borrow_mut().set_header(name, value),
        }
    }
}

/// One streamed chunk. Edits are allowed in `stream_chunk` only.
pub struct Chunk<'a> {
    doc: Doc<'a, host::Chunk>,
}

impl<'a> Chunk<'a> {
    /// The chunk the host lent to this hook call (the export glue makes it).
    #[doc(hidden)]
    pub fn from_host(handle: &'a host::Chunk) -> Self {
        Chunk { doc: Doc::host(handle) }
    }

    /// A chunk made of `body`, for native unit tests.
    pub fn local(body: Value) -> Chunk<'static> {
        Chunk { doc: Doc::local(BodyKind::Chunk, body) }
    }

    /// Every text this chunk adds, over all choices: the delta's content, refusal, tool
    /// call names and argument pieces, and `text` for completions.
    pub fn texts(&self) -> Vec<Text> {
        self.doc.texts()
    }

    /// The answer text this chunk adds: every choice's delta content (or completion
    /// `text`), concatenated; `None` when no choice carries any (role-only, finish and
    /// usage chunks).
    pub fn text(&self) -> Option<String> {
        let contents = self.answer_texts();
        (!contents.is_empty()).then(|| contents.iter().map(|text| text.text.as_str()).collect())
    }

    /// The texts of [`Chunk::texts`] that are answer text (delta content or completion
    /// `text`), not refusals or tool calls.
    pub fn answer_texts(&self) -> Vec<Text> {
        self.texts().into_iter().filter(|text| is_answer_text(&text.path)).collect()
    }

    /// The `finish_reason` of `choices[choice]`, when this chunk ends that choice.
    pub fn finish_reason(&self, choice: u32) -> Option<String> {
        match &self.doc {
            Doc::Host { handle, .. } => handle.finish_reason(choice),
            Doc::Local(view) => view.borrow().finish_reason(choice),
        }
    }

    /// Sets the answer text of `choices[choice]` (its `delta.content`, or `text` in a
    /// text completion chunk), adding it when absent.
    pub fn set_content(&self, choice: u32, text: &str) -> Result<(), EditError> {
        self.doc.edit(
            text,
            |handle, text| handle.set_content(choice, text),
            |view, text| view.set_content(choice, text),
        )
    }

    /// Replaces texts by their position in [`Chunk::texts`]; all or nothing.
    pub fn set_texts<S: Into<String>>(&self, edits: impl IntoIterator<Item = (usize, S)>) -> Result<(), EditError> {
        self.doc.set_texts(edits.into_iter().map(|(index, text)| (index, text.into())).collect())
    }

    /// Replaces the text at `index` of [`Chunk::texts`].
    pub fn set_text(&self, index: usize, text: impl Into<String>) -> Result<(), EditError> {
        self.set_texts([(index, text.into())])
    }

    /// Rewrites every text with `f`; `true` when any changed.
    pub fn map_texts(&self, f: impl FnMut(&str) -> String) -> Result<bool, EditError> {
        self.doc.map_texts(f)
    }

    /// A top-level field as JSON text.
    pub fn field(&self, name: &str) -> Option<String> {
        self.doc.field(name)
    }

    /// The whole chunk as JSON text.
    pub fn body(&self) -> String {
        self.doc.body()
    }

    /// Replaces the whole chunk (JSON text of an object).
    pub fn set_body(&self, json: &str) -> Result<(), EditError> {
        self.doc.set_body(json)
    }

    /// The whole chunk, parsed in the guest.
    pub fn json(&self) -> Value {
        self.doc.json()
    }
}

/// Whether a chunk text at `path` is answer text: `/choices/<i>/delta/content` (or one of
/// its text parts) or `/choices/<i>/text`.
fn is_answer_text(path: &str) -> bool {
    let mut tokens = path.split('/').skip(1);
    let (Some("choices"), Some(_), next) = (tokens.next(), tokens.next(), tokens.next()) else { return false };
    match next {
        Some("text") => tokens.next().is_none(),
        Some("delta") => tokens.next() == Some("content"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::same_text;

    /// Equal texts of every length up to three words and a tail are the same; one byte
    /// changed anywhere, or one more byte, makes them differ.
    #[test]
    fn same_text_is_equality() {
        for length in 0..=27 {
            let text: String = (0..length).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            assert!(same_text(&text, &text.clone()), "{text:?}");
            assert!(!same_text(&text, &format!("{text}a")), "{text:?}");
            for at in 0..length {
                let mut changed = text.clone().into_bytes();
                changed[at] = b'!';
                let changed = String::from_utf8(changed).unwrap();
                assert!(!same_text(&text, &changed), "{text:?} at {at}");
            }
        }
    }
}
