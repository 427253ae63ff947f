//! Server and client in one process over the in-memory broker: no AWS account, no
//! moto, nothing installed. `cargo run -p asyncmcp-tokio --example demo`
use std::sync::Arc;
use std::time::Duration;

use asyncmcp_tokio::proto::sim::QueueOptions;
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, JsonRpcMessage, MessageKind, ServerConfig, ServerEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("demo-requests", QueueOptions::default());
    let replies = queue.create_queue("demo-replies", QueueOptions::default());

    let server_config = ServerConfig::new(requests.clone(), AllowList::new().exact(replies.clone()));
    let (server, mut server_events) = asyncmcp_tokio::spawn_server(server_config, Arc::clone(&queue))?;
    tokio::spawn(async move {
        while let Some(event) = server_events.next().await {
            let ServerEvent::Message { route, message } = event else { continue };
            if message.kind() != MessageKind::Request {
                continue;
            }
            let Some(id) = message.id().cloned() else { continue };
            let params = message.to_value()["params"].clone();
            let result = match message.method() {
                Some("initialize") => serde_json::json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "demo", "version": "0.1.0"}
                }),
                Some("tools/list") => {
                    serde_json::json!({"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]})
                }
                _ => serde_json::json!({"content": [{"type": "text", "text": params["arguments"]["text"]}]}),
            };
            let _ = server.submit(route, JsonRpcMessage::response(id, result)).await;
        }
    });

    let client_config =
        ClientConfig::new(Address::Queue(requests), Address::Queue(replies.clone()), replies, "demo-client");
    let (client, _events) = asyncmcp_tokio::spawn_client(client_config, Arc::clone(&queue))?;
    let init = client
        .call("initialize", Some(serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "demo", "version": "0"}})))
        .await?;
    println!("initialize -> {init}");
    client.notify("notifications/initialized", None).await?;
    println!("tools/list -> {}", client.call("tools/list", None).await?);
    let echoed = client
        .call("tools/call", Some(serde_json::json!({"name": "echo", "arguments": {"text": "hello over a queue"}})))
        .await?;
    println!("tools/call -> {echoed}");
    client.shutdown(Duration::from_secs(1)).await;
    println!("calls made by the client: {:?}", client.stats());
    Ok(())
}
