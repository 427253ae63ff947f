//! Shared helpers for asyncmcp's cross-crate tests: a base instant, the topologies
//! to parametrize over, a checked driver for [`Pair`], and event filters.
#![forbid(unsafe_code)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod adapter;
pub mod fault_rig;
pub mod moto;
pub mod moto_rig;
pub mod python;
pub mod relay;
pub mod task_store_contract;

use std::time::Instant;

use asyncmcp_proto::sim::{Pair, QueueDepth, Topology};
use asyncmcp_proto::{ClientEvent, JsonRpcMessage, MessageKind, QueueOp, RejectReason, RequestId, Route, ServerEvent};

/// The base instant of a simulation: the only clock read of a test. Everything after
/// it is simulated time.
#[allow(clippy::disallowed_methods)]
pub fn t0() -> Instant {
    Instant::now()
}

/// Every topology: plain SQS, SNS to SQS with envelopes, SNS to SQS with raw delivery.
pub const TOPOLOGIES: [Topology; 3] =
    [Topology::Sqs, Topology::SnsSqs { raw_delivery: false }, Topology::SnsSqs { raw_delivery: true }];

/// The topologies whose size budgets differ: plain SQS and SNS envelopes.
pub const SIZE_TOPOLOGIES: [Topology; 2] = [Topology::Sqs, Topology::SnsSqs { raw_delivery: false }];

/// What [`step_checked`] saw: every op it drove by hand, and every broken timer invariant.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Ops drained from the client, in order.
    pub client_ops: Vec<QueueOp>,
    /// Ops drained from the server, in order.
    pub server_ops: Vec<QueueOp>,
    /// "after handle_timeout(t), poll_timeout is None or later than t" violations.
    pub timer_violations: Vec<String>,
    /// Timer firings checked.
    pub timer_firings: usize,
}

/// Performs the client's and the server's pending ops ([`Pair::perform_ops`]) and
/// copies every op the pair logged since the last call into `rec`; true if any op
/// moved.
pub fn drain_ops(pair: &mut Pair, rec: &mut Recorder) -> bool {
    let moved = pair.perform_ops();
    sync_ops(pair, rec);
    moved
}

/// Copies the ops the pair logged since the last call into `rec`.
fn sync_ops(pair: &Pair, rec: &mut Recorder) {
    rec.client_ops.extend_from_slice(pair.client_ops.get(rec.client_ops.len()..).unwrap_or_default());
    rec.server_ops.extend_from_slice(pair.server_ops.get(rec.server_ops.len()..).unwrap_or_default());
}

/// Like [`Pair::step`], but records the ops it drives and checks, after every timer
/// firing, that each endpoint's next deadline moved past `now`.
pub fn step_checked(pair: &mut Pair, rec: &mut Recorder) -> bool {
    let drained = drain_ops(pair, rec);
    let pumped = pair.pump();
    sync_ops(pair, rec);
    if pumped || drained {
        return true;
    }
    let Some(next) = pair.next_deadline() else { return false };
    pair.now = pair.now.max(next);
    let now = pair.now;
    pair.client.handle_timeout(now);
    if let Some(t) = pair.client.poll_timeout()
        && t <= now
    {
        rec.timer_violations.push(format!("client deadline {:?} did not move past now", now.duration_since(t)));
    }
    pair.server.handle_timeout(now);
    if let Some(t) = pair.server.poll_timeout()
        && t <= now
    {
        rec.timer_violations.push(format!("server deadline {:?} did not move past now", now.duration_since(t)));
    }
    pair.broker.handle_timeout(now);
    if let Some(t) = pair.broker.poll_timeout()
        && t <= now
    {
        rec.timer_violations.push(format!("broker deadline {:?} did not move past now", now.duration_since(t)));
    }
    rec.timer_firings += 1;
    true
}

/// Steps with [`step_checked`] until `done` holds or nothing is left to happen, at
/// most `max_steps` times; returns whether `done` holds.
pub fn drive_checked(pair: &mut Pair, rec: &mut Recorder, max_steps: usize, done: impl Fn(&Pair) -> bool) -> bool {
    for _ in 0..max_steps {
        if done(pair) {
            return true;
        }
        if !step_checked(pair, rec) {
            break;
        }
    }
    done(pair)
}

/// Pumps at the current instant until nothing moves (time does not advance).
pub fn settle(pair: &mut Pair) {
    for _ in 0..10_000 {
        if !pair.pump() {
            return;
        }
    }
    panic!("pair still moving after 10 000 pumps at one instant");
}

/// A queue depth with nothing visible, in flight or delayed.
pub const EMPTY: QueueDepth = QueueDepth { visible: 0, in_flight: 0, delayed: 0 };

/// The client queue's and the server queue's depths.
pub fn depths(pair: &Pair) -> (QueueDepth, QueueDepth) {
    let depth = |url: &str| pair.broker.queue_depth(url).unwrap_or_else(|| panic!("no queue {url}"));
    (depth(&pair.client_queue), depth(&pair.server_queue))
}

/// The messages the server application received, with their routes.
pub fn server_messages(pair: &Pair) -> Vec<(&Route, &JsonRpcMessage)> {
    pair.server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message { route, message } => Some((route, message)),
            _ => None,
        })
        .collect()
}

/// The ids of the requests the server application received, in order, once per delivery.
pub fn server_request_ids(pair: &Pair) -> Vec<RequestId> {
    server_messages(pair)
        .into_iter()
        .filter(|(_, m)| m.kind() == MessageKind::Request)
        .filter_map(|(_, m)| m.id().cloned())
        .collect()
}

/// The server application's messages with this method.
pub fn server_messages_with_method<'a>(pair: &'a Pair, method: &str) -> Vec<(&'a Route, &'a JsonRpcMessage)> {
    server_messages(pair).into_iter().filter(|(_, m)| m.method() == Some(method)).collect()
}

/// The ids of the replies (responses and errors) the client application received, once
/// per delivery, in order.
pub fn client_reply_ids(pair: &Pair) -> Vec<RequestId> {
    pair.client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Message(m) if m.kind().is_reply() => m.id().cloned(),
            _ => None,
        })
        .collect()
}

/// How many times `id` ended in a way the client reports: a reply, a timeout or a
/// final send failure.
pub fn outcomes(pair: &Pair, id: &RequestId) -> usize {
    pair.client_events
        .iter()
        .filter(|e| match e {
            ClientEvent::Message(m) => m.kind().is_reply() && m.id() == Some(id),
            ClientEvent::RequestTimedOut { id: i } => i == id,
            ClientEvent::SendFailed { id: Some(i), .. } => i == id,
            _ => false,
        })
        .count()
}

/// The server's rejections with a reason matching `f`.
pub fn server_rejections(pair: &Pair, f: impl Fn(&RejectReason) -> bool) -> Vec<&asyncmcp_proto::Rejection> {
    pair.server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Rejected(r) if f(&r.reason) => Some(r),
            _ => None,
        })
        .collect()
}

/// The client's rejections with a reason matching `f`.
pub fn client_rejections(pair: &Pair, f: impl Fn(&RejectReason) -> bool) -> Vec<&asyncmcp_proto::Rejection> {
    pair.client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Rejected(r) if f(&r.reason) => Some(r),
            _ => None,
        })
        .collect()
}

/// Builds a `tools/call` of the echo tool with `text`.
pub fn echo_params(text: &str) -> serde_json::Value {
    serde_json::json!({"name": "echo", "arguments": {"text": text}})
}
