//! Size budgets per destination: whatever the body size around each threshold (the
//! destination's budget, 64 KiB, 256 KiB, 1 MiB), with and without fragments, a
//! message goes inline within the destination's budget, as fragments each within it,
//! or is refused with an error naming its size and that budget. Never a send over it.

use std::time::{Duration, Instant};

use asyncmcp_proto::attributes::{AttributeValue, Attributes};
use asyncmcp_proto::codec::{Ext, encoded_size};
use asyncmcp_proto::{
    Address, AllowList, ApiError, Client, ClientConfig, Era, InboundMessage, JsonRpcMessage, OpKind, RejectReason,
    RequestId, Route, SendOp, Server, ServerConfig, ServerEvent, Unsendable,
};
use proptest::prelude::*;

const REQUESTS: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/requests";
const REPLIES: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/replies";
const REPLY_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:replies";

const KIB: usize = 1024;
const THRESHOLDS: [usize; 4] = [64 * KIB, 256 * KIB, 1024 * KIB, 5 * KIB];

fn start() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

/// A request or response of about `size` bytes (the JSON around the text is ~80).
fn payload(size: usize) -> serde_json::Value {
    serde_json::json!({ "text": "x".repeat(size.saturating_sub(80)) })
}

fn sends(ops: impl Iterator<Item = OpKind>) -> Vec<SendOp> {
    ops.filter_map(|k| match k {
        OpKind::Send(s) => Some(s),
        _ => None,
    })
    .collect()
}

fn fragment_of(send: &SendOp) -> Option<(u32, u32)> {
    let ext = Ext::parse(&send.attributes.get("AsyncMcpExt")?.value).ok()?;
    ext.fragment.map(|f| (f.index, f.count))
}

/// What one outbound message became, checked against `budget`.
fn check_outcome(result: Result<(), ApiError>, sent: &[SendOp], budget: usize, fragments: bool) {
    check_outcome_in(result, sent, budget, fragments, false);
}

/// As [`check_outcome`]; `envelope`: sizes count the SNS envelope around each send.
fn check_outcome_in(result: Result<(), ApiError>, sent: &[SendOp], budget: usize, fragments: bool, envelope: bool) {
    match result {
        Ok(()) => {
            assert!(!sent.is_empty());
            for s in sent {
                let size = encoded_size(&s.body, &s.attributes, envelope);
                assert!(size <= budget, "a send of {size} bytes over the budget of {budget}");
            }
            if sent.len() > 1 {
                assert!(fragments, "fragments to a peer that takes none");
                let count = u32::try_from(sent.len()).unwrap();
                for (i, s) in (0u32..).zip(sent) {
                    assert_eq!(fragment_of(s), Some((i, count)));
                }
            } else {
                assert_eq!(fragment_of(&sent[0]), None, "one message is sent inline");
            }
        }
        Err(ApiError::Unsendable(Unsendable::TooLarge { size, limit })) => {
            assert_eq!(limit, budget, "the error names the destination's budget");
            assert!(size > limit);
            assert!(sent.is_empty(), "nothing sent for a refused message");
        }
        Err(other) => panic!("unexpected {other:?}"),
    }
}

fn resource() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![
        Just(None),
        Just(Some(64 * KIB)),
        Just(Some(256 * KIB)),
        Just(Some(1024 * KIB)),
        (0usize..2 * 1024 * KIB).prop_map(Some),
    ]
}

/// A size near a threshold or near the budget: within 300 bytes either side.
fn near(budget: usize) -> impl Strategy<Value = usize> {
    let anchors: Vec<usize> = THRESHOLDS.iter().copied().chain([budget]).collect();
    (prop::sample::select(anchors), -300i64..300).prop_map(|(a, d)| a.saturating_add_signed(d as isize).max(1))
}

fn client(resource: Option<usize>, cap: usize, fragments: bool) -> (Client, Instant, usize) {
    let now = start();
    let mut config = ClientConfig::sqs(REQUESTS, REPLIES, "c");
    config.era = Era::Modern;
    config.common.limits.max_bytes = cap;
    config.common.peer_takes_fragments = fragments;
    let mut client = Client::new(config, now, [1; 32]).unwrap();
    if let Some(r) = resource {
        client.handle_max_message_bytes(&Address::Queue(REQUESTS.into()), r);
    }
    let budget = resource.map_or(256 * KIB, |r| r.clamp(KIB, 1024 * KIB)).min(cap);
    (client, now, budget)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// A client's request to the server's queue stays within what the queue said
    /// (lowered by configuration, the fallback when it said nothing).
    #[test]
    fn client_requests_stay_within_the_server_queue_budget(
        resource in resource(),
        cap in prop_oneof![Just(1024 * KIB), Just(100 * KIB), 1024usize..1024 * KIB],
        fragments: bool,
        offset in 0usize..8,
    ) {
        let (mut client, now, budget) = client(resource, cap, fragments);
        let sizes = THRESHOLDS.iter().chain([&budget]).flat_map(|t| [t.saturating_sub(offset * 50 + 60), t + offset * 50]);
        for (id, size) in (0i64..).zip(sizes) {
            let request = JsonRpcMessage::request(RequestId::Number(id), "tools/call", Some(payload(size.max(1))));
            let result = client.submit(request, now);
            let sent = sends(std::iter::from_fn(|| client.poll_op()).map(|op| op.kind));
            check_outcome(result, &sent, budget, fragments);
        }
    }

    /// Through a topic whose queue gets SNS envelopes, the budget counts the envelope:
    /// the JSON-escaped body (quotes and backslashes double), attributes and envelope
    /// fields.
    #[test]
    fn topic_sends_with_envelopes_stay_within_the_topic_budget(
        resource in resource(),
        fragments: bool,
        size in near(256 * KIB),
        quotes: bool,
    ) {
        let now = start();
        let topic = "arn:aws:sns:us-east-1:123456789012:requests";
        let mut config = ClientConfig::sns_sqs(topic, REPLY_TOPIC, REPLIES, "c");
        config.era = Era::Modern;
        config.common.limits.envelope = true;
        config.common.peer_takes_fragments = fragments;
        let mut client = Client::new(config, now, [1; 32]).unwrap();
        if let Some(r) = resource {
            client.handle_max_message_bytes(&Address::Topic(topic.into()), r);
        }
        let budget = resource.map_or(256 * KIB, |r| r.clamp(KIB, 1024 * KIB));
        let text = if quotes { "\"".repeat(size / 2) } else { "q".repeat(size) };
        let request = JsonRpcMessage::request(RequestId::Number(1), "tools/call", Some(serde_json::json!({ "text": text })));
        let result = client.submit(request, now);
        let sent = sends(std::iter::from_fn(|| client.poll_op()).map(|op| op.kind));
        check_outcome_in(result, &sent, budget, fragments, true);
    }

    /// The same around each threshold with a size drawn near it.
    #[test]
    fn any_size_near_a_threshold(resource in resource(), fragments: bool, size in near(64 * KIB)) {
        let (mut client, now, budget) = client(resource, 1024 * KIB, fragments);
        let request = JsonRpcMessage::request(RequestId::Number(1), "tools/call", Some(payload(size)));
        let result = client.submit(request, now);
        let sent = sends(std::iter::from_fn(|| client.poll_op()).map(|op| op.kind));
        check_outcome(result, &sent, budget, fragments);
    }

    /// A server answers within what the client advertised (`max=`, clamped), its own
    /// configuration and, for a client that advertised nothing, the fallback; a
    /// response too large becomes an error naming that budget.
    #[test]
    fn server_answers_within_the_advertised_budget(
        max in prop::option::of(prop_oneof![
            Just("65536".to_owned()),
            Just("1048576".to_owned()),
            Just("0".to_owned()),
            Just("99999999999999999999999999".to_owned()),
            "[0-9]{1,8}",
        ]),
        caps_frag: bool,
        cap in prop_oneof![Just(1024 * KIB), Just(200 * KIB)],
        size in near(64 * KIB),
    ) {
        let advertised = max.as_deref().map(|m| {
            let n: u128 = m.parse().unwrap();
            usize::try_from(n).unwrap_or(usize::MAX).clamp(KIB, 1024 * KIB)
        });
        let budget = advertised.unwrap_or(256 * KIB).min(cap);
        let (mut server, now) = server(cap);
        let mut ext = Vec::new();
        if caps_frag { ext.push("caps=frag".to_owned()); }
        if let Some(m) = &max { ext.push(format!("max={m}")); }
        let route = deliver(&mut server, now, &ext.join(";"));
        let response = JsonRpcMessage::response(RequestId::Number(1), payload(size));
        let result = server.submit(&route, response, now);
        let sent: Vec<SendOp> = sends(std::iter::from_fn(|| server.poll_op()).map(|op| op.kind));
        let replies: Vec<SendOp> = sent.into_iter().filter(|s| s.to == Address::Queue(REPLIES.into())).collect();
        match result {
            Err(ApiError::Unsendable(Unsendable::TooLarge { size, limit })) => {
                prop_assert_eq!(limit, budget);
                prop_assert_eq!(replies.len(), 1, "the sized error goes in the response's place");
                let error = JsonRpcMessage::parse(replies[0].body.clone()).unwrap().to_value();
                prop_assert_eq!(&error["error"]["data"]["limit"], &serde_json::json!(budget));
                prop_assert_eq!(&error["error"]["data"]["size"], &serde_json::json!(size));
                let named = format!("{budget}-byte limit");
                prop_assert!(error["error"]["message"].as_str().unwrap().contains(&named));
            }
            other => check_outcome(other, &replies, budget, caps_frag),
        }
        for s in &replies {
            prop_assert!(encoded_size(&s.body, &s.attributes, false) <= budget);
        }
    }

    /// Whatever a peer writes after `max=`, the server neither panics nor errs: a
    /// number is clamped, anything else rejects the message with a reason.
    #[test]
    fn hostile_max_values_never_panic(value in "\\PC{0,40}") {
        let (mut server, now) = server(1024 * KIB);
        let ext = format!("caps=frag;max={value}");
        let inbound = request_message(&ext);
        server.handle_inbound(inbound, now);
        let events: Vec<ServerEvent> = std::iter::from_fn(|| server.poll_event()).collect();
        let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        if digits {
            prop_assert!(matches!(events.as_slice(), [ServerEvent::Message { .. }]), "{events:?}");
        } else {
            prop_assert!(
                matches!(events.as_slice(), [ServerEvent::Rejected(r)] if matches!(r.reason, RejectReason::Decode(asyncmcp_proto::DecodeError::BadAttribute { .. }))),
                "{events:?}"
            );
        }
    }
}

fn server(cap: usize) -> (Server, Instant) {
    let now = start();
    let mut config = ServerConfig::new(REQUESTS, AllowList::new().exact(REPLIES).exact(REPLY_TOPIC));
    config.common.limits.max_bytes = cap;
    (Server::new(config, now, [2; 32]).unwrap(), now)
}

fn request_message(ext: &str) -> InboundMessage {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#;
    let mut inbound = InboundMessage::new("m-1", "r-1", bytes::Bytes::from_static(body.as_bytes()));
    let mut attributes = Attributes::new();
    attributes.insert("MessageType".into(), AttributeValue::string("jsonrpc"));
    attributes.insert("ReplyTo".into(), AttributeValue::string(REPLIES));
    attributes.insert("ClientId".into(), AttributeValue::string("c"));
    if !ext.is_empty() {
        attributes.insert("AsyncMcpExt".into(), AttributeValue::string(ext));
    }
    inbound.attributes = attributes;
    inbound
}

/// Delivers one modern request carrying `ext`; returns its route.
fn deliver(server: &mut Server, now: Instant, ext: &str) -> Route {
    server.handle_inbound(request_message(ext), now);
    match server.poll_event() {
        Some(ServerEvent::Message { route, .. }) => route,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_advertises_its_reply_budget_and_the_server_follows_it() {
    let now = start();
    let mut config = ClientConfig::sns_sqs("arn:aws:sns:us-east-1:123456789012:requests", REPLY_TOPIC, REPLIES, "c");
    config.era = Era::Modern;
    let mut client = Client::new(config, now, [1; 32]).unwrap();
    assert_eq!(
        client.limit_destinations(),
        [
            Address::Topic("arn:aws:sns:us-east-1:123456789012:requests".into()),
            Address::Topic(REPLY_TOPIC.into()),
            Address::Queue(REPLIES.into()),
        ]
    );
    // The reply topic takes 1 MiB, the queue behind it 64 KiB: the smaller counts.
    client.handle_max_message_bytes(&Address::Topic(REPLY_TOPIC.into()), 1024 * KIB);
    client.handle_max_message_bytes(&Address::Queue(REPLIES.into()), 64 * KIB);
    client.submit(JsonRpcMessage::request(RequestId::Number(1), "tools/call", None), now).unwrap();
    let sent = sends(std::iter::from_fn(|| client.poll_op()).map(|op| op.kind));
    let ext = Ext::parse(&sent[0].attributes["AsyncMcpExt"].value).unwrap();
    assert_eq!(ext.max_message_bytes, Some(64 * KIB));

    // The server, 1 MiB by configuration, fragments its answer at 64 KiB.
    let (mut server, now) = server(1024 * KIB);
    let route = deliver(&mut server, now, &sent[0].attributes["AsyncMcpExt"].value);
    let response = JsonRpcMessage::response(RequestId::Number(1), payload(200 * KIB));
    server.submit(&route, response, now).unwrap();
    let replies = sends(std::iter::from_fn(|| server.poll_op()).map(|op| op.kind));
    assert_eq!(replies.len(), 4);
    assert!(replies.iter().all(|s| encoded_size(&s.body, &s.attributes, false) <= 64 * KIB));
}

#[test]
fn a_client_that_read_nothing_advertises_nothing() {
    let (mut c, now, _) = client(None, 1024 * KIB, false);
    c.submit(JsonRpcMessage::request(RequestId::Number(1), "ping", None), now).unwrap();
    let sent = sends(std::iter::from_fn(|| c.poll_op()).map(|op| op.kind));
    let ext = Ext::parse(&sent[0].attributes["AsyncMcpExt"].value).unwrap();
    assert_eq!(ext.max_message_bytes, None);
}

#[test]
fn a_server_advertises_its_queue_budget_and_the_client_keeps_under_it() {
    let (mut server, now) = server(1024 * KIB);
    assert_eq!(server.limit_destinations(), [Address::Queue(REQUESTS.into())]);
    server.handle_max_message_bytes(&Address::Queue(REQUESTS.into()), 100 * KIB);
    let route = deliver(&mut server, now, "caps=frag");
    server.submit(&route, JsonRpcMessage::response(RequestId::Number(1), serde_json::json!({})), now).unwrap();
    let reply = sends(std::iter::from_fn(|| server.poll_op()).map(|op| op.kind)).remove(0);
    assert_eq!(Ext::parse(&reply.attributes["AsyncMcpExt"].value).unwrap().max_message_bytes, Some(100 * KIB));

    // The client read 1 MiB for the server's queue, but the server said 100 KiB.
    let (mut c, now, _) = client(Some(1024 * KIB), 1024 * KIB, false);
    c.submit(JsonRpcMessage::request(RequestId::Number(1), "ping", None), now).unwrap();
    let _ = std::iter::from_fn(|| c.poll_op()).count();
    let mut inbound = InboundMessage::new("m-2", "r-2", reply.body.clone());
    inbound.attributes = reply.attributes.clone();
    c.handle_inbound(inbound, now + Duration::from_millis(1));
    let events: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(matches!(events.as_slice(), [asyncmcp_proto::ClientEvent::Message(_)]), "{events:?}");
    let big = JsonRpcMessage::request(RequestId::Number(2), "tools/call", Some(payload(150 * KIB)));
    c.submit(big, now).unwrap();
    // The server takes fragments (caps=frag): two, each within its 100 KiB.
    let sent = sends(std::iter::from_fn(|| c.poll_op()).map(|op| op.kind));
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|s| encoded_size(&s.body, &s.attributes, false) <= 100 * KIB));
}

#[test]
fn configuration_lowers_a_budget_but_never_raises_it() {
    // The queue says 64 KiB; configuration allows 1 MiB: 64 KiB it is.
    let (mut small, now, budget) = client(Some(64 * KIB), 1024 * KIB, false);
    assert_eq!(budget, 64 * KIB);
    let big = JsonRpcMessage::request(RequestId::Number(1), "tools/call", Some(payload(100 * KIB)));
    assert!(
        matches!(small.submit(big, now), Err(ApiError::Unsendable(Unsendable::TooLarge { limit, .. })) if limit == 64 * KIB)
    );
    // The queue says 1 MiB; configuration says 100 KiB: 100 KiB.
    let (mut capped, now, _) = client(Some(1024 * KIB), 100 * KIB, false);
    let big = JsonRpcMessage::request(RequestId::Number(1), "tools/call", Some(payload(150 * KIB)));
    assert!(
        matches!(capped.submit(big, now), Err(ApiError::Unsendable(Unsendable::TooLarge { limit, .. })) if limit == 100 * KIB)
    );
    // A 900 KiB request to a 1 MiB queue goes as one message.
    let (mut large, now, _) = client(Some(1024 * KIB), 1024 * KIB, true);
    large.submit(JsonRpcMessage::request(RequestId::Number(1), "tools/call", Some(payload(900 * KIB))), now).unwrap();
    let sent = sends(std::iter::from_fn(|| large.poll_op()).map(|op| op.kind));
    assert_eq!(sent.len(), 1);
    assert_eq!(fragment_of(&sent[0]), None);
}

#[test]
fn reassembly_past_the_configured_cap_is_rejected_naming_size_and_cap() {
    // A client that fragments at 2 KiB sends a 30 KB request; the server takes at most
    // 10 000 bytes of fragments from one peer.
    let now = start();
    let mut config = ClientConfig::sqs(REQUESTS, REPLIES, "c");
    config.era = Era::Modern;
    config.common.limits.max_bytes = 2 * KIB;
    config.common.peer_takes_fragments = true;
    let mut client = Client::new(config, now, [1; 32]).unwrap();
    client.submit(JsonRpcMessage::request(RequestId::Number(1), "tools/call", Some(payload(30_000))), now).unwrap();
    let fragments = sends(std::iter::from_fn(|| client.poll_op()).map(|op| op.kind));
    assert!(fragments.len() > 10);

    let mut config = ServerConfig::new(REQUESTS, AllowList::new().exact(REPLIES));
    config.common.reassembly.max_bytes_per_peer = 10_000;
    let mut server = Server::new(config, now, [2; 32]).unwrap();
    for (i, f) in fragments.iter().enumerate() {
        let mut inbound = InboundMessage::new(format!("m-{i}"), format!("r-{i}"), f.body.clone());
        inbound.attributes = f.attributes.clone();
        server.handle_inbound(inbound, now);
    }

    let events: Vec<ServerEvent> = std::iter::from_fn(|| server.poll_event()).collect();
    let reasons: Vec<&RejectReason> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Rejected(r) => Some(&r.reason),
            _ => None,
        })
        .collect();
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::Message { .. })), "{events:?}");
    let Some(RejectReason::Reassembly(error)) = reasons.first() else { panic!("{events:?}") };
    let asyncmcp_proto::ReassemblyError::PeerLimit { size, limit } = error else { panic!("{error:?}") };
    assert_eq!(*limit, 10_000);
    assert!(*size > 10_000 && *size < 10_000 + 3 * KIB, "{size}");
    let text = error.to_string();
    assert!(text.contains(&size.to_string()) && text.contains("10000"), "{text}");
}

#[test]
fn fragments_past_what_the_client_reassembles_become_a_sized_error() {
    // The client takes fragments but holds at most 100 000 bytes of them.
    let (mut server, now) = server(1024 * KIB);
    let route = deliver(&mut server, now, "caps=frag;max=65536;reasm=100000");
    let response = JsonRpcMessage::response(RequestId::Number(1), payload(300 * KIB));

    let result = server.submit(&route, response, now);

    let Err(ApiError::Unsendable(Unsendable::TooLargeToReassemble { size, limit })) = result else {
        panic!("{result:?}")
    };
    assert_eq!(limit, 100_000);
    assert!(size > 300 * KIB);
    let replies = sends(std::iter::from_fn(|| server.poll_op()).map(|op| op.kind));
    assert_eq!(replies.len(), 1, "the error alone goes, inline");
    let error = JsonRpcMessage::parse(replies[0].body.clone()).unwrap().to_value();
    assert_eq!(error["error"]["data"], serde_json::json!({"size": size, "limit": 100_000}));
    assert!(error["error"]["message"].as_str().unwrap().contains("100000-byte limit"), "{error}");
    // Within the cap, fragments go.
    let (mut server, now) = self::server(1024 * KIB);
    let route = deliver(&mut server, now, "caps=frag;max=65536;reasm=1000000");
    server.submit(&route, JsonRpcMessage::response(RequestId::Number(1), payload(300 * KIB)), now).unwrap();
    assert_eq!(sends(std::iter::from_fn(|| server.poll_op()).map(|op| op.kind)).len(), 5);
}

#[test]
fn endpoints_advertise_their_reassembly_cap_when_they_take_fragments() {
    let (mut c, now, _) = client(None, 1024 * KIB, false);
    c.submit(JsonRpcMessage::request(RequestId::Number(1), "ping", None), now).unwrap();
    let sent = sends(std::iter::from_fn(|| c.poll_op()).map(|op| op.kind));
    let ext = Ext::parse(&sent[0].attributes["AsyncMcpExt"].value).unwrap();
    assert_eq!(ext.reassembles, Some(4 << 20));

    let mut config = ClientConfig::sqs(REQUESTS, REPLIES, "c");
    config.era = Era::Modern;
    config.common.takes_fragments = false;
    let mut c = Client::new(config, now, [1; 32]).unwrap();
    c.submit(JsonRpcMessage::request(RequestId::Number(1), "ping", None), now).unwrap();
    let sent = sends(std::iter::from_fn(|| c.poll_op()).map(|op| op.kind));
    let ext = sent[0].attributes.get("AsyncMcpExt").map(|a| Ext::parse(&a.value).unwrap()).unwrap_or_default();
    assert_eq!(ext.reassembles, None);
}
