//! A real `hookgate serve` process for tests over HTTP: a config and a plugin directory
//! in a temporary folder, the server on a free loopback port, its log captured.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

use crate::{guest_dir, hookgate_bin, workspace_root};

/// The master key of every test proxy.
pub const MASTER_KEY: &str = "sk-test-master-0b6f";

/// The key id hooks see for `key` on a test proxy (an HMAC under a secret derived from
/// [`MASTER_KEY`]).
pub fn key_id(key: &str) -> String {
    hookgate::auth::KeyIds::derived_from_master(MASTER_KEY).id(key)
}

/// A running proxy; killed on drop.
pub struct Proxy {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The folder holding the config and the plugins.
    pub dir: tempfile::TempDir,
    /// The key admin requests use: [`MASTER_KEY`] unless the config has another.
    pub admin_key: String,
    log: Arc<Mutex<String>>,
    child: Child,
    client: reqwest::Client,
}

/// Builds a proxy: the config's YAML and the plugins to put in its directory.
pub struct ProxyBuilder {
    yaml: String,
    plugins: Vec<(String, PathBuf)>,
    settings: Vec<(String, String)>,
    plugins_extra: Vec<String>,
    sidecars: Vec<(String, String)>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    open_files: Option<u64>,
    private_cache: bool,
}

impl ProxyBuilder {
    /// A proxy with this config (without a `plugins:` section: the builder writes it).
    /// The builder adds the master key unless `general_settings` is given, and a model
    /// `mock-echo` unless `model_list` is: pass only what the test is about.
    pub fn new(yaml: &str) -> Self {
        Self {
            yaml: yaml.to_owned(),
            plugins: Vec::new(),
            settings: Vec::new(),
            plugins_extra: Vec::new(),
            sidecars: Vec::new(),
            args: Vec::new(),
            envs: Vec::new(),
            open_files: None,
            private_cache: false,
        }
    }

    /// Runs the proxy with its open-file limit (`RLIMIT_NOFILE`, soft and hard) at `limit`.
    pub fn open_files(mut self, limit: u64) -> Self {
        self.open_files = Some(limit);
        self
    }

    /// Gives the proxy a cache directory of its own (in its temporary folder) instead of
    /// the run's shared one: for a test that must see what is fetched, not a cache hit.
    pub fn private_cache(mut self) -> Self {
        self.private_cache = true;
        self
    }

    /// Extra command-line arguments for `hookgate`, e.g. `--log-format json`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// An environment variable of the proxy (for `os.environ/NAME` in the config).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Settings of plugin `name` as an inline YAML map, e.g. `{on_error: fail-closed}`.
    pub fn settings(mut self, name: &str, inline_yaml: &str) -> Self {
        self.settings.push((name.to_owned(), inline_yaml.to_owned()));
        self
    }

    /// A sidecar `<name>.yaml` beside the plugin, with this YAML.
    pub fn sidecar(mut self, name: &str, yaml: &str) -> Self {
        self.sidecars.push((name.to_owned(), yaml.to_owned()));
        self
    }

    /// A line of the `plugins:` section, e.g. `quarantine_after: 2`.
    pub fn plugins_option(mut self, line: &str) -> Self {
        self.plugins_extra.push(line.to_owned());
        self
    }

    /// Puts the built guest `crate_name` into the plugin directory as `<name>.wasm`.
    pub fn plugin(mut self, name: &str, crate_name: &str) -> Self {
        let from = guest_dir().join(format!("{}.wasm", crate_name.replace('-', "_")));
        self.plugins.push((name.to_owned(), from));
        self
    }

    /// Puts the component at `path` into the plugin directory as `<name>.wasm`.
    pub fn plugin_file(mut self, name: &str, path: &Path) -> Self {
        self.plugins.push((name.to_owned(), path.to_owned()));
        self
    }

    /// Puts the contract 0.1 component `fixture` (`tests/fixtures/contract-0.1/<fixture>.wasm`,
    /// built before contract 0.2 and kept as it was) into the plugin directory as
    /// `<name>.wasm`.
    pub fn plugin_0_1(mut self, name: &str, fixture: &str) -> Self {
        let from = crate::contract_0_1_fixture(fixture);
        self.plugins.push((name.to_owned(), from));
        self
    }

    /// Starts the proxy and waits until it listens.
    pub async fn start(self) -> Proxy {
        self.try_start().await.unwrap_or_else(|log| panic!("the proxy did not start; its log:\n{log}"))
    }

    /// Starts the proxy; `Err` with its log when it does not start (a refused config).
    pub async fn try_start(self) -> Result<Proxy, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let plugin_dir = dir.path().join("plugins");
        std::fs::create_dir(&plugin_dir).expect("plugin dir");
        for (name, from) in &self.plugins {
            std::fs::copy(from, plugin_dir.join(format!("{name}.wasm")))
                .unwrap_or_else(|e| panic!("copy {} ({e}): run `make guests`", from.display()));
        }
        for (name, yaml) in &self.sidecars {
            std::fs::write(plugin_dir.join(format!("{name}.yaml")), yaml).expect("write sidecar");
        }
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, self.full_yaml()).expect("write config");
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = self.envs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        Proxy::try_spawn(dir, &config_path, &args, &envs, self.open_files).await
    }

    fn full_yaml(&self) -> String {
        let mut yaml = self.yaml.clone();
        if !yaml.contains("model_list:") {
            yaml.push_str("\nmodel_list:\n  - {model_name: mock-echo, litellm_params: {model: mock/echo}}\n");
        }
        if !yaml.contains("general_settings:") {
            yaml.push_str(&format!("\ngeneral_settings: {{master_key: {MASTER_KEY}}}\n"));
        }
        let cache = if self.private_cache { "cache".to_owned() } else { cache_dir().display().to_string() };
        yaml.push_str(&format!("\nplugins:\n  dir: plugins\n  cache_dir: '{cache}'\n"));
        for line in &self.plugins_extra {
            yaml.push_str(&format!("  {line}\n"));
        }
        if !self.settings.is_empty() {
            yaml.push_str("  settings:\n");
            for (name, settings) in &self.settings {
                yaml.push_str(&format!("    {name}: {settings}\n"));
            }
        }
        yaml
    }
}

/// Compiled components shared by every test proxy: each component compiles once per run.
fn cache_dir() -> PathBuf {
    workspace_root().join("target/hookgate-test-cache")
}

impl Proxy {
    /// Starts `hookgate serve --config <config> --port 0 <args>` with `envs` added to its
    /// environment, and waits for its address.
    pub async fn spawn(dir: tempfile::TempDir, config: &Path, args: &[&str], envs: &[(&str, &str)]) -> Proxy {
        Self::try_spawn(dir, config, args, envs, None)
            .await
            .unwrap_or_else(|log| panic!("the proxy did not start; its log:\n{log}"))
    }

    /// As [`Proxy::spawn`], with an open-file limit; `Err` with the log when the proxy
    /// does not start.
    pub async fn try_spawn(
        dir: tempfile::TempDir,
        config: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        open_files: Option<u64>,
    ) -> Result<Proxy, String> {
        let mut command = Command::new(hookgate_bin());
        command
            .args(["serve", "--config"])
            .arg(config)
            .args(["--port", "0"])
            .args(args)
            .env("HOOKGATE_LOG", "info")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(limit) = open_files {
            // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
            unsafe {
                command.pre_exec(move || {
                    let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("start {} ({e}): build it with `cargo build --bins --tests` at the root", hookgate_bin().display())
        });
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&log);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
        // Long enough for a first start that compiles several Python components (each
        // ~20 s of Cranelift on this 2-core machine; later starts read the cache).
        let first = tokio::time::timeout(Duration::from_secs(300), stdout.next_line()).await;
        let base = match first {
            Ok(Ok(Some(line))) if line.starts_with("hookgate listening on ") => {
                line.trim_start_matches("hookgate listening on ").to_owned()
            }
            other => {
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                let log = log.lock().unwrap().clone();
                return Err(format!("({other:?})\n{log}"));
            }
        };
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        Ok(Proxy { base, dir, admin_key: MASTER_KEY.to_owned(), log, child, client })
    }

    /// The proxy's log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`; panics with the log after `timeout`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("`{needle}` never appeared in the proxy log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The plugin directory the builder created.
    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// Sends SIGHUP to the proxy (it rescans its plugin directory).
    pub async fn hangup(&self) {
        let pid = self.pid().to_string();
        let status = Command::new("kill").args(["-HUP", &pid]).status().await.expect("kill runs");
        assert!(status.success());
    }

    /// `GET {base}{path}` with the master key, as JSON.
    pub async fn admin_get(&self, path: &str) -> Value {
        let response =
            self.client.get(format!("{}{path}", self.base)).bearer_auth(&self.admin_key).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.expect("JSON")
    }

    /// Polls `probe` every 20 ms until it returns `Some`; panics with the log after `timeout`.
    pub async fn until<T, F: std::future::Future<Output = Option<T>>>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> F,
    ) -> T {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{what}: not within {timeout:?}; the proxy log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The proxy's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the proxy runs")
    }

    /// CPU time the proxy process has used so far (user and system), from `/proc`.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("/proc/<pid>/stat");
        // Fields after the command name (which may hold spaces) start at ") ".
        let fields: Vec<&str> = stat.rsplit_once(") ").expect("a stat line").1.split(' ').collect();
        let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 1000 / clock_ticks_per_second())
    }

    /// The proxy's resident memory now, from `/proc`.
    pub fn rss_bytes(&self) -> u64 {
        self.status_bytes("VmRSS")
    }

    /// A memory figure of `/proc/<pid>/status` (`VmRSS`, `RssAnon`, `RssFile`, `RssShmem`), in bytes.
    pub fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc/<pid>/status");
        let kb = status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/<pid>/status"));
        kb * 1024
    }

    /// The current value of a metric series (a whole line's name and labels, e.g.
    /// `hookgate_plugin_instances`); 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.client.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |value| value.parse().unwrap())
    }

    /// The entry of `plugin` in `GET /plugins`.
    pub async fn plugin_entry(&self, plugin: &str) -> Value {
        let listing = self.admin_get("/plugins").await;
        listing["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["name"] == plugin)
            .cloned()
            .unwrap_or_else(|| panic!("no plugin `{plugin}` in {listing}"))
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// An HTTP client (no proxy from the environment).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `POST {base}{path}` with a JSON body and `key` as bearer.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.base)).bearer_auth(key).json(body).send().await.expect("request sent")
    }

    /// A chat completion with the master key.
    pub async fn chat(&self, body: &Value) -> reqwest::Response {
        self.post("/v1/chat/completions", MASTER_KEY, body).await
    }
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// A proxy serving `examples/config.yaml` (what `make run` serves) with the master key
/// the README uses, after `patch` is applied to the config's text (to add a model or a
/// setting). Its plugin and cache paths are made absolute, so the patched copy can live
/// in a temporary folder.
pub async fn example_proxy(patch: impl FnOnce(String) -> String) -> Proxy {
    let root = workspace_root();
    let text = std::fs::read_to_string(root.join("examples/config.yaml")).expect("examples/config.yaml");
    let text = text
        .replace("dir: ../plugins/dist", &format!("dir: '{}'", root.join("plugins/dist").display()))
        .replace("cache_dir: ../target/hookgate-cache", &format!("cache_dir: '{}'", cache_dir().display()));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, patch(text)).expect("write the config");
    let mut proxy = Proxy::spawn(dir, &config, &[], &[("HOOKGATE_MASTER_KEY", README_MASTER_KEY)]).await;
    proxy.admin_key = README_MASTER_KEY.to_owned();
    proxy
}

/// The master key `make run` and the README use.
pub const README_MASTER_KEY: &str = "sk-hookgate-local-dev";

/// A chat body for `model` whose last user message is `text`.
pub fn chat_body(model: &str, text: &str) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// `body` asking for a stream.
pub fn streaming(mut body: serde_json::Value) -> serde_json::Value {
    body["stream"] = serde_json::json!(true);
    body
}

/// A config serving one model, `name`, from the test upstream at `api_base`.
pub fn one_model(name: &str, api_base: &str) -> String {
    format!(
        "model_list:\n  - {{model_name: {name}, litellm_params: {{model: openai/{name}, api_base: '{api_base}'}}}}\n"
    )
}

/// The parsed events of an SSE body: each `data:` payload, `[DONE]` included.
pub async fn sse_events(response: reqwest::Response) -> Vec<String> {
    let text = response.text().await.expect("stream body");
    text.split("\n\n").filter_map(|event| event.strip_prefix("data: ")).map(str::to_owned).collect()
}

/// The assistant text assembled from streamed chat chunks.
pub fn streamed_text(events: &[String]) -> String {
    events
        .iter()
        .filter_map(|event| serde_json::from_str::<Value>(event).ok())
        .filter_map(|chunk| chunk.pointer("/choices/0/delta/content").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// An upstream that accepts one request and never answers, and reports whether the
/// caller hung up: for showing that a cancelled request really is cancelled upstream.
pub struct SilentUpstream {
    /// `http://127.0.0.1:<port>/v1`.
    pub api_base: String,
    /// Resolves with the time the request arrived and whether the connection was closed
    /// by the caller (within 30 s).
    pub outcome: tokio::sync::oneshot::Receiver<(tokio::time::Instant, bool)>,
}

impl SilentUpstream {
    /// Starts listening on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let api_base = format!("http://{}/v1", listener.local_addr().unwrap());
        let (report, outcome) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut buffer = vec![0u8; 64 * 1024];
            // Read the request (its head and body arrive at once on loopback).
            let _ = socket.read(&mut buffer).await;
            let arrived = tokio::time::Instant::now();
            let closed = tokio::time::timeout(Duration::from_secs(30), async {
                loop {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => continue,
                    }
                }
            })
            .await
            .is_ok();
            let _ = report.send((arrived, closed));
            let _ = socket.shutdown().await;
        });
        Self { api_base, outcome }
    }
}
