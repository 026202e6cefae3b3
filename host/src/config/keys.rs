//! `keys`: virtual keys, and the rules every key (master or virtual) obeys.

use std::collections::{HashMap, HashSet};

use super::error::Invalid;
use super::lenient::Warnings;
use super::path;
use super::plugin_names;
use super::raw::RawKey;
use crate::secret::{is_publicly_known, Secret};

/// A virtual key: a credential handed to one client or team, with its own limits.
#[derive(Debug, Clone)]
pub struct VirtualKey {
    /// The key clients send as `Authorization: Bearer`.
    pub key: Secret,
    /// A unique, printable name for the key: what logs and metrics show instead of it.
    pub alias: String,
    /// The user the key belongs to, if any.
    pub user_id: Option<String>,
    /// The team the key belongs to, if any.
    pub team_id: Option<String>,
    /// Free-form data handed to plugins with each request.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The `model_name`s the key may use; empty means all.
    pub models: Vec<String>,
    /// Whether requests with this key may turn plugins off per request (off unless
    /// granted: a key holder must not be able to switch a guardrail off on its own).
    pub allow_disabling_callbacks: bool,
    /// Plugins that never run for this key.
    pub disabled_callbacks: Vec<String>,
    /// Most requests this key may have in flight at once (LiteLLM's name); more get a 429.
    pub max_parallel_requests: Option<u32>,
}

/// The alias hooks see for the master key; no virtual key may take it.
pub const MASTER_ALIAS: &str = "master";

/// What a key is checked against.
pub(crate) struct KeyRules<'a> {
    /// Every `model_name` in `model_list`.
    pub(crate) model_names: HashSet<&'a str>,
    /// `general_settings.master_key`, which no virtual key may equal.
    pub(crate) master_key: Option<&'a Secret>,
    /// `general_settings.allow_insecure_master_key`.
    pub(crate) allow_insecure: bool,
}

/// Refuses a publicly known example key unless the operator opted in, in which case it
/// is accepted with a warning.
pub(crate) fn check_guessable(
    secret: &Secret,
    at: &str,
    allow_insecure: bool,
    warnings: &mut Warnings,
) -> Result<(), Invalid> {
    if !is_publicly_known(secret) {
        return Ok(());
    }
    if allow_insecure {
        warnings.note(format!(
            "{at} is a publicly known example key, accepted because general_settings.allow_insecure_master_key \
             is true; never expose this proxy beyond local development"
        ));
        return Ok(());
    }
    Err(Invalid::at(
        at,
        "is a publicly known example key that anyone can guess; use a secret value (e.g. os.environ/NAME), \
         or set general_settings.allow_insecure_master_key: true to accept it for local development",
    ))
}

/// Checks and converts `keys`. Virtual keys need a master key: without one, auth is off
/// and a client could simply leave its (restricted) key out.
pub(crate) fn build(
    raw: Option<Vec<RawKey>>,
    rules: &KeyRules<'_>,
    warnings: &mut Warnings,
) -> Result<Vec<VirtualKey>, Invalid> {
    if raw.as_ref().is_some_and(|keys| !keys.is_empty()) && rules.master_key.is_none() {
        return Err(Invalid::at(
            "keys",
            "virtual keys need general_settings.master_key: without it authentication is off, and a client \
             could leave its key (and its restrictions) out",
        ));
    }
    let keys = raw
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, key)| build_one(&path::index("keys", i), key, rules, warnings))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique(&keys)?;
    Ok(keys)
}

fn build_one(at: &str, raw: RawKey, rules: &KeyRules<'_>, warnings: &mut Warnings) -> Result<VirtualKey, Invalid> {
    let key_at = path::key(at, "key");
    let key = raw.key.ok_or_else(|| Invalid::at(&key_at, "is required"))?;
    if key.expose().trim().is_empty() {
        return Err(Invalid::at(&key_at, "must not be empty"));
    }
    check_guessable(&key, &key_at, rules.allow_insecure, warnings)?;
    if rules.master_key.is_some_and(|master| master.expose() == key.expose()) {
        return Err(Invalid::at(
            &key_at,
            "equals general_settings.master_key; a virtual key must differ from the master key",
        ));
    }
    let alias_at = path::key(at, "alias");
    let alias = match raw.alias {
        Some(alias) if alias.trim().eq_ignore_ascii_case(MASTER_ALIAS) => {
            return Err(Invalid::at(
                &alias_at,
                format!("`{alias}` is reserved for the master key; choose another alias"),
            ))
        }
        Some(alias) if !alias.trim().is_empty() => alias,
        Some(_) => return Err(Invalid::at(&alias_at, "must not be empty")),
        None => return Err(Invalid::at(&alias_at, "is required: a unique name that logs show instead of the key")),
    };
    let models = raw.models.unwrap_or_default();
    for (i, model) in models.iter().enumerate() {
        if !rules.model_names.contains(model.as_str()) {
            return Err(Invalid::at(
                path::index(&path::key(at, "models"), i),
                format!("`{model}` is not a model_name in model_list"),
            ));
        }
    }
    let disabled_callbacks = raw.disabled_callbacks.unwrap_or_default();
    plugin_names::check_list(&disabled_callbacks, &path::key(at, "disabled_callbacks"))?;
    Ok(VirtualKey {
        key,
        alias,
        user_id: raw.user_id,
        team_id: raw.team_id,
        metadata: raw.metadata.unwrap_or_default(),
        models,
        allow_disabling_callbacks: raw.allow_disabling_callbacks.unwrap_or(false),
        disabled_callbacks,
        max_parallel_requests: match raw.max_parallel_requests {
            Some(0) => return Err(Invalid::at(path::key(at, "max_parallel_requests"), "must be at least 1")),
            other => other,
        },
    })
}

/// Aliases identify keys in logs, and a key must map to exactly one entry.
fn check_unique(keys: &[VirtualKey]) -> Result<(), Invalid> {
    let mut aliases: HashMap<&str, usize> = HashMap::new();
    let mut values: HashMap<&str, usize> = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        let at = path::index("keys", i);
        if let Some(first) = aliases.insert(&key.alias, i) {
            return Err(Invalid::at(
                path::key(&at, "alias"),
                format!("`{}` is already the alias of keys[{first}]; aliases must be unique", key.alias),
            ));
        }
        if let Some(first) = values.insert(key.key.expose(), i) {
            return Err(Invalid::at(
                path::key(&at, "key"),
                format!("is the same key as keys[{first}]; keys must be unique"),
            ));
        }
    }
    Ok(())
}
