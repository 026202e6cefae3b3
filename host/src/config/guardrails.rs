//! `guardrails`: LiteLLM's guardrail section, where it means what a plugin can do.
//!
//! Each entry names a guardrail and points it at a hookgate plugin, either by
//! `litellm_params.guardrail: <plugin name>` (LiteLLM's custom guardrails are written
//! `module.instance`, which is how `hookgate plugin build` names the plugin it makes) or by
//! hookgate's own `litellm_params.hookgate_plugin: <plugin name>`. `mode` chooses which of
//! the plugin's hooks run; `default_on` (false unless set, as in LiteLLM) whether it runs
//! without being asked for. One plugin may be several entries (LiteLLM's docs run one
//! custom guardrail as a pre-call, a during-call and a post-call entry): a request runs
//! the hooks of the entries that are on for it. LiteLLM's built-in integrations (`lakera`, `presidio`, ...)
//! are services hookgate does not have: naming one is refused at start-up rather than
//! serving without the guardrail the operator thought was on.

use std::collections::HashMap;

use super::error::Invalid;
use super::path;
use super::plugin_names;
use super::raw::{OneOrMany, RawGuardrail};
use crate::types::{Hook, HookSet};

/// When a guardrail runs: LiteLLM's `mode`, as hookgate hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailMode {
    /// Before the upstream call: `pre-call`.
    PreCall,
    /// While the upstream call runs: `moderation`.
    DuringCall,
    /// On the answer: `post-call-success`, `post-call-failure`, `stream-chunk`, `stream-end`.
    PostCall,
    /// After the answer, off the response path: `log-success`, `log-failure`.
    LoggingOnly,
}

impl GuardrailMode {
    const ALL: [(&'static str, GuardrailMode); 4] = [
        ("pre_call", GuardrailMode::PreCall),
        ("during_call", GuardrailMode::DuringCall),
        ("post_call", GuardrailMode::PostCall),
        ("logging_only", GuardrailMode::LoggingOnly),
    ];

    /// LiteLLM's name of the mode.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, mode)| *mode == self).map(|(name, _)| *name).unwrap_or_default()
    }

    /// The hooks the mode lets run.
    pub fn hooks(self) -> HookSet {
        match self {
            GuardrailMode::PreCall => HookSet::from_iter([Hook::PreCall]),
            GuardrailMode::DuringCall => HookSet::from_iter([Hook::Moderation]),
            GuardrailMode::PostCall => {
                HookSet::from_iter([Hook::PostCallSuccess, Hook::PostCallFailure, Hook::StreamChunk, Hook::StreamEnd])
            }
            GuardrailMode::LoggingOnly => HookSet::from_iter([Hook::LogSuccess, Hook::LogFailure]),
        }
    }
}

/// One checked `guardrails` entry.
#[derive(Debug, Clone)]
pub struct Guardrail {
    /// `guardrail_name`: what requests name in `"guardrails": [...]`.
    pub name: String,
    /// The plugin that is the guardrail.
    pub plugin: String,
    /// `litellm_params.guardrail` as written (shown by `/guardrails/list`).
    pub guardrail: String,
    /// `litellm_params.mode`: when it runs.
    pub modes: Vec<GuardrailMode>,
    /// `litellm_params.default_on`: whether it runs for requests that do not ask for it.
    pub default_on: bool,
    /// `guardrail_info`, free-form, shown by `/guardrails/list`.
    pub info: Option<serde_json::Value>,
}

impl Guardrail {
    /// The hooks of the plugin this guardrail lets run.
    pub fn hooks(&self) -> HookSet {
        self.modes.iter().fold(HookSet::default(), |set, mode| set.union(mode.hooks()))
    }
}

/// LiteLLM's built-in guardrail integrations (`litellm/types/guardrails.py`, and the
/// integrations documented under docs/proxy/guardrails): services hookgate does not have.
/// A name with a `/` (`azure/prompt_shield`) is never a plugin name either.
const LITELLM_BUILT_INS: &[&str] = &[
    "aim",
    "aporia",
    "bedrock",
    "custom_code",
    "dynamoai",
    "enkryptai",
    "grayswan",
    "guardrails_ai",
    "hide-secrets",
    "hide_secrets",
    "ibm_guardrails",
    "javelin",
    "lakera",
    "lakera_v2",
    "lasso",
    "model_armor",
    "noma",
    "openai_moderation",
    "pangea",
    "panw_prisma_airs",
    "pillar",
    "presidio",
    "tool_permission",
    "zscaler_ai_guard",
];

/// What a `guardrails` entry may point at, for the refusal of anything else.
const SUPPORTED: &str = "hookgate runs guardrails as plugins: set litellm_params.guardrail to the name of a plugin \
                         in plugins.dir (e.g. `banned-keywords`, or `custom_guardrail.my_guardrail` for a LiteLLM \
                         custom guardrail built with `hookgate plugin build`), or keep LiteLLM's value and add \
                         litellm_params.hookgate_plugin: <plugin name>";

/// Checks and converts `guardrails`.
pub(crate) fn build(raw: Option<Vec<RawGuardrail>>) -> Result<Vec<Guardrail>, Invalid> {
    let mut guardrails: Vec<Guardrail> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, raw) in raw.unwrap_or_default().into_iter().enumerate() {
        let at = path::index("guardrails", i);
        let guardrail = build_one(&at, raw)?;
        if let Some(first) = names.insert(guardrail.name.to_ascii_lowercase(), i) {
            return Err(Invalid::at(
                path::key(&at, "guardrail_name"),
                format!("`{}` is already the name of guardrails[{first}]; names must be unique", guardrail.name),
            ));
        }
        guardrails.push(guardrail);
    }
    Ok(guardrails)
}

fn build_one(at: &str, raw: RawGuardrail) -> Result<Guardrail, Invalid> {
    let name = match raw.guardrail_name {
        Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
        Some(_) => return Err(Invalid::at(path::key(at, "guardrail_name"), "must not be empty")),
        None => return Err(Invalid::at(path::key(at, "guardrail_name"), "is required")),
    };
    let params_at = path::key(at, "litellm_params");
    let params = raw.litellm_params.ok_or_else(|| Invalid::at(&params_at, "is required (guardrail, mode)"))?;
    let guardrail = params.guardrail.unwrap_or_default();
    let plugin = match params.hookgate_plugin {
        Some(plugin) => {
            let plugin_at = path::key(&params_at, "hookgate_plugin");
            if !plugin_names::is_valid(&plugin) {
                return Err(Invalid::at(plugin_at, plugin_names::invalid_message(&plugin)));
            }
            plugin
        }
        None => {
            let guardrail_at = path::key(&params_at, "guardrail");
            if guardrail.trim().is_empty() {
                return Err(Invalid::at(guardrail_at, format!("is required: {SUPPORTED}")));
            }
            if LITELLM_BUILT_INS.contains(&guardrail.to_ascii_lowercase().as_str()) || guardrail.contains('/') {
                return Err(Invalid::at(
                    guardrail_at,
                    format!("`{guardrail}` is one of LiteLLM's built-in integrations, which hookgate does not have; {SUPPORTED}"),
                ));
            }
            if !plugin_names::is_valid(&guardrail) {
                return Err(Invalid::at(
                    guardrail_at,
                    format!("{}; {SUPPORTED}", plugin_names::invalid_message(&guardrail)),
                ));
            }
            guardrail.clone()
        }
    };
    let mode_at = path::key(&params_at, "mode");
    let written = params.mode.map(OneOrMany::into_vec).unwrap_or_default();
    if written.is_empty() {
        return Err(Invalid::at(
            mode_at,
            "is required: one of pre_call, during_call, post_call, logging_only, or a list of them",
        ));
    }
    let mut modes = Vec::new();
    for (i, mode) in written.iter().enumerate() {
        let found = GuardrailMode::ALL.iter().find(|(name, _)| name == mode).map(|(_, mode)| *mode);
        let Some(found) = found else {
            return Err(Invalid::at(
                path::index(&mode_at, i),
                format!("`{mode}` is not a mode hookgate runs; use pre_call, during_call, post_call or logging_only"),
            ));
        };
        if !modes.contains(&found) {
            modes.push(found);
        }
    }
    Ok(Guardrail {
        name,
        plugin,
        guardrail,
        modes,
        default_on: params.default_on.unwrap_or(false),
        info: raw.guardrail_info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawGuardrailParams;

    fn entry(name: &str, guardrail: &str, mode: &[&str]) -> RawGuardrail {
        RawGuardrail {
            guardrail_name: Some(name.into()),
            litellm_params: Some(RawGuardrailParams {
                guardrail: Some(guardrail.into()),
                mode: Some(OneOrMany::Many(mode.iter().map(|m| m.to_string()).collect())),
                default_on: None,
                hookgate_plugin: None,
            }),
            guardrail_info: None,
        }
    }

    #[test]
    fn modes_choose_hooks_and_default_on_is_off_unless_set() {
        let built = build(Some(vec![entry("words", "banned-keywords", &["pre_call", "post_call"])])).unwrap();
        let hooks = built[0].hooks();
        assert!(hooks.contains(Hook::PreCall) && hooks.contains(Hook::StreamChunk));
        assert!(!hooks.contains(Hook::Moderation) && !hooks.contains(Hook::LogSuccess));
        assert!(!built[0].default_on);
        assert_eq!(built[0].plugin, "banned-keywords");
    }

    #[test]
    fn built_in_integrations_and_unknown_modes_are_refused_by_name() {
        let error = build(Some(vec![entry("x", "lakera_v2", &["pre_call"])])).unwrap_err();
        assert_eq!(error.path.as_deref(), Some("guardrails[0].litellm_params.guardrail"));
        assert!(error.message.contains("`lakera_v2`") && error.message.contains("hookgate_plugin"), "{error:?}");
        let error = build(Some(vec![entry("x", "azure/prompt_shield", &["pre_call"])])).unwrap_err();
        assert!(error.message.contains("built-in"), "{error:?}");
        let error = build(Some(vec![entry("x", "p", &["pre_mcp_call"])])).unwrap_err();
        assert_eq!(error.path.as_deref(), Some("guardrails[0].litellm_params.mode[0]"));
    }

    #[test]
    fn a_built_in_can_be_pointed_at_a_plugin_explicitly() {
        let mut raw = entry("lakera-guard", "lakera", &["during_call"]);
        raw.litellm_params.as_mut().unwrap().hookgate_plugin = Some("remote-moderation".into());
        let built = build(Some(vec![raw])).unwrap();
        assert_eq!(built[0].plugin, "remote-moderation");
        assert_eq!(built[0].guardrail, "lakera");
    }

    #[test]
    fn names_are_unique_and_a_plugin_may_be_several_guardrails() {
        let error = build(Some(vec![entry("a", "p", &["pre_call"]), entry("A", "q", &["pre_call"])])).unwrap_err();
        assert!(error.message.contains("already the name"), "{error:?}");
        // LiteLLM's docs run one custom guardrail class as several entries, one per mode.
        let built = build(Some(vec![entry("a", "p", &["pre_call"]), entry("b", "p", &["post_call"])])).unwrap();
        assert_eq!((built[0].plugin.as_str(), built[1].plugin.as_str()), ("p", "p"));
    }
}
