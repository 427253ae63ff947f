//! asyncmcp on tokio: MCP (Model Context Protocol) servers and clients over AWS SQS
//! and SNS.
//!
//! A server takes MCP requests from an SQS queue and answers on each client's queue
//! or SNS topic; a client sends requests without staying connected. With the `rmcp`
//! feature (on by default), any [rmcp](https://docs.rs/rmcp) server or client (the
//! official MCP Rust SDK) runs over a queue unchanged.
//!
//! # An rmcp server on a queue
//! Any rmcp `ServerHandler` serves a request queue; [`rmcp::QueueServer`] makes a
//! fresh handler per client session (MCP 2025-11-25 and earlier) or per stateless
//! request (2026-07-28), and answers each on the route it came in on. Here the
//! handler is the demo tool set, [`rmcp::demo::DemoTools`]:
//!
//! ```
//! # use std::sync::Arc;
//! # use asyncmcp_tokio::proto::{AllowList, ServerConfig};
//! # use asyncmcp_tokio::rmcp::{QueueServer, demo::DemoTools};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let queue = Arc::new(asyncmcp_tokio::memory_queue());
//! # let requests = queue.create_queue("requests", Default::default());
//! # let replies = queue.create_queue("replies", Default::default());
//! let config = ServerConfig::new(requests, AllowList::new().exact(replies));
//! let server = QueueServer::start(DemoTools::new, config, queue)?;
//! tokio::spawn(server.run());
//! # Ok(()) }
//! ```
//!
//! The [`AllowList`](proto::AllowList) names the reply addresses the server may
//! answer to: a reply address travels inside every request, so without it anyone
//! who can write to the queue could make the server send elsewhere.
//!
//! # An rmcp client on a queue
//! [`rmcp::QueueClientTransport`] is an rmcp transport: the client sends to the
//! server's queue (or topic) and reads its own reply queue.
//!
//! ```
//! # use std::sync::Arc;
//! # use asyncmcp_tokio::proto::{Address, AllowList, ClientConfig, ServerConfig};
//! # use asyncmcp_tokio::rmcp::{QueueClientTransport, QueueServer, demo::DemoTools};
//! use rmcp::ServiceExt;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let queue = Arc::new(asyncmcp_tokio::memory_queue());
//! # let requests = queue.create_queue("requests", Default::default());
//! # let replies = queue.create_queue("replies", Default::default());
//! # let config = ServerConfig::new(requests.clone(), AllowList::new().exact(replies.clone()));
//! # tokio::spawn(QueueServer::start(DemoTools::new, config, queue.clone())?.run());
//! let config = ClientConfig::new(Address::Queue(requests), Address::Queue(replies.clone()), replies, "client-1");
//! let client = ().serve(QueueClientTransport::spawn(config, queue)?).await?;
//! let tools = client.list_all_tools().await?;
//! assert_eq!(tools.len(), 3);
//! # client.cancel().await?;
//! # Ok(()) }
//! ```
//!
//! Both examples run against [`memory_queue`], an in-memory SQS and SNS on tokio's
//! clock. On AWS, use `AwsQueueClient::from_env().await` (feature `aws`) in its
//! place and queue URLs or topic ARNs as addresses; `asyncmcp infra up` (the
//! `asyncmcp-cli` crate) creates them. A modern-era client (`config.era =
//! Era::Modern`) skips the handshake and sends stateless requests; start it with
//! rmcp's `serve_with_lifecycle(transport, ClientLifecycleMode::Discover { .. })`.
//!
//! # Without rmcp
//! [`spawn_server`] and [`spawn_client`] give the plain message API: a
//! [`ServerHandle`] and its [`ServerEvents`] (requests with the route to answer on),
//! a [`ClientHandle`] whose `call` returns the response. `asyncmcp-driver` documents
//! that API; this crate only supplies [`TokioRuntime`].
//!
//! # Logs
//! Everything is logged through [`tracing`](https://docs.rs/tracing): nothing is
//! printed unless the application installs a subscriber, for example
//! `tracing_subscriber::fmt().with_env_filter(EnvFilter::from_default_env()).init()`
//! in `main`, then `RUST_LOG=asyncmcp_driver=debug,asyncmcp_tokio=debug`.
//!
//! # Features
//! - `rmcp` (default): the [`rmcp`] module.
//! - `aws`: `AwsQueueClient` and `AwsAdmin`, real SQS and SNS through the AWS SDK
//!   for Rust.
//! - `s3`: `S3Offload` (with `aws`): large messages through S3, in the format of
//!   AWS's extended client libraries.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod fanout;
#[cfg(feature = "rmcp")]
pub mod rmcp;
mod runtime;
pub mod task_client;
pub mod tasks;

/// The repository README's Rust snippets, compiled and run by `cargo test --doc -p
/// asyncmcp-tokio` so they cannot go stale.
#[cfg(all(doctest, feature = "rmcp"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub use asyncmcp_driver::{
    ApplyError, BoxFuture, ClientEvents, ClientHandle, ClientHostHandle, DriverConfig, DriverError, Events, HostEvents,
    HostedClient, MemoryQueue, MemoryTaskStore, ObjectCalls, OpenError, QueueClient, ReceiveRequest, RequestError,
    ServerEvents, ServerHandle, StatsSnapshot, StoreError, TaskStore, Versioned, unique_client_id,
};
pub use asyncmcp_proto as proto;
pub use runtime::TokioRuntime;

#[cfg(feature = "s3")]
pub use asyncmcp_aws::S3Offload;
#[cfg(feature = "aws")]
pub use asyncmcp_aws::{AwsAdmin, AwsQueueClient, QueueInfo, QueueSpec, ReplyQueue, ReplyVia, local_config};

use std::sync::Arc;

use asyncmcp_proto::{ClientConfig, ConfigError, HostConfig, ServerConfig};

/// An in-memory SQS/SNS on tokio's clock: no AWS account, nothing installed.
pub fn memory_queue() -> MemoryQueue<TokioRuntime> {
    MemoryQueue::new(Arc::new(TokioRuntime::current()))
}

/// Starts a client on the current tokio runtime.
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
///
/// # Panics
/// Outside a tokio runtime.
pub fn spawn_client<Q: QueueClient>(
    config: ClientConfig,
    queue: Arc<Q>,
) -> Result<(ClientHandle, ClientEvents), ConfigError> {
    spawn_client_with(config, queue, DriverConfig::default())
}

/// Starts a client on the current tokio runtime with driver options (for example a
/// shorter long poll in tests: `driver.long_poll = Duration::from_secs(1)`).
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
///
/// # Panics
/// Outside a tokio runtime.
pub fn spawn_client_with<Q: QueueClient>(
    config: ClientConfig,
    queue: Arc<Q>,
    driver: DriverConfig,
) -> Result<(ClientHandle, ClientEvents), ConfigError> {
    asyncmcp_driver::spawn_client(config, TokioRuntime::current(), queue, driver)
}

/// Starts a server on the current tokio runtime.
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
///
/// # Panics
/// Outside a tokio runtime.
pub fn spawn_server<Q: QueueClient>(
    config: ServerConfig,
    queue: Arc<Q>,
) -> Result<(ServerHandle, ServerEvents), ConfigError> {
    spawn_server_with(config, queue, DriverConfig::default())
}

/// Starts a server on the current tokio runtime with driver options.
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
///
/// # Panics
/// Outside a tokio runtime.
pub fn spawn_server_with<Q: QueueClient>(
    config: ServerConfig,
    queue: Arc<Q>,
    driver: DriverConfig,
) -> Result<(ServerHandle, ServerEvents), ConfigError> {
    asyncmcp_driver::spawn_server(config, TokioRuntime::current(), queue, driver)
}

/// Starts a client host on the current tokio runtime: many client sessions over the
/// one reply queue `config.queue_url`, with one long poll for all of them (what a
/// gateway or a proxy holding many sessions uses). Open sessions with
/// [`ClientHostHandle::open`].
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
///
/// # Panics
/// Outside a tokio runtime.
pub fn spawn_client_host<Q: QueueClient>(
    config: HostConfig,
    queue: Arc<Q>,
    driver: DriverConfig,
) -> Result<(ClientHostHandle, HostEvents), ConfigError> {
    asyncmcp_driver::spawn_client_host(config, TokioRuntime::current(), queue, driver)
}
