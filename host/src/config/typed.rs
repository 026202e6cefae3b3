//! From the untyped document to typed values, with errors that name the key.

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use super::error::Invalid;
use super::path;

/// Deserializes `value`, found at `at` in the document, into `T`.
///
/// serde's own errors say what is wrong but not where; serde_path_to_error supplies the
/// path below `at`, down to an unknown key itself.
pub(crate) fn deserialize_at<T: DeserializeOwned>(value: Value, at: &str) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let below = error.path();
        let mut full = at.to_owned();
        for segment in below.iter() {
            full = match segment {
                serde_path_to_error::Segment::Seq { index } => path::index(&full, *index),
                serde_path_to_error::Segment::Map { key } => path::key(&full, key),
                serde_path_to_error::Segment::Enum { variant } => path::key(&full, variant),
                serde_path_to_error::Segment::Unknown => path::key(&full, "?"),
            };
        }
        let message = error.inner().to_string();
        if full.is_empty() {
            Invalid::whole(message)
        } else {
            Invalid::at(full, message)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only deserialized
    struct Inner {
        flag: bool,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // only deserialized
    struct Outer {
        items: Vec<Inner>,
    }

    #[test]
    fn type_error_names_full_path() {
        let value: Value = serde_yaml_ng::from_str("items: [{flag: true}, {flag: maybe}]").unwrap();
        let err = deserialize_at::<Outer>(value, "section").unwrap_err();
        assert_eq!(err.path.as_deref(), Some("section.items[1].flag"));
    }

    #[test]
    fn unknown_key_is_named_in_path() {
        let value: Value = serde_yaml_ng::from_str("items: [{flag: true, flg: false}]").unwrap();
        let err = deserialize_at::<Outer>(value, "").unwrap_err();
        assert_eq!(err.path.as_deref(), Some("items[0].flg"), "{err:?}");
    }
}
