//! One batch, one call: the four SQS/SNS batch calls through one generic path.
//!
//! The driver decides batches ([`BatchTarget`], [`MAX_BATCH_ENTRIES`],
//! [`MAX_BATCH_BYTES`]); this module checks that promise ([`admit`]), builds one entry
//! per operation ([`BatchApi::entry`]), makes the call ([`BatchApi::send`]) and maps
//! the response back to each operation ([`Entries::outcomes`]).

use std::collections::BTreeMap;
use std::future::Future;

use asyncmcp_driver::{BatchTarget, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, batch_bytes};
use asyncmcp_proto::{FailureKind, OpFailure, OpId, OpKind, OpResult, QueueOp, SendOp};

use crate::Clients;
use crate::client::execute_one;
use crate::convert::{MAX_VISIBILITY_SECS, body_text, secs, to_sns_attributes, to_sqs_attributes};
use crate::errors::{Call, from_batch_entry, from_sdk};

/// Performs `ops`, one batch the driver decided, as one call; entries that break the
/// driver's promise fail with [`FailureKind::Invalid`] and are not sent.
pub(crate) async fn execute(clients: &Clients, ops: Vec<QueueOp>) -> Vec<(OpId, OpResult)> {
    let Some(first) = ops.first() else { return Vec::new() };
    let target = BatchTarget::of(first);
    let (admitted, refused) = admit(&target, ops);
    let mut results = match &target {
        BatchTarget::SendMessage { queue_url } => run::<SendMessageBatch>(clients, queue_url, admitted).await,
        BatchTarget::Publish { topic_arn } => run::<PublishBatch>(clients, topic_arn, admitted).await,
        BatchTarget::Delete { queue_url } => run::<DeleteMessageBatch>(clients, queue_url, admitted).await,
        BatchTarget::ChangeVisibility { queue_url } => {
            run::<ChangeMessageVisibilityBatch>(clients, queue_url, admitted).await
        }
        // No batch form: one call each.
        _ => {
            let mut results = Vec::with_capacity(admitted.len());
            for op in admitted {
                results.push((op.id, execute_one(clients, op.kind).await.into()));
            }
            results
        }
    };
    results.extend(refused);
    results
}

/// Splits `ops` into those the batch call takes (the first entry's target, at most
/// [`MAX_BATCH_ENTRIES`], at most [`MAX_BATCH_BYTES`] in all; a single entry larger
/// than that goes, for the service to judge) and the others, failed as
/// [`FailureKind::Invalid`]. Nothing is regrouped.
pub(crate) fn admit(target: &BatchTarget, ops: Vec<QueueOp>) -> (Vec<QueueOp>, Vec<(OpId, OpResult)>) {
    let mut admitted: Vec<QueueOp> = Vec::with_capacity(ops.len());
    let mut refused = Vec::new();
    let mut bytes = 0usize;
    for op in ops {
        let size = batch_bytes(&op);
        let why = if BatchTarget::of(&op) != *target {
            Some(format!("it is not a {target:?} like the batch's first entry"))
        } else if admitted.len() >= MAX_BATCH_ENTRIES {
            Some(format!("the batch holds more than {MAX_BATCH_ENTRIES} entries"))
        } else if !admitted.is_empty() && bytes.saturating_add(size) > MAX_BATCH_BYTES {
            Some(format!("the batch holds more than {MAX_BATCH_BYTES} bytes"))
        } else {
            None
        };
        match why {
            Some(why) => refused.push((
                op.id,
                OpResult::Failed(OpFailure::new(
                    FailureKind::Invalid,
                    format!("operation {} was not sent: {why} (the driver decides batches; this is a bug)", op.id.0),
                )),
            )),
            None => {
                bytes = bytes.saturating_add(size);
                admitted.push(op);
            }
        }
    }
    (admitted, refused)
}

/// What a batch call's response says, entry by entry.
#[derive(Debug, Default)]
pub(crate) struct Response {
    /// Ids of the entries that succeeded.
    pub(crate) successful: Vec<String>,
    /// Entries that failed.
    pub(crate) failed: Vec<FailedEntry>,
}

/// One failed entry of a batch call.
#[derive(Debug)]
pub(crate) struct FailedEntry {
    pub(crate) id: String,
    pub(crate) code: String,
    pub(crate) message: Option<String>,
    pub(crate) sender_fault: bool,
}

/// One of the batch calls: how to build an entry and how to make the call.
trait BatchApi {
    /// The SDK's request entry.
    type Entry: Send;
    /// What the call is aimed at, for messages: the IAM action and the destination.
    fn call(destination: &str) -> Call<'_>;
    /// The entry for `kind`, under `id`.
    fn entry(id: String, kind: OpKind, destination: &str) -> Result<Self::Entry, OpFailure>;
    /// Makes the call.
    fn send(
        clients: &Clients,
        destination: &str,
        entries: Vec<Self::Entry>,
    ) -> impl Future<Output = Result<Response, OpFailure>> + Send;
}

/// Builds every entry, makes one call, and reports each operation's outcome.
async fn run<B: BatchApi>(clients: &Clients, destination: &str, ops: Vec<QueueOp>) -> Vec<(OpId, OpResult)> {
    let call = B::call(destination);
    let mut entries = Entries::new(call);
    let mut request = Vec::with_capacity(ops.len());
    for op in ops {
        let built = B::entry(entry_id(op.id), op.kind, destination);
        request.extend(entries.take(op.id, built));
    }
    if request.is_empty() {
        return entries.rejected;
    }
    match B::send(clients, destination, request).await {
        Ok(response) => entries.outcomes(response),
        Err(failure) => entries.all_failed(&failure),
    }
}

/// The entry id of an operation in a batch call.
fn entry_id(id: OpId) -> String {
    id.0.to_string()
}

/// The refusal of an entry whose kind does not match the call (never reached:
/// [`admit`] keeps one target per call).
fn wrong_kind(call: Call<'_>) -> OpFailure {
    let Call { action, resource } = call;
    OpFailure::new(FailureKind::Invalid, format!("{action} on {resource}: an operation of another kind"))
}

/// The SDK's builder error for an entry.
fn unbuilt(call: Call<'_>, error: impl std::fmt::Display) -> OpFailure {
    let Call { action, resource } = call;
    OpFailure::new(FailureKind::Invalid, format!("{action} on {resource}: {error}"))
}

/// `SendMessageBatch`.
struct SendMessageBatch;

impl BatchApi for SendMessageBatch {
    type Entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry;

    fn call(url: &str) -> Call<'_> {
        Call::queue("sqs:SendMessageBatch", url)
    }

    fn entry(id: String, kind: OpKind, url: &str) -> Result<Self::Entry, OpFailure> {
        let OpKind::Send(SendOp { body, attributes, group_id, dedup_id, .. }) = kind else {
            return Err(wrong_kind(Self::call(url)));
        };
        Self::Entry::builder()
            .id(id)
            .message_body(body_text(&body, url)?)
            .set_message_attributes(to_sqs_attributes(&attributes)?)
            .set_message_group_id(group_id)
            .set_message_deduplication_id(dedup_id)
            .build()
            .map_err(|e| unbuilt(Self::call(url), e))
    }

    async fn send(clients: &Clients, url: &str, entries: Vec<Self::Entry>) -> Result<Response, OpFailure> {
        let out = clients
            .sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| from_sdk(&e, Self::call(url)))?;
        Ok(Response {
            successful: out.successful().iter().map(|s| s.id().to_owned()).collect(),
            failed: out.failed().iter().map(|f| failed(f.id(), f.code(), f.message(), f.sender_fault())).collect(),
        })
    }
}

/// `PublishBatch`.
struct PublishBatch;

impl BatchApi for PublishBatch {
    type Entry = aws_sdk_sns::types::PublishBatchRequestEntry;

    fn call(arn: &str) -> Call<'_> {
        Call::topic("sns:PublishBatch", arn)
    }

    fn entry(id: String, kind: OpKind, arn: &str) -> Result<Self::Entry, OpFailure> {
        let OpKind::Send(SendOp { body, attributes, group_id, dedup_id, .. }) = kind else {
            return Err(wrong_kind(Self::call(arn)));
        };
        Self::Entry::builder()
            .id(id)
            .message(body_text(&body, arn)?)
            .set_message_attributes(to_sns_attributes(&attributes)?)
            .set_message_group_id(group_id)
            .set_message_deduplication_id(dedup_id)
            .build()
            .map_err(|e| unbuilt(Self::call(arn), e))
    }

    async fn send(clients: &Clients, arn: &str, entries: Vec<Self::Entry>) -> Result<Response, OpFailure> {
        let out = clients
            .sns
            .publish_batch()
            .topic_arn(arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| from_sdk(&e, Self::call(arn)))?;
        Ok(Response {
            successful: out.successful().iter().filter_map(|s| s.id().map(str::to_owned)).collect(),
            failed: out.failed().iter().map(|f| failed(f.id(), f.code(), f.message(), f.sender_fault())).collect(),
        })
    }
}

/// `DeleteMessageBatch`.
struct DeleteMessageBatch;

impl BatchApi for DeleteMessageBatch {
    type Entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;

    fn call(url: &str) -> Call<'_> {
        Call::queue("sqs:DeleteMessageBatch", url)
    }

    fn entry(id: String, kind: OpKind, url: &str) -> Result<Self::Entry, OpFailure> {
        let OpKind::Delete { receipt_handle, .. } = kind else {
            return Err(wrong_kind(Self::call(url)));
        };
        Self::Entry::builder().id(id).receipt_handle(receipt_handle).build().map_err(|e| unbuilt(Self::call(url), e))
    }

    async fn send(clients: &Clients, url: &str, entries: Vec<Self::Entry>) -> Result<Response, OpFailure> {
        let out = clients
            .sqs
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| from_sdk(&e, Self::call(url)))?;
        Ok(Response {
            successful: out.successful().iter().map(|s| s.id().to_owned()).collect(),
            failed: out.failed().iter().map(|f| failed(f.id(), f.code(), f.message(), f.sender_fault())).collect(),
        })
    }
}

/// `ChangeMessageVisibilityBatch`.
struct ChangeMessageVisibilityBatch;

impl BatchApi for ChangeMessageVisibilityBatch {
    type Entry = aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;

    fn call(url: &str) -> Call<'_> {
        Call::queue("sqs:ChangeMessageVisibilityBatch", url)
    }

    fn entry(id: String, kind: OpKind, url: &str) -> Result<Self::Entry, OpFailure> {
        let OpKind::ChangeVisibility { receipt_handle, timeout_secs, .. } = kind else {
            return Err(wrong_kind(Self::call(url)));
        };
        Self::Entry::builder()
            .id(id)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs(u64::from(timeout_secs), u64::from(MAX_VISIBILITY_SECS)))
            .build()
            .map_err(|e| unbuilt(Self::call(url), e))
    }

    async fn send(clients: &Clients, url: &str, entries: Vec<Self::Entry>) -> Result<Response, OpFailure> {
        let out = clients
            .sqs
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| from_sdk(&e, Self::call(url)))?;
        Ok(Response {
            successful: out.successful().iter().map(|s| s.id().to_owned()).collect(),
            failed: out.failed().iter().map(|f| failed(f.id(), f.code(), f.message(), f.sender_fault())).collect(),
        })
    }
}

fn failed(id: &str, code: &str, message: Option<&str>, sender_fault: bool) -> FailedEntry {
    FailedEntry { id: id.to_owned(), code: code.to_owned(), message: message.map(str::to_owned), sender_fault }
}

/// Per-entry outcomes of one batch call.
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

    /// Outcomes from the response; an entry in neither list is reported as a
    /// [`FailureKind::Transient`] failure.
    fn outcomes(self, response: Response) -> Vec<(OpId, OpResult)> {
        let mut by_id: BTreeMap<String, OpResult> = BTreeMap::new();
        for id in response.successful {
            by_id.insert(id, OpResult::Ok);
        }
        for entry in response.failed {
            let failure = from_batch_entry(&entry.code, entry.message.as_deref(), entry.sender_fault, self.call);
            by_id.insert(entry.id, OpResult::Failed(failure));
        }
        let Call { action, resource } = self.call;
        let mut results = self.rejected;
        for id in self.sent {
            let outcome = by_id.remove(&entry_id(id)).unwrap_or_else(|| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use asyncmcp_proto::Address;
    use asyncmcp_proto::attributes::Attributes;

    fn send(id: u64, to: &str, len: usize) -> QueueOp {
        QueueOp {
            id: OpId(id),
            kind: OpKind::Send(SendOp {
                to: Address::parse(to),
                body: vec![b'x'; len].into(),
                attributes: Attributes::new(),
                group_id: None,
                dedup_id: None,
                offload: None,
            }),
        }
    }

    fn delete(id: u64, url: &str) -> QueueOp {
        QueueOp { id: OpId(id), kind: OpKind::Delete { queue_url: url.into(), receipt_handle: format!("r{id}") } }
    }

    fn refused_ids(refused: &[(OpId, OpResult)]) -> Vec<u64> {
        for (_, result) in refused {
            assert!(matches!(result, OpResult::Failed(f) if f.kind == FailureKind::Invalid), "{result:?}");
        }
        refused.iter().map(|(id, _)| id.0).collect()
    }

    #[test]
    fn a_mixed_batch_is_not_regrouped_but_refused() {
        let ops = vec![
            delete(1, "https://q/a"),
            send(2, "https://q/a", 2),
            delete(3, "https://q/b"),
            delete(4, "https://q/a"),
        ];
        let target = BatchTarget::of(&ops[0]);
        let (admitted, refused) = admit(&target, ops);
        assert_eq!(admitted.iter().map(|op| op.id.0).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(refused_ids(&refused), [2, 3]);
    }

    #[test]
    fn entries_past_the_limits_are_refused() {
        let ops: Vec<QueueOp> = (0..12).map(|i| delete(i, "https://q/a")).collect();
        let (admitted, refused) = admit(&BatchTarget::of(&ops[0]), ops);
        assert_eq!(admitted.len(), MAX_BATCH_ENTRIES);
        assert_eq!(refused_ids(&refused), [10, 11]);

        let ops: Vec<QueueOp> = (0..3).map(|i| send(i, "https://q/a", MAX_BATCH_BYTES / 2)).collect();
        let (admitted, refused) = admit(&BatchTarget::of(&ops[0]), ops);
        assert_eq!(admitted.len(), 2);
        assert_eq!(refused_ids(&refused), [2]);

        // One entry over the limit alone goes: the service judges it.
        let big = vec![send(0, "https://q/a", MAX_BATCH_BYTES + 1)];
        let (admitted, refused) = admit(&BatchTarget::of(&big[0]), big);
        assert_eq!((admitted.len(), refused.len()), (1, 0));
    }

    #[test]
    fn entries_report_each_outcome() {
        let call = Call::queue("sqs:DeleteMessageBatch", "https://q");
        let mut entries = Entries::new(call);
        entries.sent = vec![OpId(1), OpId(2), OpId(3)];
        let response = Response {
            successful: vec!["1".into()],
            failed: vec![failed("2", "ReceiptHandleIsInvalid", Some("stale"), true)],
        };
        let results = entries.outcomes(response);
        assert_eq!(results[0], (OpId(1), OpResult::Ok));
        let OpResult::Failed(stale) = &results[1].1 else { panic!("entry 2 failed") };
        assert_eq!(stale.kind, FailureKind::StaleReceipt);
        let OpResult::Failed(missing) = &results[2].1 else { panic!("entry 3 not reported") };
        assert_eq!(missing.kind, FailureKind::Transient);
    }
}
