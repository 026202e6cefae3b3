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

/// Writes `bytes` to `path` through a temporary file of this process and thread and a
/// rename: a reader (another replica sharing the directory included) sees the old file or
/// the new one, never half of one. The thread is in the name because two writers of one
/// process may race for the same path (a registry poll and an explicit rescan pulling the
/// same version); this function never yields, so one thread is one writer at a time.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let thread: String = format!("{:?}", std::thread::current().id()).chars().filter(char::is_ascii_digit).collect();
    let tmp = path.with_extension(format!("tmp{}-{thread}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::write_atomically;

    #[test]
    fn two_threads_writing_one_path_each_finish_and_leave_a_whole_file() {
        let dir = std::env::temp_dir().join(format!("hookgate-write-atomically-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("blob.wasm");
        let writers: Vec<_> = [b'a', b'b']
            .into_iter()
            .map(|byte| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let bytes = vec![byte; 256 << 10];
                    (0..200).map(|_| write_atomically(&path, &bytes)).collect::<std::io::Result<Vec<()>>>()
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap().expect("every write lands");
        }
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len(), 256 << 10);
        assert!(written.iter().all(|&b| b == written[0]), "one writer's bytes, whole");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
