//! `general_settings` and `litellm_settings`: the proxy-wide switches.

use std::time::Duration;

use super::error::Invalid;
use super::keys::check_guessable;
use super::lenient::Warnings;
use super::plugin_names;
use super::raw::{RawGeneral, RawLitellm};
use crate::secret::Secret;

/// `max_request_size_mb` when unset.
const DEFAULT_MAX_REQUEST_SIZE_MB: f64 = 8.0;
/// The largest size any `*_mb` setting accepts.
const MAX_SIZE_MB: f64 = 64.0 * 1024.0;
/// `max_inflight_request_mb` when unset.
const DEFAULT_MAX_INFLIGHT_REQUEST_MB: f64 = 256.0;
/// `max_upstream_response_mb` when unset.
const DEFAULT_MAX_UPSTREAM_RESPONSE_MB: f64 = 32.0;
/// `max_request_messages` when unset: OpenAI's own limit on `messages`.
const DEFAULT_MAX_REQUEST_MESSAGES: usize = 2048;
/// LiteLLM's "MB" is 1024 * 1024 bytes.
const BYTES_PER_MB: f64 = 1024.0 * 1024.0;
/// The longest timeout any `*_timeout_seconds` setting accepts: an hour.
const MAX_TIMEOUT_SECONDS: f64 = 3600.0;

/// The HTTP server's limits (hookgate's own keys in `general_settings`): what a slow or
/// greedy client may hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerLimits {
    /// From accepting a connection (or the end of the previous response on a kept-alive
    /// one) to a complete request head; a client that takes longer is disconnected.
    /// Also the keep-alive idle timeout: hyper runs one timer for both.
    pub header_read_timeout: Duration,
    /// To read a whole request body; longer gets a 408.
    pub body_read_timeout: Duration,
    /// How long a write to a client that reads nothing may wait before the connection
    /// is closed (a stream it held ends as the client's departure, 499).
    pub stream_write_timeout: Duration,
    /// Most connections open at once (also kept below the process's open-file limit);
    /// more are answered 503 and closed.
    pub max_connections: usize,
    /// Largest request head (request line and headers), in bytes; larger gets a 431.
    pub max_header_bytes: usize,
    /// Threads that serve connections, each with its own runtime (`server::serving`);
    /// by default one per CPU the process may use.
    pub serving_threads: usize,
}

/// The most serving threads a config may ask for: far more than any machine's cores.
const MAX_SERVING_THREADS: usize = 1024;

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            stream_write_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_header_bytes: 64 * 1024,
            serving_threads: std::thread::available_parallelism().map_or(1, |cpus| cpus.get()),
        }
    }
}

/// The checked proxy-wide settings.
#[derive(Debug)]
pub(crate) struct General {
    pub(crate) master_key: Option<Secret>,
    pub(crate) enforce_user_param: bool,
    pub(crate) max_request_size_bytes: usize,
    pub(crate) allow_insecure_master_key: bool,
    pub(crate) callbacks: Option<Vec<String>>,
    pub(crate) allow_dynamic_callback_disabling: bool,
    pub(crate) require_auth_for_metrics_endpoint: bool,
    pub(crate) key_id_secret: Option<Secret>,
    pub(crate) max_request_messages: usize,
    pub(crate) ask_stream_usage: bool,
    pub(crate) max_upstream_response_bytes: usize,
    pub(crate) max_inflight_request_bytes: usize,
    pub(crate) server: ServerLimits,
}

/// Checks and converts both sections.
pub(crate) fn build(
    general: Option<RawGeneral>,
    litellm: Option<RawLitellm>,
    warnings: &mut Warnings,
) -> Result<General, Invalid> {
    let general = general.unwrap_or_default();
    let litellm = litellm.unwrap_or_default();
    let allow_insecure_master_key = general.allow_insecure_master_key.unwrap_or(false);
    if let Some(master_key) = &general.master_key {
        let at = "general_settings.master_key";
        if master_key.expose().trim().is_empty() {
            return Err(Invalid::at(at, "must not be empty; leave it out to run without authentication"));
        }
        check_guessable(master_key, at, allow_insecure_master_key, warnings)?;
    }
    let at = |key: &str| format!("general_settings.{key}");
    let max_request_size_mb = general.max_request_size_mb.unwrap_or(DEFAULT_MAX_REQUEST_SIZE_MB);
    let max_request_size_bytes = megabytes_to_bytes(&at("max_request_size_mb"), max_request_size_mb)?;
    let max_upstream_response_mb = general.max_upstream_response_mb.unwrap_or(DEFAULT_MAX_UPSTREAM_RESPONSE_MB);
    let max_upstream_response_bytes = megabytes_to_bytes(&at("max_upstream_response_mb"), max_upstream_response_mb)?;
    let max_inflight_request_mb = general.max_inflight_request_mb.unwrap_or(DEFAULT_MAX_INFLIGHT_REQUEST_MB);
    let max_inflight_request_bytes = megabytes_to_bytes(&at("max_inflight_request_mb"), max_inflight_request_mb)?;
    if max_inflight_request_bytes < max_request_size_bytes {
        return Err(Invalid::at(
            at("max_inflight_request_mb"),
            "must be at least max_request_size_mb, or a request of the largest size could never be served",
        ));
    }
    let callbacks = litellm.callbacks.map(super::raw::OneOrMany::into_vec);
    if let Some(callbacks) = &callbacks {
        plugin_names::check_list(callbacks, "litellm_settings.callbacks")?;
    }
    if let Some(secret) = &general.key_id_secret {
        if secret.expose().len() < 16 {
            return Err(Invalid::at(
                at("key_id_secret"),
                "must be at least 16 characters of secret (e.g. os.environ/NAME)",
            ));
        }
    }
    let defaults = ServerLimits::default();
    let seconds = |key: &str, value: Option<f64>, default: Duration| match value {
        None => Ok(default),
        Some(seconds) => bounded_seconds(&at(key), seconds),
    };
    let server = ServerLimits {
        header_read_timeout: seconds(
            "header_read_timeout_seconds",
            general.header_read_timeout_seconds,
            defaults.header_read_timeout,
        )?,
        body_read_timeout: seconds(
            "body_read_timeout_seconds",
            general.body_read_timeout_seconds,
            defaults.body_read_timeout,
        )?,
        stream_write_timeout: seconds(
            "stream_write_timeout_seconds",
            general.stream_write_timeout_seconds,
            defaults.stream_write_timeout,
        )?,
        max_connections: within(
            &at("max_connections"),
            general.max_connections,
            defaults.max_connections,
            1,
            1_000_000,
        )?,
        max_header_bytes: within(
            &at("max_header_bytes"),
            general.max_header_bytes,
            defaults.max_header_bytes,
            8192,
            16 * 1024 * 1024,
        )?,
        serving_threads: within(
            &at("serving_threads"),
            general.serving_threads,
            defaults.serving_threads,
            1,
            MAX_SERVING_THREADS,
        )?,
    };
    Ok(General {
        master_key: general.master_key,
        enforce_user_param: general.enforce_user_param.unwrap_or(false),
        ask_stream_usage: general.ask_stream_usage.unwrap_or(true),
        max_request_size_bytes,
        allow_insecure_master_key,
        callbacks,
        allow_dynamic_callback_disabling: litellm.allow_dynamic_callback_disabling.unwrap_or(true),
        require_auth_for_metrics_endpoint: litellm.require_auth_for_metrics_endpoint.unwrap_or(false),
        key_id_secret: general.key_id_secret,
        max_request_messages: within(
            &at("max_request_messages"),
            general.max_request_messages,
            DEFAULT_MAX_REQUEST_MESSAGES,
            1,
            1_000_000,
        )?,
        max_upstream_response_bytes,
        max_inflight_request_bytes,
        server,
    })
}

fn megabytes_to_bytes(at: &str, megabytes: f64) -> Result<usize, Invalid> {
    let bytes = (megabytes * BYTES_PER_MB).floor();
    if bytes.is_nan() || bytes < 1.0 {
        return Err(Invalid::at(at, format!("must be a positive size in MB (got {megabytes})")));
    }
    // Bodies and answers are held in memory whole: refuse an absurd limit outright.
    if megabytes > MAX_SIZE_MB {
        return Err(Invalid::at(at, format!("{megabytes} MB is too large (at most {MAX_SIZE_MB})")));
    }
    Ok(bytes as usize)
}

/// A timeout in (possibly fractional) seconds, above 0 and at most an hour.
fn bounded_seconds(at: &str, seconds: f64) -> Result<Duration, Invalid> {
    if !(seconds > 0.0 && seconds <= MAX_TIMEOUT_SECONDS) {
        return Err(Invalid::at(
            at,
            format!("must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS} (got {seconds})"),
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `value` (or `default`) when within `min..=max`; an error naming the key otherwise.
pub(crate) fn within<T: PartialOrd + std::fmt::Display + Copy>(
    at: &str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
) -> Result<T, Invalid> {
    match value {
        None => Ok(default),
        Some(value) if value < min || value > max => {
            Err(Invalid::at(at, format!("must be between {min} and {max} (got {value})")))
        }
        Some(value) => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_convert_in_mebibytes() {
        assert_eq!(megabytes_to_bytes("x", 8.0).unwrap(), 8 * 1024 * 1024);
        assert_eq!(megabytes_to_bytes("x", 0.5).unwrap(), 512 * 1024);
        assert!(megabytes_to_bytes("x", 0.0).is_err());
        assert!(megabytes_to_bytes("x", -1.0).is_err());
        assert!(megabytes_to_bytes("x", f64::NAN).is_err());
        assert!(megabytes_to_bytes("x", f64::INFINITY).is_err());
        assert!(megabytes_to_bytes("x", 1e300).is_err());
    }

    #[test]
    fn timeouts_and_counts_are_bounded() {
        assert_eq!(bounded_seconds("x", 2.5).unwrap(), Duration::from_millis(2500));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e20] {
            assert!(bounded_seconds("x", bad).is_err(), "{bad}");
        }
        assert_eq!(within("x", None, 5, 1, 10).unwrap(), 5);
        assert_eq!(within("x", Some(10), 5, 1, 10).unwrap(), 10);
        let error = within("x.y", Some(11), 5, 1, 10).unwrap_err();
        assert_eq!(error.path.as_deref(), Some("x.y"));
    }
}
