//! A raw JSON-RPC MCP server and client in one process over the in-memory SQS
//! broker: no AWS account, nothing installed. rmcp needs tokio (see
//! `asyncmcp-tokio`); here the application reads and writes JSON-RPC itself.
//! `cargo run -p asyncmcp-async-std --example demo-async-std`
use std::sync::Arc;
use std::time::Duration;

use asyncmcp_async_std::proto::sim::QueueOptions;
use asyncmcp_async_std::proto::{
    Address, AllowList, ClientConfig, Era, JsonRpcMessage, MessageKind, ServerConfig, ServerEvent,
};
use asyncmcp_async_std::{ServerEvents, ServerHandle};
use serde_json::{Value, json};

/// The server application: answers `tools/list` and the `echo` tool.
///
/// Written out as raw JSON-RPC on purpose, not the shared demo tools
/// (`asyncmcp_tokio::rmcp::demo::DemoTools`): those are an rmcp server, and rmcp
/// needs a tokio runtime, which this crate's users do not run.
fn answer(request: &JsonRpcMessage) -> JsonRpcMessage {
    let id = request.id().cloned().unwrap_or(asyncmcp_async_std::proto::RequestId::Number(0));
    let params = request.to_value().get("params").cloned().unwrap_or(Value::Null);
    match request.method() {
        Some("server/discover") => JsonRpcMessage::response(
            id,
            json!({"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
                   "serverInfo": {"name": "async-std-demo", "version": "0"}}),
        ),
        Some("tools/list") => JsonRpcMessage::response(
            id,
            json!({"tools": [{"name": "echo", "description": "Echo the text back",
                              "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}]}),
        ),
        Some("tools/call") if params["name"] == "echo" => {
            JsonRpcMessage::response(id, json!({"content": [{"type": "text", "text": params["arguments"]["text"]}]}))
        }
        _ => JsonRpcMessage::error(id, -32601, "method not found", None),
    }
}

async fn serve(server: ServerHandle, mut events: ServerEvents) {
    while let Some(event) = events.next().await {
        match event {
            ServerEvent::Message { route, message } if message.kind() == MessageKind::Request => {
                if let Err(e) = server.submit(route, answer(&message)).await {
                    eprintln!("server: cannot answer: {e}");
                }
            }
            ServerEvent::Message { message, .. } => println!("server: notification {:?}", message.method()),
            other => println!("server: {other:?}"),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    async_std::task::block_on(async {
        let queue = Arc::new(asyncmcp_async_std::memory_queue());
        let requests = queue.create_queue("requests", QueueOptions::default());
        let replies = queue.create_queue("replies", QueueOptions::default());

        let config = ServerConfig::new(requests.clone(), AllowList::new().exact(replies.clone()));
        let (server, events) = asyncmcp_async_std::spawn_server(config, Arc::clone(&queue))?;
        async_std::task::spawn(serve(server, events));

        let mut config = ClientConfig::new(
            Address::Queue(requests),
            Address::Queue(replies.clone()),
            replies,
            asyncmcp_async_std::unique_client_id("demo"),
        );
        config.era = Era::Modern;
        let (client, _events) = asyncmcp_async_std::spawn_client(config, queue)?;

        let discover = client.call("server/discover", None).await?;
        println!("discover: {}", discover.to_value()["result"]["serverInfo"]);
        let tools = client.call("tools/list", None).await?;
        println!("tools: {}", tools.to_value()["result"]["tools"][0]["name"]);
        let echo = client.call("tools/call", Some(json!({"name": "echo", "arguments": {"text": "hello"}}))).await?;
        println!("echo: {}", echo.to_value()["result"]["content"][0]["text"]);
        client.notify("notifications/progress", Some(json!({"progressToken": 1, "progress": 1}))).await?;
        client.shutdown(Duration::from_secs(1)).await;
        Ok(())
    })
}
