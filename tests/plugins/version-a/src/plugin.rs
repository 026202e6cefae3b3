// Shared by the `version-a` and `version-b` crates: the same plugin built twice, so the
// two components differ only in the name they stamp on what they touch.

use hookgate_sdk::prelude::*;

/// The crate's name: `version-a` or `version-b`.
const VERSION: &str = env!("CARGO_PKG_NAME");

struct Versioned;

#[hookgate_sdk::plugin]
impl Plugin for Versioned {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(Versioned)
    }

    /// Prefixes the last message with the version, so an echoing upstream shows it.
    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        let mut body = req.json();
        if let Some(last) = body["messages"].as_array_mut().and_then(|messages| messages.last_mut()) {
            let text = last["content"].as_str().unwrap_or_default().to_owned();
            last["content"] = format!("[{VERSION}] {text}").into();
        }
        Ok(PreCall::modify_json(&body))
    }

    /// Names the version in a response header.
    fn post_call_success(&mut self, _req: &Request, _resp: &Response) -> Result<PostCall, Rejection> {
        Ok(PostCall::add_header("x-plugin-version", VERSION))
    }
}
