//! asyncmcp-driver: the runtime-agnostic async driver of asyncmcp (docs in progress).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod batch;
mod client;
mod error;
mod event_loop;
mod machine;
mod memory;
mod queue_client;
mod runtime;
mod server;
mod stats;

pub use batch::{BatchTarget, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, batch_bytes};
pub use client::{ClientEvents, ClientHandle, spawn_client};
pub use error::{DriverError, RequestError};
pub use event_loop::DriverConfig;
pub use memory::MemoryQueue;
pub use queue_client::{QueueClient, ReceiveRequest};
pub use runtime::{BoxFuture, Runtime, boxed};
pub use server::{ServerEvents, ServerHandle, spawn_server};
pub use stats::StatsSnapshot;

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
pub(crate) fn fill_wall_clock(common: &mut asyncmcp_proto::Common) {
    if common.start_unix_millis == 0 {
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        common.start_unix_millis = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
    }
}
