//! Legacy sessions: opening, ending and idle expiry.

use super::*;

#[derive(Debug)]
pub(super) struct Session {
    pub(super) reply_to: Address,
    pub(super) client_id: Option<String>,
    /// What the client said it takes (`caps=frag`, `max=`, `reasm=`).
    pub(super) peer: PeerTakes,
    pub(super) seq: u64,
    /// The key of the `initialize` that opened it, while that request runs.
    pub(super) opening: Option<InKey>,
    /// Ids of the server's own requests sent in the session and not answered yet:
    /// any other response is rejected.
    pub(super) awaiting: std::collections::BTreeSet<RequestId>,
}

pub(super) fn close_text(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::Closed => "closed by the client",
        CloseReason::Idle => "idle",
        _ => "closed by the server",
    }
}

impl Server {
    /// Ends a legacy session from the server side. Requests of it still running are
    /// answered with an error and deleted.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] if there is no such session.
    pub fn close_session(&mut self, session_id: &SessionId, now: Instant) -> Result<(), ApiError> {
        self.fire_timers(now);
        if !self.sessions.contains_key(session_id) {
            return Err(ApiError::UnknownRoute(format!("session {session_id}")));
        }
        self.end_session(session_id, CloseReason::ServerClosed, now);
        Ok(())
    }

    pub(super) fn open_session(&mut self, mut d: Delivery, now: Instant) {
        let Some(reply_to) = self.admitted_reply(handshake::reply_address(&d.message), &mut d.receipts, now) else {
            return;
        };
        // Only this very message delivered again is the same handshake: a client that
        // restarted (same ClientId, ids from 0 again) must get a session of its own.
        let peer = Peer::Opening(first_message_id(&d.receipts));
        if let Some(id) = d.message.id().cloned()
            && self.answer_again(&(peer.clone(), id), &d.receipts, now)
        {
            return;
        }
        if self.sessions.len() >= self.config.max_sessions {
            return self.refuse_session(d, reply_to, now);
        }
        let session_id = SessionId::from_bits(self.rng.next_u128());
        self.sessions.insert(
            session_id.clone(),
            Session {
                reply_to: reply_to.clone(),
                client_id: d.meta.client_id.clone(),
                peer: PeerTakes::from_ext(&d.meta.ext),
                seq: 0,
                opening: d.message.id().cloned().map(|id| (peer.clone(), id)),
                awaiting: std::collections::BTreeSet::new(),
            },
        );
        self.inbox.open_stream(&session_id);
        self.idle.set(session_id.clone(), now + self.config.session_idle_timeout);
        self.events.push_back(ServerEvent::SessionOpened {
            session_id: session_id.clone(),
            client_id: d.meta.client_id.clone(),
            reply_to,
        });
        self.deliver(Route::Session(session_id), peer, d, now);
    }

    /// A request for a session this server does not know (expired, or another
    /// server's before a restart): answer "session not found" when the client named a
    /// reply address, so it does not wait for nothing.
    pub(super) fn unknown_session(&mut self, session_id: SessionId, d: Delivery, now: Instant) {
        let reply = d.meta.reply_to.clone().filter(|a| self.allowed(a));
        match (d.message.kind(), d.message.id().cloned(), reply) {
            (MessageKind::Request, Some(id), Some(to)) => {
                let error = JsonRpcMessage::error(
                    id.clone(),
                    error_codes::INVALID_REQUEST,
                    &format!("session not found: {session_id}"),
                    Some(serde_json::json!({ "sessionId": session_id.as_str() })),
                );
                let meta = WireMeta { session_id: Some(session_id.clone()), ..WireMeta::default() };
                let key = (Peer::Refused(first_message_id(&d.receipts)), id);
                let envelope = Envelope { meta, to, group: session_id.to_string(), peer: PeerTakes::default() };
                self.answer_held(key, d.receipts.clone(), &error, &envelope, now);
                for r in d.receipts {
                    self.events.push_back(ServerEvent::Rejected(Rejection {
                        message_id: r.message_id,
                        reason: RejectReason::UnknownSession(session_id.clone()),
                        fate: QueueOutcome::Deleted,
                    }));
                }
            }
            _ => self.reject(d.receipts, RejectReason::UnknownSession(session_id), Disposition::Delete, now),
        }
    }

    /// Ends a session. What it still holds is never left behind: each request of it
    /// still running, or waiting behind an ordering gap, is answered with an error
    /// (then deleted), so that neither the message nor its receive credit is held;
    /// other messages waiting for order are rejected and deleted; unfinished fragments
    /// are left on the queue (assembled when they come back, they get "session not
    /// found").
    pub(super) fn end_session(&mut self, session_id: &SessionId, reason: CloseReason, now: Instant) {
        let Some(session) = self.sessions.remove(session_id) else { return };
        self.idle.cancel(session_id);
        let peer = Peer::Session(session_id.clone());
        let mut running: Vec<InKey> = self
            .in_flight
            .range(first_key(peer.clone())..)
            .map(|(k, _)| k.clone())
            .take_while(|k| k.0 == peer)
            .collect();
        running.extend(session.opening.clone().filter(|k| self.in_flight.contains_key(k)));
        let mut unanswered = Vec::new();
        for key in running {
            if self.in_flight.get(&key).is_some_and(|f| f.answered) {
                continue; // its answer is on its way; the message goes when it is sent
            }
            let Some(flight) = self.in_flight.remove(&key) else { continue };
            self.heartbeats.cancel(&key);
            self.deadlines.cancel(&key);
            let receipts = if flight.acked { Vec::new() } else { flight.receipts };
            unanswered.push((key, receipts));
        }
        let (waiting, fragments) = self.inbox.forget_session(session_id);
        let mut stray = Vec::new();
        for d in waiting {
            match (d.message.kind(), d.message.id().cloned()) {
                (MessageKind::Request, Some(id)) => unanswered.push(((peer.clone(), id), d.receipts)),
                _ => stray.extend(d.receipts),
            }
        }
        for (key, receipts) in unanswered {
            let error = JsonRpcMessage::error(
                key.1.clone(),
                error_codes::INVALID_REQUEST,
                &format!("session {session_id} ended ({}) before this request was answered", close_text(reason)),
                None,
            );
            let meta = WireMeta {
                session_id: Some(session_id.clone()),
                client_id: session.client_id.clone(),
                ..WireMeta::default()
            };
            let envelope = Envelope {
                meta,
                to: session.reply_to.clone(),
                group: session_id.to_string(),
                peer: PeerTakes::default(),
            };
            self.answer_held(key, receipts, &error, &envelope, now);
        }
        self.events.push_back(ServerEvent::SessionClosed { session_id: session_id.clone(), reason });
        let gone = RejectReason::UnknownSession(session_id.clone());
        self.reject(stray, gone.clone(), Disposition::Delete, now);
        self.reject(fragments, gone, Disposition::LeaveForRedrive, now);
    }

    /// Ends each session idle past its timeout; one with a request still running is
    /// not idle, and is checked again a timeout later.
    pub(super) fn expire_idle_sessions(&mut self, now: Instant) {
        while let Some(session_id) = self.idle.pop_due(now) {
            let peer = Peer::Session(session_id.clone());
            // The smallest possible key of this peer: any request of the session sorts
            // at or after it (O(log n), not a scan).
            if self.in_flight.range(first_key(peer.clone())..).next().is_some_and(|((p, _), _)| *p == peer) {
                // Work is still running in it: not idle.
                self.idle.set(session_id, now + self.config.session_idle_timeout);
            } else {
                self.end_session(&session_id, CloseReason::Idle, now);
            }
        }
    }

    /// An `initialize` past [`ServerConfig::max_sessions`]: answered with an error
    /// (so its client does not wait for nothing), reported, and deleted once the
    /// answer is sent; no session is opened.
    fn refuse_session(&mut self, d: Delivery, reply_to: Address, now: Instant) {
        let max = self.config.max_sessions;
        let Some(id) = d.message.id().cloned() else {
            return self.reject(d.receipts, RejectReason::TooManySessions { max }, Disposition::Delete, now);
        };
        let error = JsonRpcMessage::error(
            id.clone(),
            error_codes::TOO_MANY_SESSIONS,
            &format!("the server already holds its limit of {max} sessions: try again once one ends"),
            Some(serde_json::json!({ "maxSessions": max })),
        );
        let meta = WireMeta { client_id: d.meta.client_id.clone(), ..WireMeta::default() };
        let key = (Peer::Refused(first_message_id(&d.receipts)), id);
        let envelope = Envelope { meta, to: reply_to, group: "asyncmcp".to_owned(), peer: PeerTakes::default() };
        self.answer_held(key, d.receipts.clone(), &error, &envelope, now);
        for r in d.receipts {
            self.events.push_back(ServerEvent::Rejected(Rejection {
                message_id: r.message_id,
                reason: RejectReason::TooManySessions { max },
                fate: QueueOutcome::Deleted,
            }));
        }
    }
}
