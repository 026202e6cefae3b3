//! The sandboxed plugin runtime.
//!
//! - [`engine`]: the process's one wasmtime engine (pooling allocator, fuel, epochs).
//! - [`cache`]: compiled components on disk, keyed by content hash.
//! - [`load`]: compiling, linking, `describe` and `init`: how a version becomes loaded.
//! - [`loaded`]: a validated plugin version, ready to instantiate per request.
//! - [`instance`]: one instance per (plugin, request), fresh unless the plugin opts into
//!   reuse, running hooks under limits; `live`: an instantiated store and the warm pool;
//!   `slots`: the pool's instance slots, which idle warm instances give up when needed.
//! - `contract`: the plugin contracts (0.2, and 0.1 adapted) and the one shape of a call.
//! - [`outcome`] and [`fault`]: what a hook call can end in.
//! - [`settings`]: per-plugin limits and policies.
//! - [`registry`]: the plugin set requests use, and each plugin's circuit breaker.
//! - [`directory`]: the plugin directory feeding the registry (rescans, hot swap, watching).
//! - [`sources`]: plugins pulled from OCI registries, verified and polled for new versions.
//!
//! ```text
//! PluginEngine ──load(name, wasm, settings)──▶ Arc<LoadedPlugin> ──instance(request id)──▶ PluginInstance
//!                                                                       pre_call / post_call_success / ... ──▶ decision | HookError
//! ```

pub mod cache;
pub(crate) mod contract;
pub mod directory;
pub mod engine;
pub mod fault;
mod file_read;
pub mod instance;
mod live;
pub mod load;
pub mod loaded;
pub mod loan;
pub mod outcome;
pub mod registry;
pub mod settings;
mod slots;
pub mod sources;
mod state;

pub use cache::{ArtifactCache, CacheOutcome, DEFAULT_CACHE_MAX_BYTES};
pub use contract::{LogInput, Version as ContractVersion};
pub use engine::{EngineError, EngineOptions, GuestProfiler, PluginEngine, DEFAULT_KEEP_RESIDENT_BYTES};
pub use fault::{Fault, FaultCause, FaultKind};
pub use instance::{CallStats, PluginInstance, Teardown};
pub use load::LoadError;
pub use loaded::{LoadedPlugin, PluginInfo};
pub use loan::ChunkLoan;
pub use outcome::{ChunkDecision, HookError, Overloaded, PostCallDecision, PreCallDecision, Rejection};
pub use settings::{Instances, OnError, PluginSettings};
