//! The raw bindings wit-bindgen generates from `wit/plugin.wit`.
//!
//! Plugin authors rarely need this module: the SDK re-exports the types hooks see and
//! wraps the host imports in [`log`](crate::log), [`config`](crate::config) and
//! [`kv`](crate::kv). It is public so that the export glue (and anyone who wants the
//! contract without the SDK's conveniences) can reach the generated `Guest` trait and
//! the `export!` macro.

// Generated items carry the WIT's doc comments; the few the WIT cannot document (the
// package modules, the world's type aliases) would only repeat their names.
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../../wit",
    world: "plugin",
    // The glue macros expand in plugin crates, so the generated `export!` must be
    // reachable from there, under this module's path.
    pub_export_macro: true,
    default_bindings_module: "hookgate_sdk::bindings",
    additional_derives: [PartialEq, Eq],
});

/// The types of the `hookgate:plugin/types` interface, under a short path.
pub use self::hookgate::plugin::types as wit;
