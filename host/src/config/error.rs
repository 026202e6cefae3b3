//! The error a configuration file is refused with.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a configuration file was refused: which file, where in it, and what is wrong.
///
/// Displayed as `"{file}: {path}: {message}"`, or `"{file}: {message}"` when the problem
/// is not at one key (an unreadable file, a YAML syntax error, which carries its own line
/// and column), so that an operator can go straight to the offending line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {}", .file.display(), Located::new(.path.as_deref(), .message))]
pub struct ConfigError {
    file: PathBuf,
    path: Option<String>,
    message: String,
}

impl ConfigError {
    /// An error about the file as a whole.
    pub(crate) fn whole(file: &Path, message: impl Into<String>) -> Self {
        Self { file: file.to_owned(), path: None, message: message.into() }
    }

    /// An error at one key, from a problem found by a section's checks.
    pub(crate) fn from_invalid(file: &Path, invalid: Invalid) -> Self {
        Self { file: file.to_owned(), path: invalid.path, message: invalid.message }
    }

    /// The configuration file the error is about.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The key path in dotted/indexed form (`model_list[1].litellm_params.api_base`), when
    /// the problem is at one key.
    pub fn key_path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// What is wrong, without the file and key path.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A problem found while checking the document, before it is tied to a file.
///
/// The section checks do not know the file name; the loader attaches it, which keeps
/// them testable on their own and their signatures short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) path: Option<String>,
    pub(crate) message: String,
}

impl Invalid {
    /// A problem at the key `path`.
    pub(crate) fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: Some(path.into()), message: message.into() }
    }

    /// A problem with the document as a whole.
    pub(crate) fn whole(message: impl Into<String>) -> Self {
        Self { path: None, message: message.into() }
    }
}

/// Renders the optional key path in front of the message.
struct Located<'a> {
    path: Option<&'a str>,
    message: &'a str,
}

impl<'a> Located<'a> {
    fn new(path: Option<&'a str>, message: &'a str) -> Self {
        Self { path, message }
    }
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path {
            Some(path) => write!(f, "{path}: {}", self.message),
            None => f.write_str(self.message),
        }
    }
}
