//! The moto tier of MCP tasks: DynamoDB (the task store) and SQS/SNS through the
//! real AWS SDK against a local moto server. A client creates a task and exits, the
//! server finishes it, a new client process fetches the result by id (both eras,
//! sqs and sns-sqs); a cancel from another client stops the running tool; a server
//! killed mid-task (its runtime dropped: no graceful close) leaves the request to a
//! second server, which takes the task over after the lease and completes it. One
//! test measures the extra SQS and DynamoDB calls of a task over a plain call.

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_aws::DynamoTaskStore;
use asyncmcp_driver::TaskStore;
use asyncmcp_tests::moto::{Moto, unique_name};
use asyncmcp_tokio::proto::tasks::wire::TaskView;
use asyncmcp_tokio::proto::tasks::{TASKS_EXTENSION, TaskStatus, TaskSupport};
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, Era, ServerConfig};
use asyncmcp_tokio::rmcp::QueueServer;
use asyncmcp_tokio::rmcp::demo::DemoTools;
use asyncmcp_tokio::tasks::TaskOptions;
use asyncmcp_tokio::{AwsAdmin, AwsQueueClient, ClientHandle, DriverConfig, QueueSpec, ServerHandle, StatsSnapshot};
use serde_json::{Value, json};

fn driver() -> DriverConfig {
    let mut driver = DriverConfig::default();
    driver.long_poll = Duration::from_secs(1);
    driver
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topology {
    Sqs,
    SnsSqs,
}

/// Queues (and topics), a task table, and the configurations that use them.
struct Rig {
    queue: Arc<AwsQueueClient>,
    store: Arc<DynamoTaskStore>,
    server: ServerConfig,
    to_server: Address,
    requests: String,
    admin: AwsAdmin,
    clients: usize,
}

impl Rig {
    async fn new(topology: Topology, visibility_secs: u32) -> Self {
        let config = Moto::shared().sdk_config();
        let admin = AwsAdmin::new(&config);
        let spec = QueueSpec { visibility_timeout_secs: Some(visibility_secs), ..QueueSpec::default() };
        let requests = admin.create_queue(&unique_name("tq"), &spec).await.expect("request queue");
        let to_server = match topology {
            Topology::Sqs => Address::Queue(requests.url.clone()),
            Topology::SnsSqs => {
                let topic = admin.create_topic(&unique_name("tt")).await.expect("topic");
                admin.subscribe_queue(&topic, &requests.arn, &requests.url, true).await.expect("subscribe");
                Address::Topic(topic)
            }
        };
        let account = &requests.url[..=requests.url.rfind('/').expect("a queue URL")];
        let allow = AllowList::new()
            .try_prefix(&format!("{account}tr-"))
            .expect("prefix")
            .try_prefix(&Moto::topic_arn("trt-"))
            .expect("prefix");
        let mut server = ServerConfig::new(requests.url.clone(), allow);
        server.visibility_timeout = Duration::from_secs(u64::from(visibility_secs));
        let store = Arc::new(DynamoTaskStore::new(&config, &unique_name("tasks")));
        store.create_table().await.expect("task table");
        let queue = Arc::new(AwsQueueClient::new(&config));
        Self { queue, store, server, to_server, requests: requests.url, admin, clients: 0 }
    }

    fn options(&self) -> TaskOptions {
        let mut options = TaskOptions::new(self.store.clone()).tool("countdown", TaskSupport::Optional);
        options.limits.lease_ms = self.server.visibility_timeout.as_millis() as u64;
        options.limits.poll_interval_ms = 250;
        options
    }

    /// A server of the demo tools on the current runtime.
    fn serve(&self, tools: &DemoTools) -> ServerHandle {
        let tools = tools.clone();
        let server =
            QueueServer::start_with(move || tools.clone(), self.server.clone(), Arc::clone(&self.queue), driver())
                .expect("server")
                .with_tasks(self.options());
        let handle = server.handle();
        tokio::spawn(server.run());
        handle
    }

    /// A server of the `bulk` tool (as a task) on the current runtime.
    fn serve_bulk(&self, bulk: &Bulk) -> ServerHandle {
        let bulk = bulk.clone();
        let options = self.options().tool("bulk", TaskSupport::Optional);
        let server =
            QueueServer::start_with(move || bulk.clone(), self.server.clone(), Arc::clone(&self.queue), driver())
                .expect("server")
                .with_tasks(options);
        let handle = server.handle();
        tokio::spawn(server.run());
        handle
    }

    /// A new client process: its own `ClientId` and reply queue (or topic).
    async fn client(&mut self, era: Era) -> ClientHandle {
        self.clients += 1;
        let replies = self.admin.create_queue(&unique_name("tr"), &QueueSpec::default()).await.expect("reply queue");
        let reply_to = match &self.to_server {
            Address::Topic(_) => {
                let topic = self.admin.create_topic(&unique_name("trt")).await.expect("topic");
                self.admin.subscribe_queue(&topic, &replies.arn, &replies.url, true).await.expect("subscribe");
                Address::Topic(topic)
            }
            _ => Address::Queue(replies.url.clone()),
        };
        let mut config = ClientConfig::new(
            self.to_server.clone(),
            reply_to,
            replies.url,
            unique_name(&format!("c{}", self.clients)),
        );
        config.era = era;
        let (handle, mut events) =
            asyncmcp_tokio::spawn_client_with(config, Arc::clone(&self.queue), driver()).expect("client");
        tokio::spawn(async move { while events.next().await.is_some() {} });
        if era == Era::Legacy {
            let params = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}});
            let init = handle.call("initialize", Some(params)).await.expect("initialize").to_value();
            assert!(init["result"]["capabilities"]["tasks"].is_object(), "{init}");
            handle.notify("notifications/initialized", None).await.expect("initialized");
        }
        handle
    }

    async fn in_flight(&self) -> u64 {
        self.admin.queue_counts(&self.requests).await.expect("queue counts").in_flight
    }
}

fn task_call(era: Era, from: u32) -> Value {
    match era {
        Era::Legacy => json!({"name": "countdown", "arguments": {"from": from}, "task": {"ttl": 600_000}}),
        _ => json!({
            "name": "countdown",
            "arguments": {"from": from},
            "_meta": {"io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
        }),
    }
}

async fn call(client: &ClientHandle, method: &str, params: Value) -> Value {
    client.call(method, Some(params)).await.unwrap_or_else(|e| panic!("{method}: {e}")).to_value()
}

async fn wait_terminal(client: &ClientHandle, task_id: &str) -> TaskView {
    for _ in 0..240 {
        let got = call(client, "tasks/get", json!({"taskId": task_id})).await;
        let view = TaskView::parse(&got["result"]).unwrap_or_else(|| panic!("not a task: {got}"));
        if view.status.is_terminal() {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("task {task_id} never ended");
}

fn text_of(result: &Value) -> String {
    result["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

/// A client creates a task and exits; a new client process fetches the result.
async fn detached(topology: Topology, era: Era) {
    let mut rig = Rig::new(topology, 30).await;
    let tools = DemoTools::new().with_step(Duration::from_millis(250));
    let server = rig.serve(&tools);

    let first = rig.client(era).await;
    let created = call(&first, "tools/call", task_call(era, 4)).await;
    first.shutdown(Duration::ZERO).await;
    let view = TaskView::parse(&created["result"]).unwrap_or_else(|| panic!("not a task: {created}"));
    assert_eq!(view.status, TaskStatus::Working);
    // (After the deletes of the requests already answered.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.in_flight().await, 1, "the task's request must stay on the queue while it runs");

    let second = rig.client(era).await;
    let outcome = match era {
        Era::Legacy => call(&second, "tasks/result", json!({"taskId": view.task_id})).await["result"].clone(),
        _ => {
            assert_eq!(wait_terminal(&second, &view.task_id).await.status, TaskStatus::Completed);
            call(&second, "tasks/get", json!({"taskId": view.task_id})).await["result"]["result"].clone()
        }
    };
    assert_eq!(text_of(&outcome), "liftoff", "{outcome}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rig.in_flight().await, 0, "the task's request must be deleted once it ended");
    assert_eq!(tools.countdowns().finished, 1);
    second.shutdown(Duration::ZERO).await;
    server.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn modern_sqs_a_new_client_fetches_a_detached_tasks_result() {
    detached(Topology::Sqs, Era::Modern).await;
}

#[tokio::test]
async fn legacy_sqs_a_new_client_fetches_a_detached_tasks_result() {
    detached(Topology::Sqs, Era::Legacy).await;
}

#[tokio::test]
async fn modern_sns_sqs_a_new_client_fetches_a_detached_tasks_result() {
    detached(Topology::SnsSqs, Era::Modern).await;
}

#[tokio::test]
async fn legacy_sns_sqs_a_new_client_fetches_a_detached_tasks_result() {
    detached(Topology::SnsSqs, Era::Legacy).await;
}

#[tokio::test]
async fn a_cancel_from_another_client_stops_the_running_tool() {
    let mut rig = Rig::new(Topology::Sqs, 30).await;
    let tools = DemoTools::new().with_step(Duration::from_millis(250));
    let server = rig.serve(&tools);
    let owner = rig.client(Era::Modern).await;
    let created = call(&owner, "tools/call", task_call(Era::Modern, 200)).await;
    let view = TaskView::parse(&created["result"]).unwrap_or_else(|| panic!("not a task: {created}"));

    let other = rig.client(Era::Modern).await;
    let ack = call(&other, "tasks/cancel", json!({"taskId": view.task_id})).await;

    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    assert_eq!(wait_terminal(&other, &view.task_id).await.status, TaskStatus::Cancelled);
    for _ in 0..40 {
        if tools.countdowns().cancelled == 1 && rig.in_flight().await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(tools.countdowns().cancelled, 1, "the cancel never reached the tool");
    assert_eq!(rig.in_flight().await, 0);
    server.shutdown(Duration::ZERO).await;
}

/// The server's runtime is dropped mid-task (no graceful close: its request stays
/// in flight, its lease live); a second server receives the request after the
/// visibility timeout, finds the task by origin, claims it once the lease ended, and
/// completes it. The client reads the result by id.
#[test]
fn a_killed_worker_leaves_its_task_to_a_second_server() {
    let main = tokio::runtime::Runtime::new().expect("runtime");
    let (mut rig, client, task_id) = main.block_on(async {
        let mut rig = Rig::new(Topology::Sqs, 3).await;
        let client = rig.client(Era::Modern).await;
        (rig, client, String::new())
    });
    let first_tools = DemoTools::new().with_step(Duration::from_millis(500));
    let doomed = tokio::runtime::Runtime::new().expect("runtime");
    let _first = doomed.block_on(async { rig.serve(&first_tools) });
    let task_id = main.block_on(async {
        let created = call(&client, "tools/call", task_call(Era::Modern, 6)).await;
        let view = TaskView::parse(&created["result"]).unwrap_or_else(|| panic!("not a task: {created}"));
        // Let it run past the first heartbeat and renew.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(task_id.is_empty());
        view.task_id
    });
    assert_eq!(first_tools.countdowns().started, 1);
    doomed.shutdown_background();

    let second_tools = DemoTools::new().with_step(Duration::from_millis(100));
    main.block_on(async {
        let second = rig.serve(&second_tools);
        let view = wait_terminal(&client, &task_id).await;
        assert_eq!(view.status, TaskStatus::Completed);
        let got = call(&client, "tasks/get", json!({"taskId": task_id})).await;
        assert_eq!(text_of(&got["result"]["result"]), "liftoff", "{got}");
        assert_eq!(first_tools.countdowns().finished, 0);
        assert_eq!(second_tools.countdowns().finished, 1, "the second server must run the task once");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(rig.in_flight().await, 0);
        rig.clients += 0;
        second.shutdown(Duration::ZERO).await;
    });
}

fn sqs_calls(s: &StatsSnapshot) -> u64 {
    s.sends + s.publishes + s.deletes + s.visibility_changes
}

/// Server-side calls of one plain `tools/call` and of the same call as a task
/// (create, answer, run, complete) followed by one `tasks/get`: the extra SQS and
/// DynamoDB calls of a task. Receives are long polls, counted apart (they depend on
/// timing, not on the work).
#[tokio::test]
async fn extra_calls_of_a_task_over_a_plain_call() {
    let mut rig = Rig::new(Topology::Sqs, 30).await;
    let tools = DemoTools::new().with_step(Duration::from_millis(100));
    let server = rig.serve(&tools);
    let client = rig.client(Era::Modern).await;
    // Warm up (queue URLs cached, handler started).
    call(&client, "tools/call", json!({"name": "countdown", "arguments": {"from": 1}})).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (before, store_before, client_before) = (server.stats(), rig.store.calls(), client.stats());
    let plain = call(&client, "tools/call", json!({"name": "countdown", "arguments": {"from": 2}})).await;
    assert_eq!(text_of(&plain["result"]), "liftoff");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mid, store_mid, client_mid) = (server.stats(), rig.store.calls(), client.stats());

    let created = call(&client, "tools/call", task_call(Era::Modern, 2)).await;
    let view = TaskView::parse(&created["result"]).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = call(&client, "tasks/get", json!({"taskId": view.task_id})).await;
    assert_eq!(got["result"]["status"], "completed", "{got}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (after, store_after, client_after) = (server.stats(), rig.store.calls(), client.stats());

    let plain_sqs = sqs_calls(&mid) - sqs_calls(&before);
    let task_sqs = sqs_calls(&after) - sqs_calls(&mid);
    let plain_ddb = store_mid - store_before;
    let task_ddb = store_after - store_mid;
    let plain_client = sqs_calls(&client_mid) - sqs_calls(&client_before);
    let task_client = sqs_calls(&client_after) - sqs_calls(&client_mid);
    eprintln!("client calls (sends, deletes; receives apart): plain {plain_client}, task plus one get {task_client}");
    eprintln!(
        "server calls, plain tools/call: SQS {plain_sqs} (send+delete), DynamoDB {plain_ddb}; \
         as a task plus one tasks/get: SQS {task_sqs} (2 answers + 2 deletes), DynamoDB {task_ddb} \
         (create, claim, complete, get)"
    );
    assert_eq!(plain_ddb, 0);
    assert_eq!(task_client, 2 * plain_client, "the client: one more request and its reply");
    assert_eq!(plain_sqs, 2, "a plain call: one send, one delete");
    assert_eq!(task_sqs, 4, "a task and one get: two requests, each one send and one delete");
    assert_eq!(task_ddb, 4, "create, claim, complete: one write each; the get: one read");
    server.shutdown(Duration::ZERO).await;
}

/// A task lives until its TTL (the client's wish, 2025-11-25 `task.ttl`), then reads
/// as gone: `-32602`.
#[tokio::test]
async fn a_task_past_its_ttl_is_gone() {
    let mut rig = Rig::new(Topology::Sqs, 30).await;
    let tools = DemoTools::new().with_step(Duration::from_millis(50));
    let server = rig.serve(&tools);
    let client = rig.client(Era::Legacy).await;
    let params = json!({"name": "countdown", "arguments": {"from": 1}, "task": {"ttl": 2_000}});
    let created = call(&client, "tools/call", params).await;
    let view = TaskView::parse(&created["result"]).unwrap_or_else(|| panic!("not a task: {created}"));
    assert_eq!(view.ttl_ms, Some(2_000));

    let result = call(&client, "tasks/result", json!({"taskId": view.task_id})).await;
    assert_eq!(text_of(&result["result"]), "liftoff", "{result}");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let gone = call(&client, "tasks/get", json!({"taskId": view.task_id})).await;

    assert_eq!(gone["error"]["code"], -32602, "{gone}");
    server.shutdown(Duration::ZERO).await;
}

/// A real worker process is killed (SIGKILL) mid-task: its request stays in
/// flight and its lease live. A second server on the same queue receives the
/// request after the visibility timeout, finds the task by origin, claims it once
/// the lease ended, and completes it; the first attempt never finished.
#[tokio::test]
async fn a_worker_process_killed_mid_task_is_taken_over_by_a_second_server() {
    killed_worker(Era::Modern).await;
}

/// The same in 2025-11-25: the redelivered request names the dead worker's session,
/// which no other worker knows, so it is refused; the replica that serves a read of
/// the stale task adopts it from the store and finishes it.
#[tokio::test]
async fn legacy_a_worker_process_killed_mid_task_is_adopted_by_a_second_server() {
    killed_worker(Era::Legacy).await;
}

async fn killed_worker(era: Era) {
    use std::io::BufRead;

    let mut rig = Rig::new(Topology::Sqs, 3).await;
    let table = rig.store.table().to_owned();
    let account = &rig.requests[..=rig.requests.rfind('/').expect("a queue URL")];
    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_task_worker"))
        .args([&Moto::shared().endpoint, &rig.requests, &table, &format!("{account}tr-"), "3", "500"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the worker process");
    let mut ready = String::new();
    std::io::BufReader::new(worker.stdout.take().expect("stdout")).read_line(&mut ready).expect("worker output");
    assert_eq!(ready.trim(), "ready");
    let client = rig.client(era).await;
    let created = call(&client, "tools/call", task_call(era, 10)).await;
    let view = TaskView::parse(&created["result"]).unwrap_or_else(|| panic!("not a task: {created}"));
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    worker.kill().expect("kill -9 the worker");
    worker.wait().expect("reap the worker");
    let tools = DemoTools::new().with_step(Duration::from_millis(100));
    let second = rig.serve(&tools);
    // (A legacy client's session died with the worker: it opens another.)
    let client = if era == Era::Legacy { rig.client(era).await } else { client };
    let done = wait_terminal(&client, &view.task_id).await;

    assert_eq!(done.status, TaskStatus::Completed);
    let id = asyncmcp_tokio::proto::tasks::TaskId::parse(&view.task_id).expect("a task id");
    let record = rig.store.get(&id, asyncmcp_tests::task_store_contract::now_ms()).await.expect("the record").record;
    assert_eq!(record.attempts, 2, "claimed by the killed worker, then by the second server");
    assert_eq!(tools.countdowns().finished, 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rig.in_flight().await, 0);
    second.shutdown(Duration::ZERO).await;
}

/// Two servers on one queue, one store: every task runs exactly once (the claim is a
/// conditional write) and each completes.
#[tokio::test]
async fn two_servers_on_one_queue_run_each_task_once() {
    let mut rig = Rig::new(Topology::Sqs, 30).await;
    let tools = DemoTools::new().with_step(Duration::from_millis(100));
    let (a, b) = (rig.serve(&tools), rig.serve(&tools));
    let client = rig.client(Era::Modern).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        let created = call(&client, "tools/call", task_call(Era::Modern, 3)).await;
        ids.push(TaskView::parse(&created["result"]).unwrap_or_else(|| panic!("not a task: {created}")).task_id);
    }

    for id in &ids {
        assert_eq!(wait_terminal(&client, id).await.status, TaskStatus::Completed);
    }

    assert_eq!(tools.countdowns().started, 6, "each task runs once");
    assert_eq!(tools.countdowns().finished, 6);
    a.shutdown(Duration::ZERO).await;
    b.shutdown(Duration::ZERO).await;
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

/// Time passes: the lease of task `id`, if it has one, ended two minutes ago.
async fn age_lease(store: &DynamoTaskStore, id: &asyncmcp_tokio::proto::tasks::TaskId) {
    let now = asyncmcp_tests::task_store_contract::now_ms();
    let Ok(mut current) = store.get(id, now).await else { return };
    if let Some(claim) = current.record.claim.as_mut() {
        claim.until_ms = claim.until_ms.saturating_sub(120_000);
        let _ = store.update(current.version, current.record, now).await;
    }
}

/// A tool's real ~500 KB result does not fit a DynamoDB item: the task ends `failed`
/// once, with `-32603` naming the size and the 409,600-byte limit, and polls after
/// its lease would have ended do not run the tool again (before, the refused
/// completion left the task `working`, adopted and re-run at each stale poll).
#[tokio::test]
async fn a_task_whose_result_does_not_fit_dynamodb_fails_once_and_is_never_run_again() {
    for era in [Era::Modern, Era::Legacy] {
        // Arrange
        let mut rig = Rig::new(Topology::Sqs, 30).await;
        let bulk = Bulk::new(500_000);
        let server = rig.serve_bulk(&bulk);
        let client = rig.client(era).await;
        let params = match era {
            Era::Legacy => json!({"name": "bulk", "arguments": {}, "task": {"ttl": 600_000}}),
            _ => json!({
                "name": "bulk",
                "arguments": {},
                "_meta": {"io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
            }),
        };

        // Act: the task runs; once its request message is gone, it is polled, each
        // time long after any lease ended.
        let created = call(&client, "tools/call", params).await;
        let view = TaskView::parse(&created["result"]).unwrap_or_else(|| panic!("{era:?}: not a task: {created}"));
        let id = asyncmcp_tokio::proto::tasks::TaskId::parse(&view.task_id).expect("a task id");
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if rig.in_flight().await == 0 {
                break;
            }
        }
        let mut polled = Value::Null;
        for _ in 0..5 {
            age_lease(&rig.store, &id).await;
            polled = call(&client, "tasks/get", json!({"taskId": view.task_id})).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // Assert
        assert_eq!(bulk.runs(), 1, "{era:?}: the tool ran again");
        assert_eq!(polled["result"]["status"], "failed", "{era:?}: {polled}");
        let error = match era {
            Era::Legacy => call(&client, "tasks/result", json!({"taskId": view.task_id})).await["error"].clone(),
            _ => polled["result"]["error"].clone(),
        };
        assert_eq!(error["code"], -32603, "{era:?}: {error}");
        assert_eq!(error["data"]["limit"], 409_600, "{era:?}: {error}");
        let size = error["data"]["size"].as_u64().unwrap_or(0);
        assert!(size > 500_000, "{era:?}: {error}");
        let text = error["message"].as_str().unwrap_or_default();
        assert!(text.contains("409600 bytes") && text.contains(&format!("{size} bytes")), "{era:?}: {text}");
        let record = rig.store.get(&id, asyncmcp_tests::task_store_contract::now_ms()).await.expect("the record");
        assert_eq!(record.record.attempts, 1, "{era:?}");
        // (After the last answer's own delete.)
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(rig.in_flight().await, 0, "{era:?}");
        server.shutdown(Duration::ZERO).await;
    }
}
