//! Test plugin: a pre-call that proceeds without reading the request. What a call to it
//! costs is what hookgate itself costs per hook: the benchmark's baseline.

use hookgate_sdk::prelude::*;

struct Noop;

#[hookgate_sdk::plugin]
impl Plugin for Noop {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(Noop)
    }

    fn pre_call(&mut self, _req: &Request) -> Result<PreCall, Rejection> {
        Ok(PreCall::Proceed)
    }
}
