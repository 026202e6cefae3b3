//! The bounded queue that runs `log-success`/`log-failure` off the response path.
//!
//! The response never waits for logging: a request's logging job is queued with
//! `try_send`, and when the queue is full the job is dropped and counted. What the hooks
//! are told is built by [`LogRecord`](super::log_record::LogRecord).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

use super::attribution::{self, ProbeShape};
use super::log_record::LogRecord;
use crate::plugins::registry::{ActivePlugin, CallEnd, QuarantinePolicy};
use crate::plugins::{ContractVersion, HookError, LogInput};
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
#[derive(Clone)]
pub struct LoggingQueue {
    sender: mpsc::Sender<LogJob>,
    dropped: Arc<AtomicU64>,
    max_field_bytes: usize,
}

impl LoggingQueue {
    /// A queue holding up to `capacity` jobs, drained by a background task (which stops
    /// when the last queue handle is dropped). Payload fields longer than
    /// `max_field_bytes` are truncated.
    pub fn start(capacity: usize, max_field_bytes: usize, policy: QuarantinePolicy) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        tokio::spawn(drain(receiver, policy));
        Self { sender, dropped: Arc::new(AtomicU64::new(0)), max_field_bytes }
    }

    /// Closes a finished request's record, with the request's `decisions`, and queues it
    /// for `plugins` (those implementing its logging hook); never waits. Nothing is queued
    /// when no plugin logs.
    pub(crate) fn submit(&self, record: LogRecord, decisions: Vec<DecisionRecord>, plugins: Vec<Logger>) {
        let hook = record.hook();
        if plugins.is_empty() {
            return;
        }
        let with_0_1 = plugins.iter().any(|(active, _)| active.plugin.contract() == ContractVersion::V0_1);
        let input = record.finish(decisions, self.max_field_bytes, with_0_1);
        if let Err(error) = self.sender.try_send(LogJob { input, hook, plugins }) {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let reason = match error {
                mpsc::error::TrySendError::Full(_) => "the logging queue is full",
                mpsc::error::TrySendError::Closed(_) => "the logging queue is closed",
            };
            tracing::warn!(dropped_total = dropped, "logging hooks skipped for a request: {reason}");
        }
    }

    /// Jobs dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Jobs waiting in the queue.
    pub fn depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }
}

async fn drain(mut receiver: mpsc::Receiver<LogJob>, policy: QuarantinePolicy) {
    let running = Arc::new(Semaphore::new(CONCURRENT_JOBS));
    while let Some(job) = receiver.recv().await {
        let Ok(permit) = Arc::clone(&running).acquire_owned().await else { return };
        tokio::spawn(async move {
            run(job, policy).await;
            drop(permit);
        });
    }
}

async fn run(job: LogJob, policy: QuarantinePolicy) {
    let LogJob { input, hook, plugins } = job;
    let shape = ProbeShape { call_type: input.info.call_type, model: input.entry.model.clone() };
    for (active, config) in plugins {
        if active.health.quarantined_for().is_some() {
            continue;
        }
        let mut instance = active.plugin.instance(Arc::clone(&input.info.id)).with_config(config);
        let result = match hook {
            Hook::LogSuccess => instance.log_success(&input).await,
            _ => instance.log_failure(&input).await,
        };
        let stats = instance.last_call();
        drop(instance);
        let end = match &result {
            Ok(()) => CallEnd::Done,
            Err(HookError::Fault(fault)) => {
                let cause = attribution::cause_of(&active, hook, fault, stats, &shape).await;
                fault.log(cause, "logging hooks never affect the response");
                CallEnd::Faulted(fault.kind, cause)
            }
            Err(HookError::Overloaded(overloaded)) => {
                tracing::warn!(plugin = active.name(), hook = hook.name(), "logging skipped: {overloaded}");
                continue;
            }
            Err(HookError::Rejected(_)) => unreachable!("logging hooks cannot reject"),
        };
        active.record_call(hook, end, stats, policy);
    }
}
