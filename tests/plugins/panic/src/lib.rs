//! Test plugin: panics on a request containing `TRIGGER` (a trap whose message reaches
//! the host through stderr). Other requests proceed.

use hookgate_sdk::prelude::*;

struct Panic;

#[hookgate_sdk::plugin]
impl Plugin for Panic {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(Panic)
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        if req.body.contains("TRIGGER") {
            panic!("panic plugin: exploding on purpose");
        }
        Ok(PreCall::Proceed)
    }
}
