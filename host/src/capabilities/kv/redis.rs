//! The Redis kv backend: state that every proxy replica on one Redis shares.
//!
//! One multiplexed connection per process, re-made in the background when it drops
//! (`redis`'s `ConnectionManager`). Each call is bounded by its deadline. While Redis is
//! unreachable, one call at a time goes through as a probe and the others fail at once,
//! so an outage costs a request nothing but the plugin's `on_error`; the first successful
//! call ends the outage. The log says so once when an outage starts and once when it ends.
//!
//! A call that got no answer in time is an outage only when Redis gave no sign of life.
//! When the proxy was the slow one (its timer fired late, Redis answered a call sent after
//! this one, or the hook reached the call with almost no time left) the call is
//! [`KvError::Late`]: a client that loads the proxy must not be able to turn a fail-open
//! rate limiter off that way.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ErrorKind, RedisError, RedisResult, ServerErrorKind};

use super::{BadRedisUrl, KvError, KvQuota, Reachability};
use crate::capabilities::lateness::{proxy_was_late, too_little_left};

#[derive(Clone)]
pub(super) struct RedisKv {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    /// What every key starts with (`<redis_prefix>:`), then `<plugin>:`: a Redis shared
    /// with other software, or with another deployment, keeps them apart.
    prefix: String,
    /// `host:port/db`, for logs: never the URL, which may hold a password.
    target: String,
    health: Health,
    /// What each plugin may hold, as in memory: without it one plugin could fill Redis to
    /// its `maxmemory`, and every other plugin's writes would fail (their `on_error`,
    /// fail-open included).
    quota: KvQuota,
    /// `quota.lua`, sent once and then called by its hash.
    quota_script: redis::Script,
}

impl RedisKv {
    pub(super) fn new(url: &str, prefix: &str, quota: KvQuota) -> Result<Self, BadRedisUrl> {
        let client = Client::open(url).map_err(|error| BadRedisUrl(error.to_string()))?;
        let info = client.get_connection_info();
        let target = format!("{}/{}", info.addr(), info.redis_settings().db());
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            // Calls are bounded by their own deadlines instead.
            .set_response_timeout(None)
            // Reconnect quickly when Redis returns; give up after a few seconds, after
            // which the next call starts a new round.
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500))
            .set_number_of_retries(6);
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|error| BadRedisUrl(error.to_string()))?;
        let prefix = format!("{prefix}:");
        let quota_script = redis::Script::new(include_str!("quota.lua"));
        Ok(Self {
            inner: Arc::new(Inner { connection, prefix, target, health: Health::default(), quota, quota_script }),
        })
    }

    pub(super) async fn get(&self, namespace: &str, key: &str, deadline: Instant) -> Result<Option<String>, KvError> {
        let key = self.redis_key(namespace, key);
        self.run(deadline, async |mut connection| redis::cmd("GET").arg(&key).query_async(&mut connection).await).await
    }

    pub(super) async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
        deadline: Instant,
    ) -> Result<(), KvError> {
        let ttl = ttl.map_or(0, millis);
        self.within_quota(namespace, key, "set", value, ttl, deadline).await.map(drop)
    }

    pub(super) async fn incr(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
        deadline: Instant,
    ) -> Result<i64, KvError> {
        let ttl = ttl.map_or(0, millis);
        let value = self.within_quota(namespace, key, "incr", &delta.to_string(), ttl, deadline).await?;
        value.parse().map_err(|_| KvError::Invalid(format!("value at {key:?} is not an integer")))
    }

    pub(super) async fn delete(&self, namespace: &str, key: &str, deadline: Instant) -> Result<bool, KvError> {
        let removed = self.within_quota(namespace, key, "delete", "", 0, deadline).await?;
        Ok(removed != "0")
    }

    /// Runs a write (`quota.lua`) that keeps the plugin's keys within its quota; answers
    /// the script's value (the counter's for `incr`, the number removed for `delete`).
    async fn within_quota(
        &self,
        namespace: &str,
        key: &str,
        call: &str,
        argument: &str,
        ttl_ms: u64,
        deadline: Instant,
    ) -> Result<String, KvError> {
        let keys = Bookkeeping::of(&self.inner.prefix, namespace);
        let mut invocation = self.inner.quota_script.key(self.redis_key(namespace, key));
        invocation.key(&keys.sizes).key(&keys.expiries).key(&keys.held);
        invocation.arg(call).arg(&keys.key_start).arg(key);
        invocation.arg(self.inner.quota.max_entries).arg(self.inner.quota.max_bytes);
        invocation.arg(argument).arg(ttl_ms);
        let answer: Vec<String> =
            self.run(deadline, async |mut connection| invocation.invoke_async(&mut connection).await).await?;
        match answer.as_slice() {
            [done, value] if done == "1" => Ok(value.clone()),
            [_, entries, bytes] => Err(KvError::Invalid(format!(
                "this plugin's kv quota is full ({entries} of {} entries, {bytes} of {} bytes)",
                self.inner.quota.max_entries, self.inner.quota.max_bytes
            ))),
            other => Err(KvError::Unavailable(format!("redis answered a kv call with {other:?}"))),
        }
    }

    /// `PING`s Redis, probe gate or not: readiness must see the truth even mid-outage.
    pub(super) async fn check(&self, within: Duration) -> Reachability {
        let ping = self
            .attempt(Instant::now() + within, async |mut connection| {
                redis::cmd("PING").query_async::<String>(&mut connection).await
            })
            .await;
        match ping {
            Ok(_) => Reachability::Connected,
            Err(_) => self.last_known(),
        }
    }

    pub(super) fn last_known(&self) -> Reachability {
        self.inner.health.reachability()
    }

    /// One call: refused at once mid-outage unless it is the probe, else attempted.
    async fn run<T>(
        &self,
        deadline: Instant,
        call: impl AsyncFnOnce(ConnectionManager) -> RedisResult<T>,
    ) -> Result<T, KvError> {
        let _probe = self.inner.health.admit(&self.inner.target)?;
        self.attempt(deadline, call).await
    }

    async fn attempt<T>(
        &self,
        deadline: Instant,
        call: impl AsyncFnOnce(ConnectionManager) -> RedisResult<T>,
    ) -> Result<T, KvError> {
        let (health, target) = (&self.inner.health, self.inner.target.as_str());
        let started = Instant::now();
        let budget = deadline.saturating_duration_since(started);
        if budget.is_zero() {
            return Err(match health.down.load(Ordering::Acquire) {
                true => KvError::Unavailable(format!("redis at {target} is unreachable, and no time is left")),
                false => KvError::Late(too_little_left(budget)),
            });
        }
        let answer = tokio::time::timeout(budget, call(self.inner.connection.clone())).await;
        match answer.ok() {
            Some(Ok(value)) => {
                health.answered(target, started);
                Ok(value)
            }
            Some(Err(error)) if is_call_error(&error) => {
                health.answered(target, started);
                Err(KvError::Invalid(error.to_string()))
            }
            Some(Err(error)) if is_out_of_memory(&error) => {
                // Redis answers: this call failed, and Redis is not down for every plugin.
                health.answered(target, started);
                Err(KvError::Unavailable(format!("redis at {target} refused a write: {error}")))
            }
            Some(Err(error)) => Err(health.failed(target, error.to_string())),
            None => {
                let heard_later_call = health.answered_a_call_started_after(started);
                let heard_meanwhile = health.answered_since(started);
                match lateness(budget, started.elapsed(), heard_later_call, heard_meanwhile) {
                    Some(why) => Err(KvError::Late(format!("redis at {target} answers, but {why}"))),
                    None => Err(health.failed(target, format!("no answer within {} ms", budget.as_millis()))),
                }
            }
        }
    }
}

/// Why a call that got no answer within `budget` (noticed after `waited`) says more about
/// the proxy than about Redis, if it does; `None` means Redis gave no sign of life.
///
/// Beside a late timer or a budget spent before the call ([`proxy_was_late`]): Redis
/// answers one connection's calls in order, so an answer to a call sent later means this
/// one's answer came too, unheard.
///
/// And an answer to any other call while this one waited means Redis is alive: this call
/// waited behind others on the shared connection (one plugin's large values, say). That
/// is load, not an outage: taken for one, a plugin could shut every plugin's kv off at
/// will by writing large values.
fn lateness(budget: Duration, waited: Duration, heard_later_call: bool, heard_meanwhile: bool) -> Option<String> {
    proxy_was_late(budget, waited).or_else(|| {
        heard_later_call
            .then(|| {
                format!(
                    "it answered a later call first: the proxy was too busy to hear this one within {} ms",
                    budget.as_millis()
                )
            })
            .or_else(|| {
                heard_meanwhile.then(|| {
                    format!(
                        "it answered other calls meanwhile: this one waited behind them for over {} ms",
                        budget.as_millis()
                    )
                })
            })
    })
}

/// Errors that are the call's fault (`INCRBY` on text, an overflow), not Redis's.
fn is_call_error(error: &RedisError) -> bool {
    matches!(error.kind(), ErrorKind::Server(ServerErrorKind::ResponseError))
}

/// A Redis at its `maxmemory` that refuses writes (`OOM`, or `EXECABORT` for a
/// transaction that queued one): this call's outage, not Redis's. Taken for Redis being
/// down, it shut every plugin's kv calls off, and a plugin that filled the store could
/// do that at will.
fn is_out_of_memory(error: &RedisError) -> bool {
    error.code() == Some("OOM") || matches!(error.kind(), ErrorKind::Server(ServerErrorKind::ExecAbort))
}

impl RedisKv {
    fn redis_key(&self, namespace: &str, key: &str) -> String {
        format!("{}{namespace}:{key}", self.inner.prefix)
    }
}

/// The Redis keys that hold one plugin's quota bookkeeping. `#` is in no plugin name, so
/// none of them is a plugin's key (`<prefix>:<plugin>:<key>`) nor another plugin's.
struct Bookkeeping {
    /// What the plugin's own keys start with.
    key_start: String,
    sizes: String,
    expiries: String,
    held: String,
}

impl Bookkeeping {
    fn of(prefix: &str, namespace: &str) -> Self {
        let base = format!("{prefix}{namespace}");
        Self {
            key_start: format!("{base}:"),
            sizes: format!("{base}#sizes"),
            expiries: format!("{base}#expiries"),
            held: format!("{base}#bytes"),
        }
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// What this process knows of Redis's reachability, and the probe gate.
struct Health {
    /// Fast path for the common case: Redis is up and no lock is taken.
    down: AtomicBool,
    outage: Mutex<Option<Outage>>,
    /// Set while one call probes a Redis known to be down.
    probing: AtomicBool,
    /// What [`Health::latest_answered_start`] counts from.
    epoch: Instant,
    /// When the latest-started call that Redis answered started, in nanoseconds since
    /// `epoch`: a late call started before it was not waiting on Redis.
    latest_answered_start: AtomicU64,
    /// When the latest answer arrived, in nanoseconds since `epoch`.
    latest_answer: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            down: AtomicBool::new(false),
            outage: Mutex::new(None),
            probing: AtomicBool::new(false),
            epoch: Instant::now(),
            latest_answered_start: AtomicU64::new(0),
            latest_answer: AtomicU64::new(0),
        }
    }
}

struct Outage {
    since: Instant,
    error: String,
}

/// Clears the probe flag when the probing call ends, however it ends.
struct Probe<'a>(Option<&'a AtomicBool>);

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if let Some(flag) = self.0 {
            flag.store(false, Ordering::Release);
        }
    }
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Outage>> {
        self.outage.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn admit(&self, target: &str) -> Result<Probe<'_>, KvError> {
        if !self.down.load(Ordering::Acquire) {
            return Ok(Probe(None));
        }
        if self.probing.swap(true, Ordering::AcqRel) {
            let error = self.lock().as_ref().map(|outage| outage.error.clone()).unwrap_or_default();
            return Err(KvError::Unavailable(format!("redis at {target} is unreachable ({error}); retrying")));
        }
        Ok(Probe(Some(&self.probing)))
    }

    fn since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether an answer to any call arrived after `started`.
    fn answered_since(&self, started: Instant) -> bool {
        self.latest_answer.load(Ordering::Acquire) > self.since_epoch(started)
    }

    /// Whether Redis answered a call that started after `started`.
    fn answered_a_call_started_after(&self, started: Instant) -> bool {
        self.latest_answered_start.load(Ordering::Acquire) > self.since_epoch(started)
    }

    /// Redis answered a call that started at `started`.
    fn answered(&self, target: &str, started: Instant) {
        self.latest_answered_start.fetch_max(self.since_epoch(started), Ordering::AcqRel);
        self.latest_answer.fetch_max(self.since_epoch(Instant::now()), Ordering::AcqRel);
        if !self.down.load(Ordering::Acquire) {
            return;
        }
        let mut outage = self.lock();
        if let Some(ended) = outage.take() {
            self.down.store(false, Ordering::Release);
            tracing::info!(
                redis = target,
                down_for_s = ended.since.elapsed().as_secs_f64(),
                "redis is reachable again; kv calls work"
            );
        }
    }

    fn failed(&self, target: &str, error: String) -> KvError {
        let mut outage = self.lock();
        match outage.as_mut() {
            Some(outage) => outage.error.clone_from(&error),
            None => {
                tracing::warn!(
                    redis = target,
                    %error,
                    "redis is unreachable: kv calls fail, and each plugin's on_error applies, until it answers again"
                );
                *outage = Some(Outage { since: Instant::now(), error: error.clone() });
                self.down.store(true, Ordering::Release);
            }
        }
        KvError::Unavailable(format!("redis at {target} is unreachable ({error})"))
    }

    fn reachability(&self) -> Reachability {
        match self.lock().as_ref() {
            None => Reachability::Connected,
            Some(outage) => Reachability::Unreachable { error: outage.error.clone(), for_: outage.since.elapsed() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_probe_at_a_time_during_an_outage() {
        let health = Health::default();
        assert!(health.admit("t").is_ok(), "up: every call goes through");
        let _ = health.failed("t", "refused".into());
        let probe = health.admit("t").expect("the first call mid-outage probes");
        let refused = health.admit("t").err().expect("a second call fails at once");
        assert!(refused.to_string().contains("refused"), "{refused}");
        drop(probe);
        assert!(health.admit("t").is_ok(), "the probe ended: the next call probes");
        health.answered("t", Instant::now());
        assert_eq!(health.reachability(), Reachability::Connected);
        let _both = (health.admit("t").unwrap(), health.admit("t").unwrap());
    }

    #[test]
    fn an_answer_to_a_later_call_means_the_proxy_was_late_not_redis() {
        let health = Health::default();
        let (first, second) = (Instant::now(), Instant::now() + Duration::from_millis(1));
        assert!(!health.answered_a_call_started_after(first), "nothing answered yet");
        health.answered("t", first);
        assert!(!health.answered_a_call_started_after(first), "its own answer is no later call's");
        health.answered("t", second);
        assert!(health.answered_a_call_started_after(first));
        health.answered("t", first);
        assert!(health.answered_a_call_started_after(first), "an older answer does not hide a newer one");
        assert!(!health.answered_a_call_started_after(second));
    }

    #[test]
    fn a_timeout_is_an_outage_only_when_redis_gave_no_sign_of_life() {
        let ms = Duration::from_millis;
        // Redis silent, the timer on time: an outage.
        assert_eq!(lateness(ms(75), ms(76), false, false), None);
        assert_eq!(lateness(ms(75), ms(110), false, false), None, "a little late is still Redis's silence");
        // The proxy was the slow one.
        let late_timer = lateness(ms(75), ms(113), false, false).expect("fired half its budget late");
        assert!(late_timer.contains("38 ms late"), "{late_timer}");
        let later = lateness(ms(75), ms(76), true, true).expect("a later call was answered");
        assert!(later.contains("later call"), "{later}");
        let spent = lateness(ms(3), ms(4), false, false).expect("the budget was spent before the call");
        assert!(spent.contains("3 ms left"), "{spent}");
        // Redis answered others while this call waited behind them (large values ahead of
        // it on the shared connection): alive, so load, not an outage for every plugin.
        let behind = lateness(ms(75), ms(76), false, true).expect("other calls were answered meanwhile");
        assert!(behind.contains("waited behind them"), "{behind}");
    }

    /// An answer to a call started before this one, arriving while this one waits, is a
    /// sign of life too (the call ahead of it on the connection was a large one).
    #[test]
    fn an_answer_heard_while_a_call_waits_is_a_sign_of_life() {
        let health = Health::default();
        let ahead = Instant::now();
        let waiting = ahead + Duration::from_millis(1);
        std::thread::sleep(Duration::from_millis(5));
        assert!(!health.answered_since(waiting));
        health.answered("t", ahead);
        assert!(health.answered_since(waiting), "answered after the waiting call started");
        assert!(!health.answered_a_call_started_after(waiting), "though it started earlier");
    }
}
