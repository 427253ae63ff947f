//! [`AwsQueueClient`]: the core's operations as SQS and SNS calls.

use std::collections::BTreeMap;
use std::time::Duration;

use asyncmcp_proto::{Address, FailureKind, InboundMessage, OpFailure, OpId, OpKind, OpResult, QueueOp, SendOp};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_types::SdkConfig;

use crate::Clients;
use crate::convert::{
    MAX_BATCH, MAX_VISIBILITY_SECS, MAX_WAIT_SECS, body_text, inbound, secs, to_sns_attributes, to_sqs_attributes,
};
use crate::errors::{Call, from_batch_entry, from_sdk};
use asyncmcp_driver::{BoxFuture, QueueClient, ReceiveRequest};

/// A [`QueueClient`] over SQS and SNS, through the AWS SDK for Rust.
///
/// `execute_batch` makes one `SendMessageBatch`, `PublishBatch`, `DeleteMessageBatch`
/// or `ChangeMessageVisibilityBatch` call per batch ([`batches`](QueueClient::batches)
/// is `true`) and reports each entry's own outcome.
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
        Box::pin(async move {
            let groups = group(ops);
            let calls = groups.into_iter().map(|(key, ops)| execute_group(&clients, key, ops));
            futures::future::join_all(calls).await.into_iter().flatten().collect()
        })
    }

    fn batches(&self) -> bool {
        true
    }
}

/// A wait rounded up to whole seconds (SQS takes nothing finer; rounding down would
/// turn a 500 ms long poll into a busy short poll).
fn whole_secs_up(wait: Duration) -> u64 {
    wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0))
}

async fn execute_one(clients: &Clients, kind: OpKind) -> Result<(), OpFailure> {
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

/// Which batch call a set of operations can share.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BatchKey {
    SendMessage(String),
    Publish(String),
    Delete(String),
    ChangeVisibility(String),
    /// Performed one by one.
    Single,
}

fn key(kind: &OpKind) -> BatchKey {
    match kind {
        OpKind::Send(SendOp { to: Address::Queue(url), .. }) => BatchKey::SendMessage(url.clone()),
        OpKind::Send(SendOp { to: Address::Topic(arn), .. }) => BatchKey::Publish(arn.clone()),
        OpKind::Delete { queue_url, .. } => BatchKey::Delete(queue_url.clone()),
        OpKind::ChangeVisibility { queue_url, .. } => BatchKey::ChangeVisibility(queue_url.clone()),
        _ => BatchKey::Single,
    }
}

/// Splits `ops` into groups that share a batch call, at most 10 each, in order of
/// first appearance. The driver already hands over one such group; this keeps a mixed
/// or oversized batch correct rather than failing it.
fn group(ops: Vec<QueueOp>) -> Vec<(BatchKey, Vec<QueueOp>)> {
    let mut groups: Vec<(BatchKey, Vec<QueueOp>)> = Vec::new();
    for op in ops {
        let k = key(&op.kind);
        let open = groups.iter_mut().rev().find(|(gk, g)| *gk == k && k != BatchKey::Single && g.len() < MAX_BATCH);
        match open {
            Some((_, g)) => g.push(op),
            None => groups.push((k, vec![op])),
        }
    }
    groups
}

async fn execute_group(clients: &Clients, key: BatchKey, ops: Vec<QueueOp>) -> Vec<(OpId, OpResult)> {
    if ops.len() == 1 || key == BatchKey::Single {
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push((op.id, execute_one(clients, op.kind).await.into()));
        }
        return results;
    }
    match key {
        BatchKey::SendMessage(url) => send_message_batch(clients, &url, ops).await,
        BatchKey::Publish(arn) => publish_batch(clients, &arn, ops).await,
        BatchKey::Delete(url) => delete_batch(clients, &url, ops).await,
        BatchKey::ChangeVisibility(url) => change_visibility_batch(clients, &url, ops).await,
        BatchKey::Single => Vec::new(),
    }
}

/// The entry id of an operation in a batch call.
fn entry_id(id: OpId) -> String {
    id.0.to_string()
}

/// Per-entry outcomes of a batch call that was accepted as a whole.
struct Entries<'a> {
    call: Call<'a>,
    /// Ops whose entry could not be built (bad attribute, non-UTF-8 body): never sent.
    rejected: Vec<(OpId, OpResult)>,
    /// Ops sent in the call, in order.
    sent: Vec<OpId>,
}

impl<'a> Entries<'a> {
    fn new(call: Call<'a>) -> Self {
        Self { call, rejected: Vec::new(), sent: Vec::new() }
    }

    /// Records how building `id`'s entry went; returns the entry to send.
    fn take<T>(&mut self, id: OpId, built: Result<T, OpFailure>) -> Option<T> {
        match built {
            Ok(entry) => {
                self.sent.push(id);
                Some(entry)
            }
            Err(failure) => {
                self.rejected.push((id, OpResult::Failed(failure)));
                None
            }
        }
    }

    /// Every sent entry failed with the whole call's error.
    fn all_failed(self, failure: &OpFailure) -> Vec<(OpId, OpResult)> {
        let mut results = self.rejected;
        results.extend(self.sent.into_iter().map(|id| (id, OpResult::Failed(failure.clone()))));
        results
    }

    /// Outcomes from the response's `Successful` ids and `Failed` entries
    /// `(id, code, message, sender_fault)`; an entry in neither list is reported as a
    /// retryable failure.
    fn outcomes<'r>(
        self,
        successful: impl IntoIterator<Item = &'r str>,
        failed: impl IntoIterator<Item = (&'r str, &'r str, Option<&'r str>, bool)>,
    ) -> Vec<(OpId, OpResult)> {
        let mut by_id: BTreeMap<&str, OpResult> = BTreeMap::new();
        for id in successful {
            by_id.insert(id, OpResult::Ok);
        }
        for (id, code, message, sender_fault) in failed {
            by_id.insert(id, OpResult::Failed(from_batch_entry(code, message, sender_fault, self.call)));
        }
        let Call { action, resource } = self.call;
        let mut results = self.rejected;
        for id in self.sent {
            let outcome = by_id.remove(entry_id(id).as_str()).unwrap_or_else(|| {
                OpResult::Failed(OpFailure::new(
                    FailureKind::Transient,
                    format!("{action} on {resource}: the response did not report entry {}", id.0),
                ))
            });
            results.push((id, outcome));
        }
        results
    }
}

async fn send_message_batch(clients: &Clients, url: &str, ops: Vec<QueueOp>) -> Vec<(OpId, OpResult)> {
    let call = Call::queue("sqs:SendMessageBatch", url);
    let mut entries = Entries::new(call);
    let mut request = Vec::with_capacity(ops.len());
    for op in ops {
        let OpKind::Send(send) = op.kind else { continue };
        let built = body_text(&send.body, url).and_then(|body| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(entry_id(op.id))
                .message_body(body)
                .set_message_attributes(to_sqs_attributes(&send.attributes)?)
                .set_message_group_id(send.group_id)
                .set_message_deduplication_id(send.dedup_id)
                .build()
                .map_err(|e| OpFailure::new(FailureKind::Invalid, format!("sqs:SendMessageBatch on queue {url}: {e}")))
        });
        request.extend(entries.take(op.id, built));
    }
    if request.is_empty() {
        return entries.rejected;
    }
    match clients.sqs.send_message_batch().queue_url(url).set_entries(Some(request)).send().await {
        Ok(out) => entries.outcomes(
            out.successful().iter().map(|s| s.id()),
            out.failed().iter().map(|f| (f.id(), f.code(), f.message(), f.sender_fault())),
        ),
        Err(e) => entries.all_failed(&from_sdk(&e, call)),
    }
}

async fn publish_batch(clients: &Clients, arn: &str, ops: Vec<QueueOp>) -> Vec<(OpId, OpResult)> {
    let call = Call::topic("sns:PublishBatch", arn);
    let mut entries = Entries::new(call);
    let mut request = Vec::with_capacity(ops.len());
    for op in ops {
        let OpKind::Send(send) = op.kind else { continue };
        let built = body_text(&send.body, arn).and_then(|body| {
            aws_sdk_sns::types::PublishBatchRequestEntry::builder()
                .id(entry_id(op.id))
                .message(body)
                .set_message_attributes(to_sns_attributes(&send.attributes)?)
                .set_message_group_id(send.group_id)
                .set_message_deduplication_id(send.dedup_id)
                .build()
                .map_err(|e| OpFailure::new(FailureKind::Invalid, format!("sns:PublishBatch on topic {arn}: {e}")))
        });
        request.extend(entries.take(op.id, built));
    }
    if request.is_empty() {
        return entries.rejected;
    }
    match clients.sns.publish_batch().topic_arn(arn).set_publish_batch_request_entries(Some(request)).send().await {
        Ok(out) => entries.outcomes(
            out.successful().iter().filter_map(|s| s.id()),
            out.failed().iter().map(|f| (f.id(), f.code(), f.message(), f.sender_fault())),
        ),
        Err(e) => entries.all_failed(&from_sdk(&e, call)),
    }
}

async fn delete_batch(clients: &Clients, url: &str, ops: Vec<QueueOp>) -> Vec<(OpId, OpResult)> {
    let call = Call::queue("sqs:DeleteMessageBatch", url);
    let mut entries = Entries::new(call);
    let mut request = Vec::with_capacity(ops.len());
    for op in ops {
        let OpKind::Delete { receipt_handle, .. } = op.kind else { continue };
        let built = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
            .id(entry_id(op.id))
            .receipt_handle(receipt_handle)
            .build()
            .map_err(|e| OpFailure::new(FailureKind::Invalid, format!("sqs:DeleteMessageBatch on queue {url}: {e}")));
        request.extend(entries.take(op.id, built));
    }
    if request.is_empty() {
        return entries.rejected;
    }
    match clients.sqs.delete_message_batch().queue_url(url).set_entries(Some(request)).send().await {
        Ok(out) => entries.outcomes(
            out.successful().iter().map(|s| s.id()),
            out.failed().iter().map(|f| (f.id(), f.code(), f.message(), f.sender_fault())),
        ),
        Err(e) => entries.all_failed(&from_sdk(&e, call)),
    }
}

async fn change_visibility_batch(clients: &Clients, url: &str, ops: Vec<QueueOp>) -> Vec<(OpId, OpResult)> {
    let call = Call::queue("sqs:ChangeMessageVisibilityBatch", url);
    let mut entries = Entries::new(call);
    let mut request = Vec::with_capacity(ops.len());
    for op in ops {
        let OpKind::ChangeVisibility { receipt_handle, timeout_secs, .. } = op.kind else { continue };
        let built = aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
            .id(entry_id(op.id))
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs(u64::from(timeout_secs), u64::from(MAX_VISIBILITY_SECS)))
            .build()
            .map_err(|e| {
                OpFailure::new(FailureKind::Invalid, format!("sqs:ChangeMessageVisibilityBatch on queue {url}: {e}"))
            });
        request.extend(entries.take(op.id, built));
    }
    if request.is_empty() {
        return entries.rejected;
    }
    match clients.sqs.change_message_visibility_batch().queue_url(url).set_entries(Some(request)).send().await {
        Ok(out) => entries.outcomes(
            out.successful().iter().map(|s| s.id()),
            out.failed().iter().map(|f| (f.id(), f.code(), f.message(), f.sender_fault())),
        ),
        Err(e) => entries.all_failed(&from_sdk(&e, call)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn send(id: u64, to: Address) -> QueueOp {
        QueueOp {
            id: OpId(id),
            kind: OpKind::Send(SendOp {
                to,
                body: Bytes::from_static(b"{}"),
                attributes: Default::default(),
                group_id: None,
                dedup_id: None,
            }),
        }
    }

    #[test]
    fn groups_split_by_destination_and_size() {
        let q = Address::Queue("https://q".into());
        let t = Address::Topic("arn:aws:sns:us-east-1:1:t".into());
        let mut ops: Vec<QueueOp> = (0..12).map(|i| send(i, q.clone())).collect();
        ops.push(send(100, t));
        let groups = group(ops);
        let sizes: Vec<usize> = groups.iter().map(|(_, g)| g.len()).collect();
        assert_eq!(sizes, vec![10, 2, 1]);
        assert_eq!(groups[2].0, BatchKey::Publish("arn:aws:sns:us-east-1:1:t".into()));
        let ids: Vec<u64> = groups.iter().flat_map(|(_, g)| g.iter().map(|op| op.id.0)).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 100]);
    }

    #[test]
    fn entries_report_each_outcome() {
        let call = Call::queue("sqs:DeleteMessageBatch", "https://q");
        let mut entries = Entries::new(call);
        entries.sent = vec![OpId(1), OpId(2), OpId(3)];
        let results = entries.outcomes(["1"], [("2", "ReceiptHandleIsInvalid", Some("stale"), true)]);
        assert_eq!(results[0], (OpId(1), OpResult::Ok));
        let OpResult::Failed(stale) = &results[1].1 else { panic!("entry 2 failed") };
        assert!(!stale.is_retryable());
        let OpResult::Failed(missing) = &results[2].1 else { panic!("entry 3 not reported") };
        assert!(missing.is_retryable());
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_secs_up(Duration::ZERO), 0);
        assert_eq!(whole_secs_up(Duration::from_millis(500)), 1);
        assert_eq!(whole_secs_up(Duration::from_secs(20)), 20);
    }
}
