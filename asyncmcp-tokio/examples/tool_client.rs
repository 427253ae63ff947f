//! An rmcp client on SQS/SNS: `QueueClientTransport` is an rmcp transport, so
//! `().serve(transport)` works unchanged. Lists the tools of `tool_server`, calls
//! `echo` and `add`, and runs `countdown`, printing its progress notifications.
//!
//! ```text
//! cargo run -p asyncmcp-tokio --features aws --example tool_client -- \
//!     [--endpoint-url http://127.0.0.1:5000] --transport sqs|sns-sqs \
//!     --server QUEUE_URL_OR_TOPIC_ARN --reply-to QUEUE_URL_OR_TOPIC_ARN \
//!     --reply-queue QUEUE_URL [--modern]
//! ```
//! (`tool_server --create` prints this line with the right addresses.) `--modern`
//! uses the 2026-07-28 era (`server/discover`, stateless requests); the default is a
//! legacy session opened with `initialize`. Without `--endpoint-url` the standard AWS
//! credential chain, `AWS_REGION` and `AWS_ENDPOINT_URL` apply.
use std::sync::Arc;

use asyncmcp_tokio::AwsQueueClient;
use asyncmcp_tokio::proto::{Address, ClientConfig, Era};
use asyncmcp_tokio::rmcp::QueueClientTransport;
use rmcp::model::{CallToolRequestParams, CallToolResult, ProgressNotificationParam, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, NotificationContext};
use rmcp::{ClientHandler, RoleClient};

/// Prints progress notifications as they arrive.
#[derive(Clone, Default)]
struct Printer;

impl ClientHandler for Printer {
    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        let total = params.total.map(|t| format!("/{t}")).unwrap_or_default();
        let message = params.message.unwrap_or_default();
        println!("  progress {}{total} {message}", params.progress);
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.as_str()).collect()
}

fn call(name: &'static str, args: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name).with_arguments(args.as_object().cloned().unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let modern = std::env::args().any(|a| a == "--modern");
    let kind = arg("--transport").unwrap_or_else(|| "sqs".to_owned());
    let server = Address::parse(&arg("--server").ok_or("missing --server QUEUE_URL_OR_TOPIC_ARN")?);
    let reply_to = Address::parse(&arg("--reply-to").ok_or("missing --reply-to QUEUE_URL_OR_TOPIC_ARN")?);
    let reply_queue = arg("--reply-queue").ok_or("missing --reply-queue QUEUE_URL")?;
    match kind.as_str() {
        "sqs" if server.is_topic() || reply_to.is_topic() => {
            return Err("--transport sqs takes queue URLs for --server and --reply-to".into());
        }
        "sns-sqs" if !server.is_topic() || !reply_to.is_topic() => {
            return Err("--transport sns-sqs takes topic ARNs for --server and --reply-to".into());
        }
        "sqs" | "sns-sqs" => {}
        other => return Err(format!("--transport {other}: expected sqs or sns-sqs").into()),
    }
    let queue = Arc::new(match arg("--endpoint-url") {
        Some(url) => AwsQueueClient::with_endpoint(&url, "us-east-1"),
        None => AwsQueueClient::from_env().await,
    });

    let client_id = asyncmcp_tokio::unique_client_id("tool-client");
    let mut config = ClientConfig::new(server, reply_to, reply_queue, client_id);
    let lifecycle = if modern {
        config.era = Era::Modern;
        ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
    } else {
        ClientLifecycleMode::Initialize
    };
    let transport = QueueClientTransport::spawn(config, queue)?;
    let stats = transport.handle().clone();
    let client = Printer.serve_with_lifecycle(transport, lifecycle).await?;
    let version = client.peer_info().map(|i| i.protocol_version.to_string()).unwrap_or_default();
    println!("connected over {kind}: {} era, protocol {version}", if modern { "modern" } else { "legacy" });

    let tools = client.list_all_tools().await?;
    println!("tools: {}", tools.iter().map(|t| t.name.as_ref()).collect::<Vec<_>>().join(", "));
    let echoed = client.call_tool(call("echo", serde_json::json!({"text": "hello over a queue"}))).await?;
    println!("echo -> {}", text(&echoed));
    let sum = client.call_tool(call("add", serde_json::json!({"a": 40, "b": 2}))).await?;
    println!("add 40 2 -> {}", text(&sum));
    println!("countdown 3:");
    let done = client.call_tool(call("countdown", serde_json::json!({"from": 3}))).await?;
    println!("countdown -> {}", text(&done));
    println!("SQS/SNS calls made by this client: {:?}", stats.stats());
    client.cancel().await?;
    Ok(())
}
