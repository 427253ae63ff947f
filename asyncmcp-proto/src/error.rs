//! Errors, grouped by who is at fault.
//!
//! - [`DecodeError`]: the peer sent something asyncmcp cannot use. Never returned from
//!   a `handle_*` call: it travels inside [`Rejection`](crate::Rejection) events.
//! - [`ApiError`]: a call was refused, by fault: [`Misuse`] (the calling code broke
//!   the contract), [`Unsendable`] (the message's content cannot travel), or a route
//!   that is not, or no longer, there.
//! - [`ConfigError`]: a configuration that cannot work, refused at construction.
//! - [`OpFailure`]: the environment (SQS, SNS, the network) failed an operation.

use thiserror::Error;

/// Why an inbound message could not be decoded. The peer is at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not UTF-8.
    #[error("body is not UTF-8 (valid up to byte {valid_up_to})")]
    NotUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The body holds a character SQS does not allow (outside XML 1.0's range).
    #[error("body holds U+{code_point:04X}, which SQS does not allow")]
    InvalidXmlChar {
        /// The offending code point.
        code_point: u32,
    },
    /// The body is not JSON.
    #[error("body is not JSON: {detail}")]
    Json {
        /// What the parser said.
        detail: String,
    },
    /// The body is a JSON-RPC batch (MCP removed batching in 2025-06-18).
    #[error("body is a JSON-RPC batch; asyncmcp carries exactly one message per body")]
    Batch,
    /// The body is JSON but not an object.
    #[error("body is JSON but not an object")]
    NotAnObject,
    /// The object is not a JSON-RPC 2.0 message.
    #[error("not a JSON-RPC 2.0 message: {detail}")]
    NotJsonRpc {
        /// What is wrong.
        detail: String,
    },
    /// The id is not an integer or a string.
    #[error("bad JSON-RPC id: {detail}")]
    BadId {
        /// What is wrong.
        detail: String,
    },
    /// An attribute asyncmcp reads has a wrong type or value.
    #[error("attribute {name} is invalid: {detail}")]
    BadAttribute {
        /// The attribute's name.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// The body looked like an SNS envelope but is not a usable one.
    #[error("bad SNS envelope: {detail}")]
    BadEnvelope {
        /// What is wrong.
        detail: String,
    },
    /// Arrays and objects nest deeper than [`MAX_NESTING_DEPTH`](crate::codec::MAX_NESTING_DEPTH)
    /// levels (the message object itself is level 1). JSON parsers stop at some depth
    /// (serde_json at 128): a message deeper than the limit would decode here and fail
    /// in the application.
    #[error("JSON nests deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The `error` member is not an object with an integer `code` and a string
    /// `message`.
    #[error("bad error object: {detail}")]
    BadErrorObject {
        /// What is wrong.
        detail: String,
    },
    /// A message with both `id` and a `notifications/...` method: a notification must
    /// not carry an id, and a request must not use a notification's method.
    #[error("{method} is a notification, but the message carries an id")]
    NotificationWithId {
        /// The method (shortened to [`PEER_TEXT_MAX_CHARS`](crate::PEER_TEXT_MAX_CHARS)
        /// characters).
        method: String,
    },
    /// The body is both a JSON-RPC message (it has `jsonrpc`) and an SNS envelope (it
    /// has `Type` and `Message` strings): either reading could be the sender's.
    #[error("body is both a JSON-RPC message and an SNS envelope (it has jsonrpc, Type and Message)")]
    Ambiguous,
    /// The message points at a payload in S3 (the `ExtendedPayloadSize` attribute of
    /// AWS's extended clients) that the queue client did not put in its place.
    #[error("offloaded payload {pointer} was not fetched: {reason}")]
    Offloaded {
        /// `s3://bucket/key`, or empty when the body is not a pointer.
        pointer: String,
        /// Why.
        reason: crate::offload::FetchFailure,
    },
}

/// A call of [`Client`](crate::Client), [`Server`](crate::Server) or
/// [`codec::encode`](crate::codec::encode) was refused. Nothing was sent, and the
/// state machine is unchanged.
///
/// The variants say who is at fault, as the fix differs:
/// - [`ApiError::Misuse`]: the calling code broke the API's contract. Never caused by
///   what a peer sent; fix the caller.
/// - [`ApiError::Unsendable`]: the message's content cannot travel on SQS/SNS (too
///   large for a peer that takes no fragments, a character SQS refuses, nested too
///   deep). Depends on the data, not on how the API was called: answer with something
///   smaller or cleaner.
/// - [`ApiError::TooManyPending`]: back-pressure. The client holds as many requests
///   (or messages waiting for its session) as it may, because the server has not
///   answered yet: a matter of pace, not a bug; submit again once one ends.
/// - [`ApiError::UnknownRoute`]: the route is not (or no longer) there. A route can
///   end under the caller's feet (the client closed its session, the session idled
///   out, the request was answered or passed its deadline): expected in a correct
///   program, and nothing is left to do on that route.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The calling code broke the API's contract.
    #[error(transparent)]
    Misuse(#[from] Misuse),
    /// The message cannot be sent as it is.
    #[error(transparent)]
    Unsendable(#[from] Unsendable),
    /// The route (session or request) is unknown or already ended.
    #[error("no such route: {0}")]
    UnknownRoute(String),
    /// The client already holds [`max_pending`](crate::ClientConfig::max_pending)
    /// requests, or as many messages waiting for its session: wait until one ends
    /// (response, timeout, cancel).
    #[error("{max} requests or held messages are pending (ClientConfig::max_pending): wait for one to end")]
    TooManyPending {
        /// The configured limit.
        max: usize,
    },
}

/// [`ClientHost::add`](crate::ClientHost::add) refused a client. Nothing was added.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AddClientError {
    /// The client's configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The client reads another queue than the host's.
    #[error("the client reads {client}, but the host receives from {host}: set receive_queue_url to the host's queue")]
    OtherQueue {
        /// The host's queue.
        host: String,
        /// The client's `receive_queue_url`.
        client: String,
    },
    /// A hosted client already has this `ClientId`: replies could not tell the two
    /// apart. Give each its own (`unique_client_id`).
    #[error("a hosted client already has ClientId {0}: give each client its own (unique_client_id)")]
    DuplicateClientId(String),
}

/// The calling code broke the API's contract: a bug in the caller, never caused by
/// what a peer sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Misuse {
    /// A request with this id is already pending on this client: ids must be unique
    /// among pending requests.
    #[error("a request with id {0} is already pending: use a fresh id for each request")]
    DuplicateRequestId(crate::RequestId),
    /// The server sends no requests to a modern-era (sessionless) client: only
    /// responses and notifications go on a [`Route::Request`](crate::Route::Request).
    #[error("servers send no requests in the 2026-07-28 era: only answers and notifications go on a request's route")]
    RequestOnModernRoute,
    /// The client was closed with [`close`](crate::Client::close).
    #[error("the client is closed: make a new Client")]
    Closed,
    /// A legacy client sends one `initialize`: its session is open or opening.
    #[error(
        "this client's session is already open or opening: one initialize per client (a new session needs a new Client)"
    )]
    AlreadyInitialized,
    /// A fragment group id passed to [`codec::encode`](crate::codec::encode) is not
    /// 1 to 64 characters of `[0-9a-zA-Z_-]`.
    #[error("fragment group {0:?} is not 1 to 64 characters of [0-9a-zA-Z_-]")]
    InvalidFragmentGroup(String),
}

/// The message's content cannot travel on SQS/SNS as it is. Depends on the data
/// (and on what the peer accepts), not on how the API was called.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Unsendable {
    /// The message, encoded, exceeds the size limit and the peer does not take
    /// fragments (or more than 10 000 fragments would be needed).
    #[error("message of {size} bytes exceeds the limit of {limit} bytes and the peer has not said it takes fragments")]
    TooLarge {
        /// Encoded size in bytes, attributes included.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The message would go in fragments, but they would hold more than the peer
    /// reassembles (the `reasm=` it advertised in `AsyncMcpExt`): it would drop them.
    #[error("message of {size} bytes in fragments exceeds the {limit} bytes the peer reassembles")]
    TooLargeToReassemble {
        /// What the fragments would hold at the peer (payloads plus 64 bytes and the
        /// group id per fragment).
        size: usize,
        /// The peer's reassembly cap.
        limit: usize,
    },
    /// The message holds a character SQS does not allow in a body.
    #[error("message holds U+{code_point:04X}, which SQS does not allow in a body")]
    InvalidXmlChar {
        /// The offending code point.
        code_point: u32,
    },
    /// The message was built from values nested deeper than
    /// [`MAX_NESTING_DEPTH`](crate::codec::MAX_NESTING_DEPTH) levels: the peer would
    /// refuse it.
    #[error("message nests deeper than {limit} levels; the peer would refuse it")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Too many custom attributes: SQS allows 10 per message and asyncmcp uses up to 8.
    #[error(
        "{count} custom attributes configured; at most {max} fit beside asyncmcp's own (SQS allows 10 per message)"
    )]
    TooManyAttributes {
        /// Configured.
        count: usize,
        /// Allowed.
        max: usize,
    },
    /// A custom attribute uses a name asyncmcp writes itself.
    #[error("custom attribute {0} clashes with an attribute asyncmcp writes")]
    ReservedAttribute(String),
    /// A value is out of range.
    #[error("{field}: {detail}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong and what is allowed.
        detail: String,
    },
}

/// What kind of failure an SQS or SNS operation met: what a caller decides on
/// (retry, create the queue, fix the credentials) without reading the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The service asked us to slow down (throttling, over a quota). Retryable.
    Throttled,
    /// A server-side or transient failure (5xx, an unreadable response, an entry a
    /// batch response did not report). Retryable.
    Transient,
    /// The service could not be reached (connection refused or reset, DNS, TLS).
    /// Retryable.
    Unreachable,
    /// The call or the credential provider did not answer in time. Retryable.
    TimedOut,
    /// The queue or topic does not exist.
    NotFound,
    /// IAM, a queue or topic policy, or a KMS key policy denied the call.
    AccessDenied,
    /// No usable credentials: rejected (unknown key, bad signature, expired token) or
    /// none found.
    BadCredentials,
    /// The receipt handle is no longer valid (deleted, or received again since).
    StaleReceipt,
    /// The message (or the batch) is larger than the service takes.
    TooLarge,
    /// The service (or the client, before sending) refused a parameter: a missing
    /// FIFO group id, a bad attribute, a body SQS does not allow, a malformed request.
    Invalid,
    /// Any other failure that retrying will not cure.
    Other,
}

impl FailureKind {
    /// Whether the same call may succeed later: throttling, transient service
    /// failures, unreachable endpoints and timeouts.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient | Self::Unreachable | Self::TimedOut)
    }

    /// Whether this failure, met before the service ever answered (at start-up), means
    /// the set-up can never work: anything but throttling, a service-side failure or a
    /// timeout, which prove nothing about the set-up. An endpoint that refuses
    /// connections ([`Unreachable`](Self::Unreachable)) is fatal here although
    /// retryable later: a broker that was up and went away may come back, one never
    /// reached is most likely a wrong endpoint.
    ///
    /// ```
    /// use asyncmcp_proto::FailureKind;
    ///
    /// assert!(FailureKind::NotFound.is_fatal_at_start());
    /// assert!(FailureKind::Unreachable.is_fatal_at_start());
    /// assert!(!FailureKind::Throttled.is_fatal_at_start());
    /// ```
    #[must_use]
    pub fn is_fatal_at_start(self) -> bool {
        !matches!(self, Self::Throttled | Self::Transient | Self::TimedOut)
    }
}

/// How an SQS or SNS operation failed. The environment is at fault.
///
/// ```
/// use asyncmcp_proto::{FailureKind, OpFailure};
///
/// let failure = OpFailure::new(FailureKind::NotFound, "queue https://sqs.example/q does not exist");
/// assert_eq!(failure.kind, FailureKind::NotFound);
/// assert!(!failure.is_retryable());
/// assert!(OpFailure::new(FailureKind::Throttled, "slow down").is_retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{detail}{}", if self.is_retryable() { " (retryable)" } else { "" })]
pub struct OpFailure {
    /// What kind of failure it was; [`is_retryable`](Self::is_retryable) follows it.
    pub kind: FailureKind,
    /// What happened and what to check, naming the queue or topic.
    pub detail: String,
}

impl OpFailure {
    /// A failure of `kind`, described by `detail`.
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into() }
    }

    /// Whether retrying the operation may succeed (see [`FailureKind::is_retryable`]).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// A message the caller handed over could not be sent (it fails before reaching the
/// service): [`FailureKind::TooLarge`] for an oversized one, otherwise
/// [`FailureKind::Invalid`].
impl From<ApiError> for OpFailure {
    fn from(e: ApiError) -> Self {
        let kind = match e {
            ApiError::Unsendable(Unsendable::TooLarge { .. } | Unsendable::TooLargeToReassemble { .. }) => {
                FailureKind::TooLarge
            }
            _ => FailureKind::Invalid,
        };
        Self::new(kind, e.to_string())
    }
}
