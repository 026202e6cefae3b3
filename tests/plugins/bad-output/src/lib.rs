//! Test plugin: on a request containing `TRIGGER`, replaces the body with text that is
//! not JSON. Other requests proceed.

use hookgate_sdk::prelude::*;

struct BadOutput;

#[hookgate_sdk::plugin]
impl Plugin for BadOutput {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(BadOutput)
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        if req.body.contains("TRIGGER") {
            return Ok(PreCall::Modify("this is not json".into()));
        }
        Ok(PreCall::Proceed)
    }
}
