//! Test plugin: a pre-call that proceeds without reading the request. What a call to it
//! costs is what hookgate itself costs per hook: the benchmark's baseline.

use hookgate_sdk::prelude::*;

struct Noop;

#[hookgate_sdk::plugin]
impl Plugin for Noop {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(Noop)
    }

    fn pre_call(&self, _ctx: &mut (), _req: &Request) -> HookResult<PreCall> {
        Ok(PreCall::Proceed)
    }
}
