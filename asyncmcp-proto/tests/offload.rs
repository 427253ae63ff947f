//! S3 offload: the pointer format of AWS's extended client libraries, the order of
//! choices above the size budget (inline, S3 pointer, fragments, sized error), and
//! what the core does with a pointer nobody resolved.

use std::time::Instant;

use asyncmcp_proto::attributes::AttributeValue;
use asyncmcp_proto::codec::{Ext, encoded_size};
use asyncmcp_proto::offload::{
    self, FetchFailure, InboundOffload, OffloadConfig, S3Pointer, SIZE_ATTRIBUTE, find_pointer, resolved, unresolved,
};
use asyncmcp_proto::{
    Address, AllowList, ApiError, Client, ClientConfig, DecodeError, Era, InboundMessage, JsonRpcMessage, OpKind,
    QueueOutcome, RejectReason, Rejection, RequestId, SendOp, Server, ServerConfig, ServerEvent, Unsendable,
};
use bytes::Bytes;
use proptest::prelude::*;

const SERVER: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/requests";
const REPLIES: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/replies";

/// What the Java libraries write (Jackson, compact), byte for byte.
const JAVA_POINTER: &str =
    r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"my-bucket","s3Key":"p/0b1c"}]"#;
/// What the Python library writes (`json.dumps`, default separators).
const PYTHON_POINTER: &str =
    r#"["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "my-bucket", "s3Key": "p/0b1c"}]"#;

fn pointer() -> S3Pointer {
    S3Pointer { bucket: "my-bucket".into(), key: "p/0b1c".into() }
}

#[test]
fn the_pointer_is_written_as_the_java_libraries_write_it() {
    assert_eq!(pointer().to_body(), JAVA_POINTER);
}

#[test]
fn pointers_of_every_library_are_read() {
    let legacy = JAVA_POINTER.replace(offload::POINTER_CLASS, offload::LEGACY_POINTER_CLASS);
    let reordered = r#"[ "software.amazon.payloadoffloading.PayloadS3Pointer" , {"s3Key":"p/0b1c","x":1,"s3BucketName":"my-bucket"} ]"#;
    for body in [JAVA_POINTER, PYTHON_POINTER, &legacy, reordered] {
        assert_eq!(S3Pointer::parse(body.as_bytes()), Some(pointer()), "{body}");
    }
}

#[test]
fn what_is_not_a_pointer_is_refused() {
    let refused = [
        "",
        "[]",
        "{}",
        r#"["software.amazon.payloadoffloading.PayloadS3Pointer"]"#,
        r#"["other.Class",{"s3BucketName":"b","s3Key":"k"}]"#,
        r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b"}]"#,
        r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":1,"s3Key":"k"}]"#,
        r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"","s3Key":"k"}]"#,
        r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k"},3]"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    ];
    for body in refused {
        assert_eq!(S3Pointer::parse(body.as_bytes()), None, "{body}");
    }
}

#[test]
fn receipt_handles_carry_the_pointer_as_the_libraries_embed_it() {
    let handle = pointer().embed_in_receipt_handle("AQEBzbVv+Q==");
    assert_eq!(handle, "-..s3BucketName..-my-bucket-..s3BucketName..--..s3Key..-p/0b1c-..s3Key..-AQEBzbVv+Q==");
    assert_eq!(S3Pointer::split_receipt_handle(&handle), (Some(pointer()), "AQEBzbVv+Q=="));
    // A plain handle, or one with a single marker, is returned whole.
    assert_eq!(S3Pointer::split_receipt_handle("AQEB-xyz"), (None, "AQEB-xyz"));
    assert_eq!(S3Pointer::split_receipt_handle("-..s3Key..-k-..s3Key..-h"), (None, "-..s3Key..-k-..s3Key..-h"));
}

proptest! {
    #[test]
    fn hostile_pointer_bodies_and_handles_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200), handle in ".{0,80}") {
        let _ = S3Pointer::parse(&body);
        let (found, original) = S3Pointer::split_receipt_handle(&handle);
        prop_assert!(handle.ends_with(original));
        if let Some(p) = found {
            // What was split can be embedded again.
            prop_assert_eq!(p.embed_in_receipt_handle(original), handle.get(handle.find("-..s3BucketName..-").unwrap()..).unwrap());
        }
        let mut msg = InboundMessage::new("m", "r", body);
        msg.attributes.insert(SIZE_ATTRIBUTE.into(), AttributeValue::number(5));
        let found = find_pointer(&msg);
        prop_assert!(found.is_some());
    }

    #[test]
    fn bucket_and_key_round_trip_through_body_and_handle(bucket in "[a-z0-9.-]{3,20}", key in "[ -~]{1,60}", handle in "[A-Za-z0-9+/=]{1,40}") {
        let p = S3Pointer { bucket, key };
        prop_assert_eq!(S3Pointer::parse(p.to_body().as_bytes()), Some(p.clone()));
        let embedded = p.embed_in_receipt_handle(&handle);
        let (found, original) = S3Pointer::split_receipt_handle(&embedded);
        prop_assert_eq!(original, handle.as_str());
        // A key holding a marker cannot round trip (the libraries' format has no
        // escaping); any other key does.
        if !p.key.contains("-..s3Key..-") && !p.bucket.contains("-..s3BucketName..-") {
            prop_assert_eq!(found, Some(p));
        }
    }
}

/// Text of `len` bytes (ASCII) inside a request.
fn request(len: usize) -> JsonRpcMessage {
    JsonRpcMessage::request(
        RequestId::Number(1),
        "tools/call",
        Some(serde_json::json!({"name": "echo", "arguments": {"text": "x".repeat(len)}})),
    )
}

fn client(budget: usize, offload: Option<OffloadConfig>, fragments: bool) -> (Client, Instant) {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut config = ClientConfig::new(Address::parse(SERVER), Address::parse(REPLIES), REPLIES, "client-1");
    config.era = Era::Modern;
    config.common.limits.max_bytes = budget;
    // The destination reported no limit of its own: the budget is exactly `budget`.
    config.common.fallback_max_bytes = budget;
    config.common.offload = offload;
    config.common.peer_takes_fragments = fragments;
    (Client::new(config, now, [3; 32]).unwrap(), now)
}

fn sends(client: &mut Client) -> Vec<SendOp> {
    std::iter::from_fn(|| client.poll_op())
        .filter_map(|op| match op.kind {
            OpKind::Send(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn a_message_over_the_budget_goes_to_s3_as_one_pointer_message() {
    let mut config = OffloadConfig::new("my-bucket");
    config.key_prefix = "mcp/".into();
    let (mut client, now) = client(262_144, Some(config), true);
    let message = request(5 * 1024 * 1024);

    client.submit(message.clone(), now).unwrap();

    let sends = sends(&mut client);
    assert_eq!(sends.len(), 1, "one pointer message, no fragments");
    let put = sends[0].offload.as_ref().expect("an S3 put");
    assert_eq!(put.pointer.bucket, "my-bucket");
    let uuid = put.pointer.key.strip_prefix("mcp/").expect("the prefix");
    assert_eq!(uuid.len(), 36);
    assert_eq!(uuid.as_bytes()[14], b'4', "a version 4 UUID: {uuid}");
    assert_eq!(put.payload, message.body().clone());
    assert_eq!(sends[0].body, Bytes::from(put.pointer.to_body()));
    assert_eq!(sends[0].attributes[SIZE_ATTRIBUTE], AttributeValue::number(message.body().len()));
    assert_eq!(sends[0].attributes["MessageType"], AttributeValue::string("jsonrpc"));
    assert!(encoded_size(&sends[0].body, &sends[0].attributes, false) < 2_000);
}

#[test]
fn a_bad_key_prefix_is_refused_at_construction() {
    let mut config = ClientConfig::new(Address::parse(SERVER), Address::parse(REPLIES), REPLIES, "client-1");
    let mut offload = OffloadConfig::new("b");
    offload.key_prefix = "../etc".into();
    config.common.offload = Some(offload);
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    assert!(Client::new(config, now, [0; 32]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Around the threshold and the budget, a message ends as inline, one S3 pointer,
    /// fragments or a sized error, in that order of preference, and never as a send
    /// over the budget.
    #[test]
    fn every_size_ends_inline_in_s3_in_fragments_or_as_a_sized_error(
        budget in prop_oneof![Just(65_536usize), Just(262_144), 20_000usize..300_000],
        threshold in prop_oneof![Just(262_144usize), Just(1_000), 10_000usize..300_000],
        delta in 0usize..4_000,
        around_budget in any::<bool>(),
        offloads in any::<bool>(),
        fragments in any::<bool>(),
    ) {
        let config = offloads.then(|| {
            let mut c = OffloadConfig::new("b");
            c.threshold = threshold;
            c
        });
        let (mut client, now) = client(budget, config, fragments);
        let pivot = if around_budget || !offloads { budget } else { threshold.min(budget) };
        let message = request((pivot + delta).saturating_sub(2_000));
        let result = client.submit(message.clone(), now);
        let sends = sends(&mut client);
        let inline_size = encoded_size(message.body(), &sends.first().map(|s| s.attributes.clone()).unwrap_or_default(), false);
        for s in &sends {
            prop_assert!(encoded_size(&s.body, &s.attributes, false) <= budget, "a send over the budget");
        }
        match (result, sends.as_slice()) {
            (Err(ApiError::Unsendable(Unsendable::TooLarge { size, limit })), []) => {
                prop_assert!(!offloads && !fragments);
                prop_assert!(size > limit && limit == budget);
            }
            (Ok(()), [one]) if one.offload.is_some() => {
                prop_assert!(offloads);
                prop_assert_eq!(&one.offload.as_ref().unwrap().payload, message.body());
            }
            (Ok(()), [one]) if Ext::parse(&one.attributes.get("AsyncMcpExt").map(|a| a.value.clone()).unwrap_or_default()).map(|e| e.fragment.is_none()).unwrap_or(true) => {
                let cap = if offloads { threshold.min(budget) } else { budget };
                prop_assert!(inline_size <= cap, "inline at {inline_size} above {cap}");
            }
            (Ok(()), many) => {
                prop_assert!(!offloads && fragments, "fragments although S3 was configured");
                prop_assert!(!many.is_empty());
            }
            (other, s) => prop_assert!(false, "unexpected {other:?} with {} sends", s.len()),
        }
    }
}

fn server() -> (Server, Instant) {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let config = ServerConfig::new(SERVER, AllowList::new().exact(REPLIES));
    (Server::new(config, now, [9; 32]).unwrap(), now)
}

fn pointer_message() -> InboundMessage {
    let mut msg = InboundMessage::new("m-1", "rh-1", JAVA_POINTER);
    msg.attributes.insert(SIZE_ATTRIBUTE.into(), AttributeValue::number(5_242_880));
    msg.attributes.insert("ReplyTo".into(), AttributeValue::string(REPLIES));
    msg
}

fn rejection(server: &mut Server) -> Option<Rejection> {
    std::iter::from_fn(|| server.poll_event()).find_map(|e| match e {
        ServerEvent::Rejected(r) => Some(r),
        _ => None,
    })
}

#[test]
fn a_pointer_nobody_fetched_is_a_typed_rejection_not_a_json_error() {
    let (mut server, now) = server();

    server.handle_inbound(pointer_message(), now);

    let rejected = rejection(&mut server).expect("rejected");
    assert_eq!(
        rejected.reason,
        RejectReason::Decode(DecodeError::Offloaded {
            pointer: "s3://my-bucket/p/0b1c".into(),
            reason: FetchFailure::NotConfigured
        })
    );
    assert_eq!(rejected.fate, QueueOutcome::Deleted);
}

#[test]
fn a_transient_fetch_failure_leaves_the_message_and_a_missing_object_is_disposed_of() {
    let (mut server, now) = server();
    let transient = unresolved(pointer_message(), Some(pointer()), FetchFailure::Transient { detail: "503".into() });

    server.handle_inbound(transient, now);

    let rejected = rejection(&mut server).expect("rejected");
    assert_eq!(rejected.fate, QueueOutcome::LeftForRedelivery);
    let ops: Vec<_> = std::iter::from_fn(|| server.poll_op()).collect();
    assert!(ops.iter().all(|op| !matches!(op.kind, OpKind::Delete { .. })), "{ops:?}");

    let mut gone =
        unresolved(pointer_message(), Some(pointer()), FetchFailure::NotFound { detail: "NoSuchKey".into() });
    gone.message_id = "m-2".into();
    server.handle_inbound(gone, now);
    let rejected = rejection(&mut server).expect("rejected");
    assert!(matches!(
        rejected.reason,
        RejectReason::Decode(DecodeError::Offloaded { reason: FetchFailure::NotFound { .. }, .. })
    ));
    assert_eq!(rejected.fate, QueueOutcome::Deleted);
}

#[test]
fn a_resolved_message_is_the_payload_with_the_pointer_in_its_receipt_handle() {
    let (mut server, now) = server();
    let payload = request(10).body().clone();

    let msg = resolved(pointer_message(), pointer(), payload.clone());

    assert_eq!(msg.body, payload);
    assert!(!msg.attributes.contains_key(SIZE_ATTRIBUTE));
    assert_eq!(S3Pointer::split_receipt_handle(&msg.receipt_handle), (Some(pointer()), "rh-1"));
    assert!(matches!(msg.offload, Some(InboundOffload { failure: None, .. })));
    server.handle_inbound(msg, now);
    let routed = std::iter::from_fn(|| server.poll_event()).any(|e| matches!(e, ServerEvent::Message { .. }));
    assert!(routed);
}

#[test]
fn a_pointer_inside_an_sns_envelope_is_found_and_flattened() {
    let envelope = serde_json::json!({
        "Type": "Notification",
        "MessageId": "69bf3d19-d8ad-49fd-a7f7-3e6f4a6f1648",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "Message": PYTHON_POINTER,
        "MessageAttributes": {
            "ExtendedPayloadSize": {"Type": "Number", "Value": "42"},
            "ReplyTo": {"Type": "String", "Value": REPLIES}
        }
    });
    let msg = InboundMessage::new("m", "rh", envelope.to_string());

    let found = find_pointer(&msg).expect("a pointer");

    assert_eq!((found.pointer, found.declared_size), (Some(pointer()), Some(42)));
    let flat = resolved(msg, pointer(), Bytes::from_static(b"{}"));
    assert_eq!(flat.body, Bytes::from_static(b"{}"));
    assert_eq!(flat.attributes["ReplyTo"], AttributeValue::string(REPLIES));
    assert!(!flat.attributes.contains_key(SIZE_ATTRIBUTE));
}

#[test]
fn a_retried_offloaded_send_puts_the_same_key_again() {
    let (mut client, now) = client(262_144, Some(OffloadConfig::new("b")), false);
    client.submit(request(400_000), now).unwrap();
    let first = client.poll_op().expect("the send");
    let OpKind::Send(sent) = &first.kind else { panic!("{first:?}") };
    let failure = asyncmcp_proto::OpFailure::new(asyncmcp_proto::FailureKind::Throttled, "slow down");

    client.handle_op_result(first.id, asyncmcp_proto::OpResult::Failed(failure), now);
    client.handle_timeout(now + std::time::Duration::from_secs(60));

    let retry = client.poll_op().expect("the retry");
    assert_ne!(retry.id, first.id);
    assert_eq!(retry.kind, first.kind, "same pointer, same key, same payload");
    assert!(sent.offload.is_some());
}
