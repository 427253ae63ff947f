//! `serve` prints what it has done (requests answered, errors, SQS/SNS calls, billed
//! requests) on SIGUSR1 and at exit, on moto with the built binary.
#![cfg(unix)]

mod common;

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use common::{Moto, asyncmcp, infra_up, run, serve_sleepy, unique_name, wait};

/// The number after `label` in `line`.
fn count(line: &str, label: &str) -> u64 {
    let rest = line.split(label).nth(1).unwrap_or_else(|| panic!("no {label:?} in {line:?}"));
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {line:?}"))
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

#[test]
fn serve_prints_its_counters_on_sigusr1_and_at_exit() {
    let moto = Moto::shared();
    let infra = infra_up(moto, &unique_name("counters"), &[]);
    let queue = infra["request_queue_url"].as_str().expect("a request queue").to_owned();
    let (mut serve, mut serve_log) = serve_sleepy(&mut asyncmcp(moto), &queue);

    let call = run(
        asyncmcp(moto).args(["call", "--server-queue-url", &queue, "echo", "text=counted"]),
        Duration::from_secs(60),
    );
    signal(serve.id(), "USR1");
    std::thread::sleep(Duration::from_millis(500));
    signal(serve.id(), "TERM");
    let exited = wait(&mut serve, Duration::from_secs(30));
    if exited.is_none() {
        let _ = serve.kill();
        let _ = serve.wait();
    }
    let mut log = String::new();
    let _ = serve_log.read_to_string(&mut log);

    assert!(call.status.success(), "the call works:\n{}\nserve:\n{log}", call.stderr);
    assert!(exited.is_some_and(|s| s.success()), "serve exits 0 on SIGTERM:\n{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("asyncmcp serve: ")).collect();
    let usr1 = lines.iter().find(|l| !l.contains("stopped;")).unwrap_or_else(|| panic!("no SIGUSR1 line:\n{log}"));
    let stopped = lines.iter().find(|l| l.contains("stopped;")).unwrap_or_else(|| panic!("no exit line:\n{log}"));
    for line in [usr1, stopped] {
        // The session's initialize and the tools/call, both answered.
        assert!(count(line, "requests answered") >= 2, "{line}");
        assert_eq!(count(line, "(errors"), 0, "{line}");
        let calls = count(line, "SQS/SNS calls");
        assert!(calls >= 4, "receives, sends and deletes: {line}");
        assert!(count(line, "billed requests") >= calls - count(line, "failed"), "{line}");
    }
}
