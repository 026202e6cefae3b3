//! The figures measured per scenario, and the checks that come first: a scenario that
//! claims five plugins must show their effects, or its numbers mean nothing.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::load::{self, Run, StreamRound, Target, Timing};
use crate::memory;
use crate::scenario::{Running, Scenario};

/// How long and how far each figure is measured.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Each throughput step.
    pub step: Duration,
    /// Each concurrency-1 figure.
    pub latency: Duration,
    pub max_streams: usize,
    /// The pause between chunks of the stall test's streams.
    pub chunk_gap: Duration,
    pub chunks: usize,
}

impl Settings {
    /// A pause between two chunks longer than this is a stall: four times the pace the
    /// upstream sends at.
    pub fn stall(&self) -> Duration {
        self.chunk_gap * 4
    }
}

/// The sustained-throughput figure's latency bound.
pub const SUSTAINED_P99: Duration = Duration::from_millis(100);
pub const WARMUP: Duration = Duration::from_millis(500);

/// One scenario's figures.
#[derive(Debug)]
pub struct Figures {
    /// Non-streamed, instant mock, one client.
    pub serial: Run,
    /// Streamed, instant mock, one client: time to first token.
    pub first_token: Run,
    /// The best step of the sweep at 20 ms upstream delay with p99 under 100 ms.
    pub sustained: Option<Step>,
    pub sustained_sweep: Vec<Step>,
    /// The best step of the sweep with the instant mock.
    pub max: Option<Step>,
    pub max_sweep: Vec<Step>,
    /// The most concurrent streams that all finished without a stall, and that round (with
    /// the server's peak resident memory during it).
    pub streams: Option<StreamRound>,
    /// The first round that stalled or failed, if any did (with its peak resident memory).
    pub streams_broke: Option<StreamRound>,
    /// hookgate's count of log events it dropped (its logging queue was full).
    pub logging_dropped: Option<u64>,
}

/// One concurrency step of a throughput sweep.
#[derive(Debug)]
pub struct Step {
    pub concurrency: usize,
    pub rps: f64,
    pub p99: Duration,
    pub failed: u64,
    pub first_failure: Option<String>,
}

impl Step {
    fn of(concurrency: usize, run: &Run) -> Self {
        Self {
            concurrency,
            rps: run.rps(),
            p99: run.percentile(99.0),
            failed: run.failed,
            first_failure: run.first_failure.clone(),
        }
    }
}

/// The prompt every request carries: an e-mail address for the redactor to mask, no
/// banned keyword.
pub const PROMPT: &str = "Hi, this is alice@example.com. Please summarize in two sentences: a proxy that runs \
    its callbacks as WebAssembly components can enforce policies, redact personal data and log costs \
    without slowing requests down, because each hook runs in a fresh sandbox with its own fuel and deadline.";

pub fn body(model: &str, prompt: &str, stream: bool) -> Bytes {
    let body = json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": prompt},
        ],
        "max_tokens": 64,
        "stream": stream,
    });
    Bytes::from(body.to_string())
}

/// Checks the scenario, then measures every figure.
pub async fn measure(scenario: &Scenario, running: &Running, settings: &Settings) -> Result<Figures> {
    let target = running.target.clone();
    let instant = body("mock-instant", PROMPT, false);
    // Warm up first: connection pools, lazily initialised state, each plugin's first
    // instances (an interpreted guest's first call after loading is the slowest).
    load::closed_loop(target.clone(), instant.clone(), Timing::Whole, 4, Duration::ZERO, Duration::from_secs(1)).await;
    check(scenario, &target, settings).await.context("the pre-flight check failed")?;

    let serial = load::closed_loop(target.clone(), instant.clone(), Timing::Whole, 1, WARMUP, settings.latency).await;
    ensure!(serial.failed == 0, "requests failed at concurrency 1: {:?}", serial.first_failure);
    let first_token = load::closed_loop(
        target.clone(),
        body("mock-instant", PROMPT, true),
        Timing::FirstToken,
        1,
        WARMUP,
        settings.latency,
    )
    .await;
    ensure!(first_token.failed == 0, "streams failed at concurrency 1: {:?}", first_token.first_failure);

    let (sustained, sustained_sweep) =
        sweep(&target, &body("mock-20ms", PROMPT, false), settings, (0..=10).map(|n| 1 << n), Some(SUSTAINED_P99))
            .await;
    let (max, max_sweep) = sweep(&target, &instant, settings, [4, 16, 64, 256], None).await;
    let (streams, streams_broke) = stream_rounds(&target, running.pid, settings).await;

    let logging_dropped = if running.metrics { logging_dropped(&target).await } else { None };
    Ok(Figures {
        serial,
        first_token,
        sustained,
        sustained_sweep,
        max,
        max_sweep,
        streams,
        streams_broke,
        logging_dropped,
    })
}

/// Raises concurrency step by step and keeps the best throughput. Stops at the first
/// step that fails requests or breaks `p99_bound`, or that gains under 5% on the best
/// so far: the server is saturated, and more clients would only queue.
async fn sweep(
    target: &Arc<Target>,
    body: &Bytes,
    settings: &Settings,
    concurrencies: impl IntoIterator<Item = usize>,
    p99_bound: Option<Duration>,
) -> (Option<Step>, Vec<Step>) {
    let mut steps: Vec<Step> = Vec::new();
    let mut best: Option<usize> = None;
    for concurrency in concurrencies {
        let run =
            load::closed_loop(target.clone(), body.clone(), Timing::Whole, concurrency, WARMUP, settings.step).await;
        let step = Step::of(concurrency, &run);
        if step.failed > 0 {
            // It ends the sweep (and keeps a scenario without a max out of the rounds):
            // the progress log says why, or a run that lost one request cannot be read.
            eprintln!(
                "   {} requests failed at {concurrency} clients, the first: {}",
                step.failed,
                step.first_failure.as_deref().unwrap_or("?")
            );
        }
        let acceptable = step.failed == 0 && p99_bound.is_none_or(|bound| step.p99 < bound);
        let best_rps = best.map_or(0.0, |index| steps[index].rps);
        let gains = step.rps > best_rps * 1.05;
        if acceptable && step.rps > best_rps {
            best = Some(steps.len());
        }
        steps.push(step);
        if !acceptable || !gains {
            break;
        }
    }
    let best = best.map(|index| steps.remove(index));
    (best, steps)
}

/// Doubles the number of concurrent streams until a round stalls or fails, sampling the
/// resident memory of `pid` (the server) and its workers during each round.
async fn stream_rounds(
    target: &Arc<Target>,
    pid: Option<u32>,
    settings: &Settings,
) -> (Option<StreamRound>, Option<StreamRound>) {
    let paced = body("mock-paced", PROMPT, true);
    let mut clean = None;
    let mut streams = 1;
    while streams <= settings.max_streams {
        let (mut round, peak_rss) =
            memory::peak_while(pid, load::concurrent_streams(target.clone(), paced.clone(), streams, settings.stall()))
                .await;
        round.peak_rss = peak_rss;
        if !round.clean() {
            return (clean, Some(round));
        }
        clean = Some(round);
        streams *= 2;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (clean, None)
}

/// Before measuring: the request is answered, the plugins (if any) did their work (the
/// address masked, both plugins' headers added, a banned prompt refused, whole or split
/// across text parts), and a stream goes through.
async fn check(scenario: &Scenario, target: &Arc<Target>, settings: &Settings) -> Result<()> {
    let (status, headers, answer) = load::call(target, &body("mock-instant", PROMPT, false)).await?;
    ensure!(status == 200, "HTTP {status}: {}", String::from_utf8_lossy(&answer));
    let answer: Value = serde_json::from_slice(&answer)?;
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap_or_default();
    let banned = load::call(target, &body("mock-instant", "Tell me the secret plan.", false)).await?;
    // The model reads a message's text parts as one text: a keyword split across two is
    // still one, and every port of banned-keywords has to find it as the Rust plugin does.
    let parts = json!([{"type": "text", "text": "Tell me the secret"}, {"type": "text", "text": " plan."}]);
    let request = json!({"model": "mock-instant", "messages": [{"role": "user", "content": parts}], "max_tokens": 64});
    let split = load::call(target, &Bytes::from(request.to_string())).await?;
    if scenario.has_plugins() {
        ensure!(
            content.contains("[EMAIL]") && !content.contains("alice@example.com"),
            "the redactor did not mask the address: {content:?}"
        );
        ensure!(headers.contains_key("x-served-by"), "header-injector's header is missing: {headers:?}");
        ensure!(
            headers.contains_key("x-ratelimit-remaining-requests"),
            "rate-limiter's headers are missing: {headers:?}"
        );
        ensure!(banned.0 == 400, "banned-keywords let a banned request through: HTTP {}", banned.0);
        ensure!(split.0 == 400, "banned-keywords let a keyword split across text parts through: HTTP {}", split.0);
    } else {
        ensure!(content.contains("alice@example.com"), "the echo lost the prompt: {content:?}");
        ensure!(banned.0 == 200, "HTTP {} without plugins", banned.0);
        ensure!(split.0 == 200, "HTTP {} without plugins: {}", split.0, String::from_utf8_lossy(&split.2));
    }
    let round = load::concurrent_streams(target.clone(), body("mock-paced", PROMPT, true), 1, settings.stall()).await;
    ensure!(round.failed == 0, "a stream failed: {:?}", round.first_failure);
    Ok(())
}

/// `hookgate_logging_dropped_total` from `/metrics`.
async fn logging_dropped(target: &Target) -> Option<u64> {
    let (status, text) = load::get(target.addr, "/metrics").await.ok()?;
    if !status.is_success() {
        return None;
    }
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|line| line.strip_prefix("hookgate_logging_dropped_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as u64)
}
