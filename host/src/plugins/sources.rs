//! Plugins pulled from OCI registries (`plugins.sources`): each is pulled, verified
//! (digest, trust policy) and kept as the current version of its name; the directory's
//! rescan loads it like a file.
//!
//! A tag is checked every `poll_interval` plus up to 20% jitter (so a fleet's replicas
//! do not ask at the same instant); when it points at a new manifest, the new version is
//! pulled and verified off the request path, and the directory swaps it in. A failed
//! check — registry down, tampered blob, untrusted artifact — never unloads anything: the
//! current version keeps serving and the error shows in `GET /plugins`. A digest
//! reference is pulled once and never changes.
//!
//! Pulled components are kept by content hash under `<cache_dir>/oci/`, with the last
//! verified version of each reference, so a restart while the registry is down still
//! starts with what was last verified (for a signed one, only while its signer's key is
//! still trusted). A component no record names any more (the version a tag moved away
//! from) is removed, so a tag that moves every day does not fill the disk.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::cache::write_atomically;
use crate::config::RegistryConfig;
use crate::oci::{self, Credentials, Reference, RegistryClient, Trust, Verdict};
use crate::types::ContentHash;

/// A verified version of a source.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The component.
    pub wasm: Arc<Vec<u8>>,
    /// The manifest digest pulled.
    pub manifest: ContentHash,
    /// The component's own SHA-256 (the layer digest).
    pub component: ContentHash,
    /// How it was trusted (`None`: no trust policy).
    pub verdict: Option<Verdict>,
}

/// How many earlier verified versions of a source are remembered, so `/plugins` can
/// name the one still serving when a newer one failed to load.
const REMEMBERED: usize = 4;

/// What `/plugins` shows about a source.
#[derive(Debug, Clone, Default)]
pub struct SourceStatus {
    /// The latest verified version: the one serving, unless it failed to load.
    pub current: Option<Artifact>,
    /// Earlier verified versions, newest first (at most a few).
    earlier: Vec<Artifact>,
    /// When the registry was last asked, successfully or not.
    pub checked_at: Option<SystemTime>,
    /// Why the last check failed; `None` after a good one.
    pub error: Option<String>,
}

impl SourceStatus {
    /// The verified version whose component hashes to `component`: which one is
    /// serving, when the directory's plugin has that hash.
    pub fn version_with(&self, component: &ContentHash) -> Option<&Artifact> {
        self.current.iter().chain(&self.earlier).find(|artifact| artifact.component == *component)
    }
}

/// How long a component no record names is left in the store: a replica sharing the
/// store writes a component before the record that names it.
const UNNAMED_BLOB_GRACE: Duration = Duration::from_secs(600);

/// The sources and their state.
pub struct RegistrySources {
    client: RegistryClient,
    sources: BTreeMap<String, Reference>,
    trust: Option<Arc<Trust>>,
    poll_interval: Duration,
    store: Option<PathBuf>,
    status: Mutex<BTreeMap<String, SourceStatus>>,
}

/// The last verified version of a reference, as recorded in the store.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    manifest: String,
    layer: String,
    signer_id: Option<String>,
}

impl RegistrySources {
    /// The sources of `config`; pulled components are kept under `cache_dir/oci` when
    /// there is a cache directory (created only when there are sources).
    pub fn new(config: &RegistryConfig, cache_dir: Option<&std::path::Path>) -> Self {
        let store = cache_dir.filter(|_| !config.sources.is_empty()).map(|dir| dir.join("oci"));
        if let Some(store) = &store {
            if let Err(error) = std::fs::create_dir_all(store) {
                tracing::warn!(dir = %store.display(), %error, "cannot create the OCI store: pulled plugins are not kept on disk");
            }
        }
        Self {
            client: RegistryClient::new(config.insecure.clone(), Credentials::from_environment()),
            sources: config.sources.clone(),
            trust: config.trust.clone(),
            poll_interval: config.poll_interval,
            store,
            status: Mutex::new(BTreeMap::new()),
        }
    }

    /// The plugin names that come from a registry.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.sources.keys()
    }

    /// Whether `name` comes from a registry.
    pub fn has(&self, name: &str) -> bool {
        self.sources.contains_key(name)
    }

    /// The reference `name` is pulled from.
    pub fn reference(&self, name: &str) -> Option<&Reference> {
        self.sources.get(name)
    }

    /// The status of `name`.
    pub fn status(&self, name: &str) -> SourceStatus {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned().unwrap_or_default()
    }

    /// The verified version of `name` to load, or why there is none.
    pub fn current(&self, name: &str) -> Result<Artifact, String> {
        let status = self.status(name);
        status.current.ok_or_else(|| status.error.unwrap_or_else(|| "not pulled yet".to_owned()))
    }

    /// Checks every source now; true when any has a new verified version.
    pub async fn refresh_all(&self) -> bool {
        let mut changed = false;
        for name in self.sources.keys() {
            changed |= self.refresh(name).await;
        }
        changed
    }

    /// Checks `name`'s reference: pulls and verifies a new version if there is one.
    /// True when the current version changed. A failure keeps the current version.
    async fn refresh(&self, name: &str) -> bool {
        let Some(reference) = self.sources.get(name) else { return false };
        let current = self.status(name).current;
        let outcome = self.check(reference, current.as_ref()).await;
        let mut all = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let status = all.entry(name.to_owned()).or_default();
        status.checked_at = Some(SystemTime::now());
        match outcome {
            Ok(None) => {
                status.error = None;
                false
            }
            Ok(Some(artifact)) => {
                tracing::info!(plugin = name, source = %reference, digest = %artifact.manifest.digest_string(), "pulled a new plugin version");
                status.error = None;
                if let Some(previous) = status.current.replace(artifact) {
                    status.earlier.insert(0, previous);
                    status.earlier.truncate(REMEMBERED);
                }
                true
            }
            Err(error) => {
                tracing::warn!(plugin = name, source = %reference, %error, "plugin source check failed; the current version keeps serving");
                status.error = Some(error);
                // A restart during an outage starts from the last verified version.
                if status.current.is_none() {
                    if let Some(artifact) = self.last_verified(reference) {
                        status.current = Some(artifact);
                        return true;
                    }
                }
                false
            }
        }
    }

    /// A new verified version of `reference`, `None` when `current` is still it.
    async fn check(&self, reference: &Reference, current: Option<&Artifact>) -> Result<Option<Artifact>, String> {
        let manifest = match (reference.digest(), current) {
            (Some(_), Some(_)) => return Ok(None), // pinned: never changes
            (Some(digest), None) => *digest,
            (None, _) => self
                .client
                .current_digest(reference)
                .await
                .map_err(|error| error.to_string())?
                .ok_or_else(|| format!("{reference} does not exist in the registry"))?,
        };
        if current.is_some_and(|current| current.manifest == manifest) {
            return Ok(None);
        }
        let pulled =
            oci::pull(&self.client, &reference.at(manifest), self.trust.as_deref(), |layer| self.stored(layer))
                .await
                .map_err(|error| error.to_string())?;
        self.keep(reference, &pulled);
        let component = ContentHash::of(&pulled.wasm);
        Ok(Some(Artifact {
            wasm: Arc::new(pulled.wasm),
            manifest: pulled.manifest,
            component,
            verdict: pulled.verdict,
        }))
    }

    fn blob_path(&self, layer: &ContentHash) -> Option<PathBuf> {
        Some(self.store.as_ref()?.join(blob_name(layer)))
    }

    fn record_path(&self, reference: &Reference) -> Option<PathBuf> {
        let key = ContentHash::of(reference.to_string().as_bytes());
        Some(self.store.as_ref()?.join(format!("ref-{key}.json")))
    }

    /// A stored component, checked against its hash.
    fn stored(&self, layer: &ContentHash) -> Option<Vec<u8>> {
        let wasm = std::fs::read(self.blob_path(layer)?).ok()?;
        (ContentHash::of(&wasm) == *layer).then_some(wasm)
    }

    /// Stores a verified pull: the component by hash, and the reference's record.
    fn keep(&self, reference: &Reference, pulled: &oci::Pulled) {
        let layer = ContentHash::of(&pulled.wasm);
        let (Some(blob), Some(record_path)) = (self.blob_path(&layer), self.record_path(reference)) else { return };
        let record = Record {
            manifest: pulled.manifest.digest_string(),
            layer: layer.digest_string(),
            signer_id: match &pulled.verdict {
                Some(Verdict::SignedBy { id, .. }) => Some(id.clone()),
                _ => None,
            },
        };
        let written = write_atomically(&blob, &pulled.wasm)
            .and_then(|()| write_atomically(&record_path, &serde_json::to_vec(&record).unwrap_or_default()));
        if let Err(error) = written {
            tracing::warn!(%error, "cannot keep a pulled plugin on disk");
            return;
        }
        let Some(store) = &self.store else { return };
        match drop_unnamed_blobs(store, UNNAMED_BLOB_GRACE) {
            Ok(0) => {}
            Ok(dropped) => {
                tracing::info!(dir = %store.display(), dropped, "removed pulled plugins no source names any more")
            }
            Err(error) => tracing::warn!(dir = %store.display(), %error, "cannot tidy the OCI store"),
        }
    }

    /// The last verified version of `reference` from the store, if the trust policy
    /// still allows it: its digest still listed, or its signer's key still trusted.
    fn last_verified(&self, reference: &Reference) -> Option<Artifact> {
        let record: Record = serde_json::from_slice(&std::fs::read(self.record_path(reference)?).ok()?).ok()?;
        let manifest = ContentHash::parse_digest(&record.manifest)?;
        let layer = ContentHash::parse_digest(&record.layer)?;
        if reference.digest().is_some_and(|pinned| *pinned != manifest) {
            return None;
        }
        let verdict = match self.trust.as_deref() {
            None => None,
            Some(trust) if trust.digests.contains(&manifest) || trust.digests.contains(&layer) => Some(Verdict::Listed),
            Some(trust) => {
                let key = trust.keys.iter().find(|key| Some(&key.id) == record.signer_id.as_ref())?;
                Some(Verdict::SignedBy { id: key.id.clone(), name: key.name.clone() })
            }
        };
        let wasm = self.stored(&layer)?;
        tracing::warn!(source = %reference, digest = %record.manifest, "the registry is unreachable: starting with the last verified version");
        Some(Artifact { wasm: Arc::new(wasm), manifest, component: layer, verdict })
    }

    /// Checks the sources every poll interval (plus jitter) and calls `changed` when a
    /// new version was pulled. Runs until the process ends.
    pub fn poll<F, Fut>(self: Arc<Self>, changed: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        if self.sources.is_empty() {
            return;
        }
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(with_jitter(self.poll_interval)).await;
                if self.refresh_all().await {
                    changed().await;
                }
            }
        });
    }
}

/// `interval` plus a random 0–20%.
fn with_jitter(interval: Duration) -> Duration {
    use rand_core::RngCore;
    let spread = interval.as_millis() as u64 / 5;
    let extra = if spread == 0 { 0 } else { rand_core::OsRng.next_u64() % spread };
    interval + Duration::from_millis(extra)
}

/// A component's file name in the store.
fn blob_name(layer: &ContentHash) -> String {
    format!("sha256-{layer}.wasm")
}

/// Removes the components in `store` that no record names and that were written more
/// than `grace` ago; returns how many. A record that cannot be read is an error and
/// nothing is removed (what it names is unknown); files the store did not name are left
/// alone.
fn drop_unnamed_blobs(store: &Path, grace: Duration) -> std::io::Result<usize> {
    let mut named = HashSet::new();
    let mut blobs = Vec::new();
    for entry in std::fs::read_dir(store)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else { continue };
        if name.starts_with("ref-") && name.ends_with(".json") {
            let record: Option<Record> =
                std::fs::read(entry.path()).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
            let Some(layer) = record.and_then(|record| ContentHash::parse_digest(&record.layer)) else {
                let why = format!("{} is not a record; nothing is removed while it is there", entry.path().display());
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, why));
            };
            named.insert(blob_name(&layer));
        } else if name.starts_with("sha256-") && name.ends_with(".wasm") {
            blobs.push((name.to_owned(), entry.path()));
        }
    }
    let mut dropped = 0;
    for (name, path) in blobs {
        let age = std::fs::metadata(&path).and_then(|m| m.modified()).ok().and_then(|at| at.elapsed().ok());
        if named.contains(&name) || age.is_none_or(|age| age < grace) {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            dropped += 1;
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::{blob_name, drop_unnamed_blobs, Record};
    use crate::plugins::cache::tests::write_aged as aged;
    use crate::types::ContentHash;

    fn record(store: &Path, name: &str, layer: &ContentHash) {
        let record = Record { manifest: layer.digest_string(), layer: layer.digest_string(), signer_id: None };
        aged(&store.join(name), &serde_json::to_vec(&record).unwrap(), 3_600);
    }

    #[test]
    fn components_no_record_names_go_once_past_the_grace() {
        let store = tempfile::tempdir().unwrap();
        let [current, shared, moved_from, just_written] =
            ["current", "shared", "moved from", "just written"].map(|what| ContentHash::of(what.as_bytes()));
        record(store.path(), "ref-a.json", &current);
        record(store.path(), "ref-b.json", &shared);
        record(store.path(), "ref-c.json", &shared);
        for (layer, age) in [(&current, 3_600), (&shared, 3_600), (&moved_from, 3_600), (&just_written, 5)] {
            aged(&store.path().join(blob_name(layer)), b"\0asm", age);
        }
        aged(&store.path().join("notes.wasm"), b"operator's", 3_600);

        assert_eq!(drop_unnamed_blobs(store.path(), Duration::from_secs(600)).unwrap(), 1);
        assert!(!store.path().join(blob_name(&moved_from)).exists());
        for kept in [&current, &shared, &just_written] {
            assert!(store.path().join(blob_name(kept)).exists());
        }
        assert!(store.path().join("notes.wasm").exists());
    }

    #[test]
    fn an_unreadable_record_stops_the_tidying() {
        let store = tempfile::tempdir().unwrap();
        let old = ContentHash::of(b"old");
        aged(&store.path().join(blob_name(&old)), b"\0asm", 3_600);
        aged(&store.path().join("ref-x.json"), b"{ half", 3_600);
        let error = drop_unnamed_blobs(store.path(), Duration::from_secs(600)).unwrap_err();
        assert!(error.to_string().contains("ref-x.json is not a record"), "{error}");
        assert!(store.path().join(blob_name(&old)).exists());
    }
}
