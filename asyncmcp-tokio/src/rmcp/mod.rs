//! [rmcp](https://docs.rs/rmcp) (the official MCP Rust SDK) over SQS and SNS.
//!
//! - **Client**: [`QueueClientTransport`] is an rmcp `Transport<RoleClient>`, so an
//!   rmcp client runs over a queue unchanged: `().serve(transport).await` or
//!   `handler.serve(transport).await`.
//! - **Server**: [`serve`] (or [`QueueServer`]) puts any rmcp `ServerHandler`, for
//!   example a `#[tool_router]` type, behind a request queue:
//!
//! ```no_run
//! # async fn doc<H: rmcp::ServerHandler>(
//! #     make: impl Fn() -> H + Send + Sync + 'static,
//! #     config: asyncmcp_tokio::proto::ServerConfig,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! let queue = std::sync::Arc::new(asyncmcp_tokio::memory_queue());
//! asyncmcp_tokio::rmcp::serve(make, config, queue).await?;
//! # Ok(()) }
//! ```
//!
//! # How the two MCP eras are served
//! The factory makes a fresh handler for every legacy session and for every modern
//! request, as rmcp's stateless HTTP server does.
//! - **Legacy sessions** (2025-11-25 and earlier): `initialize` opens a session; one
//!   rmcp service runs per session, with the normal handshake, and ends when the
//!   session closes (client close notification, idle timeout, server shutdown).
//! - **Modern requests** (2026-07-28): each request is served on its own by a fresh
//!   handler (rmcp's `serve_directly`, no handshake); its progress notifications and
//!   its response go back on that request's route. `server/discover` is answered by
//!   the handler (rmcp's `ServerHandler::discover`, from `get_info` and
//!   `supported_protocol_versions`). `notifications/cancelled` reaches the running
//!   request with that id.
//! - **A modern-era client that still sends `initialize`** (rmcp's plain
//!   `serve`, i.e. `ClientLifecycleMode::Initialize`): the asyncmcp server core opens
//!   a session for any `initialize`, but a modern-era asyncmcp client neither writes
//!   its reply address into `initialize` (it travels only as the `ReplyTo` attribute)
//!   nor adopts the session id. Such an `initialize` is answered by a fresh handler on
//!   that session, and the session is closed right after the answer; the client's
//!   later requests, which carry no session id, are then served statelessly. With
//!   `ClientLifecycleMode::Discover`, no `initialize` is sent at all.
//!
//! # Limits
//! - Session messages are handed to the session's rmcp service through an unbounded
//!   channel; backpressure comes from the server core's `max_in_flight`.
//! - A modern `notifications/cancelled` names only a JSON-RPC id, and the server core
//!   does not say which client sent it: it cancels the running request with that id
//!   only when exactly one such request runs, and is logged otherwise.
//! - A cancelled request is acknowledged with an error response (code -32800)
//!   because the driver has no way to delete a request without answering it; the
//!   asyncmcp client drops it as a late response.

mod client;
pub mod demo;
mod server;

pub use client::{QueueClientTransport, QueueTransportError};
pub use server::{QueueServer, serve};

/// JSON-RPC error codes the rmcp glue synthesizes.
pub mod codes {
    /// The request timed out waiting for its response on the queue.
    pub const REQUEST_TIMEOUT: i64 = -32001;
}
