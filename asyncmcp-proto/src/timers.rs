//! A deadline index: the earliest deadline in O(log n), keyed timers that can be
//! re-armed or cancelled.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `now + after`, saturating instead of panicking when the sum is not representable
/// (a huge configured timeout then means "as late as the platform can express").
pub(crate) fn deadline_after(now: Instant, after: Duration) -> Instant {
    if let Some(at) = now.checked_add(after) {
        return at;
    }
    // Binary descent towards the largest representable instant: once `at + 2 * step`
    // has overflowed, each step size succeeds at most once, so this takes at most
    // about 2 * 96 rounds (a `Duration` has 96 significant bits).
    let mut at = now;
    let mut step = after;
    while !step.is_zero() {
        match at.checked_add(step) {
            Some(later) => at = later,
            None => step /= 2,
        }
    }
    at
}

/// Timers by key; each key has at most one deadline.
///
/// The deadline index is keyed by `(deadline, stamp)`, a fresh stamp per `set`, not
/// by `(deadline, key)`: ordering it then compares integers instead of keys (often
/// strings; the profile showed `memcmp` on top), and each `set` clones the key once.
/// Keys due at the same instant fire in the order they were set.
#[derive(Debug, Clone)]
pub(crate) struct Timers<K: Ord + Clone> {
    by_deadline: BTreeMap<(Instant, u64), K>,
    by_key: BTreeMap<K, (Instant, u64)>,
    next_stamp: u64,
}

impl<K: Ord + Clone> Default for Timers<K> {
    fn default() -> Self {
        Self { by_deadline: BTreeMap::new(), by_key: BTreeMap::new(), next_stamp: 0 }
    }
}

impl<K: Ord + Clone> Timers<K> {
    /// Arms `key` for `at`, replacing any earlier deadline of the same key.
    pub(crate) fn set(&mut self, key: K, at: Instant) {
        let stamp = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        if let Some(slot) = self.by_key.get_mut(&key) {
            let old = std::mem::replace(slot, (at, stamp));
            if let Some(key) = self.by_deadline.remove(&old) {
                self.by_deadline.insert((at, stamp), key);
            }
            return;
        }
        self.by_key.insert(key.clone(), (at, stamp));
        self.by_deadline.insert((at, stamp), key);
    }

    /// Disarms `key`; harmless if it is not armed.
    pub(crate) fn cancel(&mut self, key: &K) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_deadline.remove(&old);
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_deadline.first_key_value().map(|((at, _), _)| *at)
    }

    /// Removes and returns the earliest key whose deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let ((at, _), _) = self.by_deadline.first_key_value()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.by_deadline.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }

    /// The deadline of `key`, if armed.
    #[cfg_attr(not(test), allow(dead_code))] // used by the state machines
    pub(crate) fn get(&self, key: &K) -> Option<Instant> {
        self.by_key.get(key).map(|(at, _)| *at)
    }

    /// How many timers are armed.
    #[cfg_attr(not(test), allow(dead_code))] // used by the state machines
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    #[allow(clippy::disallowed_methods)] // tests need a base instant
    fn earliest_first_rearm_and_cancel() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set("a", t0 + Duration::from_secs(5));
        t.set("b", t0 + Duration::from_secs(2));
        t.set("c", t0 + Duration::from_secs(9));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(2)));
        t.set("b", t0 + Duration::from_secs(7));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(5)));
        t.cancel(&"a");
        t.cancel(&"zzz");
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(7)));
        assert_eq!(t.pop_due(t0 + Duration::from_secs(6)), None);
        assert_eq!(t.pop_due(t0 + Duration::from_secs(8)), Some("b"));
        assert_eq!(t.get(&"c"), Some(t0 + Duration::from_secs(9)));
        assert_eq!(t.len(), 1);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // tests need a base instant
    fn deadline_after_adds_or_saturates() {
        let t0 = Instant::now();
        assert_eq!(deadline_after(t0, Duration::from_secs(3)), t0 + Duration::from_secs(3));
        assert_eq!(deadline_after(t0, Duration::ZERO), t0);
        let far = deadline_after(t0, Duration::MAX);
        assert!(far > t0 + Duration::from_secs(1_000_000_000));
        // Saturated: nothing representable lies a whole nanosecond further.
        assert!(far.checked_add(Duration::from_nanos(1)).is_none());
        assert_eq!(deadline_after(far, Duration::MAX), far);
    }
}
