//! The sandboxed plugin runtime.
//!
//! - [`engine`]: the process's one wasmtime engine (pooling allocator, fuel, epochs).
//! - [`cache`]: compiled components on disk, keyed by content hash.
//! - [`loaded`]: a validated plugin version, ready to instantiate per request.
//! - [`instance`]: one instance per (plugin, request), fresh unless the plugin opts into
//!   reuse, running hooks under limits.
//! - [`outcome`] and [`fault`]: what a hook call can end in.
//! - [`settings`]: per-plugin limits and policies.
//! - [`registry`]: the plugin set requests use, and each plugin's circuit breaker.
//! - [`directory`]: the plugin directory feeding the registry (rescans, hot swap, watching).
//!
//! ```text
//! PluginEngine ──load(name, wasm, settings)──▶ Arc<LoadedPlugin> ──instance(request id)──▶ PluginInstance
//!                                                                       pre_call / post_call_success / ... ──▶ decision | HookError
//! ```

mod bindings;
pub mod cache;
pub mod directory;
pub mod engine;
pub mod fault;
mod hooks;
pub mod instance;
pub mod loaded;
pub mod outcome;
pub mod registry;
pub mod settings;
mod state;

use std::fmt;

use sha2::{Digest, Sha256};

pub use bindings::types::{CallContext, CallType, Failure, KeyInfo, Request, Response};
pub use cache::{ArtifactCache, CacheOutcome};
pub use engine::{EngineError, EngineOptions, PluginEngine};
pub use fault::{Fault, FaultCause, FaultKind};
pub use hooks::{Hook, HookSet};
pub use instance::{CallStats, PluginInstance};
pub use loaded::{LoadError, LoadedPlugin, PluginInfo};
pub use outcome::{ChunkDecision, HookError, Overloaded, PostCallDecision, PreCallDecision, Rejection};
pub use settings::{Instances, OnError, PluginSettings};

/// SHA-256 of a component's bytes: identifies a plugin version and keys the artifact cache.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}
