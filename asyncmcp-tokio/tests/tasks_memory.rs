//! MCP tasks over the in-memory broker, both eras: a `tools/call` for a task tool is
//! answered with a task at once and runs on; a client process that never saw the
//! call fetches the result by task id; a cancel reaches the running tool; the
//! request message is held until the task ends. No AWS.
#![cfg(feature = "rmcp")]

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_tokio::proto::sim::QueueOptions;
use asyncmcp_tokio::proto::tasks::wire::TaskView;
use asyncmcp_tokio::proto::tasks::{TASKS_EXTENSION, TaskStatus, TaskSupport};
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, Era, ServerConfig};
use asyncmcp_tokio::rmcp::QueueServer;
use asyncmcp_tokio::rmcp::demo::DemoTools;
use asyncmcp_tokio::tasks::TaskOptions;
use asyncmcp_tokio::{ClientHandle, MemoryQueue, ServerHandle, TokioRuntime};
use serde_json::{Value, json};

struct Rig {
    queue: Arc<MemoryQueue<TokioRuntime>>,
    requests: String,
    tools: DemoTools,
    server: ServerHandle,
    clients: usize,
}

impl Rig {
    /// A server of the demo tools whose `countdown` may run as a task.
    fn new() -> Self {
        let queue = Arc::new(asyncmcp_tokio::memory_queue());
        let requests = queue.create_queue("requests", QueueOptions::default());
        let account = &requests[..=requests.rfind('/').unwrap()];
        let config = ServerConfig::new(requests.clone(), AllowList::new().try_prefix(account).unwrap());
        let tools = DemoTools::new().with_step(Duration::from_millis(100));
        let factory = {
            let tools = tools.clone();
            move || tools.clone()
        };
        let options = TaskOptions::in_memory().tool("countdown", TaskSupport::Optional);
        let server = QueueServer::start(factory, config, Arc::clone(&queue)).unwrap().with_tasks(options);
        let handle = server.handle();
        tokio::spawn(server.run());
        Self { queue, requests, tools, server: handle, clients: 0 }
    }

    /// A new client process: its own `ClientId` and reply queue.
    fn client(&mut self, era: Era) -> ClientHandle {
        self.clients += 1;
        let replies = self.queue.create_queue(&format!("replies-{}", self.clients), QueueOptions::default());
        let mut config = ClientConfig::new(
            Address::Queue(self.requests.clone()),
            Address::Queue(replies.clone()),
            replies,
            format!("client-{}", self.clients),
        );
        config.era = era;
        let (handle, mut events) = asyncmcp_tokio::spawn_client(config, Arc::clone(&self.queue)).unwrap();
        tokio::spawn(async move { while events.next().await.is_some() {} });
        handle
    }

    /// A new client process whose notifications from the server come out of the receiver.
    fn listening_client(&mut self, era: Era) -> (ClientHandle, tokio::sync::mpsc::UnboundedReceiver<Value>) {
        use asyncmcp_tokio::proto::ClientEvent;
        self.clients += 1;
        let replies = self.queue.create_queue(&format!("replies-{}", self.clients), QueueOptions::default());
        let mut config = ClientConfig::new(
            Address::Queue(self.requests.clone()),
            Address::Queue(replies.clone()),
            replies,
            format!("client-{}", self.clients),
        );
        config.era = era;
        let (handle, mut events) = asyncmcp_tokio::spawn_client(config, Arc::clone(&self.queue)).unwrap();
        let (notes, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let ClientEvent::Message(message) = event
                    && message.id().is_none()
                {
                    let _ = notes.send(message.to_value());
                }
            }
        });
        (handle, rx)
    }

    /// A legacy client with its session open; returns the `initialize` result.
    async fn session(&mut self) -> (ClientHandle, Value) {
        let client = self.client(Era::Legacy);
        Self::initialize(&client, json!({})).await
    }

    /// Opens `client`'s session, declaring `capabilities`.
    async fn initialize(client: &ClientHandle, capabilities: Value) -> (ClientHandle, Value) {
        let params = json!({"protocolVersion": "2025-11-25", "capabilities": capabilities,
            "clientInfo": {"name": "t", "version": "0"}});
        let reply = client.call("initialize", Some(params)).await.unwrap().to_value();
        client.notify("notifications/initialized", None).await.unwrap();
        (client.clone(), reply["result"].clone())
    }

    fn in_flight(&self) -> usize {
        self.queue.queue_depth(&self.requests).unwrap().in_flight
    }
}

fn modern_call(name: &str, arguments: Value) -> Value {
    json!({
        "name": name,
        "arguments": arguments,
        "_meta": {"io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
    })
}

async fn call(client: &ClientHandle, method: &str, params: Value) -> Value {
    client.call(method, Some(params)).await.unwrap().to_value()
}

/// Polls `tasks/get` until the task is terminal.
async fn wait_terminal(client: &ClientHandle, task_id: &str) -> TaskView {
    for _ in 0..600 {
        let got = call(client, "tasks/get", json!({"taskId": task_id})).await;
        let view = TaskView::parse(&got["result"]).unwrap_or_else(|| panic!("not a task: {got}"));
        if view.status.is_terminal() {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task {task_id} never ended");
}

fn text_of(result: &Value) -> String {
    result["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(start_paused = true)]
async fn modern_a_task_created_by_one_client_is_fetched_by_a_new_client_by_id() {
    // Arrange
    let mut rig = Rig::new();
    let first = rig.client(Era::Modern);

    // Act: the first client creates the task and goes away.
    let created = call(&first, "tools/call", modern_call("countdown", json!({"from": 5}))).await;
    first.shutdown(Duration::ZERO).await;

    // Assert: a task, answered before the tool ran, its request still held.
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    assert_eq!(created["result"]["status"], "working");
    let task_id = created["result"]["taskId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rig.in_flight(), 1, "the task's request message must stay held while it runs");

    // Act: a new client process, with another id and reply queue, polls by id.
    let second = rig.client(Era::Modern);
    let view = wait_terminal(&second, &task_id).await;

    // Assert: completed with the tool's result; the request message is gone.
    assert_eq!(view.status, TaskStatus::Completed);
    let outcome = call(&second, "tasks/get", json!({"taskId": task_id})).await;
    assert_eq!(text_of(&outcome["result"]["result"]), "liftoff", "{outcome}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let depth = rig.queue.queue_depth(&rig.requests).unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
    assert_eq!(rig.tools.countdowns().finished, 1);
    rig.server.shutdown(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn legacy_a_task_is_announced_created_and_its_result_fetched_from_another_session() {
    // Arrange
    let mut rig = Rig::new();
    let (first, init) = rig.session().await;
    let tools = call(&first, "tools/list", json!({})).await;

    // Act
    let params = json!({"name": "countdown", "arguments": {"from": 3}, "task": {"ttl": 60_000}});
    let created = call(&first, "tools/call", params).await;

    // Assert: the capability, the tool's execution, the CreateTaskResult.
    assert!(init["capabilities"]["tasks"]["requests"]["tools"]["call"].is_object(), "{init}");
    let countdown = tools["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "countdown").unwrap();
    assert_eq!(countdown["execution"]["taskSupport"], "optional");
    let task = &created["result"]["task"];
    assert_eq!(task["status"], "working", "{created}");
    assert_eq!(task["ttl"], 60_000);
    let task_id = task["taskId"].as_str().unwrap().to_owned();

    // Act: another client process opens its own session and blocks on tasks/result.
    first.shutdown(Duration::ZERO).await;
    let (second, _) = rig.session().await;
    let result = call(&second, "tasks/result", json!({"taskId": task_id})).await;
    let got = call(&second, "tasks/get", json!({"taskId": task_id})).await;

    // Assert
    assert_eq!(text_of(&result["result"]), "liftoff", "{result}");
    assert_eq!(result["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], task_id.as_str());
    assert_eq!(got["result"]["status"], "completed", "{got}");
    rig.server.shutdown(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn a_cancel_from_another_client_reaches_the_running_tool_in_both_eras() {
    for era in [Era::Modern, Era::Legacy] {
        // Arrange: a long countdown running as a task.
        let mut rig = Rig::new();
        let (owner, params) = match era {
            Era::Legacy => {
                (rig.session().await.0, json!({"name": "countdown", "arguments": {"from": 100}, "task": {}}))
            }
            _ => (rig.client(Era::Modern), modern_call("countdown", json!({"from": 100}))),
        };
        let created = call(&owner, "tools/call", params).await;
        let view = TaskView::parse(&created["result"]).unwrap_or_else(|| panic!("{created}"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(rig.tools.countdowns().started, 1);

        // Act: another client cancels it.
        let other = match era {
            Era::Legacy => rig.session().await.0,
            _ => rig.client(Era::Modern),
        };
        let cancelled = call(&other, "tasks/cancel", json!({"taskId": view.task_id})).await;
        tokio::time::sleep(Duration::from_secs(3)).await;

        // Assert: the era's answer, the task cancelled, the tool stopped, the message gone.
        match era {
            Era::Legacy => assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}"),
            _ => assert_eq!(cancelled["result"]["resultType"], "complete", "{cancelled}"),
        }
        assert_eq!(wait_terminal(&other, &view.task_id).await.status, TaskStatus::Cancelled);
        assert_eq!(rig.tools.countdowns().cancelled, 1, "{era:?}: the cancel never reached the tool");
        assert_eq!(rig.tools.countdowns().finished, 0);
        // (After the last answer's own delete.)
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(rig.in_flight(), 0, "{era:?}: the request message is still held");
        rig.server.shutdown(Duration::ZERO).await;
    }
}

#[tokio::test(start_paused = true)]
async fn plain_calls_and_unknown_or_unoffered_task_methods() {
    let mut rig = Rig::new();
    let modern = rig.client(Era::Modern);

    // A client that does not declare the extension gets a plain result.
    let plain = call(&modern, "tools/call", json!({"name": "countdown", "arguments": {"from": 1}})).await;
    assert_eq!(text_of(&plain["result"]), "liftoff", "{plain}");
    // A tool that does not run as a task runs plain even with the extension.
    let echo = call(&modern, "tools/call", modern_call("echo", json!({"text": "hi"}))).await;
    assert_eq!(text_of(&echo["result"]), "hi", "{echo}");
    // Unknown ids; methods not offered.
    let missing = call(&modern, "tasks/get", json!({"taskId": "nope.0123456789abcdef0123456789abcdef"})).await;
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let list = call(&modern, "tasks/list", json!({})).await;
    assert_eq!(list["error"]["code"], -32601, "{list}");
    let result = call(&modern, "tasks/result", json!({"taskId": "x"})).await;
    assert_eq!(result["error"]["code"], -32601, "{result}");
    // 2025-11-25: a task for a tool that forbids one.
    let (legacy, _) = rig.session().await;
    let refused = call(&legacy, "tools/call", json!({"name": "echo", "arguments": {"text": "x"}, "task": {}})).await;
    assert_eq!(refused["error"]["code"], -32601, "{refused}");
    rig.server.shutdown(Duration::ZERO).await;
}

/// An rmcp client that declares the tasks extension (SEP-2663).
#[derive(Debug, Clone, Default)]
struct TaskClient;

impl rmcp::ClientHandler for TaskClient {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        rmcp::model::InitializeRequestParams::new(
            rmcp::model::ClientCapabilities::builder().enable_tasks().build(),
            rmcp::model::Implementation::default(),
        )
    }
}

#[tokio::test(start_paused = true)]
async fn an_rmcp_client_with_tasks_creates_a_task_and_a_new_rmcp_client_fetches_it_by_id() {
    use rmcp::model::{CallToolRequestParams, CallToolResponse, GetTaskParams, ProtocolVersion};
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};

    // Arrange
    let mut rig = Rig::new();
    let discover = || ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    let transport = |rig: &mut Rig| {
        rig.clients += 1;
        let replies = rig.queue.create_queue(&format!("rmcp-replies-{}", rig.clients), QueueOptions::default());
        let mut config = ClientConfig::new(
            Address::Queue(rig.requests.clone()),
            Address::Queue(replies.clone()),
            replies,
            format!("rmcp-{}", rig.clients),
        );
        config.era = Era::Modern;
        asyncmcp_tokio::rmcp::QueueClientTransport::spawn(config, Arc::clone(&rig.queue)).unwrap()
    };
    let first = TaskClient.serve_with_lifecycle(transport(&mut rig), discover()).await.unwrap();
    let announced = serde_json::to_value(&first.peer_info().unwrap().capabilities).unwrap();
    assert!(announced["extensions"][TASKS_EXTENSION].is_object(), "{announced}");

    // Act: call as a task, then leave.
    let params =
        CallToolRequestParams::new("countdown").with_arguments(json!({"from": 3}).as_object().unwrap().clone());
    let created = first.call_tool_once(params).await.unwrap();
    first.cancel().await.unwrap();
    let CallToolResponse::Task(created) = created else { panic!("not a task: {created:?}") };

    // Act: a new rmcp client process polls by id.
    let second = TaskClient.serve_with_lifecycle(transport(&mut rig), discover()).await.unwrap();
    let mut got = None;
    for _ in 0..100 {
        let task = second.get_task(GetTaskParams::new(created.task.task_id.clone())).await.unwrap();
        let value = serde_json::to_value(&task).unwrap();
        if value["status"] == "completed" {
            got = Some(value);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert
    let got = got.expect("the task never completed");
    assert_eq!(text_of(&got["result"]), "liftoff", "{got}");
    second.cancel().await.unwrap();
    rig.server.shutdown(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn the_plain_client_helpers_create_wait_and_cancel_in_both_eras() {
    use asyncmcp_tokio::proto::tasks::Outcome;
    use asyncmcp_tokio::task_client::{CallAnswer, call_as_task, cancel_task, wait_task};

    for era in [Era::Modern, Era::Legacy] {
        let mut rig = Rig::new();
        let client = match era {
            Era::Legacy => rig.session().await.0,
            _ => rig.client(era),
        };

        // Create, then a new client waits for the outcome, watching the status.
        let CallAnswer::Task(task) = call_as_task(&client, era, "countdown", json!({"from": 2}), None).await.unwrap()
        else {
            panic!("{era:?}: not a task")
        };
        let later = match era {
            Era::Legacy => rig.session().await.0,
            _ => rig.client(era),
        };
        let mut seen = Vec::new();
        let (view, outcome) = wait_task(&later, &task.task_id, |v| seen.push(v.status)).await.unwrap();
        assert_eq!(view.status, TaskStatus::Completed, "{era:?}");
        let Outcome::Result(result) = outcome else { panic!("{era:?}: {outcome:?}") };
        assert_eq!(text_of(&result), "liftoff");
        assert_eq!(seen.last(), Some(&TaskStatus::Completed));

        // A tool that is not a task answers at once.
        let echo = call_as_task(&client, era, "echo", json!({"text": "x"}), None).await;
        match era {
            Era::Legacy => assert!(echo.is_err(), "2025-11-25: -32601 for a task of a tool that forbids one"),
            _ => assert!(matches!(echo, Ok(CallAnswer::Done(_))), "{echo:?}"),
        }

        // Cancel a long one.
        let CallAnswer::Task(long) = call_as_task(&client, era, "countdown", json!({"from": 100}), None).await.unwrap()
        else {
            panic!("{era:?}: not a task")
        };
        cancel_task(&later, &long.task_id).await.unwrap();
        let (view, outcome) = wait_task(&later, &long.task_id, |_| {}).await.unwrap();
        assert_eq!(view.status, TaskStatus::Cancelled, "{era:?}");
        let Outcome::Error(error) = outcome else { panic!("{era:?}: {outcome:?}") };
        assert_eq!(error["code"], -32603, "{era:?}: {error}");
        rig.server.shutdown(Duration::ZERO).await;
    }
}

#[tokio::test(start_paused = true)]
async fn past_max_running_a_task_call_is_refused_busy_and_polls_still_flow() {
    // Arrange: one task at a time, and the server's in-flight room for one request.
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("requests", QueueOptions::default());
    let account = &requests[..=requests.rfind('/').unwrap()];
    let mut config = ServerConfig::new(requests.clone(), AllowList::new().try_prefix(account).unwrap());
    config.max_in_flight = 1;
    let tools = DemoTools::new().with_step(Duration::from_millis(100));
    let mut options = TaskOptions::in_memory().tool("countdown", TaskSupport::Optional);
    options.max_running = 1;
    let server = QueueServer::start(move || tools.clone(), config, Arc::clone(&queue)).unwrap().with_tasks(options);
    let handle = server.handle();
    tokio::spawn(server.run());
    let mut rig = Rig { queue, requests, tools: DemoTools::new(), server: handle, clients: 0 };
    let client = rig.client(Era::Modern);

    // Act
    let first = call(&client, "tools/call", modern_call("countdown", json!({"from": 50}))).await;
    let second = call(&client, "tools/call", modern_call("countdown", json!({"from": 50}))).await;
    let task_id = first["result"]["taskId"].as_str().unwrap();
    let polled = call(&client, "tasks/get", json!({"taskId": task_id})).await;

    // Assert
    assert_eq!(first["result"]["resultType"], "task", "{first}");
    assert_eq!(second["error"]["code"], -32000, "{second}");
    assert_eq!(polled["result"]["status"], "working", "{polled}");
    rig.server.shutdown(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn the_tools_progress_becomes_the_tasks_status_message() {
    use asyncmcp_tokio::task_client::{CallAnswer, call_as_task, wait_task};

    let mut rig = Rig::new();
    let client = rig.client(Era::Modern);
    let CallAnswer::Task(task) =
        call_as_task(&client, Era::Modern, "countdown", json!({"from": 30}), None).await.unwrap()
    else {
        panic!("not a task")
    };

    let mut notes = Vec::new();
    let (view, _) = wait_task(&client, &task.task_id, |v| notes.extend(v.status_message.clone())).await.unwrap();

    assert_eq!(view.status, TaskStatus::Completed);
    assert!(notes.iter().any(|n| n.starts_with("T-")), "no progress in {notes:?}");
    rig.server.shutdown(Duration::ZERO).await;
}

/// A 2025-11-25 task whose worker died: its redelivered request names a session no
/// other worker knows, so the queue cannot hand it over. The store still holds the
/// request: the replica that serves a read of the stale task adopts it and runs it.
#[tokio::test(start_paused = true)]
async fn a_stale_task_whose_worker_is_gone_is_adopted_by_the_replica_that_reads_it() {
    use asyncmcp_tokio::TaskStore;
    use asyncmcp_tokio::proto::tasks::{TaskId, TaskLimits, TaskRecord, TaskRequest};

    // Arrange: a record claimed by a dead worker whose lease ended long ago.
    let store = Arc::new(asyncmcp_tokio::MemoryTaskStore::new());
    let limits = TaskLimits::default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let then = now - 120_000;
    let request = TaskRequest::new("tools/call", Some(json!({"name": "countdown", "arguments": {"from": 2}})));
    let mut record = TaskRecord::create(TaskId::new("s|gone|n1", [7; 16]).unwrap(), request, None, &limits, then);
    record.claim("dead-worker", &limits, then).unwrap();
    store.create(record.clone(), now).await.unwrap();
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("requests", QueueOptions::default());
    let account = &requests[..=requests.rfind('/').unwrap()];
    let config = ServerConfig::new(requests.clone(), AllowList::new().try_prefix(account).unwrap());
    let tools = DemoTools::new().with_step(Duration::from_millis(100));
    let options = TaskOptions::new(store.clone()).tool("countdown", TaskSupport::Optional);
    let factory = {
        let tools = tools.clone();
        move || tools.clone()
    };
    let server = QueueServer::start(factory, config, Arc::clone(&queue)).unwrap().with_tasks(options);
    let handle = server.handle();
    tokio::spawn(server.run());
    let mut rig = Rig { queue, requests, tools, server: handle, clients: 0 };

    // Act: a client of another session waits for the result.
    let (client, _) = rig.session().await;
    let result = call(&client, "tasks/result", json!({"taskId": record.id.as_str()})).await;

    // Assert
    assert_eq!(text_of(&result["result"]), "liftoff", "{result}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert_eq!(store.get(&record.id, now).await.unwrap().record.attempts, 2);
    assert_eq!(rig.tools.countdowns().finished, 1);
    rig.server.shutdown(Duration::ZERO).await;
}

/// The statuses of the task status notifications (`method`) received so far.
fn statuses(notes: &mut tokio::sync::mpsc::UnboundedReceiver<Value>, method: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(note) = notes.try_recv() {
        if note["method"] == method {
            seen.push(note["params"]["status"].as_str().unwrap_or_default().to_owned());
        }
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn legacy_a_session_that_declared_tasks_is_told_working_then_completed_and_one_that_did_not_is_not() {
    // Arrange: one session declares the 2025-11-25 tasks capability, one does not.
    let mut rig = Rig::new();
    let (asker, mut asker_notes) = rig.listening_client(Era::Legacy);
    Rig::initialize(&asker, json!({"tasks": {"cancel": {}}})).await;
    let (silent, mut silent_notes) = rig.listening_client(Era::Legacy);
    Rig::initialize(&silent, json!({})).await;
    let params = json!({"name": "countdown", "arguments": {"from": 2}, "task": {}});

    // Act: each creates a task and waits for its result.
    for client in [&asker, &silent] {
        let created = call(client, "tools/call", params.clone()).await;
        let task_id = created["result"]["task"]["taskId"].as_str().unwrap().to_owned();
        let result = call(client, "tasks/result", json!({"taskId": task_id})).await;
        assert_eq!(text_of(&result["result"]), "liftoff", "{result}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Assert
    let method = "notifications/tasks/status";
    assert_eq!(statuses(&mut asker_notes, method), ["working", "completed"]);
    assert_eq!(statuses(&mut silent_notes, method), Vec::<String>::new());
    rig.server.shutdown(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn legacy_a_client_that_left_is_not_told_and_the_task_still_completes() {
    // Arrange
    let mut rig = Rig::new();
    let (asker, _) = rig.listening_client(Era::Legacy);
    Rig::initialize(&asker, json!({"tasks": {}})).await;
    let params = json!({"name": "countdown", "arguments": {"from": 3}, "task": {}});
    let created = call(&asker, "tools/call", params).await;
    let task_id = created["result"]["task"]["taskId"].as_str().unwrap().to_owned();

    let replies = rig.queue.create_queue(&format!("replies-{}", rig.clients), QueueOptions::default());
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Act: the client closes its session and leaves.
    asker.shutdown(Duration::from_secs(1)).await;
    let (other, _) = rig.session().await;
    let view = wait_terminal(&other, &task_id).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Assert: finished, and nothing waits on the gone client's reply queue.
    assert_eq!(view.status, TaskStatus::Completed);
    assert_eq!(rig.tools.countdowns().finished, 1);
    assert_eq!(rig.queue.queue_depth(&replies).unwrap().visible, 0, "a client that left was told");
    rig.server.shutdown(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn modern_a_listen_for_task_ids_gets_working_then_completed_and_a_client_that_did_not_listen_gets_none() {
    // Arrange
    let mut rig = Rig::new();
    let (asker, mut asker_notes) = rig.listening_client(Era::Modern);
    let (silent, mut silent_notes) = rig.listening_client(Era::Modern);
    let created = call(&asker, "tools/call", modern_call("countdown", json!({"from": 3}))).await;
    let task_id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let other = call(&silent, "tools/call", modern_call("countdown", json!({"from": 3}))).await;
    let other_id = other["result"]["taskId"].as_str().unwrap().to_owned();

    // Act: the asker listens for its task (SEP-2663 over SEP-2575); the stream ends
    // once the task is terminal.
    let mut listen = modern_call("", json!({}));
    listen.as_object_mut().unwrap().retain(|k, _| k == "_meta");
    listen["notifications"] = json!({"taskIds": [task_id, "nope.0123456789abcdef0123456789abcdef"]});
    let ended = call(&asker, "subscriptions/listen", listen).await;
    wait_terminal(&silent, &other_id).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Assert: acknowledged for the known id only; working, then completed with the result.
    assert_eq!(ended["result"]["resultType"], "complete", "{ended}");
    let mut notes = Vec::new();
    while let Ok(note) = asker_notes.try_recv() {
        notes.push(note);
    }
    let ack = notes.iter().find(|n| n["method"] == "notifications/subscriptions/acknowledged").expect("no ack");
    assert_eq!(ack["params"]["notifications"]["taskIds"], json!([task_id]), "{ack}");
    let tasks: Vec<&Value> = notes.iter().filter(|n| n["method"] == "notifications/tasks").collect();
    let seen: Vec<&str> = tasks.iter().map(|n| n["params"]["status"].as_str().unwrap()).collect();
    assert_eq!(seen.first(), Some(&"working"), "{notes:?}");
    assert_eq!(seen.last(), Some(&"completed"), "{notes:?}");
    let last = tasks.last().unwrap();
    assert_eq!(text_of(&last["params"]["result"]), "liftoff", "{last}");
    assert_eq!(last["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], ended["id"]);
    // rmcp 3.11 reads both as its own types (an rmcp client is not broken by them).
    for note in [ack, *last] {
        let parsed = serde_json::from_value::<rmcp::model::ServerNotification>(note.clone());
        assert!(parsed.is_ok(), "rmcp cannot read {note}: {parsed:?}");
    }
    let parsed = serde_json::from_value::<rmcp::model::ServerNotification>((*last).clone()).unwrap();
    let rmcp::model::ServerNotification::TaskStatusNotification(parsed) = parsed else { panic!("{parsed:?}") };
    assert_eq!(parsed.params.status(), rmcp::model::TaskStatus::Completed);
    assert_eq!(statuses(&mut silent_notes, "notifications/tasks"), Vec::<String>::new());
    rig.server.shutdown(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn modern_a_listen_for_task_ids_without_the_extension_is_refused() {
    let mut rig = Rig::new();
    let client = rig.client(Era::Modern);

    let refused = call(&client, "subscriptions/listen", json!({"notifications": {"taskIds": ["a.b"]}})).await;

    assert_eq!(refused["error"]["code"], -32021, "{refused}");
    rig.server.shutdown(Duration::ZERO).await;
}

/// An rmcp server that runs tasks itself (rmcp's `TaskManager`, SEP-2663): `sum`
/// becomes a task when the client declares the extension; `tasks/get` and
/// `tasks/cancel` are answered from the manager, which every clone shares.
#[derive(Clone, Default)]
struct RmcpTaskServer {
    tasks: rmcp::task_manager::TaskManager,
}

impl rmcp::ServerHandler for RmcpTaskServer {
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: rmcp::service::RequestContext<rmcp::service::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, CreateTaskResult};
        use rmcp::task_manager::{TaskExit, TaskOptions as RmcpTaskOptions};
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        let steps = arguments["steps"].as_u64().unwrap_or(1);
        let sum = (arguments["a"].as_i64().unwrap_or(0) + arguments["b"].as_i64().unwrap_or(0)).to_string();
        if !context.client_capabilities().is_some_and(|caps| caps.supports_tasks()) {
            return Ok(CallToolResponse::Complete(CallToolResult::success(vec![ContentBlock::text(sum)])));
        }
        let options = RmcpTaskOptions::new().with_poll_interval_ms(100);
        let task = self.tasks.spawn(options, move |ctx| {
            Box::pin(async move {
                tokio::select! {
                    () = ctx.cancelled() => Err(TaskExit::Cancelled),
                    () = tokio::time::sleep(Duration::from_millis(100 * steps)) => {
                        Ok(CallToolResult::success(vec![ContentBlock::text(sum)]))
                    }
                }
            })
        });
        Ok(CallToolResponse::Task(CreateTaskResult::new(task)))
    }

    async fn get_task(
        &self,
        request: rmcp::model::GetTaskParams,
        _context: rmcp::service::RequestContext<rmcp::service::RoleServer>,
    ) -> Result<rmcp::model::GetTaskResult, rmcp::ErrorData> {
        Ok(rmcp::model::GetTaskResult::new(self.tasks.get_task(&request.task_id)?))
    }

    async fn cancel_task(
        &self,
        request: rmcp::model::CancelTaskParams,
        _context: rmcp::service::RequestContext<rmcp::service::RoleServer>,
    ) -> Result<(), rmcp::ErrorData> {
        self.tasks.cancel_task(&request.task_id)
    }

    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(rmcp::model::ServerCapabilities::builder().enable_tools().enable_tasks().build())
    }
}

#[tokio::test(start_paused = true)]
async fn an_rmcp_client_with_tasks_creates_polls_and_cancels_tasks_of_an_rmcp_server_that_runs_them_itself() {
    use rmcp::model::{
        CallToolRequestParams, CallToolResponse, CancelTaskParams, GetTaskParams, ProtocolVersion, TaskPayload,
        TaskStatus as RmcpStatus,
    };
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};

    // Arrange: the rmcp server on our queue, WITHOUT our task layer.
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("requests", QueueOptions::default());
    let account = &requests[..=requests.rfind('/').unwrap()];
    let config = ServerConfig::new(requests.clone(), AllowList::new().try_prefix(account).unwrap());
    let rmcp_server = RmcpTaskServer::default();
    let server = QueueServer::start(move || rmcp_server.clone(), config, Arc::clone(&queue)).unwrap();
    let server_handle = server.handle();
    tokio::spawn(server.run());
    let replies = queue.create_queue("rmcp-replies", QueueOptions::default());
    let mut client_config =
        ClientConfig::new(Address::Queue(requests), Address::Queue(replies.clone()), replies, "rmcp-tasks".to_owned());
    client_config.era = Era::Modern;
    let transport = asyncmcp_tokio::rmcp::QueueClientTransport::spawn(client_config, Arc::clone(&queue)).unwrap();
    let discover = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    let client = TaskClient.serve_with_lifecycle(transport, discover).await.unwrap();
    let sum = |steps: u64| {
        CallToolRequestParams::new("sum")
            .with_arguments(json!({"a": 40, "b": 2, "steps": steps}).as_object().unwrap().clone())
    };

    // Act: create a task, then poll it over the queue until it is terminal.
    let created = client.call_tool_once(sum(3)).await.unwrap();
    let CallToolResponse::Task(created) = created else { panic!("not a task: {created:?}") };
    let mut done = None;
    for _ in 0..100 {
        let got = client.get_task(GetTaskParams::new(created.task.task_id.clone())).await.unwrap();
        if got.task.status().is_terminal() {
            done = Some(got.task);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Act: create a long one and cancel it.
    let CallToolResponse::Task(long) = client.call_tool_once(sum(1000)).await.unwrap() else { panic!("not a task") };
    client.cancel_task(CancelTaskParams::new(long.task.task_id.clone())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cancelled = client.get_task(GetTaskParams::new(long.task.task_id.clone())).await.unwrap();

    // Assert
    let done = done.expect("the task never ended");
    let TaskPayload::Completed { result } = done.payload else { panic!("not completed: {done:?}") };
    assert_eq!(text_of(&Value::Object(result)), "42");
    assert_eq!(cancelled.task.status(), RmcpStatus::Cancelled);
    client.cancel().await.unwrap();
    server_handle.shutdown(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn modern_a_cancelled_listen_ends_at_the_server_and_the_task_runs_on() {
    use asyncmcp_tokio::proto::{JsonRpcMessage, RequestId};

    // Arrange: a long task, and a listen for it.
    let mut rig = Rig::new();
    let (client, mut notes) = rig.listening_client(Era::Modern);
    let created = call(&client, "tools/call", modern_call("countdown", json!({"from": 100}))).await;
    let task_id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let mut listen = modern_call("", json!({}));
    listen.as_object_mut().unwrap().retain(|k, _| k == "_meta");
    listen["notifications"] = json!({"taskIds": [task_id]});
    let listen_id = RequestId::String("listen-1".into());
    let request = JsonRpcMessage::request(listen_id.clone(), "subscriptions/listen", Some(listen));
    let listening = {
        let client = client.clone();
        tokio::spawn(async move { client.request(request).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(statuses(&mut notes, "notifications/tasks"), ["working"]);
    assert_eq!(rig.in_flight(), 2, "the task's request and the listen");

    // Act: the client cancels the listen.
    client.cancel(listen_id, None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Assert: the listen is over at the server (only the task's request is held)
    // and the task runs on.
    assert_eq!(rig.in_flight(), 1, "the cancelled listen is still served");
    assert!(listening.is_finished());
    let view = call(&client, "tasks/get", json!({"taskId": task_id})).await;
    assert_eq!(view["result"]["status"], "working", "{view}");
    rig.server.shutdown(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn legacy_a_task_cancelled_by_another_client_is_told_to_its_requester_as_cancelled() {
    // Arrange: a long task of a session that declared tasks.
    let mut rig = Rig::new();
    let (asker, mut notes) = rig.listening_client(Era::Legacy);
    Rig::initialize(&asker, json!({"tasks": {}})).await;
    let params = json!({"name": "countdown", "arguments": {"from": 100}, "task": {}});
    let created = call(&asker, "tools/call", params).await;
    let task_id = created["result"]["task"]["taskId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Act: another session cancels it.
    let (other, _) = rig.session().await;
    call(&other, "tasks/cancel", json!({"taskId": task_id})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Assert: working, then cancelled; rmcp 3.11 reads the notification as a custom
    // one (it does not know it), so an rmcp client is not broken by it.
    let mut seen = Vec::new();
    while let Ok(note) = notes.try_recv() {
        if note["method"] == "notifications/tasks/status" {
            assert_eq!(note["params"]["taskId"], task_id.as_str(), "{note}");
            let parsed = serde_json::from_value::<rmcp::model::ServerNotification>(note.clone());
            assert!(matches!(parsed, Ok(rmcp::model::ServerNotification::CustomNotification(_))), "{note}: {parsed:?}");
            seen.push(note["params"]["status"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(seen, ["working", "cancelled"]);
    rig.server.shutdown(Duration::ZERO).await;
}

/// A server with one tool, `bulk`: its result is `bytes` of text, and it counts
/// its runs.
#[derive(Clone)]
struct Bulk {
    bytes: usize,
    runs: Arc<std::sync::atomic::AtomicUsize>,
}

impl Bulk {
    fn new(bytes: usize) -> Self {
        Self { bytes, runs: Arc::default() }
    }

    fn runs(&self) -> usize {
        self.runs.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl rmcp::ServerHandler for Bulk {
    async fn call_tool(
        &self,
        _request: rmcp::model::CallToolRequestParams,
        _context: rmcp::service::RequestContext<rmcp::service::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
        self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![ContentBlock::text("x".repeat(self.bytes))])))
    }

    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(rmcp::model::ServerCapabilities::builder().enable_tools().build())
    }
}

/// A rig whose server serves `bulk` as a task tool, its tasks in `store`; its
/// request queue takes 1 MiB messages (SQS's most).
fn bulk_rig(bulk: &Bulk, store: Arc<asyncmcp_tokio::MemoryTaskStore>) -> Rig {
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("requests", QueueOptions { max_message_bytes: 1 << 20, ..Default::default() });
    let account = &requests[..=requests.rfind('/').unwrap()];
    let config = ServerConfig::new(requests.clone(), AllowList::new().try_prefix(account).unwrap());
    let options = TaskOptions::new(store).tool("bulk", TaskSupport::Optional);
    let bulk = bulk.clone();
    let server = QueueServer::start(move || bulk.clone(), config, Arc::clone(&queue)).unwrap().with_tasks(options);
    let handle = server.handle();
    tokio::spawn(server.run());
    Rig { queue, requests, tools: DemoTools::new(), server: handle, clients: 0 }
}

/// Time passes: every lease of task `id` ended two minutes ago. (The records' times
/// are the wall clock's, which a paused runtime does not move.)
async fn age_lease(store: &asyncmcp_tokio::MemoryTaskStore, id: &asyncmcp_tokio::proto::tasks::TaskId) {
    use asyncmcp_tokio::TaskStore;
    let now = wall_ms();
    let Ok(mut current) = store.get(id, now).await else { return };
    if let Some(claim) = current.record.claim.as_mut() {
        claim.until_ms = claim.until_ms.saturating_sub(120_000);
        let _ = store.update(current.version, current.record, now).await;
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// What a task that failed because its result does not fit must say: `-32603`, the
/// size and the limit in its text and in `data`.
fn assert_names_size_and_limit(error: &Value) {
    assert_eq!(error["code"], -32603, "{error}");
    let (size, limit) = (error["data"]["size"].as_u64().unwrap_or(0), error["data"]["limit"].as_u64());
    assert_eq!(limit, Some(409_600), "{error}");
    assert!(size > 409_600, "{error}");
    let text = error["message"].as_str().unwrap_or_default();
    assert!(text.contains("409600 bytes") && text.contains(&format!("{size} bytes")), "{text}");
}

/// A tool whose result (~500 KB) makes the task's record bigger than the store's
/// 400 KB item: the task ends `failed` once, its error naming the size and the
/// limit, and polls long after its lease would have ended never run the tool again
/// (before, the refused completion left it `working`: each stale poll adopted it and
/// ran the tool again, for ever).
#[tokio::test(start_paused = true)]
async fn a_task_whose_result_does_not_fit_the_store_fails_once_and_is_never_run_again() {
    for era in [Era::Modern, Era::Legacy] {
        // Arrange
        let bulk = Bulk::new(500_000);
        let store = Arc::new(asyncmcp_tokio::MemoryTaskStore::new());
        let mut rig = bulk_rig(&bulk, Arc::clone(&store));
        let (client, params) = match era {
            Era::Legacy => (rig.session().await.0, json!({"name": "bulk", "arguments": {}, "task": {}})),
            _ => (rig.client(Era::Modern), modern_call("bulk", json!({}))),
        };

        // Act: the task is created and run; once its request message is gone, it is
        // polled many times, each time long after any lease ended.
        let created = call(&client, "tools/call", params).await;
        let view = TaskView::parse(&created["result"]).unwrap_or_else(|| panic!("{era:?}: not a task: {created}"));
        let id = asyncmcp_tokio::proto::tasks::TaskId::parse(&view.task_id).unwrap();
        for _ in 0..50 {
            if rig.in_flight() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut polled = Value::Null;
        for _ in 0..20 {
            age_lease(&store, &id).await;
            polled = call(&client, "tasks/get", json!({"taskId": view.task_id})).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // Assert: run once, failed with the size and the limit named.
        assert_eq!(bulk.runs(), 1, "{era:?}: the tool ran again");
        assert_eq!(polled["result"]["status"], "failed", "{era:?}: {polled}");
        let error = match era {
            Era::Legacy => call(&client, "tasks/result", json!({"taskId": view.task_id})).await["error"].clone(),
            _ => polled["result"]["error"].clone(),
        };
        assert_names_size_and_limit(&error);
        // (After the last answer's own delete.)
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(rig.in_flight(), 0, "{era:?}");
        rig.server.shutdown(Duration::ZERO).await;
    }
}

/// The same when the task is adopted (its worker died, its lease is long over): the
/// adopting replica's completion is refused as too large, and the task fails once.
#[tokio::test(start_paused = true)]
async fn an_adopted_task_whose_result_does_not_fit_the_store_fails_once() {
    use asyncmcp_tokio::TaskStore;
    use asyncmcp_tokio::proto::tasks::{TaskId, TaskLimits, TaskRecord, TaskRequest};

    // Arrange: a record claimed by a dead worker whose lease ended long ago.
    let bulk = Bulk::new(500_000);
    let store = Arc::new(asyncmcp_tokio::MemoryTaskStore::new());
    let limits = TaskLimits::default();
    let now = wall_ms();
    let then = now - 120_000;
    let request = TaskRequest::new("tools/call", Some(json!({"name": "bulk", "arguments": {}})));
    let mut record = TaskRecord::create(TaskId::new("s|gone|n1", [7; 16]).unwrap(), request, None, &limits, then);
    record.claim("dead-worker", &limits, then).unwrap();
    store.create(record.clone(), now).await.unwrap();
    let mut rig = bulk_rig(&bulk, Arc::clone(&store));
    let client = rig.client(Era::Modern);

    // Act: a client polls it many times, each time long after any lease ended.
    let mut polled = Value::Null;
    for _ in 0..20 {
        age_lease(&store, &record.id).await;
        polled = call(&client, "tasks/get", json!({"taskId": record.id.as_str()})).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Assert
    assert_eq!(bulk.runs(), 1, "the tool ran again");
    assert_eq!(polled["result"]["status"], "failed", "{polled}");
    assert_names_size_and_limit(&polled["result"]["error"]);
    let stored = store.get(&record.id, wall_ms()).await.unwrap().record;
    assert_eq!(stored.attempts, 2, "the dead worker's claim and the adoption");
    rig.server.shutdown(Duration::ZERO).await;
}

/// A request too big for the store to keep as a task is answered at once with an
/// error naming the size and the limit: no task, no run, its message deleted
/// (before, the in-memory store kept any size and the task ran).
#[tokio::test(start_paused = true)]
async fn a_task_request_that_does_not_fit_the_store_is_answered_with_an_error() {
    for era in [Era::Modern, Era::Legacy] {
        // Arrange
        let bulk = Bulk::new(10);
        let store = Arc::new(asyncmcp_tokio::MemoryTaskStore::new());
        let mut rig = bulk_rig(&bulk, Arc::clone(&store));
        let big = json!({"text": "y".repeat(500_000)});
        let (client, params) = match era {
            Era::Legacy => (rig.session().await.0, json!({"name": "bulk", "arguments": big, "task": {}})),
            _ => (rig.client(Era::Modern), modern_call("bulk", big)),
        };

        // Act
        let answer = call(&client, "tools/call", params).await;
        tokio::time::sleep(Duration::from_secs(1)).await;

        // Assert
        assert_names_size_and_limit(&answer["error"]);
        let text = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains("request"), "{era:?}: {text}");
        assert!(store.is_empty(), "{era:?}: a task was created");
        assert_eq!(bulk.runs(), 0, "{era:?}");
        assert_eq!(rig.in_flight(), 0, "{era:?}: the request message is still held");
        rig.server.shutdown(Duration::ZERO).await;
    }
}
