//! The example plugins that call out, against local stand-ins of the services they call:
//! `pagerduty-alerter` (PagerDuty's Events API v2), `remote-moderation` (an LLM Guard
//! API) and `blocked-users` (with the proxy's `/user/block` routes). Several replicas
//! share a real `redis-server` where the behaviour is about replicas.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookgate_tests::fixtures::{assert_overloaded, send_chats, sentinel_logged, signal};
use hookgate_tests::proxy::{chat_body, Proxy, ProxyBuilder};
use hookgate_tests::redis::RedisServer;
use hookgate_tests::upstream::{http, Received, StandIn};
use serde_json::{json, Value};

/// A PagerDuty integration key: 32 characters, from the proxy's environment.
const ROUTING_KEY: &str = "0123456789abcdef0123456789abcdef";

/// A stand-in for PagerDuty's Events API: answers 202 as PagerDuty does.
async fn pagerduty() -> StandIn {
    StandIn::start(|request: &Received| {
        let dedup_key = request.json()["dedup_key"].clone();
        let answer = json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key});
        http("202 Accepted", "application/json", answer.to_string().as_bytes())
    })
    .await
}

/// A proxy with pagerduty-alerter granted the stand-in, and `probe` after it as the
/// sentinel of its logging hooks; `top` is the start of the config (e.g. `redis_url`).
fn alerting_proxy(top: &str, service: &StandIn) -> ProxyBuilder {
    let models =
        "\nmodel_list:\n  - {model_name: mock-down, litellm_params: {model: mock/down, mock_error_status: 503}}\n  \
                  - {model_name: mock-slow, litellm_params: {model: mock/echo, mock_latency_ms: 1500}}\n  \
                  - {model_name: mock-echo, litellm_params: {model: mock/echo}}\n";
    let config = format!(
        "{{config: {{events_url: '{}/v2/enqueue', routing_key: '${{secret:pagerduty_routing_key}}', \
         failure_threshold: 5, failure_window_seconds: 600, hanging_threshold_seconds: 1}}}}",
        service.base
    );
    let grant = format!(
        "  pagerduty-alerter: {{allow: ['{}/v2/enqueue'], secrets: {{pagerduty_routing_key: os.environ/PD_ROUTING_KEY}}}}",
        service.base
    );
    ProxyBuilder::new(&format!("{top}{models}"))
        .plugin("pagerduty-alerter", "pagerduty-alerter")
        .plugin("probe", "probe")
        .settings("pagerduty-alerter", &config)
        .settings("probe", "{priority: 10}")
        .plugins_option("outbound:")
        .plugins_option(&grant)
        .env("PD_ROUTING_KEY", ROUTING_KEY)
}

/// The events the stand-in has received, once it has `count` (waits up to 10 s), and
/// after a further moment in which no more may arrive.
async fn events(service: &StandIn, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while service.received().len() < count && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    service.received().iter().map(Received::json).collect()
}

#[tokio::test]
async fn five_failures_across_two_replicas_page_once() {
    let redis = RedisServer::start().await;
    let service = pagerduty().await;
    let top = format!("redis_url: {}\n", redis.url());
    let replicas = [alerting_proxy(&top, &service).start().await, alerting_proxy(&top, &service).start().await];
    // Three failures on one replica and two on the other: five of model mock-down.
    for (proxy, count) in replicas.iter().zip([3, 2]) {
        let ids = send_chats(proxy, "mock-down", 503, count).await;
        sentinel_logged(proxy, "log-failure", &ids).await;
    }
    let events = events(&service, 1).await;
    assert_eq!(events.len(), 1, "exactly one event for five failures across two replicas: {events:?}");
    let event = &events[0];
    assert_eq!(event["routing_key"], ROUTING_KEY, "the secret arrived at PagerDuty");
    assert_eq!(event["event_action"], "trigger");
    assert!(event["dedup_key"].as_str().unwrap().starts_with("hookgate-failures-mock-down-"), "{event}");
    let payload = &event["payload"];
    assert_eq!((payload["severity"].as_str(), payload["source"].as_str()), (Some("critical"), Some("hookgate")));
    assert!(payload["summary"].as_str().unwrap().contains("5 failures of model mock-down"), "{payload}");
    assert_eq!(payload["custom_details"]["failures"], 5);
    assert_eq!(payload["custom_details"]["last_status"], 503);
    assert_eq!(service.received()[0].path, "/v2/enqueue");
    // A sixth failure is part of the same burst: no second page.
    let ids = send_chats(&replicas[0], "mock-down", 503, 1).await;
    sentinel_logged(&replicas[0], "log-failure", &ids).await;
    assert_eq!(events_now(&service).len(), 1);
    for proxy in &replicas {
        assert!(!proxy.log().contains(ROUTING_KEY), "the routing key is in a log");
    }
    assert_eq!(replicas.iter().filter(|proxy| proxy.log().contains("paged: hookgate: 5 failures")).count(), 1);
}

fn events_now(service: &StandIn) -> Vec<Value> {
    service.received().iter().map(Received::json).collect()
}

#[tokio::test]
async fn a_hanging_request_pages_once() {
    let service = pagerduty().await;
    let proxy = alerting_proxy("", &service).start().await;
    let ids = send_chats(&proxy, "mock-echo", 200, 2).await;
    sentinel_logged(&proxy, "log-success", &ids).await;
    assert!(events_now(&service).is_empty(), "quick requests page nobody");
    // 1.5 s against a threshold of 1 s.
    let ids = send_chats(&proxy, "mock-slow", 200, 1).await;
    sentinel_logged(&proxy, "log-success", &ids).await;
    let events = events(&service, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let payload = &events[0]["payload"];
    assert_eq!(payload["class"], "hanging");
    assert!(payload["summary"].as_str().unwrap().contains("a request to model mock-slow took"), "{payload}");
    assert_eq!(payload["custom_details"]["request_id"], ids[0]);
    assert!(payload["custom_details"]["seconds"].as_f64().unwrap() >= 1.5);
    assert_eq!(events[0]["routing_key"], ROUTING_KEY);
}

const GUARD_TOKEN: &str = "guard-token-never-in-a-plugin";

/// A stand-in for LLM Guard's API (`POST /analyze/prompt`): a prompt with `attack` is
/// invalid; a phone number is sanitized; anything else is valid as it is.
async fn llm_guard(delay: Duration) -> StandIn {
    StandIn::start_after(delay, |request: &Received| {
        let prompt = request.json()["prompt"].as_str().unwrap_or_default().to_owned();
        let valid = !prompt.contains("attack");
        let sanitized = prompt.replace("555-0100", "[REDACTED_PHONE_NUMBER]");
        let risk = if valid { 0.0 } else { 1.0 };
        let answer = json!({"is_valid": valid, "scanners": {"BanTopics": risk}, "sanitized_prompt": sanitized});
        http("200 OK", "application/json", answer.to_string().as_bytes())
    })
    .await
}

/// A proxy with remote-moderation pointed at `api_base`, with `on_error` and `mode`. The
/// hook may last 4 s (four times its 1,000 ms `timeout_ms`), its call out 500 ms (the
/// grant's).
async fn moderated_proxy(api_base: &str, on_error: &str, mode: &str) -> Proxy {
    let config = format!(
        "{{on_error: {on_error}, timeout_ms: 1000, config: {{api_base: '{api_base}/', mode: {mode}, \
         authorization: 'Bearer ${{secret:guard_token}}', timeout_ms: 2000}}}}"
    );
    let grant = format!(
        "  remote-moderation: {{allow: ['{api_base}/analyze/'], secrets: {{guard_token: os.environ/GUARD_TOKEN}}, \
         timeout_ms: 500, max_calls_per_hook: 8}}"
    );
    ProxyBuilder::new("")
        .plugin("remote-moderation", "remote-moderation")
        .settings("remote-moderation", &config)
        .plugins_option("outbound:")
        .plugins_option(&grant)
        .env("GUARD_TOKEN", GUARD_TOKEN)
        .start()
        .await
}

async fn answer(proxy: &Proxy, text: &str) -> (u16, Value) {
    let response = proxy.chat(&chat_body("mock-echo", text)).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn remote_moderation_rejects_and_rewrites_on_the_services_word() {
    let guard = llm_guard(Duration::ZERO).await;
    let proxy = moderated_proxy(&guard.base, "fail-closed", "pre_call").await;
    let (status, body) = answer(&proxy, "plan an attack").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["message"], "Violated content safety policy");
    let (status, body) = answer(&proxy, "call me at 555-0100").await;
    assert_eq!(status, 200, "{body}");
    let echoed = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(echoed.contains("[REDACTED_PHONE_NUMBER]") && !echoed.contains("555-0100"), "the model got: {echoed}");
    let received = guard.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].path, "/analyze/prompt");
    assert_eq!(received[1].json(), json!({"prompt": "call me at 555-0100"}));
    assert_eq!(received[1].header("authorization"), Some(format!("Bearer {GUARD_TOKEN}").as_str()));
    assert!(!proxy.log().contains(GUARD_TOKEN));
}

#[tokio::test]
async fn remote_moderation_during_the_call_rejects_but_never_rewrites() {
    let guard = llm_guard(Duration::ZERO).await;
    let proxy = moderated_proxy(&guard.base, "fail-closed", "during_call").await;
    assert_eq!(answer(&proxy, "plan an attack").await.0, 400);
    let (status, body) = answer(&proxy, "call me at 555-0100").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["choices"][0]["message"]["content"].as_str().unwrap().contains("555-0100"), "{body}");
}

#[tokio::test]
async fn on_error_decides_what_an_unreachable_or_slow_service_means() {
    // Nothing listens on a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://127.0.0.1:{}", free.local_addr().unwrap().port());
    drop(free);
    let slow = llm_guard(Duration::from_secs(5)).await;
    for (base, what) in [(down.as_str(), "down"), (slow.base.as_str(), "slow")] {
        let closed = moderated_proxy(base, "fail-closed", "pre_call").await;
        let started = std::time::Instant::now();
        let (status, body) = answer(&closed, "hello").await;
        assert_eq!(status, 503, "fail-closed, service {what}: {body}");
        assert!(started.elapsed() < Duration::from_secs(3), "service {what}: the grant's 500 ms bounds the wait");
        let open = moderated_proxy(base, "fail-open", "pre_call").await;
        let (status, body) = answer(&open, "hello").await;
        assert_eq!(status, 200, "fail-open, service {what}: {body}");
    }
}

/// An answer the busy proxy heard too late is the proxy's overload (a retryable 503): not
/// the service's failure, which `on_error` is about (a fail-open pass for a client who
/// loads the proxy), nor the input's (a 400 telling an honest client to shrink its prompt).
#[tokio::test]
async fn an_answer_the_busy_proxy_heard_late_is_overload_not_the_services_or_the_inputs_fault() {
    let (proxy_pid, freeze_next) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicBool::new(false)));
    let (pid, freeze) = (Arc::clone(&proxy_pid), Arc::clone(&freeze_next));
    // On cue, the proxy stops for 1.5 s as soon as its call arrives (three times the
    // grant's 500 ms) and the verdict comes just after it resumes: its timer runs first.
    let guard = StandIn::start(move |_request: &Received| {
        if freeze.swap(false, Ordering::SeqCst) {
            let pid = pid.load(Ordering::SeqCst);
            signal(pid, libc::SIGSTOP);
            std::thread::sleep(Duration::from_millis(1500));
            signal(pid, libc::SIGCONT);
            std::thread::sleep(Duration::from_millis(50));
        }
        let answer = json!({"is_valid": false, "scanners": {"BanTopics": 1.0}, "sanitized_prompt": ""});
        http("200 OK", "application/json", answer.to_string().as_bytes())
    })
    .await;
    let proxy = moderated_proxy(&guard.base, "fail-open", "pre_call").await;
    proxy_pid.store(proxy.pid(), Ordering::SeqCst);
    for _ in 0..2 {
        freeze_next.store(true, Ordering::SeqCst);
        let response = proxy.chat(&chat_body("mock-echo", "plan an attack")).await;
        assert!(!freeze_next.load(Ordering::SeqCst), "the proxy was stopped mid-call");
        assert_overloaded(response, &proxy.log()).await;
    }
    let log = proxy.log();
    assert!(log.contains("too busy to hear the answer"), "{log}");
    let load =
        r#"hookgate_plugin_faults_total{plugin="remote-moderation",hook="pre-call",kind="deadline",cause="load"}"#;
    assert_eq!(proxy.metric(load).await, 2.0, "{log}");
    let plugin = &proxy.plugin_entry("remote-moderation").await;
    assert_eq!((&plugin["state"], &plugin["quarantines"]), (&json!("active"), &json!(0)), "{plugin}");
    // Heard in time, the service's verdict holds.
    assert_eq!(answer(&proxy, "plan an attack").await.0, 400);
}

/// A key whose configured user is `mallory`.
const MALLORY_KEY: &str = "sk-mallory-key-0123456789";

fn blocking_proxy(top: &str) -> ProxyBuilder {
    ProxyBuilder::new(&format!("{top}keys:\n  - {{key: {MALLORY_KEY}, alias: mallorys-key, user_id: mallory}}\n"))
        .plugin("blocked-users", "blocked-users")
}

async fn chat_as(proxy: &Proxy, key: &str, user: Option<&str>) -> (u16, Value) {
    let mut body = chat_body("mock-echo", "hi");
    if let Some(user) = user {
        body["user"] = json!(user);
    }
    let response = proxy.post("/v1/chat/completions", key, &body).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn user_block_holds_on_every_replica_and_unblock_lets_the_user_back() {
    let redis = RedisServer::start().await;
    let top = format!("redis_url: {}\n", redis.url());
    let (a, b) = (blocking_proxy(&top).start().await, blocking_proxy(&top).start().await);
    let master = hookgate_tests::proxy::MASTER_KEY;
    assert_eq!(chat_as(&b, master, Some("mallory")).await.0, 200, "nobody is blocked yet");
    let response = a.post("/user/block", master, &json!({"user_ids": ["mallory"]})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"blocked_users": ["mallory"]}));
    for proxy in [&a, &b] {
        // The body's `user`, and a key whose configured user is blocked.
        let (status, body) = chat_as(proxy, master, Some("mallory")).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["message"], "User blocked from making LLM API Calls. User=mallory");
        assert_eq!(body["error"]["code"], "user_blocked");
        assert_eq!(chat_as(proxy, MALLORY_KEY, None).await.0, 400);
        assert_eq!(chat_as(proxy, master, Some("alice")).await.0, 200, "others are not");
    }
    let response = b.post("/customer/unblock", master, &json!({"user_ids": ["mallory"]})).await;
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"unblocked_users": ["mallory"]}));
    for proxy in [&a, &b] {
        assert_eq!(chat_as(proxy, master, Some("mallory")).await.0, 200);
        assert_eq!(chat_as(proxy, MALLORY_KEY, None).await.0, 200);
    }
}

#[tokio::test]
async fn the_block_routes_need_the_master_key_a_list_and_the_plugin() {
    let proxy = blocking_proxy("").start().await;
    let master = hookgate_tests::proxy::MASTER_KEY;
    let cases = [
        (MALLORY_KEY, json!({"user_ids": ["alice"]}), 401),
        (master, json!({"user_ids": []}), 400),
        (master, json!({"user_ids": "alice"}), 400),
        (master, json!({"users": ["alice"]}), 400),
        (master, json!({"user_ids": ["a\nb"]}), 400),
    ];
    for (key, body, status) in cases {
        let response = proxy.post("/user/block", key, &body).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["message"].is_string(), "an OpenAI error: {error}");
    }
    assert_eq!(chat_as(&proxy, MALLORY_KEY, None).await.0, 200, "the key's own block attempt blocked nobody");
    // Without the plugin a block would be enforced by nobody: refused.
    let bare = ProxyBuilder::new("").start().await;
    let response = bare.post("/user/block", master, &json!({"user_ids": ["alice"]})).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Blocked user check was never set"));
}
