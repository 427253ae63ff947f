//! The contract every [`TaskStore`] keeps, as one generic suite: each function
//! checks one promise against the store it is given. `tests/task_store_memory.rs`
//! runs it on [`MemoryTaskStore`](asyncmcp_driver::MemoryTaskStore),
//! `tests/moto_dynamodb.rs` on the DynamoDB store against moto.
//!
//! Every case uses origins of its own ([`origin`]), so cases may share one store.

use std::sync::atomic::{AtomicU64, Ordering};

use asyncmcp_driver::{ApplyError, MAX_ITEM_BYTES, StoreError, TaskStore, apply};
use asyncmcp_proto::tasks::{Outcome, TaskId, TaskIds, TaskLimits, TaskRecord, TaskRefusal, TaskRequest, TaskStatus};

/// A time to start from: the wall clock, so a store's TTL attribute is realistic.
pub fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// An origin no other case of this process uses.
pub fn origin(case: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("contract/{case}/{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn ids() -> TaskIds {
    TaskIds::new(asyncmcp_driver::seed())
}

/// A new `tools/call` task for `origin`, with `ttl_ms`.
pub fn task(id: TaskId, ttl_ms: u64, now: u64) -> TaskRecord {
    let request = TaskRequest::new("tools/call", Some(serde_json::json!({"name": "slow", "arguments": {}})));
    TaskRecord::create(id, request, Some(ttl_ms), &TaskLimits::default(), now)
}

/// A created task reads back as stored, at version 1, from its id.
pub async fn create_then_get<S: TaskStore + ?Sized>(store: &S) {
    let now = now_ms();
    let record = task(ids().next_id(&origin("get")), 60_000, now);
    let created = store.create(record.clone(), now).await.unwrap();
    assert_eq!(created.version, 1);
    let got = store.get(&record.id, now + 1).await.unwrap();
    assert_eq!(got.version, 1);
    assert_eq!(got.record, record);
}

/// Creating a task for an origin that has one fails and returns the first; the
/// first is not overwritten, and the second id finds nothing.
pub async fn create_twice_fails_the_second<S: TaskStore + ?Sized>(store: &S) {
    let now = now_ms();
    let mut ids = ids();
    let key = origin("twice");
    let first = task(ids.next_id(&key), 60_000, now);
    let second = task(ids.next_id(&key), 60_000, now);
    store.create(first.clone(), now).await.unwrap();
    match store.create(second.clone(), now).await {
        Err(StoreError::Exists(existing)) => assert_eq!(existing.record, first),
        other => panic!("the second create must fail with the first task, got {other:?}"),
    }
    assert_eq!(store.get(&first.id, now).await.unwrap().record, first);
    assert_eq!(store.get(&second.id, now).await, Err(StoreError::NotFound));
}

/// Two replicas read the same version and both claim: exactly one write wins, and
/// the loser, reading again, is refused.
pub async fn two_claims_exactly_one_wins<S: TaskStore + ?Sized>(store: &S) {
    let now = now_ms();
    let limits = TaskLimits::default();
    let record = task(ids().next_id(&origin("claim")), 60_000, now);
    store.create(record.clone(), now).await.unwrap();

    let a = store.get(&record.id, now).await.unwrap();
    let b = store.get(&record.id, now).await.unwrap();
    let (mut ra, mut rb) = (a.record.clone(), b.record.clone());
    ra.claim("replica-a", &limits, now).unwrap();
    rb.claim("replica-b", &limits, now).unwrap();
    let wa = store.update(a.version, ra, now).await;
    let wb = store.update(b.version, rb, now).await;
    assert!(wa.is_ok() ^ wb.is_ok(), "exactly one claim must win: {wa:?} / {wb:?}");
    let loser = if wa.is_ok() { wb } else { wa };
    assert_eq!(loser, Err(StoreError::Conflict));

    let again = apply(store, &record.id, now, |r| r.claim("replica-b", &limits, now)).await;
    assert!(
        matches!(again, Err(ApplyError::Refused(TaskRefusal::Claimed { .. }))),
        "the loser must find it claimed: {again:?}"
    );
    let stored = store.get(&record.id, now).await.unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.record.attempts, 1);
}

/// An update at a version that is no longer current fails; so does one of a task
/// that does not exist.
pub async fn stale_version_update_fails<S: TaskStore + ?Sized>(store: &S) {
    let now = now_ms();
    let limits = TaskLimits::default();
    let record = task(ids().next_id(&origin("stale")), 60_000, now);
    store.create(record.clone(), now).await.unwrap();
    let (_, v2) = apply(store, &record.id, now, |r| r.claim("w", &limits, now)).await.unwrap();
    assert_eq!(v2.version, 2);

    let mut stale = record.clone();
    stale.cancel(None, now).unwrap();
    assert_eq!(store.update(1, stale, now).await, Err(StoreError::Conflict));
    assert_eq!(store.get(&record.id, now).await.unwrap().record.status, TaskStatus::Working);

    let unknown = task(ids().next_id(&origin("unknown")), 60_000, now);
    assert_eq!(store.update(1, unknown, now).await, Err(StoreError::NotFound));
}

/// A task past its TTL reads as gone before the store deletes it, cannot be
/// updated, and its origin can be created again.
pub async fn expired_items_read_as_gone<S: TaskStore + ?Sized>(store: &S) {
    let now = now_ms();
    let mut ids = ids();
    let key = origin("ttl");
    let record = task(ids.next_id(&key), 1_000, now);
    store.create(record.clone(), now).await.unwrap();
    assert!(store.get(&record.id, now + 999).await.is_ok());
    assert_eq!(store.get(&record.id, now + 1_000).await, Err(StoreError::NotFound));
    let mut later = record.clone();
    later.status_message = Some("late".into());
    assert_eq!(store.update(1, later, now + 1_000).await, Err(StoreError::NotFound));

    let again = task(ids.next_id(&key), 60_000, now + 1_000);
    assert_eq!(store.create(again.clone(), now + 1_000).await.unwrap().version, 1);
    assert_eq!(store.get(&again.id, now + 1_001).await.unwrap().record, again);
}

/// The id's secret matters: the same origin with another secret finds nothing.
pub async fn a_wrong_secret_finds_nothing<S: TaskStore + ?Sized>(store: &S) {
    let now = now_ms();
    let key = origin("secret");
    let record = task(TaskId::new(&key, [1; 16]).unwrap(), 60_000, now);
    store.create(record.clone(), now).await.unwrap();
    let guess = TaskId::new(&key, [2; 16]).unwrap();
    assert_eq!(store.get(&guess, now).await, Err(StoreError::NotFound));
    store.delete(&guess).await.unwrap();
    assert!(store.get(&record.id, now).await.is_ok(), "a wrong id must not delete the task");
    store.delete(&record.id).await.unwrap();
    assert_eq!(store.get(&record.id, now).await, Err(StoreError::NotFound));
}

/// Cancel wins over a later completion, through the store.
pub async fn cancel_wins_over_a_later_completion<S: TaskStore + ?Sized>(store: &S) {
    let now = now_ms();
    let limits = TaskLimits::default();
    let record = task(ids().next_id(&origin("cancel")), 60_000, now);
    store.create(record.clone(), now).await.unwrap();
    apply(store, &record.id, now, |r| r.claim("w", &limits, now)).await.unwrap();
    let (effect, _) = apply(store, &record.id, now + 1, |r| r.cancel(None, now + 1)).await.unwrap();
    assert_eq!(effect.running.map(|c| c.worker), Some("w".to_owned()));
    let done =
        apply(store, &record.id, now + 2, |r| r.complete("w", Outcome::Result(serde_json::json!({})), now + 2)).await;
    assert_eq!(done.unwrap_err(), ApplyError::Refused(TaskRefusal::Terminal(TaskStatus::Cancelled)));
    assert_eq!(store.get(&record.id, now + 3).await.unwrap().record.status, TaskStatus::Cancelled);
}

/// A worker creates and claims a task, then dies; the request is redelivered to
/// another: its create finds the task, its claim waits for the lease to end, then
/// takes the task over (a re-run), and the dead worker can no longer finish it.
pub async fn a_dead_workers_task_is_taken_over_after_its_lease<S: TaskStore + ?Sized>(store: &S) {
    let now = now_ms();
    let limits = TaskLimits::default();
    let mut ids = ids();
    let key = origin("takeover");
    let first = task(ids.next_id(&key), 600_000, now);
    let created = store.create(first.clone(), now).await.unwrap();
    let mut claimed = created.record.clone();
    claimed.claim("dead", &limits, now).unwrap();
    store.update(created.version, claimed, now).await.unwrap();

    // The redelivery, with a fresh id for the same request: the first task is found.
    let found = match store.create(task(ids.next_id(&key), 600_000, now + 1), now + 1).await {
        Err(StoreError::Exists(found)) => found.record,
        other => panic!("the redelivery must find the task, got {other:?}"),
    };
    assert_eq!(found.id, first.id);
    let early = apply(store, &found.id, now + 1, |r| r.claim("heir", &limits, now + 1)).await;
    assert!(matches!(early, Err(ApplyError::Refused(TaskRefusal::Claimed { .. }))), "{early:?}");

    let later = now + limits.lease_ms;
    let (grant, _) = apply(store, &found.id, later, |r| r.claim("heir", &limits, later)).await.unwrap();
    assert!(grant.rerun);
    assert_eq!(grant.attempt, 2);
    let zombie =
        apply(store, &found.id, later, |r| r.complete("dead", Outcome::Result(serde_json::json!({})), later)).await;
    assert_eq!(zombie.unwrap_err(), ApplyError::Refused(TaskRefusal::NotClaimant));
    let done = apply(store, &found.id, later + 1, |r| {
        r.complete("heir", Outcome::Result(serde_json::json!({"content": []})), later + 1)
    })
    .await;
    assert!(done.is_ok());
    assert_eq!(store.get(&first.id, later + 2).await.unwrap().record.status, TaskStatus::Completed);
}

/// One task's life as a server runs it: create (the creator holds the version),
/// claim, complete, and one `tasks/get`. Returns the final record.
pub async fn lifecycle<S: TaskStore + ?Sized>(store: &S) -> TaskRecord {
    let now = now_ms();
    let limits = TaskLimits::default();
    let record = task(ids().next_id(&origin("life")), 60_000, now);
    let created = store.create(record, now).await.unwrap();
    let mut claimed = created.record.clone();
    claimed.claim("w", &limits, now).unwrap();
    let claimed = store.update(created.version, claimed, now).await.unwrap();
    let mut done = claimed.record.clone();
    done.complete("w", Outcome::Result(serde_json::json!({"content": [{"type": "text", "text": "ok"}]})), now + 5)
        .unwrap();
    let done = store.update(claimed.version, done, now + 5).await.unwrap();
    let got = store.get(&done.record.id, now + 6).await.unwrap();
    assert_eq!(got.record.status, TaskStatus::Completed);
    got.record
}

/// A record over the 400 KB item limit (request and result together) is refused as
/// [`StoreError::TooLarge`], naming its size and the limit, and nothing is written:
/// a create leaves no task; a completion leaves the task as it was, and a smaller
/// outcome is then written.
pub async fn a_record_over_the_item_limit_is_refused_and_nothing_written<S: TaskStore + ?Sized>(store: &S) {
    let now = now_ms();
    let limits = TaskLimits::default();
    let big = "z".repeat(500_000);

    let mut huge = task(ids().next_id(&origin("huge-request")), 60_000, now);
    huge.request =
        TaskRequest::new("tools/call", Some(serde_json::json!({"name": "slow", "arguments": {"text": big}})));
    match store.create(huge.clone(), now).await {
        Err(StoreError::TooLarge { size, limit }) => {
            assert_eq!(limit, MAX_ITEM_BYTES);
            assert!(size > 500_000, "size {size}");
        }
        other => panic!("a 500 KB request must be refused as too large, got {other:?}"),
    }
    assert_eq!(store.get(&huge.id, now).await, Err(StoreError::NotFound));

    let record = task(ids().next_id(&origin("huge-result")), 60_000, now);
    store.create(record.clone(), now).await.unwrap();
    let (_, claimed) = apply(store, &record.id, now, |r| r.claim("w", &limits, now)).await.unwrap();
    let result = Outcome::Result(serde_json::json!({"content": [{"type": "text", "text": big}]}));
    let refused = apply(store, &record.id, now + 1, |r| r.complete("w", result.clone(), now + 1)).await;
    match refused {
        Err(ApplyError::Store(StoreError::TooLarge { size, limit })) => {
            assert_eq!(limit, MAX_ITEM_BYTES);
            assert!(size > 500_000, "size {size}");
        }
        other => panic!("a 500 KB result must be refused as too large, got {other:?}"),
    }
    assert_eq!(store.get(&record.id, now + 2).await.unwrap(), claimed, "the refused write changed the task");
    let failed = Outcome::Error(serde_json::json!({"code": -32603, "message": "too large"}));
    apply(store, &record.id, now + 3, |r| r.complete("w", failed.clone(), now + 3)).await.unwrap();
    assert_eq!(store.get(&record.id, now + 4).await.unwrap().record.status, TaskStatus::Failed);
}
