//! `plugins.trust`: which plugin components the proxy runs. An allow-list of sha256
//! digests, public keys whose cosign signatures are required, or both.
//!
//! The rule, the same for every replica:
//! - a component whose digest is listed is allowed (for a registry artifact, the
//!   manifest's digest or its component layer's; for a file, the file's SHA-256);
//! - otherwise a registry artifact needs a valid signature by one of the keys;
//! - otherwise it is refused, with why, in `/plugins` and the log.
//!
//! A file in the plugin directory carries no signature: with keys only, files are
//! refused unless their digest is listed.

use std::collections::BTreeSet;

use super::artifact::Manifest;
use super::client::RegistryClient;
use super::reference::Reference;
use super::signature::{self, TrustedKey, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};
use crate::types::ContentHash;

/// The largest signature payload read: cosign's are a few hundred bytes.
const MAX_PAYLOAD_BYTES: usize = 64 << 10;
/// The most signature layers examined for one artifact.
const MAX_SIGNATURES: usize = 32;

/// The trust policy.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Allowed digests.
    pub digests: BTreeSet<ContentHash>,
    /// Keys whose signatures are trusted.
    pub keys: Vec<TrustedKey>,
}

/// How a component came to be trusted, for `/plugins`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its digest is on the allow-list.
    Listed,
    /// Signed by this key (its id and name).
    SignedBy {
        /// The key's id.
        id: String,
        /// The key's file name.
        name: String,
    },
}

impl Verdict {
    /// A short description: `digest allow-list` or `key <id> (<name>)`.
    pub fn describe(&self) -> String {
        match self {
            Self::Listed => "digest allow-list".to_owned(),
            Self::SignedBy { id, name } => format!("key {id} ({name})"),
        }
    }
}

impl Trust {
    /// Whether a plugin file with SHA-256 `hash` may load.
    pub fn check_file(&self, hash: &ContentHash) -> Result<Verdict, String> {
        if self.digests.contains(hash) {
            return Ok(Verdict::Listed);
        }
        let hint = if self.keys.is_empty() {
            ""
        } else {
            "; a file carries no signature: publish it to a registry with `hookgate plugin push` and sign it"
        };
        Err(format!("not trusted: sha256:{hash} is not in plugins.trust.digests{hint}"))
    }

    /// Whether the registry artifact at `manifest` (in `reference`'s repository), whose
    /// component layer is `layer`, may load: listed, or signed by a trusted key.
    pub async fn check_artifact(
        &self,
        client: &RegistryClient,
        reference: &Reference,
        manifest: &ContentHash,
        layer: &ContentHash,
    ) -> Result<Verdict, String> {
        if self.digests.contains(manifest) || self.digests.contains(layer) {
            return Ok(Verdict::Listed);
        }
        if self.keys.is_empty() {
            return Err(format!(
                "not trusted: neither sha256:{manifest} nor its layer sha256:{layer} is in plugins.trust.digests"
            ));
        }
        let key = signed_by(client, reference, manifest, &self.keys).await?;
        Ok(Verdict::SignedBy { id: key.id.clone(), name: key.name.clone() })
    }
}

/// The first of `keys` that signed `manifest` (cosign's `.sig` tag in `reference`'s
/// repository), or why none did.
pub async fn signed_by<'k>(
    client: &RegistryClient,
    reference: &Reference,
    manifest: &ContentHash,
    keys: &'k [TrustedKey],
) -> Result<&'k TrustedKey, String> {
    let at = reference.signature_tag(manifest);
    let unsigned = || format!("not trusted: {} has no signature (expected cosign's {at})", reference.at(*manifest));
    let fetched = match client.current_digest(&at).await {
        Ok(None) => return Err(unsigned()),
        Ok(Some(_)) => client.manifest(&at).await.map_err(|error| format!("cannot read the signatures: {error}"))?,
        Err(error) => return Err(format!("cannot read the signatures: {error}")),
    };
    let signatures: Manifest =
        serde_json::from_slice(&fetched.bytes).map_err(|error| format!("not trusted: {at} does not parse: {error}"))?;
    let mut why = Vec::new();
    for layer in signatures.layers.iter().filter(|layer| layer.media_type == SIMPLE_SIGNING).take(MAX_SIGNATURES) {
        let Some(signature) =
            layer.annotations.as_ref().and_then(|a| a.get(SIGNATURE_ANNOTATION)).and_then(|v| v.as_str())
        else {
            continue;
        };
        let Some(digest) = layer.hash() else { continue };
        let payload = match client.blob(&at, &digest, MAX_PAYLOAD_BYTES).await {
            Ok(payload) => payload,
            Err(error) => {
                why.push(error.to_string());
                continue;
            }
        };
        match signature::verify(keys, manifest, &reference.repository, &payload, signature) {
            Ok(key) => return Ok(key),
            Err(reason) => why.push(reason),
        }
    }
    if why.is_empty() {
        return Err(unsigned());
    }
    why.dedup();
    Err(format!("not trusted: no valid signature by a trusted key on {} ({})", reference.at(*manifest), why.join("; ")))
}
