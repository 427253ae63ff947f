//! Configuration of the client and server state machines.

use std::time::Duration;

use crate::address::{Address, AllowList};
use crate::attributes::{Attributes, MAX_CUSTOM_ATTRIBUTES, names};
use crate::backoff::RetryPolicy;
use crate::codec::{MIN_MESSAGE_BYTES, SNS_MAX_BYTES, SQS_MAX_BYTES, SizeLimits};
use crate::error::ConfigError;
use crate::reassembly::ReassemblyLimits;

/// Which MCP era a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Era {
    /// Protocol 2025-11-25 and earlier: an `initialize` handshake opens a session,
    /// and the server's `SessionId` travels on every later message.
    Legacy,
    /// Protocol 2026-07-28: no handshake, no session; every request carries its reply
    /// address (the `ReplyTo` attribute), so any server worker can answer it.
    Modern,
}

/// Where a legacy client writes its reply address in `initialize`.
///
/// Python asyncmcp 0.2.1 reads only the params field, its unreleased main only the
/// `_meta` field; asyncmcp writes both by default so either server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeFields {
    /// `params.response_queue_url` (sqs) or `params.client_topic_arn` (sns-sqs).
    pub params_field: bool,
    /// `params._meta.responseQueueUrl` or `params._meta.clientTopicArn`.
    pub meta_field: bool,
}

impl Default for HandshakeFields {
    fn default() -> Self {
        Self { params_field: true, meta_field: true }
    }
}

/// Per-session ordering: the sender numbers its messages, the receiver delivers them
/// in order, waiting at most `gap_timeout` for a missing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderingConfig {
    /// How long a gap may hold back later messages.
    pub gap_timeout: Duration,
    /// At most this many messages of one session wait behind a gap (default 256);
    /// past that the gap is skipped and they are delivered, none dropped.
    pub max_buffered: usize,
}

impl Default for OrderingConfig {
    fn default() -> Self {
        Self { gap_timeout: Duration::from_secs(5), max_buffered: 256 }
    }
}

/// What happens to an inbound message that cannot be decoded or routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition {
    /// Delete it (after reporting it).
    Delete,
    /// Leave it on the queue: it becomes visible again and, after the queue's
    /// `maxReceiveCount`, moves to the dead-letter queue.
    LeaveForRedrive,
}

/// Options shared by the client and the server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SharedConfig {
    /// Size budget of one outbound message (attributes and SNS escaping included).
    ///
    /// `limits.max_bytes` only lowers budgets (1 MiB, [`SQS_MAX_BYTES`], by
    /// default): each destination's own budget is what the queue or topic accepts
    /// (its `MaximumMessageSize`, which the drivers read at start and hand over with
    /// `handle_max_message_bytes`), no more than the peer advertised (`max=` in
    /// `AsyncMcpExt`), and [`fallback_max_bytes`](Self::fallback_max_bytes) when
    /// neither is known.
    pub limits: SizeLimits,
    /// The budget of a destination whose `MaximumMessageSize` is unknown (it could not
    /// be read, or it is a peer's reply address and the peer advertised nothing, as
    /// Python asyncmcp does): 262 144 bytes ([`SNS_MAX_BYTES`], SQS's and SNS's
    /// default) unless set. At least 1 024.
    pub fallback_max_bytes: usize,
    /// Accept fragmented messages, and say so to the peer (`caps=frag`).
    pub takes_fragments: bool,
    /// Send fragments even before the peer said it takes them.
    pub peer_takes_fragments: bool,
    /// Limits on reassembly of inbound fragments.
    pub reassembly: ReassemblyLimits,
    /// How long inbound message ids and request ids are remembered to drop redeliveries.
    pub dedup_window: Duration,
    /// At most this many ids are remembered.
    pub dedup_capacity: usize,
    /// Retries of failed SQS/SNS calls.
    pub retry: RetryPolicy,
    /// Number outbound session messages and deliver inbound ones in order.
    pub ordering: Option<OrderingConfig>,
    /// Extra attributes written on every message (at most
    /// [`MAX_CUSTOM_ATTRIBUTES`](crate::attributes::MAX_CUSTOM_ATTRIBUTES)).
    pub custom_attributes: Attributes,
    /// Unix milliseconds at the `now` passed to the constructor: the `Timestamp`
    /// attribute is derived from it (the core reads no clock). 0, the default, makes
    /// the `asyncmcp-driver` drivers fill in the wall clock when they start; a core
    /// used without a driver must set it, or peers see timestamps near 1970.
    pub start_unix_millis: u64,
    /// The visibility timeout asked for on each `ReceiveMessage` (SQS's per-call
    /// `VisibilityTimeout`; whole seconds, rounded up), `None` to use the queue's.
    ///
    /// A process that dies while its long poll waits at SQS still gets the next
    /// message, which then stays hidden for this long: short means a restarted or
    /// another worker picks it up soon. Work that outlives it is not redelivered: a
    /// server extends a running request's visibility to its
    /// [`visibility_timeout`](ServerConfig::visibility_timeout) by a first heartbeat
    /// at [`heartbeat_fraction`](ServerConfig::heartbeat_fraction) of this (see
    /// [`ServerConfig::receive_visibility`]), and a client deletes a reply as soon as
    /// it takes it. A message held longer before delivery (a fragment waiting for the
    /// others, one waiting behind an ordering gap) comes back meanwhile and is
    /// dropped as a duplicate. 4 s by default; at least 1 s.
    pub receive_visibility: Option<Duration>,
    /// What to do with an inbound message no endpoint could ever use (a poison
    /// message): one that cannot be decoded (bad JSON, bad attributes, a body the
    /// codec refuses), one whose fragments cannot be reassembled, and, at a server, a
    /// request with no reply address or one the allow-list refuses.
    /// [`Disposition::LeaveForRedrive`] lets the queue's redrive policy move it to the
    /// dead-letter queue after `maxReceiveCount` receives, where it can be inspected;
    /// [`Disposition::Delete`] (the default) drops it at once. Either way a
    /// `Rejected` event reports it.
    ///
    /// Not covered, always deleted: duplicates of handled messages, and messages that
    /// are stale rather than poison (a response nobody waits for, a message of a
    /// session that ended without a reply address to answer "session not found").
    pub undecodable: Disposition,
    /// S3 offload of large outbound messages (see [`offload`](crate::offload)): a
    /// message above the threshold or the size budget goes to this bucket and the
    /// queue or topic carries a pointer. `None` (the default) offloads nothing; a
    /// message over the budget then goes in fragments when the peer takes them, or
    /// fails with [`Unsendable::TooLarge`](crate::Unsendable::TooLarge).
    pub offload: Option<crate::offload::OffloadConfig>,
}

impl Default for SharedConfig {
    fn default() -> Self {
        Self {
            limits: SizeLimits { max_bytes: SQS_MAX_BYTES, envelope: false },
            fallback_max_bytes: SNS_MAX_BYTES,
            takes_fragments: true,
            peer_takes_fragments: false,
            reassembly: ReassemblyLimits::default(),
            dedup_window: Duration::from_secs(300),
            dedup_capacity: 10_000,
            retry: RetryPolicy::default(),
            ordering: None,
            custom_attributes: Attributes::new(),
            start_unix_millis: 0,
            receive_visibility: Some(Duration::from_secs(4)),
            undecodable: Disposition::Delete,
            offload: None,
        }
    }
}

impl SharedConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.custom_attributes.len() > MAX_CUSTOM_ATTRIBUTES {
            return Err(ConfigError::TooManyAttributes {
                count: self.custom_attributes.len(),
                max: MAX_CUSTOM_ATTRIBUTES,
            });
        }
        let reserved = names::OWN.iter().chain([&names::PROTOCOL_VERSION]);
        for name in reserved {
            if self.custom_attributes.contains_key(*name) {
                return Err(ConfigError::ReservedAttribute((*name).to_owned()));
            }
        }
        if self.limits.max_bytes < MIN_MESSAGE_BYTES {
            return Err(ConfigError::Invalid {
                field: "limits.max_bytes",
                detail: format!("{} bytes is below the 1024-byte minimum", self.limits.max_bytes),
            });
        }
        if self.fallback_max_bytes < MIN_MESSAGE_BYTES {
            return Err(ConfigError::Invalid {
                field: "fallback_max_bytes",
                detail: format!("{} bytes is below the 1024-byte minimum", self.fallback_max_bytes),
            });
        }
        if let Some(v) = self.receive_visibility
            && (v < Duration::from_secs(1) || v > Duration::from_secs(43_200))
        {
            return Err(ConfigError::Invalid {
                field: "receive_visibility",
                detail: format!("{v:?} is not between 1 s and 12 h (SQS's range)"),
            });
        }
        if let Some(offload) = &self.offload {
            offload.validate()?;
        }
        if self.dedup_capacity == 0 {
            return Err(ConfigError::Invalid { field: "dedup_capacity", detail: "must be at least 1".into() });
        }
        Ok(())
    }
}

/// Configuration of a [`Client`](crate::Client).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Where requests go: the server's request queue URL (sqs) or topic ARN (sns-sqs).
    pub server: Address,
    /// Where replies should go: this client's queue URL (sqs) or topic ARN (sns-sqs).
    pub reply_to: Address,
    /// The queue this client receives from (for deletes).
    pub receive_queue_url: String,
    /// `ClientId` on every message.
    pub client_id: String,
    /// Legacy (sessions) or modern (stateless) era.
    pub era: Era,
    /// Where `initialize` carries the reply address (legacy era).
    pub handshake: HandshakeFields,
    /// A request with no response after this long ends as `RequestTimedOut`.
    pub request_timeout: Duration,
    /// At most this many requests are pending at once, and at most this many
    /// messages wait for the legacy session to open (default 1024): past that
    /// [`submit`](crate::Client::submit) returns
    /// [`ApiError::TooManyPending`](crate::ApiError::TooManyPending), so a server that
    /// does not answer cannot make the client grow without bound.
    pub max_pending: usize,
    /// Options shared with the server.
    pub common: SharedConfig,
}

impl ClientConfig {
    /// A legacy-era client with default options.
    pub fn new(
        server: Address,
        reply_to: Address,
        receive_queue_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        Self {
            server,
            reply_to,
            receive_queue_url: receive_queue_url.into(),
            client_id: client_id.into(),
            era: Era::Legacy,
            handshake: HandshakeFields::default(),
            request_timeout: Duration::from_secs(60),
            max_pending: 1024,
            common: SharedConfig::default(),
        }
    }

    /// A legacy-era client over SQS alone: requests go to `server_queue_url`, and
    /// replies come back to `reply_queue_url`, the queue this client receives from.
    ///
    /// ```
    /// use asyncmcp_proto::{Address, ClientConfig};
    ///
    /// let config = ClientConfig::sqs(
    ///     "https://sqs.us-east-1.amazonaws.com/123456789012/requests",
    ///     "https://sqs.us-east-1.amazonaws.com/123456789012/replies-1",
    ///     "client-1",
    /// );
    /// assert_eq!(config.reply_to, Address::Queue(config.receive_queue_url.clone()));
    /// ```
    pub fn sqs(
        server_queue_url: impl Into<String>,
        reply_queue_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        let reply_queue_url = reply_queue_url.into();
        Self::new(
            Address::Queue(server_queue_url.into()),
            Address::Queue(reply_queue_url.clone()),
            reply_queue_url,
            client_id,
        )
    }

    /// A legacy-era client over SNS and SQS: requests are published to
    /// `server_topic_arn`; replies are published to `reply_topic_arn`, which feeds
    /// `reply_queue_url`, the queue this client receives from.
    ///
    /// ```
    /// use asyncmcp_proto::{Address, ClientConfig};
    ///
    /// let config = ClientConfig::sns_sqs(
    ///     "arn:aws:sns:us-east-1:123456789012:requests",
    ///     "arn:aws:sns:us-east-1:123456789012:replies-1",
    ///     "https://sqs.us-east-1.amazonaws.com/123456789012/replies-1",
    ///     "client-1",
    /// );
    /// assert!(config.server.is_topic() && config.reply_to.is_topic());
    /// ```
    pub fn sns_sqs(
        server_topic_arn: impl Into<String>,
        reply_topic_arn: impl Into<String>,
        reply_queue_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        Self::new(
            Address::Topic(server_topic_arn.into()),
            Address::Topic(reply_topic_arn.into()),
            reply_queue_url,
            client_id,
        )
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        if self.client_id.is_empty() {
            return Err(ConfigError::Invalid { field: "client_id", detail: "must not be empty".into() });
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::Invalid { field: "request_timeout", detail: "must be positive".into() });
        }
        if self.max_pending == 0 {
            return Err(ConfigError::Invalid { field: "max_pending", detail: "must be at least 1".into() });
        }
        Ok(())
    }
}

/// When a server deletes an inbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckPolicy {
    /// After its response was sent (the default: a crash mid-request loses nothing).
    AfterResponse,
    /// As soon as it is delivered to the application (Python asyncmcp's behaviour).
    OnDelivery,
}

/// The MCP protocol versions a server speaks by default: every published revision
/// up to 2026-07-28. Checked against the `ProtocolVersion` attribute when a message
/// carries one.
pub const PROTOCOL_VERSIONS: [&str; 6] =
    ["2024-10-07", "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];

/// Configuration of a [`Server`](crate::Server).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The request queue the server receives from.
    pub queue_url: String,
    /// Reply addresses the server may send to.
    pub allow_reply: AllowList,
    /// A legacy session with no traffic for this long is closed.
    pub session_idle_timeout: Duration,
    /// The request queue's visibility timeout.
    pub visibility_timeout: Duration,
    /// Extend a running request's visibility once it has run this fraction of the
    /// visibility timeout (0 < f < 1).
    pub heartbeat_fraction: f64,
    /// At most this many requests are being handled at once (receive backpressure).
    pub max_in_flight: usize,
    /// At most this many legacy sessions are open at once (default 10 000). Each
    /// holds a little state until it is closed or idles out; an `initialize` past the
    /// limit is answered with a JSON-RPC error
    /// ([`error_codes::TOO_MANY_SESSIONS`](crate::error_codes::TOO_MANY_SESSIONS)),
    /// reported as [`RejectReason::TooManySessions`](crate::RejectReason::TooManySessions)
    /// and deleted.
    pub max_sessions: usize,
    /// A request still unanswered this long after it was delivered is cancelled
    /// (the application gets `notifications/cancelled` on its route) and answered
    /// with an error, so that no message is held invisible forever.
    pub request_deadline: Duration,
    /// When inbound requests are deleted.
    pub ack: AckPolicy,
    /// How long sent responses are kept to answer a redelivered request again.
    pub response_cache_window: Duration,
    /// At most this many responses are kept.
    pub response_cache_capacity: usize,
    /// The MCP protocol versions the application speaks (default:
    /// [`PROTOCOL_VERSIONS`]). A message whose `ProtocolVersion` attribute names
    /// another is rejected ([`RejectReason::UnsupportedVersion`](crate::RejectReason::UnsupportedVersion)),
    /// and a request answered with MCP's `UnsupportedProtocolVersionError`
    /// ([`error_codes::UNSUPPORTED_PROTOCOL_VERSION`](crate::error_codes::UNSUPPORTED_PROTOCOL_VERSION)).
    /// Messages without the attribute are not checked.
    pub protocol_versions: Vec<String>,
    /// Options shared with the client.
    pub common: SharedConfig,
}

impl ServerConfig {
    /// A server on `queue_url` that replies only to addresses `allow_reply` allows.
    pub fn new(queue_url: impl Into<String>, allow_reply: AllowList) -> Self {
        Self {
            queue_url: queue_url.into(),
            allow_reply,
            session_idle_timeout: Duration::from_secs(30 * 60),
            visibility_timeout: Duration::from_secs(30),
            heartbeat_fraction: 0.5,
            max_in_flight: 64,
            max_sessions: 10_000,
            request_deadline: Duration::from_secs(15 * 60),
            ack: AckPolicy::AfterResponse,
            response_cache_window: Duration::from_secs(15 * 60),
            response_cache_capacity: 1_000,
            protocol_versions: PROTOCOL_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
            common: SharedConfig::default(),
        }
    }

    /// The visibility timeout a server's receives ask for: the shorter of
    /// [`SharedConfig::receive_visibility`] and the queue's
    /// [`visibility_timeout`](Self::visibility_timeout); `None` uses the queue's.
    ///
    /// ```
    /// use std::time::Duration;
    /// use asyncmcp_proto::{AllowList, ServerConfig};
    ///
    /// let mut config = ServerConfig::new("https://sqs.us-east-1.amazonaws.com/123456789012/q", AllowList::new());
    /// assert_eq!(config.receive_visibility(), Some(Duration::from_secs(4)));
    /// config.visibility_timeout = Duration::from_secs(2);
    /// assert_eq!(config.receive_visibility(), Some(Duration::from_secs(2)));
    /// ```
    pub fn receive_visibility(&self) -> Option<Duration> {
        self.common.receive_visibility.map(|v| v.min(self.visibility_timeout))
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        if !(self.heartbeat_fraction > 0.0 && self.heartbeat_fraction < 1.0) {
            return Err(ConfigError::Invalid {
                field: "heartbeat_fraction",
                detail: format!("{} is not between 0 and 1", self.heartbeat_fraction),
            });
        }
        if self.visibility_timeout < Duration::from_secs(1) || self.visibility_timeout > Duration::from_secs(43_200) {
            return Err(ConfigError::Invalid {
                field: "visibility_timeout",
                detail: "must be between 1 s and 12 h (SQS's range)".into(),
            });
        }
        if self.request_deadline.is_zero() {
            return Err(ConfigError::Invalid { field: "request_deadline", detail: "must be positive".into() });
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::Invalid { field: "max_in_flight", detail: "must be at least 1".into() });
        }
        if self.max_sessions == 0 {
            return Err(ConfigError::Invalid { field: "max_sessions", detail: "must be at least 1".into() });
        }
        if let Some((entry, e)) = self.allow_reply.invalid().first() {
            return Err(ConfigError::Invalid {
                field: "allow_reply",
                detail: format!("entry {entry:?} is not a queue URL or SNS topic ARN cut after the account: {e}"),
            });
        }
        if self.response_cache_capacity == 0 {
            return Err(ConfigError::Invalid { field: "response_cache_capacity", detail: "must be at least 1".into() });
        }
        Ok(())
    }
}
