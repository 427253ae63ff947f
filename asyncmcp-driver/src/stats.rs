//! Counts of the SQS and SNS calls a driver made: what a deployment pays for.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use asyncmcp_proto::OpFailure;

/// Live counters, shared between the driver task and its handles.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    receives: AtomicU64,
    empty_receives: AtomicU64,
    messages_received: AtomicU64,
    sends: AtomicU64,
    send_batches: AtomicU64,
    publishes: AtomicU64,
    publish_batches: AtomicU64,
    deletes: AtomicU64,
    delete_batches: AtomicU64,
    visibility_changes: AtomicU64,
    visibility_batches: AtomicU64,
    failed_calls: AtomicU64,
    billed_units: AtomicU64,
    sessions: AtomicU64,
    in_flight: AtomicU64,
    s3_puts: AtomicU64,
    s3_gets: AtomicU64,
    s3_deletes: AtomicU64,
    /// The failure that stopped the driver, if one did.
    failure: Mutex<Option<OpFailure>>,
}

/// Which call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Send,
    Publish,
    Delete,
    Visibility,
}

impl Stats {
    /// Records the failure that stops the driver (the first one stays).
    pub(crate) fn fail(&self, failure: OpFailure) {
        let mut slot = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(failure);
    }

    /// The failure that stopped the driver, if one did.
    pub(crate) fn failure(&self) -> Option<OpFailure> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn receive(&self, messages: usize, failed: bool) {
        self.receives.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failed_calls.fetch_add(1, Ordering::Relaxed);
        } else if messages == 0 {
            self.empty_receives.fetch_add(1, Ordering::Relaxed);
        }
        self.messages_received.fetch_add(messages as u64, Ordering::Relaxed);
    }

    pub(crate) fn call(&self, call: Call, batch: bool) {
        let counter = match (call, batch) {
            (Call::Send, false) => &self.sends,
            (Call::Send, true) => &self.send_batches,
            (Call::Publish, false) => &self.publishes,
            (Call::Publish, true) => &self.publish_batches,
            (Call::Delete, false) => &self.deletes,
            (Call::Delete, true) => &self.delete_batches,
            (Call::Visibility, false) => &self.visibility_changes,
            (Call::Visibility, true) => &self.visibility_batches,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the billing units of one call that carried `payload` bytes.
    pub(crate) fn bill(&self, payload: usize) {
        self.billed_units.fetch_add(billed_units(payload), Ordering::Relaxed);
    }

    pub(crate) fn gauges(&self, (sessions, in_flight): (usize, usize)) {
        self.sessions.store(sessions as u64, Ordering::Relaxed);
        self.in_flight.store(in_flight as u64, Ordering::Relaxed);
    }

    /// The queue client's S3 calls so far (they are its counters, copied).
    pub(crate) fn objects(&self, calls: ObjectCalls) {
        self.s3_puts.store(calls.puts, Ordering::Relaxed);
        self.s3_gets.store(calls.gets, Ordering::Relaxed);
        self.s3_deletes.store(calls.deletes, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, n: u64) {
        self.failed_calls.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            receives: get(&self.receives),
            empty_receives: get(&self.empty_receives),
            messages_received: get(&self.messages_received),
            sends: get(&self.sends),
            send_batches: get(&self.send_batches),
            publishes: get(&self.publishes),
            publish_batches: get(&self.publish_batches),
            deletes: get(&self.deletes),
            delete_batches: get(&self.delete_batches),
            visibility_changes: get(&self.visibility_changes),
            visibility_batches: get(&self.visibility_batches),
            failed_calls: get(&self.failed_calls),
            billed_units: get(&self.billed_units),
            sessions: get(&self.sessions),
            in_flight: get(&self.in_flight),
            s3_puts: get(&self.s3_puts),
            s3_gets: get(&self.s3_gets),
            s3_deletes: get(&self.s3_deletes),
        }
    }
}

/// How many SQS and SNS calls a driver made, by kind. Each batch call counts once,
/// however many entries it carried: this is what AWS bills.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// `ReceiveMessage` calls (long polls), empty ones included.
    pub receives: u64,
    /// `ReceiveMessage` calls that returned no message.
    pub empty_receives: u64,
    /// Messages those calls returned.
    pub messages_received: u64,
    /// `SendMessage` calls.
    pub sends: u64,
    /// `SendMessageBatch` calls.
    pub send_batches: u64,
    /// SNS `Publish` calls.
    pub publishes: u64,
    /// SNS `PublishBatch` calls.
    pub publish_batches: u64,
    /// `DeleteMessage` calls.
    pub deletes: u64,
    /// `DeleteMessageBatch` calls.
    pub delete_batches: u64,
    /// `ChangeMessageVisibility` calls.
    pub visibility_changes: u64,
    /// `ChangeMessageVisibilityBatch` calls.
    pub visibility_batches: u64,
    /// Calls or batch entries that failed.
    pub failed_calls: u64,
    /// What AWS bills for the calls that succeeded: each call counts one request per
    /// started 64 KiB of the messages it carried (bodies and attributes; a receive by
    /// what it returned), at least one. See [`billed_units`].
    pub billed_units: u64,
    /// Live legacy sessions (a client: 1 once it has one).
    pub sessions: u64,
    /// Requests in flight: a server's delivered and not yet answered, a client's sent
    /// and not yet ended.
    pub in_flight: u64,
    /// S3 `PutObject` calls of offloaded messages (see [`ObjectCalls`]).
    pub s3_puts: u64,
    /// S3 `GetObject` calls of received offloaded messages.
    pub s3_gets: u64,
    /// S3 `DeleteObject` calls after their messages were deleted.
    pub s3_deletes: u64,
}

/// S3 calls a queue client made for offloaded messages (claim check), as
/// [`QueueClient::object_calls`](crate::QueueClient::object_calls) reports them.
/// S3 bills each call once, whatever the object's size; these are not in
/// [`StatsSnapshot::total_calls`] or [`StatsSnapshot::billed_units`], which count
/// SQS and SNS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectCalls {
    /// `PutObject` calls.
    pub puts: u64,
    /// `GetObject` calls.
    pub gets: u64,
    /// `DeleteObject` calls.
    pub deletes: u64,
}

impl StatsSnapshot {
    /// Every API call, of any kind.
    pub fn total_calls(&self) -> u64 {
        self.receives
            + self.sends
            + self.send_batches
            + self.publishes
            + self.publish_batches
            + self.deletes
            + self.delete_batches
            + self.visibility_changes
            + self.visibility_batches
    }
}

/// The requests AWS bills for one SQS or SNS call that carries `payload` bytes of
/// messages: one per started 64 KiB chunk, and at least one.
///
/// ```
/// use asyncmcp_driver::billed_units;
/// assert_eq!(billed_units(0), 1); // an empty receive, a delete
/// assert_eq!(billed_units(65_536), 1);
/// assert_eq!(billed_units(65_537), 2);
/// assert_eq!(billed_units(1_048_576), 16); // a 1 MiB message
/// ```
pub fn billed_units(payload: usize) -> u64 {
    const CHUNK: usize = 64 * 1024;
    u64::try_from(payload.div_ceil(CHUNK).max(1)).unwrap_or(u64::MAX)
}
