//! The SNS envelope: what an SQS queue receives from a topic subscription without
//! raw delivery.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::DecodeError;
use crate::attributes::{AttributeValue, Attributes};
use crate::peer_text::{clip_debug, clip_display};

/// Facts from an SNS envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsNotification {
    /// The SNS `MessageId`.
    pub message_id: String,
    /// The topic the message was published to.
    pub topic_arn: String,
    /// The envelope's `Timestamp` (ISO 8601, as SNS wrote it), when present.
    pub timestamp: Option<String>,
}

/// An unwrapped envelope.
#[derive(Debug)]
pub(crate) struct Envelope {
    /// The published message: the JSON-RPC text (or a fragment of it).
    pub(crate) message: String,
    /// The envelope's `MessageAttributes`.
    pub(crate) attributes: Attributes,
    pub(crate) notification: SnsNotification,
}

#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(rename = "Type", borrow)]
    kind: Option<&'a RawValue>,
    #[serde(rename = "Message", borrow)]
    message: Option<&'a RawValue>,
    #[serde(rename = "MessageId", borrow)]
    message_id: Option<&'a RawValue>,
    #[serde(rename = "TopicArn", borrow)]
    topic_arn: Option<&'a RawValue>,
    #[serde(rename = "Timestamp", borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(rename = "MessageAttributes", borrow)]
    attributes: Option<&'a RawValue>,
    /// Never in an SNS envelope, always in a JSON-RPC message.
    #[serde(borrow)]
    jsonrpc: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct EnvelopeAttribute<'a> {
    #[serde(rename = "Type", borrow)]
    data_type: Cow<'a, str>,
    #[serde(rename = "Value", borrow)]
    value: Cow<'a, str>,
}

/// Unwraps `text` when it is an SNS envelope: a JSON object holding both `Type` and
/// `Message` as strings. Returns `Ok(None)` for anything else (a raw JSON-RPC body,
/// a fragment, garbage), which the caller then decodes as a raw body, and
/// [`DecodeError::Ambiguous`] for an envelope that also has a `jsonrpc` member.
///
/// Keys are matched as AWS and moto write them (unescaped, any order, any
/// whitespace). A body that does not contain both `"Type"` and `"Message"` literally
/// is not parsed here at all, which keeps raw bodies at a single parse.
pub(crate) fn unwrap(text: &str) -> Result<Option<Envelope>, DecodeError> {
    if !text.trim_start().starts_with('{') || !text.contains("\"Message\"") || !text.contains("\"Type\"") {
        return Ok(None);
    }
    // Invalid JSON (or duplicate keys) is left for the raw decoder to report.
    let Ok(shape) = serde_json::from_str::<Shape<'_>>(text) else {
        return Ok(None);
    };
    let (Some(kind), Some(message)) = (shape.kind.and_then(string), shape.message.and_then(string)) else {
        return Ok(None);
    };
    // A JSON-RPC message that also has the envelope's `Type` and `Message` could be
    // either: an SNS consumer reads the envelope, a JSON-RPC peer the message.
    // Neither reading is safe to pick.
    if shape.jsonrpc.is_some() {
        return Err(DecodeError::Ambiguous);
    }
    if kind != "Notification" {
        return Err(bad(format!(
            "Type is {}, expected \"Notification\" (confirm subscriptions out of band, not through asyncmcp)",
            clip_debug(&kind)
        )));
    }
    let required = |raw: Option<&RawValue>, key: &str| {
        raw.and_then(string).map(Cow::into_owned).ok_or_else(|| bad(format!("{key} is missing or not a string")))
    };
    let notification = SnsNotification {
        message_id: required(shape.message_id, "MessageId")?,
        topic_arn: required(shape.topic_arn, "TopicArn")?,
        timestamp: shape.timestamp.and_then(string).map(Cow::into_owned),
    };
    let attributes = match shape.attributes {
        None => Attributes::new(),
        Some(raw) if raw.get() == "null" => Attributes::new(),
        Some(raw) => {
            let parsed: BTreeMap<Cow<'_, str>, EnvelopeAttribute<'_>> =
                serde_json::from_str(raw.get()).map_err(|e| {
                    bad(format!("MessageAttributes is not {{\"Name\": {{\"Type\", \"Value\"}}}}: {}", clip_display(&e)))
                })?;
            parsed
                .into_iter()
                .map(|(name, a)| {
                    (
                        name.into_owned(),
                        AttributeValue { data_type: a.data_type.into_owned(), value: a.value.into_owned() },
                    )
                })
                .collect()
        }
    };
    Ok(Some(Envelope { message: message.into_owned(), attributes, notification }))
}

/// Whether `text` is a JSON-RPC message shaped like an SNS envelope: a body that
/// reads both ways, raw or once unwrapped from an envelope.
pub(crate) fn is_ambiguous(text: &str) -> bool {
    matches!(unwrap(text), Err(DecodeError::Ambiguous))
}

/// The string a raw JSON value holds, or `None` when it is not a string.
fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    if !raw.get().starts_with('"') {
        return None;
    }
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    serde_json::from_str::<Text<'_>>(raw.get()).ok().map(|t| t.0)
}

fn bad(detail: String) -> DecodeError {
    DecodeError::BadEnvelope { detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(kind: &str, message: &str) -> serde_json::Value {
        serde_json::json!({
            "Type": kind,
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": message,
            "Timestamp": "2026-11-26T16:12:45.775Z",
            "MessageAttributes": {
                "MessageType": {"Type": "String", "Value": "jsonrpc"},
                "Timestamp": {"Type": "Number", "Value": "1795709565"},
            },
        })
    }

    #[test]
    fn unwraps_compact_and_pretty() {
        let inner = r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"Type":"x","Message":"\"q\""}}"#;
        let value = envelope("Notification", inner);
        for text in [serde_json::to_string(&value).unwrap(), serde_json::to_string_pretty(&value).unwrap()] {
            let env = unwrap(&text).unwrap().unwrap();
            assert_eq!(env.message, inner);
            assert_eq!(env.notification.message_id, "m-1");
            assert_eq!(env.notification.topic_arn, "arn:aws:sns:us-east-1:123456789012:t");
            assert_eq!(env.notification.timestamp.as_deref(), Some("2026-11-26T16:12:45.775Z"));
            assert_eq!(env.attributes.get("Timestamp"), Some(&AttributeValue::number(1_795_709_565u64)));
            assert_eq!(env.attributes.get("MessageType"), Some(&AttributeValue::string("jsonrpc")));
        }
    }

    #[test]
    fn json_rpc_bodies_are_not_envelopes() {
        for text in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","method":"x","params":{"Type":"Notification","Message":"m"}}"#,
            r#"{"Type":"Notification"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","Type":"Notification","Message":{}}"#,
            r#"{"Type":1,"Message":"m"}"#,
            r#"{"Type":"Notification","Message":{"a":1}}"#,
            r#"{"Type":"Notification","Message":"x""#,
            r#"["Type","Message"]"#,
            "",
        ] {
            assert!(unwrap(text).unwrap().is_none(), "{text}");
        }
    }

    #[test]
    fn json_rpc_shaped_like_an_envelope_is_ambiguous() {
        for text in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","Type":"Notification","Message":"{}","MessageId":"m","TopicArn":"t"}"#,
            r#"{"Type":"SubscriptionConfirmation","Message":"m","jsonrpc":"2.0","method":"x"}"#,
        ] {
            assert_eq!(unwrap(text).err(), Some(DecodeError::Ambiguous), "{text}");
        }
    }

    #[test]
    fn rejects_other_types() {
        let text = serde_json::to_string(&envelope("SubscriptionConfirmation", "{}")).unwrap();
        match unwrap(&text) {
            Err(DecodeError::BadEnvelope { detail }) => assert!(detail.contains("SubscriptionConfirmation")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let mut missing_id = envelope("Notification", "{}");
        missing_id.as_object_mut().unwrap().remove("MessageId");
        let mut bad_attrs = envelope("Notification", "{}");
        bad_attrs["MessageAttributes"] = serde_json::json!({"A": {"Type": "String"}});
        let mut attrs_not_object = envelope("Notification", "{}");
        attrs_not_object["MessageAttributes"] = serde_json::json!([1]);
        let mut value_not_string = envelope("Notification", "{}");
        value_not_string["MessageAttributes"] = serde_json::json!({"A": {"Type": "Number", "Value": 1}});
        for value in [missing_id, bad_attrs, attrs_not_object, value_not_string] {
            let text = serde_json::to_string(&value).unwrap();
            assert!(matches!(unwrap(&text), Err(DecodeError::BadEnvelope { .. })), "{text}");
        }
    }

    #[test]
    fn null_or_missing_attributes_are_empty() {
        let mut value = envelope("Notification", "{}");
        value["MessageAttributes"] = serde_json::Value::Null;
        assert!(unwrap(&value.to_string()).unwrap().unwrap().attributes.is_empty());
        value.as_object_mut().unwrap().remove("MessageAttributes");
        assert!(unwrap(&value.to_string()).unwrap().unwrap().attributes.is_empty());
    }
}
