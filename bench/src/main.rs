//! `hookgate-bench`: the side-by-side benchmark behind `make bench`.
//!
//! `hookgate-bench run` starts the mock upstream, then each scenario's server in turn
//! (the mock alone, hookgate without plugins, nginx forwarding, hookgate with five Rust
//! plugins, with the same five in Python and in JavaScript, and LiteLLM with five
//! equivalent callbacks),
//! checks that it really runs its plugins, measures it with the built-in load generator,
//! and writes the tables into BENCHMARKS.md. `hookgate-bench mock` serves the mock alone.

mod alternation;
mod figures;
mod load;
mod memory;
mod mock;
mod report;
mod scenario;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::figures::Settings;
use crate::scenario::{Paths, Scenario, Server};

#[derive(Parser)]
#[command(
    name = "hookgate-bench",
    about = "hookgate vs no plugins vs nginx vs LiteLLM, side by side, against one mock upstream"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the mock upstream and prints `mock listening on <addr>`.
    Mock {
        /// Port on 127.0.0.1; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[command(flatten)]
        stream: StreamArgs,
    },
    /// Runs the scenarios and writes the results.
    Run(RunArgs),
    /// Starts the mock and one scenario's server, prints where they listen, and keeps
    /// them up until interrupted: a target for `load` while a profiler watches.
    Serve {
        /// The scenario's letter (see `run --scenarios`).
        scenario: char,
        #[command(flatten)]
        paths: PathArgs,
        #[command(flatten)]
        stream: StreamArgs,
    },
    /// Sends load at one address and prints the throughput and latency percentiles.
    Load {
        /// `host:port` serving `/v1/chat/completions`.
        addr: std::net::SocketAddr,
        /// The model: mock-instant, mock-20ms or mock-paced.
        #[arg(long, default_value = "mock-instant")]
        model: String,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Stream the answers and time the first token.
        #[arg(long)]
        stream: bool,
        /// Send the bench's master key (for a proxy).
        #[arg(long)]
        auth: bool,
    },
    /// Runs one round of the stall test at one address: `count` paced streams started at
    /// the same moment, and how many paused longer than four chunk gaps.
    Streams {
        /// `host:port` serving `/v1/chat/completions`.
        addr: std::net::SocketAddr,
        #[arg(long, default_value_t = 1024)]
        count: usize,
        /// Send the bench's master key (for a proxy).
        #[arg(long)]
        auth: bool,
        /// The pace the served mock streams at (`serve --chunk-gap-ms`).
        #[arg(long, default_value_t = 25)]
        chunk_gap_ms: u64,
    },
}

#[derive(clap::Args, Clone, Copy)]
struct StreamArgs {
    /// Chunks per streamed answer.
    #[arg(long, default_value_t = 20)]
    chunks: usize,
    /// Milliseconds between the chunks of `mock-paced` (the stall test's streams).
    #[arg(long, default_value_t = 25)]
    chunk_gap_ms: u64,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenarios to run, by letter, run and listed in the order given: a direct, b hookgate
    /// without plugins, c five Rust plugins, d five Python plugins, e LiteLLM, f and g as c
    /// and d with `instances: reuse`, h LiteLLM's own callbacks file built into hookgate
    /// plugins, i as h reused, j five JavaScript plugins, k as j reused, n nginx forwarding,
    /// p d's five Python plugins in one component (`hookgate_sdk.Bundle`), q j's five
    /// JavaScript plugins in one component, r h's five callbacks in one component
    /// (`build.py --bundle`).
    /// The default puts n right after b: the two proxies without logic side by side.
    /// Figures are only comparable within one run.
    #[arg(long, default_value = "abncdpefghrijqk")]
    scenarios: String,
    /// The markdown file whose `make bench` section is replaced (created if missing).
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    #[command(flatten)]
    paths: PathArgs,
    /// Server logs of the run go here.
    #[arg(long, default_value = "target/bench-logs")]
    log_dir: PathBuf,
    /// Seconds each throughput step is measured (after half a second of warm-up).
    #[arg(long, default_value_t = 2.5)]
    step_seconds: f64,
    /// Seconds each concurrency-1 figure is measured.
    #[arg(long, default_value_t = 5.0)]
    latency_seconds: f64,
    /// The most concurrent streams the stall test tries.
    #[arg(long, default_value_t = 1024)]
    max_streams: usize,
    #[command(flatten)]
    stream: StreamArgs,
}

/// Where the servers under test and their parts are.
#[derive(clap::Args)]
struct PathArgs {
    /// The hookgate binary under test (a release build).
    #[arg(long, default_value = "target/release/hookgate")]
    hookgate: PathBuf,
    /// Where the guest components are built.
    #[arg(long, env = "HOOKGATE_GUEST_DIR", default_value = "target/wasm32-wasip2/guest")]
    guest_dir: PathBuf,
    #[arg(long, default_value = "target/hookgate-bench-cache")]
    cache_dir: PathBuf,
    #[arg(long, default_value = "target/litellm-venv")]
    litellm_venv: PathBuf,
    #[arg(long, default_value = "bench/litellm")]
    litellm_dir: PathBuf,
    /// The nginx binary (scenario n); by default `nginx` on PATH, else /usr/sbin/nginx,
    /// where Debian installs it, off a normal user's PATH.
    #[arg(long)]
    nginx: Option<PathBuf>,
}

impl PathArgs {
    fn resolve(&self) -> Result<Paths> {
        let absolute =
            |path: &PathBuf| std::path::absolute(path).with_context(|| format!("resolving {}", path.display()));
        Ok(Paths {
            hookgate: absolute(&self.hookgate)?,
            guest_dir: absolute(&self.guest_dir)?,
            cache_dir: absolute(&self.cache_dir)?,
            litellm_venv: absolute(&self.litellm_venv)?,
            litellm_dir: absolute(&self.litellm_dir)?,
            nginx: match &self.nginx {
                Some(path) => absolute(path)?,
                None => on_path("nginx").unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx")),
            },
        })
    }
}

/// Where `program` is on PATH, if it is.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|path| path.is_file())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Mock { port, stream } => runtime.block_on(async {
            let (listener, addr) = mock::bind(port).await?;
            println!("mock listening on {addr}");
            mock::serve(listener, mock_options(stream)).await
        }),
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Serve { scenario, paths, stream } => runtime.block_on(serve(scenario, paths, stream)),
        Command::Load { addr, model, concurrency, seconds, stream, auth } => runtime.block_on(async move {
            let target = Arc::new(load::Target {
                addr,
                authorization: auth.then(|| format!("Bearer {}", scenario::MASTER_KEY)),
            });
            let body = figures::body(&model, figures::PROMPT, stream);
            let timing = if stream { load::Timing::FirstToken } else { load::Timing::Whole };
            let run = load::closed_loop(
                target,
                body,
                timing,
                concurrency,
                Duration::from_millis(500),
                Duration::from_secs_f64(seconds),
            )
            .await;
            println!(
                "{:.0} req/s, p50 {:?}, p99 {:?}, {} failed{}",
                run.rps(),
                run.percentile(50.0),
                run.percentile(99.0),
                run.failed,
                run.first_failure.map(|failure| format!(" (first: {failure})")).unwrap_or_default()
            );
            Ok(())
        }),
        Command::Streams { addr, count, auth, chunk_gap_ms } => runtime.block_on(async move {
            let target = Arc::new(load::Target {
                addr,
                authorization: auth.then(|| format!("Bearer {}", scenario::MASTER_KEY)),
            });
            let paced = figures::body("mock-paced", figures::PROMPT, true);
            let stall = Duration::from_millis(chunk_gap_ms) * 4;
            let round = load::concurrent_streams(target, paced, count, stall).await;
            println!(
                "{} streams: {} clean, {} stalled, {} failed; longest pause {:?}, pause p99 {:?}{}",
                round.streams,
                round.smooth,
                round.stalled,
                round.failed,
                round.max_gap,
                round.gap_p99,
                round.first_failure.map(|failure| format!(" (first failure: {failure})")).unwrap_or_default()
            );
            Ok(())
        }),
    }
}

fn mock_options(stream: StreamArgs) -> mock::MockOptions {
    mock::MockOptions { chunks: stream.chunks, chunk_gap: Duration::from_millis(stream.chunk_gap_ms) }
}

async fn run(args: RunArgs) -> Result<()> {
    let paths = args.paths.resolve()?;
    let scenarios = scenarios(&args.scenarios, &paths)?;
    std::fs::create_dir_all(&args.log_dir)?;
    let log_dir = std::path::absolute(&args.log_dir)?;
    let (mut mock, mock_addr) = start_mock(args.stream).await?;

    let settings = Settings {
        step: Duration::from_secs_f64(args.step_seconds),
        latency: Duration::from_secs_f64(args.latency_seconds),
        max_streams: args.max_streams,
        chunk_gap: Duration::from_millis(args.stream.chunk_gap_ms),
        chunks: args.stream.chunks,
    };
    let began = std::time::Instant::now();
    let mut results = Vec::new();
    for scenario in &scenarios {
        eprintln!("== ({}) {}", scenario.id, scenario.label);
        let running = scenario::start(scenario, &paths, mock_addr, mock.id(), &log_dir).await?;
        let measured = figures::measure(scenario, &running, &settings).await;
        running.stop().await;
        let measured = measured.with_context(|| format!("scenario ({}) {}", scenario.id, scenario.label))?;
        eprintln!("{}", report::one_line(scenario, &measured));
        results.push((scenario.clone(), measured));
    }
    let alternation = alternation::run(&results, &paths, mock_addr, mock.id(), &log_dir, &settings).await?;
    mock.kill().await?;

    let section = report::section(&results, &alternation, &settings, &paths, began.elapsed()).await;
    report::write_section(&args.out, &section)?;
    println!("{section}");
    eprintln!("written to {} in {:.0} s", args.out.display(), began.elapsed().as_secs_f64());
    Ok(())
}

async fn serve(letter: char, paths: PathArgs, stream: StreamArgs) -> Result<()> {
    let paths = paths.resolve()?;
    let [scenario] =
        <[Scenario; 1]>::try_from(scenarios(&letter.to_string(), &paths)?).expect("one letter, one scenario");
    let log_dir = std::env::temp_dir();
    let (mut mock, mock_addr) = start_mock(stream).await?;
    let running = scenario::start(&scenario, &paths, mock_addr, mock.id(), &log_dir).await?;
    println!("mock on {mock_addr}; ({}) {} on {}; Ctrl-C stops both", scenario.id, scenario.label, running.target.addr);
    // A script stops `serve` with SIGTERM more often than a person with Ctrl-C; dying of
    // it would leave the server (in its own process group) and the mock running.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted?,
        _ = terminate.recv() => {}
    }
    running.stop().await;
    mock.kill().await?;
    Ok(())
}

/// Starts the mock as its own process, like a real upstream: its CPU is not the load
/// generator's.
async fn start_mock(stream: StreamArgs) -> Result<(tokio::process::Child, std::net::SocketAddr)> {
    let mut mock = tokio::process::Command::new(std::env::current_exe()?)
        .args(["mock", "--chunks", &stream.chunks.to_string()])
        .args(["--chunk-gap-ms", &stream.chunk_gap_ms.to_string()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(mock.stdout.take().expect("stdout is piped")).lines();
    let addr = match lines.next_line().await? {
        Some(line) if line.starts_with("mock listening on ") => {
            line.trim_start_matches("mock listening on ").parse()?
        }
        other => bail!("the mock did not start: {other:?}"),
    };
    Ok((mock, addr))
}

/// The scenarios picked by letter, in order.
fn scenarios(letters: &str, paths: &Paths) -> Result<Vec<Scenario>> {
    let plugins_in = |language: Language, reuse: bool| -> Result<Server> {
        Ok(Server::Hookgate { plugins: paths.plugins(|name| language.component(name))?, reuse })
    };
    letters
        .chars()
        .map(|id| {
            let (label, server) = match id {
                'a' => ("direct to the mock", Server::Direct),
                'b' => ("hookgate, no plugins", Server::Hookgate { plugins: Vec::new(), reuse: false }),
                'c' => ("hookgate, 5 Rust plugins", plugins_in(Language::Rust, false)?),
                'd' => ("hookgate, 5 Python plugins", plugins_in(Language::Python, false)?),
                'e' => ("LiteLLM, 5 Python callbacks", Server::LiteLlm),
                'p' => (
                    "hookgate, 5 Python plugins in one component (`Bundle`)",
                    Server::Hookgate { plugins: paths.bundle(scenario::BUNDLES[0])?, reuse: false },
                ),
                'q' => (
                    "hookgate, 5 JavaScript plugins in one component (`Bundle`)",
                    Server::Hookgate { plugins: paths.bundle(scenario::BUNDLES[1])?, reuse: false },
                ),
                'f' => ("hookgate, 5 Rust plugins, `instances: reuse`", plugins_in(Language::Rust, true)?),
                'g' => ("hookgate, 5 Python plugins, `instances: reuse`", plugins_in(Language::Python, true)?),
                'h' => (
                    "hookgate, LiteLLM's 5 callbacks built unchanged",
                    Server::Hookgate { plugins: paths.litellm_handlers()?, reuse: false },
                ),
                'r' => (
                    "hookgate, LiteLLM's 5 callbacks built unchanged into one component (`--bundle`)",
                    Server::Hookgate { plugins: paths.litellm_bundle()?, reuse: false },
                ),
                'i' => (
                    "hookgate, LiteLLM's 5 callbacks built unchanged, `instances: reuse`",
                    Server::Hookgate { plugins: paths.litellm_handlers()?, reuse: true },
                ),
                'j' => ("hookgate, 5 JavaScript plugins", plugins_in(Language::JavaScript, false)?),
                'k' => ("hookgate, 5 JavaScript plugins, `instances: reuse`", plugins_in(Language::JavaScript, true)?),
                'n' => ("nginx reverse proxy, no logic", Server::Nginx),
                other => bail!("unknown scenario {other:?}: use letters a to k, n, p, q or r"),
            };
            Ok(Scenario { id, label, server })
        })
        .collect()
}

/// The language a scenario's five plugins are written in.
#[derive(Clone, Copy)]
enum Language {
    Rust,
    Python,
    JavaScript,
}

impl Language {
    /// The file stem of a plugin's component in this language: the example under
    /// `plugins/` where that is written in this language, else the bench's port of it,
    /// `<name>_<rs|py|js>` (from `bench/plugins/`, `bench/plugins-py/`, `bench/plugins-js/`).
    fn component(self, name: &str) -> String {
        let (examples, suffix): (&[&str], &str) = match self {
            Language::Rust => (&["rate-limiter", "banned-keywords", "header-injector"], "rs"),
            Language::Python => (&["pii-redactor"], "py"),
            Language::JavaScript => (&["cost-logger"], "js"),
        };
        let stem = name.replace('-', "_");
        if examples.contains(&name) {
            stem
        } else {
            format!("{stem}_{suffix}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_language_takes_its_examples_and_ports_the_rest() {
        let stems = |language: Language| scenario::PLUGINS.map(|(name, _)| language.component(name));
        assert_eq!(
            stems(Language::Rust),
            ["rate_limiter", "pii_redactor_rs", "banned_keywords", "header_injector", "cost_logger_rs"]
        );
        assert_eq!(
            stems(Language::Python),
            ["rate_limiter_py", "pii_redactor", "banned_keywords_py", "header_injector_py", "cost_logger_py"]
        );
        assert_eq!(
            stems(Language::JavaScript),
            ["rate_limiter_js", "pii_redactor_js", "banned_keywords_js", "header_injector_js", "cost_logger"]
        );
    }
}
