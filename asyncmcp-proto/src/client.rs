//! The client state machine: one logical MCP connection over queues.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::address::Address;
use crate::budget::{Budgets, budget};
use crate::cache::ResponseCache;
use crate::codec::WireMeta;
use crate::config::{ClientConfig, Disposition, Era};
use crate::dedup::DedupWindow;
use crate::error::{ApiError, ConfigError, Misuse};
use crate::event::{ClientEvent, CloseReason, RejectReason};
use crate::handshake::{self, CLOSE_NOTIFICATION, INITIALIZE};
use crate::inbound::InboundMessage;
use crate::inbox::{Delivery, Inbox, InboxVerdict, Receipt, Streams, rejections};
use crate::jsonrpc::{Cancellation, JsonRpcMessage, MessageKind, RequestId};
use crate::op::{OpId, OpKind, OpResult, QueueOp};
use crate::outbound::{Outbound, PeerTakes, Room};
use crate::outbox::{OpEnded, Outbox};
use crate::rng::Rng;
use crate::session_id::SessionId;
use crate::timers::Timers;

/// Python asyncmcp answers undecodable messages with this id instead of the request's.
const PYTHON_ERROR_ID: &str = "server-error";

/// Events waiting to be drained past which the client asks for no more messages.
const MAX_QUEUED_EVENTS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Legacy: no `initialize` sent yet. Modern: always `Open`.
    Fresh,
    Initializing,
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Answered,
    TimedOut,
    Cancelled,
    SendFailed,
}

#[derive(Debug)]
struct Pending {
    order: u64,
}

/// What an operation was queued for: decides what its success or failure means.
#[derive(Debug)]
enum OpPurpose {
    Message { id: Option<RequestId>, method: Option<String> },
    Delete { message_id: String },
}

/// The client side of an MCP connection over SQS/SNS, as a sans-IO state machine.
///
/// Feed it what the queue delivered ([`handle_inbound`](Self::handle_inbound)), how
/// operations ended ([`handle_op_result`](Self::handle_op_result)) and the passing of
/// time ([`handle_timeout`](Self::handle_timeout)); give it messages to send
/// ([`submit`](Self::submit)); then drain [`poll_op`](Self::poll_op) and
/// [`poll_event`](Self::poll_event) and read [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    rng: Rng,
    inbox: Inbox,
    outbox: Outbox<OpPurpose>,
    outbound: Outbound,
    events: VecDeque<ClientEvent>,
    state: State,
    session: Option<SessionId>,
    initialize_id: Option<RequestId>,
    held: VecDeque<JsonRpcMessage>,
    pending: BTreeMap<RequestId, Pending>,
    by_order: BTreeMap<u64, RequestId>,
    next_order: u64,
    deadlines: Timers<RequestId>,
    ended: ResponseCache<RequestId, Ended>,
    server_requests: DedupWindow<RequestId>,
    /// What the server said it takes (fragments, `max=`, `reasm=`).
    server_takes: PeerTakes,
    /// What the destinations read so far accept.
    budgets: Budgets,
    seq: u64,
    /// [`close`](Client::close) was called: the session closes once nothing is pending.
    closing: bool,
}

impl Client {
    /// A client that has sent nothing yet. `seed` drives every random choice
    /// (deduplication ids, fragment groups, retry jitter).
    ///
    /// # Errors
    /// [`ConfigError`] for a configuration that cannot work.
    pub fn new(config: ClientConfig, now: Instant, seed: [u8; 32]) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = Rng::from_seed(seed);
        let outbox = Outbox::new(config.common.retry, rng.fork());
        let window = config.common.dedup_window;
        let capacity = config.common.dedup_capacity;
        Ok(Self {
            inbox: Inbox::new(&config.common, Streams::Any),
            outbox,
            outbound: Outbound::new(now, config.common.start_unix_millis),
            events: VecDeque::new(),
            state: if config.era == Era::Modern { State::Open } else { State::Fresh },
            session: None,
            initialize_id: None,
            held: VecDeque::new(),
            pending: BTreeMap::new(),
            by_order: BTreeMap::new(),
            next_order: 0,
            deadlines: Timers::default(),
            ended: ResponseCache::new(window, capacity),
            server_requests: DedupWindow::new(window, capacity),
            server_takes: PeerTakes::default(),
            budgets: Budgets::default(),
            seq: 0,
            closing: false,
            rng,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The legacy session id, once the server's `initialize` response named one.
    pub fn session_id(&self) -> Option<&SessionId> {
        self.session.as_ref()
    }

    /// The queues and topics whose `MaximumMessageSize` sets this client's budgets:
    /// the server's address (what requests may weigh), then this client's reply
    /// address and the queue it receives from (what it advertises to the server),
    /// without repeats. A driver reads them at start and hands each over with
    /// [`handle_max_message_bytes`](Self::handle_max_message_bytes).
    pub fn limit_destinations(&self) -> Vec<Address> {
        let mut all = vec![self.config.server.clone()];
        for a in self.reply_path() {
            if !all.contains(&a) {
                all.push(a);
            }
        }
        all
    }

    /// Takes what `destination` accepts (its `MaximumMessageSize`, clamped into
    /// 1 024..=1 048 576), as read from the service. For the server's address it
    /// sets the budget of what this client sends (lowered by
    /// [`SharedConfig::limits`](crate::SharedConfig::limits)); for the reply path it
    /// sets the `max=` this client advertises to the server on every later message
    /// (with sns-sqs the smaller of the reply topic's and the reply queue's).
    /// Without it a destination's budget is
    /// [`SharedConfig::fallback_max_bytes`](crate::SharedConfig::fallback_max_bytes).
    ///
    /// ```
    /// use std::time::Instant;
    /// use asyncmcp_proto::{Address, ApiError, Client, ClientConfig, Era, JsonRpcMessage, RequestId, Unsendable};
    ///
    /// let mut config = ClientConfig::sqs("https://sqs.us-east-1.amazonaws.com/1/requests", "https://sqs.us-east-1.amazonaws.com/1/replies", "c");
    /// config.era = Era::Modern;
    /// # #[allow(clippy::disallowed_methods)]
    /// let now = Instant::now();
    /// let mut client = Client::new(config, now, [0; 32]).unwrap();
    /// client.handle_max_message_bytes(&Address::parse("https://sqs.us-east-1.amazonaws.com/1/requests"), 65_536);
    /// let big = JsonRpcMessage::request(RequestId::Number(1), "tools/call", Some(serde_json::json!({"text": "x".repeat(70_000)})));
    /// assert!(matches!(client.submit(big, now), Err(ApiError::Unsendable(Unsendable::TooLarge { limit: 65_536, .. }))));
    /// ```
    pub fn handle_max_message_bytes(&mut self, destination: &Address, max_message_bytes: usize) {
        self.budgets.learn(destination, max_message_bytes);
        let advertised = self.budgets.receiving(&self.config.common, &self.reply_path());
        self.outbound.advertise(advertised);
    }

    /// The reply address and the queue behind it (one address with sqs).
    fn reply_path(&self) -> Vec<Address> {
        let queue = Address::Queue(self.config.receive_queue_url.clone());
        if self.config.reply_to == queue { vec![queue] } else { vec![self.config.reply_to.clone(), queue] }
    }

    /// Requests sent and not yet answered, timed out, cancelled or failed.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Whether the connection is closed: [`close`](Self::close) was called and no
    /// request is pending any more, or [`close_now`](Self::close_now) was called.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// How many messages the driver may ask for in its next receive (0..=10);
    /// 0 means wait (closed, or too many undrained events).
    pub fn receive_credit(&self) -> usize {
        if self.state == State::Closed {
            return 0;
        }
        MAX_QUEUED_EVENTS.saturating_sub(self.events.len()).min(10)
    }

    /// Sends a JSON-RPC message to the server.
    ///
    /// In the legacy era the first message must be `initialize`: its reply address is
    /// written into it (see [`HandshakeFields`](crate::HandshakeFields)); messages
    /// submitted before the server's answer wait for the session id. A request then
    /// ends in exactly one event: its response ([`ClientEvent::Message`]),
    /// [`ClientEvent::RequestTimedOut`] or [`ClientEvent::SendFailed`] (unless it is
    /// cancelled first).
    ///
    /// # Errors
    /// [`Misuse::Closed`](crate::Misuse::Closed) after [`close`](Self::close);
    /// [`Misuse::DuplicateRequestId`](crate::Misuse::DuplicateRequestId) when a request with the same id is pending;
    /// [`Unsendable::TooLarge`](crate::Unsendable::TooLarge) / [`Unsendable::InvalidXmlChar`](crate::Unsendable::InvalidXmlChar) when it cannot be sent;
    /// [`ApiError::TooManyPending`] past [`ClientConfig::max_pending`](crate::ClientConfig::max_pending).
    pub fn submit(&mut self, message: JsonRpcMessage, now: Instant) -> Result<(), ApiError> {
        self.fire_timers(now);
        if self.state == State::Closed || self.closing {
            return Err(ApiError::Misuse(Misuse::Closed));
        }
        let id = match (message.kind(), message.id()) {
            (MessageKind::Request, Some(id)) => {
                if self.pending.contains_key(id) {
                    return Err(ApiError::Misuse(Misuse::DuplicateRequestId(id.clone())));
                }
                Some(id.clone())
            }
            _ => None,
        };
        let is_initialize = message.method() == Some(INITIALIZE) && id.is_some();
        let opening = self.session.is_some() || self.initialize_id.is_some();
        if is_initialize && self.config.era == Era::Legacy && opening {
            // Its answer would name another session, which this client would refuse:
            // the request could only time out.
            return Err(ApiError::Misuse(Misuse::AlreadyInitialized));
        }
        let message = if is_initialize && self.config.era == Era::Legacy {
            handshake::inject_reply_address(&message, &self.config.reply_to, self.config.handshake)
        } else {
            message
        };
        let hold = self.config.era == Era::Legacy && !is_initialize && self.state != State::Open;
        let max = self.config.max_pending;
        if (id.is_some() && self.pending.len() >= max) || (hold && self.held.len() >= max) {
            return Err(ApiError::TooManyPending { max });
        }
        if !hold {
            self.send(&message, now)?;
        }
        if let Some(id) = id {
            let order = self.next_order;
            self.next_order += 1;
            self.by_order.insert(order, id.clone());
            self.pending.insert(id.clone(), Pending { order });
            self.deadlines.set(id.clone(), now + self.config.request_timeout);
            if is_initialize && self.config.era == Era::Legacy {
                self.state = State::Initializing;
                self.initialize_id = Some(id);
            }
        }
        if hold {
            self.held.push_back(message);
        }
        Ok(())
    }

    fn meta(&mut self) -> WireMeta {
        let mut meta = WireMeta {
            session_id: self.session.clone(),
            client_id: Some(self.config.client_id.clone()),
            reply_to: Some(self.config.reply_to.clone()),
            ..WireMeta::default()
        };
        if self.config.common.ordering.is_some() && self.session.is_some() {
            meta.ext.seq = Some(self.seq);
            self.seq += 1;
        }
        meta
    }

    fn send(&mut self, message: &JsonRpcMessage, now: Instant) -> Result<(), ApiError> {
        let meta = self.meta();
        let group = self.session.as_ref().map_or_else(|| self.config.client_id.clone(), |s| s.as_str().to_owned());
        let server = self.config.server.clone();
        let room = Room {
            budget: budget(&self.config.common, self.budgets.resource(&server), self.server_takes.max_bytes),
            peer: self.server_takes,
        };
        let kinds =
            self.outbound.sends(&self.config.common, message, meta, &server, &group, room, &mut self.rng, now)?;
        let purpose = OpPurpose::Message {
            id: (message.kind() == MessageKind::Request).then(|| message.id().cloned()).flatten(),
            method: message.method().map(str::to_owned),
        };
        self.outbox.push(kinds, purpose);
        Ok(())
    }

    /// Cancels a pending request: sends `notifications/cancelled`, and a response
    /// that still arrives becomes [`ClientEvent::LateResponse`]. A cancel for an
    /// unknown or finished id does nothing.
    ///
    /// # Errors
    /// [`Misuse::Closed`](crate::Misuse::Closed) after [`close`](Self::close).
    pub fn cancel(&mut self, id: &RequestId, reason: Option<&str>, now: Instant) -> Result<(), ApiError> {
        self.fire_timers(now);
        if self.state == State::Closed {
            return Err(ApiError::Misuse(Misuse::Closed));
        }
        if !self.end_pending(id, Ended::Cancelled, now) {
            return Ok(());
        }
        let note = Cancellation { request_id: id.clone(), reason: reason.map(str::to_owned) }.to_message();
        if let Some(pos) = self.held.iter().position(|m| m.id() == Some(id)) {
            // Never sent: drop it instead of telling the server about it.
            self.held.remove(pos);
            self.close_when_drained(now);
            return Ok(());
        }
        let sent = self.send(&note, now);
        self.close_when_drained(now);
        sent
    }

    /// Ends the connection once its pending requests have ended: nothing new can be
    /// submitted from now on, pending requests still end by response, timeout or
    /// [`cancel`](Self::cancel), and then, in a legacy session, the close
    /// notification (`notifications/asyncmcp/close`) goes out, so the server never
    /// ends a session that still has work of this client in it. Keep receiving until
    /// [`is_closed`](Self::is_closed); [`close_now`](Self::close_now) stops waiting.
    pub fn close(&mut self, now: Instant) {
        self.fire_timers(now);
        if self.state == State::Closed {
            return;
        }
        self.closing = true;
        if self.pending.is_empty() {
            self.close_now(now);
        }
    }

    /// Ends the connection at once: in a legacy session, sends the close
    /// notification now, whatever is still pending (those requests still end by
    /// response or timeout).
    pub fn close_now(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        self.closing = true;
        if self.session.is_some() {
            let note = JsonRpcMessage::notification(CLOSE_NOTIFICATION, None);
            if let Err(e) = self.send(&note, now) {
                self.events.push_back(ClientEvent::SendFailed {
                    id: None,
                    method: Some(CLOSE_NOTIFICATION.to_owned()),
                    error: e.into(),
                });
            }
            self.events.push_back(ClientEvent::SessionClosed { reason: CloseReason::Closed });
        }
        self.state = State::Closed;
    }

    /// Takes one message `ReceiveMessage` returned from this client's queue.
    pub fn handle_inbound(&mut self, message: InboundMessage, now: Instant) {
        self.fire_timers(now);
        let mut verdicts = Vec::new();
        self.inbox.handle(message, now, &mut verdicts);
        self.process(verdicts, now);
        self.close_when_drained(now);
    }

    /// Records how operation `id` ended.
    pub fn handle_op_result(&mut self, id: OpId, result: OpResult, now: Instant) {
        self.fire_timers(now);
        match self.outbox.handle_result(id, result, now) {
            None | Some(OpEnded::Succeeded(_)) => {}
            Some(OpEnded::Failed(OpPurpose::Delete { message_id }, error)) => {
                self.events.push_back(ClientEvent::AckFailed { message_id, error });
            }
            Some(OpEnded::Failed(OpPurpose::Message { id, method }, error)) => {
                if let Some(id) = &id
                    && !self.end_pending(id, Ended::SendFailed, now)
                {
                    // Already ended (timed out or cancelled): that was its one outcome.
                    return;
                }
                self.events.push_back(ClientEvent::SendFailed { id, method, error });
            }
        }
        self.close_when_drained(now);
    }

    /// Fires the timers due at `now`. Harmless when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fire_timers(now);
        self.close_when_drained(now);
    }

    fn fire_timers(&mut self, now: Instant) {
        self.outbox.handle_timeout(now);
        let mut verdicts = Vec::new();
        self.inbox.handle_timeout(now, &mut verdicts);
        self.process(verdicts, now);
        while let Some(id) = self.deadlines.pop_due(now) {
            if self.end_pending(&id, Ended::TimedOut, now) {
                self.events.push_back(ClientEvent::RequestTimedOut { id });
            }
        }
        self.ended.expire(now);
        self.server_requests.expire(now);
    }

    /// Removes a pending request; false if it was not pending.
    fn end_pending(&mut self, id: &RequestId, how: Ended, now: Instant) -> bool {
        let Some(p) = self.pending.remove(id) else { return false };
        self.by_order.remove(&p.order);
        self.deadlines.cancel(id);
        self.ended.insert(id.clone(), how, now);
        if self.initialize_id.as_ref() == Some(id) && how != Ended::Answered {
            // The handshake failed: release held messages so they end too.
            self.initialize_id = None;
            self.open(now);
        }
        true
    }

    /// Completes a [`close`](Self::close) once the last pending request ended.
    fn close_when_drained(&mut self, now: Instant) {
        if self.closing && self.pending.is_empty() {
            self.close_now(now);
        }
    }

    fn open(&mut self, now: Instant) {
        if self.state != State::Closed {
            self.state = State::Open;
        }
        while let Some(m) = self.held.pop_front() {
            if let Err(e) = self.send(&m, now) {
                let id = m.id().cloned().filter(|_| m.kind() == MessageKind::Request);
                if let Some(id) = &id {
                    self.end_pending(id, Ended::SendFailed, now);
                }
                self.events.push_back(ClientEvent::SendFailed {
                    id,
                    method: m.method().map(str::to_owned),
                    error: e.into(),
                });
            }
        }
    }

    fn process(&mut self, verdicts: Vec<InboxVerdict>, now: Instant) {
        for verdict in verdicts {
            match verdict {
                InboxVerdict::Deliver(d) => self.route(*d, now),
                InboxVerdict::Duplicate(r) => self.reject(vec![r], RejectReason::Duplicate, Disposition::Delete),
                InboxVerdict::Release(r, reason) => self.reject(vec![r], reason, Disposition::LeaveForRedrive),
                // A client answers no refused message: servers send it few requests, and
                // none that a refusal would unblock.
                InboxVerdict::Reject(r, reason) => {
                    let disposition = self.config.common.undecodable;
                    self.reject(vec![r], reason, disposition)
                }
                // A client answers no refused message: a server's requests to it are
                // few, and a refusal would unblock none of them.
                InboxVerdict::Refuse { receipts, reason, .. } => {
                    let disposition = self.config.common.undecodable;
                    self.reject(receipts, reason, disposition)
                }
            }
        }
    }

    fn reject(&mut self, receipts: Vec<Receipt>, reason: RejectReason, disposition: Disposition) {
        let (doomed, rejections) = rejections(receipts, &reason, disposition);
        for r in &doomed {
            self.delete(r);
        }
        self.events.extend(rejections.into_iter().map(ClientEvent::Rejected));
    }

    fn delete(&mut self, r: &Receipt) {
        let kind = OpKind::Delete {
            queue_url: self.config.receive_queue_url.clone(),
            receipt_handle: r.receipt_handle.clone(),
        };
        self.outbox.push(vec![kind], OpPurpose::Delete { message_id: r.message_id.clone() });
    }

    fn route(&mut self, d: Delivery, now: Instant) {
        let Delivery { receipts, meta, message } = d;
        if let (Some(theirs), Some(mine)) = (&meta.session_id, &self.session)
            && theirs != mine
        {
            let theirs = theirs.clone();
            let waiting = self.inbox.forget_stream(&theirs);
            let stray = receipts.into_iter().chain(waiting.into_iter().flat_map(|w| w.receipts)).collect();
            self.reject(stray, RejectReason::WrongSession(theirs), Disposition::Delete);
            return;
        }
        if let Some(theirs) = meta.client_id.as_ref().filter(|c| **c != self.config.client_id) {
            self.reject(receipts, RejectReason::WrongClient(theirs.clone()), Disposition::Delete);
            return;
        }
        self.server_takes.update(&meta.ext);
        match message.kind() {
            MessageKind::Response | MessageKind::Error => self.route_reply(receipts, meta, message, now),
            _ => {
                if let (MessageKind::Request, Some(id)) = (message.kind(), message.id())
                    && !self.server_requests.insert(id.clone(), now)
                {
                    self.reject(receipts, RejectReason::Duplicate, Disposition::Delete);
                    return;
                }
                for r in &receipts {
                    self.delete(r);
                }
                self.events.push_back(ClientEvent::Message(message));
            }
        }
    }

    fn route_reply(&mut self, receipts: Vec<Receipt>, meta: WireMeta, message: JsonRpcMessage, now: Instant) {
        let Some(id) = message.id().cloned() else {
            self.reject(receipts, RejectReason::UnknownResponse(RequestId::Null), Disposition::Delete);
            return;
        };
        let (id, message) = if !self.pending.contains_key(&id) && self.is_placeholder_error(&id, &message) {
            // Python asyncmcp answers some errors with a placeholder id: give the
            // error to the oldest pending request, which would otherwise hang.
            match self.by_order.values().next().cloned() {
                Some(oldest) => {
                    let rewritten = message.with_id(oldest.clone());
                    (oldest, rewritten)
                }
                None => (id, message),
            }
        } else {
            (id, message)
        };
        if self.pending.contains_key(&id) {
            let is_initialize = self.initialize_id.as_ref() == Some(&id);
            if is_initialize {
                self.initialize_id = None;
            }
            self.end_pending(&id, Ended::Answered, now);
            for r in &receipts {
                self.delete(r);
            }
            if is_initialize {
                if let Some(s) = meta.session_id {
                    // The client takes part in this session only: no ordering state
                    // for any other.
                    for (other, waiting) in self.inbox.forget_other_streams(&s) {
                        let receipts = waiting.into_iter().flat_map(|w| w.receipts).collect();
                        self.reject(receipts, RejectReason::WrongSession(other), Disposition::Delete);
                    }
                    self.session = Some(s.clone());
                    self.events.push_back(ClientEvent::SessionOpened { session_id: s });
                }
                self.events.push_back(ClientEvent::Message(message));
                self.open(now);
            } else {
                self.events.push_back(ClientEvent::Message(message));
            }
            return;
        }
        match self.ended.get(&id) {
            Some(Ended::TimedOut | Ended::Cancelled | Ended::SendFailed) => {
                for r in &receipts {
                    self.delete(r);
                }
                // Reported once: another copy (a server replaying its response cache)
                // is a duplicate from now on.
                self.ended.insert(id, Ended::Answered, now);
                self.events.push_back(ClientEvent::LateResponse(message));
            }
            Some(Ended::Answered) => self.reject(receipts, RejectReason::Duplicate, Disposition::Delete),
            None => self.reject(receipts, RejectReason::UnknownResponse(id), Disposition::Delete),
        }
    }

    fn is_placeholder_error(&self, id: &RequestId, message: &JsonRpcMessage) -> bool {
        message.kind() == MessageKind::Error && *id == RequestId::String(PYTHON_ERROR_ID.to_owned())
    }

    /// The next operation to perform.
    #[must_use]
    pub fn poll_op(&mut self) -> Option<QueueOp> {
        self.outbox.poll_op()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.deadlines.next(),
            self.outbox.poll_timeout(),
            self.inbox.poll_timeout(),
            self.ended.poll_timeout(),
            self.server_requests.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The address requests go to.
    pub fn server(&self) -> &Address {
        &self.config.server
    }
}
