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
use crate::timers::Timers;

/// The notification that cancels a request.
const CANCELLED: &str = "notifications/cancelled";

/// Events waiting to be drained past which the server asks for no more messages.
const MAX_QUEUED_EVENTS: usize = 1024;

/// A request being handled: (peer, JSON-RPC id).
type InKey = (String, RequestId);

#[derive(Debug)]
struct Session {
    reply_to: Address,
    client_id: Option<String>,
    takes_fragments: bool,
    seq: u64,
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
}

#[derive(Debug, Clone)]
struct Cached {
    message: JsonRpcMessage,
    to: Address,
    session: Option<SessionId>,
    client_id: Option<String>,
}

#[derive(Debug)]
enum Purpose {
    Response {
        key: InKey,
        route: Route,
        cached: Box<Cached>,
    },
    Message {
        route: Route,
        id: Option<RequestId>,
    },
    /// An error reply to a message that is then deleted.
    Refusal {
        receipts: Vec<Receipt>,
        id: RequestId,
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
    /// The token of each running modern request, by (client, id).
    tokens: BTreeMap<InKey, RequestToken>,
    next_token: u64,
    in_flight: BTreeMap<InKey, InFlight>,
    heartbeats: Timers<InKey>,
    cache: ResponseCache<InKey, Cached>,
    closed: bool,
}

fn session_peer(s: &SessionId) -> String {
    format!("s:{s}")
}

fn modern_peer(client_id: Option<&str>, reply_to: &Address) -> String {
    format!("m:{}:{reply_to}", client_id.unwrap_or_default())
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
                Intake::Duplicate(r) => self.duplicate(r),
                Intake::Reject(r, reason) => {
                    let disposition = self.config.common.undecodable;
                    self.reject(vec![r], reason, disposition);
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
    /// outdated handle is harmless. Otherwise it was handled: delete it.
    fn duplicate(&mut self, r: Receipt) {
        let running = self
            .in_flight
            .values_mut()
            .find(|flight| !flight.acked && flight.receipts.iter().any(|o| o.message_id == r.message_id));
        if let Some(flight) = running {
            flight.receipts.push(r);
            return;
        }
        self.reject(vec![r], RejectReason::Duplicate, Disposition::Delete);
    }

    fn reject(&mut self, receipts: Vec<Receipt>, reason: RejectReason, disposition: Disposition) {
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
            return self.reject(receipts, reason, disposition);
        };
        let error = crate::inbox::refusal(&reason, id.clone());
        let session_id = session.map(|(s, _)| s);
        let group = session_id.as_ref().map_or_else(|| "asyncmcp".to_owned(), SessionId::to_string);
        let reply_meta = WireMeta { session_id, client_id: meta.client_id.clone(), ..WireMeta::default() };
        let purpose = Purpose::Refusal { receipts: receipts.clone(), id };
        self.send_to(&error, reply_meta, &to, &group, false, purpose, now);
        // Deleted once the answer is sent (`Purpose::Refusal`).
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
                _ => self.reject(d.receipts, reason, Disposition::Delete),
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
                return self.reject(d.receipts, RejectReason::UnknownResponse(id), Disposition::Delete);
            }
        }
        if d.message.method() == Some(CLOSE_NOTIFICATION) {
            for r in &d.receipts {
                self.delete(r);
            }
            self.end_session(&session_id, CloseReason::Closed);
            return;
        }
        let peer = session_peer(&session_id);
        self.deliver(Route::Session(session_id), peer, d, now);
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
                let purpose = Purpose::Refusal { receipts: d.receipts.clone(), id };
                self.send_to(&error, meta, &to, session_id.as_str(), false, purpose, now);
                for r in d.receipts {
                    self.events.push_back(ServerEvent::Rejected(Rejection {
                        message_id: r.message_id,
                        reason: RejectReason::UnknownSession(session_id.clone()),
                        fate: Fate::Deleted,
                    }));
                }
            }
            _ => self.reject(d.receipts, RejectReason::UnknownSession(session_id), Disposition::Delete),
        }
    }

    fn open_session(&mut self, d: Delivery, now: Instant) {
        let Some(reply_to) = handshake::reply_address(&d.message) else {
            return self.reject(d.receipts, RejectReason::NoReplyAddress, Disposition::Delete);
        };
        if !self.allowed(&reply_to) {
            return self.reject(d.receipts, RejectReason::ReplyNotAllowed(reply_to), Disposition::Delete);
        }
        // A client that sent `initialize` twice (a retry with a new message id) gets
        // the first answer again, not a second session.
        let init_peer = format!("i:{}", modern_peer(d.meta.client_id.as_deref(), &reply_to));
        if let Some(id) = d.message.id().cloned()
            && self.answer_again(&(init_peer.clone(), id), &d.receipts, now)
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
                awaiting: std::collections::BTreeSet::new(),
            },
        );
        self.idle.set(session_id.clone(), now + self.config.session_idle_timeout);
        self.events.push_back(ServerEvent::SessionOpened {
            session_id: session_id.clone(),
            client_id: d.meta.client_id.clone(),
            reply_to,
        });
        self.deliver(Route::Session(session_id), init_peer, d, now);
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
                return self.reject(d.receipts, RejectReason::UnknownResponse(id), Disposition::Delete);
            }
        }
        let Some(reply_to) = d.meta.reply_to.clone() else {
            return self.reject(d.receipts, RejectReason::NoReplyAddress, Disposition::Delete);
        };
        if !self.allowed(&reply_to) {
            return self.reject(d.receipts, RejectReason::ReplyNotAllowed(reply_to), Disposition::Delete);
        }
        let peer = modern_peer(d.meta.client_id.as_deref(), &reply_to);
        let Some(id) = d.message.id().cloned() else { return };
        let key = (peer.clone(), id);
        if self.answer_again(&key, &d.receipts, now) {
            return;
        }
        let token = RequestToken(self.next_token);
        self.next_token += 1;
        self.tokens.insert(key.clone(), token);
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
        let key = (modern_peer(d.meta.client_id.as_deref(), reply_to), id);
        self.tokens.get(&key).copied()
    }

    /// A request already running or already answered: never run it twice. Returns
    /// true when it was handled here.
    fn answer_again(&mut self, key: &InKey, receipts: &[Receipt], now: Instant) -> bool {
        if self.in_flight.contains_key(key) {
            self.reject(receipts.to_vec(), RejectReason::Duplicate, Disposition::Delete);
            return true;
        }
        let Some(cached) = self.cache.get(key).cloned() else { return false };
        let meta =
            WireMeta { session_id: cached.session.clone(), client_id: cached.client_id.clone(), ..WireMeta::default() };
        let group =
            cached.session.as_ref().map_or_else(|| cached.client_id.clone().unwrap_or_default(), |s| s.to_string());
        let id = key.1.clone();
        let purpose = Purpose::Refusal { receipts: receipts.to_vec(), id: id.clone() };
        self.send_to(&cached.message, meta, &cached.to, &group, false, purpose, now);
        self.events.push_back(ServerEvent::ResponseReplayed { to: cached.to, id });
        true
    }

    fn deliver(&mut self, route: Route, peer: String, d: Delivery, now: Instant) {
        let Delivery { receipts, message, .. } = d;
        if let (MessageKind::Request, Some(id)) = (message.kind(), message.id().cloned()) {
            let key = (peer, id);
            if matches!(route, Route::Session(_)) && self.answer_again(&key, &receipts, now) {
                return;
            }
            let acked = self.config.ack == AckPolicy::OnDelivery;
            if acked {
                for r in &receipts {
                    self.delete(r);
                }
            } else {
                self.heartbeats.set(key.clone(), now + self.heartbeat_interval());
            }
            self.in_flight.insert(key, InFlight { receipts, acked });
        } else {
            for r in &receipts {
                self.delete(r);
            }
        }
        self.events.push_back(ServerEvent::Message { route, message });
    }

    fn heartbeat_interval(&self) -> std::time::Duration {
        self.config.visibility_timeout.mul_f64(self.config.heartbeat_fraction)
    }

    /// Sends `message` on `route`: a response or error to a request delivered there,
    /// or (legacy sessions only) a request or notification of the server's own.
    /// Notifications on a [`Route::Request`] (progress, logging) go to the requester.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] for a closed session, a finished request or
    /// [`Route::Detached`]; [`ApiError::RequestOnModernRoute`] for a server request on
    /// a modern route; [`ApiError::TooLarge`] / [`ApiError::InvalidXmlChar`] when it
    /// cannot be sent.
    pub fn submit(&mut self, route: &Route, message: JsonRpcMessage, now: Instant) -> Result<(), ApiError> {
        self.fire_timers(now);
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
                let client_id = session.client_id.clone();
                let key = reply_id.as_ref().and_then(|id| {
                    let session_key = (session_peer(session_id), id.clone());
                    if self.in_flight.contains_key(&session_key) {
                        return Some(session_key);
                    }
                    // `initialize` is tracked under its pre-session key.
                    let init_key = (format!("i:{}", modern_peer(client_id.as_deref(), &to)), id.clone());
                    self.in_flight.contains_key(&init_key).then_some(init_key)
                });
                let purpose = match key {
                    Some(key) => Purpose::Response {
                        key,
                        route: route.clone(),
                        cached: Box::new(Cached {
                            message: message.clone(),
                            to: to.clone(),
                            session: Some(session_id.clone()),
                            client_id,
                        }),
                    },
                    None => Purpose::Message { route: route.clone(), id: message.id().cloned() },
                };
                self.idle.set(session_id.clone(), now + self.config.session_idle_timeout);
                self.try_send(&message, meta, &to, session_id.as_str(), takes, purpose, now)?;
                if let (MessageKind::Request, Some(id), Some(session)) =
                    (message.kind(), message.id(), self.sessions.get_mut(session_id))
                {
                    session.awaiting.insert(id.clone());
                }
                Ok(())
            }
            Route::Request(token) => {
                if message.kind() == MessageKind::Request {
                    return Err(ApiError::RequestOnModernRoute);
                }
                let request = self.requests.get(token).ok_or_else(|| ApiError::UnknownRoute(route.to_string()))?;
                let meta = WireMeta { client_id: request.client_id.clone(), ..WireMeta::default() };
                let to = request.reply_to.clone();
                let group = request.client_id.clone().unwrap_or_else(|| "asyncmcp".to_owned());
                let takes = request.takes_fragments;
                let answers = reply_id.as_ref() == Some(&request.key.1);
                let purpose = if answers {
                    Purpose::Response {
                        key: request.key.clone(),
                        route: route.clone(),
                        cached: Box::new(Cached {
                            message: message.clone(),
                            to: to.clone(),
                            session: None,
                            client_id: request.client_id.clone(),
                        }),
                    }
                } else {
                    Purpose::Message { route: route.clone(), id: message.id().cloned() }
                };
                self.try_send(&message, meta, &to, &group, takes, purpose, now)?;
                if answers {
                    self.forget_request(*token);
                }
                Ok(())
            }
        }
    }

    fn forget_request(&mut self, token: RequestToken) {
        if let Some(request) = self.requests.remove(&token) {
            self.tokens.remove(&request.key);
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
                let init_key =
                    (format!("i:{}", modern_peer(session.client_id.as_deref(), &session.reply_to)), id.clone());
                let session_key = (session_peer(session_id), id.clone());
                if self.in_flight.contains_key(&session_key) { session_key } else { init_key }
            }
            Route::Detached => return Err(unknown()),
        };
        let flight = self.in_flight.remove(&key).ok_or_else(unknown)?;
        self.heartbeats.cancel(&key);
        if !flight.acked {
            for r in &flight.receipts {
                self.delete(r);
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn try_send(
        &mut self,
        message: &JsonRpcMessage,
        meta: WireMeta,
        to: &Address,
        group: &str,
        takes_fragments: bool,
        purpose: Purpose,
        now: Instant,
    ) -> Result<(), ApiError> {
        let kinds =
            self.outbound.sends(&self.config.common, message, meta, to, group, takes_fragments, &mut self.rng, now)?;
        self.outbox.push(kinds, purpose);
        Ok(())
    }

    /// Sends a message the server composed itself; failure to encode becomes an event.
    #[allow(clippy::too_many_arguments)]
    fn send_to(
        &mut self,
        message: &JsonRpcMessage,
        meta: WireMeta,
        to: &Address,
        group: &str,
        takes_fragments: bool,
        purpose: Purpose,
        now: Instant,
    ) {
        if let Err(e) = self.try_send(message, meta, to, group, takes_fragments, purpose, now) {
            self.events.push_back(ServerEvent::SendFailed {
                route: Route::Detached,
                id: message.id().cloned(),
                error: crate::OpFailure::fatal(e.to_string()),
            });
        }
    }

    /// Ends a legacy session from the server side.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] if there is no such session.
    pub fn close_session(&mut self, session_id: &SessionId, now: Instant) -> Result<(), ApiError> {
        self.fire_timers(now);
        if !self.sessions.contains_key(session_id) {
            return Err(ApiError::UnknownRoute(format!("session {session_id}")));
        }
        self.end_session(session_id, CloseReason::ServerClosed);
        Ok(())
    }

    fn end_session(&mut self, session_id: &SessionId, reason: CloseReason) {
        if self.sessions.remove(session_id).is_some() {
            self.idle.cancel(session_id);
            let held = self.inbox.forget_session(session_id);
            self.events.push_back(ServerEvent::SessionClosed { session_id: session_id.clone(), reason });
            self.reject(held, RejectReason::UnknownSession(session_id.clone()), Disposition::Delete);
        }
    }

    /// Stops taking work: [`receive_credit`](Self::receive_credit) becomes 0, every
    /// request still running is released (visibility 0) so another worker takes it,
    /// and every session is closed. Call it once in-flight work had its chance to
    /// finish (graceful shutdown drains first).
    pub fn close(&mut self, now: Instant) {
        self.fire_timers(now);
        self.closed = true;
        let flights = std::mem::take(&mut self.in_flight);
        for (key, flight) in flights {
            self.heartbeats.cancel(&key);
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
            self.end_session(&id, CloseReason::ServerClosed);
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
            Some(Done::Ok(Purpose::Response { key, cached, .. })) => {
                self.heartbeats.cancel(&key);
                if let Some(flight) = self.in_flight.remove(&key)
                    && !flight.acked
                {
                    for r in &flight.receipts {
                        self.delete(r);
                    }
                }
                self.cache.insert(key, *cached, now);
            }
            Some(Done::Ok(Purpose::Refusal { receipts, .. })) => {
                for r in &receipts {
                    self.delete(r);
                }
            }
            Some(Done::Failed(Purpose::Response { key, route, cached }, error)) => {
                // Leave the request on the queue: it is redelivered and runs again,
                // since its answer never left.
                self.heartbeats.cancel(&key);
                self.in_flight.remove(&key);
                self.events.push_back(ServerEvent::SendFailed { route, id: cached.message.id().cloned(), error });
            }
            Some(Done::Failed(Purpose::Message { route, id }, error)) => {
                self.events.push_back(ServerEvent::SendFailed { route, id, error });
            }
            Some(Done::Failed(Purpose::Refusal { id, .. }, error)) => {
                self.events.push_back(ServerEvent::SendFailed { route: Route::Detached, id: Some(id), error });
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
        while let Some(session_id) = self.idle.pop_due(now) {
            let peer = session_peer(&session_id);
            // The smallest possible key of this peer: any request of the session sorts
            // at or after it (O(log n), not a scan).
            let first = (peer.clone(), RequestId::Number(i64::MIN));
            if self.in_flight.range(first..).next().is_some_and(|((p, _), _)| *p == peer) {
                // Work is still running in it: not idle.
                self.idle.set(session_id, now + self.config.session_idle_timeout);
            } else {
                self.end_session(&session_id, CloseReason::Idle);
            }
        }
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
            self.idle.next(),
            self.cache.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
