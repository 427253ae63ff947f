//! A task-serving worker process for the moto tier's kill test
//! (`tests/moto_tasks.rs`): the demo tools behind a request queue, tasks in a
//! DynamoDB table, all on a moto endpoint. Prints `ready` once serving; runs until
//! killed.
//!
//! `task_worker ENDPOINT REQUEST_QUEUE_URL TABLE ALLOW_PREFIX VISIBILITY_SECS STEP_MS`

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_aws::DynamoTaskStore;
use asyncmcp_tests::moto::sdk_config_for;
use asyncmcp_tokio::proto::tasks::TaskSupport;
use asyncmcp_tokio::proto::{AllowList, ServerConfig};
use asyncmcp_tokio::rmcp::QueueServer;
use asyncmcp_tokio::rmcp::demo::DemoTools;
use asyncmcp_tokio::tasks::TaskOptions;
use asyncmcp_tokio::{AwsQueueClient, DriverConfig};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, requests, table, allow, visibility, step] = args.as_slice() else {
        eprintln!("usage: task_worker ENDPOINT REQUEST_QUEUE_URL TABLE ALLOW_PREFIX VISIBILITY_SECS STEP_MS");
        std::process::exit(2);
    };
    let visibility: u64 = visibility.parse().unwrap_or(30);
    let step: u64 = step.parse().unwrap_or(100);
    let sdk = sdk_config_for(endpoint);
    let mut config = ServerConfig::new(requests.clone(), AllowList::new().try_prefix(allow).expect("allow prefix"));
    config.visibility_timeout = Duration::from_secs(visibility);
    let mut options =
        TaskOptions::new(Arc::new(DynamoTaskStore::new(&sdk, table))).tool("countdown", TaskSupport::Optional);
    options.limits.lease_ms = visibility * 1_000;
    let tools = DemoTools::new().with_step(Duration::from_millis(step));
    let mut driver = DriverConfig::default();
    driver.long_poll = Duration::from_secs(1);
    let server = QueueServer::start_with(move || tools.clone(), config, Arc::new(AwsQueueClient::new(&sdk)), driver)
        .expect("server")
        .with_tasks(options);
    println!("ready");
    if let Err(e) = server.run().await {
        eprintln!("task_worker: {e}");
        std::process::exit(1);
    }
}
