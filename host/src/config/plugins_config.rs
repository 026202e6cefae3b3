//! `plugins`: where plugins come from, how faults are contained, and each plugin's settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::error::{ConfigError, Invalid};
use super::general::within;
use super::lenient::Warnings;
use super::path;
use super::plugin_names;
use super::raw::RawPlugins;
use super::typed::deserialize_at;
use crate::capabilities::outbound::grant::RawGrant;
use crate::capabilities::outbound::OutboundGrant;
use crate::plugins::settings::{limits_of, PluginSettings};
use crate::plugins::{DEFAULT_CACHE_MAX_BYTES, DEFAULT_KEEP_RESIDENT_BYTES};

const DEFAULT_QUARANTINE_AFTER: u32 = 5;
const DEFAULT_QUARANTINE_SECONDS: u64 = 30;
/// A year: a longer cool-down is an unload, and would overflow clock arithmetic.
const MAX_QUARANTINE_SECONDS: u64 = 365 * 86_400;
const DEFAULT_MAX_PLUGINS: usize = 100;
const DEFAULT_LOGGING_QUEUE: usize = 1000;
const DEFAULT_MAX_INSTANCES: u32 = 1000;
/// Every slot reserves address space for its memories: more would not fit.
const MAX_INSTANCES: u32 = 10_000;
const DEFAULT_INSTANCE_WAIT_MS: u64 = 1000;
const DEFAULT_KV_MAX_ENTRIES: usize = 100_000;
const DEFAULT_KV_MAX_BYTES: usize = 64 * 1024 * 1024;
/// The engine's ceiling on any plugin's `memory_mb` (`EngineOptions::max_memory_mb`).
pub(crate) const MAX_MEMORY_MB: u64 = 1024;
/// What a string value starts with to be read from the environment.
const ENV_PREFIX: &str = "os.environ/";
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
    /// Most bytes of compiled artifacts `cache_dir` keeps (`cache_max_mb`); past it, the
    /// least recently used are removed.
    pub cache_max_bytes: u64,
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
    /// How long a hook call waits for a free instance slot before the request is
    /// answered 503 (overloaded).
    pub instance_wait: Duration,
    /// Per instance memory, how much of what an instance dirtied is reset in place when
    /// its pool slot is recycled, in bytes (`keep_resident_mb`): the rest goes back to
    /// the kernel and is faulted in again by the slot's next instance.
    pub keep_resident_bytes: usize,
    /// Most kv entries one plugin may hold (in memory).
    pub kv_max_entries: usize,
    /// Most kv bytes (keys and values) one plugin may hold (in memory).
    pub kv_max_bytes: usize,
    /// `plugins.defaults` over [`PluginSettings::default`]: the settings of a plugin with
    /// no entry of its own.
    pub defaults: PluginSettings,
    /// Each `plugins.settings` entry merged over `defaults`, by plugin name.
    pub settings: BTreeMap<String, PluginSettings>,
    /// `plugins.outbound`: each plugin's outbound grant, by plugin name.
    pub outbound: BTreeMap<String, Arc<OutboundGrant>>,
    /// Which plugins run for requests that did not ask for them.
    pub default_on: DefaultOn,
    /// Per plugin, the configs teams and keys give it (`plugin_config`), each with where
    /// it comes from; checked by the plugin's `init` when it loads.
    pub(crate) config_overrides: BTreeMap<String, Vec<(String, serde_json::Value)>>,
    /// Whether the console's recent decisions show rejection messages (off: a plugin may
    /// quote the prompt in them).
    pub recent_messages: bool,
    /// `plugins.sources`, `plugins.registry`, `plugins.trust`.
    pub registry: super::registry::RegistryConfig,
    /// `plugins.defaults` and each entry as written, for layering a sidecar between them.
    defaults_raw: Mapping,
    entries_raw: BTreeMap<String, Mapping>,
    /// What a sidecar may set at most: `plugins.limits` over `plugins.defaults`.
    ceilings: PluginSettings,
    /// Where each ceiling comes from, for the error message.
    ceilings_from: &'static str,
}

impl Default for PluginsConfig {
    /// The settings of a config with no `plugins` section.
    fn default() -> Self {
        Self {
            dir: None,
            watch: true,
            cache_dir: None,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            quarantine_after: DEFAULT_QUARANTINE_AFTER,
            quarantine_cooldown: Duration::from_secs(DEFAULT_QUARANTINE_SECONDS),
            max_plugins: DEFAULT_MAX_PLUGINS,
            logging_queue: DEFAULT_LOGGING_QUEUE,
            max_logged_field_bytes: DEFAULT_MAX_LOGGED_FIELD_BYTES,
            max_instances: DEFAULT_MAX_INSTANCES,
            instance_wait: Duration::from_millis(DEFAULT_INSTANCE_WAIT_MS),
            keep_resident_bytes: DEFAULT_KEEP_RESIDENT_BYTES,
            kv_max_entries: DEFAULT_KV_MAX_ENTRIES,
            kv_max_bytes: DEFAULT_KV_MAX_BYTES,
            defaults: PluginSettings::default(),
            settings: BTreeMap::new(),
            outbound: BTreeMap::new(),
            default_on: DefaultOn::default(),
            config_overrides: BTreeMap::new(),
            registry: super::registry::RegistryConfig::default(),
            recent_messages: false,
            defaults_raw: Mapping::new(),
            entries_raw: BTreeMap::new(),
            ceilings: PluginSettings::default(),
            ceilings_from: "plugins.defaults",
        }
    }
}

impl PluginsConfig {
    /// The settings plugin `name` runs under: its own entry if it has one, else the defaults.
    pub fn settings_for(&self, name: &str) -> PluginSettings {
        let mut settings = self.settings.get(name).unwrap_or(&self.defaults).clone();
        self.add_operator_only(name, &mut settings);
        settings
    }

    /// Whether plugin `name` runs for requests that did not ask for it (see [`DefaultOn`]).
    pub fn default_on(&self, name: &str) -> bool {
        self.default_on.of(name)
    }

    /// What only the main config gives a plugin: its outbound grant and the configs of
    /// teams and keys.
    fn add_operator_only(&self, name: &str, settings: &mut PluginSettings) {
        settings.outbound = self.outbound.get(name).cloned();
        settings.config_overrides =
            self.config_overrides.get(name).map(|overrides| Arc::new(overrides.clone())).unwrap_or_default();
    }

    /// The settings plugin `name` runs under when its sidecar (`<name>.yaml` beside the
    /// component, `text` read from `sidecar`) exists: the defaults, then the sidecar, then
    /// the plugin's entry in the config, key by key, so the operator's config has the
    /// last word. Errors name the sidecar file and the key.
    ///
    /// A sidecar is the plugin author's file, so it is held to what the operator allows:
    /// it may not read the proxy's environment (`os.environ/` is refused, never
    /// resolved), and it may not set a limit (`fuel`, `timeout_ms`, `memory_mb`,
    /// `max_output_bytes`, `max_reuse`, `instances: reuse`) above the operator's ceiling,
    /// `plugins.limits` or else `plugins.defaults`. The plugin's entry in the main config
    /// may set anything.
    pub fn settings_with_sidecar(&self, name: &str, sidecar: &Path, text: &str) -> Result<PluginSettings, ConfigError> {
        let document: Value = serde_yaml_ng::from_str(text)
            .map_err(|error| ConfigError::whole(sidecar, format!("invalid YAML: {error}")))?;
        refuse_env_references(&document, "").map_err(|invalid| ConfigError::from_invalid(sidecar, invalid))?;
        let own = match document {
            Value::Mapping(own) => own,
            Value::Null => Mapping::new(),
            _ => return Err(ConfigError::whole(sidecar, "must be a mapping of plugin settings (priority, fuel, ...)")),
        };
        if own.contains_key(DEFAULT_ON) {
            return Err(ConfigError::from_invalid(
                sidecar,
                Invalid::at(
                    DEFAULT_ON,
                    format!(
                        "whether a plugin runs by default is the operator's choice: set it in plugins.settings.{name},                          not in the plugin's sidecar"
                    ),
                ),
            ));
        }
        let entry = self.entries_raw.get(name);
        let authored: PluginSettings = deserialize_at(Value::Mapping(merge(&self.defaults_raw, own.clone())), "")
            .map_err(|invalid| ConfigError::from_invalid(sidecar, invalid))?;
        let ceilings = limits_of(&self.ceilings);
        for ((key, value), (_, ceiling)) in limits_of(&authored).into_iter().zip(ceilings) {
            let set_by_sidecar = own.contains_key(key);
            let set_by_operator = entry.is_some_and(|entry| entry.contains_key(key));
            if set_by_sidecar && !set_by_operator && value > ceiling {
                let shown = |v: u64| {
                    if key == "instances" {
                        ["per-request", "reuse"][v as usize].to_owned()
                    } else {
                        v.to_string()
                    }
                };
                return Err(ConfigError::from_invalid(
                    sidecar,
                    Invalid::at(
                        key,
                        format!(
                            "{} is above the operator's ceiling of {} ({}.{key}); a sidecar cannot raise its plugin's \
                             limits: the operator can, in plugins.settings.{name} or plugins.limits",
                            shown(value),
                            shown(ceiling),
                            self.ceilings_from
                        ),
                    ),
                ));
            }
        }
        let mut merged = merge(&self.defaults_raw, own);
        if let Some(entry) = entry {
            merged = merge(&merged, entry.clone());
        }
        let mut settings: PluginSettings = deserialize_at(Value::Mapping(merged), "")
            .map_err(|invalid| ConfigError::from_invalid(sidecar, invalid))?;
        settings
            .check(MAX_MEMORY_MB)
            .map_err(|(key, why)| ConfigError::from_invalid(sidecar, Invalid::at(key, why)))?;
        self.add_operator_only(name, &mut settings);
        Ok(settings)
    }
}

/// `default_on`: whether a plugin runs for requests that did not ask for it. Its own
/// `plugins.settings` entry's value, else `plugins.defaults`' (true unless set). A
/// guardrail's plugin follows its `guardrails` entries instead.
#[derive(Debug, Clone)]
pub struct DefaultOn {
    by_plugin: BTreeMap<String, bool>,
    otherwise: bool,
}

impl Default for DefaultOn {
    fn default() -> Self {
        Self { by_plugin: BTreeMap::new(), otherwise: true }
    }
}

impl DefaultOn {
    /// Whether plugin `name` runs by default.
    pub fn of(&self, name: &str) -> bool {
        self.by_plugin.get(name).copied().unwrap_or(self.otherwise)
    }

    /// Plugin `name`'s own value, when its settings entry sets one.
    pub(crate) fn explicit(&self, name: &str) -> Option<bool> {
        self.by_plugin.get(name).copied()
    }
}

/// The settings key that says whether a plugin runs by default: read by the config, not
/// by the plugin's settings (a sidecar may not set it).
const DEFAULT_ON: &str = "default_on";

/// Takes `default_on` out of a settings mapping at `at`.
fn take_default_on(mapping: &mut Mapping, at: &str) -> Result<Option<bool>, Invalid> {
    match mapping.remove(DEFAULT_ON) {
        None => Ok(None),
        Some(Value::Bool(on)) => Ok(Some(on)),
        Some(_) => Err(Invalid::at(path::key(at, DEFAULT_ON), "must be true or false")),
    }
}

/// Refuses any `os.environ/` reference in a plugin's sidecar: the proxy's environment
/// holds its secrets (the master key, upstream API keys), and a sidecar is written by the
/// plugin's author, who must never read them.
fn refuse_env_references(value: &Value, at: &str) -> Result<(), Invalid> {
    match value {
        Value::String(text) if text.trim_start().starts_with(ENV_PREFIX) => Err(Invalid::at(
            if at.is_empty() { "(top level)" } else { at },
            "os.environ/ references are resolved only in the operator's main config; a plugin's sidecar may \
             not read the proxy's environment (set the value in plugins.settings instead)",
        )),
        Value::Sequence(items) => {
            items.iter().enumerate().try_for_each(|(i, item)| refuse_env_references(item, &path::index(at, i)))
        }
        Value::Mapping(entries) => {
            entries.iter().try_for_each(|(key, item)| refuse_env_references(item, &path::key(at, &path::label(key))))
        }
        Value::Tagged(tagged) => refuse_env_references(&tagged.value, at),
        _ => Ok(()),
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
    let mut defaults_map = raw.defaults.unwrap_or_default();
    let otherwise = take_default_on(&mut defaults_map, "plugins.defaults")?.unwrap_or(true);
    let mut default_on = DefaultOn { by_plugin: BTreeMap::new(), otherwise };
    let defaults = checked(Value::Mapping(defaults_map.clone()), "plugins.defaults")?;
    let (ceilings, ceilings_from) = match &raw.limits {
        Some(limits) => {
            (checked(Value::Mapping(merge(&defaults_map, limits.clone())), "plugins.limits")?, "plugins.limits")
        }
        None => (defaults.clone(), "plugins.defaults"),
    };
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
        let mut own = own.unwrap_or_default();
        if let Some(on) = take_default_on(&mut own, &at)? {
            default_on.by_plugin.insert(name.clone(), on);
        }
        let merged = merge(&defaults_map, own.clone());
        settings.insert(name.clone(), checked(Value::Mapping(merged), &at)?);
        entries_raw.insert(name, own);
    }
    let mut outbound = BTreeMap::new();
    for (name, raw_grant) in raw.outbound.unwrap_or_default() {
        let at = path::key("plugins.outbound", &name);
        if !plugin_names::is_valid(&name) {
            return Err(Invalid::at(at, plugin_names::invalid_message(&name)));
        }
        let raw_grant: RawGrant = deserialize_at(raw_grant, &at)?;
        let grant = OutboundGrant::from_raw(raw_grant).map_err(|(key, why)| Invalid::at(path::key(&at, &key), why))?;
        outbound.insert(name, Arc::new(grant));
    }
    let registry = super::registry::build(raw.sources, raw.registry, raw.trust, base_dir)?;
    let dir = resolve_path(raw.dir, base_dir, "plugins.dir")?;
    let cache_dir = resolve_path(raw.cache_dir, base_dir, "plugins.cache_dir")?;
    if let (Some(plugins), Some(cache)) = (&dir, &cache_dir) {
        // Compiled artifacts are native code the proxy runs unchecked: whoever may drop
        // plugins in the directory must not be able to plant one.
        if real_path(cache).starts_with(real_path(plugins)) {
            return Err(Invalid::at(
                "plugins.cache_dir",
                "must not be inside plugins.dir: whoever may add plugins could plant compiled code there",
            ));
        }
    }
    Ok(PluginsConfig {
        registry,
        recent_messages: raw.recent_messages.unwrap_or(false),
        dir,
        watch: raw.watch.unwrap_or(true),
        cache_dir,
        cache_max_bytes: within("plugins.cache_max_mb", raw.cache_max_mb, DEFAULT_CACHE_MAX_BYTES >> 20, 1, 1 << 20)?
            << 20,
        quarantine_after: within(
            "plugins.quarantine_after",
            raw.quarantine_after,
            DEFAULT_QUARANTINE_AFTER,
            1,
            1_000_000,
        )?,
        quarantine_cooldown: Duration::from_secs(within(
            "plugins.quarantine_seconds",
            raw.quarantine_seconds,
            DEFAULT_QUARANTINE_SECONDS,
            0,
            MAX_QUARANTINE_SECONDS,
        )?),
        max_plugins: within("plugins.max_plugins", raw.max_plugins, DEFAULT_MAX_PLUGINS, 1, 10_000)?,
        logging_queue: within("plugins.logging_queue", raw.logging_queue, DEFAULT_LOGGING_QUEUE, 1, 1_000_000)?,
        max_logged_field_bytes: within(
            "plugins.max_logged_field_bytes",
            raw.max_logged_field_bytes,
            DEFAULT_MAX_LOGGED_FIELD_BYTES,
            1,
            16 * 1024 * 1024,
        )?,
        max_instances: within("plugins.max_instances", raw.max_instances, DEFAULT_MAX_INSTANCES, 1, MAX_INSTANCES)?,
        instance_wait: Duration::from_millis(within(
            "plugins.instance_wait_ms",
            raw.instance_wait_ms,
            DEFAULT_INSTANCE_WAIT_MS,
            1,
            600_000,
        )?),
        keep_resident_bytes: within(
            "plugins.keep_resident_mb",
            raw.keep_resident_mb,
            DEFAULT_KEEP_RESIDENT_BYTES >> 20,
            0,
            1024,
        )? << 20,
        kv_max_entries: within("plugins.kv_max_entries", raw.kv_max_entries, DEFAULT_KV_MAX_ENTRIES, 1, 100_000_000)?,
        kv_max_bytes: within("plugins.kv_max_bytes", raw.kv_max_bytes, DEFAULT_KV_MAX_BYTES, 1024, 1 << 40)?,
        defaults,
        settings,
        outbound,
        default_on,
        config_overrides: BTreeMap::new(),
        defaults_raw: defaults_map,
        entries_raw,
        ceilings,
        ceilings_from,
    })
}

/// Plugin settings at `at`, deserialized and within their bounds.
fn checked(value: Value, at: &str) -> Result<PluginSettings, Invalid> {
    let settings: PluginSettings = deserialize_at(value, at)?;
    settings.check(MAX_MEMORY_MB).map_err(|(key, why)| Invalid::at(path::key(at, key), why))?;
    Ok(settings)
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

/// Where `path` leads on disk: the longest part of it that exists with its symlinks and
/// `..` resolved (by the file system), and the rest, which no symlink can redirect yet,
/// with `..` taken lexically. Compared this way, a cache directory spelled through a
/// symlink or a `..` into the plugin directory is still seen to be inside it.
fn real_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut rest = Vec::new();
    let mut existing = path;
    let base = loop {
        if let Ok(real) = existing.canonicalize() {
            break real;
        }
        let mut components = existing.components();
        match components.next_back() {
            Some(last @ (Component::Normal(_) | Component::ParentDir | Component::CurDir)) => {
                rest.push(last);
                existing = components.as_path();
            }
            // Nothing of it exists: compare it as written.
            _ => return path.to_owned(),
        }
    };
    let mut real = base;
    for component in rest.into_iter().rev() {
        match component {
            Component::ParentDir => {
                real.pop();
            }
            Component::Normal(name) => real.push(name),
            _ => {}
        }
    }
    real
}

fn resolve_path(value: Option<PathBuf>, base_dir: &Path, at: &str) -> Result<Option<PathBuf>, Invalid> {
    match value {
        Some(p) if p.as_os_str().is_empty() => Err(Invalid::at(at, "must not be empty")),
        Some(p) => Ok(Some(base_dir.join(p))),
        None => Ok(None),
    }
}
