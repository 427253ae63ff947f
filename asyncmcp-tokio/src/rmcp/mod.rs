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
//! request, as rmcp's stateless HTTP server does; the sessions and requests are
//! handed to their handlers by the [`fanout`](crate::fanout), one task each.
//! - **Legacy sessions** (2025-11-25 and earlier): an `initialize` that names its
//!   reply address opens a session; one rmcp service runs per session, with the
//!   normal handshake, and ends when the session closes (client close notification,
//!   idle timeout, server shutdown). A service that ends on its own (a failed
//!   handshake, say) closes its session.
//! - **Modern requests** (2026-07-28): each request is served on its own by a fresh
//!   handler (rmcp's `serve_directly`, no handshake); its progress notifications and
//!   its response go back on that request's route. `server/discover` is answered by
//!   the handler (rmcp's `ServerHandler::discover`, from `get_info` and
//!   `supported_protocol_versions`).
//! - **A modern-era client that still sends `initialize`** (rmcp's plain `serve`,
//!   i.e. `ClientLifecycleMode::Initialize`): its `initialize` carries the reply
//!   address only as the `ReplyTo` attribute, so the server core treats it as an
//!   ordinary stateless request. A fresh handler answers it, no session is opened, and
//!   the client's later requests are served statelessly too. With
//!   `ClientLifecycleMode::Discover`, no `initialize` is sent at all.
//!
//! # Cancellation
//! A `notifications/cancelled` reaches the request it names: in a legacy session
//! through the session's service; for a modern request, the server core routes it to
//! the running request with that id from the same client, and the fan-out hands it
//! to that request's service. rmcp then cancels the handler's `RequestContext::ct`
//! and drops its response; the request's queue message is deleted without an answer
//! ([`ServerHandle::abandon`](crate::ServerHandle::abandon)), as MCP asks.
//!
//! # Limits
//! [`QueueServer::with_limits`] sets the [`fanout::Limits`](crate::fanout::Limits):
//! - sessions and modern requests over their caps are refused with error
//!   [`SERVER_BUSY`](crate::fanout::SERVER_BUSY) (-32000);
//! - a session's messages wait for its service in a bounded inbox: a request that
//!   finds it full is refused with the same error, any other message closes the
//!   session (see the [`fanout`](crate::fanout) docs);
//! - requests in flight are also bounded by the server core's `max_in_flight`.

mod client;
pub mod demo;
mod server;

pub use client::{QueueClientTransport, SendError};
pub use server::{QueueServer, ServeError, serve};
