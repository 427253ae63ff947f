//! Simulation scenarios of session life: the handshake in both eras and all
//! topologies, where `initialize` carries the reply address, closing, idle expiry,
//! unknown sessions and the reply allow-list.

use std::time::Duration;

use asyncmcp_proto::attributes::{AttributeValue, Attributes, names};
use asyncmcp_proto::sim::{Pair, Topology};
use asyncmcp_proto::{
    Address, AllowList, ClientEvent, CloseReason, Era, HandshakeFields, JsonRpcMessage, MessageKind, OpId, OpKind,
    OpResult, QueueOp, QueueOutcome, RejectReason, RequestId, Route, SendOp, Server, ServerEvent, SessionId,
    error_codes,
};
use asyncmcp_tests::{
    EMPTY, Recorder, TOPOLOGIES, client_rejections, depths, drive_checked, server_messages,
    server_messages_with_method, server_rejections, t0,
};

/// A legacy pair whose session is open.
fn open_session(topology: Topology) -> Pair {
    let mut pair = Pair::builder().topology(topology).build(t0()).unwrap();
    let init = pair.initialize();
    pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();
    // Let `notifications/initialized` reach the server and the server finish with it.
    asyncmcp_tests::settle(&mut pair);
    pair
}

fn session_of(pair: &Pair) -> SessionId {
    pair.client.session_id().cloned().expect("the session is open")
}

fn sends(ops: &[QueueOp]) -> Vec<&SendOp> {
    ops.iter()
        .filter_map(|op| match &op.kind {
            OpKind::Send(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn method_attr(send: &SendOp) -> Option<&str> {
    send.attributes.get(names::METHOD).map(|v| v.value.as_str())
}

#[test]
fn legacy_handshake_opens_a_session_in_every_topology() {
    for topology in TOPOLOGIES {
        // Arrange
        let mut pair = Pair::builder().topology(topology).build(t0()).unwrap();
        let mut rec = Recorder::default();

        // Act
        let init = pair.initialize();
        assert!(drive_checked(&mut pair, &mut rec, 1_000, |p| p.response(&init).is_some()), "{topology:?}");
        let list = pair.request("tools/list", None);
        assert!(drive_checked(&mut pair, &mut rec, 1_000, |p| p.response(&list).is_some()), "{topology:?}");

        // Assert
        let opened: Vec<&SessionId> = pair
            .client_events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::SessionOpened { session_id } => Some(session_id),
                _ => None,
            })
            .collect();
        assert_eq!(opened.len(), 1, "{topology:?}: {:?}", pair.client_events);
        let sid = opened[0].clone();
        assert_eq!(sid.as_str().len(), 32);
        assert!(sid.as_str().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(pair.client.session_id(), Some(&sid));
        let server_opened: Vec<_> = pair
            .server_events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::SessionOpened { session_id, client_id, reply_to } => {
                    Some((session_id.clone(), client_id.clone(), reply_to.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(server_opened, vec![(sid.clone(), Some("sim-client".to_owned()), pair.client_address.clone())]);
        assert_eq!(pair.server.sessions(), 1);

        // Every message after initialize is routed to the session...
        let after_init: Vec<_> = server_messages(&pair).into_iter().skip(1).collect();
        assert_eq!(
            after_init.iter().map(|(_, m)| m.method().unwrap_or_default()).collect::<Vec<_>>(),
            ["notifications/initialized", "tools/list"],
            "{topology:?}"
        );
        for (route, _) in &after_init {
            assert_eq!(**route, Route::Session(sid.clone()), "{topology:?}");
        }
        // ... because it carries the SessionId attribute; initialize itself does not.
        let client_sends = sends(&rec.client_ops);
        assert_eq!(client_sends.len(), 3, "{topology:?}");
        assert_eq!(method_attr(client_sends[0]), Some("initialize"));
        assert!(!client_sends[0].attributes.contains_key(names::SESSION_ID));
        for send in &client_sends[1..] {
            assert_eq!(send.attributes.get(names::SESSION_ID).map(|v| v.value.as_str()), Some(sid.as_str()));
        }
        // Every server message carries it too.
        for send in sends(&rec.server_ops) {
            assert_eq!(send.attributes.get(names::SESSION_ID).map(|v| v.value.as_str()), Some(sid.as_str()));
        }
        assert_eq!(depths(&pair), (EMPTY, EMPTY), "{topology:?}");
        assert!(rec.timer_violations.is_empty(), "{:?}", rec.timer_violations);
    }
}

#[test]
fn modern_requests_need_no_session_and_server_discover_is_answered() {
    for topology in TOPOLOGIES {
        // Arrange
        let mut pair = Pair::builder().topology(topology).era(Era::Modern).build(t0()).unwrap();
        let mut rec = Recorder::default();

        // Act
        let discover = pair.request("server/discover", None);
        let list = pair.request("tools/list", None);
        assert!(drive_checked(&mut pair, &mut rec, 1_000, |p| p.response(&discover).is_some()
            && p.response(&list).is_some()));

        // Assert
        let answer = pair.response(&discover).unwrap().to_value();
        assert!(answer["result"]["supportedVersions"].as_array().is_some_and(|v| !v.is_empty()), "{answer}");
        assert_eq!(pair.client.session_id(), None);
        assert_eq!(pair.server.sessions(), 0);
        assert!(!pair.client_events.iter().any(|e| matches!(e, ClientEvent::SessionOpened { .. })));
        assert!(!pair.server_events.iter().any(|e| matches!(e, ServerEvent::SessionOpened { .. })));
        let delivered = server_messages(&pair);
        assert_eq!(delivered.len(), 2);
        for (route, _) in &delivered {
            assert!(matches!(route, Route::Request(_)), "{topology:?}: {route:?}");
        }
        assert_ne!(delivered[0].0, delivered[1].0, "each request gets its own route");
        for send in sends(&rec.client_ops) {
            assert!(!send.attributes.contains_key(names::SESSION_ID));
            assert_eq!(
                send.attributes.get(names::REPLY_TO).map(|v| v.value.as_str()),
                Some(pair.client_address.as_str())
            );
        }
        assert_eq!(depths(&pair), (EMPTY, EMPTY), "{topology:?}");
    }
}

#[test]
fn initialize_carries_the_reply_address_in_both_shapes_by_default() {
    for topology in TOPOLOGIES {
        // Arrange, act
        let pair = open_session(topology);

        // Assert
        let inits = server_messages_with_method(&pair, "initialize");
        assert_eq!(inits.len(), 1);
        let params = inits[0].1.to_value()["params"].clone();
        let address = pair.client_address.as_str();
        let (field, meta_field) = match topology {
            Topology::Sqs => ("response_queue_url", "responseQueueUrl"),
            _ => ("client_topic_arn", "clientTopicArn"),
        };
        assert_eq!(params[field], address, "{topology:?}: {params}");
        assert_eq!(params["_meta"][meta_field], address, "{topology:?}: {params}");
        // What the application passed in is still there.
        assert_eq!(params["protocolVersion"], "2025-11-25");
    }
}

#[test]
fn handshake_fields_are_configurable() {
    let cases = [
        (HandshakeFields { params_field: true, meta_field: false }, true, false),
        (HandshakeFields { params_field: false, meta_field: true }, false, true),
    ];
    for (fields, want_params, want_meta) in cases {
        // Arrange
        let mut pair = Pair::builder().client(move |c| c.handshake = fields).build(t0()).unwrap();

        // Act
        let init = pair.initialize();
        pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();

        // Assert
        let params = server_messages_with_method(&pair, "initialize")[0].1.to_value()["params"].clone();
        assert_eq!(params.get("response_queue_url").is_some(), want_params, "{params}");
        assert_eq!(params.pointer("/_meta/responseQueueUrl").is_some(), want_meta, "{params}");
        assert!(pair.client.session_id().is_some());
    }
}

/// Puts a raw message on a queue, as another (Python) peer would.
fn inject(pair: &mut Pair, queue_url: &str, body: &str, attributes: Attributes) {
    let op = QueueOp {
        id: OpId(u64::MAX),
        kind: OpKind::Send(SendOp {
            to: Address::Queue(queue_url.to_owned()),
            body: body.to_owned().into(),
            attributes,
            group_id: None,
            dedup_id: None,
            offload: None,
        }),
    };
    assert_eq!(pair.broker.handle_op(&op, pair.now), OpResult::Ok);
}

fn jsonrpc_attributes() -> Attributes {
    let mut a = Attributes::new();
    a.insert(names::MESSAGE_TYPE.into(), AttributeValue::string("jsonrpc"));
    a
}

#[test]
fn server_accepts_either_reply_address_shape_alone() {
    let shapes = [
        ("params", r#"{"response_queue_url":"URL","protocolVersion":"2025-06-18"}"#),
        ("_meta", r#"{"_meta":{"responseQueueUrl":"URL"},"protocolVersion":"2025-06-18"}"#),
    ];
    for (shape, params) in shapes {
        // Arrange: a Python-style initialize with no ReplyTo attribute.
        let mut pair = Pair::builder().build(t0()).unwrap();
        let params = params.replace("URL", &pair.client_queue);
        let body = format!(r#"{{"jsonrpc": "2.0", "id": 77, "method": "initialize", "params": {params}}}"#);
        let server_queue = pair.server_queue.clone();
        inject(&mut pair, &server_queue, &body, jsonrpc_attributes());

        // Act
        pair.drive_bounded(10_000).unwrap();

        // Assert: a session opened, replying to the client's queue, where the answer
        // landed (our client has no pending request 77, so it reports it).
        let opened: Vec<_> = pair
            .server_events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::SessionOpened { reply_to, .. } => Some(reply_to.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(opened, vec![Address::Queue(pair.client_queue.clone())], "{shape}");
        let unknown = client_rejections(&pair, |r| *r == RejectReason::UnknownResponse(RequestId::Number(77)));
        assert_eq!(unknown.len(), 1, "{shape}: {:?}", pair.client_events);
    }
}

#[test]
fn initialize_without_any_reply_address_is_rejected() {
    // Arrange
    let mut pair = Pair::builder().build(t0()).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#;
    let server_queue = pair.server_queue.clone();
    inject(&mut pair, &server_queue, body, jsonrpc_attributes());

    // Act
    pair.drive_bounded(10_000).unwrap();

    // Assert
    let rejected = server_rejections(&pair, |r| *r == RejectReason::NoReplyAddress);
    assert_eq!(rejected.len(), 1, "{:?}", pair.server_events);
    assert_eq!(rejected[0].fate, QueueOutcome::Deleted);
    assert_eq!(pair.server.sessions(), 0);
    assert_eq!(depths(&pair), (EMPTY, EMPTY));
}

#[test]
fn client_close_ends_the_session_on_both_sides() {
    for topology in TOPOLOGIES {
        // Arrange
        let mut pair = open_session(topology);
        let sid = session_of(&pair);

        // Act
        pair.client.close(pair.now);
        pair.drive_bounded(10_000).unwrap();

        // Assert
        assert!(pair.client.is_closed());
        assert!(pair.client_events.contains(&ClientEvent::SessionClosed { reason: CloseReason::Closed }));
        let closed: Vec<_> =
            pair.server_events.iter().filter(|e| matches!(e, ServerEvent::SessionClosed { .. })).collect();
        assert_eq!(
            closed,
            vec![&ServerEvent::SessionClosed { session_id: sid, reason: CloseReason::Closed }],
            "{topology:?}"
        );
        assert_eq!(pair.server.sessions(), 0);
        assert_eq!(
            pair.client.submit(JsonRpcMessage::request(RequestId::Number(99), "ping", None), pair.now),
            Err(asyncmcp_proto::ApiError::Misuse(asyncmcp_proto::Misuse::Closed))
        );
        assert_eq!(depths(&pair), (EMPTY, EMPTY), "{topology:?}");
    }
}

fn assert_session_not_found(pair: &Pair, id: &RequestId, sid: &SessionId) {
    let reply = pair.response(id).unwrap_or_else(|| panic!("no reply to {id}: {:?}", pair.client_events));
    assert_eq!(reply.kind(), MessageKind::Error);
    let value = reply.to_value();
    assert_eq!(value["error"]["code"], error_codes::INVALID_REQUEST, "{value}");
    let text = value["error"]["message"].as_str().unwrap_or_default();
    assert!(text.contains("session not found"), "{text}");
    assert_eq!(value["error"]["data"]["sessionId"], sid.as_str());
    assert_eq!(
        server_rejections(pair, |r| *r == RejectReason::UnknownSession(sid.clone())).len(),
        1,
        "{:?}",
        pair.server_events
    );
}

#[test]
fn idle_session_expires_and_a_later_request_gets_session_not_found() {
    for topology in TOPOLOGIES {
        // Arrange
        let mut pair = Pair::builder()
            .topology(topology)
            .server(|s| s.session_idle_timeout = Duration::from_secs(60))
            .build(t0())
            .unwrap();
        let init = pair.initialize();
        pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();
        let sid = session_of(&pair);

        // Act
        pair.run_for(Duration::from_secs(61), 10_000).unwrap();
        let closed_at = pair.elapsed();
        let late = pair.request("tools/list", None);
        pair.drive_until(1_000, |p| p.response(&late).is_some()).unwrap();

        // Assert
        assert!(
            pair.server_events
                .contains(&ServerEvent::SessionClosed { session_id: sid.clone(), reason: CloseReason::Idle }),
            "{topology:?}: {:?}",
            pair.server_events
        );
        assert!(closed_at >= Duration::from_secs(60));
        assert_eq!(pair.server.sessions(), 0);
        assert_session_not_found(&pair, &late, &sid);
        // The application never saw the request.
        assert!(server_messages_with_method(&pair, "tools/list").is_empty());
        settle_and_check_empty(&mut pair);
    }
}

fn settle_and_check_empty(pair: &mut Pair) {
    asyncmcp_tests::settle(pair);
    assert_eq!(depths(pair), (EMPTY, EMPTY));
}

#[test]
fn activity_keeps_a_session_alive_past_the_idle_timeout() {
    // Arrange
    let mut pair = Pair::builder().server(|s| s.session_idle_timeout = Duration::from_secs(60)).build(t0()).unwrap();
    let init = pair.initialize();
    pair.drive_until(1_000, |p| p.response(&init).is_some()).unwrap();

    // Act: a ping every 40 s for 200 s.
    let mut ids = Vec::new();
    for _ in 0..5 {
        pair.run_for(Duration::from_secs(40), 10_000).unwrap();
        let id = pair.request("ping", None);
        pair.drive_until(1_000, |p| p.response(&id).is_some()).unwrap();
        ids.push(id);
    }

    // Assert
    assert!(!pair.server_events.iter().any(|e| matches!(e, ServerEvent::SessionClosed { .. })));
    for id in &ids {
        assert_eq!(pair.response(id).map(JsonRpcMessage::kind), Some(MessageKind::Response));
    }
}

#[test]
fn restarted_server_answers_session_not_found() {
    for topology in TOPOLOGIES {
        // Arrange
        let mut pair = open_session(topology);
        let sid = session_of(&pair);
        let config = pair.server.config().clone();

        // Act: the server restarts, knowing no sessions.
        pair.server = Server::new(config, pair.now, [42; 32]).unwrap();
        let id = pair.request("tools/list", None);
        pair.drive_until(1_000, |p| p.response(&id).is_some()).unwrap();

        // Assert
        assert_session_not_found(&pair, &id, &sid);
        assert!(server_messages(&pair).iter().all(|(_, m)| m.method() != Some("tools/list")));
        settle_and_check_empty(&mut pair);
    }
}

#[test]
fn notification_for_an_unknown_session_is_rejected_without_reply() {
    // Arrange
    let mut pair = open_session(Topology::Sqs);
    let sid = session_of(&pair);
    let config = pair.server.config().clone();
    pair.server = Server::new(config, pair.now, [42; 32]).unwrap();
    let sends_before = pair.broker.stats().sends;

    // Act
    pair.client.submit(JsonRpcMessage::notification("notifications/roots/list_changed", None), pair.now).unwrap();
    pair.drive_bounded(10_000).unwrap();

    // Assert: nothing to answer, so only the client's send happened.
    assert_eq!(server_rejections(&pair, |r| *r == RejectReason::UnknownSession(sid.clone())).len(), 1);
    assert_eq!(pair.broker.stats().sends, sends_before + 1);
    assert_eq!(depths(&pair), (EMPTY, EMPTY));
}

#[test]
fn reply_address_outside_the_allow_list_is_rejected_and_never_sent_to() {
    for era in [Era::Legacy, Era::Modern] {
        for topology in TOPOLOGIES {
            // Arrange
            let mut pair = Pair::builder()
                .topology(topology)
                .era(era)
                .server(|s| s.allow_reply = AllowList::new().exact("http://sim.local/123456789012/someone-else"))
                .build(t0())
                .unwrap();

            // Act
            let id = if era == Era::Legacy { pair.initialize() } else { pair.request("tools/list", None) };
            pair.run_for(Duration::from_secs(5), 10_000).unwrap();

            // Assert
            let rejected =
                server_rejections(&pair, |r| *r == RejectReason::ReplyNotAllowed(pair.client_address.clone()));
            assert_eq!(rejected.len(), 1, "{era:?} {topology:?}: {:?}", pair.server_events);
            assert_eq!(rejected[0].fate, QueueOutcome::Deleted);
            assert!(server_messages(&pair).is_empty(), "the application never sees it");
            assert_eq!(pair.server.sessions(), 0);
            assert!(pair.response(&id).is_none());
            // The client sent exactly one message; nothing went back.
            let stats = pair.broker.stats();
            assert_eq!(stats.sends + stats.publishes, 1, "{era:?} {topology:?}: {stats:?}");
            assert_eq!(depths(&pair), (EMPTY, EMPTY));
            assert!(pair.client_events.is_empty(), "{:?}", pair.client_events);
        }
    }
}
