//! Simulation scenarios of the server's queue handling: visibility heartbeats and
//! release on close, sizes and fragments, FIFO queues and per-session ordering.

use std::collections::BTreeSet;
use std::time::Duration;

use asyncmcp_proto::attributes::names;
use asyncmcp_proto::sim::{Faults, Pair, QueueOptions, Topology};
use asyncmcp_proto::{
    ApiError, Era, JsonRpcMessage, MessageKind, OpKind, OrderingConfig, RejectReason, RequestId, Route, ServerEvent,
    Unsendable,
};
use asyncmcp_tests::{
    EMPTY, Recorder, SIZE_TOPOLOGIES, depths, drive_checked, echo_params, outcomes, server_messages,
    server_messages_with_method, server_rejections, server_request_ids, settle, t0,
};

#[test]
fn heartbeat_keeps_a_slow_request_invisible_until_answered() {
    for topology in [Topology::Sqs, Topology::SnsSqs { raw_delivery: false }] {
        // Arrange: the application takes 25 s; the queue hides a message for 10 s.
        let options = QueueOptions { visibility_timeout: Duration::from_secs(10), ..QueueOptions::default() };
        let mut pair = Pair::builder()
            .topology(topology)
            .era(Era::Modern)
            .queue_options(options)
            .answer_delay(Duration::from_secs(25))
            .build(t0())
            .unwrap();

        // Act
        let id = pair.request("tools/call", Some(echo_params("slow")));
        pair.drive_until(10_000, |p| p.response(&id).is_some()).unwrap();
        settle(&mut pair);

        // Assert
        assert_eq!(server_request_ids(&pair), vec![id.clone()], "delivered once");
        assert!(server_rejections(&pair, |_| true).is_empty(), "{:?}", pair.server_events);
        let stats = pair.broker.stats();
        // Heartbeats every 5 s (half the visibility timeout) for 25 s.
        assert!(stats.visibility_changes >= 4, "{stats:?}");
        assert_eq!(stats.receives, 2, "one request, one response: nothing redelivered ({stats:?})");
        assert_eq!(outcomes(&pair, &id), 1);
        assert_eq!(depths(&pair), (EMPTY, EMPTY));
    }
}

#[test]
fn closing_the_server_releases_unanswered_requests() {
    // Arrange: an application that never answers.
    let mut pair = Pair::builder().era(Era::Modern).responder(Box::new(|_, _| None)).build(t0()).unwrap();
    let ids: Vec<RequestId> = (0..3).map(|_| pair.request("tools/list", None)).collect();
    pair.run_for(Duration::from_secs(1), 1_000).unwrap();
    assert_eq!(pair.server.in_flight(), 3);
    assert_eq!(depths(&pair).1.in_flight, 3);
    let changes_before = pair.broker.stats().visibility_changes;

    // Act
    pair.server.close(pair.now);
    settle(&mut pair);

    // Assert: visible again at once for another worker; this one takes no more.
    assert_eq!(depths(&pair).1, asyncmcp_proto::sim::QueueDepth { visible: 3, in_flight: 0, delayed: 0 });
    assert_eq!(pair.broker.stats().visibility_changes, changes_before + 3);
    assert_eq!(pair.server.in_flight(), 0);
    assert_eq!(pair.server.receive_credit(), 0);
    assert_eq!(server_request_ids(&pair), ids);
}

#[test]
fn an_oversize_message_is_refused_when_the_peer_takes_no_fragments() {
    // Arrange: the client has heard nothing from the server yet, so it sends no fragments.
    let mut pair = Pair::builder().era(Era::Modern).build(t0()).unwrap();
    let big = JsonRpcMessage::request(RequestId::Number(1), "tools/call", Some(echo_params(&"x".repeat(300 * 1024))));

    // Act
    let result = pair.client.submit(big, pair.now);

    // Assert
    let Err(ApiError::Unsendable(Unsendable::TooLarge { size, limit })) = result else { panic!("{result:?}") };
    assert_eq!(limit, 262_144);
    assert!(size > 300 * 1024, "{size}");
    let text = ApiError::Unsendable(Unsendable::TooLarge { size, limit }).to_string();
    assert!(text.contains(&size.to_string()) && text.contains("262144"), "{text}");
    assert!(pair.client.poll_op().is_none(), "nothing was sent");
    assert_eq!(pair.client.pending_requests(), 0);
}

#[test]
fn an_oversize_response_is_refused_and_replaced_by_an_error_when_the_client_takes_no_fragments() {
    // Arrange
    let mut pair = Pair::builder()
        .era(Era::Modern)
        .client(|c| c.common.takes_fragments = false)
        .responder(Box::new(|_, _| None))
        .build(t0())
        .unwrap();
    let id = pair.request("tools/call", Some(echo_params("big")));
    pair.drive_until(100, |p| !server_messages(p).is_empty()).unwrap();
    let route = server_messages(&pair)[0].0.clone();

    // Act
    let big = JsonRpcMessage::response(
        id,
        serde_json::json!({"content": [{"type": "text", "text": "y".repeat(600 * 1024)}]}),
    );
    let result = pair.server.submit(&route, big, pair.now);

    // Assert
    assert!(matches!(result, Err(ApiError::Unsendable(Unsendable::TooLarge { limit: 262_144, .. }))), "{result:?}");
    pair.drive_until(1_000, |p| p.response(&RequestId::Number(1)).is_some()).unwrap();
    let error = pair.response(&RequestId::Number(1)).unwrap().to_value();
    assert_eq!(error.pointer("/error/data/limit"), Some(&serde_json::json!(262_144)), "{error}");
    assert_eq!(pair.server.in_flight(), 0, "the error answered the request");
}

/// About 600 KiB of text with quotes and backslashes, which JSON and the SNS
/// envelope escape again.
fn big_text() -> String {
    "ab\"c\\d/e\u{e9}f ".repeat(600 * 1024 / 12)
}

#[test]
fn a_large_result_crosses_as_fragments_and_is_reassembled() {
    for topology in SIZE_TOPOLOGIES {
        // Arrange
        let mut pair = Pair::builder().topology(topology).build(t0()).unwrap();
        let mut rec = Recorder::default();
        let init = pair.initialize();
        assert!(drive_checked(&mut pair, &mut rec, 1_000, |p| p.response(&init).is_some()));
        let text = big_text();

        // Act: both the request and its echo are far over 256 KiB.
        let id = pair.request("tools/call", Some(echo_params(&text)));
        assert!(drive_checked(&mut pair, &mut rec, 10_000, |p| p.response(&id).is_some()), "{topology:?}");
        settle(&mut pair);

        // Assert
        let result = pair.response(&id).unwrap().to_value();
        assert_eq!(result["result"]["content"][0]["text"].as_str(), Some(text.as_str()), "{topology:?}");
        assert_eq!(server_messages_with_method(&pair, "tools/call").len(), 1);
        let stats = pair.broker.stats();
        assert_eq!(stats.dropped_deliveries, 0, "every fragment fits its queue");
        let fragments = |ops: &[asyncmcp_proto::QueueOp]| {
            ops.iter()
                .filter(|op| match &op.kind {
                    OpKind::Send(s) => s.attributes.get(names::EXT).is_some_and(|v| v.value.contains("frag=")),
                    _ => false,
                })
                .count()
        };
        assert!(fragments(&rec.client_ops) >= 3, "{topology:?}: request not fragmented");
        assert!(fragments(&rec.server_ops) >= 3, "{topology:?}: response not fragmented");
        assert!(server_rejections(&pair, |_| true).is_empty());
        assert_eq!(depths(&pair), (EMPTY, EMPTY), "{topology:?}");
    }
}

#[test]
fn fifo_sends_carry_group_and_deduplication_ids_and_keep_order() {
    for topology in [Topology::Sqs, Topology::SnsSqs { raw_delivery: true }, Topology::SnsSqs { raw_delivery: false }] {
        // Arrange
        let mut pair = Pair::builder().topology(topology).fifo(true).build(t0()).unwrap();
        let mut rec = Recorder::default();

        // Act
        let init = pair.initialize();
        let ids: Vec<RequestId> =
            (0..10).map(|i| pair.request("tools/call", Some(echo_params(&format!("n{i}"))))).collect();
        assert!(
            drive_checked(&mut pair, &mut rec, 10_000, |p| ids.iter().all(|id| p.response(id).is_some())),
            "{topology:?}: {:?}",
            pair.client_events
        );
        settle(&mut pair);

        // Assert
        let sid = pair.client.session_id().cloned().unwrap();
        let sends: Vec<_> = rec
            .client_ops
            .iter()
            .chain(&rec.server_ops)
            .filter_map(|op| match &op.kind {
                OpKind::Send(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(sends.len(), 12 + 11, "{topology:?}");
        let mut dedup_ids = BTreeSet::new();
        for send in &sends {
            let group = send.group_id.as_deref().expect("MessageGroupId on every FIFO send");
            let is_initialize = send.attributes.get(names::METHOD).is_some_and(|m| m.value == "initialize");
            // The session is the group; before it exists, the client.
            assert_eq!(group, if is_initialize { "sim-client" } else { sid.as_str() }, "{topology:?}");
            let dedup = send.dedup_id.clone().expect("MessageDeduplicationId on every FIFO send");
            assert!(dedup_ids.insert(dedup), "deduplication ids are unique per message");
        }
        let mut expected = vec![init];
        expected.extend(ids.iter().cloned());
        assert_eq!(server_request_ids(&pair), expected, "{topology:?}");
        let replies: Vec<RequestId> = asyncmcp_tests::client_reply_ids(&pair);
        assert_eq!(replies, expected, "{topology:?}");
        assert_eq!(pair.broker.stats().deduplicated, 0);
        assert_eq!(depths(&pair), (EMPTY, EMPTY));
    }
}

fn notification_order(pair: &Pair) -> Vec<i64> {
    server_messages_with_method(pair, "notifications/message")
        .into_iter()
        .filter_map(|(_, m)| m.to_value()["params"]["n"].as_i64())
        .collect()
}

fn send_notifications(ordering: Option<OrderingConfig>) -> (Pair, Vec<i64>) {
    let faults = Faults { reorder: true, max_delay: Duration::from_millis(500), ..Faults::none() };
    let mut pair = Pair::builder()
        .faults(faults)
        .seed(11)
        .client(move |c| c.common.ordering = ordering)
        .server(move |s| s.common.ordering = ordering)
        .build(t0())
        .unwrap();
    let init = pair.initialize();
    pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();
    for n in 0..30 {
        let note = JsonRpcMessage::notification("notifications/message", Some(serde_json::json!({"n": n})));
        pair.client.submit(note, pair.now).unwrap();
    }
    pair.drive_until(10_000, |p| notification_order(p).len() == 30).unwrap();
    let order = notification_order(&pair);
    (pair, order)
}

#[test]
fn ordering_delivers_a_sessions_notifications_in_submission_order() {
    // Arrange, act
    let (pair, order) = send_notifications(Some(OrderingConfig::default()));
    let (_, unordered) = send_notifications(None);

    // Assert
    assert_eq!(order, (0..30).collect::<Vec<_>>());
    assert_ne!(unordered, order, "the broker did reorder them when ordering is off");
    let sid = pair.client.session_id().cloned().unwrap();
    for (route, _) in server_messages_with_method(&pair, "notifications/message") {
        assert_eq!(*route, Route::Session(sid.clone()));
    }
    assert!(server_rejections(&pair, |r| *r == RejectReason::Duplicate).is_empty());
    assert!(!pair.server_events.iter().any(|e| matches!(e, ServerEvent::SessionClosed { .. })));
    assert_eq!(
        server_messages(&pair).iter().filter(|(_, m)| m.kind() == MessageKind::Notification).count(),
        31,
        "notifications/initialized plus 30"
    );
}

#[test]
fn abandoning_a_cancelled_request_deletes_it_without_an_answer() {
    for era in [Era::Legacy, Era::Modern] {
        // Arrange: an application that never answers on its own.
        let mut pair = Pair::builder().era(era).responder(Box::new(|_, _| None)).build(t0()).unwrap();
        if era == Era::Legacy {
            let init = pair.initialize();
            pair.run_for(Duration::from_secs(1), 1_000).unwrap();
            let route = server_messages(&pair)[0].0.clone();
            let answer = asyncmcp_proto::sim::echo_responder(&route, server_messages(&pair)[0].1).unwrap();
            pair.server.submit(&route, answer, pair.now).unwrap();
            pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();
        }
        let id = pair.request("tools/call", Some(echo_params("never")));
        pair.run_for(Duration::from_secs(1), 1_000).unwrap();
        let route = server_messages_with_method(&pair, "tools/call")[0].0.clone();
        assert_eq!(pair.server.in_flight(), 1);

        // Act
        pair.server.abandon(&route, &id, pair.now).unwrap();
        settle(&mut pair);

        // Assert: deleted, nothing sent, and the route is done.
        assert_eq!(pair.server.in_flight(), 0);
        assert_eq!(depths(&pair).1, EMPTY, "{era:?}");
        assert!(pair.response(&id).is_none());
        assert!(matches!(pair.server.abandon(&route, &id, pair.now), Err(ApiError::UnknownRoute(_))));
        if era == Era::Modern {
            let late = JsonRpcMessage::response(id.clone(), serde_json::json!({}));
            assert!(matches!(pair.server.submit(&route, late, pair.now), Err(ApiError::UnknownRoute(_))));
        }
    }
}

#[test]
fn an_initialize_without_a_handshake_address_is_a_stateless_request() {
    // Arrange: a modern-era client whose SDK still sends `initialize` (no reply address
    // in its params, only the ReplyTo attribute).
    let mut pair = Pair::builder().era(Era::Modern).build(t0()).unwrap();
    let params = serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "sdk", "version": "1"}});

    // Act
    let init = pair.request("initialize", Some(params));
    let list = pair.request("tools/list", None);
    pair.drive_until(1_000, |p| p.response(&init).is_some() && p.response(&list).is_some()).unwrap();

    // Assert: answered on request routes; no session opened anywhere.
    assert_eq!(pair.server.sessions(), 0);
    assert!(!pair.server_events.iter().any(|e| matches!(e, ServerEvent::SessionOpened { .. })));
    let routes: Vec<&Route> = server_messages(&pair).into_iter().map(|(r, _)| r).collect();
    assert!(routes.iter().all(|r| matches!(r, Route::Request(_))), "{routes:?}");
    assert_eq!(pair.client.session_id(), None);
}
