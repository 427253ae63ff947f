//! SQS and SNS through the AWS SDK for Rust (feature `aws`).
//!
//! [`AwsQueueClient`] performs the core's operations; [`AwsAdmin`] creates and
//! deletes queues, topics and subscriptions (for tests and `asyncmcp infra`). Both are
//! built from an [`aws_config::SdkConfig`], so the standard credential chain, the
//! region and `AWS_ENDPOINT_URL` work as in every other AWS tool.
//!
//! The SDK's HTTP stack runs on tokio: the futures these types return must be polled
//! inside a tokio runtime (with the `asyncmcp-async-std` adapter, through
//! `async-compat`).

mod admin;
mod client;
mod convert;
mod errors;

pub use admin::{AwsAdmin, QueueInfo, QueueSpec};
pub use client::AwsQueueClient;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

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
    fn local(endpoint_url: &str, region: &str) -> Self {
        let credentials = Credentials::new("test", "test", None, None, "asyncmcp-local-endpoint");
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        Self::new(&config)
    }

    async fn from_env() -> Self {
        Self::new(&aws_config::load_defaults(BehaviorVersion::latest()).await)
    }
}
