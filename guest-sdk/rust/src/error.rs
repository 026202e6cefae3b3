//! How a hook says no: a [`Rejection`] (the plugin's answer to the client) or a failure
//! (the plugin could not do its job), both carried by [`HookError`].
//!
//! A rejection is the plugin's *answer*: the client gets its status and message as an
//! OpenAI error. A failure is not an answer: the host handles it like a crash, by the
//! plugin's `on_error` policy (`fail-open` lets the request through without the plugin,
//! `fail-closed` answers 503), and the client never sees its message. A panic, a trap or
//! running out of fuel or time ends up there too.
//!
//! `?` works on the errors hooks meet: a [`Rejection`] rejects; an
//! [`EditError`](crate::EditError), a [`KvError`](crate::kv::KvError) or anything turned
//! into one with [`fail`] fails.

use std::fmt;

use crate::kv::KvError;
use crate::EditError;

pub use crate::bindings::wit::Rejection;

/// What a hook returns when it does not go on.
#[derive(Debug, Clone, PartialEq)]
pub enum HookError {
    /// The plugin's answer: refuse with this rejection.
    Reject(Rejection),
    /// The plugin failed; the message goes to the operator's log, never to the client.
    Fail(String),
}

/// The result of a hook: its outcome, or a [`HookError`].
pub type HookResult<T> = Result<T, HookError>;

/// A failure with `reason`: `return Err(fail("the pattern list is empty"))`.
pub fn fail(reason: impl fmt::Display) -> HookError {
    HookError::Fail(reason.to_string())
}

impl From<Rejection> for HookError {
    fn from(rejection: Rejection) -> Self {
        HookError::Reject(rejection)
    }
}

impl From<EditError> for HookError {
    /// An edit the host refused is a bug in the plugin (or a body over its size limit):
    /// a failure.
    fn from(error: EditError) -> Self {
        HookError::Fail(format!("edit refused: {error}"))
    }
}

impl From<KvError> for HookError {
    /// A kv call that failed leaves the plugin without an answer: a failure. After an
    /// unavailable store the host counts it as the store's outage, not the plugin's fault.
    fn from(error: KvError) -> Self {
        HookError::Fail(error.to_string())
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookError::Reject(rejection) => write!(f, "rejected with {}: {}", rejection.status, rejection.message),
            HookError::Fail(reason) => write!(f, "failed: {reason}"),
        }
    }
}

impl std::error::Error for HookError {}

impl Rejection {
    /// A rejection with HTTP `status` (a 4xx; the host clamps anything else to 400) and
    /// `message`, shown to the client as `error.message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Rejection { status, message: message.into(), code: None }
    }

    /// A 400 Bad Request: the usual refusal of a request's content.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Rejection::new(400, message)
    }

    /// A 403 Forbidden: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Rejection::new(403, message)
    }

    /// A 429 Too Many Requests: for rate and budget limits.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Rejection::new(429, message)
    }

    /// Sets the machine-readable `error.code` (the status is shown when none is set).
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

impl From<HookError> for crate::bindings::wit::HookError {
    fn from(error: HookError) -> Self {
        match error {
            HookError::Reject(rejection) => crate::bindings::wit::HookError::Reject(rejection),
            HookError::Fail(reason) => crate::bindings::wit::HookError::Fail(reason),
        }
    }
}
