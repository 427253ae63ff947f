//! A client holds a bounded number of requests and held messages: past
//! `ClientConfig::max_pending` a submit is refused with `ApiError::TooManyPending`,
//! and room comes back when a request ends.

use std::time::{Duration, Instant};

use asyncmcp_proto::{Address, ApiError, Client, ClientConfig, ClientEvent, Era, JsonRpcMessage, RequestId};

const SERVER: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/requests";
const REPLIES: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/replies";

fn client(era: Era, max_pending: usize) -> (Client, Instant) {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut config = ClientConfig::new(Address::parse(SERVER), Address::parse(REPLIES), REPLIES, "client-1");
    config.era = era;
    config.max_pending = max_pending;
    config.request_timeout = Duration::from_secs(10);
    (Client::new(config, now, [3; 32]).unwrap(), now)
}

fn request(id: i64) -> JsonRpcMessage {
    JsonRpcMessage::request(RequestId::Number(id), "tools/list", None)
}

#[test]
fn a_request_past_max_pending_is_refused_until_one_ends() {
    let (mut client, now) = client(Era::Modern, 2);
    client.submit(request(1), now).unwrap();
    client.submit(request(2), now).unwrap();

    let refused = client.submit(request(3), now);

    assert_eq!(refused, Err(ApiError::TooManyPending { max: 2 }));
    assert_eq!(client.pending_requests(), 2);
    // Notifications are not pending: they still go.
    client.submit(JsonRpcMessage::notification("notifications/progress", None), now).unwrap();

    // Both requests time out (each reported): there is room again.
    let later = now + Duration::from_secs(11);
    client.handle_timeout(later);
    let timed_out =
        std::iter::from_fn(|| client.poll_event()).filter(|e| matches!(e, ClientEvent::RequestTimedOut { .. })).count();
    assert_eq!(timed_out, 2);
    client.submit(request(3), later).unwrap();
}

#[test]
fn messages_held_for_the_session_are_bounded_too() {
    let (mut client, now) = client(Era::Legacy, 3);
    let init = JsonRpcMessage::request(
        RequestId::Number(0),
        "initialize",
        Some(serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {}})),
    );
    client.submit(init, now).unwrap();
    // Held until the server answers initialize: notifications count against the bound.
    client.submit(JsonRpcMessage::notification("notifications/initialized", None), now).unwrap();
    client.submit(JsonRpcMessage::notification("notifications/roots/list_changed", None), now).unwrap();
    client.submit(request(1), now).unwrap();

    let refused = client.submit(JsonRpcMessage::notification("notifications/progress", None), now);

    assert_eq!(refused, Err(ApiError::TooManyPending { max: 3 }));
}
