//! Alternated rounds: the figures issue 18's closest targets are judged on, measured
//! again with the scenarios taking turns.
//!
//! Each scenario's sweep runs minutes after the one it is compared with, and this
//! machine's speed drifts over minutes: two runs of the same code gave hookgate without
//! plugins 74% and 83% of nginx. So, after the sweeps, the scenarios whose ratios sit
//! near a target's line (the direct baseline, both proxies without plugins, and five Rust
//! plugins fresh and reused) are served again one after another for a few rounds, each
//! measured for its one-client latency and its throughput at the concurrency its sweep
//! found best. A ratio is then taken within each round, where the two sides ran seconds
//! apart, and the median of the rounds is the figure the targets are judged on.

use std::time::Duration;

use anyhow::Result;

use crate::figures::{self, Figures, Settings, PROMPT};
use crate::load::{self, Timing};
use crate::scenario::{self, Paths, Scenario};

/// Rounds of alternation: the median of three survives one round the machine disturbs.
pub const ROUNDS: usize = 3;

/// The scenarios served again, in the order each round serves them.
pub const SCENARIOS: [char; 5] = ['a', 'b', 'n', 'c', 'f'];

/// One scenario's figures in one round.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Non-streamed, instant mock, one client.
    pub p50: Duration,
    /// Instant mock, at the concurrency of the scenario's best step in its sweep.
    pub rps: f64,
    /// Requests that failed in either measurement.
    pub failed: u64,
}

/// One scenario served in the rounds.
#[derive(Debug)]
pub struct Served {
    pub id: char,
    /// The clients its throughput was measured with: its sweep's best step.
    pub clients: usize,
    /// `rounds[i]` is round `i`.
    pub rounds: Vec<Sample>,
}

/// The scenarios served in the rounds, in the order each round served them.
#[derive(Debug, Default)]
pub struct Alternation {
    pub scenarios: Vec<Served>,
}

impl Alternation {
    /// Every round's sample of `id`, in order; `None` when it was not served.
    pub fn rounds(&self, id: char) -> Option<&[Sample]> {
        self.served(id).map(|served| served.rounds.as_slice())
    }

    fn served(&self, id: char) -> Option<&Served> {
        self.scenarios.iter().find(|served| served.id == id)
    }

    /// `x`'s req/s over `of`'s, per round.
    pub fn max_ratios(&self, x: char, of: char) -> Option<Vec<f64>> {
        let (x, of) = (self.rounds(x)?, self.rounds(of)?);
        let ratios: Vec<f64> = x.iter().zip(of).filter(|(_, of)| of.rps > 0.0).map(|(x, of)| x.rps / of.rps).collect();
        (!ratios.is_empty()).then_some(ratios)
    }

    /// `x`'s p50 at one client minus the direct one's, per round (zero when below it).
    pub fn added_p50s(&self, x: char) -> Option<Vec<Duration>> {
        let (x, direct) = (self.rounds(x)?, self.rounds('a')?);
        Some(x.iter().zip(direct).map(|(x, direct)| x.p50.saturating_sub(direct.p50)).collect())
    }
}

/// One round of a scenario as tests write it: its p50 in µs and its req/s.
#[cfg(test)]
type RoundServed = (u64, f64);

#[cfg(test)]
impl Alternation {
    /// Rounds as tests write them: per scenario its id, its clients and each round's p50
    /// in µs and req/s.
    pub fn of(served: &[(char, usize, [RoundServed; ROUNDS])]) -> Self {
        let sample = |&(p50_us, rps): &(u64, f64)| Sample { p50: Duration::from_micros(p50_us), rps, failed: 0 };
        let scenarios = served
            .iter()
            .map(|(id, clients, rounds)| Served {
                id: *id,
                clients: *clients,
                rounds: rounds.iter().map(sample).collect(),
            })
            .collect();
        Self { scenarios }
    }
}

/// The median of `values` (the lower middle one of an even count); `None` when empty.
pub fn median<T: PartialOrd + Copy>(values: &[T]) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

/// Serves each of [`SCENARIOS`] that ran (and whose sweep found a best step) again,
/// [`ROUNDS`] times in turn, one server at a time, as the sweeps did.
pub async fn run(
    results: &[(Scenario, Figures)],
    paths: &Paths,
    mock: std::net::SocketAddr,
    mock_pid: Option<u32>,
    log_dir: &std::path::Path,
    settings: &Settings,
) -> Result<Alternation> {
    let chosen: Vec<(&Scenario, usize)> = SCENARIOS
        .iter()
        .filter_map(|id| {
            let (scenario, figures) = results.iter().find(|(scenario, _)| scenario.id == *id)?;
            Some((scenario, figures.max.as_ref()?.concurrency))
        })
        .collect();
    let mut alternation = Alternation {
        scenarios: chosen
            .iter()
            .map(|(scenario, clients)| Served { id: scenario.id, clients: *clients, rounds: Vec::new() })
            .collect(),
    };
    let instant = figures::body("mock-instant", PROMPT, false);
    for round in 1..=ROUNDS {
        for (index, (scenario, concurrency)) in chosen.iter().enumerate() {
            eprintln!("== alternated round {round} of {ROUNDS}: ({})", scenario.id);
            let running = scenario::start(scenario, paths, mock, mock_pid, log_dir).await?;
            let target = running.target.clone();
            // As before each sweep: pools, lazily made state, each plugin's first instances.
            load::closed_loop(
                target.clone(),
                instant.clone(),
                Timing::Whole,
                4,
                Duration::ZERO,
                Duration::from_secs(1),
            )
            .await;
            let serial =
                load::closed_loop(target.clone(), instant.clone(), Timing::Whole, 1, figures::WARMUP, settings.step)
                    .await;
            let max =
                load::closed_loop(target, instant.clone(), Timing::Whole, *concurrency, figures::WARMUP, settings.step)
                    .await;
            running.stop().await;
            // Counted and shown, as the sweeps show theirs: hours of measuring are not
            // thrown away for one round's failed request.
            let failed = serial.failed + max.failed;
            if let Some(first) = serial.first_failure.as_ref().or(max.first_failure.as_ref()) {
                eprintln!("({}) failed {failed} requests in alternated round {round}; the first: {first}", scenario.id);
            }
            let sample = Sample { p50: serial.percentile(50.0), rps: max.rps(), failed };
            alternation.scenarios[index].rounds.push(sample);
        }
    }
    Ok(alternation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_taken_within_each_round_and_the_median_is_the_middle_round() {
        let alternation = Alternation::of(&[
            ('a', 64, [(40, 90_000.0), (50, 80_000.0), (45, 85_000.0)]),
            ('b', 64, [(90, 40_000.0), (95, 30_000.0), (100, 44_000.0)]),
            ('n', 64, [(80, 50_000.0), (85, 40_000.0), (80, 50_000.0)]),
        ]);
        // Per round: 0.8, 0.75, 0.88; a drift that slows both sides in round 2 cancels.
        let ratios = alternation.max_ratios('b', 'n').unwrap();
        assert_eq!(ratios, vec![0.8, 0.75, 0.88]);
        assert_eq!(median(&ratios), Some(0.8));
        let added = alternation.added_p50s('b').unwrap();
        assert_eq!(added, vec![Duration::from_micros(50), Duration::from_micros(45), Duration::from_micros(55)]);
        assert_eq!(median(&added), Some(Duration::from_micros(50)));
        // A scenario that did not run has no figure, rather than a zero.
        assert!(alternation.max_ratios('c', 'b').is_none());
        assert!(alternation.added_p50s('f').is_none());
    }

    #[test]
    fn the_median_of_an_even_count_is_the_lower_middle_and_of_none_is_none() {
        assert_eq!(median(&[3.0, 1.0, 4.0, 2.0]), Some(2.0));
        assert_eq!(median::<f64>(&[]), None);
        assert_eq!(median(&[7]), Some(7));
    }
}
