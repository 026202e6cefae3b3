//! `plugins`: where plugins come from, how faults are contained, and each plugin's settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::env;
use super::error::{ConfigError, Invalid};
use super::lenient::Warnings;
use super::path;
use super::plugin_names;
use super::raw::RawPlugins;
use super::typed::deserialize_at;
use crate::plugins::settings::PluginSettings;

const DEFAULT_QUARANTINE_AFTER: u32 = 5;
const DEFAULT_QUARANTINE_SECONDS: u64 = 30;
const DEFAULT_MAX_PLUGINS: usize = 100;
const DEFAULT_LOGGING_QUEUE: usize = 1000;
const DEFAULT_MAX_INSTANCES: u32 = 1000;
/// LiteLLM truncates logged messages and responses at 10,000 characters.
const DEFAULT_MAX_LOGGED_FIELD_BYTES: usize = 10_000;

/// The checked `plugins` section.
#[derive(Debug, Clone)]
pub struct PluginsConfig {
    /// Directory of plugin components, resolved against the config file's directory;
    /// `None` runs without plugins.
    pub dir: Option<PathBuf>,
    /// Whether to reload plugins when the directory changes.
    pub watch: bool,
    /// Directory for compiled-artifact caching, resolved like `dir`; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Consecutive faults after which a plugin is quarantined (at least 1).
    pub quarantine_after: u32,
    /// How long a quarantined plugin stays out.
    pub quarantine_cooldown: Duration,
    /// Most plugins loaded at once (at least 1).
    pub max_plugins: usize,
    /// Capacity of the queue feeding the logging hooks (at least 1).
    pub logging_queue: usize,
    /// Largest `messages`, `response` or error message in the logging payload, in bytes
    /// of JSON; a larger one is cut and flagged in the payload's `truncated` list.
    pub max_logged_field_bytes: usize,
    /// Size of the plugin instance pool (at least 1).
    pub max_instances: u32,
    /// `plugins.defaults` over [`PluginSettings::default`]: the settings of a plugin with
    /// no entry of its own.
    pub defaults: PluginSettings,
    /// Each `plugins.settings` entry merged over `defaults`, by plugin name.
    pub settings: BTreeMap<String, PluginSettings>,
    /// `plugins.defaults` and each entry as written, for layering a sidecar between them.
    defaults_raw: Mapping,
    entries_raw: BTreeMap<String, Mapping>,
}

impl Default for PluginsConfig {
    /// The settings of a config with no `plugins` section.
    fn default() -> Self {
        Self {
            dir: None,
            watch: true,
            cache_dir: None,
            quarantine_after: DEFAULT_QUARANTINE_AFTER,
            quarantine_cooldown: Duration::from_secs(DEFAULT_QUARANTINE_SECONDS),
            max_plugins: DEFAULT_MAX_PLUGINS,
            logging_queue: DEFAULT_LOGGING_QUEUE,
            max_logged_field_bytes: DEFAULT_MAX_LOGGED_FIELD_BYTES,
            max_instances: DEFAULT_MAX_INSTANCES,
            defaults: PluginSettings::default(),
            settings: BTreeMap::new(),
            defaults_raw: Mapping::new(),
            entries_raw: BTreeMap::new(),
        }
    }
}

impl PluginsConfig {
    /// The settings plugin `name` runs under: its own entry if it has one, else the defaults.
    pub fn settings_for(&self, name: &str) -> PluginSettings {
        self.settings.get(name).unwrap_or(&self.defaults).clone()
    }

    /// The settings plugin `name` runs under when its sidecar (`<name>.yaml` beside the
    /// component, `text` read from `sidecar`) exists: the defaults, then the sidecar, then
    /// the plugin's entry in the config, key by key, so the operator's config has the
    /// last word. Errors name the sidecar file and the key.
    pub fn settings_with_sidecar(&self, name: &str, sidecar: &Path, text: &str) -> Result<PluginSettings, ConfigError> {
        let mut document: Value = serde_yaml_ng::from_str(text)
            .map_err(|error| ConfigError::whole(sidecar, format!("invalid YAML: {error}")))?;
        env::resolve(&mut document, "", &|name| std::env::var(name).ok())
            .map_err(|invalid| ConfigError::from_invalid(sidecar, invalid))?;
        let own = match document {
            Value::Mapping(own) => own,
            Value::Null => Mapping::new(),
            _ => return Err(ConfigError::whole(sidecar, "must be a mapping of plugin settings (priority, fuel, ...)")),
        };
        let mut merged = merge(&self.defaults_raw, own);
        if let Some(entry) = self.entries_raw.get(name) {
            merged = merge(&merged, entry.clone());
        }
        deserialize_at(Value::Mapping(merged), "").map_err(|invalid| ConfigError::from_invalid(sidecar, invalid))
    }
}

/// Checks and converts `plugins`; relative paths are taken from `base_dir`, the config
/// file's directory, so the config means the same whatever directory hookgate starts in.
pub(crate) fn build(
    raw: Option<RawPlugins>,
    base_dir: &Path,
    callbacks: Option<&[String]>,
    warnings: &mut Warnings,
) -> Result<PluginsConfig, Invalid> {
    let Some(raw) = raw else { return Ok(PluginsConfig::default()) };
    let defaults_map = raw.defaults.unwrap_or_default();
    let defaults = deserialize_at(Value::Mapping(defaults_map.clone()), "plugins.defaults")?;
    let mut settings = BTreeMap::new();
    let mut entries_raw = BTreeMap::new();
    for (name, own) in raw.settings.unwrap_or_default() {
        let at = path::key("plugins.settings", &name);
        if !plugin_names::is_valid(&name) {
            return Err(Invalid::at(at, plugin_names::invalid_message(&name)));
        }
        if callbacks.is_some_and(|enabled| !enabled.contains(&name)) {
            warnings.note(format!("{at} configures a plugin that litellm_settings.callbacks does not enable"));
        }
        let own = own.unwrap_or_default();
        let merged = merge(&defaults_map, own.clone());
        settings.insert(name.clone(), deserialize_at(Value::Mapping(merged), &at)?);
        entries_raw.insert(name, own);
    }
    Ok(PluginsConfig {
        dir: resolve_path(raw.dir, base_dir, "plugins.dir")?,
        watch: raw.watch.unwrap_or(true),
        cache_dir: resolve_path(raw.cache_dir, base_dir, "plugins.cache_dir")?,
        quarantine_after: at_least_one(raw.quarantine_after, DEFAULT_QUARANTINE_AFTER, "plugins.quarantine_after")?,
        quarantine_cooldown: Duration::from_secs(raw.quarantine_seconds.unwrap_or(DEFAULT_QUARANTINE_SECONDS)),
        max_plugins: at_least_one(raw.max_plugins, DEFAULT_MAX_PLUGINS, "plugins.max_plugins")?,
        logging_queue: at_least_one(raw.logging_queue, DEFAULT_LOGGING_QUEUE, "plugins.logging_queue")?,
        max_logged_field_bytes: at_least_one(
            raw.max_logged_field_bytes,
            DEFAULT_MAX_LOGGED_FIELD_BYTES,
            "plugins.max_logged_field_bytes",
        )?,
        max_instances: at_least_one(raw.max_instances, DEFAULT_MAX_INSTANCES, "plugins.max_instances")?,
        defaults,
        settings,
        defaults_raw: defaults_map,
        entries_raw,
    })
}

/// A plugin's own keys over the defaults, key by key: an entry that sets only `priority`
/// keeps the default `timeout_ms`. Values are replaced whole (`config` included): merging
/// inside a plugin's own config would guess at its meaning.
fn merge(defaults: &Mapping, own: Mapping) -> Mapping {
    let mut merged = defaults.clone();
    for (key, value) in own {
        merged.insert(key, value);
    }
    merged
}

fn resolve_path(value: Option<PathBuf>, base_dir: &Path, at: &str) -> Result<Option<PathBuf>, Invalid> {
    match value {
        Some(p) if p.as_os_str().is_empty() => Err(Invalid::at(at, "must not be empty")),
        Some(p) => Ok(Some(base_dir.join(p))),
        None => Ok(None),
    }
}

fn at_least_one<T: PartialOrd + From<u8> + std::fmt::Display>(
    value: Option<T>,
    default: T,
    at: &str,
) -> Result<T, Invalid> {
    match value {
        Some(v) if v < T::from(1) => Err(Invalid::at(at, format!("must be at least 1 (got {v})"))),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}
