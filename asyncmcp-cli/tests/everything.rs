//! The reference MCP server `@modelcontextprotocol/server-everything` (from the npm
//! registry) behind `asyncmcp serve` on moto, reached with `asyncmcp call` and with
//! the official Python `mcp` SDK's stdio client launching `asyncmcp proxy`.
//!
//! server-everything names its tools `echo` (`message`), `get-sum` (`a`, `b`) and
//! `trigger-long-running-operation` (`duration`, `steps`, with progress).

mod common;

use std::time::{Duration, Instant};

use common::{Moto, Serve, asyncmcp, fixture, infra_up, python_mcp, run, server_everything, unique_name};

/// A fresh deployment with server-everything served on it; returns the serve guard
/// and the request queue URL (and the topic ARN for sns-sqs).
fn deploy(moto: &Moto, label: &str, transport: &str) -> (Serve, String, Option<String>) {
    let cmd = server_everything();
    let infra = infra_up(moto, &unique_name(label), &["--transport", transport]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL").to_owned();
    let topic = infra["topic_arn"].as_str().map(str::to_owned);
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let serve = Serve::start(moto, &["--transport", transport, "--queue-url", &queue, "--drain", "20"], &cmd);
    (serve, queue, topic)
}

#[test]
fn call_reaches_server_everything_over_sqs_and_sns() {
    let moto = Moto::shared();
    let (serve, queue, _) = deploy(moto, "ev-call", "sqs");
    let limit = Duration::from_secs(60);

    let echo =
        run(asyncmcp(moto).args(["call", "--server-queue-url", &queue, "echo", "message=hello queue"]), limit).ok();
    assert_eq!(echo.stdout.trim(), "Echo: hello queue");

    let sum = run(asyncmcp(moto).args(["call", "--server-queue-url", &queue, "get-sum", "a=40", "b=2"]), limit).ok();
    assert_eq!(sum.stdout.trim(), "The sum of 40 and 2 is 42.");

    let args = ["call", "--server-queue-url", &queue, "trigger-long-running-operation", "duration=2", "steps=4"];
    let long = run(asyncmcp(moto).args(args), limit).ok();
    assert!(long.stdout.contains("Long running operation completed"), "{}", long.stdout);
    assert!(long.stderr.contains("progress "), "progress notifications reach the caller:\n{}", long.stderr);

    // A stateless (2026-07-28 era) request is served by the bridge's initialized pool.
    let modern = run(
        asyncmcp(moto).args(["call", "--modern", "--server-queue-url", &queue, "echo", "message=stateless"]),
        limit,
    )
    .ok();
    assert_eq!(modern.stdout.trim(), "Echo: stateless");
    let json = run(
        asyncmcp(moto).args(["call", "--json", "--modern", "--server-queue-url", &queue, "get-sum", "a=1", "b=2"]),
        limit,
    )
    .ok();
    let result: serde_json::Value = serde_json::from_str(json.stdout.trim()).expect("--json prints the result");
    assert_eq!(result["content"][0]["text"], "The sum of 1 and 2 is 3.");

    let unknown = run(asyncmcp(moto).args(["call", "--server-queue-url", &queue, "no-such-tool"]), limit);
    assert!(!unknown.status.success(), "an MCP error exits non-zero");
    assert!(unknown.stdout.contains("no-such-tool") || unknown.stderr.contains("no-such-tool"), "{unknown:?}");
    drop(serve);

    let (_serve, _, topic) = deploy(moto, "ev-sns", "sns-sqs");
    let topic = topic.expect("an sns-sqs deployment has a topic");
    let args = ["call", "--transport", "sns-sqs", "--server-topic-arn", &topic, "echo", "message=via sns"];
    let echo = run(asyncmcp(moto).args(args), limit).ok();
    assert_eq!(echo.stdout.trim(), "Echo: via sns");
}

#[test]
fn python_sdk_client_through_proxy() {
    let moto = Moto::shared();
    let python = python_mcp();
    let (_serve, queue, _) = deploy(moto, "ev-proxy", "sqs");
    // The Python client launches `asyncmcp proxy` itself, passing it the AWS_* variables.
    let mut client = std::process::Command::new(&python);
    client.arg(fixture("py_client.py")).arg(env!("CARGO_BIN_EXE_asyncmcp")).args(["--server-queue-url", &queue]);
    client.envs(common::moto_env(moto));
    let out = run(&mut client, Duration::from_secs(90)).ok();
    let seen: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("client output is not JSON ({e}):\n{}\n{}", out.stdout, out.stderr));
    assert_eq!(seen["server"], "mcp-servers/everything");
    let tools: Vec<&str> = seen["tools"].as_array().expect("tools").iter().filter_map(|t| t.as_str()).collect();
    for tool in ["echo", "get-sum", "trigger-long-running-operation"] {
        assert!(tools.contains(&tool), "{tool} listed: {tools:?}");
    }
    assert_eq!(seen["echo"][0], "Echo: hello from python");
    assert_eq!(seen["sum"][0], "The sum of 40 and 2 is 42.");
    assert!(seen["long"][0].as_str().is_some_and(|t| t.contains("completed")), "{seen}");
    // Standard SQS queues do not order: the last progress note may trail the result.
    let progress = seen["progress"].as_array().expect("progress list");
    assert!(!progress.is_empty() && progress.len() <= 4, "progress notifications arrived: {seen}");
    // The proxy deleted its private reply queue on exit.
    assert!(out.stderr.contains("stdin closed"), "{}", out.stderr);
}

#[test]
fn killing_the_server_mid_call_gives_a_clear_error() {
    let moto = Moto::shared();
    let (serve, queue, _) = deploy(moto, "ev-kill", "sqs");
    let mut call = asyncmcp(moto);
    call.args(["call", "--server-queue-url", &queue, "trigger-long-running-operation", "duration=30", "steps=30"]);
    let caller = std::thread::spawn(move || run(&mut call, Duration::from_secs(60)));

    // The session's child logs its pid; kill it once the call is under way.
    let log = serve.wait_for_log("started `node", Duration::from_secs(30));
    let line = log.lines().rev().find(|l| l.contains("started `node")).expect("a start line");
    let pid = line
        .rsplit("pid=")
        .next()
        .and_then(|p| p.split_whitespace().next())
        .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>());
    let pid = pid.filter(|p| !p.is_empty()).unwrap_or_else(|| panic!("no pid in {line:?}"));
    std::thread::sleep(Duration::from_secs(3));
    let killed_at = Instant::now();
    let status = std::process::Command::new("kill").args(["-KILL", &pid]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -KILL {pid}");

    let out = caller.join().expect("caller thread");
    assert!(!out.status.success(), "the call fails: {out:?}");
    assert!(killed_at.elapsed() < Duration::from_secs(20), "the error came promptly, not after a timeout");
    assert!(out.stderr.contains("exited"), "the error says the server process exited:\n{}", out.stderr);
    let log = serve.wait_for_log("exited", Duration::from_secs(10));
    assert!(log.contains("closing the session"), "serve reports the crash:\n{log}");
}

#[test]
fn ctrl_c_drains_the_call_in_flight() {
    let moto = Moto::shared();
    let (mut serve, queue, _) = deploy(moto, "ev-drain", "sqs");
    let mut call = asyncmcp(moto);
    call.args(["call", "--server-queue-url", &queue, "trigger-long-running-operation", "duration=4", "steps=4"]);
    let caller = std::thread::spawn(move || run(&mut call, Duration::from_secs(60)));
    serve.wait_for_log("Starting default (STDIO) server", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    serve.interrupt();
    let out = caller.join().expect("caller thread").ok();
    assert!(out.stdout.contains("Long running operation completed"), "the call in flight finished: {out:?}");
    let status = common::wait(&mut serve.child, Duration::from_secs(30)).expect("serve exits after draining");
    assert!(status.success(), "serve exits 0 after Ctrl-C");
    let log = common::text(&serve.log);
    assert!(log.contains("draining"), "{log}");
}

#[test]
fn session_cap_refuses_until_an_abandoned_session_idles_out() {
    let moto = Moto::shared();
    let cmd = server_everything();
    let infra = infra_up(moto, &unique_name("ev-cap"), &["--transport", "sqs"]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL").to_owned();
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let args = ["--queue-url", &queue, "--max-sessions", "1", "--idle-timeout", "3", "--drain", "5"];
    let serve = Serve::start(moto, &args, &cmd);
    let limit = Duration::from_secs(60);

    // A caller that opens the only session and then dies without closing it.
    let mut abandoned = asyncmcp(moto);
    abandoned.args(["call", "--server-queue-url", &queue, "trigger-long-running-operation", "duration=2", "steps=2"]);
    let mut abandoned = abandoned
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the caller");
    serve.wait_for_log("started `node", Duration::from_secs(30));
    abandoned.kill().expect("kill the caller");
    let _ = abandoned.wait();

    // While that session lives, a second client is refused, and told why.
    let refused = run(asyncmcp(moto).args(["call", "--server-queue-url", &queue, "echo", "message=second"]), limit);
    assert!(!refused.status.success(), "the second session is refused: {refused:?}");
    assert!(
        refused.stderr.contains("--max-sessions") || refused.stdout.contains("--max-sessions"),
        "the refusal names the limit:\n{}\n{}",
        refused.stdout,
        refused.stderr
    );

    // The abandoned session idles out (3 s after its last message) and frees the slot.
    let log = serve.wait_for_log("Idle", Duration::from_secs(30));
    assert!(log.contains("closed"), "serve reports the idle session closed:\n{log}");
    let echo = run(asyncmcp(moto).args(["call", "--server-queue-url", &queue, "echo", "message=third"]), limit).ok();
    assert_eq!(echo.stdout.trim(), "Echo: third");
}
