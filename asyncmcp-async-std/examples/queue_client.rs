//! An MCP client on SQS (or SNS to SQS) with the plain message API on async-std: it
//! calls the `echo` tool of `queue_server` and prints the answer.
//!
//! `cargo run -p asyncmcp-async-std --features aws --example queue_client -- --endpoint-url http://127.0.0.1:5000`
mod common;

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_async_std::proto::{ClientConfig, Era};
use serde_json::json;

fn main() -> Result<(), String> {
    let options = common::Options::parse()?;
    async_std::task::block_on(async {
        let (queue, admin) = options.clients()?;
        let wiring = common::wiring(&admin, options.sns).await?;
        let mut config = ClientConfig::new(
            wiring.server_address,
            wiring.client_address,
            wiring.replies,
            asyncmcp_async_std::unique_client_id("example"),
        );
        config.era = Era::Modern;
        let (client, _events) = asyncmcp_async_std::spawn_client(config, Arc::new(queue)).map_err(|e| e.to_string())?;
        for text in ["hello", "from", "async-std"] {
            let params = json!({"name": "echo", "arguments": {"text": text}});
            let answer = client.call("tools/call", Some(params)).await.map_err(|e| e.to_string())?;
            println!("echo: {}", answer.to_value()["result"]["content"][0]["text"]);
        }
        client.shutdown(Duration::from_secs(2)).await;
        Ok(())
    })
}
