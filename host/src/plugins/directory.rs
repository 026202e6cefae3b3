//! The plugin directory: `<name>.wasm` files (with optional sidecar `<name>.yaml`
//! settings) become the registry's plugin set, at start-up and on every rescan — a file
//! change seen by the watcher, `POST /plugins/reload`, or SIGHUP.
//!
//! A rescan compiles new and changed plugins off the request path, validates them
//! (`describe`, `init`), and swaps the whole set in at once; requests in flight keep the
//! set they started with. A plugin that fails to load never replaces a working one: the
//! old version keeps serving and the error is kept for `GET /plugins` and logged.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::engine::PluginEngine;
use super::loaded::LoadedPlugin;
use super::registry::{ActivePlugin, PluginSet, Registry};
use super::settings::PluginSettings;
use super::ContentHash;
use crate::config::PluginsConfig;
use crate::metrics::{LoadResult, Metrics};

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
    dir: PathBuf,
    enabled: Option<Vec<String>>,
    config: PluginsConfig,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    failures: Mutex<BTreeMap<String, String>>,
    rescanning: tokio::sync::Mutex<()>,
}

impl PluginDirectory {
    /// The directory `dir` feeding `registry`; `enabled` (from `litellm_settings.callbacks`)
    /// restricts which plugins load.
    pub fn new(
        engine: PluginEngine,
        dir: PathBuf,
        enabled: Option<Vec<String>>,
        config: PluginsConfig,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            engine,
            dir,
            enabled,
            config,
            registry,
            metrics,
            failures: Mutex::new(BTreeMap::new()),
            rescanning: tokio::sync::Mutex::new(()),
        }
    }

    /// The directory watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The plugins whose last load failed or was refused, with why (a failed one may still
    /// serve an older version).
    pub fn failures(&self) -> BTreeMap<String, String> {
        self.failures.lock().expect("failures lock").clone()
    }

    /// Reads the directory and swaps in what it holds now. One rescan runs at a time.
    pub async fn rescan(&self) -> Result<RescanReport, DirError> {
        let _one_at_a_time = self.rescanning.lock().await;
        let names = self.names()?;
        let current = self.registry.snapshot();
        let mut report = RescanReport::default();
        let mut next: Vec<Arc<ActivePlugin>> = Vec::new();
        let mut identities: HashMap<(ContentHash, String), String> = HashMap::new();
        for name in &names {
            let existing = current.iter().find(|plugin| plugin.name() == name).cloned();
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
        let loaded = report.loaded.iter().map(|name| (name, LoadResult::Loaded));
        let failed = report.failed.keys().map(|name| (name, LoadResult::Failed));
        let refused = report.refused.keys().map(|name| (name, LoadResult::Refused));
        loaded.chain(failed).chain(refused).for_each(|(name, result)| self.metrics.plugin_load(name, result));
        for (name, error) in &report.failed {
            tracing::error!(plugin = %name, error = %error, "plugin not loaded");
        }
        for (name, why) in &report.refused {
            tracing::warn!(plugin = %name, why = %why, "plugin not registered");
        }
        if !report.loaded.is_empty() || !report.removed.is_empty() {
            tracing::info!(loaded = ?report.loaded, removed = ?report.removed, "plugins swapped in");
        }
        self.registry.replace(PluginSet::new(next));
        let mut failures = report.failed.clone();
        failures.extend(report.refused.clone());
        *self.failures.lock().expect("failures lock") = failures;
        Ok(report)
    }

    /// The plugin names to load: every `<name>.wasm`, or the enabled ones.
    fn names(&self) -> Result<Vec<String>, DirError> {
        if let Some(enabled) = &self.enabled {
            return Ok(enabled.clone());
        }
        let entries = std::fs::read_dir(&self.dir).map_err(|source| DirError { dir: self.dir.clone(), source })?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
            .filter_map(|path| path.file_stem()?.to_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Reads a plugin's component and settings.
    fn candidate(&self, name: &str) -> Result<Candidate, String> {
        let path = self.dir.join(format!("{name}.wasm"));
        let stamp = Stamp::of(&path);
        let wasm = std::fs::read(&path).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => format!("{} does not exist", path.display()),
            _ => format!("cannot read {}: {error}", path.display()),
        })?;
        let settings = settings_of(&self.dir, name, &self.config)?;
        Ok(Candidate { hash: ContentHash::of(&wasm), wasm, settings, path, stamp })
    }

    /// Compiles and validates a candidate: `Err(None)` when the file changed meanwhile.
    async fn load(&self, name: &str, candidate: Candidate) -> Result<Arc<LoadedPlugin>, Option<String>> {
        let Candidate { wasm, settings, path, stamp, .. } = candidate;
        match LoadedPlugin::load(&self.engine, name, wasm, settings).await {
            Ok(plugin) => Ok(plugin),
            Err(_) if Stamp::of(&path) != stamp => Err(None),
            Err(error) => Err(Some(error.to_string())),
        }
    }
}

/// A plugin file as read, before it is loaded.
struct Candidate {
    hash: ContentHash,
    wasm: Vec<u8>,
    settings: PluginSettings,
    path: PathBuf,
    stamp: Stamp,
}

/// A file's size and modification time: tells a file still being written from a broken one.
#[derive(PartialEq, Eq)]
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
    match std::fs::read_to_string(&sidecar) {
        Ok(text) => config.settings_with_sidecar(name, &sidecar, &text).map_err(|error| error.to_string()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(config.settings_for(name)),
        Err(error) => Err(format!("cannot read {}: {error}", sidecar.display())),
    }
}

/// Watches the directory and rescans after each burst of changes to a `.wasm` or
/// `.yaml` file. Runs until the process ends.
pub fn watch(directory: Arc<PluginDirectory>) -> notify::Result<()> {
    use notify::Watcher;
    let (changed, mut changes) = tokio::sync::mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = event.is_ok_and(|event| {
            event.paths.iter().any(|path| path.extension().is_some_and(|ext| ext == "wasm" || ext == "yaml"))
        });
        if relevant {
            // Full means a rescan is already due: nothing is lost.
            let _ = changed.try_send(());
        }
    })?;
    watcher.watch(directory.dir(), notify::RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        let _watcher = watcher;
        while changes.recv().await.is_some() {
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, changes.recv()).await {}
            if let Err(error) = directory.rescan().await {
                tracing::error!(%error, "plugin directory rescan failed");
            }
        }
    });
    Ok(())
}
