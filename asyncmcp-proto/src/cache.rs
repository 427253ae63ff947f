//! A bounded, time-windowed map: the response cache a server answers redelivered
//! requests from. [`DedupWindow`](crate::dedup::DedupWindow) is built on it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::timers::{Timers, deadline_after};

/// Remembers `key -> value` for `window` after each insert, holding at most
/// `capacity` entries.
///
/// When full, an insert first evicts the oldest entry (the one whose window ends
/// first), so the cache is best effort past its capacity. A capacity of 0 remembers
/// nothing. All operations are O(log n) (`insert` and `expire` amortized: each entry
/// expires once).
#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
pub(crate) struct ResponseCache<K: Ord + Clone, V: Clone> {
    window: Duration,
    capacity: usize,
    entries: BTreeMap<K, V>,
    expiry: Timers<K>,
}

#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
impl<K: Ord + Clone, V: Clone> ResponseCache<K, V> {
    /// An empty cache keeping entries for `window`, at most `capacity` at a time.
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Self { window, capacity, entries: BTreeMap::new(), expiry: Timers::default() }
    }

    /// Stores `value` under `key` until `now + window`, replacing (and restarting the
    /// window of) any entry for `key`. Entries whose window ended at or before `now`
    /// are forgotten first; if the cache is still full, the oldest entry is evicted.
    pub(crate) fn insert(&mut self, key: K, value: V, now: Instant) {
        self.expire(now);
        if self.capacity == 0 {
            return;
        }
        if !self.entries.contains_key(&key) {
            while self.entries.len() >= self.capacity {
                if !self.evict_oldest() {
                    break;
                }
            }
        }
        self.expiry.set(key.clone(), deadline_after(now, self.window));
        self.entries.insert(key, value);
    }

    /// The value under `key`. Entries are only forgotten by [`expire`](Self::expire)
    /// and [`insert`](Self::insert), so call `expire(now)` first for an exact window.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key)
    }

    /// Whether `key` is remembered (same caveat as [`get`](Self::get)).
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// Forgets `key` at once; harmless if it is not remembered.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.expiry.cancel(key);
        self.entries.remove(key)
    }

    /// Forgets every entry whose window ended at or before `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(key) = self.expiry.pop_due(now) {
            self.entries.remove(&key);
        }
    }

    /// When the earliest entry's window ends.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.next()
    }

    /// How many entries are remembered.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The configured capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Evicts the entry whose window ends first; false if there is none.
    fn evict_oldest(&mut self) -> bool {
        let Some(first) = self.expiry.next() else {
            return false;
        };
        match self.expiry.pop_due(first) {
            Some(key) => {
                self.entries.remove(&key);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // tests need a base instant
    fn t0() -> Instant {
        Instant::now()
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn get_returns_inserted_value_until_the_window_ends() {
        let t0 = t0();
        let mut c = ResponseCache::new(10 * SEC, 8);
        c.insert("a", 1, t0);
        assert_eq!(c.get(&"a"), Some(&1));
        assert_eq!(c.poll_timeout(), Some(t0 + 10 * SEC));
        c.expire(t0 + 9 * SEC);
        assert_eq!(c.get(&"a"), Some(&1));
        c.expire(t0 + 10 * SEC);
        assert_eq!(c.get(&"a"), None);
        assert!(c.is_empty());
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn insert_replaces_and_restarts_the_window() {
        let t0 = t0();
        let mut c = ResponseCache::new(10 * SEC, 8);
        c.insert("a", 1, t0);
        c.insert("a", 2, t0 + 5 * SEC);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&"a"), Some(&2));
        assert_eq!(c.poll_timeout(), Some(t0 + 15 * SEC));
        c.expire(t0 + 12 * SEC);
        assert_eq!(c.get(&"a"), Some(&2));
    }

    #[test]
    fn full_cache_evicts_the_oldest_entry() {
        let t0 = t0();
        let mut c = ResponseCache::new(100 * SEC, 3);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            c.insert(key, i, t0 + SEC * u32::try_from(i).unwrap());
        }
        c.insert("d", 3, t0 + 3 * SEC);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&"a"), None);
        assert!(c.contains(&"b") && c.contains(&"c") && c.contains(&"d"));
        // Replacing an existing key evicts nothing.
        c.insert("b", 9, t0 + 4 * SEC);
        assert_eq!(c.len(), 3);
        assert!(c.contains(&"c"));
        // Now "c" is the oldest.
        c.insert("e", 4, t0 + 5 * SEC);
        assert!(!c.contains(&"c"));
        assert_eq!(c.get(&"b"), Some(&9));
    }

    #[test]
    fn insert_expires_before_evicting() {
        let t0 = t0();
        let mut c = ResponseCache::new(10 * SEC, 2);
        c.insert(1, (), t0);
        c.insert(2, (), t0 + 5 * SEC);
        // At t0 + 10 s entry 1 is already gone, so 2 survives.
        c.insert(3, (), t0 + 10 * SEC);
        assert!(!c.contains(&1));
        assert!(c.contains(&2) && c.contains(&3));
    }

    #[test]
    fn remove_forgets_and_cancels_the_timer() {
        let t0 = t0();
        let mut c = ResponseCache::new(10 * SEC, 4);
        c.insert(1, "x", t0);
        c.insert(2, "y", t0 + SEC);
        assert_eq!(c.remove(&1), Some("x"));
        assert_eq!(c.remove(&1), None);
        assert_eq!(c.poll_timeout(), Some(t0 + 11 * SEC));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn zero_capacity_remembers_nothing_and_huge_window_does_not_panic() {
        let t0 = t0();
        let mut c = ResponseCache::new(SEC, 0);
        c.insert(1, 1, t0);
        assert_eq!(c.len(), 0);
        assert_eq!(c.capacity(), 0);
        assert_eq!(c.poll_timeout(), None);
        let mut huge = ResponseCache::new(Duration::MAX, 1);
        huge.insert(1, 1, t0);
        huge.expire(t0 + 1_000_000 * SEC);
        assert_eq!(huge.get(&1), Some(&1));
    }
}
