//! What operators see: `/metrics` after real traffic, the logging payload a logging
//! plugin receives, and guest output in the proxy's (JSON) log.

use std::collections::HashMap;
use std::time::Duration;

use hookgate_tests::fixtures::{json_lines, probe_entry, probe_payload};
use hookgate_tests::proxy::{chat_body, sse_events, streamed_text, Proxy, ProxyBuilder, MASTER_KEY};
use serde_json::{json, Value};

/// Every sample of a scrape, keyed by series (`name{labels}`).
async fn scrape(proxy: &Proxy) -> HashMap<String, f64> {
    let response = proxy.client().get(format!("{}/metrics", proxy.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8");
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().last(), Some("# EOF"), "{text}");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

/// How much `series` moved between two scrapes.
fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    value(after, series) - value(before, series)
}

#[tokio::test]
async fn metrics_move_by_the_traffic_that_moved_them() {
    let proxy = ProxyBuilder::new("")
        .plugin("probe", "probe")
        .plugin("panic", "panic")
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{config: {keywords: [forbidden]}}")
        .settings("panic", "{config: {always: true}}")
        .plugins_option("quarantine_after: 3")
        .plugins_option("quarantine_seconds: 600")
        .start()
        .await;
    let before = scrape(&proxy).await;
    for series in [
        r#"hookgate_plugin_loads_total{plugin="probe",result="loaded"}"#,
        r#"hookgate_plugin_loads_total{plugin="panic",result="loaded"}"#,
    ] {
        assert_eq!(value(&before, series), 1.0, "{series}");
    }
    assert_eq!(value(&before, r#"hookgate_plugins{state="active"}"#), 3.0);
    assert_eq!(value(&before, "hookgate_logging_dropped_total"), 0.0);
    assert!(before.contains_key("hookgate_logging_queue_depth"));

    // Three successes, each with a fault of the broken (fail-open) panic plugin, then a
    // stream and a pre-call rejection while it is quarantined.
    for text in ["one", "two", "three"] {
        assert_eq!(proxy.chat(&chat_body("mock-echo", text)).await.status(), 200);
    }
    let mut streamed = chat_body("mock-echo", "three streamed words");
    streamed["stream"] = json!(true);
    let events = sse_events(proxy.chat(&streamed).await).await;
    assert_eq!(streamed_text(&events), "THREE STREAMED WORDS");
    assert_eq!(proxy.chat(&chat_body("mock-echo", "something forbidden")).await.status(), 400);
    // Bad input: an unknown model (a bounded label) and a bad key.
    assert_eq!(proxy.chat(&chat_body("no-such-model", "hi")).await.status(), 400);
    assert_eq!(proxy.post("/v1/chat/completions", "sk-wrong", &chat_body("mock-echo", "hi")).await.status(), 401);

    let after = scrape(&proxy).await;
    let expect = |series: &str, delta: f64| {
        assert_eq!(moved(&before, &after, series), delta, "{series}");
    };
    expect(r#"hookgate_requests_total{route="chat/completions",model="mock-echo",status="200"}"#, 4.0);
    expect(r#"hookgate_requests_total{route="chat/completions",model="mock-echo",status="400"}"#, 1.0);
    expect(r#"hookgate_requests_total{route="chat/completions",model="unknown",status="400"}"#, 1.0);
    expect(r#"hookgate_requests_total{route="chat/completions",model="",status="401"}"#, 1.0);
    expect(r#"hookgate_proxy_overhead_seconds_count{route="chat/completions"}"#, 7.0);
    // The rejected and the bad requests never reached the upstream.
    expect(r#"hookgate_upstream_latency_seconds_count{model="mock-echo"}"#, 4.0);
    // pre-call runs before the model is resolved (a hook may change it): on all six
    // authenticated requests but where banned-keywords (first by name) rejected.
    expect(r#"hookgate_plugin_hook_duration_seconds_count{plugin="banned-keywords",hook="pre-call"}"#, 6.0);
    expect(r#"hookgate_plugin_rejections_total{plugin="banned-keywords",hook="pre-call"}"#, 1.0);
    // The panic plugin faulted three times in a row (its own faults: it fails a harmless
    // input too) and was quarantined: not called after that.
    expect(r#"hookgate_plugin_hook_duration_seconds_count{plugin="panic",hook="pre-call"}"#, 3.0);
    expect(r#"hookgate_plugin_faults_total{plugin="panic",hook="pre-call",kind="trap",cause="plugin"}"#, 3.0);
    expect(r#"hookgate_plugin_hook_duration_seconds_count{plugin="probe",hook="pre-call"}"#, 5.0);
    expect(r#"hookgate_plugin_hook_duration_seconds_count{plugin="probe",hook="post-call-success"}"#, 3.0);
    let chunks =
        moved(&before, &after, r#"hookgate_plugin_hook_duration_seconds_count{plugin="probe",hook="stream-chunk"}"#);
    assert!(chunks >= 3.0, "one stream-chunk call per chunk, at least one per word: {chunks}");
    let fuel = moved(&before, &after, r#"hookgate_plugin_fuel_consumed_total{plugin="probe",hook="pre-call"}"#);
    assert!(fuel > 0.0, "hook calls burn fuel: {fuel}");
    expect(r#"hookgate_plugin_quarantines_total{plugin="panic"}"#, 1.0);
    assert_eq!(value(&after, r#"hookgate_plugins{state="quarantined"}"#), 1.0);

    // A broken file dropped into the directory is a failed load.
    std::fs::write(proxy.plugin_dir().join("broken.wasm"), b"not a component").unwrap();
    let failed = proxy
        .until("the failed load in /metrics", Duration::from_secs(10), || async {
            let samples = scrape(&proxy).await;
            (value(&samples, r#"hookgate_plugin_loads_total{plugin="broken",result="failed"}"#) >= 1.0)
                .then_some(samples)
        })
        .await;
    assert_eq!(value(&failed, r#"hookgate_plugins{state="failed"}"#), 1.0);
    assert_eq!(value(&failed, r#"hookgate_plugins{state="active"}"#), 3.0);
}

#[tokio::test]
async fn metrics_can_require_a_key() {
    let yaml = format!(
        "general_settings: {{master_key: {MASTER_KEY}}}\nlitellm_settings: {{require_auth_for_metrics_endpoint: true}}\n"
    );
    let proxy = ProxyBuilder::new(&yaml).start().await;
    let url = format!("{}/metrics", proxy.base);
    let anonymous = proxy.client().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    let keyed = proxy.client().get(&url).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(keyed.status(), 200);
    assert!(keyed.text().await.unwrap().contains("hookgate_logging_queue_depth"));
}

const PRICED: &str = "
model_list:
  - model_name: priced
    litellm_params: {model: mock/echo, input_cost_per_token: 0.000001}
    model_info: {id: descriptive-metadata, output_cost_per_token: 0.000002}
  - model_name: down
    litellm_params: {model: mock/down, mock_error_status: 503, mock_error_message: upstream is down}
keys:
  - {key: sk-payload-test-key, alias: payload-team, user_id: u1, team_id: t9, metadata: {env: test}}
";

#[tokio::test]
async fn a_logging_plugin_gets_the_payload_of_the_request_it_logs() {
    let proxy = ProxyBuilder::new(PRICED)
        .plugin_0_1("probe", "probe")
        .plugins_option("max_logged_field_bytes: 600")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    let key = "sk-payload-test-key";
    let mut body = chat_body("priced", "SHOWPAYLOAD hello there");
    body["user"] = json!("end-user-7");
    let response = proxy.post("/v1/chat/completions", key, &body).await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let answer: Value = response.json().await.unwrap();
    let payload = probe_payload(&proxy, &id).await;

    assert_eq!(payload["call_type"], "chat_completion");
    assert_eq!(payload["model"], "priced");
    assert_eq!(payload["model_used"], "priced");
    assert_eq!(payload["api_base"], Value::Null, "the mock has no base URL");
    assert_eq!(payload["key_alias"], "payload-team");
    assert_eq!(payload["key_hash"], hookgate_tests::proxy::key_id(key));
    assert_eq!((&payload["user"], &payload["team"]), (&json!("u1"), &json!("t9")));
    assert_eq!(payload["metadata"], json!({"env": "test"}));
    assert_eq!(payload["end_user"], "end-user-7");
    assert_eq!(payload["messages"], json!([{"role": "user", "content": "SHOWPAYLOAD hello there"}]));
    assert_eq!(payload["stream"], false);
    assert_eq!(payload["response"], answer, "the body the client got");
    assert_eq!(payload["usage"], answer["usage"]);
    let (prompt, completion) =
        (answer["usage"]["prompt_tokens"].as_f64().unwrap(), answer["usage"]["completion_tokens"].as_f64().unwrap());
    let cost = payload["response_cost"].as_f64().expect("priced model: a cost");
    assert!(
        (cost - (prompt * 0.000001 + completion * 0.000002)).abs() < 1e-12,
        "{cost} for {prompt}+{completion} tokens"
    );
    assert_eq!((&payload["status"], &payload["status_code"]), (&json!("success"), &json!(200)));
    assert_eq!(payload["error"], Value::Null);
    assert_eq!(payload["effective_plugins"], json!(["probe"]));
    assert_eq!(payload["truncated"], json!([]));
    let (start, first, end) = (
        payload["start_time"].as_f64().unwrap(),
        payload["completion_start_time"].as_f64().unwrap(),
        payload["end_time"].as_f64().unwrap(),
    );
    assert!(start <= first && first <= end, "{start} <= {first} <= {end}");
    let decisions: Vec<(&str, &str)> = payload["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["hook"].as_str().unwrap(), d["decision"].as_str().unwrap()))
        .collect();
    assert_eq!(decisions, [("pre-call", "modify"), ("moderation", "proceed"), ("post-call-success", "modify")]);
    for decision in payload["plugins"].as_array().unwrap() {
        assert_eq!(decision["plugin"], "probe");
        assert!(decision["started_ms"].as_f64().unwrap() >= 0.0 && decision["elapsed_ms"].as_f64().unwrap() > 0.0);
    }

    // A streamed answer: the assembled text as the client saw it, usage from the last chunk.
    let mut streamed = chat_body("priced", "SHOWPAYLOAD streamed words");
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let response = proxy.post("/v1/chat/completions", key, &streamed).await;
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let text = streamed_text(&sse_events(response).await);
    let payload = probe_payload(&proxy, &id).await;
    assert_eq!(payload["stream"], true);
    assert_eq!(payload["response"], text.as_str());
    assert_eq!(payload["usage"]["completion_tokens"], 3, "the echo of three words: {payload}");
    assert!(payload["response_cost"].as_f64().unwrap() > 0.0);
    assert!(payload["completion_start_time"].as_f64().unwrap() <= payload["end_time"].as_f64().unwrap());
    // Without `include_usage` the proxy asks for the usage chunk itself, for the log's
    // usage and cost (leaving it out escaped cost logging), and does not forward it.
    streamed.as_object_mut().unwrap().remove("stream_options");
    let response = proxy.post("/v1/chat/completions", key, &streamed).await;
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let events = sse_events(response).await;
    assert_eq!(streamed_text(&events), text);
    for event in events.iter().filter(|event| *event != "[DONE]") {
        let chunk: Value = serde_json::from_str(event).unwrap();
        assert!(chunk["usage"].is_null() && !chunk["choices"].as_array().unwrap().is_empty(), "{event}");
    }
    let payload = probe_payload(&proxy, &id).await;
    assert_eq!(payload["usage"]["completion_tokens"], 3, "usage logged without include_usage: {payload}");
    assert!(payload["response_cost"].as_f64().unwrap() > 0.0, "{payload}");

    // A failure: the error the client got, no cost, no first token.
    let response = proxy.post("/v1/chat/completions", key, &chat_body("down", "SHOWPAYLOAD anyone?")).await;
    assert_eq!(response.status(), 503);
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let client_error: Value = response.json().await.unwrap();
    let payload = probe_payload(&proxy, &id).await;
    assert_eq!((&payload["status"], &payload["status_code"]), (&json!("failure"), &json!(503)));
    assert_eq!(payload["error"]["message"], "upstream is down");
    for field in ["type", "message", "code"] {
        assert_eq!(payload["error"][field], client_error["error"][field], "{field}");
    }
    assert_eq!((&payload["response_cost"], &payload["completion_start_time"]), (&Value::Null, &Value::Null));

    // Fields over max_logged_field_bytes are cut and flagged.
    let long = format!("SHOWPAYLOAD {}", "lorem ".repeat(200));
    let response = proxy.post("/v1/chat/completions", key, &chat_body("priced", &long)).await;
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let payload = probe_payload(&proxy, &id).await;
    assert_eq!(payload["truncated"], json!(["messages", "response"]));
    let messages = payload["messages"].as_str().expect("a cut field is a string of its JSON's start");
    assert_eq!(messages.len(), 600);
    assert!(messages.starts_with(r#"[{"#) && messages.contains("SHOWPAYLOAD lorem lorem"), "{messages}");
}

/// For an upstream that refuses `stream_options`, `ask_stream_usage: false` leaves the
/// stream as the client asked: no usage chunk asked for, so none logged.
#[tokio::test]
async fn a_stream_s_usage_is_not_asked_for_when_the_config_says_not() {
    let config = format!("general_settings: {{master_key: {MASTER_KEY}, ask_stream_usage: false}}\n{PRICED}");
    let proxy = ProxyBuilder::new(&config).plugin_0_1("probe", "probe").arg("--log-format").arg("json").start().await;
    let mut streamed = chat_body("priced", "SHOWPAYLOAD streamed words");
    streamed["stream"] = json!(true);
    let response = proxy.post("/v1/chat/completions", "sk-payload-test-key", &streamed).await;
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    sse_events(response).await;
    let payload = probe_payload(&proxy, &id).await;
    assert_eq!(payload["usage"], Value::Null, "{payload}");
}

#[tokio::test]
async fn a_0_2_logging_plugin_gets_a_typed_entry_of_the_request_it_logs() {
    let proxy = ProxyBuilder::new(PRICED)
        .plugin("probe", "probe")
        .plugins_option("max_logged_field_bytes: 600")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    let key = "sk-payload-test-key";
    let mut body = chat_body("priced", "SHOWPAYLOAD hello there");
    body["user"] = json!("end-user-7");
    let response = proxy.post("/v1/chat/completions", key, &body).await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let answer: Value = response.json().await.unwrap();
    let entry = probe_entry(&proxy, &id).await;
    assert_eq!((&entry["model"], &entry["model_used"]), (&json!("priced"), &json!("priced")));
    assert_eq!((&entry["api_base"], &entry["end_user"]), (&Value::Null, &json!("end-user-7")));
    assert_eq!(entry["status_code"], 200);
    let usage = &answer["usage"];
    assert_eq!(entry["usage"], json!([usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]]));
    let (prompt, completion) = (usage["prompt_tokens"].as_f64().unwrap(), usage["completion_tokens"].as_f64().unwrap());
    let cost = entry["response_cost"].as_f64().expect("priced model: a cost");
    assert!((cost - (prompt * 0.000001 + completion * 0.000002)).abs() < 1e-12, "{cost}");
    assert_eq!((&entry["timed"], &entry["first_token"]), (&json!(true), &json!(true)));
    assert_eq!((&entry["failure"], &entry["truncated"]), (&Value::Null, &json!([])));
    // The request as sent upstream (after the probe's own pre-call edit), and the answer.
    assert_eq!(entry["answer"], json!([answer["choices"][0]["message"]["content"]]), "{entry}");
    let decisions: Vec<(&str, &str)> = entry["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["hook"].as_str().unwrap(), d["decision"].as_str().unwrap()))
        .collect();
    assert_eq!(decisions, [("pre-call", "modify"), ("moderation", "proceed"), ("post-call-success", "modify")]);
    assert_eq!(entry["calls"], 1, "the logging hook's context is its own request's");

    // A failure: the error the client got, no cost, no first token.
    let response = proxy.post("/v1/chat/completions", key, &chat_body("down", "SHOWPAYLOAD anyone?")).await;
    assert_eq!(response.status(), 503);
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let client_error: Value = response.json().await.unwrap();
    let entry = probe_entry(&proxy, &id).await;
    assert_eq!(entry["status_code"], 503);
    let failure = &entry["failure"];
    assert_eq!((&failure["status"], &failure["message"]), (&json!(503), &client_error["error"]["message"]));
    assert_eq!(failure["error_type"], client_error["error"]["type"]);
    assert_eq!((&entry["response_cost"], &entry["first_token"]), (&Value::Null, &json!(false)));

    // Content over max_logged_field_bytes is cut and flagged.
    let long = format!("SHOWPAYLOAD {}", "lorem ".repeat(200));
    let response = proxy.post("/v1/chat/completions", key, &chat_body("priced", &long)).await;
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let entry = probe_entry(&proxy, &id).await;
    assert_eq!(entry["truncated"], json!(["request", "response"]), "{entry}");
}

#[tokio::test]
async fn guest_output_reaches_the_json_log_with_the_plugin_and_request() {
    let proxy = ProxyBuilder::new("").plugin("probe", "probe").arg("--log-format").arg("json").start().await;
    let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    // A print to stdout, then a call of the `log` import.
    for (message, source) in [(format!("probe stdout {id}"), "stdout"), (format!("probe pre-call {id}"), "log")] {
        let line = proxy
            .until(&message, Duration::from_secs(5), || async {
                json_lines(&proxy).into_iter().find(|line| line["message"] == message.as_str())
            })
            .await;
        assert_eq!(line["plugin"], "probe", "{line}");
        assert_eq!(line["request_id"], id.as_str(), "{line}");
        assert_eq!(line["source"], source, "{line}");
        assert_eq!(line["target"], "hookgate::guest", "{line}");
    }
}

/// `HOOKGATE_WASM_PROFILER=perfmap` (README, "Benchmarks") names the guests' compiled
/// functions for `perf` in `/tmp/perf-<pid>.map`; a misspelt profiler stops the start
/// with the variable named, rather than profiling silently without names.
#[tokio::test]
async fn the_wasm_profiler_names_guest_functions_for_perf_and_a_misspelt_one_stops_the_start() {
    let proxy = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{config: {keywords: [forbidden]}}")
        .env("HOOKGATE_WASM_PROFILER", "perfmap")
        .start()
        .await;
    let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", proxy.pid()));
    let text = std::fs::read_to_string(&map).unwrap_or_else(|e| panic!("{} ({e})", map.display()));
    let _ = std::fs::remove_file(&map);
    // Each line is `<address> <size> <name>`; the plugin's own code is there by name.
    let named = text.lines().filter(|line| line.split(' ').nth(2).is_some_and(|name| name.contains("banned_keywords")));
    assert!(
        named.count() > 0,
        "no function of the plugin named in {}:\n{}",
        map.display(),
        &text[..text.len().min(2000)]
    );
    // It still serves.
    let response = proxy.chat(&chat_body("mock-echo", "a forbidden word")).await;
    assert_eq!(response.status(), 400);

    let refused = ProxyBuilder::new("").env("HOOKGATE_WASM_PROFILER", "PerfMap").try_start().await;
    let log = refused.err().expect("a misspelt profiler stops the start");
    assert!(log.contains("HOOKGATE_WASM_PROFILER=\"PerfMap\"") && log.contains("expected perfmap"), "{log}");
}
