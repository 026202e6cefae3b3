//! Whom a plugin fault is charged to: the plugin, or the input it was given.
//!
//! A client can make any sandboxed check fail on purpose: pad a prompt until the guest runs
//! out of fuel or time, or craft content that drives it into a bug. If such a fault counted
//! like any other, the client could switch a guardrail off: `fail-open` would skip it for
//! that request, and a few repeats would quarantine it for everyone.
//!
//! So when a hook faults (in a way its input could have caused), hookgate asks the plugin
//! a second question: does the same hook work on a harmless input? It runs the hook once
//! more in a fresh, throwaway instance, with a scratch kv store and a minimal request
//! (after the hooks that would precede it, as a real request would), under the plugin's
//! limits.
//!
//! - The probe faults too: the plugin is broken ([`FaultCause::Plugin`]). The fault counts
//!   towards quarantine and the plugin's `on_error` applies.
//! - The probe works: the input caused the fault ([`FaultCause::Input`]). It never counts
//!   towards quarantine, and a guarding hook refuses what it could not check (see
//!   [`crate::error::ApiError::check_failed`]) whatever `on_error` says.
//! - The probe cannot run (no free instance slot), or is itself cut off by its deadline
//!   while it mostly waited for a CPU: no verdict, charged to the input too: refusing is
//!   the safe answer, and nothing is counted against the plugin on a guess (a client that
//!   loads the machine must not make a working guardrail look broken).
//! - A probe gets three times the plugin's `timeout_ms`, so that a busy machine does not
//!   make a working plugin look broken. And a call cut off by its deadline while the guest
//!   ran for less than a quarter of that time (it was waiting for a CPU, not computing,
//!   nor blocked in a host call) did not run out of work but out of time: on a plugin that
//!   works, that is the machine's load ([`FaultCause::Load`]), answered as the proxy's
//!   overload (503, retryable), not held against the input or the plugin. A guest that
//!   gave up after a kv or outbound answer the busy proxy heard too late
//!   ([`crate::capabilities::lateness`]) faults as a deadline and is charged by the same
//!   rule; only Redis's silence is `kv_unavailable`, an outage outside the plugin, where
//!   `on_error` applies, and a service's own slowness follows `on_error` as well.
//!
//! One probe runs at a time per (plugin, hook) and its verdict stands for
//! [`HealthChecks::FRESH`]: a burst of faults costs one probe, and a client sending bad
//! input over and over costs the plugin one small call every couple of seconds.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::log_record::LogRecord;
use crate::content::{Body, RequestDoc, ResponseDoc};
use crate::plugins::registry::{ActivePlugin, HealthChecks};
use crate::plugins::{CallStats, ChunkLoan, ContractVersion, Fault, FaultCause, FaultKind, HookError, PluginInstance};
use crate::types::{CallInfo, CallType, Failure, Hook, KeyInfo};
use crate::upstream::answers;

/// What the probe's harmless request looks like: the faulting request's endpoint and
/// model, so the plugin sees the same kind of call.
#[derive(Debug, Clone)]
pub(crate) struct ProbeShape {
    pub call_type: CallType,
    pub model: String,
}

impl ProbeShape {
    /// The probe of a request on `call_type`'s endpoint to `configured`, a model the
    /// config serves, or else to [`PROBE_MODEL`]: nothing the client wrote may reach the
    /// probe, or a model name padded past the plugin's budget would make the probe fault
    /// as well, and the client's fault would be charged to the plugin (skipped under
    /// `fail-open`, quarantined for everyone after a few).
    pub(crate) fn new(call_type: CallType, configured: Option<&str>) -> Self {
        Self { call_type, model: configured.unwrap_or(PROBE_MODEL).to_owned() }
    }
}

/// The model a probe names when the request's is not one the config serves.
pub const PROBE_MODEL: &str = "hookgate-probe";

/// The text of every harmless input.
const HARMLESS: &str = "Hello";

/// Who `fault`, raised by `active`'s `hook` (whose call `stats` describe), is charged to.
pub(crate) async fn cause_of(
    active: &ActivePlugin,
    hook: Hook,
    fault: &Fault,
    stats: Option<CallStats>,
    shape: &ProbeShape,
) -> FaultCause {
    if fault.kind == FaultKind::KvUnavailable {
        return FaultCause::Outside;
    }
    if !fault.kind.may_be_the_inputs() {
        return FaultCause::Plugin;
    }
    let mut verdict = active.checks.of(hook).lock().await;
    let healthy = match *verdict {
        Some((at, healthy)) if at.elapsed() < HealthChecks::FRESH => healthy,
        _ => {
            // Boxed: the probe's future (a throwaway instance and a call into it) is
            // about 2.7 KB, and inline it made every hook call's future that large,
            // fault or not; each await moves a future, so every call copied it.
            let healthy = Box::pin(probe(active, hook, shape)).await;
            *verdict = Some((Instant::now(), healthy));
            healthy
        }
    };
    charge(healthy, fault, stats)
}

/// The verdict, once it is known whether the plugin handles a harmless input.
fn charge(healthy: bool, fault: &Fault, stats: Option<CallStats>) -> FaultCause {
    match (healthy, starved(fault, stats)) {
        (false, _) => FaultCause::Plugin,
        (true, true) => FaultCause::Load,
        (true, false) => FaultCause::Input,
    }
}

/// Whether `fault` ran out of time while the guest mostly waited for a CPU: cut off by its
/// deadline, not in a host call, seen running for less than a quarter of the call.
fn starved(fault: &Fault, stats: Option<CallStats>) -> bool {
    fault.kind == FaultKind::Deadline
        && !fault.in_host_call
        && stats.is_some_and(|stats| stats.running * 4 < stats.elapsed)
}

/// Whether a probe's call says the plugin is broken: it faulted, and not for want of a
/// CPU. A probe starved on a busy machine, or refused a slot, is no verdict on the
/// plugin: a client that loads the proxy must not make a working guardrail look broken
/// (its faults then count towards quarantine, and `fail-open` skips it).
fn broke<T>(result: &Result<T, HookError>, stats: Option<CallStats>) -> bool {
    matches!(result, Err(HookError::Fault(fault)) if !starved(fault, stats))
}

/// Runs `hook` of `active` on a harmless input in a throwaway instance: true unless a
/// call faulted. A rejection is an answer, so it counts as working.
async fn probe(active: &ActivePlugin, hook: Hook, shape: &ProbeShape) -> bool {
    let id: Arc<str> = format!("probe-{}-{}", active.name(), hook.name()).into();
    let mut instance = PluginInstance::probe(Arc::clone(&active.plugin), Arc::clone(&id));
    let (info, request) = harmless_request(&id, shape);
    let answer = answers::completion(shape.call_type, &answers::id(shape.call_type, &id), &shape.model, HARMLESS, 1);
    let response = ResponseDoc { status: 200, body: Arc::new(Body::measured(answer)), headers: vec![] };
    let chunk = || {
        let chunks =
            answers::chunks(shape.call_type, &answers::id(shape.call_type, &id), &shape.model, &[HARMLESS], None);
        // The first content chunk (chat streams open with a role-only chunk).
        let index = usize::from(shape.call_type == CallType::ChatCompletion);
        Arc::new(Body::measured(chunks[index.min(chunks.len() - 1)].clone()))
    };
    // A real request reaches every hook after pre-call: so does the probe (when the
    // plugin has one; a pre-call rejection is an answer, and the probe goes on).
    if !matches!(hook, Hook::PreCall | Hook::LogSuccess | Hook::LogFailure) {
        let result = instance.pre_call(&info, &request).await;
        if broke(&result, instance.last_call()) {
            return false;
        }
    }
    let result = match hook {
        Hook::PreCall => instance.pre_call(&info, &request).await.map(drop),
        Hook::Moderation => instance.moderation(&info, &request).await,
        Hook::PostCallSuccess => instance.post_call_success(&info, &request, &response).await.map(drop),
        Hook::PostCallFailure => {
            let failure = Failure {
                status: 500,
                error_type: "api_error".into(),
                message: "the upstream failed".into(),
                code: None,
                rejected_by: None,
            };
            instance.post_call_failure(&info, &request, &failure).await
        }
        Hook::StreamChunk | Hook::StreamEnd => {
            let result = instance.stream_chunk(&info, &request, &ChunkLoan::new(chunk())).await.map(drop);
            match hook {
                Hook::StreamChunk => result,
                _ if broke(&result, instance.last_call()) => return false,
                _ => instance.stream_end(&info, &request, HARMLESS).await,
            }
        }
        Hook::LogSuccess | Hook::LogFailure => {
            let mut record = LogRecord::start(&info, &request, std::time::Duration::ZERO);
            if hook == Hook::LogSuccess {
                record.answered(&response);
            } else {
                record.failed(&crate::error::ApiError::new(500, "the upstream failed"));
            }
            let with_0_1 = active.plugin.contract() == ContractVersion::V0_1;
            let input = record.finish(Vec::new(), usize::MAX, with_0_1);
            if hook == Hook::LogSuccess {
                instance.log_success(&input).await
            } else {
                instance.log_failure(&input).await
            }
        }
    };
    // No verdict (overloaded, starved) is taken as working: the caller then refuses the
    // input's request and counts nothing against the plugin on a guess. Remembered only
    // for the usual while, like any verdict.
    !broke(&result, instance.last_call())
}

/// A minimal valid request for `shape`'s endpoint, from a key no client has.
fn harmless_request(id: &Arc<str>, shape: &ProbeShape) -> (CallInfo, RequestDoc) {
    let body = match shape.call_type {
        CallType::ChatCompletion => json!({"model": shape.model, "messages": [{"role": "user", "content": HARMLESS}]}),
        CallType::TextCompletion => json!({"model": shape.model, "prompt": HARMLESS}),
        CallType::Embedding => json!({"model": shape.model, "input": HARMLESS}),
    };
    let key = Arc::new(KeyInfo {
        alias: Some(PROBE_ALIAS.into()),
        id: "0".repeat(64),
        user_id: None,
        team_id: None,
        metadata: "{}".into(),
    });
    let info =
        CallInfo { id: Arc::clone(id), call_type: shape.call_type, key, stream: false, lowered: Default::default() };
    let serde_json::Value::Object(fields) = body else { unreachable!("the harmless body is an object") };
    let size = serde_json::to_string(&fields).map_or(0, |json| json.len());
    let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    (info, RequestDoc::new(fields, size, headers))
}

/// The key alias probe calls carry, so a plugin's own logs can tell them apart.
pub const PROBE_ALIAS: &str = "hookgate-probe";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn fault(kind: FaultKind, in_host_call: bool) -> Fault {
        Fault { in_host_call, ..Fault::new("p", Some(Hook::PreCall), "pre-call", kind, "x") }
    }

    fn ran(running_ms: u64, elapsed_ms: u64) -> Option<CallStats> {
        Some(CallStats {
            elapsed: Duration::from_millis(elapsed_ms),
            fuel_used: 1,
            instantiated: true,
            running: Duration::from_millis(running_ms),
        })
    }

    #[test]
    fn a_plugin_that_fails_a_harmless_input_too_is_at_fault_whatever_happened() {
        for fault in
            [fault(FaultKind::Trap, false), fault(FaultKind::Deadline, false), fault(FaultKind::Deadline, true)]
        {
            assert_eq!(charge(false, &fault, ran(1, 100)), FaultCause::Plugin);
        }
    }

    #[test]
    fn a_probe_that_only_waited_for_a_cpu_or_a_slot_says_nothing_against_the_plugin() {
        let faulted = |kind, in_host_call| Err::<(), _>(HookError::from(fault(kind, in_host_call)));
        // Cut off after running 10 ms of 300: the machine was busy, not the plugin broken.
        assert!(!broke(&faulted(FaultKind::Deadline, false), ran(10, 300)));
        // Running to its deadline, blocked in a host call, or any other fault: broken.
        assert!(broke(&faulted(FaultKind::Deadline, false), ran(290, 300)));
        assert!(broke(&faulted(FaultKind::Deadline, true), ran(0, 300)));
        assert!(broke(&faulted(FaultKind::Trap, false), ran(1, 300)));
        assert!(broke(&faulted(FaultKind::Deadline, false), None), "no stats: no excuse");
        let overloaded = Err::<(), _>(HookError::Overloaded(crate::plugins::Overloaded::no_slot("p", Duration::ZERO)));
        assert!(!broke(&overloaded, None));
        assert!(!broke(&Ok(()), None));
    }

    #[test]
    fn a_working_plugin_s_fault_is_the_input_s_unless_it_mostly_waited_for_a_cpu() {
        // Computing all the way to its deadline: the input made it work that long.
        assert_eq!(charge(true, &fault(FaultKind::Deadline, false), ran(95, 100)), FaultCause::Input);
        // Seen running for 10 ms of 100: the machine was busy.
        assert_eq!(charge(true, &fault(FaultKind::Deadline, false), ran(10, 100)), FaultCause::Load);
        // Blocked in a host call (a sleep the input asked for): the input's.
        assert_eq!(charge(true, &fault(FaultKind::Deadline, true), ran(0, 100)), FaultCause::Input);
        // Deterministic kinds never depend on the load.
        for kind in [FaultKind::OutOfFuel, FaultKind::MemoryLimit, FaultKind::Trap, FaultKind::BadOutput] {
            assert_eq!(charge(true, &fault(kind, false), ran(1, 100)), FaultCause::Input, "{kind}");
        }
    }
}
