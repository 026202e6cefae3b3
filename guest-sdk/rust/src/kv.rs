//! A small key-value store for state that outlives a request: counters, rate windows.
//!
//! The host namespaces keys per plugin (a plugin sees only its own) and backs the store
//! with memory, or with Redis so that several proxy replicas share it. Every call is
//! bounded by the calling hook's deadline.

use std::fmt;

use crate::bindings::hookgate::plugin::kv as host;

/// Why a kv call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The backend could not be reached or did not answer in time; retrying later may work.
    Unavailable(String),
    /// The call itself was wrong (e.g. `incr` on a value that is not an integer), or the
    /// plugin's kv quota is full.
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

/// Stores `value` at `key`; with `ttl_ms`, the key expires after that many milliseconds
/// (the same unit in every SDK).
pub fn set(key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), KvError> {
    Ok(host::set(key, value, ttl_ms)?)
}

/// Atomically adds `delta` to the integer at `key` (missing counts as 0) and returns the
/// new value. `ttl_ms` applies when this call creates the key.
pub fn incr(key: &str, delta: i64, ttl_ms: Option<u64>) -> Result<i64, KvError> {
    Ok(host::incr(key, delta, ttl_ms)?)
}

/// Deletes `key`; `true` when it existed.
pub fn delete(key: &str) -> Result<bool, KvError> {
    Ok(host::delete(key)?)
}
