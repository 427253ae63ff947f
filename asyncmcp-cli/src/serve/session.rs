//! Legacy sessions (2025-11-25 and earlier): one child per session, run by the
//! session's fan-out task. Everything of the session flows through unchanged, both
//! ways; the child ends when the session closes, and the session closes when the
//! child exits (its pending requests are answered with errors that say so).

use std::collections::BTreeSet;

use asyncmcp_tokio::fanout::Session;
use asyncmcp_tokio::proto::{JsonRpcMessage, MessageKind, RequestId, error_codes};
use serde_json::json;
use tokio::sync::mpsc;

use super::child::{Child, ChildId, ChildOutput, CommandSpec};
use super::{CHILD_GRACE, submit};

/// Serves `session` with a child running `spec` until either ends.
pub(crate) async fn serve(spec: CommandSpec, mut session: Session) {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let label = format!("session {}", short(&session));
    let child = match Child::spawn(ChildId::next(), &spec, label, out_tx) {
        Ok(child) => child,
        Err(e) => {
            let why = format!("asyncmcp serve could not start the MCP server `{}`: {e}", spec.display());
            tracing::error!("{why}");
            // Answer the session's `initialize`; returning then closes the session.
            if let Some(message) = session.recv().await
                && let Some(id) = request_id(&message)
            {
                reply_error(&session, id, &why).await;
            }
            return;
        }
    };
    tracing::info!(pid = child.pid, "session {}: started `{}`", session.id(), spec.display());
    // Client requests forwarded to the child and not yet answered.
    let mut pending = BTreeSet::new();
    loop {
        tokio::select! {
            message = session.recv() => match message {
                Some(message) => {
                    if let Some(id) = request_id(&message) {
                        pending.insert(id);
                    }
                    // Waits while the process is not reading: the session's inbox
                    // then fills and the fan-out refuses what does not fit.
                    child.write(message.as_str()).await;
                }
                None => {
                    child.close(CHILD_GRACE);
                    return;
                }
            },
            output = out_rx.recv() => match output {
                Some(ChildOutput::Line(_, line)) => {
                    let message = match JsonRpcMessage::parse(line.clone().into_bytes()) {
                        Ok(message) => message,
                        Err(e) => {
                            tracing::warn!("session {}: the MCP server wrote a line that is not JSON-RPC ({e}): {line}", short(&session));
                            continue;
                        }
                    };
                    if message.kind().is_reply() && let Some(id) = message.id() {
                        pending.remove(id);
                    }
                    send(&session, message).await;
                }
                Some(ChildOutput::Exited(_, how)) => {
                    child_exited(&spec, &session, child.pid, &how, pending).await;
                    return;
                }
                None => return,
            },
        }
    }
}

/// The session's child exited while the session was open: its pending requests get
/// errors, and returning closes the session (later requests get "session not found").
async fn child_exited(
    spec: &CommandSpec,
    session: &Session,
    pid: Option<u32>,
    how: &str,
    pending: BTreeSet<RequestId>,
) {
    let pid = pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
    tracing::error!(
        "session {}: the MCP server `{}` (pid {pid}) exited ({how}) with {} request(s) pending; closing the session",
        session.id(),
        spec.display(),
        pending.len()
    );
    let text = format!(
        "the MCP server process `{}` (pid {pid}) exited ({how}) while handling this request; the session is closed",
        spec.display()
    );
    for id in pending {
        reply_error(session, id, &text).await;
    }
}

/// Sends the child's `message` on the session: through [`Session::send`], so its
/// `initialize` and `tools/list` answers announce the tasks the bridge offers
/// (`--task-tool`).
async fn send(session: &Session, message: JsonRpcMessage) {
    let (id, kind) = (message.id().cloned(), message.kind());
    match session.send(message).await {
        Ok(()) => super::counters::sent(kind),
        Err(e) => tracing::warn!(route = %session.route(), id = ?id, "could not send to the client: {e}"),
    }
}

async fn reply_error(session: &Session, id: RequestId, text: &str) {
    let data = Some(json!({"source": "asyncmcp serve"}));
    submit(session.handle(), session.route(), JsonRpcMessage::error(id, error_codes::INTERNAL_ERROR, text, data)).await;
}

/// The id of a client request.
fn request_id(message: &JsonRpcMessage) -> Option<RequestId> {
    (message.kind() == MessageKind::Request).then(|| message.id().cloned()).flatten()
}

fn short(session: &Session) -> String {
    session.id().to_string().chars().take(8).collect()
}
