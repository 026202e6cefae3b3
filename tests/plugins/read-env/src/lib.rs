//! Test plugin: on a request containing `TRIGGER`, looks at the environment. If it sees
//! any variable, it leaks them into the body; if the sandbox shows none, it panics
//! saying so. Other requests proceed.

use std::collections::BTreeMap;

use hookgate_sdk::prelude::*;

struct ReadEnv;

#[hookgate_sdk::plugin]
impl Plugin for ReadEnv {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(ReadEnv)
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        if !req.body.contains("TRIGGER") {
            return Ok(PreCall::Proceed);
        }
        let mut seen: Vec<String> = std::env::vars().map(|(name, value)| format!("{name}={value}")).collect();
        // Asked for by name too, in case a host answers lookups but not the listing.
        if let Ok(home) = std::env::var("HOME") {
            seen.push(format!("HOME={home}"));
        }
        if seen.is_empty() {
            panic!("read-env denied: no environment visible");
        }
        Ok(PreCall::modify_json(&BTreeMap::from([("leaked", seen)])))
    }
}
