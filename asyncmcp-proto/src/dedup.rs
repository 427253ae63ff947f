//! A time-window set: "have I seen this id recently?". A thin layer over
//! [`ResponseCache`](crate::cache::ResponseCache) with no values, so the two share one
//! implementation of expiry and eviction.

use std::time::{Duration, Instant};

use crate::cache::ResponseCache;

/// Remembers each key for `window` after it was first seen, holding at most
/// `capacity` keys.
///
/// Best effort past its capacity: inserting into a full window evicts the oldest key
/// first, and an evicted key is reported as new if it comes back. A capacity of 0
/// remembers nothing (every key is new).
#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
pub(crate) struct DedupWindow<K: Ord + Clone> {
    seen: ResponseCache<K, ()>,
}

#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
impl<K: Ord + Clone> DedupWindow<K> {
    /// An empty window remembering keys for `window`, at most `capacity` at a time.
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Self { seen: ResponseCache::new(window, capacity) }
    }

    /// True if `key` is new (it is then remembered until `now + window`); false if it
    /// is already remembered (its window is NOT extended). Keys whose window ended at
    /// or before `now` are forgotten first, so the answer is exact for `now`.
    pub(crate) fn insert(&mut self, key: K, now: Instant) -> bool {
        self.seen.insert_new(key, (), now)
    }

    /// Whether `key` is remembered. Keys are only forgotten by
    /// [`expire`](Self::expire) and [`insert`](Self::insert).
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.seen.contains(key)
    }

    /// Forgets `key` at once; harmless if it is not remembered.
    pub(crate) fn remove(&mut self, key: &K) {
        self.seen.remove(key);
    }

    /// Forgets the keys whose window ended at or before `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.seen.expire(now);
    }

    /// When the earliest key's window ends.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.seen.poll_timeout()
    }

    /// How many keys are remembered.
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no key is remembered.
    pub(crate) fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[allow(clippy::disallowed_methods)] // tests need a base instant
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn second_insert_is_a_duplicate_and_does_not_extend_the_window() {
        let t0 = t0();
        let mut d = DedupWindow::new(10 * SEC, 16);
        assert!(d.insert("m1", t0));
        assert!(!d.insert("m1", t0 + 5 * SEC));
        assert!(d.contains(&"m1"));
        assert_eq!(d.poll_timeout(), Some(t0 + 10 * SEC));
        // The window ends exactly at t0 + 10 s: the key is new again.
        assert!(d.insert("m1", t0 + 10 * SEC));
        assert_eq!(d.poll_timeout(), Some(t0 + 20 * SEC));
    }

    #[test]
    fn expire_forgets_at_the_end_of_the_window() {
        let t0 = t0();
        let mut d = DedupWindow::new(10 * SEC, 16);
        d.insert(1, t0);
        d.insert(2, t0 + 3 * SEC);
        d.expire(t0 + 10 * SEC - Duration::from_nanos(1));
        assert_eq!(d.len(), 2);
        d.expire(t0 + 10 * SEC);
        assert!(!d.contains(&1));
        assert!(d.contains(&2));
        assert_eq!(d.poll_timeout(), Some(t0 + 13 * SEC));
        d.expire(t0 + 100 * SEC);
        assert!(d.is_empty());
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn remove_makes_a_key_new_again() {
        let t0 = t0();
        let mut d = DedupWindow::new(10 * SEC, 16);
        d.insert(7, t0);
        d.remove(&7);
        d.remove(&8);
        assert!(!d.contains(&7));
        assert!(d.insert(7, t0));
    }

    #[test]
    fn full_window_evicts_the_oldest() {
        let t0 = t0();
        let mut d = DedupWindow::new(100 * SEC, 2);
        d.insert("a", t0);
        d.insert("b", t0 + SEC);
        d.insert("c", t0 + 2 * SEC);
        assert_eq!(d.len(), 2);
        assert!(!d.contains(&"a"));
        assert!(d.insert("a", t0 + 3 * SEC), "an evicted key is new again");
        assert!(!d.contains(&"b"));
    }

    #[test]
    fn zero_capacity_reports_everything_new() {
        let t0 = t0();
        let mut d = DedupWindow::new(10 * SEC, 0);
        assert!(d.insert(1, t0));
        assert!(d.insert(1, t0));
        assert_eq!(d.len(), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert { key: u8, advance_ms: u64 },
        Expire { advance_ms: u64 },
        Remove { key: u8 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..24, 0u64..400).prop_map(|(key, advance_ms)| Op::Insert { key, advance_ms }),
            1 => (0u64..2_000).prop_map(|advance_ms| Op::Expire { advance_ms }),
            1 => (0u8..24).prop_map(|key| Op::Remove { key }),
        ]
    }

    proptest! {
        /// Against a naive reference model (a map of expiry instants, evicting the
        /// smallest `(expiry, insertion number)` by linear scan: of keys whose
        /// windows end at once, the one inserted first is the oldest).
        #[test]
        fn matches_a_naive_model(
            window_ms in 1u64..3_000,
            capacity in 0usize..12,
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let window = Duration::from_millis(window_ms);
            let mut now = t0();
            let mut d = DedupWindow::new(window, capacity);
            let mut model: BTreeMap<u8, (Instant, u64)> = BTreeMap::new();
            let mut inserted = 0u64;
            for op in ops {
                match op {
                    Op::Insert { key, advance_ms } => {
                        now += Duration::from_millis(advance_ms);
                        model.retain(|_, (until, _)| *until > now);
                        let remembered = model.contains_key(&key);
                        let new = d.insert(key, now);
                        // Inserted within the window and not evicted: a duplicate.
                        prop_assert_eq!(new, !remembered);
                        if new && capacity > 0 {
                            if model.len() >= capacity {
                                let oldest = model.iter().map(|(k, (until, n))| (*until, *n, *k)).min();
                                if let Some((_, _, k)) = oldest {
                                    model.remove(&k);
                                }
                            }
                            model.insert(key, (now + window, inserted));
                            inserted += 1;
                        }
                    }
                    Op::Expire { advance_ms } => {
                        now += Duration::from_millis(advance_ms);
                        d.expire(now);
                        model.retain(|_, (until, _)| *until > now);
                    }
                    Op::Remove { key } => {
                        d.remove(&key);
                        model.remove(&key);
                    }
                }
                prop_assert!(d.len() <= capacity);
                prop_assert_eq!(d.len(), model.len());
                for key in model.keys() {
                    prop_assert!(d.contains(key));
                }
                prop_assert_eq!(d.poll_timeout(), model.values().map(|(until, _)| *until).min());
            }
        }
    }
}
