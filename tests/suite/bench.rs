//! `make bench` itself, small: its measuring code runs in CI, not only when someone runs the
//! 15-minute benchmark. It loads both cores while it runs, so `make test` runs it alone,
//! after the rest of the suite, as it runs the soak.

use std::time::Duration;

use hookgate_tests::{hookgate_bin, workspace_root};

/// A run of the direct mock and hookgate without plugins (the scenarios that need neither
/// guests nor nginx nor LiteLLM), every step cut to a fraction of a second: the sweeps, and
/// then the alternated rounds that the targets near a line are judged on, each scenario
/// served again in every round without a failed request.
#[tokio::test]
async fn a_short_bench_run_serves_its_scenarios_again_in_alternated_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("BENCHMARKS.md");
    // Built beside the proxy by `cargo build --bins --tests` (a default member).
    let bench = hookgate_bin().with_file_name("hookgate-bench");
    let mut command = tokio::process::Command::new(&bench);
    command
        .current_dir(workspace_root())
        // Steps of half a second: in a 0.2 s step, one stall of the loaded machine left a
        // step with no request finished in it, and so no max to serve in the rounds.
        .args(["run", "--scenarios", "ab", "--step-seconds", "0.5", "--latency-seconds", "0.2", "--max-streams", "2"])
        .arg("--out")
        .arg(&out)
        .arg("--hookgate")
        .arg(hookgate_bin())
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .kill_on_drop(true);
    let ran = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .expect("the short run ends within 5 minutes")
        .unwrap_or_else(|error| panic!("{}: {error}", bench.display()));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "{}: {stderr}", ran.status);
    for round in 1..=3 {
        for id in ['a', 'b'] {
            assert!(stderr.contains(&format!("== alternated round {round} of 3: ({id})")), "{stderr}");
        }
    }
    assert!(!stderr.contains("requests in alternated round"), "no request failed in the rounds: {stderr}");

    let written = std::fs::read_to_string(&out).unwrap();
    let rounds = written
        .split("### Alternated rounds")
        .nth(1)
        .and_then(|rest| rest.split("###").next())
        .unwrap_or_else(|| panic!("no rounds section: {written}"));
    for id in ['a', 'b'] {
        let row = rounds
            .lines()
            .find(|line| line.starts_with(&format!("| ({id}) |")))
            .unwrap_or_else(|| panic!("no row for ({id}): {rounds}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // | (id) | p50s | req/s | clients |
        let p50s: Vec<&str> = cells[2].split(" / ").collect();
        let throughputs: Vec<f64> = cells[3].split(" / ").map(|rps| rps.parse().unwrap()).collect();
        assert_eq!(p50s.len(), 3, "{row}");
        assert!(p50s.iter().all(|p50| p50.ends_with(" ms") && *p50 != "0.000 ms"), "{row}");
        assert_eq!(throughputs.len(), 3, "{row}");
        assert!(throughputs.iter().all(|&rps| rps > 0.0), "{row}");
        assert!(cells[4].parse::<usize>().unwrap() >= 4, "the clients of its best max step: {row}");
    }
}
