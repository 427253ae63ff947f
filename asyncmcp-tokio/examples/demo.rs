//! An rmcp `#[tool]` server and an rmcp client in one process, talking over the
//! in-memory SQS broker: no AWS account, nothing installed.
//! `cargo run -p asyncmcp-tokio --example demo`
use std::sync::Arc;
use std::time::Duration;

use asyncmcp_tokio::proto::sim::QueueOptions;
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, ServerConfig};
use asyncmcp_tokio::rmcp::demo::DemoTools;
use asyncmcp_tokio::rmcp::{QueueClientTransport, QueueServer};
use rmcp::model::{CallToolRequestParams, CallToolResult, ProgressNotificationParam};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient, ServiceExt};

/// The client: prints progress as it arrives.
#[derive(Clone, Default)]
struct Printer;

impl ClientHandler for Printer {
    async fn on_progress(&self, p: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        let total = p.total.unwrap_or_default();
        println!("    progress {}/{}: {}", p.progress, total, p.message.unwrap_or_default());
    }
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.as_str()).collect()
}

fn call(name: &'static str, args: serde_json::Value) -> CallToolRequestParams {
    let serde_json::Value::Object(args) = args else { unreachable!("arguments are an object") };
    CallToolRequestParams::new(name).with_arguments(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One broker, a request queue for the server, a reply queue for the client.
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("demo-requests", QueueOptions::default());
    let replies = queue.create_queue("demo-replies", QueueOptions::default());

    // Server: the demo tools (echo, add, countdown), a fresh handler per session or
    // request, behind the request queue.
    let server_config = ServerConfig::new(requests.clone(), AllowList::new().exact(replies.clone()));
    let server = QueueServer::start(DemoTools::new, server_config, Arc::clone(&queue))?;
    let server_handle = server.handle();
    let serving = tokio::spawn(server.run());

    // Client: an ordinary rmcp client whose transport is the queue pair.
    let client_config = ClientConfig::new(
        Address::Queue(requests),
        Address::Queue(replies.clone()),
        replies,
        asyncmcp_tokio::unique_client_id("demo-client"),
    );
    let transport = QueueClientTransport::spawn(client_config, Arc::clone(&queue))?;
    let client = Printer.serve(transport).await?;
    let info = client.peer_info().ok_or("no server info after initialize")?;
    let (name, version) = info.server_info.as_ref().map_or(("?", "?"), |i| (i.name.as_str(), i.version.as_str()));
    println!("connected to {name} {version} (protocol {})", info.protocol_version);

    let tools = client.list_all_tools().await?;
    println!("tools:");
    for tool in &tools {
        println!("  {:<10} {}", tool.name, tool.description.as_deref().unwrap_or(""));
    }

    let echoed = client.call_tool(call("echo", serde_json::json!({"text": "hello over a queue"}))).await?;
    println!("echo      -> {}", text(&echoed));
    let sum = client.call_tool(call("add", serde_json::json!({"a": 40, "b": 2}))).await?;
    println!("add 40 2  -> {}", text(&sum));
    println!("countdown 5:");
    let done = client.call_tool(call("countdown", serde_json::json!({"from": 5}))).await?;
    println!("countdown -> {}", text(&done));
    match client.call_tool(call("launch", serde_json::json!({}))).await {
        Ok(r) => println!("launch    -> {} (is_error: {:?})", text(&r), r.is_error),
        Err(e) => println!("launch    -> error: {e}"),
    }

    client.cancel().await?;
    server_handle.shutdown(Duration::from_secs(1)).await;
    serving.await??;
    println!("server calls to the queue service: {:?}", server_handle.stats());
    Ok(())
}
