//! Inbound pipeline shared by the client and the server: decode, drop redeliveries
//! by SQS message id, reassemble fragments, and put numbered messages in order.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::address::Address;
use crate::cache::ResponseCache;
use crate::codec::{self, Payload, WireMeta};
use crate::config::{Disposition, SharedConfig};
use crate::dedup::DedupWindow;
use crate::error::DecodeError;
use crate::event::{QueueOutcome, RejectReason, Rejection};
use crate::inbound::InboundMessage;
use crate::jsonrpc::{JsonRpcMessage, RequestId, error_codes};
use crate::ordering::Reorder;
use crate::reassembly::{Pushed, Reassembly};
use crate::session_id::SessionId;
use crate::timers::Timers;

/// One received SQS message that is still ours to delete or release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Receipt {
    pub(crate) message_id: String,
    pub(crate) receipt_handle: String,
}

/// A whole message ready for routing, with every SQS message it came in.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) receipts: Vec<Receipt>,
    pub(crate) meta: WireMeta,
    pub(crate) message: JsonRpcMessage,
}

/// Splits rejected `receipts` into those to delete now and the events reporting each
/// one's fate, per `disposition`.
pub(crate) fn rejections(
    receipts: Vec<Receipt>,
    reason: &RejectReason,
    disposition: Disposition,
) -> (Vec<Receipt>, Vec<Rejection>) {
    let fate = match disposition {
        Disposition::LeaveForRedrive => QueueOutcome::LeftForRedelivery,
        _ => QueueOutcome::Deleted,
    };
    let events =
        receipts.iter().map(|r| Rejection { message_id: r.message_id.clone(), reason: reason.clone(), fate }).collect();
    let doomed = if fate == QueueOutcome::Deleted { receipts } else { Vec::new() };
    (doomed, events)
}

/// What the inbox decided about an inbound message (or a timer): deliver it, or
/// why and how not.
#[derive(Debug)]
pub(crate) enum InboxVerdict {
    Deliver(Box<Delivery>),
    Reject(Receipt, RejectReason),
    /// Rejected, but still a request with a readable id and routing facts: answer it
    /// with [`refusal`] where its reply address allows, then delete it.
    Refuse {
        receipts: Vec<Receipt>,
        reason: RejectReason,
        id: RequestId,
        meta: Box<WireMeta>,
    },
    /// A redelivery of a message id already seen (not held here).
    Duplicate(Receipt),
    /// Not handled this time: left on the queue to come back (fragments whose set
    /// timed out), and reported.
    Release(Receipt, RejectReason),
}

/// The JSON-RPC error that answers request `id` refused for `reason`.
///
/// A version the server does not speak gets MCP's `UnsupportedProtocolVersionError`
/// (`-32022`, `data: {"supported": [...], "requested": "..."}`); a body a JSON parser
/// refuses gets `-32700` (parse error); anything else `-32600` (invalid request). The
/// message says why, with peer text shortened.
pub(crate) fn refusal(reason: &RejectReason, id: RequestId) -> JsonRpcMessage {
    use crate::DecodeError as E;
    match reason {
        RejectReason::UnsupportedVersion { requested, supported } => JsonRpcMessage::error(
            id,
            error_codes::UNSUPPORTED_PROTOCOL_VERSION,
            &format!("Unsupported protocol version: {requested} (supported: {})", supported.join(", ")),
            Some(serde_json::json!({ "supported": supported, "requested": requested })),
        ),
        RejectReason::Decode(E::NotUtf8 { .. } | E::InvalidXmlChar { .. } | E::Json { .. } | E::TooDeep { .. }) => {
            JsonRpcMessage::error(id, error_codes::PARSE_ERROR, &format!("request refused: {reason}"), None)
        }
        _ => JsonRpcMessage::error(id, error_codes::INVALID_REQUEST, &format!("request refused: {reason}"), None),
    }
}

/// A fragment set that timed out is left on the queue to be assembled again when its
/// fragments come back, until it has timed out this many times.
const MAX_REASSEMBLY_TRIES: u32 = 3;

/// The sender of a message, as reassembly and ordering key it: its session, else its
/// client id, else its reply address. A typed key cannot collide when a peer puts a
/// separator in its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Sender {
    /// A message in a legacy session.
    Session(SessionId),
    /// A sessionless message with a `ClientId`.
    Client(String),
    /// A sessionless message with only a `ReplyTo`.
    ReplyTo(Address),
    /// A message that names no sender.
    Unnamed,
}

impl Sender {
    fn of(meta: &WireMeta) -> Self {
        match (&meta.session_id, &meta.client_id, &meta.reply_to) {
            (Some(s), _, _) => Self::Session(s.clone()),
            (None, Some(c), _) => Self::Client(c.clone()),
            (None, None, Some(a)) => Self::ReplyTo(a.clone()),
            (None, None, None) => Self::Unnamed,
        }
    }
}

/// Which sessions an inbox keeps an ordering stream for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Streams {
    /// Only sessions opened with [`Inbox::open_stream`] (a server: it knows its
    /// sessions, and a peer naming others must not make it keep state for them).
    Opened,
    /// Any session a message names (a client: it learns its session id from a
    /// numbered message, and drops the stream of any other with `forget_stream`).
    Any,
}

/// A fragment set: its sender and its fragment group.
type Slot = (Sender, String);

#[derive(Debug)]
pub(crate) struct Inbox {
    seen: DedupWindow<String>,
    /// Messages whose handling did not complete and that must be handled again when
    /// they come back: they skip reordering (their number was already delivered once).
    redo: DedupWindow<String>,
    /// Fragment sets that timed out, and how often, by (peer, group).
    expired: ResponseCache<Slot, u32>,
    reassembly: Reassembly<Sender>,
    /// Receipts of fragments held for reassembly, by (peer, group).
    held: BTreeMap<Slot, Vec<Receipt>>,
    /// Where each held message id sits, to update its receipt on redelivery.
    held_ids: BTreeMap<String, Slot>,
    ordering: Option<crate::config::OrderingConfig>,
    /// Which sessions get an ordering stream.
    streams: Streams,
    /// One ordering stream per session (senders number only session messages).
    reorder: BTreeMap<Sender, Reorder<Delivery>>,
    /// Each stream's gap deadline, so the earliest is found in O(log n).
    gaps: Timers<Sender>,
}

impl Inbox {
    pub(crate) fn new(common: &SharedConfig, streams: Streams) -> Self {
        Self {
            seen: DedupWindow::new(common.dedup_window, common.dedup_capacity),
            redo: DedupWindow::new(common.dedup_window, common.dedup_capacity),
            expired: ResponseCache::new(
                common.reassembly.timeout.saturating_mul(2 * MAX_REASSEMBLY_TRIES),
                common.dedup_capacity,
            ),
            reassembly: Reassembly::new(common.reassembly),
            held: BTreeMap::new(),
            held_ids: BTreeMap::new(),
            ordering: common.ordering,
            streams,
            reorder: BTreeMap::new(),
            gaps: Timers::default(),
        }
    }

    /// Takes one received message; appends what it produced to `out`.
    pub(crate) fn handle(&mut self, mut msg: InboundMessage, now: Instant, out: &mut Vec<InboxVerdict>) {
        // The ids move into the receipt (decoding reads only the body and attributes).
        let receipt = Receipt {
            message_id: std::mem::take(&mut msg.message_id),
            receipt_handle: std::mem::take(&mut msg.receipt_handle),
        };
        if let Some(slot) = self.held_ids.get(&receipt.message_id) {
            // A held fragment came back: redelivered after its visibility ran out, or a
            // second stored copy. Keep this receipt beside the first so that every copy
            // is deleted with the message (an outdated handle deletes nothing, harmlessly).
            if let Some(receipts) = self.held.get_mut(slot) {
                receipts.push(receipt);
            }
            return;
        }
        if !self.seen.insert(receipt.message_id.clone(), now) {
            if let Some(receipt) = self.join_buffered(receipt) {
                out.push(InboxVerdict::Duplicate(receipt));
            }
            return;
        }
        let decoded = match codec::decode(&msg) {
            Ok(d) => d,
            Err(DecodeError::Offloaded { pointer, reason }) if reason.is_transient() => {
                // The object may be there on the next receive: leave the message.
                self.seen.remove(&receipt.message_id);
                let reason = RejectReason::Decode(DecodeError::Offloaded { pointer, reason });
                out.push(InboxVerdict::Release(receipt, reason));
                return;
            }
            Err(e) => {
                let reason = RejectReason::Decode(e);
                match codec::recover_request(&msg) {
                    Some((id, meta)) => self.refuse(vec![receipt], reason, id, meta, out),
                    None => self.reject(receipt, reason, out),
                }
                return;
            }
        };
        let meta = decoded.meta;
        let delivery = match decoded.payload {
            Payload::Message(message) => Delivery { receipts: vec![receipt], meta, message },
            Payload::Fragment { header, data } => {
                let peer = Sender::of(&meta);
                let slot = (peer.clone(), header.group.clone());
                if self.redo.contains(&receipt.message_id) {
                    // Its message completed once but was not handled to the end:
                    // assemble it again rather than drop its fragments as duplicates.
                    self.reassembly.forget_ended(&slot);
                }
                match self.reassembly.push(peer, &header, data, now) {
                    Pushed::Incomplete => {
                        self.held_ids.insert(receipt.message_id.clone(), slot.clone());
                        self.held.entry(slot).or_default().push(receipt);
                        return;
                    }
                    Pushed::Duplicate => {
                        out.push(InboxVerdict::Duplicate(receipt));
                        return;
                    }
                    Pushed::Rejected(e) => {
                        for r in self.release(&slot) {
                            self.reject(r, RejectReason::Reassembly(e.clone()), out);
                        }
                        self.reject(receipt, RejectReason::Reassembly(e), out);
                        return;
                    }
                    Pushed::Complete(bytes) => {
                        let mut receipts = self.release(&slot);
                        receipts.push(receipt);
                        let mut meta = meta;
                        meta.ext.fragment = None;
                        match JsonRpcMessage::parse(bytes.clone()) {
                            Ok(message) => Delivery { receipts, meta, message },
                            Err(e) => {
                                match codec::request_id_of(&bytes) {
                                    Some(id) => self.refuse(receipts, RejectReason::Decode(e), id, meta, out),
                                    None => {
                                        for r in receipts {
                                            self.reject(r, RejectReason::Decode(e.clone()), out);
                                        }
                                    }
                                }
                                return;
                            }
                        }
                    }
                }
            }
        };
        self.order(delivery, now, out);
    }

    /// Rejects a received message and forgets its id: if it is left for redrive, each
    /// redelivery must be rejected the same way (until the queue moves it to its
    /// dead-letter queue), not deleted as a duplicate.
    fn reject(&mut self, receipt: Receipt, reason: RejectReason, out: &mut Vec<InboxVerdict>) {
        self.seen.remove(&receipt.message_id);
        out.push(InboxVerdict::Reject(receipt, reason));
    }

    /// A redelivery of a message waiting in a reorder buffer behind a gap (its
    /// visibility lapsed meanwhile) joins it, so that it is deleted with it rather
    /// than as a duplicate while nothing was done with it yet. Gives the receipt back
    /// when no buffered message has its id.
    fn join_buffered(&mut self, receipt: Receipt) -> Option<Receipt> {
        let waiting = self
            .reorder
            .values_mut()
            .flat_map(Reorder::buffered_mut)
            .find(|d: &&mut Delivery| d.receipts.iter().any(|r| r.message_id == receipt.message_id));
        match waiting {
            Some(delivery) => {
                delivery.receipts.push(receipt);
                None
            }
            None => Some(receipt),
        }
    }

    /// Forgets that message `message_id` was seen, so that its next delivery is
    /// handled again instead of being taken for a duplicate.
    pub(crate) fn forget(&mut self, message_id: &str, now: Instant) {
        self.seen.remove(&message_id.to_owned());
        self.redo.insert(message_id.to_owned(), now);
    }

    /// As [`reject`](Self::reject), for a request that can still be answered.
    fn refuse(
        &mut self,
        receipts: Vec<Receipt>,
        reason: RejectReason,
        id: RequestId,
        meta: WireMeta,
        out: &mut Vec<InboxVerdict>,
    ) {
        for r in &receipts {
            self.seen.remove(&r.message_id);
        }
        out.push(InboxVerdict::Refuse { receipts, reason, id, meta: Box::new(meta) });
    }

    fn release(&mut self, slot: &Slot) -> Vec<Receipt> {
        let receipts = self.held.remove(slot).unwrap_or_default();
        for r in &receipts {
            self.held_ids.remove(&r.message_id);
        }
        receipts
    }

    fn order(&mut self, delivery: Delivery, now: Instant, out: &mut Vec<InboxVerdict>) {
        let again = delivery.receipts.iter().any(|r| self.redo.contains(&r.message_id));
        if again {
            for r in &delivery.receipts {
                self.redo.remove(&r.message_id);
            }
            out.push(InboxVerdict::Deliver(Box::new(delivery)));
            return;
        }
        let (Some(ordering), Some(seq)) = (self.ordering, delivery.meta.ext.seq) else {
            out.push(InboxVerdict::Deliver(Box::new(delivery)));
            return;
        };
        let peer = Sender::of(&delivery.meta);
        let known = self.reorder.contains_key(&peer);
        if !matches!(peer, Sender::Session(_)) || (!known && self.streams == Streams::Opened) {
            // Nothing to order by: the message goes on at once (to be refused, if its
            // session is unknown), and leaves no state behind.
            out.push(InboxVerdict::Deliver(Box::new(delivery)));
            return;
        }
        let reorder = self
            .reorder
            .entry(peer.clone())
            .or_insert_with(|| Reorder::new(ordering.gap_timeout, ordering.max_buffered));
        match reorder.push(seq, delivery, now) {
            Ok(ready) => out.extend(ready.into_iter().map(|d| InboxVerdict::Deliver(Box::new(d)))),
            Err(late) => {
                for r in late.receipts {
                    out.push(InboxVerdict::Duplicate(r));
                }
            }
        }
        let deadline = reorder.poll_timeout();
        self.set_gap(peer, deadline);
    }

    fn set_gap(&mut self, peer: Sender, deadline: Option<Instant>) {
        match deadline {
            Some(t) => self.gaps.set(peer, t),
            None => self.gaps.cancel(&peer),
        }
    }

    /// Fires due timers: expired reassemblies, ordering gaps, dedup expiry.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Vec<InboxVerdict>) {
        self.seen.expire(now);
        self.redo.expire(now);
        self.expired.expire(now);
        for (peer, group, e) in self.reassembly.handle_timeout(now) {
            let slot = (peer, group);
            let receipts = self.release(&slot);
            // Fragments held past the timeout were only delayed, usually (an outage,
            // a lost long poll): they are still on the queue, so leave them there and
            // assemble them when they come back. Only a set received again and again
            // without ever completing is given up (its sender died mid-send).
            let tries = self.expired.get(&slot).copied().unwrap_or(0) + 1;
            self.expired.insert(slot.clone(), tries, now);
            let retry = tries < MAX_REASSEMBLY_TRIES;
            if retry {
                self.reassembly.forget_ended(&slot);
            }
            for r in receipts {
                self.seen.remove(&r.message_id);
                if retry {
                    out.push(InboxVerdict::Release(r, RejectReason::Reassembly(e.clone())));
                } else {
                    out.push(InboxVerdict::Reject(r, RejectReason::Reassembly(e.clone())));
                }
            }
        }
        while let Some(peer) = self.gaps.pop_due(now) {
            let Some(reorder) = self.reorder.get_mut(&peer) else { continue };
            out.extend(reorder.handle_timeout(now).into_iter().map(|d| InboxVerdict::Deliver(Box::new(d))));
            let deadline = reorder.poll_timeout();
            self.set_gap(peer, deadline);
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.seen.poll_timeout(), self.reassembly.poll_timeout(), self.gaps.next()].into_iter().flatten().min()
    }

    /// Starts ordering the messages of `session` (with [`Streams::Opened`]).
    pub(crate) fn open_stream(&mut self, session: &SessionId) {
        if let Some(ordering) = self.ordering {
            self.reorder
                .entry(Sender::Session(session.clone()))
                .or_insert_with(|| Reorder::new(ordering.gap_timeout, ordering.max_buffered));
        }
    }

    /// Forgets the ordering stream of `session` only (a session this endpoint does
    /// not take part in); returns the messages that were waiting in it.
    pub(crate) fn forget_stream(&mut self, session: &SessionId) -> Vec<Delivery> {
        let peer = Sender::Session(session.clone());
        self.gaps.cancel(&peer);
        self.reorder.remove(&peer).map(Reorder::into_buffered).unwrap_or_default()
    }

    /// Forgets the ordering stream of every session but `keep`; returns the messages
    /// that were waiting in them, by session.
    pub(crate) fn forget_other_streams(&mut self, keep: &SessionId) -> Vec<(SessionId, Vec<Delivery>)> {
        let others: Vec<SessionId> = self
            .reorder
            .keys()
            .filter_map(|peer| match peer {
                Sender::Session(s) if s != keep => Some(s.clone()),
                _ => None,
            })
            .collect();
        others
            .into_iter()
            .map(|s| {
                let waiting = self.forget_stream(&s);
                (s, waiting)
            })
            .collect()
    }

    /// Forgets a session's ordering stream and unfinished fragments; returns the
    /// messages that were waiting in its reorder buffer, and the receipts of its
    /// unfinished fragments.
    pub(crate) fn forget_session(&mut self, session: &crate::SessionId) -> (Vec<Delivery>, Vec<Receipt>) {
        let peer = Sender::Session(session.clone());
        self.gaps.cancel(&peer);
        let waiting = self.reorder.remove(&peer).map(Reorder::into_buffered).unwrap_or_default();
        self.reassembly.remove_peer(&peer);
        let slots: Vec<Slot> = self
            .held
            .range((peer.clone(), String::new())..)
            .map(|(k, _)| k.clone())
            .take_while(|(p, _)| *p == peer)
            .collect();
        let mut fragments = Vec::new();
        for slot in slots {
            fragments.extend(self.release(&slot));
        }
        (waiting, fragments)
    }
}
