//! Failures a user can see, on moto with the built binary: `call` says what it waits
//! for, and `serve` refuses at once, with the reason, a setup that can never work.

mod common;

use std::time::Duration;

use common::{Moto, asyncmcp, infra_up, run, unique_name};

fn request_queue(infra: &serde_json::Value) -> String {
    infra["request_queue_url"].as_str().expect("request_queue_url").to_owned()
}

#[test]
fn call_to_a_queue_nobody_serves_says_once_what_it_waits_for() {
    let moto = Moto::shared();
    let queue = request_queue(&infra_up(moto, &unique_name("fl-nobody"), &[]));

    let finished = run(
        asyncmcp(moto).args([
            "call",
            "--server-queue-url",
            &queue,
            "--request-timeout",
            "3",
            "--waiting-note-after",
            "1",
            "echo",
            "message=hi",
        ]),
        Duration::from_secs(60),
    );

    assert!(!finished.status.success(), "nobody answered:\n{}", finished.stderr);
    let note = format!("no answer yet from {queue}: is `asyncmcp serve` running there?");
    assert_eq!(finished.stderr.matches(&note).count(), 1, "the note, once:\n{}", finished.stderr);
    assert!(finished.stderr.contains("asyncmcp: error: initialize"), "the final error stays:\n{}", finished.stderr);
}
