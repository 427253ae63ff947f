//! A `#[tool]` server on a queue: the two lines that matter are the `serve` call.
//!
//! `AwsQueueClient` (feature `aws`) is not in this branch yet, so this runs over the
//! in-memory broker; against real SQS only the `queue` line changes. To show the
//! server answering, a plain asyncmcp client (no rmcp) sends one modern-era request.
//! `cargo run -p asyncmcp-tokio --example tool_server`
use std::sync::Arc;
use std::time::Duration;

use asyncmcp_tokio::proto::sim::QueueOptions;
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, Era, ServerConfig};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{ServerHandler, tool, tool_handler, tool_router};

#[derive(serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct Greeting {
    /// Who to greet.
    name: String,
}

#[derive(Clone, Default)]
struct Greeter;

#[tool_router]
impl Greeter {
    #[tool(description = "Say hello")]
    fn hello(&self, Parameters(Greeting { name }): Parameters<Greeting>) -> String {
        format!("hello, {name}")
    }
}

#[tool_handler]
impl ServerHandler for Greeter {}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("greeter-requests", QueueOptions::default());
    let replies = queue.create_queue("greeter-replies", QueueOptions::default());

    // The server: any rmcp ServerHandler, one fresh instance per session or request.
    let config = ServerConfig::new(requests.clone(), AllowList::new().prefix("http://sim.local/"));
    tokio::spawn(asyncmcp_tokio::rmcp::serve(Greeter::default, config, Arc::clone(&queue)));

    // A raw modern-era request, as any MCP client over asyncmcp would send it.
    let mut client_config =
        ClientConfig::new(Address::Queue(requests), Address::Queue(replies.clone()), replies, "raw-client");
    client_config.era = Era::Modern;
    let (client, _events) = asyncmcp_tokio::spawn_client(client_config, Arc::clone(&queue))?;
    let params = serde_json::json!({"name": "hello", "arguments": {"name": "queue"}});
    let reply = client.call("tools/call", Some(params)).await?;
    println!("tools/call hello -> {reply}");
    client.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
