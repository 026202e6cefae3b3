//! Behaviours the README and the design promise, each shown over real HTTP against a real
//! `hookgate serve` (the list of promises and their tests is in docs/testing.md).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hookgate_tests::fixtures::{guest_line, json_lines, probe_payload, request_id};
use hookgate_tests::proxy::{chat_body, sse_events, streamed_text, streaming, Proxy, ProxyBuilder};
use hookgate_tests::{guest_dir, workspace_root};
use serde_json::{json, Value};

/// Sends two chats to `model` at once: their statuses, and how long the pair took.
async fn two_chats_at_once(proxy: &Proxy, model: &str) -> ((u16, u16), Duration) {
    let (one, two) = (chat_body(model, "first"), chat_body(model, "second"));
    let started = Instant::now();
    let (first, second) = tokio::join!(proxy.chat(&one), proxy.chat(&two));
    ((first.status().as_u16(), second.status().as_u16()), started.elapsed())
}

/// A chat body for `model` whose `hookgate_script` drives the `scripted` plugin.
fn scripted_body(model: &str, text: &str, script: Value) -> Value {
    let mut body = chat_body(model, text);
    body["hookgate_script"] = script;
    body
}

/// README "The request lifecycle", 3: a streamed answer is held until moderation has
/// approved, so no chunk reaches the client before it. probe's moderation works 300 ms
/// before rejecting `MODERATE_SLOWLY`, long after the mock's stream is ready.
#[tokio::test]
async fn a_streamed_answer_is_held_until_moderation_approves() {
    let proxy = ProxyBuilder::new("")
        .plugin("probe", "probe")
        .settings("probe", "{timeout_ms: 5000, fuel: 100000000000}")
        .start()
        .await;
    let rejected = proxy.chat(&streaming(chat_body("mock-echo", "MODERATE_SLOWLY three more words"))).await;
    assert_eq!(rejected.status(), 403, "the rejection is the answer's head, not an event in a started stream");
    assert_eq!(rejected.headers()["x-hookgate-rejected-by"], "probe");
    assert!(rejected.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let text = rejected.text().await.unwrap();
    assert!(!text.contains("data:"), "no SSE chunk reached the client: {text}");
    let body: Value = serde_json::from_str(&text).expect("an OpenAI error body");
    assert_eq!(body["error"]["code"], "probe_moderation", "{body}");

    // The same stream, approved, flows.
    let approved = proxy.chat(&streaming(chat_body("mock-echo", "three more words"))).await;
    assert_eq!(approved.status(), 200);
    let events = sse_events(approved).await;
    assert_eq!(streamed_text(&events), "THREE MORE WORDS");
}

/// One slot, `slow-hooks` with `settings` (a YAML flow mapping's entries, before its
/// 300 ms pre-call) and two requests at once: both are served, in turn, with no wait for
/// the slot timed out and no fault.
async fn one_slot_serves_two_requests_in_turn(settings: &str, instance_wait_ms: u32) {
    let proxy = ProxyBuilder::new("")
        .plugin("slow-hooks", "slow-hooks")
        .settings("slow-hooks", &format!("{{{settings}timeout_ms: 5000, config: {{pre_call_ms: 300}}}}"))
        .plugins_option("max_instances: 1")
        .plugins_option(&format!("instance_wait_ms: {instance_wait_ms}"))
        .start()
        .await;
    let (statuses, took) = two_chats_at_once(&proxy, "mock-echo").await;
    assert_eq!(statuses, (200, 200));
    // With one slot the two 300 ms pre-calls cannot overlap: the second waited.
    assert!(took >= Duration::from_millis(600), "both pre-calls ran at once: {took:?}");
    assert_eq!(proxy.metric("hookgate_plugin_instance_waits_timed_out_total").await, 0.0);
    assert_eq!(proxy.plugin_entry("slow-hooks").await["faults"], 0);
}

/// README "How a plugin runs": a full instance pool makes new requests wait, not fail.
#[tokio::test]
async fn a_full_instance_pool_makes_requests_wait_not_fail() {
    one_slot_serves_two_requests_in_turn("", 60_000).await;
}

/// README "How a plugin runs": the same with `instances: reuse`. The first request's
/// instance comes back while the second waits for the one slot: it is dropped, not kept
/// idle in the slot the second request waits for. (A wait of 3 s, so that a kept
/// instance fails the test soon.)
#[tokio::test]
async fn a_full_instance_pool_makes_requests_wait_not_fail_with_warm_instances_too() {
    one_slot_serves_two_requests_in_turn("instances: reuse, ", 3_000).await;
}

/// README "How a plugin runs": a plugin with no hook after pre-call does not hold its
/// slot through the upstream wait (its fresh instance is torn down on a task of its
/// own). One slot, a pre-call-only plugin, two requests whose upstream takes 1 s each and
/// a 300 ms wait for a slot: both are served, their upstream waits side by side.
#[tokio::test]
async fn a_plugin_done_after_pre_call_frees_its_slot_for_the_upstream_wait() {
    let yaml = "model_list:\n  - {model_name: mock-slow, litellm_params: {model: mock/echo, mock_latency_ms: 1000}}\n";
    let proxy = ProxyBuilder::new(yaml)
        .plugin("noop", "noop")
        .plugins_option("max_instances: 1")
        .plugins_option("instance_wait_ms: 300")
        .start()
        .await;
    let (statuses, took) = two_chats_at_once(&proxy, "mock-slow").await;
    assert_eq!(statuses, (200, 200));
    assert_eq!(proxy.metric("hookgate_plugin_instance_waits_timed_out_total").await, 0.0);
    // In turn, the two upstream waits would take 2 s.
    assert!(took < Duration::from_millis(1900), "the second request waited for the first's upstream: {took:?}");
}

/// README "Configuration": several `model_list` entries with one `model_name` share its
/// traffic round-robin.
#[tokio::test]
async fn deployments_sharing_a_model_name_take_turns() {
    let yaml = "model_list:
  - {model_name: shared, litellm_params: {model: mock/a, mock_response: from a}}
  - {model_name: shared, litellm_params: {model: mock/b, mock_response: from b}}
";
    let proxy = ProxyBuilder::new(yaml).start().await;
    let mut answers = Vec::new();
    for _ in 0..6 {
        let response = proxy.chat(&chat_body("shared", "hi")).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        answers.push(body["choices"][0]["message"]["content"].as_str().unwrap().to_owned());
    }
    assert!(answers.windows(2).all(|pair| pair[0] != pair[1]), "one deployment, then the other: {answers:?}");
    assert!(answers.iter().all(|answer| answer == "from a" || answer == "from b"), "{answers:?}");
}

/// README "Plugins: directory, hot swap, management": at start-up a plugin that cannot
/// load stops the proxy, saying which and why.
#[tokio::test]
async fn a_plugin_that_cannot_load_at_start_up_stops_the_proxy() {
    let refused = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .plugin("probe", "probe")
        .settings("banned-keywords", "{config: {keywords: []}}")
        .try_start()
        .await;
    let log = match refused {
        Err(log) => log,
        Ok(_) => panic!("the proxy started without its guardrail"),
    };
    assert!(log.contains("could not be loaded"), "{log}");
    assert!(log.contains("plugin `banned-keywords`") && log.contains("keywords"), "{log}");
    assert!(!log.contains("plugin `probe`"), "only the plugin that failed is named: {log}");
    // The same plugin with a config it accepts starts.
    let proxy = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{config: {keywords: [forbidden]}}")
        .try_start()
        .await;
    assert!(proxy.is_ok(), "{:?}", proxy.err());
}

/// README "The request lifecycle", 4: post-call-success may replace the body, and the
/// client gets the replacement.
#[tokio::test]
async fn a_post_call_success_body_replacement_reaches_the_client() {
    let proxy = ProxyBuilder::new("").plugin("scripted", "scripted").start().await;
    let replacement = json!({
        "id": "chatcmpl-replaced", "object": "chat.completion", "created": 1, "model": "mock-echo",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "replaced by scripted"}, "finish_reason": "stop"}]
    });
    let script = json!({"post-call-success": {"do": "modify", "body": replacement}});
    let response = proxy.chat(&scripted_body("mock-echo", "the echo", script)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, replacement, "the client got the plugin's body, not the model's");
}

/// README "Configuration": `litellm_settings.callbacks` enables the plugins it names; a
/// `.wasm` beside them that it does not list stays off.
#[tokio::test]
async fn callbacks_enables_only_the_plugins_it_lists() {
    let start = |yaml: &'static str| {
        ProxyBuilder::new(yaml)
            .plugin("probe", "probe")
            .plugin("banned-keywords", "banned-keywords")
            .settings("banned-keywords", "{config: {keywords: [forbidden]}}")
            .start()
    };
    let (listed, all) = tokio::join!(start("litellm_settings: {callbacks: [probe]}\n"), start(""));
    let body = chat_body("mock-echo", "something forbidden");
    // Without `callbacks` every plugin runs: banned-keywords refuses the request.
    let refused = all.chat(&body).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.headers()["x-hookgate-rejected-by"], "banned-keywords");
    // With `callbacks: [probe]` only probe runs.
    let served = listed.chat(&body).await;
    assert_eq!(served.status(), 200, "banned-keywords stayed off");
    assert_eq!(served.headers()["x-probe-calls"], "3", "probe is on");
    let list = listed.admin_get("/callbacks/list").await;
    let names: BTreeSet<&str> = ["success", "failure", "success_and_failure"]
        .iter()
        .flat_map(|kind| list[kind].as_array().unwrap().iter().map(|name| name.as_str().unwrap()))
        .collect();
    assert_eq!(names, BTreeSet::from(["probe"]), "{list}");
    let calls = r#"hookgate_plugin_hook_duration_seconds_count{plugin="banned-keywords",hook="pre-call"}"#;
    assert_eq!(listed.metric(calls).await, 0.0);
}

/// Which instance of `scripted` served a request, from its `whoami` headers.
#[derive(Debug, Clone, PartialEq)]
struct Served {
    instance: String,
    requests: u32,
    kept_bytes: u64,
}

fn served_by(response: &reqwest::Response) -> Served {
    let header = |name: &str| {
        response.headers().get(name).unwrap_or_else(|| panic!("no {name}: {response:?}")).to_str().unwrap().to_owned()
    };
    Served {
        instance: header("x-scripted-instance"),
        requests: header("x-scripted-requests").parse().unwrap(),
        kept_bytes: header("x-scripted-kept-bytes").parse().unwrap(),
    }
}

/// A clean request through a `scripted` proxy whose post-call-success says `whoami`.
async fn clean(proxy: &Proxy) -> Served {
    let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
    assert_eq!(response.status(), 200);
    served_by(&response)
}

/// README "How a plugin runs": with `instances: reuse`, a warm instance is still dropped
/// after any fault. The instance that faulted had served requests before (it was warm);
/// it never serves again, while other warm instances keep being reused.
#[tokio::test]
async fn a_warm_instance_is_dropped_after_a_fault() {
    let proxy = ProxyBuilder::new("")
        .plugin("scripted", "scripted")
        .settings(
            "scripted",
            "{instances: reuse, config: {script: {pre-call: {whoami: true}, post-call-success: {whoami: true}}}}",
        )
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    let mut seen = Vec::new();
    while !seen.iter().any(|served: &Served| served.requests >= 2) {
        assert!(seen.len() < 50, "no warm instance in 50 requests: {seen:?}");
        seen.push(clean(&proxy).await);
    }
    // A request whose pre-call traps (after saying which instance runs it); until the
    // instance that trapped is a warm one.
    let mut faulted = None;
    for _ in 0..20 {
        let script = json!({"pre-call": {"whoami": true, "do": "trap"}});
        let response = proxy.chat(&scripted_body("mock-echo", "hi", script)).await;
        assert_eq!(response.status(), 400, "the input made the plugin fault: refused");
        let id = request_id(&response);
        let line = guest_line(&proxy, &id, "scripted instance ").await;
        let words: Vec<&str> = line["message"].as_str().unwrap().split(' ').collect();
        let (instance, requests) = (words[2].to_owned(), words[4].parse::<u32>().unwrap());
        if requests >= 2 {
            faulted = Some(instance);
            break;
        }
        let _ = clean(&proxy).await;
    }
    let faulted = faulted.expect("a warm instance took one of the trapping requests");
    let after: Vec<Served> = {
        let mut after = Vec::new();
        for _ in 0..20 {
            after.push(clean(&proxy).await);
        }
        after
    };
    assert!(after.iter().all(|served| served.instance != faulted), "{faulted} served again: {after:?}");
    assert!(after.iter().any(|served| served.requests >= 2), "warm instances are still reused: {after:?}");
}

/// README "How a plugin runs": a warm instance is dropped once its memories pass half of
/// `memory_mb`. One request makes its instance keep 40 MB of a 64 MiB cap (over the
/// 32 MiB half); another makes its instance keep 4 MB. The second is seen again, still
/// holding its 4 MB; the first never is.
#[tokio::test]
async fn a_warm_instance_is_dropped_once_its_memory_passes_half_of_memory_mb() {
    let proxy = ProxyBuilder::new("")
        .plugin("scripted", "scripted")
        .settings(
            "scripted",
            "{instances: reuse, memory_mb: 64, timeout_ms: 5000, fuel: 10000000000, config: {script: {post-call-success: {whoami: true}}}}",
        )
        .start()
        .await;
    let keep = |bytes: u64| json!({"pre-call": {"keep_bytes": bytes}});
    let big = proxy.chat(&scripted_body("mock-echo", "big", keep(40_000_000))).await;
    assert_eq!(big.status(), 200);
    let big = served_by(&big);
    assert_eq!(big.kept_bytes, 40_000_000, "{big:?}");
    let small = proxy.chat(&scripted_body("mock-echo", "small", keep(4_000_000))).await;
    assert_eq!(small.status(), 200);
    let small = served_by(&small);
    assert_eq!(small.kept_bytes, 4_000_000, "a fresh instance, or a warm one without the 40 MB: {small:?}");
    assert_ne!(small.instance, big.instance);

    let seen = std::sync::Mutex::new(Vec::new());
    let reused_small = proxy
        .until("the 4 MB instance to serve again", Duration::from_secs(30), || async {
            let served = clean(&proxy).await;
            seen.lock().unwrap().push(served.clone());
            (served.instance == small.instance).then_some(served)
        })
        .await;
    let seen = seen.into_inner().unwrap();
    assert_eq!(reused_small.kept_bytes, 4_000_000, "a warm instance keeps its memory");
    assert!(reused_small.requests >= 2, "it served the small request before: {reused_small:?}");
    assert!(seen.iter().all(|served| served.instance != big.instance), "the 40 MB instance served again: {seen:?}");
    assert!(seen.iter().all(|served| served.kept_bytes < 32 << 20), "{seen:?}");
}

/// docs/logging-payload.md: the payload of requests that failed. A client that hangs up
/// mid-stream (499, `client_disconnected`), a stream a plugin rejects midway (sent as a
/// 200, logged as a failure with the rejection's status and `rejected_by`), a pre-call
/// rejection, and an error message cut at `max_logged_field_bytes`.
#[tokio::test]
async fn the_logging_payload_describes_failures() {
    let long_answer = "word ".repeat(400);
    let long_error = "e".repeat(2000);
    let yaml = format!(
        "model_list:
  - {{model_name: mock-echo, litellm_params: {{model: mock/echo}}}}
  - {{model_name: words, litellm_params: {{model: mock/words, mock_response: this is forbidden talk, mock_chunk_delay_ms: 5}}}}
  - {{model_name: long, litellm_params: {{model: mock/long, mock_response: '{long_answer}', mock_stream_chunks: 400, mock_chunk_delay_ms: 20}}}}
  - {{model_name: down, litellm_params: {{model: mock/down, mock_error_status: 503, mock_error_message: {long_error}}}}}
"
    );
    let proxy = ProxyBuilder::new(&yaml)
        .plugin("banned-keywords", "banned-keywords")
        .plugin_0_1("probe", "probe")
        .settings("banned-keywords", "{priority: -1, config: {keywords: [forbidden]}}")
        .plugins_option("max_logged_field_bytes: 600")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;

    // The client reads the start of an 8 s stream and hangs up: as soon as it has seen
    // text (banned-keywords holds the first few words back until they are checked).
    let mut response = proxy.chat(&streaming(chat_body("long", "SHOWPAYLOAD go"))).await;
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let mut received = String::new();
    // (Released text comes in pieces that need not hold a whole word.)
    while !received.contains("\"content\":\"W") && !received.contains("\"content\":\" W") {
        assert!(received.len() < 100_000, "no text in {received}");
        let chunk = response.chunk().await.unwrap().expect("the stream goes on");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);
    let payload = probe_payload(&proxy, &id).await;
    assert_eq!((&payload["status"], &payload["status_code"]), (&json!("failure"), &json!(499)), "{payload}");
    assert_eq!(payload["error"]["type"], "client_disconnected", "{payload}");
    assert_eq!(payload["error"]["rejected_by"], Value::Null, "{payload}");
    let sent = payload["response"].as_str().expect("the text sent before the failure");
    assert!(sent.starts_with("W") && sent.len() < long_answer.trim().len(), "{sent}");

    // A stream rejected midway by banned-keywords.
    let events = sse_events(proxy.chat(&streaming(chat_body("words", "SHOWPAYLOAD tell me"))).await).await;
    let error: Value = serde_json::from_str(&events[events.len() - 2]).expect("an error event before [DONE]");
    assert_eq!(error["error"]["code"], "banned_keyword");
    let id = payload_id_of(&proxy, "SHOWPAYLOAD tell me").await;
    let payload = probe_payload(&proxy, &id).await;
    assert_eq!((&payload["status"], &payload["status_code"]), (&json!("failure"), &json!(400)), "{payload}");
    assert_eq!(payload["error"]["rejected_by"], "banned-keywords", "{payload}");
    assert_eq!(payload["error"]["code"], "banned_keyword", "{payload}");
    assert_eq!(payload["response"], streamed_text(&events).as_str(), "what the client was sent: {payload}");

    // A pre-call rejection: no model was chosen.
    let response = proxy.chat(&chat_body("mock-echo", "SHOWPAYLOAD something forbidden")).await;
    assert_eq!(response.status(), 400);
    let payload = probe_payload(&proxy, &request_id(&response)).await;
    assert_eq!(payload["status_code"], 400, "{payload}");
    assert_eq!(payload["error"]["rejected_by"], "banned-keywords", "{payload}");
    assert_eq!(payload["model_used"], Value::Null, "{payload}");

    // An upstream error whose message is longer than max_logged_field_bytes.
    let response = proxy.chat(&chat_body("down", "SHOWPAYLOAD anyone?")).await;
    assert_eq!(response.status(), 503);
    let id = request_id(&response);
    let client_error: Value = response.json().await.unwrap();
    let message = client_error["error"]["message"].as_str().unwrap();
    assert!(message.len() > 600, "{message}");
    let payload = probe_payload(&proxy, &id).await;
    assert_eq!(payload["truncated"], json!(["error.message"]), "{payload}");
    assert_eq!(payload["error"]["message"], &message[..600]);
    assert_eq!(payload["error"]["rejected_by"], Value::Null, "an upstream error is no plugin's");
}

/// The id of the request whose payload probe logged with `text` in its messages (for a
/// stream, whose response headers the SSE helper does not keep).
async fn payload_id_of(proxy: &Proxy, text: &str) -> String {
    proxy
        .until(&format!("the payload of `{text}`"), Duration::from_secs(10), || async {
            json_lines(proxy).into_iter().find_map(|line| {
                let payload: Value =
                    serde_json::from_str(line["message"].as_str()?.strip_prefix("probe payload ")?).ok()?;
                (payload["messages"][0]["content"] == text).then(|| payload["id"].as_str().unwrap().to_owned())
            })
        })
        .await
}

/// README "The request lifecycle": `x-hookgate-overhead-duration-ms` is the time spent
/// outside the upstream call. A 1 s upstream and a 200 ms pre-call hook: the hook counts,
/// the upstream does not.
#[tokio::test]
async fn the_overhead_header_excludes_the_upstream_time() {
    let yaml = "model_list:\n  - {model_name: slow, litellm_params: {model: mock/slow, mock_latency_ms: 1000}}\n";
    let proxy = ProxyBuilder::new(yaml)
        .plugin("slow-hooks", "slow-hooks")
        .settings("slow-hooks", "{timeout_ms: 5000, config: {pre_call_ms: 200}}")
        .start()
        .await;
    let started = Instant::now();
    let response = proxy.chat(&chat_body("slow", "hi")).await;
    let total_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(response.status(), 200);
    let overhead: f64 = response.headers()["x-hookgate-overhead-duration-ms"].to_str().unwrap().parse().unwrap();
    assert!(overhead >= 200.0, "the pre-call hook's 200 ms is overhead: {overhead} ms");
    // total ≥ overhead + upstream, and the upstream took at least its 1000 ms.
    assert!(overhead <= total_ms - 900.0, "{overhead} ms of overhead in {total_ms} ms with a 1 s upstream");
}

/// README "Observability": what a plugin prints goes to the log at info (stdout) or warn
/// (stderr), as does its `log` import at the level it asks for, each line cut at 4 KiB;
/// one instance writes at most 64 KiB (stdout, stderr and the import together).
#[tokio::test]
async fn guest_output_is_logged_at_its_level_cut_at_4_kib_a_line_and_64_kib_an_instance() {
    let proxy = ProxyBuilder::new("")
        .plugin("scripted", "scripted")
        .settings("scripted", "{fuel: 1000000000, timeout_ms: 5000}")
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    let script = json!({"pre-call": {"print": format!("out {}", "o".repeat(10_000)), "eprint": "err line"}});
    let response = proxy.chat(&scripted_body("mock-echo", "hi", script)).await;
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let stdout = guest_line(&proxy, &id, "out ").await;
    assert_eq!(
        (&stdout["level"], &stdout["source"], &stdout["plugin"]),
        (&json!("INFO"), &json!("stdout"), &json!("scripted"))
    );
    let printed = stdout["message"].as_str().unwrap();
    assert!((4000..=4096 + '…'.len_utf8()).contains(&printed.len()), "a 10 KB line is cut at 4 KiB: {}", printed.len());
    let stderr = guest_line(&proxy, &id, "err line").await;
    assert_eq!((&stderr["level"], &stderr["source"]), (&json!("WARN"), &json!("stderr")), "{stderr}");

    let script = json!({"pre-call": {"log": format!("big {}", "l".repeat(10_000))}});
    let id = request_id(&proxy.chat(&scripted_body("mock-echo", "hi", script)).await);
    let logged = guest_line(&proxy, &id, "big ").await;
    assert_eq!((&logged["level"], &logged["source"]), (&json!("INFO"), &json!("log")), "{logged}");
    let length = logged["message"].as_str().unwrap().len();
    assert!((4000..=4096 + '…'.len_utf8()).contains(&length), "a 10 KB line is cut at 4 KiB: {length}");

    // 1 KB to stdout, then a hundred 1 KB lines through the import: 101 KB asked for.
    let script = json!({"pre-call": {"print": format!("flood {}", "p".repeat(1000)), "log": format!("flood {}", "f".repeat(1000)), "log_repeat": 100}});
    let id = request_id(&proxy.chat(&scripted_body("mock-echo", "hi", script)).await);
    let cap = guest_line(&proxy, &id, "guest output over the per-request cap").await;
    assert_eq!(cap["level"], "WARN");
    let written: usize = json_lines(&proxy)
        .iter()
        .filter(|line| line["request_id"] == id.as_str())
        .filter_map(|line| line["message"].as_str().filter(|message| message.starts_with("flood ")))
        .map(str::len)
        .sum();
    assert!((60 * 1024..=64 * 1024).contains(&written), "{written} bytes written of 101 KB");
    // The cap is per instance: the next request's instance writes again.
    let script = json!({"pre-call": {"log": "after the flood"}});
    let id = request_id(&proxy.chat(&scripted_body("mock-echo", "hi", script)).await);
    guest_line(&proxy, &id, "after the flood").await;
}

/// A proxy with one `scripted` plugin whose pre-call logs `info via log` then writes
/// `warn via stderr`, run with `HOOKGATE_LOG=<filter>` (ProxyBuilder always sets `info`).
async fn scripted_with_log_filter(filter: &str) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(guest_dir().join("scripted.wasm"), dir.path().join("plugins/scripted.wasm")).unwrap();
    let config = dir.path().join("config.yaml");
    let yaml = format!(
        "model_list:\n  - {{model_name: mock-echo, litellm_params: {{model: mock/echo}}}}\n\
         general_settings: {{master_key: {}}}\n\
         plugins:\n  dir: plugins\n  cache_dir: '{}'\n  settings:\n    scripted: {{config: {{script: {{pre-call: {{log: info via log, eprint: warn via stderr}}}}}}}}\n",
        hookgate_tests::proxy::MASTER_KEY,
        workspace_root().join("target/hookgate-test-cache").display()
    );
    std::fs::write(&config, yaml).unwrap();
    Proxy::spawn(dir, &config, &["--log-format", "json"], &[("HOOKGATE_LOG", filter)]).await
}

/// README "Observability": `HOOKGATE_LOG` sets the level, per target if asked. The
/// guest's stderr line comes after its info line in the same hook, so once it is in the
/// log, the info line would be too had the filter let it through.
#[tokio::test]
async fn hookgate_log_sets_what_is_logged() {
    let (warn_only, guest_info) =
        tokio::join!(scripted_with_log_filter("warn"), scripted_with_log_filter("warn,hookgate::guest=info"));
    for (proxy, guest_info_shown) in [(&warn_only, false), (&guest_info, true)] {
        let id = request_id(&proxy.chat(&chat_body("mock-echo", "hi")).await);
        guest_line(proxy, &id, "warn via stderr").await;
        let lines = json_lines(proxy);
        let shown = lines.iter().any(|line| line["request_id"] == id.as_str() && line["message"] == "info via log");
        assert_eq!(shown, guest_info_shown, "{}", proxy.log());
        assert!(
            lines.iter().all(|line| line["level"] != "INFO" || line["target"] == "hookgate::guest"),
            "{}",
            proxy.log()
        );
    }
}
