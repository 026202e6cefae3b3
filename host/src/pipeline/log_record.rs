//! What the logging hooks are told about a finished request.
//!
//! While a request runs, its [`LogRecord`] collects what happened (the body sent upstream,
//! the answer, the error). When it ends, [`LogRecord::finish`] turns it, with the
//! request's decisions, into the input of the logging hooks: a typed entry and the request
//! and answer as `content` resources for 0.2 plugins, the standard JSON payload
//! (`docs/logging-payload.md`) for 0.1 plugins. Content bigger than
//! `plugins.max_logged_field_bytes` is cut for logging, so queued jobs hold bounded memory.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::config::TokenPrice;
use crate::content::{fit::fit, json, Body, RequestDoc, ResponseDoc};
use crate::error::ApiError;
use crate::plugins::LogInput;
use crate::types::{CallInfo, DecisionRecord, Hook, LogEntry, Usage};
use crate::upstream::answers::{self, StreamedAnswer};

/// Unix time in seconds.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Whether a request ended in an answer or an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStatus {
    /// The client got an answer.
    Success,
    /// The client got an error.
    Failure,
}

/// What happened to one request, collected while it runs.
pub struct LogRecord {
    info: CallInfo,
    entry: LogEntry,
    /// The request as received, then as sent upstream.
    request: RequestDoc,
    /// The upstream's non-streamed answer.
    response: Option<ResponseDoc>,
    /// An answer made here: a stream's, put back together, or a `respond`'s text.
    answered: Option<StreamedAnswer>,
    /// The `usage` object a stream reported (a complete answer's is read from
    /// `response` when the record is finished: only logging hooks need it, and reading
    /// it parses the answer).
    usage: Value,
    price: Option<TokenPrice>,
    /// The plugins the request ran with (after its team's, key's and its own choices).
    effective_plugins: Vec<String>,
}

impl LogRecord {
    /// A record for the request `info` with body `request`, which arrived `age` ago.
    pub fn start(info: &CallInfo, request: &RequestDoc, age: std::time::Duration) -> Self {
        let fields = request.fields();
        let entry = LogEntry {
            model: request.model().to_owned(),
            end_user: json::field(fields, "user").and_then(Value::as_str).map(str::to_owned),
            status_code: 200,
            start_time: unix_now() - age.as_secs_f64(),
            ..LogEntry::default()
        };
        Self {
            info: info.clone(),
            entry,
            request: request.clone(),
            response: None,
            answered: None,
            usage: Value::Null,
            price: None,
            effective_plugins: Vec::new(),
        }
    }

    /// Records the plugins the request runs with, in order.
    pub fn plugins(&mut self, names: Vec<String>) {
        self.effective_plugins = names;
    }

    /// Records the deployment chosen: the model sent upstream, where, and its prices.
    pub fn routed(&mut self, model_used: &str, api_base: Option<&str>, price: Option<TokenPrice>) {
        self.entry.model_used = Some(model_used.to_owned());
        self.entry.api_base = api_base.map(str::to_owned);
        self.price = price;
    }

    /// Records the request finally sent upstream (after pre-call edits).
    pub fn sent(&mut self, request: &RequestDoc) {
        self.request = request.clone();
    }

    /// Records a complete answer (and so its usage).
    pub fn answered(&mut self, response: &ResponseDoc) {
        self.response = Some(response.clone());
    }

    /// Records a `respond`'s text as the answer.
    pub fn answered_text(&mut self, text: String) {
        self.answered = Some(StreamedAnswer::from_text(text));
    }

    /// Records a stream's answer, as the client got it.
    pub fn streamed(&mut self, answer: StreamedAnswer) {
        self.answered = Some(answer);
    }

    /// Records the `usage` a stream reported.
    pub fn streamed_usage(&mut self, usage: &Value) {
        self.usage = usage.clone();
    }

    /// Records the first streamed chunk's arrival (once).
    pub fn first_token(&mut self) {
        self.entry.completion_start_time.get_or_insert_with(unix_now);
    }

    /// Marks the request failed with `error`.
    pub fn failed(&mut self, error: &ApiError) {
        self.entry.status_code = error.status;
        self.entry.failure = Some(error.to_failure());
    }

    /// Whether the request succeeded so far.
    pub fn status(&self) -> LogStatus {
        if self.entry.failure.is_some() {
            LogStatus::Failure
        } else {
            LogStatus::Success
        }
    }

    /// The logging hook this record goes to.
    pub fn hook(&self) -> Hook {
        match self.status() {
            LogStatus::Success => Hook::LogSuccess,
            LogStatus::Failure => Hook::LogFailure,
        }
    }

    /// Closes the record: the input of the logging hooks, with content cut to
    /// `max_field_bytes`, and the 0.1 payload when `with_0_1`.
    pub fn finish(mut self, decisions: Vec<DecisionRecord>, max_field_bytes: usize, with_0_1: bool) -> LogInput {
        let entry = &mut self.entry;
        entry.end_time = unix_now();
        if entry.completion_start_time.is_none() && entry.failure.is_none() {
            // As LiteLLM: a non-streamed answer's first token is its end.
            entry.completion_start_time = Some(entry.end_time);
        }
        if let Some(response) = &self.response {
            self.usage =
                response.body.fields().and_then(|fields| json::field(fields, "usage")).cloned().unwrap_or(Value::Null);
        }
        let entry = &mut self.entry;
        entry.usage = Usage::from_json(&self.usage);
        entry.response_cost = self.price.and_then(|price| price.cost(&self.usage));
        entry.decisions = decisions;
        let response = match self.status() {
            LogStatus::Failure => None,
            LogStatus::Success => Some(self.answer()),
        };
        let payload_0_1 = if with_0_1 { self.payload_0_1(max_field_bytes) } else { String::new() };
        let mut request = self.request.clone();
        if request.body.size() > max_field_bytes {
            request = request.with_body(Body::measured(fit(request.body.value(), max_field_bytes)));
            self.entry.truncated.push("request");
        }
        let response = response.map(|mut response| {
            if response.body.size() > max_field_bytes {
                response.body = Arc::new(Body::measured(fit(response.body.value(), max_field_bytes)));
                self.entry.truncated.push("response");
            }
            response
        });
        LogInput { info: self.info, request, response, entry: self.entry, payload_0_1 }
    }

    /// The answer as a response: the upstream's, or a completion made of the text answer.
    fn answer(&self) -> ResponseDoc {
        if let Some(response) = &self.response {
            return response.clone();
        }
        let call_type = self.info.call_type;
        let id = answers::id(call_type, &self.info.id);
        let mut body = match &self.answered {
            Some(answer) => answer.completion(call_type, &id, &self.entry.model),
            None => answers::completion(call_type, &id, &self.entry.model, "", 0),
        };
        if !self.usage.is_null() {
            body["usage"] = self.usage.clone();
        }
        ResponseDoc { status: 200, body: Arc::new(Body::measured(body)), headers: Vec::new() }
    }

    /// The 0.1 logging payload as JSON text (`docs/logging-payload.md`).
    fn payload_0_1(&self, max_field_bytes: usize) -> String {
        let entry = &self.entry;
        let key = &self.info.key;
        let mut truncated = Vec::new();
        let mut messages = input_of(self.request.body.value());
        if truncate(&mut messages, max_field_bytes) {
            truncated.push("messages");
        }
        // On a failure, what the client was sent before it (a stream cut off midway).
        let mut response = match (&self.response, &self.answered) {
            (Some(response), _) => response.body.value().clone(),
            (None, Some(answer)) => Value::String(answer.text()),
            (None, None) => Value::Null,
        };
        if truncate(&mut response, max_field_bytes) {
            truncated.push("response");
        }
        let error = entry.failure.as_ref().map(|failure| {
            let mut message = Value::String(failure.message.clone());
            if truncate(&mut message, max_field_bytes) {
                truncated.push("error.message");
            }
            serde_json::json!({
                "type": failure.error_type, "message": message, "code": failure.code, "rejected_by": failure.rejected_by,
            })
        });
        let payload = LogPayload {
            id: &self.info.id,
            call_type: self.info.call_type.name(),
            model: &entry.model,
            model_used: entry.model_used.as_deref(),
            api_base: entry.api_base.as_deref(),
            key_alias: key.alias.as_deref(),
            key_hash: &key.id,
            user: key.user_id.as_deref(),
            team: key.team_id.as_deref(),
            metadata: serde_json::from_str(&key.metadata).unwrap_or(Value::Null),
            end_user: entry.end_user.as_deref(),
            messages,
            stream: self.info.stream,
            response,
            usage: &self.usage,
            response_cost: entry.response_cost,
            start_time: entry.start_time,
            end_time: entry.end_time,
            completion_start_time: entry.completion_start_time,
            status: self.status(),
            status_code: entry.status_code,
            error,
            plugins: &entry.decisions,
            effective_plugins: &self.effective_plugins,
            truncated,
        };
        serde_json::to_string(&payload).expect("a logging payload serializes")
    }
}

/// The standard logging payload of contract 0.1: what 0.1 plugins' `log-success` and
/// `log-failure` receive, as JSON. Documented field by field in `docs/logging-payload.md`:
/// keep the two in step.
#[derive(Serialize)]
struct LogPayload<'a> {
    id: &'a str,
    call_type: &'static str,
    model: &'a str,
    model_used: Option<&'a str>,
    api_base: Option<&'a str>,
    key_alias: Option<&'a str>,
    key_hash: &'a str,
    user: Option<&'a str>,
    team: Option<&'a str>,
    metadata: Value,
    end_user: Option<&'a str>,
    messages: Value,
    stream: bool,
    response: Value,
    usage: &'a Value,
    response_cost: Option<f64>,
    start_time: f64,
    end_time: f64,
    completion_start_time: Option<f64>,
    status: LogStatus,
    status_code: u16,
    error: Option<Value>,
    plugins: &'a [DecisionRecord],
    effective_plugins: &'a [String],
    truncated: Vec<&'static str>,
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

fn input_of(body: &Value) -> Value {
    ["messages", "prompt", "input"].iter().find_map(|field| body.get(*field)).cloned().unwrap_or(Value::Null)
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
