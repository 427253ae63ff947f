//! What `serve` has done, printed on SIGUSR1 and at exit: the requests it answered
//! (and how many with an error), and the SQS/SNS calls it made with what AWS bills
//! for them.

use std::sync::atomic::{AtomicU64, Ordering};

use asyncmcp_tokio::proto::MessageKind;
use asyncmcp_tokio::{ServerHandle, StatsSnapshot};

/// Responses sent to clients (results and errors).
static ANSWERED: AtomicU64 = AtomicU64::new(0);
/// Of those, errors.
static ERRORS: AtomicU64 = AtomicU64::new(0);

/// Counts a message `serve` sent to a client.
pub(crate) fn sent(kind: MessageKind) {
    match kind {
        MessageKind::Response => {
            ANSWERED.fetch_add(1, Ordering::Relaxed);
        }
        MessageKind::Error => {
            ANSWERED.fetch_add(1, Ordering::Relaxed);
            ERRORS.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// One line: requests answered, errors, API calls by kind and billed requests.
pub(crate) fn line(stats: &StatsSnapshot) -> String {
    format!(
        "requests answered {} (errors {}); SQS/SNS calls {} (receives {}, sends {}, publishes {}, deletes {}, \
         visibility changes {}, failed {}); billed requests {}; sessions {}, in flight {}",
        ANSWERED.load(Ordering::Relaxed),
        ERRORS.load(Ordering::Relaxed),
        stats.total_calls(),
        stats.receives,
        stats.sends + stats.send_batches,
        stats.publishes + stats.publish_batches,
        stats.deletes + stats.delete_batches,
        stats.visibility_changes + stats.visibility_batches,
        stats.failed_calls,
        stats.billed_units,
        stats.sessions,
        stats.in_flight,
    )
}

/// Prints the counters on stderr at every SIGUSR1, until the process ends.
pub(crate) async fn on_usr1(handle: ServerHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
            tracing::warn!("cannot listen for SIGUSR1: the counters are printed at exit only");
            return std::future::pending().await;
        };
        while usr1.recv().await.is_some() {
            eprintln!("asyncmcp serve: {}", line(&handle.stats()));
        }
    }
    #[cfg(not(unix))]
    {
        let _ = handle;
        std::future::pending::<()>().await;
    }
}
