//! An rmcp client on a queue: `QueueClientTransport` is an rmcp transport, so
//! `().serve(transport)` works unchanged. Pass `--modern` for the 2026-07-28 era
//! (`server/discover`, stateless requests); the default is a legacy session.
//!
//! `AwsQueueClient` (feature `aws`) is not in this branch yet, so this runs over the
//! in-memory broker with a small server in the same process; against real SQS only
//! the `queue` line changes (and the server runs elsewhere).
//! `cargo run -p asyncmcp-tokio --example tool_client -- --modern`
use std::sync::Arc;

use asyncmcp_tokio::proto::sim::QueueOptions;
use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, Era, ServerConfig};
use asyncmcp_tokio::rmcp::QueueClientTransport;
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};

#[derive(Clone, Default)]
struct Clock;

#[tool_router]
impl Clock {
    #[tool(description = "Seconds since the Unix epoch")]
    fn now(&self) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_secs().to_string()
    }
}

#[tool_handler]
impl ServerHandler for Clock {}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let modern = std::env::args().any(|a| a == "--modern");
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("clock-requests", QueueOptions::default());
    let replies = queue.create_queue("clock-replies", QueueOptions::default());
    let server_config = ServerConfig::new(requests.clone(), AllowList::new().exact(replies.clone()));
    tokio::spawn(asyncmcp_tokio::rmcp::serve(Clock::default, server_config, Arc::clone(&queue)));

    let mut config =
        ClientConfig::new(Address::Queue(requests), Address::Queue(replies.clone()), replies, "clock-client");
    let lifecycle = if modern {
        config.era = Era::Modern;
        ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
    } else {
        ClientLifecycleMode::Initialize
    };
    let transport = QueueClientTransport::spawn(config, Arc::clone(&queue))?;
    let client = ().serve_with_lifecycle(transport, lifecycle).await?;
    let version = client.peer_info().map(|i| i.protocol_version.to_string()).unwrap_or_default();
    println!("era: {}, protocol {version}", if modern { "modern" } else { "legacy" });
    let result = client.call_tool(CallToolRequestParams::new("now")).await?;
    let text: String = result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.as_str()).collect();
    println!("now -> {text}");
    client.cancel().await?;
    Ok(())
}
