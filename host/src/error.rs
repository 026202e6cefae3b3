//! The errors clients see, in OpenAI's shape.
//!
//! Every failure that reaches a client, from a malformed body to a plugin's rejection or
//! an upstream outage, is an [`ApiError`]: an HTTP status plus
//! `{"error":{"message","type","param","code"}}`, so OpenAI SDKs raise their usual
//! exception types (`BadRequestError` for a 400, and so on).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::plugins::{Fault, Overloaded, Rejection};
use crate::types::{Failure, Hook};
use crate::upstream::UpstreamError;

/// A client-facing error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// OpenAI's `error.type`, e.g. `invalid_request_error`. (Boxed strings keep the
    /// error small: it travels in every `Result` of the pipeline.)
    pub error_type: Box<str>,
    /// Human-readable reason.
    pub message: String,
    /// The request field at fault, when there is one.
    pub param: Option<Box<str>>,
    /// OpenAI's `error.code`; the status as text when nothing more specific exists.
    pub code: Option<String>,
    /// The plugin whose rejection this is, sent as `x-hookgate-rejected-by`.
    pub rejected_by: Option<Box<str>>,
    /// Seconds after which a retry may succeed, sent as `retry-after`.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error whose type follows from its status the way OpenAI assigns them.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type: crate::types::error_type_for_status(status).into(),
            message: message.into(),
            param: None,
            code: Some(status.to_string()),
            rejected_by: None,
            retry_after: None,
        }
    }

    /// A 400 `invalid_request_error` about the request body.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// Names the request field at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into().into_boxed_str());
        self
    }

    /// A plugin's rejection, attributed to it.
    pub fn rejected(plugin: &str, rejection: &Rejection) -> Self {
        let mut error = Self::new(rejection.status, rejection.message.clone());
        if let Some(code) = &rejection.code {
            error.code = Some(code.clone());
        }
        error.rejected_by = Some(plugin.into());
        error
    }

    /// A fault of a `fail-closed` plugin: 503 `plugin_error`. The client learns which
    /// plugin failed and how, never the guest's internals (backtraces stay in the log).
    pub fn plugin_fault(fault: &Fault) -> Self {
        let hook = fault.hook.map_or("loading", |hook| hook.name());
        Self::plugin_unavailable(&fault.plugin, format!("faulted in {hook} ({})", fault.kind.name()))
    }

    /// A `fail-closed` plugin that cannot serve (faulted or quarantined): 503 `plugin_error`.
    pub fn plugin_unavailable(plugin: &str, why: impl std::fmt::Display) -> Self {
        Self {
            error_type: "plugin_error".into(),
            code: Some("plugin_error".into()),
            ..Self::new(503, format!("plugin `{plugin}` {why}; it is fail-closed, so the request was not served"))
        }
    }

    /// A guarding hook could not check the input within the plugin's limits (its input
    /// drove it past its fuel, time or memory, or into a bug, while it handles a harmless
    /// input): the request is refused, whatever the plugin's `on_error`, since letting it
    /// through would let a client switch the check off. A 400 that names the plugin.
    pub fn check_failed(fault: &Fault) -> Self {
        let hook = fault.hook.map_or("loading", |hook| hook.name());
        let what = match fault.hook {
            Some(Hook::PostCallSuccess | Hook::StreamChunk | Hook::StreamEnd) => "the response",
            _ => "this request",
        };
        let mut error = Self::new(
            400,
            format!(
                "plugin `{}` could not check {what} within its limits ({} in {hook}), so it was refused; \
                 send a smaller or simpler request, or ask the operator to raise the plugin's limits",
                fault.plugin,
                fault.kind.name(),
            ),
        );
        error.code = Some("plugin_check_failed".into());
        error.rejected_by = Some(fault.plugin.as_str().into());
        error
    }

    /// A guarding hook ran out of time on a busy machine (see `FaultCause::Load`): the
    /// check did not finish, so the request is not served; a 503 with `retry-after`.
    pub fn check_timed_out(fault: &Fault) -> Self {
        let hook = fault.hook.map_or("loading", |hook| hook.name());
        let mut error = Self {
            error_type: "service_unavailable".into(),
            code: Some("overloaded".into()),
            retry_after: Some(1),
            ..Self::new(
                503,
                format!(
                    "the proxy is overloaded: plugin `{}` could not finish its check in time ({hook}); retry shortly",
                    fault.plugin
                ),
            )
        };
        error.rejected_by = Some(fault.plugin.as_str().into());
        error
    }

    /// No plugin instance slot came free in time: the proxy is overloaded. A 503 with
    /// `retry-after`; never the plugin's fault.
    pub fn overloaded(overloaded: &Overloaded) -> Self {
        Self {
            error_type: "service_unavailable".into(),
            code: Some("overloaded".into()),
            retry_after: Some(1),
            ..Self::new(
                503,
                format!(
                    "the proxy is overloaded: no plugin instance for `{}` came free within {} ms; retry shortly",
                    overloaded.plugin,
                    overloaded.waited.as_millis()
                ),
            )
        }
    }

    /// The client's view of `self` as the `failure` record post-call-failure hooks get.
    pub fn to_failure(&self) -> Failure {
        Failure {
            status: self.status,
            error_type: self.error_type.to_string(),
            message: self.message.clone(),
            code: self.code.clone(),
            rejected_by: self.rejected_by.as_deref().map(str::to_owned),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.error_type,
            "param": self.param,
            "code": self.code,
        }})
    }
}

/// The error as clients get it: its status, OpenAI's JSON shape, and the headers that go
/// with it (`x-hookgate-rejected-by`, `retry-after`).
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Some(plugin) = self.rejected_by.as_deref().and_then(|p| HeaderValue::from_str(p).ok()) {
            response.headers_mut().insert(REJECTED_BY_HEADER, plugin);
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Names the plugin whose rejection (or failed check) the client got.
pub const REJECTED_BY_HEADER: &str = "x-hookgate-rejected-by";

impl From<UpstreamError> for ApiError {
    fn from(error: UpstreamError) -> Self {
        Self {
            status: error.status,
            error_type: error.error_type.into(),
            message: error.message,
            param: None,
            code: error.code.or_else(|| Some(error.status.to_string())),
            rejected_by: None,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_keeps_status_and_code_and_names_the_plugin() {
        let rejection = Rejection { status: 400, message: "no".into(), code: None };
        let error = ApiError::rejected("banned", &rejection);
        assert_eq!(error.body()["error"]["type"], "invalid_request_error");
        assert_eq!(error.body()["error"]["code"], "400");
        assert_eq!(error.rejected_by.as_deref(), Some("banned"));
        let rejection = Rejection { status: 429, message: "slow down".into(), code: Some("rate".into()) };
        let error = ApiError::rejected("limiter", &rejection);
        assert_eq!((error.status, &*error.error_type, error.code.as_deref()), (429, "rate_limit_error", Some("rate")));
    }
}
