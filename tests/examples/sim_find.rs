//! Lists the seeds of the delivery model that broke a promise (the first 20), with
//! their setup: `stuck`, `doubled`, `wrong` or `ran_twice` above zero, or with
//! `--lost`, any lost request too.
//! Usage: `cargo run --release -p asyncmcp-tests --example sim_find -- RUNS [--lost]`
fn main() {
    let runs: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let lost_too = std::env::args().any(|a| a == "--lost");
    let mut found = 0;
    for seed in 0..runs {
        let (report, _) = asyncmcp_proto::fuzzing::seeded_run(seed);
        if !report.is_sound() || (lost_too && report.lost > 0) {
            let (_, trace) = asyncmcp_proto::fuzzing::seeded_trace(seed);
            println!("seed {seed}: {report}\n  {}", trace.first().map_or("", String::as_str));
            found += 1;
            if found == 20 {
                break;
            }
        }
    }
}
