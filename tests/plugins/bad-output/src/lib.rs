//! Test plugin: on a request containing `TRIGGER`, tries to replace the body with text
//! that is not JSON. The host refuses the edit; the plugin gives up on it (`?`), which
//! makes the call a failure. Other requests proceed.

use hookgate_sdk::prelude::*;

struct BadOutput;

#[hookgate_sdk::plugin]
impl Plugin for BadOutput {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(BadOutput)
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if req.body().contains("TRIGGER") {
            req.set_body("this is not json")?;
        }
        Ok(PreCall::Proceed)
    }
}
