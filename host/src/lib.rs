//! hookgate: an OpenAI-compatible LLM proxy whose callbacks are sandboxed WebAssembly
//! components.
//!
//! The crate is laid out by concern (see `docs/architecture.md`); data flows one way,
//! server → pipeline → (plugins, upstream) → server:
//! - [`config`]: the YAML config (LiteLLM's keys plus hookgate's own).
//! - [`server`]: the axum routes and start-up.
//! - [`auth`]: master and virtual keys.
//! - [`pipeline`]: the request lifecycle — hooks around the upstream call.
//! - [`upstream`]: the mock and OpenAI-compatible providers.
//! - [`plugins`]: the sandboxed plugin runtime — engine, limits, compiled-artifact cache,
//!   loading, the registry, and one instance per (plugin, request), fresh unless the
//!   plugin opts into reuse.
//! - [`oci`]: OCI registries — references, pulling and pushing the wasm artifact layout,
//!   cosign signatures and the trust policy.
//! - [`capabilities`]: what the host offers guests through the WIT imports (log, kv,
//!   outbound HTTP).
//! - [`traces`]: OpenTelemetry spans of requests, hook calls and upstream calls (OTLP).
//! - [`error`]: the OpenAI-shaped errors clients see.
//! - [`secret`]: secret strings that never print: a leaf, like `types`.
//! - `strict_json`: JSON without duplicate keys, for client bodies and upstream answers:
//!   a leaf.
//! - [`types`]: the vocabulary every part shares (call types, keys, hooks, failures): a
//!   leaf, so the parts above need not depend on each other for it.
//! - [`content`]: the request, response and stream chunks as hooks read and edit them.

pub mod auth;
pub mod capabilities;
pub mod config;
pub mod error;

/// The request, response and stream chunks as hooks read and edit them (the
/// `hookgate-content` crate, shared with the Rust SDK's test doubles).
pub use hookgate_content as content;
pub mod metrics;
pub mod oci;
pub mod pipeline;
pub mod plugins;
pub mod secret;
pub mod server;
pub(crate) mod strict_json;
pub mod text;
pub mod traces;
pub mod types;
pub mod upstream;
