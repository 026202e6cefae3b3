//! A small key-value store for state that outlives a request: counters, rate windows.
//!
//! The host namespaces keys per plugin (a plugin sees only its own) and backs the store
//! with memory, or with Redis so that several proxy replicas share it. Every call is
//! bounded by the calling hook's deadline.

use std::fmt;
use std::time::Duration;

use crate::bindings::hookgate::plugin::kv as host;

/// Why a kv call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The backend could not be reached or did not answer in time; retrying later may work.
    Unavailable(String),
    /// The call itself was wrong (e.g. `incr` on a value that is not an integer).
    Invalid(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::Unavailable(detail) => write!(f, "kv store unavailable: {detail}"),
            KvError::Invalid(detail) => write!(f, "invalid kv call: {detail}"),
        }
    }
}

impl std::error::Error for KvError {}

impl From<host::KvError> for KvError {
    fn from(error: host::KvError) -> Self {
        match error {
            host::KvError::Unavailable(detail) => KvError::Unavailable(detail),
            host::KvError::Invalid(detail) => KvError::Invalid(detail),
        }
    }
}

/// The value stored at `key`, or `None`.
pub fn get(key: &str) -> Result<Option<String>, KvError> {
    Ok(host::get(key)?)
}

/// Stores `value` at `key`; with `ttl`, the key expires after it (whole milliseconds).
pub fn set(key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError> {
    Ok(host::set(key, value, ttl.map(millis))?)
}

/// Atomically adds `delta` to the integer at `key` (missing counts as 0) and returns the
/// new value. `ttl` applies when this call creates the key.
pub fn incr(key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
    Ok(host::incr(key, delta, ttl.map(millis))?)
}

/// Deletes `key`; `true` when it existed.
pub fn delete(key: &str) -> Result<bool, KvError> {
    Ok(host::delete(key)?)
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}
