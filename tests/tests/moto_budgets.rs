//! Size budgets from the real resources, on moto through the AWS SDK: the drivers
//! read `MaximumMessageSize` at start, so a 900 KiB result over sqs with 1 MiB queues
//! is one message each way, a reply queue of 64 KiB makes the server fragment at
//! 64 KiB, and a client that takes no fragments gets a JSON-RPC error naming that
//! limit. (moto checks only the body size of SQS messages; the core counts the
//! attributes too, and the proptests in asyncmcp-proto check that.)

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_aws::{AwsAdmin, AwsQueueClient};
use asyncmcp_driver::QueueClient;
use asyncmcp_proto::{Address, AllowList, ClientConfig, Era, JsonRpcMessage, ServerConfig, ServerEvent, error_codes};
use asyncmcp_tests::adapter::Transport;
use asyncmcp_tests::moto::Moto;
use asyncmcp_tests::moto_rig::MotoRig;
use asyncmcp_tokio::TokioRuntime;
use aws_sdk_sqs::types::QueueAttributeName;

const KIB: usize = 1024;

struct Aws {
    queue: Arc<AwsQueueClient>,
    admin: AwsAdmin,
    sqs: aws_sdk_sqs::Client,
}

fn aws() -> Aws {
    let config = Moto::shared().sdk_config();
    Aws {
        queue: Arc::new(AwsQueueClient::new(&config)),
        admin: AwsAdmin::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
    }
}

impl Aws {
    async fn set_max(&self, queue_url: &str, bytes: usize) {
        self.sqs
            .set_queue_attributes()
            .queue_url(queue_url)
            .attributes(QueueAttributeName::MaximumMessageSize, bytes.to_string())
            .send()
            .await
            .expect("set MaximumMessageSize");
    }
}

fn echo(text: &str) -> Option<serde_json::Value> {
    Some(serde_json::json!({"name": "echo", "arguments": {"text": text}}))
}

fn text_of(response: &asyncmcp_proto::JsonRpcMessage) -> String {
    response.to_value()["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

/// A modern client on the rig that takes fragments or not.
fn client(rig: &MotoRig, aws: &Aws, takes_fragments: bool) -> asyncmcp_driver::ClientHandle {
    let mut config =
        ClientConfig::new(rig.server_address.clone(), rig.client_address.clone(), rig.replies.clone(), "b");
    config.era = Era::Modern;
    config.common.takes_fragments = takes_fragments;
    let (handle, _events) = asyncmcp_driver::spawn_client(
        config,
        TokioRuntime::current(),
        Arc::clone(&aws.queue),
        asyncmcp_tests::adapter::fast_driver(),
    )
    .expect("client configuration");
    handle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_client_reads_maximum_message_size() {
    let aws = aws();
    let rig = MotoRig::create(&aws.admin, Transport::SnsSqs(true), Duration::from_secs(30)).await.expect("rig");
    let requests = Address::Queue(rig.requests.clone());

    // moto's queues default to 1 MiB, as SQS's do since 2026.
    assert_eq!(aws.queue.max_message_bytes(&requests).await.expect("read"), Some(1024 * KIB));
    aws.set_max(&rig.requests, 64 * KIB).await;
    assert_eq!(aws.queue.max_message_bytes(&requests).await.expect("read"), Some(64 * KIB));
    // moto's topics do not report the attribute: the driver keeps its fallback.
    assert_eq!(aws.queue.max_message_bytes(&rig.server_address).await.expect("read"), None);
    // A queue that does not exist is a failure (the driver logs it and falls back).
    let missing = Address::Queue(Moto::shared().queue_url("no-such-queue-budgets"));
    assert!(aws.queue.max_message_bytes(&missing).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_900_kib_result_over_sqs_is_one_message_each_way() {
    let aws = aws();
    let rig = MotoRig::create(&aws.admin, Transport::Sqs, Duration::from_secs(30)).await.expect("rig");
    aws.set_max(&rig.requests, 1024 * KIB).await;
    aws.set_max(&rig.replies, 1024 * KIB).await;
    let (server, _seen) = rig.echo_server(TokioRuntime::current(), Arc::clone(&aws.queue), Duration::ZERO);
    let client = client(&rig, &aws, true);
    let text = "x".repeat(900 * KIB);

    let response = client.call("tools/call", echo(&text)).await.expect("a response");

    assert_eq!(text_of(&response), text);
    // After shutdown every call has ended and been billed.
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
    for stats in [client.stats(), server.stats()] {
        assert_eq!(stats.sends + stats.send_batches, 1, "one message sent: {stats:?}");
        assert_eq!(stats.messages_received, 1, "one message received: {stats:?}");
        // 900 KiB and its attributes are 15 chunks of 64 KiB: billed 15 to send and
        // 15 to receive; every other call (an empty receive, a delete) 1.
        let others = (stats.receives - 1) + stats.deletes + stats.delete_batches;
        assert_eq!(stats.billed_units - others, 30, "{stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_kib_reply_queue_makes_the_server_fragment_at_64_kib() {
    let aws = aws();
    let rig = MotoRig::create(&aws.admin, Transport::Sqs, Duration::from_secs(30)).await.expect("rig");
    aws.set_max(&rig.replies, 64 * KIB).await;
    let (server, _seen) = rig.echo_server(TokioRuntime::current(), Arc::clone(&aws.queue), Duration::ZERO);
    let client = client(&rig, &aws, true);
    let text = "y".repeat(200 * KIB);

    let response = client.call("tools/call", echo(&text)).await.expect("a response");

    assert_eq!(text_of(&response), text);
    // 200 KiB in pieces of at most 64 KiB with their attributes: four messages.
    assert_eq!(client.stats().messages_received, 4, "{:?}", client.stats());
    assert_eq!(client.stats().sends, 1, "the request went inline: {:?}", client.stats());
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fragments_the_client_gets_an_error_naming_the_limit() {
    let aws = aws();
    let rig = MotoRig::create(&aws.admin, Transport::Sqs, Duration::from_secs(30)).await.expect("rig");
    aws.set_max(&rig.replies, 64 * KIB).await;
    let (server, _seen) = rig.echo_server(TokioRuntime::current(), Arc::clone(&aws.queue), Duration::ZERO);
    let client = client(&rig, &aws, false);

    let response = client.call("tools/call", echo(&"z".repeat(100 * KIB))).await.expect("a response");

    let error = response.to_value()["error"].clone();
    assert_eq!(error["code"], error_codes::INTERNAL_ERROR, "{error}");
    assert_eq!(error["data"]["limit"], 64 * KIB, "{error}");
    assert!(error["data"]["size"].as_u64().unwrap() > 100 * KIB as u64, "{error}");
    assert!(error["message"].as_str().unwrap().contains("65536-byte limit"), "{error}");
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5_mib_result_without_s3_gives_the_client_an_error_naming_the_limit() {
    let aws = aws();
    let rig = MotoRig::create(&aws.admin, Transport::Sqs, Duration::from_secs(30)).await.expect("rig");
    // A server whose tool answers with `size` bytes of text.
    let config = ServerConfig::new(rig.requests.clone(), AllowList::new().exact(rig.client_address.as_str()));
    let (server, mut events) = asyncmcp_driver::spawn_server(
        config,
        TokioRuntime::current(),
        Arc::clone(&aws.queue),
        asyncmcp_tests::adapter::fast_driver(),
    )
    .expect("server configuration");
    let h = server.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let ServerEvent::Message { route, message } = &event
                && let Some(id) = message.id().cloned()
            {
                let size = message.to_value()["params"]["arguments"]["size"].as_u64().unwrap_or(0) as usize;
                let result = serde_json::json!({"content": [{"type": "text", "text": "r".repeat(size)}]});
                let _ = h.submit(route.clone(), JsonRpcMessage::response(id, result)).await;
            }
        }
    });
    let client = client(&rig, &aws, true);

    let params = serde_json::json!({"name": "big", "arguments": {"size": 5 * 1024 * KIB}});
    let response = client.call("tools/call", Some(params)).await.expect("a response");

    // Five fragments of 1 MiB would exceed the 4 MiB the client reassembles.
    let error = response.to_value()["error"].clone();
    assert_eq!(error["code"], error_codes::INTERNAL_ERROR, "{error}");
    assert_eq!(error["data"]["limit"], 4 * 1024 * KIB, "{error}");
    assert!(error["message"].as_str().unwrap().contains("4194304-byte limit"), "{error}");
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
}
