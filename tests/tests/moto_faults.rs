//! The fault tier on moto: the library's promise under real faults, in both eras
//! (legacy sessions, protocol 2025-11-25; stateless modern requests, 2026-07-28).
//!
//! - Outages: the server's AWS client reaches moto through a [`Relay`] that the test
//!   cuts (live connections reset, new ones refused) for 6 s or 25 s while calls are
//!   running and more are sent; then every call is answered with its own answer and
//!   the tool ran once per call. 25 s is longer than the whole retry budget of a
//!   reply (the core's `RetryPolicy`: 6 attempts, 200 ms doubling, at most about
//!   6 s of waits; the SDK's standard retry adds at most 3 attempts with backoff under
//!   1 s and 2 s to each), so the reply's send fails for good and only the rule that a
//!   request whose handling did not complete is handled again can save it.
//!   The same outage of the client's link: calls running on the server are answered
//!   once the client receives again; calls made during it end with their answer or a
//!   "could not be sent" error, never a timeout.
//! - Duplicates: 5 copies of one `tools/call` (same body and attributes, sent with the
//!   raw SQS SDK in one batch) reach the server; the tool runs once and every answer
//!   that comes back is the same.
//!
//! The other side talks to moto directly. The request queue's visibility timeout is
//! 10 s so that redeliveries come within the test's time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncmcp_tests::fault_rig::{RunLog, Tap, WorkTools, answer};
use asyncmcp_tests::moto::{Moto, sdk_config_for, unique_name};
use asyncmcp_tests::relay::Relay;
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, Era, ServerConfig};
use asyncmcp_tokio::rmcp::{QueueClientTransport, QueueServer};
use asyncmcp_tokio::{AwsAdmin, AwsQueueClient, DriverConfig, QueueSpec, ServerHandle};
use rmcp::model::{CallToolRequestParams, CallToolResult, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, Peer, RunningService};
use rmcp::{RoleClient, ServiceError};

/// The request queue's visibility timeout.
const VISIBILITY: Duration = Duration::from_secs(10);

/// How long a call may take once the link is back: a redelivery after the visibility
/// timeout, the tool's run and the reply, with room to spare.
const AFTER_RESTORE: Duration = Duration::from_secs(45);

// ---------------------------------------------------------------- set-up

/// One test's queues on moto, the server's and the client's SDK clients and
/// configurations.
struct Rig {
    server_queue: Arc<AwsQueueClient>,
    client_queue: Arc<AwsQueueClient>,
    server: ServerConfig,
    client: ClientConfig,
    sqs: aws_sdk_sqs::Client,
    requests: String,
    replies: String,
}

impl Rig {
    /// Queues of this test; the SDK client of `side` goes through `relay` when given.
    async fn new(era: Era, relay: Option<(&Relay, Side)>) -> Rig {
        let moto = Moto::shared();
        let direct = moto.sdk_config();
        let admin = AwsAdmin::new(&direct);
        let secs = u32::try_from(VISIBILITY.as_secs()).expect("seconds");
        let spec = QueueSpec { visibility_timeout_secs: Some(secs), ..QueueSpec::default() };
        let requests = admin.create_queue(&unique_name("fault-rq"), &spec).await.expect("request queue").url;
        let replies =
            admin.create_queue(&unique_name("fault-rp"), &QueueSpec::default()).await.expect("reply queue").url;
        let via = |side| match relay {
            Some((relay, cut)) if cut == side => sdk_config_for(&relay.endpoint()),
            _ => direct.clone(),
        };
        let mut server = ServerConfig::new(requests.clone(), AllowList::new().exact(&replies));
        server.visibility_timeout = VISIBILITY;
        let mut client = ClientConfig::new(
            Address::Queue(requests.clone()),
            Address::Queue(replies.clone()),
            replies.clone(),
            unique_name("fault-client"),
        );
        client.era = era;
        // The test's own bound decides when a call is lost, not the client's timeout.
        client.request_timeout = Duration::from_secs(180);
        Rig {
            server_queue: Arc::new(AwsQueueClient::new(&via(Side::Server))),
            client_queue: Arc::new(AwsQueueClient::new(&via(Side::Client))),
            server,
            client,
            sqs: aws_sdk_sqs::Client::new(&direct),
            requests,
            replies,
        }
    }

    /// Puts the test's raw-SDK taps between the client and the server: the client
    /// sends to one new queue and the server replies to another; the caller forwards
    /// them.
    async fn tapped(mut self) -> (Rig, String, String) {
        let admin = AwsAdmin::new(&Moto::shared().sdk_config());
        let to_server =
            admin.create_queue(&unique_name("fault-tap-rq"), &QueueSpec::default()).await.expect("queue").url;
        let to_client =
            admin.create_queue(&unique_name("fault-tap-rp"), &QueueSpec::default()).await.expect("queue").url;
        self.client.server = Address::Queue(to_server.clone());
        self.client.reply_to = Address::Queue(to_client.clone());
        self.server.allow_reply = AllowList::new().exact(&to_client);
        (self, to_server, to_client)
    }

    fn start_server(&self, tools: WorkTools) -> ServerHandle {
        let factory = move || tools.clone();
        let server = QueueServer::start_with(factory, self.server.clone(), Arc::clone(&self.server_queue), driver())
            .expect("server");
        let handle = server.handle();
        tokio::spawn(server.run());
        handle
    }

    async fn connect(&self) -> RunningService<RoleClient, ()> {
        let transport = QueueClientTransport::spawn_with(self.client.clone(), Arc::clone(&self.client_queue), driver())
            .expect("client");
        let lifecycle = match self.client.era {
            Era::Modern => ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
            _ => ClientLifecycleMode::Initialize,
        };
        ().serve_with_lifecycle(transport, lifecycle).await.expect("connect")
    }
}

/// Whose link to SQS the relay carries (and a cut breaks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

fn driver() -> DriverConfig {
    let mut driver = DriverConfig::default();
    driver.long_poll = Duration::from_secs(1);
    driver
}

fn work(key: &str, ms: u64) -> CallToolRequestParams {
    let args = serde_json::json!({"key": key, "ms": ms});
    let serde_json::Value::Object(args) = args else { unreachable!("an object") };
    CallToolRequestParams::new("work").with_arguments(args)
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.clone()).collect()
}

type Pending = tokio::task::JoinHandle<Result<CallToolResult, ServiceError>>;

fn spawn_call(peer: &Peer<RoleClient>, key: &str, ms: u64) -> Pending {
    let (peer, params) = (peer.clone(), work(key, ms));
    tokio::spawn(async move { peer.call_tool(params).await })
}

/// Waits until the tool has started `n` runs (at most 30 s).
async fn wait_for_runs(runs: &RunLog, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while runs.total() < n {
        assert!(Instant::now() < deadline, "the tool started {} runs, expected {n}", runs.total());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the server holds no request (at most `limit`); returns what it holds.
async fn wait_idle(server: &ServerHandle, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    loop {
        let in_flight = server.stats().in_flight;
        if in_flight == 0 || Instant::now() >= deadline {
            return in_flight;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every call's outcome by the deadline: its answer's text, or what went wrong.
async fn outcomes(calls: Vec<(String, Pending)>, deadline: Instant) -> Vec<(String, Result<String, String>)> {
    let mut out = Vec::new();
    for (key, call) in calls {
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = match tokio::time::timeout(left, call).await {
            Err(_) => Err("no answer (lost or stuck)".to_owned()),
            Ok(Err(e)) => Err(format!("task: {e}")),
            Ok(Ok(Err(e))) => Err(format!("error: {e}")),
            Ok(Ok(Ok(result))) => Ok(text(&result)),
        };
        out.push((key, outcome));
    }
    out
}

// ---------------------------------------------------------------- outages

/// Calls running on the server when the server's link to SQS goes down (their
/// replies are due mid-outage), and calls sent while it is down (they wait on the
/// request queue): after the link is back every one is answered with its own answer,
/// each ran once, and the server holds nothing.
async fn calls_survive_an_outage_of_the_servers_link(era: Era, outage: Duration) {
    let relay = Relay::start(Moto::shared().addr());
    let rig = Rig::new(era, Some((&relay, Side::Server))).await;
    let (outcomes, runs, in_flight) = calls_across_an_outage(&rig, &relay, outage).await;

    let wrong: Vec<_> = outcomes.iter().filter(|(key, outcome)| outcome.as_ref() != Ok(&answer(key))).collect();
    assert!(wrong.is_empty(), "calls not answered with their own answer after a {outage:?} outage: {wrong:#?}");
    let doubled: Vec<_> = runs.all().into_iter().filter(|(_, n)| *n != 1).collect();
    assert!(doubled.is_empty(), "the tool ran more than once for: {doubled:?}");
    assert_eq!(in_flight, 0, "the server still holds requests after every call was answered");
}

/// The same with the client's link cut: the calls running on the server are
/// answered once the client receives again; a call sent while the client cannot
/// reach SQS ends with its own answer or, past the send retries, with an error that
/// says it could not be sent; never a timeout (lost) or another call's answer.
async fn calls_survive_an_outage_of_the_clients_link(era: Era, outage: Duration) {
    let relay = Relay::start(Moto::shared().addr());
    let rig = Rig::new(era, Some((&relay, Side::Client))).await;
    let (outcomes, runs, in_flight) = calls_across_an_outage(&rig, &relay, outage).await;

    let bad: Vec<_> = outcomes
        .iter()
        .filter(|(key, outcome)| match outcome {
            Ok(text) => text != &answer(key),
            Err(e) => key.contains("-running-") || !e.contains("could not be sent"),
        })
        .collect();
    assert!(bad.is_empty(), "calls lost or wrongly answered after a {outage:?} outage of the client's link: {bad:#?}");
    for (key, outcome) in &outcomes {
        let n = runs.runs(key);
        let expected = if outcome.is_ok() { 1..=1 } else { 0..=1 };
        assert!(expected.contains(&n), "the tool ran {n} times for {key} ({outcome:?})");
    }
    assert_eq!(in_flight, 0, "the server still holds requests after every call ended");
}

/// Four calls that run 1.5 s; once all four run the relay is cut; four more calls are
/// made; after `outage` the relay is restored. Returns every call's outcome (within
/// [`AFTER_RESTORE`] of the restore), the tool's runs and what the server still holds
/// 10 s later.
async fn calls_across_an_outage(
    rig: &Rig,
    relay: &Relay,
    outage: Duration,
) -> (Vec<(String, Result<String, String>)>, RunLog, u64) {
    let era = rig.client.era;
    let tools = WorkTools::default();
    let runs = tools.runs.clone();
    let server = rig.start_server(tools);
    let client = rig.connect().await;
    let peer = client.peer().clone();
    let tag = unique_name(&format!("{era:?}-{}s", outage.as_secs()));

    let mut calls = Vec::new();
    for i in 0..4 {
        let key = format!("{tag}-running-{i}");
        calls.push((key.clone(), spawn_call(&peer, &key, 1500)));
    }
    wait_for_runs(&runs, 4).await;
    relay.cut();
    let cut_at = Instant::now();
    for i in 0..4 {
        let key = format!("{tag}-queued-{i}");
        calls.push((key.clone(), spawn_call(&peer, &key, 200)));
    }
    tokio::time::sleep(outage.saturating_sub(cut_at.elapsed())).await;
    relay.restore();
    let restored_at = Instant::now();

    let outcomes = outcomes(calls, restored_at + AFTER_RESTORE).await;
    let ended_in = restored_at.elapsed();
    let in_flight = wait_idle(&server, Duration::from_secs(10)).await;
    eprintln!(
        "{era:?} outage {outage:?}: calls ended within {ended_in:?} of the restore; relay {:?}; server {:?}; outcomes {outcomes:#?}",
        relay.stats(),
        server.stats()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), client.cancel()).await;
    server.shutdown(Duration::from_secs(1)).await;
    (outcomes, runs, in_flight)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_calls_survive_a_6s_outage_of_the_servers_link() {
    calls_survive_an_outage_of_the_servers_link(Era::Legacy, Duration::from_secs(6)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_calls_survive_a_6s_outage_of_the_servers_link() {
    calls_survive_an_outage_of_the_servers_link(Era::Modern, Duration::from_secs(6)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_calls_survive_a_25s_outage_of_the_servers_link() {
    calls_survive_an_outage_of_the_servers_link(Era::Legacy, Duration::from_secs(25)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_calls_survive_a_25s_outage_of_the_servers_link() {
    calls_survive_an_outage_of_the_servers_link(Era::Modern, Duration::from_secs(25)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_calls_survive_a_25s_outage_of_the_clients_link() {
    calls_survive_an_outage_of_the_clients_link(Era::Legacy, Duration::from_secs(25)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_calls_survive_a_25s_outage_of_the_clients_link() {
    calls_survive_an_outage_of_the_clients_link(Era::Modern, Duration::from_secs(25)).await;
}

// ---------------------------------------------------------------- duplicates

/// 5 copies of one `tools/call` reach the server together (same body, same message
/// attributes, as at-least-once delivery or a client's retry would send them): the
/// tool runs once, the caller gets the answer, and every reply the server sends for
/// it is the same.
async fn duplicates_run_once(era: Era) {
    let (rig, to_server, to_client) = Rig::new(era, None).await.tapped().await;
    let key = unique_name(&format!("{era:?}-dup"));
    let marker = format!("\"{key}\"");
    let requests =
        Tap::start(
            rig.sqs.clone(),
            to_server,
            rig.requests.clone(),
            move |body| {
                if body.contains(&marker) { 5 } else { 1 }
            },
        );
    let replies = Tap::start(rig.sqs.clone(), to_client, rig.replies.clone(), |_| 1);
    let tools = WorkTools::default();
    let runs = tools.runs.clone();
    let server = rig.start_server(tools);
    let client = rig.connect().await;

    let result = tokio::time::timeout(Duration::from_secs(60), client.peer().call_tool(work(&key, 300)))
        .await
        .expect("the call is answered")
        .expect("tools/call");
    // Room for the other copies to be handled (or dropped) before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let in_flight = wait_idle(&server, Duration::from_secs(10)).await;

    assert_eq!(text(&result), answer(&key));
    let copies: Vec<usize> = requests.seen().iter().filter(|t| t.body.contains(&key)).map(|t| t.copies).collect();
    assert_eq!(copies, [5], "the request went to the server as 5 copies");
    assert_eq!(runs.runs(&key), 1, "the tool ran once for 5 copies of one request");
    let answers: Vec<String> =
        replies.seen().into_iter().filter(|t| t.body.contains(&answer(&key))).map(|t| t.body).collect();
    eprintln!("{era:?}: {} replies carried the answer; server {:?}", answers.len(), server.stats());
    assert!(!answers.is_empty(), "a reply carried the answer");
    assert!(answers.iter().all(|a| a == &answers[0]), "the replies differ: {answers:#?}");
    assert_eq!(in_flight, 0, "the server still holds requests");

    let _ = tokio::time::timeout(Duration::from_secs(5), client.cancel()).await;
    server.shutdown(Duration::from_secs(1)).await;
    requests.stop().await;
    replies.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_duplicate_copies_of_a_request_run_once() {
    duplicates_run_once(Era::Legacy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_duplicate_copies_of_a_request_run_once() {
    duplicates_run_once(Era::Modern).await;
}
