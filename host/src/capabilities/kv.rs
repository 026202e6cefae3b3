//! The store behind the `kv` import: small string values, TTLs, atomic counters.
//!
//! Every key is namespaced by the calling plugin's name, so one plugin cannot read or
//! overwrite another's state. This is the in-memory backend: state is per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest key a plugin may use, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a plugin may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most live entries the in-memory store holds across all plugins.
pub const MAX_ENTRIES: usize = 1_000_000;

/// Why a kv call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The backend could not be reached or did not answer in time.
    #[error("kv unavailable: {0}")]
    Unavailable(String),
    /// The call was wrong: bad key, value too large, `incr` on a non-integer.
    #[error("invalid kv call: {0}")]
    Invalid(String),
}

/// A handle to the kv store; cheap to clone.
#[derive(Clone, Default)]
pub struct Kv {
    memory: Arc<MemoryKv>,
}

impl Kv {
    /// An empty in-memory store.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The value at `key` in `namespace`.
    pub async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        self.memory.get(&scoped(namespace, key)?)
    }

    /// Stores `value` at `key`, expiring after `ttl` when given.
    pub async fn set(&self, namespace: &str, key: &str, value: String, ttl: Option<Duration>) -> Result<(), KvError> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::Invalid(format!("value is over {MAX_VALUE_BYTES} bytes")));
        }
        self.memory.set(scoped(namespace, key)?, value, ttl)
    }

    /// Adds `delta` to the integer at `key` and returns the result; `ttl` applies when the
    /// key is created by this call.
    pub async fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        self.memory.incr(scoped(namespace, key)?, delta, ttl)
    }

    /// Deletes `key`; true when it existed.
    pub async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        self.memory.delete(&scoped(namespace, key)?)
    }
}

/// Plugin names never contain `:` (they are file stems checked at load), so the prefix
/// cannot be forged by a crafted key.
fn scoped(namespace: &str, key: &str) -> Result<String, KvError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(KvError::Invalid(format!("key must be 1..={MAX_KEY_BYTES} bytes")));
    }
    Ok(format!("{namespace}:{key}"))
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

#[derive(Default)]
struct MemoryKv {
    entries: Mutex<HashMap<String, Entry>>,
}

impl MemoryKv {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        let now = Instant::now();
        Ok(self.lock().get(key).filter(|e| e.live(now)).map(|e| e.value.clone()))
    }

    fn set(&self, key: String, value: String, ttl: Option<Duration>) -> Result<(), KvError> {
        let mut entries = self.lock();
        make_room(&mut entries, &key)?;
        entries.insert(key, Entry { value, expires: ttl.map(|ttl| Instant::now() + ttl) });
        Ok(())
    }

    fn incr(&self, key: String, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
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

    fn delete(&self, key: &str) -> Result<bool, KvError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn namespaces_do_not_collide() {
        let kv = Kv::in_memory();
        kv.set("a", "k", "from-a".into(), None).await.unwrap();
        kv.set("b", "k", "from-b".into(), None).await.unwrap();
        assert_eq!(kv.get("a", "k").await.unwrap().as_deref(), Some("from-a"));
        assert_eq!(kv.get("b", "k").await.unwrap().as_deref(), Some("from-b"));
        assert!(kv.delete("a", "k").await.unwrap());
        assert_eq!(kv.get("b", "k").await.unwrap().as_deref(), Some("from-b"));
    }

    #[tokio::test]
    async fn incr_counts_and_expires() {
        let kv = Kv::in_memory();
        let ttl = Some(Duration::from_millis(30));
        assert_eq!(kv.incr("p", "n", 1, ttl).await.unwrap(), 1);
        assert_eq!(kv.incr("p", "n", 2, ttl).await.unwrap(), 3);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(kv.get("p", "n").await.unwrap(), None);
        assert_eq!(kv.incr("p", "n", 1, None).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn bad_calls_are_invalid() {
        let kv = Kv::in_memory();
        kv.set("p", "s", "text".into(), None).await.unwrap();
        assert!(matches!(kv.incr("p", "s", 1, None).await, Err(KvError::Invalid(_))));
        assert!(matches!(kv.get("p", "").await, Err(KvError::Invalid(_))));
        let huge = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(kv.set("p", "h", huge, None).await, Err(KvError::Invalid(_))));
    }
}
