//! Many client sessions over one reply queue (`spawn_client_host`), on the in-memory
//! broker: legacy sessions and stateless clients call at once, and each gets only its
//! own answers; one long poll serves them all.

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_tokio::proto::sim::QueueOptions;
use asyncmcp_tokio::proto::{
    AddClientError, Address, AllowList, ClientConfig, Era, HostConfig, HostEvent, JsonRpcMessage, MessageKind,
    ServerConfig, ServerEvent,
};
use asyncmcp_tokio::{DriverConfig, HostedClient, MemoryQueue, OpenError, TokioRuntime};
use serde_json::json;

/// A server that answers `initialize` and echoes every other request's params.
fn echo_server(queue: &Arc<MemoryQueue<TokioRuntime>>, requests: &str) {
    let config = ServerConfig::new(requests, AllowList::any());
    let (server, mut events) = asyncmcp_tokio::spawn_server(config, Arc::clone(queue)).unwrap();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let ServerEvent::Message { route, message } = event else { continue };
            if message.kind() != MessageKind::Request {
                continue;
            }
            let id = message.id().unwrap().clone();
            let result = if message.method() == Some("initialize") {
                json!({"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "echo", "version": "1"}})
            } else {
                message.to_value()["params"].clone()
            };
            let _ = server.submit(route, JsonRpcMessage::response(id, result)).await;
        }
    });
}

fn config(requests: &str, replies: &str, i: usize, era: Era) -> ClientConfig {
    let mut config = ClientConfig::new(
        Address::Queue(requests.to_owned()),
        Address::Queue(replies.to_owned()),
        replies,
        format!("s-{i}"),
    );
    config.era = era;
    config
}

#[tokio::test(start_paused = true)]
async fn two_hundred_sessions_on_one_reply_queue_each_get_only_their_own_answers() {
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("requests", QueueOptions::default());
    let replies = queue.create_queue("replies", QueueOptions::default());
    echo_server(&queue, &requests);
    let (host, mut events) = asyncmcp_tokio::spawn_client_host(
        HostConfig::new(replies.clone()),
        Arc::clone(&queue),
        DriverConfig::default(),
    )
    .unwrap();
    let strays = tokio::spawn(async move {
        let mut unrouted = Vec::new();
        while let Some(event) = events.next().await {
            if let HostEvent::Unrouted(r) = event {
                unrouted.push(r);
            }
        }
        unrouted
    });

    let mut sessions = Vec::new();
    for i in 0..200 {
        let era = if i % 2 == 0 { Era::Legacy } else { Era::Modern };
        let session: HostedClient = host.open(config(&requests, &replies, i, era)).await.unwrap();
        sessions.push((i, era, session));
    }
    let mut calls = tokio::task::JoinSet::new();
    for (i, era, session) in sessions {
        calls.spawn(async move {
            if era == Era::Legacy {
                let init = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
                session.call("initialize", Some(init)).await.unwrap();
            }
            let mut asks = tokio::task::JoinSet::new();
            for n in 0..3 {
                let session = session.clone();
                asks.spawn(async move {
                    (n, session.call("whoami", Some(json!({"who": format!("s-{i}"), "n": n}))).await.unwrap())
                });
            }
            while let Some(done) = asks.join_next().await {
                let (n, answer) = done.unwrap();
                let result = &answer.to_value()["result"];
                assert_eq!(result["who"], format!("s-{i}"), "session {i} got another's answer: {result}");
                assert_eq!(result["n"], n, "session {i} got the answer to another request: {result}");
            }
            session.close().await;
        });
    }
    let all = async {
        while let Some(done) = calls.join_next().await {
            done.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(300), all).await.expect("all answered");

    let stats = host.stats();
    host.shutdown(Duration::from_secs(5)).await;
    assert!(strays.await.unwrap().is_empty(), "every reply named a hosted client");
    // One queue for all: each of the 100 initialize answers and 600 call answers
    // received once, nothing else.
    assert_eq!(stats.messages_received, 700, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn open_refuses_a_client_id_already_hosted() {
    let queue = Arc::new(asyncmcp_tokio::memory_queue());
    let requests = queue.create_queue("requests", QueueOptions::default());
    let replies = queue.create_queue("replies", QueueOptions::default());
    let (host, _events) = asyncmcp_tokio::spawn_client_host(
        HostConfig::new(replies.clone()),
        Arc::clone(&queue),
        DriverConfig::default(),
    )
    .unwrap();
    let first = host.open(config(&requests, &replies, 1, Era::Modern)).await.unwrap();

    let second = host.open(config(&requests, &replies, 1, Era::Modern)).await;

    assert_eq!(second.unwrap_err(), OpenError::Refused(AddClientError::DuplicateClientId("s-1".into())));
    first.close().await;
    // Closed and no longer hosted: its ClientId is free again.
    host.open(config(&requests, &replies, 1, Era::Modern)).await.unwrap();
    host.shutdown(Duration::from_secs(1)).await;
}
