//! Raises one alert when a model keeps failing, the way a pager does: counts failures per
//! model in a sliding window on `log-failure`; when the count reaches the threshold it
//! logs one alert line and records the alert in kv, then stays quiet while the failures
//! go on, until a whole window passes below the threshold.
//!
//! Config:
//!
//! ```json
//! {"threshold": 5, "window_seconds": 60, "min_status": 500}
//! ```
//!
//! - Counted: failures whose status is at least `min_status` (default 500: the upstream
//!   or the proxy failed, not the client), and never a plugin's rejection.
//! - The window slides in tenths: counts live in kv buckets of `window / 10`, and the
//!   count is the sum of the last ten.
//! - The alert line is an `error`-level host log line starting `ALERT`. The alert is
//!   also stored as JSON at the kv key `alert:<model>` for 24 hours.
//! - All state is in kv, so with Redis the replicas count together and alert once
//!   between them. If kv is unavailable the failure goes uncounted (logging hooks never
//!   affect a response), and the store's outage is in the proxy's log.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::json;
use hookgate_sdk::{kv, log};
use serde::Deserialize;

/// Buckets per window: the window slides in steps of a tenth.
const BUCKETS: u64 = 10;
/// How long the last alert of a model stays readable in kv, in milliseconds.
const ALERT_RECORD_TTL_MS: u64 = 24 * 3600 * 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    threshold: u64,
    #[serde(default = "one_minute")]
    window_seconds: u64,
    #[serde(default = "server_errors")]
    min_status: u16,
}

fn one_minute() -> u64 {
    60
}

fn server_errors() -> u16 {
    500
}

struct FailureAlerter {
    threshold: u64,
    window: Duration,
    min_status: u16,
}

#[hookgate_sdk::plugin]
impl Plugin for FailureAlerter {
    type Ctx = ();

    fn new(config: Config) -> Result<Self, String> {
        let settings: Settings = config.parse()?;
        if settings.threshold == 0 {
            return Err("invalid config: `threshold` must be at least 1".into());
        }
        if settings.window_seconds == 0 {
            return Err("invalid config: `window_seconds` must be at least 1".into());
        }
        Ok(FailureAlerter {
            threshold: settings.threshold,
            window: Duration::from_secs(settings.window_seconds),
            min_status: settings.min_status,
        })
    }

    fn log_failure(&self, _ctx: &mut (), req: &Request, entry: &LogEntry) -> Result<(), String> {
        let Some(failure) = &entry.failure else { return Ok(()) };
        if failure.status < self.min_status || failure.rejected_by.is_some() {
            return Ok(());
        }
        if let Err(error) = self.count(&entry.model, req, entry, failure) {
            log::debug(format!("failure of `{}` not counted: {error}", entry.model));
        }
        Ok(())
    }
}

impl FailureAlerter {
    fn count(&self, model: &str, req: &Request, entry: &LogEntry, failure: &Failure) -> Result<(), kv::KvError> {
        let bucket_ms = (self.window.as_millis() as u64 / BUCKETS).max(1);
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        let current = now_ms / bucket_ms;
        // A bucket is read for a whole window after it closes.
        let bucket_ttl_ms = self.window.as_millis() as u64 + bucket_ms;
        let mut failures = u64::try_from(kv::incr(&bucket_key(model, current), 1, Some(bucket_ttl_ms))?).unwrap_or(0);
        for older in current.saturating_sub(BUCKETS - 1)..current {
            failures += kv::get(&bucket_key(model, older))?.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        }
        if failures < self.threshold {
            return Ok(());
        }
        // Only the first failure over the threshold since the window last cleared alerts
        // (`incr` is atomic, so one replica wins); every later one pushes the quiet period
        // a window further.
        let quiet = format!("alerting:{model}");
        let window_ms = self.window.as_millis() as u64;
        let first = kv::incr(&quiet, 1, Some(window_ms))? == 1;
        kv::set(&quiet, "1", Some(window_ms))?;
        if first {
            self.alert(model, failures, req, entry, failure)?;
        }
        Ok(())
    }

    fn alert(
        &self,
        model: &str,
        failures: u64,
        req: &Request,
        entry: &LogEntry,
        failure: &Failure,
    ) -> Result<(), kv::KvError> {
        let record = json!({
            "model": model,
            "failures": failures,
            "window_seconds": self.window.as_secs(),
            "threshold": self.threshold,
            "at": entry.end_time,
            "last_status": failure.status,
            "last_error": failure.message,
            "request_id": req.id(),
        });
        log::error(format!(
            "ALERT model={model} failures={failures} window_s={} threshold={}: last error {} {}",
            self.window.as_secs(),
            self.threshold,
            failure.status,
            failure.message,
        ));
        kv::set(&format!("alert:{model}"), &record.to_string(), Some(ALERT_RECORD_TTL_MS))
    }
}

fn bucket_key(model: &str, bucket: u64) -> String {
    format!("failures:{model}:{bucket}")
}
