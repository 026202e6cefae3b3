//! Accepting connections under limits: what a slow or greedy client may hold.
//!
//! `axum::serve` runs hyper without a timer (so hyper's header-read timeout is off) and
//! with no connection cap; a few hundred clients trickling one header byte a second would
//! hold their sockets forever, and past the open-file limit the proxy stops accepting at
//! all. So the proxy runs its own accept loop on hyper's HTTP/1 server, and hands each
//! connection it accepts to a serving thread (`serving`):
//!
//! - **Header-read timeout** (`general_settings.header_read_timeout_seconds`): from
//!   accept, or from the end of the previous response on a kept-alive connection, to a
//!   complete request head; then hyper closes the connection. (HTTP/1 only: HTTP/2's
//!   version sniffing would read the first bytes without any timer.)
//! - **Head size** (`max_header_bytes`): a larger request head is answered 431.
//! - **Connection cap** (`max_connections`, and never more than half of what the
//!   open-file limit leaves after a reserve, the rest being for upstream sockets, plugin
//!   files and logs): a connection over it is answered `503` at once and closed, and the
//!   refusal is counted and logged (once a second at most). The accept loop itself never
//!   fails on the file limit.
//! - **Write timeout** (`stream_write_timeout_seconds`): a write that waits that long for
//!   a client that reads nothing closes the connection (`write_timeout`); a stream is
//!   produced as it is written, so this is what frees a stream's plugin instances and
//!   upstream call from a client that stopped reading.
//! - The body-read timeout is applied where the body is read (`openai`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::serving::ServingThreads;
use super::write_timeout::WriteTimeout;
use crate::config::ServerLimits;
use crate::pipeline::logging::IdleThreads;

/// Open files kept back from connections: upstream sockets take as many as the client
/// connections they serve, and the process needs some for itself.
const RESERVED_FILES: u64 = 128;

/// How long a graceful shutdown waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Connection counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicU64,
    refused: AtomicU64,
    cap: AtomicU64,
}

impl ConnectionStats {
    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections refused so far because the cap was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The effective connection cap.
    pub fn cap(&self) -> u64 {
        self.cap.load(Ordering::Relaxed)
    }
}

/// Raises the soft open-file limit to the hard one (a proxy needs many sockets), then
/// returns the connection cap that fits: `wanted`, or less when the files left after the
/// reserve, halved for upstream sockets, are fewer.
pub fn connection_cap(wanted: usize) -> usize {
    let files = raise_open_file_limit();
    let fits = files.saturating_sub(RESERVED_FILES) / 2;
    let cap = (wanted as u64).min(fits.max(1));
    if cap < wanted as u64 {
        tracing::warn!(
            max_connections = wanted,
            open_file_limit = files,
            effective = cap,
            "max_connections lowered to fit the process's open-file limit"
        );
    }
    cap as usize
}

/// The soft `RLIMIT_NOFILE` after raising it to the hard limit where allowed.
fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    #[expect(clippy::unnecessary_cast, reason = "rlim_t is u64 here but 32 bits wide on 32-bit Linux")]
    let soft = limit.rlim_cur as u64;
    soft
}

/// Serves `router` on `listener` under `limits` until `shutdown` resolves, then lets the
/// open connections finish (for at most [`SHUTDOWN_GRACE`]) and awaits `settle` (work the
/// requests left behind on the serving threads, such as logging jobs; the caller bounds
/// it) before stopping the threads, whose runtimes drop whatever tasks are left. Each
/// connection is served on one of `limits.serving_threads` threads (`server::serving`);
/// this task only accepts. `idle` learns the threads, for the logging queue. Fails only
/// when the threads cannot be started.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ServerLimits,
    stats: Arc<ConnectionStats>,
    shutdown: impl std::future::Future<Output = ()>,
    settle: impl std::future::Future<Output = ()>,
    idle: &IdleThreads,
) -> std::io::Result<()> {
    let threads = ServingThreads::start(limits.serving_threads, idle)?;
    let cap = connection_cap(limits.max_connections);
    stats.cap.store(cap as u64, Ordering::Relaxed);
    let places = Arc::new(Semaphore::new(cap));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    let mut last_warning: Option<Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of files or memory for a moment: never a reason to stop serving.
                    warn_at_most_every_second(&mut last_warning, || {
                        tracing::warn!(%error, "accepting a connection failed");
                    });
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Ok(place) = Arc::clone(&places).try_acquire_owned() else {
            let refused = stats.refused.fetch_add(1, Ordering::Relaxed) + 1;
            warn_at_most_every_second(&mut last_warning, || {
                tracing::warn!(%peer, max_connections = cap, refused_total = refused, "connection refused: too many open");
            });
            tokio::spawn(refuse(tcp));
            continue;
        };
        // Without TCP_NODELAY a streamed chunk written after the headers waits for the
        // client's delayed ACK (~40 ms on Linux): the time to first token would carry it.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        // Moved to a serving thread's runtime, whose reactor drives its I/O from now on.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(error) => {
                tracing::debug!(%peer, %error, "could not hand a connection over");
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let stats = Arc::clone(&stats);
        let write_limit = limits.stream_write_timeout;
        threads.hand(move |open| {
            let tcp = match TcpStream::from_std(tcp) {
                Ok(tcp) => tcp,
                Err(error) => {
                    tracing::debug!(%peer, %error, "could not take a connection over");
                    return;
                }
            };
            let tcp = WriteTimeout::new(tcp, write_limit);
            let connection = watcher.watch(builder.serve_connection(TokioIo::new(tcp), service));
            stats.open.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                stats.open.fetch_sub(1, Ordering::Relaxed);
                drop((place, open));
            });
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
    settle.await;
    let _ = tokio::task::spawn_blocking(move || threads.stop()).await;
    Ok(())
}

/// Answers a connection over the cap with a 503 in OpenAI's error shape, then closes it.
/// The client's request head is read first (for at most a second), so that an HTTP
/// client sees an answer to its request rather than a message before it.
async fn refuse(mut tcp: TcpStream) {
    let mut head = [0u8; 8192];
    let mut read = 0;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while read < head.len() {
            match tokio::io::AsyncReadExt::read(&mut tcp, &mut head[read..]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read += n,
            }
            if head[..read].windows(4).any(|window| window == b"\r\n\r\n") {
                return;
            }
        }
    })
    .await;
    let body = r#"{"error":{"message":"The proxy has too many open connections; retry shortly.","type":"service_unavailable","param":null,"code":"too_many_connections"}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = tcp.write_all(response.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

fn warn_at_most_every_second(last: &mut Option<Instant>, warn: impl FnOnce()) {
    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
        *last = Some(Instant::now());
        warn();
    }
}
