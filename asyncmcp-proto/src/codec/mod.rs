//! Pure encode and decode of queue messages: raw SQS bodies, SNS envelopes,
//! attributes and fragments. No state.
//!
//! [`decode`] turns what `ReceiveMessage` returned into a [`Decoded`] message;
//! [`encode`] turns a JSON-RPC message plus its [`WireMeta`] into one or more
//! [`Encoded`] bodies with attributes, within a [`SizeLimits`] budget.

mod decode;
mod encode;
mod ext;
mod size;
mod sns;
mod xml;

pub use decode::decode;
pub use encode::{encode, encode_attributes};
pub use ext::{Ext, FragmentHeader};
pub use size::{SizeLimits, encoded_size, json_escaped_len};
pub use sns::SnsNotification;
pub use xml::check_xml_chars;

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
