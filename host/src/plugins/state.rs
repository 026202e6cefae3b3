//! The data each plugin instance's store carries, and the host side of the WIT imports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::fault::MemoryLimitExceeded;
use crate::capabilities::kv::{Kv, KvError};
use crate::capabilities::log::{self as guest_log, GuestOutput, Level, LogBudget, LogScope};
use crate::capabilities::outbound::OutboundGate;

/// Most WASI resources (streams, pollables) one instance may hold at once.
const MAX_RESOURCES: usize = 4096;

/// What one hook call may spend.
///
/// `timeout_ms` is the time the guest may *run*: counted in epoch ticks while it runs, so
/// that waiting for a CPU on a busy machine does not count against it. A call is also cut
/// off at [`CallBudget::WALL_FACTOR`] times `timeout_ms` of wall-clock time, whatever it
/// is doing (waiting for a CPU, or blocked in a host call, where ticks are not counted).
/// A plugin with an outbound grant gets the grant's network time on top of that, so a
/// call out does not eat the time its guest may run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallBudget {
    /// Epoch ticks the guest may run.
    pub run_ticks: u32,
    /// When the call is cut off whatever it is doing.
    pub hard_deadline: Instant,
    /// How long one kv call may wait for its answer: three quarters of `timeout_ms`,
    /// from when the call starts (a hook that waited for a CPU before its kv call still
    /// gives Redis a fair chance), but never past `answer_cutoff`.
    pub kv_wait: Duration,
    /// When any kv or outbound call must have answered: a quarter of `timeout_ms`
    /// before the hard deadline, which leaves the plugin time to handle the error.
    pub answer_cutoff: Instant,
}

impl CallBudget {
    /// How many times `timeout_ms` a call may last in wall-clock time.
    pub const WALL_FACTOR: u32 = 4;

    /// The budget of a call starting at `started` under `timeout`, with epoch ticks of
    /// `tick`, and `outbound` of network time (zero for a plugin without a grant).
    pub fn new(started: Instant, timeout: Duration, tick: Duration, outbound: Duration) -> Self {
        let ticks = timeout.as_nanos().div_ceil(tick.as_nanos().max(1));
        let hard_deadline = started + Self::wall(timeout, outbound);
        Self {
            run_ticks: u32::try_from(ticks).unwrap_or(u32::MAX).max(1),
            hard_deadline,
            kv_wait: timeout - timeout / 4,
            answer_cutoff: hard_deadline - timeout / 4,
        }
    }

    /// When a kv call starting at `now` must have answered.
    pub fn kv_deadline(&self, now: Instant) -> Instant {
        (now + self.kv_wait).min(self.answer_cutoff)
    }

    /// The wall-clock time a call may last: `timeout` times [`Self::WALL_FACTOR`], plus
    /// the grant's network time.
    pub fn wall(timeout: Duration, outbound: Duration) -> Duration {
        timeout * Self::WALL_FACTOR + outbound
    }
}

/// Store data of one plugin instance.
pub(crate) struct GuestState {
    wasi: WasiCtx,
    /// WASI's resources and the `content` resources of the running hook call.
    pub table: ResourceTable,
    /// The running hook call's `max_output_bytes`, which bounds its edits.
    pub max_output_bytes: usize,
    pub limiter: MemoryLimiter,
    /// What the running hook call may spend; checked at every epoch tick.
    pub budget: CallBudget,
    /// Epoch ticks the running hook call was seen running (not waiting for a CPU, nor
    /// blocked in a host call).
    pub ticks_running: u32,
    pub scope: LogScope,
    pub stderr: GuestOutput,
    /// What the instance may still write to the log (stdout, stderr, `log` together).
    pub log_budget: LogBudget,
    pub(super) config_json: Arc<str>,
    kv: Kv,
    http: WasiHttpCtx,
    /// Every outbound call of the instance passes it.
    pub outbound: OutboundGate,

    /// Why the last kv call of the running hook call failed for want of an answer
    /// ([`KvError::Unavailable`] or [`KvError::Late`]): a trap or failure after it is the
    /// store's outage (`kv_unavailable`) or the proxy's lateness (`deadline`), not the
    /// plugin's bug.
    pub kv_trouble: Option<KvError>,
}

impl GuestState {
    /// A locked-down WASI context: no files, no environment, no sockets, no name lookup;
    /// stdout/stderr go to the host log under the plugin's name. `hook_timeout` is the
    /// plugin's per-call budget, which bounds its kv calls (see [`CallBudget::kv_deadline`]).
    pub fn new(
        scope: LogScope,
        memory_limit: usize,
        config_json: Arc<str>,
        kv: Kv,
        hook_timeout: Duration,
        outbound: OutboundGate,
    ) -> Self {
        let log_budget = LogBudget::default();
        let stderr = GuestOutput::stderr(scope.clone(), log_budget.clone());
        let wasi = WasiCtx::builder()
            .stdout(GuestOutput::stdout(scope.clone(), log_budget.clone()))
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let mut table = ResourceTable::new();
        // Host-side resources (streams, pollables) live outside the guest's memory limit:
        // wasmtime's default of a million entries would let a guest hold far more host
        // memory than its memory_mb. A hook needs a handful.
        table.set_max_capacity(MAX_RESOURCES);
        Self {
            wasi,
            table,
            max_output_bytes: usize::MAX,
            limiter: MemoryLimiter::new(memory_limit),
            budget: CallBudget::new(Instant::now(), hook_timeout, Duration::from_millis(1), Duration::ZERO),
            ticks_running: 0,
            scope,
            stderr,
            log_budget,
            config_json,
            kv,
            http: WasiHttpCtx::new(),
            outbound,
            kv_trouble: None,
        }
    }

    /// Arms the state for one hook call with `budget`.
    pub fn begin_call(&mut self, budget: CallBudget) {
        self.budget = budget;
        self.outbound.begin_call(budget.answer_cutoff);
        self.ticks_running = 0;
        self.kv_trouble = None;
    }

    /// When a kv call starting now must have answered: early enough for the guest to
    /// handle an error.
    fn kv_deadline(&self) -> Instant {
        self.budget.kv_deadline(Instant::now())
    }

    /// Whether the running call has spent its budget (called at every epoch tick the
    /// guest is seen running, which it counts).
    pub fn spent_at_tick(&mut self) -> bool {
        self.ticks_running += 1;
        self.ticks_running >= self.budget.run_ticks || Instant::now() >= self.budget.hard_deadline
    }

    /// Notes a kv call's failure to get an answer, which explains a trap after it.
    fn noted<T>(&mut self, result: Result<T, KvError>) -> Result<T, KvError> {
        if let Err(error @ (KvError::Unavailable(_) | KvError::Late(_))) = &result {
            self.kv_trouble = Some(error.clone());
        }
        result
    }

    /// The `log.log` import, in every contract version.
    pub fn log_line(&self, level: Level, message: &str) {
        guest_log::write_from_import(&self.scope, &self.log_budget, level, message);
    }

    /// The `config.get` import: the plugin's config as JSON text.
    pub fn config_text(&self) -> String {
        self.config_json.to_string()
    }

    /// The `kv.get` import.
    pub async fn kv_get(&mut self, key: &str) -> Result<Option<String>, KvError> {
        let result = self.kv.get(&self.scope.plugin, key, self.kv_deadline()).await;
        self.noted(result)
    }

    /// The `kv.set` import.
    pub async fn kv_set(&mut self, key: &str, value: String, ttl_ms: Option<u64>) -> Result<(), KvError> {
        let ttl = ttl_ms.map(Duration::from_millis);
        let result = self.kv.set(&self.scope.plugin, key, value, ttl, self.kv_deadline()).await;
        self.noted(result)
    }

    /// The `kv.incr` import.
    pub async fn kv_incr(&mut self, key: &str, delta: i64, ttl_ms: Option<u64>) -> Result<i64, KvError> {
        let ttl = ttl_ms.map(Duration::from_millis);
        let result = self.kv.incr(&self.scope.plugin, key, delta, ttl, self.kv_deadline()).await;
        self.noted(result)
    }

    /// The `kv.delete` import.
    pub async fn kv_delete(&mut self, key: &str) -> Result<bool, KvError> {
        let result = self.kv.delete(&self.scope.plugin, key, self.kv_deadline()).await;
        self.noted(result)
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// Caps the total size of all linear memories of one instance.
///
/// wasmtime's `StoreLimits` caps each memory separately; Python and JS components have
/// several, so the cap that matters to an operator is the sum.
pub(crate) struct MemoryLimiter {
    limit: usize,
    total: usize,
    /// Set when a growth was refused, so a guest that turns the refusal into its own trap
    /// is still classified as `memory_limit`.
    pub hit: bool,
}

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        Self { limit, total: 0, hit: false }
    }

    /// The total size of the instance's linear memories now.
    pub fn total(&self) -> usize {
        self.total
    }

    /// How much more the instance's memories may grow.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.total)
    }

    /// The error for handing the instance `more` bytes than its [`room`](Self::room).
    pub fn exceeded_by(&self, more: usize) -> MemoryLimitExceeded {
        MemoryLimitExceeded { limit: self.limit, requested: self.total.saturating_add(more) }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        let requested = self.total.saturating_add(desired.saturating_sub(current));
        if requested > self.limit {
            self.hit = true;
            return Err(wasmtime::Error::new(MemoryLimitExceeded { limit: self.limit, requested }));
        }
        self.total = requested;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_resources_and_memory_are_capped_per_instance() {
        let scope = LogScope { plugin: "p".into(), request_id: "r".into() };
        let gate = OutboundGate::new("p".into(), "r".into(), None, Default::default());
        let mut state =
            GuestState::new(scope, 1 << 20, "null".into(), Kv::in_memory(), Duration::from_millis(100), gate);
        assert_eq!(state.table.max_capacity(), MAX_RESOURCES, "not wasmtime's default of a million");
        for _ in 0..MAX_RESOURCES {
            state.table.push(()).unwrap();
        }
        assert!(state.table.push(()).is_err(), "one more is refused");
        use wasmtime::ResourceLimiter;
        assert!(state.limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(state.limiter.memory_growing(1 << 20, (1 << 20) + 1, None).is_err());
        assert!(state.limiter.hit);
    }

    #[test]
    fn a_kv_call_gets_a_fair_wait_however_late_the_hook_reaches_it_but_never_the_last_quarter() {
        let started = Instant::now();
        let ms = Duration::from_millis;
        let budget = CallBudget::new(started, ms(100), ms(1), Duration::ZERO);
        // Early in the call: three quarters of timeout_ms from the kv call's start.
        assert_eq!(budget.kv_deadline(started), started + ms(75));
        // A hook that waited 200 ms for a CPU before its kv call still gives Redis 75 ms.
        assert_eq!(budget.kv_deadline(started + ms(200)), started + ms(275));
        // Never later than a quarter of timeout_ms before the 400 ms cut-off.
        assert_eq!(budget.kv_deadline(started + ms(350)), started + ms(375));
        assert_eq!(budget.hard_deadline, started + ms(400));
    }
}
