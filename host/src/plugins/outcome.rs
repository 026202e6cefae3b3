//! What hooks return, validated: the values the pipeline acts on.
//!
//! Guests return raw WIT values; the instance checks them here (JSON where JSON is
//! required, sizes, header syntax) so that the pipeline only ever sees usable values and
//! anything else becomes a `bad_output` fault.

use super::contract::{ChunkOut, PostCallOut, PreCallOut, RawRejection};
use super::fault::Fault;
use crate::content::{check_header, Body, MAX_SET_HEADERS, MAX_SET_HEADER_BYTES};
use crate::types::Header;

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
    pub(crate) fn from_guest(plugin: &str, rejection: RawRejection) -> Self {
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
/// Most headers one `post-call-success` call may add.
pub const MAX_ADDED_HEADERS: usize = MAX_SET_HEADERS;
/// Most bytes (names and values) of the headers one call may add.
pub const MAX_ADDED_HEADER_BYTES: usize = MAX_SET_HEADER_BYTES;

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

/// No plugin instance could be had in time: every slot is held by requests in flight
/// (none came free within the engine's `instance_wait`), or the pool's memories, tables
/// or core instances, shared by all slots, ran out. The proxy's own overload, never a
/// plugin's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no free plugin instance for `{plugin}` within {} ms ({short_of})", .waited.as_millis())]
pub struct Overloaded {
    /// The plugin that could not get an instance.
    pub plugin: String,
    /// How long the call waited.
    pub waited: std::time::Duration,
    /// What ran out.
    pub short_of: String,
}

impl Overloaded {
    /// Every instance slot was taken for `waited`.
    pub fn no_slot(plugin: &str, waited: std::time::Duration) -> Self {
        Self { plugin: plugin.to_owned(), waited, short_of: "plugins.max_instances reached".to_owned() }
    }

    /// The overload behind `error`, when creating an instance failed because the pool's
    /// shared totals ran out: the limits are averages per slot, so a component past the
    /// average (several memories, say) can find them gone while slots are free. That is
    /// load, not the plugin's instantiation fault: charged to the plugin it would let a
    /// flood of requests quarantine it for everyone.
    pub fn from_pool(error: &wasmtime::Error, plugin: &str, waited: std::time::Duration) -> Option<Self> {
        let exhausted = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()?;
        Some(Self { plugin: plugin.to_owned(), waited, short_of: format!("the instance pool's {exhausted}") })
    }
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
    Modify(Body),
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
        body: Option<Body>,
        /// Headers to add (or replace), names lower-case, one per name.
        headers: Vec<Header>,
    },
}

/// What a `stream-chunk` hook decided for one chunk.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkDecision {
    /// Forward the chunk unchanged.
    Proceed,
    /// Forward this chunk (a JSON object) instead.
    Replace(Body),
    /// Do not forward the chunk.
    Drop,
}

/// Checks the output of one hook call; an `Err` is the reason for a `bad_output` fault.
/// (0.2 edits are checked as they are made, through `content::View`; 0.1 plugins return
/// JSON text, checked here.)
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

    /// A JSON object no bigger than allowed, parsed as strictly as a client's body (a
    /// duplicated key is refused, so no reader can take another value than the hooks
    /// did). The plugin's text is not kept: what goes on is serialized by the host, on
    /// one line, as a stream's `data:` line needs.
    pub fn json_object(&self, what: &str, text: String) -> Result<Body, String> {
        self.size(what, &text)?;
        match crate::strict_json::from_str(&text, crate::strict_json::Limits::NONE) {
            Ok(value @ serde_json::Value::Object(_)) => Ok(Body::measured(value)),
            Ok(_) => Err(format!("{what} is JSON but not an object")),
            Err(error) => Err(format!("{what} is not valid JSON: {error}")),
        }
    }

    /// Plain text no bigger than allowed.
    pub fn text(&self, what: &str, text: String) -> Result<String, String> {
        self.size(what, &text)?;
        Ok(text)
    }

    /// Headers a 0.1 plugin adds: within the limits, each valid; a later value of a name
    /// wins.
    pub fn headers(&self, headers: Vec<Header>) -> Result<Vec<Header>, String> {
        if headers.len() > MAX_ADDED_HEADERS {
            return Err(format!("the edit adds {} headers, over the limit of {MAX_ADDED_HEADERS}", headers.len()));
        }
        let bytes: usize = headers.iter().map(|(name, value)| name.len() + value.len()).sum();
        if bytes > MAX_ADDED_HEADER_BYTES {
            return Err(format!("the edit adds {bytes} bytes of headers, over the limit of {MAX_ADDED_HEADER_BYTES}"));
        }
        let mut checked: Vec<Header> = Vec::with_capacity(headers.len());
        for (index, (name, value)) in headers.into_iter().enumerate() {
            // Said without the name: it can be made of the prompt's text, and the message
            // goes to the log and the console's recent decisions.
            let (name, value) = check_header(&name, &value).map_err(|_| {
                format!(
                    "header {index} of the edit is not one a plugin may set (a token name the proxy does not \
                     manage, a value of at most 8 KiB without control characters)"
                )
            })?;
            checked.retain(|(existing, _)| *existing != name);
            checked.push((name, value));
        }
        Ok(checked)
    }

    /// Validates a `pre-call` outcome.
    pub fn pre_call(&self, outcome: PreCallOut) -> Result<PreCallDecision, String> {
        Ok(match outcome {
            PreCallOut::Proceed => PreCallDecision::Proceed,
            PreCallOut::ModifyJson(body) => {
                PreCallDecision::Modify(self.json_object("the modified request body", body)?)
            }
            PreCallOut::Edited(body) => PreCallDecision::Modify(body),
            PreCallOut::Respond(text) => PreCallDecision::Respond(self.text("the respond text", text)?),
        })
    }

    /// Validates a `post-call-success` outcome.
    pub fn post_call(&self, outcome: PostCallOut) -> Result<PostCallDecision, String> {
        Ok(match outcome {
            PostCallOut::Proceed => PostCallDecision::Proceed,
            PostCallOut::ModifyJson { body, headers } => PostCallDecision::Modify {
                headers: self.headers(headers)?,
                body: body.map(|body| self.json_object("the replacement response body", body)).transpose()?,
            },
            PostCallOut::Edited { body, headers } => PostCallDecision::Modify { body, headers },
        })
    }

    /// Validates a `stream-chunk` outcome.
    pub fn chunk(&self, outcome: ChunkOut) -> Result<ChunkDecision, String> {
        Ok(match outcome {
            ChunkOut::Proceed => ChunkDecision::Proceed,
            ChunkOut::ReplaceJson(chunk) => ChunkDecision::Replace(self.json_object("the replacement chunk", chunk)?),
            ChunkOut::Edited(chunk) => ChunkDecision::Replace(chunk),
            ChunkOut::Drop => ChunkDecision::Drop,
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
        assert!(check().json_object("body", r#"{"a":1}"#.into()).is_ok());
        assert!(check().json_object("body", "[1]".into()).unwrap_err().contains("not an object"));
        assert!(check().json_object("body", "nope".into()).unwrap_err().contains("not valid JSON"));
        let twice = check().json_object("body", r#"{"a":"BAD","a":"ok"}"#.into()).unwrap_err();
        assert!(twice.contains("duplicate key `a`"), "{twice}");
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(100));
        assert!(check().json_object("body", big).unwrap_err().contains("max_output_bytes"));
    }

    #[test]
    fn a_json_object_goes_on_as_the_host_serializes_it_on_one_line() {
        let body = check().json_object("chunk", "{\n  \"a\" : 1,\n  \"b\": [ 2 ]\n}".into()).unwrap();
        assert_eq!(body.json(), r#"{"a":1,"b":[2]}"#);
        assert_eq!(body.size(), body.json().len());
    }

    #[test]
    fn headers_are_lowercased_and_validated_and_the_last_value_wins() {
        let one = |name: &str, value: &str| check().headers(vec![(name.into(), value.into())]);
        assert_eq!(one("X-Team", "blue").unwrap(), [("x-team".to_owned(), "blue".to_owned())]);
        assert!(one("bad name", "v").is_err());
        assert!(one("x-ok", "line\r\nbreak").is_err());
        assert!(one("Content-Length", "1").is_err());
        let twice = check().headers(vec![("x-a".into(), "1".into()), ("X-A".into(), "2".into())]).unwrap();
        assert_eq!(twice, [("x-a".to_owned(), "2".to_owned())]);
    }

    #[test]
    fn too_many_or_too_large_headers_are_bad_output() {
        let edit = |headers: Vec<(String, String)>| PostCallOut::ModifyJson { body: None, headers };
        let many = (0..=MAX_ADDED_HEADERS).map(|i| (format!("x-h{i}"), "v".to_owned())).collect();
        assert!(check().post_call(edit(many)).unwrap_err().contains("headers, over the limit"));
        let big = vec![
            ("x-big".to_owned(), "v".repeat(8000)),
            ("x-big2".to_owned(), "v".repeat(8000)),
            ("x-big3".to_owned(), "v".repeat(1000)),
        ];
        assert!(check().post_call(edit(big)).unwrap_err().contains("bytes of headers"));
        let fine = vec![("x-a".to_owned(), "1".to_owned())];
        assert!(check().post_call(edit(fine)).is_ok());
    }

    #[test]
    fn long_rejection_messages_and_codes_are_cut() {
        let rejection = RawRejection { status: 400, message: "é".repeat(5000), code: Some("c".repeat(500)) };
        let converted = Rejection::from_guest("p", rejection);
        assert!(converted.message.len() <= MAX_REJECTION_MESSAGE_BYTES);
        assert!(converted.message.starts_with("éé"));
        assert_eq!(converted.code.unwrap().len(), MAX_REJECTION_CODE_BYTES);
    }

    #[test]
    fn rejection_status_is_clamped_to_4xx() {
        let guest = |status| RawRejection { status, message: "no".into(), code: None };
        assert_eq!(Rejection::from_guest("p", guest(429)).status, 429);
        assert_eq!(Rejection::from_guest("p", guest(200)).status, 400);
        assert_eq!(Rejection::from_guest("p", guest(503)).status, 400);
    }
}
