//! Turning one outbound JSON-RPC message into `Send` ops: attributes, timestamp,
//! size budget, fragments and FIFO fields. Shared by the client and the server.

use std::time::Instant;

use crate::address::Address;
use crate::codec::{self, Ext, WireMeta};
use crate::config::SharedConfig;
use crate::error::{ApiError, Unsendable};
use crate::jsonrpc::{JsonRpcMessage, MessageKind};
use crate::offload;
use crate::op::{OpKind, SendOp};
use crate::reassembly::fragment_charge;
use crate::rng::Rng;

#[derive(Debug)]
pub(crate) struct Outbound {
    start: Instant,
    start_unix_millis: u64,
    /// What our own receive path accepts, advertised as `max=` on every message.
    advertised: Option<usize>,
}

/// What one destination takes: its size budget (see `crate::budget::budget`) and
/// what the peer behind it said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Room {
    pub(crate) budget: usize,
    pub(crate) peer: PeerTakes,
}

/// What a peer said it takes, in the `AsyncMcpExt` of its messages: `caps=frag`
/// (once said, for good), `max=` and `reasm=` (the latest value counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PeerTakes {
    pub(crate) fragments: bool,
    pub(crate) max_bytes: Option<usize>,
    pub(crate) reassembles: Option<usize>,
}

impl PeerTakes {
    pub(crate) fn from_ext(ext: &Ext) -> Self {
        let mut peer = Self::default();
        peer.update(ext);
        peer
    }

    pub(crate) fn update(&mut self, ext: &Ext) {
        self.fragments |= ext.takes_fragments;
        if ext.max_message_bytes.is_some() {
            self.max_bytes = ext.max_message_bytes;
        }
        if ext.reassembles.is_some() {
            self.reassembles = ext.reassembles;
        }
    }
}

impl Outbound {
    pub(crate) fn new(start: Instant, start_unix_millis: u64) -> Self {
        Self { start, start_unix_millis, advertised: None }
    }

    /// Advertises `max` (the budget of what we receive) on every later message.
    pub(crate) fn advertise(&mut self, max: Option<usize>) {
        self.advertised = max;
    }

    /// Unix seconds at `now`, from the wall-clock anchor given at construction.
    pub(crate) fn unix_secs(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start).as_millis();
        let millis = u128::from(self.start_unix_millis).saturating_add(elapsed);
        u64::try_from(millis / 1000).unwrap_or(u64::MAX)
    }

    /// Encodes `message` for `to`. `meta` carries the routing attributes the caller
    /// chose (session, client id, reply address); this fills in the rest.
    ///
    /// Within `room.budget` the message goes inline, as one message. Above it, the
    /// order is: fragments when the peer takes them (and can hold them all: within
    /// the `reasm=` it advertised), else [`Unsendable::TooLarge`] naming the size
    /// and the budget ([`Unsendable::TooLargeToReassemble`] for fragments over the
    /// peer's reassembly cap).
    ///
    /// `fifo_group` is the `MessageGroupId` for FIFO destinations. Fragments each get
    /// a group of their own (the fragment group and their index): SQS hands out
    /// nothing more of a group while one of its messages is in flight, and the
    /// receiver holds each fragment in flight until the last one arrives.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sends(
        &self,
        common: &SharedConfig,
        message: &JsonRpcMessage,
        mut meta: WireMeta,
        to: &Address,
        fifo_group: &str,
        room: Room,
        rng: &mut Rng,
        now: Instant,
    ) -> Result<Vec<OpKind>, ApiError> {
        meta.timestamp = Some(self.unix_secs(now));
        if message.kind() == MessageKind::Request {
            meta.request_id = message.id().map(|id| id.to_attribute());
        }
        if message.kind().has_method() {
            meta.method = message.method().map(str::to_owned);
        }
        meta.ext.takes_fragments = common.takes_fragments;
        meta.ext.max_message_bytes = self.advertised;
        meta.ext.reassembles = common.takes_fragments.then_some(common.reassembly.max_bytes_per_peer);
        meta.custom = common.custom_attributes.clone();
        let limits = codec::SizeLimits { max_bytes: room.budget, envelope: common.limits.envelope && to.is_topic() };
        let fifo = to.is_fifo();
        // Above the budget: S3 first when configured, then fragments, then the sized error.
        if let Some(send) = offload::send(common.offload.as_ref(), message, &meta, &limits, to, rng)? {
            let dedup = fifo.then(|| rng.hex128());
            return Ok(vec![OpKind::Send(SendOp {
                group_id: fifo.then(|| fifo_group.to_owned()),
                dedup_id: dedup,
                ..send
            })]);
        }
        let group = (room.peer.fragments || common.peer_takes_fragments).then(|| rng.hex128());
        let encoded = match codec::encode(message, &meta, &limits, None) {
            Err(ApiError::Unsendable(Unsendable::TooLarge { .. })) if group.is_some() => {
                // Fragments, each within the budget; a sized error when they cannot be.
                let fragments = codec::encode(message, &meta, &limits, group.as_deref())?;
                let held =
                    fragments.iter().map(|f| fragment_charge(group.as_deref().unwrap_or_default(), f.body.len()));
                let held = held.fold(0usize, usize::saturating_add);
                match room.peer.reassembles {
                    // The peer would drop them, and its requester would wait for nothing.
                    Some(cap) if held > cap => {
                        return Err(ApiError::Unsendable(Unsendable::TooLargeToReassemble { size: held, limit: cap }));
                    }
                    _ => fragments,
                }
            }
            inline => inline?,
        };
        let dedup = if fifo { rng.hex128() } else { String::new() };
        let many = encoded.len() > 1;
        Ok(encoded
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                OpKind::Send(SendOp {
                    to: to.clone(),
                    body: e.body,
                    attributes: e.attributes,
                    group_id: fifo.then(|| match &group {
                        Some(fragments) if many => format!("{fragments}-{i}"),
                        _ => fifo_group.to_owned(),
                    }),
                    dedup_id: fifo.then(|| if many { format!("{dedup}-{i}") } else { dedup.clone() }),
                    offload: None,
                })
            })
            .collect())
    }
}
