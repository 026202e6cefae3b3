//! Policies per team, key and request, and LiteLLM's `guardrails:` section, over real
//! HTTP: two teams and three keys share one loaded copy of each plugin, each team with
//! its own rate limit and word list; an off-by-default plugin runs only where asked for;
//! a team that may not change guardrails gets 403; LiteLLM's documented guardrail config
//! starts and runs each entry's mode.

use std::time::Duration;

use hookgate_tests::proxy::{chat_body, Proxy, ProxyBuilder, MASTER_KEY};
use hookgate_tests::upstream::{echo_chat, StandIn};
use serde_json::{json, Value};

/// Blue: a daily limit for its keys together, its own word list, no opting in. Red: its
/// own daily limit, and the
/// (off by default) header-injector on for all its requests. Both use the same
/// rate-limiter and banned-keywords as everyone else, with their own config.
fn teams_config(upstream: &str, (blue_limit, red_limit): (u32, u32)) -> String {
    format!(
        "model_list:
  - {{model_name: recorded, litellm_params: {{model: openai/x, api_base: '{upstream}/v1'}}}}
teams:
  - team_id: blue
    allow_request_guardrails: false
    plugin_config:
      rate-limiter: {{limit: {blue_limit}, window_seconds: 86400, per: team}}
      banned-keywords: {{keywords: [blueprint]}}
  - team_id: red
    callbacks: [header-injector]
    plugin_config:
      rate-limiter: {{limit: {red_limit}, window_seconds: 86400, per: team}}
keys:
  - {{key: sk-blue-one-0001, alias: blue-one, team_id: blue}}
  - {{key: sk-blue-two-0002, alias: blue-two, team_id: blue}}
  - {{key: sk-red-one-00003, alias: red-one, team_id: red}}
"
    )
}

async fn teams_proxy(upstream: &str) -> Proxy {
    teams_proxy_with(upstream, "per-request", (2, 5)).await
}

/// The teams' proxy, with banned-keywords' instances `instances` (`reuse` keeps warm
/// ones) and the teams' rate limits.
async fn teams_proxy_with(upstream: &str, instances: &str, limits: (u32, u32)) -> Proxy {
    ProxyBuilder::new(&teams_config(upstream, limits))
        .plugin("rate-limiter", "rate-limiter")
        .settings("rate-limiter", "{priority: 0, config: {limit: 1000, window_seconds: 86400}}")
        .plugin("banned-keywords", "banned-keywords")
        .settings(
            "banned-keywords",
            &format!("{{priority: 10, instances: {instances}, config: {{keywords: [forbidden]}}}}"),
        )
        .plugin("header-injector", "header-injector")
        .settings("header-injector", "{default_on: false, config: {headers: {x-injected: 'yes'}}}")
        .start()
        .await
}

/// What a request came to: its status, its `x-ratelimit-limit-requests` and
/// `x-injected` headers, and its body.
struct Outcome {
    status: u16,
    limit: Option<String>,
    injected: bool,
    body: Value,
}

async fn send(proxy: &Proxy, key: &str, body: &Value) -> Outcome {
    let response = proxy.post("/v1/chat/completions", key, body).await;
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (limit, injected) = (header("x-ratelimit-limit-requests"), header("x-injected").is_some());
    Outcome { status, limit, injected, body: response.json().await.unwrap() }
}

/// Sends requests as `keys` in turn until one is refused by the rate limiter; returns
/// how many were served first. Each served one must show `limit` as its limit.
async fn served_before_the_limit(proxy: &Proxy, keys: &[&str], limit: u32) -> u32 {
    // One more than the limit, and one more again should the day's window turn midway.
    for sent in 0..limit + 2 {
        let outcome = send(proxy, keys[sent as usize % keys.len()], &chat_body("recorded", "hello")).await;
        match outcome.status {
            200 => assert_eq!(outcome.limit.as_deref(), Some(limit.to_string().as_str()), "{}", outcome.body),
            429 => {
                assert_eq!(outcome.body["error"]["code"], "rate_limit_exceeded", "{}", outcome.body);
                let message = outcome.body["error"]["message"].as_str().unwrap();
                assert!(message.contains(&format!("{limit} requests")) && message.contains("per team"), "{message}");
                return sent;
            }
            other => panic!("unexpected {other}: {}", outcome.body),
        }
    }
    panic!("the rate limiter never refused {keys:?} within {} requests", limit + 2)
}

async fn recording_upstream() -> StandIn {
    StandIn::start(|received| echo_chat(received.json())).await
}

#[tokio::test]
async fn each_team_has_its_own_rate_limit_from_one_loaded_plugin() {
    let upstream = recording_upstream().await;
    let proxy = teams_proxy(&upstream.base).await;
    let entry = proxy.plugin_entry("rate-limiter").await;
    assert_eq!(entry["runs_for"]["config_from"], json!(["team blue", "team red"]), "{entry}");
    // Blue's two keys share the team's 2; red's key has red's 5.
    assert_eq!(served_before_the_limit(&proxy, &["sk-blue-one-0001", "sk-blue-two-0002"], 2).await, 2);
    assert_eq!(served_before_the_limit(&proxy, &["sk-red-one-00003"], 5).await, 5);
    // Everyone else still has the plugin's own limit.
    let master = send(&proxy, MASTER_KEY, &chat_body("recorded", "hi")).await;
    assert_eq!((master.status, master.limit.as_deref()), (200, Some("1000")), "{}", master.body);
}

#[tokio::test]
async fn a_team_s_word_list_applies_to_that_team_only() {
    // With reused instances too: an instance made for one team's config never serves
    // another's request.
    for instances in ["per-request", "reuse"] {
        let upstream = recording_upstream().await;
        let proxy = teams_proxy_with(&upstream.base, instances, (100, 100)).await;
        let blueprint = chat_body("recorded", "the blueprint of the plan");
        let forbidden = chat_body("recorded", "the forbidden word");
        for round in 0..3 {
            let blue = send(&proxy, "sk-blue-one-0001", &blueprint).await;
            assert_eq!((blue.status, &blue.body["error"]["code"]), (400, &json!("banned_keyword")), "{}", blue.body);
            let red = send(&proxy, "sk-red-one-00003", &blueprint).await;
            assert_eq!(red.status, 200, "{instances} #{round}: red has the global list: {}", red.body);
            assert_eq!(send(&proxy, "sk-red-one-00003", &forbidden).await.status, 400, "{instances} #{round}");
            assert_eq!(send(&proxy, MASTER_KEY, &forbidden).await.status, 400, "the master key has the global list");
            assert_eq!(send(&proxy, MASTER_KEY, &blueprint).await.status, 200, "{instances} #{round}");
        }
        let blue = send(&proxy, "sk-blue-two-0002", &forbidden).await;
        assert_eq!(blue.status, 200, "{instances}: blue's list replaces the global one: {}", blue.body);
        let received = upstream.received();
        assert_eq!(received.len(), 7, "{instances}: only the served requests reached the upstream");
    }
}

#[tokio::test]
async fn a_team_s_plugin_config_is_checked_by_the_plugin_at_start_up() {
    let config = "teams:\n  - {team_id: blue, plugin_config: {banned-keywords: {keywords: []}}}\n";
    let log = ProxyBuilder::new(config)
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{config: {keywords: [forbidden]}}")
        .try_start()
        .await
        .err()
        .expect("a config the plugin refuses must stop the start");
    assert!(log.contains("teams `blue`, plugin_config.banned-keywords") && log.contains("keywords"), "{log}");
}

#[tokio::test]
async fn an_off_by_default_plugin_runs_only_where_a_team_or_request_asks_and_the_field_never_leaves() {
    let upstream = recording_upstream().await;
    let proxy = teams_proxy(&upstream.base).await;
    let plain = chat_body("recorded", "hello");
    assert!(!send(&proxy, MASTER_KEY, &plain).await.injected, "off by default");
    assert!(send(&proxy, "sk-red-one-00003", &plain).await.injected, "red turns it on for all its requests");
    assert!(!send(&proxy, "sk-blue-one-0001", &plain).await.injected);

    // A request opts in, at the top level or in metadata (LiteLLM's two places).
    let mut top = plain.clone();
    top["guardrails"] = json!(["header-injector"]);
    let opted = send(&proxy, MASTER_KEY, &top).await;
    assert_eq!(opted.status, 200, "{}", opted.body);
    assert!(opted.injected, "the request asked for it");
    let mut in_metadata = plain.clone();
    in_metadata["metadata"] = json!({"guardrails": ["Header-Injector"], "trace": "t-1"});
    assert!(send(&proxy, MASTER_KEY, &in_metadata).await.injected);
    assert!(!send(&proxy, MASTER_KEY, &plain).await.injected, "only for the request that asked");
    let sent: Vec<Value> = upstream.received().iter().map(|r| r.json()).collect();
    assert!(sent.iter().all(|body| body.get("guardrails").is_none()), "{sent:?}");
    assert!(
        sent.iter().any(|body| body["metadata"] == json!({"trace": "t-1"})),
        "the rest of metadata goes on: {sent:?}"
    );
    let audit = proxy.wait_for_log("a request chose its plugins", Duration::from_secs(5)).await;
    let line = audit.lines().find(|line| line.contains("a request chose its plugins")).unwrap();
    assert!(line.contains("header-injector") && line.contains("master"), "{line}");

    // Blue may not change guardrails: 403 naming the one asked for. Unknown: 400.
    let refused = send(&proxy, "sk-blue-one-0001", &top).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "guardrail_not_allowed");
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("`header-injector`"), "{}", refused.body);
    let mut unknown = plain.clone();
    unknown["guardrails"] = json!(["no-such-guard"]);
    let refused = send(&proxy, "sk-blue-one-0001", &unknown).await;
    assert_eq!(refused.status, 403, "a key that may not opt in learns no names: {}", refused.body);
    assert!(!refused.body.to_string().contains("header-injector"), "{}", refused.body);
    let unknown = send(&proxy, MASTER_KEY, &unknown).await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(unknown.body["error"]["message"].as_str().unwrap().contains("no-such-guard"), "{}", unknown.body);
    let mut malformed = plain.clone();
    malformed["guardrails"] = json!("header-injector");
    assert_eq!(send(&proxy, MASTER_KEY, &malformed).await.status, 400);

    let entry = proxy.plugin_entry("header-injector").await;
    assert_eq!(entry["runs_for"]["default_on"], false, "{entry}");
    assert_eq!(entry["runs_for"]["teams"], json!({"blue": false, "red": true}), "{entry}");
    assert_eq!(entry["runs_for"]["keys"], json!({"blue-one": false, "blue-two": false, "red-one": true}), "{entry}");
}

#[tokio::test]
async fn a_key_cannot_grant_itself_what_its_team_lacks() {
    let base = "teams:\n  - {team_id: blue, models: [mock-echo], allow_request_guardrails: false, disabled_callbacks: [header-injector]}\nmodel_list:\n  - {model_name: mock-echo, litellm_params: {model: mock/echo}}\n  - {model_name: other, litellm_params: {model: mock/echo}}\nkeys:\n";
    let cases = [
        (
            "  - {key: sk-a-000000001, alias: a, team_id: blue, allow_disabling_callbacks: true}\n",
            "keys[0].allow_disabling_callbacks",
        ),
        ("  - {key: sk-a-000000001, alias: a, team_id: blue, callbacks: [header-injector]}\n", "keys[0].callbacks[0]"),
        ("  - {key: sk-a-000000001, alias: a, team_id: green}\n", "keys[0].team_id"),
        (
            "  - {key: sk-a-000000001, alias: a, team_id: blue, allow_request_guardrails: true}\n",
            "keys[0].allow_request_guardrails",
        ),
        ("  - {key: sk-a-000000001, alias: a, team_id: blue, models: [other]}\n", "keys[0].models[0]"),
    ];
    for (key, path) in cases {
        let log = ProxyBuilder::new(&format!("{base}{key}"))
            .plugin("header-injector", "header-injector")
            .settings("header-injector", "{config: {headers: {x-injected: 'yes'}}}")
            .try_start()
            .await
            .err()
            .unwrap_or_else(|| panic!("{key} was accepted"));
        assert!(log.contains(path), "{path} not named:\n{log}");
    }
}

/// LiteLLM's custom-guardrail quick start (docs/proxy/guardrails/custom_guardrail), with
/// its three entries pointed at one hookgate plugin, and its Aporia example pointed at
/// another with `hookgate_plugin`.
const LITELLM_GUARDRAILS: &str = r#"model_list:
  - model_name: gpt-3.5-turbo
    litellm_params:
      model: mock/fixed
      mock_response: "here is the forbidden answer"
  - model_name: echo
    litellm_params:
      model: mock/echo
guardrails:
  - guardrail_name: "custom-pre-guard"
    litellm_params:
      guardrail: banned-keywords
      mode: "pre_call"
      default_on: true
  - guardrail_name: "custom-post-guard"
    litellm_params:
      guardrail: banned-keywords
      mode: "post_call"
  - guardrail_name: "aporia-pre-guard"
    litellm_params:
      guardrail: aporia
      hookgate_plugin: header-injector
      mode: "post_call"
      api_key: os.environ/APORIA_API_KEY_1
      api_base: os.environ/APORIA_API_BASE_1
    guardrail_info:
      params:
        - name: "toxicity_score"
          type: "float"
"#;

#[tokio::test]
async fn litellm_s_guardrails_section_runs_each_entry_s_mode_when_on() {
    let proxy = ProxyBuilder::new(LITELLM_GUARDRAILS)
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{config: {keywords: [forbidden]}}")
        .plugin("header-injector", "header-injector")
        .settings("header-injector", "{config: {headers: {x-injected: 'yes'}}}")
        .start()
        .await;
    let log = proxy.log();
    assert!(log.contains("api_key is not a hookgate setting"), "LiteLLM's integration keys are ignored aloud:\n{log}");

    // pre_call is on by default: a banned prompt is refused...
    let prompt = send(&proxy, MASTER_KEY, &chat_body("echo", "a forbidden prompt")).await;
    assert_eq!(prompt.status, 400, "{}", prompt.body);
    // ... unless a key allowed to disable it turns that guardrail off by its name.
    let disabled = proxy
        .client()
        .post(format!("{}/v1/chat/completions", proxy.base))
        .bearer_auth(MASTER_KEY)
        .header("x-litellm-disable-callbacks", "Custom-Pre-Guard")
        .json(&chat_body("echo", "a forbidden prompt"))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200, "the master key may disable a guardrail by its name");
    // post_call is off unless asked for: the answer's banned word passes...
    let answer = send(&proxy, MASTER_KEY, &chat_body("gpt-3.5-turbo", "hi")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(!answer.injected, "aporia-pre-guard is not default_on");
    // ... and is refused by the same plugin when the request asks for it.
    let mut asking = chat_body("gpt-3.5-turbo", "hi");
    asking["guardrails"] = json!(["custom-post-guard", "aporia-pre-guard"]);
    let refused = send(&proxy, MASTER_KEY, &asking).await;
    assert_eq!((refused.status, &refused.body["error"]["code"]), (400, &json!("banned_keyword")), "{}", refused.body);
    let mut only_headers = chat_body("echo", "hi");
    only_headers["guardrails"] = json!(["aporia-pre-guard"]);
    assert!(send(&proxy, MASTER_KEY, &only_headers).await.injected);

    let listed =
        proxy.client().get(format!("{}/guardrails/list", proxy.base)).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.unwrap();
    let entries = listed["guardrails"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{listed}");
    assert_eq!(entries[0]["guardrail_name"], "custom-pre-guard");
    assert_eq!(
        entries[0]["litellm_params"],
        json!({"guardrail": "banned-keywords", "mode": "pre_call", "default_on": true, "hookgate_plugin": "banned-keywords"})
    );
    assert_eq!(entries[2]["litellm_params"]["guardrail"], "aporia");
    assert_eq!(entries[2]["guardrail_info"]["params"][0]["name"], "toxicity_score");
    assert!(!listed.to_string().contains("APORIA"), "integration secrets are never listed: {listed}");
}

#[tokio::test]
async fn a_litellm_built_in_guardrail_is_refused_at_start_up_by_name() {
    let config = "guardrails:\n  - guardrail_name: lakera-guard\n    litellm_params: {guardrail: lakera_v2, mode: during_call}\n";
    let log = ProxyBuilder::new(config).try_start().await.err().expect("a built-in guardrail must not be accepted");
    assert!(log.contains("guardrails[0].litellm_params.guardrail"), "{log}");
    assert!(log.contains("`lakera_v2`") && log.contains("hookgate_plugin"), "{log}");
}
