//! Outbound HTTP: call another service from a hook, through `wasi:http`.
//!
//! The proxy refuses every call unless its operator granted the plugin destinations
//! (`plugins.outbound.<plugin>` in the proxy config): scheme, host, port and path prefix.
//! Calls are bounded by the hook's deadline and the grant's caps, and redirects are not
//! followed (a 3xx comes back as the answer).
//!
//! Secrets are never handed to the plugin: write `${secret:<name>}` in a header value or
//! the body, and the proxy fills in the secret the operator bound under that name after
//! the request leaves the plugin, and only for allowed destinations. What the plugin
//! logs or echoes shows the placeholder.
//!
//! ```no_run
//! use hookgate_sdk::http;
//!
//! let answer = http::post(
//!     "https://events.pagerduty.com/v2/enqueue",
//!     &[("content-type", "application/json")],
//!     br#"{"routing_key": "${secret:pagerduty_routing_key}", "event_action": "trigger"}"#,
//!     Some(2000),
//! );
//! match answer {
//!     Ok(response) if response.status == 202 => {}
//!     Ok(response) => hookgate_sdk::log::warn(&format!("pagerduty answered {}", response.status)),
//!     Err(error) => hookgate_sdk::log::warn(&format!("pagerduty unreachable: {error}")),
//! }
//! ```

use std::fmt;

/// Why a call got no answer. The same kinds, with the same names, in every SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The proxy refused the call: no grant, a destination outside the allow-list, a
    /// forbidden address (link-local, cloud metadata), too many calls, or an unknown
    /// secret. The proxy's log says which.
    Denied(String),
    /// No complete answer within the timeout or the hook's deadline.
    Timeout,
    /// The request or the answer is larger than the grant allows.
    TooLarge,
    /// The destination could not be reached (refused connection, unknown name).
    Unreachable(String),
    /// Anything else (a malformed URL, a protocol error).
    Failed(String),
}

impl HttpError {
    /// The kind's name, as in every SDK: `denied`, `timeout`, `too_large`, `unreachable`, `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::Denied(_) => "denied",
            HttpError::Timeout => "timeout",
            HttpError::TooLarge => "too_large",
            HttpError::Unreachable(_) => "unreachable",
            HttpError::Failed(_) => "failed",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied(why) => write!(f, "denied: {why}"),
            HttpError::Timeout => f.write_str("timeout: no complete answer in time"),
            HttpError::TooLarge => f.write_str("too_large: the request or the answer is over the grant's size cap"),
            HttpError::Unreachable(why) => write!(f, "unreachable: {why}"),
            HttpError::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// An answer: status, headers (names lower-case) and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers as (name, value), names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Failed(format!("the answer is not JSON: {e}")))
    }
}

/// `POST url` with `headers` and `body`; `timeout_ms` bounds the wait for the whole
/// answer (the grant and the hook's deadline bound it anyway).
pub fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout_ms: Option<u64>,
) -> Result<HttpResponse, HttpError> {
    request("POST", url, headers, Some(body), timeout_ms)
}

/// `GET url` with `headers`.
pub fn get(url: &str, headers: &[(&str, &str)], timeout_ms: Option<u64>) -> Result<HttpResponse, HttpError> {
    request("GET", url, headers, None, timeout_ms)
}

/// A call with any method.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout_ms: Option<u64>,
) -> Result<HttpResponse, HttpError> {
    let parts = Url::parse(url)?;
    imp::send(method, &parts, headers, body, timeout_ms)
}

/// A URL split the way `wasi:http` takes it. A native build (the SDK's own tests) only
/// checks it: there is no host to send it to.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Url<'a> {
    https: bool,
    authority: &'a str,
    path_with_query: &'a str,
}

impl<'a> Url<'a> {
    fn parse(url: &'a str) -> Result<Self, HttpError> {
        let bad = || HttpError::Failed(format!("{url:?} is not an http:// or https:// URL"));
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(bad()),
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_with_query) = rest.split_at(split);
        if authority.is_empty() {
            return Err(bad());
        }
        Ok(Self { https, authority, path_with_query: if path_with_query.is_empty() { "/" } else { path_with_query } })
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::bindings::wasi::http::outgoing_handler;
    use crate::bindings::wasi::http::types::{
        ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
    };
    use crate::bindings::wasi::io::streams::StreamError;

    use super::{HttpError, HttpResponse, Url};

    pub(super) fn send(
        method: &str,
        url: &Url<'_>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout_ms: Option<u64>,
    ) -> Result<HttpResponse, HttpError> {
        let entries: Vec<(String, Vec<u8>)> =
            headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.as_bytes().to_vec())).collect();
        let fields = Fields::from_list(&entries).map_err(|e| HttpError::Failed(format!("bad header: {e:?}")))?;
        let request = OutgoingRequest::new(fields);
        let method = match method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_owned()),
        };
        let invalid = |what: &str| HttpError::Failed(format!("invalid {what}"));
        request.set_method(&method).map_err(|()| invalid("method"))?;
        request
            .set_scheme(Some(if url.https { &Scheme::Https } else { &Scheme::Http }))
            .map_err(|()| invalid("scheme"))?;
        request.set_authority(Some(url.authority)).map_err(|()| invalid("host"))?;
        request.set_path_with_query(Some(url.path_with_query)).map_err(|()| invalid("path"))?;
        let outgoing = request.body().map_err(|()| invalid("body"))?;
        let options = RequestOptions::new();
        if let Some(ms) = timeout_ms {
            let _ = options.set_first_byte_timeout(Some(ms.saturating_mul(1_000_000)));
        }
        let future = outgoing_handler::handle(request, Some(options)).map_err(from_code)?;
        {
            let stream = outgoing.write().map_err(|()| invalid("body stream"))?;
            for chunk in body.unwrap_or_default().chunks(4096) {
                if stream.blocking_write_and_flush(chunk).is_err() {
                    break; // the host refused the call; its answer says why
                }
            }
        }
        let _ = OutgoingBody::finish(outgoing, None);
        let answer = loop {
            match future.get() {
                Some(answer) => break answer,
                None => future.subscribe().block(),
            }
        };
        let response = answer.map_err(|()| invalid("answer"))?.map_err(from_code)?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response.consume().map_err(|()| invalid("answer body"))?;
        let mut body = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| invalid("answer body"))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(bytes) => body.extend_from_slice(&bytes),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(HttpError::Failed(e.to_debug_string()));
                    }
                }
            }
        }
        let _ = IncomingBody::finish(incoming);
        Ok(HttpResponse { status, headers, body })
    }

    fn from_code(code: ErrorCode) -> HttpError {
        match code {
            ErrorCode::HttpRequestDenied => {
                HttpError::Denied("the destination is not in this plugin's outbound grant (see the proxy log)".into())
            }
            ErrorCode::DestinationIpProhibited => {
                HttpError::Denied("the destination's address is forbidden to plugins (see the proxy log)".into())
            }
            ErrorCode::ConnectionLimitReached => {
                HttpError::Denied("more calls than the plugin's grant allows (see the proxy log)".into())
            }
            ErrorCode::HttpResponseTimeout | ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout => {
                HttpError::Timeout
            }
            ErrorCode::HttpRequestBodySize(_) | ErrorCode::HttpResponseBodySize(_) => HttpError::TooLarge,
            ErrorCode::ConnectionRefused
            | ErrorCode::DnsError(_)
            | ErrorCode::DestinationNotFound
            | ErrorCode::DestinationUnavailable
            | ErrorCode::DestinationIpUnroutable => HttpError::Unreachable(format!("{code:?}")),
            other => HttpError::Failed(format!("{other:?}")),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{HttpError, HttpResponse, Url};

    pub(super) fn send(
        _method: &str,
        _url: &Url<'_>,
        _headers: &[(&str, &str)],
        _body: Option<&[u8]>,
        _timeout_ms: Option<u64>,
    ) -> Result<HttpResponse, HttpError> {
        Err(HttpError::Failed("outbound HTTP exists only inside the proxy (a native build has no host)".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let url = Url::parse("https://events.pagerduty.com/v2/enqueue?x=1").unwrap();
        assert!(url.https);
        assert_eq!((url.authority, url.path_with_query), ("events.pagerduty.com", "/v2/enqueue?x=1"));
        let url = Url::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!((url.authority, url.path_with_query), ("127.0.0.1:8000", "/"));
        assert!(Url::parse("ftp://x/").is_err());
        assert!(Url::parse("nope").is_err());
        assert_eq!(post("http://127.0.0.1:1/", &[], b"", None).unwrap_err().kind(), "failed");
    }
}
