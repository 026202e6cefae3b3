//! The HTTP server: routes, shared state, and start-up from a config.
//!
//! - [`openai`]: the OpenAI-compatible routes.
//! - [`admin`]: the management routes (master key only).
//! - [`blocked_users`]: LiteLLM's `/user/block` and `/user/unblock` (master key only).
//! - [`listener`]: accepting connections under the server's limits.
//! - [`stamp`]: the request id and overhead headers, on every response.
//! - health and `/metrics` live here: they are a few lines each.

pub mod admin;
pub mod blocked_users;
pub mod console;
pub mod listener;
pub mod openai;
mod serving;
pub mod stamp;
mod write_timeout;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde_json::json;

use crate::auth::KeyStore;
use crate::capabilities::kv::{Kv, KvQuota, Reachability};
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::{self, Metrics, Snapshot};
use crate::pipeline::logging::LoggingQueue;
use crate::pipeline::{Pipeline, PipelineRules};
use crate::plugins::directory::{self, PluginDirectory};
use crate::plugins::registry::{PluginSet, QuarantinePolicy, Registry};
use crate::plugins::sources::RegistrySources;
use crate::plugins::{EngineOptions, GuestProfiler, PluginEngine};
use crate::upstream::Upstreams;

/// What every handler shares.
pub struct AppState {
    /// The request lifecycle.
    pub pipeline: Pipeline,
    /// The accepted keys.
    pub keys: KeyStore,
    /// Largest accepted request body, in bytes.
    pub max_request_bytes: usize,
    /// The plugin directory, when the config names one.
    pub directory: Option<Arc<PluginDirectory>>,
    /// Whether `GET /metrics` asks for a key.
    pub metrics_need_auth: bool,
    /// The plugins' kv store, for readiness and metrics.
    pub kv: Kv,
    /// The plugin engine, for its pool's figures.
    pub engine: PluginEngine,
    /// True when the proxy listens on a loopback address only: then, and only then, the
    /// admin routes answer without a master key when auth is off.
    pub loopback_only: bool,
    /// How long reading a request body may take.
    pub body_read_timeout: Duration,
    /// The open and refused connections.
    pub connections: Arc<listener::ConnectionStats>,
    /// The in-flight budget of request bodies, in KiB (`max_inflight_request_mb`).
    pub inflight: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Builds everything `config` describes for a proxy listening on `address`: the
    /// engine, the plugins (loaded now; a plugin that cannot load stops the start), the
    /// upstreams, the logging queue.
    pub async fn from_config(config: &Config, address: SocketAddr) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new());
        let options = EngineOptions {
            max_instances: config.plugins.max_instances,
            instance_wait: config.plugins.instance_wait,
            cache_dir: config.plugins.cache_dir.clone(),
            cache_max_bytes: config.plugins.cache_max_bytes,
            keep_resident_bytes: config.plugins.keep_resident_bytes,
            outbound_meters: metrics.outbound(),
            profiler: GuestProfiler::from_env().map_err(anyhow::Error::msg)?,
            ..EngineOptions::default()
        };
        let kv = kv_store(config).await?;
        let engine = PluginEngine::new(options, kv.clone())?;
        let policy = QuarantinePolicy {
            after_faults: config.plugins.quarantine_after,
            cooldown: config.plugins.quarantine_cooldown,
        };
        let registry = Arc::new(Registry::new(PluginSet::default(), policy));
        if config.key_id_secret.is_none() && config.master_key.as_ref().is_some_and(|key| key.expose().len() < 32) {
            tracing::warn!(
                "general_settings.key_id_secret is not set and the master key is short: key ids derive from the \
                 master key, so a plugin that sees the master key's id can test guesses at it offline; set \
                 key_id_secret (e.g. os.environ/HOOKGATE_KEY_ID_SECRET) or use a long random master key"
            );
        }
        let has_sources = !config.plugins.registry.sources.is_empty();
        if config.plugins.registry.trust.is_none() && (config.plugins.dir.is_some() || has_sources) {
            tracing::warn!("plugins.trust is not set: plugins are not verified (any component in the directory or at a source runs)");
        }
        let directory = if config.plugins.dir.is_some() || has_sources {
            let sources = Arc::new(RegistrySources::new(&config.plugins.registry, config.plugins.cache_dir.as_deref()));
            let directory = PluginDirectory::new(
                engine.clone(),
                config.plugins.dir.clone(),
                Arc::clone(&sources),
                config.callbacks.clone(),
                config.plugins.clone(),
                Arc::clone(&registry),
                Arc::clone(&metrics),
            );
            let directory = Arc::new(start_directory(directory).await?);
            keep_current(&directory, config.plugins.watch)?;
            let polled = Arc::clone(&directory);
            sources.poll(move || {
                let directory = Arc::clone(&polled);
                async move {
                    if let Err(error) = directory.rescan(directory::Trigger::Watch).await {
                        tracing::error!(%error, "plugin rescan after a source changed failed");
                    }
                }
            });
            Some(directory)
        } else if config.callbacks.as_ref().is_some_and(|names| !names.is_empty()) {
            anyhow::bail!("litellm_settings.callbacks names plugins, but neither plugins.dir nor plugins.sources is set: where are they?")
        } else {
            None
        };
        tracing::info!(
            plugins = ?registry.snapshot().iter().map(|p| p.name().to_owned()).collect::<Vec<_>>(),
            "plugins active"
        );
        let logging = LoggingQueue::new(config.plugins.logging_queue, config.plugins.max_logged_field_bytes, policy);
        let rules = PipelineRules {
            body: crate::pipeline::request::BodyRules {
                enforce_user_param: config.enforce_user_param,
                max_messages: config.max_request_messages,
            },
            allow_dynamic_callback_disabling: config.allow_dynamic_callback_disabling,
            recent_messages: config.plugins.recent_messages,
            ask_stream_usage: config.ask_stream_usage,
        };
        let upstreams = Upstreams::new(&config.models, config.max_upstream_response_bytes);
        let traces = match &config.traces {
            Some(traces) => {
                tracing::info!(endpoint = %traces.endpoint, sample_ratio = traces.sample_ratio, "exporting traces (OTLP/HTTP)");
                let traces = traces.clone();
                tokio::task::spawn_blocking(move || crate::traces::Traces::start(&traces)).await??
            }
            None => crate::traces::Traces::default(),
        };
        let pipeline = Pipeline::new(upstreams, registry, logging, rules, metrics)
            .with_policy(crate::pipeline::selection::PluginPolicy::from_config(config))
            .with_traces(traces);
        let keys = KeyStore::from_config(config);
        let loopback_only = address.ip().is_loopback();
        if !keys.enabled() {
            let admin =
                if loopback_only { "served on this loopback address only" } else { "refused (not a loopback bind)" };
            tracing::warn!(
                "general_settings.master_key is not set: every request is accepted without a key; admin routes are {admin}"
            );
        }
        Ok(Self {
            pipeline,
            keys,
            max_request_bytes: config.max_request_size_bytes,
            directory,
            metrics_need_auth: config.require_auth_for_metrics_endpoint,
            kv,
            engine,
            loopback_only,
            body_read_timeout: config.server.body_read_timeout,
            connections: Arc::default(),
            inflight: Arc::new(tokio::sync::Semaphore::new(config.max_inflight_request_bytes.div_ceil(1024))),
        })
    }
}

/// How long readiness and start-up wait for Redis to answer a `PING`.
const REDIS_CHECK: Duration = Duration::from_secs(1);

/// The kv store `config` asks for. Redis being down does not stop the start (the
/// plugins' `on_error` covers it, as for an outage later on); a `redis_url` that is not
/// one does.
async fn kv_store(config: &Config) -> anyhow::Result<Kv> {
    let quota = KvQuota { max_entries: config.plugins.kv_max_entries, max_bytes: config.plugins.kv_max_bytes };
    let Some(url) = &config.redis_url else {
        return Ok(Kv::in_memory_with(quota));
    };
    let kv = Kv::redis(url.expose(), &config.redis_prefix, quota)?;
    match kv.check(REDIS_CHECK).await {
        Reachability::Unreachable { .. } => {} // the store has logged it
        _ => tracing::info!("plugins' kv store: redis"),
    }
    Ok(kv)
}

/// Loads the directory for the first time, strictly: a plugin that cannot load stops the
/// start (a proxy missing a configured guardrail must not serve silently without it).
/// Later rescans keep the old version of a plugin that fails instead.
async fn start_directory(directory: PluginDirectory) -> anyhow::Result<PluginDirectory> {
    let report = directory.rescan(directory::Trigger::Explicit).await?;
    if !report.failed.is_empty() {
        let lines: Vec<String> = report.failed.iter().map(|(name, why)| format!("  plugin `{name}`: {why}")).collect();
        anyhow::bail!("plugins could not be loaded:\n{}", lines.join("\n"));
    }
    Ok(directory)
}

/// Starts the watcher and the SIGHUP handler for `directory`.
fn keep_current(directory: &Arc<PluginDirectory>, watch: bool) -> anyhow::Result<()> {
    if watch {
        directory::watch(Arc::clone(directory))
            .map_err(|error| anyhow::anyhow!("cannot watch the plugin directory: {error}"))?;
    }
    let directory = Arc::clone(directory);
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: rescanning the plugin directory");
            if let Err(error) = directory.rescan(directory::Trigger::Explicit).await {
                tracing::error!(%error, "plugin directory rescan failed");
            }
        }
    });
    Ok(())
}

/// The router for `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", only(Method::POST, post(openai::chat_completions)))
        .route("/chat/completions", only(Method::POST, post(openai::chat_completions)))
        .route("/v1/completions", only(Method::POST, post(openai::completions)))
        .route("/completions", only(Method::POST, post(openai::completions)))
        .route("/v1/embeddings", only(Method::POST, post(openai::embeddings)))
        .route("/embeddings", only(Method::POST, post(openai::embeddings)))
        .route("/v1/models", only(Method::GET, get(openai::models)))
        .route("/models", only(Method::GET, get(openai::models)))
        .route("/callbacks/list", only(Method::GET, get(admin::callbacks_list)))
        .route("/plugins", only(Method::GET, get(admin::plugins)))
        .route("/guardrails/list", only(Method::GET, get(admin::guardrails_list)))
        .route("/plugins/reload", only(Method::POST, post(admin::reload)))
        .route("/plugins/{name}/quarantine", only(Method::POST, post(console::quarantine)))
        .route("/plugins/{name}/release", only(Method::POST, post(console::release)))
        .route("/plugins/{name}/settings", only(Method::PUT, axum::routing::put(console::upload_settings)))
        .route("/plugins/{name}", only(Method::PUT, axum::routing::put(console::upload)))
        .route("/ui", only(Method::GET, get(console::page)))
        .route("/ui/", only(Method::GET, get(console::page)))
        .route("/ui/console.js", only(Method::GET, get(console::script)))
        .route("/ui/api/events", only(Method::GET, get(console::events)))
        .route("/user/block", only(Method::POST, post(blocked_users::block)))
        .route("/customer/block", only(Method::POST, post(blocked_users::block)))
        .route("/user/unblock", only(Method::POST, post(blocked_users::unblock)))
        .route("/customer/unblock", only(Method::POST, post(blocked_users::unblock)))
        .route("/health/liveliness", only(Method::GET, get(liveliness)))
        .route("/health/liveness", only(Method::GET, get(liveliness)))
        .route("/health/readiness", only(Method::GET, get(readiness)))
        .route("/metrics", only(Method::GET, get(prometheus_metrics)))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(stamp::stamp))
        .with_state(state)
}

/// A route answering 405 in OpenAI's error shape for any method but `method`.
fn only(method: Method, route: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    route.fallback(move || async move {
        ApiError::new(405, format!("Method not allowed: this route accepts {method} only."))
    })
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(404, format!("Unknown route: {method} {}", uri.path()))
}

async fn liveliness() -> Json<&'static str> {
    Json("I'm alive!")
}

async fn readiness(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let plugins = state.pipeline.registry().snapshot();
    let mut body = json!({
        "status": "healthy",
        "version": env!("CARGO_PKG_VERSION"),
        "plugins": plugins.len(),
        "models": state.pipeline.upstreams().model_names().len(),
        "logging_queue_depth": state.pipeline.logging().depth(),
        "kv": state.kv.backend_name(),
    });
    // Redis being down leaves the proxy ready: a load balancer pulling every replica
    // at once would turn a Redis outage into a full one. Each plugin's on_error decides
    // what an outage means for its requests; readiness reports it.
    match state.kv.check(REDIS_CHECK).await {
        Reachability::Local => {}
        Reachability::Connected => body["redis"] = json!("connected"),
        Reachability::Unreachable { error, for_ } => {
            body["redis"] = json!("unreachable");
            body["redis_error"] = json!(error);
            body["redis_down_for_s"] = json!(for_.as_secs());
        }
    }
    Json(body)
}

/// `GET /metrics`: Prometheus metrics in the OpenMetrics text format. Open unless
/// `require_auth_for_metrics_endpoint` is set; then any valid key may read it.
async fn prometheus_metrics(State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    if state.metrics_need_auth {
        if let Err(error) = state.keys.authenticate(&headers) {
            return ApiError::new(401, error.to_string()).into_response();
        }
    }
    let read_state = || {
        let plugins = state.pipeline.registry().snapshot();
        let logging = state.pipeline.logging();
        Snapshot {
            logging_queue_depth: logging.depth(),
            logging_dropped: logging.dropped(),
            plugins_active: plugins.len(),
            plugins_quarantined: plugins.iter().filter(|p| p.health.quarantined_for().is_some()).count(),
            plugins_failed: state.directory.as_ref().map_or(0, |directory| directory.failures().len()),
            redis_up: match state.kv.last_known() {
                Reachability::Local => None,
                Reachability::Connected => Some(true),
                Reachability::Unreachable { .. } => Some(false),
            },
            plugin_instances: state.engine.live_instances(),
            instance_overloads: state.engine.overloads(),
            connections_open: state.connections.open(),
            connections_refused: state.connections.refused(),
        }
    };
    let body = state.pipeline.metrics().render(read_state);
    ([(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}

/// How long a shutdown waits, once its connections have closed, for the logging hooks of
/// requests already answered.
const LOGGING_GRACE: Duration = Duration::from_secs(10);

/// Serves `config` on `address` until ctrl-c or SIGTERM, then lets the requests in flight
/// finish and their logging hooks run (each bounded) before it returns. Prints the bound
/// address on stdout (useful with port 0).
pub async fn serve(config: &Config, address: SocketAddr) -> anyhow::Result<()> {
    let state = Arc::new(AppState::from_config(config, address).await?);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {address}: {error}"))?;
    let bound = listener.local_addr()?;
    let shutdown = shutdown_signal();
    println!("hookgate listening on http://{bound}");
    tracing::info!(%bound, "listening");
    let connections = Arc::clone(&state.connections);
    let traces = state.pipeline.traces().clone();
    let logging = state.pipeline.logging().clone();
    let idle_threads = logging.idle_threads();
    let logged = async move {
        if tokio::time::timeout(LOGGING_GRACE, logging.settled()).await.is_err() {
            tracing::warn!(
                unfinished = logging.unfinished(),
                "logging hooks still running after the shutdown grace period; their requests go unlogged"
            );
        }
    };
    listener::serve(listener, router(state), config.server, connections, shutdown, logged, &idle_threads)
        .await
        .map_err(|error| anyhow::anyhow!("cannot start the serving threads: {error}"))?;
    // The last batch of spans, sent off the async runtime (the exporter blocks).
    let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT. Both are taken over here, when it is called, not when
/// the future is first polled: the accept loop may not poll it before answering the first
/// requests, and a SIGTERM arriving before then would kill the proxy with its logging
/// hooks unrun (a suite test saw that on a loaded machine).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let received = |handler: std::io::Result<tokio::signal::unix::Signal>| async move {
            match handler {
                Ok(mut handler) => {
                    handler.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = received(terminate) => {}
            () = received(interrupt) => {}
        }
        tracing::info!("shutting down");
    }
}
