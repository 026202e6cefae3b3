//! Per-plugin settings: the limits a plugin runs under and how its faults are handled.
//!
//! These are the keys of a plugin's sidecar `<name>.yaml` and of its entry in the proxy
//! config; every key is optional and has a default that suits a small Rust plugin.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What happens to a request when a plugin faults (traps, runs out of fuel or time, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Skip this plugin's effect, log and count the fault, go on with the request.
    #[default]
    FailOpen,
    /// Fail the request with 503 `plugin_error`.
    FailClosed,
}

/// How long a plugin instance lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Instances {
    /// A fresh instance per request: nothing a request leaves in the guest's memory
    /// reaches another request. The safe choice, and the default.
    #[default]
    PerRequest,
    /// Warm instances are kept and handed to later requests, which saves the
    /// instantiation and the guest's start-up (tens of µs for Rust, milliseconds for
    /// Python and JS). The plugin must not keep one request's data for the next: only a
    /// plugin written for it should opt in. An instance is still dropped after any fault,
    /// after `max_reuse` requests, and once its memory passes half of `memory_mb`.
    Reuse,
}

/// A plugin's limits and policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginSettings {
    /// Order among plugins for sequential hooks: lower runs first.
    pub priority: i32,
    /// CPU budget of one hook call, in wasmtime fuel units (about one per instruction).
    pub fuel: u64,
    /// Wall-clock budget of one hook call, in milliseconds (including host calls).
    pub timeout_ms: u64,
    /// Cap on the total size of all the plugin's linear memories, in MiB.
    pub memory_mb: u64,
    /// Cap on the size of what one hook call returns (a body, a chunk, a message), in bytes.
    pub max_output_bytes: usize,
    /// What a fault does to the request.
    pub on_error: OnError,
    /// When true, the plugin cannot be disabled per request.
    pub required: bool,
    /// The plugin's own configuration, handed to its `init` and `config.get`.
    pub config: serde_json::Value,
    /// Whether instances serve one request each or are reused (see [`Instances`]).
    pub instances: Instances,
    /// With `instances: reuse`, how many requests one instance serves before it is
    /// replaced by a fresh one.
    pub max_reuse: u32,
}

impl Default for PluginSettings {
    fn default() -> Self {
        Self {
            priority: 0,
            // ~50 M instructions: far above what a hook that inspects a request needs
            // (a Rust pre-call burns tens of thousands), low enough to stop a runaway fast.
            fuel: 50_000_000,
            timeout_ms: 100,
            memory_mb: 64,
            max_output_bytes: 10 * 1024 * 1024,
            on_error: OnError::FailOpen,
            required: false,
            config: serde_json::Value::Null,
            instances: Instances::PerRequest,
            max_reuse: 1000,
        }
    }
}

impl PluginSettings {
    /// The wall-clock budget of one hook call.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// With `instances: reuse`, the memory past which an instance is not reused: half the
    /// cap, so a guest that leaks a little per request is replaced long before it fails.
    pub fn reuse_memory_bound(&self) -> usize {
        self.memory_bytes() / 2
    }

    /// The memory cap in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }
}
