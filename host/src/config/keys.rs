//! `keys`: virtual keys, and the rules every key (master or virtual) obeys.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::error::Invalid;
use super::lenient::Warnings;
use super::path;
use super::plugin_names;
use super::raw::RawKey;
use super::teams::{self, Team};
use crate::secret::{is_publicly_known, Secret};

/// A virtual key: a credential handed to one client or team, with its own limits.
///
/// The plugin and model fields are effective values: the key's own settings refining its
/// team's (see `teams` for the rule), so a request needs only its key.
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
    /// Plugins that never run for this key (its team's and its own).
    pub disabled_callbacks: Vec<String>,
    /// Plugins that run for this key even when off by default (its team's and its own).
    pub callbacks: Vec<String>,
    /// Per plugin, the config its hooks get for this key's requests (the key's, else its
    /// team's).
    pub plugin_config: BTreeMap<String, serde_json::Value>,
    /// Whether requests may opt in to plugins with `"guardrails": [...]`.
    pub allow_request_guardrails: bool,
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
    /// The teams keys may belong to.
    pub(crate) teams: &'a [Team],
    /// The plugins the proxy loads, when the config lists them.
    pub(crate) loaded: Option<&'a [String]>,
    /// The `guardrail_name`s, which `callbacks` may name as well as plugins.
    pub(crate) guardrail_names: &'a [String],
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
    let team = match &raw.team_id {
        Some(id) if !rules.teams.is_empty() => {
            Some(rules.teams.iter().find(|team| &team.team_id == id).ok_or_else(|| {
                let known: Vec<&str> = rules.teams.iter().map(|team| team.team_id.as_str()).collect();
                Invalid::at(
                    path::key(at, "team_id"),
                    format!("`{id}` is not a team_id in teams ({})", known.join(", ")),
                )
            })?)
        }
        _ => None,
    };
    let models = raw.models.unwrap_or_default();
    teams::check_models(&models, at, &rules.model_names)?;
    let own_callbacks = raw.callbacks.unwrap_or_default();
    teams::check_callbacks(&own_callbacks, &path::key(at, "callbacks"), rules.loaded, rules.guardrail_names)?;
    let own_disabled = raw.disabled_callbacks.unwrap_or_default();
    plugin_names::check_list(&own_disabled, &path::key(at, "disabled_callbacks"))?;
    teams::check_disjoint(&own_callbacks, &own_disabled, at)?;
    let own_config = raw.plugin_config.unwrap_or_default();
    teams::check_plugin_config(&own_config, at, rules.loaded)?;
    let max_parallel_requests =
        teams::at_least_one(raw.max_parallel_requests, &path::key(at, "max_parallel_requests"))?;
    let mut key = VirtualKey {
        key,
        alias,
        user_id: raw.user_id,
        team_id: raw.team_id,
        metadata: raw.metadata.unwrap_or_default(),
        models,
        allow_disabling_callbacks: raw.allow_disabling_callbacks.unwrap_or(false),
        disabled_callbacks: own_disabled,
        callbacks: own_callbacks,
        plugin_config: own_config,
        allow_request_guardrails: raw.allow_request_guardrails.unwrap_or(true),
        max_parallel_requests,
    };
    if let Some(team) = team {
        let asked =
            Asked { disabling: raw.allow_disabling_callbacks, request_guardrails: raw.allow_request_guardrails };
        refine(&mut key, team, asked, at)?;
    }
    Ok(key)
}

/// Which permissions a key's entry set itself (unset ones come from its team).
struct Asked {
    disabling: Option<bool>,
    request_guardrails: Option<bool>,
}

/// Makes `key`'s settings the effective ones under `team`, refusing what the team does
/// not allow (the rule is in `teams`).
fn refine(key: &mut VirtualKey, team: &Team, asked: Asked, at: &str) -> Result<(), Invalid> {
    let team_at = format!("team `{}`", team.team_id);
    if !team.models.is_empty() {
        if key.models.is_empty() {
            key.models = team.models.clone();
        }
        for (i, model) in key.models.iter().enumerate() {
            if !team.models.contains(model) {
                return Err(Invalid::at(
                    path::index(&path::key(at, "models"), i),
                    format!("`{model}` is not among the models of {team_at}; a key can only narrow its team's models"),
                ));
            }
        }
    }
    let permission = |own: Option<bool>, team_allows: bool, name: &str| match own {
        Some(true) if !team_allows => Err(Invalid::at(
            path::key(at, name),
            format!("{team_at} does not allow {name}; a key cannot grant itself more than its team has"),
        )),
        Some(own) => Ok(own),
        None => Ok(team_allows),
    };
    key.allow_disabling_callbacks =
        permission(asked.disabling, team.allow_disabling_callbacks, "allow_disabling_callbacks")?;
    key.allow_request_guardrails =
        permission(asked.request_guardrails, team.allow_request_guardrails, "allow_request_guardrails")?;
    for (i, name) in key.callbacks.iter().enumerate() {
        if team.disabled_callbacks.iter().any(|off| off.eq_ignore_ascii_case(name)) {
            return Err(Invalid::at(
                path::index(&path::key(at, "callbacks"), i),
                format!("`{name}` is in the disabled_callbacks of {team_at}; a key cannot turn it back on"),
            ));
        }
    }
    if let (Some(own), Some(team_limit)) = (key.max_parallel_requests, team.max_parallel_requests) {
        if own > team_limit {
            return Err(Invalid::at(
                path::key(at, "max_parallel_requests"),
                format!("{own} is above the {team_limit} of {team_at}, which counts all its keys together"),
            ));
        }
    }
    merge_names(&mut key.callbacks, &team.callbacks);
    merge_names(&mut key.disabled_callbacks, &team.disabled_callbacks);
    for (plugin, config) in &team.plugin_config {
        key.plugin_config.entry(plugin.clone()).or_insert_with(|| config.clone());
    }
    Ok(())
}

/// Adds the names of `inherited` that `own` lacks.
fn merge_names(own: &mut Vec<String>, inherited: &[String]) {
    for name in inherited {
        if !own.iter().any(|mine| mine.eq_ignore_ascii_case(name)) {
            own.push(name.clone());
        }
    }
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
