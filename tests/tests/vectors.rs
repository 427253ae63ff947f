//! Messages captured from Python asyncmcp 0.2.1 (and its unreleased main) decode as
//! expected, and survive a round trip through our encoder unchanged.

use std::path::PathBuf;

use asyncmcp_proto::attributes::{AttributeValue, Attributes};
use asyncmcp_proto::codec::{Decoded, Payload, SizeLimits, decode, encode};
use asyncmcp_proto::{InboundMessage, JsonRpcMessage, MessageKind, RequestId};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vector {
    description: String,
    body: String,
    attributes: std::collections::BTreeMap<String, SqsAttribute>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SqsAttribute {
    data_type: String,
    string_value: String,
}

/// What a vector must decode to.
struct Expected {
    kind: MessageKind,
    id: Option<RequestId>,
    method: Option<&'static str>,
    session: Option<&'static str>,
    client: Option<&'static str>,
    request_id_attr: Option<&'static str>,
    timestamp: u64,
    sns: bool,
    /// (JSON pointer into the message, expected string)
    reply: Option<(&'static str, &'static str)>,
}

const SNS_SESSION: &str = "21e45e13700c4ae69854da54086f0134";
const SQS_SESSION: &str = "6063cd47514e409da7b4f61be62c3464";
const SQS_REPLY: &str = "http://127.0.0.1:47691/123456789012/amcp-cli-resp";

fn expected(name: &str) -> Expected {
    use MessageKind::{Error, Notification, Request, Response};
    let base = Expected {
        kind: Request,
        id: None,
        method: None,
        session: None,
        client: None,
        request_id_attr: None,
        timestamp: 0,
        sns: false,
        reply: None,
    };
    let init = |client, ts, sns, reply| Expected {
        id: Some(RequestId::Number(0)),
        method: Some("initialize"),
        client: Some(client),
        request_id_attr: Some("0"),
        timestamp: ts,
        sns,
        reply: Some(reply),
        ..base_request()
    };
    match name {
        "sns-01-initialize-request-envelope.json" => init(
            "interop-sns-client",
            1_795_709_565,
            true,
            ("/params/client_topic_arn", "arn:aws:sns:us-east-1:123456789012:amcp-env-client-topic"),
        ),
        "sns-02-initialize-response-envelope.json" => Expected {
            kind: Response,
            id: Some(RequestId::Number(0)),
            session: Some(SNS_SESSION),
            timestamp: 1_795_709_565,
            sns: true,
            ..base
        },
        "sns-03-tools-call-request-envelope.json" => Expected {
            kind: Request,
            id: Some(RequestId::Number(2)),
            method: Some("tools/call"),
            session: Some(SNS_SESSION),
            client: Some("interop-sns-client"),
            request_id_attr: Some("2"),
            timestamp: 1_795_709_567,
            sns: true,
            ..base
        },
        "sns-04-tools-call-response-envelope.json" => Expected {
            kind: Response,
            id: Some(RequestId::Number(2)),
            session: Some(SNS_SESSION),
            timestamp: 1_795_709_567,
            sns: true,
            ..base
        },
        "sns-05-initialize-request-raw-delivery.json" => init(
            "interop-sns-client",
            1_795_709_525,
            false,
            ("/params/client_topic_arn", "arn:aws:sns:us-east-1:123456789012:amcp-raw-client-topic"),
        ),
        "sqs-01-initialize-request.json" => {
            init("interop-client", 1_795_709_489, false, ("/params/response_queue_url", SQS_REPLY))
        }
        "sqs-02-initialize-response.json" => Expected {
            kind: Response,
            id: Some(RequestId::Number(0)),
            session: Some(SQS_SESSION),
            timestamp: 1_795_709_489,
            ..base
        },
        "sqs-03-initialized-notification.json" => Expected {
            kind: Notification,
            method: Some("notifications/initialized"),
            session: Some(SQS_SESSION),
            client: Some("interop-client"),
            timestamp: 1_795_709_489,
            ..base
        },
        "sqs-04-tools-call-request.json" => Expected {
            kind: Request,
            id: Some(RequestId::Number(2)),
            method: Some("tools/call"),
            session: Some(SQS_SESSION),
            client: Some("interop-client"),
            request_id_attr: Some("2"),
            timestamp: 1_795_709_490,
            ..base
        },
        "sqs-05-tools-call-response.json" => Expected {
            kind: Response,
            id: Some(RequestId::Number(2)),
            session: Some(SQS_SESSION),
            timestamp: 1_795_709_490,
            ..base
        },
        "sqs-06-error-parse-error.json" => Expected {
            kind: Error,
            id: Some(RequestId::String("server-error".into())),
            session: Some(SQS_SESSION),
            timestamp: 1_795_709_492,
            ..base
        },
        "sqs-07-initialize-request-main-meta.json" => {
            init("interop-client", 1_795_709_554, false, ("/params/_meta/responseQueueUrl", SQS_REPLY))
        }
        other => panic!("no expectation for vector {other}: add one"),
    }
}

fn base_request() -> Expected {
    Expected {
        kind: MessageKind::Request,
        id: None,
        method: None,
        session: None,
        client: None,
        request_id_attr: None,
        timestamp: 0,
        sns: false,
        reply: None,
    }
}

fn vectors() -> Vec<(String, Vector)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/python-asyncmcp");
    let mut out: Vec<(String, Vector)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let vector = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            (name, vector)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn inbound(vector: &Vector) -> InboundMessage {
    let mut msg = InboundMessage::new("sqs-message-id", "receipt", vector.body.clone());
    msg.attributes = vector
        .attributes
        .iter()
        .map(|(name, a)| {
            (name.clone(), AttributeValue { data_type: a.data_type.clone(), value: a.string_value.clone() })
        })
        .collect();
    msg
}

fn message(decoded: &Decoded) -> &JsonRpcMessage {
    match &decoded.payload {
        Payload::Message(m) => m,
        other => panic!("expected a whole message, got {other:?}"),
    }
}

#[test]
fn all_python_vectors_are_present() {
    assert_eq!(vectors().len(), 12, "a vector was added or removed: update the expectations");
}

#[test]
fn python_vectors_decode_as_expected() {
    for (name, vector) in vectors() {
        assert!(!vector.description.is_empty());
        let want = expected(&name);
        let decoded = decode(&inbound(&vector)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = message(&decoded);
        assert_eq!(m.kind(), want.kind, "{name}");
        assert_eq!(m.id(), want.id.as_ref(), "{name}");
        assert_eq!(m.method(), want.method, "{name}");
        let meta = &decoded.meta;
        assert_eq!(meta.session_id.as_ref().map(|s| s.as_str()), want.session, "{name}");
        assert_eq!(meta.client_id.as_deref(), want.client, "{name}");
        assert_eq!(meta.request_id.as_deref(), want.request_id_attr, "{name}");
        assert_eq!(meta.method.as_deref(), want.method, "{name}: Method attribute");
        assert_eq!(meta.timestamp, Some(want.timestamp), "{name}");
        assert_eq!(meta.protocol_version, None, "{name}");
        assert!(meta.reply_to.is_none() && meta.ext.is_empty() && meta.custom.is_empty(), "{name}");
        assert_eq!(decoded.sns.is_some(), want.sns, "{name}");
        if let Some(sns) = &decoded.sns {
            assert!(sns.topic_arn.starts_with("arn:aws:sns:us-east-1:123456789012:amcp-env-"), "{name}");
            assert_eq!(sns.message_id.len(), 36, "{name}");
        }
        let value = m.to_value();
        for pointer in ["/params/client_topic_arn", "/params/response_queue_url", "/params/_meta/responseQueueUrl"] {
            let found = value.pointer(pointer).and_then(|v| v.as_str());
            let wanted = want.reply.filter(|(p, _)| *p == pointer).map(|(_, v)| v);
            assert_eq!(found, wanted, "{name}: {pointer}");
        }
    }
}

#[test]
fn python_parse_error_reply_names_server_error() {
    let (_, vector) = vectors().into_iter().find(|(name, _)| name.starts_with("sqs-06")).unwrap();
    let decoded = decode(&inbound(&vector)).unwrap();
    let m = message(&decoded);
    assert_eq!(m.kind(), MessageKind::Error);
    assert_eq!(m.id(), Some(&RequestId::String("server-error".into())));
    assert_eq!(m.to_value()["error"]["code"], -32700);
}

#[test]
fn python_vectors_round_trip_through_our_encoder() {
    for (name, vector) in vectors() {
        let original = decode(&inbound(&vector)).unwrap();
        let encoded = encode(message(&original), &original.meta, &SizeLimits::default(), None).unwrap();
        assert_eq!(encoded.len(), 1, "{name}");
        let part = &encoded[0];
        if original.sns.is_none() {
            // We write exactly the attributes Python wrote.
            let python: Attributes = inbound(&vector).attributes;
            assert_eq!(part.attributes, python, "{name}");
        }
        let mut again = InboundMessage::new("m2", "r2", part.body.clone());
        again.attributes = part.attributes.clone();
        let redecoded = decode(&again).unwrap();
        assert_eq!(message(&redecoded).as_str(), message(&original).as_str(), "{name}");
        assert_eq!(redecoded.payload, original.payload, "{name}");
        assert_eq!(redecoded.meta, original.meta, "{name}");
        assert!(redecoded.sns.is_none(), "{name}");
    }
}

/// Every captured Python `initialize` (0.2.1's `params.response_queue_url` /
/// `params.client_topic_arn`, in an SNS envelope or raw, and main's
/// `params._meta.responseQueueUrl` of sqs-07) opens a session on our server, which
/// answers the address the vector names, with the request's id and the new
/// `SessionId`.
#[test]
fn our_server_opens_a_session_from_every_python_initialize() {
    use asyncmcp_proto::{Address, AllowList, OpKind, Server, ServerConfig, ServerEvent};
    let inits: Vec<(String, Vector)> =
        vectors().into_iter().filter(|(name, _)| expected(name).reply.is_some()).collect();
    let names: Vec<&str> = inits.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "sns-01-initialize-request-envelope.json",
            "sns-05-initialize-request-raw-delivery.json",
            "sqs-01-initialize-request.json",
            "sqs-07-initialize-request-main-meta.json"
        ]
    );
    for (name, vector) in inits {
        // Arrange
        let (pointer, reply) = expected(&name).reply.unwrap();
        let config = ServerConfig::new("http://127.0.0.1:47691/123456789012/server", AllowList::new().exact(reply));
        let now = std::time::Instant::now();
        let mut server = Server::new(config, now, [7; 32]).unwrap();

        // Act
        server.handle_inbound(inbound(&vector), now);

        // Assert: a session, replying to the vector's address...
        let events: Vec<ServerEvent> = std::iter::from_fn(|| server.poll_event()).collect();
        let opened = events.iter().find_map(|e| match e {
            ServerEvent::SessionOpened { session_id, reply_to, client_id } => Some((session_id, reply_to, client_id)),
            _ => None,
        });
        let (session, reply_to, client) = opened.unwrap_or_else(|| panic!("{name}: no session: {events:?}"));
        assert_eq!(reply_to.as_str(), reply, "{name} ({pointer})");
        assert_eq!(matches!(reply_to, Address::Topic(_)), reply.starts_with("arn:aws:sns:"), "{name}");
        assert_eq!(client.as_deref(), expected(&name).client, "{name}");
        assert_eq!(server.sessions(), 1, "{name}");

        // ...which gets the answer to the initialize, with its id and the session id.
        let route = events
            .iter()
            .find_map(|e| match e {
                ServerEvent::Message { route, message } if message.method() == Some("initialize") => {
                    Some(route.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name}: initialize not delivered: {events:?}"));
        let result = serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "t", "version": "0"}});
        server.submit(&route, JsonRpcMessage::response(RequestId::Number(0), result), now).unwrap();
        let sends: Vec<_> = std::iter::from_fn(|| server.poll_op())
            .filter_map(|op| match op.kind {
                OpKind::Send(send) => Some(send),
                _ => None,
            })
            .collect();
        assert_eq!(sends.len(), 1, "{name}: {sends:?}");
        assert_eq!(sends[0].to.as_str(), reply, "{name}");
        assert_eq!(sends[0].attributes["SessionId"].value, session.as_str(), "{name}");
        let answer: serde_json::Value = serde_json::from_slice(&sends[0].body).unwrap();
        assert_eq!(answer["id"], 0, "{name}");
    }
}
