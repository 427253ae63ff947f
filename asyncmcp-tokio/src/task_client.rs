//! The client side of MCP tasks on the plain message API: ask for a task, read it,
//! wait for its outcome, cancel it. A task id is all a later process needs: any
//! client on the same server's queue (another `ClientId`, another reply queue, or a
//! new legacy session) reads the task by id.
//!
//! ```
//! use asyncmcp_tokio::proto::Era;
//! use asyncmcp_tokio::task_client::task_call_params;
//!
//! let legacy = task_call_params(Era::Legacy, "countdown", serde_json::json!({"from": 3}), Some(60_000));
//! assert_eq!(legacy["task"]["ttl"], 60_000);
//! let modern = task_call_params(Era::Modern, "countdown", serde_json::json!({"from": 3}), None);
//! assert!(modern["_meta"]["io.modelcontextprotocol/clientCapabilities"]["extensions"]["io.modelcontextprotocol/tasks"].is_object());
//! ```

use std::time::Duration;

use asyncmcp_driver::{ClientHandle, RequestError};
use asyncmcp_proto::tasks::wire::TaskView;
use asyncmcp_proto::tasks::{Outcome, TASKS_EXTENSION, TaskStatus, methods};
use asyncmcp_proto::{Era, JsonRpcMessage};
use serde_json::{Value, json};

/// Why a task call did not give what was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskClientError {
    /// The request itself failed (timeout, send failure, client closed).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The server answered a JSON-RPC error (an unknown or expired task is `-32602`).
    #[error("the server refused: {message} ({code})")]
    Refused {
        /// The error code.
        code: i64,
        /// The error message.
        message: String,
    },
    /// The answer was not a task of either era.
    #[error("the server's answer is not a task: {0}")]
    NotATask(String),
}

/// What a `tools/call` asked as a task was answered with.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallAnswer {
    /// A task: poll it by its id.
    Task(TaskView),
    /// The server ran the call at once (the tool does not run as a task): its answer.
    Done(JsonRpcMessage),
}

/// The `params` of a `tools/call` of `name` that asks for a task: 2025-11-25
/// `params.task` (with the TTL wish), 2026-07-28 the extension declared in `_meta`.
pub fn task_call_params(era: Era, name: &str, arguments: Value, ttl_ms: Option<u64>) -> Value {
    match era {
        Era::Legacy => {
            let task = ttl_ms.map_or_else(|| json!({}), |ttl| json!({"ttl": ttl}));
            json!({"name": name, "arguments": arguments, "task": task})
        }
        _ => json!({
            "name": name,
            "arguments": arguments,
            "_meta": {"io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
        }),
    }
}

/// Calls tool `name` asking for a task (see [`task_call_params`]). A legacy-era
/// client must have opened its session (`initialize`) first.
///
/// # Errors
/// [`TaskClientError`].
pub async fn call_as_task(
    client: &ClientHandle,
    era: Era,
    name: &str,
    arguments: Value,
    ttl_ms: Option<u64>,
) -> Result<CallAnswer, TaskClientError> {
    let reply = client.call("tools/call", Some(task_call_params(era, name, arguments, ttl_ms))).await?;
    let result = result_of(&reply)?;
    if result.get("task").is_some() || result.get("resultType").and_then(Value::as_str) == Some("task") {
        return TaskView::parse(&result)
            .map(CallAnswer::Task)
            .ok_or_else(|| TaskClientError::NotATask(result.to_string()));
    }
    Ok(CallAnswer::Done(reply))
}

/// Reads task `task_id` (`tasks/get`). In 2026-07-28 a terminal task carries its
/// outcome; 2025-11-25 needs [`wait_task`] (`tasks/result`).
///
/// # Errors
/// [`TaskClientError`].
pub async fn get_task(client: &ClientHandle, task_id: &str) -> Result<TaskView, TaskClientError> {
    let reply = client.call(methods::GET, Some(json!({"taskId": task_id}))).await?;
    let result = result_of(&reply)?;
    TaskView::parse(&result).ok_or_else(|| TaskClientError::NotATask(result.to_string()))
}

/// Polls task `task_id` until it is terminal (at the server's suggested interval,
/// at least 100 ms), calling `on_update` with each read, and returns the last read
/// and the outcome (the tool's result, or the JSON-RPC error of a failed task; a
/// cancelled one gives `-32603` "the task was cancelled").
///
/// # Errors
/// [`TaskClientError`].
pub async fn wait_task(
    client: &ClientHandle,
    task_id: &str,
    mut on_update: impl FnMut(&TaskView),
) -> Result<(TaskView, Outcome), TaskClientError> {
    loop {
        let view = get_task(client, task_id).await?;
        on_update(&view);
        if view.status.is_terminal() {
            if let Some(outcome) = view.outcome.clone() {
                return Ok((view, outcome));
            }
            if view.status == TaskStatus::Cancelled {
                let error = Outcome::error(asyncmcp_proto::error_codes::INTERNAL_ERROR, "the task was cancelled");
                return Ok((view, error));
            }
            // 2025-11-25: the outcome comes from `tasks/result`.
            let reply = client.call(methods::RESULT, Some(json!({"taskId": task_id}))).await?;
            let value = reply.to_value();
            let outcome = match (value.get("result"), value.get("error")) {
                (Some(result), _) => Outcome::Result(result.clone()),
                (None, Some(error)) => Outcome::Error(error.clone()),
                _ => return Err(TaskClientError::NotATask(value.to_string())),
            };
            return Ok((view, outcome));
        }
        let wait = view.poll_interval_ms.unwrap_or(1_000).max(100);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

/// Cancels task `task_id` (`tasks/cancel`). Cancellation is cooperative: the tool
/// stops at its next chance; read the task to see it `cancelled`.
///
/// # Errors
/// [`TaskClientError`] (2025-11-25: `-32602` for a task already terminal).
pub async fn cancel_task(client: &ClientHandle, task_id: &str) -> Result<(), TaskClientError> {
    let reply = client.call(methods::CANCEL, Some(json!({"taskId": task_id}))).await?;
    result_of(&reply).map(|_| ())
}

fn result_of(reply: &JsonRpcMessage) -> Result<Value, TaskClientError> {
    let value = reply.to_value();
    if let Some(error) = value.get("error") {
        return Err(TaskClientError::Refused {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: error.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
        });
    }
    Ok(value.get("result").cloned().unwrap_or(Value::Null))
}
