//! Many clients over one reply queue: what a gateway or a proxy holding many MCP
//! sessions uses, so that one long poll serves them all.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use crate::address::Address;
use crate::backoff::RetryPolicy;
use crate::client::Client;
use crate::codec::routing_keys;
use crate::config::{ClientConfig, Disposition};
use crate::error::{AddClientError, ApiError, ConfigError, OpFailure};
use crate::event::{ClientEvent, QueueOutcome, RejectReason, Rejection};
use crate::inbound::InboundMessage;
use crate::jsonrpc::{JsonRpcMessage, RequestId};
use crate::op::{OpId, OpKind, OpResult, QueueOp};
use crate::outbox::{OpEnded, Outbox};
use crate::rng::Rng;
use crate::session_id::SessionId;
use crate::timers::Timers;

/// Events waiting to be drained past which the host asks for no more messages (as a
/// single [`Client`] does).
const MAX_QUEUED_EVENTS: usize = 1024;

/// Names one client of a [`ClientHost`]. A host never reuses a key, so a key kept
/// after [`remove`](ClientHost::remove) names nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientKey(u64);

impl ClientKey {
    /// The number behind the key (keys count up from 0 in the order clients were added).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hosted client #{}", self.0)
    }
}

/// How a [`ClientHost`] reads its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostConfig {
    /// The shared reply queue: every hosted client's
    /// [`receive_queue_url`](ClientConfig::receive_queue_url) must be this one.
    pub queue_url: String,
    /// The visibility timeout each receive asks for, as
    /// [`SharedConfig::receive_visibility`](crate::SharedConfig::receive_visibility)
    /// (4 s by default; at least 1 s).
    pub receive_visibility: Option<Duration>,
    /// What becomes of a message that names no hosted client and cannot be decoded
    /// either (a poison message), as
    /// [`SharedConfig::undecodable`](crate::SharedConfig::undecodable). A message for
    /// another `ClientId` or session is always deleted, as a single client deletes it.
    pub undecodable: Disposition,
    /// How the host retries its own deletes (of messages no client takes), as
    /// [`SharedConfig::retry`](crate::SharedConfig::retry).
    pub retry: RetryPolicy,
}

impl HostConfig {
    /// A host of the queue at `queue_url`, with the defaults of a single client.
    pub fn new(queue_url: impl Into<String>) -> Self {
        Self {
            queue_url: queue_url.into(),
            receive_visibility: Some(Duration::from_secs(4)),
            undecodable: Disposition::Delete,
            retry: RetryPolicy::default(),
        }
    }
}

/// Events of a [`ClientHost`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostEvent {
    /// An event of one hosted client, exactly as that [`Client`] reported it.
    Client {
        /// Which client.
        key: ClientKey,
        /// What happened.
        event: ClientEvent,
    },
    /// A message on the shared queue that no hosted client takes: its `ClientId`
    /// (or, without one, its session) names none of them, or it names nothing and
    /// cannot be decoded.
    Unrouted(Rejection),
    /// Deleting an unrouted message failed for good: it will come back and be
    /// rejected again.
    AckFailed {
        /// The SQS message id.
        message_id: String,
        /// The failure.
        error: OpFailure,
    },
}

/// Who asked for an operation the host handed out.
#[derive(Debug)]
enum OpOwner {
    /// A hosted client, under its own id.
    Client(ClientKey, OpId),
    /// The host itself (the delete of an unrouted message), under its outbox's id.
    Host(OpId),
}

#[derive(Debug)]
struct Hosted {
    client: Client,
    /// What the host last counted of it, to keep the totals without a scan.
    pending: usize,
    session: Option<SessionId>,
}

/// Many [`Client`]s sharing one reply queue, as one sans-IO state machine: one
/// receive loop for all of them instead of one long poll per client.
///
/// Each client keeps its own [`ClientConfig`], `ClientId`, session and requests. An
/// inbound message goes to the client whose `ClientId` attribute it carries (every
/// asyncmcp server echoes it on its replies and session messages); one without a
/// `ClientId` goes to the client holding the session it names (Python asyncmcp
/// servers write no `ClientId`). That client then checks it as it checks its own
/// queue (session, duplicates, request ids). A message that names no hosted client
/// becomes [`HostEvent::Unrouted`] and is deleted, as a single client deletes a reply
/// for another `ClientId` or session; one that names nothing and cannot be decoded
/// either is deleted or left for the redrive policy per
/// [`HostConfig::undecodable`]. Nothing is dropped without an event.
///
/// The verbs are the client's, with a [`ClientKey`] where a client is meant:
/// [`add`](Self::add) and [`remove`](Self::remove) clients; inputs
/// [`handle_inbound`](Self::handle_inbound), [`handle_op_result`](Self::handle_op_result),
/// [`handle_timeout`](Self::handle_timeout); mutators [`submit`](Self::submit),
/// [`cancel`](Self::cancel), [`close`](Self::close); outputs [`poll_op`](Self::poll_op)
/// (operation ids are the host's own: report results to the host),
/// [`poll_event`](Self::poll_event) (events tagged by client) and
/// [`poll_timeout`](Self::poll_timeout) (the earliest deadline of all clients, in
/// O(log n)); and one [`receive_credit`](Self::receive_credit) for the queue.
///
/// ```
/// # #[cfg(feature = "sim")] {
/// use std::time::{Duration, Instant};
///
/// use asyncmcp_proto::sim::{Broker, QueueOptions, SimConfig};
/// use asyncmcp_proto::{
///     Address, AllowList, ClientConfig, ClientEvent, ClientHost, Era, HostConfig, HostEvent, JsonRpcMessage,
///     RequestId, Server, ServerConfig, ServerEvent,
/// };
///
/// let mut now = Instant::now(); // the only clock read: the rest is simulated time
/// let mut broker = Broker::new(SimConfig::default(), now, [0; 32]);
/// let requests = broker.create_queue("requests", QueueOptions::default());
/// let replies = broker.create_queue("replies", QueueOptions::default());
/// let allow = AllowList::new().exact(replies.clone());
/// let mut server = Server::new(ServerConfig::new(requests.clone(), allow), now, [1; 32]).unwrap();
///
/// // Three clients, one reply queue; each asks `whoami` under the same request id.
/// let mut host = ClientHost::new(HostConfig::new(replies.clone()), [2; 32]).unwrap();
/// let mut keys = Vec::new();
/// for i in 0..3u8 {
///     let mut config = ClientConfig::sqs(requests.clone(), replies.clone(), format!("client-{i}"));
///     config.era = Era::Modern;
///     let key = host.add(config, now, [10 + i; 32]).unwrap();
///     let ask = JsonRpcMessage::request(RequestId::Number(1), "whoami", Some(serde_json::json!({"i": i})));
///     host.submit(key, ask, now).unwrap();
///     keys.push(key);
/// }
///
/// let mut answers = Vec::new();
/// while answers.len() < 3 {
///     while let Some(op) = host.poll_op() {
///         let result = broker.handle_op(&op, now);
///         host.handle_op_result(op.id, result, now);
///     }
///     while let Some(op) = server.poll_op() {
///         let result = broker.handle_op(&op, now);
///         server.handle_op_result(op.id, result, now);
///     }
///     while let Some(event) = server.poll_event() {
///         if let ServerEvent::Message { route, message } = event {
///             // The server echoes the caller's `i`.
///             let echo = message.to_value()["params"].clone();
///             server.submit(&route, JsonRpcMessage::response(message.id().unwrap().clone(), echo), now).unwrap();
///         }
///     }
///     while let Some(event) = host.poll_event() {
///         if let HostEvent::Client { key, event: ClientEvent::Message(m) } = event {
///             answers.push((key, m.to_value()["result"]["i"].clone()));
///         }
///     }
///     for m in broker.receive(&requests, server.receive_credit(), now) {
///         server.handle_inbound(m, now);
///     }
///     for m in broker.receive(&replies, host.receive_credit(), now) {
///         host.handle_inbound(m, now); // one receive for every client
///     }
///     now += Duration::from_millis(10);
///     if host.poll_timeout().is_some_and(|t| t <= now) {
///         host.handle_timeout(now);
///     }
/// }
/// answers.sort_by_key(|(key, _)| *key);
/// // Every client got the answer to its own request, and only that.
/// assert_eq!(answers, vec![(keys[0], 0.into()), (keys[1], 1.into()), (keys[2], 2.into())]);
/// # }
/// ```
#[derive(Debug)]
pub struct ClientHost {
    config: HostConfig,
    clients: BTreeMap<ClientKey, Hosted>,
    by_client_id: BTreeMap<String, ClientKey>,
    by_session: BTreeMap<SessionId, ClientKey>,
    /// Each client's next deadline.
    deadlines: Timers<ClientKey>,
    owners: BTreeMap<OpId, OpOwner>,
    ops: VecDeque<QueueOp>,
    /// The host's own deletes, retried as a client retries its own; the purpose is
    /// the SQS message id.
    outbox: Outbox<String>,
    events: VecDeque<HostEvent>,
    next_key: u64,
    next_op: u64,
    pending: usize,
    sessions: usize,
}

impl ClientHost {
    /// A host with no clients yet. `seed` drives the jitter of the host's own
    /// retries (each client has its own seed, given to [`add`](Self::add)).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a receive visibility under 1 s.
    pub fn new(config: HostConfig, seed: [u8; 32]) -> Result<Self, ConfigError> {
        if config.receive_visibility.is_some_and(|v| v < Duration::from_secs(1)) {
            return Err(ConfigError::Invalid {
                field: "receive_visibility",
                detail: "must be at least 1 s (SQS counts visibility in whole seconds)".to_owned(),
            });
        }
        Ok(Self {
            outbox: Outbox::new(config.retry, Rng::from_seed(seed)),
            config,
            clients: BTreeMap::new(),
            by_client_id: BTreeMap::new(),
            by_session: BTreeMap::new(),
            deadlines: Timers::default(),
            owners: BTreeMap::new(),
            ops: VecDeque::new(),
            events: VecDeque::new(),
            next_key: 0,
            next_op: 0,
            pending: 0,
            sessions: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The shared queue to receive from.
    pub fn queue_url(&self) -> &str {
        &self.config.queue_url
    }

    /// Hosts a new client built from `config` at `now` with `seed` (as
    /// [`Client::new`]). It has sent nothing yet: a legacy client opens its session
    /// with the `initialize` you [`submit`](Self::submit).
    ///
    /// # Errors
    /// [`AddClientError::Config`] for a configuration [`Client::new`] refuses;
    /// [`AddClientError::OtherQueue`] when the client reads another queue than the
    /// host's; [`AddClientError::DuplicateClientId`] when a hosted client already has
    /// its `ClientId` (replies could not tell them apart).
    pub fn add(&mut self, config: ClientConfig, now: Instant, seed: [u8; 32]) -> Result<ClientKey, AddClientError> {
        if config.receive_queue_url != self.config.queue_url {
            return Err(AddClientError::OtherQueue {
                host: self.config.queue_url.clone(),
                client: config.receive_queue_url,
            });
        }
        if self.by_client_id.contains_key(&config.client_id) {
            return Err(AddClientError::DuplicateClientId(config.client_id));
        }
        let client_id = config.client_id.clone();
        let client = Client::new(config, now, seed)?;
        let key = ClientKey(self.next_key);
        self.next_key += 1;
        self.by_client_id.insert(client_id, key);
        self.clients.insert(key, Hosted { client, pending: 0, session: None });
        self.sync(key);
        Ok(key)
    }

    /// Stops hosting `key` and hands its client back; `None` if it is not hosted.
    ///
    /// The client is dropped from routing at once: replies still on their way to it
    /// become [`HostEvent::Unrouted`] (and are deleted), and results of its operations
    /// still in flight are ignored. [`close`](Self::close) it first and wait for
    /// [`Client::is_closed`] (see [`client`](Self::client)) so that its requests end
    /// and a legacy session hears the close notification.
    pub fn remove(&mut self, key: ClientKey) -> Option<Client> {
        let hosted = self.clients.remove(&key)?;
        self.by_client_id.remove(&hosted.client.config().client_id);
        if let Some(s) = &hosted.session {
            if self.by_session.get(s) == Some(&key) {
                self.by_session.remove(s);
            }
            self.sessions -= 1;
        }
        self.pending -= hosted.pending;
        self.deadlines.cancel(&key);
        Some(hosted.client)
    }

    /// A hosted client, to read its state (session id, pending requests, closed).
    pub fn client(&self, key: ClientKey) -> Option<&Client> {
        self.clients.get(&key).map(|h| &h.client)
    }

    /// The client hosted with `ClientId` `client_id`.
    pub fn key_of(&self, client_id: &str) -> Option<ClientKey> {
        self.by_client_id.get(client_id).copied()
    }

    /// The keys of the hosted clients, in the order they were added.
    pub fn keys(&self) -> impl Iterator<Item = ClientKey> + '_ {
        self.clients.keys().copied()
    }

    /// How many clients are hosted.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is hosted.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Requests pending over all clients (kept as a running total, not a scan).
    pub fn pending_requests(&self) -> usize {
        self.pending
    }

    /// Hosted clients that have a legacy session open.
    pub fn sessions(&self) -> usize {
        self.sessions
    }

    /// [`Client::submit`] on client `key`.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] when `key` is not hosted; otherwise as
    /// [`Client::submit`].
    pub fn submit(&mut self, key: ClientKey, message: JsonRpcMessage, now: Instant) -> Result<(), ApiError> {
        self.with(key, |c| c.submit(message, now))?
    }

    /// [`Client::cancel`] on client `key`.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] when `key` is not hosted; otherwise as
    /// [`Client::cancel`].
    pub fn cancel(
        &mut self,
        key: ClientKey,
        id: &RequestId,
        reason: Option<&str>,
        now: Instant,
    ) -> Result<(), ApiError> {
        self.with(key, |c| c.cancel(id, reason, now))?
    }

    /// [`Client::close`] on client `key`: it closes once its pending requests ended.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] when `key` is not hosted.
    pub fn close(&mut self, key: ClientKey, now: Instant) -> Result<(), ApiError> {
        self.with(key, |c| c.close(now))
    }

    /// [`Client::close_now`] on client `key`.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] when `key` is not hosted.
    pub fn close_now(&mut self, key: ClientKey, now: Instant) -> Result<(), ApiError> {
        self.with(key, |c| c.close_now(now))
    }

    /// [`Client::handle_max_message_bytes`] on client `key` (a driver reads each
    /// client's [`Client::limit_destinations`] when it adds it); nothing if `key` is
    /// not hosted.
    pub fn handle_max_message_bytes(&mut self, key: ClientKey, destination: &Address, max_message_bytes: usize) {
        let _ = self.with(key, |c| c.handle_max_message_bytes(destination, max_message_bytes));
    }

    /// Takes one message `ReceiveMessage` returned from the shared queue and hands it
    /// to the client it names (see the type's documentation).
    pub fn handle_inbound(&mut self, message: InboundMessage, now: Instant) {
        let (client_id, session) = routing_keys(&message);
        let by_session = || session.as_deref().and_then(|s| SessionId::parse(s).ok());
        let target = match &client_id {
            Some(id) => self.by_client_id.get(id).copied(),
            None => by_session().and_then(|s| self.by_session.get(&s).copied()),
        };
        if let Some(key) = target {
            let _ = self.with(key, |c| c.handle_inbound(message, now));
            return;
        }
        let reason = match (client_id, by_session()) {
            (Some(id), _) => RejectReason::WrongClient(id),
            (None, Some(s)) => RejectReason::WrongSession(s),
            (None, None) => match crate::codec::decode(&message) {
                Err(e) => {
                    let disposition = self.config.undecodable;
                    return self.unrouted(message, RejectReason::Decode(e), disposition);
                }
                Ok(_) => RejectReason::NoClient,
            },
        };
        self.unrouted(message, reason, Disposition::Delete);
    }

    /// Records how operation `id` (an id [`poll_op`](Self::poll_op) handed out) ended.
    pub fn handle_op_result(&mut self, id: OpId, result: OpResult, now: Instant) {
        match self.owners.remove(&id) {
            Some(OpOwner::Client(key, theirs)) => {
                let _ = self.with(key, |c| c.handle_op_result(theirs, result, now));
            }
            Some(OpOwner::Host(theirs)) => {
                if let Some(OpEnded::Failed(message_id, error)) = self.outbox.handle_result(theirs, result, now) {
                    self.events.push_back(HostEvent::AckFailed { message_id, error });
                }
                self.take_own_ops();
            }
            None => {}
        }
    }

    /// Fires the timers due at `now`: the host's own retries, and every client due,
    /// O(log n) per client due and nothing for the others. Harmless when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.outbox.handle_timeout(now);
        self.take_own_ops();
        let mut due = Vec::new();
        while let Some(key) = self.deadlines.pop_due(now) {
            due.push(key);
        }
        for key in due {
            let _ = self.with(key, |c| c.handle_timeout(now));
        }
    }

    /// The next operation to perform, under an id of the host's.
    #[must_use]
    pub fn poll_op(&mut self) -> Option<QueueOp> {
        self.ops.pop_front()
    }

    /// The next event, tagged with the client it concerns.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called: the
    /// earliest deadline of all clients, read from an index in O(log n).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.deadlines.next(), self.outbox.poll_timeout()].into_iter().flatten().min()
    }

    /// How many messages the next receive from the shared queue may ask for (0..=10):
    /// 0 with no client hosted, or with too many events undrained.
    pub fn receive_credit(&self) -> usize {
        if self.clients.is_empty() {
            return 0;
        }
        MAX_QUEUED_EVENTS.saturating_sub(self.events.len()).min(10)
    }

    /// Runs `f` on client `key`, then takes what it produced.
    fn with<T>(&mut self, key: ClientKey, f: impl FnOnce(&mut Client) -> T) -> Result<T, ApiError> {
        let hosted = self.clients.get_mut(&key).ok_or_else(|| ApiError::UnknownRoute(key.to_string()))?;
        let out = f(&mut hosted.client);
        self.sync(key);
        Ok(out)
    }

    /// Takes client `key`'s operations (under fresh host ids) and events (tagged), and
    /// re-indexes its deadline and counts. Every change to a client ends here, so its
    /// outputs never wait in it and no call scans the other clients.
    fn sync(&mut self, key: ClientKey) {
        let Some(hosted) = self.clients.get_mut(&key) else { return };
        while let Some(op) = hosted.client.poll_op() {
            let id = OpId(self.next_op);
            self.next_op += 1;
            self.owners.insert(id, OpOwner::Client(key, op.id));
            self.ops.push_back(QueueOp { id, kind: op.kind });
        }
        while let Some(event) = hosted.client.poll_event() {
            if let ClientEvent::SessionOpened { session_id } = &event
                && hosted.session.is_none()
            {
                hosted.session = Some(session_id.clone());
                self.by_session.insert(session_id.clone(), key);
                self.sessions += 1;
            }
            self.events.push_back(HostEvent::Client { key, event });
        }
        let pending = hosted.client.pending_requests();
        self.pending = self.pending - hosted.pending + pending;
        hosted.pending = pending;
        match hosted.client.poll_timeout() {
            Some(at) => self.deadlines.set(key, at),
            None => self.deadlines.cancel(&key),
        }
    }

    /// Hands out the host's own operations under host ids.
    fn take_own_ops(&mut self) {
        while let Some(op) = self.outbox.poll_op() {
            let id = OpId(self.next_op);
            self.next_op += 1;
            self.owners.insert(id, OpOwner::Host(op.id));
            self.ops.push_back(QueueOp { id, kind: op.kind });
        }
    }

    /// Reports a message no client takes, and deletes it unless `disposition` leaves it.
    fn unrouted(&mut self, message: InboundMessage, reason: RejectReason, disposition: Disposition) {
        let fate = match disposition {
            Disposition::LeaveForRedrive => QueueOutcome::LeftForRedelivery,
            _ => QueueOutcome::Deleted,
        };
        if fate == QueueOutcome::Deleted {
            let kind =
                OpKind::Delete { queue_url: self.config.queue_url.clone(), receipt_handle: message.receipt_handle };
            self.outbox.push(vec![kind], message.message_id.clone());
            self.take_own_ops();
        }
        self.events.push_back(HostEvent::Unrouted(Rejection { message_id: message.message_id, reason, fate }));
    }
}
