//! rmcp servers and clients over the in-memory broker: both MCP eras, over sqs and
//! over sns-sqs (envelope and raw delivery). No AWS.
#![cfg(feature = "rmcp")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncmcp_tokio::proto::sim::QueueOptions;
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, Era, ServerConfig};
use asyncmcp_tokio::rmcp::demo::DemoTools;
use asyncmcp_tokio::rmcp::{QueueClientTransport, QueueServer};
use asyncmcp_tokio::{MemoryQueue, TokioRuntime};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientRequest, ErrorCode, ProgressNotificationParam, ProtocolVersion,
    Request,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, PeerRequestOptions, RunningService, ServiceError,
};
use rmcp::{ClientHandler, RoleClient, ServiceExt};

// ---------------------------------------------------------------- the server

/// The shared demo tools, counting down one step every 100 ms.
fn tools() -> DemoTools {
    DemoTools::new().with_step(Duration::from_millis(100))
}

// ---------------------------------------------------------------- the client

#[derive(Debug, Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(params);
    }
}

// ---------------------------------------------------------------- set-ups

#[derive(Debug, Clone, Copy)]
enum Topology {
    Sqs,
    SnsSqs { raw: bool },
}

struct Setup {
    queue: Arc<MemoryQueue<TokioRuntime>>,
    server: ServerConfig,
    client: ClientConfig,
}

fn setup(topology: Topology, era: Era) -> Setup {
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("mcp-requests", QueueOptions::default());
    let replies = queue.create_queue("mcp-replies-1", QueueOptions::default());
    let (to_server, reply_to) = match topology {
        Topology::Sqs => (Address::Queue(requests.clone()), Address::Queue(replies.clone())),
        Topology::SnsSqs { raw } => {
            let server_topic = queue.create_topic("mcp-requests");
            let client_topic = queue.create_topic("mcp-replies-1");
            queue.subscribe(&server_topic, &requests, raw).unwrap();
            queue.subscribe(&client_topic, &replies, raw).unwrap();
            (Address::Topic(server_topic), Address::Topic(client_topic))
        }
    };
    let server = ServerConfig::new(requests, AllowList::new().exact(reply_to.as_str()));
    let mut client = ClientConfig::new(to_server, reply_to, replies, "client-1");
    client.era = era;
    Setup { queue, server, client }
}

fn start_server(setup: &Setup) -> asyncmcp_tokio::ServerHandle {
    start_server_with(setup, tools())
}

fn start_server_with(setup: &Setup, tools: DemoTools) -> asyncmcp_tokio::ServerHandle {
    let factory = move || tools.clone();
    let server = QueueServer::start(factory, setup.server.clone(), Arc::clone(&setup.queue)).unwrap();
    let handle = server.handle();
    tokio::spawn(server.run());
    handle
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.clone()).collect()
}

fn call(name: &'static str, args: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name).with_arguments(args.as_object().unwrap().clone())
}

/// Lists, calls echo and add, runs the countdown with progress, and calls an
/// unknown tool: asserts every result.
async fn exercise(
    client: &RunningService<RoleClient, Recorder>,
    progress: &Arc<Mutex<Vec<ProgressNotificationParam>>>,
) {
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["add", "countdown", "echo"]);

    let echoed = client.call_tool(call("echo", serde_json::json!({"text": "hello over a queue"}))).await.unwrap();
    assert_eq!(text(&echoed), "hello over a queue");
    assert_ne!(echoed.is_error, Some(true));

    let sum = client.call_tool(call("add", serde_json::json!({"a": 40, "b": 2}))).await.unwrap();
    assert_eq!(text(&sum), "42");

    let done = client.call_tool(call("countdown", serde_json::json!({"from": 3}))).await.unwrap();
    assert_eq!(text(&done), "liftoff");
    // Progress travels as notifications on the same route; give the last one a moment.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let steps: Vec<f64> = progress.lock().unwrap().iter().map(|p| p.progress).collect();
    assert_eq!(steps, [1.0, 2.0, 3.0]);
    assert_eq!(progress.lock().unwrap()[2].message.as_deref(), Some("T-0"));

    match client.call_tool(call("no-such-tool", serde_json::json!({}))).await {
        Err(ServiceError::McpError(e)) => {
            assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{e:?}");
            assert_eq!(e.message, "tool not found");
        }
        Ok(r) => assert_eq!(r.is_error, Some(true), "{r:?}"),
        Err(other) => panic!("expected an MCP error, got {other:?}"),
    }
}

async fn legacy(topology: Topology) {
    let setup = setup(topology, Era::Legacy);
    let server = start_server(&setup);
    let recorder = Recorder::default();
    let progress = Arc::clone(&recorder.progress);
    let transport = QueueClientTransport::spawn(setup.client.clone(), Arc::clone(&setup.queue)).unwrap();
    let client = recorder.serve(transport).await.unwrap();
    let info = client.peer_info().unwrap();
    assert_eq!(info.protocol_version, ProtocolVersion::V_2025_11_25);
    assert!(info.capabilities.tools.is_some());

    exercise(&client, &progress).await;

    client.cancel().await.unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

async fn modern(topology: Topology, lifecycle: ClientLifecycleMode) {
    let setup = setup(topology, Era::Modern);
    let server = start_server(&setup);
    let recorder = Recorder::default();
    let progress = Arc::clone(&recorder.progress);
    let transport = QueueClientTransport::spawn(setup.client.clone(), Arc::clone(&setup.queue)).unwrap();
    let client = recorder.serve_with_lifecycle(transport, lifecycle).await.unwrap();
    assert!(client.peer_info().unwrap().capabilities.tools.is_some());

    exercise(&client, &progress).await;

    client.cancel().await.unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

fn discover() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
}

// ---------------------------------------------------------------- legacy era

#[tokio::test(start_paused = true)]
async fn legacy_sqs() {
    legacy(Topology::Sqs).await;
}

#[tokio::test(start_paused = true)]
async fn legacy_sns_sqs_envelope() {
    legacy(Topology::SnsSqs { raw: false }).await;
}

#[tokio::test(start_paused = true)]
async fn legacy_sns_sqs_raw() {
    legacy(Topology::SnsSqs { raw: true }).await;
}

// ---------------------------------------------------------------- modern era

#[tokio::test(start_paused = true)]
async fn modern_discover_sqs() {
    modern(Topology::Sqs, discover()).await;
}

#[tokio::test(start_paused = true)]
async fn modern_discover_sns_sqs_envelope() {
    modern(Topology::SnsSqs { raw: false }, discover()).await;
}

#[tokio::test(start_paused = true)]
async fn modern_discover_sns_sqs_raw() {
    modern(Topology::SnsSqs { raw: true }, discover()).await;
}

/// rmcp's plain `serve` sends `initialize` even to a modern-era transport: it is
/// answered on a session that is closed at once, and later requests are stateless.
#[tokio::test(start_paused = true)]
async fn modern_initialize_sqs() {
    modern(Topology::Sqs, ClientLifecycleMode::Initialize).await;
}

#[tokio::test(start_paused = true)]
async fn modern_initialize_sns_sqs_envelope() {
    modern(Topology::SnsSqs { raw: false }, ClientLifecycleMode::Initialize).await;
}

// ---------------------------------------------------------------- failures

/// `add` with a sum past `i64::MAX` (or below `i64::MIN`) answers an MCP error that
/// says so, in both eras, and the connection goes on.
async fn add_overflow(era: Era, lifecycle: ClientLifecycleMode) {
    let setup = setup(Topology::Sqs, era);
    let server = start_server(&setup);
    let transport = QueueClientTransport::spawn(setup.client.clone(), Arc::clone(&setup.queue)).unwrap();
    let client = Recorder::default().serve_with_lifecycle(transport, lifecycle).await.unwrap();

    for (a, b) in [(i64::MAX, 1), (i64::MIN, -1)] {
        match client.call_tool(call("add", serde_json::json!({"a": a, "b": b}))).await {
            Err(ServiceError::McpError(e)) => {
                assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{e:?}");
                assert!(e.message.contains("does not fit in a 64-bit integer"), "{e:?}");
            }
            other => panic!("{a} + {b}: expected an invalid_params error, got {other:?}"),
        }
    }
    let sum = client.call_tool(call("add", serde_json::json!({"a": i64::MAX - 1, "b": 1}))).await.unwrap();
    assert_eq!(text(&sum), i64::MAX.to_string());

    client.cancel().await.unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn add_overflow_is_an_mcp_error_modern() {
    add_overflow(Era::Modern, discover()).await;
}

#[tokio::test(start_paused = true)]
async fn add_overflow_is_an_mcp_error_legacy() {
    add_overflow(Era::Legacy, ClientLifecycleMode::Initialize).await;
}

/// No server: the request times out in the driver and the rmcp caller gets a
/// JSON-RPC error instead of waiting forever.
#[tokio::test(start_paused = true)]
async fn timeout_becomes_an_mcp_error() {
    let mut setup = setup(Topology::Sqs, Era::Modern);
    setup.client.request_timeout = Duration::from_secs(5);
    let transport = QueueClientTransport::spawn(setup.client.clone(), Arc::clone(&setup.queue)).unwrap();
    let started = tokio::time::Instant::now();
    let result = Recorder::default().serve_with_lifecycle(transport, discover()).await;
    let error = result.expect_err("nobody answers discover");
    assert!(error.to_string().contains("timed out"), "{error}");
    assert!(started.elapsed() >= Duration::from_secs(5));
}

// ---------------------------------------------------------------- cancellation

/// The client cancels a long countdown: the server's handler stops sending progress
/// and the request is acknowledged (deleted from the request queue), not left to
/// be redelivered.
async fn cancel_countdown(era: Era, lifecycle: ClientLifecycleMode) {
    let setup = setup(Topology::Sqs, era);
    let tools = tools();
    let server = start_server_with(&setup, tools.clone());
    let recorder = Recorder::default();
    let progress = Arc::clone(&recorder.progress);
    let transport = QueueClientTransport::spawn(setup.client.clone(), Arc::clone(&setup.queue)).unwrap();
    let client = recorder.serve_with_lifecycle(transport, lifecycle).await.unwrap();

    let request = ClientRequest::CallToolRequest(Request::new(call("countdown", serde_json::json!({"from": 100}))));
    let handle = client.send_cancellable_request(request, PeerRequestOptions::no_options()).await.unwrap();
    while progress.lock().unwrap().len() < 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.cancel(Some("bored".into())).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = progress.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(progress.lock().unwrap().len(), seen, "progress went on after the cancel");
    assert!(seen < 10, "{seen} progress notifications: the cancel came late");
    let countdowns = tools.countdowns();
    assert_eq!((countdowns.started, countdowns.cancelled, countdowns.finished), (1, 1, 0), "{countdowns:?}");

    let depth = setup.queue.queue_depth(&setup.server.queue_url).unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0), "the cancelled request is still on the queue");

    // The connection still works afterwards.
    let sum = client.call_tool(call("add", serde_json::json!({"a": 1, "b": 2}))).await.unwrap();
    assert_eq!(text(&sum), "3");
    client.cancel().await.unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn cancel_modern_request() {
    cancel_countdown(Era::Modern, discover()).await;
}

#[tokio::test(start_paused = true)]
async fn cancel_legacy_session_request() {
    cancel_countdown(Era::Legacy, ClientLifecycleMode::Initialize).await;
}

// ---------------------------------------------------------------- limits

/// A legacy session over the server's session cap is refused in its handshake; the
/// session already open keeps working.
#[tokio::test(start_paused = true)]
async fn a_legacy_session_over_the_cap_is_refused() {
    let mut setup = setup(Topology::Sqs, Era::Legacy);
    let replies_2 = setup.queue.create_queue("mcp-replies-2", QueueOptions::default());
    setup.server.allow_reply = AllowList::new().exact(setup.client.reply_to.as_str()).exact(replies_2.as_str());
    let mut limits = asyncmcp_tokio::fanout::Limits::default();
    limits.max_sessions = 1;
    let server = QueueServer::start(tools, setup.server.clone(), Arc::clone(&setup.queue)).unwrap();
    let handle = server.handle();
    tokio::spawn(server.with_limits(limits).run());
    let first = QueueClientTransport::spawn(setup.client.clone(), Arc::clone(&setup.queue)).unwrap();
    let first = Recorder::default().serve(first).await.unwrap();

    let config = ClientConfig::sqs(setup.server.queue_url.clone(), replies_2, "client-2");
    let second = QueueClientTransport::spawn(config, Arc::clone(&setup.queue)).unwrap();
    let refused = Recorder::default().serve(second).await;

    let error = refused.expect_err("a second session over a cap of one");
    assert!(error.to_string().contains("session slots"), "{error}");
    let sum = first.call_tool(call("add", serde_json::json!({"a": 1, "b": 2}))).await.unwrap();
    assert_eq!(text(&sum), "3");
    first.cancel().await.unwrap();
    handle.shutdown(Duration::from_secs(1)).await;
}
