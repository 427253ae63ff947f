//! What `serve` has done, printed on SIGUSR1 and at exit: the requests it answered
//! (and how many with an error), and the SQS/SNS calls it made with what AWS bills
//! for them, and with S3 offload the S3 calls.

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

/// One line: requests answered, errors, API calls by kind and billed requests, and
/// the S3 calls when `offload` is on or any were made.
pub(crate) fn line(stats: &StatsSnapshot, offload: bool) -> String {
    let s3 = if offload || stats.s3_puts + stats.s3_gets + stats.s3_deletes > 0 {
        format!("; S3 puts {}, gets {}, deletes {}", stats.s3_puts, stats.s3_gets, stats.s3_deletes)
    } else {
        String::new()
    };
    format!(
        "requests answered {} (errors {}); SQS/SNS calls {} (receives {}, sends {}, publishes {}, deletes {}, \
         visibility changes {}, failed {}); billed requests {}; sessions {}, in flight {}{s3}",
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
pub(crate) async fn on_usr1(handle: ServerHandle, offload: bool) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
            tracing::warn!("cannot listen for SIGUSR1: the counters are printed at exit only");
            return std::future::pending().await;
        };
        while usr1.recv().await.is_some() {
            eprintln!("asyncmcp serve: {}", line(&handle.stats(), offload));
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (handle, offload);
        std::future::pending::<()>().await;
    }
}
