//! Pure encode and decode of queue messages: raw SQS bodies, SNS envelopes,
//! attributes and fragments. No state.
//!
//! [`decode`] turns what `ReceiveMessage` returned into a [`Decoded`] message;
//! [`encode`] turns a JSON-RPC message plus its [`WireMeta`] into one or more
//! [`Encoded`] bodies with attributes, within a [`SizeLimits`] budget.
//!
//! Both are pure functions: no state, no I/O, no clock, and they never panic on any
//! input. A raw body is passed through as the same [`Bytes`] buffer (no copy) both
//! ways; fragments are slices of the original buffer.
//!
//! ```
//! use asyncmcp_proto::attributes::AttributeValue;
//! use asyncmcp_proto::codec::{decode, encode, Payload, SizeLimits};
//! use asyncmcp_proto::{InboundMessage, MessageKind, RequestId};
//!
//! // What SQS ReceiveMessage returned from a Python asyncmcp client.
//! let mut msg = InboundMessage::new("msg-1", "receipt-1", r#"{"method":"tools/list","jsonrpc":"2.0","id":2}"#);
//! msg.attributes.insert("MessageType".into(), AttributeValue::string("jsonrpc"));
//! msg.attributes.insert("Timestamp".into(), AttributeValue::number(1795709490));
//! msg.attributes.insert("SessionId".into(), AttributeValue::string("6063cd47514e409da7b4f61be62c3464"));
//!
//! let decoded = decode(&msg).unwrap();
//! let Payload::Message(request) = &decoded.payload else { panic!("not a fragment") };
//! assert_eq!(request.kind(), MessageKind::Request);
//! assert_eq!(request.id(), Some(&RequestId::Number(2)));
//! assert_eq!(decoded.meta.timestamp, Some(1795709490));
//! assert!(decoded.sns.is_none());
//!
//! // And back: one body (it fits), the same bytes, the same attributes.
//! let out = encode(request, &decoded.meta, &SizeLimits::default(), None).unwrap();
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].body, msg.body);
//! assert_eq!(out[0].attributes, msg.attributes);
//! ```

mod decode;
mod encode;
mod ext;
mod size;
mod sns;
mod xml;

pub use decode::decode;
pub(crate) use decode::{recover_request, request_id_of, routing_keys};
pub use encode::{encode, encode_attributes};
pub use ext::{Ext, FragmentHeader, MAX_FRAGMENTS, MIN_MESSAGE_BYTES};
pub use size::{ENVELOPE_OVERHEAD, SNS_MAX_BYTES, SQS_MAX_BYTES, SizeLimits, encoded_size, json_escaped_len};
pub use sns::SnsNotification;
pub(crate) use sns::is_ambiguous;
pub(crate) use sns::{Envelope as SnsEnvelope, unwrap as unwrap_sns};
pub use xml::check_xml_chars;

pub use crate::jsonrpc::MAX_NESTING_DEPTH;

use bytes::Bytes;

use crate::address::Address;
use crate::attributes::Attributes;
use crate::jsonrpc::JsonRpcMessage;
use crate::session_id::SessionId;

/// The routing facts a message carries in its attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireMeta {
    /// `Timestamp`: Unix seconds when sent.
    pub timestamp: Option<u64>,
    /// `RequestId`: the JSON-RPC id of a request, as text.
    pub request_id: Option<String>,
    /// `Method`: the method of a request or notification.
    pub method: Option<String>,
    /// `SessionId`: legacy-era session.
    pub session_id: Option<SessionId>,
    /// `ClientId`.
    pub client_id: Option<String>,
    /// `ProtocolVersion`, when a peer sets it (asyncmcp never writes it).
    pub protocol_version: Option<String>,
    /// `ReplyTo` (extension): where replies go.
    pub reply_to: Option<Address>,
    /// `AsyncMcpExt` (extension): sequence number, fragment header, capabilities.
    pub ext: Ext,
    /// Every other attribute, passed through untouched (user-configured custom
    /// attributes on the way out).
    pub custom: Attributes,
}

/// What a body carries: a whole message, or one fragment of a larger one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload {
    /// A whole JSON-RPC message.
    Message(JsonRpcMessage),
    /// One fragment; see [`FragmentHeader`].
    Fragment {
        /// Which fragment of which message.
        header: FragmentHeader,
        /// This fragment's bytes (a slice of the original message's UTF-8 text).
        data: Bytes,
    },
}

/// A decoded inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The message or fragment.
    pub payload: Payload,
    /// Routing facts from the attributes (SQS-level attributes win over the SNS
    /// envelope's on a conflict).
    pub meta: WireMeta,
    /// Present when the body was an SNS envelope (non-raw delivery).
    pub sns: Option<SnsNotification>,
}

/// One outbound body with its attributes, ready for `SendMessage` or `Publish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The body.
    pub body: Bytes,
    /// The attributes (at most 10).
    pub attributes: Attributes,
}
