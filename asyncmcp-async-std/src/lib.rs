//! asyncmcp on async-std (and smol): MCP servers and clients over AWS SQS and SNS,
//! driven by the same runtime-agnostic driver as `asyncmcp-tokio`.
//!
//! This crate is runtime glue and constructors only: [`AsyncStdRuntime`] (timers from
//! `async-io`, tasks from async-std) and, with the `smol` feature, `SmolRuntime`.
//! Everything else — the client and server handles, [`MemoryQueue`], the event loop —
//! is `asyncmcp-driver`'s, re-exported here, so code written against
//! `asyncmcp-tokio`'s plain message API differs only in the crate name.
//!
//! **AWS without tokio** (feature `aws`): `aws_queue_client`, `aws_admin`,
//! `with_endpoint` and `from_env` build `asyncmcp-aws`'s `AwsQueueClient` / `AwsAdmin` on
//! the SDK without `rt-tokio`, with `http::AsyncIoSleep` on async-io timers and
//! `http::AsyncIoHttpClient` (hyper 1 HTTP/1.1 over async-io sockets, TLS from
//! futures-rustls, a connection pool, responses read by Content-Length). No tokio
//! runtime runs; the SDK and hyper link tokio for its `sync` primitives only.
//! `aws-config` needs tokio, so `from_env` reads static credentials and the region
//! from `AWS_*` variables; build an `SdkConfig` yourself for anything else.
//!
//! **async-std is deprecated** in favour of smol (advisory RUSTSEC-2025-0052, "async-std
//! has been discontinued"). Both runtimes run on `async-io`, which is what this crate
//! uses for timers, so moving to smol is the `smol` feature and a rename. The
//! `async-std` feature (on by default) brings `AsyncStdRuntime` and the
//! `memory_queue` / `spawn_client` / `spawn_server` shortcuts; with
//! `default-features = false, features = ["smol"]` async-std is not linked at all and
//! `SmolRuntime` goes to `asyncmcp_driver::spawn_client` / `spawn_server`.
//!
//! **rmcp needs tokio.** The official Rust MCP SDK (`rmcp`) requires a tokio reactor;
//! rmcp users pick `asyncmcp-tokio`. Here, use the plain message API: raw JSON-RPC
//! with [`ClientHandle::call`], [`ClientHandle::notify`] and [`ServerHandle::submit`].
//!
//! ```
//! # #[cfg(feature = "async-std")] {
//! use std::sync::Arc;
//! use asyncmcp_async_std::proto::sim::QueueOptions;
//! use asyncmcp_async_std::proto::{Address, AllowList, ClientConfig, Era, JsonRpcMessage, ServerConfig, ServerEvent};
//!
//! async_std::task::block_on(async {
//!     let queue = Arc::new(asyncmcp_async_std::memory_queue());
//!     let requests = queue.create_queue("requests", QueueOptions::default());
//!     let replies = queue.create_queue("replies", QueueOptions::default());
//!     let (server, mut events) =
//!         asyncmcp_async_std::spawn_server(ServerConfig::new(requests.clone(), AllowList::new().exact(replies.clone())), queue.clone()).unwrap();
//!     async_std::task::spawn(async move {
//!         while let Some(ServerEvent::Message { route, message }) = events.next().await {
//!             if let Some(id) = message.id().cloned() {
//!                 let _ = server.submit(route, JsonRpcMessage::response(id, serde_json::json!({"pong": true}))).await;
//!             }
//!         }
//!     });
//!     let mut config = ClientConfig::new(Address::Queue(requests), Address::Queue(replies.clone()), replies, "doc");
//!     config.era = Era::Modern;
//!     let (client, _events) = asyncmcp_async_std::spawn_client(config, queue).unwrap();
//!     let answer = client.call("ping", None).await.unwrap();
//!     assert_eq!(answer.to_value()["result"]["pong"], true);
//! });
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
pub mod http;
#[cfg(any(feature = "async-std", feature = "smol"))]
mod runtime;

#[cfg(feature = "aws")]
pub use asyncmcp_aws::{AwsAdmin, AwsQueueClient, QueueInfo, QueueSpec, ReplyQueue, ReplyVia, local_config};
#[cfg(feature = "aws")]
pub use aws::{
    EnvConfigError, aws_admin, aws_queue_client, from_env, on_async_io, sdk_config_from_env, shared_http_client,
    with_endpoint,
};

pub use asyncmcp_driver::{
    ClientEvents, ClientHandle, ClientHostHandle, DriverConfig, DriverError, Events, HostEvents, HostedClient,
    MemoryQueue, OpenError, QueueClient, RequestError, ServerEvents, ServerHandle, StatsSnapshot, unique_client_id,
};
pub use asyncmcp_proto as proto;
#[cfg(feature = "async-std")]
pub use runtime::AsyncStdRuntime;
#[cfg(feature = "smol")]
pub use runtime::SmolRuntime;

#[cfg(feature = "async-std")]
use std::sync::Arc;

#[cfg(feature = "async-std")]
use asyncmcp_proto::{ClientConfig, ConfigError, HostConfig, ServerConfig};

/// An in-memory SQS/SNS: no AWS account, nothing installed (feature `async-std`).
#[cfg(feature = "async-std")]
pub fn memory_queue() -> MemoryQueue<AsyncStdRuntime> {
    MemoryQueue::new(Arc::new(AsyncStdRuntime))
}

/// Starts a client on async-std (feature `async-std`).
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
#[cfg(feature = "async-std")]
pub fn spawn_client<Q: QueueClient>(
    config: ClientConfig,
    queue: Arc<Q>,
) -> Result<(ClientHandle, ClientEvents), ConfigError> {
    asyncmcp_driver::spawn_client(config, AsyncStdRuntime, queue, DriverConfig::default())
}

/// Starts a client host on async-std (feature `async-std`): many client sessions over
/// the one reply queue `config.queue_url`, with one long poll for all of them; open
/// sessions with [`ClientHostHandle::open`].
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
#[cfg(feature = "async-std")]
pub fn spawn_client_host<Q: QueueClient>(
    config: HostConfig,
    queue: Arc<Q>,
) -> Result<(ClientHostHandle, HostEvents), ConfigError> {
    asyncmcp_driver::spawn_client_host(config, AsyncStdRuntime, queue, DriverConfig::default())
}

/// Starts a server on async-std (feature `async-std`).
///
/// # Errors
/// [`ConfigError`] for a configuration that cannot work.
#[cfg(feature = "async-std")]
pub fn spawn_server<Q: QueueClient>(
    config: ServerConfig,
    queue: Arc<Q>,
) -> Result<(ServerHandle, ServerEvents), ConfigError> {
    asyncmcp_driver::spawn_server(config, AsyncStdRuntime, queue, DriverConfig::default())
}
