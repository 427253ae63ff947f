//! asyncmcp-proto: the sans-IO core of asyncmcp (crate docs are written in the final pass).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::indexing_slicing))]

mod address;
pub mod attributes;
mod backoff;
mod cache;
mod client;
pub mod codec;
mod config;
mod dedup;
mod error;
mod event;
#[cfg(any(fuzzing, feature = "__fuzz"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
mod inbound;
mod inbox;
mod jsonrpc;
mod op;
mod ordering;
mod outbound;
mod outbox;
mod reassembly;
mod rng;
mod server;
mod session_id;
pub mod sim;
mod timers;

pub use address::{Address, AllowList};
pub use backoff::RetryPolicy;
pub use client::Client;
pub use config::{AckPolicy, ClientConfig, Common, Disposition, Era, HandshakeFields, Ordering, ServerConfig};
pub use error::{ApiError, ConfigError, DecodeError, OpFailure};
pub use event::{ClientEvent, CloseReason, Fate, RejectReason, Rejection, RequestToken, Route, ServerEvent};
pub use inbound::InboundMessage;
pub use jsonrpc::{JsonRpcMessage, MessageKind, RequestId, error_codes};
pub use op::{OpId, OpKind, OpResult, QueueOp, SendOp};
pub use reassembly::{ReassemblyError, ReassemblyLimits};
pub use server::Server;
pub use session_id::SessionId;
