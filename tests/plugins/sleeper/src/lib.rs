//! Test plugin: on a request containing `TRIGGER`, sleeps 30 seconds. The sleep blocks
//! inside a WASI host call, where fuel and epoch interrupts cannot reach: only the
//! host's wall-clock timeout can stop it. Other requests proceed. Its `log-success`
//! sleeps the same way when the payload contains `LOGSLOW`: a slow logging plugin.

use std::time::Duration;

use hookgate_sdk::prelude::*;

struct Sleeper;

#[hookgate_sdk::plugin]
impl Plugin for Sleeper {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(Sleeper)
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        if req.body.contains("TRIGGER") {
            std::thread::sleep(Duration::from_secs(30));
        }
        Ok(PreCall::Proceed)
    }

    fn log_success(&mut self, payload: &LogPayload) {
        if payload.raw().contains("LOGSLOW") {
            std::thread::sleep(Duration::from_secs(30));
        }
    }
}
