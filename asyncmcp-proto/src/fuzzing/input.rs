//! The byte formats the codec fuzz bodies read, and writers for them.
//!
//! An *inbound* input is what SQS `ReceiveMessage` returned, as bytes:
//!
//! ```text
//! count: u8 (mod 12)                 how many attributes follow
//! per attribute:
//!   name:  u8 selector               < 9: one of KNOWN_NAMES; else a text follows
//!   [name text]
//!   type:  u8 selector               < 4: one of DATA_TYPES; else a text follows
//!   [type text]
//!   value: text
//! body: every remaining byte
//! ```
//!
//! where a *text* is a length byte followed by that many bytes (read as UTF-8, with
//! invalid sequences replaced). Input that ends early reads as zeros and empty texts,
//! so every byte string is a valid input.

use arbitrary::Unstructured;
use bytes::Bytes;

use crate::InboundMessage;
use crate::attributes::{AttributeValue, Attributes, names};

/// The attribute names a selector byte below `KNOWN_NAMES.len()` picks.
pub const KNOWN_NAMES: [&str; 9] = [
    names::MESSAGE_TYPE,
    names::TIMESTAMP,
    names::REQUEST_ID,
    names::METHOD,
    names::SESSION_ID,
    names::CLIENT_ID,
    names::PROTOCOL_VERSION,
    names::REPLY_TO,
    names::EXT,
];

/// The data types a selector byte below `DATA_TYPES.len()` picks.
pub const DATA_TYPES: [&str; 4] = ["String", "Number", "Binary", "String.custom"];

/// Most attributes one inbound input holds (SQS allows 10; a few more probe the decoder).
const MAX_ATTRIBUTES: u8 = 12;

/// Writes an inbound input: `attributes` as `(name, data type, value)`, then `body`.
/// `None` when there are 12 or more attributes, or a name, type or value is longer than 255
/// bytes (the format cannot carry it).
pub fn inbound(body: &[u8], attributes: &[(&str, &str, &str)]) -> Option<Vec<u8>> {
    let count = u8::try_from(attributes.len()).ok().filter(|c| *c < MAX_ATTRIBUTES)?;
    let mut out = vec![count];
    for (name, data_type, value) in attributes {
        selector(&mut out, &KNOWN_NAMES, name)?;
        selector(&mut out, &DATA_TYPES, data_type)?;
        text(&mut out, value)?;
    }
    out.extend_from_slice(body);
    Some(out)
}

fn selector(out: &mut Vec<u8>, table: &[&str], value: &str) -> Option<()> {
    match table.iter().position(|known| *known == value).and_then(|i| u8::try_from(i).ok()) {
        Some(i) => out.push(i),
        None => {
            out.push(u8::MAX);
            text(out, value)?;
        }
    }
    Some(())
}

fn text(out: &mut Vec<u8>, value: &str) -> Option<()> {
    out.push(u8::try_from(value.len()).ok()?);
    out.extend_from_slice(value.as_bytes());
    Some(())
}

/// Reads an inbound input (see the module docs); never fails.
pub(crate) fn read_inbound(u: &mut Unstructured<'_>) -> InboundMessage {
    let count = byte(u) % MAX_ATTRIBUTES;
    let mut attributes = Attributes::new();
    for _ in 0..count {
        let name = pick(u, &KNOWN_NAMES);
        let data_type = pick(u, &DATA_TYPES);
        let value = read_text(u);
        attributes.insert(name, AttributeValue { data_type, value });
    }
    let rest = u.len();
    let body = Bytes::copy_from_slice(u.bytes(rest).unwrap_or_default());
    let mut msg = InboundMessage::new("fuzz-message", "fuzz-receipt", body);
    msg.attributes = attributes;
    msg
}

/// One byte, 0 once the input is exhausted.
pub(crate) fn byte(u: &mut Unstructured<'_>) -> u8 {
    u.bytes(1).ok().and_then(|b| b.first().copied()).unwrap_or(0)
}

/// A length byte and that many bytes (fewer when the input ends), as lossy UTF-8.
pub(crate) fn read_text(u: &mut Unstructured<'_>) -> String {
    let len = usize::from(byte(u)).min(u.len());
    let bytes = u.bytes(len).unwrap_or_default();
    String::from_utf8_lossy(bytes).into_owned()
}

fn pick(u: &mut Unstructured<'_>, table: &[&str]) -> String {
    match table.get(usize::from(byte(u))) {
        Some(known) => (*known).to_owned(),
        None => read_text(u),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_inputs_read_back() {
        let attrs = [("MessageType", "String", "jsonrpc"), ("Team", "String.x", "blue"), ("Timestamp", "Number", "5")];
        let data = inbound(b"{\"a\":1}", &attrs).unwrap();
        let msg = read_inbound(&mut Unstructured::new(&data));
        assert_eq!(msg.body.as_ref(), b"{\"a\":1}");
        assert_eq!(msg.attributes.len(), 3);
        assert_eq!(msg.attributes["Team"], AttributeValue { data_type: "String.x".into(), value: "blue".into() });
        assert_eq!(msg.attributes["Timestamp"], AttributeValue::number(5));
        assert!(inbound(b"", &[("A", "String", &"x".repeat(256))]).is_none());
    }

    #[test]
    fn any_bytes_read() {
        for data in [&b""[..], &[11], &[11, 255, 255, 255], &[3, 0, 0, 200, 1]] {
            let _ = read_inbound(&mut Unstructured::new(data));
        }
    }
}
