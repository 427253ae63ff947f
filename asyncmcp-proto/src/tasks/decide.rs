//! Whether a `tools/call` runs as a task, by era: the negotiation rules of both
//! specifications as one pure function.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{legacy, modern};
use super::{MISSING_REQUIRED_CLIENT_CAPABILITY, TASKS_EXTENSION};
use crate::Era;
use crate::error_codes::{INVALID_PARAMS, METHOD_NOT_FOUND};

/// A tool's `execution.taskSupport` (2025-11-25 `tools/list`): whether it may, must
/// or must not run as a task. asyncmcp uses it in both eras: in 2026-07-28 it tells
/// the server which tools it turns into tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TaskSupport {
    /// Never a task (the default when a tool says nothing).
    #[default]
    Forbidden,
    /// A task when the client asks (2025-11-25) or declares the extension (2026-07-28).
    Optional,
    /// Only as a task.
    Required,
}

impl TaskSupport {
    /// Reads `execution.taskSupport` from a tool of a `tools/list` result; anything
    /// missing or unknown reads as [`Forbidden`](Self::Forbidden).
    #[must_use]
    pub fn of_tool(tool: &Value) -> Self {
        tool.get("execution")
            .and_then(|e| e.get("taskSupport"))
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .unwrap_or_default()
    }
}

/// What the server does with one `tools/call`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TaskDecision {
    /// Run it as usual and answer the result.
    Plain,
    /// Create a task (with the client's TTL wish, 2025-11-25) and answer it.
    Task {
        /// The requested TTL (ms), if any.
        ttl_ms: Option<u64>,
    },
    /// Answer this JSON-RPC error object and run nothing.
    Refuse(Value),
}

/// Decides a `tools/call` whose `params` the client sent, for a tool with `support`,
/// in `era`:
///
/// - 2025-11-25: a request with `params.task` becomes a task if the tool allows it,
///   else `-32601`; a request without it runs plain unless the tool requires a task
///   (`-32601`).
/// - 2026-07-28: the server decides; a request that declares the extension becomes a
///   task for a tool that allows one; a tool that requires one, called without the
///   extension, is refused with `-32021`. The `task` param is ignored.
#[must_use]
pub fn decide(era: Era, params: Option<&Value>, support: TaskSupport) -> TaskDecision {
    match era {
        Era::Legacy => match (legacy::TaskParams::of_request(params), support) {
            (Some(task), TaskSupport::Optional | TaskSupport::Required) => TaskDecision::Task { ttl_ms: task.ttl },
            (Some(_), TaskSupport::Forbidden) => {
                TaskDecision::Refuse(error(METHOD_NOT_FOUND, "this tool does not run as a task", None))
            }
            (None, TaskSupport::Required) => {
                TaskDecision::Refuse(error(METHOD_NOT_FOUND, "this tool runs only as a task: add params.task", None))
            }
            (None, _) => TaskDecision::Plain,
        },
        _ => match (modern::declares_tasks(params), support) {
            (true, TaskSupport::Optional | TaskSupport::Required) => TaskDecision::Task { ttl_ms: None },
            (false, TaskSupport::Required) => TaskDecision::Refuse(error(
                MISSING_REQUIRED_CLIENT_CAPABILITY,
                "Missing required client capability",
                Some(modern::missing_capability_data()),
            )),
            _ => TaskDecision::Plain,
        },
    }
}

/// The server capabilities that announce tasks: 2025-11-25 `capabilities.tasks`
/// (cancel and task-augmented `tools/call`; no `list`), 2026-07-28 the extension.
/// Merge the object into the server's `capabilities`.
#[must_use]
pub fn server_capabilities(era: Era) -> Value {
    match era {
        Era::Legacy => serde_json::json!({"tasks": {"cancel": {}, "requests": {"tools": {"call": {}}}}}),
        _ => serde_json::json!({"extensions": {TASKS_EXTENSION: {}}}),
    }
}

/// The error for a task id that names no live task (unknown, malformed, expired,
/// or deleted): `-32602` in both eras.
#[must_use]
pub fn not_found_error() -> Value {
    error(INVALID_PARAMS, "task not found or expired", None)
}

/// The 2025-11-25 error for cancelling a terminal task: `-32602`.
#[must_use]
pub fn already_terminal_error(status: super::TaskStatus) -> Value {
    error(INVALID_PARAMS, &format!("cannot cancel task: already in terminal status '{}'", status.as_str()), None)
}

fn error(code: i64, message: &str, data: Option<Value>) -> Value {
    let mut e = serde_json::json!({"code": code, "message": message});
    if let (Some(data), Some(obj)) = (data, e.as_object_mut()) {
        obj.insert("data".to_owned(), data);
    }
    e
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code(d: &TaskDecision) -> Option<i64> {
        match d {
            TaskDecision::Refuse(e) => e["code"].as_i64(),
            _ => None,
        }
    }

    #[test]
    fn legacy_follows_params_task_and_the_tool() {
        let asked = json!({"name": "t", "task": {"ttl": 9}});
        let plain = json!({"name": "t"});
        assert_eq!(decide(Era::Legacy, Some(&asked), TaskSupport::Optional), TaskDecision::Task { ttl_ms: Some(9) });
        assert_eq!(code(&decide(Era::Legacy, Some(&asked), TaskSupport::Forbidden)), Some(-32601));
        assert_eq!(code(&decide(Era::Legacy, Some(&plain), TaskSupport::Required)), Some(-32601));
        assert_eq!(decide(Era::Legacy, Some(&plain), TaskSupport::Optional), TaskDecision::Plain);
        assert_eq!(decide(Era::Legacy, None, TaskSupport::Forbidden), TaskDecision::Plain);
    }

    #[test]
    fn modern_follows_the_extension_and_ignores_params_task() {
        let declared = json!({"name": "t", "_meta": {"io.modelcontextprotocol/clientCapabilities":
            {"extensions": {"io.modelcontextprotocol/tasks": {}}}}});
        let legacy_style = json!({"name": "t", "task": {"ttl": 9}});
        assert_eq!(decide(Era::Modern, Some(&declared), TaskSupport::Optional), TaskDecision::Task { ttl_ms: None });
        assert_eq!(decide(Era::Modern, Some(&declared), TaskSupport::Forbidden), TaskDecision::Plain);
        assert_eq!(decide(Era::Modern, Some(&legacy_style), TaskSupport::Optional), TaskDecision::Plain);
        let refused = decide(Era::Modern, Some(&legacy_style), TaskSupport::Required);
        assert_eq!(code(&refused), Some(-32021));
        let TaskDecision::Refuse(e) = refused else { unreachable!() };
        assert!(e["data"]["requiredCapabilities"]["extensions"]["io.modelcontextprotocol/tasks"].is_object());
    }

    #[test]
    fn task_support_reads_tools_list_entries() {
        assert_eq!(TaskSupport::of_tool(&json!({"execution": {"taskSupport": "required"}})), TaskSupport::Required);
        assert_eq!(TaskSupport::of_tool(&json!({"execution": {"taskSupport": "sometimes"}})), TaskSupport::Forbidden);
        assert_eq!(TaskSupport::of_tool(&json!({"name": "x"})), TaskSupport::Forbidden);
    }

    #[test]
    fn capabilities_and_errors() {
        assert!(server_capabilities(Era::Legacy)["tasks"]["requests"]["tools"]["call"].is_object());
        assert!(server_capabilities(Era::Legacy)["tasks"].get("list").is_none());
        assert!(server_capabilities(Era::Modern)["extensions"][TASKS_EXTENSION].is_object());
        assert_eq!(not_found_error()["code"], -32602);
        assert!(
            already_terminal_error(super::super::TaskStatus::Completed)["message"]
                .as_str()
                .unwrap()
                .contains("'completed'")
        );
    }
}
