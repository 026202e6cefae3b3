//! Upstream providers: where a request goes after the hooks have run.
//!
//! [`Upstreams`] holds every configured deployment by the model name clients use and picks
//! one per request; a [`Deployment`] makes the actual call, either to the built-in mock
//! (`mock`) or to an OpenAI-compatible HTTP API (`openai`, whose streams are parsed by
//! `sse`). Both answer with OpenAI-shaped JSON and report failures as [`UpstreamError`],
//! so the pipeline never cares which one it talked to.
//!
//! Cancellation is by drop: dropping the future of [`Deployment::call`] or
//! [`Deployment::stream`], or the [`ChunkStream`], drops the in-flight HTTP request and
//! closes its connection. Nothing here spawns a task, so nothing outlives its caller.

pub mod answers;
mod mock;
mod openai;
mod sse;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::config::{ModelDeployment, ProviderConfig, TokenPrice};
use crate::content::Body;
use crate::types::CallType;

use mock::MockProvider;
use openai::OpenAiProvider;

/// The chunks of a streaming answer: each item is one SSE `data:` payload (a chunk's JSON
/// text, without `data: ` and without the final `[DONE]`). An `Err` ends the stream.
pub type ChunkStream = Pin<Box<dyn futures_util::Stream<Item = Result<String, UpstreamError>> + Send>>;

/// A streaming answer that began: the headers worth passing on, and its chunks.
pub struct UpstreamStream {
    /// As [`UpstreamResponse::headers`]: request ids, `openai-*`, `x-ratelimit-*`.
    pub headers: Vec<(String, String)>,
    /// The chunks, as they arrive.
    pub chunks: ChunkStream,
}

/// A successful non-streaming answer, ready to be passed to the response hooks.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    /// The upstream's HTTP status (a 2xx).
    pub status: u16,
    /// The answer's JSON body. An upstream's is its text byte for byte as it arrived,
    /// checked strictly and parsed only if a hook or the log reads it: the client gets
    /// that text unless a hook edits the answer. The mock's is values.
    pub body: Body,
    /// The upstream headers worth passing on to clients (request ids, `openai-*`,
    /// `x-ratelimit-*`), names in lower case. Everything else (content-length, cookies,
    /// connection headers) describes the upstream hop, not the answer.
    pub headers: Vec<(String, String)>,
}

/// Whether hooks are going to read a non-streamed answer's values (the response and
/// logging hooks do). One only passed on to the client is checked, not parsed: its tree
/// would cost more than the rest of a request without plugins. One that hooks read is
/// parsed as it arrives, since checking it first would do the work twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerUse {
    /// Hooks read it: parsed at once.
    Read,
    /// Passed on as it came: checked, and parsed only if something reads it after all.
    Passed,
}

/// Why an upstream call failed, in the shape of an OpenAI error so the pipeline can hand
/// it to clients as `{"error": {...}}` with `status` as the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("upstream error {status}: {message}")]
pub struct UpstreamError {
    /// The HTTP status for the client: the upstream's own for its error answers, 502 when
    /// it could not be reached or answered garbage, 504 when it was too slow.
    pub status: u16,
    /// The OpenAI error `type` (`invalid_request_error`, `rate_limit_error`, `timeout`, ...).
    pub error_type: String,
    /// A one-line description, safe to show clients (never contains the API key).
    pub message: String,
    /// The OpenAI error `code`, when the upstream gave one.
    pub code: Option<String>,
}

impl UpstreamError {
    /// An error of an explicit type, without a code.
    pub fn new(status: u16, error_type: impl Into<String>, message: impl Into<String>) -> Self {
        UpstreamError { status, error_type: error_type.into(), message: message.into(), code: None }
    }

    /// An error whose type is the one OpenAI uses for `status` (see [`Self::type_for_status`]).
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        Self::new(status, Self::type_for_status(status), message)
    }

    /// The OpenAI error type that goes with an HTTP status, for errors that did not come
    /// with one of their own.
    pub fn type_for_status(status: u16) -> &'static str {
        crate::types::error_type_for_status(status)
    }
}

/// Every configured deployment, by the model name clients use.
///
/// All HTTP deployments share one pooled HTTP client per serving thread, so connections
/// (and TLS sessions) to the same upstream are reused across deployments and requests
/// on that thread, and a request never waits on a connection another thread drives.
#[derive(Debug)]
pub struct Upstreams {
    by_name: HashMap<String, Group>,
    /// Model names in config order, for listing.
    names: Vec<String>,
}

/// The deployments sharing one model name, with the round-robin cursor over them.
#[derive(Debug)]
struct Group {
    deployments: Vec<Arc<Deployment>>,
    next: AtomicUsize,
}

impl Upstreams {
    /// Builds every deployment of the configuration. Each thread's HTTP client is built
    /// at that thread's first upstream call.
    pub fn new(models: &[ModelDeployment], max_response_bytes: usize) -> Self {
        let mut clients = None;
        let mut by_name: HashMap<String, Group> = HashMap::new();
        let mut names = Vec::new();
        for model in models {
            let provider = match &model.provider {
                ProviderConfig::Mock(params) => Provider::Mock(MockProvider::new(params.clone())),
                ProviderConfig::OpenAi(params) => {
                    let clients = Arc::clone(clients.get_or_insert_with(Arc::default));
                    Provider::OpenAi(OpenAiProvider::new(clients, params, max_response_bytes))
                }
            };
            let deployment =
                Arc::new(Deployment { model_name: model.model_name.clone(), provider, price: model.price });
            let group = by_name.entry(model.model_name.clone()).or_insert_with(|| {
                names.push(model.model_name.clone());
                Group { deployments: Vec::new(), next: AtomicUsize::new(0) }
            });
            group.deployments.push(deployment);
        }
        Upstreams { by_name, names }
    }

    /// A deployment for `model_name`, or `None` when no deployment has that name.
    ///
    /// Several deployments with one name share its traffic round-robin.
    pub fn resolve(&self, model_name: &str) -> Option<Arc<Deployment>> {
        let group = self.by_name.get(model_name)?;
        // Relaxed is enough: the counter only spreads load, it orders nothing.
        let turn = group.next.fetch_add(1, Ordering::Relaxed);
        group.deployments.get(turn % group.deployments.len()).cloned()
    }

    /// True when `model_name` is configured.
    pub fn knows(&self, model_name: &str) -> bool {
        self.by_name.contains_key(model_name)
    }

    /// The configured model names, in config order and without duplicates (for
    /// `GET /v1/models`).
    pub fn model_names(&self) -> Vec<String> {
        self.names.clone()
    }
}

/// One configured deployment: a model name bound to the provider that serves it.
#[derive(Debug)]
pub struct Deployment {
    model_name: String,
    provider: Provider,
    price: Option<TokenPrice>,
}

/// The providers a deployment can use.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per deployment, made once from the config; a box would add a pointer to follow on every request"
)]
enum Provider {
    Mock(MockProvider),
    OpenAi(OpenAiProvider),
}

impl Deployment {
    /// The model name clients use to reach this deployment.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// The model name sent upstream: e.g. `gpt-4o-mini` for a deployment of
    /// `openai/gpt-4o-mini` (the config strips the prefix). The mock has no upstream name
    /// and reports the deployment's model name.
    pub fn upstream_model(&self) -> &str {
        match &self.provider {
            Provider::Mock(_) => &self.model_name,
            Provider::OpenAi(p) => p.model(),
        }
    }

    /// Its per-token prices, when configured.
    pub fn price(&self) -> Option<TokenPrice> {
        self.price
    }

    /// The upstream's API base URL as it may be shown (credentials in its userinfo or
    /// query redacted); `None` for the mock.
    pub fn api_base(&self) -> Option<&str> {
        match &self.provider {
            Provider::Mock(_) => None,
            Provider::OpenAi(p) => Some(p.api_base()),
        }
    }

    /// One non-streaming call.
    ///
    /// `body` is the client's (possibly hook-modified) request body, a JSON object; the
    /// HTTP provider sends it with `model` replaced by [`Self::upstream_model`], while the
    /// mock answers with the body's own `model`, as the client asked for it.
    pub async fn call(&self, call_type: CallType, body: &Value) -> Result<UpstreamResponse, UpstreamError> {
        self.call_traced(call_type, body, None, AnswerUse::Read).await
    }

    /// [`Self::call`], passing `traceparent` (W3C trace context) to an HTTP upstream, and
    /// parsing the answer by its `answer_use`.
    pub async fn call_traced(
        &self,
        call_type: CallType,
        body: &Value,
        traceparent: Option<&str>,
        answer_use: AnswerUse,
    ) -> Result<UpstreamResponse, UpstreamError> {
        match &self.provider {
            Provider::Mock(p) => p.call(call_type, body, &self.model_name).await,
            Provider::OpenAi(p) => p.call_traced(call_type, body, traceparent, answer_use).await,
        }
    }

    /// A streaming call (a chat or text completion with `stream: true`).
    ///
    /// Resolves once the upstream has answered with a success status, so failures before
    /// the first byte are an `Err` here and can still become a normal JSON error. The
    /// stream then yields each chunk as it arrives and ends before `[DONE]`.
    pub async fn stream(&self, call_type: CallType, body: &Value) -> Result<UpstreamStream, UpstreamError> {
        self.stream_traced(call_type, body, None, false).await
    }

    /// [`Self::stream`], passing `traceparent` (W3C trace context) to an HTTP upstream,
    /// and with `add_usage`, asking for the usage chunk (`stream_options.include_usage`)
    /// whatever the client asked: logging needs a stream's usage for its cost.
    pub async fn stream_traced(
        &self,
        call_type: CallType,
        body: &Value,
        traceparent: Option<&str>,
        add_usage: bool,
    ) -> Result<UpstreamStream, UpstreamError> {
        match &self.provider {
            Provider::Mock(p) => p.stream(call_type, body, &self.model_name, add_usage).await,
            Provider::OpenAi(p) => p.stream_traced(call_type, body, traceparent, add_usage).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{MockParams, OpenAiParams, Secret};
    use serde_json::json;

    fn mock(name: &str, response: &str) -> ModelDeployment {
        ModelDeployment {
            model_name: name.to_string(),
            provider: ProviderConfig::Mock(MockParams {
                response: Some(response.to_string()),
                latency: Duration::ZERO,
                stream_chunks: None,
                chunk_delay: Duration::ZERO,
                error: None,
            }),
            price: None,
        }
    }

    fn http(name: &str, model: &str) -> ModelDeployment {
        ModelDeployment {
            model_name: name.to_string(),
            provider: ProviderConfig::OpenAi(OpenAiParams {
                model: model.to_string(),
                api_base: "http://127.0.0.1:9/v1/".to_string(),
                api_key: Some(Secret::new("sk-secret")),
                timeout: Duration::from_secs(1),
                stream_timeout: None,
            }),
            price: None,
        }
    }

    async fn answer(d: &Deployment) -> String {
        let r = d.call(CallType::ChatCompletion, &json!({"messages": []})).await.unwrap();
        r.body.value()["choices"][0]["message"]["content"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn same_name_deployments_take_turns() {
        let ups = Upstreams::new(&[mock("m", "a"), mock("other", "x"), mock("m", "b")], 1 << 20);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(answer(&ups.resolve("m").unwrap()).await);
        }
        assert_eq!(seen, ["a", "b", "a", "b"]);
        assert_eq!(answer(&ups.resolve("other").unwrap()).await, "x");
    }

    #[test]
    fn unknown_model_is_none() {
        let ups = Upstreams::new(&[mock("m", "a")], 1 << 20);
        assert!(ups.resolve("nope").is_none());
    }

    #[test]
    fn model_names_in_config_order_without_duplicates() {
        let ups = Upstreams::new(&[mock("b", "1"), mock("a", "2"), mock("b", "3")], 1 << 20);
        assert_eq!(ups.model_names(), ["b", "a"]);
    }

    #[test]
    fn deployment_accessors() {
        let ups = Upstreams::new(
            &[
                mock("mock/echo", "x"),
                http("fast", "gpt-4o-mini"),
                // A model whose own name starts with `openai/` is sent as it is.
                http("local", "openai/gpt-oss-20b"),
            ],
            1 << 20,
        );
        let m = ups.resolve("mock/echo").unwrap();
        assert_eq!(m.model_name(), "mock/echo");
        assert_eq!(m.upstream_model(), "mock/echo");
        assert_eq!(m.api_base(), None);

        let h = ups.resolve("fast").unwrap();
        assert_eq!(h.model_name(), "fast");
        assert_eq!(h.upstream_model(), "gpt-4o-mini");
        assert_eq!(h.api_base(), Some("http://127.0.0.1:9/v1"));
        assert_eq!(ups.resolve("local").unwrap().upstream_model(), "openai/gpt-oss-20b");
    }

    #[test]
    fn debug_output_hides_the_api_key() {
        let ups = Upstreams::new(&[http("fast", "gpt-4o")], 1 << 20);
        assert!(!format!("{ups:?}").contains("sk-secret"));
    }

    #[test]
    fn error_types_follow_openai() {
        assert_eq!(UpstreamError::type_for_status(401), "authentication_error");
        assert_eq!(UpstreamError::type_for_status(422), "invalid_request_error");
        assert_eq!(UpstreamError::type_for_status(429), "rate_limit_error");
        assert_eq!(UpstreamError::type_for_status(503), "api_error");
        let e = UpstreamError::from_status(404, "no such model");
        assert_eq!(e.to_string(), "upstream error 404: no such model");
        assert_eq!(e.error_type, "not_found_error");
    }
}
