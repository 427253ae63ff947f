//! [`AwsQueueClient`]: the core's operations as SQS and SNS calls.

use std::time::Duration;

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
        Self { clients: Clients::new(config) }
    }

    /// A client configured from the environment (feature `rt-tokio`): the standard credential chain, the
    /// region from `AWS_REGION` or the profile, and `AWS_ENDPOINT_URL` when set.
    #[cfg(feature = "rt-tokio")]
    pub async fn from_env() -> Self {
        Self { clients: Clients::from_env().await }
    }

    /// A client for a local emulator (moto, LocalStack) at `endpoint_url`, such as
    /// `http://127.0.0.1:5000`, with fixed `test`/`test` credentials (feature `rt-tokio`).
    /// Not for AWS.
    #[cfg(feature = "rt-tokio")]
    pub fn with_endpoint(endpoint_url: &str, region: &str) -> Self {
        Self { clients: Clients::local(endpoint_url, region) }
    }
}

impl QueueClient for AwsQueueClient {
    fn receive(&self, request: ReceiveRequest) -> BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>> {
        let sqs = self.clients.sqs.clone();
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
            Ok(output.messages.unwrap_or_default().into_iter().filter_map(inbound).collect())
        })
    }

    fn execute(&self, op: QueueOp) -> BoxFuture<'static, OpResult> {
        let clients = self.clients.clone();
        Box::pin(async move { execute_one(&clients, op.kind).await.into() })
    }

    fn execute_batch(&self, ops: Vec<QueueOp>) -> BoxFuture<'static, Vec<(OpId, OpResult)>> {
        let clients = self.clients.clone();
        Box::pin(async move { crate::batch::execute(&clients, ops).await })
    }

    fn batches(&self) -> bool {
        true
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
