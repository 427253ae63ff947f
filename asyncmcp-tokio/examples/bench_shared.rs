//! Row 6 of `scripts/bench.sh`: one process hosting many client sessions over ONE
//! reply queue (`spawn_client_host`), as a gateway or a proxy would, against
//! `bench_server` on a local moto.
//!
//! First the anchors, in the same run, each one legacy client (`spawn_client`) on the
//! reply queue: as many `echo` calls (1 KiB) as the sessions will make round trips,
//! with `--in-flight` at once; as many round trips in the sessions' mix of messages
//! (`ping`, `notifications/roots/list_changed`, echo), at the same in-flight; 100
//! echo calls one at a time (each session alone has one request at a time: what it
//! would cost as a client of its own). Then the host opens `--sessions` legacy
//! sessions on that queue, at most `--in-flight` of them busy at once: each sends
//! `initialize`, `notifications/initialized` and one `tools/call echo` (two round trips
//! and one notification), and checks it got its own answers. With every session still
//! open it reads the resident set (`/proc/self/statm`) against the one before the
//! first session; then it closes them all (one close notification each).
//!
//! API calls are counted as `bench_client` counts them: both sides' driver stats, a
//! batch call counting once. It prints the prose and one line for `scripts/bench.sh`:
//! `BENCH phase=shared sessions=.. in_flight=.. calls_rt=.. calls_msg=.. anchor_calls_rt=..
//! anchor_calls_msg=.. rss_session_bytes=.. close_calls_session=.. unrouted=.. seq_calls_rt=..
//! mix_calls_rt=..`,
//! where `calls_msg` divides the calls by the messages carried (the sessions carry 2.5
//! per round trip, the anchor 2), `mix_calls_rt` is one client sending the sessions'
//! mix of messages at the same in-flight, and `seq_calls_rt` one client at 1 in flight:
//! what each session would cost as a client with a reply queue of its own.
//!
//! `bench_shared --endpoint-url http://127.0.0.1:PORT [--sessions 1000] [--in-flight 64]
//! [--server-bin PATH]`
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asyncmcp_tokio::proto::{Address, ClientConfig, Era, HostConfig, HostEvent, MessageKind};
use asyncmcp_tokio::{AwsAdmin, AwsQueueClient, DriverConfig, QueueSpec, StatsSnapshot};
use serde_json::json;
use tokio::sync::Semaphore;

#[path = "support/process.rs"]
mod process;

use process::ServerProcess;

type Error = Box<dyn std::error::Error + Send + Sync>;

const REGION: &str = "us-east-1";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn number(name: &str, default: usize) -> Result<usize, Error> {
    match arg(name) {
        Some(n) => Ok(n.parse().map_err(|e| format!("{name} {n}: {e}"))?),
        None => Ok(default),
    }
}

/// Resident set of this process, in bytes (`/proc/self/statm`, second field, pages).
fn rss_bytes() -> Result<u64, Error> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm.split_whitespace().nth(1).ok_or("bad /proc/self/statm")?.parse()?;
    let page = std::process::Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    Ok(pages * page)
}

fn initialize_params() -> serde_json::Value {
    json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench_shared", "version": "1"}})
}

fn echo_params(text: &str) -> serde_json::Value {
    json!({"name": "echo", "arguments": {"text": text}})
}

/// The text of an echo answer.
fn echoed(answer: &asyncmcp_tokio::proto::JsonRpcMessage) -> String {
    answer.to_value()["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

/// The server's calls between two `STATS` lines (fields as `bench_server` documents).
fn server_breakdown(before: &str, after: &str) -> String {
    let parse = |l: &str| -> Vec<i64> { l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect() };
    let (a, b) = (parse(before), parse(after));
    let d = |i: usize| b.get(i).copied().unwrap_or(0) - a.get(i).copied().unwrap_or(0);
    format!(
        "server {} calls: receive {} (empty {}, {} msgs) send {} send_batch {} delete {} delete_batch {}",
        d(0),
        d(1),
        d(2),
        d(3),
        d(4),
        d(5),
        d(8),
        d(9)
    )
}

/// A client's or host's calls between two snapshots.
fn breakdown(who: &str, a: &StatsSnapshot, b: &StatsSnapshot) -> String {
    format!(
        "{who} {} calls: receive {} (empty {}, {} msgs) send {} send_batch {} delete {} delete_batch {}",
        b.total_calls() - a.total_calls(),
        b.receives - a.receives,
        b.empty_receives - a.empty_receives,
        b.messages_received - a.messages_received,
        b.sends - a.sends,
        b.send_batches - a.send_batches,
        b.deletes - a.deletes,
        b.delete_batches - a.delete_batches,
    )
}

/// Calls and messages of one phase, both sides.
struct Counted {
    calls: u64,
    rt: usize,
    messages: usize,
}

impl Counted {
    fn calls_rt(&self) -> f64 {
        self.calls as f64 / self.rt as f64
    }
    fn calls_msg(&self) -> f64 {
        self.calls as f64 / self.messages as f64
    }
}

/// The anchor: one legacy client on the reply queue, `calls` round trips with
/// `in_flight` at once: echo calls, or with `mixed` the sessions' mix (a `ping`, a
/// notification and an echo call: 2.5 messages per round trip, as a session's
/// `initialize`, `notifications/initialized` and echo call).
#[allow(clippy::too_many_arguments)]
async fn anchor(
    queue: &Arc<AwsQueueClient>,
    server: &mut ServerProcess,
    to_server: &str,
    replies: &str,
    calls: usize,
    in_flight: usize,
    mixed: bool,
    text: &str,
) -> Result<Counted, Error> {
    let config = ClientConfig::new(
        Address::parse(to_server),
        Address::Queue(replies.to_owned()),
        replies,
        asyncmcp_tokio::unique_client_id("anchor"),
    );
    let (client, mut events) = asyncmcp_tokio::spawn_client_with(config, Arc::clone(queue), DriverConfig::default())?;
    tokio::spawn(async move { while events.next().await.is_some() {} });
    client.call("initialize", Some(initialize_params())).await?;
    client.notify("notifications/initialized", None).await?;
    for _ in 0..10 {
        client.call("tools/call", Some(echo_params(text))).await?; // warm-up
    }
    let (server_before, server_before_line) = server.stats().await?;
    let before = client.stats();
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..in_flight {
        let (client, next, text) = (client.clone(), Arc::clone(&next), text.to_owned());
        workers.push(tokio::spawn(async move {
            let step = if mixed { 2 } else { 1 };
            while next.fetch_add(step, Ordering::Relaxed) < calls {
                if mixed {
                    client.call("ping", None).await.map_err(|e| e.to_string())?;
                    client.notify("notifications/roots/list_changed", None).await.map_err(|e| e.to_string())?;
                }
                let answer = client.call("tools/call", Some(echo_params(&text))).await.map_err(|e| e.to_string())?;
                if echoed(&answer) != text {
                    return Err(format!("anchor: a wrong echo: {}", answer.as_str()));
                }
            }
            Ok::<(), String>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = started.elapsed();
    let after = client.stats();
    let (server_after, server_after_line) = server.stats().await?;
    client.shutdown(Duration::from_secs(5)).await;
    let what = if mixed { "round trips (ping, a notification, echo)" } else { "echo calls" };
    println!(
        "  anchor: {calls} {what}, {in_flight} in flight, in {:.1} s ({:.1} rt/s)",
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64()
    );
    println!("    {}", breakdown("client", &before, &after));
    println!("    {}", server_breakdown(&server_before_line, &server_after_line));
    Ok(Counted {
        calls: after.total_calls() - before.total_calls() + server_after - server_before,
        rt: calls,
        messages: if mixed { 5 * calls / 2 } else { 2 * calls },
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let endpoint = arg("--endpoint-url").ok_or("missing --endpoint-url")?;
    let sessions = number("--sessions", 1000)?.max(1);
    let in_flight = number("--in-flight", 64)?.max(1);
    let server_bin = match arg("--server-bin") {
        Some(bin) => bin,
        None => std::env::current_exe()?.with_file_name("bench_server").to_string_lossy().into_owned(),
    };
    let text = "x".repeat(1024);
    println!("== {sessions} legacy sessions over one reply queue, {in_flight} busy at once (sqs, moto)");

    let admin = AwsAdmin::with_endpoint(&endpoint, REGION);
    let pid = std::process::id();
    let requests = admin.create_queue(&format!("bench-shared-req-{pid}"), &QueueSpec::default()).await?.url;
    let replies = admin.create_queue(&format!("bench-shared-rep-{pid}"), &QueueSpec::default()).await?.url;
    // Every session stays open until the end: the server must serve them all at once.
    let max = (sessions + 1).to_string();
    let mut server =
        ServerProcess::start_with(&server_bin, &endpoint, &requests, &replies, &["--max-sessions", &max]).await?;
    let queue = Arc::new(AwsQueueClient::with_endpoint(&endpoint, REGION));

    // The anchor: as many round trips as the sessions make, one client, same in-flight.
    let a = anchor(&queue, &mut server, &requests, &replies, 2 * sessions, in_flight, false, &text).await?;
    // The sessions' message mix from one client, at the same in-flight.
    let m = anchor(&queue, &mut server, &requests, &replies, 2 * sessions, in_flight, true, &text).await?;
    println!(
        "  anchor, the sessions' mix: one client, {} round trips, {in_flight} in flight: API calls/rt {:.3}, per message {:.3}",
        m.rt,
        m.calls_rt(),
        m.calls_msg()
    );
    // What each session would cost as a client of its own (one request at a time).
    let one = anchor(&queue, &mut server, &requests, &replies, 100, 1, false, &text).await?;
    println!(
        "  per-session clients: one client, {} calls, 1 in flight: API calls/rt {:.3}, per message {:.3}",
        one.rt,
        one.calls_rt(),
        one.calls_msg()
    );
    println!(
        "  anchor: one client, {} calls, {in_flight} in flight: API calls/rt {:.3}, per message {:.3}",
        a.rt,
        a.calls_rt(),
        a.calls_msg()
    );

    let (host, mut events) = asyncmcp_tokio::spawn_client_host(
        HostConfig::new(replies.clone()),
        Arc::clone(&queue),
        DriverConfig::default(),
    )?;
    let unrouted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&unrouted);
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let HostEvent::Unrouted(r) = event {
                eprintln!("unrouted: {} {}", r.message_id, r.reason);
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let rss_before = rss_bytes()?;
    let (server_before, server_before_line) = server.stats().await?;
    let before = host.stats();
    let started = Instant::now();

    let busy = Arc::new(Semaphore::new(in_flight));
    let mut tasks = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let (host, busy, text) = (host.clone(), Arc::clone(&busy), format!("{i:04}:{}", &text[5..]));
        let mut config = ClientConfig::new(
            Address::parse(&requests),
            Address::Queue(replies.clone()),
            replies.clone(),
            format!("s{i}-{pid}"),
        );
        config.era = Era::Legacy;
        tasks.push(tokio::spawn(async move {
            let _permit = busy.acquire().await.map_err(|e| e.to_string())?;
            let t0 = Instant::now();
            let session = host.open(config).await.map_err(|e| e.to_string())?;
            let t1 = Instant::now();
            session.call("initialize", Some(initialize_params())).await.map_err(|e| e.to_string())?;
            let t2 = Instant::now();
            session.notify("notifications/initialized", None).await.map_err(|e| e.to_string())?;
            let answer = session.call("tools/call", Some(echo_params(&text))).await.map_err(|e| e.to_string())?;
            let steps = [t1 - t0, t2 - t1, t2.elapsed()];
            if answer.kind() != MessageKind::Response {
                return Err(format!("session {i}: the server answered with an error: {}", answer.as_str()));
            }
            if echoed(&answer) != text {
                return Err(format!("session {i} got another session's answer: {}", answer.as_str()));
            }
            Ok::<_, String>((session, steps))
        }));
    }
    let mut open = Vec::with_capacity(sessions);
    let mut steps: [Vec<Duration>; 3] = Default::default();
    for t in tasks {
        let (session, took) = t.await??;
        open.push(session);
        for (all, one) in steps.iter_mut().zip(took) {
            all.push(one);
        }
    }
    let p50 = |v: &mut Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default().as_secs_f64() * 1000.0
    };
    let [mut open_took, mut init_took, mut call_took] = steps;
    let elapsed = started.elapsed();
    let after: StatsSnapshot = host.stats();
    let (server_after, server_after_line) = server.stats().await?;
    let rss_after = rss_bytes()?;
    let shared = Counted {
        calls: after.total_calls() - before.total_calls() + server_after - server_before,
        rt: 2 * sessions,
        messages: 5 * sessions,
    };
    let rss_session = rss_after.saturating_sub(rss_before) as f64 / sessions as f64;
    println!(
        "  shared: {sessions} sessions in {:.1} s ({:.1} sessions/s): API calls/rt {:.3}, per message {:.3}",
        elapsed.as_secs_f64(),
        sessions as f64 / elapsed.as_secs_f64(),
        shared.calls_rt(),
        shared.calls_msg(),
    );
    println!("    {}", breakdown("host", &before, &after));
    println!("    {}", server_breakdown(&server_before_line, &server_after_line));
    println!(
        "  median per session: open {:.1} ms, initialize {:.1} ms, initialized + tools/call {:.1} ms",
        p50(&mut open_took),
        p50(&mut init_took),
        p50(&mut call_took)
    );
    println!(
        "  memory: resident set {:.1} MiB -> {:.1} MiB with {sessions} sessions open: {rss_session:.0} bytes per session",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0
    );

    // Close them all: each legacy session sends its close notification.
    let closing = host.stats();
    let (server_closing, _) = server.stats().await?;
    let mut closing_all = tokio::task::JoinSet::new();
    for session in open {
        closing_all.spawn(async move { session.close().await });
    }
    while closing_all.join_next().await.is_some() {}
    // The server still receives and deletes the last notifications: let it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let closed = host.stats();
    let (server_closed, _) = server.stats().await?;
    let close_calls =
        (closed.total_calls() - closing.total_calls() + server_closed - server_closing) as f64 / sessions as f64;
    println!("  close: {close_calls:.3} API calls per session (both sides)");
    host.shutdown(Duration::from_secs(5)).await;
    server.quit().await?;
    println!(
        "BENCH phase=shared sessions={sessions} in_flight={in_flight} calls_rt={:.3} calls_msg={:.3} anchor_calls_rt={:.3} anchor_calls_msg={:.3} rss_session_bytes={rss_session:.0} close_calls_session={close_calls:.3} unrouted={} seq_calls_rt={:.3} mix_calls_rt={:.3}",
        shared.calls_rt(),
        shared.calls_msg(),
        a.calls_rt(),
        a.calls_msg(),
        unrouted.load(Ordering::Relaxed),
        one.calls_rt(),
        m.calls_rt()
    );
    Ok(())
}
