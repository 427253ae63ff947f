//! [`AwsQueueClient`]: the core's operations as SQS and SNS calls.

use std::time::Duration;

use asyncmcp_proto::offload::S3Pointer;
use asyncmcp_proto::{Address, FailureKind, InboundMessage, OpFailure, OpId, OpKind, OpResult, QueueOp};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_types::SdkConfig;

use crate::Clients;
use crate::convert::{
    MAX_BATCH, MAX_VISIBILITY_SECS, MAX_WAIT_SECS, body_text, inbound, secs, to_sns_attributes, to_sqs_attributes,
};
use crate::errors::{Call, from_sdk};
use asyncmcp_driver::{BoxFuture, QueueClient, ReceiveRequest};

/// A [`QueueClient`] over SQS and SNS, through the AWS SDK for Rust.
///
/// `execute_batch` makes one `SendMessageBatch`, `PublishBatch`, `DeleteMessageBatch`
/// or `ChangeMessageVisibilityBatch` call per batch ([`batches`](QueueClient::batches)
/// is `true`) and reports each entry's own outcome. It executes the batch the driver
/// decided and never regroups: entries that break the driver's promise (another kind
/// or destination than the first entry's, past [`MAX_BATCH_ENTRIES`](asyncmcp_driver::MAX_BATCH_ENTRIES)
/// or [`MAX_BATCH_BYTES`](asyncmcp_driver::MAX_BATCH_BYTES)) fail with
/// [`FailureKind::Invalid`](asyncmcp_proto::FailureKind::Invalid) without being sent.
///
/// Failures are [`OpFailure`]s: throttling, 5xx, timeouts and connection failures
/// are retryable; access denied, missing queues or topics, invalid parameters, stale
/// receipt handles and oversized messages are not. Every message names the queue URL
/// or topic ARN and says what to check.
///
/// `receive` asks for all message attributes plus `ApproximateReceiveCount` and
/// `SentTimestamp`, takes 1 to 10 messages, and rounds the long-poll wait up to whole
/// seconds (at most 20). `Binary` attributes travel as base64 text both ways.
///
/// The futures need whatever runtime the `SdkConfig`'s HTTP client and sleep run on:
/// tokio for the SDK defaults (feature `rt-tokio`), async-io for `asyncmcp-async-std`.
/// Cloning is cheap and shares connections.
#[derive(Debug, Clone)]
pub struct AwsQueueClient {
    clients: Clients,
    #[cfg(feature = "s3")]
    s3: Option<crate::s3::S3Offload>,
}

impl AwsQueueClient {
    /// A client configured by `config`: its credentials, region, endpoint, retry and
    /// timeout settings (build it with `aws_config::load_defaults` or
    /// `aws_config::defaults(..).load()`).
    ///
    /// # Panics
    /// When `config` has no sleep implementation (the SDK needs one for retries):
    /// without the `rt-tokio` feature, the caller must supply it.
    pub fn new(config: &SdkConfig) -> Self {
        Self::of(Clients::new(config))
    }

    /// A client configured from the environment (feature `rt-tokio`): the standard credential chain, the
    /// region from `AWS_REGION` or the profile, and `AWS_ENDPOINT_URL` when set.
    #[cfg(feature = "rt-tokio")]
    pub async fn from_env() -> Self {
        Self::of(Clients::from_env().await)
    }

    /// A client for a local emulator (moto, LocalStack) at `endpoint_url`, such as
    /// `http://127.0.0.1:5000`, with fixed `test`/`test` credentials (feature `rt-tokio`).
    /// Not for AWS.
    #[cfg(feature = "rt-tokio")]
    pub fn with_endpoint(endpoint_url: &str, region: &str) -> Self {
        Self::of(Clients::local(endpoint_url, region))
    }
}

impl AwsQueueClient {
    fn of(clients: Clients) -> Self {
        Self {
            clients,
            #[cfg(feature = "s3")]
            s3: None,
        }
    }

    /// Offloads through S3 (feature `s3`): send operations that carry a payload
    /// ([`SendOp::offload`](asyncmcp_proto::SendOp::offload)) put it first, received
    /// pointer messages are fetched, and receipt handles carry the pointer as AWS's
    /// extended clients do. Without it, a send with a payload fails with
    /// [`FailureKind::Invalid`] and a received pointer reaches the core unresolved.
    #[cfg(feature = "s3")]
    #[must_use]
    pub fn with_s3_offload(mut self, s3: crate::s3::S3Offload) -> Self {
        self.s3 = Some(s3);
        self
    }

    /// Puts the payloads of `ops` (failing the ops whose put failed), strips pointers
    /// from receipt handles, and notes which objects to delete once their message is.
    async fn prepare(&self, ops: Vec<QueueOp>) -> Prepared {
        let mut prepared = Prepared::default();
        let mut puts = Vec::new();
        for mut op in ops {
            match &mut op.kind {
                OpKind::Send(send) => {
                    if let Some(put) = send.offload.take() {
                        puts.push((op, put));
                        continue;
                    }
                }
                OpKind::Delete { receipt_handle, .. } => {
                    let (pointer, original) = S3Pointer::split_receipt_handle(receipt_handle);
                    let original = original.to_owned();
                    if let Some(pointer) = pointer.filter(|_| self.deletes_on_consume()) {
                        prepared.objects.push((op.id, pointer));
                    }
                    *receipt_handle = original;
                }
                OpKind::ChangeVisibility { receipt_handle, .. } => {
                    *receipt_handle = S3Pointer::split_receipt_handle(receipt_handle).1.to_owned();
                }
                _ => {}
            }
            prepared.ops.push(op);
        }
        let results = futures::future::join_all(puts.iter().map(|(_, put)| self.put(put))).await;
        for ((op, _), result) in puts.into_iter().zip(results) {
            match result {
                Ok(()) => prepared.ops.push(op),
                Err(failure) => prepared.failed.push((op.id, OpResult::Failed(failure))),
            }
        }
        prepared
    }

    /// Deletes the objects of the messages whose delete succeeded.
    async fn finish(&self, results: &[(OpId, OpResult)], objects: Vec<(OpId, S3Pointer)>) {
        let done = |id: &OpId| results.iter().any(|(r, outcome)| r == id && *outcome == OpResult::Ok);
        let doomed: Vec<S3Pointer> = objects.into_iter().filter(|(id, _)| done(id)).map(|(_, p)| p).collect();
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.s3 {
            futures::future::join_all(doomed.iter().map(|p| s3.delete(p))).await;
        }
        #[cfg(not(feature = "s3"))]
        let _ = doomed;
    }

    fn deletes_on_consume(&self) -> bool {
        #[cfg(feature = "s3")]
        return self.s3.as_ref().is_some_and(|s3| s3.deletes_on_consume());
        #[cfg(not(feature = "s3"))]
        false
    }

    async fn put(&self, put: &asyncmcp_proto::offload::S3Put) -> Result<(), OpFailure> {
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.s3 {
            return s3.put(put).await;
        }
        Err(OpFailure::new(
            FailureKind::Invalid,
            format!(
                "cannot write {}: S3 offload is configured in the core but not in the queue client (build asyncmcp-aws with feature `s3` and call `with_s3_offload`)",
                put.pointer
            ),
        ))
    }

    /// Fetches the payloads of the pointer messages among `messages`.
    async fn resolve(&self, messages: Vec<InboundMessage>) -> Vec<InboundMessage> {
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.s3 {
            return futures::future::join_all(messages.into_iter().map(|m| s3.resolve(m))).await;
        }
        messages
    }

    /// All of `ops`: payloads first, then the SQS/SNS calls, then object deletes.
    async fn run(self, ops: Vec<QueueOp>, batch: bool) -> Vec<(OpId, OpResult)> {
        let Prepared { ops, mut failed, objects } = self.prepare(ops).await;
        let mut results = if batch {
            crate::batch::execute(&self.clients, ops).await
        } else {
            let mut results = Vec::with_capacity(ops.len());
            for op in ops {
                results.push((op.id, execute_one(&self.clients, op.kind).await.into()));
            }
            results
        };
        self.finish(&results, objects).await;
        results.append(&mut failed);
        results
    }
}

/// Operations ready for SQS and SNS.
#[derive(Debug, Default)]
struct Prepared {
    ops: Vec<QueueOp>,
    failed: Vec<(OpId, OpResult)>,
    /// Objects to delete when the delete of the op succeeds.
    objects: Vec<(OpId, S3Pointer)>,
}

impl QueueClient for AwsQueueClient {
    fn receive(&self, request: ReceiveRequest) -> BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>> {
        let sqs = self.clients.sqs.clone();
        let this = self.clone();
        Box::pin(async move {
            let max = request.max_messages.clamp(1, MAX_BATCH);
            let output = sqs
                .receive_message()
                .queue_url(&request.queue_url)
                .wait_time_seconds(secs(whole_secs_up(request.wait), MAX_WAIT_SECS))
                .max_number_of_messages(i32::try_from(max).unwrap_or(1))
                .set_visibility_timeout(
                    request.visibility.map(|v| secs(whole_secs_up(v).max(1), u64::from(MAX_VISIBILITY_SECS))),
                )
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .map_err(|e| from_sdk(&e, Call::queue("sqs:ReceiveMessage", &request.queue_url)))?;
            let messages = output.messages.unwrap_or_default().into_iter().filter_map(inbound).collect();
            Ok(this.resolve(messages).await)
        })
    }

    fn execute(&self, op: QueueOp) -> BoxFuture<'static, OpResult> {
        let this = self.clone();
        Box::pin(async move {
            let id = op.id;
            let results = this.run(vec![op], false).await;
            results.into_iter().find(|(r, _)| *r == id).map_or_else(
                || OpResult::Failed(OpFailure::new(FailureKind::Other, "the operation produced no result")),
                |(_, result)| result,
            )
        })
    }

    fn execute_batch(&self, ops: Vec<QueueOp>) -> BoxFuture<'static, Vec<(OpId, OpResult)>> {
        let this = self.clone();
        Box::pin(async move { this.run(ops, true).await })
    }

    fn batches(&self) -> bool {
        true
    }

    fn object_calls(&self) -> asyncmcp_driver::ObjectCalls {
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.s3 {
            return s3.calls();
        }
        asyncmcp_driver::ObjectCalls::default()
    }

    /// `sqs:GetQueueAttributes` (`MaximumMessageSize`) for a queue,
    /// `sns:GetTopicAttributes` for a topic; `Ok(None)` when the attribute is absent
    /// or not a number (a topic created before SNS had it, an emulator without it).
    fn max_message_bytes(&self, destination: &Address) -> BoxFuture<'static, Result<Option<usize>, OpFailure>> {
        let clients = self.clients.clone();
        let destination = destination.clone();
        Box::pin(async move {
            let value = match &destination {
                Address::Queue(url) => clients
                    .sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::MaximumMessageSize)
                    .send()
                    .await
                    .map_err(|e| from_sdk(&e, Call::queue("sqs:GetQueueAttributes", url)))?
                    .attributes
                    .and_then(|mut a| a.remove(&QueueAttributeName::MaximumMessageSize)),
                Address::Topic(arn) => clients
                    .sns
                    .get_topic_attributes()
                    .topic_arn(arn)
                    .send()
                    .await
                    .map_err(|e| from_sdk(&e, Call::topic("sns:GetTopicAttributes", arn)))?
                    .attributes
                    .and_then(|mut a| a.remove(MAXIMUM_MESSAGE_SIZE)),
                _ => None,
            };
            Ok(value.and_then(|v| v.trim().parse::<usize>().ok()))
        })
    }
}

/// The topic attribute that holds the largest message a topic accepts.
const MAXIMUM_MESSAGE_SIZE: &str = "MaximumMessageSize";

/// A wait rounded up to whole seconds (SQS takes nothing finer; rounding down would
/// turn a 500 ms long poll into a busy short poll).
fn whole_secs_up(wait: Duration) -> u64 {
    wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0))
}

pub(crate) async fn execute_one(clients: &Clients, kind: OpKind) -> Result<(), OpFailure> {
    match kind {
        OpKind::Send(send) => match &send.to {
            Address::Queue(url) => {
                let call = Call::queue("sqs:SendMessage", url);
                clients
                    .sqs
                    .send_message()
                    .queue_url(url)
                    .message_body(body_text(&send.body, url)?)
                    .set_message_attributes(to_sqs_attributes(&send.attributes)?)
                    .set_message_group_id(send.group_id.clone())
                    .set_message_deduplication_id(send.dedup_id.clone())
                    .send()
                    .await
                    .map_err(|e| from_sdk(&e, call))?;
                Ok(())
            }
            Address::Topic(arn) => {
                let call = Call::topic("sns:Publish", arn);
                clients
                    .sns
                    .publish()
                    .topic_arn(arn)
                    .message(body_text(&send.body, arn)?)
                    .set_message_attributes(to_sns_attributes(&send.attributes)?)
                    .set_message_group_id(send.group_id.clone())
                    .set_message_deduplication_id(send.dedup_id.clone())
                    .send()
                    .await
                    .map_err(|e| from_sdk(&e, call))?;
                Ok(())
            }
            other => Err(OpFailure::new(
                FailureKind::Invalid,
                format!("cannot send to {other}: not a queue URL or topic ARN"),
            )),
        },
        OpKind::Delete { queue_url, receipt_handle } => {
            clients
                .sqs
                .delete_message()
                .queue_url(&queue_url)
                .receipt_handle(receipt_handle)
                .send()
                .await
                .map_err(|e| from_sdk(&e, Call::queue("sqs:DeleteMessage", &queue_url)))?;
            Ok(())
        }
        OpKind::ChangeVisibility { queue_url, receipt_handle, timeout_secs } => {
            clients
                .sqs
                .change_message_visibility()
                .queue_url(&queue_url)
                .receipt_handle(receipt_handle)
                .visibility_timeout(secs(u64::from(timeout_secs), u64::from(MAX_VISIBILITY_SECS)))
                .send()
                .await
                .map_err(|e| from_sdk(&e, Call::queue("sqs:ChangeMessageVisibility", &queue_url)))?;
            Ok(())
        }
        other => {
            Err(OpFailure::new(FailureKind::Invalid, format!("operation {other:?} is not supported by AwsQueueClient")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_secs_up(Duration::ZERO), 0);
        assert_eq!(whole_secs_up(Duration::from_millis(500)), 1);
        assert_eq!(whole_secs_up(Duration::from_secs(20)), 20);
    }
}
