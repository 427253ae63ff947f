//! Simulation scenarios under broker faults: duplicates, reordering and delays,
//! failing sends, and messages that cannot be decoded.

use std::collections::BTreeSet;
use std::time::Duration;

use asyncmcp_proto::attributes::Attributes;
use asyncmcp_proto::sim::{Faults, Pair, QueueOptions, Redrive, Topology};
use asyncmcp_proto::{
    Address, ClientEvent, Disposition, Era, MessageKind, OpId, OpKind, OpResult, QueueOp, QueueOutcome, RejectReason,
    RequestId, SendOp,
};
use asyncmcp_tests::{
    EMPTY, Recorder, TOPOLOGIES, client_rejections, client_reply_ids, depths, drive_checked, echo_params, outcomes,
    server_rejections, server_request_ids, settle, t0,
};

/// Opens the session (legacy era) and submits `n` echo calls; returns their ids.
fn submit_calls(pair: &mut Pair, era: Era, n: usize) -> Vec<RequestId> {
    if era == Era::Legacy {
        pair.initialize();
    }
    (0..n).map(|i| pair.request("tools/call", Some(echo_params(&format!("call {i}"))))).collect()
}

fn all_answered(ids: &[RequestId]) -> impl Fn(&Pair) -> bool + '_ {
    move |p| ids.iter().all(|id| p.response(id).is_some())
}

fn assert_no_repeats(ids: &[RequestId], what: &str) {
    let unique: BTreeSet<&RequestId> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{what} saw a request twice: {ids:?}");
}

#[test]
fn duplicate_deliveries_reach_the_application_once_and_are_deleted() {
    for (era, topology) in TOPOLOGIES.map(|t| (Era::Legacy, t)).into_iter().chain([(Era::Modern, Topology::Sqs)]) {
        // Arrange
        let faults = Faults { duplicate: 1.0, ..Faults::none() };
        let mut pair = Pair::builder().topology(topology).era(era).faults(faults).build(t0()).unwrap();
        let mut rec = Recorder::default();
        let ids = submit_calls(&mut pair, era, 5);

        // Act
        assert!(drive_checked(&mut pair, &mut rec, 10_000, all_answered(&ids)), "{era:?} {topology:?}");
        let answered_at = pair.now;
        settle(&mut pair);

        // Assert
        assert!(pair.broker.stats().duplicates_injected > 0);
        let delivered = server_request_ids(&pair);
        assert_no_repeats(&delivered, "the server application");
        for id in &ids {
            assert!(delivered.contains(id), "{id} never delivered");
        }
        let replies = client_reply_ids(&pair);
        assert_no_repeats(&replies, "the client application");
        // Every reply came twice; the second copy was rejected and deleted.
        let client_dups = client_rejections(&pair, |r| *r == RejectReason::Duplicate);
        assert_eq!(client_dups.len(), replies.len(), "{era:?} {topology:?}: {:?}", pair.client_events);
        assert!(client_dups.iter().all(|r| r.fate == QueueOutcome::Deleted));
        assert!(
            server_rejections(&pair, |r| *r == RejectReason::Duplicate).iter().all(|r| r.fate == QueueOutcome::Deleted)
        );
        // Both copies of everything are gone at once: none waits for its visibility
        // timeout to come back.
        assert_eq!(pair.now, answered_at);
        assert_eq!(depths(&pair), (EMPTY, EMPTY), "{era:?} {topology:?}");
        assert!(rec.timer_violations.is_empty(), "{:?}", rec.timer_violations);
    }
}

#[test]
fn reordered_and_delayed_requests_are_all_answered_once() {
    for era in [Era::Legacy, Era::Modern] {
        for topology in TOPOLOGIES {
            // Arrange
            let faults = Faults { reorder: true, max_delay: Duration::from_secs(3), ..Faults::none() };
            let mut pair = Pair::builder().topology(topology).era(era).faults(faults).seed(7).build(t0()).unwrap();
            let mut rec = Recorder::default();
            let ids = submit_calls(&mut pair, era, 20);

            // Act
            assert!(drive_checked(&mut pair, &mut rec, 20_000, all_answered(&ids)), "{era:?} {topology:?}");
            pair.drive_bounded(100_000).unwrap();

            // Assert
            let delivered = server_request_ids(&pair);
            assert_no_repeats(&delivered, "the server application");
            let replies = client_reply_ids(&pair);
            assert_no_repeats(&replies, "the client application");
            for id in &ids {
                assert_eq!(outcomes(&pair, id), 1, "{id}");
                let text = pair.response(id).unwrap().to_value()["result"]["content"][0]["text"].clone();
                assert_eq!(text, format!("call {}", ids.iter().position(|i| i == id).unwrap()));
            }
            // The delays really reordered something.
            let order: Vec<&RequestId> = delivered.iter().filter(|id| ids.contains(id)).collect();
            assert_ne!(order, ids.iter().collect::<Vec<_>>(), "{era:?} {topology:?}: no reordering happened");
            assert_eq!(depths(&pair), (EMPTY, EMPTY));
            assert!(rec.timer_violations.is_empty(), "{:?}", rec.timer_violations);
        }
    }
}

fn send_ops(ops: &[QueueOp]) -> usize {
    ops.iter().filter(|op| matches!(op.kind, OpKind::Send(_))).count()
}

#[test]
fn failed_publishes_are_retried_until_every_request_is_answered() {
    for topology in TOPOLOGIES {
        // Arrange
        let faults = Faults { send_failure: 0.3, ..Faults::none() };
        let mut pair = Pair::builder().topology(topology).faults(faults).seed(3).build(t0()).unwrap();
        let mut rec = Recorder::default();
        let ids = submit_calls(&mut pair, Era::Legacy, 20);

        // Act
        assert!(drive_checked(&mut pair, &mut rec, 20_000, all_answered(&ids)), "{topology:?}");
        while step_and_record(&mut pair, &mut rec) {}

        // Assert
        for id in &ids {
            assert_eq!(outcomes(&pair, id), 1, "{id}");
            assert_eq!(pair.response(id).map(|m| m.kind()), Some(MessageKind::Response));
        }
        assert!(!pair.client_events.iter().any(|e| matches!(e, ClientEvent::SendFailed { .. })));
        assert_no_repeats(&server_request_ids(&pair), "the server application");
        let stats = pair.broker.stats().clone();
        assert!(stats.failures_injected > 0, "{stats:?}");
        // Every attempt is visible: a success or an injected failure.
        let attempts = send_ops(&rec.client_ops) + send_ops(&rec.server_ops);
        assert_eq!(attempts as u64, stats.sends + stats.publishes + stats.failures_injected, "{stats:?}");
        // 22 messages from the client (initialize, initialized, 20 calls), 21 replies.
        assert_eq!(stats.sends + stats.publishes, 43, "{stats:?}");
        assert_eq!(depths(&pair), (EMPTY, EMPTY));
    }
}

fn step_and_record(pair: &mut Pair, rec: &mut Recorder) -> bool {
    asyncmcp_tests::step_checked(pair, rec)
}

#[test]
fn a_send_that_fails_for_good_ends_its_request_once_as_send_failed() {
    let cases = [
        ("send failure", Faults { send_failure: 1.0, ..Faults::none() }),
        ("throttling", Faults { throttle: 1.0, ..Faults::none() }),
    ];
    for (name, faults) in cases {
        for topology in TOPOLOGIES {
            // Arrange
            let mut pair =
                Pair::builder().topology(topology).era(Era::Modern).faults(faults.clone()).build(t0()).unwrap();

            // Act
            let id = pair.request("tools/list", None);
            pair.drive_bounded(10_000).unwrap();

            // Assert: one SendFailed naming the request, no timeout later.
            let failed: Vec<_> = pair
                .client_events
                .iter()
                .filter_map(|e| match e {
                    ClientEvent::SendFailed { id, method, error } => Some((id.clone(), method.clone(), error.clone())),
                    _ => None,
                })
                .collect();
            assert_eq!(failed.len(), 1, "{name} {topology:?}: {:?}", pair.client_events);
            assert_eq!(failed[0].0, Some(id.clone()));
            assert_eq!(failed[0].1.as_deref(), Some("tools/list"));
            assert!(failed[0].2.is_retryable(), "the last failure is reported as it was");
            assert!(!pair.client_events.iter().any(|e| matches!(e, ClientEvent::RequestTimedOut { .. })));
            assert_eq!(outcomes(&pair, &id), 1);
            assert_eq!(pair.client.pending_requests(), 0);
            // Every attempt the retry policy allows was made.
            let attempts = pair.client.config().common.retry.max_attempts;
            assert_eq!(pair.broker.stats().failures_injected, u64::from(attempts), "{name} {topology:?}");
            assert!(pair.server_events.is_empty());
        }
    }
}

#[test]
fn a_failed_initialize_fails_the_messages_held_behind_it() {
    // Arrange
    let mut pair = Pair::builder().faults(Faults { send_failure: 1.0, ..Faults::none() }).build(t0()).unwrap();

    // Act
    let init = pair.initialize();
    let list = pair.request("tools/list", None);
    pair.drive_bounded(10_000).unwrap();

    // Assert: each ends once; nothing waits forever behind the failed handshake.
    assert_eq!(outcomes(&pair, &init), 1);
    assert_eq!(outcomes(&pair, &list), 1);
    // Each fails on its own retry schedule, so in no particular order.
    let failed_methods: BTreeSet<Option<String>> = pair
        .client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::SendFailed { method, .. } => Some(method.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed_methods,
        BTreeSet::from([
            Some("initialize".to_owned()),
            Some("notifications/initialized".to_owned()),
            Some("tools/list".to_owned())
        ])
    );
    assert_eq!(pair.client_events.iter().filter(|e| matches!(e, ClientEvent::SendFailed { .. })).count(), 3);
    assert_eq!(pair.client.pending_requests(), 0);
    assert!(!pair.client_events.iter().any(|e| matches!(e, ClientEvent::RequestTimedOut { .. })));
}

fn inject_garbage(pair: &mut Pair, queue_url: &str) {
    let op = QueueOp {
        id: OpId(u64::MAX),
        kind: OpKind::Send(SendOp {
            to: Address::Queue(queue_url.to_owned()),
            body: "this is not JSON".into(),
            attributes: Attributes::new(),
            group_id: None,
            dedup_id: None,
            offload: None,
        }),
    };
    assert_eq!(pair.broker.handle_op(&op, pair.now), OpResult::Ok);
}

#[test]
fn undecodable_messages_are_rejected_and_deleted_by_default() {
    // Arrange
    let mut pair = Pair::builder().build(t0()).unwrap();
    let (server_queue, client_queue) = (pair.server_queue.clone(), pair.client_queue.clone());
    inject_garbage(&mut pair, &server_queue);
    inject_garbage(&mut pair, &client_queue);

    // Act
    pair.drive_bounded(10_000).unwrap();

    // Assert
    let server = server_rejections(&pair, |r| matches!(r, RejectReason::Decode(_)));
    assert_eq!(server.len(), 1, "{:?}", pair.server_events);
    assert_eq!(server[0].fate, QueueOutcome::Deleted);
    let client = client_rejections(&pair, |r| matches!(r, RejectReason::Decode(_)));
    assert_eq!(client.len(), 1, "{:?}", pair.client_events);
    assert_eq!(client[0].fate, QueueOutcome::Deleted);
    assert_eq!(pair.broker.stats().deletes, 2);
    assert_eq!(depths(&pair), (EMPTY, EMPTY));
}

#[test]
fn undecodable_messages_left_for_redrive_end_in_the_dead_letter_queue() {
    // Arrange
    let dlq = "http://sim.local/123456789012/dlq".to_owned();
    let options = QueueOptions {
        visibility_timeout: Duration::from_secs(5),
        redrive: Some(Redrive { dead_letter_queue_url: dlq.clone(), max_receive_count: 3 }),
        ..QueueOptions::default()
    };
    let mut pair = Pair::builder()
        .queue_options(options)
        .server(|s| s.common.undecodable = Disposition::LeaveForRedrive)
        .client(|c| c.common.undecodable = Disposition::LeaveForRedrive)
        .build(t0())
        .unwrap();
    assert_eq!(pair.broker.create_queue("dlq", QueueOptions::default()), dlq);
    let (server_queue, client_queue) = (pair.server_queue.clone(), pair.client_queue.clone());
    inject_garbage(&mut pair, &server_queue);
    inject_garbage(&mut pair, &client_queue);

    // Act: the first delivery leaves it in place.
    pair.run_for(Duration::from_secs(1), 1_000).unwrap();
    let depth_after_first = depths(&pair);
    pair.drive_bounded(10_000).unwrap();

    // Assert
    assert_eq!(depth_after_first.0.in_flight, 1, "left on the client queue, invisible for now");
    assert_eq!(depth_after_first.1.in_flight, 1, "left on the server queue, invisible for now");
    for rejections in [
        server_rejections(&pair, |r| matches!(r, RejectReason::Decode(_))),
        client_rejections(&pair, |r| matches!(r, RejectReason::Decode(_))),
    ] {
        // Every delivery (3 before the redrive) is reported, and none deletes it.
        assert_eq!(rejections.len(), 3, "{rejections:?}");
        assert!(rejections.iter().all(|r| r.fate == QueueOutcome::LeftForRedelivery), "{rejections:?}");
    }
    assert_eq!(pair.broker.stats().deletes, 0);
    assert_eq!(pair.broker.stats().redrives, 2);
    assert_eq!(depths(&pair), (EMPTY, EMPTY));
    assert_eq!(pair.broker.queue_depth(&dlq).unwrap().visible, 2);
}

#[test]
fn duplicate_copies_are_deleted_at_once_when_requests_are_acked_on_delivery() {
    // Arrange
    let faults = Faults { duplicate: 1.0, ..Faults::none() };
    let mut pair = Pair::builder()
        .faults(faults)
        .server(|s| s.ack = asyncmcp_proto::AckPolicy::OnDelivery)
        .answer_delay(Duration::from_secs(2))
        .build(t0())
        .unwrap();
    let ids = submit_calls(&mut pair, Era::Legacy, 3);

    // Act
    pair.drive_until(10_000, all_answered(&ids)).unwrap();
    settle(&mut pair);

    // Assert
    assert_no_repeats(&server_request_ids(&pair), "the server application");
    // Each request's second copy arrived while it ran, already acked: rejected and deleted.
    let dups = server_rejections(&pair, |r| *r == RejectReason::Duplicate);
    assert!(dups.len() >= ids.len(), "{:?}", pair.server_events);
    assert!(dups.iter().all(|r| r.fate == QueueOutcome::Deleted));
    assert_eq!(depths(&pair), (EMPTY, EMPTY));
}

#[test]
fn duplicated_fragments_are_reassembled_once_and_every_copy_deleted() {
    for topology in asyncmcp_tests::SIZE_TOPOLOGIES {
        // Arrange
        let faults = Faults { duplicate: 1.0, ..Faults::none() };
        let mut pair = Pair::builder().topology(topology).faults(faults).build(t0()).unwrap();
        let init = pair.initialize();
        pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();
        let text = "z".repeat(700 * 1024);

        // Act
        let id = pair.request("tools/call", Some(echo_params(&text)));
        pair.drive_until(10_000, |p| p.response(&id).is_some()).unwrap();
        let answered_at = pair.now;
        settle(&mut pair);

        // Assert
        let reply = pair.response(&id).unwrap().to_value();
        assert_eq!(reply["result"]["content"][0]["text"].as_str().map(str::len), Some(text.len()));
        assert_no_repeats(&server_request_ids(&pair), "the server application");
        assert_no_repeats(&client_reply_ids(&pair), "the client application");
        assert_eq!(pair.now, answered_at);
        assert_eq!(depths(&pair), (EMPTY, EMPTY), "{topology:?}");
    }
}
