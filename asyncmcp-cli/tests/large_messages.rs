//! Large messages end to end with the built binary on moto: `serve --s3-bucket` puts
//! a 2 MiB result into S3, `call` prints it whole, the object is deleted after
//! consumption when so configured, `proxy` sends a 2 MiB request through S3, a
//! missing bucket fails `serve` at start, and `infra up|down --s3-bucket` makes and
//! removes the bucket.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::{Moto, Serve, asyncmcp, fixture, infra_up, run, text, unique_name, wait};

const TWO_MIB: usize = 2 * 1024 * 1024;

fn s3(moto: &Moto) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&moto.sdk_config()).force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(config)
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(future)
}

fn create_bucket(moto: &Moto, bucket: &str) {
    block_on(s3(moto).create_bucket().bucket(bucket).send()).unwrap_or_else(|e| panic!("create {bucket}: {e:?}"));
}

fn bucket_exists(moto: &Moto, bucket: &str) -> bool {
    block_on(s3(moto).head_bucket().bucket(bucket).send()).is_ok()
}

fn objects(moto: &Moto, bucket: &str) -> Vec<String> {
    let listed =
        block_on(s3(moto).list_objects_v2().bucket(bucket).send()).unwrap_or_else(|e| panic!("list {bucket}: {e:?}"));
    listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

/// The objects of `bucket` once there are `count` of them (at most 10 s).
fn wait_for_objects(moto: &Moto, bucket: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let keys = objects(moto, bucket);
        if keys.len() == count || Instant::now() >= deadline {
            return keys;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The number after `label` in `line`.
fn count(line: &str, label: &str) -> u64 {
    let rest = line.split(label).nth(1).unwrap_or_else(|| panic!("no {label:?} in {line:?}"));
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {line:?}"))
}

/// A request queue served by `large_server.py` with `serve_args`.
fn serve_large(moto: &Moto, name: &str, serve_args: &[&str]) -> (String, Serve) {
    let infra = infra_up(moto, name, &[]);
    let queue = infra["request_queue_url"].as_str().expect("a request queue").to_owned();
    let mut args = vec!["--queue-url", queue.as_str()];
    args.extend_from_slice(serve_args);
    let serve = Serve::start(moto, &args, &["python3", &fixture("large_server.py")]);
    (queue, serve)
}

/// Stops `serve` with SIGINT and returns its exit line (the counters).
fn stop(mut serve: Serve) -> String {
    serve.interrupt();
    let exited = wait(&mut serve.child, Duration::from_secs(30));
    let log = text(&serve.log);
    assert!(exited.is_some_and(|s| s.success()), "serve exits 0 on SIGINT:\n{log}");
    log.lines()
        .find(|l| l.starts_with("asyncmcp serve: stopped;"))
        .unwrap_or_else(|| panic!("no exit line:\n{log}"))
        .to_owned()
}

/// `call large bytes=2 MiB` with `call_args`; asserts the whole text came back.
fn call_two_mib(moto: &Moto, queue: &str, call_args: &[&str]) {
    let size = TWO_MIB.to_string();
    let bytes = format!("bytes={size}");
    let out = run(
        asyncmcp(moto).args(["call", "--server-queue-url", queue]).args(call_args).args(["large", &bytes]),
        Duration::from_secs(90),
    )
    .ok();
    let printed = out.stdout.trim_end_matches('\n');
    assert_eq!(printed.len(), TWO_MIB, "the whole result is printed; stderr:\n{}", out.stderr);
    assert!(printed.starts_with("0123456789") && printed.ends_with("<end>"), "the result is intact");
}

#[test]
fn serve_with_s3_bucket_sends_a_2_mib_result_that_call_prints_whole() {
    let moto = Moto::shared();
    let bucket = unique_name("large-kept");
    create_bucket(moto, &bucket);
    let (queue, serve) = serve_large(moto, &unique_name("large"), &["--s3-bucket", &bucket, "--s3-key-prefix", "mcp/"]);

    call_two_mib(moto, &queue, &[]);
    let counters = stop(serve);

    assert!(count(&counters, "S3 puts") >= 1, "the result went through S3: {counters}");
    let keys = objects(moto, &bucket);
    assert_eq!(keys.len(), 1, "one object, kept by default: {keys:?}");
    assert!(keys[0].starts_with("mcp/"), "under the key prefix: {keys:?}");
}

#[test]
fn the_object_is_deleted_after_consumption_when_so_configured() {
    let moto = Moto::shared();
    let bucket = unique_name("large-deleted");
    create_bucket(moto, &bucket);
    let (queue, serve) = serve_large(moto, &unique_name("large"), &["--s3-bucket", &bucket]);

    call_two_mib(moto, &queue, &["--s3-delete-on-consume"]);
    let counters = stop(serve);

    assert!(count(&counters, "S3 puts") >= 1, "the result went through S3: {counters}");
    let keys = wait_for_objects(moto, &bucket, 0);
    assert!(keys.is_empty(), "the reader deleted the object: {keys:?}");
}

#[test]
fn a_lowered_message_budget_sends_a_smaller_result_through_s3() {
    let moto = Moto::shared();
    let bucket = unique_name("large-budget");
    create_bucket(moto, &bucket);
    let (queue, serve) =
        serve_large(moto, &unique_name("large"), &["--s3-bucket", &bucket, "--max-message-bytes", "65536"]);

    let out = run(
        asyncmcp(moto).args(["call", "--server-queue-url", &queue, "large", "bytes=100000"]),
        Duration::from_secs(60),
    )
    .ok();
    let counters = stop(serve);

    assert_eq!(out.stdout.trim_end_matches('\n').len(), 100_000, "the whole result is printed");
    assert_eq!(count(&counters, "S3 puts"), 1, "100 000 bytes are over the 64 KiB budget: {counters}");
}

#[test]
fn serve_with_a_missing_bucket_fails_at_start_naming_it() {
    let moto = Moto::shared();
    let infra = infra_up(moto, &unique_name("nobucket"), &[]);
    let queue = infra["request_queue_url"].as_str().expect("a request queue");
    let bucket = unique_name("no-such-bucket");

    let out = run(
        asyncmcp(moto)
            .args(["serve", "--queue-url", queue, "--s3-bucket", &bucket, "--", "python3"])
            .arg(fixture("large_server.py")),
        Duration::from_secs(30),
    );

    assert!(!out.status.success(), "serve refuses to start:\n{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("the S3 bucket {bucket} does not exist")),
        "the error names the bucket:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("serving `"), "nothing is served:\n{}", out.stderr);
}

#[test]
fn infra_up_creates_the_bucket_and_down_removes_only_what_it_created() {
    let moto = Moto::shared();
    let name = unique_name("infra-s3");
    let made = unique_name("made-by-infra");
    let theirs = unique_name("not-ours");
    create_bucket(moto, &theirs);

    let first = infra_up(moto, &name, &["--s3-bucket", &made]);
    let again = infra_up(moto, &name, &["--s3-bucket", &made]);
    infra_up(moto, &format!("{name}-b"), &["--s3-bucket", &theirs]);
    assert!(bucket_exists(moto, &made), "infra up made the bucket");
    assert_eq!(first["s3_bucket"], made.as_str());
    assert_eq!(first["s3_bucket_created"], true);
    assert_eq!(again["s3_bucket_created"], false, "up again keeps it");
    let queue = first["request_queue_url"].as_str().expect("a request queue");
    let status =
        run(asyncmcp(moto).args(["status", "--queue-url", queue, "--s3-bucket", &made]), Duration::from_secs(30)).ok();
    assert!(status.stdout.contains(&format!("s3 bucket {made}")), "status shows the bucket:\n{}", status.stdout);
    assert!(status.stdout.contains(&format!("made by `infra up --name {name}`")), "{}", status.stdout);

    let down = |n: &str, bucket: &str, extra: &[&str]| {
        run(
            asyncmcp(moto).args(["infra", "down", "--name", n, "--s3-bucket", bucket]).args(extra),
            Duration::from_secs(60),
        )
        .ok()
    };
    let kept = down(&format!("{name}-b"), &theirs, &[]);
    assert!(bucket_exists(moto, &theirs), "a bucket infra up did not make is kept:\n{}", kept.stderr);
    assert!(kept.stderr.contains("--delete-bucket"), "and down says how to delete it:\n{}", kept.stderr);
    down(&name, &made, &[]);
    assert!(!bucket_exists(moto, &made), "the bucket infra up made is deleted");
    down(&format!("{name}-b"), &theirs, &["--delete-bucket"]);
    assert!(!bucket_exists(moto, &theirs), "--delete-bucket deletes any bucket");
}

#[test]
fn a_bad_key_prefix_is_refused_naming_the_option() {
    let moto = Moto::shared();
    let infra = infra_up(moto, &unique_name("badprefix"), &[]);
    let queue = infra["request_queue_url"].as_str().expect("a request queue");
    let bucket = unique_name("prefix-check");
    create_bucket(moto, &bucket);

    let out = run(
        asyncmcp(moto)
            .args(["serve", "--queue-url", queue, "--s3-bucket", &bucket, "--s3-key-prefix", "../up", "--", "python3"])
            .arg(fixture("large_server.py")),
        Duration::from_secs(30),
    );

    assert!(!out.status.success(), "serve refuses to start:\n{}", out.stderr);
    assert!(out.stderr.contains("--s3-key-prefix \"../up\""), "the error names the option:\n{}", out.stderr);
}

#[test]
fn call_over_sns_sqs_gets_a_2_mib_result_through_s3() {
    let moto = Moto::shared();
    let bucket = unique_name("large-sns");
    create_bucket(moto, &bucket);
    let infra = infra_up(moto, &unique_name("large-sns"), &["--transport", "sns-sqs"]);
    let queue = infra["request_queue_url"].as_str().expect("a request queue");
    let topic = infra["topic_arn"].as_str().expect("a request topic");
    let serve = Serve::start(
        moto,
        &["--transport", "sns-sqs", "--queue-url", queue, "--s3-bucket", &bucket],
        &["python3", &fixture("large_server.py")],
    );

    let bytes = format!("bytes={TWO_MIB}");
    let out = run(
        asyncmcp(moto).args(["call", "--transport", "sns-sqs", "--server-topic-arn", topic, "large", &bytes]),
        Duration::from_secs(90),
    )
    .ok();
    let counters = stop(serve);

    let printed = out.stdout.trim_end_matches('\n');
    assert_eq!(printed.len(), TWO_MIB, "the whole result is printed; stderr:\n{}", out.stderr);
    assert!(printed.ends_with("<end>"), "the result is intact");
    assert!(count(&counters, "S3 puts") >= 1, "the result went through S3: {counters}");
}

#[test]
fn proxy_with_s3_bucket_sends_a_2_mib_request_through_s3() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let moto = Moto::shared();
    let bucket = unique_name("large-proxy");
    create_bucket(moto, &bucket);
    let (queue, serve) = serve_large(moto, &unique_name("large-proxy"), &["--s3-delete-on-consume"]);
    let mut proxy = asyncmcp(moto)
        .args(["proxy", "--server-queue-url", &queue, "--s3-bucket", &bucket])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start asyncmcp proxy");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stdout = proxy.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let text = format!("{}<end>", "x".repeat(TWO_MIB - 5));
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "large", "arguments": {"text": text}}});
    let mut stdin = proxy.stdin.take().expect("stdin");
    for message in [
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
            "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}),
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        call,
    ] {
        writeln!(stdin, "{message}").expect("write to proxy");
    }
    stdin.flush().expect("flush");

    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).unwrap_or_else(|e| panic!("no answer to the large request: {e}"));
        let value: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
        if value["id"] == 2 {
            break value;
        }
    };
    drop(stdin);
    let exited = wait(&mut proxy, Duration::from_secs(20));
    let counters = stop(serve);

    assert_eq!(answer["result"]["content"][0]["text"], format!("got {TWO_MIB} ending <end>"), "{answer}");
    assert!(exited.is_some_and(|s| s.success()), "proxy exits 0 when stdin closes");
    let s3_calls = counters.split("; S3 ").nth(1).unwrap_or_else(|| panic!("no S3 counters: {counters}"));
    assert!(count(s3_calls, "gets") >= 1, "serve fetched the request from S3: {counters}");
    assert!(count(s3_calls, "deletes") >= 1, "and deleted it (--s3-delete-on-consume): {counters}");
    assert!(wait_for_objects(moto, &bucket, 0).is_empty(), "no object is left");
}
