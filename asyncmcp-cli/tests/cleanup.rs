//! Nothing left behind, on moto with the built binary: `call` and `proxy` delete
//! their private reply queue on SIGINT and SIGTERM, `proxy` ends when its stdin
//! closes, `infra down` removes an sns-sqs topic whatever `--transport` it is given,
//! and `infra gc` removes the reply queues of clients that died.
//!
//! Each test that counts reply queues has a moto of its own, so other tests' clients
//! never show up in its listings.

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Moto, asyncmcp, infra_up, run, unique_name, wait};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// The URLs of the queues whose names start with `prefix`.
fn queues(moto: &Moto, prefix: &str) -> Vec<String> {
    runtime().block_on(async {
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
        let out = sqs.list_queues().queue_name_prefix(prefix).send().await.expect("ListQueues");
        out.queue_urls().to_vec()
    })
}

fn topics(moto: &Moto) -> Vec<String> {
    runtime().block_on(async {
        let sns = aws_sdk_sns::Client::new(&moto.sdk_config());
        let out = sns.list_topics().send().await.expect("ListTopics");
        out.topics().iter().filter_map(|t| t.topic_arn().map(str::to_owned)).collect()
    })
}

fn subscriptions(moto: &Moto) -> Vec<String> {
    runtime().block_on(async {
        let sns = aws_sdk_sns::Client::new(&moto.sdk_config());
        let out = sns.list_subscriptions().send().await.expect("ListSubscriptions");
        out.subscriptions().iter().filter_map(|s| s.topic_arn().map(str::to_owned)).collect()
    })
}

/// Waits until a queue named `prefix*` exists; returns their URLs.
fn wait_for_queue(moto: &Moto, prefix: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = queues(moto, prefix);
        if !found.is_empty() {
            return found;
        }
        assert!(Instant::now() < deadline, "no queue named {prefix}* appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A request queue nobody serves: requests to it wait.
fn unserved_queue(moto: &Moto) -> String {
    let infra = infra_up(moto, &unique_name("clean"), &[]);
    infra["request_queue_url"].as_str().expect("request_queue_url").to_owned()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{name} failed");
}

/// Waits for `child` to end (at most `limit`); kills it and panics if it does not.
fn ended(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    wait(child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not end within {limit:?}")
    })
}

fn spawn_call(moto: &Moto, queue: &str) -> Child {
    asyncmcp(moto)
        .args(["call", "--server-queue-url", queue, "echo", "message=hi"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start asyncmcp call")
}

/// `asyncmcp proxy` with a request written to its stdin (left open), pending.
fn spawn_proxy(moto: &Moto, queue: &str) -> Child {
    let mut child = asyncmcp(moto)
        .args(["proxy", "--server-queue-url", queue])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start asyncmcp proxy");
    let stdin = child.stdin.as_mut().expect("stdin");
    let request = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    writeln!(stdin, "{request}").expect("write a request");
    stdin.flush().expect("flush");
    child
}

#[test]
fn call_deletes_its_reply_queue_on_sigint_and_sigterm() {
    for sig in ["INT", "TERM"] {
        let moto = Moto::start();
        let queue = unserved_queue(&moto);
        let mut call = spawn_call(&moto, &queue);
        wait_for_queue(&moto, "asyncmcp-call-");

        signal(&call, sig);
        let status = ended(&mut call, Duration::from_secs(10), "asyncmcp call after a signal");

        assert!(!status.success(), "an interrupted call does not report success (SIG{sig})");
        assert_eq!(queues(&moto, "asyncmcp-call-"), Vec::<String>::new(), "reply queue left after SIG{sig}");
    }
}

#[test]
fn proxy_deletes_its_reply_queue_on_sigint_and_sigterm() {
    for sig in ["INT", "TERM"] {
        let moto = Moto::start();
        let queue = unserved_queue(&moto);
        let mut proxy = spawn_proxy(&moto, &queue);
        wait_for_queue(&moto, "asyncmcp-proxy-");

        signal(&proxy, sig);
        ended(&mut proxy, Duration::from_secs(10), "asyncmcp proxy after a signal");

        assert_eq!(queues(&moto, "asyncmcp-proxy-"), Vec::<String>::new(), "reply queue left after SIG{sig}");
    }
}

#[test]
fn proxy_ends_when_stdin_closes_with_a_request_pending() {
    let moto = Moto::start();
    let queue = unserved_queue(&moto);
    let mut proxy = spawn_proxy(&moto, &queue);
    let mut stdout = proxy.stdout.take().expect("stdout");
    wait_for_queue(&moto, "asyncmcp-proxy-");

    drop(proxy.stdin.take());
    let status = ended(&mut proxy, Duration::from_secs(10), "asyncmcp proxy after stdin closed");

    assert!(status.success(), "proxy exits 0 when stdin closes: {status}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).expect("read stdout");
    let answer: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(answer["id"], 1, "the pending request is answered: {answer}");
    assert!(answer["error"]["message"].is_string(), "with an error: {answer}");
    assert_eq!(queues(&moto, "asyncmcp-proxy-"), Vec::<String>::new(), "reply queue left after stdin closed");
}

#[test]
fn infra_down_removes_the_topic_whatever_the_transport_given() {
    let moto = Moto::shared();
    let name = unique_name("clean-down");
    let infra = infra_up(moto, &name, &["--transport", "sns-sqs"]);
    let topic = infra["topic_arn"].as_str().expect("topic_arn").to_owned();
    assert!(topics(moto).contains(&topic));

    run(asyncmcp(moto).args(["infra", "down", "--name", &name]), Duration::from_secs(60)).ok();

    assert!(!topics(moto).contains(&topic), "topic {topic} left by `infra down` without --transport");
    assert!(!subscriptions(moto).contains(&topic), "subscription to {topic} left");
    assert!(queues(moto, &name).is_empty(), "queues gone");
}

/// `infra gc` on the reply queues `call` leaves when killed with SIGKILL: a fresh one
/// stays under `--older-than 1h`, `--dry-run` only lists, `--older-than 0s` deletes it
/// with its topic, and a server's queues under the same prefix are never touched.
#[test]
fn infra_gc_removes_the_reply_queues_of_killed_clients() {
    let moto = Moto::start();
    let queue = unserved_queue(&moto);
    let server = infra_up(&moto, "asyncmcp-served", &["--transport", "sns-sqs"]);
    let server_topic = server["topic_arn"].as_str().expect("topic_arn").to_owned();
    let mut plain = spawn_call(&moto, &queue);
    let mut via_topic = asyncmcp(&moto)
        .args(["call", "--transport", "sns-sqs", "--server-topic-arn", &server_topic, "echo", "message=hi"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start asyncmcp call");
    let deadline = Instant::now() + Duration::from_secs(20);
    while queues(&moto, "asyncmcp-call-").len() < 2 || topics(&moto).len() < 2 {
        assert!(Instant::now() < deadline, "the two calls never made their reply queues");
        std::thread::sleep(Duration::from_millis(50));
    }
    for child in [&mut plain, &mut via_topic] {
        child.kill().expect("kill -9 asyncmcp call");
        let _ = child.wait();
    }
    let orphans = queues(&moto, "asyncmcp-call-");
    assert_eq!(orphans.len(), 2, "SIGKILL leaves the reply queues: {orphans:?}");
    let gc = |extra: &[&str]| run(asyncmcp(&moto).args(["infra", "gc"]).args(extra), Duration::from_secs(30)).ok();

    let fresh = gc(&["--older-than", "1h"]);
    assert_eq!(queues(&moto, "asyncmcp-call-"), orphans, "young reply queues stay:\n{}", fresh.stderr);

    let dry = gc(&["--older-than", "0s", "--dry-run"]);
    for orphan in &orphans {
        assert!(dry.stdout.contains(&format!("would delete {orphan}")), "dry run lists {orphan}:\n{}", dry.stdout);
    }
    assert_eq!(queues(&moto, "asyncmcp-call-"), orphans, "a dry run deletes nothing");

    let done = gc(&["--older-than", "0s"]);
    assert!(done.stdout.contains("and topic arn:"), "the sns-sqs reply topic goes too:\n{}", done.stdout);
    assert_eq!(queues(&moto, "asyncmcp-call-"), Vec::<String>::new(), "orphans deleted:\n{}", done.stdout);
    assert_eq!(topics(&moto), vec![server_topic], "only the server's topic is left");
    assert_eq!(subscriptions(&moto).len(), 1, "only the server's subscription is left");
    assert_eq!(queues(&moto, "asyncmcp-served").len(), 2, "the server's queues are not reply queues");
}
