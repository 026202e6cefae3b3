//! The proxy over real HTTP without plugins: routes, auth, bad input, the overhead header.

use std::time::{Duration, Instant};

use hookgate_tests::fixtures::signal;
use hookgate_tests::proxy::{chat_body, ProxyBuilder, MASTER_KEY};
use serde_json::{json, Value};

const KEYS: &str = "
model_list:
  - {model_name: mock-echo, litellm_params: {model: mock/echo}}
  - {model_name: mock-fixed, litellm_params: {model: mock/fixed, mock_response: fixed answer}}
keys:
  - {key: sk-blue-team-key, alias: blue, user_id: alice, team_id: blue, models: [mock-echo]}
";

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("x-hookgate-overhead-duration-ms"), "every response carries the overhead");
    let body: Value = response.json().await.expect("an OpenAI error is JSON");
    assert!(body["error"]["message"].is_string(), "OpenAI error shape: {body}");
    assert!(body["error"]["type"].is_string(), "OpenAI error shape: {body}");
    (status, body)
}

#[tokio::test]
async fn chat_text_and_embeddings_answer_like_openai() {
    let proxy = ProxyBuilder::new(KEYS).start().await;
    let response = proxy.chat(&chat_body("mock-echo", "hello there")).await;
    assert_eq!(response.status(), 200);
    let overhead = response.headers()["x-hookgate-overhead-duration-ms"].to_str().unwrap().parse::<f64>().unwrap();
    assert!((0.0..1000.0).contains(&overhead), "overhead {overhead} ms");
    assert!(response.headers().contains_key("x-hookgate-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "hello there");
    assert_eq!(body["model"], "mock-echo");

    let body: Value =
        proxy.post("/chat/completions", MASTER_KEY, &chat_body("mock-fixed", "x")).await.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "fixed answer", "the route without /v1 works too");

    let text = proxy.post("/v1/completions", MASTER_KEY, &json!({"model": "mock-echo", "prompt": "say this"})).await;
    assert_eq!(text.status(), 200);
    let text: Value = text.json().await.unwrap();
    assert_eq!(
        (text["object"].as_str(), text["choices"][0]["text"].as_str()),
        (Some("text_completion"), Some("say this"))
    );

    let embedding = proxy.post("/v1/embeddings", MASTER_KEY, &json!({"model": "mock-echo", "input": ["a", "b"]})).await;
    assert_eq!(embedding.status(), 200);
    let embedding: Value = embedding.json().await.unwrap();
    assert_eq!(embedding["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn keys_are_checked_and_models_listed_per_key() {
    let proxy = ProxyBuilder::new(KEYS).start().await;
    let anonymous =
        proxy.client().post(format!("{}/v1/chat/completions", proxy.base)).json(&chat_body("mock-echo", "x"));
    let (status, body) = error_of(anonymous.send().await.unwrap()).await;
    assert_eq!((status, body["error"]["type"].as_str()), (401, Some("authentication_error")));
    let (status, body) =
        error_of(proxy.post("/v1/chat/completions", "sk-wrong", &chat_body("mock-echo", "x")).await).await;
    assert_eq!(status, 401);
    assert!(!body.to_string().contains("sk-wrong"), "the presented key is never echoed");

    let blue = proxy.post("/v1/chat/completions", "sk-blue-team-key", &chat_body("mock-echo", "hi")).await;
    assert_eq!(blue.status(), 200);
    let (status, body) =
        error_of(proxy.post("/v1/chat/completions", "sk-blue-team-key", &chat_body("mock-fixed", "hi")).await).await;
    assert_eq!(status, 403, "{body}");

    let models = |key: &'static str| {
        let request = proxy.client().get(format!("{}/v1/models", proxy.base)).bearer_auth(key);
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(models(MASTER_KEY).await, ["mock-echo", "mock-fixed"]);
    assert_eq!(models("sk-blue-team-key").await, ["mock-echo"]);
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_the_proxy_keeps_serving() {
    let proxy = ProxyBuilder::new("general_settings: {master_key: sk-test-master-0b6f, max_request_size_mb: 0.001}\n")
        .start()
        .await;
    let url = format!("{}/v1/chat/completions", proxy.base);
    let raw = |body: &str, content_type: &'static str| {
        let body = body.to_owned();
        proxy.client().post(&url).bearer_auth(MASTER_KEY).header("content-type", content_type).body(body).send()
    };
    let cases: Vec<(reqwest::Response, u16, &str)> = vec![
        (raw("{not json", "application/json").await.unwrap(), 400, "not valid JSON"),
        (raw("[1,2]", "application/json").await.unwrap(), 400, "JSON object"),
        (raw(r#"{"messages":[{"role":"user","content":"x"}]}"#, "application/json").await.unwrap(), 400, "'model'"),
        (raw(r#"{"model":"mock-echo"}"#, "application/json").await.unwrap(), 400, "'messages'"),
        (raw(r#"{"model":7,"messages":[]}"#, "application/json").await.unwrap(), 400, "must be a string"),
        (
            raw(
                r#"{"model":"mock-echo","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
                "application/json",
            )
            .await
            .unwrap(),
            400,
            "'stream'",
        ),
        (
            raw(r#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#, "application/json").await.unwrap(),
            400,
            "Invalid model name",
        ),
        (raw(r#"{"model":"mock-echo"}"#, "text/plain").await.unwrap(), 415, "application/json"),
        (raw(&"x".repeat(5000), "application/json").await.unwrap(), 413, "larger than the limit"),
        (proxy.client().get(&url).bearer_auth(MASTER_KEY).send().await.unwrap(), 405, "POST"),
        (proxy.client().post(format!("{}/v1/nothing", proxy.base)).send().await.unwrap(), 404, "Unknown route"),
    ];
    let mut ids = std::collections::HashSet::new();
    for (response, status, expected) in cases {
        // Every answer, 404 and 405 included, carries the proxy's own headers.
        let headers = response.headers().clone();
        let id = headers.get("x-hookgate-request-id").map(|v| v.to_str().unwrap().to_owned());
        assert!(id.as_ref().is_some_and(|id| ids.insert(id.clone())), "{status}: a fresh request id: {headers:?}");
        let overhead = headers.get("x-hookgate-overhead-duration-ms").map(|v| v.to_str().unwrap().parse::<f64>());
        assert!(matches!(overhead, Some(Ok(ms)) if ms >= 0.0), "{status}: {headers:?}");
        let (got, body) = error_of(response).await;
        assert_eq!(got, status, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(expected), "{expected}: {body}");
    }
    let still = proxy.chat(&chat_body("mock-echo", "still here")).await;
    assert_eq!(still.status(), 200);
}

#[tokio::test]
async fn enforce_user_param_requires_user() {
    let proxy = ProxyBuilder::new("general_settings: {master_key: sk-test-master-0b6f, enforce_user_param: true}\n")
        .start()
        .await;
    let (status, body) = error_of(proxy.chat(&chat_body("mock-echo", "x")).await).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("`user`"), "{body}");
    let mut with_user = chat_body("mock-echo", "x");
    with_user["user"] = json!("end-user-7");
    assert_eq!(proxy.chat(&with_user).await.status(), 200);
}

#[tokio::test]
async fn health_routes_answer_without_a_key() {
    let proxy = ProxyBuilder::new("").start().await;
    let live = proxy.client().get(format!("{}/health/liveliness", proxy.base)).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready: Value =
        proxy.client().get(format!("{}/health/readiness", proxy.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "healthy");
    assert_eq!(ready["kv"], "memory", "without redis_url the kv store is in memory: {ready}");
    assert!(ready.get("redis").is_none(), "{ready}");
}

#[tokio::test]
async fn upstream_errors_keep_their_status_in_openai_shape() {
    let yaml = "model_list:\n  - {model_name: down, litellm_params: {model: mock/down, mock_error_status: 503, mock_error_message: upstream overloaded}}\n";
    let proxy = ProxyBuilder::new(yaml).start().await;
    let (status, body) = error_of(proxy.chat(&chat_body("down", "x")).await).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["message"], "upstream overloaded");
}

#[tokio::test]
async fn a_proxy_in_front_of_a_proxy_passes_streams_and_errors_through() {
    let upstream = ProxyBuilder::new(
        "model_list:\n  - {model_name: words, litellm_params: {model: mock/words, mock_response: one two three four, mock_chunk_delay_ms: 5}}\n  - {model_name: down, litellm_params: {model: mock/down, mock_error_status: 429, mock_error_message: slow down}}\n",
    )
    .start()
    .await;
    let front = ProxyBuilder::new(&format!(
        "model_list:\n  - {{model_name: remote, litellm_params: {{model: openai/words, api_base: '{0}/v1', api_key: {MASTER_KEY}}}}}\n  - {{model_name: remote-down, litellm_params: {{model: openai/down, api_base: '{0}/v1', api_key: {MASTER_KEY}}}}}\n",
        upstream.base
    ))
    .start()
    .await;
    let body: Value = front.chat(&chat_body("remote", "x")).await.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "one two three four");

    let mut streaming = chat_body("remote", "x");
    streaming["stream"] = json!(true);
    let response = front.chat(&streaming).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = hookgate_tests::proxy::sse_events(response).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(hookgate_tests::proxy::streamed_text(&events), "one two three four");
    assert!(events.len() >= 6, "role + 4 words + finish + DONE, chunk by chunk: {events:?}");

    let (status, body) = error_of(front.chat(&chat_body("remote-down", "x")).await).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["message"], "slow down");
}

/// The README's "Try it" commands, run with curl as written (only the port differs)
/// against `examples/config.yaml`, which `make run` serves.
#[tokio::test]
async fn the_readme_curl_examples_work_against_the_example_config() {
    let root = hookgate_tests::workspace_root();
    let config = root.join("examples/config.yaml");
    let dir = tempfile::tempdir().unwrap();
    let proxy =
        hookgate_tests::proxy::Proxy::spawn(dir, &config, &[], &[("HOOKGATE_MASTER_KEY", "sk-hookgate-local-dev")])
            .await;
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let try_it = readme.split("## Try it").nth(1).expect("README has a Try it section");
    let block = try_it.split("```sh").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    let commands: Vec<String> = block
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("curl "))
        .map(|line| line.replace("http://127.0.0.1:4000", &proxy.base))
        .collect();
    let expectations: [&[&str]; 8] = [
        &[
            "HTTP/1.1 200",
            "x-served-by: hookgate",
            "x-ratelimit-limit-requests: 60",
            "x-ratelimit-remaining-requests: 59",
            "\"content\":\"Hello, proxy\"",
        ],
        &["data: [DONE]", "Once upon"],
        &["\"content\":\"Mail [EMAIL] or call [PHONE]\""],
        &["HTTP/1.1 400", "x-hookgate-rejected-by: banned-keywords", "This request mentions a topic we do not serve."],
        &["\"the mock upstream is down\""],
        &["\"gpt-4o-mini\"", "\"mock-story\""],
        &["\"healthy\"", "\"kv\":\"memory\""],
        &[
            r#"hookgate_requests_total{route="chat/completions",model="gpt-4o-mini",status="200"} 2"#,
            r#"hookgate_requests_total{route="chat/completions",model="mock-story",status="200"} 1"#,
            r#"hookgate_requests_total{route="chat/completions",model="gpt-4o-mini",status="400"} 1"#,
            r#"hookgate_requests_total{route="chat/completions",model="mock-down",status="503"} 1"#,
        ],
    ];
    assert_eq!(commands.len(), expectations.len(), "README commands: {commands:#?}");
    for (command, expected) in commands.iter().zip(expectations) {
        let output = tokio::process::Command::new("sh").arg("-c").arg(command).output().await.expect("sh runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{command}: {}", String::from_utf8_lossy(&output.stderr));
        for needle in expected {
            assert!(stdout.contains(needle), "{command}\nexpected {needle:?} in:\n{stdout}");
        }
    }
}

/// On SIGTERM the proxy stops accepting, lets the requests in flight on its serving
/// threads finish, and exits.
#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_the_proxy_exits() {
    let yaml = "model_list:\n  - {model_name: mock-slow, litellm_params: {model: mock/echo, mock_latency_ms: 1000}}\n";
    let mut proxy = ProxyBuilder::new(yaml).start().await;
    let body = chat_body("mock-slow", "still answered");
    let in_flight = proxy.chat(&body);
    let terminate = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        signal(proxy.pid(), libc::SIGTERM);
    };
    let (response, ()) = tokio::join!(in_flight, terminate);
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "still answered", "{answer}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while proxy.is_running() {
        assert!(Instant::now() < deadline, "the proxy still runs 15 s after SIGTERM with nothing in flight");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// On SIGTERM the proxy also lets the logging hooks of the requests it answered run to
/// their end before it exits: a request answered just before a shutdown is still logged.
/// (Before, stopping the serving threads dropped the logging jobs still running.)
#[tokio::test]
async fn sigterm_lets_the_logging_hooks_of_answered_requests_finish_then_the_proxy_exits() {
    let mut proxy = ProxyBuilder::new("")
        .plugin("slow-hooks", "slow-hooks")
        .settings("slow-hooks", "{timeout_ms: 5000, config: {log_success_ms: 1500}}")
        .start()
        .await;
    let response = proxy.chat(&chat_body("mock-echo", "log me")).await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    // The log-success hook is asleep now, and stays so for 1.5 s.
    signal(proxy.pid(), libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(15);
    while proxy.is_running() {
        assert!(Instant::now() < deadline, "the proxy still runs 15 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.wait_for_log(&format!("slow-hooks log-success {id}"), Duration::from_secs(2)).await;
    assert!(!proxy.log().contains("go unlogged"), "{}", proxy.log());
}

/// The wait for logging hooks at shutdown is bounded: a log-success hook asleep for 30 s
/// (its deadline a minute) holds the exit 10 s, and the proxy says the request went
/// unlogged.
#[tokio::test]
async fn sigterm_waits_for_logging_hooks_for_10_seconds_at_most() {
    let mut proxy =
        ProxyBuilder::new("").plugin("sleeper", "sleeper").settings("sleeper", "{timeout_ms: 60000}").start().await;
    let response = proxy.chat(&chat_body("mock-echo", "LOGSLOW")).await;
    assert_eq!(response.status(), 200);
    signal(proxy.pid(), libc::SIGTERM);
    let signalled = Instant::now();
    while proxy.is_running() {
        assert!(signalled.elapsed() < Duration::from_secs(20), "the proxy still runs 20 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(signalled.elapsed() >= Duration::from_secs(9), "exited {:?} after SIGTERM", signalled.elapsed());
    proxy.wait_for_log("their requests go unlogged", Duration::from_secs(2)).await;
}
