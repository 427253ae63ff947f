//! What the event loop needs from a state machine; implemented by the client and
//! server wrappers so that one loop drives both.

use std::time::{Duration, Instant};

use asyncmcp_proto::{Address, InboundMessage, OpId, OpResult, QueueOp};

/// A client or server state machine as the event loop drives it.
///
/// Four families, in the core's verbs: inputs (`handle_*`, `command`), outputs to
/// drain (`poll_op`, `poll_event`, `poll_timeout`), what the long poll asks for
/// (`receive_credit`, `queue_url`, `receive_visibility`), and shutdown
/// (`begin_shutdown`, `drained`, `receives_while_draining`, `finish`). Operations and
/// events are drained apart on purpose: the loop always takes operations but takes
/// events only while the application's channel has room, so that the events left in
/// the machine bring its receive credit down (backpressure).
pub(crate) trait Machine: Send + 'static {
    type Event: Send + 'static;
    type Command: Send + 'static;

    fn handle_inbound(&mut self, message: InboundMessage, now: Instant);
    fn handle_op_result(&mut self, id: OpId, result: OpResult, now: Instant);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_op(&mut self) -> Option<QueueOp>;
    /// The next event for the application (after the wrapper kept what it consumes
    /// itself, such as responses awaited by `request`).
    fn poll_event(&mut self) -> Option<Self::Event>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn receive_credit(&self) -> usize;
    fn queue_url(&self) -> String;
    /// The visibility timeout each receive asks for (`None`: the queue's).
    fn receive_visibility(&self) -> Option<Duration>;
    fn command(&mut self, command: Self::Command, now: Instant);
    /// The queues and topics whose `MaximumMessageSize` the driver reads at start.
    fn limit_destinations(&self) -> Vec<Address>;
    /// What one of them accepts, as read.
    fn handle_max_message_bytes(&mut self, destination: &Address, max_message_bytes: usize);
    /// The budget of a destination whose size could not be read (for the log line).
    fn fallback_max_bytes(&self) -> usize;
    /// (live sessions, requests in flight) for the stats snapshot.
    fn gauges(&self) -> (usize, usize);
    /// Shutdown begins: stop producing new work.
    fn begin_shutdown(&mut self, now: Instant);
    /// Nothing is left running that shutdown should wait for.
    fn drained(&self) -> bool;
    /// Whether shutdown waits on answers that must still be received (a client's
    /// pending requests), so that the long poll goes on while it drains.
    fn receives_while_draining(&self) -> bool {
        false
    }
    /// Shutdown ends: release what is left.
    fn finish(&mut self, now: Instant);
}
