//! A server whose queue can never work stops and says why, whatever the logging; one
//! whose queue worked and then failed keeps retrying. In-memory broker, paused time.
#![cfg(feature = "rmcp")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asyncmcp_tokio::proto::sim::QueueOptions;
use asyncmcp_tokio::proto::{AllowList, FailureKind, InboundMessage, OpFailure, OpResult, QueueOp, ServerConfig};
use asyncmcp_tokio::rmcp::demo::DemoTools;
use asyncmcp_tokio::rmcp::{QueueServer, ServeError};
use asyncmcp_tokio::{BoxFuture, MemoryQueue, QueueClient, ReceiveRequest, TokioRuntime};

/// Long enough for many receive retries (they back off up to 20 s).
const PATIENCE: Duration = Duration::from_secs(600);

fn missing_queue_config(queue: &MemoryQueue<TokioRuntime>) -> ServerConfig {
    // The broker knows one queue, but not the one the server is told to serve.
    let known = queue.create_queue("mcp-requests", QueueOptions::default());
    let missing = known.replace("mcp-requests", "mcp-requests-typo");
    ServerConfig::new(missing, AllowList::new().exact(known))
}

#[tokio::test(start_paused = true)]
async fn a_server_on_a_missing_queue_stops_its_events() {
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let config = missing_queue_config(&queue);
    let (_handle, mut events) = asyncmcp_tokio::spawn_server(config, queue).expect("a valid config");

    let ended = tokio::time::timeout(PATIENCE, async { while events.next().await.is_some() {} }).await;

    assert!(ended.is_ok(), "the driver kept retrying a queue that does not exist");
}

#[tokio::test(start_paused = true)]
async fn queue_server_run_returns_the_failure_without_any_logging() {
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let config = missing_queue_config(&queue);
    let missing = config.queue_url.clone();
    let server = QueueServer::start(DemoTools::new, config, queue).expect("a valid config");

    let outcome = tokio::time::timeout(PATIENCE, server.run()).await.expect("run returns");

    let failure = outcome.expect_err("a missing queue is an error");
    assert_eq!(failure.kind, FailureKind::NotFound);
    assert!(failure.detail.contains(&missing), "names the queue: {failure}");
}

#[tokio::test(start_paused = true)]
async fn serve_returns_the_failure_as_an_err() {
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let config = missing_queue_config(&queue);

    let outcome = tokio::time::timeout(PATIENCE, asyncmcp_tokio::rmcp::serve(DemoTools::new, config, queue))
        .await
        .expect("serve returns");

    assert!(
        matches!(&outcome, Err(ServeError::Queue(f)) if f.kind == FailureKind::NotFound),
        "the queue's failure: {outcome:?}"
    );
}

/// The in-memory queue, whose receives fail with `failure` once `after` of them
/// succeeded: a broker that was up and went away.
struct GoesAway {
    inner: MemoryQueue<TokioRuntime>,
    after: usize,
    receives: AtomicUsize,
    failure: OpFailure,
}

impl QueueClient for GoesAway {
    fn receive(&self, request: ReceiveRequest) -> BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>> {
        if self.receives.fetch_add(1, Ordering::SeqCst) >= self.after {
            let failure = self.failure.clone();
            return Box::pin(async move { Err(failure) });
        }
        self.inner.receive(request)
    }

    fn execute(&self, op: QueueOp) -> BoxFuture<'static, OpResult> {
        self.inner.execute(op)
    }
}

#[tokio::test(start_paused = true)]
async fn a_queue_that_worked_and_went_away_is_retried_not_fatal() {
    let inner = asyncmcp_tokio::memory_queue();
    let url = inner.create_queue("mcp-requests", QueueOptions::default());
    let failure = OpFailure::new(FailureKind::NotFound, format!("queue {url} does not exist"));
    let queue = Arc::new(GoesAway { inner, after: 1, receives: AtomicUsize::new(0), failure });
    let config = ServerConfig::new(url.clone(), AllowList::new().exact(url));
    let (handle, mut events) = asyncmcp_tokio::spawn_server(config, Arc::clone(&queue)).expect("a valid config");

    let ended = tokio::time::timeout(PATIENCE, events.next()).await;

    assert!(ended.is_err(), "the driver stopped on a queue that had worked: {:?}", handle.failure());
    assert!(queue.receives.load(Ordering::SeqCst) > 3, "it kept trying");
    assert_eq!(handle.failure(), None);
}
