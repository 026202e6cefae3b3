//! The hook runner's policy, in-process, on fake plugins: the order hooks run in, what
//! `on_error` does with a fault (by whom it is charged to), quarantine, first rejection
//! wins, and moderation racing the upstream. The real plugins' side of the same rules is
//! tested through a served proxy in `tests/suite`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Barrier;

use super::{PreCallResult, RequestPlugins};
use crate::content::{Body, RequestDoc, ResponseDoc};
use crate::error::ApiError;
use crate::pipeline::attribution::ProbeShape;
use crate::pipeline::plugin_calls::{Chosen, HookInstance, HookPlugin};
use crate::plugins::registry::{CallEnd, QuarantinePolicy};
use crate::plugins::{
    CallStats, ChunkDecision, ChunkLoan, Fault, FaultCause, FaultKind, HookError, OnError, Overloaded,
    PostCallDecision, PreCallDecision, Rejection, Teardown,
};
use crate::types::{CallInfo, CallType, Failure, Hook, HookSet, KeyInfo};

/// What a fake plugin does when one of its hooks is called.
#[derive(Clone)]
enum Act {
    Proceed,
    /// Append this to the last message's text (pre-call), or replace the chunk's content
    /// with it (stream-chunk).
    Edit(&'static str),
    Respond(&'static str),
    Drop,
    Reject(u16),
    Fault(FaultKind),
    /// No instance slot came free.
    Overload,
    /// Wait this long, then act.
    After(Duration, Box<Act>),
    /// Wait until every party of the barrier has arrived, then act.
    Meet(Arc<Barrier>, Box<Act>),
    /// Never return.
    Hang,
}

/// A fake plugin: its hooks act as scripted, and everything the runner does to it is
/// written down.
struct Fake {
    name: &'static str,
    hooks: HookSet,
    on_error: OnError,
    quarantined: bool,
    /// What attribution says about any fault of this plugin.
    cause: FaultCause,
    acts: HashMap<Hook, Act>,
    /// Calls of every fake of the test, in order: `name:hook`, and for pre-call the last
    /// text it saw.
    trail: Arc<Mutex<Vec<String>>>,
    ends: Mutex<Vec<(Hook, CallEnd)>>,
    released: AtomicUsize,
}

struct FakeInstance {
    plugin: Arc<Fake>,
    called: bool,
}

impl HookPlugin for Fake {
    type Instance = FakeInstance;

    fn name(&self) -> &str {
        self.name
    }

    fn hooks(&self) -> HookSet {
        self.hooks
    }

    fn on_error(&self) -> OnError {
        self.on_error
    }

    fn is_quarantined(&self) -> bool {
        self.quarantined
    }

    fn record_call(&self, hook: Hook, end: CallEnd, _: Option<CallStats>, _: QuarantinePolicy) {
        self.ends.lock().unwrap().push((hook, end));
    }

    fn instance(self: &Arc<Self>, _: Arc<str>, _: Option<Arc<str>>) -> FakeInstance {
        FakeInstance { plugin: Arc::clone(self), called: false }
    }

    fn cause_of(&self, _: Hook, _: &Fault, _: Option<CallStats>, _: &ProbeShape) -> impl Future<Output = FaultCause> {
        std::future::ready(self.cause)
    }
}

impl FakeInstance {
    /// Notes the call and plays the script up to the decision it comes to.
    async fn act(&mut self, hook: Hook, seen: Option<String>) -> Result<Act, HookError> {
        self.called = true;
        let plugin = &self.plugin;
        let note = match seen {
            Some(text) => format!("{}:{}({text})", plugin.name, hook.name()),
            None => format!("{}:{}", plugin.name, hook.name()),
        };
        plugin.trail.lock().unwrap().push(note);
        let mut act = plugin.acts.get(&hook).cloned().unwrap_or(Act::Proceed);
        loop {
            act = match act {
                Act::After(wait, then) => {
                    tokio::time::sleep(wait).await;
                    *then
                }
                Act::Meet(barrier, then) => {
                    barrier.wait().await;
                    *then
                }
                Act::Hang => std::future::pending().await,
                Act::Reject(status) => {
                    let message = format!("{} says no", plugin.name);
                    return Err(HookError::Rejected(Rejection { status, message, code: None }));
                }
                Act::Fault(kind) => {
                    let fault = Fault::new(plugin.name, Some(hook), hook.name(), kind, "scripted");
                    return Err(HookError::Fault(Box::new(fault)));
                }
                Act::Overload => {
                    let overloaded = Overloaded::no_slot(plugin.name, Duration::ZERO);
                    return Err(HookError::Overloaded(overloaded));
                }
                decision => return Ok(decision),
            }
        }
    }

    async fn verdict(&mut self, hook: Hook) -> Result<(), HookError> {
        self.act(hook, None).await.map(|_| ())
    }
}

impl HookInstance for FakeInstance {
    async fn pre_call(&mut self, _: &CallInfo, req: &RequestDoc) -> Result<PreCallDecision, HookError> {
        Ok(match self.act(Hook::PreCall, Some(last_text(req))).await? {
            Act::Edit(suffix) => {
                let mut body = req.body.to_value();
                let messages = body["messages"].as_array_mut().unwrap();
                let last = messages.last_mut().unwrap();
                last["content"] = Value::String(format!("{}{suffix}", last["content"].as_str().unwrap()));
                PreCallDecision::Modify(Body::measured(body))
            }
            Act::Respond(text) => PreCallDecision::Respond(text.to_owned()),
            _ => PreCallDecision::Proceed,
        })
    }

    async fn moderation(&mut self, _: &CallInfo, _: &RequestDoc) -> Result<(), HookError> {
        self.verdict(Hook::Moderation).await
    }

    async fn post_call_success(
        &mut self,
        _: &CallInfo,
        _: &RequestDoc,
        _: &ResponseDoc,
    ) -> Result<PostCallDecision, HookError> {
        Ok(match self.act(Hook::PostCallSuccess, None).await? {
            Act::Edit(value) => PostCallDecision::Modify {
                body: None,
                headers: vec![("x-edited-by".to_owned(), format!("{}{value}", self.plugin.name))],
            },
            _ => PostCallDecision::Proceed,
        })
    }

    async fn post_call_failure(&mut self, _: &CallInfo, _: &RequestDoc, _: &Failure) -> Result<(), HookError> {
        self.verdict(Hook::PostCallFailure).await
    }

    async fn stream_chunk(
        &mut self,
        _: &CallInfo,
        _: &RequestDoc,
        loan: &ChunkLoan,
    ) -> Result<ChunkDecision, HookError> {
        // Taken as a real call takes it, and given back only when the call returns: a
        // fault here strands it, as a call cancelled at its wall-clock deadline does.
        let chunk = loan.take().expect("the runner lends the chunk");
        let seen = chunk.value()["choices"][0]["delta"]["content"].as_str().unwrap_or_default().to_owned();
        let act = self.act(Hook::StreamChunk, Some(seen)).await?;
        loan.give_back(chunk);
        Ok(match act {
            Act::Edit(content) => ChunkDecision::Replace(Body::measured(
                json!({"choices": [{"index": 0, "delta": {"content": content}}]}),
            )),
            Act::Drop => ChunkDecision::Drop,
            _ => ChunkDecision::Proceed,
        })
    }

    async fn stream_end(&mut self, _: &CallInfo, _: &RequestDoc, _: &str) -> Result<(), HookError> {
        self.verdict(Hook::StreamEnd).await
    }

    fn last_call(&self) -> Option<CallStats> {
        self.called.then_some(CallStats {
            elapsed: Duration::ZERO,
            fuel_used: 0,
            instantiated: true,
            running: Duration::ZERO,
        })
    }

    fn release_into(&mut self, _: &mut Teardown) {
        self.plugin.released.fetch_add(1, Ordering::Relaxed);
    }
}

fn last_text(req: &RequestDoc) -> String {
    let messages = req.fields()["messages"].as_array().unwrap();
    messages.last().unwrap()["content"].as_str().unwrap().to_owned()
}

/// The fakes of one test, sharing one trail.
#[derive(Default)]
struct Scene {
    trail: Arc<Mutex<Vec<String>>>,
}

/// How one fake is set up; `Scene::plugin` builds it.
struct Script {
    hooks: &'static [Hook],
    acts: Vec<(Hook, Act)>,
    on_error: OnError,
    cause: FaultCause,
    quarantined: bool,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            hooks: &Hook::ALL,
            acts: Vec::new(),
            on_error: OnError::FailOpen,
            cause: FaultCause::Plugin,
            quarantined: false,
        }
    }
}

impl Scene {
    fn plugin(&self, name: &'static str, script: Script) -> Arc<Fake> {
        Arc::new(Fake {
            name,
            hooks: script.hooks.iter().copied().collect(),
            on_error: script.on_error,
            quarantined: script.quarantined,
            cause: script.cause,
            acts: script.acts.into_iter().collect(),
            trail: Arc::clone(&self.trail),
            ends: Mutex::default(),
            released: AtomicUsize::new(0),
        })
    }

    /// A plugin that does `act` in `hook` and proceeds everywhere else.
    fn acting(&self, name: &'static str, hook: Hook, act: Act) -> Arc<Fake> {
        self.plugin(name, Script { acts: vec![(hook, act)], ..Script::default() })
    }

    fn trail(&self) -> Vec<String> {
        self.trail.lock().unwrap().clone()
    }
}

fn request_plugins(plugins: &[&Arc<Fake>]) -> RequestPlugins<Fake> {
    let info = CallInfo {
        id: "req-1".into(),
        call_type: CallType::ChatCompletion,
        key: KeyInfo {
            alias: Some("test".into()),
            id: "0".repeat(64),
            user_id: None,
            team_id: None,
            metadata: "{}".into(),
        }
        .into(),
        stream: false,
        lowered: Default::default(),
    };
    let plugins = plugins.iter().map(|plugin| (Arc::clone(plugin), Chosen { hooks: plugin.hooks(), config: None }));
    let shape = ProbeShape::new(info.call_type, Some("m"));
    RequestPlugins::of(plugins, &info, shape, Instant::now(), QuarantinePolicy::default())
}

fn request(text: &str) -> RequestDoc {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": text}]});
    let Value::Object(fields) = body else { unreachable!() };
    RequestDoc::new(fields, 0, Vec::new())
}

fn answer() -> ResponseDoc {
    let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]});
    ResponseDoc { status: 200, body: Arc::new(Body::measured(body)), headers: Vec::new() }
}

/// A chunk as the pump makes one: its value, and the text it was read from.
fn chunk(content: &str) -> Arc<Body> {
    let value = json!({"choices": [{"index": 0, "delta": {"content": content}}]});
    Arc::new(Body::with_json(value.clone(), value.to_string()))
}

/// The decisions recorded so far, as `plugin:hook:decision`.
fn decisions(plugins: RequestPlugins<Fake>) -> Vec<String> {
    let (records, _) = plugins.finish(Hook::LogSuccess);
    records.iter().map(|r| format!("{}:{}:{}", r.plugin, r.hook, r.decision)).collect()
}

fn ends(plugin: &Fake) -> Vec<(Hook, CallEnd)> {
    plugin.ends.lock().unwrap().clone()
}

#[tokio::test]
async fn pre_call_runs_in_order_and_each_hook_sees_the_edits_before_it() {
    let scene = Scene::default();
    let a = scene.acting("a", Hook::PreCall, Act::Edit("+a"));
    let b = scene.acting("b", Hook::PreCall, Act::Edit("+b"));
    let c = scene.plugin("c", Script::default());
    let mut plugins = request_plugins(&[&a, &b, &c]);
    let mut req = request("hi");
    let result = plugins.pre_call(&mut req).await.unwrap();
    assert!(matches!(result, PreCallResult::Proceed { modified: true }));
    assert_eq!(last_text(&req), "hi+a+b");
    assert_eq!(scene.trail(), ["a:pre-call(hi)", "b:pre-call(hi+a)", "c:pre-call(hi+a+b)"]);
    assert_eq!(decisions(plugins), ["a:pre-call:modify", "b:pre-call:modify", "c:pre-call:proceed"]);
    assert_eq!(ends(&c), [(Hook::PreCall, CallEnd::Done)]);
}

#[tokio::test]
async fn a_plugin_without_the_hook_is_never_called() {
    let scene = Scene::default();
    let a = scene.plugin("a", Script { hooks: &[Hook::PostCallSuccess], ..Script::default() });
    let b = scene.plugin("b", Script::default());
    let mut plugins = request_plugins(&[&a, &b]);
    plugins.pre_call(&mut request("hi")).await.unwrap();
    assert_eq!(scene.trail(), ["b:pre-call(hi)"]);
}

#[tokio::test]
async fn the_first_rejection_wins_and_later_plugins_are_not_called() {
    let scene = Scene::default();
    let a = scene.plugin("a", Script::default());
    let b = scene.acting("b", Hook::PreCall, Act::Reject(403));
    let c = scene.acting("c", Hook::PreCall, Act::Reject(400));
    let mut plugins = request_plugins(&[&a, &b, &c]);
    let Err(error) = plugins.pre_call(&mut request("hi")).await else { panic!("b rejects") };
    assert_eq!((error.status, error.rejected_by.as_deref()), (403, Some("b")));
    assert_eq!(error.message, "b says no");
    assert_eq!(scene.trail(), ["a:pre-call(hi)", "b:pre-call(hi)"]);
    assert_eq!(ends(&b), [(Hook::PreCall, CallEnd::Rejected)]);
    assert!(ends(&c).is_empty());
    assert_eq!(decisions(plugins), ["a:pre-call:proceed", "b:pre-call:reject"]);
}

#[tokio::test]
async fn respond_ends_the_pre_call_phase_with_the_plugin_s_answer() {
    let scene = Scene::default();
    let a = scene.acting("a", Hook::PreCall, Act::Respond("cached"));
    let b = scene.plugin("b", Script::default());
    let mut plugins = request_plugins(&[&a, &b]);
    match plugins.pre_call(&mut request("hi")).await.unwrap() {
        PreCallResult::Respond { text, plugin } => assert_eq!((text.as_str(), plugin.as_str()), ("cached", "a")),
        PreCallResult::Proceed { .. } => panic!("a answers"),
    }
    assert_eq!(scene.trail(), ["a:pre-call(hi)"]);
}

/// A guarding hook's fault, by whom it is charged to and the plugin's `on_error`: what the
/// client gets (`None`: the request goes on), and what is recorded.
#[tokio::test]
async fn a_fault_in_a_guarding_hook_follows_its_cause_then_on_error() {
    let cases = [
        (FaultCause::Plugin, OnError::FailOpen, None),
        (FaultCause::Plugin, OnError::FailClosed, Some((503, "plugin_error"))),
        (FaultCause::Outside, OnError::FailOpen, None),
        (FaultCause::Outside, OnError::FailClosed, Some((503, "plugin_error"))),
        // The input caused it: refused whatever on_error says, or a client could switch the
        // check off by padding.
        (FaultCause::Input, OnError::FailOpen, Some((400, "plugin_check_failed"))),
        (FaultCause::Input, OnError::FailClosed, Some((400, "plugin_check_failed"))),
        // The machine was too busy: retryable overload, whatever on_error says.
        (FaultCause::Load, OnError::FailOpen, Some((503, "overloaded"))),
    ];
    for (cause, on_error, expected) in cases {
        let scene = Scene::default();
        let acts = vec![(Hook::PreCall, Act::Fault(FaultKind::OutOfFuel))];
        let a = scene.plugin("a", Script { acts, on_error, cause, ..Script::default() });
        let b = scene.plugin("b", Script::default());
        let mut plugins = request_plugins(&[&a, &b]);
        let result = plugins.pre_call(&mut request("hi")).await;
        let got = result.as_ref().err().map(|e| (e.status, e.code.clone().unwrap_or_default()));
        let expected = expected.map(|(status, code)| (status, code.to_owned()));
        assert_eq!(got, expected, "{cause:?} {on_error:?}");
        assert_eq!(ends(&a), [(Hook::PreCall, CallEnd::Faulted(FaultKind::OutOfFuel, cause))]);
        // b runs only when the request goes on.
        assert_eq!(scene.trail().len(), if expected.is_none() { 2 } else { 1 }, "{cause:?} {on_error:?}");
        let (records, _) = plugins.finish(Hook::LogSuccess);
        assert_eq!((records[0].decision, records[0].cause), ("fault:out_of_fuel", Some(cause.name())));
    }
}

#[tokio::test]
async fn a_quarantined_plugin_is_not_called_and_refuses_only_when_fail_closed() {
    for (on_error, refused) in [(OnError::FailOpen, false), (OnError::FailClosed, true)] {
        let scene = Scene::default();
        let a = scene.plugin("a", Script { quarantined: true, on_error, ..Script::default() });
        let mut plugins = request_plugins(&[&a]);
        let result = plugins.pre_call(&mut request("hi")).await;
        assert_eq!(result.err().map(|e| e.status), refused.then_some(503));
        assert!(scene.trail().is_empty());
        assert!(ends(&a).is_empty(), "a skipped call is not a call");
        assert_eq!(decisions(plugins), ["a:pre-call:quarantined"]);
    }
}

#[tokio::test]
async fn no_free_instance_is_overload_in_a_guarding_hook_and_nothing_in_an_observing_one() {
    let scene = Scene::default();
    let a = scene.plugin(
        "a",
        Script {
            acts: vec![(Hook::PreCall, Act::Overload), (Hook::PostCallFailure, Act::Overload)],
            ..Script::default()
        },
    );
    let mut plugins = request_plugins(&[&a]);
    let error = plugins.pre_call(&mut request("hi")).await.err().expect("overload refuses");
    assert_eq!((error.status, error.retry_after), (503, Some(1)));
    let upstream_error = ApiError::new(502, "the upstream failed");
    let kept = plugins.post_call_failure(&request("hi"), upstream_error).await;
    assert_eq!(kept.status, 502, "post-call-failure only observes");
    assert!(ends(&a).is_empty(), "overload is never the plugin's fault");
}

#[tokio::test]
async fn post_call_failure_faults_never_make_things_worse_and_the_first_rejection_replaces_the_error() {
    let scene = Scene::default();
    let acts = vec![(Hook::PostCallFailure, Act::Fault(FaultKind::Trap))];
    let a = scene.plugin("a", Script { acts, on_error: OnError::FailClosed, ..Script::default() });
    let b = scene.acting("b", Hook::PostCallFailure, Act::Reject(429));
    let c = scene.acting("c", Hook::PostCallFailure, Act::Reject(400));
    let mut plugins = request_plugins(&[&a, &b, &c]);
    let error = plugins.post_call_failure(&request("hi"), ApiError::new(502, "the upstream failed")).await;
    assert_eq!((error.status, error.rejected_by.as_deref()), (429, Some("b")));
    assert_eq!(scene.trail(), ["a:post-call-failure", "b:post-call-failure"]);

    let scene = Scene::default();
    let acts = vec![(Hook::PostCallFailure, Act::Fault(FaultKind::Trap))];
    let a = scene.plugin("a", Script { acts, on_error: OnError::FailClosed, ..Script::default() });
    let mut plugins = request_plugins(&[&a]);
    let error = plugins.post_call_failure(&request("hi"), ApiError::new(502, "the upstream failed")).await;
    assert_eq!((error.status, error.message.as_str()), (502, "the upstream failed"));
}

#[tokio::test]
async fn post_call_success_edits_add_up_and_a_later_header_of_the_same_name_wins() {
    let scene = Scene::default();
    let a = scene.acting("a", Hook::PostCallSuccess, Act::Edit("-1"));
    let b = scene.acting("b", Hook::PostCallSuccess, Act::Edit("-2"));
    let mut plugins = request_plugins(&[&a, &b]);
    let mut response = answer();
    response.headers.push(("x-edited-by".into(), "upstream".into()));
    plugins.post_call_success(&request("hi"), &mut response).await.unwrap();
    assert_eq!(response.headers, [("x-edited-by".to_owned(), "b-2".to_owned())]);
}

#[tokio::test]
async fn a_stream_chunk_passes_each_plugin_s_replacement_on_and_a_drop_stops_it() {
    let scene = Scene::default();
    let a = scene.acting("a", Hook::StreamChunk, Act::Edit("[masked]"));
    let b = scene.plugin("b", Script::default());
    let mut plugins = request_plugins(&[&a, &b]);
    let forwarded = plugins.stream_chunk(&request("hi"), chunk("a@b.c")).await.unwrap().expect("forwarded");
    assert_eq!(forwarded.value()["choices"][0]["delta"]["content"], "[masked]");
    assert_eq!(scene.trail(), ["a:stream-chunk(a@b.c)", "b:stream-chunk([masked])"]);

    let scene = Scene::default();
    let a = scene.acting("a", Hook::StreamChunk, Act::Drop);
    let b = scene.plugin("b", Script::default());
    let mut plugins = request_plugins(&[&a, &b]);
    assert!(plugins.stream_chunk(&request("hi"), chunk("x")).await.unwrap().is_none());
    assert_eq!(scene.trail(), ["a:stream-chunk(x)"]);
    // Every call of a stream is one decision record, counted.
    plugins.stream_chunk(&request("hi"), chunk("y")).await.unwrap();
    let (records, _) = plugins.finish(Hook::LogSuccess);
    assert_eq!((records.len(), records[0].calls), (1, 2));
}

#[tokio::test]
async fn a_chunk_a_failed_call_never_gave_back_passes_on_as_it_came() {
    // A fault of a fail-open plugin passes the chunk on unedited, even when the call kept
    // the chunk it was lent (a call cancelled at its deadline leaves it in the store):
    // the runner reads it again from the text it kept. Whether the chunk has that text
    // or not (an earlier plugin's edit has none) makes no difference to the next plugin.
    for (first, content) in [(Act::Proceed, "a@b.c"), (Act::Edit("[masked]"), "[masked]")] {
        let scene = Scene::default();
        let editor = scene.acting("editor", Hook::StreamChunk, first);
        let faulty = scene.acting("faulty", Hook::StreamChunk, Act::Fault(FaultKind::Trap));
        let last = scene.plugin("last", Script::default());
        let mut plugins = request_plugins(&[&editor, &faulty, &last]);
        let forwarded = plugins.stream_chunk(&request("hi"), chunk("a@b.c")).await.unwrap().expect("forwarded");
        assert_eq!(forwarded.value()["choices"][0]["delta"]["content"], content);
        assert_eq!(
            scene.trail(),
            [
                "editor:stream-chunk(a@b.c)".to_owned(),
                format!("faulty:stream-chunk({content})"),
                format!("last:stream-chunk({content})")
            ]
        );
    }
}

/// A future that never completes and says when it is dropped: the upstream call, as the
/// runner sees it.
struct Upstream(Arc<AtomicUsize>);

impl Drop for Upstream {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn endless_upstream(dropped: &Arc<AtomicUsize>) -> impl Future<Output = u32> {
    let guard = Upstream(Arc::clone(dropped));
    async move {
        let _guard = guard;
        std::future::pending::<u32>().await
    }
}

/// The runner never hangs a test: a call that should end and does not fails it.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future).await.expect("the runner came to a decision")
}

#[tokio::test]
async fn a_moderation_rejection_cancels_the_upstream_and_the_other_moderation_calls() {
    let scene = Scene::default();
    let a = scene.acting("a", Hook::Moderation, Act::Hang);
    let b = scene.acting("b", Hook::Moderation, Act::After(Duration::from_millis(20), Box::new(Act::Reject(400))));
    let mut plugins = request_plugins(&[&a, &b]);
    let dropped = Arc::new(AtomicUsize::new(0));
    let result = within(plugins.moderate_while(&request("hi"), HookSet::default(), endless_upstream(&dropped))).await;
    assert_eq!(result.err().map(|e| (e.status, e.rejected_by)), Some((400, Some("b".into()))));
    assert_eq!(dropped.load(Ordering::Relaxed), 1, "the upstream call was dropped");
    assert!(ends(&a).is_empty(), "a's call was cancelled, not ended");
}

#[tokio::test]
async fn moderation_hooks_run_concurrently_with_each_other_and_the_upstream() {
    let scene = Scene::default();
    // Each hook waits for the other: run one after the other, they would never finish.
    let meet = Arc::new(Barrier::new(2));
    let a = scene.acting("a", Hook::Moderation, Act::Meet(Arc::clone(&meet), Box::new(Act::Proceed)));
    let b = scene.acting("b", Hook::Moderation, Act::Meet(meet, Box::new(Act::Proceed)));
    let mut plugins = request_plugins(&[&a, &b]);
    let answer = within(plugins.moderate_while(&request("hi"), HookSet::default(), async { 7 })).await;
    assert_eq!(answer.unwrap(), 7);
    // Recorded as they finish: in either order.
    let mut recorded = decisions(plugins);
    recorded.sort();
    assert_eq!(recorded, ["a:moderation:proceed", "b:moderation:proceed"]);
}

#[tokio::test]
async fn an_answer_waits_for_a_slower_moderation_and_its_rejection_still_wins() {
    let scene = Scene::default();
    let slow_no = Act::After(Duration::from_millis(50), Box::new(Act::Reject(451)));
    let a = scene.acting("a", Hook::Moderation, slow_no);
    let mut plugins = request_plugins(&[&a]);
    let result = within(plugins.moderate_while(&request("hi"), HookSet::default(), async { 7 })).await;
    assert_eq!(result.err().map(|e| e.status), Some(451));
}

#[tokio::test]
async fn a_moderation_fault_follows_the_same_rules_as_pre_call() {
    let scene = Scene::default();
    let acts = vec![(Hook::Moderation, Act::Fault(FaultKind::Deadline))];
    let a = scene.plugin("a", Script { acts, cause: FaultCause::Input, ..Script::default() });
    let mut plugins = request_plugins(&[&a]);
    let dropped = Arc::new(AtomicUsize::new(0));
    let result = within(plugins.moderate_while(&request("hi"), HookSet::default(), endless_upstream(&dropped))).await;
    assert_eq!(result.err().map(|e| e.status), Some(400));
    assert_eq!(dropped.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn instances_go_back_as_soon_as_no_later_hook_needs_them() {
    let scene = Scene::default();
    let early = scene.plugin("early", Script { hooks: &[Hook::PreCall, Hook::Moderation], ..Script::default() });
    let late = scene.plugin("late", Script { hooks: &[Hook::Moderation, Hook::StreamChunk], ..Script::default() });
    let mut plugins = request_plugins(&[&early, &late]);
    let after: HookSet = [Hook::StreamChunk, Hook::StreamEnd].into_iter().collect();
    within(plugins.moderate_while(&request("hi"), after, async {})).await.unwrap();
    assert_eq!(early.released.load(Ordering::Relaxed), 1, "released when its moderation was done");
    assert_eq!(late.released.load(Ordering::Relaxed), 0, "kept for the stream");
    plugins.release_unless(HookSet::default());
    assert_eq!(late.released.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn finish_hands_the_logging_queue_the_plugins_that_log() {
    let scene = Scene::default();
    let logs = scene.plugin("logs", Script { hooks: &[Hook::LogSuccess], ..Script::default() });
    let guards = scene.plugin("guards", Script { hooks: &[Hook::PreCall], ..Script::default() });
    let plugins = request_plugins(&[&logs, &guards]);
    let (_, logging) = plugins.finish(Hook::LogSuccess);
    assert_eq!(logging.iter().map(|(p, _)| p.name).collect::<Vec<_>>(), ["logs"]);
}
