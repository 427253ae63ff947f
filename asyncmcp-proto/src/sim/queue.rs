//! One simulated SQS queue: its messages, their states, receipts and the FIFO
//! deduplication window. Deadlines live in the broker's timer index.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::config::QueueOptions;
use super::stats::QueueDepth;
use crate::attributes::Attributes;
use crate::rng::Rng;

/// SQS FIFO queues remember a deduplication id for five minutes.
pub(crate) const DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// Where a stored message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Visible,
    /// Waiting for an injected delay to end.
    Delayed,
    /// Received; invisible until its visibility deadline.
    InFlight,
}

/// One stored copy of a message.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) message_id: String,
    pub(crate) body: Bytes,
    pub(crate) attributes: Attributes,
    pub(crate) sent_timestamp_ms: u64,
    pub(crate) group_id: Option<String>,
    pub(crate) receive_count: u32,
    pub(crate) state: State,
    /// The receipt handle of the most recent receive.
    pub(crate) current_receipt: Option<String>,
    /// Every receipt handle issued for this copy, to forget them when it goes.
    receipts: Vec<String>,
}

impl Stored {
    pub(crate) fn new(
        message_id: String,
        body: Bytes,
        attributes: Attributes,
        sent_timestamp_ms: u64,
        group_id: Option<String>,
    ) -> Self {
        Self {
            message_id,
            body,
            attributes,
            sent_timestamp_ms,
            group_id,
            receive_count: 0,
            state: State::Visible,
            current_receipt: None,
            receipts: Vec::new(),
        }
    }
}

/// What a receipt handle refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receipt {
    /// The most recent handle of the copy with this sequence number.
    Current(u64, State),
    /// An older handle of a copy that was received again since.
    Stale(u64),
}

/// A FIFO deduplication key: the caller's id, or the body with content-based
/// deduplication.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DedupKey {
    Id(String),
    Content(Bytes),
}

#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub(crate) fifo: bool,
    pub(crate) options: QueueOptions,
    /// Every stored copy by sequence number (global send order).
    messages: BTreeMap<u64, Stored>,
    visible: BTreeSet<u64>,
    /// FIFO: sequence numbers by group; the first is the only one deliverable.
    groups: BTreeMap<String, BTreeSet<u64>>,
    /// FIFO: the visible group heads, so a receive finds the next one in O(log n).
    ready: BTreeSet<u64>,
    receipts: BTreeMap<String, u64>,
    dedup_expiry: BTreeMap<DedupKey, Instant>,
    dedup_order: VecDeque<(Instant, DedupKey)>,
}

impl Queue {
    pub(crate) fn new(fifo: bool, options: QueueOptions) -> Self {
        Self {
            fifo,
            options,
            messages: BTreeMap::new(),
            visible: BTreeSet::new(),
            groups: BTreeMap::new(),
            ready: BTreeSet::new(),
            receipts: BTreeMap::new(),
            dedup_expiry: BTreeMap::new(),
            dedup_order: VecDeque::new(),
        }
    }

    /// True if `key` was remembered less than five minutes before `now`; otherwise
    /// remembers it from `now` on. The window is not extended by a repeat, as on AWS.
    pub(crate) fn check_dedup(&mut self, key: DedupKey, now: Instant) -> bool {
        while let Some((expiry, _)) = self.dedup_order.front() {
            if *expiry > now {
                break;
            }
            if let Some((expiry, key)) = self.dedup_order.pop_front()
                && self.dedup_expiry.get(&key) == Some(&expiry)
            {
                self.dedup_expiry.remove(&key);
            }
        }
        if self.dedup_expiry.get(&key).is_some_and(|expiry| *expiry > now) {
            return true;
        }
        let expiry = now + DEDUP_WINDOW;
        self.dedup_expiry.insert(key.clone(), expiry);
        self.dedup_order.push_back((expiry, key));
        false
    }

    /// Stores a copy under `seq`, visible at once unless `delayed`.
    pub(crate) fn insert(&mut self, seq: u64, mut stored: Stored, delayed: bool) {
        stored.state = if delayed { State::Delayed } else { State::Visible };
        if !delayed {
            self.visible.insert(seq);
        }
        if self.fifo
            && let Some(group) = &stored.group_id
        {
            self.groups.entry(group.clone()).or_default().insert(seq);
        }
        self.messages.insert(seq, stored);
        self.refresh_ready(seq);
    }

    /// A delay or visibility deadline passed.
    pub(crate) fn make_visible(&mut self, seq: u64) {
        if let Some(stored) = self.messages.get_mut(&seq)
            && stored.state != State::Visible
        {
            stored.state = State::Visible;
            self.visible.insert(seq);
        }
        self.refresh_ready(seq);
    }

    /// FIFO: keeps `ready` in step with one copy's state and place in its group.
    fn refresh_ready(&mut self, seq: u64) {
        if !self.fifo {
            return;
        }
        if self.visible.contains(&seq) && self.is_group_head(seq) {
            self.ready.insert(seq);
        } else {
            self.ready.remove(&seq);
        }
    }

    /// The copy the next receive gets: the oldest visible one, a random visible one
    /// when `reorder` is given (standard queues only, O(n)), or for FIFO the oldest
    /// visible head of a group.
    pub(crate) fn pick(&self, reorder: Option<&mut Rng>) -> Option<u64> {
        if self.fifo {
            return self.ready.first().copied();
        }
        match reorder {
            Some(rng) if self.visible.len() > 1 => {
                let index = rng.below(self.visible.len() as u64);
                self.visible.iter().copied().nth(usize::try_from(index).unwrap_or(0))
            }
            _ => self.visible.first().copied(),
        }
    }

    fn is_group_head(&self, seq: u64) -> bool {
        let group = self.messages.get(&seq).and_then(|m| m.group_id.as_ref());
        match group {
            Some(group) => self.groups.get(group).and_then(|seqs| seqs.first()) == Some(&seq),
            None => true,
        }
    }

    pub(crate) fn get(&self, seq: u64) -> Option<&Stored> {
        self.messages.get(&seq)
    }

    /// Marks `seq` received with `receipt`; returns the copy.
    pub(crate) fn mark_in_flight(&mut self, seq: u64, receipt: String) -> Option<&Stored> {
        let stored = self.messages.get_mut(&seq)?;
        self.visible.remove(&seq);
        self.ready.remove(&seq);
        stored.state = State::InFlight;
        stored.receive_count = stored.receive_count.saturating_add(1);
        stored.receipts.push(receipt.clone());
        stored.current_receipt = Some(receipt.clone());
        self.receipts.insert(receipt, seq);
        Some(stored)
    }

    /// Releases an in-flight copy at once (visibility timeout 0).
    pub(crate) fn release(&mut self, seq: u64) {
        self.make_visible(seq);
    }

    pub(crate) fn lookup_receipt(&self, handle: &str) -> Option<Receipt> {
        let seq = *self.receipts.get(handle)?;
        let stored = self.messages.get(&seq)?;
        if stored.current_receipt.as_deref() == Some(handle) {
            Some(Receipt::Current(seq, stored.state))
        } else {
            Some(Receipt::Stale(seq))
        }
    }

    /// Removes a copy and forgets its receipt handles.
    pub(crate) fn remove(&mut self, seq: u64) -> Option<Stored> {
        let stored = self.messages.remove(&seq)?;
        self.visible.remove(&seq);
        self.ready.remove(&seq);
        for receipt in &stored.receipts {
            self.receipts.remove(receipt);
        }
        if let Some(group) = &stored.group_id
            && let Some(seqs) = self.groups.get_mut(group)
        {
            seqs.remove(&seq);
            let next_head = seqs.first().copied();
            if seqs.is_empty() {
                self.groups.remove(group);
            }
            if let Some(head) = next_head {
                self.refresh_ready(head);
            }
        }
        Some(stored)
    }

    pub(crate) fn depth(&self) -> QueueDepth {
        let mut depth = QueueDepth::default();
        for stored in self.messages.values() {
            match stored.state {
                State::Visible => depth.visible += 1,
                State::Delayed => depth.delayed += 1,
                State::InFlight => depth.in_flight += 1,
            }
        }
        depth
    }
}
