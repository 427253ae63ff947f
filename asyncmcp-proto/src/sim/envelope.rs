//! The SNS notification envelope an SQS queue receives without raw delivery.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::attributes::Attributes;
use crate::rng::Rng;

/// The JSON body SNS delivers to a subscribed queue without raw message delivery:
/// a compact object with `Type: "Notification"`, `MessageId`, `TopicArn`, `Message`
/// (the published body as a JSON string), `Timestamp` (ISO-8601 UTC with
/// milliseconds), the signature fields (a fake signature of the real length) and,
/// when there are any, `MessageAttributes` as `{"Name": {"Type": .., "Value": ..}}`.
///
/// `unix_millis` is the publish time. The same inputs always give the same text.
///
/// ```
/// use asyncmcp_proto::attributes::{AttributeValue, Attributes};
/// let mut attributes = Attributes::new();
/// attributes.insert("MessageType".into(), AttributeValue::string("jsonrpc"));
/// let body = asyncmcp_proto::sim::sns_envelope(
///     "arn:aws:sns:us-east-1:123456789012:t",
///     "3f1c5a2e-0000-4000-8000-000000000001",
///     r#"{"jsonrpc":"2.0","method":"ping","id":1}"#,
///     &attributes,
///     1_795_962_765_775,
/// );
/// assert!(body.starts_with(r#"{"Type":"Notification","MessageId":"3f1c5a2e-"#));
/// assert!(body.contains(r#""Timestamp":"2026-11-29T14:32:45.775Z""#));
/// assert!(body.contains(r#""MessageAttributes":{"MessageType":{"Type":"String","Value":"jsonrpc"}}"#));
/// ```
pub fn sns_envelope(
    topic_arn: &str,
    message_id: &str,
    message: &str,
    attributes: &Attributes,
    unix_millis: u64,
) -> String {
    let subscription_arn = format!("{topic_arn}:00000000-0000-4000-8000-000000000000");
    envelope(topic_arn, &subscription_arn, message_id, message, attributes, unix_millis)
}

/// [`sns_envelope`] for a known subscription (it appears in `UnsubscribeURL`).
pub(crate) fn envelope(
    topic_arn: &str,
    subscription_arn: &str,
    message_id: &str,
    message: &str,
    attributes: &Attributes,
    unix_millis: u64,
) -> String {
    let region = topic_arn.split(':').nth(3).unwrap_or("us-east-1");
    let notification = Notification {
        kind: "Notification",
        message_id,
        topic_arn,
        message,
        timestamp: iso8601_utc(unix_millis),
        signature_version: "1",
        signature: fake_signature(message_id),
        signing_cert_url: format!(
            "https://sns.{region}.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
        ),
        unsubscribe_url: format!(
            "https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
        ),
        message_attributes: attributes
            .iter()
            .map(|(name, v)| (name.as_str(), EnvelopeAttribute { kind: &v.data_type, value: &v.value }))
            .collect(),
    };
    // Serializing strings and maps of strings cannot fail.
    serde_json::to_string(&notification).unwrap_or_default()
}

/// Field order follows what AWS sends.
#[derive(Serialize)]
struct Notification<'a> {
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(rename = "MessageId")]
    message_id: &'a str,
    #[serde(rename = "TopicArn")]
    topic_arn: &'a str,
    #[serde(rename = "Message")]
    message: &'a str,
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "SignatureVersion")]
    signature_version: &'static str,
    #[serde(rename = "Signature")]
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    #[serde(rename = "UnsubscribeURL")]
    unsubscribe_url: String,
    #[serde(rename = "MessageAttributes", skip_serializing_if = "BTreeMap::is_empty")]
    message_attributes: BTreeMap<&'a str, EnvelopeAttribute<'a>>,
}

#[derive(Serialize)]
struct EnvelopeAttribute<'a> {
    #[serde(rename = "Type")]
    kind: &'a str,
    #[serde(rename = "Value")]
    value: &'a str,
}

/// A real signature is base64 of 256 bytes: 344 characters. This one is random-looking
/// text of that length, derived from the message id so envelopes are reproducible.
fn fake_signature(message_id: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // FNV-1a of the id seeds the generator.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in message_id.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut seed = [0u8; 32];
    for chunk in seed.chunks_exact_mut(8) {
        chunk.copy_from_slice(&hash.to_le_bytes());
        hash = hash.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
    }
    let mut rng = Rng::from_seed(seed);
    let mut out: String =
        (0..342).map(|_| ALPHABET.get(rng.below(64) as usize).map_or('A', |b| char::from(*b))).collect();
    out.push_str("==");
    out
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for Unix milliseconds.
pub(crate) fn iso8601_utc(unix_millis: u64) -> String {
    let millis = unix_millis % 1000;
    let secs = unix_millis / 1000;
    let (days, secs_of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::AttributeValue;

    #[test]
    fn timestamps_match_known_dates() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_utc(1_795_651_200_000), "2026-11-26T00:00:00.000Z");
        assert_eq!(iso8601_utc(1_795_962_765_775), "2026-11-29T14:32:45.775Z");
        assert_eq!(iso8601_utc(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        // Far future must not panic or overflow.
        let _ = iso8601_utc(u64::MAX);
    }

    #[test]
    fn envelope_is_compact_json_with_aws_fields() {
        let mut attrs = Attributes::new();
        attrs.insert("SessionId".into(), AttributeValue::string("ab\"c"));
        attrs.insert("Timestamp".into(), AttributeValue::number(17));
        let message = "{\"jsonrpc\":\"2.0\",\"method\":\"x\\\\y\"}";
        let text = sns_envelope("arn:aws:sns:eu-west-1:1:t", "mid", message, &attrs, 0);
        assert!(!text.contains('\n') && !text.contains(": "));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["Type"], "Notification");
        assert_eq!(v["MessageId"], "mid");
        assert_eq!(v["TopicArn"], "arn:aws:sns:eu-west-1:1:t");
        assert_eq!(v["Message"], message);
        assert_eq!(v["Timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["SignatureVersion"], "1");
        assert_eq!(v["Signature"].as_str().unwrap().len(), 344);
        assert!(v["SigningCertURL"].as_str().unwrap().starts_with("https://sns.eu-west-1.amazonaws.com/"));
        assert!(v["UnsubscribeURL"].as_str().unwrap().contains("SubscriptionArn=arn:aws:sns:eu-west-1:1:t:"));
        assert_eq!(v["MessageAttributes"]["SessionId"]["Value"], "ab\"c");
        assert_eq!(v["MessageAttributes"]["Timestamp"]["Type"], "Number");
        assert_eq!(text, sns_envelope("arn:aws:sns:eu-west-1:1:t", "mid", message, &attrs, 0));
    }

    #[test]
    fn envelope_without_attributes_omits_the_field() {
        let text = sns_envelope("arn:aws:sns:us-east-1:1:t", "m", "hi", &Attributes::new(), 5);
        assert!(!text.contains("MessageAttributes"));
    }
}
