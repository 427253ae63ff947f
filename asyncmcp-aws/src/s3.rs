//! [`S3Offload`]: the S3 calls of the claim check (feature `s3`). The core decides
//! what goes through S3 and formats pointers ([`asyncmcp_proto::offload`]); this
//! writes, reads and deletes the objects.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use asyncmcp_driver::ObjectCalls;
use asyncmcp_proto::offload::{self, FetchFailure, S3Pointer, S3Put};
use asyncmcp_proto::{FailureKind, InboundMessage, OpFailure};
use aws_sdk_s3::primitives::ByteStream;
use aws_types::SdkConfig;
use bytes::{Bytes, BytesMut};

use crate::errors::{Call, from_sdk};

/// S3 offload for [`AwsQueueClient`](crate::AwsQueueClient) (feature `s3`): writes
/// the payloads of send operations that carry one
/// ([`SendOp::offload`](asyncmcp_proto::SendOp::offload)) before sending, fetches
/// the payloads of received pointer messages (this library's or AWS's extended
/// clients'), and, when so configured, deletes an object once its message is deleted.
///
/// Which messages go through S3 is the core's decision:
/// [`SharedConfig::offload`](asyncmcp_proto::SharedConfig::offload) names the bucket.
/// Cloning is cheap; clones share the call counters.
#[derive(Debug, Clone)]
pub struct S3Offload {
    client: aws_sdk_s3::Client,
    delete_on_consume: bool,
    max_fetch_bytes: u64,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    puts: AtomicU64,
    gets: AtomicU64,
    deletes: AtomicU64,
}

/// What [`S3Offload`] fetches at most by default: 64 MiB.
pub const DEFAULT_MAX_FETCH_BYTES: u64 = 64 * 1024 * 1024;

impl S3Offload {
    /// S3 calls configured by `config` (credentials, region, endpoint). With an
    /// endpoint URL set (moto, LocalStack, MinIO), buckets are addressed by path
    /// (`http://host/bucket/key`), as those need. Objects are kept after their message
    /// is deleted, and at most [`DEFAULT_MAX_FETCH_BYTES`] are fetched.
    pub fn new(config: &SdkConfig) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some()).build();
        Self {
            client: aws_sdk_s3::Client::from_conf(s3),
            delete_on_consume: false,
            max_fetch_bytes: DEFAULT_MAX_FETCH_BYTES,
            counts: Arc::default(),
        }
    }

    /// Delete the object of a received pointer message once the message is deleted
    /// (the extended clients' `deletePayloadFromS3` / `delete_payload_from_s3`).
    /// Only one consumer may do so: leave it off when several read the same payload
    /// (an SNS topic fanned out to several queues), and expire objects with a bucket
    /// lifecycle rule instead.
    #[must_use]
    pub fn delete_on_consume(mut self, yes: bool) -> Self {
        self.delete_on_consume = yes;
        self
    }

    /// Fetch at most `bytes` of one payload: a message whose declared size
    /// (`ExtendedPayloadSize`) or object is larger is rejected with
    /// [`FetchFailure::TooLarge`] without reading it.
    #[must_use]
    pub fn max_fetch_bytes(mut self, bytes: u64) -> Self {
        self.max_fetch_bytes = bytes;
        self
    }

    /// The S3 calls made so far (successful or not).
    pub fn calls(&self) -> ObjectCalls {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut calls = ObjectCalls::default();
        calls.puts = get(&self.counts.puts);
        calls.gets = get(&self.counts.gets);
        calls.deletes = get(&self.counts.deletes);
        calls
    }

    pub(crate) fn deletes_on_consume(&self) -> bool {
        self.delete_on_consume
    }

    /// `PutObject` of one payload. A retry puts the same key again: idempotent.
    pub(crate) async fn put(&self, put: &S3Put) -> Result<(), OpFailure> {
        self.counts.puts.fetch_add(1, Ordering::Relaxed);
        let url = put.pointer.to_string();
        self.client
            .put_object()
            .bucket(&put.pointer.bucket)
            .key(&put.pointer.key)
            .content_type("application/json")
            .body(ByteStream::from(put.payload.clone()))
            .send()
            .await
            .map_err(|e| from_sdk(&e, Call::object("s3:PutObject", &url)))?;
        Ok(())
    }

    /// `DeleteObject`, after the message that pointed at it was deleted. Best effort:
    /// a failure is logged (the message is gone; a lifecycle rule collects the rest).
    pub(crate) async fn delete(&self, pointer: &S3Pointer) {
        self.counts.deletes.fetch_add(1, Ordering::Relaxed);
        let url = pointer.to_string();
        if let Err(e) = self.client.delete_object().bucket(&pointer.bucket).key(&pointer.key).send().await {
            let failure = from_sdk(&e, Call::object("s3:DeleteObject", &url));
            tracing::warn!(%failure, "the payload of a deleted message was not deleted");
        }
    }

    /// `msg` with its payload in place when it is a pointer message; otherwise as is.
    /// A payload that cannot be fetched leaves the message marked for the core to
    /// reject ([`offload::unresolved`]).
    pub(crate) async fn resolve(&self, msg: InboundMessage) -> InboundMessage {
        let Some(found) = offload::find_pointer(&msg) else { return msg };
        let Some(pointer) = found.pointer else {
            return offload::unresolved(msg, None, FetchFailure::NotAPointer);
        };
        let cap = self.max_fetch_bytes;
        if let Some(size) = found.declared_size.filter(|s| *s > cap) {
            return offload::unresolved(msg, Some(pointer), FetchFailure::TooLarge { size, cap });
        }
        match self.fetch(&pointer).await {
            Ok(payload) => offload::resolved(msg, pointer, payload),
            Err(failure) => {
                tracing::debug!(%pointer, %failure, "offloaded payload not fetched");
                offload::unresolved(msg, Some(pointer), failure)
            }
        }
    }

    /// `GetObject`, reading at most the fetch cap.
    async fn fetch(&self, pointer: &S3Pointer) -> Result<Bytes, FetchFailure> {
        self.counts.gets.fetch_add(1, Ordering::Relaxed);
        let url = pointer.to_string();
        let cap = self.max_fetch_bytes;
        let output = self
            .client
            .get_object()
            .bucket(&pointer.bucket)
            .key(&pointer.key)
            .send()
            .await
            .map_err(|e| fetch_failure(from_sdk(&e, Call::object("s3:GetObject", &url))))?;
        let declared = output.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(size) = declared.filter(|s| *s > cap) {
            return Err(FetchFailure::TooLarge { size, cap });
        }
        let mut body = output.body;
        let mut payload = BytesMut::with_capacity(usize::try_from(declared.unwrap_or(0)).unwrap_or(0));
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| FetchFailure::Transient { detail: format!("reading {url} failed: {e}") })?
        {
            let size = (payload.len() + chunk.len()) as u64;
            if size > cap {
                return Err(FetchFailure::TooLarge { size, cap });
            }
            payload.extend_from_slice(&chunk);
        }
        let payload = payload.freeze();
        if let Err(e) = std::str::from_utf8(&payload) {
            return Err(FetchFailure::Refused { detail: format!("{url} is not UTF-8 text: {e}") });
        }
        Ok(payload)
    }
}

/// An S3 failure as the core reads it: missing, passing, or for good.
fn fetch_failure(failure: OpFailure) -> FetchFailure {
    let detail = failure.to_string();
    match failure.kind {
        FailureKind::NotFound => FetchFailure::NotFound { detail },
        kind if kind.is_retryable() => FetchFailure::Transient { detail },
        _ => FetchFailure::Refused { detail },
    }
}
