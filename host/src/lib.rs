//! hookgate: an OpenAI-compatible LLM proxy whose callbacks are sandboxed WebAssembly
//! components.
//!
//! The crate is laid out by concern (see `DESIGN.md`); data flows one way,
//! server → pipeline → (plugins, upstream) → server:
//! - [`config`]: the YAML config (LiteLLM's keys plus hookgate's own).
//! - [`server`]: the axum routes and start-up.
//! - [`auth`]: master and virtual keys.
//! - [`pipeline`]: the request lifecycle — hooks around the upstream call.
//! - [`upstream`]: the mock and OpenAI-compatible providers.
//! - [`plugins`]: the sandboxed plugin runtime — engine, limits, compiled-artifact cache,
//!   loading, the registry, and one fresh instance per (plugin, request).
//! - [`capabilities`]: what the host offers guests through the WIT imports (log, kv).
//! - [`error`]: the OpenAI-shaped errors clients see.

pub mod auth;
pub mod capabilities;
pub mod config;
pub mod error;
pub mod metrics;
pub mod pipeline;
pub mod plugins;
pub mod server;
pub mod text;
pub mod upstream;
