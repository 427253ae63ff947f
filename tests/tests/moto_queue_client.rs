//! The moto tier: `AwsQueueClient` and `AwsAdmin` through the real AWS SDK against a
//! local moto server (one per test binary; every test uses its own queues and topics).

use std::time::{Duration, Instant};

use asyncmcp_aws::{AwsAdmin, AwsQueueClient, QueueInfo, QueueSpec, ReplyQueue, ReplyVia};
use asyncmcp_driver::{QueueClient, ReceiveRequest};
use asyncmcp_proto::attributes::{AttributeValue, Attributes};
use asyncmcp_proto::codec::{Payload, decode};
use asyncmcp_proto::{
    Address, FailureKind, InboundMessage, OpFailure, OpId, OpKind, OpResult, QueueOp, RequestId, SendOp,
};
use asyncmcp_tests::moto::{Moto, unique_name};
use bytes::Bytes;

struct Aws {
    client: AwsQueueClient,
    admin: AwsAdmin,
}

fn aws() -> Aws {
    let config = Moto::shared().sdk_config();
    Aws { client: AwsQueueClient::new(&config), admin: AwsAdmin::new(&config) }
}

impl Aws {
    async fn queue(&self, prefix: &str) -> QueueInfo {
        self.admin.create_queue(&unique_name(prefix), &QueueSpec::default()).await.expect("create queue")
    }

    async fn receive(&self, url: &str, max: usize, wait_secs: u64) -> Vec<InboundMessage> {
        let request = ReceiveRequest {
            queue_url: url.to_owned(),
            max_messages: max,
            wait: Duration::from_secs(wait_secs),
            visibility: None,
        };
        self.client.receive(request).await.expect("receive")
    }

    /// Receives until `n` messages arrived (moto may spread them over calls).
    async fn receive_n(&self, url: &str, n: usize) -> Vec<InboundMessage> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut all = Vec::new();
        while all.len() < n && Instant::now() < deadline {
            all.extend(self.receive(url, 10, 1).await);
        }
        assert_eq!(all.len(), n, "expected {n} messages on {url}");
        all
    }

    async fn execute(&self, op: QueueOp) -> OpResult {
        self.client.execute(op).await
    }
}

fn attrs(pairs: &[(&str, AttributeValue)]) -> Attributes {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

fn send(id: u64, to: Address, body: &str, attributes: Attributes) -> QueueOp {
    QueueOp {
        id: OpId(id),
        kind: OpKind::Send(SendOp {
            to,
            body: Bytes::from(body.to_owned()),
            attributes,
            group_id: None,
            dedup_id: None,
            offload: None,
        }),
    }
}

fn delete(id: u64, url: &str, receipt: &str) -> QueueOp {
    QueueOp { id: OpId(id), kind: OpKind::Delete { queue_url: url.to_owned(), receipt_handle: receipt.to_owned() } }
}

fn visibility(id: u64, url: &str, receipt: &str, timeout_secs: u32) -> QueueOp {
    QueueOp {
        id: OpId(id),
        kind: OpKind::ChangeVisibility { queue_url: url.to_owned(), receipt_handle: receipt.to_owned(), timeout_secs },
    }
}

fn failure(result: OpResult) -> OpFailure {
    match result {
        OpResult::Failed(f) => {
            // Shown with --nocapture: the messages users will read.
            eprintln!("failure: {f}");
            f
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn jsonrpc_attributes(method: &str, id: u64) -> Attributes {
    attrs(&[
        ("MessageType", AttributeValue::string("jsonrpc")),
        ("Method", AttributeValue::string(method)),
        ("RequestId", AttributeValue::string(id.to_string())),
        ("Timestamp", AttributeValue::number(1_795_709_490u64)),
    ])
}

#[tokio::test]
async fn send_receive_delete() {
    let aws = aws();
    let q = aws.queue("basic").await;
    let attributes = attrs(&[
        ("MessageType", AttributeValue::string("jsonrpc")),
        ("Timestamp", AttributeValue::number(1_795_709_490u64)),
        ("Blob", AttributeValue { data_type: "Binary".into(), value: "AAEC".into() }),
    ]);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

    assert_eq!(aws.execute(send(1, Address::Queue(q.url.clone()), body, attributes.clone())).await, OpResult::Ok);
    let received = aws.receive_n(&q.url, 1).await;

    let msg = &received[0];
    assert_eq!(msg.body, body.as_bytes());
    assert_eq!(msg.attributes, attributes);
    assert_eq!(msg.receive_count, 1);
    let sent = msg.sent_timestamp_ms.expect("SentTimestamp requested");
    assert!(sent > 1_600_000_000_000, "SentTimestamp {sent} is Unix milliseconds");
    assert!(!msg.message_id.is_empty() && !msg.receipt_handle.is_empty());
    assert_eq!(aws.execute(delete(2, &q.url, &msg.receipt_handle)).await, OpResult::Ok);
    assert!(aws.receive(&q.url, 10, 1).await.is_empty(), "queue is empty after the delete");
}

#[tokio::test]
async fn publish_with_envelope_delivery_decodes_to_the_original() {
    let aws = aws();
    let q = aws.queue("envelope").await;
    let topic = aws.admin.create_topic(&unique_name("envelope")).await.expect("create topic");
    aws.admin.subscribe_queue(&topic, &q.arn, &q.url, false).await.expect("subscribe");
    let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"q":"a \"quoted\" word"}}"#;

    let sent = aws.execute(send(1, Address::Topic(topic.clone()), body, jsonrpc_attributes("tools/list", 7))).await;
    assert_eq!(sent, OpResult::Ok);
    let received = aws.receive_n(&q.url, 1).await;

    let msg = &received[0];
    let envelope: serde_json::Value = serde_json::from_slice(&msg.body).expect("the body is the SNS envelope");
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["Message"], body);
    assert!(msg.attributes.is_empty(), "publish attributes travel inside the envelope: {:?}", msg.attributes);
    let decoded = decode(msg).expect("decodes");
    let Payload::Message(request) = &decoded.payload else { panic!("a whole message") };
    assert_eq!(request.as_str(), body);
    assert_eq!(request.id(), Some(&RequestId::Number(7)));
    assert_eq!(decoded.meta.method.as_deref(), Some("tools/list"));
    assert_eq!(decoded.meta.request_id.as_deref(), Some("7"));
    assert_eq!(decoded.meta.timestamp, Some(1_795_709_490));
    assert_eq!(decoded.sns.expect("came through SNS").topic_arn, topic);
}

#[tokio::test]
async fn publish_with_raw_delivery_keeps_sqs_attributes() {
    let aws = aws();
    let q = aws.queue("raw").await;
    let topic = aws.admin.create_topic(&unique_name("raw")).await.expect("create topic");
    aws.admin.subscribe_queue(&topic, &q.arn, &q.url, true).await.expect("subscribe");
    let body = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let attributes = attrs(&[
        ("MessageType", AttributeValue::string("jsonrpc")),
        ("Method", AttributeValue::string("notifications/initialized")),
        ("Timestamp", AttributeValue::number(1_795_709_490u64)),
    ]);

    assert_eq!(aws.execute(send(1, Address::Topic(topic), body, attributes.clone())).await, OpResult::Ok);
    let received = aws.receive_n(&q.url, 1).await;

    assert_eq!(received[0].body, body.as_bytes());
    assert_eq!(received[0].attributes, attributes);
    let decoded = decode(&received[0]).expect("decodes");
    assert!(decoded.sns.is_none());
    assert_eq!(decoded.meta.method.as_deref(), Some("notifications/initialized"));
}

#[tokio::test]
async fn batches_of_ten_send_and_delete_in_one_call_each() {
    let aws = aws();
    let q = aws.queue("batch").await;
    let sends: Vec<QueueOp> = (0..10)
        .map(|i| send(i, Address::Queue(q.url.clone()), &format!("{{\"n\":{i}}}"), jsonrpc_attributes("m", i)))
        .collect();

    let results = aws.client.execute_batch(sends).await;

    assert!(aws.client.batches());
    assert_eq!(results, (0..10).map(|i| (OpId(i), OpResult::Ok)).collect::<Vec<_>>());
    let received = aws.receive_n(&q.url, 10).await;
    let mut bodies: Vec<String> = received.iter().map(|m| String::from_utf8(m.body.to_vec()).expect("UTF-8")).collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("{{\"n\":{i}}}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    let deletes: Vec<QueueOp> =
        received.iter().enumerate().map(|(i, m)| delete(100 + i as u64, &q.url, &m.receipt_handle)).collect();
    let results = aws.client.execute_batch(deletes).await;
    assert_eq!(results, (100..110).map(|i| (OpId(i), OpResult::Ok)).collect::<Vec<_>>());
    assert!(aws.receive(&q.url, 10, 1).await.is_empty());
}

#[tokio::test]
async fn a_bad_entry_fails_only_itself() {
    let aws = aws();
    let q = aws.queue("partial").await;
    let sends = (0..2).map(|i| send(i, Address::Queue(q.url.clone()), "{}", Attributes::new())).collect();
    assert!(aws.client.execute_batch(sends).await.iter().all(|(_, r)| *r == OpResult::Ok));
    let received = aws.receive_n(&q.url, 2).await;

    let results = aws
        .client
        .execute_batch(vec![
            delete(10, &q.url, &received[0].receipt_handle),
            delete(11, &q.url, "not-a-receipt-handle"),
            delete(12, &q.url, &received[1].receipt_handle),
        ])
        .await;

    // One DeleteMessageBatch call: the bad entry fails, the others are done.
    assert_eq!(results.len(), 3);
    assert_eq!(results[0], (OpId(10), OpResult::Ok));
    let (id, bad) = (results[1].0, failure(results[1].1.clone()));
    assert_eq!(id, OpId(11));
    assert_eq!(bad.kind, FailureKind::StaleReceipt, "{bad}");
    assert!(bad.detail.contains(&q.url), "{bad}");
    assert_eq!(results[2], (OpId(12), OpResult::Ok));
    assert!(aws.receive(&q.url, 10, 1).await.is_empty(), "both good deletes took effect");
}

#[tokio::test]
async fn a_mixed_batch_is_refused_not_regrouped() {
    let aws = aws();
    let q = aws.queue("mixed").await;
    let sends = (0..2).map(|i| send(i, Address::Queue(q.url.clone()), "{}", Attributes::new())).collect();
    assert!(aws.client.execute_batch(sends).await.iter().all(|(_, r)| *r == OpResult::Ok));
    let received = aws.receive_n(&q.url, 2).await;

    let results = aws
        .client
        .execute_batch(vec![
            delete(10, &q.url, &received[0].receipt_handle),
            visibility(11, &q.url, &received[1].receipt_handle, 0),
        ])
        .await;

    // The driver decides batches: an entry of another kind is a broken promise, not
    // sent; the batch's own kind goes in one call.
    assert_eq!(results.len(), 2);
    assert!(results.contains(&(OpId(10), OpResult::Ok)), "{results:?}");
    let refused = results.iter().find(|(id, _)| *id == OpId(11)).map(|(_, r)| failure(r.clone())).expect("11");
    assert_eq!(refused.kind, FailureKind::Invalid, "{refused}");
}

#[tokio::test]
async fn publish_batch_and_visibility_batch() {
    let aws = aws();
    let q = aws.queue("pubbatch").await;
    let topic = aws.admin.create_topic(&unique_name("pubbatch")).await.expect("create topic");
    aws.admin.subscribe_queue(&topic, &q.arn, &q.url, true).await.expect("subscribe");
    let publishes = (0..3).map(|i| send(i, Address::Topic(topic.clone()), "{}", jsonrpc_attributes("m", i))).collect();

    let results = aws.client.execute_batch(publishes).await;

    assert_eq!(results, (0..3).map(|i| (OpId(i), OpResult::Ok)).collect::<Vec<_>>());
    let received = aws.receive_n(&q.url, 3).await;
    let release = received.iter().enumerate().map(|(i, m)| visibility(10 + i as u64, &q.url, &m.receipt_handle, 0));
    let results = aws.client.execute_batch(release.collect()).await;
    assert!(results.iter().all(|(_, r)| *r == OpResult::Ok), "{results:?}");
    let again = aws.receive_n(&q.url, 3).await;
    assert!(again.iter().all(|m| m.receive_count == 2));
}

#[tokio::test]
async fn visibility_zero_releases_and_a_heartbeat_after_delete_is_fatal() {
    let aws = aws();
    let q = aws.queue("visibility").await;
    assert_eq!(aws.execute(send(1, Address::Queue(q.url.clone()), "{}", Attributes::new())).await, OpResult::Ok);
    let first = aws.receive_n(&q.url, 1).await.remove(0);
    assert!(aws.receive(&q.url, 10, 0).await.is_empty(), "in flight, so hidden");

    assert_eq!(aws.execute(visibility(2, &q.url, &first.receipt_handle, 0)).await, OpResult::Ok);
    let second = aws.receive(&q.url, 10, 0).await;

    assert_eq!(second.len(), 1, "visible again at once");
    assert_eq!(second[0].message_id, first.message_id);
    assert_eq!(second[0].receive_count, 2);
    assert_eq!(aws.execute(delete(3, &q.url, &second[0].receipt_handle)).await, OpResult::Ok);
    let heartbeat = failure(aws.execute(visibility(4, &q.url, &second[0].receipt_handle, 30)).await);
    assert!(!heartbeat.is_retryable(), "{heartbeat}");
    assert!(heartbeat.detail.contains(&q.url), "{heartbeat}");
}

#[tokio::test]
async fn fifo_queue_takes_group_and_dedup_ids() {
    let aws = aws();
    let name = format!("{}.fifo", unique_name("fifo"));
    let q = aws.admin.create_queue(&name, &QueueSpec { fifo: true, ..QueueSpec::default() }).await.expect("create");
    let fifo_send = |id: u64, body: &str, dedup: &str| {
        let mut op = send(id, Address::Queue(q.url.clone()), body, Attributes::new());
        if let OpKind::Send(s) = &mut op.kind {
            s.group_id = Some("session-1".into());
            s.dedup_id = Some(dedup.into());
        }
        op
    };

    for op in [fifo_send(1, "{\"n\":1}", "d-1"), fifo_send(2, "{\"n\":1}", "d-1"), fifo_send(3, "{\"n\":2}", "d-2")] {
        assert_eq!(aws.execute(op).await, OpResult::Ok);
    }
    let mut bodies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && bodies.len() < 3 {
        let batch = aws.receive(&q.url, 10, 1).await;
        if batch.is_empty() && bodies.len() == 2 {
            break;
        }
        for m in batch {
            assert_eq!(aws.execute(delete(9, &q.url, &m.receipt_handle)).await, OpResult::Ok);
            bodies.push(String::from_utf8(m.body.to_vec()).expect("UTF-8"));
        }
    }

    assert_eq!(bodies, ["{\"n\":1}", "{\"n\":2}"], "the duplicate dedup id was delivered once, in order");
    let no_group = failure(aws.execute(send(4, Address::Queue(q.url.clone()), "{}", Attributes::new())).await);
    assert!(!no_group.is_retryable(), "{no_group}");
}

#[tokio::test]
async fn missing_queue_and_topic_are_fatal_and_say_what_to_do() {
    let aws = aws();
    let url = Moto::shared().queue_url(&unique_name("missing"));
    let arn = Moto::topic_arn(&unique_name("missing"));

    let queue = failure(aws.execute(send(1, Address::Queue(url.clone()), "{}", Attributes::new())).await);
    let topic = failure(aws.execute(send(2, Address::Topic(arn.clone()), "{}", Attributes::new())).await);
    let receive = aws
        .client
        .receive(ReceiveRequest { queue_url: url.clone(), max_messages: 1, wait: Duration::ZERO, visibility: None })
        .await
        .expect_err("no such queue");

    eprintln!("failure: {receive}");
    for (f, name) in [(&queue, &url), (&topic, &arn), (&receive, &url)] {
        assert_eq!(f.kind, FailureKind::NotFound, "{f}");
        assert!(f.detail.contains(name.as_str()), "{f}");
        assert!(f.detail.contains("does not exist") && f.detail.contains("`asyncmcp infra up`"), "{f}");
    }
}

#[tokio::test]
async fn long_poll_on_an_empty_queue_returns_empty() {
    let aws = aws();
    let q = aws.queue("longpoll").await;
    let request =
        ReceiveRequest { queue_url: q.url.clone(), max_messages: 10, wait: Duration::from_secs(1), visibility: None };

    let received = tokio::time::timeout(Duration::from_secs(15), aws.client.receive(request)).await;

    assert_eq!(received.expect("the long poll returns").expect("receive"), Vec::<InboundMessage>::new());
}

#[tokio::test]
async fn admin_is_idempotent() {
    let aws = aws();
    let name = unique_name("admin");
    let dlq = aws.admin.create_queue(&format!("{name}-dlq"), &QueueSpec::default()).await.expect("dlq");
    let spec = QueueSpec { fifo: false, visibility_timeout_secs: Some(45), dead_letter: Some((dlq.arn.clone(), 3)) };

    let first = aws.admin.create_queue(&name, &spec).await.expect("create");
    let second = aws.admin.create_queue(&name, &spec).await.expect("create again");
    let changed = aws
        .admin
        .create_queue(&name, &QueueSpec { visibility_timeout_secs: Some(60), ..spec.clone() })
        .await
        .expect("create with other settings converges");
    let topic = aws.admin.create_topic(&name).await.expect("topic");
    let topic_again = aws.admin.create_topic(&name).await.expect("topic again");
    let sub = aws.admin.subscribe_queue(&topic, &first.arn, &first.url, true).await.expect("subscribe");
    let sub_again = aws.admin.subscribe_queue(&topic, &first.arn, &first.url, true).await.expect("subscribe again");

    assert_eq!(first, second);
    assert_eq!(first, changed);
    assert!(first.arn.ends_with(&format!(":{name}")), "{}", first.arn);
    assert_eq!(topic, topic_again);
    assert_eq!(sub, sub_again);
    assert_eq!(aws.admin.queue_url(&name).await.expect("url"), first.url);
    let misnamed = aws.admin.create_queue(&name, &QueueSpec { fifo: true, ..QueueSpec::default() }).await;
    assert!(misnamed.expect_err("fifo names end in .fifo").detail.contains(".fifo"));

    aws.admin.delete_queue(&first.url).await.expect("delete");
    aws.admin.delete_queue(&first.url).await.expect("delete again");
    aws.admin.delete_topic(&topic).await.expect("delete topic");
    aws.admin.delete_topic(&topic).await.expect("delete topic again");
    let gone = aws.admin.queue_arn(&first.url).await.expect_err("deleted");
    assert!(gone.kind == FailureKind::NotFound && gone.detail.contains("does not exist"), "{gone}");
}

#[tokio::test]
async fn oversized_publish_is_fatal_and_says_so() {
    let aws = aws();
    let topic = aws.admin.create_topic(&unique_name("large")).await.expect("create topic");
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));

    let too_large = failure(aws.execute(send(1, Address::Topic(topic.clone()), &body, Attributes::new())).await);

    assert_eq!(too_large.kind, FailureKind::TooLarge, "{too_large}");
    assert!(too_large.detail.contains("too large") && too_large.detail.contains(&topic), "{too_large}");
}

/// Counts the API calls moto has logged (`"POST / HTTP/1.1"` lines), waiting until the
/// count has reached at least `at_least` and stayed put briefly (moto logs after it
/// replies).
fn logged_calls(moto: &Moto, at_least: usize) -> usize {
    let count = || std::fs::read_to_string(&moto.log).unwrap_or_default().matches("\"POST / HTTP/1.1\"").count();
    let deadline = Instant::now() + Duration::from_secs(3);
    while count() < at_least && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    count()
}

#[tokio::test]
async fn a_batch_of_ten_is_one_call() {
    // A private server, so its log counts only this test's calls.
    let moto = Moto::start();
    let config = moto.sdk_config();
    let (client, admin) = (AwsQueueClient::new(&config), AwsAdmin::new(&config));
    let q = admin.create_queue("calls", &QueueSpec::default()).await.expect("create");
    let sends = (0..10).map(|i| send(i, Address::Queue(q.url.clone()), "{}", Attributes::new())).collect();
    let before = logged_calls(&moto, 1);

    let results = client.execute_batch(sends).await;

    assert!(results.iter().all(|(_, r)| *r == OpResult::Ok), "{results:?}");
    assert_eq!(logged_calls(&moto, before + 1), before + 1, "one SendMessageBatch for ten sends");
    let request =
        ReceiveRequest { queue_url: q.url.clone(), max_messages: 10, wait: Duration::from_secs(1), visibility: None };
    let mut received = Vec::new();
    while received.len() < 10 {
        received.extend(client.receive(request.clone()).await.expect("receive"));
    }
    let before = logged_calls(&moto, 0);
    let deletes = received.iter().enumerate().map(|(i, m)| delete(20 + i as u64, &q.url, &m.receipt_handle));
    let results = client.execute_batch(deletes.collect()).await;
    assert!(results.iter().all(|(_, r)| *r == OpResult::Ok), "{results:?}");
    assert_eq!(logged_calls(&moto, before + 1), before + 1, "one DeleteMessageBatch for ten deletes");
}

#[tokio::test]
async fn a_reply_queue_is_private_and_gone_after_shutdown() {
    let aws = aws();
    let prefix = unique_name("reply");
    let first = ReplyQueue::create(&aws.admin, &prefix, ReplyVia::Queue, false).await.expect("create");
    let second = ReplyQueue::create(&aws.admin, &prefix, ReplyVia::Queue, false).await.expect("create again");
    assert_ne!(first.queue_url(), second.queue_url(), "a unique name each time");
    assert!(first.queue_url().contains(&prefix), "{}", first.queue_url());
    assert_eq!(first.reply_to(), Address::Queue(first.queue_url().to_owned()));
    let url = first.queue_url().to_owned();
    assert_eq!(aws.execute(send(1, first.reply_to(), "{}", Attributes::new())).await, OpResult::Ok);

    first.shutdown().await.expect("shutdown");

    let gone = aws.admin.queue_arn(&url).await.expect_err("deleted");
    assert_eq!(gone.kind, FailureKind::NotFound, "{gone}");
    second.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_reply_queue_via_a_topic_receives_and_deletes_both() {
    let aws = aws();
    let reply =
        ReplyQueue::create(&aws.admin, &unique_name("reply-topic"), ReplyVia::Topic, false).await.expect("create");
    let Address::Topic(arn) = reply.reply_to() else { panic!("replies go to the topic: {:?}", reply.reply_to()) };
    assert_eq!(reply.topic_arn(), Some(arn.as_str()));
    assert_eq!(aws.execute(send(1, Address::Topic(arn.clone()), "{\"n\":1}", Attributes::new())).await, OpResult::Ok);
    let url = reply.queue_url().to_owned();
    assert_eq!(aws.receive_n(&url, 1).await.len(), 1, "the topic feeds the queue");

    reply.shutdown().await.expect("shutdown");

    let publish = failure(aws.execute(send(2, Address::Topic(arn), "{}", Attributes::new())).await);
    assert_eq!(publish.kind, FailureKind::NotFound, "{publish}");
    let gone = aws.admin.queue_arn(&url).await.expect_err("deleted");
    assert_eq!(gone.kind, FailureKind::NotFound, "{gone}");
}

#[tokio::test]
async fn a_dropped_reply_queue_is_deleted_best_effort() {
    let aws = aws();
    let reply =
        ReplyQueue::create(&aws.admin, &unique_name("reply-drop"), ReplyVia::Queue, false).await.expect("create");
    let url = reply.queue_url().to_owned();

    drop(reply);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match aws.admin.queue_arn(&url).await {
            Err(e) if e.kind == FailureKind::NotFound => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("the dropped reply queue is still there: {other:?}"),
        }
    }
}
