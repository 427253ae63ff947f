//! The delivery promise under the faults real deployments meet: a reply address that
//! is unreachable for longer than the retry budget, a client that restarts with the
//! same `ClientId`, a session that ends with work in flight, a response too large to
//! send, a request the application never answers. Each scenario here failed before
//! the fix it guards (issue 12).

use std::time::Duration;

use asyncmcp_proto::sim::{Pair, Topology};
use asyncmcp_proto::{ClientEvent, Era, JsonRpcMessage, MessageKind, OpKind, RequestId, Route, ServerEvent};
use asyncmcp_tests::{EMPTY, depths, echo_params, outcomes, server_request_ids, t0};

const SEC: Duration = Duration::from_secs(1);

/// The text the echo tool answered `id` with, if it answered with a result.
fn echoed(pair: &Pair, id: &RequestId) -> Option<String> {
    let value = pair.response(id)?.to_value();
    value.pointer("/result/content/0/text")?.as_str().map(str::to_owned)
}

fn tool_runs(pair: &Pair, text: &str) -> usize {
    pair.server_events
        .iter()
        .filter(|e| match e {
            ServerEvent::Message { message, .. } => {
                message.kind() == MessageKind::Request
                    && message.to_value().pointer("/params/arguments/text").and_then(|t| t.as_str()) == Some(text)
            }
            _ => false,
        })
        .count()
}

/// A legacy pair whose client and server number their session messages.
fn ordered_pair() -> Pair {
    let ordering = Some(asyncmcp_proto::OrderingConfig::default());
    Pair::builder()
        .server(move |s| s.common.ordering = ordering)
        .client(move |c| c.common.ordering = ordering)
        .build(t0())
        .unwrap()
}

/// An ordered session with two calls, the first taken for 10 s by a dead long poll:
/// longer than the gap timeout (5 s), so the second waits behind the gap, and its
/// receive visibility (4 s) lapses meanwhile. Returns the pair and both ids.
fn second_behind_a_gap() -> (Pair, RequestId, RequestId) {
    let mut pair = ordered_pair();
    open_session(&mut pair);
    let first = pair.request("tools/call", Some(echo_params("first")));
    pair.perform_ops();
    let server_queue = pair.server_queue.clone();
    let now = pair.now;
    assert!(pair.broker.poll_delivery_for(&server_queue, Some(10 * SEC), now).is_some());
    let second = pair.request("tools/call", Some(echo_params("second")));
    (pair, first, second)
}

/// The client's reply address (queue or topic) cannot be reached for `how_long`:
/// longer than the retry budget, so an answer sent meanwhile fails for good.
fn unreachable_reply_address(pair: &mut Pair, how_long: Duration) {
    let reply_address = pair.client_address.to_string();
    let until = pair.now + how_long;
    pair.broker.set_unreachable(&reply_address, until);
}

fn open_session(pair: &mut Pair) {
    let init = pair.initialize();
    pair.drive_until(10_000, |p| p.response(&init).is_some() && p.client.session_id().is_some()).unwrap();
}

/// Defect 1: a reply that fails to send (its address unreachable for longer than the
/// retry budget) is not lost: the request stays on the queue, its redelivery is
/// handled again and answered from the response cache, and the tool runs once.
#[test]
fn a_reply_that_fails_to_send_is_answered_on_redelivery_without_running_twice() {
    for era in [Era::Modern, Era::Legacy] {
        for topology in [Topology::Sqs, Topology::SnsSqs { raw_delivery: false }] {
            // Arrange
            let mut pair = Pair::builder().era(era).topology(topology).build(t0()).unwrap();
            if era == Era::Legacy {
                open_session(&mut pair);
            }
            unreachable_reply_address(&mut pair, 12 * SEC);

            // Act
            let id = pair.request("tools/call", Some(echo_params("once")));
            let outcome = pair.drive_until(100_000, |p| outcomes(p, &id) > 0);

            // Assert
            outcome.unwrap_or_else(|e| panic!("{era:?} {topology:?}: {e}; events {:?}", pair.server_events));
            assert_eq!(echoed(&pair, &id).as_deref(), Some("once"), "{era:?} {topology:?}: {:?}", pair.client_events);
            assert!(
                pair.server_events.iter().any(|e| matches!(e, ServerEvent::SendFailed { .. })),
                "{era:?} {topology:?}: the first reply should have failed"
            );
            assert_eq!(tool_runs(&pair, "once"), 1, "{era:?} {topology:?}: the tool ran again");
            pair.drive_bounded(100_000).unwrap();
            let (_, server) = depths(&pair);
            assert_eq!(server, EMPTY, "{era:?} {topology:?}: the request was never deleted");
            assert_eq!(pair.server.in_flight(), 0);
        }
    }
}

/// Defect 1, the same under a network outage on the server's side longer than the
/// retry budget: the reply cannot leave, and the request is answered once the link
/// is back.
#[test]
fn a_server_outage_longer_than_the_retry_budget_loses_no_reply() {
    for era in [Era::Modern, Era::Legacy] {
        // Arrange
        let mut pair = Pair::builder().era(era).answer_delay(SEC).build(t0()).unwrap();
        if era == Era::Legacy {
            open_session(&mut pair);
        }
        let id = pair.request("tools/call", Some(echo_params("outage")));
        pair.drive_until(10_000, |p| tool_runs(p, "outage") == 1).unwrap();

        // Act: the answer is submitted during a 25 s outage.
        let until = pair.now + 25 * SEC;
        pair.cut_server(until);
        let outcome = pair.drive_until(100_000, |p| outcomes(p, &id) > 0);

        // Assert
        outcome.unwrap_or_else(|e| panic!("{era:?}: {e}"));
        assert_eq!(echoed(&pair, &id).as_deref(), Some("outage"), "{era:?}: {:?}", pair.client_events);
        assert_eq!(tool_runs(&pair, "outage"), 1, "{era:?}: the tool ran again");
    }
}

/// Defect 2: a client that restarts with the same `ClientId` and reply address and
/// counts JSON-RPC ids from the start again gets its own answers, never the previous
/// process's.
#[test]
fn a_restarted_client_never_gets_the_previous_process_answers() {
    for era in [Era::Modern, Era::Legacy] {
        // Arrange: run 1.
        let mut pair = Pair::builder().era(era).build(t0()).unwrap();
        if era == Era::Legacy {
            open_session(&mut pair);
        }
        let first_session = pair.client.session_id().cloned();
        let id = pair.request("tools/call", Some(echo_params("run-1")));
        pair.drive_until(10_000, |p| p.response(&id).is_some()).unwrap();
        assert_eq!(echoed(&pair, &id).as_deref(), Some("run-1"));
        pair.run_for(5 * SEC, 10_000).unwrap();

        // Act: run 2, the same ClientId, ids from 1 again.
        pair.restart_client();
        pair.client_events.clear();
        if era == Era::Legacy {
            open_session(&mut pair);
            assert_ne!(pair.client.session_id().cloned(), first_session, "the old session was handed out again");
        }
        let id = pair.request("tools/call", Some(echo_params("run-2")));
        pair.drive_until(10_000, |p| p.response(&id).is_some()).unwrap();

        // Assert
        assert_eq!(echoed(&pair, &id).as_deref(), Some("run-2"), "{era:?}: {:?}", pair.client_events);
    }
}

/// Defect 2, the true repeat: a copy of an `initialize` SQS message delivered again
/// after its reply failed is answered with the same session, not a second one.
#[test]
fn the_same_initialize_message_delivered_again_opens_one_session() {
    // Arrange
    let mut pair = Pair::builder().build(t0()).unwrap();
    unreachable_reply_address(&mut pair, 12 * SEC);

    // Act
    let init = pair.initialize();
    pair.drive_until(100_000, |p| p.response(&init).is_some()).unwrap();
    pair.run_for(120 * SEC, 100_000).unwrap();

    // Assert
    let opened = pair.server_events.iter().filter(|e| matches!(e, ServerEvent::SessionOpened { .. })).count();
    assert_eq!(opened, 1, "{:?}", pair.server_events);
    assert_eq!(pair.server.sessions(), 1);
}

/// Defect 4: a session closed by the server with a request still running answers that
/// request (an error) and deletes it: nothing stays in flight, no heartbeat runs on,
/// and receive credit comes back.
#[test]
fn ending_a_session_answers_what_it_still_holds() {
    // Arrange: the application never answers tools/call.
    let mut pair = Pair::builder()
        .responder(Box::new(|route, request| {
            if request.method() == Some("tools/call") {
                return None;
            }
            asyncmcp_proto::sim::echo_responder(route, request)
        }))
        .build(t0())
        .unwrap();
    open_session(&mut pair);
    let credit = pair.server.receive_credit();
    let id = pair.request("tools/call", Some(echo_params("held")));
    pair.drive_until(10_000, |p| tool_runs(p, "held") == 1).unwrap();
    assert_eq!(pair.server.in_flight(), 1);

    // Act
    let session = pair.client.session_id().cloned().unwrap();
    pair.server.close_session(&session, pair.now).unwrap();
    pair.drive_until(10_000, |p| outcomes(p, &id) > 0).unwrap();
    pair.run_for(120 * SEC, 100_000).unwrap();

    // Assert
    assert_eq!(pair.server.in_flight(), 0);
    assert_eq!(pair.server.receive_credit(), credit);
    let error = pair.response(&id).unwrap().to_value();
    assert!(error.get("error").is_some(), "{error}");
    let (_, server) = depths(&pair);
    assert_eq!(server, EMPTY);
    let heartbeats_after = pair
        .server_ops
        .iter()
        .rev()
        .take_while(|op| !matches!(op.kind, OpKind::Delete { .. }))
        .filter(|op| matches!(op.kind, OpKind::ChangeVisibility { .. }))
        .count();
    assert_eq!(heartbeats_after, 0, "heartbeats went on after the session ended");
}

/// Defect 4, the client side: closing a legacy client with a request pending sends
/// the close notification only once that request ended.
#[test]
fn a_closing_client_drains_before_it_closes_the_session() {
    // Arrange
    let mut pair = Pair::builder().answer_delay(5 * SEC).build(t0()).unwrap();
    open_session(&mut pair);
    let id = pair.request("tools/call", Some(echo_params("last")));
    pair.drive_until(10_000, |p| tool_runs(p, "last") == 1).unwrap();

    // Act
    pair.client.close(pair.now);
    pair.drive_bounded(100_000).unwrap();

    // Assert
    assert_eq!(echoed(&pair, &id).as_deref(), Some("last"), "{:?}", pair.client_events);
    let closed = pair.server_events.iter().any(|e| matches!(e, ServerEvent::SessionClosed { .. }));
    assert!(closed, "the close notification never arrived");
    assert!(pair.client.is_closed());
}

/// Defect 6: a response too large to send to a peer that takes no fragments is
/// replaced by a JSON-RPC error naming the size and the limit.
#[test]
fn a_response_too_large_to_send_becomes_an_error_naming_size_and_limit() {
    for era in [Era::Modern, Era::Legacy] {
        // Arrange
        let big = "x".repeat(300 * 1024);
        let answer = big.clone();
        let mut pair = Pair::builder()
            .era(era)
            .client(|c| c.common.takes_fragments = false)
            .responder(Box::new(move |route, request| {
                if request.method() == Some("tools/call") {
                    let id = request.id()?.clone();
                    return Some(JsonRpcMessage::response(
                        id,
                        serde_json::json!({"content": [{"type": "text", "text": answer}]}),
                    ));
                }
                asyncmcp_proto::sim::echo_responder(route, request)
            }))
            .build(t0())
            .unwrap();
        if era == Era::Legacy {
            open_session(&mut pair);
        }

        // Act
        let id = pair.request("tools/call", Some(echo_params("big")));
        let outcome = pair.drive_until(100_000, |p| outcomes(p, &id) > 0);

        // Assert
        outcome.unwrap_or_else(|e| panic!("{era:?}: {e}"));
        let reply = pair.response(&id).unwrap_or_else(|| panic!("{era:?}: {:?}", pair.client_events)).to_value();
        let message = reply.pointer("/error/message").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
        assert!(message.contains("262144"), "{era:?}: {reply}");
        assert!(message.contains("bytes"), "{era:?}: {reply}");
        pair.drive_bounded(100_000).unwrap();
        assert_eq!(depths(&pair).1, EMPTY, "{era:?}");
    }
}

/// Defect 3, second half: a request the application never answers ends at the
/// server's deadline: the application is told to cancel it, the client gets an
/// error, and the heartbeat stops.
#[test]
fn a_request_past_the_server_deadline_is_cancelled_and_answered() {
    for era in [Era::Modern, Era::Legacy] {
        // Arrange
        let mut pair = Pair::builder()
            .era(era)
            .server(|s| s.request_deadline = 90 * SEC)
            .client(|c| c.request_timeout = 600 * SEC)
            .responder(Box::new(|route, request| {
                if request.method() == Some("tools/call") {
                    return None;
                }
                asyncmcp_proto::sim::echo_responder(route, request)
            }))
            .build(t0())
            .unwrap();
        if era == Era::Legacy {
            open_session(&mut pair);
        }
        let start = pair.now;

        // Act
        let id = pair.request("tools/call", Some(echo_params("stuck")));
        pair.drive_until(100_000, |p| outcomes(p, &id) > 0).unwrap_or_else(|e| panic!("{era:?}: {e}"));

        // Assert
        let waited = pair.now.duration_since(start);
        assert!(waited >= 90 * SEC && waited < 100 * SEC, "{era:?}: answered after {waited:?}");
        let reply = pair.response(&id).unwrap().to_value();
        assert!(reply.get("error").is_some(), "{era:?}: {reply}");
        let cancelled = pair.server_events.iter().any(|e| match e {
            ServerEvent::Message { route, message } => {
                message.method() == Some(asyncmcp_proto::CANCELLED_METHOD) && !matches!(route, Route::Detached)
            }
            _ => false,
        });
        assert!(cancelled, "{era:?}: the application was not told to cancel");
        pair.run_for(300 * SEC, 100_000).unwrap();
        assert_eq!(pair.server.in_flight(), 0, "{era:?}");
        assert_eq!(depths(&pair).1, EMPTY, "{era:?}");
        assert_eq!(server_request_ids(&pair).iter().filter(|i| **i == id).count(), 1, "{era:?}");
        assert!(!pair.client_events.iter().any(|e| matches!(e, ClientEvent::RequestTimedOut { .. })));
    }
}

/// A message in fragments on a FIFO queue: SQS hands out nothing more of a message
/// group while one of its messages is in flight, so fragments that shared one group
/// waited behind the first, held unfinished, until reassembly gave up. Each fragment
/// now has a group of its own.
#[test]
fn fragments_on_a_fifo_queue_are_reassembled() {
    for era in [Era::Modern, Era::Legacy] {
        // Arrange
        let mut pair = Pair::builder()
            .era(era)
            .fifo(true)
            .client(|c| {
                c.common.limits.max_bytes = 4096;
                c.common.peer_takes_fragments = true;
            })
            .server(|s| s.common.limits.max_bytes = 4096)
            .build(t0())
            .unwrap();
        if era == Era::Legacy {
            open_session(&mut pair);
        }
        let text = format!("big-{}", "y".repeat(20_000));

        // Act
        let id = pair.request("tools/call", Some(echo_params(&text)));
        let outcome = pair.drive_until(100_000, |p| outcomes(p, &id) > 0);

        // Assert
        outcome.unwrap_or_else(|e| panic!("{era:?}: {e}"));
        assert_eq!(echoed(&pair, &id).as_deref(), Some(text.as_str()), "{era:?}: {:?}", pair.client_events);
    }
}

/// Defect 1 with ordering on: a session request whose answer could not be sent is
/// delivered again when SQS brings it back, although its sequence number was already
/// delivered once (it used to be dropped as a late duplicate).
#[test]
fn an_ordered_session_request_whose_answer_failed_is_answered_on_redelivery() {
    // Arrange
    let mut pair = ordered_pair();
    open_session(&mut pair);
    unreachable_reply_address(&mut pair, 12 * SEC);

    // Act
    let id = pair.request("tools/call", Some(echo_params("ordered")));
    let outcome = pair.drive_until(100_000, |p| outcomes(p, &id) > 0);

    // Assert
    outcome.unwrap();
    assert_eq!(echoed(&pair, &id).as_deref(), Some("ordered"), "{:?}", pair.client_events);
    assert_eq!(tool_runs(&pair, "ordered"), 1);
}

/// Fragments held past the reassembly timeout (one of them was taken for 90 s by a
/// long poll whose process died) were only delayed: they are left on the queue and
/// assembled when they come back, not deleted. The others come back every few
/// seconds meanwhile (short receive visibility): that alone must not give them up.
#[test]
fn fragments_delayed_past_the_reassembly_timeout_are_assembled_when_they_come_back() {
    // Arrange
    let mut pair = Pair::builder()
        .era(Era::Modern)
        .client(|c| {
            c.common.limits.max_bytes = 4096;
            c.common.peer_takes_fragments = true;
            c.request_timeout = 300 * SEC;
        })
        .build(t0())
        .unwrap();
    let text = format!("frag-{}", "z".repeat(12_000));
    let id = pair.request("tools/call", Some(echo_params(&text)));
    pair.perform_ops();

    // Act: a dead poll takes the first fragment for 90 s, past the 60 s timeout.
    let server_queue = pair.server_queue.clone();
    let now = pair.now;
    assert!(pair.broker.poll_delivery_for(&server_queue, Some(90 * SEC), now).is_some());
    let outcome = pair.drive_until(100_000, |p| outcomes(p, &id) > 0);

    // Assert
    outcome.unwrap();
    assert_eq!(echoed(&pair, &id).as_deref(), Some(text.as_str()), "{:?}", pair.client_events);
    assert_eq!(tool_runs(&pair, &text), 1);
}

/// A session message waiting behind an ordering gap longer than its receive
/// visibility comes back meanwhile: that copy joins the waiting one instead of being
/// deleted as a duplicate, so when its answer then fails to send, SQS still holds it
/// and brings it back.
#[test]
fn a_message_waiting_behind_a_gap_is_not_deleted_when_it_comes_back() {
    // Arrange
    let (mut pair, first, second) = second_behind_a_gap();
    unreachable_reply_address(&mut pair, 20 * SEC);

    // Act
    let outcome = pair.drive_until(100_000, |p| outcomes(p, &first) > 0 && outcomes(p, &second) > 0);

    // Assert
    outcome.unwrap_or_else(|e| panic!("{e}: {:?}", pair.server_events));
    assert_eq!(echoed(&pair, &first).as_deref(), Some("first"));
    assert_eq!(echoed(&pair, &second).as_deref(), Some("second"), "{:?}", pair.client_events);
    assert_eq!(tool_runs(&pair, "second"), 1);
}

/// Defect 1 with fragments, both ways: a request that came in fragments, and a
/// response that went in fragments, whose answer could not be sent. The fragments
/// come back and are assembled again (they used to be dropped as duplicates of a
/// message already assembled), and the cached response is replayed in fragments (the
/// replay used to be refused as too large, again and again).
#[test]
fn fragmented_requests_and_responses_are_answered_after_a_failed_reply() {
    for (name, client_limit, server_limit) in [("request", 4096, 262_144), ("response", 262_144, 4096)] {
        // Arrange
        let mut pair = Pair::builder()
            .era(Era::Modern)
            .client(move |c| {
                c.common.limits.max_bytes = client_limit;
                c.common.peer_takes_fragments = true;
            })
            .server(move |s| s.common.limits.max_bytes = server_limit)
            .build(t0())
            .unwrap();
        unreachable_reply_address(&mut pair, 12 * SEC);
        let text = format!("{name}-{}", "f".repeat(12_000));

        // Act
        let id = pair.request("tools/call", Some(echo_params(&text)));
        let outcome = pair.drive_until(100_000, |p| outcomes(p, &id) > 0);

        // Assert
        outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(echoed(&pair, &id).as_deref(), Some(text.as_str()), "{name}: {:?}", pair.client_events);
        assert_eq!(tool_runs(&pair, &text), 1, "{name}");
    }
}

/// A session that ends while one of its requests waits behind an ordering gap
/// answers that request too (it used to be deleted unanswered, and the client waited
/// for its whole timeout).
#[test]
fn a_session_that_ends_answers_requests_waiting_behind_a_gap() {
    // Arrange
    let (mut pair, first, second) = second_behind_a_gap();
    pair.pump();
    assert_eq!(tool_runs(&pair, "second"), 0, "the second waits behind the gap");

    // Act
    let session = pair.client.session_id().cloned().unwrap();
    pair.server.close_session(&session, pair.now).unwrap();
    let outcome = pair.drive_until(100_000, |p| outcomes(p, &first) > 0 && outcomes(p, &second) > 0);

    // Assert
    outcome.unwrap_or_else(|e| panic!("{e}: {:?}", pair.client_events));
    for id in [&first, &second] {
        let reply = pair.response(id).unwrap_or_else(|| panic!("{id}: {:?}", pair.client_events)).to_value();
        assert!(reply.get("error").is_some(), "{id}: {reply}");
    }
}

/// An answer the codec refuses (nested deeper than any JSON-RPC peer parses) is
/// refused to the application, and the request stays open for another answer.
#[test]
fn a_refused_answer_leaves_the_request_open_for_another() {
    // Arrange
    let mut pair = Pair::builder().era(Era::Modern).responder(Box::new(|_, _| None)).build(t0()).unwrap();
    let id = pair.request("tools/call", Some(echo_params("again")));
    pair.drive_until(1_000, |p| tool_runs(p, "again") == 1).unwrap();
    let route = pair
        .server_events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Message { route, .. } => Some(route.clone()),
            _ => None,
        })
        .unwrap();
    let mut deep = serde_json::json!("bottom");
    for _ in 0..200 {
        deep = serde_json::json!([deep]);
    }

    // Act
    let refused = pair.server.submit(&route, JsonRpcMessage::response(id.clone(), deep), pair.now);
    let fine =
        JsonRpcMessage::response(id.clone(), serde_json::json!({"content": [{"type": "text", "text": "again"}]}));
    let accepted = pair.server.submit(&route, fine, pair.now);
    pair.drive_until(1_000, |p| outcomes(p, &id) > 0).unwrap();

    // Assert
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(accepted, Ok(()));
    assert_eq!(echoed(&pair, &id).as_deref(), Some("again"));
}
