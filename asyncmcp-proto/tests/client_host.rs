//! `ClientHost`: many clients over one reply queue, against a real `Server` on the
//! simulated broker. Hundreds of clients in both eras, with the queue's faults; every
//! reply must reach the client that asked, exactly once, and every message on the
//! shared queue must end (delivered, or reported and deleted).
#![allow(clippy::disallowed_methods)] // a base instant for simulated time

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use asyncmcp_proto::attributes::AttributeValue;
use asyncmcp_proto::sim::{Broker, Faults, QueueOptions, SimConfig};
use asyncmcp_proto::{
    AddClientError, Address, AllowList, ApiError, ClientConfig, ClientEvent, ClientHost, ClientKey, Era, HostConfig,
    HostEvent, JsonRpcMessage, MessageKind, OpKind, QueueOp, QueueOutcome, RejectReason, RequestId, SendOp, Server,
    ServerConfig, ServerEvent,
};
use proptest::prelude::*;

/// One server, one host, one broker, and what the test expects and saw.
struct World {
    now: Instant,
    broker: Broker,
    server: Server,
    host: ClientHost,
    requests: String,
    replies: String,
    /// Per client: its `ClientId`.
    who: BTreeMap<ClientKey, String>,
    /// Requests submitted and not answered yet.
    waiting: BTreeSet<(ClientKey, RequestId)>,
    /// Answers seen per request.
    answers: BTreeMap<(ClientKey, RequestId), usize>,
    /// Answers carrying another client's `ClientId` or answering a request never sent.
    misrouted: Vec<String>,
    /// Every other event of a client.
    other: Vec<(ClientKey, ClientEvent)>,
    unrouted: Vec<asyncmcp_proto::Rejection>,
    sessions_closed_at_server: usize,
}

impl World {
    fn new(seed: u8, faults: Faults, envelope: bool) -> Self {
        let now = Instant::now();
        let mut broker = Broker::new(SimConfig { faults, ..SimConfig::default() }, now, [seed; 32]);
        let requests = broker.create_queue("requests", QueueOptions::default());
        let replies = broker.create_queue("replies", QueueOptions::default());
        if envelope {
            let topic = broker.create_topic("replies-topic");
            broker.subscribe(&topic, &replies, false).unwrap();
        }
        let server =
            Server::new(ServerConfig::new(requests.clone(), AllowList::any()), now, [seed ^ 0x55; 32]).unwrap();
        let host = ClientHost::new(HostConfig::new(replies.clone()), [seed ^ 0xaa; 32]).unwrap();
        Self {
            now,
            broker,
            server,
            host,
            requests,
            replies,
            who: BTreeMap::new(),
            waiting: BTreeSet::new(),
            answers: BTreeMap::new(),
            misrouted: Vec::new(),
            other: Vec::new(),
            unrouted: Vec::new(),
            sessions_closed_at_server: 0,
        }
    }

    /// Adds client `i` (legacy: it opens its session first) replying to the queue, or
    /// through a topic wrapping replies in SNS envelopes.
    fn add(&mut self, i: usize, era: Era, envelope: bool) -> ClientKey {
        let reply_to = if envelope {
            Address::parse("arn:aws:sns:us-east-1:123456789012:replies-topic")
        } else {
            Address::Queue(self.replies.clone())
        };
        let mut config =
            ClientConfig::new(Address::Queue(self.requests.clone()), reply_to, self.replies.clone(), format!("c-{i}"));
        config.era = era;
        config.common.start_unix_millis = 1;
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let key = self.host.add(config, self.now, seed).unwrap();
        self.who.insert(key, format!("c-{i}"));
        if era == Era::Legacy {
            let init = JsonRpcMessage::request(
                RequestId::Number(0),
                "initialize",
                Some(serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {},
                                        "clientInfo": {"name": "host-test", "version": "1"}})),
            );
            self.host.submit(key, init, self.now).unwrap();
            self.waiting.insert((key, RequestId::Number(0)));
        }
        key
    }

    /// Client `key` asks `whoami` under id `n`; the answer echoes who asked.
    fn ask(&mut self, key: ClientKey, n: i64) {
        let who = self.who[&key].clone();
        let params = serde_json::json!({"who": who, "n": n});
        self.host.submit(key, JsonRpcMessage::request(RequestId::Number(n), "whoami", Some(params)), self.now).unwrap();
        self.waiting.insert((key, RequestId::Number(n)));
    }

    /// Puts a message straight onto the shared queue, as another process would.
    fn inject(&mut self, body: &str, attributes: &[(&str, &str)]) {
        let attributes = attributes.iter().map(|(k, v)| ((*k).to_owned(), AttributeValue::string(*v))).collect();
        let send = SendOp {
            to: Address::Queue(self.replies.clone()),
            body: body.as_bytes().to_vec().into(),
            attributes,
            group_id: None,
            dedup_id: None,
            offload: None,
        };
        // Retried until stored: the broker may throttle it.
        while !matches!(
            self.broker
                .handle_op(&QueueOp { id: asyncmcp_proto::OpId(u64::MAX), kind: OpKind::Send(send.clone()) }, self.now),
            asyncmcp_proto::OpResult::Ok
        ) {}
    }

    /// One round: operations, events, receives. True when anything moved.
    fn pump(&mut self) -> bool {
        let mut moved = false;
        while let Some(op) = self.host.poll_op() {
            let result = self.broker.handle_op(&op, self.now);
            self.host.handle_op_result(op.id, result, self.now);
            moved = true;
        }
        while let Some(op) = self.server.poll_op() {
            let result = self.broker.handle_op(&op, self.now);
            self.server.handle_op_result(op.id, result, self.now);
            moved = true;
        }
        while let Some(event) = self.server.poll_event() {
            moved = true;
            match event {
                ServerEvent::Message { route, message } if message.kind() == MessageKind::Request => {
                    let id = message.id().unwrap().clone();
                    let result = if message.method() == Some("initialize") {
                        serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {},
                                           "serverInfo": {"name": "s", "version": "1"}})
                    } else {
                        message.to_value()["params"].clone()
                    };
                    self.server.submit(&route, JsonRpcMessage::response(id, result), self.now).unwrap();
                }
                ServerEvent::SessionClosed { .. } => self.sessions_closed_at_server += 1,
                _ => {}
            }
        }
        while let Some(event) = self.host.poll_event() {
            moved = true;
            match event {
                HostEvent::Client { key, event: ClientEvent::Message(m) } if m.kind().is_reply() => {
                    let id = m.id().unwrap().clone();
                    if !self.waiting.remove(&(key, id.clone())) && !self.answers.contains_key(&(key, id.clone())) {
                        self.misrouted.push(format!("{key}: answer to a request it never sent: {}", m.as_str()));
                    }
                    let value = m.to_value();
                    if id != RequestId::Number(0) && value["result"]["who"] != self.who[&key].as_str() {
                        self.misrouted.push(format!("{key} ({}) got {}", self.who[&key], m.as_str()));
                    }
                    *self.answers.entry((key, id)).or_default() += 1;
                }
                HostEvent::Client { key, event } => {
                    if let ClientEvent::RequestTimedOut { id } = &event {
                        self.waiting.remove(&(key, id.clone()));
                    }
                    self.other.push((key, event));
                }
                HostEvent::Unrouted(r) => self.unrouted.push(r),
                other => panic!("unexpected {other:?}"),
            }
        }
        let server_credit = self.server.receive_credit();
        for m in self.broker.receive(&self.requests, server_credit, self.now) {
            self.server.handle_inbound(m, self.now);
            moved = true;
        }
        let host_credit = self.host.receive_credit();
        let visibility = self.host.config().receive_visibility;
        for m in self.broker.receive_for(&self.replies, host_credit, visibility, self.now) {
            self.host.handle_inbound(m, self.now);
            moved = true;
        }
        moved
    }

    /// Pumps, jumping time to the next deadline whenever nothing moves, until
    /// `done` or `max_steps` rounds (then it fails: a livelock or a hang).
    fn run_until(&mut self, max_steps: usize, done: impl Fn(&World) -> bool) {
        for _ in 0..max_steps {
            if done(self) {
                return;
            }
            if self.pump() {
                continue;
            }
            let next = [self.host.poll_timeout(), self.server.poll_timeout(), self.broker.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { continue };
            self.now = self.now.max(next);
            let now = self.now;
            self.host.handle_timeout(now);
            assert!(self.host.poll_timeout().is_none_or(|t| t > now), "host deadline did not move past {now:?}");
            self.server.handle_timeout(now);
            self.broker.handle_timeout(now);
        }
        panic!("not done after {max_steps} rounds: {} waiting", self.waiting.len());
    }

    fn replies_empty(&self) -> bool {
        self.broker.queue_depth(&self.replies).is_some_and(|d| d.visible + d.in_flight + d.delayed == 0)
    }
}

/// Hosts `clients` clients (every `legacy_every`-th legacy, the rest stateless), each
/// asking `per` requests, plus strays on the shared queue; checks every reply reached
/// its own client exactly once, nothing was lost, every stray was reported, and the
/// legacy sessions closed at the server.
fn run(clients: usize, per: i64, legacy_every: usize, seed: u8, chaos: bool, envelope: bool) {
    let faults = if chaos { Faults::chaos(0.05, Duration::from_millis(300)) } else { Faults::none() };
    let mut w = World::new(seed, faults, envelope);
    let mut keys = Vec::new();
    let mut legacy = 0;
    for i in 0..clients {
        let era = if legacy_every > 0 && i % legacy_every == 0 { Era::Legacy } else { Era::Modern };
        legacy += usize::from(era == Era::Legacy);
        let key = w.add(i, era, envelope);
        keys.push(key);
        for n in 1..=per {
            w.ask(key, n);
        }
    }
    // Strays: a reply for a client nobody hosts, one naming no client, and garbage.
    w.inject(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, &[("ClientId", "ghost")]);
    w.inject(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, &[]);
    w.inject("not json", &[]);
    w.inject(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, &[("SessionId", "0123456789abcdef0123456789abcdef")]);

    w.run_until(200_000, |w| w.waiting.is_empty() && w.replies_empty());

    assert!(w.misrouted.is_empty(), "{:#?}", &w.misrouted[..w.misrouted.len().min(5)]);
    let expected = clients * per as usize + legacy;
    assert_eq!(w.answers.len(), expected, "every request answered");
    assert!(w.answers.values().all(|n| *n == 1), "an answer delivered twice");
    assert_eq!(w.host.pending_requests(), 0);
    assert_eq!(w.host.sessions(), legacy);
    let lost: Vec<_> = w.other.iter().filter(|(_, e)| matches!(e, ClientEvent::RequestTimedOut { .. })).collect();
    assert!(lost.is_empty(), "{lost:?}");
    let reasons: BTreeMap<String, BTreeSet<String>> = w.unrouted.iter().fold(BTreeMap::new(), |mut m, r| {
        assert_eq!(r.fate, QueueOutcome::Deleted);
        let kind = match &r.reason {
            RejectReason::WrongClient(c) => format!("client {c}"),
            RejectReason::WrongSession(_) => "session".to_owned(),
            RejectReason::NoClient => "none".to_owned(),
            RejectReason::Decode(_) => "decode".to_owned(),
            other => panic!("{other:?}"),
        };
        m.entry(kind).or_default().insert(r.message_id.clone());
        m
    });
    let counts: Vec<(String, usize)> = reasons.into_iter().map(|(k, ids)| (k, ids.len())).collect();
    assert_eq!(
        counts,
        vec![("client ghost".into(), 1), ("decode".into(), 1), ("none".into(), 1), ("session".into(), 1)],
        "each stray reported"
    );

    // Close everything: legacy sessions hear the close notification.
    for key in &keys {
        w.host.close(*key, w.now).unwrap();
    }
    w.run_until(200_000, |w| {
        w.who.keys().all(|k| w.host.client(*k).unwrap().is_closed()) && w.sessions_closed_at_server == legacy
    });
    for key in keys {
        assert!(w.host.remove(key).is_some());
    }
    assert!(w.host.is_empty());
    assert_eq!(w.host.receive_credit(), 0);
}

#[test]
fn five_hundred_legacy_and_stateless_clients_each_get_only_their_own_replies() {
    run(500, 2, 2, 7, false, false);
}

#[test]
fn replies_in_sns_envelopes_are_routed_by_the_envelope_attributes() {
    run(200, 2, 3, 11, true, true);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn replies_reach_their_own_client_and_nothing_is_lost(
        clients in 100usize..300,
        per in 1i64..4,
        legacy_every in 0usize..4,
        seed in any::<u8>(),
        chaos in any::<bool>(),
        envelope in any::<bool>(),
    ) {
        run(clients, per, legacy_every, seed, chaos, envelope);
    }
}

#[test]
fn a_reply_for_a_removed_client_is_reported_and_deleted() {
    let mut w = World::new(3, Faults::none(), false);
    let gone = w.add(0, Era::Modern, false);
    let stays = w.add(1, Era::Modern, false);
    w.ask(gone, 1);
    w.ask(stays, 1);
    // The request leaves, then its client goes before the answer comes back.
    while let Some(op) = w.host.poll_op() {
        let result = w.broker.handle_op(&op, w.now);
        w.host.handle_op_result(op.id, result, w.now);
    }
    let removed = w.host.remove(gone).unwrap();
    assert_eq!(removed.pending_requests(), 1);
    w.waiting.remove(&(gone, RequestId::Number(1)));

    w.run_until(10_000, |w| w.waiting.is_empty() && w.replies_empty());

    assert_eq!(w.answers.keys().collect::<Vec<_>>(), vec![&(stays, RequestId::Number(1))]);
    assert!(
        matches!(&w.unrouted[..], [r] if r.reason == RejectReason::WrongClient("c-0".into()) && r.fate == QueueOutcome::Deleted),
        "{:?}",
        w.unrouted
    );
    assert_eq!(
        w.host.submit(gone, JsonRpcMessage::notification("x", None), w.now),
        Err(ApiError::UnknownRoute(gone.to_string()))
    );
}

#[test]
fn a_poison_message_naming_no_client_can_be_left_for_redrive() {
    let mut w = World::new(4, Faults::none(), false);
    let mut config = HostConfig::new(w.replies.clone());
    config.undecodable = asyncmcp_proto::Disposition::LeaveForRedrive;
    w.host = ClientHost::new(config, [4; 32]).unwrap();
    w.add(0, Era::Modern, false);
    w.inject("not json", &[]);

    w.pump(); // received
    w.pump(); // reported

    assert!(
        matches!(&w.unrouted[..], [r] if r.fate == QueueOutcome::LeftForRedelivery && matches!(r.reason, RejectReason::Decode(_)))
    );
    assert_eq!(w.host.poll_op(), None, "nothing deleted");
    assert_eq!(w.broker.queue_depth(&w.replies).unwrap().in_flight, 1);
}

#[test]
fn add_refuses_a_second_client_id_and_another_queue() {
    let w = World::new(5, Faults::none(), false);
    let mut host = ClientHost::new(HostConfig::new(w.replies.clone()), [0; 32]).unwrap();
    let config = ClientConfig::sqs(w.requests.clone(), w.replies.clone(), "same");
    host.add(config.clone(), w.now, [1; 32]).unwrap();

    assert_eq!(host.add(config, w.now, [2; 32]), Err(AddClientError::DuplicateClientId("same".into())));
    let elsewhere = ClientConfig::sqs(w.requests.clone(), w.requests.clone(), "other");
    assert!(matches!(host.add(elsewhere, w.now, [3; 32]), Err(AddClientError::OtherQueue { .. })));
    assert_eq!(host.len(), 1);
    assert!(host.key_of("same").is_some() && host.key_of("other").is_none());
}

#[test]
fn poll_timeout_is_the_earliest_deadline_of_all_clients() {
    let mut w = World::new(6, Faults::none(), false);
    let mut keys = Vec::new();
    for i in 0..50 {
        let key = w.add(i, Era::Modern, false);
        keys.push(key);
    }
    // Requests submitted at different instants time out at different instants.
    for (i, key) in keys.iter().enumerate() {
        w.now += Duration::from_millis(10 * (50 - i as u64));
        w.ask(*key, 1);
    }
    let earliest = keys.iter().filter_map(|k| w.host.client(*k).unwrap().poll_timeout()).min();

    assert_eq!(w.host.poll_timeout(), earliest);
    // Every request ends once (answered or timed out), and the deadline moves on.
    w.run_until(100_000, |w| w.waiting.is_empty());
    let ended =
        w.other.iter().filter(|(_, e)| matches!(e, ClientEvent::RequestTimedOut { .. })).count() + w.answers.len();
    assert_eq!(ended, 50);
}
