//! The session fan-out over the in-memory broker: caps refuse, cancellations reach
//! their handler, closing a session ends its handler, and a stalled handler holds
//! up nobody else. Paused tokio time; no AWS.

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_tokio::fanout::{Fanout, Handler, Limits, Request, SERVER_BUSY, Session};
use asyncmcp_tokio::proto::sim::QueueOptions;
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, Era, JsonRpcMessage, RequestId, ServerConfig};
use asyncmcp_tokio::{ClientHandle, MemoryQueue, ServerHandle, TokioRuntime};
use serde_json::{Value, json};
use tokio::sync::watch;

/// Answers `initialize` and every request with its method; `stall` makes a session
/// stop reading; `hold` makes a request wait for its cancellation. Reports what it
/// saw through `seen`.
#[derive(Clone)]
struct Probe {
    seen: Arc<watch::Sender<Vec<String>>>,
}

impl Probe {
    fn new() -> (Self, watch::Receiver<Vec<String>>) {
        let (tx, rx) = watch::channel(Vec::new());
        (Self { seen: Arc::new(tx) }, rx)
    }

    fn saw(&self, what: impl Into<String>) {
        let what = what.into();
        self.seen.send_modify(|seen| seen.push(what));
    }
}

fn answer(message: &JsonRpcMessage) -> Option<JsonRpcMessage> {
    let id = message.id()?.clone();
    let result = match message.method()? {
        "initialize" => json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "serverInfo": {"name": "probe", "version": "0"},
        }),
        method => json!({"method": method}),
    };
    Some(JsonRpcMessage::response(id, result))
}

impl Handler for Probe {
    fn session(&self, mut session: Session) -> impl Future<Output = ()> + Send + 'static {
        let probe = self.clone();
        async move {
            probe.saw("session started");
            while let Some(message) = session.recv().await {
                if message.method() == Some("stall") {
                    probe.saw("session stalled");
                    std::future::pending::<()>().await;
                }
                if let Some(reply) = answer(&message) {
                    let _ = session.send(reply).await;
                }
            }
            probe.saw("session ended");
        }
    }

    fn request(&self, mut request: Request) -> impl Future<Output = ()> + Send + 'static {
        let probe = self.clone();
        async move {
            if request.message().method() == Some("hold") {
                probe.saw("holding");
                if let Some(note) = request.cancelled().await {
                    probe.saw(format!("cancelled: {}", note.to_value()["params"]["reason"]));
                    let _ = request.handle().abandon(request.route(), request.id().clone()).await;
                }
                return;
            }
            if let Some(reply) = answer(request.message()) {
                let _ = request.send(reply).await;
            }
        }
    }
}

struct Rig {
    queue: Arc<MemoryQueue<TokioRuntime>>,
    to_server: Address,
    server: ServerHandle,
    seen: watch::Receiver<Vec<String>>,
    clients: u32,
}

impl Rig {
    fn start(limits: Limits) -> Self {
        let queue = Arc::new(asyncmcp_tokio::memory_queue());
        let requests = queue.create_queue("requests", QueueOptions::default());
        let account = &requests[..=requests.rfind('/').unwrap()];
        let allow = AllowList::new().try_prefix(account).unwrap();
        let config = ServerConfig::new(requests.clone(), allow);
        let (server, events) = asyncmcp_tokio::spawn_server(config, Arc::clone(&queue)).unwrap();
        let (probe, seen) = Probe::new();
        tokio::spawn(Fanout::new(server.clone(), events, probe).with_limits(limits).run());
        Self { queue, to_server: Address::Queue(requests), server, seen, clients: 0 }
    }

    fn client(&mut self, era: Era) -> ClientHandle {
        self.clients += 1;
        let replies = self.queue.create_queue(&format!("replies-{}", self.clients), QueueOptions::default());
        let mut config = ClientConfig::sqs(self.to_server.as_str(), replies, format!("client-{}", self.clients));
        config.era = era;
        let (handle, mut events) = asyncmcp_tokio::spawn_client(config, Arc::clone(&self.queue)).unwrap();
        tokio::spawn(async move { while events.next().await.is_some() {} });
        handle
    }

    /// A legacy client with its session open.
    async fn session(&mut self) -> ClientHandle {
        let client = self.client(Era::Legacy);
        let reply = client.call("initialize", Some(initialize_params())).await.unwrap();
        assert!(reply.to_value().get("result").is_some(), "{}", reply.as_str());
        client
    }

    /// Waits until the handlers saw `what` (at most a virtual minute).
    async fn saw(&mut self, what: &str) {
        let waited = tokio::time::timeout(Duration::from_secs(60), self.seen.wait_for(|s| s.iter().any(|w| w == what)));
        assert!(waited.await.is_ok(), "the handlers never saw {what:?}; they saw {:?}", self.seen.borrow());
    }
}

fn initialize_params() -> Value {
    json!({
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    })
}

/// The error code of a response, if it is an error.
fn error_code(reply: &JsonRpcMessage) -> Option<i64> {
    reply.to_value()["error"]["code"].as_i64()
}

fn limits() -> Limits {
    Limits::default()
}

#[tokio::test(start_paused = true)]
async fn a_session_over_the_cap_is_refused() {
    let mut limits = limits();
    limits.max_sessions = 1;
    let mut rig = Rig::start(limits);
    let first = rig.session().await;

    let second = rig.client(Era::Legacy);
    let refused = second.call("initialize", Some(initialize_params())).await.unwrap();

    assert_eq!(error_code(&refused), Some(SERVER_BUSY), "{}", refused.as_str());
    assert!(refused.as_str().contains("session slots"), "{}", refused.as_str());
    let still = first.call("tools/list", None).await.unwrap();
    assert_eq!(still.to_value()["result"]["method"], "tools/list");
}

#[tokio::test(start_paused = true)]
async fn a_request_over_the_cap_is_refused() {
    let mut limits = limits();
    limits.max_requests = 1;
    let mut rig = Rig::start(limits);
    let client = rig.client(Era::Modern);
    let holder = client.clone();
    tokio::spawn(async move { holder.call("hold", None).await });
    rig.saw("holding").await;

    let refused = client.call("tools/list", None).await.unwrap();

    assert_eq!(error_code(&refused), Some(SERVER_BUSY), "{}", refused.as_str());
}

#[tokio::test(start_paused = true)]
async fn a_cancel_reaches_the_request_handler() {
    let mut rig = Rig::start(limits());
    let client = rig.client(Era::Modern);
    let id = RequestId::Number(7);
    let holder = client.clone();
    let held = tokio::spawn(async move { holder.request(JsonRpcMessage::request(id, "hold", None)).await });
    rig.saw("holding").await;

    client.cancel(RequestId::Number(7), Some("bored".to_owned())).await.unwrap();

    rig.saw("cancelled: \"bored\"").await;
    assert!(held.await.unwrap().is_err(), "a cancelled request has no answer");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let depth = rig.queue.queue_depth(rig.to_server.as_str()).unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0), "the cancelled request is still on the queue");
}

#[tokio::test(start_paused = true)]
async fn closing_a_session_ends_its_handler() {
    let mut rig = Rig::start(limits());
    let client = rig.session().await;
    rig.saw("session started").await;

    client.shutdown(Duration::from_secs(1)).await;

    rig.saw("session ended").await;
}

#[tokio::test(start_paused = true)]
async fn a_stalled_session_holds_up_nobody_else() {
    let mut limits = limits();
    limits.session_inbox = 2;
    let mut rig = Rig::start(limits);
    let stalled = rig.session().await;
    stalled.notify("stall", None).await.unwrap();
    rig.saw("session stalled").await;

    // Two requests fill the stalled session's inbox; the third is refused at once.
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let client = stalled.clone();
        waiting.push(tokio::spawn(async move { client.call("tools/list", None).await }));
    }
    let other = rig.client(Era::Modern);
    let served = tokio::time::timeout(Duration::from_secs(10), other.call("tools/list", None)).await;
    let refused = tokio::time::timeout(Duration::from_secs(10), stalled.call("tools/list", None)).await;

    let served = served.expect("a stalled session held up another client").unwrap();
    assert_eq!(served.to_value()["result"]["method"], "tools/list");
    let refused = refused.expect("a full inbox held up its request").unwrap();
    assert_eq!(error_code(&refused), Some(SERVER_BUSY), "{}", refused.as_str());
    assert!(waiting.iter().all(|w| !w.is_finished()), "the queued requests wait for their handler");
}

#[tokio::test(start_paused = true)]
async fn a_notification_that_finds_the_inbox_full_closes_the_session() {
    let mut limits = limits();
    limits.session_inbox = 1;
    let mut rig = Rig::start(limits);
    let stalled = rig.session().await;
    stalled.notify("stall", None).await.unwrap();
    rig.saw("session stalled").await;
    let client = stalled.clone();
    tokio::spawn(async move { client.call("tools/list", None).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rig.server.stats().sessions;

    stalled.notify("notifications/roots/list_changed", None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert_eq!((before, rig.server.stats().sessions), (1, 0), "the session was not closed");
}
