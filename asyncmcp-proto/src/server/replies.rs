//! Replies: composing and sending answers, the server's own messages, and the
//! queue operations that acknowledge or keep requests.

use super::*;
use crate::error::{Misuse, Unsendable};
use crate::jsonrpc::Cancellation;

/// What an operation was queued for: decides what its success or failure means.
#[derive(Debug)]
pub(super) enum OpPurpose {
    /// The answer to a request in flight.
    Response {
        key: InKey,
        route: Route,
        id: RequestId,
    },
    Message {
        route: Route,
        id: Option<RequestId>,
    },
    Delete {
        message_id: String,
    },
    Visibility,
}

/// Where and how a message to one peer goes.
#[derive(Debug)]
pub(super) struct Envelope {
    pub(super) meta: WireMeta,
    pub(super) to: Address,
    pub(super) group: String,
    /// What the peer said it takes.
    pub(super) peer: PeerTakes,
}

/// The error that answers a request whose response cannot be sent: `limit` is the
/// budget of one message to `to` (what it accepts, what the client advertised, what
/// the configuration allows, whichever is least) for [`Unsendable::TooLarge`], the
/// client's reassembly cap for [`Unsendable::TooLargeToReassemble`].
pub(super) fn too_large(id: RequestId, why: &Unsendable, to: &Address) -> Option<JsonRpcMessage> {
    let (size, limit, text) = match *why {
        Unsendable::TooLarge { size, limit } => (
            size,
            limit,
            format!(
                "the response is {size} bytes, over the {limit}-byte limit of one message to {to}, \
                 and the client takes no fragments"
            ),
        ),
        Unsendable::TooLargeToReassemble { size, limit } => (
            size,
            limit,
            format!(
                "the response would hold {size} bytes in fragments, over the {limit}-byte limit of \
                 what the client at {to} reassembles"
            ),
        ),
        _ => return None,
    };
    Some(JsonRpcMessage::error(
        id,
        error_codes::INTERNAL_ERROR,
        &text,
        Some(serde_json::json!({ "size": size, "limit": limit })),
    ))
}

/// Whether `e` says the message is too large to go (then an answer is replaced).
fn is_too_large(e: &ApiError) -> bool {
    matches!(e, ApiError::Unsendable(Unsendable::TooLarge { .. } | Unsendable::TooLargeToReassemble { .. }))
}

/// The `notifications/cancelled` the application gets when a request passes the
/// server's deadline.
pub(super) fn cancellation(id: &RequestId, reason: &str) -> JsonRpcMessage {
    Cancellation { request_id: id.clone(), reason: Some(reason.to_owned()) }.to_message()
}

impl Server {
    /// Sends `message` on `route`: a response or error to a request delivered there,
    /// or (legacy sessions only) a request or notification of the server's own.
    /// Notifications on a [`Route::Request`] (progress, logging) go to the requester.
    ///
    /// An answer is kept in the response cache from this call on, so a redelivered
    /// copy of its request is answered again, never run twice, even when this send
    /// fails for good.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] for a closed session, a finished request or
    /// [`Route::Detached`]; [`Misuse::RequestOnModernRoute`](crate::Misuse::RequestOnModernRoute) for a server request on
    /// a modern route; [`Unsendable::InvalidXmlChar`](crate::Unsendable::InvalidXmlChar) when it cannot be sent;
    /// [`Unsendable::TooLarge`](crate::Unsendable::TooLarge) when it does not fit in a message, or
    /// [`Unsendable::TooLargeToReassemble`](crate::Unsendable::TooLargeToReassemble) when its fragments would
    /// hold more than the client reassembles (for an answer, the requester then gets,
    /// in its place, a JSON-RPC error that names the size and the limit, and the
    /// request is done).
    pub fn submit(&mut self, route: &Route, message: JsonRpcMessage, now: Instant) -> Result<(), ApiError> {
        self.fire_timers(now);
        self.send_on(route, message, now)
    }

    pub(super) fn send_on(&mut self, route: &Route, message: JsonRpcMessage, now: Instant) -> Result<(), ApiError> {
        let reply_id = message.kind().is_reply().then(|| message.id().cloned()).flatten();
        match route {
            Route::Detached => Err(ApiError::UnknownRoute(route.to_string())),
            Route::Session(session_id) => {
                let session =
                    self.sessions.get_mut(session_id).ok_or_else(|| ApiError::UnknownRoute(route.to_string()))?;
                let mut meta = WireMeta {
                    session_id: Some(session_id.clone()),
                    client_id: session.client_id.clone(),
                    ..WireMeta::default()
                };
                if self.config.common.ordering.is_some() {
                    meta.ext.seq = Some(session.seq);
                    session.seq += 1;
                }
                let to = session.reply_to.clone();
                let peer = session.peer;
                let opening = session.opening.clone();
                self.idle.set(session_id.clone(), now + self.config.session_idle_timeout);
                let key = reply_id.and_then(|id| {
                    let session_key = (Peer::Session(session_id.clone()), id.clone());
                    if self.in_flight.contains_key(&session_key) {
                        return Some(session_key);
                    }
                    opening.filter(|k| k.1 == id && self.in_flight.contains_key(k))
                });
                let envelope = Envelope { meta, to, group: session_id.to_string(), peer };
                match key {
                    Some(key) => self.answer(route, key, message, envelope, Some(session_id.clone()), now),
                    None => {
                        let purpose = OpPurpose::Message { route: route.clone(), id: message.id().cloned() };
                        self.try_send(&message, &envelope, purpose, now)?;
                        if let (MessageKind::Request, Some(id), Some(session)) =
                            (message.kind(), message.id(), self.sessions.get_mut(session_id))
                        {
                            session.awaiting.insert(id.clone());
                        }
                        Ok(())
                    }
                }
            }
            Route::Request(token) => {
                if message.kind() == MessageKind::Request {
                    return Err(ApiError::Misuse(Misuse::RequestOnModernRoute));
                }
                let request = self.requests.get(token).ok_or_else(|| ApiError::UnknownRoute(route.to_string()))?;
                let envelope = Envelope {
                    meta: WireMeta { client_id: request.client_id.clone(), ..WireMeta::default() },
                    to: request.reply_to.clone(),
                    group: request.client_id.clone().unwrap_or_else(|| "asyncmcp".to_owned()),
                    peer: request.peer,
                };
                let key = request.key.clone();
                if reply_id.as_ref() != Some(&key.1) {
                    let purpose = OpPurpose::Message { route: route.clone(), id: message.id().cloned() };
                    return self.try_send(&message, &envelope, purpose, now);
                }
                let token = *token;
                let result = self.answer(route, key, message, envelope, None, now);
                // Answered (maybe by the error that replaced a response too large):
                // the route ends. Refused otherwise: the application may answer again.
                if result.as_ref().map_or_else(is_too_large, |()| true) {
                    self.forget_request(token);
                }
                result
            }
        }
    }

    /// Sends the answer to the request in flight under `key` and keeps it in the
    /// response cache. An answer too large for one message is replaced by an error
    /// naming the size and the limit, so the requester is never left waiting.
    pub(super) fn answer(
        &mut self,
        route: &Route,
        key: InKey,
        message: JsonRpcMessage,
        envelope: Envelope,
        session: Option<SessionId>,
        now: Instant,
    ) -> Result<(), ApiError> {
        let id = key.1.clone();
        let (kinds, sent, outcome) = match self.encode(&message, &envelope, now) {
            Ok(kinds) => (kinds, message, Ok(())),
            Err(ApiError::Unsendable(why)) => {
                let Some(error) = too_large(id.clone(), &why, &envelope.to) else {
                    return Err(ApiError::Unsendable(why));
                };
                (self.encode(&error, &envelope, now)?, error, Err(ApiError::Unsendable(why)))
            }
            Err(e) => return Err(e),
        };
        let cached = Cached {
            message: sent,
            to: envelope.to,
            session,
            client_id: envelope.meta.client_id.clone(),
            peer: envelope.peer,
        };
        self.cache.insert(key.clone(), cached, now);
        if let Some(flight) = self.in_flight.get_mut(&key) {
            flight.answered = true;
        }
        self.deadlines.cancel(&key);
        self.outbox.push(kinds, OpPurpose::Response { key, route: route.clone(), id });
        outcome
    }

    /// Sends an answer the server composed or replays, for messages it holds under
    /// `key` until the answer is sent (then they are deleted) or fails (then they are
    /// left for redelivery and handled again). Held like a running request: a
    /// redelivery meanwhile joins these receipts instead of being taken for a
    /// finished duplicate, and the heartbeat keeps them invisible.
    pub(super) fn answer_held(
        &mut self,
        key: InKey,
        receipts: Vec<Receipt>,
        message: &JsonRpcMessage,
        envelope: &Envelope,
        now: Instant,
    ) {
        let id = key.1.clone();
        let kinds = match self.encode(message, envelope, now) {
            Ok(kinds) => kinds,
            Err(e) => {
                // Nothing this server composes is unsendable; if it were, SQS decides.
                self.unfinished(&receipts, now);
                self.events.push_back(ServerEvent::SendFailed {
                    route: Route::Detached,
                    id: Some(id),
                    error: e.into(),
                });
                return;
            }
        };
        if !receipts.is_empty() {
            self.heartbeats.set(key.clone(), now + self.first_heartbeat());
        }
        let flight = InFlight { receipts, acked: false, route: Route::Detached, answered: true, hold: Hold::No };
        self.in_flight.insert(key.clone(), flight);
        self.outbox.push(kinds, OpPurpose::Response { key, route: Route::Detached, id });
    }

    pub(super) fn encode(
        &mut self,
        message: &JsonRpcMessage,
        envelope: &Envelope,
        now: Instant,
    ) -> Result<Vec<OpKind>, ApiError> {
        let room = Room {
            budget: budget(&self.config.common, self.budgets.resource(&envelope.to), envelope.peer.max_bytes),
            peer: envelope.peer,
        };
        self.outbound.sends(
            &self.config.common,
            message,
            envelope.meta.clone(),
            &envelope.to,
            &envelope.group,
            room,
            &mut self.rng,
            now,
        )
    }

    pub(super) fn try_send(
        &mut self,
        message: &JsonRpcMessage,
        envelope: &Envelope,
        purpose: OpPurpose,
        now: Instant,
    ) -> Result<(), ApiError> {
        let kinds = self.encode(message, envelope, now)?;
        self.outbox.push(kinds, purpose);
        Ok(())
    }

    /// A request the server will not run: answered with a JSON-RPC error carrying its
    /// id when it names a reply address the allow-list accepts (its live session's,
    /// else `ReplyTo`), and deleted once that answer is sent; otherwise rejected per
    /// `disposition`.
    pub(super) fn refuse(
        &mut self,
        receipts: Vec<Receipt>,
        reason: RejectReason,
        id: RequestId,
        meta: &WireMeta,
        disposition: Disposition,
        now: Instant,
    ) {
        let session = meta.session_id.as_ref().and_then(|s| Some((s.clone(), self.sessions.get(s)?.reply_to.clone())));
        let to = match &session {
            Some((_, to)) => Some(to.clone()),
            None => meta.reply_to.clone(),
        };
        let Some(to) = to.filter(|a| self.allowed(a)) else {
            return self.reject(receipts, reason, disposition, now);
        };
        let error = crate::inbox::refusal(&reason, id.clone());
        let session_id = session.map(|(s, _)| s);
        let group = session_id.as_ref().map_or_else(|| "asyncmcp".to_owned(), SessionId::to_string);
        let reply_meta = WireMeta { session_id, client_id: meta.client_id.clone(), ..WireMeta::default() };
        let key = (Peer::Refused(first_message_id(&receipts)), id);
        let envelope = Envelope { meta: reply_meta, to, group, peer: PeerTakes::from_ext(&meta.ext) };
        self.answer_held(key, receipts.clone(), &error, &envelope, now);
        // Deleted once the answer is sent; left for redelivery if it cannot be.
        for r in receipts {
            self.events.push_back(ServerEvent::Rejected(Rejection {
                message_id: r.message_id,
                reason: reason.clone(),
                fate: QueueOutcome::Deleted,
            }));
        }
    }

    pub(super) fn reject(
        &mut self,
        receipts: Vec<Receipt>,
        reason: RejectReason,
        disposition: Disposition,
        now: Instant,
    ) {
        if disposition == Disposition::LeaveForRedrive {
            // Each redelivery is rejected again (until the redrive policy moves it),
            // not deleted as a duplicate.
            self.unfinished(&receipts, now);
        }
        let (doomed, rejections) = rejections(receipts, &reason, disposition);
        for r in &doomed {
            self.delete(r);
        }
        self.events.extend(rejections.into_iter().map(ServerEvent::Rejected));
    }

    pub(super) fn delete(&mut self, r: &Receipt) {
        let kind =
            OpKind::Delete { queue_url: self.config.queue_url.clone(), receipt_handle: r.receipt_handle.clone() };
        self.outbox.push(vec![kind], OpPurpose::Delete { message_id: r.message_id.clone() });
    }

    pub(super) fn change_visibility(&mut self, r: &Receipt, secs: u32) {
        let kind = OpKind::ChangeVisibility {
            queue_url: self.config.queue_url.clone(),
            receipt_handle: r.receipt_handle.clone(),
            timeout_secs: secs,
        };
        self.outbox.push(vec![kind], OpPurpose::Visibility);
    }
}
