//! SQS and SNS through the AWS SDK for Rust (feature `aws`).
//!
//! [`AwsQueueClient`] performs the core's operations; [`AwsAdmin`] creates and
//! deletes queues, topics and subscriptions (for tests and `asyncmcp infra`). Both are
//! built from an [`SdkConfig`], so the standard credential chain, the region and
//! `AWS_ENDPOINT_URL` work as in every other AWS tool.
//!
//! The SDK brings no runtime of its own here: its HTTP client and sleep come from the
//! `SdkConfig`. With the `aws` feature they are the SDK's tokio defaults (and
//! `from_env` / `with_endpoint` exist); with `aws-core` alone the caller supplies
//! them, as `asyncmcp-async-std` does with its async-io HTTP client.

mod admin;
mod client;
mod convert;
mod errors;

pub use admin::{AwsAdmin, QueueInfo, QueueSpec};
pub use client::AwsQueueClient;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sqs::config::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// An [`SdkConfig`] builder for a local emulator (moto, LocalStack) at `endpoint_url`:
/// that endpoint, `region`, fixed `test`/`test` credentials and the latest behavior
/// version. It has no HTTP client or sleep yet unless the `aws` feature supplies the
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
    #[cfg(feature = "aws")]
    fn local(endpoint_url: &str, region: &str) -> Self {
        Self::new(&local_config(endpoint_url, region).build())
    }

    #[cfg(feature = "aws")]
    async fn from_env() -> Self {
        Self::new(&aws_config::load_defaults(BehaviorVersion::latest()).await)
    }
}
