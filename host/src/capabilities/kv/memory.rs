//! The in-memory kv backend: one process's state, bounded in entries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::KvError;

/// Most live entries the in-memory store holds across all plugins.
pub const MAX_ENTRIES: usize = 1_000_000;

struct Entry {
    value: String,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

#[derive(Default)]
pub(super) struct MemoryKv {
    entries: Mutex<HashMap<String, Entry>>,
}

impl MemoryKv {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        let now = Instant::now();
        Ok(self.lock().get(key).filter(|e| e.live(now)).map(|e| e.value.clone()))
    }

    pub(super) fn set(&self, key: String, value: String, ttl: Option<Duration>) -> Result<(), KvError> {
        let mut entries = self.lock();
        make_room(&mut entries, &key)?;
        entries.insert(key, Entry { value, expires: ttl.map(|ttl| Instant::now() + ttl) });
        Ok(())
    }

    pub(super) fn incr(&self, key: String, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let current = match entries.get(&key).filter(|e| e.live(now)) {
            Some(entry) => Some(
                entry
                    .value
                    .parse::<i64>()
                    .map_err(|_| KvError::Invalid(format!("value at {key:?} is not an integer")))?,
            ),
            None => None,
        };
        let next = current
            .unwrap_or(0)
            .checked_add(delta)
            .ok_or_else(|| KvError::Invalid("increment overflows a 64-bit integer".into()))?;
        match entries.get_mut(&key).filter(|_| current.is_some()) {
            Some(entry) => entry.value = next.to_string(),
            None => {
                make_room(&mut entries, &key)?;
                let expires = ttl.map(|ttl| now + ttl);
                entries.insert(key, Entry { value: next.to_string(), expires });
            }
        }
        Ok(next)
    }

    pub(super) fn delete(&self, key: &str) -> Result<bool, KvError> {
        let now = Instant::now();
        Ok(self.lock().remove(key).is_some_and(|e| e.live(now)))
    }
}

/// Keeps the map bounded: when full, drops expired entries; when still full, refuses.
fn make_room(entries: &mut HashMap<String, Entry>, key: &str) -> Result<(), KvError> {
    if entries.len() < MAX_ENTRIES || entries.contains_key(key) {
        return Ok(());
    }
    let now = Instant::now();
    entries.retain(|_, entry| entry.live(now));
    if entries.len() >= MAX_ENTRIES {
        return Err(KvError::Invalid(format!("kv store is full ({MAX_ENTRIES} entries)")));
    }
    Ok(())
}
