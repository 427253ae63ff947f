//! The server half of `scripts/bench-moto.sh`: an rmcp `#[tool]` server with one
//! `echo` tool on an SQS request queue, in its own process.
//!
//! It prints `READY` once its driver runs, then reads commands on stdin: `stats`
//! prints one line `STATS <calls> <receives> <empty> <messages> <sends> <send_batches>
//! <publishes> <publish_batches> <deletes> <delete_batches> <visibility> <visibility_batches>
//! <echoes>` (the driver's call counts, each batch call counting once, then how many
//! times the tool ran); `quit` (or end of input) shuts down and exits.
//!
//! With `BENCH_TRACE=1` in its environment (`bench_client` passes its own on) it writes
//! a `TRACE` line per queue call to stderr (`examples/support/trace.rs`): message ids,
//! receive counts and JSON-RPC ids, for telling a redelivery from a duplicate send.
//!
//! `bench_server --endpoint-url URL --queue-url URL --allow REPLY_ADDRESS [--max-sessions N]`
//! (`--max-sessions`: legacy sessions served at once, 256 by default as in
//! `fanout::Limits`; `bench_shared` opens 1,000).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use asyncmcp_tokio::fanout::Limits;
use asyncmcp_tokio::proto::{AllowList, ServerConfig};
use asyncmcp_tokio::rmcp::QueueServer;
use asyncmcp_tokio::{AwsQueueClient, DriverConfig, StatsSnapshot};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[path = "support/trace.rs"]
mod trace;

#[derive(serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct EchoArgs {
    /// What to echo.
    text: String,
}

#[derive(Clone, Default)]
struct Echo;

/// How many times `echo` ran: `scripts/bench.sh scaleout` checks that several server
/// processes on one queue answer each request once.
static ECHOES: AtomicU64 = AtomicU64::new(0);

#[tool_router]
impl Echo {
    #[tool(description = "Echo the text back")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        ECHOES.fetch_add(1, Ordering::Relaxed);
        text
    }
}

#[tool_handler]
impl ServerHandler for Echo {}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn required(name: &str) -> Result<String, String> {
    arg(name).ok_or_else(|| format!("missing {name}"))
}

/// One line of counters, in the order the module docs give.
fn stats_line(s: &StatsSnapshot) -> String {
    format!(
        "STATS {} {} {} {} {} {} {} {} {} {} {} {} {}\n",
        s.total_calls(),
        s.receives,
        s.empty_receives,
        s.messages_received,
        s.sends,
        s.send_batches,
        s.publishes,
        s.publish_batches,
        s.deletes,
        s.delete_batches,
        s.visibility_changes,
        s.visibility_batches,
        ECHOES.load(Ordering::Relaxed)
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = required("--endpoint-url")?;
    let queue_url = required("--queue-url")?;
    let allow = required("--allow")?;
    let queue = Arc::new(AwsQueueClient::with_endpoint(&endpoint, "us-east-1"));
    let config = ServerConfig::new(queue_url, AllowList::new().exact(allow));
    let mut limits = Limits::default();
    if let Some(n) = arg("--max-sessions") {
        limits.max_sessions = n.parse()?;
    }
    let server = if trace::enabled() {
        let traced = Arc::new(trace::Traced::new(queue));
        QueueServer::start_with(Echo::default, config, traced, DriverConfig::default())?
    } else {
        QueueServer::start_with(Echo::default, config, queue, DriverConfig::default())?
    }
    .with_limits(limits);
    let handle = server.handle();
    let running = tokio::spawn(server.run());

    let mut out = tokio::io::stdout();
    out.write_all(b"READY\n").await?;
    out.flush().await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        match line.trim() {
            "stats" => {
                out.write_all(stats_line(&handle.stats()).as_bytes()).await?;
                out.flush().await?;
            }
            "quit" => break,
            other => eprintln!("bench_server: unknown command {other:?}"),
        }
    }
    handle.shutdown(Duration::from_secs(2)).await;
    running.await??;
    Ok(())
}
