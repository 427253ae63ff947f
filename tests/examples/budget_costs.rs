//! What a large echo costs over sqs on moto, with 1 MiB queues: API calls and billed
//! request units (64 KiB chunks) per round trip, client and server together, and the
//! time per round trip, for a 100 KiB and a 900 KiB `tools/call` echo.
//!
//! `cargo run -p asyncmcp-tests --example budget_costs -- [N]` (N round trips per
//! size, 10 by default). Drivers use the default options (20 s long polls), so idle
//! polls do not count; deletes linger up to 100 ms to share a batch call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncmcp_aws::{AwsAdmin, AwsQueueClient, QueueSpec};
use asyncmcp_driver::{DriverConfig, StatsSnapshot};
use asyncmcp_proto::sim::echo_responder;
use asyncmcp_proto::{AllowList, ClientConfig, Era, MessageKind, ServerConfig, ServerEvent};
use asyncmcp_tests::moto::{Moto, unique_name};
use asyncmcp_tokio::TokioRuntime;

const KIB: usize = 1024;

fn add(a: StatsSnapshot, b: StatsSnapshot) -> (u64, u64) {
    (a.total_calls() + b.total_calls(), a.billed_units + b.billed_units)
}

async fn measure(queue: &Arc<AwsQueueClient>, admin: &AwsAdmin, size: usize, n: usize) {
    let requests = admin.create_queue(&unique_name("cost-requests"), &QueueSpec::default()).await.expect("queue");
    let replies = admin.create_queue(&unique_name("cost-replies"), &QueueSpec::default()).await.expect("queue");
    let config = ServerConfig::new(requests.url.clone(), AllowList::new().exact(replies.url.clone()));
    let (server, mut events) =
        asyncmcp_driver::spawn_server(config, TokioRuntime::current(), Arc::clone(queue), DriverConfig::default())
            .expect("server");
    let answering = server.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let ServerEvent::Message { route, message } = &event
                && message.kind() == MessageKind::Request
                && let Some(answer) = echo_responder(route, message)
            {
                let _ = answering.submit(route.clone(), answer).await;
            }
        }
    });
    let mut config = ClientConfig::sqs(requests.url, replies.url.clone(), "cost");
    config.era = Era::Modern;
    let (client, _events) =
        asyncmcp_driver::spawn_client(config, TokioRuntime::current(), Arc::clone(queue), DriverConfig::default())
            .expect("client");
    let text = "x".repeat(size);
    let params = serde_json::json!({"name": "echo", "arguments": {"text": text}});
    client.call("tools/call", Some(params.clone())).await.expect("warm-up");
    // Let the warm-up's deletes go out before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (calls_before, units_before) = add(client.stats(), server.stats());
    let start = Instant::now();
    for _ in 0..n {
        let answer = client.call("tools/call", Some(params.clone())).await.expect("answered");
        assert!(answer.to_value()["result"].is_object(), "{}", answer.to_value()["error"]);
    }
    let elapsed = start.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (calls, units) = add(client.stats(), server.stats());
    let per = |x: u64| x as f64 / n as f64;
    println!(
        "{:>4} KiB echo over sqs: {:.1} API calls, {:.1} billed units, {:.1} ms per round trip \
         (client and server together, {n} round trips; client {:?}; server {:?})",
        size / KIB,
        per(calls - calls_before),
        per(units - units_before),
        elapsed.as_secs_f64() * 1000.0 / n as f64,
        client.stats(),
        server.stats(),
    );
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let moto = Moto::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    runtime.block_on(async {
        let config = moto.sdk_config();
        let queue = Arc::new(AwsQueueClient::new(&config));
        let admin = AwsAdmin::new(&config);
        for size in [100 * KIB, 900 * KIB] {
            measure(&queue, &admin, size, n).await;
        }
    });
}
