//! The durable task record, behind a trait: every server replica reads and writes
//! the same store, so any replica answers `tasks/get` and `tasks/cancel` for any
//! task, and a conditional write (a version compare) makes sure two replicas never
//! both claim or both finish one.

use std::collections::BTreeMap;
use std::sync::Mutex;

use asyncmcp_proto::OpFailure;
use asyncmcp_proto::tasks::{TaskId, TaskRecord, TaskRefusal};

use crate::runtime::BoxFuture;
use crate::task_item::{MAX_ITEM_BYTES, task_item_bytes};

/// A record as stored, with the version a conditional write compares. A create
/// stores version 1; each successful update adds 1.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Versioned {
    /// The store's version of the record.
    pub version: u64,
    /// The record.
    pub record: TaskRecord,
}

impl Versioned {
    /// `record` at `version`.
    #[must_use]
    pub fn new(version: u64, record: TaskRecord) -> Self {
        Self { version, record }
    }
}

/// Why a store call did not do what was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// [`create`](TaskStore::create): a live task with that origin exists (the
    /// request was delivered again). It is returned: carry on with it.
    #[error("a task for origin {} exists already", .0.record.id.origin())]
    Exists(Box<Versioned>),
    /// [`update`](TaskStore::update): the record changed since it was read (another
    /// replica wrote it). Read it again and re-apply the rule.
    #[error("the task changed since it was read")]
    Conflict,
    /// No live task with that id (never created, deleted, or past its TTL).
    #[error("no such task (never created, or expired)")]
    NotFound,
    /// The store's service failed; [`OpFailure::is_retryable`] says whether to retry.
    #[error("task store: {}", .0.detail)]
    Service(OpFailure),
    /// [`create`](TaskStore::create) or [`update`](TaskStore::update): the record
    /// does not fit one item of the store (`size` bytes as
    /// [`task_item_bytes`](crate::task_item_bytes) counts them, over `limit`). Nothing
    /// was written. Retrying does not help: a request or result that large cannot
    /// be kept as a task.
    #[error(
        "the task's record is {size} bytes, over the task store's item limit of {limit} bytes \
         (request and result together): nothing was written; a task cannot hold this much"
    )]
    TooLarge {
        /// The record's size, in bytes.
        size: usize,
        /// The most one record may take.
        limit: usize,
    },
}

/// Where task records live: [`MemoryTaskStore`] (one process, tests), or DynamoDB
/// (`asyncmcp-aws`, feature `dynamodb`) shared by every replica.
///
/// Every call takes `now_ms` (Unix milliseconds) from the caller: a record past
/// its TTL ([`TaskRecord::is_expired`]) reads as absent even while the store still
/// holds it (DynamoDB deletes expired items lazily, within days).
///
/// Reads are strongly consistent: a task is visible to every replica as soon as
/// [`create`](Self::create) returns (MCP 2026-07-28: a server must not hand out a
/// task id before `tasks/get` would find it).
///
/// A record is one item, request and result together, of at most DynamoDB's
/// 400 KB ([`MAX_ITEM_BYTES`], measured by [`task_item_bytes`](crate::task_item_bytes));
/// a bigger one is refused as [`StoreError::TooLarge`] and nothing is written. The
/// task layer then ends the task `failed` with an error naming the size and the
/// limit (a write that small fits), so the tool is not run again.
pub trait TaskStore: Send + Sync + 'static {
    /// Stores a new record at version 1, unless a live record with the same origin
    /// ([`TaskId::origin`]) exists: then [`StoreError::Exists`] with that record. An
    /// expired one is replaced. [`StoreError::TooLarge`] when the record does not fit.
    fn create(&self, record: TaskRecord, now_ms: u64) -> BoxFuture<'static, Result<Versioned, StoreError>>;

    /// The live record with this id: [`StoreError::NotFound`] when there is none or the
    /// stored one has another secret.
    fn get(&self, id: &TaskId, now_ms: u64) -> BoxFuture<'static, Result<Versioned, StoreError>>;

    /// Replaces the record if it is still at `expected_version` (and live); returns
    /// it at the next version. [`StoreError::Conflict`] when another write came
    /// first, [`StoreError::NotFound`] when it is gone, [`StoreError::TooLarge`] when
    /// the new record does not fit (the stored one is kept).
    fn update(
        &self,
        expected_version: u64,
        record: TaskRecord,
        now_ms: u64,
    ) -> BoxFuture<'static, Result<Versioned, StoreError>>;

    /// Removes the record with this id, if there is one.
    fn delete(&self, id: &TaskId) -> BoxFuture<'static, Result<(), StoreError>>;
}

/// How [`apply`] ended when the rule did not apply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The rule refused on the current record.
    #[error(transparent)]
    Refused(#[from] TaskRefusal),
    /// The store failed, or the task is gone.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How many times [`apply`] re-reads after a conflict before it gives up with
/// [`StoreError::Conflict`].
const APPLY_ATTEMPTS: usize = 8;

/// Read, change, write back with a version compare, again on a conflict: applies
/// `rule` to the current record of `id`. Two replicas applying a claim at once:
/// one writes, the other re-reads, and its rule refuses
/// ([`TaskRefusal::Claimed`]).
///
/// # Errors
/// [`ApplyError::Refused`] when the rule refuses; [`ApplyError::Store`] when the
/// task is gone, the store fails, or writes keep conflicting.
pub async fn apply<S, T, F>(store: &S, id: &TaskId, now_ms: u64, mut rule: F) -> Result<(T, Versioned), ApplyError>
where
    S: TaskStore + ?Sized,
    F: FnMut(&mut TaskRecord) -> Result<T, TaskRefusal>,
{
    for _ in 0..APPLY_ATTEMPTS {
        let current = store.get(id, now_ms).await?;
        let mut record = current.record;
        let out = rule(&mut record)?;
        match store.update(current.version, record, now_ms).await {
            Ok(written) => return Ok((out, written)),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

/// A task id for `origin` whose secret is 16 fresh bytes from the operating
/// system's secure random source (a task id is a bearer credential: it must not be
/// guessable from other ids).
///
/// # Errors
/// [`TaskIdError::BadOrigin`](asyncmcp_proto::tasks::TaskIdError::BadOrigin) for an
/// empty, over-long or control-character origin.
pub fn new_task_id(origin: &str) -> Result<TaskId, asyncmcp_proto::tasks::TaskIdError> {
    let seed = crate::seed();
    let mut secret = [0u8; 16];
    secret.copy_from_slice(&seed[..16]);
    TaskId::new(origin, secret)
}

/// Task records in this process's memory: the embedded default and the tests'
/// store. One process only: replicas in other processes do not see it.
///
/// It refuses a record bigger than DynamoDB's item limit, measured as DynamoDB
/// measures it ([`task_item_bytes`](crate::task_item_bytes)), so what fits here fits
/// there: [`with_max_record_bytes`](Self::with_max_record_bytes) changes the limit.
#[derive(Debug)]
pub struct MemoryTaskStore {
    /// By origin.
    records: Mutex<BTreeMap<String, Versioned>>,
    max_record_bytes: usize,
}

impl Default for MemoryTaskStore {
    fn default() -> Self {
        Self { records: Mutex::default(), max_record_bytes: MAX_ITEM_BYTES }
    }
}

impl MemoryTaskStore {
    /// An empty store whose records may take [`MAX_ITEM_BYTES`] each.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The store with records of at most `bytes` each (default [`MAX_ITEM_BYTES`],
    /// DynamoDB's): a bigger create or update is refused as [`StoreError::TooLarge`].
    #[must_use]
    pub fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// The most one record may take, in bytes.
    #[must_use]
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    /// Drops every record expired at `now_ms` (a store that is never swept keeps
    /// them, answering them as absent). Returns how many went.
    pub fn purge_expired(&self, now_ms: u64) -> usize {
        let mut records = self.lock();
        let before = records.len();
        records.retain(|_, v| !v.record.is_expired(now_ms));
        before - records.len()
    }

    /// How many records it holds, expired ones included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Versioned>> {
        // A panic while holding the lock leaves a consistent map (every change is one
        // insert or remove), so a poisoned lock is still usable.
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`StoreError::TooLarge`] when `record` at `version` is over the limit.
    fn check_size(&self, record: &TaskRecord, version: u64) -> Result<(), StoreError> {
        let size = task_item_bytes(record, version);
        if size > self.max_record_bytes {
            return Err(StoreError::TooLarge { size, limit: self.max_record_bytes });
        }
        Ok(())
    }

    fn create_now(&self, record: TaskRecord, now_ms: u64) -> Result<Versioned, StoreError> {
        // As DynamoDB: an item too large is refused before its condition is looked at.
        self.check_size(&record, 1)?;
        let mut records = self.lock();
        let key = record.id.origin().to_owned();
        if let Some(existing) = records.get(&key).filter(|v| !v.record.is_expired(now_ms)) {
            return Err(StoreError::Exists(Box::new(existing.clone())));
        }
        let stored = Versioned::new(1, record);
        records.insert(key, stored.clone());
        Ok(stored)
    }

    fn get_now(&self, id: &TaskId, now_ms: u64) -> Result<Versioned, StoreError> {
        self.lock()
            .get(id.origin())
            .filter(|v| v.record.id == *id && !v.record.is_expired(now_ms))
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    fn update_now(&self, expected: u64, record: TaskRecord, now_ms: u64) -> Result<Versioned, StoreError> {
        self.check_size(&record, expected + 1)?;
        let mut records = self.lock();
        let Some(current) =
            records.get_mut(record.id.origin()).filter(|v| v.record.id == record.id && !v.record.is_expired(now_ms))
        else {
            return Err(StoreError::NotFound);
        };
        if current.version != expected {
            return Err(StoreError::Conflict);
        }
        *current = Versioned::new(expected + 1, record);
        Ok(current.clone())
    }
}

impl TaskStore for MemoryTaskStore {
    fn create(&self, record: TaskRecord, now_ms: u64) -> BoxFuture<'static, Result<Versioned, StoreError>> {
        let out = self.create_now(record, now_ms);
        Box::pin(std::future::ready(out))
    }

    fn get(&self, id: &TaskId, now_ms: u64) -> BoxFuture<'static, Result<Versioned, StoreError>> {
        let out = self.get_now(id, now_ms);
        Box::pin(std::future::ready(out))
    }

    fn update(
        &self,
        expected_version: u64,
        record: TaskRecord,
        now_ms: u64,
    ) -> BoxFuture<'static, Result<Versioned, StoreError>> {
        let out = self.update_now(expected_version, record, now_ms);
        Box::pin(std::future::ready(out))
    }

    fn delete(&self, id: &TaskId) -> BoxFuture<'static, Result<(), StoreError>> {
        let mut records = self.lock();
        if records.get(id.origin()).is_some_and(|v| v.record.id == *id) {
            records.remove(id.origin());
        }
        Box::pin(std::future::ready(Ok(())))
    }
}
