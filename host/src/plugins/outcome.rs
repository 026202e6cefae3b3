//! What hooks return, validated: the values the pipeline acts on.
//!
//! Guests return raw WIT values; the instance checks them here (JSON where JSON is
//! required, sizes, header syntax) so that the pipeline only ever sees usable values and
//! anything else becomes a `bad_output` fault.

use super::bindings::types as wit;
use super::fault::Fault;

/// A plugin's refusal of a request, as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// A 4xx HTTP status (already clamped).
    pub status: u16,
    /// The reason shown to the client.
    pub message: String,
    /// The machine-readable code, if the plugin gave one.
    pub code: Option<String>,
}

impl Rejection {
    /// Converts a guest's rejection, clamping a status outside 400..=499 to 400 and
    /// cutting the message and code to what a client error (and a log line) should hold.
    pub(crate) fn from_guest(plugin: &str, rejection: wit::Rejection) -> Self {
        let status = if (400..500).contains(&rejection.status) {
            rejection.status
        } else {
            tracing::warn!(plugin, status = rejection.status, "rejection status is not 4xx; clamped to 400");
            400
        };
        let mut message = rejection.message;
        crate::text::truncate_in_place(&mut message, MAX_REJECTION_MESSAGE_BYTES);
        let code = rejection.code.map(|mut code| {
            crate::text::truncate_in_place(&mut code, MAX_REJECTION_CODE_BYTES);
            code
        });
        Self { status, message, code }
    }
}

/// The longest rejection message a client sees (and the log holds); a longer one is cut.
pub const MAX_REJECTION_MESSAGE_BYTES: usize = 4096;
/// The longest rejection `code`.
pub const MAX_REJECTION_CODE_BYTES: usize = 128;
/// Most headers one `post-call-success` edit may add.
pub const MAX_ADDED_HEADERS: usize = 64;
/// Most bytes (names and values) of the headers one edit may add.
pub const MAX_ADDED_HEADER_BYTES: usize = 16 * 1024;

/// Why a hook did not produce a normal outcome.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HookError {
    /// The plugin refused the request: the client gets this rejection.
    #[error("rejected with {}: {}", .0.status, .0.message)]
    Rejected(Rejection),
    /// The plugin faulted: its `on_error` policy decides. (Boxed: faults are rare and
    /// large, outcomes are common and should stay small.)
    #[error(transparent)]
    Fault(Box<Fault>),
    /// The hook never ran: no instance slot came free in time. The proxy is overloaded;
    /// the plugin did nothing wrong, so this is never counted against it.
    #[error(transparent)]
    Overloaded(Overloaded),
}

/// No plugin instance slot came free within the engine's `instance_wait`: every slot is
/// held by requests in flight. The proxy's own overload, never a plugin's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no free plugin instance slot for `{plugin}` within {} ms (plugins.max_instances reached)", .waited.as_millis())]
pub struct Overloaded {
    /// The plugin that could not get an instance.
    pub plugin: String,
    /// How long the call waited.
    pub waited: std::time::Duration,
}

impl From<Overloaded> for HookError {
    fn from(overloaded: Overloaded) -> Self {
        HookError::Overloaded(overloaded)
    }
}

impl From<Fault> for HookError {
    fn from(fault: Fault) -> Self {
        HookError::Fault(Box::new(fault))
    }
}

/// What a `pre-call` hook decided.
#[derive(Debug, Clone, PartialEq)]
pub enum PreCallDecision {
    /// Go on unchanged.
    Proceed,
    /// Go on with this request body (a JSON object).
    Modify(serde_json::Value),
    /// Answer with this text without calling the upstream.
    Respond(String),
}

/// What a `post-call-success` hook decided.
#[derive(Debug, Clone, PartialEq)]
pub enum PostCallDecision {
    /// Send the response as it is.
    Proceed,
    /// Replace the body (when given) and add these headers.
    Modify {
        /// The replacement response body.
        body: Option<serde_json::Value>,
        /// Headers to add, names lower-case.
        headers: Vec<(String, String)>,
    },
}

/// What a `stream-chunk` hook decided for one chunk.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkDecision {
    /// Forward the chunk unchanged.
    Proceed,
    /// Forward this chunk (a JSON object) instead.
    Replace(serde_json::Value),
    /// Do not forward the chunk.
    Drop,
}

/// Headers a plugin may not set: the proxy computes them, and a wrong one breaks framing.
const MANAGED_HEADERS: [&str; 5] =
    ["content-length", "transfer-encoding", "connection", "content-type", "content-encoding"];

/// Checks the output of one hook call; an `Err` is the reason for a `bad_output` fault.
pub(crate) struct OutputCheck {
    pub max_bytes: usize,
}

impl OutputCheck {
    fn size(&self, what: &str, text: &str) -> Result<(), String> {
        if text.len() > self.max_bytes {
            return Err(format!(
                "{what} is {} bytes, over the plugin's max_output_bytes of {}",
                text.len(),
                self.max_bytes
            ));
        }
        Ok(())
    }

    /// A JSON object no bigger than allowed.
    pub fn json_object(&self, what: &str, text: &str) -> Result<serde_json::Value, String> {
        self.size(what, text)?;
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value @ serde_json::Value::Object(_)) => Ok(value),
            Ok(_) => Err(format!("{what} is JSON but not an object")),
            Err(error) => Err(format!("{what} is not valid JSON: {error}")),
        }
    }

    /// Plain text no bigger than allowed.
    pub fn text(&self, what: &str, text: String) -> Result<String, String> {
        self.size(what, &text)?;
        Ok(text)
    }

    /// A header a plugin adds to the client response.
    pub fn header(&self, (name, value): (String, String)) -> Result<(String, String), String> {
        let name = name.to_ascii_lowercase();
        let is_token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(is_token) {
            return Err(format!("header name {name:?} is not a valid HTTP header name"));
        }
        if MANAGED_HEADERS.contains(&name.as_str()) {
            return Err(format!("header {name:?} is managed by the proxy"));
        }
        if value.len() > 8192 || value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(format!("value of header {name:?} is not a valid HTTP header value"));
        }
        Ok((name, value))
    }

    /// Validates a `pre-call` outcome.
    pub fn pre_call(&self, outcome: wit::PreCallOutcome) -> Result<PreCallDecision, String> {
        Ok(match outcome {
            wit::PreCallOutcome::Proceed => PreCallDecision::Proceed,
            wit::PreCallOutcome::Modify(body) => {
                PreCallDecision::Modify(self.json_object("the modified request body", &body)?)
            }
            wit::PreCallOutcome::Respond(text) => PreCallDecision::Respond(self.text("the respond text", text)?),
        })
    }

    /// Validates a `post-call-success` outcome.
    pub fn post_call(&self, outcome: wit::PostCallOutcome) -> Result<PostCallDecision, String> {
        Ok(match outcome {
            wit::PostCallOutcome::Proceed => PostCallDecision::Proceed,
            wit::PostCallOutcome::Modify(edit) => {
                if edit.headers.len() > MAX_ADDED_HEADERS {
                    return Err(format!(
                        "the edit adds {} headers, over the limit of {MAX_ADDED_HEADERS}",
                        edit.headers.len()
                    ));
                }
                let bytes: usize = edit.headers.iter().map(|(name, value)| name.len() + value.len()).sum();
                if bytes > MAX_ADDED_HEADER_BYTES {
                    return Err(format!(
                        "the edit adds {bytes} bytes of headers, over the limit of {MAX_ADDED_HEADER_BYTES}"
                    ));
                }
                PostCallDecision::Modify {
                    body: edit.body.map(|body| self.json_object("the replacement response body", &body)).transpose()?,
                    headers: edit.headers.into_iter().map(|header| self.header(header)).collect::<Result<_, _>>()?,
                }
            }
        })
    }

    /// Validates a `stream-chunk` outcome.
    pub fn chunk(&self, outcome: wit::ChunkOutcome) -> Result<ChunkDecision, String> {
        Ok(match outcome {
            wit::ChunkOutcome::Proceed => ChunkDecision::Proceed,
            wit::ChunkOutcome::Replace(chunk) => {
                ChunkDecision::Replace(self.json_object("the replacement chunk", &chunk)?)
            }
            wit::ChunkOutcome::Drop => ChunkDecision::Drop,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> OutputCheck {
        OutputCheck { max_bytes: 64 }
    }

    #[test]
    fn json_object_refuses_non_objects_and_oversize() {
        assert!(check().json_object("body", r#"{"a":1}"#).is_ok());
        assert!(check().json_object("body", "[1]").unwrap_err().contains("not an object"));
        assert!(check().json_object("body", "nope").unwrap_err().contains("not valid JSON"));
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(100));
        assert!(check().json_object("body", &big).unwrap_err().contains("max_output_bytes"));
    }

    #[test]
    fn headers_are_lowercased_and_validated() {
        assert_eq!(check().header(("X-Team".into(), "blue".into())).unwrap(), ("x-team".to_owned(), "blue".to_owned()));
        assert!(check().header(("bad name".into(), "v".into())).is_err());
        assert!(check().header(("x-ok".into(), "line\r\nbreak".into())).is_err());
        assert!(check().header(("Content-Length".into(), "1".into())).is_err());
    }

    #[test]
    fn too_many_or_too_large_headers_are_bad_output() {
        let edit = |headers: Vec<(String, String)>| {
            wit::PostCallOutcome::Modify(wit::ResponseEdit { body: None, headers })
        };
        let many = (0..=MAX_ADDED_HEADERS).map(|i| (format!("x-h{i}"), "v".to_owned())).collect();
        assert!(check().post_call(edit(many)).unwrap_err().contains("headers, over the limit"));
        let big = vec![("x-big".to_owned(), "v".repeat(8000)), ("x-big2".to_owned(), "v".repeat(8000)), ("x-big3".to_owned(), "v".repeat(1000))];
        assert!(check().post_call(edit(big)).unwrap_err().contains("bytes of headers"));
        let fine = vec![("x-a".to_owned(), "1".to_owned())];
        assert!(check().post_call(edit(fine)).is_ok());
    }

    #[test]
    fn long_rejection_messages_and_codes_are_cut() {
        let rejection = wit::Rejection { status: 400, message: "é".repeat(5000), code: Some("c".repeat(500)) };
        let converted = Rejection::from_guest("p", rejection);
        assert!(converted.message.len() <= MAX_REJECTION_MESSAGE_BYTES);
        assert!(converted.message.starts_with("éé"));
        assert_eq!(converted.code.unwrap().len(), MAX_REJECTION_CODE_BYTES);
    }

    #[test]
    fn rejection_status_is_clamped_to_4xx() {
        let guest = |status| wit::Rejection { status, message: "no".into(), code: None };
        assert_eq!(Rejection::from_guest("p", guest(429)).status, 429);
        assert_eq!(Rejection::from_guest("p", guest(200)).status, 400);
        assert_eq!(Rejection::from_guest("p", guest(503)).status, 400);
    }
}
