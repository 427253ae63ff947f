//! The async runtime, abstracted to the three things the driver needs.

use std::future::Future;
use std::pin::Pin;
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

    /// A future that completes at `deadline` (at once if it has passed). The driver
    /// never relies on it alone: it compares [`now`](Self::now) with the deadline
    /// after every wake.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;

    /// Runs `task` in the background until it completes.
    fn spawn(&self, task: BoxFuture<'static, ()>);
}

impl<R: Runtime + ?Sized> Runtime for std::sync::Arc<R> {
    fn now(&self) -> Instant {
        (**self).now()
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
