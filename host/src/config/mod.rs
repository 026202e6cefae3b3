//! The YAML configuration: one file, read once at start (and on reload).
//!
//! An existing LiteLLM `config.yaml` works where the meaning is the same (`model_list`,
//! `general_settings`, `litellm_settings`, `os.environ/NAME` references); hookgate's own
//! sections (`plugins`, `keys`, `redis_url`) sit beside. LiteLLM settings hookgate does
//! not implement are ignored with a warning; unknown keys in hookgate's own sections are
//! errors, so a typo there cannot pass silently.
//!
//! Reading goes: YAML text → untyped document → drop unused LiteLLM keys (`lenient`) →
//! resolve `os.environ/` references (`env`) → typed raw sections (`raw`, `typed`) →
//! per-section checks and conversion (`general`, `models`, `keys`, `plugins_config`).
//! Every error names the file and the key path.

mod env;
mod error;
mod general;
mod guardrails;
mod keys;
mod lenient;
mod models;
mod path;
mod plugin_names;
mod plugins_config;
mod raw;
mod registry;
mod teams;
mod typed;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

pub use self::error::ConfigError;
use self::error::Invalid;
pub use self::general::ServerLimits;
pub use self::guardrails::{Guardrail, GuardrailMode};
pub use self::keys::{VirtualKey, MASTER_ALIAS};
use self::lenient::Warnings;
pub use self::models::{MockError, MockParams, ModelDeployment, OpenAiParams, ProviderConfig, TokenPrice};
pub use self::plugins_config::{DefaultOn, PluginsConfig};
use self::raw::RawConfig;
pub use self::registry::RegistryConfig;
pub use self::teams::Team;
use crate::plugins::settings::PluginSettings;
pub use crate::secret::Secret;

/// The proxy's configuration, checked and with defaults applied.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (absolute when read by [`Config::load`]).
    pub source: PathBuf,
    /// `model_list`: what clients may ask for and who serves it.
    pub models: Vec<ModelDeployment>,
    /// `general_settings.master_key`: the admin credential; `None` disables authentication.
    pub master_key: Option<Secret>,
    /// `general_settings.enforce_user_param`: require the OpenAI `user` field.
    pub enforce_user_param: bool,
    /// `general_settings.max_request_size_mb`, in bytes.
    pub max_request_size_bytes: usize,
    /// `general_settings.max_request_messages`: most `messages` one chat request may have.
    pub max_request_messages: usize,
    /// `general_settings.ask_stream_usage`: while a logging plugin runs, ask a stream's
    /// upstream for its usage chunk (for the log's usage and cost) when the client did
    /// not. Off for an upstream that refuses `stream_options`.
    pub ask_stream_usage: bool,
    /// `general_settings.max_upstream_response_mb`, in bytes: the most an upstream answer
    /// (a body, an error, a whole stream) may be; more is a 502.
    pub max_upstream_response_bytes: usize,
    /// `general_settings.max_inflight_request_mb`, in bytes: the most request-body bytes
    /// all requests in flight may hold together; past it, new requests get a 503.
    pub max_inflight_request_bytes: usize,
    /// `general_settings.key_id_secret`: the secret of the key ids plugins see (an HMAC
    /// of each key); derived from the master key when unset.
    pub key_id_secret: Option<Secret>,
    /// The HTTP server's limits (`general_settings`).
    pub server: ServerLimits,
    /// `litellm_settings.callbacks`: the plugins to enable; `None` enables every plugin
    /// in the plugin directory.
    pub callbacks: Option<Vec<String>>,
    /// `litellm_settings.allow_dynamic_callback_disabling`: whether requests may turn
    /// plugins off (subject to each key's and plugin's own rules).
    pub allow_dynamic_callback_disabling: bool,
    /// `litellm_settings.require_auth_for_metrics_endpoint`: `GET /metrics` asks for a
    /// valid key (as in LiteLLM, it is open by default).
    pub require_auth_for_metrics_endpoint: bool,
    /// The `plugins` section.
    pub plugins: PluginsConfig,
    /// `keys`: the virtual keys, their settings refined by their teams'.
    pub keys: Vec<VirtualKey>,
    /// `teams`: what the keys of a team share.
    pub teams: Vec<Team>,
    /// `guardrails`: LiteLLM's guardrail entries, each a plugin.
    pub guardrails: Vec<Guardrail>,
    /// `redis_url`: shared state across replicas, when set.
    pub redis_url: Option<Secret>,
    /// `redis_prefix`: what every Redis key starts with (`<prefix>:<plugin>:<key>`), so
    /// that two deployments (staging, production) can share one Redis apart.
    pub redis_prefix: String,
    /// `traces`: OpenTelemetry export, when an endpoint is set.
    pub traces: Option<crate::traces::TracesConfig>,
    /// Things worth telling the operator that do not stop the proxy (ignored LiteLLM
    /// settings, insecure opt-ins), one line each.
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads and checks the config file at `path`, resolving `os.environ/` references
    /// from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // Absolute, so relative plugin paths keep their meaning if the working directory
        // changes later, and reload watches the right file.
        let source = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let text = std::fs::read_to_string(&source)
            .map_err(|e| ConfigError::whole(&source, format!("cannot read the config file: {e}")))?;
        Self::from_yaml_str(&text, &source, |name| std::env::var(name).ok())
    }

    /// Parses and checks config `text` as if read from `source` (used in messages and to
    /// resolve relative paths), looking `os.environ/NAME` references up with `env`.
    pub fn from_yaml_str(
        text: &str,
        source: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let document: Value =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::whole(source, format!("invalid YAML: {e}")))?;
        build(document, source, &env).map_err(|invalid| ConfigError::from_invalid(source, invalid))
    }

    /// Settings for a plugin by name: defaults merged with its `plugins.settings` entry
    /// (defaults alone if none).
    pub fn plugin_settings(&self, name: &str) -> PluginSettings {
        self.plugins.settings_for(name)
    }
}

/// `redis_prefix` when unset.
const DEFAULT_REDIS_PREFIX: &str = "hookgate";

fn build(mut document: Value, source: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Invalid> {
    // LiteLLM configs use anchors with `<<:` merge keys to share litellm_params.
    document.apply_merge().map_err(|e| Invalid::whole(format!("invalid YAML merge key (<<): {e}")))?;
    let mut root = match document {
        Value::Mapping(root) => root,
        Value::Null => Mapping::new(),
        _ => return Err(Invalid::whole("the top level must be a mapping (model_list:, general_settings:, ...)")),
    };
    let mut warnings = Warnings::default();
    // Before env resolution: an ignored setting must not fail on an unset variable.
    lenient::prune(&mut root, &mut warnings);
    let mut document = Value::Mapping(root);
    env::resolve(&mut document, "", env)?;
    let raw: RawConfig = typed::deserialize_at(document, "")?;

    let mut general = general::build(raw.general_settings, raw.litellm_settings, &mut warnings)?;
    let models = models::build(raw.model_list, &mut warnings)?;
    let guardrails = guardrails::build(raw.guardrails)?;
    // A guardrail's plugin is loaded whether or not `callbacks` lists it, as LiteLLM
    // runs guardrails beside its callbacks.
    if let Some(callbacks) = &mut general.callbacks {
        for guardrail in &guardrails {
            if !callbacks.contains(&guardrail.plugin) {
                callbacks.push(guardrail.plugin.clone());
            }
        }
    }
    let model_names = models.iter().map(|m| m.model_name.as_str()).collect::<HashSet<_>>();
    let guardrail_names: Vec<String> = guardrails.iter().map(|g| g.name.clone()).collect();
    let team_rules = teams::TeamRules {
        model_names: &model_names,
        loaded: general.callbacks.as_deref(),
        guardrail_names: &guardrail_names,
    };
    let teams = teams::build(raw.teams, &team_rules)?;
    let rules = keys::KeyRules {
        model_names: model_names.clone(),
        master_key: general.master_key.as_ref(),
        allow_insecure: general.allow_insecure_master_key,
        teams: &teams,
        loaded: general.callbacks.as_deref(),
        guardrail_names: &guardrail_names,
    };
    let keys = keys::build(raw.keys, &rules, &mut warnings)?;
    let base_dir = source.parent().unwrap_or(Path::new(""));
    let mut plugins = plugins_config::build(raw.plugins, base_dir, general.callbacks.as_deref(), &mut warnings)?;
    for (i, guardrail) in guardrails.iter().enumerate() {
        if plugins.default_on.explicit(&guardrail.plugin).is_some() {
            return Err(Invalid::at(
                path::key(&path::key("plugins.settings", &guardrail.plugin), "default_on"),
                format!(
                    "plugin `{}` is a guardrail (guardrails[{i}]): whether it runs by default is each guardrails \
                     entry's litellm_params.default_on",
                    guardrail.plugin
                ),
            ));
        }
    }
    plugins.config_overrides = config_overrides(&teams, &keys);
    if raw.redis_url.as_ref().is_some_and(|url| url.expose().trim().is_empty()) {
        return Err(Invalid::at("redis_url", "must not be empty; leave it out to run without Redis"));
    }
    let redis_prefix = match raw.redis_prefix {
        None => DEFAULT_REDIS_PREFIX.to_owned(),
        Some(prefix) if !prefix.is_empty() && prefix.len() <= 64 && !prefix.contains(char::is_whitespace) => prefix,
        Some(prefix) => {
            return Err(Invalid::at("redis_prefix", format!("`{prefix}` must be 1 to 64 characters without spaces")))
        }
    };
    let traces = raw.traces.map(traces_of).transpose()?.flatten();
    Ok(Config {
        traces,
        source: source.to_owned(),
        models,
        master_key: general.master_key,
        enforce_user_param: general.enforce_user_param,
        max_request_size_bytes: general.max_request_size_bytes,
        max_request_messages: general.max_request_messages,
        ask_stream_usage: general.ask_stream_usage,
        max_upstream_response_bytes: general.max_upstream_response_bytes,
        max_inflight_request_bytes: general.max_inflight_request_bytes,
        key_id_secret: general.key_id_secret,
        server: general.server,
        callbacks: general.callbacks,
        allow_dynamic_callback_disabling: general.allow_dynamic_callback_disabling,
        require_auth_for_metrics_endpoint: general.require_auth_for_metrics_endpoint,
        plugins,
        keys,
        teams,
        guardrails,
        redis_url: raw.redis_url,
        redis_prefix,
        warnings: warnings.into_lines(),
    })
}

/// `traces`, checked: `None` without an endpoint (traces off).
fn traces_of(raw: raw::RawTraces) -> Result<Option<crate::traces::TracesConfig>, Invalid> {
    let Some(endpoint) = raw.endpoint else { return Ok(None) };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(Invalid::at(
            "traces.endpoint",
            format!("`{endpoint}` is not an http(s) URL (OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/traces)"),
        ));
    }
    let sample_ratio = raw.sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        return Err(Invalid::at("traces.sample_ratio", format!("must be between 0 and 1 (got {sample_ratio})")));
    }
    let export_delay_ms = general::within("traces.export_delay_ms", raw.export_delay_ms, 5000, 10, 600_000)?;
    Ok(Some(crate::traces::TracesConfig {
        endpoint,
        sample_ratio,
        export_delay: std::time::Duration::from_millis(export_delay_ms),
        service_name: raw.service_name.unwrap_or_else(|| "hookgate".to_owned()),
    }))
}

/// Per plugin, the distinct configs teams and keys give it, each named by the first place
/// that sets it (for `init`'s refusal message).
fn config_overrides(teams: &[Team], keys: &[VirtualKey]) -> BTreeMap<String, Vec<(String, serde_json::Value)>> {
    let mut overrides: BTreeMap<String, Vec<(String, serde_json::Value)>> = BTreeMap::new();
    let from_teams = teams.iter().map(|team| (format!("teams `{}`", team.team_id), &team.plugin_config));
    let from_keys = keys.iter().map(|key| (format!("keys `{}`", key.alias), &key.plugin_config));
    for (source, configs) in from_teams.chain(from_keys) {
        for (plugin, config) in configs {
            let known = overrides.entry(plugin.clone()).or_default();
            if !known.iter().any(|(_, seen)| seen == config) {
                known.push((format!("{source}, plugin_config.{plugin}"), config.clone()));
            }
        }
    }
    overrides
}
