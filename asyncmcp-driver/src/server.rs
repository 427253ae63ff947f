//! The server side: a handle for the application and the machine wrapper the event
//! loop drives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;

use asyncmcp_proto::{
    Address, ApiError, ConfigError, HeldRequest, InboundMessage, JsonRpcMessage, OpFailure, OpId, OpResult, QueueOp,
    RequestId, Route, Server, ServerConfig, ServerEvent, SessionId,
};

use crate::control::{Control, ControlSender};
use crate::error::DriverError;
use crate::event_loop::{DriverConfig, Started, start};
use crate::events::Events;
use crate::machine::Machine;
use crate::queue_client::QueueClient;
use crate::runtime::Runtime;
use crate::stats::{Stats, StatsSnapshot};

type Reply = oneshot::Sender<Result<(), ApiError>>;

pub(crate) enum ServerCommand {
    Submit(Route, JsonRpcMessage, Reply),
    Abandon(Route, RequestId, Reply),
    CloseSession(SessionId, Reply),
    Origin(Route, RequestId, oneshot::Sender<Option<String>>),
    SubmitAndHold(Route, JsonRpcMessage, oneshot::Sender<Result<HeldRequest, ApiError>>),
    FinishHeld(HeldRequest, Reply),
    ReleaseHeld(HeldRequest, Reply),
}

struct ServerMachine {
    server: Server,
}

impl Machine for ServerMachine {
    type Event = ServerEvent;
    type Command = ServerCommand;

    fn handle_inbound(&mut self, message: InboundMessage, now: Instant) {
        self.server.handle_inbound(message, now);
    }
    fn handle_op_result(&mut self, id: OpId, result: OpResult, now: Instant) {
        self.server.handle_op_result(id, result, now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
    }
    fn poll_op(&mut self) -> Option<QueueOp> {
        self.server.poll_op()
    }
    fn poll_event(&mut self) -> Option<ServerEvent> {
        self.server.poll_event()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }
    fn receive_credit(&self) -> usize {
        self.server.receive_credit()
    }
    fn queue_url(&self) -> String {
        self.server.config().queue_url.clone()
    }
    fn receive_visibility(&self) -> Option<Duration> {
        self.server.config().receive_visibility()
    }
    fn command(&mut self, command: ServerCommand, now: Instant) {
        match command {
            ServerCommand::Submit(route, message, reply) => {
                let _ = reply.send(self.server.submit(&route, message, now));
            }
            ServerCommand::Abandon(route, id, reply) => {
                let _ = reply.send(self.server.abandon(&route, &id, now));
            }
            ServerCommand::CloseSession(id, reply) => {
                let _ = reply.send(self.server.close_session(&id, now));
            }
            ServerCommand::Origin(route, id, reply) => {
                let _ = reply.send(self.server.request_origin(&route, &id));
            }
            ServerCommand::SubmitAndHold(route, message, reply) => {
                let _ = reply.send(self.server.submit_and_hold(&route, message, now));
            }
            ServerCommand::FinishHeld(held, reply) => {
                self.server.finish_held(&held, now);
                let _ = reply.send(Ok(()));
            }
            ServerCommand::ReleaseHeld(held, reply) => {
                self.server.release_held(&held, now);
                let _ = reply.send(Ok(()));
            }
        }
    }
    fn limit_destinations(&self) -> Vec<Address> {
        self.server.limit_destinations()
    }
    fn handle_max_message_bytes(&mut self, destination: &Address, max_message_bytes: usize) {
        self.server.handle_max_message_bytes(destination, max_message_bytes);
    }
    fn fallback_max_bytes(&self) -> usize {
        self.server.config().common.fallback_max_bytes
    }
    fn gauges(&self) -> (usize, usize) {
        (self.server.sessions(), self.server.in_flight())
    }
    fn begin_shutdown(&mut self, _now: Instant) {}
    fn drained(&self) -> bool {
        self.server.in_flight() == 0
    }
    fn finish(&mut self, now: Instant) {
        self.server.close(now);
    }
}

/// The application's handle on a running server. Cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    control: ControlSender<ServerCommand>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").finish_non_exhaustive()
    }
}

/// Events of a running server: sessions opening and closing, and every message for
/// the application ([`ServerEvent::Message`] with the [`Route`] to answer on).
pub type ServerEvents = Events<ServerEvent>;

/// Starts a server driver on `runtime`: returns the handle and the event stream.
/// The seed of the state machine (session ids) comes from the operating system's
/// secure source.
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
pub fn spawn_server<R: Runtime, Q: QueueClient>(
    mut config: ServerConfig,
    runtime: R,
    queue: Arc<Q>,
    driver: DriverConfig,
) -> Result<(ServerHandle, ServerEvents), ConfigError> {
    crate::fill_wall_clock(&mut config.common);
    let server = Server::new(config, runtime.now(), crate::seed())?;
    let Started { control, stats, events } = start(ServerMachine { server }, runtime, queue, driver);
    Ok((ServerHandle { control, stats }, events))
}

impl ServerHandle {
    async fn ask(&self, command: impl FnOnce(Reply) -> ServerCommand) -> Result<(), DriverError> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Command(command(tx))).await?;
        rx.await.map_err(|_| DriverError::Stopped)?.map_err(DriverError::Api)
    }

    /// Sends `message` on `route`: the response to a request delivered there, a
    /// notification (progress, logging), or, in a legacy session, a server request.
    ///
    /// # Errors
    /// [`DriverError::Api`] when the server refuses it (unknown route, too large...);
    /// [`DriverError::Stopped`] when the driver has stopped.
    pub async fn submit(&self, route: Route, message: JsonRpcMessage) -> Result<(), DriverError> {
        self.ask(|tx| ServerCommand::Submit(route, message, tx)).await
    }

    /// Ends request `id` on `route` without answering it (MCP sends no response to a
    /// cancelled request): its queue message is deleted.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub async fn abandon(&self, route: Route, id: RequestId) -> Result<(), DriverError> {
        self.ask(|tx| ServerCommand::Abandon(route, id, tx)).await
    }

    /// The identity under which the server deduplicates request `id` running on
    /// `route`: the ORIGIN of its task id (see
    /// [`Server::request_origin`](asyncmcp_proto::Server::request_origin)). `None`
    /// when no such request is running there.
    ///
    /// # Errors
    /// [`DriverError::Stopped`] when the driver has stopped.
    pub async fn request_origin(&self, route: Route, id: RequestId) -> Result<Option<String>, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Command(ServerCommand::Origin(route, id, tx))).await?;
        rx.await.map_err(|_| DriverError::Stopped)
    }

    /// Answers a request and keeps its queue message hidden until
    /// [`finish_held`](Self::finish_held) or [`release_held`](Self::release_held): a
    /// task's request stays on the queue until the task ends (see
    /// [`Server::submit_and_hold`](asyncmcp_proto::Server::submit_and_hold)).
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub async fn submit_and_hold(&self, route: Route, message: JsonRpcMessage) -> Result<HeldRequest, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Command(ServerCommand::SubmitAndHold(route, message, tx))).await?;
        rx.await.map_err(|_| DriverError::Stopped)?.map_err(DriverError::Api)
    }

    /// The task of a held request ended: its queue message is deleted.
    ///
    /// # Errors
    /// [`DriverError::Stopped`] when the driver has stopped (the message then comes
    /// back after its visibility timeout).
    pub async fn finish_held(&self, held: HeldRequest) -> Result<(), DriverError> {
        self.ask(|tx| ServerCommand::FinishHeld(held, tx)).await
    }

    /// Hands a held request back to the queue at once (another worker runs its task).
    ///
    /// # Errors
    /// As [`finish_held`](Self::finish_held).
    pub async fn release_held(&self, held: HeldRequest) -> Result<(), DriverError> {
        self.ask(|tx| ServerCommand::ReleaseHeld(held, tx)).await
    }

    /// Ends a legacy session.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub async fn close_session(&self, session: SessionId) -> Result<(), DriverError> {
        self.ask(|tx| ServerCommand::CloseSession(session, tx)).await
    }

    /// Graceful shutdown: stops receiving at once, waits up to `drain` for requests in
    /// flight to be answered, releases the rest (visibility 0) so another worker takes
    /// them, and stops the driver.
    pub async fn shutdown(&self, drain: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Shutdown { drain, done: tx }).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// How many SQS/SNS calls this server made, by kind, and its live sessions and
    /// requests in flight.
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
