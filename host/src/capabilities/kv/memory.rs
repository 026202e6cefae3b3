//! The in-memory kv backend: one process's state, bounded per plugin.
//!
//! Each plugin (namespace) may hold at most [`KvQuota`]'s entries and bytes (keys and
//! values), so one plugin, or the clients whose input decides its keys (a rate limiter
//! keyed on the client's `user` field), can never fill the store for the others. Expired
//! entries leave through an expiry queue, a few per write and all that are due when a
//! plugin reaches its quota, so nothing ever scans the whole store.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::KvError;

/// Most live entries the in-memory store holds across all plugins.
pub const MAX_ENTRIES: usize = 1_000_000;

/// How many due expiries each write retires on the way (amortized clean-up).
const EXPIRIES_PER_WRITE: usize = 8;

/// What one plugin may hold in the in-memory store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvQuota {
    /// Most entries.
    pub max_entries: usize,
    /// Most bytes of keys and values.
    pub max_bytes: usize,
}

impl Default for KvQuota {
    fn default() -> Self {
        Self { max_entries: 100_000, max_bytes: 64 * 1024 * 1024 }
    }
}

struct Entry {
    value: String,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// What one namespace holds now.
#[derive(Default, Clone, Copy)]
struct Usage {
    entries: usize,
    bytes: usize,
}

#[derive(Default)]
struct Store {
    /// By namespace, then key.
    entries: HashMap<String, HashMap<String, Entry>>,
    usage: HashMap<String, Usage>,
    total: usize,
    /// When entries expire: `(when, namespace, key)`. An item whose entry was since
    /// rewritten or deleted is skipped when it comes up.
    expiries: BinaryHeap<Reverse<(Instant, String, String)>>,
    /// The queue length at which it is next compacted.
    compact_at: usize,
    /// The queue's bytes at which it is next compacted.
    compact_bytes_at: usize,
    /// The bytes of the live entries' keys and values, all namespaces.
    live_bytes: usize,
    /// The bytes of the expiry queue's items, stale ones included: a long key rewritten
    /// with ever new expiries must not grow it past what the quotas bound.
    queue_bytes: usize,
}

/// What one expiry-queue item holds, beside its key and namespace.
const QUEUE_ITEM_BYTES: usize = std::mem::size_of::<Reverse<(Instant, String, String)>>();

pub(super) struct MemoryKv {
    store: Mutex<Store>,
    quota: KvQuota,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new(KvQuota::default())
    }
}

impl MemoryKv {
    pub(super) fn new(quota: KvQuota) -> Self {
        Self { store: Mutex::new(Store::default()), quota }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        self.get_at(namespace, key, Instant::now())
    }

    pub(super) fn set(&self, namespace: &str, key: &str, value: String, ttl: Option<Duration>) -> Result<(), KvError> {
        self.set_at(namespace, key, value, ttl, Instant::now())
    }

    pub(super) fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        self.incr_at(namespace, key, delta, ttl, Instant::now())
    }

    pub(super) fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        self.delete_at(namespace, key, Instant::now())
    }

    // The `_at` forms take the clock's reading, so that tests can move time without
    // sleeping (a sleep-based test of a TTL is a flaky one).

    fn get_at(&self, namespace: &str, key: &str, now: Instant) -> Result<Option<String>, KvError> {
        let store = self.lock();
        let entry = store.entries.get(namespace).and_then(|entries| entries.get(key));
        Ok(entry.filter(|e| e.live(now)).map(|e| e.value.clone()))
    }

    fn set_at(
        &self,
        namespace: &str,
        key: &str,
        value: String,
        ttl: Option<Duration>,
        now: Instant,
    ) -> Result<(), KvError> {
        let mut store = self.lock();
        store.retire_due(now, EXPIRIES_PER_WRITE);
        store.put(namespace, key, value, ttl.map(|ttl| now + ttl), self.quota, now)
    }

    fn incr_at(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
        now: Instant,
    ) -> Result<i64, KvError> {
        let mut store = self.lock();
        store.retire_due(now, EXPIRIES_PER_WRITE);
        let existing = store.entries.get(namespace).and_then(|entries| entries.get(key)).filter(|e| e.live(now));
        let (current, expires) = match existing {
            Some(entry) => (
                entry
                    .value
                    .parse::<i64>()
                    .map_err(|_| KvError::Invalid(format!("value at {key:?} is not an integer")))?,
                entry.expires,
            ),
            // A new key: the TTL applies now.
            None => (0, ttl.map(|ttl| now + ttl)),
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| KvError::Invalid("increment overflows a 64-bit integer".into()))?;
        store.put(namespace, key, next.to_string(), expires, self.quota, now)?;
        Ok(next)
    }

    fn delete_at(&self, namespace: &str, key: &str, now: Instant) -> Result<bool, KvError> {
        let mut store = self.lock();
        Ok(store.remove(namespace, key).is_some_and(|e| e.live(now)))
    }
}

impl Store {
    /// Stores `value` at `key`, within the namespace's quota and the store's bound.
    fn put(
        &mut self,
        namespace: &str,
        key: &str,
        value: String,
        expires: Option<Instant>,
        quota: KvQuota,
        now: Instant,
    ) -> Result<(), KvError> {
        let old = self.entries.get(namespace).and_then(|entries| entries.get(key));
        let old_bytes = old.map(|e| key.len() + e.value.len());
        // An entry rewritten with the expiry it has (a counter's `incr` keeps its window)
        // already has its queue item: another would be one more per write, all live.
        let queue_item_needed = expires.is_some() && old.is_none_or(|e| e.expires != expires);
        let new_bytes = key.len() + value.len();
        let fits = |store: &Store| {
            let usage = store.usage.get(namespace).copied().unwrap_or_default();
            let entries = usage.entries + usize::from(old_bytes.is_none());
            let bytes = usage.bytes - old_bytes.unwrap_or(0) + new_bytes;
            let total = store.total + usize::from(old_bytes.is_none());
            entries <= quota.max_entries && bytes <= quota.max_bytes && total <= MAX_ENTRIES
        };
        if !fits(self) {
            // Full: whatever has expired goes first (from the queue: no scan).
            self.retire_due(now, usize::MAX);
            if !fits(self) {
                let usage = self.usage.get(namespace).copied().unwrap_or_default();
                return Err(KvError::Invalid(format!(
                    "this plugin's kv quota is full ({} of {} entries, {} of {} bytes)",
                    usage.entries, quota.max_entries, usage.bytes, quota.max_bytes
                )));
            }
        }
        let usage = self.usage.entry(namespace.to_owned()).or_default();
        usage.bytes = usage.bytes - old_bytes.unwrap_or(0) + new_bytes;
        if old_bytes.is_none() {
            usage.entries += 1;
            self.total += 1;
        }
        self.live_bytes = self.live_bytes - old_bytes.unwrap_or(0) + new_bytes;
        if let Some(at) = expires.filter(|_| queue_item_needed) {
            self.queue_bytes += QUEUE_ITEM_BYTES + namespace.len() + key.len();
            self.expiries.push(Reverse((at, namespace.to_owned(), key.to_owned())));
        }
        self.entries.entry(namespace.to_owned()).or_default().insert(key.to_owned(), Entry { value, expires });
        self.compact_expiries();
        Ok(())
    }

    fn remove(&mut self, namespace: &str, key: &str) -> Option<Entry> {
        let entries = self.entries.get_mut(namespace)?;
        let entry = entries.remove(key)?;
        if entries.is_empty() {
            self.entries.remove(namespace);
        }
        if let Some(usage) = self.usage.get_mut(namespace) {
            usage.entries -= 1;
            usage.bytes -= key.len() + entry.value.len();
        }
        self.live_bytes -= key.len() + entry.value.len();
        self.total -= 1;
        Some(entry)
    }

    /// Removes up to `most` entries whose expiry is due.
    fn retire_due(&mut self, now: Instant, most: usize) {
        let mut retired = 0;
        while retired < most {
            match self.expiries.peek() {
                Some(Reverse((at, _, _))) if *at <= now => {}
                _ => return,
            }
            let Reverse((at, namespace, key)) = self.expiries.pop().expect("peeked");
            self.queue_bytes -= QUEUE_ITEM_BYTES + namespace.len() + key.len();
            let current = self.entries.get(&namespace).and_then(|entries| entries.get(&key));
            // Rewritten since (another expiry) or deleted: not this item's to retire.
            if current.is_some_and(|entry| entry.expires == Some(at)) {
                self.remove(&namespace, &key);
                retired += 1;
            }
        }
    }

    /// Keeps the expiry queue from growing with items whose entries were rewritten: when
    /// it holds over twice as many items as the store has entries (or twice what the last
    /// compaction left), or over twice the bytes of the live entries (long keys; or twice
    /// what the last compaction left), it is rebuilt with one item per entry that expires,
    /// so the work stays amortized constant per write and its memory within a small
    /// multiple of what the quotas allow. Each threshold is at least twice what the last
    /// rebuild left: a rebuild that could not shrink the queue must not run again on the
    /// next write.
    fn compact_expiries(&mut self) {
        let too_many = self.expiries.len() > self.compact_at.max(2 * self.total + 1024);
        let bytes_bound = 2 * (self.live_bytes + self.total * QUEUE_ITEM_BYTES) + (1 << 20);
        let too_large = self.queue_bytes > self.compact_bytes_at.max(bytes_bound);
        if too_many || too_large {
            self.rebuild_expiries();
        }
    }

    /// The expiry queue with one item per entry that expires, and nothing else.
    fn rebuild_expiries(&mut self) {
        let mut live: Vec<_> = std::mem::take(&mut self.expiries)
            .into_iter()
            .filter(|Reverse((at, namespace, key))| {
                let current = self.entries.get(namespace).and_then(|entries| entries.get(key));
                current.is_some_and(|entry| entry.expires == Some(*at))
            })
            .collect();
        // An entry given expiry A, then B, then A again has two items that both match it.
        live.sort_unstable();
        live.dedup();
        self.queue_bytes =
            live.iter().map(|Reverse((_, namespace, key))| QUEUE_ITEM_BYTES + namespace.len() + key.len()).sum();
        self.expiries = live.into();
        self.compact_at = 2 * self.expiries.len();
        self.compact_bytes_at = 2 * self.queue_bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_at_its_quota_is_refused_and_others_are_not() {
        let kv = MemoryKv::new(KvQuota { max_entries: 3, max_bytes: 1000 });
        for i in 0..3 {
            kv.set("limiter", &format!("user-{i}"), "1".into(), None).unwrap();
        }
        let error = kv.set("limiter", "user-3", "1".into(), None).unwrap_err();
        assert!(matches!(&error, KvError::Invalid(m) if m.contains("quota is full")), "{error:?}");
        assert!(matches!(kv.incr("limiter", "user-4", 1, None), Err(KvError::Invalid(_))));
        kv.set("limiter", "user-0", "rewritten".into(), None).unwrap();
        kv.set("alerter", "a", "still room for another plugin".into(), None).unwrap();
        assert!(kv.delete("limiter", "user-1").unwrap());
        kv.set("limiter", "user-3", "1".into(), None).unwrap();
    }

    #[test]
    fn the_byte_quota_counts_keys_and_values() {
        let kv = MemoryKv::new(KvQuota { max_entries: 100, max_bytes: 20 });
        kv.set("p", "k1", "x".repeat(10), None).unwrap();
        assert!(kv.set("p", "k2", "x".repeat(10), None).is_err(), "12 + 12 > 20");
        kv.set("p", "k1", "x".repeat(18), None).unwrap();
        assert!(kv.set("p", "k1", "x".repeat(19), None).is_err());
    }

    #[test]
    fn expired_entries_make_room_without_a_scan() {
        let kv = MemoryKv::new(KvQuota { max_entries: 2, max_bytes: 1000 });
        let (start, ttl) = (Instant::now(), Some(Duration::from_secs(10)));
        kv.set_at("p", "a", "1".into(), ttl, start).unwrap();
        kv.incr_at("p", "b", 1, ttl, start).unwrap();
        assert!(kv.set_at("p", "c", "1".into(), None, start).is_err());
        let later = start + Duration::from_secs(11);
        kv.set_at("p", "c", "1".into(), None, later).unwrap();
        kv.set_at("p", "d", "1".into(), None, later).unwrap();
        assert_eq!(kv.get_at("p", "a", later).unwrap(), None);
    }

    #[test]
    fn a_rewritten_entry_keeps_its_new_expiry() {
        let kv = MemoryKv::default();
        let start = Instant::now();
        kv.set_at("p", "k", "old".into(), Some(Duration::from_secs(1)), start).unwrap();
        kv.set_at("p", "k", "new".into(), None, start).unwrap();
        let later = start + Duration::from_secs(2);
        kv.set_at("p", "other", "x".into(), None, later).unwrap();
        assert_eq!(kv.get_at("p", "k", later).unwrap().as_deref(), Some("new"), "the stale expiry did not remove it");
    }

    #[test]
    fn incr_keeps_the_ttl_it_was_created_with() {
        let kv = MemoryKv::default();
        let start = Instant::now();
        assert_eq!(kv.incr_at("p", "n", 1, Some(Duration::from_secs(1)), start).unwrap(), 1);
        let soon = start + Duration::from_millis(500);
        assert_eq!(kv.incr_at("p", "n", 1, Some(Duration::from_secs(60)), soon).unwrap(), 2);
        let later = start + Duration::from_millis(1500);
        assert_eq!(kv.get_at("p", "n", later).unwrap(), None, "the TTL applies when the key is created");
        assert_eq!(kv.incr_at("p", "n", 1, None, later).unwrap(), 1, "a new key after expiry");
    }

    #[test]
    fn the_expiry_queue_stays_bounded_under_rewrites() {
        let kv = MemoryKv::default();
        let start = Instant::now();
        for i in 0..10_000 {
            kv.set_at("p", "k", i.to_string(), Some(Duration::from_secs(60) + Duration::from_millis(i)), start)
                .unwrap();
        }
        assert!(kv.lock().expiries.len() <= 2 + 1024 + 1, "{}", kv.lock().expiries.len());
    }

    /// A rate limiter's counter: `incr` on one key, thousands of times in its window,
    /// keeps the expiry it was created with. Each write queued another item for it, all
    /// of them live, so compaction could not shrink the queue; once it passed its byte
    /// bound every write rebuilt it, and the proxy's throughput fell with each request.
    #[test]
    fn a_counter_incremented_in_its_window_keeps_one_queue_item() {
        let kv = MemoryKv::default();
        let start = Instant::now();
        for i in 0..50_000 {
            let now = start + Duration::from_micros(i);
            kv.incr_at("limiter", "key:window", 1, Some(Duration::from_secs(60)), now).unwrap();
        }
        assert_eq!(kv.lock().expiries.len(), 1);
        // Expiry A, then B, then A again: two items match the entry; a rebuild keeps one.
        let (a, b) = (Some(Duration::from_secs(10)), Some(Duration::from_secs(20)));
        for (ttl, value) in [(a, "1"), (b, "2"), (a, "3")] {
            kv.set_at("p", "k", value.into(), ttl, start).unwrap();
        }
        let mut store = kv.lock();
        store.rebuild_expiries();
        assert_eq!(store.expiries.len(), 2, "one item for each entry that expires");
    }

    /// A plugin with many small entries (a large store) rewriting one long key with ever
    /// new expiries: the stale items hold a copy of the key each, so the queue is bounded
    /// by bytes too, not only by a count that its other entries raise.
    #[test]
    fn the_expiry_queue_stays_bounded_in_bytes_under_rewrites_of_a_long_key() {
        let kv = MemoryKv::new(KvQuota { max_entries: 100_000, max_bytes: 64 << 20 });
        let start = Instant::now();
        for i in 0..20_000 {
            kv.set_at("p", &format!("k{i}"), String::new(), None, start).unwrap();
        }
        let long = "k".repeat(1000);
        for i in 0..20_000 {
            kv.set_at("p", &long, String::new(), Some(Duration::from_secs(3600) + Duration::from_millis(i)), start)
                .unwrap();
        }
        let store = kv.lock();
        let live = store.live_bytes + store.total * QUEUE_ITEM_BYTES;
        assert!(store.queue_bytes <= 2 * live + (1 << 20) + 2000, "{} bytes queued for {live}", store.queue_bytes);
        let counted: usize = store.expiries.iter().map(|Reverse((_, n, k))| QUEUE_ITEM_BYTES + n.len() + k.len()).sum();
        assert_eq!(store.queue_bytes, counted);
    }
}
