//! The request lifecycle over real HTTP with real plugins: one test per lifecycle point
//! and outcome (`docs/architecture.md`, "A request").

use std::time::{Duration, Instant};

use hookgate_tests::fixtures::{guest_line, json_line, json_lines, probe_entry, request_id};
use hookgate_tests::proxy::{
    chat_body, key_id, one_model, sse_events, streamed_text, streaming, Proxy, ProxyBuilder, SilentUpstream, MASTER_KEY,
};
use serde_json::{json, Value};

const BANNED: &str = "{config: {keywords: [forbidden]}}";

/// A proxy on `yaml` with `banned-keywords` refusing [`BANNED`]'s keywords.
async fn with_banned_keywords(yaml: &str) -> Proxy {
    ProxyBuilder::new(yaml)
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", BANNED)
        .start()
        .await
}

async fn json_of(response: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert!(headers.contains_key("x-hookgate-overhead-duration-ms"));
    (status, headers, response.json().await.expect("JSON body"))
}

/// `instances: reuse`: a request takes a warm instance whose state earlier requests left
/// (the probe counts its calls on `self`), an instance is replaced after `max_reuse`
/// requests, and a reused instance's log lines name the request it serves now.
/// With `instances: reuse` requests get warm instances, each replaced after `max_reuse`
/// requests; and every request still gets a fresh per-request context: probe, reused the
/// same way, always counts 3 calls of its own request.
#[tokio::test]
async fn a_plugin_that_opts_into_reuse_gets_warm_instances_replaced_after_max_reuse() {
    let proxy = ProxyBuilder::new("")
        .plugin("probe", "probe")
        .plugin("scripted", "scripted")
        .settings("probe", "{instances: reuse, max_reuse: 3}")
        .settings("scripted", "{instances: reuse, max_reuse: 3, config: {script: {post-call-success: {whoami: true}}}}")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    // Sequential requests until one got a warm instance and one a replacement. Whether the
    // next request finds the last one's instance back in the pool depends on when its
    // logging job hands it back, so the number of requests this takes varies; the bound
    // is generous. `x-scripted-requests` counts the requests the instance has served.
    let mut served = Vec::new();
    let warm_and_replaced = |served: &[u32]| served.iter().any(|&n| n > 1) && served.windows(2).any(|p| p[1] < p[0]);
    while !warm_and_replaced(&served) {
        assert!(served.len() < 60, "no warm instance, or none replaced, in 60 requests: {served:?}");
        let (status, headers, body) = json_of(proxy.chat(&chat_body("mock-echo", "hi")).await).await;
        assert_eq!(status, 200, "{body}");
        let n = headers["x-scripted-requests"].to_str().unwrap().parse::<u32>().unwrap();
        assert!(n <= 3, "an instance served more than 3 requests: {served:?} then {n}");
        served.push(n);
        assert_eq!(headers["x-probe-calls"], "3", "a warm instance, a fresh context: {served:?}");
        let id = headers["x-hookgate-request-id"].to_str().unwrap().to_owned();
        let line = guest_line(&proxy, &id, "probe log-success").await;
        assert_eq!(line["message"], format!("probe log-success {id}").as_str(), "{line}");
        assert_eq!(line["plugin"], "probe", "{line}");
    }
    // Every pre-call line names the request it was written for, warm instance or not.
    for line in json_lines(&proxy) {
        if let Some(id) = line["message"].as_str().and_then(|m| m.strip_prefix("probe pre-call ")) {
            assert_eq!(line["request_id"], id, "a reused instance logs for its current request: {line}");
        }
    }
}

/// Sends `SCATTER` requests one after another and returns what each found left over.
async fn leftover_pages(proxy: &Proxy, requests: usize) -> Vec<usize> {
    let mut found = Vec::new();
    for _ in 0..requests {
        let (status, headers, body) = json_of(proxy.chat(&chat_body("mock-echo", "SCATTER")).await).await;
        assert_eq!(status, 200, "{body}");
        found.push(headers["x-probe-leftover-pages"].to_str().unwrap().parse().unwrap());
    }
    found
}

#[tokio::test]
async fn a_fresh_instance_never_sees_what_the_last_one_wrote_however_scattered() {
    // The probe dirties every other page of two 128-page buffers (one in the memory
    // image, one zeroed): 128 separate runs, more than one scan of the slot's dirty pages
    // gathers (see vendor/README.md). The slot is reset and kept warm for the next
    // instance of the same plugin; that instance must find both buffers as they start.
    let fresh = ProxyBuilder::new("").plugin("probe", "probe").start().await;
    let found = leftover_pages(&fresh, 8).await;
    assert!(found.iter().all(|&pages| pages == 0), "a fresh instance saw an earlier one's pages: {found:?}");

    // The same requests on a reused instance do find the pages: the probe can see them.
    let reused = ProxyBuilder::new("").plugin("probe", "probe").settings("probe", "{instances: reuse}").start().await;
    let found = leftover_pages(&reused, 8).await;
    assert!(found.contains(&128), "a reused instance should find its own 128 pages: {found:?}");
}

#[tokio::test]
async fn pre_call_modify_reaches_the_upstream_hooks_see_key_info_and_one_instance_serves_all_hooks() {
    let keys = "keys:\n  - {key: sk-blue-team-key, alias: blue, user_id: alice, team_id: t1, metadata: {tier: gold}}\n";
    let proxy = ProxyBuilder::new(keys).plugin("probe", "probe").start().await;
    let (status, headers, body) = json_of(proxy.chat(&chat_body("mock-echo", "REWRITE this")).await).await;
    assert_eq!(status, 200, "{body}");
    let master_hash = key_id(MASTER_KEY);
    let expected =
        format!("rewritten by probe (key master, user -, team -, id {master_hash}, metadata {{}}, credentials hidden)");
    assert_eq!(body["choices"][0]["message"]["content"], expected.as_str());
    let blue = proxy.post("/v1/chat/completions", "sk-blue-team-key", &chat_body("mock-echo", "REWRITE")).await;
    let (_, _, body) = json_of(blue).await;
    let blue_hash = key_id("sk-blue-team-key");
    let expected = format!(
        "rewritten by probe (key blue, user alice, team t1, id {blue_hash}, metadata {{\"tier\":\"gold\"}}, credentials hidden)"
    );
    assert_eq!(body["choices"][0]["message"]["content"], expected.as_str(), "hooks see who calls, never the key");
    // pre-call, moderation and post-call-success shared this request's context.
    assert_eq!(headers["x-probe-calls"], "3");
    assert_eq!(headers["x-probe-request-id"], headers["x-hookgate-request-id"]);
    let (_, headers, _) = json_of(proxy.chat(&chat_body("mock-echo", "again")).await).await;
    assert_eq!(headers["x-probe-calls"], "3", "a new request gets a new context");
}

#[tokio::test]
async fn pre_call_respond_answers_without_the_upstream() {
    let yaml = "model_list:\n  - {model_name: down, litellm_params: {model: mock/down, mock_error_status: 500}}\n";
    let proxy = ProxyBuilder::new(yaml).plugin("probe", "probe").start().await;
    let (status, headers, body) = json_of(proxy.chat(&chat_body("down", "RESPOND please")).await).await;
    assert_eq!(status, 200, "the failing upstream is never called: {body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "probe responds");
    assert!(!headers.contains_key("x-probe-calls"), "respond skips post-call-success");
    // Logging hooks still run.
    let id = headers["x-hookgate-request-id"].to_str().unwrap();
    proxy.wait_for_log(&format!("probe log-success {id}"), Duration::from_secs(10)).await;

    let response = proxy.chat(&streaming(chat_body("down", "RESPOND please"))).await;
    assert_eq!(response.status(), 200);
    let events = sse_events(response).await;
    assert_eq!(streamed_text(&events), "probe responds", "respond skips the stream hooks (probe upper-cases chunks)");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));

    let embedding = proxy.post("/v1/embeddings", MASTER_KEY, &json!({"model": "down", "input": "RESPOND"})).await;
    let (status, headers, body) = json_of(embedding).await;
    assert_eq!(status, 400, "respond has no embedding form: {body}");
    assert_eq!(body["error"]["message"], "probe responds");
    assert_eq!(headers["x-hookgate-rejected-by"], "probe");
}

#[tokio::test]
async fn pre_call_rejection_is_a_400_naming_the_plugin_and_priority_orders_the_hooks() {
    let banned_first = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .plugin("probe", "probe")
        .settings("banned-keywords", "{priority: 0, config: {keywords: [forbidden]}}")
        .settings("probe", "{priority: 10}")
        .start()
        .await;
    let (status, headers, body) =
        json_of(banned_first.chat(&chat_body("mock-echo", "RESPOND about forbidden")).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "banned_keyword");
    assert_eq!(headers["x-hookgate-rejected-by"], "banned-keywords");
    drop(banned_first);

    let probe_first = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .plugin("probe", "probe")
        .settings("banned-keywords", "{priority: 10, config: {keywords: [forbidden]}}")
        .settings("probe", "{priority: -5}")
        .start()
        .await;
    let (status, _, body) = json_of(probe_first.chat(&chat_body("mock-echo", "RESPOND about forbidden")).await).await;
    assert_eq!((status, &body["choices"][0]["message"]["content"]), (200, &json!("probe responds")));
}

#[tokio::test]
async fn a_moderation_rejection_cancels_the_upstream_request() {
    let upstream = SilentUpstream::start().await;
    let yaml = one_model("slow", &upstream.api_base);
    let proxy = ProxyBuilder::new(&yaml)
        .plugin("probe", "probe")
        .settings("probe", "{timeout_ms: 5000, fuel: 100000000000}")
        .start()
        .await;
    let started = Instant::now();
    let (status, headers, body) = json_of(proxy.chat(&chat_body("slow", "MODERATE_SLOWLY")).await).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "probe_moderation");
    assert_eq!(headers["x-hookgate-rejected-by"], "probe");
    assert!(started.elapsed() < Duration::from_secs(10), "the silent upstream was not waited for");
    let (arrived, closed) = tokio::time::timeout(Duration::from_secs(60), upstream.outcome)
        .await
        .expect("the upstream reports within its own 30 s bound: the request reached it")
        .expect("the upstream got the request");
    assert!(closed, "the proxy hung up on the upstream");
    assert!(arrived.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn post_call_success_adds_headers_and_can_reject() {
    let yaml = "model_list:\n  - {model_name: mock-echo, litellm_params: {model: mock/echo}}\n";
    // header-injector runs first (priority), so the rejected response below had its
    // headers added before banned-keywords rejected it.
    let proxy = ProxyBuilder::new(yaml)
        .plugin("header-injector", "header-injector")
        .plugin("banned-keywords", "banned-keywords")
        .settings("header-injector", "{priority: -1, config: {headers: {x-served-by: hookgate, x-team: blue}}}")
        .settings("banned-keywords", BANNED)
        .start()
        .await;
    let (status, headers, _) = json_of(proxy.chat(&chat_body("mock-echo", "hi")).await).await;
    assert_eq!(status, 200);
    assert_eq!((&headers["x-served-by"], &headers["x-team"]), (&"hookgate".parse().unwrap(), &"blue".parse().unwrap()));

    // The request is clean; the answer (set per request on the mock) is not.
    let mut body = chat_body("mock-echo", "hi");
    body["mock_response"] = json!("the forbidden answer");
    let (status, headers, body) = json_of(proxy.chat(&body).await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(headers["x-hookgate-rejected-by"], "banned-keywords");
    let injected = r#"hookgate_plugin_hook_duration_seconds_count{plugin="header-injector",hook="post-call-success"}"#;
    assert_eq!(proxy.metric(injected).await, 2.0, "header-injector added its headers to both answers");
    assert!(!headers.contains_key("x-served-by"), "a rejected response carries no success headers");
    assert!(!headers.contains_key("x-team"), "a rejected response carries no success headers");
}

#[tokio::test]
async fn stream_chunks_are_replaced_dropped_and_forwarded_in_order() {
    let yaml = "model_list:\n  - {model_name: words, litellm_params: {model: mock/words, mock_response: hello DROPME world}}\n";
    let proxy = ProxyBuilder::new(yaml).plugin("probe", "probe").start().await;
    let response = proxy.chat(&streaming(chat_body("words", "x"))).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-hookgate-overhead-duration-ms"));
    let events = sse_events(response).await;
    assert_eq!(streamed_text(&events), "HELLO WORLD");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(events.iter().all(|event| !event.contains("DROPME")));
}

#[tokio::test]
async fn a_chunk_hook_that_fails_after_an_edit_passes_the_chunk_on_as_it_came() {
    // probe upper-cases every chunk and then fails: a fault of the plugin's own (it fails
    // on any input), so `on_error: fail-open` passes each chunk on unedited.
    let yaml =
        "model_list:\n  - {model_name: words, litellm_params: {model: mock/words, mock_response: hello quiet world}}\n";
    let proxy = ProxyBuilder::new(yaml)
        .plugin("probe", "probe")
        .plugins_option("settings: {probe: {on_error: fail-open, config: {fail_after_edit: true}}}")
        .start()
        .await;
    let events = sse_events(proxy.chat(&streaming(chat_body("words", "x"))).await).await;
    assert_eq!(streamed_text(&events), "hello quiet world");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn a_stream_rejection_ends_the_stream_with_an_error_event() {
    let yaml = "model_list:\n  - {model_name: words, litellm_params: {model: mock/words, mock_response: this is forbidden talk, mock_chunk_delay_ms: 5}}\n  - {model_name: end, litellm_params: {model: mock/end, mock_response: all fine until ENDREJECT}}\n";
    let proxy = ProxyBuilder::new(yaml)
        .plugin("banned-keywords", "banned-keywords")
        .plugin("probe", "probe")
        .settings("banned-keywords", "{priority: -1, config: {keywords: [forbidden]}}")
        .start()
        .await;
    let events = sse_events(proxy.chat(&streaming(chat_body("words", "x"))).await).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let error: Value = serde_json::from_str(&events[events.len() - 2]).expect("an error event before [DONE]");
    assert_eq!(error["error"]["code"], "banned_keyword", "{events:?}");
    // banned-keywords holds back twice its longest keyword (18 characters): the chunks
    // before the banned one are checked but held, so nothing of the answer went out.
    assert_eq!(streamed_text(&events), "", "held back until checked");

    let events = sse_events(proxy.chat(&streaming(chat_body("end", "x"))).await).await;
    assert_eq!(streamed_text(&events), "ALL FINE UNTIL ENDREJECT", "every chunk was forwarded first");
    let error: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert!(error["error"]["message"].as_str().unwrap().starts_with("probe stream-end"), "{error}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}

/// A model asked to answer through a tool writes its answer in the call's arguments,
/// which arrive in pieces: `stream-end` reads them put together (probe refuses a stream
/// whose text holds `ENDREJECT`, here split across two chunks), and the logging hooks
/// get the whole call. `stream-end` reads a text nested in another field of a delta too
/// (an annotation's title, which probe's stream-chunk upper-cases to `ENDREJECT`).
#[tokio::test]
async fn a_streamed_tool_call_or_annotation_reaches_stream_end_and_the_log_whole() {
    let api_base = hookgate_tests::upstream::serve(|request| {
        let asked = request["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
        let tail = if asked.contains("refuse") { "REJECT" } else { "ED" };
        if asked.contains("cite") {
            // The answer's words in an annotation, nested in a field the walk reads whole.
            let citation = json!([{"type": "url_citation", "url_citation": {"title": "endreject", "url": "https://x"}}]);
            return hookgate_tests::upstream::chat_chunks(&[
                (0, json!({"role": "assistant", "content": "see"}), Value::Null),
                (0, json!({"annotations": citation}), Value::Null),
                (0, json!({}), json!("stop")),
            ]);
        }
        hookgate_tests::upstream::chat_chunks(&[
            (
                0,
                json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "say", "arguments": "{\"text\":\"END"}}]}),
                Value::Null,
            ),
            (0, json!({"tool_calls": [{"index": 0, "function": {"arguments": format!("{tail}\"}}")}}]}), Value::Null),
            (0, json!({}), json!("tool_calls")),
        ])
    })
    .await;
    let proxy = ProxyBuilder::new(&one_model("tooled", &api_base))
        .plugin("probe", "probe")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;

    for asked in ["refuse this", "cite this"] {
        let events = sse_events(proxy.chat(&streaming(chat_body("tooled", asked))).await).await;
        let error: Value = serde_json::from_str(&events[events.len() - 2]).expect("an error event before [DONE]");
        assert!(error["error"]["message"].as_str().unwrap().starts_with("probe stream-end"), "{asked}: {events:?}");
    }

    let response = proxy.chat(&streaming(chat_body("tooled", "SHOWPAYLOAD say it"))).await;
    let id = request_id(&response);
    let events = sse_events(response).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(events.iter().all(|event| !event.contains("\"error\"")), "{events:?}");
    // The probe's stream-chunk upper-cases every text of a chunk: the log gets the call
    // as the client got it.
    let entry = probe_entry(&proxy, &id).await;
    assert_eq!(entry["answer"], json!(["SAY", "{\"TEXT\":\"ENDED\"}"]), "{entry}");
}

/// A client may stream several choices (`n`) when no plugin checks streams; the choices'
/// chunks interleave, and the logging hooks still get each choice whole, under its own
/// index, not one text of them all with every choice's words split by the others'.
#[tokio::test]
async fn a_stream_of_several_choices_reaches_the_log_one_choice_each() {
    let api_base = hookgate_tests::upstream::serve(|_| {
        hookgate_tests::upstream::chat_chunks(&[
            (0, json!({"role": "assistant", "content": "END"}), Value::Null),
            (1, json!({"role": "assistant", "content": "zz"}), Value::Null),
            (0, json!({"content": "ED"}), Value::Null),
            (1, json!({"content": "z"}), Value::Null),
            (1, json!({}), json!("length")),
            (0, json!({}), json!("stop")),
        ])
    })
    .await;
    let proxy = ProxyBuilder::new(&one_model("several", &api_base))
        .plugin("answer-logger", "answer-logger")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;

    let mut body = streaming(chat_body("several", "two answers"));
    body["n"] = json!(2);
    let response = proxy.chat(&body).await;
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let events = sse_events(response).await;
    assert_eq!(events.len(), 7, "every chunk, then [DONE]: {events:?}");
    let logged = json_line(&proxy, "the answer-logger line", Duration::from_secs(10), |line| {
        line["message"].as_str().is_some_and(|message| message.starts_with("answer-logger ") && message.contains(&id))
    })
    .await;
    let entry: Value = serde_json::from_str(&logged["message"].as_str().unwrap()["answer-logger ".len()..]).unwrap();
    assert_eq!(
        entry["texts"],
        json!([["/choices/0/message/content", "ENDED"], ["/choices/1/message/content", "zzz"]]),
        "{entry}"
    );
}

#[tokio::test]
async fn post_call_failure_replaces_the_client_error() {
    let yaml = "model_list:\n  - {model_name: down, litellm_params: {model: mock/down, mock_error_status: 503, mock_error_message: upstream overloaded}}\n";
    let proxy = ProxyBuilder::new(yaml).plugin("probe", "probe").start().await;
    let (status, _, body) = json_of(proxy.chat(&chat_body("down", "x")).await).await;
    assert_eq!((status, &body["error"]["message"]), (503, &json!("upstream overloaded")), "probe only observes");
    let (status, headers, body) = json_of(proxy.chat(&chat_body("down", "RECOVER")).await).await;
    assert_eq!(status, 418, "{body}");
    assert_eq!(body["error"]["message"], "probe saw failure: upstream overloaded");
    assert_eq!(headers["x-hookgate-rejected-by"], "probe");
}

/// The plugin is broken (it panics on every request, so also on the harmless probe):
/// its own fault, so `on_error` decides.
#[tokio::test]
async fn a_broken_plugin_fails_open_or_closed_as_configured() {
    let open =
        ProxyBuilder::new("").plugin("panic", "panic").settings("panic", "{config: {always: true}}").start().await;
    let (status, _, body) = json_of(open.chat(&chat_body("mock-echo", "hello")).await).await;
    assert_eq!(status, 200, "fail-open skips the broken plugin: {body}");
    assert_eq!(body["choices"][0]["message"]["content"], "hello");
    let log = open.wait_for_log("plugin fault", Duration::from_secs(5)).await;
    assert!(log.contains("cause=\"plugin\"") || log.contains("cause=plugin"), "{log}");

    let closed = ProxyBuilder::new("")
        .plugin("panic", "panic")
        .settings("panic", "{on_error: fail-closed, config: {always: true}}")
        .start()
        .await;
    let (status, _, body) = json_of(closed.chat(&chat_body("mock-echo", "hello")).await).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["type"], "plugin_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("panic"), "{body}");
    assert!(!body.to_string().contains("exploding on purpose"), "guest internals stay in the log");
}

/// The plugin works, but this input makes it fault: whatever `on_error` says, the input
/// is refused (it could not be checked), and nothing counts towards quarantine.
#[tokio::test]
async fn a_fault_the_input_causes_refuses_the_request_and_never_counts_against_the_plugin() {
    for on_error in ["fail-open", "fail-closed"] {
        let proxy = ProxyBuilder::new("")
            .plugin("panic", "panic")
            .settings("panic", &format!("{{on_error: {on_error}}}"))
            .plugins_option("quarantine_after: 2")
            .start()
            .await;
        for _ in 0..4 {
            let (status, headers, body) = json_of(proxy.chat(&chat_body("mock-echo", "TRIGGER")).await).await;
            assert_eq!(status, 400, "{on_error}: {body}");
            assert_eq!(body["error"]["code"], "plugin_check_failed", "{body}");
            assert_eq!(body["error"]["type"], "invalid_request_error");
            assert_eq!(headers["x-hookgate-rejected-by"], "panic");
            assert!(!body.to_string().contains("exploding on purpose"), "guest internals stay in the log");
        }
        let (status, _, _) = json_of(proxy.chat(&chat_body("mock-echo", "clean")).await).await;
        assert_eq!(status, 200, "{on_error}: the next request is served");
        let listing = proxy.admin_get("/plugins").await;
        let panic = &listing["plugins"][0];
        assert_eq!(panic["state"], "active", "{panic}");
        assert_eq!((panic["quarantines"].as_u64(), panic["input_faults"].as_u64()), (Some(0), Some(4)), "{panic}");
    }
}

#[tokio::test]
async fn a_plugin_that_keeps_faulting_is_quarantined_for_the_cooldown() {
    let proxy = ProxyBuilder::new("")
        .plugin("panic", "panic")
        .settings("panic", "{on_error: fail-closed, config: {always: true}}")
        .plugins_option("quarantine_after: 2")
        .plugins_option("quarantine_seconds: 2")
        .start()
        .await;
    for _ in 0..2 {
        let (status, _, _) = json_of(proxy.chat(&chat_body("mock-echo", "hello")).await).await;
        assert_eq!(status, 503);
    }
    proxy.wait_for_log("plugin quarantined", Duration::from_secs(5)).await;
    let quarantined_at = Instant::now();
    let (status, _, body) = json_of(proxy.chat(&chat_body("mock-echo", "hello")).await).await;
    assert_eq!(status, 503, "a quarantined fail-closed plugin is not called: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("quarantined"), "{body}");
    // After the cool-down the plugin is tried again: it is still broken, so the trial
    // call faults (a plugin_error naming the fault) rather than the quarantine answer.
    proxy
        .until("the cool-down to end", Duration::from_secs(10), || async {
            let (status, _, body) = json_of(proxy.chat(&chat_body("mock-echo", "hello")).await).await;
            let message = body["error"]["message"].as_str().unwrap_or_default().to_owned();
            (status == 503 && message.contains("faulted in pre-call")).then_some(())
        })
        .await;
    assert!(quarantined_at.elapsed() >= Duration::from_secs(1), "the cool-down held");
}

/// Whether `line` is the fault that ends sleeper's blocked log-success call.
fn sleeper_log_success_ended(line: &Value) -> bool {
    line["message"] == "plugin fault" && line["plugin"] == "sleeper" && line["hook"] == "log-success"
}

#[tokio::test]
async fn logging_hooks_run_after_the_response_with_the_request_id() {
    let yaml = "model_list:\n  - {model_name: mock-echo, litellm_params: {model: mock/echo}}\n  - {model_name: down, litellm_params: {model: mock/down, mock_error_status: 500}}\n";
    // On a LOGSLOW request sleeper's log-success blocks until its deadline (seconds:
    // timeout_ms 1.5 s, and blocking in a host call may last several times that); probe
    // comes after it (priority), so probe's log-success line for a request says that
    // sleeper's call for it has ended.
    let proxy = ProxyBuilder::new(yaml)
        .plugin("sleeper", "sleeper")
        .plugin("probe", "probe")
        .settings("sleeper", "{timeout_ms: 1500}")
        .settings("probe", "{priority: 10}")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    let ok = proxy.chat(&chat_body("mock-echo", "LOGSLOW hi")).await;
    assert_eq!(ok.status(), 200);
    let id = request_id(&ok);
    let answer: Value = ok.json().await.expect("the whole answer");
    assert_eq!(answer["choices"][0]["message"]["content"], "LOGSLOW hi");
    // The client has its whole answer while sleeper's logging hook is still blocked:
    // neither its end nor the probe's line after it is in the log yet.
    assert!(!json_lines(&proxy).iter().any(sleeper_log_success_ended), "{}", proxy.log());
    assert!(!proxy.log().contains(&format!("probe log-success {id}")), "{}", proxy.log());
    // Then the logging runs: sleeper is cut off at its deadline, and probe logs the
    // request's id, on a line that names the request and the plugin.
    let ended =
        json_line(&proxy, "sleeper's log-success to end", Duration::from_secs(30), sleeper_log_success_ended).await;
    assert_eq!(ended["kind"], "deadline", "{ended}");
    let line = guest_line(&proxy, &id, "probe log-success").await;
    assert_eq!(line["message"], format!("probe log-success {id}").as_str(), "{line}");
    assert_eq!(line["plugin"], "probe", "{line}");
    let lines = json_lines(&proxy);
    let position = |wanted: &dyn Fn(&Value) -> bool| lines.iter().position(wanted).unwrap();
    assert!(
        position(&sleeper_log_success_ended) < position(&|l: &Value| l == &line),
        "probe logged after sleeper's call ended"
    );

    let failed = proxy.chat(&chat_body("down", "x")).await;
    assert_eq!(failed.status(), 500);
    let id = request_id(&failed);
    let line = guest_line(&proxy, &id, "probe log-failure").await;
    assert_eq!(line["message"], format!("probe log-failure {id}").as_str(), "{line}");
}

#[tokio::test]
async fn a_full_logging_queue_drops_logging_and_never_holds_a_response() {
    // Every log-success call of `sleeper` blocks far longer than this test runs (until
    // its deadline: timeout_ms 20 s); 64 run at once and the queue holds one more, so a
    // burst of 100 requests overflows it.
    let proxy = ProxyBuilder::new("")
        .plugin("sleeper", "sleeper")
        .settings("sleeper", "{timeout_ms: 20000}")
        .plugins_option("logging_queue: 1")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    assert_eq!(proxy.metric("hookgate_logging_dropped_total").await, 0.0);
    let bodies: Vec<Value> = (0..100).map(|i| chat_body("mock-echo", &format!("LOGSLOW {i}"))).collect();
    let proxy = &proxy;
    let burst = bodies.iter().map(|body| async move {
        let response = proxy.chat(body).await;
        let status = response.status().as_u16();
        let _ = response.bytes().await.expect("the whole answer");
        status
    });
    let statuses = futures_util::future::join_all(burst).await;
    assert!(statuses.iter().all(|&status| status == 200), "{statuses:?}");
    // Every answer came back whole while the logging jobs of the first requests were
    // still blocked: no response waited for a logging hook.
    assert!(!json_lines(proxy).iter().any(sleeper_log_success_ended), "{}", proxy.log());
    // At most 64 running jobs and one waiting for them were kept: the rest were dropped,
    // counted and said.
    let dropped = proxy.metric("hookgate_logging_dropped_total").await;
    assert!(dropped >= 35.0, "{dropped} dropped");
    proxy.wait_for_log("logging hooks skipped for a request: the logging queue is full", Duration::from_secs(5)).await;
    // While the logging hooks stay blocked, later requests are still served and, once
    // the queue is full again (the burst may not have filled every place), their logging
    // is dropped too.
    let mut more = 0;
    while proxy.metric("hookgate_logging_dropped_total").await == dropped {
        assert!(more < 70, "70 more requests and none dropped: the queue holds at most 65");
        let (status, _, _) = json_of(proxy.chat(&chat_body("mock-echo", "LOGSLOW still serving")).await).await;
        assert_eq!(status, 200);
        more += 1;
    }
    assert!(!json_lines(proxy).iter().any(sleeper_log_success_ended), "the logging hooks are still blocked");
}

/// An answer no hook edits reaches the client byte for byte as the upstream wrote it,
/// whether or not hooks read it; one a hook edits is made anew.
#[tokio::test]
async fn an_answer_no_hook_edits_is_passed_on_as_sent_and_an_edited_one_is_made_anew() {
    // Spacing, a number's spelling and an escape that serializing the parse would change.
    let sent = "{\n  \"id\": \"chatcmpl-raw\",\n  \"object\": \"chat.completion\",\n  \"n\": 1.50,\n  \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": \"caf\\u00e9 at ann@example.com\"}, \"finish_reason\": \"stop\"}]\n}\n";
    let api_base = hookgate_tests::upstream::serve(move |_| {
        hookgate_tests::upstream::http("200 OK", "application/json", sent.as_bytes())
    })
    .await;
    let yaml = one_model("raw", &api_base);

    // No plugins, then one whose post-call hook reads the answer and leaves it alone.
    let bare = ProxyBuilder::new(&yaml).start().await;
    let read = with_banned_keywords(&yaml).await;
    for proxy in [&bare, &read] {
        let response = proxy.chat(&chat_body("raw", "hi")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), sent);
    }
    let hook = "hookgate_plugin_hook_duration_seconds_count{plugin=\"banned-keywords\",hook=\"post-call-success\"}";
    assert_eq!(read.metric(hook).await, 1.0, "the hook read the answer");

    // pii-redactor masks the address: the client gets the edit, made from the parse.
    let edited = ProxyBuilder::new(&yaml).plugin("pii-redactor", "pii-redactor").start().await;
    let response = edited.chat(&chat_body("raw", "hi")).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let (made, original): (Value, Value) = (serde_json::from_str(&text).unwrap(), serde_json::from_str(sent).unwrap());
    assert_ne!(made["choices"][0]["message"]["content"], original["choices"][0]["message"]["content"], "{text}");
    assert!(!text.contains("ann@example.com"), "{text}");
    assert_eq!(made["n"], original["n"]);
}

/// A stream chunk is forwarded as the upstream wrote it, so one that parsers read two
/// ways (a duplicated key) ends the stream before its text reaches the client.
#[tokio::test]
async fn a_stream_chunk_with_a_duplicated_key_ends_the_stream_unforwarded() {
    let api_base = hookgate_tests::upstream::serve(|_| {
        let events = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hello \"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"forbidden\",\"content\":\"fine\"}}]}\n\n",
            "data: [DONE]\n\n",
        );
        hookgate_tests::upstream::event_stream(events)
    })
    .await;
    let yaml = one_model("twice", &api_base);
    let proxy = with_banned_keywords(&yaml).await;
    let response = proxy.chat(&streaming(chat_body("twice", "hi"))).await;
    assert_eq!(response.status(), 200);
    let events = sse_events(response).await;
    // The first chunk went on (its text held back by banned-keywords, and not sent once
    // the stream failed); the second did not.
    assert!(events[0].contains("\"role\":\"assistant\""), "{events:?}");
    assert!(events.iter().all(|event| !event.contains("forbidden") && !event.contains("fine")), "{events:?}");
    let error: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(error["error"]["type"], "upstream_error", "{events:?}");
    assert!(error["error"]["message"].as_str().unwrap().contains("duplicate key `content`"), "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}

/// While stream hooks run, the request asked for one choice: an upstream that streams
/// another (by `index`, several in a chunk, `choices` as an object) would have hooks read
/// two answers as one and the client apart; the stream ends before such a chunk goes on.
#[tokio::test]
async fn a_stream_chunk_with_another_choice_ends_the_stream_unforwarded() {
    let api_base = hookgate_tests::upstream::serve(|request| {
        let second = match request["messages"][0]["content"].as_str().unwrap_or_default() {
            "index" => r#"{"choices":[{"index":1,"delta":{"content":"x"}}]}"#,
            "several" => r#"{"choices":[{"index":0,"delta":{"content":"x"}},{"index":0,"delta":{"content":"y"}}]}"#,
            _ => r#"{"choices":{"0":{"index":0,"delta":{"content":"forbidden"}}}}"#,
        };
        let events = format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"the forbid\"}}}}]}}\n\n\
             data: {second}\n\n\
             data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"den plan\"}}}}]}}\n\ndata: [DONE]\n\n"
        );
        hookgate_tests::upstream::event_stream(&events)
    })
    .await;
    let yaml = one_model("interleaving", &api_base);
    let proxy = with_banned_keywords(&yaml).await;
    for (prompt, why) in
        [("index", "a choice other than the first"), ("several", "several choices"), ("object", "not a list")]
    {
        let response = proxy.chat(&streaming(chat_body("interleaving", prompt))).await;
        assert_eq!(response.status(), 200);
        let events = sse_events(response).await;
        assert!(events.iter().all(|event| !event.contains("den plan") && !event.contains("forbidden")), "{events:?}");
        let error: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
        assert_eq!(error["error"]["type"], "upstream_error", "{prompt}: {events:?}");
        assert!(error["error"]["message"].as_str().unwrap().contains(why), "{prompt}: {events:?}");
    }
}

/// What the response guardrails cannot read does not reach the client: a whole answer
/// with a duplicated key, and a stream chunk that is no JSON at all.
#[tokio::test]
async fn an_upstream_cannot_pass_text_the_guardrails_could_not_read() {
    let api_base = hookgate_tests::upstream::serve(|request| {
        if request["stream"] == json!(true) {
            let events = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\ndata: forbidden words in plain text\n\ndata: [DONE]\n\n";
            return hookgate_tests::upstream::event_stream(events);
        }
        let twice = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"forbidden","content":"fine"},"finish_reason":"stop"}]}"#;
        hookgate_tests::upstream::http("200 OK", "application/json", twice.as_bytes())
    })
    .await;
    let yaml = one_model("sly", &api_base);
    let proxy = with_banned_keywords(&yaml).await;

    // Without a hook that reads answers (`bare`) the answer is only checked, not parsed:
    // the same refusal.
    let bare = ProxyBuilder::new(&yaml).start().await;
    for server in [&proxy, &bare] {
        let response = server.chat(&chat_body("sly", "hi")).await;
        assert_eq!(response.status(), 502);
        let text = response.text().await.unwrap();
        assert!(text.contains("duplicate key `content`") && !text.contains("forbidden"), "{text}");
    }

    let events = sse_events(proxy.chat(&streaming(chat_body("sly", "hi"))).await).await;
    assert!(events.iter().all(|event| !event.contains("forbidden")), "{events:?}");
    let error: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("cannot read as one JSON value"), "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}
