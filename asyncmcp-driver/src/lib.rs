//! asyncmcp-driver: the runtime-agnostic async driver of asyncmcp (docs in progress).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod queue_client;
mod runtime;

pub use queue_client::{QueueClient, ReceiveRequest, TransportError};
pub use runtime::{BoxFuture, Runtime, boxed};

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
pub use aws::{AwsAdmin, AwsQueueClient, QueueInfo, QueueSpec};
