//! A deadline index: the earliest deadline in O(log n), keyed timers that can be
//! re-armed or cancelled.

use std::collections::{BTreeMap, BTreeSet};
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
#[derive(Debug, Clone)]
pub(crate) struct Timers<K: Ord + Clone> {
    by_deadline: BTreeSet<(Instant, K)>,
    by_key: BTreeMap<K, Instant>,
}

impl<K: Ord + Clone> Default for Timers<K> {
    fn default() -> Self {
        Self { by_deadline: BTreeSet::new(), by_key: BTreeMap::new() }
    }
}

impl<K: Ord + Clone> Timers<K> {
    /// Arms `key` for `at`, replacing any earlier deadline of the same key.
    pub(crate) fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key.clone(), at) {
            self.by_deadline.remove(&(old, key.clone()));
        }
        self.by_deadline.insert((at, key));
    }

    /// Disarms `key`; harmless if it is not armed.
    pub(crate) fn cancel(&mut self, key: &K) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_deadline.remove(&(old, key.clone()));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest key whose deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let (at, _) = self.by_deadline.first()?;
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
        self.by_key.get(key).copied()
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
