//! SQS message attributes: the names asyncmcp uses and their values.

use std::collections::BTreeMap;

/// One SQS message attribute (`DataType` plus its string value).
///
/// asyncmcp only writes `String` and `Number` attributes. A `Binary` attribute
/// received from a peer is kept with `data_type == "Binary"` and its value as the
/// driver presents it (base64); asyncmcp never interprets it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttributeValue {
    /// `String`, `Number` or `Binary`, optionally with a custom suffix (`String.foo`).
    pub data_type: String,
    /// The value as text.
    pub value: String,
}

impl AttributeValue {
    /// A `String` attribute.
    pub fn string(value: impl Into<String>) -> Self {
        Self { data_type: "String".to_owned(), value: value.into() }
    }

    /// A `Number` attribute.
    pub fn number(value: impl ToString) -> Self {
        Self { data_type: "Number".to_owned(), value: value.to_string() }
    }
}

/// Message attributes by name, in a deterministic order.
pub type Attributes = BTreeMap<String, AttributeValue>;

/// Attribute names shared with the Python asyncmcp, and asyncmcp's own extensions.
pub mod names {
    /// `jsonrpc` on every message.
    pub const MESSAGE_TYPE: &str = "MessageType";
    /// Unix seconds when sent (Number).
    pub const TIMESTAMP: &str = "Timestamp";
    /// The JSON-RPC id of a request, as text.
    pub const REQUEST_ID: &str = "RequestId";
    /// The method of a request or notification.
    pub const METHOD: &str = "Method";
    /// The legacy-era session id: 32 lowercase hex characters.
    pub const SESSION_ID: &str = "SessionId";
    /// The client's id.
    pub const CLIENT_ID: &str = "ClientId";
    /// The MCP protocol version; checked when present, never written by asyncmcp.
    pub const PROTOCOL_VERSION: &str = "ProtocolVersion";
    /// Extension: where to send replies (a queue URL or topic ARN).
    pub const REPLY_TO: &str = "ReplyTo";
    /// Extension: `;`-separated `key=value` pairs (sequence number, fragment header,
    /// capabilities). See `docs/binding.md`.
    pub const EXT: &str = "AsyncMcpExt";

    /// Every name asyncmcp writes; SQS allows 10 attributes per message, so at most
    /// `10 - OWN.len()` custom attributes fit beside them.
    pub const OWN: [&str; 8] = [MESSAGE_TYPE, TIMESTAMP, REQUEST_ID, METHOD, SESSION_ID, CLIENT_ID, REPLY_TO, EXT];
}

/// The value of `MessageType` on every asyncmcp message.
pub const MESSAGE_TYPE_JSONRPC: &str = "jsonrpc";

/// SQS allows at most this many message attributes on one message.
pub const MAX_SQS_ATTRIBUTES: usize = 10;

/// At most this many user-configured custom attributes fit beside asyncmcp's own.
pub const MAX_CUSTOM_ATTRIBUTES: usize = MAX_SQS_ATTRIBUTES - names::OWN.len();
