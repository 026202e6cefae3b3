//! The results as markdown: the side-by-side table with its ratios, the targets, and the
//! sweeps behind each figure; written between markers in BENCHMARKS.md so a rerun
//! replaces its own section and leaves the others alone.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::alternation::{self, median, Alternation};
use crate::figures::{Figures, Settings, Step, SUSTAINED_P99};
use crate::memory;
use crate::scenario::{Paths, Scenario, PLUGINS};

const BEGIN: &str = "<!-- make bench: begin (written by hookgate-bench; edits here are overwritten) -->";
const END: &str = "<!-- make bench: end -->";

/// A scenario's figures in one line, for the progress log.
pub fn one_line(scenario: &Scenario, figures: &Figures) -> String {
    format!(
        "({}) c=1 p50 {} p99 {} | TTFT p99 {} | sustained {} | max {} | streams {} (peak RSS {})",
        scenario.id,
        ms(figures.serial.percentile(50.0)),
        ms(figures.serial.percentile(99.0)),
        ms(figures.first_token.percentile(99.0)),
        figures.sustained.as_ref().map_or("none".into(), step),
        figures.max.as_ref().map_or("none".into(), step),
        figures.streams.as_ref().map_or(0, |round| round.streams),
        mib(figures.streams.as_ref().and_then(|round| round.peak_rss)),
    )
}

fn step(step: &Step) -> String {
    format!("{:.0} rps at c={} (p99 {})", step.rps, step.concurrency, ms(step.p99))
}

fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.3} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// Bytes in whole MiB, or n/a when not measured.
fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |bytes| format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0)))
}

/// The numbers each column of the main table is made of, per scenario.
struct Row {
    p50: Duration,
    p99: Duration,
    ttft_p99: Duration,
    sustained: f64,
    max: f64,
    streams: usize,
    /// The server's peak resident memory in the round of `streams`.
    rss: Option<u64>,
}

impl Row {
    fn of(figures: &Figures) -> Self {
        Self {
            p50: figures.serial.percentile(50.0),
            p99: figures.serial.percentile(99.0),
            ttft_p99: figures.first_token.percentile(99.0),
            sustained: figures.sustained.as_ref().map_or(0.0, |step| step.rps),
            max: figures.max.as_ref().map_or(0.0, |step| step.rps),
            streams: figures.streams.as_ref().map_or(0, |round| round.streams),
            rss: figures.streams.as_ref().and_then(|round| round.peak_rss),
        }
    }
}

/// Time added over the direct baseline, or the absolute time when there is none.
fn added(value: Duration, base: Option<Duration>) -> String {
    match base {
        Some(base) if value >= base => ms(value - base),
        Some(base) => format!("−{}", ms(base - value)),
        None => format!("{} (absolute)", ms(value)),
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b <= 0.0 {
        return "n/a".into();
    }
    let r = a / b;
    if r == 0.0 {
        "0×".into()
    } else if r >= 10.0 {
        format!("{r:.0}×")
    } else if r >= 0.1 {
        format!("{r:.2}×")
    } else {
        format!("{r:.4}×")
    }
}

/// The whole BENCHMARKS.md section of a run.
pub async fn section(
    results: &[(Scenario, Figures)],
    alternation: &Alternation,
    settings: &Settings,
    paths: &Paths,
    took: Duration,
) -> String {
    let find = |id: char| results.iter().find(|(scenario, _)| scenario.id == id).map(|(_, figures)| Row::of(figures));
    let direct = find('a');
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(out, "## Side by side: hookgate, hookgate without plugins, nginx, LiteLLM (`make bench`)\n");
    let _ = writeln!(out, "{}\n", run_facts(paths, took).await);
    let _ = writeln!(out, "{}\n", method(settings));

    let _ = writeln!(
        out,
        "| scenario | added latency p50, c=1 | added latency p99, c=1 | sustained req/s, 20 ms upstream, p99 < {} | max req/s, instant upstream | concurrent streams without a stall | RSS at the most clean streams | added TTFT p99, c=1 |",
        ms(SUSTAINED_P99)
    );
    let _ = writeln!(out, "| --- | --: | --: | --: | --: | --: | --: | --: |");
    for (scenario, figures) in results {
        let row = Row::of(figures);
        let base = |pick: fn(&Row) -> Duration| direct.as_ref().filter(|_| scenario.id != 'a').map(pick);
        let (p50, p99, ttft) = if scenario.id == 'a' {
            (
                format!("{} (absolute)", ms(row.p50)),
                format!("{} (absolute)", ms(row.p99)),
                format!("{} (absolute)", ms(row.ttft_p99)),
            )
        } else {
            (
                added(row.p50, base(|r| r.p50)),
                added(row.p99, base(|r| r.p99)),
                added(row.ttft_p99, base(|r| r.ttft_p99)),
            )
        };
        let streams =
            if figures.streams_broke.is_none() { format!("≥ {}", row.streams) } else { row.streams.to_string() };
        let _ = writeln!(
            out,
            "| ({}) {} | {p50} | {p99} | {:.0} | {:.0} | {streams} | {} | {ttft} |",
            scenario.id,
            scenario.label,
            row.sustained,
            row.max,
            mib(row.rss)
        );
    }
    let pairs = [
        ('b', 'n', "hookgate without plugins ÷ nginx"),
        ('c', 'e', "Rust plugins ÷ LiteLLM"),
        ('d', 'e', "Python plugins ÷ LiteLLM"),
        ('p', 'e', "Python plugins in one component ÷ LiteLLM"),
        ('p', 'd', "Python plugins in one component ÷ in five"),
        ('j', 'e', "JS plugins ÷ LiteLLM"),
        ('q', 'e', "JS plugins in one component ÷ LiteLLM"),
        ('q', 'j', "JS plugins in one component ÷ in five"),
        ('c', 'b', "Rust plugins ÷ no plugins"),
        ('f', 'e', "Rust plugins, reused ÷ LiteLLM"),
        ('g', 'e', "Python plugins, reused ÷ LiteLLM"),
        ('k', 'e', "JS plugins, reused ÷ LiteLLM"),
        ('f', 'b', "Rust plugins, reused ÷ no plugins"),
        ('h', 'e', "LiteLLM's callbacks in hookgate ÷ in LiteLLM"),
        ('r', 'e', "LiteLLM's callbacks in one component ÷ in LiteLLM"),
        ('r', 'h', "LiteLLM's callbacks in one component ÷ in five"),
        ('i', 'e', "LiteLLM's callbacks in hookgate, reused ÷ in LiteLLM"),
    ];
    for (a, b, what) in pairs {
        let (Some(x), Some(y)) = (find(a), find(b)) else { continue };
        let added_of = |row: &Row, pick: fn(&Row) -> Duration| {
            direct.as_ref().map_or(pick(row), |d| pick(row).saturating_sub(pick(d))).as_secs_f64()
        };
        // Memory at different numbers of streams would compare the loads, not the servers.
        let rss = match (x.rss, y.rss) {
            (Some(x_rss), Some(y_rss)) if x.streams == y.streams => ratio(x_rss as f64, y_rss as f64),
            _ => "n/a".into(),
        };
        let _ = writeln!(
            out,
            "| **({a}) ÷ ({b})**: {what} | {} | {} | {} | {} | {} | {rss} | {} |",
            ratio(added_of(&x, |r| r.p50), added_of(&y, |r| r.p50)),
            ratio(added_of(&x, |r| r.p99), added_of(&y, |r| r.p99)),
            ratio(x.sustained, y.sustained),
            ratio(x.max, y.max),
            ratio(x.streams as f64, y.streams as f64),
            ratio(added_of(&x, |r| r.ttft_p99), added_of(&y, |r| r.ttft_p99)),
        );
    }
    let _ = writeln!(
        out,
        "\nLatency and memory ratios below 1× and throughput ratios above 1× favour the left-hand scenario; \
         memory is compared only at the same number of streams.\n"
    );

    alternated(&mut out, alternation, settings);
    targets(&mut out, &find, alternation);
    details(&mut out, results);
    let _ = writeln!(out, "{END}");
    out
}

/// What one of issue 18's targets asks of a scenario.
#[derive(Clone, Copy)]
enum Goal {
    /// Max req/s at least `times` that of scenario `of`.
    Max { of: char, times: f64 },
    /// Added p50 at c=1 (over the direct scenario) at most this.
    AddedP50(Duration),
    /// At least this many concurrent streams, all clean.
    Streams(usize),
    /// Peak resident memory at the most clean streams at most this many bytes.
    Rss(u64),
}

/// The targets of issue 18: what is asked, of which scenario, and the goal.
const TARGETS: [(&str, char, Goal); 14] = [
    ("hookgate without plugins: max req/s ≥ 80% of nginx's", 'b', Goal::Max { of: 'n', times: 0.8 }),
    ("5 Rust plugins, fresh: max req/s ≥ 50% of no plugins'", 'c', Goal::Max { of: 'b', times: 0.5 }),
    ("5 Rust plugins, reused: max req/s ≥ 80% of no plugins'", 'f', Goal::Max { of: 'b', times: 0.8 }),
    ("5 Rust plugins, fresh: added p50 at c=1 ≤ 0.2 ms", 'c', Goal::AddedP50(Duration::from_micros(200))),
    ("5 Rust plugins, reused: added p50 at c=1 ≤ 0.1 ms", 'f', Goal::AddedP50(Duration::from_micros(100))),
    ("5 Rust plugins, fresh: max req/s ≥ 100× LiteLLM's", 'c', Goal::Max { of: 'e', times: 100.0 }),
    ("5 Python plugins, fresh: max req/s ≥ 3× LiteLLM's", 'd', Goal::Max { of: 'e', times: 3.0 }),
    // The same five in one component: one interpreter a request, not five.
    ("5 Python plugins in one component, fresh: max req/s ≥ 3× LiteLLM's", 'p', Goal::Max { of: 'e', times: 3.0 }),
    ("5 Python plugins, reused: max req/s ≥ 30× LiteLLM's", 'g', Goal::Max { of: 'e', times: 30.0 }),
    // The issue asks for JavaScript to be measured the same way as Python.
    ("5 JavaScript plugins, fresh: max req/s ≥ 3× LiteLLM's", 'j', Goal::Max { of: 'e', times: 3.0 }),
    ("5 JavaScript plugins in one component, fresh: max req/s ≥ 3× LiteLLM's", 'q', Goal::Max { of: 'e', times: 3.0 }),
    ("5 JavaScript plugins, reused: max req/s ≥ 30× LiteLLM's", 'k', Goal::Max { of: 'e', times: 30.0 }),
    ("1,024 concurrent streams with chunk hooks, no stall", 'c', Goal::Streams(1024)),
    ("peak RSS at the most clean streams ≤ 1 GiB", 'c', Goal::Rss(1 << 30)),
];

impl Goal {
    /// The scenario the goal measures against, if any.
    fn against(self) -> Option<char> {
        match self {
            Goal::Max { of, .. } => Some(of),
            Goal::AddedP50(_) => Some('a'),
            Goal::Streams(_) | Goal::Rss(_) => None,
        }
    }

    /// The measured value as shown, and whether it meets the goal; `None` without the
    /// scenario measured against.
    fn judge(self, row: &Row, against: Option<&Row>) -> Option<(String, bool)> {
        Some(match self {
            Goal::Max { times, .. } => {
                let of = against?;
                if of.max <= 0.0 {
                    ("n/a".into(), false)
                } else {
                    let share = row.max / of.max;
                    // A share of the other's as a percentage, a multiple of it as a ratio.
                    let shown = if times < 1.0 { format!("{:.0}%", share * 100.0) } else { ratio(row.max, of.max) };
                    (shown, share >= times)
                }
            }
            Goal::AddedP50(at_most) => {
                // As the main table's column shows it.
                let direct = against?;
                (added(row.p50, Some(direct.p50)), row.p50.saturating_sub(direct.p50) <= at_most)
            }
            Goal::Streams(at_least) => (format!("{} clean", row.streams), row.streams >= at_least),
            Goal::Rss(at_most) => {
                (format!("{} at {} streams", mib(row.rss), row.streams), row.rss.is_some_and(|bytes| bytes <= at_most))
            }
        })
    }

    /// The median over the alternated rounds, shown with each round's value, and whether
    /// it meets the goal; `None` when the rounds did not serve both scenarios.
    fn judge_alternated(self, id: char, rounds: &Alternation) -> Option<(String, bool)> {
        match self {
            Goal::Max { of, times } => {
                let ratios = rounds.max_ratios(id, of)?;
                let share = |value: f64| if times < 1.0 { format!("{:.0}%", value * 100.0) } else { ratio(value, 1.0) };
                let middle = median(&ratios)?;
                let each: Vec<String> = ratios.iter().map(|&value| share(value)).collect();
                Some((format!("{} (rounds: {})", share(middle), each.join(", ")), middle >= times))
            }
            Goal::AddedP50(at_most) => {
                let added = rounds.added_p50s(id)?;
                let middle = median(&added)?;
                let each: Vec<String> = added.iter().map(|&value| ms(value)).collect();
                Some((format!("{} (rounds: {})", ms(middle), each.join(", ")), middle <= at_most))
            }
            Goal::Streams(_) | Goal::Rss(_) => None,
        }
    }
}

/// The targets table, with a row for each target whose scenarios ran. A target whose two
/// scenarios were served in the alternated rounds is judged on their median, with the
/// sweeps' figure beside it.
fn targets(out: &mut String, find: &dyn Fn(char) -> Option<Row>, rounds: &Alternation) {
    let row_of = |(what, id, goal): (&str, char, Goal)| {
        let row = find(id)?;
        let against = match goal.against() {
            Some(other) => Some(find(other)?),
            None => None,
        };
        let (swept, swept_met) = goal.judge(&row, against.as_ref())?;
        let (measured, met) = match goal.judge_alternated(id, rounds) {
            Some((median, met)) => (format!("{median}; sweeps: {swept}"), met),
            None => (swept, swept_met),
        };
        let scenarios = goal.against().map_or(format!("({id})"), |other| format!("({id}) vs ({other})"));
        Some(format!("| {what} | {scenarios} | {measured} | {} |", yes(met)))
    };
    let rows: Vec<String> = TARGETS.into_iter().filter_map(row_of).collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Targets (issue 18)\n");
    let _ = writeln!(out, "| target | scenario | measured | met |\n| --- | --- | --: | --- |");
    let _ = writeln!(out, "{}\n", rows.join("\n"));
    let _ = writeln!(
        out,
        "Targets from issue 18; where both scenarios were served in the alternated rounds, the figure \
         judged is the median of the rounds. The ones missed are discussed below the generated section.\n"
    );
}

/// The alternated rounds' table: each scenario's figures round by round.
fn alternated(out: &mut String, rounds: &Alternation, settings: &Settings) {
    if rounds.scenarios.is_empty() {
        return;
    }
    let step = settings.step.as_secs_f64();
    let _ = writeln!(out, "### Alternated rounds\n");
    let _ = writeln!(
        out,
        "After the sweeps, {} rounds in which the scenarios below are served again one after another, \
         each as in its sweep (its own server, started afresh and warmed up for 1 s): one client for \
         {step} s, then, for {step} s, the number of clients its max sweep found best. Each ratio is \
         taken within a round, where its two sides ran seconds apart, so a drift of the machine's speed \
         over the run falls on both; the targets below judge the median round.\n",
        alternation::ROUNDS
    );
    let _ =
        writeln!(out, "| scenario | p50, c=1, per round | max req/s per round | clients |\n| --- | --: | --: | --: |");
    for served in &rounds.scenarios {
        let p50s: Vec<String> = served.rounds.iter().map(|sample| ms(sample.p50)).collect();
        let rps: Vec<String> = served
            .rounds
            .iter()
            .map(|sample| match sample.failed {
                0 => format!("{:.0}", sample.rps),
                failed => format!("{:.0} ({failed} failed)", sample.rps),
            })
            .collect();
        let _ = writeln!(out, "| ({}) | {} | {} | {} |", served.id, p50s.join(" / "), rps.join(" / "), served.clients);
    }
    let _ = writeln!(out);
}

fn yes(met: bool) -> &'static str {
    if met {
        "yes"
    } else {
        "**no**"
    }
}

fn details(out: &mut String, results: &[(Scenario, Figures)]) {
    let _ = writeln!(out, "### Behind each figure\n");
    let _ = writeln!(out, "| scenario | c=1 p50 / p99 | TTFT p50 / p99 | 20 ms upstream: req/s (p99) per concurrency | instant upstream: req/s (p99) per concurrency | streams | log events dropped |");
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --: |");
    for (scenario, figures) in results {
        let sweep = |best: &Option<Step>, rest: &[Step]| {
            let mut steps: Vec<&Step> = rest.iter().chain(best.iter()).collect();
            steps.sort_by_key(|step| step.concurrency);
            steps
                .iter()
                .map(|step| {
                    let failed = if step.failed > 0 {
                        format!(
                            ", {} failed: {}",
                            step.failed,
                            step.first_failure.as_deref().unwrap_or("?").replace('|', "/")
                        )
                    } else {
                        String::new()
                    };
                    format!("c={}: {:.0} ({}{failed})", step.concurrency, step.rps, ms(step.p99))
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let streams = {
            let ok = figures.streams.as_ref().map_or("none clean".into(), |round| {
                format!(
                    "{} clean (longest pause {}, pause p99 {}, peak RSS {})",
                    round.streams,
                    ms(round.max_gap),
                    ms(round.gap_p99),
                    mib(round.peak_rss)
                )
            });
            match &figures.streams_broke {
                Some(round) => format!(
                    "{ok}; at {}: {} stalled, {} failed (longest pause {}, peak RSS {}){}",
                    round.streams,
                    round.stalled,
                    round.failed,
                    ms(round.max_gap),
                    mib(round.peak_rss),
                    round
                        .first_failure
                        .as_deref()
                        .map(|f| format!(", first failure: {}", f.replace('|', "/")))
                        .unwrap_or_default()
                ),
                None => ok,
            }
        };
        let _ = writeln!(
            out,
            "| ({}) | {} / {} | {} / {} | {} | {} | {} | {} |",
            scenario.id,
            ms(figures.serial.percentile(50.0)),
            ms(figures.serial.percentile(99.0)),
            ms(figures.first_token.percentile(50.0)),
            ms(figures.first_token.percentile(99.0)),
            sweep(&figures.sustained, &figures.sustained_sweep),
            sweep(&figures.max, &figures.max_sweep),
            streams,
            figures.logging_dropped.map_or("n/a".into(), |n| n.to_string()),
        );
    }
    let _ = writeln!(out);
}

fn method(settings: &Settings) -> String {
    let plugins: Vec<String> = PLUGINS.iter().map(|(name, hooks)| format!("`{name}` ({hooks})")).collect();
    format!(
        "**How:** every scenario calls the same mock upstream (`hookgate-bench mock`, its own process) over \
         loopback HTTP/1.1; the load generator is `hookgate-bench` itself, one persistent connection per \
         client, clients sending back to back (closed loop). The load generator, the mock and the server \
         under test share the machine's cores. (n) is nginx as a plain reverse proxy, no logic: \
         `proxy_pass` to the mock through an `upstream` block with `keepalive 64`, HTTP/1.1 upstream, \
         `proxy_buffering off`, `worker_processes 2`, no access log (the floor for a proxy's overhead). \
         The five plugins are {plugins}; (c) runs the Rust builds, \
         (d) the Python builds (componentize-py), (j) the JavaScript builds (componentize-js), each on a \
         fresh instance per request (the default); where a plugin's original is in another language, \
         the build is the bench's port of it, with the same config and behaviour (`bench/plugins`, \
         `bench/plugins-py`, `bench/plugins-js`). (p) is (d)'s five Python plugins in one component, \
         one plugin to hookgate (`hookgate_sdk.Bundle`, `bench/plugins-py-bundle`): one interpreter a \
         request instead of five, on a fresh instance; (q) is the same for (j)'s five JavaScript plugins \
         (`bench/plugins-js-bundle`). (f), (g) and (k) are (c), (d) and (j) with every plugin \
         set to `instances: reuse` (warm instances); (e) five `CustomLogger` callbacks doing the same \
         (`bench/litellm/custom_callbacks.py`), with LiteLLM run as its docs advise for throughput: \
         `--num_workers 2` (one per core), `LITELLM_LOG=ERROR`, `LITELLM_LOCAL_MODEL_COST_MAP=True`; \
         (h) is that same file, unchanged, built by `hookgate plugin build --handler` into five plugins \
         (docs/litellm-migration.md), (r) the same five built by `--bundle` into one plugin, one \
         interpreter a request, and (i) is (h) with `instances: reuse`. Each \
         server is first checked: with plugins, the prompt's e-mail address comes back masked, \
         header-injector's and rate-limiter's headers are present, and a banned prompt gets 400, \
         also with the keyword split across two text parts of the message. \
         *Added* = the scenario's percentile minus the direct one. *c=1*: one client, {latency:.0} s. \
         *Sustained*: clients doubled from 1 against a 20 ms upstream, {step} s per step; the best req/s \
         whose p99 stays under {bound}. *Max*: 4, 16, 64, 256 clients, instant upstream, the best req/s. \
         Sweeps stop once a step gains under 5%. *Streams*: rounds of 1, 2, 4, … concurrent streams of \
         {chunks} chunks {gap} apart, all started at once; a round is clean when every stream ends with \
         `[DONE]` and no pause between its chunks exceeds {stall}. *RSS*: the resident memory (VmRSS \
         from /proc) of the server's process and its descendants, summed (nginx's and LiteLLM's workers; \
         a page they share counts once per process), read every {sample} ms while a stream round runs, \
         the highest reading kept: sampled, so a peak shorter than that can be missed. For (a) it is the \
         mock's; elsewhere the mock is not counted. *TTFT*: one client streaming from the \
         instant upstream, time to the first chunk with text.",
        plugins = plugins.join(", "),
        latency = settings.latency.as_secs_f64(),
        step = settings.step.as_secs_f64(),
        bound = ms(SUSTAINED_P99),
        chunks = settings.chunks,
        gap = ms(settings.chunk_gap),
        stall = ms(settings.stall()),
        sample = memory::SAMPLE_EVERY.as_millis(),
    )
}

/// The date, the machine and the versions, as far as they can be read.
async fn run_facts(paths: &Paths, took: Duration) -> String {
    let output = |program: &str, args: &[&str]| {
        let (program, args) = (program.to_owned(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        async move {
            tokio::process::Command::new(program)
                .args(args)
                .output()
                .await
                .ok()
                .filter(|out| out.status.success())
                // `nginx -v` writes its version to stderr.
                .map(|out| if out.stdout.is_empty() { out.stderr } else { out.stdout })
                .map(|text| String::from_utf8_lossy(&text).trim().to_owned())
                .unwrap_or_else(|| "unknown".into())
        }
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map_or("unknown CPU", |rest| rest.trim_start_matches([' ', '\t', ':']));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| text.lines().find_map(|line| line.strip_prefix("MemTotal:").map(|v| v.trim().to_owned())))
        .and_then(|kb| kb.trim_end_matches(" kB").parse::<f64>().ok())
        .map_or("unknown".into(), |kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0));
    let python = paths.litellm_venv.join("bin/python");
    let litellm = output(
        python.to_str().unwrap_or("python3"),
        &[
            "-c",
            "import importlib.metadata as m, sys; print(m.version('litellm'), 'on Python', sys.version.split()[0])",
        ],
    )
    .await;
    let nginx = output(paths.nginx.to_str().unwrap_or("nginx"), &["-v"]).await;
    format!(
        "**Run:** {date}, {cores} cores ({cpu}), {memory} RAM, Linux {kernel}; hookgate {rev}; LiteLLM {litellm}; \
         nginx {nginx}; the whole run took {took:.0} s.",
        nginx = nginx.trim_start_matches("nginx version: nginx/"),
        date = output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).await,
        kernel = output("uname", &["-r"]).await,
        rev = output("git", &["describe", "--always", "--dirty"]).await,
        took = took.as_secs_f64(),
    )
}

/// Replaces the section between the markers in `path`, or puts it after the title.
pub fn write_section(path: &Path, section: &str) -> Result<()> {
    let current = std::fs::read_to_string(path).unwrap_or_else(|_| "# hookgate benchmarks\n".into());
    let updated = match (current.find(BEGIN), current.find(END)) {
        (Some(begin), Some(end)) if end > begin => {
            format!("{}{}{}", &current[..begin], section.trim_end(), &current[end + END.len()..])
        }
        _ => match current.find('\n') {
            Some(title_end) => {
                format!("{}\n\n{}\n{}", &current[..title_end], section.trim_end(), &current[title_end..])
            }
            None => format!("{current}\n\n{section}"),
        },
    };
    std::fs::write(path, updated)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_show_only_what_ran_each_as_the_issue_measures_it() {
        let row = |p50_us: u64, max: f64, streams: usize, rss_mib: u64| Row {
            p50: Duration::from_micros(p50_us),
            p99: Duration::ZERO,
            ttft_p99: Duration::ZERO,
            sustained: 0.0,
            max,
            streams,
            rss: Some(rss_mib << 20),
        };
        let find = |id: char| match id {
            'a' => Some(row(20, 40_000.0, 1024, 11)),
            'b' => Some(row(80, 15_000.0, 1024, 47)),
            'c' => Some(row(250, 8_000.0, 512, 143)),
            'e' => Some(row(900, 500.0, 64, 900)),
            'n' => Some(row(60, 20_000.0, 1024, 9)),
            _ => None,
        };
        let mut out = String::new();
        targets(&mut out, &find, &Alternation::default());
        // The rows, past the header and its separator.
        let lines: Vec<&str> = out.lines().filter(|line| line.starts_with("| ")).skip(2).collect();
        assert_eq!(
            lines,
            [
                "| hookgate without plugins: max req/s ≥ 80% of nginx's | (b) vs (n) | 75% | **no** |",
                "| 5 Rust plugins, fresh: max req/s ≥ 50% of no plugins' | (c) vs (b) | 53% | yes |",
                "| 5 Rust plugins, fresh: added p50 at c=1 ≤ 0.2 ms | (c) vs (a) | 0.230 ms | **no** |",
                "| 5 Rust plugins, fresh: max req/s ≥ 100× LiteLLM's | (c) vs (e) | 16× | **no** |",
                "| 1,024 concurrent streams with chunk hooks, no stall | (c) | 512 clean | **no** |",
                "| peak RSS at the most clean streams ≤ 1 GiB | (c) | 143 MiB at 512 streams | yes |",
            ]
        );
        assert!(out.starts_with("### Targets (issue 18)\n"), "{out}");
        assert!(out.contains("\nTargets from issue 18; where both scenarios were served in the alternated rounds"));

        let mut none = String::new();
        targets(&mut none, &|id| find(id).filter(|_| id == 'a'), &Alternation::default());
        assert!(none.is_empty(), "{none}");

        // With alternated rounds of (a), (b) and (n), the targets on those pairs are judged
        // on the median round, not on the sweeps; the others stay as they were.
        let rounds = Alternation::of(&[
            ('a', 64, [(20, 40_000.0), (30, 40_000.0), (25, 40_000.0)]),
            ('b', 64, [(80, 16_000.0), (90, 17_000.0), (85, 15_000.0)]),
            ('c', 16, [(200, 8_000.0), (240, 8_000.0), (215, 8_000.0)]),
            ('n', 64, [(60, 20_000.0), (70, 20_000.0), (65, 20_000.0)]),
        ]);
        let mut judged = String::new();
        targets(&mut judged, &find, &rounds);
        let lines: Vec<&str> = judged.lines().filter(|line| line.starts_with("| ")).skip(2).collect();
        assert_eq!(
            &lines[..3],
            [
                "| hookgate without plugins: max req/s ≥ 80% of nginx's | (b) vs (n) | 80% (rounds: 80%, 85%, 75%); sweeps: 75% | yes |",
                "| 5 Rust plugins, fresh: max req/s ≥ 50% of no plugins' | (c) vs (b) | 50% (rounds: 50%, 47%, 53%); sweeps: 53% | yes |",
                "| 5 Rust plugins, fresh: added p50 at c=1 ≤ 0.2 ms | (c) vs (a) | 0.190 ms (rounds: 0.180 ms, 0.210 ms, 0.190 ms); sweeps: 0.230 ms | yes |",
            ]
        );
        assert_eq!(
            &lines[3..],
            [
                "| 5 Rust plugins, fresh: max req/s ≥ 100× LiteLLM's | (c) vs (e) | 16× | **no** |",
                "| 1,024 concurrent streams with chunk hooks, no stall | (c) | 512 clean | **no** |",
                "| peak RSS at the most clean streams ≤ 1 GiB | (c) | 143 MiB at 512 streams | yes |"
            ]
        );
    }

    #[test]
    fn a_rerun_replaces_only_its_own_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("BENCHMARKS.md");
        std::fs::write(&path, "# hookgate benchmarks\n\nIntro.\n\n## Older section\n").unwrap();
        write_section(&path, &format!("{BEGIN}\nfirst\n{END}\n")).unwrap();
        write_section(&path, &format!("{BEGIN}\nsecond\n{END}\n")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# hookgate benchmarks\n\n<!-- make bench: begin"), "{text}");
        assert!(text.contains("second") && !text.contains("first"), "{text}");
        assert!(text.contains("Intro.") && text.contains("## Older section"), "{text}");
    }
}
