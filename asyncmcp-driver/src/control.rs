//! Commands from the handles to the event loop, through one bounded channel.

use std::sync::Arc;
use std::time::Duration;

use futures::SinkExt;
use futures::channel::{mpsc, oneshot};

use crate::error::DriverError;

/// Messages from handles to the loop.
pub(crate) enum Control<C> {
    Command(C),
    Shutdown { drain: Duration, done: oneshot::Sender<()> },
}

/// The handles' one sender of commands, shared by every clone of a handle.
///
/// A `futures` channel gives each sender one slot beyond its bound, so a sender cloned
/// per call would let N concurrent calls queue N commands past the bound. One sender
/// behind an async lock keeps the bound: the channel holds `capacity - 1` plus the
/// sender's own slot, and a caller that finds it full waits (holding the lock, so the
/// callers behind it wait in turn) until the loop takes a command.
pub(crate) struct ControlSender<C> {
    tx: Arc<futures::lock::Mutex<mpsc::Sender<Control<C>>>>,
}

impl<C> Clone for ControlSender<C> {
    fn clone(&self) -> Self {
        Self { tx: Arc::clone(&self.tx) }
    }
}

impl<C> ControlSender<C> {
    /// A channel in which at most `capacity` (at least 1) messages wait.
    pub(crate) fn channel(capacity: usize) -> (Self, mpsc::Receiver<Control<C>>) {
        let (tx, rx) = mpsc::channel(capacity.saturating_sub(1));
        (Self { tx: Arc::new(futures::lock::Mutex::new(tx)) }, rx)
    }

    /// Sends `message`, waiting for room.
    ///
    /// # Errors
    /// [`DriverError::Stopped`] when the loop has stopped.
    pub(crate) async fn send(&self, message: Control<C>) -> Result<(), DriverError> {
        let mut tx = self.tx.lock().await;
        tx.send(message).await.map_err(|_| DriverError::Stopped)
    }
}
