//! One plugin instance per (plugin, request), and the hook calls made on it.
//!
//! The instance is created on the plugin's first hook of the request and dropped when
//! the pipeline [releases](PluginInstance::release) it after the plugin's last hook on
//! the request's way to the client (or with the `PluginInstance`), so a plugin's globals
//! carry state between the hooks of one request and never between requests.
//!
//! A new instance needs a slot of the engine's pool (an idle warm instance gives its slot
//! up first: `slots`). Waiting for one is bounded by the engine's `instance_wait` and is
//! not part of any hook's deadline: past it the call ends as [`Overloaded`], the proxy's
//! overload and never the plugin's fault.
//!
//! Every call runs under three limits: fuel (a deterministic CPU budget), `timeout_ms` of
//! running time (counted in epoch ticks while the guest runs; it yields to tokio at every
//! tick), and a wall-clock limit of four times that, which also covers time blocked in host
//! calls (see `CallBudget`). Memory is capped by the store's limiter.
//! Any fault drops the instance at once; a later hook of the same request gets a fresh one.
//! So does a call whose future was dropped before it finished (the client left, or a
//! moderation rejection cancelled the other moderation calls): its store is mid-call and
//! is never called again, nor kept warm.
//!
//! A plugin with `instances: reuse` hands its healthy instances, when their request is
//! done, to a small warm pool (`live::WarmPool`), and later requests take them from there instead of
//! instantiating.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::{Store, UpdateDeadline};

use super::contract::{Call, GuestError, LogInput, Reply};
use super::fault::{classify, Fault, FaultKind};
use super::live::Live;
use super::loaded::LoadedPlugin;
use super::loan::ChunkLoan;
use super::outcome::{ChunkDecision, HookError, OutputCheck, Overloaded, PostCallDecision, PreCallDecision, Rejection};
use super::state::{CallBudget, GuestState};
use crate::capabilities::kv::{Kv, KvError};
use crate::capabilities::log::{LogScope, RequestIdCell};
use crate::capabilities::outbound::OutboundGate;
use crate::content::{RequestDoc, ResponseDoc};
use crate::types::{CallInfo, Failure, Hook};

/// The fault of a guest that gave up (trapped, or failed) with `message` after a call to a
/// dependency got no answer: the proxy's own lateness (a kv call [`KvError::Late`], or an
/// outbound call the gate heard late: `deadline`, charged like any call that ran out of
/// time, so a client who loads the proxy gets a retryable 503, never a fail-open pass), or
/// the kv store's outage (`kv_unavailable`: `on_error` applies). The proxy's lateness wins
/// when both happened. `None` when no call failed either way.
fn gave_up_on_a_dependency(state: &GuestState, message: &str) -> Option<(FaultKind, String)> {
    let late = match (&state.kv_trouble, state.outbound.heard_late()) {
        (Some(KvError::Late(why)), _) => Some(format!("a kv call got no answer in time ({why})")),
        (_, Some(why)) => Some(format!("an outbound call got no answer in time ({why})")),
        _ => None,
    };
    if let Some(late) = late {
        return Some((FaultKind::Deadline, format!("gave up after {late}; {message}")));
    }
    match &state.kv_trouble {
        Some(KvError::Unavailable(why)) => {
            Some((FaultKind::KvUnavailable, format!("gave up after a kv call failed: {why}; {message}")))
        }
        _ => None,
    }
}

/// Time past the wall-clock limit the tokio timeout waits, so that a guest computing past
/// its limit is stopped (and classified) by the epoch interrupt rather than cut off.
const TIMEOUT_GRACE: Duration = Duration::from_millis(20);

/// How many times the plugin's `timeout_ms` a probe call gets (see [`PluginInstance::probe`]).
pub const PROBE_TIME_FACTOR: u32 = 3;

/// How much of a guest's exception text a fault keeps.
const MAX_FAULT_MESSAGE_BYTES: usize = 1024;

/// Cost of the last hook call on an instance: for metrics and the logging payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallStats {
    /// Wall-clock time of the call, including instantiation when it happened.
    pub elapsed: Duration,
    /// Fuel the call burned.
    pub fuel_used: u64,
    /// True when this call created the instance.
    pub instantiated: bool,
    /// Roughly how long the guest actually ran (epoch ticks it was seen running), as
    /// opposed to waiting for a CPU or blocked in a host call.
    pub running: Duration,
}

/// A plugin's instance for one request. Not instantiated until its first hook call.
pub struct PluginInstance {
    plugin: Arc<LoadedPlugin>,
    scope: LogScope,
    live: Option<Live>,
    last_call: Option<CallStats>,
    /// Set while a call runs on `live`; still set afterwards only when the call's future
    /// was dropped midway, which leaves the store mid-call: then `live` is discarded.
    mid_call: bool,
    /// False for throwaway instances (load time, probes), which never join the warm pool.
    keep_warm: bool,
    /// A probe's scratch kv store, instead of the shared one: probing changes no state.
    scratch_kv: Option<Kv>,
    /// The wall-clock budget of each call: the plugin's `timeout_ms`, longer for a probe.
    timeout: Duration,
    /// The config (JSON text) the instance's `config.get` returns: the plugin's own, or
    /// the one the request's team or key gives it. An instance serves one config all its
    /// life, so a plugin that reads its config once per instance stays right.
    config: Arc<str>,
}

/// Where a call was when it failed: decides how the failure is classified.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Instantiating,
    Calling,
}

impl LoadedPlugin {
    /// A fresh, not yet instantiated instance for one request; the first hook call
    /// instantiates it.
    pub fn instance(self: &Arc<Self>, request_id: impl Into<Arc<str>>) -> PluginInstance {
        PluginInstance::new(Arc::clone(self), request_id.into())
    }
}

impl PluginInstance {
    pub(crate) fn new(plugin: Arc<LoadedPlugin>, request_id: Arc<str>) -> Self {
        Self::with(plugin, request_id, true, None)
    }

    /// The instance, running with `config` (JSON text) instead of the plugin's own when
    /// given: what a team's or key's `plugin_config` asks for. Set before the first call.
    pub fn with_config(mut self, config: Option<Arc<str>>) -> Self {
        if let Some(config) = config {
            self.config = config;
        }
        self
    }

    /// A throwaway instance (the load-time `describe` and `init`): always fresh, never
    /// kept warm.
    pub(crate) fn throwaway(plugin: Arc<LoadedPlugin>, id: Arc<str>) -> Self {
        Self::with(plugin, id, false, None)
    }

    /// A probe: a throwaway instance whose kv calls go to an empty store of its own, so
    /// checking a plugin on a harmless input changes no shared state. Its calls get
    /// [`PROBE_TIME_FACTOR`] times the plugin's `timeout_ms`: a busy machine must not make
    /// a working plugin look broken.
    pub(crate) fn probe(plugin: Arc<LoadedPlugin>, id: Arc<str>) -> Self {
        let mut probe = Self::with(plugin, id, false, Some(Kv::in_memory()));
        probe.timeout *= PROBE_TIME_FACTOR;
        probe
    }

    fn with(plugin: Arc<LoadedPlugin>, request_id: Arc<str>, keep_warm: bool, scratch_kv: Option<Kv>) -> Self {
        let scope = LogScope { plugin: plugin.name.as_str().into(), request_id: RequestIdCell::new(request_id) };
        let timeout = plugin.settings.timeout();
        let config = Arc::clone(&plugin.config_json);
        Self { plugin, scope, live: None, last_call: None, mid_call: false, keep_warm, scratch_kv, timeout, config }
    }

    /// The plugin this instance runs.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// True once a hook call has instantiated the plugin (and no fault has dropped it).
    pub fn is_instantiated(&self) -> bool {
        self.live.is_some()
    }

    /// Cost of the last hook call, if any was made.
    pub fn last_call(&self) -> Option<CallStats> {
        self.last_call
    }

    /// Instantiates now, if not yet done, without calling a hook: moves the instantiation
    /// cost to a moment of the caller's choosing (and lets benchmarks measure it alone).
    pub async fn prepare(&mut self) -> Result<(), HookError> {
        if self.live.is_some() && !self.mid_call {
            return Ok(());
        }
        self.invoke(Call::Prepare).await.map(|_| ())
    }

    /// The request is done with this plugin for now: its instance goes (back to the warm
    /// pool of a plugin with `instances: reuse`, else away, torn down here), returning its
    /// pool slot. A later hook call instantiates afresh.
    pub fn release(&mut self) {
        self.release_into(&mut Teardown::default());
    }

    /// [`release`](Self::release), but an instance that is not kept warm goes into
    /// `teardown` instead of being torn down here, for the caller to drop off the
    /// request's path ([`Teardown::later`]).
    pub fn release_into(&mut self, teardown: &mut Teardown) {
        if let Some(live) = self.live.take() {
            let not_kept = match !std::mem::take(&mut self.mid_call) && self.keep_warm {
                true => self.plugin.warm.put_back(live, &self.plugin.settings),
                false => Some(live),
            };
            teardown.0.extend(not_kept);
        }
    }

    /// Runs `pre-call`. A plugin that does not implement it proceeds.
    pub async fn pre_call(&mut self, info: &CallInfo, req: &RequestDoc) -> Result<PreCallDecision, HookError> {
        let unpack = |reply| match reply {
            Reply::PreCall(result) => result,
            _ => unreachable!("pre-call returns a pre-call outcome"),
        };
        let call = Call::PreCall(info, req);
        self.decide(Hook::PreCall, call, PreCallDecision::Proceed, unpack, OutputCheck::pre_call).await
    }

    /// Runs `moderation`. A plugin that does not implement it approves.
    pub async fn moderation(&mut self, info: &CallInfo, req: &RequestDoc) -> Result<(), HookError> {
        self.verdict(Hook::Moderation, Call::Moderation(info, req)).await
    }

    /// Runs `post-call-success`. A plugin that does not implement it proceeds.
    pub async fn post_call_success(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        resp: &ResponseDoc,
    ) -> Result<PostCallDecision, HookError> {
        let unpack = |reply| match reply {
            Reply::PostCall(result) => result,
            _ => unreachable!("post-call-success returns a post-call outcome"),
        };
        let call = Call::PostCallSuccess(info, req, resp);
        self.decide(Hook::PostCallSuccess, call, PostCallDecision::Proceed, unpack, OutputCheck::post_call).await
    }

    /// Runs `post-call-failure`: `Err(Rejected)` replaces the client's error.
    pub async fn post_call_failure(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        failure: &Failure,
    ) -> Result<(), HookError> {
        self.verdict(Hook::PostCallFailure, Call::PostCallFailure(info, req, failure)).await
    }

    /// Runs `stream-chunk` for one chunk. A plugin that does not implement it forwards
    /// the chunk.
    pub async fn stream_chunk(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        chunk: &ChunkLoan,
    ) -> Result<ChunkDecision, HookError> {
        let unpack = |reply| match reply {
            Reply::Chunk(result) => result,
            _ => unreachable!("stream-chunk returns a chunk outcome"),
        };
        let call = Call::StreamChunk(info, req, chunk);
        self.decide(Hook::StreamChunk, call, ChunkDecision::Proceed, unpack, OutputCheck::chunk).await
    }

    /// Runs `stream-end` with the assembled assistant text.
    pub async fn stream_end(&mut self, info: &CallInfo, req: &RequestDoc, text: &str) -> Result<(), HookError> {
        self.verdict(Hook::StreamEnd, Call::StreamEnd(info, req, text)).await
    }

    /// Runs `log-success` for a finished request. Never rejected.
    pub async fn log_success(&mut self, input: &LogInput) -> Result<(), HookError> {
        self.log(Hook::LogSuccess, Call::LogSuccess(input)).await
    }

    /// Runs `log-failure` for a failed request. Never rejected.
    pub async fn log_failure(&mut self, input: &LogInput) -> Result<(), HookError> {
        self.log(Hook::LogFailure, Call::LogFailure(input)).await
    }

    /// `describe`: the plugin's name, version, and (0.1) the hooks it lists.
    pub(crate) async fn describe(&mut self) -> Result<Reply, HookError> {
        self.invoke(Call::Describe).await
    }

    pub(crate) async fn init(&mut self, config: &str) -> Result<Result<(), String>, HookError> {
        match self.invoke(Call::Init(config)).await? {
            Reply::Init(result) => Ok(result),
            _ => unreachable!("init returns a result"),
        }
    }

    /// Runs a hook that decides something: `skipped` when the plugin lacks the hook, else
    /// the guest's outcome validated by `check`, or its rejection.
    async fn decide<O, T>(
        &mut self,
        hook: Hook,
        call: Call<'_>,
        skipped: T,
        unpack: impl FnOnce(Reply) -> Result<O, GuestError>,
        check: impl FnOnce(&OutputCheck, O) -> Result<T, String>,
    ) -> Result<T, HookError> {
        if !self.plugin.implements(hook) {
            return Ok(skipped);
        }
        match unpack(self.invoke(call).await?) {
            Ok(outcome) => self.checked(hook, |checker| check(checker, outcome)),
            Err(GuestError::Reject(rejection)) => {
                Err(HookError::Rejected(Rejection::from_guest(&self.plugin.name, rejection)))
            }
            Err(GuestError::Fail(message)) => Err(self.failed(hook, &message)),
        }
    }

    /// Runs a hook whose only outcome is approval or a rejection.
    async fn verdict(&mut self, hook: Hook, call: Call<'_>) -> Result<(), HookError> {
        let unpack = |reply| match reply {
            Reply::Verdict(result) => result,
            _ => unreachable!("{hook} returns a verdict"),
        };
        self.decide(hook, call, (), unpack, |_, ()| Ok(())).await
    }

    async fn log(&mut self, hook: Hook, call: Call<'_>) -> Result<(), HookError> {
        if !self.plugin.implements(hook) {
            return Ok(());
        }
        match self.invoke(call).await? {
            Reply::Logged(Ok(())) => Ok(()),
            Reply::Logged(Err(message)) => Err(self.failed(hook, &message)),
            _ => unreachable!("{hook} returns a logging result"),
        }
    }

    /// The guest reported its own failure (contract 0.2's `fail`, an SDK's uncaught
    /// exception, 0.1's status-0 rejection): a fault like a trap, and the instance goes.
    fn failed(&mut self, hook: Hook, message: &str) -> HookError {
        let message = crate::text::truncate(message, MAX_FAULT_MESSAGE_BYTES);
        let gave_up = self.live.take().and_then(|live| gave_up_on_a_dependency(live.store.data(), message));
        let (kind, message) = gave_up.unwrap_or((FaultKind::Failed, message.to_owned()));
        let fault = Fault::new(&self.plugin.name, Some(hook), hook.name(), kind, message);
        let elapsed = self.last_call.map_or(Duration::ZERO, |stats| stats.elapsed);
        Fault { elapsed, ..fault }.into()
    }

    /// Validates a hook's output; unusable output is a `bad_output` fault.
    fn checked<T>(
        &mut self,
        hook: Hook,
        check: impl FnOnce(&OutputCheck) -> Result<T, String>,
    ) -> Result<T, HookError> {
        let checker = OutputCheck { max_bytes: self.plugin.settings.max_output_bytes };
        check(&checker).map_err(|message| {
            // The store is intact, but the instance's state produced garbage: drop it too.
            self.live = None;
            HookError::from(Fault::new(&self.plugin.name, Some(hook), hook.name(), FaultKind::BadOutput, message))
        })
    }

    /// Calls one export under the plugin's limits, instantiating first if needed.
    async fn invoke(&mut self, call: Call<'_>) -> Result<Reply, HookError> {
        if std::mem::take(&mut self.mid_call) {
            // The last call on this instance was cancelled midway: its store is unusable.
            self.live = None;
        }
        let (hook, hook_name) = (call.hook(), call.name());
        // A slot first: waiting for one is the proxy's overload, not part of the deadline.
        let had_instance = self.live.is_some();
        let slot = match &self.live {
            Some(_) => None,
            None => match self.adopt_warm() {
                true => None,
                false => Some(Self::wait_for_slot(&self.plugin).await?),
            },
        };
        let started = Instant::now();
        let timeout = self.timeout;
        let outbound = self.plugin.settings.outbound.as_ref().map_or(Duration::ZERO, |grant| grant.timeout);
        let budget = CallBudget::new(started, timeout, self.plugin.engine.options().epoch_tick, outbound);
        let wall = CallBudget::wall(timeout, outbound);
        let mut phase = Phase::Calling;
        // Guest code runs from here (instantiation included) until the call returns or
        // is cut off: the epoch ticker must tick for its deadlines and its timing.
        let ticking = self.plugin.engine.ticking();
        self.mid_call = true;
        // Boxed where it is made: the call's future (instantiation and the guest call) is
        // large, and passing it into the timeout and storing that in this future copied it
        // each time (bench/instructions/count.sh).
        let run = Box::pin(self.run(call, budget, slot, &mut phase));
        let outcome = tokio::time::timeout(wall + TIMEOUT_GRACE, run).await;
        drop(ticking);
        self.mid_call = false;
        // A warm instance taken from the pool has served requests before; a new one not.
        let instantiated = !had_instance && self.live.as_ref().is_none_or(|live| live.served == 0);
        let fault = |kind, message: String| Fault::new(&self.plugin.name, hook, hook_name, kind, message);
        let mut fault = match outcome {
            Ok(Ok((reply, fuel_used))) => {
                let running = self
                    .live
                    .as_ref()
                    .map_or(Duration::ZERO, |live| live.running(self.plugin.engine.options().epoch_tick));
                self.last_call = Some(CallStats { elapsed: started.elapsed(), fuel_used, instantiated, running });
                return Ok(reply);
            }
            Ok(Err(error)) if phase == Phase::Instantiating => {
                if let Some(overloaded) = Overloaded::from_pool(&error, &self.plugin.name, started.elapsed()) {
                    self.plugin.engine.count_overload();
                    self.last_call = None;
                    return Err(overloaded.into());
                }
                let (kind, message, backtrace) = classify(&error, false, true);
                Fault { backtrace, ..fault(kind, message) }
            }
            Ok(Err(error)) => {
                let state = self.live.as_ref().map(|live| live.store.data());
                let memory_limit_hit = state.is_some_and(|state| state.limiter.hit);
                let (kind, message, backtrace) = classify(&error, memory_limit_hit, false);
                let gave_up = match kind {
                    FaultKind::Trap => state.and_then(|state| gave_up_on_a_dependency(state, &message)),
                    _ => None,
                };
                let (kind, message) = gave_up.unwrap_or((kind, message));
                Fault { backtrace, ..fault(kind, message) }
            }
            Err(_) => Fault {
                in_host_call: true,
                ..fault(
                    FaultKind::Deadline,
                    format!(
                        "blocked in a host call past {} ms ({}x its {} ms timeout{})",
                        wall.as_millis(),
                        CallBudget::WALL_FACTOR,
                        timeout.as_millis(),
                        match outbound.is_zero() {
                            true => String::new(),
                            false => format!(" + {} ms for outbound calls", outbound.as_millis()),
                        }
                    ),
                )
            },
        };
        fault.elapsed = started.elapsed();
        // A trap poisons the store, and a call cut off mid-flight leaves it mid-call:
        // either way the instance is dropped now and its slot returns to the pool.
        let (mut fuel_used, mut running) = (0, Duration::ZERO);
        if let Some(live) = self.live.take() {
            fault.guest_stderr = live.store.data().stderr.tail();
            fuel_used = live.fuel_used_by_call(self.plugin.settings.fuel);
            running = live.running(self.plugin.engine.options().epoch_tick);
        }
        self.last_call = Some(CallStats { elapsed: fault.elapsed, fuel_used, instantiated, running });
        Err(fault.into())
    }

    /// Takes an idle warm instance of a plugin with `instances: reuse`, if there is one.
    fn adopt_warm(&mut self) -> bool {
        if !self.keep_warm {
            return false;
        }
        let Some(live) = self.plugin.warm.take(&self.config) else { return false };
        // A reused instance: it now logs for this request, with a whole budget.
        live.store.data().scope.request_id.set(self.scope.request_id.get());
        live.store.data().log_budget.reset();
        self.live = Some(live);
        true
    }

    /// A pool slot for a new instance of `plugin` (an idle warm instance's, if none is
    /// free), waiting at most the engine's `instance_wait`. (Takes the plugin rather than
    /// `&self`: `PluginInstance` is not `Sync`, and the future must stay `Send`.)
    async fn wait_for_slot(plugin: &LoadedPlugin) -> Result<OwnedSemaphorePermit, Overloaded> {
        let engine = &plugin.engine;
        let wait = engine.options().instance_wait;
        match engine.slots().acquire(wait).await {
            Some(slot) => Ok(slot),
            None => {
                engine.count_overload();
                Err(Overloaded::no_slot(&plugin.name, wait))
            }
        }
    }

    async fn run(
        &mut self,
        call: Call<'_>,
        budget: CallBudget,
        slot: Option<OwnedSemaphorePermit>,
        phase: &mut Phase,
    ) -> wasmtime::Result<(Reply, u64)> {
        let fuel = self.plugin.settings.fuel;
        match slot {
            // A live instance gets this call's budget; a new one starts with it (so a
            // fresh instance's start-up counts against its first call).
            None => {
                let live = self.live.as_mut().expect("a live instance when no slot was taken");
                live.store.data_mut().begin_call(budget);
                live.store.set_fuel(fuel)?;
                live.store.set_epoch_deadline(1);
            }
            Some(slot) => {
                *phase = Phase::Instantiating;
                let kv = self.scratch_kv.clone().unwrap_or_else(|| self.plugin.engine.kv().clone());
                let config = Arc::clone(&self.config);
                self.live = Some(Self::instantiate(&self.plugin, &self.scope, config, kv, slot, budget, fuel).await?);
                *phase = Phase::Calling;
            }
        }
        let live = self.live.as_mut().expect("instantiated above");
        let reply = live.guest.call(&mut live.store, call).await?;
        Ok((reply, live.fuel_used_by_call(fuel)))
    }

    /// Takes the plugin and scope rather than `&self`: `PluginInstance` is not `Sync`
    /// (its store is not), and the future must stay `Send` for spawned tasks.
    async fn instantiate(
        plugin: &LoadedPlugin,
        scope: &LogScope,
        config: Arc<str>,
        kv: Kv,
        slot: OwnedSemaphorePermit,
        budget: CallBudget,
        fuel: u64,
    ) -> wasmtime::Result<Live> {
        let engine = &plugin.engine;
        let gate = OutboundGate::new(
            Arc::clone(&scope.plugin),
            scope.request_id.clone(),
            plugin.settings.outbound.clone(),
            engine.options().outbound_meters.clone(),
        );
        let state =
            GuestState::new(scope.clone(), plugin.settings.memory_bytes(), config, kv, plugin.settings.timeout(), gate);
        let mut state = state;
        state.max_output_bytes = plugin.settings.max_output_bytes;
        let mut store = Store::new(engine.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(plugin.settings.max_output_bytes);
        store.fuel_async_yield_interval(Some(super::engine::FUEL_SLICE))?;
        store.set_fuel(fuel)?;
        store.data_mut().begin_call(budget);
        // Every tick the guest is seen running: counted; with its budget spent, interrupt;
        // otherwise let other tasks run.
        store.epoch_deadline_callback(|mut ctx| {
            Ok(if ctx.data_mut().spent_at_tick() { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(1) })
        });
        store.set_epoch_deadline(1);
        let guest = plugin.pre.instantiate(&mut store).await?;
        Ok(Live { store, guest, _slot: slot, served: 0 })
    }
}

/// Instances a request is done with, torn down together off its path: dropping a fresh
/// instance resets its pool slot (the pages it dirtied copied back from the image, a
/// `PAGEMAP_SCAN` ioctl), several microseconds of CPU each (BENCHMARKS.md). Dropped
/// without [`later`](Self::later), they are torn down on the spot.
#[derive(Default)]
pub struct Teardown(Vec<Live>);

impl Teardown {
    /// Drops the instances on a task of their own, so the request goes on (to the
    /// upstream, or to its answer) without waiting for them. Outside a tokio runtime
    /// they are dropped here.
    pub fn later(self) {
        if self.0.is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(async move { drop(self) })),
            Err(_) => drop(self),
        }
    }
}

impl Drop for PluginInstance {
    /// The request is done with the instance: a reused plugin keeps it warm.
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(kv_trouble: Option<KvError>, outbound_heard_late: Option<&str>) -> GuestState {
        let scope = LogScope { plugin: "p".into(), request_id: RequestIdCell::new("r".into()) };
        let gate = OutboundGate::new("p".into(), scope.request_id.clone(), None, Default::default());
        if let Some(why) = outbound_heard_late {
            gate.note_heard_late(why);
        }
        let mut state =
            GuestState::new(scope, 1 << 20, "null".into(), Kv::in_memory(), Duration::from_millis(100), gate);
        state.kv_trouble = kv_trouble;
        state
    }

    #[test]
    fn giving_up_on_a_dependency_is_an_outage_only_when_it_was_silent() {
        let outage = KvError::Unavailable("redis at r is unreachable".into());
        let (kind, message) = gave_up_on_a_dependency(&state(Some(outage.clone()), None), "no count").unwrap();
        assert_eq!(kind, FaultKind::KvUnavailable);
        assert!(message.contains("unreachable") && message.contains("no count"), "{message}");
        // The proxy was too busy to hear the answer: a deadline, which attribution charges
        // to the load (or the input), never to the store's outage and `on_error`.
        let late = KvError::Late("redis at r answers, but it answered a later call first".into());
        let (kind, message) = gave_up_on_a_dependency(&state(Some(late), None), "no count").unwrap();
        assert_eq!(kind, FaultKind::Deadline);
        assert!(message.contains("later call"), "{message}");
        // The same for an outbound call, and the proxy's lateness wins over an outage.
        for kv in [None, Some(outage)] {
            let heard_late = state(kv, Some("the proxy noticed the 500 ms deadline 900 ms late"));
            let (kind, message) = gave_up_on_a_dependency(&heard_late, "no verdict").unwrap();
            assert_eq!(kind, FaultKind::Deadline);
            assert!(message.contains("outbound call") && message.contains("900 ms late"), "{message}");
        }
        assert_eq!(gave_up_on_a_dependency(&state(Some(KvError::Invalid("bad key".into())), None), "x"), None);
        assert_eq!(gave_up_on_a_dependency(&state(None, None), "x"), None);
    }
}
