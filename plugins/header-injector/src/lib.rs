//! Adds configured headers to every successful response.
//!
//! Config: `{"headers": {"x-served-by": "hookgate", "x-policy": "v1"}}`. Header names
//! must be HTTP tokens; they are sent lower-cased.

use std::collections::BTreeMap;

use hookgate_sdk::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    headers: BTreeMap<String, String>,
}

struct HeaderInjector {
    /// Validated, lower-cased (name, value) pairs.
    headers: Vec<(String, String)>,
}

#[hookgate_sdk::plugin]
impl Plugin for HeaderInjector {
    type Ctx = ();

    // `new` also runs when the host loads the plugin, so validating here makes a bad
    // config refuse the plugin at load instead of failing requests later.
    fn new(config: Config) -> Result<Self, String> {
        let settings: Settings = config.parse()?;
        if settings.headers.is_empty() {
            return Err("invalid config: `headers` must name at least one header".into());
        }
        let mut headers = Vec::new();
        for (name, value) in settings.headers {
            if name.is_empty() || !name.bytes().all(is_token_char) {
                return Err(format!("invalid config: `headers`: {name:?} is not a valid HTTP header name"));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(format!("invalid config: `headers`: the value of {name:?} contains control characters"));
            }
            headers.push((name.to_ascii_lowercase(), value));
        }
        Ok(HeaderInjector { headers })
    }

    // The only hook this plugin defines, so the only one it exports.
    fn post_call_success(&self, _ctx: &mut (), _req: &Request, resp: &Response) -> HookResult<()> {
        for (name, value) in &self.headers {
            resp.set_header(name, value)?;
        }
        Ok(())
    }
}

/// RFC 9110 `tchar`: the characters an HTTP header name may contain.
fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}
