//! The moto harness itself: a private server resets, serves `with_endpoint` clients,
//! and ends when dropped.

use std::time::Duration;

use asyncmcp_aws::{AwsAdmin, AwsQueueClient, QueueSpec};
use asyncmcp_driver::{QueueClient, ReceiveRequest};
use asyncmcp_proto::{Address, OpId, OpKind, OpResult, QueueOp, SendOp};
use asyncmcp_tests::moto::{Moto, REGION};
use bytes::Bytes;

#[tokio::test]
async fn private_server_resets_serves_local_clients_and_ends_on_drop() {
    let moto = Moto::start();
    let admin = AwsAdmin::with_endpoint(&moto.endpoint, REGION);
    let client = AwsQueueClient::with_endpoint(&moto.endpoint, REGION);
    let q = admin.create_queue("harness", &QueueSpec::default()).await.expect("create");
    let op = QueueOp {
        id: OpId(1),
        kind: OpKind::Send(SendOp {
            to: Address::Queue(q.url.clone()),
            body: Bytes::from_static(b"{}"),
            attributes: Default::default(),
            group_id: None,
            dedup_id: None,
            offload: None,
        }),
    };
    assert_eq!(client.execute(op).await, OpResult::Ok);
    let request =
        ReceiveRequest { queue_url: q.url.clone(), max_messages: 1, wait: Duration::from_secs(1), visibility: None };
    assert_eq!(client.receive(request).await.expect("receive").len(), 1);

    moto.reset();

    let gone = admin.queue_arn(&q.url).await.expect_err("reset removed the queue");
    assert_eq!(gone.kind, asyncmcp_aws::FailureKind::NotFound, "{gone}");
    let addr = moto.endpoint.trim_start_matches("http://").to_owned();
    drop(moto);
    assert!(std::net::TcpStream::connect(&addr).is_err(), "moto ended with its Moto");
}
