//! Property: any interleaving of create, get, claim, progress, complete, cancel,
//! worker crash (its lease runs out) and redelivery (another worker claims again),
//! by replicas that read the record and write it back with a version compare, ends
//! with the task in exactly one terminal state, never changes a terminal state, and
//! runs the tool more than once only after a worker died (or stalled past its lease)
//! mid-run.

use asyncmcp_proto::tasks::{Outcome, TaskIds, TaskLimits, TaskRecord, TaskRefusal, TaskRequest, TaskStatus};
use proptest::prelude::*;

const WORKERS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    /// The request is delivered (again): create-or-find, then read.
    Deliver(usize),
    /// A replica reads the record (`tasks/get`, or before a write).
    Read(usize),
    Claim(usize),
    Renew(usize),
    Progress(usize, bool),
    Complete(usize, bool),
    /// `tasks/cancel` served by this replica, from its last read.
    Cancel(usize),
    /// The worker process dies; a restart is a new worker.
    Crash(usize),
    /// Time passes.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let w = 0..WORKERS;
    prop_oneof![
        1 => w.clone().prop_map(Op::Deliver),
        3 => w.clone().prop_map(Op::Read),
        3 => w.clone().prop_map(Op::Claim),
        2 => w.clone().prop_map(Op::Renew),
        1 => (w.clone(), any::<bool>()).prop_map(|(w, b)| Op::Progress(w, b)),
        2 => (w.clone(), any::<bool>()).prop_map(|(w, b)| Op::Complete(w, b)),
        1 => w.clone().prop_map(Op::Cancel),
        1 => w.clone().prop_map(Op::Crash),
        2 => (0u64..45_000).prop_map(Op::Advance),
    ]
}

/// The store: one record and its version (what a conditional write compares).
struct Cell {
    version: u64,
    record: TaskRecord,
}

struct Worker {
    generation: u32,
    snapshot: Option<(u64, TaskRecord)>,
    /// This worker's tool is running.
    running: bool,
    /// Its lease ran out while it ran (counted once per run).
    lapsed: bool,
}

impl Worker {
    fn name(&self, index: usize) -> String {
        format!("w{index}-{}", self.generation)
    }
}

struct World {
    limits: TaskLimits,
    now: u64,
    cell: Option<Cell>,
    workers: Vec<Worker>,
    runs: u32,
    interruptions: u32,
    first_terminal: Option<(TaskStatus, Option<Outcome>)>,
    ids: TaskIds,
}

impl World {
    fn new() -> Self {
        let limits = TaskLimits::default();
        let workers =
            (0..WORKERS).map(|_| Worker { generation: 0, snapshot: None, running: false, lapsed: false }).collect();
        Self {
            limits,
            now: 1_000_000,
            cell: None,
            workers,
            runs: 0,
            interruptions: 0,
            first_terminal: None,
            ids: TaskIds::new([5; 32]),
        }
    }

    /// Conditional write: applies only when the writer's snapshot is current.
    fn commit(&mut self, w: usize, record: TaskRecord, read_version: u64) -> bool {
        let Some(cell) = self.cell.as_mut() else { return false };
        if cell.version != read_version {
            self.workers[w].snapshot = None;
            return false;
        }
        cell.version += 1;
        cell.record = record.clone();
        self.workers[w].snapshot = Some((cell.version, record));
        true
    }

    /// The worker's tool stops (it learnt it lost the task or the task ended).
    fn stop(&mut self, w: usize) {
        self.workers[w].running = false;
        self.workers[w].lapsed = false;
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Deliver(w) => {
                // Create never overwrites: the second delivery finds the first task.
                let id = self.ids.next_id("request-1");
                let fresh = TaskRecord::create(
                    id,
                    TaskRequest::new("tools/call", None),
                    Some(u64::MAX),
                    &self.limits,
                    self.now,
                );
                let cell = self.cell.get_or_insert(Cell { version: 1, record: fresh });
                self.workers[w].snapshot = Some((cell.version, cell.record.clone()));
            }
            Op::Read(w) => {
                if let Some(cell) = &self.cell {
                    self.workers[w].snapshot = Some((cell.version, cell.record.clone()));
                }
            }
            Op::Claim(w) => {
                let name = self.workers[w].name(w);
                if self.workers[w].running {
                    return;
                }
                let Some((v, mut r)) = self.workers[w].snapshot.clone() else { return };
                let previous = r.claim.clone();
                if let Ok(grant) = r.claim(&name, &self.limits, self.now)
                    && self.commit(w, r, v)
                {
                    // A takeover only happens over a lease that ran out.
                    if let Some(p) = previous {
                        assert!(p.until_ms <= self.now, "claimed over a live lease");
                    }
                    assert_eq!(grant.rerun, self.runs > 0);
                    self.runs += 1;
                    self.workers[w].running = true;
                    self.workers[w].lapsed = false;
                }
            }
            Op::Renew(w) | Op::Progress(w, _) | Op::Complete(w, _) => {
                if !self.workers[w].running {
                    return;
                }
                let name = self.workers[w].name(w);
                let Some((v, mut r)) = self.workers[w].snapshot.clone() else { return };
                let applied = match *op {
                    Op::Renew(_) => r.renew(&name, &self.limits, self.now).map(|_| ()),
                    Op::Progress(_, input) => {
                        let status = if input { TaskStatus::InputRequired } else { TaskStatus::Working };
                        r.progress(&name, status, Some("step".into()), self.now)
                    }
                    _ => {
                        let outcome = match op {
                            Op::Complete(_, true) => Outcome::Result(serde_json::json!({"content": []})),
                            _ => Outcome::error(-32603, "tool failed"),
                        };
                        r.complete(&name, outcome, self.now)
                    }
                };
                match applied {
                    Ok(()) => {
                        let finished = matches!(op, Op::Complete(..));
                        if self.commit(w, r, v) {
                            if finished {
                                self.stop(w);
                            } else {
                                self.workers[w].lapsed = false;
                            }
                        }
                    }
                    // Cancelled, taken over, or already over: the tool stops.
                    Err(TaskRefusal::Terminal(_) | TaskRefusal::NotClaimant) => self.stop(w),
                    Err(other) => panic!("unexpected refusal {other:?}"),
                }
            }
            Op::Cancel(w) => {
                let Some((v, mut r)) = self.workers[w].snapshot.clone() else { return };
                if let Ok(effect) = r.cancel(None, self.now)
                    && self.commit(w, r, v)
                {
                    // The cancel event reaches the running tool.
                    if let Some(claim) = effect.running {
                        for i in 0..WORKERS {
                            if self.workers[i].running && self.workers[i].name(i) == claim.worker {
                                self.stop(i);
                            }
                        }
                    }
                }
            }
            Op::Crash(w) => {
                let worker = &mut self.workers[w];
                if worker.running && !worker.lapsed {
                    self.interruptions += 1;
                }
                worker.generation += 1;
                worker.snapshot = None;
                worker.running = false;
                worker.lapsed = false;
            }
            Op::Advance(ms) => {
                self.now += ms;
                let claim = self.cell.as_ref().and_then(|c| c.record.claim.clone());
                for i in 0..WORKERS {
                    let name = self.workers[i].name(i);
                    let worker = &mut self.workers[i];
                    let lease_over = claim.as_ref().is_some_and(|c| c.worker == name && c.until_ms <= self.now);
                    if worker.running && !worker.lapsed && lease_over {
                        worker.lapsed = true;
                        self.interruptions += 1;
                    }
                }
            }
        }
        self.check();
    }

    fn check(&mut self) {
        let Some(cell) = &self.cell else { return };
        let now = (cell.record.status, cell.record.outcome.clone());
        match &self.first_terminal {
            Some(first) => assert_eq!(&now, first, "a terminal task changed"),
            None if now.0.is_terminal() => self.first_terminal = Some(now),
            None => {}
        }
        assert!(
            self.runs <= 1 + self.interruptions,
            "the tool ran {} times with {} interrupted runs",
            self.runs,
            self.interruptions
        );
    }

    /// After the chaos: the request is redelivered until a live worker finishes it.
    fn drain(&mut self) {
        self.step(&Op::Deliver(0));
        self.step(&Op::Advance(self.limits.lease_ms));
        self.step(&Op::Crash(0));
        self.step(&Op::Read(0));
        self.step(&Op::Claim(0));
        self.step(&Op::Complete(0, true));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_interleaving_ends_in_one_terminal_state(ops in proptest::collection::vec(op(), 0..60)) {
        let mut world = World::new();
        for op in &ops {
            world.step(op);
        }
        world.drain();
        let cell = world.cell.as_ref().unwrap();
        prop_assert!(cell.record.status.is_terminal(), "ended {:?}", cell.record.status);
        match cell.record.status {
            TaskStatus::Completed | TaskStatus::Failed => {
                prop_assert!(cell.record.outcome.is_some());
                prop_assert!(cell.record.claim.is_none());
            }
            _ => prop_assert!(cell.record.outcome.is_none()),
        }
        prop_assert!(world.runs <= 1 + world.interruptions);
        prop_assert_eq!(cell.record.attempts, world.runs);
    }
}

/// Without a crash or a stall, a task runs once however replicas race.
#[test]
fn two_replicas_racing_to_claim_run_the_tool_once() {
    let mut world = World::new();
    for op in
        [Op::Deliver(0), Op::Deliver(1), Op::Claim(0), Op::Claim(1), Op::Read(1), Op::Claim(1), Op::Complete(0, true)]
    {
        world.step(&op);
    }
    assert_eq!(world.runs, 1);
    assert_eq!(world.cell.as_ref().unwrap().record.status, TaskStatus::Completed);
}

/// A worker that dies mid-run: the redelivered request is run again by another.
#[test]
fn a_crashed_worker_is_replaced_after_its_lease() {
    let mut world = World::new();
    let lease = world.limits.lease_ms;
    for op in [Op::Deliver(0), Op::Claim(0), Op::Crash(0), Op::Deliver(1), Op::Claim(1)] {
        world.step(&op);
    }
    assert_eq!(world.runs, 1, "the lease is still live");
    for op in [Op::Advance(lease), Op::Read(1), Op::Claim(1), Op::Complete(1, false)] {
        world.step(&op);
    }
    assert_eq!(world.runs, 2);
    assert_eq!(world.cell.as_ref().unwrap().record.status, TaskStatus::Failed);
}
