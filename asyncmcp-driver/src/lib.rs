//! The runtime-agnostic async driver of asyncmcp: MCP (Model Context Protocol) over
//! AWS SQS and SNS.
//!
//! `asyncmcp-proto` holds the protocol as state machines that do no I/O; this crate
//! runs them. [`spawn_server`] and [`spawn_client`] start one event loop each that
//! long-polls the queue, performs the sends, publishes, deletes and visibility
//! changes the machine asks for (batched), fires its timers, and hands you a handle
//! and a stream of events. The loop needs three things from an async runtime (a
//! clock, a timer, a way to spawn: [`Runtime`]) and a queue service
//! ([`QueueClient`]: real SQS and SNS in `asyncmcp-aws`, or the in-memory
//! [`MemoryQueue`]).
//!
//! A process holding many client sessions (a gateway, a proxy) runs them over one
//! reply queue with [`spawn_client_host`]: one long poll for all of them, and a
//! [`HostedClient`] per session with the calls of a [`ClientHandle`].
//!
//! Most applications use an adapter instead: `asyncmcp-tokio` (with rmcp, the
//! official MCP Rust SDK, on top) or `asyncmcp-async-std`. They supply the
//! [`Runtime`] and re-export this crate's handles.
//!
//! # A server and a client on a queue
//! The server receives requests with the [`Route`](asyncmcp_proto::Route) to answer
//! on; the client's [`call`](ClientHandle::call) resolves with the response. Here
//! both run over the in-memory queue, on a runtime made of threads (below, hidden;
//! the adapters' runtimes are a few lines more).
//!
//! ```
//! # use std::future::Future;
//! # use std::pin::Pin;
//! # use std::sync::Arc;
//! # use std::task::{Context, Poll};
//! # use std::time::{Duration, Instant};
//! # use asyncmcp_driver::{AsyncTimer, BoxFuture, DriverConfig, MemoryQueue, Runtime};
//! # use asyncmcp_proto::sim::QueueOptions;
//! # use asyncmcp_proto::{AllowList, ClientConfig, Era, JsonRpcMessage, ServerConfig, ServerEvent};
//! # use futures::channel::oneshot;
//! # struct Threads;
//! # /// A timer whose every deadline is a thread that sleeps until it.
//! # struct Timer { deadline: Instant, armed: Option<(Instant, oneshot::Receiver<()>)> }
//! # impl AsyncTimer for Timer {
//! #     fn reset(mut self: Pin<&mut Self>, deadline: Instant) { self.deadline = deadline; }
//! #     fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
//! #         let deadline = self.deadline;
//! #         if Instant::now() >= deadline { return Poll::Ready(()); }
//! #         if self.armed.as_ref().map(|(at, _)| *at) != Some(deadline) {
//! #             let (wake, woken) = oneshot::channel();
//! #             std::thread::spawn(move || {
//! #                 std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
//! #                 let _ = wake.send(());
//! #             });
//! #             self.armed = Some((deadline, woken));
//! #         }
//! #         match self.armed.as_mut() {
//! #             Some((_, woken)) => Pin::new(woken).poll(cx).map(|_| ()),
//! #             None => Poll::Pending,
//! #         }
//! #     }
//! # }
//! # impl Runtime for Threads {
//! #     fn now(&self) -> Instant { Instant::now() }
//! #     fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
//! #         Box::pin(Timer { deadline, armed: None })
//! #     }
//! #     fn spawn(&self, task: BoxFuture<'static, ()>) {
//! #         std::thread::spawn(move || futures::executor::block_on(task));
//! #     }
//! # }
//! # futures::executor::block_on(async {
//! # let runtime = Arc::new(Threads);
//! # let queue = Arc::new(MemoryQueue::new(Arc::clone(&runtime)));
//! # let requests = queue.create_queue("requests", QueueOptions::default());
//! # let replies = queue.create_queue("replies", QueueOptions::default());
//! let config = ServerConfig::new(requests.clone(), AllowList::new().exact(replies.clone()));
//! let (server, mut requests_in) = asyncmcp_driver::spawn_server(config, Arc::clone(&runtime), Arc::clone(&queue), DriverConfig::default())?;
//! runtime.spawn(Box::pin(async move {
//!     while let Some(ServerEvent::Message { route, message }) = requests_in.next().await {
//!         let Some(id) = message.id().cloned() else { continue };
//!         let _ = server.submit(route, JsonRpcMessage::response(id, serde_json::json!({"pong": true}))).await;
//!     }
//! }));
//!
//! let mut config = ClientConfig::sqs(requests, replies, "client-1");
//! config.era = Era::Modern; // stateless requests; `Era::Legacy` opens a session with `initialize`
//! let (client, _notifications) = asyncmcp_driver::spawn_client(config, runtime, queue, DriverConfig::default())?;
//! let answer = client.call("ping", None).await?;
//! assert_eq!(answer.to_value()["result"]["pong"], true);
//! # client.shutdown(Duration::from_millis(100)).await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the driver promises
//! - Every request the server delivers is deleted from its queue only after the
//!   application answered it (or the machine rejected it); work in flight keeps its
//!   message hidden (heartbeats), and a shutdown answers what it can within the drain
//!   deadline and releases the rest for another server.
//! - Every [`call`](ClientHandle::call) ends: with its response, or with a
//!   [`RequestError`] when it timed out or could not be sent.
//! - Back-pressure: events are taken from the machine only while the channel to the
//!   application has room; when it is full, no receive is made.
//! - [`StatsSnapshot`] counts API calls (a batch counts once), which is what AWS bills.
//!
//! # Logs
//! The loop logs through [`tracing`](https://docs.rs/tracing) (failed calls at
//! `warn`, stops at `debug`); install a subscriber in your application to see them,
//! for example with `RUST_LOG=asyncmcp_driver=debug`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod batch;
mod client;
mod client_host;
mod control;
mod error;
mod event_loop;
mod events;
mod machine;
mod memory;
mod queue_client;
mod runtime;
mod server;
mod stats;
mod task_item;
mod task_store;

pub use batch::{BatchTarget, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, batch_bytes};
pub use client::{ClientEvents, ClientHandle, spawn_client};
pub use client_host::{ClientHostHandle, HostEvents, HostedClient, OpenError, spawn_client_host};
pub use error::{DriverError, RequestError};
pub use event_loop::DriverConfig;
pub use events::Events;
pub use memory::MemoryQueue;
pub use queue_client::{QueueClient, ReceiveRequest};
pub use runtime::{AsyncTimer, BoxFuture, Runtime, boxed};
pub use server::{ServerEvents, ServerHandle, spawn_server};
pub use stats::{ObjectCalls, StatsSnapshot, billed_units};
pub use task_item::{MAX_ITEM_BYTES, task_item_bytes};
pub use task_store::{ApplyError, MemoryTaskStore, StoreError, TaskStore, Versioned, apply, new_task_id};

/// 32 bytes from the operating system's secure random source, to seed a state
/// machine (session ids must not be guessable). Falls back to a time-and-address
/// mix only if the OS source fails, which on supported platforms it does not.
pub fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let addr = &seed as *const _ as usize as u128;
        seed[..16].copy_from_slice(&(t ^ addr.rotate_left(64)).to_le_bytes());
    }
    seed
}

/// `name`, a dash and 16 hex digits from the operating system's secure random source:
/// a `ClientId` for [`ClientConfig`](asyncmcp_proto::ClientConfig) that another process
/// configured with the same `name` (a restart, a second copy) does not share. See
/// [`asyncmcp_proto::unique_client_id`].
///
/// ```
/// let id = asyncmcp_driver::unique_client_id("worker");
/// assert!(id.starts_with("worker-"));
/// assert_ne!(id, asyncmcp_driver::unique_client_id("worker"));
/// ```
pub fn unique_client_id(name: &str) -> String {
    asyncmcp_proto::unique_client_id(name, seed())
}

/// Fills `common.start_unix_millis` from the wall clock when it is 0 (the default),
/// so the `Timestamp` attribute is Unix time as peers (Python asyncmcp) expect. The
/// core reads no clock; a driver starting now is the place to read it.
pub(crate) fn fill_wall_clock(common: &mut asyncmcp_proto::SharedConfig) {
    if common.start_unix_millis == 0 {
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        common.start_unix_millis = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
    }
}
