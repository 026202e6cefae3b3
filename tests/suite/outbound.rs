//! Plugins that call out: `wasi:http` under the operator's grant, over real HTTP to local
//! stand-ins that record what they receive. The `caller` test plugin makes the calls a
//! request scripts and answers with what it saw, so each test sees both sides: what left
//! the proxy, and what the guest was told.

use std::time::{Duration, Instant};

use hookgate_tests::proxy::{chat_body, Proxy, ProxyBuilder};
use hookgate_tests::upstream::{http, Received, StandIn};
use serde_json::{json, Value};

/// The caller plugin in each SDK that has an `http` helper: the same script, the same
/// answers.
const CALLERS: [&str; 3] = ["caller", "py-caller", "js-caller"];

const ROUTING_KEY: &str = "R0UT1NG-KEY-0123456789abcdef0123";
const TOKEN: &str = "t0ken-for-the-moderation-api";

/// A proxy with the caller plugin built from `crate_name`, named `caller`; `grant` is its
/// `plugins.outbound.caller` entry as inline YAML, if it has one. The secrets come from
/// the proxy's environment.
async fn proxy_of(crate_name: &str, grant: Option<&str>) -> Proxy {
    let mut builder = ProxyBuilder::new("")
        .plugin("caller", crate_name)
        .env("TEST_ROUTING_KEY", ROUTING_KEY)
        .env("TEST_TOKEN", TOKEN);
    if let Some(grant) = grant {
        builder = builder.plugins_option("outbound:").plugins_option(&format!("  caller: {grant}"));
    }
    builder.start().await
}

/// [`proxy_of`] with the Rust caller.
async fn proxy_with(grant: Option<&str>) -> Proxy {
    proxy_of("caller", grant).await
}

/// Runs `calls` through the caller plugin; per call, the results of it and of the
/// redirects it followed.
async fn call_out(proxy: &Proxy, calls: Value) -> Vec<Vec<Value>> {
    let script = json!({"calls": calls, "log": true}).to_string();
    let response = proxy.chat(&chat_body("mock-echo", &script)).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let content = body["choices"][0]["message"]["content"].as_str().expect("the plugin answered");
    serde_json::from_str(content).unwrap_or_else(|e| panic!("{e}: {content}"))
}

/// A stand-in that answers 200 with a JSON echo of what it received.
async fn echoing_service() -> StandIn {
    StandIn::start(|request: &Received| {
        let echo = json!({"path": request.path, "headers": request.headers, "body": request.text()});
        http("200 OK", "application/json", echo.to_string().as_bytes())
    })
    .await
}

fn refused_calls(result: &str) -> String {
    format!(r#"hookgate_plugin_outbound_calls_total{{plugin="caller",destination="refused",result="{result}"}}"#)
}

#[tokio::test]
async fn a_plugin_without_a_grant_is_refused_and_nothing_leaves() {
    for caller in CALLERS {
        let service = echoing_service().await;
        let proxy = proxy_of(caller, None).await;
        let results = call_out(&proxy, json!([{"url": format!("{}/v2/enqueue", service.base), "body": "{}"}])).await;
        assert_eq!(results[0][0]["error"], "denied", "{caller}: {results:?}");
        assert!(results[0][0]["message"].as_str().unwrap().contains("outbound grant"), "{caller}: {results:?}");
        assert!(service.received().is_empty(), "{caller}: nothing reached the service");
        assert_eq!(proxy.metric(&refused_calls("refused_no_grant")).await, 1.0, "{caller}");
        proxy.wait_for_log("plugin outbound call refused", Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn secrets_are_filled_in_on_the_way_out_and_never_reach_the_guest_or_the_log() {
    for caller in CALLERS {
        eprintln!("secrets_are_filled_in_on_the_way_out_and_never_reach_the_guest_or_the_log: {caller}");
        secrets_are_filled_in_on_the_way_out_and_never_reach_the_guest_or_the_log_in(caller).await;
    }
}

async fn secrets_are_filled_in_on_the_way_out_and_never_reach_the_guest_or_the_log_in(caller: &str) {
    let service = echoing_service().await;
    let grant = format!(
        "{{allow: ['{}/v2/'], secrets: {{routing_key: os.environ/TEST_ROUTING_KEY, token: os.environ/TEST_TOKEN}}}}",
        service.base
    );
    let proxy = proxy_of(caller, Some(&grant)).await;
    let body = json!({"routing_key": "${secret:routing_key}", "event_action": "trigger"}).to_string();
    let results = call_out(
        &proxy,
        json!([{
            "url": format!("{}/v2/enqueue", service.base),
            "headers": {"content-type": "application/json", "authorization": "Bearer ${secret:token}"},
            "body": body,
        }]),
    )
    .await;
    // The service got the values.
    let received = service.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/v2/enqueue");
    assert_eq!(received[0].json()["routing_key"], ROUTING_KEY);
    assert_eq!(received[0].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    // The guest saw the answer, with what the service echoed of the secrets put back as
    // placeholders; the proxy's log has the guest's own logging of its request, also with
    // placeholders.
    let answer = &results[0][0];
    assert_eq!(answer["status"], 200, "{answer}");
    let seen = answer.to_string();
    assert!(seen.contains("${secret:routing_key}") && seen.contains("Bearer ${secret:token}"), "{seen}");
    for secret in [ROUTING_KEY, TOKEN] {
        assert!(!seen.contains(secret), "the guest saw a secret: {seen}");
        assert!(!proxy.log().contains(secret), "a secret is in the log");
    }
    assert!(proxy.log().contains("caller sends POST"), "the guest's own log line is there");
    let entry = proxy.plugin_entry("caller").await;
    assert_eq!(entry["outbound"]["secrets"], json!(["routing_key", "token"]), "{entry}");
    assert!(!entry.to_string().contains(ROUTING_KEY) && !entry.to_string().contains(TOKEN), "{entry}");
    let origin = format!("http://127.0.0.1:{}", service.port);
    let series =
        format!(r#"hookgate_plugin_outbound_calls_total{{plugin="caller",destination="{origin}",result="2xx"}}"#);
    assert_eq!(proxy.metric(&series).await, 1.0);
    let duration =
        format!(r#"hookgate_plugin_outbound_duration_seconds_count{{plugin="caller",destination="{origin}"}}"#);
    assert_eq!(proxy.metric(&duration).await, 1.0);
}

#[tokio::test]
async fn destinations_outside_the_grant_are_refused_redirects_included() {
    let allowed = StandIn::start(|_: &Received| http("200 OK", "text/plain", b"fine")).await;
    let elsewhere = echoing_service().await;
    let redirecting = {
        let location = format!("{}/stolen", elsewhere.base);
        StandIn::start(move |_: &Received| {
            format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .into_bytes()
        })
        .await
    };
    let grant = format!(
        "{{allow: ['{}/ok/', '{}/'], secrets: {{routing_key: os.environ/TEST_ROUTING_KEY}}, max_request_bytes: 1000, \
         max_calls_per_hook: 16}}",
        allowed.base, redirecting.base
    );
    let proxy = proxy_with(Some(&grant)).await;
    let grown_headers: serde_json::Map<String, Value> =
        (0..4).map(|i| (format!("x-grown-{i}"), json!("${secret:routing_key}".repeat(512)))).collect();
    let results = call_out(
        &proxy,
        json!([
            {"url": format!("{}/ok/here", allowed.base), "method": "GET"},
            {"url": format!("{}/admin", allowed.base), "method": "GET"},
            {"url": format!("{}/ok/../admin", allowed.base), "method": "GET"},
            {"url": format!("{}/ok/", elsewhere.base), "method": "GET"},
            {"url": format!("{}/go", redirecting.base), "method": "GET", "follow": true},
            {"url": format!("{}/ok/x", allowed.base), "body": "${secret:not_bound}"},
            // The HTTP client reads `\` as `/`: checked as under /ok/, it would go to /admin.
            {"url": format!("{}/ok/..\\admin", allowed.base), "method": "GET"},
            // 840 bytes as the plugin sends them, 1,280 with the secret filled in.
            {"url": format!("{}/ok/x", allowed.base), "body": "${secret:routing_key}".repeat(40)},
            // Four headers of 16 KiB each filled in, within the cap of one header, but
            // 22 KiB more than the plugin sent, past what all headers may grow together.
            {"url": format!("{}/ok/x", allowed.base), "method": "GET", "headers": grown_headers},
        ]),
    )
    .await;
    assert_eq!(results[0][0]["status"], 200, "{results:?}");
    assert_eq!(results[1][0]["error"], "denied", "another path on the same host: {results:?}");
    assert_eq!(results[2][0]["error"], "denied", "a dot segment out of the prefix: {results:?}");
    assert_eq!(results[3][0]["error"], "denied", "another port: {results:?}");
    // The host does not follow redirects; the guest that follows one is refused.
    assert_eq!(results[4][0]["status"], 302, "{results:?}");
    assert_eq!(results[4][1]["error"], "denied", "a redirect out of the allow-list: {results:?}");
    assert_eq!(results[5][0]["error"], "denied", "an unbound secret: {results:?}");
    assert_eq!(results[6][0]["error"], "denied", "a backslash out of the prefix: {results:?}");
    assert_eq!(results[7][0]["error"], "too_large", "max_request_bytes holds for what is sent: {results:?}");
    assert_eq!(results[8][0]["error"], "denied", "headers grown past their budget together: {results:?}");
    proxy.wait_for_log("to all headers together", Duration::from_secs(5)).await;
    assert!(elsewhere.received().is_empty(), "nothing reached a destination outside the grant");
    let paths: Vec<String> = allowed.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/ok/here"], "only the allowed call reached the allowed host");
    assert_eq!(proxy.metric(&refused_calls("refused_destination")).await, 5.0);
    assert_eq!(proxy.metric(&refused_calls("refused_secret")).await, 2.0);
}

#[tokio::test]
async fn metadata_and_private_addresses_are_refused_even_through_allowed_names() {
    let service = StandIn::start(|_: &Received| http("200 OK", "text/plain", b"local")).await;
    let port = service.port;
    let grant = format!(
        "{{allow: ['http://169.254.169.254/', 'http://metadata.test/', 'http://localhost:{port}/', \
         {{url: 'http://private.test:{port}/', private: true}}], \
         resolve: {{metadata.test: 169.254.169.254, private.test: 127.0.0.1}}}}"
    );
    let proxy = proxy_with(Some(&grant)).await;
    let results = call_out(
        &proxy,
        json!([
            {"url": "http://169.254.169.254/latest/meta-data/", "method": "GET"},
            {"url": "http://metadata.test/latest/meta-data/", "method": "GET"},
            {"url": format!("http://localhost:{port}/x"), "method": "GET"},
            {"url": format!("http://private.test:{port}/x"), "method": "GET"},
        ]),
    )
    .await;
    assert_eq!(results[0][0]["error"], "denied", "a metadata address, even allow-listed: {results:?}");
    assert_eq!(results[1][0]["error"], "denied", "a name resolving to it: {results:?}");
    assert_eq!(results[2][0]["error"], "denied", "loopback through a name not marked private: {results:?}");
    assert_eq!(results[3][0]["status"], 200, "a name marked private: {results:?}");
    assert_eq!(service.received().len(), 1);
    assert_eq!(proxy.metric(&refused_calls("refused_address")).await, 3.0);
    proxy.wait_for_log("metadata", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn calls_are_bounded_in_time_size_and_number() {
    for caller in CALLERS {
        eprintln!("calls_are_bounded_in_time_size_and_number: {caller}");
        calls_are_bounded_in_time_size_and_number_in(caller).await;
    }
}

async fn calls_are_bounded_in_time_size_and_number_in(caller: &str) {
    let slow = StandIn::start_after(Duration::from_secs(5), |_: &Received| http("200 OK", "text/plain", b"late")).await;
    let huge = StandIn::start(|_: &Received| http("200 OK", "text/plain", &vec![b'x'; 300_000])).await;
    let small = StandIn::start(|_: &Received| http("200 OK", "text/plain", b"ok")).await;
    let grant = format!(
        "{{allow: ['{}/', '{}/', '{}/'], timeout_ms: 300, max_response_bytes: 100000, max_calls_per_hook: 3}}",
        slow.base, huge.base, small.base
    );
    let proxy = proxy_of(caller, Some(&grant)).await;
    let started = Instant::now();
    let results = call_out(
        &proxy,
        json!([
            {"url": format!("{}/", slow.base), "method": "GET"},
            {"url": format!("{}/", huge.base), "method": "GET"},
            {"url": format!("{}/", small.base), "method": "GET"},
            {"url": format!("{}/", small.base), "method": "GET"},
        ]),
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(results[0][0]["error"], "timeout", "{results:?}");
    assert_eq!(results[1][0]["error"], "too_large", "{results:?}");
    assert_eq!(results[2][0]["status"], 200, "{results:?}");
    assert_eq!(results[3][0]["error"], "denied", "a fourth call in one hook: {results:?}");
    // The slow service's 5 s never held the request: the grant's 300 ms did.
    assert!(elapsed < Duration::from_secs(4), "the request took {elapsed:?}");
    assert_eq!(small.received().len(), 1);
    assert_eq!(proxy.metric(&refused_calls("refused_limit")).await, 1.0);
}

#[tokio::test]
async fn a_sidecar_cannot_grant_its_plugin_the_network() {
    let service = echoing_service().await;
    let sidecar = format!("outbound: {{allow: ['{}/']}}\n", service.base);
    let refused = ProxyBuilder::new("").plugin("caller", "caller").sidecar("caller", &sidecar).try_start().await;
    let Err(log) = refused else { panic!("a plugin whose sidecar grants it the network was loaded") };
    assert!(log.contains("unknown field `outbound`"), "the error names the key: {log}");
    assert!(service.received().is_empty());
}
