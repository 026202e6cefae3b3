//! `teams`: a policy shared by the keys of one team, which each key may only narrow.
//!
//! The precedence rule, documented in the README ("Teams, keys and guardrails"):
//! global → team → key → request, each level able to do only what the level above
//! allows:
//! - plugins: the global level loads them and says which run by default (`default_on`);
//!   a team or key turns on plugins that are off by default (`callbacks`) and turns off
//!   others (`disabled_callbacks`); a key cannot turn on what its team turned off; a
//!   request may opt in to off-by-default plugins (`"guardrails": [...]`) when its team
//!   and key allow it, and turn plugins off only when granted `allow_disabling_callbacks`;
//! - permissions (`allow_disabling_callbacks`, `allow_request_guardrails`): a key cannot
//!   grant itself what its team does not have;
//! - `models`: a key's list must lie within its team's, and inherits it when empty;
//! - `max_parallel_requests`: the team's limit counts all its keys' requests together,
//!   and a key's own limit may not exceed it;
//! - `plugin_config`: a plugin's config for the team's requests, replaced whole by the
//!   key's when the key sets one (as a plugin's settings entry replaces `config` whole).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::error::Invalid;
use super::path;
use super::plugin_names;
use super::raw::RawTeam;

/// A team: what its keys share.
#[derive(Debug, Clone)]
pub struct Team {
    /// The id keys name in `team_id`; hooks see it in the call context.
    pub team_id: String,
    /// The `model_name`s the team's keys may use; empty means all.
    pub models: Vec<String>,
    /// Plugins that run for the team's requests even when off by default.
    pub callbacks: Vec<String>,
    /// Plugins that never run for the team's requests.
    pub disabled_callbacks: Vec<String>,
    /// Per plugin, the config its hooks get for the team's requests (JSON).
    pub plugin_config: BTreeMap<String, serde_json::Value>,
    /// Whether the team's keys may be granted per-request disabling (off unless set).
    pub allow_disabling_callbacks: bool,
    /// Whether the team's requests may opt in to plugins with `"guardrails": [...]`
    /// (on unless set false, as in LiteLLM).
    pub allow_request_guardrails: bool,
    /// Most requests all the team's keys may have in flight together.
    pub max_parallel_requests: Option<u32>,
}

/// What teams are checked against.
pub(crate) struct TeamRules<'a> {
    /// Every `model_name` in `model_list`.
    pub(crate) model_names: &'a HashSet<&'a str>,
    /// The plugins the proxy loads when the config lists them (`litellm_settings.callbacks`
    /// and the `guardrails` entries); `None` when it loads the whole directory.
    pub(crate) loaded: Option<&'a [String]>,
    /// The `guardrail_name`s, which `callbacks` may name as well as plugins.
    pub(crate) guardrail_names: &'a [String],
}

/// Checks and converts `teams`.
pub(crate) fn build(raw: Option<Vec<RawTeam>>, rules: &TeamRules<'_>) -> Result<Vec<Team>, Invalid> {
    let mut teams: Vec<Team> = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (i, raw) in raw.unwrap_or_default().into_iter().enumerate() {
        let at = path::index("teams", i);
        let team = build_one(&at, raw, rules)?;
        if let Some(first) = ids.insert(team.team_id.clone(), i) {
            return Err(Invalid::at(
                path::key(&at, "team_id"),
                format!("`{}` is already the team_id of teams[{first}]; team ids must be unique", team.team_id),
            ));
        }
        teams.push(team);
    }
    Ok(teams)
}

fn build_one(at: &str, raw: RawTeam, rules: &TeamRules<'_>) -> Result<Team, Invalid> {
    let team_id = match raw.team_id {
        Some(id) if !id.trim().is_empty() => id,
        Some(_) => return Err(Invalid::at(path::key(at, "team_id"), "must not be empty")),
        None => return Err(Invalid::at(path::key(at, "team_id"), "is required")),
    };
    let models = raw.models.unwrap_or_default();
    check_models(&models, at, rules.model_names)?;
    let callbacks = raw.callbacks.unwrap_or_default();
    check_callbacks(&callbacks, &path::key(at, "callbacks"), rules.loaded, rules.guardrail_names)?;
    let disabled_callbacks = raw.disabled_callbacks.unwrap_or_default();
    plugin_names::check_list(&disabled_callbacks, &path::key(at, "disabled_callbacks"))?;
    check_disjoint(&callbacks, &disabled_callbacks, at)?;
    let plugin_config = raw.plugin_config.unwrap_or_default();
    check_plugin_config(&plugin_config, at, rules.loaded)?;
    Ok(Team {
        team_id,
        models,
        callbacks,
        disabled_callbacks,
        plugin_config,
        allow_disabling_callbacks: raw.allow_disabling_callbacks.unwrap_or(false),
        allow_request_guardrails: raw.allow_request_guardrails.unwrap_or(true),
        max_parallel_requests: at_least_one(raw.max_parallel_requests, &path::key(at, "max_parallel_requests"))?,
    })
}

/// `max_parallel_requests`: none, or at least 1.
pub(crate) fn at_least_one(limit: Option<u32>, at: &str) -> Result<Option<u32>, Invalid> {
    match limit {
        Some(0) => Err(Invalid::at(at, "must be at least 1")),
        other => Ok(other),
    }
}

/// Each of `models` (at `<at>.models`) must be a configured `model_name`.
pub(crate) fn check_models(models: &[String], at: &str, model_names: &HashSet<&str>) -> Result<(), Invalid> {
    for (i, model) in models.iter().enumerate() {
        if !model_names.contains(model.as_str()) {
            return Err(Invalid::at(
                path::index(&path::key(at, "models"), i),
                format!("`{model}` is not a model_name in model_list"),
            ));
        }
    }
    Ok(())
}

/// `callbacks` (at `at`) name plugins the proxy loads, or `guardrails` entries.
pub(crate) fn check_callbacks(
    names: &[String],
    at: &str,
    loaded: Option<&[String]>,
    guardrail_names: &[String],
) -> Result<(), Invalid> {
    plugin_names::check_list(names, at)?;
    let is_guardrail = |name: &str| guardrail_names.iter().any(|g| g.eq_ignore_ascii_case(name));
    names
        .iter()
        .enumerate()
        .filter(|(_, name)| !is_guardrail(name))
        .try_for_each(|(i, name)| require_loaded(name, &path::index(at, i), loaded))
}

/// Plugin `name` (at `at`) must be one the proxy loads: a team or key cannot turn on what
/// the global level does not have.
fn require_loaded(name: &str, at: &str, loaded: Option<&[String]>) -> Result<(), Invalid> {
    if loaded.is_some_and(|loaded| !loaded.iter().any(|plugin| plugin == name)) {
        return Err(Invalid::at(
            at,
            format!(
                "`{name}` is not a plugin this proxy loads (litellm_settings.callbacks or a guardrails entry); \
                 it can only be turned on for a team or key once it is loaded"
            ),
        ));
    }
    Ok(())
}

/// A level cannot both turn a plugin on and off.
pub(crate) fn check_disjoint(callbacks: &[String], disabled: &[String], at: &str) -> Result<(), Invalid> {
    for (i, name) in callbacks.iter().enumerate() {
        if disabled.iter().any(|off| off.eq_ignore_ascii_case(name)) {
            return Err(Invalid::at(
                path::index(&path::key(at, "callbacks"), i),
                format!("`{name}` is also in disabled_callbacks; a plugin is either on or off"),
            ));
        }
    }
    Ok(())
}

/// `plugin_config` names plugins the proxy loads.
pub(crate) fn check_plugin_config(
    configs: &BTreeMap<String, serde_json::Value>,
    at: &str,
    loaded: Option<&[String]>,
) -> Result<(), Invalid> {
    let at = path::key(at, "plugin_config");
    configs.keys().try_for_each(|name| {
        let entry_at = path::key(&at, name);
        if !plugin_names::is_valid(name) {
            return Err(Invalid::at(entry_at, plugin_names::invalid_message(name)));
        }
        require_loaded(name, &entry_at, loaded)
    })
}
