//! Constructors for SQS and SNS through the AWS SDK on async-io (feature `aws`).
//!
//! `aws-config` (the SDK's credential chain: profiles, SSO, IMDS) needs tokio, so
//! it is not used here. What works without it: static credentials and a region from
//! the environment ([`from_env`]), any `SdkConfig` you build yourself
//! ([`aws_queue_client`]), and local emulators ([`with_endpoint`]).

use std::sync::OnceLock;

use asyncmcp_aws::{AwsAdmin, AwsQueueClient};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::http::{AsyncIoHttpClient, AsyncIoSleep};

/// The process-wide client the constructors install, so every SDK client they
/// build shares one connection pool.
pub fn shared_http_client() -> &'static AsyncIoHttpClient {
    static SHARED: OnceLock<AsyncIoHttpClient> = OnceLock::new();
    SHARED.get_or_init(AsyncIoHttpClient::new)
}

/// `config` with `http` as its HTTP client and [`AsyncIoSleep`] as its sleep:
/// everything else (credentials, region, endpoint, retries, timeouts) is kept.
pub fn on_async_io(config: &SdkConfig, http: &AsyncIoHttpClient) -> SdkConfig {
    config
        .to_builder()
        .http_client(SharedHttpClient::new(http.clone()))
        .sleep_impl(SharedAsyncSleep::new(AsyncIoSleep))
        .build()
}

/// An [`AwsQueueClient`] configured by `config`, on this crate's HTTP client
/// ([`shared_http_client`]) and sleep.
pub fn aws_queue_client(config: &SdkConfig) -> AwsQueueClient {
    AwsQueueClient::new(&on_async_io(config, shared_http_client()))
}

/// An [`AwsAdmin`] configured by `config`, on this crate's HTTP client and sleep.
pub fn aws_admin(config: &SdkConfig) -> AwsAdmin {
    AwsAdmin::new(&on_async_io(config, shared_http_client()))
}

/// An [`AwsQueueClient`] for a local emulator (moto, LocalStack) at `endpoint_url`,
/// such as `http://127.0.0.1:5000`, with fixed `test`/`test` credentials.
pub fn with_endpoint(endpoint_url: &str, region: &str) -> AwsQueueClient {
    aws_queue_client(&asyncmcp_aws::local_config(endpoint_url, region).build())
}

/// An [`AwsQueueClient`] configured from the environment; see [`sdk_config_from_env`].
///
/// # Errors
/// [`EnvConfigError`] when the region or the credentials are missing.
pub fn from_env() -> Result<AwsQueueClient, EnvConfigError> {
    Ok(aws_queue_client(&sdk_config_from_env()?))
}

/// An `SdkConfig` from the environment, without `aws-config`: the region from
/// `AWS_REGION` (or `AWS_DEFAULT_REGION`), static credentials from
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally `AWS_SESSION_TOKEN`,
/// and `AWS_ENDPOINT_URL` when set. Profiles, SSO and instance roles need
/// `aws-config`, hence tokio: use `asyncmcp-tokio` for those, or build the
/// credentials yourself and call [`aws_queue_client`].
///
/// # Errors
/// [`EnvConfigError`] naming the variable that is missing.
pub fn sdk_config_from_env() -> Result<SdkConfig, EnvConfigError> {
    sdk_config_from(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

fn sdk_config_from(var: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, EnvConfigError> {
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).ok_or(EnvConfigError::NoRegion)?;
    let key = var("AWS_ACCESS_KEY_ID").ok_or(EnvConfigError::NoCredentials("AWS_ACCESS_KEY_ID"))?;
    let secret = var("AWS_SECRET_ACCESS_KEY").ok_or(EnvConfigError::NoCredentials("AWS_SECRET_ACCESS_KEY"))?;
    let credentials = Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "asyncmcp-async-std-env");
    let mut builder = SdkConfig::builder()
        .behavior_version(aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(endpoint) = var("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(builder.build())
}

/// Why [`sdk_config_from_env`] could not build a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvConfigError {
    /// Neither `AWS_REGION` nor `AWS_DEFAULT_REGION` is set.
    #[error("no AWS region: set AWS_REGION (for example us-east-1)")]
    NoRegion,
    /// A credential variable is missing.
    #[error(
        "no AWS credentials: set {0} (with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); profiles and SSO need \
         aws-config, which needs tokio: use asyncmcp-tokio or build an SdkConfig yourself"
    )]
    NoCredentials(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn env_config_needs_region_and_credentials() {
        assert_eq!(sdk_config_from(env(&[])).err(), Some(EnvConfigError::NoRegion));
        let no_secret = [("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "AKID")];
        assert_eq!(
            sdk_config_from(env(&no_secret)).err(),
            Some(EnvConfigError::NoCredentials("AWS_SECRET_ACCESS_KEY"))
        );
    }

    #[test]
    fn env_config_reads_region_and_endpoint() {
        let vars = [
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ];
        let config = sdk_config_from(env(&vars)).expect("complete environment");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
    }
}
