//! Plugins written in Python (componentize-py) and JavaScript (componentize-js), through
//! the proxy over real HTTP: the example `pii-redactor` (Python) and `cost-logger` (JS),
//! and the `py-probe`/`js-probe` test plugins for rejections, exceptions and deadlines.

use std::time::Duration;

use hookgate_tests::fixtures::{self, sentinel_logged};
use hookgate_tests::proxy::{chat_body, sse_events, streamed_text, Proxy, ProxyBuilder};
use serde_json::{json, Value};

const STORY: &str = "Write to jane.doe@example.com or call +1 555 123 4567 today.";

fn models() -> String {
    format!(
        "model_list:
  - {{model_name: mock-echo, litellm_params: {{model: mock/echo}}}}
  - {{model_name: mock-story, litellm_params: {{model: mock/story, mock_response: '{STORY}', mock_stream_chunks: 9}}}}
  - model_name: priced
    litellm_params: {{model: mock/echo}}
    model_info: {{input_cost_per_token: 0.001, output_cost_per_token: 0.002}}
"
    )
}

async fn content(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["choices"][0]["message"]["content"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn python_redactor_masks_requests_and_streamed_responses() {
    let proxy = ProxyBuilder::new(&models()).plugin("pii-redactor", "pii-redactor").start().await;
    // The echo model answers with the request as the upstream got it: after pre-call.
    let echoed = content(
        proxy.chat(&chat_body("mock-echo", "mail jane@example.org or ring (555) 123-4567, not 12 apples")).await,
    )
    .await;
    assert_eq!(echoed, "mail [EMAIL] or ring [PHONE], not 12 apples");

    // Streamed in 9 pieces of equal length, so the address and the number are cut
    // mid-way; the client still sees them masked, and nothing else changed.
    let request = json!({"model": "mock-story", "stream": true, "messages": [{"role": "user", "content": "go"}]});
    let events = sse_events(proxy.chat(&request).await).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(streamed_text(&events), "Write to [EMAIL] or call [PHONE] today.");
    // Anywhere in a chunk but its id, which is random hex and may hold "4567" itself.
    let leaks = |event: &String| {
        let text = match serde_json::from_str::<Value>(event) {
            Ok(mut chunk) => {
                if let Some(fields) = chunk.as_object_mut() {
                    fields.remove("id");
                }
                chunk.to_string()
            }
            Err(_) => event.clone(),
        };
        text.contains("jane") || text.contains("4567")
    };
    assert!(!events.iter().any(leaks), "{events:?}");
}

#[tokio::test]
async fn python_hooks_reject_with_their_message_and_exceptions_are_faults() {
    let proxy = ProxyBuilder::new("").plugin("py-probe", "py-probe").start().await;
    assert_eq!(content(proxy.chat(&chat_body("mock-echo", "hello")).await).await, "hello [py]");

    let body = rejected(&proxy, "py-probe").await;
    assert_eq!(body["error"]["message"], "py-probe rejects");
    assert_eq!(body["error"]["code"], "py_probe");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    // An uncaught ValueError is a fault, never a rejection that shows the client its
    // text; this input caused it (the plugin handles a harmless one), so the request is
    // refused even though the plugin is fail-open, and the traceback reaches the log.
    refused_by(&proxy, "py-probe", "CRASH now").await;
    let log = proxy.wait_for_log("py-probe crashed on purpose", Duration::from_secs(5)).await;
    assert!(log.contains("plugin fault"), "{log}");
    assert_eq!(faults(&proxy, "py-probe", "failed", "input").await, 1.0);
}

#[tokio::test]
async fn js_hooks_reject_with_their_message_and_exceptions_are_faults() {
    let proxy = ProxyBuilder::new("").plugin("js-probe", "js-probe").start().await;
    assert_eq!(content(proxy.chat(&chat_body("mock-echo", "hello")).await).await, "hello [js]");

    let body = rejected(&proxy, "js-probe").await;
    assert_eq!(body["error"]["message"], "js-probe rejects");

    // A TypeError is a fault, not a rejection that shows the client its text.
    refused_by(&proxy, "js-probe", "CRASH now").await;
    assert_eq!(faults(&proxy, "js-probe", "failed", "input").await, 1.0);
    let log = proxy.wait_for_log("TypeError", Duration::from_secs(5)).await;
    assert!(log.contains("js-probe"), "{log}");
}

#[tokio::test]
async fn python_and_js_infinite_loops_are_cut_off_by_the_deadline() {
    // Fuel far beyond what 1 s can burn: the wall-clock deadline is what stops them. (A
    // whole second, so that a busy machine still lets the loop run for most of it: one
    // that ran for under a quarter of its deadline would be the machine's load, a 503.)
    let limits = "{fuel: 1000000000000, timeout_ms: 1000}";
    let proxy = ProxyBuilder::new("")
        .plugin("py-probe", "py-probe")
        .plugin("js-probe", "js-probe")
        .settings("py-probe", limits)
        .settings("js-probe", limits)
        .start()
        .await;
    // Each in turn (the master key may disable the other by header): the loop is cut
    // off at its deadline, and since this input caused it, the request is refused.
    for (looping, other) in [("py-probe", "js-probe"), ("js-probe", "py-probe")] {
        let request = proxy
            .client()
            .post(format!("{}/v1/chat/completions", proxy.base))
            .bearer_auth(hookgate_tests::proxy::MASTER_KEY)
            .header("x-hookgate-disable-callbacks", other)
            .json(&chat_body("mock-echo", "LOOP forever"))
            .send();
        // A loop nothing stopped would never answer; the bound is only there to turn that
        // into a failure, far above the deadline plus one probe call on a harmless input.
        let response = tokio::time::timeout(Duration::from_secs(60), request)
            .await
            .unwrap_or_else(|_| panic!("{looping}: the loop was never cut off"))
            .unwrap();
        let status = response.status();
        let by = response.headers().get("x-hookgate-rejected-by").cloned();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{looping}: {body}");
        assert_eq!(by.unwrap(), looping);
        assert_eq!(body["error"]["code"], "plugin_check_failed", "{body}");
        // The deadline (not fuel, nor a trap) is what stopped it, and this input caused it.
        assert_eq!(faults(&proxy, looping, "deadline", "input").await, 1.0);
    }
    // The proxy and the plugins serve the next request normally.
    assert_eq!(content(proxy.chat(&chat_body("mock-echo", "hi")).await).await, "hi [js] [py]");
}

#[tokio::test]
async fn js_cost_logger_writes_one_line_per_request_with_its_cost() {
    // probe logs after cost-logger (by name): its log-success line for a request says
    // cost-logger's log-success for it has finished.
    let proxy = ProxyBuilder::new(&models())
        .plugin("cost-logger", "cost-logger")
        .plugin("probe", "probe")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    let response = proxy.chat(&chat_body("priced", "what does this cost")).await;
    let request_id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let usage = &body["usage"];

    let line = proxy
        .until("the cost line", Duration::from_secs(10), async || {
            proxy.log().lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).find(|line| {
                line["plugin"] == "cost-logger" && line["message"].as_str().is_some_and(|m| m.contains(&request_id))
            })
        })
        .await;
    assert_eq!(line["source"], "log");
    let cost: Value = serde_json::from_str(line["message"].as_str().unwrap()).expect("the line is JSON");
    assert_eq!(cost["event"], "cost");
    assert_eq!(cost["request_id"], request_id);
    assert_eq!(cost["model"], "priced");
    assert_eq!(cost["key_alias"], "master");
    for field in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        assert_eq!(cost[field], usage[field], "{field}: {cost}");
    }
    let expected =
        usage["prompt_tokens"].as_f64().unwrap() * 0.001 + usage["completion_tokens"].as_f64().unwrap() * 0.002;
    assert!((cost["cost_usd"].as_f64().unwrap() - expected).abs() < 1e-12, "{cost}");
    let latency = cost["latency_ms"].as_f64().unwrap();
    assert!(latency > 0.0 && latency < 5000.0, "{cost}");
    // One line per request: none more for the first, one for the second, once both
    // requests' logging has finished.
    let again = proxy.chat(&chat_body("priced", "again")).await;
    sentinel_logged(&proxy, "log-success", &[request_id, fixtures::request_id(&again)]).await;
    let lines = proxy.log().lines().filter(|line| line.contains("\\\"event\\\":\\\"cost\\\"")).count();
    assert_eq!(lines, 2, "{}", proxy.log());
}

/// Sends a request the probe plugins reject: a 400 from `plugin`; the error body.
async fn rejected(proxy: &Proxy, plugin: &str) -> Value {
    let response = proxy.chat(&chat_body("mock-echo", "please REJECT this")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-hookgate-rejected-by"], plugin);
    response.json().await.unwrap()
}

/// Sends `text`, which `plugin`'s pre-call faults on: a 400 refusal naming the plugin.
async fn refused_by(proxy: &Proxy, plugin: &str, text: &str) {
    let response = proxy.chat(&chat_body("mock-echo", text)).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-hookgate-rejected-by"], plugin);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "plugin_check_failed", "{body}");
    assert!(!body.to_string().contains("on purpose"), "the guest's exception text stays in the log: {body}");
}

/// `hookgate_plugin_faults_total` for `plugin`'s pre-call hook, `kind` and `cause`.
async fn faults(proxy: &Proxy, plugin: &str, kind: &str, cause: &str) -> f64 {
    let text = proxy.client().get(format!("{}/metrics", proxy.base)).send().await.unwrap().text().await.unwrap();
    let series =
        format!(r#"hookgate_plugin_faults_total{{plugin="{plugin}",hook="pre-call",kind="{kind}",cause="{cause}"}} "#);
    text.lines().find_map(|line| line.strip_prefix(&series)).map_or(0.0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn a_python_bundle_runs_its_members_in_order_and_a_members_fault_never_skips_the_next() {
    bundle_runs_its_members_in_order("py-bundle", "counter: ValueError: counter crashed on purpose").await;
}

#[tokio::test]
async fn a_js_bundle_runs_its_members_in_order_and_a_members_fault_never_skips_the_next() {
    bundle_runs_its_members_in_order("js-bundle", "counter: Error: counter crashed on purpose").await;
}

/// `plugin`, a bundle of `counter` then `guard` (tests/plugins-py/py-bundle,
/// tests/plugins-js/js-bundle), over HTTP; `fault` is what the log says of the counter's.
async fn bundle_runs_its_members_in_order(plugin: &str, fault: &str) {
    // Fail-open, so that only the guard's own rejection can refuse what it should.
    let proxy = ProxyBuilder::new("").plugin(plugin, plugin).settings(plugin, "{on_error: fail-open}").start().await;
    // Both members count their successes under the same key name, `calls`: kept apart.
    for expected in ["1", "2"] {
        let response = proxy.chat(&chat_body("mock-echo", "hello")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-counter-calls"], expected);
        assert_eq!(response.headers()["x-guard-calls"], expected);
    }

    // The counter faults on this input; the guard after it still looks, and refuses.
    let response = proxy.chat(&chat_body("mock-echo", "CRASH on the forbidden word")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-hookgate-rejected-by"], plugin);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "guarded", "{body}");

    // Alone, the fault is the bundle's, named by its member in the log.
    refused_by(&proxy, plugin, "CRASH now").await;
    let log = proxy.wait_for_log(fault, Duration::from_secs(5)).await;
    assert!(log.contains("plugin fault"), "{log}");
}

/// A JavaScript hook's queued jobs (`queueMicrotask`, `.then`) run after its call has
/// handed back its result and its loan of the request (JS SDK README, build step 6): one
/// that still uses the request finds its handle gone, a trap inside the same call, so
/// the request is refused as any fault on this input is. A timer's job runs in no later
/// call either. On fresh and on reused instances alike, no such job edits the next request,
/// whose loan may take the handle the first one had.
#[tokio::test]
async fn a_js_hooks_queued_job_edits_neither_its_request_nor_the_next() {
    for instances in ["per-request", "reuse"] {
        let proxy = ProxyBuilder::new("")
            .plugin("js-probe", "js-probe")
            .settings("js-probe", &format!("{{instances: {instances}}}"))
            .start()
            .await;
        refused_by(&proxy, "js-probe", "LATER please").await;
        assert_eq!(faults(&proxy, "js-probe", "trap", "input").await, 1.0, "{instances}");
        let log = proxy.wait_for_log("unknown handle index", Duration::from_secs(5)).await;
        assert!(log.contains("js-probe"), "{log}");

        assert_eq!(content(proxy.chat(&chat_body("mock-echo", "TIMER please")).await).await, "TIMER please [js]");
        for text in ["hello", "again"] {
            let echoed = content(proxy.chat(&chat_body("mock-echo", text)).await).await;
            assert_eq!(echoed, format!("{text} [js]"), "{instances}");
        }
        assert_eq!(faults(&proxy, "js-probe", "trap", "input").await, 1.0, "{instances}");
    }
}
