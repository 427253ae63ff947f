//! The sans-IO core of **asyncmcp**: MCP (Model Context Protocol) over AWS SQS and SNS.
//!
//! MCP's usual transports want an answer while the caller waits. asyncmcp carries
//! the same JSON-RPC messages over queues instead: a server takes requests from an
//! SQS queue and answers on the client's queue or topic, and a client sends requests
//! without staying connected. It is wire-compatible with the Python `asyncmcp` 0.2.1,
//! and its server speaks both MCP eras on one queue: legacy sessions (protocol
//! 2025-11-25 and earlier, opened by `initialize`) and modern stateless requests
//! (2026-07-28). `docs/binding.md` in the repository is the wire specification.
//!
//! This crate does no I/O. It holds the protocol: encoding and decoding queue messages
//! ([`codec`]), the [`Client`] and [`Server`] state machines (sessions, request
//! correlation, deduplication of redeliveries, ordering, fragments, timeouts,
//! retries, acknowledgement), and, with the `sim` feature, a deterministic model of
//! SQS and SNS (`sim`) to test them with. It reads no clock and draws no global
//! randomness: time comes in as `now: Instant` arguments and randomness as a 32-byte seed, so every run replays
//! exactly. The `asyncmcp-tokio` and `asyncmcp-async-std` crates drive these machines
//! against real SQS and SNS; use this crate directly to embed asyncmcp in another
//! runtime or to test protocol behaviour offline.
//!
//! # The contract
//! [`Client`] and [`Server`] share one shape (after quinn and str0m):
//! - **inputs**: `handle_inbound(message, now)` for each message `ReceiveMessage`
//!   returned; `handle_op_result(op_id, result, now)` when an SQS/SNS call you were
//!   asked to make ends; `handle_timeout(now)` when the deadline from
//!   `poll_timeout` has passed. Every input also fires timers that are already due,
//!   and spurious `handle_timeout` calls are harmless.
//! - **mutators**: `submit` a JSON-RPC message, `cancel` a request, `close`. They
//!   return `Err` only when you misuse the API ([`ApiError`]); nothing a peer sends
//!   ever becomes an `Err` or a panic: it becomes an event.
//! - **outputs**: after any input or mutator, drain [`QueueOp`]s with `poll_op` (send,
//!   publish, delete, change visibility: perform each and report its outcome) and
//!   events with `poll_event` until both return `None`; then read `poll_timeout` and
//!   call `handle_timeout` no later than that instant. Instants passed in never go
//!   backwards. After `handle_timeout(t)`, `poll_timeout` is `None` or later than `t`
//!   unless new input arrived.
//! - **backpressure**: `receive_credit()` says how many messages (0 to 10) the next
//!   receive may ask for; 0 means do not receive now.
//!
//! Every inbound message ends in exactly one of: delivered to the application (an
//! event), rejected with a reason ([`Rejection`], then deleted or left for the queue's
//! redrive policy), or left for redelivery. Every submitted request ends in exactly one
//! of: its response, [`ClientEvent::RequestTimedOut`], or [`ClientEvent::SendFailed`]
//! (unless cancelled first).
//!
//! # A complete run loop
//! The drivers in the runtime crates do this for you; written out by hand against the
//! simulator (feature `sim`) it is short. A legacy client opens a session and calls a
//! tool; the server application answers every request on the route it came in on.
//!
//! ```
//! # #[cfg(feature = "sim")] {
//! use std::time::{Duration, Instant};
//!
//! use asyncmcp_proto::sim::{Broker, QueueOptions, SimConfig};
//! use asyncmcp_proto::{
//!     Address, AllowList, Client, ClientConfig, ClientEvent, JsonRpcMessage, MessageKind, RequestId,
//!     Server, ServerConfig, ServerEvent,
//! };
//!
//! let mut now = Instant::now(); // the only clock read: everything below is simulated time
//! let mut broker = Broker::new(SimConfig::default(), now, [0; 32]);
//! let server_queue = broker.create_queue("mcp-requests", QueueOptions::default());
//! let client_queue = broker.create_queue("mcp-replies-1", QueueOptions::default());
//!
//! let client_config = ClientConfig::new(
//!     Address::Queue(server_queue.clone()), // where requests go
//!     Address::Queue(client_queue.clone()), // where replies should come
//!     client_queue.clone(),                 // the queue this client reads
//!     "client-1",
//! );
//! let server_config = ServerConfig::new(server_queue.clone(), AllowList::new().prefix("http://sim.local/123456789012/"));
//! let mut client = Client::new(client_config, now, [1; 32]).unwrap();
//! let mut server = Server::new(server_config, now, [2; 32]).unwrap();
//!
//! let init = JsonRpcMessage::request(
//!     RequestId::Number(1),
//!     "initialize",
//!     Some(serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {},
//!                             "clientInfo": {"name": "doc", "version": "1"}})),
//! );
//! client.submit(init, now).unwrap();
//! let call = JsonRpcMessage::request(
//!     RequestId::Number(2),
//!     "tools/call",
//!     Some(serde_json::json!({"name": "echo", "arguments": {"text": "hello"}})),
//! );
//! client.submit(call, now).unwrap(); // waits inside the client for the session id
//!
//! let mut answers = Vec::new();
//! for _ in 0..100 {
//!     // 1. Perform the operations both sides asked for, and report how they ended.
//!     while let Some(op) = client.poll_op() {
//!         let result = broker.handle_op(&op, now);
//!         client.handle_op_result(op.id, result, now);
//!     }
//!     while let Some(op) = server.poll_op() {
//!         let result = broker.handle_op(&op, now);
//!         server.handle_op_result(op.id, result, now);
//!     }
//!     // 2. Drain events: the server application answers each request on its route.
//!     while let Some(event) = server.poll_event() {
//!         if let ServerEvent::Message { route, message } = event {
//!             if message.kind() == MessageKind::Request {
//!                 let id = message.id().unwrap().clone();
//!                 let result = match message.method() {
//!                     Some("initialize") => serde_json::json!({"protocolVersion": "2025-11-25",
//!                         "capabilities": {"tools": {}}, "serverInfo": {"name": "doc", "version": "1"}}),
//!                     _ => serde_json::json!({"content": [{"type": "text", "text": "hello"}]}),
//!                 };
//!                 server.submit(&route, JsonRpcMessage::response(id, result), now).unwrap();
//!             }
//!         }
//!     }
//!     while let Some(event) = client.poll_event() {
//!         if let ClientEvent::Message(m) = event {
//!             answers.push(m);
//!         }
//!     }
//!     if answers.len() == 2 {
//!         break;
//!     }
//!     // 3. Receive what each side has credit for.
//!     for m in broker.receive(&server_queue, server.receive_credit(), now) {
//!         server.handle_inbound(m, now);
//!     }
//!     for m in broker.receive(&client_queue, client.receive_credit(), now) {
//!         client.handle_inbound(m, now);
//!     }
//!     // 4. Let time pass up to the next deadline (a real driver long-polls meanwhile).
//!     now += Duration::from_millis(10);
//!     if client.poll_timeout().is_some_and(|t| t <= now) {
//!         client.handle_timeout(now);
//!     }
//!     if server.poll_timeout().is_some_and(|t| t <= now) {
//!         server.handle_timeout(now);
//!     }
//! }
//! assert_eq!(answers.len(), 2);
//! assert!(client.session_id().is_some());
//! assert!(answers[1].as_str().contains("hello"));
//! # }
//! ```
//!
//! A process holding many sessions (a gateway, a proxy) hosts their clients on one
//! reply queue with [`ClientHost`]: one receive loop for all of them, each message
//! routed to its client by the `ClientId` it carries.
//!
//! For tests, `sim::Pair` (feature `sim`) wires a client, a server and a broker
//! together and jumps simulated time to the next deadline, with fault injection
//! (duplicates, reordering, delays, failures, throttling).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::indexing_slicing))]

mod address;
pub mod attributes;
mod backoff;
mod budget;
mod cache;
mod client;
mod client_host;
mod client_id;
pub mod codec;
mod config;
mod dedup;
mod error;
mod event;
#[cfg(all(any(fuzzing, feature = "__fuzz"), feature = "sim"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
mod inbound;
mod inbox;
mod jsonrpc;
pub mod offload;
mod op;
mod ordering;
mod outbound;
mod outbox;
mod peer_text;
mod reassembly;
mod rng;
mod server;
mod session_id;
#[cfg(feature = "sim")]
pub mod sim;
pub mod tasks;
mod timers;

pub use address::{Address, AddressError, AllowList, Arn, QueueUrl, Scheme};
pub use backoff::RetryPolicy;
pub use client::Client;
pub use client_host::{ClientHost, ClientKey, HostConfig, HostEvent};
pub use client_id::unique_client_id;
pub use config::{
    AckPolicy, ClientConfig, Disposition, Era, HandshakeFields, OrderingConfig, PROTOCOL_VERSIONS, ServerConfig,
    SharedConfig,
};
pub use error::{AddClientError, ApiError, ConfigError, DecodeError, FailureKind, Misuse, OpFailure, Unsendable};
pub use event::{ClientEvent, CloseReason, QueueOutcome, RejectReason, Rejection, RequestToken, Route, ServerEvent};
pub use inbound::InboundMessage;
pub use jsonrpc::{CANCELLED_METHOD, Cancellation, JsonRpcMessage, MessageKind, RequestId, error_codes};
pub use op::{OpId, OpKind, OpResult, QueueOp, SendOp};
pub use peer_text::{PEER_TEXT_MAX_CHARS, clip_peer_text};
pub use reassembly::{ReassemblyError, ReassemblyLimits};
pub use server::{HeldRequest, Server};
pub use session_id::SessionId;
