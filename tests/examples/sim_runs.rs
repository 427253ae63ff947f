//! Runs the delivery model (the `session_machine` fuzz body) on many seeds and
//! prints what it found: lost, doubled, wrong and stuck requests, tools run twice.
//!
//! Usage: `cargo run --release -p asyncmcp-tests --example sim_runs -- [RUNS] [FIRST_SEED] [THREADS]`
//! (`scripts/sim-runs.sh` wraps it). Exits non-zero when any promise was broken, after
//! printing the first few failing seeds so they can be replayed.

use std::time::Instant;

use asyncmcp_proto::fuzzing::{Report, seeded_run};

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let first: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let threads: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2).max(1);
    #[allow(clippy::disallowed_methods)] // wall-clock time of the whole run, for the report
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut total = Report::default();
                let mut failing = Vec::new();
                let mut seed = first + t;
                while seed < first + runs {
                    let (report, violations) = seeded_run(seed);
                    if !report.is_clean() && failing.len() < 5 {
                        failing.push((seed, violations));
                    }
                    total.add(&report);
                    seed += threads;
                }
                (total, failing)
            })
        })
        .collect();
    let mut total = Report::default();
    let mut failing = Vec::new();
    for worker in workers {
        let (report, seeds) = worker.join().expect("a worker panicked");
        total.add(&report);
        failing.extend(seeds);
    }
    println!(
        "{runs} seeded runs (seeds {first}..{}) in {:.1} s on {threads} threads",
        first + runs,
        started.elapsed().as_secs_f64()
    );
    println!("{total}");
    for (seed, violations) in failing.iter().take(5) {
        println!("seed {seed}: {:?}", violations.iter().take(3).collect::<Vec<_>>());
    }
    if !total.is_clean() {
        std::process::exit(1);
    }
}
