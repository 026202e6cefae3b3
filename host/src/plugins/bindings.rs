//! Host bindings generated from `wit/plugin.wit`.
//!
//! Exports are async so a guest that runs long yields to tokio at every epoch tick; the
//! kv import is async because its Redis backend does I/O. The other imports are cheap
//! and synchronous.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    imports: {
        "hookgate:plugin/kv": async,
    },
    exports: {
        default: async,
    },
});

pub use hookgate::plugin::{config, kv, log, types};
