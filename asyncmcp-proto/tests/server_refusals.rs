//! A server refuses what it will not run, and answers a refused request with an
//! error carrying its id wherever the request names an allowed reply address. What a
//! peer can grow is bounded: sessions, and messages waiting behind an ordering gap.

use std::time::{Duration, Instant};

use asyncmcp_proto::attributes::AttributeValue;
use asyncmcp_proto::sim::{Broker, QueueOptions, SimConfig};
use asyncmcp_proto::{
    AllowList, DecodeError, InboundMessage, JsonRpcMessage, MessageKind, OpKind, OrderingConfig, QueueOutcome,
    RejectReason, Rejection, RequestId, Route, SendOp, Server, ServerConfig, ServerEvent, error_codes,
};
use bytes::Bytes;
use serde_json::json;

struct Rig {
    broker: Broker,
    server: Server,
    requests: String,
    replies: String,
    now: Instant,
}

impl Rig {
    fn new(allowed: bool) -> Self {
        Self::with(allowed, |_| {})
    }

    /// A rig whose server configuration `configure` adjusts.
    fn with(allowed: bool, configure: impl FnOnce(&mut ServerConfig)) -> Self {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut broker = Broker::new(SimConfig::default(), now, [7; 32]);
        let requests = broker.create_queue("requests", QueueOptions::default());
        let replies = broker.create_queue("replies", QueueOptions::default());
        let allow = if allowed { AllowList::new().exact(replies.clone()) } else { AllowList::new() };
        let mut config = ServerConfig::new(requests.clone(), allow);
        configure(&mut config);
        let server = Server::new(config, now, [9; 32]).unwrap();
        Self { broker, server, requests, replies, now }
    }

    /// Puts `body` with `attributes` on the request queue, as a client would.
    fn send(&mut self, body: &str, attributes: &[(&str, &str)]) {
        let op = asyncmcp_proto::QueueOp {
            id: asyncmcp_proto::OpId(u64::MAX),
            kind: OpKind::Send(SendOp {
                to: asyncmcp_proto::Address::Queue(self.requests.clone()),
                body: Bytes::copy_from_slice(body.as_bytes()),
                attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), AttributeValue::string(*v))).collect(),
                group_id: None,
                dedup_id: None,
                offload: None,
            }),
        };
        let result = self.broker.handle_op(&op, self.now);
        assert_eq!(result, asyncmcp_proto::OpResult::Ok);
    }

    /// Hands the server what is on its queue, performs its operations until none is
    /// left, and returns its events.
    fn run(&mut self) -> Vec<ServerEvent> {
        for m in self.broker.receive(&self.requests, 10, self.now) {
            self.server.handle_inbound(m, self.now);
        }
        for _ in 0..100 {
            let Some(op) = self.server.poll_op() else { break };
            let result = self.broker.handle_op(&op, self.now);
            self.server.handle_op_result(op.id, result, self.now);
        }
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    /// What arrived on the client's reply queue.
    fn replies(&mut self) -> Vec<InboundMessage> {
        self.broker.receive(&self.replies, 10, self.now)
    }

    /// Whether the request queue is empty even after every visibility timeout ran out.
    fn request_queue_drained(&mut self) -> bool {
        self.now += Duration::from_secs(3600);
        self.broker.handle_timeout(self.now);
        self.broker.receive(&self.requests, 10, self.now).is_empty()
    }
}

fn nested_request(id: &str, levels: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":"{id}","method":"tools/call","params":{}{}}}"#,
        "[".repeat(levels),
        "]".repeat(levels)
    )
}

fn rejections(events: &[ServerEvent]) -> Vec<&Rejection> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Rejected(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn error_reply(reply: &InboundMessage) -> serde_json::Value {
    let m = JsonRpcMessage::parse(reply.body.clone()).unwrap();
    assert_eq!(m.kind(), MessageKind::Error);
    m.to_value()
}

#[test]
fn an_unparsable_request_is_answered_with_its_id_then_deleted() {
    for (id, body) in [
        ("deep", nested_request("deep", 200)),
        ("surrogate", r#"{"jsonrpc":"2.0","id":"surrogate","method":"tools/call","params":{"a":"\ud800"}}"#.to_owned()),
    ] {
        let mut rig = Rig::new(true);
        let reply_to = rig.replies.clone();
        rig.send(&body, &[("ReplyTo", reply_to.as_str()), ("ClientId", "c-1")]);
        let events = rig.run();
        assert!(!events.iter().any(|e| matches!(e, ServerEvent::Message { .. })), "{id}: delivered: {events:?}");
        let rejected = rejections(&events);
        assert_eq!(rejected.len(), 1, "{id}: {events:?}");
        assert!(matches!(rejected[0].reason, RejectReason::Decode(_)), "{id}: {rejected:?}");
        assert_eq!(rejected[0].fate, QueueOutcome::Deleted);
        let replies = rig.replies();
        assert_eq!(replies.len(), 1, "{id}: no error reply");
        let error = error_reply(&replies[0]);
        assert_eq!(error["id"], id);
        assert_eq!(error["error"]["code"], error_codes::PARSE_ERROR);
        assert_eq!(replies[0].attributes.get("ClientId").map(|a| a.value.as_str()), Some("c-1"));
        assert!(rig.request_queue_drained(), "{id}: the refused request stays on the queue");
    }
}

#[test]
fn a_refusal_goes_only_to_an_allowed_reply_address() {
    let mut rig = Rig::new(false);
    let reply_to = rig.replies.clone();
    rig.send(&nested_request("deep", 200), &[("ReplyTo", reply_to.as_str())]);
    let events = rig.run();
    let rejected = rejections(&events);
    assert_eq!(rejected.len(), 1, "{events:?}");
    assert_eq!(rejected[0].reason, RejectReason::Decode(DecodeError::TooDeep { limit: 100 }));
    assert!(rig.replies().is_empty(), "answered an address off the allow-list");
}

#[test]
fn an_unsupported_protocol_version_gets_the_mcp_version_error() {
    let mut rig = Rig::new(true);
    let reply_to = rig.replies.clone();
    let request = r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#;
    rig.send(request, &[("ReplyTo", reply_to.as_str()), ("ProtocolVersion", "1999-01-01")]);
    let events = rig.run();
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::Message { .. })), "delivered: {events:?}");
    let rejected = rejections(&events);
    assert_eq!(rejected.len(), 1, "{events:?}");
    assert!(
        matches!(&rejected[0].reason, RejectReason::UnsupportedVersion { requested, .. } if requested == "1999-01-01"),
        "{rejected:?}"
    );
    let replies = rig.replies();
    assert_eq!(replies.len(), 1);
    let error = error_reply(&replies[0]);
    assert_eq!(error["id"], 4);
    assert_eq!(error["error"]["code"], error_codes::UNSUPPORTED_PROTOCOL_VERSION);
    assert_eq!(error["error"]["data"]["requested"], "1999-01-01");
    assert!(error["error"]["data"]["supported"].as_array().unwrap().contains(&json!("2026-07-28")));
    assert!(rig.request_queue_drained());

    // A version it speaks is served.
    rig.send(request, &[("ReplyTo", reply_to.as_str()), ("ProtocolVersion", "2026-07-28")]);
    let events = rig.run();
    assert!(events.iter().any(|e| matches!(e, ServerEvent::Message { .. })), "{events:?}");
}

#[test]
fn a_session_response_to_no_server_request_is_rejected() {
    let mut rig = Rig::new(true);
    let reply_to = rig.replies.clone();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "response_queue_url": reply_to}});
    rig.send(&init.to_string(), &[]);
    let events = rig.run();
    let session_id = events
        .iter()
        .find_map(|e| match e {
            ServerEvent::SessionOpened { session_id, .. } => Some(session_id.clone()),
            _ => None,
        })
        .expect("no session");
    let route = Route::Session(session_id.clone());
    let answer = JsonRpcMessage::response(RequestId::Number(0), json!({"protocolVersion": "2025-11-25"}));
    rig.server.submit(&route, answer, rig.now).unwrap();
    let ping = JsonRpcMessage::request(RequestId::from("srv-1"), "ping", None);
    rig.server.submit(&route, ping, rig.now).unwrap();
    rig.run();

    let sid = session_id.as_str().to_owned();
    rig.send(r#"{"jsonrpc":"2.0","id":"srv-9","result":{}}"#, &[("SessionId", sid.as_str())]);
    let events = rig.run();
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::Message { .. })), "delivered: {events:?}");
    let rejected = rejections(&events);
    assert_eq!(rejected.len(), 1, "{events:?}");
    assert_eq!(rejected[0].reason, RejectReason::UnknownResponse(RequestId::from("srv-9")));

    // The answer to the server's own request is delivered, once.
    for _ in 0..2 {
        rig.send(r#"{"jsonrpc":"2.0","id":"srv-1","result":{}}"#, &[("SessionId", sid.as_str())]);
    }
    let events = rig.run();
    let delivered = events.iter().filter(|e| matches!(e, ServerEvent::Message { .. })).count();
    assert_eq!(delivered, 1, "{events:?}");
    assert_eq!(rejections(&events).len(), 1, "{events:?}");
}

#[test]
fn a_notification_method_with_an_id_is_rejected_and_answered() {
    let mut rig = Rig::new(true);
    let reply_to = rig.replies.clone();
    rig.send(
        r#"{"jsonrpc":"2.0","id":8,"method":"notifications/cancelled","params":{"requestId":1}}"#,
        &[("ReplyTo", reply_to.as_str())],
    );
    let events = rig.run();
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::Message { .. })), "delivered: {events:?}");
    let rejected = rejections(&events);
    assert_eq!(
        rejected[0].reason,
        RejectReason::Decode(DecodeError::NotificationWithId { method: "notifications/cancelled".into() })
    );
    let replies = rig.replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(error_reply(&replies[0])["error"]["code"], error_codes::INVALID_REQUEST);
}

#[test]
fn an_initialize_past_max_sessions_is_answered_with_an_error_and_reported() {
    let mut rig = Rig::with(true, |config| config.max_sessions = 2);
    let reply_to = rig.replies.clone();
    let init = |id: i64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "response_queue_url": reply_to}})
        .to_string()
    };
    for id in 0..2 {
        rig.send(&init(id), &[]);
    }
    let events = rig.run();
    assert_eq!(events.iter().filter(|e| matches!(e, ServerEvent::SessionOpened { .. })).count(), 2, "{events:?}");
    assert_eq!(rig.server.sessions(), 2);
    for event in events {
        if let ServerEvent::Message { route, message } = event {
            let answer = JsonRpcMessage::response(message.id().unwrap().clone(), json!({}));
            rig.server.submit(&route, answer, rig.now).unwrap();
        }
    }
    rig.run();
    rig.replies();

    rig.send(&init(2), &[]);
    let events = rig.run();

    assert_eq!(rig.server.sessions(), 2, "a session past the limit was opened: {events:?}");
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::Message { .. })), "delivered: {events:?}");
    let rejected = rejections(&events);
    assert_eq!(rejected.len(), 1, "{events:?}");
    assert_eq!(rejected[0].reason, RejectReason::TooManySessions { max: 2 });
    assert_eq!(rejected[0].fate, QueueOutcome::Deleted);
    let answers: Vec<JsonRpcMessage> =
        rig.replies().into_iter().map(|m| JsonRpcMessage::parse(m.body).unwrap()).collect();
    let refusal = answers.iter().find(|m| m.id() == Some(&RequestId::Number(2))).expect("no answer to id 2");
    assert_eq!(refusal.kind(), MessageKind::Error);
    let error = refusal.to_value()["error"].clone();
    assert_eq!(error["code"], error_codes::TOO_MANY_SESSIONS);
    assert!(error["message"].as_str().unwrap().contains("2 sessions"), "{error}");
    assert!(rig.request_queue_drained(), "the refused initialize stayed on the queue");
}

#[test]
fn max_sessions_must_be_positive() {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut config = ServerConfig::new("https://sqs.us-east-1.amazonaws.com/123456789012/q", AllowList::new());
    config.max_sessions = 0;
    assert!(Server::new(config, now, [0; 32]).is_err());
}

#[test]
fn messages_past_the_reorder_bound_skip_the_gap_and_are_all_delivered() {
    let ordering = OrderingConfig { gap_timeout: Duration::from_secs(600), max_buffered: 2 };
    let mut rig = Rig::with(true, |config| config.common.ordering = Some(ordering));
    let reply_to = rig.replies.clone();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "response_queue_url": reply_to}});
    rig.send(&init.to_string(), &[]);
    let session_id = rig
        .run()
        .iter()
        .find_map(|e| match e {
            ServerEvent::SessionOpened { session_id, .. } => Some(session_id.clone()),
            _ => None,
        })
        .expect("no session");
    let sid = session_id.as_str().to_owned();
    let note = |n: u64| format!(r#"{{"jsonrpc":"2.0","method":"notifications/n{n}"}}"#);
    let delivered = |events: &[ServerEvent]| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Message { message, .. } => message.method().map(str::to_owned),
                _ => None,
            })
            .collect()
    };

    // Number 0 is missing: 1 and 2 wait behind the gap, up to the bound.
    for n in [1, 2] {
        rig.send(&note(n), &[("SessionId", sid.as_str()), ("AsyncMcpExt", &format!("seq={n}"))]);
        assert!(delivered(&rig.run()).is_empty());
    }
    // One more than the bound: the gap is skipped at once, nothing is dropped.
    rig.send(&note(3), &[("SessionId", sid.as_str()), ("AsyncMcpExt", "seq=3")]);
    assert_eq!(delivered(&rig.run()), ["notifications/n1", "notifications/n2", "notifications/n3"]);
    // The skipped number, arriving late, is delivered out of order rather than lost.
    rig.send(&note(0), &[("SessionId", sid.as_str()), ("AsyncMcpExt", "seq=0")]);
    assert_eq!(delivered(&rig.run()), ["notifications/n0"]);
}

#[test]
fn every_numbered_request_of_an_unknown_session_is_answered_session_not_found() {
    let ordering = OrderingConfig { gap_timeout: Duration::from_secs(5), max_buffered: 8 };
    let mut rig = Rig::with(true, |config| config.common.ordering = Some(ordering));
    let reply_to = rig.replies.clone();
    let gone = "0123456789abcdef0123456789abcdef";

    // Two requests of a session this server does not know, each numbered 0 (the
    // server holds no ordering state for a session it does not know, so neither is
    // taken for a repeat of the other).
    for id in [1, 2] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#);
        rig.send(&body, &[("SessionId", gone), ("ReplyTo", reply_to.as_str()), ("AsyncMcpExt", "seq=0")]);
        let events = rig.run();
        let rejected = rejections(&events);
        assert_eq!(rejected.len(), 1, "{events:?}");
        assert!(matches!(rejected[0].reason, RejectReason::UnknownSession(_)), "request {id}: {events:?}");
    }

    let answered: Vec<Option<RequestId>> =
        rig.replies().into_iter().map(|m| JsonRpcMessage::parse(m.body).unwrap().id().cloned()).collect();
    assert_eq!(answered.len(), 2, "{answered:?}");
    assert!(answered.contains(&Some(RequestId::Number(1))) && answered.contains(&Some(RequestId::Number(2))));
}
