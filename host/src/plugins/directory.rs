//! The plugin directory: `<name>.wasm` files (with optional sidecar `<name>.yaml`
//! settings) become the registry's plugin set, at start-up and on every rescan — a file
//! change seen by the watcher, `POST /plugins/reload`, or SIGHUP.
//!
//! A rescan compiles new and changed plugins off the request path, validates them
//! (`describe`, `init`), and swaps the whole set in at once; requests in flight keep the
//! set they started with. A plugin that fails to load never replaces a working one: the
//! old version keeps serving and the error is kept for `GET /plugins` and logged, once:
//! the watcher retries a failed plugin only when its files change (an explicit reload
//! or SIGHUP retries everything).
//!
//! What the directory may hold: `<name>.wasm` files whose name is a valid plugin name.
//! Hidden files (`._x.wasm` from macOS copies, editor leftovers) and invalid names are
//! skipped with one warning each; a symlink is followed only when it points inside the
//! directory (as Kubernetes' ConfigMap mounts do), never elsewhere. To replace a plugin
//! atomically, write the new file under another name (`x.wasm.tmp`) and rename it over
//! `x.wasm`: a rescan then never sees a half-written file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::engine::PluginEngine;
use super::loaded::LoadedPlugin;
use super::registry::{ActivePlugin, PluginSet, Registry};
use super::settings::PluginSettings;
use super::sources::RegistrySources;
use crate::config::PluginsConfig;
use crate::metrics::{LoadResult, Metrics};
use crate::types::ContentHash;

/// Quiet time after the last file event before a rescan: a `cp` in progress emits many
/// events, and the rescan should see the finished file.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// What one rescan did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RescanReport {
    /// Plugins (re)loaded from changed files.
    pub loaded: Vec<String>,
    /// Plugins whose file and settings did not change.
    pub unchanged: Vec<String>,
    /// Plugins whose file is gone: unloaded.
    pub removed: Vec<String>,
    /// Plugins that could not be loaded, with why. A previous version, if any, still serves.
    pub failed: BTreeMap<String, String>,
    /// Plugins not registered by rule: a duplicate of another, or over `max_plugins`.
    pub refused: BTreeMap<String, String>,
}

/// Why the plugin directory could not be scanned at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the plugin directory {}: {source}", dir.display())]
pub struct DirError {
    /// The directory.
    pub dir: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// The plugin directory and the registry it feeds.
pub struct PluginDirectory {
    engine: PluginEngine,
    /// `None` when every plugin comes from a registry.
    dir: Option<PathBuf>,
    sources: Arc<RegistrySources>,
    enabled: Option<Vec<String>>,
    config: PluginsConfig,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    failures: Mutex<BTreeMap<String, String>>,
    /// The files of each plugin whose last load failed, as they were then: unchanged
    /// files are not loaded again by the watcher.
    failed_files: Mutex<HashMap<String, PluginFiles>>,
    /// Files already warned about (skipped stray files), so each is said once.
    warned: Mutex<std::collections::HashSet<String>>,
    rescanning: tokio::sync::Mutex<()>,
}

/// Why a rescan runs: the watcher saw a change, or someone asked (a reload request,
/// SIGHUP, start-up), which retries plugins that failed even if their files did not
/// change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A file event from the watcher.
    Watch,
    /// `POST /plugins/reload`, SIGHUP or start-up.
    Explicit,
}

/// A plugin's component and sidecar as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PluginFiles {
    wasm: Stamp,
    sidecar: Stamp,
    /// For a registry plugin, the manifest pulled.
    artifact: Option<ContentHash>,
}

impl PluginDirectory {
    /// The directory `dir` and the registry `sources` feeding `registry`; `enabled` (from
    /// `litellm_settings.callbacks`) restricts which plugins load.
    pub fn new(
        engine: PluginEngine,
        dir: Option<PathBuf>,
        sources: Arc<RegistrySources>,
        enabled: Option<Vec<String>>,
        config: PluginsConfig,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            engine,
            dir,
            sources,
            enabled,
            config,
            registry,
            metrics,
            failures: Mutex::new(BTreeMap::new()),
            failed_files: Mutex::new(HashMap::new()),
            warned: Mutex::new(std::collections::HashSet::new()),
            rescanning: tokio::sync::Mutex::new(()),
        }
    }

    fn files_of(&self, name: &str) -> PluginFiles {
        let artifact = self.sources.has(name).then(|| self.sources.current(name).ok().map(|a| a.manifest)).flatten();
        let stamp =
            |ext: &str| Stamp(self.dir.as_ref().and_then(|dir| Stamp::of(&dir.join(format!("{name}.{ext}"))).0));
        PluginFiles { wasm: stamp("wasm"), sidecar: stamp("yaml"), artifact }
    }

    /// Logs `message` about `file` the first time only.
    fn warn_once(&self, file: &str, message: &str) {
        if self.warned.lock().unwrap_or_else(|e| e.into_inner()).insert(file.to_owned()) {
            tracing::warn!(file, "{message}");
        }
    }

    /// The directory watched, if there is one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Whether a trust policy checks the plugins (files by digest only).
    pub fn trusts_files(&self) -> bool {
        self.config.registry.trust.is_some()
    }

    /// The registry sources.
    pub fn sources(&self) -> &Arc<RegistrySources> {
        &self.sources
    }

    /// The plugins whose last load failed or was refused, with why (a failed one may still
    /// serve an older version).
    pub fn failures(&self) -> BTreeMap<String, String> {
        self.failures.lock().expect("failures lock").clone()
    }

    /// Reads the directory and swaps in what it holds now. One rescan runs at a time.
    /// A plugin that failed to load is retried only when its files changed since, unless
    /// the rescan is [`Trigger::Explicit`], which also asks every registry source first.
    pub async fn rescan(&self, trigger: Trigger) -> Result<RescanReport, DirError> {
        // Outside the lock: a slow or hanging registry must not hold up the directory's
        // own rescans (a watched file change, another reload) while it is asked.
        if trigger == Trigger::Explicit {
            self.sources.refresh_all().await;
        }
        let _one_at_a_time = self.rescanning.lock().await;
        let names = self.names()?;
        let current = self.registry.snapshot();
        let previous_failures = self.failures();
        let mut report = RescanReport::default();
        let mut next: Vec<Arc<ActivePlugin>> = Vec::new();
        let mut identities: HashMap<(ContentHash, String), String> = HashMap::new();
        let mut still_failing: BTreeMap<String, String> = BTreeMap::new();
        for name in &names {
            let existing = current.iter().find(|plugin| plugin.name() == name).cloned();
            let files = self.files_of(name);
            let unchanged_since_failure =
                self.failed_files.lock().unwrap_or_else(|e| e.into_inner()).get(name) == Some(&files);
            if trigger == Trigger::Watch && unchanged_since_failure {
                if let Some(error) = previous_failures.get(name) {
                    // Nothing changed since it failed: loading it again would fail again.
                    still_failing.insert(name.clone(), error.clone());
                    next.extend(existing);
                    continue;
                }
            }
            match self.candidate(name) {
                Err(error) => {
                    report.failed.insert(name.clone(), error);
                    next.extend(existing);
                }
                Ok(candidate) => {
                    let identity = (candidate.hash, serde_json::to_string(&candidate.settings).unwrap_or_default());
                    if let Some(first) = identities.get(&identity) {
                        let why = format!("the same component with the same settings as `{first}`: registered once");
                        report.refused.insert(name.clone(), why);
                        continue;
                    }
                    if next.len() >= self.config.max_plugins {
                        let why = format!("max_plugins ({}) reached: not loaded", self.config.max_plugins);
                        report.refused.insert(name.clone(), why);
                        continue;
                    }
                    identities.insert(identity, name.clone());
                    match existing {
                        Some(existing)
                            if existing.plugin.hash() == candidate.hash
                                && *existing.plugin.settings() == candidate.settings =>
                        {
                            report.unchanged.push(name.clone());
                            next.push(existing);
                        }
                        _ => match self.load(name, candidate).await {
                            Ok(plugin) => {
                                report.loaded.push(name.clone());
                                next.push(Arc::new(ActivePlugin::new(plugin, &self.metrics)));
                            }
                            Err(Some(error)) => {
                                report.failed.insert(name.clone(), error);
                                next.extend(existing);
                            }
                            // The file changed while it was read: a later event rescans it.
                            Err(None) => next.extend(existing),
                        },
                    }
                }
            }
        }
        report.removed =
            current.iter().map(|plugin| plugin.name().to_owned()).filter(|name| !names.contains(name)).collect();
        {
            let mut failed_files = self.failed_files.lock().unwrap_or_else(|e| e.into_inner());
            failed_files.retain(|name, _| still_failing.contains_key(name));
            for name in report.failed.keys() {
                failed_files.insert(name.clone(), self.files_of(name));
            }
        }
        for (name, error) in &report.failed {
            tracing::error!(plugin = %name, error = %error, "plugin not loaded");
        }
        for (name, why) in &report.refused {
            tracing::warn!(plugin = %name, why = %why, "plugin not registered");
        }
        if !report.loaded.is_empty() || !report.removed.is_empty() {
            tracing::info!(loaded = ?report.loaded, removed = ?report.removed, "plugins swapped in");
        }
        self.registry.replace(PluginSet::new(next, self.enabled.as_deref()));
        let mut failures = report.failed.clone();
        failures.extend(report.refused.clone());
        failures.extend(still_failing);
        *self.failures.lock().expect("failures lock") = failures;
        // Counted only once the state above is published: a scrape that sees a load's
        // count must also see its outcome in `hookgate_plugins{state=...}`.
        let loaded = report.loaded.iter().map(|name| (name, LoadResult::Loaded));
        let failed = report.failed.keys().map(|name| (name, LoadResult::Failed));
        let refused = report.refused.keys().map(|name| (name, LoadResult::Refused));
        loaded.chain(failed).chain(refused).for_each(|(name, result)| self.metrics.plugin_load(name, result));
        Ok(report)
    }

    /// The plugin names to load: every `<name>.wasm` that may be a plugin, or the
    /// enabled ones.
    fn names(&self) -> Result<Vec<String>, DirError> {
        if let Some(enabled) = &self.enabled {
            return Ok(enabled.clone());
        }
        let mut names: Vec<String> = self.sources.names().cloned().collect();
        if let Some(dir) = &self.dir {
            let entries = std::fs::read_dir(dir).map_err(|source| DirError { dir: dir.clone(), source })?;
            for path in entries.filter_map(Result::ok).map(|entry| entry.path()) {
                if path.extension().is_none_or(|ext| ext != "wasm") {
                    continue;
                }
                let Some(name) = self.plugin_name(dir, &path) else { continue };
                if self.sources.has(&name) {
                    let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    self.warn_once(
                        &file,
                        "ignored: plugins.sources names this plugin, and the registry's version wins",
                    );
                    continue;
                }
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The plugin name of `path`, a `*.wasm` in the directory; `None` (with one warning)
    /// for a stray file: hidden, not a valid name, or a symlink leading out.
    fn plugin_name(&self, dir: &Path, path: &Path) -> Option<String> {
        let file = path.file_name()?.to_string_lossy().into_owned();
        let Some(name) = path.file_stem().and_then(|stem| stem.to_str()) else {
            self.warn_once(&file, "skipped: the file name is not valid UTF-8");
            return None;
        };
        if name.starts_with('.') {
            self.warn_once(&file, "skipped: hidden files in the plugin directory are never loaded");
            return None;
        }
        if !super::loaded::valid_name(name) {
            self.warn_once(&file, "skipped: not a valid plugin name (1 to 64 of A-Z a-z 0-9 . _ -)");
            return None;
        }
        if !stays_inside(dir, path) {
            self.warn_once(&file, "skipped: a symlink to outside the plugin directory is never followed");
            return None;
        }
        Some(name.to_owned())
    }

    /// Reads a plugin's component and settings.
    /// A registry plugin's settings are the config's alone: there is no sidecar to read.
    fn candidate(&self, name: &str) -> Result<Candidate, String> {
        if self.sources.has(name) {
            let artifact = self.sources.current(name)?;
            let wasm = artifact.wasm.as_ref().clone();
            return Ok(Candidate {
                hash: ContentHash::of(&wasm),
                wasm,
                settings: self.config.settings_for(name),
                path: None,
            });
        }
        let Some(dir) = &self.dir else {
            return Err(format!("no plugins.dir and no plugins.sources entry for `{name}`"));
        };
        let path = dir.join(format!("{name}.wasm"));
        let stamp = Stamp::of(&path);
        let wasm = read_from(dir, &path, MAX_COMPONENT_BYTES).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => format!("{} does not exist{}", path.display(), build_hint(name, dir)),
            _ => format!("cannot read {}: {error}", path.display()),
        })?;
        let hash = ContentHash::of(&wasm);
        if let Some(trust) = &self.config.registry.trust {
            trust.check_file(&hash)?;
        }
        let settings = settings_of(dir, name, &self.config)?;
        Ok(Candidate { hash, wasm, settings, path: Some((path, stamp)) })
    }

    /// Compiles and validates a candidate: `Err(None)` when the file changed meanwhile.
    async fn load(&self, name: &str, candidate: Candidate) -> Result<Arc<LoadedPlugin>, Option<String>> {
        let Candidate { wasm, settings, path, .. } = candidate;
        match LoadedPlugin::load(&self.engine, name, wasm, settings).await {
            Ok(plugin) => Ok(plugin),
            Err(_) if path.is_some_and(|(path, stamp)| Stamp::of(&path) != stamp) => Err(None),
            Err(error) => Err(Some(error.to_string())),
        }
    }
}

/// The largest component read from the directory (as from a registry).
const MAX_COMPONENT_BYTES: u64 = crate::oci::client::MAX_BLOB_BYTES as u64;
/// The largest sidecar read from the directory.
const MAX_SIDECAR_BYTES: u64 = 1 << 20;

/// Whether `path`, in the plugin directory `dir`, is no symlink or one that leads to
/// inside `dir`.
fn stays_inside(dir: &Path, path: &Path) -> bool {
    if !std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return true;
    }
    match (std::fs::canonicalize(path), std::fs::canonicalize(dir)) {
        (Ok(target), Ok(dir)) => target.starts_with(dir),
        _ => false,
    }
}

/// Reads `path`, a file in the plugin directory `dir`, if it is a regular file of at most
/// `max_bytes` (a symlink only to inside `dir`). Whoever can write the directory must not
/// stall or exhaust the proxy with `x.yaml -> /dev/zero`, a named pipe (opened without
/// waiting for a writer) or a sparse 100 GB file, nor read a file outside it into a plugin.
fn read_from(dir: &Path, path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let refused = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned());
    std::fs::symlink_metadata(path)?;
    if !stays_inside(dir, path) {
        return Err(refused("a symlink to outside the plugin directory is never followed"));
    }
    let opening = super::file_read::Opening { follow_links: true, max_bytes };
    super::file_read::read_checked(path, opening, |meta| match meta.is_file() {
        true => Ok(()),
        false => Err(refused("not a regular file")),
    })
}

/// A plugin file as read, before it is loaded.
struct Candidate {
    hash: ContentHash,
    wasm: Vec<u8>,
    settings: PluginSettings,
    /// A file's path and stamp as read; `None` for a registry plugin.
    path: Option<(PathBuf, Stamp)>,
}

/// A file's size and modification time: tells a file still being written from a broken
/// one, and a changed file from one that failed before.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Option<(u64, SystemTime)>);

impl Stamp {
    fn of(path: &Path) -> Self {
        Self(std::fs::metadata(path).ok().and_then(|meta| Some((meta.len(), meta.modified().ok()?))))
    }
}

/// A plugin's settings: the config's defaults, then its sidecar `<dir>/<name>.yaml` if
/// there is one, then its entry under `plugins.settings`, key by key.
pub fn settings_of(dir: &Path, name: &str, config: &PluginsConfig) -> Result<PluginSettings, String> {
    let sidecar = dir.join(format!("{name}.yaml"));
    let text = read_from(dir, &sidecar, MAX_SIDECAR_BYTES).and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))
    });
    match text {
        Ok(text) => config.settings_with_sidecar(name, &sidecar, &text).map_err(|error| error.to_string()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(config.settings_for(name)),
        Err(error) => Err(format!("cannot read {}: {error}", sidecar.display())),
    }
}

/// Watches the directory and rescans after each burst of changes to a `.wasm` or
/// `.yaml` file. Runs until the process ends.
pub fn watch(directory: Arc<PluginDirectory>) -> notify::Result<()> {
    use notify::event::{AccessKind, AccessMode};
    use notify::{EventKind, Watcher};
    let (changed, mut changes) = tokio::sync::mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Changes only: a rescan reads every file, and reading (an `Access` event) must not
        // start the next rescan.
        let relevant = event.is_ok_and(|event| {
            let change = matches!(
                event.kind,
                EventKind::Create(_)
                    | EventKind::Modify(_)
                    | EventKind::Remove(_)
                    | EventKind::Access(AccessKind::Close(AccessMode::Write))
            );
            change && event.paths.iter().any(|path| path.extension().is_some_and(|ext| ext == "wasm" || ext == "yaml"))
        });
        if relevant {
            // Full means a rescan is already due: nothing is lost.
            let _ = changed.try_send(());
        }
    })?;
    let Some(dir) = directory.dir() else { return Ok(()) };
    watcher.watch(dir, notify::RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        let _watcher = watcher;
        while changes.recv().await.is_some() {
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, changes.recv()).await {}
            if let Err(error) = directory.rescan(Trigger::Watch).await {
                tracing::error!(%error, "plugin directory rescan failed");
            }
        }
    });
    Ok(())
}

/// For a missing plugin named like a LiteLLM callback (`custom_callbacks.proxy_handler_instance`:
/// a module and a handler instance in it), how to build it into `dir`.
fn build_hint(name: &str, dir: &Path) -> String {
    match name.rsplit_once('.') {
        Some((module, handler)) if !module.is_empty() && !handler.is_empty() => format!(
            "; `{name}` looks like a LiteLLM callback (module.handler): build it into the plugin directory with \
             `hookgate plugin build {module}.py --handler {handler} -o {}`",
            dir.display()
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::read_from;

    /// Whoever can write the plugin directory cannot stall or exhaust the proxy with a
    /// file that never ends, a pipe no one writes, a huge sparse file, or read a file
    /// outside the directory through a link.
    #[test]
    fn only_bounded_regular_files_inside_the_directory_are_read() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("plugins");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("ok.yaml"), "priority: 1\n").unwrap();
        assert_eq!(read_from(&dir, &dir.join("ok.yaml"), 1 << 20).unwrap(), b"priority: 1\n");
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yaml")).unwrap();
        std::os::unix::fs::symlink(dir.join("ok.yaml"), dir.join("inside.yaml")).unwrap();
        std::fs::write(root.path().join("outside.yaml"), "x").unwrap();
        std::os::unix::fs::symlink(root.path().join("outside.yaml"), dir.join("outside.yaml")).unwrap();
        let fifo = std::ffi::CString::new(dir.join("pipe.yaml").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::fs::File::create(dir.join("sparse.wasm")).unwrap().set_len(100 << 30).unwrap();
        assert!(read_from(&dir, &dir.join("zero.yaml"), 1 << 20).is_err(), "a link out, to a device");
        assert!(read_from(&dir, &dir.join("outside.yaml"), 1 << 20).is_err(), "a link out of the directory");
        assert_eq!(read_from(&dir, &dir.join("inside.yaml"), 1 << 20).unwrap(), b"priority: 1\n");
        let pipe = read_from(&dir, &dir.join("pipe.yaml"), 1 << 20).unwrap_err();
        assert!(pipe.to_string().contains("not a regular file"), "{pipe}");
        let sparse = read_from(&dir, &dir.join("sparse.wasm"), 256 << 20).unwrap_err();
        assert!(sparse.to_string().contains("over the"), "{sparse}");
    }
}
