//! The stream of events a running client or server hands the application.

use futures::StreamExt;
use futures::channel::mpsc;

/// Events of a running client ([`ClientEvents`](crate::ClientEvents)) or server
/// ([`ServerEvents`](crate::ServerEvents)), in the order the state machine produced
/// them.
///
/// The channel behind it is bounded by
/// [`DriverConfig::event_capacity`](crate::DriverConfig::event_capacity): while it is
/// full the driver stops receiving, so an application that reads slowly slows the
/// queue down instead of losing events.
#[derive(Debug)]
pub struct Events<E> {
    rx: mpsc::Receiver<E>,
}

impl<E> Events<E> {
    pub(crate) fn new(rx: mpsc::Receiver<E>) -> Self {
        Self { rx }
    }

    /// The next event; `None` once the driver stopped.
    pub async fn next(&mut self) -> Option<E> {
        self.rx.next().await
    }

    /// The underlying stream.
    pub fn into_stream(self) -> mpsc::Receiver<E> {
        self.rx
    }
}
