//! The driver's runtime on async-std and smol: `async-io` timers, the runtime's tasks.

use std::time::Instant;

use asyncmcp_driver::{BoxFuture, Runtime};

fn timer(deadline: Instant) -> BoxFuture<'static, ()> {
    let timer = async_io::Timer::at(deadline);
    Box::pin(async move {
        timer.await;
    })
}

/// The driver's [`Runtime`] on async-std (feature `async-std`).
#[cfg(feature = "async-std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime;

#[cfg(feature = "async-std")]
impl Runtime for AsyncStdRuntime {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        timer(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        // Dropping async-std's JoinHandle detaches the task.
        drop(async_std::task::spawn(task));
    }
}

/// The driver's [`Runtime`] on smol's global executor.
#[cfg(feature = "smol")]
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

#[cfg(feature = "smol")]
impl Runtime for SmolRuntime {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        timer(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        smol::spawn(task).detach();
    }
}
