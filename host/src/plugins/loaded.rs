//! A loaded plugin version: compiled, linked, described and initialised, ready to be
//! instantiated once per request.

use std::sync::Arc;
use std::time::Duration;

use super::cache::CacheOutcome;
use super::contract::{GuestPre, Version};
use super::engine::PluginEngine;
use super::live::WarmPool;
use super::settings::PluginSettings;
use crate::types::{ContentHash, Hook, HookSet};

/// What a plugin says about itself in `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The name the plugin gives itself.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// The hooks it implements: the only ones the host calls (0.2: the hook interfaces it
    /// exports; 0.1: the list its `describe` returned).
    pub hooks: HookSet,
}

/// A validated plugin version. Share it as `Arc<LoadedPlugin>`; instantiate per request.
pub struct LoadedPlugin {
    pub(crate) name: String,
    pub(crate) info: PluginInfo,
    pub(crate) settings: PluginSettings,
    pub(crate) config_json: Arc<str>,
    pub(crate) pre: GuestPre,
    pub(crate) engine: PluginEngine,
    /// Idle instances kept for later requests (only with `instances: reuse`).
    pub(crate) warm: Arc<WarmPool>,
    pub(crate) hash: ContentHash,
    pub(crate) size_bytes: usize,
    pub(crate) compile_time: Duration,
    pub(crate) cache: CacheOutcome,
    pub(crate) version: Version,
    /// The exact package version the component names, e.g. `0.2.0`.
    pub(crate) wit_version: Option<String>,
}

impl LoadedPlugin {
    /// The names of what the component imports and exports (interfaces and functions),
    /// as the wasm OCI artifact config lists them.
    pub fn interface_names(&self) -> (Vec<String>, Vec<String>) {
        let engine = self.engine.engine();
        let kind = self.pre.component().component_type();
        let imports = kind.imports(engine).map(|(name, _)| name.to_owned()).collect();
        let exports = kind.exports(engine).map(|(name, _)| name.to_owned()).collect();
        (imports, exports)
    }

    /// The registered name (the file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the plugin said about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// True when the plugin implements `hook`.
    pub fn implements(&self, hook: Hook) -> bool {
        self.info.hooks.contains(hook)
    }

    /// The plugin's limits and policies.
    pub fn settings(&self) -> &PluginSettings {
        &self.settings
    }

    /// SHA-256 of the component.
    pub fn hash(&self) -> ContentHash {
        self.hash
    }

    /// Size of the component file in bytes.
    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    /// How long compiling (or loading from the cache) took.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// The contract version the component was built against, read from its exports.
    pub fn contract(&self) -> Version {
        self.version
    }

    /// The exact `hookgate:plugin` version the component was built against, from the
    /// names of its exports (0.2) or imports (0.1): `hookgate:plugin/setup@0.2.0` →
    /// `0.2.0`; `None` when it names none.
    pub fn wit_version(&self) -> Option<&str> {
        self.wit_version.as_deref()
    }

    /// Whether the compiled artifact came from the cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }
}

/// Whether `name` can name a plugin: 1 to 64 of `[A-Za-z0-9._-]` (it namespaces kv keys
/// and appears in headers).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_restricted() {
        assert!(super::valid_name("banned-keywords"));
        assert!(super::valid_name("v1.2_x"));
        assert!(!super::valid_name(""));
        assert!(!super::valid_name("a:b"));
        assert!(!super::valid_name("a/b"));
        assert!(!super::valid_name(&"x".repeat(65)));
    }
}
