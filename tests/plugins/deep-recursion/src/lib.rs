//! Test plugin: on a request containing `TRIGGER`, recurses without bound until the
//! WebAssembly call stack is exhausted. Other requests proceed.

use std::hint::black_box;

use hookgate_sdk::prelude::*;

struct DeepRecursion;

#[hookgate_sdk::plugin]
impl Plugin for DeepRecursion {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(DeepRecursion)
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        if req.body().contains("TRIGGER") {
            black_box(dive(0));
        }
        Ok(PreCall::Proceed)
    }
}

/// Never returns in practice: `depth` does not reach `u64::MAX` before the stack runs out.
#[inline(never)]
fn dive(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    // black_box on the result keeps the call out of tail position (and out of LLVM's
    // accumulator rewrite), so every level costs a real stack frame. Plain integers
    // stay in wasm locals: the frames grow the engine's stack, not the shadow stack in
    // linear memory.
    black_box(dive(depth + 1))
}
