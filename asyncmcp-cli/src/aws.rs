//! The AWS options every command shares, and the SDK configuration they make: the
//! standard credential chain, `--region`, and `--endpoint-url` / `AWS_ENDPOINT_URL`.

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
            let credentials = Credentials::new("test", "test", None, None, "asyncmcp-local-endpoint");
            builder.set_credentials_provider(Some(SharedCredentialsProvider::new(credentials)));
        }
        Ok(builder.build())
    }
}
