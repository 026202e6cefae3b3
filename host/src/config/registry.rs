//! `plugins.sources`, `plugins.registry` and `plugins.trust`: plugins pulled from OCI
//! registries, how often their tags are checked, and which components may run at all.
//!
//! ```yaml
//! plugins:
//!   dir: plugins            # files still load from here
//!   sources:                # plugin name -> OCI reference
//!     pii-redactor: oci://registry.internal:5000/guards/pii-redactor:stable
//!     banned-keywords: oci://registry.internal:5000/guards/banned@sha256:<64 hex>
//!   registry:
//!     poll_seconds: 30      # how often a tag is checked (each replica adds up to 20% jitter)
//!     insecure: [registry.internal:5000]   # plain HTTP (loopback registries always are)
//!   trust:
//!     digests: [sha256:<64 hex>]           # allowed components or manifests
//!     keys: [keys/release.pub]             # cosign public keys; a signature by one is enough
//! ```
//!
//! Credentials never go here: `HOOKGATE_REGISTRY_USERNAME`/`_PASSWORD`, or the Docker
//! config file (see `oci::client::Credentials`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::error::Invalid;
use super::general::within;
use super::path;
use super::plugin_names;
use crate::oci::signature::TrustedKey;
use crate::oci::{Reference, Trust};
use crate::types::ContentHash;

const DEFAULT_POLL_SECONDS: u64 = 30;

/// `plugins.registry` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawRegistry {
    poll_seconds: Option<u64>,
    insecure: Option<Vec<String>>,
}

/// `plugins.trust` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping")]
pub(crate) struct RawTrust {
    digests: Option<Vec<String>>,
    keys: Option<Vec<PathBuf>>,
}

/// Where plugins come from besides the directory, and what may run.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Plugin name → the OCI reference it is pulled from.
    pub sources: BTreeMap<String, Reference>,
    /// How often a tag is checked for a new version (each check adds up to 20% jitter,
    /// so replicas do not all ask at once).
    pub poll_interval: Duration,
    /// Registries (`host:port`) spoken to over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// The trust policy; `None` runs any component (with a start-up warning).
    pub trust: Option<Arc<Trust>>,
}

/// Checks the three sections; key files are read relative to `base_dir`.
pub(crate) fn build(
    sources: Option<BTreeMap<String, String>>,
    registry: Option<RawRegistry>,
    trust: Option<RawTrust>,
    base_dir: &Path,
) -> Result<RegistryConfig, Invalid> {
    let mut checked = BTreeMap::new();
    for (name, text) in sources.unwrap_or_default() {
        let at = path::key("plugins.sources", &name);
        if !plugin_names::is_valid(&name) {
            return Err(Invalid::at(at, plugin_names::invalid_message(&name)));
        }
        if !text.starts_with("oci://") {
            return Err(Invalid::at(at, format!("`{text}`: a source is an oci:// reference")));
        }
        let reference = Reference::parse(&text).map_err(|error| Invalid::at(&at, error.to_string()))?;
        checked.insert(name, reference);
    }
    let registry = registry.unwrap_or_default();
    let poll_seconds = within("plugins.registry.poll_seconds", registry.poll_seconds, DEFAULT_POLL_SECONDS, 1, 86_400)?;
    Ok(RegistryConfig {
        sources: checked,
        poll_interval: Duration::from_secs(poll_seconds),
        insecure: registry.insecure.unwrap_or_default(),
        trust: trust.map(|trust| trust_of(trust, base_dir)).transpose()?.map(Arc::new),
    })
}

fn trust_of(raw: RawTrust, base_dir: &Path) -> Result<Trust, Invalid> {
    let mut digests = BTreeSet::new();
    for (index, text) in raw.digests.unwrap_or_default().iter().enumerate() {
        let digest = ContentHash::parse_digest(text.trim()).ok_or_else(|| {
            Invalid::at(format!("plugins.trust.digests[{index}]"), format!("`{text}` is not sha256:<64 hex digits>"))
        })?;
        digests.insert(digest);
    }
    let mut keys = Vec::new();
    for (index, file) in raw.keys.unwrap_or_default().iter().enumerate() {
        let at = format!("plugins.trust.keys[{index}]");
        let path = base_dir.join(file);
        let pem = std::fs::read_to_string(&path)
            .map_err(|error| Invalid::at(&at, format!("cannot read {}: {error}", path.display())))?;
        let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
        keys.push(TrustedKey::from_pem(&name, &pem).map_err(|error| Invalid::at(&at, error.to_string()))?);
    }
    if digests.is_empty() && keys.is_empty() {
        return Err(Invalid::at(
            "plugins.trust",
            "lists neither digests nor keys, so no plugin could load; remove the section to run unverified plugins",
        ));
    }
    Ok(Trust { digests, keys })
}
