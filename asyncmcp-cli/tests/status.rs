//! `asyncmcp status` on moto: a message sent to the request queue shows as waiting,
//! one in the dead-letter queue shows there; `--topic-arn` lists the subscription.

mod common;

use std::time::Duration;

use common::{Moto, asyncmcp, infra_up, run, unique_name};

fn send(moto: &Moto, url: &str, body: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    rt.block_on(sqs.send_message().queue_url(url).message_body(body).send()).expect("SendMessage");
}

fn dlq_url(infra: &serde_json::Value, queue: &str) -> String {
    let arn = infra["dead_letter_queue_arn"].as_str().expect("dead_letter_queue_arn");
    let name = arn.rsplit(':').next().expect("a queue name");
    format!("{}/{name}", queue.rsplit_once('/').expect("a queue URL").0)
}

#[test]
fn status_shows_a_message_stuck_in_the_dead_letter_queue() {
    let moto = Moto::shared();
    let infra = infra_up(moto, &unique_name("status-dlq"), &[]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL");
    let limit = Duration::from_secs(30);

    let clean = run(asyncmcp(moto).args(["status", "--queue-url", queue]), limit).ok();
    let dead: Vec<&str> = clean.stdout.lines().filter(|l| l.contains("dead-letter")).collect();
    assert_eq!(dead.len(), 2, "the dead-letter queue and its counts:\n{}", clean.stdout);
    assert!(dead[0].contains(infra["dead_letter_queue_arn"].as_str().expect("arn")), "{}", clean.stdout);
    assert!(dead[1].contains("0 waiting"), "{}", clean.stdout);
    assert!(clean.stdout.contains("messages      0 waiting, 0 in flight, 0 delayed"), "{}", clean.stdout);

    send(moto, queue, "{}");
    send(moto, &dlq_url(&infra, queue), r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let out = run(asyncmcp(moto).args(["status", "--queue-url", queue]), limit).ok();
    assert!(out.stdout.contains("messages      1 waiting, 0 in flight, 0 delayed"), "{}", out.stdout);
    let dead = out.stdout.lines().filter(|l| l.contains("dead-letter")).nth(1).unwrap_or_default();
    assert!(dead.contains("1 waiting") && dead.contains("messages failed"), "the DLQ message shows:\n{}", out.stdout);
    assert!(out.stdout.contains("oldest        no CloudWatch data in the last 15 minutes"), "{}", out.stdout);
    // Looking did not receive: the message is still waiting, not in flight.
    let again = run(asyncmcp(moto).args(["status", "--queue-url", queue]), limit).ok();
    assert!(again.stdout.contains("messages      1 waiting, 0 in flight"), "{}", again.stdout);
}

/// What SQS publishes every minute, put by hand (moto publishes no SQS metrics).
fn publish_oldest_age(moto: &Moto, queue_name: &str, seconds: f64) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config());
    let datum = MetricDatum::builder()
        .metric_name("ApproximateAgeOfOldestMessage")
        .dimensions(Dimension::builder().name("QueueName").value(queue_name).build())
        .value(seconds)
        .unit(StandardUnit::Seconds)
        .build();
    rt.block_on(cloudwatch.put_metric_data().namespace("AWS/SQS").metric_data(datum).send()).expect("PutMetricData");
}

#[test]
fn status_shows_the_oldest_message_age_from_cloudwatch() {
    let moto = Moto::shared();
    let name = unique_name("status-age");
    let infra = infra_up(moto, &name, &[]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL");
    let queue_name = queue.rsplit('/').next().expect("a queue name");

    publish_oldest_age(moto, queue_name, 425.0);
    let out = run(asyncmcp(moto).args(["status", "--queue-url", queue]), Duration::from_secs(30)).ok();

    let oldest = out.stdout.lines().find(|l| l.trim_start().starts_with("oldest")).unwrap_or_default();
    assert!(oldest.contains("7m 5s (CloudWatch ApproximateAgeOfOldestMessage)"), "{}", out.stdout);
}

#[test]
fn status_of_a_topic_lists_its_subscription_and_queue() {
    let moto = Moto::shared();
    let infra = infra_up(moto, &unique_name("status-sns"), &["--transport", "sns-sqs"]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL");
    let topic = infra["topic_arn"].as_str().expect("topic ARN");
    let out = run(asyncmcp(moto).args(["status", "--topic-arn", topic]), Duration::from_secs(30)).ok();
    assert!(out.stdout.starts_with(&format!("topic {topic}\n  subscription ")), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("queue {queue}\n")), "the queue it feeds:\n{}", out.stdout);
    assert!(out.stdout.contains(&format!("subscribed to {topic}")), "{}", out.stdout);

    // --watch refreshes until Ctrl-C.
    let mut watch = asyncmcp(moto);
    watch.args(["status", "--queue-url", queue, "--watch", "1"]);
    let child = watch.stdout(std::process::Stdio::piped()).spawn().expect("start status --watch");
    std::thread::sleep(Duration::from_millis(2500));
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().is_ok_and(|s| s.success()));
    let out = child.wait_with_output().expect("status --watch ends");
    assert!(out.status.success(), "Ctrl-C ends --watch with 0");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.matches(&format!("queue {queue}")).count() >= 2, "refreshed:\n{text}");
}

#[test]
fn a_closed_stdout_ends_status_quietly() {
    let moto = Moto::shared();
    let infra = infra_up(moto, &unique_name("status-pipe"), &[]);
    let queue = infra["request_queue_url"].as_str().expect("queue URL");
    for extra in [&[][..], &["--watch", "1"][..]] {
        let mut status = asyncmcp(moto);
        status.args(["status", "--queue-url", queue]).args(extra);
        let mut child = status
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start status");
        // The reader goes away at once, as with `| head -1` done reading.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("status ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "status {extra:?} exits 0 when stdout closes:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
