//! Replays one seed of the delivery model and prints its setup, its steps, its report and the promises it broke.
//! Usage: `cargo run -p asyncmcp-tests --example sim_replay -- SEED`
fn main() {
    let seed: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(0);
    let (report, violations) = asyncmcp_proto::fuzzing::seeded_trace(seed);
    println!("seed {seed}: {report}");
    for v in violations {
        println!("  {v}");
    }
}
