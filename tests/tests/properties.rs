//! Properties of the client and server state machines over the simulated broker:
//! exactly one outcome per request under random faults, timers that always move
//! past the instant they fired at, and determinism from the seed.

use std::collections::BTreeMap;
use std::time::Duration;

use asyncmcp_proto::sim::{Faults, Pair, QueueOptions, SimStats, Topology};
use asyncmcp_proto::{ClientEvent, Era, JsonRpcMessage, MessageKind, OrderingConfig, RequestId, ServerEvent};
use asyncmcp_tests::{Recorder, drive_checked, echo_params, step_checked, t0};
use proptest::prelude::*;

fn topology() -> impl Strategy<Value = Topology> {
    prop_oneof![
        Just(Topology::Sqs),
        Just(Topology::SnsSqs { raw_delivery: false }),
        Just(Topology::SnsSqs { raw_delivery: true }),
    ]
}

fn era() -> impl Strategy<Value = Era> {
    prop_oneof![Just(Era::Legacy), Just(Era::Modern)]
}

fn faults() -> impl Strategy<Value = Faults> {
    (0.0..0.5f64, any::<bool>(), 0u64..3_000, 0.0..0.3f64, 0.0..0.15f64).prop_map(
        |(duplicate, reorder, delay_ms, send_failure, throttle)| Faults {
            duplicate,
            reorder,
            max_delay: Duration::from_millis(delay_ms),
            send_failure,
            throttle,
        },
    )
}

/// One thing the application does.
#[derive(Debug, Clone)]
enum Action {
    Request,
    Notify,
    /// Cancel the k-th request submitted so far (modulo), or an unknown id.
    Cancel(usize),
    /// Let simulated time pass.
    Wait(Duration),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => Just(Action::Request),
        1 => Just(Action::Notify),
        1 => (0usize..16).prop_map(Action::Cancel),
        2 => (0u64..20_000).prop_map(|ms| Action::Wait(Duration::from_millis(ms))),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    seed: u8,
    topology: Topology,
    era: Era,
    faults: Faults,
    answer_delay: Duration,
    request_timeout: Duration,
    visibility_timeout: Duration,
    ordering: bool,
    fifo: bool,
    script: Vec<Action>,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<u8>(),
        topology(),
        era(),
        faults(),
        0u64..8_000,
        prop_oneof![Just(5u64), Just(60u64)],
        (2u64..40, any::<bool>(), prop::bool::weighted(0.2)),
        prop::collection::vec(action(), 1..16),
    )
        .prop_map(|(seed, topology, era, faults, delay_ms, timeout_s, (visibility_s, ordering, fifo), script)| {
            Setup {
                seed,
                topology,
                era,
                faults,
                answer_delay: Duration::from_millis(delay_ms),
                request_timeout: Duration::from_secs(timeout_s),
                visibility_timeout: Duration::from_secs(visibility_s),
                ordering,
                fifo,
                script,
            }
        })
}

/// What a run produced.
#[derive(Debug, PartialEq)]
struct Run {
    requests: Vec<RequestId>,
    cancelled: Vec<RequestId>,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
    stats: SimStats,
    elapsed: Duration,
    timer_violations: Vec<String>,
    timer_firings: usize,
}

/// Plays `setup` to the end (until nothing is left to happen), checking the timer
/// invariant after every firing.
fn play(setup: &Setup) -> Run {
    let timeout = setup.request_timeout;
    let ordering = setup.ordering.then(OrderingConfig::default);
    let queue = QueueOptions { visibility_timeout: setup.visibility_timeout, ..QueueOptions::default() };
    let mut pair = Pair::builder()
        .queue_options(queue)
        .fifo(setup.fifo)
        .server(move |s| s.common.ordering = ordering)
        .client(move |c| c.common.ordering = ordering)
        .seed(setup.seed)
        .topology(setup.topology)
        .era(setup.era)
        .faults(setup.faults.clone())
        .answer_delay(setup.answer_delay)
        .client(move |c| c.request_timeout = timeout)
        .build(t0())
        .unwrap();
    let mut rec = Recorder::default();
    let mut requests = Vec::new();
    let mut cancelled = Vec::new();
    if setup.era == Era::Legacy {
        requests.push(pair.initialize());
    }
    for action in &setup.script {
        match action {
            Action::Request => {
                let text = format!("r{}", requests.len());
                requests.push(pair.request("tools/call", Some(echo_params(&text))));
            }
            Action::Notify => {
                let note = JsonRpcMessage::notification("notifications/message", Some(serde_json::json!({})));
                pair.client.submit(note, pair.now).unwrap();
            }
            Action::Cancel(k) => {
                let id = requests.get(k % 17).cloned().unwrap_or(RequestId::Number(10_000));
                if pair.client.pending_requests() > 0 && requests.contains(&id) {
                    cancelled.push(id.clone());
                }
                pair.client.cancel(&id, None, pair.now).unwrap();
            }
            Action::Wait(d) => {
                let until = pair.now + *d;
                drive_checked(&mut pair, &mut rec, 10_000, |p| p.now >= until);
            }
        }
    }
    // To the end: every timer (caches, dedup windows) runs out.
    let mut steps = 0;
    while step_checked(&mut pair, &mut rec) {
        steps += 1;
        assert!(steps < 200_000, "livelock");
    }
    let elapsed = pair.elapsed();
    Run {
        requests,
        cancelled,
        client_events: pair.client_events,
        server_events: pair.server_events,
        stats: pair.broker.stats().clone(),
        elapsed,
        timer_violations: rec.timer_violations,
        timer_firings: rec.timer_firings,
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    /// Every request ends in exactly one of response, timeout or send failure (or a
    /// cancel), and no application sees a message twice.
    #[test]
    fn every_request_has_exactly_one_outcome(setup in setup()) {
        let run = play(&setup);
        for id in &run.requests {
            let n = outcomes(&run, id);
            if run.cancelled.contains(id) {
                prop_assert!(n <= 1, "{id}: {n} outcomes after cancel: {:?}", run.client_events);
            } else {
                prop_assert_eq!(n, 1, "{}: {:?}", id, run.client_events);
            }
        }
        // The client application saw each reply once.
        let mut replies = BTreeMap::new();
        for e in &run.client_events {
            if let ClientEvent::Message(m) = e && m.kind().is_reply() {
                *replies.entry(m.id().cloned()).or_insert(0) += 1;
            }
        }
        prop_assert!(replies.values().all(|n| *n == 1), "{replies:?}");
        // The server application saw each request once, unless its answer failed
        // to send for good (then the request is redelivered and runs again).
        let mut seen: BTreeMap<RequestId, usize> = BTreeMap::new();
        let mut failed = Vec::new();
        for e in &run.server_events {
            match e {
                ServerEvent::Message { message, .. } if message.kind() == MessageKind::Request => {
                    let id = message.id().cloned().unwrap();
                    let count = seen.entry(id.clone()).or_insert(0);
                    *count += 1;
                    prop_assert!(*count == 1 || failed.contains(&id), "{id} delivered twice: {:?}", run.server_events);
                }
                ServerEvent::SendFailed { id: Some(id), .. } => failed.push(id.clone()),
                _ => {}
            }
        }
    }

    /// After every `handle_timeout(t)` (random scripts, random faults), each
    /// endpoint's next deadline is `None` or later than `t`: a driver never spins.
    #[test]
    fn timers_always_move_past_the_instant_they_fired_at(setup in setup()) {
        let run = play(&setup);
        prop_assert!(run.timer_violations.is_empty(), "{:?}", run.timer_violations);
        prop_assert!(run.timer_firings > 0 || run.requests.is_empty());
    }

    /// Same seed, same script: the same events, stats and simulated time.
    #[test]
    fn runs_are_deterministic(setup in setup()) {
        let a = play(&setup);
        let b = play(&setup);
        prop_assert_eq!(a, b);
    }
}

/// How many times `id` ended (reply, timeout or final send failure) in a finished run.
fn outcomes(run: &Run, id: &RequestId) -> usize {
    run.client_events
        .iter()
        .filter(|e| match e {
            ClientEvent::Message(m) => m.kind().is_reply() && m.id() == Some(id),
            ClientEvent::RequestTimedOut { id: i } => i == id,
            ClientEvent::SendFailed { id: Some(i), .. } => i == id,
            _ => false,
        })
        .count()
}
