//! The one wasmtime engine of the process: its sandbox configuration, the epoch ticker,
//! the linker with the host imports, the instance-slot semaphore and the artifact cache.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::cache::{ArtifactCache, CacheOutcome, DEFAULT_CACHE_MAX_BYTES};
use super::contract;
use super::slots::InstanceSlots;
use super::state::GuestState;
use crate::capabilities::kv::Kv;
use crate::metrics::OutboundMeters;
use crate::types::ContentHash;

/// Engine-wide settings; per-plugin limits live in [`super::PluginSettings`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How many plugin instances may be alive at once (one per plugin per in-flight
    /// request). Past it, new instances wait for a free slot, up to `instance_wait`.
    pub max_instances: u32,
    /// How long a hook call waits for a free instance slot before it gives up as
    /// overloaded (a 503 for the client; never counted against the plugin).
    pub instance_wait: Duration,
    /// The largest memory cap any plugin may be given, in MiB: sizes the pool's slots.
    pub max_memory_mb: u64,
    /// How often the epoch advances: the granularity of deadlines and of yielding to tokio.
    pub epoch_tick: Duration,
    /// Where compiled components are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Most bytes of artifacts `cache_dir` keeps; the least recently used go first.
    pub cache_max_bytes: u64,
    /// Per memory, how many bytes of the pages an instance dirtied are reset in place
    /// (and stay mapped) when its slot is recycled; the rest is returned to the kernel.
    /// Higher is faster for the next request and costs resident memory per warm slot;
    /// 0 returns everything (the slowest, leanest setting).
    pub keep_resident_bytes: usize,
    /// Where plugins' outbound calls are counted (the server's `/metrics`).
    pub outbound_meters: OutboundMeters,
    /// Which profiler learns the names of the guests' compiled functions, so that `perf`
    /// shows plugin code by function rather than as one anonymous JIT region.
    pub profiler: GuestProfiler,
}

/// How guests' compiled code is made visible to a native profiler.
///
/// Set with `HOOKGATE_WASM_PROFILER` (`perfmap` or `jitdump`; README, "Benchmarks"): a
/// diagnostic, off by default, since each writes a file per proxy process and keeps
/// adding to it for every plugin loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GuestProfiler {
    /// Guest code shows as `[JIT]` addresses.
    #[default]
    None,
    /// `/tmp/perf-<pid>.map`, read by `perf report` as is.
    PerfMap,
    /// `jit-<pid>.dump`, for `perf inject --jit` (keeps code bytes: annotated disassembly).
    JitDump,
}

impl GuestProfiler {
    /// The variable that selects the profiler.
    pub const ENV: &'static str = "HOOKGATE_WASM_PROFILER";

    /// The profiler `HOOKGATE_WASM_PROFILER` names; unset or empty is none.
    pub fn from_env() -> Result<Self, String> {
        Self::parse(&std::env::var(Self::ENV).unwrap_or_default())
    }

    /// The profiler `value` names (`perfmap`, `jitdump`, `none` or empty).
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "" | "none" => Ok(Self::None),
            "perfmap" => Ok(Self::PerfMap),
            "jitdump" => Ok(Self::JitDump),
            other => Err(format!("{}={other:?}: expected perfmap, jitdump or none", Self::ENV)),
        }
    }

    fn strategy(self) -> wasmtime::ProfilingStrategy {
        match self {
            Self::None => wasmtime::ProfilingStrategy::None,
            Self::PerfMap => wasmtime::ProfilingStrategy::PerfMap,
            Self::JitDump => wasmtime::ProfilingStrategy::JitDump,
        }
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            max_instances: 1000,
            instance_wait: Duration::from_secs(1),
            max_memory_mb: 1024,
            epoch_tick: Duration::from_millis(1),
            cache_dir: None,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            keep_resident_bytes: DEFAULT_KEEP_RESIDENT_BYTES,
            outbound_meters: OutboundMeters::default(),
            profiler: GuestProfiler::None,
        }
    }
}

/// How much of what an instance dirtied its slot keeps, reset in place, by default.
///
/// A Rust guest dirties tens of KiB per request; a Python or JavaScript interpreter's
/// heap about 1–2 MiB in hundreds of scattered runs. Below that, the rest is decommitted
/// on every reset and re-faulted by the next instance, each copy-on-write fault with a
/// TLB-shootdown IPI: 1 MiB served 5 Python plugins at ~95 req/s, 2–64 MiB at ~268
/// (BENCHMARKS.md, "Fresh interpreters: resetting a pool slot"), and more bought nothing.
/// Every slot ever used keeps up to this much, so the default is the smallest that served
/// interpreters at full speed; an operator whose plugins have larger heaps raises it.
pub const DEFAULT_KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Why the engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// wasmtime refused the configuration (e.g. not enough address space for the pool).
    #[error("could not create the WebAssembly engine: {0}")]
    Engine(String),
    /// The compiled-artifact cache directory is unusable.
    #[error("could not use the compiled-artifact cache at {dir}: {source}")]
    Cache {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// A handle to the process's plugin engine; cheap to clone.
#[derive(Clone)]
pub struct PluginEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    engine: Engine,
    linker: Linker<GuestState>,
    slots: InstanceSlots,
    /// Hook calls that gave up waiting for a slot.
    overloads: AtomicU64,
    cache: Option<ArtifactCache>,
    kv: Kv,
    options: EngineOptions,
    _ticker: EpochTicker,
}

impl PluginEngine {
    /// Builds the engine: pooling allocator, fuel, epoch interruption, component model.
    pub fn new(options: EngineOptions, kv: Kv) -> Result<Self, EngineError> {
        let engine = Engine::new(&wasmtime_config(&options)).map_err(|e| EngineError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| EngineError::Engine(format!("{e:#}")))?;
        // Every plugin may import wasi:http; its instance's gate refuses all calls unless
        // the operator granted the plugin destinations.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| EngineError::Engine(format!("{e:#}")))?;
        contract::add_to_linker(&mut linker).map_err(|e| EngineError::Engine(format!("{e:#}")))?;
        let cache = options
            .cache_dir
            .as_ref()
            .map(|dir| {
                ArtifactCache::new(dir, options.cache_max_bytes)
                    .map_err(|source| EngineError::Cache { dir: dir.clone(), source })
            })
            .transpose()?;
        let ticker = EpochTicker::start(&engine, options.epoch_tick);
        let slots = InstanceSlots::new(options.max_instances as usize);
        let overloads = AtomicU64::new(0);
        Ok(Self {
            inner: Arc::new(EngineInner { engine, linker, slots, overloads, cache, kv, options, _ticker: ticker }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The engine's settings.
    pub fn options(&self) -> &EngineOptions {
        &self.inner.options
    }

    /// How many more plugin instances can be alive right now: `max_instances` minus the
    /// instances of in-flight requests. Back at the maximum when the proxy is idle.
    pub fn free_slots(&self) -> usize {
        self.inner.slots.available()
    }

    /// Plugin instances alive now (pool slots taken), idle warm ones included.
    pub fn live_instances(&self) -> usize {
        (self.inner.options.max_instances as usize).saturating_sub(self.free_slots())
    }

    /// Hook calls so far that found no free instance slot within `instance_wait`.
    pub fn overloads(&self) -> u64 {
        self.inner.overloads.load(Ordering::Relaxed)
    }

    pub(crate) fn count_overload(&self) {
        self.inner.overloads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn linker(&self) -> &Linker<GuestState> {
        &self.inner.linker
    }

    pub(crate) fn slots(&self) -> &InstanceSlots {
        &self.inner.slots
    }

    /// The kv store behind the guests' `kv` import (keys are `<plugin>:<key>`).
    pub fn kv(&self) -> &Kv {
        &self.inner.kv
    }

    /// Compiles a component, through the artifact cache when one is configured.
    ///
    /// CPU-heavy (seconds for Python and JS guests): call it off the async runtime.
    pub fn compile(&self, wasm: &[u8], hash: &ContentHash) -> wasmtime::Result<(Component, CacheOutcome)> {
        match &self.inner.cache {
            Some(cache) => cache.load_or_compile(&self.inner.engine, wasm, hash),
            None => Ok((Component::new(&self.inner.engine, wasm)?, CacheOutcome::Disabled)),
        }
    }
}

fn wasmtime_config(options: &EngineOptions) -> Config {
    let instances = options.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        // Interpreted guests (Python, JS) carry several core modules, memories and tables
        // per component; a small Rust component has a handful of core instances.
        .total_core_instances(instances.saturating_mul(16))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(4))
        .total_stacks(instances)
        .total_gc_heaps(instances)
        .max_core_instances_per_component(200)
        .max_memories_per_component(32)
        .max_tables_per_component(32)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        .table_elements(100_000)
        .max_memory_size(usize::try_from(options.max_memory_mb << 20).unwrap_or(usize::MAX))
        // Resetting a slot for its next instance dominated the cost of a fresh instance:
        // `madvise` (with TLB-shootdown IPIs to the other cores) and then page faults to
        // bring the same pages back. PAGEMAP_SCAN (Linux >= 6.7; ignored elsewhere) finds
        // the pages the instance dirtied, wherever they are (a Rust guest's stack sits at
        // the top of its first MiB), and resets up to `keep_resident` of them with memset,
        // so they stay mapped for the next request.
        .pagemap_scan(wasmtime::Enabled::Auto)
        // Each slot an instance ever used keeps up to `keep_resident` of its pages, so the
        // pool's resident memory grows with the set of slots used: it stays near the peak
        // number of live instances plus this many (wasmtime's default is 100).
        .max_unused_warm_slots(MAX_UNUSED_WARM_SLOTS)
        .linear_memory_keep_resident(options.keep_resident_bytes)
        .table_keep_resident(options.keep_resident_bytes.min(64 << 10));
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        // Hooks are plain WIT functions called with `call_async`; the component-model
        // async machinery would only add per-store state, and a leftover fiber that every
        // store drop resumes to unwind (with a std backtrace when RUST_BACKTRACE is set).
        .concurrency_support(false)
        .consume_fuel(true)
        .epoch_interruption(true)
        .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable)
        .profiler(options.profiler.strategy())
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// How many idle instance slots the pool keeps warm beyond those in use (see
/// `wasmtime_config`).
const MAX_UNUSED_WARM_SLOTS: u32 = 16;

/// The slice of fuel a running guest gets at a time.
///
/// Compiled code keeps its fuel count in a register and writes it back to the store only
/// at calls, returns and when its slice of fuel runs out; an epoch interrupt in a loop
/// without calls would leave the store's count stale (a 100 ms spin read as a few
/// thousand fuel). Handing fuel out in slices of this size makes a cut-off call's count
/// right to within one slice. Ordinary hook calls burn far less than a slice, so they
/// never pause for it.
pub const FUEL_SLICE: u64 = 1_000_000;

/// Advances the engine's epoch every tick on a background thread.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: &Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let stopped = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("hookgate-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .expect("spawning the epoch ticker thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::GuestProfiler;

    #[test]
    fn the_profiler_variable_names_one_of_three_profilers_and_refuses_anything_else() {
        assert_eq!(GuestProfiler::parse(""), Ok(GuestProfiler::None));
        assert_eq!(GuestProfiler::parse("none"), Ok(GuestProfiler::None));
        assert_eq!(GuestProfiler::parse("perfmap"), Ok(GuestProfiler::PerfMap));
        assert_eq!(GuestProfiler::parse("jitdump"), Ok(GuestProfiler::JitDump));
        let error = GuestProfiler::parse("PerfMap").unwrap_err();
        assert!(error.contains("HOOKGATE_WASM_PROFILER=\"PerfMap\"") && error.contains("expected perfmap"), "{error}");
    }
}
