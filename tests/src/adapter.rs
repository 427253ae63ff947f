//! Scenarios through the real driver over `MemoryQueue`, written once and generic
//! over the runtime: each adapter crate's tests call them with its own runtime.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncmcp_driver::{
    ClientEvents, ClientHandle, DriverConfig, MemoryQueue, RequestError, Runtime, ServerEvents, ServerHandle,
    spawn_client, spawn_server,
};
use asyncmcp_proto::sim::{Faults, QueueOptions, SimConfig, echo_responder};
use asyncmcp_proto::{
    Address, AllowList, ClientConfig, ClientEvent, Era, JsonRpcMessage, MessageKind, RequestId, ServerConfig,
    ServerEvent,
};

/// How the two sides reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Queues only.
    Sqs,
    /// Topics with queues subscribed; `true` for raw delivery.
    SnsSqs(bool),
}

/// A broker with a request queue and a reply queue (and topics for sns-sqs).
pub struct Rig<R: Runtime + Clone> {
    /// The runtime under test.
    pub runtime: R,
    /// The in-memory broker.
    pub queue: Arc<MemoryQueue<R>>,
    /// The server's queue.
    pub requests: String,
    /// The client's queue.
    pub replies: String,
    server_address: Address,
    client_address: Address,
    /// Visibility timeout of both queues.
    pub visibility: Duration,
}

/// What the echo server application saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every event, in order.
    pub events: Vec<ServerEvent>,
}

impl Seen {
    /// How many times a request with this method and id reached the application.
    pub fn deliveries(&self, method: &str, id: &RequestId) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, ServerEvent::Message { message, .. } if message.method() == Some(method) && message.id() == Some(id)))
            .count()
    }

    /// Notifications with this method that reached the application.
    pub fn notifications(&self, method: &str) -> Vec<JsonRpcMessage> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Message { message, .. }
                    if message.kind() == MessageKind::Notification && message.method() == Some(method) =>
                {
                    Some(message.clone())
                }
                _ => None,
            })
            .collect()
    }
}

impl<R: Runtime + Clone> Rig<R> {
    /// A rig with `faults` and queues whose visibility timeout is `visibility`.
    pub fn new(runtime: R, transport: Transport, faults: Faults, visibility: Duration) -> Self {
        let queue = Arc::new(MemoryQueue::with_config(
            Arc::new(runtime.clone()),
            SimConfig { faults, ..SimConfig::default() },
            [9; 32],
        ));
        let options = QueueOptions { visibility_timeout: visibility, ..QueueOptions::default() };
        let requests = queue.create_queue("requests", options.clone());
        let replies = queue.create_queue("replies", options);
        let (server_address, client_address) = match transport {
            Transport::Sqs => (Address::Queue(requests.clone()), Address::Queue(replies.clone())),
            Transport::SnsSqs(raw) => {
                let st = queue.create_topic("server");
                let ct = queue.create_topic("client");
                queue.subscribe(&st, &requests, raw).unwrap();
                queue.subscribe(&ct, &replies, raw).unwrap();
                (Address::Topic(st), Address::Topic(ct))
            }
        };
        Self { runtime, queue, requests, replies, server_address, client_address, visibility }
    }

    /// A client configuration for this rig.
    pub fn client_config(&self, era: Era) -> ClientConfig {
        let mut c =
            ClientConfig::new(self.server_address.clone(), self.client_address.clone(), self.replies.clone(), "rig");
        c.era = era;
        c
    }

    /// Starts a client with `config`.
    pub fn client(&self, config: ClientConfig) -> (ClientHandle, ClientEvents) {
        self.client_with(config, fast_driver())
    }

    /// Starts a client with `config` and driver options `driver`.
    pub fn client_with(&self, config: ClientConfig, driver: DriverConfig) -> (ClientHandle, ClientEvents) {
        spawn_client(config, self.runtime.clone(), Arc::clone(&self.queue), driver).unwrap()
    }

    /// Starts a server that allows the rig's reply addresses.
    pub fn server(&self) -> (ServerHandle, ServerEvents) {
        self.server_with(fast_driver())
    }

    /// Starts a server that allows the rig's reply addresses, with driver options
    /// `driver`.
    pub fn server_with(&self, driver: DriverConfig) -> (ServerHandle, ServerEvents) {
        spawn_server(self.server_config(), self.runtime.clone(), Arc::clone(&self.queue), driver).unwrap()
    }

    /// The configuration of [`server`](Self::server): the rig's request queue, its
    /// reply address allowed, its visibility timeout.
    pub fn server_config(&self) -> ServerConfig {
        let mut config = ServerConfig::new(self.requests.clone(), AllowList::new().exact(self.client_address.as_str()));
        config.visibility_timeout = self.visibility;
        config
    }

    /// Starts a server whose application answers every request like
    /// [`echo_responder`], after `delay`; returns its handle and what it saw.
    pub fn echo_server(&self, delay: Duration) -> (ServerHandle, Arc<Mutex<Seen>>) {
        self.echo_server_with(delay, |_| {})
    }

    /// [`echo_server`](Self::echo_server) with its configuration adjusted by `configure`.
    ///
    /// # Panics
    /// If the driver refuses the configuration.
    pub fn echo_server_with(
        &self,
        delay: Duration,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> (ServerHandle, Arc<Mutex<Seen>>) {
        let mut config = self.server_config();
        configure(&mut config);
        let (handle, mut events) =
            spawn_server(config, self.runtime.clone(), Arc::clone(&self.queue), fast_driver()).unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (h, s, rt) = (handle.clone(), Arc::clone(&seen), self.runtime.clone());
        self.runtime.spawn(Box::pin(async move {
            while let Some(event) = events.next().await {
                if let ServerEvent::Message { route, message } = &event
                    && message.kind() == MessageKind::Request
                    && let Some(answer) = echo_responder(route, message)
                {
                    let (h, rt, route) = (h.clone(), rt.clone(), route.clone());
                    let rt2 = rt.clone();
                    rt.spawn(Box::pin(async move {
                        rt2.sleep_until(rt2.now() + delay).await;
                        let _ = h.submit(route, answer).await;
                    }));
                }
                s.lock().unwrap().events.push(event);
            }
        }));
        (handle, seen)
    }
}

/// Driver options for tests: short long polls keep simulated runs short.
pub fn fast_driver() -> DriverConfig {
    let mut d = DriverConfig::default();
    d.long_poll = Duration::from_secs(1);
    d
}

fn init_params() -> serde_json::Value {
    serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "rig", "version": "0"}})
}

fn echo_call(text: &str) -> serde_json::Value {
    serde_json::json!({"name": "echo", "arguments": {"text": text}})
}

fn text_of(response: &JsonRpcMessage) -> String {
    response.to_value()["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

/// Legacy era: `initialize` opens a session, then a tool call, over `transport`.
pub async fn legacy_handshake<R: Runtime + Clone>(runtime: R, transport: Transport) {
    let rig = Rig::new(runtime, transport, Faults::default(), Duration::from_secs(30));
    let (_server, seen) = rig.echo_server(Duration::ZERO);
    let (client, _events) = rig.client(rig.client_config(Era::Legacy));
    let init = client.call("initialize", Some(init_params())).await.unwrap();
    assert_eq!(init.to_value()["result"]["serverInfo"]["name"], "sim-echo");
    client.notify("notifications/initialized", None).await.unwrap();
    let answer = client.call("tools/call", Some(echo_call("over the driver"))).await.unwrap();
    assert_eq!(text_of(&answer), "over the driver");
    client.shutdown(Duration::from_secs(5)).await;
    let seen = seen.lock().unwrap();
    assert!(seen.events.iter().any(|e| matches!(e, ServerEvent::SessionOpened { .. })));
    assert!(seen.events.iter().any(|e| matches!(e, ServerEvent::Message { route: asyncmcp_proto::Route::Session(_), message } if message.method() == Some("tools/call"))));
    assert_eq!(seen.notifications("notifications/initialized").len(), 1);
    let stats = client.stats();
    assert!(stats.total_calls() > 0 && stats.failed_calls == 0, "{stats:?}");
}

/// Modern era: no handshake; `server/discover` and a tool call as stateless requests.
pub async fn modern_requests<R: Runtime + Clone>(runtime: R, transport: Transport) {
    let rig = Rig::new(runtime, transport, Faults::default(), Duration::from_secs(30));
    let (_server, seen) = rig.echo_server(Duration::ZERO);
    let (client, _events) = rig.client(rig.client_config(Era::Modern));
    let discover = client.call("server/discover", None).await.unwrap();
    assert!(discover.to_value()["result"]["supportedVersions"].is_array());
    let answer = client.call("tools/call", Some(echo_call("stateless"))).await.unwrap();
    assert_eq!(text_of(&answer), "stateless");
    let seen = seen.lock().unwrap();
    assert!(!seen.events.iter().any(|e| matches!(e, ServerEvent::SessionOpened { .. })));
    assert!(
        seen.events.iter().all(|e| !matches!(e, ServerEvent::Message { route: asyncmcp_proto::Route::Session(_), .. }))
    );
}

/// Every message stored twice: each request reaches the application once and is
/// answered once.
pub async fn duplicates<R: Runtime + Clone>(runtime: R) {
    let faults = Faults { duplicate: 1.0, ..Faults::default() };
    let rig = Rig::new(runtime, Transport::Sqs, faults, Duration::from_secs(30));
    let (_server, seen) = rig.echo_server(Duration::ZERO);
    let (client, mut events) = rig.client(rig.client_config(Era::Modern));
    for i in 0..5 {
        let answer = client.call("tools/call", Some(echo_call(&format!("m{i}")))).await.unwrap();
        assert_eq!(text_of(&answer), format!("m{i}"));
    }
    client.shutdown(Duration::from_secs(5)).await;
    for i in 1..=5 {
        assert_eq!(seen.lock().unwrap().deliveries("tools/call", &RequestId::Number(i)), 1, "request {i}");
    }
    let mut duplicate_rejections = 0;
    while let Some(e) = events.next().await {
        if matches!(e, ClientEvent::Rejected(_)) {
            duplicate_rejections += 1;
        }
    }
    assert!(duplicate_rejections >= 5, "each duplicated response is reported: {duplicate_rejections}");
}

/// Random delivery order and delays: many concurrent calls, each answered once.
pub async fn reordering<R: Runtime + Clone>(runtime: R) {
    let faults = Faults { reorder: true, max_delay: Duration::from_millis(300), ..Faults::default() };
    let rig = Rig::new(runtime, Transport::Sqs, faults, Duration::from_secs(30));
    let (_server, seen) = rig.echo_server(Duration::ZERO);
    let (client, _events) = rig.client(rig.client_config(Era::Modern));
    let calls = (0..10).map(|i| {
        let c = client.clone();
        async move { (i, c.call("tools/call", Some(echo_call(&format!("r{i}")))).await) }
    });
    for (i, result) in futures::future::join_all(calls).await {
        assert_eq!(text_of(&result.unwrap()), format!("r{i}"));
    }
    assert_eq!(seen.lock().unwrap().events.iter().filter(|e| matches!(e, ServerEvent::Message { .. })).count(), 10);
}

/// A request that runs longer than the visibility timeout is kept invisible by
/// heartbeats: it runs once.
pub async fn visibility_heartbeat<R: Runtime + Clone>(runtime: R) {
    let rig = Rig::new(runtime.clone(), Transport::Sqs, Faults::default(), Duration::from_secs(2));
    let (_server, seen) = rig.echo_server(Duration::from_secs(5));
    let (client, _events) = rig.client(rig.client_config(Era::Modern));
    let answer = client.call("tools/call", Some(echo_call("slow"))).await.unwrap();
    assert_eq!(text_of(&answer), "slow");
    assert_eq!(seen.lock().unwrap().deliveries("tools/call", &RequestId::Number(1)), 1);
    assert!(rig.queue.sim_stats().visibility_changes >= 2, "{:?}", rig.queue.sim_stats());
    // The driver gathers deletes for a short interval (`DriverConfig::ack_linger`).
    for _ in 0..50 {
        if rig.queue.queue_depth(&rig.requests).map(|d| d.visible + d.in_flight) == Some(0) {
            break;
        }
        runtime.sleep_until(runtime.now() + Duration::from_millis(20)).await;
    }
    assert_eq!(rig.queue.queue_depth(&rig.requests).map(|d| d.visible + d.in_flight), Some(0));
}

/// Cancel: the awaiting call ends as cancelled and the server is told.
pub async fn cancel<R: Runtime + Clone>(runtime: R) {
    let rig = Rig::new(runtime.clone(), Transport::Sqs, Faults::default(), Duration::from_secs(30));
    let (_server, seen) = rig.echo_server(Duration::from_secs(10));
    let (client, _events) = rig.client(rig.client_config(Era::Modern));
    let c = client.clone();
    let (tx, rx) = futures::channel::oneshot::channel();
    runtime.spawn(Box::pin(async move {
        let _ = tx
            .send(c.request(JsonRpcMessage::request(RequestId::Number(77), "tools/call", Some(echo_call("x")))).await);
    }));
    runtime.sleep_until(runtime.now() + Duration::from_secs(2)).await;
    client.cancel(RequestId::Number(77), Some("user gave up".into())).await.unwrap();
    assert_eq!(rx.await.unwrap(), Err(RequestError::Cancelled));
    runtime.sleep_until(runtime.now() + Duration::from_secs(3)).await;
    let cancelled = seen.lock().unwrap().notifications(asyncmcp_proto::CANCELLED_METHOD);
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].to_value()["params"]["requestId"], 77);
}

/// Two requests time out one after the other: the driver's one timer fires for the
/// first, then is reset to the second's deadline (a runtime timer moved after it fired).
pub async fn timeouts_in_a_row<R: Runtime + Clone>(runtime: R) {
    let rig = Rig::new(runtime.clone(), Transport::Sqs, Faults::default(), Duration::from_secs(30));
    let mut config = rig.client_config(Era::Modern);
    config.request_timeout = Duration::from_secs(1);
    let (client, _events) = rig.client(config);
    let start = runtime.now();
    let first = async {
        let result = client.call("tools/call", Some(echo_call("first"))).await;
        (result, runtime.now() - start)
    };
    let second = async {
        runtime.sleep_until(start + Duration::from_millis(400)).await;
        let result = client.call("tools/call", Some(echo_call("second"))).await;
        (result, runtime.now() - start)
    };
    let both = futures::future::join(first, second);
    let guard = runtime.sleep_until(start + Duration::from_secs(10));
    let ((first, first_at), (second, second_at)) = match futures::future::select(Box::pin(both), guard).await {
        futures::future::Either::Left((both, _)) => both,
        futures::future::Either::Right(_) => panic!("a request never timed out: the timer was not moved"),
    };
    assert_eq!(first, Err(RequestError::TimedOut));
    assert_eq!(second, Err(RequestError::TimedOut));
    assert!(first_at >= Duration::from_secs(1), "{first_at:?}");
    assert!(second_at >= Duration::from_millis(1400) && second_at < Duration::from_secs(5), "{second_at:?}");
}

/// A request times out; its response, arriving later, is reported as late.
pub async fn timeout_then_late<R: Runtime + Clone>(runtime: R) {
    let rig = Rig::new(runtime.clone(), Transport::Sqs, Faults::default(), Duration::from_secs(30));
    let (_server, _seen) = rig.echo_server(Duration::from_secs(3));
    let mut config = rig.client_config(Era::Modern);
    config.request_timeout = Duration::from_secs(1);
    let (client, mut events) = rig.client(config);
    let result = client.call("tools/call", Some(echo_call("late"))).await;
    assert_eq!(result, Err(RequestError::TimedOut));
    loop {
        match events.next().await {
            Some(ClientEvent::LateResponse(m)) => {
                assert_eq!(text_of(&m), "late");
                break;
            }
            Some(_) => {}
            None => panic!("no late response"),
        }
    }
}

/// An application that does not read its events stops the server from receiving
/// more than the event channel holds; reading them lets everything through.
pub async fn backpressure<R: Runtime + Clone>(runtime: R) {
    let rig = Rig::new(runtime.clone(), Transport::Sqs, Faults::default(), Duration::from_secs(60));
    let (_server, mut server_events) = rig.server();
    let (client, _events) = rig.client(rig.client_config(Era::Modern));
    let total = 600;
    for i in 0..total {
        client.notify("notifications/message", Some(serde_json::json!({"n": i}))).await.unwrap();
    }
    runtime.sleep_until(runtime.now() + Duration::from_secs(3)).await;
    let depth = rig.queue.queue_depth(&rig.requests).unwrap();
    assert!(depth.visible > 0, "the server stopped receiving while its events were unread: {depth:?}");
    let mut received = 0;
    while received < total {
        match server_events.next().await {
            Some(ServerEvent::Message { .. }) => received += 1,
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(received, total);
}

/// Receive linger: one request at a time never waits for it; under load (responses
/// trickling in for several requests in flight) the client's next long poll waits
/// `DriverConfig::receive_linger`, so fewer receives carry the same responses.
pub async fn receive_linger<R: Runtime + Clone>(runtime: R) {
    /// Client receives and milliseconds for `calls` requests `at_once`; the server
    /// answers the i-th request of each burst after `step * (i + 1)`.
    async fn run<R: Runtime + Clone>(
        runtime: &R,
        linger: Duration,
        calls: usize,
        at_once: usize,
        step: Duration,
    ) -> (u64, u128) {
        let rig = Rig::new(runtime.clone(), Transport::Sqs, Faults::default(), Duration::from_secs(30));
        let mut driver = fast_driver();
        driver.receive_linger = linger;
        let (server, mut events) = rig.server_with(driver);
        let rt = runtime.clone();
        runtime.spawn(Box::pin(async move {
            let mut burst = 0u32;
            while let Some(event) = events.next().await {
                if let ServerEvent::Message { route, message } = &event
                    && let Some(answer) = echo_responder(route, message)
                {
                    burst += 1;
                    let (h, rt2, route) = (server.clone(), rt.clone(), route.clone());
                    let delay = step * burst;
                    rt.spawn(Box::pin(async move {
                        rt2.sleep_until(rt2.now() + delay).await;
                        let _ = h.submit(route, answer).await;
                    }));
                    if burst as usize == at_once {
                        burst = 0;
                    }
                }
            }
        }));
        let (client, _events) = rig.client_with(rig.client_config(Era::Modern), driver);
        let started = runtime.now();
        let before = client.stats().receives;
        for round in 0..calls / at_once {
            let burst = (0..at_once).map(|i| {
                let c = client.clone();
                let text = format!("r{round}-{i}");
                async move { (text.clone(), c.call("tools/call", Some(echo_call(&text))).await) }
            });
            for (text, result) in futures::future::join_all(burst).await {
                assert_eq!(text_of(&result.unwrap()), text);
            }
        }
        (client.stats().receives - before, (runtime.now() - started).as_millis())
    }
    assert!(!DriverConfig::default().receive_linger.is_zero(), "on by default");
    // Longer than the default, so that a wrong wait stands out of a round trip.
    let linger = Duration::from_millis(200);

    // One at a time, answered at once: the same calls, and no wait. Had each request
    // waited for the linger, five would take about five lingers longer; the bound
    // leaves room for a runtime on the real clock (async-std); paused tokio time
    // gives equal times.
    let (receives_off, millis_off) = run(&runtime, Duration::ZERO, 5, 1, Duration::ZERO).await;
    let (receives_on, millis_on) = run(&runtime, linger, 5, 1, Duration::ZERO).await;
    assert_eq!(receives_on, receives_off);
    assert!(
        millis_on < millis_off + linger.as_millis(),
        "lone requests waited for the linger: {millis_on} ms, {millis_off} ms without"
    );

    // Eight at once, answered 5 ms apart: fewer receives than responses with the linger.
    let step = Duration::from_millis(5);
    let (receives_off, _) = run(&runtime, Duration::ZERO, 8, 8, step).await;
    let (receives_on, _) = run(&runtime, linger, 8, 8, step).await;
    assert!(receives_off >= 8, "without linger each trickling response is its own receive: {receives_off}");
    assert!(receives_on <= receives_off / 2, "linger {linger:?}: {receives_on} receives, {receives_off} without");
}

/// Declares one test per adapter scenario, each with the test attribute `#[$test]`
/// and the runtime `$runtime`: every adapter crate runs the same list.
#[macro_export]
macro_rules! adapter_scenarios {
    (#[$test:meta] $runtime:expr) => {
        use $crate::adapter::{self, Transport};

        #[$test]
        async fn legacy_handshake_sqs() {
            adapter::legacy_handshake($runtime, Transport::Sqs).await;
        }

        #[$test]
        async fn legacy_handshake_sns_envelope() {
            adapter::legacy_handshake($runtime, Transport::SnsSqs(false)).await;
        }

        #[$test]
        async fn legacy_handshake_sns_raw() {
            adapter::legacy_handshake($runtime, Transport::SnsSqs(true)).await;
        }

        #[$test]
        async fn modern_requests_sqs() {
            adapter::modern_requests($runtime, Transport::Sqs).await;
        }

        #[$test]
        async fn modern_requests_sns_envelope() {
            adapter::modern_requests($runtime, Transport::SnsSqs(false)).await;
        }

        #[$test]
        async fn duplicates() {
            adapter::duplicates($runtime).await;
        }

        #[$test]
        async fn reordering() {
            adapter::reordering($runtime).await;
        }

        #[$test]
        async fn visibility_heartbeat() {
            adapter::visibility_heartbeat($runtime).await;
        }

        #[$test]
        async fn cancel() {
            adapter::cancel($runtime).await;
        }

        #[$test]
        async fn timeouts_in_a_row() {
            adapter::timeouts_in_a_row($runtime).await;
        }

        #[$test]
        async fn timeout_then_late() {
            adapter::timeout_then_late($runtime).await;
        }

        #[$test]
        async fn backpressure() {
            adapter::backpressure($runtime).await;
        }

        #[$test]
        async fn receive_linger() {
            adapter::receive_linger($runtime).await;
        }
    };
}
