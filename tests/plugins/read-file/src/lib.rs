//! Test plugin: on a request containing `TRIGGER`, tries to read `/etc/hostname`. If it
//! can, it leaks the contents into the body; if the sandbox denies it, it panics saying
//! so. Other requests proceed.

use hookgate_sdk::prelude::*;

struct ReadFile;

#[hookgate_sdk::plugin]
impl Plugin for ReadFile {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(ReadFile)
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if !req.body().contains("TRIGGER") {
            return Ok(PreCall::Proceed);
        }
        match std::fs::read_to_string("/etc/hostname") {
            Ok(contents) => {
                let leaked = hookgate_sdk::serde_json::json!({ "leaked": contents });
                req.set_body(&leaked.to_string())?;
                Ok(PreCall::Proceed)
            }
            Err(e) => panic!("read-file denied: {e}"),
        }
    }
}
