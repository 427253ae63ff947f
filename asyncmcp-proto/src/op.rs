//! Operations the state machines ask the driver to perform on SQS and SNS.

use bytes::Bytes;

use crate::address::Address;
use crate::attributes::Attributes;
use crate::error::OpFailure;

/// Identifies one operation; the driver reports its outcome with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

/// One SQS or SNS call to make. Batching several into `SendMessageBatch` or
/// `DeleteMessageBatch` is the driver's business; each op still gets its own result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOp {
    /// Report the outcome with [`handle_op_result`](crate::Client::handle_op_result) and this id.
    pub id: OpId,
    /// What to do.
    pub kind: OpKind,
}

/// The kinds of operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpKind {
    /// `SendMessage` to a queue, or `Publish` to a topic.
    Send(SendOp),
    /// `DeleteMessage`.
    Delete {
        /// The queue the message was received from.
        queue_url: String,
        /// The receipt handle of the most recent receive.
        receipt_handle: String,
    },
    /// `ChangeMessageVisibility`.
    ChangeVisibility {
        /// The queue the message was received from.
        queue_url: String,
        /// The receipt handle of the most recent receive.
        receipt_handle: String,
        /// New visibility timeout from now, in seconds (0 releases the message).
        timeout_secs: u32,
    },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOp {
    /// A queue (`SendMessage`) or a topic (`Publish`).
    pub to: Address,
    /// The body: UTF-8 text with only XML-legal characters.
    pub body: Bytes,
    /// Message attributes, at most 10.
    pub attributes: Attributes,
    /// `MessageGroupId`, set for FIFO destinations.
    pub group_id: Option<String>,
    /// `MessageDeduplicationId`, set for FIFO destinations; the same on every retry.
    pub dedup_id: Option<String>,
    /// Set when the body is an S3 pointer ([`offload`](crate::offload)): the object
    /// to write before sending (the same key on every retry, so a retry overwrites
    /// it). The body and attributes are what goes to the queue or topic.
    pub offload: Option<crate::offload::S3Put>,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpResult {
    /// It succeeded.
    Ok,
    /// It failed.
    Failed(OpFailure),
}

impl From<Result<(), OpFailure>> for OpResult {
    fn from(r: Result<(), OpFailure>) -> Self {
        match r {
            Ok(()) => OpResult::Ok,
            Err(e) => OpResult::Failed(e),
        }
    }
}
