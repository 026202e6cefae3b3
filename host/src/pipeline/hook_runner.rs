//! One request's plugins: calls each lifecycle point's hooks in order, turns outcomes into
//! what the pipeline does next, applies `on_error` to faults, keeps the circuit breaker
//! informed, and records every decision for the logging payload.
//!
//! It runs on any [`HookPlugin`]: the registry's plugins in production, fakes in its
//! tests (`hook_runner/tests.rs`).

use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::attribution::ProbeShape;
use super::plugin_calls::{Chosen, HookInstance, HookPlugin};
use super::recent::RecentEvents;
use super::selection::Selection;
use crate::content::{Body, RequestDoc, ResponseDoc};
use crate::error::ApiError;
use crate::plugins::loan::Kept;
use crate::plugins::registry::{ActivePlugin, CallEnd, PluginSet, QuarantinePolicy};
use crate::plugins::{
    CallStats, ChunkDecision, ChunkLoan, Fault, FaultCause, HookError, OnError, Overloaded, PostCallDecision,
    PreCallDecision, Rejection, Teardown,
};
use crate::traces::{HookSpan, RequestTrace};
use crate::types::{CallInfo, DecisionRecord, Hook, HookSet};

/// A plugin and the config it runs with for a request (when its team's or key's, not its
/// own): what the logging queue needs to make it an instance later.
pub(crate) type WithConfig<P> = (Arc<P>, Option<Arc<str>>);

/// A plugin of this request and its per-request instance.
pub(crate) struct Slot<P: HookPlugin> {
    pub active: Arc<P>,
    pub instance: P::Instance,
    /// The plugin's hooks this request calls.
    pub hooks: HookSet,
    /// The config its instances run with, when not the plugin's own.
    pub config: Option<Arc<str>>,
}

impl<P: HookPlugin> Slot<P> {
    /// True when this request calls the plugin's `hook`.
    fn implements(&self, hook: Hook) -> bool {
        self.hooks.contains(hook)
    }
}

/// The decisions of one request so far, timed from its arrival.
struct DecisionLog {
    records: Vec<DecisionRecord>,
    received: Instant,
    /// The console's ring of recent decisions, when the pipeline keeps one.
    recent: Option<Arc<RecentEvents>>,
    request_id: Arc<str>,
    /// The request's trace: each hook call becomes a span of it.
    trace: RequestTrace,
}

/// The result of the pre-call phase.
pub(crate) enum PreCallResult {
    /// Go on with the request as it now stands; `modified` when a hook edited it.
    Proceed { modified: bool },
    /// Answer with this text; the plugin that said so.
    Respond { text: String, plugin: String },
}

/// What a hook call came to, before `on_error` is applied.
enum Called<T> {
    Done(T),
    Rejected(Rejection),
    /// A fault, and whom it is charged to.
    Faulted(Box<Fault>, FaultCause),
    /// No instance slot came free: the proxy's overload.
    Overloaded(Overloaded),
    Quarantined,
}

/// When a hook call started and, if it ran, the instance's record of it.
struct Spent {
    started: Instant,
    stats: Option<CallStats>,
}

/// The plugins of one request.
pub(crate) struct RequestPlugins<P: HookPlugin = ActivePlugin> {
    /// What every hook is told about the request.
    info: CallInfo,
    slots: Vec<Slot<P>>,
    decisions: DecisionLog,
    policy: QuarantinePolicy,
    /// What a probe of a faulting hook looks like (see `attribution`).
    shape: ProbeShape,
}

impl RequestPlugins<ActivePlugin> {
    /// One lazily instantiated instance per plugin of `set` that `selection` runs, for
    /// the request `info` that arrived at `received`, whose faults are probed as `shape`.
    pub fn new(
        set: &PluginSet,
        info: &CallInfo,
        shape: ProbeShape,
        received: Instant,
        policy: QuarantinePolicy,
        selection: &Selection<'_>,
    ) -> Self {
        let plugins = set.iter().filter_map(|active| Some((Arc::clone(active), selection.choose(active)?)));
        Self::of(plugins, info, shape, received, policy)
    }
}

impl<P: HookPlugin> RequestPlugins<P> {
    /// One lazily instantiated instance per plugin of `plugins` (in the order given: the
    /// order hooks run in, each as chosen for this request), for the request `info` that
    /// arrived at `received`, whose faults are probed as `shape`.
    pub fn of(
        plugins: impl IntoIterator<Item = (Arc<P>, Chosen)>,
        info: &CallInfo,
        shape: ProbeShape,
        received: Instant,
        policy: QuarantinePolicy,
    ) -> Self {
        let slots = plugins
            .into_iter()
            .map(|(active, Chosen { hooks, config })| Slot {
                instance: active.instance(Arc::clone(&info.id), config.clone()),
                hooks: hooks.intersection(active.hooks()),
                config,
                active,
            })
            .collect();
        let decisions = DecisionLog {
            records: Vec::new(),
            received,
            recent: None,
            request_id: Arc::clone(&info.id),
            trace: RequestTrace::default(),
        };
        Self { info: info.clone(), slots, decisions, policy, shape }
    }

    /// Records each hook call as a span of `trace`; ends `trace` when the request is done.
    pub fn with_trace(mut self, trace: RequestTrace) -> Self {
        self.decisions.trace = trace;
        self
    }

    /// The request's trace.
    pub fn trace(&self) -> &RequestTrace {
        &self.decisions.trace
    }

    /// Also keeps this request's decisions (all but pass-through ones) in `recent`.
    pub fn with_recent(mut self, recent: &Arc<RecentEvents>) -> Self {
        self.decisions.recent = Some(Arc::clone(recent));
        self
    }

    /// What every hook is told about the request.
    pub fn info(&self) -> &CallInfo {
        &self.info
    }

    /// True when a plugin of the request implements a logging hook (so the logging
    /// payload needs the request's content).
    pub fn logs(&self) -> bool {
        self.implements(Hook::LogSuccess) || self.implements(Hook::LogFailure)
    }

    /// The names of the request's plugins, in the order they run.
    pub fn names(&self) -> Vec<String> {
        self.slots.iter().map(|slot| slot.active.name().to_owned()).collect()
    }

    /// True when a plugin of the request implements `hook`.
    pub fn implements(&self, hook: Hook) -> bool {
        self.slots.iter().any(|slot| slot.implements(hook))
    }

    /// Releases the instance of every plugin that implements none of `still_to_come`:
    /// the request has no more use for it, so its pool slot goes back now rather than
    /// after the upstream wait or the stream. (`post-call-failure` and the logging hooks
    /// never keep an instance alive: they get a fresh one when they run.)
    /// Their teardown runs on a task of its own ([`Teardown::later`]).
    pub fn release_unless(&mut self, still_to_come: HookSet) {
        let mut teardown = Teardown::default();
        for slot in &mut self.slots {
            if !slot.hooks.intersects(still_to_come) {
                slot.instance.release_into(&mut teardown);
            }
        }
        teardown.later();
    }

    /// Ends the request's hook calls: its decisions, and the plugins implementing `hook`
    /// with their configs (for the logging queue, which gives them fresh instances).
    /// Every instance is released here, returning its pool slot.
    pub fn finish(self, hook: Hook) -> (Vec<DecisionRecord>, Vec<WithConfig<P>>) {
        let (records, loggers, _instances) = self.finish_handing_over(hook);
        (records, loggers)
    }

    /// [`finish`](Self::finish), but the instances are handed to the caller, whose drop
    /// of them releases them: so that it can do that off the response's path.
    pub fn finish_handing_over(mut self, hook: Hook) -> (Vec<DecisionRecord>, Vec<WithConfig<P>>, Vec<P::Instance>) {
        self.decisions.trace.end();
        let mut loggers = Vec::new();
        let mut instances = Vec::with_capacity(self.slots.len());
        for slot in self.slots {
            if slot.implements(hook) {
                loggers.push((slot.active, slot.config));
            }
            instances.push(slot.instance);
        }
        (self.decisions.records, loggers, instances)
    }

    /// `pre-call`, sequential in priority order; each hook sees the previous one's edits,
    /// which are made to `request`.
    pub async fn pre_call(&mut self, request: &mut RequestDoc) -> Result<PreCallResult, ApiError> {
        let mut modified = false;
        for index in self.indices(Hook::PreCall) {
            let info = &self.info;
            let called = call(&mut self.slots[index], Hook::PreCall, &self.shape, async |instance| {
                instance.pre_call(info, request).await
            })
            .await;
            let label = |decision: &PreCallDecision| match decision {
                PreCallDecision::Proceed => "proceed",
                PreCallDecision::Modify(_) => "modify",
                PreCallDecision::Respond(_) => "respond",
            };
            match self.settle(index, Hook::PreCall, called, label)? {
                None | Some(PreCallDecision::Proceed) => {}
                Some(PreCallDecision::Modify(body)) => {
                    *request = request.with_body(body);
                    modified = true;
                }
                Some(PreCallDecision::Respond(text)) => {
                    return Ok(PreCallResult::Respond { text, plugin: self.slots[index].active.name().to_owned() })
                }
            }
        }
        Ok(PreCallResult::Proceed { modified })
    }

    /// Runs `moderation` hooks concurrently with `upstream`. The first rejection (or
    /// refusing fault) wins and drops `upstream`, which cancels the upstream request, and
    /// the other moderation calls, whose instances are then never used again. A plugin
    /// whose moderation is done and that implements none of `after` is released at once,
    /// so it does not hold a slot through the upstream wait. Returns once the upstream
    /// call is done and every moderation hook approved.
    pub async fn moderate_while<T>(
        &mut self,
        request: &RequestDoc,
        after: HookSet,
        upstream: impl std::future::Future<Output = T>,
    ) -> Result<T, ApiError> {
        let Self { info, slots, decisions, policy, shape } = self;
        if !slots.iter().any(|slot| slot.implements(Hook::Moderation)) {
            // Most requests: nothing to race against. Setting up the race for no one was
            // 2.4% of the no-plugin proxy's CPU.
            return Ok(upstream.await);
        }
        let (info, shape) = (&*info, &*shape);
        let mut pending: FuturesUnordered<_> = slots
            .iter_mut()
            .filter(|slot| slot.implements(Hook::Moderation))
            .map(|slot| async move {
                let called =
                    call(slot, Hook::Moderation, shape, async |instance| instance.moderation(info, request).await)
                        .await;
                if !slot.hooks.intersects(after) {
                    let mut teardown = Teardown::default();
                    slot.instance.release_into(&mut teardown);
                    teardown.later();
                }
                (Arc::clone(&slot.active), called)
            })
            .collect();
        let mut upstream = std::pin::pin!(upstream);
        let mut answer = None;
        while answer.is_none() || !pending.is_empty() {
            tokio::select! {
                result = &mut upstream, if answer.is_none() => answer = Some(result),
                Some((active, called)) = pending.next(), if !pending.is_empty() => {
                    settle_into(decisions, *policy, &*active, Hook::Moderation, called, |()| "proceed")?;
                }
            }
        }
        Ok(answer.expect("the loop ends only with an answer"))
    }

    /// `post-call-success`, sequential: may edit the response (its body, its headers),
    /// or reject.
    pub async fn post_call_success(
        &mut self,
        request: &RequestDoc,
        response: &mut ResponseDoc,
    ) -> Result<(), ApiError> {
        let checks = self.implements(Hook::PostCallSuccess);
        for index in self.indices(Hook::PostCallSuccess) {
            let info = &self.info;
            let current = &*response;
            let called = call(&mut self.slots[index], Hook::PostCallSuccess, &self.shape, async |instance| {
                instance.post_call_success(info, request, current).await
            })
            .await;
            let label = |decision: &PostCallDecision| match decision {
                PostCallDecision::Proceed => "proceed",
                PostCallDecision::Modify { .. } => "modify",
            };
            if let Some(PostCallDecision::Modify { body, headers }) =
                self.settle(index, Hook::PostCallSuccess, called, label)?
            {
                if let Some(body) = body {
                    response.body = Arc::new(body);
                }
                // Each name set replaces the response's headers of that name (the edit
                // holds one value per name, bounded in count and size).
                response.headers.retain(|(existing, _)| !headers.iter().any(|(name, _)| name == existing));
                response.headers.extend(headers);
            }
        }
        if checks {
            if let Some(body) = crate::content::without_logprobs(&response.body) {
                response.body = Arc::new(body);
            }
        }
        Ok(())
    }

    /// `stream-chunk` for one chunk, through every plugin in order: the chunk to forward,
    /// or `None` when a plugin dropped it.
    pub async fn stream_chunk(
        &mut self,
        request: &RequestDoc,
        chunk: Arc<Body>,
    ) -> Result<Option<Arc<Body>>, ApiError> {
        let mut chunk = chunk;
        for index in self.indices(Hook::StreamChunk) {
            let info = &self.info;
            // Lent, not shared, so that an edit need not copy it (plugins::loan).
            let kept = Kept::of(&chunk);
            let loan = ChunkLoan::new(chunk);
            let called = call(&mut self.slots[index], Hook::StreamChunk, &self.shape, async |instance| {
                instance.stream_chunk(info, request, &loan).await
            })
            .await;
            chunk = loan.into_chunk().unwrap_or_else(|| kept.into_chunk());
            let label = |decision: &ChunkDecision| match decision {
                ChunkDecision::Proceed => "proceed",
                ChunkDecision::Replace(_) => "replace",
                ChunkDecision::Drop => "drop",
            };
            match self.settle(index, Hook::StreamChunk, called, label)? {
                None | Some(ChunkDecision::Proceed) => {}
                Some(ChunkDecision::Replace(replacement)) => chunk = Arc::new(replacement),
                Some(ChunkDecision::Drop) => return Ok(None),
            }
        }
        Ok(Some(chunk))
    }

    /// `stream-end` with the assembled text (`StreamedAnswer::text`), in order; a
    /// rejection ends the stream with it.
    pub async fn stream_end(&mut self, request: &RequestDoc, text: &str) -> Result<(), ApiError> {
        for index in self.indices(Hook::StreamEnd) {
            let info = &self.info;
            let called = call(&mut self.slots[index], Hook::StreamEnd, &self.shape, async |instance| {
                instance.stream_end(info, request, text).await
            })
            .await;
            self.settle(index, Hook::StreamEnd, called, |()| "proceed")?;
        }
        Ok(())
    }

    /// `post-call-failure` for `error`: every plugin observes it; the first rejection
    /// replaces the error the client gets. Faults here never make things worse: the
    /// request is failing already, so they are counted and skipped whatever `on_error` says.
    pub async fn post_call_failure(&mut self, request: &RequestDoc, error: ApiError) -> ApiError {
        let failure = error.to_failure();
        for index in self.indices(Hook::PostCallFailure) {
            let info = &self.info;
            let called = call(&mut self.slots[index], Hook::PostCallFailure, &self.shape, async |instance| {
                instance.post_call_failure(info, request, &failure).await
            })
            .await;
            if let Err(replacement) = self.settle(index, Hook::PostCallFailure, called, |()| "proceed") {
                return replacement;
            }
        }
        error
    }

    fn indices(&self, hook: Hook) -> Vec<usize> {
        (0..self.slots.len()).filter(|&index| self.slots[index].implements(hook)).collect()
    }

    fn settle<T>(
        &mut self,
        index: usize,
        hook: Hook,
        called: (Called<T>, Spent),
        label: impl FnOnce(&T) -> &'static str,
    ) -> Result<Option<T>, ApiError> {
        let plugin = Arc::clone(&self.slots[index].active);
        settle_into(&mut self.decisions, self.policy, &*plugin, hook, called, label)
    }
}

/// Calls one hook on a slot unless its plugin is quarantined, timing it; a fault is
/// attributed (see `attribution`) before anything is decided about it.
async fn call<T, P: HookPlugin>(
    slot: &mut Slot<P>,
    hook: Hook,
    shape: &ProbeShape,
    run: impl AsyncFnOnce(&mut P::Instance) -> Result<T, HookError>,
) -> (Called<T>, Spent) {
    let started = Instant::now();
    if slot.active.is_quarantined() {
        return (Called::Quarantined, Spent { started, stats: None });
    }
    let result = run(&mut slot.instance).await;
    let stats = slot.instance.last_call().filter(|_| !matches!(result, Err(HookError::Overloaded(_))));
    let called = match result {
        Ok(value) => Called::Done(value),
        Err(HookError::Rejected(rejection)) => Called::Rejected(rejection),
        Err(HookError::Overloaded(overloaded)) => Called::Overloaded(overloaded),
        Err(HookError::Fault(fault)) => {
            let cause = slot.active.cause_of(hook, &fault, stats, shape).await;
            Called::Faulted(fault, cause)
        }
    };
    (called, Spent { started, stats })
}

/// Applies the rules to one hook call's result: records the decision and the plugin's
/// health, and says what the request does next:
/// - a rejection is the client's error (in any hook; in `post-call-failure` it replaces
///   the error);
/// - in a guarding hook ([`Hook::guards`]): a fault the input caused refuses the request
///   (the input could not be checked), one the machine's load caused is a retryable 503;
///   a fault of the plugin's own, or of its kv store, follows `on_error`; a full instance
///   pool is the proxy's overload (503); a quarantined plugin follows `on_error`;
/// - in an observing hook, none of those affects the request.
///
/// `Ok(None)` means the plugin has no effect on this call.
fn settle_into<T, P: HookPlugin>(
    decisions: &mut DecisionLog,
    policy: QuarantinePolicy,
    active: &P,
    hook: Hook,
    (called, spent): (Called<T>, Spent),
    label: impl FnOnce(&T) -> &'static str,
) -> Result<Option<T>, ApiError> {
    let plugin = active.name();
    let on_error = active.on_error();
    let record_call = |end| active.record_call(hook, end, spent.stats, policy);
    let guards = hook.guards();
    // What the console's recent decisions show: a fault's message, or a rejection's
    // (the plugin's own text, which the ring keeps only if the operator allows).
    let mut said: Option<String> = None;
    let (decision, cause, result) = match called {
        Called::Done(value) => {
            record_call(CallEnd::Done);
            (label(&value), None, Ok(Some(value)))
        }
        Called::Rejected(rejection) => {
            record_call(CallEnd::Rejected);
            let message = crate::text::for_log(&rejection.message, LOGGED_REJECTION_BYTES);
            tracing::info!(plugin, hook = hook.name(), status = rejection.status, %message, "request rejected");
            said = decisions.recent.as_ref().and_then(|recent| recent.message(&rejection.message, true));
            ("reject", None, Err(ApiError::rejected(plugin, &rejection)))
        }
        Called::Faulted(fault, cause) => {
            // A `failed` fault's message is the plugin's own text, like a rejection's.
            let plugins_own = fault.kind == crate::plugins::FaultKind::Failed;
            said = decisions.recent.as_ref().and_then(|recent| recent.message(&fault.message, plugins_own));
            record_call(CallEnd::Faulted(fault.kind, cause));
            let result = match (guards, cause, on_error) {
                (false, _, _) => {
                    fault.log(cause, "observing hook: the request is not affected");
                    Ok(None)
                }
                (true, FaultCause::Input, _) => {
                    fault.log(cause, "the input caused it: refused, as it could not be checked");
                    Err(ApiError::check_failed(&fault))
                }
                (true, FaultCause::Load, _) => {
                    fault.log(cause, "the machine was too busy for the check: refused as overload, retryable");
                    Err(ApiError::check_timed_out(&fault))
                }
                (true, _, OnError::FailOpen) => {
                    fault.log(cause, "fail-open: the plugin is skipped for this call");
                    Ok(None)
                }
                (true, _, OnError::FailClosed) => {
                    fault.log(cause, "fail-closed: the request fails");
                    Err(ApiError::plugin_fault(&fault))
                }
            };
            (fault.kind.decision(), Some(cause.name()), result)
        }
        Called::Overloaded(overloaded) => {
            tracing::warn!(plugin, hook = hook.name(), "{overloaded}");
            let result = if guards { Err(ApiError::overloaded(&overloaded)) } else { Ok(None) };
            ("overloaded", None, result)
        }
        Called::Quarantined => {
            let result = match (guards, on_error) {
                (true, OnError::FailClosed) => {
                    Err(ApiError::plugin_unavailable(plugin, "is quarantined after repeated faults"))
                }
                _ => Ok(None),
            };
            ("quarantined", None, result)
        }
    };
    decisions.trace.hook(HookSpan {
        plugin,
        hook: hook.name(),
        decision,
        cause,
        fuel: spent.stats.map_or(0, |stats| stats.fuel_used),
        instantiated: spent.stats.is_some_and(|stats| stats.instantiated),
        reuse: active.reuses_instances(),
        elapsed: spent.stats.map_or(std::time::Duration::ZERO, |stats| stats.elapsed),
    });
    if let Some(recent) = decisions.recent.as_ref().filter(|_| decision != "proceed") {
        recent.record(&decisions.request_id, plugin, hook, decision, cause, said);
    }
    decisions.record(plugin, hook, decision, cause, &spent);
    result
}

/// How much of a rejection message one log line holds.
const LOGGED_REJECTION_BYTES: usize = 512;

impl DecisionLog {
    fn record(&mut self, plugin: &str, hook: Hook, decision: &'static str, cause: Option<&'static str>, spent: &Spent) {
        let elapsed_ms = spent.stats.map_or(0.0, |stats| stats.elapsed.as_secs_f64() * 1000.0);
        if hook == Hook::StreamChunk {
            if let Some(existing) =
                self.records.iter_mut().find(|r| r.hook == hook.name() && r.plugin == plugin && r.decision == decision)
            {
                existing.calls += 1;
                existing.elapsed_ms += elapsed_ms;
                return;
            }
        }
        let started_ms = spent.started.saturating_duration_since(self.received).as_secs_f64() * 1000.0;
        self.records.push(DecisionRecord {
            plugin: plugin.to_owned(),
            hook: hook.name(),
            decision,
            cause,
            calls: 1,
            started_ms,
            elapsed_ms,
        });
    }
}

#[cfg(test)]
mod tests;
