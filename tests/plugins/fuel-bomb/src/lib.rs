//! Test plugin: on a request containing `TRIGGER`, runs 10^13 iterations of arithmetic
//! (hours of CPU) before proceeding: finite, so only the fuel budget stops it in time.
//! Other requests proceed at once.

use std::hint::black_box;

use hookgate_sdk::prelude::*;

struct FuelBomb;

#[hookgate_sdk::plugin]
impl Plugin for FuelBomb {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(FuelBomb)
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if req.body().contains("TRIGGER") {
            let mut acc = 0u64;
            for i in 0..10_000_000_000_000u64 {
                acc = black_box(acc.wrapping_mul(31).wrapping_add(i));
            }
            black_box(acc);
        }
        Ok(PreCall::Proceed)
    }
}
