//! On-disk cache of compiled components, keyed by content hash.
//!
//! Compiling an 18 MB Python component takes seconds; loading its serialized artifact
//! takes milliseconds. The key also covers the engine's compatibility hash, so a new
//! wasmtime or different engine settings never load a stale artifact.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::types::ContentHash;

/// A directory of serialized components (`<sha256>-<engine hash>.cwasm`).
///
/// The directory must be private to the proxy: loading an artifact runs its code without
/// validation, which is why it is created with mode 0700.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

/// Whether a component came from the cache or was compiled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a cached artifact.
    Hit,
    /// Compiled (and, when possible, written to the cache).
    Miss,
    /// Compiled; no cache is configured.
    Disabled,
}

impl ArtifactCache {
    /// Uses (and creates) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self { dir })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, engine: &Engine, hash: &ContentHash) -> PathBuf {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir.join(format!("{hash}-{:016x}.cwasm", hasher.finish()))
    }

    /// Loads the artifact for `hash`, or compiles `wasm` and stores it.
    ///
    /// A corrupt or incompatible artifact is recompiled and replaced, never trusted.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        hash: &ContentHash,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.path(engine, hash);
        // Read into memory rather than `deserialize_file`: that one maps the file, and a
        // cache file truncated while mapped (by an operator, or another process) would
        // kill the proxy with SIGBUS on the next call into the plugin.
        match std::fs::read(&path) {
            // SAFETY: the bytes are an artifact this cache wrote with
            // `Component::serialize`, in a directory only the proxy's user can write;
            // wasmtime checks the header and engine compatibility before using them.
            Ok(bytes) => match unsafe { Component::deserialize(engine, &bytes) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(error) => tracing::warn!(path = %path.display(), "discarding unusable cached artifact: {error:#}"),
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(path = %path.display(), "cannot read cached artifact: {error}"),
        }
        let component = Component::new(engine, wasm)?;
        if let Err(error) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), "could not write the compiled-artifact cache: {error:#}");
        }
        Ok((component, CacheOutcome::Miss))
    }

    /// Writes atomically: a reader never sees a half-written artifact.
    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        let bytes = component.serialize().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        write_atomically(path, &bytes)?;
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file of this process and a rename: a
/// reader (another replica sharing the directory included) sees the old file or the new
/// one, never half of one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
