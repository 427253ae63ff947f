//! The client side shared by `proxy` and `call`: where requests go, where replies
//! come back (a given reply queue, or a private one made for this process and
//! deleted on exit), and the client driver over SQS/SNS.

use std::sync::Arc;
use std::time::Duration;

use asyncmcp_aws::{AwsAdmin, AwsQueueClient, ReplyQueue, ReplyVia};
use asyncmcp_tokio::proto::{Address, ClientConfig, Era, JsonRpcMessage};
use asyncmcp_tokio::{ClientEvents, ClientHandle};
use clap::Args;
use serde_json::{Value, json};

use crate::aws::AwsArgs;
use crate::error::{CliError, CliResult};
use crate::infra::Transport;
use crate::offload::OffloadArgs;
use crate::signal::Stop;

/// Where the server is and where its replies come back.
#[derive(Debug, Args)]
#[group(id = "server", required = true, multiple = false, args = ["server_queue_url", "server_topic_arn"])]
pub(crate) struct ClientArgs {
    /// sqs: the reply side is a queue; sns-sqs: the reply side is a topic feeding a queue.
    #[arg(long, value_enum, default_value = "sqs")]
    pub(crate) transport: Transport,
    /// The server's request queue (printed by `asyncmcp infra up`).
    #[arg(long, value_name = "URL")]
    pub(crate) server_queue_url: Option<String>,
    /// The server's request topic (printed by `asyncmcp infra up --transport sns-sqs`).
    #[arg(long, value_name = "ARN")]
    pub(crate) server_topic_arn: Option<String>,
    /// An existing queue to receive replies on. Without it, a private reply queue
    /// (and for sns-sqs a topic and subscription) is created and deleted on exit.
    #[arg(long, value_name = "URL")]
    pub(crate) reply_queue_url: Option<String>,
    /// With --reply-queue-url: the topic that feeds it, to have replies published there.
    #[arg(long, value_name = "ARN", requires = "reply_queue_url")]
    pub(crate) reply_topic_arn: Option<String>,
    /// Speak the stateless 2026-07-28 era (no session; any server worker answers)
    /// instead of opening a session with `initialize`.
    #[arg(long)]
    pub(crate) modern: bool,
    /// Seconds a request may wait for its response.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub(crate) request_timeout: u64,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    #[command(flatten)]
    pub(crate) offload: OffloadArgs,
}

/// A running client driver and its private reply queue, if it made one.
pub(crate) struct Connection {
    pub(crate) handle: ClientHandle,
    pub(crate) server: Address,
    private: Option<ReplyQueue>,
}

impl ClientArgs {
    /// [`connect`](Self::connect), given up when `stop` sees SIGINT or SIGTERM first.
    /// A reply queue being created at that moment gets a few seconds to appear, then
    /// is deleted (past them it may be left: `asyncmcp infra gc` finds it).
    ///
    /// # Errors
    /// As `connect`, and [`stopped_by`] the signal.
    pub(crate) async fn connect_or_stop(
        &self,
        client_id_prefix: &str,
        stop: &mut Stop,
    ) -> CliResult<(Connection, ClientEvents)> {
        let connecting = self.connect(client_id_prefix);
        tokio::pin!(connecting);
        tokio::select! {
            connected = &mut connecting => connected,
            signal = stop.recv() => {
                if let Ok(Ok((connection, _))) = tokio::time::timeout(Duration::from_secs(5), connecting).await {
                    connection.close(Duration::ZERO).await;
                }
                Err(stopped_by(signal))
            }
        }
    }

    /// Creates the reply side (unless given) and starts the client driver.
    ///
    /// # Errors
    /// When the reply queue or topic cannot be created, or the configuration is invalid.
    pub(crate) async fn connect(&self, client_id_prefix: &str) -> CliResult<(Connection, ClientEvents)> {
        let server = match (&self.server_queue_url, &self.server_topic_arn) {
            (Some(url), _) => Address::Queue(url.clone()),
            (None, Some(arn)) => Address::Topic(arn.clone()),
            (None, None) => return Err(CliError::new("give --server-queue-url or --server-topic-arn")),
        };
        let sdk = self.aws.sdk_config().await?;
        self.offload.check_bucket(&sdk).await?;
        let client_id = asyncmcp_tokio::unique_client_id(client_id_prefix);
        let (reply_to, receive_queue, private) = match &self.reply_queue_url {
            Some(url) => {
                let reply_to = match &self.reply_topic_arn {
                    Some(arn) => Address::Topic(arn.clone()),
                    None => Address::Queue(url.clone()),
                };
                (reply_to, url.clone(), None)
            }
            None => {
                let via = if self.transport == Transport::SnsSqs { ReplyVia::Topic } else { ReplyVia::Queue };
                let prefix = format!("asyncmcp-{client_id_prefix}");
                let private = ReplyQueue::create(&AwsAdmin::new(&sdk), &prefix, via, server.is_fifo()).await.map_err(|e| {
                    CliError::new(format!(
                        "{} (the private reply queue could not be created; pass --reply-queue-url to use an existing one)",
                        e.detail
                    ))
                })?;
                (private.reply_to(), private.queue_url().to_owned(), Some(private))
            }
        };
        let mut config = match (&server, &reply_to) {
            (Address::Queue(url), Address::Queue(_)) => ClientConfig::sqs(url, receive_queue, client_id),
            (Address::Topic(arn), Address::Topic(topic)) => ClientConfig::sns_sqs(arn, topic, receive_queue, client_id),
            // A server queue with replies by topic, or the other way round.
            _ => ClientConfig::new(server.clone(), reply_to, receive_queue, client_id),
        };
        config.era = if self.modern { Era::Modern } else { Era::Legacy };
        config.request_timeout = Duration::from_secs(self.request_timeout.max(1));
        self.offload.apply(&mut config.common);
        let queue = Arc::new(self.offload.queue_client(&sdk, AwsQueueClient::new(&sdk)));
        let (handle, events) = match asyncmcp_tokio::spawn_client(config, queue) {
            Ok(pair) => pair,
            Err(e) => {
                if let Some(private) = private {
                    remove(private).await;
                }
                return Err(e.into());
            }
        };
        Ok((Connection { handle, server, private }, events))
    }
}

impl Connection {
    /// Closes the session (waiting up to `drain` for pending requests) and deletes
    /// the private reply queue.
    pub(crate) async fn close(self, drain: Duration) {
        self.handle.shutdown(drain).await;
        if let Some(private) = self.private {
            remove(private).await;
        }
    }
}

/// The error of a command ended by a signal.
pub(crate) fn stopped_by(signal: &str) -> CliError {
    CliError::new(format!("stopped by {signal}"))
}

async fn remove(private: ReplyQueue) {
    let url = private.queue_url().to_owned();
    match private.shutdown().await {
        Ok(()) => tracing::debug!("deleted private reply queue {url}"),
        Err(e) => tracing::warn!("could not delete the private reply queue: {}", e.detail),
    }
}

/// A legacy session's handshake: `initialize` as `client_name`, sent and awaited by
/// `ask` (which says, in its error, what went wrong on the way), then
/// `notifications/initialized`.
///
/// # Errors
/// `ask`'s error, the server's JSON-RPC error, or a notification that could not be sent.
pub(crate) async fn initialize<F, Fut>(handle: &ClientHandle, client_name: &str, ask: F) -> CliResult<()>
where
    F: FnOnce(Value) -> Fut,
    Fut: Future<Output = CliResult<JsonRpcMessage>>,
{
    let init = json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": client_name, "version": env!("CARGO_PKG_VERSION")},
    });
    let reply = ask(init).await?;
    result_of(&reply, "initialize")?;
    handle
        .notify("notifications/initialized", None)
        .await
        .map_err(|e| CliError::new(format!("could not send notifications/initialized: {e}")))
}

/// The `result` of a response, or the JSON-RPC error as a [`CliError`].
///
/// # Errors
/// The server answered `method` with a JSON-RPC error.
pub(crate) fn result_of(reply: &JsonRpcMessage, method: &str) -> CliResult<Value> {
    let mut value = reply.to_value();
    if let Some(error) = value.get("error") {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = error.get("message").and_then(Value::as_str).unwrap_or("(no message)");
        let data = error.get("data").map(|d| format!(" data: {d}")).unwrap_or_default();
        return Err(CliError::new(format!("{method} failed: MCP error {code}: {message}{data}")));
    }
    Ok(value.get_mut("result").map(Value::take).unwrap_or(Value::Null))
}
