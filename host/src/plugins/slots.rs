//! The engine's instance slots: one per plugin instance alive, idle warm ones included,
//! since the pooling allocator has room for `max_instances` and no more.
//!
//! An idle warm instance keeps its slot only while no one else needs one. A new instance
//! that finds no free slot first takes the slot of an idle warm instance of any plugin
//! (the oldest of the fullest warm pool), and while anyone waits for a slot, instances
//! coming back from a request are dropped rather than kept. Without this, the idle
//! instances of plugins with `instances: reuse` could hold every slot, and each request
//! needing another plugin would wait out `instance_wait` and fail with a 503 (or its
//! logging be skipped) for as long as the proxy ran.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::live::WarmPool;

/// The slots, who waits for one, and the warm pools whose idle instances give theirs up.
pub(crate) struct InstanceSlots {
    semaphore: Arc<Semaphore>,
    /// Callers waiting for a slot now (shared with every warm pool, which keeps no
    /// instance while this is not zero).
    waiting: Arc<AtomicUsize>,
    warm_pools: Mutex<Vec<Weak<WarmPool>>>,
}

/// Counts a caller as waiting for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InstanceSlots {
    /// `max` slots, all free.
    pub fn new(max: usize) -> Self {
        Self { semaphore: Arc::new(Semaphore::new(max)), waiting: Arc::default(), warm_pools: Mutex::default() }
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// A new, empty warm pool whose idle instances give their slots up when needed.
    pub fn warm_pool(&self) -> Arc<WarmPool> {
        let pool = Arc::new(WarmPool::new(Arc::clone(&self.waiting)));
        let mut pools = self.warm_pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Pools of unloaded plugin versions are gone; forget them here, where pools come.
        pools.retain(|pool| pool.strong_count() > 0);
        pools.push(Arc::downgrade(&pool));
        pool
    }

    /// A slot for a new instance: a free one, else an idle warm instance's, else the
    /// first to come free within `wait`. `None` when none did.
    pub async fn acquire(&self, wait: Duration) -> Option<OwnedSemaphorePermit> {
        if let Ok(slot) = Arc::clone(&self.semaphore).try_acquire_owned() {
            return Some(slot);
        }
        // Counted before the idle instances are searched, so an instance put back during
        // the search either is found or sees this caller waiting and is dropped.
        let _waiting = Waiting::new(&self.waiting);
        // A slot an eviction frees may go to a caller queued before this one; then evict
        // again, while idle instances last.
        while self.evict_one_idle() {
            if let Ok(slot) = Arc::clone(&self.semaphore).try_acquire_owned() {
                return Some(slot);
            }
        }
        // A closed semaphore (the engine is going away) counts as none.
        tokio::time::timeout(wait, Arc::clone(&self.semaphore).acquire_owned()).await.ok()?.ok()
    }

    /// Drops the oldest idle instance of the warm pool with the most (of the next one, if
    /// another caller emptied that one first), freeing its slot. False when no pool has an
    /// idle instance.
    fn evict_one_idle(&self) -> bool {
        let mut pools: Vec<Arc<WarmPool>> = {
            let pools = self.warm_pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            pools.iter().filter_map(Weak::upgrade).collect()
        };
        pools.sort_by_cached_key(|pool| std::cmp::Reverse(pool.idle_count()));
        // Dropped here, outside every lock: the store's teardown returns the pool slot,
        // then its permit.
        pools.iter().find_map(|pool| pool.take_oldest()).is_some()
    }
}
