//! Routing: which peer sent a message, and where it goes (a session, a stateless
//! request of its own, or the application as a detached notification).

use super::*;
use crate::jsonrpc::Cancellation;

/// Who sent a request, as the in-flight table and the response cache key it.
///
/// Only a true repeat of a request may be answered from the cache, so each key says
/// what "the same request" means for its kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Peer {
    /// The `initialize` that opens a session, by the SQS message it came in: a new
    /// `initialize` message opens a new session, whoever sends it; only that message
    /// delivered again is the same request.
    Opening(String),
    /// A request in a legacy session.
    Session(SessionId),
    /// A stateless request: by client, reply address and a fingerprint of the whole
    /// message, so that a restarted client reusing an id with other params is new.
    Stateless { client_id: Option<String>, reply_to: Address, fingerprint: u64 },
    /// A message the server refuses with an error reply, by its SQS message.
    Refused(String),
}

/// A request being handled, or answered and remembered: (peer, JSON-RPC id).
pub(super) type InKey = (Peer, RequestId);

/// A running stateless request, by what a `notifications/cancelled` can name.
pub(super) type CancelKey = (Option<String>, Address, RequestId);

#[derive(Debug)]
pub(super) struct ModernRequest {
    pub(super) reply_to: Address,
    pub(super) client_id: Option<String>,
    pub(super) peer: PeerTakes,
    pub(super) key: InKey,
}

/// FNV-1a over the message text: tells a repeat of a stateless request from a new
/// request that reuses its id. Not a defence against a malicious peer, which can only
/// collide with its own requests (the key also holds its client id and address).
pub(super) fn fingerprint(message: &JsonRpcMessage) -> u64 {
    message.body().iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The smallest SQS message id of a delivery: names it the same way whichever of its
/// receipts came first.
pub(super) fn first_message_id(receipts: &[Receipt]) -> String {
    receipts.iter().map(|r| r.message_id.as_str()).min().unwrap_or_default().to_owned()
}

/// The smallest key of `peer`: every request of it sorts at or after this one.
pub(super) fn first_key(peer: Peer) -> InKey {
    (peer, RequestId::Number(i64::MIN))
}

impl Server {
    pub(super) fn route(&mut self, d: Delivery, now: Instant) {
        if let Some(requested) = d.meta.protocol_version.as_deref()
            && !self.config.protocol_versions.iter().any(|v| v == requested)
        {
            let reason = RejectReason::UnsupportedVersion {
                requested: crate::clip_peer_text(requested).into_owned(),
                supported: self.config.protocol_versions.clone(),
            };
            return match (d.message.kind(), d.message.id().cloned()) {
                (MessageKind::Request, Some(id)) => {
                    self.refuse(d.receipts, reason, id, &d.meta, Disposition::Delete, now)
                }
                _ => self.reject(d.receipts, reason, Disposition::Delete, now),
            };
        }
        if let Some(session_id) = d.meta.session_id.clone() {
            self.route_session(session_id, d, now);
        } else if d.message.method() == Some(INITIALIZE)
            && d.message.kind() == MessageKind::Request
            && handshake::reply_address(&d.message).is_some()
        {
            // A legacy handshake names its reply address in `initialize` itself. An
            // `initialize` with only the `ReplyTo` attribute comes from a client of the
            // stateless era (some SDKs still send it): it is an ordinary request.
            self.open_session(d, now);
        } else {
            self.route_modern(d, now);
        }
    }

    pub(super) fn allowed(&self, address: &Address) -> bool {
        self.config.allow_reply.allows(address)
    }

    /// `reply_to` when the allow-list admits it. Otherwise the delivery is rejected
    /// (no reply address, or one not allowed: the `undecodable` disposition) and
    /// `None` comes back.
    pub(super) fn admitted_reply(
        &mut self,
        reply_to: Option<Address>,
        receipts: &mut Vec<Receipt>,
        now: Instant,
    ) -> Option<Address> {
        let reason = match reply_to {
            Some(address) if self.allowed(&address) => return Some(address),
            Some(address) => RejectReason::ReplyNotAllowed(address),
            None => RejectReason::NoReplyAddress,
        };
        self.reject(std::mem::take(receipts), reason, self.config.common.undecodable, now);
        None
    }

    pub(super) fn route_session(&mut self, session_id: SessionId, d: Delivery, now: Instant) {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return self.unknown_session(session_id, d, now);
        };
        session.peer.update(&d.meta.ext);
        self.idle.set(session_id.clone(), now + self.config.session_idle_timeout);
        if d.message.kind().is_reply() {
            let id = d.message.id().cloned().unwrap_or(RequestId::Null);
            if !session.awaiting.remove(&id) {
                return self.reject(d.receipts, RejectReason::UnknownResponse(id), Disposition::Delete, now);
            }
        }
        if d.message.method() == Some(CLOSE_NOTIFICATION) {
            for r in &d.receipts {
                self.delete(r);
            }
            self.end_session(&session_id, CloseReason::Closed, now);
            return;
        }
        self.deliver(Route::Session(session_id.clone()), Peer::Session(session_id), d, now);
    }

    pub(super) fn route_modern(&mut self, mut d: Delivery, now: Instant) {
        match d.message.kind() {
            MessageKind::Request => {}
            MessageKind::Notification => {
                for r in &d.receipts {
                    self.delete(r);
                }
                let route = self.cancelled_request(&d).map_or(Route::Detached, Route::Request);
                self.events.push_back(ServerEvent::Message { route, message: d.message });
                return;
            }
            _ => {
                let id = d.message.id().cloned().unwrap_or(RequestId::Null);
                return self.reject(d.receipts, RejectReason::UnknownResponse(id), Disposition::Delete, now);
            }
        }
        let Some(reply_to) = self.admitted_reply(d.meta.reply_to.clone(), &mut d.receipts, now) else { return };
        let Some(id) = d.message.id().cloned() else { return };
        let peer = Peer::Stateless {
            client_id: d.meta.client_id.clone(),
            reply_to: reply_to.clone(),
            fingerprint: fingerprint(&d.message),
        };
        let key = (peer.clone(), id.clone());
        if self.answer_again(&key, &d.receipts, now) {
            return;
        }
        let token = RequestToken(self.next_token);
        self.next_token += 1;
        self.tokens.insert((d.meta.client_id.clone(), reply_to.clone(), id), token);
        self.requests.insert(
            token,
            ModernRequest {
                reply_to,
                client_id: d.meta.client_id.clone(),
                peer: PeerTakes::from_ext(&d.meta.ext),
                key,
            },
        );
        self.deliver(Route::Request(token), peer, d, now);
    }

    /// The running modern request a `notifications/cancelled` names: the same client
    /// (by `ClientId` and `ReplyTo`) and `params.requestId`.
    pub(super) fn cancelled_request(&self, d: &Delivery) -> Option<RequestToken> {
        let id = Cancellation::from_message(&d.message)?.request_id;
        let reply_to = d.meta.reply_to.as_ref()?;
        self.tokens.get(&(d.meta.client_id.clone(), reply_to.clone(), id)).copied()
    }

    pub(super) fn deliver(&mut self, route: Route, peer: Peer, d: Delivery, now: Instant) {
        let Delivery { receipts, message, .. } = d;
        if let (MessageKind::Request, Some(id)) = (message.kind(), message.id().cloned()) {
            let key = (peer, id);
            if matches!(key.0, Peer::Session(_)) && self.answer_again(&key, &receipts, now) {
                return;
            }
            let acked = self.config.ack == AckPolicy::OnDelivery;
            if acked {
                for r in &receipts {
                    self.delete(r);
                }
            } else {
                self.heartbeats.set(key.clone(), now + self.first_heartbeat());
            }
            self.deadlines.set(key.clone(), deadline_after(now, self.config.request_deadline));
            self.in_flight
                .insert(key, InFlight { receipts, acked, route: route.clone(), answered: false, hold: Hold::No });
        } else {
            for r in &receipts {
                self.delete(r);
            }
        }
        self.events.push_back(ServerEvent::Message { route, message });
    }

    pub(super) fn forget_request(&mut self, token: RequestToken) {
        if let Some(request) = self.requests.remove(&token) {
            let cancel_key = (request.client_id, request.reply_to, request.key.1);
            if self.tokens.get(&cancel_key) == Some(&token) {
                self.tokens.remove(&cancel_key);
            }
        }
    }
}
