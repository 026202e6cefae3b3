//! Loading a plugin version: compile (through the cache), link against a contract, then
//! `describe` and `init` in a throwaway instance under the plugin's limits.

use std::sync::Arc;
use std::time::Instant;

use super::contract::{GuestPre, Reply};
use super::engine::PluginEngine;
use super::fault::Fault;
use super::instance::PluginInstance;
use super::loaded::{valid_name, LoadedPlugin, PluginInfo};
use super::settings::PluginSettings;
use crate::types::{ContentHash, HookSet};

/// Why a plugin could not be loaded. The old version, if any, keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The name cannot be used (it namespaces kv keys and appears in headers).
    #[error("plugin name {0:?} is invalid: use 1-64 characters from A-Z a-z 0-9 . _ -")]
    InvalidName(String),
    /// The bytes are not a valid WebAssembly component.
    #[error("plugin `{plugin}` is not a valid WebAssembly component: {detail}")]
    Compile {
        /// The plugin.
        plugin: String,
        /// wasmtime's explanation.
        detail: String,
    },
    /// The component fits no `hookgate:plugin` contract (wrong imports or exports).
    #[error("plugin `{plugin}` does not fit the hookgate:plugin contract: {detail}")]
    Link {
        /// The plugin.
        plugin: String,
        /// wasmtime's explanation.
        detail: String,
    },
    /// `describe` or `init` faulted.
    #[error("plugin `{}` faulted while loading: {fault}", fault.plugin)]
    Fault {
        /// The classified fault.
        #[from]
        fault: Fault,
    },
    /// No instance slot came free to run `describe` and `init`.
    #[error("plugin could not be loaded now: {0}")]
    Overloaded(#[from] super::outcome::Overloaded),
    /// `describe` returned something unusable.
    #[error("plugin `{plugin}` described itself wrongly: {detail}")]
    BadDescription {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        detail: String,
    },
    /// `init` refused the plugin's config.
    #[error("plugin `{plugin}` refused its config: {message}")]
    InitRefused {
        /// The plugin.
        plugin: String,
        /// The guest's message.
        message: String,
    },
}

impl LoadedPlugin {
    /// Compiles (through the cache), links and validates `wasm`, then calls `describe` and
    /// `init(config)` in a throwaway instance under the plugin's limits.
    ///
    /// `name` is the plugin's registered name (its file stem); it namespaces its kv keys.
    pub async fn load(
        engine: &PluginEngine,
        name: &str,
        wasm: Vec<u8>,
        settings: PluginSettings,
    ) -> Result<Arc<Self>, LoadError> {
        if !valid_name(name) {
            return Err(LoadError::InvalidName(name.to_owned()));
        }
        let hash = ContentHash::of(&wasm);
        let size_bytes = wasm.len();
        let started = Instant::now();
        let compiler = engine.clone();
        let compiled = tokio::task::spawn_blocking(move || compiler.compile(&wasm, &hash))
            .await
            .map_err(|e| LoadError::Compile { plugin: name.to_owned(), detail: e.to_string() })?;
        let (component, cache) =
            compiled.map_err(|e| LoadError::Compile { plugin: name.to_owned(), detail: format!("{e:#}") })?;
        let compile_time = started.elapsed();
        warn_past_the_pools_share(name, &component);
        let pre = GuestPre::new(engine.linker(), &component)
            .map_err(|e| LoadError::Link { plugin: name.to_owned(), detail: e.to_string() })?;
        let config_json: Arc<str> = settings.config.to_string().into();
        let version = pre.version();
        let wit_version = wit_version(engine, &component);
        let mut plugin = Arc::new(LoadedPlugin {
            name: name.to_owned(),
            info: PluginInfo { name: String::new(), version: String::new(), hooks: HookSet::default() },
            settings,
            config_json,
            pre,
            engine: engine.clone(),
            warm: engine.slots().warm_pool(),
            hash,
            size_bytes,
            compile_time,
            cache,
            version,
            wit_version,
        });
        let info = describe_and_init(&plugin).await?;
        tracing::info!(
            plugin = name,
            version = %info.version,
            hooks = ?info.hooks,
            hash = %hash,
            cache = ?cache,
            compile_ms = compile_time.as_millis() as u64,
            "plugin loaded"
        );
        Arc::get_mut(&mut plugin).expect("the load-time instance is dropped").info = info;
        Ok(plugin)
    }
}

/// Calls `describe` and `init` in a throwaway instance (dropped before this returns).
async fn describe_and_init(plugin: &Arc<LoadedPlugin>) -> Result<PluginInfo, LoadError> {
    let mut instance = PluginInstance::throwaway(Arc::clone(plugin), "load".into());
    let Reply::Describe { name, version, hooks: described } = instance.describe().await? else {
        unreachable!("describe returns a description")
    };
    let hooks = plugin.pre.exported_hooks().or(described).unwrap_or_default();
    let info = PluginInfo { name, version, hooks };
    if info.name.trim().is_empty() {
        return Err(LoadError::BadDescription { plugin: plugin.name.clone(), detail: "empty name".into() });
    }
    instance.init(&plugin.config_json).await?.map_err(|message| LoadError::InitRefused {
        plugin: plugin.name.clone(),
        message: crate::text::truncate(&message, MAX_INIT_MESSAGE_BYTES).to_owned(),
    })?;
    drop(instance);
    // Each team's or key's config is checked as the plugin's own is, each in an instance
    // of its own (as requests will run it), so a typo there stops the load, not a request.
    for (source, config) in plugin.settings.config_overrides.iter() {
        let text: Arc<str> = config.to_string().into();
        let mut instance =
            PluginInstance::throwaway(Arc::clone(plugin), "load".into()).with_config(Some(Arc::clone(&text)));
        instance.init(&text).await?.map_err(|message| LoadError::InitRefused {
            plugin: plugin.name.clone(),
            message: format!("{source}: {}", crate::text::truncate(&message, MAX_INIT_MESSAGE_BYTES)),
        })?;
    }
    Ok(info)
}

/// How much of an `init` refusal's message is kept (it is logged and shown in `/plugins`).
const MAX_INIT_MESSAGE_BYTES: usize = 2048;

impl From<super::outcome::HookError> for LoadError {
    fn from(error: super::outcome::HookError) -> Self {
        match error {
            super::outcome::HookError::Fault(fault) => LoadError::Fault { fault: *fault },
            super::outcome::HookError::Overloaded(overloaded) => LoadError::Overloaded(overloaded),
            super::outcome::HookError::Rejected(_) => unreachable!("describe and init cannot reject"),
        }
    }
}

/// Says so when a component needs more memories or tables than the pool holds per slot:
/// it loads and runs, but under load its instances can find the pool's totals gone while
/// slots are free, and those calls are refused as overload.
fn warn_past_the_pools_share(name: &str, component: &wasmtime::component::Component) {
    use super::engine::{MEMORIES_PER_SLOT, TABLES_PER_SLOT};
    let Some(needs) = component.resources_required() else { return };
    if needs.num_memories > MEMORIES_PER_SLOT || needs.num_tables > TABLES_PER_SLOT {
        tracing::warn!(
            plugin = name,
            memories = needs.num_memories,
            tables = needs.num_tables,
            "the component needs more memories or tables than the instance pool holds per slot \
             ({MEMORIES_PER_SLOT} and {TABLES_PER_SLOT}): under load its calls may be refused as overload"
        );
    }
}

fn wit_version(engine: &PluginEngine, component: &wasmtime::component::Component) -> Option<String> {
    let ty = component.component_type();
    let version = |name: &str| name.strip_prefix("hookgate:plugin/")?.split_once('@').map(|(_, v)| v.to_owned());
    let exported = ty.exports(engine.engine()).find_map(|(name, _)| version(name));
    exported.or_else(|| ty.imports(engine.engine()).find_map(|(name, _)| version(name)))
}
