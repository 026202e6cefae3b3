//! Which plugins one request runs, which of their hooks, and with which config.
//!
//! The rule (global → team → key → request, each level doing only what the one above
//! allows; see `config::teams`):
//! - a plugin runs when it is on by default (`default_on`, true unless set), or its
//!   caller's team or key turns it on (`callbacks`), or the request opts in to it
//!   (`"guardrails": [...]`, when the caller may);
//! - unless the caller's team or key turns it off (`disabled_callbacks`), or the request's
//!   disabling header does (see [`disabling`](super::disabling));
//! - a plugin that is one or more `guardrails` entries runs only the hooks of the `mode`s
//!   of its entries that are on for the request (`default_on`, or named by the team's or
//!   key's `callbacks` or the request's `"guardrails"`; naming the plugin turns on all);
//! - it runs with its team's or key's `plugin_config`, when one is set.

use std::collections::{BTreeSet, HashMap};

use super::disabling::Disabled;
use super::plugin_calls::Chosen;
use crate::auth::Caller;
use crate::config::{Config, DefaultOn, Guardrail, Team};
use crate::error::ApiError;
use crate::plugins::registry::{ActivePlugin, PluginSet};
use crate::types::HookSet;

/// The plugin policy of the config: what every request's selection starts from.
#[derive(Debug, Clone, Default)]
pub struct PluginPolicy {
    /// Which plugins run by default (those that are no guardrail).
    default_on: DefaultOn,
    /// The `guardrails` entries.
    guardrails: Vec<Guardrail>,
    /// Each guardrail plugin's entries (indexes into `guardrails`), by plugin name.
    entries: HashMap<String, Vec<usize>>,
    /// The teams, for `/plugins`.
    teams: Vec<Team>,
    /// Each virtual key's alias and effective plugin settings, for `/plugins`.
    keys: Vec<KeyPlugins>,
}

/// What `/plugins` shows of a key: never the key itself.
#[derive(Debug, Clone)]
struct KeyPlugins {
    alias: String,
    callbacks: Vec<String>,
    disabled_callbacks: Vec<String>,
    configured: Vec<String>,
}

/// The team `team_id` names, if any.
fn config_team<'t>(teams: &'t [Team], team_id: Option<&str>) -> Option<&'t Team> {
    teams.iter().find(|team| Some(team.team_id.as_str()) == team_id)
}

/// Whether `wanted` is among `names` (plugin and guardrail names are case-insensitive).
fn listed(names: &[String], wanted: &str) -> bool {
    names.iter().any(|name| name.eq_ignore_ascii_case(wanted))
}

impl PluginPolicy {
    /// The policy of `config`.
    pub fn from_config(config: &Config) -> Self {
        let mut entries: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, guardrail) in config.guardrails.iter().enumerate() {
            entries.entry(guardrail.plugin.clone()).or_default().push(i);
        }
        let config_teams = &config.teams;
        let keys = config
            .keys
            .iter()
            .map(|key| KeyPlugins {
                alias: key.alias.clone(),
                callbacks: key.callbacks.clone(),
                disabled_callbacks: key.disabled_callbacks.clone(),
                // The key's own configs: those that are not its team's.
                configured: key
                    .plugin_config
                    .iter()
                    .filter(|(plugin, config)| {
                        let team = config_team(config_teams, key.team_id.as_deref());
                        team.and_then(|team| team.plugin_config.get(*plugin)) != Some(*config)
                    })
                    .map(|(plugin, _)| plugin.clone())
                    .collect(),
            })
            .collect();
        Self {
            default_on: config.plugins.default_on.clone(),
            guardrails: config.guardrails.clone(),
            entries,
            teams: config.teams.clone(),
            keys,
        }
    }

    /// Where plugin `name` runs, for `/plugins`: by default, for each team and each key
    /// (before what a request asks), its guardrail entry, and who gives it a config of
    /// their own.
    pub fn where_on(&self, name: &str) -> serde_json::Value {
        let runs = |on: &[String], off: &[String]| -> serde_json::Value {
            let hooks = self.hooks_of(name, |wanted, _| listed(on, wanted), |wanted| listed(off, wanted));
            (!hooks.is_empty()).into()
        };
        let teams: serde_json::Map<String, serde_json::Value> =
            self.teams.iter().map(|t| (t.team_id.clone(), runs(&t.callbacks, &t.disabled_callbacks))).collect();
        let keys: serde_json::Map<String, serde_json::Value> =
            self.keys.iter().map(|k| (k.alias.clone(), runs(&k.callbacks, &k.disabled_callbacks))).collect();
        let own_config: Vec<String> = self
            .teams
            .iter()
            .filter(|t| t.plugin_config.contains_key(name))
            .map(|t| format!("team {}", t.team_id))
            .chain(
                self.keys.iter().filter(|k| k.configured.iter().any(|c| c == name)).map(|k| format!("key {}", k.alias)),
            )
            .collect();
        let guardrails: Vec<serde_json::Value> = self
            .guardrails_of(name)
            .map(|(_, g)| {
                serde_json::json!({
                    "guardrail_name": g.name,
                    "mode": g.modes.iter().map(|m| m.name()).collect::<Vec<_>>(),
                    "default_on": g.default_on,
                })
            })
            .collect();
        serde_json::json!({
            "default_on": self.default_on(name),
            "guardrails": guardrails,
            "teams": teams,
            "keys": keys,
            "config_from": own_config,
        })
    }

    /// The `guardrails` entries, for `/guardrails/list`.
    pub fn guardrails(&self) -> &[Guardrail] {
        &self.guardrails
    }

    /// Whether plugin `name` runs for requests that do not ask for it: for a guardrail's
    /// plugin, when one of its entries is `default_on`.
    pub fn default_on(&self, name: &str) -> bool {
        !self.hooks_of(name, |_, _| false, |_| false).is_empty()
    }

    /// The rule itself: the hooks of plugin `name` that run where `on(n, entry)` says
    /// whether the name `n` is turned on (the plugin's own, `entry` `None`, or one of its
    /// guardrail entries') and `off(n)` whether it is turned off. Every request
    /// ([`Selection::choose`]) and `/plugins` ([`where_on`](Self::where_on)) go by it.
    fn hooks_of(&self, name: &str, on: impl Fn(&str, Option<usize>) -> bool, off: impl Fn(&str) -> bool) -> HookSet {
        if off(name) {
            return HookSet::default();
        }
        let whole = on(name, None);
        match self.entries.get(name) {
            None if whole || self.default_on.of(name) => HookSet::all(),
            None => HookSet::default(),
            Some(_) => self
                .guardrails_of(name)
                .filter(|(i, g)| (g.default_on || whole || on(&g.name, Some(*i))) && !off(&g.name))
                .fold(HookSet::default(), |hooks, (_, g)| hooks.union(g.hooks())),
        }
    }

    /// The `guardrails` entries of plugin `name`, with their indexes.
    fn guardrails_of<'s>(&'s self, name: &str) -> impl Iterator<Item = (usize, &'s Guardrail)> + 's {
        let indexes = self.entries.get(name).map(Vec::as_slice).unwrap_or_default();
        indexes.iter().map(|&i| (i, &self.guardrails[i]))
    }

    /// What a request's `"guardrails"` entry names: a `guardrail_name`, else a loaded
    /// plugin's own name (both case-insensitive).
    fn resolve<'s>(&'s self, asked: &str, set: &'s PluginSet) -> Option<Asked<'s>> {
        if let Some((i, g)) = self.guardrails.iter().enumerate().find(|(_, g)| g.name.eq_ignore_ascii_case(asked)) {
            return Some(Asked::Guardrail(i, &g.plugin));
        }
        set.iter().map(|p| p.name()).find(|name| name.eq_ignore_ascii_case(asked)).map(Asked::Plugin)
    }

    /// The names `caller` may opt in to, for the message of an unknown one: never one
    /// its team or key turned off (a restricted key learns no more of the deployment).
    fn known_names(&self, set: &PluginSet, caller: &Caller) -> String {
        let off = |name: &str| listed(&caller.disabled_callbacks, name);
        let guardrails = self.guardrails.iter().filter(|g| !off(&g.name) && !off(&g.plugin)).map(|g| g.name.as_str());
        let plugins = set.iter().map(|p| p.name()).filter(|name| !self.entries.contains_key(*name) && !off(name));
        guardrails.chain(plugins).collect::<Vec<_>>().join(", ")
    }
}

/// What one name in a request's `"guardrails"` stands for.
enum Asked<'a> {
    /// A `guardrails` entry (by index), of this plugin.
    Guardrail(usize, &'a str),
    /// A plugin, by its name: all of it.
    Plugin(&'a str),
}

/// One request's plugins: the rule above, applied to its caller and what it asked for.
#[derive(Debug)]
pub struct Selection<'a> {
    policy: &'a PluginPolicy,
    caller: &'a Caller,
    disabled: Disabled,
    /// Plugins the request opted in to as a whole, by their names.
    opted_in: BTreeSet<String>,
    /// `guardrails` entries the request opted in to.
    opted_in_guardrails: BTreeSet<usize>,
    /// Every name the request opted in to, as asked, for the audit log.
    asked: BTreeSet<String>,
}

impl<'a> Selection<'a> {
    /// The selection for `caller`'s request that opted in to `guardrails` and is run
    /// without `disabled`; a request naming a guardrail it may not turn on is refused
    /// (403), one naming no plugin at all too (400): never silently run without it.
    pub fn new(
        policy: &'a PluginPolicy,
        caller: &'a Caller,
        disabled: Disabled,
        guardrails: &[String],
        set: &PluginSet,
    ) -> Result<Self, ApiError> {
        let mut selection = Self {
            policy,
            caller,
            disabled,
            opted_in: BTreeSet::new(),
            opted_in_guardrails: BTreeSet::new(),
            asked: BTreeSet::new(),
        };
        if let (Some(first), false) = (guardrails.first(), caller.may_request_guardrails) {
            // Before any name is looked up: a key that may not opt in learns nothing.
            return Err(refused(format!(
                "This key's team may not change guardrails per request; `{first}` was asked for in `guardrails`."
            )));
        }
        for asked in guardrails {
            let Some(target) = policy.resolve(asked, set) else {
                return Err(ApiError::bad_request(format!(
                    "Unknown guardrail `{asked}` in `guardrails`; this key may ask for: {}.",
                    policy.known_names(set, caller)
                ))
                .with_param("guardrails"));
            };
            let plugin = match target {
                Asked::Guardrail(_, plugin) | Asked::Plugin(plugin) => plugin,
            };
            if listed(&caller.disabled_callbacks, plugin) || listed(&caller.disabled_callbacks, asked) {
                return Err(refused(format!(
                    "Guardrail `{asked}` is turned off for this key (its team's or its own disabled_callbacks); a \
                     request cannot turn it on."
                )));
            }
            match target {
                Asked::Guardrail(index, _) => selection.opted_in_guardrails.insert(index),
                Asked::Plugin(plugin) => selection.opted_in.insert(plugin.to_owned()),
            };
            selection.asked.insert(asked.clone());
        }
        Ok(selection)
    }

    /// How `plugin` runs for this request, or `None` when it does not.
    pub(crate) fn choose(&self, plugin: &ActivePlugin) -> Option<Chosen> {
        let name = plugin.name();
        let required = plugin.plugin.settings().required;
        let on = |wanted: &str, entry: Option<usize>| {
            listed(&self.caller.callbacks, wanted)
                || match entry {
                    None => self.opted_in.contains(wanted),
                    Some(index) => self.opted_in_guardrails.contains(&index),
                }
        };
        let off = |wanted: &str| !self.disabled.is_empty() && self.disabled.skips_name(wanted, required);
        let hooks = self.policy.hooks_of(name, on, off).intersection(plugin.plugin.info().hooks);
        if hooks.is_empty() {
            return None;
        }
        Some(Chosen { hooks, config: self.caller.plugin_config(name).cloned() })
    }

    /// The plugins of `set` this request runs, by name, in order.
    pub fn names(&self, set: &PluginSet) -> Vec<String> {
        set.iter().filter(|p| self.choose(p).is_some()).map(|p| p.name().to_owned()).collect()
    }

    /// The names the request opted in to, as asked, for the audit log.
    pub fn asked(&self) -> &BTreeSet<String> {
        &self.asked
    }
}

fn refused(message: String) -> ApiError {
    ApiError { code: Some("guardrail_not_allowed".into()), ..ApiError::new(403, message).with_param("guardrails") }
}

/// The request body's `guardrails` lists: what LiteLLM reads at the top level and in
/// `metadata`. Both are taken out of the body (the upstream never sees them).
pub fn take_guardrails(fields: &mut serde_json::Map<String, serde_json::Value>) -> Result<Vec<String>, ApiError> {
    use crate::content::json;
    use serde_json::Value;
    let mut names = Vec::new();
    let mut read = |value: Value, param: &str| -> Result<(), ApiError> {
        let invalid = || {
            ApiError::bad_request(format!("'{param}' must be a list of guardrail names (strings)")).with_param(param)
        };
        match value {
            Value::Null => Ok(()),
            Value::Array(items) => items.into_iter().try_for_each(|item| match item {
                Value::String(name) if !name.trim().is_empty() => {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                    Ok(())
                }
                _ => Err(invalid()),
            }),
            _ => Err(invalid()),
        }
    };
    if let Some(value) = json::remove(fields, "guardrails") {
        read(value, "guardrails")?;
    }
    if let Some(Value::Object(metadata)) = json::field_mut(fields, "metadata") {
        if let Some(value) = json::remove(metadata, "guardrails") {
            let now_empty = metadata.is_empty();
            if now_empty {
                fields.shift_remove("metadata");
            }
            read(value, "metadata.guardrails")?;
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guardrails_are_taken_from_the_top_and_from_metadata() {
        let mut body = json!({"model": "m", "guardrails": ["a"], "metadata": {"guardrails": ["b", "a"]}});
        let names = take_guardrails(body.as_object_mut().unwrap()).unwrap();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(body, json!({"model": "m"}), "both lists are gone, and the metadata that held only one");
        let mut body = json!({"model": "m", "metadata": {"guardrails": ["b"], "trace": "t"}});
        take_guardrails(body.as_object_mut().unwrap()).unwrap();
        assert_eq!(body, json!({"model": "m", "metadata": {"trace": "t"}}));
        // The rest keeps its order: the body is forwarded as the client wrote it.
        let text = r#"{"model":"m","guardrails":["a"],"messages":[],"temperature":0.5,"top_p":1}"#;
        let mut body: serde_json::Value = serde_json::from_str(text).unwrap();
        take_guardrails(body.as_object_mut().unwrap()).unwrap();
        assert_eq!(body.to_string(), r#"{"model":"m","messages":[],"temperature":0.5,"top_p":1}"#);
    }

    #[test]
    fn a_guardrails_list_of_anything_but_names_is_a_400() {
        for bad in [json!("a"), json!([1]), json!([{"a": {}}]), json!([""])] {
            let mut body = json!({"model": "m", "guardrails": bad});
            let error = take_guardrails(body.as_object_mut().unwrap()).unwrap_err();
            assert_eq!((error.status, error.param.as_deref()), (400, Some("guardrails")), "{bad}");
        }
    }
}
