//! A real `redis-server` on a free loopback port, for the kv tests: started, paused,
//! killed and restarted on the same port by the test. `make test` installs redis-server.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::fixtures::signal;

/// A running (or stopped) `redis-server` owned by one test; killed on drop.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server with no persistence on a free port and waits until it answers.
    pub async fn start() -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            listener.local_addr().unwrap().port()
        };
        let mut server = Self { port, child: None };
        server.restart().await;
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port (after [`RedisServer::kill`]), empty.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start redis-server (make test installs it)");
        self.child = Some(child);
        for _ in 0..250 {
            if self.cli(&["PING"]).await.as_deref() == Some("PONG") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server on port {} did not answer within 5 s", self.port);
    }

    /// Kills the server: connections drop and new ones are refused.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.expect("kill redis-server");
    }

    /// Stops the server without closing its connections (SIGSTOP): calls hang unanswered.
    pub async fn pause(&self) {
        self.signal("-STOP").await;
    }

    /// Resumes a paused server (SIGCONT).
    pub async fn resume(&self) {
        self.signal("-CONT").await;
    }

    /// Runs `redis-cli <args>` against the server; its trimmed output, `None` on failure.
    pub async fn cli(&self, args: &[&str]) -> Option<String> {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--raw"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        (output.status.success() && !text.starts_with("Could not connect")).then_some(text)
    }

    /// Every key matching `pattern`, sorted.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let listed = self.cli(&["--scan", "--pattern", pattern]).await.expect("redis answers");
        let mut keys: Vec<String> = listed.lines().map(str::to_owned).filter(|key| !key.is_empty()).collect();
        keys.sort();
        keys
    }

    async fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().and_then(Child::id).expect("running").to_string();
        let status = Command::new("kill").args([signal, &pid]).status().await.expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A paused server ignores SIGTERM until resumed; SIGKILL (kill_on_drop) does not care.
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// A relay in front of a [`RedisServer`] that makes a proxy too busy to hear Redis, on cue:
/// the moment a connection sends a chosen command, it stops the proxy's process (SIGSTOP)
/// for a while, passes the command on, and delivers Redis's answers on that connection
/// only just after the proxy resumes. The proxy wakes to find its kv deadline long past on
/// a Redis that answered: what a saturated machine does to a kv call, made exact.
pub struct FreezingRelay {
    port: u16,
    cue: Arc<Mutex<Option<Freeze>>>,
    fired: Arc<AtomicBool>,
    accepting: JoinHandle<()>,
}

#[derive(Clone, Copy)]
struct Freeze {
    pid: u32,
    command: &'static [u8],
    stopped_for: Duration,
}

/// How long after the proxy resumes a held answer is delivered: long enough that its
/// timers run first.
const HELD_PAST_RESUME: Duration = Duration::from_millis(50);

impl FreezingRelay {
    /// A relay on a free loopback port, forwarding every connection to `redis`.
    pub async fn start(redis: &RedisServer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
        let port = listener.local_addr().unwrap().port();
        let (cue, fired) = (Arc::new(Mutex::new(None)), Arc::new(AtomicBool::new(false)));
        let redis_port = redis.port;
        let (cue_for_task, fired_for_task) = (Arc::clone(&cue), Arc::clone(&fired));
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, redis_port, Arc::clone(&cue_for_task), Arc::clone(&fired_for_task)));
            }
        });
        Self { port, cue, fired, accepting }
    }

    /// `redis://127.0.0.1:<relay port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The next time a connection sends `command` (e.g. `b"EVALSHA"`), stops process `pid`
    /// for `stopped_for` and holds that connection's answers until just after it resumes.
    pub fn freeze_on(&self, command: &'static [u8], pid: u32, stopped_for: Duration) {
        self.fired.store(false, Ordering::SeqCst);
        *self.cue.lock().unwrap() = Some(Freeze { pid, command, stopped_for });
    }

    /// Whether the last cue was met (the process was stopped and resumed).
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for FreezingRelay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Copies one connection both ways, freezing the client on cue (see [`FreezingRelay`]).
async fn relay(client: TcpStream, redis_port: u16, cue: Arc<Mutex<Option<Freeze>>>, fired: Arc<AtomicBool>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", redis_port)).await else { return };
    let ((mut from_client, mut to_client), (mut from_server, mut to_server)) =
        (client.into_split(), server.into_split());
    let held_until: Arc<Mutex<Option<Instant>>> = Arc::default();
    let held = Arc::clone(&held_until);
    let requests = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(read @ 1..) = from_client.read(&mut buffer).await {
            let chunk = &buffer[..read];
            let freeze = {
                let mut cue = cue.lock().unwrap();
                match *cue {
                    Some(freeze) if chunk.windows(freeze.command.len()).any(|w| w == freeze.command) => cue.take(),
                    _ => None,
                }
            };
            let Some(freeze) = freeze else {
                if to_server.write_all(chunk).await.is_err() {
                    return;
                }
                continue;
            };
            signal(freeze.pid, libc::SIGSTOP);
            *held.lock().unwrap() = Some(Instant::now() + freeze.stopped_for + HELD_PAST_RESUME);
            let forwarded = to_server.write_all(chunk).await;
            tokio::time::sleep(freeze.stopped_for).await;
            signal(freeze.pid, libc::SIGCONT);
            fired.store(true, Ordering::SeqCst);
            if forwarded.is_err() {
                return;
            }
        }
    };
    let answers = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(read @ 1..) = from_server.read(&mut buffer).await {
            let hold = *held_until.lock().unwrap();
            if let Some(until) = hold {
                tokio::time::sleep_until(until).await;
            }
            if to_client.write_all(&buffer[..read]).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(requests, answers);
}
