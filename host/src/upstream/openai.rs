//! The OpenAI-compatible HTTP provider: OpenAI itself, and the many servers that speak its
//! API (vLLM, Ollama, LM Studio, Azure-style gateways, ...).
//!
//! Requests go to `{api_base}/chat/completions`, `/completions` or `/embeddings` with the
//! deployment's model and key; every way the upstream can fail becomes an
//! [`UpstreamError`] a client can be shown.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::{Map, Value};

use super::sse::{self, SseError};
use super::{AnswerUse, ChunkStream, UpstreamError, UpstreamResponse, UpstreamStream};
use crate::config::OpenAiParams;
use crate::content::json::{self, ObjectText};
use crate::content::Body;
use crate::types::CallType;

/// How long establishing a connection may take, separately from the deployment's timeout,
/// so an unreachable host fails fast even when the model is allowed to think for minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an unused pooled connection is kept open for the next request.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The most of a non-JSON error body that is quoted back to clients.
const MAX_QUOTED_CHARS: usize = 1000;

/// The most of an error answer that is read: enough for any real error, and an upstream
/// that answers an error with gigabytes is not read to the end.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// The HTTP client all deployments share, so connections (and TLS sessions) are pooled
/// across them.
///
/// It is hyper's pooled client, called directly. reqwest, used before, wrapped every call
/// in layers the proxy does not need (its redirect layer alone parsed the URL again on
/// every request), and a third of the no-plugin proxy's CPU ran under it against a
/// quarter under the hyper client it wraps (BENCHMARKS.md). Nothing here follows
/// redirects, reads `HTTP(S)_PROXY` (the upstream is the operator's choice in the config;
/// an environment variable should not silently reroute, and see, every prompt) or
/// decompresses.
pub(super) type HttpClient = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One [`HttpClient`] per thread that calls upstreams, made on the thread's first call.
///
/// A pooled connection is served by a task on the runtime that opened it, so with one
/// pool shared by the serving threads (`server::serving`) a request on one thread would
/// often borrow a connection driven by another, and every read and write of the call
/// would wake that other thread. Each thread keeps its own pool instead; connections to
/// the same upstream are still reused across deployments and requests on that thread.
#[derive(Default)]
pub(super) struct HttpClients(thread_local::ThreadLocal<HttpClient>);

impl HttpClients {
    /// This thread's client.
    fn here(&self) -> &HttpClient {
        self.0.get_or(build_client)
    }
}

/// Builds the [`HttpClient`]: TLS with rustls and the bundled webpki roots, HTTP/2 where
/// the server offers it (ALPN), HTTP/1.1 otherwise.
///
/// # Panics
///
/// If the TLS backend cannot initialise, which a working build never does.
fn build_client() -> HttpClient {
    let mut tcp = HttpConnector::new();
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    tcp.set_nodelay(true);
    // The TLS connector takes `https://` URLs; plain TCP gets the rest.
    tcp.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("rustls with ring supports its own default protocol versions")
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(tcp);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

/// Where `call_type` is served under an OpenAI-compatible `api_base`.
fn endpoint_path(call_type: CallType) -> &'static str {
    match call_type {
        CallType::ChatCompletion => "/chat/completions",
        CallType::TextCompletion => "/completions",
        CallType::Embedding => "/embeddings",
    }
}

/// A deployment served by an OpenAI-compatible API.
pub(super) struct OpenAiProvider {
    clients: Arc<HttpClients>,
    /// `{api_base}/chat/completions`, `/completions` and `/embeddings`, parsed once:
    /// parsing the URL string on every request was ~6% of a proxied request's CPU
    /// without plugins. Without the userinfo, which travels as `authorization` instead.
    /// `None` where `api_base` does not make a URL (the config checks it does; a
    /// provider built around that is answered with a 502 per request).
    endpoints: [(CallType, Option<Uri>); 3],
    /// The `Host` header of every request to a plain `http://` base, made once: left to the
    /// client, it is formatted afresh for each request (a profile of five reused plugins
    /// named it). `None` for `https://`, which may negotiate HTTP/2, where the client sends
    /// `:authority` instead and a `host` beside it is refused by some servers (nginx answers
    /// 400, hyperium/hyper#3298): there the client adds it for HTTP/1 connections only.
    host: Option<HeaderValue>,
    /// `api_base` as clients, plugins and logs may see it: without credentials in its
    /// userinfo or query.
    shown_base: Arc<str>,
    /// The most an answer (a body, a whole stream) may be; more is a 502.
    max_response_bytes: usize,
    /// The model name sent upstream (the config has already dropped LiteLLM's `openai/`).
    model: String,
    /// `Bearer <api_key>`, or `Basic` from credentials in `api_base`'s userinfo, built
    /// once and marked sensitive so no debug output of a request shows it. An error when
    /// they hold what no header may (a line break): each request is then a 502, never
    /// sent without its credentials.
    authorization: Result<Option<HeaderValue>, UnsendableCredentials>,
    timeout: Duration,
    stream_timeout: Option<Duration>,
}

// By hand, so the API key never ends up in a log line.
impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("api_base", &self.shown_base)
            .field("model", &self.model)
            .field("has_authorization", &matches!(self.authorization, Ok(Some(_))))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl OpenAiProvider {
    /// A provider calling `params.api_base` through the shared `clients`, reading answers
    /// of at most `max_response_bytes`.
    pub(super) fn new(clients: Arc<HttpClients>, params: &OpenAiParams, max_response_bytes: usize) -> Self {
        // Config gives it without, but a stray `/` must not double in the URL.
        let api_base = params.api_base.trim_end_matches('/');
        let (base, userinfo) = match reqwest::Url::parse(api_base) {
            Ok(url) => {
                let (base, userinfo) = without_userinfo(url);
                (Some(base), userinfo)
            }
            Err(_) => (None, None),
        };
        let endpoints = [CallType::ChatCompletion, CallType::TextCompletion, CallType::Embedding]
            .map(|call_type| (call_type, base.as_ref().and_then(|base| endpoint_uri(base, call_type))));
        let host = base.as_ref().and_then(http1_host_header);
        let authorization = match &params.api_key {
            Some(key) => Some(format!("Bearer {}", key.expose())),
            None => userinfo,
        }
        .map(|value| {
            let mut value = HeaderValue::try_from(value).map_err(|_| UnsendableCredentials)?;
            value.set_sensitive(true);
            Ok(value)
        })
        .transpose();
        OpenAiProvider {
            clients,
            endpoints,
            host,
            shown_base: redacted_url(api_base).into(),
            max_response_bytes,
            model: params.model.clone(),
            authorization,
            timeout: params.timeout,
            stream_timeout: params.stream_timeout,
        }
    }

    /// The model name sent upstream.
    pub(super) fn model(&self) -> &str {
        &self.model
    }

    /// The API base URL as it may be shown: without a trailing `/`, and without the
    /// credentials its userinfo or query may hold.
    pub(super) fn api_base(&self) -> &str {
        &self.shown_base
    }

    /// One non-streaming call; the deployment's timeout bounds all of it, body included.
    #[cfg(test)]
    pub(super) async fn call(&self, call_type: CallType, body: &Value) -> Result<UpstreamResponse, UpstreamError> {
        self.call_traced(call_type, body, None, AnswerUse::Read).await
    }

    /// [`Self::call`], sending `traceparent` (W3C trace context) with the request, and
    /// parsing the answer by its `answer_use`.
    pub(super) async fn call_traced(
        &self,
        call_type: CallType,
        body: &Value,
        traceparent: Option<&str>,
        answer_use: AnswerUse,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let request = self.request(call_type, body, Streaming::No, traceparent)?;
        let exchange = async {
            let response = self.clients.here().request(request).await.map_err(|e| self.send_error(&e))?;
            let status = response.status().as_u16();
            if !response.status().is_success() {
                return Err(self.error_response(response).await);
            }
            let headers = passthrough_headers(response.headers());
            let bytes = self.read_capped(response, self.max_response_bytes).await?.ok_or_else(|| self.too_large())?;
            // Strict: the client may get this very text, which must mean what hooks read.
            // The text is checked for UTF-8 once, here; bytes that are not UTF-8 go to the
            // byte parser only to say where the bad byte is.
            let limits = crate::strict_json::Limits::NONE;
            let body = match (String::from_utf8(bytes), answer_use) {
                (Ok(text), AnswerUse::Read) => {
                    crate::strict_json::from_str(&text, limits).map(|value| Body::with_json(value, text))
                }
                (Ok(text), AnswerUse::Passed) => crate::strict_json::check(&text).map(|()| Body::parse_later(text)),
                (Err(not_text), _) => crate::strict_json::from_slice(not_text.as_bytes(), limits).map(Body::measured),
            };
            let body = body.map_err(|e| {
                UpstreamError::new(
                    502,
                    "upstream_error",
                    format!("upstream {} answered with invalid JSON: {e}", self.shown_base),
                )
            })?;
            Ok(UpstreamResponse { status, body, headers })
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| self.timed_out())?
    }

    /// A streaming call. The deployment's `timeout` bounds all the time spent waiting for
    /// it, from the request to the last chunk; its `stream_timeout`, when set, the wait for
    /// the first chunk ([`StreamWaits`]).
    #[cfg(test)]
    pub(super) async fn stream(&self, call_type: CallType, body: &Value) -> Result<UpstreamStream, UpstreamError> {
        self.stream_traced(call_type, body, None, false).await
    }

    /// [`Self::stream`], sending `traceparent` (W3C trace context) with the request.
    pub(super) async fn stream_traced(
        &self,
        call_type: CallType,
        body: &Value,
        traceparent: Option<&str>,
        add_usage: bool,
    ) -> Result<UpstreamStream, UpstreamError> {
        if call_type == CallType::Embedding {
            return Err(UpstreamError::from_status(400, "embeddings cannot be streamed"));
        }
        let streaming = if add_usage { Streaming::AddingUsage } else { Streaming::Yes };
        let request = self.request(call_type, body, streaming, traceparent)?;
        let head = async {
            let response = self.clients.here().request(request).await.map_err(|e| self.send_error(&e))?;
            if !response.status().is_success() {
                return Err(self.error_response(response).await);
            }
            if is_json(response.headers()) {
                // Not a stream at all: some servers answer errors (or ignore `stream`)
                // this way, with a success status.
                return Err(self.json_instead_of_stream(response).await);
            }
            Ok(response)
        };
        let mut waits = StreamWaits::new(self.timeout, self.stream_timeout);
        let response = waits.wait(head).await.ok_or_else(|| waits.missed(&self.shown_base))??;
        let headers = passthrough_headers(response.headers());
        let bytes = response.into_body().into_data_stream();
        let payloads = Box::pin(sse::data_payloads(bytes));
        let chunks = chunk_stream(payloads, waits, Arc::clone(&self.shown_base), self.max_response_bytes);
        Ok(UpstreamStream { headers, chunks })
    }

    /// Reads a body of at most `max` bytes: `Ok(None)` when it is larger (reading stops
    /// there).
    async fn read_capped(&self, response: Response<Incoming>, max: usize) -> Result<Option<Vec<u8>>, UpstreamError> {
        let announced =
            response.headers().get(CONTENT_LENGTH).and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
        if announced.is_some_and(|length| length > max as u64) {
            return Ok(None);
        }
        // Not sized by the announced length: an upstream could make every call reserve
        // the whole cap and then send nothing.
        let mut body = Vec::new();
        let mut incoming = response.into_body();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| transport_error(&e, false, &self.shown_base))?;
            let Ok(chunk) = frame.into_data() else { continue }; // trailers
            if body.len() + chunk.len() > max {
                return Ok(None);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }

    /// The error for an answer over `max_upstream_response_mb`.
    fn too_large(&self) -> UpstreamError {
        UpstreamError::new(
            502,
            "upstream_error",
            format!(
                "upstream {} answered with more than {} bytes (general_settings.max_upstream_response_mb)",
                self.shown_base, self.max_response_bytes
            ),
        )
    }

    /// The HTTP request for `body`, with the deployment's model and key.
    fn request(
        &self,
        call_type: CallType,
        body: &Value,
        streaming: Streaming,
        traceparent: Option<&str>,
    ) -> Result<Request<Full<Bytes>>, UpstreamError> {
        let stream = streaming != Streaming::No;
        let fields = body
            .as_object()
            .ok_or_else(|| UpstreamError::from_status(400, "the request body must be a JSON object"))?;
        let endpoint = self
            .endpoints
            .iter()
            .find_map(|(served, uri)| (*served == call_type).then(|| uri.clone()))
            .flatten()
            .ok_or_else(|| {
                UpstreamError::from_status(502, format!("upstream {} is not a valid URL", self.shown_base))
            })?;
        let authorization = self.authorization.as_ref().map_err(|_| {
            UpstreamError::from_status(
                502,
                format!(
                    "the credentials for upstream {} cannot be sent: they hold characters no HTTP header may",
                    self.shown_base
                ),
            )
        })?;
        // Filled in place rather than through `http::request::Builder`, whose every step
        // moves the request's parts (a `Result` of them) again: every name and value here
        // is already typed, so nothing is left for the builder to check.
        let mut request = Request::new(Full::new(Bytes::from(outgoing_body(fields, &self.model, streaming))));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = endpoint;
        let headers = request.headers_mut();
        headers.reserve(5);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(host) = &self.host {
            headers.insert(HOST, host.clone());
        }
        if stream {
            headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        }
        // The proxy makes the value itself; one that is not a valid header is left out
        // rather than failing the request.
        if let Some(traceparent) = traceparent.and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert(TRACEPARENT, traceparent);
        }
        if let Some(authorization) = authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        Ok(request)
    }

    /// The error for a non-2xx answer, from (at most the first 64 KiB of) its body.
    async fn error_response(&self, response: Response<Incoming>) -> UpstreamError {
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            // Not followed: a prompt goes only where the config says. Passing the 3xx on
            // would tell the client to resend its request to an address it never chose.
            return UpstreamError::new(
                502,
                "upstream_error",
                format!(
                    "upstream {} answered HTTP {status}, a redirect, which is not followed; set api_base to the final URL",
                    self.shown_base
                ),
            );
        }
        match self.read_capped(response, MAX_ERROR_BODY_BYTES).await {
            Ok(Some(body)) => error_from_body(status, &body),
            Ok(None) => UpstreamError::from_status(
                status,
                format!(
                    "upstream {} answered HTTP {status} with an error body over {MAX_ERROR_BODY_BYTES} bytes",
                    self.shown_base
                ),
            ),
            // The status alone still says what happened.
            Err(e) => UpstreamError::from_status(
                status,
                format!("upstream {} answered HTTP {status}; reading its body failed: {}", self.shown_base, e.message),
            ),
        }
    }

    /// The error for a JSON body where an event stream was expected.
    async fn json_instead_of_stream(&self, response: Response<Incoming>) -> UpstreamError {
        let body = match self.read_capped(response, MAX_ERROR_BODY_BYTES).await {
            Ok(Some(body)) => body,
            Ok(None) => return self.too_large(),
            Err(e) => return e,
        };
        let parsed = serde_json::from_slice(&body).ok();
        match parsed.as_ref().and_then(|v| openai_error(502, v)) {
            Some(e) => UpstreamError { status: 502, ..e },
            None => UpstreamError::new(
                502,
                "upstream_error",
                format!("upstream {} answered a streaming request with JSON, not an event stream", self.shown_base),
            ),
        }
    }

    /// The error for a request that could not be sent, or whose answer's head could not
    /// be read.
    fn send_error(&self, e: &hyper_util::client::legacy::Error) -> UpstreamError {
        transport_error(e, e.is_connect(), &self.shown_base)
    }

    fn timed_out(&self) -> UpstreamError {
        UpstreamError::new(
            504,
            "timeout",
            format!("upstream {} did not answer within {:?}", self.shown_base, self.timeout),
        )
    }
}

/// How long a stream may keep the proxy waiting: for its head and first chunk
/// (`stream_timeout`), and in all (`timeout`).
///
/// Only the time spent waiting for the upstream counts, not wall-clock time since the
/// request. A client that reads slowly holds the stream back, as the proxy reads the
/// upstream only as fast as the client takes the chunks. If that time counted, a client
/// could end any long stream as the upstream's 504 `timeout`, which failure alerts count,
/// by reading slowly on purpose.
#[derive(Debug, Clone, Copy)]
struct StreamWaits {
    timeout: Duration,
    stream_timeout: Option<Duration>,
    /// The time spent waiting for the upstream so far.
    waited: Duration,
    /// Whether the first chunk has come.
    started: bool,
}

impl StreamWaits {
    fn new(timeout: Duration, stream_timeout: Option<Duration>) -> Self {
        StreamWaits { timeout, stream_timeout, waited: Duration::ZERO, started: false }
    }

    /// Awaits `next` for as long as the stream may still keep the proxy waiting, and
    /// counts the time: `None` when that time ran out first.
    async fn wait<F: std::future::Future>(&mut self, next: F) -> Option<F::Output> {
        let limit = match self.stream_timeout {
            Some(first) if !self.started => first.min(self.timeout),
            _ => self.timeout,
        };
        let began = tokio::time::Instant::now();
        let outcome = tokio::time::timeout(limit.saturating_sub(self.waited), next).await;
        self.waited += began.elapsed();
        outcome.ok()
    }

    /// The error for a stream whose [`Self::wait`] ran out.
    fn missed(&self, api_base: &str) -> UpstreamError {
        let message = match self.stream_timeout {
            Some(first) if !self.started && first < self.timeout => {
                format!("upstream {api_base} sent no chunk within {first:?} (stream_timeout)")
            }
            _ => format!(
                "upstream {api_base} did not finish its stream within {:?} (timeout), counting the time the proxy \
                 waited for it",
                self.timeout
            ),
        };
        UpstreamError::new(504, "timeout", message)
    }
}

/// The W3C trace context header, named at compile time rather than parsed per request.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// How a call reads its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Streaming {
    /// One JSON answer.
    No,
    /// An event stream.
    Yes,
    /// An event stream that ends with the usage chunk, whatever the client asked.
    AddingUsage,
}

/// The client's request body as sent upstream: its fields in their order, with the
/// deployment's `model`, and `stream` set to what the proxy will read. `stream` is true
/// for a streaming call; false asks for one JSON answer, so a client's `stream: true`
/// becomes `false` (an event stream would not parse as one), and `stream_options` goes
/// with it, as OpenAI refuses it without `stream`. [`Streaming::AddingUsage`] sets
/// `stream_options.include_usage` (keeping the client's other options).
///
/// Written straight from the client's body: copying the whole request to change two
/// fields cost a deep clone of every message per call.
fn outgoing_body(fields: &Map<String, Value>, model: &str, streaming: Streaming) -> Vec<u8> {
    let stream = streaming != Streaming::No;
    let add_usage = streaming == Streaming::AddingUsage;
    let mut usage_written = false;
    let client_streams = json::field(fields, "stream") == Some(&Value::Bool(true));
    let mut text = Vec::with_capacity(512);
    let mut object = ObjectText::start(&mut text);
    let mut model_written = false;
    let mut stream_written = false;
    for (name, value) in fields {
        match name.as_str() {
            "model" => {
                json::write_str(object.key("model"), model);
                model_written = true;
            }
            "stream" if stream || client_streams => {
                object.key("stream").extend_from_slice(if stream { b"true" } else { b"false" });
                stream_written = true;
            }
            "stream_options" if !stream && client_streams => {}
            "stream_options" if add_usage => {
                let mut options = value.as_object().cloned().unwrap_or_default();
                json::set(&mut options, "include_usage", Value::Bool(true));
                json::write_value(object.key(name), &Value::Object(options));
                usage_written = true;
            }
            _ => json::write_value(object.key(name), value),
        }
    }
    if !model_written {
        json::write_str(object.key("model"), model);
    }
    if stream && !stream_written {
        object.key("stream").extend_from_slice(b"true");
    }
    if add_usage && !usage_written {
        object.key("stream_options").extend_from_slice(br#"{"include_usage":true}"#);
    }
    object.finish();
    text
}

/// Credentials that cannot travel in a header.
#[derive(Debug, Clone, Copy)]
struct UnsendableCredentials;

/// `url` without its userinfo, and the userinfo (percent-encoded in the URL) as a Basic
/// `authorization` value. [`endpoint_uri`] then appends each endpoint's path.
fn without_userinfo(mut url: reqwest::Url) -> (reqwest::Url, Option<String>) {
    let userinfo = (!url.username().is_empty() || url.password().is_some()).then(|| {
        let decode = |part: &str| percent_encoding::percent_decode_str(part).decode_utf8_lossy().into_owned();
        let pair = format!("{}:{}", decode(url.username()), url.password().map(decode).unwrap_or_default());
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    });
    // A URL with a host always takes these; one without is no upstream anyway.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    (url, userinfo)
}

/// The `Host` header hyper's client would make for a plain `http://` `base` (always
/// HTTP/1 here: HTTP/2 is negotiated only over TLS): the host, with the port unless it is
/// the default (`Url::port` leaves that out). `None` for any other scheme.
fn http1_host_header(base: &reqwest::Url) -> Option<HeaderValue> {
    if base.scheme() != "http" {
        return None;
    }
    let host = base.host_str()?;
    let value = match base.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    HeaderValue::try_from(value).ok()
}

/// Where `call_type` is sent under `base`: its path, then the endpoint's, then `base`'s
/// query as it was (Azure-style bases carry `?api-version=...`, which must stay after the
/// path rather than swallow it). A fragment is never sent.
fn endpoint_uri(base: &reqwest::Url, call_type: CallType) -> Option<Uri> {
    let mut url = base.clone();
    let path = format!("{}{}", url.path().trim_end_matches('/'), endpoint_path(call_type));
    url.set_path(&path);
    url.set_fragment(None);
    url.as_str().parse().ok()
}

/// Turns the SSE payloads into chunks: each awaited within what `waits` still allows, at
/// most `max_bytes` in all (each event counted as the client gets it, framing included, so
/// that a stream of empty events is bounded too), in-band errors as `Err`, and nothing
/// after the first `Err`.
///
/// A payload is forwarded to the client as one `data:` line, so it must hold no line
/// break: an upstream could otherwise inject events (`[DONE]` among them) that the
/// stream hooks never saw. A multi-line payload that is JSON is re-serialized on one line;
/// anything else with a line break ends the stream as invalid.
fn chunk_stream<S>(payloads: S, waits: StreamWaits, api_base: Arc<str>, max_bytes: usize) -> ChunkStream
where
    S: futures_util::Stream<Item = Result<String, SseError<hyper::Error>>> + Unpin + Send + 'static,
{
    let invalid = |api_base: &str, why: String| {
        UpstreamError::new(502, "upstream_error", format!("upstream {api_base} sent an invalid stream: {why}"))
    };
    Box::pin(futures_util::stream::unfold(Some((payloads, 0usize, waits)), move |state| {
        let api_base = Arc::clone(&api_base);
        async move {
            // `None` after an error: the stream has ended.
            let (mut payloads, mut total, mut waits) = state?;
            let item = match waits.wait(payloads.next()).await {
                Some(None) => return None,
                Some(Some(Ok(data))) => {
                    waits.started = true;
                    total += data.len() + EVENT_FRAMING;
                    if total > max_bytes {
                        Err(invalid(
                            &api_base,
                            format!("more than {max_bytes} bytes in all (general_settings.max_upstream_response_mb)"),
                        ))
                    } else {
                        match one_line(data) {
                            Err(why) => Err(invalid(&api_base, why)),
                            Ok(data) => match in_band_error(&data) {
                                Some(e) => Err(e),
                                None => return Some((Ok(data), Some((payloads, total, waits)))),
                            },
                        }
                    }
                }
                Some(Some(Err(SseError::Transport(e)))) => Err(transport_error(&e, false, &api_base)),
                Some(Some(Err(e @ SseError::EventTooLarge))) => Err(invalid(&api_base, e.to_string())),
                None => Err(waits.missed(&api_base)),
            };
            // Dropping `payloads` here closes the upstream connection at once.
            Some((item, None))
        }
    }))
}

/// The bytes around an event's payload as the client gets it: `data: ` and a blank line.
const EVENT_FRAMING: usize = "data: \n\n".len();

/// `data` as one line: unchanged when it has no line break, re-serialized when it is JSON
/// spread over lines (JSON text never needs a raw line break), refused otherwise.
fn one_line(data: String) -> Result<String, String> {
    if memchr::memchr2(b'\n', b'\r', data.as_bytes()).is_none() {
        return Ok(data);
    }
    match serde_json::from_str::<Value>(&data) {
        Ok(value) => Ok(value.to_string()),
        Err(_) => Err("an event whose data spans several lines and is not JSON".into()),
    }
}

/// The error an upstream reports inside a stream, as a `{"error": ...}` payload.
fn in_band_error(data: &str) -> Option<UpstreamError> {
    // Chunks are parsed only when they might be errors: in an ordinary chunk, an `"error"`
    // inside generated text is escaped and cannot match. A key spelled with escapes
    // (`"\u0065rror"`) is the same key to every JSON reader, so a chunk with any escape
    // is parsed too (rare: upstreams send text as UTF-8).
    if !data.contains("\"error\"") && !data.contains("\\u") {
        return None;
    }
    let value: Value = serde_json::from_str(data).ok()?;
    let e = openai_error(502, &value)?;
    Some(UpstreamError { status: 502, error_type: "api_error".into(), ..e })
}

/// The error for a failed request, naming the upstream (and never the key, which only
/// travels in a header). `connecting` says the connection was never made.
fn transport_error(e: &(dyn StdError + 'static), connecting: bool, api_base: &str) -> UpstreamError {
    // The whole chain for operators; clients get its gist below.
    tracing::debug!(api_base, error = ?e, "upstream request failed");
    if causes(e)
        .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut))
    {
        return UpstreamError::new(504, "timeout", format!("upstream {api_base} timed out"));
    }
    let what = if connecting { "could not connect to" } else { "lost the connection to" };
    let root_cause = causes(e).last().map(ToString::to_string).unwrap_or_default();
    UpstreamError::new(502, "api_connection_error", format!("{what} upstream {api_base}: {root_cause}"))
}

/// `e` and its sources, outermost first. The innermost (e.g. "Connection refused (os
/// error 111)") is the part that says what went wrong; hyper's errors never hold the URL.
fn causes<'e>(e: &'e (dyn StdError + 'static)) -> impl Iterator<Item = &'e (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |&cause| cause.source())
}

/// The error for a non-2xx answer: from OpenAI error JSON when the body is that, else
/// quoting the body.
fn error_from_body(status: u16, body: &[u8]) -> UpstreamError {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        if let Some(e) = openai_error(status, &value) {
            return e;
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() {
        format!("upstream answered HTTP {status} with an empty body")
    } else {
        truncate(text, MAX_QUOTED_CHARS)
    };
    UpstreamError::new(status, "upstream_error", message)
}

/// Reads `{"error": {"message", "type", "code"}}`, or the `{"error": "..."}` some servers
/// send; `None` for anything else.
fn openai_error(status: u16, value: &Value) -> Option<UpstreamError> {
    match value.get("error")? {
        Value::Object(error) => {
            let message = error.get("message")?.as_str()?;
            let error_type = match error.get("type") {
                Some(Value::String(t)) if !t.is_empty() => t.as_str(),
                _ => UpstreamError::type_for_status(status),
            };
            let code = match error.get("code") {
                Some(Value::String(c)) => Some(c.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            Some(UpstreamError {
                status,
                error_type: error_type.to_string(),
                message: truncate(message, MAX_QUOTED_CHARS),
                code,
            })
        }
        Value::String(message) => Some(UpstreamError::from_status(status, truncate(message, MAX_QUOTED_CHARS))),
        _ => None,
    }
}

/// `url` without what may be a credential: the userinfo (`user:password@`) and the query
/// (`?key=...`) become `[redacted]`. What remains names the upstream for an operator.
pub(crate) fn redacted_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("[redacted]@{host}"),
        None => authority.to_owned(),
    };
    let (path, query) = match path.split_once('?') {
        Some((path, _)) => (path, "?[redacted]"),
        None => (path, ""),
    };
    let path = path.split('#').next().unwrap_or_default();
    let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
    format!("{scheme}{authority}{path}{query}")
}

/// The first `max_chars` chars of `text`.
fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// The upstream headers that describe the answer rather than the hop: request ids for
/// support tickets, OpenAI's processing metadata and rate-limit state.
fn passthrough_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str(); // always lower case
            name == "x-request-id" || name.starts_with("openai-") || name.starts_with("x-ratelimit-")
        })
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use axum::Router;
    use bytes::Bytes;
    use serde_json::json;
    use tokio::sync::{mpsc, oneshot};

    use super::*;
    use crate::config::Secret;

    /// Long enough never to fire in a healthy test, short enough to fail a broken one.
    const PATIENCE: Duration = Duration::from_secs(5);

    /// Serves `router` on a free local port, returning the API base to reach it.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}/v1")
    }

    fn provider(api_base: &str, timeout: Duration) -> OpenAiProvider {
        capped_provider(api_base, timeout, 1 << 20)
    }

    fn capped_provider(api_base: &str, timeout: Duration, max_response_bytes: usize) -> OpenAiProvider {
        OpenAiProvider::new(Arc::default(), &params(api_base, timeout, None), max_response_bytes)
    }

    fn params(api_base: &str, timeout: Duration, stream_timeout: Option<Duration>) -> OpenAiParams {
        OpenAiParams {
            model: "gpt-4o-mini".into(),
            api_base: format!("{api_base}/"),
            api_key: Some(Secret::new("sk-test-123")),
            timeout,
            stream_timeout,
        }
    }

    /// A server answering every POST with `status`, `content_type` and `body`.
    async fn answering(status: u16, content_type: &'static str, body: impl Into<String>) -> String {
        let body: String = body.into();
        let handler = move || {
            let body = body.clone();
            async move { (StatusCode::from_u16(status).unwrap(), [("content-type", content_type)], body) }
        };
        serve(Router::new().fallback(post(handler))).await
    }

    /// A streaming response fed by the returned sender, and a receiver that fires once the
    /// client is gone (the response body, and with it the channel, was dropped).
    fn event_stream() -> (Response, mpsc::Sender<Bytes>) {
        let (tx, rx) = mpsc::channel::<Bytes>(8);
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((Ok::<_, Infallible>(chunk), rx))
        });
        let headers = [
            ("content-type", "text/event-stream"),
            ("x-request-id", "req-upstream-1"),
            ("openai-processing-ms", "12"),
            ("set-cookie", "hop=1"),
        ];
        let response = (headers, Body::from_stream(body));
        (response.into_response(), tx)
    }

    async fn next_chunk(stream: &mut ChunkStream) -> Option<Result<String, UpstreamError>> {
        tokio::time::timeout(PATIENCE, stream.next()).await.expect("the chunk arrives")
    }

    #[test]
    fn the_host_header_is_the_one_hyper_would_make_and_only_for_plain_http() {
        let host = |base: &str| {
            http1_host_header(&reqwest::Url::parse(base).unwrap()).map(|value| value.to_str().unwrap().to_owned())
        };
        assert_eq!(host("http://127.0.0.1:8080/v1").as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(host("http://example.com:80/v1").as_deref(), Some("example.com"));
        assert_eq!(host("http://[::1]:9000/v1").as_deref(), Some("[::1]:9000"));
        // HTTPS may be HTTP/2, where a `host` beside `:authority` is refused: the client's.
        assert_eq!(host("https://api.openai.com/v1"), None);
        assert_eq!(host("https://api.openai.com:8443/v1"), None);
    }

    #[test]
    fn the_upstream_gets_the_clients_fields_in_order_with_its_own_model_and_stream() {
        let fields = |body: Value| body.as_object().unwrap().clone();
        let text = |fields: &Map<String, Value>, model: &str, stream: bool| {
            let streaming = if stream { Streaming::Yes } else { Streaming::No };
            String::from_utf8(outgoing_body(fields, model, streaming)).unwrap()
        };
        let client = fields(json!({
            "model": "alias", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "say \"hi\"\n"}], "temperature": 0.5,
        }));
        assert_eq!(
            text(&client, "gpt-4o-mini", false),
            r#"{"model":"gpt-4o-mini","stream":false,"messages":[{"role":"user","content":"say \"hi\"\n"}],"temperature":0.5}"#
        );
        assert_eq!(
            text(&client, "gpt-4o-mini", true),
            r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"say \"hi\"\n"}],"temperature":0.5}"#
        );
        // No `model` or `stream` from the client: both are added at the end.
        let bare = fields(json!({"input": "x", "stream": false}));
        assert_eq!(text(&bare, "m", false), r#"{"input":"x","stream":false,"model":"m"}"#);
        assert_eq!(text(&fields(json!({"input": "x"})), "m", true), r#"{"input":"x","model":"m","stream":true}"#);
        // Asking for the usage chunk the client did not: its other options kept.
        let adding = |fields: &Map<String, Value>| {
            String::from_utf8(outgoing_body(fields, "m", Streaming::AddingUsage)).unwrap()
        };
        let without = fields(json!({"stream": true, "messages": []}));
        assert_eq!(
            adding(&without),
            r#"{"stream":true,"messages":[],"model":"m","stream_options":{"include_usage":true}}"#
        );
        let other =
            fields(json!({"stream": true, "stream_options": {"include_obfuscation": false, "include_usage": false}}));
        assert_eq!(
            adding(&other),
            r#"{"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true},"model":"m"}"#
        );
    }

    #[tokio::test]
    async fn the_upstream_sees_one_host_header_with_its_port() {
        let (seen, heard) = oneshot::channel();
        let seen = Arc::new(Mutex::new(Some(seen)));
        let handler = move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let hosts: Vec<String> =
                    headers.get_all("host").iter().map(|value| value.to_str().unwrap().to_owned()).collect();
                if let Some(seen) = seen.lock().unwrap().take() {
                    let _ = seen.send(hosts);
                }
                ([("content-type", "application/json")], r#"{"id":"x","choices":[]}"#)
            }
        };
        let api_base = serve(Router::new().fallback(post(handler))).await;
        let port = api_base.trim_start_matches("http://127.0.0.1:").split('/').next().unwrap().to_owned();
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        provider(&api_base, PATIENCE).call(CallType::ChatCompletion, &body).await.unwrap();
        let hosts = tokio::time::timeout(PATIENCE, heard).await.unwrap().unwrap();
        assert_eq!(hosts, vec![format!("127.0.0.1:{port}")]);
    }

    #[tokio::test]
    async fn forwards_the_body_with_model_and_key() {
        type Seen = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: String| {
            let log = log.clone();
            async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string());
                let body: Value = serde_json::from_str(&body).unwrap();
                log.lock().unwrap().push((uri.path().to_string(), auth, body));
                (
                    [
                        ("x-request-id", "req-1"),
                        ("openai-processing-ms", "12"),
                        ("x-ratelimit-remaining-requests", "99"),
                        ("set-cookie", "a=b"),
                    ],
                    axum::Json(json!({"object": "chat.completion", "choices": []})),
                )
            }
        };
        let base = serve(Router::new().fallback(post(handler))).await;
        let p = provider(&base, PATIENCE);
        assert_eq!(p.model(), "gpt-4o-mini");
        assert_eq!(p.api_base(), base);

        let body = json!({
            "model": "my-alias",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.5,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        let answer = p.call(CallType::ChatCompletion, &body).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body.value()["object"], "chat.completion");
        let mut headers = answer.headers.clone();
        headers.sort();
        assert_eq!(
            headers,
            [
                ("openai-processing-ms".to_string(), "12".to_string()),
                ("x-ratelimit-remaining-requests".into(), "99".into()),
                ("x-request-id".into(), "req-1".into()),
            ]
        );
        p.call(CallType::TextCompletion, &json!({"prompt": "x"})).await.unwrap();
        p.call(CallType::Embedding, &json!({"input": "x"})).await.unwrap();

        let seen = seen.lock().unwrap();
        let (path, auth, sent) = &seen[0];
        assert_eq!(path, "/v1/chat/completions");
        assert_eq!(auth.as_deref(), Some("Bearer sk-test-123"));
        assert_eq!(
            sent,
            &json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.5,
                "stream": false,
            })
        );
        assert_eq!(seen[1].0, "/v1/completions");
        assert_eq!(seen[1].2, json!({"model": "gpt-4o-mini", "prompt": "x"}));
        assert_eq!(seen[2].0, "/v1/embeddings");
    }

    #[tokio::test]
    async fn no_key_no_authorization_header() {
        let handler = |headers: HeaderMap| async move {
            axum::Json(json!({"authorized": headers.contains_key("authorization")}))
        };
        let base = serve(Router::new().fallback(post(handler))).await;
        let mut p = provider(&base, PATIENCE);
        p.authorization = Ok(None);
        let answer = p.call(CallType::Embedding, &json!({})).await.unwrap();
        assert_eq!(*answer.body.value(), json!({"authorized": false}));
    }

    #[tokio::test]
    async fn a_key_no_header_can_carry_is_a_502_and_nothing_is_sent_without_it() {
        let sent = Arc::new(Mutex::new(0));
        let count = sent.clone();
        let handler = move || {
            *count.lock().unwrap() += 1;
            async { axum::Json(json!({})) }
        };
        let base = serve(Router::new().fallback(post(handler))).await;
        let params = OpenAiParams {
            model: "m".into(),
            api_base: base,
            api_key: Some(Secret::new("sk-test-123\nx-injected: 1")),
            timeout: PATIENCE,
            stream_timeout: None,
        };
        let p = OpenAiProvider::new(Arc::default(), &params, 1 << 20);
        for err in [
            p.call(CallType::ChatCompletion, &json!({})).await.unwrap_err(),
            p.stream(CallType::ChatCompletion, &json!({})).await.err().unwrap(),
        ] {
            assert_eq!(err.status, 502, "{err:?}");
            assert!(err.message.contains("cannot be sent"), "{err:?}");
            assert!(!err.message.contains("sk-test"), "{err:?}");
        }
        assert_eq!(*sent.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn credentials_in_api_base_travel_as_basic_auth_and_never_in_the_url() {
        type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let handler = move |uri: axum::http::Uri, headers: HeaderMap| {
            let log = log.clone();
            async move {
                let header =
                    |name| headers.get(name).map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_string());
                log.lock().unwrap().push((uri.to_string(), header("authorization"), header("host")));
                axum::Json(json!({}))
            }
        };
        let base = serve(Router::new().fallback(post(handler))).await;
        let with_userinfo = base.replace("http://", "http://us%65r:p%40ss@");
        let params = OpenAiParams {
            model: "m".into(),
            api_base: with_userinfo.clone(),
            api_key: None,
            timeout: PATIENCE,
            stream_timeout: None,
        };
        let keyless = OpenAiProvider::new(Arc::default(), &params, 1 << 20);
        assert!(!format!("{keyless:?}").contains("p%40ss"));
        keyless.call(CallType::ChatCompletion, &json!({})).await.unwrap();
        // A key in the config wins over the userinfo.
        provider(&with_userinfo, PATIENCE).call(CallType::Embedding, &json!({})).await.unwrap();

        let seen = seen.lock().unwrap();
        // `user:p@ss`, percent-decoded, in base64.
        assert_eq!(seen[0].1.as_deref(), Some("Basic dXNlcjpwQHNz"));
        assert_eq!(seen[1].1.as_deref(), Some("Bearer sk-test-123"));
        let host = base.trim_start_matches("http://").trim_end_matches("/v1");
        for (uri, _, sent_host) in seen.iter() {
            assert!(!uri.contains("p%40ss") && !uri.contains('@'), "{uri}");
            assert_eq!(sent_host.as_deref(), Some(host));
        }
    }

    #[tokio::test]
    async fn a_query_in_api_base_stays_after_the_endpoint_path() {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let handler = move |uri: axum::http::Uri| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(uri.to_string());
                axum::Json(json!({}))
            }
        };
        let base = serve(Router::new().fallback(post(handler))).await;
        let azure_style = format!("{base}/openai/deployments/gpt/?api-version=2024-02-01#ignored");
        let p = provider(&azure_style, PATIENCE);
        p.call(CallType::ChatCompletion, &json!({})).await.unwrap();
        p.call(CallType::Embedding, &json!({})).await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "/v1/openai/deployments/gpt/chat/completions?api-version=2024-02-01",
                "/v1/openai/deployments/gpt/embeddings?api-version=2024-02-01",
            ]
        );
        // Shown without the query, which may hold a key.
        assert!(p.api_base().ends_with("/gpt/?[redacted]"), "{}", p.api_base());
    }

    #[tokio::test]
    async fn openai_error_json_is_kept() {
        let base = answering(
            429,
            "application/json",
            r#"{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
        )
        .await;
        let err = provider(&base, PATIENCE).call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!(
            err,
            UpstreamError {
                status: 429,
                error_type: "requests".into(),
                message: "slow down".into(),
                code: Some("rate_limit_exceeded".into()),
            }
        );

        let base = answering(400, "application/json", r#"{"error":{"message":"bad","code":123}}"#).await;
        let err = provider(&base, PATIENCE).call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!(
            (err.status, err.error_type.as_str(), err.code.as_deref()),
            (400, "invalid_request_error", Some("123"))
        );
    }

    #[tokio::test]
    async fn other_error_bodies_are_quoted() {
        let base = answering(503, "text/plain", "  overloaded, try later\n").await;
        let err = provider(&base, PATIENCE).call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!(
            (err.status, err.error_type.as_str(), err.message.as_str()),
            (503, "upstream_error", "overloaded, try later")
        );

        let base = answering(500, "text/html", "\u{e9}".repeat(1500)).await;
        let err = provider(&base, PATIENCE).stream(CallType::ChatCompletion, &json!({})).await.err().unwrap();
        assert_eq!(err.status, 500);
        assert_eq!(err.message.chars().count(), 1000);
    }

    #[tokio::test]
    async fn a_redirect_is_a_502_and_is_not_followed() {
        let followed = Arc::new(Mutex::new(0));
        let seen = followed.clone();
        let target = serve(Router::new().fallback(post(move || {
            *seen.lock().unwrap() += 1;
            async { axum::Json(json!({"choices": []})) }
        })))
        .await;
        let handler = move || {
            let location = format!("{target}/chat/completions");
            async move { (StatusCode::TEMPORARY_REDIRECT, [("location", location)], "") }
        };
        let base = serve(Router::new().fallback(post(handler))).await;
        let p = provider(&base, PATIENCE);
        for err in [
            p.call(CallType::ChatCompletion, &json!({})).await.unwrap_err(),
            p.stream(CallType::ChatCompletion, &json!({})).await.err().unwrap(),
        ] {
            assert_eq!((err.status, err.error_type.as_str()), (502, "upstream_error"), "{err:?}");
            assert!(err.message.contains("HTTP 307, a redirect, which is not followed"), "{err:?}");
        }
        assert_eq!(*followed.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn success_without_json_is_502() {
        let base = answering(200, "text/html", "<html>login page</html>").await;
        let err = provider(&base, PATIENCE).call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!((err.status, err.error_type.as_str()), (502, "upstream_error"));
        // Read one way by a hook and another by a client's parser: refused too.
        let twice = r#"{"choices":[{"message":{"content":"the secret plan","content":"fine"}}]}"#;
        let base = answering(200, "application/json", twice).await;
        let err = provider(&base, PATIENCE).call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!((err.status, err.error_type.as_str()), (502, "upstream_error"));
        assert!(err.message.contains("duplicate key `content`"), "{err:?}");
    }

    #[tokio::test]
    async fn an_answer_that_is_not_utf8_is_502_saying_where() {
        let bytes: &'static [u8] = b"{\"choices\":[{\"message\":{\"content\":\"ab\xff\"}}]}";
        let handler = move || async move { ([("content-type", "application/json")], Bytes::from_static(bytes)) };
        let base = serve(Router::new().fallback(post(handler))).await;
        let err = provider(&base, PATIENCE).call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!((err.status, err.error_type.as_str()), (502, "upstream_error"));
        assert!(err.message.contains("invalid JSON") && err.message.contains("column"), "{err:?}");
    }

    #[tokio::test]
    async fn connection_refused_is_502_without_the_key() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        drop(listener);
        let p = provider(&base, PATIENCE);
        for err in [
            p.call(CallType::ChatCompletion, &json!({})).await.unwrap_err(),
            p.stream(CallType::ChatCompletion, &json!({})).await.err().unwrap(),
        ] {
            assert_eq!((err.status, err.error_type.as_str()), (502, "api_connection_error"));
            assert!(err.message.contains(&base), "{}", err.message);
            assert!(!err.message.contains("sk-test"), "{}", err.message);
        }
    }

    #[tokio::test]
    async fn https_goes_through_tls_and_a_failed_handshake_is_a_502() {
        // A server that answers in plain HTTP where TLS is expected: the client's
        // handshake must fail cleanly (the URL is taken as TLS, not refused or sent in
        // clear).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://{}/v1", listener.local_addr().unwrap());
        let (saw_tx, saw) = oneshot::channel::<Vec<u8>>();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut first = vec![0u8; 5];
            socket.read_exact(&mut first).await.unwrap();
            let _ = saw_tx.send(first);
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
        });
        let err = provider(&base, PATIENCE).call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!((err.status, err.error_type.as_str()), (502, "api_connection_error"), "{err:?}");
        assert!(err.message.starts_with(&format!("could not connect to upstream {base}")), "{err:?}");
        // A TLS record of type handshake (22), version 3.x: a ClientHello, not HTTP.
        let first = tokio::time::timeout(PATIENCE, saw).await.unwrap().unwrap();
        assert_eq!(&first[..2], &[22, 3], "{first:?}");
    }

    #[tokio::test]
    async fn slow_upstream_is_504() {
        let handler = || async {
            tokio::time::sleep(PATIENCE).await;
            "too late"
        };
        let base = serve(Router::new().fallback(post(handler))).await;
        let p = provider(&base, Duration::from_millis(200));
        let started = Instant::now();
        let err = p.call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!((err.status, err.error_type.as_str()), (504, "timeout"));
        let err = p.stream(CallType::ChatCompletion, &json!({})).await.err().unwrap();
        assert_eq!((err.status, err.error_type.as_str()), (504, "timeout"));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// A server whose one streaming answer is fed by the sender it hands out.
    async fn streaming_server() -> (String, mpsc::Receiver<(Value, mpsc::Sender<Bytes>)>) {
        let (requests_tx, requests) = mpsc::channel(1);
        let handler = move |axum::Json(body): axum::Json<Value>| {
            let requests_tx = requests_tx.clone();
            async move {
                let (response, tx) = event_stream();
                requests_tx.send((body, tx)).await.unwrap();
                response
            }
        };
        (serve(Router::new().fallback(post(handler))).await, requests)
    }

    /// Opens a stream to a [`streaming_server`]: the stream, the body the server received,
    /// and the sender feeding the server's answer.
    async fn open_stream(
        p: &OpenAiProvider,
        call_type: CallType,
        body: &Value,
        requests: &mut mpsc::Receiver<(Value, mpsc::Sender<Bytes>)>,
    ) -> (ChunkStream, Value, mpsc::Sender<Bytes>) {
        let (stream, sent, tx) = open_stream_with_headers(p, call_type, body, requests).await;
        (stream.chunks, sent, tx)
    }

    /// A chat stream from a stand-in upstream of its own, through a provider with
    /// `timeout`: the provider (keep it for as long as the stream), the stream, and the
    /// sender of the upstream's bytes.
    async fn chat_stream(timeout: Duration) -> (OpenAiProvider, ChunkStream, mpsc::Sender<Bytes>) {
        let (base, mut requests) = streaming_server().await;
        let p = provider(&base, timeout);
        let (stream, _, tx) = open_stream(&p, CallType::ChatCompletion, &json!({}), &mut requests).await;
        (p, stream, tx)
    }

    async fn open_stream_with_headers(
        p: &OpenAiProvider,
        call_type: CallType,
        body: &Value,
        requests: &mut mpsc::Receiver<(Value, mpsc::Sender<Bytes>)>,
    ) -> (UpstreamStream, Value, mpsc::Sender<Bytes>) {
        let (stream, request) = tokio::join!(p.stream(call_type, body), async { requests.recv().await.unwrap() });
        let stream = stream.unwrap_or_else(|e| panic!("stream failed: {e}"));
        (stream, request.0, request.1)
    }

    #[tokio::test]
    async fn stream_yields_chunks_as_they_arrive() {
        let (base, mut requests) = streaming_server().await;
        let p = provider(&base, PATIENCE);
        let body = json!({"model": "alias", "messages": []});
        let (opened, sent, tx) = open_stream_with_headers(&p, CallType::ChatCompletion, &body, &mut requests).await;
        assert_eq!(sent, json!({"model": "gpt-4o-mini", "messages": [], "stream": true}));
        // The headers that describe the answer are kept, those of the hop are not.
        let mut headers = opened.headers;
        headers.sort();
        assert_eq!(
            headers,
            [
                ("openai-processing-ms".to_owned(), "12".to_owned()),
                ("x-request-id".to_owned(), "req-upstream-1".to_owned())
            ]
        );
        let mut stream = opened.chunks;

        tx.send(Bytes::from_static(b": ping\n\ndata: {\"n\":1}\n\n")).await.unwrap();
        // The second chunk is sent only after the first was received.
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), r#"{"n":1}"#);
        tx.send(Bytes::from_static(b"data: {\"n\":")).await.unwrap();
        tx.send(Bytes::from_static(b"2}\r\n\r\ndata: [DONE]\n\n")).await.unwrap();
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), r#"{"n":2}"#);
        assert!(next_chunk(&mut stream).await.is_none());
    }

    #[tokio::test]
    async fn in_band_error_ends_the_stream() {
        let (base, mut requests) = streaming_server().await;
        let p = provider(&base, PATIENCE);
        let (mut stream, _, tx) = open_stream(&p, CallType::TextCompletion, &json!({}), &mut requests).await;
        tx.send(Bytes::from_static(
            b"data: {\"n\":1}\n\ndata: {\"error\":{\"message\":\"model crashed\",\"type\":\"server_error\"}}\n\ndata: {\"n\":2}\n\n",
        ))
        .await
        .unwrap();
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), r#"{"n":1}"#);
        let err = next_chunk(&mut stream).await.unwrap().unwrap_err();
        assert_eq!((err.status, err.error_type.as_str(), err.message.as_str()), (502, "api_error", "model crashed"));
        assert!(next_chunk(&mut stream).await.is_none());
        // The server side is gone with the stream.
        tokio::time::timeout(PATIENCE, tx.closed()).await.unwrap();
    }

    /// The stream's next item is the 502 for an event whose data spans several lines, and
    /// nothing after it is forwarded.
    async fn ends_refusing_a_multi_line_event(stream: &mut ChunkStream) {
        let err = next_chunk(stream).await.unwrap().unwrap_err();
        assert_eq!(err.status, 502);
        assert!(err.message.contains("several lines"), "{err:?}");
        assert!(next_chunk(stream).await.is_none());
    }

    #[tokio::test]
    async fn multi_line_events_cannot_inject_events() {
        let (_p, mut stream, tx) = chat_stream(PATIENCE).await;
        // JSON spread over two data lines: forwarded on one line.
        tx.send(Bytes::from_static(b"data: {\"a\":\ndata: 1}\n\n")).await.unwrap();
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), r#"{"a":1}"#);
        // A bare carriage return, which some clients read as a line break, likewise.
        tx.send(Bytes::from_static(b"data: {\"b\":\r2}\n\n")).await.unwrap();
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), r#"{"b":2}"#);
        // A payload that smuggles a blank line and a [DONE] event: refused.
        tx.send(Bytes::from_static(b"data: {\"a\":2}\ndata:\ndata: data: [DONE]\n\n")).await.unwrap();
        ends_refusing_a_multi_line_event(&mut stream).await;
    }

    #[tokio::test]
    async fn a_bare_carriage_return_cannot_smuggle_an_event() {
        let (_p, mut stream, tx) = chat_stream(PATIENCE).await;
        // One `data:` line to this parser, but a `[DONE]` event of its own to a client that
        // ends lines at a bare `\r`: refused, and nothing after it is forwarded.
        tx.send(Bytes::from_static(b"data: {\"a\":2}\r\rdata: [DONE]\n\n")).await.unwrap();
        ends_refusing_a_multi_line_event(&mut stream).await;
    }

    #[tokio::test]
    async fn a_stream_over_the_response_cap_ends_with_a_502() {
        let (base, mut requests) = streaming_server().await;
        // Each event counts 56 bytes: its 48 of payload and the 8 of `data: ` and `\n\n`.
        let p = capped_provider(&base, PATIENCE, 120);
        let (mut stream, _, tx) = open_stream(&p, CallType::ChatCompletion, &json!({}), &mut requests).await;
        let event = format!("data: {{\"t\":\"{}\"}}\n\n", "x".repeat(40));
        tx.send(Bytes::from(event.clone())).await.unwrap();
        assert!(next_chunk(&mut stream).await.unwrap().is_ok());
        tx.send(Bytes::from(format!("{event}{event}"))).await.unwrap();
        assert!(next_chunk(&mut stream).await.unwrap().is_ok());
        let err = next_chunk(&mut stream).await.unwrap().unwrap_err();
        assert_eq!(err.status, 502);
        assert!(err.message.contains("max_upstream_response_mb"), "{err:?}");
    }

    #[tokio::test]
    async fn empty_events_count_against_the_cap_so_a_stream_of_them_ends() {
        let (base, mut requests) = streaming_server().await;
        let p = capped_provider(&base, PATIENCE, 1000);
        let (mut stream, _, tx) = open_stream(&p, CallType::ChatCompletion, &json!({}), &mut requests).await;
        // Empty payloads, as `data` (no colon) and `data:` make them: 8 bytes each to the client.
        tokio::spawn(async move {
            for _ in 0..1000 {
                if tx.send(Bytes::from_static(b"data\n\ndata:\n\n")).await.is_err() {
                    break;
                }
            }
        });
        let mut forwarded = 0;
        let err = loop {
            match next_chunk(&mut stream).await.expect("the stream ends with an error, not silently") {
                Ok(data) => {
                    assert_eq!(data, "");
                    forwarded += 1;
                }
                Err(err) => break err,
            }
        };
        assert_eq!(forwarded, 1000 / EVENT_FRAMING);
        assert_eq!(err.status, 502);
        assert!(err.message.contains("max_upstream_response_mb"), "{err:?}");
        assert!(next_chunk(&mut stream).await.is_none());
    }

    #[tokio::test]
    async fn answers_over_the_cap_are_a_502_and_huge_errors_are_not_read_whole() {
        let base = answering(200, "application/json", format!("{{\"x\":\"{}\"}}", "y".repeat(5000))).await;
        let err = capped_provider(&base, PATIENCE, 1000).call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!(err.status, 502);
        assert!(err.message.contains("more than 1000 bytes"), "{err:?}");
        let base = answering(500, "text/plain", "e".repeat(200_000)).await;
        let err = provider(&base, PATIENCE).call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!(err.status, 500);
        assert!(err.message.contains("error body over"), "{err:?}");
    }

    #[test]
    fn credentials_in_api_base_are_redacted() {
        assert_eq!(redacted_url("https://api.example.com/v1"), "https://api.example.com/v1");
        assert_eq!(redacted_url("https://user:hunter2@api.example.com/v1"), "https://[redacted]@api.example.com/v1");
        assert_eq!(redacted_url("http://h:1/v1?api-key=hunter2&x=1"), "http://h:1/v1?[redacted]");
        assert_eq!(redacted_url("http://u:p@h/v1?k=s#frag"), "http://[redacted]@h/v1?[redacted]");
        let p = provider("http://user:hunter2@127.0.0.1:9/v1?key=hunter2", PATIENCE);
        assert!(!p.api_base().contains("hunter2"));
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn transport_errors_never_show_credentials_from_api_base() {
        let p = provider("http://user:hunter2@127.0.0.1:9/v1?key=hunter2", PATIENCE);
        let err = p.call(CallType::ChatCompletion, &json!({})).await.unwrap_err();
        assert_eq!(err.status, 502);
        assert!(!err.message.contains("hunter2"), "{err:?}");
    }

    #[tokio::test]
    async fn stalled_stream_times_out() {
        let (_p, mut stream, tx) = chat_stream(Duration::from_millis(300)).await;
        tx.send(Bytes::from_static(b"data: 1\n\n")).await.unwrap();
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), "1");
        let err = next_chunk(&mut stream).await.unwrap().unwrap_err();
        assert_eq!((err.status, err.error_type.as_str()), (504, "timeout"));
        assert!(next_chunk(&mut stream).await.is_none());
    }

    /// `timeout` bounds a stream's waits together, not only each: an upstream that keeps
    /// sending, slower than a client would wait for the whole, is cut off at `timeout`.
    #[tokio::test]
    async fn a_stream_that_keeps_trickling_ends_at_its_timeout() {
        let (base, mut requests) = streaming_server().await;
        let p = provider(&base, Duration::from_millis(600));
        let started = Instant::now();
        let (mut stream, _, tx) = open_stream(&p, CallType::ChatCompletion, &json!({}), &mut requests).await;
        tokio::spawn(async move {
            // A chunk every 100 ms, each wait well within `timeout`, for up to 5 s.
            for _ in 0..50 {
                if tx.send(Bytes::from_static(b"data: 1\n\n")).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut chunks = 0;
        let err = loop {
            match next_chunk(&mut stream).await.expect("the stream ends with an error, not quietly") {
                Ok(_) => chunks += 1,
                Err(err) => break err,
            }
        };
        assert!(chunks >= 3, "chunks flowed before the deadline: {chunks}");
        assert_eq!((err.status, err.error_type.as_str()), (504, "timeout"));
        assert!(err.message.contains("did not finish its stream within 600ms (timeout)"), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "cut off at the deadline: {:?}", started.elapsed());
        assert!(next_chunk(&mut stream).await.is_none());
    }

    /// Only the time spent waiting for the upstream counts towards `timeout`: a stream
    /// held back by a client that reads slowly (here, nothing reads it for longer than
    /// `timeout`) goes on, so a client cannot make any long stream end as the upstream's
    /// 504, which failure alerts count.
    #[tokio::test]
    async fn a_client_reading_slowly_never_runs_out_the_upstreams_timeout() {
        let (_p, mut stream, tx) = chat_stream(Duration::from_millis(400)).await;
        tx.send(Bytes::from_static(b"data: 1\n\n")).await.unwrap();
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), "1");
        // The client takes its time; the upstream is still writing when it is back.
        tokio::time::sleep(Duration::from_millis(600)).await;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(Bytes::from_static(b"data: 2\n\n")).await.unwrap();
        });
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), "2");
        assert!(next_chunk(&mut stream).await.is_none(), "the stream ends when the upstream does");
    }

    /// `stream_timeout` bounds the wait for the first chunk (the head, then the first
    /// payload), and only that: the chunks after it wait within `timeout`.
    #[tokio::test]
    async fn stream_timeout_bounds_the_first_chunk_only() {
        let (base, mut requests) = streaming_server().await;
        let p =
            OpenAiProvider::new(Arc::default(), &params(&base, PATIENCE, Some(Duration::from_millis(300))), 1 << 20);
        // No first chunk: cut off at `stream_timeout`, however long `timeout` is.
        let started = Instant::now();
        let (mut stream, _, _tx) = open_stream(&p, CallType::ChatCompletion, &json!({}), &mut requests).await;
        let err = next_chunk(&mut stream).await.unwrap().unwrap_err();
        assert_eq!((err.status, err.error_type.as_str()), (504, "timeout"));
        assert!(err.message.contains("sent no chunk within 300ms (stream_timeout)"), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // A first chunk in time: a later pause longer than `stream_timeout` is fine.
        let (mut stream, _, tx) = open_stream(&p, CallType::ChatCompletion, &json!({}), &mut requests).await;
        tx.send(Bytes::from_static(b"data: 1\n\n")).await.unwrap();
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), "1");
        tokio::time::sleep(Duration::from_millis(500)).await;
        tx.send(Bytes::from_static(b"data: 2\n\n")).await.unwrap();
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), "2");
    }

    #[tokio::test]
    async fn dropping_the_stream_closes_the_upstream_connection() {
        let (_p, mut stream, tx) = chat_stream(PATIENCE).await;
        tx.send(Bytes::from_static(b"data: 1\n\n")).await.unwrap();
        assert_eq!(next_chunk(&mut stream).await.unwrap().unwrap(), "1");
        drop(stream);
        // The server notices: its response body (the channel's receiver) is dropped.
        tokio::time::timeout(PATIENCE, tx.closed()).await.expect("the upstream connection is closed");
    }

    #[tokio::test]
    async fn dropping_the_call_closes_the_upstream_connection() {
        let (dropped_tx, dropped) = oneshot::channel::<()>();
        let dropped_tx = Arc::new(Mutex::new(Some(dropped_tx)));
        let handler = move || {
            let dropped_tx = dropped_tx.clone();
            async move {
                // Fires when hyper drops this handler future: the client went away.
                struct Guard(Arc<Mutex<Option<oneshot::Sender<()>>>>);
                impl Drop for Guard {
                    fn drop(&mut self) {
                        if let Some(tx) = self.0.lock().unwrap().take() {
                            let _ = tx.send(());
                        }
                    }
                }
                let _guard = Guard(dropped_tx);
                tokio::time::sleep(PATIENCE * 2).await;
                "never"
            }
        };
        let base = serve(Router::new().fallback(post(handler))).await;
        let p = provider(&base, PATIENCE * 2);
        let body = json!({});
        let call = p.call(CallType::ChatCompletion, &body);
        assert!(tokio::time::timeout(Duration::from_millis(200), call).await.is_err());
        tokio::time::timeout(PATIENCE, dropped).await.expect("the upstream connection is closed").unwrap();
    }

    #[tokio::test]
    async fn json_where_a_stream_was_expected() {
        let base = answering(
            200,
            "application/json",
            r#"{"error":{"message":"streaming unsupported","type":"invalid_request_error"}}"#,
        )
        .await;
        let err = provider(&base, PATIENCE).stream(CallType::ChatCompletion, &json!({})).await.err().unwrap();
        assert_eq!((err.status, err.message.as_str()), (502, "streaming unsupported"));
    }

    #[tokio::test]
    async fn streaming_embeddings_is_refused() {
        let err = provider("http://127.0.0.1:9", PATIENCE).stream(CallType::Embedding, &json!({})).await.err().unwrap();
        assert_eq!(err.status, 400);
    }

    #[test]
    fn error_bodies() {
        let e = error_from_body(401, br#"{"error":"bad key"}"#);
        assert_eq!((e.error_type.as_str(), e.message.as_str()), ("authentication_error", "bad key"));
        let e = error_from_body(404, br#"{"detail":"Not Found"}"#);
        assert_eq!((e.error_type.as_str(), e.message.as_str()), ("upstream_error", r#"{"detail":"Not Found"}"#));
        let e = error_from_body(502, b"");
        assert_eq!(e.message, "upstream answered HTTP 502 with an empty body");
        assert!(in_band_error(r#"{"choices":[{"delta":{"content":"an \"error\""}}]}"#).is_none());
        // The key spelled with escapes is the same key.
        let e = in_band_error(r#"{"\u0065rror":{"message":"overloaded","type":"server_error"}}"#).unwrap();
        assert_eq!((e.status, e.message.as_str()), (502, "overloaded"));
        assert!(in_band_error(r#"{"choices":[{"delta":{"content":"caf\u00e9"}}]}"#).is_none());
    }
}
