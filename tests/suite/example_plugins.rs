//! The example plugins from `plugins/` do what their crate docs promise.

use std::sync::Arc;

use hookgate::plugins::{
    ChunkDecision, ChunkLoan, HookError, LoadError, PluginSettings, PostCallDecision, PreCallDecision,
};
use hookgate_tests::{chat_request, chat_response, chunk, load};

fn banned(keywords: serde_json::Value) -> PluginSettings {
    PluginSettings { config: serde_json::json!({ "keywords": keywords }), ..PluginSettings::default() }
}

fn assert_rejected_400<T: std::fmt::Debug>(result: Result<T, HookError>, keyword: &str) {
    match result {
        Err(HookError::Rejected(r)) => {
            assert_eq!(r.status, 400);
            assert_eq!(r.code.as_deref(), Some("banned_keyword"));
            assert!(r.message.to_lowercase().contains(keyword), "{r:?}");
        }
        other => panic!("expected a 400 rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn banned_keywords_rejects_requests_case_insensitively() {
    let plugin = load("banned-keywords", banned(serde_json::json!(["forbidden", "Secret Plan"]))).await.unwrap();
    let bad = chat_request("r1", "tell me the SECRET plan now");
    assert_rejected_400(plugin.instance("r1").pre_call(&bad.info, &bad.doc).await, "secret plan");
    let good = chat_request("r2", "tell me a joke");
    assert_eq!(plugin.instance("r2").pre_call(&good.info, &good.doc).await.unwrap(), PreCallDecision::Proceed);
}

#[tokio::test]
async fn banned_keywords_checks_responses_and_streams() {
    let plugin = load("banned-keywords", banned(serde_json::json!(["forbidden"]))).await.unwrap();
    let request = chat_request("r3", "innocent question");
    let response = chat_response("a Forbidden answer");
    assert_rejected_400(
        plugin.instance("r3").post_call_success(&request.info, &request.doc, &response).await,
        "forbidden",
    );

    // A keyword split across two chunks is still caught, by the request's rolling tail,
    // and nothing of it was forwarded before: the first chunk's text is held back.
    let mut instance = plugin.instance("r4");
    match instance.stream_chunk(&request.info, &request.doc, &ChunkLoan::new(chunk("this is forb"))).await.unwrap() {
        ChunkDecision::Replace(held) => {
            let forwarded = held.value()["choices"][0]["delta"]["content"].as_str().unwrap().to_owned();
            assert!(!forwarded.contains("forb"), "{forwarded:?}");
        }
        other => panic!("the chunk's tail should have been held back: {other:?}"),
    }
    assert_rejected_400(
        instance.stream_chunk(&request.info, &request.doc, &ChunkLoan::new(chunk("idden text"))).await,
        "forbidden",
    );
}

/// Invisible characters or a run of spaces inside a keyword make it longer raw, not as
/// matched: the held-back window counts characters as they are matched, so none of the
/// keyword goes out before the chunk that completes it is refused.
#[tokio::test]
async fn banned_keywords_holds_back_a_padded_keyword_whole() {
    let zero_width = "\u{200b}".repeat(10);
    let padded_forb = ["f", "o", "r", "b"].join(&zero_width);
    for (keyword, innocent, padded_start, rest) in [
        ("forbidden", "this is ", padded_forb, "idden text"),
        ("secret plan", "the ", format!("secret{}", " ".repeat(40)), "plan now"),
    ] {
        let first = format!("{innocent}{padded_start}");
        let plugin = load("banned-keywords", banned(serde_json::json!([keyword]))).await.unwrap();
        let request = chat_request("r6", "innocent question");
        let mut instance = plugin.instance("r6");
        let loan = ChunkLoan::new(chunk(&first));
        let forwarded = match instance.stream_chunk(&request.info, &request.doc, &loan).await.unwrap() {
            ChunkDecision::Replace(held) => held.value()["choices"][0]["delta"]["content"].as_str().unwrap().to_owned(),
            ChunkDecision::Proceed => first.clone(),
            other => panic!("{keyword}: {other:?}"),
        };
        let visible: String = forwarded.chars().filter(|&c| c != '\u{200b}').collect();
        assert!(innocent.starts_with(visible.trim_end()), "{keyword}: its start went out early: {forwarded:?}");
        assert_rejected_400(
            instance.stream_chunk(&request.info, &request.doc, &ChunkLoan::new(chunk(rest))).await,
            keyword,
        );
    }
}

#[tokio::test]
async fn banned_keywords_refuses_a_bad_config_at_load() {
    for config in [serde_json::json!(null), serde_json::json!({"keywords": []}), serde_json::json!({"keywords": [1]})] {
        let settings = PluginSettings { config: config.clone(), ..PluginSettings::default() };
        match load("banned-keywords", settings).await {
            Err(LoadError::InitRefused { plugin, message }) => {
                assert_eq!(plugin, "banned-keywords");
                assert!(message.contains("keywords"), "{config}: {message}");
            }
            Err(other) => panic!("{config}: wrong error {other}"),
            Ok(_) => panic!("{config}: accepted a bad config"),
        }
    }
}

#[tokio::test]
async fn header_injector_adds_its_configured_headers() {
    let settings = PluginSettings {
        config: serde_json::json!({"headers": {"X-Served-By": "hookgate", "x-team": "blue"}}),
        ..PluginSettings::default()
    };
    let plugin = load("header-injector", settings).await.unwrap();
    let request = chat_request("r5", "hi");
    let response = chat_response("hello");
    match plugin.instance("r5").post_call_success(&request.info, &request.doc, &response).await.unwrap() {
        PostCallDecision::Modify { body: None, mut headers } => {
            headers.sort();
            assert_eq!(
                headers,
                vec![("x-served-by".to_owned(), "hookgate".to_owned()), ("x-team".to_owned(), "blue".to_owned())]
            );
        }
        other => panic!("expected added headers, got {other:?}"),
    }
}

#[tokio::test]
async fn rate_limiter_and_failure_alerter_refuse_bad_configs_at_load() {
    let cases = [
        ("rate-limiter", serde_json::json!(null), "`requests_per_minute` (or `limit`) is required"),
        ("rate-limiter", serde_json::json!({"requests_per_minute": 0}), "at least 1 request"),
        ("rate-limiter", serde_json::json!({"requests_per_minute": 5, "limit": 5}), "not both"),
        ("rate-limiter", serde_json::json!({"limit": 5, "window_seconds": 0}), "`window_seconds`"),
        ("rate-limiter", serde_json::json!({"requests_per_minute": 5, "per": "org"}), "unknown variant `org`"),
        ("failure-alerter", serde_json::json!({}), "missing field `threshold`"),
        ("failure-alerter", serde_json::json!({"threshold": 0}), "`threshold` must be at least 1"),
        ("failure-alerter", serde_json::json!({"threshold": 2, "window": 5}), "unknown field `window`"),
    ];
    for (crate_name, config, expected) in cases {
        let settings = PluginSettings { config: config.clone(), ..PluginSettings::default() };
        match load(crate_name, settings).await {
            Err(LoadError::InitRefused { message, .. }) => assert!(message.contains(expected), "{config}: {message}"),
            Err(other) => panic!("{crate_name} {config}: wrong error {other}"),
            Ok(_) => panic!("{crate_name} {config}: accepted a bad config"),
        }
    }
}

/// `per: user` counts per the key's user id, else per the request's `user` field.
#[tokio::test]
async fn rate_limiter_counts_per_user() {
    // A window of 100 years: windows are aligned to the clock, and no boundary (which
    // would reset the counts) can fall inside the test.
    let config = serde_json::json!({"limit": 1, "window_seconds": 3_153_600_000u64, "per": "user"});
    let plugin = load("rate-limiter", PluginSettings { config, ..PluginSettings::default() }).await.unwrap();
    // Unique users per run: the engine's in-memory kv lives as long as the test process.
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let as_end_user = |user: &str| {
        let mut body = chat_request("r", "hi").body().clone();
        body["user"] = serde_json::json!(format!("{user}-{run}"));
        let mut request = hookgate_tests::TestRequest::new("r", hookgate::types::CallType::ChatCompletion, body);
        Arc::make_mut(&mut request.info.key).user_id = None;
        request
    };
    let decide = async |request: hookgate_tests::TestRequest| match plugin
        .instance("r")
        .pre_call(&request.info, &request.doc)
        .await
    {
        Ok(decision) => Ok(decision),
        Err(HookError::Rejected(rejection)) => Err((rejection.status, rejection.code)),
        Err(other) => panic!("{other:?}"),
    };
    let over = Err((429, Some("rate_limit_exceeded".to_owned())));
    assert_eq!(decide(as_end_user("ann")).await, Ok(PreCallDecision::Proceed));
    assert_eq!(decide(as_end_user("ann")).await, over);
    assert_eq!(decide(as_end_user("bob")).await, Ok(PreCallDecision::Proceed), "another user, another count");
    // The key's user id wins over the body's `user` (ann's count is spent).
    let mut keyed = as_end_user("ann");
    Arc::make_mut(&mut keyed.info.key).user_id = Some(format!("key-user-{run}"));
    assert_eq!(decide(keyed.clone()).await, Ok(PreCallDecision::Proceed));
    assert_eq!(decide(keyed).await, over);
}
