//! The AWS options every command shares, and the SDK configuration they make: the
//! standard credential chain, `--region`, and `--endpoint-url` / `AWS_ENDPOINT_URL`.

use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use clap::Args;

use crate::error::{CliError, CliResult};

/// Where and as whom to reach SQS and SNS.
#[derive(Debug, Clone, Args)]
pub(crate) struct AwsArgs {
    /// SQS/SNS endpoint to use instead of AWS's, such as a local moto
    /// (`http://127.0.0.1:5000`).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
    /// AWS region (default: from AWS_REGION or the profile; us-east-1 with --endpoint-url).
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,
}

impl AwsArgs {
    /// The SDK configuration: credentials from the standard chain (environment,
    /// profile, SSO, instance role); against a custom endpoint without credentials,
    /// the `test`/`test` pair local emulators accept.
    ///
    /// Against a loopback endpoint (moto or LocalStack on this machine) the instance
    /// metadata service is never asked: the region comes from `--region`, the
    /// environment or the profile, else us-east-1; credentials from the environment or
    /// the profile, else `test`/`test`.
    ///
    /// # Errors
    /// When no region is configured for AWS itself.
    pub(crate) async fn sdk_config(&self) -> CliResult<SdkConfig> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = self.endpoint_url.as_deref().filter(|url| is_loopback(url)) {
            tracing::debug!(endpoint = %url, "loopback endpoint: no instance metadata; test credentials and us-east-1 unless configured");
            let region = RegionProviderChain::first_try(self.region.clone().map(Region::new))
                .or_else(EnvironmentVariableRegionProvider::new())
                .or_else(ProfileFileRegionProvider::builder().build())
                .or_else(Region::new("us-east-1"));
            let credentials =
                CredentialsProviderChain::first_try("Environment", EnvironmentVariableCredentialsProvider::new())
                    .or_else("Profile", ProfileFileCredentialsProvider::builder().build())
                    .or_else("asyncmcp-local-endpoint", test_credentials());
            return Ok(loader.region(region).credentials_provider(credentials).load().await);
        }
        let config = loader.load().await;
        let Some(endpoint) = &self.endpoint_url else {
            if config.region().is_none() {
                return Err(CliError::new(
                    "no AWS region configured: pass --region, set AWS_REGION, or set a region in your AWS profile",
                ));
            }
            return Ok(config);
        };
        let mut builder = config.to_builder();
        if config.region().is_none() {
            builder.set_region(Some(Region::new("us-east-1")));
        }
        let has_credentials = match config.credentials_provider() {
            Some(provider) => provider.provide_credentials().await.is_ok(),
            None => false,
        };
        if !has_credentials {
            tracing::debug!(endpoint = %endpoint, "no AWS credentials found: using test/test for the custom endpoint");
            builder.set_credentials_provider(Some(SharedCredentialsProvider::new(test_credentials())));
        }
        Ok(builder.build())
    }
}

/// The pair local emulators accept.
fn test_credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "asyncmcp-local-endpoint")
}

/// Whether `url` names this machine (`localhost`, 127.0.0.0/8, `::1`): an emulator,
/// never an EC2 instance's AWS.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_endpoints_are_this_machine() {
        for url in ["http://127.0.0.1:5000", "http://localhost:4566/", "http://[::1]:5000", "https://127.1.2.3"] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://sqs.us-east-1.amazonaws.com",
            "http://10.0.0.5:5000",
            "http://169.254.169.254",
            "http://[fe80::1]:1",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
