//! One JSON-RPC 2.0 message, kept as its exact bytes plus the fields routing needs.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::DecodeError;
use crate::peer_text::{clip_display, clip_peer_text};

/// Arrays and objects nest at most this many levels deep in a message asyncmcp
/// accepts or sends (the message object itself is level 1).
///
/// serde_json refuses to parse deeper than 128 levels, and other parsers have limits
/// of their own; a limit below them, checked when a message is decoded and when one
/// is encoded, means that a message asyncmcp passes on always parses again.
pub const MAX_NESTING_DEPTH: usize = 100;

/// The method of MCP's notification that cancels a request.
pub const CANCELLED_METHOD: &str = "notifications/cancelled";

/// What a `notifications/cancelled` says: which request to stop, and why.
///
/// ```
/// use asyncmcp_proto::{Cancellation, JsonRpcMessage, RequestId};
///
/// let note = Cancellation { request_id: RequestId::Number(7), reason: Some("user quit".into()) }.to_message();
/// assert_eq!(note.method(), Some("notifications/cancelled"));
/// let read = Cancellation::from_message(&note).unwrap();
/// assert_eq!(read.request_id, RequestId::Number(7));
/// assert_eq!(read.reason.as_deref(), Some("user quit"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    /// `params.requestId`: the request to stop.
    pub request_id: RequestId,
    /// `params.reason`, when the sender gave one.
    pub reason: Option<String>,
}

impl Cancellation {
    /// Reads a `notifications/cancelled`. `None` for any other message, or one whose
    /// `params.requestId` is not an integer or a string (a peer's fault: the message
    /// cancels nothing).
    pub fn from_message(message: &JsonRpcMessage) -> Option<Self> {
        if message.method() != Some(CANCELLED_METHOD) {
            return None;
        }
        let value = message.to_value();
        let params = value.get("params")?;
        let request_id = match params.get("requestId")? {
            serde_json::Value::Number(n) => RequestId::Number(n.as_i64()?),
            serde_json::Value::String(s) => RequestId::String(s.clone()),
            _ => return None,
        };
        let reason = params.get("reason").and_then(serde_json::Value::as_str).map(str::to_owned);
        Some(Self { request_id, reason })
    }

    /// The `notifications/cancelled` that says this.
    pub fn to_message(&self) -> JsonRpcMessage {
        let mut params = serde_json::Map::new();
        params.insert("requestId".into(), self.request_id.to_json());
        if let Some(reason) = &self.reason {
            params.insert("reason".into(), reason.as_str().into());
        }
        JsonRpcMessage::notification(CANCELLED_METHOD, Some(serde_json::Value::Object(params)))
    }
}

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
                None => Err(DecodeError::BadId { detail: format!("id {} is not an integer", clip_peer_text(text)) }),
            },
            Ok(serde_json::Value::String(s)) => Ok(RequestId::String(s)),
            Ok(serde_json::Value::Null) => Ok(RequestId::Null),
            Ok(_) => Err(DecodeError::BadId {
                detail: format!("id {} is neither a number nor a string", clip_peer_text(text)),
            }),
            Err(e) => Err(DecodeError::BadId { detail: clip_display(&e) }),
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
/// Parsing reads the object once for its routing fields, borrowing `params`,
/// `result` and `error` as raw slices, then checks the whole text once more without
/// building values (nesting at most [`MAX_NESTING_DEPTH`] levels, no lone UTF-16
/// surrogate escapes, numbers in range), so the body is passed on byte for byte and
/// parses again wherever it goes: [`to_value`](Self::to_value) never fails.
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
    /// The message as a value, kept only for a message built here from values that
    /// nest deeper than [`MAX_NESTING_DEPTH`] (its text would not parse again):
    /// [`to_value`](JsonRpcMessage::to_value) returns it, and encoding refuses it.
    too_deep: Option<Arc<serde_json::Value>>,
}

/// What [`JsonRpcMessage::check`] found in a body it accepted.
pub(crate) struct Checked {
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
    /// string, or is not exactly one of request, notification, response and error;
    /// when an error's `error` is not an object with an integer `code` and a string
    /// `message` ([`DecodeError::BadErrorObject`]); when a request's method is a
    /// notification's (`notifications/...`, [`DecodeError::NotificationWithId`]);
    /// when it nests deeper than [`MAX_NESTING_DEPTH`] ([`DecodeError::TooDeep`]);
    /// when a string holds a lone UTF-16 surrogate escape such as `"\ud800"` or a
    /// number is out of range ([`DecodeError::Json`]); when it also has the `Type` and
    /// `Message` strings of an SNS envelope ([`DecodeError::Ambiguous`]).
    pub fn parse(body: impl Into<Bytes>) -> Result<Self, DecodeError> {
        let body = body.into();
        let text = std::str::from_utf8(&body).map_err(|e| DecodeError::NotUtf8 { valid_up_to: e.valid_up_to() })?;
        let checked = Self::check(text, true)?;
        Ok(Self::from_checked(body, checked))
    }

    /// What [`parse`](Self::parse) checks, on text already known to be UTF-8; the
    /// envelope look-alike check only when `check_ambiguous` (the decoder already
    /// knows a body that was not an SNS envelope is not one). Each skipped check is a
    /// scan of the whole body saved.
    pub(crate) fn check(text: &str, check_ambiguous: bool) -> Result<Checked, DecodeError> {
        let (kind, id, method) = Self::classify(text)?;
        check_whole(text)?;
        // Also inside an envelope's `Message`: sent on as a raw body, it would be refused.
        if check_ambiguous && crate::codec::is_ambiguous(text) {
            return Err(DecodeError::Ambiguous);
        }
        Ok(Checked { kind, id, method })
    }

    /// The message whose text `body` holds and [`check`](Self::check) accepted.
    pub(crate) fn from_checked(body: Bytes, checked: Checked) -> Self {
        let Checked { kind, id, method } = checked;
        Self { body, kind, id, method, too_deep: None }
    }

    fn classify(text: &str) -> Result<(MessageKind, Option<RequestId>, Option<String>), DecodeError> {
        match text.trim_start().as_bytes().first() {
            Some(b'{') => {}
            Some(b'[') => return Err(DecodeError::Batch),
            Some(_) => {
                // Valid JSON that is not an object, or not JSON at all.
                return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                    Ok(_) => Err(DecodeError::NotAnObject),
                    Err(e) => Err(DecodeError::Json { detail: clip_display(&e) }),
                };
            }
            None => return Err(DecodeError::Json { detail: "empty body".to_owned() }),
        }
        let shape: Shape<'_> =
            serde_json::from_str(text).map_err(|e| DecodeError::Json { detail: clip_display(&e) })?;
        match shape.jsonrpc.map(RawValue::get) {
            Some("\"2.0\"") => {}
            Some(other) => {
                return Err(DecodeError::NotJsonRpc {
                    detail: format!("jsonrpc is {}, expected \"2.0\"", clip_peer_text(other)),
                });
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
        if let Some(error) = shape.error {
            check_error_object(error)?;
        }
        if kind == MessageKind::Request
            && let Some(m) = method.as_deref()
            && m.starts_with(NOTIFICATION_PREFIX)
        {
            return Err(DecodeError::NotificationWithId { method: clip_peer_text(m).into_owned() });
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
        Self::from_object(serde_json::Value::Object(obj), kind, id, method)
    }

    fn from_object(value: serde_json::Value, kind: MessageKind, id: Option<RequestId>, method: Option<String>) -> Self {
        // Serializing a JSON value cannot fail, and its text parses again (strings
        // are Unicode, numbers finite) unless it nests too deep: such a message keeps
        // its value, so `to_value` still works, and encoding refuses it.
        let body = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        let too_deep = nests_deeper_than(&value, MAX_NESTING_DEPTH).then(|| Arc::new(value));
        Self { body, kind, id, method, too_deep }
    }

    /// Whether this message nests deeper than [`MAX_NESTING_DEPTH`]: only a message
    /// built with a constructor from such values (a parsed message never does).
    /// [`encode`](crate::codec::encode) refuses to send it.
    pub fn is_too_deep(&self) -> bool {
        self.too_deep.is_some()
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
    ///
    /// Never `null`: [`parse`](Self::parse) checked the text with the same parser,
    /// constructors write text that parses, and a message built from values nested
    /// too deep keeps its value.
    pub fn to_value(&self) -> serde_json::Value {
        if let Some(value) = &self.too_deep {
            return serde_json::Value::clone(value);
        }
        // Cannot fail (see above); `Null` would only stand in for a bug, and the
        // codec property tests check that it never does.
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A copy of this reply with its id replaced (used when a peer answered with a
    /// placeholder id such as Python asyncmcp's `"server-error"`).
    pub fn with_id(&self, id: RequestId) -> Self {
        let mut v = self.to_value();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("id".into(), id.to_json());
        }
        Self::from_object(v, self.kind, Some(id), self.method.clone())
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

/// Methods of MCP notifications start with this.
const NOTIFICATION_PREFIX: &str = "notifications/";

/// Checks that `error` is `{"code": <integer>, "message": <string>, ...}`.
fn check_error_object(error: &RawValue) -> Result<(), DecodeError> {
    #[derive(Deserialize)]
    struct ErrorShape<'a> {
        #[serde(borrow)]
        code: Option<&'a RawValue>,
        #[serde(borrow)]
        message: Option<&'a RawValue>,
    }
    let bad = |detail: String| Err(DecodeError::BadErrorObject { detail });
    if !error.get().starts_with('{') {
        return bad(format!("error is {}, not an object", clip_peer_text(error.get())));
    }
    let shape: ErrorShape<'_> = match serde_json::from_str(error.get()) {
        Ok(shape) => shape,
        Err(e) => return bad(clip_display(&e)),
    };
    match shape.code {
        None => return bad("code is missing".to_owned()),
        Some(code) if serde_json::from_str::<i64>(code.get()).is_err() => {
            return bad(format!("code {} is not an integer", clip_peer_text(code.get())));
        }
        Some(_) => {}
    }
    match shape.message {
        None => bad("message is missing".to_owned()),
        Some(m) if !m.get().starts_with('"') => bad(format!("message {} is not a string", clip_peer_text(m.get()))),
        Some(_) => Ok(()),
    }
}

/// Why [`check_whole`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    TooDeep,
}

/// Walks the whole text as serde_json would build a value from it, without building
/// one: the parse fails here wherever it would fail there (lone surrogate escapes,
/// numbers out of range), and nesting deeper than [`MAX_NESTING_DEPTH`] stops it
/// first.
fn check_whole(text: &str) -> Result<(), DecodeError> {
    let stop = Cell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let walked = Walk { depth: 0, stop: &stop }.deserialize(&mut de).and_then(|()| de.end());
    match (walked, stop.get()) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(Stop::TooDeep)) => Err(DecodeError::TooDeep { limit: MAX_NESTING_DEPTH }),
        (Err(e), None) => Err(DecodeError::Json { detail: clip_display(&e) }),
    }
}

/// One value at `depth` containers deep.
#[derive(Clone, Copy)]
struct Walk<'a> {
    depth: usize,
    stop: &'a Cell<Option<Stop>>,
}

impl Walk<'_> {
    /// The walk one container further in, or an error past the limit.
    fn enter<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_NESTING_DEPTH {
            self.stop.set(Some(Stop::TooDeep));
            return Err(E::custom("too deep"));
        }
        Ok(Self { depth: self.depth + 1, stop: self.stop })
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.enter()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.enter()?;
        while map.next_key_seed(inner)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// Whether `value` nests containers more than `limit` levels deep. Recurses at most
/// `limit + 1` levels, whatever the value.
fn nests_deeper_than(value: &serde_json::Value, limit: usize) -> bool {
    let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
        serde_json::Value::Array(items) => Box::new(items.iter()),
        serde_json::Value::Object(members) => Box::new(members.values()),
        _ => return false,
    };
    match limit.checked_sub(1) {
        None => true,
        Some(rest) => children.into_iter().any(|child| nests_deeper_than(child, rest)),
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
    /// The server holds as many legacy sessions as it may
    /// ([`ServerConfig::max_sessions`](crate::ServerConfig::max_sessions)): an
    /// `initialize` is refused until one ends. `data` is `{"maxSessions": n}`.
    pub const TOO_MANY_SESSIONS: i64 = -32003;
    /// MCP 2026-07-28 `UnsupportedProtocolVersionError`: the request names a protocol
    /// version the server does not speak; `data` is `{"supported": [...],
    /// "requested": "..."}`.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{SizeLimits, WireMeta, encode};
    use crate::{ApiError, PEER_TEXT_MAX_CHARS, Unsendable};

    /// A request whose `params` nest `levels` arrays deep (the message is level 1).
    fn nested(levels: usize) -> String {
        let inner = levels - 1;
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{}{}}}"#, "[".repeat(inner), "]".repeat(inner))
    }

    fn request_with_params(params: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","id":"r-1","method":"tools/call","params":{params}}}"#)
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let at_limit = JsonRpcMessage::parse(nested(MAX_NESTING_DEPTH)).unwrap();
        assert_eq!(at_limit.to_value()["params"].as_array().map(Vec::len), Some(1));
        let objects =
            format!(r#"{{"a":{}1{}}}"#, r#"{"a":"#.repeat(MAX_NESTING_DEPTH - 3), "}".repeat(MAX_NESTING_DEPTH - 3));
        assert!(JsonRpcMessage::parse(request_with_params(&objects)).is_ok());
        for levels in [MAX_NESTING_DEPTH + 1, 129, 200, 100_000] {
            assert_eq!(
                JsonRpcMessage::parse(nested(levels)),
                Err(DecodeError::TooDeep { limit: MAX_NESTING_DEPTH }),
                "{levels}"
            );
        }
        let too_deep_objects =
            format!(r#"{{"a":{}1{}}}"#, r#"{"a":"#.repeat(MAX_NESTING_DEPTH - 1), "}".repeat(MAX_NESTING_DEPTH - 1));
        assert_eq!(
            JsonRpcMessage::parse(request_with_params(&too_deep_objects)),
            Err(DecodeError::TooDeep { limit: MAX_NESTING_DEPTH })
        );
    }

    #[test]
    fn text_serde_json_cannot_parse_is_refused() {
        for params in [
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"a":"x\ud800y"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            r#"{"\ud800":1}"#,
            r#"[1e400]"#,
            r#"[-1e309]"#,
        ] {
            let body = request_with_params(params);
            match JsonRpcMessage::parse(body.clone()) {
                Err(DecodeError::Json { .. }) => {}
                other => panic!("{body}: {other:?}"),
            }
            assert!(serde_json::from_str::<serde_json::Value>(&body).is_err(), "{body}");
        }
        for params in [r#"{"a":"\ud83d\ude00"}"#, r#"[1e300, 18446744073709551615, -9223372036854775808, 0.5]"#] {
            let m = JsonRpcMessage::parse(request_with_params(params)).unwrap();
            assert_eq!(m.to_value()["method"], "tools/call", "{params}");
        }
    }

    #[test]
    fn error_objects_need_an_integer_code_and_a_string_message() {
        for error in [
            r#""boom""#,
            r#"null"#,
            r#"[]"#,
            r#"{"message":"m"}"#,
            r#"{"code":-32600}"#,
            r#"{"code":"-32600","message":"m"}"#,
            r#"{"code":1.5,"message":"m"}"#,
            r#"{"code":1e3,"message":"m"}"#,
            r#"{"code":9223372036854775808,"message":"m"}"#,
            r#"{"code":-32600,"message":7}"#,
            r#"{"code":-32600,"message":null}"#,
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":1,"error":{error}}}"#);
            match JsonRpcMessage::parse(body.clone()) {
                Err(DecodeError::BadErrorObject { .. }) => {}
                other => panic!("{body}: {other:?}"),
            }
        }
        let ok =
            JsonRpcMessage::parse(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x","data":[1]}}"#);
        assert_eq!(ok.map(|m| m.kind()), Ok(MessageKind::Error));
    }

    #[test]
    fn notification_methods_with_an_id_are_refused() {
        let body = r#"{"jsonrpc":"2.0","id":3,"method":"notifications/progress","params":{}}"#;
        assert_eq!(
            JsonRpcMessage::parse(body),
            Err(DecodeError::NotificationWithId { method: "notifications/progress".into() })
        );
        let notification = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#;
        assert_eq!(JsonRpcMessage::parse(notification).map(|m| m.kind()), Ok(MessageKind::Notification));
        let request = r#"{"jsonrpc":"2.0","id":3,"method":"notification/ping"}"#;
        assert_eq!(JsonRpcMessage::parse(request).map(|m| m.kind()), Ok(MessageKind::Request));
    }

    #[test]
    fn built_too_deep_keeps_its_value_and_is_not_sent() {
        let mut deep = serde_json::json!(1);
        for _ in 0..200 {
            deep = serde_json::json!([deep]);
        }
        let m = JsonRpcMessage::response(RequestId::Number(1), deep.clone());
        assert!(m.is_too_deep());
        assert_eq!(m.to_value()["result"], deep);
        let renamed = m.with_id(RequestId::Number(2));
        assert_eq!(renamed.to_value()["id"], 2);
        assert!(renamed.is_too_deep());
        assert_eq!(
            encode(&m, &WireMeta::default(), &SizeLimits::default(), None),
            Err(ApiError::Unsendable(Unsendable::TooDeep { limit: MAX_NESTING_DEPTH }))
        );
        // One level less than the limit (the message object and `result` are two).
        let mut fits = serde_json::json!(1);
        for _ in 0..MAX_NESTING_DEPTH - 1 {
            fits = serde_json::json!([fits]);
        }
        let m = JsonRpcMessage::response(RequestId::Number(1), fits.clone());
        assert!(!m.is_too_deep());
        assert_eq!(JsonRpcMessage::parse(m.body().clone()), Ok(m.clone()));
        let mut over = JsonRpcMessage::response(RequestId::Number(1), serde_json::json!([fits]));
        assert!(over.is_too_deep());
        over = JsonRpcMessage::from_value(&over.to_value()).unwrap_or(over);
        assert!(over.is_too_deep(), "from_value must refuse it");
    }

    #[test]
    fn peer_text_in_parse_errors_is_clipped() {
        let huge = "9".repeat(10_000);
        for body in [
            format!(r#"{{"jsonrpc":"{huge}","id":1,"method":"x"}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":{huge},"method":"x"}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":{huge},"message":"m"}}}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"notifications/{huge}"}}"#),
        ] {
            let text = JsonRpcMessage::parse(body).unwrap_err().to_string();
            assert!(text.chars().count() < PEER_TEXT_MAX_CHARS + 100, "{} chars: {}", text.len(), &text[..80]);
        }
    }
}
