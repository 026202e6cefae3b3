// Shared by the `version-a` and `version-b` crates: the same plugin built twice, so the
// two components differ only in the name they stamp on what they touch.

use hookgate_sdk::prelude::*;

/// The crate's name: `version-a` or `version-b`.
const VERSION: &str = env!("CARGO_PKG_NAME");

struct Versioned;

#[hookgate_sdk::plugin]
impl Plugin for Versioned {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(Versioned)
    }

    /// Prefixes the last text with the version, so an echoing upstream shows it.
    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        let texts = req.texts();
        if let Some(last) = texts.last() {
            req.set_text(texts.len() - 1, format!("[{VERSION}] {}", last.text))?;
        }
        Ok(PreCall::Proceed)
    }

    /// Names the version in a response header.
    fn post_call_success(&self, _ctx: &mut (), _req: &Request, resp: &Response) -> HookResult<()> {
        resp.set_header("x-plugin-version", VERSION)?;
        Ok(())
    }
}
