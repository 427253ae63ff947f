//! Modern-era (2026-07-28) requests: stateless, so they are served by a pool of
//! children that the bridge initializes itself (`initialize`, then
//! `notifications/initialized`). Each request is forwarded with a bridge-assigned id
//! (and progress token), and the child's response and progress notifications are
//! mapped back to the request's route.
//!
//! The pool runs as a task of its own; each request's fan-out task hands its request
//! over (see [`serve`]) and waits until the pool has ended it.

use std::collections::{BTreeMap, VecDeque};

use asyncmcp_tokio::ServerHandle;
use asyncmcp_tokio::fanout::{Replier, Request};
use asyncmcp_tokio::proto::{Cancellation, JsonRpcMessage, MessageKind, RequestId, Route, error_codes};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::child::{Child, ChildId, ChildOutput, CommandSpec, STDIN_LINES};
use super::{CHILD_GRACE, PROTOCOL_VERSION, submit};
use asyncmcp_tokio::fanout::SERVER_BUSY;

/// Dropped when the pool has ended a request (answered, failed or cancelled).
type Ended = oneshot::Sender<()>;

/// What a request's task asks of the pool. At most `max_requests` tasks run, and
/// each sends at most two commands, so the channel stays bounded in practice.
enum Command {
    Request { route: Route, reply: Replier, message: JsonRpcMessage, ended: Ended },
    Cancel { route: Route, note: JsonRpcMessage },
}

/// The pool's task, from the fan-out's side.
#[derive(Clone)]
pub(crate) struct PoolClient {
    commands: mpsc::UnboundedSender<Command>,
}

/// Starts the pool's task; it ends, closing its children, once every
/// [`PoolClient`] is dropped.
pub(crate) fn spawn(size: usize, spec: CommandSpec, handle: ServerHandle) -> (PoolClient, tokio::task::JoinHandle<()>) {
    let (commands, mut rx) = mpsc::unbounded_channel();
    let (out, mut out_rx) = mpsc::unbounded_channel();
    let mut pool = Pool::new(size, spec, out);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                command = rx.recv() => match command {
                    Some(Command::Request { route, reply, message, ended }) => {
                        pool.request(&handle, route, reply, message, ended).await
                    }
                    Some(Command::Cancel { route, note }) => pool.cancelled(&route, &note).await,
                    None => break,
                },
                Some(output) = out_rx.recv() => pool.output(&handle, output).await,
            }
        }
        pool.close();
    });
    (PoolClient { commands }, task)
}

/// Serves one modern request (the fan-out's request task): hands it to the pool,
/// forwards its cancellation, and returns once the pool has ended it.
pub(crate) async fn serve(pool: PoolClient, mut request: Request) {
    let (ended, mut done) = oneshot::channel();
    let command = Command::Request {
        route: request.route(),
        reply: request.replier(),
        message: request.message().clone(),
        ended,
    };
    if pool.commands.send(command).is_err() {
        return;
    }
    tokio::select! {
        _ = &mut done => {}
        note = request.cancelled() => {
            // `None`: the driver stopped, so nobody can be answered any more.
            let Some(note) = note else { return };
            if pool.commands.send(Command::Cancel { route: request.route(), note }).is_ok() {
                let _ = done.await;
            }
        }
    }
}

/// A pool child.
struct Member {
    child: Child,
    /// Initialized (its `initialize` answered and `notifications/initialized` sent).
    ready: bool,
    /// Lines waiting for initialization to finish.
    queued: Vec<String>,
    /// Bridge ids of the requests it is running.
    running: usize,
}

/// A request running in a pool child.
struct Running {
    route: Route,
    /// Where its answer and progress go (the client, or the task that runs it).
    reply: Replier,
    id: RequestId,
    child: ChildId,
    /// The client's progress token, which the bridge replaced with the bridge id.
    progress_token: Option<Value>,
    /// Dropped with this entry: the request's task then ends.
    _ended: Ended,
}

/// The pool of children serving modern-era requests.
struct Pool {
    size: usize,
    spec: CommandSpec,
    out: mpsc::UnboundedSender<ChildOutput>,
    members: BTreeMap<ChildId, Member>,
    running: BTreeMap<String, Running>,
    /// A pool child's `initialize` result, to answer modern-era `initialize` requests.
    init_result: Option<Value>,
    /// Modern-era `initialize` requests waiting for the first child to be ready.
    waiting_init: VecDeque<(Route, RequestId, Ended)>,
    next_id: u64,
}

impl Pool {
    /// An empty pool of at most `size` children; children start on first use.
    fn new(size: usize, spec: CommandSpec, out: mpsc::UnboundedSender<ChildOutput>) -> Self {
        Self {
            size: size.max(1),
            spec,
            out,
            members: BTreeMap::new(),
            running: BTreeMap::new(),
            init_result: None,
            waiting_init: VecDeque::new(),
            next_id: 0,
        }
    }

    /// One line or the exit of a pool child.
    async fn output(&mut self, handle: &ServerHandle, output: ChildOutput) {
        match output {
            ChildOutput::Line(child, line) => match JsonRpcMessage::parse(line.clone().into_bytes()) {
                Ok(message) => self.line(handle, child, message).await,
                Err(e) => tracing::warn!("pool child {} wrote a line that is not JSON-RPC ({e}): {line}", child.0),
            },
            ChildOutput::Exited(child, how) => self.exited(handle, child, &how).await,
        }
    }

    async fn request(
        &mut self,
        handle: &ServerHandle,
        route: Route,
        reply: Replier,
        message: JsonRpcMessage,
        ended: Ended,
    ) {
        let Some(id) = message.id().cloned() else { return };
        if message.method() == Some("initialize") {
            // Stateless clients that still send `initialize` get a pool child's answer.
            if let Some(result) = &self.init_result {
                submit(handle, route, JsonRpcMessage::response(id, result.clone())).await;
                return;
            }
            if self.members.is_empty() && self.start().is_none() {
                let text = format!("asyncmcp serve could not start the MCP server `{}`", self.spec.display());
                submit(handle, route, JsonRpcMessage::error(id, error_codes::INTERNAL_ERROR, &text, None)).await;
                return;
            }
            self.waiting_init.push_back((route, id, ended));
            return;
        }
        let Some(child) = self.member() else {
            let text = format!("asyncmcp serve could not start the MCP server `{}`", self.spec.display());
            submit(handle, route, JsonRpcMessage::error(id, error_codes::INTERNAL_ERROR, &text, None)).await;
            return;
        };
        self.next_id += 1;
        let bridge_id = format!("asyncmcp-{}", self.next_id);
        let mut value = message.to_value();
        value["id"] = Value::String(bridge_id.clone());
        let mut progress_token = None;
        if let Some(meta) = value.pointer_mut("/params/_meta").and_then(Value::as_object_mut)
            && let Some(token) = meta.get_mut("progressToken")
        {
            progress_token = Some(std::mem::replace(token, Value::String(bridge_id.clone())));
        }
        if self.send(child, value.to_string()) {
            self.running.insert(bridge_id, Running { route, reply, id, child, progress_token, _ended: ended });
            return;
        }
        self.done(child);
        let text = format!(
            "asyncmcp serve: the MCP server is not reading its input ({STDIN_LINES} lines wait); try again later"
        );
        submit(handle, route, JsonRpcMessage::error(id, SERVER_BUSY, &text, None)).await;
    }

    /// The member to give the next request: an idle one, else a new one while the
    /// pool has room, else the least busy.
    fn member(&mut self) -> Option<ChildId> {
        let least = self.members.iter().min_by_key(|(_, m)| m.running).map(|(id, m)| (*id, m.running));
        let chosen = match least {
            Some((id, 0)) => Some(id),
            Some((id, _)) if self.members.len() >= self.size => Some(id),
            _ => self.start().or(least.map(|(id, _)| id)),
        };
        if let Some(id) = chosen
            && let Some(member) = self.members.get_mut(&id)
        {
            member.running += 1;
        }
        chosen
    }

    fn start(&mut self) -> Option<ChildId> {
        let id = ChildId::next();
        let label = format!("pool {}", id.0);
        let child = match Child::spawn(id, &self.spec, label, self.out.clone()) {
            Ok(child) => child,
            Err(e) => {
                tracing::error!("cannot start the MCP server `{}`: {e}", self.spec.display());
                return None;
            }
        };
        tracing::info!(pid = child.pid, "started pool child {} for stateless requests", id.0);
        let init = json!({
            "jsonrpc": "2.0",
            "id": format!("asyncmcp-init-{}", id.0),
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "asyncmcp-serve", "version": env!("CARGO_PKG_VERSION")},
            },
        });
        child.send(&init.to_string());
        self.members.insert(id, Member { child, ready: false, queued: Vec::new(), running: 0 });
        Some(id)
    }

    /// Sends `line` to `child`, or queues it until the child is initialized; false
    /// when the child is gone or not reading.
    fn send(&mut self, child: ChildId, line: String) -> bool {
        let Some(member) = self.members.get_mut(&child) else { return false };
        if !member.ready {
            // Room is left for `notifications/initialized`, sent before these.
            if member.queued.len() + 1 >= STDIN_LINES {
                return false;
            }
            member.queued.push(line);
            return true;
        }
        member.child.send(&line)
    }

    async fn cancelled(&mut self, route: &Route, message: &JsonRpcMessage) {
        let Some(bridge_id) =
            self.running.iter().find(|(_, r)| &r.route == route).map(|(bridge_id, _)| bridge_id.clone())
        else {
            return;
        };
        let Some(running) = self.running.remove(&bridge_id) else { return };
        let reason = Cancellation::from_message(message).and_then(|c| c.reason);
        let note = Cancellation { request_id: RequestId::String(bridge_id), reason }.to_message();
        if !self.send(running.child, note.as_str().to_owned()) {
            tracing::warn!("pool child {}: not reading its input, a cancellation was not delivered", running.child.0);
        }
        self.done(running.child);
        if let Err(e) = running.reply.abandon(running.id).await {
            tracing::warn!("could not end a cancelled request: {e}");
        }
    }

    fn done(&mut self, child: ChildId) {
        if let Some(member) = self.members.get_mut(&child) {
            member.running = member.running.saturating_sub(1);
        }
    }

    /// One stdout line of pool child `child`.
    async fn line(&mut self, handle: &ServerHandle, child: ChildId, message: JsonRpcMessage) {
        let init_id = RequestId::String(format!("asyncmcp-init-{}", child.0));
        if message.id() == Some(&init_id) && message.kind().is_reply() {
            self.initialized(handle, child, message).await;
            return;
        }
        match message.kind() {
            kind if kind.is_reply() => {
                let Some(RequestId::String(bridge_id)) = message.id() else { return };
                let Some(running) = self.running.remove(bridge_id) else {
                    tracing::debug!(id = bridge_id, "dropping the answer to a cancelled request");
                    return;
                };
                self.done(running.child);
                send(&running.reply, message.with_id(running.id)).await;
            }
            MessageKind::Notification if message.method() == Some("notifications/progress") => {
                let mut value = message.to_value();
                let Some(token) = value.pointer("/params/progressToken").and_then(Value::as_str) else { return };
                let Some(running) = self.running.get(token) else { return };
                let (reply, original) = (running.reply.clone(), running.progress_token.clone());
                if let Some(original) = original {
                    value["params"]["progressToken"] = original;
                }
                match JsonRpcMessage::from_value(&value) {
                    Ok(note) => send(&reply, note).await,
                    Err(e) => tracing::warn!("pool child {}: bad progress notification: {e}", child.0),
                }
            }
            MessageKind::Request => {
                // Servers send no requests in the stateless era; answer the child so
                // it does not wait.
                let Some(id) = message.id().cloned() else { return };
                let reply = if message.method() == Some("ping") {
                    JsonRpcMessage::response(id, json!({}))
                } else {
                    JsonRpcMessage::error(
                        id,
                        error_codes::METHOD_NOT_FOUND,
                        "asyncmcp serve: stateless (2026-07-28) clients take no server requests",
                        None,
                    )
                };
                if let Some(member) = self.members.get(&child) {
                    member.child.send(reply.as_str());
                }
            }
            _ => tracing::debug!(method = message.method(), "pool child {}: notification dropped", child.0),
        }
    }

    async fn initialized(&mut self, handle: &ServerHandle, child: ChildId, reply: JsonRpcMessage) {
        let mut value = reply.to_value();
        let Some(result) = value.get_mut("result").map(Value::take) else {
            tracing::error!("pool child {} refused initialize: {}", child.0, reply.as_str());
            if let Some(member) = self.members.remove(&child) {
                member.child.close(CHILD_GRACE);
            }
            self.fail_child(handle, child, "the MCP server refused the bridge's initialize").await;
            return;
        };
        if let Some(version) = result.get("protocolVersion").and_then(Value::as_str) {
            tracing::info!("pool child {} initialized (protocol {version})", child.0);
        }
        if self.init_result.is_none() {
            self.init_result = Some(result.clone());
        }
        while let Some((route, id, _ended)) = self.waiting_init.pop_front() {
            submit(handle, route, JsonRpcMessage::response(id, result.clone())).await;
        }
        if let Some(member) = self.members.get_mut(&child) {
            member.ready = true;
            member.child.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
            for line in std::mem::take(&mut member.queued) {
                if !member.child.send(&line) {
                    tracing::warn!("pool child {}: a request queued during its start-up could not be written", child.0);
                }
            }
        }
    }

    /// Pool child `child` exited: its requests get errors.
    async fn exited(&mut self, handle: &ServerHandle, child: ChildId, how: &str) {
        let Some(member) = self.members.remove(&child) else { return };
        tracing::error!(pid = member.child.pid, "the MCP server of pool child {} exited ({how})", child.0);
        let text = format!(
            "the MCP server process `{}` (pid {}) exited ({how}) while handling this request",
            self.spec.display(),
            member.child.pid.map_or_else(|| "?".to_owned(), |p| p.to_string())
        );
        self.fail_child(handle, child, &text).await;
    }

    async fn fail_child(&mut self, handle: &ServerHandle, child: ChildId, text: &str) {
        let failed: Vec<String> =
            self.running.iter().filter(|(_, r)| r.child == child).map(|(bridge_id, _)| bridge_id.clone()).collect();
        for bridge_id in failed {
            if let Some(running) = self.running.remove(&bridge_id) {
                let error = JsonRpcMessage::error(running.id, error_codes::INTERNAL_ERROR, text, None);
                send(&running.reply, error).await;
            }
        }
        if self.members.is_empty() && self.init_result.is_none() {
            while let Some((route, id, _ended)) = self.waiting_init.pop_front() {
                submit(handle, route, JsonRpcMessage::error(id, error_codes::INTERNAL_ERROR, text, None)).await;
            }
        }
    }

    /// Closes every child.
    fn close(&mut self) {
        for (_, member) in std::mem::take(&mut self.members) {
            member.child.close(CHILD_GRACE);
        }
    }
}

/// Sends `message` for a running request, logging a refusal.
async fn send(reply: &Replier, message: JsonRpcMessage) {
    let id = message.id().cloned();
    let kind = message.kind();
    match reply.send(message).await {
        Ok(()) => super::counters::sent(kind),
        Err(e) => tracing::warn!(?reply, id = ?id, "could not send to the client: {e}"),
    }
}
