//! The bounded queue that runs `log-success`/`log-failure` off the response path.
//!
//! The response never waits for logging: a request's logging job is queued without
//! waiting, and when the queue is full the job is dropped and counted. A proxy shutting
//! down waits for the jobs it queued ([`LoggingQueue::settled`]). What the hooks are told
//! is built by [`LogRecord`](super::log_record::LogRecord).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::attribution::{self, ProbeShape};
use super::log_record::LogRecord;
use crate::plugins::registry::{ActivePlugin, CallEnd, QuarantinePolicy};
use crate::plugins::{CallStats, ContractVersion, HookError, Instances, LogInput};
use crate::types::{DecisionRecord, Hook};

/// How many logging jobs run at once; more wait in the queue.
const CONCURRENT_JOBS: usize = 64;

/// A plugin that logs a request, and the config it runs with for that request (when its
/// team's or key's, not its own).
pub(crate) type Logger = super::hook_runner::WithConfig<ActivePlugin>;

/// One request's logging work: its payload and the plugins that log it (each gets a
/// fresh instance when the job runs: no pool slot is held while the job waits).
struct LogJob {
    input: LogInput,
    hook: Hook,
    plugins: Vec<Logger>,
}

/// The bounded queue in front of the logging hooks. Cheap to clone.
///
/// A job is a task spawned where the request finished (its serving thread), so running
/// it wakes no other thread, unless a serving thread has no connection open and the
/// job's plugins keep warm instances: then the job runs there ([`IdleThreads`]). Two
/// semaphores make the queue: a place among the `capacity` waiting jobs, taken when the
/// job is submitted and given back when it starts, and one of [`CONCURRENT_JOBS`]
/// places to run, handed out in turn.
#[derive(Clone)]
pub struct LoggingQueue {
    waiting: Arc<Semaphore>,
    running: Arc<Semaphore>,
    capacity: usize,
    dropped: Arc<AtomicU64>,
    /// The jobs queued and not yet finished, waiting or running: what a shutdown waits
    /// for. A job whose task is dropped unfinished (its serving thread stopped) counts no
    /// more, so a shutdown never waits for a job that can no longer run.
    unfinished: TaskTracker,
    max_field_bytes: usize,
    policy: QuarantinePolicy,
    idle: IdleThreads,
}

/// The serving threads as the logging queue sees them: each one's runtime and how many
/// connections it has open. Filled in once, when the threads start; until then (and in
/// a test without serving threads) every job runs where its request finished.
///
/// Why: a job on the thread that served the request runs between that thread's requests.
/// Under load that costs nothing extra, but with few clients the thread is otherwise
/// idle, and the next request on the same connection, which arrives within microseconds
/// of the answer, waits out the logging hooks (about 15 µs a request with the bench's
/// cost-logger). A thread with no connection at all can run them meanwhile; handing a
/// job to it costs a wake-up (an eventfd write, and the other thread's `epoll_wait`),
/// and a thread with connections is never handed one, so a busy proxy never pays it.
/// Only jobs whose plugins keep warm instances are handed over (see `submit`).
/// Measured side by side (BENCHMARKS.md, "Logging on an idle thread").
#[derive(Clone, Default)]
pub struct IdleThreads(Arc<OnceLock<Vec<ServingThreadLoad>>>);

/// One serving thread: its runtime, and how many connections it has open.
pub struct ServingThreadLoad {
    /// The thread's runtime, where a job handed to it runs.
    pub runtime: Handle,
    /// Connections open on the thread (its own count, kept by the serving threads).
    pub open: Arc<AtomicUsize>,
}

impl IdleThreads {
    /// Records the serving threads; only the first call counts (a proxy starts its
    /// threads once).
    pub fn set(&self, threads: Vec<ServingThreadLoad>) {
        if self.0.set(threads).is_err() {
            tracing::debug!("the logging queue already knows its serving threads");
        }
    }

    /// The runtime of a serving thread with no connection open, if there is one. The
    /// first such thread: having no connection, it delays no client by taking them all.
    fn idle(&self) -> Option<&Handle> {
        self.0.get()?.iter().find(|thread| thread.open.load(Ordering::Relaxed) == 0).map(|thread| &thread.runtime)
    }
}

impl LoggingQueue {
    /// A queue holding up to `capacity` waiting jobs. Payload fields longer than
    /// `max_field_bytes` are truncated.
    pub fn new(capacity: usize, max_field_bytes: usize, policy: QuarantinePolicy) -> Self {
        let capacity = capacity.max(1);
        Self {
            waiting: Arc::new(Semaphore::new(capacity)),
            running: Arc::new(Semaphore::new(CONCURRENT_JOBS)),
            capacity,
            dropped: Arc::new(AtomicU64::new(0)),
            unfinished: TaskTracker::new(),
            max_field_bytes,
            policy,
            idle: IdleThreads::default(),
        }
    }

    /// The serving threads this queue may hand jobs to; the server fills it in when it
    /// starts them.
    pub fn idle_threads(&self) -> IdleThreads {
        self.idle.clone()
    }

    /// Closes a finished request's record, with the request's `decisions`, and queues it
    /// for `plugins` (those implementing its logging hook); never waits. Nothing is queued
    /// when no plugin logs.
    pub(crate) fn submit(&self, record: LogRecord, decisions: Vec<DecisionRecord>, plugins: Vec<Logger>) {
        let hook = record.hook();
        if plugins.is_empty() {
            return;
        }
        let Ok(place) = Arc::clone(&self.waiting).try_acquire_owned() else {
            return self.drop_job("the logging queue is full");
        };
        let Ok(runtime) = Handle::try_current() else {
            return self.drop_job("no runtime to run them on");
        };
        let with_0_1 = plugins.iter().any(|(active, _)| active.plugin.contract() == ContractVersion::V0_1);
        // Only a job whose plugins keep warm instances moves. With fresh instances (each
        // made and torn down by the job, changing the process's memory map) the next
        // request at one client got slower, not faster, by 12 µs (measured side by side;
        // BENCHMARKS.md, "Logging on an idle thread").
        let movable = plugins.iter().all(|(active, _)| active.plugin.settings().instances == Instances::Reuse);
        let job = LogJob { input: record.finish(decisions, self.max_field_bytes, with_0_1), hook, plugins };
        let running = Arc::clone(&self.running);
        let policy = self.policy;
        let job = self.unfinished.track_future(async move {
            let Ok(turn) = running.acquire_owned().await else { return };
            drop(place);
            run(job, policy).await;
            drop(turn);
        });
        // Handed over at once, before this thread writes the answer. Handed over by a
        // task of its own once the answer was written, it made the next request at one
        // client no faster (measured side by side), though the wake-up's system call
        // left the request's path.
        let runtime = movable.then(|| self.idle.idle()).flatten().unwrap_or(&runtime);
        drop(runtime.spawn(job));
    }

    /// Resolves once every job queued so far has finished (at once when none is
    /// unfinished). The shutdown waits for it, bounded, before it stops the serving
    /// threads whose runtimes run the jobs: a request answered just before a SIGTERM is
    /// still logged.
    pub async fn settled(&self) {
        // A closed tracker still counts the jobs queued after it; closing only lets
        // `wait` resolve once none is left.
        self.unfinished.close();
        self.unfinished.wait().await;
    }

    /// Jobs queued and not yet finished, waiting or running.
    pub fn unfinished(&self) -> usize {
        self.unfinished.len()
    }

    /// Counts (`hookgate_logging_dropped_total`) and logs a request whose logging hooks
    /// will not run.
    fn drop_job(&self, reason: &str) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(dropped_total = dropped, "logging hooks skipped for a request: {reason}");
    }

    /// Jobs dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Jobs waiting in the queue.
    pub fn depth(&self) -> usize {
        self.capacity - self.waiting.available_permits()
    }
}

/// How long a logging hook keeps asking for an instance when the pool is full, and how
/// long it pauses between asks. Its job is off the response path, so it waits out a
/// burst rather than skip the log: a client that fills the pool (long streams, say) must
/// not escape cost logging with its other requests. Past it, the log is skipped and said.
const LOGGING_PATIENCE: Duration = Duration::from_secs(60);
const LOGGING_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Runs `active`'s logging `hook` on `input` in a fresh instance, asking again while the
/// pool is full, for up to [`LOGGING_PATIENCE`]; the result and the call's stats.
async fn log_patiently(
    active: &ActivePlugin,
    config: Option<Arc<str>>,
    hook: Hook,
    input: &LogInput,
) -> (Result<(), HookError>, Option<CallStats>) {
    let started = Instant::now();
    loop {
        let mut instance = active.plugin.instance(Arc::clone(&input.info.id)).with_config(config.clone());
        let result = match hook {
            Hook::LogSuccess => instance.log_success(input).await,
            _ => instance.log_failure(input).await,
        };
        let stats = instance.last_call();
        drop(instance);
        match result {
            Err(HookError::Overloaded(_)) if started.elapsed() + LOGGING_RETRY_PAUSE < LOGGING_PATIENCE => {
                tokio::time::sleep(LOGGING_RETRY_PAUSE).await;
            }
            result => return (result, stats),
        }
    }
}

async fn run(job: LogJob, policy: QuarantinePolicy) {
    let LogJob { input, hook, plugins } = job;
    // The model the request was routed to is the config's; the one it asked for is the
    // client's text, which a probe must not carry.
    let shape = ProbeShape::new(input.info.call_type, input.entry.model_used.as_deref());
    for (active, config) in plugins {
        if active.health.quarantined_for().is_some() {
            continue;
        }
        let (result, stats) = log_patiently(&active, config, hook, &input).await;
        let end = match &result {
            Ok(()) => CallEnd::Done,
            Err(HookError::Fault(fault)) => {
                let cause = attribution::cause_of(&active, hook, fault, stats, &shape).await;
                fault.log(cause, "logging hooks never affect the response");
                CallEnd::Faulted(fault.kind, cause)
            }
            Err(HookError::Overloaded(overloaded)) => {
                tracing::warn!(
                    plugin = active.name(),
                    hook = hook.name(),
                    "logging skipped after {} s of a full instance pool: {overloaded}",
                    LOGGING_PATIENCE.as_secs()
                );
                continue;
            }
            Err(HookError::Rejected(_)) => unreachable!("logging hooks cannot reject"),
        };
        active.record_call(hook, end, stats, policy);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A current-thread runtime on a thread named `name`, running until the test ends.
    fn serving_thread(name: &str) -> Handle {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .unwrap();
        handle
    }

    /// The name of the thread `runtime` runs a task on.
    async fn runs_on(runtime: &Handle) -> String {
        runtime.spawn(async { std::thread::current().name().unwrap_or_default().to_owned() }).await.unwrap()
    }

    #[tokio::test]
    async fn a_job_goes_to_a_serving_thread_without_connections_and_only_to_one() {
        let idle = IdleThreads::default();
        assert!(idle.idle().is_none(), "no serving threads known yet");
        let busy = Arc::new(AtomicUsize::new(1));
        let quiet = Arc::new(AtomicUsize::new(0));
        idle.set(vec![
            ServingThreadLoad { runtime: serving_thread("serving-busy"), open: Arc::clone(&busy) },
            ServingThreadLoad { runtime: serving_thread("serving-quiet"), open: Arc::clone(&quiet) },
        ]);
        for _ in 0..4 {
            let chosen = idle.idle().expect("one thread has no connection");
            assert_eq!(runs_on(chosen).await, "serving-quiet");
        }
        quiet.store(2, Ordering::Relaxed);
        assert!(idle.idle().is_none(), "every thread has connections: the job stays where it is");
        busy.store(0, Ordering::Relaxed);
        assert_eq!(runs_on(idle.idle().expect("the first is idle now")).await, "serving-busy");
    }

    #[tokio::test]
    async fn settled_waits_for_every_unfinished_job_and_no_longer() {
        let queue = LoggingQueue::new(4, 1024, QuarantinePolicy::default());
        // Nothing queued: settled at once.
        tokio::time::timeout(Duration::from_secs(5), queue.settled()).await.expect("settled with no jobs");
        let first = queue.unfinished.token();
        let second = queue.unfinished.token();
        assert_eq!(queue.unfinished(), 2);
        let mut settled = std::pin::pin!(queue.settled());
        assert!(tokio::time::timeout(Duration::from_millis(50), settled.as_mut()).await.is_err(), "two jobs left");
        drop(first);
        assert!(tokio::time::timeout(Duration::from_millis(50), settled.as_mut()).await.is_err(), "one job left");
        // The last one, dropped from another task (a job ends on its serving thread).
        tokio::spawn(async move { drop(second) }).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), settled).await.expect("settled once the last job ended");
        assert_eq!(queue.unfinished(), 0);
    }
}
