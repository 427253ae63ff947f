//! The task record and its rules.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TaskId;

/// Where a task is in its life (the same five statuses in both MCP eras).
///
/// `working` and `input_required` move between each other and to any terminal
/// status; `completed`, `failed` and `cancelled` are terminal and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskStatus {
    /// The request is being processed (or waits for a worker).
    Working,
    /// The server needs input from the client before it can go on.
    InputRequired,
    /// The request ended with a JSON-RPC result (for a tool call, also one with
    /// `isError: true`; 2025-11-25 shows that one as `failed`, see
    /// [`wire`](super::wire)).
    Completed,
    /// The request ended with a JSON-RPC error.
    Failed,
    /// The task was cancelled before it ended.
    Cancelled,
}

impl TaskStatus {
    /// `completed`, `failed` or `cancelled`.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// Whether a task in this status may move to `next` (MCP 2025-11-25 "Task Status
    /// Lifecycle"; staying in a non-terminal status is allowed, as a progress update
    /// does).
    #[must_use]
    pub fn can_become(self, next: TaskStatus) -> bool {
        // From a non-terminal status every status is reachable; from a terminal one none.
        let _ = next;
        !self.is_terminal()
    }

    /// The wire name: `working`, `input_required`, `completed`, `failed`, `cancelled`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Working => "working",
            Self::InputRequired => "input_required",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// How the underlying request ended: what it would have answered without a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Outcome {
    /// The JSON-RPC `result` object (for `tools/call`, a `CallToolResult`).
    Result(Value),
    /// The JSON-RPC `error` object (`code`, `message`, `data`).
    Error(Value),
}

impl Outcome {
    /// The terminal status this outcome gives a task: `completed` for a result,
    /// `failed` for an error.
    #[must_use]
    pub fn status(&self) -> TaskStatus {
        match self {
            Self::Result(_) => TaskStatus::Completed,
            Self::Error(_) => TaskStatus::Failed,
        }
    }

    /// A JSON-RPC error outcome with `code` and `message`.
    #[must_use]
    pub fn error(code: i64, message: &str) -> Self {
        Self::Error(serde_json::json!({"code": code, "message": message}))
    }
}

/// The request a task runs: its method and params as the client sent them (without
/// the task augmentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskRequest {
    /// The JSON-RPC method (`tools/call`).
    pub method: String,
    /// The params.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl TaskRequest {
    /// A request of `method` with `params`.
    #[must_use]
    pub fn new(method: &str, params: Option<Value>) -> Self {
        Self { method: method.to_owned(), params }
    }
}

/// Who runs a task and until when: a worker holds a task while its lease lasts and
/// renews it while it works. A lease that ran out means the worker died (or stalled):
/// another worker may claim the task then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Claim {
    /// The worker's name (unique per process: a restarted worker is another worker).
    pub worker: String,
    /// Unix milliseconds at which the lease ends.
    pub until_ms: u64,
}

/// The server's limits for tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskLimits {
    /// TTL when the client asks for none (ms). Default 1 hour.
    pub default_ttl_ms: u64,
    /// The longest TTL granted (ms); a longer request is cut to it (both eras let the
    /// receiver override the requested TTL). Default 24 hours.
    pub max_ttl_ms: u64,
    /// The `pollInterval` suggested to clients (ms). Default 1 s.
    pub poll_interval_ms: u64,
    /// How long a claim lasts without renewal (ms). Keep it at most the request
    /// queue's visibility timeout, so a redelivered request finds the dead worker's
    /// lease ended. Default 30 s.
    pub lease_ms: u64,
}

impl Default for TaskLimits {
    fn default() -> Self {
        Self { default_ttl_ms: 3_600_000, max_ttl_ms: 86_400_000, poll_interval_ms: 1_000, lease_ms: 30_000 }
    }
}

/// The durable record of one task: what a store keeps and every replica reads.
///
/// Change it only through its rules ([`claim`](Self::claim),
/// [`renew`](Self::renew), [`progress`](Self::progress),
/// [`complete`](Self::complete), [`cancel`](Self::cancel)); write it back with the
/// store's version compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TaskRecord {
    /// The task id (its origin is the store key).
    pub id: TaskId,
    /// The current status.
    pub status: TaskStatus,
    /// A human-readable note on the status (progress, the reason for a cancel or a
    /// failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Unix milliseconds of creation.
    pub created_ms: u64,
    /// Unix milliseconds of the last change.
    pub updated_ms: u64,
    /// Lifetime from creation (ms); the task is gone after `created_ms + ttl_ms`.
    pub ttl_ms: u64,
    /// Suggested polling interval (ms).
    pub poll_interval_ms: u64,
    /// The request the task runs.
    pub request: TaskRequest,
    /// How it ended, once terminal by completion or failure (never for `cancelled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The worker running it, while one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// How many times a worker claimed it (more than 1: a worker died mid-run and the
    /// tool ran again).
    pub attempts: u32,
}

/// What [`TaskRecord::claim`] grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimGrant {
    /// The attempt number, from 1.
    pub attempt: u32,
    /// True when an earlier worker had claimed it and its lease ran out: the tool
    /// runs again (at-least-once across worker crashes).
    pub rerun: bool,
    /// Unix milliseconds at which the lease ends unless renewed.
    pub until_ms: u64,
}

/// What [`TaskRecord::cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CancelEffect {
    /// The worker that was running the task when it was cancelled, if its lease was
    /// still live: tell it (its next [`renew`](TaskRecord::renew) says so too).
    pub running: Option<Claim>,
}

/// Why a rule did not apply. None of these is a fault: each is an answer the
/// caller acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskRefusal {
    /// The task is terminal; it never changes again. For a worker this means: stop
    /// (when it is `cancelled`, the client cancelled it).
    #[error("the task is already {}", .0.as_str())]
    Terminal(TaskStatus),
    /// Another worker holds a live lease on it.
    #[error("the task is claimed by {worker} until {until_ms}")]
    Claimed {
        /// The holder.
        worker: String,
        /// When its lease ends (Unix ms).
        until_ms: u64,
    },
    /// The caller is not the current claimant (never claimed it, or lost it to
    /// another worker after its lease ran out).
    #[error("the task is not claimed by this worker")]
    NotClaimant,
    /// The task outlived its TTL: it is gone.
    #[error("the task has expired")]
    Expired,
}

impl TaskRecord {
    /// A new task for `request`, `working`, unclaimed, created at `now_ms`.
    /// `requested_ttl_ms` is the client's wish (`task.ttl` in 2025-11-25; none in
    /// 2026-07-28), bounded by `limits`.
    #[must_use]
    pub fn create(
        id: TaskId,
        request: TaskRequest,
        requested_ttl_ms: Option<u64>,
        limits: &TaskLimits,
        now_ms: u64,
    ) -> Self {
        let ttl_ms = requested_ttl_ms.unwrap_or(limits.default_ttl_ms).clamp(1, limits.max_ttl_ms.max(1));
        Self {
            id,
            status: TaskStatus::Working,
            status_message: None,
            created_ms: now_ms,
            updated_ms: now_ms,
            ttl_ms,
            poll_interval_ms: limits.poll_interval_ms,
            request,
            outcome: None,
            claim: None,
            attempts: 0,
        }
    }

    /// Unix milliseconds at which the task is gone.
    #[must_use]
    pub fn expires_ms(&self) -> u64 {
        self.created_ms.saturating_add(self.ttl_ms)
    }

    /// Whether the task outlived its TTL at `now_ms`. A store answers an expired
    /// task as absent even before it deletes it.
    #[must_use]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_ms()
    }

    /// The live claim at `now_ms`, if any.
    #[must_use]
    pub fn live_claim(&self, now_ms: u64) -> Option<&Claim> {
        self.claim.as_ref().filter(|c| c.until_ms > now_ms)
    }

    /// `worker` takes the task to run it, for `limits.lease_ms`: allowed when the task
    /// is not terminal and nobody holds a live lease (never claimed, or the last
    /// claimant's lease ran out because it died).
    ///
    /// # Errors
    /// [`TaskRefusal::Terminal`], [`TaskRefusal::Claimed`], [`TaskRefusal::Expired`].
    pub fn claim(&mut self, worker: &str, limits: &TaskLimits, now_ms: u64) -> Result<ClaimGrant, TaskRefusal> {
        self.check_open(now_ms)?;
        if let Some(c) = self.live_claim(now_ms) {
            return Err(TaskRefusal::Claimed { worker: c.worker.clone(), until_ms: c.until_ms });
        }
        let rerun = self.claim.is_some();
        let until_ms = now_ms.saturating_add(limits.lease_ms);
        self.claim = Some(Claim { worker: worker.to_owned(), until_ms });
        self.attempts = self.attempts.saturating_add(1);
        self.updated_ms = now_ms;
        Ok(ClaimGrant { attempt: self.attempts, rerun, until_ms })
    }

    /// The claimant extends its lease to `now_ms + limits.lease_ms` (a heartbeat).
    /// Returns the new end of the lease.
    ///
    /// # Errors
    /// [`TaskRefusal::Terminal`] (`cancelled`: the client cancelled; stop the tool),
    /// [`TaskRefusal::NotClaimant`] (another worker took it over: stop),
    /// [`TaskRefusal::Expired`].
    pub fn renew(&mut self, worker: &str, limits: &TaskLimits, now_ms: u64) -> Result<u64, TaskRefusal> {
        self.check_claimant(worker, now_ms)?;
        let until_ms = now_ms.saturating_add(limits.lease_ms);
        if let Some(c) = self.claim.as_mut() {
            c.until_ms = until_ms;
        }
        Ok(until_ms)
    }

    /// The claimant reports progress: `working` or `input_required`, with a message.
    /// A terminal `status` is refused as [`TaskRefusal::Terminal`]: finish with
    /// [`complete`](Self::complete).
    ///
    /// # Errors
    /// As [`renew`](Self::renew).
    pub fn progress(
        &mut self,
        worker: &str,
        status: TaskStatus,
        message: Option<String>,
        now_ms: u64,
    ) -> Result<(), TaskRefusal> {
        self.check_claimant(worker, now_ms)?;
        if status.is_terminal() {
            return Err(TaskRefusal::Terminal(status));
        }
        self.status = status;
        self.status_message = message;
        self.updated_ms = now_ms;
        Ok(())
    }

    /// The claimant finishes the task with `outcome`: `completed` for a result,
    /// `failed` for an error. The claim is released.
    ///
    /// # Errors
    /// As [`renew`](Self::renew); in particular a task cancelled meanwhile stays
    /// `cancelled` ([`TaskRefusal::Terminal`]): cancel wins over a later completion.
    pub fn complete(&mut self, worker: &str, outcome: Outcome, now_ms: u64) -> Result<(), TaskRefusal> {
        self.check_claimant(worker, now_ms)?;
        self.status = outcome.status();
        if let Outcome::Error(error) = &outcome {
            self.status_message = error.get("message").and_then(Value::as_str).map(str::to_owned);
        }
        self.outcome = Some(outcome);
        self.claim = None;
        self.updated_ms = now_ms;
        Ok(())
    }

    /// Cancels the task: `cancelled` at once and for good, whoever asks (any replica
    /// serving `tasks/cancel`). The running worker learns it from the returned
    /// [`CancelEffect`] when it is local, otherwise at its next
    /// [`renew`](Self::renew).
    ///
    /// # Errors
    /// [`TaskRefusal::Terminal`] when it already ended (2025-11-25 answers `-32602`,
    /// 2026-07-28 acknowledges anyway), [`TaskRefusal::Expired`].
    pub fn cancel(&mut self, message: Option<String>, now_ms: u64) -> Result<CancelEffect, TaskRefusal> {
        self.check_open(now_ms)?;
        let running = self.live_claim(now_ms).cloned();
        self.status = TaskStatus::Cancelled;
        self.status_message = Some(message.unwrap_or_else(|| "The task was cancelled by request.".to_owned()));
        self.updated_ms = now_ms;
        Ok(CancelEffect { running })
    }

    fn check_open(&self, now_ms: u64) -> Result<(), TaskRefusal> {
        if self.is_expired(now_ms) {
            return Err(TaskRefusal::Expired);
        }
        if self.status.is_terminal() {
            return Err(TaskRefusal::Terminal(self.status));
        }
        Ok(())
    }

    /// The caller is the current claimant. A lease that ran out with nobody taking
    /// over still counts: a slow worker may finish (the store's version compare
    /// decides a race with a new claimant).
    fn check_claimant(&self, worker: &str, now_ms: u64) -> Result<(), TaskRefusal> {
        self.check_open(now_ms)?;
        match &self.claim {
            Some(c) if c.worker == worker => Ok(()),
            _ => Err(TaskRefusal::NotClaimant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::TaskIds;

    fn task(now: u64) -> TaskRecord {
        let id = TaskIds::new([0; 32]).next_id("origin");
        TaskRecord::create(id, TaskRequest::new("tools/call", None), Some(100_000), &TaskLimits::default(), now)
    }

    #[test]
    fn terminal_statuses_never_change() {
        for status in [TaskStatus::Completed, TaskStatus::Failed, TaskStatus::Cancelled] {
            assert!(status.is_terminal());
            assert!(!status.can_become(TaskStatus::Working));
        }
        assert!(TaskStatus::Working.can_become(TaskStatus::InputRequired));
        assert!(TaskStatus::InputRequired.can_become(TaskStatus::Working));
        assert!(TaskStatus::InputRequired.can_become(TaskStatus::Cancelled));
    }

    #[test]
    fn a_dead_workers_lease_lets_another_claim_and_counts_a_rerun() {
        let limits = TaskLimits::default();
        let mut t = task(0);
        assert!(!t.claim("a", &limits, 0).unwrap().rerun);
        assert_eq!(
            t.claim("b", &limits, 1),
            Err(TaskRefusal::Claimed { worker: "a".into(), until_ms: limits.lease_ms })
        );
        let grant = t.claim("b", &limits, limits.lease_ms).unwrap();
        assert!(grant.rerun);
        assert_eq!(grant.attempt, 2);
        // The old worker lost it.
        assert_eq!(t.complete("a", Outcome::Result(Value::Null), limits.lease_ms + 1), Err(TaskRefusal::NotClaimant));
        assert_eq!(t.renew("a", &limits, limits.lease_ms + 1), Err(TaskRefusal::NotClaimant));
    }

    #[test]
    fn cancel_wins_over_a_later_completion_and_the_worker_learns_it() {
        let limits = TaskLimits::default();
        let mut t = task(0);
        t.claim("a", &limits, 0).unwrap();
        let effect = t.cancel(None, 5).unwrap();
        assert_eq!(effect.running.map(|c| c.worker), Some("a".to_owned()));
        assert_eq!(t.renew("a", &limits, 6), Err(TaskRefusal::Terminal(TaskStatus::Cancelled)));
        assert_eq!(t.complete("a", Outcome::Result(Value::Null), 7), Err(TaskRefusal::Terminal(TaskStatus::Cancelled)));
        assert_eq!(t.status, TaskStatus::Cancelled);
        assert_eq!(t.outcome, None);
    }

    #[test]
    fn an_error_outcome_fails_the_task_and_ttl_is_bounded() {
        let limits = TaskLimits::default();
        let mut t = task(0);
        t.claim("a", &limits, 0).unwrap();
        t.complete("a", Outcome::error(-32603, "boom"), 1).unwrap();
        assert_eq!(t.status, TaskStatus::Failed);
        assert_eq!(t.status_message.as_deref(), Some("boom"));
        assert_eq!(t.claim, None);

        let id = TaskIds::new([1; 32]).next_id("o");
        let long = TaskRecord::create(id, TaskRequest::new("tools/call", None), Some(u64::MAX), &limits, 0);
        assert_eq!(long.ttl_ms, limits.max_ttl_ms);
    }

    #[test]
    fn an_expired_task_refuses_everything() {
        let limits = TaskLimits::default();
        let mut t = task(0);
        assert!(t.is_expired(100_000));
        assert!(!t.is_expired(99_999));
        assert_eq!(t.claim("a", &limits, 100_000), Err(TaskRefusal::Expired));
        assert_eq!(t.cancel(None, 100_000), Err(TaskRefusal::Expired));
    }

    #[test]
    fn progress_moves_between_working_and_input_required_only() {
        let limits = TaskLimits::default();
        let mut t = task(0);
        assert_eq!(t.progress("a", TaskStatus::Working, None, 1), Err(TaskRefusal::NotClaimant));
        t.claim("a", &limits, 0).unwrap();
        t.progress("a", TaskStatus::InputRequired, Some("need a name".into()), 1).unwrap();
        assert_eq!(t.status, TaskStatus::InputRequired);
        t.progress("a", TaskStatus::Working, Some("50%".into()), 2).unwrap();
        assert_eq!(t.status, TaskStatus::Working);
        assert_eq!(t.progress("a", TaskStatus::Completed, None, 3), Err(TaskRefusal::Terminal(TaskStatus::Completed)));
    }
}
