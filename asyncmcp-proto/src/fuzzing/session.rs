//! Fuzz body of the client and server state machines, driven through the simulator
//! under every fault the delivery promise must survive, and the seeded runs of the
//! same model that `scripts/sim-runs.sh` counts.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};

use crate::config::{AckPolicy, Era, OrderingConfig};
use crate::event::{ClientEvent, ServerEvent};
use crate::jsonrpc::{JsonRpcMessage, MessageKind, RequestId};
use crate::rng::Rng;
use crate::sim::{Faults, Pair, QueueOptions, Topology};

/// Most steps one input runs before the final drive.
const MAX_STEPS: usize = 30;

/// Steps the final drive may take to end every request and empty the queues.
const FINAL_STEPS: usize = 50_000;

/// The server's response cache window (the default): past it a redelivered request
/// may run again.
const CACHE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The client's request timeout in the model: longer than any fault it injects, so a
/// request that times out was lost.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3_600);

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
    visibility_secs: u8,
}

#[derive(Debug, Arbitrary)]
enum Step {
    Initialize,
    Request {
        method: u8,
        text_len: u16,
    },
    Notify,
    Cancel {
        which: u8,
    },
    ClientClose,
    /// The client process dies and a new one starts with the same reply queue and
    /// JSON-RPC ids from the start again (and, as our clients do, a new `ClientId`).
    ClientRestart,
    /// The server process dies (`kill -9`) and a new one starts.
    ServerCrash,
    /// The server drains gracefully and a new one starts.
    ServerRestart,
    CloseSession,
    /// The server's link to SQS/SNS is down for a while.
    CutServer {
        secs: u8,
    },
    /// The client's link to SQS/SNS is down for a while.
    CutClient {
        secs: u8,
    },
    /// The client's reply address cannot be reached for a while.
    Unreachable {
        secs: u8,
    },
    /// A long poll of a dead process takes messages from the server's queue.
    LoseReceive {
        max: u8,
    },
    Run {
        steps: u8,
    },
    Pump,
    Jump {
        secs: u8,
    },
    ToDeadline,
}

/// One request the client application submitted.
#[derive(Debug)]
struct Sent {
    /// The text the echo tool must answer with, or `None` for other methods.
    expect: Option<String>,
    /// Ended by a cancel.
    cancelled: bool,
    /// Its client process died before it ended: no outcome is owed.
    abandoned: bool,
}

#[derive(Debug, Default)]
struct Model {
    /// Requests by (client generation, id).
    sent: BTreeMap<(u32, RequestId), Sent>,
    generation: u32,
    /// Events of earlier client generations, already tallied.
    past_client_events: Vec<(u32, ClientEvent)>,
    next_id: i64,
    initializes: usize,
    /// Server crashes, and the instants of each.
    crashes: Vec<Instant>,
    /// Texts of echo calls the server application received, with when.
    runs: BTreeMap<String, Vec<Instant>>,
    /// How far `runs` has read the pair's server events (one list across restarts).
    server_events_read: usize,
    ack_on_delivery: bool,
    violations: Vec<String>,
    /// The setup and each step, when traced.
    trace: Vec<String>,
}

/// What one run of the model found. Every count but `requests`, `answered`, `errors`,
/// `send_failed` and `ran_twice_after_crash` is a broken promise.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Requests submitted (and not abandoned by a client crash).
    pub requests: usize,
    /// Requests answered with a result.
    pub answered: usize,
    /// Requests answered with a JSON-RPC error (session not found after a crash,
    /// method not found, a session closed by the server...).
    pub errors: usize,
    /// Requests whose send failed for good on the client's side (the client knows).
    pub send_failed: usize,
    /// Requests that timed out: no answer came although every fault had ended.
    pub lost: usize,
    /// Requests that ended in more than one outcome.
    pub doubled: usize,
    /// Requests answered with a result that belongs to another request.
    pub wrong: usize,
    /// Requests with no outcome at the end, or messages still held when everything
    /// had settled (in flight at the server, invisible in a queue).
    pub stuck: usize,
    /// Requests the server application ran more than once without a crash to explain it.
    pub ran_twice: usize,
    /// Requests run again because a server crashed while running them (allowed).
    pub ran_twice_after_crash: usize,
    /// Requests lost by a server that acknowledges on delivery
    /// ([`AckPolicy::OnDelivery`]) when it crashed or could not send the answer: the
    /// trade-off that policy makes (Python asyncmcp's), not a broken promise.
    pub lost_by_policy: usize,
    /// Other broken invariants (timers, bounds), one count each.
    pub other: usize,
}

impl Report {
    /// True when no request ended twice, got another's answer, stayed stuck or ran
    /// twice without a crash, and no other invariant broke; lost requests aside.
    pub fn is_sound(&self) -> bool {
        self.doubled == 0 && self.wrong == 0 && self.stuck == 0 && self.ran_twice == 0 && self.other == 0
    }

    /// True when no promise was broken, none lost either.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.doubled == 0
            && self.wrong == 0
            && self.stuck == 0
            && self.ran_twice == 0
            && self.other == 0
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Report) {
        self.requests += other.requests;
        self.answered += other.answered;
        self.errors += other.errors;
        self.send_failed += other.send_failed;
        self.lost += other.lost;
        self.doubled += other.doubled;
        self.wrong += other.wrong;
        self.stuck += other.stuck;
        self.ran_twice += other.ran_twice;
        self.ran_twice_after_crash += other.ran_twice_after_crash;
        self.lost_by_policy += other.lost_by_policy;
        self.other += other.other;
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "requests {} answered {} errors {} send_failed {} | lost {} doubled {} wrong {} stuck {} \
             ran_twice {} other {} | ran_twice_after_crash {} lost_by_policy {}",
            self.requests,
            self.answered,
            self.errors,
            self.send_failed,
            self.lost,
            self.doubled,
            self.wrong,
            self.stuck,
            self.ran_twice,
            self.other,
            self.ran_twice_after_crash,
            self.lost_by_policy
        )
    }
}

/// Runs a client, a server and the simulated broker (topology, era, faults chosen by
/// `data`) through up to 30 steps: submits, cancels, closes, crashes and restarts of
/// either side, link cuts, unreachable reply addresses, lost receives, time jumps.
/// Then it drives the pair until every request has ended and everything settled.
///
/// # Panics
/// When the model finds a broken promise (see [`Report::is_clean`]): a request lost,
/// ended twice, answered with another request's result, stuck, or run twice by the server
/// application without a crash to explain it; a timer that does not move past `now`
/// after `handle_timeout(now)`; state or queues that grow without bound.
pub fn session_machine(data: &[u8]) {
    let (report, violations) = play(data);
    assert!(report.is_clean(), "{report}: {violations:?}");
}

/// Runs the model of [`session_machine`] on input drawn from `seed`, and reports what
/// it found instead of panicking.
pub fn seeded_run(seed: u64) -> (Report, Vec<String>) {
    play_seeded(seed, false)
}

/// As [`seeded_run`], with the setup and every step listed before the violations.
pub fn seeded_trace(seed: u64) -> (Report, Vec<String>) {
    play_seeded(seed, true)
}

fn play_seeded(seed: u64, trace: bool) -> (Report, Vec<String>) {
    let mut bytes = [0u8; 32];
    for (i, b) in seed.to_le_bytes().iter().enumerate() {
        if let Some(slot) = bytes.get_mut(i) {
            *slot = *b;
        }
    }
    let mut rng = Rng::from_seed(bytes);
    let data: Vec<u8> = (0..64).flat_map(|_| rng.next_u64().to_le_bytes()).collect();
    run_model(&data, trace)
}

/// Runs the model on `data`; the report, and a line for each broken promise.
pub fn play(data: &[u8]) -> (Report, Vec<String>) {
    run_model(data, false)
}

fn run_model(data: &[u8], trace: bool) -> (Report, Vec<String>) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else { return (Report::default(), Vec::new()) };
    let Some(mut pair) = build(&setup) else { return (Report::default(), Vec::new()) };
    let mut model = Model { ack_on_delivery: setup.ack_on_delivery, ..Model::default() };
    if trace {
        model.trace.push(format!("{setup:?}"));
    }
    if !setup.modern {
        initialize(&mut pair, &mut model);
    }
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        let Ok(step) = Step::arbitrary(&mut u) else { break };
        if trace {
            model.trace.push(format!("t={:?} {step:?}", pair.elapsed()));
        }
        apply(&mut pair, &mut model, step, !setup.modern);
        check_step(&mut pair, &mut model);
    }
    let done = pair.drive_until(FINAL_STEPS, |p| unresolved(p, &model).is_none());
    if let Err(livelock) = done {
        model.violations.push(format!("requests never ended ({:?} left): {livelock}", unresolved(&pair, &model)));
    }
    if let Err(livelock) = pair.drive_bounded(FINAL_STEPS) {
        model.violations.push(format!("the pair never settled: {livelock}"));
    }
    check_step(&mut pair, &mut model);
    let report = tally_all(&pair, &mut model);
    if trace {
        model.trace.extend(model.past_client_events.iter().map(|(g, e)| format!("client {g}: {e:?}")));
        model.trace.extend(pair.client_events.iter().map(|e| format!("client: {e:?}")));
        model.trace.extend(pair.server_events.iter().map(|e| format!("server: {e:?}")));
        model.trace.extend(pair.client_ops.iter().map(|o| format!("client op: {o:?}")));
        model.trace.push(format!(
            "stats {:?} server queue {:?} client queue {:?}",
            pair.broker.stats(),
            pair.broker.queue_depth(&pair.server_queue),
            pair.broker.queue_depth(&pair.client_queue)
        ));
    }
    let mut lines = model.trace;
    lines.append(&mut model.violations);
    (report, lines)
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
    // Small enough that echo calls go in fragments; a legacy `initialize` (about
    // 2.3 KB with the reply address written twice) must still fit, since it cannot
    // be fragmented before the server said it takes fragments.
    let small = setup.small_limits.then_some(if setup.modern { 1024 } else { 4096 });
    let ordering = setup.ordering.then(OrderingConfig::default);
    let ack = if setup.ack_on_delivery { AckPolicy::OnDelivery } else { AckPolicy::AfterResponse };
    let visibility = Duration::from_secs(2 + u64::from(setup.visibility_secs % 40));
    // Simulated time is relative to this one reading; the machines never read a clock.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    Pair::builder()
        .topology(topology)
        .era(if setup.modern { Era::Modern } else { Era::Legacy })
        .fifo(setup.fifo)
        .seed(setup.seed)
        .faults(faults)
        .queue_options(QueueOptions { visibility_timeout: visibility, ..QueueOptions::default() })
        .answer_delay(Duration::from_millis(u64::from(setup.answer_delay_ms)))
        .client(move |c| {
            c.common.ordering = ordering;
            c.request_timeout = REQUEST_TIMEOUT;
            if let Some(max_bytes) = small {
                c.common.limits.max_bytes = max_bytes;
                c.common.peer_takes_fragments = true;
            }
        })
        .server(move |s| {
            s.common.ordering = ordering;
            s.ack = ack;
            if let Some(max_bytes) = small {
                s.common.limits.max_bytes = max_bytes;
            }
        })
        .build(start)
        .ok()
}

fn initialize(pair: &mut Pair, model: &mut Model) {
    let params = serde_json::json!({
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "0"}
    });
    if submit(pair, model, "initialize", Some(params), None) {
        model.initializes += 1;
    }
}

fn apply(pair: &mut Pair, model: &mut Model, step: Step, legacy: bool) {
    let now = pair.now;
    match step {
        Step::Initialize => initialize(pair, model),
        Step::Request { method, text_len } => {
            let (name, params, expect) = match method % 4 {
                0 => ("tools/list", None, None),
                1 => ("ping", None, None),
                2 => {
                    // Unique per request and client generation, so that an answer
                    // meant for another request is caught.
                    let text = format!(
                        "g{}-{}-{}",
                        model.generation,
                        model.next_id + 1,
                        "x".repeat(usize::from(text_len % 4096))
                    );
                    let params = serde_json::json!({"name": "echo", "arguments": {"text": text}});
                    ("tools/call", Some(params), Some(text))
                }
                _ => ("no/such/method", None, None),
            };
            submit(pair, model, name, params, expect);
        }
        Step::Notify => {
            let note = JsonRpcMessage::notification("notifications/progress", Some(serde_json::json!({"p": 1})));
            let _ = pair.client.submit(note, now);
        }
        Step::Cancel { which } => {
            let generation = model.generation;
            let open: Vec<RequestId> = model
                .sent
                .iter()
                .filter(|((g, _), s)| *g == generation && !s.cancelled)
                .map(|((_, id), _)| id.clone())
                .collect();
            let Some(id) = open.get(usize::from(which) % open.len().max(1)).cloned() else { return };
            // Fire due timers first, so that only the cancel itself can end a request.
            pair.client.handle_timeout(now);
            let before = pair.client.pending_requests();
            if pair.client.cancel(&id, Some("fuzz"), now).is_ok() && pair.client.pending_requests() < before {
                if pair.client.pending_requests() + 1 != before {
                    model.violations.push(format!("a cancel of {id} ended more than one request"));
                }
                if let Some(s) = model.sent.get_mut(&(generation, id)) {
                    s.cancelled = true;
                }
            }
        }
        Step::ClientClose => pair.client.close(now),
        Step::ClientRestart => {
            retire_client(pair, model);
            model.generation += 1;
            pair.restart_client_as(&format!("sim-client-{}", model.generation));
            if legacy {
                initialize(pair, model);
            }
        }
        Step::ServerCrash => {
            model.crashes.push(now);
            read_runs(pair, model);
            pair.restart_server();
        }
        Step::ServerRestart => {
            pair.server.close(now);
            pair.perform_ops();
            read_runs(pair, model);
            model.crashes.push(now);
            pair.restart_server();
        }
        Step::CloseSession => {
            if let Some(session) = pair.client.session_id().cloned() {
                let _ = pair.server.close_session(&session, now);
            }
        }
        Step::CutServer { secs } => pair.cut_server(now + Duration::from_secs(1 + u64::from(secs % 60))),
        Step::CutClient { secs } => pair.cut_client(now + Duration::from_secs(1 + u64::from(secs % 60))),
        Step::Unreachable { secs } => {
            let address = pair.client_address.to_string();
            pair.broker.set_unreachable(&address, now + Duration::from_secs(1 + u64::from(secs % 60)));
        }
        Step::LoseReceive { max } => {
            let _ = pair.lose_server_receive(usize::from(max % 10) + 1);
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
        // Time passes with the pollers running (the model's faults end well before the
        // request timeout, but only if messages can move meanwhile).
        Step::Jump { secs } => {
            if let Err(livelock) = pair.run_for(Duration::from_secs(u64::from(secs % 100)), 10_000) {
                model.violations.push(format!("jump: {livelock}"));
            }
        }
        Step::ToDeadline => {
            pair.step();
        }
    }
}

/// The client process is about to die: what it had not ended is abandoned, and its
/// events are kept for the tally.
fn retire_client(pair: &mut Pair, model: &mut Model) {
    let generation = model.generation;
    let events = std::mem::take(&mut pair.client_events);
    let outcomes = outcome_counts(events.iter());
    for ((g, id), sent) in model.sent.iter_mut() {
        if *g == generation && !sent.cancelled && outcomes.get(id).is_none_or(|o| o.ended == 0) {
            sent.abandoned = true;
        }
    }
    model.past_client_events.extend(events.into_iter().map(|e| (generation, e)));
}

/// Submits a request with a fresh id; true when the client took it.
fn submit(
    pair: &mut Pair,
    model: &mut Model,
    method: &str,
    params: Option<serde_json::Value>,
    expect: Option<String>,
) -> bool {
    model.next_id += 1;
    let id = RequestId::Number(model.next_id);
    let taken = pair.client.submit(JsonRpcMessage::request(id.clone(), method, params), pair.now).is_ok();
    if taken {
        model.sent.insert((model.generation, id), Sent { expect, cancelled: false, abandoned: false });
    }
    taken
}

#[derive(Debug, Default)]
struct Outcomes {
    /// Responses, timeouts and final send failures.
    ended: usize,
    timed_out: usize,
    send_failed: usize,
    /// Results (not errors), by their echoed text.
    results: Vec<Option<String>>,
    errors: usize,
    /// Responses and late responses that reached the application.
    responses: usize,
}

fn outcome_counts<'a>(events: impl Iterator<Item = &'a ClientEvent>) -> BTreeMap<RequestId, Outcomes> {
    let mut counts = BTreeMap::<RequestId, Outcomes>::new();
    for event in events {
        match event {
            ClientEvent::Message(m) if m.kind().is_reply() => {
                let Some(id) = m.id() else { continue };
                let o = counts.entry(id.clone()).or_default();
                o.ended += 1;
                o.responses += 1;
                if m.kind() == MessageKind::Error {
                    o.errors += 1;
                } else {
                    let value = m.to_value();
                    o.results.push(value.pointer("/result/content/0/text").and_then(|t| t.as_str()).map(str::to_owned));
                }
            }
            ClientEvent::LateResponse(m) => {
                if let Some(id) = m.id() {
                    counts.entry(id.clone()).or_default().responses += 1;
                }
            }
            ClientEvent::RequestTimedOut { id } => {
                let o = counts.entry(id.clone()).or_default();
                o.ended += 1;
                o.timed_out += 1;
            }
            ClientEvent::SendFailed { id: Some(id), .. } => {
                let o = counts.entry(id.clone()).or_default();
                o.ended += 1;
                o.send_failed += 1;
            }
            _ => {}
        }
    }
    counts
}

/// The first request of the live client that has not ended yet.
fn unresolved(pair: &Pair, model: &Model) -> Option<RequestId> {
    let counts = outcome_counts(pair.client_events.iter());
    model
        .sent
        .iter()
        .filter(|((g, _), s)| *g == model.generation && !s.cancelled && !s.abandoned)
        .find(|((_, id), _)| counts.get(id).is_none_or(|c| c.ended == 0))
        .map(|((_, id), _)| id.clone())
}

/// Reads the echo calls the server application received since the last read.
fn read_runs(pair: &Pair, model: &mut Model) {
    let now = pair.now;
    for event in pair.server_events.iter().skip(model.server_events_read) {
        if let ServerEvent::Message { message, .. } = event
            && message.kind() == MessageKind::Request
            && message.method() == Some("tools/call")
            && let Some(text) = message.to_value().pointer("/params/arguments/text").and_then(|t| t.as_str())
        {
            model.runs.entry(text.to_owned()).or_default().push(now);
        }
    }
    model.server_events_read = pair.server_events.len();
}

/// Invariants that hold after every step: timers move, state and queues stay bounded.
fn check_step(pair: &mut Pair, model: &mut Model) {
    read_runs(pair, model);
    let now = pair.now;
    pair.client.handle_timeout(now);
    pair.server.handle_timeout(now);
    pair.broker.handle_timeout(now);
    for (who, at) in [
        ("client", pair.client.poll_timeout()),
        ("server", pair.server.poll_timeout()),
        ("broker", pair.broker.poll_timeout()),
    ] {
        if at.is_some_and(|at| at <= now) {
            model.violations.push(format!("{who} poll_timeout did not move past now after handle_timeout"));
        }
    }
    let sent = model.sent.len() + 1;
    if pair.server.in_flight() > sent {
        model.violations.push(format!("server holds {} requests in flight for {sent} sent", pair.server.in_flight()));
    }
    let restarts = model.crashes.len() + usize::try_from(model.generation).unwrap_or(usize::MAX);
    if pair.server.sessions() > model.initializes + restarts {
        model.violations.push(format!(
            "server holds {} sessions for {} initialize requests",
            pair.server.sessions(),
            model.initializes
        ));
    }
    for queue in [&pair.client_queue, &pair.server_queue] {
        if let Some(depth) = pair.broker.queue_depth(queue) {
            let held = depth.visible + depth.in_flight + depth.delayed;
            if held > 64 * sent + 64 {
                model.violations.push(format!("queue {queue} holds {held} messages"));
            }
        }
    }
}

fn tally_all(pair: &Pair, model: &mut Model) -> Report {
    let mut report = Report::default();
    let mut by_generation: BTreeMap<u32, Vec<&ClientEvent>> = BTreeMap::new();
    for (g, e) in &model.past_client_events {
        by_generation.entry(*g).or_default().push(e);
    }
    by_generation.entry(model.generation).or_default().extend(pair.client_events.iter());
    let counts: BTreeMap<u32, BTreeMap<RequestId, Outcomes>> =
        by_generation.into_iter().map(|(g, events)| (g, outcome_counts(events.into_iter()))).collect();
    let empty = Outcomes::default();
    for ((g, id), sent) in &model.sent {
        let o = counts.get(g).and_then(|c| c.get(id)).unwrap_or(&empty);
        if sent.abandoned {
            continue;
        }
        report.requests += 1;
        if o.ended + usize::from(sent.cancelled) > 1 || o.responses > 1 {
            report.doubled += 1;
            model.violations.push(format!("request {g}/{id} ended {} times ({} responses)", o.ended, o.responses));
        }
        if sent.cancelled {
            continue;
        }
        if o.timed_out > 0 {
            // With acknowledgement on delivery a crash or a failed answer loses the
            // request (Python asyncmcp's trade-off): not a broken promise of the default.
            let server_failed = !model.crashes.is_empty()
                || pair.server_events.iter().any(|e| matches!(e, ServerEvent::SendFailed { .. }));
            if model.ack_on_delivery && server_failed {
                report.lost_by_policy += 1;
            } else {
                report.lost += 1;
                model.violations.push(format!("request {g}/{id} timed out"));
            }
        } else if o.ended == 0 {
            report.stuck += 1;
            model.violations.push(format!("request {g}/{id} never ended"));
        }
        report.send_failed += o.send_failed;
        report.errors += o.errors;
        for result in &o.results {
            report.answered += 1;
            if let Some(expect) = &sent.expect
                && result.as_ref() != Some(expect)
            {
                report.wrong += 1;
                model.violations.push(format!("request {g}/{id} got {result:?}, not its own answer"));
            }
        }
    }
    for (text, runs) in &model.runs {
        if runs.len() < 2 {
            continue;
        }
        let first = runs.first().copied();
        let last = runs.last().copied();
        let crashed_between =
            model.crashes.iter().any(|c| first.is_some_and(|f| f <= *c) && last.is_some_and(|l| *c <= l));
        let past_window = match (first, last) {
            (Some(f), Some(l)) => l.saturating_duration_since(f) >= CACHE_WINDOW,
            _ => false,
        };
        if crashed_between || past_window {
            report.ran_twice_after_crash += 1;
        } else {
            report.ran_twice += 1;
            model.violations.push(format!("the tool ran {} times for {text:.40}", runs.len()));
        }
    }
    if pair.server.in_flight() > 0 {
        report.stuck += 1;
        model.violations.push(format!("{} requests still in flight at the server at the end", pair.server.in_flight()));
    }
    // A closed client reads its queue no more: what still arrives there stays.
    let queues =
        if pair.client.is_closed() { vec![&pair.server_queue] } else { vec![&pair.client_queue, &pair.server_queue] };
    for queue in queues {
        if let Some(depth) = pair.broker.queue_depth(queue)
            && depth.in_flight + depth.visible + depth.delayed > 0
        {
            report.stuck += 1;
            model.violations.push(format!("queue {queue} still holds {depth:?} at the end"));
        }
    }
    report.other = model
        .violations
        .len()
        .saturating_sub(report.lost + report.doubled + report.wrong + report.stuck + report.ran_twice);
    report
}
