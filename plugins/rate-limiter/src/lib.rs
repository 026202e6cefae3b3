//! Limits requests per API key or per user in fixed time windows, counted in the host's kv
//! store: with Redis, every proxy replica counts against the same limit.
//!
//! Config (one of `requests_per_minute` or `limit`):
//!
//! ```json
//! {"requests_per_minute": 60, "per": "key"}
//! {"limit": 1000, "window_seconds": 3600, "per": "user"}
//! ```
//!
//! - `per: "key"` (default) counts per API key (its hash; plugins never see the key).
//!   `per: "user"` counts per user: the key's configured `user_id`, else the request's
//!   `user` field, else per key. `per: "team"` counts all the keys of a team together
//!   (the key's configured `team_id`), else per key.
//! - A team or key can have a limit of its own without loading the plugin twice: the
//!   proxy's `teams[].plugin_config.rate-limiter` (or a key's) is this config for its
//!   requests.
//! - Windows are aligned to the clock (`[k·window, (k+1)·window)` in Unix time), like
//!   LiteLLM's per-minute counters, so every replica agrees on which window a request
//!   falls in.
//! - Over the limit, `pre_call` rejects with 429 and code `rate_limit_exceeded`, and the
//!   message says how many seconds until the window resets.
//! - A successful non-streamed response gets OpenAI's `x-ratelimit-limit-requests`,
//!   `x-ratelimit-remaining-requests` and `x-ratelimit-reset-requests` headers.
//! - When the kv store is unavailable the plugin cannot know the count, so it fails the
//!   call and the operator's `on_error` decides: `fail-open` (the default) serves the
//!   request unlimited, `fail-closed` answers 503.
//! - Where the request stands is per-request state (`Ctx`): made fresh for every request,
//!   so a reused instance never shows one request's standing on another.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_sdk::kv;
use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    requests_per_minute: Option<u64>,
    limit: Option<u64>,
    window_seconds: Option<u64>,
    #[serde(default)]
    per: Per,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Per {
    #[default]
    Key,
    User,
    Team,
}

/// Longest part of a client-chosen `user` that names a counter: kv keys are bounded.
const MAX_USER_BYTES: usize = 256;

/// Where the current request stands in its window, kept for `post_call_success`.
struct Standing {
    remaining: u64,
    resets_in: Duration,
}

struct RateLimiter {
    limit: u64,
    window: Duration,
    per: Per,
}

#[hookgate_sdk::plugin]
impl Plugin for RateLimiter {
    type Ctx = Option<Standing>;

    fn new(config: Config) -> Result<Self, String> {
        let settings: Settings = config.parse()?;
        let (limit, window_seconds) = match (settings.requests_per_minute, settings.limit, settings.window_seconds) {
            (Some(rpm), None, None) => (rpm, 60),
            (None, Some(limit), window) => (limit, window.unwrap_or(60)),
            (Some(_), _, _) => {
                return Err(
                    "invalid config: give `requests_per_minute`, or `limit` with `window_seconds`, not both".into()
                )
            }
            (None, None, _) => return Err("invalid config: `requests_per_minute` (or `limit`) is required".into()),
        };
        if limit == 0 {
            return Err("invalid config: the limit must be at least 1 request".into());
        }
        if window_seconds == 0 {
            return Err("invalid config: `window_seconds` must be at least 1".into());
        }
        Ok(RateLimiter { limit, window: Duration::from_secs(window_seconds), per: settings.per })
    }

    fn pre_call(&self, standing: &mut Option<Standing>, req: &Request) -> HookResult<PreCall> {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let window_ms = self.window.as_millis();
        let index = since_epoch.as_millis() / window_ms;
        let resets_in =
            Duration::from_millis(u64::try_from(window_ms - since_epoch.as_millis() % window_ms).unwrap_or(0));
        let counter = format!("{}:{index}", self.subject(req));
        // The counter outlives its window by a second, for clocks a little apart.
        let ttl_ms = u64::try_from((resets_in + Duration::from_secs(1)).as_millis()).unwrap_or(u64::MAX);
        let count = kv::incr(&counter, 1, Some(ttl_ms))?;
        let count = u64::try_from(count).unwrap_or(0);
        if count > self.limit {
            let seconds = resets_in.as_secs_f64().ceil();
            return Err(Rejection::too_many_requests(format!(
                "Rate limit exceeded: {} requests per {} s {}; retry in {seconds} s.",
                self.limit,
                self.window.as_secs(),
                self.per_text(),
            ))
            .with_code("rate_limit_exceeded")
            .into());
        }
        *standing = Some(Standing { remaining: self.limit - count, resets_in });
        Ok(PreCall::Proceed)
    }

    fn post_call_success(&self, standing: &mut Option<Standing>, _req: &Request, resp: &Response) -> HookResult<()> {
        let Some(standing) = standing else {
            return Ok(());
        };
        resp.set_header("x-ratelimit-limit-requests", &self.limit.to_string())?;
        resp.set_header("x-ratelimit-remaining-requests", &standing.remaining.to_string())?;
        resp.set_header("x-ratelimit-reset-requests", &format!("{}s", standing.resets_in.as_secs_f64().ceil()))?;
        Ok(())
    }
}

impl RateLimiter {
    /// The kv key prefix of whoever the request counts against.
    fn subject(&self, req: &Request) -> String {
        if let Per::Team = self.per {
            if let Some(team) = req.key().team_id() {
                return format!("team:{team}");
            }
        }
        if let Per::User = self.per {
            if let Some(user) = req.key().user_id() {
                return format!("user:{user}");
            }
            // The body's `user` field, a JSON string (the request checks made sure).
            let user = req.field("user").and_then(|json| serde_json::from_str::<String>(&json).ok());
            if let Some(user) = user.filter(|user| !user.is_empty()) {
                return format!("end-user:{}", prefix(&user, MAX_USER_BYTES));
            }
        }
        format!("key:{}", req.key().id())
    }

    fn per_text(&self) -> &'static str {
        match self.per {
            Per::Key => "per API key",
            Per::User => "per user",
            Per::Team => "per team",
        }
    }
}

/// The longest start of `text` of at most `max` bytes that ends on a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
