//! The server side: rmcp `ServerHandler`s behind an asyncmcp server driver.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use ::rmcp::model::{ClientCapabilities, Implementation, InitializeRequestParams, ProtocolVersion};
use ::rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage, serve_directly};
use ::rmcp::transport::Transport;
use ::rmcp::{ServerHandler, ServiceExt};
use asyncmcp_driver::{DriverConfig, QueueClient, ServerEvents, ServerHandle};
use asyncmcp_proto::{
    Cancellation, ConfigError, JsonRpcMessage, MessageKind, OpFailure, RequestId, ServerConfig, error_codes,
};
use tokio::sync::watch;

use super::client::SendError;
use crate::fanout::{Fanout, Handler, Limits, Outlet, Request, Session};
use crate::tasks::TaskOptions;

/// Runs rmcp handlers made by `factory` behind the request queue of `config` until
/// the server driver stops. See [`QueueServer`] to keep a handle for shutdown.
///
/// # Errors
/// [`ServeError::Config`] for a configuration that cannot work;
/// [`ServeError::Queue`] when the request queue failed at start in a way that can
/// never clear (see [`QueueServer::run`]).
///
/// # Panics
/// Outside a tokio runtime.
pub async fn serve<S, F, Q>(factory: F, config: ServerConfig, queue: Arc<Q>) -> Result<(), ServeError>
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
    Q: QueueClient,
{
    QueueServer::start(factory, config, queue)?.run().await?;
    Ok(())
}

/// Why [`serve`] ended with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration cannot work; the caller is at fault.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The request queue failed at start in a way that can never clear (it does not
    /// exist, the credentials are missing or rejected, access is denied, the endpoint
    /// cannot be reached); the environment is at fault.
    #[error(transparent)]
    Queue(#[from] OpFailure),
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
/// running.await??;
/// # Ok(()) }
/// ```
pub struct QueueServer<F> {
    handle: ServerHandle,
    events: ServerEvents,
    factory: Arc<F>,
    limits: Limits,
    tasks: Option<TaskOptions>,
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
        Self { handle, events, factory: Arc::new(factory), limits: Limits::default(), tasks: None }
    }

    /// The driver handle: [`shutdown`](ServerHandle::shutdown) stops the server (and
    /// then [`run`](Self::run) returns), [`stats`](ServerHandle::stats) counts calls.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// With other limits on sessions, requests and session inboxes (see
    /// [`fanout`](crate::fanout)).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Serves MCP tasks for the tools `options` names, from its store (see
    /// [`tasks`](crate::tasks)): both eras' `tools/call` as a task, `tasks/get`,
    /// `tasks/cancel` and (2025-11-25) `tasks/result`. The handler runs each task's
    /// call as a plain `tools/call`; a handler's own task support is not used.
    pub fn with_tasks(mut self, options: TaskOptions) -> Self {
        self.tasks = Some(options);
        self
    }

    /// Serves until the driver stops (after [`ServerHandle::shutdown`]). Session
    /// services then see their session close; services still running after
    /// [`Limits::shutdown_grace`] are aborted.
    ///
    /// # Errors
    /// The [`OpFailure`] that stopped the driver: a first receive that failed in a way
    /// that can never clear ([`FailureKind::is_fatal_at_start`]: the queue does not
    /// exist, no or rejected credentials, access denied, the endpoint never reached).
    /// It comes back here whether or not a `tracing` subscriber logs it. Failures
    /// after the queue has worked once (throttling, a broker that went away) are
    /// retried, not returned.
    ///
    /// [`FailureKind::is_fatal_at_start`]: asyncmcp_proto::FailureKind::is_fatal_at_start
    pub async fn run(self) -> Result<(), OpFailure> {
        let Self { handle, events, factory, limits, tasks } = self;
        let mut fanout = Fanout::new(handle.clone(), events, RmcpHandler { factory }).with_limits(limits);
        if let Some(tasks) = tasks {
            fanout = fanout.with_tasks(tasks);
        }
        fanout.run().await;
        handle.failure().map_or(Ok(()), Err)
    }
}

/// Serves each session and request with a fresh rmcp handler from the factory.
struct RmcpHandler<F> {
    factory: Arc<F>,
}

impl<S, F> Handler for RmcpHandler<F>
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    fn session(&self, session: Session) -> impl Future<Output = ()> + Send + 'static {
        let factory = Arc::clone(&self.factory);
        async move {
            let handler = factory();
            let session_id = session.id().clone();
            let transport = SessionTransport { link: Link::new(session.outlet()), session };
            match handler.serve(transport).await {
                Ok(running) => {
                    if let Err(e) = running.waiting().await {
                        tracing::warn!(%session_id, %e, "session service failed");
                    }
                }
                Err(e) => tracing::warn!(%session_id, %e, "session handshake failed"),
            }
        }
    }

    fn request(&self, request: Request) -> impl Future<Output = ()> + Send + 'static {
        let factory = Arc::clone(&self.factory);
        async move {
            let handler = factory();
            let link = Link::new(request.outlet());
            let first: RxJsonRpcMessage<RoleServer> = match serde_json::from_slice(request.message().body()) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(%e, method = ?request.message().method(), "rmcp cannot read a request");
                    refuse(&link, request.message(), &e.to_string()).await;
                    return;
                }
            };
            link.track(request.message());
            let (answered_tx, answered) = watch::channel(false);
            let transport = RequestTransport {
                link,
                first: Some(first),
                request,
                cancelled: None,
                answered_tx: Arc::new(answered_tx),
                answered,
            };
            // Requests without per-request `_meta` (a client that used `initialize`) are
            // served as the newest handshake version; `_meta.protocolVersion` wins.
            let peer_info = InitializeRequestParams::new(ClientCapabilities::default(), Implementation::default())
                .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
            if let Err(e) = serve_directly(handler, transport, Some(peer_info)).waiting().await {
                tracing::warn!(%e, "request service failed");
            }
        }
    }
}

/// Answers a request rmcp cannot serve with a JSON-RPC error, so its client does not
/// wait and the queue message is acknowledged.
async fn refuse(link: &Link, message: &JsonRpcMessage, detail: &str) {
    let (MessageKind::Request, Some(id)) = (message.kind(), message.id()) else { return };
    let text = format!("the server could not read this request: {detail}");
    let error = JsonRpcMessage::error(id.clone(), error_codes::INVALID_REQUEST, &text, None);
    if let Err(e) = link.outlet.submit(error).await {
        tracing::warn!(route = %link.outlet.route, %e, "could not refuse an unreadable request");
    }
}

/// The sending half shared by both transports: submits on one route, remembers the
/// client requests not yet answered so a cancelled one can be acknowledged.
#[derive(Clone)]
struct Link {
    outlet: Outlet,
    open: Arc<Mutex<HashSet<RequestId>>>,
}

impl Link {
    fn new(outlet: Outlet) -> Self {
        Self { outlet, open: Arc::new(Mutex::new(HashSet::new())) }
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
        if let Err(e) = self.outlet.abandon(id.clone()).await {
            tracing::debug!(route = %self.outlet.route, %id, %e, "could not end a cancelled request");
        }
    }

    /// Submits one rmcp message; returns whether it answered a client request.
    fn send(
        &self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<bool, SendError>> + Send + 'static {
        let this = self.clone();
        async move {
            let message = JsonRpcMessage::parse(serde_json::to_vec(&item)?)?;
            let answers = message.kind().is_reply();
            if answers
                && let Some(id) = message.id()
                && !this.open().remove(id)
            {
                tracing::debug!(route = %this.outlet.route, %id, "reply to a request already acknowledged: dropped");
                return Ok(true);
            }
            this.outlet.submit(message).await?;
            Ok(answers)
        }
    }
}

/// The transport of one legacy session's rmcp service.
struct SessionTransport {
    link: Link,
    session: Session,
}

impl Transport<RoleServer> for SessionTransport {
    type Error = SendError;

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
            let message = self.session.recv().await?;
            match serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(message.body()) {
                Ok(m) => {
                    self.link.track(&message);
                    if let Some(cancel) = Cancellation::from_message(&message) {
                        self.link.acknowledge_cancelled(&cancel.request_id).await;
                    }
                    return Some(m);
                }
                Err(e) => {
                    tracing::warn!(route = %self.link.outlet.route, %e, method = ?message.method(), "rmcp cannot read a message");
                    refuse(&self.link, &message, &e.to_string()).await;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.session.close();
        Ok(())
    }
}

/// The transport of one modern request's rmcp service: yields the request, then
/// any cancellation of it, and ends once the request is answered.
struct RequestTransport {
    link: Link,
    first: Option<RxJsonRpcMessage<RoleServer>>,
    request: Request,
    /// Set once a cancellation was handed to rmcp.
    cancelled: Option<RequestId>,
    answered_tx: Arc<watch::Sender<bool>>,
    answered: watch::Receiver<bool>,
}

impl Transport<RoleServer> for RequestTransport {
    type Error = SendError;

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
                note = self.request.cancelled() => match note {
                    // The driver stopped: wait for the handler's answer, which fails.
                    None => {}
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
        Ok(())
    }
}
