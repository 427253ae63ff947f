//! `MemoryQueue`: the embedded in-memory SQS/SNS, for demos and offline tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::FutureExt;
use futures::channel::oneshot;

use asyncmcp_proto::offload::{self, FetchFailure, S3Pointer, S3Put};
use asyncmcp_proto::sim::{Broker, QueueDepth, QueueOptions, SimConfig, SimStats};
use asyncmcp_proto::{Address, FailureKind, InboundMessage, OpFailure, OpKind, OpResult, QueueOp};

use crate::queue_client::{QueueClient, ReceiveRequest};
use crate::runtime::{BoxFuture, Runtime};
use crate::stats::ObjectCalls;

struct Inner {
    broker: Broker,
    /// Long polls waiting for a message to arrive.
    waiting: Vec<oneshot::Sender<()>>,
    /// The in-memory S3 of offloaded payloads, when enabled.
    objects: Option<ObjectStore>,
}

/// Offloaded payloads by pointer, and what was done with them.
#[derive(Default)]
struct ObjectStore {
    objects: BTreeMap<S3Pointer, S3Put>,
    delete_on_consume: bool,
    calls: ObjectCalls,
}

impl ObjectStore {
    /// `msg` with its payload in place when it is a pointer message.
    fn resolve(&mut self, msg: InboundMessage) -> InboundMessage {
        let Some(found) = offload::find_pointer(&msg) else { return msg };
        let Some(pointer) = found.pointer else {
            return offload::unresolved(msg, None, FetchFailure::NotAPointer);
        };
        self.calls.gets += 1;
        match self.objects.get(&pointer) {
            Some(payload) => {
                let payload = payload.payload.clone();
                offload::resolved(msg, pointer, payload)
            }
            None => {
                let detail = format!("{pointer} is not in the in-memory object store");
                offload::unresolved(msg, Some(pointer), FetchFailure::NotFound { detail })
            }
        }
    }
}

/// A [`QueueClient`] over the deterministic broker of
/// [`asyncmcp_proto::sim`], on the runtime's clock: the same semantics as SQS and SNS
/// (visibility timeouts, redelivery, envelopes, FIFO), in one process, with nothing
/// installed. Clones share the broker.
pub struct MemoryQueue<R: Runtime> {
    inner: Arc<Mutex<Inner>>,
    runtime: Arc<R>,
}

impl<R: Runtime> Clone for MemoryQueue<R> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner), runtime: Arc::clone(&self.runtime) }
    }
}

impl<R: Runtime> std::fmt::Debug for MemoryQueue<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryQueue").finish_non_exhaustive()
    }
}

impl<R: Runtime> MemoryQueue<R> {
    /// An empty broker (no queues yet) with no injected faults.
    pub fn new(runtime: Arc<R>) -> Self {
        Self::with_config(runtime, SimConfig::default(), crate::seed())
    }

    /// A broker with `config` (for example injected faults) and a fixed seed.
    pub fn with_config(runtime: Arc<R>, config: SimConfig, seed: [u8; 32]) -> Self {
        let broker = Broker::new(config, runtime.now(), seed);
        Self { inner: Arc::new(Mutex::new(Inner { broker, waiting: Vec::new(), objects: None })), runtime }
    }

    /// Turns on an in-memory S3 for offloaded messages (shared by clones): send
    /// operations that carry a payload ([`SendOp::offload`](asyncmcp_proto::SendOp::offload))
    /// store it, received pointer messages are resolved from it, receipt handles carry
    /// the pointer as AWS's extended clients embed it, and, with `delete_on_consume`,
    /// deleting a message deletes its object. Without it, a send with a payload fails
    /// with [`FailureKind::Invalid`].
    pub fn enable_object_store(&self, delete_on_consume: bool) {
        let mut inner = self.lock();
        let store = inner.objects.get_or_insert_with(ObjectStore::default);
        store.delete_on_consume = delete_on_consume;
    }

    /// The objects in the in-memory S3, by pointer.
    pub fn objects(&self) -> Vec<S3Pointer> {
        self.lock().objects.as_ref().map(|s| s.objects.keys().cloned().collect()).unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves a usable broker.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a queue (idempotent); returns its URL.
    pub fn create_queue(&self, name: &str, options: QueueOptions) -> String {
        self.lock().broker.create_queue(name, options)
    }

    /// Creates a topic (idempotent); returns its ARN.
    pub fn create_topic(&self, name: &str) -> String {
        self.lock().broker.create_topic(name)
    }

    /// Subscribes a queue to a topic.
    ///
    /// # Errors
    /// When the topic or queue does not exist, or FIFO-ness differs.
    pub fn subscribe(&self, topic_arn: &str, queue_url: &str, raw_delivery: bool) -> Result<String, OpFailure> {
        self.lock().broker.subscribe(topic_arn, queue_url, raw_delivery)
    }

    /// Messages in a queue, by state.
    pub fn queue_depth(&self, queue_url: &str) -> Option<QueueDepth> {
        let now = self.runtime.now();
        let mut inner = self.lock();
        inner.broker.handle_timeout(now);
        inner.broker.queue_depth(queue_url)
    }

    /// The broker's counters.
    pub fn sim_stats(&self) -> SimStats {
        self.lock().broker.stats().clone()
    }
}

impl<R: Runtime> QueueClient for MemoryQueue<R> {
    fn receive(&self, request: ReceiveRequest) -> BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>> {
        let this = self.clone();
        Box::pin(async move {
            let deadline = this.runtime.now() + request.wait;
            loop {
                let (next, arrived) = {
                    let now = this.runtime.now();
                    let mut inner = this.lock();
                    inner.broker.handle_timeout(now);
                    if inner.broker.queue_depth(&request.queue_url).is_none() {
                        return Err(OpFailure::new(
                            FailureKind::NotFound,
                            format!(
                                "queue {} does not exist in the in-memory broker: create it with MemoryQueue::create_queue",
                                request.queue_url
                            ),
                        ));
                    }
                    let messages = inner.broker.receive(&request.queue_url, request.max_messages.clamp(1, 10), now);
                    if !messages.is_empty() || now >= deadline {
                        return Ok(match inner.objects.as_mut() {
                            Some(store) => messages.into_iter().map(|m| store.resolve(m)).collect(),
                            None => messages,
                        });
                    }
                    let (tx, rx) = oneshot::channel();
                    inner.waiting.push(tx);
                    (inner.broker.poll_timeout(), rx)
                };
                let wake = next.map_or(deadline, |t| t.min(deadline));
                let sleep = this.runtime.sleep_until(wake).fuse();
                let arrived = arrived.fuse();
                futures::pin_mut!(sleep, arrived);
                futures::select_biased! {
                    _ = arrived => {}
                    _ = sleep => {}
                }
            }
        })
    }

    /// A queue's [`QueueOptions::max_message_bytes`]; 262 144 for a topic.
    fn max_message_bytes(&self, destination: &Address) -> BoxFuture<'static, Result<Option<usize>, OpFailure>> {
        let result = match self.lock().broker.max_message_bytes(destination.as_str()) {
            Some(max) => Ok(Some(max)),
            None => Err(OpFailure::new(
                FailureKind::NotFound,
                format!("{destination} does not exist in the in-memory broker: create it first"),
            )),
        };
        Box::pin(async move { result })
    }

    fn execute(&self, mut op: QueueOp) -> BoxFuture<'static, OpResult> {
        let now = self.runtime.now();
        let result = {
            let mut inner = self.lock();
            let mut consumed = None;
            match &mut op.kind {
                OpKind::Send(send) => {
                    if let Some(put) = send.offload.take() {
                        let Some(store) = inner.objects.as_mut() else {
                            let detail = format!("cannot store {}: enable the object store first", put.pointer);
                            return Box::pin(
                                async move { OpResult::Failed(OpFailure::new(FailureKind::Invalid, detail)) },
                            );
                        };
                        store.calls.puts += 1;
                        store.objects.insert(put.pointer.clone(), put);
                    }
                }
                OpKind::Delete { receipt_handle, .. } => {
                    let (pointer, original) = S3Pointer::split_receipt_handle(receipt_handle);
                    let original = original.to_owned();
                    consumed = pointer;
                    *receipt_handle = original;
                }
                OpKind::ChangeVisibility { receipt_handle, .. } => {
                    *receipt_handle = S3Pointer::split_receipt_handle(receipt_handle).1.to_owned();
                }
                _ => {}
            }
            let result = inner.broker.handle_op(&op, now);
            if let (Some(pointer), Some(store), OpResult::Ok) = (consumed, inner.objects.as_mut(), &result)
                && store.delete_on_consume
            {
                store.calls.deletes += 1;
                store.objects.remove(&pointer);
            }
            if matches!(op.kind, OpKind::Send(_) | OpKind::ChangeVisibility { .. }) && result == OpResult::Ok {
                for waiter in inner.waiting.drain(..) {
                    let _ = waiter.send(());
                }
            }
            result
        };
        Box::pin(async move { result })
    }

    fn object_calls(&self) -> ObjectCalls {
        self.lock().objects.as_ref().map(|s| s.calls).unwrap_or_default()
    }
}
