//! The soak run: many requests at once against the example plugins and the adversarial
//! test plugins, mixing every kind of traffic a gateway meets, while checking that the
//! guardrails hold for every single request and that the proxy's resources come back.
//!
//! `make soak` runs it in full (20,000 requests, results in RELIABILITY.md); `make test`
//! runs a shorter variant. Both go through [`run`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::proxy::{example_proxy, Proxy, README_MASTER_KEY};

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Requests in all.
    pub requests: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Seeds the traffic mix.
    pub seed: u64,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Requests sent, by kind.
    pub by_kind: std::collections::BTreeMap<&'static str, usize>,
    /// Answers by status.
    pub by_status: std::collections::BTreeMap<u16, usize>,
    /// A banned prompt that was served, or an address or number that came back unmasked.
    pub bypasses: Vec<String>,
    /// A 5xx no configuration asked for (the traffic has no failing model).
    pub unexpected_5xx: Vec<String>,
    /// Any other answer that is not what its kind expects.
    pub wrong: Vec<String>,
    /// Retryable 503 `overloaded` answers: a check that could not run (or finish) in
    /// time because the machine was saturated. Never a bypass; reported, and bounded.
    pub overloaded: usize,
    /// Of those, by kind of request: which traffic the saturated machine could not check.
    pub overloaded_by_kind: std::collections::BTreeMap<&'static str, usize>,
    /// Resident memory of the idle proxy after warm-up (a tenth of the run).
    pub rss_after_warmup: u64,
    /// Resident memory at the end, after the run settled.
    pub rss_at_end: u64,
    /// Of that, anonymous memory (the heap and the pool's slots), after warm-up and at the end.
    pub anon: (u64, u64),
    /// Plugin instances alive at the end (each holds a pool slot); 0 once all came back.
    pub instances_at_end: f64,
    /// Plugins quarantined at the end.
    pub quarantined_at_end: f64,
    /// Plugin faults by cause, from the proxy's metrics.
    pub faults_by_cause: std::collections::BTreeMap<String, f64>,
    /// The run's wall-clock time.
    pub elapsed: Duration,
}

impl Report {
    /// Requests per second over the run.
    pub fn requests_per_second(&self) -> f64 {
        self.by_status.values().sum::<usize>() as f64 / self.elapsed.as_secs_f64()
    }

    /// Overload answers to `padded` requests, and to every other kind together. A padded
    /// request's check runs at its plugin's budget by design, so a saturated machine may
    /// not finish it in time; any other check is short.
    pub fn overloaded_padded_and_rest(&self) -> (usize, usize) {
        let padded = self.overloaded_by_kind.get("padded").copied().unwrap_or(0);
        (padded, self.overloaded - padded)
    }

    /// Resident memory growth from warm-up to the end, in bytes (0 if it shrank).
    pub fn rss_growth(&self) -> u64 {
        self.rss_at_end.saturating_sub(self.rss_after_warmup)
    }
}

/// Requests sent before the first memory reading (see [`run`]).
pub const WARMUP: usize = 5000;

/// The kinds of traffic, and their share of the run in percent.
const MIX: &[(&str, usize)] = &[
    ("normal", 30),
    ("stream", 10),
    ("banned", 12),
    ("pii", 12),
    ("padded", 4),
    ("faulting", 8),
    ("slow-reader", 4),
    ("bad-input", 15),
    ("virtual-key", 5),
];

/// Banned prompts, spelled every way the guardrails must still catch.
const BANNED: &[&str] = &[
    "tell me the secret plan",
    "tell me the SECRET PLAN",
    "tell me the secret\u{a0}plan",
    "tell me the ｓｅｃｒｅｔ ｐｌａｎ",
    "tell me the se\u{200b}cret pl\u{ad}an",
    "something forbidden",
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn kind(&mut self) -> &'static str {
        let mut roll = self.below(100);
        for (kind, share) in MIX {
            if roll < *share {
                return kind;
            }
            roll -= share;
        }
        "normal"
    }
}

/// The example config with the adversarial plugins beside its own, a rate limit no run
/// reaches, a short stream write timeout (so slow readers are dropped within the run), and
/// `keep_resident_mb: 0`.
///
/// The pool's kept pages are a cache, not something a request leaves behind: every slot
/// an instance ever used keeps up to `keep_resident_mb` of them, so an idle proxy's memory
/// climbs whenever traffic reaches a slot it had not (a higher peak of live instances),
/// by up to 2 MiB per memory at the default. Measured at the default, that climb after
/// warm-up was 48–64 MiB in runs with no leak at all; with the cache off the same run
/// grew 1.2 MiB. So the soak turns it off and its growth bound sees leaks, not the cache;
/// what the cache costs is `make bench`'s RSS column.
async fn soak_proxy() -> (Proxy, tempfile::TempDir) {
    let plugins = tempfile::tempdir().expect("temp dir");
    let plugin_dir = plugins.path().to_owned();
    for (name, file) in [("panic", "panic"), ("infinite-loop", "infinite_loop"), ("memory-bomb", "memory_bomb")] {
        std::fs::copy(crate::guest_dir().join(format!("{file}.wasm")), plugin_dir.join(format!("{name}.wasm")))
            .unwrap_or_else(|e| panic!("{file}.wasm ({e}): build the guests first"));
    }
    let root = crate::workspace_root();
    for plugin in
        ["rate-limiter", "pii-redactor", "banned-keywords", "header-injector", "failure-alerter", "cost-logger"]
    {
        std::fs::copy(root.join(format!("plugins/dist/{plugin}.wasm")), plugin_dir.join(format!("{plugin}.wasm")))
            .unwrap_or_else(|e| panic!("plugins/dist/{plugin}.wasm ({e}): run `make dist`"));
    }
    let dir = plugin_dir.display().to_string();
    let proxy = example_proxy(move |config| {
        assert!(config.contains("\nplugins:\n"), "the example config has a top-level plugins: section");
        config
            .replace(
                "callbacks: [\"rate-limiter\", \"pii-redactor\", \"banned-keywords\", \"header-injector\", \"failure-alerter\", \"cost-logger\"]",
                "callbacks: [\"rate-limiter\", \"pii-redactor\", \"banned-keywords\", \"header-injector\", \"failure-alerter\", \"cost-logger\", \"panic\", \"infinite-loop\", \"memory-bomb\"]",
            )
            .replace(&format!("dir: '{}'", crate::workspace_root().join("plugins/dist").display()), &format!("dir: '{dir}'"))
            .replace("requests_per_minute: 60", "requests_per_minute: 1000000000")
            .replace("\nplugins:\n", "\nplugins:\n  keep_resident_mb: 0\n")
            .replace("  enforce_user_param: false\n", "  enforce_user_param: false\n  stream_write_timeout_seconds: 1\n")
            .replace(
                "model_list:\n",
                "model_list:\n  - {model_name: mock-long, litellm_params: {model: mock/long, mock_stream_chunks: 400, mock_chunk_delay_ms: 2}}\n",
            )
    })
    .await;
    (proxy, plugins)
}

/// Runs `plan` against a fresh soak proxy: a warm-up, a pause until the proxy is idle
/// (every instance back, the allocator's purge done) to read its memory, the rest of the
/// requests, and the same pause and reading at the end. Both readings are of an idle
/// proxy, so their difference is what the run left behind.
///
/// The warm-up is [`WARMUP`] requests (half a short run): the allocator's and the
/// plugins' own steady state (caches, arenas, the kv store) is reached in it, and a leak
/// keeps climbing after it. The pool's kept pages are off in the soak (see
/// `soak_proxy`).
pub async fn run(plan: Plan) -> Report {
    let (proxy, _plugins) = soak_proxy().await;
    let proxy = Arc::new(proxy);
    let report = Arc::new(Mutex::new(Report::default()));
    let warmup = WARMUP.min(plan.requests / 2);
    let started = Instant::now();
    traffic(&proxy, &report, plan, 0..warmup).await;
    settle(&proxy).await;
    let rss_after_warmup = proxy.rss_bytes();
    let anon_after_warmup = proxy.status_bytes("RssAnon");
    eprintln!(
        "after warm-up: anon {} MiB, file {} MiB, shmem {} MiB",
        proxy.status_bytes("RssAnon") >> 20,
        proxy.status_bytes("RssFile") >> 20,
        proxy.status_bytes("RssShmem") >> 20
    );
    traffic(&proxy, &report, plan, warmup..plan.requests).await;
    let elapsed = started.elapsed();
    let instances_at_end = settle(&proxy).await;
    let mut report = Arc::try_unwrap(report).expect("workers are done").into_inner().unwrap();
    report.rss_after_warmup = rss_after_warmup;
    report.rss_at_end = proxy.rss_bytes();
    report.anon = (anon_after_warmup, proxy.status_bytes("RssAnon"));
    eprintln!(
        "at the end: anon {} MiB, file {} MiB, shmem {} MiB",
        proxy.status_bytes("RssAnon") >> 20,
        proxy.status_bytes("RssFile") >> 20,
        proxy.status_bytes("RssShmem") >> 20
    );
    report.instances_at_end = instances_at_end;
    report.quarantined_at_end = proxy.metric(r#"hookgate_plugins{state="quarantined"}"#).await;
    report.elapsed = elapsed;
    let metrics = proxy.client().get(format!("{}/metrics", proxy.base)).send().await.unwrap().text().await.unwrap();
    for line in metrics.lines().filter(|line| line.starts_with("hookgate_plugin_faults_total{")) {
        let cause = line.split("cause=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("?").to_owned();
        let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        *report.faults_by_cause.entry(cause).or_default() += value;
    }
    let log = proxy.log();
    let panics: Vec<&str> = log
        .lines()
        .filter(|line| {
            line.contains("panicked at") && !line.contains("hookgate::guest") && !line.contains("guest_stderr=")
        })
        .collect();
    assert!(panics.is_empty(), "the proxy panicked: {panics:#?}");
    report
}

/// Sends requests `range` of `plan` from `plan.concurrency` workers, recording each
/// outcome in `report`.
async fn traffic(proxy: &Arc<Proxy>, report: &Arc<Mutex<Report>>, plan: Plan, range: std::ops::Range<usize>) {
    let next = Arc::new(AtomicUsize::new(range.start));
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|worker| {
            let (proxy, report, next, end) = (Arc::clone(proxy), Arc::clone(report), Arc::clone(&next), range.end);
            tokio::spawn(async move {
                let seed = plan.seed.wrapping_mul(0x9e37_79b9).wrapping_add((range.start + worker) as u64 + 1);
                let mut rng = Rng(seed);
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= end {
                        return;
                    }
                    let kind = rng.kind();
                    let outcome = one(&proxy, kind, n, &mut rng).await;
                    let mut report = report.lock().unwrap();
                    *report.by_kind.entry(kind).or_default() += 1;
                    *report.by_status.entry(outcome.status).or_default() += 1;
                    match outcome.verdict {
                        Verdict::Fine => {}
                        Verdict::Bypass(why) => report.bypasses.push(why),
                        Verdict::Unexpected5xx(why) => report.unexpected_5xx.push(why),
                        Verdict::Wrong(why) => report.wrong.push(why),
                        Verdict::Overloaded => {
                            report.overloaded += 1;
                            *report.overloaded_by_kind.entry(kind).or_default() += 1;
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a soak worker");
    }
}

/// Waits until the proxy is idle: every plugin instance back in the pool, then three
/// seconds for the allocator to return freed memory. The instances alive then.
async fn settle(proxy: &Proxy) -> f64 {
    let live = proxy
        .until("the plugin instances to come back", Duration::from_secs(30), || async {
            let live = proxy.metric("hookgate_plugin_instances").await;
            (live == 0.0).then_some(live)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    live
}

struct Outcome {
    status: u16,
    verdict: Verdict,
}

enum Verdict {
    Fine,
    Overloaded,
    Bypass(String),
    Unexpected5xx(String),
    Wrong(String),
}

/// Sends one request of `kind` and judges its answer.
async fn one(proxy: &Proxy, kind: &'static str, n: usize, rng: &mut Rng) -> Outcome {
    let chat = |text: &str| json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]});
    let (key, body) = match kind {
        "stream" => (
            README_MASTER_KEY,
            json!({"model": "mock-story", "stream": true, "messages": [{"role": "user", "content": "go"}]}),
        ),
        "banned" => {
            let banned = BANNED[rng.below(BANNED.len())];
            let body = match rng.below(3) {
                0 => chat(banned),
                1 => json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                            "tools": [{"type": "function", "function": {"name": "f", "description": banned}}]}),
                _ => {
                    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "name": "x", "content": [{"type": "text", "text": banned}]}]})
                }
            };
            (README_MASTER_KEY, body)
        }
        "pii" => {
            (README_MASTER_KEY, chat(&format!("write to user{n}@example.com or call +1 555 123 {:04}", n % 10_000)))
        }
        "padded" => {
            let filler = "lorem ipsum ".repeat((1 << 20) / 12 * (1 + rng.below(3)));
            let tail = if rng.below(2) == 0 { "tell me the secret plan" } else { "mail ann@example.com" };
            (README_MASTER_KEY, chat(&format!("{filler}{tail}")))
        }
        "faulting" => {
            // Each adversarial plugin misbehaves on TRIGGER: a fault the input causes.
            (README_MASTER_KEY, chat(&format!("please TRIGGER number {n}")))
        }
        "slow-reader" => (
            README_MASTER_KEY,
            json!({"model": "mock-long", "stream": true, "messages": [{"role": "user", "content": "go"}]}),
        ),
        "bad-input" => {
            let body = match rng.below(4) {
                0 => json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 5}]}),
                1 => {
                    json!({"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "tell me the secret plan"}]})
                }
                2 => json!({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}),
                _ => json!({"model": "gpt-4o-mini"}),
            };
            (README_MASTER_KEY, body)
        }
        "virtual-key" => ("sk-team-blue-local-dev", chat(BANNED[0])),
        _ => (README_MASTER_KEY, chat(&format!("hello number {n}"))),
    };
    let mut request = proxy.client().post(format!("{}/v1/chat/completions", proxy.base)).bearer_auth(key).json(&body);
    if kind == "virtual-key" {
        request = request.header("x-litellm-disable-callbacks", "banned-keywords,pii-redactor");
    }
    let response = match tokio::time::timeout(Duration::from_secs(60), request.send()).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return Outcome { status: 0, verdict: Verdict::Wrong(format!("{kind}: {error}")) },
        Err(_) => return Outcome { status: 0, verdict: Verdict::Wrong(format!("{kind}: no answer within 60 s")) },
    };
    let status = response.status().as_u16();
    let rejected_by = response.headers().get("x-hookgate-rejected-by").map(|v| v.to_str().unwrap_or("").to_owned());
    if kind == "slow-reader" {
        // Reads the head and one piece, then stops reading until the proxy drops it.
        let mut stream = response.bytes_stream();
        use futures_util::StreamExt;
        let _ = stream.next().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        drop(stream);
        let verdict = match status {
            200 => Verdict::Fine,
            503 => Verdict::Overloaded,
            _ => Verdict::Wrong(format!("slow-reader: {status}")),
        };
        return Outcome { status, verdict };
    }
    let text = match tokio::time::timeout(Duration::from_secs(60), response.text()).await {
        Ok(Ok(text)) => text,
        _ => return Outcome { status, verdict: Verdict::Wrong(format!("{kind}: the body did not arrive")) },
    };
    let verdict = judge(kind, status, rejected_by.as_deref(), &text, n);
    Outcome { status, verdict }
}

/// Whether an answer is what its kind of request must get.
fn judge(kind: &str, status: u16, rejected_by: Option<&str>, text: &str, n: usize) -> Verdict {
    if status == 503 && text.contains(r#""code":"overloaded""#) {
        return Verdict::Overloaded;
    }
    if status >= 500 {
        return Verdict::Unexpected5xx(format!("{kind}: {status} {}", crate::truncate(text, 300)));
    }
    let content = || -> Option<String> {
        let body: Value = serde_json::from_str(text).ok()?;
        Some(body["choices"][0]["message"]["content"].as_str()?.to_owned())
    };
    match kind {
        "banned" | "virtual-key" => match status {
            400 if rejected_by == Some("banned-keywords") => Verdict::Fine,
            200 => Verdict::Bypass(format!("{kind}: a banned prompt was served: {}", crate::truncate(text, 300))),
            _ => Verdict::Wrong(format!("{kind}: {status} by {rejected_by:?}: {}", crate::truncate(text, 300))),
        },
        "pii" => match status {
            200 => match content() {
                Some(content)
                    if content.contains("@example.com") || content.contains(&format!("{:04}", n % 10_000)) =>
                {
                    Verdict::Bypass(format!("pii came back unmasked: {content}"))
                }
                Some(content) if content.contains("[EMAIL]") && content.contains("[PHONE]") => Verdict::Fine,
                other => Verdict::Wrong(format!("pii: {other:?}")),
            },
            _ => Verdict::Wrong(format!("pii: {status} {}", crate::truncate(text, 300))),
        },
        "padded" => match status {
            400..=499 if rejected_by.is_some() => Verdict::Fine,
            200 => match content() {
                Some(content) if content.contains("secret plan") || content.contains("@example.com") => {
                    Verdict::Bypass("a padded prompt came back unchecked".into())
                }
                _ => Verdict::Fine,
            },
            _ => Verdict::Wrong(format!("padded: {status} {}", crate::truncate(text, 300))),
        },
        "faulting" => match status {
            400 if text.contains("plugin_check_failed") => Verdict::Fine,
            200 => Verdict::Bypass(format!(
                "a request that made a plugin fault was served: {}",
                crate::truncate(text, 200)
            )),
            _ => Verdict::Wrong(format!("faulting: {status} {}", crate::truncate(text, 300))),
        },
        "bad-input" => match status {
            400 if rejected_by.is_none() => Verdict::Fine,
            _ => Verdict::Wrong(format!("bad-input: {status} by {rejected_by:?}")),
        },
        "stream" => match status {
            200 if text.ends_with("data: [DONE]\n\n") && text.contains("Once upon") => Verdict::Fine,
            _ => Verdict::Wrong(format!("stream: {status} {}", crate::truncate(text, 300))),
        },
        _ => match (status, content()) {
            (200, Some(content)) if content == format!("hello number {n}") => Verdict::Fine,
            other => Verdict::Wrong(format!("normal: {other:?}")),
        },
    }
}

/// The report as a Markdown section.
pub fn markdown(plan: &Plan, report: &Report) -> String {
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let mut out = String::new();
    out.push_str(&format!(
        "{} requests at concurrency {}, seed {}, in {:.1} s: {:.0} req/s.\n\n",
        plan.requests,
        plan.concurrency,
        plan.seed,
        report.elapsed.as_secs_f64(),
        report.requests_per_second()
    ));
    out.push_str("| check | result | target |\n| --- | --: | --: |\n");
    out.push_str(&format!(
        "| guardrail bypasses (a banned prompt served, PII unmasked, a faulting request served) | {} | 0 |\n",
        report.bypasses.len()
    ));
    out.push_str(&format!("| unexpected 5xx | {} | 0 |\n", report.unexpected_5xx.len()));
    out.push_str(&format!("| other wrong answers | {} | 0 |\n", report.wrong.len()));
    let (padded, rest) = report.overloaded_padded_and_rest();
    out.push_str(&format!(
        "| retryable overload answers (503 `overloaded`: a check the saturated machine could not finish in time), padded requests | {padded} | ≤ half of them |\n"
    ));
    out.push_str(&format!("| the same, every other kind | {rest} | ≤ 1 % of all |\n"));
    out.push_str(&format!(
        "| resident memory after warm-up → at the end | {:.0} → {:.0} MiB (+{:.1}) | growth < 50 MiB |\n",
        mib(report.rss_after_warmup),
        mib(report.rss_at_end),
        mib(report.rss_growth())
    ));
    out.push_str(&format!(
        "| of which anonymous (heap, pool slots) | {:.0} → {:.0} MiB | |\n",
        mib(report.anon.0),
        mib(report.anon.1)
    ));
    out.push_str(&format!("| plugin instances alive at the end | {} | 0 |\n", report.instances_at_end));
    out.push_str(&format!("| plugins quarantined at the end | {} | 0 |\n", report.quarantined_at_end));
    out.push_str(&format!(
        "\nTraffic by kind: {:?}\n\nAnswers by status: {:?}\n\nOverload answers by kind: {:?}\n\nPlugin faults by cause: {:?}\n",
        report.by_kind, report.by_status, report.overloaded_by_kind, report.faults_by_cause
    ));
    out
}
