//! A real OCI registry (Debian's `docker-registry`, Distribution 2.8) on a free loopback
//! port with its storage in a temporary directory: started, killed and restarted by the
//! test. `make test` installs the package.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A running (or stopped) registry owned by one test; killed on drop.
pub struct RegistryServer {
    port: u16,
    storage: tempfile::TempDir,
    child: Option<Child>,
    /// An htpasswd line (`user:bcrypt`) when the registry requires Basic auth.
    htpasswd: Option<String>,
}

impl RegistryServer {
    /// Starts a registry with no auth on a free port and waits until `/v2/` answers.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Starts a registry that requires Basic auth for the user of `htpasswd_line`
    /// (`user:<bcrypt hash>`, as `htpasswd -B` writes it).
    pub async fn start_with_basic_auth(htpasswd_line: &str) -> Self {
        Self::start_with(Some(htpasswd_line.to_owned())).await
    }

    async fn start_with(htpasswd: Option<String>) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            listener.local_addr().unwrap().port()
        };
        let mut server = Self { port, storage: tempfile::tempdir().expect("temp dir"), child: None, htpasswd };
        server.restart().await;
        server
    }

    /// `127.0.0.1:<port>`, as references write the registry.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `oci://127.0.0.1:<port>/<path>`.
    pub fn reference(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.host())
    }

    /// Starts the registry again on the same port, with the same storage.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let config = self.storage.path().join("config.yml");
        let mut yaml = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: '127.0.0.1:{}'}}\n",
            self.storage.path().join("data").display(),
            self.port
        );
        if let Some(line) = &self.htpasswd {
            let file = self.storage.path().join("htpasswd");
            std::fs::write(&file, format!("{line}\n")).expect("write htpasswd");
            yaml.push_str(&format!("auth: {{htpasswd: {{realm: hookgate-test, path: {}}}}}\n", file.display()));
        }
        std::fs::write(&config, yaml).expect("write the registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start docker-registry (make test installs it)");
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..250 {
            // 401 is an answer too: the registry is up and asks for credentials.
            let answer = client.get(format!("http://{}/v2/", self.host())).send().await;
            if answer.is_ok_and(|response| response.status() == 200 || response.status() == 401) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("docker-registry on port {} did not answer within 5 s", self.port);
    }

    /// Kills the registry: every request to it is refused.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.expect("kill docker-registry");
    }

    /// Where the registry keeps blob `sha256:<hex>` on disk (Distribution's filesystem
    /// layout), for a test that tampers with it.
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.storage.path().join(format!("data/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }
}
