//! A live plugin instance (its store and exports), and the warm pool that keeps idle ones
//! of a plugin with `instances: reuse` for later requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;

use super::contract::Guest;
use super::settings::{Instances, PluginSettings};
use super::state::GuestState;

/// An instantiated plugin: its store, its exports, and the pool slot it occupies.
pub(super) struct Live {
    pub(super) store: Store<GuestState>,
    pub(super) guest: Guest,
    /// Declared after `store`: fields drop in order, so the permit comes back only once
    /// the store has returned the allocator's slot, ready for the next instance.
    pub(super) _slot: OwnedSemaphorePermit,
    /// Requests this instance has served to the end (more than one only when reused).
    pub(super) served: u32,
}

/// How many idle warm instances a reused plugin keeps. Under load, instances come back
/// about as fast as requests take them, so a few suffice; each idle one holds a pool
/// slot and its memory.
const MAX_IDLE_WARM: usize = 16;

/// The idle instances of a plugin with `instances: reuse`, oldest first. Each holds a
/// pool slot, which it gives up when another instance needs one (`slots`).
pub(crate) struct WarmPool {
    idle: Mutex<Vec<Live>>,
    /// Callers waiting for a pool slot now: while any does, no instance is kept.
    slot_waiters: Arc<AtomicUsize>,
}

impl WarmPool {
    /// An empty pool; made by `InstanceSlots::warm_pool`, which can evict from it.
    pub(super) fn new(slot_waiters: Arc<AtomicUsize>) -> Self {
        Self { idle: Mutex::default(), slot_waiters }
    }

    /// Idle instances kept now.
    pub(super) fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Takes the idle instance kept longest (to free its slot for another instance).
    pub(super) fn take_oldest(&self) -> Option<Live> {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        (!idle.is_empty()).then(|| idle.remove(0))
    }

    /// An idle instance running with `config`, if one is kept: an instance made for one
    /// team's config never serves another's request.
    pub(super) fn take(&self, config: &Arc<str>) -> Option<Live> {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let same = |live: &Live| {
            let own = &live.store.data().config_json;
            Arc::ptr_eq(own, config) || **own == **config
        };
        // The newest: its memory is likeliest still in cache. Removed in place, so the
        // pool stays oldest first.
        let index = idle.iter().rposition(same)?;
        Some(idle.remove(index))
    }

    /// Keeps `live` for a later request if the plugin reuses instances, this one is
    /// still fit to serve and no one waits for a pool slot; else hands it back, for the
    /// caller to drop (freeing its slot).
    #[must_use = "an instance not kept must be torn down"]
    pub(super) fn put_back(&self, mut live: Live, settings: &PluginSettings) -> Option<Live> {
        live.served = live.served.saturating_add(1);
        let limiter = &live.store.data().limiter;
        let fit = settings.instances == Instances::Reuse
            && live.served < settings.max_reuse
            && !limiter.hit
            && limiter.total() <= settings.reuse_memory_bound();
        if !fit {
            return Some(live);
        }
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Read under the lock: a caller that starts waiting either finds this instance
        // when it searches the pools or is seen here (see `InstanceSlots::acquire`).
        if idle.len() < MAX_IDLE_WARM && self.slot_waiters.load(Ordering::SeqCst) == 0 {
            idle.push(live);
            None
        } else {
            Some(live)
        }
    }
}

impl Live {
    /// How long the guest ran during the current (or just ended) call.
    pub(super) fn running(&self, epoch_tick: Duration) -> Duration {
        epoch_tick * self.store.data().ticks_running
    }

    /// The fuel the running (or just ended) call burned: each call starts with a full
    /// tank of `budget`, so what is missing is this call's burn.
    pub(super) fn fuel_used_by_call(&self, budget: u64) -> u64 {
        budget.saturating_sub(self.store.get_fuel().unwrap_or(0))
    }
}
