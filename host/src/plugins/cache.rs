//! On-disk cache of compiled components, keyed by content hash.
//!
//! Compiling an 18 MB Python component takes seconds; loading its serialized artifact
//! takes milliseconds. The key also covers the engine's compatibility hash, so a new
//! wasmtime or different engine settings never load a stale artifact.
//!
//! Every new version of a plugin (a rebuild dropped into the directory, a new tag pulled
//! from a registry) adds an artifact, up to ~45 MB for a Python one, and an upgrade of
//! the proxy orphans them all. So the cache keeps at most `max_bytes` of artifacts,
//! dropping the least recently used first: a load that hits touches its artifact.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
    max_bytes: u64,
}

/// How many bytes of artifacts a cache keeps by default: room for ~45 Python artifacts
/// (~45 MB each) or hundreds of Rust ones (~1–2 MB).
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 2 << 30;

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
    /// Uses (and creates) `dir`, keeping at most `max_bytes` of artifacts in it (the one
    /// written last is kept even when it alone is larger).
    ///
    /// Refuses a directory another user owns: an artifact is native code the proxy runs
    /// unchecked, so the cache must be a place no one else can write (made 0700 here).
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let owner = std::fs::metadata(&dir)?.uid();
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            if owner != me {
                return Err(std::io::Error::other(format!(
                    "owned by uid {owner}, not the proxy's user ({me}): compiled code from it would run unchecked"
                )));
            }
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self { dir, max_bytes })
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
        match read_own(&path) {
            // SAFETY: the bytes are an artifact this cache wrote with
            // `Component::serialize`: a regular file of the proxy's user that no one else
            // may write, in a directory only that user can write (`read_own`, `new`);
            // wasmtime checks the header and engine compatibility before using them.
            Ok(bytes) => match unsafe { Component::deserialize(engine, &bytes) } {
                Ok(component) => {
                    touch(&path);
                    return Ok((component, CacheOutcome::Hit));
                }
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
        let evicted = evict_least_recently_used(&self.dir, self.max_bytes, path)?;
        if evicted.count > 0 {
            tracing::info!(
                dir = %self.dir.display(),
                evicted = evicted.count,
                freed_mib = evicted.bytes >> 20,
                max_mib = self.max_bytes >> 20,
                "dropped the least recently used compiled artifacts to keep the cache under its size",
            );
        }
        Ok(())
    }
}

/// The bytes of the artifact at `path`, if it is one the proxy may run: a regular file
/// (not a link, not a pipe) of the proxy's own user that no other user may write. One
/// planted, or left writable, is refused (`PermissionDenied`): it is compiled again.
fn read_own(path: &Path) -> std::io::Result<Vec<u8>> {
    let opening = super::file_read::Opening { follow_links: false, max_bytes: u64::MAX };
    super::file_read::read_checked(path, opening, |meta| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            if !meta.is_file() || meta.uid() != me || meta.mode() & 0o022 != 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "not a regular file of the proxy's user that only it may write",
                ));
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        Ok(())
    })
}

/// Marks an artifact as just used. The modification time is the cache's clock of use:
/// access times are often not kept (`noatime`, `relatime`).
fn touch(path: &Path) {
    if let Err(error) = set_modified(path, SystemTime::now()) {
        tracing::debug!(path = %path.display(), "cannot mark a cached artifact as used: {error}");
    }
}

/// Sets when `path` was last modified (what eviction and the OCI store's tidying go by).
pub(crate) fn set_modified(path: &Path, at: SystemTime) -> std::io::Result<()> {
    std::fs::File::options().write(true).open(path)?.set_modified(at)
}

/// What an eviction removed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Evicted {
    count: usize,
    bytes: u64,
}

/// Removes the least recently modified artifacts in `dir` until the artifacts left total
/// at most `max_bytes`, never `keep`. Only files named as this cache names them count;
/// anything else in the directory (the registry's `oci/` store, an operator's file, a
/// write in progress) is neither counted nor touched.
fn evict_least_recently_used(dir: &Path, max_bytes: u64, keep: &Path) -> std::io::Result<Evicted> {
    let mut artifacts = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_name().to_str().is_some_and(is_artifact_name) {
            continue;
        }
        // Another replica sharing the directory may remove a file between listing and
        // reading it: a file gone is a file not counted.
        let Ok(metadata) = entry.metadata() else { continue };
        if metadata.is_file() {
            artifacts.push((metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH), metadata.len(), entry.path()));
        }
    }
    let mut total: u64 = artifacts.iter().map(|(_, len, _)| len).sum();
    artifacts.sort();
    let mut evicted = Evicted::default();
    for (_, len, path) in artifacts {
        if total <= max_bytes {
            break;
        }
        if path == keep {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                evicted.count += 1;
                evicted.bytes += len;
                total -= len;
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => total -= len,
            Err(error) => tracing::warn!(path = %path.display(), "cannot remove a cached artifact: {error}"),
        }
    }
    Ok(evicted)
}

/// `<64 hex digits>-<16 hex digits>.cwasm`: the names [`ArtifactCache`] writes.
fn is_artifact_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".cwasm") else { return false };
    let Some((content, engine)) = stem.split_once('-') else { return false };
    let hex = |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit());
    hex(content, 64) && hex(engine, 16)
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
pub(crate) mod tests {
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    use super::{evict_least_recently_used, is_artifact_name, set_modified, write_atomically, Evicted};

    /// Writes `bytes` at `path`, last modified `age_seconds` ago.
    pub(crate) fn write_aged(path: &Path, bytes: &[u8], age_seconds: u64) {
        std::fs::write(path, bytes).unwrap();
        set_modified(path, SystemTime::now() - Duration::from_secs(age_seconds)).unwrap();
    }

    /// Writes `len` bytes at `dir/name`, last modified `age_seconds` ago.
    fn file(dir: &Path, name: &str, len: usize, age_seconds: u64) -> std::path::PathBuf {
        let path = dir.join(name);
        write_aged(&path, &vec![0u8; len], age_seconds);
        path
    }

    fn artifact(content: char, engine: char) -> String {
        format!("{}-{}.cwasm", content.to_string().repeat(64), engine.to_string().repeat(16))
    }

    /// An artifact another user could have written (planted, or left group- or
    /// world-writable) is never run: it is compiled again and replaced.
    #[test]
    fn an_artifact_others_may_write_is_compiled_again_not_run() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = super::ArtifactCache::new(dir.path().join("cache"), 1 << 30).unwrap();
        let engine = wasmtime::Engine::default();
        let wasm = b"(component)";
        let hash = crate::types::ContentHash::of(wasm);
        let outcome = |cache: &super::ArtifactCache| cache.load_or_compile(&engine, wasm, &hash).unwrap().1;
        assert_eq!(outcome(&cache), super::CacheOutcome::Miss);
        assert_eq!(outcome(&cache), super::CacheOutcome::Hit);
        let artifact = std::fs::read_dir(cache.dir()).unwrap().next().unwrap().unwrap().path();
        std::fs::set_permissions(&artifact, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(outcome(&cache), super::CacheOutcome::Miss, "a world-writable artifact is not run");
        let mode = std::fs::metadata(&artifact).unwrap().permissions().mode();
        assert_eq!(mode & 0o022, 0, "and it was replaced by one only the proxy may write");
        assert_eq!(outcome(&cache), super::CacheOutcome::Hit);
        // A link to an artifact is no artifact.
        std::fs::rename(&artifact, dir.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &artifact).unwrap();
        assert_eq!(outcome(&cache), super::CacheOutcome::Miss, "a symlinked artifact is not run");
    }

    #[test]
    fn eviction_drops_the_least_recently_used_artifacts_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let oldest = file(dir.path(), &artifact('a', '1'), 400, 300);
        let older = file(dir.path(), &artifact('b', '2'), 400, 200);
        let recent = file(dir.path(), &artifact('c', '1'), 400, 100);
        let written = file(dir.path(), &artifact('d', '1'), 400, 0);
        let foreign = [
            file(dir.path(), "notes.cwasm", 10_000, 1_000),
            file(dir.path(), &format!("{}.tmp42-1", artifact('e', '1').trim_end_matches(".cwasm")), 10_000, 1_000),
        ];
        std::fs::create_dir(dir.path().join("oci")).unwrap();

        let evicted = evict_least_recently_used(dir.path(), 900, &written).unwrap();
        assert_eq!(evicted, Evicted { count: 2, bytes: 800 });
        assert!(!oldest.exists() && !older.exists());
        assert!(recent.exists() && written.exists());
        assert!(foreign.iter().all(|path| path.exists()), "files the cache did not name are not its to remove");
        assert!(dir.path().join("oci").is_dir());

        // Under the cap, nothing goes.
        assert_eq!(evict_least_recently_used(dir.path(), 800, &written).unwrap(), Evicted::default());
    }

    #[test]
    fn the_artifact_just_written_stays_even_over_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let older = file(dir.path(), &artifact('a', '1'), 100, 100);
        // Written now, yet with an older clock than its neighbour (a clock step back).
        let written = file(dir.path(), &artifact('b', '1'), 5_000, 500);
        let evicted = evict_least_recently_used(dir.path(), 1_000, &written).unwrap();
        assert_eq!(evicted, Evicted { count: 1, bytes: 100 });
        assert!(written.exists() && !older.exists());
    }

    #[test]
    fn artifact_names_are_exactly_the_ones_the_cache_writes() {
        assert!(is_artifact_name(&artifact('a', 'f')));
        assert!(!is_artifact_name(&artifact('a', 'f').replace(".cwasm", ".wasm")));
        assert!(!is_artifact_name(&format!("{}-{}.cwasm", "a".repeat(63), "f".repeat(16))));
        assert!(!is_artifact_name(&format!("{}-{}.cwasm", "g".repeat(64), "f".repeat(16))));
        assert!(!is_artifact_name("sha256-x.wasm"));
    }

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
