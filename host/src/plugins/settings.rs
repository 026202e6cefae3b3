//! Per-plugin settings: the limits a plugin runs under and how its faults are handled.
//!
//! These are the keys of a plugin's sidecar `<name>.yaml` and of its entry in the proxy
//! config; every key is optional and has a default that suits a small Rust plugin.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::capabilities::outbound::OutboundGrant;

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
    /// Where the plugin may call out (`plugins.outbound.<name>` of the main config; never
    /// a settings key, so neither a sidecar nor a settings entry can set it). `None`: every
    /// outbound call is refused.
    #[serde(skip)]
    pub outbound: Option<Arc<OutboundGrant>>,
    /// The configs teams and keys give the plugin (`plugin_config` in the main config;
    /// never a settings key), each with where it comes from. `init` checks each when the
    /// plugin loads; a request of such a team or key runs the plugin with that config.
    #[serde(skip)]
    pub config_overrides: Arc<Vec<(String, serde_json::Value)>>,
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
            outbound: None,
            config_overrides: Arc::default(),
        }
    }
}

/// The longest `timeout_ms` a plugin may have: ten minutes.
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// The largest `max_output_bytes`: what one hook call may hand back.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024 * 1024;

/// The settings that bound what a plugin may use: a sidecar may not set them above the
/// operator's ceiling. `(key, value)` pairs, comparable as numbers; `instances: reuse`
/// counts as more than `per-request` (it gives up per-request isolation).
pub(crate) fn limits_of(settings: &PluginSettings) -> [(&'static str, u64); 6] {
    [
        ("fuel", settings.fuel),
        ("timeout_ms", settings.timeout_ms),
        ("memory_mb", settings.memory_mb),
        ("max_output_bytes", settings.max_output_bytes as u64),
        ("max_reuse", u64::from(settings.max_reuse)),
        ("instances", u64::from(settings.instances == Instances::Reuse)),
    ]
}

impl PluginSettings {
    /// Checks the values against their bounds (an overflowing or absurd value must
    /// stop the start with the key's name, not panic later): `(key, why)` on error.
    /// `max_memory_mb` is the engine's ceiling on any plugin's memory.
    pub fn check(&self, max_memory_mb: u64) -> Result<(), (&'static str, String)> {
        if self.fuel == 0 {
            return Err(("fuel", "must be at least 1".into()));
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(("timeout_ms", format!("must be between 1 and {MAX_TIMEOUT_MS} (got {})", self.timeout_ms)));
        }
        if !(1..=max_memory_mb).contains(&self.memory_mb) {
            return Err(("memory_mb", format!("must be between 1 and {max_memory_mb} (got {})", self.memory_mb)));
        }
        if !(1..=MAX_OUTPUT_BYTES).contains(&self.max_output_bytes) {
            return Err((
                "max_output_bytes",
                format!("must be between 1 and {MAX_OUTPUT_BYTES} (got {})", self.max_output_bytes),
            ));
        }
        if self.max_reuse == 0 {
            return Err(("max_reuse", "must be at least 1".into()));
        }
        Ok(())
    }

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
