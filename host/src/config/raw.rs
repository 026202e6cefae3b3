//! The file format as written: every key optional, no semantics yet.
//!
//! Each section deserializes with `deny_unknown_fields`. For hookgate's own sections
//! (`plugins`, `keys[]`) that is how typos are caught; the LiteLLM sections have their
//! unknown keys removed beforehand (see `lenient`), against the key lists below, so the
//! lists and the structs cannot drift apart unnoticed: a listed key the struct lacks
//! would fail every config that sets it.
//!
//! `expecting` keeps the internal struct names out of type errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::secret::Secret;

/// Top-level keys hookgate reads.
pub(crate) const TOP_KEYS: &[&str] = &[
    "model_list",
    "general_settings",
    "litellm_settings",
    "plugins",
    "keys",
    "teams",
    "guardrails",
    "redis_url",
    "redis_prefix",
    "traces",
];
/// `general_settings` keys hookgate reads (LiteLLM's, then hookgate's own).
pub(crate) const GENERAL_KEYS: &[&str] = &[
    "master_key",
    "enforce_user_param",
    "max_request_size_mb",
    "allow_insecure_master_key",
    "key_id_secret",
    "max_request_messages",
    "ask_stream_usage",
    "max_inflight_request_mb",
    "max_upstream_response_mb",
    "header_read_timeout_seconds",
    "body_read_timeout_seconds",
    "stream_write_timeout_seconds",
    "max_connections",
    "max_header_bytes",
    "serving_threads",
];
/// `litellm_settings` keys hookgate reads.
pub(crate) const LITELLM_KEYS: &[&str] =
    &["callbacks", "allow_dynamic_callback_disabling", "require_auth_for_metrics_endpoint"];
/// `guardrails[]` keys hookgate reads.
pub(crate) const GUARDRAIL_KEYS: &[&str] = &["guardrail_name", "litellm_params", "guardrail_info"];
/// `guardrails[].litellm_params` keys hookgate reads; the others configure LiteLLM's
/// integrations (`api_key`, `api_base`, ...), which a plugin does not use.
pub(crate) const GUARDRAIL_PARAMS_KEYS: &[&str] = &["guardrail", "mode", "default_on", "hookgate_plugin"];
/// `model_list[]` keys hookgate reads.
pub(crate) const MODEL_KEYS: &[&str] = &["model_name", "litellm_params", "model_info"];
/// `model_list[].model_info` keys hookgate reads; the others are descriptive metadata
/// (`id`, `mode`, `base_model`, ...) and are dropped without a warning.
pub(crate) const MODEL_INFO_KEYS: &[&str] = &["input_cost_per_token", "output_cost_per_token"];
/// `model_list[].litellm_params` keys hookgate reads.
pub(crate) const PARAMS_KEYS: &[&str] = &[
    "model",
    "api_base",
    "api_key",
    "timeout",
    "request_timeout",
    "stream_timeout",
    "mock_response",
    "mock_latency_ms",
    "mock_stream_chunks",
    "mock_chunk_delay_ms",
    "mock_error_status",
    "mock_error_message",
    "input_cost_per_token",
    "output_cost_per_token",
];

/// The whole document.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawConfig {
    pub(crate) model_list: Option<Vec<RawModel>>,
    pub(crate) general_settings: Option<RawGeneral>,
    pub(crate) litellm_settings: Option<RawLitellm>,
    pub(crate) plugins: Option<RawPlugins>,
    pub(crate) keys: Option<Vec<RawKey>>,
    pub(crate) teams: Option<Vec<RawTeam>>,
    pub(crate) guardrails: Option<Vec<RawGuardrail>>,
    pub(crate) redis_url: Option<Secret>,
    pub(crate) redis_prefix: Option<String>,
    pub(crate) traces: Option<RawTraces>,
}

/// `traces`: hookgate's own section, strict.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawTraces {
    pub(crate) endpoint: Option<String>,
    pub(crate) sample_ratio: Option<f64>,
    pub(crate) export_delay_ms: Option<u64>,
    pub(crate) service_name: Option<String>,
}

/// One `model_list` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawModel {
    pub(crate) model_name: Option<String>,
    pub(crate) litellm_params: Option<RawParams>,
    pub(crate) model_info: Option<RawPrice>,
}

/// Per-token prices, as LiteLLM accepts them in `model_info` or `litellm_params`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawPrice {
    pub(crate) input_cost_per_token: Option<f64>,
    pub(crate) output_cost_per_token: Option<f64>,
}

/// `model_list[].litellm_params`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawParams {
    pub(crate) model: Option<String>,
    pub(crate) api_base: Option<String>,
    pub(crate) api_key: Option<Secret>,
    pub(crate) timeout: Option<f64>,
    pub(crate) request_timeout: Option<f64>,
    pub(crate) stream_timeout: Option<f64>,
    pub(crate) mock_response: Option<String>,
    pub(crate) mock_latency_ms: Option<u64>,
    pub(crate) mock_stream_chunks: Option<usize>,
    pub(crate) mock_chunk_delay_ms: Option<u64>,
    pub(crate) mock_error_status: Option<u16>,
    pub(crate) mock_error_message: Option<String>,
    pub(crate) input_cost_per_token: Option<f64>,
    pub(crate) output_cost_per_token: Option<f64>,
}

/// `general_settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawGeneral {
    pub(crate) master_key: Option<Secret>,
    pub(crate) enforce_user_param: Option<bool>,
    pub(crate) max_request_size_mb: Option<f64>,
    pub(crate) allow_insecure_master_key: Option<bool>,
    pub(crate) key_id_secret: Option<Secret>,
    pub(crate) max_request_messages: Option<usize>,
    pub(crate) ask_stream_usage: Option<bool>,
    pub(crate) max_inflight_request_mb: Option<f64>,
    pub(crate) max_upstream_response_mb: Option<f64>,
    pub(crate) header_read_timeout_seconds: Option<f64>,
    pub(crate) body_read_timeout_seconds: Option<f64>,
    pub(crate) stream_write_timeout_seconds: Option<f64>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_header_bytes: Option<usize>,
    pub(crate) serving_threads: Option<usize>,
}

/// `litellm_settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawLitellm {
    pub(crate) callbacks: Option<OneOrMany>,
    pub(crate) allow_dynamic_callback_disabling: Option<bool>,
    pub(crate) require_auth_for_metrics_endpoint: Option<bool>,
}

/// A value LiteLLM accepts as one string or a list of them (`callbacks:
/// custom_callbacks.proxy_handler_instance` or `callbacks: [a, b]`).
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The strings, in order.
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// `plugins`: hookgate's own section, strict.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawPlugins {
    pub(crate) dir: Option<PathBuf>,
    pub(crate) watch: Option<bool>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) cache_max_mb: Option<u64>,
    pub(crate) quarantine_after: Option<u32>,
    pub(crate) quarantine_seconds: Option<u64>,
    pub(crate) max_plugins: Option<usize>,
    pub(crate) logging_queue: Option<usize>,
    pub(crate) max_logged_field_bytes: Option<usize>,
    pub(crate) max_instances: Option<u32>,
    pub(crate) instance_wait_ms: Option<u64>,
    pub(crate) keep_resident_mb: Option<usize>,
    pub(crate) kv_max_entries: Option<usize>,
    pub(crate) kv_max_bytes: Option<usize>,
    /// Kept untyped: merged key by key with each plugin's entry before becoming
    /// `PluginSettings`.
    pub(crate) defaults: Option<Mapping>,
    /// Ceilings for what a plugin's sidecar may set (else `defaults` are the ceilings).
    pub(crate) limits: Option<Mapping>,
    /// A `null` entry (`my-plugin:` with nothing under it) means "defaults only".
    pub(crate) settings: Option<BTreeMap<String, Option<Mapping>>>,
    /// Per plugin, where it may call out: checked into an `OutboundGrant`.
    pub(crate) outbound: Option<BTreeMap<String, Value>>,
    /// Plugin name -> `oci://` reference.
    pub(crate) sources: Option<BTreeMap<String, String>>,
    pub(crate) registry: Option<super::registry::RawRegistry>,
    pub(crate) trust: Option<super::registry::RawTrust>,
    pub(crate) recent_messages: Option<bool>,
}

/// One `keys` entry: hookgate's own section, strict.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawKey {
    pub(crate) key: Option<Secret>,
    pub(crate) alias: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) team_id: Option<String>,
    pub(crate) metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub(crate) models: Option<Vec<String>>,
    pub(crate) allow_disabling_callbacks: Option<bool>,
    pub(crate) disabled_callbacks: Option<Vec<String>>,
    pub(crate) max_parallel_requests: Option<u32>,
    pub(crate) callbacks: Option<Vec<String>>,
    pub(crate) plugin_config: Option<BTreeMap<String, serde_json::Value>>,
    pub(crate) allow_request_guardrails: Option<bool>,
}

/// One `teams` entry: hookgate's own section, strict.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawTeam {
    pub(crate) team_id: Option<String>,
    pub(crate) models: Option<Vec<String>>,
    pub(crate) callbacks: Option<Vec<String>>,
    pub(crate) disabled_callbacks: Option<Vec<String>>,
    pub(crate) plugin_config: Option<BTreeMap<String, serde_json::Value>>,
    pub(crate) allow_disabling_callbacks: Option<bool>,
    pub(crate) allow_request_guardrails: Option<bool>,
    pub(crate) max_parallel_requests: Option<u32>,
}

/// One `guardrails` entry (LiteLLM's section), its unread keys already pruned.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawGuardrail {
    pub(crate) guardrail_name: Option<String>,
    pub(crate) litellm_params: Option<RawGuardrailParams>,
    pub(crate) guardrail_info: Option<serde_json::Value>,
}

/// `guardrails[].litellm_params`, its unread keys already pruned.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawGuardrailParams {
    pub(crate) guardrail: Option<String>,
    pub(crate) mode: Option<OneOrMany>,
    pub(crate) default_on: Option<bool>,
    pub(crate) hookgate_plugin: Option<String>,
}
