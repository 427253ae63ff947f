//! The moto tier of the task store: `DynamoTaskStore` through the real AWS SDK
//! against moto's DynamoDB. It passes the same contract suite as the in-memory store
//! (`asyncmcp_tests::task_store_contract`), two claimers racing from two threads
//! never both win, and a task's life costs a known number of calls.

use std::sync::Arc;

use asyncmcp_aws::DynamoTaskStore;
use asyncmcp_driver::{StoreError, TaskStore, apply};
use asyncmcp_proto::tasks::{TaskIds, TaskLimits, TaskRefusal};
use asyncmcp_tests::moto::{Moto, unique_name};
use asyncmcp_tests::task_store_contract as contract;

/// A store on a fresh table of the shared moto server.
async fn store() -> DynamoTaskStore {
    let store = DynamoTaskStore::new(&Moto::shared().sdk_config(), &unique_name("asyncmcp-tasks"));
    store.create_table().await.expect("create the task table");
    // Creating it again keeps it (what `infra up` run twice does).
    store.create_table().await.expect("create the task table again");
    assert_eq!(store.ttl_attribute().await.unwrap().as_deref(), Some(asyncmcp_aws::TTL_ATTRIBUTE));
    store
}

#[tokio::test]
async fn create_then_get() {
    contract::create_then_get(&store().await).await;
}

#[tokio::test]
async fn create_twice_fails_the_second() {
    contract::create_twice_fails_the_second(&store().await).await;
}

#[tokio::test]
async fn two_claims_exactly_one_wins() {
    contract::two_claims_exactly_one_wins(&store().await).await;
}

#[tokio::test]
async fn stale_version_update_fails() {
    contract::stale_version_update_fails(&store().await).await;
}

#[tokio::test]
async fn expired_items_read_as_gone() {
    contract::expired_items_read_as_gone(&store().await).await;
}

#[tokio::test]
async fn a_wrong_secret_finds_nothing() {
    contract::a_wrong_secret_finds_nothing(&store().await).await;
}

#[tokio::test]
async fn cancel_wins_over_a_later_completion() {
    contract::cancel_wins_over_a_later_completion(&store().await).await;
}

#[tokio::test]
async fn a_dead_workers_task_is_taken_over_after_its_lease() {
    contract::a_dead_workers_task_is_taken_over_after_its_lease(&store().await).await;
}

#[tokio::test]
async fn a_record_over_the_item_limit_is_refused_and_nothing_written() {
    contract::a_record_over_the_item_limit_is_refused_and_nothing_written(&store().await).await;
}

/// The store refuses an oversize record before any call; with that check lifted,
/// DynamoDB (here moto) refuses the item with its size `ValidationException`, which
/// is the same `TooLarge`.
#[tokio::test]
async fn an_oversize_item_costs_no_call_and_dynamodbs_own_refusal_is_too_large() {
    let store = store().await;
    let now = contract::now_ms();
    let mut ids = TaskIds::new(asyncmcp_driver::seed());
    let mut record = contract::task(ids.next_id(&contract::origin("oversize")), 60_000, now);
    let params = serde_json::json!({"name": "slow", "arguments": {"text": "z".repeat(500_000)}});
    record.request = asyncmcp_proto::tasks::TaskRequest::new("tools/call", Some(params));

    let calls = store.calls();
    let checked = store.create(record.clone(), now).await;
    assert_eq!(store.calls(), calls, "the size check spares the call");
    let unchecked = store.clone().with_max_item_bytes(usize::MAX).create(record.clone(), now).await;
    assert_eq!(store.calls(), calls + 1);

    let size = asyncmcp_driver::task_item_bytes(&record, 1);
    let expected = Err(StoreError::TooLarge { size, limit: asyncmcp_driver::MAX_ITEM_BYTES });
    assert_eq!(checked, expected);
    assert_eq!(unchecked, expected, "moto's refusal must read as too large");
    assert_eq!(store.get(&record.id, now).await, Err(StoreError::NotFound));
}

/// Claimers on two runtime threads race for one task, many rounds: each round,
/// exactly one wins and the other is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_claimers_racing_from_two_threads_one_wins() {
    let store = Arc::new(store().await);
    let limits = TaskLimits::default();
    let mut ids = TaskIds::new(asyncmcp_driver::seed());
    for round in 0..10 {
        let now = contract::now_ms();
        let record = contract::task(ids.next_id(&contract::origin("race")), 60_000, now);
        store.create(record.clone(), now).await.unwrap();
        let claimers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|worker| {
                let store = Arc::clone(&store);
                let id = record.id.clone();
                let limits = limits.clone();
                tokio::spawn(async move { apply(&*store, &id, now, |r| r.claim(worker, &limits, now)).await })
            })
            .collect();
        let mut wins = 0;
        for claimer in claimers {
            match claimer.await.unwrap() {
                Ok(_) => wins += 1,
                Err(asyncmcp_driver::ApplyError::Refused(TaskRefusal::Claimed { .. })) => {}
                Err(e) => panic!("round {round}: unexpected {e:?}"),
            }
        }
        assert_eq!(wins, 1, "round {round}: exactly one claimer must win");
        assert_eq!(store.get(&record.id, now).await.unwrap().record.attempts, 1);
    }
}

/// DynamoDB calls for one task's life as a server runs it: create (1 PutItem),
/// claim (1 PutItem: the creator holds the version), complete (1 PutItem), one
/// `tasks/get` (1 GetItem). A redelivered request finds its task in 1 call when the
/// service returns the old item with the failed condition, 2 when it does not.
#[tokio::test]
async fn calls_per_task_lifecycle() {
    let store = store().await;
    let before = store.calls();
    contract::lifecycle(&store).await;
    let lifecycle = store.calls() - before;
    eprintln!("DynamoDB calls per task lifecycle (create, claim, complete, get): {lifecycle}");
    assert_eq!(lifecycle, 4);

    let now = contract::now_ms();
    let mut ids = TaskIds::new([8; 32]);
    let origin = contract::origin("redelivery");
    store.create(contract::task(ids.next_id(&origin), 60_000, now), now).await.unwrap();
    let before = store.calls();
    let again = store.create(contract::task(ids.next_id(&origin), 60_000, now), now).await;
    assert!(matches!(again, Err(StoreError::Exists(_))));
    eprintln!("DynamoDB calls to find the task of a redelivered request: {}", store.calls() - before);
    assert!(store.calls() - before <= 2);
}
