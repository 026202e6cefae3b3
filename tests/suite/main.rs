//! hookgate's end-to-end suite: real components from `plugins/` and `tests/plugins/`,
//! loaded into the real runtime. Build the guests first (`make test` does).

mod adversarial;
mod artifact_cache;
mod bench;
mod calling_out;
mod cli;
mod console;
mod contract_0_1;
mod documented;
mod edges;
mod example_plugins;
mod fuzz;
mod guardrails;
mod hot_swap;
mod http_basics;
mod http_hooks;
mod http_management;
mod lifecycle;
mod litellm_compat;
mod observability;
mod openai_client;
mod outbound;
mod parity;
mod policies;
mod polyglot;
mod registry;
mod shared_state;
mod soak;
mod traces;
