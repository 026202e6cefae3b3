//! Pages through PagerDuty's Events API v2 when a model keeps failing or a request hangs:
//! LiteLLM's PagerDuty alerting, as a sandboxed plugin that never sees the routing key.
//!
//! Two detectors, both on the logging hooks (off the response path):
//!
//! - **failures**: failures of one model (status at least `min_status`, never a plugin's
//!   rejection) are counted in a window of `failure_window_seconds` that opens with the
//!   first failure; the failure that brings the count to `failure_threshold` triggers one
//!   event, and the next window opens with the next failure after this one closes.
//! - **hanging**: a request that took `hanging_threshold_seconds` or longer from arrival
//!   to its complete answer (or its failure) triggers one event per model, then none for
//!   that model for `hanging_threshold_seconds`.
//!   Plugins have no timers, so a hang is reported when the hung request ends: when the
//!   upstream finally answers or the proxy's upstream timeout fails it.
//!
//! The counts live in kv and `incr` is atomic, so replicas sharing Redis count together
//! and exactly one of them sends each event; the event's `dedup_key` names the detector,
//! the model and the window, so a resend is one alert in PagerDuty too.
//!
//! Config (the routing key is a secret the operator binds; the plugin writes only its
//! placeholder):
//!
//! ```json
//! {"events_url": "https://events.pagerduty.com/v2/enqueue",
//!  "routing_key": "${secret:pagerduty_routing_key}",
//!  "failure_threshold": 5, "failure_window_seconds": 60, "min_status": 500,
//!  "hanging_threshold_seconds": 300, "source": "hookgate", "severity": "critical"}
//! ```
//!
//! and in the proxy config, the grant:
//!
//! ```yaml
//! plugins:
//!   outbound:
//!     pagerduty-alerter:
//!       allow: ["https://events.pagerduty.com/v2/enqueue"]
//!       secrets: {pagerduty_routing_key: os.environ/PAGERDUTY_ROUTING_KEY}
//! ```
//!
//! A failed send (PagerDuty down, a 429, no grant) is logged at `error` level with the
//! event's summary, so the alert is never silently lost.

use std::time::{SystemTime, UNIX_EPOCH};

use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::{json, Value};
use hookgate_sdk::{http, kv, log};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "pagerduty")]
    events_url: String,
    routing_key: String,
    #[serde(default = "five")]
    failure_threshold: u64,
    #[serde(default = "one_minute")]
    failure_window_seconds: u64,
    #[serde(default = "server_errors")]
    min_status: u16,
    #[serde(default = "five_minutes")]
    hanging_threshold_seconds: f64,
    #[serde(default = "hookgate")]
    source: String,
    #[serde(default = "critical")]
    severity: String,
    #[serde(default = "two_seconds")]
    timeout_ms: u64,
}

fn pagerduty() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}
fn five() -> u64 {
    5
}
fn one_minute() -> u64 {
    60
}
fn server_errors() -> u16 {
    500
}
fn five_minutes() -> f64 {
    300.0
}
fn hookgate() -> String {
    "hookgate".into()
}
fn critical() -> String {
    "critical".into()
}
fn two_seconds() -> u64 {
    2000
}

struct PagerDutyAlerter(Settings);

/// What an event says, before it is sent.
struct Event<'a> {
    detector: &'static str,
    model: &'a str,
    /// Which window the event is for: with the detector and the model, its `dedup_key`.
    window: u64,
    summary: String,
    details: Value,
}

#[hookgate_sdk::plugin]
impl Plugin for PagerDutyAlerter {
    type Ctx = ();

    fn new(config: Config) -> Result<Self, String> {
        let settings: Settings = config.parse()?;
        if settings.failure_threshold == 0 || settings.failure_window_seconds == 0 {
            return Err("invalid config: `failure_threshold` and `failure_window_seconds` must be at least 1".into());
        }
        if settings.hanging_threshold_seconds.is_nan() || settings.hanging_threshold_seconds <= 0.0 {
            return Err("invalid config: `hanging_threshold_seconds` must be above 0".into());
        }
        if !["critical", "error", "warning", "info"].contains(&settings.severity.as_str()) {
            return Err("invalid config: `severity` is one of critical, error, warning, info".into());
        }
        Ok(PagerDutyAlerter(settings))
    }

    fn log_success(&self, _ctx: &mut (), req: &Request, _response: &Response, entry: &LogEntry) -> Result<(), String> {
        self.check_hanging(req, entry);
        Ok(())
    }

    fn log_failure(&self, _ctx: &mut (), req: &Request, entry: &LogEntry) -> Result<(), String> {
        self.check_hanging(req, entry);
        let Some(failure) = &entry.failure else { return Ok(()) };
        if failure.status < self.0.min_status || failure.rejected_by.is_some() {
            return Ok(());
        }
        // The TTL applies when `incr` creates the key: the window opens at the first failure.
        let ttl_ms = self.0.failure_window_seconds * 1000;
        let count = match kv::incr(&format!("failures:{}", entry.model), 1, Some(ttl_ms)) {
            Ok(count) => count,
            Err(error) => {
                log::warn(format!("failure of `{}` not counted: {error}", entry.model));
                return Ok(());
            }
        };
        // Exactly one failure, on one replica, brings the window's count to the threshold.
        if u64::try_from(count).ok() == Some(self.0.failure_threshold) {
            self.send(Event {
                detector: "failures",
                model: &entry.model,
                window: now_seconds() / self.0.failure_window_seconds,
                summary: format!(
                    "{}: {count} failures of model {} within {} s (last: {} {})",
                    self.0.source, entry.model, self.0.failure_window_seconds, failure.status, failure.message
                ),
                details: json!({
                    "model": entry.model,
                    "failures": count,
                    "window_seconds": self.0.failure_window_seconds,
                    "last_status": failure.status,
                    "last_error": failure.message,
                    "last_request_id": req.id(),
                }),
            });
        }
        Ok(())
    }
}

impl PagerDutyAlerter {
    fn check_hanging(&self, req: &Request, entry: &LogEntry) {
        let took = entry.end_time - entry.start_time;
        if took < self.0.hanging_threshold_seconds {
            return;
        }
        let quiet_ms = ((self.0.hanging_threshold_seconds * 1000.0).ceil() as u64).max(1);
        match kv::incr(&format!("hanging:{}", entry.model), 1, Some(quiet_ms)) {
            Ok(1) => {}
            Ok(_) => return,
            Err(error) => return log::warn(format!("hanging request of `{}` not counted: {error}", entry.model)),
        }
        self.send(Event {
            detector: "hanging",
            model: &entry.model,
            window: now_seconds() * 1000 / quiet_ms,
            summary: format!(
                "{}: a request to model {} took {took:.1} s (threshold {} s)",
                self.0.source, entry.model, self.0.hanging_threshold_seconds
            ),
            details: json!({
                "model": entry.model,
                "request_id": req.id(),
                "seconds": took,
                "threshold_seconds": self.0.hanging_threshold_seconds,
                "status": entry.status_code,
            }),
        });
    }

    /// Sends a trigger event; a failure to send is logged with the summary, never lost
    /// silently.
    fn send(&self, event: Event<'_>) {
        let body = json!({
            "routing_key": self.0.routing_key,
            "event_action": "trigger",
            "dedup_key": format!("hookgate-{}-{}-{}", event.detector, event.model, event.window),
            "payload": {
                "summary": truncate(&event.summary, 1024),
                "source": self.0.source,
                "severity": self.0.severity,
                "component": event.model,
                "class": event.detector,
                "custom_details": event.details,
            },
        });
        let headers = [("content-type", "application/json")];
        match http::post(&self.0.events_url, &headers, body.to_string().as_bytes(), Some(self.0.timeout_ms)) {
            Ok(answer) if answer.status == 202 || (200..300).contains(&answer.status) => {
                log::info(format!("paged: {}", event.summary));
            }
            Ok(answer) => log::error(format!(
                "ALERT not paged (PagerDuty answered {}: {}): {}",
                answer.status,
                truncate(&answer.text(), 200),
                event.summary
            )),
            Err(error) => log::error(format!("ALERT not paged ({error}): {}", event.summary)),
        }
    }
}

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
