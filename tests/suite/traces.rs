//! OpenTelemetry traces exported over OTLP/HTTP to a real endpoint on 127.0.0.1 (a
//! recording stand-in), decoded with `opentelemetry-proto`: the span tree of a request
//! through three plugins and an HTTP upstream, continuing the client's `traceparent` and
//! passing it on; and sampling.

use std::time::Duration;

use hookgate_tests::proxy::{chat_body, Proxy, ProxyBuilder};
use hookgate_tests::upstream::{echo_chat, http, StandIn};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::Value;

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

async fn traced_proxy(collector: &StandIn, upstream: &StandIn, sample_ratio: f64) -> Proxy {
    let yaml = format!(
        "model_list:\n  - {{model_name: gpt-traced, litellm_params: {{model: openai/gpt-x, api_base: '{}/v1'}}}}\n\
         traces: {{endpoint: '{}/v1/traces', sample_ratio: {sample_ratio}, export_delay_ms: 50}}\n",
        upstream.base, collector.base
    );
    ProxyBuilder::new(&yaml)
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{priority: 10, config: {keywords: [forbidden]}}")
        .plugin("header-injector", "header-injector")
        .settings("header-injector", "{priority: 20, config: {headers: {x-served-by: hookgate}}}")
        .plugin("versioned", "version-a")
        .settings("versioned", "{priority: 30, instances: reuse}")
        .start()
        .await
}

/// A chat call carrying the client's `traceparent`.
async fn traced_chat(proxy: &Proxy, traceparent: &str, body: &Value) -> reqwest::Response {
    let url = format!("{}/v1/chat/completions", proxy.base);
    proxy
        .client()
        .post(url)
        .bearer_auth(&proxy.admin_key)
        .header("traceparent", traceparent)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn collector() -> impl Fn(&hookgate_tests::upstream::Received) -> Vec<u8> {
    |_| http("200 OK", "application/x-protobuf", b"")
}

/// Every span the collector received so far.
fn spans(collector: &StandIn) -> Vec<Span> {
    collector
        .received()
        .iter()
        .filter(|request| request.path == "/v1/traces")
        .flat_map(|request| {
            assert_eq!(request.header("content-type"), Some("application/x-protobuf"));
            let export = ExportTraceServiceRequest::decode(request.body.as_slice()).expect("an OTLP protobuf export");
            export.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans)
        })
        .collect()
}

fn attribute(span: &Span, key: &str) -> Option<AnyValue> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.clone()?.value)
}

fn text(span: &Span, key: &str) -> String {
    match attribute(span, key) {
        Some(AnyValue::StringValue(text)) => text,
        other => panic!("{key} is not a string on {}: {other:?}", span.name),
    }
}

async fn spans_of_trace(collector: &StandIn, trace_id: &[u8], at_least: usize) -> Vec<Span> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let found: Vec<Span> = spans(collector).into_iter().filter(|span| span.trace_id == trace_id).collect();
        if found.len() >= at_least {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "only {} spans of the trace arrived: {found:#?}", found.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_request_is_a_span_tree_continuing_the_clients_traceparent_and_passing_it_upstream() {
    let collector = StandIn::start(collector()).await;
    let upstream = StandIn::start(|request| echo_chat(request.json())).await;
    let proxy = traced_proxy(&collector, &upstream, 1.0).await;
    let response =
        traced_chat(&proxy, &format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"), &chat_body("gpt-traced", "hello")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["choices"][0]["message"]["content"].as_str().unwrap().contains("hello"));

    // request + pre-call (banned-keywords, versioned) + post-call-success (banned-keywords,
    // header-injector, versioned) + upstream.
    let trace_id = hex::decode(CLIENT_TRACE).unwrap();
    let spans = spans_of_trace(&collector, &trace_id, 7).await;
    let request = spans.iter().find(|span| span.name == "chat/completions").expect("the request's span");
    assert_eq!(hex::encode(&request.parent_span_id), CLIENT_SPAN, "the client's traceparent is continued");
    assert_eq!(request.kind, 2, "a server span");
    let hooks: Vec<(String, String, String)> = spans
        .iter()
        .filter(|span| span.name.starts_with("hook "))
        .map(|span| {
            assert_eq!(span.parent_span_id, request.span_id, "{} is a child of the request", span.name);
            assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
            match attribute(span, "hookgate.fuel") {
                Some(AnyValue::IntValue(fuel)) => assert!(fuel > 0, "{}: fuel {fuel}", span.name),
                other => panic!("no fuel on {}: {other:?}", span.name),
            }
            let mode = text(span, "hookgate.instance_mode");
            let plugin = text(span, "hookgate.plugin");
            assert_eq!(mode, if plugin == "versioned" { "reuse" } else { "fresh" });
            (plugin, text(span, "hookgate.hook"), text(span, "hookgate.decision"))
        })
        .collect();
    for expected in [
        ("banned-keywords", "pre-call", "proceed"),
        ("versioned", "pre-call", "modify"),
        ("banned-keywords", "post-call-success", "proceed"),
        ("header-injector", "post-call-success", "modify"),
        ("versioned", "post-call-success", "modify"),
    ] {
        let found = hooks.iter().any(|(p, h, d)| (p.as_str(), h.as_str(), d.as_str()) == expected);
        assert!(found, "no span for {expected:?} among {hooks:?}");
    }
    let upstream_span = spans.iter().find(|span| span.name == "upstream").expect("the upstream call's span");
    assert_eq!(upstream_span.parent_span_id, request.span_id);
    assert_eq!(upstream_span.kind, 3, "a client span");
    let sent =
        upstream.received().last().unwrap().header("traceparent").expect("traceparent to the upstream").to_owned();
    assert_eq!(
        sent,
        format!("00-{CLIENT_TRACE}-{}-01", hex::encode(&upstream_span.span_id)),
        "the upstream continues the same trace"
    );
    match attribute(request, "http.response.status_code") {
        Some(AnyValue::IntValue(200)) => {}
        other => panic!("status on the request span: {other:?}"),
    }

    // A rejected request: the rejection is the hook span's decision, the status the request's.
    let mut rejected = chat_body("gpt-traced", "a forbidden topic");
    rejected["user"] = Value::from("someone");
    let response = traced_chat(&proxy, &format!("00-{}-{CLIENT_SPAN}-01", "ab".repeat(16)), &rejected).await;
    assert_eq!(response.status(), 400);
    let spans = spans_of_trace(&collector, &[0xab; 16], 2).await;
    assert!(spans.iter().any(|span| span.name == "hook pre-call" && text(span, "hookgate.decision") == "reject"));

    // A stream: the request's span ends with the stream; banned-keywords' chunk calls are
    // one span with their count (one per chunk would bury the trace).
    let mut streamed = chat_body("gpt-traced", "tell me a long story about a proxy");
    streamed["stream"] = Value::Bool(true);
    let response = traced_chat(&proxy, &format!("00-{}-{CLIENT_SPAN}-01", "cd".repeat(16)), &streamed).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("[DONE]"));
    let spans = spans_of_trace(&collector, &[0xcd; 16], 5).await;
    assert!(spans.iter().any(|span| span.name == "chat/completions"), "the stream's request span: {spans:#?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spans = spans_of_trace(&collector, &[0xcd; 16], 5).await;
    let chunks: Vec<&Span> = spans.iter().filter(|s| s.name == "hook stream-chunk").collect();
    assert_eq!(chunks.len(), 1, "one span for the plugin's chunk calls: {chunks:#?}");
    assert_eq!(text(chunks[0], "hookgate.plugin"), "banned-keywords");
    match attribute(chunks[0], "hookgate.calls") {
        Some(AnyValue::IntValue(calls)) => assert!(calls >= 5, "one call per streamed word: {calls}"),
        other => panic!("hookgate.calls: {other:?}"),
    }
}

#[tokio::test]
async fn sampling_follows_the_clients_flag_and_the_ratio_for_the_rest() {
    let collector = StandIn::start(collector()).await;
    let upstream = StandIn::start(|request| echo_chat(request.json())).await;
    let proxy = traced_proxy(&collector, &upstream, 0.0).await;
    // Not sampled by ratio 0: no spans, but the upstream still gets a (not sampled) context.
    assert_eq!(proxy.chat(&chat_body("gpt-traced", "hello")).await.status(), 200);
    // A client that samples its trace is followed.
    let sampled =
        traced_chat(&proxy, &format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"), &chat_body("gpt-traced", "hello")).await;
    assert_eq!(sampled.status(), 200);
    let trace_id = hex::decode(CLIENT_TRACE).unwrap();
    spans_of_trace(&collector, &trace_id, 7).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let others: Vec<String> =
        spans(&collector).into_iter().filter(|s| s.trace_id != trace_id).map(|s| s.name).collect();
    assert!(others.is_empty(), "ratio 0 traces nothing else: {others:?}");
    let first =
        upstream.received()[0].header("traceparent").map(str::to_owned).expect("a context even when not sampled");
    assert!(first.ends_with("-00"), "not sampled: {first}");
}

/// A plugin's summed stream-chunk span says what its calls did to the chunks (replaced,
/// dropped, or the rejection that ended the stream), with a count of each, rather than
/// one label for all of them.
#[tokio::test]
async fn a_summed_stream_chunk_span_says_what_its_calls_did() {
    let collector = StandIn::start(collector()).await;
    let upstream = StandIn::start(|request| echo_chat(request.json())).await;
    let yaml = format!(
        "model_list:\n  - {{model_name: gpt-traced, litellm_params: {{model: openai/gpt-x, api_base: '{}/v1'}}}}\n\
         traces: {{endpoint: '{}/v1/traces', sample_ratio: 1.0, export_delay_ms: 50}}\n",
        upstream.base, collector.base
    );
    let proxy = ProxyBuilder::new(&yaml).plugin("scripted", "scripted").start().await;
    let replacement = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"X"}}]}"#;
    let cases = [
        (serde_json::json!({"do": "replace", "body": replacement}), "replace", "replaced"),
        (serde_json::json!({"do": "drop"}), "drop", "dropped"),
        (serde_json::json!({"do": "reject", "message": "not this stream"}), "reject", "rejected"),
    ];
    for (case, (action, decision, done)) in cases.into_iter().enumerate() {
        let mut body = chat_body("gpt-traced", "tell me a long story about a proxy");
        body["stream"] = Value::Bool(true);
        body["hookgate_script"] = serde_json::json!({ "stream-chunk": action });
        let trace_id = [0x10 + case as u8; 16];
        let response = traced_chat(&proxy, &format!("00-{}-{CLIENT_SPAN}-01", hex::encode(trace_id)), &body).await;
        let answer = response.text().await.unwrap();
        match done {
            "replaced" => assert!(answer.contains(r#""content":"X""#) && !answer.contains("proxy"), "{answer}"),
            "dropped" => assert!(!answer.contains("proxy") && answer.contains("[DONE]"), "{answer}"),
            _ => assert!(answer.contains("not this stream"), "{answer}"),
        }
        spans_of_trace(&collector, &trace_id, 3).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let spans = spans_of_trace(&collector, &trace_id, 3).await;
        let chunks: Vec<&Span> = spans.iter().filter(|s| s.name == "hook stream-chunk").collect();
        assert_eq!(chunks.len(), 1, "{done}: one span for the plugin's chunk calls: {chunks:#?}");
        assert_eq!(text(chunks[0], "hookgate.decision"), decision, "{done}");
        let count = |key| match attribute(chunks[0], key) {
            Some(AnyValue::IntValue(n)) => n,
            other => panic!("{done}: {key}: {other:?}"),
        };
        let calls = count("hookgate.calls");
        let (replaced, dropped) = (count("hookgate.chunks_replaced"), count("hookgate.chunks_dropped"));
        match done {
            "replaced" => assert!(calls >= 5 && replaced == calls && dropped == 0, "{calls} {replaced} {dropped}"),
            "dropped" => assert!(calls >= 5 && dropped == calls && replaced == 0, "{calls} {replaced} {dropped}"),
            _ => assert!(calls == 1 && replaced == 0 && dropped == 0, "{calls} {replaced} {dropped}"),
        }
        assert_eq!(count("hookgate.chunks_changed"), replaced + dropped, "{done}");
    }
}
