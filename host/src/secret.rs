//! Secret strings: keys and URLs that must never reach a log line.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A secret value (master key, virtual key, provider API key, Redis URL with password).
///
/// Debug and Display print `[redacted]`, so a secret survives `{:?}` of the whole
/// config, an error chain or a tracing field without leaking; the value is reachable
/// only through the deliberately named [`Secret::expose`].
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself, for the one place that must use it (an auth check, an
    /// outgoing header, a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Lower-case hex SHA-256 of the value: identifies a key in logs, metrics and stores
    /// without revealing it.
    pub fn sha256_hex(&self) -> String {
        crate::types::ContentHash::of(self.0.as_bytes()).to_string()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Keys published in documentation and tutorials (LiteLLM's `sk-1234` first of all):
/// anyone can guess them, so they are refused unless the operator opts in.
const PUBLICLY_KNOWN: &[&str] = &[
    "sk-1234",
    "sk-12345",
    "sk-123456",
    "sk-123",
    "sk-test",
    "sk-admin",
    "1234",
    "password",
    "changeme",
    "admin",
    "master-key",
];

/// Whether `secret` is one of the publicly known example keys.
///
/// Compared without regard to case or surrounding space: `ChangeMe` is no harder to guess.
pub(crate) fn is_publicly_known(secret: &Secret) -> bool {
    let value = secret.expose().trim();
    PUBLICLY_KNOWN.iter().any(|known| known.eq_ignore_ascii_case(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let secret = Secret::new("sk-very-secret");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(secret.expose(), "sk-very-secret");
    }

    #[test]
    fn sha256_is_lower_hex() {
        // SHA-256 of "abc", from FIPS 180-2.
        assert_eq!(Secret::new("abc").sha256_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn known_keys_are_recognised() {
        assert!(is_publicly_known(&Secret::new("sk-1234")));
        assert!(is_publicly_known(&Secret::new("ChangeMe")));
        assert!(!is_publicly_known(&Secret::new("sk-1234-but-longer")));
    }
}
