//! The driver's runtime on async-std and smol: `async-io` timers, the runtime's tasks.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use asyncmcp_driver::{AsyncTimer, BoxFuture, Runtime};

fn timer(deadline: Instant) -> BoxFuture<'static, ()> {
    let timer = async_io::Timer::at(deadline);
    Box::pin(async move {
        timer.await;
    })
}

/// `async_io::Timer`, moved by `Timer::set_at` (it is `Unpin`).
struct Timer(async_io::Timer);

impl AsyncTimer for Timer {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.get_mut().0.set_at(deadline);
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx).map(|_| ())
    }
}

fn new_timer(deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
    Box::pin(Timer(async_io::Timer::at(deadline)))
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

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        new_timer(deadline)
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

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        new_timer(deadline)
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        timer(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        smol::spawn(task).detach();
    }
}
