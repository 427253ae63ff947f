//! The broker: queues, topics, subscriptions and the operations on them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::config::{QueueOptions, SimConfig};
use super::envelope::envelope;
use super::faults::{draw_delay, uuid};
use super::limits::{MAX_PUBLISH_BYTES, MAX_VISIBILITY_SECS, check_body_text, check_message, message_size};
use super::queue::{DedupKey, Queue, Receipt, State, Stored};
use super::stats::{QueueDepth, SimStats};
use super::topic::{Subscription, Topic};
use crate::address::Address;
use crate::attributes::Attributes;
use crate::error::{FailureKind, OpFailure};
use crate::inbound::InboundMessage;
use crate::op::{OpKind, OpResult, QueueOp, SendOp};
use crate::rng::Rng;
use crate::timers::Timers;

/// A deterministic in-memory SQS and SNS. See the [module docs](super) for what it
/// models.
///
/// Method families, as in the rest of the crate: set-up (`create_queue`,
/// `create_topic`, `subscribe`), input (`handle_op`, `handle_timeout`), output
/// (`poll_delivery`, `receive`, `poll_timeout`) and getters (`queue_depth`,
/// `stats`). Every call that takes `now` first makes visible what became visible by
/// then, so calling `handle_timeout` is never required, only allowed.
#[derive(Debug, Clone)]
pub struct Broker {
    config: SimConfig,
    start: Instant,
    /// Message ids, receipt handles, subscription ids.
    ids: Rng,
    /// Every fault decision; separate so that faults do not shift the ids.
    chaos: Rng,
    queues: Vec<Queue>,
    queue_index: BTreeMap<String, usize>,
    topics: BTreeMap<String, Topic>,
    /// Delay ends and visibility deadlines, by (queue index, sequence number).
    timers: Timers<(usize, u64)>,
    next_seq: u64,
    stats: SimStats,
    /// Destinations (queue URLs, topic ARNs) that cannot be reached until an instant.
    unreachable: BTreeMap<String, Instant>,
}

impl Broker {
    /// A broker with no queues or topics. `now` is the instant at which the simulated
    /// wall clock reads `config.start_unix_millis`; every output follows from `seed`
    /// and the inputs.
    pub fn new(config: SimConfig, now: Instant, seed: [u8; 32]) -> Self {
        let mut root = Rng::from_seed(seed);
        let ids = root.fork();
        let chaos = root.fork();
        Self {
            config,
            start: now,
            ids,
            chaos,
            queues: Vec::new(),
            queue_index: BTreeMap::new(),
            topics: BTreeMap::new(),
            timers: Timers::default(),
            next_seq: 0,
            stats: SimStats::default(),
            unreachable: BTreeMap::new(),
        }
    }

    /// The configuration given to [`new`](Self::new).
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The simulated wall clock at `now`, in Unix milliseconds (`SentTimestamp`).
    pub fn unix_millis(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start).as_millis();
        self.config.start_unix_millis.saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    /// Creates a queue and returns its URL, `{endpoint}/{account}/{name}`. A name
    /// ending in `.fifo` makes a FIFO queue. Idempotent: creating an existing queue
    /// returns its URL and keeps its original options.
    pub fn create_queue(&mut self, name: &str, options: QueueOptions) -> String {
        let url = format!("{}/{}/{}", self.config.endpoint.trim_end_matches('/'), self.config.account, name);
        if !self.queue_index.contains_key(&url) {
            self.queue_index.insert(url.clone(), self.queues.len());
            self.queues.push(Queue::new(name.ends_with(".fifo"), options));
        }
        url
    }

    /// Creates a topic and returns its ARN, `arn:aws:sns:{region}:{account}:{name}`.
    /// A name ending in `.fifo` makes a FIFO topic. Idempotent.
    pub fn create_topic(&mut self, name: &str) -> String {
        let arn = format!("arn:aws:sns:{}:{}:{}", self.config.region, self.config.account, name);
        self.topics.entry(arn.clone()).or_insert_with(|| Topic::new(name.ends_with(".fifo")));
        arn
    }

    /// Subscribes a queue to a topic and returns the subscription ARN. With
    /// `raw_delivery` the queue receives the published body and attributes as they
    /// are; without, an SNS envelope (see [`sns_envelope`](super::sns_envelope)).
    /// Subscribing the same pair again returns the same ARN.
    ///
    /// # Errors
    /// A fatal [`OpFailure`] when the topic or queue does not exist, when one is FIFO
    /// and the other not, or when the pair is already subscribed with the other
    /// delivery mode.
    pub fn subscribe(&mut self, topic_arn: &str, queue_url: &str, raw_delivery: bool) -> Result<String, OpFailure> {
        let queue_fifo = self.queue(queue_url)?.fifo;
        let Some(topic) = self.topics.get_mut(topic_arn) else {
            return Err(no_such_topic(topic_arn));
        };
        if topic.fifo != queue_fifo {
            return Err(OpFailure::new(
                FailureKind::Invalid,
                format!(
                    "InvalidParameter: cannot subscribe {queue_url} to {topic_arn}: a FIFO topic takes only FIFO \
                 queues and a standard topic only standard queues"
                ),
            ));
        }
        if let Some(existing) = topic.subscriptions.iter().find(|s| s.queue_url == queue_url) {
            if existing.raw == raw_delivery {
                return Ok(existing.arn.clone());
            }
            return Err(OpFailure::new(
                FailureKind::Invalid,
                format!(
                    "InvalidParameter: {queue_url} is already subscribed to {topic_arn} with raw delivery {}",
                    if existing.raw { "on" } else { "off" }
                ),
            ));
        }
        let arn = format!("{topic_arn}:{}", uuid(&mut self.ids));
        topic.subscriptions.push(Subscription { arn: arn.clone(), queue_url: queue_url.to_owned(), raw: raw_delivery });
        Ok(arn)
    }

    /// Performs one operation, as SQS or SNS would answer it at `now`.
    ///
    /// Injected faults come first: `Faults::throttle` fails any op, then
    /// `Faults::send_failure` fails a send, both retryable and without effect.
    pub fn handle_op(&mut self, op: &QueueOp, now: Instant) -> OpResult {
        self.handle_timeout(now);
        if self.chaos.chance(self.config.faults.throttle) {
            self.stats.failures_injected += 1;
            return OpResult::Failed(OpFailure::new(
                FailureKind::Throttled,
                format!("Throttling: rate exceeded for op {} (injected by the simulator; nothing was done)", op.id.0),
            ));
        }
        if let Some(target) = self.unreachable_target(&op.kind, now) {
            self.stats.failures_injected += 1;
            return OpResult::Failed(OpFailure::new(
                FailureKind::Unreachable,
                format!("could not reach {target} (unreachable until a set instant, injected by the simulator)"),
            ));
        }
        let result = match &op.kind {
            OpKind::Send(send) => self.send(send, now),
            OpKind::Delete { queue_url, receipt_handle } => self.delete(queue_url, receipt_handle),
            OpKind::ChangeVisibility { queue_url, receipt_handle, timeout_secs } => {
                self.change_visibility(queue_url, receipt_handle, *timeout_secs, now)
            }
        };
        result.into()
    }

    /// Makes `destination` (a queue URL or a topic ARN) unreachable until `until`:
    /// every operation on it fails with a retryable error and has no effect, and
    /// nothing can be received from it, as when a queue is briefly missing or a
    /// network path is down. An instant in the past makes it reachable again.
    pub fn set_unreachable(&mut self, destination: &str, until: Instant) {
        self.unreachable.insert(destination.to_owned(), until);
    }

    fn unreachable_target(&mut self, kind: &OpKind, now: Instant) -> Option<String> {
        self.unreachable.retain(|_, until| *until > now);
        let target = match kind {
            OpKind::Send(send) => send.to.as_str(),
            OpKind::Delete { queue_url, .. } | OpKind::ChangeVisibility { queue_url, .. } => queue_url.as_str(),
        };
        self.unreachable.contains_key(target).then(|| target.to_owned())
    }

    /// Receives one visible message from the queue, which is then in flight until
    /// `now` plus the queue's visibility timeout, with a fresh receipt handle. `None`
    /// when nothing is visible (or the queue does not exist).
    ///
    /// A message that would exceed its queue's redrive `max_receive_count` is moved to
    /// the dead-letter queue instead, and the next candidate is tried.
    #[must_use]
    pub fn poll_delivery(&mut self, queue_url: &str, now: Instant) -> Option<InboundMessage> {
        self.poll_delivery_for(queue_url, None, now)
    }

    /// As [`poll_delivery`](Self::poll_delivery), the message in flight for
    /// `visibility` when given (`ReceiveMessage`'s `VisibilityTimeout` parameter)
    /// instead of the queue's visibility timeout.
    #[must_use]
    pub fn poll_delivery_for(
        &mut self,
        queue_url: &str,
        visibility: Option<Duration>,
        now: Instant,
    ) -> Option<InboundMessage> {
        self.handle_timeout(now);
        if self.unreachable.get(queue_url).is_some_and(|until| *until > now) {
            return None;
        }
        let qid = *self.queue_index.get(queue_url)?;
        // Each round delivers or moves one message out of this queue, so it ends.
        loop {
            let queue = self.queues.get(qid)?;
            let reorder = !queue.fifo && self.config.faults.reorder;
            let seq = queue.pick(if reorder { Some(&mut self.chaos) } else { None })?;
            let stored = queue.get(seq)?;
            if let Some(redrive) = &queue.options.redrive
                && stored.receive_count >= redrive.max_receive_count
                && let Some(&dlq) = self.queue_index.get(&redrive.dead_letter_queue_url)
                && dlq != qid
            {
                self.move_to_dead_letter_queue(qid, seq, dlq);
                continue;
            }
            let receipt =
                format!("{}#{}-{}", stored.message_id, stored.receive_count.saturating_add(1), self.ids.hex128());
            let visibility = visibility.unwrap_or(queue.options.visibility_timeout);
            let stored = self.queues.get_mut(qid)?.mark_in_flight(seq, receipt.clone())?;
            let message = InboundMessage {
                message_id: stored.message_id.clone(),
                receipt_handle: receipt,
                body: stored.body.clone(),
                attributes: stored.attributes.clone(),
                receive_count: stored.receive_count,
                sent_timestamp_ms: Some(stored.sent_timestamp_ms),
                offload: None,
            };
            self.timers.set((qid, seq), now.checked_add(visibility).unwrap_or(now));
            self.stats.receives += 1;
            return Some(message);
        }
    }

    /// `ReceiveMessage` without waiting: up to `max` messages (clamped to SQS's
    /// 1..=10; 0 gives none), each as [`poll_delivery`](Self::poll_delivery) gives them.
    /// A FIFO queue gives at most one message per group per call.
    pub fn receive(&mut self, queue_url: &str, max: usize, now: Instant) -> Vec<InboundMessage> {
        self.receive_for(queue_url, max, None, now)
    }

    /// As [`receive`](Self::receive), each message in flight for `visibility` when
    /// given instead of the queue's visibility timeout.
    pub fn receive_for(
        &mut self,
        queue_url: &str,
        max: usize,
        visibility: Option<Duration>,
        now: Instant,
    ) -> Vec<InboundMessage> {
        (0..max.min(10)).map_while(|_| self.poll_delivery_for(queue_url, visibility, now)).collect()
    }

    /// Makes visible every message whose delay or visibility timeout ended by `now`.
    /// Every other call taking `now` does this first; calling it spuriously is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.unreachable.retain(|_, until| *until > now);
        while let Some((qid, seq)) = self.timers.pop_due(now) {
            if let Some(queue) = self.queues.get_mut(qid) {
                queue.make_visible(seq);
            }
        }
    }

    /// The next instant at which a message becomes visible (a delay ends or a
    /// visibility timeout expires) or an unreachable destination comes back, in
    /// O(log n). After `handle_timeout(t)` it is
    /// `None` or later than `t`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // A destination coming back counts: a receive from it may move again then.
        // (Few destinations are ever unreachable at once: the scan stays short.)
        let back = self.unreachable.values().min().copied();
        [self.timers.next(), back].into_iter().flatten().min()
    }

    /// The largest message `destination` accepts, as `GetQueueAttributes` or
    /// `GetTopicAttributes` report `MaximumMessageSize`: a queue's
    /// [`QueueOptions::max_message_bytes`], 262 144 for a topic. `None` for an
    /// unknown queue or topic.
    pub fn max_message_bytes(&self, destination: &str) -> Option<usize> {
        if self.topics.contains_key(destination) {
            return Some(MAX_PUBLISH_BYTES);
        }
        let qid = *self.queue_index.get(destination)?;
        Some(self.queues.get(qid)?.options.max_message_bytes)
    }

    /// How many messages the queue holds, by state, as of the last call that took
    /// `now`. `None` for an unknown queue.
    pub fn queue_depth(&self, queue_url: &str) -> Option<QueueDepth> {
        let qid = *self.queue_index.get(queue_url)?;
        self.queues.get(qid).map(Queue::depth)
    }

    /// What the broker has done so far.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    fn queue(&self, url: &str) -> Result<&Queue, OpFailure> {
        self.queue_index.get(url).and_then(|qid| self.queues.get(*qid)).ok_or_else(|| no_such_queue(url))
    }

    fn queue_id(&self, url: &str) -> Result<usize, OpFailure> {
        self.queue_index.get(url).copied().ok_or_else(|| no_such_queue(url))
    }

    fn send(&mut self, send: &SendOp, now: Instant) -> Result<(), OpFailure> {
        if self.chaos.chance(self.config.faults.send_failure) {
            self.stats.failures_injected += 1;
            return Err(OpFailure::new(
                FailureKind::Transient,
                format!("InternalError: send to {} failed (injected by the simulator; nothing was stored)", send.to),
            ));
        }
        match &send.to {
            Address::Queue(url) => self.send_message(url, send, now),
            Address::Topic(arn) => self.publish(arn, send, now),
        }
    }

    /// `SendMessage`.
    fn send_message(&mut self, url: &str, send: &SendOp, now: Instant) -> Result<(), OpFailure> {
        let qid = self.queue_id(url)?;
        let queue = self.queue(url)?;
        let destination = format!("queue {url}");
        check_body_text(&send.body, &destination)?;
        check_message(&send.body, &send.attributes, queue.options.max_message_bytes, &destination)?;
        let (group_id, dedup) = if queue.fifo {
            let group = fifo_group(send, &destination)?;
            let dedup = match &send.dedup_id {
                Some(id) if !id.is_empty() => DedupKey::Id(id.clone()),
                _ if queue.options.content_based_deduplication => DedupKey::Content(send.body.clone()),
                _ => {
                    return Err(OpFailure::new(
                        FailureKind::Invalid,
                        format!(
                            "InvalidParameterValue: FIFO {destination} needs a MessageDeduplicationId \
                         (or content-based deduplication enabled)"
                        ),
                    ));
                }
            };
            (Some(group), Some(dedup))
        } else {
            // Standard queues ignore FIFO parameters here; AWS would refuse a dedup id.
            (None, None)
        };
        self.stats.sends += 1;
        self.store(qid, send.body.clone(), send.attributes.clone(), group_id, dedup, now);
        Ok(())
    }

    /// `Publish`: fans out to every subscribed queue, in subscription order.
    fn publish(&mut self, arn: &str, send: &SendOp, now: Instant) -> Result<(), OpFailure> {
        let Some(topic) = self.topics.get(arn) else {
            return Err(no_such_topic(arn));
        };
        let destination = format!("topic {arn}");
        check_body_text(&send.body, &destination)?;
        check_message(&send.body, &send.attributes, MAX_PUBLISH_BYTES, &destination)?;
        let fifo = if topic.fifo {
            let group = fifo_group(send, &destination)?;
            let Some(dedup) = send.dedup_id.clone().filter(|d| !d.is_empty()) else {
                return Err(OpFailure::new(
                    FailureKind::Invalid,
                    format!("InvalidParameter: FIFO {destination} needs a MessageDeduplicationId"),
                ));
            };
            Some((group, dedup))
        } else {
            None
        };
        let subscriptions = topic.subscriptions.clone();
        self.stats.publishes += 1;
        let notification_id = uuid(&mut self.ids);
        let unix_millis = self.unix_millis(now);
        // check_body_text accepted it, so this is the text itself.
        let text = String::from_utf8_lossy(&send.body);
        for subscription in subscriptions {
            let Some((qid, limit)) = self
                .queue_index
                .get(&subscription.queue_url)
                .and_then(|qid| Some((*qid, self.queues.get(*qid)?.options.max_message_bytes)))
            else {
                self.stats.dropped_deliveries += 1;
                continue;
            };
            let (body, attributes) = if subscription.raw {
                (send.body.clone(), send.attributes.clone())
            } else {
                let body = envelope(arn, &subscription.arn, &notification_id, &text, &send.attributes, unix_millis);
                (Bytes::from(body), Attributes::new())
            };
            if message_size(&body, &attributes) > limit {
                // AWS would hand it to the subscription's dead-letter queue, if any.
                self.stats.dropped_deliveries += 1;
                continue;
            }
            let (group_id, dedup) = match &fifo {
                Some((group, dedup)) => (Some(group.clone()), Some(DedupKey::Id(dedup.clone()))),
                None => (None, None),
            };
            self.store(qid, body, attributes, group_id, dedup, now);
        }
        Ok(())
    }

    /// Stores an accepted message: FIFO deduplication, then the injected faults.
    fn store(
        &mut self,
        qid: usize,
        body: Bytes,
        attributes: Attributes,
        group_id: Option<String>,
        dedup: Option<DedupKey>,
        now: Instant,
    ) {
        let Some(queue) = self.queues.get_mut(qid) else {
            return;
        };
        if let Some(key) = dedup
            && queue.check_dedup(key, now)
        {
            self.stats.deduplicated += 1;
            return;
        }
        let fifo = queue.fifo;
        let message_id = uuid(&mut self.ids);
        let sent_timestamp_ms = self.unix_millis(now);
        let copies = if !fifo && self.chaos.chance(self.config.faults.duplicate) {
            self.stats.duplicates_injected += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = draw_delay(&mut self.chaos, self.config.faults.max_delay);
            let stored =
                Stored::new(message_id.clone(), body.clone(), attributes.clone(), sent_timestamp_ms, group_id.clone());
            self.insert(qid, stored, delay, now);
        }
    }

    fn insert(&mut self, qid: usize, stored: Stored, delay: Duration, now: Instant) {
        let Some(queue) = self.queues.get_mut(qid) else {
            return;
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        queue.insert(seq, stored, !delay.is_zero());
        if !delay.is_zero() {
            self.timers.set((qid, seq), now.checked_add(delay).unwrap_or(now));
        }
    }

    /// Moves a copy to the dead-letter queue, visible at once, keeping its message id,
    /// body, attributes, `SentTimestamp` and receive count.
    fn move_to_dead_letter_queue(&mut self, qid: usize, seq: u64, dlq: usize) {
        self.timers.cancel(&(qid, seq));
        let Some(old) = self.queues.get_mut(qid).and_then(|q| q.remove(seq)) else {
            return;
        };
        let mut stored = Stored::new(old.message_id, old.body, old.attributes, old.sent_timestamp_ms, old.group_id);
        stored.receive_count = old.receive_count;
        self.stats.redrives += 1;
        // `insert` with no delay arms no timer, so `now` is never read.
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(queue) = self.queues.get_mut(dlq) {
            queue.insert(seq, stored, false);
        }
    }

    /// `DeleteMessage`.
    fn delete(&mut self, url: &str, handle: &str) -> Result<(), OpFailure> {
        let qid = self.queue_id(url)?;
        let Some(queue) = self.queues.get_mut(qid) else {
            return Err(no_such_queue(url));
        };
        match queue.lookup_receipt(handle) {
            None => Err(invalid_receipt(url, handle)),
            Some(Receipt::Stale(_)) => {
                // SQS answers success for an outdated handle but keeps the message.
                self.stats.stale_deletes += 1;
                Ok(())
            }
            Some(Receipt::Current(seq, _)) => {
                queue.remove(seq);
                self.timers.cancel(&(qid, seq));
                self.stats.deletes += 1;
                Ok(())
            }
        }
    }

    /// `ChangeMessageVisibility`.
    fn change_visibility(&mut self, url: &str, handle: &str, timeout_secs: u32, now: Instant) -> Result<(), OpFailure> {
        if timeout_secs > MAX_VISIBILITY_SECS {
            return Err(OpFailure::new(
                FailureKind::Invalid,
                format!(
                    "InvalidParameterValue: visibility timeout of {timeout_secs} s for {url} exceeds the maximum of \
                 {MAX_VISIBILITY_SECS} s (12 hours)"
                ),
            ));
        }
        let qid = self.queue_id(url)?;
        let Some(queue) = self.queues.get_mut(qid) else {
            return Err(no_such_queue(url));
        };
        match queue.lookup_receipt(handle) {
            None => Err(invalid_receipt(url, handle)),
            Some(Receipt::Stale(_)) => Err(OpFailure::new(
                FailureKind::StaleReceipt,
                format!(
                    "InvalidParameterValue: receipt handle {handle} for {url} is outdated: the message was received \
                 again since"
                ),
            )),
            Some(Receipt::Current(_, state)) if state != State::InFlight => Err(OpFailure::new(
                FailureKind::StaleReceipt,
                format!(
                    "MessageNotInflight: the message of receipt handle {handle} in {url} is not in flight \
                 (its visibility timeout expired)"
                ),
            )),
            Some(Receipt::Current(seq, _)) => {
                if timeout_secs == 0 {
                    self.timers.cancel(&(qid, seq));
                    queue.release(seq);
                } else {
                    let at = now.checked_add(Duration::from_secs(u64::from(timeout_secs))).unwrap_or(now);
                    self.timers.set((qid, seq), at);
                }
                self.stats.visibility_changes += 1;
                Ok(())
            }
        }
    }
}

fn fifo_group(send: &SendOp, destination: &str) -> Result<String, OpFailure> {
    match &send.group_id {
        Some(group) if !group.is_empty() => Ok(group.clone()),
        _ => Err(OpFailure::new(
            FailureKind::Invalid,
            format!("InvalidParameterValue: MessageGroupId is required for FIFO {destination}"),
        )),
    }
}

fn no_such_queue(url: &str) -> OpFailure {
    OpFailure::new(
        FailureKind::NotFound,
        format!(
            "AWS.SimpleQueueService.NonExistentQueue: queue {url} does not exist: create it first \
         (Broker::create_queue) or check the URL"
        ),
    )
}

fn no_such_topic(arn: &str) -> OpFailure {
    OpFailure::new(
        FailureKind::NotFound,
        format!("NotFound: topic {arn} does not exist: create it first (Broker::create_topic) or check the ARN"),
    )
}

fn invalid_receipt(url: &str, handle: &str) -> OpFailure {
    OpFailure::new(
        FailureKind::StaleReceipt,
        format!(
            "ReceiptHandleIsInvalid: receipt handle {handle} is not valid for {url} (the message was deleted, \
         or this queue never issued the handle)"
        ),
    )
}
