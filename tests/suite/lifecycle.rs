//! The plumbing of hook calls, shown with the `probe` plugin: per-request state, every
//! hook's outcome reaching the host, host imports, and guest output in the log.

use hookgate::pipeline::log_record::LogRecord;
use hookgate::plugins::{ChunkDecision, ChunkLoan, HookError, PluginSettings, PostCallDecision, PreCallDecision};
use hookgate::types::{Failure, Hook};
use hookgate_tests::{captured_logs, chat_request, chat_response as response, chunk, engine, load};

#[tokio::test]
async fn hooks_of_one_request_share_an_instance_and_requests_do_not() {
    let settings = PluginSettings { config: serde_json::json!({"tag": "blue"}), ..PluginSettings::default() };
    let probe = load("probe", settings).await.unwrap();
    assert!(probe.implements(Hook::PreCall) && probe.implements(Hook::LogSuccess));
    assert_eq!(probe.info().name, "probe");

    let first = chat_request("req-a", "hello");
    let mut instance = probe.instance(first.id());
    assert!(!instance.is_instantiated(), "instantiation waits for the first hook");
    let PreCallDecision::Modify(body) = instance.pre_call(&first.info, &first.doc).await.unwrap() else {
        panic!("probe modifies")
    };
    assert_eq!(body.value()["probe_calls"], 1);
    assert_eq!(body.value()["messages"][1]["content"], "hello", "the rest of the body survives the guest's edit");

    let PostCallDecision::Modify { body: None, headers } =
        instance.post_call_success(&first.info, &first.doc, &response("hi")).await.unwrap()
    else {
        panic!("probe adds headers only")
    };
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(header("x-probe-calls"), Some("2"), "post-call saw the state pre-call left");
    assert_eq!(header("x-probe-request-id"), Some("req-a"));
    assert_eq!(header("x-probe-config"), Some("blue"), "config reached the guest");

    let second = chat_request("req-b", "hello again");
    let PreCallDecision::Modify(body) = probe.instance(second.id()).pre_call(&second.info, &second.doc).await.unwrap()
    else {
        panic!("probe modifies")
    };
    assert_eq!(body.value()["probe_calls"], 1, "a new request starts with a fresh context");
}

#[tokio::test]
async fn every_hook_outcome_reaches_the_host() {
    let probe = load("probe", PluginSettings::default()).await.unwrap();
    let request = chat_request("req-hooks", "MODERATE me, then RECOVER");
    let mut instance = probe.instance(request.id());

    match instance.moderation(&request.info, &request.doc).await {
        Err(HookError::Rejected(r)) => {
            assert_eq!((r.status, r.code.as_deref()), (403, Some("probe_moderation")));
        }
        other => panic!("moderation should reject: {other:?}"),
    }
    let clean = chat_request("clean", "fine");
    assert!(probe.instance("clean").moderation(&clean.info, &clean.doc).await.is_ok());

    let (info, doc) = (&request.info, &request.doc);
    match instance.stream_chunk(info, doc, &ChunkLoan::new(chunk("shout"))).await.unwrap() {
        ChunkDecision::Replace(replaced) => assert_eq!(replaced.value()["choices"][0]["delta"]["content"], "SHOUT"),
        other => panic!("probe upper-cases chunks: {other:?}"),
    }
    assert_eq!(instance.stream_chunk(info, doc, &ChunkLoan::new(chunk("DROPME"))).await.unwrap(), ChunkDecision::Drop);
    // A hook that edits and then fails gives back the chunk it was lent as it was lent.
    let failing = PluginSettings { config: serde_json::json!({"fail_after_edit": true}), ..PluginSettings::default() };
    let failing = load("probe", failing).await.unwrap();
    let loan = ChunkLoan::new(chunk("quiet"));
    match failing.instance(request.id()).stream_chunk(info, doc, &loan).await {
        Err(HookError::Fault(fault)) => assert!(fault.message.contains("failing after an edit"), "{fault:?}"),
        other => panic!("probe fails after editing the chunk: {other:?}"),
    }
    assert_eq!(*loan.into_chunk().expect("given back").value(), *chunk("quiet").value());
    assert!(instance.stream_end(info, doc, "SHOUT").await.is_ok());

    let failure = Failure {
        status: 502,
        error_type: "api_error".into(),
        message: "upstream down".into(),
        code: None,
        rejected_by: None,
    };
    match instance.post_call_failure(&request.info, &request.doc, &failure).await {
        Err(HookError::Rejected(r)) => {
            assert_eq!(r.status, 418);
            assert_eq!(r.message, "probe saw failure: upstream down");
        }
        other => panic!("probe replaces failures: {other:?}"),
    }
}

#[tokio::test]
async fn logging_hooks_use_the_kv_store_namespaced_by_plugin() {
    let probe = load("probe", PluginSettings::default()).await.unwrap();
    let before = engine_kv_count("log-success").await;
    for id in ["req-log", "req-log-2"] {
        let request = chat_request(id, "hi");
        let mut record = LogRecord::start(&request.info, &request.doc, std::time::Duration::ZERO);
        record.answered(&response("hello"));
        let input = record.finish(Vec::new(), usize::MAX, false);
        probe.instance(id).log_success(&input).await.unwrap();
    }
    assert_eq!(engine_kv_count("log-success").await, before + 2);
    // Namespaced: the same key under another plugin's name is untouched.
    assert_eq!(engine().kv().get("banned-keywords", "log-success", far()).await.unwrap(), None);
}

async fn engine_kv_count(key: &str) -> i64 {
    engine().kv().get("probe", key, far()).await.unwrap().map(|v| v.parse().unwrap()).unwrap_or(0)
}

#[tokio::test]
async fn guest_stdout_and_log_calls_reach_the_host_log_with_the_plugin_name() {
    captured_logs();
    let probe = load("probe", PluginSettings::default()).await.unwrap();
    let request = chat_request("req-logs", "hi");
    probe.instance(request.id()).pre_call(&request.info, &request.doc).await.unwrap();

    let logs = captured_logs();
    let line = |needle: &str| logs.lines().find(|line| line.contains(needle)).map(str::to_owned);
    let stdout = line("probe stdout req-logs").unwrap_or_else(|| panic!("guest stdout not logged:\n{logs}"));
    assert!(stdout.contains("plugin=\"probe\"") || stdout.contains("plugin=probe"), "{stdout}");
    assert!(stdout.contains("request_id=\"req-logs\"") || stdout.contains("request_id=req-logs"), "{stdout}");
    let logged = line("probe pre-call req-logs").unwrap_or_else(|| panic!("log import not logged:\n{logs}"));
    // The line was found by its text; what is checked is what the host added to it.
    let field = |name: &str, value: &str| {
        logged.contains(&format!("{name}=\"{value}\"")) || logged.contains(&format!("{name}={value}"))
    };
    assert!(logged.contains(" INFO hookgate::guest:"), "the level the guest asked for, the guest target: {logged}");
    assert!(field("plugin", "probe") && field("request_id", "req-logs") && field("source", "log"), "{logged}");
}

#[tokio::test]
async fn plugins_that_skip_a_hook_are_not_instantiated_for_it() {
    let injector = load(
        "header-injector",
        PluginSettings { config: serde_json::json!({"headers": {"x-a": "1"}}), ..PluginSettings::default() },
    )
    .await
    .unwrap();
    assert!(!injector.implements(Hook::PreCall));
    let request = chat_request("req-skip", "hi");
    let mut instance = injector.instance(request.id());
    assert_eq!(instance.pre_call(&request.info, &request.doc).await.unwrap(), PreCallDecision::Proceed);
    assert!(!instance.is_instantiated(), "a hook the plugin lacks costs no instance");
    // A hook it has does instantiate it (so the above is the skip, not a lazy instance).
    instance.post_call_success(&request.info, &request.doc, &response("hello")).await.unwrap();
    assert!(instance.is_instantiated(), "post-call-success ran on an instance");
}

/// Pool slots are reused across requests (their memory reset in place); no request may
/// ever see what an earlier one left in the guest's memory, and a reset must leave the
/// guest's heap consistent. Many requests through a 2-slot pool make every slot serve
/// many of them, with bodies of varying size.
#[tokio::test]
async fn reused_pool_slots_never_leak_state_between_requests() {
    let engine = hookgate_tests::private_engine(2);
    let probe = hookgate_tests::load_on(&engine, "probe", PluginSettings::default()).await.unwrap();
    let banned = hookgate_tests::load_on(
        &engine,
        "banned-keywords",
        PluginSettings { config: serde_json::json!({"keywords": ["forbidden"]}), ..PluginSettings::default() },
    )
    .await
    .unwrap();
    for i in 0..300 {
        let text = "word ".repeat(1 + (i * 37) % 4000);
        let request = chat_request(&format!("reuse-{i}"), &text);
        let mut instance = probe.instance(request.id());
        let PreCallDecision::Modify(body) = instance.pre_call(&request.info, &request.doc).await.unwrap() else {
            panic!("modify")
        };
        assert_eq!(body.value()["probe_calls"], 1, "request {i} saw an earlier request's state");
        let verdict = banned.instance(request.id()).pre_call(&request.info, &request.doc).await;
        assert_eq!(verdict.unwrap(), PreCallDecision::Proceed, "request {i}");
    }
    assert_eq!(engine.free_slots(), 2);
}

/// A kv deadline no test call comes near.
fn far() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(5)
}
