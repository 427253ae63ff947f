//! A request answered with a task keeps its queue message (`Server::submit_and_hold`):
//! heartbeats hide it until the task ends, then it is deleted; a worker that dies
//! mid-task leaves it to be redelivered, and the next worker finds the task by the
//! request's origin and takes it over once the lease has ended.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use asyncmcp_proto::sim::{Pair, echo_responder};
use asyncmcp_proto::tasks::{Outcome, TaskIds, TaskLimits, TaskRecord, TaskRequest, TaskStatus, wire};
use asyncmcp_proto::{Era, JsonRpcMessage, OpKind, RequestId, Route, ServerEvent};

/// Every `tools/call` the server delivered to the application, in order.
fn calls(pair: &Pair) -> Vec<(Route, RequestId)> {
    pair.server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message { route, message } if message.method() == Some("tools/call") => {
                Some((route.clone(), message.id()?.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A modern-era pair whose server application answers `tools/call` by hand.
fn pair() -> Pair {
    // The test's only clock read: the simulation moves time itself.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    Pair::builder()
        .era(Era::Modern)
        .responder(Box::new(
            |route, request| {
                if request.method() == Some("tools/call") { None } else { echo_responder(route, request) }
            },
        ))
        .build(start)
        .unwrap()
}

fn task_answer(id: RequestId, record: &TaskRecord) -> JsonRpcMessage {
    JsonRpcMessage::response(id, serde_json::to_value(wire::legacy::CreateTaskResult::from_record(record)).unwrap())
}

fn count_ops(pair: &Pair, f: impl Fn(&OpKind) -> bool) -> usize {
    pair.server_ops.iter().filter(|op| f(&op.kind)).count()
}

fn is_delete(kind: &OpKind) -> bool {
    matches!(kind, OpKind::Delete { .. })
}

fn is_heartbeat(kind: &OpKind) -> bool {
    matches!(kind, OpKind::ChangeVisibility { timeout_secs, .. } if *timeout_secs > 0)
}

#[test]
fn a_held_request_stays_hidden_by_heartbeats_until_its_task_ends_then_is_deleted() {
    // Arrange: the request is delivered, a task created and answered, the message held.
    let mut pair = pair();
    let id = pair.request("tools/call", Some(serde_json::json!({"name": "slow", "arguments": {}})));
    pair.drive_until(1_000, |p| !calls(p).is_empty()).unwrap();
    let (route, delivered) = calls(&pair).remove(0);
    let origin = pair.server.request_origin(&route, &delivered).unwrap();
    let now_ms = pair.broker.unix_millis(pair.now);
    let record = TaskRecord::create(
        TaskIds::new([1; 32]).next_id(&origin),
        TaskRequest::new("tools/call", None),
        None,
        &TaskLimits::default(),
        now_ms,
    );
    let held = pair.server.submit_and_hold(&route, task_answer(delivered, &record), pair.now).unwrap();

    // Act: the task runs for ten minutes, twenty times the queue's visibility timeout.
    pair.drive_until(1_000, |p| p.response(&id).is_some()).unwrap();
    pair.run_for(Duration::from_secs(600), 100_000).unwrap();

    // Assert: answered at once, never redelivered, never deleted, kept hidden.
    let answer = pair.response(&id).unwrap().to_value();
    assert_eq!(answer["result"]["task"]["taskId"], record.id.as_str());
    assert_eq!(calls(&pair).len(), 1, "the held request was delivered again");
    assert_eq!(count_ops(&pair, is_delete), 0, "the held request was deleted before its task ended");
    assert!(count_ops(&pair, is_heartbeat) >= 600 / 15, "too few heartbeats");
    let depth = pair.broker.queue_depth(&pair.server_queue).unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 1));
    assert_eq!(pair.server.held(), 1);

    // Act: the task ends.
    pair.server.finish_held(&held, pair.now);
    pair.run_for(Duration::from_secs(60), 10_000).unwrap();

    // Assert: the message is gone and no longer extended.
    let heartbeats = count_ops(&pair, is_heartbeat);
    pair.run_for(Duration::from_secs(60), 10_000).unwrap();
    assert_eq!(count_ops(&pair, is_delete), 1);
    assert_eq!(count_ops(&pair, is_heartbeat), heartbeats);
    let depth = pair.broker.queue_depth(&pair.server_queue).unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
    assert_eq!((pair.server.held(), pair.server.in_flight()), (0, 0));
}

#[test]
fn a_plain_answer_deletes_the_request_once_sent() {
    // The contrast that makes holding necessary: `submit` ends the request.
    let mut pair = pair();
    pair.request("tools/call", Some(serde_json::json!({"name": "slow", "arguments": {}})));
    pair.drive_until(1_000, |p| !calls(p).is_empty()).unwrap();
    let (route, delivered) = calls(&pair).remove(0);

    pair.server.submit(&route, JsonRpcMessage::response(delivered, serde_json::json!({})), pair.now).unwrap();
    pair.run_for(Duration::from_secs(60), 10_000).unwrap();

    assert_eq!(count_ops(&pair, is_delete), 1);
}

#[test]
fn a_worker_that_dies_mid_task_leaves_the_request_to_the_next_which_finds_the_task_by_origin() {
    // Arrange: worker "a" creates and claims the task, answers it and holds the message.
    let limits = TaskLimits::default();
    let mut store: BTreeMap<String, TaskRecord> = BTreeMap::new();
    let mut pair = pair();
    let id = pair.request("tools/call", Some(serde_json::json!({"name": "slow", "arguments": {}})));
    pair.drive_until(1_000, |p| !calls(p).is_empty()).unwrap();
    let (route, delivered) = calls(&pair).remove(0);
    let origin = pair.server.request_origin(&route, &delivered).unwrap();
    let now_ms = pair.broker.unix_millis(pair.now);
    let mut record = TaskRecord::create(
        TaskIds::new([1; 32]).next_id(&origin),
        TaskRequest::new("tools/call", None),
        None,
        &limits,
        now_ms,
    );
    record.claim("a", &limits, now_ms).unwrap();
    store.insert(origin.clone(), record.clone());
    pair.server.submit_and_hold(&route, task_answer(delivered, &record), pair.now).unwrap();
    pair.drive_until(1_000, |p| p.response(&id).is_some()).unwrap();

    // Act: "a" dies mid-task; the queue redelivers the request to worker "b".
    pair.run_for(Duration::from_secs(10), 10_000).unwrap();
    pair.restart_server();
    let crashed = pair.now;
    pair.drive_until(10_000, |p| calls(p).len() == 2).unwrap();
    let (route, delivered) = calls(&pair).remove(1);
    let origin_b = pair.server.request_origin(&route, &delivered).unwrap();
    let now_ms = pair.broker.unix_millis(pair.now);

    // Assert: the same origin finds the same task, whose lease has ended.
    assert!(pair.now.duration_since(crashed) <= Duration::from_secs(30), "redelivered too late");
    assert_eq!(origin_b, origin);
    let mut task = store.get(&origin_b).cloned().unwrap();
    assert_eq!(task.id, record.id);
    let grant = task.claim("b", &limits, now_ms).unwrap();
    assert!(grant.rerun);

    // Act: "b" answers with the same task, finishes it and ends the hold.
    let held = pair.server.submit_and_hold(&route, task_answer(delivered, &task), pair.now).unwrap();
    pair.run_for(Duration::from_secs(5), 10_000).unwrap();
    task.complete("b", Outcome::Result(serde_json::json!({"content": []})), now_ms + 5_000).unwrap();
    pair.server.finish_held(&held, pair.now);
    pair.run_for(Duration::from_secs(120), 10_000).unwrap();

    // Assert: done once, deleted, never delivered a third time.
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(task.attempts, 2);
    assert_eq!(calls(&pair).len(), 2);
    let depth = pair.broker.queue_depth(&pair.server_queue).unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
}

#[test]
fn a_released_request_is_delivered_again_and_a_closing_server_hands_held_ones_back() {
    // Arrange: a held request.
    let mut pair = pair();
    pair.request("tools/call", Some(serde_json::json!({"name": "slow", "arguments": {}})));
    pair.drive_until(1_000, |p| !calls(p).is_empty()).unwrap();
    let (route, delivered) = calls(&pair).remove(0);
    let answer = JsonRpcMessage::response(delivered, serde_json::json!({}));
    let held = pair.server.submit_and_hold(&route, answer, pair.now).unwrap();
    pair.run_for(Duration::from_secs(1), 10_000).unwrap();

    // Act: released (another worker holds the lease): handled anew, not from the cache.
    pair.server.release_held(&held, pair.now);
    pair.drive_until(1_000, |p| calls(p).len() == 2).unwrap();
    let (route, delivered) = calls(&pair).remove(1);
    let answer = JsonRpcMessage::response(delivered, serde_json::json!({}));
    pair.server.submit_and_hold(&route, answer, pair.now).unwrap();
    pair.run_for(Duration::from_secs(1), 10_000).unwrap();
    pair.server.close(pair.now);
    pair.perform_ops();

    // Assert: closing hands it back at once, undeleted.
    assert_eq!(count_ops(&pair, is_delete), 0);
    let depth = pair.broker.queue_depth(&pair.server_queue).unwrap();
    assert_eq!((depth.visible, depth.in_flight), (1, 0));
}

#[test]
fn held_requests_do_not_take_the_room_of_new_requests() {
    // Arrange: room for one request at a time, and that one held for a task.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let mut pair =
        Pair::builder()
            .era(Era::Modern)
            .server(|config| config.max_in_flight = 1)
            .responder(Box::new(|route, request| {
                if request.method() == Some("tools/call") { None } else { echo_responder(route, request) }
            }))
            .build(start)
            .unwrap();
    pair.request("tools/call", Some(serde_json::json!({"name": "slow", "arguments": {}})));
    pair.drive_until(1_000, |p| !calls(p).is_empty()).unwrap();
    let (route, delivered) = calls(&pair).remove(0);
    let answer = JsonRpcMessage::response(delivered, serde_json::json!({}));
    pair.server.submit_and_hold(&route, answer, pair.now).unwrap();

    // Act: a poll arrives while the task runs.
    let ping = pair.request("ping", None);
    pair.run_for(Duration::from_secs(10), 10_000).unwrap();

    // Assert: it was taken and answered.
    assert!(pair.response(&ping).is_some(), "a held task must not block the next request");
    assert_eq!(pair.server.held(), 1);
}
