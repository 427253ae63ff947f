//! Many client sessions over one reply queue: a handle to open them and the machine
//! wrapper the event loop drives, with one long poll for all of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use futures::channel::oneshot;

use asyncmcp_proto::{
    AddClientError, Address, ApiError, ClientConfig, ClientEvent, ClientHost, ClientKey, ConfigError, HostConfig,
    HostEvent, InboundMessage, JsonRpcMessage, MessageKind, OpFailure, OpId, OpResult, QueueOp, RequestId,
    SharedConfig,
};

use crate::control::{Control, ControlSender};
use crate::error::{DriverError, RequestError};
use crate::event_loop::{DriverConfig, Started, start};
use crate::events::Events;
use crate::machine::Machine;
use crate::queue_client::QueueClient;
use crate::runtime::{BoxFuture, Runtime};
use crate::stats::{Stats, StatsSnapshot};

type Reply = oneshot::Sender<Result<(), ApiError>>;
type Waiter = oneshot::Sender<Result<JsonRpcMessage, RequestError>>;
type Opened = oneshot::Sender<Result<(ClientKey, Vec<Address>), AddClientError>>;

pub(crate) enum HostCommand {
    Open(Box<ClientConfig>, Opened),
    Budgets(ClientKey, Vec<(Address, usize)>),
    Submit(ClientKey, JsonRpcMessage, Reply),
    Request(ClientKey, JsonRpcMessage, Waiter),
    Cancel(ClientKey, RequestId, Option<String>),
    Close(ClientKey, oneshot::Sender<()>),
}

struct HostMachine {
    host: ClientHost,
    waiters: BTreeMap<(ClientKey, RequestId), Waiter>,
    /// Clients asked to close: removed, and their closers told, once closed.
    closing: BTreeMap<ClientKey, Vec<oneshot::Sender<()>>>,
}

impl HostMachine {
    fn resolve(&mut self, key: ClientKey, id: &RequestId, outcome: Result<JsonRpcMessage, RequestError>) -> bool {
        match self.waiters.remove(&(key, id.clone())) {
            Some(w) => {
                let _ = w.send(outcome);
                true
            }
            None => false,
        }
    }

    /// Stops hosting `key` once it closed, and tells whoever waits for that.
    fn reap(&mut self, key: ClientKey) {
        if !self.host.client(key).is_none_or(|c| c.is_closed()) {
            return;
        }
        if let Some(closers) = self.closing.remove(&key) {
            self.host.remove(key);
            for done in closers {
                let _ = done.send(());
            }
        }
    }
}

impl Machine for HostMachine {
    type Event = HostEvent;
    type Command = HostCommand;

    fn handle_inbound(&mut self, message: InboundMessage, now: Instant) {
        self.host.handle_inbound(message, now);
    }
    fn handle_op_result(&mut self, id: OpId, result: OpResult, now: Instant) {
        self.host.handle_op_result(id, result, now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.host.handle_timeout(now);
    }
    fn poll_op(&mut self) -> Option<QueueOp> {
        self.host.poll_op()
    }
    fn poll_event(&mut self) -> Option<HostEvent> {
        loop {
            let event = self.host.poll_event()?;
            let HostEvent::Client { key, event: inner } = &event else { return Some(event) };
            let key = *key;
            let consumed = match inner {
                ClientEvent::Message(m) if m.kind().is_reply() => match m.id() {
                    Some(id) => {
                        let id = id.clone();
                        self.resolve(key, &id, Ok(m.clone()))
                    }
                    None => false,
                },
                ClientEvent::RequestTimedOut { id } => {
                    let id = id.clone();
                    self.resolve(key, &id, Err(RequestError::TimedOut))
                }
                ClientEvent::SendFailed { id: Some(id), error, .. } => {
                    let (id, error) = (id.clone(), error.clone());
                    self.resolve(key, &id, Err(RequestError::SendFailed(error)))
                }
                _ => false,
            };
            if self.closing.contains_key(&key) {
                self.reap(key);
            }
            if !consumed {
                return Some(event);
            }
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.host.poll_timeout()
    }
    fn receive_credit(&self) -> usize {
        self.host.receive_credit()
    }
    fn queue_url(&self) -> String {
        self.host.queue_url().to_owned()
    }
    fn receive_visibility(&self) -> Option<Duration> {
        self.host.config().receive_visibility
    }
    fn command(&mut self, command: HostCommand, now: Instant) {
        match command {
            HostCommand::Open(mut config, opened) => {
                crate::fill_wall_clock(&mut config.common);
                let added = self.host.add(*config, now, crate::seed());
                let added = added.map(|key| {
                    let destinations = self.host.client(key).map(|c| c.limit_destinations()).unwrap_or_default();
                    (key, destinations)
                });
                if let (Err(_), Ok((key, _))) = (opened.send(added.clone()), added) {
                    // Nobody waits for it: it would never be used or closed.
                    self.host.remove(key);
                }
            }
            HostCommand::Budgets(key, budgets) => {
                for (destination, max) in budgets {
                    self.host.handle_max_message_bytes(key, &destination, max);
                }
            }
            HostCommand::Submit(key, message, reply) => {
                let _ = reply.send(self.host.submit(key, message, now));
            }
            HostCommand::Request(key, message, waiter) => {
                let Some(id) = message.id().cloned().filter(|_| message.kind() == MessageKind::Request) else {
                    let _ = waiter.send(Err(RequestError::NotARequest));
                    return;
                };
                match self.host.submit(key, message, now) {
                    Ok(()) => {
                        self.waiters.insert((key, id), waiter);
                    }
                    Err(e) => {
                        let _ = waiter.send(Err(RequestError::Api(e)));
                    }
                }
            }
            HostCommand::Cancel(key, id, reason) => {
                if self.host.cancel(key, &id, reason.as_deref(), now).is_ok() {
                    self.resolve(key, &id, Err(RequestError::Cancelled));
                }
            }
            HostCommand::Close(key, done) => {
                if self.host.close(key, now).is_err() {
                    // Not hosted (closed before): nothing to wait for.
                    let _ = done.send(());
                    return;
                }
                self.closing.entry(key).or_default().push(done);
                self.reap(key);
            }
        }
    }
    fn limit_destinations(&self) -> Vec<Address> {
        // Each client's destinations are read when it is opened.
        Vec::new()
    }
    fn handle_max_message_bytes(&mut self, _destination: &Address, _max_message_bytes: usize) {}
    fn fallback_max_bytes(&self) -> usize {
        SharedConfig::default().fallback_max_bytes
    }
    fn gauges(&self) -> (usize, usize) {
        (self.host.sessions(), self.host.pending_requests())
    }
    fn begin_shutdown(&mut self, now: Instant) {
        let keys: Vec<ClientKey> = self.host.keys().collect();
        for key in keys {
            let _ = self.host.close(key, now);
        }
    }
    fn drained(&self) -> bool {
        self.host.pending_requests() == 0
    }
    fn receives_while_draining(&self) -> bool {
        self.host.pending_requests() > 0
    }
    fn finish(&mut self, now: Instant) {
        let keys: Vec<ClientKey> = self.host.keys().collect();
        for key in keys {
            let _ = self.host.close_now(key, now);
        }
        for (_, waiter) in std::mem::take(&mut self.waiters) {
            let _ = waiter.send(Err(RequestError::Closed));
        }
        for (_, closers) in std::mem::take(&mut self.closing) {
            for done in closers {
                let _ = done.send(());
            }
        }
    }
}

/// Reads what a destination accepts, through the driver's queue service.
type SizeReader = dyn Fn(&Address) -> BoxFuture<'static, Result<Option<usize>, OpFailure>> + Send + Sync;

/// The application's handle on a running [`ClientHost`]: many client sessions over
/// one reply queue, with one long poll for all of them. Cheap to clone; the driver
/// task stops when [`shutdown`](Self::shutdown) is called or every handle (this and
/// every [`HostedClient`]) is dropped.
#[derive(Clone)]
pub struct ClientHostHandle {
    control: ControlSender<HostCommand>,
    stats: Arc<Stats>,
    read_size: Arc<SizeReader>,
    /// `MaximumMessageSize` per destination, read once for all sessions.
    sizes: Arc<futures::lock::Mutex<BTreeMap<Address, Option<usize>>>>,
}

impl std::fmt::Debug for ClientHostHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHostHandle").finish_non_exhaustive()
    }
}

/// Events of a running client host that no `request` call consumed, tagged with the
/// client they concern, and messages on the queue that named no hosted client.
pub type HostEvents = Events<HostEvent>;

/// Starts a client host on `runtime`, receiving from `config.queue_url`: returns the
/// handle (open sessions with [`ClientHostHandle::open`]) and the event stream.
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
pub fn spawn_client_host<R: Runtime, Q: QueueClient>(
    config: HostConfig,
    runtime: R,
    queue: Arc<Q>,
    driver: DriverConfig,
) -> Result<(ClientHostHandle, HostEvents), ConfigError> {
    let host = ClientHost::new(config, crate::seed())?;
    let machine = HostMachine { host, waiters: BTreeMap::new(), closing: BTreeMap::new() };
    let reader = Arc::clone(&queue);
    let read_size: Arc<SizeReader> = Arc::new(move |destination: &Address| reader.max_message_bytes(destination));
    let Started { control, stats, events } = start(machine, runtime, queue, driver);
    let handle =
        ClientHostHandle { control, stats, read_size, sizes: Arc::new(futures::lock::Mutex::new(BTreeMap::new())) };
    Ok((handle, events))
}

impl ClientHostHandle {
    /// Opens a client on the shared queue (its `receive_queue_url` must be the
    /// host's, its `ClientId` its own). It has sent nothing yet: a legacy client opens
    /// its session with `call("initialize", ...)` as a single client does. The first
    /// client to name a destination reads its `MaximumMessageSize`; the others reuse it.
    ///
    /// # Errors
    /// [`OpenError::Refused`] when the host refuses the client;
    /// [`OpenError::Stopped`] when the driver has stopped.
    pub async fn open(&self, config: ClientConfig) -> Result<HostedClient, OpenError> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Command(HostCommand::Open(Box::new(config), tx))).await?;
        let (key, destinations) = rx.await.map_err(|_| OpenError::Stopped)??;
        let mut budgets = Vec::new();
        // Held across the reads: sessions opened at once wait for the first read of
        // a destination instead of each reading it.
        let mut sizes = self.sizes.lock().await;
        for destination in destinations {
            let size = match sizes.get(&destination) {
                Some(size) => *size,
                None => {
                    let size = match (self.read_size)(&destination).await {
                        Ok(size) => size,
                        Err(error) => {
                            tracing::info!(%destination, %error, "MaximumMessageSize of {destination} could not be read: its budget is the fallback");
                            None
                        }
                    };
                    sizes.insert(destination.clone(), size);
                    size
                }
            };
            budgets.extend(size.map(|max| (destination, max)));
        }
        drop(sizes);
        if !budgets.is_empty() {
            self.control.send(Control::Command(HostCommand::Budgets(key, budgets))).await?;
        }
        Ok(HostedClient { key, control: self.control.clone(), next_id: Arc::new(AtomicI64::new(1)) })
    }

    /// Closes every client (legacy sessions hear the close notification once their
    /// pending requests ended), waits up to `drain` for pending requests, and stops
    /// the driver.
    pub async fn shutdown(&self, drain: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Shutdown { drain, done: tx }).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// How many SQS/SNS calls the host made for all its clients, by kind.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The failure that stopped the driver, if one did (as
    /// [`ClientHandle::failure`](crate::ClientHandle::failure)).
    pub fn failure(&self) -> Option<OpFailure> {
        self.stats.failure()
    }
}

/// [`ClientHostHandle::open`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The host refused the client: [`AddClientError`] says why.
    #[error(transparent)]
    Refused(#[from] AddClientError),
    /// The driver task has stopped.
    #[error("the asyncmcp driver has stopped")]
    Stopped,
}

impl From<DriverError> for OpenError {
    fn from(_: DriverError) -> Self {
        OpenError::Stopped
    }
}

/// One client session on a [`ClientHostHandle`]'s shared queue, with the calls of a
/// [`ClientHandle`](crate::ClientHandle). Cheap to clone.
#[derive(Clone)]
pub struct HostedClient {
    key: ClientKey,
    control: ControlSender<HostCommand>,
    next_id: Arc<AtomicI64>,
}

impl std::fmt::Debug for HostedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedClient").field("key", &self.key).finish_non_exhaustive()
    }
}

impl HostedClient {
    /// The key its events carry ([`HostEvent::Client`]).
    pub fn key(&self) -> ClientKey {
        self.key
    }

    async fn send(&self, command: HostCommand) -> Result<(), DriverError> {
        self.control.send(Control::Command(command)).await
    }

    /// Sends a JSON-RPC message; a request's response then arrives as a
    /// [`HostEvent::Client`] event.
    ///
    /// # Errors
    /// [`DriverError::Api`] when the client refuses the message (or is no longer
    /// hosted: [`ApiError::UnknownRoute`]); [`DriverError::Stopped`] when the driver
    /// has stopped.
    pub async fn submit(&self, message: JsonRpcMessage) -> Result<(), DriverError> {
        let (tx, rx) = oneshot::channel();
        self.send(HostCommand::Submit(self.key, message, tx)).await?;
        rx.await.map_err(|_| DriverError::Stopped)?.map_err(DriverError::Api)
    }

    /// Sends `request` and waits for its response (a result or a JSON-RPC error).
    ///
    /// # Errors
    /// [`RequestError`]: timed out, could not be sent, cancelled, refused, or the
    /// driver stopped.
    pub async fn request(&self, request: JsonRpcMessage) -> Result<JsonRpcMessage, RequestError> {
        let (tx, rx) = oneshot::channel();
        self.send(HostCommand::Request(self.key, request, tx)).await.map_err(|_| RequestError::Closed)?;
        rx.await.map_err(|_| RequestError::Closed)?
    }

    /// Sends a request for `method` with a fresh numeric id and waits for its response.
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub async fn call(&self, method: &str, params: Option<serde_json::Value>) -> Result<JsonRpcMessage, RequestError> {
        let id = RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.request(JsonRpcMessage::request(id, method, params)).await
    }

    /// Sends a notification.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub async fn notify(&self, method: &str, params: Option<serde_json::Value>) -> Result<(), DriverError> {
        self.submit(JsonRpcMessage::notification(method, params)).await
    }

    /// Cancels a pending request; a `request` waiting for it returns
    /// [`RequestError::Cancelled`].
    ///
    /// # Errors
    /// [`DriverError::Stopped`] when the driver has stopped.
    pub async fn cancel(&self, id: RequestId, reason: Option<String>) -> Result<(), DriverError> {
        self.send(HostCommand::Cancel(self.key, id, reason)).await
    }

    /// Closes this session once its pending requests ended (legacy era: sends the
    /// close notification) and stops hosting it; returns then. The host and its
    /// other sessions go on.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(HostCommand::Close(self.key, tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}
