//! How the simulated account, its queues and its faults are configured.

use std::time::Duration;

/// The simulated AWS account and the fault knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The account id in queue URLs and topic ARNs.
    pub account: String,
    /// The region in topic ARNs.
    pub region: String,
    /// The base of queue URLs: `{endpoint}/{account}/{name}`.
    pub endpoint: String,
    /// The wall clock, in Unix milliseconds, at the `now` given to [`Broker::new`](super::Broker::new).
    /// `SentTimestamp` and envelope timestamps count on from here.
    pub start_unix_millis: u64,
    /// What goes wrong, and how often.
    pub faults: Faults,
}

impl Default for SimConfig {
    /// Account `123456789012` in `us-east-1` at `http://sim.local`, starting on
    /// 2026-11-26T00:00:00Z, without faults.
    fn default() -> Self {
        Self {
            account: "123456789012".to_owned(),
            region: "us-east-1".to_owned(),
            endpoint: "http://sim.local".to_owned(),
            start_unix_millis: 1_795_651_200_000,
            faults: Faults::default(),
        }
    }
}

/// Fault injection. Every knob draws from the broker's seeded random source, so a
/// run with faults is as reproducible as one without.
///
/// `duplicate` and `reorder` never apply to FIFO queues (FIFO queues deliver exactly
/// once and in order within a group); `max_delay` applies everywhere, and FIFO
/// queues still keep each group in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Probability, per message stored in a standard queue, that a second copy with
    /// the same `MessageId` is stored too (at-least-once delivery).
    pub duplicate: f64,
    /// Standard queues deliver a random visible message instead of the oldest.
    pub reorder: bool,
    /// Each stored message becomes visible after a random delay in `0..=max_delay`
    /// (millisecond resolution).
    pub max_delay: Duration,
    /// Probability that a `Send` (SendMessage or Publish) fails with a retryable
    /// error before anything is stored.
    pub send_failure: f64,
    /// Probability that any operation fails with a retryable `Throttling` error
    /// before it has any effect.
    pub throttle: f64,
}

impl Default for Faults {
    /// No faults.
    fn default() -> Self {
        Self { duplicate: 0.0, reorder: false, max_delay: Duration::ZERO, send_failure: 0.0, throttle: 0.0 }
    }
}

impl Faults {
    /// No faults (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// Everything a standard queue may legally do to a consumer, at the given
    /// probability: duplicates, reordering, delays up to `max_delay`, plus retryable
    /// send failures and throttling.
    pub fn chaos(probability: f64, max_delay: Duration) -> Self {
        Self { duplicate: probability, reorder: true, max_delay, send_failure: probability, throttle: probability }
    }
}

/// Attributes of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOptions {
    /// How long a received message stays invisible (SQS default 30 s).
    pub visibility_timeout: Duration,
    /// The largest message accepted, body plus attributes (SQS default 262,144 bytes;
    /// SQS allows up to 1 MiB).
    pub max_message_bytes: usize,
    /// Move messages received too often to a dead-letter queue.
    pub redrive: Option<Redrive>,
    /// FIFO queues only: deduplicate by the body when a send carries no
    /// `MessageDeduplicationId` (SQS `ContentBasedDeduplication`). Without it such a
    /// send fails, as on AWS.
    pub content_based_deduplication: bool,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(30),
            max_message_bytes: 262_144,
            redrive: None,
            content_based_deduplication: false,
        }
    }
}

/// An SQS redrive policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    /// Where messages go once received `max_receive_count` times. A URL the broker
    /// does not know disables the policy.
    pub dead_letter_queue_url: String,
    /// A message about to be received for the `max_receive_count + 1`-th time is
    /// moved instead.
    pub max_receive_count: u32,
}
