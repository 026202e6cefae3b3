//! Components built against contract 0.1 (`tests/fixtures/contract-0.1`, compiled before
//! 0.2 existed and never rebuilt) load on today's host and act as they always did: the
//! host adapts them, as Spin does across its worlds.

use std::time::Duration;

use hookgate_tests::fixtures::request_id;
use hookgate_tests::proxy::{chat_body, sse_events, streamed_text, streaming, ProxyBuilder};
use serde_json::{json, Value};

const MODELS: &str = "model_list:
  - {model_name: mock-echo, litellm_params: {model: mock/echo}}
  - {model_name: words, litellm_params: {model: mock/words, mock_response: this is forbidden talk}}
  - {model_name: shout, litellm_params: {model: mock/shout, mock_response: hello DROPME world}}
  - {model_name: mock-down, litellm_params: {model: mock/down, mock_error_status: 503, mock_error_message: upstream down}}
";

#[tokio::test]
async fn example_plugins_built_for_0_1_reject_add_headers_and_rate_limit_as_before() {
    let proxy = ProxyBuilder::new(MODELS)
        .plugin_0_1("banned-keywords", "banned-keywords")
        .plugin_0_1("header-injector", "header-injector")
        .plugin_0_1("rate-limiter", "rate-limiter")
        .settings("banned-keywords", "{config: {keywords: [forbidden, secret plan]}}")
        .settings("header-injector", "{config: {headers: {x-served-by: hookgate-0.1}}}")
        .settings("rate-limiter", "{config: {requests_per_minute: 4}}")
        .start()
        .await;
    let listing = proxy.admin_get("/plugins").await;
    let plugins = listing["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 3, "{listing}");
    for plugin in plugins {
        assert_eq!(plugin["wit"], "hookgate:plugin@0.1.0", "{plugin}");
        assert_eq!(plugin["state"], "active", "{plugin}");
    }

    // A rejection: the 0.1 plugin's own status, code and message, and who rejected.
    let response = proxy.chat(&chat_body("mock-echo", "tell me the SECRET plan")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-hookgate-rejected-by"], "banned-keywords");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "banned_keyword");
    assert_eq!(body["error"]["message"], "Request contains a banned keyword: secret plan");

    // A 0.1 stream filter: it sees every chunk as JSON text and rejects mid-stream.
    let events = sse_events(proxy.chat(&streaming(chat_body("words", "x"))).await).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let error: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], "banned_keyword", "{events:?}");

    // Headers from post-call-success, and OpenAI's rate-limit headers counting down. (The
    // rejected request never reached rate-limiter: banned-keywords comes first by name;
    // the stream counted.)
    for remaining in ["2", "1", "0"] {
        let response = proxy.chat(&chat_body("mock-echo", "hello")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-served-by"], "hookgate-0.1");
        assert_eq!(response.headers()["x-ratelimit-limit-requests"], "4");
        assert_eq!(response.headers()["x-ratelimit-remaining-requests"], remaining);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["choices"][0]["message"]["content"], "hello");
    }
    let response = proxy.chat(&chat_body("mock-echo", "one more")).await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn the_0_1_probe_sees_every_hook_as_before() {
    let proxy = ProxyBuilder::new(MODELS).plugin_0_1("probe", "probe").start().await;
    // Pre-call edits by returning a whole body (JSON text); post-call adds headers; the
    // hooks of one request share the instance (0.1 plugins keep state on `self`).
    let response = proxy.chat(&chat_body("mock-echo", "REWRITE this")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-probe-calls"], "3");
    let body: Value = response.json().await.unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.starts_with("rewritten by probe (key master"), "{content}");
    assert!(content.contains(" hash "), "0.1 plugins still see the key id as `hash`: {content}");

    // Moderation rejects; stream chunks are replaced (JSON text) and dropped.
    let response = proxy.chat(&chat_body("mock-echo", "MODERATE me")).await;
    assert_eq!(response.status(), 403);
    let events = sse_events(proxy.chat(&streaming(chat_body("shout", "x"))).await).await;
    assert_eq!(streamed_text(&events), "HELLO WORLD");

    // Post-call-failure replaces the error; the logging hooks get the JSON payload.
    let response = proxy.chat(&chat_body("mock-down", "RECOVER please")).await;
    assert_eq!(response.status(), 418);
    let id = request_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "probe saw failure: upstream down");
    proxy.wait_for_log(&format!("probe log-failure {id}"), Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_0_1_guest_s_own_failures_are_faults_as_before() {
    let proxy = ProxyBuilder::new(MODELS).plugin_0_1("scripted", "scripted").start().await;
    let mut body = chat_body("mock-echo", "hi");
    // Status 0 was how a 0.1 guest reported an uncaught exception: never an answer.
    body["hookgate_script"] = json!({"pre-call": {"do": "reject", "status": 0, "message": "TypeError: boom"}});
    let response = proxy.chat(&body).await;
    assert_eq!(response.status(), 400, "refused: the check could not run on this input");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "plugin_check_failed", "{error}");
    assert!(!error.to_string().contains("boom"), "the guest's text is not shown: {error}");
    let series = r#"hookgate_plugin_faults_total{plugin="scripted",hook="pre-call",kind="failed",cause="input"}"#;
    assert_eq!(proxy.metric(series).await, 1.0);
    // A body that is not JSON is the host refusing the output: `bad_output`.
    body["hookgate_script"] = json!({"pre-call": {"do": "modify", "body": "not json"}});
    assert_eq!(proxy.chat(&body).await.status(), 400);
    let series = r#"hookgate_plugin_faults_total{plugin="scripted",hook="pre-call",kind="bad_output",cause="input"}"#;
    assert_eq!(proxy.metric(series).await, 1.0);
    // JSON with a duplicated key is parsed as strictly as a client's: `bad_output` too.
    let twice = r#"{"model": "mock-echo", "messages": [{"role": "user", "content": "BAD"}], "messages": []}"#;
    body["hookgate_script"] = json!({"pre-call": {"do": "modify", "body": twice}});
    assert_eq!(proxy.chat(&body).await.status(), 400);
    assert_eq!(proxy.metric(series).await, 2.0);
    // A header name that is not one is `bad_output` too, and what the console shows of
    // it names no header: a name can be made of the prompt's text.
    body["hookgate_script"] = json!({"post-call-success": {"do": "modify", "headers": [["my secret plan", "v"]]}});
    proxy.chat(&body).await;
    let series =
        r#"hookgate_plugin_faults_total{plugin="scripted",hook="post-call-success",kind="bad_output",cause="input"}"#;
    assert_eq!(proxy.metric(series).await, 1.0);
    let events = proxy.admin_get("/ui/api/events").await.to_string();
    assert!(events.contains("bad_output") && !events.contains("secret plan"), "{events}");
    // A replacement chunk written over several lines reaches the client as one event.
    let mut streamed = chat_body("mock-echo", "hi");
    streamed["stream"] = json!(true);
    let pretty = "{\n  \"choices\": [\n    {\"index\": 0, \"delta\": {\"content\": \"swapped\"}}\n  ]\n}";
    streamed["hookgate_script"] = json!({"stream-chunk": {"do": "replace", "body": pretty}});
    let events = sse_events(proxy.chat(&streamed).await).await;
    assert!(events.iter().all(|event| !event.contains('\n')), "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{events:?}");
    assert!(streamed_text(&events).starts_with("swapped"), "{events:?}");
    assert_eq!(proxy.chat(&chat_body("mock-echo", "fine")).await.status(), 200, "and it goes on serving");
}

#[tokio::test]
async fn a_0_1_logging_plugin_raises_its_alert_from_the_0_1_payload() {
    let proxy = ProxyBuilder::new(MODELS)
        .plugin_0_1("failure-alerter", "failure-alerter")
        .settings("failure-alerter", "{config: {threshold: 2, window_seconds: 60}}")
        .start()
        .await;
    for _ in 0..2 {
        assert_eq!(proxy.chat(&chat_body("mock-down", "hi")).await.status(), 503);
    }
    let log = proxy.wait_for_log("ALERT model=mock-down", Duration::from_secs(10)).await;
    let line = log.lines().find(|line| line.contains("ALERT model=mock-down")).unwrap();
    assert!(line.contains("threshold=2: last error 503 upstream down"), "{line}");
}
