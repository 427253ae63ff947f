//! The one event loop that drives a client or a server: written once, for every
//! runtime.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::{Fuse, FusedFuture};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt, select_biased};

use asyncmcp_proto::{InboundMessage, OpFailure, OpId, OpResult, QueueOp};

use crate::batch::{BatchTarget, Outbox, call_kind};
use crate::machine::Machine;
use crate::queue_client::{QueueClient, ReceiveRequest};
use crate::runtime::{BoxFuture, Runtime};
use crate::stats::Stats;

/// Messages from handles to the loop.
pub(crate) enum Control<C> {
    Command(C),
    Shutdown { drain: Duration, done: oneshot::Sender<()> },
}

/// Options of the event loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverConfig {
    /// Long-poll wait of each `ReceiveMessage` (0 to 20 s; 20 s by default, so an
    /// idle endpoint makes 3 calls a minute).
    pub long_poll: Duration,
    /// Capacity of the event channel to the application; when it is full the driver
    /// stops receiving (backpressure).
    pub event_capacity: usize,
    /// Capacity of the command channel from the handles.
    pub command_capacity: usize,
    /// Timer firings and drains handled before the loop yields to the runtime.
    pub budget: usize,
    /// How long shutdown waits for in-flight work when every handle was dropped
    /// without an explicit shutdown.
    pub drain_on_drop: Duration,
    /// First wait after a failed receive; doubles up to 20 s.
    pub receive_retry: Duration,
    /// How long deletes and visibility changes (acknowledgements: nobody waits for
    /// them) are held so that several go in one batch call; ten go at once. Sends are
    /// never delayed by a clock: one that finds a send to the same destination in
    /// flight goes, with any others gathered meanwhile, when that call ends.
    /// 100 ms by default: nobody waits for an acknowledgement.
    pub ack_linger: Duration,
    /// Under load, how long the next long poll waits after one that returned fewer
    /// messages than it asked for, so that the next `ReceiveMessage` takes several
    /// messages instead of one. "Under load" means more requests in flight (the
    /// server's running requests, the client's unanswered ones) than the poll
    /// returned: more messages are on their way. One request at a time never waits,
    /// nor does a poll that returned nothing or a full batch. Fewer calls under load
    /// cost at most this much latency for a message arriving meanwhile. 20 ms by
    /// default; zero turns it off.
    pub receive_linger: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            long_poll: Duration::from_secs(20),
            event_capacity: 256,
            command_capacity: 256,
            budget: 64,
            drain_on_drop: Duration::from_secs(10),
            receive_retry: Duration::from_millis(500),
            ack_linger: Duration::from_millis(100),
            receive_linger: Duration::from_millis(20),
        }
    }
}

/// Yields once to the runtime, whatever the runtime.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

type Done = (BatchTarget, Vec<(OpId, OpResult)>);

fn execute<Q: QueueClient>(
    queue: &Q,
    key: BatchTarget,
    batch: Vec<QueueOp>,
    stats: &Arc<Stats>,
) -> BoxFuture<'static, Done> {
    let Some(first) = batch.first() else { return Box::pin(async move { (key, Vec::new()) }) };
    let kind = call_kind(first);
    let stats = Arc::clone(stats);
    let fut: BoxFuture<'static, Vec<(OpId, OpResult)>> = if batch.len() == 1 {
        stats.call(kind, false);
        let id = first.id;
        let mut batch = batch;
        match batch.pop() {
            Some(op) => {
                let f = queue.execute(op);
                Box::pin(async move { vec![(id, f.await)] })
            }
            None => Box::pin(async { Vec::new() }),
        }
    } else {
        if queue.batches() {
            stats.call(kind, true);
        } else {
            for _ in 0..batch.len() {
                stats.call(kind, false);
            }
        }
        queue.execute_batch(batch)
    };
    Box::pin(async move {
        let results = fut.await;
        let failed = results.iter().filter(|(_, r)| matches!(r, OpResult::Failed(_))).count();
        stats.failed(failed as u64);
        (key, results)
    })
}

struct Shutdown {
    deadline: Instant,
    finished: bool,
    done: Vec<oneshot::Sender<()>>,
}

/// Runs `machine` until shutdown: performs its operations through `queue`, long-polls
/// its queue within its receive credit, fires its timers, takes commands and hands
/// events to the application.
pub(crate) async fn run<M, R, Q>(
    mut machine: M,
    runtime: R,
    queue: Arc<Q>,
    mut control: mpsc::Receiver<Control<M::Command>>,
    mut events: mpsc::Sender<M::Event>,
    stats: Arc<Stats>,
    config: DriverConfig,
) where
    M: Machine,
    R: Runtime,
    Q: QueueClient,
{
    let queue_url = machine.queue_url();
    let mut ops: FuturesUnordered<BoxFuture<'static, Done>> = FuturesUnordered::new();
    let mut outbox = Outbox::new(config.ack_linger);
    let mut receiving: Fuse<BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>>> = Fuse::terminated();
    let mut undelivered: VecDeque<M::Event> = VecDeque::new();
    let mut app_gone = false;
    let mut shutdown: Option<Shutdown> = None;
    let mut receive_failures: u32 = 0;
    let mut receive_after: Option<Instant> = None;
    // How many messages the long poll in flight asked for.
    let mut asked = 0;
    let max_undelivered = config.event_capacity.max(1);

    loop {
        // 1. Drain what the machine has, firing timers already due, within a budget.
        let mut turns = 0;
        loop {
            let now = runtime.now();
            if machine.poll_timeout().is_some_and(|t| t <= now) {
                machine.handle_timeout(now);
            }
            while let Some(op) = machine.poll_op() {
                outbox.push(op, now);
            }
            for (key, batch) in outbox.ready(runtime.now(), shutdown.is_some()) {
                ops.push(execute(&*queue, key, batch, &stats));
            }
            // Take events only while there is room: past that they stay in the
            // machine, whose receive credit then drops to zero.
            while undelivered.len() < max_undelivered {
                match machine.poll_event() {
                    Some(e) => undelivered.push_back(e),
                    None => break,
                }
            }
            while let Some(e) = undelivered.pop_front() {
                if app_gone {
                    continue;
                }
                match events.try_send(e) {
                    Ok(()) => {}
                    Err(err) if err.is_disconnected() => app_gone = true,
                    Err(err) => {
                        undelivered.push_front(err.into_inner());
                        break;
                    }
                }
            }
            if machine.poll_timeout().is_none_or(|t| t > runtime.now()) {
                break;
            }
            turns += 1;
            if turns >= config.budget {
                YieldNow(false).await;
                turns = 0;
            }
        }

        stats.gauges(machine.gauges());

        // 2. Shutdown progress.
        if let Some(sd) = shutdown.as_mut() {
            if !sd.finished && (machine.drained() || runtime.now() >= sd.deadline) {
                machine.finish(runtime.now());
                sd.finished = true;
                continue;
            }
            if sd.finished && ops.is_empty() && outbox.is_empty() && (undelivered.is_empty() || app_gone) {
                for done in sd.done.drain(..) {
                    let _ = done.send(());
                }
                tracing::debug!(queue = %queue_url, "driver stopped");
                return;
            }
        }

        // 3. Keep one long poll in flight while there is credit.
        let now = runtime.now();
        let draining_receives = shutdown.as_ref().is_some_and(|sd| !sd.finished) && machine.receives_while_draining();
        if receiving.is_terminated()
            && (shutdown.is_none() || draining_receives)
            && receive_after.is_none_or(|t| t <= now)
        {
            receive_after = None;
            let credit = machine.receive_credit().min(10);
            if credit > 0 && undelivered.len() < max_undelivered {
                asked = credit;
                receiving = queue
                    .receive(ReceiveRequest {
                        queue_url: queue_url.clone(),
                        max_messages: credit,
                        wait: config.long_poll,
                        visibility: machine.receive_visibility(),
                    })
                    .fuse();
            }
        }

        // 4. Wait for something to happen.
        let wake_at = [
            machine.poll_timeout(),
            receive_after,
            shutdown.as_ref().filter(|s| !s.finished).map(|s| s.deadline),
            outbox.deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let mut timer = match wake_at {
            Some(t) => runtime.sleep_until(t).fuse(),
            None => Fuse::terminated(),
        };
        let mut room = if undelivered.is_empty() || app_gone {
            Fuse::terminated()
        } else {
            let events = &mut events;
            futures::future::poll_fn(move |cx| events.poll_ready(cx)).boxed().fuse()
        };
        select_biased! {
            (key, results) = ops.select_next_some() => {
                let now = runtime.now();
                outbox.done(&key);
                for (id, result) in results {
                    machine.handle_op_result(id, result, now);
                }
            }
            received = receiving => {
                let now = runtime.now();
                match received {
                    Ok(messages) => {
                        stats.receive(messages.len(), false);
                        receive_failures = 0;
                        let got = messages.len();
                        for m in messages {
                            machine.handle_inbound(m, now);
                        }
                        let (_, in_flight) = machine.gauges();
                        if got > 0 && got < asked && in_flight > got && !config.receive_linger.is_zero() {
                            receive_after = Some(now + config.receive_linger);
                        }
                    }
                    Err(e) => {
                        stats.receive(0, true);
                        receive_failures = receive_failures.saturating_add(1);
                        let wait = config.receive_retry.saturating_mul(1 << receive_failures.min(6)).min(Duration::from_secs(20));
                        tracing::warn!(queue = %queue_url, error = %e, retry_in = ?wait, "receive failed");
                        receive_after = Some(now + wait);
                    }
                }
            }
            command = control.next() => {
                let now = runtime.now();
                match command {
                    Some(Control::Command(c)) => machine.command(c, now),
                    Some(Control::Shutdown { drain, done }) => {
                        match shutdown.as_mut() {
                            Some(sd) => sd.done.push(done),
                            None => {
                                machine.begin_shutdown(now);
                                if !machine.receives_while_draining() {
                                    receiving = Fuse::terminated();
                                }
                                shutdown = Some(Shutdown { deadline: now + drain, finished: false, done: vec![done] });
                            }
                        }
                    }
                    None => {
                        if shutdown.is_none() {
                            machine.begin_shutdown(now);
                            if !machine.receives_while_draining() {
                                receiving = Fuse::terminated();
                            }
                            shutdown = Some(Shutdown { deadline: now + config.drain_on_drop, finished: false, done: Vec::new() });
                        }
                    }
                }
            }
            _ = timer => {}
            _ = room => {}
        }
    }
}
