//! `general_settings` and `litellm_settings`: the proxy-wide switches.

use super::error::Invalid;
use super::keys::check_guessable;
use super::lenient::Warnings;
use super::plugin_names;
use super::raw::{RawGeneral, RawLitellm};
use super::secret::Secret;

/// `max_request_size_mb` when unset.
const DEFAULT_MAX_REQUEST_SIZE_MB: f64 = 8.0;
/// LiteLLM's "MB" is 1024 * 1024 bytes.
const BYTES_PER_MB: f64 = 1024.0 * 1024.0;

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
    let max_request_size_mb = general.max_request_size_mb.unwrap_or(DEFAULT_MAX_REQUEST_SIZE_MB);
    let max_request_size_bytes = megabytes_to_bytes("general_settings.max_request_size_mb", max_request_size_mb)?;
    if let Some(callbacks) = &litellm.callbacks {
        plugin_names::check_list(callbacks, "litellm_settings.callbacks")?;
    }
    Ok(General {
        master_key: general.master_key,
        enforce_user_param: general.enforce_user_param.unwrap_or(false),
        max_request_size_bytes,
        allow_insecure_master_key,
        callbacks: litellm.callbacks,
        allow_dynamic_callback_disabling: litellm.allow_dynamic_callback_disabling.unwrap_or(true),
        require_auth_for_metrics_endpoint: litellm.require_auth_for_metrics_endpoint.unwrap_or(false),
    })
}

fn megabytes_to_bytes(at: &str, megabytes: f64) -> Result<usize, Invalid> {
    let bytes = (megabytes * BYTES_PER_MB).floor();
    if bytes.is_nan() || bytes < 1.0 {
        return Err(Invalid::at(at, format!("must be a positive size in MB (got {megabytes})")));
    }
    // `as` saturates; refuse rather than silently cap an absurd value.
    if bytes >= usize::MAX as f64 {
        return Err(Invalid::at(at, format!("{megabytes} MB is too large")));
    }
    Ok(bytes as usize)
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
    }
}
