//! Size budgets per destination: what each queue or topic accepts (its
//! `MaximumMessageSize`, as the driver read it), what the peer behind it said it
//! accepts (`max=` in `AsyncMcpExt`), lowered by configuration.

use std::collections::BTreeMap;

use crate::address::Address;
use crate::codec::{MIN_MESSAGE_BYTES, SQS_MAX_BYTES};
use crate::config::SharedConfig;

/// `MaximumMessageSize` of the destinations read so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Budgets {
    resources: BTreeMap<Address, usize>,
}

impl Budgets {
    /// Records what `destination` accepts, clamped into what SQS and SNS can be set to.
    pub(crate) fn learn(&mut self, destination: &Address, max_message_bytes: usize) {
        self.resources.insert(destination.clone(), max_message_bytes.clamp(MIN_MESSAGE_BYTES, SQS_MAX_BYTES));
    }

    /// What `destination` accepts, if it was read.
    pub(crate) fn resource(&self, destination: &Address) -> Option<usize> {
        self.resources.get(destination).copied()
    }

    /// The budget of the messages a peer sends to us through `path` (a reply topic
    /// and the queue behind it): the smallest of theirs, a destination not read
    /// counting as the fallback, lowered by configuration. `None` when none was read
    /// (nothing to advertise: the peer uses its own fallback).
    pub(crate) fn receiving(&self, common: &SharedConfig, path: &[Address]) -> Option<usize> {
        if !path.iter().any(|a| self.resources.contains_key(a)) {
            return None;
        }
        let smallest = path.iter().map(|a| self.resource(a).unwrap_or(common.fallback_max_bytes)).min()?;
        Some(smallest.min(common.limits.max_bytes))
    }
}

/// The budget of one message to a destination: what the destination accepts (or,
/// unread, the configured fallback), no more than the peer advertised, and no more
/// than the configured [`limits.max_bytes`](crate::SharedConfig::limits).
pub(crate) fn budget(common: &SharedConfig, resource: Option<usize>, advertised: Option<usize>) -> usize {
    let known = match (resource, advertised) {
        (Some(r), Some(a)) => r.min(a),
        (Some(known), None) | (None, Some(known)) => known,
        (None, None) => common.fallback_max_bytes,
    };
    known.min(common.limits.max_bytes)
}
