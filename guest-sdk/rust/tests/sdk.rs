//! What the SDK promises, natively (`cargo test -p hookgate-sdk`): the export glue driven
//! as the host drives it, outcomes as WIT values, rejections versus faults, config parsing,
//! and the request/response/chunk helpers. The host imports (log, config, kv) are never
//! called: natively they are stubs that panic. The text helpers' shared vectors are checked
//! in `src/text/tests.rs`.

use std::process::Command;

use hookgate_sdk::bindings::{wit, Guest};
use hookgate_sdk::export::{Export, Exported};
use hookgate_sdk::prelude::*;
use hookgate_sdk::{fail, Hook};

fn key() -> KeyInfo {
    KeyInfo { alias: Some("team".into()), hash: "ab12".into(), user_id: None, team_id: None, metadata: "{}".into() }
}

fn request(body: &str) -> Request {
    Request {
        id: "req-1".into(),
        call_type: CallType::ChatCompletion,
        model: "m".into(),
        body: body.into(),
        headers: vec![("x-team".into(), "blue".into())],
        key: key(),
    }
}

fn context() -> CallContext {
    CallContext { id: "req-1".into(), call_type: CallType::ChatCompletion, model: "m".into(), key: key() }
}

fn response(body: &str) -> Response {
    Response { status: 200, body: body.into(), headers: Vec::new() }
}

fn chunk(content: &str) -> String {
    format!(r#"{{"id": "c", "choices": [{{"index": 0, "delta": {{"content": "{content}"}}}}]}}"#)
}

/// A plugin whose hooks answer according to the request's text (or the chunk's).
struct Scripted {
    limit: u32,
}

impl Plugin for Scripted {
    fn new(config: Config) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Settings {
            #[serde(default = "ten")]
            limit: u32,
        }
        fn ten() -> u32 {
            10
        }
        let settings: Settings = config.parse()?;
        if settings.limit == 0 {
            return Err("invalid config: `limit` must be positive".into());
        }
        Ok(Scripted { limit: settings.limit })
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        match req.texts().first().map(String::as_str) {
            Some("reject") => Err(Rejection::forbidden("no").with_code("nope")),
            Some("modify") => Ok(PreCall::modify_json(&serde_json::json!({"limit": self.limit}))),
            Some("respond") => Ok(PreCall::respond("hi")),
            Some("panic") => panic!("a bug"),
            _ => Ok(PreCall::Proceed),
        }
    }

    fn post_call_success(&mut self, _req: &Request, resp: &Response) -> Result<PostCall, Rejection> {
        match resp.texts().first().map(String::as_str) {
            Some("headers") => Ok(PostCall::add_header("X-A", "1").with_header("x-b", "2")),
            Some("body") => Ok(PostCall::replace_body("{}").with_header("x-c", "3")),
            Some("reject") => Err(Rejection::too_many_requests("slow down")),
            _ => Ok(PostCall::Proceed),
        }
    }

    fn stream_chunk(&mut self, _ctx: &CallContext, chunk: &Chunk) -> Result<ChunkOutcome, Rejection> {
        match chunk.delta_text().as_deref() {
            Some("drop") => Ok(ChunkOutcome::Drop),
            Some("replace") => Ok(ChunkOutcome::replace_json(&serde_json::json!({"choices": []}))),
            Some("reject") => Err(Rejection::bad_request("bad chunk")),
            _ => Ok(ChunkOutcome::Proceed),
        }
    }
}

impl Exported for Scripted {
    const NAME: &'static str = "scripted";
    const VERSION: &'static str = "1.2.3";
    const HOOKS: &'static [Hook] = &[Hook::PreCall, Hook::PostCallSuccess, Hook::StreamChunk];
}

type World = Export<Scripted>;

/// `init`s the instance's plugin (each test runs on its own thread, so its own instance):
/// natively, creating it from the host's config would call the host.
fn init() {
    World::init("null".into()).expect("a null config is accepted");
}

fn chat(text: &str) -> Request {
    request(&serde_json::json!({"model": "m", "messages": [{"role": "user", "content": text}]}).to_string())
}

#[test]
fn describe_lists_the_declared_hooks() {
    let info = World::describe();
    assert_eq!((info.name.as_str(), info.version.as_str()), ("scripted", "1.2.3"));
    assert_eq!(info.hooks, vec![Hook::PreCall, Hook::PostCallSuccess, Hook::StreamChunk]);
}

#[test]
fn init_parses_the_config_and_reports_what_is_wrong() {
    assert_eq!(World::init(r#"{"limit": 3}"#.into()), Ok(()));
    assert_eq!(World::init("null".into()), Ok(()));
    assert_eq!(World::init(r#"{"limit": 0}"#.into()), Err("invalid config: `limit` must be positive".into()));
    assert_eq!(
        World::init(r#"{"limit": "x"}"#.into()),
        Err("invalid config: invalid type: string \"x\", expected u32".into())
    );
}

#[test]
fn pre_call_outcomes_become_wit_variants() {
    World::init(r#"{"limit": 7}"#.into()).unwrap();
    assert_eq!(World::pre_call(chat("hello")), Ok(wit::PreCallOutcome::Proceed));
    assert_eq!(World::pre_call(chat("modify")), Ok(wit::PreCallOutcome::Modify(r#"{"limit":7}"#.into())));
    assert_eq!(World::pre_call(chat("respond")), Ok(wit::PreCallOutcome::Respond("hi".into())));
}

#[test]
fn post_call_and_chunk_outcomes_become_wit_variants() {
    init();
    let req = chat("x");
    let answer = |text: &str| {
        response(&serde_json::json!({"choices": [{"message": {"role": "assistant", "content": text}}]}).to_string())
    };
    assert_eq!(World::post_call_success(req.clone(), answer("fine")), Ok(wit::PostCallOutcome::Proceed));
    assert_eq!(
        World::post_call_success(req.clone(), answer("headers")),
        Ok(wit::PostCallOutcome::Modify(wit::ResponseEdit {
            body: None,
            headers: vec![("x-a".into(), "1".into()), ("x-b".into(), "2".into())],
        }))
    );
    assert_eq!(
        World::post_call_success(req, answer("body")),
        Ok(wit::PostCallOutcome::Modify(wit::ResponseEdit {
            body: Some("{}".into()),
            headers: vec![("x-c".into(), "3".into())]
        }))
    );
    assert_eq!(World::stream_chunk(context(), chunk("hi")), Ok(wit::ChunkOutcome::Proceed));
    assert_eq!(World::stream_chunk(context(), chunk("drop")), Ok(wit::ChunkOutcome::Drop));
    assert_eq!(
        World::stream_chunk(context(), chunk("replace")),
        Ok(wit::ChunkOutcome::Replace(r#"{"choices":[]}"#.into()))
    );
}

#[test]
fn outcome_builders_map_one_to_one() {
    assert_eq!(wit::PreCallOutcome::from(PreCall::Modify("{}".into())), wit::PreCallOutcome::Modify("{}".into()));
    assert_eq!(
        wit::PostCallOutcome::from(PostCall::add_headers([("X-Y", "z")])),
        wit::PostCallOutcome::Modify(wit::ResponseEdit { body: None, headers: vec![("x-y".into(), "z".into())] })
    );
    assert_eq!(
        PostCall::replace_body_json(&serde_json::json!({"a": 1})),
        PostCall::Modify { body: Some(r#"{"a":1}"#.into()), headers: vec![] }
    );
    assert_eq!(wit::ChunkOutcome::from(ChunkOutcome::Replace("x".into())), wit::ChunkOutcome::Replace("x".into()));
}

#[test]
fn a_rejection_is_the_error_side() {
    init();
    let forbidden = wit::Rejection { status: 403, message: "no".into(), code: Some("nope".into()) };
    assert_eq!(World::pre_call(chat("reject")), Err(forbidden));
    let answer = response(r#"{"choices": [{"message": {"content": "reject"}}]}"#);
    assert_eq!(World::post_call_success(chat("x"), answer), Err(Rejection::new(429, "slow down")));
    assert_eq!(World::stream_chunk(context(), chunk("reject")), Err(Rejection::bad_request("bad chunk")));
    assert_eq!(Rejection::new(422, "m").code, None);
}

#[test]
fn hooks_the_plugin_does_not_declare_are_no_ops() {
    // Not even created: natively, creating it would call the host's config.
    assert_eq!(World::moderation(chat("reject")), Ok(()));
    let failure = wit::Failure { status: 502, error_type: "api_error".into(), message: "down".into(), code: None };
    assert_eq!(World::post_call_failure(chat("x"), failure), Ok(()));
    assert_eq!(World::stream_end(context(), "text".into()), Ok(()));
    World::log_success("{}".into());
}

#[test]
fn a_panic_in_a_hook_is_not_a_rejection() {
    init();
    let panicked = std::panic::catch_unwind(|| World::pre_call(chat("panic")));
    assert!(panicked.is_err(), "a panic unwinds (in a component: traps, a fault), it is never an answer");
}

#[test]
fn config_parsing() {
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        keywords: Vec<String>,
        #[serde(default)]
        strict: bool,
    }
    let parsed: Settings = Config::from(r#"{"keywords": ["a"]}"#).parse().unwrap();
    assert_eq!((parsed.keywords, parsed.strict), (vec!["a".to_owned()], false));
    assert_eq!(
        Config::from("null").parse::<Settings>().unwrap_err(),
        "invalid config: missing field `keywords`",
        "a missing config reads as {{}}, and the message has no line/column tail"
    );
    assert!(Config::from(r#"{"keywords": [], "x": 1}"#).parse::<Settings>().unwrap_err().contains("unknown field `x`"));
    assert!(Config::from("{nope").parse::<Settings>().unwrap_err().starts_with("invalid config: "));
    assert!(Config::from("null").is_null() && Config::from("").is_null() && !Config::from("{}").is_null());
    assert_eq!(Config::from(r#"{"a": 1}"#).json()["a"], 1);
    assert_eq!(Config::from("{nope").json(), serde_json::Value::Null);
    assert_eq!(Config::from("[1]").as_str(), "[1]");
    #[derive(serde::Deserialize)]
    struct Defaults {
        #[serde(default)]
        _n: u8,
    }
    assert!(Config::from("null").parse::<Defaults>().is_ok());
}

#[test]
fn request_response_and_chunk_helpers() {
    let req = chat("hi");
    assert_eq!(req.header("X-Team"), Some("blue"));
    assert_eq!(req.header("x-other"), None);
    assert_eq!(req.texts(), vec!["hi".to_owned()]);
    assert_eq!(req.chat().unwrap().messages[0].text(), "hi");
    assert_eq!(req.json()["model"], "m");
    // json! sorted the keys; map_texts keeps the order it was given.
    assert_eq!(
        req.map_texts(|t| t.to_uppercase()).unwrap(),
        r#"{"messages":[{"content":"HI","role":"user"}],"model":"m"}"#
    );
    assert_eq!(req.map_texts(str::to_owned), None);
    assert_eq!(request("not json").texts(), Vec::<String>::new());

    let resp = response(r#"{"choices": [{"message": {"role": "assistant", "content": "a", "refusal": "b"}}]}"#);
    assert_eq!(resp.texts(), vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(resp.chat().unwrap().choices[0].message.text(), "a");

    let c = Chunk::new(chunk("Hel"));
    assert_eq!(c.delta_text().as_deref(), Some("Hel"));
    assert_eq!(c.texts(), vec!["Hel".to_owned()]);
    assert_eq!(c.parse().unwrap().choices[0].delta.content.as_deref(), Some("Hel"));
    assert_eq!(Chunk::new(r#"{"choices": [{"delta": {}, "finish_reason": "stop"}]}"#).delta_text(), None);
    assert_eq!(Chunk::new("not json").delta_text(), None);
    assert_eq!(LogPayload::new(r#"{"id": "r"}"#).json()["id"], "r");
    assert_eq!(key().metadata_json(), serde_json::json!({}));
}

#[test]
fn normalize_is_exported_at_the_root() {
    assert_eq!(normalize("Ｓｅｃｒｅｔ\u{a0}PLAN"), "secret plan");
}

/// `fail` and `or_fail` end the call as a fault: the process aborts with the reason on
/// stderr (no newline, so the host keeps it as the fault's message). Run in a child
/// process, this test binary itself, told by an environment variable which case to run.
#[test]
fn fail_and_or_fail_abort_with_the_reason() {
    if let Ok(case) = std::env::var("HOOKGATE_SDK_FAIL_CASE") {
        match case.as_str() {
            "fail" => fail(format_args!("kv is {}", "down")),
            _ => {
                let ok: Result<u8, String> = Ok(1);
                assert_eq!(ok.or_fail(), 1);
                let err: Result<u8, String> = Err("store unavailable".into());
                err.or_fail();
            }
        }
        unreachable!("fail returned");
    }
    for (case, reason) in [("fail", "kv is down"), ("or_fail", "store unavailable")] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "fail_and_or_fail_abort_with_the_reason", "--nocapture", "--test-threads=1"])
            .env("HOOKGATE_SDK_FAIL_CASE", case)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{case}: the child did not abort");
        #[cfg(unix)]
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(6), "{case}: SIGABRT");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(reason), "{case}: {stderr}");
    }
}
