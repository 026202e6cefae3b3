//! The plugins serving requests: an immutable, priority-ordered snapshot that each
//! request takes once and keeps to its end, plus each plugin's health (the circuit
//! breaker that quarantines a plugin that keeps faulting).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::fault::{FaultCause, FaultKind};
use super::instance::CallStats;
use super::loaded::LoadedPlugin;
use crate::metrics::{Metrics, PluginMeters};
use crate::types::Hook;

/// When a plugin is quarantined and for how long.
#[derive(Debug, Clone, Copy)]
pub struct QuarantinePolicy {
    /// Consecutive faults that quarantine a plugin.
    pub after_faults: u32,
    /// How long a quarantined plugin is skipped before it is tried again.
    pub cooldown: Duration,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        Self { after_faults: 5, cooldown: Duration::from_secs(30) }
    }
}

/// A loaded plugin with its health, as the pipeline uses it.
pub struct ActivePlugin {
    /// The plugin version.
    pub plugin: Arc<LoadedPlugin>,
    /// Its circuit breaker and counters.
    pub health: PluginHealth,
    /// Its Prometheus series.
    pub meters: PluginMeters,
    /// The last verdict of the check "does this hook work on a harmless input?", per
    /// hook, which decides whom a fault is charged to (see `pipeline::attribution`).
    pub checks: HealthChecks,
}

/// The last result of probing each hook on a harmless input: `(when, it worked)`. One
/// probe runs at a time per hook; faults within [`HealthChecks::FRESH`] of a verdict
/// reuse it, so a burst of faults costs one probe.
#[derive(Default)]
pub struct HealthChecks {
    by_hook: [tokio::sync::Mutex<Option<(Instant, bool)>>; Hook::ALL.len()],
}

impl HealthChecks {
    /// How long a verdict stands.
    pub const FRESH: Duration = Duration::from_secs(2);

    /// The verdict slot of `hook`: lock it, reuse a fresh verdict or probe and store one.
    pub fn of(&self, hook: Hook) -> &tokio::sync::Mutex<Option<(Instant, bool)>> {
        &self.by_hook[hook.index()]
    }
}

/// How a hook call that ran ended, for [`ActivePlugin::record_call`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// The hook returned a decision other than a rejection.
    Done,
    /// The hook rejected the request.
    Rejected,
    /// The hook faulted, and who the fault is charged to.
    Faulted(FaultKind, FaultCause),
}

impl ActivePlugin {
    /// A freshly loaded plugin: healthy, with its series in `metrics`.
    pub fn new(plugin: Arc<LoadedPlugin>, metrics: &Arc<Metrics>) -> Self {
        let meters = metrics.plugin(plugin.name(), plugin.info().hooks);
        Self { plugin, health: PluginHealth::default(), meters, checks: HealthChecks::default() }
    }

    /// Records one hook call that ran (`stats`: the instance's record of it), in the
    /// health counters (and circuit breaker) and the metrics. Only faults charged to the
    /// plugin itself count towards its quarantine. True when a fault quarantined the
    /// plugin (which is logged here).
    pub fn record_call(&self, hook: Hook, end: CallEnd, stats: Option<CallStats>, policy: QuarantinePolicy) -> bool {
        if let Some(stats) = stats {
            self.meters.called(hook, stats.elapsed, stats.fuel_used);
        }
        match end {
            CallEnd::Done => {
                self.health.record_ok(hook, false);
                false
            }
            CallEnd::Rejected => {
                self.health.record_ok(hook, true);
                self.meters.rejected(hook);
                false
            }
            CallEnd::Faulted(kind, cause) => {
                self.meters.faulted(hook, kind, cause);
                if cause != FaultCause::Plugin {
                    self.health.record_fault_not_its_own(cause);
                    return false;
                }
                let quarantined = self.health.record_fault(hook, policy);
                if quarantined {
                    self.meters.quarantined();
                    tracing::warn!(
                        plugin = self.name(),
                        hook = hook.name(),
                        faults_in_a_row = policy.after_faults,
                        cooldown_s = policy.cooldown.as_secs_f64(),
                        "plugin quarantined"
                    );
                }
                quarantined
            }
        }
    }

    /// The registered name.
    pub fn name(&self) -> &str {
        self.plugin.name()
    }

    /// True when the plugin implements `hook`.
    pub fn implements(&self, hook: Hook) -> bool {
        self.plugin.implements(hook)
    }
}

/// A plugin's circuit breaker and counters. After `after_faults` consecutive faults of
/// its own in one hook the plugin is quarantined for the cool-down: a plugin broken in
/// one hook is caught even while its other hooks succeed. The first call after the
/// cool-down is a trial, and one more fault quarantines it again at once (a hook's count
/// is only reset by a good call of that hook).
#[derive(Default)]
pub struct PluginHealth {
    consecutive_faults: [AtomicU32; Hook::ALL.len()],
    quarantined_until: Mutex<Option<Instant>>,
    calls: AtomicU64,
    faults: AtomicU64,
    input_faults: AtomicU64,
    load_faults: AtomicU64,
    outside_faults: AtomicU64,
    rejections: AtomicU64,
    quarantines: AtomicU64,
}

/// A counter snapshot of one plugin, for the admin API and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthCounters {
    /// Hook calls made.
    pub calls: u64,
    /// Hook calls that faulted, whoever caused it.
    pub faults: u64,
    /// Of those, faults the input caused (the plugin handled a harmless input): not
    /// counted towards quarantine.
    pub input_faults: u64,
    /// Of those, deadlines a busy machine caused (the guest mostly waited for a CPU).
    pub load_faults: u64,
    /// Of those, faults a dependency caused (the kv store was down).
    pub outside_faults: u64,
    /// Hook calls that rejected the request.
    pub rejections: u64,
    /// Times the plugin was quarantined.
    pub quarantines: u64,
}

impl PluginHealth {
    /// `Some(remaining)` while the plugin is quarantined.
    pub fn quarantined_for(&self) -> Option<Duration> {
        let until = (*self.quarantined_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))?;
        until.checked_duration_since(Instant::now()).filter(|left| !left.is_zero())
    }

    /// Records a call of `hook` that did not fault.
    pub fn record_ok(&self, hook: Hook, rejected: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if rejected {
            self.rejections.fetch_add(1, Ordering::Relaxed);
        }
        self.consecutive_faults[hook.index()].store(0, Ordering::Relaxed);
    }

    /// Records a fault of the plugin's own in `hook`; true when it quarantined the plugin.
    pub fn record_fault(&self, hook: Hook, policy: QuarantinePolicy) -> bool {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.faults.fetch_add(1, Ordering::Relaxed);
        let in_a_row = self.consecutive_faults[hook.index()].fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row < policy.after_faults {
            return false;
        }
        let mut until = self.quarantined_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let already = until.is_some_and(|until| until > now);
        if !already {
            // The config bounds the cool-down; saturate anyway rather than panic here.
            *until = Some(now.checked_add(policy.cooldown).unwrap_or(now + Duration::from_secs(86_400 * 365)));
            self.quarantines.fetch_add(1, Ordering::Relaxed);
        }
        !already
    }

    /// Counts a fault that was not the plugin's doing (its input caused it, or its kv
    /// store was down): it shows in the counters but neither starts nor breaks a run
    /// towards quarantine.
    pub fn record_fault_not_its_own(&self, cause: FaultCause) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.faults.fetch_add(1, Ordering::Relaxed);
        match cause {
            FaultCause::Input => self.input_faults.fetch_add(1, Ordering::Relaxed),
            FaultCause::Load => self.load_faults.fetch_add(1, Ordering::Relaxed),
            FaultCause::Outside | FaultCause::Plugin => self.outside_faults.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Quarantines the plugin now for `cooldown`, as an operator asked (the console):
    /// counted as a quarantine. A hot swap brings a new version out of it.
    pub fn quarantine_by_hand(&self, cooldown: Duration) {
        let mut until = self.quarantined_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        *until = Some(now.checked_add(cooldown).unwrap_or(now + Duration::from_secs(86_400 * 365)));
        self.quarantines.fetch_add(1, Ordering::Relaxed);
    }

    /// Ends a quarantine now, with every hook's fault count back at zero.
    pub fn release(&self) {
        *self.quarantined_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        for count in &self.consecutive_faults {
            count.store(0, Ordering::Relaxed);
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> HealthCounters {
        HealthCounters {
            calls: self.calls.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
            input_faults: self.input_faults.load(Ordering::Relaxed),
            load_faults: self.load_faults.load(Ordering::Relaxed),
            outside_faults: self.outside_faults.load(Ordering::Relaxed),
            rejections: self.rejections.load(Ordering::Relaxed),
            quarantines: self.quarantines.load(Ordering::Relaxed),
        }
    }
}

/// An immutable set of active plugins in call order: priority, then the order of
/// `litellm_settings.callbacks` (as LiteLLM calls its callbacks in list order), then name.
#[derive(Default)]
pub struct PluginSet {
    plugins: Vec<Arc<ActivePlugin>>,
}

impl PluginSet {
    /// Orders `plugins` for calling; `listed` is `litellm_settings.callbacks`, if set.
    pub fn new(mut plugins: Vec<Arc<ActivePlugin>>, listed: Option<&[String]>) -> Self {
        let position = |name: &str| listed.and_then(|names| names.iter().position(|n| n == name)).unwrap_or(usize::MAX);
        plugins.sort_by_cached_key(|p| (p.plugin.settings().priority, position(p.name()), p.name().to_owned()));
        Self { plugins }
    }

    /// The plugins in call order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ActivePlugin>> {
        self.plugins.iter()
    }

    /// How many plugins are active.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// True when no plugin is active.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

/// The current plugin set. A request takes one [`snapshot`](Registry::snapshot) and uses
/// it to the end, so a swap never changes the plugins under a request in flight.
pub struct Registry {
    current: RwLock<Arc<PluginSet>>,
    policy: QuarantinePolicy,
}

impl Registry {
    /// A registry serving `set`.
    pub fn new(set: PluginSet, policy: QuarantinePolicy) -> Self {
        Self { current: RwLock::new(Arc::new(set)), policy }
    }

    /// The plugins for one request.
    pub fn snapshot(&self) -> Arc<PluginSet> {
        Arc::clone(&self.current.read().expect("registry lock"))
    }

    /// Replaces the plugin set; requests in flight keep the one they took.
    pub fn replace(&self, set: PluginSet) {
        *self.current.write().expect("registry lock") = Arc::new(set);
    }

    /// The quarantine policy.
    pub fn policy(&self) -> QuarantinePolicy {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POST: Hook = Hook::PostCallSuccess;

    #[test]
    fn quarantine_after_consecutive_faults_only() {
        let policy = QuarantinePolicy { after_faults: 3, cooldown: Duration::from_secs(60) };
        let health = PluginHealth::default();
        assert!(!health.record_fault(POST, policy));
        assert!(!health.record_fault(POST, policy));
        health.record_ok(POST, false);
        assert!(!health.record_fault(POST, policy));
        assert!(!health.record_fault(POST, policy));
        assert!(health.quarantined_for().is_none());
        assert!(health.record_fault(POST, policy), "the third fault in a row quarantines");
        assert!(health.quarantined_for().is_some());
        assert!(!health.record_fault(POST, policy), "already quarantined: not counted twice");
        let counters = health.counters();
        assert_eq!((counters.calls, counters.faults, counters.quarantines), (7, 6, 1));
    }

    #[test]
    fn a_hook_that_always_faults_is_quarantined_while_another_hook_succeeds() {
        let policy = QuarantinePolicy { after_faults: 3, cooldown: Duration::from_secs(60) };
        let health = PluginHealth::default();
        for _ in 0..2 {
            health.record_ok(Hook::PreCall, false);
            assert!(!health.record_fault(POST, policy));
        }
        health.record_ok(Hook::PreCall, false);
        assert!(health.record_fault(POST, policy), "pre-call's successes do not reset post-call's run");
    }

    #[test]
    fn faults_that_are_not_the_plugins_never_quarantine() {
        let policy = QuarantinePolicy { after_faults: 1, cooldown: Duration::from_secs(60) };
        let health = PluginHealth::default();
        for _ in 0..10 {
            health.record_fault_not_its_own(FaultCause::Input);
            health.record_fault_not_its_own(FaultCause::Outside);
        }
        assert!(health.quarantined_for().is_none());
        let counters = health.counters();
        assert_eq!((counters.faults, counters.input_faults, counters.outside_faults), (20, 10, 10));
        assert!(health.record_fault(Hook::PreCall, policy), "one fault of its own is enough under this policy");
    }

    #[test]
    fn after_the_cooldown_one_more_fault_requarantines() {
        let policy = QuarantinePolicy { after_faults: 2, cooldown: Duration::ZERO };
        let health = PluginHealth::default();
        health.record_fault(POST, policy);
        assert!(health.record_fault(POST, policy));
        assert!(health.quarantined_for().is_none(), "a zero cool-down is over at once");
        assert!(health.record_fault(POST, policy), "the trial call faulted: quarantined again");
        assert_eq!(health.counters().quarantines, 2);
    }
}
