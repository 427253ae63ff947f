//! The Python interop tier: asyncmcp (Rust) against the real Python asyncmcp 0.2.1 and
//! the official Python `mcp` SDK, over a local moto server, in both directions and
//! over sqs, sns-sqs with envelopes, and sns-sqs with raw delivery.
//!
//! - Python server, Rust client: `tests/python/server.py` (the `mcp` low-level
//!   `Server` behind `SqsSessionManager` / `SnsSqsSessionManager`) answers our rmcp
//!   client over [`QueueClientTransport`] with its default (legacy era) handshake.
//! - Rust server, Python client: `tests/python/client.py` (`mcp.ClientSession` over
//!   `sqs_client` / `sns_sqs_client`) talks to our rmcp `#[tool]` server
//!   ([`QueueServer`]) and prints its results as JSON lines, asserted here.
//!
//! The harness (`asyncmcp_tests::python`) installs the pinned Python packages into a
//! venv under the target directory on first use; see its docs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncmcp_aws::{AwsAdmin, AwsQueueClient, QueueSpec};
use asyncmcp_driver::{BoxFuture, QueueClient, ReceiveRequest};
use asyncmcp_proto::attributes::{AttributeValue, Attributes, names};
use asyncmcp_proto::{
    Address, AllowList, ClientConfig, InboundMessage, OpFailure, OpId, OpKind, OpResult, QueueOp, SendOp, ServerConfig,
};
use asyncmcp_tests::moto::{Moto, unique_name};
use asyncmcp_tests::python::PyProcess;
use asyncmcp_tokio::rmcp::{QueueClientTransport, QueueServer};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolRequestParams, CallToolResult, ErrorCode, ProtocolVersion};
use rmcp::service::ServiceError;
use rmcp::{ErrorData, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde_json::{Value, json};

/// How large the big tool result is: about 100 KiB.
const BIG: usize = 100 * 1024;

/// What the big tool returns: the alphabet of `tests/python/common.py` cycled to
/// `size` characters (a quote, a backslash and a newline in it exercise escaping).
fn big_text(size: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789 \"\\\n";
    (0..size).map(|i| char::from(ALPHABET[i % ALPHABET.len()])).collect()
}

// ---------------------------------------------------------------- our rmcp server

#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct EchoArgs {
    /// What to echo.
    text: String,
}

#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct BigArgs {
    /// How many characters.
    size: usize,
}

#[derive(Debug, Clone, Default)]
struct Tools;

#[tool_router]
impl Tools {
    #[tool(description = "Echo the text back")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    #[tool(description = "A text of `size` characters")]
    fn big(&self, Parameters(BigArgs { size }): Parameters<BigArgs>) -> Result<String, ErrorData> {
        if size > 1024 * 1024 {
            return Err(ErrorData::invalid_params("size is at most 1 MiB", None));
        }
        Ok(big_text(size))
    }
}

#[tool_handler]
impl ServerHandler for Tools {}

// ---------------------------------------------------------------- queues and topics

#[derive(Debug, Clone, Copy)]
enum Topology {
    Sqs,
    SnsSqs { raw: bool },
}

impl Topology {
    /// The `--transport` of the Python scripts.
    fn transport(self) -> &'static str {
        match self {
            Topology::Sqs => "sqs",
            Topology::SnsSqs { .. } => "sns-sqs",
        }
    }
}

/// The queues (and topics) of one test: the server's request queue, the client's
/// reply queue, and the addresses each side sends to.
struct Net {
    moto: &'static Moto,
    server_queue: String,
    client_queue: String,
    /// Where the client sends: the request queue URL or the server's topic ARN.
    to_server: Address,
    /// Where the server replies: the reply queue URL or the client's topic ARN.
    reply_to: Address,
}

impl Net {
    async fn create(topology: Topology) -> Net {
        let moto = Moto::shared();
        let admin = AwsAdmin::new(&moto.sdk_config());
        let spec = QueueSpec::default();
        let server = admin.create_queue(&unique_name("py-srv"), &spec).await.expect("create the request queue");
        let client = admin.create_queue(&unique_name("py-cli"), &spec).await.expect("create the reply queue");
        let (to_server, reply_to) = match topology {
            Topology::Sqs => (Address::Queue(server.url.clone()), Address::Queue(client.url.clone())),
            Topology::SnsSqs { raw } => {
                let server_topic = admin.create_topic(&unique_name("py-srv-topic")).await.expect("create a topic");
                let client_topic = admin.create_topic(&unique_name("py-cli-topic")).await.expect("create a topic");
                admin.subscribe_queue(&server_topic, &server.arn, &server.url, raw).await.expect("subscribe");
                admin.subscribe_queue(&client_topic, &client.arn, &client.url, raw).await.expect("subscribe");
                (Address::Topic(server_topic), Address::Topic(client_topic))
            }
        };
        Net { moto, server_queue: server.url, client_queue: client.url, to_server, reply_to }
    }

    fn queue_client(&self) -> Arc<AwsQueueClient> {
        Arc::new(AwsQueueClient::new(&self.moto.sdk_config()))
    }

    fn recording(&self) -> Arc<Recording> {
        Arc::new(Recording { inner: self.queue_client(), log: Arc::default() })
    }
}

// ---------------------------------------------------------------- what crossed the wire

/// One message as it crossed the wire, seen from our side.
#[derive(Debug, Clone)]
struct Wire {
    /// Sent by us (true) or received by us (false).
    sent: bool,
    /// The JSON-RPC text exactly as on the wire (out of the SNS envelope if any).
    text: String,
    /// Message attributes: name -> (data type, value), from SQS or from the envelope.
    attributes: BTreeMap<String, (String, String)>,
    /// Whether it arrived inside an SNS envelope.
    envelope: bool,
}

impl Wire {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn attribute(&self, name: &str) -> Option<(&str, &str)> {
        self.attributes.get(name).map(|(t, v)| (t.as_str(), v.as_str()))
    }

    /// `-> initialize #0 [ClientId, MessageType, ...]`, for the test log.
    fn summary(&self) -> String {
        let v = self.json();
        let what = match (v.get("method").and_then(Value::as_str), v.get("id")) {
            (Some(m), Some(id)) => format!("request {m} id={id}"),
            (Some(m), None) => format!("notification {m}"),
            (None, id) if v.get("error").is_some() => format!("error id={} {}", id.unwrap_or(&Value::Null), v["error"]),
            (None, id) => format!("response id={}", id.unwrap_or(&Value::Null)),
        };
        let attributes: Vec<String> = self.attributes.iter().map(|(k, (t, _))| format!("{k}:{t}")).collect();
        format!(
            "{} {what} ({} bytes{}) [{}]",
            if self.sent { "->" } else { "<-" },
            self.text.len(),
            if self.envelope { ", in an SNS envelope" } else { "" },
            attributes.join(", ")
        )
    }
}

fn wire_out(send: &SendOp) -> Wire {
    let attributes = send.attributes.iter().map(|(k, a)| (k.clone(), (a.data_type.clone(), a.value.clone()))).collect();
    Wire { sent: true, text: String::from_utf8_lossy(&send.body).into_owned(), attributes, envelope: false }
}

fn wire_in(message: &InboundMessage) -> Wire {
    let body = String::from_utf8_lossy(&message.body).into_owned();
    let mut attributes: BTreeMap<String, (String, String)> =
        message.attributes.iter().map(|(k, a)| (k.clone(), (a.data_type.clone(), a.value.clone()))).collect();
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let (Some(_), Some(inner)) = (parsed.get("Type"), parsed.get("Message").and_then(Value::as_str)) {
        for (k, a) in parsed["MessageAttributes"].as_object().into_iter().flatten() {
            let (t, v) = (a["Type"].as_str().unwrap_or_default(), a["Value"].as_str().unwrap_or_default());
            attributes.entry(k.clone()).or_insert_with(|| (t.to_owned(), v.to_owned()));
        }
        return Wire { sent: false, text: inner.to_owned(), attributes, envelope: true };
    }
    Wire { sent: false, text: body, attributes, envelope: false }
}

/// A [`QueueClient`] that records every message sent and received through it.
#[derive(Debug, Clone)]
struct Recording {
    inner: Arc<AwsQueueClient>,
    log: Arc<Mutex<Vec<Wire>>>,
}

impl Recording {
    fn record_op(&self, op: &QueueOp) {
        if let OpKind::Send(send) = &op.kind {
            self.log.lock().expect("log").push(wire_out(send));
        }
    }

    fn wire(&self) -> Vec<Wire> {
        self.log.lock().expect("log").clone()
    }
}

impl QueueClient for Recording {
    fn receive(&self, request: ReceiveRequest) -> BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>> {
        let inner = self.inner.receive(request);
        let log = Arc::clone(&self.log);
        Box::pin(async move {
            let messages = inner.await?;
            log.lock().expect("log").extend(messages.iter().map(wire_in));
            Ok(messages)
        })
    }

    fn execute(&self, op: QueueOp) -> BoxFuture<'static, OpResult> {
        self.record_op(&op);
        self.inner.execute(op)
    }

    fn execute_batch(&self, ops: Vec<QueueOp>) -> BoxFuture<'static, Vec<(OpId, OpResult)>> {
        ops.iter().for_each(|op| self.record_op(op));
        self.inner.execute_batch(ops)
    }

    fn batches(&self) -> bool {
        self.inner.batches()
    }
}

/// Prints what crossed the wire (shown with `--nocapture`, and on failure).
fn print_wire(title: &str, wire: &[Wire]) {
    eprintln!("{title}:");
    for w in wire {
        eprintln!("  {}", w.summary());
    }
}

/// Checks what every combination must show: every message is one JSON-RPC object,
/// every message Python sent carries `MessageType=jsonrpc` and `Timestamp` as a
/// Number, and the SNS envelope is there exactly when it should be.
fn check_common(wire: &[Wire], topology: Topology) {
    for w in wire {
        let v = w.json();
        assert_eq!(v["jsonrpc"], "2.0", "{}", w.text);
        assert_eq!(w.attribute(names::MESSAGE_TYPE), Some(("String", "jsonrpc")), "{}", w.summary());
        let (kind, value) = w.attribute(names::TIMESTAMP).unwrap_or_else(|| panic!("no Timestamp: {}", w.summary()));
        assert_eq!(kind, "Number", "{}", w.summary());
        assert!(value.parse::<u64>().is_ok_and(|t| t > 1_700_000_000), "Timestamp {value}");
        if !w.sent {
            assert_eq!(w.envelope, matches!(topology, Topology::SnsSqs { raw: false }), "{}", w.summary());
        }
    }
}

/// Waits (without blocking the runtime, which also runs our side) until `process`
/// prints a line starting with `prefix`.
async fn wait_line(process: &mut PyProcess, prefix: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        match process.check_line(prefix, deadline) {
            Ok(Some(line)) => return line,
            Ok(None) => tokio::time::sleep(Duration::from_millis(25)).await,
            Err(e) => panic!("{e}"),
        }
    }
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.clone()).collect()
}

fn call(name: &'static str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name).with_arguments(args.as_object().cloned().unwrap_or_default())
}

// ---------------------------------------------------------------- Python server, Rust client

async fn start_python_server(net: &Net, topology: Topology) -> PyProcess {
    let mut server = PyProcess::spawn(
        "server.py",
        &["--endpoint", &net.moto.endpoint, "--transport", topology.transport(), "--queue-url", &net.server_queue],
    );
    wait_line(&mut server, "READY", Duration::from_secs(60)).await;
    server
}

fn rust_client_config(net: &Net) -> ClientConfig {
    let mut config = ClientConfig::new(net.to_server.clone(), net.reply_to.clone(), &net.client_queue, "rust-client");
    config.request_timeout = Duration::from_secs(30);
    config
}

async fn python_server_rust_client(topology: Topology) {
    let started = Instant::now();
    let net = Net::create(topology).await;
    let server = start_python_server(&net, topology).await;
    let recording = net.recording();

    // initialize + notifications/initialized, with the default handshake fields.
    let transport =
        QueueClientTransport::spawn(rust_client_config(&net), Arc::clone(&recording)).expect("client config");
    let client = ().serve(transport).await.unwrap_or_else(|e| panic!("initialize failed: {e}\n{}", server.logs()));
    let info = client.peer_info().expect("the server's initialize result");
    let name = info.server_info.as_ref().map(|i| i.name.as_str());
    assert_eq!(name, Some("py-interop-server"), "{}", server.logs());
    assert_eq!(info.protocol_version, ProtocolVersion::V_2025_11_25);
    assert!(info.capabilities.tools.is_some());

    // tools/list
    let tools = client.list_all_tools().await.unwrap_or_else(|e| panic!("tools/list: {e}\n{}", server.logs()));
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["big", "echo", "slow"]);

    // tools/call of both tools
    let echoed = client.call_tool(call("echo", json!({"text": "hello from rust"}))).await.expect("echo");
    assert_eq!(text(&echoed), "hello from rust");
    assert_ne!(echoed.is_error, Some(true));
    let big = client.call_tool(call("big", json!({"size": BIG}))).await.expect("big");
    assert_eq!(text(&big).len(), BIG);
    assert!(text(&big) == big_text(BIG), "the big result differs");

    // An unknown tool: Python's low-level Server reports tool failures in the result
    // (isError), as MCP says tools should.
    let unknown = client.call_tool(call("no-such-tool", json!({}))).await.expect("an isError result");
    assert_eq!(unknown.is_error, Some(true), "{unknown:?}");
    assert_eq!(text(&unknown), "Unknown tool: no-such-tool");

    // A method the server does not serve: a JSON-RPC error, surfaced as one.
    match client.list_resources(None).await {
        Err(ServiceError::McpError(e)) => assert_eq!(e.code, ErrorCode::METHOD_NOT_FOUND, "{e:?}"),
        other => panic!("expected method not found, got {other:?}"),
    }

    client.cancel().await.expect("close");
    let elapsed = started.elapsed();
    let wire = recording.wire();
    print_wire(&format!("{topology:?}: python server, rust client ({elapsed:?})"), &wire);
    check_common(&wire, topology);
    check_rust_client_wire(&wire, &net);
}

/// Our client's side of a session with the Python server.
fn check_rust_client_wire(wire: &[Wire], net: &Net) {
    let sent: Vec<&Wire> = wire.iter().filter(|w| w.sent).collect();
    let received: Vec<&Wire> = wire.iter().filter(|w| !w.sent).collect();
    let methods: Vec<String> = sent.iter().filter_map(|w| w.json()["method"].as_str().map(str::to_owned)).collect();
    let want = ["initialize", "notifications/initialized", "tools/list", "tools/call", "resources/list"];
    for m in want {
        assert!(methods.iter().any(|x| x == m), "{m} never sent: {methods:?}");
    }
    assert_eq!(methods[0], "initialize");
    assert_eq!(methods.iter().filter(|m| *m == "tools/call").count(), 3, "{methods:?}");

    // The handshake: the reply address in both the 0.2.1 field and `_meta`.
    let init = sent[0].json();
    let (field, meta) = match &net.reply_to {
        Address::Topic(_) => ("client_topic_arn", "clientTopicArn"),
        _ => ("response_queue_url", "responseQueueUrl"),
    };
    assert_eq!(init["params"][field], net.reply_to.as_str(), "{init}");
    assert_eq!(init["params"]["_meta"][meta], net.reply_to.as_str(), "{init}");
    assert_eq!(sent[0].attribute(names::SESSION_ID), None);

    // Python minted the session id and sends it on everything; we adopted it.
    let session = received
        .iter()
        .find(|w| w.json()["id"] == init["id"])
        .and_then(|w| w.attribute(names::SESSION_ID))
        .map(|(_, v)| v.to_owned())
        .expect("the initialize response carries SessionId");
    assert!(session.len() == 32 && session.bytes().all(|b| b.is_ascii_hexdigit()), "{session}");
    for w in &received {
        assert_eq!(w.attribute(names::SESSION_ID).map(|(_, v)| v), Some(session.as_str()), "{}", w.summary());
    }
    for w in &sent[1..] {
        assert_eq!(w.attribute(names::SESSION_ID).map(|(_, v)| v), Some(session.as_str()), "{}", w.summary());
    }
    // The big result crossed as one message (no fragments towards or from Python).
    assert!(received.iter().any(|w| w.text.len() > BIG), "no message over {BIG} bytes arrived");
    assert!(wire.iter().all(|w| w.attribute(names::EXT).is_none_or(|(_, v)| !v.contains("frag="))));
}

#[tokio::test]
async fn python_server_rust_client_sqs() {
    python_server_rust_client(Topology::Sqs).await;
}

#[tokio::test]
async fn python_server_rust_client_sns_sqs_envelope() {
    python_server_rust_client(Topology::SnsSqs { raw: false }).await;
}

#[tokio::test]
async fn python_server_rust_client_sns_sqs_raw() {
    python_server_rust_client(Topology::SnsSqs { raw: true }).await;
}

/// Python answers a malformed message on a session with an error whose id is
/// `"server-error"`: our client ends the session's oldest pending request with it,
/// instead of leaving that request to time out.
#[tokio::test]
async fn python_server_error_id_ends_the_oldest_pending_request() {
    let net = Net::create(Topology::Sqs).await;
    let mut server = start_python_server(&net, Topology::Sqs).await;
    let queue = net.queue_client();
    let transport = QueueClientTransport::spawn(rust_client_config(&net), Arc::clone(&queue)).expect("client config");
    let client = ().serve(transport).await.unwrap_or_else(|e| panic!("initialize failed: {e}\n{}", server.logs()));

    // A request that stays pending for a while; the server prints the session id.
    let peer = client.peer().clone();
    let slow = tokio::spawn(async move { peer.call_tool(call("slow", json!({"seconds": 20}))).await });
    let line = wait_line(&mut server, "SESSION ", Duration::from_secs(30)).await;
    let session = line.trim_start_matches("SESSION ").trim().to_owned();

    // A body Python cannot parse, on that session.
    let mut attributes = Attributes::new();
    attributes.insert(names::MESSAGE_TYPE.into(), AttributeValue::string("jsonrpc"));
    attributes.insert(names::SESSION_ID.into(), AttributeValue::string(session));
    attributes.insert(names::TIMESTAMP.into(), AttributeValue::number(1_795_709_492u64));
    let op = QueueOp {
        id: OpId(1),
        kind: OpKind::Send(SendOp {
            to: net.to_server.clone(),
            body: "{not json".into(),
            attributes,
            group_id: None,
            dedup_id: None,
            offload: None,
        }),
    };
    assert_eq!(queue.execute(op).await, OpResult::Ok);

    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(15), slow).await.expect("the slow call still waits");
    match outcome.expect("the call task") {
        Err(ServiceError::McpError(e)) => {
            assert_eq!(e.code, ErrorCode::PARSE_ERROR, "{e:?}");
            assert!(e.message.starts_with("Parse error"), "{e:?}");
        }
        other => panic!("expected Python's parse error, got {other:?}\n{}", server.logs()),
    }
    assert!(started.elapsed() < Duration::from_secs(15));

    // The session still works.
    let echoed = client.call_tool(call("echo", json!({"text": "still here"}))).await.expect("echo");
    assert_eq!(text(&echoed), "still here");
    client.cancel().await.expect("close");
}

// ---------------------------------------------------------------- Rust server, Python client

/// The JSON line the Python client printed for `step`.
fn step<'a>(lines: &'a [Value], step: &str) -> &'a Value {
    lines.iter().find(|l| l["step"] == step).unwrap_or_else(|| panic!("no {step} in {lines:?}"))
}

async fn rust_server_python_client(topology: Topology) {
    let started = Instant::now();
    let net = Net::create(topology).await;
    let config = ServerConfig::new(&net.server_queue, AllowList::new().exact(net.reply_to.as_str()));
    let recording = net.recording();
    let server = QueueServer::start(|| Tools, config, Arc::clone(&recording)).expect("server config");
    let handle = server.handle();
    let serving = tokio::spawn(server.run());

    let big = BIG.to_string();
    let mut args = vec![
        "--endpoint",
        &net.moto.endpoint,
        "--transport",
        topology.transport(),
        "--server",
        net.to_server.as_str(),
        "--reply-queue-url",
        &net.client_queue,
        "--big-size",
        &big,
    ];
    if let Address::Topic(arn) = &net.reply_to {
        args.extend(["--reply-topic-arn", arn.as_str()]);
    }
    let mut client = PyProcess::spawn("client.py", &args);
    wait_line(&mut client, "DONE", Duration::from_secs(90)).await;
    let lines: Vec<Value> = client
        .stdout()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let logs = client.logs();

    let init = &step(&lines, "initialize")["result"];
    assert_eq!(init["protocolVersion"], "2025-11-25", "{logs}");
    assert!(init["capabilities"]["tools"].is_object(), "{init}");

    let tools = step(&lines, "tools/list")["result"]["tools"].as_array().cloned().unwrap_or_default();
    let mut names: Vec<_> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["big", "echo"], "{logs}");

    let echo = &step(&lines, "echo")["result"];
    assert_eq!(echo["content"][0]["text"], "hello from python", "{echo}");
    assert_ne!(echo["isError"], true);

    let big_result = &step(&lines, "big")["result"];
    let got = big_result["content"][0]["text"].as_str().unwrap_or_default();
    assert_eq!(got.len(), BIG, "{logs}");
    assert!(got == big_text(BIG), "the big result differs");

    // rmcp answers an unknown tool with a JSON-RPC error; Python raises McpError.
    let unknown = &step(&lines, "unknown")["error"];
    assert_eq!(unknown["code"], ErrorCode::INVALID_PARAMS.0, "{unknown}");
    assert_eq!(unknown["message"], "tool not found", "{unknown}");

    let status = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = client.exited() {
                break status;
            }
            assert!(Instant::now() < deadline, "the Python client did not exit\n{logs}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    assert!(status.success(), "{status}\n{logs}");
    handle.shutdown(Duration::from_secs(1)).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    let elapsed = started.elapsed();
    let wire = recording.wire();
    print_wire(&format!("{topology:?}: rust server, python client ({elapsed:?})"), &wire);
    check_common(&wire, topology);
    check_rust_server_wire(&wire, &net);
}

/// Our server's side of a session with the Python client.
fn check_rust_server_wire(wire: &[Wire], net: &Net) {
    let sent: Vec<&Wire> = wire.iter().filter(|w| w.sent).collect();
    let received: Vec<&Wire> = wire.iter().filter(|w| !w.sent).collect();
    let methods: Vec<String> = received.iter().filter_map(|w| w.json()["method"].as_str().map(str::to_owned)).collect();
    assert_eq!(
        methods,
        ["initialize", "notifications/initialized", "tools/list", "tools/call", "tools/call", "tools/call"]
    );

    // Python 0.2.1's handshake: json.dumps separators, the reply address in params
    // only, no session id, no ReplyTo.
    let init = received[0];
    assert!(init.text.starts_with(r#"{"method": "initialize", "params": {"#), "{}", init.text);
    let field = match &net.reply_to {
        Address::Topic(_) => "client_topic_arn",
        _ => "response_queue_url",
    };
    assert_eq!(init.json()["params"][field], net.reply_to.as_str());
    assert!(init.json()["params"].get("_meta").is_none());
    assert_eq!(init.attribute(names::SESSION_ID), None);
    assert_eq!(init.attribute(names::REPLY_TO), None);
    assert_eq!(init.attribute(names::CLIENT_ID), Some(("String", "py-client")));
    // Everything else compact.
    assert!(received[1..].iter().all(|w| !w.text.contains("\": ")), "Python sent a non-compact message");

    // We minted the session id; Python adopted it from the initialize response and
    // sent it on everything after.
    let session = sent[0].attribute(names::SESSION_ID).map(|(_, v)| v.to_owned()).expect("SessionId on our answer");
    for w in sent.iter().chain(&received[1..]) {
        assert_eq!(w.attribute(names::SESSION_ID).map(|(_, v)| v), Some(session.as_str()), "{}", w.summary());
    }
    assert!(sent.iter().any(|w| w.text.len() > BIG), "no message over {BIG} bytes was sent");
    assert!(sent.iter().all(|w| w.attribute(names::EXT).is_none_or(|(_, v)| !v.contains("frag="))));
}

#[tokio::test]
async fn rust_server_python_client_sqs() {
    rust_server_python_client(Topology::Sqs).await;
}

#[tokio::test]
async fn rust_server_python_client_sns_sqs_envelope() {
    rust_server_python_client(Topology::SnsSqs { raw: false }).await;
}

#[tokio::test]
async fn rust_server_python_client_sns_sqs_raw() {
    rust_server_python_client(Topology::SnsSqs { raw: true }).await;
}
