//! Requests answered and still held: a task's request message stays on the queue,
//! hidden by heartbeats, until the task ends (`docs/binding.md` 13.1: the request
//! queue is the durable work list).

use super::*;

/// A request whose answer was submitted with
/// [`Server::submit_and_hold`](crate::Server::submit_and_hold) and whose queue
/// message the server still holds: its visibility is extended by heartbeats until
/// [`Server::finish_held`](crate::Server::finish_held) deletes it or
/// [`Server::release_held`](crate::Server::release_held) hands it back to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRequest(InKey);

/// How far a held request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hold {
    /// An ordinary request: deleted once its answer is sent.
    No,
    /// Answered (`sent` once the answer left) and kept until the task ends.
    Held { sent: bool },
    /// The task ended before its answer left: delete once it has.
    Finishing,
}

impl Server {
    /// The identity under which this server deduplicates request `id` delivered on
    /// `route`, as text: the ORIGIN of a task id (`docs/binding.md` 13.2). A
    /// redelivered copy of the same request has the same origin on any replica, so
    /// the replica that receives it finds the task in the store. `None` when no such
    /// request is running there.
    ///
    /// Stateless requests (2026-07-28) are named by `ClientId`, `ReplyTo`, a
    /// fingerprint of the message and the JSON-RPC id; session requests by the
    /// session and the JSON-RPC id.
    #[must_use]
    pub fn request_origin(&self, route: &Route, id: &RequestId) -> Option<String> {
        let key = self.running_key(route, id)?;
        let id = match &key.1 {
            RequestId::Number(n) => format!("n{n}"),
            RequestId::String(s) => format!("s{s}"),
            RequestId::Null => "null".to_owned(),
        };
        Some(match &key.0 {
            Peer::Stateless { client_id, reply_to, fingerprint } => {
                format!("q|{}|{reply_to}|{fingerprint:016x}|{id}", client_id.as_deref().unwrap_or(""))
            }
            Peer::Session(session) => format!("s|{session}|{id}"),
            Peer::Opening(message_id) | Peer::Refused(message_id) => format!("m|{message_id}|{id}"),
        })
    }

    /// Answers request `id` on `route` as [`submit`](Self::submit) does, but keeps its
    /// queue message: once the answer is sent, the message is neither deleted nor
    /// released, and heartbeats keep it hidden until [`finish_held`](Self::finish_held)
    /// (the task ended: delete it) or [`release_held`](Self::release_held) (let
    /// another worker have it). The answer goes to the response cache as usual, so a
    /// redelivery after the task ended is answered again, never run. This is how a
    /// `tools/call` answered with a task keeps its work on the queue: a worker that
    /// dies leaves it to be redelivered.
    ///
    /// With [`AckPolicy::OnDelivery`] the message is gone already and nothing is held.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] when request `id` is not running on `route`;
    /// otherwise as [`submit`](Self::submit) (nothing is held then).
    pub fn submit_and_hold(
        &mut self,
        route: &Route,
        message: JsonRpcMessage,
        now: Instant,
    ) -> Result<HeldRequest, ApiError> {
        self.fire_timers(now);
        let unknown = || ApiError::UnknownRoute(format!("{route}: no such running request to hold"));
        let id = message.id().cloned().filter(|_| message.kind().is_reply()).ok_or_else(unknown)?;
        let key = self.running_key(route, &id).ok_or_else(unknown)?;
        self.send_on(route, message, now)?;
        if let Some(flight) = self.in_flight.get_mut(&key) {
            flight.hold = Hold::Held { sent: false };
        }
        Ok(HeldRequest(key))
    }

    /// The task of a held request ended: its message is deleted (once its answer is
    /// sent, if it is still being sent). Harmless when the request is no longer held
    /// (its answer failed and it was left for redelivery, or the server closed).
    pub fn finish_held(&mut self, held: &HeldRequest, now: Instant) {
        self.fire_timers(now);
        let Some(flight) = self.in_flight.get_mut(&held.0) else { return };
        match flight.hold {
            Hold::Held { sent: false } => flight.hold = Hold::Finishing,
            Hold::Held { sent: true } => {
                self.heartbeats.cancel(&held.0);
                if let Some(flight) = self.in_flight.remove(&held.0)
                    && !flight.acked
                {
                    for r in &flight.receipts {
                        self.delete(r);
                    }
                }
            }
            Hold::No | Hold::Finishing => {}
        }
    }

    /// Gives a held request back to the queue (visibility 0) and forgets its answer,
    /// so that it is delivered again, here or to another worker, and handled anew:
    /// for a task this worker will not run (another worker holds its lease). Harmless
    /// when the request is no longer held.
    pub fn release_held(&mut self, held: &HeldRequest, now: Instant) {
        self.fire_timers(now);
        if !self.in_flight.get(&held.0).is_some_and(|f| f.hold != Hold::No) {
            return;
        }
        self.heartbeats.cancel(&held.0);
        self.deadlines.cancel(&held.0);
        self.cache.remove(&held.0);
        if let Some(flight) = self.in_flight.remove(&held.0)
            && !flight.acked
        {
            for r in &flight.receipts {
                self.change_visibility(r, 0);
            }
            self.unfinished(&flight.receipts, now);
        }
    }

    /// Requests held for tasks.
    #[must_use]
    pub fn held(&self) -> usize {
        self.in_flight.values().filter(|f| f.hold != Hold::No).count()
    }

    /// The answer to a held request was sent: true when it stays held (nothing to
    /// delete yet).
    pub(super) fn keep_held(&mut self, key: &InKey) -> bool {
        match self.in_flight.get_mut(key) {
            Some(flight) if matches!(flight.hold, Hold::Held { .. }) => {
                flight.hold = Hold::Held { sent: true };
                true
            }
            _ => false,
        }
    }

    /// The key of request `id` running on `route`.
    fn running_key(&self, route: &Route, id: &RequestId) -> Option<InKey> {
        let key = match route {
            Route::Request(token) => {
                let request = self.requests.get(token)?;
                (request.key.1 == *id).then(|| request.key.clone())?
            }
            Route::Session(session_id) => {
                let session = self.sessions.get(session_id)?;
                let key = (Peer::Session(session_id.clone()), id.clone());
                match &session.opening {
                    Some(opening) if opening.1 == *id && !self.in_flight.contains_key(&key) => opening.clone(),
                    _ => key,
                }
            }
            Route::Detached => return None,
        };
        self.in_flight.get(&key).filter(|f| !f.answered).map(|_| key)
    }
}
