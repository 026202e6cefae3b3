//! The plugin's settings: the `config` value of its sidecar file or the proxy config.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::hookgate::plugin::config as host;

/// The plugin's config, as the JSON text the host gave (`null` when none was set).
///
/// [`Plugin::new`](crate::Plugin::new) receives it; read it with [`Config::parse`] into
/// a `#[derive(Deserialize)]` struct, or look at it loosely with [`Config::json`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    text: String,
}

impl Config {
    /// The config's JSON text, exactly as the host passed it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when no config was given (the text is `null`).
    pub fn is_null(&self) -> bool {
        matches!(self.text.trim(), "" | "null")
    }

    /// The config as a JSON value; `Null` when none was given or it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// Deserializes the config into `T`, with an error message meant for the operator.
    ///
    /// A missing config that `T` does not accept as `null` is read as `{}`, so a struct
    /// whose fields all have defaults needs no config, and one with a required field
    /// reports that field by name (``invalid config: missing field `keywords` ``).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        let parsed = match serde_json::from_str(&self.text) {
            Err(_) if self.is_null() => serde_json::from_str("{}"),
            other => other,
        };
        parsed.map_err(|e| format!("invalid config: {}", describe(&e)))
    }
}

impl From<String> for Config {
    fn from(text: String) -> Self {
        Config { text }
    }
}

impl From<&str> for Config {
    fn from(text: &str) -> Self {
        Config { text: text.to_owned() }
    }
}

/// The plugin's config, from the host. The same text `init` and [`Plugin::new`]
/// received.
///
/// [`Plugin::new`]: crate::Plugin::new
pub fn get() -> Config {
    Config::from(host::get())
}

/// A serde error without serde_json's "at line 1 column 17" tail, which means little
/// for a config the operator wrote as YAML.
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&position).map(str::to_owned).unwrap_or(text)
}
