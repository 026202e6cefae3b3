//! Test plugin: on a request containing `TRIGGER`, looks at the environment. If it sees
//! any variable, it leaks them into the body; if the sandbox shows none, it panics
//! saying so. Other requests proceed.

use hookgate_sdk::prelude::*;

struct ReadEnv;

#[hookgate_sdk::plugin]
impl Plugin for ReadEnv {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(ReadEnv)
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if !req.body().contains("TRIGGER") {
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
        let leaked = hookgate_sdk::serde_json::json!({ "leaked": seen });
        req.set_body(&leaked.to_string())?;
        Ok(PreCall::Proceed)
    }
}
