//! What the host offers guests through the WIT imports.
//!
//! - [`log`]: the `log` import and the capture of guest stdout/stderr into the host log.
//! - [`kv`]: the `kv` import's store, namespaced per plugin.
//! - [`outbound`]: `wasi:http` calls out, under the operator's per-plugin grant.
//! - [`lateness`]: whether a kv or outbound call that timed out was the proxy's lateness.
//!
//! The `config` import needs no machinery: it hands the guest its own settings' `config`
//! value, which the plugin runtime keeps with the loaded plugin.

pub mod kv;
pub mod lateness;
pub mod log;
pub mod outbound;
