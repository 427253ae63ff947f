//! Inbound: what `ReceiveMessage` returned, as a [`Decoded`] message.

use bytes::Bytes;

use super::ext::Ext;
use super::sns;
use super::xml::check_xml_chars;
use super::{Decoded, Payload, WireMeta};
use crate::address::Address;
use crate::attributes::{AttributeValue, MESSAGE_TYPE_JSONRPC, names};
use crate::jsonrpc::JsonRpcMessage;
use crate::peer_text::clip_debug;
use crate::session_id::SessionId;
use crate::{DecodeError, InboundMessage, RequestId};

/// Decodes one received message: a raw JSON-RPC body with SQS attributes, or an SNS
/// envelope (non-raw delivery) whose attributes are overlaid by the SQS-level ones.
///
/// A raw body is kept as a cheap clone of `msg.body` (no copy); an envelope's
/// unescaped `Message` is a new allocation. When the `AsyncMcpExt` attribute holds a
/// fragment header, the payload is that fragment's bytes, not parsed as JSON.
///
/// # Errors
/// - [`DecodeError::NotUtf8`], [`DecodeError::InvalidXmlChar`]: the body (or the
///   envelope's `Message`) is not UTF-8 text SQS allows.
/// - [`DecodeError::BadEnvelope`]: an SNS envelope of another `Type` than
///   `Notification` (such as `SubscriptionConfirmation`), or of the wrong shape.
/// - [`DecodeError::BadAttribute`]: `MessageType` is not `jsonrpc`, or `Timestamp`,
///   `SessionId`, `ReplyTo` or `AsyncMcpExt` is malformed.
/// - [`DecodeError::Offloaded`]: the message points at a payload in S3 that the
///   queue client did not fetch (see [`offload`](crate::offload)).
/// - Any error of [`JsonRpcMessage::parse`] for a whole message.
pub fn decode(msg: &InboundMessage) -> Result<Decoded, DecodeError> {
    if let Some((pointer, reason)) = crate::offload::refusal(msg) {
        return Err(DecodeError::Offloaded { pointer, reason });
    }
    let text = std::str::from_utf8(&msg.body).map_err(|e| DecodeError::NotUtf8 { valid_up_to: e.valid_up_to() })?;
    check_xml_chars(text).map_err(|code_point| DecodeError::InvalidXmlChar { code_point })?;
    let (inner, meta, sns) = match sns::unwrap(text)? {
        None => {
            let meta = read_meta(msg.attributes.iter())?;
            if meta.ext.fragment.is_none() {
                // UTF-8 and not an SNS envelope look-alike, both checked above: parse
                // without scanning the body for them again.
                let checked = JsonRpcMessage::check(text, false)?;
                let message = JsonRpcMessage::from_checked(msg.body.clone(), checked);
                return Ok(Decoded { payload: Payload::Message(message), meta, sns: None });
            }
            (msg.body.clone(), meta, None)
        }
        Some(envelope) => {
            // `\u0000` escapes inside `Message` decode to characters SQS would refuse.
            check_xml_chars(&envelope.message).map_err(|code_point| DecodeError::InvalidXmlChar { code_point })?;
            let mut attributes = envelope.attributes;
            attributes.extend(msg.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
            let meta = read_meta(attributes.iter())?;
            if meta.ext.fragment.is_none() {
                // `Message` is a `String`: UTF-8 already.
                let checked = JsonRpcMessage::check(&envelope.message, true)?;
                let message = JsonRpcMessage::from_checked(Bytes::from(envelope.message), checked);
                return Ok(Decoded { payload: Payload::Message(message), meta, sns: Some(envelope.notification) });
            }
            (Bytes::from(envelope.message), meta, Some(envelope.notification))
        }
    };
    let payload = match &meta.ext.fragment {
        Some(header) => Payload::Fragment { header: header.clone(), data: inner },
        None => Payload::Message(JsonRpcMessage::parse(inner)?),
    };
    Ok(Decoded { payload, meta, sns })
}

/// What can still be read of a message [`decode`] refused: its JSON-RPC request id
/// and routing facts, so that the request can be answered with an error instead of
/// leaving its sender to time out.
///
/// Some when the attributes decode, the body (or an SNS envelope's `Message`) is
/// JSON text of an object whose `method` is a string and whose `id` is an integer or
/// a string, and the body is not a fragment.
pub(crate) fn recover_request(msg: &InboundMessage) -> Option<(RequestId, WireMeta)> {
    let text = std::str::from_utf8(&msg.body).ok()?;
    let (body, meta) = match sns::unwrap(text) {
        Ok(None) | Err(DecodeError::Ambiguous) => (text.to_owned(), read_meta(msg.attributes.iter()).ok()?),
        Ok(Some(envelope)) => {
            let mut attributes = envelope.attributes;
            attributes.extend(msg.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
            (envelope.message, read_meta(attributes.iter()).ok()?)
        }
        Err(_) => return None,
    };
    if meta.ext.fragment.is_some() {
        return None;
    }
    Some((request_id_of(body.as_bytes())?, meta))
}

/// The `ClientId` and `SessionId` a message carries, read without decoding its body:
/// SQS-level attributes first (they win on a conflict, as in [`decode`]), then, when
/// one is missing and the body is an SNS envelope, the envelope's. What a shared reply
/// queue routes by ([`ClientHost`](crate::ClientHost)); either is `None` when absent
/// or unreadable, and nothing here rejects a message.
pub(crate) fn routing_keys(msg: &InboundMessage) -> (Option<String>, Option<String>) {
    let read = |attributes: &crate::attributes::Attributes, name: &str| attributes.get(name).map(|a| a.value.clone());
    let mut client = read(&msg.attributes, names::CLIENT_ID);
    let mut session = read(&msg.attributes, names::SESSION_ID);
    if (client.is_none() || session.is_none())
        && let Ok(text) = std::str::from_utf8(&msg.body)
        && let Ok(Some(envelope)) = sns::unwrap(text)
    {
        client = client.or_else(|| read(&envelope.attributes, names::CLIENT_ID));
        session = session.or_else(|| read(&envelope.attributes, names::SESSION_ID));
    }
    (client, session)
}

/// The id of what looks like a request (an object with a string `method` and an
/// integer or string `id`), however malformed the rest of it.
pub(crate) fn request_id_of(body: &[u8]) -> Option<RequestId> {
    #[derive(serde::Deserialize)]
    struct Lite<'a> {
        #[serde(borrow)]
        id: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow)]
        method: Option<&'a serde_json::value::RawValue>,
    }
    let lite: Lite<'_> = serde_json::from_slice(body).ok()?;
    if !lite.method?.get().starts_with('"') {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(lite.id?.get()).ok()? {
        serde_json::Value::Number(n) => n.as_i64().map(RequestId::Number),
        serde_json::Value::String(s) => Some(RequestId::String(s)),
        _ => None,
    }
}

/// Fills [`WireMeta`] from attributes (names are case-sensitive).
fn read_meta<'a>(attributes: impl Iterator<Item = (&'a String, &'a AttributeValue)>) -> Result<WireMeta, DecodeError> {
    let mut meta = WireMeta::default();
    for (name, attr) in attributes {
        let value = attr.value.as_str();
        match name.as_str() {
            names::MESSAGE_TYPE => {
                if value != MESSAGE_TYPE_JSONRPC {
                    return Err(bad(name, format!("{}, expected \"{MESSAGE_TYPE_JSONRPC}\"", clip_debug(&value))));
                }
            }
            names::TIMESTAMP => {
                meta.timestamp = Some(parse_timestamp(value).ok_or_else(|| {
                    bad(name, format!("{} is not a non-negative number of seconds", clip_debug(&value)))
                })?)
            }
            names::REQUEST_ID => meta.request_id = Some(value.to_owned()),
            names::METHOD => meta.method = Some(value.to_owned()),
            names::CLIENT_ID => meta.client_id = Some(value.to_owned()),
            names::PROTOCOL_VERSION => meta.protocol_version = Some(value.to_owned()),
            names::SESSION_ID => meta.session_id = Some(SessionId::parse(value)?),
            names::REPLY_TO => {
                if value.is_empty() {
                    return Err(bad(name, "is empty; expected a queue URL or topic ARN".to_owned()));
                }
                meta.reply_to = Some(Address::parse(value));
            }
            names::EXT => meta.ext = Ext::parse(value)?,
            _ => {
                meta.custom.insert(name.clone(), attr.clone());
            }
        }
    }
    Ok(meta)
}

/// Whole seconds from `123` or `123.456` (Python peers may send either).
fn parse_timestamp(text: &str) -> Option<u64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return None;
    }
    whole.parse().ok()
}

fn bad(name: &str, detail: String) -> DecodeError {
    DecodeError::BadAttribute { name: name.to_owned(), detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageKind;
    use crate::codec::FragmentHeader;

    const SESSION: &str = "6063cd47514e409da7b4f61be62c3464";
    const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

    fn inbound(body: impl Into<Bytes>, attrs: &[(&str, AttributeValue)]) -> InboundMessage {
        let mut msg = InboundMessage::new("id-1", "rh-1", body);
        msg.attributes = attrs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        msg
    }

    fn envelope(message: &str, attrs: serde_json::Value, pretty: bool) -> String {
        let value = serde_json::json!({
            "Type": "Notification",
            "MessageId": "sns-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": message,
            "MessageAttributes": attrs,
        });
        if pretty { serde_json::to_string_pretty(&value).unwrap() } else { value.to_string() }
    }

    fn message(decoded: &Decoded) -> &JsonRpcMessage {
        match &decoded.payload {
            Payload::Message(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decodes_raw_body_with_attributes() {
        let msg = inbound(
            PING,
            &[
                ("MessageType", AttributeValue::string("jsonrpc")),
                ("Timestamp", AttributeValue::number(1_795_709_489u64)),
                ("RequestId", AttributeValue::string("1")),
                ("Method", AttributeValue::string("ping")),
                ("SessionId", AttributeValue::string(SESSION)),
                ("ClientId", AttributeValue::string("c")),
                ("ProtocolVersion", AttributeValue::string("2025-11-25")),
                ("ReplyTo", AttributeValue::string("arn:aws:sns:us-east-1:1:t")),
                ("AsyncMcpExt", AttributeValue::string("seq=4;caps=frag")),
                ("Custom", AttributeValue { data_type: "String.x".into(), value: "v".into() }),
                ("clientid", AttributeValue::string("case matters")),
            ],
        );
        let decoded = decode(&msg).unwrap();
        let m = message(&decoded);
        assert_eq!((m.kind(), m.id(), m.method()), (MessageKind::Request, Some(&RequestId::Number(1)), Some("ping")));
        // No copy for a raw body.
        assert_eq!(m.body().as_ptr(), msg.body.as_ptr());
        let meta = &decoded.meta;
        assert_eq!(meta.timestamp, Some(1_795_709_489));
        assert_eq!(meta.request_id.as_deref(), Some("1"));
        assert_eq!(meta.method.as_deref(), Some("ping"));
        assert_eq!(meta.session_id.as_ref().map(SessionId::as_str), Some(SESSION));
        assert_eq!(meta.client_id.as_deref(), Some("c"));
        assert_eq!(meta.protocol_version.as_deref(), Some("2025-11-25"));
        assert_eq!(meta.reply_to, Some(Address::Topic("arn:aws:sns:us-east-1:1:t".into())));
        assert_eq!(
            meta.ext,
            Ext { seq: Some(4), fragment: None, takes_fragments: true, max_message_bytes: None, reassembles: None }
        );
        assert_eq!(meta.custom.len(), 2);
        assert!(decoded.sns.is_none());
    }

    #[test]
    fn decimal_timestamps_keep_whole_seconds() {
        for (text, expected) in [("1795709489.75", Some(1_795_709_489)), ("0", Some(0)), ("12.0", Some(12))] {
            assert_eq!(parse_timestamp(text), expected);
        }
        for text in ["", "-1", "1e9", "1.", ".5", "abc", " 1", "18446744073709551616"] {
            let msg = inbound(PING, &[("Timestamp", AttributeValue::number(text))]);
            match decode(&msg) {
                Err(DecodeError::BadAttribute { name, .. }) => assert_eq!(name, "Timestamp", "{text}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_bad_attribute_is_named() {
        let cases = [
            ("MessageType", "xml"),
            ("SessionId", "ABC"),
            ("ReplyTo", ""),
            ("AsyncMcpExt", "seq=x"),
            ("Timestamp", "soon"),
        ];
        for (name, value) in cases {
            let msg = inbound(PING, &[(name, AttributeValue::string(value))]);
            match decode(&msg) {
                Err(DecodeError::BadAttribute { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn body_errors() {
        assert_eq!(decode(&inbound(&b"{\"a\":\xff}"[..], &[])), Err(DecodeError::NotUtf8 { valid_up_to: 5 }));
        assert_eq!(decode(&inbound("{\"a\":\"\u{1}\"}", &[])), Err(DecodeError::InvalidXmlChar { code_point: 1 }));
        assert!(matches!(decode(&inbound("{not json", &[])), Err(DecodeError::Json { .. })));
        assert!(matches!(decode(&inbound("", &[])), Err(DecodeError::Json { .. })));
        assert_eq!(decode(&inbound("[]", &[])), Err(DecodeError::Batch));
        assert_eq!(decode(&inbound("42", &[])), Err(DecodeError::NotAnObject));
        assert!(matches!(decode(&inbound("{\"id\":1}", &[])), Err(DecodeError::NotJsonRpc { .. })));
        assert!(matches!(
            decode(&inbound("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"x\"}", &[])),
            Err(DecodeError::BadId { .. })
        ));
    }

    #[test]
    fn envelope_pretty_and_compact() {
        let attrs = serde_json::json!({
            "MessageType": {"Type": "String", "Value": "jsonrpc"},
            "SessionId": {"Type": "String", "Value": SESSION},
            "Timestamp": {"Type": "Number", "Value": "5"},
        });
        for pretty in [false, true] {
            let decoded = decode(&inbound(envelope(PING, attrs.clone(), pretty), &[])).unwrap();
            assert_eq!(message(&decoded).as_str(), PING);
            assert_eq!(decoded.meta.timestamp, Some(5));
            assert_eq!(decoded.meta.session_id.as_ref().map(SessionId::as_str), Some(SESSION));
            let sns = decoded.sns.unwrap();
            assert_eq!(
                (sns.message_id.as_str(), sns.topic_arn.as_str()),
                ("sns-1", "arn:aws:sns:us-east-1:123456789012:t")
            );
        }
    }

    #[test]
    fn sqs_attributes_win_over_envelope_attributes() {
        let attrs = serde_json::json!({
            "ClientId": {"Type": "String", "Value": "from-envelope"},
            "Method": {"Type": "String", "Value": "ping"},
        });
        let msg = inbound(envelope(PING, attrs, false), &[("ClientId", AttributeValue::string("from-sqs"))]);
        let decoded = decode(&msg).unwrap();
        assert_eq!(decoded.meta.client_id.as_deref(), Some("from-sqs"));
        assert_eq!(decoded.meta.method.as_deref(), Some("ping"));
    }

    #[test]
    fn envelope_errors() {
        let confirm = serde_json::json!({"Type": "SubscriptionConfirmation", "Message": "confirm", "MessageId": "m", "TopicArn": "t"});
        match decode(&inbound(confirm.to_string(), &[])) {
            Err(DecodeError::BadEnvelope { detail }) => assert!(detail.contains("SubscriptionConfirmation")),
            other => panic!("{other:?}"),
        }
        let bad_attrs = envelope(PING, serde_json::json!({"A": 1}), false);
        assert!(matches!(decode(&inbound(bad_attrs, &[])), Err(DecodeError::BadEnvelope { .. })));
        let escaped_nul = envelope("{\"jsonrpc\":\"2.0\",\"method\":\"\u{0}\"}", serde_json::json!({}), false);
        assert_eq!(decode(&inbound(escaped_nul, &[])), Err(DecodeError::InvalidXmlChar { code_point: 0 }));
        let inner_garbage = envelope("{nope", serde_json::json!({}), false);
        assert!(matches!(decode(&inbound(inner_garbage, &[])), Err(DecodeError::Json { .. })));
    }

    #[test]
    fn json_rpc_with_envelope_members_is_ambiguous() {
        // Caught by the `roundtrip` fuzz body's property on a hand-written input: this
        // once decoded as the inner message (id 2), so a re-encoded message decoded as
        // another one; then as the outer one (id 1), which an SNS consumer would not
        // agree with. Neither reading is safe.
        let inner = r#"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"x\"}"#;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","Type":"Notification","Message":"{inner}","MessageId":"m","TopicArn":"t"}}"#
        );
        assert_eq!(decode(&inbound(body.clone(), &[])), Err(DecodeError::Ambiguous));
        // Found by the fuzz corpus replay: the same inside an envelope decoded, and once
        // re-encoded as a raw body did not.
        assert_eq!(decode(&inbound(envelope(&body, serde_json::json!({}), false), &[])), Err(DecodeError::Ambiguous));
    }

    #[test]
    fn peer_text_in_attribute_errors_is_clipped() {
        let huge = "x".repeat(10_000);
        for name in ["SessionId", "Timestamp", "MessageType", "AsyncMcpExt"] {
            let value = if name == "AsyncMcpExt" { format!("seq={huge}") } else { huge.clone() };
            let err = decode(&inbound(PING, &[(name, AttributeValue::string(value))])).unwrap_err();
            let text = err.to_string();
            assert!(text.len() < 400, "{name}: {} bytes", text.len());
            assert!(text.contains("…(10002 bytes)") || text.contains("…(10006 bytes)"), "{text}");
        }
    }

    #[test]
    fn fragments_are_not_parsed() {
        let msg = inbound("{\"jsonrpc\":\"2.0\",\"me", &[("AsyncMcpExt", AttributeValue::string("frag=g1/0/2"))]);
        let decoded = decode(&msg).unwrap();
        let header = FragmentHeader { group: "g1".into(), index: 0, count: 2 };
        assert_eq!(decoded.payload, Payload::Fragment { header, data: msg.body.clone() });
        let in_envelope = envelope(
            "thod\":\"x\"}",
            serde_json::json!({"AsyncMcpExt": {"Type": "String", "Value": "frag=g1/1/2"}}),
            true,
        );
        let decoded = decode(&inbound(in_envelope, &[])).unwrap();
        assert!(matches!(decoded.payload, Payload::Fragment { ref data, .. } if data.as_ref() == b"thod\":\"x\"}"));
        assert!(decoded.sns.is_some());
    }
}
