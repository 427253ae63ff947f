//! An MCP server on SQS (or SNS to SQS) with the plain message API on async-std: it
//! answers `tools/call` of an `echo` tool until stopped (Ctrl-C). The tool is raw
//! JSON-RPC rather than the shared rmcp demo tools (`asyncmcp_tokio::rmcp::demo`)
//! because rmcp needs tokio.
//!
//! `cargo run -p asyncmcp-async-std --features aws --example queue_server -- --endpoint-url http://127.0.0.1:5000`
//! then run `queue_client` with the same options. Add `--transport sns-sqs` for topics.
mod common;

use std::sync::Arc;

use asyncmcp_async_std::proto::{AllowList, JsonRpcMessage, MessageKind, ServerConfig, ServerEvent};
use serde_json::json;

fn main() -> Result<(), String> {
    let options = common::Options::parse()?;
    async_std::task::block_on(async {
        let (queue, admin) = options.clients()?;
        let wiring = common::wiring(&admin, options.sns).await?;
        let config = ServerConfig::new(wiring.requests.clone(), AllowList::new().exact(wiring.client_address.as_str()));
        let (server, mut events) =
            asyncmcp_async_std::spawn_server(config, Arc::new(queue)).map_err(|e| e.to_string())?;
        println!("serving on {}", wiring.server_address);
        while let Some(event) = events.next().await {
            let ServerEvent::Message { route, message } = event else {
                eprintln!("event: {event:?}");
                continue;
            };
            let Some(id) = message.id().cloned() else { continue };
            if message.kind() != MessageKind::Request {
                continue;
            }
            let params = message.to_value().get("params").cloned().unwrap_or_default();
            let reply = match message.method() {
                Some("tools/call") if params["name"] == "echo" => JsonRpcMessage::response(
                    id,
                    json!({"content": [{"type": "text", "text": params["arguments"]["text"]}]}),
                ),
                Some("server/discover") => {
                    JsonRpcMessage::response(id, json!({"supportedVersions": ["2026-07-28"], "capabilities": {}}))
                }
                _ => JsonRpcMessage::error(id, -32601, "method not found", None),
            };
            println!("{:?} -> {}", message.method(), reply.to_value());
            if let Err(e) = server.submit(route, reply).await {
                eprintln!("cannot answer: {e}");
            }
        }
        Ok(())
    })
}
