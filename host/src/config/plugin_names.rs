//! Plugin names as the configuration may use them.

use std::collections::HashSet;

use super::error::Invalid;
use super::path;

/// Whether `name` can name a plugin: the loader's rule for a plugin's file stem, checked
/// here too so a bad name in the config is reported against its key, at load time.
pub(crate) fn is_valid(name: &str) -> bool {
    crate::plugins::loaded::valid_name(name)
}

/// Checks a list of plugin names at `at`: each valid, none twice.
pub(crate) fn check_list(names: &[String], at: &str) -> Result<(), Invalid> {
    let mut seen = HashSet::new();
    for (i, name) in names.iter().enumerate() {
        let item_at = path::index(at, i);
        if !is_valid(name) {
            return Err(Invalid::at(item_at, invalid_message(name)));
        }
        if !seen.insert(name.as_str()) {
            return Err(Invalid::at(item_at, format!("`{name}` is listed twice")));
        }
    }
    Ok(())
}

/// Why `name` is refused, for any key that names a plugin.
pub(crate) fn invalid_message(name: &str) -> String {
    format!("`{name}` is not a valid plugin name (1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-')")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_restricted() {
        assert!(is_valid("banned-keywords"));
        assert!(is_valid("v1.2_x"));
        assert!(!is_valid(""));
        assert!(!is_valid("a/b"));
        assert!(!is_valid(&"x".repeat(65)));
    }

    #[test]
    fn duplicates_are_refused() {
        let names = vec!["a".to_owned(), "a".to_owned()];
        assert_eq!(check_list(&names, "l").unwrap_err().path.as_deref(), Some("l[1]"));
    }
}
