//! What a message costs against the SQS and SNS size limits.

use crate::attributes::Attributes;

/// SNS `Publish` accepts at most 256 KiB (body plus attributes).
pub const SNS_MAX_BYTES: usize = 262_144;

/// An SQS queue accepts at most 1 MiB (body plus attributes) when configured so; the
/// default queue setting is 256 KiB.
pub const SQS_MAX_BYTES: usize = 1_048_576;

/// Fixed allowance for the SNS envelope fields around `Message` and
/// `MessageAttributes` when a subscription does not use raw delivery.
///
/// The envelope holds `Type` (`Notification`), `MessageId` (a 36-character UUID),
/// `TopicArn` (`arn:aws:sns:<region>:<account>:` plus a topic name of up to 256
/// characters: about 292), an optional `Subject`, `Timestamp` (24), `SignatureVersion`
/// (1), `Signature` (344 characters of base64 for RSA-2048), `SigningCertURL` (about
/// 100), `UnsubscribeURL` (about the topic ARN plus 110), and the key names, quotes,
/// colons and commas. With the longest topic name that adds up to 1 387 bytes
/// compact as AWS writes it (1 432 pretty-printed as moto writes it); 1 536 covers
/// both with a little margin. (An estimate of 1 200 would not cover a 256-character
/// topic name: the test below renders the worst case.)
pub const ENVELOPE_OVERHEAD: usize = 1_536;

/// Size budget for one outbound body with its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// Largest encoded message, in bytes, attributes included.
    pub max_bytes: usize,
    /// The message reaches its queue inside an SNS envelope (SNS to SQS without raw
    /// delivery): the body is counted JSON-escaped, with the envelope around it.
    pub envelope: bool,
}

impl Default for SizeLimits {
    /// 256 KiB ([`SNS_MAX_BYTES`], also the default SQS queue limit), no envelope.
    fn default() -> Self {
        Self { max_bytes: SNS_MAX_BYTES, envelope: false }
    }
}

/// The size AWS counts for `body` with `attributes`.
///
/// Without an envelope: the body's bytes plus, for each attribute, its name, data
/// type and value. With `envelope`: the body JSON-escaped (see [`json_escaped_len`]),
/// each attribute as envelope JSON (`"Name":{"Type":"String","Value":"..."}`), and
/// [`ENVELOPE_OVERHEAD`] for the other envelope fields.
///
/// ```
/// use asyncmcp_proto::attributes::{AttributeValue, Attributes};
/// use asyncmcp_proto::codec::encoded_size;
/// let mut attrs = Attributes::new();
/// attrs.insert("MessageType".into(), AttributeValue::string("jsonrpc"));
/// assert_eq!(encoded_size(b"{}", &attrs, false), 2 + 11 + 6 + 7);
/// ```
pub fn encoded_size(body: &[u8], attributes: &Attributes, envelope: bool) -> usize {
    if envelope {
        ENVELOPE_OVERHEAD + escaped_len(body) + envelope_attributes_len(attributes)
    } else {
        body.len() + attributes.iter().map(|(name, v)| name.len() + v.data_type.len() + v.value.len()).sum::<usize>()
    }
}

/// The length of `s` as the contents of a JSON string literal (without the quotes),
/// escaped as `serde_json` escapes it: `"` and `\` take 2 bytes, `\n \r \t \b \f`
/// take 2, other control characters below U+0020 take 6 (`\u001f`), everything else
/// its UTF-8 length.
///
/// ```
/// use asyncmcp_proto::codec::json_escaped_len;
/// assert_eq!(json_escaped_len("a\"b\\c\n\u{1}é"), 1 + 2 + 1 + 2 + 1 + 2 + 6 + 2);
/// ```
pub fn json_escaped_len(s: &str) -> usize {
    escaped_len(s.as_bytes())
}

/// [`json_escaped_len`] over bytes: escaping only concerns ASCII bytes, so the result
/// is the same for UTF-8 text.
pub(crate) fn escaped_len(bytes: &[u8]) -> usize {
    bytes.iter().map(|&b| escaped_byte_len(b)).sum()
}

/// What one byte of UTF-8 text costs inside a JSON string literal.
#[inline]
pub(crate) fn escaped_byte_len(b: u8) -> usize {
    usize::from(ESCAPED_LEN.get(usize::from(b)).copied().unwrap_or(1))
}

/// Size of the attributes as the envelope's `MessageAttributes` members (the braces
/// around them are part of [`ENVELOPE_OVERHEAD`]).
fn envelope_attributes_len(attributes: &Attributes) -> usize {
    // `"` name `":{"Type":"` type `","Value":"` value `"}`
    const PUNCTUATION: usize = 1 + 11 + 11 + 2;
    let members: usize = attributes
        .iter()
        .map(|(name, v)| {
            PUNCTUATION + json_escaped_len(name) + json_escaped_len(&v.data_type) + json_escaped_len(&v.value)
        })
        .sum();
    members + attributes.len().saturating_sub(1)
}

// Evaluated at compile time: an index out of range would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const ESCAPED_LEN: [u8; 256] = {
    let mut table = [1u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = 6;
        b += 1;
    }
    table[0x08] = 2;
    table[0x09] = 2;
    table[0x0A] = 2;
    table[0x0C] = 2;
    table[0x0D] = 2;
    table[b'"' as usize] = 2;
    table[b'\\' as usize] = 2;
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::AttributeValue;

    fn tricky_strings() -> Vec<String> {
        let mut all_ascii: String = (0u8..0x80).map(char::from).collect();
        all_ascii.push_str("é中😀\u{7F}\u{80}\u{2028}\u{FFFD}");
        vec![
            String::new(),
            "plain".to_owned(),
            "\"quoted\" \\back\\slash\\".to_owned(),
            "\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{b}".to_owned(),
            "/ solidus is not escaped".to_owned(),
            all_ascii,
            "\\\"".repeat(100),
        ]
    }

    #[test]
    fn escaped_len_matches_serde_json() {
        for s in tricky_strings() {
            assert_eq!(json_escaped_len(&s) + 2, serde_json::to_string(&s).unwrap().len(), "{s:?}");
        }
    }

    #[test]
    fn raw_size_counts_body_names_types_values() {
        let mut attrs = Attributes::new();
        attrs.insert("Timestamp".into(), AttributeValue::number(1_795_709_489u64));
        attrs.insert("SessionId".into(), AttributeValue::string("é"));
        assert_eq!(encoded_size(b"abc", &attrs, false), 3 + (9 + 6 + 10) + (9 + 6 + 2));
        assert_eq!(encoded_size(b"", &Attributes::new(), false), 0);
    }

    #[test]
    fn envelope_size_matches_envelope_json() {
        let mut attrs = Attributes::new();
        attrs.insert("MessageType".into(), AttributeValue::string("jsonrpc"));
        attrs.insert("Q\"".into(), AttributeValue::string("a\\b\n"));
        let body = "{\"jsonrpc\":\"2.0\",\"method\":\"x\\\"\"}";
        let members: serde_json::Map<String, serde_json::Value> = attrs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!({"Type": v.data_type, "Value": v.value})))
            .collect();
        let rendered = serde_json::to_string(&members).unwrap();
        let expected = ENVELOPE_OVERHEAD + json_escaped_len(body) + rendered.len() - 2;
        assert_eq!(encoded_size(body.as_bytes(), &attrs, true), expected);
        assert_eq!(encoded_size(b"", &Attributes::new(), true), ENVELOPE_OVERHEAD);
    }

    #[test]
    fn envelope_overhead_covers_a_worst_case_envelope() {
        let arn = format!("arn:aws:sns:us-east-1:123456789012:{}", "t".repeat(256));
        let envelope = serde_json::json!({
            "Type": "Notification",
            "MessageId": "69bf3d19-d8ad-49fd-a7f7-3e6f4a6f1648",
            "TopicArn": arn,
            "Message": "",
            "Subject": "",
            "Timestamp": "2026-11-26T16:12:45.775Z",
            "SignatureVersion": "1",
            "Signature": "A".repeat(344),
            "SigningCertURL": format!("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{}.pem", "0".repeat(32)),
            "UnsubscribeURL": format!("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={arn}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"),
            "MessageAttributes": {},
        });
        let compact = serde_json::to_string(&envelope).unwrap();
        let pretty = serde_json::to_string_pretty(&envelope).unwrap();
        assert!(compact.len() < ENVELOPE_OVERHEAD, "{} bytes", compact.len());
        assert!(pretty.len() < ENVELOPE_OVERHEAD, "{} bytes", pretty.len());
    }

    #[test]
    fn default_limits() {
        assert_eq!(SizeLimits::default(), SizeLimits { max_bytes: 262_144, envelope: false });
    }
}
