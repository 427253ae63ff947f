//! The async runtime, abstracted to the three things the driver needs: a clock, a
//! timer and a way to run a task.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// A boxed, `Send` future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the driver needs from an async runtime: a clock, a timer and a way to run a
/// task in the background. `asyncmcp-tokio` and `asyncmcp-async-std` implement it;
/// implementing it for another runtime takes a few lines.
pub trait Runtime: Send + Sync + 'static {
    /// The current instant on the runtime's clock. Runtimes with a test clock (tokio's
    /// paused time) return that clock's instant, so simulated time reaches the core.
    fn now(&self) -> Instant;

    /// A timer that expires at `deadline`, on the clock of [`now`](Self::now). The
    /// driver keeps one for its whole life and [resets](AsyncTimer::reset) it only
    /// when its next deadline moves.
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>>;

    /// A future that completes at `deadline` (at once if it has passed): a
    /// [`new_timer`](Self::new_timer) awaited once.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let mut timer = self.new_timer(deadline);
        Box::pin(futures::future::poll_fn(move |cx| timer.as_mut().poll(cx)))
    }

    /// Runs `task` in the background until it completes.
    fn spawn(&self, task: BoxFuture<'static, ()>);
}

/// A timer that can be moved: tokio's `Sleep::reset`, async-io's `Timer::set_at`.
///
/// The driver never trusts it alone to report a deadline that has already passed
/// (tokio's cooperative budget can hold back an elapsed `Sleep`): it compares
/// [`Runtime::now`] with the deadline on every turn and polls the timer only for a
/// deadline still ahead.
pub trait AsyncTimer: Send + 'static {
    /// Moves the timer to expire at `deadline`, whether or not it has expired before.
    fn reset(self: Pin<&mut Self>, deadline: Instant);

    /// Ready once the deadline has passed; otherwise registers `cx`'s waker.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

impl<R: Runtime + ?Sized> Runtime for std::sync::Arc<R> {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        (**self).new_timer(deadline)
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        (**self).sleep_until(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        (**self).spawn(task)
    }
}

/// Boxes a future for [`Runtime::spawn`].
pub fn boxed<F: Future<Output = ()> + Send + 'static>(f: F) -> BoxFuture<'static, ()> {
    Box::pin(f)
}
