//! The scenarios: what serves the requests (the mock itself, hookgate with a set of
//! plugins, the LiteLLM proxy, or nginx forwarding), started as real processes on
//! loopback ports.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::load::Target;

/// The plugins every plugin scenario runs, in priority order: (name, what it exercises).
pub const PLUGINS: [(&str, &str); 5] = [
    ("rate-limiter", "pre-call + post-call-success, in-memory kv"),
    ("pii-redactor", "pre-call + post-call-success + stream-chunk"),
    ("banned-keywords", "pre-call + post-call-success + stream-chunk"),
    ("header-injector", "post-call-success"),
    ("cost-logger", "log-success"),
];

/// What serves the requests in one scenario.
#[derive(Clone, Debug)]
pub enum Server {
    /// The mock upstream itself: the baseline every "added" figure subtracts.
    Direct,
    /// `hookgate serve` with these plugin components, by name (see [`PLUGINS`]); with
    /// `reuse`, every plugin runs with `instances: reuse`.
    Hookgate { plugins: Vec<(&'static str, PathBuf)>, reuse: bool },
    /// The LiteLLM proxy with its five `CustomLogger` callbacks.
    LiteLlm,
    /// nginx as a plain reverse proxy to the mock: what forwarding alone costs, the floor
    /// for any proxy's overhead.
    Nginx,
}

/// One column of the comparison.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The scenario's letter, as in BENCHMARKS.md (see `run --scenarios`).
    pub id: char,
    pub label: &'static str,
    pub server: Server,
}

impl Scenario {
    /// Whether requests pass through the five plugins (or callbacks).
    pub fn has_plugins(&self) -> bool {
        match &self.server {
            Server::Direct | Server::Nginx => false,
            Server::Hookgate { plugins, .. } => !plugins.is_empty(),
            Server::LiteLlm => true,
        }
    }
}

/// Where the bench finds what it runs.
#[derive(Clone, Debug)]
pub struct Paths {
    pub hookgate: PathBuf,
    /// Built guest components (`target/wasm32-wasip2/guest`).
    pub guest_dir: PathBuf,
    /// hookgate's compiled-artifact cache, kept between runs: the Python guests take
    /// seconds each to compile.
    pub cache_dir: PathBuf,
    pub litellm_venv: PathBuf,
    /// `bench/litellm`: its config and callbacks.
    pub litellm_dir: PathBuf,
    /// The nginx binary; it may be missing when scenario n is not run.
    pub nginx: PathBuf,
}

/// LiteLLM's five callbacks (`bench/litellm/custom_callbacks.py`, scenario e), each handler
/// built unchanged into a hookgate plugin named as LiteLLM's `callbacks:` names it, in
/// the order of [`PLUGINS`].
pub const LITELLM_HANDLERS: [&str; 5] = [
    "custom_callbacks.rate_limiter",
    "custom_callbacks.pii_redactor",
    "custom_callbacks.banned_keywords",
    "custom_callbacks.header_injector",
    "custom_callbacks.cost_logger",
];

/// The five plugins in one component (the SDKs' `Bundle`), in Python (scenario p) and
/// JavaScript (q), as `make bench-guests` builds `bench/plugins-py-bundle` and
/// `bench/plugins-js-bundle`; a bundle's config holds the five's by name.
pub const BUNDLES: [&str; 2] = ["five-py", "five-js"];

/// LiteLLM's five callbacks built unchanged into one component (`build.py --bundle`,
/// scenario r), in the order of [`LITELLM_HANDLERS`], as `make bench-guests` builds it.
pub const LITELLM_BUNDLE: &str = "bench-callbacks";

impl Paths {
    /// One of [`BUNDLES`], as the plugin of that name.
    pub fn bundle(&self, name: &'static str) -> Result<Vec<(&'static str, PathBuf)>> {
        Ok(vec![self.built(name, format!("{}.wasm", name.replace('-', "_")))?])
    }

    /// The five plugins as built components in `guest_dir`; `file_of` maps a plugin's
    /// name to its component's file stem there (one language's build of it).
    pub fn plugins(&self, file_of: impl Fn(&str) -> String) -> Result<Vec<(&'static str, PathBuf)>> {
        PLUGINS.iter().map(|(name, _)| self.built(name, format!("{}.wasm", file_of(name)))).collect()
    }

    /// [`LITELLM_BUNDLE`], as the plugin of that name (`guest_dir/litellm/bench-callbacks.wasm`).
    pub fn litellm_bundle(&self) -> Result<Vec<(&'static str, PathBuf)>> {
        Ok(vec![self.built(LITELLM_BUNDLE, format!("litellm/{LITELLM_BUNDLE}.wasm"))?])
    }

    /// LiteLLM's five callbacks as hookgate plugins (`guest_dir/litellm/<module>.<handler>.wasm`).
    pub fn litellm_handlers(&self) -> Result<Vec<(&'static str, PathBuf)>> {
        LITELLM_HANDLERS.iter().map(|name| self.built(name, format!("litellm/{name}.wasm"))).collect()
    }

    fn built(&self, name: &'static str, file: String) -> Result<(&'static str, PathBuf)> {
        let path = self.guest_dir.join(file);
        if !path.is_file() {
            bail!("{} is not built (run `make bench`, which builds the guests first)", path.display());
        }
        Ok((name, path))
    }
}

/// A scenario's server, running. Stopped (its process group killed) on drop.
pub struct Running {
    pub target: Arc<Target>,
    /// hookgate's `/metrics`, to read how many log events it dropped.
    pub metrics: bool,
    /// The process serving `target`, whose memory the stream test samples: the server's
    /// own, or for (a) the mock's (started and stopped by the caller, not with the scenario).
    pub pid: Option<u32>,
    process: Option<Child>,
    _work: Option<tempfile::TempDir>,
}

/// The master key of the proxies under test: not a public default (LiteLLM refuses
/// `sk-1234`).
pub const MASTER_KEY: &str = "sk-bench-5e0c1f7a9b";

/// Starts the scenario's server in front of the mock at `mock`, whose process is `mock_pid`.
pub async fn start(
    scenario: &Scenario,
    paths: &Paths,
    mock: std::net::SocketAddr,
    mock_pid: Option<u32>,
    log_dir: &Path,
) -> Result<Running> {
    match &scenario.server {
        Server::Direct => Ok(Running {
            target: Arc::new(Target { addr: mock, authorization: None }),
            metrics: false,
            pid: mock_pid,
            process: None,
            _work: None,
        }),
        Server::Hookgate { plugins, reuse } => start_hookgate(scenario, plugins, *reuse, paths, mock, log_dir).await,
        Server::LiteLlm => start_litellm(scenario, paths, mock, log_dir).await,
        Server::Nginx => start_nginx(scenario, paths, mock, log_dir).await,
    }
}

async fn start_hookgate(
    scenario: &Scenario,
    plugins: &[(&'static str, PathBuf)],
    reuse: bool,
    paths: &Paths,
    mock: std::net::SocketAddr,
    log_dir: &Path,
) -> Result<Running> {
    let work = tempfile::Builder::new().prefix("hookgate-bench-").tempdir()?;
    let plugin_dir = work.path().join("plugins");
    std::fs::create_dir(&plugin_dir)?;
    for (name, file) in plugins {
        std::fs::copy(file, plugin_dir.join(format!("{name}.wasm")))
            .with_context(|| format!("copying {}", file.display()))?;
    }
    let config = work.path().join("config.yaml");
    std::fs::write(&config, hookgate_config(plugins, reuse, mock, &plugin_dir, &paths.cache_dir))?;
    let log = log_dir.join(format!("{}-hookgate.log", scenario.id));
    let mut command = Command::new(&paths.hookgate);
    command.args(["serve", "--port", "0", "--config"]).arg(&config);
    command.stdout(Stdio::piped()).stderr(std::fs::File::create(&log)?);
    let mut child = spawn(command)?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    // Loading compiles each plugin, or reads it from the artifact cache.
    let first = tokio::time::timeout(Duration::from_secs(300), lines.next_line()).await;
    let addr = match first {
        Ok(Ok(Some(line))) if line.starts_with("hookgate listening on http://") => {
            line.trim_start_matches("hookgate listening on http://").parse()?
        }
        _ => bail!("hookgate did not start; see {}", log.display()),
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Running {
        target: Arc::new(Target { addr, authorization: Some(format!("Bearer {MASTER_KEY}")) }),
        metrics: true,
        pid: child.id(),
        process: Some(child),
        _work: Some(work),
    })
}

/// The hookgate config of a scenario: the mock's three models (priced, so cost-logger
/// has a cost to log), the plugins configured like `examples/config.yaml` with a rate
/// limit no run reaches, and room for the stall test's streams.
fn hookgate_config(
    plugins: &[(&'static str, PathBuf)],
    reuse: bool,
    mock: std::net::SocketAddr,
    plugin_dir: &Path,
    cache: &Path,
) -> String {
    let models: String = ["mock-instant", "mock-20ms", "mock-paced"]
        .iter()
        .map(|model| {
            format!(
                "  - model_name: {model}\n    litellm_params: {{model: openai/{model}, api_base: \"http://{mock}/v1\", api_key: sk-mock}}\n    \
                 model_info: {{input_cost_per_token: 0.00000015, output_cost_per_token: 0.0000006}}\n"
            )
        })
        .collect();
    let names: Vec<&str> = plugins.iter().map(|(name, _)| *name).collect();
    let instances = if reuse { "instances: reuse, " } else { "" };
    // (name, priority, config): the bundle of the five takes their configs by name.
    let plugins_settings = [
        ("rate-limiter", 0, Some("{requests_per_minute: 100000000, per: key}")),
        ("pii-redactor", 5, None),
        (
            "banned-keywords",
            10,
            Some("{keywords: [forbidden, secret plan], message: This request mentions a topic we do not serve.}"),
        ),
        ("header-injector", 20, Some("{headers: {x-served-by: hookgate, x-policy: banned-keywords-v1}}")),
        ("cost-logger", 30, None),
    ];
    let members: Vec<String> = plugins_settings
        .iter()
        .filter_map(|(name, _, config)| config.map(|config| format!("{name}: {config}")))
        .collect();
    let settings = plugins_settings
        .iter()
        .map(|(name, priority, config)| {
            let config = config.map(|config| format!(", config: {config}")).unwrap_or_default();
            (*name, format!("priority: {priority}{config}"))
        })
        // One call runs up to three members' hooks: five plugins' default fuel (50 million each).
        .chain(
            BUNDLES.map(|bundle| (bundle, format!("priority: 0, fuel: 250000000, config: {{{}}}", members.join(", ")))),
        )
        .chain([(LITELLM_BUNDLE, "priority: 0, fuel: 250000000".to_string())])
        // LiteLLM's handlers take no config: they run in the order of `callbacks`.
        .chain(
            LITELLM_HANDLERS.iter().filter(|name| names.contains(name)).map(|name| (*name, "priority: 0".to_string())),
        )
        // 500 ms, not the default 100: an interpreted guest's very first call after loading
        // can take longer than 100 ms while the machine is loaded; no measured call comes near it.
        .map(|(name, settings)| format!("    {name}: {{timeout_ms: 500, {instances}{settings}}}\n"))
        .collect::<String>();
    // Sized for the stall test's 1,024 streams: the defaults admit 1,024 connections
    // and 1,000 live plugin instances, and each stream holds one connection and, for the
    // whole stream, one instance of each of its five plugins.
    format!(
        "model_list:\n{models}\
         general_settings:\n  master_key: {MASTER_KEY}\n  max_connections: 4096\n\
         litellm_settings:\n  callbacks: {names:?}\n\
         plugins:\n  dir: {dir}\n  cache_dir: {cache}\n  watch: false\n  max_instances: 8192\n  settings:\n{settings}",
        dir = plugin_dir.display(),
        cache = cache.display(),
    )
}

async fn start_litellm(
    scenario: &Scenario,
    paths: &Paths,
    mock: std::net::SocketAddr,
    log_dir: &Path,
) -> Result<Running> {
    let port = free_port()?;
    let log = log_dir.join(format!("{}-litellm.log", scenario.id));
    let mut command = Command::new(paths.litellm_venv.join("bin/litellm"));
    command
        .current_dir(&paths.litellm_dir)
        .args(["--config", "config.yaml", "--host", "127.0.0.1", "--num_workers", "2", "--port"])
        .arg(port.to_string())
        // The settings LiteLLM's docs give for throughput; a master key that is not a
        // public default.
        .env("LITELLM_LOG", "ERROR")
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_MASTER_KEY", MASTER_KEY)
        .env("BENCH_MOCK_API_BASE", format!("http://{mock}/v1"))
        .env("BENCH_MOCK_API_KEY", "sk-mock")
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log.with_extension("err.log"))?);
    let child = spawn(command)?;
    let running = Running {
        target: Arc::new(Target {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            authorization: Some(format!("Bearer {MASTER_KEY}")),
        }),
        metrics: false,
        pid: child.id(),
        process: Some(child),
        _work: None,
    };
    until_live(running, "/health/liveliness", Duration::from_secs(180), &log).await.context("LiteLLM did not start")
}

async fn start_nginx(
    scenario: &Scenario,
    paths: &Paths,
    mock: std::net::SocketAddr,
    log_dir: &Path,
) -> Result<Running> {
    if !paths.nginx.is_file() {
        bail!(
            "{} is not there: install nginx with `sh bench/nginx/setup.sh` (`make bench` does), or pass --nginx",
            paths.nginx.display()
        );
    }
    let work = tempfile::Builder::new().prefix("hookgate-bench-nginx-").tempdir()?;
    // Started as root, nginx runs its workers as `nobody`, who must reach the temp paths.
    std::fs::set_permissions(work.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let port = free_port()?;
    let log = log_dir.join(format!("{}-nginx.log", scenario.id));
    let config = work.path().join("nginx.conf");
    std::fs::write(&config, nginx_config(work.path(), &log, port, mock))?;
    let mut command = Command::new(&paths.nginx);
    // `-e`: the log nginx writes to before it has read the config, which would otherwise
    // be the one compiled in, under /var/log.
    command.arg("-p").arg(work.path()).arg("-c").arg(&config).arg("-e").arg(&log);
    command.args(["-g", "daemon off;"]);
    command.stdout(Stdio::null()).stderr(std::fs::File::create(log.with_extension("err.log"))?);
    let child = spawn(command)?;
    let running = Running {
        target: Arc::new(Target { addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)), authorization: None }),
        metrics: false,
        pid: child.id(),
        process: Some(child),
        _work: Some(work),
    };
    until_live(running, "/live", Duration::from_secs(30), &log).await.context("nginx did not start")
}

/// nginx's config for scenario n: forwarding to the mock as nginx's docs advise for a
/// keep-alive upstream, no logic, and every file it writes under `work` (none under /var).
fn nginx_config(work: &Path, log: &Path, port: u16, mock: std::net::SocketAddr) -> String {
    format!(
        r#"# Written by hookgate-bench for scenario n.
# Two workers, as LiteLLM gets two (`--num_workers 2`).
worker_processes 2;
error_log {log} warn;
pid {work}/nginx.pid;
events {{
    # The stream test holds up to --max-streams streams, two connections each (client and
    # mock), possibly all in one worker.
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    # Each load client keeps one connection for the whole run; nginx's default closes it
    # after 1000 requests, which the load generator would count as a failed request.
    keepalive_requests 1000000;
    upstream mock {{
        server {mock};
        # Idle connections to the mock kept per worker, reused as hookgate and LiteLLM
        # reuse theirs.
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        # For the bench to see that nginx is up.
        location = /live {{
            return 204;
        }}
        location / {{
            proxy_pass http://mock;
            # Keep-alive to the upstream needs HTTP/1.1 without `Connection: close`.
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # A stream's chunks go out as they arrive, not when a buffer fills.
            proxy_buffering off;
        }}
    }}
}}
"#,
        work = work.display(),
        log = log.display(),
    )
}

/// Waits until `running` answers `path` with a success, for at most `within`; gives up at
/// once if its process exits (a bad config, a port taken), and stops it on failure.
async fn until_live(mut running: Running, path: &str, within: Duration, log: &Path) -> Result<Running> {
    let began = Instant::now();
    let failure = loop {
        if let Ok((status, _)) = crate::load::get(running.target.addr, path).await {
            if status.is_success() {
                return Ok(running);
            }
        }
        if let Some(status) = running.process.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
            break format!("it exited ({status})");
        }
        if began.elapsed() >= within {
            break format!("it did not answer {path} within {} s", within.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    running.stop().await;
    bail!("{failure}; see {}", log.display())
}

/// Starts `command` in its own process group, so stopping it also stops its workers
/// (LiteLLM forks one per core).
fn spawn(mut command: Command) -> Result<Child> {
    command.process_group(0).kill_on_drop(true).stdin(Stdio::null());
    let program = command.as_std().get_program().to_owned();
    command.spawn().with_context(|| format!("starting {}", program.to_string_lossy()))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Running {
    /// Stops the server and its workers, and waits for them to go.
    pub async fn stop(mut self) {
        let Some(mut child) = self.process.take() else { return };
        if let Some(pid) = child.id() {
            let group = format!("-{pid}");
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status().await;
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            // Whatever of the group outlived the polite request (a worker) goes now.
            let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status().await;
        }
        let _ = child.wait().await;
    }
}
