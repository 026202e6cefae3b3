//! The request lifecycle (`docs/architecture.md`, "A request"), from an authenticated,
//! checked client body to the reply:
//!
//! ```text
//! pre-call (sequential) ─▶ upstream call ∥ moderation (concurrent; a rejection cancels the call)
//!   ─▶ post-call-success (sequential)            or, streaming: stream-chunk per chunk ─▶ stream-end
//!   any error ─▶ post-call-failure (first rejection replaces the error)
//!   ─▶ log-success / log-failure through the bounded logging queue
//! ```
//!
//! - [`request`]: the checks a body passes before any hook sees it (with `shapes`, OpenAI's
//!   shapes of every text the model reads, and `crate::strict_json`, JSON without
//!   duplicate keys).
//! - `hook_runner`: one request's plugins, outcomes and `on_error`.
//! - `attribution`: whom a plugin fault is charged to (the plugin, or its input).
//! - [`disabling`]: which plugins a request runs without.
//! - `stream`: forwarding a streamed answer.
//! - [`logging`]: the logging payload and queue.
//! - `events`: SSE framing.

mod attribution;
pub mod disabling;
mod events;
mod hook_runner;
pub mod log_record;
pub mod logging;
mod plugin_calls;
pub mod recent;
pub mod request;
pub mod selection;
mod shapes;
mod stream;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::auth::Caller;
use crate::content::{Body, RequestDoc, ResponseDoc};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::plugins::registry::Registry;
use crate::plugins::Teardown;
use crate::types::{CallInfo, CallType, Hook, HookSet};
use crate::upstream::{answers, AnswerUse, UpstreamStream, Upstreams};
use attribution::ProbeShape;
use disabling::Disabled;
use hook_runner::{PreCallResult, RequestPlugins};
use log_record::LogRecord;
use logging::LoggingQueue;
pub use request::ClientBody;
use selection::{PluginPolicy, Selection};

/// A request that passed auth and the body checks.
pub struct ClientCall {
    /// The request id.
    pub id: Arc<str>,
    /// The endpoint it arrived on.
    pub call_type: CallType,
    /// The checked body.
    pub body: ClientBody,
    /// The client's headers as hooks see them (credentials removed, names lower-case).
    pub headers: Vec<(String, String)>,
    /// Who is calling.
    pub caller: Arc<Caller>,
    /// Plugin names the request's headers ask to disable (lower-case).
    pub disable: BTreeSet<String>,
    /// When the request arrived.
    pub received: Instant,
    /// What the request holds until it ends (a stream included).
    pub admission: Admission,
}

/// What a request holds from its admission to its end, a stream included: its place among
/// its key's `max_parallel_requests`, and its share of `max_inflight_request_mb`.
#[derive(Debug, Default)]
pub struct Admission {
    /// The key's and its team's places, when they have limits.
    pub parallel: crate::auth::Places,
    /// The body's share of the in-flight budget, in KiB.
    pub memory: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// What the client gets.
pub enum Reply {
    /// A JSON body with status 200 and extra headers.
    Json {
        /// The body (its JSON text is reused when a hook already made it).
        body: Arc<Body>,
        /// Headers from the upstream and the hooks.
        headers: Vec<(String, String)>,
    },
    /// An SSE stream: each item is one or more complete events.
    Stream {
        /// Headers from the upstream.
        headers: Vec<(String, String)>,
        /// The events, produced as the connection asks for them.
        events: stream::Events,
    },
}

/// The pipeline's answer to one request.
pub struct Answer {
    /// The reply, or the error the client gets.
    pub reply: Result<Reply, ApiError>,
    /// Time spent waiting for the upstream (up to the response head when streaming):
    /// everything else is the proxy's overhead.
    pub upstream_time: Duration,
}

/// Where the lifecycle ended before the reply is written.
enum Outcome {
    Complete(ResponseDoc),
    Respond {
        text: String,
        plugin: String,
    },
    /// A stream, and whether its upstream was asked for a usage chunk the client did not
    /// ask for (the log's alone).
    Stream {
        stream: crate::upstream::UpstreamStream,
        usage_added: bool,
    },
}

/// The request lifecycle, shared by every route.
pub struct Pipeline {
    upstreams: Upstreams,
    registry: Arc<Registry>,
    logging: LoggingQueue,
    rules: PipelineRules,
    metrics: Arc<Metrics>,
    policy: PluginPolicy,
    recent: Arc<recent::RecentEvents>,
    traces: crate::traces::Traces,
}

/// The request rules of `general_settings` and `litellm_settings` the pipeline applies.
#[derive(Debug, Clone, Copy)]
pub struct PipelineRules {
    /// What a body is checked against (again after pre-call edits).
    pub body: request::BodyRules,
    /// Requests may disable callbacks with `x-litellm-disable-callbacks`.
    pub allow_dynamic_callback_disabling: bool,
    /// Whether the console's recent decisions show rejection messages
    /// (`plugins.recent_messages`): a plugin may put prompt text in them.
    pub recent_messages: bool,
    /// Whether a stream's upstream call asks for the usage chunk the client did not, while
    /// a logging plugin runs (`general_settings.ask_stream_usage`).
    pub ask_stream_usage: bool,
}

impl Default for PipelineRules {
    fn default() -> Self {
        Self {
            recent_messages: false,
            body: request::BodyRules::default(),
            allow_dynamic_callback_disabling: true,
            ask_stream_usage: true,
        }
    }
}

/// The hooks that may still run on a request's way to the client once the upstream has
/// answered: the instances of other plugins are released before the upstream wait.
fn after_upstream(stream: bool) -> HookSet {
    if stream {
        HookSet::from_iter([Hook::StreamChunk, Hook::StreamEnd])
    } else {
        HookSet::from_iter([Hook::PostCallSuccess])
    }
}

impl Pipeline {
    /// A pipeline calling `upstreams` with the plugins of `registry`, counting in `metrics`.
    pub fn new(
        upstreams: Upstreams,
        registry: Arc<Registry>,
        logging: LoggingQueue,
        rules: PipelineRules,
        metrics: Arc<Metrics>,
    ) -> Self {
        let recent = Arc::new(recent::RecentEvents::new(rules.recent_messages));
        let traces = crate::traces::Traces::default();
        Self { upstreams, registry, logging, rules, metrics, policy: PluginPolicy::default(), recent, traces }
    }

    /// The pipeline recording each request as a trace in `traces`.
    pub fn with_traces(mut self, traces: crate::traces::Traces) -> Self {
        self.traces = traces;
        self
    }

    /// The traces requests are recorded in.
    pub fn traces(&self) -> &crate::traces::Traces {
        &self.traces
    }

    /// The most recent hook decisions and faults, for the console.
    pub fn recent(&self) -> &Arc<recent::RecentEvents> {
        &self.recent
    }

    /// The pipeline with `policy` deciding which plugins each request runs (the default:
    /// every plugin, for every request).
    pub fn with_policy(mut self, policy: PluginPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Which plugins run by default, the guardrails, and their modes.
    pub fn policy(&self) -> &PluginPolicy {
        &self.policy
    }

    /// The configured models.
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// The plugin registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The logging queue (for its counters).
    pub fn logging(&self) -> &LoggingQueue {
        &self.logging
    }

    /// What client bodies are checked against.
    pub fn body_rules(&self) -> request::BodyRules {
        self.rules.body
    }

    /// Runs one request through the lifecycle.
    pub async fn handle(&self, call: ClientCall) -> Answer {
        let ClientCall { id, call_type, body, headers, caller, disable, received, admission } = call;
        let plugins_now = self.registry.snapshot();
        let asked_off = !disable.is_empty();
        let disabled = self.disabled(&caller, disable.clone());
        let selection = match Selection::new(&self.policy, &caller, disabled, &body.guardrails, &plugins_now) {
            Ok(selection) => selection,
            Err(error) => return Answer { reply: Err(error), upstream_time: Duration::ZERO },
        };
        if asked_off || !selection.asked().is_empty() {
            tracing::info!(
                target: "hookgate::audit",
                request_id = &*id,
                key_alias = caller.key.alias.as_deref().unwrap_or("-"),
                team_id = caller.key.team_id.as_deref().unwrap_or("-"),
                asked_off = ?disable,
                asked_on = ?selection.asked(),
                plugins = ?selection.names(&plugins_now),
                "a request chose its plugins"
            );
        }
        let info = CallInfo {
            id: Arc::clone(&id),
            call_type,
            key: Arc::clone(&caller.key),
            stream: body.stream,
            lowered: Default::default(),
        };
        let asked = Asked { model: body.model().to_owned(), stream: body.stream };
        let policy = self.registry.policy();
        let trace = self.traces.request(call_type.route(), &id, &headers);
        let configured = self.upstreams.knows(&asked.model).then_some(asked.model.as_str());
        let shape = ProbeShape::new(call_type, configured);
        let mut plugins = RequestPlugins::new(&plugins_now, &info, shape, received, policy, &selection)
            .with_recent(&self.recent)
            .with_trace(trace);
        drop(selection);
        let mut request = RequestDoc::new(body.fields, body.size, headers);
        let mut log = LogRecord::start(&info, &request, received.elapsed());
        if plugins.logs() {
            log.plugins(plugins.names());
        }
        let mut upstream_time = Duration::ZERO;
        let outcome = self.run(&mut plugins, &mut request, &caller, &mut log, &mut upstream_time).await;
        let reply = match outcome {
            Ok(Outcome::Stream { stream: UpstreamStream { headers, chunks }, usage_added }) => {
                let logging = self.logging.clone();
                let job = stream::StreamJob { plugins, request, log, chunks, logging, admission, usage_added };
                job.plugins.trace().status(200);
                return Answer { reply: Ok(Reply::Stream { headers, events: stream::events(job) }), upstream_time };
            }
            Ok(Outcome::Complete(response)) => {
                log.answered(&response);
                Ok(Reply::Json { body: response.body, headers: response.headers })
            }
            Ok(Outcome::Respond { text, plugin }) => match respond(call_type, &id, &asked, &text) {
                Some(reply) => {
                    log.answered_text(text);
                    Ok(reply)
                }
                None => {
                    let rejection = crate::plugins::Rejection { status: 400, message: text, code: None };
                    Err(ApiError::rejected(&plugin, &rejection))
                }
            },
            Err(error) => Err(error),
        };
        let reply = match reply {
            Ok(reply) => Ok(reply),
            Err(error) => {
                let error = plugins.post_call_failure(&request, error).await;
                log.failed(&error);
                Err(error)
            }
        };
        plugins.trace().status(match &reply {
            Ok(_) => 200,
            Err(error) => error.status,
        });
        let (decisions, loggers, instances) = plugins.finish_handing_over(log.hook());
        self.logging.submit(log, decisions, loggers);
        tear_down_later(instances);
        Answer { reply, upstream_time }
    }

    async fn run(
        &self,
        plugins: &mut RequestPlugins,
        request: &mut RequestDoc,
        caller: &Caller,
        log: &mut LogRecord,
        upstream_time: &mut Duration,
    ) -> Result<Outcome, ApiError> {
        let call_type = plugins.info().call_type;
        if let Some(error) = unreadable(plugins, request) {
            return Err(error);
        }
        // Before any plugin works on it: a request for a model its key may not use is
        // refused whatever the plugins would do, so it buys no plugin's work.
        may_use(caller, request.model())?;
        let stream = match plugins.pre_call(request).await? {
            PreCallResult::Respond { text, plugin } => return Ok(Outcome::Respond { text, plugin }),
            PreCallResult::Proceed { modified: false } => plugins.info().stream,
            // Hooks rewrote the body: it must still be a valid request.
            PreCallResult::Proceed { modified: true } => request::check(call_type, request.fields(), self.rules.body)
                .map_err(|mut error| {
                error.message = format!("After the pre-call hooks: {}", error.message);
                error
            })?,
        };
        let model = request.model().to_owned();
        // Again, as the hooks left it: a pre-call hook may have changed the model.
        may_use(caller, &model)?;
        let deployment = self.upstreams.resolve(&model).ok_or_else(|| self.unknown_model(&model, caller))?;
        log.sent(request);
        log.routed(deployment.upstream_model(), deployment.api_base(), deployment.price());
        let request = &*request;
        let upstream_body = request.body.value();
        let after = after_upstream(stream);
        plugins.release_unless(after.with(Hook::Moderation));
        let traced = plugins.trace().upstream(deployment.upstream_model());
        let traceparent = traced.traceparent.clone();
        if stream {
            let add_usage = self.rules.ask_stream_usage && stream::adds_usage(plugins, request);
            let streamed = deployment.stream_traced(call_type, upstream_body, traceparent.as_deref(), add_usage);
            let started = stream::timed(streamed);
            let (chunks, elapsed) = plugins.moderate_while(request, after, started).await?;
            *upstream_time = elapsed;
            self.metrics.upstream_call(&model, elapsed);
            traced.end(chunks.is_ok());
            return Ok(Outcome::Stream { stream: chunks?, usage_added: add_usage });
        }
        let answer_use = if plugins.implements(Hook::PostCallSuccess) || plugins.logs() {
            AnswerUse::Read
        } else {
            AnswerUse::Passed
        };
        let answered =
            stream::timed(deployment.call_traced(call_type, upstream_body, traceparent.as_deref(), answer_use));
        let (response, elapsed) = plugins.moderate_while(request, after, answered).await?;
        *upstream_time = elapsed;
        self.metrics.upstream_call(&model, elapsed);
        traced.end(response.is_ok());
        let response = response?;
        // Unless a hook edits it, the client gets the upstream's own text, not a second
        // serialization: the strict check refused any text that parsers read two ways, so
        // it means what the hooks read. An edit makes a new body.
        let mut response =
            ResponseDoc { status: response.status, body: Arc::new(response.body), headers: response.headers };
        plugins.post_call_success(request, &mut response).await?;
        Ok(Outcome::Complete(response))
    }

    /// The plugins this request runs without, by the caller's config and its header.
    fn disabled(&self, caller: &Caller, asked: BTreeSet<String>) -> Disabled {
        if asked.is_empty() && caller.disabled_callbacks.is_empty() {
            return Disabled::default();
        }
        Disabled::new(asked, caller, self.rules.allow_dynamic_callback_disabling)
    }

    /// The unknown-model error, listing only the models this caller may use: a key
    /// restricted to a few must not learn the rest of the deployment.
    fn unknown_model(&self, model: &str, caller: &Caller) -> ApiError {
        let known: Vec<String> = self.upstreams.model_names().into_iter().filter(|name| caller.may_use(name)).collect();
        let known = known.join(", ");
        ApiError {
            code: Some("model_not_found".into()),
            ..ApiError::bad_request(format!("Invalid model name passed in model={model}. Available models: {known}"))
                .with_param("model")
        }
    }
}

/// Refuses a model outside the key's own list. It comes before the model is looked up, so
/// a model outside the list is refused alike whether the config serves it or not, and a
/// narrow key learns nothing of the others.
fn may_use(caller: &Caller, model: &str) -> Result<(), ApiError> {
    if caller.may_use(model) {
        return Ok(());
    }
    Err(ApiError::new(403, format!("This key is not allowed to use model `{model}`.")).with_param("model"))
}

/// Releases a finished request's instances. A reused plugin's goes back to its warm pool
/// here and now, ready for the next request; the fresh ones are torn down on a task of
/// their own, so the answer does not wait for them ([`Teardown`]): with five fresh Rust
/// plugins, about a tenth of a request's CPU, measured (BENCHMARKS.md).
fn tear_down_later(instances: Vec<crate::plugins::PluginInstance>) {
    let mut teardown = Teardown::default();
    for mut instance in instances {
        instance.release_into(&mut teardown);
    }
    teardown.later();
}

/// What the client asked for, as it arrived (a `respond` answer follows it).
struct Asked {
    model: String,
    stream: bool,
}

/// The refusal of a request its plugins could only let through unread: text given as
/// token ids to plugins that check requests, or several streamed choices to plugins that
/// check streams (a chunk carries one choice, always first in its `choices`, so hooks
/// could not tell the choices' texts apart, and a keyword split across one choice's
/// chunks would be missed).
fn unreadable(plugins: &RequestPlugins, request: &RequestDoc) -> Option<ApiError> {
    let fields = request.fields();
    if plugins.implements(Hook::PreCall) || plugins.implements(Hook::Moderation) {
        if let Some(field) = shapes::token_ids(fields) {
            let why =
                format!("`{field}` is given as token ids, which this proxy's guardrails cannot read: send it as text.");
            return Some(ApiError::bad_request(why).with_param(field));
        }
    }
    let checks_streams = plugins.implements(Hook::StreamChunk) || plugins.implements(Hook::StreamEnd);
    if plugins.info().stream && checks_streams {
        if let Some(field) = shapes::several_choices(fields) {
            let why = format!(
                "Streaming several choices (`n` other than 1, or several prompts) cannot be checked by this proxy's \
                 stream guardrails: ask for one, or without `stream` (`{field}`)."
            );
            return Some(ApiError::bad_request(why).with_param(field));
        }
    }
    None
}

/// A `respond(text)` answer: a completion (streamed if asked), or `None` for call types
/// that have no text answer.
fn respond(call_type: CallType, id: &str, asked: &Asked, text: &str) -> Option<Reply> {
    if call_type == CallType::Embedding {
        return None;
    }
    if asked.stream {
        let answer_id = answers::id(call_type, id);
        let mut frames: Vec<Bytes> = answers::chunks(call_type, &answer_id, &asked.model, &[text], None)
            .iter()
            .map(|chunk| events::data(&chunk.to_string()))
            .collect();
        frames.push(events::done());
        return Some(Reply::Stream { headers: vec![], events: stream::canned(frames) });
    }
    let body = answers::completion(call_type, &answers::id(call_type, id), &asked.model, text, 0);
    Some(Reply::Json { body: Arc::new(Body::measured(body)), headers: vec![] })
}

/// The proxy's overhead: a request's time so far, less the time spent on the upstream.
pub fn overhead(started: Instant, upstream_time: Duration) -> Duration {
    started.elapsed().saturating_sub(upstream_time)
}
