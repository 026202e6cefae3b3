//! Serving threads: each runs a single-threaded tokio runtime and serves the connections
//! handed to it, start to end.
//!
//! On tokio's work-stealing runtime a request's tasks (its connection, the upstream
//! connection it borrows, a streamed answer's pump, a teardown) hop between the worker
//! threads, and every wake-up across threads is a futex call and an interrupt to the
//! other core. So, as nginx runs a worker process per core, the accept loop hands each
//! connection to one serving thread, and everything the connection spawns stays on that
//! thread (the upstream client keeps a connection pool per thread for the same reason).
//! Measured side by side, the bench's five reused plugins served 13–18% more requests a
//! second at 10–13% less CPU each (BENCHMARKS.md, "One runtime per serving thread").
//!
//! What a thread cannot do is lend its idle time to another's connections. A guest
//! running long still yields to the other connections of its thread every epoch tick and
//! every slice of fuel (`plugins::instance`), as it yielded to other tasks before, so a
//! slow hook slows them down, it does not stop them; and new connections go to the
//! thread with the fewest open.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::pipeline::logging::{IdleThreads, ServingThreadLoad};

/// Work for a serving thread, run inside its runtime: it spawns the connection's task,
/// which keeps the guard counting it open.
type Handoff = Box<dyn FnOnce(OpenConnection) + Send>;

/// The serving threads, and how many connections each has open.
pub(super) struct ServingThreads {
    threads: Vec<ServingThread>,
    /// Where the search for the least busy thread starts, so ties take turns.
    next: AtomicUsize,
}

struct ServingThread {
    handoffs: mpsc::UnboundedSender<(OpenConnection, Handoff)>,
    open: Arc<AtomicUsize>,
    join: std::thread::JoinHandle<()>,
}

/// The longest a serving thread's timer driver sleeps: see [`keep_timer_floor`].
const TIMER_FLOOR: Duration = Duration::from_secs(1);

/// Keeps a timer at most [`TIMER_FLOOR`] away pending on this thread's runtime, for as
/// long as the runtime runs.
///
/// Why: tokio's timer driver, when a timer is set earlier than the wake-up it planned as
/// it last went to sleep, wakes itself (an eventfd write, then an `epoll_wait` that
/// returns for nothing), even when the thread setting it is its own and awake. A request
/// sets timers seconds away (hyper's header-read timeout as its connection awaits the
/// next request, the upstream timeout, a stream's wait for each chunk), and with nothing
/// earlier pending one of them was such a wake-up on nearly every request at one client.
/// With this timer pending the driver never plans to sleep past the floor, so a timer
/// seconds away is never earlier; the price is one wake-up a second. Measured with
/// `perf stat` (BENCHMARKS.md, "Timers that woke their own thread"): seven system calls
/// a request without plugins at one client became five and a half; neither latency nor
/// CPU a request moved beyond this machine's noise.
async fn keep_timer_floor() {
    loop {
        tokio::time::sleep(TIMER_FLOOR).await;
    }
}

/// Marks one connection open on its serving thread until dropped.
pub(super) struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ServingThreads {
    /// Starts `count` serving threads (at least one), and tells `idle` about them (the
    /// logging queue runs jobs on a thread with no connection open).
    pub(super) fn start(count: usize, idle: &IdleThreads) -> std::io::Result<Self> {
        let mut threads = Vec::with_capacity(count.max(1));
        let mut loads = Vec::with_capacity(count.max(1));
        for index in 0..count.max(1) {
            let (handoffs, mut received) = mpsc::unbounded_channel::<(OpenConnection, Handoff)>();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let open = Arc::<AtomicUsize>::default();
            loads.push(ServingThreadLoad { runtime: runtime.handle().clone(), open: Arc::clone(&open) });
            let join = std::thread::Builder::new().name(format!("hookgate-serve-{index}")).spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(keep_timer_floor());
                    while let Some((open, handoff)) = received.recv().await {
                        handoff(open);
                    }
                });
            })?;
            threads.push(ServingThread { handoffs, open, join });
        }
        idle.set(loads);
        Ok(Self { threads, next: AtomicUsize::new(0) })
    }

    /// Hands `handoff` to the thread with the fewest open connections, where it runs with
    /// the connection counted open on that thread until the guard it receives is dropped.
    /// A thread that has stopped (only a panic in tokio itself could stop one) is passed
    /// over.
    pub(super) fn hand(&self, handoff: impl FnOnce(OpenConnection) + Send + 'static) {
        let count = self.threads.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let least_busy = (0..count)
            .map(|offset| (start + offset) % count)
            .min_by_key(|&index| self.threads[index].open.load(Ordering::Relaxed))
            .unwrap_or(0);
        let mut handoff: Handoff = Box::new(handoff);
        for index in (0..count).map(|offset| (least_busy + offset) % count) {
            let thread = &self.threads[index];
            thread.open.fetch_add(1, Ordering::Relaxed);
            match thread.handoffs.send((OpenConnection(Arc::clone(&thread.open)), handoff)) {
                Ok(()) => return,
                // The guard coming back with it un-counts the connection.
                Err(mpsc::error::SendError((_, returned))) => handoff = returned,
            }
        }
        tracing::error!("every serving thread has stopped; connection dropped");
    }

    /// Stops the threads once the connections they serve have ended (or been given up on):
    /// their runtimes drop whatever tasks are left.
    pub(super) fn stop(self) {
        for thread in self.threads {
            drop(thread.handoffs);
            if thread.join.join().is_err() {
                tracing::error!("a serving thread panicked");
            }
        }
    }
}
