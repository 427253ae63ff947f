//! Lists the seeds of the delivery model whose report has `stuck`, `doubled`,
//! `wrong` or `ran_twice` above zero (the first 20).
//! Usage: `cargo run --release -p asyncmcp-tests --example sim_find -- RUNS`
fn main() {
    let runs: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let mut found = 0;
    for seed in 0..runs {
        let (report, _) = asyncmcp_proto::fuzzing::seeded_run(seed);
        if !report.is_sound() {
            println!("seed {seed}: {report}");
            found += 1;
            if found == 20 {
                break;
            }
        }
    }
}
