//! Test plugin: on a request containing `TRIGGER`, tries to read `/etc/hostname`. If it
//! can, it leaks the contents into the body; if the sandbox denies it, it panics saying
//! so. Other requests proceed.

use std::collections::BTreeMap;

use hookgate_sdk::prelude::*;

struct ReadFile;

#[hookgate_sdk::plugin]
impl Plugin for ReadFile {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(ReadFile)
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        if !req.body.contains("TRIGGER") {
            return Ok(PreCall::Proceed);
        }
        match std::fs::read_to_string("/etc/hostname") {
            Ok(contents) => Ok(PreCall::modify_json(&BTreeMap::from([("leaked", contents)]))),
            Err(e) => panic!("read-file denied: {e}"),
        }
    }
}
