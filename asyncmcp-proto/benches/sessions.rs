//! The core alone, no I/O: one `tools/call` round trip through a legacy session of a
//! `Server` and a `Client` (request encoded by the client, decoded and routed by the
//! server, answered, the response encoded, decoded and matched by the client, every
//! send and delete acknowledged), with 1 k, 10 k and 100 k other sessions open on the
//! same server. `scripts/bench-core.sh` prints messages per second (two per round
//! trip), the cost at 100 k over the cost at 1 k, and the memory each idle session
//! holds.

use std::time::Instant;

use asyncmcp_proto::{
    AllowList, Client, ClientConfig, ClientEvent, InboundMessage, JsonRpcMessage, MessageKind, OpKind, OpResult,
    QueueOp, RequestId, Route, Server, ServerConfig, ServerEvent,
};
use divan::{Bencher, black_box};

const SERVER_QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/bench-requests";

fn main() {
    if std::env::args().any(|a| a == "--idle-session-bytes") {
        idle_session_bytes();
        return;
    }
    if let Some(n) = std::env::args().skip_while(|a| a != "--profile-round-trips").nth(1) {
        profile_round_trips(n.parse().expect("--profile-round-trips N"));
        return;
    }
    divan::main();
}

fn reply_queue(i: usize) -> String {
    format!("https://sqs.us-east-1.amazonaws.com/123456789012/bench-replies-{i}")
}

fn server(now: Instant) -> Server {
    let allow = AllowList::same_account(SERVER_QUEUE).expect("an SQS URL");
    let mut config = ServerConfig::new(SERVER_QUEUE, allow);
    config.max_sessions = 1_000_000;
    Server::new(config, now, [7; 32]).expect("a valid config")
}

fn client(i: usize, now: Instant) -> Client {
    let config = ClientConfig::sqs(SERVER_QUEUE, reply_queue(i), format!("bench-client-{i}"));
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Client::new(config, now, seed).expect("a valid config")
}

/// Moves messages between `server` and `client` until neither has anything to send:
/// sends are delivered at once, every op succeeds, and the server's application
/// answers each request with a small result. Returns how many messages crossed.
fn pump(server: &mut Server, client: &mut Client, seq: &mut u64, now: Instant) -> usize {
    let mut crossed = 0;
    loop {
        let mut moved = false;
        while let Some(op) = client.poll_op() {
            moved = true;
            let id = op.id;
            if let Some(message) = deliver(op, seq) {
                crossed += 1;
                server.handle_inbound(message, now);
            }
            client.handle_op_result(id, OpResult::Ok, now);
        }
        while let Some(event) = server.poll_event() {
            moved = true;
            if let ServerEvent::Message { route, message } = event {
                answer(server, &route, &message, now);
            }
        }
        while let Some(op) = server.poll_op() {
            moved = true;
            let id = op.id;
            if let Some(message) = deliver(op, seq) {
                crossed += 1;
                client.handle_inbound(message, now);
            }
            server.handle_op_result(id, OpResult::Ok, now);
        }
        while let Some(event) = client.poll_event() {
            moved = true;
            if let ClientEvent::Message(message) = &event {
                assert!(message.kind() != MessageKind::Error, "an error came back: {}", message.to_value());
            }
        }
        if !moved {
            return crossed;
        }
    }
}

fn answer(server: &mut Server, route: &Route, message: &JsonRpcMessage, now: Instant) {
    let Some(id) = message.id().cloned() else { return };
    let result = match message.method() {
        Some("initialize") => serde_json::json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "bench", "version": "1"},
        }),
        _ => serde_json::json!({"content": [{"type": "text", "text": "pong"}], "isError": false}),
    };
    server.submit(route, JsonRpcMessage::response(id, result), now).expect("the route is open");
}

/// The message a send op puts on its queue, as a receive would return it. The op is
/// moved, as a driver moves it into its SDK call: the harness copies nothing.
fn deliver(op: QueueOp, seq: &mut u64) -> Option<InboundMessage> {
    let OpKind::Send(send) = op.kind else { return None };
    *seq += 1;
    let mut message = InboundMessage::new(format!("m-{seq}"), format!("r-{seq}"), send.body);
    message.attributes = send.attributes;
    Some(message)
}

fn initialize() -> JsonRpcMessage {
    JsonRpcMessage::request(
        RequestId::Number(0),
        "initialize",
        Some(serde_json::json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        })),
    )
}

/// A server with `idle` sessions whose clients are gone (as a server holding many
/// quiet sessions), and one more client with its session open.
fn setup(idle: usize) -> (Server, Client, u64, Instant) {
    // The machines read no clock; time stands still for the whole benchmark.
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut server = server(now);
    let mut seq = 0;
    for i in 0..idle {
        let mut c = client(i, now);
        c.submit(initialize(), now).expect("first initialize");
        pump(&mut server, &mut c, &mut seq, now);
    }
    let mut c = client(idle, now);
    c.submit(initialize(), now).expect("first initialize");
    pump(&mut server, &mut c, &mut seq, now);
    assert_eq!(server.sessions(), idle + 1, "every handshake opened a session");
    (server, c, seq, now)
}

/// One `tools/call` round trip, with `idle` other sessions open.
#[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 20, sample_size = 500)]
fn round_trip(bencher: Bencher<'_, '_>, idle: usize) {
    let (mut server, mut client, mut seq, now) = setup(idle);
    let params = serde_json::json!({"name": "echo", "arguments": {"text": "ping"}});
    let mut id = 1i64;
    let first = JsonRpcMessage::request(RequestId::Number(id), "tools/call", Some(params.clone()));
    client.submit(first, now).expect("the session is open");
    assert_eq!(pump(&mut server, &mut client, &mut seq, now), 2, "a request and its response crossed");
    bencher.bench_local(|| {
        id += 1;
        let call = JsonRpcMessage::request(RequestId::Number(id), "tools/call", Some(params.clone()));
        client.submit(call, now).expect("the session is open");
        let crossed = pump(&mut server, &mut client, &mut seq, now);
        black_box(crossed)
    });
}

/// `--profile-round-trips N`: N round trips with 1 k other sessions open, and little
/// else, for a profiler (`perf record`) to see where a round trip's time goes.
fn profile_round_trips(n: usize) {
    let (mut server, mut client, mut seq, now) = setup(1_000);
    let params = serde_json::json!({"name": "echo", "arguments": {"text": "ping"}});
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let cpu = on_cpu_ns();
    for id in 1..=n {
        let call = JsonRpcMessage::request(RequestId::Number(id as i64), "tools/call", Some(params.clone()));
        client.submit(call, now).expect("the session is open");
        black_box(pump(&mut server, &mut client, &mut seq, now));
    }
    let cpu_per = (on_cpu_ns() - cpu) as f64 / n as f64 / 1000.0;
    let per = started.elapsed() / n as u32;
    println!("profile_round_trips {n}: {per:?} wall, {cpu_per:.2} µs on CPU per round trip");
}

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`):
/// unlike wall time, it does not count time other processes had the core.
fn on_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    stat.split_whitespace().next().and_then(|n| n.parse().ok()).expect("on-CPU nanoseconds")
}

/// Resident memory per idle session: the growth of this process's resident set while
/// a server opens 100 000 sessions, divided by 100 000 (Linux `/proc/self/statm`).
fn idle_session_bytes() {
    const SESSIONS: usize = 100_000;
    let before = resident_bytes();
    let (server, client, _, _) = setup(SESSIONS);
    let after = resident_bytes();
    let per_session = after.saturating_sub(before) / SESSIONS as u64;
    println!("idle_session_bytes {per_session} ({SESSIONS} sessions, resident {before} -> {after} bytes)");
    black_box((server, client));
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096
}
