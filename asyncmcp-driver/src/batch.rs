//! Gathering ready operations into batch calls.

use std::collections::BTreeMap;

use asyncmcp_proto::{Address, OpKind, QueueOp};

use crate::stats::Call;

/// SQS and SNS batch calls take at most this many entries.
pub(crate) const MAX_ENTRIES: usize = 10;
/// SQS batch calls take at most this many bytes of bodies in all.
pub(crate) const MAX_BATCH_BYTES: usize = 262_144;

/// Ops that can go in one call: the same kind, to the same queue or topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Send(Address),
    Delete(String),
    Visibility(String),
}

pub(crate) fn call_kind(op: &QueueOp) -> Call {
    match &op.kind {
        OpKind::Send(s) if s.to.is_topic() => Call::Publish,
        OpKind::Send(_) => Call::Send,
        OpKind::Delete { .. } => Call::Delete,
        _ => Call::Visibility,
    }
}

fn key(op: &QueueOp) -> Key {
    match &op.kind {
        OpKind::Send(s) => Key::Send(s.to.clone()),
        OpKind::Delete { queue_url, .. } => Key::Delete(queue_url.clone()),
        OpKind::ChangeVisibility { queue_url, .. } => Key::Visibility(queue_url.clone()),
        // Future kinds go alone.
        _ => Key::Visibility(String::new()),
    }
}

fn body_len(op: &QueueOp) -> usize {
    match &op.kind {
        OpKind::Send(s) => {
            s.body.len() + s.attributes.iter().map(|(k, v)| k.len() + v.data_type.len() + v.value.len()).sum::<usize>()
        }
        _ => 0,
    }
}

/// Splits `ops` into batches of one kind and destination, each within the entry and
/// byte limits, keeping the order of ops within each destination.
pub(crate) fn gather(ops: Vec<QueueOp>) -> Vec<Vec<QueueOp>> {
    let mut by_key: BTreeMap<Key, Vec<Vec<QueueOp>>> = BTreeMap::new();
    for op in ops {
        let size = body_len(&op);
        let batches = by_key.entry(key(&op)).or_default();
        let fits = batches
            .last()
            .is_some_and(|b| b.len() < MAX_ENTRIES && b.iter().map(body_len).sum::<usize>() + size <= MAX_BATCH_BYTES);
        match batches.last_mut() {
            Some(b) if fits => b.push(op),
            _ => batches.push(vec![op]),
        }
    }
    by_key.into_values().flatten().collect()
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
        assert!(sizes.iter().all(|&n| n <= MAX_ENTRIES));
        assert_eq!(batches.len(), 5, "{sizes:?}"); // a: 10+10+3, b: 1, deletes: 3
        for b in &batches {
            let k = key(&b[0]);
            assert!(b.iter().all(|op| key(op) == k));
        }
        let a_ids: Vec<u64> = batches
            .iter()
            .flatten()
            .filter(|op| key(op) == Key::Send(Address::parse("http://q/a")))
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
}
