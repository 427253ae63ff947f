//! The delivery model (the `session_machine` fuzz body) on 10,000 seeds: clients and
//! servers that crash and restart, links cut past the retry budget, reply addresses
//! unreachable, long polls lost with their process, duplicates, reordering, delays,
//! fragments, FIFO queues, both eras. `scripts/sim-runs.sh` runs 10^6.

use asyncmcp_proto::fuzzing::{Report, seeded_run};

#[test]
fn ten_thousand_seeded_runs_keep_the_delivery_promise() {
    // Arrange
    let mut total = Report::default();
    let mut broken = Vec::new();

    // Act
    for seed in 0..10_000 {
        let (report, violations) = seeded_run(seed);
        if !report.is_clean() && broken.len() < 5 {
            broken.push((seed, violations));
        }
        total.add(&report);
    }

    // Assert
    println!("{total}");
    assert!(broken.is_empty(), "{total}; first failing seeds: {broken:?}");
    assert_eq!((total.doubled, total.wrong, total.stuck, total.ran_twice, total.other), (0, 0, 0, 0, 0));
    assert!(total.requests > 15_000 && total.answered > 4_000, "the model stopped exercising anything: {total}");
    assert!(total.ran_twice_after_crash > 0, "no crash ever hit a running request: {total}");
    assert_eq!(total.lost, 0, "requests lost: {total}; first failing seeds: {broken:?}");
}
