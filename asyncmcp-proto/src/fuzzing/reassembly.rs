//! Fuzz body of fragment reassembly, checked against a model of what it must hold.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;

use crate::codec::FragmentHeader;
use crate::reassembly::{Pushed, Reassembly, ReassemblyError, ReassemblyLimits};

/// Most operations one input runs.
const MAX_OPS: usize = 256;

/// Bookkeeping bytes charged per held fragment, as [`ReassemblyLimits`] documents.
const OVERHEAD: usize = 64;

#[derive(Debug, Arbitrary)]
struct Setup {
    per_peer: u16,
    total: u16,
    timeout_ms: u16,
    max_fragments: u8,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Push { peer: u8, group: u8, index: u8, count: u8, len: u8 },
    Advance { millis: u16 },
    ToDeadline,
    Timeout,
    RemovePeer { peer: u8 },
}

type Key = (u8, String);

/// How a message ended, and when (it is remembered for `timeout` after that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Completed,
    Dropped,
}

#[derive(Debug, Default)]
struct Model {
    held: BTreeMap<Key, (u32, BTreeMap<u32, Bytes>)>,
    ended: BTreeMap<Key, (Instant, Ended)>,
}

/// Drives a `Reassembly` with pushes (in any order, duplicated, inconsistent),
/// time steps, expiry and peer removal chosen by `data`.
///
/// # Panics
/// When a message completes with other bytes than its fragments in index order, or
/// twice while it is remembered; when a duplicate or a late fragment restarts a
/// message; when an expiry is reported for nothing held; when the held bytes differ
/// from the fragments held or pass a limit; or when `poll_timeout` does not move past
/// `now` after `handle_timeout(now)`.
pub fn reassembly(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else { return };
    let limits = ReassemblyLimits {
        max_bytes_per_peer: 64 + usize::from(setup.per_peer) * 4,
        max_bytes_total: 64 + usize::from(setup.total) * 8,
        timeout: Duration::from_millis(1 + u64::from(setup.timeout_ms)),
        max_fragments: 1 + u32::from(setup.max_fragments % 16),
    };
    // Simulated time is relative to this one reading; the machine never reads a clock.
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut r = Reassembly::<u8>::new(limits);
    let mut model = Model::default();
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        match op {
            Op::Push { peer, group, index, count, len } => {
                // The documented contract: fire due timers before pushing.
                timeout(&mut r, &mut model, now);
                let header = FragmentHeader {
                    group: format!("g{}", group % 4),
                    index: u32::from(index % 7),
                    count: u32::from(count % 6),
                };
                let fill = b'a' + (index % 26);
                let data = Bytes::from(vec![fill; usize::from(len % 200)]);
                let pushed = r.push(peer % 3, &header, data.clone(), now);
                model.pushed((peer % 3, header.group.clone()), &header, data, pushed, now, limits.timeout);
            }
            Op::Advance { millis } => now += Duration::from_millis(u64::from(millis)),
            Op::ToDeadline => {
                if let Some(at) = r.poll_timeout() {
                    now = now.max(at);
                }
                timeout(&mut r, &mut model, now);
            }
            Op::Timeout => timeout(&mut r, &mut model, now),
            Op::RemovePeer { peer } => {
                let peer = peer % 3;
                let removed = r.remove_peer(&peer);
                let before = model.held.len();
                model.held.retain(|(p, _), _| *p != peer);
                assert_eq!(removed, before - model.held.len(), "remove_peer dropped another number of messages");
            }
        }
        model.check(&r, &limits);
    }
}

fn timeout(r: &mut Reassembly<u8>, model: &mut Model, now: Instant) {
    for (peer, group, error) in r.handle_timeout(now) {
        assert!(matches!(error, ReassemblyError::Expired { .. }), "handle_timeout reported {error:?}");
        let key = (peer, group);
        assert!(model.held.remove(&key).is_some(), "expiry of {key:?}, which was not held");
        model.ended.insert(key, (now, Ended::Dropped));
    }
    if let Some(at) = r.poll_timeout() {
        assert!(at > now, "poll_timeout did not move past now after handle_timeout");
    }
}

impl Model {
    fn recently(&self, key: &Key, now: Instant, timeout: Duration) -> Option<Ended> {
        self.ended.get(key).filter(|(at, _)| now < *at + timeout).map(|(_, how)| *how)
    }

    fn pushed(
        &mut self,
        key: Key,
        header: &FragmentHeader,
        data: Bytes,
        pushed: Pushed,
        now: Instant,
        timeout: Duration,
    ) {
        let recent = self.recently(&key, now, timeout);
        let FragmentHeader { index, count, .. } = *header;
        match pushed {
            Pushed::Incomplete => {
                assert!(recent.is_none(), "a fragment of {key:?}, which ended recently ({recent:?}), restarted it");
                assert!(index < count && count >= 2, "held an impossible fragment {header:?}");
                let (held_count, parts) = self.held.entry(key.clone()).or_insert_with(|| (count, BTreeMap::new()));
                assert_eq!(*held_count, count, "held fragments of {key:?} that disagree on the count");
                assert!(parts.insert(index, data).is_none(), "fragment {index} of {key:?} held twice");
                assert!(parts.len() < count as usize, "{key:?} has all its fragments but did not complete");
            }
            Pushed::Complete(bytes) => {
                assert!(recent.is_none(), "{key:?} completed again while it is remembered ({recent:?})");
                let (held_count, mut parts) = self.held.remove(&key).unwrap_or((count, BTreeMap::new()));
                assert_eq!(held_count, count, "{key:?} completed with fragments that disagree on the count");
                assert!(parts.insert(index, data).is_none(), "{key:?} completed by a duplicate fragment");
                assert_eq!(parts.len(), count as usize, "{key:?} completed without all its fragments");
                let expected: Vec<u8> = parts.values().flat_map(|p| p.iter().copied()).collect();
                assert_eq!(bytes.as_ref(), expected.as_slice(), "{key:?} reassembled wrongly");
                self.ended.insert(key, (now, Ended::Completed));
            }
            Pushed::Duplicate => {
                let held = self.held.get(&key).is_some_and(|(_, parts)| parts.contains_key(&index));
                assert!(
                    held || recent == Some(Ended::Completed),
                    "fragment {index} of {key:?} called a duplicate, but it is neither held nor recently completed"
                );
            }
            Pushed::Rejected(error) => {
                assert!(!matches!(error, ReassemblyError::Expired { .. }) || recent == Some(Ended::Dropped));
                assert_ne!(recent, Some(Ended::Completed), "a late fragment of completed {key:?} was rejected");
                self.held.remove(&key);
                if recent.is_none() {
                    self.ended.insert(key, (now, Ended::Dropped));
                }
            }
        }
    }

    fn check(&self, r: &Reassembly<u8>, limits: &ReassemblyLimits) {
        assert_eq!(r.pending(), self.held.len(), "pending messages differ from the model");
        let mut per_peer = BTreeMap::<u8, usize>::new();
        for ((peer, group), (_, parts)) in &self.held {
            let charge: usize = parts.values().map(|p| p.len() + group.len() + OVERHEAD).sum();
            *per_peer.entry(*peer).or_default() += charge;
        }
        for (peer, held) in &per_peer {
            assert_eq!(r.held_by(peer), *held, "bytes held for peer {peer} differ from its fragments");
            assert!(*held <= limits.max_bytes_per_peer, "peer {peer} holds {held} bytes, over its limit");
        }
        let total: usize = per_peer.values().sum();
        assert_eq!(r.bytes_held(), total, "bytes held differ from the fragments held");
        assert!(total <= limits.max_bytes_total, "{total} bytes held, over the total limit");
    }
}
