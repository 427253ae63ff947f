//! The client side: an rmcp `Transport<RoleClient>` over an asyncmcp client driver.

use std::sync::Arc;
use std::time::Duration;

use ::rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use ::rmcp::transport::Transport;
use asyncmcp_driver::{ClientEvents, ClientHandle, DriverConfig, DriverError, QueueClient};
use asyncmcp_proto::{
    Cancellation, ClientConfig, ClientEvent, ConfigError, DecodeError, JsonRpcMessage, MessageKind, RequestId,
    error_codes,
};

/// How long [`close`](Transport::close) waits for pending requests by default.
const DEFAULT_CLOSE_DRAIN: Duration = Duration::from_secs(1);

/// An rmcp client transport over SQS/SNS: `().serve(transport).await` runs an rmcp
/// client against a queue-hosted MCP server.
///
/// Messages are passed through the driver with
/// [`ClientHandle::submit`]: rmcp correlates responses itself. A request that ends
/// without a response ([`ClientEvent::RequestTimedOut`], [`ClientEvent::SendFailed`])
/// is answered locally with a JSON-RPC error for its id, so the rmcp caller gets an
/// error instead of waiting forever. Closing the transport shuts the driver down (in
/// a legacy session this sends the close notification).
#[derive(Debug)]
pub struct QueueClientTransport {
    handle: ClientHandle,
    events: ClientEvents,
    close_drain: Duration,
}

/// Why an rmcp message could not be sent over the queue: the `Transport::Error` of
/// [`QueueClientTransport`] and of the server's per-session and per-request
/// transports. A queue failure itself arrives later, as an event (a request that
/// could not be sent is answered locally with a JSON-RPC error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// rmcp's message could not be serialized (a bug in the message, not the queue).
    #[error("could not serialize the MCP message: {0}")]
    Encode(#[from] serde_json::Error),
    /// The serialized message is not one valid JSON-RPC 2.0 message.
    #[error("the MCP message is not valid JSON-RPC: {0}")]
    Decode(#[from] DecodeError),
    /// The driver refused the message or has stopped.
    #[error(transparent)]
    Driver(#[from] DriverError),
}

impl QueueClientTransport {
    /// A transport over a client driver already running (see
    /// [`spawn_client`](crate::spawn_client)).
    pub fn new(handle: ClientHandle, events: ClientEvents) -> Self {
        Self { handle, events, close_drain: DEFAULT_CLOSE_DRAIN }
    }

    /// Starts a client driver on the current tokio runtime and wraps it.
    ///
    /// # Errors
    /// [`ConfigError`] for a configuration that cannot work.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn<Q: QueueClient>(config: ClientConfig, queue: Arc<Q>) -> Result<Self, ConfigError> {
        Self::spawn_with(config, queue, DriverConfig::default())
    }

    /// As [`spawn`](Self::spawn), with driver options (long-poll wait, channel sizes).
    ///
    /// # Errors
    /// [`ConfigError`] for a configuration that cannot work.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn_with<Q: QueueClient>(
        config: ClientConfig,
        queue: Arc<Q>,
        driver: DriverConfig,
    ) -> Result<Self, ConfigError> {
        let (handle, events) = crate::spawn_client_with(config, queue, driver)?;
        Ok(Self::new(handle, events))
    }

    /// How long closing waits for pending requests before stopping the driver
    /// (1 s by default).
    pub fn with_close_drain(mut self, drain: Duration) -> Self {
        self.close_drain = drain;
        self
    }

    /// The driver handle (for [`stats`](ClientHandle::stats), or to send raw messages).
    pub fn handle(&self) -> &ClientHandle {
        &self.handle
    }

    /// Answers a server request rmcp cannot parse, so the server does not wait.
    async fn refuse(&self, message: &JsonRpcMessage, detail: &str) {
        if let (MessageKind::Request, Some(id)) = (message.kind(), message.id()) {
            let error = JsonRpcMessage::error(
                id.clone(),
                error_codes::INVALID_REQUEST,
                &format!("the client could not read this request: {detail}"),
                None,
            );
            if let Err(e) = self.handle.submit(error).await {
                tracing::warn!(%e, "could not refuse an unreadable server request");
            }
        }
    }
}

/// `text` as rmcp's message type, or an error naming what rmcp could not read.
fn decode<T: ::rmcp::serde::de::DeserializeOwned>(message: &JsonRpcMessage) -> Result<T, serde_json::Error> {
    serde_json::from_slice(message.body())
}

/// A local JSON-RPC error response for request `id`.
fn local_error(id: &RequestId, code: i64, text: &str) -> Option<RxJsonRpcMessage<RoleClient>> {
    let message = JsonRpcMessage::error(id.clone(), code, text, None);
    match decode(&message) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(%e, %id, "could not build a local error response");
            None
        }
    }
}

impl Transport<RoleClient> for QueueClientTransport {
    type Error = SendError;

    fn name() -> std::borrow::Cow<'static, str> {
        "asyncmcp-queue".into()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let handle = self.handle.clone();
        async move {
            let text = serde_json::to_vec(&item)?;
            let message = JsonRpcMessage::parse(text)?;
            if let Some(Cancellation { request_id: id, reason }) = Cancellation::from_message(&message) {
                // Through the driver's cancel, so a response still on its way is
                // dropped as late and the request's timeout stops.
                handle.cancel(id, reason).await?;
            } else {
                handle.submit(message).await?;
            }
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            let event = self.events.next().await?;
            match event {
                ClientEvent::Message(message) => match decode(&message) {
                    Ok(m) => return Some(m),
                    Err(e) => {
                        tracing::warn!(%e, ?message, "rmcp cannot read a message from the server");
                        if message.kind().is_reply()
                            && let Some(id) = message.id()
                        {
                            // Fail the waiting caller instead of leaving it to time out.
                            let text = format!("unreadable response from the server: {e}");
                            if let Some(m) = local_error(id, error_codes::INTERNAL_ERROR, &text) {
                                return Some(m);
                            }
                        }
                        self.refuse(&message, &e.to_string()).await;
                    }
                },
                ClientEvent::RequestTimedOut { id } => {
                    tracing::warn!(%id, "request timed out waiting for its response on the queue");
                    let text = format!("request {id} timed out: no response arrived on the reply queue in time");
                    if let Some(m) = local_error(&id, error_codes::REQUEST_TIMEOUT, &text) {
                        return Some(m);
                    }
                }
                ClientEvent::SendFailed { id: Some(id), method, error } => {
                    tracing::warn!(%id, ?method, %error, "request could not be sent");
                    let method = method.as_deref().unwrap_or("request");
                    let text = format!("{method} could not be sent to the server's queue or topic: {error}");
                    if let Some(m) = local_error(&id, error_codes::INTERNAL_ERROR, &text) {
                        return Some(m);
                    }
                }
                ClientEvent::SendFailed { id: None, method, error } => {
                    tracing::warn!(?method, %error, "notification could not be sent");
                }
                ClientEvent::LateResponse(message) => {
                    tracing::debug!(id = ?message.id(), "late response dropped");
                }
                ClientEvent::Rejected(rejection) => {
                    tracing::warn!(message_id = %rejection.message_id, reason = %rejection.reason, "inbound message rejected");
                }
                ClientEvent::AckFailed { message_id, error } => {
                    tracing::warn!(%message_id, %error, "could not delete a received message");
                }
                ClientEvent::SessionOpened { session_id } => {
                    tracing::debug!(%session_id, "session opened");
                }
                ClientEvent::SessionClosed { reason } => {
                    tracing::debug!(?reason, "session closed");
                }
                other => tracing::debug!(?other, "client event ignored"),
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.handle.shutdown(self.close_drain).await;
        Ok(())
    }
}
