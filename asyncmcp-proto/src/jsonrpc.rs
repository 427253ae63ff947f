//! One JSON-RPC 2.0 message, kept as its exact bytes plus the fields routing needs.

use std::fmt;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::DecodeError;

/// A JSON-RPC request id: a number or a string (`null` only on error responses to
/// messages whose id could not be read).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RequestId {
    /// A numeric id (MCP clients use integers).
    Number(i64),
    /// A string id.
    String(String),
    /// `null`: only on error responses that could not name the request.
    Null,
}

impl RequestId {
    /// The id as the text of the `RequestId` attribute: numbers in decimal, strings
    /// as they are, `null` as `null`.
    pub fn to_attribute(&self) -> String {
        match self {
            RequestId::Number(n) => n.to_string(),
            RequestId::String(s) => s.clone(),
            RequestId::Null => "null".to_owned(),
        }
    }

    /// The id as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            RequestId::Number(n) => serde_json::Value::from(*n),
            RequestId::String(s) => serde_json::Value::from(s.as_str()),
            RequestId::Null => serde_json::Value::Null,
        }
    }

    fn from_raw(raw: &RawValue) -> Result<Self, DecodeError> {
        let text = raw.get();
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Number(n)) => match n.as_i64() {
                Some(v) => Ok(RequestId::Number(v)),
                None => Err(DecodeError::BadId { detail: format!("id {text} is not an integer") }),
            },
            Ok(serde_json::Value::String(s)) => Ok(RequestId::String(s)),
            Ok(serde_json::Value::Null) => Ok(RequestId::Null),
            Ok(_) => Err(DecodeError::BadId { detail: format!("id {text} is neither a number nor a string") }),
            Err(e) => Err(DecodeError::BadId { detail: e.to_string() }),
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => write!(f, "{s:?}"),
            RequestId::Null => f.write_str("null"),
        }
    }
}

impl From<i64> for RequestId {
    fn from(v: i64) -> Self {
        RequestId::Number(v)
    }
}

impl From<&str> for RequestId {
    fn from(v: &str) -> Self {
        RequestId::String(v.to_owned())
    }
}

/// What a JSON-RPC message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// Has `method` and `id`: expects a response.
    Request,
    /// Has `method`, no `id`.
    Notification,
    /// Has `result` and `id`.
    Response,
    /// Has `error` and `id`.
    Error,
}

impl MessageKind {
    /// Requests and notifications carry a method; responses and errors do not.
    pub fn has_method(self) -> bool {
        matches!(self, MessageKind::Request | MessageKind::Notification)
    }

    /// Responses and errors answer a request.
    pub fn is_reply(self) -> bool {
        matches!(self, MessageKind::Response | MessageKind::Error)
    }
}

/// One JSON-RPC 2.0 message: its exact UTF-8 JSON text and the fields routing needs.
///
/// Parsing reads the object once, borrowing `params`, `result` and `error` as raw
/// slices without building values, so the body is passed on byte for byte.
///
/// ```
/// use asyncmcp_proto::{JsonRpcMessage, MessageKind, RequestId};
/// let m = JsonRpcMessage::parse(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#).unwrap();
/// assert_eq!(m.kind(), MessageKind::Request);
/// assert_eq!(m.id(), Some(&RequestId::Number(7)));
/// assert_eq!(m.method(), Some("tools/list"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct JsonRpcMessage {
    body: Bytes,
    kind: MessageKind,
    id: Option<RequestId>,
    method: Option<String>,
}

#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(borrow)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

// Keeps a member that is present with the value `null` (`"id": null`, `"result": null`)
// apart from an absent one: plain `Option` would read both as `None`.
fn present<'de, D>(d: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&'de RawValue as Deserialize<'de>>::deserialize(d).map(Some)
}

impl JsonRpcMessage {
    /// Parses exactly one JSON-RPC 2.0 message.
    ///
    /// # Errors
    /// A [`DecodeError`] when the text is not UTF-8, not JSON, a batch array, not an
    /// object, lacks `"jsonrpc": "2.0"`, has an id that is neither an integer nor a
    /// string, or is not exactly one of request, notification, response and error.
    pub fn parse(body: impl Into<Bytes>) -> Result<Self, DecodeError> {
        let body = body.into();
        let text = std::str::from_utf8(&body).map_err(|e| DecodeError::NotUtf8 { valid_up_to: e.valid_up_to() })?;
        let (kind, id, method) = Self::classify(text)?;
        Ok(Self { body, kind, id, method })
    }

    fn classify(text: &str) -> Result<(MessageKind, Option<RequestId>, Option<String>), DecodeError> {
        match text.trim_start().as_bytes().first() {
            Some(b'{') => {}
            Some(b'[') => return Err(DecodeError::Batch),
            Some(_) => {
                // Valid JSON that is not an object, or not JSON at all.
                return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                    Ok(_) => Err(DecodeError::NotAnObject),
                    Err(e) => Err(DecodeError::Json { detail: e.to_string() }),
                };
            }
            None => return Err(DecodeError::Json { detail: "empty body".to_owned() }),
        }
        let shape: Shape<'_> = serde_json::from_str(text).map_err(|e| DecodeError::Json { detail: e.to_string() })?;
        match shape.jsonrpc.map(RawValue::get) {
            Some("\"2.0\"") => {}
            Some(other) => {
                return Err(DecodeError::NotJsonRpc { detail: format!("jsonrpc is {other}, expected \"2.0\"") });
            }
            None => return Err(DecodeError::NotJsonRpc { detail: "missing \"jsonrpc\": \"2.0\"".to_owned() }),
        }
        let id = match shape.id {
            Some(raw) => Some(RequestId::from_raw(raw)?),
            None => None,
        };
        let method = shape.method.map(|m| m.into_owned());
        let kind = match (&method, &id, shape.result.is_some(), shape.error.is_some()) {
            (Some(_), Some(RequestId::Null), _, _) => {
                return Err(DecodeError::BadId { detail: "a request id must not be null".to_owned() });
            }
            (Some(_), Some(_), false, false) => MessageKind::Request,
            (Some(_), None, false, false) => MessageKind::Notification,
            (None, Some(_), true, false) => MessageKind::Response,
            (None, Some(_), false, true) => MessageKind::Error,
            _ => {
                return Err(DecodeError::NotJsonRpc {
                    detail: "not exactly one of request, notification, response, error".to_owned(),
                });
            }
        };
        if kind == MessageKind::Response && id == Some(RequestId::Null) {
            return Err(DecodeError::BadId { detail: "a result must name its request".to_owned() });
        }
        if let Some(params) = shape.params
            && !matches!(params.get().as_bytes().first(), Some(b'{' | b'['))
        {
            return Err(DecodeError::NotJsonRpc { detail: "params must be an object or an array".to_owned() });
        }
        Ok((kind, id, method))
    }

    /// Builds a message from a JSON value.
    ///
    /// # Errors
    /// As [`JsonRpcMessage::parse`].
    pub fn from_value(value: &serde_json::Value) -> Result<Self, DecodeError> {
        let text = serde_json::to_vec(value).map_err(|e| DecodeError::Json { detail: e.to_string() })?;
        Self::parse(text)
    }

    /// A request `{"jsonrpc":"2.0","id":id,"method":method,"params":params}`.
    pub fn request(id: RequestId, method: &str, params: Option<serde_json::Value>) -> Self {
        let mut obj = serde_json::Map::new();
        obj.insert("jsonrpc".into(), "2.0".into());
        obj.insert("id".into(), id.to_json());
        obj.insert("method".into(), method.into());
        if let Some(p) = params {
            obj.insert("params".into(), p);
        }
        Self::known(obj, MessageKind::Request, Some(id), Some(method.to_owned()))
    }

    /// A notification `{"jsonrpc":"2.0","method":method,"params":params}`.
    pub fn notification(method: &str, params: Option<serde_json::Value>) -> Self {
        let mut obj = serde_json::Map::new();
        obj.insert("jsonrpc".into(), "2.0".into());
        obj.insert("method".into(), method.into());
        if let Some(p) = params {
            obj.insert("params".into(), p);
        }
        Self::known(obj, MessageKind::Notification, None, Some(method.to_owned()))
    }

    /// A successful response.
    pub fn response(id: RequestId, result: serde_json::Value) -> Self {
        let mut obj = serde_json::Map::new();
        obj.insert("jsonrpc".into(), "2.0".into());
        obj.insert("id".into(), id.to_json());
        obj.insert("result".into(), result);
        Self::known(obj, MessageKind::Response, Some(id), None)
    }

    /// An error response with a JSON-RPC error code (see [`error_codes`](crate::error_codes)).
    pub fn error(id: RequestId, code: i64, message: &str, data: Option<serde_json::Value>) -> Self {
        let mut err = serde_json::Map::new();
        err.insert("code".into(), code.into());
        err.insert("message".into(), message.into());
        if let Some(d) = data {
            err.insert("data".into(), d);
        }
        let mut obj = serde_json::Map::new();
        obj.insert("jsonrpc".into(), "2.0".into());
        obj.insert("id".into(), id.to_json());
        obj.insert("error".into(), serde_json::Value::Object(err));
        Self::known(obj, MessageKind::Error, Some(id), None)
    }

    fn known(
        obj: serde_json::Map<String, serde_json::Value>,
        kind: MessageKind,
        id: Option<RequestId>,
        method: Option<String>,
    ) -> Self {
        // Serializing a Map of JSON values cannot fail.
        let body = serde_json::to_vec(&obj).unwrap_or_default();
        Self { body: Bytes::from(body), kind, id, method }
    }

    /// The exact JSON text.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The JSON text as a `str` (always valid UTF-8).
    pub fn as_str(&self) -> &str {
        // Checked in `parse`; `known` writes UTF-8.
        std::str::from_utf8(&self.body).unwrap_or_default()
    }

    /// What the message is.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The id of a request, response or error.
    pub fn id(&self) -> Option<&RequestId> {
        self.id.as_ref()
    }

    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// The whole message as a JSON value (a second parse: not for hot paths).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A copy of this reply with its id replaced (used when a peer answered with a
    /// placeholder id such as Python asyncmcp's `"server-error"`).
    pub fn with_id(&self, id: RequestId) -> Self {
        let mut v = self.to_value();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("id".into(), id.to_json());
        }
        let body = serde_json::to_vec(&v).unwrap_or_default();
        Self { body: Bytes::from(body), kind: self.kind, id: Some(id), method: self.method.clone() }
    }
}

impl fmt::Debug for JsonRpcMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonRpcMessage")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("method", &self.method)
            .field("len", &self.body.len())
            .finish()
    }
}

impl fmt::Display for JsonRpcMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// JSON-RPC error codes asyncmcp sends.
pub mod error_codes {
    /// The body is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid JSON-RPC request, or no such session.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The request was not answered in time (the MCP SDKs' `RequestTimeout`).
    pub const REQUEST_TIMEOUT: i64 = -32001;
}
