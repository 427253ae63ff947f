//! The one event loop that drives a client or a server: written once, for every
//! runtime.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use futures::stream::FuturesUnordered;

use asyncmcp_proto::codec::encoded_size;
use asyncmcp_proto::{InboundMessage, OpFailure, OpId, OpResult, QueueOp};

use crate::batch::{BatchTarget, Outbox, batch_bytes, call_kind};
use crate::control::{Control, ControlSender};
use crate::events::Events;
use crate::machine::Machine;
use crate::queue_client::{QueueClient, ReceiveRequest};
use crate::runtime::{AsyncTimer, BoxFuture, Runtime};
use crate::stats::Stats;

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
    /// How many commands (calls on the handles) wait for the loop at most, however
    /// many tasks call at once: the handles share one sender, so a caller that finds
    /// the channel full waits for room, and callers behind it wait their turn (a
    /// sender cloned per call would add a slot per clone). At least 1.
    pub command_capacity: usize,
    /// Turns (timer firings, drains, commands taken) the loop runs before it yields to
    /// the runtime.
    pub budget: usize,
    /// How long shutdown waits for in-flight work when every handle was dropped
    /// without an explicit shutdown.
    pub drain_on_drop: Duration,
    /// First wait after a failed receive; doubles up to 20 s. A receive that fails
    /// before any succeeded, with a failure that says the set-up can never work
    /// ([`FailureKind::is_fatal_at_start`](asyncmcp_proto::FailureKind::is_fatal_at_start):
    /// a missing queue, no credentials, a denial, an endpoint never reached), is not
    /// retried: the driver stops and its handle's `failure()` says why.
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
    // What each call will be billed for, once it is known to have reached the service
    // (one of its entries succeeded): the entries of each call and their bytes.
    let one_call = batch.len() == 1 || queue.batches();
    let calls: Vec<Vec<(OpId, usize)>> = if one_call {
        vec![batch.iter().map(|op| (op.id, batch_bytes(op))).collect()]
    } else {
        batch.iter().map(|op| vec![(op.id, batch_bytes(op))]).collect()
    };
    for _ in &calls {
        stats.call(kind, one_call && batch.len() > 1);
    }
    let fut: BoxFuture<'static, Vec<(OpId, OpResult)>> = if batch.len() == 1 {
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
        queue.execute_batch(batch)
    };
    Box::pin(async move {
        let results = fut.await;
        let failed = results.iter().filter(|(_, r)| matches!(r, OpResult::Failed(_))).count();
        stats.failed(failed as u64);
        let ok = |id: &OpId| results.iter().any(|(done, r)| done == id && matches!(r, OpResult::Ok));
        for call in &calls {
            if call.iter().any(|(id, _)| ok(id)) {
                stats.bill(call.iter().map(|(_, bytes)| bytes).sum());
            }
        }
        (key, results)
    })
}

struct Shutdown {
    deadline: Instant,
    finished: bool,
    done: Vec<oneshot::Sender<()>>,
}

/// Whether shutdown moved on a turn.
enum ShutdownStep {
    Unchanged,
    Progressed,
    Stopped,
}

/// What [`start`] hands the handle it builds: the one command sender, the shared
/// counters and the application's events.
pub(crate) struct Started<C, E> {
    pub(crate) control: ControlSender<C>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) events: Events<E>,
}

/// Spawns the driver of `machine` on `runtime`: the one start-up path of
/// [`spawn_client`](crate::spawn_client) and [`spawn_server`](crate::spawn_server).
pub(crate) fn start<M, R, Q>(
    machine: M,
    runtime: R,
    queue: Arc<Q>,
    config: DriverConfig,
) -> Started<M::Command, M::Event>
where
    M: Machine,
    R: Runtime,
    Q: QueueClient,
{
    let (control, control_rx) = ControlSender::channel(config.command_capacity);
    let (event_tx, event_rx) = mpsc::channel(config.event_capacity);
    let stats = Arc::new(Stats::default());
    let runtime = Arc::new(runtime);
    let task = run(machine, Arc::clone(&runtime), queue, control_rx, event_tx, Arc::clone(&stats), config);
    runtime.spawn(Box::pin(task));
    Started { control, stats, events: Events::new(event_rx) }
}

/// Runs `machine` until shutdown: performs its operations through `queue`, long-polls
/// its queue within its receive credit, fires its timers, takes commands and hands
/// events to the application.
async fn run<M, R, Q>(
    mut machine: M,
    runtime: R,
    queue: Arc<Q>,
    control: mpsc::Receiver<Control<M::Command>>,
    events: mpsc::Sender<M::Event>,
    stats: Arc<Stats>,
    config: DriverConfig,
) where
    M: Machine,
    R: Runtime,
    Q: QueueClient,
{
    read_budgets(&mut machine, &*queue).await;
    let mut driver = Driver {
        queue_url: machine.queue_url(),
        machine,
        runtime,
        queue,
        control,
        control_closed: false,
        events,
        undelivered: VecDeque::new(),
        app_gone: false,
        ops: FuturesUnordered::new(),
        outbox: Outbox::new(config.ack_linger),
        receiving: None,
        asked: 0,
        receive_failures: 0,
        received_once: false,
        receive_after: None,
        shutdown: None,
        timer: None,
        timer_deadline: None,
        stats,
        config,
    };
    futures::future::poll_fn(|cx| driver.poll(cx)).await;
    tracing::debug!(queue = %driver.queue_url, "driver stopped");
}

/// Reads what each of the machine's destinations accepts (`MaximumMessageSize`), all
/// at once, before the first command is taken, and hands it over. A destination that
/// cannot be read keeps the configured fallback: one log line says so.
async fn read_budgets<M: Machine, Q: QueueClient>(machine: &mut M, queue: &Q) {
    let destinations = machine.limit_destinations();
    let reads = futures::future::join_all(destinations.iter().map(|d| queue.max_message_bytes(d))).await;
    for (destination, read) in destinations.iter().zip(reads) {
        let fallback = machine.fallback_max_bytes();
        match read {
            Ok(Some(max)) => {
                tracing::debug!(%destination, max_message_bytes = max, "size budget read");
                machine.handle_max_message_bytes(destination, max);
            }
            Ok(None) => tracing::info!(
                %destination,
                fallback,
                "MaximumMessageSize not reported for {destination}: its budget is the fallback of {fallback} bytes"
            ),
            Err(error) => tracing::info!(
                %destination,
                fallback,
                %error,
                "MaximumMessageSize of {destination} could not be read: its budget is the fallback of {fallback} bytes"
            ),
        }
    }
}

/// The loop's state between turns. Each turn reads the clock once and runs the steps
/// of [`poll`](Self::poll) in order with that `now`; a turn that changed nothing ends
/// the poll with every source's waker registered.
struct Driver<M: Machine, R, Q> {
    machine: M,
    runtime: R,
    queue: Arc<Q>,
    queue_url: String,
    config: DriverConfig,
    stats: Arc<Stats>,
    control: mpsc::Receiver<Control<M::Command>>,
    /// Every handle was dropped: the channel has nothing more to say.
    control_closed: bool,
    events: mpsc::Sender<M::Event>,
    /// Events taken from the machine that the channel had no room for yet.
    undelivered: VecDeque<M::Event>,
    /// The application dropped its event stream: events are dropped.
    app_gone: bool,
    /// Queue calls in flight.
    ops: FuturesUnordered<BoxFuture<'static, Done>>,
    outbox: Outbox,
    /// The long poll in flight.
    receiving: Option<BoxFuture<'static, Result<Vec<InboundMessage>, OpFailure>>>,
    /// How many messages the long poll in flight asked for.
    asked: usize,
    receive_failures: u32,
    /// A receive has succeeded: the queue and the credentials worked once.
    received_once: bool,
    /// No long poll before this (a retry after a failure, or the receive linger).
    receive_after: Option<Instant>,
    shutdown: Option<Shutdown>,
    /// The one timer, created on first use and reset when the deadline moves.
    timer: Option<Pin<Box<dyn AsyncTimer>>>,
    /// The deadline `timer` is set to; `None` when it is spent or unused.
    timer_deadline: Option<Instant>,
}

impl<M: Machine, R: Runtime, Q: QueueClient> Driver<M, R, Q> {
    /// Runs turns until one changes nothing (`Pending`, every waker registered), the
    /// budget is spent (`Pending` after waking itself, so that other tasks run), or
    /// shutdown completed (`Ready`).
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..self.config.budget.max(1) {
            let now = self.runtime.now();
            let mut progress = self.handle_commands(cx, now);
            progress |= self.handle_op_results(cx, now);
            progress |= self.drive_ops(now);
            self.forward_events(cx);
            self.stats.gauges(self.machine.gauges());
            self.stats.objects(self.queue.object_calls());
            match self.drive_shutdown(now) {
                ShutdownStep::Stopped => return Poll::Ready(()),
                ShutdownStep::Progressed => progress = true,
                ShutdownStep::Unchanged => {}
            }
            progress |= self.drive_receive(cx, now);
            progress |= self.drive_timer(cx, now);
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Takes commands and shutdown requests from the handles, at most `budget` a turn.
    fn handle_commands(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut taken = 0;
        while !self.control_closed && taken < self.config.budget.max(1) {
            match self.control.poll_next_unpin(cx) {
                Poll::Ready(Some(Control::Command(c))) => self.machine.command(c, now),
                Poll::Ready(Some(Control::Shutdown { drain, done })) => self.begin_shutdown(now, drain, Some(done)),
                Poll::Ready(None) => {
                    self.control_closed = true;
                    self.begin_shutdown(now, self.config.drain_on_drop, None);
                }
                Poll::Pending => break,
            }
            taken += 1;
        }
        taken > 0
    }

    fn begin_shutdown(&mut self, now: Instant, drain: Duration, done: Option<oneshot::Sender<()>>) {
        if let Some(sd) = self.shutdown.as_mut() {
            sd.done.extend(done);
            return;
        }
        self.machine.begin_shutdown(now);
        if !self.machine.receives_while_draining() {
            self.receiving = None;
        }
        self.shutdown = Some(Shutdown { deadline: now + drain, finished: false, done: done.into_iter().collect() });
    }

    /// Hands the machine the outcome of every queue call that ended.
    fn handle_op_results(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = false;
        while let Poll::Ready(Some((key, results))) = self.ops.poll_next_unpin(cx) {
            self.outbox.done(&key);
            for (id, result) in results {
                self.machine.handle_op_result(id, result, now);
            }
            progress = true;
        }
        progress
    }

    /// Starts the queue calls the machine asked for, as the outbox batches them; true
    /// when it started one (the next turn polls it).
    fn drive_ops(&mut self, now: Instant) -> bool {
        while let Some(op) = self.machine.poll_op() {
            self.outbox.push(op, now);
        }
        let mut started = false;
        for (key, batch) in self.outbox.ready(now, self.shutdown.is_some()) {
            self.ops.push(execute(&*self.queue, key, batch, &self.stats));
            started = true;
        }
        started
    }

    /// Hands the machine's events to the application while its channel has room.
    /// Events are taken from the machine only while there is room: past that they stay
    /// in the machine, whose receive credit then drops to zero.
    fn forward_events(&mut self, cx: &mut Context<'_>) {
        let max_undelivered = self.config.event_capacity.max(1);
        loop {
            while self.undelivered.len() < max_undelivered {
                match self.machine.poll_event() {
                    Some(e) => self.undelivered.push_back(e),
                    None => break,
                }
            }
            if self.app_gone {
                self.undelivered.clear();
                return;
            }
            let mut sent = false;
            while !self.undelivered.is_empty() {
                match self.events.poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => {
                        self.app_gone = true;
                        break;
                    }
                    Poll::Pending => break,
                }
                let Some(e) = self.undelivered.pop_front() else { break };
                match self.events.try_send(e) {
                    Ok(()) => sent = true,
                    Err(err) if err.is_disconnected() => self.app_gone = true,
                    Err(err) => {
                        self.undelivered.push_front(err.into_inner());
                        break;
                    }
                }
            }
            if !sent && !self.app_gone {
                return;
            }
        }
    }

    /// Ends the drain once the machine is drained or the drain deadline passed, and
    /// stops the loop once nothing is left in flight.
    fn drive_shutdown(&mut self, now: Instant) -> ShutdownStep {
        let Some(sd) = self.shutdown.as_mut() else { return ShutdownStep::Unchanged };
        if !sd.finished {
            if self.machine.drained() || now >= sd.deadline {
                self.machine.finish(now);
                sd.finished = true;
                return ShutdownStep::Progressed;
            }
            return ShutdownStep::Unchanged;
        }
        if self.ops.is_empty() && self.outbox.is_empty() && (self.undelivered.is_empty() || self.app_gone) {
            for done in sd.done.drain(..) {
                let _ = done.send(());
            }
            return ShutdownStep::Stopped;
        }
        ShutdownStep::Unchanged
    }

    /// Keeps one long poll in flight while there is credit, and hands the machine what
    /// it returned.
    fn drive_receive(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        if self.receive_after.is_some_and(|t| t <= now) {
            self.receive_after = None;
        }
        if self.receiving.is_none() {
            let draining = self.shutdown.as_ref().is_some_and(|sd| !sd.finished);
            let may = self.shutdown.is_none() || (draining && self.machine.receives_while_draining());
            let credit = self.machine.receive_credit().min(10);
            let room = self.undelivered.len() < self.config.event_capacity.max(1);
            if !may || self.receive_after.is_some() || credit == 0 || !room {
                return false;
            }
            self.asked = credit;
            self.receiving = Some(self.queue.receive(ReceiveRequest {
                queue_url: self.queue_url.clone(),
                max_messages: credit,
                wait: self.config.long_poll,
                visibility: self.machine.receive_visibility(),
            }));
        }
        let Some(receiving) = self.receiving.as_mut() else { return false };
        let Poll::Ready(received) = receiving.as_mut().poll(cx) else { return false };
        self.receiving = None;
        match received {
            Ok(messages) => {
                self.stats.receive(messages.len(), false);
                // An offloaded message is billed as SQS delivered it: the pointer.
                let wire = |m: &InboundMessage| match &m.offload {
                    Some(o) => o.wire_bytes,
                    None => encoded_size(&m.body, &m.attributes, false),
                };
                self.stats.bill(messages.iter().map(wire).sum());
                self.receive_failures = 0;
                self.received_once = true;
                let got = messages.len();
                for m in messages {
                    self.machine.handle_inbound(m, now);
                }
                let (_, in_flight) = self.machine.gauges();
                if got > 0 && got < self.asked && in_flight > got && !self.config.receive_linger.is_zero() {
                    self.receive_after = Some(now + self.config.receive_linger);
                }
            }
            Err(e) if !self.received_once && e.kind.is_fatal_at_start() => {
                // The queue never worked (missing, no credentials, denied, never
                // reached): retrying would only hide that. Stop, and say why through
                // the handles, which work without any logging.
                self.stats.receive(0, true);
                tracing::error!(queue = %self.queue_url, error = %e, "receive failed at start; stopping");
                self.stats.fail(e);
                self.begin_shutdown(now, Duration::ZERO, None);
            }
            Err(e) => {
                self.stats.receive(0, true);
                self.receive_failures = self.receive_failures.saturating_add(1);
                let wait = self
                    .config
                    .receive_retry
                    .saturating_mul(1 << self.receive_failures.min(6))
                    .min(Duration::from_secs(20));
                tracing::warn!(queue = %self.queue_url, error = %e, retry_in = ?wait, "receive failed");
                self.receive_after = Some(now + wait);
            }
        }
        true
    }

    /// Fires the machine's timers when due; otherwise sets the one timer to the next
    /// deadline of the loop, resetting it only when that deadline moved. A deadline
    /// already past is handled on the next turn, without asking the runtime's timer:
    /// a runtime may hold back an elapsed timer (tokio's cooperative budget).
    fn drive_timer(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        if self.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.machine.handle_timeout(now);
            return true;
        }
        let wake_at = [
            self.machine.poll_timeout(),
            self.receive_after,
            self.shutdown.as_ref().filter(|s| !s.finished).map(|s| s.deadline),
            self.outbox.deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(deadline) = wake_at else {
            self.timer_deadline = None;
            return false;
        };
        if deadline <= now {
            return true;
        }
        let timer = match self.timer.as_mut() {
            Some(timer) => {
                if self.timer_deadline != Some(deadline) {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => self.timer.insert(self.runtime.new_timer(deadline)),
        };
        self.timer_deadline = Some(deadline);
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        // Spent: the next deadline, even the same one, sets it again.
        self.timer_deadline = None;
        true
    }
}
