//! Errors of the async handles.

use asyncmcp_proto::{ApiError, OpFailure};
use thiserror::Error;

/// A handle call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The state machine refused the call; [`ApiError`] says who is at fault.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The driver task has stopped (after shutdown, or its runtime ended).
    #[error("the asyncmcp driver has stopped")]
    Stopped,
}

/// A request made with `request` or `call` got no response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No response within the request timeout.
    #[error("no response within the request timeout")]
    TimedOut,
    /// It could not be sent, after retries.
    #[error("the request could not be sent: {0}")]
    SendFailed(OpFailure),
    /// It was cancelled.
    #[error("the request was cancelled")]
    Cancelled,
    /// The client refused it; [`ApiError`] says who is at fault.
    #[error(transparent)]
    Api(ApiError),
    /// The message given to `request` is not a request.
    #[error("only requests (with a method and an id) can be awaited")]
    NotARequest,
    /// The client shut down first.
    #[error("the client shut down before the response arrived")]
    Closed,
}
