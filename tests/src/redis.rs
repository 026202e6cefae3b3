//! A real `redis-server` on a free loopback port, for the kv tests: started, paused,
//! killed and restarted on the same port by the test. `make test` installs redis-server.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

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
