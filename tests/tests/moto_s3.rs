//! S3 offload on moto: 5 MiB requests and results travel as pointers in the format
//! of AWS's extended client libraries, their payloads in S3, over sqs and sns-sqs
//! (envelope and raw), in both eras; objects are deleted after the consumer deletes
//! the message when so configured, and kept when not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncmcp_aws::{AwsAdmin, AwsQueueClient, S3Offload};
use asyncmcp_driver::{ClientHandle, StatsSnapshot, billed_units};
use asyncmcp_proto::offload::OffloadConfig;
use asyncmcp_proto::{Era, JsonRpcMessage, SharedConfig};
use asyncmcp_tests::adapter::Transport;
use asyncmcp_tests::moto::{Moto, unique_name};
use asyncmcp_tests::moto_rig::MotoRig;
use asyncmcp_tokio::TokioRuntime;

const FIVE_MIB: usize = 5 * 1024 * 1024;

/// A bucket of its own, S3 clients for the test, and queue clients that offload.
struct Offload {
    s3: aws_sdk_s3::Client,
    bucket: String,
    server_queue: Arc<AwsQueueClient>,
    client_queue: Arc<AwsQueueClient>,
}

impl Offload {
    async fn new(delete_on_consume: bool) -> Self {
        let config = Moto::shared().sdk_config();
        let s3 =
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
        let bucket = unique_name("offload");
        s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
        let queue = || {
            let offload = S3Offload::new(&config).delete_on_consume(delete_on_consume);
            Arc::new(AwsQueueClient::new(&config).with_s3_offload(offload))
        };
        Self { s3, bucket, server_queue: queue(), client_queue: queue() }
    }

    /// S3 offload to this test's bucket, for messages above 256 KiB.
    fn configure(&self, common: &mut SharedConfig) {
        let mut offload = OffloadConfig::new(self.bucket.clone());
        offload.key_prefix = "mcp/".into();
        common.offload = Some(offload);
        // Fragments stay possible: S3 must win over them.
        common.peer_takes_fragments = true;
    }

    async fn objects(&self) -> Vec<String> {
        let listed = self.s3.list_objects_v2().bucket(&self.bucket).send().await.expect("list objects");
        listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
    }

    /// Waits (at most 10 s) until the bucket holds `count` objects.
    async fn wait_for_objects(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let objects = self.objects().await;
            if objects.len() == count || Instant::now() > deadline {
                return objects;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn echo(text: &str) -> serde_json::Value {
    serde_json::json!({"name": "echo", "arguments": {"text": text}})
}

fn text_of(answer: &JsonRpcMessage) -> String {
    answer.to_value()["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

async fn open(client: &ClientHandle, era: Era) {
    if era == Era::Legacy {
        let params = serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "s3", "version": "0"}});
        client.call("initialize", Some(params)).await.expect("initialize");
        client.notify("notifications/initialized", None).await.expect("initialized");
    }
}

/// A 5 MiB echo over `transport` in `era`: the request and the result each go
/// through S3 as one pointer message.
async fn five_mib_echo(transport: Transport, era: Era, delete_on_consume: bool) {
    let admin = AwsAdmin::new(&Moto::shared().sdk_config());
    let offload = Offload::new(delete_on_consume).await;
    let rig = MotoRig::create(&admin, transport, Duration::from_secs(30)).await.expect("queues and topics");
    let runtime = TokioRuntime::current();
    let (server, _seen) =
        rig.echo_server_with(runtime.clone(), Arc::clone(&offload.server_queue), Duration::ZERO, |c| {
            offload.configure(&mut c.common)
        });
    let (client, _events) = rig.client_with(runtime, Arc::clone(&offload.client_queue), |c| {
        c.era = era;
        c.request_timeout = Duration::from_secs(60);
        offload.configure(&mut c.common);
    });
    open(&client, era).await;
    let text = "é".repeat(FIVE_MIB / 2);

    let answer = client.call("tools/call", Some(echo(&text))).await.expect("answered");

    assert!(text_of(&answer) == text, "the 5 MiB result came back whole");
    let (sent, received) = (client.stats(), server.stats());
    assert_eq!((sent.s3_puts, sent.s3_gets), (1, 1), "client: one put (request), one get (result): {sent:?}");
    assert_eq!((received.s3_puts, received.s3_gets), (1, 1), "server: one get, one put: {received:?}");
    // The pointers were billed, not the payloads: a 5 MiB message would be 81 units.
    assert!(sent.billed_units < 20 && received.billed_units < 20, "{sent:?} {received:?}");
    client.shutdown(Duration::from_secs(5)).await;
    server.shutdown(Duration::from_secs(5)).await;
    let kept = if delete_on_consume { 0 } else { 2 };
    let objects = offload.wait_for_objects(kept).await;
    assert_eq!(objects.len(), kept, "objects left: {objects:?}");
    assert!(objects.iter().all(|k| k.starts_with("mcp/") && k.len() == 4 + 36), "{objects:?}");
    if delete_on_consume {
        assert_eq!((client.stats().s3_deletes, server.stats().s3_deletes), (1, 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_modern_5_mib_both_ways_objects_deleted_on_consume() {
    five_mib_echo(Transport::Sqs, Era::Modern, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_legacy_5_mib_both_ways_objects_kept() {
    five_mib_echo(Transport::Sqs, Era::Legacy, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_sqs_envelope_modern_5_mib_both_ways() {
    five_mib_echo(Transport::SnsSqs(false), Era::Modern, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_sqs_raw_legacy_5_mib_both_ways() {
    five_mib_echo(Transport::SnsSqs(true), Era::Legacy, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_sqs_envelope_legacy_5_mib_both_ways_objects_kept() {
    five_mib_echo(Transport::SnsSqs(false), Era::Legacy, false).await;
}

/// API calls, billed units and time per round trip of a 5 MiB echo over sqs with
/// S3 (printed for the record; nothing about time is asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_mib_echo_costs_per_round_trip() {
    const ROUNDS: u64 = 3;
    let admin = AwsAdmin::new(&Moto::shared().sdk_config());
    let offload = Offload::new(true).await;
    let rig = MotoRig::create(&admin, Transport::Sqs, Duration::from_secs(30)).await.expect("queues");
    let runtime = TokioRuntime::current();
    let (server, _seen) =
        rig.echo_server_with(runtime.clone(), Arc::clone(&offload.server_queue), Duration::ZERO, |c| {
            offload.configure(&mut c.common)
        });
    let (client, _events) = rig.client_with(runtime, Arc::clone(&offload.client_queue), |c| {
        c.request_timeout = Duration::from_secs(60);
        offload.configure(&mut c.common);
    });
    let text = "x".repeat(FIVE_MIB);
    // One warm-up call: connections and the server's first long poll.
    client.call("tools/call", Some(echo("warm"))).await.expect("warm-up");
    // Let the warm-up's deletes land before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (c0, s0) = (client.stats(), server.stats());
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let answer = client.call("tools/call", Some(echo(&text))).await.expect("answered");
        assert_eq!(text_of(&answer).len(), FIVE_MIB);
    }
    let elapsed = started.elapsed();
    // The last request's and reply's deletes (and their objects') land after the answer.
    let settle = Instant::now() + Duration::from_secs(10);
    while (client.stats().s3_deletes + server.stats().s3_deletes) - (c0.s3_deletes + s0.s3_deletes) < 2 * ROUNDS
        && Instant::now() < settle
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (c1, s1) = (client.stats(), server.stats());
    let per = |f: fn(&StatsSnapshot) -> u64| {
        let total = f(&c1) - f(&c0) + f(&s1) - f(&s0);
        total as f64 / ROUNDS as f64
    };
    println!(
        "5 MiB echo over sqs with S3, per round trip (client + server): \
         SQS calls {:.1} without empty long polls (sends {:.1}, receives {:.1}, deletes {:.1}, visibility {:.1}; \
         empty long polls {:.1}), billed units {:.1} (empty polls included), \
         S3 puts {:.1} gets {:.1} deletes {:.1}, time {:.0} ms; a 5 MiB message inline would bill {} units",
        per(|s| s.total_calls() - s.empty_receives),
        per(|s| s.sends + s.send_batches),
        per(|s| s.receives - s.empty_receives),
        per(|s| s.deletes + s.delete_batches),
        per(|s| s.visibility_changes + s.visibility_batches),
        per(|s| s.empty_receives),
        per(|s| s.billed_units),
        per(|s| s.s3_puts),
        per(|s| s.s3_gets),
        per(|s| s.s3_deletes),
        elapsed.as_secs_f64() * 1000.0 / ROUNDS as f64,
        billed_units(FIVE_MIB),
    );
    assert_eq!(per(|s| s.s3_puts), 2.0, "one put per direction");
    client.shutdown(Duration::from_secs(5)).await;
    server.shutdown(Duration::from_secs(5)).await;

    // The same S3 and SQS work done with the raw SDK in the same run, for a ratio:
    // per round trip two 5 MiB puts and gets, and two pointer-sized messages sent,
    // received and deleted.
    let sqs = aws_sdk_sqs::Client::new(&Moto::shared().sdk_config());
    let payload = bytes::Bytes::from(text.into_bytes());
    let started = Instant::now();
    for round in 0..ROUNDS * 2 {
        let key = format!("raw/{round}");
        let body = aws_sdk_s3::primitives::ByteStream::from(payload.clone());
        offload.s3.put_object().bucket(&offload.bucket).key(&key).body(body).send().await.expect("put");
        let got = offload.s3.get_object().bucket(&offload.bucket).key(&key).send().await.expect("get");
        assert_eq!(got.body.collect().await.expect("read").into_bytes().len(), FIVE_MIB);
        sqs.send_message().queue_url(&rig.requests).message_body("x".repeat(300)).send().await.expect("send");
        let received =
            sqs.receive_message().queue_url(&rig.requests).wait_time_seconds(1).send().await.expect("receive");
        for m in received.messages() {
            let handle = m.receipt_handle().unwrap_or_default();
            sqs.delete_message().queue_url(&rig.requests).receipt_handle(handle).send().await.expect("delete");
        }
    }
    println!(
        "raw SDK, same work per round trip (2 x 5 MiB put+get, 2 x small send+receive+delete): {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0 / ROUNDS as f64
    );
}

/// A payload over the receiver's fetch cap is refused by its declared size, without
/// a `GetObject`, and rejected with the reason; a put into a missing bucket fails the
/// request with the bucket named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_cap_and_missing_bucket_are_reported() {
    use asyncmcp_proto::offload::FetchFailure;
    use asyncmcp_proto::{DecodeError, RejectReason, ServerEvent};
    let config = Moto::shared().sdk_config();
    let admin = AwsAdmin::new(&config);
    let offload = Offload::new(false).await;
    let rig = MotoRig::create(&admin, Transport::Sqs, Duration::from_secs(30)).await.expect("queues");
    let capped =
        Arc::new(AwsQueueClient::new(&config).with_s3_offload(S3Offload::new(&config).max_fetch_bytes(1024 * 1024)));
    let (server, seen) = rig.echo_server_with(TokioRuntime::current(), Arc::clone(&capped), Duration::ZERO, |c| {
        offload.configure(&mut c.common)
    });
    let (client, _events) = rig.client_with(TokioRuntime::current(), Arc::clone(&offload.client_queue), |c| {
        c.request_timeout = Duration::from_secs(3);
        offload.configure(&mut c.common);
    });

    let unanswered = client.call("tools/call", Some(echo(&"x".repeat(2 * 1024 * 1024)))).await;

    assert!(unanswered.is_err(), "the server could not read it");
    let rejected = seen.lock().unwrap().events.iter().find_map(|e| match e {
        ServerEvent::Rejected(r) => Some(r.reason.clone()),
        _ => None,
    });
    assert!(
        matches!(
            rejected,
            Some(RejectReason::Decode(DecodeError::Offloaded {
                reason: FetchFailure::TooLarge { cap: 1_048_576, .. },
                ..
            }))
        ),
        "{rejected:?}"
    );
    assert_eq!(server.stats().s3_gets, 0, "refused by its declared size");

    let (lost, _events) = rig.client_with(TokioRuntime::current(), Arc::clone(&offload.client_queue), |c| {
        c.common.offload = Some(OffloadConfig::new(unique_name("no-such-bucket")));
    });
    let failed = lost.call("tools/call", Some(echo(&"x".repeat(300_000)))).await.expect_err("no bucket");
    assert!(failed.to_string().contains("no-such-bucket"), "{failed}");
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
}
