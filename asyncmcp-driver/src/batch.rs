//! Batches: which operations can share one call ([`BatchTarget`]), the limits of a
//! call ([`MAX_BATCH_ENTRIES`], [`MAX_BATCH_BYTES`], [`batch_bytes`]), and the
//! driver's outbox, which gathers ready operations into batches and holds them back
//! briefly so that fewer calls carry them.
//!
//! The driver is the only place that decides batches: a
//! [`QueueClient`](crate::QueueClient) executes each batch it is handed as one call.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use asyncmcp_proto::codec::encoded_size;
use asyncmcp_proto::{Address, OpKind, QueueOp};

use crate::stats::Call;

/// SQS and SNS batch calls take at most this many entries.
pub const MAX_BATCH_ENTRIES: usize = 10;

/// SQS `SendMessageBatch` and SNS `PublishBatch` take at most this many message bytes
/// in all (the sum of [`batch_bytes`] over the entries).
pub const MAX_BATCH_BYTES: usize = 262_144;

/// The batch call an operation can share with others: one kind, one destination.
///
/// ```
/// use asyncmcp_driver::BatchTarget;
/// use asyncmcp_proto::{OpId, OpKind, QueueOp};
///
/// let delete = QueueOp {
///     id: OpId(1),
///     kind: OpKind::Delete { queue_url: "https://sqs.example/q".into(), receipt_handle: "r".into() },
/// };
/// assert_eq!(BatchTarget::of(&delete), BatchTarget::Delete { queue_url: "https://sqs.example/q".into() });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum BatchTarget {
    /// `SendMessageBatch` to a queue.
    SendMessage {
        /// The queue.
        queue_url: String,
    },
    /// `PublishBatch` to a topic.
    Publish {
        /// The topic.
        topic_arn: String,
    },
    /// `DeleteMessageBatch` on a queue.
    Delete {
        /// The queue.
        queue_url: String,
    },
    /// `ChangeMessageVisibilityBatch` on a queue.
    ChangeVisibility {
        /// The queue.
        queue_url: String,
    },
    /// No batch form (a kind of operation, or of address, added later): the operation
    /// goes alone.
    Alone,
}

impl BatchTarget {
    /// The batch call `op` can share.
    pub fn of(op: &QueueOp) -> Self {
        match &op.kind {
            OpKind::Send(send) => match &send.to {
                Address::Queue(url) => Self::SendMessage { queue_url: url.clone() },
                Address::Topic(arn) => Self::Publish { topic_arn: arn.clone() },
                _ => Self::Alone,
            },
            OpKind::Delete { queue_url, .. } => Self::Delete { queue_url: queue_url.clone() },
            OpKind::ChangeVisibility { queue_url, .. } => Self::ChangeVisibility { queue_url: queue_url.clone() },
            _ => Self::Alone,
        }
    }
}

/// The bytes `op` counts against [`MAX_BATCH_BYTES`]: a message's body and
/// attributes as SQS and SNS count them
/// ([`encoded_size`](asyncmcp_proto::codec::encoded_size)); 0 for deletes and
/// visibility changes, whose batches only the entry count limits.
pub fn batch_bytes(op: &QueueOp) -> usize {
    match &op.kind {
        OpKind::Send(s) => encoded_size(&s.body, &s.attributes, false),
        _ => 0,
    }
}

pub(crate) fn call_kind(op: &QueueOp) -> Call {
    match &op.kind {
        OpKind::Send(s) if s.to.is_topic() => Call::Publish,
        OpKind::Send(_) => Call::Send,
        OpKind::Delete { .. } => Call::Delete,
        _ => Call::Visibility,
    }
}

/// Splits `ops` into batches of one [`BatchTarget`], each within the entry and byte
/// limits, keeping the order of ops within each target. [`BatchTarget::Alone`] ops go
/// one per batch.
pub(crate) fn gather(ops: Vec<QueueOp>) -> Vec<Vec<QueueOp>> {
    let mut by_key: BTreeMap<BatchTarget, Vec<(Vec<QueueOp>, usize)>> = BTreeMap::new();
    for op in ops {
        let key = BatchTarget::of(&op);
        let size = batch_bytes(&op);
        let alone = key == BatchTarget::Alone;
        let batches = by_key.entry(key).or_default();
        match batches.last_mut() {
            Some((batch, bytes)) if !alone && batch.len() < MAX_BATCH_ENTRIES && *bytes + size <= MAX_BATCH_BYTES => {
                batch.push(op);
                *bytes += size;
            }
            _ => batches.push((vec![op], size)),
        }
    }
    by_key.into_values().flatten().map(|(batch, _)| batch).collect()
}

/// Ops held back, per destination and kind, with when the oldest was held.
#[derive(Debug)]
struct Held {
    ops: Vec<QueueOp>,
    since: Instant,
}

/// The API-call economy of the event loop: which ready ops go out now, in which
/// batches, and which wait.
///
/// - An op never waits for a call to another destination or of another kind.
/// - A send or publish goes out at once when no call of its kind to its destination is
///   in flight; otherwise it waits for that call to end and then goes with everything
///   that gathered meanwhile (self-clocking: no added latency when idle, batches under
///   load).
/// - A delete or visibility change (acknowledgements: nobody waits for them) also waits
///   up to `linger` from the first one held, so several go in one call.
/// - A full batch (10 entries, or the byte limit) goes out at once.
/// - `flush` (shutdown) sends everything held, now.
#[derive(Debug)]
pub(crate) struct Outbox {
    held: BTreeMap<BatchTarget, Held>,
    busy: BTreeMap<BatchTarget, usize>,
    linger: Duration,
}

impl Outbox {
    pub(crate) fn new(linger: Duration) -> Self {
        Self { held: BTreeMap::new(), busy: BTreeMap::new(), linger }
    }

    /// Takes ops the machine produced.
    pub(crate) fn push(&mut self, op: QueueOp, now: Instant) {
        self.held.entry(BatchTarget::of(&op)).or_insert_with(|| Held { ops: Vec::new(), since: now }).ops.push(op);
    }

    /// Nothing is held and no call is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.held.is_empty() && self.busy.is_empty()
    }

    /// A call for `key` ended.
    pub(crate) fn done(&mut self, key: &BatchTarget) {
        if let Some(n) = self.busy.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.busy.remove(key);
            }
        }
    }

    fn waits(&self, key: &BatchTarget, since: Instant, now: Instant) -> bool {
        match key {
            BatchTarget::Alone => false,
            _ if self.busy.contains_key(key) => true,
            BatchTarget::Delete { .. } | BatchTarget::ChangeVisibility { .. } => now < since + self.linger,
            _ => false,
        }
    }

    /// The batches to call now (each marked in flight until [`done`](Self::done)).
    pub(crate) fn ready(&mut self, now: Instant, flush: bool) -> Vec<(BatchTarget, Vec<QueueOp>)> {
        let mut out = Vec::new();
        let keys: Vec<BatchTarget> = self.held.keys().cloned().collect();
        for k in keys {
            let Some(held) = self.held.remove(&k) else { continue };
            let waits = !flush && self.waits(&k, held.since, now);
            let mut batches = gather(held.ops);
            let last_full = batches.last().is_some_and(|b| b.len() >= MAX_BATCH_ENTRIES);
            if waits
                && !last_full
                && let Some(last) = batches.pop()
            {
                // Bytes or count filled the others; the last one waits for company.
                self.held.insert(k.clone(), Held { ops: last, since: held.since });
            }
            for b in batches {
                *self.busy.entry(k.clone()).or_insert(0) += 1;
                out.push((k.clone(), b));
            }
        }
        out
    }

    /// When a held op stops waiting without any call ending: the earliest linger
    /// deadline of an acknowledgement whose destination has no call in flight.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.held
            .iter()
            .filter(|(k, _)| {
                !self.busy.contains_key(*k)
                    && matches!(k, BatchTarget::Delete { .. } | BatchTarget::ChangeVisibility { .. })
            })
            .map(|(_, h)| h.since + self.linger)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncmcp_proto::attributes::Attributes;
    use asyncmcp_proto::{OpId, SendOp};

    fn send(id: u64, to: &str, len: usize) -> QueueOp {
        QueueOp {
            id: OpId(id),
            kind: OpKind::Send(SendOp {
                to: Address::parse(to),
                body: vec![b'x'; len].into(),
                attributes: Attributes::new(),
                group_id: None,
                dedup_id: None,
                offload: None,
            }),
        }
    }

    fn delete(id: u64, q: &str) -> QueueOp {
        QueueOp { id: OpId(id), kind: OpKind::Delete { queue_url: q.into(), receipt_handle: format!("r{id}") } }
    }

    #[test]
    fn groups_by_kind_and_destination_within_limits() {
        let mut ops: Vec<QueueOp> = (0..23).map(|i| send(i, "http://q/a", 10)).collect();
        ops.push(send(100, "http://q/b", 10));
        ops.extend((200..203).map(|i| delete(i, "http://q/a")));
        let batches = gather(ops);
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 27);
        assert!(sizes.iter().all(|&n| n <= MAX_BATCH_ENTRIES));
        assert_eq!(batches.len(), 5, "{sizes:?}"); // a: 10+10+3, b: 1, deletes: 3
        for b in &batches {
            let k = BatchTarget::of(&b[0]);
            assert!(b.iter().all(|op| BatchTarget::of(op) == k));
        }
        let a_ids: Vec<u64> = batches
            .iter()
            .flatten()
            .filter(|op| BatchTarget::of(op) == BatchTarget::SendMessage { queue_url: "http://q/a".into() })
            .map(|op| op.id.0)
            .collect();
        assert_eq!(a_ids, (0..23).collect::<Vec<_>>());
    }

    #[test]
    fn large_bodies_split_batches_by_bytes() {
        let ops: Vec<QueueOp> = (0..4).map(|i| send(i, "http://q/a", 100_000)).collect();
        let batches = gather(ops);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2]);
    }

    #[test]
    fn the_byte_limit_counts_attributes_and_is_inclusive() {
        let half = MAX_BATCH_BYTES / 2;
        let exact: Vec<QueueOp> = (0..2).map(|i| send(i, "http://q/a", half)).collect();
        assert_eq!(gather(exact).iter().map(Vec::len).collect::<Vec<_>>(), vec![2], "exactly the limit fits");
        let mut over: Vec<QueueOp> = (0..2).map(|i| send(i, "http://q/a", half)).collect();
        if let OpKind::Send(s) = &mut over[1].kind {
            s.attributes.insert("A".into(), asyncmcp_proto::attributes::AttributeValue::string("v"));
        }
        assert_eq!(batch_bytes(&over[1]), half + 1 + 6 + 1);
        assert_eq!(gather(over).iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1], "an attribute tips it over");
    }

    fn ids(batches: &[(BatchTarget, Vec<QueueOp>)]) -> Vec<Vec<u64>> {
        batches.iter().map(|(_, b)| b.iter().map(|op| op.id.0).collect()).collect()
    }

    #[test]
    fn a_send_goes_at_once_then_later_ones_wait_for_the_call_in_flight() {
        let t0 = Instant::now();
        let mut outbox = Outbox::new(Duration::from_millis(20));
        outbox.push(send(1, "http://q/a", 10), t0);
        let first = outbox.ready(t0, false);
        assert_eq!(ids(&first), [vec![1]]);
        // While it is in flight, more sends to the same queue gather...
        for i in 2..6 {
            outbox.push(send(i, "http://q/a", 10), t0);
        }
        // ...but a send elsewhere does not wait.
        outbox.push(send(9, "http://q/b", 10), t0);
        assert_eq!(ids(&outbox.ready(t0, false)), [vec![9]]);
        assert!(outbox.deadline().is_none(), "sends wait for a call, not a clock");
        outbox.done(&first[0].0);
        assert_eq!(ids(&outbox.ready(t0, false)), [vec![2, 3, 4, 5]]);
    }

    #[test]
    fn a_full_batch_goes_even_while_a_call_is_in_flight() {
        let t0 = Instant::now();
        let mut outbox = Outbox::new(Duration::from_millis(20));
        outbox.push(send(0, "http://q/a", 10), t0);
        assert_eq!(outbox.ready(t0, false).len(), 1);
        for i in 1..=12 {
            outbox.push(send(i, "http://q/a", 10), t0);
        }
        let batches = outbox.ready(t0, false);
        assert_eq!(ids(&batches), [(1..=10).collect::<Vec<_>>()]);
        assert!(!outbox.is_empty());
    }

    #[test]
    fn deletes_linger_until_the_deadline_or_ten() {
        let t0 = Instant::now();
        let linger = Duration::from_millis(20);
        let mut outbox = Outbox::new(linger);
        outbox.push(delete(1, "http://q/a"), t0);
        outbox.push(delete(2, "http://q/a"), t0 + Duration::from_millis(5));
        assert!(outbox.ready(t0 + Duration::from_millis(5), false).is_empty());
        assert_eq!(outbox.deadline(), Some(t0 + linger));
        let batches = outbox.ready(t0 + linger, false);
        assert_eq!(ids(&batches), [vec![1, 2]]);
        outbox.done(&batches[0].0);
        assert!(outbox.is_empty());

        for i in 10..20 {
            outbox.push(delete(i, "http://q/a"), t0);
        }
        assert_eq!(ids(&outbox.ready(t0, false)), [(10..20).collect::<Vec<_>>()], "ten go without waiting");
    }

    #[test]
    fn flush_sends_everything_held() {
        let t0 = Instant::now();
        let mut outbox = Outbox::new(Duration::from_secs(60));
        outbox.push(send(1, "http://q/a", 10), t0);
        let first = outbox.ready(t0, false);
        outbox.push(send(2, "http://q/a", 10), t0);
        outbox.push(delete(3, "http://q/a"), t0);
        assert!(outbox.ready(t0, false).is_empty());
        let flushed = outbox.ready(t0, true);
        assert_eq!(flushed.len(), 2);
        outbox.done(&first[0].0);
        for (k, _) in &flushed {
            outbox.done(k);
        }
        assert!(outbox.is_empty());
    }
}
