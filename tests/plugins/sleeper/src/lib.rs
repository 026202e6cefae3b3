//! Test plugin: on a request containing `TRIGGER`, sleeps 30 seconds. The sleep blocks
//! inside a WASI host call, where fuel and epoch interrupts cannot reach: only the
//! host's wall-clock timeout can stop it. Other requests proceed. Its `log-success`
//! sleeps the same way when the request contains `LOGSLOW`: a slow logging plugin.

use std::time::Duration;

use hookgate_sdk::prelude::*;

struct Sleeper;

#[hookgate_sdk::plugin]
impl Plugin for Sleeper {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(Sleeper)
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if req.body().contains("TRIGGER") {
            std::thread::sleep(Duration::from_secs(30));
        }
        Ok(PreCall::Proceed)
    }

    fn log_success(&self, _ctx: &mut (), req: &Request, _resp: &Response, _entry: &LogEntry) -> Result<(), String> {
        if req.body().contains("LOGSLOW") {
            std::thread::sleep(Duration::from_secs(30));
        }
        Ok(())
    }
}
