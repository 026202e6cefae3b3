//! Write hookgate plugins in Rust.
//!
//! A plugin is a type that implements [`Plugin`]: a constructor that reads the plugin's
//! config, the type of its per-request context, and the hooks it cares about. Every hook
//! has a no-op default, so a plugin writes only what it changes, in the style of
//! Pingora's `ProxyHttp`. The [`#[hookgate_sdk::plugin]`](macro@plugin) attribute on the
//! `impl` block exports the hooks it defines, and no others, as a WebAssembly component
//! for contract `hookgate:plugin@0.2`.
//!
//! ```no_run
//! use hookgate_sdk::prelude::*;
//!
//! struct Polite;
//!
//! #[hookgate_sdk::plugin]
//! impl Plugin for Polite {
//!     type Ctx = ();
//!
//!     fn new(_config: Config) -> Result<Self, String> {
//!         Ok(Polite)
//!     }
//!
//!     fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
//!         if req.texts().iter().any(|text| normalize(text).contains("darn")) {
//!             return Err(Rejection::bad_request("please be polite").with_code("impolite").into());
//!         }
//!         Ok(PreCall::Proceed)
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! Hooks read the request through [`Request`] (and the answer through [`Response`] and
//! [`Chunk`]): the texts a model reads with where they are, fields, headers, and edits,
//! all done by the host without a JSON parser in the plugin. State of one request goes
//! in `Ctx`, made fresh for every request; the plugin value itself is configuration.
//! State that must outlive a request goes to [`kv`].
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the crate must be a
//! `cdylib`. In native unit tests, [`Request::local`] and its siblings stand in for the
//! host's values. See the crate README for the full walk-through.

#![warn(missing_docs)]

/// The plugin's global allocator on single-threaded wasm32 (a `wasm32-wasip2` plugin),
/// with the `size-class-allocator` feature (on by default; a plugin that sets its own
/// turns it off with `default-features = false`). Compiled nowhere else but its tests.
#[cfg(any(test, all(feature = "size-class-allocator", target_arch = "wasm32", not(target_feature = "atomics"))))]
mod allocator;
pub mod bindings;
pub mod config;
mod content;
mod error;
#[doc(hidden)]
pub mod export;
pub mod http;
pub mod kv;
pub mod log;
pub mod openai;
mod outcome;
mod plugin;
pub mod prelude;
pub mod text;
mod types;

pub use config::Config;
pub use content::{Chunk, EditError, Key, Request, Response, Text};
pub use error::{fail, HookError, HookResult, Rejection};
pub use outcome::{ChunkOutcome, PreCall};
pub use plugin::Plugin;
pub use text::{normalize, HoldBack};
pub use types::{CallContext, CallType, Decision, Failure, KeyInfo, LogEntry, Usage};

/// Exports the `impl Plugin for X` block it is placed on as the component's plugin.
///
/// The block is emitted unchanged; the attribute adds the component's exports: `setup`,
/// and one interface per hook method the block defines (the host learns the plugin's
/// hooks from them). The plugin's name and version default to the crate's
/// `CARGO_PKG_NAME` and `CARGO_PKG_VERSION`; override them with
/// `#[hookgate_sdk::plugin(name = "x", version = "1.0")]`. Use it once per component.
pub use hookgate_sdk_macros::plugin;

/// The JSON library the SDK speaks, re-exported so plugins use the same version.
pub use serde_json;

/// What the attribute's expansion needs from the plugin's crate; not an API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}
