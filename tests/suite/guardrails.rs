//! A client must not be able to switch a guardrail off: each way someone tried (padding a
//! prompt past a plugin's budget, repeating it until the plugin is quarantined, a header,
//! starving the instance pool, hiding text where only the model looks, Unicode tricks,
//! shapes the guardrails cannot read) meets the safe outcome, over real HTTP against a
//! real `hookgate serve` with the example config where the attack was seen.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hookgate_tests::fixtures::guest_line;
use hookgate_tests::proxy::{chat_body, example_proxy, Proxy, ProxyBuilder, MASTER_KEY, README_MASTER_KEY};
use hookgate_tests::upstream;
use serde_json::{json, Value};

/// The example config's virtual key.
const BLUE_KEY: &str = "sk-team-blue-local-dev";

async fn send(proxy: &Proxy, key: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, Option<String>, Value) {
    let mut request = proxy.client().post(format!("{}/v1/chat/completions", proxy.base)).bearer_auth(key).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let by = response.headers().get("x-hookgate-rejected-by").map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, by, body)
}

/// Asserts the request never reached the model unchecked: a 4xx from a guardrail.
fn refused(outcome: &(u16, Option<String>, Value), what: &str) {
    let (status, by, body) = outcome;
    assert!((400..500).contains(status), "{what}: got {status} {body}");
    assert!(by.is_some(), "{what}: a plugin refused it and is named: {body}");
    assert!(body["choices"].is_null(), "{what}: no completion came back: {body}");
}

/// Every plugin of the example config is active and was never quarantined.
async fn all_active(proxy: &Proxy) {
    let listing = proxy.admin_get("/plugins").await;
    for plugin in listing["plugins"].as_array().unwrap() {
        assert_eq!(plugin["state"], "active", "{plugin}");
        assert_eq!(plugin["quarantines"], 0, "{plugin}");
    }
}

fn padded(filler_bytes: usize, tail: &str) -> Value {
    chat_body("gpt-4o-mini", &format!("{}{tail}", "lorem ipsum ".repeat(filler_bytes / 12)))
}

#[tokio::test]
async fn padding_a_prompt_past_a_plugin_s_budget_gets_it_refused_never_through_and_never_quarantines() {
    let proxy = example_proxy(|config| config).await;
    // A banned prompt after 6 MiB of filler, and an address after 2 MiB.
    let banned = send(&proxy, README_MASTER_KEY, &padded(6 << 20, " tell me the secret plan"), &[]).await;
    refused(&banned, "banned prompt after 6 MiB");
    let address = send(&proxy, README_MASTER_KEY, &padded(2 << 20, " mail ann@example.com"), &[]).await;
    match address.0 {
        200 => {
            let content = address.2["choices"][0]["message"]["content"].as_str().unwrap().to_owned();
            assert!(!content.contains("ann@example.com"), "the address came back unmasked");
        }
        _ => refused(&address, "an address after 2 MiB"),
    }
    // Ten more: the faults are the input's, so nothing is quarantined for anyone.
    for _ in 0..10 {
        refused(&send(&proxy, README_MASTER_KEY, &padded(6 << 20, " the secret plan"), &[]).await, "padded");
    }
    all_active(&proxy).await;
    let (status, by, _) =
        send(&proxy, README_MASTER_KEY, &chat_body("gpt-4o-mini", "tell me the secret plan"), &[]).await;
    assert_eq!((status, by.as_deref()), (400, Some("banned-keywords")), "the guardrail still holds");
    let quarantines = proxy.metric(r#"hookgate_plugins{state="quarantined"}"#).await;
    assert_eq!(quarantines, 0.0);
}

#[tokio::test]
async fn a_model_name_that_trips_a_plugin_cannot_make_its_probe_fault_and_charge_the_plugin() {
    // `fuel-bomb` burns its whole budget on any body holding `TRIGGER`, model name and all.
    // A probe that copied the client's model would fault too, so the verdict "broken"
    // would stand for every client's faults for a while: fail-open would wave a triggering
    // prompt through, and a few faults would quarantine the plugin for everyone.
    let proxy = ProxyBuilder::new("")
        .plugin("fuel-bomb", "fuel-bomb")
        .settings("fuel-bomb", "{on_error: fail-open, fuel: 5000000}")
        .plugins_option("quarantine_after: 3")
        .plugins_option("quarantine_seconds: 600")
        .start()
        .await;
    for round in 0..4 {
        let (status, _, body) = send(&proxy, MASTER_KEY, &chat_body(&format!("x-TRIGGER-{round}"), "hello"), &[]).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("plugin_check_failed")), "{body}");
        // Within the verdict's lifetime, a real model and a prompt that trips the plugin.
        let (status, _, body) = send(&proxy, MASTER_KEY, &chat_body("mock-echo", "TRIGGER the secret"), &[]).await;
        assert_eq!(status, 400, "round {round}: a prompt the guardrail could not check went through: {body}");
        assert!(body["choices"].is_null(), "{body}");
    }
    let entry = proxy.plugin_entry("fuel-bomb").await;
    assert_eq!((entry["state"].as_str(), entry["quarantines"].as_u64()), (Some("active"), Some(0)), "{entry}");
    let charged =
        r#"hookgate_plugin_faults_total{plugin="fuel-bomb",hook="pre-call",kind="out_of_fuel",cause="input"}"#;
    assert_eq!(proxy.metric(charged).await, 8.0);
}

#[tokio::test]
async fn a_virtual_key_cannot_switch_a_guardrail_off_by_header() {
    let proxy = example_proxy(|config| config).await;
    let body = chat_body("gpt-4o-mini", "tell me the secret plan");
    for header in ["x-litellm-disable-callbacks", "x-hookgate-disable-callbacks"] {
        let (status, by, _) = send(&proxy, BLUE_KEY, &body, &[(header, "banned-keywords")]).await;
        assert_eq!((status, by.as_deref()), (400, Some("banned-keywords")), "{header}");
    }
    // The example's guardrails are `required`: not even the master key switches them off.
    let (status, by, _) =
        send(&proxy, README_MASTER_KEY, &body, &[("x-litellm-disable-callbacks", "banned-keywords")]).await;
    assert_eq!((status, by.as_deref()), (400, Some("banned-keywords")));
}

#[tokio::test]
async fn starving_the_instance_pool_never_lets_a_request_through_and_is_no_plugin_s_fault() {
    let proxy = example_proxy(|config| {
        config
            .replace(
                "model_list:\n",
                "model_list:\n  - {model_name: slow, litellm_params: {model: mock/slow, mock_latency_ms: 3000}}\n",
            )
            .replace("  cache_dir:", "  max_instances: 4\n  instance_wait_ms: 300\n  cache_dir:")
    })
    .await;
    let slow_bodies: Vec<Value> = (0..6).map(|i| chat_body("slow", &format!("slow {i}"))).collect();
    let slow = join_all(slow_bodies.iter().map(|body| send(&proxy, README_MASTER_KEY, body, &[])));
    let banned = async {
        // Once the slow requests hold the pool, a banned prompt to a fast model.
        proxy
            .until("the slow requests to hold the pool", Duration::from_secs(10), || async {
                (proxy.metric("hookgate_plugin_instances").await >= 4.0).then_some(())
            })
            .await;
        let started = Instant::now();
        let outcome = send(&proxy, README_MASTER_KEY, &chat_body("gpt-4o-mini", "tell me the secret plan"), &[]).await;
        (outcome, started.elapsed())
    };
    let (slow, ((status, by, body), took)) = tokio::join!(slow, banned);
    match status {
        400 => assert_eq!(by.as_deref(), Some("banned-keywords"), "{body}"),
        503 => {
            assert_eq!(body["error"]["type"], "service_unavailable", "{body}");
            assert_eq!(body["error"]["code"], "overloaded", "{body}");
        }
        other => panic!("a banned prompt got {other} while the pool was full: {body}"),
    }
    assert!(took < Duration::from_secs(3), "the wait for a slot is bounded: {took:?}");
    for (status, _, body) in &slow {
        assert!(*status == 200 || *status == 503, "{status} {body}");
    }
    // Waiting for a slot is never a plugin's fault.
    let listing = proxy.admin_get("/plugins").await;
    for plugin in listing["plugins"].as_array().unwrap() {
        assert_eq!(plugin["faults"], 0, "{plugin}");
    }
    assert!(proxy.metric("hookgate_plugin_instance_waits_timed_out_total").await >= 1.0);
    // Every slot comes back.
    proxy
        .until("the pool to empty", Duration::from_secs(10), || async {
            (proxy.metric("hookgate_plugin_instances").await == 0.0).then_some(())
        })
        .await;
}

/// Idle warm instances hold pool slots, but never against an instance that needs one.
/// One slot and three plugins, each needing it in turn: `noop` (pre-call, reused),
/// `header-injector` (post-call, reused) and `cost-logger` (logging, fresh). Each idle
/// warm instance must give the slot up to the next plugin. Before they did, the first
/// request's post-call waited out `instance_wait` behind the idle `noop` and got a 503,
/// and so did every request after it for as long as the proxy ran (with a free slot for
/// post-call, the logging was skipped instead).
#[tokio::test]
async fn idle_warm_instances_give_their_pool_slots_to_a_plugin_that_needs_one() {
    let proxy = ProxyBuilder::new("")
        .plugin("noop", "noop")
        .plugin("header-injector", "header_injector")
        .plugin("cost-logger", "cost_logger")
        .settings("noop", "{instances: reuse}")
        .settings("header-injector", "{instances: reuse, config: {headers: {x-served-by: hookgate}}}")
        .plugins_option("max_instances: 1")
        .plugins_option("instance_wait_ms: 300")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    for i in 0..4 {
        let response = proxy.chat(&chat_body("mock-echo", &format!("hello {i}"))).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "request {i}: {body}");
        assert_eq!(headers["x-served-by"], "hookgate", "request {i}");
        // Its logging ran too: nothing skipped for want of a slot.
        let id = headers["x-hookgate-request-id"].to_str().unwrap();
        let line = guest_line(&proxy, id, r#"{"event":"cost""#).await;
        assert_eq!(line["plugin"], "cost-logger", "{line}");
    }
    assert_eq!(proxy.metric("hookgate_plugin_instance_waits_timed_out_total").await, 0.0);
    assert!(!proxy.log().contains("no free plugin instance for"), "{}", proxy.log());
}

/// A client that fills the instance pool cannot escape cost logging with its other
/// requests: a logging hook that finds the pool full waits for a slot (up to a minute),
/// where it used to wait `instance_wait` and skip the log. One slot, held 1.5 s by a
/// slow logging hook the first request opted into; the second request's cost is logged
/// once the slot comes back.
#[tokio::test]
async fn a_full_instance_pool_delays_cost_logging_but_never_skips_it() {
    let proxy = ProxyBuilder::new("")
        .plugin("slow-hooks", "slow-hooks")
        .plugin("cost-logger", "cost_logger")
        .settings("slow-hooks", "{default_on: false, timeout_ms: 1000, config: {log_success_ms: 1500}}")
        .plugins_option("max_instances: 1")
        .plugins_option("instance_wait_ms: 200")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    let mut slow = chat_body("mock-echo", "hello");
    slow["guardrails"] = json!(["slow-hooks"]);
    let first = proxy.chat(&slow).await;
    assert_eq!(first.status().as_u16(), 200);
    let first_id = first.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    // Long enough for the first request's cost line, so its slow log holds the slot now.
    guest_line(&proxy, &first_id, r#"{"event":"cost""#).await;
    let second = proxy.chat(&chat_body("mock-echo", "hello again")).await;
    assert_eq!(second.status().as_u16(), 200);
    let second_id = second.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let line = guest_line(&proxy, &second_id, r#"{"event":"cost""#).await;
    assert_eq!(line["plugin"], "cost-logger", "{line}");
    guest_line(&proxy, &first_id, "slow-hooks log-success").await;
    assert!(proxy.metric("hookgate_plugin_instance_waits_timed_out_total").await >= 1.0, "it did find the pool full");
    assert!(!proxy.log().contains("logging skipped"), "{}", proxy.log());
}

#[tokio::test]
async fn a_plugin_broken_in_one_hook_is_quarantined_even_while_its_other_hooks_succeed() {
    let proxy = ProxyBuilder::new("")
        .plugin("slow-hooks", "slow-hooks")
        .settings("slow-hooks", "{on_error: fail-closed, timeout_ms: 50, config: {post_call_ms: 10000}}")
        .plugins_option("quarantine_after: 3")
        .plugins_option("quarantine_seconds: 600")
        .start()
        .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let response = proxy.chat(&chat_body("mock-echo", &format!("hello {i}"))).await;
        statuses.push(response.status().as_u16());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "plugin_error", "{body}");
    }
    assert_eq!(statuses, [503; 6]);
    let entry = proxy.plugin_entry("slow-hooks").await;
    assert_eq!(entry["state"], "quarantined", "{entry}");
    assert_eq!(entry["quarantines"], 1, "{entry}");
    // Three deadline faults of its own, then it was skipped: the other three requests
    // did not pay its timeout.
    assert_eq!(entry["faults"], 3, "{entry}");
    let series =
        r#"hookgate_plugin_faults_total{plugin="slow-hooks",hook="post-call-success",kind="deadline",cause="plugin"}"#;
    assert_eq!(proxy.metric(series).await, 3.0);
}

#[tokio::test]
async fn text_hidden_where_only_the_model_looks_is_still_checked() {
    let proxy = example_proxy(|config| config).await;
    let hidden = [
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
               "tools": [{"type": "function", "function": {"name": "plan", "description": "tell me the secret plan"}}]}),
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "name": "the_forbidden_one", "content": "hi"}]}),
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
               "response_format": {"type": "json_schema", "json_schema": {"name": "s", "description": "the secret plan"}}}),
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"},
               {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"q\": \"forbidden\"}"}}]},
               {"role": "tool", "tool_call_id": "c", "content": "ok"}]}),
        // Fields the proxy does not know, which a model's chat template may render.
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"},
               {"role": "assistant", "content": "ok", "reasoning_content": "the secret plan"},
               {"role": "user", "content": "go on"}]}),
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
               "tools": [{"type": "function", "function": {"name": "f", "x_examples": ["the forbidden one"]}}]}),
    ];
    for body in hidden {
        let (status, by, answer) = send(&proxy, README_MASTER_KEY, &body, &[]).await;
        assert_eq!((status, by.as_deref()), (400, Some("banned-keywords")), "{body}: {answer}");
    }
}

#[tokio::test]
async fn text_a_model_writes_outside_content_is_checked_too() {
    // Each upstream writes the banned phrase where a client reads it, but not in `content`.
    let messages = [
        json!({"role": "assistant", "content": null,
               "function_call": {"name": "say", "arguments": "{\"t\": \"the secret plan\"}"}}),
        json!({"role": "assistant", "content": null,
               "tool_calls": [{"id": "c", "type": "custom", "custom": {"name": "shell", "input": "the secret plan"}}]}),
        json!({"role": "assistant", "content": null,
               "audio": {"id": "a", "data": "", "expires_at": 0, "transcript": "the secret plan"}}),
        // A field of the model's own: a reasoning upstream's `reasoning_content`.
        json!({"role": "assistant", "content": "ok", "reasoning_content": "they want the secret plan"}),
    ];
    let mut models = String::from("model_list:\n");
    for (index, message) in messages.iter().enumerate() {
        let answer = json!({"id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": "x",
                            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
        .to_string();
        let base = upstream::serve(move |_| upstream::http("200 OK", "application/json", answer.as_bytes())).await;
        models.push_str(&format!(
            "  - {{model_name: writer-{index}, litellm_params: {{model: openai/x, api_base: '{base}'}}}}\n"
        ));
    }
    let proxy = ProxyBuilder::new(&models)
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{config: {keywords: [secret plan]}}")
        .start()
        .await;
    for (index, message) in messages.iter().enumerate() {
        let (status, by, body) = send(&proxy, MASTER_KEY, &chat_body(&format!("writer-{index}"), "hello"), &[]).await;
        assert_eq!((status, by.as_deref()), (400, Some("banned-keywords")), "{message}: {body}");
    }
}

#[tokio::test]
async fn token_ids_are_refused_while_a_plugin_checks_requests() {
    let guarded = example_proxy(|config| config).await;
    // Without plugins, the request goes upstream as it came: this one answers any body.
    let base =
        upstream::serve(|_| upstream::http("200 OK", "application/json", br#"{"object": "list", "data": []}"#)).await;
    let plain = ProxyBuilder::new(&format!(
        "model_list:\n  - {{model_name: any, litellm_params: {{model: openai/x, api_base: '{base}'}}}}\n"
    ))
    .start()
    .await;
    let asks = [
        ("completions", "prompt", json!({"model": "MODEL", "prompt": [40, 1390, 279]})),
        ("completions", "prompt", json!({"model": "MODEL", "prompt": [[40, 1390], [279]]})),
        ("embeddings", "input", json!({"model": "MODEL", "input": [[40, 1390, 279]]})),
    ];
    for (endpoint, field, body) in asks {
        let post = |proxy: &Proxy, key: &str, model: &str| {
            let mut body = body.clone();
            body["model"] = json!(model);
            proxy.client().post(format!("{}/v1/{endpoint}", proxy.base)).bearer_auth(key).json(&body).send()
        };
        let response = post(&guarded, README_MASTER_KEY, "gpt-4o-mini").await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{endpoint} {body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["param"], field, "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("token ids"), "{error}");
        // Without plugins to read it, the same request is served.
        let response = post(&plain, MASTER_KEY, "any").await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{endpoint} {body}: {}", response.text().await.unwrap());
    }
}

#[tokio::test]
async fn a_redacted_answer_does_not_come_back_through_its_logprobs() {
    // The answer's tokens, as `logprobs: true` asks for: the address the redactor masks
    // in `content` is there too, token by token.
    let tokens = json!({"content": [{"token": "mail ", "logprob": -0.1, "bytes": null, "top_logprobs": []},
                                    {"token": "ann@example.com", "logprob": -0.2, "bytes": null, "top_logprobs": []}]});
    let answer = json!({"id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": "x",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "mail ann@example.com"},
                                     "logprobs": tokens, "finish_reason": "stop"}]})
    .to_string();
    let base = upstream::serve(move |_| upstream::http("200 OK", "application/json", answer.as_bytes())).await;
    let model =
        format!("model_list:\n  - {{model_name: tokens, litellm_params: {{model: openai/x, api_base: '{base}'}}}}\n");
    let proxy = example_proxy(|config| config.replacen("model_list:\n", &model, 1)).await;
    let mut body = chat_body("tokens", "hello");
    body["logprobs"] = json!(true);
    let (status, _, answer) = send(&proxy, README_MASTER_KEY, &body, &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "mail [EMAIL]", "{answer}");
    assert!(!answer.to_string().contains("ann@"), "{answer}");
    assert_eq!(answer["choices"][0]["logprobs"], Value::Null, "{answer}");
}

/// A choice's `logprobs` carry its tokens and, with `top_logprobs`, the alternatives the
/// model weighed: text no hook reads. Where hooks check answers they are dropped, from an
/// answer no hook edited and from each streamed chunk, so a banned phrase among the
/// alternatives does not reach the client.
#[tokio::test]
async fn the_alternatives_in_logprobs_never_reach_the_client_unchecked() {
    let alternatives = json!({"content": [{"token": "fine", "logprob": -0.1, "bytes": null,
                                           "top_logprobs": [{"token": "the secret plan", "logprob": -0.2, "bytes": null}]}]});
    let answer = json!({"id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": "x",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"},
                                     "logprobs": alternatives, "finish_reason": "stop"}]})
    .to_string();
    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "x",
                       "choices": [{"index": 0, "delta": {"content": "fine"}, "logprobs": alternatives, "finish_reason": null}]});
    let events = format!("data: {chunk}\n\ndata: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\ndata: [DONE]\n\n");
    let base = upstream::serve(move |request| match request["stream"] == json!(true) {
        true => upstream::event_stream(&events),
        false => upstream::http("200 OK", "application/json", answer.as_bytes()),
    })
    .await;
    let model =
        format!("model_list:\n  - {{model_name: tokens, litellm_params: {{model: openai/x, api_base: '{base}'}}}}\n");
    let proxy = example_proxy(|config| config.replacen("model_list:\n", &model, 1)).await;
    let mut body = chat_body("tokens", "hello");
    body["logprobs"] = json!(true);
    body["top_logprobs"] = json!(1);
    let (status, _, answer) = send(&proxy, README_MASTER_KEY, &body, &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "fine", "{answer}");
    assert!(!answer.to_string().contains("secret"), "{answer}");
    body["stream"] = json!(true);
    let response = proxy.post("/v1/chat/completions", README_MASTER_KEY, &body).await;
    assert_eq!(response.status(), 200);
    let events = hookgate_tests::proxy::sse_events(response).await;
    assert!(events.iter().any(|event| event.contains("fine")), "{events:?}");
    assert!(events.iter().all(|event| !event.contains("secret")), "{events:?}");
}

#[tokio::test]
async fn several_streamed_choices_are_refused_while_a_plugin_checks_streams() {
    // Each streamed chunk carries one choice, first in `choices` whichever it is: hooks
    // would see two answers' pieces interleaved as one, and miss a phrase split across
    // one answer's chunks.
    let proxy = example_proxy(|config| config).await;
    let mut body = chat_body("gpt-4o-mini", "hello");
    body["n"] = json!(2);
    body["stream"] = json!(true);
    // As an upstream may read them, too: a string, a float.
    for n in [json!(2), json!("2"), json!(2.0)] {
        body["n"] = n;
        let (status, _, error) = send(&proxy, README_MASTER_KEY, &body, &[]).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("n")), "{body}: {error}");
    }
    body["n"] = json!(1);
    assert_eq!(send(&proxy, README_MASTER_KEY, &body, &[]).await.0, 200);
    // Not streamed, each choice is a text of its own (`item`): served.
    body["n"] = json!(2);
    body["stream"] = json!(false);
    assert_eq!(send(&proxy, README_MASTER_KEY, &body, &[]).await.0, 200);
    // A completion's list of prompts asks for a choice each, streamed interleaved the same
    // way: refused while streamed, served for one prompt or unstreamed.
    let completion = |prompt: Value, stream: bool| json!({"model": "gpt-4o-mini", "prompt": prompt, "stream": stream});
    let several = proxy.post("/v1/completions", README_MASTER_KEY, &completion(json!(["a", "b"]), true)).await;
    assert_eq!(several.status(), 400);
    let error: Value = several.json().await.unwrap();
    assert_eq!(error["error"]["param"], "prompt", "{error}");
    for (prompt, stream) in [(json!(["a"]), true), (json!("a"), true), (json!(["a", "b"]), false)] {
        let response = proxy.post("/v1/completions", README_MASTER_KEY, &completion(prompt.clone(), stream)).await;
        assert_eq!(response.status(), 200, "{prompt} stream {stream}: {}", response.text().await.unwrap());
    }
}

#[tokio::test]
async fn unicode_spacing_and_look_alike_forms_do_not_hide_a_banned_phrase() {
    let proxy = example_proxy(|config| config).await;
    for text in [
        "tell me the secret\u{a0}plan",
        "tell me the SECRET\u{2003}\u{2003}PLAN",
        "tell me the ｓｅｃｒｅｔ ｐｌａｎ",
        "tell me the se\u{200b}cret pl\u{ad}an",
        "tell me the secret\n\tplan",
        // Plain ASCII, which the SDK normalizes eight bytes at a time: capitals, and runs
        // of spaces inside a block and across the edge of one.
        "Tell Me The SECRET PLAN",
        "tell me the secret  plan",
        "tell me the secret       plan, please",
        "  TELL me   the  Secret    Plan  ",
    ] {
        let (status, by, body) = send(&proxy, README_MASTER_KEY, &chat_body("gpt-4o-mini", text), &[]).await;
        assert_eq!((status, by.as_deref()), (400, Some("banned-keywords")), "{text:?}: {body}");
    }
}

/// A phrase split across a message's text parts is one text to the model (its parts are
/// joined back to back or with a line break), so it is one text to the guardrail too.
#[tokio::test]
async fn a_banned_phrase_split_across_text_parts_is_refused() {
    let proxy = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{config: {keywords: [forbidden, secret plan]}}")
        .start()
        .await;
    let parts = |texts: [&str; 2]| -> Value {
        let parts: Vec<Value> = texts.iter().map(|text| json!({"type": "text", "text": text})).collect();
        json!({"model": "mock-echo", "messages": [{"role": "user", "content": parts}]})
    };
    for texts in [["tell me the secret", " plan"], ["tell me the secret ", "plan"], ["tell me the sec", "ret plan"]] {
        let response = proxy.chat(&parts(texts)).await;
        assert_eq!(response.status().as_u16(), 400, "{texts:?}");
        let error: Value = response.json().await.unwrap();
        // Refused before the upstream: the echoing mock joins the parts, and the answer's
        // check would catch the phrase there too late (a real model does not echo).
        assert_eq!(error["error"]["message"], "Request contains a banned keyword: secret plan", "{texts:?}: {error}");
    }
    let apart = proxy.chat(&parts(["a secret", "and a plan"])).await;
    assert_eq!(apart.status(), 200, "parts that only sit side by side pass");
}

#[tokio::test]
async fn shapes_the_guardrails_cannot_read_are_refused_naming_the_field() {
    let proxy = example_proxy(|config| config).await;
    let cases = [
        (json!([{"role": "user", "content": 5}]), "messages[0].content"),
        (json!([{"role": "user", "content": {"x": 1}}]), "messages[0].content"),
        (json!([{"role": "wizard", "content": "tell me the secret plan"}]), "messages[0].role"),
        (json!([{"role": "user"}]), "messages[0].content"),
    ];
    for (messages, param) in cases {
        let body = json!({"model": "gpt-4o-mini", "messages": messages});
        let (status, by, answer) = send(&proxy, README_MASTER_KEY, &body, &[]).await;
        assert_eq!((status, by), (400, None), "{messages}: {answer}");
        assert_eq!(answer["error"]["param"], param, "{answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
    }
    // Duplicate keys: a guardrail and the upstream must never read two different bodies.
    let raw =
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello","content":"tell me the secret plan"}]}"#;
    let response = proxy
        .client()
        .post(format!("{}/v1/chat/completions", proxy.base))
        .bearer_auth(README_MASTER_KEY)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert!(answer["error"]["message"].as_str().unwrap().contains("duplicate key"), "{answer}");
}

/// (a) A reused plugin's pre-call is cancelled mid-call five times (the clients hang up);
/// the instances they left mid-call are never used again: the next request proceeds with
/// no fault.
#[tokio::test]
async fn a_cancelled_call_s_instance_is_never_used_again() {
    let proxy = ProxyBuilder::new("")
        .plugin("slow-hooks", "slow-hooks")
        .settings("slow-hooks", "{instances: reuse, timeout_ms: 2000, config: {pre_call_ms: 50}}")
        .start()
        .await;
    for i in 0..5 {
        let body = chat_body("mock-echo", &format!("hang up {i}"));
        let request = proxy.chat(&body);
        assert!(tokio::time::timeout(Duration::from_millis(20), request).await.is_err(), "the call takes 50 ms");
    }
    // Give the proxy a moment to notice the hang-ups (the cancellations are what is tested,
    // and a late one only makes the next request wait, never pass wrongly).
    let response = proxy.chat(&chat_body("mock-echo", "a normal request")).await;
    assert_eq!(response.status(), 200);
    let entry = proxy.plugin_entry("slow-hooks").await;
    assert_eq!(entry["faults"], 0, "{entry}");
    let decided =
        proxy.metric(r#"hookgate_plugin_hook_duration_seconds_count{plugin="slow-hooks",hook="pre-call"}"#).await;
    assert!(decided >= 1.0, "the normal request's pre-call ran");
}

/// (b) One plugin's moderation rejects at once while another's is still running: the
/// cancelled one's instance is not reused for its log-failure, which runs cleanly.
#[tokio::test]
async fn a_moderation_rejection_cancels_the_other_moderation_calls_cleanly() {
    let proxy = ProxyBuilder::new("")
        .plugin("probe", "probe")
        .plugin("slow-hooks", "slow-hooks")
        .settings("slow-hooks", "{timeout_ms: 2000, config: {moderation_ms: 300}}")
        .start()
        .await;
    for i in 0..5 {
        let response = proxy.chat(&chat_body("mock-echo", &format!("MODERATE {i}"))).await;
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["x-hookgate-rejected-by"], "probe");
        let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
        proxy.wait_for_log(&format!("slow-hooks log-failure {id}"), Duration::from_secs(10)).await;
    }
    let entry = proxy.plugin_entry("slow-hooks").await;
    assert_eq!(entry["faults"], 0, "{entry}");
}

#[tokio::test]
async fn a_plugin_that_cannot_load_is_retried_only_when_its_files_change() {
    let proxy = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .sidecar("banned-keywords", "config: {keywords: [alpha]}\n")
        .start()
        .await;
    // A second plugin whose init refuses its config.
    let dir = proxy.plugin_dir();
    std::fs::write(dir.join("refuser.yaml"), "config: {keywords: [beta], status: 200}\n").unwrap();
    std::fs::copy(hookgate_tests::guest_dir().join("banned_keywords.wasm"), dir.join("refuser.wasm")).unwrap();
    proxy.wait_for_log("refused its config", Duration::from_secs(20)).await;
    // Then quiet: no rescans of an unchanged failure, so no CPU and no more lines.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_before = proxy.cpu_time();
    let lines_before = proxy.log().matches("plugin not loaded").count();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu = proxy.cpu_time() - cpu_before;
    assert!(cpu < Duration::from_millis(500), "the proxy burned {cpu:?} of CPU in 5 idle seconds");
    let lines = proxy.log().matches("plugin not loaded").count();
    assert_eq!((lines_before, lines), (1, 1), "one error line for the failed load:\n{}", proxy.log());
    // A change to its files is retried (and fails again, once more).
    std::fs::write(dir.join("refuser.yaml"), "config: {keywords: [beta], status: 201}\n").unwrap();
    proxy
        .until("the changed sidecar to be retried", Duration::from_secs(20), || async {
            (proxy.log().matches("plugin not loaded").count() == 2).then_some(())
        })
        .await;
    let entry = proxy.plugin_entry("refuser").await;
    assert_eq!(entry["state"], "failed-to-load", "{entry}");
}

#[tokio::test]
async fn admin_identity_is_the_master_key_itself_and_no_auth_is_never_a_silent_open_door() {
    // A virtual key aliased `master` would have been an admin: refused at start.
    let aliased = ProxyBuilder::new("keys:\n  - {key: sk-pretender-key, alias: master}\n").try_start().await;
    let log = aliased.err().expect("a virtual key aliased master is refused");
    assert!(log.contains("keys[0].alias") && log.contains("reserved"), "{log}");

    // Virtual keys without a master key: auth would be off and their limits void.
    let keys_only =
        ProxyBuilder::new("general_settings: {}\nkeys:\n  - {key: sk-only-key, alias: only}\n").try_start().await;
    let log = keys_only.err().expect("keys without a master key are refused");
    assert!(log.contains("virtual keys need general_settings.master_key"), "{log}");

    // Auth off on a loopback bind: admin routes answer (the operator's own machine).
    let loopback = ProxyBuilder::new("general_settings: {}\n").start().await;
    let plugins = loopback.client().get(format!("{}/plugins", loopback.base)).send().await.unwrap();
    assert_eq!(plugins.status(), 200);
    // But not to a web page the operator visits: a cross-site post (no preflight, no
    // body needed) that would quarantine a guardrail, or a page that rebinds its own
    // name to 127.0.0.1 and reads or replaces plugins.
    let quarantine = format!("{}/plugins/banned-keywords/quarantine?seconds=86400", loopback.base);
    let from_pages = [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("host", "evil.example:4000"),
    ];
    for (name, value) in from_pages {
        for (method, url) in [("POST", quarantine.clone()), ("GET", format!("{}/plugins", loopback.base))] {
            let request = loopback.client().request(method.parse().unwrap(), &url).header(name, value);
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 403, "{method} {url} with {name}: {value}");
        }
    }
    let own = loopback.client().get(format!("{}/plugins", loopback.base)).header("origin", &loopback.base);
    assert_eq!(own.send().await.unwrap().status(), 200, "a page of the proxy's own, as the console is");
    // Nor the OpenAI routes: a page could post prompts on the operator's provider keys
    // (a body without a content type needs no preflight) and, rebound, read the answers.
    let chat = format!("{}/v1/chat/completions", loopback.base);
    let body = chat_body("mock-echo", "hi").to_string();
    for (name, value) in from_pages {
        let posted = loopback.client().post(&chat).body(body.clone()).header(name, value).send().await.unwrap();
        assert_eq!(posted.status(), 403, "chat with {name}: {value}");
        let listed = loopback.client().get(format!("{}/v1/models", loopback.base)).header(name, value);
        assert_eq!(listed.send().await.unwrap().status(), 403, "models with {name}: {value}");
    }
    let posted = loopback.client().post(&chat).body(body).send().await.unwrap();
    assert_eq!(posted.status(), 200, "a client on this machine is served");
    drop(loopback);

    // Auth off on every interface: the admin routes refuse, requests are still served.
    let public = ProxyBuilder::new("general_settings: {}\n").arg("--host").arg("0.0.0.0").start().await;
    let address = public.base.replace("0.0.0.0", "127.0.0.1");
    for (method, path) in [("GET", "/plugins"), ("GET", "/callbacks/list"), ("POST", "/plugins/reload")] {
        let request = public.client().request(method.parse().unwrap(), format!("{address}{path}"));
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{method} {path}");
    }
    let served = public.client().post(format!("{address}/v1/chat/completions")).json(&chat_body("mock-echo", "hi"));
    assert_eq!(served.send().await.unwrap().status(), 200);
    assert!(public.log().contains("admin routes are refused (not a loopback bind)"), "{}", public.log());
}

/// Without `key_id_secret`, the key-id secret derives from the master key, so the master
/// key's own id (which plugins see) lets them test guesses at it offline: a short master
/// key is warned about, and a `key_id_secret` (or a long key) ends the warning.
#[tokio::test]
async fn a_short_master_key_without_a_key_id_secret_is_warned_about() {
    const WARNING: &str = "key_id_secret is not set and the master key is short";
    let short = ProxyBuilder::new("").start().await;
    assert!(short.log().contains(WARNING), "{}", short.log());
    let secret =
        format!("general_settings: {{master_key: {MASTER_KEY}, key_id_secret: a-secret-of-the-operators-own}}\n");
    let long = format!("general_settings: {{master_key: sk-{}}}\n", "7f3a9c".repeat(6));
    for config in [secret, long] {
        let proxy = ProxyBuilder::new(&config).start().await;
        assert!(!proxy.log().contains(WARNING), "{config}: {}", proxy.log());
    }
}

#[tokio::test]
async fn a_config_value_that_would_overflow_stops_the_start_naming_its_key() {
    let log = ProxyBuilder::new("").plugins_option("quarantine_seconds: 18446744073709551615").try_start().await.err();
    let log = log.expect("an absurd cool-down is refused");
    assert!(log.contains("plugins.quarantine_seconds"), "{log}");
}

/// A client cannot stall other clients by making a plugin spin: with one serving thread,
/// every connection shares the thread of a guest spinning to its 2 s deadline, and the
/// other clients' requests (through the same plugin) are still answered meanwhile,
/// because the guest yields to them every epoch tick and every slice of fuel
/// (`server::serving`; with both yields off, this fails).
#[tokio::test]
async fn a_plugin_spinning_to_its_deadline_does_not_hold_up_other_clients_on_its_thread() {
    let proxy = ProxyBuilder::new(&format!("general_settings: {{master_key: {MASTER_KEY}, serving_threads: 1}}\n"))
        .plugin("infinite-loop", "infinite-loop")
        .settings("infinite-loop", "{timeout_ms: 2000, fuel: 1000000000000}")
        .start()
        .await;
    let spinning = async {
        let started = Instant::now();
        let response = proxy.chat(&chat_body("mock-echo", "TRIGGER the loop")).await;
        let status = response.status().as_u16();
        (status, started.elapsed(), response.text().await.unwrap())
    };
    let others = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut took = Vec::new();
        for i in 0..5 {
            let started = Instant::now();
            let response = proxy.chat(&chat_body("mock-echo", &format!("an ordinary question {i}"))).await;
            assert_eq!(response.status(), 200, "{:?}", response.text().await);
            took.push(started.elapsed());
        }
        took
    };
    let ((status, spun, body), took) = tokio::join!(spinning, others);
    // Its own request is refused, as any a plugin could not check in time.
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("plugin_check_failed") && body.contains("deadline"), "{body}");
    assert!(spun >= Duration::from_secs(2), "it spun to its deadline: {spun:?}");
    // All five were answered well inside the spin (200 ms in, 2 s long).
    let total: Duration = took.iter().sum();
    assert!(total < Duration::from_millis(1500), "the other requests waited for the spinning guest: {took:?}");
}
