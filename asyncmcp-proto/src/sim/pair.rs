//! A client, a server and a broker, stepped together in simulated time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Broker, Faults, QueueOptions, SimConfig};
use crate::address::{Address, AllowList};
use crate::client::Client;
use crate::config::{ClientConfig, Era, ServerConfig};
use crate::error::ConfigError;
use crate::error::{FailureKind, OpFailure};
use crate::event::{ClientEvent, Route, ServerEvent};
use crate::jsonrpc::{JsonRpcMessage, MessageKind, RequestId, error_codes};
use crate::op::{OpResult, QueueOp};
use crate::server::Server;

/// How the client and the server reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Topology {
    /// Each side owns a queue; messages go with `SendMessage`.
    Sqs,
    /// Each side owns a topic with its queue subscribed; messages go with `Publish`.
    SnsSqs {
        /// Raw message delivery on both subscriptions (else SNS envelopes).
        raw_delivery: bool,
    },
}

/// How the simulated server application answers requests.
pub type Responder = Box<dyn FnMut(&Route, &JsonRpcMessage) -> Option<JsonRpcMessage>>;

/// The livelock guard of [`Pair::drive_until`] tripped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no outcome after {steps} steps (simulated time {elapsed:?}): livelock or a condition that never holds")]
pub struct Livelock {
    /// Steps taken.
    pub steps: usize,
    /// Simulated time elapsed since the pair was built.
    pub elapsed: Duration,
}

type Tweak<C> = Box<dyn FnOnce(&mut C)>;

/// Builds a [`Pair`].
pub struct PairBuilder {
    topology: Topology,
    era: Era,
    seed: u8,
    faults: Faults,
    fifo: bool,
    queue: QueueOptions,
    client: Vec<Tweak<ClientConfig>>,
    server: Vec<Tweak<ServerConfig>>,
    responder: Option<Responder>,
    answer_delay: Duration,
}

impl PairBuilder {
    /// The topology (default: [`Topology::Sqs`]).
    pub fn topology(mut self, topology: Topology) -> Self {
        self.topology = topology;
        self
    }

    /// The client's era (default: [`Era::Legacy`]).
    pub fn era(mut self, era: Era) -> Self {
        self.era = era;
        self
    }

    /// Seeds the broker, client and server (each gets its own stream).
    pub fn seed(mut self, seed: u8) -> Self {
        self.seed = seed;
        self
    }

    /// Faults the broker injects.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// FIFO queues and topics everywhere.
    pub fn fifo(mut self, fifo: bool) -> Self {
        self.fifo = fifo;
        self
    }

    /// Options of every queue (visibility timeout, size limit, redrive).
    pub fn queue_options(mut self, options: QueueOptions) -> Self {
        self.queue = options;
        self
    }

    /// Adjusts the client's configuration.
    pub fn client(mut self, f: impl FnOnce(&mut ClientConfig) + 'static) -> Self {
        self.client.push(Box::new(f));
        self
    }

    /// Adjusts the server's configuration.
    pub fn server(mut self, f: impl FnOnce(&mut ServerConfig) + 'static) -> Self {
        self.server.push(Box::new(f));
        self
    }

    /// How the server application answers (default: [`echo_responder`]); `None`
    /// from it leaves the request unanswered (answer by hand with
    /// [`Server::submit`]).
    pub fn responder(mut self, responder: Responder) -> Self {
        self.responder = Some(responder);
        self
    }

    /// The server application takes this long to answer each request.
    pub fn answer_delay(mut self, delay: Duration) -> Self {
        self.answer_delay = delay;
        self
    }

    /// Creates the queues (and topics), and the client and server.
    ///
    /// # Errors
    /// A [`ConfigError`] from a configuration the adjustments made invalid.
    pub fn build(self, now: Instant) -> Result<Pair, ConfigError> {
        let seed = |role: u8| {
            let mut s = [self.seed; 32];
            if let Some(first) = s.first_mut() {
                *first = role;
            }
            s
        };
        let mut broker = Broker::new(SimConfig { faults: self.faults, ..SimConfig::default() }, now, seed(0));
        let suffix = if self.fifo { ".fifo" } else { "" };
        let server_queue = broker.create_queue(&format!("server{suffix}"), self.queue.clone());
        let client_queue = broker.create_queue(&format!("client{suffix}"), self.queue.clone());
        let (server_address, client_address, envelope) = match self.topology {
            Topology::Sqs => (Address::Queue(server_queue.clone()), Address::Queue(client_queue.clone()), false),
            Topology::SnsSqs { raw_delivery } => {
                let server_topic = broker.create_topic(&format!("server{suffix}"));
                let client_topic = broker.create_topic(&format!("client{suffix}"));
                let sub = |b: &mut Broker, t: &str, q: &str| {
                    b.subscribe(t, q, raw_delivery)
                        .map_err(|e| ConfigError::Invalid { field: "topology", detail: e.to_string() })
                };
                sub(&mut broker, &server_topic, &server_queue)?;
                sub(&mut broker, &client_topic, &client_queue)?;
                (Address::Topic(server_topic), Address::Topic(client_topic), !raw_delivery)
            }
        };
        let unix = broker.unix_millis(now);
        let mut cc =
            ClientConfig::new(server_address.clone(), client_address.clone(), client_queue.clone(), "sim-client");
        cc.era = self.era;
        cc.common.start_unix_millis = unix;
        cc.common.limits.envelope = envelope;
        let sim = SimConfig::default();
        let mut sc = ServerConfig::new(
            server_queue.clone(),
            AllowList::new()
                .prefix(format!("{}/{}/", sim.endpoint, sim.account))
                .prefix(format!("arn:aws:sns:{}:{}:", sim.region, sim.account)),
        );
        sc.visibility_timeout = self.queue.visibility_timeout;
        sc.common.start_unix_millis = unix;
        sc.common.limits.envelope = envelope;
        for f in self.client {
            f(&mut cc);
        }
        for f in self.server {
            f(&mut sc);
        }
        let client = Client::new(cc.clone(), now, seed(1))?;
        let server = Server::new(sc.clone(), now, seed(2))?;
        Ok(Pair {
            client,
            server,
            client_config: cc,
            server_config: sc,
            seed: self.seed,
            restarts: 0,
            client_cut: None,
            server_cut: None,
            broker,
            now,
            start: now,
            client_queue,
            server_queue,
            server_address,
            client_address,
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_ops: Vec::new(),
            server_ops: Vec::new(),
            responder: self.responder.unwrap_or_else(|| Box::new(echo_responder)),
            answer_delay: self.answer_delay,
            answers: BTreeMap::new(),
            next_answer: 0,
            next_id: 0,
        })
    }
}

/// A [`Client`] and a [`Server`] connected through a [`Broker`], with a simulated
/// clock: [`step`](Pair::step) moves messages while anything can move, then jumps time
/// to the earliest deadline. Everything is deterministic from the seed.
///
/// ```
/// use std::time::Instant;
/// use asyncmcp_proto::sim::{Pair, Topology};
/// use asyncmcp_proto::{ClientEvent, Era};
///
/// let mut pair = Pair::builder().topology(Topology::Sqs).era(Era::Modern).build(Instant::now()).unwrap();
/// let id = pair.request("tools/list", None);
/// pair.drive_until(1_000, |p| p.response(&id).is_some()).unwrap();
/// assert!(pair.response(&id).unwrap().as_str().contains("echo"));
/// ```
pub struct Pair {
    /// The client.
    pub client: Client,
    /// The server.
    pub server: Server,
    /// The broker between them.
    pub broker: Broker,
    /// Simulated time.
    pub now: Instant,
    start: Instant,
    /// The queue the client receives from.
    pub client_queue: String,
    /// The queue the server receives from.
    pub server_queue: String,
    /// Where the client sends.
    pub server_address: Address,
    /// Where the server replies.
    pub client_address: Address,
    /// Every event the client emitted, in order.
    pub client_events: Vec<ClientEvent>,
    /// Every event the server emitted, in order.
    pub server_events: Vec<ServerEvent>,
    /// Every op the client emitted and the harness performed, in order.
    pub client_ops: Vec<QueueOp>,
    /// Every op the server emitted and the harness performed, in order.
    pub server_ops: Vec<QueueOp>,
    responder: Responder,
    answer_delay: Duration,
    answers: BTreeMap<(Instant, u64), (Route, JsonRpcMessage)>,
    next_answer: u64,
    next_id: i64,
    client_config: ClientConfig,
    server_config: ServerConfig,
    seed: u8,
    restarts: u8,
    client_cut: Option<Instant>,
    server_cut: Option<Instant>,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair").field("now", &self.now.saturating_duration_since(self.start)).finish_non_exhaustive()
    }
}

impl Pair {
    /// Starts a builder with the defaults: sqs, legacy era, no faults, echo server.
    pub fn builder() -> PairBuilder {
        PairBuilder {
            topology: Topology::Sqs,
            era: Era::Legacy,
            seed: 0,
            faults: Faults::default(),
            fifo: false,
            queue: QueueOptions::default(),
            client: Vec::new(),
            server: Vec::new(),
            responder: None,
            answer_delay: Duration::ZERO,
        }
    }

    /// Simulated time since the pair was built.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.start)
    }

    /// Submits a request with the next free numeric id; returns the id.
    ///
    /// # Panics
    /// If the client refuses it (a test bug).
    pub fn request(&mut self, method: &str, params: Option<serde_json::Value>) -> RequestId {
        self.next_id += 1;
        let id = RequestId::Number(self.next_id);
        let message = JsonRpcMessage::request(id.clone(), method, params);
        if let Err(e) = self.client.submit(message, self.now) {
            panic!("client refused {method}: {e}");
        }
        id
    }

    /// Submits the legacy `initialize` request and, once answered,
    /// `notifications/initialized`; returns the request id.
    ///
    /// # Panics
    /// If the client refuses it (a test bug).
    pub fn initialize(&mut self) -> RequestId {
        let params = serde_json::json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "sim", "version": "0"}
        });
        let id = self.request("initialize", Some(params));
        let note = JsonRpcMessage::notification("notifications/initialized", None);
        if let Err(e) = self.client.submit(note, self.now) {
            panic!("client refused notifications/initialized: {e}");
        }
        id
    }

    /// The response (or error) the client received for `id`, if any.
    pub fn response(&self, id: &RequestId) -> Option<&JsonRpcMessage> {
        self.client_events.iter().find_map(|e| match e {
            ClientEvent::Message(m) if m.kind().is_reply() && m.id() == Some(id) => Some(m),
            _ => None,
        })
    }

    /// Moves everything that can move at the current instant; true if anything did.
    pub fn pump(&mut self) -> bool {
        let mut moved = false;
        let now = self.now;
        moved |= self.perform_ops();
        moved |= self.drain_events();
        while let Some(entry) = self.answers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (route, answer) = entry.remove();
            // The route may be gone (session closed, server closed): that is the test's
            // business, visible in the events.
            let _ = self.server.submit(&route, answer, now);
            moved = true;
        }
        let server_cut = self.server_cut.is_some_and(|until| until > now);
        let credit = if server_cut { 0 } else { self.server.receive_credit() };
        let visibility = self.server.config().receive_visibility();
        for message in self.broker.receive_for(&self.server_queue, credit, visibility, now) {
            self.server.handle_inbound(message, now);
            moved = true;
        }
        let client_cut = self.client_cut.is_some_and(|until| until > now);
        let credit = if client_cut { 0 } else { self.client.receive_credit() };
        let visibility = self.client.config().common.receive_visibility;
        for message in self.broker.receive_for(&self.client_queue, credit, visibility, now) {
            self.client.handle_inbound(message, now);
            moved = true;
        }
        // What the deliveries produced (deletes, events) happens in the same pump.
        moved |= self.perform_ops();
        moved |= self.drain_events();
        moved
    }

    /// Performs both sides' pending ops against the broker, feeding back each result
    /// and logging each op in [`client_ops`](Self::client_ops) /
    /// [`server_ops`](Self::server_ops); true if there were any.
    pub fn perform_ops(&mut self) -> bool {
        let mut moved = false;
        let now = self.now;
        let client_cut = self.client_cut.is_some_and(|until| until > now);
        while let Some(op) = self.client.poll_op() {
            let result = if client_cut { network_down() } else { self.broker.handle_op(&op, now) };
            self.client.handle_op_result(op.id, result, now);
            self.client_ops.push(op);
            moved = true;
        }
        let server_cut = self.server_cut.is_some_and(|until| until > now);
        while let Some(op) = self.server.poll_op() {
            let result = if server_cut { network_down() } else { self.broker.handle_op(&op, now) };
            self.server.handle_op_result(op.id, result, now);
            self.server_ops.push(op);
            moved = true;
        }
        moved
    }

    /// Cuts the server's link to SQS/SNS until `until`: every call it makes fails
    /// with a retryable error and it receives nothing (a network outage on its side).
    pub fn cut_server(&mut self, until: Instant) {
        self.server_cut = Some(until);
    }

    /// Cuts the client's link to SQS/SNS until `until`, as [`cut_server`](Self::cut_server).
    pub fn cut_client(&mut self, until: Instant) {
        self.client_cut = Some(until);
    }

    /// The server process crashes and starts again: its state (sessions, requests
    /// running, response cache) is gone, requests the application had not answered
    /// are dropped, and the queues keep everything, including messages it had
    /// received and not deleted (they come back after their visibility timeout).
    ///
    /// # Panics
    /// If the configuration no longer builds a server (a test bug).
    pub fn restart_server(&mut self) {
        self.restarts = self.restarts.wrapping_add(1);
        let seed = self.restart_seed(2);
        self.server = Server::new(self.server_config.clone(), self.now, seed)
            .unwrap_or_else(|e| panic!("restarting the server: {e}"));
        self.answers.clear();
    }

    /// The client process crashes and starts again with the same configuration
    /// (the same `ClientId` and reply address) and JSON-RPC ids counting from 1 again,
    /// as a restarted SDK does. What it had pending is lost with it.
    ///
    /// # Panics
    /// If the configuration no longer builds a client (a test bug).
    pub fn restart_client(&mut self) {
        let client_id = self.client_config.client_id.clone();
        self.restart_client_as(&client_id);
    }

    /// As [`restart_client`](Self::restart_client), with another `ClientId` (our own
    /// clients put a per-process nonce in theirs) and the same reply address.
    ///
    /// # Panics
    /// If the configuration no longer builds a client (a test bug).
    pub fn restart_client_as(&mut self, client_id: &str) {
        self.client_config.client_id = client_id.to_owned();
        self.restarts = self.restarts.wrapping_add(1);
        let seed = self.restart_seed(1);
        self.client = Client::new(self.client_config.clone(), self.now, seed)
            .unwrap_or_else(|e| panic!("restarting the client: {e}"));
        self.next_id = 0;
    }

    /// A long poll whose process died with it: up to `max` messages are received
    /// from the server's queue (with the server's receive visibility, as its driver
    /// asks) and never reach the server, so they stay invisible until that ends. Returns how many were lost so.
    pub fn lose_server_receive(&mut self, max: usize) -> usize {
        let visibility = self.server.config().receive_visibility();
        self.broker.receive_for(&self.server_queue, max, visibility, self.now).len()
    }

    /// A seed no earlier process of the pair had: as a new process draws its own
    /// (FIFO deduplication ids, fragment groups and session ids must not repeat).
    fn restart_seed(&self, role: u8) -> [u8; 32] {
        let mut s = [self.seed; 32];
        s[0] = role;
        s[1] = self.restarts;
        s[2] = !self.seed; // never the builder's seed, whose byte 2 is `seed`
        s
    }

    /// Collects both sides' events, queueing the responder's answers.
    fn drain_events(&mut self) -> bool {
        let mut moved = false;
        let now = self.now;
        while let Some(event) = self.client.poll_event() {
            self.client_events.push(event);
            moved = true;
        }
        while let Some(event) = self.server.poll_event() {
            if let ServerEvent::Message { route, message } = &event
                && message.kind() == MessageKind::Request
                && let Some(answer) = (self.responder)(route, message)
            {
                self.answers.insert((now + self.answer_delay, self.next_answer), (route.clone(), answer));
                self.next_answer += 1;
            }
            self.server_events.push(event);
            moved = true;
        }
        moved
    }

    /// The earliest deadline of anyone.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.client.poll_timeout(),
            self.server.poll_timeout(),
            self.broker.poll_timeout(),
            self.answers.keys().next().map(|(t, _)| *t),
            self.client_cut.filter(|t| *t > self.now),
            self.server_cut.filter(|t| *t > self.now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Pumps; when nothing moved, jumps to the earliest deadline and fires timers.
    /// False when nothing moved and no deadline is left.
    pub fn step(&mut self) -> bool {
        if self.pump() {
            return true;
        }
        let Some(next) = self.next_deadline() else { return false };
        self.now = self.now.max(next);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.broker.handle_timeout(self.now);
        true
    }

    /// Steps until `done` holds, at most `max_steps` times.
    ///
    /// # Errors
    /// [`Livelock`] when `done` still does not hold after `max_steps` steps, or when
    /// nothing is left to happen and it never will.
    pub fn drive_until(&mut self, max_steps: usize, mut done: impl FnMut(&Pair) -> bool) -> Result<(), Livelock> {
        for steps in 0..max_steps {
            if done(self) {
                return Ok(());
            }
            if !self.step() {
                return if done(self) { Ok(()) } else { Err(Livelock { steps, elapsed: self.elapsed() }) };
            }
        }
        if done(self) { Ok(()) } else { Err(Livelock { steps: max_steps, elapsed: self.elapsed() }) }
    }

    /// Steps until simulated time reaches `now + duration` (without passing it), at
    /// most `max_steps` times.
    ///
    /// # Errors
    /// [`Livelock`] when the steps run out first.
    pub fn run_for(&mut self, duration: Duration, max_steps: usize) -> Result<(), Livelock> {
        let until = self.now + duration;
        for _ in 0..max_steps {
            if self.pump() {
                continue;
            }
            match self.next_deadline() {
                Some(next) if next <= until => {
                    self.now = self.now.max(next);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                    self.broker.handle_timeout(self.now);
                }
                _ => {
                    self.now = until;
                    return Ok(());
                }
            }
        }
        Err(Livelock { steps: max_steps, elapsed: self.elapsed() })
    }

    /// Steps until nothing is left to happen, at most `max_steps` times.
    ///
    /// # Errors
    /// [`Livelock`] when the steps run out first.
    pub fn drive_bounded(&mut self, max_steps: usize) -> Result<usize, Livelock> {
        for steps in 0..max_steps {
            if !self.step() {
                return Ok(steps);
            }
        }
        Err(Livelock { steps: max_steps, elapsed: self.elapsed() })
    }
}

fn network_down() -> OpResult {
    OpResult::Failed(OpFailure::new(
        FailureKind::Unreachable,
        "dispatch failure: connection refused (link cut by the simulator)",
    ))
}

/// A small MCP server: answers `initialize`, `server/discover`, `tools/list`, `ping`
/// and `tools/call` of the `echo` tool (returns `arguments.text`); every other method
/// gets "method not found".
pub fn echo_responder(_route: &Route, request: &JsonRpcMessage) -> Option<JsonRpcMessage> {
    let id = request.id()?.clone();
    let value = request.to_value();
    let params = value.get("params").cloned().unwrap_or(serde_json::Value::Null);
    let result = match request.method()? {
        "initialize" => serde_json::json!({
            "protocolVersion": params.get("protocolVersion").cloned().unwrap_or_else(|| "2025-11-25".into()),
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": "sim-echo", "version": "0"}
        }),
        "server/discover" => serde_json::json!({
            "supportedVersions": ["2026-07-28", "2025-11-25"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "sim-echo", "version": "0"}
        }),
        "ping" => serde_json::json!({}),
        "tools/list" => serde_json::json!({"tools": [{
            "name": "echo",
            "description": "Returns its text argument",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}
        }]}),
        "tools/call" if params.get("name").and_then(|n| n.as_str()) == Some("echo") => {
            let text = params.pointer("/arguments/text").and_then(|t| t.as_str()).unwrap_or_default();
            serde_json::json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        other => {
            return Some(JsonRpcMessage::error(
                id,
                error_codes::METHOD_NOT_FOUND,
                &format!("method not found: {other}"),
                None,
            ));
        }
    };
    Some(JsonRpcMessage::response(id, result))
}
