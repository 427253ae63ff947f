//! The task store contract (`asyncmcp_tests::task_store_contract`) on the in-memory
//! store; `moto_dynamodb.rs` runs the same suite on DynamoDB.

use asyncmcp_driver::MemoryTaskStore;
use asyncmcp_tests::task_store_contract as contract;
use futures::executor::block_on;

#[test]
fn create_then_get() {
    block_on(contract::create_then_get(&MemoryTaskStore::new()));
}

#[test]
fn create_twice_fails_the_second() {
    block_on(contract::create_twice_fails_the_second(&MemoryTaskStore::new()));
}

#[test]
fn two_claims_exactly_one_wins() {
    block_on(contract::two_claims_exactly_one_wins(&MemoryTaskStore::new()));
}

#[test]
fn stale_version_update_fails() {
    block_on(contract::stale_version_update_fails(&MemoryTaskStore::new()));
}

#[test]
fn expired_items_read_as_gone() {
    block_on(contract::expired_items_read_as_gone(&MemoryTaskStore::new()));
}

#[test]
fn a_wrong_secret_finds_nothing() {
    block_on(contract::a_wrong_secret_finds_nothing(&MemoryTaskStore::new()));
}

#[test]
fn cancel_wins_over_a_later_completion() {
    block_on(contract::cancel_wins_over_a_later_completion(&MemoryTaskStore::new()));
}

#[test]
fn a_dead_workers_task_is_taken_over_after_its_lease() {
    block_on(contract::a_dead_workers_task_is_taken_over_after_its_lease(&MemoryTaskStore::new()));
}

#[test]
fn a_record_over_the_item_limit_is_refused_and_nothing_written() {
    block_on(contract::a_record_over_the_item_limit_is_refused_and_nothing_written(&MemoryTaskStore::new()));
}

/// The limit is configurable, and a record is measured as DynamoDB measures its
/// item: one exactly at the limit is kept, one a byte over is refused.
#[test]
fn the_record_limit_is_the_item_size_dynamodb_would_count() {
    use asyncmcp_driver::{StoreError, TaskStore, task_item_bytes};
    let now = contract::now_ms();
    let record =
        contract::task(asyncmcp_proto::tasks::TaskIds::new([8; 32]).next_id(&contract::origin("edge")), 60_000, now);
    let size = task_item_bytes(&record, 1);
    let over = MemoryTaskStore::new().with_max_record_bytes(size - 1);
    assert_eq!(block_on(over.create(record.clone(), now)), Err(StoreError::TooLarge { size, limit: size - 1 }));
    assert!(over.is_empty());
    let at = MemoryTaskStore::new().with_max_record_bytes(size);
    assert_eq!(block_on(at.create(record, now)).unwrap().version, 1);
    assert_eq!(MemoryTaskStore::new().max_record_bytes(), asyncmcp_driver::MAX_ITEM_BYTES);
}

#[test]
fn lifecycle_ends_completed() {
    block_on(contract::lifecycle(&MemoryTaskStore::new()));
}

/// Expired records stay (read as absent) until a sweep drops them.
#[test]
fn purge_drops_only_expired_records() {
    let store = MemoryTaskStore::new();
    let now = contract::now_ms();
    let ids = asyncmcp_proto::tasks::TaskIds::new([4; 32]);
    let mut ids = ids;
    let short = contract::task(ids.next_id(&contract::origin("short")), 10, now);
    let long = contract::task(ids.next_id(&contract::origin("long")), 60_000, now);
    block_on(asyncmcp_driver::TaskStore::create(&store, short, now)).unwrap();
    block_on(asyncmcp_driver::TaskStore::create(&store, long, now)).unwrap();
    assert_eq!(store.purge_expired(now + 10), 1);
    assert_eq!(store.len(), 1);
}

/// Many threads race to claim one task: exactly one claim is written.
#[test]
fn racing_threads_claim_once() {
    use asyncmcp_proto::tasks::TaskLimits;
    use std::sync::Arc;
    let store = Arc::new(MemoryTaskStore::new());
    let now = contract::now_ms();
    let record =
        contract::task(asyncmcp_proto::tasks::TaskIds::new([6; 32]).next_id(&contract::origin("race")), 60_000, now);
    block_on(asyncmcp_driver::TaskStore::create(&*store, record.clone(), now)).unwrap();
    let winners: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let store = Arc::clone(&store);
                let id = record.id.clone();
                scope.spawn(move || {
                    let limits = TaskLimits::default();
                    let worker = format!("w{i}");
                    block_on(asyncmcp_driver::apply(&*store, &id, now, |r| r.claim(&worker, &limits, now))).is_ok()
                })
            })
            .collect();
        handles.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
    });
    assert_eq!(winners, 1);
}
