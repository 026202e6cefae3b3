//! Writing to the proxy's log.
//!
//! Lines are tagged by the host with the plugin's name and the request id, so messages
//! need not repeat them. Output on stdout/stderr (`println!`, panic messages) reaches
//! the same log; these functions add a level.

use crate::bindings::hookgate::plugin::log::log as host_log;

pub use crate::bindings::wit::LogLevel as Level;

/// Writes `message` to the proxy's log at `level`. The host truncates long messages.
pub fn log(level: Level, message: impl AsRef<str>) {
    host_log(level, message.as_ref());
}

/// Logs `message` at trace level.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message);
}

/// Logs `message` at debug level.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}

/// Logs `message` at info level.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}

/// Logs `message` at warn level.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}

/// Logs `message` at error level.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}
