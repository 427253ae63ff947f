//! Requests in flight, and the response cache that answers their redeliveries.

use super::*;

#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) receipts: Vec<Receipt>,
    pub(super) acked: bool,
    pub(super) route: Route,
    /// Its answer was submitted and is being sent.
    pub(super) answered: bool,
    /// Kept after its answer, for a task (`held`).
    pub(super) hold: Hold,
}

#[derive(Debug, Clone)]
pub(super) struct Cached {
    pub(super) message: JsonRpcMessage,
    pub(super) to: Address,
    pub(super) session: Option<SessionId>,
    pub(super) client_id: Option<String>,
    /// What the peer said it takes: a replay may need fragments as the first send did.
    pub(super) peer: PeerTakes,
}

impl Server {
    /// Ends request `id` on `route` without answering it, as MCP asks for a
    /// cancelled request: its message is deleted (unless already acknowledged) and its
    /// route, for a modern request, ends.
    ///
    /// # Errors
    /// [`ApiError::UnknownRoute`] when no such request is running there.
    pub fn abandon(&mut self, route: &Route, id: &RequestId, now: Instant) -> Result<(), ApiError> {
        self.fire_timers(now);
        let unknown = || ApiError::UnknownRoute(format!("{route}, request {id}"));
        let key = match route {
            Route::Request(token) => {
                let request = self.requests.get(token).ok_or_else(unknown)?;
                if request.key.1 != *id {
                    return Err(unknown());
                }
                let key = request.key.clone();
                self.forget_request(*token);
                key
            }
            Route::Session(session_id) => {
                let session = self.sessions.get(session_id).ok_or_else(unknown)?;
                let session_key = (Peer::Session(session_id.clone()), id.clone());
                match &session.opening {
                    Some(opening) if opening.1 == *id && !self.in_flight.contains_key(&session_key) => opening.clone(),
                    _ => session_key,
                }
            }
            Route::Detached => return Err(unknown()),
        };
        let flight = self.in_flight.remove(&key).ok_or_else(unknown)?;
        self.heartbeats.cancel(&key);
        self.deadlines.cancel(&key);
        if !flight.acked {
            for r in &flight.receipts {
                self.delete(r);
            }
        }
        Ok(())
    }

    /// The same SQS message again. While its request runs (and is not acked yet),
    /// keep this receipt beside the others: it may be a redelivery of the same copy
    /// (then only the newest handle deletes it) or a second stored copy (SQS is
    /// at-least-once; then each copy needs its own handle), and deleting with an
    /// outdated handle is harmless. Otherwise it was handled: delete it. (A message
    /// whose handling did not complete, because its answer could not be sent, is
    /// forgotten by the inbox and so is handled again, not taken for a duplicate.)
    pub(super) fn duplicate(&mut self, r: Receipt, now: Instant) {
        let running = self
            .in_flight
            .values_mut()
            .find(|flight| !flight.acked && flight.receipts.iter().any(|o| o.message_id == r.message_id));
        if let Some(flight) = running {
            flight.receipts.push(r);
            return;
        }
        self.reject(vec![r], RejectReason::Duplicate, Disposition::Delete, now);
    }

    /// A request already running or already answered: never run it twice. Returns
    /// true when it was handled here.
    pub(super) fn answer_again(&mut self, key: &InKey, receipts: &[Receipt], now: Instant) -> bool {
        if self.in_flight.contains_key(key) {
            self.reject(receipts.to_vec(), RejectReason::Duplicate, Disposition::Delete, now);
            return true;
        }
        let Some(cached) = self.cache.get(key).cloned() else { return false };
        let meta =
            WireMeta { session_id: cached.session.clone(), client_id: cached.client_id.clone(), ..WireMeta::default() };
        let group =
            cached.session.as_ref().map_or_else(|| cached.client_id.clone().unwrap_or_default(), |s| s.to_string());
        let id = key.1.clone();
        let envelope = Envelope { meta, to: cached.to.clone(), group, peer: cached.peer };
        self.answer_held(key.clone(), receipts.to_vec(), &cached.message, &envelope, now);
        self.events.push_back(ServerEvent::ResponseReplayed { to: cached.to, id });
        true
    }

    /// Handling of these messages did not complete (their answer could not be sent):
    /// the inbox forgets them, so that SQS's redelivery is handled again and answered
    /// from the response cache instead of being deleted as a duplicate.
    pub(super) fn unfinished(&mut self, receipts: &[Receipt], now: Instant) {
        for r in receipts {
            self.inbox.forget(&r.message_id, now);
        }
    }

    /// A request unanswered at its deadline: the application is told to cancel it,
    /// and the requester gets an error in its place.
    pub(super) fn past_deadline(&mut self, key: InKey, now: Instant) {
        let Some(flight) = self.in_flight.get(&key) else { return };
        if flight.answered {
            return;
        }
        let route = flight.route.clone();
        let secs = self.config.request_deadline.as_secs();
        let reason = format!("the server's deadline of {secs} s for this request passed");
        self.events.push_back(ServerEvent::Message { route: route.clone(), message: cancellation(&key.1, &reason) });
        let error = JsonRpcMessage::error(
            key.1.clone(),
            error_codes::REQUEST_TIMEOUT,
            &format!("{reason} before it was answered"),
            Some(serde_json::json!({ "deadlineSeconds": secs })),
        );
        if let Err(e) = self.send_on(&route, error, now) {
            // Nothing can answer it: stop holding it, and let SQS decide (redrive).
            self.events.push_back(ServerEvent::SendFailed { route, id: Some(key.1.clone()), error: e.into() });
            if let Some(flight) = self.in_flight.remove(&key) {
                self.heartbeats.cancel(&key);
                self.unfinished(&flight.receipts, now);
            }
        }
    }

    /// Before the short visibility of the receive (`SharedConfig::receive_visibility`) ends.
    pub(super) fn first_heartbeat(&self) -> std::time::Duration {
        let received = self.config.receive_visibility().unwrap_or(self.config.visibility_timeout);
        received.mul_f64(self.config.heartbeat_fraction)
    }

    pub(super) fn heartbeat_interval(&self) -> std::time::Duration {
        self.config.visibility_timeout.mul_f64(self.config.heartbeat_fraction)
    }

    /// Extends the visibility of each running request whose heartbeat is due, so
    /// that SQS does not hand it to another worker while it runs.
    pub(super) fn fire_heartbeats(&mut self, now: Instant) {
        while let Some(key) = self.heartbeats.pop_due(now) {
            let receipts = match self.in_flight.get(&key) {
                Some(flight) if !flight.acked => flight.receipts.clone(),
                _ => continue,
            };
            let secs = u32::try_from(self.config.visibility_timeout.as_secs()).unwrap_or(43_200);
            for r in &receipts {
                self.change_visibility(r, secs);
            }
            self.heartbeats.set(key, now + self.heartbeat_interval());
        }
    }
}
