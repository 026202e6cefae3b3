//! Plugins from OCI registries: references, a distribution-API client, the wasm artifact
//! layout, cosign signatures and the trust policy. The proxy pulls with [`pull`]; the
//! `hookgate plugin push|sign|verify` commands use [`push`], [`sign`] and
//! [`trust::signed_by`].

pub mod artifact;
pub mod client;
pub mod reference;
pub mod signature;
pub mod trust;

use serde_json::json;

use self::artifact::{Descriptor, Manifest};
pub use self::client::{Credentials, RegistryClient, RegistryError};
pub use self::reference::{Reference, Target};
use self::signature::{PrivateKey, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};
pub use self::trust::{Trust, Verdict};
use crate::types::ContentHash;

/// A pulled, verified, trusted component.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The component.
    pub wasm: Vec<u8>,
    /// The digest of the manifest pulled: what a tag pointed at.
    pub manifest: ContentHash,
    /// How it came to be trusted; `None` with no trust policy.
    pub verdict: Option<Verdict>,
}

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The registry failed or sent bytes that do not match their digest.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The artifact is not a wasm component artifact.
    #[error(transparent)]
    NotWasm(#[from] artifact::NotWasm),
    /// The trust policy refuses it.
    #[error("{0}")]
    Untrusted(String),
}

/// Pulls the component `reference` names: the manifest (checked against a pinned
/// digest), the trust policy (before the component is downloaded), then the component
/// layer (checked against its digest). `known` returns a component already held for a
/// layer digest, which saves the download.
pub async fn pull(
    client: &RegistryClient,
    reference: &Reference,
    trust: Option<&Trust>,
    known: impl Fn(&ContentHash) -> Option<Vec<u8>>,
) -> Result<Pulled, PullError> {
    let manifest = client.manifest(reference).await?;
    let layer = artifact::component_layer(&manifest.bytes)?;
    let layer_digest = layer.hash().expect("component_layer checked the digest");
    let verdict = match trust {
        Some(trust) => Some(
            trust
                .check_artifact(client, reference, &manifest.digest, &layer_digest)
                .await
                .map_err(PullError::Untrusted)?,
        ),
        None => None,
    };
    let wasm = match known(&layer_digest).filter(|wasm| ContentHash::of(wasm) == layer_digest) {
        Some(wasm) => wasm,
        None => client.blob(reference, &layer_digest, client::MAX_BLOB_BYTES).await?,
    };
    Ok(Pulled { wasm, manifest: manifest.digest, verdict })
}

/// Pushes `wasm` to `reference` in the wasm artifact layout; returns the manifest digest
/// (pin it: `created` makes every push a new manifest, as with `wkg oci push`).
pub async fn push(
    client: &RegistryClient,
    reference: &Reference,
    wasm: &[u8],
    imports: Vec<String>,
    exports: Vec<String>,
    title: &str,
) -> Result<ContentHash, RegistryError> {
    let created = artifact::rfc3339(std::time::SystemTime::now());
    let packaged = artifact::package(wasm, imports, exports, &created, title);
    client.push_blob(reference, wasm).await?;
    client.push_blob(reference, &packaged.config).await?;
    client.push_manifest(reference, &packaged.manifest).await
}

/// Signs the manifest `reference` names (resolving a tag first) with `key`, adding the
/// signature to cosign's `.sig` tag beside any there already. Returns the signed digest
/// and the signature tag.
pub async fn sign(
    client: &RegistryClient,
    reference: &Reference,
    key: &PrivateKey,
) -> Result<(ContentHash, Reference), RegistryError> {
    let digest = match reference.digest() {
        Some(digest) => *digest,
        None => client.current_digest(reference).await?.ok_or_else(|| RegistryError::Protocol {
            registry: reference.registry.clone(),
            why: format!("{reference} does not exist"),
        })?,
    };
    let payload = signature::payload(reference, &digest);
    let mut layer = Descriptor::of(SIMPLE_SIGNING, &payload);
    layer.annotations = Some([(SIGNATURE_ANNOTATION.to_owned(), json!(key.sign(&payload)))].into_iter().collect());
    let at = reference.signature_tag(&digest);
    let mut layers: Vec<Descriptor> = match client.current_digest(&at).await? {
        Some(_) => {
            serde_json::from_slice::<Manifest>(&client.manifest(&at).await?.bytes).map(|m| m.layers).unwrap_or_default()
        }
        None => Vec::new(),
    };
    layers.push(layer);
    client.push_blob(&at, &payload).await?;
    // cosign's signature image config: an image config whose rootfs lists the payloads.
    let config = json!({
        "architecture": "", "os": "", "created": "0001-01-01T00:00:00Z", "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).expect("the config serializes");
    client.push_blob(&at, &config).await?;
    let manifest = Manifest::new(Descriptor::of("application/vnd.oci.image.config.v1+json", &config), layers);
    client.push_manifest(&at, &manifest.to_bytes()).await?;
    Ok((digest, at))
}
