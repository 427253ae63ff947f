//! Per-session reordering for peers that number their messages.
//!
//! SQS standard queues reorder; a peer that sends sequence numbers lets us deliver in
//! order. A missing number is waited for at most `gap_timeout` (then skipped, since a
//! message lost for good must not stall the session), and at most `max_buffered`
//! items wait behind a gap (more skip the gap at once, bounding memory). A skipped
//! number that arrives after all (delayed past the gap, not lost) is delivered late,
//! out of order, rather than dropped: it is a request nobody answered yet.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How many skipped ranges are remembered, so a late item can still be told from a
/// duplicate; older ranges are forgotten (their late items are then taken for
/// duplicates).
const MAX_SKIPPED_RANGES: usize = 64;

use crate::timers::deadline_after;

/// Reorders items by sequence number, starting at 0.
#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
pub(crate) struct Reorder<T> {
    gap_timeout: Duration,
    max_buffered: usize,
    /// The next sequence number to deliver. A `u128` so that delivering `u64::MAX`
    /// cannot overflow.
    next: u128,
    /// Items waiting behind a gap, all with `seq > next`.
    buffer: BTreeMap<u64, T>,
    /// When the gap at the front of `buffer` is skipped; `Some` exactly when `buffer`
    /// is not empty.
    gap_deadline: Option<Instant>,
    /// Numbers skipped and never delivered, as `start -> end` (both included).
    skipped: BTreeMap<u64, u64>,
}

#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
impl<T> Reorder<T> {
    /// An empty reorderer expecting sequence number 0 first. A gap is waited for at
    /// most `gap_timeout`; at most `max_buffered` items wait behind gaps (0 disables
    /// reordering: every gap is skipped at once).
    pub(crate) fn new(gap_timeout: Duration, max_buffered: usize) -> Self {
        Self {
            gap_timeout,
            max_buffered,
            next: 0,
            buffer: BTreeMap::new(),
            gap_deadline: None,
            skipped: BTreeMap::new(),
        }
    }

    /// Takes item number `seq` and returns the items now deliverable, in order (maybe
    /// none).
    ///
    /// An item whose `seq` was skipped (its gap timed out) and never delivered is
    /// delivered now, out of order. An item whose `seq` was already delivered or
    /// buffered is a late duplicate, returned as `Err(item)` so the caller can report
    /// it; nothing changes then.
    ///
    /// This does not fire a gap timer that is already due (an `Err` could not carry the
    /// items it releases): the caller runs [`handle_timeout`](Self::handle_timeout)
    /// first, as every `handle_*` does. Until then a late item may still fill the gap.
    ///
    /// The gap timer starts when an item is buffered behind a gap, restarts whenever
    /// the front gap closes while another remains, and stops when nothing is buffered.
    /// If buffering would exceed `max_buffered`, the front gap is skipped at once.
    pub(crate) fn push(&mut self, seq: u64, item: T, now: Instant) -> Result<Vec<T>, T> {
        let mut out = Vec::new();
        let position = u128::from(seq);
        if position < self.next && self.take_skipped(seq) {
            return Ok(vec![item]);
        }
        if position < self.next || self.buffer.contains_key(&seq) {
            return Err(item);
        }
        if position == self.next {
            out.push(item);
            self.next = position + 1;
            self.drain_consecutive(&mut out);
            self.rearm(now);
            return Ok(out);
        }
        self.buffer.insert(seq, item);
        let mut skipped = false;
        while self.buffer.len() > self.max_buffered {
            if !self.skip_gap(&mut out) {
                break;
            }
            skipped = true;
        }
        if skipped || self.gap_deadline.is_none() {
            self.rearm(now);
        }
        Ok(out)
    }

    /// If the gap timer is due at `now`, skips the missing numbers at the front and
    /// returns the buffered items up to the next gap, in order, re-arming the timer at
    /// `now + gap_timeout` for that gap if there is one. Otherwise returns nothing.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Vec<T> {
        let mut out = Vec::new();
        match self.gap_deadline {
            Some(at) if at <= now => {
                self.skip_gap(&mut out);
                self.rearm(now);
            }
            _ => {}
        }
        out
    }

    /// When the gap at the front is skipped, if anything is buffered.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.gap_deadline
    }

    /// How many items wait behind gaps.
    /// Gives up on the stream: every buffered item, in sequence order.
    pub(crate) fn into_buffered(self) -> Vec<T> {
        self.buffer.into_values().collect()
    }

    /// The items waiting behind gaps.
    pub(crate) fn buffered_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.buffer.values_mut()
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next sequence number in order (`u64::MAX + 1` once `u64::MAX` was
    /// delivered).
    pub(crate) fn next_expected(&self) -> u128 {
        self.next
    }

    /// Moves past the front gap and delivers up to the next one; false if nothing is
    /// buffered.
    fn skip_gap(&mut self, out: &mut Vec<T>) -> bool {
        let Some(first) = self.buffer.keys().next().copied() else {
            return false;
        };
        if let Ok(start) = u64::try_from(self.next)
            && start < first
        {
            self.skipped.insert(start, first - 1);
            while self.skipped.len() > MAX_SKIPPED_RANGES {
                self.skipped.pop_first();
            }
        }
        self.next = u128::from(first);
        self.drain_consecutive(out);
        true
    }

    /// If `seq` lies in a skipped range, removes it from there and returns true.
    fn take_skipped(&mut self, seq: u64) -> bool {
        let Some((&start, &end)) = self.skipped.range(..=seq).next_back() else { return false };
        if seq > end {
            return false;
        }
        self.skipped.remove(&start);
        if start < seq {
            self.skipped.insert(start, seq - 1);
        }
        if seq < end {
            self.skipped.insert(seq + 1, end);
        }
        true
    }

    /// Delivers buffered items while they continue the sequence.
    fn drain_consecutive(&mut self, out: &mut Vec<T>) {
        while let Some(entry) = self.buffer.first_entry() {
            if u128::from(*entry.key()) != self.next {
                break;
            }
            out.push(entry.remove());
            self.next += 1;
        }
    }

    /// A (new) gap is at the front: time it from `now`; or nothing waits: stop.
    fn rearm(&mut self, now: Instant) {
        self.gap_deadline = if self.buffer.is_empty() { None } else { Some(deadline_after(now, self.gap_timeout)) };
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const GAP: Duration = Duration::from_millis(500);

    #[allow(clippy::disallowed_methods)] // tests need a base instant
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn in_order_items_pass_straight_through() {
        let t0 = t0();
        let mut r = Reorder::new(GAP, 16);
        for seq in 0..5u64 {
            assert_eq!(r.push(seq, seq, t0), Ok(vec![seq]));
        }
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.next_expected(), 5);
    }

    #[test]
    fn out_of_order_items_wait_for_the_gap_to_fill() {
        let t0 = t0();
        let mut r = Reorder::new(GAP, 16);
        assert_eq!(r.push(2, "c", t0), Ok(vec![]));
        assert_eq!(r.poll_timeout(), Some(t0 + GAP));
        assert_eq!(r.push(1, "b", t0 + GAP / 2), Ok(vec![]));
        assert_eq!(r.poll_timeout(), Some(t0 + GAP), "buffering more does not restart the timer");
        assert_eq!(r.push(0, "a", t0 + GAP / 2), Ok(vec!["a", "b", "c"]));
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn a_skipped_item_that_arrives_late_is_delivered_once() {
        let t0 = t0();
        let mut r = Reorder::new(GAP, 16);
        assert_eq!(r.push(0, "a", t0), Ok(vec!["a"]));
        assert_eq!(r.push(3, "d", t0), Ok(vec![]));
        assert_eq!(r.handle_timeout(t0 + GAP), vec!["d"]);
        // 1 and 2 were skipped: they arrive late, and are delivered, once each.
        assert_eq!(r.push(2, "c", t0 + GAP), Ok(vec!["c"]));
        assert_eq!(r.push(2, "c again", t0 + GAP), Err("c again"));
        assert_eq!(r.push(1, "b", t0 + GAP), Ok(vec!["b"]));
        assert_eq!(r.push(1, "b again", t0 + GAP), Err("b again"));
        assert_eq!(r.push(3, "d again", t0 + GAP), Err("d again"));
        assert_eq!(r.push(4, "e", t0 + GAP), Ok(vec!["e"]));
    }

    #[test]
    fn late_and_repeated_items_are_returned_as_err() {
        let t0 = t0();
        let mut r = Reorder::new(GAP, 16);
        assert_eq!(r.push(0, "a", t0), Ok(vec!["a"]));
        assert_eq!(r.push(0, "a again", t0), Err("a again"));
        assert_eq!(r.push(3, "d", t0), Ok(vec![]));
        assert_eq!(r.push(3, "d again", t0), Err("d again"));
        assert_eq!(r.buffered(), 1);
    }

    #[test]
    fn gap_timeout_skips_one_gap_and_rearms_forward() {
        let t0 = t0();
        let mut r = Reorder::new(GAP, 16);
        r.push(2, 2, t0).unwrap();
        r.push(3, 3, t0).unwrap();
        r.push(5, 5, t0).unwrap();
        assert!(r.handle_timeout(t0 + GAP / 2).is_empty());
        let fired = t0 + GAP;
        assert_eq!(r.handle_timeout(fired), vec![2, 3]);
        // The next gap (4) gets its own full timeout, starting when the first fired.
        assert_eq!(r.poll_timeout(), Some(fired + GAP));
        assert!(r.poll_timeout() > Some(fired));
        assert_eq!(r.push(1, 1, fired), Ok(vec![1]), "a skipped number that comes late is delivered");
        assert_eq!(r.push(4, 4, fired), Ok(vec![4, 5]));
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn a_timer_fired_late_rearms_from_now_not_from_the_old_deadline() {
        let t0 = t0();
        let mut r = Reorder::new(GAP, 16);
        r.push(1, 1, t0).unwrap();
        r.push(3, 3, t0).unwrap();
        let late = t0 + 10 * GAP;
        assert_eq!(r.handle_timeout(late), vec![1]);
        assert_eq!(r.poll_timeout(), Some(late + GAP));
    }

    #[test]
    fn push_does_not_fire_a_due_timer() {
        let t0 = t0();
        let mut r = Reorder::new(GAP, 16);
        r.push(1, 1, t0).unwrap();
        // The timer is due but was not fired: 0 still fills the gap.
        assert_eq!(r.push(0, 0, t0 + 2 * GAP), Ok(vec![0, 1]));
        let mut r = Reorder::new(GAP, 16);
        r.push(1, 1, t0).unwrap();
        r.push(3, 3, t0 + 2 * GAP).unwrap();
        assert_eq!(r.poll_timeout(), Some(t0 + GAP), "buffering does not move a due timer");
        assert_eq!(r.handle_timeout(t0 + 2 * GAP), vec![1]);
        assert_eq!(r.push(0, 0, t0 + 2 * GAP), Ok(vec![0]), "skipped, then delivered late");
        assert_eq!(r.push(0, 0, t0 + 2 * GAP), Err(0));
    }

    #[test]
    fn filling_the_front_gap_restarts_the_timer_for_the_next() {
        let t0 = t0();
        let mut r = Reorder::new(GAP, 16);
        r.push(1, 1, t0).unwrap();
        r.push(3, 3, t0).unwrap();
        let later = t0 + GAP / 2;
        assert_eq!(r.push(0, 0, later), Ok(vec![0, 1]));
        assert_eq!(r.poll_timeout(), Some(later + GAP));
    }

    #[test]
    fn overflowing_the_buffer_skips_the_front_gap_at_once() {
        let t0 = t0();
        let mut r = Reorder::new(GAP, 2);
        r.push(2, 2, t0).unwrap();
        r.push(4, 4, t0).unwrap();
        assert_eq!(r.push(5, 5, t0 + GAP / 4), Ok(vec![2]));
        assert_eq!(r.buffered(), 2);
        assert_eq!(r.poll_timeout(), Some(t0 + GAP / 4 + GAP));
        assert_eq!(r.push(3, 3, t0 + GAP / 4), Ok(vec![3, 4, 5]));
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn zero_buffer_delivers_everything_at_once() {
        let t0 = t0();
        let mut r = Reorder::new(GAP, 0);
        assert_eq!(r.push(7, 7, t0), Ok(vec![7]));
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.push(3, 3, t0), Ok(vec![3]), "skipped, then delivered late");
        assert_eq!(r.push(3, 3, t0), Err(3));
    }

    #[test]
    fn extreme_sequence_numbers_and_timeouts_do_not_panic() {
        let t0 = t0();
        let mut r = Reorder::new(Duration::MAX, 4);
        assert_eq!(r.push(u64::MAX, 1, t0), Ok(vec![]));
        assert!(r.poll_timeout().is_some());
        assert_eq!(r.push(u64::MAX - 1, 2, t0), Ok(vec![]));
        let mut r2 = Reorder::new(Duration::ZERO, 4);
        r2.push(u64::MAX, 1, t0).unwrap();
        assert_eq!(r2.handle_timeout(t0), vec![1]);
        assert_eq!(r2.next_expected(), u128::from(u64::MAX) + 1);
        assert_eq!(r2.push(u64::MAX, 2, t0), Err(2));
        assert_eq!(r2.push(0, 3, t0), Ok(vec![3]), "skipped, then delivered late");
        assert_eq!(r2.push(0, 4, t0), Err(4));
    }

    proptest! {
        #[test]
        fn any_permutation_is_delivered_in_order(
            order in (1usize..60).prop_flat_map(|n| Just((0..n as u64).collect::<Vec<_>>()).prop_shuffle()),
        ) {
            let t0 = t0();
            let n = order.len();
            let mut r = Reorder::new(GAP, n);
            let mut delivered = Vec::new();
            for seq in order {
                delivered.extend(r.push(seq, seq, t0).unwrap());
            }
            prop_assert_eq!(delivered, (0..n as u64).collect::<Vec<_>>());
            prop_assert_eq!(r.buffered(), 0);
            prop_assert_eq!(r.poll_timeout(), None);
        }

        #[test]
        fn every_number_is_delivered_once_or_returned_late(
            max_buffered in 0usize..8,
            gap_ms in 1u64..100,
            ops in proptest::collection::vec((0u64..40, 0u64..60, any::<bool>()), 0..150),
        ) {
            let gap = Duration::from_millis(gap_ms);
            let mut now = t0();
            let mut r = Reorder::new(gap, max_buffered);
            let mut delivered: Vec<(u64, usize)> = Vec::new();
            let mut late: Vec<usize> = Vec::new();
            for (id, (seq, advance_ms, fire)) in ops.iter().copied().enumerate() {
                now += Duration::from_millis(advance_ms);
                let before = r.poll_timeout();
                match r.push(seq, (seq, id), now) {
                    Ok(items) => delivered.extend(items),
                    Err((_, id)) => late.push(id),
                }
                prop_assert!(r.buffered() <= max_buffered);
                prop_assert_eq!(r.poll_timeout().is_some(), r.buffered() > 0);
                if let Some(at) = r.poll_timeout() {
                    // Either untouched or armed from now: never newly set in the past.
                    prop_assert!(Some(at) == before || at > now, "gap timer armed in the past");
                }
                if fire {
                    delivered.extend(r.handle_timeout(now));
                    if let Some(at) = r.poll_timeout() {
                        prop_assert!(at > now, "gap timer re-armed in the past");
                    }
                }
            }
            // Drain: each firing delivers something and re-arms forward.
            while let Some(at) = r.poll_timeout() {
                let items = r.handle_timeout(at);
                prop_assert!(!items.is_empty());
                delivered.extend(items);
                if let Some(next) = r.poll_timeout() {
                    prop_assert!(next > at);
                }
            }
            let mut seqs: Vec<u64> = delivered.iter().map(|(seq, _)| *seq).collect();
            seqs.sort_unstable();
            let unique = seqs.len();
            seqs.dedup();
            prop_assert_eq!(seqs.len(), unique, "a number was delivered twice");
            let mut ids: Vec<usize> = delivered.iter().map(|(_, id)| *id).chain(late).collect();
            ids.sort_unstable();
            prop_assert_eq!(ids, (0..ops.len()).collect::<Vec<_>>());
        }
    }
}
