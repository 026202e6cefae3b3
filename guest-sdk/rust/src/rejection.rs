//! Builders for [`Rejection`], a plugin's refusal of a request.
//!
//! A rejection is the plugin's *answer*: the client gets its status and message as an
//! OpenAI error. It is not a fault; a panic, a trap or running out of fuel or time is
//! a fault, which the host handles by the plugin's `on_error` policy instead.

pub use crate::bindings::wit::Rejection;

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
