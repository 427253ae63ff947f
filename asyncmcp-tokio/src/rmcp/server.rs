//! The server side: rmcp `ServerHandler`s behind an asyncmcp server driver.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use ::rmcp::model::{ClientCapabilities, Implementation, InitializeRequestParams, ProtocolVersion};
use ::rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage, serve_directly};
use ::rmcp::transport::Transport;
use ::rmcp::{ServerHandler, ServiceExt};
use asyncmcp_driver::{DriverConfig, QueueClient, ServerEvents, ServerHandle};
use asyncmcp_proto::handshake::INITIALIZE;
use asyncmcp_proto::{
    Cancellation, ConfigError, JsonRpcMessage, MessageKind, RequestId, RequestToken, Route, ServerConfig, ServerEvent,
    SessionId, error_codes,
};
use tokio::sync::{mpsc, watch};

use super::client::QueueTransportError;

/// Runs rmcp handlers made by `factory` behind the request queue of `config` until
/// the server driver stops. See [`QueueServer`] to keep a handle for shutdown.
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
///
/// # Panics
/// Outside a tokio runtime.
pub async fn serve<S, F, Q>(factory: F, config: ServerConfig, queue: Arc<Q>) -> Result<(), ConfigError>
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
    Q: QueueClient,
{
    QueueServer::start(factory, config, queue)?.run().await;
    Ok(())
}

/// A queue-hosted MCP server whose sessions and requests are served by rmcp
/// handlers: a fresh handler from the factory per legacy session and per modern
/// request (see the [module docs](super) for both eras).
///
/// ```no_run
/// # async fn doc<H: rmcp::ServerHandler>(
/// #     make: impl Fn() -> H + Send + Sync + 'static,
/// #     config: asyncmcp_tokio::proto::ServerConfig,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// let queue = std::sync::Arc::new(asyncmcp_tokio::memory_queue());
/// let server = asyncmcp_tokio::rmcp::QueueServer::start(make, config, queue)?;
/// let handle = server.handle();
/// let running = tokio::spawn(server.run());
/// // ... later: answer what is in flight (up to 5 s), then stop.
/// handle.shutdown(std::time::Duration::from_secs(5)).await;
/// running.await?;
/// # Ok(()) }
/// ```
pub struct QueueServer<F> {
    handle: ServerHandle,
    events: ServerEvents,
    factory: Arc<F>,
}

impl<F> std::fmt::Debug for QueueServer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueServer").finish_non_exhaustive()
    }
}

impl<S, F> QueueServer<F>
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    /// Starts the server driver on the current tokio runtime; call
    /// [`run`](Self::run) to serve.
    ///
    /// # Errors
    /// [`ConfigError`] for a configuration that cannot work.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start<Q: QueueClient>(factory: F, config: ServerConfig, queue: Arc<Q>) -> Result<Self, ConfigError> {
        Self::start_with(factory, config, queue, DriverConfig::default())
    }

    /// As [`start`](Self::start), with driver options (long-poll wait, channel sizes).
    ///
    /// # Errors
    /// [`ConfigError`] for a configuration that cannot work.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start_with<Q: QueueClient>(
        factory: F,
        config: ServerConfig,
        queue: Arc<Q>,
        driver: DriverConfig,
    ) -> Result<Self, ConfigError> {
        let (handle, events) = crate::spawn_server_with(config, queue, driver)?;
        Ok(Self::from_parts(factory, handle, events))
    }

    /// Serves a server driver already running.
    pub fn from_parts(factory: F, handle: ServerHandle, events: ServerEvents) -> Self {
        Self { handle, events, factory: Arc::new(factory) }
    }

    /// The driver handle: [`shutdown`](ServerHandle::shutdown) stops the server (and
    /// then [`run`](Self::run) returns), [`stats`](ServerHandle::stats) counts calls.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Serves until the driver stops (after [`ServerHandle::shutdown`]). Services
    /// still running then are ended.
    pub async fn run(self) {
        let Self { handle, mut events, factory } = self;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut demux = Demux { handle, factory, sessions: HashMap::new(), requests: HashMap::new(), done_tx };
        loop {
            tokio::select! {
                biased;
                Some(done) = done_rx.recv() => demux.finished(done).await,
                event = events.next() => match event {
                    Some(event) => demux.event(event).await,
                    None => break,
                },
            }
        }
        tracing::debug!(sessions = demux.sessions.len(), requests = demux.requests.len(), "server driver stopped");
    }
}

/// A service that ended on its own.
enum Done {
    Session(SessionId),
    Request(RequestToken),
}

/// One legacy session: its inbox and the requests it has not answered.
struct SessionEntry {
    inbox: mpsc::UnboundedSender<JsonRpcMessage>,
}

/// One modern request: its JSON-RPC id and where a cancellation goes.
struct RequestEntry {
    cancel: mpsc::UnboundedSender<JsonRpcMessage>,
}

struct Demux<F> {
    handle: ServerHandle,
    factory: Arc<F>,
    sessions: HashMap<SessionId, SessionEntry>,
    requests: HashMap<RequestToken, RequestEntry>,
    done_tx: mpsc::UnboundedSender<Done>,
}

impl<S, F> Demux<F>
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    async fn event(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::SessionOpened { session_id, client_id, reply_to } => {
                tracing::debug!(%session_id, ?client_id, %reply_to, "session opened");
            }
            ServerEvent::SessionClosed { session_id, reason } => {
                tracing::debug!(%session_id, ?reason, "session closed");
                // Dropping the inbox ends the session's receive stream, so its service stops.
                self.sessions.remove(&session_id);
            }
            ServerEvent::Message { route, message } => self.message(route, message).await,
            ServerEvent::Rejected(r) => {
                tracing::warn!(message_id = %r.message_id, reason = %r.reason, fate = ?r.fate, "request rejected");
            }
            ServerEvent::SendFailed { route, id, error } => {
                tracing::warn!(%route, ?id, %error, "reply could not be sent");
            }
            ServerEvent::AckFailed { message_id, error } => {
                tracing::warn!(%message_id, %error, "could not delete a handled request");
            }
            other => tracing::debug!(?other, "server event"),
        }
    }

    async fn message(&mut self, route: Route, message: JsonRpcMessage) {
        match route {
            Route::Session(session_id) => self.session_message(session_id, message).await,
            Route::Request(token) => self.request(token, message).await,
            Route::Detached => self.detached(message),
            other => tracing::warn!(route = %other, "message on an unknown route dropped"),
        }
    }

    async fn session_message(&mut self, session_id: SessionId, message: JsonRpcMessage) {
        if let Some(entry) = self.sessions.get(&session_id) {
            if entry.inbox.send(message).is_err() {
                tracing::debug!(%session_id, "message for a session whose service ended");
            }
            return;
        }
        if message.method() != Some(INITIALIZE) {
            tracing::warn!(%session_id, method = ?message.method(), "message before initialize, or for an ended session");
            let route = Route::Session(session_id);
            refuse(&self.handle, &route, &message, "the session's MCP service is not running").await;
            return;
        }
        let (inbox, rx) = mpsc::unbounded_channel();
        if inbox.send(message).is_err() {
            return;
        }
        self.sessions.insert(session_id.clone(), SessionEntry { inbox });
        let transport =
            SessionTransport { link: Link::new(self.handle.clone(), Route::Session(session_id.clone())), inbox: rx };
        let handler = (self.factory)();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            match handler.serve(transport).await {
                Ok(running) => {
                    if let Err(e) = running.waiting().await {
                        tracing::warn!(%session_id, %e, "session service failed");
                    }
                }
                Err(e) => tracing::warn!(%session_id, %e, "session handshake failed"),
            }
            let _ = done.send(Done::Session(session_id));
        });
    }

    async fn request(&mut self, token: RequestToken, message: JsonRpcMessage) {
        let route = Route::Request(token);
        if message.kind() == MessageKind::Notification {
            // The core routes a `notifications/cancelled` to the request it names.
            match self.requests.get(&token) {
                Some(entry) if entry.cancel.send(message).is_ok() => {}
                _ => tracing::debug!(%route, "notification for a request that already ended"),
            }
            return;
        }
        let first: RxJsonRpcMessage<RoleServer> = match serde_json::from_slice(message.body()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%e, method = ?message.method(), "rmcp cannot read a request");
                refuse(&self.handle, &route, &message, &e.to_string()).await;
                return;
            }
        };
        if message.id().is_none() {
            return;
        }
        let (cancel, cancel_rx) = mpsc::unbounded_channel();
        let link = Link::new(self.handle.clone(), route);
        link.track(&message);
        let (answered_tx, answered) = watch::channel(false);
        let transport = RequestTransport {
            link,
            first: Some(first),
            cancel: cancel_rx,
            cancel_open: true,
            cancelled: None,
            answered_tx: Arc::new(answered_tx),
            answered,
        };
        self.requests.insert(token, RequestEntry { cancel });
        // Requests without per-request `_meta` (a client that used `initialize`) are
        // served as the newest handshake version; `_meta.protocolVersion` wins.
        let peer_info = InitializeRequestParams::new(ClientCapabilities::default(), Implementation::default())
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
        let running = serve_directly((self.factory)(), transport, Some(peer_info));
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            if let Err(e) = running.waiting().await {
                tracing::warn!(%e, "request service failed");
            }
            let _ = done.send(Done::Request(token));
        });
    }

    /// A modern notification for no running request (a cancel that arrived after its
    /// request ended, for example): nothing to do.
    fn detached(&mut self, message: JsonRpcMessage) {
        tracing::debug!(method = ?message.method(), "detached notification ignored");
    }

    async fn finished(&mut self, done: Done) {
        match done {
            Done::Request(token) => {
                self.requests.remove(&token);
            }
            Done::Session(session_id) => {
                if self.sessions.remove(&session_id).is_some() {
                    // The service ended while the session lives on (for example a failed
                    // handshake): close it so its client learns at its next request.
                    if let Err(e) = self.handle.close_session(session_id.clone()).await {
                        tracing::debug!(%session_id, %e, "session already closed");
                    }
                }
            }
        }
    }
}

/// Answers a request rmcp cannot serve with a JSON-RPC error, so its client does not
/// wait and the queue message is acknowledged.
async fn refuse(handle: &ServerHandle, route: &Route, message: &JsonRpcMessage, detail: &str) {
    let (MessageKind::Request, Some(id)) = (message.kind(), message.id()) else { return };
    let text = format!("the server could not read this request: {detail}");
    let error = JsonRpcMessage::error(id.clone(), error_codes::INVALID_REQUEST, &text, None);
    if let Err(e) = handle.submit(route.clone(), error).await {
        tracing::warn!(%route, %e, "could not refuse an unreadable request");
    }
}

/// The sending half shared by both transports: submits on one route, remembers the
/// client requests not yet answered so a cancelled one can be acknowledged.
#[derive(Clone)]
struct Link {
    handle: ServerHandle,
    route: Route,
    open: Arc<Mutex<HashSet<RequestId>>>,
}

impl Link {
    fn new(handle: ServerHandle, route: Route) -> Self {
        Self { handle, route, open: Arc::new(Mutex::new(HashSet::new())) }
    }

    fn open(&self) -> MutexGuard<'_, HashSet<RequestId>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an inbound client request.
    fn track(&self, message: &JsonRpcMessage) {
        if let (MessageKind::Request, Some(id)) = (message.kind(), message.id()) {
            self.open().insert(id.clone());
        }
    }

    /// rmcp drops the response of a cancelled request, but the queue message must
    /// still be deleted: end the request without an answer, as MCP asks.
    async fn acknowledge_cancelled(&self, id: &RequestId) {
        if !self.open().remove(id) {
            return;
        }
        if let Err(e) = self.handle.abandon(self.route.clone(), id.clone()).await {
            tracing::debug!(route = %self.route, %id, %e, "could not end a cancelled request");
        }
    }

    /// Submits one rmcp message; returns whether it answered a client request.
    fn send(
        &self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<bool, QueueTransportError>> + Send + 'static {
        let this = self.clone();
        async move {
            let message = JsonRpcMessage::parse(serde_json::to_vec(&item)?)?;
            let answers = message.kind().is_reply();
            if answers
                && let Some(id) = message.id()
                && !this.open().remove(id)
            {
                tracing::debug!(route = %this.route, %id, "reply to a request already acknowledged: dropped");
                return Ok(true);
            }
            this.handle.submit(this.route.clone(), message).await?;
            Ok(answers)
        }
    }
}

/// The transport of one legacy session's rmcp service.
struct SessionTransport {
    link: Link,
    inbox: mpsc::UnboundedReceiver<JsonRpcMessage>,
}

impl Transport<RoleServer> for SessionTransport {
    type Error = QueueTransportError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let send = self.link.send(item);
        async move {
            send.await?;
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let message = self.inbox.recv().await?;
            match serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(message.body()) {
                Ok(m) => {
                    self.link.track(&message);
                    if let Some(cancel) = Cancellation::from_message(&message) {
                        self.link.acknowledge_cancelled(&cancel.request_id).await;
                    }
                    return Some(m);
                }
                Err(e) => {
                    tracing::warn!(route = %self.link.route, %e, method = ?message.method(), "rmcp cannot read a message");
                    refuse(&self.link.handle, &self.link.route, &message, &e.to_string()).await;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inbox.close();
        Ok(())
    }
}

/// The transport of one modern request's rmcp service: yields the request, then
/// any cancellation of it, and ends once the request is answered.
struct RequestTransport {
    link: Link,
    first: Option<RxJsonRpcMessage<RoleServer>>,
    cancel: mpsc::UnboundedReceiver<JsonRpcMessage>,
    cancel_open: bool,
    /// Set once a cancellation was handed to rmcp.
    cancelled: Option<RequestId>,
    answered_tx: Arc<watch::Sender<bool>>,
    answered: watch::Receiver<bool>,
}

impl Transport<RoleServer> for RequestTransport {
    type Error = QueueTransportError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let send = self.link.send(item);
        let answered = Arc::clone(&self.answered_tx);
        async move {
            let result = send.await;
            if !matches!(result, Ok(false)) {
                // Answered (or failed to answer): the request is over either way.
                answered.send_replace(true);
            }
            result.map(|_| ())
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        if let Some(id) = self.cancelled.take() {
            // rmcp has dropped the handler's response: acknowledge and end.
            self.link.acknowledge_cancelled(&id).await;
            return None;
        }
        loop {
            tokio::select! {
                biased;
                _ = self.answered.wait_for(|done| *done) => return None,
                note = self.cancel.recv(), if self.cancel_open => match note {
                    None => self.cancel_open = false,
                    Some(note) => match serde_json::from_slice(note.body()) {
                        Ok(m) => {
                            self.cancelled = Cancellation::from_message(&note).map(|c| c.request_id);
                            return Some(m);
                        }
                        Err(e) => tracing::warn!(%e, "rmcp cannot read a cancellation"),
                    },
                },
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.cancel.close();
        Ok(())
    }
}
