//! LiteLLM callback files run unchanged as hookgate plugins, side by side with LiteLLM
//! itself.
//!
//! `make guests` builds each handler of LiteLLM's documented examples
//! (`guest-sdk/python/tests/plugins-litellm/`) and of the bench's `custom_callbacks.py`
//! into `<module>.<handler>.wasm`, as `hookgate plugin build FILE --handler NAME` does.
//! Each test here writes one LiteLLM config (model list, master key,
//! `litellm_settings.callbacks`), serves it with LiteLLM (the bench's pinned virtualenv,
//! `make litellm`, with the callback files beside the config) and with hookgate (the
//! built plugins in its plugin folder), both in front of one echo upstream, sends both
//! the same requests and compares what the clients get (status, answer text, finish
//! reason, error message, the headers callbacks add) and what the callbacks logged.
//! Where LiteLLM 1.106.2 differs from its own docs, these tests hold hookgate to what
//! LiteLLM does (docs/litellm-migration.md lists the cases).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hookgate_tests::proxy::{sse_events, Proxy, ProxyBuilder, MASTER_KEY};
use hookgate_tests::{guest_dir, upstream, workspace_root};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// Where the LiteLLM callback fixtures are.
fn fixtures() -> PathBuf {
    workspace_root().join("guest-sdk/python/tests/plugins-litellm")
}

/// The LiteLLM callback file `module` (a fixture, or the bench's `custom_callbacks`).
fn callback_file(module: &str) -> PathBuf {
    if module == "custom_callbacks" {
        workspace_root().join("bench/litellm/custom_callbacks.py")
    } else {
        fixtures().join(format!("{module}.py"))
    }
}

/// The built component of LiteLLM handler `callback` (`module.handler`), or of a bundle
/// of handlers (`bench-callbacks`).
fn built(callback: &str) -> PathBuf {
    guest_dir().join("litellm").join(format!("{callback}.wasm"))
}

/// One config for both proxies: two models on the echo upstream (`gpt-test` priced,
/// `my-new-model` as LiteLLM's quick start routes to) and the callbacks.
fn config(api_base: &str, callbacks: &[&str]) -> String {
    format!(
        "model_list:
  - model_name: gpt-test
    litellm_params: {{model: openai/gpt-test, api_base: '{api_base}', api_key: sk-upstream-side-by-side}}
    model_info: {{input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}}
  - model_name: my-new-model
    litellm_params: {{model: openai/my-new-model, api_base: '{api_base}', api_key: sk-upstream-side-by-side}}
general_settings: {{master_key: {MASTER_KEY}}}
litellm_settings:
  callbacks: {callbacks:?}
"
    )
}

/// LiteLLM's proxy, from the pinned virtualenv, serving `config` with the callback
/// files beside it; stopped (with its workers) when dropped.
struct LiteLlm {
    base: String,
    stdout: PathBuf,
    _dir: tempfile::TempDir,
    child: Child,
}

impl LiteLlm {
    async fn start(config: &str, callbacks: &[&str]) -> LiteLlm {
        let venv = std::env::var_os("HOOKGATE_LITELLM_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target/litellm-venv"));
        let program = venv.join("bin/litellm");
        assert!(program.exists(), "no LiteLLM at {}: run `make litellm` (make test does)", program.display());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        for callback in callbacks {
            let module = callback.split_once('.').unwrap().0;
            std::fs::copy(callback_file(module), dir.path().join(format!("{module}.py"))).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let stdout = dir.path().join("stdout.log");
        let mut command = Command::new(program);
        command
            .current_dir(dir.path())
            .args(["--config", "config.yaml", "--host", "127.0.0.1", "--num_workers", "1", "--port"])
            .arg(port.to_string())
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .process_group(0)
            .kill_on_drop(true);
        let child = command.spawn().expect("start LiteLLM");
        let litellm = LiteLlm { base: format!("http://127.0.0.1:{port}"), stdout, _dir: dir, child };
        let began = Instant::now();
        let client = reqwest::Client::new();
        while began.elapsed() < Duration::from_secs(120) {
            if let Ok(response) = client.get(format!("{}/health/liveliness", litellm.base)).send().await {
                if response.status().is_success() {
                    return litellm;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let log = std::fs::read_to_string(litellm._dir.path().join("stderr.log")).unwrap_or_default();
        panic!("LiteLLM did not become live within 120 s; its stderr:\n{log}");
    }

    /// What the callbacks printed, line by line.
    fn printed(&self) -> Vec<String> {
        std::fs::read_to_string(&self.stdout).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}

impl Drop for LiteLlm {
    fn drop(&mut self) {
        // LiteLLM's workers are in the child's process group: stop them all.
        if let Some(pid) = self.child.id() {
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
    }
}

/// hookgate serving `config` with the built handlers of `callbacks`, in their default
/// settings.
async fn hookgate(config: &str, callbacks: &[&str]) -> Proxy {
    let mut builder = ProxyBuilder::new(config).arg("--log-format").arg("json");
    for callback in callbacks {
        builder = builder.plugin_file(callback, &built(callback));
    }
    builder.start().await
}

/// What a client sees of one answer, without ids and timestamps: the status; for an
/// answer its text and finish reason (streamed or not); for an error its message; and,
/// for a non-streamed answer, the values of `headers` (LiteLLM's headers hook also adds
/// to errors and streams, which hookgate's plugins cannot: docs/litellm-migration.md).
async fn seen(response: reqwest::Response, headers: &[&str]) -> Value {
    let status = response.status().as_u16();
    let mut view = json!({"status": status});
    let streamed = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
    if status == 200 && !streamed {
        for name in headers {
            view[*name] = json!(response.headers().get(*name).map(|v| v.to_str().unwrap().to_owned()));
        }
    }
    if streamed {
        let events = sse_events(response).await;
        let chunks: Vec<Value> = events.iter().filter_map(|event| serde_json::from_str(event).ok()).collect();
        let text: String = chunks
            .iter()
            .filter_map(|chunk| chunk.pointer("/choices/0/delta/content").and_then(Value::as_str))
            .collect();
        let finish = chunks.iter().filter_map(|chunk| chunk.pointer("/choices/0/finish_reason")).find(|v| !v.is_null());
        view["streamed"] = json!(text);
        view["finish_reason"] = finish.cloned().unwrap_or(Value::Null);
        view["done"] = json!(events.last().map(String::as_str) == Some("[DONE]"));
        return view;
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status == 200 {
        view["content"] = body["choices"][0]["message"]["content"].clone();
        view["finish_reason"] = body["choices"][0]["finish_reason"].clone();
    } else {
        view["message"] = body["error"]["message"].clone();
    }
    view
}

/// Sends each request to both proxies (LiteLLM first) and returns what each client saw.
async fn both(litellm: &LiteLlm, hookgate: &Proxy, requests: &[Value], headers: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let client = reqwest::Client::new();
    let (mut theirs, mut ours) = (Vec::new(), Vec::new());
    for body in requests {
        for (base, seen_list) in [(&litellm.base, &mut theirs), (&hookgate.base, &mut ours)] {
            let response = client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(MASTER_KEY)
                .json(body)
                .send()
                .await
                .expect("request sent");
            seen_list.push(seen(response, headers).await);
        }
    }
    (theirs, ours)
}

/// The lines the guests printed (stdout), from hookgate's JSON log.
fn hookgate_printed(proxy: &Proxy) -> Vec<String> {
    hookgate_tests::fixtures::json_lines(proxy)
        .into_iter()
        .filter(|line| line["target"] == "hookgate::guest" && line["source"] == "stdout")
        .filter_map(|line| line["message"].as_str().map(str::to_owned))
        .collect()
}

/// The records both sides printed, kept by `keep` (which may also trim them), sorted:
/// logging runs after the answer, so the order across requests is not the test's.
/// Waits (up to 20 s) until each side has `expected` of them.
async fn records(
    litellm: &LiteLlm,
    proxy: &Proxy,
    expected: usize,
    keep: &impl Fn(&str) -> Option<String>,
) -> (Vec<String>, Vec<String>) {
    let began = Instant::now();
    let mut counts = (0, 0);
    loop {
        let mut theirs: Vec<String> = litellm.printed().iter().filter_map(|line| keep(line)).collect();
        let mut ours: Vec<String> = hookgate_printed(proxy).iter().filter_map(|line| keep(line)).collect();
        // LiteLLM logs some events from a thread pool: wait until nothing more arrives.
        let settled = theirs.len() >= expected && ours.len() >= expected && counts == (theirs.len(), ours.len());
        if settled || began.elapsed() > Duration::from_secs(20) {
            theirs.sort();
            ours.sort();
            return (theirs, ours);
        }
        counts = (theirs.len(), ours.len());
        tokio::time::sleep(Duration::from_millis(750)).await;
    }
}

fn chat(text: &str) -> Value {
    json!({"model": "gpt-test", "messages": [{"role": "user", "content": text}]})
}

fn streamed(text: &str) -> Value {
    json!({"model": "gpt-test", "stream": true, "messages": [{"role": "user", "content": text}]})
}

/// Pairs up what each side's client saw, for a failure message that shows both.
fn side_by_side(requests: &[Value], theirs: &[Value], ours: &[Value]) -> String {
    requests
        .iter()
        .zip(theirs.iter().zip(ours))
        .map(|(request, (theirs, ours))| format!("{request}\n  LiteLLM: {theirs}\n  hookgate: {ours}\n"))
        .collect()
}

/// LiteLLM's documented examples, unchanged (the call-hooks quick start that routes to
/// another model, "return a string", an `HTTPException` guard, the "Callback Class"
/// logging handler), with a moderation hook, a pre-call hook that answers with
/// `RejectedRequestError` and a handler that edits requests and answers and logs
/// records from `standard_logging_object`.
#[tokio::test]
async fn litellm_s_documented_callbacks_behave_as_in_litellm() {
    let _machine = hookgate_tests::machine_to_myself().await;
    let callbacks = [
        "call_hooks_quickstart.proxy_handler_instance",
        "reject_with_message.proxy_handler_instance",
        "reject_http_exception.proxy_handler_instance",
        "custom_callback_class.customHandler",
        "side_by_side.moderation",
        "side_by_side.answering",
        "side_by_side.tagger",
    ];
    let api_base = upstream::serve(upstream::echo_chat).await;
    let config = config(&api_base, &callbacks);
    let (litellm, proxy) = tokio::join!(LiteLlm::start(&config, &callbacks), hookgate(&config, &callbacks));
    let requests = [
        chat("hi there"),
        chat("shout please, and tag me"),
        chat("Hello world"),            // a str returned from the pre-call hook
        chat("my password is hunter2"), // HTTPException(400, {"error": ...})
        chat("answer-return"),          // RejectedRequestError returned: the answer
        chat("answer-raise"),           // ... or raised
        chat("a tuple"),                // neither dict, str nor exception: ignored
        streamed("hi there, streamed"),
        streamed("Hello world"),
    ];
    let (theirs, ours) = both(&litellm, &proxy, &requests, &[]).await;
    assert_eq!(theirs, ours, "what the clients saw differs:\n{}", side_by_side(&requests, &theirs, &ours));
    // The run shows each behaviour, not a pair of proxies failing alike.
    let statuses: Vec<u64> = ours.iter().map(|seen| seen["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 200, 400, 400, 200, 200, 200, 200, 400], "{ours:#?}");
    assert_eq!(ours[0]["content"], "echo: hi there");
    assert_eq!(ours[1]["content"], "echo: SHOUT PLEASE, AND TAG ME [tagged]");

    // The prints of the docs' logging handler and the tagger's records: the same calls,
    // with the same arguments (`standard_logging_object` fields, real datetimes), on both.
    // For each of the four answered requests (one streamed, "a tuple" among them):
    // Pre-API Call, Post-API Call, On Async Success and a success record; for each of
    // the three refused in pre-call: Pre-API Call (LiteLLM logs the call it never made),
    // On Async Failure, a failure record and On Failure. The two answered by the pre-call
    // hook log nothing.
    let keep = |line: &str| {
        let known =
            ["Pre-API Call", "Post-API Call", "On Async Success", "On Async Failure", "On Success", "On Failure"];
        (known.contains(&line) || line.starts_with("SIDE-BY-SIDE ")).then(|| line.to_owned())
    };
    let (theirs_before, ours_before) = records(&litellm, &proxy, 4 * 4 + 3 * 4, &keep).await;
    // Except On Failure on LiteLLM's side: LiteLLM runs that sync log on a thread of its
    // own per refusal, racing the request's other logging, and under load (CI, 2026-12-02)
    // printed it for two refusals of three. hookgate's count is exact.
    let on_failure = |lines: &[String]| lines.iter().filter(|line| *line == "On Failure").count();
    let others = |lines: &[String]| lines.iter().filter(|line| *line != "On Failure").cloned().collect::<Vec<_>>();
    assert_eq!(others(&theirs_before), others(&ours_before), "the callbacks logged differently");
    assert_eq!(on_failure(&ours_before), 3, "{ours_before:#?}");
    assert!((1..=3).contains(&on_failure(&theirs_before)), "{theirs_before:#?}");
    assert_eq!(ours_before.len(), 4 * 4 + 3 * 4, "{ours_before:#?}");

    // Refused by the moderation hook, beside the model call: the same answer, and On Async
    // Failure and a failure record on both. Pre-API Call and On Failure race the refusal
    // on both sides and are not compared: LiteLLM logs the call once or twice and
    // sometimes calls the sync twin from the cancelled call's thread; hookgate's refusal
    // cancels the other plugins' moderation hooks, log_pre_api_call among them.
    let refused = [chat("I hate mondays")];
    let (theirs, ours) = both(&litellm, &proxy, &refused, &[]).await;
    assert_eq!(theirs, ours, "what the clients saw differs:\n{}", side_by_side(&refused, &theirs, &ours));
    assert_eq!(ours[0]["status"], 403, "{ours:?}");
    let racing = |line: &String| line != "On Failure" && line != "Pre-API Call";
    let (theirs, ours) = records(&litellm, &proxy, ours_before.len() + 2, &keep).await;
    let theirs: Vec<String> = added(&theirs_before, theirs).into_iter().filter(racing).collect();
    let ours: Vec<String> = added(&ours_before, ours).into_iter().filter(racing).collect();
    assert_eq!(theirs, ours, "the callbacks logged the moderation refusal differently");
    assert_eq!(ours.len(), 2, "{ours:#?}");
}

/// The lines of `after` (sorted) that `before` (sorted) does not account for.
fn added(before: &[String], mut after: Vec<String>) -> Vec<String> {
    for line in before {
        if let Some(at) = after.iter().position(|l| l == line) {
            after.remove(at);
        }
    }
    after
}

/// The bench's `custom_callbacks.py` (LiteLLM ports of hookgate's example plugins):
/// PII masked in requests, answers and streams, banned words refused wherever they
/// appear, headers added, one cost record per request.
#[tokio::test]
async fn the_bench_s_callbacks_behave_as_in_litellm() {
    let callbacks = [
        "custom_callbacks.pii_redactor",
        "custom_callbacks.banned_keywords",
        "custom_callbacks.header_injector",
        "custom_callbacks.cost_logger",
    ];
    bench_callbacks_side_by_side(&callbacks, &callbacks).await;
}

/// The same five callbacks (the rate limiter too) built into one component
/// (`build.py --bundle bench-callbacks`, one interpreter a request): hookgate's config
/// names the bundle where LiteLLM's names the five, and the clients and the cost records
/// see what they see in LiteLLM.
#[tokio::test]
async fn the_bench_s_callbacks_in_one_component_behave_as_in_litellm() {
    let callbacks = [
        "custom_callbacks.rate_limiter",
        "custom_callbacks.pii_redactor",
        "custom_callbacks.banned_keywords",
        "custom_callbacks.header_injector",
        "custom_callbacks.cost_logger",
    ];
    bench_callbacks_side_by_side(&callbacks, &["bench-callbacks"]).await;
}

/// The bench's callbacks, `callbacks` in LiteLLM and `plugins` (the built plugins that
/// run them) in hookgate, each sent the same requests: what the clients see and the cost
/// records must agree.
async fn bench_callbacks_side_by_side(callbacks: &[&str], plugins: &[&str]) {
    let _machine = hookgate_tests::machine_to_myself().await;
    let api_base = upstream::serve(upstream::echo_chat).await;
    let (their_config, our_config) = (config(&api_base, callbacks), config(&api_base, plugins));
    let (litellm, proxy) = tokio::join!(LiteLlm::start(&their_config, callbacks), hookgate(&our_config, plugins));
    let requests = [
        chat("hello"),
        chat("mail jane.doe@example.com or call +1 555 123 4567"),
        chat("what is the secret plan?"),
        chat("FORBIDDEN words"),
        streamed("stream to jane.doe@example.com please"),
        streamed("the secret plan, streamed"),
        // One text to the model, split across two parts: refused as a whole.
        json!({"model": "gpt-test", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "tell me the secret"}, {"type": "text", "text": " plan"}]}]}),
    ];
    let headers = ["x-served-by", "x-policy"];
    let (theirs, ours) = both(&litellm, &proxy, &requests, &headers).await;
    assert_eq!(theirs, ours, "what the clients saw differs:\n{}", side_by_side(&requests, &theirs, &ours));
    assert_eq!(ours[1]["content"], "echo: mail [EMAIL] or call [PHONE]");
    assert_eq!(ours[2]["status"], 400);
    assert_eq!(ours[4]["streamed"], "echo: stream to [EMAIL] please");
    assert_eq!(ours[6]["status"], 400, "{ours:#?}");
    assert_eq!(ours[0]["x-served-by"], "litellm", "the header hook's headers arrive: {ours:#?}");

    // The cost records, without what differs by nature (ids, latency).
    let keep = |line: &str| {
        let mut record: Value = serde_json::from_str(line).ok()?;
        (record["event"] == "cost").then_some(())?;
        let record = record.as_object_mut()?;
        record.remove("request_id");
        record.remove("latency_ms");
        Some(Value::Object(record.clone()).to_string())
    };
    let (theirs, ours) = records(&litellm, &proxy, 3, &keep).await;
    assert_eq!(theirs, ours, "the cost records differ");
    assert_eq!(ours.len(), 3, "one per answered request: {ours:#?}");
}

/// A per-key quota kept in `cache` (`DualCache`): LiteLLM's is its in-process cache,
/// hookgate's the kv store, which outlives the fresh instance each request gets. The
/// third request of a key is refused with the handler's 429 on both.
#[tokio::test]
async fn a_quota_in_dual_cache_holds_across_requests_as_in_litellm() {
    let _machine = hookgate_tests::machine_to_myself().await;
    let callbacks = ["handlers.key_quota"];
    let api_base = upstream::serve(upstream::echo_chat).await;
    let config = config(&api_base, &callbacks);
    let (litellm, proxy) = tokio::join!(LiteLlm::start(&config, &callbacks), hookgate(&config, &callbacks));
    let requests = [chat("one"), chat("two"), chat("three"), chat("four")];
    let (theirs, ours) = both(&litellm, &proxy, &requests, &[]).await;
    assert_eq!(theirs, ours, "what the clients saw differs:\n{}", side_by_side(&requests, &theirs, &ours));
    let statuses: Vec<u64> = ours.iter().map(|seen| seen["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 200, 429, 429], "{ours:#?}");
    assert_eq!(ours[2]["message"], "quota of 2 requests used up");
}

/// A LiteLLM `CustomGuardrail` made with its own `default_on=False` (as LiteLLM's docs
/// write them) runs wherever the config's `guardrails:` entry turns it on: on every
/// request with `default_on: true`, on a request that names it otherwise. The host takes
/// the request's `guardrails` out of the body before any hook, so the handler's own check
/// must not decide again: before, such a guardrail was selected, logged as run, and
/// never blocked anything.
#[tokio::test]
async fn a_custom_guardrail_runs_where_the_config_turns_it_on() {
    let _machine = hookgate_tests::machine_to_myself().await;
    let callbacks = ["handlers.guard"];
    let api_base = upstream::serve(upstream::echo_chat).await;
    for default_on in [true, false] {
        let config = format!(
            "{}guardrails:\n  - guardrail_name: no-go\n    litellm_params: {{guardrail: handlers.guard, mode: pre_call, default_on: {default_on}}}\n",
            config(&api_base, &[])
        );
        let proxy = hookgate(&config, &callbacks).await;
        let mut asked = chat("hello");
        asked["guardrails"] = json!(["no-go"]);
        for (request, blocked) in [(chat("hello"), default_on), (asked, true)] {
            let response = proxy.chat(&request).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            match blocked {
                true => {
                    assert_eq!(status, 400, "default_on {default_on}, {request}: {body}");
                    assert_eq!(body["error"]["message"], "no-go blocked it", "{body}");
                }
                false => assert_eq!(status, 200, "default_on {default_on}, {request}: {body}"),
            }
        }
    }
}

/// A handler that raises something other than an HTTP error: LiteLLM answers 500 with
/// the exception's text; in hookgate it is a plugin fault, attributed like any other.
/// This input caused it (the handler passes a harmless one), so the request is refused
/// with a 400 that keeps the exception's text in the log, and the proxy serves on.
#[tokio::test]
async fn a_handler_that_raises_is_a_plugin_fault_the_client_cannot_use() {
    let _machine = hookgate_tests::machine_to_myself().await;
    let callbacks = ["side_by_side.answering"];
    let api_base = upstream::serve(upstream::echo_chat).await;
    let proxy = hookgate(&config(&api_base, &callbacks), &callbacks).await;
    let refused = proxy.chat(&chat("crash")).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.headers()["x-hookgate-rejected-by"], "side_by_side.answering");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "plugin_check_failed", "{body}");
    assert!(!body.to_string().contains("the callback crashed"), "the exception stays in the log: {body}");
    proxy.wait_for_log("the callback crashed", Duration::from_secs(10)).await;
    let served = proxy.chat(&chat("after the crash")).await;
    assert_eq!(served.status(), 200);
}

/// The moderation example as LiteLLM's docs print it (`async_moderation_hook(self,
/// data)`) runs in hookgate, which passes a hook the arguments its signature names;
/// LiteLLM 1.106.2 calls it with three and answers every request with a 500, so this one
/// is checked against the docs, not side by side.
#[tokio::test]
async fn the_docs_moderation_example_refuses_in_moderation() {
    let _machine = hookgate_tests::machine_to_myself().await;
    let callbacks = ["moderation.proxy_handler_instance"];
    let api_base = upstream::serve(upstream::echo_chat).await;
    let proxy = hookgate(&config(&api_base, &callbacks), &callbacks).await;
    let refused = proxy.chat(&chat("hello world")).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Violated content safety policy", "{body}");
    let answered = proxy.chat(&chat("hello there")).await;
    assert_eq!(answered.status(), 200);
    let body: Value = answered.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hello there");
    // Its pre-call hook routed the request to my-new-model; its `print(messages)` is logged.
    assert_eq!(body["model"], "my-new-model", "{body}");
    let printed = hookgate_printed(&proxy);
    assert!(printed.iter().any(|line| line == "[{'role': 'user', 'content': 'hello there'}]"), "{printed:#?}");
}
