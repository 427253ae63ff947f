//! The queue service, abstracted to what the core's operations need.

use std::time::Duration;

use asyncmcp_proto::{Address, InboundMessage, OpFailure, OpId, OpResult, QueueOp};

use crate::runtime::BoxFuture;
use crate::stats::ObjectCalls;

/// One `ReceiveMessage` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveRequest {
    /// The queue to receive from.
    pub queue_url: String,
    /// 1 to 10 messages.
    pub max_messages: usize,
    /// Long-poll wait, 0 to 20 s.
    pub wait: Duration,
    /// How long the messages received stay hidden (SQS's per-call
    /// `VisibilityTimeout`, whole seconds rounded up); `None` keeps the queue's
    /// visibility timeout. The drivers pass
    /// [`SharedConfig::receive_visibility`](asyncmcp_proto::SharedConfig::receive_visibility).
    /// [`MemoryQueue`](crate::MemoryQueue) keeps the queue's (it models no dead
    /// polls).
    pub visibility: Option<Duration>,
}

/// A queue service: SQS and SNS through the AWS SDK (`AwsQueueClient`,
/// feature `aws`), or the in-memory broker ([`MemoryQueue`](crate::MemoryQueue)).
///
/// Calls take and return plain values of `asyncmcp-proto`; no SDK type appears here.
pub trait QueueClient: Send + Sync + 'static {
    /// `ReceiveMessage` with long polling; must ask for the `ApproximateReceiveCount`
    /// and `SentTimestamp` system attributes and all message attributes.
    fn receive(&self, request: ReceiveRequest) -> BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>>;

    /// Performs one operation.
    fn execute(&self, op: QueueOp) -> BoxFuture<'static, OpResult>;

    /// Performs a batch the driver decided as ONE call where the service has a batch
    /// form (`SendMessageBatch`, `PublishBatch`, `DeleteMessageBatch`,
    /// `ChangeMessageVisibilityBatch`), reporting each entry's own outcome: a partly
    /// failed batch fails only its failed entries. The default performs them one by
    /// one.
    ///
    /// The driver hands over two or more operations of one
    /// [`BatchTarget`](crate::BatchTarget) (never `Alone`), at most
    /// [`MAX_BATCH_ENTRIES`](crate::MAX_BATCH_ENTRIES) of them and at most
    /// [`MAX_BATCH_BYTES`](crate::MAX_BATCH_BYTES) of [`batch_bytes`](crate::batch_bytes)
    /// in all. An implementation does not regroup; it may check this and fail the
    /// entries that break it with [`FailureKind::Invalid`](asyncmcp_proto::FailureKind::Invalid).
    fn execute_batch(&self, ops: Vec<QueueOp>) -> BoxFuture<'static, Vec<(OpId, OpResult)>> {
        let futures: Vec<_> = ops
            .into_iter()
            .map(|op| {
                let id = op.id;
                let fut = self.execute(op);
                async move { (id, fut.await) }
            })
            .collect();
        Box::pin(futures::future::join_all(futures))
    }

    /// The largest message `destination` accepts: its `MaximumMessageSize`
    /// (`GetQueueAttributes` for a queue, `GetTopicAttributes` for a topic), in bytes,
    /// body and attributes counted. The drivers read it once per destination at
    /// start (the machine's `limit_destinations`) and size messages by it.
    ///
    /// `Ok(None)`: the service does not say (the default, for a queue service that
    /// has no such setting); `Err`: the read failed. Either way the driver uses
    /// [`SharedConfig::fallback_max_bytes`](asyncmcp_proto::SharedConfig::fallback_max_bytes)
    /// for it and says so in one log line.
    fn max_message_bytes(&self, destination: &Address) -> BoxFuture<'static, Result<Option<usize>, OpFailure>> {
        let _ = destination;
        Box::pin(async { Ok(None) })
    }

    /// Whether [`execute_batch`](Self::execute_batch) makes one call per batch (true
    /// for AWS) or one per entry; the driver's call counts follow it.
    fn batches(&self) -> bool {
        false
    }

    /// The S3 calls this client made for offloaded messages so far (zero unless it
    /// offloads); the driver copies them into its
    /// [`StatsSnapshot`](crate::StatsSnapshot).
    fn object_calls(&self) -> ObjectCalls {
        ObjectCalls::default()
    }
}
