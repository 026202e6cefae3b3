//! The one wasmtime engine of the process: its sandbox configuration, the epoch ticker,
//! the linker with the host imports, the instance-slot semaphore and the artifact cache.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
/// Several plugins in one component (a `Bundle`) dirty more: LiteLLM's five bench
/// callbacks built as one served 185–218 req/s at 2 MiB and 648–729 at 3–4 MiB
/// (BENCHMARKS.md, "LiteLLM's callbacks in one component"). Every slot ever used keeps up
/// to this much, and resetting pages the next instance would not have touched costs a
/// little (a JavaScript bundle 2–9% slower at 4 MiB than at 2), so the default is the
/// smallest that served those at full speed, with a margin; an operator whose plugins
/// have larger heaps raises it.
pub const DEFAULT_KEEP_RESIDENT_BYTES: usize = 4 << 20;

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
    ticker: EpochTicker,
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
        Ok(Self { inner: Arc::new(EngineInner { engine, linker, slots, overloads, cache, kv, options, ticker }) })
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

    /// Marks a guest call (or instantiation) in flight until the guard drops: the epoch
    /// ticker, which interrupts and times running guests, ticks while any is.
    pub(crate) fn ticking(&self) -> Ticking {
        self.inner.ticker.ticking()
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

/// What the pool holds per instance slot, on average: the totals are shared by all
/// slots, so a component past one of these can find it gone while slots are free (that
/// is overload, [`super::Overloaded::from_pool`]). Our SDKs' components stay within them:
/// a Python component has 14 core modules, one memory and two tables, a Rust or JS one
/// fewer modules. Each memory is a reservation of address space, so these stay small.
pub(crate) const CORE_INSTANCES_PER_SLOT: u32 = 16;
/// See [`CORE_INSTANCES_PER_SLOT`].
pub(crate) const MEMORIES_PER_SLOT: u32 = 2;
/// See [`CORE_INSTANCES_PER_SLOT`].
pub(crate) const TABLES_PER_SLOT: u32 = 4;

fn wasmtime_config(options: &EngineOptions) -> Config {
    let instances = options.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_SLOT))
        .total_memories(instances.saturating_mul(MEMORIES_PER_SLOT))
        .total_tables(instances.saturating_mul(TABLES_PER_SLOT))
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

/// How many ticks in a row with no guest call in flight before the ticker parks.
///
/// A tick is a wake-up of its own thread (about 25 µs of CPU on this project's 2-core VM,
/// and a preempted serving thread when both cores are busy): ticking through idle
/// moments cost an idle proxy about 2% of a core, and a proxy without plugins as much. Ten
/// ticks bound the wake-ups a call pays to unpark it to one per ten ticks of quiet.
const IDLE_TICKS_BEFORE_PARKING: u32 = 10;

/// Advances the engine's epoch every tick on a background thread, while guest code may
/// be running: it parks once no call has been in flight for
/// [`IDLE_TICKS_BEFORE_PARKING`] ticks, and the next call to start wakes it.
///
/// Epochs only matter to a store running guest code (its deadline is set relative to the
/// current epoch when a call starts, and checked as the guest runs), so an epoch that
/// stands still while nothing runs changes no deadline.
struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: std::thread::Thread,
}

#[derive(Default)]
struct TickerShared {
    /// Guest calls (instantiation included) in flight.
    calls: AtomicUsize,
    stop: AtomicBool,
    /// Ticks so far, for the tests that watch the ticker park and wake.
    #[cfg(test)]
    ticks: AtomicU64,
}

/// A guest call in flight: the ticker ticks until the last one ends.
#[must_use = "the ticker may park as soon as this is dropped"]
pub(crate) struct Ticking(Arc<TickerShared>);

impl Drop for Ticking {
    fn drop(&mut self) {
        self.0.calls.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EpochTicker {
    fn start(engine: &Engine, tick: Duration) -> Self {
        let shared = Arc::new(TickerShared::default());
        let weak = engine.weak();
        let ticker = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("hookgate-epoch".into())
            .spawn(move || {
                let mut idle = 0;
                while !ticker.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                    #[cfg(test)]
                    ticker.ticks.fetch_add(1, Ordering::Relaxed);
                    idle = if ticker.calls.load(Ordering::SeqCst) == 0 { idle + 1 } else { 0 };
                    if idle >= IDLE_TICKS_BEFORE_PARKING {
                        // A call that starts after this load unparks the thread (see
                        // `ticking`); one that started before it is seen here.
                        while ticker.calls.load(Ordering::SeqCst) == 0 && !ticker.stop.load(Ordering::Relaxed) {
                            std::thread::park();
                        }
                        idle = 0;
                    }
                }
            })
            .expect("spawning the epoch ticker thread");
        Self { shared, thread: handle.thread().clone() }
    }

    /// Marks a guest call in flight until the guard drops, waking the ticker if it parked.
    fn ticking(&self) -> Ticking {
        if self.shared.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            // Only an atomic swap unless the thread is parked (std's `unpark`).
            self.thread.unpark();
        }
        Ticking(Arc::clone(&self.shared))
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.thread.unpark();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{EpochTicker, GuestProfiler, Ordering};

    /// The ticker's count once it has stood still for 200 ms (checked for at most 10 s).
    fn settled(ticker: &EpochTicker) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let before = ticker.shared.ticks.load(Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(200));
            let after = ticker.shared.ticks.load(Ordering::Relaxed);
            if before == after {
                return after;
            }
            assert!(Instant::now() < deadline, "the ticker never parked with no call in flight");
        }
    }

    #[test]
    fn the_ticker_parks_with_no_call_in_flight_and_ticks_while_one_is() {
        let engine = wasmtime::Engine::new(wasmtime::Config::new().epoch_interruption(true)).unwrap();
        let ticker = EpochTicker::start(&engine, Duration::from_millis(1));
        let parked_at = settled(&ticker);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(ticker.shared.ticks.load(Ordering::Relaxed), parked_at, "a parked ticker ticked");
        // A call in flight wakes it, and it keeps ticking for as long as the call lasts.
        let call = ticker.ticking();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ticker.shared.ticks.load(Ordering::Relaxed) < parked_at + 3 * super::IDLE_TICKS_BEFORE_PARKING as u64 {
            assert!(Instant::now() < deadline, "a call in flight did not keep the ticker ticking");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(call);
        let parked_again = settled(&ticker);
        assert!(parked_again > parked_at);
    }

    /// A component with more memories than the pool holds per slot runs the shared
    /// total out while slots are free: that error is overload, never the plugin's fault.
    #[tokio::test]
    async fn running_out_of_the_pools_totals_is_overload() {
        let options = super::EngineOptions { max_instances: 2, ..super::EngineOptions::default() };
        let engine = wasmtime::Engine::new(&super::wasmtime_config(&options)).unwrap();
        let memories = "(core instance (instantiate $m))".repeat(super::MEMORIES_PER_SLOT as usize + 1);
        let wat = format!("(component (core module $m (memory 1)) {memories})");
        let component = wasmtime::component::Component::new(&engine, wat).unwrap();
        let linker = wasmtime::component::Linker::<()>::new(&engine);
        let mut first = wasmtime::Store::new(&engine, ());
        linker.instantiate_async(&mut first, &component).await.unwrap();
        let mut second = wasmtime::Store::new(&engine, ());
        let error = linker.instantiate_async(&mut second, &component).await.unwrap_err();
        let overloaded = crate::plugins::Overloaded::from_pool(&error, "many-memories", Duration::ZERO)
            .unwrap_or_else(|| panic!("not recognised as the pool running out: {error:#}"));
        assert!(overloaded.to_string().contains("memories"), "{overloaded}");
        let other = wasmtime::Error::msg("a start function trapped");
        assert_eq!(crate::plugins::Overloaded::from_pool(&other, "p", Duration::ZERO), None);
    }

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
