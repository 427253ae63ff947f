//! S3 offload through the real driver over `MemoryQueue` and its in-memory object
//! store, in paused (virtual) time: large requests and results travel as pointers,
//! objects are deleted with their messages when so configured, and a send with a
//! payload fails when no store is there to take it.

use std::time::Duration;

use asyncmcp_proto::offload::{OffloadConfig, S3Pointer};
use asyncmcp_proto::sim::Faults;
use asyncmcp_proto::{Era, SharedConfig};
use asyncmcp_tests::adapter::{Rig, Transport};
use asyncmcp_tokio::TokioRuntime;

fn offload(common: &mut SharedConfig) {
    common.offload = Some(OffloadConfig::new("bucket"));
    common.peer_takes_fragments = true;
}

fn echo(text: &str) -> serde_json::Value {
    serde_json::json!({"name": "echo", "arguments": {"text": text}})
}

async fn big_echo(transport: Transport, delete_on_consume: bool) -> Vec<S3Pointer> {
    let rig = Rig::new(TokioRuntime::current(), transport, Faults::default(), Duration::from_secs(30));
    rig.queue.enable_object_store(delete_on_consume);
    let (server, _seen) = rig.echo_server_with(Duration::ZERO, |c| offload(&mut c.common));
    let mut config = rig.client_config(Era::Modern);
    offload(&mut config.common);
    let (client, _events) = rig.client(config);
    let text = "z".repeat(2 * 1024 * 1024);

    let answer = client.call("tools/call", Some(echo(&text))).await.expect("answered");

    assert_eq!(answer.to_value()["result"]["content"][0]["text"].as_str(), Some(text.as_str()));
    let (c, s) = (client.stats(), server.stats());
    assert_eq!((c.s3_puts, c.s3_gets), (2, 2), "the store's calls, seen by both drivers: {c:?}");
    assert_eq!((s.s3_puts, s.s3_gets), (2, 2), "{s:?}");
    // Only pointers crossed the broker: a 2 MiB message would bill 32 units.
    assert!(c.billed_units < 10, "{c:?}");
    client.shutdown(Duration::from_secs(5)).await;
    server.shutdown(Duration::from_secs(5)).await;
    rig.queue.objects()
}

#[tokio::test(start_paused = true)]
async fn sqs_objects_are_deleted_with_their_messages() {
    assert_eq!(big_echo(Transport::Sqs, true).await, vec![]);
}

#[tokio::test(start_paused = true)]
async fn sns_sqs_envelope_objects_are_kept_unless_configured() {
    let kept = big_echo(Transport::SnsSqs(false), false).await;
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.iter().all(|p| p.bucket == "bucket"));
}

#[tokio::test(start_paused = true)]
async fn sns_sqs_raw_objects_are_deleted_with_their_messages() {
    assert_eq!(big_echo(Transport::SnsSqs(true), true).await, vec![]);
}

#[tokio::test(start_paused = true)]
async fn without_a_store_the_large_request_fails_with_the_reason() {
    let rig = Rig::new(TokioRuntime::current(), Transport::Sqs, Faults::default(), Duration::from_secs(30));
    let mut config = rig.client_config(Era::Modern);
    offload(&mut config.common);
    let (client, _events) = rig.client(config);

    let failed = client.call("tools/call", Some(echo(&"z".repeat(300_000)))).await.expect_err("no store");

    assert!(failed.to_string().contains("object store"), "{failed}");
}

#[test]
fn batches_count_the_pointer_not_the_payload() {
    use asyncmcp_proto::offload::S3Put;
    use asyncmcp_proto::{Address, OpId, OpKind, QueueOp, SendOp};
    let pointer = S3Pointer { bucket: "bucket".into(), key: "k".into() };
    let body = bytes::Bytes::from(pointer.to_body());
    let op = QueueOp {
        id: OpId(1),
        kind: OpKind::Send(SendOp {
            to: Address::parse("https://sqs.us-east-1.amazonaws.com/123456789012/q"),
            body: body.clone(),
            attributes: Default::default(),
            group_id: None,
            dedup_id: None,
            offload: Some(S3Put { pointer, payload: bytes::Bytes::from(vec![b'x'; 5 * 1024 * 1024]) }),
        }),
    };

    assert_eq!(asyncmcp_driver::batch_bytes(&op), body.len());
}
