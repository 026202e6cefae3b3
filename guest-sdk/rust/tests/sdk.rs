//! What the SDK promises, natively (`cargo test -p hookgate-sdk`): a fresh context per
//! request whatever the instance served before, outcomes and errors as the contract's,
//! config parsing, the request/response/chunk stand-ins (which run the host's own code),
//! `HoldBack`, and `normalize` against the vectors every SDK shares. The host imports
//! (log, config, kv) are never called: natively they are stubs.

use hookgate_sdk::bindings::wit;
use hookgate_sdk::export::{self, Exported};
use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::{self, json, Value};
use hookgate_sdk::text::{is_default_ignorable, is_white_space};
use hookgate_sdk::{CallContext, EditError};

/// A plugin whose per-request context records the hooks it has seen.
struct Counting;

#[derive(Default)]
struct Seen(Vec<&'static str>);

impl Plugin for Counting {
    type Ctx = Seen;

    fn new(config: Config) -> Result<Self, String> {
        match config.json()["refuse"].as_bool() {
            Some(true) => Err("invalid config: refused on purpose".into()),
            _ => Ok(Counting),
        }
    }
}

impl Exported for Counting {
    const NAME: &'static str = "counting";
    const VERSION: &'static str = "1.2.3";
}

fn call(id: &str) -> CallContext {
    CallContext { request_id: id.into(), ..CallContext::for_tests() }
}

/// The hooks the context of `id`'s request holds after this one.
fn hook(id: &str, name: &'static str) -> Vec<&'static str> {
    export::with::<Counting, _>(&call(id), |_plugin, seen| {
        seen.0.push(name);
        seen.0.clone()
    })
}

#[test]
fn every_request_gets_a_fresh_context_on_a_reused_instance() {
    // Each test runs on its own thread: its own instance slot.
    export::init::<Counting>("null".into()).unwrap();
    assert_eq!(hook("a", "pre-call"), ["pre-call"]);
    assert_eq!(hook("a", "moderation"), ["pre-call", "moderation"], "one request's hooks share it");
    assert_eq!(hook("b", "pre-call"), ["pre-call"], "the next request on the same instance starts afresh");
    assert_eq!(hook("b", "stream-chunk"), ["pre-call", "stream-chunk"]);
    assert_eq!(hook("a", "log-success"), ["log-success"], "a logging hook of an earlier request: not b's context");
}

#[test]
fn describe_and_init_speak_for_the_plugin() {
    assert_eq!(export::describe::<Counting>(), ("counting".to_owned(), "1.2.3".to_owned()));
    assert_eq!(
        export::init::<Counting>(r#"{"refuse": true}"#.into()),
        Err("invalid config: refused on purpose".into())
    );
    assert_eq!(export::init::<Counting>("null".into()), Ok(()));
}

#[test]
fn rejections_and_failures_are_the_contract_s_two_errors() {
    let rejection = Rejection::forbidden("no").with_code("nope");
    assert_eq!((rejection.status, rejection.message.as_str(), rejection.code.as_deref()), (403, "no", Some("nope")));
    assert_eq!(Rejection::bad_request("x").status, 400);
    assert_eq!(Rejection::too_many_requests("x").status, 429);
    let as_wit = |error: HookError| wit::HookError::from(error);
    assert_eq!(as_wit(rejection.clone().into()), wit::HookError::Reject(rejection));
    assert_eq!(as_wit(fail("the list is empty")), wit::HookError::Fail("the list is empty".into()));
    // `?` on an edit the host refused, or a kv error, fails: it never rejects.
    let edit: HookError = EditError::ReadOnly.into();
    assert!(matches!(edit, HookError::Fail(ref reason) if reason.contains("edit refused")), "{edit:?}");
    let kv: HookError = hookgate_sdk::kv::KvError::Unavailable("redis down".into()).into();
    assert!(matches!(kv, HookError::Fail(ref reason) if reason.contains("redis down")), "{kv:?}");
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
    assert_eq!(Config::from("null").json(), Value::Null, "no config is null, as in every SDK");
    assert_eq!(Config::from(r#"{"a": 1}"#).json()["a"], 1);
}

#[test]
fn requests_read_and_edit_as_the_host_does() {
    let ctx = CallContext {
        key: wit::KeyInfo { metadata: r#"{"tier": "gold"}"#.into(), ..CallContext::for_tests().key },
        ..call("req-9")
    };
    let body = json!({"model": "m", "temperature": 0.2, "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi there"}]},
    ]});
    let req = Request::local_with(ctx, body, vec![("x-team".into(), "blue".into())]);
    assert_eq!((req.id(), req.model(), req.is_stream()), ("req-9", "m".to_owned(), false));
    assert_eq!(req.call_type(), &CallType::ChatCompletion);
    assert_eq!(req.key().metadata(), json!({"tier": "gold"}), "metadata is parsed, as in every SDK");
    assert_eq!(req.header("X-Team").as_deref(), Some("blue"));
    let texts = req.texts();
    assert_eq!(texts.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(), ["be brief", "hi there"]);
    assert_eq!((texts[1].item, texts[1].role.as_deref()), (Some(1), Some("user")));
    assert_eq!(texts[1].path, "/messages/1/content/0/text");
    assert_eq!(req.field("temperature").as_deref(), Some("0.2"));
    assert!(req.map_texts(|text| text.to_uppercase()).unwrap());
    assert!(!req.map_texts(|text| text.to_owned()).unwrap(), "no change, no edit");
    req.set_field("temperature", None).unwrap();
    assert_eq!(req.field_names(), ["model", "messages"]);
    assert_eq!(req.set_text(7, "x"), Err(EditError::NoSuchText(7)));
    assert!(matches!(req.set_body("[1]"), Err(EditError::Invalid(_))));
    assert_eq!(req.json()["messages"][1]["content"][0]["text"], "HI THERE");
}

#[test]
fn responses_set_headers_and_chunks_join_the_text_of_every_choice() {
    let resp = Response::local(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "yes"}}]}));
    resp.set_header("X-A", "1").unwrap();
    resp.set_header("x-a", "2").unwrap();
    assert_eq!(resp.headers(), [("x-a".to_owned(), "2".to_owned())], "one value per name, the last");
    assert!(resp.set_header("content-length", "1").is_err());
    assert_eq!(resp.texts()[0].text, "yes");
    let chunk = Chunk::local(
        json!({"choices": [{"index": 0, "delta": {"content": "a"}}, {"index": 1, "delta": {"content": "b"}}]}),
    );
    assert_eq!(chunk.text().as_deref(), Some("ab"));
    let finish = Chunk::local(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
    assert_eq!((finish.text(), finish.finish_reason(0).as_deref()), (None, Some("stop")));
}

#[test]
fn hold_back_keeps_a_window_per_choice_and_releases_it_at_the_end() {
    let mut hold = HoldBack::new(3);
    let chunk = |content: &str, finish: Option<&str>| {
        Chunk::local(json!({"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}))
    };
    let first = chunk("abcdef", None);
    assert_eq!(hold.unsent(&first), ["abcdef"]);
    hold.apply(&first).unwrap();
    assert_eq!(first.text().as_deref(), Some("abc"));
    let second = chunk("gh", None);
    assert_eq!(hold.unsent(&second), ["defgh"]);
    hold.apply(&second).unwrap();
    assert_eq!(second.text().as_deref(), Some("de"));
    let last = chunk("i", Some("stop"));
    hold.apply(&last).unwrap();
    assert_eq!(last.text().as_deref(), Some("fghi"), "the choice's end releases everything held");
    assert_eq!(hold.finish(0), "");
}

const VECTORS: &str = include_str!("../../conformance/text.json");

#[test]
fn hold_back_follows_the_shared_vectors() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    for case in vectors["hold_back"].as_array().unwrap() {
        let (text, kept) = (case["text"].as_str().unwrap(), case["kept"].as_str().unwrap());
        let mut hold = HoldBack::new(case["window"].as_u64().unwrap() as usize);
        let chunk = Chunk::local(json!({"choices": [{"index": 0, "delta": {"content": text}}]}));
        hold.apply(&chunk).unwrap();
        let sent = chunk.text().unwrap_or_default();
        assert_eq!(hold.finish(0), kept, "{}", case["name"]);
        assert_eq!(format!("{sent}{kept}"), text, "{}: nothing lost", case["name"]);
    }
}

#[test]
fn normalize_follows_the_shared_vectors() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    for case in vectors["normalize"].as_array().unwrap() {
        let (input, output) = (case["input"].as_str().unwrap(), case["output"].as_str().unwrap());
        assert_eq!(normalize(input), output, "{}", case["name"]);
        assert_eq!(normalize(output), output, "{}: idempotent", case["name"]);
    }
    let one = |s: &Value| {
        let mut chars = s.as_str().unwrap().chars();
        let c = chars.next().unwrap();
        assert!(chars.next().is_none());
        c
    };
    for (class, test) in
        [("white_space", is_white_space as fn(char) -> bool), ("default_ignorable", is_default_ignorable)]
    {
        for c in vectors[class]["yes"].as_array().unwrap().iter().map(one) {
            assert!(test(c), "{class}: {c:?}");
        }
        for c in vectors[class]["no"].as_array().unwrap().iter().map(one) {
            assert!(!test(c), "{class}: not {c:?}");
        }
    }
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        assert_eq!(is_white_space(c), c.is_whitespace(), "{c:?}");
    }
}
