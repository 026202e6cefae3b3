//! The host side of a guest's `wasi:http/outgoing-handler.handle`: every call a plugin
//! makes passes this gate, which admits it under the plugin's grant or refuses it, fills
//! in secrets, sends it within the hook's deadline and the grant's caps, and counts it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::address::{self, RefusedAddress};
use super::grant::{OutboundGrant, Target};
use super::secrets;
use crate::capabilities::lateness::{proxy_was_late, MIN_BUDGET_FOR_VERDICT};
use crate::capabilities::log::RequestIdCell;
use crate::metrics::OutboundMeters;

/// The longest a header may grow to with its secrets filled in (a longer header is sent
/// only as it came): a placeholder of a dozen bytes can stand for a secret of hundreds.
const MAX_FILLED_HEADER_BYTES: usize = 16 * 1024;

/// How much filling in secrets may add to all of a call's headers together: capped one
/// header at a time, many placeholder headers would still multiply what the plugin sent.
const MAX_FILLED_HEADERS_GROWTH: usize = 16 * 1024;

type SendResult = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>), HttpError>;

/// The gate of one plugin instance.
pub struct OutboundGate {
    plugin: Arc<str>,
    request_id: RequestIdCell,
    grant: Option<Arc<OutboundGrant>>,
    meters: OutboundMeters,
    /// When the running hook call's outbound calls must have answered.
    deadline: Instant,
    /// Why a call of the running hook timed out through the proxy's own lateness, if one
    /// did (see [`crate::capabilities::lateness`]); the call's future sets it.
    heard_late: Arc<Mutex<Option<String>>>,
    calls_in_hook: u32,
    /// The request the per-request count is for (a reused instance serves several).
    counted_request: String,
    calls_in_request: u32,
}

/// What the gate refused, and how it is counted and told to the guest.
struct Refused {
    result: &'static str,
    error: HttpError,
    why: String,
}

impl OutboundGate {
    /// The gate of an instance of `plugin` serving `request_id`, under `grant` (none: every
    /// call is refused).
    pub fn new(
        plugin: Arc<str>,
        request_id: RequestIdCell,
        grant: Option<Arc<OutboundGrant>>,
        meters: OutboundMeters,
    ) -> Self {
        Self {
            plugin,
            request_id,
            grant,
            meters,
            deadline: Instant::now(),
            heard_late: Arc::default(),
            calls_in_hook: 0,
            counted_request: String::new(),
            calls_in_request: 0,
        }
    }

    /// Arms the gate for one hook call whose outbound calls must answer by `deadline`.
    pub fn begin_call(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.calls_in_hook = 0;
        *lock(&self.heard_late) = None;
    }

    /// Why one of the running hook call's outbound calls timed out because the proxy was
    /// too busy to hear its answer, not because the service was slow; `None` if none did.
    pub fn heard_late(&self) -> Option<String> {
        lock(&self.heard_late).clone()
    }

    /// Marks the running hook call as having heard an outbound answer late, as a timed-out
    /// call does: for tests of what the fault becomes.
    #[cfg(test)]
    pub(crate) fn note_heard_late(&self, why: &str) {
        *lock(&self.heard_late) = Some(why.to_owned());
    }

    /// Decides on a call before anything leaves: the grant, the destination, the address
    /// of an IP-literal host, the call counts and the headers' placeholders.
    fn admit(
        &mut self,
        request: &mut http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<Admitted, Refused> {
        let refuse = |result, error, why: String| Refused { result, error, why };
        let Some(grant) = self.grant.clone() else {
            return Err(refuse(
                "refused_no_grant",
                HttpError::HttpRequestDenied,
                "the plugin has no outbound grant (plugins.outbound.<plugin> in the proxy config)".into(),
            ));
        };
        let Some(target) = Target::of(request.uri()) else {
            return Err(refuse(
                "refused_destination",
                HttpError::HttpRequestUriInvalid,
                "not an http(s) URL with a host".into(),
            ));
        };
        if !target.read_alike(request.uri()) {
            return Err(refuse(
                "refused_destination",
                HttpError::HttpRequestDenied,
                "a URL the HTTP client would read as another path or host (a `\\`, an encoded host)".into(),
            ));
        }
        if request.uri().authority().is_some_and(|authority| authority.as_str().contains('@')) {
            return Err(refuse(
                "refused_destination",
                HttpError::HttpRequestUriInvalid,
                "credentials in the URL (bind them as secrets and send them in a header)".into(),
            ));
        }
        if grant.destination_for(&target).is_none() {
            return Err(refuse(
                "refused_destination",
                HttpError::HttpRequestDenied,
                format!("{} is not under any entry of the plugin's outbound allow-list", target.origin()),
            ));
        }
        if let Some(ip) = target.ip() {
            // An IP literal the operator listed is taken as meant, private or not; link-local
            // and metadata addresses never are.
            if let Err(why) = address::check(ip, true) {
                return Err(refuse("refused_address", HttpError::DestinationIpProhibited, format!("{ip} is {why}")));
            }
        }
        let request_id = self.request_id.get();
        if self.counted_request != *request_id {
            self.counted_request = request_id.to_string();
            self.calls_in_request = 0;
        }
        if self.calls_in_hook >= grant.max_calls_per_hook {
            return Err(refuse(
                "refused_limit",
                HttpError::ConnectionLimitReached,
                format!("more than max_calls_per_hook ({}) calls in one hook call", grant.max_calls_per_hook),
            ));
        }
        if self.calls_in_request >= grant.max_calls_per_request {
            return Err(refuse(
                "refused_limit",
                HttpError::ConnectionLimitReached,
                format!("more than max_calls_per_request ({}) calls for one request", grant.max_calls_per_request),
            ));
        }
        let mut growth_left = MAX_FILLED_HEADERS_GROWTH;
        for value in request.headers_mut().values_mut() {
            let cap = MAX_FILLED_HEADER_BYTES.min(value.len() + growth_left);
            let filled = secrets::fill(value.as_bytes(), &grant.secrets, &target, cap).map_err(|e| {
                let why = format!(
                    "a header: {e} (each header may hold {MAX_FILLED_HEADER_BYTES} bytes filled in, and secrets \
                     may add {MAX_FILLED_HEADERS_GROWTH} bytes to all headers together)"
                );
                refuse("refused_secret", HttpError::HttpRequestDenied, why)
            })?;
            growth_left = growth_left.saturating_sub(filled.len().saturating_sub(value.len()));
            if filled != value.as_bytes() {
                let mut header = http::HeaderValue::from_bytes(&filled).map_err(|_| {
                    refuse(
                        "refused_secret",
                        HttpError::HttpRequestDenied,
                        "a secret is not a valid header value".into(),
                    )
                })?;
                header.set_sensitive(true);
                *value = header;
            }
        }
        self.calls_in_hook += 1;
        self.calls_in_request += 1;
        let started = Instant::now();
        let mut deadline = self.deadline.min(started + grant.timeout);
        if let Some(first_byte) = options.and_then(|options| options.first_byte_timeout) {
            deadline = deadline.min(started + first_byte);
        }
        let cut_by_hook = deadline == self.deadline;
        Ok(Admitted {
            plugin: Arc::clone(&self.plugin),
            request_id: request_id.to_string(),
            origin: target.origin(),
            target,
            grant,
            meters: self.meters.clone(),
            started,
            deadline,
            cut_by_hook,
            heard_late: Arc::clone(&self.heard_late),
        })
    }
}

/// Why a call that timed out after `waited`, on a wait of `budget`, was the proxy's
/// lateness rather than the service's slowness, if it was. A wait shorter than
/// [`MIN_BUDGET_FOR_VERDICT`] that the guest or the grant chose proves nothing either way:
/// its timeout is the plugin's doing, as a slow service's is, and `on_error` applies.
fn heard_late(budget: std::time::Duration, waited: std::time::Duration, cut_by_hook: bool) -> Option<String> {
    match budget >= MIN_BUDGET_FOR_VERDICT || cut_by_hook {
        true => proxy_was_late(budget, waited),
        false => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A call the gate let through, on its way out.
struct Admitted {
    plugin: Arc<str>,
    request_id: String,
    origin: String,
    target: Target,
    grant: Arc<OutboundGrant>,
    meters: OutboundMeters,
    started: Instant,
    deadline: Instant,
    /// Whether `deadline` is the hook's cutoff rather than a wait the grant or the guest
    /// chose.
    cut_by_hook: bool,
    heard_late: Arc<Mutex<Option<String>>>,
}

/// How a call that left ended, for metrics and the log.
enum Failure {
    Refused(Refused),
    Failed { result: &'static str, error: HttpError, why: String },
}

impl Admitted {
    /// Sends the call and reads the whole answer, within the deadline and the size caps.
    async fn send(self, request: http::Request<WasiBody>) -> SendResult {
        let outcome = tokio::time::timeout_at(self.deadline.into(), self.exchange(request)).await;
        let elapsed = self.started.elapsed();
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) => {
                let budget = self.deadline.saturating_duration_since(self.started);
                let mut why = format!("no complete answer within {} ms", budget.as_millis());
                if let Some(late) = heard_late(budget, elapsed, self.cut_by_hook) {
                    why = format!("{why}, but {late}");
                    *lock(&self.heard_late) = Some(late);
                }
                Err(Failure::Failed { result: "timeout", error: HttpError::HttpResponseTimeout, why })
            }
        };
        match outcome {
            Ok(response) => {
                let result = match response.status().as_u16() {
                    200..=299 => "2xx",
                    300..=399 => "3xx",
                    400..=499 => "4xx",
                    _ => "5xx",
                };
                self.meters.call(&self.plugin, &self.origin, result, Some(elapsed));
                tracing::debug!(plugin = %self.plugin, request_id = %self.request_id, destination = %self.origin,
                    status = response.status().as_u16(), elapsed_ms = elapsed.as_millis() as u64, "plugin outbound call");
                Ok((response, Box::new(async { Ok(()) })))
            }
            Err(Failure::Refused(refused)) => {
                log_refusal(&self.plugin, &self.request_id, &self.target, &refused);
                self.meters.call(&self.plugin, "refused", refused.result, None);
                Err(refused.error)
            }
            Err(Failure::Failed { result, error, why }) => {
                tracing::warn!(plugin = %self.plugin, request_id = %self.request_id, destination = %self.origin,
                    result, "plugin outbound call failed: {why}");
                self.meters.call(&self.plugin, &self.origin, result, Some(elapsed));
                Err(error)
            }
        }
    }

    async fn exchange(&self, request: http::Request<WasiBody>) -> Result<http::Response<WasiBody>, Failure> {
        let (mut parts, body) = request.into_parts();
        let body = Limited::new(body, self.grant.max_request_bytes).collect().await.map_err(|e| Failure::Failed {
            result: "too_large",
            error: HttpError::HttpRequestBodySize(None),
            why: format!("request body: {e} (max_request_bytes {})", self.grant.max_request_bytes),
        })?;
        let body = secrets::fill(&body.to_bytes(), &self.grant.secrets, &self.target, self.grant.max_request_bytes)
            .map_err(|e| match e {
                secrets::SecretError::TooLarge(_) => Failure::Failed {
                    result: "too_large",
                    error: HttpError::HttpRequestBodySize(None),
                    why: format!("request body: {e} (max_request_bytes)"),
                },
                _ => Failure::Refused(Refused {
                    result: "refused_secret",
                    error: HttpError::HttpRequestDenied,
                    why: format!("the body: {e}"),
                }),
            })?;
        // reqwest writes its own Host from the URL (the same authority), and the length of
        // the body as sent: filling in secrets changed it, whatever the guest declared.
        parts.headers.remove(http::header::HOST);
        parts.headers.remove(http::header::CONTENT_LENGTH);
        let response = self
            .grant
            .client()
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|error| self.send_failure(&error))?;
        let status = response.status();
        let mut headers = response.headers().clone();
        let limit = self.grant.max_response_bytes;
        if response.content_length().is_some_and(|length| length > limit as u64) {
            return Err(self.too_large());
        }
        let mut received = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|error| self.send_failure(&error))? {
            if received.len() + chunk.len() > limit {
                return Err(self.too_large());
            }
            received.extend_from_slice(&chunk);
        }
        // What the destination echoes of a secret goes back to the guest as its placeholder.
        for value in headers.values_mut() {
            let scrubbed = secrets::scrub(value.as_bytes(), &self.grant.secrets);
            if scrubbed != value.as_bytes() {
                *value = http::HeaderValue::from_bytes(&scrubbed).unwrap_or(http::HeaderValue::from_static(""));
            }
        }
        // The body is whole: lengths the destination gave no longer apply after scrubbing.
        headers.remove(http::header::CONTENT_LENGTH);
        headers.remove(http::header::TRANSFER_ENCODING);
        let body = Bytes::from(secrets::scrub(&received, &self.grant.secrets));
        let mut answer = http::Response::new(Full::new(body).map_err(|never| match never {}).boxed_unsync());
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        Ok(answer)
    }

    fn too_large(&self) -> Failure {
        Failure::Failed {
            result: "too_large",
            error: HttpError::HttpResponseBodySize(None),
            why: format!("response body over max_response_bytes ({})", self.grant.max_response_bytes),
        }
    }

    /// A failed send: a refused address found in the error's chain is a refusal.
    fn send_failure(&self, error: &reqwest::Error) -> Failure {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<RefusedAddress>() {
                return Failure::Refused(Refused {
                    result: "refused_address",
                    error: HttpError::DestinationIpProhibited,
                    why: refused.to_string(),
                });
            }
            source = cause.source();
        }
        let error_code = if error.is_connect() { HttpError::ConnectionRefused } else { HttpError::HttpProtocolError };
        Failure::Failed { result: "error", error: error_code, why: format!("{error:#}") }
    }
}

fn log_refusal(plugin: &str, request_id: &str, target: &Target, refused: &Refused) {
    tracing::warn!(plugin, request_id, destination = %target.origin(), path = %target.path.escape_debug(),
        result = refused.result, "plugin outbound call refused: {}", refused.why);
}

impl WasiHttpHooks for OutboundGate {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        match self.admit(&mut request, options) {
            Ok(admitted) => Box::new(admitted.send(request)),
            Err(refused) => {
                let target = Target::of(request.uri()).unwrap_or(Target {
                    scheme: String::new(),
                    host: String::new(),
                    port: 0,
                    path: String::new(),
                });
                log_refusal(&self.plugin, &self.request_id.get(), &target, &refused);
                self.meters.call(&self.plugin, "refused", refused.result, None);
                Box::new(async move { Err(refused.error) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::Empty;

    use super::*;
    use crate::capabilities::outbound::grant::RawGrant;

    fn grant(yaml: &str) -> Arc<OutboundGrant> {
        let raw: RawGrant = serde_yaml_ng::from_str(yaml).unwrap();
        Arc::new(OutboundGrant::from_raw(raw).unwrap())
    }

    fn gate(grant: Option<Arc<OutboundGrant>>) -> OutboundGate {
        let mut gate = OutboundGate::new("p".into(), "request-1".into(), grant, OutboundMeters::default());
        gate.begin_call(Instant::now() + std::time::Duration::from_secs(1));
        gate
    }

    fn request(uri: &str, header: Option<&str>) -> http::Request<WasiBody> {
        let mut request = http::Request::builder().method("POST").uri(uri);
        if let Some(value) = header {
            request = request.header("authorization", value);
        }
        request.body(Empty::new().map_err(|never| match never {}).boxed_unsync()).unwrap()
    }

    fn refusal(gate: &mut OutboundGate, uri: &str, header: Option<&str>) -> Option<&'static str> {
        gate.admit(&mut request(uri, header), None).err().map(|refused| refused.result)
    }

    #[test]
    fn the_gate_refuses_before_anything_leaves() {
        assert_eq!(refusal(&mut gate(None), "http://127.0.0.1:9/x", None), Some("refused_no_grant"));
        let grant = grant(
            "{allow: ['http://127.0.0.1:9/ok/', 'http://169.254.169.254/'], secrets: {k: v4lue}, \
             max_calls_per_hook: 2, max_calls_per_request: 3}",
        );
        let mut gate = gate(Some(grant));
        assert_eq!(refusal(&mut gate, "http://127.0.0.1:9/other", None), Some("refused_destination"));
        assert_eq!(refusal(&mut gate, "http://user:pw@127.0.0.1:9/ok/x", None), Some("refused_destination"));
        assert_eq!(refusal(&mut gate, "http://169.254.169.254/latest", None), Some("refused_address"));
        assert_eq!(
            refusal(&mut gate, "http://127.0.0.1:9/ok/x", Some("Bearer ${secret:nope}")),
            Some("refused_secret")
        );
        // Refusals are not calls: two calls are admitted, the third is over the hook's limit.
        let mut admitted = request("http://127.0.0.1:9/ok/x", Some("Bearer ${secret:k}"));
        assert!(gate.admit(&mut admitted, None).is_ok());
        assert_eq!(admitted.headers()["authorization"], "Bearer v4lue", "filled in on the way out");
        assert!(admitted.headers()["authorization"].is_sensitive());
        assert_eq!(refusal(&mut gate, "http://127.0.0.1:9/ok/y", None), None);
        assert_eq!(refusal(&mut gate, "http://127.0.0.1:9/ok/z", None), Some("refused_limit"));
        // A new hook call of the same request: one more, then the request's limit.
        gate.begin_call(Instant::now() + std::time::Duration::from_secs(1));
        assert_eq!(refusal(&mut gate, "http://127.0.0.1:9/ok/z", None), None);
        assert_eq!(refusal(&mut gate, "http://127.0.0.1:9/ok/z", None), Some("refused_limit"));
        // Another request on a reused instance starts its own count.
        gate.request_id.set("request-2".into());
        gate.begin_call(Instant::now() + std::time::Duration::from_secs(1));
        assert_eq!(refusal(&mut gate, "http://127.0.0.1:9/ok/z", None), None);
    }

    #[test]
    fn a_timeout_is_the_proxys_lateness_only_on_a_wait_that_can_tell() {
        let ms = std::time::Duration::from_millis;
        assert_eq!(heard_late(ms(500), ms(510), false), None, "on time: the service was slow");
        assert!(heard_late(ms(500), ms(1500), false).is_some(), "a second late: the proxy was busy");
        // A 2 ms wait the guest asked for is its own choice, however late the timer;
        // 2 ms left before the hook's cutoff is the proxy's lateness.
        assert_eq!(heard_late(ms(2), ms(9), false), None);
        assert!(heard_late(ms(2), ms(2), true).is_some());
    }
}
