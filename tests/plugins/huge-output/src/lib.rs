//! Test plugin: on a request containing `TRIGGER`, replaces the body with valid JSON of
//! more than 16 MiB, past any sensible `max_output_bytes`. Other requests proceed.

use hookgate_sdk::prelude::*;

/// Bytes of padding in the body.
const PAD: usize = 16 << 20;
const OPEN: &[u8] = br#"{"pad":""#;
const CLOSE: &[u8] = br#""}"#;

struct HugeOutput;

#[hookgate_sdk::plugin]
impl Plugin for HugeOutput {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(HugeOutput)
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        if !req.body.contains("TRIGGER") {
            return Ok(PreCall::Proceed);
        }
        // Built in place at its exact final size: `vec![byte; n]` is one `memory.fill`,
        // whereas formatting (or a spare capacity the export must shrink away) copies
        // 16 MiB through libc byte loops and burns the default fuel before the host
        // ever sees the output.
        let mut body = vec![b'x'; OPEN.len() + PAD + CLOSE.len()];
        body[..OPEN.len()].copy_from_slice(OPEN);
        body[OPEN.len() + PAD..].copy_from_slice(CLOSE);
        // SAFETY: every byte is ASCII. (`String::from_utf8` would validate 16 MiB, fuel
        // again.)
        let body = unsafe { String::from_utf8_unchecked(body) };
        Ok(PreCall::Modify(body))
    }
}
