//! Key paths in the dotted/indexed form errors and warnings use
//! (`model_list[1].litellm_params.api_base`).

use serde_yaml_ng::Value;

/// The path of key `key` inside the mapping at `parent` (the root when `parent` is empty).
pub(crate) fn key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path of item `index` of the sequence at `parent`.
pub(crate) fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// A mapping key as it reads in a path; YAML allows non-string keys, which no setting
/// has, but a message about one must still say where it is.
pub(crate) fn label(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => "<non-scalar key>".to_owned(),
    }
}
