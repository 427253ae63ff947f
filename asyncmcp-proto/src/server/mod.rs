//! The server state machine: legacy sessions and modern stateless requests on one
//! request queue.
//!
//! This file holds the [`Server`] and its inputs, outputs and timers; each job lives
//! in a module of its own: `routing` (who sent a message and where it goes),
//! `in_flight` (requests being handled, the response cache, heartbeats), `replies`
//! (composing and sending answers and the server's own messages) and `sessions`
//! (opening, ending and idle expiry of legacy sessions).

mod held;
mod in_flight;
mod replies;
mod routing;
mod sessions;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::address::Address;
use crate::budget::{Budgets, budget};
use crate::cache::ResponseCache;
use crate::codec::WireMeta;
use crate::config::{AckPolicy, Disposition, ServerConfig};
use crate::error::{ApiError, ConfigError};
use crate::event::{CloseReason, QueueOutcome, RejectReason, Rejection, RequestToken, Route, ServerEvent};
use crate::handshake::{self, CLOSE_NOTIFICATION, INITIALIZE};
use crate::inbound::InboundMessage;
use crate::inbox::{Delivery, Inbox, InboxVerdict, Receipt, Streams, rejections};
use crate::jsonrpc::{JsonRpcMessage, MessageKind, RequestId, error_codes};
use crate::op::{OpId, OpKind, OpResult, QueueOp};
use crate::outbound::{Outbound, PeerTakes, Room};
use crate::outbox::{OpEnded, Outbox};
use crate::rng::Rng;
use crate::session_id::SessionId;
use crate::timers::{Timers, deadline_after};

pub use held::HeldRequest;
use held::Hold;
use in_flight::*;
use replies::*;
use routing::*;
use sessions::*;

/// Events waiting to be drained past which the server asks for no more messages.
const MAX_QUEUED_EVENTS: usize = 1024;

/// The server side of MCP over SQS/SNS, as a sans-IO state machine.
///
/// One request queue carries both eras: a legacy client's `initialize` opens a
/// session ([`Route::Session`]); a modern request without a session carries its reply
/// address and is served on its own [`Route::Request`]. Every request delivered as
/// [`ServerEvent::Message`] is answered with [`submit`](Self::submit) on its route;
/// by default it is deleted from the queue only once that answer was sent, its
/// visibility is extended while it runs, and a redelivered copy is answered from the
/// response cache instead of running twice.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    rng: Rng,
    inbox: Inbox,
    outbox: Outbox<OpPurpose>,
    outbound: Outbound,
    events: VecDeque<ServerEvent>,
    sessions: BTreeMap<SessionId, Session>,
    idle: Timers<SessionId>,
    requests: BTreeMap<RequestToken, ModernRequest>,
    /// The token of each running modern request, by what a cancellation names.
    tokens: BTreeMap<CancelKey, RequestToken>,
    next_token: u64,
    in_flight: BTreeMap<InKey, InFlight>,
    heartbeats: Timers<InKey>,
    deadlines: Timers<InKey>,
    cache: ResponseCache<InKey, Cached>,
    /// What the destinations read so far accept.
    budgets: Budgets,
    closed: bool,
}

impl Server {
    /// A server with no sessions. `seed` drives session ids, deduplication ids,
    /// fragment groups and retry jitter: seed it from a secure source, since session
    /// ids must not be guessable.
    ///
    /// # Errors
    /// [`ConfigError`] for a configuration that cannot work.
    pub fn new(config: ServerConfig, now: Instant, seed: [u8; 32]) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = Rng::from_seed(seed);
        Ok(Self {
            inbox: Inbox::new(&config.common, Streams::Opened),
            outbox: Outbox::new(config.common.retry, rng.fork()),
            outbound: Outbound::new(now, config.common.start_unix_millis),
            events: VecDeque::new(),
            sessions: BTreeMap::new(),
            idle: Timers::default(),
            requests: BTreeMap::new(),
            tokens: BTreeMap::new(),
            next_token: 0,
            in_flight: BTreeMap::new(),
            heartbeats: Timers::default(),
            deadlines: Timers::default(),
            cache: ResponseCache::new(config.response_cache_window, config.response_cache_capacity),
            budgets: Budgets::default(),
            closed: false,
            rng,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The queues whose `MaximumMessageSize` this server wants to know: its request
    /// queue, whose budget it advertises (`max=` in `AsyncMcpExt`) so that clients
    /// never send it more. A driver reads them at start and hands each over with
    /// [`handle_max_message_bytes`](Self::handle_max_message_bytes).
    pub fn limit_destinations(&self) -> Vec<Address> {
        vec![Address::Queue(self.config.queue_url.clone())]
    }

    /// Takes what `destination` accepts (its `MaximumMessageSize`, clamped into
    /// 1 024..=1 048 576), as read from the service. The request queue's sets the
    /// `max=` this server advertises (lowered by
    /// [`SharedConfig::limits`](crate::SharedConfig::limits)); any other address's
    /// bounds what this server sends there.
    ///
    /// A reply goes out within the smallest of: what its destination accepts when
    /// read here (else [`SharedConfig::fallback_max_bytes`](crate::SharedConfig::fallback_max_bytes)
    /// when the client advertised nothing), what the client advertised, and
    /// `limits.max_bytes`.
    pub fn handle_max_message_bytes(&mut self, destination: &Address, max_message_bytes: usize) {
        self.budgets.learn(destination, max_message_bytes);
        let own = Address::Queue(self.config.queue_url.clone());
        self.outbound.advertise(self.budgets.receiving(&self.config.common, std::slice::from_ref(&own)));
    }

    /// Live legacy sessions.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Requests delivered and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// How many messages the driver may ask for in its next receive (0..=10): the
    /// room left under `max_in_flight`; 0 once closed or while events pile up.
    /// Requests [held](Self::submit_and_hold) for tasks do not count: they were
    /// answered, and a server running many tasks must still take their polls (the
    /// application bounds how many tasks it runs).
    pub fn receive_credit(&self) -> usize {
        if self.closed || self.events.len() >= MAX_QUEUED_EVENTS {
            return 0;
        }
        let running = self.in_flight.len().saturating_sub(self.held());
        self.config.max_in_flight.saturating_sub(running).min(10)
    }

    /// Takes one message `ReceiveMessage` returned from the request queue.
    pub fn handle_inbound(&mut self, message: InboundMessage, now: Instant) {
        self.fire_timers(now);
        if self.closed {
            // Not ours to handle any more: another worker takes it after its visibility.
            self.events.push_back(ServerEvent::Rejected(Rejection {
                message_id: message.message_id,
                reason: RejectReason::Closed,
                fate: QueueOutcome::LeftForRedelivery,
            }));
            return;
        }
        let mut verdicts = Vec::new();
        self.inbox.handle(message, now, &mut verdicts);
        self.process(verdicts, now);
    }

    fn process(&mut self, verdicts: Vec<InboxVerdict>, now: Instant) {
        for verdict in verdicts {
            match verdict {
                InboxVerdict::Deliver(d) => self.route(*d, now),
                InboxVerdict::Duplicate(r) => self.duplicate(r, now),
                InboxVerdict::Release(r, reason) => self.reject(vec![r], reason, Disposition::LeaveForRedrive, now),
                InboxVerdict::Reject(r, reason) => {
                    let disposition = self.config.common.undecodable;
                    self.reject(vec![r], reason, disposition, now);
                }
                InboxVerdict::Refuse { receipts, reason, id, meta } => {
                    let disposition = self.config.common.undecodable;
                    self.refuse(receipts, reason, id, &meta, disposition, now);
                }
            }
        }
    }

    /// Stops taking work: [`receive_credit`](Self::receive_credit) becomes 0, every
    /// request still running is released (visibility 0) so another worker takes it,
    /// and every session is closed. Answers already submitted are still sent, and
    /// their requests deleted once they are. Call it once in-flight work had its
    /// chance to finish (graceful shutdown drains first).
    pub fn close(&mut self, now: Instant) {
        self.fire_timers(now);
        self.closed = true;
        let flights = std::mem::take(&mut self.in_flight);
        for (key, flight) in flights {
            // A held request's task will not be finished here: another worker takes it.
            if flight.answered && flight.hold == Hold::No {
                self.in_flight.insert(key, flight);
                continue;
            }
            self.heartbeats.cancel(&key);
            self.deadlines.cancel(&key);
            if flight.hold != Hold::No {
                self.cache.remove(&key);
            }
            if flight.acked {
                continue;
            }
            for r in flight.receipts {
                self.change_visibility(&r, 0);
            }
        }
        self.requests.clear();
        self.tokens.clear();
        let ids: Vec<SessionId> = self.sessions.keys().cloned().collect();
        for id in ids {
            self.end_session(&id, CloseReason::ServerClosed, now);
        }
    }

    /// Records how operation `id` ended.
    pub fn handle_op_result(&mut self, id: OpId, result: OpResult, now: Instant) {
        self.fire_timers(now);
        match self.outbox.handle_result(id, result, now) {
            None
            | Some(OpEnded::Succeeded(OpPurpose::Delete { .. } | OpPurpose::Visibility | OpPurpose::Message { .. })) => {
            }
            Some(OpEnded::Succeeded(OpPurpose::Response { key, .. })) => {
                if self.keep_held(&key) {
                    return;
                }
                self.heartbeats.cancel(&key);
                self.deadlines.cancel(&key);
                if let Some(flight) = self.in_flight.remove(&key)
                    && !flight.acked
                {
                    for r in &flight.receipts {
                        self.delete(r);
                    }
                }
            }
            Some(OpEnded::Failed(OpPurpose::Response { key, route, id }, error)) => {
                // The answer never left. The request stays on the queue; its
                // redelivery is handled again and answered from the response cache.
                self.heartbeats.cancel(&key);
                self.deadlines.cancel(&key);
                if let Some(flight) = self.in_flight.remove(&key)
                    && !flight.acked
                {
                    self.unfinished(&flight.receipts, now);
                }
                self.events.push_back(ServerEvent::SendFailed { route, id: Some(id), error });
            }
            Some(OpEnded::Failed(OpPurpose::Message { route, id }, error)) => {
                self.events.push_back(ServerEvent::SendFailed { route, id, error });
            }
            Some(OpEnded::Failed(OpPurpose::Delete { message_id }, error)) => {
                self.events.push_back(ServerEvent::AckFailed { message_id, error });
            }
            // A heartbeat that raced the delete of its message: harmless.
            Some(OpEnded::Failed(OpPurpose::Visibility, _)) => {}
        }
    }

    /// Fires the timers due at `now`. Harmless when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fire_timers(now);
    }

    fn fire_timers(&mut self, now: Instant) {
        self.outbox.handle_timeout(now);
        let mut verdicts = Vec::new();
        self.inbox.handle_timeout(now, &mut verdicts);
        self.process(verdicts, now);
        self.fire_heartbeats(now);
        while let Some(key) = self.deadlines.pop_due(now) {
            self.past_deadline(key, now);
        }
        self.expire_idle_sessions(now);
        self.cache.expire(now);
    }

    /// The next operation to perform.
    #[must_use]
    pub fn poll_op(&mut self) -> Option<QueueOp> {
        self.outbox.poll_op()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.outbox.poll_timeout(),
            self.inbox.poll_timeout(),
            self.heartbeats.next(),
            self.deadlines.next(),
            self.idle.next(),
            self.cache.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
