//! Test plugin: panics on a request containing `TRIGGER` (a trap whose message reaches
//! the host through stderr): a fault the input causes. With config `{"always": true}` it
//! panics on every request: a plugin that is broken. Other requests proceed.

use hookgate_sdk::prelude::*;

struct Panic {
    always: bool,
}

#[hookgate_sdk::plugin]
impl Plugin for Panic {
    type Ctx = ();

    fn new(config: Config) -> Result<Self, String> {
        Ok(Panic { always: config.json()["always"].as_bool().unwrap_or(false) })
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if self.always || req.body().contains("TRIGGER") {
            panic!("panic plugin: exploding on purpose");
        }
        Ok(PreCall::Proceed)
    }
}
