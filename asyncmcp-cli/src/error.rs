//! The one error type of the command: a message for the user, already saying what
//! happened and what to check.

use std::fmt;

/// A failure to report on stderr before exiting non-zero.
#[derive(Debug)]
pub(crate) struct CliError(pub(crate) String);

impl CliError {
    /// An error with `message`.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<asyncmcp_aws::OpFailure> for CliError {
    fn from(e: asyncmcp_aws::OpFailure) -> Self {
        // The driver's AWS errors already name the queue or topic and what to check.
        Self(e.detail)
    }
}

impl From<asyncmcp_tokio::proto::ConfigError> for CliError {
    fn from(e: asyncmcp_tokio::proto::ConfigError) -> Self {
        use asyncmcp_tokio::proto::ConfigError;
        // Name the option the user gave rather than the configuration field.
        match e {
            ConfigError::Invalid { field: "offload.key_prefix", detail } => Self(format!("--s3-key-prefix {detail}")),
            ConfigError::Invalid { field: "offload.bucket", detail } => Self(format!("--s3-bucket {detail}")),
            e => Self(format!("invalid configuration: {e}")),
        }
    }
}

/// `Result` with [`CliError`].
pub(crate) type CliResult<T> = Result<T, CliError>;
