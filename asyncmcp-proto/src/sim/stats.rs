//! Counters and gauges the tests read.

/// What the broker did since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// `SendMessage` calls that succeeded (deduplicated ones included).
    pub sends: u64,
    /// `Publish` calls that succeeded.
    pub publishes: u64,
    /// Messages deleted.
    pub deletes: u64,
    /// `DeleteMessage` calls with an outdated receipt handle: success, nothing deleted.
    pub stale_deletes: u64,
    /// Visibility changes applied.
    pub visibility_changes: u64,
    /// Messages delivered by a receive.
    pub receives: u64,
    /// Failures injected by `Faults::send_failure` and `Faults::throttle`.
    pub failures_injected: u64,
    /// Extra copies stored by `Faults::duplicate`.
    pub duplicates_injected: u64,
    /// Messages moved to a dead-letter queue by a redrive policy.
    pub redrives: u64,
    /// FIFO sends accepted but not stored again (deduplication id seen within 5 minutes).
    pub deduplicated: u64,
    /// SNS deliveries dropped because the message (envelope included) exceeds the
    /// subscribed queue's size limit.
    pub dropped_deliveries: u64,
}

/// How many messages a queue holds, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Ready to be received.
    pub visible: usize,
    /// Received and neither deleted nor released yet.
    pub in_flight: usize,
    /// Stored but not visible yet (injected delay).
    pub delayed: usize,
}
