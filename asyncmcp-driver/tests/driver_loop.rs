//! The event loop on a hand-driven runtime: the test polls the driver task itself, moves
//! the clock by hand, and counts what the loop asks of the runtime's timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use asyncmcp_driver::{
    AsyncTimer, BoxFuture, ClientEvents, ClientHandle, DriverConfig, QueueClient, ReceiveRequest, RequestError,
    Runtime, spawn_client,
};
use asyncmcp_proto::{Address, ClientConfig, Era, InboundMessage, OpFailure, OpResult, QueueOp, RequestId};

/// A runtime whose clock moves only when the test says so, whose spawned task the test
/// polls itself, and whose timers never fire on their own: a runtime timer that does
/// not report an expired deadline is the trap the loop must not fall into.
#[derive(Clone, Default)]
struct Manual {
    inner: Arc<ManualInner>,
}

#[derive(Default)]
struct ManualInner {
    elapsed: Mutex<Duration>,
    task: Mutex<Option<BoxFuture<'static, ()>>>,
    /// Timers the loop created.
    created: AtomicUsize,
    /// Resets of those timers.
    resets: AtomicUsize,
}

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Manual {
    fn advance(&self, by: Duration) {
        *self.inner.elapsed.lock().unwrap() += by;
    }

    /// Polls the driver task once; true once it has ended.
    fn turn(&self) -> bool {
        let mut task = self.inner.task.lock().unwrap();
        let Some(fut) = task.as_mut() else { return true };
        let done = poll_once(fut.as_mut()).is_ready();
        if done {
            *task = None;
        }
        done
    }

    /// (timers created, resets) so far.
    fn timers(&self) -> (usize, usize) {
        (self.inner.created.load(Ordering::SeqCst), self.inner.resets.load(Ordering::SeqCst))
    }
}

impl Runtime for Manual {
    fn now(&self) -> Instant {
        epoch() + *self.inner.elapsed.lock().unwrap()
    }

    fn new_timer(&self, _deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        self.inner.created.fetch_add(1, Ordering::SeqCst);
        Box::pin(NeverFires(Arc::clone(&self.inner)))
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        *self.inner.task.lock().unwrap() = Some(task);
    }
}

/// A timer that counts its resets and never fires.
struct NeverFires(Arc<ManualInner>);

impl AsyncTimer for NeverFires {
    fn reset(self: Pin<&mut Self>, _deadline: Instant) {
        self.0.resets.fetch_add(1, Ordering::SeqCst);
    }

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

/// A queue whose long polls never return and whose calls succeed at once; it counts
/// the operations it performed.
#[derive(Default)]
struct Quiet {
    executed: AtomicUsize,
}

impl QueueClient for Quiet {
    fn receive(&self, _request: ReceiveRequest) -> BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>> {
        Box::pin(futures::future::pending())
    }

    fn execute(&self, _op: QueueOp) -> BoxFuture<'static, OpResult> {
        self.executed.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { OpResult::Ok })
    }
}

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
}

fn client(runtime: &Manual, queue: &Arc<Quiet>, driver: DriverConfig) -> (ClientHandle, ClientEvents) {
    let mut config = ClientConfig::new(
        Address::Queue("http://q/server".into()),
        Address::Queue("http://q/me".into()),
        "http://q/me",
        "t",
    );
    config.era = Era::Modern;
    config.request_timeout = Duration::from_secs(5);
    spawn_client(config, runtime.clone(), Arc::clone(queue), driver).unwrap()
}

/// Cancels a request nobody sent: a command that wakes the loop and changes no
/// deadline.
fn nudge(runtime: &Manual, handle: &ClientHandle) {
    let mut cancel = Box::pin(handle.cancel(RequestId::Number(999), None));
    assert!(matches!(poll_once(cancel.as_mut()), Poll::Ready(Ok(()))), "the command is queued");
    runtime.turn();
}

#[test]
fn turns_with_an_unchanged_deadline_ask_for_no_new_timer() {
    let (runtime, queue) = (Manual::default(), Arc::new(Quiet::default()));
    let (handle, _events) = client(&runtime, &queue, DriverConfig::default());
    let mut call = Box::pin(handle.call("tools/list", None));
    assert!(poll_once(call.as_mut()).is_pending());
    runtime.turn();
    assert_eq!(queue.executed.load(Ordering::SeqCst), 1, "the request went out");
    assert_eq!(runtime.timers(), (1, 0), "one timer, set to the request's deadline");

    for _ in 0..5 {
        nudge(&runtime, &handle);
    }

    assert_eq!(runtime.timers(), (1, 0), "five turns, the same deadline: the same timer, untouched");
    assert!(poll_once(call.as_mut()).is_pending(), "the request is still waiting");
}

#[test]
fn a_deadline_that_moves_resets_the_one_timer() {
    let (runtime, queue) = (Manual::default(), Arc::new(Quiet::default()));
    let (handle, _events) = client(&runtime, &queue, DriverConfig::default());
    let mut first = Box::pin(handle.call("tools/list", None));
    assert!(poll_once(first.as_mut()).is_pending());
    runtime.turn();
    runtime.advance(Duration::from_secs(6));
    nudge(&runtime, &handle);
    assert!(poll_once(first.as_mut()).is_ready(), "the first request timed out");

    let mut second = Box::pin(handle.call("tools/list", None));
    assert!(poll_once(second.as_mut()).is_pending());
    runtime.turn();

    let (created, resets) = runtime.timers();
    assert_eq!(created, 1, "no second timer");
    assert!(resets >= 1, "the timer was moved to the second request's deadline");
}

#[test]
fn a_deadline_already_past_fires_on_this_turn() {
    let (runtime, queue) = (Manual::default(), Arc::new(Quiet::default()));
    let (handle, _events) = client(&runtime, &queue, DriverConfig::default());
    let mut call = Box::pin(handle.call("tools/list", None));
    assert!(poll_once(call.as_mut()).is_pending());
    runtime.turn();

    // The request timeout (5 s) passes; the runtime's timer never says so.
    runtime.advance(Duration::from_secs(6));
    nudge(&runtime, &handle);

    assert!(matches!(poll_once(call.as_mut()), Poll::Ready(Err(RequestError::TimedOut))));
}

#[test]
fn concurrent_calls_never_queue_more_commands_than_the_capacity() {
    let (runtime, queue) = (Manual::default(), Arc::new(Quiet::default()));
    let mut driver = DriverConfig::default();
    driver.command_capacity = 4;
    let (handle, _events) = client(&runtime, &queue, driver);

    // Twenty callers at once, while the loop does not run: each gets as far as the
    // command channel lets it, then gives up.
    let names: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
    let mut calls: Vec<_> = names.iter().map(|name| Box::pin(handle.notify(name, None))).collect();
    for call in &mut calls {
        assert!(poll_once(call.as_mut()).is_pending());
    }
    drop(calls);
    for _ in 0..10 {
        runtime.turn();
    }

    assert_eq!(queue.executed.load(Ordering::SeqCst), 4, "only the commands that fit in the channel were queued");
}
