//! Giving up on a hook call: a fault the plugin chooses, handled by its `on_error`.
//!
//! A rejection is the plugin's answer to the client. Sometimes a plugin has no answer:
//! the kv store it counts in is down, so it cannot tell whether a request is over its
//! limit. Then it fails the call, and the operator's `on_error` for the plugin decides
//! (`fail-open` lets the request through without it; `fail-closed` answers 503).

use std::fmt::Display;
use std::io::Write;

/// Ends this hook call as a fault; the host applies the plugin's `on_error` policy.
///
/// `reason` becomes the fault's message in the host's log line for it. After a kv call
/// that found the store unavailable, the host counts the fault as `kv_unavailable`: it
/// does not count towards quarantine, and it is logged at debug level, because the store
/// logs the outage once for all the calls it fails.
pub fn fail(reason: impl Display) -> ! {
    // No newline: the host keeps an unterminated last line as the fault's `guest_stderr`
    // instead of logging it as a line of its own, once per request.
    let _ = write!(std::io::stderr(), "{reason}");
    std::process::abort()
}

/// `.or_fail()` on a `Result`: the value, or [`fail`] with the error.
///
/// ```ignore
/// let count = kv::incr("window", 1, Some(minute)).or_fail();
/// ```
pub trait OrFail<T> {
    /// The `Ok` value; on `Err`, ends the hook call as a fault with the error as reason.
    fn or_fail(self) -> T;
}

impl<T, E: Display> OrFail<T> for Result<T, E> {
    fn or_fail(self) -> T {
        self.unwrap_or_else(|error| fail(error))
    }
}
