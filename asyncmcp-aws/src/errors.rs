//! SDK errors as [`OpFailure`]s: a [`FailureKind`] and a message that names the queue
//! or topic and says what to check.
//!
//! The decision is a pure function of the error code, the HTTP status and the message
//! ([`classify`]); [`from_sdk`] only pulls those out of the SDK's error and adds the
//! transport-level cases (timeouts, connection failures, credentials).

use std::error::Error as StdError;
use std::fmt;

use asyncmcp_proto::{FailureKind, OpFailure};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// What a failed call was aimed at: the IAM action and the queue URL or topic ARN.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The IAM action, such as `sqs:SendMessage`.
    pub(crate) action: &'static str,
    /// The queue URL, topic ARN or name the call was about.
    pub(crate) resource: Resource<'a>,
}

/// The resource a call was about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resource<'a> {
    /// A queue URL (or a queue name for `CreateQueue` / `GetQueueUrl`).
    Queue(&'a str),
    /// A topic ARN (or a topic name for `CreateTopic`).
    Topic(&'a str),
    /// A DynamoDB table name (the task store).
    #[cfg_attr(not(feature = "dynamodb"), allow(dead_code))]
    Table(&'a str),
    /// An S3 object, as `s3://bucket/key` (S3 offload).
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    Object(&'a str),
}

impl<'a> Call<'a> {
    pub(crate) fn queue(action: &'static str, url: &'a str) -> Self {
        Self { action, resource: Resource::Queue(url) }
    }

    pub(crate) fn topic(action: &'static str, arn: &'a str) -> Self {
        Self { action, resource: Resource::Topic(arn) }
    }

    #[cfg_attr(not(feature = "dynamodb"), allow(dead_code))]
    pub(crate) fn table(action: &'static str, name: &'a str) -> Self {
        Self { action, resource: Resource::Table(name) }
    }

    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub(crate) fn object(action: &'static str, url: &'a str) -> Self {
        Self { action, resource: Resource::Object(url) }
    }
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Queue(url) => write!(f, "queue {url}"),
            Resource::Topic(arn) => write!(f, "topic {arn}"),
            Resource::Table(name) => write!(f, "table {name}"),
            Resource::Object(url) => write!(f, "object {url}"),
        }
    }
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "Throttled",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
    "KMSThrottling",
    "KMSThrottlingException",
    "KmsThrottled",
    "OverLimit",
    "AWS.SimpleQueueService.OverLimit",
];

const TRANSIENT: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "ConcurrentAccess",
    "QueueDeletedRecently",
    "AWS.SimpleQueueService.QueueDeletedRecently",
];

const NOT_FOUND: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NonExistentQueue",
    "NotFound",
    "NotFoundException",
    "ResourceNotFoundException",
    "NoSuchKey",
    "NoSuchBucket",
];

const BAD_CREDENTIALS: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSecurity",
    "AWS.SimpleQueueService.InvalidSecurity",
];

const STALE_RECEIPT: &[&str] = &[
    "ReceiptHandleIsInvalid",
    "InvalidReceiptHandle",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
];

const TOO_LARGE: &[&str] = &["BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong"];

/// Classifies a service error by its code, HTTP status and message.
///
/// Codes come in three spellings for SQS (the query-compatible
/// `AWS.SimpleQueueService.NonExistentQueue`, the JSON shape `QueueDoesNotExist`, and
/// moto's), so lists hold all of them; an unknown code falls back on the status.
pub(crate) fn classify(code: Option<&str>, status: Option<u16>, message: &str) -> FailureKind {
    let code = code.unwrap_or("");
    let is = |list: &[&str]| list.contains(&code);
    let lower = message.to_ascii_lowercase();
    if is(THROTTLING) || code.contains("Throttl") || status == Some(429) {
        FailureKind::Throttled
    } else if is(NOT_FOUND) {
        FailureKind::NotFound
    } else if is(BAD_CREDENTIALS) {
        FailureKind::BadCredentials
    } else if code.starts_with("AccessDenied")
        || code == "AuthorizationError"
        || code.starts_with("KMSAccessDenied")
        || code.starts_with("KmsAccessDenied")
    {
        FailureKind::AccessDenied
    } else if is(STALE_RECEIPT) {
        FailureKind::StaleReceipt
    } else if is(TOO_LARGE)
        || lower.contains("too long")
        || lower.contains("too large")
        || lower.contains("must be shorter than")
        || lower.contains("exceeds the maximum")
    {
        FailureKind::TooLarge
    } else if is(TRANSIENT) || status.is_some_and(|s| s >= 500) {
        FailureKind::Transient
    } else if code.starts_with("InvalidParameter")
        || code.starts_with("InvalidAttribute")
        || code.contains("InvalidMessageContents")
        || code.starts_with("MissingParameter")
        || code == "ValidationException"
        || code == "ValidationError"
        || code == "MalformedQueryString"
    {
        FailureKind::Invalid
    } else if status == Some(403) {
        FailureKind::AccessDenied
    } else {
        FailureKind::Other
    }
}

/// Describes a classified failure: what happened and what to check.
pub(crate) fn describe(kind: FailureKind, call: Call<'_>, code: Option<&str>, message: &str) -> OpFailure {
    let Call { action, resource } = call;
    let code = code.unwrap_or("no error code");
    let said = if message.is_empty() { String::new() } else { format!(": {message}") };
    let detail = match kind {
        FailureKind::Throttled => format!(
            "{action} on {resource} was throttled ({code}{said}): retry later; if it persists, lower the request rate or raise the account's quotas"
        ),
        FailureKind::Transient => {
            format!("{action} on {resource} failed on the service side ({code}{said}): retry later")
        }
        FailureKind::NotFound if matches!(resource, Resource::Object(_)) => format!(
            "{resource} does not exist ({action}, {code}): check that the bucket exists in this account and region, \
             and whether a consumer deleted the object or a lifecycle rule expired it"
        ),
        FailureKind::NotFound => format!(
            "{resource} does not exist ({action}, {code}): create it with `asyncmcp infra up` or check the region and account"
        ),
        FailureKind::AccessDenied => format!(
            "access denied for {action} on {resource} ({code}{said}): check the IAM policy of these credentials, the {} policy and, for encrypted ones, the KMS key policy",
            match resource {
                Resource::Queue(_) => "queue",
                Resource::Topic(_) => "topic",
                Resource::Table(_) => "table",
                Resource::Object(_) => "bucket",
            }
        ),
        FailureKind::BadCredentials => format!(
            "the credentials were rejected for {action} on {resource} ({code}{said}): check AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, that they are current, and the region"
        ),
        FailureKind::StaleReceipt => format!(
            "{action} on {resource}: the receipt handle is no longer valid ({code}{said}): the message was already deleted or received again"
        ),
        FailureKind::TooLarge => format!(
            "{action} on {resource}: the message is too large ({code}{said}): SQS takes at most 1 MiB (256 KiB unless the queue allows more) and SNS 256 KiB, attributes included; lower the configured size limit"
        ),
        FailureKind::Invalid => format!(
            "{action} on {resource} was refused ({code}{said}): check the parameters (FIFO queues and topics need a group id and a deduplication id, or content-based deduplication)"
        ),
        // The service names no timeout or connection failure: those come from the
        // transport (`from_sdk`); `Other` and any kind added later read the same.
        _ => format!("{action} on {resource} failed ({code}{said})"),
    };
    OpFailure::new(kind, detail)
}

/// Maps a whole-call SDK error (SQS or SNS) to an [`OpFailure`].
pub(crate) fn from_sdk<E>(err: &SdkError<E, HttpResponse>, call: Call<'_>) -> OpFailure
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let Call { action, resource } = call;
    // The SDK's whole error (a debug dump of every layer) is for RUST_LOG=debug; the
    // failure itself carries one line: what happened, the innermost cause, the fix.
    tracing::debug!(action, %resource, error = %DisplayErrorContext(err), "AWS call failed");
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let e = ctx.err();
            let message = e.message().unwrap_or("");
            describe(classify(e.code(), Some(status), message), call, e.code(), message)
        }
        SdkError::TimeoutError(_) => OpFailure::new(
            FailureKind::TimedOut,
            format!("{action} on {resource} timed out: retry later; check the network path to the endpoint"),
        ),
        SdkError::DispatchFailure(failure) => {
            if let Some(creds) = find_source::<CredentialsError>(err) {
                return credentials_failure(creds, call);
            }
            let context = innermost(err);
            if failure.is_user() {
                OpFailure::new(FailureKind::Invalid, format!("{action} on {resource} could not be sent: {context}"))
            } else {
                OpFailure::new(
                    FailureKind::Unreachable,
                    format!(
                        "{action} on {resource} could not reach the service: {context}: check the network, the endpoint URL and the region"
                    ),
                )
            }
        }
        SdkError::ResponseError(ctx) => {
            let status = ctx.raw().status().as_u16();
            OpFailure::new(
                FailureKind::Transient,
                format!("{action} on {resource}: unreadable response (HTTP {status}): {}", innermost(err)),
            )
        }
        SdkError::ConstructionFailure(_) => {
            if let Some(creds) = find_source::<CredentialsError>(err) {
                return credentials_failure(creds, call);
            }
            OpFailure::new(
                FailureKind::Invalid,
                format!("{action} on {resource}: the request could not be built: {}", innermost(err)),
            )
        }
        // `SdkError` is non-exhaustive.
        _ => OpFailure::new(FailureKind::Transient, format!("{action} on {resource} failed: {}", innermost(err))),
    }
}

/// A failure to load credentials: only a provider timeout may go away by itself.
fn credentials_failure(err: &CredentialsError, call: Call<'_>) -> OpFailure {
    let Call { action, resource } = call;
    let detail = format!(
        "{action} on {resource}: no usable AWS credentials ({}): check AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the SSO session or the instance role",
        innermost(err)
    );
    let kind = match err {
        CredentialsError::ProviderTimedOut(_) => FailureKind::TimedOut,
        _ => FailureKind::BadCredentials,
    };
    OpFailure::new(kind, detail)
}

/// The innermost cause of `err`, in words ("Connection refused (os error 111)", "no
/// providers in chain provided credentials"), on one line: the layers above it only
/// say which layer passed it on.
fn innermost(err: &(dyn StdError + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let text = cause.to_string();
    let line = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    if line.is_empty() { err.to_string() } else { line }
}

/// The first error of type `T` in `err`'s source chain.
fn find_source<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// Maps one failed entry of a batch call. The code picks the kind and the message;
/// where the service's `SenderFault` disagrees with the kind on retrying, the service
/// wins: a sender fault is not retried ([`FailureKind::Other`] for a code that would
/// be), and a failure not the sender's is ([`FailureKind::Transient`]).
pub(crate) fn from_batch_entry(code: &str, message: Option<&str>, sender_fault: bool, call: Call<'_>) -> OpFailure {
    let message = message.unwrap_or("");
    let mut kind = classify(Some(code), None, message);
    if sender_fault && kind.is_retryable() {
        kind = FailureKind::Other;
    } else if !sender_fault && !kind.is_retryable() {
        kind = FailureKind::Transient;
    }
    describe(kind, call, Some(code), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/requests";
    const ARN: &str = "arn:aws:sns:us-east-1:123456789012:replies";

    fn queue_failure(code: &str, status: u16, message: &str) -> OpFailure {
        describe(classify(Some(code), Some(status), message), Call::queue("sqs:SendMessage", URL), Some(code), message)
    }

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        for (code, status) in [
            ("Throttling", 400),
            ("ThrottlingException", 400),
            ("RequestThrottled", 403),
            ("KMSThrottling", 400),
            ("KmsThrottled", 400),
            ("Throttled", 400),
            ("SomethingNew", 429),
            ("InternalError", 500),
            ("ServiceUnavailable", 503),
            ("Unknown", 502),
        ] {
            let failure = queue_failure(code, status, "");
            assert!(failure.is_retryable(), "{code} {status}: {failure}");
            assert!(failure.detail.contains(URL), "{}", failure.detail);
        }
    }

    #[test]
    fn missing_queue_names_the_url_and_the_fix() {
        for code in ["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"] {
            let failure = queue_failure(code, 400, "The specified queue does not exist.");
            assert_eq!(failure.kind, FailureKind::NotFound);
            assert!(failure.detail.contains(&format!("queue {URL} does not exist")), "{}", failure.detail);
            assert!(failure.detail.contains("`asyncmcp infra up`"), "{}", failure.detail);
        }
    }

    #[test]
    fn missing_topic_names_the_arn() {
        let failure = describe(
            classify(Some("NotFound"), Some(404), "Topic does not exist"),
            Call::topic("sns:Publish", ARN),
            Some("NotFound"),
            "Topic does not exist",
        );
        assert_eq!(failure.kind, FailureKind::NotFound);
        assert!(failure.detail.starts_with(&format!("topic {ARN} does not exist")), "{}", failure.detail);
        assert!(failure.detail.contains("asyncmcp infra up"));
    }

    #[test]
    fn access_denied_names_the_action_and_the_policy() {
        for (code, status) in [("AccessDenied", 403), ("AccessDeniedException", 400), ("AuthorizationError", 403)] {
            let failure = queue_failure(code, status, "not authorized");
            assert_eq!(failure.kind, FailureKind::AccessDenied);
            assert!(failure.detail.starts_with(&format!("access denied for sqs:SendMessage on queue {URL}")));
            assert!(failure.detail.contains("IAM policy"));
        }
        // An unknown code with 403 is still a denial, not a retry.
        assert_eq!(queue_failure("Weird", 403, "").kind, FailureKind::AccessDenied);
    }

    #[test]
    fn client_errors_are_fatal() {
        for (code, class) in [
            ("InvalidParameterValue", FailureKind::Invalid),
            ("InvalidParameter", FailureKind::Invalid),
            ("InvalidMessageContents", FailureKind::Invalid),
            ("AWS.SimpleQueueService.InvalidMessageContents", FailureKind::Invalid),
            ("MissingParameter", FailureKind::Invalid),
            ("ReceiptHandleIsInvalid", FailureKind::StaleReceipt),
            ("InvalidClientTokenId", FailureKind::BadCredentials),
            ("SignatureDoesNotMatch", FailureKind::BadCredentials),
            ("BatchRequestTooLong", FailureKind::TooLarge),
            ("Mystery", FailureKind::Other),
        ] {
            assert_eq!(classify(Some(code), Some(400), ""), class, "{code}");
            assert!(!class.is_retryable());
        }
    }

    #[test]
    fn too_large_is_found_in_the_message() {
        let failure = queue_failure(
            "InvalidParameterValue",
            400,
            "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.",
        );
        assert_eq!(failure.kind, FailureKind::TooLarge);
        assert!(failure.detail.contains("too large"), "{}", failure.detail);
        assert_eq!(
            classify(Some("InvalidParameter"), Some(400), "Invalid parameter: Message too long"),
            FailureKind::TooLarge
        );
    }

    #[test]
    fn batch_entries_follow_sender_fault() {
        let call = Call::queue("sqs:DeleteMessageBatch", URL);
        let stale = from_batch_entry("ReceiptHandleIsInvalid", Some("bad handle"), true, call);
        assert_eq!(stale.kind, FailureKind::StaleReceipt);
        assert!(stale.detail.contains("no longer valid") && stale.detail.contains(URL));
        let internal = from_batch_entry("InternalError", None, false, call);
        assert_eq!(internal.kind, FailureKind::Transient);
        // The service's SenderFault decides retrying where the code would not.
        assert!(!from_batch_entry("Throttling", None, true, call).is_retryable());
        assert!(from_batch_entry("Mystery", None, false, call).is_retryable());
    }

    #[test]
    fn timeouts_and_dispatch_failures_are_retryable() {
        use aws_sdk_sqs::error::ConnectorError;
        use aws_sdk_sqs::operation::send_message::SendMessageError;

        let call = Call::queue("sqs:SendMessage", URL);
        let timeout: SdkError<SendMessageError, HttpResponse> = SdkError::timeout_error("took too long");
        assert_eq!(from_sdk(&timeout, call).kind, FailureKind::TimedOut);
        let io: SdkError<SendMessageError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(std::io::Error::other("connection refused"))));
        let failure = from_sdk(&io, call);
        assert_eq!(failure.kind, FailureKind::Unreachable);
        assert!(failure.detail.contains("connection refused") && failure.detail.contains(URL), "{}", failure.detail);
        assert!(!failure.detail.contains("ConnectorError") && !failure.detail.contains('\n'), "{}", failure.detail);
        let user: SdkError<SendMessageError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::user(Box::new(std::io::Error::other("bad URI"))));
        assert_eq!(from_sdk(&user, call).kind, FailureKind::Invalid);
        let built: SdkError<SendMessageError, HttpResponse> = SdkError::construction_failure("missing field");
        assert_eq!(from_sdk(&built, call).kind, FailureKind::Invalid);
    }

    #[test]
    fn service_errors_use_code_and_status() {
        use aws_sdk_sqs::error::ErrorMetadata;
        use aws_sdk_sqs::operation::send_message::SendMessageError;
        use aws_sdk_sqs::types::error::QueueDoesNotExist;

        let call = Call::queue("sqs:SendMessage", URL);
        let meta = ErrorMetadata::builder().code("AWS.SimpleQueueService.NonExistentQueue").message("gone").build();
        let err = SendMessageError::QueueDoesNotExist(QueueDoesNotExist::builder().message("gone").meta(meta).build());
        let status = 400u16.try_into().expect("a valid status");
        let raw = HttpResponse::new(status, aws_smithy_types::body::SdkBody::empty());
        let sdk: SdkError<SendMessageError, HttpResponse> = SdkError::service_error(err, raw);
        let failure = from_sdk(&sdk, call);
        assert_eq!(failure.kind, FailureKind::NotFound);
        assert!(failure.detail.contains("asyncmcp infra up"));
    }
}
