//! Turning plugins off for one request: the `x-litellm-disable-callbacks` header (and its
//! alias `x-hookgate-disable-callbacks`) and a key's `disabled_callbacks`.
//!
//! Rules:
//! - the header is comma-separated names, case-insensitive, spaces trimmed; unknown names
//!   are ignored (as in LiteLLM);
//! - the header works only for the master key and for virtual keys granted
//!   `allow_disabling_callbacks: true`. Unlike LiteLLM, where any key may, it is off by
//!   default: otherwise any key holder could switch a guardrail off for themselves;
//! - it never works when `allow_dynamic_callback_disabling` is off, nor on plugins marked
//!   `required`;
//! - a key's `disabled_callbacks` always apply: the operator chose them.

use std::collections::BTreeSet;

use axum::http::HeaderMap;

use crate::auth::Caller;

/// The request headers that disable callbacks.
pub const DISABLE_HEADERS: [&str; 2] = ["x-litellm-disable-callbacks", "x-hookgate-disable-callbacks"];

/// The plugin names a request asks to disable, lower-cased, from every disable header.
pub fn requested(headers: &HeaderMap) -> BTreeSet<String> {
    DISABLE_HEADERS
        .iter()
        .flat_map(|name| headers.get_all(*name))
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Which plugins one request runs without.
#[derive(Debug, Default)]
pub struct Disabled {
    /// Lower-cased names the request's header asked for, when the rules let it.
    by_request: BTreeSet<String>,
    /// Lower-cased names from the key's config.
    by_key: BTreeSet<String>,
}

impl Disabled {
    /// The disabling that applies to `caller`'s request asking for `requested`.
    pub fn new(requested: BTreeSet<String>, caller: &Caller, dynamic_allowed: bool) -> Self {
        let by_request = if dynamic_allowed && caller.may_disable_callbacks { requested } else { BTreeSet::new() };
        let by_key = caller.disabled_callbacks.iter().map(|name| name.to_ascii_lowercase()).collect();
        Self { by_request, by_key }
    }

    /// True when nothing is disabled (the common case: no work per plugin).
    pub fn is_empty(&self) -> bool {
        self.by_request.is_empty() && self.by_key.is_empty()
    }

    /// True when what is named `name` (a plugin, or a guardrail of one) does not run for
    /// this request; the header cannot turn off a `required` plugin.
    pub fn skips_name(&self, name: &str, required: bool) -> bool {
        let name = name.to_ascii_lowercase();
        self.by_key.contains(&name) || (self.by_request.contains(&name) && !required)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_trimmed_lowercased_and_merged() {
        let mut headers = HeaderMap::new();
        headers.append("x-litellm-disable-callbacks", " Banned-Keywords , ,header-injector".parse().unwrap());
        headers.append("x-hookgate-disable-callbacks", "PROBE".parse().unwrap());
        let names: Vec<_> = requested(&headers).into_iter().collect();
        assert_eq!(names, ["banned-keywords", "header-injector", "probe"]);
    }

    #[test]
    fn the_header_needs_the_switch_and_the_key_s_permission() {
        let caller = |may: bool| Caller {
            key: crate::types::KeyInfo {
                alias: None,
                id: String::new(),
                user_id: None,
                team_id: None,
                metadata: "{}".into(),
            }
            .into(),
            is_master: false,
            allowed_models: None,
            may_disable_callbacks: may,
            disabled_callbacks: vec!["Logger".into()],
            callbacks: vec![],
            plugin_config: Default::default(),
            may_request_guardrails: true,
            parallel: None,
            team_parallel: None,
        };
        let asked: BTreeSet<String> = ["probe".to_owned()].into();
        assert!(!Disabled::new(asked.clone(), &caller(true), true).by_request.is_empty());
        assert!(Disabled::new(asked.clone(), &caller(true), false).by_request.is_empty());
        assert!(Disabled::new(asked.clone(), &caller(false), true).by_request.is_empty());
        assert!(Disabled::new(asked, &caller(false), false).by_key.contains("logger"), "the key's list always applies");
    }
}
