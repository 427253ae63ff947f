//! Plain values of `asyncmcp-proto` to and from the SDK's types.

use std::collections::HashMap;

use asyncmcp_proto::attributes::{AttributeValue, Attributes};
use asyncmcp_proto::{FailureKind, InboundMessage, OpFailure};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use bytes::Bytes;

/// SQS `ReceiveMessage` allows 1 to 10 messages per call.
pub(crate) const MAX_BATCH: usize = 10;

/// SQS long polling waits at most 20 s.
pub(crate) const MAX_WAIT_SECS: u64 = 20;

/// SQS visibility timeouts are at most 12 hours.
pub(crate) const MAX_VISIBILITY_SECS: u32 = 43_200;

/// One received SQS message as an [`InboundMessage`]; `None` when SQS left out the
/// message id or receipt handle (it never does, but the SDK types allow it).
pub(crate) fn inbound(mut message: Message) -> Option<InboundMessage> {
    let message_id = message.message_id.take()?;
    let receipt_handle = message.receipt_handle.take()?;
    let body = Bytes::from(message.body.take().unwrap_or_default());
    let system = message.attributes.take().unwrap_or_default();
    let receive_count = system
        .get(&MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    let sent_timestamp_ms = system.get(&MessageSystemAttributeName::SentTimestamp).and_then(|v| v.parse::<u64>().ok());
    let attributes = message
        .message_attributes
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value)| from_sqs_attribute(&value).map(|v| (name, v)))
        .collect();
    Some(InboundMessage {
        message_id,
        receipt_handle,
        body,
        attributes,
        receive_count,
        sent_timestamp_ms,
        offload: None,
    })
}

/// A received attribute: String and Number values as text, Binary ones as base64.
/// List values (reserved by SQS, never sent) are dropped.
fn from_sqs_attribute(value: &aws_sdk_sqs::types::MessageAttributeValue) -> Option<AttributeValue> {
    let data_type = value.data_type().to_owned();
    if let Some(text) = value.string_value() {
        return Some(AttributeValue { data_type, value: text.to_owned() });
    }
    value
        .binary_value()
        .map(|blob| AttributeValue { data_type, value: aws_smithy_types::base64::encode(blob.as_ref()) })
}

/// Whether an attribute's data type is `Binary` (possibly with a custom suffix).
fn is_binary(data_type: &str) -> bool {
    data_type == "Binary" || data_type.starts_with("Binary.")
}

/// The bytes of a `Binary` attribute, given as base64 text.
fn binary(name: &str, value: &AttributeValue) -> Result<Blob, OpFailure> {
    aws_smithy_types::base64::decode(&value.value).map(Blob::new).map_err(|e| {
        OpFailure::new(FailureKind::Invalid, format!("attribute {name} is Binary but its value is not base64: {e}"))
    })
}

/// Writes a function converting our attributes into one SDK's `MessageAttributeValue`
/// map: SQS and SNS have distinct types with the same builder.
macro_rules! outbound_attributes {
    ($(#[$doc:meta])* $name:ident, $sdk:ty) => {
        $(#[$doc])*
        pub(crate) fn $name(attributes: &Attributes) -> Result<Option<HashMap<String, $sdk>>, OpFailure> {
            if attributes.is_empty() {
                return Ok(None);
            }
            attributes
                .iter()
                .map(|(name, value)| {
                    let builder = <$sdk>::builder().data_type(&value.data_type);
                    let builder = if is_binary(&value.data_type) {
                        builder.binary_value(binary(name, value)?)
                    } else {
                        builder.string_value(&value.value)
                    };
                    let built = builder.build().map_err(|e| OpFailure::new(FailureKind::Invalid, format!("attribute {name}: {e}")))?;
                    Ok((name.clone(), built))
                })
                .collect::<Result<HashMap<_, _>, _>>()
                .map(Some)
        }
    };
}

outbound_attributes!(
    /// Outbound attributes for SQS `SendMessage`.
    to_sqs_attributes,
    aws_sdk_sqs::types::MessageAttributeValue
);
outbound_attributes!(
    /// Outbound attributes for SNS `Publish`.
    to_sns_attributes,
    aws_sdk_sns::types::MessageAttributeValue
);

/// A body as the SDK wants it: UTF-8 text (SQS and SNS carry nothing else).
pub(crate) fn body_text(body: &Bytes, destination: &str) -> Result<String, OpFailure> {
    std::str::from_utf8(body).map(str::to_owned).map_err(|e| {
        OpFailure::new(
            FailureKind::Invalid,
            format!(
                "message for {destination} is not UTF-8 text (valid up to byte {}): SQS and SNS carry only text",
                e.valid_up_to()
            ),
        )
    })
}

/// A seconds count as the SDK's `i32`, clamped to `max`.
pub(crate) fn secs(value: u64, max: u64) -> i32 {
    i32::try_from(value.min(max)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, AttributeValue)]) -> Attributes {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn received_message_keeps_everything() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body("{\"jsonrpc\":\"2.0\",\"method\":\"x\"}")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "3")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1795709490123")
            .message_attributes(
                "Method",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("x")
                    .build()
                    .expect("data type set"),
            )
            .message_attributes(
                "Blob",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(Blob::new(vec![0u8, 1, 2]))
                    .build()
                    .expect("data type set"),
            )
            .build();
        let inbound = inbound(message).expect("id and receipt present");
        assert_eq!(inbound.message_id, "m-1");
        assert_eq!(inbound.receipt_handle, "r-1");
        assert_eq!(inbound.receive_count, 3);
        assert_eq!(inbound.sent_timestamp_ms, Some(1_795_709_490_123));
        assert_eq!(inbound.attributes["Method"], AttributeValue::string("x"));
        assert_eq!(inbound.attributes["Blob"], AttributeValue { data_type: "Binary".into(), value: "AAEC".into() });
    }

    #[test]
    fn message_without_receipt_is_dropped() {
        assert!(inbound(Message::builder().message_id("m").build()).is_none());
    }

    #[test]
    fn outbound_attributes_round_trip_binary_through_base64() {
        let attributes = attrs(&[
            ("Timestamp", AttributeValue::number(17)),
            ("Blob", AttributeValue { data_type: "Binary".into(), value: "AAEC".into() }),
        ]);
        let sqs = to_sqs_attributes(&attributes).expect("valid").expect("not empty");
        assert_eq!(sqs["Timestamp"].data_type(), "Number");
        assert_eq!(sqs["Timestamp"].string_value(), Some("17"));
        assert_eq!(sqs["Blob"].binary_value().map(|b| b.as_ref().to_vec()), Some(vec![0, 1, 2]));
        let sns = to_sns_attributes(&attributes).expect("valid").expect("not empty");
        assert_eq!(sns["Timestamp"].string_value(), Some("17"));
        assert_eq!(sns["Blob"].binary_value().map(|b| b.as_ref().to_vec()), Some(vec![0, 1, 2]));
        assert!(to_sqs_attributes(&Attributes::new()).expect("valid").is_none());
    }

    #[test]
    fn bad_base64_and_bad_utf8_are_fatal() {
        let attributes = attrs(&[("Blob", AttributeValue { data_type: "Binary".into(), value: "!!".into() })]);
        let err = to_sqs_attributes(&attributes).expect_err("not base64");
        assert!(!err.is_retryable() && err.detail.contains("Blob"));
        let err = body_text(&Bytes::from_static(b"\xff"), "queue q").expect_err("not UTF-8");
        assert!(!err.is_retryable() && err.detail.contains("queue q"));
    }
}
