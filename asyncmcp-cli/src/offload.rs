//! Large messages: the S3 offload options of `serve`, `proxy` and `call` (messages
//! too large for their queue or topic go to an S3 object, in the format of AWS's
//! extended client libraries; docs/binding.md section 11.1), the size budget, and
//! the bucket calls of the start-up check and of `infra`.

use asyncmcp_aws::{AwsQueueClient, DEFAULT_MAX_FETCH_BYTES, S3Offload};
use asyncmcp_tokio::proto::SharedConfig;
use asyncmcp_tokio::proto::offload::OffloadConfig;
use aws_config::SdkConfig;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use clap::Args;

use crate::error::{CliError, CliResult};

/// The tag `infra up` puts on a bucket it created: its value is the deployment's
/// `--name`, so that `infra down` deletes only buckets it made.
pub(crate) const CREATED_BY_TAG: &str = "asyncmcp:infra";

/// The help heading of these options.
const HEADING: &str = "Large messages";

/// How large messages travel.
#[derive(Debug, Clone, Args)]
pub(crate) struct OffloadArgs {
    /// Put each message too large for its queue or topic (and each above
    /// --offload-threshold) into this S3 bucket and send a pointer to it, in the
    /// format of AWS's extended client libraries. Pointers received are read with or
    /// without this option.
    #[arg(long, value_name = "BUCKET", help_heading = HEADING)]
    pub(crate) s3_bucket: Option<String>,
    /// With --s3-bucket: put this before each object's key (letters, digits, `/`,
    /// `_`, `-`, `.`).
    #[arg(long, value_name = "P", requires = "s3_bucket", help_heading = HEADING)]
    s3_key_prefix: Option<String>,
    /// With --s3-bucket: offload every message above this many bytes (body and
    /// attributes), even when it would fit its queue or topic [default: 262144].
    #[arg(long, value_name = "BYTES", requires = "s3_bucket", help_heading = HEADING)]
    offload_threshold: Option<usize>,
    /// Delete the S3 object of a received message once the message is deleted. Off by
    /// default: only one reader may delete an object (a topic fanned out to several
    /// queues has several); expire objects with a bucket lifecycle rule instead.
    #[arg(long, help_heading = HEADING)]
    s3_delete_on_consume: bool,
    /// Refuse a received S3 payload larger than this many bytes (without fetching it).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FETCH_BYTES, help_heading = HEADING,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_fetch_bytes: u64,
    /// Send no message larger than this many bytes (1024 to 1048576), even when the
    /// queue or topic takes more; a larger one goes through S3 (with --s3-bucket), in
    /// fragments (to an asyncmcp peer), or is refused with an error naming the limit.
    #[arg(long, value_name = "BYTES", help_heading = HEADING,
          value_parser = clap::value_parser!(u64).range(1024..=1_048_576))]
    max_message_bytes: Option<u64>,
}

impl OffloadArgs {
    /// Sets the size budget and the offload of `common`.
    pub(crate) fn apply(&self, common: &mut SharedConfig) {
        if let Some(max) = self.max_message_bytes.and_then(|n| usize::try_from(n).ok()) {
            common.limits.max_bytes = common.limits.max_bytes.min(max);
            common.fallback_max_bytes = common.fallback_max_bytes.min(max);
        }
        if let Some(bucket) = &self.s3_bucket {
            let mut offload = OffloadConfig::new(bucket.clone());
            if let Some(prefix) = &self.s3_key_prefix {
                prefix.clone_into(&mut offload.key_prefix);
            }
            if let Some(threshold) = self.offload_threshold {
                offload.threshold = threshold;
            }
            common.offload = Some(offload);
        }
    }

    /// `queue` with the S3 calls of offload: pointers received are always resolved,
    /// whatever the bucket; objects are written when `--s3-bucket` is given.
    pub(crate) fn queue_client(&self, sdk: &SdkConfig, queue: AwsQueueClient) -> AwsQueueClient {
        let s3 = S3Offload::new(sdk).delete_on_consume(self.s3_delete_on_consume).max_fetch_bytes(self.max_fetch_bytes);
        queue.with_s3_offload(s3)
    }

    /// Checks that `--s3-bucket` exists and can be reached, so that a bad name fails
    /// at start, naming the bucket, rather than at the first large message.
    ///
    /// # Errors
    /// The bucket does not exist, or access to it is denied. Other failures (a
    /// network blip) are logged and let through.
    pub(crate) async fn check_bucket(&self, sdk: &SdkConfig) -> CliResult<()> {
        let Some(bucket) = &self.s3_bucket else { return Ok(()) };
        match bucket_state(&s3_client(sdk), bucket).await {
            Ok(true) => {
                tracing::info!("large messages go through S3 bucket {bucket}");
                Ok(())
            }
            Ok(false) => Err(CliError::new(format!(
                "--s3-bucket {bucket}: the S3 bucket {bucket} does not exist: create it with \
                 `asyncmcp infra up --name NAME --s3-bucket {bucket}`, or check the name and the region"
            ))),
            Err(BucketError::Denied(detail)) => Err(CliError::new(format!(
                "--s3-bucket {bucket}: access to the S3 bucket {bucket} is denied ({detail}): the credentials need \
                 s3:PutObject and s3:GetObject on it (and s3:DeleteObject for --s3-delete-on-consume)"
            ))),
            Err(BucketError::Other(detail)) => {
                tracing::warn!("could not check the S3 bucket {bucket} (going on anyway): {detail}");
                Ok(())
            }
        }
    }
}

/// Why a bucket call failed.
pub(crate) enum BucketError {
    /// 403: the credentials may not.
    Denied(String),
    /// Anything else.
    Other(String),
}

impl From<BucketError> for CliError {
    fn from(e: BucketError) -> Self {
        match e {
            BucketError::Denied(detail) | BucketError::Other(detail) => CliError::new(detail),
        }
    }
}

/// An S3 client for `sdk`; path-style addressing against a custom endpoint (moto,
/// LocalStack, MinIO), as those need.
pub(crate) fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Whether `bucket` exists (`HeadBucket`).
///
/// # Errors
/// Access denied, or the call failed otherwise.
pub(crate) async fn bucket_state(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<bool, BucketError> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            if e.as_service_error().is_some_and(aws_sdk_s3::operation::head_bucket::HeadBucketError::is_not_found)
                || status == Some(404)
            {
                return Ok(false);
            }
            let detail = format!("HeadBucket {bucket}: {}", DisplayErrorContext(&e));
            if status == Some(403) { Err(BucketError::Denied(detail)) } else { Err(BucketError::Other(detail)) }
        }
    }
}

/// Creates `bucket` in `region` and tags it as made for deployment `name`.
///
/// # Errors
/// The name is taken by another account, or the calls failed.
pub(crate) async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str, region: &str, name: &str) -> CliResult<()> {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, Tag, Tagging};
    let mut create = s3.create_bucket().bucket(bucket);
    // us-east-1 takes no location constraint; every other region needs one.
    if region != "us-east-1" {
        let location =
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(region)).build();
        create = create.create_bucket_configuration(location);
    }
    if let Err(e) = create.send().await {
        let taken = e.as_service_error().is_some_and(|s| s.is_bucket_already_exists());
        let hint = if taken { ": the name is taken by another AWS account; choose another" } else { "" };
        return Err(CliError::new(format!("cannot create the S3 bucket {bucket}: {}{hint}", DisplayErrorContext(&e))));
    }
    let tag = Tag::builder()
        .key(CREATED_BY_TAG)
        .value(name)
        .build()
        .map_err(|e| CliError::new(format!("tagging the S3 bucket {bucket}: {e}")))?;
    let tagging = Tagging::builder()
        .tag_set(tag)
        .build()
        .map_err(|e| CliError::new(format!("tagging the S3 bucket {bucket}: {e}")))?;
    s3.put_bucket_tagging().bucket(bucket).tagging(tagging).send().await.map_err(|e| {
        CliError::new(format!("cannot tag the S3 bucket {bucket} as made by infra up: {}", DisplayErrorContext(&e)))
    })?;
    Ok(())
}

/// The deployment name `infra up` tagged `bucket` with, if it made it.
pub(crate) async fn created_for(s3: &aws_sdk_s3::Client, bucket: &str) -> Option<String> {
    match s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(tags) => tags.tag_set().iter().find(|t| t.key() == CREATED_BY_TAG).map(|t| t.value().to_owned()),
        Err(e) => {
            // NoSuchTagSet: no tags at all.
            tracing::debug!("tags of the S3 bucket {bucket}: {} {}", e.code().unwrap_or(""), DisplayErrorContext(&e));
            None
        }
    }
}

/// Deletes every object of `bucket`, then the bucket.
///
/// # Errors
/// A call failed.
pub(crate) async fn delete_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> CliResult<usize> {
    let failed =
        |what: &str, e: &dyn std::fmt::Display| CliError::new(format!("{what} of the S3 bucket {bucket}: {e}"));
    let mut deleted = 0;
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failed("listing the objects", &DisplayErrorContext(&e)))?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
    }
    for key in keys {
        s3.delete_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| failed(&format!("deleting the object {key}"), &DisplayErrorContext(&e)))?;
        deleted += 1;
    }
    s3.delete_bucket().bucket(bucket).send().await.map_err(|e| failed("deletion", &DisplayErrorContext(&e)))?;
    Ok(deleted)
}

/// `bucket` for `status`: whether it exists, its objects (from the first 1 000) and
/// who made it. Never fails: a denial is reported on the line.
pub(crate) async fn bucket_report(s3: &aws_sdk_s3::Client, bucket: &str) -> String {
    match bucket_state(s3, bucket).await {
        Ok(true) => {}
        Ok(false) => return format!("s3 bucket {bucket}\n  does not exist (large messages through it fail)\n"),
        Err(BucketError::Denied(detail) | BucketError::Other(detail)) => {
            return format!("s3 bucket {bucket}\n  cannot be read: {detail}\n");
        }
    }
    let objects = match s3.list_objects_v2().bucket(bucket).send().await {
        Ok(page) => {
            let bytes: i64 = page.contents().iter().filter_map(aws_sdk_s3::types::Object::size).sum();
            let more = if page.is_truncated() == Some(true) { "+" } else { "" };
            format!("{}{more} objects, {bytes}{more} bytes", page.contents().len())
        }
        Err(e) => format!("cannot be listed: {}", DisplayErrorContext(&e)),
    };
    let made = match created_for(s3, bucket).await {
        Some(name) => format!("made by `infra up --name {name}`"),
        None => "not made by `infra up` (infra down keeps it)".to_owned(),
    };
    format!("s3 bucket {bucket}\n  objects       {objects}\n  created       {made}\n")
}
