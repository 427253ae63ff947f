//! An rmcp `#[tool]` server on SQS, reached over sqs or sns-sqs. The two lines that
//! matter are `QueueServer::start` and `run`.
//!
//! Tools: the demo set, `asyncmcp_tokio::rmcp::demo::DemoTools`: `echo`, `add`, and
//! `countdown`, which here runs one second per step and reports
//! `notifications/progress` as it goes.
//!
//! Against moto (`python3 -m moto.server -p 5000`), creating the queues and topics:
//! ```text
//! cargo run -p asyncmcp-tokio --features aws --example tool_server -- \
//!     --endpoint-url http://127.0.0.1:5000 --transport sns-sqs --create
//! ```
//! It prints the `tool_client` command to run next. Against AWS, leave out
//! `--endpoint-url` (the standard credential chain, `AWS_REGION` and
//! `AWS_ENDPOINT_URL` apply) and name existing resources:
//! `--queue-url URL --allow-reply ADDRESS` (the reply queue URL or topic ARN clients
//! give; `--allow-reply-prefix` for many clients).
use std::sync::Arc;
use std::time::Duration;

use asyncmcp_tokio::proto::{AllowList, ServerConfig};
use asyncmcp_tokio::rmcp::QueueServer;
use asyncmcp_tokio::rmcp::demo::DemoTools;
use asyncmcp_tokio::{AwsAdmin, AwsQueueClient, QueueSpec};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

const REGION: &str = "us-east-1";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = arg("--endpoint-url");
    let transport = arg("--transport").unwrap_or_else(|| "sqs".to_owned());
    if transport != "sqs" && transport != "sns-sqs" {
        return Err(format!("--transport {transport}: expected sqs or sns-sqs").into());
    }
    let queue = Arc::new(match &endpoint {
        Some(url) => AwsQueueClient::with_endpoint(url, REGION),
        None => AwsQueueClient::from_env().await,
    });

    let (queue_url, allow) = if flag("--create") {
        let admin = match &endpoint {
            Some(url) => AwsAdmin::with_endpoint(url, REGION),
            None => AwsAdmin::from_env().await,
        };
        let name = arg("--name").unwrap_or_else(|| "asyncmcp-example".to_owned());
        let requests = admin.create_queue(&format!("{name}-requests"), &QueueSpec::default()).await?;
        let replies = admin.create_queue(&format!("{name}-replies"), &QueueSpec::default()).await?;
        let (server, reply_to) = if transport == "sns-sqs" {
            let raw = flag("--raw");
            let server_topic = admin.create_topic(&format!("{name}-requests")).await?;
            let client_topic = admin.create_topic(&format!("{name}-replies")).await?;
            admin.subscribe_queue(&server_topic, &requests.arn, &requests.url, raw).await?;
            admin.subscribe_queue(&client_topic, &replies.arn, &replies.url, raw).await?;
            (server_topic, client_topic)
        } else {
            (requests.url.clone(), replies.url.clone())
        };
        let endpoint_arg = endpoint.as_ref().map(|e| format!(" --endpoint-url {e}")).unwrap_or_default();
        println!("created {transport} resources; run the client with:");
        println!(
            "  cargo run -p asyncmcp-tokio --features aws --example tool_client --{endpoint_arg} \
             --transport {transport} --server {server} --reply-to {reply_to} --reply-queue {} [--modern]",
            replies.url
        );
        (requests.url, AllowList::new().exact(reply_to))
    } else {
        let queue_url = arg("--queue-url").ok_or("missing --queue-url (or --create)")?;
        let allow = match (arg("--allow-reply"), arg("--allow-reply-prefix")) {
            (Some(exact), _) => {
                AllowList::new().try_exact(&exact).map_err(|e| format!("--allow-reply {exact}: {e}"))?
            }
            (None, Some(prefix)) => {
                AllowList::new().try_prefix(&prefix).map_err(|e| format!("--allow-reply-prefix {prefix}: {e}"))?
            }
            (None, None) => return Err("missing --allow-reply ADDRESS or --allow-reply-prefix PREFIX".into()),
        };
        (queue_url, allow)
    };

    // The server: any rmcp ServerHandler, one fresh instance per session or request.
    let tools = DemoTools::new().with_step(Duration::from_secs(1));
    let server = QueueServer::start(move || tools.clone(), ServerConfig::new(queue_url.clone(), allow), queue)?;
    let handle = server.handle();
    println!("serving echo, add and countdown on {queue_url} (Ctrl-C to stop)");
    let running = tokio::spawn(server.run());
    tokio::select! {
        _ = running => {}
        _ = wait_for_stdin_close() => {
            handle.shutdown(Duration::from_secs(5)).await;
        }
    }
    Ok(())
}

/// Resolves when standard input reaches end of file (Ctrl-D, or a closed pipe).
async fn wait_for_stdin_close() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}
