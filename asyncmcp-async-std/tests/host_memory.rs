//! `spawn_client_host` on async-std: sessions on one reply queue of the in-memory
//! broker, each answered on its own.
#![cfg(feature = "async-std")]

use std::sync::Arc;

use asyncmcp_async_std::proto::sim::QueueOptions;
use asyncmcp_async_std::proto::{
    Address, AllowList, ClientConfig, Era, HostConfig, JsonRpcMessage, MessageKind, ServerConfig, ServerEvent,
};
use serde_json::json;

#[async_std::test]
async fn sessions_on_one_reply_queue_get_their_own_answers() {
    let queue = Arc::new(asyncmcp_async_std::memory_queue());
    let requests = queue.create_queue("requests", QueueOptions::default());
    let replies = queue.create_queue("replies", QueueOptions::default());
    let (server, mut incoming) =
        asyncmcp_async_std::spawn_server(ServerConfig::new(requests.clone(), AllowList::any()), Arc::clone(&queue))
            .unwrap();
    async_std::task::spawn(async move {
        while let Some(ServerEvent::Message { route, message }) = incoming.next().await {
            if message.kind() == MessageKind::Request {
                let echo = message.to_value()["params"].clone();
                let _ = server.submit(route, JsonRpcMessage::response(message.id().unwrap().clone(), echo)).await;
            }
        }
    });
    let (host, _events) = asyncmcp_async_std::spawn_client_host(HostConfig::new(replies.clone()), queue).unwrap();

    let mut sessions = Vec::new();
    for i in 0..5 {
        let mut config = ClientConfig::new(
            Address::Queue(requests.clone()),
            Address::Queue(replies.clone()),
            replies.clone(),
            format!("c-{i}"),
        );
        config.era = Era::Modern;
        sessions.push(host.open(config).await.unwrap());
    }
    let answers = futures::future::join_all(
        sessions.iter().enumerate().map(|(i, s)| async move { s.call("whoami", Some(json!({"i": i}))).await.unwrap() }),
    )
    .await;

    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer.to_value()["result"]["i"], i, "{}", answer.as_str());
    }
    host.shutdown(std::time::Duration::from_secs(1)).await;
}
