//! `asyncmcp serve` under real faults, on moto, with the built binary: a `kill -9`
//! of serve must not leave its MCP servers running nor hide the next request, and a
//! message serve cannot use must reach the dead-letter queue.
//!
//! The MCP server behind serve is `tests/fixtures/sleepy_server.py` (plain Python,
//! no dependencies): its `sleep` tool runs `sleep N` as its own child process.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Moto, Serve, asyncmcp, fixture, infra_up, run, unique_name};

fn sleepy() -> Vec<String> {
    vec!["python3".to_owned(), fixture("sleepy_server.py")]
}

/// Starts `command` with its output discarded; the caller ends it by its PID.
fn spawn_quiet(command: &mut Command) -> Child {
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start a process")
}

/// Whether process `pid` still runs (a zombie waiting for its reaper does not).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The number after `label` in the last log line holding it.
fn pid_after(log: &str, label: &str) -> u32 {
    let line = log.lines().rev().find(|l| l.contains(label)).unwrap_or_else(|| panic!("no {label:?} in:\n{log}"));
    let rest = &line[line.find(label).map_or(0, |i| i + label.len())..];
    let digits: String = rest.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no pid after {label:?} in {line:?}"))
}

fn request_queue(infra: &serde_json::Value) -> String {
    infra["request_queue_url"].as_str().expect("request_queue_url").to_owned()
}

#[test]
fn kill_9_of_serve_ends_its_mcp_servers() {
    let moto = Moto::shared();
    let queue = request_queue(&infra_up(moto, &unique_name("ft-orphan"), &[]));
    let cmd = sleepy();
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let mut serve = Serve::start(moto, &["--queue-url", &queue], &cmd);
    let mut caller = spawn_quiet(asyncmcp(moto).args(["call", "--server-queue-url", &queue, "sleep", "seconds=120"]));

    let log = serve.wait_for_log("sleepy: server pid", Duration::from_secs(30));
    let server = pid_after(&log, "sleepy: server pid");
    let sleeper = pid_after(&log, "sleep pid");
    assert!(running(server) && running(sleeper), "the MCP server and its tool run:\n{log}");
    serve.child.kill().expect("kill -9 serve");
    let _ = serve.child.wait();

    let deadline = Instant::now() + Duration::from_secs(5);
    while (running(server) || running(sleeper)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = caller.kill();
    let _ = caller.wait();
    let orphans: Vec<u32> = [server, sleeper].into_iter().filter(|&pid| running(pid)).collect();
    for pid in &orphans {
        // Left behind by the defect under test: end them by their own PIDs.
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    assert!(!orphans.contains(&server), "the MCP server (pid {server}) ended with serve");
    assert!(!orphans.contains(&sleeper), "the MCP server's own child (pid {sleeper}) ended with serve");
}

#[test]
fn a_poison_message_reaches_the_dead_letter_queue() {
    let moto = Moto::shared();
    let infra = infra_up(moto, &unique_name("ft-dlq"), &["--visibility-timeout", "1", "--max-receives", "2"]);
    let queue = request_queue(&infra);
    let dlq = infra["dead_letter_queue_url"].as_str().expect("dead_letter_queue_url").to_owned();
    let cmd = sleepy();
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    // No --on-reject: the queue's redrive policy makes serve leave what it rejects.
    let serve = Serve::start(moto, &["--queue-url", &queue, "--visibility-timeout", "1"], &cmd);

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let poison = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"#;
    rt.block_on(sqs.send_message().queue_url(&queue).message_body(poison).send()).expect("send the poison message");

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut dead = Vec::new();
    while dead.is_empty() && Instant::now() < deadline {
        let out = rt
            .block_on(sqs.receive_message().queue_url(&dlq).wait_time_seconds(1).send())
            .expect("receive from the dead-letter queue");
        dead.extend(out.messages().iter().filter_map(|m| m.body().map(str::to_owned)));
    }
    let log = common::text(&serve.log);
    assert_eq!(dead, vec![poison.to_owned()], "the poison message moved to the dead-letter queue; serve's log:\n{log}");
    assert!(log.contains("LeftForRedelivery"), "serve reports it left the message for redrive:\n{log}");
}

#[test]
fn after_kill_9_and_restart_the_next_request_is_picked_up_within_5_s() {
    let moto = Moto::shared();
    // The queue's visibility timeout is the default 30 s.
    let queue = request_queue(&infra_up(moto, &unique_name("ft-restart"), &[]));
    let cmd = sleepy();
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let mut first = Serve::start(moto, &["--queue-url", &queue], &cmd);
    // Serve logs that it serves as its first long poll (20 s) starts: let it reach moto.
    std::thread::sleep(Duration::from_secs(1));
    first.child.kill().expect("kill -9 serve");
    let _ = first.child.wait();

    // Sent while the dead poll still waits at moto: that poll takes the request.
    let mut call = asyncmcp(moto);
    call.args(["call", "--server-queue-url", &queue, "echo", "text=after restart"]);
    let caller = std::thread::spawn(move || run(&mut call, Duration::from_secs(90)));
    std::thread::sleep(Duration::from_secs(3));
    let second = Serve::start(moto, &["--queue-url", &queue], &cmd);
    let restarted = Instant::now();
    let out = caller.join().expect("caller thread").ok();
    let waited = restarted.elapsed();
    assert_eq!(out.stdout.trim(), "sleepy echo: after restart");
    assert!(
        waited < Duration::from_secs(8),
        "answered {waited:?} after the restart: the request stayed hidden by the dead poll; serve's log:\n{}",
        common::text(&second.log)
    );
}
