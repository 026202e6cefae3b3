//! Prometheus metrics for `GET /metrics`, kept with `prometheus-client` (the Prometheus
//! project's Rust client) and written in the OpenMetrics text format.
//!
//! One [`Metrics`] is built per server and shared by reference: no global registry.
//! Counters and histograms are updated where things happen (requests in the server,
//! upstream calls in the pipeline, hook calls through each plugin's [`PluginMeters`],
//! loads in the plugin directory). Values that are state rather than events (the logging
//! queue's depth, plugins per state) are read when scraped: see [`Snapshot`].
//!
//! Labels are bounded: `model` is a configured model name (anything else is `unknown`),
//! `plugin` a plugin name (at most `max_plugins`), `hook` and `kind` fixed sets.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::plugins::{FaultCause, FaultKind};
use crate::types::{Hook, HookSet};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Bucket bounds for time spent in the proxy or a hook, in seconds: 10 µs to 5 s.
const FAST_BUCKETS: [f64; 18] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];
/// Bucket bounds for upstream calls, in seconds: 5 ms to 10 minutes (LiteLLM's default timeout).
const UPSTREAM_BUCKETS: [f64; 16] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

fn fast_histogram() -> Histogram {
    Histogram::new(FAST_BUCKETS)
}

fn upstream_histogram() -> Histogram {
    Histogram::new(UPSTREAM_BUCKETS)
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    model: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    plugin: String,
    hook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    plugin: String,
    hook: &'static str,
    kind: &'static str,
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoadLabels {
    plugin: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboundLabels {
    plugin: String,
    destination: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabels {
    plugin: String,
    destination: String,
}

/// The meters of plugins' outbound calls: handed to the plugin engine, which counts
/// every call a guest makes. `Default` meters count into families no registry shows
/// (engines built outside a server, in tools and tests).
#[derive(Clone, Debug)]
pub struct OutboundMeters {
    calls: Family<OutboundLabels, Counter>,
    duration: HistogramFamily<DestinationLabels>,
}

impl Default for OutboundMeters {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            duration: HistogramFamily::new_with_constructor(upstream_histogram as fn() -> Histogram),
        }
    }
}

impl OutboundMeters {
    /// Counts one call, refused or made. `destination` is the allowed origin called, or
    /// `refused` when the call never left (a guest-chosen host would be an unbounded label).
    pub fn call(&self, plugin: &str, destination: &str, result: &'static str, elapsed: Option<Duration>) {
        let (plugin, destination) = (plugin.to_owned(), destination.to_owned());
        if let Some(elapsed) = elapsed {
            let labels = DestinationLabels { plugin: plugin.clone(), destination: destination.clone() };
            self.duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
        }
        self.calls.get_or_create(&OutboundLabels { plugin, destination, result }).inc();
    }
}

/// How a plugin load ended, as the `result` label of `hookgate_plugin_loads_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadResult {
    /// A new or changed plugin was compiled, initialised and swapped in.
    Loaded,
    /// It could not be loaded (compile, validation or `init` error); an older version may still serve.
    Failed,
    /// It was not registered: a duplicate, or over `max_plugins`.
    Refused,
}

impl LoadResult {
    fn name(self) -> &'static str {
        match self {
            LoadResult::Loaded => "loaded",
            LoadResult::Failed => "failed",
            LoadResult::Refused => "refused",
        }
    }
}

/// Every metric the proxy keeps, registered once.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    overhead: HistogramFamily<RouteLabels>,
    upstream: HistogramFamily<ModelLabels>,
    hook_duration: HistogramFamily<HookLabels>,
    hook_fuel: Family<HookLabels, Counter>,
    hook_rejections: Family<HookLabels, Counter>,
    hook_faults: Family<FaultLabels, Counter>,
    quarantines: Family<PluginLabels, Counter>,
    loads: Family<LoadLabels, Counter>,
    outbound: OutboundMeters,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, all named `hookgate_*`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hookgate");
        let requests = Family::default();
        registry.register(
            "requests",
            "Requests to the OpenAI-compatible routes, by route, model and status",
            requests.clone(),
        );
        let overhead = HistogramFamily::new_with_constructor(fast_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "proxy_overhead",
            "Time a request spent in the proxy outside the upstream call (auth, checks, hooks), by route",
            Unit::Seconds,
            overhead.clone(),
        );
        let upstream = HistogramFamily::new_with_constructor(upstream_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "upstream_latency",
            "Time of an upstream call (to the response head when streaming), by model",
            Unit::Seconds,
            upstream.clone(),
        );
        let hook_duration = HistogramFamily::new_with_constructor(fast_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "plugin_hook_duration",
            "Time of one hook call, instantiation included, by plugin and hook",
            Unit::Seconds,
            hook_duration.clone(),
        );
        let hook_fuel = Family::default();
        // Fuel is its own unit, already in the name.
        registry.register(
            "plugin_fuel_consumed",
            "Fuel (wasmtime's deterministic CPU budget) burned by hook calls, by plugin and hook",
            hook_fuel.clone(),
        );
        let hook_rejections = Family::default();
        registry.register(
            "plugin_rejections",
            "Hook calls that rejected the request, by plugin and hook",
            hook_rejections.clone(),
        );
        let hook_faults = Family::default();
        registry.register(
            "plugin_faults",
            "Hook calls that faulted (trap, out of fuel, deadline, ...), by plugin, hook, kind and cause \
             (plugin: counts towards quarantine; input: the request or response caused it; load: a busy machine; \
             outside: kv store)",
            hook_faults.clone(),
        );
        let quarantines = Family::default();
        registry.register(
            "plugin_quarantines",
            "Times a plugin was quarantined after repeated faults",
            quarantines.clone(),
        );
        let loads = Family::default();
        registry.register(
            "plugin_loads",
            "Plugin loads from the plugin directory, by plugin and result (loaded, failed, refused)",
            loads.clone(),
        );
        let outbound = OutboundMeters::default();
        registry.register(
            "plugin_outbound_calls",
            "Outbound HTTP calls by plugins, by plugin, destination (an allowed origin, or `refused`) and result \
             (2xx..5xx, refused_no_grant, refused_destination, refused_address, refused_limit, refused_secret, \
             timeout, too_large, error)",
            outbound.calls.clone(),
        );
        registry.register_with_unit(
            "plugin_outbound_duration",
            "Time of plugins' outbound HTTP calls that reached their destination, by plugin and destination",
            Unit::Seconds,
            outbound.duration.clone(),
        );
        Self {
            registry,
            requests,
            overhead,
            upstream,
            hook_duration,
            hook_fuel,
            hook_rejections,
            hook_faults,
            quarantines,
            loads,
            outbound,
        }
    }

    /// The meters of plugins' outbound calls, for the plugin engine.
    pub fn outbound(&self) -> OutboundMeters {
        self.outbound.clone()
    }

    /// Counts one answered request. `model` is already bounded (see [`Metrics`]).
    pub fn request(&self, route: &'static str, model: &str, status: u16, overhead: Duration) {
        self.requests.get_or_create(&RequestLabels { route, model: model.to_owned(), status }).inc();
        self.overhead.get_or_create(&RouteLabels { route }).observe(overhead.as_secs_f64());
    }

    /// Records one upstream call's time.
    pub fn upstream_call(&self, model: &str, elapsed: Duration) {
        self.upstream.get_or_create(&ModelLabels { model: model.to_owned() }).observe(elapsed.as_secs_f64());
    }

    /// Counts one plugin load attempt.
    pub fn plugin_load(&self, plugin: &str, result: LoadResult) {
        self.loads.get_or_create(&LoadLabels { plugin: plugin.to_owned(), result: result.name() }).inc();
    }

    /// The meters of plugin `name` for the hooks it implements, resolved once so that a
    /// hook call updates them without a label lookup. A new version of a plugin gets the
    /// same series: counts continue across a hot swap.
    pub fn plugin(self: &Arc<Self>, name: &str, hooks: HookSet) -> PluginMeters {
        let per_hook = Hook::ALL.map(|hook| {
            hooks.contains(hook).then(|| {
                let labels = HookLabels { plugin: name.to_owned(), hook: hook.name() };
                HookMeters {
                    duration: self.hook_duration.get_or_create_owned(&labels),
                    fuel: self.hook_fuel.get_or_create_owned(&labels),
                    rejections: self.hook_rejections.get_or_create_owned(&labels),
                }
            })
        });
        PluginMeters {
            plugin: name.to_owned(),
            per_hook,
            quarantines: self.quarantines.get_or_create_owned(&PluginLabels { plugin: name.to_owned() }),
            metrics: Arc::clone(self),
        }
    }

    /// The exposition: every metric, then the state `read_state` reads. The state is read
    /// only once the counters are written out: whoever records an event publishes its
    /// outcome first and counts it after (a failed load is listed before it is counted,
    /// a quarantine begins before it is counted), so a scrape that shows an event's count
    /// also shows its outcome.
    pub fn render(&self, read_state: impl FnOnce() -> Snapshot) -> String {
        let mut text = String::new();
        encode_registry(&mut text, &self.registry).expect("writing to a String cannot fail");
        let snapshot = read_state();
        let mut state = Registry::with_prefix("hookgate");
        state.register(
            "logging_queue_depth",
            "Logging jobs waiting for the logging hooks",
            ConstGauge::new(snapshot.logging_queue_depth as i64),
        );
        state.register(
            "logging_dropped",
            "Requests whose logging hooks were skipped because the logging queue was full",
            ConstCounter::new(snapshot.logging_dropped),
        );
        // One family with a `state` label: a sub-registry per state would repeat the
        // family's HELP/TYPE lines, which OpenMetrics parsers reject.
        let by_state = Family::<StateLabels, Gauge>::default();
        for (name, count) in [
            ("active", snapshot.plugins_active),
            ("quarantined", snapshot.plugins_quarantined),
            ("failed", snapshot.plugins_failed),
        ] {
            by_state.get_or_create(&StateLabels { state: name }).set(count as i64);
        }
        state.register("plugins", "Plugins by state (active, quarantined, failed to load)", by_state);
        state.register(
            "plugin_instances",
            "Plugin instances alive now (each holds a slot of the pool of plugins.max_instances)",
            ConstGauge::new(snapshot.plugin_instances as i64),
        );
        state.register(
            "plugin_instance_waits_timed_out",
            "Hook calls that found no free instance slot within plugins.instance_wait_ms (answered 503)",
            ConstCounter::new(snapshot.instance_overloads),
        );
        state.register(
            "connections_open",
            "Client connections open now",
            ConstGauge::new(snapshot.connections_open as i64),
        );
        state.register(
            "connections_refused",
            "Client connections refused (answered 503 and closed) because max_connections were open",
            ConstCounter::new(snapshot.connections_refused),
        );
        if let Some(up) = snapshot.redis_up {
            state.register(
                "redis_up",
                "1 when Redis answered the plugins' last kv call, 0 during an outage",
                ConstGauge::new(i64::from(up)),
            );
        }
        encode_registry(&mut text, &state).expect("writing to a String cannot fail");
        encode_eof(&mut text).expect("writing to a String cannot fail");
        text
    }
}

/// State read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Logging jobs in the queue.
    pub logging_queue_depth: usize,
    /// Logging jobs dropped so far.
    pub logging_dropped: u64,
    /// Plugins serving requests (quarantined ones included).
    pub plugins_active: usize,
    /// Active plugins in quarantine now.
    pub plugins_quarantined: usize,
    /// Plugins whose last load failed or was refused.
    pub plugins_failed: usize,
    /// Whether Redis answered the last kv call; `None` without Redis.
    pub redis_up: Option<bool>,
    /// Plugin instances alive (pool slots taken).
    pub plugin_instances: usize,
    /// Hook calls that gave up waiting for a pool slot.
    pub instance_overloads: u64,
    /// Client connections open now.
    pub connections_open: u64,
    /// Client connections refused over `max_connections`.
    pub connections_refused: u64,
}

struct HookMeters {
    duration: Histogram,
    fuel: Counter,
    rejections: Counter,
}

/// One plugin's series, resolved at load: see [`Metrics::plugin`].
pub struct PluginMeters {
    plugin: String,
    per_hook: [Option<HookMeters>; Hook::ALL.len()],
    quarantines: Counter,
    metrics: Arc<Metrics>,
}

impl PluginMeters {
    /// Records one hook call that ran (whatever it decided).
    pub fn called(&self, hook: Hook, elapsed: Duration, fuel: u64) {
        if let Some(meters) = self.hook(hook) {
            meters.duration.observe(elapsed.as_secs_f64());
            meters.fuel.inc_by(fuel);
        }
    }

    /// Counts a rejection.
    pub fn rejected(&self, hook: Hook) {
        if let Some(meters) = self.hook(hook) {
            meters.rejections.inc();
        }
    }

    /// Counts a fault of `kind`, charged to `cause`.
    pub fn faulted(&self, hook: Hook, kind: FaultKind, cause: FaultCause) {
        let labels =
            FaultLabels { plugin: self.plugin.clone(), hook: hook.name(), kind: kind.name(), cause: cause.name() };
        self.metrics.hook_faults.get_or_create(&labels).inc();
    }

    /// Counts a quarantine.
    pub fn quarantined(&self) {
        self.quarantines.inc();
    }

    fn hook(&self, hook: Hook) -> Option<&HookMeters> {
        self.per_hook[hook as usize].as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_named_with_the_prefix_and_units() {
        let metrics = Arc::new(Metrics::new());
        metrics.request("chat/completions", "gpt-4o-mini", 200, Duration::from_micros(300));
        metrics.upstream_call("gpt-4o-mini", Duration::from_millis(20));
        let meters = metrics.plugin("probe", HookSet::from_iter([Hook::PreCall]));
        meters.called(Hook::PreCall, Duration::from_micros(40), 1234);
        meters.called(Hook::LogSuccess, Duration::from_micros(40), 99);
        meters.rejected(Hook::PreCall);
        meters.faulted(Hook::PreCall, FaultKind::OutOfFuel, FaultCause::Input);
        meters.quarantined();
        metrics.plugin_load("probe", LoadResult::Loaded);
        let text = metrics.render(|| Snapshot {
            logging_queue_depth: 3,
            logging_dropped: 2,
            plugins_active: 1,
            ..Default::default()
        });
        for line in [
            r#"hookgate_requests_total{route="chat/completions",model="gpt-4o-mini",status="200"} 1"#,
            r#"hookgate_proxy_overhead_seconds_count{route="chat/completions"} 1"#,
            r#"hookgate_upstream_latency_seconds_count{model="gpt-4o-mini"} 1"#,
            r#"hookgate_plugin_hook_duration_seconds_count{plugin="probe",hook="pre-call"} 1"#,
            r#"hookgate_plugin_fuel_consumed_total{plugin="probe",hook="pre-call"} 1234"#,
            r#"hookgate_plugin_rejections_total{plugin="probe",hook="pre-call"} 1"#,
            r#"hookgate_plugin_faults_total{plugin="probe",hook="pre-call",kind="out_of_fuel",cause="input"} 1"#,
            r#"hookgate_plugin_quarantines_total{plugin="probe"} 1"#,
            r#"hookgate_plugin_loads_total{plugin="probe",result="loaded"} 1"#,
            "hookgate_logging_queue_depth 3",
            "hookgate_logging_dropped_total 2",
            r#"hookgate_plugins{state="active"} 1"#,
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
        }
        assert!(!text.contains("log-success"), "a hook the plugin does not implement has no series");
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let unique: std::collections::HashSet<&&str> = types.iter().collect();
        assert_eq!(types.len(), unique.len(), "each family is described once:\n{text}");
    }

    /// A load listed as failed and then counted while a scrape runs: the scrape reads the
    /// state after the counters, so it never shows the count without the failure.
    #[test]
    fn a_scrape_reads_the_state_after_the_counters() {
        let metrics = Arc::new(Metrics::new());
        let text = metrics.render(|| {
            // What a rescan does between a scrape's two reads: list the load, then count it.
            metrics.plugin_load("broken", LoadResult::Failed);
            Snapshot { plugins_failed: 1, ..Default::default() }
        });
        assert!(text.contains("hookgate_plugins{state=\"failed\"} 1\n"), "{text}");
        assert!(
            !text.contains(r#"hookgate_plugin_loads_total{plugin="broken""#),
            "counted after the counters were written: {text}"
        );
        let next = metrics.render(Snapshot::default);
        assert!(next.contains(r#"hookgate_plugin_loads_total{plugin="broken",result="failed"} 1"#), "{next}");
    }
}
