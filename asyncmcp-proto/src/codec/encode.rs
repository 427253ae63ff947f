//! Outbound: a JSON-RPC message and its [`WireMeta`] as bodies with attributes.

use super::ext::{Ext, FragmentHeader, MAX_FRAGMENTS, is_valid_group};
use super::size::{encoded_size, escaped_byte_len};
use super::xml::check_xml_chars;
use super::{Encoded, SizeLimits, WireMeta};
use crate::attributes::{AttributeValue, Attributes, MESSAGE_TYPE_JSONRPC, names};
use crate::{ApiError, JsonRpcMessage, Misuse, Unsendable};

/// The attributes that carry `meta`.
///
/// Always `MessageType=jsonrpc`; `Timestamp` (Number), `RequestId`, `Method`,
/// `SessionId`, `ClientId`, `ReplyTo` and `AsyncMcpExt` when set; never
/// `ProtocolVersion` (asyncmcp does not write it). Custom attributes are added last
/// and never replace one of asyncmcp's own.
pub fn encode_attributes(meta: &WireMeta) -> Attributes {
    let mut attrs = Attributes::new();
    attrs.insert(names::MESSAGE_TYPE.to_owned(), AttributeValue::string(MESSAGE_TYPE_JSONRPC));
    if let Some(ts) = meta.timestamp {
        attrs.insert(names::TIMESTAMP.to_owned(), AttributeValue::number(ts));
    }
    let strings = [
        (names::REQUEST_ID, meta.request_id.as_deref()),
        (names::METHOD, meta.method.as_deref()),
        (names::SESSION_ID, meta.session_id.as_ref().map(|s| s.as_str())),
        (names::CLIENT_ID, meta.client_id.as_deref()),
        (names::REPLY_TO, meta.reply_to.as_ref().map(|a| a.as_str())),
    ];
    for (name, value) in strings {
        if let Some(value) = value {
            attrs.insert(name.to_owned(), AttributeValue::string(value));
        }
    }
    if let Some(ext) = meta.ext.to_attribute() {
        attrs.insert(names::EXT.to_owned(), AttributeValue::string(ext));
    }
    for (name, value) in &meta.custom {
        attrs.entry(name.clone()).or_insert_with(|| value.clone());
    }
    attrs
}

/// Encodes `message` with the attributes of `meta` as one body, or as fragments when
/// it does not fit `limits` and `fragment_group` is given (the peer takes fragments).
///
/// A message that fits is sent as is: its body is a clone of `message.body()` (no
/// copy). Fragments split the text at UTF-8 character boundaries, are slices of the
/// same buffer, and each carries the attributes of `meta` plus a fragment header in
/// `AsyncMcpExt`; each fits `limits` with its attributes (JSON-escaped inside the SNS
/// envelope when `limits.envelope`). Concatenated in index order they are the
/// original text.
///
/// # Errors
/// - [`Unsendable::InvalidXmlChar`](crate::Unsendable::InvalidXmlChar): the text holds a character SQS refuses.
/// - [`Unsendable::TooLarge`](crate::Unsendable::TooLarge): the message does not fit and `fragment_group` is `None`,
///   or the limit is too small for a fragment holding a single character, or more
///   than 10 000 fragments would be needed.
/// - [`Misuse::InvalidFragmentGroup`](crate::Misuse::InvalidFragmentGroup): `fragment_group` is not 1 to 64 characters of
///   `[0-9a-zA-Z_-]`.
/// - [`Unsendable::TooDeep`](crate::Unsendable::TooDeep): the message was
///   built from values nested deeper than [`MAX_NESTING_DEPTH`](super::MAX_NESTING_DEPTH)
///   levels; the peer would refuse it.
pub fn encode(
    message: &JsonRpcMessage,
    meta: &WireMeta,
    limits: &SizeLimits,
    fragment_group: Option<&str>,
) -> Result<Vec<Encoded>, ApiError> {
    if message.is_too_deep() {
        return Err(ApiError::Unsendable(Unsendable::TooDeep { limit: super::MAX_NESTING_DEPTH }));
    }
    check_xml_chars(message.as_str())
        .map_err(|code_point| ApiError::Unsendable(Unsendable::InvalidXmlChar { code_point }))?;
    let body = message.body();
    let attributes = encode_attributes(meta);
    let size = encoded_size(body, &attributes, limits.envelope);
    if size <= limits.max_bytes {
        return Ok(vec![Encoded { body: body.clone(), attributes }]);
    }
    let too_large = ApiError::Unsendable(Unsendable::TooLarge { size, limit: limits.max_bytes });
    let Some(group) = fragment_group else {
        return Err(too_large);
    };
    if !is_valid_group(group) {
        return Err(ApiError::Misuse(Misuse::InvalidFragmentGroup(group.to_owned())));
    }
    let fragment_attributes = |index: u32, count: u32| {
        let ext = Ext { fragment: Some(FragmentHeader { group: group.to_owned(), index, count }), ..meta.ext.clone() };
        let mut attrs = attributes.clone();
        if let Some(value) = ext.to_attribute() {
            attrs.insert(names::EXT.to_owned(), AttributeValue::string(value));
        }
        attrs
    };
    // The header's size depends on how many digits `count` has: try 1 digit, then
    // more, budgeting for the widest index and count of that many digits.
    let mut widest = 9u32;
    loop {
        let overhead = encoded_size(b"", &fragment_attributes(widest.min(MAX_FRAGMENTS), widest), limits.envelope);
        let budget = limits.max_bytes.checked_sub(overhead).ok_or_else(|| too_large.clone())?;
        let ranges = split(body, budget, limits.envelope).ok_or_else(|| too_large.clone())?;
        let count = u32::try_from(ranges.len()).map_err(|_| too_large.clone())?;
        if count > MAX_FRAGMENTS {
            return Err(too_large);
        }
        if count <= widest {
            return Ok((0u32..)
                .zip(ranges)
                .map(|(index, (start, end))| Encoded {
                    body: body.slice(start..end),
                    attributes: fragment_attributes(index, count),
                })
                .collect());
        }
        widest = widest.saturating_mul(10).saturating_add(9);
    }
}

/// Splits UTF-8 `text` greedily into ranges of at most `budget` bytes each (counted
/// JSON-escaped when `escaped`), cutting only at character boundaries. One pass.
/// `None` when a single character does not fit.
fn split(text: &[u8], budget: usize, escaped: bool) -> Option<Vec<(usize, usize)>> {
    let cost = |b: u8| if escaped { escaped_byte_len(b) } else { 1 };
    let mut ranges = Vec::with_capacity(text.len() / budget.max(1) + 1);
    let mut start = 0;
    let mut used = 0;
    // The last character boundary in the current range, and the cost before it.
    let (mut boundary, mut used_before_boundary) = (0, 0);
    for (i, &b) in text.iter().enumerate() {
        if b & 0xC0 != 0x80 {
            boundary = i;
            used_before_boundary = used;
        }
        used += cost(b);
        if used > budget {
            if boundary == start {
                return None;
            }
            ranges.push((start, boundary));
            start = boundary;
            used -= used_before_boundary;
            used_before_boundary = 0;
            if used > budget {
                return None;
            }
        }
    }
    if start < text.len() {
        ranges.push((start, text.len()));
    }
    Some(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;
    use crate::codec::{Payload, decode, json_escaped_len};
    use crate::session_id::SessionId;
    use crate::{InboundMessage, RequestId};

    fn meta() -> WireMeta {
        WireMeta {
            timestamp: Some(1_795_709_489),
            request_id: Some("7".into()),
            method: Some("tools/call".into()),
            session_id: Some(SessionId::parse("6063cd47514e409da7b4f61be62c3464").unwrap()),
            client_id: Some("client".into()),
            protocol_version: Some("2025-11-25".into()),
            reply_to: Some(Address::parse("https://sqs.us-east-1.amazonaws.com/1/q")),
            ext: Ext {
                seq: Some(3),
                fragment: None,
                takes_fragments: true,
                max_message_bytes: None,
                reassembles: None,
            },
            custom: [("Team".to_owned(), AttributeValue::string("blue"))].into_iter().collect(),
        }
    }

    fn big_request(text: &str) -> JsonRpcMessage {
        JsonRpcMessage::request(
            RequestId::Number(7),
            "tools/call",
            Some(serde_json::json!({"name": "echo", "arguments": {"text": text}})),
        )
    }

    fn reassemble(parts: &[Encoded]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.body.iter().copied()).collect()
    }

    #[test]
    fn attributes_follow_the_table() {
        let attrs = encode_attributes(&meta());
        let names: Vec<&str> = attrs.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "AsyncMcpExt",
                "ClientId",
                "MessageType",
                "Method",
                "ReplyTo",
                "RequestId",
                "SessionId",
                "Team",
                "Timestamp"
            ]
        );
        assert_eq!(attrs["Timestamp"], AttributeValue::number(1_795_709_489u64));
        assert_eq!(attrs["AsyncMcpExt"], AttributeValue::string("seq=3;caps=frag"));
        let minimal = encode_attributes(&WireMeta::default());
        assert_eq!(minimal.len(), 1);
        assert_eq!(minimal["MessageType"], AttributeValue::string("jsonrpc"));
    }

    #[test]
    fn custom_attributes_never_replace_own() {
        let mut m = WireMeta { method: Some("ping".into()), ..WireMeta::default() };
        m.custom.insert("Method".into(), AttributeValue::string("spoofed"));
        assert_eq!(encode_attributes(&m)["Method"], AttributeValue::string("ping"));
    }

    #[test]
    fn small_message_is_one_body_without_copy() {
        let msg = big_request("hi");
        let out = encode(&msg, &meta(), &SizeLimits::default(), Some("g")).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].body.as_ptr(), msg.body().as_ptr());
        assert_eq!(out[0].attributes, encode_attributes(&meta()));
    }

    #[test]
    fn refuses_illegal_chars() {
        let msg = big_request("bell \u{7}");
        assert!(JsonRpcMessage::parse(msg.body().clone()).is_ok());
        // serde_json escapes the control char, so the text itself is legal.
        assert!(encode(&msg, &meta(), &SizeLimits::default(), None).is_ok());
        let raw = JsonRpcMessage::parse("{\"jsonrpc\":\"2.0\",\"method\":\"\u{FFFF}\"}").unwrap();
        assert_eq!(
            encode(&raw, &meta(), &SizeLimits::default(), None),
            Err(ApiError::Unsendable(Unsendable::InvalidXmlChar { code_point: 0xFFFF }))
        );
    }

    #[test]
    fn too_large_without_fragments_names_size_and_limit() {
        let msg = big_request(&"x".repeat(300_000));
        let attrs = encode_attributes(&meta());
        let size = encoded_size(msg.body(), &attrs, false);
        assert_eq!(
            encode(&msg, &meta(), &SizeLimits::default(), None),
            Err(ApiError::Unsendable(Unsendable::TooLarge { size, limit: 262_144 }))
        );
        assert_eq!(
            encode(&msg, &meta(), &SizeLimits::default(), Some("bad group!")),
            Err(ApiError::Misuse(Misuse::InvalidFragmentGroup("bad group!".into())))
        );
    }

    #[test]
    fn limit_too_small_for_any_fragment() {
        let msg = big_request("hello");
        let limits = SizeLimits { max_bytes: 150, envelope: false };
        assert!(matches!(
            encode(&msg, &meta(), &limits, Some("g")),
            Err(ApiError::Unsendable(Unsendable::TooLarge { .. }))
        ));
        let limits = SizeLimits { max_bytes: 10, envelope: true };
        assert!(matches!(
            encode(&msg, &meta(), &limits, Some("g")),
            Err(ApiError::Unsendable(Unsendable::TooLarge { .. }))
        ));
    }

    #[test]
    fn too_many_fragments_is_too_large() {
        // "frag=g/99999/10000;" takes 19 bytes: 3 bytes left for 60 000 of text.
        let msg = big_request(&"x".repeat(60_000));
        let limits =
            SizeLimits { max_bytes: encoded_size(b"", &encode_attributes(&meta()), false) + 22, envelope: false };
        assert!(matches!(
            encode(&msg, &meta(), &limits, Some("g")),
            Err(ApiError::Unsendable(Unsendable::TooLarge { .. }))
        ));
    }

    #[test]
    fn fragments_reassemble_within_budget_without_splitting_chars() {
        let text = "é\"中\\😀\n\u{1}ab".repeat(3_000);
        let msg = big_request(&text);
        for envelope in [false, true] {
            for max_bytes in [3_000, 4_321, 65_536] {
                let limits = SizeLimits { max_bytes, envelope };
                let parts = encode(&msg, &meta(), &limits, Some("group_1")).unwrap();
                assert!(parts.len() > 1);
                assert_eq!(reassemble(&parts), msg.body().as_ref());
                for (index, part) in parts.iter().enumerate() {
                    let fragment = std::str::from_utf8(&part.body).expect("split inside a character");
                    assert!(encoded_size(&part.body, &part.attributes, envelope) <= max_bytes);
                    if envelope {
                        assert_eq!(json_escaped_len(fragment) + 2, serde_json::to_string(fragment).unwrap().len());
                    }
                    let ext = Ext::parse(&part.attributes["AsyncMcpExt"].value).unwrap();
                    let header = ext.fragment.unwrap();
                    assert_eq!(
                        (header.group.as_str(), header.index as usize, header.count as usize),
                        ("group_1", index, parts.len())
                    );
                    assert_eq!((ext.seq, ext.takes_fragments), (Some(3), true));
                    // Fragments are slices of the original buffer.
                    let offset = part.body.as_ptr() as usize - msg.body().as_ptr() as usize;
                    assert!(offset < msg.body().len());
                }
            }
        }
    }

    #[test]
    fn fragment_count_digits_are_budgeted() {
        // Enough fragments that the count needs several digits.
        let msg = big_request(&"y".repeat(50_000));
        let overhead = encoded_size(b"", &encode_attributes(&meta()), false) + 30;
        let limits = SizeLimits { max_bytes: overhead + 10, envelope: false };
        let parts = encode(&msg, &meta(), &limits, Some("g")).unwrap();
        assert!(parts.len() > 999);
        assert!(parts.iter().all(|p| encoded_size(&p.body, &p.attributes, false) <= limits.max_bytes));
        assert_eq!(reassemble(&parts), msg.body().as_ref());
    }

    #[test]
    fn fragments_decode_as_fragments() {
        let msg = big_request(&"z".repeat(5_000));
        let parts = encode(&msg, &meta(), &SizeLimits { max_bytes: 1_000, envelope: false }, Some("g")).unwrap();
        let mut joined = Vec::new();
        for part in &parts {
            let mut inbound = InboundMessage::new("m", "r", part.body.clone());
            inbound.attributes = part.attributes.clone();
            match decode(&inbound).unwrap().payload {
                Payload::Fragment { data, .. } => joined.extend_from_slice(&data),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(JsonRpcMessage::parse(joined).unwrap(), msg);
    }

    #[test]
    fn split_edge_cases() {
        assert_eq!(split(b"", 5, false), Some(vec![]));
        assert_eq!(split(b"abcde", 5, false), Some(vec![(0, 5)]));
        assert_eq!(split(b"abcdef", 5, false), Some(vec![(0, 5), (5, 6)]));
        assert_eq!(split("aé".as_bytes(), 2, false), Some(vec![(0, 1), (1, 3)]));
        assert_eq!(split("é".as_bytes(), 1, false), None);
        assert_eq!(split(b"a\x01", 5, true), None);
        assert_eq!(split(b"a\x01", 6, true), Some(vec![(0, 1), (1, 2)]));
        assert_eq!(split(b"\x01", 5, true), None);
        assert_eq!(split(b"abc", 0, false), None);
    }
}
