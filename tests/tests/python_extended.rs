//! Interop with AWS's SQS extended client for Python (`amazon-sqs-extended-client`
//! from PyPI, pinned in `tests/python/requirements.txt`) on moto: it sends a 1 MiB
//! request through S3 to our server's queue and we handle it; our server sends the
//! 1 MiB reply through S3 and it reads it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncmcp_aws::{AwsAdmin, AwsQueueClient, S3Offload};
use asyncmcp_proto::RequestId;
use asyncmcp_proto::offload::OffloadConfig;
use asyncmcp_tests::adapter::Transport;
use asyncmcp_tests::moto::{Moto, unique_name};
use asyncmcp_tests::moto_rig::MotoRig;
use asyncmcp_tests::python::PyProcess;
use asyncmcp_tokio::TokioRuntime;
use serde_json::Value;

const SIZE: usize = 1024 * 1024;

/// Waits (without blocking the runtime, which also runs our server) until `process`
/// prints a line starting with `prefix`, and parses it.
async fn wait_json(process: &mut PyProcess, prefix: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match process.check_line(prefix, deadline) {
            Ok(Some(line)) => return serde_json::from_str(&line).expect("a JSON line"),
            Ok(None) => tokio::time::sleep(Duration::from_millis(25)).await,
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_extended_client_and_our_server_read_each_others_large_messages() {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let admin = AwsAdmin::new(&config);
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    let bucket = unique_name("py-ext");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let rig = MotoRig::create(&admin, Transport::Sqs, Duration::from_secs(30)).await.expect("queues");
    let queue = Arc::new(AwsQueueClient::new(&config).with_s3_offload(S3Offload::new(&config).delete_on_consume(true)));
    let (server, seen) = rig.echo_server_with(TokioRuntime::current(), queue, Duration::ZERO, |c| {
        c.common.offload = Some(OffloadConfig::new(bucket.clone()));
    });

    let mut python =
        PyProcess::spawn("extended.py", &[&moto.endpoint, &bucket, &rig.requests, &rig.replies, &SIZE.to_string()]);
    wait_json(&mut python, r#"{"step": "sent""#).await;
    let reply = wait_json(&mut python, r#"{"step": "reply""#).await;
    wait_json(&mut python, r#"{"step": "deleted""#).await;

    assert_eq!(reply["id"], 1, "{reply}");
    assert_eq!(reply["text_ok"], true, "the echoed text came back whole: {reply}");
    assert!(reply["size"].as_u64().unwrap_or(0) > SIZE as u64, "{reply}");
    let handle = reply["receipt_handle"].as_str().unwrap_or_default();
    assert!(handle.starts_with(&format!("-..s3BucketName..-{bucket}-..s3BucketName..--..s3Key..-")), "{handle}");
    let attributes = reply["attributes"].as_array().cloned().unwrap_or_default();
    assert!(attributes.contains(&Value::from("MessageType")), "our attributes arrive: {attributes:?}");
    assert!(!attributes.contains(&Value::from("ExtendedPayloadSize")), "the library removes its marker");
    assert_eq!(seen.lock().unwrap().deliveries("tools/call", &RequestId::Number(1)), 1);
    let stats = server.stats();
    assert_eq!((stats.s3_gets, stats.s3_puts), (1, 1), "{stats:?}");
    // Both objects are gone: the reply's deleted by the Python client, the request's
    // by our server once it deleted the request.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left: Vec<String>;
    loop {
        let listed = s3.list_objects_v2().bucket(&bucket).send().await.expect("list objects");
        left = listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
        if left.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(left.is_empty(), "objects left: {left:?}");
    server.shutdown(Duration::from_secs(5)).await;
}
