//! Who is calling: the master key and the virtual keys from the config.
//!
//! Keys are looked up by their key id, an HMAC-SHA256 of the key under a server secret, so
//! the raw key is held only in the config and is never handed on: hooks and logs see the
//! alias and the key id. The id is stable across replicas sharing a config (the secret is
//! `general_settings.key_id_secret`, else derived from the master key), and, being keyed,
//! cannot be brute-forced offline by a plugin author who sees it, as a bare hash of a weak
//! key could.
//!
//! Being the master key is a property of the key, never of an alias.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::config::MASTER_ALIAS;
use crate::config::{Config, Secret, VirtualKey};
use crate::types::{ContentHash, KeyInfo};

/// A caller the proxy recognised.
#[derive(Debug, Clone)]
pub struct Caller {
    /// What hooks learn about the caller (alias, key id, user, team, metadata); shared,
    /// because every request and every hook call of the caller's tells it.
    pub key: Arc<KeyInfo>,
    /// True only for the master key itself: admin routes need it.
    pub is_master: bool,
    /// The model names this caller may use; `None` means every configured model.
    pub allowed_models: Option<Vec<String>>,
    /// Whether this caller may disable callbacks per request.
    pub may_disable_callbacks: bool,
    /// Callbacks never run for this caller's requests.
    pub disabled_callbacks: Vec<String>,
    /// Callbacks that run for this caller's requests even when off by default.
    pub callbacks: Vec<String>,
    /// Per plugin name, the config (JSON text) its hooks get for this caller's requests,
    /// when the caller's team or key sets one.
    pub plugin_config: Arc<HashMap<String, Arc<str>>>,
    /// Whether this caller's requests may opt in to plugins with `"guardrails": [...]`.
    pub may_request_guardrails: bool,
    /// The key's `max_parallel_requests`: the limit, and a semaphore shared by its
    /// requests.
    pub(crate) parallel: Option<(u32, Arc<Semaphore>)>,
    /// The team's `max_parallel_requests`: the limit, and a semaphore shared by the
    /// requests of all the team's keys.
    pub(crate) team_parallel: Option<(u32, Arc<Semaphore>)>,
}

/// Why a request was not admitted: a `max_parallel_requests` was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crowded {
    /// The key's own limit.
    Key(u32),
    /// The team's limit, shared by its keys.
    Team(u32),
}

/// The places a request holds among its key's and its team's `max_parallel_requests`.
#[derive(Debug, Default)]
pub struct Places {
    _key: Option<OwnedSemaphorePermit>,
    _team: Option<OwnedSemaphorePermit>,
}

impl Places {
    /// How many places are held (0, 1 or 2).
    #[cfg(test)]
    fn held(&self) -> usize {
        usize::from(self._key.is_some()) + usize::from(self._team.is_some())
    }
}

impl Caller {
    /// True when the caller may use `model`.
    pub fn may_use(&self, model: &str) -> bool {
        self.allowed_models.as_ref().is_none_or(|models| models.iter().any(|m| m == model))
    }

    /// A place among the key's and its team's `max_parallel_requests`, held until the
    /// request (stream included) is done; refused when either is full.
    pub fn admit(&self) -> Result<Places, Crowded> {
        let take = |limit: &Option<(u32, Arc<Semaphore>)>, crowded: fn(u32) -> Crowded| match limit {
            None => Ok(None),
            Some((limit, places)) => Arc::clone(places).try_acquire_owned().map(Some).map_err(|_| crowded(*limit)),
        };
        let key = take(&self.parallel, Crowded::Key)?;
        let team = take(&self.team_parallel, Crowded::Team)?;
        Ok(Places { _key: key, _team: team })
    }

    /// The config (JSON text) plugin `name` gets for this caller's requests, when its team
    /// or key sets one.
    pub fn plugin_config(&self, name: &str) -> Option<&Arc<str>> {
        self.plugin_config.get(name)
    }
}

/// Why a request was not authenticated. The message is what the client sees.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// No credentials in the request.
    #[error("No API key provided. Pass it as `Authorization: Bearer <key>`.")]
    Missing,
    /// A key that is neither the master key nor a configured virtual key.
    #[error("Invalid API key (key id {id_prefix}…).")]
    Unknown {
        /// The first characters of the key's id, so an operator can tell keys apart.
        id_prefix: String,
    },
}

/// How key ids are made: HMAC-SHA256 of the raw key under the server's secret, in
/// lower-case hex.
#[derive(Clone)]
pub struct KeyIds {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for KeyIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyIds([redacted])")
    }
}

/// Domain separation for a secret derived from the master key (the salt of its PBKDF2).
const DERIVATION_LABEL: &[u8] = b"hookgate key id v2";

/// Rounds of PBKDF2-HMAC-SHA256 that derive the key-id secret from the master key. The
/// master key's own id is then a function of the master key alone: a plugin that sees it
/// (any request made with the master key) can test guesses at the key offline, and each
/// guess costs this many rounds, where a plain HMAC cost two (fewer than OWASP's 600,000
/// for passwords: every start pays them, and a debug build of the proxy, which the tests
/// start some two hundred times, takes a second for 600,000). A `key_id_secret` makes
/// ids reveal nothing at all, and the proxy says so at start for a short master key.
const DERIVATION_ROUNDS: u32 = 100_000;

impl KeyIds {
    /// Key ids under `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self { mac: Hmac::new_from_slice(secret).expect("HMAC takes a key of any length") }
    }

    /// Key ids under a secret derived from the master key: what a config without
    /// `key_id_secret` uses, stable wherever the same master key is.
    pub fn derived_from_master(master_key: &str) -> Self {
        let mut secret = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(master_key.as_bytes(), DERIVATION_LABEL, DERIVATION_ROUNDS, &mut secret);
        Self::new(&secret)
    }

    /// The ids `config` asks for: its `key_id_secret`, else derived from its master key,
    /// else (no auth at all) a secret of this process only.
    pub fn from_config(config: &Config) -> Self {
        match (&config.key_id_secret, &config.master_key) {
            (Some(secret), _) => Self::new(secret.expose().as_bytes()),
            (None, Some(master)) => Self::derived_from_master(master.expose()),
            (None, None) => Self::new(uuid::Uuid::new_v4().as_bytes()),
        }
    }

    /// The id of `key`.
    pub fn id(&self, key: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(key.as_bytes());
        // Into a buffer: `hex::encode` collects char by char, about 1,700 instructions a
        // request (bench/instructions/count.sh).
        let mut text = [0u8; 64];
        hex::encode_to_slice(mac.finalize().into_bytes(), &mut text).expect("32 bytes are 64 hex digits");
        std::str::from_utf8(&text).expect("hex digits are ASCII").to_owned()
    }
}

/// The keys the proxy accepts.
#[derive(Debug, Clone)]
pub struct KeyStore {
    /// Callers by the id of their key. Empty when auth is off.
    by_id: HashMap<String, Arc<Caller>>,
    ids: KeyIds,
    /// False when the config has no master key: like LiteLLM, every request is accepted
    /// (the config refuses virtual keys then, and admin routes answer on loopback only).
    enabled: bool,
}

impl KeyStore {
    /// The master key and virtual keys of `config`.
    pub fn from_config(config: &Config) -> Self {
        let ids = KeyIds::from_config(config);
        let mut by_id = HashMap::new();
        if let Some(master) = &config.master_key {
            let id = ids.id(master.expose());
            let key = KeyInfo {
                alias: Some(MASTER_ALIAS.into()),
                id: id.clone(),
                user_id: None,
                team_id: None,
                metadata: "{}".into(),
            };
            let caller =
                Caller { key: Arc::new(key), is_master: true, may_disable_callbacks: true, ..anonymous(id.clone()) };
            by_id.insert(id, Arc::new(caller));
        }
        let team_places: HashMap<&str, (u32, Arc<Semaphore>)> = config
            .teams
            .iter()
            .filter_map(|team| {
                let limit = team.max_parallel_requests?;
                Some((team.team_id.as_str(), (limit, Arc::new(Semaphore::new(limit as usize)))))
            })
            .collect();
        for virtual_key in &config.keys {
            let id = ids.id(virtual_key.key.expose());
            let mut caller = caller_for(virtual_key, id.clone());
            caller.team_parallel = virtual_key.team_id.as_deref().and_then(|team| team_places.get(team)).cloned();
            by_id.insert(id, Arc::new(caller));
        }
        Self { by_id, ids, enabled: config.master_key.is_some() }
    }

    /// True when requests must carry a key.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The caller behind the request's credentials: `Authorization: Bearer <key>`, or the
    /// `api-key` header Azure OpenAI clients send.
    ///
    /// The caller is shared, not copied: its strings and lists are the same for each of its
    /// requests.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Caller>, AuthError> {
        let presented = bearer(headers);
        if !self.enabled {
            // Auth is off: still tell hooks which key was presented, by id only. Nobody
            // is the master, and nobody may disable callbacks.
            return Ok(Arc::new(anonymous(self.ids.id(presented.unwrap_or_default()))));
        }
        let presented = presented.ok_or(AuthError::Missing)?;
        let id = self.ids.id(presented);
        self.by_id.get(&id).cloned().ok_or_else(|| AuthError::Unknown { id_prefix: id[..8].to_owned() })
    }

    /// The key id of a raw key, as hooks see it.
    pub fn key_id(&self, key: &Secret) -> String {
        self.ids.id(key.expose())
    }
}

fn caller_for(key: &VirtualKey, id: String) -> Caller {
    Caller {
        key: Arc::new(KeyInfo {
            alias: Some(key.alias.clone()),
            id,
            user_id: key.user_id.clone(),
            team_id: key.team_id.clone(),
            metadata: serde_json::Value::Object(key.metadata.clone()).to_string(),
        }),
        is_master: false,
        allowed_models: (!key.models.is_empty()).then(|| key.models.clone()),
        may_disable_callbacks: key.allow_disabling_callbacks,
        disabled_callbacks: key.disabled_callbacks.clone(),
        callbacks: key.callbacks.clone(),
        plugin_config: Arc::new(
            key.plugin_config.iter().map(|(plugin, config)| (plugin.clone(), Arc::from(config.to_string()))).collect(),
        ),
        may_request_guardrails: key.allow_request_guardrails,
        parallel: key.max_parallel_requests.map(|limit| (limit, Arc::new(Semaphore::new(limit as usize)))),
        team_parallel: None,
    }
}

fn anonymous(id: String) -> Caller {
    let key = KeyInfo { alias: None, id, user_id: None, team_id: None, metadata: "{}".into() };
    Caller {
        key: Arc::new(key),
        is_master: false,
        allowed_models: None,
        may_disable_callbacks: false,
        disabled_callbacks: vec![],
        callbacks: vec![],
        plugin_config: Arc::default(),
        // Without auth, LiteLLM's default: requests may opt in to guardrails.
        may_request_guardrails: true,
        parallel: None,
        team_parallel: None,
    }
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

/// Lower-case hex SHA-256 of `text`.
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
  - {key: sk-blue, alias: blue, user_id: alice, team_id: t1, metadata: {tier: gold}, models: [m], max_parallel_requests: 1}
";

    #[test]
    fn master_and_virtual_keys_are_recognised_by_their_keyed_id() {
        let store = store(YAML);
        let ids = KeyIds::derived_from_master("sk-master-for-tests");
        let master = store.authenticate(&headers(&[("authorization", "Bearer sk-master-for-tests")])).unwrap();
        assert_eq!(master.key.alias.as_deref(), Some(MASTER_ALIAS));
        assert!(master.is_master && master.may_disable_callbacks);
        let blue = store.authenticate(&headers(&[("authorization", "bearer  sk-blue ")])).unwrap();
        assert_eq!(blue.key.alias.as_deref(), Some("blue"));
        assert_eq!(blue.key.id, ids.id("sk-blue"));
        assert_ne!(blue.key.id, sha256_hex("sk-blue"), "not a bare hash that a weak key could be guessed from");
        assert!(!blue.is_master);
        assert!(!blue.may_disable_callbacks, "disabling by header is granted per key, off by default");
        assert_eq!(blue.key.user_id.as_deref(), Some("alice"));
        assert_eq!(blue.key.metadata, r#"{"tier":"gold"}"#);
        assert!(blue.may_use("m") && !blue.may_use("other"));
        let azure = store.authenticate(&headers(&[("api-key", "sk-blue")])).unwrap();
        assert_eq!(azure.key.alias.as_deref(), Some("blue"));
    }

    #[test]
    fn key_ids_depend_on_the_secret() {
        assert_eq!(KeyIds::new(b"one secret value").id("k"), KeyIds::new(b"one secret value").id("k"));
        assert_ne!(KeyIds::new(b"one secret value").id("k"), KeyIds::new(b"another secret!!").id("k"));
        // RFC 4231 test case 2: HMAC-SHA256(key "Jefe", "what do ya want for nothing?").
        assert_eq!(
            KeyIds::new(b"Jefe").id("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn max_parallel_requests_is_shared_by_the_key_s_requests() {
        let store = store(YAML);
        let blue = || store.authenticate(&headers(&[("authorization", "Bearer sk-blue")])).unwrap();
        let first = blue().admit().unwrap();
        assert_eq!(first.held(), 1, "a limited key gets a permit");
        assert_eq!(blue().admit().unwrap_err(), Crowded::Key(1), "the key's one place is taken");
        drop(first);
        assert_eq!(blue().admit().unwrap().held(), 1);
        let master = store.authenticate(&headers(&[("authorization", "Bearer sk-master-for-tests")])).unwrap();
        assert_eq!(master.admit().unwrap().held(), 0, "no limit, no permit");
    }

    #[test]
    fn a_team_s_max_parallel_requests_counts_all_its_keys() {
        let store = store(
            "model_list: [{model_name: m, litellm_params: {model: mock/echo}}]
general_settings: {master_key: sk-master-for-tests}
teams: [{team_id: t1, max_parallel_requests: 2}]
keys:
  - {key: sk-one, alias: one, team_id: t1, max_parallel_requests: 1}
  - {key: sk-two, alias: two, team_id: t1}
",
        );
        let caller = |key: &str| store.authenticate(&headers(&[("authorization", &*format!("Bearer {key}"))])).unwrap();
        let one = caller("sk-one").admit().unwrap();
        assert_eq!(one.held(), 2, "the key's place and the team's");
        assert_eq!(caller("sk-one").admit().unwrap_err(), Crowded::Key(1));
        let two = caller("sk-two").admit().unwrap();
        assert_eq!(caller("sk-two").admit().unwrap_err(), Crowded::Team(2), "the team's two places are taken");
        drop(one);
        assert!(caller("sk-two").admit().is_ok());
        drop(two);
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
    fn without_a_master_key_every_request_is_accepted_and_nobody_is_admin() {
        let store = store("model_list: [{model_name: m, litellm_params: {model: mock/echo}}]");
        assert!(!store.enabled());
        let caller = store.authenticate(&headers(&[])).unwrap();
        assert_eq!(caller.key.alias, None);
        assert!(!caller.is_master && !caller.may_disable_callbacks);
    }
}
