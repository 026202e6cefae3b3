//! A live plugin instance (its store and exports), and the warm pool that keeps idle ones
//! of a plugin with `instances: reuse` for later requests.

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
    pub(super) _slot: OwnedSemaphorePermit,
    /// Requests this instance has served to the end (more than one only when reused).
    pub(super) served: u32,
}

/// How many idle warm instances a reused plugin keeps. Under load, instances come back
/// about as fast as requests take them, so a few suffice; each idle one holds a pool
/// slot and its memory.
const MAX_IDLE_WARM: usize = 16;

/// The idle instances of a plugin with `instances: reuse`.
#[derive(Default)]
pub(crate) struct WarmPool {
    idle: Mutex<Vec<Live>>,
}

impl WarmPool {
    /// An idle instance running with `config`, if one is kept: an instance made for one
    /// team's config never serves another's request.
    pub(super) fn take(&self, config: &Arc<str>) -> Option<Live> {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let same = |live: &Live| {
            let own = &live.store.data().config_json;
            Arc::ptr_eq(own, config) || **own == **config
        };
        let index = idle.iter().rposition(same)?;
        Some(idle.swap_remove(index))
    }

    /// Keeps `live` for a later request if the plugin reuses instances and this one is
    /// still fit to serve; drops it (freeing its slot) otherwise.
    pub(super) fn put_back(&self, mut live: Live, settings: &PluginSettings) {
        live.served = live.served.saturating_add(1);
        let limiter = &live.store.data().limiter;
        let fit = settings.instances == Instances::Reuse
            && live.served < settings.max_reuse
            && !limiter.hit
            && limiter.total() <= settings.reuse_memory_bound();
        if fit {
            let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if idle.len() < MAX_IDLE_WARM {
                idle.push(live);
            }
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
