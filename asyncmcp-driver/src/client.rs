//! The client side: a handle for the application and the machine wrapper the event
//! loop drives.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use futures::channel::oneshot;

use asyncmcp_proto::{
    Address, ApiError, Client, ClientConfig, ClientEvent, ConfigError, InboundMessage, JsonRpcMessage, MessageKind,
    OpFailure, OpId, OpResult, QueueOp, RequestId,
};

use crate::control::{Control, ControlSender};
use crate::error::{DriverError, RequestError};
use crate::event_loop::{DriverConfig, Started, start};
use crate::events::Events;
use crate::machine::Machine;
use crate::queue_client::QueueClient;
use crate::runtime::Runtime;
use crate::stats::{Stats, StatsSnapshot};

type Reply = oneshot::Sender<Result<(), ApiError>>;
type Waiter = oneshot::Sender<Result<JsonRpcMessage, RequestError>>;

pub(crate) enum ClientCommand {
    Submit(JsonRpcMessage, Reply),
    Request(JsonRpcMessage, Waiter),
    Cancel(RequestId, Option<String>),
}

struct ClientMachine {
    client: Client,
    waiters: BTreeMap<RequestId, Waiter>,
    queue_url: String,
}

impl ClientMachine {
    fn resolve(&mut self, id: &RequestId, outcome: Result<JsonRpcMessage, RequestError>) -> bool {
        match self.waiters.remove(id) {
            Some(w) => {
                let _ = w.send(outcome);
                true
            }
            None => false,
        }
    }
}

impl Machine for ClientMachine {
    type Event = ClientEvent;
    type Command = ClientCommand;

    fn handle_inbound(&mut self, message: InboundMessage, now: Instant) {
        self.client.handle_inbound(message, now);
    }
    fn handle_op_result(&mut self, id: OpId, result: OpResult, now: Instant) {
        self.client.handle_op_result(id, result, now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
    }
    fn poll_op(&mut self) -> Option<QueueOp> {
        self.client.poll_op()
    }
    fn poll_event(&mut self) -> Option<ClientEvent> {
        loop {
            let event = self.client.poll_event()?;
            let consumed = match &event {
                ClientEvent::Message(m) if m.kind().is_reply() => match m.id() {
                    Some(id) => {
                        let id = id.clone();
                        self.resolve(&id, Ok(m.clone()))
                    }
                    None => false,
                },
                ClientEvent::RequestTimedOut { id } => {
                    let id = id.clone();
                    self.resolve(&id, Err(RequestError::TimedOut))
                }
                ClientEvent::SendFailed { id: Some(id), error, .. } => {
                    let (id, error) = (id.clone(), error.clone());
                    self.resolve(&id, Err(RequestError::SendFailed(error)))
                }
                _ => false,
            };
            if !consumed {
                return Some(event);
            }
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }
    fn receive_credit(&self) -> usize {
        self.client.receive_credit()
    }
    fn queue_url(&self) -> String {
        self.queue_url.clone()
    }
    fn receive_visibility(&self) -> Option<Duration> {
        self.client.config().common.receive_visibility
    }
    fn command(&mut self, command: ClientCommand, now: Instant) {
        match command {
            ClientCommand::Submit(message, reply) => {
                let _ = reply.send(self.client.submit(message, now));
            }
            ClientCommand::Request(message, waiter) => {
                let Some(id) = message.id().cloned().filter(|_| message.kind() == MessageKind::Request) else {
                    let _ = waiter.send(Err(RequestError::NotARequest));
                    return;
                };
                match self.client.submit(message, now) {
                    Ok(()) => {
                        self.waiters.insert(id, waiter);
                    }
                    Err(e) => {
                        let _ = waiter.send(Err(RequestError::Api(e)));
                    }
                }
            }
            ClientCommand::Cancel(id, reason) => {
                if self.client.cancel(&id, reason.as_deref(), now).is_ok() {
                    self.resolve(&id, Err(RequestError::Cancelled));
                }
            }
        }
    }
    fn limit_destinations(&self) -> Vec<Address> {
        self.client.limit_destinations()
    }
    fn handle_max_message_bytes(&mut self, destination: &Address, max_message_bytes: usize) {
        self.client.handle_max_message_bytes(destination, max_message_bytes);
    }
    fn fallback_max_bytes(&self) -> usize {
        self.client.config().common.fallback_max_bytes
    }
    fn gauges(&self) -> (usize, usize) {
        (usize::from(self.client.session_id().is_some()), self.client.pending_requests())
    }
    fn begin_shutdown(&mut self, now: Instant) {
        self.client.close(now);
    }
    fn drained(&self) -> bool {
        self.client.pending_requests() == 0
    }
    fn receives_while_draining(&self) -> bool {
        self.client.pending_requests() > 0
    }
    fn finish(&mut self, now: Instant) {
        // The drain deadline passed with requests still pending: close the session anyway.
        self.client.close_now(now);
        for (_, waiter) in std::mem::take(&mut self.waiters) {
            let _ = waiter.send(Err(RequestError::Closed));
        }
    }
}

/// The application's handle on a running client. Cheap to clone; the driver task
/// stops when [`shutdown`](Self::shutdown) is called or every handle is dropped.
#[derive(Clone)]
pub struct ClientHandle {
    control: ControlSender<ClientCommand>,
    stats: Arc<Stats>,
    next_id: Arc<AtomicI64>,
}

impl std::fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandle").finish_non_exhaustive()
    }
}

/// Events of a running client that no `request` call consumed: server requests and
/// notifications, responses to messages sent with `submit`, timeouts, rejections.
pub type ClientEvents = Events<ClientEvent>;

/// Starts a client driver on `runtime`: returns the handle and the event stream.
/// The seed of the state machine comes from the operating system's secure source.
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
pub fn spawn_client<R: Runtime, Q: QueueClient>(
    mut config: ClientConfig,
    runtime: R,
    queue: Arc<Q>,
    driver: DriverConfig,
) -> Result<(ClientHandle, ClientEvents), ConfigError> {
    crate::fill_wall_clock(&mut config.common);
    let now = runtime.now();
    let queue_url = config.receive_queue_url.clone();
    let client = Client::new(config, now, crate::seed())?;
    let machine = ClientMachine { client, waiters: BTreeMap::new(), queue_url };
    let Started { control, stats, events } = start(machine, runtime, queue, driver);
    Ok((ClientHandle { control, stats, next_id: Arc::new(AtomicI64::new(1)) }, events))
}

impl ClientHandle {
    async fn send(&self, command: ClientCommand) -> Result<(), DriverError> {
        self.control.send(Control::Command(command)).await
    }

    /// Sends a JSON-RPC message (request, notification, or a response to a server
    /// request). A request's response then arrives as a [`ClientEvent::Message`].
    ///
    /// # Errors
    /// [`DriverError::Api`] when the client refuses the message;
    /// [`DriverError::Stopped`] when the driver has stopped.
    pub async fn submit(&self, message: JsonRpcMessage) -> Result<(), DriverError> {
        let (tx, rx) = oneshot::channel();
        self.send(ClientCommand::Submit(message, tx)).await?;
        rx.await.map_err(|_| DriverError::Stopped)?.map_err(DriverError::Api)
    }

    /// Sends `request` and waits for its response (a result or a JSON-RPC error, both
    /// as the message).
    ///
    /// # Errors
    /// [`RequestError`]: timed out, could not be sent, cancelled, refused, or the
    /// driver stopped.
    pub async fn request(&self, request: JsonRpcMessage) -> Result<JsonRpcMessage, RequestError> {
        let (tx, rx) = oneshot::channel();
        self.send(ClientCommand::Request(request, tx)).await.map_err(|_| RequestError::Closed)?;
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

    /// Cancels a pending request (`notifications/cancelled`); a `request` waiting for
    /// it returns [`RequestError::Cancelled`].
    ///
    /// # Errors
    /// [`DriverError::Stopped`] when the driver has stopped.
    pub async fn cancel(&self, id: RequestId, reason: Option<String>) -> Result<(), DriverError> {
        self.send(ClientCommand::Cancel(id, reason)).await
    }

    /// Closes the session (legacy era: sends the close notification), waits up to
    /// `drain` for pending requests, and stops the driver.
    pub async fn shutdown(&self, drain: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Shutdown { drain, done: tx }).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// How many SQS/SNS calls this client made, by kind.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The failure that stopped the driver, if one did: a receive that failed at start
    /// with a failure that can never clear (a missing queue, no or rejected
    /// credentials, a denial, an endpoint never reached). The event stream ends first;
    /// this says why, whether or not anything is logged.
    pub fn failure(&self) -> Option<OpFailure> {
        self.stats.failure()
    }
}
