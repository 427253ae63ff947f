//! Reassembly of messages too large for one SQS or SNS message, sent as fragments.
//!
//! Fragments arrive in any order, possibly more than once, possibly never. Each
//! group (one message of one peer) is held until it is complete, dropped when a limit
//! or the timeout says so, and remembered for a while after it ends so that late
//! copies of its fragments never start it again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::cache::ResponseCache;
use crate::codec::FragmentHeader;
use crate::timers::{Timers, deadline_after};

/// Bounds on fragments held awaiting reassembly.
///
/// Held bytes are counted as each fragment's payload plus its group id plus a fixed
/// 64 bytes of bookkeeping, so that even empty fragments use up the limits and memory
/// stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Most bytes held for one peer; also the largest message accepted.
    pub max_bytes_per_peer: usize,
    /// Most bytes held for all peers together.
    pub max_bytes_total: usize,
    /// How long after its first fragment a message may take to complete.
    pub timeout: Duration,
    /// Most fragments one message may be split into.
    pub max_fragments: u32,
}

impl Default for ReassemblyLimits {
    /// 4 MiB per peer, 32 MiB in total, 60 s, 1024 fragments.
    fn default() -> Self {
        Self {
            max_bytes_per_peer: 4 << 20,
            max_bytes_total: 32 << 20,
            timeout: Duration::from_secs(60),
            max_fragments: 1024,
        }
    }
}

/// Why a fragmented message was dropped. The peer (or the path to it) is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReassemblyError {
    /// The peer's fragments would exceed [`ReassemblyLimits::max_bytes_per_peer`].
    #[error(
        "fragments from this peer would hold {size} bytes awaiting reassembly, over the cap of {limit}: \
         the message is too large or the peer sends too many at once (check reassembly.max_bytes_per_peer)"
    )]
    PeerLimit {
        /// What the peer's fragments would hold with this one (payload, group ids and
        /// 64 bytes of bookkeeping per fragment).
        size: usize,
        /// The configured cap.
        limit: usize,
    },
    /// All peers' fragments would exceed [`ReassemblyLimits::max_bytes_total`].
    #[error(
        "fragments from all peers would hold {size} bytes awaiting reassembly, over the cap of {limit} \
         (check reassembly.max_bytes_total)"
    )]
    TotalLimit {
        /// What all fragments held would come to with this one.
        size: usize,
        /// The configured cap.
        limit: usize,
    },
    /// The message is split into more fragments than allowed.
    #[error("message is split into {count} fragments; at most {max} are accepted (check max_fragments)")]
    TooManyFragments {
        /// Fragments announced.
        count: u32,
        /// The configured limit.
        max: u32,
    },
    /// Fragments of one message disagree (different counts), or one names an index
    /// outside its count.
    #[error("inconsistent fragment: {detail}")]
    Inconsistent {
        /// What disagrees.
        detail: String,
    },
    /// The message did not complete within [`ReassemblyLimits::timeout`].
    #[error("only {received} of {count} fragments arrived before the reassembly timeout")]
    Expired {
        /// Fragments received.
        received: u32,
        /// Fragments announced.
        count: u32,
    },
}

/// What became of a pushed fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
pub(crate) enum Pushed {
    /// Held; more fragments are needed.
    Incomplete,
    /// The message is complete: its fragments concatenated in index order.
    Complete(Bytes),
    /// This fragment is already held, or its message completed recently.
    Duplicate,
    /// The message is dropped and all its held bytes freed (also returned for late
    /// fragments of a message dropped recently).
    Rejected(ReassemblyError),
}

/// Bookkeeping bytes charged per fragment on top of its payload and group id.
const FRAGMENT_OVERHEAD: usize = 64;

/// How many ended messages (completed or dropped) are remembered, per `Reassembly`.
const RECENT_GROUPS: usize = 4096;

/// Reassembles fragmented messages, keyed by peer and group.
#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
pub(crate) struct Reassembly<P: Ord + Clone> {
    limits: ReassemblyLimits,
    groups: BTreeMap<(P, String), Group>,
    held_per_peer: BTreeMap<P, usize>,
    held_total: usize,
    expiry: Timers<(P, String)>,
    /// Messages that ended within `timeout`: `None` if completed, else why dropped.
    recent: ResponseCache<(P, String), Option<ReassemblyError>>,
}

#[derive(Debug, Clone)]
struct Group {
    count: u32,
    parts: BTreeMap<u32, Bytes>,
    charged: usize,
}

#[cfg_attr(not(test), allow(dead_code))] // used by the state machines
impl<P: Ord + Clone> Reassembly<P> {
    /// An empty reassembler enforcing `limits`.
    pub(crate) fn new(limits: ReassemblyLimits) -> Self {
        Self {
            limits,
            groups: BTreeMap::new(),
            held_per_peer: BTreeMap::new(),
            held_total: 0,
            expiry: Timers::default(),
            recent: ResponseCache::new(limits.timeout, RECENT_GROUPS),
        }
    }

    /// Takes fragment `header.index` of `peer`'s message `header.group`.
    ///
    /// A message of one fragment completes at once. A fragment of a message that
    /// ended within the last `timeout` is a `Duplicate` (completed) or `Rejected` again
    /// with the same error (dropped), and never starts the message anew. This does not
    /// fire due expiry timers: the caller runs [`handle_timeout`](Self::handle_timeout)
    /// first so that expired messages are reported.
    pub(crate) fn push(&mut self, peer: P, header: &FragmentHeader, data: Bytes, now: Instant) -> Pushed {
        self.recent.expire(now);
        let key = (peer, header.group.clone());
        if let Some(outcome) = self.recent.get(&key) {
            return match outcome {
                None => Pushed::Duplicate,
                Some(error) => Pushed::Rejected(error.clone()),
            };
        }
        let FragmentHeader { index, count, .. } = *header;
        if count == 0 {
            let detail = format!("fragment {index} of a message of 0 fragments");
            return self.reject(key, ReassemblyError::Inconsistent { detail }, now);
        }
        if count > self.limits.max_fragments {
            return self.reject(key, ReassemblyError::TooManyFragments { count, max: self.limits.max_fragments }, now);
        }
        if index >= count {
            let detail = format!("fragment index {index} is not below the fragment count {count}");
            return self.reject(key, ReassemblyError::Inconsistent { detail }, now);
        }
        if let Some(group) = self.groups.get(&key) {
            if group.count != count {
                let detail = format!("fragment says {count} fragments; earlier ones said {}", group.count);
                return self.reject(key, ReassemblyError::Inconsistent { detail }, now);
            }
            if group.parts.contains_key(&index) {
                return Pushed::Duplicate;
            }
        }
        let charge = fragment_charge(&header.group, data.len());
        let held_by_peer = self.held_by(&key.0);
        let size = held_by_peer.saturating_add(charge);
        if size > self.limits.max_bytes_per_peer {
            return self.reject(key, ReassemblyError::PeerLimit { size, limit: self.limits.max_bytes_per_peer }, now);
        }
        let size = self.held_total.saturating_add(charge);
        if size > self.limits.max_bytes_total {
            return self.reject(key, ReassemblyError::TotalLimit { size, limit: self.limits.max_bytes_total }, now);
        }
        if count == 1 {
            self.recent.insert(key, None, now);
            return Pushed::Complete(data);
        }

        if !self.groups.contains_key(&key) {
            self.expiry.set(key.clone(), deadline_after(now, self.limits.timeout));
        }
        let group =
            self.groups.entry(key.clone()).or_insert_with(|| Group { count, parts: BTreeMap::new(), charged: 0 });
        group.parts.insert(index, data);
        group.charged += charge;
        let complete = group.parts.len() == count as usize;
        *self.held_per_peer.entry(key.0.clone()).or_insert(0) += charge;
        self.held_total += charge;
        if !complete {
            return Pushed::Incomplete;
        }
        let Some(group) = self.remove_group(&key) else {
            return Pushed::Incomplete;
        };
        self.recent.insert(key, None, now);
        let mut message = BytesMut::with_capacity(group.parts.values().map(Bytes::len).sum());
        for part in group.parts.values() {
            message.extend_from_slice(part);
        }
        Pushed::Complete(message.freeze())
    }

    /// Forgets that `peer`'s message `group` ended (completed or dropped), so that
    /// its fragments, delivered again, assemble it anew instead of being taken for
    /// duplicates (or rejected again). A message still being assembled is untouched.
    pub(crate) fn forget_ended(&mut self, key: &(P, String)) {
        self.recent.remove(key);
    }

    /// Drops the messages whose first fragment arrived `timeout` ago or earlier (at or
    /// before `now - timeout`), freeing their bytes, and returns them as
    /// `(peer, group, Expired)`. Late fragments of them are then rejected for another
    /// `timeout`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Vec<(P, String, ReassemblyError)> {
        self.recent.expire(now);
        let mut expired = Vec::new();
        while let Some(key) = self.expiry.pop_due(now) {
            let Some(group) = self.remove_group(&key) else {
                continue;
            };
            let received = u32::try_from(group.parts.len()).unwrap_or(u32::MAX);
            let error = ReassemblyError::Expired { received, count: group.count };
            self.recent.insert(key.clone(), Some(error.clone()), now);
            let (peer, group_id) = key;
            expired.push((peer, group_id, error));
        }
        expired
    }

    /// When the oldest incomplete message expires.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.next()
    }

    /// Bytes held for all peers (payload plus bookkeeping; see [`ReassemblyLimits`]).
    pub(crate) fn bytes_held(&self) -> usize {
        self.held_total
    }

    /// Bytes held for `peer`.
    pub(crate) fn held_by(&self, peer: &P) -> usize {
        self.held_per_peer.get(peer).copied().unwrap_or(0)
    }

    /// How many messages are incomplete.
    pub(crate) fn pending(&self) -> usize {
        self.groups.len()
    }

    /// Drops every incomplete message of `peer` (its session ended) without
    /// remembering them; returns how many were dropped.
    pub(crate) fn remove_peer(&mut self, peer: &P) -> usize {
        let keys: Vec<(P, String)> = self
            .groups
            .range((peer.clone(), String::new())..)
            .map(|(key, _)| key)
            .take_while(|(owner, _)| owner == peer)
            .cloned()
            .collect();
        for key in &keys {
            self.remove_group(key);
        }
        keys.len()
    }

    /// Drops `key`'s message (if held), remembers why, and says so.
    fn reject(&mut self, key: (P, String), error: ReassemblyError, now: Instant) -> Pushed {
        self.remove_group(&key);
        self.recent.insert(key, Some(error.clone()), now);
        Pushed::Rejected(error)
    }

    /// Removes a held message, its timer and its bytes.
    fn remove_group(&mut self, key: &(P, String)) -> Option<Group> {
        let group = self.groups.remove(key)?;
        self.expiry.cancel(key);
        self.held_total = self.held_total.saturating_sub(group.charged);
        if let Some(held) = self.held_per_peer.get_mut(&key.0) {
            *held = held.saturating_sub(group.charged);
            if *held == 0 {
                self.held_per_peer.remove(&key.0);
            }
        }
        Some(group)
    }
}

/// What holding one fragment counts against the limits.
pub(crate) fn fragment_charge(group: &str, payload: usize) -> usize {
    payload.saturating_add(group.len()).saturating_add(FRAGMENT_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[allow(clippy::disallowed_methods)] // tests need a base instant
    fn t0() -> Instant {
        Instant::now()
    }

    fn header(group: &str, index: u32, count: u32) -> FragmentHeader {
        FragmentHeader { group: group.to_owned(), index, count }
    }

    fn bytes(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    fn limits(per_peer: usize, total: usize) -> ReassemblyLimits {
        ReassemblyLimits { max_bytes_per_peer: per_peer, max_bytes_total: total, ..ReassemblyLimits::default() }
    }

    /// Splits `message` into `n` fragments (some may be empty).
    fn split(message: &[u8], n: usize) -> Vec<Bytes> {
        let size = message.len().div_ceil(n).max(1);
        (0..n)
            .map(|i| {
                let start = (i * size).min(message.len());
                let end = ((i + 1) * size).min(message.len());
                Bytes::copy_from_slice(&message[start..end])
            })
            .collect()
    }

    #[test]
    fn default_limits() {
        let l = ReassemblyLimits::default();
        assert_eq!(l.max_bytes_per_peer, 4 * 1024 * 1024);
        assert_eq!(l.max_bytes_total, 32 * 1024 * 1024);
        assert_eq!(l.timeout, Duration::from_secs(60));
        assert_eq!(l.max_fragments, 1024);
    }

    #[test]
    fn single_fragment_completes_at_once_and_is_remembered() {
        let t0 = t0();
        let mut r = Reassembly::new(ReassemblyLimits::default());
        assert_eq!(r.push("p", &header("g", 0, 1), bytes("whole"), t0), Pushed::Complete(bytes("whole")));
        assert_eq!(r.push("p", &header("g", 0, 1), bytes("whole"), t0 + SEC), Pushed::Duplicate);
        assert_eq!(r.bytes_held(), 0);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn out_of_order_fragments_complete_in_index_order() {
        let t0 = t0();
        let mut r = Reassembly::new(ReassemblyLimits::default());
        assert_eq!(r.push(1, &header("g", 2, 3), bytes("C"), t0), Pushed::Incomplete);
        assert_eq!(r.poll_timeout(), Some(t0 + 60 * SEC));
        assert_eq!(r.push(1, &header("g", 0, 3), bytes("AA"), t0 + SEC), Pushed::Incomplete);
        assert_eq!(r.poll_timeout(), Some(t0 + 60 * SEC), "the timeout runs from the first fragment");
        assert_eq!(r.bytes_held(), fragment_charge("g", 1) + fragment_charge("g", 2));
        assert_eq!(r.held_by(&1), r.bytes_held());
        assert_eq!(r.push(1, &header("g", 0, 3), bytes("AA"), t0 + SEC), Pushed::Duplicate);
        assert_eq!(r.push(1, &header("g", 1, 3), bytes("B"), t0 + SEC), Pushed::Complete(bytes("AABC")));
        assert_eq!(r.bytes_held(), 0);
        assert_eq!(r.held_by(&1), 0);
        assert_eq!(r.pending(), 0);
        assert_eq!(r.poll_timeout(), None);
        // Late copies after completion never complete again.
        assert_eq!(r.push(1, &header("g", 1, 3), bytes("B"), t0 + 2 * SEC), Pushed::Duplicate);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn groups_are_per_peer() {
        let t0 = t0();
        let mut r = Reassembly::new(ReassemblyLimits::default());
        assert_eq!(r.push("a", &header("g", 0, 2), bytes("a0"), t0), Pushed::Incomplete);
        assert_eq!(r.push("b", &header("g", 1, 2), bytes("b1"), t0), Pushed::Incomplete);
        assert_eq!(r.push("b", &header("g", 0, 2), bytes("b0"), t0), Pushed::Complete(bytes("b0b1")));
        assert_eq!(r.pending(), 1);
        assert_eq!(r.held_by(&"b"), 0);
        assert_eq!(r.push("a", &header("g", 1, 2), bytes("a1"), t0), Pushed::Complete(bytes("a0a1")));
    }

    #[test]
    fn inconsistent_fragments_drop_the_group() {
        let t0 = t0();
        let mut r = Reassembly::new(ReassemblyLimits::default());
        r.push(1, &header("g", 0, 3), bytes("x"), t0);
        let Pushed::Rejected(ReassemblyError::Inconsistent { detail }) = r.push(1, &header("g", 1, 4), bytes("y"), t0)
        else {
            panic!("count change accepted");
        };
        assert!(detail.contains('4') && detail.contains('3'), "{detail}");
        assert_eq!(r.bytes_held(), 0);
        assert_eq!(r.pending(), 0);
        assert_eq!(r.poll_timeout(), None);
        // Remembered: later fragments are rejected too, without being held.
        assert!(matches!(r.push(1, &header("g", 2, 3), bytes("z"), t0), Pushed::Rejected(_)));
        assert_eq!(r.bytes_held(), 0);

        assert!(matches!(
            r.push(1, &header("h", 3, 3), bytes("z"), t0),
            Pushed::Rejected(ReassemblyError::Inconsistent { .. })
        ));
        assert!(matches!(
            r.push(1, &header("i", 0, 0), bytes("z"), t0),
            Pushed::Rejected(ReassemblyError::Inconsistent { .. })
        ));
        assert!(matches!(
            r.push(1, &header("j", u32::MAX, u32::MAX), bytes("z"), t0),
            Pushed::Rejected(ReassemblyError::TooManyFragments { count: u32::MAX, max: 1024 })
        ));
    }

    #[test]
    fn too_many_fragments_is_rejected() {
        let t0 = t0();
        let mut r = Reassembly::new(ReassemblyLimits { max_fragments: 4, ..ReassemblyLimits::default() });
        assert_eq!(r.push(1, &header("ok", 0, 4), bytes("x"), t0), Pushed::Incomplete);
        assert_eq!(
            r.push(1, &header("big", 0, 5), bytes("x"), t0),
            Pushed::Rejected(ReassemblyError::TooManyFragments { count: 5, max: 4 })
        );
    }

    #[test]
    fn per_peer_limit_drops_the_offending_group_only() {
        let t0 = t0();
        let per_peer = 3 * fragment_charge("g", 10);
        let mut r = Reassembly::new(limits(per_peer, usize::MAX));
        let ten = Bytes::from(vec![b'x'; 10]);
        assert_eq!(r.push(1, &header("g", 0, 9), ten.clone(), t0), Pushed::Incomplete);
        assert_eq!(r.push(1, &header("h", 0, 9), ten.clone(), t0), Pushed::Incomplete);
        assert_eq!(r.push(1, &header("g", 1, 9), ten.clone(), t0), Pushed::Incomplete);
        assert_eq!(r.push(2, &header("g", 0, 9), ten.clone(), t0), Pushed::Incomplete, "other peers unaffected");
        assert_eq!(
            r.push(1, &header("g", 2, 9), ten.clone(), t0),
            Pushed::Rejected(ReassemblyError::PeerLimit { size: 4 * fragment_charge("g", 10), limit: per_peer })
        );
        assert_eq!(r.held_by(&1), fragment_charge("h", 10));
        assert_eq!(r.pending(), 2);
        // A single-fragment message larger than the per-peer limit is refused too.
        let huge = Bytes::from(vec![b'x'; per_peer]);
        assert!(matches!(r.push(3, &header("s", 0, 1), huge, t0), Pushed::Rejected(ReassemblyError::PeerLimit { .. })));
    }

    #[test]
    fn total_limit_is_never_exceeded() {
        let t0 = t0();
        let total = 2 * fragment_charge("g", 10);
        let mut r = Reassembly::new(limits(usize::MAX, total));
        let ten = Bytes::from(vec![b'x'; 10]);
        assert_eq!(r.push(1, &header("g", 0, 5), ten.clone(), t0), Pushed::Incomplete);
        assert_eq!(r.push(2, &header("g", 0, 5), ten.clone(), t0), Pushed::Incomplete);
        assert_eq!(
            r.push(3, &header("g", 0, 5), ten.clone(), t0),
            Pushed::Rejected(ReassemblyError::TotalLimit { size: 3 * fragment_charge("g", 10), limit: total })
        );
        assert_eq!(r.bytes_held(), total);
        // Empty fragments cost bookkeeping bytes too, so they cannot pile up.
        assert!(matches!(
            r.push(4, &header("e", 0, 5), Bytes::new(), t0),
            Pushed::Rejected(ReassemblyError::TotalLimit { .. })
        ));
    }

    #[test]
    fn expiry_frees_bytes_and_reports_progress() {
        let t0 = t0();
        let mut r = Reassembly::new(ReassemblyLimits::default());
        r.push("p", &header("g", 0, 3), bytes("a"), t0);
        r.push("p", &header("g", 2, 3), bytes("c"), t0 + 10 * SEC);
        r.push("q", &header("h", 0, 2), bytes("x"), t0 + 30 * SEC);
        assert!(r.handle_timeout(t0 + 59 * SEC).is_empty());
        let fired = t0 + 60 * SEC;
        assert_eq!(
            r.handle_timeout(fired),
            vec![("p", "g".to_owned(), ReassemblyError::Expired { received: 2, count: 3 })]
        );
        assert_eq!(r.bytes_held(), fragment_charge("h", 1));
        assert_eq!(r.held_by(&"p"), 0);
        assert_eq!(r.poll_timeout(), Some(t0 + 90 * SEC), "the deadline moves on after firing");
        // A late fragment of the expired message is refused, not held.
        assert_eq!(
            r.push("p", &header("g", 1, 3), bytes("b"), fired),
            Pushed::Rejected(ReassemblyError::Expired { received: 2, count: 3 })
        );
        assert_eq!(r.pending(), 1);
        let rest = r.handle_timeout(t0 + 1000 * SEC);
        assert_eq!(rest.len(), 1);
        assert_eq!(r.bytes_held(), 0);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn an_ended_group_id_is_forgotten_after_the_timeout() {
        let t0 = t0();
        let mut r = Reassembly::new(ReassemblyLimits::default());
        assert_eq!(r.push(1, &header("g", 0, 1), bytes("one"), t0), Pushed::Complete(bytes("one")));
        assert_eq!(r.push(1, &header("g", 0, 1), bytes("one"), t0 + 59 * SEC), Pushed::Duplicate);
        assert_eq!(r.push(1, &header("g", 0, 1), bytes("two"), t0 + 60 * SEC), Pushed::Complete(bytes("two")));
    }

    #[test]
    fn remove_peer_frees_its_groups_only() {
        let t0 = t0();
        let mut r = Reassembly::new(ReassemblyLimits::default());
        r.push(1, &header("a", 0, 2), bytes("x"), t0);
        r.push(1, &header("b", 0, 2), bytes("x"), t0);
        r.push(2, &header("a", 0, 2), bytes("x"), t0);
        r.push(0, &header("z", 0, 2), bytes("x"), t0);
        assert_eq!(r.remove_peer(&1), 2);
        assert_eq!(r.remove_peer(&7), 0);
        assert_eq!(r.pending(), 2);
        assert_eq!(r.bytes_held(), 2 * fragment_charge("a", 1));
        assert_eq!(r.held_by(&1), 0);
        // Not remembered: the peer may start the group again.
        assert_eq!(r.push(1, &header("a", 1, 2), bytes("y"), t0), Pushed::Incomplete);
    }

    #[test]
    fn errors_explain_themselves() {
        let text = ReassemblyError::PeerLimit { size: 12_345, limit: 10_000 }.to_string();
        assert!(text.contains("12345") && text.contains("10000") && text.contains("max_bytes_per_peer"), "{text}");
        let text = ReassemblyError::TotalLimit { size: 54_321, limit: 50_000 }.to_string();
        assert!(text.contains("54321") && text.contains("50000") && text.contains("max_bytes_total"), "{text}");
        let text = ReassemblyError::Expired { received: 2, count: 5 }.to_string();
        assert!(text.contains("2 of 5"), "{text}");
    }

    fn message_and_pushes() -> impl Strategy<Value = (Vec<u8>, usize, Vec<usize>)> {
        (proptest::collection::vec(any::<u8>(), 0..3000), 1usize..=50).prop_flat_map(|(message, n)| {
            let duplicates = proptest::collection::vec(0..n, 0..2 * n);
            (
                Just(message),
                Just(n),
                duplicates.prop_flat_map(move |dups| {
                    let mut order: Vec<usize> = (0..n).collect();
                    order.extend(dups);
                    Just(order).prop_shuffle()
                }),
            )
        })
    }

    #[derive(Debug, Clone)]
    struct Arrival {
        peer: u8,
        group: u8,
        index: u32,
        count: u32,
        len: usize,
        advance_ms: u64,
    }

    fn arrival() -> impl Strategy<Value = Arrival> {
        (0u8..3, 0u8..4, 0u32..6, 0u32..6, 0usize..300, 0u64..3_000).prop_map(
            |(peer, group, index, count, len, advance_ms)| Arrival { peer, group, index, count, len, advance_ms },
        )
    }

    proptest! {
        #[test]
        fn any_order_with_duplicates_completes_exactly_once((message, n, order) in message_and_pushes()) {
            let t0 = t0();
            let fragments = split(&message, n);
            let count = u32::try_from(n).unwrap();
            let mut r = Reassembly::new(ReassemblyLimits::default());
            let mut seen = vec![false; n];
            let mut completes = 0;
            for index in order {
                let first_time = !seen[index];
                seen[index] = true;
                let header = header("0123456789abcdef0123456789abcdef", u32::try_from(index).unwrap(), count);
                match r.push("peer", &header, fragments[index].clone(), t0) {
                    Pushed::Complete(whole) => {
                        completes += 1;
                        prop_assert!(first_time);
                        prop_assert!(seen.iter().all(|s| *s));
                        prop_assert_eq!(&whole[..], &message[..]);
                    }
                    Pushed::Incomplete => prop_assert!(first_time),
                    Pushed::Duplicate => prop_assert!(!first_time),
                    Pushed::Rejected(error) => prop_assert!(false, "rejected: {error}"),
                }
            }
            prop_assert_eq!(completes, 1);
            prop_assert_eq!(r.bytes_held(), 0);
            prop_assert_eq!(r.poll_timeout(), None);
        }

        #[test]
        fn limits_hold_and_expiry_frees_everything(
            per_peer in 0usize..2_000,
            total in 0usize..3_000,
            arrivals in proptest::collection::vec(arrival(), 0..120),
        ) {
            let timeout = Duration::from_secs(10);
            let mut now = t0();
            let mut r = Reassembly::new(ReassemblyLimits {
                max_bytes_per_peer: per_peer,
                max_bytes_total: total,
                timeout,
                max_fragments: 4,
            });
            for a in arrivals {
                now += Duration::from_millis(a.advance_ms);
                for (_, _, error) in r.handle_timeout(now) {
                    let is_expired = matches!(error, ReassemblyError::Expired { .. });
                    prop_assert!(is_expired);
                }
                if let Some(at) = r.poll_timeout() {
                    prop_assert!(at > now);
                }
                let header = header(&format!("group-{}", a.group), a.index, a.count);
                let data = Bytes::from(vec![a.peer; a.len]);
                let _ = r.push(a.peer, &header, data, now);
                prop_assert!(r.bytes_held() <= total);
                let mut sum = 0;
                for peer in 0..3u8 {
                    prop_assert!(r.held_by(&peer) <= per_peer);
                    sum += r.held_by(&peer);
                }
                prop_assert_eq!(sum, r.bytes_held());
                prop_assert_eq!(r.poll_timeout().is_some(), r.pending() > 0);
            }
            let _ = r.handle_timeout(now + timeout);
            prop_assert_eq!(r.bytes_held(), 0);
            prop_assert_eq!(r.pending(), 0);
            prop_assert_eq!(r.poll_timeout(), None);
        }
    }
}
