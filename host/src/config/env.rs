//! `os.environ/NAME` references: LiteLLM's way of keeping secrets out of the file.

use serde_yaml_ng::Value;

use super::error::Invalid;
use super::path;

/// What a string value starts with to be read from the environment instead.
const PREFIX: &str = "os.environ/";

/// Replaces every string value that is exactly `os.environ/NAME` with `env(NAME)`.
///
/// Runs on the untyped document before deserialization, so a reference works at any
/// key (a plugin's own `config` included) and the typed layer never sees one. `env` is
/// a parameter rather than `std::env::var` so tests need not touch the process
/// environment. An unset variable is an error naming the key and the variable: starting
/// with an empty secret would fail later, far from the cause.
pub(crate) fn resolve(value: &mut Value, at: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Invalid> {
    match value {
        Value::String(text) => {
            let Some(name) = text.strip_prefix(PREFIX) else { return Ok(()) };
            if name.is_empty() {
                return Err(Invalid::at(at, format!("`{PREFIX}` needs an environment variable name after the slash")));
            }
            match env(name) {
                Some(resolved) => {
                    *text = resolved;
                    Ok(())
                }
                None => Err(Invalid::at(
                    at,
                    format!("environment variable {name} is not set (referenced as {PREFIX}{name})"),
                )),
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                resolve(item, &path::index(at, i), env)?;
            }
            Ok(())
        }
        Value::Mapping(entries) => {
            for (key, item) in entries.iter_mut() {
                resolve(item, &path::key(at, &path::label(key)), env)?;
            }
            Ok(())
        }
        Value::Tagged(tagged) => resolve(&mut tagged.value, at, env),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "SET").then(|| "value".to_owned())
    }

    #[test]
    fn replaces_whole_string_values_only() {
        let mut doc: Value =
            serde_yaml_ng::from_str("a: os.environ/SET\nb: [x, os.environ/SET]\nc: 'x os.environ/SET'").unwrap();
        resolve(&mut doc, "", &env).unwrap();
        assert_eq!(doc["a"], "value");
        assert_eq!(doc["b"][1], "value");
        assert_eq!(doc["c"], "x os.environ/SET");
    }

    #[test]
    fn unset_names_path_and_variable() {
        let mut doc: Value = serde_yaml_ng::from_str("a: {b: [ok, os.environ/UNSET]}").unwrap();
        let err = resolve(&mut doc, "", &env).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("a.b[1]"));
        assert!(err.message.contains("UNSET"), "{}", err.message);
    }

    #[test]
    fn empty_name_is_refused() {
        let mut doc: Value = serde_yaml_ng::from_str("a: os.environ/").unwrap();
        assert!(resolve(&mut doc, "", &env).is_err());
    }
}
