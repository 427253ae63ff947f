//! A deterministic in-memory model of SQS and SNS, itself sans-IO.
//!
//! [`Broker`] answers the [`QueueOp`](crate::QueueOp)s a client or server emits with
//! [`handle_op`](Broker::handle_op), hands out [`InboundMessage`](crate::InboundMessage)s
//! with [`poll_delivery`](Broker::poll_delivery) / [`receive`](Broker::receive), and says
//! when something next becomes visible with [`poll_timeout`](Broker::poll_timeout). Time
//! is an argument, randomness a seed: the same seed and the same calls give the same
//! results, so a failing property test replays exactly.
//!
//! A test harness loops: drain each endpoint's `poll_op` into `handle_op` and feed the
//! result back; pull deliveries for each queue and feed them to their consumer; when
//! nothing moves, jump `now` to the earliest `poll_timeout` of everyone.
//!
//! # What is modelled
//! - **SendMessage**: unknown queue, empty body, non-UTF-8 or XML-illegal body, more
//!   than 10 attributes, malformed attributes and body plus attributes (names, data
//!   types, values) over the queue's `max_message_bytes` all fail fatally, naming the
//!   queue. Each message gets a uuid-shaped `MessageId` and a `SentTimestamp` from the
//!   simulated wall clock ([`SimConfig::start_unix_millis`] plus elapsed time).
//! - **Publish**: SNS's 262,144-byte limit; fan-out to every subscribed queue in
//!   subscription order. Raw delivery passes body and attributes through; otherwise
//!   the queue gets an SNS envelope ([`sns_envelope`]) with the attributes inside it
//!   and none at the SQS level, as AWS does. A delivery too large for its queue is
//!   dropped and counted in [`SimStats::dropped_deliveries`].
//! - **Visibility**: a receive puts a message in flight for the queue's visibility
//!   timeout with a fresh receipt handle and counts `ApproximateReceiveCount` up; on
//!   expiry it becomes visible again. `ChangeMessageVisibility` moves the deadline
//!   (0 releases at once, above 43,200 s fails).
//! - **Receipt handles**: the most recent handle deletes; an older handle of a message
//!   received again since succeeds without deleting (as SQS does); a handle of a
//!   deleted message, or one never issued, fails with `ReceiptHandleIsInvalid`.
//! - **Redrive**: a message that would be received more than `max_receive_count` times
//!   moves to the dead-letter queue, keeping its id and receive count.
//! - **FIFO** (`.fifo` queues and topics): `MessageGroupId` and
//!   `MessageDeduplicationId` are required (or content-based deduplication, per
//!   queue); a deduplication id seen in the last 5 minutes is accepted and not stored
//!   again; within a group, strict order, and nothing more from a group while one of
//!   its messages is in flight; groups interleave.
//!
//! # What is not modelled
//! No long polling (`receive` returns at once; the harness jumps time instead), no
//! per-message or per-queue delivery delay other than the fault knob, no message
//! retention period, no batch calls (each op stands alone), no queue or topic
//! deletion, no subscription filter policies or subscription dead-letter queues, no
//! permissions, no fair-queue semantics for `MessageGroupId` on standard queues
//! (ignored there, as is a deduplication id), no sequence numbers on FIFO messages,
//! and a FIFO `receive` returns at most one message per group per call (AWS may
//! return several in order).
//!
//! # Faults
//! [`Faults`] in [`SimConfig`], all drawn from the seeded source:
//! - `duplicate`: probability that a message stored in a standard queue is stored
//!   twice, both copies with the same `MessageId`;
//! - `reorder`: standard queues deliver a random visible message instead of the oldest;
//! - `max_delay`: each stored message becomes visible after a random delay up to this;
//! - `send_failure`: probability that a Send fails with a retryable error;
//! - `throttle`: probability that any op fails with a retryable `Throttling` error.
//!
//! `duplicate` and `reorder` never touch FIFO queues. Injected failures store nothing.
//!
//! # Example
//! ```
//! use std::time::{Duration, Instant};
//!
//! use asyncmcp_proto::attributes::Attributes;
//! use asyncmcp_proto::sim::{Broker, QueueOptions, SimConfig};
//! use asyncmcp_proto::{Address, OpId, OpKind, OpResult, QueueOp, SendOp};
//!
//! let start = Instant::now(); // a test's only clock read; the broker never reads one
//! let mut broker = Broker::new(SimConfig::default(), start, [7; 32]);
//! let url = broker.create_queue("requests", QueueOptions::default());
//! assert_eq!(url, "http://sim.local/123456789012/requests");
//!
//! let send = QueueOp {
//!     id: OpId(1),
//!     kind: OpKind::Send(SendOp {
//!         to: Address::Queue(url.clone()),
//!         body: r#"{"jsonrpc":"2.0","method":"ping","id":1}"#.into(),
//!         attributes: Attributes::new(),
//!         group_id: None,
//!         dedup_id: None,
//!         offload: None,
//!     }),
//! };
//! assert_eq!(broker.handle_op(&send, start), OpResult::Ok);
//!
//! let message = broker.poll_delivery(&url, start).expect("the message is visible");
//! assert_eq!(message.receive_count, 1);
//! assert!(broker.poll_delivery(&url, start).is_none(), "in flight, so invisible");
//! assert_eq!(broker.poll_timeout(), Some(start + Duration::from_secs(30)));
//!
//! let delete = QueueOp {
//!     id: OpId(2),
//!     kind: OpKind::Delete { queue_url: url.clone(), receipt_handle: message.receipt_handle },
//! };
//! assert_eq!(broker.handle_op(&delete, start + Duration::from_secs(1)), OpResult::Ok);
//! assert_eq!(broker.poll_timeout(), None);
//! assert_eq!(broker.stats().deletes, 1);
//! ```

mod broker;
mod config;
mod envelope;
mod faults;
mod limits;
mod pair;
mod queue;
mod stats;
mod topic;

#[cfg(test)]
mod tests;

pub use broker::Broker;
pub use config::{Faults, QueueOptions, Redrive, SimConfig};
pub use envelope::sns_envelope;
pub use pair::{Livelock, Pair, PairBuilder, Responder, Topology, echo_responder};
pub use stats::{QueueDepth, SimStats};
