//! The state machine: tasks keyed across computations, a dynamic set of workers, clients
//! that want keys. Every event method moves the state and queues [`Command`]s; nothing here
//! blocks, sleeps, reads a clock or touches a socket.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::Arc;

use rask_graph::Key;
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;

use crate::ids::Slots;
use crate::worker::WorkerRecord;
use crate::{ClientId, Command, Failure, TaskId, UpdateError, WorkerRef, WorkerSpec};

/// What a worker holds and runs ([`SchedulerState::worker_load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerLoad {
    /// Results it holds.
    pub results: usize,
    /// Their bytes, as reported.
    pub bytes: u64,
    /// Tasks sent to it and not answered.
    pub in_flight: usize,
}

/// How the state places and retries tasks.
///
/// ```
/// let c = rask_scheduling::StateConfig::default();
/// assert_eq!(c.allowed_failures, 3);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StateConfig {
    /// How many worker deaths a task may be blamed for before it is marked bad (Dask's
    /// `distributed.scheduler.allowed-failures`).
    pub allowed_failures: u32,
    /// How many times a task may fail to fetch an input before it fails.
    pub max_input_losses: u32,
    /// Bytes per second assumed between workers, to weigh moving inputs against waiting
    /// (Dask's `distributed.scheduler.bandwidth`, 100 MB/s).
    pub bandwidth: f64,
    /// Seconds assumed per input moved, whatever its size (a round trip).
    pub transfer_latency: f64,
    /// Seconds assumed for a task of an op not measured yet (Dask's
    /// `distributed.scheduler.unknown-task-duration`, 0.5 s).
    pub unknown_duration: f64,
    /// Whether idle workers steal queued tasks from busy ones (Dask's
    /// `distributed.scheduler.work-stealing`): the driver must carry out
    /// [`Command::Steal`] and answer with [`SchedulerState::steal_response`].
    pub work_stealing: bool,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            allowed_failures: 3,
            max_input_losses: 50,
            bandwidth: 100e6,
            transfer_latency: 1e-3,
            work_stealing: false,
            unknown_duration: 0.5,
        }
    }
}

/// A task for [`SchedulerState::update_graph`]: its key, the keys it reads, its op's
/// registered name (workers are chosen among those that have it), its place in the graph's
/// order (lower runs first) and what the driver needs to run it.
#[derive(Debug, Clone)]
pub struct NewTask<P> {
    /// Its key.
    pub key: Key,
    /// Its inputs (each once).
    pub dependencies: Vec<Dependency>,
    /// Its op's registered name.
    pub op: Arc<str>,
    /// Its priority within the update: lower first (the graph's order).
    pub order: u64,
    /// The driver's own data about it (the process pool: its id in the plan; the cluster:
    /// its encoded op and literals).
    pub payload: P,
}

/// An input of a [`NewTask`]: a key (of a task in the same update or already known), or the
/// task at this place in the same update (no key to hash: a lowered plan's inputs are
/// numbers already).
///
/// ```
/// use rask_scheduling::Dependency;
/// let d: Dependency = rask_graph::Key::new("x", [0]).into();
/// assert!(matches!(d, Dependency::Key(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dependency {
    /// The task of this key.
    Key(Key),
    /// The task at this index of the update's list.
    InUpdate(u32),
}

impl From<Key> for Dependency {
    fn from(key: Key) -> Self {
        Dependency::Key(key)
    }
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Known, not needed now (or not yet).
    Released,
    /// Needed; some input is not in memory yet.
    Waiting,
    /// Ready, in the scheduler's queue until a worker has room for it.
    Queued,
    /// Sent to this worker.
    Processing(WorkerRef),
    /// Its result is held by one or more workers.
    Memory,
    /// It failed, or an input of it did.
    Erred,
}

/// (update generation, order within the update): lower runs first.
/// (update generation, order within the update), packed: the generation in the top 24 bits
/// (saturating: after 16M updates, later ones tie and go by their order), the order in the
/// low 40.
type Priority = u64;

fn priority(generation: u64, order: u64) -> Priority {
    (generation.min((1 << 24) - 1) << 40) | order.min((1 << 40) - 1)
}

/// One task as the state holds it.
#[derive(Debug)]
struct Record<P, E> {
    key: Key,
    /// Its op, interned (`SchedulerState::ops`).
    op: u32,
    priority: Priority,
    payload: P,
    status: TaskStatus,
    dependencies: SmallVec<[u32; 2]>,
    dependents: Vec<u32>,
    /// While waiting: inputs not in memory.
    waiting_on: u32,
    /// Dependents that still need its result (waiting, queued or processing).
    waiters: u32,
    wanted_by: SmallVec<[ClientId; 1]>,
    who_has: SmallVec<[WorkerRef; 1]>,
    nbytes: u64,
    /// Worker deaths blamed on it.
    suspicious: u32,
    input_losses: u32,
    failure: Option<Arc<Failure<E>>>,
    /// Which of its entries in the queue is current.
    epoch: u32,
    /// The worker it is being stolen for, while the victim has not answered.
    stealing: Option<WorkerRef>,
}

impl<P, E> Record<P, E> {
    fn needed(&self) -> bool {
        self.waiters > 0 || !self.wanted_by.is_empty()
    }
}

/// An op the state has seen.
#[derive(Debug)]
struct OpInfo {
    name: Arc<str>,
    /// Seconds per task (an exponential average of what workers reported).
    duration: Option<f64>,
    /// How many connected workers have it.
    capable: u32,
}

/// An entry of the queue, 16 bytes: (priority, slot, epoch). Valid while the task in that
/// slot is queued with that epoch; epochs are drawn from one counter for the whole state, so
/// an entry left by a forgotten task never matches the task that reuses its slot.
type Entry = Reverse<(Priority, u32, u32)>;

/// The scheduling state machine shared by the process pool and the distributed scheduler
/// (Dask's `SchedulerState`): events in ([`add_worker`](Self::add_worker),
/// [`update_graph`](Self::update_graph), [`task_finished`](Self::task_finished), …),
/// [`Command`]s out ([`take_commands`](Self::take_commands)). `P` is the driver's data per
/// task, `E` its error type.
///
/// - Tasks are keyed and outlive a computation: a key wanted by two clients is computed once,
///   and stays in memory while a client wants it or a task still needs it.
/// - Ready tasks wait in one queue, by priority, until a worker has room (root tasks are not
///   over-produced); each goes to the worker that can run its op at the least cost (inputs
///   to move, work already queued there).
/// - A lost worker's running tasks are rerun and its results recomputed where still needed —
///   iteratively, however deep the chain. A task blamed for `allowed_failures` deaths fails.
/// - A failure fails the tasks that depend on it, and is reported to the clients that want
///   any of them.
///
/// ```
/// use rask_graph::Key;
/// use rask_scheduling::{Command, NewTask, SchedulerState, StateConfig, WorkerSpec};
///
/// let mut s: SchedulerState<(), String> = SchedulerState::new(StateConfig::default());
/// let w = s.add_worker(WorkerSpec::new("w0", 1));
/// let c = s.add_client();
/// let (a, b) = (Key::new("a", []), Key::new("b", []));
/// let task = |key: &Key, deps: &[Key], order| NewTask {
///     key: key.clone(), dependencies: deps.iter().cloned().map(Into::into).collect(), op: "op".into(), order, payload: (),
/// };
/// s.update_graph(c, vec![task(&a, &[], 0), task(&b, &[a.clone()], 1)], &[b.clone()])?;
/// let ta = s.task_of(&a).unwrap();
/// assert!(matches!(s.take_commands()[..], [Command::Run { task, .. }] if task == ta));
/// s.task_finished(w, ta, 8, None);
/// let tb = s.task_of(&b).unwrap();
/// assert!(matches!(s.take_commands()[..], [Command::Run { task, .. }] if task == tb));
/// s.task_finished(w, tb, 8, None);
/// // `a` is released (its reader is done); `b` is reported to the client that wants it.
/// let cmds = s.take_commands();
/// assert!(cmds.iter().any(|c| matches!(c, Command::Release { task, .. } if *task == ta)));
/// assert!(cmds.iter().any(|c| matches!(c, Command::InMemory { task, .. } if *task == tb)));
/// s.remove_client(c);
/// assert_eq!(s.len(), 0);
/// # Ok::<(), rask_scheduling::UpdateError>(())
/// ```
#[derive(Debug)]
pub struct SchedulerState<P, E> {
    config: StateConfig,
    tasks: Slots<Record<P, E>>,
    by_key: FxHashMap<Key, u32>,
    workers: Slots<WorkerRecord>,
    clients: FxHashMap<ClientId, FxHashSet<u32>>,
    next_client: u32,
    generation: u64,
    queue: BinaryHeap<Entry>,
    /// The last epoch given to a queued task.
    epochs: u32,
    /// The ops of the tasks, interned: a task's op is an index here.
    ops: Vec<OpInfo>,
    op_ids: FxHashMap<Arc<str>, u32>,
    /// The workers with room, least loaded first: (seconds queued per thread, as ordered
    /// bits, and slot).
    by_load: BTreeSet<(u64, u32)>,
    commands: Vec<Command<E>>,
    /// Tasks whose need may have ended (checked by `settle_releases`).
    release_checks: Vec<u32>,
}

impl<P, E> SchedulerState<P, E> {
    /// An empty state.
    pub fn new(config: StateConfig) -> Self {
        Self {
            config,
            tasks: Slots::default(),
            by_key: FxHashMap::default(),
            workers: Slots::default(),
            clients: FxHashMap::default(),
            next_client: 0,
            generation: 0,
            queue: BinaryHeap::new(),
            epochs: 0,
            ops: Vec::new(),
            op_ids: FxHashMap::default(),
            by_load: BTreeSet::new(),
            commands: Vec::new(),
            release_checks: Vec::new(),
        }
    }

    /// The commands queued since the last call, in the order they were decided.
    pub fn take_commands(&mut self) -> Vec<Command<E>> {
        self.drop_unsent_runs();
        std::mem::take(&mut self.commands)
    }

    /// Moves the commands queued since the last call to the end of `out` (a driver's loop
    /// reuses one buffer: no allocation per event).
    pub fn drain_commands_into(&mut self, out: &mut Vec<Command<E>>) {
        self.drop_unsent_runs();
        out.append(&mut self.commands);
    }

    /// A run decided and undone before the driver took it (its task forgotten, or moved to
    /// another worker, by a later event) is never handed out: the worker is no longer
    /// counted as running it, and the cancel that undid it is dropped with it. Without
    /// this, a driver would be told to run a task it can no longer look up.
    fn drop_unsent_runs(&mut self) {
        loop {
            let mut unsent: SmallVec<[(WorkerRef, TaskId); 4]> = SmallVec::new();
            for cmd in &self.commands {
                if let Command::Run { worker, task } = *cmd
                    && !self.processing_on(task, worker)
                {
                    unsent.push((worker, task));
                }
            }
            if unsent.is_empty() {
                return;
            }
            for &(worker, task) in &unsent {
                self.answered(worker, task);
            }
            self.commands.retain(|cmd| match *cmd {
                Command::Run { worker, task } | Command::Cancel { worker, task } => {
                    !unsent.contains(&(worker, task))
                }
                _ => true,
            });
            // The room they held may take queued tasks.
            self.schedule();
        }
    }

    // ---- queries ----

    /// The number of tasks the state holds.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether it holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.len() == 0
    }

    /// The task of `key`, if the state holds it.
    pub fn task_of(&self, key: &Key) -> Option<TaskId> {
        let slot = *self.by_key.get(key)?;
        Some(self.id(slot))
    }

    fn id(&self, slot: u32) -> TaskId {
        TaskId {
            slot,
            generation: self.tasks.generation(slot).unwrap_or(0),
        }
    }

    fn record(&self, t: TaskId) -> Option<&Record<P, E>> {
        self.tasks.get(t.slot, t.generation)
    }

    /// The key of task `t` (`None` once it is forgotten).
    pub fn key(&self, t: TaskId) -> Option<&Key> {
        self.record(t).map(|r| &r.key)
    }

    /// The driver's data of task `t`.
    pub fn payload(&self, t: TaskId) -> Option<&P> {
        self.record(t).map(|r| &r.payload)
    }

    /// Task `t`'s priority: lower runs first (earlier updates first, then the graph's order).
    pub fn priority(&self, t: TaskId) -> Option<u64> {
        self.record(t).map(|r| r.priority)
    }

    /// Where task `t` is.
    pub fn status(&self, t: TaskId) -> Option<TaskStatus> {
        self.record(t).map(|r| r.status)
    }

    /// The workers holding task `t`'s result.
    pub fn who_has(&self, t: TaskId) -> &[WorkerRef] {
        self.record(t).map_or(&[], |r| &r.who_has)
    }

    /// The size of task `t`'s result, as its worker reported it.
    pub fn nbytes(&self, t: TaskId) -> u64 {
        self.record(t).map_or(0, |r| r.nbytes)
    }

    /// Task `t`'s inputs.
    pub fn dependencies(&self, t: TaskId) -> impl Iterator<Item = TaskId> + '_ {
        (self.record(t).into_iter())
            .flat_map(|r| r.dependencies.iter())
            .map(|d| self.id(*d))
    }

    /// Why task `t` failed, if it did.
    pub fn failure(&self, t: TaskId) -> Option<&Arc<Failure<E>>> {
        self.record(t)?.failure.as_ref()
    }

    /// Whether task `t` was sent to worker `w` and not answered yet (a reply about it answers
    /// that run; any other is stale).
    pub fn is_sent(&self, w: WorkerRef, t: TaskId) -> bool {
        (self.workers.get(w.slot, w.generation)).is_some_and(|r| r.outstanding.contains_key(&t))
    }

    /// How many tasks were sent to worker `w` and not answered yet.
    pub fn in_flight(&self, w: WorkerRef) -> usize {
        (self.workers.get(w.slot, w.generation)).map_or(0, |r| r.outstanding.len())
    }

    /// The tasks sent to worker `w` and not answered, highest priority first (what it runs
    /// first).
    pub fn sent_to(&self, w: WorkerRef) -> Vec<TaskId> {
        let Some(worker) = self.workers.get(w.slot, w.generation) else {
            return Vec::new();
        };
        let mut sent: Vec<(u64, TaskId)> = (worker.outstanding.keys())
            .map(|t| (self.record(*t).map_or(u64::MAX, |r| r.priority), *t))
            .collect();
        sent.sort_unstable();
        sent.into_iter().map(|(_, t)| t).collect()
    }

    /// Pauses worker `w` (it gets no new task: its memory is past its pause threshold) or
    /// lets it take tasks again.
    pub fn set_paused(&mut self, w: WorkerRef, paused: bool) {
        if self.workers.get(w.slot, w.generation).is_none() {
            return;
        }
        let before = self.load_key(w.slot);
        self.workers.at_mut(w.slot).paused = paused;
        self.reindex(w.slot, before);
        self.schedule();
    }

    /// What worker `w` holds and runs, as the state sees it.
    pub fn worker_load(&self, w: WorkerRef) -> Option<WorkerLoad> {
        let worker = self.workers.get(w.slot, w.generation)?;
        Some(WorkerLoad {
            results: worker.has_what.len(),
            bytes: worker.nbytes,
            in_flight: worker.outstanding.len(),
        })
    }

    /// Whether no task is sent and unanswered, on any worker.
    pub fn quiet(&self) -> bool {
        self.workers
            .iter()
            .all(|(_, _, w)| w.outstanding.is_empty())
    }

    /// The worker `w`, as it joined.
    pub fn worker(&self, w: WorkerRef) -> Option<&WorkerSpec> {
        self.workers.get(w.slot, w.generation).map(|r| &r.spec)
    }

    /// The connected workers.
    pub fn workers(&self) -> impl Iterator<Item = WorkerRef> + '_ {
        (self.workers.iter()).map(|(slot, generation, _)| WorkerRef { slot, generation })
    }

    /// How many tasks are in each status, in the order of [`TaskStatus`]'s variants (with
    /// every processing task counted together).
    pub fn counts(&self) -> [usize; 6] {
        let mut c = [0; 6];
        for (_, _, r) in self.tasks.iter() {
            c[match r.status {
                TaskStatus::Released => 0,
                TaskStatus::Waiting => 1,
                TaskStatus::Queued => 2,
                TaskStatus::Processing(_) => 3,
                TaskStatus::Memory => 4,
                TaskStatus::Erred => 5,
            }] += 1;
        }
        c
    }

    // ---- workers ----

    /// A worker joins.
    pub fn add_worker(&mut self, spec: WorkerSpec) -> WorkerRef {
        let mut record = WorkerRecord::new(spec);
        for op in &mut self.ops {
            let can = record.spec.has_op(&op.name);
            record.can.push(can);
            op.capable += u32::from(can);
        }
        let (slot, generation) = self.workers.insert(record);
        self.reindex(slot, None);
        self.schedule();
        WorkerRef { slot, generation }
    }

    /// Where worker `slot` is in the load index: nowhere when it has no room.
    fn load_key(&self, slot: u32) -> Option<(u64, u32)> {
        let w = self.workers.at(slot);
        w.has_room().then(|| {
            let per_thread = w.occupancy / f64::from(w.spec.nthreads);
            (per_thread.max(0.0).to_bits(), slot)
        })
    }

    /// Moves worker `slot` in the load index, from where it was (`before`).
    fn reindex(&mut self, slot: u32, before: Option<(u64, u32)>) {
        let after = self.load_key(slot);
        if before != after {
            if let Some(b) = before {
                self.by_load.remove(&b);
            }
            if let Some(a) = after {
                self.by_load.insert(a);
            }
        }
    }

    /// Worker `w` is gone (it died, or went silent): its results are lost, its tasks go back
    /// to the queue, and `suspects` — the tasks it was running when it died (or else the one
    /// it finished last), never those merely queued on it — are blamed for its death.
    pub fn remove_worker(&mut self, w: WorkerRef, suspects: &[TaskId]) {
        if self.workers.get(w.slot, w.generation).is_none() {
            return;
        }
        let before = self.load_key(w.slot);
        let Some(worker) = self.workers.remove(w.slot) else {
            return;
        };
        if let Some(b) = before {
            self.by_load.remove(&b);
        }
        for (op, can) in self.ops.iter_mut().zip(&worker.can) {
            op.capable -= u32::from(*can);
        }
        // Results only it held are lost: recomputed if still needed.
        let mut lost = Vec::new();
        for &slot in &worker.has_what {
            let r = self.tasks.at_mut(slot);
            r.who_has.retain(|h| *h != w);
            if r.who_has.is_empty() && r.status == TaskStatus::Memory {
                lost.push(slot);
            }
        }
        let mut recompute = Vec::new();
        for slot in lost {
            self.unmemory(slot);
            if self.tasks.at(slot).needed() {
                recompute.push(slot);
            } else {
                self.release_checks.push(slot);
            }
        }
        // Blame.
        for &t in suspects {
            let Some(r) = self.tasks.get_mut(t.slot, t.generation) else {
                continue;
            };
            if r.status == TaskStatus::Memory && !r.who_has.is_empty() {
                continue; // safe elsewhere: not what kills workers
            }
            r.suspicious += 1;
            if r.suspicious >= self.config.allowed_failures {
                let failure = Failure::KilledWorkers {
                    key: r.key.clone(),
                    deaths: r.suspicious,
                };
                recompute.retain(|s| *s != t.slot);
                self.erred(t.slot, Arc::new(failure));
            }
        }
        self.make_waiting(recompute);
        // Its running tasks run again elsewhere.
        let mut rerun: Vec<u32> = (worker.outstanding.keys())
            .filter(|t| {
                self.record(**t)
                    .is_some_and(|r| r.status == TaskStatus::Processing(w))
            })
            .map(|t| t.slot)
            .collect();
        rerun.sort_unstable();
        for slot in rerun {
            self.restart(slot);
        }
        self.settle_releases();
        self.schedule();
    }

    /// Result `slot` left memory (its last holder is gone): dependents that had counted it
    /// wait for it again.
    fn unmemory(&mut self, slot: u32) {
        let r = self.tasks.at_mut(slot);
        r.status = TaskStatus::Released;
        let dependents = std::mem::take(&mut r.dependents);
        for &m in &dependents {
            let d = self.tasks.at_mut(m);
            match d.status {
                TaskStatus::Waiting => d.waiting_on += 1,
                TaskStatus::Queued => {
                    d.status = TaskStatus::Waiting;
                    d.waiting_on = 1;
                }
                _ => {}
            }
        }
        self.tasks.at_mut(slot).dependents = dependents;
    }

    // ---- clients ----

    /// A client connects.
    pub fn add_client(&mut self) -> ClientId {
        let c = ClientId(self.next_client);
        self.next_client += 1;
        self.clients.insert(c, FxHashSet::default());
        c
    }

    /// A client goes: what it wanted is released (and forgotten, unless another client or
    /// task still needs it).
    pub fn remove_client(&mut self, c: ClientId) {
        let Some(wants) = self.clients.remove(&c) else {
            return;
        };
        for slot in wants {
            self.unwant(slot, c);
        }
        self.settle_releases();
        self.schedule();
    }

    /// `c` no longer wants `keys` (unknown keys, and keys it did not want, are ignored).
    pub fn release_keys(&mut self, c: ClientId, keys: &[Key]) {
        for key in keys {
            let Some(&slot) = self.by_key.get(key) else {
                continue;
            };
            if self.clients.get_mut(&c).is_some_and(|w| w.remove(&slot)) {
                self.unwant(slot, c);
            }
        }
        self.settle_releases();
        self.schedule();
    }

    fn unwant(&mut self, slot: u32, c: ClientId) {
        let r = self.tasks.at_mut(slot);
        if let Some(i) = r.wanted_by.iter().position(|x| *x == c) {
            r.wanted_by.swap_remove(i);
        }
        self.release_checks.push(slot);
    }

    /// Adds `tasks` (keys already known keep their task) and makes client `c` want `wanted`;
    /// the ids of `tasks`, in their order. Nothing is applied when the update is refused: a
    /// dependency or wanted key that no task makes, a key twice, a cycle. A task that no
    /// wanted key needs is forgotten at once (its id is stale from the start).
    pub fn update_graph(
        &mut self,
        c: ClientId,
        tasks: Vec<NewTask<P>>,
        wanted: &[Key],
    ) -> Result<Vec<TaskId>, UpdateError> {
        if !self.clients.contains_key(&c) {
            return Err(UpdateError::UnknownClient(c.0));
        }
        // Per task: the slot of the known task of its key (none in a state that knows none).
        let known: Vec<Option<u32>> = if self.by_key.is_empty() {
            vec![None; tasks.len()]
        } else {
            (tasks.iter())
                .map(|t| self.by_key.get(&t.key).copied())
                .collect()
        };
        let fresh: Vec<NewTask<P>> = (tasks.into_iter().zip(&known))
            .filter(|(_, k)| k.is_none())
            .map(|(t, _)| t)
            .collect();
        let deps = resolve_update(&fresh, &known, &self.by_key, wanted)?;
        self.generation += 1;
        self.by_key.reserve(fresh.len());
        self.tasks.reserve(fresh.len());
        let mut slots: Vec<u32> = Vec::with_capacity(fresh.len());
        for t in fresh {
            let op = self.intern(t.op);
            let record = Record {
                key: t.key.clone(),
                op,
                priority: priority(self.generation, t.order),
                payload: t.payload,
                status: TaskStatus::Released,
                dependencies: SmallVec::new(),
                dependents: Vec::new(),
                waiting_on: 0,
                waiters: 0,
                wanted_by: SmallVec::new(),
                who_has: SmallVec::new(),
                nbytes: 0,
                suspicious: 0,
                input_losses: 0,
                failure: None,
                epoch: 0,
                stealing: None,
            };
            let (slot, _) = self.tasks.insert(record);
            self.by_key.insert(t.key, slot);
            slots.push(slot);
        }
        for (i, ds) in deps.into_iter().enumerate() {
            let slot = slots[i];
            // A task no wanted key needs is forgotten at once (Dask culls the same way).
            self.release_checks.push(slot);
            for d in ds {
                let d = match d {
                    Dep::New(j) => slots[j as usize],
                    Dep::Known(s) => s,
                };
                self.tasks.at_mut(slot).dependencies.push(d);
                self.tasks.at_mut(d).dependents.push(slot);
            }
        }
        let mut fresh_slots = slots.into_iter();
        let ids: Vec<TaskId> = (known.into_iter())
            .map(|k| {
                let slot = k.or_else(|| fresh_slots.next()).unwrap_or(0);
                self.id(slot)
            })
            .collect();
        let mut compute = Vec::new();
        for key in wanted {
            let slot = self.by_key[key];
            let Some(wants) = self.clients.get_mut(&c) else {
                unreachable!("checked above")
            };
            if !wants.insert(slot) {
                continue;
            }
            let id = self.id(slot);
            let r = self.tasks.at_mut(slot);
            r.wanted_by.push(c);
            match r.status {
                TaskStatus::Memory => self.commands.push(Command::InMemory {
                    client: c,
                    task: id,
                }),
                TaskStatus::Erred => {
                    if let Some(failure) = &r.failure {
                        self.commands.push(Command::Erred {
                            client: c,
                            task: id,
                            failure: Arc::clone(failure),
                        });
                    }
                }
                TaskStatus::Released => compute.push(slot),
                _ => {}
            }
        }
        self.make_waiting(compute);
        self.settle_releases();
        self.schedule();
        Ok(ids)
    }

    /// The id of op `name`, interned on first sight (and checked against every worker).
    fn intern(&mut self, name: Arc<str>) -> u32 {
        if let Some(&id) = self.op_ids.get(&name) {
            return id;
        }
        let id = self.ops.len() as u32;
        let mut capable = 0;
        for w in self.workers.values_mut() {
            let can = w.spec.has_op(&name);
            w.can.push(can);
            capable += u32::from(can);
        }
        self.ops.push(OpInfo {
            name: Arc::clone(&name),
            duration: None,
            capable,
        });
        self.op_ids.insert(name, id);
        id
    }

    // ---- answers from workers ----

    /// Takes task `t` off worker `w`'s unanswered runs: its estimated duration, or `None`
    /// when `w` is gone or never had `t` (a stale reply).
    fn answered(&mut self, w: WorkerRef, t: TaskId) -> Option<f64> {
        self.workers.get(w.slot, w.generation)?;
        let before = self.load_key(w.slot);
        let worker = self.workers.at_mut(w.slot);
        let estimate = worker.outstanding.remove(&t)?;
        worker.occupancy = (worker.occupancy - estimate).max(0.0);
        if worker.outstanding.is_empty() {
            worker.occupancy = 0.0;
        }
        self.reindex(w.slot, before);
        Some(estimate)
    }

    /// Whether task `t` is processing on `w`.
    fn processing_on(&self, t: TaskId, w: WorkerRef) -> bool {
        self.record(t)
            .is_some_and(|r| r.status == TaskStatus::Processing(w))
    }

    /// Worker `w` finished task `t`, whose result of `nbytes` it now holds, in `seconds`
    /// (when it measured them). Returns whether the result was wanted: a stale reply, or the
    /// result of a task no longer needed, is released on the worker instead.
    pub fn task_finished(
        &mut self,
        w: WorkerRef,
        t: TaskId,
        nbytes: u64,
        seconds: Option<f64>,
    ) -> bool {
        if self.answered(w, t).is_none() {
            return false;
        }
        if let (Some(s), Some(op)) = (seconds, self.record(t).map(|r| r.op as usize)) {
            let op = &mut self.ops[op];
            op.duration = Some(op.duration.map_or(s, |avg| 0.5 * avg + 0.5 * s));
        }
        let wanted = self.processing_on(t, w);
        if wanted {
            self.store_result(t.slot, w, nbytes);
        } else {
            self.commands.push(Command::Release {
                worker: w,
                task: t,
                nbytes,
            });
        }
        self.settle_releases();
        self.schedule();
        wanted
    }

    /// Task `t` failed on worker `w`. Returns whether it counted (a stale reply does not).
    pub fn task_erred(&mut self, w: WorkerRef, t: TaskId, error: E) -> bool {
        if self.answered(w, t).is_none() || !self.processing_on(t, w) {
            return false;
        }
        self.erred_answered(t.slot, Arc::new(Failure::Task(error)));
        self.settle_releases();
        self.schedule();
        true
    }

    /// Worker `w` did not run task `t` (it was cancelled before it started). A task still
    /// needed goes back to the queue. Returns whether `t` was processing there.
    pub fn task_cancelled(&mut self, w: WorkerRef, t: TaskId) -> bool {
        if self.answered(w, t).is_none() || !self.processing_on(t, w) {
            return false;
        }
        // Its inputs may have left memory meanwhile: counted again, not assumed.
        self.restart(t.slot);
        self.settle_releases();
        self.schedule();
        true
    }

    /// Worker `w` could not fetch input `input` of task `t` from `holder` (when it knows
    /// which): `holder` no longer counts as having it (it is recomputed if no one else has
    /// it), and `t` runs again. After `max_input_losses` of these, `t` fails. Returns whether
    /// `t` was processing on `w`.
    pub fn missing_data(
        &mut self,
        w: WorkerRef,
        t: TaskId,
        input: TaskId,
        holder: Option<WorkerRef>,
    ) -> bool {
        if self.answered(w, t).is_none() || !self.processing_on(t, w) {
            return false;
        }
        if let Some(holder) = holder
            && let Some(r) = self.tasks.get_mut(input.slot, input.generation)
            && let Some(i) = r.who_has.iter().position(|h| *h == holder)
        {
            r.who_has.swap_remove(i);
            let nbytes = r.nbytes;
            let gone = r.who_has.is_empty() && r.status == TaskStatus::Memory;
            if let Some(h) = self.workers.get_mut(holder.slot, holder.generation) {
                h.has_what.remove(&input.slot);
                h.nbytes = h.nbytes.saturating_sub(nbytes);
                // If it still has a copy, it no longer counts: dropped.
                self.commands.push(Command::Release {
                    worker: holder,
                    task: input,
                    nbytes,
                });
            }
            if gone {
                self.unmemory(input.slot);
                // `t` still needs it, so it is needed.
                self.make_waiting(vec![input.slot]);
            }
        }
        let input_key = self.record(input).map(|r| r.key.clone());
        let r = self.tasks.at_mut(t.slot);
        r.input_losses += 1;
        if r.input_losses >= self.config.max_input_losses {
            let failure = Failure::InputLost {
                input: input_key.unwrap_or_else(|| r.key.clone()),
                key: r.key.clone(),
                tries: r.input_losses,
            };
            self.erred_answered(t.slot, Arc::new(failure));
        } else {
            self.restart(t.slot);
        }
        self.settle_releases();
        self.schedule();
        true
    }

    // ---- transitions ----

    /// Makes released tasks `roots` waiting, with every released input they need: iterative,
    /// however deep the chain.
    fn make_waiting(&mut self, roots: Vec<u32>) {
        let mut stack = roots;
        let mut marked = Vec::new();
        while let Some(slot) = stack.pop() {
            let r = self.tasks.at_mut(slot);
            if r.status != TaskStatus::Released {
                continue;
            }
            r.status = TaskStatus::Waiting;
            marked.push(slot);
            let deps = r.dependencies.clone();
            for d in deps {
                let dr = self.tasks.at_mut(d);
                dr.waiters += 1;
                if dr.status == TaskStatus::Released {
                    stack.push(d);
                }
            }
        }
        for slot in marked {
            self.count_inputs(slot);
        }
    }

    /// A waiting task counts its inputs not in memory: queued when none, failed when one
    /// failed.
    fn count_inputs(&mut self, slot: u32) {
        if self.tasks.at(slot).status != TaskStatus::Waiting {
            return; // failed meanwhile
        }
        let mut missing = 0;
        let mut failed = None;
        for &d in &self.tasks.at(slot).dependencies {
            let dr = self.tasks.at(d);
            match dr.status {
                TaskStatus::Memory => {}
                TaskStatus::Erred => failed = Some(d),
                _ => missing += 1,
            }
        }
        if let Some(d) = failed {
            let dr = self.tasks.at(d);
            if let Some(f) = &dr.failure {
                let cause = dependency_failure(&dr.key, f);
                self.erred(slot, cause);
                return;
            }
        }
        self.tasks.at_mut(slot).waiting_on = missing;
        if missing == 0 {
            self.enqueue(slot);
        }
    }

    /// A task that had been sent to a worker runs again (it still needs its inputs).
    fn restart(&mut self, slot: u32) {
        let r = self.tasks.at_mut(slot);
        r.status = TaskStatus::Waiting;
        let deps = r.dependencies.clone();
        // An input that is neither in memory nor coming is made to come.
        let missing: Vec<u32> = (deps.iter().copied())
            .filter(|d| self.tasks.at(*d).status == TaskStatus::Released)
            .collect();
        self.make_waiting(missing);
        self.count_inputs(slot);
    }

    fn enqueue(&mut self, slot: u32) {
        self.epochs = self.epochs.wrapping_add(1);
        let r = self.tasks.at_mut(slot);
        r.status = TaskStatus::Queued;
        r.epoch = self.epochs;
        self.queue.push(Reverse((r.priority, slot, r.epoch)));
    }

    fn store_result(&mut self, slot: u32, w: WorkerRef, nbytes: u64) {
        let id = self.id(slot);
        let r = self.tasks.at_mut(slot);
        r.status = TaskStatus::Memory;
        r.who_has.clear();
        r.who_has.push(w);
        r.nbytes = nbytes;
        for &c in &r.wanted_by {
            self.commands.push(Command::InMemory {
                client: c,
                task: id,
            });
        }
        if let Some(worker) = self.workers.get_mut(w.slot, w.generation) {
            worker.has_what.insert(slot);
            worker.nbytes = worker.nbytes.saturating_add(nbytes);
        }
        let r = self.tasks.at(slot);
        let (deps, dependents) = (r.dependencies.clone(), r.dependents.clone());
        for m in dependents {
            let d = self.tasks.at_mut(m);
            if d.status == TaskStatus::Waiting {
                d.waiting_on -= 1;
                if d.waiting_on == 0 {
                    self.enqueue(m);
                }
            }
        }
        // Its inputs are no longer needed by it.
        for d in deps {
            self.tasks.at_mut(d).waiters -= 1;
            self.release_checks.push(d);
        }
        self.release_checks.push(slot);
    }

    /// Task `slot` fails with `failure`, and so do the tasks waiting on it (iteratively).
    fn erred(&mut self, slot: u32, failure: Arc<Failure<E>>) {
        self.erred_from(slot, failure, true);
    }

    /// [`erred`](Self::erred) for a task whose worker has just answered it (no Cancel).
    fn erred_answered(&mut self, slot: u32, failure: Arc<Failure<E>>) {
        self.erred_from(slot, failure, false);
    }

    fn erred_from(&mut self, slot: u32, failure: Arc<Failure<E>>, cancel_first: bool) {
        let first = slot;
        let mut stack = vec![(slot, failure)];
        while let Some((slot, failure)) = stack.pop() {
            let id = self.id(slot);
            let r = self.tasks.at_mut(slot);
            let was = r.status;
            if matches!(was, TaskStatus::Erred | TaskStatus::Memory) {
                continue;
            }
            r.status = TaskStatus::Erred;
            r.failure = Some(Arc::clone(&failure));
            for &c in &r.wanted_by {
                self.commands.push(Command::Erred {
                    client: c,
                    task: id,
                    failure: Arc::clone(&failure),
                });
            }
            if let TaskStatus::Processing(w) = was
                && (cancel_first || slot != first)
            {
                self.cancel(w, id);
            }
            let r = self.tasks.at(slot);
            let cause = dependency_failure(&r.key, &failure);
            let (deps, dependents) = (r.dependencies.clone(), r.dependents.clone());
            if matches!(
                was,
                TaskStatus::Waiting | TaskStatus::Queued | TaskStatus::Processing(_)
            ) {
                for d in deps {
                    self.tasks.at_mut(d).waiters -= 1;
                    self.release_checks.push(d);
                }
            }
            for m in dependents {
                if matches!(
                    self.tasks.at(m).status,
                    TaskStatus::Waiting | TaskStatus::Queued
                ) {
                    stack.push((m, Arc::clone(&cause)));
                }
            }
            self.release_checks.push(slot);
        }
    }

    /// Releases what is no longer needed among the tasks queued for a check, and what that
    /// frees in turn; forgets released tasks that nothing refers to.
    fn settle_releases(&mut self) {
        while let Some(slot) = self.release_checks.pop() {
            if self.tasks.generation(slot).is_none() {
                continue; // forgotten already
            }
            let id = self.id(slot);
            let r = self.tasks.at_mut(slot);
            if r.needed() {
                continue;
            }
            match r.status {
                TaskStatus::Memory => {
                    let holders = std::mem::take(&mut r.who_has);
                    let nbytes = r.nbytes;
                    r.status = TaskStatus::Released;
                    for w in holders {
                        if let Some(worker) = self.workers.get_mut(w.slot, w.generation) {
                            worker.has_what.remove(&slot);
                            worker.nbytes = worker.nbytes.saturating_sub(nbytes);
                        }
                        self.commands.push(Command::Release {
                            worker: w,
                            task: id,
                            nbytes,
                        });
                    }
                }
                TaskStatus::Waiting | TaskStatus::Queued | TaskStatus::Processing(_) => {
                    let was = r.status;
                    r.status = TaskStatus::Released;
                    let deps = r.dependencies.clone();
                    if let TaskStatus::Processing(w) = was {
                        self.cancel(w, id);
                    }
                    for d in deps {
                        self.tasks.at_mut(d).waiters -= 1;
                        self.release_checks.push(d);
                    }
                }
                TaskStatus::Erred => {
                    let r = self.tasks.at_mut(slot);
                    r.status = TaskStatus::Released;
                    r.failure = None;
                }
                TaskStatus::Released => {}
            }
            self.forget_if_unused(slot);
        }
    }

    /// Forgets task `slot` if it is released, unwanted and read by no task the state holds;
    /// then its inputs, likewise.
    fn forget_if_unused(&mut self, slot: u32) {
        let mut stack = vec![slot];
        while let Some(slot) = stack.pop() {
            if self.tasks.generation(slot).is_none() {
                continue;
            }
            let r = self.tasks.at(slot);
            if r.status != TaskStatus::Released
                || !r.wanted_by.is_empty()
                || !r.dependents.is_empty()
            {
                continue;
            }
            let Some(r) = self.tasks.remove(slot) else {
                continue;
            };
            self.by_key.remove(&r.key);
            for d in r.dependencies {
                let dr = self.tasks.at_mut(d);
                if let Some(i) = dr.dependents.iter().position(|m| *m == slot) {
                    dr.dependents.swap_remove(i);
                }
                stack.push(d);
            }
        }
    }

    // ---- placement ----

    /// Hands queued tasks, by priority, to workers with room.
    fn schedule(&mut self) {
        self.place();
        if self.config.work_stealing {
            self.balance();
        }
    }

    /// Idle workers (fewer tasks than threads, none left in the queue for them) ask busy
    /// ones (tasks queued beyond their threads) for the task they would start last, when
    /// computing it is worth more than moving its inputs (Dask's work stealing). The victim
    /// says whether it had not started it ([`steal_response`](Self::steal_response)).
    fn balance(&mut self) {
        if !self.queue.is_empty() || self.workers.len() < 2 {
            return;
        }
        let idle: Vec<WorkerRef> = (self.workers.iter())
            .filter(|(_, _, w)| !w.paused && (w.outstanding.len() as u32) < w.spec.nthreads)
            .map(|(slot, generation, _)| WorkerRef { slot, generation })
            .collect();
        for thief in idle {
            let victim = (self.workers.iter())
                .filter(|(slot, _, w)| {
                    *slot != thief.slot && w.outstanding.len() as u32 > w.spec.nthreads + w.stealing
                })
                .max_by_key(|(_, _, w)| w.outstanding.len() as u32 - w.stealing)
                .map(|(slot, generation, _)| WorkerRef { slot, generation });
            let Some(victim) = victim else { return };
            // Its last in line: the lowest priority not already being stolen.
            let Some(t) = self
                .sent_to(victim)
                .into_iter()
                .rev()
                .find(|t| self.record(*t).is_some_and(|r| r.stealing.is_none()))
            else {
                continue;
            };
            let r = self.tasks.at(t.slot);
            if !self.workers.at(thief.slot).can[r.op as usize] {
                continue;
            }
            let compute = self.estimate(r.op);
            let transfer: f64 = (r.dependencies.iter())
                .map(|d| {
                    let dr = self.tasks.at(*d);
                    if dr.who_has.contains(&thief) {
                        0.0
                    } else {
                        dr.nbytes as f64 / self.config.bandwidth + self.config.transfer_latency
                    }
                })
                .sum();
            if compute < 2.0 * transfer {
                continue; // cheaper to wait than to move its inputs
            }
            self.tasks.at_mut(t.slot).stealing = Some(thief);
            self.workers.at_mut(victim.slot).stealing += 1;
            self.commands.push(Command::Steal {
                victim,
                task: t,
                thief,
            });
        }
    }

    /// The answer to a [`Command::Steal`]: whether `victim` took task `t` off its queue
    /// before starting it. If it did, the task goes to its thief (or back to the queue).
    pub fn steal_response(&mut self, victim: WorkerRef, t: TaskId, stolen: bool) {
        let Some(r) = self.tasks.get_mut(t.slot, t.generation) else {
            return;
        };
        let thief = r.stealing.take();
        if let Some(v) = self.workers.get_mut(victim.slot, victim.generation) {
            v.stealing = v.stealing.saturating_sub(1);
        }
        if !stolen || !self.processing_on(t, victim) || self.answered(victim, t).is_none() {
            return;
        }
        match thief.filter(|w| {
            self.workers
                .get(w.slot, w.generation)
                .is_some_and(|w| w.has_room())
        }) {
            Some(thief) => self.assign_to(t.slot, thief),
            None => self.restart(t.slot),
        }
        self.schedule();
    }

    /// Hands queued tasks, by priority, to workers with room.
    fn place(&mut self) {
        if self.queue.is_empty() || self.workers.len() == 0 {
            return;
        }
        let mut deferred = Vec::new();
        while !self.by_load.is_empty() && deferred.len() < MAX_DEFERRED {
            let Some(entry) = self.queue.pop() else { break };
            let Reverse((_, slot, epoch)) = entry;
            let Some(generation) = self.tasks.generation(slot) else {
                continue; // forgotten
            };
            match self.tasks.get(slot, generation) {
                Some(r) if r.status == TaskStatus::Queued && r.epoch == epoch => {}
                _ => continue, // stale entry
            }
            match self.decide_worker(slot) {
                Placement::On(w) => self.assign_to(slot, w),
                Placement::Full => deferred.push(entry),
                Placement::NoneCapable => {
                    let r = self.tasks.at(slot);
                    let failure = Failure::NoWorker {
                        key: r.key.clone(),
                        op: Arc::clone(&self.ops[r.op as usize].name),
                    };
                    self.erred(slot, Arc::new(failure));
                    self.settle_releases();
                }
            }
        }
        self.queue.extend(deferred);
    }

    /// The worker that can run task `slot` at the least cost: inputs to move (bytes over
    /// the bandwidth, plus a round trip each) and the work already sent to it, per thread.
    /// The candidates are the workers with room that hold its inputs, and the least loaded
    /// worker with room that has its op (Dask's `decide_worker` looks as narrowly).
    fn decide_worker(&self, slot: u32) -> Placement {
        let r = self.tasks.at(slot);
        let op = r.op as usize;
        if self.ops[op].capable == 0 {
            return Placement::NoneCapable;
        }
        let mut candidates: SmallVec<[u32; 8]> = SmallVec::new();
        'inputs: for &d in &r.dependencies {
            for h in &self.tasks.at(d).who_has {
                if candidates.len() >= MAX_CANDIDATES {
                    break 'inputs;
                }
                if !candidates.contains(&h.slot)
                    && let Some(w) = self.workers.get(h.slot, h.generation)
                    && w.has_room()
                    && w.can[op]
                {
                    candidates.push(h.slot);
                }
            }
        }
        if let Some(&(_, least)) = (self.by_load.iter()).find(|(_, w)| self.workers.at(*w).can[op])
            && !candidates.contains(&least)
        {
            candidates.push(least);
        }
        let estimate = self.estimate(r.op);
        let mut best: Option<(f64, usize, WorkerRef)> = None;
        for wslot in candidates {
            let w = self.workers.at(wslot);
            let me = WorkerRef {
                slot: wslot,
                generation: self.workers.generation(wslot).unwrap_or(0),
            };
            let mut transfer = 0.0;
            for &d in &r.dependencies {
                let dr = self.tasks.at(d);
                if !dr.who_has.contains(&me) {
                    transfer +=
                        dr.nbytes as f64 / self.config.bandwidth + self.config.transfer_latency;
                }
            }
            let cost = transfer + (w.occupancy + estimate) / f64::from(w.spec.nthreads);
            let load = w.outstanding.len();
            if best.is_none_or(|(c, l, _)| (cost, load) < (c, l)) {
                best = Some((cost, load, me));
            }
        }
        match best {
            Some((_, _, w)) => Placement::On(w),
            None => Placement::Full,
        }
    }

    fn estimate(&self, op: u32) -> f64 {
        (self.ops[op as usize].duration).unwrap_or(self.config.unknown_duration)
    }

    /// Tells worker `w`, if it is still connected, not to start task `id`.
    fn cancel(&mut self, w: WorkerRef, id: TaskId) {
        if self.workers.get(w.slot, w.generation).is_some() {
            self.commands.push(Command::Cancel {
                worker: w,
                task: id,
            });
        }
    }

    fn assign_to(&mut self, slot: u32, w: WorkerRef) {
        let id = self.id(slot);
        let estimate = self.estimate(self.tasks.at(slot).op);
        self.tasks.at_mut(slot).status = TaskStatus::Processing(w);
        if self.workers.at(w.slot).outstanding.contains_key(&id) {
            // An earlier run of it there (cancelled, then needed again) is still to be
            // answered: that answer serves; a second run is not sent.
            return;
        }
        let before = self.load_key(w.slot);
        let worker = self.workers.at_mut(w.slot);
        worker.outstanding.insert(id, estimate);
        worker.occupancy += estimate;
        self.reindex(w.slot, before);
        self.commands.push(Command::Run {
            worker: w,
            task: id,
        });
    }
}

/// How many workers holding a task's inputs are weighed for it (beside the least loaded).
const MAX_CANDIDATES: usize = 8;

/// How many queued tasks one round of placement sets aside (their workers full, others with
/// room) before it stops looking.
const MAX_DEFERRED: usize = 64;

enum Placement {
    On(WorkerRef),
    /// Workers can run it, but none has room.
    Full,
    /// No connected worker has its op.
    NoneCapable,
}

/// What the dependents of task `key`, failed with `failure`, fail with: the first failure.
fn dependency_failure<E>(key: &Key, failure: &Arc<Failure<E>>) -> Arc<Failure<E>> {
    if matches!(**failure, Failure::Dependency { .. }) {
        Arc::clone(failure)
    } else {
        Arc::new(Failure::Dependency {
            key: key.clone(),
            cause: Arc::clone(failure),
        })
    }
}

/// An input of a new task: another new task (by its place in the update), or a known one.
#[derive(Debug, Clone, Copy)]
enum Dep {
    New(u32),
    Known(u32),
}

/// Checks an update before any of it is applied; each new task's inputs, resolved. `known`
/// has, per task of the update, the slot of the task the state already has for its key.
fn resolve_update<P>(
    fresh: &[NewTask<P>],
    known: &[Option<u32>],
    by_key: &FxHashMap<Key, u32>,
    wanted: &[Key],
) -> Result<Vec<SmallVec<[Dep; 2]>>, UpdateError> {
    let mut index: FxHashMap<&Key, u32> = FxHashMap::default();
    index.reserve(fresh.len());
    for (i, t) in fresh.iter().enumerate() {
        if index.insert(&t.key, i as u32).is_some() {
            return Err(UpdateError::DuplicateKey { key: t.key.clone() });
        }
    }
    // Per task of the update: its place among the new ones.
    let mut place = Vec::with_capacity(known.len());
    let mut next = 0u32;
    for k in known {
        place.push(next);
        next += u32::from(k.is_none());
    }
    let mut deps: Vec<SmallVec<[Dep; 2]>> = Vec::with_capacity(fresh.len());
    let mut indegree = vec![0u32; fresh.len()];
    for (i, t) in fresh.iter().enumerate() {
        let mut ds = SmallVec::with_capacity(t.dependencies.len());
        for d in &t.dependencies {
            let dep = match d {
                Dependency::InUpdate(j) => match known.get(*j as usize) {
                    Some(Some(s)) => Dep::Known(*s),
                    Some(None) => Dep::New(place[*j as usize]),
                    None => {
                        return Err(UpdateError::BadIndex {
                            key: t.key.clone(),
                            index: *j,
                            len: known.len(),
                        });
                    }
                },
                Dependency::Key(k) => {
                    if let Some(&j) = index.get(k) {
                        Dep::New(j)
                    } else if let Some(&s) = by_key.get(k) {
                        Dep::Known(s)
                    } else {
                        return Err(UpdateError::UnknownDependency {
                            key: t.key.clone(),
                            dependency: k.clone(),
                        });
                    }
                }
            };
            if matches!(dep, Dep::New(_)) {
                indegree[i] += 1;
            }
            ds.push(dep);
        }
        deps.push(ds);
    }
    let known = by_key;
    for key in wanted {
        if !index.contains_key(key) && !known.contains_key(key) {
            return Err(UpdateError::UnknownKey { key: key.clone() });
        }
    }
    // Kahn's algorithm over the new tasks (known tasks cannot read new ones): readers as
    // one flat list (a CSR), not a vector per task.
    let mut start = vec![0u32; fresh.len() + 1];
    for ds in &deps {
        for d in ds {
            if let Dep::New(j) = d {
                start[*j as usize + 1] += 1;
            }
        }
    }
    for i in 0..fresh.len() {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut readers = vec![0u32; start[fresh.len()] as usize];
    for (i, ds) in deps.iter().enumerate() {
        for d in ds {
            if let Dep::New(j) = d {
                readers[fill[*j as usize] as usize] = i as u32;
                fill[*j as usize] += 1;
            }
        }
    }
    let mut ready: Vec<u32> = (0..fresh.len() as u32)
        .filter(|i| indegree[*i as usize] == 0)
        .collect();
    let mut seen = 0;
    while let Some(i) = ready.pop() {
        seen += 1;
        for &m in &readers[start[i as usize] as usize..start[i as usize + 1] as usize] {
            indegree[m as usize] -= 1;
            if indegree[m as usize] == 0 {
                ready.push(m);
            }
        }
    }
    if seen < fresh.len()
        && let Some(i) = (0..fresh.len()).find(|i| indegree[*i] > 0)
    {
        return Err(UpdateError::Cycle {
            key: fresh[i].key.clone(),
        });
    }
    Ok(deps)
}
