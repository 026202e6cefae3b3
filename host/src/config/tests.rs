//! Tests of the whole reading pipeline, from YAML text to `Config`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::plugins::settings::OnError;

const FULL: &str = r#"
model_list:
  - model_name: gpt-4o-mini            # the name clients send as `model`
    litellm_params:
      model: mock/echo                 # `mock/<anything>` = built-in mock provider
      mock_response: "fixed text"      # optional: fixed answer; absent = echo the last user message
      mock_latency_ms: 50              # optional, default 0: delay before answering
      mock_stream_chunks: 4            # optional: number of chunks when streaming; default = one per word
      mock_chunk_delay_ms: 10          # optional, default 0: delay between streamed chunks
      mock_error_status: 503           # optional: answer every request with this error status
      mock_error_message: "overloaded" # optional, with mock_error_status
  - model_name: real
    litellm_params:
      model: openai/gpt-4o-mini        # anything not mock/ = OpenAI-compatible HTTP provider; strip a leading `openai/`
      api_base: http://127.0.0.1:9000/v1   # default https://api.openai.com/v1 ; trailing slash trimmed
      api_key: os.environ/OPENAI_API_KEY   # optional
      timeout: 600                     # optional seconds (LiteLLM's name), default 600; also accept `request_timeout`
      stream_timeout: 30               # optional seconds: a stream's first chunk (LiteLLM's name)
general_settings:
  master_key: os.environ/HOOKGATE_MASTER_KEY
  enforce_user_param: false            # default false
  max_request_size_mb: 8               # default 8 (LiteLLM's name); float allowed
  allow_insecure_master_key: false     # hookgate's opt-in for local development, default false
  ask_stream_usage: false              # default true: a stream's usage chunk asked for while logging
litellm_settings:
  callbacks: ["banned-keywords", "header-injector"]   # names of plugins to enable; absent = every plugin in the dir
  allow_dynamic_callback_disabling: true               # default true
plugins:
  dir: plugins/dist          # relative paths are relative to the config FILE's directory
  watch: true                # default true
  cache_dir: .hookgate-cache # optional, relative to config file dir; default none
  cache_max_mb: 512          # most compiled artifacts kept, least recently used dropped, default 2048
  quarantine_after: 5        # consecutive faults before quarantine, default 5 (>=1)
  quarantine_seconds: 30     # cool-down, default 30
  max_plugins: 100           # default 100
  logging_queue: 1000        # capacity of the logging hooks' queue, default 1000 (>=1)
  max_instances: 1000        # instance pool size, default 1000 (>=1)
  keep_resident_mb: 8        # per slot, dirtied memory reset in place, default 4 (0..1024)
  defaults:                  # PluginSettings keys applied to every plugin (partial)
    timeout_ms: 100
  settings:                  # per-plugin PluginSettings (partial), merged over defaults KEY BY KEY
    banned-keywords:
      priority: 10
      config: {keywords: ["forbidden"]}
keys:                        # virtual keys
  - key: sk-team-blue-1      # the raw key (or os.environ/NAME); required
    alias: team-blue         # required, unique
    user_id: alice           # optional
    team_id: blue            # optional
    metadata: {tier: gold}   # optional JSON object, default {}
    models: [gpt-4o-mini]    # optional allowed model_names; empty/absent = all
    allow_disabling_callbacks: true   # default false
    disabled_callbacks: []            # default []
redis_url: os.environ/REDIS_URL   # optional
"#;

const SOURCE: &str = "/etc/hookgate/config.yaml";

fn full_env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-upstream".to_owned()),
        "HOOKGATE_MASTER_KEY" => Some("sk-master-secret".to_owned()),
        "REDIS_URL" => Some("redis://:pw@localhost:6379".to_owned()),
        _ => None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(yaml: &str) -> Result<Config, ConfigError> {
    Config::from_yaml_str(yaml, Path::new(SOURCE), no_env)
}

fn parse_err(yaml: &str) -> ConfigError {
    match parse(yaml) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(err) => err,
    }
}

/// A config with one mock model and the given extra YAML appended.
fn with_model(extra: &str) -> String {
    format!("model_list:\n  - model_name: m\n    litellm_params: {{model: mock/x}}\n{extra}")
}

/// As [`with_model`], with a master key (virtual keys need one).
fn with_master(extra: &str) -> String {
    with_model(&format!("general_settings: {{master_key: sk-master-for-tests}}\n{extra}"))
}

#[test]
fn full_example_parses() {
    let config = Config::from_yaml_str(FULL, Path::new(SOURCE), full_env).unwrap();
    assert_eq!(config.source, Path::new(SOURCE));
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    assert_eq!(config.models.len(), 2);
    assert_eq!(config.models[0].model_name, "gpt-4o-mini");
    let ProviderConfig::Mock(mock) = &config.models[0].provider else { panic!("{:?}", config.models[0]) };
    assert_eq!(mock.response.as_deref(), Some("fixed text"));
    assert_eq!(mock.latency, Duration::from_millis(50));
    assert_eq!(mock.stream_chunks, Some(4));
    assert_eq!(mock.chunk_delay, Duration::from_millis(10));
    let error = mock.error.as_ref().unwrap();
    assert_eq!((error.status, error.message.as_str()), (503, "overloaded"));

    assert_eq!(config.models[1].model_name, "real");
    let ProviderConfig::OpenAi(http) = &config.models[1].provider else { panic!("{:?}", config.models[1]) };
    assert_eq!(http.model, "gpt-4o-mini");
    assert_eq!(http.api_base, "http://127.0.0.1:9000/v1");
    assert_eq!(http.api_key.as_ref().unwrap().expose(), "sk-upstream");
    assert_eq!(http.timeout, Duration::from_secs(600));

    assert_eq!(config.master_key.as_ref().unwrap().expose(), "sk-master-secret");
    assert!(!config.enforce_user_param);
    assert_eq!(config.max_request_size_bytes, 8 * 1024 * 1024);
    assert_eq!(config.callbacks.as_deref(), Some(&["banned-keywords".to_owned(), "header-injector".to_owned()][..]));
    assert!(config.allow_dynamic_callback_disabling);
    assert!(!config.ask_stream_usage);

    let plugins = &config.plugins;
    assert_eq!(plugins.dir.as_deref(), Some(Path::new("/etc/hookgate/plugins/dist")));
    assert!(plugins.watch);
    assert_eq!(plugins.cache_dir.as_deref(), Some(Path::new("/etc/hookgate/.hookgate-cache")));
    assert_eq!(plugins.cache_max_bytes, 512 << 20);
    assert_eq!(plugins.quarantine_after, 5);
    assert_eq!(plugins.quarantine_cooldown, Duration::from_secs(30));
    assert_eq!(plugins.max_plugins, 100);
    assert_eq!(plugins.logging_queue, 1000);
    assert_eq!(plugins.max_instances, 1000);
    assert_eq!(plugins.keep_resident_bytes, 8 << 20);
    let banned = config.plugin_settings("banned-keywords");
    assert_eq!(banned.priority, 10);
    assert_eq!(banned.timeout_ms, 100);
    assert_eq!(banned.config, serde_json::json!({"keywords": ["forbidden"]}));
    assert_eq!(config.plugin_settings("header-injector"), PluginSettings::default());

    assert_eq!(config.keys.len(), 1);
    let key = &config.keys[0];
    assert_eq!(key.key.expose(), "sk-team-blue-1");
    assert_eq!(key.alias, "team-blue");
    assert_eq!(key.user_id.as_deref(), Some("alice"));
    assert_eq!(key.team_id.as_deref(), Some("blue"));
    assert_eq!(serde_json::Value::Object(key.metadata.clone()), serde_json::json!({"tier": "gold"}));
    assert_eq!(key.models, ["gpt-4o-mini"]);
    assert!(key.allow_disabling_callbacks);
    assert!(key.disabled_callbacks.is_empty());

    assert_eq!(config.redis_url.as_ref().unwrap().expose(), "redis://:pw@localhost:6379");
}

#[test]
fn minimal_litellm_config_gets_defaults() {
    let yaml = "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: gpt-4o\n\
                general_settings:\n  master_key: sk-a-real-secret\n";
    let config = parse(yaml).unwrap();
    let ProviderConfig::OpenAi(http) = &config.models[0].provider else { panic!() };
    assert_eq!(http.model, "gpt-4o");
    assert_eq!(http.api_base, "https://api.openai.com/v1");
    assert!(http.api_key.is_none());
    assert_eq!(http.timeout, Duration::from_secs(600));
    assert_eq!(config.master_key.unwrap().expose(), "sk-a-real-secret");
    assert!(!config.enforce_user_param);
    assert_eq!(config.max_request_size_bytes, 8 * 1024 * 1024);
    assert!(config.callbacks.is_none());
    assert!(config.allow_dynamic_callback_disabling);
    assert!(config.ask_stream_usage, "asked for by default");
    assert!(config.keys.is_empty());
    assert!(config.redis_url.is_none());
    assert!(config.plugins.dir.is_none());
    assert_eq!(config.plugins.defaults, PluginSettings::default());
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn empty_file_is_an_empty_config() {
    let config = parse("").unwrap();
    assert!(config.models.is_empty());
    assert!(config.master_key.is_none());
}

#[test]
fn env_references_resolve_anywhere() {
    let yaml = with_model(
        "general_settings: {master_key: os.environ/MK}\n\
         plugins: {settings: {p: {config: {token: os.environ/TOKEN}}}}\n",
    );
    let env = |name: &str| match name {
        "MK" => Some("sk-from-env".to_owned()),
        "TOKEN" => Some("t0k3n".to_owned()),
        _ => None,
    };
    let config = Config::from_yaml_str(&yaml, Path::new(SOURCE), env).unwrap();
    assert_eq!(config.master_key.unwrap().expose(), "sk-from-env");
    assert_eq!(config.plugins.settings_for("p").config, serde_json::json!({"token": "t0k3n"}));
}

#[test]
fn unset_env_variable_names_path_and_variable() {
    let err = parse(&with_model("keys:\n  - {alias: a, key: os.environ/TEAM_KEY}\n"));
    let err = err.unwrap_err();
    assert_eq!(err.key_path(), Some("keys[0].key"));
    let text = err.to_string();
    assert!(text.starts_with(&format!("{SOURCE}: keys[0].key: ")), "{text}");
    assert!(text.contains("TEAM_KEY"), "{text}");
}

#[test]
fn ignored_settings_do_not_need_their_env_variables() {
    let config = parse(&with_model("general_settings: {database_url: os.environ/DATABASE_URL}\n")).unwrap();
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
}

#[test]
fn type_error_names_the_path() {
    let err = parse_err(&with_model("general_settings:\n  enforce_user_param: \"yes please\"\n"));
    let text = err.to_string();
    assert!(text.contains("general_settings.enforce_user_param"), "{text}");
    assert!(text.starts_with(SOURCE), "{text}");
}

#[test]
fn type_error_inside_a_list_names_the_index() {
    let err = parse_err(&with_model("  - model_name: b\n    litellm_params: {model: mock/y, mock_latency_ms: soon}\n"));
    assert_eq!(err.key_path(), Some("model_list[1].litellm_params.mock_latency_ms"), "{err}");
}

#[test]
fn model_name_is_required() {
    let err = parse_err(&with_model("  - litellm_params: {model: mock/y}\n"));
    assert_eq!(err.key_path(), Some("model_list[1].model_name"), "{err}");
}

#[test]
fn litellm_params_model_is_required() {
    let err = parse_err("model_list:\n  - model_name: a\n    litellm_params: {model: ''}\n");
    assert_eq!(err.key_path(), Some("model_list[0].litellm_params.model"), "{err}");
}

#[test]
fn bad_api_base_is_refused() {
    let err = parse_err(&with_model(
        "  - model_name: b\n    litellm_params: {model: gpt-4o, api_base: 'localhost:9000/v1'}\n",
    ));
    assert_eq!(err.key_path(), Some("model_list[1].litellm_params.api_base"), "{err}");
    assert!(err.message().contains("http://"), "{err}");
}

#[test]
fn request_timeout_is_accepted() {
    let config = parse("model_list: [{model_name: a, litellm_params: {model: gpt-4o, request_timeout: 2.5}}]").unwrap();
    let ProviderConfig::OpenAi(http) = &config.models[0].provider else { panic!() };
    assert_eq!(http.timeout, Duration::from_millis(2500));
}

#[test]
fn stream_timeout_is_read_checked_and_noted_as_unused_on_a_mock() {
    let config = parse("model_list: [{model_name: a, litellm_params: {model: gpt-4o, stream_timeout: 0.5}}]").unwrap();
    let ProviderConfig::OpenAi(http) = &config.models[0].provider else { panic!() };
    assert_eq!((http.timeout, http.stream_timeout), (Duration::from_secs(600), Some(Duration::from_millis(500))));
    let config = parse("model_list: [{model_name: a, litellm_params: {model: gpt-4o}}]").unwrap();
    let ProviderConfig::OpenAi(http) = &config.models[0].provider else { panic!() };
    assert_eq!(http.stream_timeout, None);
    let err = parse_err("model_list: [{model_name: a, litellm_params: {model: gpt-4o, stream_timeout: 0}}]");
    assert_eq!(err.key_path(), Some("model_list[0].litellm_params.stream_timeout"), "{err}");
    let config = parse("model_list: [{model_name: a, litellm_params: {model: mock/x, stream_timeout: 5}}]").unwrap();
    assert!(
        config.warnings.iter().any(|w| w.contains("stream_timeout has no effect on a mock/ model")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn mock_error_status_must_be_an_error() {
    let err = parse_err("model_list: [{model_name: a, litellm_params: {model: mock/x, mock_error_status: 200}}]");
    assert_eq!(err.key_path(), Some("model_list[0].litellm_params.mock_error_status"), "{err}");
}

#[test]
fn mock_keys_on_http_models_are_refused() {
    let err = parse_err("model_list: [{model_name: a, litellm_params: {model: openai/gpt-4o, mock_response: hi}}]");
    assert_eq!(err.key_path(), Some("model_list[0].litellm_params.mock_response"), "{err}");
}

#[test]
fn insecure_master_key_is_refused() {
    let err = parse_err(&with_model("general_settings: {master_key: sk-1234}\n"));
    assert_eq!(err.key_path(), Some("general_settings.master_key"));
    assert!(err.message().contains("allow_insecure_master_key: true"), "{err}");
}

#[test]
fn insecure_master_key_is_accepted_with_opt_in() {
    let config =
        parse(&with_model("general_settings: {master_key: sk-1234, allow_insecure_master_key: true}\n")).unwrap();
    assert_eq!(config.master_key.unwrap().expose(), "sk-1234");
    assert!(config.warnings.iter().any(|w| w.contains("publicly known")), "{:?}", config.warnings);
}

#[test]
fn insecure_virtual_key_is_refused() {
    let err = parse_err(&with_master("keys: [{key: changeme, alias: a}]\n"));
    assert_eq!(err.key_path(), Some("keys[0].key"), "{err}");
}

#[test]
fn duplicate_alias_is_refused() {
    let err =
        parse_err(&with_master("keys:\n  - {key: sk-one-abc, alias: team}\n  - {key: sk-two-abc, alias: team}\n"));
    assert_eq!(err.key_path(), Some("keys[1].alias"), "{err}");
    assert!(err.message().contains("keys[0]"), "{err}");
}

#[test]
fn duplicate_key_is_refused() {
    let err = parse_err(&with_master("keys:\n  - {key: sk-one-abc, alias: a}\n  - {key: sk-one-abc, alias: b}\n"));
    assert_eq!(err.key_path(), Some("keys[1].key"), "{err}");
    assert!(!err.to_string().contains("sk-one-abc"), "a key must not appear in errors: {err}");
}

#[test]
fn virtual_key_may_not_be_the_master_key() {
    let err =
        parse_err(&with_model("general_settings: {master_key: sk-same-abc}\nkeys: [{key: sk-same-abc, alias: a}]\n"));
    assert_eq!(err.key_path(), Some("keys[0].key"), "{err}");
}

#[test]
fn key_models_must_exist() {
    let err = parse_err(&with_master("keys: [{key: sk-one-abc, alias: a, models: [m, nope]}]\n"));
    assert_eq!(err.key_path(), Some("keys[0].models[1]"), "{err}");
}

#[test]
fn unknown_key_in_keys_is_an_error() {
    let err = parse_err(&with_master("keys: [{key: sk-one-abc, alias: a, modles: [m]}]\n"));
    assert_eq!(err.key_path(), Some("keys[0].modles"), "{err}");
}

#[test]
fn virtual_keys_without_a_master_key_are_refused() {
    let err = parse_err(&with_model("keys: [{key: sk-one-abc, alias: a}]\n"));
    assert_eq!(err.key_path(), Some("keys"), "{err}");
    assert!(err.message().contains("master_key"), "{err}");
}

#[test]
fn the_master_alias_is_reserved() {
    for alias in ["master", "MASTER", " Master "] {
        let err = parse_err(&with_master(&format!("keys: [{{key: sk-one-abc, alias: '{alias}'}}]\n")));
        assert_eq!(err.key_path(), Some("keys[0].alias"), "{err}");
        assert!(err.message().contains("reserved"), "{err}");
    }
}

#[test]
fn disabling_by_header_is_off_for_virtual_keys_unless_granted() {
    let config = parse(&with_master("keys: [{key: sk-one-abc, alias: a}, {key: sk-two-abc, alias: b, allow_disabling_callbacks: true, max_parallel_requests: 3}]\n")).unwrap();
    assert!(!config.keys[0].allow_disabling_callbacks);
    assert!(config.keys[1].allow_disabling_callbacks);
    assert_eq!(config.keys[1].max_parallel_requests, Some(3));
    let err = parse_err(&with_master("keys: [{key: sk-one-abc, alias: a, max_parallel_requests: 0}]\n"));
    assert_eq!(err.key_path(), Some("keys[0].max_parallel_requests"), "{err}");
}

#[test]
fn values_that_could_overflow_are_bounded_with_the_key_named() {
    let cases = [
        ("plugins: {quarantine_seconds: 18446744073709551615}\n", "plugins.quarantine_seconds"),
        ("plugins: {max_instances: 4000000000}\n", "plugins.max_instances"),
        ("plugins: {instance_wait_ms: 0}\n", "plugins.instance_wait_ms"),
        ("plugins: {keep_resident_mb: 1025}\n", "plugins.keep_resident_mb"),
        ("plugins: {cache_max_mb: 0}\n", "plugins.cache_max_mb"),
        ("plugins: {defaults: {timeout_ms: 18446744073709551615}}\n", "plugins.defaults.timeout_ms"),
        ("plugins: {defaults: {memory_mb: 999999999}}\n", "plugins.defaults.memory_mb"),
        ("plugins: {settings: {p: {fuel: 0}}}\n", "plugins.settings.p.fuel"),
        ("general_settings: {max_request_size_mb: 1e300}\n", "general_settings.max_request_size_mb"),
        ("general_settings: {header_read_timeout_seconds: 1e30}\n", "general_settings.header_read_timeout_seconds"),
        ("general_settings: {max_header_bytes: 10}\n", "general_settings.max_header_bytes"),
        ("general_settings: {serving_threads: 0}\n", "general_settings.serving_threads"),
        ("general_settings: {serving_threads: 1025}\n", "general_settings.serving_threads"),
        ("general_settings: {key_id_secret: short}\n", "general_settings.key_id_secret"),
        ("redis_prefix: 'has space'\n", "redis_prefix"),
    ];
    for (yaml, path) in cases {
        let err = parse_err(&with_model(yaml));
        assert_eq!(err.key_path(), Some(path), "{yaml}: {err}");
    }
    let config =
        parse(&with_model("plugins: {quarantine_seconds: 31536000, max_instances: 10000, keep_resident_mb: 0}\n"))
            .unwrap();
    assert_eq!(config.plugins.quarantine_cooldown.as_secs(), 31_536_000);
    assert_eq!(config.plugins.keep_resident_bytes, 0);
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(parse(&with_model("")).unwrap().server.serving_threads, cpus, "one serving thread per CPU by default");
    assert_eq!(parse(&with_model("general_settings: {serving_threads: 3}\n")).unwrap().server.serving_threads, 3);
}

fn sidecar(config_yaml: &str, name: &str, sidecar: &str) -> Result<crate::plugins::PluginSettings, ConfigError> {
    let config = parse(&with_model(config_yaml)).unwrap();
    config.plugins.settings_with_sidecar(name, Path::new("/plugins/p.yaml"), sidecar)
}

#[test]
fn a_sidecar_may_not_read_the_environment() {
    for yaml in ["config: {x: os.environ/HOOKGATE_MASTER_KEY}", "config: [a, os.environ/X]", "priority: os.environ/P"] {
        let err = sidecar("", "p", yaml).unwrap_err();
        assert!(err.message().contains("os.environ/"), "{yaml}: {err}");
        assert_eq!(err.file(), Path::new("/plugins/p.yaml"));
        assert!(err.key_path().is_some_and(|path| path.starts_with("config") || path == "priority"), "{err}");
    }
}

#[test]
fn a_sidecar_may_not_raise_the_operators_limits_but_the_main_config_may() {
    let defaults = "plugins: {defaults: {fuel: 1000000, timeout_ms: 50}}\n";
    for (yaml, key) in [
        ("fuel: 2000000", "fuel"),
        ("timeout_ms: 51", "timeout_ms"),
        ("memory_mb: 128", "memory_mb"),
        ("max_output_bytes: 99999999", "max_output_bytes"),
        ("instances: reuse", "instances"),
    ] {
        let err = sidecar(defaults, "p", yaml).unwrap_err();
        assert_eq!(err.key_path(), Some(key), "{yaml}: {err}");
        assert!(err.message().contains("ceiling"), "{err}");
    }
    let lowered = sidecar(defaults, "p", "fuel: 10\ntimeout_ms: 5\npriority: 3").unwrap();
    assert_eq!((lowered.fuel, lowered.timeout_ms, lowered.priority), (10, 5, 3));
    let raised_by_operator =
        sidecar("plugins: {defaults: {fuel: 1000000}, settings: {p: {fuel: 5000000}}}\n", "p", "fuel: 4000000")
            .unwrap();
    assert_eq!(raised_by_operator.fuel, 5_000_000, "the operator's entry wins");
    let within_limits =
        sidecar("plugins: {defaults: {fuel: 1000000}, limits: {fuel: 3000000}}\n", "p", "fuel: 2000000").unwrap();
    assert_eq!(within_limits.fuel, 2_000_000, "plugins.limits is the ceiling when set");
    let err =
        sidecar("plugins: {defaults: {fuel: 1000000}, limits: {fuel: 3000000}}\n", "p", "fuel: 3000001").unwrap_err();
    assert!(err.message().contains("plugins.limits.fuel"), "{err}");
}

#[test]
fn unknown_key_under_plugins_is_an_error() {
    let err = parse_err(&with_model("plugins: {dir: p, wacth: false}\n"));
    assert_eq!(err.key_path(), Some("plugins.wacth"), "{err}");
    assert!(err.message().contains("wacth"), "{err}");
}

#[test]
fn plugin_limits_must_be_positive() {
    let err = parse_err(&with_model("plugins: {quarantine_after: 0}\n"));
    assert_eq!(err.key_path(), Some("plugins.quarantine_after"), "{err}");
}

#[test]
fn invalid_callback_name_is_refused() {
    let err = parse_err(&with_model("litellm_settings: {callbacks: [ok, 'bad/name']}\n"));
    assert_eq!(err.key_path(), Some("litellm_settings.callbacks[1]"), "{err}");
}

#[test]
fn unknown_litellm_keys_warn_instead_of_failing() {
    let yaml =
        "model_list:\n  - model_name: a\n    litellm_params: {model: gpt-4o, rpm: 10}\n    model_info: {id: x}\n\
                general_settings: {master_key: sk-real-secret, database_url: postgres://x}\n\
                litellm_settings: {drop_params: true}\nrouter_settings: {routing_strategy: simple-shuffle}\n";
    let config = parse(yaml).unwrap();
    let warnings = config.warnings.join("\n");
    for key in [
        "router_settings",
        "general_settings.database_url",
        "litellm_settings.drop_params",
        "model_list[0].litellm_params.rpm",
    ] {
        assert!(warnings.contains(&format!("{key} is not a hookgate setting")), "{key}: {warnings}");
    }
    assert!(!warnings.contains("model_info"), "{warnings}");
    assert_eq!(config.warnings.len(), 4, "{warnings}");
}

#[test]
fn plugin_settings_merge_key_by_key_over_defaults() {
    let config = parse(&with_model(
        "plugins:\n  defaults: {timeout_ms: 250, fuel: 1000, on_error: fail-closed}\n  \
         settings:\n    a: {priority: 3, fuel: 2000}\n    b:\n",
    ))
    .unwrap();
    let a = config.plugin_settings("a");
    assert_eq!((a.priority, a.fuel, a.timeout_ms, a.on_error), (3, 2000, 250, OnError::FailClosed));
    assert_eq!(a.memory_mb, PluginSettings::default().memory_mb);
    let b = config.plugin_settings("b");
    assert_eq!((b.priority, b.fuel, b.timeout_ms), (0, 1000, 250));
    let other = config.plugin_settings("not-configured");
    assert_eq!(other, config.plugins.defaults);
    assert_eq!(other.timeout_ms, 250);
}

#[test]
fn bad_plugin_setting_names_plugin_and_key() {
    let err = parse_err(&with_model("plugins:\n  settings:\n    banned-keywords: {timeout_ms: fast}\n"));
    assert_eq!(err.key_path(), Some("plugins.settings.banned-keywords.timeout_ms"), "{err}");
    let err = parse_err(&with_model("plugins:\n  settings:\n    banned-keywords: {timeout: 5}\n"));
    assert_eq!(err.key_path(), Some("plugins.settings.banned-keywords.timeout"), "{err}");
    let err = parse_err(&with_model("plugins:\n  defaults: {on_error: explode}\n"));
    assert_eq!(err.key_path(), Some("plugins.defaults.on_error"), "{err}");
}

#[test]
fn secrets_do_not_show_in_debug() {
    let config = Config::from_yaml_str(FULL, Path::new(SOURCE), full_env).unwrap();
    let debug = format!("{config:?}");
    for secret in ["sk-upstream", "sk-master-secret", "sk-team-blue-1", ":pw@"] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
    assert!(debug.contains("[redacted]"));
}

#[test]
fn yaml_syntax_error_mentions_line() {
    let err = parse_err("model_list:\n  - model_name: a\n   bad: [unclosed\n");
    let text = err.to_string();
    assert!(err.key_path().is_none());
    assert!(text.starts_with(&format!("{SOURCE}: invalid YAML")), "{text}");
    assert!(text.contains("line"), "{text}");
}

#[test]
fn top_level_must_be_a_mapping() {
    assert!(parse("- a\n- b\n").is_err());
}

#[test]
fn merge_keys_share_params() {
    let yaml = "base: &base {model: gpt-4o, api_base: 'http://h/v1'}\n\
                model_list:\n  - model_name: a\n    litellm_params: {<<: *base, timeout: 5}\n";
    let config = parse(yaml).unwrap();
    let ProviderConfig::OpenAi(http) = &config.models[0].provider else { panic!() };
    assert_eq!((http.api_base.as_str(), http.timeout), ("http://h/v1", Duration::from_secs(5)));
}

/// A directory under the system temp dir, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let dir = std::env::temp_dir().join(format!("hookgate-config-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_resolves_paths_against_the_file() {
    let dir = ScratchDir::new("load");
    let file = dir.0.join("config.yaml");
    std::fs::write(&file, with_model("plugins: {dir: plugins/dist, cache_dir: /abs/cache}\n")).unwrap();
    let config = Config::load(&file).unwrap();
    assert_eq!(config.source, file);
    assert_eq!(config.plugins.dir, Some(dir.0.join("plugins/dist")));
    assert_eq!(config.plugins.cache_dir.as_deref(), Some(Path::new("/abs/cache")));
}

#[test]
fn unreadable_file_names_it() {
    let dir = ScratchDir::new("missing");
    let file = dir.0.join("nope.yaml");
    let err = Config::load(&file).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{}: cannot read", file.display())), "{err}");
}

#[test]
fn callbacks_may_be_one_string_as_in_litellm_docs() {
    let config = parse("litellm_settings: {callbacks: custom_callbacks.proxy_handler_instance}\n").unwrap();
    assert_eq!(config.callbacks, Some(vec!["custom_callbacks.proxy_handler_instance".to_owned()]));
    let config = parse("litellm_settings: {callbacks: [a, b]}\n").unwrap();
    assert_eq!(config.callbacks, Some(vec!["a".to_owned(), "b".to_owned()]));
    let message = parse_err("litellm_settings: {callbacks: 5}\n").to_string();
    assert!(
        message.contains("litellm_settings.callbacks") && message.contains("a string or a list of strings"),
        "{message}"
    );
}

#[test]
fn a_key_inherits_its_team_s_policy_and_refines_it() {
    let teams_and_keys = "teams:
  - team_id: blue
    models: [m]
    callbacks: [pii]
    disabled_callbacks: [logger]
    plugin_config: {rate-limiter: {requests_per_minute: 600}, words: {keywords: [a]}}
    allow_disabling_callbacks: true
keys:
  - {key: sk-one-abc, alias: one, team_id: blue, callbacks: [extra], plugin_config: {words: {keywords: [b]}}}
  - {key: sk-two-abc, alias: two, team_id: blue, allow_disabling_callbacks: false, allow_request_guardrails: false}
";
    let error = parse_err(&with_master(&format!(
        "{teams_and_keys}  - {{key: sk-three-abc, alias: three, team_id: not-in-teams-is-an-error}}\n"
    )));
    assert_eq!(error.key_path(), Some("keys[2].team_id"), "{error}");
    assert!(error.message().contains("blue"), "the known teams are listed: {error}");

    let config = parse(&with_master(teams_and_keys)).unwrap();
    let (one, two) = (&config.keys[0], &config.keys[1]);
    assert_eq!(one.models, ["m"], "an empty list inherits the team's");
    assert_eq!(one.callbacks, ["extra", "pii"]);
    assert_eq!(one.disabled_callbacks, ["logger"]);
    assert_eq!(one.plugin_config["words"], serde_json::json!({"keywords": ["b"]}), "the key's config wins");
    assert_eq!(one.plugin_config["rate-limiter"], serde_json::json!({"requests_per_minute": 600}));
    assert!(one.allow_disabling_callbacks && one.allow_request_guardrails, "inherited");
    assert!(!two.allow_disabling_callbacks && !two.allow_request_guardrails, "a key may narrow");
    let overrides = &config.plugins.config_overrides["words"];
    assert_eq!(overrides.len(), 2, "one per distinct config: {overrides:?}");
    assert_eq!(config.plugin_settings("words").config_overrides.len(), 2);
}

#[test]
fn a_team_cannot_turn_on_a_plugin_the_proxy_does_not_load() {
    let base = "litellm_settings: {callbacks: [words]}\n";
    let err = parse_err(&with_master(&format!("{base}teams: [{{team_id: t, callbacks: [other]}}]\n")));
    assert_eq!(err.key_path(), Some("teams[0].callbacks[0]"), "{err}");
    let err = parse_err(&with_master(&format!("{base}teams: [{{team_id: t, plugin_config: {{other: {{}}}}}}]\n")));
    assert_eq!(err.key_path(), Some("teams[0].plugin_config.other"), "{err}");
    let err = parse_err(&with_master(&format!("{base}teams: [{{team_id: t, models: [nope]}}]\n")));
    assert_eq!(err.key_path(), Some("teams[0].models[0]"), "{err}");
    let err = parse_err(&with_master(&format!("{base}teams: [{{team_id: t}}, {{team_id: t}}]\n")));
    assert_eq!(err.key_path(), Some("teams[1].team_id"), "{err}");
    let err = parse_err(&with_master(&format!(
        "{base}teams: [{{team_id: t, max_parallel_requests: 2}}]\nkeys: [{{key: sk-k-abcdef, alias: k, team_id: t, max_parallel_requests: 3}}]\n"
    )));
    assert_eq!(err.key_path(), Some("keys[0].max_parallel_requests"), "{err}");
}

#[test]
fn guardrails_load_their_plugins_and_own_their_default_on() {
    let yaml = "litellm_settings: {callbacks: [words]}
guardrails:
  - {guardrail_name: g, litellm_params: {guardrail: custom_guardrail.my_handler, mode: [pre_call, logging_only], api_key: os.environ/UNSET_KEY}}
teams: [{team_id: t, callbacks: [g]}]
";
    let config = parse(&with_master(yaml)).unwrap();
    assert_eq!(config.callbacks.as_deref(), Some(&["words".to_owned(), "custom_guardrail.my_handler".to_owned()][..]));
    assert!(
        config.warnings.iter().any(|w| w.starts_with("guardrails[0].litellm_params.api_key")),
        "{:?}",
        config.warnings
    );
    let conflicting = format!("{yaml}plugins: {{settings: {{custom_guardrail.my_handler: {{default_on: true}}}}}}\n");
    let err = parse_err(&with_master(&conflicting));
    assert_eq!(err.key_path(), Some("plugins.settings.custom_guardrail.my_handler.default_on"), "{err}");
}

#[test]
fn default_on_is_the_operator_s_and_never_a_sidecar_s() {
    let config =
        parse(&with_master("plugins: {defaults: {default_on: false}, settings: {words: {default_on: true}}}\n"))
            .unwrap();
    assert!(config.plugins.default_on("words"));
    assert!(!config.plugins.default_on("other"), "plugins.defaults.default_on applies to the rest");
    let sidecar = config.plugins.settings_with_sidecar("other", Path::new("other.yaml"), "default_on: true\n");
    let error = sidecar.unwrap_err();
    assert_eq!(error.key_path(), Some("default_on"), "{error}");
    assert!(error.message().contains("operator"), "{error}");
}

#[test]
fn registry_sources_and_trust_are_checked_at_load_naming_the_key() {
    let hex = "ab".repeat(32);
    let config = parse(&with_model(&format!(
        "plugins:\n  sources: {{guard: 'oci://127.0.0.1:5000/guards/g:stable', pinned: 'oci://r.example/p@sha256:{hex}'}}\n  registry: {{poll_seconds: 5, insecure: [r.example]}}\n  trust: {{digests: ['sha256:{hex}']}}\n"
    )))
    .unwrap();
    let registry = &config.plugins.registry;
    assert_eq!(registry.sources["guard"].to_string(), "oci://127.0.0.1:5000/guards/g:stable");
    assert!(registry.sources["pinned"].digest().is_some());
    assert_eq!(registry.poll_interval, std::time::Duration::from_secs(5));
    assert_eq!(registry.trust.as_ref().unwrap().digests.len(), 1);
    for (yaml, key, says) in [
        ("sources: {g: 'https://r.example/g'}", "plugins.sources.g", "oci://"),
        ("sources: {g: 'oci://r.example/G:v1'}", "plugins.sources.g", "lowercase"),
        ("sources: {'bad name': 'oci://r.example/g:v1'}", "plugins.sources.bad name", "name"),
        ("registry: {poll_seconds: 0}", "plugins.registry.poll_seconds", "between"),
        ("trust: {}", "plugins.trust", "neither digests nor keys"),
        ("trust: {digests: ['md5:abc']}", "plugins.trust.digests[0]", "sha256"),
        ("trust: {keys: [/nonexistent/release.pub]}", "plugins.trust.keys[0]", "cannot read"),
    ] {
        let err = parse_err(&with_model(&format!("plugins:\n  {yaml}\n")));
        assert_eq!(err.key_path(), Some(key), "{yaml}: {err}");
        assert!(err.message().contains(says), "{yaml}: {err}");
    }
}

#[test]
fn traces_are_off_without_an_endpoint_and_checked_with_one() {
    assert!(parse(&with_model("")).unwrap().traces.is_none());
    assert!(parse(&with_model("traces: {sample_ratio: 0.5}\n")).unwrap().traces.is_none());
    let traces = parse(&with_model("traces: {endpoint: 'http://127.0.0.1:4318/v1/traces', sample_ratio: 0.25}\n"))
        .unwrap()
        .traces
        .unwrap();
    assert_eq!((traces.sample_ratio, traces.service_name.as_str()), (0.25, "hookgate"));
    for (yaml, key) in [
        ("traces: {endpoint: 'grpc://x:4317'}", "traces.endpoint"),
        ("traces: {endpoint: 'http://x/v1/traces', sample_ratio: 2}", "traces.sample_ratio"),
        ("traces: {endpoint: 'http://x/v1/traces', export_delay_ms: 0}", "traces.export_delay_ms"),
        ("traces: {endpoint: 'http://x/v1/traces', sampel_ratio: 1}", "traces"),
    ] {
        let err = parse_err(&with_model(&format!("{yaml}\n")));
        assert!(err.key_path().is_some_and(|path| path.starts_with(key)), "{yaml}: {err}");
    }
}

/// Compiled artifacts are native code the proxy runs unchecked: the cache may not sit
/// where whoever adds plugins can write.
#[test]
fn the_artifact_cache_may_not_be_inside_the_plugin_directory() {
    let err = parse_err(&with_model("plugins: {dir: plugins, cache_dir: plugins/.cache}\n"));
    assert_eq!(err.key_path(), Some("plugins.cache_dir"));
    assert!(err.message().contains("inside plugins.dir"), "{err}");
    parse(&with_model("plugins: {dir: plugins, cache_dir: cache}\n")).unwrap();
}

/// Spelled another way, through a symlink to the plugin directory or a `..`, it is still
/// inside it.
#[test]
fn the_artifact_cache_is_inside_the_plugin_directory_however_it_is_spelled() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    std::fs::create_dir(base.join("plugins")).unwrap();
    std::fs::create_dir(base.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(base.join("plugins"), base.join("link")).unwrap();
    let plugins = base.join("plugins").display().to_string();
    for cache in ["link/.cache", "link", "elsewhere/../plugins/c", "missing/../plugins/c", "link/new/deeper"] {
        let cache = base.join(cache).display().to_string();
        let err = parse_err(&with_model(&format!("plugins: {{dir: '{plugins}', cache_dir: '{cache}'}}\n")));
        assert_eq!(err.key_path(), Some("plugins.cache_dir"), "{cache}");
    }
    for cache in ["elsewhere/c", "plugins-cache", "link/../elsewhere"] {
        let cache = base.join(cache).display().to_string();
        parse(&with_model(&format!("plugins: {{dir: '{plugins}', cache_dir: '{cache}'}}\n"))).expect(&cache);
    }
}
