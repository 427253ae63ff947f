//! `asyncmcp demo`: an rmcp tool server (the shared demo tools,
//! `asyncmcp_tokio::rmcp::demo::DemoTools`) and an asyncmcp client in one process
//! over the embedded in-memory SQS broker. Shows the handshake, the tool list, a tool call
//! and a long-running call with progress, as the JSON-RPC that crosses the queues.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use asyncmcp_tokio::proto::sim::QueueOptions;
use asyncmcp_tokio::proto::{AllowList, ClientConfig, ClientEvent, JsonRpcMessage, ServerConfig};
use asyncmcp_tokio::rmcp::QueueServer;
use asyncmcp_tokio::rmcp::demo::DemoTools;
use clap::Args;
use serde_json::{Value, json};

use crate::error::{CliError, CliResult};

/// The options of `asyncmcp demo`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  cargo run --release -p asyncmcp-cli -- demo")]
pub(crate) struct DemoArgs {
    /// Also print every JSON-RPC message in full.
    #[arg(long)]
    verbose: bool,
}

/// Runs the demo.
pub(crate) async fn run(args: DemoArgs) -> CliResult<ExitCode> {
    let verbose = args.verbose;
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("demo-requests", QueueOptions::default());
    let replies = queue.create_queue("demo-replies", QueueOptions::default());
    println!("asyncmcp demo: an MCP server and client talking over an in-memory SQS");
    println!("  server receives on  {requests}");
    println!("  client receives on  {replies}");
    println!();

    let server_config = ServerConfig::new(requests.clone(), AllowList::new().exact(replies.clone()));
    let server = QueueServer::start(DemoTools::new, server_config, Arc::clone(&queue))?;
    let server_handle = server.handle();
    let serving = tokio::spawn(server.run());

    let config = ClientConfig::sqs(requests, replies, asyncmcp_tokio::unique_client_id("demo-client"));
    let (client, mut events) = asyncmcp_tokio::spawn_client(config, Arc::clone(&queue))?;
    // Messages no `call` waits for: progress notifications, session events.
    let printer = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                ClientEvent::Message(m) if m.method() == Some("notifications/progress") => {
                    let p = m.to_value();
                    let params = &p["params"];
                    println!(
                        "  <- notifications/progress {}/{}  {}",
                        params["progress"].as_f64().unwrap_or_default(),
                        params["total"].as_f64().unwrap_or_default(),
                        params["message"].as_str().unwrap_or("")
                    );
                    if verbose {
                        println!("     {}", m.as_str());
                    }
                }
                other => tracing::debug!(?other, "client event"),
            }
        }
    });

    println!("1. handshake (MCP 2025-11-25 era: initialize opens a session)");
    let init = json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "asyncmcp-demo", "version": env!("CARGO_PKG_VERSION")},
    });
    println!("  -> initialize (the client's reply queue travels with it)");
    let reply = request(&client, "initialize", init, verbose).await?;
    let info = &reply["serverInfo"];
    println!(
        "  <- server {} {} speaks protocol {}",
        info["name"].as_str().unwrap_or("?"),
        info["version"].as_str().unwrap_or("?"),
        reply["protocolVersion"].as_str().unwrap_or("?")
    );
    println!("     (the server minted a session id; every later message of the session carries it)");
    client.notify("notifications/initialized", None).await.map_err(|e| CliError::new(e.to_string()))?;
    println!("  -> notifications/initialized");
    println!();

    println!("2. tool list");
    println!("  -> tools/list");
    let tools = request(&client, "tools/list", json!({}), verbose).await?;
    for tool in tools["tools"].as_array().into_iter().flatten() {
        println!("  <- {:<10} {}", tool["name"].as_str().unwrap_or("?"), tool["description"].as_str().unwrap_or(""));
    }
    println!();

    println!("3. tool calls");
    for (tool, arguments) in [("echo", json!({"text": "hello over a queue"})), ("add", json!({"a": 40, "b": 2}))] {
        println!("  -> tools/call {tool} {arguments}");
        let result = request(&client, "tools/call", json!({"name": tool, "arguments": arguments}), verbose).await?;
        println!("  <- {}", text(&result));
    }
    println!();

    println!("4. a long-running call with progress");
    println!("  -> tools/call countdown {{\"from\":5}} (with a progress token)");
    let params = json!({"name": "countdown", "arguments": {"from": 5}, "_meta": {"progressToken": "countdown-1"}});
    let result = request(&client, "tools/call", params, verbose).await?;
    println!("  <- {}", text(&result));
    println!();

    client.shutdown(Duration::from_secs(1)).await;
    println!("5. session closed (notifications/asyncmcp/close)");
    server_handle.shutdown(Duration::from_secs(1)).await;
    let _ = serving.await;
    printer.abort();
    let stats = server_handle.stats();
    println!(
        "server's queue calls: {} receives, {} sends, {} deletes",
        stats.receives,
        stats.sends + stats.send_batches,
        stats.deletes + stats.delete_batches
    );
    println!();
    println!("Next: put your own stdio MCP server on SQS with `asyncmcp infra up` and `asyncmcp serve` (see README).");
    Ok(ExitCode::SUCCESS)
}

/// Sends a request, waits for its response, returns the `result`.
async fn request(
    client: &asyncmcp_tokio::ClientHandle,
    method: &str,
    params: Value,
    verbose: bool,
) -> CliResult<Value> {
    let reply: JsonRpcMessage =
        client.call(method, Some(params)).await.map_err(|e| CliError::new(format!("{method}: {e}")))?;
    if verbose {
        println!("     {}", reply.as_str());
    }
    let mut value = reply.to_value();
    if let Some(error) = value.get("error") {
        return Err(CliError::new(format!("{method} failed: {error}")));
    }
    Ok(value.get_mut("result").map(Value::take).unwrap_or(Value::Null))
}

fn text(result: &Value) -> String {
    result["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join(" ")
}
