//! One task per legacy session and per modern request: the dispatch loop that the
//! rmcp glue ([`rmcp::QueueServer`](crate::rmcp::QueueServer)) and `asyncmcp serve`
//! share.
//!
//! A [`Fanout`] reads a server driver's events and hands
//! - each **legacy session** (2025-11-25 and earlier) to [`Handler::session`], which
//!   reads the session's messages from [`Session::recv`] and ends when the session
//!   closes (`recv` returns `None`);
//! - each **modern request** (2026-07-28) to [`Handler::request`], which answers it
//!   on its route and hears a `notifications/cancelled` for it through
//!   [`Request::cancelled`].
//!
//! The dispatch loop never awaits the driver: refusals and session closes run in
//! tasks of their own, so one slow handler (or a busy driver) does not hold up the
//! messages of the others.
//!
//! # Bounds and refusals
//! - At most [`Limits::max_sessions`] session handlers and [`Limits::max_requests`]
//!   request handlers run at once. A session over the cap gets no handler: its
//!   `initialize` is answered with error [`SERVER_BUSY`] and the session is closed. A
//!   request over the cap is answered with [`SERVER_BUSY`].
//! - Each session's inbox holds at most [`Limits::session_inbox`] messages. A message
//!   that finds it full is never dropped silently and never blocks the loop: a request
//!   is answered with [`SERVER_BUSY`] (the client may retry); any other message (a
//!   notification, or a response to a server request) cannot be answered, so the
//!   session is closed, since its handler has fallen too far behind to stay
//!   consistent, and the client learns it at its next request ("session not found").
//! - A session whose handler returns while the session is open is closed.
//! - When the driver stops, every inbox closes and every request's
//!   [`cancelled`](Request::cancelled) returns `None`; handlers still running after
//!   [`Limits::shutdown_grace`] are aborted.
//!
//! ```
//! use asyncmcp_tokio::fanout::{Fanout, Handler, Request, Session};
//! use asyncmcp_tokio::proto::JsonRpcMessage;
//!
//! /// Answers every request with `{}`.
//! struct Empty;
//!
//! impl Handler for Empty {
//!     fn session(&self, mut session: Session) -> impl Future<Output = ()> + Send + 'static {
//!         async move {
//!             while let Some(message) = session.recv().await {
//!                 if let Some(id) = message.id() {
//!                     let _ = session.send(JsonRpcMessage::response(id.clone(), serde_json::json!({}))).await;
//!                 }
//!             }
//!         }
//!     }
//!
//!     fn request(&self, request: Request) -> impl Future<Output = ()> + Send + 'static {
//!         async move {
//!             let answer = JsonRpcMessage::response(request.id().clone(), serde_json::json!({}));
//!             let _ = request.send(answer).await;
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use asyncmcp_tokio::proto::{AllowList, ServerConfig, sim::QueueOptions};
//! let queue = std::sync::Arc::new(asyncmcp_tokio::memory_queue());
//! let requests = queue.create_queue("requests", QueueOptions::default());
//! let config = ServerConfig::new(requests, AllowList::new());
//! let (handle, events) = asyncmcp_tokio::spawn_server(config, queue)?;
//! let running = tokio::spawn(Fanout::new(handle.clone(), events, Empty).run());
//! handle.shutdown(std::time::Duration::ZERO).await;
//! running.await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use asyncmcp_driver::{DriverError, ServerEvents, ServerHandle};
use asyncmcp_proto::{
    JsonRpcMessage, MessageKind, RequestId, RequestToken, Route, ServerEvent, SessionId, error_codes,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{Id, JoinSet};

use crate::tasks::{Intercept, TaskOptions, Tasks, era_of};

/// JSON-RPC error code of a refusal for lack of room: the session or request cap is
/// reached, or a session's inbox is full. The client may try again later.
pub const SERVER_BUSY: i64 = -32000;

/// What the fan-out does with each session and request: one task each.
///
/// The methods are called on the dispatch loop and only build the task: do the work,
/// and anything slow, in the future they return (`'static`: clone from `&self` what
/// the task needs).
pub trait Handler: Send + Sync + 'static {
    /// Serves one legacy session until [`Session::recv`] returns `None` (the session
    /// closed). Returning earlier closes the session.
    fn session(&self, session: Session) -> impl Future<Output = ()> + Send + 'static;

    /// Serves one modern request: answer it with [`Request::send`]; progress
    /// notifications go the same way before the answer.
    fn request(&self, request: Request) -> impl Future<Output = ()> + Send + 'static;

    /// The text of the error that refuses a session or request for lack of room;
    /// override it to name the setting a user can change.
    fn busy_text(&self, busy: Busy) -> String {
        busy.to_string()
    }
}

/// How many handlers run at once, and how much waits for them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Session handlers running at once (default 256).
    pub max_sessions: usize,
    /// Request handlers running at once (default 256).
    pub max_requests: usize,
    /// Messages waiting in one session's inbox (default 64).
    pub session_inbox: usize,
    /// How long handlers may run on after the driver stopped (default 2 s).
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_sessions: 256, max_requests: 256, session_inbox: 64, shutdown_grace: Duration::from_secs(2) }
    }
}

/// Why a session or request was refused for lack of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Busy {
    /// All this many session handlers are running.
    Sessions(usize),
    /// All this many request handlers are running.
    Requests(usize),
    /// The session's inbox holds this many messages its handler has not read.
    Inbox(usize),
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Busy::Sessions(n) => write!(f, "all {n} session slots of the server are in use; try again later"),
            Busy::Requests(n) => write!(f, "the server is running {n} requests, its most; try again later"),
            Busy::Inbox(n) => write!(f, "the session has {n} messages waiting for its handler; try again later"),
        }
    }
}

/// One legacy session, as its handler sees it.
#[derive(Debug)]
pub struct Session {
    id: SessionId,
    handle: ServerHandle,
    inbox: mpsc::Receiver<JsonRpcMessage>,
    tasks: Option<Arc<Tasks>>,
}

impl Session {
    /// The session's id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The route to send the session's messages on.
    pub fn route(&self) -> Route {
        Route::Session(self.id.clone())
    }

    /// The server driver.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// The session's next message; `None` once the session closed (or the driver
    /// stopped).
    pub async fn recv(&mut self) -> Option<JsonRpcMessage> {
        self.inbox.recv().await
    }

    /// Sends `message` on the session (a response, a notification, or a server request).
    ///
    /// # Errors
    /// As [`ServerHandle::submit`].
    pub async fn send(&self, message: JsonRpcMessage) -> Result<(), DriverError> {
        self.outlet().submit(message).await
    }

    /// Where the session's messages go (with task capabilities added when tasks are on).
    pub(crate) fn outlet(&self) -> Outlet {
        Outlet { handle: self.handle.clone(), route: self.route(), capture: None, tasks: self.tasks.clone() }
    }

    /// Stops taking messages; those already waiting can still be read.
    pub fn close(&mut self) {
        self.inbox.close();
    }
}

/// One modern request, as its handler sees it.
#[derive(Debug)]
pub struct Request {
    route: Route,
    id: RequestId,
    message: JsonRpcMessage,
    handle: ServerHandle,
    cancel: Option<oneshot::Receiver<JsonRpcMessage>>,
    /// A task's call: its answer goes here, not to the client (which got the task).
    capture: Option<mpsc::UnboundedSender<JsonRpcMessage>>,
    tasks: Option<Arc<Tasks>>,
}

impl Request {
    /// A task's plain `tools/call`, run by the handler with its answer captured.
    pub(crate) fn captured(
        route: Route,
        message: JsonRpcMessage,
        handle: ServerHandle,
        capture: mpsc::UnboundedSender<JsonRpcMessage>,
        cancel: oneshot::Receiver<JsonRpcMessage>,
    ) -> Self {
        let id = message.id().cloned().unwrap_or(RequestId::Null);
        Self { route, id, message, handle, cancel: Some(cancel), capture: Some(capture), tasks: None }
    }

    /// The route to answer on.
    pub fn route(&self) -> Route {
        self.route.clone()
    }

    /// Where the request's messages go: the driver, or for a task's call the task
    /// (its answer becomes the task's outcome, its progress the status message).
    pub(crate) fn outlet(&self) -> Outlet {
        Outlet {
            handle: self.handle.clone(),
            route: self.route(),
            capture: self.capture.clone(),
            tasks: self.tasks.clone(),
        }
    }

    /// The request's JSON-RPC id.
    pub fn id(&self) -> &RequestId {
        &self.id
    }

    /// The request.
    pub fn message(&self) -> &JsonRpcMessage {
        &self.message
    }

    /// The server driver.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Sends `message` on the request's route: its answer, or a notification before it.
    /// (When the request is a task's call, its answer becomes the task's outcome.)
    ///
    /// # Errors
    /// As [`ServerHandle::submit`].
    pub async fn send(&self, message: JsonRpcMessage) -> Result<(), DriverError> {
        self.outlet().submit(message).await
    }

    /// Where this request's answer and notifications go, detached from the request:
    /// for handlers that answer from another task (a process pool). Use it in place
    /// of [`ServerHandle::submit`] on [`route`](Self::route), so the answer of a
    /// task's call becomes the task's outcome.
    pub fn replier(&self) -> Replier {
        Replier(self.outlet())
    }

    /// Waits for the client's `notifications/cancelled` for this request and returns
    /// it; `None` when the driver stopped first. Once it has returned, it waits
    /// forever (so it can sit in a `select!` loop). Cancel-safe: dropping the
    /// future loses nothing.
    pub async fn cancelled(&mut self) -> Option<JsonRpcMessage> {
        let Some(cancel) = self.cancel.as_mut() else { return std::future::pending().await };
        let note = cancel.await.ok();
        self.cancel = None;
        note
    }
}

/// Sends a request's answer and notifications (see [`Request::replier`]).
#[derive(Clone)]
pub struct Replier(Outlet);

impl fmt::Debug for Replier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replier").field("route", &self.0.route).finish_non_exhaustive()
    }
}

impl Replier {
    /// Sends `message` as [`Request::send`] does.
    ///
    /// # Errors
    /// As [`ServerHandle::submit`].
    pub async fn send(&self, message: JsonRpcMessage) -> Result<(), DriverError> {
        self.0.submit(message).await
    }

    /// Ends request `id` unanswered (a cancelled request), as
    /// [`ServerHandle::abandon`] does; nothing for a task's call, which its task ends.
    ///
    /// # Errors
    /// As [`ServerHandle::abandon`].
    pub async fn abandon(&self, id: RequestId) -> Result<(), DriverError> {
        self.0.abandon(id).await
    }
}

/// Where a session's or request's messages go: the driver on its route, or a task's
/// capture.
#[derive(Clone)]
pub(crate) struct Outlet {
    pub(crate) handle: ServerHandle,
    pub(crate) route: Route,
    capture: Option<mpsc::UnboundedSender<JsonRpcMessage>>,
    tasks: Option<Arc<Tasks>>,
}

impl Outlet {
    /// Sends `message` (see [`Request::send`]).
    pub(crate) async fn submit(&self, message: JsonRpcMessage) -> Result<(), DriverError> {
        if let Some(capture) = &self.capture {
            // The answer becomes the task's outcome, progress its status message.
            let _ = capture.send(message);
            return Ok(());
        }
        let message = match &self.tasks {
            Some(tasks) if message.kind().is_reply() => tasks.decorate(message, era_of(&self.route)),
            _ => message,
        };
        self.handle.submit(self.route.clone(), message).await
    }

    /// Ends request `id` unanswered (see [`ServerHandle::abandon`]); nothing for a
    /// task's call, whose task ends it.
    pub(crate) async fn abandon(&self, id: RequestId) -> Result<(), DriverError> {
        if self.capture.is_some() {
            return Ok(());
        }
        self.handle.abandon(self.route.clone(), id).await
    }
}

/// Serves a server driver's sessions and requests with a [`Handler`], one task each.
/// See the [module docs](self).
pub struct Fanout<H> {
    handle: ServerHandle,
    events: ServerEvents,
    handler: H,
    limits: Limits,
    tasks: Option<TaskOptions>,
}

impl<H> fmt::Debug for Fanout<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fanout").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl<H: Handler> Fanout<H> {
    /// A fan-out over a running server driver, with the default [`Limits`].
    pub fn new(handle: ServerHandle, events: ServerEvents, handler: H) -> Self {
        Self { handle, events, handler, limits: Limits::default(), tasks: None }
    }

    /// Serves MCP tasks (see [`tasks`](crate::tasks)): `tools/call` of the tools
    /// `options` names run as tasks, and task methods are answered from its store.
    pub fn with_tasks(mut self, options: TaskOptions) -> Self {
        self.tasks = Some(options);
        self
    }

    /// With other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The driver handle.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Dispatches until the driver stops, then ends the handlers (see the
    /// [module docs](self)).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub async fn run(self) {
        let Self { handle, mut events, handler, limits, tasks } = self;
        let mut dispatch = Dispatch {
            handle,
            handler: Arc::new(handler),
            limits,
            task_layer: None,
            sessions: HashMap::new(),
            requests: HashMap::new(),
            tasks: JoinSet::new(),
            owners: HashMap::new(),
        };
        if let Some(options) = tasks {
            let layer = Arc::new(Tasks::new(options));
            let handler = Arc::clone(&dispatch.handler);
            layer.set_runner(Arc::new(move |request: Request| {
                let handler = Arc::clone(&handler);
                Box::pin(async move { handler.request(request).await })
            }));
            dispatch.task_layer = Some(layer);
        }
        loop {
            tokio::select! {
                biased;
                Some(ended) = dispatch.tasks.join_next_with_id(), if !dispatch.tasks.is_empty() => dispatch.ended(ended),
                event = events.next() => match event {
                    Some(event) => dispatch.event(event),
                    None => break,
                },
            }
        }
        dispatch.stop().await;
    }
}

/// Whose handler a task runs.
enum Owner {
    Session(SessionId),
    Request(RequestToken),
}

/// A session's place in the fan-out.
enum SessionSlot {
    /// Its handler runs and reads this inbox.
    Served(mpsc::Sender<JsonRpcMessage>),
    /// Refused for lack of room: its first request gets this text, then it closes.
    Refused(String),
}

/// A running request: its id (to answer if its handler panics) and where its
/// cancellation goes (taken by the first one).
struct RequestSlot {
    id: RequestId,
    cancel: Option<oneshot::Sender<JsonRpcMessage>>,
}

struct Dispatch<H> {
    handle: ServerHandle,
    handler: Arc<H>,
    limits: Limits,
    task_layer: Option<Arc<Tasks>>,
    sessions: HashMap<SessionId, SessionSlot>,
    requests: HashMap<RequestToken, RequestSlot>,
    tasks: JoinSet<()>,
    owners: HashMap<Id, Owner>,
}

impl<H: Handler> Dispatch<H> {
    fn event(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::SessionOpened { session_id, client_id, reply_to } => {
                tracing::debug!(%session_id, ?client_id, %reply_to, "session opened");
                self.open(session_id);
            }
            ServerEvent::SessionClosed { session_id, reason } => {
                tracing::debug!(%session_id, ?reason, "session closed");
                if let Some(tasks) = &self.task_layer {
                    tasks.session_closed(&session_id);
                }
                // Dropping the inbox's sender ends the handler's `recv`.
                self.sessions.remove(&session_id);
            }
            ServerEvent::Message { route: Route::Session(session_id), message } => {
                self.session_message(session_id, message)
            }
            ServerEvent::Message { route: Route::Request(token), message } => self.request_message(token, message),
            ServerEvent::Message { route, message } => {
                tracing::debug!(%route, method = ?message.method(), "notification for no running request ignored");
            }
            ServerEvent::Rejected(r) => {
                tracing::warn!(message_id = %r.message_id, reason = %r.reason, fate = ?r.fate, "message rejected");
            }
            ServerEvent::SendFailed { route, id, error } => {
                tracing::warn!(%route, ?id, %error, "reply could not be sent");
            }
            ServerEvent::AckFailed { message_id, error } => {
                tracing::warn!(%message_id, %error, "could not delete a handled request");
            }
            ServerEvent::ResponseReplayed { to, id } => {
                tracing::info!(%to, %id, "answered a redelivered request from the response cache");
            }
            other => tracing::debug!(?other, "server event"),
        }
    }

    fn open(&mut self, session_id: SessionId) {
        let served = self.sessions.values().filter(|s| matches!(s, SessionSlot::Served(_))).count();
        if served >= self.limits.max_sessions {
            tracing::warn!(%session_id, max = self.limits.max_sessions, "session refused: all session slots are in use");
            let text = self.handler.busy_text(Busy::Sessions(self.limits.max_sessions));
            self.sessions.insert(session_id, SessionSlot::Refused(text));
            return;
        }
        let (inbox, rx) = mpsc::channel(self.limits.session_inbox.max(1));
        let session =
            Session { id: session_id.clone(), handle: self.handle.clone(), inbox: rx, tasks: self.task_layer.clone() };
        let task = self.tasks.spawn(self.handler.session(session));
        self.owners.insert(task.id(), Owner::Session(session_id.clone()));
        self.sessions.insert(session_id, SessionSlot::Served(inbox));
    }

    fn session_message(&mut self, session_id: SessionId, message: JsonRpcMessage) {
        let route = Route::Session(session_id.clone());
        if let Some(tasks) = &self.task_layer {
            tasks.session_message(&session_id, &message);
        }
        let message = match self.sessions.get(&session_id) {
            Some(SessionSlot::Served(_)) => match self.task_matter(route.clone(), message) {
                Some(message) => message,
                None => return,
            },
            _ => message,
        };
        match self.sessions.get(&session_id) {
            Some(SessionSlot::Served(inbox)) => match inbox.try_send(message) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(message)) => self.overflow(session_id, message),
                Err(mpsc::error::TrySendError::Closed(message)) => {
                    // The handler has ended; its end closes the session.
                    let text = "the session's handler has ended";
                    answer_error(&self.handle, route, request_id(&message), error_codes::INTERNAL_ERROR, text, None);
                }
            },
            Some(SessionSlot::Refused(text)) => {
                let text = text.clone();
                self.sessions.remove(&session_id);
                answer_error(&self.handle, route, request_id(&message), SERVER_BUSY, &text, Some(session_id));
            }
            None => {
                tracing::warn!(%session_id, method = ?message.method(), "message for a session with no handler");
                let text = "the session has no handler (it ended)";
                answer_error(&self.handle, route, request_id(&message), error_codes::INTERNAL_ERROR, text, None);
            }
        }
    }

    /// A task method or a `tools/call` to run as a task (when tasks are on): served
    /// by the task layer in a task of its own. Anything else comes back.
    fn task_matter(&mut self, route: Route, message: JsonRpcMessage) -> Option<JsonRpcMessage> {
        let Some(tasks) = self.task_layer.clone() else { return Some(message) };
        let handle = self.handle.clone();
        match tasks.intercept(&message, era_of(&route)) {
            Intercept::Pass => return Some(message),
            Intercept::Method => {
                // A listen lasts until its tasks end: the client's cancel reaches it.
                let listen = match (&route, message.id()) {
                    (Route::Request(token), Some(id)) if message.method() == Some(crate::tasks::LISTEN) => {
                        Some((*token, id.clone()))
                    }
                    _ => None,
                };
                let (cancel, cancel_rx) = oneshot::channel();
                let task = self.tasks.spawn(tasks.serve_method(handle, route, message, Some(cancel_rx)));
                if let Some((token, id)) = listen {
                    self.owners.insert(task.id(), Owner::Request(token));
                    self.requests.insert(token, RequestSlot { id, cancel: Some(cancel) });
                }
            }
            Intercept::Call(decision) => {
                let handler = Arc::clone(&self.handler);
                let run = move |request: Request| async move { handler.request(request).await };
                self.tasks.spawn(tasks.serve_call(handle, route, message, decision, run));
            }
        }
        None
    }

    /// A message for a session whose inbox is full (see the module docs).
    fn overflow(&mut self, session_id: SessionId, message: JsonRpcMessage) {
        let route = Route::Session(session_id.clone());
        let waiting = self.limits.session_inbox.max(1);
        if message.kind() == MessageKind::Request {
            tracing::warn!(%session_id, waiting, "session inbox full: request refused");
            let text = self.handler.busy_text(Busy::Inbox(waiting));
            answer_error(&self.handle, route, request_id(&message), SERVER_BUSY, &text, None);
            return;
        }
        tracing::warn!(%session_id, waiting, method = ?message.method(), "session inbox full: a message that cannot be refused arrived, closing the session");
        self.sessions.remove(&session_id);
        close_session(&self.handle, session_id);
    }

    fn request_message(&mut self, token: RequestToken, message: JsonRpcMessage) {
        let route = Route::Request(token);
        match (message.kind(), message.id().cloned()) {
            (MessageKind::Request, Some(id)) => {
                if self.requests.len() >= self.limits.max_requests {
                    tracing::warn!(%route, max = self.limits.max_requests, "request refused: all request slots are in use");
                    let text = self.handler.busy_text(Busy::Requests(self.limits.max_requests));
                    answer_error(&self.handle, route, request_id(&message), SERVER_BUSY, &text, None);
                    return;
                }
                let Some(message) = self.task_matter(route.clone(), message) else { return };
                let (cancel, cancel_rx) = oneshot::channel();
                let request = Request {
                    route,
                    id: id.clone(),
                    message,
                    handle: self.handle.clone(),
                    cancel: Some(cancel_rx),
                    capture: None,
                    tasks: self.task_layer.clone(),
                };
                let task = self.tasks.spawn(self.handler.request(request));
                self.owners.insert(task.id(), Owner::Request(token));
                self.requests.insert(token, RequestSlot { id, cancel: Some(cancel) });
            }
            _ if message.method() == Some(asyncmcp_proto::CANCELLED_METHOD) => {
                match self.requests.get_mut(&token).and_then(|slot| slot.cancel.take()) {
                    Some(cancel) => {
                        if cancel.send(message).is_err() {
                            tracing::debug!(%route, "cancellation for a request whose handler ended");
                        }
                    }
                    None => tracing::debug!(%route, "cancellation for a request already ended or cancelled"),
                }
            }
            _ => tracing::debug!(%route, method = ?message.method(), "message on a request route ignored"),
        }
    }

    fn ended(&mut self, ended: Result<(Id, ()), tokio::task::JoinError>) {
        let (id, failure) = match ended {
            Ok((id, ())) => (id, None),
            Err(e) => (e.id(), Some(e)),
        };
        match self.owners.remove(&id) {
            Some(Owner::Session(session_id)) => {
                if let Some(e) = &failure {
                    tracing::error!(%session_id, %e, "session handler failed");
                }
                if self.sessions.remove(&session_id).is_some() {
                    // The handler ended while the session lives on (a failed handshake,
                    // a crashed process): close it so its client learns at its next request.
                    close_session(&self.handle, session_id);
                }
            }
            Some(Owner::Request(token)) => {
                let slot = self.requests.remove(&token);
                if let (Some(e), Some(slot)) = (&failure, slot) {
                    tracing::error!(route = %Route::Request(token), %e, "request handler failed");
                    let text = "the server's handler failed while serving this request";
                    let route = Route::Request(token);
                    answer_error(&self.handle, route, Some(slot.id), error_codes::INTERNAL_ERROR, text, None);
                }
            }
            None => {}
        }
    }

    /// The driver stopped: close every inbox and cancellation, give the handlers their
    /// grace, then abort the rest.
    async fn stop(mut self) {
        tracing::debug!(sessions = self.sessions.len(), requests = self.requests.len(), "server driver stopped");
        self.sessions.clear();
        self.requests.clear();
        let tasks = &mut self.tasks;
        let drained =
            tokio::time::timeout(self.limits.shutdown_grace, async { while tasks.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            tracing::debug!(running = self.tasks.len(), "handlers still running after the grace: aborted");
        }
        self.tasks.shutdown().await;
    }
}

/// Answers `message` (when it is a request) with a JSON-RPC error on `route`, then
/// closes `then_close`: in a task of its own, so the dispatch loop never waits.
fn answer_error(
    handle: &ServerHandle,
    route: Route,
    id: Option<RequestId>,
    code: i64,
    text: &str,
    then_close: Option<SessionId>,
) {
    let answer = id.map(|id| JsonRpcMessage::error(id, code, text, None));
    let handle = handle.clone();
    tokio::spawn(async move {
        if let Some(answer) = answer
            && let Err(e) = handle.submit(route.clone(), answer).await
        {
            tracing::warn!(%route, %e, "could not send an error answer");
        }
        if let Some(session_id) = then_close
            && let Err(e) = handle.close_session(session_id.clone()).await
        {
            tracing::debug!(%session_id, %e, "session already closed");
        }
    });
}

/// The id of `message` when it is a request (only a request can be answered).
fn request_id(message: &JsonRpcMessage) -> Option<RequestId> {
    let id = (message.kind() == MessageKind::Request).then(|| message.id().cloned()).flatten();
    if id.is_none() {
        tracing::debug!(method = ?message.method(), "a message that cannot be answered dropped");
    }
    id
}

/// Closes a session in a task of its own.
fn close_session(handle: &ServerHandle, session_id: SessionId) {
    let handle = handle.clone();
    tokio::spawn(async move {
        if let Err(e) = handle.close_session(session_id.clone()).await {
            tracing::debug!(%session_id, %e, "session already closed");
        }
    });
}
