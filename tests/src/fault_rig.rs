//! The fault tier's pieces on moto: a `work` tool whose answer is a function of its
//! arguments and that counts its runs, a tap that forwards messages between queues
//! with the raw SQS SDK (sending some of them several times, as SQS at-least-once
//! delivery or a client retry would). [`Relay`](crate::relay::Relay) cuts a link;
//! [`sdk_config_for`](crate::moto::sdk_config_for) points an SDK client at it.
//!
//! `tests/tests/moto_faults.rs` and `examples/chaos.rs` use them to check the
//! library's promise: every request ends in exactly one outcome, a response is the
//! answer to its own request, and a redelivered request is never run twice.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use asyncmcp_proto::JsonRpcMessage;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use tokio::sync::watch;

/// The answer the `work` tool gives for `key`: the key and a 64-bit FNV-1a hash of
/// it, so an answer that belongs to another request is caught.
pub fn answer(key: &str) -> String {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{key}:{hash:016x}")
}

/// The `params` of a `tools/call` of `work` with `key` that runs `ms` milliseconds.
pub fn work_params(key: &str, ms: u64) -> serde_json::Value {
    serde_json::json!({"name": "work", "arguments": {"key": key, "ms": ms}})
}

/// The text of a `tools/call` response's content, or the error it carries.
///
/// # Errors
/// The JSON-RPC error object (as text) when the response is an error, or a note when
/// it has no text content.
pub fn result_text(response: &JsonRpcMessage) -> Result<String, String> {
    let value = response.to_value();
    if let Some(error) = value.get("error") {
        return Err(error.to_string());
    }
    let content = value["result"]["content"].as_array().ok_or_else(|| format!("no content in {value}"))?;
    Ok(content.iter().filter_map(|c| c["text"].as_str()).collect())
}

/// Counts the `work` tool's runs per key; with a file, also appends each key as a
/// line there as the run starts (so runs survive a `kill -9` of the process).
#[derive(Debug, Clone, Default)]
pub struct RunLog {
    inner: Arc<Mutex<RunLogInner>>,
}

#[derive(Debug, Default)]
struct RunLogInner {
    runs: BTreeMap<String, usize>,
    file: Option<std::fs::File>,
}

impl RunLog {
    /// A log that appends to `path` as well (created if missing).
    ///
    /// # Errors
    /// When the file cannot be opened for appending.
    pub fn to_file(path: &Path) -> std::io::Result<RunLog> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(RunLog { inner: Arc::new(Mutex::new(RunLogInner { runs: BTreeMap::new(), file: Some(file) })) })
    }

    /// Records a run of `key`.
    pub fn record(&self, key: &str) {
        let mut inner = self.lock();
        *inner.runs.entry(key.to_owned()).or_default() += 1;
        if let Some(file) = inner.file.as_mut() {
            // One write per line, so lines of a killed process are whole or absent.
            let _ = file.write_all(format!("{key}\n").as_bytes());
        }
    }

    /// How many times `key` ran.
    pub fn runs(&self, key: &str) -> usize {
        self.lock().runs.get(key).copied().unwrap_or(0)
    }

    /// Runs of every key.
    pub fn all(&self) -> BTreeMap<String, usize> {
        self.lock().runs.clone()
    }

    /// Runs started so far, all keys together.
    pub fn total(&self) -> usize {
        self.lock().runs.values().sum()
    }

    /// Runs per key as recorded in a file written by [`to_file`](Self::to_file) logs
    /// (of any number of processes).
    pub fn read_file(path: &Path) -> BTreeMap<String, usize> {
        let mut runs = BTreeMap::new();
        for line in std::fs::read_to_string(path).unwrap_or_default().lines().filter(|l| !l.is_empty()) {
            *runs.entry(line.to_owned()).or_default() += 1;
        }
        runs
    }

    fn lock(&self) -> MutexGuard<'_, RunLogInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The arguments of the `work` tool.
#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct WorkArgs {
    /// What to answer about (the answer is [`answer`] of it).
    pub key: String,
    /// How long to run, in milliseconds.
    #[serde(default)]
    pub ms: u64,
}

/// An rmcp server with one tool, `work`, that records its run in a [`RunLog`], runs
/// `ms` milliseconds and answers [`answer`]`(key)`.
#[derive(Debug, Clone, Default)]
pub struct WorkTools {
    /// The runs of every handler cloned from this one.
    pub runs: RunLog,
}

#[tool_router]
impl WorkTools {
    #[tool(description = "Run for `ms` milliseconds, then answer a function of `key`")]
    async fn work(&self, Parameters(WorkArgs { key, ms }): Parameters<WorkArgs>) -> String {
        self.runs.record(&key);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        answer(&key)
    }
}

#[tool_handler]
impl ServerHandler for WorkTools {}

/// A message the [`Tap`] forwarded.
#[derive(Debug, Clone)]
pub struct Tapped {
    /// Its body.
    pub body: String,
    /// Its message attributes, as received and as sent on.
    pub attributes: HashMap<String, MessageAttributeValue>,
    /// How many copies went on.
    pub copies: usize,
}

/// Forwards every message of one queue to another with the raw SQS SDK, with the
/// same body and message attributes, as many times as `copies` says for its body
/// (copies of one message go in one `SendMessageBatch`, so they arrive together);
/// then deletes it. Runs on the current tokio runtime until stopped.
#[derive(Debug)]
pub struct Tap {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    seen: Arc<Mutex<Vec<Tapped>>>,
}

impl Tap {
    /// Starts forwarding from the queue `from` to the queue `to`.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(
        sqs: aws_sdk_sqs::Client,
        from: String,
        to: String,
        copies: impl Fn(&str) -> usize + Send + Sync + 'static,
    ) -> Tap {
        let (stop, mut stopped) = watch::channel(false);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while !*stopped.borrow() {
                let received = tokio::select! {
                    received = sqs.receive_message().queue_url(&from).wait_time_seconds(1)
                        .max_number_of_messages(10).message_attribute_names("All").send() => received,
                    _ = stopped.changed() => break,
                };
                let Ok(received) = received else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                for message in received.messages() {
                    let body = message.body().unwrap_or_default().to_owned();
                    let attributes = message.message_attributes().cloned().unwrap_or_default();
                    let n = copies(&body).clamp(1, 10);
                    forward(&sqs, &to, &body, &attributes, n).await;
                    if let Some(receipt) = message.receipt_handle() {
                        let _ = sqs.delete_message().queue_url(&from).receipt_handle(receipt).send().await;
                    }
                    record.lock().unwrap_or_else(PoisonError::into_inner).push(Tapped { body, attributes, copies: n });
                }
            }
        });
        Tap { stop, task, seen }
    }

    /// What was forwarded so far.
    pub fn seen(&self) -> Vec<Tapped> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops forwarding (after the message in hand) and waits for the task.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Sends `n` copies of one message to `to`, retrying a failed call a few times.
async fn forward(
    sqs: &aws_sdk_sqs::Client,
    to: &str,
    body: &str,
    attributes: &HashMap<String, MessageAttributeValue>,
    n: usize,
) {
    let mut entries: Vec<SendMessageBatchRequestEntry> = (0..n)
        .filter_map(|i| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("copy{i}"))
                .message_body(body)
                .set_message_attributes(Some(attributes.clone()))
                .build()
                .ok()
        })
        .collect();
    for _ in 0..5 {
        let sent = sqs.send_message_batch().queue_url(to).set_entries(Some(entries.clone())).send().await;
        if let Ok(out) = sent {
            // Only the copies that failed are sent again: never more than `n` in all.
            entries.retain(|e| out.successful().iter().all(|ok| ok.id() != e.id()));
        }
        if entries.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("tap: could not forward a message to {to}");
}
