//! The Rust, Python and JavaScript SDKs agree (docs/sdk-parity.md): the same `parity`
//! plugin written in each (tests/plugins-parity.md) reports the same thing for the same
//! request, through the real proxy. And under `instances: reuse` no hook of any kind, in
//! any language, sees another request's context.

use std::collections::BTreeMap;
use std::time::Duration;

use hookgate_tests::fixtures::json_lines;
use hookgate_tests::proxy::{key_id, sse_events, streamed_text, Proxy, ProxyBuilder, MASTER_KEY};
use serde_json::{json, Value};

/// (language, plugin name, component crate).
const LANGUAGES: [(&str, &str, &str); 3] =
    [("rust", "parity", "parity"), ("python", "parity-py", "parity-py"), ("javascript", "parity-js", "parity-js")];

/// The raw key that routes a request to `language`'s plugin only.
fn key(language: &str) -> String {
    format!("sk-parity-{language}-key")
}

/// A proxy with the three plugins, and a key per language that disables the other two.
fn builder(instances: &str) -> ProxyBuilder {
    // Two serving threads on any machine: the test's requests share one connection, so
    // under reuse each logging job moves to the other, idle thread (the path where a
    // job's hooks could meet another request's instance) even where CI has one core.
    let mut yaml = format!("general_settings: {{master_key: {MASTER_KEY}, serving_threads: 2}}\n");
    yaml.push_str(
        "model_list:
  - {model_name: mock-echo, litellm_params: {model: mock/echo}}
  - {model_name: words, litellm_params: {model: mock/words, mock_response: one two three four}}
  - {model_name: mock-down, litellm_params: {model: mock/down, mock_error_status: 503, mock_error_message: upstream down}}
keys:
",
    );
    for (language, _, _) in LANGUAGES {
        let others: Vec<&str> = LANGUAGES.iter().filter(|(l, _, _)| *l != language).map(|(_, name, _)| *name).collect();
        yaml.push_str(&format!(
            "  - {{key: {}, alias: parity-{language}, user_id: u-7, team_id: t-3, metadata: {{tier: gold, seats: 12, tags: [a, b]}}, disabled_callbacks: [{}]}}\n",
            key(language),
            others.join(", ")
        ));
    }
    let mut builder = ProxyBuilder::new(&yaml).arg("--log-format").arg("json");
    for (_, name, component) in LANGUAGES {
        builder = builder.plugin(name, component).settings(
            name,
            &format!("{{timeout_ms: 2000, {instances} config: {{answer: 42, nested: {{list: [1, two, null]}}}}}}"),
        );
    }
    builder
}

/// `report` with the key's alias and id checked for `language` and then removed (they
/// are the only fields that differ by design).
fn normalized(language: &str, mut report: Value) -> Value {
    if let Some(fields) = report.get_mut("key").and_then(Value::as_object_mut) {
        assert_eq!(fields.remove("alias"), Some(json!(format!("parity-{language}"))), "{language}");
        assert_eq!(fields.remove("id"), Some(json!(key_id(&key(language)))), "{language}: the key id, never the key");
    }
    report
}

/// The JSON a parity hook rejected with (status 400, code `parity`).
async fn rejection(language: &str, response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 400, "{language}");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "parity", "{language}: {error}");
    let report = serde_json::from_str(error["error"]["message"].as_str().unwrap()).unwrap();
    normalized(language, report)
}

async fn post(proxy: &Proxy, language: &str, path: &str, body: &Value) -> reqwest::Response {
    proxy
        .client()
        .post(format!("{}{path}", proxy.base))
        .bearer_auth(key(language))
        .header("x-parity", "from-the-client")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The same `value` from every language (shown side by side when they differ).
fn agree(what: &str, values: BTreeMap<&str, Value>) -> Value {
    let rust = values["rust"].clone();
    for (language, value) in &values {
        assert_eq!(value, &rust, "{what}: {language} differs from rust\n{language}: {value}\nrust: {rust}");
    }
    rust
}

/// The `parity-log` line logged for request `id`.
async fn logged(proxy: &Proxy, id: &str) -> Value {
    proxy
        .until(&format!("the parity-log line of {id}"), Duration::from_secs(15), || async {
            json_lines(proxy).into_iter().find_map(|line| {
                let text = line["message"].as_str()?.strip_prefix("parity-log ")?;
                (line["request_id"] == id).then(|| serde_json::from_str::<Value>(text).unwrap())
            })
        })
        .await
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_three_sdks_report_the_same_request_the_same_way() {
    let proxy = builder("").start().await;
    let chat = json!({
        "model": "mock-echo",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "name": "rules", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "PARITY-REPORT please"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    });
    let mut reports = BTreeMap::new();
    for (language, _, _) in LANGUAGES {
        reports
            .insert(language, rejection(language, post(&proxy, language, "/v1/chat/completions", &chat).await).await);
    }
    let report = agree("a chat request's pre-call report", reports);
    assert_eq!(report["call_type"], "chat_completion");
    assert_eq!(report["config"], json!({"answer": 42, "nested": {"list": [1, "two", null]}}));
    assert_eq!(report["key"]["metadata"], json!({"tier": "gold", "seats": 12, "tags": ["a", "b"]}));
    assert_eq!(report["temperature"], "0.2");
    assert_eq!(report["x_parity"], "from-the-client");
    assert_eq!(report["fields"], json!(["model", "temperature", "messages", "tools"]));
    assert_eq!(report["texts"][0]["text"], "rules", "a message name is a text");
    assert_eq!(
        report["texts"][2],
        json!({"text": "PARITY-REPORT please", "path": "/messages/1/content/0/text", "is_key": false, "item": 1, "role": "user"})
    );
    assert!(report["texts"].as_array().unwrap().iter().any(|t| t["is_key"] == true && t["text"] == "city"), "{report}");

    // Text completions and embeddings: the call type, and where their texts are.
    for (path, body, call_type) in [
        (
            "/v1/completions",
            json!({"model": "mock-echo", "prompt": ["PARITY-REPORT a", "b"], "suffix": "end"}),
            "text_completion",
        ),
        ("/v1/embeddings", json!({"model": "mock-echo", "input": ["PARITY-REPORT x"]}), "embedding"),
    ] {
        let mut reports = BTreeMap::new();
        for (language, _, _) in LANGUAGES {
            reports.insert(language, rejection(language, post(&proxy, language, path, &body).await).await);
        }
        let report = agree(call_type, reports);
        assert_eq!(report["call_type"], call_type);
        assert_eq!(report["config"]["answer"], 42);
    }

    // Edits (a text, a field), and what post-call-success is told, in a header.
    let mut answers = BTreeMap::new();
    for (language, _, _) in LANGUAGES {
        let body = json!({"model": "mock-echo", "messages": [{"role": "user", "content": "PARITY-EDIT me"}]});
        let response = post(&proxy, language, "/v1/chat/completions", &body).await;
        assert_eq!(response.status(), 200, "{language}");
        let header: Value = serde_json::from_str(response.headers()["x-parity"].to_str().unwrap()).unwrap();
        let answer: Value = response.json().await.unwrap();
        answers.insert(
            language,
            json!({"content": answer["choices"][0]["message"]["content"], "post_call": normalized(language, header)}),
        );
    }
    let answer = agree("an edited request", answers);
    assert_eq!(answer["content"], "PARITY-EDIT me [edited]");
    assert_eq!(answer["post_call"]["trail"], json!(["pre-call", "moderation", "post-call-success"]));
    assert_eq!(answer["post_call"]["response_texts"], json!(["PARITY-EDIT me [edited]"]));

    // Respond, streams, failures.
    let mut outcomes = BTreeMap::new();
    for (language, _, _) in LANGUAGES {
        let respond = json!({"model": "mock-echo", "messages": [{"role": "user", "content": "PARITY-RESPOND"}]});
        let answered: Value = post(&proxy, language, "/v1/chat/completions", &respond).await.json().await.unwrap();
        let stream =
            json!({"model": "words", "stream": true, "messages": [{"role": "user", "content": "PARITY-STREAM"}]});
        let events = sse_events(post(&proxy, language, "/v1/chat/completions", &stream).await).await;
        let error: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
        let stream_end =
            normalized(language, serde_json::from_str(error["error"]["message"].as_str().unwrap()).unwrap());
        let recover = json!({"model": "mock-down", "messages": [{"role": "user", "content": "PARITY-RECOVER"}]});
        let failure = rejection(language, post(&proxy, language, "/v1/chat/completions", &recover).await).await;
        outcomes.insert(
            language,
            json!({"respond": answered["choices"][0]["message"]["content"], "streamed": streamed_text(&events), "stream_end": stream_end, "failure": failure}),
        );
    }
    let outcome = agree("respond, a stream's end, a failure", outcomes);
    assert_eq!(outcome["respond"], "parity answers");
    assert_eq!(outcome["stream_end"]["text"], outcome["streamed"]);
    assert!(outcome["stream_end"]["chunks"].as_array().unwrap().len() >= 4, "{outcome}");
    assert_eq!(outcome["failure"]["failure"]["status"], 503);
    assert_eq!(outcome["failure"]["failure"]["message"], "upstream down");

    // kv TTLs are milliseconds in every SDK: 100 ms is gone after 400 ms, a minute is not.
    for (language, _, _) in LANGUAGES {
        let set = json!({"model": "mock-echo", "messages": [{"role": "user", "content": "PARITY-KV-SET"}]});
        assert_eq!(post(&proxy, language, "/v1/chat/completions", &set).await.status(), 200, "{language}");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut kv = BTreeMap::new();
    for (language, _, _) in LANGUAGES {
        let get = json!({"model": "mock-echo", "messages": [{"role": "user", "content": "PARITY-KV-GET"}]});
        kv.insert(language, rejection(language, post(&proxy, language, "/v1/chat/completions", &get).await).await);
    }
    assert_eq!(agree("kv after 400 ms", kv), json!({"kv": null, "kept": "set"}));

    // What the logging hooks are told.
    let mut lines = BTreeMap::new();
    for (language, _, _) in LANGUAGES {
        let body = json!({"model": "mock-echo", "messages": [{"role": "user", "content": "log me"}]});
        let response = post(&proxy, language, "/v1/chat/completions", &body).await;
        lines.insert(language, normalized(language, logged(&proxy, &request_id(&response)).await));
    }
    let line = agree("a log-success line", lines);
    assert_eq!(line["trail"], json!(["log-success"]), "a fresh instance for logging: {line}");
    assert_eq!((&line["status_code"], &line["usage_total"]), (&json!(200), &json!(4)), "{line}");
    assert_eq!(line["response_texts"], json!(["log me"]));
}

/// A guest's failure, and (Python, JavaScript) an outcome that does not fit its hook, are
/// faults of kind `failed`, never answers; Rust cannot express the second.
#[tokio::test]
async fn failures_and_misfit_outcomes_are_faults_in_every_sdk() {
    let proxy = builder("").start().await;
    for (language, name, _) in LANGUAGES {
        let cases: &[(&str, &str)] = match language {
            "rust" => &[("PARITY-FAIL", "pre-call")],
            _ => &[("PARITY-FAIL", "pre-call"), ("PARITY-WRONG-OUTCOME", "moderation")],
        };
        for (marker, hook) in cases {
            let body = json!({"model": "mock-echo", "messages": [{"role": "user", "content": marker}]});
            let response = post(&proxy, language, "/v1/chat/completions", &body).await;
            assert_eq!(response.status(), 400, "{language} {marker}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "plugin_check_failed", "{language} {marker}: {error}");
            let series =
                format!(r#"hookgate_plugin_faults_total{{plugin="{name}",hook="{hook}",kind="failed",cause="input"}}"#);
            assert_eq!(proxy.metric(&series).await, 1.0, "{language} {marker}");
        }
    }
    let log = proxy.log();
    assert!(log.contains("parity fails on purpose"), "the reason reaches the operator's log");
    assert!(log.contains("moderation"), "{log}");
}

/// `instances: reuse`: instances serve one request after another, and every hook of
/// every kind sees only its own request's context: the trail a hook reports holds only
/// the hooks of its request.
#[tokio::test]
async fn under_reuse_no_hook_sees_another_request_s_context() {
    let proxy = builder("instances: reuse, max_reuse: 100,").start().await;
    for (language, _, _) in LANGUAGES {
        let mut reused = false;
        for round in 0..4 {
            // A plain request: post-call-success reports its trail in a header.
            let plain =
                json!({"model": "mock-echo", "messages": [{"role": "user", "content": format!("hello {round}")}]});
            let response = post(&proxy, language, "/v1/chat/completions", &plain).await;
            assert_eq!(response.status(), 200, "{language}");
            let id = request_id(&response);
            let header: Value = serde_json::from_str(response.headers()["x-parity"].to_str().unwrap()).unwrap();
            assert_eq!(header["trail"], json!(["pre-call", "moderation", "post-call-success"]), "{language}: {header}");
            assert_eq!(header["same_request"], true);
            reused |= header["instance_requests"].as_u64().unwrap() > 1;
            let line = logged(&proxy, &id).await;
            let trail: Vec<&str> = line["trail"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
            // On the request's own warm instance, logging sees its request's context; on
            // another, a fresh one. Never another request's.
            assert!(
                trail == ["log-success"] || trail == ["pre-call", "moderation", "post-call-success", "log-success"],
                "{language}: {line}"
            );

            // A stream: every chunk and the end on this request's context alone.
            let stream =
                json!({"model": "words", "stream": true, "messages": [{"role": "user", "content": "PARITY-STREAM"}]});
            let events = sse_events(post(&proxy, language, "/v1/chat/completions", &stream).await).await;
            let error: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
            let end: Value = serde_json::from_str(error["error"]["message"].as_str().unwrap()).unwrap();
            let trail: Vec<&str> = end["trail"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
            assert_eq!(&trail[..2], ["pre-call", "moderation"], "{language}: {end}");
            assert!(trail[2..trail.len() - 1].iter().all(|hook| *hook == "stream-chunk"), "{language}: {end}");
            assert_eq!(trail.last(), Some(&"stream-end"), "{language}: {end}");
            assert_eq!(end["chunks"].as_array().unwrap().len(), trail.len() - 3, "{language}: {end}");

            // A failure: post-call-failure on the request's instance, or a fresh one.
            let recover = json!({"model": "mock-down", "messages": [{"role": "user", "content": "PARITY-RECOVER"}]});
            let failure = rejection(language, post(&proxy, language, "/v1/chat/completions", &recover).await).await;
            let trail = &failure["trail"];
            assert!(
                *trail == json!(["pre-call", "moderation", "post-call-failure"])
                    || *trail == json!(["post-call-failure"]),
                "{language}: {failure}"
            );
        }
        assert!(reused, "{language}: no request ever got a warm instance, so reuse was not tested");
    }
}
