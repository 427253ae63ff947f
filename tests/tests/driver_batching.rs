//! The driver decides the batches a `QueueClient` gets: one kind and one destination,
//! at most 10 entries and at most 256 KiB of message bytes (body and attributes),
//! counted as SQS and SNS count them. A queue client only executes them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncmcp_driver::{BoxFuture, QueueClient, ReceiveRequest, billed_units};
use asyncmcp_proto::codec::encoded_size;
use asyncmcp_proto::sim::QueueOptions;
use asyncmcp_proto::{
    Address, ClientConfig, Era, FailureKind, InboundMessage, OpFailure, OpId, OpKind, OpResult, QueueOp,
};
use asyncmcp_tokio::{MemoryQueue, TokioRuntime};

/// SQS `SendMessageBatch` and SNS `PublishBatch` take at most this many bytes in all.
const BATCH_BYTES: usize = 262_144;
/// How long one call takes.
const CALL: Duration = Duration::from_millis(50);

/// The in-memory queue, claiming to batch, and keeping every batch it was handed.
struct Recording {
    inner: MemoryQueue<TokioRuntime>,
    batches: Mutex<Vec<Vec<QueueOp>>>,
    singles: Mutex<Vec<QueueOp>>,
}

impl QueueClient for Recording {
    fn receive(&self, request: ReceiveRequest) -> BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>> {
        self.inner.receive(request)
    }

    /// A call takes 50 ms (virtual time), so ops gather behind the one in flight.
    fn execute(&self, op: QueueOp) -> BoxFuture<'static, OpResult> {
        self.singles.lock().expect("singles").push(op.clone());
        let done = self.inner.execute(op);
        Box::pin(async move {
            tokio::time::sleep(CALL).await;
            done.await
        })
    }

    fn execute_batch(&self, ops: Vec<QueueOp>) -> BoxFuture<'static, Vec<(OpId, OpResult)>> {
        self.batches.lock().expect("batches").push(ops.clone());
        let done = self.inner.execute_batch(ops);
        Box::pin(async move {
            tokio::time::sleep(CALL).await;
            done.await
        })
    }

    fn batches(&self) -> bool {
        true
    }
}

fn bytes(op: &QueueOp) -> usize {
    match &op.kind {
        OpKind::Send(send) => encoded_size(&send.body, &send.attributes, false),
        _ => 0,
    }
}

#[tokio::test(start_paused = true)]
async fn batches_of_large_messages_stay_within_the_byte_limit() {
    let memory = asyncmcp_tokio::memory_queue();
    let requests = memory.create_queue("requests", QueueOptions::default());
    let replies = memory.create_queue("replies", QueueOptions::default());
    let queue = Arc::new(Recording { inner: memory, batches: Mutex::new(Vec::new()), singles: Mutex::new(Vec::new()) });
    let mut config =
        ClientConfig::new(Address::Queue(requests.clone()), Address::Queue(replies.clone()), replies, "big");
    config.era = Era::Modern;
    let (client, _events) = asyncmcp_tokio::spawn_client(config, Arc::clone(&queue)).expect("client");

    // Twelve notifications of about 100 KB: the first goes alone, the others gather
    // behind it. Ten would fit the entry limit; the byte limit allows two.
    let pad = "x".repeat(100_000);
    let sends =
        (0..12).map(|i| client.notify("notifications/message", Some(serde_json::json!({ "n": i, "pad": pad }))));
    for sent in futures::future::join_all(sends).await {
        sent.expect("notify");
    }
    client.shutdown(Duration::from_secs(5)).await;

    let batches = queue.batches.lock().expect("batches").clone();
    assert!(batches.iter().any(|b| b.len() >= 2), "the driver batched some: {:?}", sizes(&batches));
    for batch in &batches {
        let total: usize = batch.iter().map(bytes).sum();
        assert!(total <= BATCH_BYTES, "a batch of {total} bytes: {:?}", sizes(&batches));
        assert!(batch.len() <= 10);
        assert!(batch.iter().all(|op| matches!(&op.kind, OpKind::Send(s) if s.to == Address::Queue(requests.clone()))));
    }
    let sent: usize = batches.iter().map(Vec::len).sum();
    assert!(sent >= 6, "most of the notifications went in batches: {:?}", sizes(&batches));

    // What AWS bills: each call one request per started 64 KiB it carried. These
    // messages are about 100 KB, so a call of one costs 2 and a batch of two 4; the
    // client's receives were all empty, 1 each.
    let singles = queue.singles.lock().expect("singles").clone();
    let send_units: u64 = batches.iter().map(|b| billed_units(b.iter().map(bytes).sum())).sum::<u64>()
        + singles.iter().map(|op| billed_units(bytes(op))).sum::<u64>();
    assert!(send_units >= 24, "twelve messages over 64 KiB: {send_units}");
    let stats = client.stats();
    assert_eq!(stats.messages_received, 0);
    assert_eq!(stats.billed_units, send_units + stats.receives, "{stats:?}");
}

fn sizes(batches: &[Vec<QueueOp>]) -> Vec<Vec<usize>> {
    batches.iter().map(|b| b.iter().map(bytes).collect()).collect()
}

/// The in-memory queue's receives, and sends that never reach the service.
struct Unreachable {
    inner: MemoryQueue<TokioRuntime>,
}

impl QueueClient for Unreachable {
    fn receive(&self, request: ReceiveRequest) -> BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>> {
        self.inner.receive(request)
    }

    fn execute(&self, _op: QueueOp) -> BoxFuture<'static, OpResult> {
        Box::pin(async {
            OpResult::Failed(OpFailure::new(FailureKind::Unreachable, "the endpoint could not be reached"))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn calls_that_never_reached_the_service_are_not_billed() {
    let memory = asyncmcp_tokio::memory_queue();
    let requests = memory.create_queue("requests", QueueOptions::default());
    let replies = memory.create_queue("replies", QueueOptions::default());
    let queue = Arc::new(Unreachable { inner: memory });
    let mut config = ClientConfig::sqs(requests, replies, "unbilled");
    config.era = Era::Modern;
    let (client, _events) = asyncmcp_tokio::spawn_client(config, queue).expect("client");

    let _ = client.notify("notifications/message", Some(serde_json::json!({"level": "info"}))).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let stats = client.stats();
    client.shutdown(Duration::from_secs(1)).await;

    assert!(stats.sends >= 1 && stats.failed_calls >= 1, "the send was tried and failed: {stats:?}");
    assert_eq!(stats.billed_units, stats.receives, "only the (empty) receives are billed: {stats:?}");
}
