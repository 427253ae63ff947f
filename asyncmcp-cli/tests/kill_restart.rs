//! The fault tier of `asyncmcp serve`: `kill -9` of the real binary mid-call, then a
//! restart on the same queue. A stateless (2026-07-28) request completes on the new
//! server; a legacy session's request gets "session not found" at once, not after a
//! timeout, and is not run again.
//!
//! The served command is `tests/fixtures/work_server.py` (standard library only): its
//! `work(key, ms)` tool logs each run to a file as it starts and answers a function of
//! `key` (`asyncmcp_tests::fault_rig::answer`).
//!
//! The bounds after the restart come from the target: after a `kill -9` and a
//! restart the next request is picked up within 5 s (the dead server's receive must
//! not hide it for the queue's whole 30 s visibility timeout).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use asyncmcp_tests::fault_rig::{RunLog, answer};
use common::{Finished, Moto, Serve, asyncmcp, fixture, infra_up, run, unique_name};

/// How long the tool runs: the kill comes while it runs.
const WORK_MS: u64 = 3000;

/// From the restart to the call's outcome: a 5 s pick-up, the tool's run, the reply,
/// and room to spare.
const AFTER_RESTART: Duration = Duration::from_secs(20);

fn runs_file(label: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{}.runs", unique_name(label)))
}

fn serve(moto: &Moto, queue: &str, runs: &std::path::Path) -> Serve {
    let script = fixture("work_server.py");
    let runs = runs.display().to_string();
    Serve::start(moto, &["--queue-url", queue, "--drain", "1"], &["python3", &script, &runs])
}

/// Waits until the run log shows `key` started (at most 30 s).
fn wait_for_run(runs: &std::path::Path, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while RunLog::read_file(runs).get(key).copied().unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the tool never started {key}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `asyncmcp call [--modern] work key=KEY ms=WORK_MS`, kills `serve` with
/// SIGKILL once the tool runs, starts a new `serve` on the same queue; returns the
/// call's output and how long after the restart it ended.
fn call_across_a_kill(modern: bool, label: &str) -> (String, PathBuf, Finished, Duration) {
    let moto = Moto::shared();
    let infra = infra_up(moto, &unique_name(label), &["--transport", "sqs"]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL").to_owned();
    let runs = runs_file(label);
    let mut first = serve(moto, &queue, &runs);
    let key = unique_name(label);

    let mut call = asyncmcp(moto);
    call.args(["call", "--server-queue-url", &queue, "--request-timeout", "90"]);
    if modern {
        call.arg("--modern");
    }
    call.args(["work", &format!("key={key}"), &format!("ms={WORK_MS}")]);
    let caller = std::thread::spawn(move || run(&mut call, Duration::from_secs(120)));

    wait_for_run(&runs, &key);
    first.child.kill().expect("kill -9 asyncmcp serve");
    let _ = first.child.wait();
    let _second = serve(moto, &queue, &runs);
    let restarted_at = Instant::now();

    let out = caller.join().expect("caller thread");
    let after_restart = restarted_at.elapsed();
    eprintln!(
        "modern={modern}: the call ended {after_restart:?} after the restart ({}); runs {:?}\nstdout: {}\nstderr: {}",
        out.status,
        RunLog::read_file(&runs).get(&key),
        out.stdout.trim(),
        out.stderr.trim()
    );
    (key, runs, out, after_restart)
}

#[test]
fn a_modern_call_completes_after_kill_9_and_restart_of_serve() {
    let (key, runs, out, after_restart) = call_across_a_kill(true, "kill-modern");

    assert!(out.status.success(), "the call completes on the restarted server: {out:?}");
    assert_eq!(out.stdout.trim(), answer(&key), "the answer to this call");
    assert!(
        after_restart < AFTER_RESTART,
        "the redelivered request was answered {after_restart:?} after the restart (bound {AFTER_RESTART:?})"
    );
    // The killed server was running it: a second run is allowed, a third is not.
    let n = RunLog::read_file(&runs).get(&key).copied().unwrap_or(0);
    assert!((1..=2).contains(&n), "the tool ran {n} times");
}

#[test]
fn a_legacy_call_gets_session_not_found_at_once_after_kill_9_and_restart_of_serve() {
    let (key, runs, out, after_restart) = call_across_a_kill(false, "kill-legacy");

    assert!(!out.status.success(), "a session the new server does not know cannot succeed: {out:?}");
    let said = format!("{}\n{}", out.stdout, out.stderr);
    assert!(said.contains("session not found"), "the error says the session is gone:\n{said}");
    assert!(
        after_restart < AFTER_RESTART,
        "the error came {after_restart:?} after the restart, not at once (bound {AFTER_RESTART:?})"
    );
    let n = RunLog::read_file(&runs).get(&key).copied().unwrap_or(0);
    assert_eq!(n, 1, "the restarted server must not run a request of a session it does not know");
}
