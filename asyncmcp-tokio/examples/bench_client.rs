//! The client half of `scripts/bench-moto.sh`: against a local moto server, creates
//! the queues (and topics) of one topology, starts `bench_server` in another process,
//! connects an rmcp client, and calls `echo` with 1 KiB of text: `--seq` calls one at
//! a time, then `--par` calls with `--in-flight` at once. For each phase it prints
//! round trips per second, latency percentiles, SQS/SNS calls per round trip (both
//! sides' driver stats; a batch call counts once) and CPU time (user + system, from
//! `/proc/<pid>/stat`) of each process per round trip. Then it runs a raw-SDK loop
//! doing the same hops (send or publish, receive, delete; no asyncmcp) on fresh queues
//! and prints our rate as a ratio to it, and the CPU time per API call of both: the
//! SDK's own cost per call is the floor under ours.
//!
//! `bench_client --endpoint-url http://127.0.0.1:PORT --transport sqs|sns-sqs [--raw]
//! [--modern] [--seq 200] [--par 400] [--in-flight 8[,64...]] [--server-bin PATH]`
//!
//! `--in-flight` takes a list: one concurrent phase per entry. Besides the prose, each
//! phase prints one machine-readable line for `scripts/bench.sh`:
//! `BENCH phase=<seq|parN> rate=.. p50=.. p99=.. calls_rt=.. cpu_rt_ms=.. raw_rate=..
//! raw_calls_rt=.. raw_cpu_rt_ms=.. cpu_call_ratio=..`.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncmcp_tokio::proto::{Address, ClientConfig, Era};
use asyncmcp_tokio::rmcp::QueueClientTransport;
use asyncmcp_tokio::{AwsAdmin, AwsQueueClient, ClientHandle, DriverConfig, QueueSpec, StatsSnapshot};
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, Peer};

#[path = "support/process.rs"]
mod process;
#[path = "support/trace.rs"]
mod trace;

use process::{ServerProcess, clock_ticks, cpu_secs};

type Error = Box<dyn std::error::Error + Send + Sync>;

const REGION: &str = "us-east-1";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn number(name: &str, default: usize) -> Result<usize, Error> {
    match arg(name) {
        Some(n) => Ok(n.parse().map_err(|e| format!("{name} {n}: {e}"))?),
        None => Ok(default),
    }
}

// ---------------------------------------------------------------- CPU and stats

fn client_calls(s: &StatsSnapshot) -> u64 {
    s.total_calls()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// Runs `calls` echo calls with `in_flight` at once; returns each call's latency and
/// the elapsed time.
async fn echo_calls(
    peer: &Peer<RoleClient>,
    calls: usize,
    in_flight: usize,
    text: &str,
) -> Result<(Vec<Duration>, Duration), Error> {
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..in_flight {
        let share = calls / in_flight + usize::from(w < calls % in_flight);
        let peer = peer.clone();
        let text = text.to_owned();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for _ in 0..share {
                let args = serde_json::json!({ "text": text });
                let params =
                    CallToolRequestParams::new("echo").with_arguments(args.as_object().cloned().unwrap_or_default());
                let t = Instant::now();
                let result = peer.call_tool(params).await.map_err(|e| format!("tools/call echo: {e}"))?;
                latencies.push(t.elapsed());
                let echoed: usize = result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.len()).sum();
                if echoed != text.len() {
                    return Err(format!("echo returned {echoed} bytes, not {}", text.len()));
                }
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut all = Vec::with_capacity(calls);
    for w in workers {
        all.extend(w.await??);
    }
    Ok((all, started.elapsed()))
}

/// Round trips per second, API calls per round trip and CPU milliseconds (every
/// process involved) per round trip of one phase.
struct PhaseResult {
    rate: f64,
    calls_rt: f64,
    cpu_rt: f64,
    p50: f64,
    p99: f64,
}

impl PhaseResult {
    /// CPU microseconds per API call.
    fn cpu_per_call_us(&self) -> f64 {
        self.cpu_rt * 1000.0 / self.calls_rt
    }
}

#[allow(clippy::too_many_arguments)]
async fn phase(
    label: &str,
    peer: &Peer<RoleClient>,
    client: &ClientHandle,
    server: &mut ServerProcess,
    calls: usize,
    in_flight: usize,
    text: &str,
    ticks: f64,
) -> Result<PhaseResult, Error> {
    let me = std::process::id();
    let server_pid = server.pid()?;
    let (server_before, server_line_before) = server.stats().await?;
    let client_before = client.stats();
    let (cpu_client_before, cpu_server_before) = (cpu_secs(me, ticks)?, cpu_secs(server_pid, ticks)?);

    let (mut latencies, elapsed) = echo_calls(peer, calls, in_flight, text).await?;

    let (cpu_client_after, cpu_server_after) = (cpu_secs(me, ticks)?, cpu_secs(server_pid, ticks)?);
    let client_after = client.stats();
    let (server_after, server_line_after) = server.stats().await?;

    latencies.sort();
    let n = calls as f64;
    let rate = n / elapsed.as_secs_f64();
    let client_rt = (client_calls(&client_after) - client_calls(&client_before)) as f64 / n;
    let server_rt = (server_after - server_before) as f64 / n;
    let cpu_client = (cpu_client_after - cpu_client_before) * 1000.0 / n;
    let cpu_server = (cpu_server_after - cpu_server_before) * 1000.0 / n;
    println!(
        "  {label:<14} {calls:>4} calls, {in_flight} in flight: {rate:>7.1} rt/s  p50 {:>6.1} ms  p90 {:>6.1} ms  p99 {:>6.1} ms",
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
    );
    println!(
        "  {:<14} API calls/rt {:.2} (client {client_rt:.2} + server {server_rt:.2})   CPU/rt {:.3} ms (client {cpu_client:.3} + server {cpu_server:.3})",
        "",
        client_rt + server_rt,
        cpu_client + cpu_server,
    );
    println!("  {:<14} client {}", "", breakdown(&client_before, &client_after));
    println!("  {:<14} server {}", "", server_breakdown(&server_line_before, &server_line_after));
    Ok(PhaseResult {
        rate,
        calls_rt: client_rt + server_rt,
        cpu_rt: cpu_client + cpu_server,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
    })
}

fn breakdown(a: &StatsSnapshot, b: &StatsSnapshot) -> String {
    format!(
        "receive {} (empty {}, {} msgs) send {} send_batch {} publish {} publish_batch {} delete {} delete_batch {} visibility {}",
        b.receives - a.receives,
        b.empty_receives - a.empty_receives,
        b.messages_received - a.messages_received,
        b.sends - a.sends,
        b.send_batches - a.send_batches,
        b.publishes - a.publishes,
        b.publish_batches - a.publish_batches,
        b.deletes - a.deletes,
        b.delete_batches - a.delete_batches,
        (b.visibility_changes + b.visibility_batches) - (a.visibility_changes + a.visibility_batches),
    )
}

fn server_breakdown(before: &str, after: &str) -> String {
    let parse = |l: &str| -> Vec<i64> { l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect() };
    let (a, b) = (parse(before), parse(after));
    let d = |i: usize| b.get(i).copied().unwrap_or(0) - a.get(i).copied().unwrap_or(0);
    format!(
        "receive {} (empty {}, {} msgs) send {} send_batch {} publish {} publish_batch {} delete {} delete_batch {} visibility {}",
        d(1),
        d(2),
        d(3),
        d(4),
        d(5),
        d(6),
        d(7),
        d(8),
        d(9),
        d(10) + d(11),
    )
}

/// `--scale-out K`: `calls` echo calls with `in_flight` at once against K server
/// processes on one request queue; prints how many times the tool ran in each (each
/// request must run once in all), as `SPLIT answered=N split=a/b/c`.
async fn split(
    peer: &Peer<RoleClient>,
    mut servers: Vec<ServerProcess>,
    calls: usize,
    in_flight: usize,
    text: &str,
) -> Result<(), Error> {
    let mut before = Vec::new();
    for s in &mut servers {
        before.push(s.echoes().await?);
    }
    let (_, elapsed) = echo_calls(peer, calls, in_flight, text).await?;
    let mut counts = Vec::new();
    for (s, b) in servers.iter_mut().zip(before) {
        counts.push(s.echoes().await? - b);
    }
    let answered: u64 = counts.iter().sum();
    let split: Vec<String> = counts.iter().map(u64::to_string).collect();
    println!(
        "  {} server processes, {calls} calls with {in_flight} in flight: {:.1} rt/s, echo ran {answered} times ({})",
        servers.len(),
        calls as f64 / elapsed.as_secs_f64(),
        split.join(" / ")
    );
    println!("SPLIT answered={answered} split={}", split.join("/"));
    for s in servers {
        s.quit().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- set-up

struct Topology {
    /// Where the client sends (queue URL or topic ARN).
    to_server: String,
    /// Where the server replies.
    reply_to: String,
    requests: String,
    replies: String,
}

async fn create(admin: &AwsAdmin, tag: &str, sns: bool, raw: bool) -> Result<Topology, Error> {
    let pid = std::process::id();
    let spec = QueueSpec::default();
    let requests = admin.create_queue(&format!("bench-{tag}-req-{pid}"), &spec).await?;
    let replies = admin.create_queue(&format!("bench-{tag}-rep-{pid}"), &spec).await?;
    if !sns {
        return Ok(Topology {
            to_server: requests.url.clone(),
            reply_to: replies.url.clone(),
            requests: requests.url,
            replies: replies.url,
        });
    }
    let server_topic = admin.create_topic(&format!("bench-{tag}-st-{pid}")).await?;
    let client_topic = admin.create_topic(&format!("bench-{tag}-ct-{pid}")).await?;
    admin.subscribe_queue(&server_topic, &requests.arn, &requests.url, raw).await?;
    admin.subscribe_queue(&client_topic, &replies.arn, &replies.url, raw).await?;
    Ok(Topology { to_server: server_topic, reply_to: client_topic, requests: requests.url, replies: replies.url })
}

// ---------------------------------------------------------------- raw-SDK baseline

#[derive(Clone)]
struct Raw {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    /// SQS and SNS calls made so far.
    calls: Arc<AtomicU64>,
}

impl Raw {
    fn new(endpoint: &str) -> Self {
        let sqs = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_sdk_sqs::config::Region::new(REGION))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "bench"))
            .build();
        let sns = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_sdk_sns::config::Region::new(REGION))
            .credentials_provider(aws_sdk_sns::config::Credentials::new("test", "test", None, None, "bench"))
            .build();
        Self {
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            sns: aws_sdk_sns::Client::from_conf(sns),
            calls: Arc::default(),
        }
    }

    /// SendMessage to a queue URL, or Publish to a topic ARN.
    async fn send(&self, to: &str, body: String) -> Result<(), Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if to.starts_with("arn:") {
            self.sns.publish().topic_arn(to).message(body).send().await?;
        } else {
            self.sqs.send_message().queue_url(to).message_body(body).send().await?;
        }
        Ok(())
    }

    /// One long poll: the bodies (unwrapped from an SNS envelope) and receipt handles.
    async fn receive(&self, queue: &str) -> Result<Vec<(String, String)>, Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let out =
            self.sqs.receive_message().queue_url(queue).max_number_of_messages(10).wait_time_seconds(1).send().await?;
        let mut messages = Vec::new();
        for m in out.messages.unwrap_or_default() {
            let body = m.body.unwrap_or_default();
            let body = if body.starts_with('{') {
                serde_json::from_str::<serde_json::Value>(&body)?["Message"].as_str().unwrap_or_default().to_owned()
            } else {
                body
            };
            messages.push((body, m.receipt_handle.unwrap_or_default()));
        }
        Ok(messages)
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.sqs.delete_message().queue_url(queue).receipt_handle(receipt).send().await?;
        Ok(())
    }
}

type Waiters = Arc<Mutex<HashMap<u64, tokio::sync::oneshot::Sender<()>>>>;

/// `calls` raw round trips with `in_flight` at once: client send -> server receive,
/// delete, send reply -> client receive, delete. Both sides run in this process, so
/// its CPU time is the CPU of the whole loop.
async fn baseline(
    raw: &Raw,
    t: &Topology,
    calls: usize,
    in_flight: usize,
    text: &str,
    ticks: f64,
) -> Result<PhaseResult, Error> {
    let me = std::process::id();
    let (calls_before, cpu_before) = (raw.calls.load(Ordering::Relaxed), cpu_secs(me, ticks)?);
    // Both loops stop after their current long poll (1 s) rather than being aborted:
    // moto (like SQS) may hand a message to a long poll whose caller went away, and
    // that message would then stay hidden for the visibility timeout.
    let stop = Arc::new(AtomicBool::new(false));
    // The "server": echoes each request to the reply address, deleting it.
    let server = {
        let (raw, requests, reply_to, stop) = (raw.clone(), t.requests.clone(), t.reply_to.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let messages = match raw.receive(&requests).await {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("baseline server: receive: {e:?}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let work = messages.into_iter().map(|(body, receipt)| {
                    let (raw, requests, reply_to) = (raw.clone(), requests.clone(), reply_to.clone());
                    async move {
                        let (a, b) = tokio::join!(raw.send(&reply_to, body), raw.delete(&requests, &receipt));
                        if let Err(e) = a.and(b) {
                            eprintln!("baseline server: {e}");
                        }
                    }
                });
                for w in work {
                    tokio::spawn(w);
                }
            }
        })
    };
    // The client's receiver: routes replies to their waiter by the id before `:`.
    let waiters: Waiters = Arc::default();
    let receiver = {
        let (raw, replies, waiters, stop) = (raw.clone(), t.replies.clone(), Arc::clone(&waiters), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let messages = match raw.receive(&replies).await {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("baseline client: receive: {e:?}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                for (body, receipt) in messages {
                    let id = body.split(':').next().and_then(|id| id.parse::<u64>().ok());
                    if let Some(tx) = id.and_then(|id| waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&id)) {
                        let _ = tx.send(());
                    }
                    let (raw, replies) = (raw.clone(), replies.clone());
                    tokio::spawn(async move {
                        if let Err(e) = raw.delete(&replies, &receipt).await {
                            eprintln!("baseline client: {e}");
                        }
                    });
                }
            }
        })
    };
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..in_flight {
        let share = calls / in_flight + usize::from(w < calls % in_flight);
        let (raw, to, waiters, text) = (raw.clone(), t.to_server.clone(), Arc::clone(&waiters), text.to_owned());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for i in 0..share {
                let id = (w * 1_000_000 + i) as u64;
                let (tx, rx) = tokio::sync::oneshot::channel();
                waiters.lock().unwrap_or_else(|e| e.into_inner()).insert(id, tx);
                let t = Instant::now();
                raw.send(&to, format!("{id}:{text}")).await?;
                tokio::time::timeout(Duration::from_secs(30), rx).await.map_err(|_| "baseline reply timed out")??;
                latencies.push(t.elapsed());
            }
            Ok::<_, Error>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(calls);
    for w in workers {
        latencies.extend(w.await??);
    }
    latencies.sort();
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    server.await?;
    receiver.await?;
    let n = calls as f64;
    Ok(PhaseResult {
        rate: n / elapsed.as_secs_f64(),
        calls_rt: (raw.calls.load(Ordering::Relaxed) - calls_before) as f64 / n,
        cpu_rt: (cpu_secs(me, ticks)? - cpu_before) * 1000.0 / n,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
    })
}

// ---------------------------------------------------------------- main

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let endpoint = arg("--endpoint-url").ok_or("missing --endpoint-url")?;
    let transport = arg("--transport").unwrap_or_else(|| "sqs".to_owned());
    let sns = match transport.as_str() {
        "sqs" => false,
        "sns-sqs" => true,
        other => return Err(format!("--transport {other}: expected sqs or sns-sqs").into()),
    };
    let raw_delivery = flag("--raw");
    let modern = flag("--modern");
    let seq = number("--seq", 200)?;
    let par = number("--par", 400)?;
    let in_flights: Vec<usize> = match arg("--in-flight") {
        Some(list) => list
            .split(',')
            .map(|n| n.trim().parse::<usize>().map(|n| n.max(1)).map_err(|e| format!("--in-flight {list}: {e}")))
            .collect::<Result<_, _>>()?,
        None => vec![8],
    };
    let server_bin = match arg("--server-bin") {
        Some(bin) => bin,
        None => std::env::current_exe()?.with_file_name("bench_server").to_string_lossy().into_owned(),
    };
    let ticks = clock_ticks();
    let text = "x".repeat(1024);
    let name = match (sns, raw_delivery) {
        (false, _) => "sqs",
        (true, false) => "sns-sqs envelope",
        (true, true) => "sns-sqs raw",
    };
    let era = if modern { "modern (2026-07-28, server/discover, stateless requests)" } else { "legacy session" };
    println!("== {name}, {era}");

    let admin = AwsAdmin::with_endpoint(&endpoint, REGION);
    let t = create(&admin, "mcp", sns, raw_delivery).await?;
    let scale_out = number("--scale-out", 0)?;
    let mut servers = Vec::new();
    for _ in 0..scale_out.max(1) {
        servers.push(ServerProcess::start(&server_bin, &endpoint, &t.requests, &t.reply_to).await?);
    }

    let queue = Arc::new(AwsQueueClient::with_endpoint(&endpoint, REGION));
    let mut config = ClientConfig::new(
        Address::parse(&t.to_server),
        Address::parse(&t.reply_to),
        t.replies.clone(),
        asyncmcp_tokio::unique_client_id("bench"),
    );
    let lifecycle = if modern {
        config.era = Era::Modern;
        ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
    } else {
        ClientLifecycleMode::Initialize
    };
    let transport = if trace::enabled() {
        QueueClientTransport::spawn_with(config, Arc::new(trace::Traced::new(queue)), DriverConfig::default())?
    } else {
        QueueClientTransport::spawn_with(config, queue, DriverConfig::default())?
    };
    let handle = transport.handle().clone();
    let client = ().serve_with_lifecycle(transport, lifecycle).await?;
    let peer = client.peer().clone();
    echo_calls(&peer, 10, 1, &text).await?; // warm-up: connections, handler caches

    if scale_out > 0 {
        return split(&peer, servers, par, in_flights.first().copied().unwrap_or(8), &text).await;
    }
    let mut server = servers.pop().ok_or("no server")?;

    let mut ours =
        vec![("seq".to_owned(), 1, phase("sequential", &peer, &handle, &mut server, seq, 1, &text, ticks).await?)];
    for &in_flight in &in_flights {
        let result = phase("concurrent", &peer, &handle, &mut server, par, in_flight, &text, ticks).await?;
        ours.push((format!("par{in_flight}"), in_flight, result));
    }

    client.cancel().await?;
    server.quit().await?;

    let raw = Raw::new(&endpoint);
    let b = create(&admin, "raw", sns, raw_delivery).await?;
    baseline(&raw, &b, 10, 1, &text, ticks).await?; // warm-up
    for (label, in_flight, ours) in &ours {
        let calls = if *in_flight == 1 { seq } else { par };
        let raw = baseline(&raw, &b, calls, *in_flight, &text, ticks).await?;
        println!(
            "  raw SDK loop   {in_flight:>2} in flight: {:.1} rt/s (asyncmcp/raw {:.2}), API calls/rt {:.2}, CPU/rt {:.3} ms; CPU per API call: asyncmcp {:.0} us, raw SDK {:.0} us (ratio {:.2})",
            raw.rate,
            ours.rate / raw.rate,
            raw.calls_rt,
            raw.cpu_rt,
            ours.cpu_per_call_us(),
            raw.cpu_per_call_us(),
            ours.cpu_per_call_us() / raw.cpu_per_call_us()
        );
        println!(
            "BENCH phase={label} rate={:.2} p50={:.2} p99={:.2} calls_rt={:.3} cpu_rt_ms={:.4} raw_rate={:.2} raw_p50={:.2} raw_p99={:.2} raw_calls_rt={:.3} raw_cpu_rt_ms={:.4} cpu_call_ratio={:.3}",
            ours.rate,
            ours.p50,
            ours.p99,
            ours.calls_rt,
            ours.cpu_rt,
            raw.rate,
            raw.p50,
            raw.p99,
            raw.calls_rt,
            raw.cpu_rt,
            ours.cpu_per_call_us() / raw.cpu_per_call_us()
        );
    }
    Ok(())
}
