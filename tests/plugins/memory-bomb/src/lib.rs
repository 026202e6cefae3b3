//! Test plugin: on a request containing `TRIGGER`, allocates 1 MiB blocks forever,
//! writing to each and keeping them all, so only the memory cap stops it. Other
//! requests proceed.

use hookgate_sdk::prelude::*;

struct MemoryBomb;

#[hookgate_sdk::plugin]
impl Plugin for MemoryBomb {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(MemoryBomb)
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if req.body().contains("TRIGGER") {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                // Filled with ones, not zeros, so every page is really written.
                hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
            }
        }
        Ok(PreCall::Proceed)
    }
}
