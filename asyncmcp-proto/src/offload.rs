//! S3 offload (claim check) in the wire format of AWS's extended client libraries.
//!
//! A message too large for its queue or topic goes to an S3 object; the message
//! carries a pointer to it instead. The format is the one
//! `amazon-sqs-java-extended-client-lib`, `amazon-sqs-extended-client` (Python) and
//! `amazon-sns-java-extended-client-lib` write and read, so their users and asyncmcp
//! read each other's large messages:
//!
//! - the body is the pointer `["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"..","s3Key":".."}]`
//!   (Jackson's default typing of `PayloadS3Pointer`: payload-offloading-java-common-lib-for-aws,
//!   `src/main/java/software/amazon/payloadoffloading/PayloadS3Pointer.java` and
//!   `JsonDataConverter.java`); the Python client writes the same array with spaces
//!   after `,` and `:` (`src/sqs_extended_client/client.py`, `_store_message_in_s3`),
//!   and the legacy class name `com.amazon.sqs.javamessaging.MessageS3Pointer` is
//!   read too (`AmazonSQSExtendedClient.java`, `receiveMessage`);
//! - the message attribute `ExtendedPayloadSize` (`Number`: the payload's UTF-8
//!   length) marks it; the legacy name `SQSLargePayloadSize` is read too
//!   (`SQSExtendedClientConstants.java`, `AmazonSQSExtendedClientUtil.java`);
//! - the object key is a random UUID, after an optional prefix
//!   (`AmazonSQSExtendedClient.java`, `storeOriginalPayload`);
//! - a receiver that resolved a pointer hands out the receipt handle
//!   `-..s3BucketName..-BUCKET-..s3BucketName..--..s3Key..-KEY-..s3Key..-HANDLE`, so
//!   that a delete knows which object to delete; the original handle is what follows
//!   the second `-..s3Key..-` (`AmazonSQSExtendedClientUtil.java`,
//!   `embedS3PointerInReceiptHandle` and `getOrigReceiptHandle`).
//!
//! Everything here is pure: the core decides and formats, the driver's queue client
//! does the S3 calls (`asyncmcp-aws`, feature `s3`).
//!
//! ```
//! use asyncmcp_proto::offload::S3Pointer;
//!
//! let pointer = S3Pointer { bucket: "b".into(), key: "k".into() };
//! let body = pointer.to_body();
//! assert_eq!(body, r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k"}]"#);
//! assert_eq!(S3Pointer::parse(body.as_bytes()), Some(pointer.clone()));
//!
//! let handle = pointer.embed_in_receipt_handle("AQEB+abc==");
//! assert_eq!(handle, "-..s3BucketName..-b-..s3BucketName..--..s3Key..-k-..s3Key..-AQEB+abc==");
//! assert_eq!(S3Pointer::split_receipt_handle(&handle), (Some(pointer), "AQEB+abc=="));
//! ```

use bytes::Bytes;
use serde_json::Value;

use crate::address::Address;
use crate::attributes::{AttributeValue, Attributes, MAX_SQS_ATTRIBUTES};
use crate::codec::{self, SizeLimits, WireMeta};
use crate::error::{ApiError, ConfigError, Unsendable};
use crate::inbound::InboundMessage;
use crate::jsonrpc::JsonRpcMessage;
use crate::op::SendOp;
use crate::rng::Rng;

/// The pointer's class name, as the current libraries write it.
pub const POINTER_CLASS: &str = "software.amazon.payloadoffloading.PayloadS3Pointer";
/// The class name older Java clients wrote; read, never written.
pub const LEGACY_POINTER_CLASS: &str = "com.amazon.sqs.javamessaging.MessageS3Pointer";
/// The attribute that marks an offloaded message (`Number`: the payload's size in bytes).
pub const SIZE_ATTRIBUTE: &str = "ExtendedPayloadSize";
/// The name older clients used for [`SIZE_ATTRIBUTE`]; read, never written.
pub const LEGACY_SIZE_ATTRIBUTE: &str = "SQSLargePayloadSize";
/// Brackets the bucket name in a receipt handle that carries a pointer.
pub const BUCKET_MARKER: &str = "-..s3BucketName..-";
/// Brackets the object key in a receipt handle that carries a pointer.
pub const KEY_MARKER: &str = "-..s3Key..-";

/// Where an offloaded payload lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct S3Pointer {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
}

impl S3Pointer {
    /// The message body that points at this object, as the Java libraries write it
    /// (compact JSON).
    pub fn to_body(&self) -> String {
        serde_json::json!([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}]).to_string()
    }

    /// Reads a pointer body, as any of the libraries writes it (either class name,
    /// any JSON whitespace, members in any order, unknown members ignored as Jackson
    /// does). `None` for anything else; never panics.
    pub fn parse(body: &[u8]) -> Option<S3Pointer> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let Value::Array(items) = value else { return None };
        let [Value::String(class), Value::Object(fields)] = items.as_slice() else { return None };
        if class != POINTER_CLASS && class != LEGACY_POINTER_CLASS {
            return None;
        }
        let bucket = fields.get("s3BucketName")?.as_str()?;
        let key = fields.get("s3Key")?.as_str()?;
        if bucket.is_empty() || key.is_empty() {
            return None;
        }
        Some(S3Pointer { bucket: bucket.to_owned(), key: key.to_owned() })
    }

    /// `receipt_handle` with this pointer in front, as the libraries hand it out.
    pub fn embed_in_receipt_handle(&self, receipt_handle: &str) -> String {
        format!("{BUCKET_MARKER}{}{BUCKET_MARKER}{KEY_MARKER}{}{KEY_MARKER}{receipt_handle}", self.bucket, self.key)
    }

    /// Splits a receipt handle into the pointer it carries (if any) and the handle
    /// SQS issued, which is what `DeleteMessage` and `ChangeMessageVisibility` take.
    /// A handle without both markers is returned whole.
    pub fn split_receipt_handle(handle: &str) -> (Option<S3Pointer>, &str) {
        let between = |text: &str, marker: &str| -> Option<(usize, usize)> {
            let start = text.find(marker)? + marker.len();
            let end = start + text.get(start..)?.find(marker)?;
            Some((start, end))
        };
        let Some((bucket_start, bucket_end)) = between(handle, BUCKET_MARKER) else { return (None, handle) };
        let Some((key_start, key_end)) = between(handle, KEY_MARKER) else { return (None, handle) };
        let (Some(bucket), Some(key), Some(original)) = (
            handle.get(bucket_start..bucket_end),
            handle.get(key_start..key_end),
            handle.get(key_end + KEY_MARKER.len()..),
        ) else {
            return (None, handle);
        };
        (Some(S3Pointer { bucket: bucket.to_owned(), key: key.to_owned() }), original)
    }
}

impl std::fmt::Display for S3Pointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Sending side: where large messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OffloadConfig {
    /// The bucket payloads are written to.
    pub bucket: String,
    /// Put before each object's UUID key (letters, digits, `/`, `_`, `-`, `.`; not
    /// starting with `.` or `/`, no `..`, at most 988 characters: the Java client's
    /// rules). Empty by default.
    pub key_prefix: String,
    /// Offload every message whose size (body and attributes, as SQS counts them)
    /// is above this many bytes, even when it would fit the destination. A message
    /// above the destination's budget is offloaded whatever this says. Default
    /// 262,144, the libraries' threshold.
    pub threshold: usize,
}

impl OffloadConfig {
    /// Offload to `bucket`, with no key prefix and the libraries' 256 KiB threshold.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self { bucket: bucket.into(), key_prefix: String::new(), threshold: DEFAULT_THRESHOLD }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, detail: String| Err(ConfigError::Invalid { field, detail });
        if self.bucket.is_empty() || self.bucket.contains(BUCKET_MARKER) {
            return invalid("offload.bucket", format!("{:?} is not a bucket name", self.bucket));
        }
        let prefix = &self.key_prefix;
        if prefix.len() > MAX_KEY_PREFIX
            || prefix.starts_with(['.', '/'])
            || prefix.contains("..")
            || !prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"./_-".contains(&b))
        {
            return invalid(
                "offload.key_prefix",
                format!(
                    "{prefix:?}: use at most {MAX_KEY_PREFIX} letters, digits, '/', '_', '-' and '.', \
                     not starting with '.' or '/' and without '..'"
                ),
            );
        }
        Ok(())
    }
}

/// The libraries' default threshold: 256 KiB.
pub const DEFAULT_THRESHOLD: usize = 262_144;

/// S3 keys are at most 1024 bytes; the UUID takes 36 of them.
const MAX_KEY_PREFIX: usize = 1024 - 36;

/// An object to write before a message is sent: the payload the message points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Put {
    /// Where it goes.
    pub pointer: S3Pointer,
    /// The payload: the JSON-RPC message's UTF-8 text.
    pub payload: Bytes,
}

/// How a received message came through S3: set by the queue client on a message
/// whose body was a pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundOffload {
    /// Where the payload is; `None` when the message is marked as offloaded but its
    /// body is not a pointer.
    pub pointer: Option<S3Pointer>,
    /// The size of the message as SQS delivered it (pointer body and attributes):
    /// what the receive was billed for.
    pub wire_bytes: usize,
    /// Why the payload is not the body, when it is not; `None` when the body was
    /// replaced by the payload.
    pub failure: Option<FetchFailure>,
}

/// Why an offloaded payload could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchFailure {
    /// A failure that may pass (throttling, a 5xx, the network): the message is left
    /// on the queue for redelivery.
    #[error("fetching it failed and may succeed later: {detail}")]
    Transient {
        /// What the S3 call said.
        detail: String,
    },
    /// The object is not there (deleted by another consumer, expired, or never
    /// written).
    #[error("the object does not exist: {detail}")]
    NotFound {
        /// What the S3 call said.
        detail: String,
    },
    /// The payload is larger than the receiver fetches.
    #[error("the payload is {size} bytes, above the {cap}-byte fetch cap")]
    TooLarge {
        /// Its size (from the size attribute or the object).
        size: u64,
        /// The configured cap.
        cap: u64,
    },
    /// Any other failure that will not pass (access denied, a payload that is not
    /// UTF-8).
    #[error("fetching it failed: {detail}")]
    Refused {
        /// What went wrong.
        detail: String,
    },
    /// The receiver has no S3 offload (no bucket access configured, or built without
    /// the `s3` feature).
    #[error("this endpoint does not fetch offloaded payloads (S3 offload is not configured)")]
    NotConfigured,
    /// The message carries the size attribute but its body is not a pointer.
    #[error("the body is not an S3 pointer")]
    NotAPointer,
}

impl FetchFailure {
    /// Whether the message should be left for redelivery rather than disposed of.
    pub fn is_transient(&self) -> bool {
        matches!(self, FetchFailure::Transient { .. })
    }
}

/// A received message whose body should be fetched from S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerFound {
    /// The pointer; `None` when the message is marked as offloaded but its body is
    /// not a pointer.
    pub pointer: Option<S3Pointer>,
    /// The payload size the sender declared in the size attribute, when it is a number.
    pub declared_size: Option<u64>,
}

/// Whether `msg` is an offloaded message: it carries [`SIZE_ATTRIBUTE`] (or
/// [`LEGACY_SIZE_ATTRIBUTE`]) as an SQS attribute, or, for an SNS envelope (non-raw
/// delivery), among the envelope's attributes. Peer input: never panics.
pub fn find_pointer(msg: &InboundMessage) -> Option<PointerFound> {
    if let Some(size) = size_attribute(&msg.attributes) {
        return Some(PointerFound { pointer: S3Pointer::parse(&msg.body), declared_size: parse_size(size) });
    }
    let envelope = envelope_of(&msg.body)?;
    let size = size_attribute(&envelope.attributes)?;
    Some(PointerFound { pointer: S3Pointer::parse(envelope.message.as_bytes()), declared_size: parse_size(size) })
}

/// `msg` with its body replaced by the fetched `payload`, ready for the core: the
/// size attribute removed, the receipt handle carrying `pointer` (so that deleting
/// the message can delete the object), and [`InboundMessage::offload`] set. An SNS
/// envelope is flattened to what raw delivery would have given: the payload as the
/// body and the envelope's attributes as message attributes.
pub fn resolved(mut msg: InboundMessage, pointer: S3Pointer, payload: Bytes) -> InboundMessage {
    let wire_bytes = crate::codec::encoded_size(&msg.body, &msg.attributes, false);
    if size_attribute(&msg.attributes).is_none()
        && let Some(envelope) = envelope_of(&msg.body)
    {
        let mut attributes = envelope.attributes;
        attributes.append(&mut msg.attributes);
        msg.attributes = attributes;
    }
    msg.attributes.remove(SIZE_ATTRIBUTE);
    msg.attributes.remove(LEGACY_SIZE_ATTRIBUTE);
    msg.body = payload;
    msg.receipt_handle = pointer.embed_in_receipt_handle(&msg.receipt_handle);
    msg.offload = Some(InboundOffload { pointer: Some(pointer), wire_bytes, failure: None });
    msg
}

/// `msg` marked as an offloaded message whose payload could not be fetched: the
/// core rejects it with [`DecodeError::Offloaded`](crate::DecodeError::Offloaded),
/// leaving it for redelivery when `failure` [is transient](FetchFailure::is_transient).
pub fn unresolved(mut msg: InboundMessage, pointer: Option<S3Pointer>, failure: FetchFailure) -> InboundMessage {
    let wire_bytes = crate::codec::encoded_size(&msg.body, &msg.attributes, false);
    msg.offload = Some(InboundOffload { pointer, wire_bytes, failure: Some(failure) });
    msg
}

/// Why the core refuses `msg` as an offloaded message it cannot read, if it does:
/// an unresolved pointer (the queue client's [`FetchFailure`]), or the size
/// attribute on a message nobody resolved.
pub(crate) fn refusal(msg: &InboundMessage) -> Option<(String, FetchFailure)> {
    if let Some(InboundOffload { pointer, failure: Some(failure), .. }) = &msg.offload {
        return Some((pointer.as_ref().map(S3Pointer::to_string).unwrap_or_default(), failure.clone()));
    }
    if msg.offload.is_some() {
        return None;
    }
    let found = find_pointer(msg)?;
    Some(match found.pointer {
        Some(pointer) => (pointer.to_string(), FetchFailure::NotConfigured),
        None => (String::new(), FetchFailure::NotAPointer),
    })
}

/// A random object key shaped like the libraries' (`prefix` then a version 4 UUID).
pub(crate) fn object_key(prefix: &str, random: u128) -> String {
    let v4 = (random & !(0xF000u128 << 64) & !(0xC000u128 << 48)) | (0x4000u128 << 64) | (0x8000u128 << 48);
    let hex = format!("{v4:032x}");
    let part = |a: usize, b: usize| hex.get(a..b).unwrap_or_default();
    format!("{prefix}{}-{}-{}-{}-{}", part(0, 8), part(8, 12), part(12, 16), part(16, 20), part(20, 32))
}

/// The one send op of `message` through S3, when `config` is set and the message is
/// above the threshold or the budget (`limits`): its body the pointer, its attributes
/// those of `meta` plus [`SIZE_ATTRIBUTE`], the payload in [`SendOp::offload`]. FIFO
/// fields are the caller's. `None` when the message goes inline, or when the pointer
/// cannot go either (no room for one more attribute, or attributes alone over the
/// budget): fragments or the sized error then.
pub(crate) fn send(
    config: Option<&OffloadConfig>,
    message: &JsonRpcMessage,
    meta: &WireMeta,
    limits: &SizeLimits,
    to: &Address,
    rng: &mut Rng,
) -> Result<Option<SendOp>, ApiError> {
    let Some(config) = config else { return Ok(None) };
    let inline = SizeLimits { max_bytes: config.threshold.min(limits.max_bytes), ..*limits };
    match codec::encode(message, meta, &inline, None) {
        Ok(_) => return Ok(None),
        Err(ApiError::Unsendable(Unsendable::TooLarge { .. })) => {}
        Err(e) => return Err(e),
    }
    let mut attributes = codec::encode_attributes(meta);
    if attributes.len() >= MAX_SQS_ATTRIBUTES {
        return Ok(None);
    }
    attributes.insert(SIZE_ATTRIBUTE.to_owned(), AttributeValue::number(message.body().len()));
    let pointer = S3Pointer { bucket: config.bucket.clone(), key: object_key(&config.key_prefix, rng.next_u128()) };
    let body = Bytes::from(pointer.to_body());
    if codec::encoded_size(&body, &attributes, limits.envelope) > limits.max_bytes {
        return Ok(None);
    }
    Ok(Some(SendOp {
        to: to.clone(),
        body,
        attributes,
        group_id: None,
        dedup_id: None,
        offload: Some(S3Put { pointer, payload: message.body().clone() }),
    }))
}

fn size_attribute(attributes: &Attributes) -> Option<&str> {
    attributes.get(SIZE_ATTRIBUTE).or_else(|| attributes.get(LEGACY_SIZE_ATTRIBUTE)).map(|v| v.value.as_str())
}

fn parse_size(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

fn envelope_of(body: &[u8]) -> Option<crate::codec::SnsEnvelope> {
    let text = std::str::from_utf8(body).ok()?;
    crate::codec::unwrap_sns(text).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_uuid_v4_shaped() {
        let key = object_key("p/", u128::MAX);
        assert_eq!(key, "p/ffffffff-ffff-4fff-bfff-ffffffffffff");
        let key = object_key("", 0);
        assert_eq!(key, "00000000-0000-4000-8000-000000000000");
    }
}
