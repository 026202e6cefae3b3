//! The store behind the `kv` import: small string values, TTLs, atomic counters.
//!
//! Every key is namespaced by the calling plugin's name, so one plugin cannot read or
//! overwrite another's state. Two backends answer the same calls the same way:
//!
//! - [`memory`]: the default; state is per process.
//! - [`redis`]: when the config sets `redis_url`, so that several proxy replicas share
//!   rate-limit and alerting state.
//!
//! Every call takes a deadline: a kv call never holds a hook past it, whatever the backend
//! is doing. Past it, the call is [`KvError::Unavailable`] when the backend gave no sign
//! of life, or [`KvError::Late`] when the proxy itself was too busy to hear the answer.

mod memory;
mod redis;

use std::time::{Duration, Instant};

pub use memory::KvQuota;
use memory::MemoryKv;
use redis::RedisKv;

/// Longest key a plugin may use, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a plugin may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Why a kv call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The backend could not be reached, or gave no sign of life before the deadline:
    /// an outage, where the calling plugin's `on_error` decides.
    #[error("kv unavailable: {0}")]
    Unavailable(String),
    /// The backend answers, but this call's answer was not heard before its deadline
    /// because the proxy was too busy (its timer fired late, a later call was answered
    /// first, or the hook reached the call with no time left). Not an outage: a client
    /// who loads the proxy must not turn a fail-open plugin off this way. Plugins see it
    /// as `unavailable`; the host charges the hook's failure like a deadline.
    #[error("kv call late: {0}")]
    Late(String),
    /// The call was wrong: bad key, value too large, `incr` on a non-integer.
    #[error("invalid kv call: {0}")]
    Invalid(String),
}

/// A `redis_url` that cannot be used; the message never contains the URL (it may hold a
/// password).
#[derive(Debug, thiserror::Error)]
#[error("redis_url is not a usable Redis URL: {0}")]
pub struct BadRedisUrl(String);

/// Whether the store's backend answers, for readiness and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    /// In memory: always there.
    Local,
    /// Redis answered.
    Connected,
    /// Redis did not answer; with why, and since when.
    Unreachable {
        /// The last error, without credentials.
        error: String,
        /// How long it has been unreachable.
        for_: Duration,
    },
}

/// A handle to the kv store; cheap to clone.
#[derive(Clone)]
pub struct Kv {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Memory(std::sync::Arc<MemoryKv>),
    Redis(RedisKv),
}

impl Kv {
    /// An empty in-memory store with the default quota per plugin.
    pub fn in_memory() -> Self {
        Self::in_memory_with(KvQuota::default())
    }

    /// An empty in-memory store where each plugin may hold at most `quota`.
    pub fn in_memory_with(quota: KvQuota) -> Self {
        Self { backend: Backend::Memory(std::sync::Arc::new(MemoryKv::new(quota))) }
    }

    /// A store on the Redis server at `url` (`redis://[:password@]host:port[/db]`), whose
    /// keys are `<prefix>:<plugin>:<key>`: two deployments on one Redis (staging and
    /// production) keep apart by prefix.
    ///
    /// Does not connect: the first call does, and the connection is re-made whenever it
    /// drops. A proxy therefore starts while Redis is down; its kv calls fail until
    /// Redis is back (see [`Kv::check`]).
    ///
    /// Each plugin may hold at most `quota` there too (its keys and values, counted as in
    /// memory), kept in bookkeeping keys of its own beside its keys.
    pub fn redis(url: &str, prefix: &str, quota: KvQuota) -> Result<Self, BadRedisUrl> {
        Ok(Self { backend: Backend::Redis(RedisKv::new(url, prefix, quota)?) })
    }

    /// The backend's name, as in readiness and logs: `memory` or `redis`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// Asks the backend whether it answers now (a Redis `PING` bounded by `within`).
    pub async fn check(&self, within: Duration) -> Reachability {
        match &self.backend {
            Backend::Memory(_) => Reachability::Local,
            Backend::Redis(redis) => redis.check(within).await,
        }
    }

    /// What the last call learned about the backend, without asking it again.
    pub fn last_known(&self) -> Reachability {
        match &self.backend {
            Backend::Memory(_) => Reachability::Local,
            Backend::Redis(redis) => redis.last_known(),
        }
    }

    /// The value at `key` in `namespace`.
    pub async fn get(&self, namespace: &str, key: &str, deadline: Instant) -> Result<Option<String>, KvError> {
        valid_key(key)?;
        match &self.backend {
            Backend::Memory(memory) => memory.get(namespace, key),
            Backend::Redis(redis) => redis.get(namespace, key, deadline).await,
        }
    }

    /// Stores `value` at `key`, expiring after `ttl` when given.
    pub async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: String,
        ttl: Option<Duration>,
        deadline: Instant,
    ) -> Result<(), KvError> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::Invalid(format!("value is over {MAX_VALUE_BYTES} bytes")));
        }
        valid_key(key)?;
        let ttl = ttl.map(positive).transpose()?;
        match &self.backend {
            Backend::Memory(memory) => memory.set(namespace, key, value, ttl),
            Backend::Redis(redis) => redis.set(namespace, key, &value, ttl, deadline).await,
        }
    }

    /// Adds `delta` to the integer at `key` and returns the result; `ttl` applies when the
    /// key is created by this call.
    pub async fn incr(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
        deadline: Instant,
    ) -> Result<i64, KvError> {
        valid_key(key)?;
        let ttl = ttl.map(positive).transpose()?;
        match &self.backend {
            Backend::Memory(memory) => memory.incr(namespace, key, delta, ttl),
            Backend::Redis(redis) => redis.incr(namespace, key, delta, ttl, deadline).await,
        }
    }

    /// Deletes `key`; true when it existed.
    pub async fn delete(&self, namespace: &str, key: &str, deadline: Instant) -> Result<bool, KvError> {
        valid_key(key)?;
        match &self.backend {
            Backend::Memory(memory) => memory.delete(namespace, key),
            Backend::Redis(redis) => redis.delete(namespace, key, deadline).await,
        }
    }
}

/// Any bytes, within bounds: plugin names never contain `:` (they are file stems checked
/// at load), so a crafted key cannot reach into another plugin's keys on Redis
/// (`<prefix>:<plugin>:<key>`).
fn valid_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(KvError::Invalid(format!("key must be 1..={MAX_KEY_BYTES} bytes")));
    }
    Ok(())
}

/// A TTL of zero would mean "already expired" in memory and is an error in Redis: refuse
/// it the same way for both.
fn positive(ttl: Duration) -> Result<Duration, KvError> {
    if ttl.is_zero() {
        return Err(KvError::Invalid("ttl must be at least 1 ms".into()));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(1)
    }

    #[tokio::test]
    async fn namespaces_do_not_collide() {
        let kv = Kv::in_memory();
        kv.set("a", "k", "from-a".into(), None, soon()).await.unwrap();
        kv.set("b", "k", "from-b".into(), None, soon()).await.unwrap();
        assert_eq!(kv.get("a", "k", soon()).await.unwrap().as_deref(), Some("from-a"));
        assert_eq!(kv.get("b", "k", soon()).await.unwrap().as_deref(), Some("from-b"));
        assert!(kv.delete("a", "k", soon()).await.unwrap());
        assert_eq!(kv.get("b", "k", soon()).await.unwrap().as_deref(), Some("from-b"));
    }

    #[tokio::test]
    async fn incr_counts() {
        let kv = Kv::in_memory();
        assert_eq!(kv.incr("p", "n", 1, None, soon()).await.unwrap(), 1);
        assert_eq!(kv.incr("p", "n", 2, None, soon()).await.unwrap(), 3);
        assert_eq!(kv.get("p", "n", soon()).await.unwrap().as_deref(), Some("3"));
    }

    #[tokio::test]
    async fn bad_calls_are_invalid() {
        let kv = Kv::in_memory();
        kv.set("p", "s", "text".into(), None, soon()).await.unwrap();
        assert!(matches!(kv.incr("p", "s", 1, None, soon()).await, Err(KvError::Invalid(_))));
        assert!(matches!(kv.get("p", "", soon()).await, Err(KvError::Invalid(_))));
        let huge = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(kv.set("p", "h", huge, None, soon()).await, Err(KvError::Invalid(_))));
        let zero = Some(Duration::ZERO);
        assert!(matches!(kv.set("p", "z", "v".into(), zero, soon()).await, Err(KvError::Invalid(_))));
    }

    #[test]
    fn a_bad_redis_url_is_refused_without_echoing_it() {
        let error =
            Kv::redis("http://:hunter2@example:6379", "hookgate", KvQuota::default()).err().expect("not a redis URL");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
