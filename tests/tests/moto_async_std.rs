//! The moto tier on async-std: the driver and the real AWS SDK, every HTTP call made
//! by `asyncmcp-async-std`'s async-io client, with no tokio runtime anywhere in the
//! process's tests (each test checks that none is reachable).

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_async_std::{AsyncStdRuntime, AwsAdmin, AwsQueueClient, aws_admin, aws_queue_client, shared_http_client};
use asyncmcp_proto::RequestId;
use asyncmcp_tests::adapter::Transport;
use asyncmcp_tests::moto::Moto;
use asyncmcp_tests::moto_rig::MotoRig;

fn aws() -> (Arc<AwsQueueClient>, AwsAdmin) {
    assert!(tokio::runtime::Handle::try_current().is_err(), "the async-std tier must run without tokio");
    let config = Moto::shared().sdk_config();
    (Arc::new(aws_queue_client(&config)), aws_admin(&config))
}

fn text_of(answer: &asyncmcp_proto::JsonRpcMessage) -> String {
    answer.to_value()["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

/// Two tool calls over `transport`, answered once each.
async fn round_trip(transport: Transport) {
    let (queue, admin) = aws();
    let before = shared_http_client().stats();
    let rig = MotoRig::create(&admin, transport, Duration::from_secs(30)).await.expect("create queues and topics");
    let (server, seen) = rig.echo_server(AsyncStdRuntime, Arc::clone(&queue), Duration::ZERO);
    let (client, _events) = rig.client(AsyncStdRuntime, Arc::clone(&queue));

    for text in ["first", "second"] {
        let params = serde_json::json!({"name": "echo", "arguments": {"text": text}});
        let answer = client.call("tools/call", Some(params)).await.expect("answered");
        assert_eq!(text_of(&answer), text);
    }

    for id in 1..=2 {
        assert_eq!(seen.lock().unwrap().deliveries("tools/call", &RequestId::Number(id)), 1, "request {id}");
    }
    let after = shared_http_client().stats();
    assert!(after.requests > before.requests + 4, "the SDK's calls went through AsyncIoHttpClient: {after:?}");
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
}

#[async_std::test]
async fn sqs_round_trip() {
    round_trip(Transport::Sqs).await;
}

#[async_std::test]
async fn sns_sqs_envelope_round_trip() {
    round_trip(Transport::SnsSqs(false)).await;
}

#[async_std::test]
async fn sns_sqs_raw_round_trip() {
    round_trip(Transport::SnsSqs(true)).await;
}

/// Visibility 2 s, an answer after 5 s: the server's heartbeats keep the request
/// hidden, so it runs once.
#[async_std::test]
async fn long_request_is_kept_invisible_by_heartbeats() {
    let (queue, admin) = aws();
    let rig = MotoRig::create(&admin, Transport::Sqs, Duration::from_secs(2)).await.expect("create queues");
    let (server, seen) = rig.echo_server(AsyncStdRuntime, Arc::clone(&queue), Duration::from_secs(5));
    let (client, _events) = rig.client(AsyncStdRuntime, Arc::clone(&queue));

    let params = serde_json::json!({"name": "echo", "arguments": {"text": "slow"}});
    let answer = client.call("tools/call", Some(params)).await.expect("answered after the heartbeats");

    assert_eq!(text_of(&answer), "slow");
    assert_eq!(seen.lock().unwrap().deliveries("tools/call", &RequestId::Number(1)), 1, "ran once");
    let stats = server.stats();
    assert!(stats.visibility_changes >= 2, "heartbeats extended the visibility: {stats:?}");
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
}
