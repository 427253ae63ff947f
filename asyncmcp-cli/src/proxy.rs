//! `asyncmcp proxy`: a stdio MCP server for desktop clients that forwards every
//! message to a queue-hosted server and every reply back.
//!
//! stdin lines (JSON-RPC) go to `ClientHandle::submit`; `ClientEvent::Message` goes to
//! stdout as one line; a request that times out or cannot be sent is answered on
//! stdout with a JSON-RPC error for its id, so the desktop client never hangs.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncmcp_tokio::DriverError;
use asyncmcp_tokio::proto::{ClientEvent, JsonRpcMessage, MessageKind, RequestId, error_codes};
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::error::{CliError, CliResult};
use crate::reply::ClientArgs;

/// A JSON-RPC error code for "the queue-hosted server did not answer in time".
pub(crate) const REQUEST_TIMEOUT: i64 = -32001;

const AFTER_HELP: &str = "\
Examples:
  asyncmcp proxy --server-queue-url $QUEUE
  asyncmcp proxy --transport sns-sqs --server-topic-arn arn:aws:sns:us-east-1:1234:weather-requests

In a desktop client's MCP configuration (Claude Desktop and others):
  \"weather\": { \"command\": \"asyncmcp\",
               \"args\": [\"proxy\", \"--server-queue-url\", \"https://sqs...\"] }

stdout carries only MCP messages; logs go to stderr (RUST_LOG). Without --reply-queue-url a
private reply queue (and for sns-sqs a topic) is created, and deleted when stdin closes or
on Ctrl-C / SIGTERM. A request with no answer in time gets a JSON-RPC error (-32001); when
stdin closes, requests still unanswered after --drain seconds get one too and the proxy exits 0.";

/// The options of `asyncmcp proxy`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct ProxyArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Seconds to wait for pending responses once stdin closes; requests still
    /// unanswered then get a JSON-RPC error on stdout.
    #[arg(long, default_value_t = 2, value_name = "SECS")]
    drain: u64,
}

/// Runs the proxy until stdin closes or a signal arrives.
pub(crate) async fn run(args: ProxyArgs) -> CliResult<ExitCode> {
    let mut stop = crate::signal::Stop::install();
    let (connection, mut events) = args.client.connect_or_stop("proxy", &mut stop).await?;
    tracing::info!("proxy ready: forwarding stdin to {}", connection.server);
    let handle = connection.handle.clone();
    let (out_tx, out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(write_stdout(out_rx));

    // The ids of requests sent and not yet answered, to answer them when the
    // proxy ends first.
    let pending = Pending::default();

    // Events → stdout.
    let event_out = out_tx.clone();
    let answered = pending.clone();
    let mut events_task = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            answered.settle(&event);
            if let Some(line) = event_line(event)
                && event_out.send(line).is_err()
            {
                break;
            }
        }
    });

    // stdin → the queue.
    let stdin_task = async {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => forward(&handle, &line, &out_tx, &pending).await,
                Ok(None) => {
                    tracing::info!("stdin closed: shutting down");
                    break;
                }
                Err(e) => {
                    tracing::warn!("reading stdin failed ({e}): shutting down");
                    break;
                }
            }
        }
    };
    // The client driver ends its events only when it stopped by itself (a fatal
    // failure of the reply queue): the proxy ends too, and says why.
    let mut driver_stopped = false;
    let drain = tokio::select! {
        () = stdin_task => Duration::from_secs(args.drain),
        signal = stop.recv() => {
            tracing::info!("{signal} received: shutting down");
            Duration::ZERO
        }
        _ = &mut events_task => {
            driver_stopped = true;
            Duration::ZERO
        }
    };
    let failure = handle.failure();
    connection.close(drain).await;
    // Replies that came during the drain are still on their way to stdout.
    if !driver_stopped && tokio::time::timeout(Duration::from_millis(200), &mut events_task).await.is_err() {
        events_task.abort();
    }
    for id in pending.take() {
        let message = "asyncmcp proxy: stopped before the queue-hosted server answered";
        let _ = out_tx.send(JsonRpcMessage::error(id, error_codes::INTERNAL_ERROR, message, None).as_str().to_owned());
    }
    drop(out_tx);
    let _ = writer.await;
    match failure {
        Some(failure) => Err(CliError::new(format!("proxy: {}", failure.detail))),
        None if driver_stopped => Err(CliError::new("proxy: the client driver stopped")),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Requests forwarded and not answered yet (shared by the stdin and event tasks).
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<BTreeSet<RequestId>>>);

impl Pending {
    fn add(&self, id: RequestId) {
        self.lock().insert(id);
    }

    fn remove(&self, id: &RequestId) {
        self.lock().remove(id);
    }

    /// Forgets the request `event` ends: its response, timeout or send failure.
    fn settle(&self, event: &ClientEvent) {
        match event {
            ClientEvent::Message(m) if matches!(m.kind(), MessageKind::Response | MessageKind::Error) => {
                if let Some(id) = m.id() {
                    self.remove(id);
                }
            }
            ClientEvent::RequestTimedOut { id } | ClientEvent::SendFailed { id: Some(id), .. } => self.remove(id),
            _ => {}
        }
    }

    /// The ids still pending, forgotten.
    fn take(&self) -> BTreeSet<RequestId> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<RequestId>> {
        // A poisoned set still holds valid ids.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Writes lines to stdout, one message per line, flushed each time.
async fn write_stdout(mut lines: mpsc::UnboundedReceiver<String>) {
    let mut stdout = tokio::io::stdout();
    while let Some(mut line) = lines.recv().await {
        line.push('\n');
        if let Err(e) = stdout.write_all(line.as_bytes()).await {
            tracing::warn!("writing to stdout failed: {e}");
            return;
        }
        let _ = stdout.flush().await;
    }
}

/// Sends one stdin line to the server; a line that cannot be sent is answered on
/// stdout (when it was a request) so the desktop client does not wait for it.
async fn forward(
    handle: &asyncmcp_tokio::ClientHandle,
    line: &str,
    out: &mpsc::UnboundedSender<String>,
    pending: &Pending,
) {
    if line.trim().is_empty() {
        return;
    }
    let message = match JsonRpcMessage::parse(line.trim().as_bytes().to_vec()) {
        Ok(message) => message,
        Err(e) => {
            tracing::warn!("stdin: not a JSON-RPC message ({e}): {line}");
            let error = serde_json::json!({
                "jsonrpc": "2.0", "id": null,
                "error": {"code": error_codes::PARSE_ERROR, "message": format!("asyncmcp proxy: not a JSON-RPC message: {e}")},
            });
            let _ = out.send(error.to_string());
            return;
        }
    };
    tracing::debug!(method = message.method(), id = ?message.id(), "stdin -> queue");
    let id = (message.kind() == MessageKind::Request).then(|| message.id().cloned()).flatten();
    if let Some(id) = &id {
        pending.add(id.clone());
    }
    match handle.submit(message).await {
        Ok(()) => {}
        Err(e) => {
            if let Some(id) = &id {
                pending.remove(id);
            }
            let detail = match &e {
                DriverError::Api(api) => format!("asyncmcp proxy could not send the request: {api}"),
                _ => "asyncmcp proxy: the queue client has stopped".to_owned(),
            };
            tracing::warn!("{detail}");
            if let Some(id) = id {
                let _ =
                    out.send(JsonRpcMessage::error(id, error_codes::INTERNAL_ERROR, &detail, None).as_str().to_owned());
            }
        }
    }
}

/// The stdout line for a client event, if it has one.
fn event_line(event: ClientEvent) -> Option<String> {
    match event {
        ClientEvent::Message(message) => Some(message.as_str().to_owned()),
        ClientEvent::RequestTimedOut { id } => {
            tracing::warn!(%id, "no response from the server in time");
            Some(timeout_error(id).as_str().to_owned())
        }
        ClientEvent::SendFailed { id, method, error } => {
            tracing::error!(method = method.as_deref(), "could not send to the server: {}", error.detail);
            id.map(|id| {
                let message = format!("asyncmcp proxy could not send the request to the server: {}", error.detail);
                JsonRpcMessage::error(id, error_codes::INTERNAL_ERROR, &message, None).as_str().to_owned()
            })
        }
        ClientEvent::LateResponse(message) => {
            tracing::info!(id = ?message.id(), "dropped a response that came after its request ended");
            None
        }
        ClientEvent::SessionOpened { session_id } => {
            tracing::info!(%session_id, "session opened");
            None
        }
        ClientEvent::SessionClosed { reason } => {
            tracing::info!(?reason, "session closed");
            None
        }
        ClientEvent::Rejected(rejection) => {
            tracing::warn!(message_id = %rejection.message_id, "dropped a reply: {}", rejection.reason);
            None
        }
        ClientEvent::AckFailed { message_id, error } => {
            tracing::warn!(%message_id, "could not delete a reply: {}", error.detail);
            None
        }
        other => {
            tracing::debug!(?other, "client event");
            None
        }
    }
}

fn timeout_error(id: RequestId) -> JsonRpcMessage {
    JsonRpcMessage::error(
        id,
        REQUEST_TIMEOUT,
        "asyncmcp proxy: no response from the queue-hosted server in time; check that `asyncmcp serve` is running on the server queue (or raise --request-timeout)",
        None,
    )
}
