//! Test plugin: each hook sleeps (blocked in a WASI host call) for as long as its config
//! says, then proceeds: `{"pre_call_ms": 50, "moderation_ms": 200, "post_call_ms": 10000,
//! "log_success_ms": 1000}` (each optional, 0 by default). A hook whose sleep outlasts the
//! plugin's `timeout_ms` always ends in a `deadline` fault: a plugin broken in that hook
//! alone.
//!
//! `log-failure` counts itself in kv (`log-failure`) and logs `slow-hooks log-failure <id>`,
//! so tests can see it ran cleanly on a request whose other hooks were cancelled.
//! `log-success` logs `slow-hooks log-success <id>` after its sleep, so tests can see that
//! a slow logging hook ran to its end.

use std::time::Duration;

use hookgate_sdk::prelude::*;
use hookgate_sdk::{kv, log};

struct SlowHooks {
    pre_call: Duration,
    moderation: Duration,
    post_call: Duration,
    log_success: Duration,
}

fn millis(config: &Config, key: &str) -> Duration {
    Duration::from_millis(config.json()[key].as_u64().unwrap_or(0))
}

fn sleep(duration: Duration) {
    if !duration.is_zero() {
        std::thread::sleep(duration);
    }
}

#[hookgate_sdk::plugin]
impl Plugin for SlowHooks {
    type Ctx = ();

    fn new(config: Config) -> Result<Self, String> {
        Ok(SlowHooks {
            pre_call: millis(&config, "pre_call_ms"),
            moderation: millis(&config, "moderation_ms"),
            post_call: millis(&config, "post_call_ms"),
            log_success: millis(&config, "log_success_ms"),
        })
    }

    fn pre_call(&self, _ctx: &mut (), _req: &Request) -> HookResult<PreCall> {
        sleep(self.pre_call);
        Ok(PreCall::Proceed)
    }

    fn moderation(&self, _ctx: &mut (), _req: &Request) -> HookResult<()> {
        sleep(self.moderation);
        Ok(())
    }

    fn post_call_success(&self, _ctx: &mut (), _req: &Request, _resp: &Response) -> HookResult<()> {
        sleep(self.post_call);
        Ok(())
    }

    fn log_success(&self, _ctx: &mut (), req: &Request, _resp: &Response, _entry: &LogEntry) -> Result<(), String> {
        sleep(self.log_success);
        log::info(format!("slow-hooks log-success {}", req.id()));
        Ok(())
    }

    fn log_failure(&self, _ctx: &mut (), req: &Request, _entry: &LogEntry) -> Result<(), String> {
        if let Err(e) = kv::incr("log-failure", 1, None) {
            log::warn(format!("slow-hooks log-failure: {e}"));
        }
        log::info(format!("slow-hooks log-failure {}", req.id()));
        Ok(())
    }
}
