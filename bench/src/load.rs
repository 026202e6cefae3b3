//! The load generator: closed-loop clients, one persistent HTTP/1.1 connection per unit
//! of concurrency, timing every request; and rounds of concurrent streams that time every
//! gap between chunks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Barrier;

/// Where requests go: an address serving `POST /v1/chat/completions`.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Authorization` header value, if the target wants one.
    pub authorization: Option<String>,
}

impl Target {
    fn request(&self, body: &Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::post("/v1/chat/completions")
            .header(HOST, self.addr.to_string())
            .header(CONTENT_TYPE, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        request.body(Full::new(body.clone())).expect("static request parts are valid")
    }
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender> {
    let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One request answered in full, for the checks before a scenario is measured.
pub async fn call(target: &Target, body: &Bytes) -> Result<(StatusCode, HeaderMap, Bytes)> {
    let mut sender = connect(target.addr).await?;
    sender.ready().await?;
    let response = sender.send_request(target.request(body)).await?;
    let (parts, body) = response.into_parts();
    Ok((parts.status, parts.headers, body.collect().await?.to_bytes()))
}

/// A GET without a body, e.g. a health or metrics endpoint: its status and body.
pub async fn get(addr: SocketAddr, path: &str) -> Result<(StatusCode, Bytes)> {
    let mut sender = connect(addr).await?;
    sender.ready().await?;
    let request = Request::get(path).header(HOST, addr.to_string()).body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// What a closed-loop run measured.
#[derive(Debug, Default)]
pub struct Run {
    /// Latencies of the successful requests that finished in the measured window, sorted.
    pub latencies: Vec<Duration>,
    pub failed: u64,
    pub measured: Duration,
    pub first_failure: Option<String>,
}

impl Run {
    /// Successful requests per second over the measured window.
    pub fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.measured.as_secs_f64()
    }

    /// The `p`-th percentile (0–100) by nearest rank; zero when nothing succeeded.
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }
}

/// The `p`-th percentile (0–100) of sorted durations, by nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What each request's latency is taken to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// Until the whole answer is read.
    Whole,
    /// Until the first chunk carrying text (a streamed request's time to first token);
    /// the rest of the stream is still read.
    FirstToken,
}

/// `concurrency` clients sending `body` back to back for `warmup + measure`; only
/// requests that finish inside the measured window count.
pub async fn closed_loop(
    target: Arc<Target>,
    body: Bytes,
    timing: Timing,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> Run {
    let window_start = Instant::now() + warmup;
    let window_end = window_start + measure;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let target = target.clone();
            let body = body.clone();
            tokio::spawn(async move { client(&target, &body, timing, window_start, window_end).await })
        })
        .collect();
    let mut run = Run { measured: measure, ..Run::default() };
    for worker in workers {
        let part = worker.await.expect("a load client panicked");
        run.latencies.extend(part.latencies);
        run.failed += part.failed;
        run.first_failure = run.first_failure.or(part.first_failure);
    }
    run.latencies.sort_unstable();
    run
}

async fn client(target: &Target, body: &Bytes, timing: Timing, window_start: Instant, window_end: Instant) -> Run {
    let mut run = Run::default();
    let mut sender: Option<Sender> = None;
    while Instant::now() < window_end {
        let began = Instant::now();
        let outcome = match sender.as_mut() {
            Some(sender) => exchange(sender, target, body, timing).await,
            None => match connect(target.addr).await {
                Ok(connected) => {
                    sender = Some(connected);
                    continue;
                }
                Err(error) => Err(error),
            },
        };
        let finished = Instant::now();
        let counted = finished >= window_start && finished < window_end;
        match outcome {
            Ok(latency) if counted => run.latencies.push(latency.unwrap_or(finished - began)),
            Ok(_) => {}
            Err(error) => {
                // The connection may be gone (or never came up): start a fresh one, after
                // a pause so a refusing target is not hammered.
                sender = None;
                if counted {
                    run.failed += 1;
                    run.first_failure.get_or_insert_with(|| format!("{error:#}"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    run
}

/// Sends one request and reads the whole answer. Returns the time to first token when
/// `timing` asks for it; an answer other than 200 is an error.
async fn exchange(sender: &mut Sender, target: &Target, body: &Bytes, timing: Timing) -> Result<Option<Duration>> {
    let began = Instant::now();
    sender.ready().await?;
    let response = sender.send_request(target.request(body)).await?;
    let status = response.status();
    let mut body = response.into_body();
    let mut first_token = None;
    let mut read = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        if timing == Timing::FirstToken && first_token.is_none() && carries_text(&data) {
            first_token = Some(began.elapsed());
        }
        if status != StatusCode::OK && read.len() < 512 {
            read.extend_from_slice(&data);
        }
    }
    if status != StatusCode::OK {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&read));
    }
    if timing == Timing::FirstToken && first_token.is_none() {
        bail!("the stream carried no text");
    }
    Ok(first_token)
}

/// Whether SSE data holds a chunk with non-empty `content` (`"content":"x` or, from
/// Python's JSON, `"content": "x`).
pub fn carries_text(data: &[u8]) -> bool {
    const KEY: &[u8] = b"\"content\":";
    let mut rest = data;
    while let Some(at) = rest.windows(KEY.len()).position(|window| window == KEY) {
        rest = &rest[at + KEY.len()..];
        let value = rest.iter().position(|&byte| byte != b' ').map(|skip| &rest[skip..]).unwrap_or_default();
        if value.len() >= 2 && value[0] == b'"' && value[1] != b'"' {
            return true;
        }
    }
    false
}

/// A round of concurrent streams.
#[derive(Debug, Default)]
pub struct StreamRound {
    pub streams: usize,
    /// Streams that ended with `[DONE]` and never paused longer than the stall limit.
    pub smooth: usize,
    /// Streams that ended with `[DONE]` but paused longer than the stall limit.
    pub stalled: usize,
    pub failed: usize,
    /// The longest pause between two chunks of any stream.
    pub max_gap: Duration,
    /// The 99th percentile of all pauses between chunks.
    pub gap_p99: Duration,
    pub first_failure: Option<String>,
    /// The server's highest resident memory while the round ran, in bytes, as sampled by
    /// whoever ran the round (see [`crate::memory::peak_while`]); `None` if not sampled.
    pub peak_rss: Option<u64>,
}

impl StreamRound {
    /// Every stream finished without a stall.
    pub fn clean(&self) -> bool {
        self.smooth == self.streams
    }
}

/// Opens `streams` connections, then starts one streamed request on each at the same
/// moment, timing the pauses between chunks once text has started to flow.
pub async fn concurrent_streams(target: Arc<Target>, body: Bytes, streams: usize, stall: Duration) -> StreamRound {
    let start = Arc::new(Barrier::new(streams));
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let (target, body, start) = (target.clone(), body.clone(), start.clone());
            tokio::spawn(async move {
                let sender = connect(target.addr).await;
                start.wait().await;
                let mut sender = sender?;
                tokio::time::timeout(Duration::from_secs(60), one_stream(&mut sender, &target, &body))
                    .await
                    .context("the stream did not end within 60 s")?
            })
        })
        .collect();
    let mut round = StreamRound { streams, ..StreamRound::default() };
    let mut gaps = Vec::new();
    for task in tasks {
        match task.await.expect("a stream client panicked") {
            Ok(stream_gaps) => {
                let longest = stream_gaps.iter().copied().max().unwrap_or_default();
                round.max_gap = round.max_gap.max(longest);
                if longest > stall {
                    round.stalled += 1;
                } else {
                    round.smooth += 1;
                }
                gaps.extend(stream_gaps);
            }
            Err(error) => {
                round.failed += 1;
                round.first_failure.get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }
    gaps.sort_unstable();
    round.gap_p99 = percentile(&gaps, 99.0);
    round
}

/// One streamed request; the pauses between data frames after the first text.
async fn one_stream(sender: &mut Sender, target: &Target, body: &Bytes) -> Result<Vec<Duration>> {
    sender.ready().await?;
    let response = sender.send_request(target.request(body)).await?;
    if response.status() != StatusCode::OK {
        let status = response.status();
        let text = response.into_body().collect().await?.to_bytes();
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&text[..text.len().min(512)]));
    }
    let mut body = response.into_body();
    let mut gaps = Vec::new();
    let mut last_text: Option<Instant> = None;
    let mut tail = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        let now = Instant::now();
        match last_text {
            Some(previous) => gaps.push(now - previous),
            None if carries_text(&data) => {}
            None => continue,
        }
        last_text = Some(now);
        tail = data.to_vec();
    }
    if !tail.windows(6).any(|window| window == b"[DONE]") {
        bail!("the stream ended without [DONE]");
    }
    Ok(gaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&sorted[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn text_is_found_in_compact_and_python_json() {
        assert!(carries_text(br#"data: {"delta":{"content":"Hi"}}"#));
        assert!(carries_text(br#"data: {"delta": {"role": "assistant", "content": "Hi"}}"#));
        assert!(!carries_text(br#"data: {"delta":{"content":""}}"#));
        assert!(!carries_text(br#"data: {"delta":{"content":null}}"#));
        assert!(!carries_text(b"data: [DONE]"));
    }
}
