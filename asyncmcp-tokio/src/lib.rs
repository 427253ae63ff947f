//! asyncmcp on tokio: MCP servers and clients over AWS SQS and SNS (docs in progress).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "rmcp")]
pub mod rmcp;
mod runtime;

pub use asyncmcp_driver::{
    ClientEvents, ClientHandle, DriverConfig, DriverError, MemoryQueue, QueueClient, RequestError, ServerEvents,
    ServerHandle, StatsSnapshot, unique_client_id,
};
pub use asyncmcp_proto as proto;
pub use runtime::TokioRuntime;

#[cfg(feature = "aws")]
pub use asyncmcp_aws::{AwsAdmin, AwsQueueClient, QueueInfo, QueueSpec, ReplyQueue, ReplyVia, local_config};

use std::sync::Arc;

use asyncmcp_proto::{ClientConfig, ConfigError, ServerConfig};

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
