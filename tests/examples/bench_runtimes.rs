//! The moto round-trip rate of the driver on tokio (the SDK's own hyper-util HTTPS
//! client) and on async-std (`asyncmcp-async-std`'s async-io client), measured in
//! one run on one fresh moto server: N sequential `tools/call` echoes over sqs each.
//!
//! `cargo run --release -p asyncmcp-tests --example bench_runtimes -- [N]`
//! (`scripts/bench-runtimes.sh` runs it). Each request/response is two SQS hops;
//! moto bounds the absolute figures (see the design notes), so read the ratio.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncmcp_aws::{AwsAdmin, AwsQueueClient};
use asyncmcp_driver::{QueueClient, Runtime};
use asyncmcp_tests::adapter::Transport;
use asyncmcp_tests::moto::Moto;
use asyncmcp_tests::moto_rig::MotoRig;

const WARM_UP: usize = 5;

async fn measure<R: Runtime + Clone, Q: QueueClient>(runtime: R, queue: Arc<Q>, admin: &AwsAdmin, n: usize) -> f64 {
    let rig = MotoRig::create(admin, Transport::Sqs, Duration::from_secs(30)).await.expect("create queues");
    let (server, _seen) = rig.echo_server(runtime.clone(), Arc::clone(&queue), Duration::ZERO);
    let (client, _events) = rig.client(runtime, queue);
    let call = |i: usize| {
        let params = serde_json::json!({"name": "echo", "arguments": {"text": format!("m{i}")}});
        client.call("tools/call", Some(params))
    };
    for i in 0..WARM_UP {
        call(i).await.expect("warm-up call");
    }
    let start = Instant::now();
    for i in 0..n {
        call(i).await.expect("call");
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
    rate
}

fn tokio_rate(moto: &Moto, n: usize) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        let config = moto.sdk_config();
        let queue = Arc::new(AwsQueueClient::new(&config));
        measure(asyncmcp_tokio::TokioRuntime::current(), queue, &AwsAdmin::new(&config), n).await
    })
}

fn async_std_rate(moto: &Moto, n: usize) -> f64 {
    async_std::task::block_on(async {
        let config = moto.sdk_config();
        let queue = Arc::new(asyncmcp_async_std::aws_queue_client(&config));
        let admin = asyncmcp_async_std::aws_admin(&config);
        measure(asyncmcp_async_std::AsyncStdRuntime, queue, &admin, n).await
    })
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let moto = Moto::start();
    println!("{n} sequential echo calls over sqs on moto at {} (after {WARM_UP} warm-up calls)", moto.endpoint);
    // Order A B B A, moto reset before each run, so neither runtime gains from going
    // first or last.
    let mut tokio = Vec::new();
    let mut async_std = Vec::new();
    for round in 0..4 {
        moto.reset();
        if round == 0 || round == 3 {
            tokio.push(tokio_rate(&moto, n));
        } else {
            async_std.push(async_std_rate(&moto, n));
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (t, a) = (mean(&tokio), mean(&async_std));
    println!("tokio     (SDK hyper-util client): {t:7.1} calls/s  (runs: {tokio:.1?})");
    println!("async-std (async-io client):       {a:7.1} calls/s  (runs: {async_std:.1?})");
    println!("async-std / tokio: {:.2}", a / t);
}
