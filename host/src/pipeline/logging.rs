//! The logging hooks: the standard logging payload, and the bounded queue that runs
//! `log-success`/`log-failure` off the response path.
//!
//! The response never waits for logging: a request's logging job is queued with
//! `try_send`, and when the queue is full the job is dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, Semaphore};

use super::attribution::{self, ProbeShape};
use super::hook_runner::{DecisionRecord, RequestPlugins};
use crate::config::TokenPrice;
use crate::error::ApiError;
use crate::plugins::registry::{ActivePlugin, CallEnd, QuarantinePolicy};
use crate::plugins::{CallType, Hook, HookError, KeyInfo};

/// How many logging jobs run at once; more wait in the queue.
const CONCURRENT_JOBS: usize = 64;

/// The standard logging payload: what `log-success` and `log-failure` receive, as JSON.
/// Documented field by field in `docs/logging-payload.md`: keep the two in step.
#[derive(Debug, Clone, Serialize)]
pub struct LogPayload {
    /// The request id (also in the proxy's logs and the `x-hookgate-request-id` header).
    pub id: String,
    /// `chat_completion`, `text_completion` or `embedding`.
    pub call_type: &'static str,
    /// The model the client asked for.
    pub model: String,
    /// The model sent upstream, once one was chosen.
    pub model_used: Option<String>,
    /// The upstream's base URL (`None` for the mock provider).
    pub api_base: Option<String>,
    /// The caller's key alias.
    pub key_alias: Option<String>,
    /// SHA-256 of the caller's key.
    pub key_hash: String,
    /// The user id configured for the key.
    pub user: Option<String>,
    /// The team id configured for the key.
    pub team: Option<String>,
    /// The key's metadata.
    pub metadata: Value,
    /// The body's `user` field, if the client sent one.
    pub end_user: Option<String>,
    /// The messages (chat), prompt (text) or input (embeddings) sent upstream.
    pub messages: Value,
    /// Whether the answer was streamed.
    pub stream: bool,
    /// The response body, or for streams the assembled assistant text.
    pub response: Value,
    /// Token usage, when the upstream reported it.
    pub usage: Value,
    /// Cost of the call in USD from the model's configured per-token prices and `usage`;
    /// null when either is missing.
    pub response_cost: Option<f64>,
    /// Unix time (seconds) the request arrived.
    pub start_time: f64,
    /// Unix time (seconds) the answer was complete.
    pub end_time: f64,
    /// Unix time (seconds) of the first streamed chunk; for a non-streamed success, the
    /// end time (as LiteLLM); null on failure before any chunk.
    pub completion_start_time: Option<f64>,
    /// `success` or `failure`.
    pub status: &'static str,
    /// The HTTP status the client got.
    pub status_code: u16,
    /// The error the client got, on failure: `{type, message, code, rejected_by}`.
    pub error: Option<Value>,
    /// Every plugin decision of the request, in order.
    pub plugins: Vec<DecisionRecord>,
    /// The fields cut to `plugins.max_logged_field_bytes` (`messages`, `response`,
    /// `error.message`); empty when nothing was cut.
    pub truncated: Vec<&'static str>,
    /// False when no plugin logs: the request's content is then not copied.
    #[serde(skip)]
    keep_content: bool,
    /// The endpoint, for probing a logging hook that faults.
    #[serde(skip)]
    call: CallType,
    /// The prices of the model used, for `response_cost`.
    #[serde(skip)]
    price: Option<TokenPrice>,
}

/// Unix time in seconds.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl LogPayload {
    /// A payload for a request that arrived `age` ago; the pipeline fills in the rest.
    /// Without `keep_content` (no plugin logs), messages and responses are not copied.
    pub fn start(
        id: &str,
        call_type: CallType,
        body: &serde_json::Map<String, Value>,
        key: &KeyInfo,
        age: std::time::Duration,
        keep_content: bool,
    ) -> Self {
        Self {
            id: id.to_owned(),
            call_type: match call_type {
                CallType::ChatCompletion => "chat_completion",
                CallType::TextCompletion => "text_completion",
                CallType::Embedding => "embedding",
            },
            model: body.get("model").and_then(Value::as_str).unwrap_or_default().to_owned(),
            model_used: None,
            api_base: None,
            key_alias: key.alias.clone(),
            key_hash: key.hash.clone(),
            user: key.user_id.clone(),
            team: key.team_id.clone(),
            metadata: serde_json::from_str(&key.metadata).unwrap_or(Value::Null),
            end_user: body.get("user").and_then(Value::as_str).map(str::to_owned),
            messages: if keep_content { input_of(body) } else { Value::Null },
            stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
            response: Value::Null,
            usage: Value::Null,
            response_cost: None,
            start_time: unix_now() - age.as_secs_f64(),
            end_time: 0.0,
            completion_start_time: None,
            status: "success",
            status_code: 200,
            error: None,
            plugins: Vec::new(),
            truncated: Vec::new(),
            keep_content,
            call: call_type,
            price: None,
        }
    }

    /// Records the deployment chosen: the model sent upstream, where, and its prices.
    pub fn routed(&mut self, model_used: &str, api_base: Option<&str>, price: Option<TokenPrice>) {
        self.model_used = Some(model_used.to_owned());
        self.api_base = api_base.map(str::to_owned);
        self.price = price;
    }

    /// Records the body finally sent upstream (after pre-call edits).
    pub fn sent(&mut self, body: &serde_json::Map<String, Value>) {
        if self.keep_content {
            self.messages = input_of(body);
        }
    }

    /// Records a complete answer and its usage.
    pub fn answered(&mut self, body: &Value) {
        self.usage = body.get("usage").cloned().unwrap_or(Value::Null);
        if self.keep_content {
            self.response = body.clone();
        }
    }

    /// Records an answer's assistant text (a stream's assembled text, a `respond`).
    pub fn answered_text(&mut self, text: String) {
        if self.keep_content {
            self.response = Value::String(text);
        }
    }

    /// Marks the request failed with `error`.
    pub fn failed(&mut self, error: &ApiError) {
        self.status = "failure";
        self.status_code = error.status;
        self.error = Some(serde_json::json!({
            "type": error.error_type, "message": error.message, "code": error.code, "rejected_by": error.rejected_by,
        }));
    }
}

/// Cuts `value` to `max` bytes of JSON when it is longer: it becomes a string holding the
/// start of its JSON text. True when it was cut.
fn truncate(value: &mut Value, max: usize) -> bool {
    let text = match &mut *value {
        Value::Null => return false,
        Value::String(text) if text.len() <= max => return false,
        Value::String(text) => std::mem::take(text),
        other => {
            let text = other.to_string();
            if text.len() <= max {
                return false;
            }
            text
        }
    };
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    *value = Value::String(text[..end].to_owned());
    true
}

fn input_of(body: &serde_json::Map<String, Value>) -> Value {
    ["messages", "prompt", "input"].iter().find_map(|field| body.get(*field)).cloned().unwrap_or(Value::Null)
}

/// One request's logging work: its payload and the plugins that log it (each gets a
/// fresh instance when the job runs: no pool slot is held while the job waits).
struct LogJob {
    payload: LogPayload,
    plugins: Vec<Arc<ActivePlugin>>,
}

/// The bounded queue in front of the logging hooks. Cheap to clone.
#[derive(Clone)]
pub struct LoggingQueue {
    sender: mpsc::Sender<LogJob>,
    dropped: Arc<AtomicU64>,
    max_field_bytes: usize,
}

impl LoggingQueue {
    /// A queue holding up to `capacity` jobs, drained by a background task (which stops
    /// when the last queue handle is dropped). Payload fields longer than
    /// `max_field_bytes` are truncated.
    pub fn start(capacity: usize, max_field_bytes: usize, policy: QuarantinePolicy) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        tokio::spawn(drain(receiver, policy));
        Self { sender, dropped: Arc::new(AtomicU64::new(0)), max_field_bytes }
    }

    /// Closes a finished request's payload (end time, plugin decisions) and queues it
    /// for the plugins implementing its logging hook; never waits. Nothing is queued
    /// when no plugin logs.
    pub(crate) fn submit(&self, mut payload: LogPayload, plugins: RequestPlugins) {
        let hook = if payload.status == "success" { Hook::LogSuccess } else { Hook::LogFailure };
        let (decisions, plugins) = plugins.finish(hook);
        if plugins.is_empty() {
            return;
        }
        payload.end_time = unix_now();
        if payload.completion_start_time.is_none() && payload.status == "success" {
            // As LiteLLM: a non-streamed answer's first token is its end.
            payload.completion_start_time = Some(payload.end_time);
        }
        payload.response_cost = payload.price.and_then(|price| price.cost(&payload.usage));
        payload.plugins = decisions;
        let max = self.max_field_bytes;
        if truncate(&mut payload.messages, max) {
            payload.truncated.push("messages");
        }
        if truncate(&mut payload.response, max) {
            payload.truncated.push("response");
        }
        if payload.error.as_mut().and_then(|error| error.get_mut("message")).is_some_and(|m| truncate(m, max)) {
            payload.truncated.push("error.message");
        }
        if let Err(error) = self.sender.try_send(LogJob { payload, plugins }) {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let reason = match error {
                mpsc::error::TrySendError::Full(_) => "the logging queue is full",
                mpsc::error::TrySendError::Closed(_) => "the logging queue is closed",
            };
            tracing::warn!(dropped_total = dropped, "logging hooks skipped for a request: {reason}");
        }
    }

    /// Jobs dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Jobs waiting in the queue.
    pub fn depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }
}

async fn drain(mut receiver: mpsc::Receiver<LogJob>, policy: QuarantinePolicy) {
    let running = Arc::new(Semaphore::new(CONCURRENT_JOBS));
    while let Some(job) = receiver.recv().await {
        let Ok(permit) = Arc::clone(&running).acquire_owned().await else { return };
        tokio::spawn(async move {
            run(job, policy).await;
            drop(permit);
        });
    }
}

async fn run(job: LogJob, policy: QuarantinePolicy) {
    let hook = if job.payload.status == "success" { Hook::LogSuccess } else { Hook::LogFailure };
    let payload = match serde_json::to_string(&job.payload) {
        Ok(payload) => payload,
        Err(error) => {
            tracing::error!(%error, "could not serialize the logging payload");
            return;
        }
    };
    let shape = ProbeShape { call_type: job.payload.call, model: job.payload.model.clone() };
    let id: Arc<str> = job.payload.id.as_str().into();
    for active in job.plugins {
        if active.health.quarantined_for().is_some() {
            continue;
        }
        let mut instance = active.plugin.instance(Arc::clone(&id));
        let result = match hook {
            Hook::LogSuccess => instance.log_success(&payload).await,
            _ => instance.log_failure(&payload).await,
        };
        let stats = instance.last_call();
        drop(instance);
        let end = match &result {
            Ok(()) => CallEnd::Done,
            Err(HookError::Fault(fault)) => {
                let cause = attribution::cause_of(&active, hook, fault, stats, &shape).await;
                fault.log(cause, "logging hooks never affect the response");
                CallEnd::Faulted(fault.kind, cause)
            }
            Err(HookError::Overloaded(overloaded)) => {
                tracing::warn!(plugin = active.name(), hook = hook.name(), "logging skipped: {overloaded}");
                continue;
            }
            Err(HookError::Rejected(_)) => unreachable!("logging hooks cannot reject"),
        };
        active.record_call(hook, end, stats, policy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_fields_are_cut_to_the_limit_and_short_ones_kept() {
        let mut short = serde_json::json!([{"role": "user", "content": "hi"}]);
        assert!(!truncate(&mut short, 100));
        assert!(short.is_array());
        let mut long = serde_json::json!([{"role": "user", "content": "x".repeat(50)}]);
        assert!(truncate(&mut long, 20));
        assert_eq!(long, Value::String(r#"[{"role":"user","con"#.to_owned()));
        let mut text = Value::String("ééé".to_owned());
        assert!(truncate(&mut text, 3), "cut at a character boundary");
        assert_eq!(text, Value::String("é".to_owned()));
        assert!(!truncate(&mut Value::Null, 0));
    }
}
