//! The driver's own cost, without a network: N sequential echo calls, then N calls
//! from 32 tasks at once, over the in-memory queue, on tokio and on async-std.
//!
//! `cargo run --release -p asyncmcp-tests --example bench_memory -- [N]`

use std::time::{Duration, Instant};

use asyncmcp_driver::Runtime;
use asyncmcp_proto::Era;
use asyncmcp_proto::sim::Faults;
use asyncmcp_tests::adapter::{Rig, Transport};

const TASKS: usize = 32;

async fn measure<R: Runtime + Clone>(runtime: R, n: usize) -> (f64, f64) {
    let rig = Rig::new(runtime, Transport::Sqs, Faults::default(), Duration::from_secs(30));
    let (server, _seen) = rig.echo_server(Duration::ZERO);
    let (client, _events) = rig.client(rig.client_config(Era::Modern));
    let params = |i: usize| serde_json::json!({"name": "echo", "arguments": {"text": format!("m{i}")}});
    let start = Instant::now();
    for i in 0..n {
        client.call("tools/call", Some(params(i))).await.expect("call");
    }
    let sequential = n as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let tasks = (0..TASKS).map(|t| {
        let client = client.clone();
        async move {
            for i in (t..n).step_by(TASKS) {
                client.call("tools/call", Some(params(i))).await.expect("call");
            }
        }
    });
    futures::future::join_all(tasks).await;
    let concurrent = n as f64 / start.elapsed().as_secs_f64();
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
    (sequential, concurrent)
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let (ts, tc) = tokio.block_on(async { measure(asyncmcp_tokio::TokioRuntime::current(), n).await });
    let (a_s, ac) = async_std::task::block_on(measure(asyncmcp_async_std::AsyncStdRuntime, n));
    println!("{n} echo calls over the in-memory queue, calls/s: sequential, {TASKS} tasks at once");
    println!("tokio:     {ts:9.0} {tc:9.0}");
    println!("async-std: {a_s:9.0} {ac:9.0}");
}
