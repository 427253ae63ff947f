//! A bounded, time-windowed map: the response cache a server answers redelivered
//! requests from. [`DedupWindow`](crate::dedup::DedupWindow) is built on it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::timers::deadline_after;

/// Remembers `key -> value` for `window` after each insert, holding at most
/// `capacity` entries.
///
/// When full, an insert first evicts the oldest entry (the one whose window ends
/// first), so the cache is best effort past its capacity. A capacity of 0 remembers
/// nothing. All operations are O(log n) (`insert` and `expire` amortized: each entry
/// expires once).
///
/// Every entry lives for the same `window`, so windows end in insertion order: a
/// FIFO of `(deadline, stamp, key)` replaces a sorted timer index (profiled: the
/// timer index's two extra B-trees of keys cost more than the map itself). Each
/// insert takes a fresh stamp; a FIFO entry whose stamp is no longer its key's is
/// stale (the key was removed or inserted again) and is skipped. The front of the
/// FIFO is always live, so [`poll_timeout`](Self::poll_timeout) is exact. If `now`
/// ever went backwards, a deadline is raised to the one before it: an entry may then
/// live longer than `window`, never shorter.
#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
pub(crate) struct ResponseCache<K: Ord + Clone, V: Clone> {
    window: Duration,
    capacity: usize,
    /// key -> (value, stamp of its live FIFO entry)
    entries: BTreeMap<K, (V, u64)>,
    order: VecDeque<(Instant, u64, K)>,
    next_stamp: u64,
}

#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
impl<K: Ord + Clone, V: Clone> ResponseCache<K, V> {
    /// An empty cache keeping entries for `window`, at most `capacity` at a time.
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Self { window, capacity, entries: BTreeMap::new(), order: VecDeque::new(), next_stamp: 0 }
    }

    /// Inserts or replaces `key` (restarting its window), after dropping expired
    /// entries and, if full, the oldest one.
    pub(crate) fn insert(&mut self, key: K, value: V, now: Instant) {
        self.expire(now);
        if self.capacity == 0 {
            return;
        }
        let stamp = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        let mut at = deadline_after(now, self.window);
        if let Some((last, _, _)) = self.order.back() {
            at = at.max(*last);
        }
        if let Some(entry) = self.entries.get_mut(&key) {
            *entry = (value, stamp);
            self.order.push_back((at, stamp, key));
            self.skip_stale();
            self.compact();
            return;
        }
        self.insert_absent(key, value, at, stamp);
    }

    /// Inserts `key` only if it is not remembered (after dropping expired entries);
    /// true if it was inserted. One lookup fewer than `contains` then `insert`.
    pub(crate) fn insert_new(&mut self, key: K, value: V, now: Instant) -> bool {
        self.expire(now);
        if self.entries.contains_key(&key) {
            return false;
        }
        if self.capacity == 0 {
            return true;
        }
        let stamp = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        let mut at = deadline_after(now, self.window);
        if let Some((last, _, _)) = self.order.back() {
            at = at.max(*last);
        }
        self.insert_absent(key, value, at, stamp);
        true
    }

    /// Inserts a key known to be absent, evicting the oldest entries while full.
    fn insert_absent(&mut self, key: K, value: V, at: Instant, stamp: u64) {
        while self.entries.len() >= self.capacity {
            if !self.evict_oldest() {
                break;
            }
        }
        self.order.push_back((at, stamp, key.clone()));
        self.entries.insert(key, (value, stamp));
        self.compact();
    }

    /// The value remembered for `key`.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(v, _)| v)
    }

    /// Whether `key` is remembered.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// Forgets `key`, returning its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (value, _) = self.entries.remove(key)?;
        self.skip_stale();
        self.compact();
        Some(value)
    }

    /// Drops every entry whose window ended by `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        while self.order.front().is_some_and(|(at, _, _)| *at <= now) {
            self.pop_front();
        }
    }

    /// When the next entry expires: the deadline a driver must wake for.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.order.front().map(|(at, _, _)| *at)
    }

    /// How many entries are remembered.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most entries held at once.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn evict_oldest(&mut self) -> bool {
        if self.order.is_empty() {
            return false;
        }
        self.pop_front();
        true
    }

    /// Removes the front FIFO entry (live, by the invariant) and its key, then any
    /// stale entries behind it.
    fn pop_front(&mut self) {
        if let Some((_, stamp, key)) = self.order.pop_front()
            && self.entries.get(&key).is_some_and(|(_, s)| *s == stamp)
        {
            self.entries.remove(&key);
        }
        self.skip_stale();
    }

    /// Keeps the front of the FIFO live.
    fn skip_stale(&mut self) {
        while let Some((_, stamp, key)) = self.order.front() {
            if self.entries.get(key).is_some_and(|(_, s)| s == stamp) {
                return;
            }
            self.order.pop_front();
        }
    }

    /// Drops stale entries from the middle of the FIFO once they outnumber the live
    /// ones, so removals and re-inserts cannot grow it without bound (amortized O(1)
    /// per operation).
    fn compact(&mut self) {
        if self.order.len() <= 2 * self.entries.len() + 16 {
            return;
        }
        let entries = &self.entries;
        self.order.retain(|(_, stamp, key)| entries.get(key).is_some_and(|(_, s)| s == stamp));
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
    fn removals_and_reinserts_do_not_grow_the_fifo() {
        let t0 = t0();
        let mut c = ResponseCache::new(100 * SEC, 8);
        for i in 0..10_000u32 {
            c.insert(i % 3, i, t0);
            if i % 2 == 0 {
                c.remove(&(i % 3));
            }
        }
        assert!(c.order.len() <= 2 * c.len() + 16, "{} FIFO entries for {} keys", c.order.len(), c.len());
        assert_eq!(c.poll_timeout(), Some(t0 + 100 * SEC));
        c.expire(t0 + 100 * SEC);
        assert!(c.is_empty());
        assert_eq!(c.poll_timeout(), None);
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
