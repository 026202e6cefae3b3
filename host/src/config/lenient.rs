//! LiteLLM's sections: keys hookgate does not implement are dropped with a warning.
//!
//! Real LiteLLM configs carry many settings hookgate has no use for (database URLs,
//! routing strategies, rpm limits...). Refusing them would make "bring your config.yaml"
//! fail; ignoring them silently would hide typos. So each is dropped before
//! deserialization and reported once.

use serde_yaml_ng::{Mapping, Value};

use super::path;
use super::raw;

/// Warnings gathered while reading a config, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    lines: Vec<Line>,
}

#[derive(Debug)]
enum Line {
    /// A key that was dropped; `pattern` is its path with list indexes wildcarded, so
    /// the same key in every `model_list` entry is one warning, not one per entry.
    Ignored {
        first: String,
        pattern: String,
        more: usize,
    },
    Note(String),
}

impl Warnings {
    /// Records that the key at `at` (matching `pattern`) was dropped.
    pub(crate) fn ignored(&mut self, at: String, pattern: String) {
        let seen = self.lines.iter_mut().find_map(|line| match line {
            Line::Ignored { pattern: p, more, .. } if *p == pattern => Some(more),
            _ => None,
        });
        match seen {
            Some(more) => *more += 1,
            None => self.lines.push(Line::Ignored { first: at, pattern, more: 0 }),
        }
    }

    /// Records any other warning.
    pub(crate) fn note(&mut self, message: impl Into<String>) {
        self.lines.push(Line::Note(message.into()));
    }

    /// The warnings as lines for the operator.
    pub(crate) fn into_lines(self) -> Vec<String> {
        self.lines
            .into_iter()
            .map(|line| match line {
                Line::Ignored { first, more: 0, .. } => ignored_message(&first),
                Line::Ignored { first, more, pattern } => {
                    let entries = if more == 1 { "entry" } else { "entries" };
                    let list = pattern.split('[').next().unwrap_or_default();
                    format!("{} (also set in {more} other {list} {entries})", ignored_message(&first))
                }
                Line::Note(message) => message,
            })
            .collect()
    }
}

fn ignored_message(at: &str) -> String {
    format!("{at} is not a hookgate setting (a LiteLLM setting hookgate does not use, or a typo); ignored")
}

/// Removes the keys hookgate does not read from the top level, `general_settings`,
/// `litellm_settings`, `model_list[]`, `guardrails[]` and their `litellm_params`, with a
/// warning for each. Sections of the wrong type are left for deserialization to report.
pub(crate) fn prune(root: &mut Mapping, warnings: &mut Warnings) {
    prune_mapping(root, "", "", raw::TOP_KEYS, &[], warnings);
    for (section, known) in [("general_settings", raw::GENERAL_KEYS), ("litellm_settings", raw::LITELLM_KEYS)] {
        if let Some(Value::Mapping(entries)) = root.get_mut(section) {
            prune_mapping(entries, section, section, known, &[], warnings);
        }
    }
    prune_entries(root, "guardrails", raw::GUARDRAIL_KEYS, raw::GUARDRAIL_PARAMS_KEYS, warnings);
    prune_entries(root, "model_list", raw::MODEL_KEYS, raw::PARAMS_KEYS, warnings);
    let Some(Value::Sequence(models)) = root.get_mut("model_list") else { return };
    for model in models {
        if let Some(Value::Mapping(info)) = model.get_mut("model_info") {
            info.retain(|key, _| key.as_str().is_some_and(|key| raw::MODEL_INFO_KEYS.contains(&key)));
        }
    }
}

/// Prunes each entry of the list `section` (LiteLLM's lists of `{..., litellm_params}`
/// mappings) to `known`, and its `litellm_params` to `known_params`.
fn prune_entries(root: &mut Mapping, section: &str, known: &[&str], known_params: &[&str], warnings: &mut Warnings) {
    let Some(Value::Sequence(entries)) = root.get_mut(section) else { return };
    let (pattern, params_pattern) = (format!("{section}[*]"), format!("{section}[*].litellm_params"));
    for (i, entry) in entries.iter_mut().enumerate() {
        let Value::Mapping(entry) = entry else { continue };
        let at = path::index(section, i);
        prune_mapping(entry, &at, &pattern, known, &[], warnings);
        if let Some(Value::Mapping(params)) = entry.get_mut("litellm_params") {
            prune_mapping(params, &path::key(&at, "litellm_params"), &params_pattern, known_params, &[], warnings);
        }
    }
}

fn prune_mapping(
    entries: &mut Mapping,
    at: &str,
    pattern: &str,
    known: &[&str],
    silent: &[&str],
    warnings: &mut Warnings,
) {
    entries.retain(|key, _| {
        let name = key.as_str();
        if name.is_some_and(|name| known.contains(&name)) {
            return true;
        }
        if !name.is_some_and(|name| silent.contains(&name)) {
            let label = path::label(key);
            warnings.ignored(path::key(at, &label), path::key(pattern, &label));
        }
        false
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawConfig;

    /// Every listed key must be one the typed layer accepts, or configs that set it
    /// would fail with "unknown field".
    #[test]
    fn listed_keys_deserialize() {
        let section = |keys: &[&str]| keys.iter().map(|k| format!("{k}: null")).collect::<Vec<_>>().join(", ");
        let yaml = format!(
            "{{{top}, general_settings: {{{general}}}, litellm_settings: {{{litellm}}}, \
             model_list: [{{{model}, litellm_params: {{{params}}}}}]}}",
            top = section(&["redis_url", "plugins", "keys"]),
            general = section(raw::GENERAL_KEYS),
            litellm = section(raw::LITELLM_KEYS),
            model = section(&["model_name", "model_info"]),
            params = section(raw::PARAMS_KEYS),
        );
        let value: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        let raw: RawConfig = serde_yaml_ng::from_value(value).unwrap();
        assert!(raw.model_list.is_some());
    }

    #[test]
    fn same_key_in_many_models_warns_once() {
        let mut doc: Mapping = serde_yaml_ng::from_str(
            "model_list: [{model_name: a, rpm: 1, model_info: {id: x}}, {model_name: b, rpm: 2}]\nrouter_settings: {}",
        )
        .unwrap();
        let mut warnings = Warnings::default();
        prune(&mut doc, &mut warnings);
        let lines = warnings.into_lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("router_settings "), "{lines:?}");
        assert!(lines[1].starts_with("model_list[0].rpm is not a hookgate setting"), "{lines:?}");
        assert!(lines[1].ends_with("(also set in 1 other model_list entry)"), "{lines:?}");
        assert_eq!(doc["model_list"][0]["model_info"], Value::Mapping(Mapping::new()), "metadata dropped silently");
    }
}
