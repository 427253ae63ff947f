//! Our 2026-07-28 task shapes (`asyncmcp_proto::tasks::wire::modern`) against rmcp's
//! SEP-2663 types: what our server sends, an rmcp client reads, and what an rmcp
//! server sends, our client reads.

use asyncmcp_proto::tasks::wire::{TaskView, modern};
use asyncmcp_proto::tasks::{Outcome, TaskIds, TaskLimits, TaskRecord, TaskRequest, TaskStatus};
use rmcp::model::{CreateTaskResult, DetailedTask, GetTaskResult, Task, TaskPayload, TaskStatus as RmcpStatus};

fn record() -> TaskRecord {
    let limits = TaskLimits::default();
    let mut r = TaskRecord::create(
        TaskIds::new([3; 32]).next_id("c/1"),
        TaskRequest::new("tools/call", None),
        Some(60_000),
        &limits,
        1_764_066_600_000,
    );
    r.claim("w", &limits, 1_764_066_600_000).unwrap();
    r
}

#[test]
fn an_rmcp_client_reads_our_create_and_get_answers() {
    let mut r = record();
    let created: CreateTaskResult =
        serde_json::from_value(serde_json::to_value(modern::CreateTaskResult::from_record(&r)).unwrap()).unwrap();
    assert_eq!(created.task.task_id, r.id.as_str());
    assert_eq!(created.task.status, RmcpStatus::Working);
    assert_eq!(created.task.ttl_ms, Some(60_000));
    assert_eq!(created.task.poll_interval_ms, Some(1_000));

    r.complete("w", Outcome::Result(serde_json::json!({"content": [], "isError": true})), 1_764_066_601_000).unwrap();
    let got: GetTaskResult =
        serde_json::from_value(serde_json::to_value(modern::GetTaskResult::from_record(&r)).unwrap()).unwrap();
    assert_eq!(got.task.status(), RmcpStatus::Completed);
    match got.task.payload {
        TaskPayload::Completed { result } => assert_eq!(result["isError"], true),
        other => panic!("expected the result, got {other:?}"),
    }

    let mut waiting = record();
    waiting.progress("w", TaskStatus::InputRequired, Some("waiting".into()), 2).unwrap();
    let got: GetTaskResult =
        serde_json::from_value(serde_json::to_value(modern::GetTaskResult::from_record(&waiting)).unwrap()).unwrap();
    assert_eq!(got.task.status(), RmcpStatus::InputRequired);

    let mut failed = record();
    failed.complete("w", Outcome::error(-32602, "bad"), 1).unwrap();
    let got: GetTaskResult =
        serde_json::from_value(serde_json::to_value(modern::GetTaskResult::from_record(&failed)).unwrap()).unwrap();
    assert!(matches!(got.task.payload, TaskPayload::Failed { ref error } if error["code"] == -32602));
}

#[test]
fn our_client_reads_an_rmcp_servers_answers() {
    let task = Task::new("t-1", RmcpStatus::Working, "2025-11-25T10:30:00Z", "2025-11-25T10:30:00Z")
        .with_ttl_ms(5_000)
        .with_poll_interval_ms(250);
    let created = TaskView::parse(&serde_json::to_value(CreateTaskResult::new(task.clone())).unwrap()).unwrap();
    assert_eq!((created.task_id.as_str(), created.status), ("t-1", TaskStatus::Working));
    assert_eq!((created.ttl_ms, created.poll_interval_ms), (Some(5_000), Some(250)));

    let result = serde_json::json!({"content": [{"type": "text", "text": "done"}]});
    let payload = TaskPayload::Completed { result: result.as_object().unwrap().clone() };
    let get = GetTaskResult::new(DetailedTask::new(task, payload));
    let view = TaskView::parse(&serde_json::to_value(get).unwrap()).unwrap();
    assert_eq!(view.status, TaskStatus::Completed);
    assert_eq!(view.outcome, Some(Outcome::Result(result)));
}
