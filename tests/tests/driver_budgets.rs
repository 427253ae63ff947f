//! The drivers read what each destination accepts (`MaximumMessageSize`, here the
//! in-memory queue's `max_message_bytes`) at start and size messages by it: a large
//! result goes inline to a 1 MiB queue, in fragments within a 64 KiB queue when the
//! client takes them, and otherwise as a JSON-RPC error naming the size and the limit.

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_proto::sim::{QueueOptions, echo_responder};
use asyncmcp_proto::{AllowList, ClientConfig, Era, MessageKind, ServerConfig, ServerEvent, error_codes};
use asyncmcp_tokio::{MemoryQueue, TokioRuntime};

const KIB: usize = 1024;

struct Setup {
    queue: Arc<MemoryQueue<TokioRuntime>>,
    requests: String,
    replies: String,
}

/// A request queue and a reply queue that accept `requests_max` and `replies_max`.
fn setup(requests_max: usize, replies_max: usize) -> Setup {
    let memory = asyncmcp_tokio::memory_queue();
    let requests =
        memory.create_queue("requests", QueueOptions { max_message_bytes: requests_max, ..QueueOptions::default() });
    let replies =
        memory.create_queue("replies", QueueOptions { max_message_bytes: replies_max, ..QueueOptions::default() });
    Setup { queue: Arc::new(memory), requests, replies }
}

/// An echo server on the setup's request queue; returns its handle.
fn echo_server(s: &Setup) -> asyncmcp_tokio::ServerHandle {
    let config = ServerConfig::new(s.requests.clone(), AllowList::new().exact(s.replies.clone()));
    let (handle, mut events) = asyncmcp_tokio::spawn_server(config, Arc::clone(&s.queue)).expect("server");
    let h = handle.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let ServerEvent::Message { route, message } = &event
                && message.kind() == MessageKind::Request
                && let Some(answer) = echo_responder(route, message)
            {
                let _ = h.submit(route.clone(), answer).await;
            }
        }
    });
    handle
}

fn client(s: &Setup, takes_fragments: bool) -> asyncmcp_tokio::ClientHandle {
    let mut config = ClientConfig::sqs(s.requests.clone(), s.replies.clone(), "budgets");
    config.era = Era::Modern;
    config.common.takes_fragments = takes_fragments;
    let (handle, _events) = asyncmcp_tokio::spawn_client(config, Arc::clone(&s.queue)).expect("client");
    handle
}

fn echo(text: &str) -> Option<serde_json::Value> {
    Some(serde_json::json!({"name": "echo", "arguments": {"text": text}}))
}

fn text_of(response: &asyncmcp_proto::JsonRpcMessage) -> String {
    response.to_value()["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(start_paused = true)]
async fn a_900_kib_result_goes_inline_over_1_mib_queues() {
    let s = setup(1024 * KIB, 1024 * KIB);
    let server = echo_server(&s);
    let client = client(&s, true);
    let text = "x".repeat(900 * KIB);

    let response = tokio::time::timeout(Duration::from_secs(30), client.call("tools/call", echo(&text)))
        .await
        .expect("answered")
        .expect("a response");

    assert_eq!(text_of(&response), text);
    // After shutdown every call has ended and been billed.
    client.shutdown(Duration::from_secs(2)).await;
    server.shutdown(Duration::from_secs(2)).await;
    let (c, sv) = (client.stats(), server.stats());
    assert_eq!(c.sends + c.send_batches, 1, "one request message: {c:?}");
    assert_eq!(sv.sends + sv.send_batches, 1, "one response message: {sv:?}");
    // 900 KiB and its attributes make 15 chunks of 64 KiB: the send is billed 15, and
    // so is the receive that returned it; every other call (an empty receive, a
    // delete) is billed 1.
    for stats in [c, sv] {
        assert_eq!(stats.messages_received, 1, "{stats:?}");
        let others = (stats.receives - 1) + stats.deletes + stats.delete_batches;
        assert_eq!(stats.billed_units - others, 30, "{stats:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_64_kib_reply_queue_makes_the_server_fragment_at_64_kib() {
    let s = setup(1024 * KIB, 64 * KIB);
    let server = echo_server(&s);
    let client = client(&s, true);
    let text = "y".repeat(200 * KIB);

    let response = tokio::time::timeout(Duration::from_secs(30), client.call("tools/call", echo(&text)))
        .await
        .expect("answered")
        .expect("a response");

    assert_eq!(text_of(&response), text);
    let sv = server.stats();
    // 200 KiB in pieces of at most 64 KiB (attributes included, or the queue would
    // refuse them): 4 messages; the client's one request went inline.
    assert_eq!(sv.sends, 4, "{sv:?}");
    assert_eq!(client.stats().sends, 1);
    assert_eq!(s.queue.sim_stats().sends, 5, "one request and four fragments: {:?}", s.queue.sim_stats());
}

#[tokio::test(start_paused = true)]
async fn without_fragments_the_client_gets_an_error_naming_the_limit() {
    let s = setup(1024 * KIB, 64 * KIB);
    let _server = echo_server(&s);
    let client = client(&s, false);
    let text = "z".repeat(100 * KIB);

    let response = tokio::time::timeout(Duration::from_secs(30), client.call("tools/call", echo(&text)))
        .await
        .expect("answered")
        .expect("a response");

    let error = response.to_value()["error"].clone();
    assert_eq!(error["code"], error_codes::INTERNAL_ERROR, "{error}");
    assert_eq!(error["data"]["limit"], 64 * KIB, "{error}");
    assert!(error["data"]["size"].as_u64().unwrap() > 100 * KIB as u64, "{error}");
    assert!(error["message"].as_str().unwrap().contains("65536-byte limit"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_request_over_the_server_queue_budget_is_refused_before_sending() {
    let s = setup(64 * KIB, 1024 * KIB);
    let _server = echo_server(&s);
    let client = client(&s, true);
    // The server has not said it takes fragments yet: nothing answered so far.
    let refused = client.call("tools/call", echo(&"w".repeat(100 * KIB))).await;

    match refused {
        Err(asyncmcp_tokio::RequestError::Api(asyncmcp_proto::ApiError::Unsendable(
            asyncmcp_proto::Unsendable::TooLarge { limit, .. },
        ))) => assert_eq!(limit, 64 * KIB),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.stats().sends, 0);
}

#[tokio::test(start_paused = true)]
async fn with_sns_the_reply_budget_is_the_smaller_of_topic_and_queue() {
    // The reply topic takes 256 KiB, the queue behind it 64 KiB: the server publishes
    // fragments of at most 64 KiB (a 200 KiB publish would be accepted by the topic
    // and dropped on the way to the queue).
    let s = setup(1024 * KIB, 64 * KIB);
    let server_topic = s.queue.create_topic("server");
    let client_topic = s.queue.create_topic("client");
    s.queue.subscribe(&server_topic, &s.requests, true).unwrap();
    s.queue.subscribe(&client_topic, &s.replies, true).unwrap();
    let config = ServerConfig::new(s.requests.clone(), AllowList::new().exact(client_topic.clone()));
    let (server, mut events) = asyncmcp_tokio::spawn_server(config, Arc::clone(&s.queue)).expect("server");
    let h = server.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let ServerEvent::Message { route, message } = &event
                && let Some(answer) = echo_responder(route, message)
            {
                let _ = h.submit(route.clone(), answer).await;
            }
        }
    });
    let mut config = ClientConfig::sns_sqs(server_topic, client_topic, s.replies.clone(), "budgets");
    config.era = Era::Modern;
    let (client, _events) = asyncmcp_tokio::spawn_client(config, Arc::clone(&s.queue)).expect("client");
    let text = "v".repeat(200 * KIB);

    let response = tokio::time::timeout(Duration::from_secs(30), client.call("tools/call", echo(&text)))
        .await
        .expect("answered")
        .expect("a response");

    assert_eq!(text_of(&response), text);
    assert_eq!(server.stats().publishes, 4, "{:?}", server.stats());
    assert_eq!(s.queue.sim_stats().dropped_deliveries, 0);
}

/// A server whose `tools/call` answers with `arguments.size` bytes of text.
fn big_result_server(s: &Setup) -> asyncmcp_tokio::ServerHandle {
    let config = ServerConfig::new(s.requests.clone(), AllowList::new().exact(s.replies.clone()));
    let (handle, mut events) = asyncmcp_tokio::spawn_server(config, Arc::clone(&s.queue)).expect("server");
    let h = handle.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let ServerEvent::Message { route, message } = &event
                && let Some(id) = message.id().cloned()
            {
                let size = message.to_value()["params"]["arguments"]["size"].as_u64().unwrap_or(0) as usize;
                let result = serde_json::json!({"content": [{"type": "text", "text": "r".repeat(size)}]});
                let _ = h.submit(route.clone(), asyncmcp_proto::JsonRpcMessage::response(id, result)).await;
            }
        }
    });
    handle
}

#[tokio::test(start_paused = true)]
async fn a_5_mib_result_past_what_the_client_reassembles_is_an_error_naming_the_limit() {
    // 1 MiB queues, no S3: the result would go in 5 fragments, over the 4 MiB the
    // client holds for reassembly (it says so in `reasm=`).
    let s = setup(1024 * KIB, 1024 * KIB);
    let server = big_result_server(&s);
    let client = client(&s, true);

    let response = tokio::time::timeout(
        Duration::from_secs(30),
        client.call("tools/call", Some(serde_json::json!({"name": "big", "arguments": {"size": 5 * 1024 * KIB}}))),
    )
    .await
    .expect("answered before the request timeout")
    .expect("a response");

    let error = response.to_value()["error"].clone();
    assert_eq!(error["code"], error_codes::INTERNAL_ERROR, "{error}");
    assert_eq!(error["data"]["limit"], 4 * 1024 * KIB, "{error}");
    assert!(error["data"]["size"].as_u64().unwrap() > 5 * 1024 * KIB as u64, "{error}");
    assert!(error["message"].as_str().unwrap().contains("4194304-byte limit"), "{error}");
    assert_eq!(server.stats().sends, 1, "only the error was sent: {:?}", server.stats());
}
