//! `asyncmcp infra up|down` on moto: every resource appears, then is gone; `up`
//! twice is harmless; `--output json` parses.

mod common;

use std::time::Duration;

use common::{Moto, asyncmcp, infra_up, run, unique_name};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

async fn queue_urls(moto: &Moto, prefix: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let out = sqs.list_queues().queue_name_prefix(prefix).send().await.expect("ListQueues");
    out.queue_urls().to_vec()
}

async fn queue_attribute(moto: &Moto, url: &str, name: aws_sdk_sqs::types::QueueAttributeName) -> Option<String> {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let out = sqs.get_queue_attributes().queue_url(url).attribute_names(name.clone()).send().await.expect("attributes");
    out.attributes().and_then(|a| a.get(&name)).cloned()
}

async fn topic_arns(moto: &Moto) -> Vec<String> {
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config());
    let out = sns.list_topics().send().await.expect("ListTopics");
    out.topics().iter().filter_map(|t| t.topic_arn().map(str::to_owned)).collect()
}

async fn subscriptions(moto: &Moto) -> Vec<(String, String)> {
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config());
    let out = sns.list_subscriptions().send().await.expect("ListSubscriptions");
    out.subscriptions()
        .iter()
        .map(|s| (s.topic_arn().unwrap_or("").to_owned(), s.subscription_arn().unwrap_or("").to_owned()))
        .collect()
}

#[test]
fn sqs_up_twice_then_down_twice() {
    let moto = Moto::shared();
    let name = unique_name("infra-sqs");
    let rt = runtime();

    let text = run(asyncmcp(moto).args(["infra", "up", "--name", &name]), Duration::from_secs(60)).ok();
    assert!(text.stdout.contains(&format!("{name}-requests")), "text output names the queue:\n{}", text.stdout);
    assert!(text.stderr.contains("request queue"), "progress on stderr:\n{}", text.stderr);

    let first = infra_up(moto, &name, &[]);
    let again = infra_up(moto, &name, &[]);
    assert_eq!(first, again, "up twice gives the same resources");
    let queue_url = first["request_queue_url"].as_str().expect("request_queue_url");
    let dlq_arn = first["dead_letter_queue_arn"].as_str().expect("dead_letter_queue_arn");
    assert!(first["topic_arn"].is_null());

    let queues = rt.block_on(queue_urls(moto, &name));
    assert_eq!(queues.len(), 2, "request queue and dead-letter queue: {queues:?}");
    let redrive = rt
        .block_on(queue_attribute(moto, queue_url, aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy))
        .expect("a redrive policy");
    let redrive: serde_json::Value = serde_json::from_str(&redrive).expect("redrive JSON");
    assert_eq!(redrive["deadLetterTargetArn"], dlq_arn);

    let down =
        run(asyncmcp(moto).args(["infra", "down", "--name", &name, "--output", "json"]), Duration::from_secs(60)).ok();
    let deleted: serde_json::Value = serde_json::from_str(down.stdout.trim()).expect("down --output json");
    assert_eq!(deleted["deleted"].as_array().map(Vec::len), Some(2));
    assert!(rt.block_on(queue_urls(moto, &name)).is_empty(), "queues gone");

    let again = run(asyncmcp(moto).args(["infra", "down", "--name", &name]), Duration::from_secs(60)).ok();
    assert!(again.stderr.contains("nothing to delete"), "down twice is harmless:\n{}", again.stderr);
}

#[test]
fn sns_sqs_fifo_and_raw_up_then_down() {
    let moto = Moto::shared();
    let rt = runtime();
    for (label, extra) in [("infra-sns", vec!["--raw-delivery"]), ("infra-fifo", vec!["--fifo"])] {
        let name = unique_name(label);
        let mut args = vec!["--transport", "sns-sqs"];
        args.extend(extra.iter().copied());
        let first = infra_up(moto, &name, &args);
        let again = infra_up(moto, &name, &args);
        assert_eq!(first["topic_arn"], again["topic_arn"]);
        assert_eq!(first["request_queue_url"], again["request_queue_url"]);
        let topic = first["topic_arn"].as_str().expect("topic_arn").to_owned();
        let queue_url = first["request_queue_url"].as_str().expect("request_queue_url");
        assert_eq!(first["fifo"], extra.contains(&"--fifo"));
        if extra.contains(&"--fifo") {
            assert!(topic.ends_with(".fifo") && queue_url.ends_with(".fifo"), "{first}");
        }

        assert!(rt.block_on(topic_arns(moto)).contains(&topic), "topic exists");
        let subs: Vec<_> = rt.block_on(subscriptions(moto)).into_iter().filter(|(t, _)| t == &topic).collect();
        assert_eq!(subs.len(), 1, "one subscription after two ups: {subs:?}");
        let policy = rt
            .block_on(queue_attribute(moto, queue_url, aws_sdk_sqs::types::QueueAttributeName::Policy))
            .expect("a queue policy for SNS");
        assert!(policy.contains(&topic), "the policy names the topic: {policy}");
        assert_eq!(rt.block_on(queue_urls(moto, &name)).len(), 2);

        let mut down = vec!["infra", "down", "--name", &name, "--transport", "sns-sqs"];
        if extra.contains(&"--fifo") {
            down.push("--fifo");
        }
        run(asyncmcp(moto).args(&down), Duration::from_secs(60)).ok();
        assert!(!rt.block_on(topic_arns(moto)).contains(&topic), "topic gone");
        assert!(rt.block_on(subscriptions(moto)).iter().all(|(t, _)| t != &topic), "subscription gone");
        assert!(rt.block_on(queue_urls(moto, &name)).is_empty(), "queues gone");
    }
}

#[test]
fn bad_name_is_explained() {
    let moto = Moto::shared();
    let out = run(asyncmcp(moto).args(["infra", "up", "--name", "no spaces"]), Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(out.stderr.contains("letters, digits"), "{}", out.stderr);
}

#[test]
fn serve_on_a_missing_queue_stops_at_once_and_says_what_to_do() {
    let moto = Moto::shared();
    let url = format!("{}/123456789012/{}", moto.endpoint, unique_name("missing"));
    let finished = run(asyncmcp(moto).args(["serve", "--queue-url", &url, "--", "true"]), Duration::from_secs(60));
    assert!(!finished.status.success(), "serve must not run on a missing queue:\n{}", finished.stderr);
    assert!(finished.stderr.contains(&url), "the error names the queue:\n{}", finished.stderr);
    assert!(finished.stderr.contains("asyncmcp infra up"), "the error says what to do:\n{}", finished.stderr);
    assert!(!finished.stderr.contains("serving `"), "nothing was served:\n{}", finished.stderr);
}
