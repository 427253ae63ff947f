//! Fuzz bodies of the codec: `decode` on arbitrary SQS input, on SNS-envelope-shaped
//! JSON, and the decode-encode-decode round trip.

use arbitrary::Unstructured;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::input::{KNOWN_NAMES, byte, read_inbound, read_text};
use crate::InboundMessage;
use crate::attributes::names;
use crate::codec::{Decoded, MAX_FRAGMENTS, Payload, SizeLimits, decode, encode, encode_attributes};

/// Decodes an arbitrary inbound message (format: [`input`](super::input)).
///
/// # Panics
/// When `decode` panics, is not deterministic, copies a raw body it should pass
/// through, or returns a fragment header outside its documented bounds.
pub fn decode_inbound(data: &[u8]) {
    let msg = read_inbound(&mut Unstructured::new(data));
    let first = decode(&msg);
    assert_eq!(first, decode(&msg), "decode is not deterministic");
    if let Ok(decoded) = &first {
        check_decoded(&msg, decoded);
    }
    check_offload(msg);
}

/// The S3 offload functions on peer input: the pointer parser, the receipt-handle
/// split, and a message marked as offloaded, resolved or not, never panic, and the
/// core refuses an unresolved one with [`DecodeError::Offloaded`](crate::DecodeError::Offloaded).
fn check_offload(mut msg: InboundMessage) {
    use crate::attributes::AttributeValue;
    use crate::offload::{self, FetchFailure, S3Pointer};
    let _ = S3Pointer::parse(&msg.body);
    let (_, original) = S3Pointer::split_receipt_handle(&msg.receipt_handle);
    assert!(msg.receipt_handle.ends_with(original), "the split handle is not a suffix");
    msg.attributes.insert(offload::SIZE_ATTRIBUTE.into(), AttributeValue::number(msg.body.len()));
    let found = offload::find_pointer(&msg);
    assert!(found.is_some(), "a message with the size attribute is an offloaded one");
    assert!(matches!(decode(&msg), Err(crate::DecodeError::Offloaded { .. })), "an unresolved pointer decoded");
    let pointer = found.and_then(|f| f.pointer);
    let failed = offload::unresolved(msg.clone(), pointer.clone(), FetchFailure::NotFound { detail: String::new() });
    assert!(matches!(decode(&failed), Err(crate::DecodeError::Offloaded { .. })));
    let payload = msg.body.clone();
    if let Some(pointer) = pointer {
        let resolved = offload::resolved(msg, pointer.clone(), payload);
        assert!(S3Pointer::split_receipt_handle(&resolved.receipt_handle).0.is_some(), "the pointer is in the handle");
        let _ = decode(&resolved);
    }
}

/// Decodes SNS-envelope-shaped JSON: a mutated real envelope or one built from
/// choices, with nested `Message`s, attribute maps and values of the wrong types.
///
/// Input: a mode byte. Even: a target byte and a shape byte, then an inbound input
/// whose body is mutated (the target key set to a value of the chosen shape; 0 leaves
/// the body alone). Odd: one byte per envelope key choosing its value, attribute
/// choices, a layout byte, then an inbound input whose body becomes the `Message`.
///
/// # Panics
/// When `decode` panics, or accepts an envelope but returns another text than its
/// `Message`, or lets an envelope attribute override an SQS-level one.
pub fn sns_envelope(data: &[u8]) {
    let mut u = Unstructured::new(data);
    if byte(&mut u).is_multiple_of(2) {
        let (target, shape) = (byte(&mut u), byte(&mut u));
        let msg = read_inbound(&mut u);
        check_envelope(&msg);
        if let Ok(Value::Object(mut envelope)) = serde_json::from_slice::<Value>(&msg.body)
            && mutate(&mut envelope, target, shape)
        {
            let mut mutated = msg.clone();
            mutated.body = serialize(&Value::Object(envelope), shape >> 6);
            check_envelope(&mutated);
        }
    } else {
        let envelope = build_envelope(&mut u);
        let layout = byte(&mut u);
        let mut msg = read_inbound(&mut u);
        let mut envelope = envelope;
        if let Some(Value::String(text)) = envelope.get_mut("Message")
            && text.is_empty()
        {
            *text = String::from_utf8_lossy(&msg.body).into_owned();
        }
        msg.body = serialize(&Value::Object(envelope), layout);
        check_envelope(&msg);
    }
}

/// Decodes an inbound message (format: [`input`](super::input)); when that works,
/// encodes what came out and decodes the result again.
///
/// # Panics
/// When the second decode fails or differs from the first in its payload or routing
/// facts (apart from `ProtocolVersion`, which asyncmcp never writes, and the SNS
/// facts, since the re-encoded message is a raw body).
pub fn roundtrip(data: &[u8]) {
    let msg = read_inbound(&mut Unstructured::new(data));
    let Ok(first) = decode(&msg) else { return };
    let (body, attributes) = match &first.payload {
        Payload::Message(message) => {
            let limits = SizeLimits { max_bytes: usize::MAX, envelope: false };
            let encoded = match encode(message, &first.meta, &limits, None) {
                Ok(encoded) => encoded,
                Err(e) => panic!("a decoded message does not encode: {e}\n{first:?}"),
            };
            assert_eq!(encoded.len(), 1, "an unlimited encode split the message");
            let Some(one) = encoded.into_iter().next() else { return };
            (one.body, one.attributes)
        }
        Payload::Fragment { data, .. } => (data.clone(), encode_attributes(&first.meta)),
        #[allow(unreachable_patterns)] // `Payload` is non_exhaustive
        _ => return,
    };
    let mut again = InboundMessage::new("fuzz-message-2", "fuzz-receipt-2", body);
    again.attributes = attributes;
    let second = match decode(&again) {
        Ok(second) => second,
        Err(e) => panic!("re-encoded message does not decode: {e}\nfirst: {first:?}\nencoded: {again:?}"),
    };
    let mut expected_meta = first.meta.clone();
    expected_meta.protocol_version = None;
    assert_eq!(first.payload, second.payload, "payload changed in the round trip\nencoded: {again:?}");
    assert_eq!(expected_meta, second.meta, "routing facts changed in the round trip\nencoded: {again:?}");
}

/// Invariants of any successful decode of `msg`.
fn check_decoded(msg: &InboundMessage, decoded: &Decoded) {
    match &decoded.payload {
        Payload::Fragment { header, data } => {
            assert!(
                header.count >= 1 && header.count <= MAX_FRAGMENTS && header.index < header.count,
                "fragment header out of bounds: {header:?}"
            );
            if decoded.sns.is_none() {
                assert_eq!(data, &msg.body, "a raw fragment is not the body");
            }
        }
        Payload::Message(message) if decoded.sns.is_none() => {
            assert_eq!(message.body(), &msg.body, "a raw message is not the body");
        }
        #[allow(unreachable_patterns)] // `Payload` is non_exhaustive
        _ => {}
    }
}

/// Decodes `msg`; when it was taken for an envelope, checks that the payload is
/// exactly its `Message` and that SQS-level attributes won.
fn check_envelope(msg: &InboundMessage) {
    let Ok(decoded) = decode(msg) else { return };
    check_decoded(msg, &decoded);
    let Some(sns) = &decoded.sns else { return };
    let envelope: Value = match serde_json::from_slice(&msg.body) {
        Ok(v) => v,
        Err(e) => panic!("decoded as an SNS envelope, but the body is not JSON: {e}"),
    };
    let message = envelope.get("Message").and_then(Value::as_str);
    let text: &[u8] = match &decoded.payload {
        Payload::Message(m) => m.body(),
        Payload::Fragment { data, .. } => data,
        #[allow(unreachable_patterns)] // `Payload` is non_exhaustive
        _ => return,
    };
    assert_eq!(message.map(str::as_bytes), Some(text), "payload is not the envelope's Message");
    assert_eq!(envelope.get("MessageId").and_then(Value::as_str), Some(sns.message_id.as_str()), "MessageId");
    assert_eq!(envelope.get("TopicArn").and_then(Value::as_str), Some(sns.topic_arn.as_str()), "TopicArn");
    if let Some(client) = msg.attributes.get(names::CLIENT_ID) {
        assert_eq!(decoded.meta.client_id.as_deref(), Some(client.value.as_str()), "SQS-level ClientId lost");
    }
    if let Some(method) = msg.attributes.get(names::METHOD) {
        assert_eq!(decoded.meta.method.as_deref(), Some(method.value.as_str()), "SQS-level Method lost");
    }
}

/// The envelope keys the fuzz bodies set, mutate or leave out.
const ENVELOPE_KEYS: [&str; 8] = [
    "Type",
    "Message",
    "MessageId",
    "TopicArn",
    "Timestamp",
    "MessageAttributes",
    "SignatureVersion",
    "UnsubscribeURL",
];

/// Sets the key `target` picks to a value of `shape`; false when there is nothing to do.
fn mutate(envelope: &mut Map<String, Value>, target: u8, shape: u8) -> bool {
    let nested = envelope
        .get("Message")
        .and_then(Value::as_str)
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .unwrap_or_else(|| json!({}));
    let value = match shape % 9 {
        0 => None,
        1 => Some(Value::Null),
        2 => Some(json!(1)),
        3 => Some(json!(true)),
        4 => Some(json!(["Notification"])),
        5 => Some(json!({})),
        6 => Some(json!("")),
        7 => Some(json!("Notification")),
        _ => Some(nested),
    };
    let slot = match target % 9 {
        0 => return false,
        t @ 1..=6 => ENVELOPE_KEYS.get(usize::from(t - 1)).map(|k| (envelope, *k)),
        t => envelope
            .get_mut("MessageAttributes")
            .and_then(Value::as_object_mut)
            .and_then(|attrs| attrs.values_mut().next())
            .and_then(Value::as_object_mut)
            .map(|attr| (attr, if t == 7 { "Type" } else { "Value" })),
    };
    let Some((map, key)) = slot else { return false };
    match value {
        Some(v) => map.insert(key.to_owned(), v),
        None => map.remove(key),
    };
    true
}

/// An envelope built from choices, one per key of [`ENVELOPE_KEYS`]. An empty string
/// `Message` is filled in by the caller.
fn build_envelope(u: &mut Unstructured<'_>) -> Map<String, Value> {
    let mut envelope = Map::new();
    for key in ENVELOPE_KEYS {
        let value = match byte(u) % 8 {
            0 => continue,
            1 => good_value(key, u),
            2 => Value::String(read_text(u)),
            3 => json!(byte(u)),
            4 => Value::Null,
            5 => json!(byte(u).is_multiple_of(2)),
            6 => json!([read_text(u)]),
            _ => json!({ "Type": "Notification", "Message": read_text(u) }),
        };
        envelope.insert(key.to_owned(), value);
    }
    envelope
}

fn good_value(key: &str, u: &mut Unstructured<'_>) -> Value {
    match key {
        "Type" => json!("Notification"),
        "Message" => json!(""),
        "MessageId" => json!("69bf3d19-d8ad-49fd-a7f7-3e6f4a6f1648"),
        "TopicArn" => json!("arn:aws:sns:us-east-1:123456789012:t"),
        "Timestamp" => json!("2026-11-26T16:12:45.775Z"),
        "MessageAttributes" => {
            let mut attrs = Map::new();
            for _ in 0..byte(u) % 6 {
                let name = match KNOWN_NAMES.get(usize::from(byte(u))) {
                    Some(n) => (*n).to_owned(),
                    None => read_text(u),
                };
                let mut attr = Map::new();
                match byte(u) % 4 {
                    0 => drop(attr.insert("Type".into(), json!("String"))),
                    1 => drop(attr.insert("Type".into(), json!("Number"))),
                    2 => drop(attr.insert("Type".into(), json!(1))),
                    _ => {}
                }
                match byte(u) % 5 {
                    0 => drop(attr.insert("Value".into(), json!(good_attribute(&name)))),
                    1 => drop(attr.insert("Value".into(), Value::String(read_text(u)))),
                    2 => drop(attr.insert("Value".into(), json!(7))),
                    3 => drop(attr.insert("Value".into(), Value::Null)),
                    _ => {}
                }
                attrs.insert(name, Value::Object(attr));
            }
            Value::Object(attrs)
        }
        _ => Value::String(read_text(u)),
    }
}

fn good_attribute(name: &str) -> &'static str {
    match name {
        names::MESSAGE_TYPE => "jsonrpc",
        names::TIMESTAMP => "1795709565",
        names::REQUEST_ID => "1",
        names::METHOD => "ping",
        names::SESSION_ID => "21e45e13700c4ae69854da54086f0134",
        names::REPLY_TO => "arn:aws:sns:us-east-1:123456789012:client",
        names::EXT => "seq=1;caps=frag",
        _ => "x",
    }
}

/// Compact, pretty, or pretty after leading whitespace, as `layout` says.
fn serialize(value: &Value, layout: u8) -> Bytes {
    let text = match layout % 3 {
        0 => value.to_string(),
        1 => serde_json::to_string_pretty(value).unwrap_or_default(),
        _ => format!("\n  {}", serde_json::to_string_pretty(value).unwrap_or_default()),
    };
    Bytes::from(text)
}
