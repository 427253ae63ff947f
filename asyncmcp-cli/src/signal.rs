//! Ctrl-C and SIGTERM as one future.

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn terminated() {
    Stop::install().recv().await;
}

/// SIGINT and SIGTERM caught from the moment of [`install`](Self::install): a signal
/// that arrives while the command is still setting up (creating its reply queue) no
/// longer ends the process on the spot but is seen by the next [`recv`](Self::recv),
/// so what was created is deleted.
pub(crate) struct Stop {
    #[cfg(unix)]
    handlers: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Stop {
    /// Replaces the default action of SIGINT and SIGTERM (ending the process) for
    /// the rest of its life.
    pub(crate) fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let handlers = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                (Ok(int), Ok(term)) => Some((int, term)),
                _ => None,
            };
            Self { handlers }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Resolves on the first SIGINT or SIGTERM since [`install`](Self::install);
    /// returns its name.
    pub(crate) async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.handlers {
            return tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
