//! What the state machines report to the application.

use std::fmt;

use crate::address::Address;
use crate::error::{DecodeError, OpFailure};
use crate::jsonrpc::{JsonRpcMessage, RequestId};
use crate::peer_text::{clip_debug, clip_display};
use crate::reassembly::ReassemblyError;
use crate::session_id::SessionId;

/// What became of an inbound message that was not delivered: the disposition that
/// takes the place of an error for what a peer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueOutcome {
    /// A `Delete` op was issued for it.
    Deleted,
    /// It stays on the queue: it will be redelivered, and after the queue's
    /// `maxReceiveCount` it moves to the dead-letter queue.
    LeftForRedelivery,
}

/// Why an inbound message was not delivered to the application.
///
/// Most reasons are the peer's fault (what it sent cannot be used, or names a
/// session, reply address or request this endpoint does not accept); they never
/// become an `Err`. [`Duplicate`](Self::Duplicate) is the queue's doing (SQS delivers
/// at least once) and [`Closed`](Self::Closed) this endpoint's own state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The body or attributes could not be decoded.
    Decode(DecodeError),
    /// The same message (by SQS message id, or by peer and JSON-RPC id) was already
    /// handled.
    Duplicate,
    /// The `SessionId` names no live session.
    UnknownSession(SessionId),
    /// The reply address is not on the allow-list.
    ReplyNotAllowed(Address),
    /// A request that gives no way to answer it (no session, no `ReplyTo`).
    NoReplyAddress,
    /// A fragmented message could not be reassembled.
    Reassembly(ReassemblyError),
    /// A response to a request id this endpoint never sent (or forgot): on a server,
    /// any response outside a session, or one in a session to no request of the
    /// server's.
    UnknownResponse(RequestId),
    /// The message belongs to another session than this client's.
    WrongSession(SessionId),
    /// The message carries another `ClientId` than this client's: it was meant for
    /// another process that used the same reply queue (an earlier run of this
    /// client, for one).
    WrongClient(String),
    /// A message on a shared reply queue ([`ClientHost`](crate::ClientHost)) that
    /// names no client at all: no `ClientId` attribute and no `SessionId`.
    NoClient,
    /// The endpoint is closed.
    Closed,
    /// An `initialize` arrived while the server held
    /// [`max_sessions`](crate::ServerConfig::max_sessions) sessions: it was answered
    /// with a JSON-RPC error
    /// ([`error_codes::TOO_MANY_SESSIONS`](crate::error_codes::TOO_MANY_SESSIONS)).
    TooManySessions {
        /// The configured limit.
        max: usize,
    },
    /// The `ProtocolVersion` attribute names a version the server does not speak. A
    /// request is answered with MCP's `UnsupportedProtocolVersionError`
    /// ([`error_codes::UNSUPPORTED_PROTOCOL_VERSION`](crate::error_codes::UNSUPPORTED_PROTOCOL_VERSION))
    /// when it has a reply address.
    UnsupportedVersion {
        /// The version the peer named (shortened to
        /// [`PEER_TEXT_MAX_CHARS`](crate::PEER_TEXT_MAX_CHARS) characters).
        requested: String,
        /// The versions the server speaks.
        supported: Vec<String>,
    },
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::Decode(e) => write!(f, "undecodable: {e}"),
            RejectReason::Duplicate => f.write_str("duplicate delivery"),
            RejectReason::UnknownSession(s) => write!(f, "unknown session {s}"),
            RejectReason::ReplyNotAllowed(a) => {
                write!(f, "reply address {} is not on the allow-list", clip_display(a))
            }
            RejectReason::NoReplyAddress => f.write_str("request has no session and no ReplyTo attribute"),
            RejectReason::Reassembly(e) => write!(f, "reassembly failed: {e}"),
            RejectReason::UnknownResponse(id) => write!(f, "response to unknown request id {}", clip_display(id)),
            RejectReason::WrongSession(s) => write!(f, "message for another session {s}"),
            RejectReason::WrongClient(c) => {
                let shown: String = c.chars().take(120).collect();
                let more = if shown.len() < c.len() { "..." } else { "" };
                write!(f, "message for another client {shown}{more}")
            }
            RejectReason::NoClient => f.write_str("message names no client (no ClientId, no SessionId)"),
            RejectReason::Closed => f.write_str("endpoint closed"),
            RejectReason::TooManySessions { max } => write!(f, "the server already holds its limit of {max} sessions"),
            RejectReason::UnsupportedVersion { requested, supported } => write!(
                f,
                "protocol version {} is not supported (supported: {})",
                clip_debug(requested),
                supported.join(", ")
            ),
        }
    }
}

/// An inbound message that was not delivered, why, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The SQS message id.
    pub message_id: String,
    /// Why.
    pub reason: RejectReason,
    /// What became of it.
    pub fate: QueueOutcome,
}

/// Why a legacy session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent the close notification (or the local client closed).
    Closed,
    /// No traffic for the idle timeout.
    Idle,
    /// The server application closed it.
    ServerClosed,
}

/// Events of a [`Client`](crate::Client).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A message from the server: the response to a pending request, or a server
    /// request or notification.
    Message(JsonRpcMessage),
    /// A request got no response within the request timeout.
    RequestTimedOut {
        /// The request's id.
        id: RequestId,
    },
    /// A response arrived after its request timed out or was cancelled.
    LateResponse(JsonRpcMessage),
    /// The server opened a legacy session.
    SessionOpened {
        /// The id the server minted.
        session_id: SessionId,
    },
    /// The session ended.
    SessionClosed {
        /// Why.
        reason: CloseReason,
    },
    /// An inbound message was not delivered.
    Rejected(Rejection),
    /// A message could not be sent, after retries.
    SendFailed {
        /// The request's id, when the message was a request (it will get no response).
        id: Option<RequestId>,
        /// The method of a request or notification.
        method: Option<String>,
        /// The last failure.
        error: OpFailure,
    },
    /// Deleting a received message failed for good: it will be redelivered and
    /// dropped then as a duplicate.
    AckFailed {
        /// The SQS message id.
        message_id: String,
        /// The failure.
        error: OpFailure,
    },
}

/// An opaque handle for one modern-era request being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestToken(pub(crate) u64);

/// Where a server-side message belongs, and where replies to it go.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Route {
    /// A legacy session.
    Session(SessionId),
    /// One modern-era request: reply (and send progress notifications) on it until
    /// its response is submitted.
    Request(RequestToken),
    /// A modern-era notification: there is nothing to reply to.
    Detached,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Session(s) => write!(f, "session {s}"),
            Route::Request(t) => write!(f, "request #{}", t.0),
            Route::Detached => f.write_str("detached"),
        }
    }
}

/// Events of a [`Server`](crate::Server).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client opened a legacy session with `initialize` (delivered next as a
    /// [`ServerEvent::Message`] on [`Route::Session`]).
    SessionOpened {
        /// The minted id.
        session_id: SessionId,
        /// The client's `ClientId`, if it sent one.
        client_id: Option<String>,
        /// Where the session's messages go.
        reply_to: Address,
    },
    /// A legacy session ended.
    SessionClosed {
        /// Which.
        session_id: SessionId,
        /// Why.
        reason: CloseReason,
    },
    /// A message for the application. Answer requests with
    /// [`Server::submit`](crate::Server::submit) on the same route.
    Message {
        /// Where it belongs.
        route: Route,
        /// The message.
        message: JsonRpcMessage,
    },
    /// An inbound message was not delivered.
    Rejected(Rejection),
    /// A redelivered request was answered again from the response cache.
    ResponseReplayed {
        /// Where the response went.
        to: Address,
        /// The request's id.
        id: RequestId,
    },
    /// A message could not be sent, after retries. A request it answered stays on
    /// the queue and will be redelivered.
    SendFailed {
        /// Where it belonged.
        route: Route,
        /// The id of the response or request.
        id: Option<RequestId>,
        /// The last failure.
        error: OpFailure,
    },
    /// Deleting a handled request failed for good: it will be redelivered and
    /// answered from the response cache.
    AckFailed {
        /// The SQS message id.
        message_id: String,
        /// The failure.
        error: OpFailure,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_text_in_reject_reasons_is_clipped() {
        let huge = "x".repeat(10_000);
        for reason in [
            RejectReason::UnknownResponse(RequestId::String(huge.clone())),
            RejectReason::ReplyNotAllowed(Address::parse(&format!("https://sqs.us-east-1.amazonaws.com/1/{huge}"))),
            RejectReason::UnsupportedVersion { requested: huge.clone(), supported: vec!["2026-07-28".into()] },
        ] {
            let text = reason.to_string();
            assert!(text.len() < 400, "{} bytes: {}", text.len(), &text[..60]);
            assert!(text.contains('…'), "{text}");
        }
    }
}
