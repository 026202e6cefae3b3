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

impl From<&types::Request> for types::CallContext {
    /// The context the stream hooks get: the request without its body and headers.
    fn from(request: &types::Request) -> Self {
        types::CallContext {
            id: request.id.clone(),
            call_type: request.call_type,
            model: request.model.clone(),
            key: request.key.clone(),
        }
    }
}
