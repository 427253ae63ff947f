//! What SQS `ReceiveMessage` returned, as plain values.

use bytes::Bytes;

use crate::attributes::Attributes;

/// One message as SQS `ReceiveMessage` returned it, before any decoding.
///
/// The driver fills this from the SDK's response; tests and the simulator build it
/// directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// SQS `MessageId`.
    pub message_id: String,
    /// SQS `ReceiptHandle`: needed to delete the message or change its visibility.
    pub receipt_handle: String,
    /// The body exactly as received (a raw JSON-RPC message or an SNS envelope).
    pub body: Bytes,
    /// SQS message attributes (empty when an SNS envelope carries them instead).
    pub attributes: Attributes,
    /// The system attribute `ApproximateReceiveCount` (1 on first delivery).
    pub receive_count: u32,
    /// The system attribute `SentTimestamp`, in Unix milliseconds, if requested.
    pub sent_timestamp_ms: Option<u64>,
    /// Set by the queue client when the message came through S3 (see
    /// [`offload`](crate::offload)): where the payload was, and why it is not the
    /// body when it could not be fetched.
    pub offload: Option<crate::offload::InboundOffload>,
}

impl InboundMessage {
    /// A message with no attributes, received for the first time.
    pub fn new(message_id: impl Into<String>, receipt_handle: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            message_id: message_id.into(),
            receipt_handle: receipt_handle.into(),
            body: body.into(),
            attributes: Attributes::new(),
            receive_count: 1,
            sent_timestamp_ms: None,
            offload: None,
        }
    }
}
