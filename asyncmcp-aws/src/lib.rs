//! asyncmcp over SQS and SNS through the AWS SDK for Rust.
//!
//! [`AwsQueueClient`] is the driver's [`QueueClient`](asyncmcp_driver::QueueClient):
//! it performs the core's operations (sends, publishes, deletes, visibility changes,
//! long-poll receives), one SDK call per batch the driver hands it. [`AwsAdmin`]
//! creates and deletes queues, topics and subscriptions (for tests and
//! `asyncmcp infra`). [`ReplyQueue`] is a client's private reply queue, deleted when
//! the client is done. Both are built from an [`SdkConfig`], so the standard credential
//! chain, the region and `AWS_ENDPOINT_URL` work as in every other AWS tool.
//!
//! Failures are [`OpFailure`]s with a typed [`FailureKind`] (throttled, not found, access denied,
//! ...) and a message that names the queue or topic and says what to check.
//!
//! # Features
//!
//! The SDK brings no runtime of its own here: its HTTP client and sleep come from the
//! `SdkConfig`.
//!
//! - `rt-tokio`: the SDK's tokio HTTPS client and sleep and the `aws-config`
//!   credential chain, so `from_env` and `with_endpoint` exist. `asyncmcp-tokio`'s
//!   `aws` feature turns it on.
//! - `s3`: S3 offload of large messages in the format of AWS's extended client
//!   libraries (`S3Offload`, `AwsQueueClient::with_s3_offload`); it compiles
//!   `aws-sdk-s3`.
//! - no feature (the default): runtime-free; the caller's `SdkConfig` supplies the
//!   HTTP client and sleep, as `asyncmcp-async-std` does with its async-io HTTP
//!   client. Both builds compose: a program that links both adapters gets one
//!   `asyncmcp-aws` with `rt-tokio` on, and the async-std constructors still put their
//!   own client in the config they build.
//!
//! ```
//! // A config for a local emulator (moto, LocalStack). Before `AwsQueueClient::new`,
//! // a runtime adapter adds its HTTP client and sleep (with `rt-tokio`, the SDK's
//! // defaults are there already: `AwsQueueClient::with_endpoint` does all of it).
//! let config = asyncmcp_aws::local_config("http://127.0.0.1:5000", "us-east-1").build();
//! assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod admin;
mod batch;
mod client;
mod convert;
mod errors;
mod reply;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "dynamodb")]
mod tasks;

pub use admin::{AwsAdmin, QueueCounts, QueueInfo, QueueSpec, SubscriptionInfo};
/// The failure type of every call here, re-exported from `asyncmcp-proto`.
pub use asyncmcp_proto::{FailureKind, OpFailure};
pub use client::AwsQueueClient;
pub use reply::{REPLY_QUEUE_TAG, ReplyQueue, ReplyVia};
#[cfg(feature = "s3")]
pub use s3::{DEFAULT_MAX_FETCH_BYTES, S3Offload};
#[cfg(feature = "dynamodb")]
pub use tasks::{DynamoTaskStore, TTL_ATTRIBUTE};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sqs::config::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// An [`SdkConfig`] builder for a local emulator (moto, LocalStack) at `endpoint_url`:
/// that endpoint, `region`, fixed `test`/`test` credentials and the latest behavior
/// version. It has no HTTP client or sleep yet unless the `rt-tokio` feature supplies the
/// SDK defaults: a runtime adapter adds its own before `build()`.
pub fn local_config(endpoint_url: &str, region: &str) -> aws_types::sdk_config::Builder {
    let credentials = Credentials::new("test", "test", None, None, "asyncmcp-local-endpoint");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
}

/// The two SDK clients, cheap to clone (each is an `Arc` inside).
#[derive(Debug, Clone)]
struct Clients {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
}

impl Clients {
    fn new(config: &SdkConfig) -> Self {
        Self { sqs: aws_sdk_sqs::Client::new(config), sns: aws_sdk_sns::Client::new(config) }
    }

    /// Clients for a local emulator: fixed test credentials, no credential chain.
    #[cfg(feature = "rt-tokio")]
    fn local(endpoint_url: &str, region: &str) -> Self {
        Self::new(&local_config(endpoint_url, region).build())
    }

    #[cfg(feature = "rt-tokio")]
    async fn from_env() -> Self {
        Self::new(&aws_config::load_defaults(BehaviorVersion::latest()).await)
    }
}
