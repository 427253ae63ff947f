//! Properties of the codec: `decode(encode(m))` gives `m` back with its meta, raw and
//! inside an SNS envelope; fragments reassemble to the original; decode never panics.

use asyncmcp_proto::attributes::{AttributeValue, Attributes, names};
use asyncmcp_proto::codec::{
    Decoded, Encoded, Ext, FragmentHeader, Payload, SizeLimits, WireMeta, decode, encode, encode_attributes,
    encoded_size,
};
use asyncmcp_proto::{Address, InboundMessage, JsonRpcMessage, RequestId, SessionId};
use proptest::prelude::*;
use serde_json::Value;

/// Any character SQS allows, with the awkward ones (quotes, backslashes, controls
/// that JSON escapes) made likely.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>().prop_filter("not U+FFFE/U+FFFF", |c| !matches!(c, '\u{FFFE}' | '\u{FFFF}')),
        1 => prop::sample::select(vec!['"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1f}', '/', 'é', '😀']),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any_char(), 0..max).prop_map(|chars| chars.into_iter().collect())
}

fn json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        text(12).prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(text(6), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn params() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(text(6), json(3), 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn request_id() -> impl Strategy<Value = RequestId> {
    prop_oneof![any::<i64>().prop_map(RequestId::Number), text(10).prop_map(RequestId::String)]
}

fn message() -> impl Strategy<Value = JsonRpcMessage> {
    prop_oneof![
        (request_id(), text(16), prop::option::of(params()))
            .prop_map(|(id, method, p)| JsonRpcMessage::request(id, &method, p)),
        (text(16), prop::option::of(params())).prop_map(|(method, p)| JsonRpcMessage::notification(&method, p)),
        (request_id(), json(3)).prop_map(|(id, result)| JsonRpcMessage::response(id, result)),
        (request_id(), any::<i64>(), text(16), prop::option::of(json(2)))
            .prop_map(|(id, code, msg, data)| JsonRpcMessage::error(id, code, &msg, data)),
    ]
}

fn custom() -> impl Strategy<Value = Attributes> {
    let name = "[A-Z][A-Za-z0-9_.-]{0,12}"
        .prop_filter("not one of ours", |n| !names::OWN.contains(&n.as_str()) && n != names::PROTOCOL_VERSION);
    let value = (prop::sample::select(vec!["String", "Number", "String.custom"]), text(12))
        .prop_map(|(data_type, value)| AttributeValue { data_type: data_type.to_owned(), value });
    prop::collection::btree_map(name, value, 0..3)
}

fn meta() -> impl Strategy<Value = WireMeta> {
    (
        prop::option::of(any::<u64>()),
        prop::option::of(text(10)),
        prop::option::of(text(10)),
        prop::option::of("[0-9a-f]{32}".prop_map(|s| SessionId::parse(&s).unwrap())),
        prop::option::of(text(10)),
        prop::option::of(
            prop_oneof!["arn:aws:sns:[a-z0-9-]{1,12}:[0-9]{12}:[a-z.]{1,20}", "https?://[a-z0-9./:-]{1,40}"]
                .prop_map(|s| Address::parse(&s)),
        ),
        (
            prop::option::of(any::<u64>()),
            any::<bool>(),
            prop::option::of(1_024usize..=1_048_576),
            prop::option::of(any::<usize>()),
        )
            .prop_map(|(seq, takes_fragments, max_message_bytes, reassembles)| Ext {
                seq,
                fragment: None,
                takes_fragments,
                max_message_bytes,
                reassembles,
            }),
        custom(),
    )
        .prop_map(|(timestamp, request_id, method, session_id, client_id, reply_to, ext, custom)| WireMeta {
            timestamp,
            request_id,
            method,
            session_id,
            client_id,
            protocol_version: None,
            reply_to,
            ext,
            custom,
        })
}

fn as_sqs(part: &Encoded) -> InboundMessage {
    let mut msg = InboundMessage::new("sqs-id", "receipt", part.body.clone());
    msg.attributes = part.attributes.clone();
    msg
}

/// What an SQS queue receives from an SNS subscription without raw delivery.
fn as_sns_envelope(part: &Encoded, pretty: bool) -> InboundMessage {
    let attributes: serde_json::Map<String, Value> = part
        .attributes
        .iter()
        .map(|(name, a)| (name.clone(), serde_json::json!({"Type": a.data_type, "Value": a.value})))
        .collect();
    let envelope = serde_json::json!({
        "Type": "Notification",
        "MessageId": "69bf3d19-d8ad-49fd-a7f7-3e6f4a6f1648",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "Message": std::str::from_utf8(&part.body).unwrap(),
        "Timestamp": "2026-11-26T16:12:45.775Z",
        "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl",
        "MessageAttributes": attributes,
    });
    let body = if pretty { serde_json::to_string_pretty(&envelope) } else { serde_json::to_string(&envelope) };
    InboundMessage::new("sqs-id", "receipt", body.unwrap())
}

fn whole(decoded: &Decoded) -> &JsonRpcMessage {
    match &decoded.payload {
        Payload::Message(m) => m,
        other => panic!("expected a whole message, got {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decode_inverts_encode(msg in message(), meta in meta(), pretty in any::<bool>()) {
        let parts = encode(&msg, &meta, &SizeLimits::default(), None).unwrap();
        prop_assert_eq!(parts.len(), 1);
        let raw = decode(&as_sqs(&parts[0])).unwrap();
        prop_assert_eq!(whole(&raw), &msg);
        prop_assert_eq!(&raw.meta, &meta);
        prop_assert!(raw.sns.is_none());

        let enveloped = decode(&as_sns_envelope(&parts[0], pretty)).unwrap();
        prop_assert_eq!(whole(&enveloped).as_str(), msg.as_str());
        prop_assert_eq!(&enveloped.meta, &meta);
        prop_assert_eq!(enveloped.sns.map(|s| s.topic_arn), Some("arn:aws:sns:us-east-1:123456789012:t".to_owned()));
    }

    #[test]
    fn fragments_reassemble(
        body in text(3_000),
        meta in meta(),
        extra in 0usize..4_000,
        envelope in any::<bool>(),
        pretty in any::<bool>(),
    ) {
        let msg = JsonRpcMessage::notification("notifications/message", Some(serde_json::json!({"data": body})));
        // The widest fragment header plus the widest escaped character always fits.
        let widest = Ext { fragment: Some(FragmentHeader { group: "grp".into(), index: 99_999, count: 99_999 }), ..meta.ext.clone() };
        let mut attrs = encode_attributes(&meta);
        attrs.insert(names::EXT.to_owned(), AttributeValue::string(widest.to_attribute().unwrap()));
        let max_bytes = encoded_size(b"", &attrs, envelope) + 6 + extra;
        let limits = SizeLimits { max_bytes, envelope };
        let parts = encode(&msg, &meta, &limits, Some("grp")).unwrap();
        let mut joined = Vec::new();
        for (index, part) in parts.iter().enumerate() {
            prop_assert!(encoded_size(&part.body, &part.attributes, envelope) <= max_bytes);
            prop_assert!(std::str::from_utf8(&part.body).is_ok());
            let inbound = if envelope { as_sns_envelope(part, pretty) } else { as_sqs(part) };
            let decoded = decode(&inbound).unwrap();
            if parts.len() == 1 {
                prop_assert_eq!(whole(&decoded), &msg);
                joined.extend_from_slice(&part.body);
                continue;
            }
            match decoded.payload {
                Payload::Fragment { header, data } => {
                    prop_assert_eq!(header, FragmentHeader { group: "grp".into(), index: index as u32, count: parts.len() as u32 });
                    joined.extend_from_slice(&data);
                }
                other => prop_assert!(false, "expected a fragment, got {:?}", other),
            }
            let mut expected_meta = meta.clone();
            expected_meta.ext.fragment = decoded.meta.ext.fragment.clone();
            prop_assert_eq!(&decoded.meta, &expected_meta);
        }
        prop_assert_eq!(joined.as_slice(), msg.body().as_ref());
    }

    #[test]
    fn fragments_within_any_budget_or_too_large(body in text(500), max_bytes in 0usize..2_000, envelope in any::<bool>()) {
        let msg = JsonRpcMessage::notification("n", Some(serde_json::json!({"data": body})));
        match encode(&msg, &WireMeta::default(), &SizeLimits { max_bytes, envelope }, Some("g")) {
            Ok(parts) => {
                let joined: Vec<u8> = parts.iter().flat_map(|p| p.body.iter().copied()).collect();
                prop_assert_eq!(joined.as_slice(), msg.body().as_ref());
                for part in &parts {
                    prop_assert!(encoded_size(&part.body, &part.attributes, envelope) <= max_bytes);
                }
            }
            Err(asyncmcp_proto::ApiError::Unsendable(asyncmcp_proto::Unsendable::TooLarge { limit, .. })) => prop_assert_eq!(limit, max_bytes),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn decode_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&InboundMessage::new("m", "r", body));
    }

    #[test]
    fn decode_never_panics_on_json_like_text(
        body in "[{}\\[\\]\":,a-zA-Z0-9 \\\\]{0,80}",
        ext in "[a-z=;/0-9,]{0,30}",
        ts in "[0-9.e-]{0,12}",
    ) {
        let mut msg = InboundMessage::new("m", "r", body);
        msg.attributes.insert(names::EXT.into(), AttributeValue::string(ext));
        msg.attributes.insert(names::TIMESTAMP.into(), AttributeValue::number(ts));
        let _ = decode(&msg);
    }

    /// Whatever the codec accepts parses again with serde_json (so `to_value` is never
    /// `null`), however deep, escaped or numbered the peer made it; and whatever
    /// serde_json refuses, the codec refused.
    #[test]
    fn accepted_bodies_parse_again(
        opens in prop::collection::vec(any::<bool>(), 0..140),
        leaf in prop::sample::select(vec![
            r#""ok""#, r#""\ud800""#, r#""\udfff""#, r#""\ud800\u0041""#, r#""\ud83d\ude00""#, r#""\u0000""#,
            "1", "-0", "1e400", "-1e309", "1e308", "18446744073709551616", "123456789012345678901234567890", "0.1",
            "null", "true", "[]", "{}",
        ]),
        key in prop::sample::select(vec![r#""k""#, r#""\udbff""#, r#""\ud800\udc00""#]),
        kind in 0u8..3,
    ) {
        // `opens`: an array (true) or an object (false) per level around the leaf.
        let mut value = leaf.to_owned();
        for array in opens.iter().rev() {
            value = if *array { format!("[{value}]") } else { format!("{{{key}:{value}}}") };
        }
        let body = match kind {
            0 => format!(r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":[{value}]}}"#),
            1 => format!(r#"{{"jsonrpc":"2.0","id":1,"result":{value}}}"#),
            _ => format!(r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":-1,"message":"m","data":{value}}}}}"#),
        };
        let base = if kind == 1 { 1 } else { 2 };
        let depth = base + opens.len() + usize::from(leaf == "[]" || leaf == "{}");
        let within = depth <= asyncmcp_proto::codec::MAX_NESTING_DEPTH;
        let reparsed = serde_json::from_str::<Value>(&body);
        match decode(&InboundMessage::new("m", "r", body.clone())) {
            Ok(decoded) => {
                let m = whole(&decoded);
                let value = m.to_value();
                prop_assert!(reparsed.is_ok(), "accepted, but serde_json refuses it: {body}");
                prop_assert_eq!(Some(&value), reparsed.as_ref().ok());
                prop_assert!(!value.is_null());
                prop_assert!(within, "accepted {depth} levels: {body}");
            }
            Err(_) => prop_assert!(
                reparsed.is_err() || !within,
                "refused a body within the limits that serde_json parses: {body}"
            ),
        }
    }
}
