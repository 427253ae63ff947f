//! Fuzz body of the client and server state machines, driven through the simulator.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};

use crate::config::{AckPolicy, Era, Ordering};
use crate::event::{ClientEvent, ServerEvent};
use crate::jsonrpc::{JsonRpcMessage, MessageKind, RequestId};
use crate::sim::{Faults, Pair, Topology};

/// Most steps one input runs before the final drive.
const MAX_STEPS: usize = 30;

/// Steps the final drive may take to end every request.
const FINAL_STEPS: usize = 20_000;

/// The server's dedup window (the default): past it a redelivered request may run again.
const DEDUP_WINDOW: Duration = Duration::from_secs(300);

#[derive(Debug, Arbitrary)]
struct Setup {
    topology: u8,
    modern: bool,
    fifo: bool,
    seed: u8,
    faults: u8,
    max_delay_ms: u16,
    small_limits: bool,
    ordering: bool,
    ack_on_delivery: bool,
    answer_delay_ms: u16,
}

#[derive(Debug, Arbitrary)]
enum Step {
    Initialize,
    Request { method: u8, text_len: u16 },
    Notify,
    Cancel { which: u8 },
    ClientClose,
    ServerClose,
    CloseSession,
    Run { steps: u8 },
    Pump,
    Jump { secs: u8 },
    ToDeadline,
}

#[derive(Debug, Default)]
struct Model {
    /// Requests the client accepted, and whether a cancel ended them.
    requests: BTreeMap<RequestId, bool>,
    initializes: usize,
    next_id: i64,
    /// When each request was first seen delivered to the server application.
    served: BTreeMap<RequestId, Instant>,
}

/// Runs a client, a server and the simulated broker (topology, era, faults chosen by
/// `data`) through up to 30 steps: submits, cancels, closes, deliveries, time jumps.
/// After each step it checks the invariants; at the end it drives the pair until
/// every request has ended.
///
/// # Panics
/// When a request ends in more than one outcome (or, at the end, in none), a
/// response reaches the client application twice, a request reaches the server
/// application twice within the dedup window without a failed send or ack to
/// explain it, `poll_timeout` does not move past `now` after `handle_timeout(now)`,
/// a queue or the server's state grows without bound, or the final drive livelocks.
pub fn session_machine(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else { return };
    let Some(mut pair) = build(&setup) else { return };
    let mut model = Model::default();
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        let Ok(step) = Step::arbitrary(&mut u) else { break };
        apply(&mut pair, &mut model, step);
        check(&mut pair, &mut model);
    }
    let done = pair.drive_until(FINAL_STEPS, |p| unresolved(p, &model).is_none());
    if let Err(livelock) = done {
        panic!("requests never ended ({:?} left): {livelock}", unresolved(&pair, &model));
    }
    check(&mut pair, &mut model);
}

fn build(setup: &Setup) -> Option<Pair> {
    let topology = match setup.topology % 3 {
        0 => Topology::Sqs,
        1 => Topology::SnsSqs { raw_delivery: true },
        _ => Topology::SnsSqs { raw_delivery: false },
    };
    let faults = match setup.faults % 4 {
        0 => Faults::none(),
        level => Faults::chaos(f64::from(level) * 0.1, Duration::from_millis(u64::from(setup.max_delay_ms))),
    };
    let small = setup.small_limits;
    let ordering = setup.ordering.then(Ordering::default);
    let ack = if setup.ack_on_delivery { AckPolicy::OnDelivery } else { AckPolicy::AfterResponse };
    // Simulated time is relative to this one reading; the machines never read a clock.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    Pair::builder()
        .topology(topology)
        .era(if setup.modern { Era::Modern } else { Era::Legacy })
        .fifo(setup.fifo)
        .seed(setup.seed)
        .faults(faults)
        .answer_delay(Duration::from_millis(u64::from(setup.answer_delay_ms)))
        .client(move |c| {
            c.common.ordering = ordering;
            if small {
                c.common.limits.max_bytes = 1024;
                c.common.peer_takes_fragments = true;
            }
        })
        .server(move |s| {
            s.common.ordering = ordering;
            s.ack = ack;
            if small {
                s.common.limits.max_bytes = 1024;
            }
        })
        .build(start)
        .ok()
}

fn apply(pair: &mut Pair, model: &mut Model, step: Step) {
    let now = pair.now;
    match step {
        Step::Initialize => {
            let params = serde_json::json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "fuzz", "version": "0"}
            });
            if submit(pair, model, "initialize", Some(params)) {
                model.initializes += 1;
            }
        }
        Step::Request { method, text_len } => {
            let (name, params) = match method % 4 {
                0 => ("tools/list", None),
                1 => ("ping", None),
                2 => {
                    let text = "x".repeat(usize::from(text_len % 4096));
                    ("tools/call", Some(serde_json::json!({"name": "echo", "arguments": {"text": text}})))
                }
                _ => ("no/such/method", None),
            };
            submit(pair, model, name, params);
        }
        Step::Notify => {
            let note = JsonRpcMessage::notification("notifications/progress", Some(serde_json::json!({"p": 1})));
            let _ = pair.client.submit(note, now);
        }
        Step::Cancel { which } => {
            let open: Vec<RequestId> = model.requests.iter().filter(|(_, c)| !**c).map(|(id, _)| id.clone()).collect();
            let Some(id) = open.get(usize::from(which) % open.len().max(1)).cloned() else { return };
            // Fire due timers first, so that only the cancel itself can end a request.
            pair.client.handle_timeout(now);
            let before = pair.client.pending_requests();
            if pair.client.cancel(&id, Some("fuzz"), now).is_ok() && pair.client.pending_requests() < before {
                assert_eq!(pair.client.pending_requests() + 1, before, "a cancel ended more than one request");
                model.requests.insert(id, true);
            }
        }
        Step::ClientClose => pair.client.close(now),
        Step::ServerClose => pair.server.close(now),
        Step::CloseSession => {
            let session = pair.client_events.iter().rev().find_map(|e| match e {
                ClientEvent::SessionOpened { session_id } => Some(session_id.clone()),
                _ => None,
            });
            if let Some(session) = session {
                let _ = pair.server.close_session(&session, now);
            }
        }
        Step::Run { steps } => {
            for _ in 0..steps % 16 {
                if !pair.step() {
                    break;
                }
            }
        }
        Step::Pump => {
            pair.pump();
        }
        Step::Jump { secs } => {
            pair.now += Duration::from_secs(u64::from(secs % 100));
            let now = pair.now;
            pair.client.handle_timeout(now);
            pair.server.handle_timeout(now);
            pair.broker.handle_timeout(now);
        }
        Step::ToDeadline => {
            if let Some(next) = pair.next_deadline() {
                pair.now = pair.now.max(next);
            }
            let now = pair.now;
            pair.client.handle_timeout(now);
            pair.server.handle_timeout(now);
            pair.broker.handle_timeout(now);
        }
    }
}

/// Submits a request with a fresh id; true when the client took it.
fn submit(pair: &mut Pair, model: &mut Model, method: &str, params: Option<serde_json::Value>) -> bool {
    model.next_id += 1;
    let id = RequestId::Number(1_000 + model.next_id);
    let taken = pair.client.submit(JsonRpcMessage::request(id.clone(), method, params), pair.now).is_ok();
    if taken {
        model.requests.insert(id, false);
    }
    taken
}

/// Outcomes (response, timeout, send failure) and response-bearing events (response,
/// late response) per request id, from the client's events so far.
fn tally(pair: &Pair) -> BTreeMap<RequestId, (usize, usize)> {
    let mut counts = BTreeMap::<RequestId, (usize, usize)>::new();
    for event in &pair.client_events {
        let (id, outcome, response) = match event {
            ClientEvent::Message(m) if m.kind().is_reply() => (m.id(), 1, 1),
            ClientEvent::LateResponse(m) => (m.id(), 0, 1),
            ClientEvent::RequestTimedOut { id } => (Some(id), 1, 0),
            ClientEvent::SendFailed { id: Some(id), .. } => (Some(id), 1, 0),
            _ => continue,
        };
        if let Some(id) = id {
            let entry = counts.entry(id.clone()).or_default();
            entry.0 += outcome;
            entry.1 += response;
        }
    }
    counts
}

/// The first request that has not ended yet.
fn unresolved(pair: &Pair, model: &Model) -> Option<RequestId> {
    let counts = tally(pair);
    model
        .requests
        .iter()
        .find(|(id, cancelled)| !**cancelled && counts.get(*id).is_none_or(|c| c.0 == 0))
        .map(|(id, _)| id.clone())
}

fn check(pair: &mut Pair, model: &mut Model) {
    let now = pair.now;
    for (id, (outcomes, responses)) in tally(pair) {
        let cancelled = model.requests.get(&id).copied().unwrap_or(false);
        assert!(outcomes + usize::from(cancelled) <= 1, "request {id} ended {outcomes} times (cancelled: {cancelled})");
        assert!(responses <= 1, "a response to {id} reached the client application {responses} times");
    }

    let excused =
        pair.server_events.iter().any(|e| matches!(e, ServerEvent::SendFailed { .. } | ServerEvent::AckFailed { .. }));
    let mut seen = BTreeMap::<RequestId, usize>::new();
    // `initialize` requests that reached the server application again after the dedup
    // window (checked just below): each may open one more session.
    let mut initialize_repeats = 0;
    for event in &pair.server_events {
        if let ServerEvent::Message { message, .. } = event
            && message.kind() == MessageKind::Request
            && let Some(id) = message.id()
        {
            let times = seen.entry(id.clone()).or_default();
            *times += 1;
            if *times > 1 && message.method() == Some("initialize") {
                initialize_repeats += 1;
            }
            model.served.entry(id.clone()).or_insert(now);
        }
    }
    for (id, times) in seen {
        let first = model.served.get(&id).copied().unwrap_or(now);
        assert!(
            times <= 1 || excused || now.saturating_duration_since(first) >= DEDUP_WINDOW,
            "request {id} reached the server application {times} times"
        );
    }

    pair.client.handle_timeout(now);
    pair.server.handle_timeout(now);
    pair.broker.handle_timeout(now);
    for (who, at) in [
        ("client", pair.client.poll_timeout()),
        ("server", pair.server.poll_timeout()),
        ("broker", pair.broker.poll_timeout()),
    ] {
        assert!(at.is_none_or(|at| at > now), "{who} poll_timeout did not move past now after handle_timeout");
    }

    let sent = model.requests.len() + 1;
    assert!(pair.client.pending_requests() <= model.requests.len(), "client holds more requests than it took");
    assert!(pair.server.in_flight() <= sent, "server holds {} requests in flight", pair.server.in_flight());
    assert!(
        pair.server.sessions() <= model.initializes + initialize_repeats,
        "server holds {} sessions for {} initialize requests ({initialize_repeats} delivered again past the dedup window)",
        pair.server.sessions(),
        model.initializes
    );
    for queue in [&pair.client_queue, &pair.server_queue] {
        if let Some(depth) = pair.broker.queue_depth(queue) {
            let held = depth.visible + depth.in_flight + depth.delayed;
            assert!(held <= 64 * sent + 64, "queue {queue} holds {held} messages");
        }
    }
}
