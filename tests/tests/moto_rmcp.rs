//! The moto tier with rmcp: an rmcp client and an rmcp `#[tool]` server talk through
//! the real AWS SDK (`AwsQueueClient`) to a local moto server, over sqs, sns-sqs with
//! envelope delivery and sns-sqs with raw delivery, in both MCP eras; plus heartbeats,
//! stop and restart of a server mid-request, FIFO, and a missing queue.
//!
//! Every test creates its own queues and topics (unique names) on the moto server of
//! this test binary. Drivers long-poll for 1 s so shutdowns are quick.

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_tests::moto::{Moto, unique_name};
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, Era, ServerConfig};
use asyncmcp_tokio::rmcp::demo::{Countdowns, DemoTools};
use asyncmcp_tokio::rmcp::{QueueClientTransport, QueueServer};
use asyncmcp_tokio::{AwsAdmin, AwsQueueClient, DriverConfig, QueueSpec, ServerHandle};
use rmcp::model::{CallToolRequestParams, CallToolResult, ProgressNotificationParam, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient};

// ---------------------------------------------------------------- the server

/// The shared demo tools, counting down one step every 250 ms.
fn tools() -> DemoTools {
    DemoTools::new().with_step(Duration::from_millis(250))
}

// ---------------------------------------------------------------- the client

#[derive(Debug, Clone, Default)]
struct Recorder {
    progress: Arc<std::sync::Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).push(params);
    }
}

// ---------------------------------------------------------------- set-ups

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topology {
    Sqs,
    SnsSqs { raw: bool },
}

/// Queues (and topics) of one test on moto, and the configurations that use them.
struct Setup {
    queue: Arc<AwsQueueClient>,
    server: ServerConfig,
    client: ClientConfig,
}

fn driver() -> DriverConfig {
    let mut driver = DriverConfig::default();
    driver.long_poll = Duration::from_secs(1);
    driver
}

async fn setup(topology: Topology, era: Era, fifo: bool, visibility_secs: Option<u32>) -> Setup {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let admin = AwsAdmin::new(&config);
    let suffix = if fifo { ".fifo" } else { "" };
    let spec = QueueSpec { fifo, visibility_timeout_secs: visibility_secs, dead_letter: None };
    let requests = admin.create_queue(&format!("{}{suffix}", unique_name("rq")), &spec).await.expect("request queue");
    let replies = admin.create_queue(&format!("{}{suffix}", unique_name("rp")), &spec).await.expect("reply queue");
    let (to_server, reply_to) = match topology {
        Topology::Sqs => (Address::Queue(requests.url.clone()), Address::Queue(replies.url.clone())),
        Topology::SnsSqs { raw } => {
            let server_topic = admin.create_topic(&format!("{}{suffix}", unique_name("st"))).await.expect("topic");
            let client_topic = admin.create_topic(&format!("{}{suffix}", unique_name("ct"))).await.expect("topic");
            admin.subscribe_queue(&server_topic, &requests.arn, &requests.url, raw).await.expect("subscribe");
            admin.subscribe_queue(&client_topic, &replies.arn, &replies.url, raw).await.expect("subscribe");
            (Address::Topic(server_topic), Address::Topic(client_topic))
        }
    };
    let mut server = ServerConfig::new(requests.url.clone(), AllowList::new().exact(reply_to.as_str()));
    if let Some(secs) = visibility_secs {
        server.visibility_timeout = Duration::from_secs(u64::from(secs));
    }
    let mut client = ClientConfig::new(to_server, reply_to, replies.url.clone(), unique_name("client"));
    client.era = era;
    Setup { queue: Arc::new(AwsQueueClient::new(&config)), server, client }
}

fn start_server(setup: &Setup, tools: DemoTools) -> ServerHandle {
    let factory = move || tools.clone();
    let server =
        QueueServer::start_with(factory, setup.server.clone(), Arc::clone(&setup.queue), driver()).expect("server");
    let handle = server.handle();
    tokio::spawn(server.run());
    handle
}

fn lifecycle(era: Era) -> ClientLifecycleMode {
    match era {
        Era::Modern => ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        _ => ClientLifecycleMode::Initialize,
    }
}

async fn connect(setup: &Setup, recorder: Recorder) -> RunningService<RoleClient, Recorder> {
    let transport =
        QueueClientTransport::spawn_with(setup.client.clone(), Arc::clone(&setup.queue), driver()).expect("client");
    recorder.serve_with_lifecycle(transport, lifecycle(setup.client.era)).await.expect("connect")
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.clone()).collect()
}

fn call(name: &'static str, args: serde_json::Value) -> CallToolRequestParams {
    let args = match args {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    CallToolRequestParams::new(name).with_arguments(args)
}

/// `initialize` (or `server/discover`), `tools/list`, `tools/call` of each tool.
async fn round_trips(topology: Topology, era: Era, fifo: bool) {
    let setup = setup(topology, era, fifo, None).await;
    let server = start_server(&setup, tools());
    let recorder = Recorder::default();
    let progress = Arc::clone(&recorder.progress);
    let client = connect(&setup, recorder).await;
    let info = client.peer_info().expect("server info");
    assert!(info.capabilities.tools.is_some());
    if era == Era::Legacy {
        assert_eq!(info.protocol_version, ProtocolVersion::V_2025_11_25);
    }

    let tools = client.list_all_tools().await.expect("tools/list");
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["add", "countdown", "echo"]);

    let echoed = client.call_tool(call("echo", serde_json::json!({"text": "hello over moto"}))).await.expect("echo");
    assert_eq!(text(&echoed), "hello over moto");
    let sum = client.call_tool(call("add", serde_json::json!({"a": 40, "b": 2}))).await.expect("add");
    assert_eq!(text(&sum), "42");

    // A short run reporting progress (rmcp attaches a progress token to each request).
    let done = client.call_tool(call("countdown", serde_json::json!({"from": 2}))).await.expect("countdown");
    assert_eq!(text(&done), "liftoff");
    // Notifications may trail the response on a standard queue: give them a moment.
    for _ in 0..40 {
        if progress.lock().unwrap_or_else(|e| e.into_inner()).len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let steps: Vec<f64> = progress.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|p| p.progress).collect();
    if fifo {
        assert_eq!(steps, [1.0, 2.0]);
    } else {
        let mut sorted = steps.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(sorted, [1.0, 2.0], "progress notifications: {steps:?}");
    }

    eprintln!("{topology:?} {era:?} fifo={fifo}: server {:?}", server.stats());
    client.cancel().await.expect("client close");
    server.shutdown(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------- both eras, three topologies

#[tokio::test]
async fn legacy_sqs() {
    round_trips(Topology::Sqs, Era::Legacy, false).await;
}

#[tokio::test]
async fn legacy_sns_sqs_envelope() {
    round_trips(Topology::SnsSqs { raw: false }, Era::Legacy, false).await;
}

#[tokio::test]
async fn legacy_sns_sqs_raw() {
    round_trips(Topology::SnsSqs { raw: true }, Era::Legacy, false).await;
}

#[tokio::test]
async fn modern_sqs() {
    round_trips(Topology::Sqs, Era::Modern, false).await;
}

#[tokio::test]
async fn modern_sns_sqs_envelope() {
    round_trips(Topology::SnsSqs { raw: false }, Era::Modern, false).await;
}

#[tokio::test]
async fn modern_sns_sqs_raw() {
    round_trips(Topology::SnsSqs { raw: true }, Era::Modern, false).await;
}

// ---------------------------------------------------------------- FIFO

#[tokio::test]
async fn fifo_legacy_sqs() {
    round_trips(Topology::Sqs, Era::Legacy, true).await;
}

#[tokio::test]
async fn fifo_modern_sqs() {
    round_trips(Topology::Sqs, Era::Modern, true).await;
}

#[tokio::test]
async fn fifo_legacy_sns_sqs_envelope() {
    round_trips(Topology::SnsSqs { raw: false }, Era::Legacy, true).await;
}

#[tokio::test]
async fn fifo_modern_sns_sqs_raw() {
    round_trips(Topology::SnsSqs { raw: true }, Era::Modern, true).await;
}

// ---------------------------------------------------------------- heartbeat

/// The request queue's visibility timeout is 2 s and the tool runs 5 s: the server's
/// heartbeat keeps the message hidden, so it is received once and run once.
async fn heartbeat(era: Era) {
    let setup = setup(Topology::Sqs, era, false, Some(2)).await;
    let tools = tools();
    let server = start_server(&setup, tools.clone());
    let client = connect(&setup, Recorder::default()).await;

    // Let the handshake's trailing messages (`notifications/initialized`) arrive first.
    client.list_all_tools().await.expect("tools/list");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.stats();
    let done = client.call_tool(call("countdown", serde_json::json!({"from": 20}))).await.expect("countdown");
    assert_eq!(text(&done), "liftoff");
    // Past another visibility timeout: a message not kept hidden would be back by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = server.stats();

    assert_eq!(tools.countdowns().started, 1, "the tool ran more than once");
    assert_eq!(after.messages_received - before.messages_received, 1, "the request was redelivered: {after:?}");
    let heartbeats =
        (after.visibility_changes + after.visibility_batches) - (before.visibility_changes + before.visibility_batches);
    assert!(heartbeats >= 3, "expected a heartbeat about every second of the 5 s run, saw {heartbeats}: {after:?}");
    assert_eq!(after.in_flight, 0);

    client.cancel().await.expect("client close");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn heartbeat_outlives_visibility_timeout_modern() {
    heartbeat(Era::Modern).await;
}

#[tokio::test]
async fn heartbeat_outlives_visibility_timeout_legacy() {
    heartbeat(Era::Legacy).await;
}

// ---------------------------------------------------------------- stop and restart

/// Waits until `done` holds for the countdowns of `tools` (at most 20 s).
async fn wait_for(tools: &DemoTools, done: impl Fn(Countdowns) -> bool, what: &str) {
    for _ in 0..400 {
        if done(tools.countdowns()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A modern request whose server stops mid-request (drain shorter than the request, so
/// the request is released with visibility 0) is taken by a restarted server and
/// completes: nothing is lost.
#[tokio::test]
async fn modern_request_survives_a_server_restart() {
    let setup = setup(Topology::Sqs, Era::Modern, false, None).await;
    let tools = tools();
    let first = start_server(&setup, tools.clone());
    let client = connect(&setup, Recorder::default()).await;

    let peer = client.peer().clone();
    let pending = tokio::spawn(async move { peer.call_tool(call("countdown", serde_json::json!({"from": 8}))).await });
    wait_for(&tools, |c| c.started >= 1, "the first server to start the tool").await;
    first.shutdown(Duration::from_millis(100)).await;
    assert_eq!(tools.countdowns().finished, 0, "the request was still running when the first server stopped");

    let second = start_server(&setup, tools.clone());
    let result = tokio::time::timeout(Duration::from_secs(30), pending)
        .await
        .expect("the request completed after the restart")
        .expect("task")
        .expect("tools/call");
    assert_eq!(text(&result), "liftoff");
    let countdowns = tools.countdowns();
    assert_eq!(countdowns.started, 2, "the restarted server ran the redelivered request: {countdowns:?}");
    assert!(countdowns.finished >= 1, "{countdowns:?}");
    assert!(second.stats().messages_received >= 1);

    client.cancel().await.expect("client close");
    second.shutdown(Duration::from_secs(1)).await;
}

/// A legacy session's request redelivered to a restarted server (which does not know
/// the session) gets a clear "session not found" error at the client, not silence.
#[tokio::test]
async fn legacy_request_to_a_restarted_server_gets_session_not_found() {
    let setup = setup(Topology::Sqs, Era::Legacy, false, None).await;
    let tools = tools();
    let first = start_server(&setup, tools.clone());
    let client = connect(&setup, Recorder::default()).await;

    let peer = client.peer().clone();
    let pending = tokio::spawn(async move { peer.call_tool(call("countdown", serde_json::json!({"from": 8}))).await });
    wait_for(&tools, |c| c.started >= 1, "the first server to start the tool").await;
    first.shutdown(Duration::from_millis(100)).await;

    let second = start_server(&setup, tools.clone());
    let outcome = tokio::time::timeout(Duration::from_secs(30), pending)
        .await
        .expect("the client heard back after the restart")
        .expect("task");
    let error = outcome.expect_err("a session the new server does not know cannot succeed");
    let text = error.to_string();
    eprintln!("client sees: {text}");
    assert!(text.contains("session not found"), "{text}");
    assert_eq!(tools.countdowns().started, 1, "the restarted server must not run a request of an unknown session");

    client.cancel().await.expect("client close");
    second.shutdown(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------- missing queue

/// A server queue that does not exist: the rmcp call fails at once with an error that
/// names the queue and says how to create it.
async fn missing_queue(era: Era) {
    let mut setup = setup(Topology::Sqs, era, false, None).await;
    let missing = Moto::shared().queue_url(&unique_name("missing"));
    setup.client.server = Address::Queue(missing.clone());
    let transport =
        QueueClientTransport::spawn_with(setup.client.clone(), Arc::clone(&setup.queue), driver()).expect("client");
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        Recorder::default().serve_with_lifecycle(transport, lifecycle(era)),
    )
    .await
    .expect("the failure is reported, not waited out");
    let error = outcome.expect_err("nothing can be sent to a missing queue");
    let text = error.to_string();
    eprintln!("client sees: {text}");
    assert!(text.contains(&missing), "the error names the queue: {text}");
    assert!(text.contains("asyncmcp infra up"), "the error says how to create it: {text}");
}

#[tokio::test]
async fn missing_queue_is_a_clear_error_legacy() {
    missing_queue(Era::Legacy).await;
}

#[tokio::test]
async fn missing_queue_is_a_clear_error_modern() {
    missing_queue(Era::Modern).await;
}
