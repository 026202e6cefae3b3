//! Test plugin: on a request containing `TRIGGER`, sets the body to valid JSON of more
//! than 16 MiB, past any sensible `max_output_bytes`: the host refuses to take in that
//! much from one call. Other requests proceed.

use hookgate_sdk::prelude::*;

/// Bytes of padding in the body.
const PAD: usize = 16 << 20;
const OPEN: &[u8] = br#"{"pad":""#;
const CLOSE: &[u8] = br#""}"#;

struct HugeOutput;

#[hookgate_sdk::plugin]
impl Plugin for HugeOutput {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(HugeOutput)
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if !req.body().contains("TRIGGER") {
            return Ok(PreCall::Proceed);
        }
        // Built in place at its exact final size: `vec![byte; n]` is one `memory.fill`,
        // whereas formatting copies 16 MiB through libc byte loops and burns the default
        // fuel before the host ever sees the output.
        let mut body = vec![b'x'; OPEN.len() + PAD + CLOSE.len()];
        body[..OPEN.len()].copy_from_slice(OPEN);
        body[OPEN.len() + PAD..].copy_from_slice(CLOSE);
        // SAFETY: every byte is ASCII. (`String::from_utf8` would validate 16 MiB, fuel
        // again.)
        let body = unsafe { String::from_utf8_unchecked(body) };
        req.set_body(&body)?;
        Ok(PreCall::Proceed)
    }
}
