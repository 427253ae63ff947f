//! MCP tasks served from a shared store: a `tools/call` for a tool that supports
//! tasks is answered at once with a task and runs on; `tasks/get`, `tasks/cancel`
//! and (2025-11-25) `tasks/result` are answered from the store by any replica.
//! `docs/binding.md` section 13 ("Tasks on queues") is the normative text.
//!
//! Turn it on with [`Fanout::with_tasks`](crate::fanout::Fanout::with_tasks) or
//! [`QueueServer::with_tasks`](crate::rmcp::QueueServer::with_tasks). Without it,
//! task methods reach the handler as any other request (legacy behaviour, unchanged).
//!
//! How one task runs, on the replica that received its `tools/call`:
//! 1. the record is created in the store (a redelivered request finds the one its
//!    dead predecessor created, by the request's origin) and claimed;
//! 2. only then is the task answered (`CreateTaskResult`, or `resultType: "task"`),
//!    and the request's queue message is **held**: hidden by heartbeats, not deleted;
//! 3. the handler runs the call as a plain `tools/call` whose answer is captured;
//!    the lease is renewed meanwhile (a renew refused as `cancelled` stops the tool);
//! 4. the outcome is written to the store, then the queue message is deleted. An
//!    outcome too large for the store ends the task `failed` with an error naming
//!    the size and the limit (`docs/binding.md` 13.5), so it is never run again.
//!
//! A worker that dies leaves the message to be redelivered after its visibility
//! timeout; the next replica finds the task, waits out the lease if it is still
//! live, claims it and runs the tool again.
//!
//! ```
//! use std::sync::Arc;
//! use asyncmcp_tokio::tasks::TaskOptions;
//! use asyncmcp_tokio::proto::tasks::TaskSupport;
//!
//! let options = TaskOptions::in_memory().tool("slow", TaskSupport::Optional);
//! assert_eq!(options.support("slow"), TaskSupport::Optional);
//! assert_eq!(options.support("echo"), TaskSupport::Forbidden);
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncmcp_driver::{
    ApplyError, MemoryTaskStore, ServerHandle, StoreError, TaskStore, Versioned, apply, new_task_id,
};
use asyncmcp_proto::tasks::{
    Outcome, TaskDecision, TaskId, TaskLimits, TaskRecord, TaskRefusal, TaskRequest, TaskStatus, TaskSupport,
    already_terminal_error, decide, methods, not_found_error, server_capabilities, wire,
};
use asyncmcp_proto::{Era, JsonRpcMessage, MessageKind, RequestId, Route, SessionId, error_codes};
use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::fanout::Request;

/// How a server serves tasks: the store every replica shares, the limits, and
/// which tools run as tasks.
#[derive(Clone)]
pub struct TaskOptions {
    store: Arc<dyn TaskStore>,
    /// TTLs, poll interval and lease.
    pub limits: TaskLimits,
    tools: HashMap<String, TaskSupport>,
    /// What a tool not named with [`tool`](Self::tool) supports (default
    /// [`TaskSupport::Forbidden`]).
    pub default_support: TaskSupport,
    /// Tasks this process runs at once (default 256). A task call past it is
    /// answered with [`SERVER_BUSY`](crate::fanout::SERVER_BUSY). Requests held for
    /// tasks do not count against the server's `max_in_flight`, so polls are still
    /// taken while tasks run.
    pub max_running: usize,
}

impl std::fmt::Debug for TaskOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskOptions").field("limits", &self.limits).field("tools", &self.tools).finish_non_exhaustive()
    }
}

impl TaskOptions {
    /// Tasks kept in `store` (DynamoDB for a fleet: `asyncmcp_aws::DynamoTaskStore`).
    pub fn new(store: Arc<dyn TaskStore>) -> Self {
        Self {
            store,
            limits: TaskLimits::default(),
            tools: HashMap::new(),
            default_support: TaskSupport::Forbidden,
            max_running: 256,
        }
    }

    /// Tasks kept in this process's memory ([`MemoryTaskStore`]): one replica only.
    pub fn in_memory() -> Self {
        Self::new(Arc::new(MemoryTaskStore::new()))
    }

    /// Tool `name` runs as a task as `support` says (its `execution.taskSupport`).
    #[must_use]
    pub fn tool(mut self, name: &str, support: TaskSupport) -> Self {
        self.tools.insert(name.to_owned(), support);
        self
    }

    /// Whether tool `name` runs as a task.
    pub fn support(&self, name: &str) -> TaskSupport {
        self.tools.get(name).copied().unwrap_or(self.default_support)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn TaskStore> {
        &self.store
    }
}

/// The running task layer of one server process.
pub(crate) struct Tasks {
    options: TaskOptions,
    /// This process as a claimant.
    worker: String,
    /// Tasks running here, to stop at once when a cancel is served here.
    running: Mutex<HashMap<TaskId, Arc<Notify>>>,
    /// Task calls being served (creating, waiting for a lease, or running).
    calls: std::sync::atomic::AtomicUsize,
    /// Starts the handler on a plain call: to adopt a stale task (see [`Tasks::adopt`]).
    runner: std::sync::OnceLock<Runner>,
    /// Open sessions whose client declared `capabilities.tasks` (SEP-1686) in its
    /// `initialize`: they are told of their tasks' status changes.
    listening: Mutex<HashSet<SessionId>>,
}

/// `subscriptions/listen` (2026-07-28, SEP-2575): the stream `notifications/tasks` goes on.
pub(crate) const LISTEN: &str = "subscriptions/listen";
/// The `_meta` key naming the subscription a notification belongs to.
const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// The handler, started on a request.
pub(crate) type Runner = Arc<dyn Fn(Request) -> asyncmcp_driver::BoxFuture<'static, ()> + Send + Sync>;

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").field("options", &self.options).field("worker", &self.worker).finish_non_exhaustive()
    }
}

/// What the task layer does with one request.
pub(crate) enum Intercept {
    /// Not a task matter: the handler serves it as usual.
    Pass,
    /// A `tools/call` to run as a task.
    Call(TaskDecision),
    /// A task method.
    Method,
}

impl Tasks {
    pub(crate) fn new(options: TaskOptions) -> Self {
        Self {
            options,
            worker: asyncmcp_driver::unique_client_id("worker"),
            running: Mutex::new(HashMap::new()),
            calls: std::sync::atomic::AtomicUsize::new(0),
            runner: std::sync::OnceLock::new(),
            listening: Mutex::new(HashSet::new()),
        }
    }

    /// Notes a session's `initialize`: a client that declares `capabilities.tasks`
    /// (2025-11-25) knows `notifications/tasks/status` and gets it. (rmcp 3.11 does
    /// not know that notification, and declares no `capabilities.tasks`.)
    pub(crate) fn session_message(&self, session: &SessionId, message: &JsonRpcMessage) {
        if message.method() != Some("initialize") {
            return;
        }
        let value = message.to_value();
        let declares = value.pointer("/params/capabilities/tasks").is_some_and(Value::is_object);
        if declares {
            self.listening().insert(session.clone());
        }
    }

    /// A session closed: its client is gone and is told nothing more.
    pub(crate) fn session_closed(&self, session: &SessionId) {
        self.listening().remove(session);
    }

    fn listening(&self) -> std::sync::MutexGuard<'_, HashSet<SessionId>> {
        self.listening.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tells a 2025-11-25 requester of its task's status (`notifications/tasks/status`)
    /// on its session, if its client declared tasks and the session is still open.
    /// A client that left is not told; a failed send is only logged.
    /// Whether the requester on `route` asked to be told of status changes.
    fn wants_status(&self, route: &Route) -> bool {
        matches!(route, Route::Session(session) if self.listening().contains(session))
    }

    async fn tell(&self, handle: &ServerHandle, route: &Route, record: &TaskRecord) {
        if !self.wants_status(route) {
            return;
        }
        let params = to_value(wire::legacy::Task::from_record(record));
        let note = JsonRpcMessage::notification(methods::STATUS_NOTIFICATION_LEGACY, Some(params));
        if let Err(e) = handle.submit(route.clone(), note).await {
            tracing::debug!(%route, task = %record.id, %e, "task status not told: the session is gone");
        }
    }

    /// Sets how the handler is started, for adopting stale tasks.
    pub(crate) fn set_runner(&self, runner: Runner) {
        let _ = self.runner.set(runner);
    }

    /// Whether request `message` in `era` is the task layer's.
    pub(crate) fn intercept(&self, message: &JsonRpcMessage, era: Era) -> Intercept {
        if message.kind() != MessageKind::Request {
            return Intercept::Pass;
        }
        match message.method() {
            Some(methods::GET | methods::CANCEL | methods::RESULT | methods::LIST | methods::UPDATE) => {
                Intercept::Method
            }
            Some("tools/call") => {
                let value = message.to_value();
                let params = value.get("params");
                let name = params.and_then(|p| p.get("name")).and_then(Value::as_str).unwrap_or("");
                match decide(era, params, self.options.support(name)) {
                    TaskDecision::Plain => Intercept::Pass,
                    other => Intercept::Call(other),
                }
            }
            // 2026-07-28: a listen for task status notifications (SEP-2663).
            Some(LISTEN) if era != Era::Legacy => {
                let value = message.to_value();
                match value.pointer("/params/notifications/taskIds") {
                    Some(Value::Array(_)) => Intercept::Method,
                    _ => Intercept::Pass,
                }
            }
            _ => Intercept::Pass,
        }
    }

    /// Adds the task capabilities and tool `execution` to a server's own answers:
    /// the `initialize` and `server/discover` results and `tools/list` results.
    pub(crate) fn decorate(&self, message: JsonRpcMessage, era: Era) -> JsonRpcMessage {
        let mut value = message.to_value();
        let Some(result) = value.get_mut("result").and_then(Value::as_object_mut) else { return message };
        let mut changed = false;
        // `initialize` (2025-11-25) or `server/discover` (2026-07-28).
        let announces = result.contains_key("protocolVersion") || result.contains_key("supportedVersions");
        if announces
            && let Some(caps) = result.get_mut("capabilities").and_then(Value::as_object_mut)
            && let Value::Object(add) = server_capabilities(era)
        {
            for (k, v) in add {
                merge(caps.entry(k).or_insert_with(|| Value::Object(Default::default())), v);
            }
            changed = true;
        }
        if let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) {
            for tool in tools {
                let name = tool.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
                let support = self.options.support(&name);
                if support != TaskSupport::Forbidden
                    && let Some(tool) = tool.as_object_mut()
                {
                    let execution = tool.entry("execution").or_insert_with(|| serde_json::json!({}));
                    if let Some(execution) = execution.as_object_mut() {
                        execution.insert("taskSupport".into(), serde_json::to_value(support).unwrap_or_default());
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            return message;
        }
        JsonRpcMessage::from_value(&value).unwrap_or(message)
    }

    /// Serves a task method (`tasks/get`, `tasks/cancel`, `tasks/result`; the others
    /// are not offered) from the store.
    /// A `subscriptions/listen` ends unanswered when `cancel` fires (the client's
    /// `notifications/cancelled`) or its sender is dropped (the driver stopped).
    pub(crate) async fn serve_method(
        self: Arc<Self>,
        handle: ServerHandle,
        route: Route,
        message: JsonRpcMessage,
        cancel: Option<oneshot::Receiver<JsonRpcMessage>>,
    ) {
        let Some(id) = message.id().cloned() else { return };
        let era = era_of(&route);
        let answer = if message.method() == Some(LISTEN) {
            let Some(answer) = self.listen(&handle, &route, &id, &message, cancel).await else {
                tracing::debug!(%route, %id, "task status listen cancelled");
                let _ = handle.abandon(route, id).await;
                return;
            };
            answer
        } else {
            self.method_answer(&handle, &message, era).await
        };
        let reply = match answer {
            Ok(result) => JsonRpcMessage::response(id.clone(), result),
            Err(error) => error_message(id.clone(), &error),
        };
        if let Err(e) = handle.submit(route.clone(), reply).await {
            tracing::warn!(%route, %id, %e, "could not answer a task method");
        }
    }

    async fn method_answer(
        self: &Arc<Self>,
        handle: &ServerHandle,
        message: &JsonRpcMessage,
        era: Era,
    ) -> Result<Value, Value> {
        let method = message.method().unwrap_or("");
        let offered = match era {
            Era::Legacy => matches!(method, methods::GET | methods::CANCEL | methods::RESULT),
            _ => matches!(method, methods::GET | methods::CANCEL),
        };
        if !offered {
            return Err(serde_json::json!({
                "code": error_codes::METHOD_NOT_FOUND,
                "message": format!("{method} is not offered by this server"),
            }));
        }
        let value = message.to_value();
        let task_id = value
            .get("params")
            .and_then(|p| p.get("taskId"))
            .and_then(Value::as_str)
            .and_then(|t| TaskId::parse(t).ok())
            .ok_or_else(not_found_error)?;
        let store = &*self.options.store;
        match method {
            methods::GET => {
                let record = store.get(&task_id, now_ms()).await.map_err(store_error)?.record;
                self.adopt(handle, &record);
                Ok(match era {
                    Era::Legacy => to_value(wire::legacy::Task::from_record(&record)),
                    _ => to_value(wire::modern::GetTaskResult::from_record(&record)),
                })
            }
            methods::CANCEL => {
                let now = now_ms();
                let cancelled = apply(store, &task_id, now, |r| r.cancel(Some("cancelled by the client".into()), now))
                    .await
                    .map(|(_, written)| written.record);
                if let Some(running) = self.lock().get(&task_id) {
                    running.notify_one();
                }
                let legacy = era == Era::Legacy;
                match cancelled {
                    Ok(record) if legacy => Ok(to_value(wire::legacy::Task::from_record(&record))),
                    // 2026-07-28: an acknowledgement only, cancellation is cooperative.
                    Ok(_) | Err(ApplyError::Refused(TaskRefusal::Terminal(_))) if !legacy => Ok(wire::modern::ack()),
                    Err(ApplyError::Refused(TaskRefusal::Terminal(status))) => Err(already_terminal_error(status)),
                    Err(ApplyError::Store(e)) => Err(store_error(e)),
                    Ok(_) | Err(_) => Err(not_found_error()),
                }
            }
            _ => loop {
                // tasks/result: blocks until the task is terminal.
                let record = store.get(&task_id, now_ms()).await.map_err(store_error)?.record;
                self.adopt(handle, &record);
                if let Some(outcome) = wire::legacy::result_of(&record) {
                    return match outcome {
                        Outcome::Result(result) => Ok(result),
                        Outcome::Error(error) => Err(error),
                        _ => Err(not_found_error()),
                    };
                }
                tokio::time::sleep(Duration::from_millis(record.poll_interval_ms.max(100))).await;
            },
        }
    }

    /// Serves a `subscriptions/listen` for task ids (2026-07-28): acknowledges the
    /// ids it knows, sends `notifications/tasks` (the task as `tasks/get` shows it)
    /// now and at each change it sees polling the store, and ends the stream (a
    /// `resultType: "complete"` answer) once every task is terminal or gone. Any
    /// replica serves it. A listen that also asks for other notifications gets
    /// the task ids only acknowledged. `None`: the listen was cancelled.
    async fn listen(
        &self,
        handle: &ServerHandle,
        route: &Route,
        id: &RequestId,
        message: &JsonRpcMessage,
        mut cancel: Option<oneshot::Receiver<JsonRpcMessage>>,
    ) -> Option<Result<Value, Value>> {
        let value = message.to_value();
        if !wire::modern::declares_tasks(value.get("params")) {
            return Some(Err(serde_json::json!({
                "code": asyncmcp_proto::tasks::MISSING_REQUIRED_CLIENT_CAPABILITY,
                "message": "task status notifications need the io.modelcontextprotocol/tasks extension",
                "data": wire::modern::missing_capability_data(),
            })));
        }
        let meta = serde_json::json!({ SUBSCRIPTION_ID: id.to_json() });
        let store = &*self.options.store;
        let asked = value.pointer("/params/notifications/taskIds").and_then(Value::as_array).cloned();
        let mut watched = Vec::new();
        for task_id in asked.unwrap_or_default().iter().filter_map(Value::as_str) {
            if let Ok(task_id) = TaskId::parse(task_id)
                && store.get(&task_id, now_ms()).await.is_ok()
                && !watched.iter().any(|(known, _)| known == &task_id)
            {
                watched.push((task_id, None::<Value>));
            }
        }
        let ids: Vec<Value> = watched.iter().map(|(t, _)| Value::String(t.to_string())).collect();
        let ack = serde_json::json!({"_meta": meta, "notifications": {"taskIds": ids}});
        let send = |method: &str, params: Value| {
            let note = JsonRpcMessage::notification(method, Some(params));
            async move {
                if let Err(e) = handle.submit(route.clone(), note).await {
                    tracing::debug!(%route, %e, "task status not told");
                }
            }
        };
        send("notifications/subscriptions/acknowledged", ack).await;
        while !watched.is_empty() {
            let mut interval = u64::MAX;
            let mut open = Vec::new();
            for (task_id, last) in watched {
                let Ok(current) = store.get(&task_id, now_ms()).await else { continue };
                let record = current.record;
                let mut view = to_value(wire::modern::DetailedTask::from_record(&record));
                if last.as_ref() != Some(&view) {
                    if let Some(view) = view.as_object_mut() {
                        view.insert("_meta".into(), meta.clone());
                    }
                    send(methods::STATUS_NOTIFICATION, view.clone()).await;
                    if let Some(view) = view.as_object_mut() {
                        view.remove("_meta");
                    }
                }
                if !record.status.is_terminal() {
                    interval = interval.min(record.poll_interval_ms);
                    open.push((task_id, Some(view)));
                }
            }
            watched = open;
            if !watched.is_empty() {
                let pause = tokio::time::sleep(Duration::from_millis(interval.max(100)));
                match cancel.as_mut() {
                    Some(cancelled) => tokio::select! {
                        () = pause => {}
                        _ = cancelled => return None,
                    },
                    None => pause.await,
                }
            }
        }
        Some(Ok(serde_json::json!({"resultType": "complete", "_meta": meta})))
    }

    /// Serves a `tools/call` the layer decided on: refuses it, or creates, answers,
    /// runs and finishes its task. `run` starts the handler on the plain call.
    pub(crate) async fn serve_call<F, Fut>(
        self: Arc<Self>,
        handle: ServerHandle,
        route: Route,
        message: JsonRpcMessage,
        decision: TaskDecision,
        run: F,
    ) where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(id) = message.id().cloned() else { return };
        let ttl_ms = match decision {
            TaskDecision::Task { ttl_ms } => ttl_ms,
            TaskDecision::Refuse(error) => {
                let _ = handle.submit(route, error_message(id, &error)).await;
                return;
            }
            _ => None,
        };
        let Some(_slot) = CallSlot::take(&self.calls, self.options.max_running) else {
            let text = format!("the server is running {} tasks, its most; try again later", self.options.max_running);
            let _ = handle.submit(route, JsonRpcMessage::error(id, crate::fanout::SERVER_BUSY, &text, None)).await;
            return;
        };
        let era = era_of(&route);
        let mut params = message.to_value().get("params").cloned();
        if let Some(p) = params.as_mut().and_then(Value::as_object_mut) {
            p.remove("task");
        }
        let origin = handle.request_origin(route.clone(), id.clone()).await.ok().flatten();
        let task_id = origin.as_deref().and_then(|o| new_task_id(o).ok()).or_else(|| new_task_id("task").ok());
        let Some(task_id) = task_id else { return };
        let limits = &self.options.limits;
        let store = &*self.options.store;
        let now = now_ms();
        let record = TaskRecord::create(task_id, TaskRequest::new("tools/call", params.clone()), ttl_ms, limits, now);
        let stored = match store.create(record, now).await {
            Ok(stored) => stored,
            // A redelivery: the task its first receiver created (and announced).
            Err(StoreError::Exists(existing)) => *existing,
            Err(StoreError::TooLarge { size, limit }) => {
                // Answered at once, and the request deleted: it can never be a task.
                let text = format!(
                    "the request does not fit the task store: its task's record would be {size} bytes, over the \
                     store's item limit of {limit} bytes; send a smaller request, or call the tool without a task"
                );
                let data = serde_json::json!({"size": size, "limit": limit});
                let error = JsonRpcMessage::error(id, error_codes::INTERNAL_ERROR, &text, Some(data));
                let _ = handle.submit(route, error).await;
                return;
            }
            Err(e) => {
                let error = store_error(e);
                let _ = handle.submit(route, error_message(id, &error)).await;
                return;
            }
        };
        let task_id = stored.record.id.clone();
        let mut current = stored.clone();
        let claim = write(store, &mut current, |r| r.claim(&self.worker, limits, now), now).await;
        // The durability rule: the task is answered only once the store has it.
        let answer = match era {
            Era::Legacy => to_value(wire::legacy::CreateTaskResult::from_record(&stored.record)),
            _ => to_value(wire::modern::CreateTaskResult::from_record(&stored.record)),
        };
        let held = match handle.submit_and_hold(route.clone(), JsonRpcMessage::response(id.clone(), answer)).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(%route, %id, %e, "could not answer a task");
                return;
            }
        };
        let mut claim = claim;
        loop {
            match claim {
                Ok(_) => break,
                Err(ApplyError::Refused(TaskRefusal::Claimed { until_ms, worker })) => {
                    // Another worker holds a live lease: it runs the task, or it died
                    // after its last renew. Keep the message hidden and look again when
                    // the lease ends (a finished task then ends the hold).
                    tracing::debug!(task = %task_id, %worker, until_ms, "task claimed elsewhere: waiting for its lease");
                    tokio::time::sleep(Duration::from_millis(until_ms.saturating_sub(now_ms()).saturating_add(50)))
                        .await;
                    let now = now_ms();
                    claim = write(store, &mut current, |r| r.claim(&self.worker, limits, now), now).await;
                }
                Err(
                    ApplyError::Refused(TaskRefusal::Terminal(_) | TaskRefusal::Expired)
                    | ApplyError::Store(StoreError::NotFound),
                ) => {
                    let _ = handle.finish_held(held).await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(task = %task_id, %e, "could not claim a task: its request is left for redelivery");
                    let _ = handle.release_held(held).await;
                    return;
                }
            }
        }
        self.tell(&handle, &route, &current.record).await;
        // Ask the tool for progress: it becomes the task's status message.
        if let Some(p) = params.as_mut().and_then(Value::as_object_mut) {
            let meta = p.entry("_meta").or_insert_with(|| serde_json::json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.entry("progressToken").or_insert_with(|| Value::String(task_id.to_string()));
            }
        }
        let plain = JsonRpcMessage::request(id.clone(), "tools/call", params);
        let cancelled = Arc::new(Notify::new());
        self.lock().insert(task_id.clone(), Arc::clone(&cancelled));
        let outcome = self.run_tool(&handle, &route, &mut current, plain, &cancelled, run).await;
        self.lock().remove(&task_id);
        if let Some(outcome) = outcome
            && let Err(e) = self.finish(&mut current, outcome).await
        {
            // Cancel wins over a late completion; anything else is logged.
            tracing::debug!(task = %task_id, %e, "task outcome not recorded");
        }
        // The terminal status for a requester that asked: the completion just written,
        // else (a cancel won) a read, made only when somebody listens.
        if current.record.status.is_terminal() {
            self.tell(&handle, &route, &current.record).await;
        } else if self.wants_status(&route)
            && let Ok(ended) = store.get(&task_id, now_ms()).await
            && ended.record.status.is_terminal()
        {
            self.tell(&handle, &route, &ended.record).await;
        }
        let finished = handle.finish_held(held).await;
        tracing::debug!(task = %task_id, ?finished, "task ended: its request message is deleted");
    }

    /// A task whose worker's lease ended more than a lease ago, and that nobody took
    /// over, is adopted here: claimed and run from the request the record keeps. This
    /// finishes a 2025-11-25 task whose worker died (its redelivered request finds no
    /// session and is refused), and any task whose request message was lost. Called
    /// when a client reads the task; a race with a redelivery is settled by the claim.
    fn adopt(self: &Arc<Self>, handle: &ServerHandle, record: &TaskRecord) {
        let now = now_ms();
        let lease = self.options.limits.lease_ms;
        let stale = !record.status.is_terminal()
            && record.claim.as_ref().is_some_and(|c| c.until_ms.saturating_add(lease) < now)
            && record.request.method == "tools/call";
        let Some(runner) = self.runner.get().cloned().filter(|_| stale) else { return };
        let (this, handle, record) = (Arc::clone(self), handle.clone(), record.clone());
        tokio::spawn(async move {
            let Some(_slot) = CallSlot::take(&this.calls, this.options.max_running) else { return };
            let store = &*this.options.store;
            let now = now_ms();
            let Ok(mut current) = store.get(&record.id, now).await else { return };
            let limits = &this.options.limits;
            if write(store, &mut current, |r| r.claim(&this.worker, limits, now), now).await.is_err() {
                return; // Someone else took it.
            }
            tracing::info!(task = %record.id, "adopting a task whose worker is gone");
            let mut params = record.request.params.clone();
            if let Some(meta) = params
                .as_mut()
                .and_then(Value::as_object_mut)
                .map(|p| p.entry("_meta").or_insert_with(|| serde_json::json!({})))
                && let Some(meta) = meta.as_object_mut()
            {
                meta.entry("progressToken").or_insert_with(|| Value::String(record.id.to_string()));
            }
            let id = RequestId::String(format!("asyncmcp-adopted-{}", record.attempts + 1));
            let plain = JsonRpcMessage::request(id, "tools/call", params);
            let cancelled = Arc::new(Notify::new());
            this.lock().insert(record.id.clone(), Arc::clone(&cancelled));
            let run = move |request: Request| runner(request);
            let outcome = this.run_tool(&handle, &Route::Detached, &mut current, plain, &cancelled, run).await;
            this.lock().remove(&record.id);
            if let Some(outcome) = outcome
                && let Err(e) = this.finish(&mut current, outcome).await
            {
                tracing::debug!(task = %record.id, %e, "adopted task's outcome not recorded");
            }
        });
    }

    /// Records the tool's `outcome` as the task's end. An outcome the store cannot
    /// hold ([`StoreError::TooLarge`]) ends the task `failed` instead, with a
    /// `-32603` error naming the size and the limit: left `working`, the task would
    /// be adopted once its lease went stale, and its tool run again and refused
    /// again, for ever. That record drops the request's params (a terminal task is
    /// never run again), so it fits whatever the request's size.
    async fn finish(&self, current: &mut Versioned, outcome: Outcome) -> Result<(), ApplyError> {
        let store = &*self.options.store;
        let now = now_ms();
        let (size, limit) = match write(store, current, |r| r.complete(&self.worker, outcome.clone(), now), now).await {
            Err(ApplyError::Store(StoreError::TooLarge { size, limit })) => (size, limit),
            done => return done,
        };
        // As the record holds it: compact JSON.
        let result_bytes = match &outcome {
            Outcome::Result(v) | Outcome::Error(v) => v.to_string().len(),
            _ => size,
        };
        tracing::warn!(task = %current.record.id, size, limit, "a task's result does not fit the task store: it failed");
        let failed = Outcome::Error(serde_json::json!({
            "code": error_codes::INTERNAL_ERROR,
            "message": format!(
                "the task's result of {result_bytes} bytes exceeds the task store's item limit of {limit} bytes \
                 (its record would be {size} bytes): return a smaller result, or call the tool without a task"
            ),
            "data": {"size": size, "limit": limit},
        }));
        let now = now_ms();
        write(
            store,
            current,
            |r| {
                r.complete(&self.worker, failed.clone(), now)?;
                r.request.params = None;
                Ok(())
            },
            now,
        )
        .await
    }

    /// Runs the tool, renewing the lease, until it answers (`Some(outcome)`) or the
    /// task is cancelled or lost (`None`: the tool was told to stop).
    async fn run_tool<F, Fut>(
        &self,
        handle: &ServerHandle,
        route: &Route,
        current: &mut Versioned,
        plain: JsonRpcMessage,
        cancelled: &Notify,
        run: F,
    ) -> Option<Outcome>
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let id = plain.id().cloned().unwrap_or(RequestId::Null);
        let task_id = current.record.id.clone();
        let (answers, mut answer) = mpsc::unbounded_channel();
        let (cancel, cancel_rx) = oneshot::channel();
        let request = Request::captured(route.clone(), plain, handle.clone(), answers, cancel_rx);
        let mut tool = tokio::spawn(run(request));
        let limits = &self.options.limits;
        let renew_every = Duration::from_millis((limits.lease_ms / 3).max(100));
        // The tool's latest progress, written with the next renew (or at once when
        // the last write is a second old): `tasks/get` shows it as the status message.
        let mut progress: Option<String> = None;
        let mut last_write = tokio::time::Instant::now();
        let stop = loop {
            let renew_at = match progress {
                Some(_) => last_write + Duration::from_secs(1),
                None => last_write + renew_every,
            };
            tokio::select! {
                biased;
                Some(message) = answer.recv() => {
                    if message.kind().is_reply() {
                        return Some(outcome_of(&message));
                    }
                    if let Some(text) = progress_text(&message) {
                        progress = Some(text);
                    }
                }
                () = cancelled.notified() => break "cancelled",
                ended = &mut tool => {
                    // The handler ended: its answer may still be in the channel.
                    if let Ok(reply) = answer.try_recv() {
                        return Some(outcome_of(&reply));
                    }
                    let detail = match ended {
                        Err(e) if e.is_panic() => "the tool's handler panicked",
                        _ => "the tool's handler ended without answering",
                    };
                    return Some(Outcome::error(error_codes::INTERNAL_ERROR, detail));
                }
                () = tokio::time::sleep_until(renew_at) => {
                    let now = now_ms();
                    let note = progress.take();
                    let rule = |r: &mut TaskRecord| {
                        let until = r.renew(&self.worker, limits, now)?;
                        if let Some(note) = &note {
                            r.progress(&self.worker, TaskStatus::Working, Some(note.clone()), now)?;
                        }
                        Ok(until)
                    };
                    last_write = tokio::time::Instant::now();
                    match write(&*self.options.store, current, rule, now).await {
                        Ok(_) => {}
                        Err(ApplyError::Refused(refusal)) => {
                            tracing::debug!(task = %task_id, %refusal, "lease renewal refused: stopping the tool");
                            break "refused";
                        }
                        Err(ApplyError::Store(StoreError::NotFound)) => break "gone",
                        Err(e) => tracing::warn!(task = %task_id, %e, "lease renewal failed; retrying"),
                    }
                }
            }
        };
        tracing::debug!(task = %task_id, why = stop, "stopping a task's tool");
        let note = asyncmcp_proto::Cancellation { request_id: id, reason: Some("the task was cancelled".into()) };
        let _ = cancel.send(note.to_message());
        if tokio::time::timeout(Duration::from_secs(2), &mut tool).await.is_err() {
            tracing::debug!(task = %task_id, "the tool did not stop within 2 s: aborted");
            tool.abort();
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, Arc<Notify>>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One of the `max_running` places for a task call, given back on drop.
struct CallSlot<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> CallSlot<'a> {
    fn take(calls: &'a std::sync::atomic::AtomicUsize, max: usize) -> Option<Self> {
        use std::sync::atomic::Ordering;
        calls
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Self(calls))
    }
}

impl Drop for CallSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Applies `rule` to the record this worker wrote last and writes it back at its
/// version: one store call when nobody else wrote meanwhile. Otherwise (a
/// conflict, or a refusal that may come from the stale copy) it re-reads and
/// re-applies ([`apply`]).
async fn write<T, F>(store: &dyn TaskStore, current: &mut Versioned, mut rule: F, now: u64) -> Result<T, ApplyError>
where
    F: FnMut(&mut TaskRecord) -> Result<T, TaskRefusal>,
{
    let mut record = current.record.clone();
    if let Ok(out) = rule(&mut record) {
        match store.update(current.version, record, now).await {
            Ok(written) => {
                *current = written;
                return Ok(out);
            }
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let id = current.record.id.clone();
    let (out, written) = apply(store, &id, now, rule).await?;
    *current = written;
    Ok(out)
}

/// The era of a route: sessions are 2025-11-25 and earlier, stateless requests 2026-07-28.
pub(crate) fn era_of(route: &Route) -> Era {
    match route {
        Route::Session(_) => Era::Legacy,
        _ => Era::Modern,
    }
}

/// A `notifications/progress` as a status message: its `message`, else
/// `progress/total`.
fn progress_text(note: &JsonRpcMessage) -> Option<String> {
    if note.method() != Some("notifications/progress") {
        return None;
    }
    let value = note.to_value();
    let params = value.get("params")?;
    if let Some(message) = params.get("message").and_then(Value::as_str) {
        return Some(message.to_owned());
    }
    let done = params.get("progress").and_then(Value::as_f64)?;
    Some(match params.get("total").and_then(Value::as_f64) {
        Some(total) => format!("{done}/{total}"),
        None => format!("{done}"),
    })
}

fn outcome_of(reply: &JsonRpcMessage) -> Outcome {
    let value = reply.to_value();
    match (value.get("result"), value.get("error")) {
        (Some(result), _) => Outcome::Result(result.clone()),
        (None, Some(error)) => Outcome::Error(error.clone()),
        _ => Outcome::error(error_codes::INTERNAL_ERROR, "the tool answered neither a result nor an error"),
    }
}

fn error_message(id: RequestId, error: &Value) -> JsonRpcMessage {
    let code = error.get("code").and_then(Value::as_i64).unwrap_or(error_codes::INTERNAL_ERROR);
    let text = error.get("message").and_then(Value::as_str).unwrap_or("error");
    JsonRpcMessage::error(id, code, text, error.get("data").cloned())
}

fn store_error(e: StoreError) -> Value {
    match e {
        StoreError::NotFound => not_found_error(),
        other => serde_json::json!({"code": error_codes::INTERNAL_ERROR, "message": other.to_string()}),
    }
}

fn to_value<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

fn merge(into: &mut Value, add: Value) {
    match (into, add) {
        (Value::Object(into), Value::Object(add)) => {
            for (k, v) in add {
                merge(into.entry(k).or_insert(Value::Null), v);
            }
        }
        (into, add) => *into = add,
    }
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}
