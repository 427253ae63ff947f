//! Unit tests of the simulator through its public API.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::attributes::{AttributeValue, Attributes};
use crate::{Address, FailureKind, InboundMessage, OpFailure, OpId, OpKind, OpResult, QueueOp, SendOp};

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn broker_with(faults: Faults, now: Instant) -> Broker {
    Broker::new(SimConfig { faults, ..SimConfig::default() }, now, [42; 32])
}

fn broker(now: Instant) -> Broker {
    broker_with(Faults::none(), now)
}

fn send_with(to: Address, body: &str, attributes: Attributes, group: Option<&str>, dedup: Option<&str>) -> QueueOp {
    QueueOp {
        id: OpId(1),
        kind: OpKind::Send(SendOp {
            to,
            body: Bytes::copy_from_slice(body.as_bytes()),
            attributes,
            group_id: group.map(str::to_owned),
            dedup_id: dedup.map(str::to_owned),
            offload: None,
        }),
    }
}

fn send(url: &str, body: &str) -> QueueOp {
    send_with(Address::Queue(url.to_owned()), body, Attributes::new(), None, None)
}

fn send_fifo(url: &str, body: &str, group: &str, dedup: &str) -> QueueOp {
    send_with(Address::Queue(url.to_owned()), body, Attributes::new(), Some(group), Some(dedup))
}

fn publish(arn: &str, body: &str, attributes: Attributes) -> QueueOp {
    send_with(Address::Topic(arn.to_owned()), body, attributes, None, None)
}

fn delete(url: &str, handle: &str) -> QueueOp {
    QueueOp { id: OpId(2), kind: OpKind::Delete { queue_url: url.to_owned(), receipt_handle: handle.to_owned() } }
}

fn change(url: &str, handle: &str, timeout_secs: u32) -> QueueOp {
    QueueOp {
        id: OpId(3),
        kind: OpKind::ChangeVisibility { queue_url: url.to_owned(), receipt_handle: handle.to_owned(), timeout_secs },
    }
}

fn failure(result: OpResult) -> OpFailure {
    match result {
        OpResult::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn bodies(messages: &[InboundMessage]) -> Vec<String> {
    messages.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect()
}

fn attrs(n: usize) -> Attributes {
    (0..n).map(|i| (format!("A{i}"), AttributeValue::string("v"))).collect()
}

// ---- set-up ----

#[test]
fn queues_and_topics_have_aws_shaped_names_and_are_idempotent() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions::default());
    assert_eq!(url, "http://sim.local/123456789012/q");
    assert_eq!(b.create_queue("q", QueueOptions::default()), url);
    let arn = b.create_topic("t");
    assert_eq!(arn, "arn:aws:sns:us-east-1:123456789012:t");
    assert_eq!(b.create_topic("t"), arn);
    let sub = b.subscribe(&arn, &url, true).unwrap();
    assert!(sub.starts_with(&format!("{arn}:")));
    assert_eq!(b.subscribe(&arn, &url, true).unwrap(), sub);
    assert!(b.subscribe(&arn, &url, false).is_err(), "same pair with another delivery mode");
    assert!(!b.subscribe("arn:aws:sns:us-east-1:123456789012:nope", &url, true).unwrap_err().is_retryable());
    let err = b.subscribe(&arn, "http://sim.local/123456789012/nope", true).unwrap_err();
    assert!(err.detail.contains("http://sim.local/123456789012/nope"));
    let fifo_q = b.create_queue("f.fifo", QueueOptions::default());
    assert!(b.subscribe(&arn, &fifo_q, true).is_err(), "standard topic, FIFO queue");
}

// ---- SendMessage ----

#[test]
fn send_to_unknown_queue_is_fatal_and_names_the_url() {
    let now = t0();
    let mut b = broker(now);
    let f = failure(b.handle_op(&send("http://sim.local/123456789012/missing", "x"), now));
    assert_eq!(f.kind, FailureKind::NotFound);
    assert!(f.detail.contains("http://sim.local/123456789012/missing"), "{}", f.detail);
    assert!(f.detail.contains("does not exist"));
}

#[test]
fn size_limit_counts_body_and_attributes() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("small", QueueOptions { max_message_bytes: 100, ..QueueOptions::default() });
    // One attribute "A0" String "v": 2 + 6 + 1 = 9 bytes, so a 91-byte body fits exactly.
    let fits = send_with(Address::Queue(url.clone()), &"x".repeat(91), attrs(1), None, None);
    assert_eq!(b.handle_op(&fits, now), OpResult::Ok);
    let over = send_with(Address::Queue(url.clone()), &"x".repeat(92), attrs(1), None, None);
    let f = failure(b.handle_op(&over, now));
    assert_eq!(f.kind, FailureKind::TooLarge);
    assert!(f.detail.contains("101 bytes") && f.detail.contains("100 bytes"), "{}", f.detail);
    assert_eq!(b.queue_depth(&url).unwrap().visible, 1);
}

#[test]
fn more_than_ten_attributes_is_fatal() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions::default());
    let ten = send_with(Address::Queue(url.clone()), "x", attrs(10), None, None);
    assert_eq!(b.handle_op(&ten, now), OpResult::Ok);
    let eleven = send_with(Address::Queue(url.clone()), "x", attrs(11), None, None);
    let f = failure(b.handle_op(&eleven, now));
    assert!(!f.is_retryable() && f.detail.contains("11 message attributes"), "{}", f.detail);
}

#[test]
fn empty_or_invalid_bodies_and_attributes_are_fatal() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions::default());
    assert!(failure(b.handle_op(&send(&url, ""), now)).detail.contains("empty"));
    assert!(failure(b.handle_op(&send(&url, "a\u{1}b"), now)).detail.contains("U+0001"));
    let mut bad = Attributes::new();
    bad.insert("A".into(), AttributeValue { data_type: "Weird".into(), value: "v".into() });
    assert!(!failure(b.handle_op(&send_with(Address::Queue(url.clone()), "x", bad, None, None), now)).is_retryable());
    assert_eq!(b.queue_depth(&url), Some(QueueDepth::default()));
    assert_eq!(b.stats().sends, 0);
}

#[test]
fn messages_get_uuid_ids_and_sent_timestamps_from_the_simulated_clock() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions::default());
    let later = now + Duration::from_millis(1500);
    assert_eq!(b.handle_op(&send(&url, "x"), later), OpResult::Ok);
    let m = b.poll_delivery(&url, later).unwrap();
    assert_eq!(m.message_id.len(), 36);
    assert_eq!(m.message_id.matches('-').count(), 4);
    assert_eq!(m.sent_timestamp_ms, Some(SimConfig::default().start_unix_millis + 1500));
    assert_eq!(b.unix_millis(later), SimConfig::default().start_unix_millis + 1500);
    assert!(m.receipt_handle.starts_with(&format!("{}#1-", m.message_id)));
}

// ---- Publish ----

#[test]
fn publish_to_unknown_topic_or_over_the_sns_limit_is_fatal() {
    let now = t0();
    let mut b = broker(now);
    let missing = "arn:aws:sns:us-east-1:123456789012:missing";
    let f = failure(b.handle_op(&publish(missing, "x", Attributes::new()), now));
    assert!(f.kind == FailureKind::NotFound && f.detail.contains(missing));
    let arn = b.create_topic("t");
    let f = failure(b.handle_op(&publish(&arn, &"x".repeat(262_145), Attributes::new()), now));
    assert!(!f.is_retryable() && f.detail.contains("262145") && f.detail.contains("262144"), "{}", f.detail);
    assert_eq!(b.handle_op(&publish(&arn, &"x".repeat(262_144), Attributes::new()), now), OpResult::Ok);
    assert_eq!(b.stats().publishes, 1);
}

#[test]
fn publish_fans_out_raw_and_enveloped() {
    let now = t0();
    let mut b = broker(now);
    let arn = b.create_topic("t");
    let raw_q = b.create_queue("raw", QueueOptions::default());
    let env_q = b.create_queue("env", QueueOptions::default());
    b.subscribe(&arn, &raw_q, true).unwrap();
    let sub = b.subscribe(&arn, &env_q, false).unwrap();
    let body = r#"{"jsonrpc":"2.0","method":"ping","params":{"q":"\"x\""}}"#;
    let mut a = Attributes::new();
    a.insert("MessageType".into(), AttributeValue::string("jsonrpc"));
    a.insert("Timestamp".into(), AttributeValue::number(5));
    let later = now + secs(2);
    assert_eq!(b.handle_op(&publish(&arn, body, a.clone()), later), OpResult::Ok);

    let raw = b.poll_delivery(&raw_q, later).unwrap();
    assert_eq!(raw.body, body.as_bytes());
    assert_eq!(raw.attributes, a);

    let env = b.poll_delivery(&env_q, later).unwrap();
    assert!(env.attributes.is_empty(), "attributes travel inside the envelope");
    let v: serde_json::Value = serde_json::from_slice(&env.body).unwrap();
    assert_eq!(v["Type"], "Notification");
    assert_eq!(v["TopicArn"], arn.as_str());
    assert_eq!(v["Message"], body);
    assert_eq!(v["Timestamp"], "2026-11-26T00:00:02.000Z");
    assert_eq!(v["MessageAttributes"]["MessageType"]["Value"], "jsonrpc");
    assert_eq!(v["MessageAttributes"]["Timestamp"]["Type"], "Number");
    assert!(v["UnsubscribeURL"].as_str().unwrap().ends_with(&sub));
    assert_ne!(v["MessageId"], env.message_id.as_str(), "SNS and SQS ids differ");
    assert_ne!(raw.message_id, env.message_id);
}

#[test]
fn enveloped_delivery_too_large_for_the_queue_is_dropped_and_counted() {
    let now = t0();
    let mut b = broker(now);
    let arn = b.create_topic("t");
    let small = b.create_queue("small", QueueOptions { max_message_bytes: 1000, ..QueueOptions::default() });
    let big = b.create_queue("big", QueueOptions::default());
    b.subscribe(&arn, &small, false).unwrap();
    b.subscribe(&arn, &big, false).unwrap();
    // 900 bytes fit the small queue raw, but not inside an envelope.
    assert_eq!(b.handle_op(&publish(&arn, &"x".repeat(900), Attributes::new()), now), OpResult::Ok);
    assert_eq!(b.queue_depth(&small).unwrap().visible, 0);
    assert_eq!(b.queue_depth(&big).unwrap().visible, 1);
    assert_eq!(b.stats().dropped_deliveries, 1);
}

// ---- FIFO ----

#[test]
fn fifo_send_needs_a_group_id() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q.fifo", QueueOptions::default());
    let no_group = send_with(Address::Queue(url.clone()), "x", Attributes::new(), None, Some("d"));
    let f = failure(b.handle_op(&no_group, now));
    assert!(!f.is_retryable() && f.detail.contains("MessageGroupId"), "{}", f.detail);
    let no_dedup = send_with(Address::Queue(url.clone()), "x", Attributes::new(), Some("g"), None);
    assert!(failure(b.handle_op(&no_dedup, now)).detail.contains("MessageDeduplicationId"));
    let content =
        b.create_queue("c.fifo", QueueOptions { content_based_deduplication: true, ..QueueOptions::default() });
    let no_dedup = send_with(Address::Queue(content.clone()), "x", Attributes::new(), Some("g"), None);
    assert_eq!(b.handle_op(&no_dedup, now), OpResult::Ok);
    assert_eq!(b.handle_op(&no_dedup, now), OpResult::Ok);
    assert_eq!(b.queue_depth(&content).unwrap().visible, 1, "same body deduplicated");
}

#[test]
fn fifo_dedup_window_is_five_minutes() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q.fifo", QueueOptions::default());
    assert_eq!(b.handle_op(&send_fifo(&url, "a", "g", "d1"), now), OpResult::Ok);
    assert_eq!(b.handle_op(&send_fifo(&url, "a", "g", "d1"), now + secs(299)), OpResult::Ok);
    assert_eq!(b.queue_depth(&url).unwrap().visible, 1);
    assert_eq!(b.stats().deduplicated, 1);
    assert_eq!(b.handle_op(&send_fifo(&url, "a", "g", "d1"), now + secs(300)), OpResult::Ok);
    assert_eq!(b.queue_depth(&url).unwrap().visible, 2, "window over: stored again");
}

#[test]
fn fifo_group_is_ordered_and_blocked_while_in_flight_and_groups_interleave() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q.fifo", QueueOptions::default());
    for (body, group) in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("b2", "B"), ("a3", "A")] {
        assert_eq!(b.handle_op(&send_fifo(&url, body, group, body), now), OpResult::Ok);
    }
    let first = b.receive(&url, 10, now);
    assert_eq!(bodies(&first), ["a1", "b1"], "one per group while the head is in flight");
    assert!(b.poll_delivery(&url, now).is_none());
    // Deleting A's head unblocks A only.
    assert_eq!(b.handle_op(&delete(&url, &first[0].receipt_handle), now), OpResult::Ok);
    let a2 = b.poll_delivery(&url, now).unwrap();
    assert_eq!(bodies(std::slice::from_ref(&a2)), ["a2"]);
    assert!(b.poll_delivery(&url, now).is_none());
    // B's head expires: redelivered first, before b2.
    let later = now + secs(30);
    let again = b.receive(&url, 10, later);
    assert_eq!(bodies(&again), ["b1", "a2"]);
    assert_eq!(again[0].receive_count, 2);
}

#[test]
fn fifo_topic_fans_out_preserving_group_and_dedup_id() {
    let now = t0();
    let mut b = broker(now);
    let arn = b.create_topic("t.fifo");
    let q1 = b.create_queue("q1.fifo", QueueOptions::default());
    let q2 = b.create_queue("q2.fifo", QueueOptions::default());
    b.subscribe(&arn, &q1, true).unwrap();
    b.subscribe(&arn, &q2, false).unwrap();
    let op = |body: &str, group: &str, dedup: &str| {
        send_with(Address::Topic(arn.clone()), body, Attributes::new(), Some(group), Some(dedup))
    };
    assert!(
        failure(b.handle_op(&send_with(Address::Topic(arn.clone()), "x", Attributes::new(), None, Some("d")), now))
            .detail
            .contains("MessageGroupId")
    );
    assert_eq!(b.handle_op(&op("a1", "A", "d1"), now), OpResult::Ok);
    assert_eq!(b.handle_op(&op("a1", "A", "d1"), now), OpResult::Ok);
    assert_eq!(b.handle_op(&op("a2", "A", "d2"), now), OpResult::Ok);
    assert_eq!(b.queue_depth(&q1).unwrap().visible, 2, "the retried publish is deduplicated");
    assert_eq!(bodies(&b.receive(&q1, 10, now)), ["a1"], "same group: one at a time");
    assert_eq!(b.receive(&q2, 10, now).len(), 1);
}

#[test]
fn duplicate_and_reorder_never_touch_fifo_queues() {
    let now = t0();
    let mut b = broker_with(Faults { duplicate: 1.0, reorder: true, ..Faults::none() }, now);
    let url = b.create_queue("q.fifo", QueueOptions::default());
    for i in 0..5 {
        assert_eq!(b.handle_op(&send_fifo(&url, &format!("m{i}"), "g", &format!("d{i}")), now), OpResult::Ok);
    }
    assert_eq!(b.stats().duplicates_injected, 0);
    let mut got = Vec::new();
    while let Some(m) = b.poll_delivery(&url, now) {
        got.push(String::from_utf8_lossy(&m.body).into_owned());
        assert_eq!(b.handle_op(&delete(&url, &m.receipt_handle), now), OpResult::Ok);
    }
    assert_eq!(got, ["m0", "m1", "m2", "m3", "m4"]);
}

// ---- standard queues and faults ----

#[test]
fn standard_queue_without_faults_is_oldest_first() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions::default());
    for i in 0..5 {
        assert_eq!(b.handle_op(&send(&url, &format!("m{i}")), now), OpResult::Ok);
    }
    assert_eq!(bodies(&b.receive(&url, 10, now)), ["m0", "m1", "m2", "m3", "m4"]);
}

#[test]
fn reorder_delivers_every_message_in_a_random_order() {
    let now = t0();
    let mut b = broker_with(Faults { reorder: true, ..Faults::none() }, now);
    let url = b.create_queue("q", QueueOptions::default());
    let sent: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
    for body in &sent {
        assert_eq!(b.handle_op(&send(&url, body), now), OpResult::Ok);
    }
    let got = bodies(&(0..2).flat_map(|_| b.receive(&url, 10, now)).collect::<Vec<_>>());
    assert_ne!(got, sent);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, sent);
}

#[test]
fn duplicate_stores_two_copies_with_the_same_message_id() {
    let now = t0();
    let mut b = broker_with(Faults { duplicate: 1.0, ..Faults::none() }, now);
    let url = b.create_queue("q", QueueOptions::default());
    assert_eq!(b.handle_op(&send(&url, "x"), now), OpResult::Ok);
    let got = b.receive(&url, 10, now);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message_id, got[1].message_id);
    assert_ne!(got[0].receipt_handle, got[1].receipt_handle);
    assert_eq!(b.stats().duplicates_injected, 1);
    // The copies are independent: deleting one leaves the other.
    assert_eq!(b.handle_op(&delete(&url, &got[0].receipt_handle), now), OpResult::Ok);
    assert_eq!(b.queue_depth(&url).unwrap().in_flight, 1);
}

#[test]
fn max_delay_hides_messages_until_their_delay_ends() {
    let now = t0();
    let max = Duration::from_millis(500);
    let mut b = broker_with(Faults { max_delay: max, ..Faults::none() }, now);
    let url = b.create_queue("q", QueueOptions::default());
    for i in 0..10 {
        assert_eq!(b.handle_op(&send(&url, &format!("m{i}")), now), OpResult::Ok);
    }
    let depth = b.queue_depth(&url).unwrap();
    assert_eq!(depth.visible + depth.delayed, 10);
    assert!(depth.delayed > 0);
    let take = |b: &mut Broker, at: Instant| {
        let got = b.receive(&url, 10, at);
        for m in &got {
            assert_eq!(b.handle_op(&delete(&url, &m.receipt_handle), at), OpResult::Ok);
        }
        got.len()
    };
    let mut got = take(&mut b, now);
    while let Some(at) = b.poll_timeout() {
        assert!(at <= now + max);
        got += take(&mut b, at);
    }
    assert_eq!(got, 10);
}

#[test]
fn injected_send_failure_and_throttling_are_retryable_and_store_nothing() {
    let now = t0();
    let mut b = broker_with(Faults { send_failure: 1.0, ..Faults::none() }, now);
    let url = b.create_queue("q", QueueOptions::default());
    let f = failure(b.handle_op(&send(&url, "x"), now));
    assert!(f.kind == FailureKind::Transient && f.detail.contains("injected"), "{}", f.detail);
    assert_eq!(b.queue_depth(&url).unwrap().visible, 0);

    let mut b = broker_with(Faults { throttle: 1.0, ..Faults::none() }, now);
    let url = b.create_queue("q", QueueOptions::default());
    for op in [send(&url, "x"), delete(&url, "h"), change(&url, "h", 5)] {
        let f = failure(b.handle_op(&op, now));
        assert!(f.kind == FailureKind::Throttled && f.detail.contains("Throttling"), "{}", f.detail);
    }
    assert_eq!(b.stats().failures_injected, 3);
    assert_eq!(b.queue_depth(&url).unwrap().visible, 0);
}

// ---- receive, visibility, redrive ----

#[test]
fn receive_hides_until_the_visibility_timeout_then_redelivers_with_a_new_handle() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions { visibility_timeout: secs(10), ..QueueOptions::default() });
    assert_eq!(b.handle_op(&send(&url, "x"), now), OpResult::Ok);
    let first = b.poll_delivery(&url, now).unwrap();
    assert_eq!(first.receive_count, 1);
    assert_eq!(b.queue_depth(&url).unwrap().in_flight, 1);
    assert!(b.poll_delivery(&url, now + Duration::from_millis(9999)).is_none());
    assert_eq!(b.poll_timeout(), Some(now + secs(10)));
    let second = b.poll_delivery(&url, now + secs(10)).unwrap();
    assert_eq!(second.message_id, first.message_id);
    assert_eq!(second.receive_count, 2);
    assert_ne!(second.receipt_handle, first.receipt_handle);
    assert!(b.receive(&url, 0, now + secs(30)).is_empty());
}

#[test]
fn receive_is_capped_at_ten() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions::default());
    for i in 0..12 {
        assert_eq!(b.handle_op(&send(&url, &format!("m{i}")), now), OpResult::Ok);
    }
    assert_eq!(b.receive(&url, 100, now).len(), 10);
    assert_eq!(b.receive(&url, 100, now).len(), 2);
    assert!(b.receive("http://sim.local/123456789012/unknown", 10, now).is_empty());
}

#[test]
fn poll_timeout_moves_past_a_handled_deadline() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions { visibility_timeout: secs(5), ..QueueOptions::default() });
    assert_eq!(b.handle_op(&send(&url, "x"), now), OpResult::Ok);
    let _m = b.poll_delivery(&url, now).unwrap();
    let at = b.poll_timeout().unwrap();
    b.handle_timeout(at);
    assert!(b.poll_timeout().is_none_or(|next| next > at));
    b.handle_timeout(at); // spurious: harmless
    assert_eq!(b.queue_depth(&url).unwrap().visible, 1);
}

#[test]
fn redrive_moves_a_message_received_too_often_to_the_dead_letter_queue() {
    let now = t0();
    let mut b = broker(now);
    let dlq = b.create_queue("dlq", QueueOptions::default());
    let redrive = Redrive { dead_letter_queue_url: dlq.clone(), max_receive_count: 2 };
    let url = b.create_queue("q", QueueOptions { redrive: Some(redrive), ..QueueOptions::default() });
    assert_eq!(b.handle_op(&send(&url, "poison"), now), OpResult::Ok);
    let m1 = b.poll_delivery(&url, now).unwrap();
    let m2 = b.poll_delivery(&url, now + secs(30)).unwrap();
    assert_eq!(m2.receive_count, 2);
    assert!(b.poll_delivery(&url, now + secs(60)).is_none(), "third receive redrives instead");
    assert_eq!(b.stats().redrives, 1);
    assert_eq!(b.queue_depth(&url), Some(QueueDepth::default()));
    let dead = b.poll_delivery(&dlq, now + secs(60)).unwrap();
    assert_eq!(dead.message_id, m1.message_id);
    assert_eq!(dead.body, "poison".as_bytes());
    assert_eq!(dead.receive_count, 3);
    // Handles from the source queue are gone.
    assert!(!failure(b.handle_op(&delete(&url, &m2.receipt_handle), now + secs(60))).is_retryable());
}

// ---- DeleteMessage ----

#[test]
fn delete_with_current_stale_deleted_and_unknown_handles() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions { visibility_timeout: secs(1), ..QueueOptions::default() });
    assert_eq!(b.handle_op(&send(&url, "x"), now), OpResult::Ok);
    let old = b.poll_delivery(&url, now).unwrap();
    let new = b.poll_delivery(&url, now + secs(1)).unwrap();
    // Stale handle: success, nothing deleted.
    assert_eq!(b.handle_op(&delete(&url, &old.receipt_handle), now + secs(1)), OpResult::Ok);
    assert_eq!(b.queue_depth(&url).unwrap().in_flight, 1);
    assert_eq!(b.stats().stale_deletes, 1);
    // Current handle: deleted, and its deadline is gone.
    assert_eq!(b.handle_op(&delete(&url, &new.receipt_handle), now + secs(1)), OpResult::Ok);
    assert_eq!(b.queue_depth(&url), Some(QueueDepth::default()));
    assert_eq!(b.poll_timeout(), None);
    assert_eq!(b.stats().deletes, 1);
    // Deleted message: ReceiptHandleIsInvalid, fatal.
    for handle in [&new.receipt_handle, &old.receipt_handle, &"garbage".to_owned()] {
        let f = failure(b.handle_op(&delete(&url, handle), now + secs(1)));
        assert!(f.kind == FailureKind::StaleReceipt && f.detail.contains("ReceiptHandleIsInvalid"), "{}", f.detail);
    }
    let f = failure(b.handle_op(&delete("http://sim.local/123456789012/none", "h"), now));
    assert!(f.kind == FailureKind::NotFound && f.detail.contains("/none"));
}

// ---- ChangeMessageVisibility ----

#[test]
fn change_visibility_extends_releases_and_refuses() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions::default());
    assert_eq!(b.handle_op(&send(&url, "x"), now), OpResult::Ok);
    let m = b.poll_delivery(&url, now).unwrap();
    // Extend: still hidden after the original 30 s.
    assert_eq!(b.handle_op(&change(&url, &m.receipt_handle, 60), now + secs(20)), OpResult::Ok);
    assert!(b.poll_delivery(&url, now + secs(40)).is_none());
    assert_eq!(b.poll_timeout(), Some(now + secs(80)));
    // Too long.
    let f = failure(b.handle_op(&change(&url, &m.receipt_handle, 43_201), now + secs(40)));
    assert!(!f.is_retryable() && f.detail.contains("43200"), "{}", f.detail);
    // Zero: visible at once.
    assert_eq!(b.handle_op(&change(&url, &m.receipt_handle, 0), now + secs(40)), OpResult::Ok);
    assert_eq!(b.queue_depth(&url).unwrap().visible, 1);
    assert_eq!(b.stats().visibility_changes, 2);
    let again = b.poll_delivery(&url, now + secs(40)).unwrap();
    // The old handle is stale now.
    assert!(!failure(b.handle_op(&change(&url, &m.receipt_handle, 5), now + secs(40))).is_retryable());
    // After delete: ReceiptHandleIsInvalid.
    assert_eq!(b.handle_op(&delete(&url, &again.receipt_handle), now + secs(40)), OpResult::Ok);
    let f = failure(b.handle_op(&change(&url, &again.receipt_handle, 5), now + secs(40)));
    assert!(!f.is_retryable() && f.detail.contains("ReceiptHandleIsInvalid"), "{}", f.detail);
}

#[test]
fn change_visibility_of_an_expired_message_is_refused() {
    let now = t0();
    let mut b = broker(now);
    let url = b.create_queue("q", QueueOptions { visibility_timeout: secs(1), ..QueueOptions::default() });
    assert_eq!(b.handle_op(&send(&url, "x"), now), OpResult::Ok);
    let m = b.poll_delivery(&url, now).unwrap();
    let f = failure(b.handle_op(&change(&url, &m.receipt_handle, 5), now + secs(2)));
    assert!(f.detail.contains("MessageNotInflight"), "{}", f.detail);
}

// ---- determinism ----

/// A script touching every feature and fault; returns a transcript of all outputs.
fn scripted_run(seed: [u8; 32]) -> Vec<String> {
    let start = t0();
    let faults = Faults { duplicate: 0.3, reorder: true, max_delay: secs(2), send_failure: 0.1, throttle: 0.1 };
    let mut b = Broker::new(SimConfig { faults, ..SimConfig::default() }, start, seed);
    let dlq = b.create_queue("dlq", QueueOptions::default());
    let redrive = Redrive { dead_letter_queue_url: dlq.clone(), max_receive_count: 3 };
    let q = b.create_queue(
        "q",
        QueueOptions { visibility_timeout: secs(5), redrive: Some(redrive), ..QueueOptions::default() },
    );
    let f = b.create_queue("f.fifo", QueueOptions::default());
    let t = b.create_topic("t");
    let env_q = b.create_queue("env", QueueOptions::default());
    let mut log = vec![b.subscribe(&t, &env_q, false).unwrap(), b.subscribe(&t, &q, true).unwrap()];
    let mut now = start;
    for round in 0..40u64 {
        let ops = [
            send(&q, &format!("s{round}")),
            send_fifo(&f, &format!("f{round}"), if round % 2 == 0 { "A" } else { "B" }, &format!("d{}", round / 2)),
            publish(&t, &format!("p{round}"), attrs(2)),
        ];
        for op in &ops {
            log.push(format!("{:?}", b.handle_op(op, now)));
        }
        for url in [&q, &f, &env_q, &dlq] {
            for m in b.receive(url, 3, now) {
                log.push(format!("{m:?}"));
                if round % 3 != 0 {
                    log.push(format!("{:?}", b.handle_op(&delete(url, &m.receipt_handle), now)));
                } else {
                    log.push(format!("{:?}", b.handle_op(&change(url, &m.receipt_handle, 1), now)));
                }
            }
        }
        now = b.poll_timeout().map_or(now + secs(1), |at| at.min(now + secs(1)));
    }
    log.push(format!("{:?}", b.stats()));
    log
}

#[test]
fn same_seed_same_outputs() {
    let a = scripted_run([1; 32]);
    assert_eq!(a, scripted_run([1; 32]));
    assert_ne!(a, scripted_run([2; 32]));
    assert!(a.iter().any(|l| l.contains("Failed")), "the script exercises injected faults");
}

// ---- robustness ----

mod properties {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Send(u8, String),
        Receive(u8, usize),
        DeleteLast(u8),
        ChangeLast(u8, u32),
        Advance(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..4, ".{0,20}").prop_map(|(q, b)| Step::Send(q, b)),
            (0u8..4, 0usize..12).prop_map(|(q, n)| Step::Receive(q, n)),
            (0u8..4).prop_map(Step::DeleteLast),
            (0u8..4, prop_oneof![Just(0u32), 1u32..100, Just(50_000u32)]).prop_map(|(q, t)| Step::ChangeLast(q, t)),
            (0u64..40_000).prop_map(Step::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any sequence of calls: no panic, deadlines move forward, and no message
        /// is lost or invented (with duplicates off, deliveries are bounded by sends).
        #[test]
        fn never_panics_and_conserves_messages(seed: [u8; 32], steps in prop::collection::vec(step(), 1..80)) {
            let start = t0();
            let faults = Faults { reorder: true, max_delay: secs(3), send_failure: 0.1, throttle: 0.1, ..Faults::none() };
            let mut b = Broker::new(SimConfig { faults, ..SimConfig::default() }, start, seed);
            let dlq = b.create_queue("dlq", QueueOptions::default());
            let urls = [
                b.create_queue("a", QueueOptions { visibility_timeout: secs(2), redrive: Some(Redrive { dead_letter_queue_url: dlq.clone(), max_receive_count: 2 }), ..QueueOptions::default() }),
                b.create_queue("b.fifo", QueueOptions { content_based_deduplication: true, ..QueueOptions::default() }),
                dlq.clone(),
                "http://sim.local/123456789012/missing".to_owned(),
            ];
            let mut last: Vec<Option<String>> = vec![None; urls.len()];
            let mut now = start;
            for s in steps {
                match s {
                    Step::Send(q, body) => {
                        let url = &urls[usize::from(q)];
                        let _ = b.handle_op(&send_with(Address::Queue(url.clone()), &body, Attributes::new(), Some("g"), None), now);
                    }
                    Step::Receive(q, n) => {
                        for m in b.receive(&urls[usize::from(q)], n, now) {
                            prop_assert!(m.receive_count >= 1);
                            last[usize::from(q)] = Some(m.receipt_handle);
                        }
                    }
                    Step::DeleteLast(q) => {
                        let handle = last[usize::from(q)].clone().unwrap_or_default();
                        let _ = b.handle_op(&delete(&urls[usize::from(q)], &handle), now);
                    }
                    Step::ChangeLast(q, t) => {
                        let handle = last[usize::from(q)].clone().unwrap_or_default();
                        let _ = b.handle_op(&change(&urls[usize::from(q)], &handle, t), now);
                    }
                    Step::Advance(ms) => {
                        now += Duration::from_millis(ms);
                        b.handle_timeout(now);
                        prop_assert!(b.poll_timeout().is_none_or(|at| at > now));
                    }
                }
                // One group on the FIFO queue: never two of its messages in flight.
                prop_assert!(b.queue_depth(&urls[1]).unwrap().in_flight <= 1);
            }
            let held: usize = urls[..3].iter().map(|u| {
                let d = b.queue_depth(u).unwrap();
                d.visible + d.in_flight + d.delayed
            }).sum();
            let st = b.stats();
            prop_assert_eq!(held as u64 + st.deletes, st.sends - st.deduplicated);
        }
    }
}
