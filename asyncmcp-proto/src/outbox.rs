//! Outbound operations shared by the client and the server: op ids, retries with
//! seeded jittered backoff, and logical messages made of several ops (fragments).

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::backoff::{RetryPolicy, backoff_delay};
use crate::error::OpFailure;
use crate::op::{OpId, OpKind, OpResult, QueueOp};
use crate::rng::Rng;
use crate::timers::Timers;

/// How a logical operation (one or more ops) ended, with the purpose it was queued
/// for.
#[derive(Debug)]
pub(crate) enum OpEnded<P> {
    Succeeded(P),
    Failed(P, OpFailure),
}

#[derive(Debug)]
struct Attempt {
    kind: OpKind,
    attempt: u32,
    group: u64,
}

#[derive(Debug)]
struct Group<P> {
    remaining: usize,
    failure: Option<OpFailure>,
    purpose: P,
}

#[derive(Debug)]
pub(crate) struct Outbox<P> {
    next_op: u64,
    next_group: u64,
    ready: VecDeque<QueueOp>,
    in_flight: BTreeMap<OpId, Attempt>,
    backing_off: BTreeMap<OpId, Attempt>,
    retry_timers: Timers<OpId>,
    groups: BTreeMap<u64, Group<P>>,
    rng: Rng,
    policy: RetryPolicy,
}

impl<P> Outbox<P> {
    pub(crate) fn new(policy: RetryPolicy, rng: Rng) -> Self {
        Self {
            next_op: 0,
            next_group: 0,
            ready: VecDeque::new(),
            in_flight: BTreeMap::new(),
            backing_off: BTreeMap::new(),
            retry_timers: Timers::default(),
            groups: BTreeMap::new(),
            rng,
            policy,
        }
    }

    /// Queues `kinds` as one logical operation; `purpose` comes back in its [`OpEnded`].
    pub(crate) fn push(&mut self, kinds: Vec<OpKind>, purpose: P) {
        let group = self.next_group;
        self.next_group += 1;
        self.groups.insert(group, Group { remaining: kinds.len(), failure: None, purpose });
        for kind in kinds {
            self.issue(Attempt { kind, attempt: 1, group });
        }
    }

    fn issue(&mut self, attempt: Attempt) {
        let id = OpId(self.next_op);
        self.next_op += 1;
        self.ready.push_back(QueueOp { id, kind: attempt.kind.clone() });
        self.in_flight.insert(id, attempt);
    }

    /// Records how op `id` ended. Returns the logical operation's end once all its
    /// ops have ended. Unknown ids (reported twice, or never issued) are ignored.
    pub(crate) fn handle_result(&mut self, id: OpId, result: OpResult, now: Instant) -> Option<OpEnded<P>> {
        let attempt = self.in_flight.remove(&id)?;
        match result {
            OpResult::Ok => self.finish(attempt.group, None),
            OpResult::Failed(failure) => {
                if failure.is_retryable() && attempt.attempt < self.policy.max_attempts {
                    let delay = backoff_delay(&self.policy, attempt.attempt, &mut self.rng);
                    self.retry_timers.set(id, now + delay);
                    self.backing_off.insert(id, attempt);
                    None
                } else {
                    self.finish(attempt.group, Some(failure))
                }
            }
        }
    }

    fn finish(&mut self, group: u64, failure: Option<OpFailure>) -> Option<OpEnded<P>> {
        let entry = self.groups.get_mut(&group)?;
        entry.remaining = entry.remaining.saturating_sub(1);
        if entry.failure.is_none() {
            entry.failure = failure;
        }
        if entry.remaining > 0 {
            return None;
        }
        let entry = self.groups.remove(&group)?;
        Some(match entry.failure {
            None => OpEnded::Succeeded(entry.purpose),
            Some(f) => OpEnded::Failed(entry.purpose, f),
        })
    }

    /// Re-issues the retries that are due.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while let Some(id) = self.retry_timers.pop_due(now) {
            if let Some(mut attempt) = self.backing_off.remove(&id) {
                attempt.attempt += 1;
                self.issue(attempt);
            }
        }
    }

    pub(crate) fn poll_op(&mut self) -> Option<QueueOp> {
        self.ready.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.retry_timers.next()
    }
}
