//! `BENCH_TRACE=1`: a [`QueueClient`] wrapper for the bench examples that writes one
//! stderr line per queue call, so a request that ran twice can be told apart:
//! two message ids for one JSON-RPC id (a duplicate send), or one message id
//! received twice (a redelivery; its receive count and times say whether the first
//! receiver's visibility had run out).
//!
//! Lines: `TRACE <unix ms> <pid> <WHAT> key=value...`, WHAT one of `RECV` (per message:
//! `mid rc sent rid method`), `SEND+`/`SEND-` (before and after a send: `rid result`),
//! `VIS+`/`VIS-` and `DEL+`/`DEL-` (before and after: `mid secs result`).
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use asyncmcp_tokio::proto::{Address, InboundMessage, OpFailure, OpId, OpKind, OpResult, QueueOp};
use asyncmcp_tokio::{BoxFuture, ObjectCalls, QueueClient, ReceiveRequest};

/// Whether `BENCH_TRACE` is set (to anything but empty or `0`).
pub(crate) fn enabled() -> bool {
    std::env::var("BENCH_TRACE").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

fn line(what: &str, rest: &str) {
    eprintln!("TRACE {} {} {what} {rest}", now_ms(), std::process::id());
}

/// The JSON-RPC `id` and `method` of a body (`-` when absent).
fn rid(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => (
            v.get("id").map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            v.get("method").and_then(|m| m.as_str()).unwrap_or("-").to_owned(),
        ),
        Err(_) => ("?".into(), "?".into()),
    }
}

fn result(r: &OpResult) -> String {
    match r {
        OpResult::Ok => "ok".into(),
        OpResult::Failed(f) => format!("{f:?}").replace(' ', "_"),
        other => format!("{other:?}").replace(' ', "_"),
    }
}

/// The wrapper.
pub(crate) struct Traced<Q> {
    inner: Arc<Q>,
    /// Receipt handle -> message id, to name the message of a delete or visibility change.
    handles: Arc<Mutex<HashMap<String, String>>>,
}

impl<Q> Traced<Q> {
    pub(crate) fn new(inner: Arc<Q>) -> Self {
        Self { inner, handles: Arc::default() }
    }

    fn describe(&self, op: &QueueOp) -> (&'static str, String) {
        let mid = |h: &str| self.handles.lock().map(|m| m.get(h).cloned()).ok().flatten().unwrap_or_else(|| "?".into());
        match &op.kind {
            OpKind::Send(s) => {
                let (id, method) = rid(&s.body);
                ("SEND", format!("op={:?} rid={id} method={method}", op.id))
            }
            OpKind::ChangeVisibility { receipt_handle, timeout_secs, .. } => {
                ("VIS", format!("op={:?} mid={} secs={}", op.id, mid(receipt_handle), timeout_secs))
            }
            OpKind::Delete { receipt_handle, .. } => ("DEL", format!("op={:?} mid={}", op.id, mid(receipt_handle))),
            other => ("OP", format!("op={:?} {:?}", op.id, std::mem::discriminant(other))),
        }
    }
}

impl<Q: QueueClient> QueueClient for Traced<Q> {
    fn receive(&self, request: ReceiveRequest) -> BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>> {
        let fut = self.inner.receive(request);
        let handles = self.handles.clone();
        Box::pin(async move {
            let r = fut.await;
            if let Ok(messages) = &r {
                for m in messages {
                    let (id, method) = rid(&m.body);
                    if let Ok(mut h) = handles.lock() {
                        h.insert(m.receipt_handle.clone(), m.message_id.clone());
                    }
                    line(
                        "RECV",
                        &format!(
                            "mid={} rc={} sent={} rid={id} method={method}",
                            m.message_id,
                            m.receive_count,
                            m.sent_timestamp_ms.unwrap_or(0)
                        ),
                    );
                }
            }
            r
        })
    }

    fn execute(&self, op: QueueOp) -> BoxFuture<'static, OpResult> {
        let (what, desc) = self.describe(&op);
        line(&format!("{what}+"), &desc);
        let fut = self.inner.execute(op);
        Box::pin(async move {
            let r = fut.await;
            line(&format!("{what}-"), &format!("{desc} result={}", result(&r)));
            r
        })
    }

    fn execute_batch(&self, ops: Vec<QueueOp>) -> BoxFuture<'static, Vec<(OpId, OpResult)>> {
        let descs: HashMap<OpId, (&'static str, String)> = ops.iter().map(|op| (op.id, self.describe(op))).collect();
        for (what, desc) in descs.values() {
            line(&format!("{what}+"), &format!("{desc} batch={}", descs.len()));
        }
        let fut = self.inner.execute_batch(ops);
        Box::pin(async move {
            let results = fut.await;
            for (id, r) in &results {
                if let Some((what, desc)) = descs.get(id) {
                    line(&format!("{what}-"), &format!("{desc} result={}", result(r)));
                }
            }
            results
        })
    }

    fn max_message_bytes(&self, destination: &Address) -> BoxFuture<'static, Result<Option<usize>, OpFailure>> {
        self.inner.max_message_bytes(destination)
    }

    fn batches(&self) -> bool {
        self.inner.batches()
    }

    fn object_calls(&self) -> ObjectCalls {
        self.inner.object_calls()
    }
}
