//! Test plugin: on a request containing `TRIGGER`, spins forever without calling the
//! host, so only the epoch deadline can stop it. Other requests proceed.

use hookgate_sdk::prelude::*;

struct InfiniteLoop;

#[hookgate_sdk::plugin]
impl Plugin for InfiniteLoop {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(InfiniteLoop)
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if req.body().contains("TRIGGER") {
            // black_box keeps the optimizer from proving the loop does nothing.
            let mut spins = 0u64;
            loop {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
        Ok(PreCall::Proceed)
    }
}
