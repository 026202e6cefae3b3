//! Who is calling: the master key and the virtual keys from the config.
//!
//! Keys are looked up by their SHA-256, so the raw key is held only in the config and
//! is never handed on: hooks and logs see the alias and the hash.

use std::collections::HashMap;

use axum::http::HeaderMap;

use crate::config::{Config, VirtualKey};
use crate::plugins::{ContentHash, KeyInfo};

/// The alias hooks see for the master key.
pub const MASTER_ALIAS: &str = "master";

/// A caller the proxy recognised.
#[derive(Debug, Clone)]
pub struct Caller {
    /// What hooks learn about the caller (alias, key hash, user, team, metadata).
    pub key: KeyInfo,
    /// The model names this caller may use; `None` means every configured model.
    pub allowed_models: Option<Vec<String>>,
    /// Whether this caller may disable callbacks per request.
    pub may_disable_callbacks: bool,
    /// Callbacks never run for this caller's requests.
    pub disabled_callbacks: Vec<String>,
}

impl Caller {
    /// True when the caller may use `model`.
    pub fn may_use(&self, model: &str) -> bool {
        self.allowed_models.as_ref().is_none_or(|models| models.iter().any(|m| m == model))
    }
}

/// Why a request was not authenticated. The message is what the client sees.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// No credentials in the request.
    #[error("No API key provided. Pass it as `Authorization: Bearer <key>`.")]
    Missing,
    /// A key that is neither the master key nor a configured virtual key.
    #[error("Invalid API key (sha256 {hash_prefix}…).")]
    Unknown {
        /// The first characters of the key's hash, so an operator can tell keys apart.
        hash_prefix: String,
    },
}

/// The keys the proxy accepts.
#[derive(Debug, Clone)]
pub struct KeyStore {
    /// Callers by the hex SHA-256 of their key. Empty when auth is off.
    by_hash: HashMap<String, Caller>,
    /// False when the config has no master key: like LiteLLM, every request is accepted.
    enabled: bool,
}

impl KeyStore {
    /// The master key and virtual keys of `config`.
    pub fn from_config(config: &Config) -> Self {
        let mut by_hash = HashMap::new();
        if let Some(master) = &config.master_key {
            let hash = master.sha256_hex();
            let key = KeyInfo {
                alias: Some(MASTER_ALIAS.into()),
                hash: hash.clone(),
                user_id: None,
                team_id: None,
                metadata: "{}".into(),
            };
            by_hash.insert(
                hash,
                Caller { key, allowed_models: None, may_disable_callbacks: true, disabled_callbacks: vec![] },
            );
        }
        for virtual_key in &config.keys {
            by_hash.insert(virtual_key.key.sha256_hex(), caller_for(virtual_key));
        }
        Self { by_hash, enabled: config.master_key.is_some() }
    }

    /// True when requests must carry a key.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The caller behind the request's credentials: `Authorization: Bearer <key>`, or the
    /// `api-key` header Azure OpenAI clients send.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let presented = bearer(headers);
        if !self.enabled {
            // Auth is off: still tell hooks which key was presented, by hash only.
            let hash = sha256_hex(presented.unwrap_or_default());
            return Ok(self.by_hash.get(&hash).cloned().unwrap_or_else(|| anonymous(hash)));
        }
        let presented = presented.ok_or(AuthError::Missing)?;
        let hash = sha256_hex(presented);
        self.by_hash.get(&hash).cloned().ok_or_else(|| AuthError::Unknown { hash_prefix: hash[..8].to_owned() })
    }

    /// True when `caller` presented the master key (admin routes require it).
    pub fn is_master(&self, caller: &Caller) -> bool {
        caller.key.alias.as_deref() == Some(MASTER_ALIAS)
    }
}

fn caller_for(key: &VirtualKey) -> Caller {
    Caller {
        key: KeyInfo {
            alias: Some(key.alias.clone()),
            hash: key.key.sha256_hex(),
            user_id: key.user_id.clone(),
            team_id: key.team_id.clone(),
            metadata: serde_json::Value::Object(key.metadata.clone()).to_string(),
        },
        allowed_models: (!key.models.is_empty()).then(|| key.models.clone()),
        may_disable_callbacks: key.allow_disabling_callbacks,
        disabled_callbacks: key.disabled_callbacks.clone(),
    }
}

fn anonymous(hash: String) -> Caller {
    let key = KeyInfo { alias: None, hash, user_id: None, team_id: None, metadata: "{}".into() };
    Caller { key, allowed_models: None, may_disable_callbacks: true, disabled_callbacks: vec![] }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let from_authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|value| {
        let (scheme, key) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
    });
    from_authorization
        .or_else(|| headers.get("api-key").and_then(|v| v.to_str().ok()).map(str::trim))
        .filter(|key| !key.is_empty())
}

/// Lower-case hex SHA-256 of `text`: how keys are identified without being shown.
pub fn sha256_hex(text: &str) -> String {
    ContentHash::of(text.as_bytes()).to_string()
}

/// Headers that carry credentials: never shown to hooks.
pub const CREDENTIAL_HEADERS: [&str; 5] = ["authorization", "api-key", "x-api-key", "proxy-authorization", "cookie"];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn store(yaml: &str) -> KeyStore {
        let config = Config::from_yaml_str(yaml, Path::new("/tmp/test.yaml"), |_| None).unwrap();
        KeyStore::from_config(&config)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    const YAML: &str = "
model_list: [{model_name: m, litellm_params: {model: mock/echo}}]
general_settings: {master_key: sk-master-for-tests}
keys:
  - {key: sk-blue, alias: blue, user_id: alice, team_id: t1, metadata: {tier: gold}, models: [m]}
";

    #[test]
    fn master_and_virtual_keys_are_recognised_by_hash() {
        let store = store(YAML);
        let master = store.authenticate(&headers(&[("authorization", "Bearer sk-master-for-tests")])).unwrap();
        assert_eq!(master.key.alias.as_deref(), Some(MASTER_ALIAS));
        assert!(store.is_master(&master));
        let blue = store.authenticate(&headers(&[("authorization", "bearer  sk-blue ")])).unwrap();
        assert_eq!(blue.key.alias.as_deref(), Some("blue"));
        assert_eq!(blue.key.hash, sha256_hex("sk-blue"));
        assert_eq!(blue.key.user_id.as_deref(), Some("alice"));
        assert_eq!(blue.key.metadata, r#"{"tier":"gold"}"#);
        assert!(blue.may_use("m") && !blue.may_use("other"));
        let azure = store.authenticate(&headers(&[("api-key", "sk-blue")])).unwrap();
        assert_eq!(azure.key.alias.as_deref(), Some("blue"));
    }

    #[test]
    fn missing_and_unknown_keys_are_refused_without_echoing_the_key() {
        let store = store(YAML);
        assert!(matches!(store.authenticate(&headers(&[])), Err(AuthError::Missing)));
        assert!(matches!(store.authenticate(&headers(&[("authorization", "Basic abc")])), Err(AuthError::Missing)));
        let error = store.authenticate(&headers(&[("authorization", "Bearer sk-guess")])).unwrap_err();
        assert!(!error.to_string().contains("sk-guess"));
    }

    #[test]
    fn without_a_master_key_every_request_is_accepted() {
        let store = store("model_list: [{model_name: m, litellm_params: {model: mock/echo}}]");
        assert!(!store.enabled());
        let caller = store.authenticate(&headers(&[])).unwrap();
        assert_eq!(caller.key.alias, None);
    }
}
