//! Write hookgate plugins in Rust.
//!
//! A plugin is a type that implements [`Plugin`]: a constructor that reads the plugin's
//! config, plus the hooks it cares about. Every hook has a no-op default, so a plugin
//! writes only what it changes, in the style of Pingora's `ProxyHttp`. The
//! [`#[hookgate_sdk::plugin]`](macro@plugin) attribute on the `impl` block exports it
//! as a WebAssembly component and tells the host which hooks it implements.
//!
//! ```ignore
//! use hookgate_sdk::prelude::*;
//!
//! struct Polite;
//!
//! #[hookgate_sdk::plugin]
//! impl Plugin for Polite {
//!     fn new(_config: Config) -> Result<Self, String> {
//!         Ok(Polite)
//!     }
//!
//!     fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
//!         if req.texts().iter().any(|t| t.contains("darn")) {
//!             return Err(Rejection::bad_request("please be polite").with_code("impolite"));
//!         }
//!         Ok(PreCall::Proceed)
//!     }
//! }
//! ```
//!
//! One instance of the plugin type lives at most as long as one request: the host
//! creates a fresh component instance per request, and the SDK creates the plugin value
//! in it on the first hook. Fields on `self` are therefore per-request state that the
//! request's hooks up to its answer share (pre-call, moderation, post-call-success, the
//! stream hooks); the logging hooks run on a fresh instance. State that must outlive a
//! request goes to [`kv`].
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the crate must be a
//! `cdylib`. See the crate README for the full walk-through.

#![warn(missing_docs)]

pub mod bindings;
pub mod config;
#[doc(hidden)]
pub mod export;
mod fault;
pub mod kv;
pub mod log;
pub mod openai;
mod outcome;
mod plugin;
pub mod prelude;
mod rejection;
pub mod text;
mod types;

pub use config::Config;
pub use fault::{fail, OrFail};
pub use outcome::{ChunkOutcome, PostCall, PreCall};
pub use plugin::Plugin;
pub use rejection::Rejection;
pub use text::normalize;
pub use types::{CallContext, CallType, Chunk, Failure, Hook, KeyInfo, LogPayload, Request, Response};

/// Exports the `impl Plugin for X` block it is placed on as the component's plugin.
///
/// The block is emitted unchanged; the attribute adds an [`export_plugin!`] call whose
/// hook list is exactly the hook methods the block defines, so the host calls those and
/// no others. The plugin's name and version default to the crate's `CARGO_PKG_NAME` and
/// `CARGO_PKG_VERSION`; override them with `#[hookgate_sdk::plugin(name = "x",
/// version = "1.0")]`.
pub use hookgate_sdk_macros::plugin;

/// The JSON library the SDK speaks, re-exported so plugins use the same version
/// (`hookgate_sdk::serde_json::json!`, [`Request::json`] values).
pub use serde_json;
