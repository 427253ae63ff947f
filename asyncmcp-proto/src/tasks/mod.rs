//! MCP tasks as values: the durable record of one task-augmented request, the rules
//! that change it, and the wire shapes of both MCP eras.
//!
//! A task is what a server hands back instead of a result when the work takes long
//! (MCP 2025-11-25 "tasks", SEP-1686; MCP 2026-07-28 extension
//! `io.modelcontextprotocol/tasks`, SEP-2663). Over queues the work list is the request
//! queue and the durable record is a [`TaskRecord`] in a store shared by every server
//! replica (`asyncmcp-driver`'s `TaskStore`): any replica answers `tasks/get` and
//! `tasks/cancel`, and a task whose worker died is finished by the replica that
//! receives the redelivered request. `docs/binding.md` ("Tasks on queues") is the
//! normative text.
//!
//! Nothing here reads a clock or does I/O. Time comes in as Unix milliseconds
//! (`now_ms`), task ids from a seeded [`TaskIds`]. Every rule is a method on
//! [`TaskRecord`] that either changes the record or refuses with a [`TaskRefusal`];
//! a store writes the changed record back only if nobody else wrote it since it was
//! read (a version compare), so two replicas never both claim or both finish a task.
//!
//! ```
//! use asyncmcp_proto::tasks::{Outcome, TaskIds, TaskLimits, TaskRecord, TaskRequest, TaskStatus};
//!
//! let limits = TaskLimits::default();
//! let mut ids = TaskIds::new([7; 32]);
//! let request = TaskRequest::new("tools/call", Some(serde_json::json!({"name": "slow"})));
//! let mut task = TaskRecord::create(ids.next_id("msg-1"), request, None, &limits, 1_000);
//! assert_eq!(task.status, TaskStatus::Working);
//!
//! // Worker "a" claims it and runs the tool; worker "b" (another replica) cannot.
//! let claim = task.claim("a", &limits, 1_000).unwrap();
//! assert!(!claim.rerun);
//! assert!(task.claim("b", &limits, 2_000).is_err());
//!
//! // Only the claimant finishes it; a terminal task never changes again.
//! task.complete("a", Outcome::Result(serde_json::json!({"content": []})), 3_000).unwrap();
//! assert_eq!(task.status, TaskStatus::Completed);
//! assert!(task.cancel(None, 4_000).is_err());
//! ```

mod decide;
mod id;
mod record;
mod time;
pub mod wire;

pub use decide::{TaskDecision, TaskSupport, already_terminal_error, decide, not_found_error, server_capabilities};
pub use id::{TaskId, TaskIdError, TaskIds};
pub use record::{
    CancelEffect, Claim, ClaimGrant, Outcome, TaskLimits, TaskRecord, TaskRefusal, TaskRequest, TaskStatus,
};
pub use time::iso8601;

/// The extension identifier of MCP 2026-07-28 tasks (SEP-2663), declared in
/// `capabilities.extensions` by both sides.
pub const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// The `_meta` key (MCP 2025-11-25) that ties a message to its task:
/// `{"taskId": "..."}`. `tasks/result` answers MUST carry it.
pub const RELATED_TASK_META: &str = "io.modelcontextprotocol/related-task";

/// MCP 2026-07-28 `-32021` "Missing required client capability": the server would
/// have to answer with a task but the request did not declare [`TASKS_EXTENSION`].
/// `data` is `{"requiredCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}}`.
pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;

/// The task methods and notifications of both eras.
pub mod methods {
    /// Poll a task (both eras).
    pub const GET: &str = "tasks/get";
    /// Cancel a task (both eras; 2025-11-25 answers the task, 2026-07-28 an empty ack).
    pub const CANCEL: &str = "tasks/cancel";
    /// Block until terminal and answer the underlying result (2025-11-25 only).
    pub const RESULT: &str = "tasks/result";
    /// List tasks (2025-11-25 only; asyncmcp does not offer it: no auth context to
    /// scope it by).
    pub const LIST: &str = "tasks/list";
    /// Answer a task's input requests (2026-07-28 only).
    pub const UPDATE: &str = "tasks/update";
    /// Status notification of 2025-11-25 (params: the task).
    pub const STATUS_NOTIFICATION_LEGACY: &str = "notifications/tasks/status";
    /// Status notification of 2026-07-28 (params: the detailed task).
    pub const STATUS_NOTIFICATION: &str = "notifications/tasks";
}
