//! Outbound HTTP for plugins: `wasi:http/outgoing-handler`, under an operator's grant.
//!
//! Every plugin links `wasi:http`, and every call passes the [`gate::OutboundGate`] of
//! its instance. A plugin without a grant in the main config (`plugins.outbound.<name>`)
//! has every call refused; with one, a call must go to an allowed scheme, host, port and
//! path prefix, may not reach link-local or metadata addresses (nor private ones through a
//! name not marked private), and is bounded by the hook's deadline, the grant's network
//! time, call counts and body caps. Redirects are never followed by the host: a guest that
//! follows one makes a new call, which passes the gate again.
//!
//! Secrets bound in the grant are written `${secret:<name>}` by the plugin and filled in
//! by the host after the request leaves the guest, only for allowed destinations; what a
//! destination echoes of a secret reaches the guest as the placeholder again.

pub mod address;
pub mod gate;
pub mod grant;
pub mod secrets;

pub use self::gate::OutboundGate;
pub use self::grant::{BoundSecret, Destination, OutboundGrant};
