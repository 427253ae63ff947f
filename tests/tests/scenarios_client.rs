//! Simulation scenarios of the client's request lifecycle: timeouts and late
//! responses, cancellation, and Python's placeholder error id.

use std::time::Duration;

use asyncmcp_proto::attributes::{AttributeValue, Attributes, names};
use asyncmcp_proto::sim::{Pair, Topology};
use asyncmcp_proto::{
    Address, ClientEvent, Era, JsonRpcMessage, MessageKind, OpId, OpKind, OpResult, QueueOp, RejectReason, RequestId,
    Route, SendOp, ServerEvent, SessionId, error_codes,
};
use asyncmcp_tests::{TOPOLOGIES, outcomes, server_messages_with_method, server_request_ids, settle, t0};

fn late_responses(pair: &Pair) -> Vec<&JsonRpcMessage> {
    pair.client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::LateResponse(m) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn a_request_times_out_and_its_response_then_arrives_late() {
    for topology in TOPOLOGIES {
        // Arrange
        let mut pair = Pair::builder()
            .topology(topology)
            .era(Era::Modern)
            .client(|c| c.request_timeout = Duration::from_secs(5))
            .answer_delay(Duration::from_secs(10))
            .build(t0())
            .unwrap();

        // Act
        let id = pair.request("tools/list", None);
        pair.drive_until(10_000, |p| !late_responses(p).is_empty()).unwrap();

        // Assert
        let timed_out =
            pair.client_events.iter().position(|e| *e == ClientEvent::RequestTimedOut { id: id.clone() }).unwrap();
        let late = pair.client_events.iter().position(|e| matches!(e, ClientEvent::LateResponse(_))).unwrap();
        assert!(timed_out < late);
        assert_eq!(late_responses(&pair)[0].id(), Some(&id));
        assert!(pair.response(&id).is_none(), "not delivered as a response");
        assert_eq!(outcomes(&pair, &id), 1);
        assert!(pair.elapsed() >= Duration::from_secs(10), "{topology:?}");
    }
}

#[test]
fn a_late_response_delivered_again_is_reported_once() {
    // Arrange: a response arrives after the timeout, then a second copy of it in a new
    // SQS message (as when a server answers a redelivered request from its cache).
    let mut pair = Pair::builder()
        .era(Era::Modern)
        .client(|c| c.request_timeout = Duration::from_secs(5))
        .answer_delay(Duration::from_secs(10))
        .build(t0())
        .unwrap();
    let id = pair.request("tools/list", None);
    pair.drive_until(10_000, |p| !late_responses(p).is_empty()).unwrap();
    let copy = late_responses(&pair)[0].clone();

    // Act
    let op = QueueOp {
        id: OpId(u64::MAX),
        kind: OpKind::Send(SendOp {
            to: Address::Queue(pair.client_queue.clone()),
            body: copy.body().clone(),
            attributes: Attributes::new(),
            group_id: None,
            dedup_id: None,
            offload: None,
        }),
    };
    assert_eq!(pair.broker.handle_op(&op, pair.now), OpResult::Ok);
    settle(&mut pair);

    // Assert
    assert_eq!(late_responses(&pair).len(), 1);
    assert_eq!(outcomes(&pair, &id), 1);
    let duplicates = pair
        .client_events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Rejected(r) if r.reason == RejectReason::Duplicate))
        .count();
    assert_eq!(duplicates, 1);
}

#[test]
fn cancel_right_after_submit_reaches_the_server_and_the_response_is_late() {
    for era in [Era::Modern, Era::Legacy] {
        for topology in TOPOLOGIES {
            // Arrange
            let mut pair = Pair::builder().topology(topology).era(era).build(t0()).unwrap();
            if era == Era::Legacy {
                let init = pair.initialize();
                pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();
            }

            // Act
            let id = pair.request("tools/call", Some(asyncmcp_tests::echo_params("x")));
            pair.client.cancel(&id, Some("user gave up"), pair.now).unwrap();
            pair.drive_until(1_000, |p| !late_responses(p).is_empty()).unwrap();
            settle(&mut pair);

            // Assert
            let cancels = server_messages_with_method(&pair, asyncmcp_proto::CANCELLED_METHOD);
            assert_eq!(cancels.len(), 1, "{era:?} {topology:?}");
            let (route, cancel) = cancels[0];
            assert_eq!(cancel.kind(), MessageKind::Notification);
            let params = cancel.to_value()["params"].clone();
            assert_eq!(params["requestId"], serde_json::json!(1 + i64::from(era == Era::Legacy)), "{params}");
            assert_eq!(params["reason"], "user gave up");
            match era {
                // The cancel reaches the request it names while that request is still
                // on the server: on the request's own route.
                Era::Modern => {
                    let request_route = pair.server_events.iter().find_map(|e| match e {
                        ServerEvent::Message { route, message } if message.id() == Some(&id) => Some(route.clone()),
                        _ => None,
                    });
                    assert!(matches!(route, Route::Request(_)), "{route:?}");
                    assert_eq!(Some(route.clone()), request_route);
                }
                _ => assert_eq!(*route, Route::Session(pair.client.session_id().cloned().unwrap())),
            }
            assert_eq!(late_responses(&pair)[0].id(), Some(&id));
            assert!(pair.response(&id).is_none());
            assert_eq!(pair.client.pending_requests(), 0);
            assert!(!pair.client_events.iter().any(|e| matches!(e, ClientEvent::RequestTimedOut { .. })));
        }
    }
}

#[test]
fn cancel_of_an_unknown_id_does_nothing() {
    // Arrange
    let mut pair = Pair::builder().era(Era::Modern).build(t0()).unwrap();
    let id = pair.request("ping", None);
    pair.drive_until(1_000, |p| p.response(&id).is_some()).unwrap();
    settle(&mut pair);

    // Act
    let unknown = pair.client.cancel(&RequestId::Number(999), None, pair.now);
    let finished = pair.client.cancel(&id, None, pair.now);

    // Assert
    assert_eq!(unknown, Ok(()));
    assert_eq!(finished, Ok(()));
    assert!(pair.client.poll_op().is_none(), "no op emitted");
    assert!(pair.client.poll_event().is_none(), "no event emitted");
}

#[test]
fn cancel_before_the_session_opens_drops_the_held_request() {
    // Arrange
    let mut pair = Pair::builder().build(t0()).unwrap();
    let init = pair.initialize();
    let id = pair.request("tools/list", None);

    // Act
    pair.client.cancel(&id, None, pair.now).unwrap();
    pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();
    settle(&mut pair);

    // Assert: it was never sent, so neither is the cancel.
    assert_eq!(server_request_ids(&pair), vec![init]);
    assert!(server_messages_with_method(&pair, asyncmcp_proto::CANCELLED_METHOD).is_empty());
    assert_eq!(pair.client.pending_requests(), 0);
    assert!(late_responses(&pair).is_empty());
}

/// Puts a Python-style error reply with the placeholder id on the client's queue.
fn inject_placeholder_error(pair: &mut Pair, session: Option<&str>) {
    let mut attributes = Attributes::new();
    attributes.insert(names::MESSAGE_TYPE.into(), AttributeValue::string("jsonrpc"));
    if let Some(s) = session {
        attributes.insert(names::SESSION_ID.into(), AttributeValue::string(s));
    }
    let body = r#"{"jsonrpc":"2.0","id":"server-error","error":{"code":-32603,"message":"Internal error: boom"}}"#;
    let op = QueueOp {
        id: OpId(u64::MAX),
        kind: OpKind::Send(SendOp {
            to: Address::Queue(pair.client_queue.clone()),
            body: body.into(),
            attributes,
            group_id: None,
            dedup_id: None,
            offload: None,
        }),
    };
    assert_eq!(pair.broker.handle_op(&op, pair.now), OpResult::Ok);
}

#[test]
fn python_placeholder_error_goes_to_the_oldest_pending_request() {
    // Arrange: a server application that never answers tools/call.
    let mut pair = Pair::builder()
        .topology(Topology::Sqs)
        .responder(Box::new(|route, request| {
            if request.method() == Some("tools/call") {
                None
            } else {
                asyncmcp_proto::sim::echo_responder(route, request)
            }
        }))
        .build(t0())
        .unwrap();
    let init = pair.initialize();
    pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();
    let first = pair.request("tools/call", Some(asyncmcp_tests::echo_params("a")));
    let second = pair.request("tools/call", Some(asyncmcp_tests::echo_params("b")));
    pair.run_for(Duration::from_secs(1), 1_000).unwrap();
    assert_eq!(pair.client.pending_requests(), 2);
    let sid = pair.client.session_id().cloned().unwrap();

    // Act
    inject_placeholder_error(&mut pair, Some(sid.as_str()));
    pair.drive_until(1_000, |p| p.response(&first).is_some()).unwrap();

    // Assert
    let error = pair.response(&first).unwrap();
    assert_eq!(error.kind(), MessageKind::Error);
    assert_eq!(error.id(), Some(&first));
    assert_eq!(error.to_value()["error"]["code"], error_codes::INTERNAL_ERROR);
    assert!(pair.response(&second).is_none());
    assert_eq!(pair.client.pending_requests(), 1);
}

#[test]
fn placeholder_error_of_another_session_is_rejected() {
    // Arrange: an open session with one request the application never answers.
    let mut pair = Pair::builder()
        .responder(Box::new(|route, request| {
            (request.method() != Some("tools/call")).then(|| asyncmcp_proto::sim::echo_responder(route, request))?
        }))
        .build(t0())
        .unwrap();
    let init = pair.initialize();
    pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();
    let call = pair.request("tools/call", None);
    pair.run_for(Duration::from_secs(1), 1_000).unwrap();
    let other = SessionId::parse("0123456789abcdef0123456789abcdef").unwrap();

    // Act
    inject_placeholder_error(&mut pair, Some(other.as_str()));
    pair.run_for(Duration::from_secs(1), 1_000).unwrap();

    // Assert: not ours, so it answers nothing.
    assert!(pair.response(&call).is_none());
    assert_eq!(pair.client.pending_requests(), 1);
    let wrong: Vec<_> = pair
        .client_events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Rejected(r) if r.reason == RejectReason::WrongSession(other.clone())))
        .collect();
    assert_eq!(wrong.len(), 1, "{:?}", pair.client_events);
}
