//! asyncmcp-proto: the sans-IO core of asyncmcp (crate docs are written in the final pass).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::indexing_slicing))]

mod address;
pub mod attributes;
mod backoff;
mod cache;
pub mod codec;
mod dedup;
mod error;
mod inbound;
mod jsonrpc;
mod op;
mod ordering;
mod reassembly;
mod rng;
mod session_id;
pub mod sim;
mod timers;

pub use address::{Address, AllowList};
pub use backoff::RetryPolicy;
pub use error::{ApiError, ConfigError, DecodeError, OpFailure};
pub use inbound::InboundMessage;
pub use jsonrpc::{JsonRpcMessage, MessageKind, RequestId, error_codes};
pub use op::{OpId, OpKind, OpResult, QueueOp, SendOp};
pub use reassembly::{ReassemblyError, ReassemblyLimits};
pub use session_id::SessionId;
