//! The task messages of both MCP eras, as serde types, and how one [`TaskRecord`]
//! shows in each.
//!
//! The eras differ in field names (`ttl` / `ttlMs`, `pollInterval` /
//! `pollIntervalMs`), in where the final result travels (`tasks/result` in
//! 2025-11-25, inside `tasks/get` in 2026-07-28) and in one status: a tool result
//! with `isError: true` makes a 2025-11-25 task `failed` but a 2026-07-28 task
//! `completed`. The record keeps the outcome; [`legacy::Task::from_record`] and
//! [`modern::DetailedTask::from_record`] derive each era's view from it, and
//! [`TaskView`] reads either back on the client side.
//!
//! ```
//! use asyncmcp_proto::tasks::wire::{legacy, modern};
//! use asyncmcp_proto::tasks::{Outcome, TaskIds, TaskLimits, TaskRecord, TaskRequest, TaskStatus};
//!
//! let limits = TaskLimits::default();
//! let mut task = TaskRecord::create(
//!     TaskIds::new([1; 32]).next_id("m-1"),
//!     TaskRequest::new("tools/call", None),
//!     Some(60_000),
//!     &limits,
//!     1_764_066_600_000,
//! );
//! task.claim("w", &limits, 1_764_066_600_000).unwrap();
//! let tool_error = serde_json::json!({"content": [], "isError": true});
//! task.complete("w", Outcome::Result(tool_error), 1_764_066_601_000).unwrap();
//!
//! let old = serde_json::to_value(legacy::Task::from_record(&task)).unwrap();
//! assert_eq!(old["status"], "failed");
//! assert_eq!(old["ttl"], 60_000);
//! let new = serde_json::to_value(modern::GetTaskResult::from_record(&task)).unwrap();
//! assert_eq!(new["status"], "completed");
//! assert_eq!(new["resultType"], "complete");
//! assert_eq!(new["result"]["isError"], true);
//! assert_eq!(new["createdAt"], "2025-11-25T10:30:00.000Z");
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Outcome, RELATED_TASK_META, TASKS_EXTENSION, TaskRecord, TaskStatus, iso8601};

/// `params` of `tasks/get`, `tasks/cancel` and (2025-11-25) `tasks/result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TaskIdParams {
    /// The task.
    pub task_id: String,
    /// `_meta`, if any (ignored by the task methods).
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

impl TaskIdParams {
    /// Params naming `task_id`.
    #[must_use]
    pub fn new(task_id: &str) -> Self {
        Self { task_id: task_id.to_owned(), meta: None }
    }
}

/// Whether a tool result reports a tool-level error (`isError: true`).
fn is_tool_error(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Result(r) if r.get("isError").and_then(Value::as_bool) == Some(true))
}

/// MCP 2025-11-25 (SEP-1686, experimental): task-augmented requests, `tasks/get`,
/// `tasks/result`, `tasks/list`, `tasks/cancel`, `notifications/tasks/status`.
pub mod legacy {
    use super::*;

    /// `params.task` of a task-augmented request.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[non_exhaustive]
    pub struct TaskParams {
        /// The lifetime the requestor asks for (ms).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ttl: Option<u64>,
    }

    impl TaskParams {
        /// The task augmentation of a request's `params`, if it has one (`task` is an
        /// object). A `task` that is not an object, or a `ttl` that is not a
        /// non-negative integer, reads as no TTL wish.
        #[must_use]
        pub fn of_request(params: Option<&Value>) -> Option<TaskParams> {
            let task = params?.get("task")?.as_object()?;
            Some(TaskParams { ttl: task.get("ttl").and_then(Value::as_u64) })
        }
    }

    /// The `Task` object: the answer of `tasks/get` and `tasks/cancel`, the params
    /// of `notifications/tasks/status`, and inside `CreateTaskResult`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[non_exhaustive]
    pub struct Task {
        /// The task id.
        pub task_id: String,
        /// The status.
        pub status: TaskStatus,
        /// A note on the status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub status_message: Option<String>,
        /// ISO 8601 creation time.
        pub created_at: String,
        /// ISO 8601 time of the last change.
        pub last_updated_at: String,
        /// Lifetime from creation (ms); `null` for unlimited.
        pub ttl: Option<u64>,
        /// Suggested polling interval (ms).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub poll_interval: Option<u64>,
    }

    impl Task {
        /// The record as 2025-11-25 shows it: a tool result with `isError: true` is
        /// `failed` there.
        #[must_use]
        pub fn from_record(record: &TaskRecord) -> Self {
            let status = match &record.outcome {
                Some(outcome) if is_tool_error(outcome) => TaskStatus::Failed,
                _ => record.status,
            };
            Self {
                task_id: record.id.to_string(),
                status,
                status_message: record.status_message.clone(),
                created_at: iso8601(record.created_ms),
                last_updated_at: iso8601(record.updated_ms),
                ttl: Some(record.ttl_ms),
                poll_interval: Some(record.poll_interval_ms),
            }
        }
    }

    /// The answer to a task-augmented request.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[non_exhaustive]
    pub struct CreateTaskResult {
        /// The new task.
        pub task: Task,
        /// `_meta`, if any.
        #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
        pub meta: Option<Value>,
    }

    impl CreateTaskResult {
        /// The answer for a freshly created `record`.
        #[must_use]
        pub fn from_record(record: &TaskRecord) -> Self {
            Self { task: Task::from_record(record), meta: None }
        }
    }

    /// The answer of `tasks/result` for a terminal task: exactly what the request
    /// would have answered, with `_meta` naming the task (a result gets
    /// `_meta["io.modelcontextprotocol/related-task"]`; an error gets it in `data`).
    /// A cancelled task answers error -32603 "the task was cancelled". `None` while
    /// the task is not terminal (the server holds the request until it is).
    #[must_use]
    pub fn result_of(record: &TaskRecord) -> Option<Outcome> {
        let related = serde_json::json!({"taskId": record.id.as_str()});
        match (&record.outcome, record.status) {
            (Some(Outcome::Result(result)), _) => {
                let mut result = result.clone();
                if let Some(obj) = result.as_object_mut() {
                    let meta = obj.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
                    if let Some(meta) = meta.as_object_mut() {
                        meta.insert(RELATED_TASK_META.to_owned(), related);
                    }
                }
                Some(Outcome::Result(result))
            }
            (Some(Outcome::Error(error)), _) => Some(Outcome::Error(error.clone())),
            (None, TaskStatus::Cancelled) => Some(Outcome::Error(serde_json::json!({
                "code": crate::error_codes::INTERNAL_ERROR,
                "message": "the task was cancelled",
                "data": {RELATED_TASK_META: related},
            }))),
            _ => None,
        }
    }
}

/// MCP 2026-07-28, extension `io.modelcontextprotocol/tasks` (SEP-2663):
/// `resultType: "task"`, `tasks/get` carrying the result or error, `tasks/update`,
/// ack-only `tasks/cancel`, `notifications/tasks`.
pub mod modern {
    use super::*;

    /// Whether a request's `params` declare the tasks extension in
    /// `_meta["io.modelcontextprotocol/clientCapabilities"].extensions`. Only then may
    /// the server answer with a task.
    #[must_use]
    pub fn declares_tasks(params: Option<&Value>) -> bool {
        params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get("io.modelcontextprotocol/clientCapabilities"))
            .and_then(|c| c.get("extensions"))
            .and_then(|e| e.get(TASKS_EXTENSION))
            .is_some()
    }

    /// The `error.data` of [`MISSING_REQUIRED_CLIENT_CAPABILITY`](super::super::MISSING_REQUIRED_CLIENT_CAPABILITY)
    /// (-32021): the extension the request lacked.
    #[must_use]
    pub fn missing_capability_data() -> Value {
        serde_json::json!({"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}})
    }

    /// The empty acknowledgement of `tasks/update` and `tasks/cancel`.
    #[must_use]
    pub fn ack() -> Value {
        serde_json::json!({"resultType": "complete"})
    }

    /// The `Task` object.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[non_exhaustive]
    pub struct Task {
        /// The task id.
        pub task_id: String,
        /// The status.
        pub status: TaskStatus,
        /// A note on the status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub status_message: Option<String>,
        /// ISO 8601 creation time.
        pub created_at: String,
        /// ISO 8601 time of the last change.
        pub last_updated_at: String,
        /// Lifetime from creation (ms); `null` for unlimited.
        pub ttl_ms: Option<u64>,
        /// Suggested polling interval (ms).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub poll_interval_ms: Option<u64>,
    }

    impl Task {
        /// The record's metadata.
        #[must_use]
        pub fn from_record(record: &TaskRecord) -> Self {
            Self {
                task_id: record.id.to_string(),
                status: record.status,
                status_message: record.status_message.clone(),
                created_at: iso8601(record.created_ms),
                last_updated_at: iso8601(record.updated_ms),
                ttl_ms: Some(record.ttl_ms),
                poll_interval_ms: Some(record.poll_interval_ms),
            }
        }
    }

    /// A task with its status's payload: `result` when completed, `error` when
    /// failed, `inputRequests` when input is required. The params of
    /// `notifications/tasks`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[non_exhaustive]
    pub struct DetailedTask {
        /// The metadata.
        #[serde(flatten)]
        pub task: Task,
        /// Outstanding server-to-client requests, keyed (status `input_required`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub input_requests: Option<Value>,
        /// The final result (status `completed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub result: Option<Value>,
        /// The JSON-RPC error (status `failed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub error: Option<Value>,
    }

    impl DetailedTask {
        /// The record with its outcome inlined.
        #[must_use]
        pub fn from_record(record: &TaskRecord) -> Self {
            let (result, error) = match &record.outcome {
                Some(Outcome::Result(r)) => (Some(r.clone()), None),
                Some(Outcome::Error(e)) => (None, Some(e.clone())),
                None => (None, None),
            };
            // SEP-2663 requires `inputRequests` with `input_required`; the record keeps
            // none yet, so the map is empty (the client has nothing to answer).
            let input_requests = (record.status == TaskStatus::InputRequired).then(|| Value::Object(Map::new()));
            Self { task: Task::from_record(record), input_requests, result, error }
        }
    }

    /// The answer to a `tools/call` the server turned into a task.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[non_exhaustive]
    pub struct CreateTaskResult {
        /// Always `"task"`.
        pub result_type: String,
        /// The new task.
        #[serde(flatten)]
        pub task: Task,
    }

    impl CreateTaskResult {
        /// The answer for a freshly created `record`.
        #[must_use]
        pub fn from_record(record: &TaskRecord) -> Self {
            Self { result_type: "task".to_owned(), task: Task::from_record(record) }
        }
    }

    /// The answer to `tasks/get`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[non_exhaustive]
    pub struct GetTaskResult {
        /// Always `"complete"`.
        pub result_type: String,
        /// The task.
        #[serde(flatten)]
        pub task: DetailedTask,
    }

    impl GetTaskResult {
        /// The answer for `record`.
        #[must_use]
        pub fn from_record(record: &TaskRecord) -> Self {
            Self { result_type: "complete".to_owned(), task: DetailedTask::from_record(record) }
        }
    }

    /// `params` of `tasks/update`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[non_exhaustive]
    pub struct UpdateTaskParams {
        /// The task.
        pub task_id: String,
        /// Answers to outstanding `inputRequests`, by key.
        pub input_responses: Map<String, Value>,
    }
}

/// A task as a client sees it, read from either era's answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskView {
    /// The task id.
    pub task_id: String,
    /// The status as the server reported it.
    pub status: TaskStatus,
    /// A note on the status.
    pub status_message: Option<String>,
    /// ISO 8601 creation time.
    pub created_at: String,
    /// ISO 8601 time of the last change.
    pub last_updated_at: String,
    /// Lifetime from creation (ms), `None` for unlimited.
    pub ttl_ms: Option<u64>,
    /// Suggested polling interval (ms).
    pub poll_interval_ms: Option<u64>,
    /// The final outcome when the answer carried it (2026-07-28 `tasks/get`;
    /// 2025-11-25 needs a `tasks/result`).
    pub outcome: Option<Outcome>,
}

impl TaskView {
    /// Reads a `tasks/get` answer, a `CreateTaskResult` or a status notification's
    /// params of either era. `None` when it is neither (a peer's garbage).
    #[must_use]
    pub fn parse(value: &Value) -> Option<TaskView> {
        let value = value.get("task").filter(|t| t.is_object()).unwrap_or(value);
        if value.get("ttlMs").is_some() || value.get("resultType").is_some() {
            let t: modern::DetailedTask = serde_json::from_value(value.clone()).ok()?;
            let outcome = t.result.map(Outcome::Result).or(t.error.map(Outcome::Error));
            return Some(TaskView {
                task_id: t.task.task_id,
                status: t.task.status,
                status_message: t.task.status_message,
                created_at: t.task.created_at,
                last_updated_at: t.task.last_updated_at,
                ttl_ms: t.task.ttl_ms,
                poll_interval_ms: t.task.poll_interval_ms,
                outcome,
            });
        }
        let t: legacy::Task = serde_json::from_value(value.clone()).ok()?;
        Some(TaskView {
            task_id: t.task_id,
            status: t.status,
            status_message: t.status_message,
            created_at: t.created_at,
            last_updated_at: t.last_updated_at,
            ttl_ms: t.ttl,
            poll_interval_ms: t.poll_interval,
            outcome: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tasks::{TaskIds, TaskLimits, TaskRequest};

    fn record() -> TaskRecord {
        let limits = TaskLimits::default();
        let mut r = TaskRecord::create(
            TaskIds::new([9; 32]).next_id("m"),
            TaskRequest::new("tools/call", None),
            Some(60_000),
            &limits,
            1_764_066_600_000,
        );
        r.claim("w", &limits, 1_764_066_600_000).unwrap();
        r
    }

    #[test]
    fn legacy_create_result_matches_the_spec_example_shape() {
        let r = record();
        let v = serde_json::to_value(legacy::CreateTaskResult::from_record(&r)).unwrap();
        assert_eq!(
            v,
            json!({"task": {"taskId": r.id.as_str(), "status": "working", "createdAt": "2025-11-25T10:30:00.000Z",
                "lastUpdatedAt": "2025-11-25T10:30:00.000Z", "ttl": 60000, "pollInterval": 1000}})
        );
        assert_eq!(TaskView::parse(&v).unwrap().task_id, r.id.as_str());
    }

    #[test]
    fn modern_create_result_matches_the_spec_example_shape() {
        let r = record();
        let v = serde_json::to_value(modern::CreateTaskResult::from_record(&r)).unwrap();
        assert_eq!(
            v,
            json!({"resultType": "task", "taskId": r.id.as_str(), "status": "working",
                "createdAt": "2025-11-25T10:30:00.000Z", "lastUpdatedAt": "2025-11-25T10:30:00.000Z",
                "ttlMs": 60000, "pollIntervalMs": 1000})
        );
    }

    #[test]
    fn a_failed_task_carries_its_error_in_both_eras() {
        let mut r = record();
        r.complete("w", Outcome::error(-32602, "bad args"), 1_764_066_601_000).unwrap();
        let get = serde_json::to_value(modern::GetTaskResult::from_record(&r)).unwrap();
        assert_eq!(get["status"], "failed");
        assert_eq!(get["error"]["code"], -32602);
        let view = TaskView::parse(&get).unwrap();
        assert_eq!(view.outcome, Some(Outcome::error(-32602, "bad args")));
        assert_eq!(legacy::result_of(&r), Some(Outcome::error(-32602, "bad args")));
    }

    #[test]
    fn legacy_result_names_its_task_and_waits_while_running() {
        let mut r = record();
        assert_eq!(legacy::result_of(&r), None);
        r.complete("w", Outcome::Result(json!({"content": []})), 1).unwrap();
        let Some(Outcome::Result(v)) = legacy::result_of(&r) else { panic!("a result") };
        assert_eq!(v["_meta"][RELATED_TASK_META]["taskId"], r.id.as_str());

        let mut c = record();
        c.cancel(None, 2).unwrap();
        assert!(matches!(legacy::result_of(&c), Some(Outcome::Error(_))));
    }

    #[test]
    fn the_extension_is_read_from_the_request_meta_and_task_params_from_params() {
        let declared = json!({"_meta": {"io.modelcontextprotocol/clientCapabilities":
            {"extensions": {"io.modelcontextprotocol/tasks": {}}}}});
        assert!(modern::declares_tasks(Some(&declared)));
        assert!(!modern::declares_tasks(Some(&json!({"_meta": {}}))));
        assert!(!modern::declares_tasks(None));
        assert_eq!(
            legacy::TaskParams::of_request(Some(&json!({"task": {"ttl": 5}}))),
            Some(legacy::TaskParams { ttl: Some(5) })
        );
        assert_eq!(legacy::TaskParams::of_request(Some(&json!({"task": 5}))), None);
        assert_eq!(legacy::TaskParams::of_request(Some(&json!({"task": {"ttl": -1}}))).unwrap().ttl, None);
    }

    #[test]
    fn input_required_carries_an_input_requests_map() {
        let mut r = record();
        r.progress("w", TaskStatus::InputRequired, None, 1).unwrap();
        let v = serde_json::to_value(modern::GetTaskResult::from_record(&r)).unwrap();
        assert_eq!(v["inputRequests"], json!({}));
        r.progress("w", TaskStatus::Working, None, 2).unwrap();
        let v = serde_json::to_value(modern::GetTaskResult::from_record(&r)).unwrap();
        assert!(v.get("inputRequests").is_none());
    }

    #[test]
    fn garbage_is_not_a_task() {
        assert_eq!(TaskView::parse(&json!({"status": "sleeping"})), None);
        assert_eq!(TaskView::parse(&json!([1, 2])), None);
        assert_eq!(TaskView::parse(&json!({"taskId": "x", "status": "bogus", "ttlMs": 1})), None);
    }
}
