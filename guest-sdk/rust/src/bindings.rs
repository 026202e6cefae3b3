//! The raw bindings wit-bindgen generates from `wit/plugin.wit`: the imports every plugin
//! has (log, config, kv, the `content` resources, and `wasi:http` for calling out) and
//! the shared types.
//!
//! Plugin authors rarely need this module: the SDK wraps it in [`log`](crate::log),
//! [`config`](crate::config), [`kv`](crate::kv) and [`Request`](crate::Request) and its
//! siblings. The exports are generated in the plugin's own crate by
//! [`#[hookgate_sdk::plugin]`](macro@crate::plugin), for exactly the hooks the plugin
//! implements, on top of these types.

// Generated items carry the WIT's doc comments; the few the WIT cannot document (the
// package modules) would only repeat their names.
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../../wit",
    world: "imports",
    // wasi:http and the wasi:io and wasi:clocks types it uses, generated here: the SDK's
    // `http` module is their one user.
    generate_all,
    additional_derives: [PartialEq, Clone],
    // wasi:io variants that hold a resource can be neither.
    additional_derives_ignore: ["stream-error"],
});

pub use self::hookgate::plugin::{config, content, kv, log, types};

/// The types of the `hookgate:plugin/types` interface, under a short path.
pub use self::hookgate::plugin::types as wit;
