//! hookgate: an OpenAI-compatible LLM proxy whose callbacks are sandboxed WebAssembly
//! components.
//!
//! The crate is laid out by concern (see `DESIGN.md`):
//! - [`plugins`]: the sandboxed plugin runtime — engine, limits, compiled-artifact cache,
//!   loading, and one fresh instance per (plugin, request).
//! - [`capabilities`]: what the host offers guests through the WIT imports (log, kv).

pub mod capabilities;
pub mod plugins;
