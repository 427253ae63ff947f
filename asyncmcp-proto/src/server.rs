//! The server state machine: legacy sessions and modern stateless requests on one
//! request queue.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::address::Address;
use crate::cache::ResponseCache;
use crate::codec::WireMeta;
use crate::config::{AckPolicy, Disposition, ServerConfig};
use crate::error::{ApiError, ConfigError};
use crate::event::{CloseReason, Fate, RejectReason, Rejection, RequestToken, Route, ServerEvent};
use crate::handshake::{self, CLOSE_NOTIFICATION, INITIALIZE};
use crate::inbound::InboundMessage;
use crate::inbox::{Delivery, Inbox, Intake, Receipt, rejections};
use crate::jsonrpc::{JsonRpcMessage, MessageKind, RequestId, error_codes};
use crate::op::{OpId, OpKind, OpResult, QueueOp};
use crate::outbound::Outbound;
use crate::outbox::{Done, Outbox};
use crate::rng::Rng;
use crate::session_id::SessionId;
use crate::timers::{Timers, deadline_after};

/// The notification that cancels a request.
const CANCELLED: &str = "notifications/cancelled";

/// Events waiting to be drained past which the server asks for no more messages.
const MAX_QUEUED_EVENTS: usize = 1024;

/// Who sent a request, as the in-flight table and the response cache key it.
///
/// Only a true repeat of a request may be answered from the cache, so each key says
/// what "the same request" means for its kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    /// The `initialize` that opens a session, by the SQS message it came in: a new
    /// `initialize` message opens a new session, whoever sends it; only that message
    /// delivered again is the same request.
    Opening(String),
    /// A request in a legacy session.
    Session(SessionId),
    /// A stateless request: by client, reply address and a fingerprint of the whole
    /// message, so that a restarted client reusing an id with other params is new.
    Stateless { client_id: Option<String>, reply_to: Address, fingerprint: u64 },
    /// A message the server refuses with an error reply, by its SQS message.
    Refused(String),
}

/// A request being handled, or answered and remembered: (peer, JSON-RPC id).
type InKey = (Peer, RequestId);

/// A running stateless request, by what a `notifications/cancelled` can name.
type CancelKey = (Option<String>, Address, RequestId);

#[derive(Debug)]
struct Session {
    reply_to: Address,
    client_id: Option<String>,
    takes_fragments: bool,
    seq: u64,
    /// The key of the `initialize` that opened it, while that request runs.
    opening: Option<InKey>,
    /// Ids of the server's own requests sent in the session and not answered yet:
    /// any other response is rejected.
    awaiting: std::collections::BTreeSet<RequestId>,
}

#[derive(Debug)]
struct ModernRequest {
    reply_to: Address,
    client_id: Option<String>,
    takes_fragments: bool,
    key: InKey,
}

#[derive(Debug)]
struct InFlight {
    receipts: Vec<Receipt>,
    acked: bool,
    route: Route,
    /// Its answer was submitted and is being sent.
    answered: bool,
}

#[derive(Debug, Clone)]
struct Cached {
    message: JsonRpcMessage,
    to: Address,
    session: Option<SessionId>,
    client_id: Option<String>,
    /// The peer takes fragments: a replay may need them as the first send did.
    takes_fragments: bool,
}

#[derive(Debug)]
enum Purpose {
    /// The answer to a request in flight.
    Response {
        key: InKey,
        route: Route,
        id: RequestId,
    },
    Message {
        route: Route,
        id: Option<RequestId>,
    },
    Delete {
        message_id: String,
    },
    Visibility,
}

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
    outbox: Outbox<Purpose>,
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
    closed: bool,
}

/// FNV-1a over the message text: tells a repeat of a stateless request from a new
/// request that reuses its id. Not a defence against a malicious peer, which can only
/// collide with its own requests (the key also holds its client id and address).
fn fingerprint(message: &JsonRpcMessage) -> u64 {
    message.body().iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The smallest SQS message id of a delivery: names it the same way whichever of its
/// receipts came first.
fn first_message_id(receipts: &[Receipt]) -> String {
    receipts.iter().map(|r| r.message_id.as_str()).min().unwrap_or_default().to_owned()
}

/// The smallest key of `peer`: every request of it sorts at or after this one.
fn first_key(peer: Peer) -> InKey {
    (peer, RequestId::Number(i64::MIN))
}

/// The `notifications/cancelled` the application gets when a request passes the
/// server's deadline.
fn cancellation(id: &RequestId, reason: &str) -> JsonRpcMessage {
    JsonRpcMessage::notification(CANCELLED, Some(serde_json::json!({"requestId": id.to_json(), "reason": reason})))
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
            inbox: Inbox::new(&config.common),
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
            closed: false,
            rng,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
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
    pub fn receive_credit(&self) -> usize {
        if self.closed || self.events.len() >= MAX_QUEUED_EVENTS {
            return 0;
        }
        self.config.max_in_flight.saturating_sub(self.in_flight.len()).min(10)
    }

    /// Takes one message `ReceiveMessage` returned from the request queue.
    pub fn handle_inbound(&mut self, message: InboundMessage, now: Instant) {
        self.fire_timers(now);
        if self.closed {
            // Not ours to handle any more: another worker takes it after its visibility.
            self.events.push_back(ServerEvent::Rejected(Rejection {
                message_id: message.message_id,
                reason: RejectReason::Closed,
                fate: Fate::LeftForRedelivery,
            }));
            return;
        }
        let mut intakes = Vec::new();
        self.inbox.handle(message, now, &mut intakes);
        self.process(intakes, now);
    }

    fn process(&mut self, intakes: Vec<Intake>, now: Instant) {
        for intake in intakes {
            match intake {
                Intake::Deliver(d) => self.route(*d, now),
                Intake::Duplicate(r) => self.duplicate(r, now),
                Intake::Release(r, reason) => self.reject(vec![r], reason, Disposition::LeaveForRedrive, now),
                Intake::Reject(r, reason) => {
                    let disposition = self.config.common.undecodable;
                    self.reject(vec![r], reason, disposition, now);
                }
                Intake::Refuse { receipts, reason, id, meta } => {
                    let disposition = self.config.common.undecodable;
                    self.refuse(receipts, reason, id, &meta, disposition, now);
                }
            }
        }
    }

    /// The same SQS message again. While its request runs (and is not acked yet),
    /// keep this receipt beside the others: it may be a redelivery of the same copy
    /// (then only the newest handle deletes it) or a second stored copy (SQS is
    /// at-least-once; then each copy needs its own handle), and deleting with an
    /// outdated handle is harmless. Otherwise it was handled: delete it. (A message
    /// whose handling did not complete, because its answer could not be sent, is
    /// forgotten by the inbox and so is handled again, not taken for a duplicate.)
    fn duplicate(&mut self, r: Receipt, now: Instant) {
        let running = self
            .in_flight
            .values_mut()
            .find(|flight| !flight.acked && flight.receipts.iter().any(|o| o.message_id == r.message_id));
        if let Some(flight) = running {
            flight.receipts.push(r);
            return;
        }
        self.reject(vec![r], RejectReason::Duplicate, Disposition::Delete, now);
    }

    fn reject(&mut self, receipts: Vec<Receipt>, reason: RejectReason, disposition: Disposition, now: Instant) {
        if disposition == Disposition::LeaveForRedrive {
            // Each redelivery is rejected again (until the redrive policy moves it),
            // not deleted as a duplicate.
            self.unfinished(&receipts, now);
        }
        let (doomed, rejections) = rejections(receipts, &reason, disposition);
        for r in &doomed {
            self.delete(r);
        }
        self.events.extend(rejections.into_iter().map(ServerEvent::Rejected));
    }

    /// A request the server will not run: answered with a JSON-RPC error carrying its
    /// id when it names a reply address the allow-list accepts (its live session's,
    /// else `ReplyTo`), and deleted once that answer is sent; otherwise rejected per
    /// `disposition`.
    fn refuse(
        &mut self,
        receipts: Vec<Receipt>,
        reason: RejectReason,
        id: RequestId,
        meta: &WireMeta,
        disposition: Disposition,
        now: Instant,
    ) {
        let session = meta.session_id.as_ref().and_then(|s| Some((s.clone(), self.sessions.get(s)?.reply_to.clone())));
        let to = match &session {
            Some((_, to)) => Some(to.clone()),
            None => meta.reply_to.clone(),
        };
        let Some(to) = to.filter(|a| self.allowed(a)) else {
            return self.reject(receipts, reason, disposition, now);
        };
        let error = crate::inbox::refusal(&reason, id.clone());
        let session_id = session.map(|(s, _)| s);
        let group = session_id.as_ref().map_or_else(|| "asyncmcp".to_owned(), SessionId::to_string);
        let reply_meta = WireMeta { session_id, client_id: meta.client_id.clone(), ..WireMeta::default() };
        let key = (Peer::Refused(first_message_id(&receipts)), id);
        let envelope = Envelope { meta: reply_meta, to, group, takes_fragments: false };
        self.answer_held(key, receipts.clone(), &error, &envelope, now);
        // Deleted once the answer is sent; left for redelivery if it cannot be.
        for r in receipts {
            self.events.push_back(ServerEvent::Rejected(Rejection {
                message_id: r.message_id,
                reason: reason.clone(),
                fate: Fate::Deleted,
            }));
        }
    }

    fn delete(&mut self, r: &Receipt) {
        let kind =
            OpKind::Delete { queue_url: self.config.queue_url.clone(), receipt_handle: r.receipt_handle.clone() };
        self.outbox.push(vec![kind], Purpose::Delete { message_id: r.message_id.clone() });
    }

    /// Handling of these messages did not complete (their answer could not be sent):
    /// the inbox forgets them, so that SQS's redelivery is handled again and answered
    /// from the response cache instead of being deleted as a duplicate.
    fn unfinished(&mut self, receipts: &[Receipt], now: Instant) {
        for r in receipts {
            self.inbox.forget(&r.message_id, now);
        }
    }

    fn route(&mut self, d: Delivery, now: Instant) {
        if let Some(requested) = d.meta.protocol_version.as_deref()
            && !self.config.protocol_versions.iter().any(|v| v == requested)
        {
            let reason = RejectReason::UnsupportedVersion {
                requested: crate::clip_peer_text(requested).into_owned(),
                supported: self.config.protocol_versions.clone(),
            };
            return match (d.message.kind(), d.message.id().cloned()) {
                (MessageKind::Request, Some(id)) => {
                    self.refuse(d.receipts, reason, id, &d.meta, Disposition::Delete, now)
                }
                _ => self.reject(d.receipts, reason, Disposition::Delete, now),
            };
        }
        if let Some(session_id) = d.meta.session_id.clone() {
            self.route_session(session_id, d, now);
        } else if d.message.method() == Some(INITIALIZE)
            && d.message.kind() == MessageKind::Request
            && handshake::reply_address(&d.message).is_some()
        {
            // A legacy handshake names its reply address in `initialize` itself. An
            // `initialize` with only the `ReplyTo` attribute comes from a client of the
            // stateless era (some SDKs still send it): it is an ordinary request.
            self.open_session(d, now);
        } else {
            self.route_modern(d, now);
        }
    }

    fn allowed(&self, address: &Address) -> bool {
        self.config.allow_reply.allows(address)
    }

    fn route_session(&mut self, session_id: SessionId, d: Delivery, now: Instant) {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return self.unknown_session(session_id, d, now);
        };
        if d.meta.ext.takes_fragments {
            session.takes_fragments = true;
        }
        self.idle.set(session_id.clone(), now + self.config.session_idle_timeout);
        if d.message.kind().is_reply() {
            let id = d.message.id().cloned().unwrap_or(RequestId::Null);
            if !session.awaiting.remove(&id) {
                return self.reject(d.receipts, RejectReason::UnknownResponse(id), Disposition::Delete, now);
            }
        }
        if d.message.method() == Some(CLOSE_NOTIFICATION) {
            for r in &d.receipts {
                self.delete(r);
            }
            self.end_session(&session_id, CloseReason::Closed, now);
            return;
        }
        self.deliver(Route::Session(session_id.clone()), Peer::Session(session_id), d, now);
    }

    /// A request for a session this server does not know (expired, or another
    /// server's before a restart): answer "session not found" when the client named a
    /// reply address, so it does not wait for nothing.
    fn unknown_session(&mut self, session_id: SessionId, d: Delivery, now: Instant) {
        let reply = d.meta.reply_to.clone().filter(|a| self.allowed(a));
        match (d.message.kind(), d.message.id().cloned(), reply) {
            (MessageKind::Request, Some(id), Some(to)) => {
                let error = JsonRpcMessage::error(
                    id.clone(),
                    error_codes::INVALID_REQUEST,
                    &format!("session not found: {session_id}"),
                    Some(serde_json::json!({ "sessionId": session_id.as_str() })),
                );
                let meta = WireMeta { session_id: Some(session_id.clone()), ..WireMeta::default() };
                let key = (Peer::Refused(first_message_id(&d.receipts)), id);
                let envelope = Envelope { meta, to, group: session_id.to_string(), takes_fragments: false };
                self.answer_held(key, d.receipts.clone(), &error, &envelope, now);
                for r in d.receipts {
                    self.events.push_back(ServerEvent::Rejected(Rejection {
                        message_id: r.message_id,
                        reason: RejectReason::UnknownSession(session_id.clone()),
                        fate: Fate::Deleted,
                    }));
                }
            }
            _ => self.reject(d.receipts, RejectReason::UnknownSession(session_id), Disposition::Delete, now),
        }
    }

    fn open_session(&mut self, d: Delivery, now: Instant) {
        let Some(reply_to) = handshake::reply_address(&d.message) else {
            return self.reject(d.receipts, RejectReason::NoReplyAddress, self.config.common.undecodable, now);
        };
        if !self.allowed(&reply_to) {
            return self.reject(
                d.receipts,
                RejectReason::ReplyNotAllowed(reply_to),
                self.config.common.undecodable,
                now,
            );
        }
        // Only this very message delivered again is the same handshake: a client that
        // restarted (same ClientId, ids from 0 again) must get a session of its own.
        let peer = Peer::Opening(first_message_id(&d.receipts));
        if let Some(id) = d.message.id().cloned()
            && self.answer_again(&(peer.clone(), id), &d.receipts, now)
        {
            return;
        }
        let session_id = SessionId::from_bits(self.rng.next_u128());
        self.sessions.insert(
            session_id.clone(),
            Session {
                reply_to: reply_to.clone(),
                client_id: d.meta.client_id.clone(),
                takes_fragments: d.meta.ext.takes_fragments,
                seq: 0,
                opening: d.message.id().cloned().map(|id| (peer.clone(), id)),
                awaiting: std::collections::BTreeSet::new(),
            },
        );
        self.idle.set(session_id.clone(), now + self.config.session_idle_timeout);
        self.events.push_back(ServerEvent::SessionOpened {
            session_id: session_id.clone(),
            client_id: d.meta.client_id.clone(),
            reply_to,
        });
        self.deliver(Route::Session(session_id), peer, d, now);
    }

    fn route_modern(&mut self, d: Delivery, now: Instant) {
        match d.message.kind() {
            MessageKind::Request => {}
            MessageKind::Notification => {
                for r in &d.receipts {
                    self.delete(r);
                }
                let route = self.cancelled_request(&d).map_or(Route::Detached, Route::Request);
                self.events.push_back(ServerEvent::Message { route, message: d.message });
                return;
            }
            _ => {
                let id = d.message.id().cloned().unwrap_or(RequestId::Null);
                return self.reject(d.receipts, RejectReason::UnknownResponse(id), Disposition::Delete, now);
            }
        }
        let Some(reply_to) = d.meta.reply_to.clone() else {
            return self.reject(d.receipts, RejectReason::NoReplyAddress, self.config.common.undecodable, now);
        };
        if !self.allowed(&reply_to) {
            return self.reject(
                d.receipts,
                RejectReason::ReplyNotAllowed(reply_to),
                self.config.common.undecodable,
                now,
            );
        }
        let Some(id) = d.message.id().cloned() else { return };
        let peer = Peer::Stateless {
            client_id: d.meta.client_id.clone(),
            reply_to: reply_to.clone(),
            fingerprint: fingerprint(&d.message),
        };
        let key = (peer.clone(), id.clone());
        if self.answer_again(&key, &d.receipts, now) {
            return;
        }
        let token = RequestToken(self.next_token);
        self.next_token += 1;
        self.tokens.insert((d.meta.client_id.clone(), reply_to.clone(), id), token);
        self.requests.insert(
            token,
            ModernRequest {
                reply_to,
                client_id: d.meta.client_id.clone(),
                takes_fragments: d.meta.ext.takes_fragments,
                key,
            },
        );
        self.deliver(Route::Request(token), peer, d, now);
    }

    /// The running modern request a `notifications/cancelled` names: the same client
    /// (by `ClientId` and `ReplyTo`) and `params.requestId`.
    fn cancelled_request(&self, d: &Delivery) -> Option<RequestToken> {
        if d.message.method() != Some(CANCELLED) {
            return None;
        }
        let reply_to = d.meta.reply_to.as_ref()?;
        let value = d.message.to_value();
        let id = match value.pointer("/params/requestId")? {
            serde_json::Value::Number(n) => RequestId::Number(n.as_i64()?),
            serde_json::Value::String(s) => RequestId::String(s.clone()),
            _ => return None,
        };
        self.tokens.get(&(d.meta.client_id.clone(), reply_to.clone(), id)).copied()
    }

    /// A request already running or already answered: never run it twice. Returns
    /// true when it was handled here.
    fn answer_again(&mut self, key: &InKey, receipts: &[Receipt], now: Instant) -> bool {
        if self.in_flight.contains_key(key) {
            self.reject(receipts.to_vec(), RejectReason::Duplicate, Disposition::Delete, now);
            return true;
        }
        let Some(cached) = self.cache.get(key).cloned() else { return false };
        let meta =
            WireMeta { session_id: cached.session.clone(), client_id: cached.client_id.clone(), ..WireMeta::default() };
        let group =
            cached.session.as_ref().map_or_else(|| cached.client_id.clone().unwrap_or_default(), |s| s.to_string());
        let id = key.1.clone();
        let envelope = Envelope { meta, to: cached.to.clone(), group, takes_fragments: cached.takes_fragments };
        self.answer_held(key.clone(), receipts.to_vec(), &cached.message, &envelope, now);
        self.events.push_back(ServerEvent::ResponseReplayed { to: cached.to, id });
        true
    }

    /// Sends an answer the server composed or replays, for messages it holds under
    /// `key` until the answer is sent (then they are deleted) or fails (then they are
    /// left for redelivery and handled again). Held like a running request: a
    /// redelivery meanwhile joins these receipts instead of being taken for a
    /// finished duplicate, and the heartbeat keeps them invisible.
    fn answer_held(
        &mut self,
        key: InKey,
        receipts: Vec<Receipt>,
        message: &JsonRpcMessage,
        envelope: &Envelope,
        now: Instant,
    ) {
        let id = key.1.clone();
        let kinds = match self.encode(message, envelope, now) {
            Ok(kinds) => kinds,
            Err(e) => {
                // Nothing this server composes is unsendable; if it were, SQS decides.
                self.unfinished(&receipts, now);
                self.events.push_back(ServerEvent::SendFailed {
                    route: Route::Detached,
                    id: Some(id),
                    error: e.into(),
                });
                return;
            }
        };
        if !receipts.is_empty() {
            self.heartbeats.set(key.clone(), now + self.first_heartbeat());
        }
        let flight = InFlight { receipts, acked: false, route: Route::Detached, answered: true };
        self.in_flight.insert(key.clone(), flight);
        self.outbox.push(kinds, Purpose::Response { key, route: Route::Detached, id });
    }

    fn deliver(&mut self, route: Route, peer: Peer, d: Delivery, now: Instant) {
        let Delivery { receipts, message, .. } = d;
        if let (MessageKind::Request, Some(id)) = (message.kind(), message.id().cloned()) {
            let key = (peer, id);
            if matches!(key.0, Peer::Session(_)) && self.answer_again(&key, &receipts, now) {
                return;
            }
            let acked = self.config.ack == AckPolicy::OnDelivery;
            if acked {
                for r in &receipts {
                    self.delete(r);
                }
            } else {
                self.heartbeats.set(key.clone(), now + self.first_heartbeat());
            }
            self.deadlines.set(key.clone(), deadline_after(now, self.config.request_deadline));
            self.in_flight.insert(key, InFlight { receipts, acked, route: route.clone(), answered: false });
        } else {
            for r in &receipts {
                self.delete(r);
            }
        }
        self.events.push_back(ServerEvent::Message { route, message });
    }

    /// Before the short visibility of the receive (`Common::receive_visibility`) ends.
    fn first_heartbeat(&self) -> std::time::Duration {
        let received = self.config.receive_visibility().unwrap_or(self.config.visibility_timeout);
        received.mul_f64(self.config.heartbeat_fraction)
    }

    fn heartbeat_interval(&self) -> std::time::Duration {
        self.config.visibility_timeout.mul_f64(self.config.heartbeat_fraction)
    }

    /// Sends `message` on `route`: a response or error to a request delivered there,
    /// or (legacy sessions only) a request or notification of the server's own.
    /// Notifications on a [`Route::Request`] (progress, logging) go to the requester.
    ///
    /// An answer is kept in the response cache from this call on, so a redelivered
    /// copy of its request is answered again, never run twice, even when this send
    /// fails for good.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] for a closed session, a finished request or
    /// [`Route::Detached`]; [`ApiError::RequestOnModernRoute`] for a server request on
    /// a modern route; [`ApiError::InvalidXmlChar`] when it cannot be sent;
    /// [`ApiError::TooLarge`] when it does not fit in a message (for an answer, the
    /// requester then gets, in its place, a JSON-RPC error that names the size and
    /// the limit, and the request is done).
    pub fn submit(&mut self, route: &Route, message: JsonRpcMessage, now: Instant) -> Result<(), ApiError> {
        self.fire_timers(now);
        self.send_on(route, message, now)
    }

    fn send_on(&mut self, route: &Route, message: JsonRpcMessage, now: Instant) -> Result<(), ApiError> {
        let reply_id = message.kind().is_reply().then(|| message.id().cloned()).flatten();
        match route {
            Route::Detached => Err(ApiError::UnknownRoute(route.to_string())),
            Route::Session(session_id) => {
                let session =
                    self.sessions.get_mut(session_id).ok_or_else(|| ApiError::UnknownRoute(route.to_string()))?;
                let mut meta = WireMeta {
                    session_id: Some(session_id.clone()),
                    client_id: session.client_id.clone(),
                    ..WireMeta::default()
                };
                if self.config.common.ordering.is_some() {
                    meta.ext.seq = Some(session.seq);
                    session.seq += 1;
                }
                let to = session.reply_to.clone();
                let takes = session.takes_fragments;
                let opening = session.opening.clone();
                self.idle.set(session_id.clone(), now + self.config.session_idle_timeout);
                let key = reply_id.and_then(|id| {
                    let session_key = (Peer::Session(session_id.clone()), id.clone());
                    if self.in_flight.contains_key(&session_key) {
                        return Some(session_key);
                    }
                    opening.filter(|k| k.1 == id && self.in_flight.contains_key(k))
                });
                let envelope = Envelope { meta, to, group: session_id.to_string(), takes_fragments: takes };
                match key {
                    Some(key) => self.answer(route, key, message, envelope, Some(session_id.clone()), now),
                    None => {
                        let purpose = Purpose::Message { route: route.clone(), id: message.id().cloned() };
                        self.try_send(&message, &envelope, purpose, now)?;
                        if let (MessageKind::Request, Some(id), Some(session)) =
                            (message.kind(), message.id(), self.sessions.get_mut(session_id))
                        {
                            session.awaiting.insert(id.clone());
                        }
                        Ok(())
                    }
                }
            }
            Route::Request(token) => {
                if message.kind() == MessageKind::Request {
                    return Err(ApiError::RequestOnModernRoute);
                }
                let request = self.requests.get(token).ok_or_else(|| ApiError::UnknownRoute(route.to_string()))?;
                let envelope = Envelope {
                    meta: WireMeta { client_id: request.client_id.clone(), ..WireMeta::default() },
                    to: request.reply_to.clone(),
                    group: request.client_id.clone().unwrap_or_else(|| "asyncmcp".to_owned()),
                    takes_fragments: request.takes_fragments,
                };
                let key = request.key.clone();
                if reply_id.as_ref() != Some(&key.1) {
                    let purpose = Purpose::Message { route: route.clone(), id: message.id().cloned() };
                    return self.try_send(&message, &envelope, purpose, now);
                }
                let token = *token;
                let result = self.answer(route, key, message, envelope, None, now);
                // Answered (maybe by the error that replaced a response too large):
                // the route ends. Refused otherwise: the application may answer again.
                if matches!(result, Ok(()) | Err(ApiError::TooLarge { .. })) {
                    self.forget_request(token);
                }
                result
            }
        }
    }

    /// Sends the answer to the request in flight under `key` and keeps it in the
    /// response cache. An answer too large for one message is replaced by an error
    /// naming the size and the limit, so the requester is never left waiting.
    fn answer(
        &mut self,
        route: &Route,
        key: InKey,
        message: JsonRpcMessage,
        envelope: Envelope,
        session: Option<SessionId>,
        now: Instant,
    ) -> Result<(), ApiError> {
        let id = key.1.clone();
        let (kinds, sent, outcome) = match self.encode(&message, &envelope, now) {
            Ok(kinds) => (kinds, message, Ok(())),
            Err(ApiError::TooLarge { size, limit }) => {
                let error = too_large(id.clone(), size, limit, &envelope.to);
                (self.encode(&error, &envelope, now)?, error, Err(ApiError::TooLarge { size, limit }))
            }
            Err(e) => return Err(e),
        };
        let cached = Cached {
            message: sent,
            to: envelope.to,
            session,
            client_id: envelope.meta.client_id.clone(),
            takes_fragments: envelope.takes_fragments,
        };
        self.cache.insert(key.clone(), cached, now);
        if let Some(flight) = self.in_flight.get_mut(&key) {
            flight.answered = true;
        }
        self.deadlines.cancel(&key);
        self.outbox.push(kinds, Purpose::Response { key, route: route.clone(), id });
        outcome
    }

    fn forget_request(&mut self, token: RequestToken) {
        if let Some(request) = self.requests.remove(&token) {
            let cancel_key = (request.client_id, request.reply_to, request.key.1);
            if self.tokens.get(&cancel_key) == Some(&token) {
                self.tokens.remove(&cancel_key);
            }
        }
    }

    /// Ends request `id` on `route` without answering it, as MCP asks for a
    /// cancelled request: its message is deleted (unless already acknowledged) and its
    /// route, for a modern request, ends.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] when no such request is running there.
    pub fn finish(&mut self, route: &Route, id: &RequestId, now: Instant) -> Result<(), ApiError> {
        self.fire_timers(now);
        let unknown = || ApiError::UnknownRoute(format!("{route}, request {id}"));
        let key = match route {
            Route::Request(token) => {
                let request = self.requests.get(token).ok_or_else(unknown)?;
                if request.key.1 != *id {
                    return Err(unknown());
                }
                let key = request.key.clone();
                self.forget_request(*token);
                key
            }
            Route::Session(session_id) => {
                let session = self.sessions.get(session_id).ok_or_else(unknown)?;
                let session_key = (Peer::Session(session_id.clone()), id.clone());
                match &session.opening {
                    Some(opening) if opening.1 == *id && !self.in_flight.contains_key(&session_key) => opening.clone(),
                    _ => session_key,
                }
            }
            Route::Detached => return Err(unknown()),
        };
        let flight = self.in_flight.remove(&key).ok_or_else(unknown)?;
        self.heartbeats.cancel(&key);
        self.deadlines.cancel(&key);
        if !flight.acked {
            for r in &flight.receipts {
                self.delete(r);
            }
        }
        Ok(())
    }

    fn encode(&mut self, message: &JsonRpcMessage, envelope: &Envelope, now: Instant) -> Result<Vec<OpKind>, ApiError> {
        self.outbound.sends(
            &self.config.common,
            message,
            envelope.meta.clone(),
            &envelope.to,
            &envelope.group,
            envelope.takes_fragments,
            &mut self.rng,
            now,
        )
    }

    fn try_send(
        &mut self,
        message: &JsonRpcMessage,
        envelope: &Envelope,
        purpose: Purpose,
        now: Instant,
    ) -> Result<(), ApiError> {
        let kinds = self.encode(message, envelope, now)?;
        self.outbox.push(kinds, purpose);
        Ok(())
    }

    /// Ends a legacy session from the server side. Requests of it still running are
    /// answered with an error and deleted.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] if there is no such session.
    pub fn close_session(&mut self, session_id: &SessionId, now: Instant) -> Result<(), ApiError> {
        self.fire_timers(now);
        if !self.sessions.contains_key(session_id) {
            return Err(ApiError::UnknownRoute(format!("session {session_id}")));
        }
        self.end_session(session_id, CloseReason::ServerClosed, now);
        Ok(())
    }

    /// Ends a session. What it still holds is never left behind: each request of it
    /// still running, or waiting behind an ordering gap, is answered with an error
    /// (then deleted), so that neither the message nor its receive credit is held;
    /// other messages waiting for order are rejected and deleted; unfinished fragments
    /// are left on the queue (assembled when they come back, they get "session not
    /// found").
    fn end_session(&mut self, session_id: &SessionId, reason: CloseReason, now: Instant) {
        let Some(session) = self.sessions.remove(session_id) else { return };
        self.idle.cancel(session_id);
        let peer = Peer::Session(session_id.clone());
        let mut running: Vec<InKey> = self
            .in_flight
            .range(first_key(peer.clone())..)
            .map(|(k, _)| k.clone())
            .take_while(|k| k.0 == peer)
            .collect();
        running.extend(session.opening.clone().filter(|k| self.in_flight.contains_key(k)));
        let mut unanswered = Vec::new();
        for key in running {
            if self.in_flight.get(&key).is_some_and(|f| f.answered) {
                continue; // its answer is on its way; the message goes when it is sent
            }
            let Some(flight) = self.in_flight.remove(&key) else { continue };
            self.heartbeats.cancel(&key);
            self.deadlines.cancel(&key);
            let receipts = if flight.acked { Vec::new() } else { flight.receipts };
            unanswered.push((key, receipts));
        }
        let (waiting, fragments) = self.inbox.forget_session(session_id);
        let mut stray = Vec::new();
        for d in waiting {
            match (d.message.kind(), d.message.id().cloned()) {
                (MessageKind::Request, Some(id)) => unanswered.push(((peer.clone(), id), d.receipts)),
                _ => stray.extend(d.receipts),
            }
        }
        for (key, receipts) in unanswered {
            let error = JsonRpcMessage::error(
                key.1.clone(),
                error_codes::INVALID_REQUEST,
                &format!("session {session_id} ended ({}) before this request was answered", close_text(reason)),
                None,
            );
            let meta = WireMeta {
                session_id: Some(session_id.clone()),
                client_id: session.client_id.clone(),
                ..WireMeta::default()
            };
            let envelope =
                Envelope { meta, to: session.reply_to.clone(), group: session_id.to_string(), takes_fragments: false };
            self.answer_held(key, receipts, &error, &envelope, now);
        }
        self.events.push_back(ServerEvent::SessionClosed { session_id: session_id.clone(), reason });
        let gone = RejectReason::UnknownSession(session_id.clone());
        self.reject(stray, gone.clone(), Disposition::Delete, now);
        self.reject(fragments, gone, Disposition::LeaveForRedrive, now);
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
            if flight.answered {
                self.in_flight.insert(key, flight);
                continue;
            }
            self.heartbeats.cancel(&key);
            self.deadlines.cancel(&key);
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

    fn change_visibility(&mut self, r: &Receipt, secs: u32) {
        let kind = OpKind::ChangeVisibility {
            queue_url: self.config.queue_url.clone(),
            receipt_handle: r.receipt_handle.clone(),
            timeout_secs: secs,
        };
        self.outbox.push(vec![kind], Purpose::Visibility);
    }

    /// Records how operation `id` ended.
    pub fn handle_op_result(&mut self, id: OpId, result: OpResult, now: Instant) {
        self.fire_timers(now);
        match self.outbox.handle_result(id, result, now) {
            None | Some(Done::Ok(Purpose::Delete { .. } | Purpose::Visibility | Purpose::Message { .. })) => {}
            Some(Done::Ok(Purpose::Response { key, .. })) => {
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
            Some(Done::Failed(Purpose::Response { key, route, id }, error)) => {
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
            Some(Done::Failed(Purpose::Message { route, id }, error)) => {
                self.events.push_back(ServerEvent::SendFailed { route, id, error });
            }
            Some(Done::Failed(Purpose::Delete { message_id }, error)) => {
                self.events.push_back(ServerEvent::AckFailed { message_id, error });
            }
            // A heartbeat that raced the delete of its message: harmless.
            Some(Done::Failed(Purpose::Visibility, _)) => {}
        }
    }

    /// Fires the timers due at `now`. Harmless when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fire_timers(now);
    }

    fn fire_timers(&mut self, now: Instant) {
        self.outbox.handle_timeout(now);
        let mut intakes = Vec::new();
        self.inbox.handle_timeout(now, &mut intakes);
        self.process(intakes, now);
        while let Some(key) = self.heartbeats.pop_due(now) {
            let receipts = match self.in_flight.get(&key) {
                Some(flight) if !flight.acked => flight.receipts.clone(),
                _ => continue,
            };
            let secs = u32::try_from(self.config.visibility_timeout.as_secs()).unwrap_or(43_200);
            for r in &receipts {
                self.change_visibility(r, secs);
            }
            self.heartbeats.set(key, now + self.heartbeat_interval());
        }
        while let Some(key) = self.deadlines.pop_due(now) {
            self.past_deadline(key, now);
        }
        while let Some(session_id) = self.idle.pop_due(now) {
            let peer = Peer::Session(session_id.clone());
            // The smallest possible key of this peer: any request of the session sorts
            // at or after it (O(log n), not a scan).
            if self.in_flight.range(first_key(peer.clone())..).next().is_some_and(|((p, _), _)| *p == peer) {
                // Work is still running in it: not idle.
                self.idle.set(session_id, now + self.config.session_idle_timeout);
            } else {
                self.end_session(&session_id, CloseReason::Idle, now);
            }
        }
        self.cache.expire(now);
    }

    /// A request unanswered at its deadline: the application is told to cancel it,
    /// and the requester gets an error in its place.
    fn past_deadline(&mut self, key: InKey, now: Instant) {
        let Some(flight) = self.in_flight.get(&key) else { return };
        if flight.answered {
            return;
        }
        let route = flight.route.clone();
        let secs = self.config.request_deadline.as_secs();
        let reason = format!("the server's deadline of {secs} s for this request passed");
        self.events.push_back(ServerEvent::Message { route: route.clone(), message: cancellation(&key.1, &reason) });
        let error = JsonRpcMessage::error(
            key.1.clone(),
            error_codes::REQUEST_TIMEOUT,
            &format!("{reason} before it was answered"),
            Some(serde_json::json!({ "deadlineSeconds": secs })),
        );
        if let Err(e) = self.send_on(&route, error, now) {
            // Nothing can answer it: stop holding it, and let SQS decide (redrive).
            self.events.push_back(ServerEvent::SendFailed { route, id: Some(key.1.clone()), error: e.into() });
            if let Some(flight) = self.in_flight.remove(&key) {
                self.heartbeats.cancel(&key);
                self.unfinished(&flight.receipts, now);
            }
        }
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

/// Where and how a message to one peer goes.
#[derive(Debug)]
struct Envelope {
    meta: WireMeta,
    to: Address,
    group: String,
    takes_fragments: bool,
}

fn close_text(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::Closed => "closed by the client",
        CloseReason::Idle => "idle",
        _ => "closed by the server",
    }
}

/// The error that answers a request whose response does not fit in one message.
fn too_large(id: RequestId, size: usize, limit: usize, to: &Address) -> JsonRpcMessage {
    JsonRpcMessage::error(
        id,
        error_codes::INTERNAL_ERROR,
        &format!(
            "the response is {size} bytes, over the {limit}-byte limit of one message to {to}, \
             and the client takes no fragments"
        ),
        Some(serde_json::json!({ "size": size, "limit": limit })),
    )
}
