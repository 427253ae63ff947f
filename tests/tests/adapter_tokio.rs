//! The adapter scenarios on tokio, in paused (virtual) time.

use asyncmcp_tests::adapter::{self, Transport};
use asyncmcp_tokio::TokioRuntime;

#[tokio::test(start_paused = true)]
async fn legacy_handshake_sqs() {
    adapter::legacy_handshake(TokioRuntime::current(), Transport::Sqs).await;
}

#[tokio::test(start_paused = true)]
async fn legacy_handshake_sns_envelope() {
    adapter::legacy_handshake(TokioRuntime::current(), Transport::SnsSqs(false)).await;
}

#[tokio::test(start_paused = true)]
async fn legacy_handshake_sns_raw() {
    adapter::legacy_handshake(TokioRuntime::current(), Transport::SnsSqs(true)).await;
}

#[tokio::test(start_paused = true)]
async fn modern_requests_sqs() {
    adapter::modern_requests(TokioRuntime::current(), Transport::Sqs).await;
}

#[tokio::test(start_paused = true)]
async fn modern_requests_sns_envelope() {
    adapter::modern_requests(TokioRuntime::current(), Transport::SnsSqs(false)).await;
}

#[tokio::test(start_paused = true)]
async fn duplicates() {
    adapter::duplicates(TokioRuntime::current()).await;
}

#[tokio::test(start_paused = true)]
async fn reordering() {
    adapter::reordering(TokioRuntime::current()).await;
}

#[tokio::test(start_paused = true)]
async fn visibility_heartbeat() {
    adapter::visibility_heartbeat(TokioRuntime::current()).await;
}

#[tokio::test(start_paused = true)]
async fn cancel() {
    adapter::cancel(TokioRuntime::current()).await;
}

#[tokio::test(start_paused = true)]
async fn timeout_then_late() {
    adapter::timeout_then_late(TokioRuntime::current()).await;
}

#[tokio::test(start_paused = true)]
async fn backpressure() {
    adapter::backpressure(TokioRuntime::current()).await;
}
