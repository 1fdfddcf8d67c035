//! The process scheduler: a single-threaded loop in the caller that hands ready tasks to
//! worker processes, keeps results where they were made, moves them only when another worker
//! needs them, and recomputes what a dead worker took with it.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use rask_graph::{
    Callback, Callbacks, ComputeError, ComputeFinish, ComputeStart, Graph, GraphError, Key, Plan,
    PlanArg, Scheduler, TaskError, Value, WorkerId, registry,
};

use rask_graph::exec::TaskEvents;

use crate::error::{ProcessError, failed};
use crate::pool::{Event, Pool, Reply};
use crate::protocol::{Failure, MAX_FRAME, Raw, ToWorker, TooLarge, WireArg};

/// Why a process scheduler could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `num_workers(0)`.
    #[error("a scheduler needs at least one worker; num_workers was 0")]
    ZeroWorkers,
    /// `allowed_failures(0)`.
    #[error("allowed_failures must be at least 1")]
    ZeroAllowedFailures,
}

/// Runs tasks in worker processes started from the current executable — Dask's
/// `scheduler="processes"`. Every op and literal must be registered
/// ([`register_op!`](rask_graph::register_op)); the workers are started on first use, kept
/// between computations, and stopped when the scheduler is dropped.
///
/// ```no_run
/// use rask_graph::{Collection, Delayed, Arg, ops::AddConst, Value};
/// use rask_multiprocess::ProcessScheduler;
///
/// let s = ProcessScheduler::builder().num_workers(2).build()?;
/// let x: Delayed<i64> = Delayed::from_op(AddConst(41), vec![Arg::Value(Value::new(1i64))], &[]);
/// assert_eq!(x.compute_on(&s, &[])?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ProcessScheduler {
    num_workers: usize,
    allowed_failures: u32,
    env: Vec<(String, String)>,
    max_message: usize,
    pool: Mutex<Option<Pool>>,
}

/// Configures a [`ProcessScheduler`].
#[derive(Debug, Clone, Default)]
pub struct ProcessSchedulerBuilder {
    num_workers: Option<usize>,
    allowed_failures: Option<u32>,
    env: Vec<(String, String)>,
    max_message: Option<usize>,
}

impl ProcessSchedulerBuilder {
    /// The number of worker processes. Default: the available cores.
    pub fn num_workers(mut self, n: usize) -> Self {
        self.num_workers = Some(n);
        self
    }

    /// How many workers a task may kill before it is marked bad (Dask's
    /// `distributed.scheduler.allowed-failures`). Default: 3.
    pub fn allowed_failures(mut self, n: u32) -> Self {
        self.allowed_failures = Some(n);
        self
    }

    /// An environment variable set in every worker.
    pub fn worker_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The largest message the scheduler and its workers write, in bytes (a task with its
    /// literal arguments, a reply; results are not limited: they follow their message as
    /// raw bytes). Default and maximum: 4 GiB − 1. For tests of what happens past it.
    #[doc(hidden)]
    pub fn max_message_bytes(mut self, n: usize) -> Self {
        self.max_message = Some(n);
        self
    }

    /// Builds the scheduler (no process starts until the first computation).
    pub fn build(self) -> Result<ProcessScheduler, BuildError> {
        let num_workers = match self.num_workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        let allowed_failures = match self.allowed_failures {
            Some(0) => return Err(BuildError::ZeroAllowedFailures),
            Some(n) => n,
            None => 3,
        };
        // Keep the worker hook linked into every binary that builds a process scheduler.
        debug_assert!(crate::worker::hook_linked());
        let _ = crate::worker::hook_linked();
        Ok(ProcessScheduler {
            num_workers,
            allowed_failures,
            env: self.env,
            max_message: self.max_message.map_or(MAX_FRAME, |n| n.min(MAX_FRAME)),
            pool: Mutex::new(None),
        })
    }
}

impl ProcessScheduler {
    /// A builder.
    pub fn builder() -> ProcessSchedulerBuilder {
        ProcessSchedulerBuilder::default()
    }

    /// The number of worker processes.
    pub fn num_workers(&self) -> usize {
        self.num_workers
    }

    /// The process ids of the running workers (none before the first computation).
    pub fn worker_pids(&self) -> Vec<u32> {
        let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        pool.as_ref()
            .map(|p| p.workers.iter().map(|w| w.pid).collect())
            .unwrap_or_default()
    }

    /// Stops the workers now (they are started again by the next computation).
    pub fn shutdown(&self) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        *pool = None;
    }
}

impl Scheduler for ProcessScheduler {
    fn get(
        &self,
        graph: &Graph,
        keys: &[Key],
        callbacks: &[&dyn Callback],
    ) -> Result<Vec<Value>, ComputeError> {
        let plan = Plan::lower(graph, keys)?;
        let ops = encode_ops(&plan)?;
        let cbs = Callbacks::new(callbacks);
        let Some(_here) = RunningHere::enter(self) else {
            // A callback of a computation on this scheduler computes on it again, on the same
            // thread: the pool is busy with the outer computation (whose loop is waiting for
            // this callback), so this one gets workers of its own, stopped when it returns.
            let mut pool = self.start_pool()?;
            return Run::new(&plan, &ops, &mut pool, &cbs, self.allowed_failures).run();
        };
        let mut guard = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            *guard = Some(self.start_pool()?);
        }
        let Some(pool) = guard.as_mut() else {
            unreachable!("started above")
        };
        let result = Run::new(&plan, &ops, pool, &cbs, self.allowed_failures).run();
        if let Err(e) = &result
            && e.downcast_ref::<ProcessError>()
                .is_some_and(ProcessError::breaks_pool)
        {
            // The pool may be in a bad state: start afresh next time.
            *guard = None;
        }
        result
    }

    fn name(&self) -> &str {
        "processes"
    }
}

impl ProcessScheduler {
    fn start_pool(&self) -> Result<Pool, ComputeError> {
        Pool::start(self.num_workers, self.env.clone(), self.max_message).map_err(failed)
    }
}

thread_local! {
    /// The process schedulers computing on this thread (by address), outermost first.
    static RUNNING_HERE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks a scheduler as computing on this thread while it lives.
struct RunningHere(usize);

impl RunningHere {
    /// `None` when `s` is already computing on this thread (a callback computes on it).
    fn enter(s: &ProcessScheduler) -> Option<RunningHere> {
        let addr = std::ptr::from_ref(s) as usize;
        RUNNING_HERE.with_borrow_mut(|v| {
            if v.contains(&addr) {
                return None;
            }
            v.push(addr);
            Some(RunningHere(addr))
        })
    }
}

impl Drop for RunningHere {
    fn drop(&mut self) {
        RUNNING_HERE.with_borrow_mut(|v| v.retain(|a| *a != self.0));
    }
}

/// Every task's op, encoded once; an unregistered op or literal is an error naming its task,
/// before anything runs.
fn encode_ops(plan: &Plan) -> Result<Ops, GraphError> {
    // The tasks of a layer usually share one op: encoded (and sent) once.
    let mut table = registry::OpTable::default();
    let mut of_task = Vec::with_capacity(plan.len());
    for id in 0..plan.len() as u32 {
        of_task.push(table.index(plan.key(id), plan.op(id))?);
        for a in plan.args(id) {
            if let PlanArg::Value(v) = a
                && registry::value_type_name(v.datum()).is_none()
            {
                // The same error as encoding it would give.
                registry::encode_task_literal(plan.key(id), v)?;
            }
        }
    }
    let unique = (table.into_ops().into_iter())
        .map(|(name, bytes)| Raw {
            name: name.to_string(),
            bytes: bytes.into(),
        })
        .collect();
    Ok(Ops { unique, of_task })
}

/// A plan's ops, each distinct one encoded once.
struct Ops {
    unique: Vec<Raw>,
    /// Per task: its op's place in `unique`.
    of_task: Vec<u32>,
}

/// Why a task that was queued on a worker did not run.
const CANCELLED: &str = "cancelled: another task failed";

/// How many tasks a worker may have queued at once (pipelining hides the round trip).
const MAX_IN_FLIGHT: usize = 64;

/// How many times a task may find an input gone from the worker that held it before the
/// computation fails (that worker's death, reported separately, normally explains it; a
/// worker that stays alive without the result would otherwise send the task round forever).
const MAX_INPUT_LOSSES: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Some dependency is not available yet.
    Waiting,
    /// Every dependency is available; in the ready heap (or waiting for a value to move).
    Ready,
    /// Sent to a worker.
    Running(usize),
    /// Its result is held by a worker.
    Done(usize),
    /// Its result was dropped (every reader had started) or lost with its worker.
    Gone,
}

struct Run<'a> {
    plan: &'a Plan,
    ops: &'a Ops,
    /// Per worker: which ops it has been sent in this computation.
    sent_ops: Vec<Vec<bool>>,
    pool: &'a mut Pool,
    cbs: &'a Callbacks<'a>,
    /// `"process-{slot}"`, as callback events name the workers.
    ids: Vec<WorkerId>,
    allowed_failures: u32,
    state: Vec<State>,
    /// Per task: dependencies not available yet.
    waiting: Vec<u32>,
    /// Per task: distinct dependents that have not finished (its result is needed while > 0).
    pending: Vec<u32>,
    deaths: Vec<u32>,
    /// Per task: how many times an input could not be fetched for it.
    input_losses: Vec<u32>,
    /// Per task: the worker it was sent to and has not answered about it yet. Every run
    /// sent is answered once (done, failed or cancelled) unless its worker dies, so this is
    /// what is in flight, whatever became of the task since (released, lost, failed).
    outstanding: Vec<Option<usize>>,
    /// Per task: the size of its result, as its worker reported it.
    nbytes: Vec<u64>,
    ready: BinaryHeap<Reverse<u32>>,
    in_flight: Vec<usize>,
    /// The outputs brought here (sent along to workers that read them when their worker died).
    cache: HashMap<u32, Value>,
    /// Outputs being fetched.
    fetching: HashSet<u32>,
    releases: Vec<Vec<u32>>,
    error: Option<ComputeError>,
    /// Whether the workers were told to start nothing more.
    cancelled: bool,
    done: usize,
}

impl<'a> Run<'a> {
    fn new(
        plan: &'a Plan,
        ops: &'a Ops,
        pool: &'a mut Pool,
        cbs: &'a Callbacks<'a>,
        allowed_failures: u32,
    ) -> Self {
        let n = plan.len();
        let workers = pool.workers.len();
        Run {
            plan,
            ops,
            sent_ops: vec![vec![false; ops.unique.len()]; workers],
            pool,
            cbs,
            ids: WorkerId::numbered("process", workers),
            allowed_failures,
            state: vec![State::Waiting; n],
            waiting: (0..n as u32)
                .map(|i| plan.dependencies(i).len() as u32)
                .collect(),
            pending: (0..n as u32)
                .map(|i| plan.dependents(i).len() as u32)
                .collect(),
            deaths: vec![0; n],
            input_losses: vec![0; n],
            outstanding: vec![None; n],
            nbytes: vec![0; n],
            ready: BinaryHeap::new(),
            in_flight: vec![0; workers],
            cache: HashMap::new(),
            fetching: HashSet::new(),
            releases: vec![Vec::new(); workers],
            error: None,
            cancelled: false,
            done: 0,
        }
    }

    fn run(mut self) -> Result<Vec<Value>, ComputeError> {
        // Deaths between computations: replace those workers first.
        while let Ok(event) = self.pool.events.try_recv() {
            if let Event::Lost(slot, generation, _) = event
                && self.pool.workers[slot].generation == generation
            {
                self.pool.replace(slot).map_err(failed)?;
            }
        }
        for slot in 0..self.pool.workers.len() {
            // The workers are idle: no task of the previous computation is left on them.
            self.pool.workers[slot].control.reset();
            self.send(slot, &ToWorker::Reset);
        }
        if !self.cbs.is_empty() {
            self.cbs.compute_start(&ComputeStart {
                keys: self.plan.output_keys().into(),
                tasks: self.plan.len(),
                workers: self.pool.workers.len(),
            });
        }
        for id in 0..self.plan.len() as u32 {
            if self.waiting[id as usize] == 0 {
                self.state[id as usize] = State::Ready;
                self.ready.push(Reverse(id));
            }
        }
        loop {
            if self.error.is_none() {
                self.assign();
            }
            self.flush();
            // Outstanding fetches are waited for too: a reply must not reach the next
            // computation.
            // Nothing may stay in flight when the computation returns: its reply would reach
            // the next one. Tasks still queued once the outputs are in (runs repeated after a
            // death, no longer needed) are cancelled, and answered.
            let quiet = self.in_flight.iter().all(|n| *n == 0) && self.fetching.is_empty();
            let outputs_in = self.error.is_none() && self.outputs_ready();
            if outputs_in && !quiet && !self.cancelled {
                self.cancelled = true;
                for w in &self.pool.workers {
                    w.control.cancel();
                }
            }
            let finished = outputs_in && quiet;
            let drained = self.error.is_some() && quiet;
            if finished || drained {
                break;
            }
            let event =
                (self.pool.events.recv()).map_err(|_| failed(ProcessError::ReadersStopped))?;
            self.handle(event)?;
        }
        if !self.cbs.is_empty() {
            self.cbs.compute_finish(&ComputeFinish {
                tasks_done: self.done,
                error: self.error.as_ref().map(|e| e.to_string()),
            });
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok((self.plan.outputs().iter())
            .map(|o| self.cache[o].clone())
            .collect())
    }

    fn outputs_ready(&self) -> bool {
        self.plan
            .outputs()
            .iter()
            .all(|o| self.cache.contains_key(o))
    }

    fn send(&mut self, slot: usize, msg: &ToWorker) {
        // A broken stream shows up as a lost worker from its reader thread.
        let _ = self.pool.send(slot, msg);
    }

    fn flush(&mut self) {
        for slot in 0..self.releases.len() {
            if !self.releases[slot].is_empty() {
                let ids = std::mem::take(&mut self.releases[slot]);
                self.send(slot, &ToWorker::Release { ids });
            }
        }
        self.pool.flush();
    }

    /// Where a result is available: `Some(Some(slot))` on a worker, `Some(None)` here.
    fn location(&self, id: u32) -> Option<Option<usize>> {
        match self.state[id as usize] {
            State::Done(slot) => Some(Some(slot)),
            _ if self.cache.contains_key(&id) => Some(None),
            _ => None,
        }
    }

    /// Hands ready tasks to workers with room, by priority.
    fn assign(&mut self) {
        let mut deferred = Vec::new();
        while let Some(Reverse(id)) = self.ready.pop() {
            if self.state[id as usize] != State::Ready {
                continue;
            }
            // Prefer the worker that holds most of the inputs, then the least busy.
            let deps = self.plan.dependencies(id);
            let mut best: Option<(usize, usize, usize)> = None; // (local inputs, -load, slot)
            for slot in 0..self.in_flight.len() {
                if self.in_flight[slot] >= MAX_IN_FLIGHT {
                    continue;
                }
                let local = deps
                    .iter()
                    .filter(|d| self.state[**d as usize] == State::Done(slot))
                    .count();
                let load = MAX_IN_FLIGHT - self.in_flight[slot];
                if best.is_none_or(|(l, f, _)| (local, load) > (l, f)) {
                    best = Some((local, load, slot));
                }
            }
            let Some((_, _, slot)) = best else {
                deferred.push(id);
                break;
            };
            self.start(id, slot);
        }
        for id in deferred {
            self.ready.push(Reverse(id));
        }
    }

    /// Asks worker `slot` for result `d` (an output) to be sent here.
    fn fetch(&mut self, d: u32, slot: usize) {
        if self.fetching.insert(d) {
            let _ = self.pool.send(slot, &ToWorker::Fetch { id: d });
        }
    }

    fn start(&mut self, id: u32, slot: usize) {
        let plan = self.plan;
        // Values sent along (literals, and inputs that only this process still holds) are
        // encoded first, so that the message can borrow them.
        let mut along = Vec::new();
        for a in plan.args(id) {
            let encoded = match a {
                PlanArg::Value(v) => registry::encode_task_literal(plan.key(id), v)
                    .map(|(name, bytes)| Some((name, bytes))),
                PlanArg::Task(d) if !matches!(self.state[*d as usize], State::Done(_)) => {
                    match registry::encode_value(&self.cache[d]) {
                        Some(Ok((name, bytes))) => Ok(Some((name, bytes))),
                        Some(Err(message)) => Err(GraphError::Corrupt { message }),
                        None => Err(GraphError::UnknownValueType {
                            name: self.cache[d].type_name().to_string(),
                        }),
                    }
                }
                PlanArg::Task(_) => Ok(None),
            };
            match encoded {
                Ok(Some((name, bytes))) => along.push(Raw {
                    name: name.to_string(),
                    bytes: bytes.into(),
                }),
                Ok(None) => {}
                Err(e) => {
                    self.state[id as usize] = State::Gone;
                    self.fail(ComputeError::Graph(e));
                    return;
                }
            }
        }
        // The data addresses of the workers holding inputs elsewhere, likewise.
        let remote = plan
            .dependencies(id)
            .iter()
            .any(|d| matches!(self.state[*d as usize], State::Done(s) if s != slot));
        let addresses: Vec<String> = if remote {
            self.pool.workers.iter().map(|w| w.data.clone()).collect()
        } else {
            Vec::new()
        };
        let mut along_iter = along.iter();
        let mut args = Vec::with_capacity(plan.args(id).len());
        for a in plan.args(id) {
            args.push(match a {
                PlanArg::Task(d) => match self.state[*d as usize] {
                    State::Done(s) if s == slot => WireArg::Stored(*d),
                    // Held by another worker: fetched from it directly.
                    State::Done(s) => WireArg::Remote {
                        id: *d,
                        from: &addresses[s],
                    },
                    _ => match along_iter.next() {
                        Some(raw) => WireArg::Value(raw.as_ref()),
                        None => unreachable!("one encoded value per input held here"),
                    },
                },
                PlanArg::Value(_) => match along_iter.next() {
                    Some(raw) => WireArg::Value(raw.as_ref()),
                    None => unreachable!("one encoded literal per literal"),
                },
            });
        }
        let op = self.ops.of_task[id as usize];
        if !self.sent_ops[slot][op as usize] {
            let define = ToWorker::Op {
                index: op,
                op: self.ops.unique[op as usize].as_ref(),
            };
            let sent = self.pool.send(slot, &define);
            if self.refused(id, sent) {
                return;
            }
            self.sent_ops[slot][op as usize] = true;
        }
        let msg = ToWorker::Run { id, op, args };
        let sent = self.pool.send(slot, &msg);
        if self.refused(id, sent) {
            return;
        }
        self.state[id as usize] = State::Running(slot);
        self.outstanding[id as usize] = Some(slot);
        self.in_flight[slot] += 1;
        self.events(slot).start(id);
    }

    /// Whether a message for task `id` could not be sent because it is too large (then the
    /// computation fails, naming the task). Any other failure is a broken stream, which shows
    /// up as a lost worker from its reader thread.
    fn refused(&mut self, id: u32, sent: std::io::Result<()>) -> bool {
        let Err(e) = sent else { return false };
        let Some(TooLarge { len, max }) = e.get_ref().and_then(|e| e.downcast_ref::<TooLarge>())
        else {
            return false;
        };
        let e = ProcessError::TooLarge {
            key: self.plan.key(id).clone(),
            bytes: *len,
            max: *max,
        };
        self.state[id as usize] = State::Gone;
        self.fail(failed(e));
        true
    }

    /// The callback events of tasks on worker `slot`.
    fn events(&self, slot: usize) -> TaskEvents<'_> {
        TaskEvents::new(self.plan, self.cbs, &self.ids[slot])
    }

    fn release(&mut self, d: u32) {
        if let State::Done(s) = self.state[d as usize] {
            self.events(s).released(d, self.nbytes[d as usize] as usize);
        }
        self.cache.remove(&d);
        if let State::Done(s) = self.state[d as usize] {
            self.releases[s].push(d);
        }
        self.state[d as usize] = State::Gone;
    }

    fn fail(&mut self, e: ComputeError) {
        if self.error.is_none() {
            self.error = Some(e);
            // What the workers have queued does not start (what runs, finishes).
            self.cancelled = true;
            for w in &self.pool.workers {
                w.control.cancel();
            }
        }
    }

    fn handle(&mut self, event: Event) -> Result<(), ComputeError> {
        match event {
            Event::Message(slot, generation, msg) => {
                if self.pool.workers[slot].generation != generation {
                    return Ok(()); // from a worker already replaced
                }
                self.message(slot, msg);
                Ok(())
            }
            Event::Lost(slot, generation, why) => {
                if self.pool.workers[slot].generation != generation {
                    return Ok(());
                }
                self.lost(slot, &why)
            }
        }
    }

    /// Whether a reply about task `id` from worker `slot` answers a run sent to it in this
    /// computation (then it is one fewer in flight there). A reply that answers nothing — a
    /// stale or out-of-range id — is ignored.
    fn answered(&mut self, id: u32, slot: usize) -> bool {
        match self.outstanding.get_mut(id as usize) {
            Some(sent) if *sent == Some(slot) => {
                *sent = None;
                self.in_flight[slot] -= 1;
                true
            }
            _ => false,
        }
    }

    fn message(&mut self, slot: usize, msg: Reply) {
        let plan = self.plan;
        match msg {
            Reply::Done { id, nbytes } => {
                if !self.answered(id, slot) {
                    return;
                }
                if self.state[id as usize] != State::Running(slot) {
                    // Run again after a death, and no longer needed by the time it finished:
                    // the worker drops it.
                    self.releases[slot].push(id);
                    return;
                }
                self.done += 1;
                self.state[id as usize] = State::Done(slot);
                self.nbytes[id as usize] = nbytes;
                self.events(slot).finished(id, nbytes as usize, None);
                if plan.is_output(id) {
                    self.fetch(id, slot);
                }
                // An input is dropped once every reader has finished (a reader on another
                // worker may still be fetching it until then).
                for &d in plan.dependencies(id) {
                    self.pending[d as usize] -= 1;
                    if self.pending[d as usize] == 0 && !plan.is_output(d) {
                        self.release(d);
                    }
                }
                for &m in plan.dependents(id) {
                    if self.state[m as usize] == State::Waiting {
                        self.waiting[m as usize] -= 1;
                        if self.waiting[m as usize] == 0 {
                            self.state[m as usize] = State::Ready;
                            self.ready.push(Reverse(m));
                        }
                    }
                }
            }
            Reply::Failed { id, failure } => {
                if !self.answered(id, slot) || self.state[id as usize] != State::Running(slot) {
                    return;
                }
                let key = plan.key(id).clone();
                let op = plan.op(id).name().to_string();
                let e = match failure {
                    Failure::InputLost { dep, message } => {
                        self.input_losses[id as usize] += 1;
                        if self.input_losses[id as usize] < MAX_INPUT_LOSSES {
                            // Its input's worker is going away; the loss is handled when it
                            // is reported, and the task runs again once the input is back.
                            self.restart(id);
                            return;
                        }
                        ComputeError::Task {
                            key,
                            op,
                            cause: TaskError::new(format!(
                                "its input {} could not be fetched ({MAX_INPUT_LOSSES} tries): \
                                 {message}",
                                plan.key(dep)
                            )),
                        }
                    }
                    Failure::InputUnsendable { dep, message } => {
                        let holder = match self.state[dep as usize] {
                            State::Done(s) => s,
                            _ => slot,
                        };
                        failed(ProcessError::NotSent {
                            key: plan.key(dep).clone(),
                            slot: holder,
                            message,
                        })
                    }
                    Failure::Op(failure) => failure.named(&key, &op),
                    Failure::Setup(message) => ComputeError::Task {
                        key,
                        op,
                        cause: TaskError::new(format!(
                            "could not start on worker {slot}: {message}"
                        )),
                    },
                };
                if !self.cbs.is_empty() {
                    let message = rask_graph::exec::failure_message(&e);
                    self.events(slot).finished(id, 0, Some(&message));
                }
                self.state[id as usize] = State::Gone;
                self.fail(e);
            }
            Reply::Value { id, value } => {
                if !self.fetching.remove(&id) {
                    return; // not asked for in this computation
                }
                if plan.is_output(id) {
                    self.cache.insert(id, value);
                }
            }
            Reply::NotSent { id, message } => {
                if !self.fetching.remove(&id) {
                    return;
                }
                self.fail(failed(ProcessError::NotSent {
                    key: plan.key(id).clone(),
                    slot,
                    message,
                }));
            }
            Reply::Cancelled { id } => {
                if !self.answered(id, slot) || self.state[id as usize] != State::Running(slot) {
                    return;
                }
                self.state[id as usize] = State::Gone;
                self.events(slot).finished(id, 0, Some(CANCELLED));
            }
        }
    }

    /// A worker died: its running tasks go back (or are marked bad), its results are
    /// recomputed where still needed, and a new worker takes its place.
    fn lost(&mut self, slot: usize, why: &str) -> Result<(), ComputeError> {
        let plan = self.plan;
        // Nothing sent to it will be answered.
        for sent in &mut self.outstanding {
            if *sent == Some(slot) {
                *sent = None;
            }
        }
        // The one task suspected of killing it: the task it was running, or else the task it
        // finished last (a task that breaks its worker on the way out). Not the tasks queued
        // behind them, which never ran (Dask counts the tasks processing on the worker).
        let control = &self.pool.workers[slot].control;
        let suspect = (control.running())
            .or_else(|| control.last_done())
            .filter(|id| (*id as usize) < plan.len());
        self.in_flight[slot] = 0;
        self.releases[slot].clear();
        // The new worker knows none of this computation's ops yet.
        self.sent_ops[slot].fill(false);
        // Fetches from the dead worker will never answer.
        let states = &self.state;
        self.fetching
            .retain(|d| !matches!(states[*d as usize], State::Done(s) if s == slot));
        self.pool.replace(slot).map_err(|cause| {
            failed(ProcessError::Replace {
                slot,
                why: why.to_string(),
                cause: Box::new(cause),
            })
        })?;
        if self.error.is_some() {
            return Ok(());
        }
        if let Some(id) = suspect {
            self.deaths[id as usize] += 1;
            if self.deaths[id as usize] >= self.allowed_failures {
                self.fail(failed(ProcessError::WorkerKilled {
                    key: plan.key(id).clone(),
                    op: plan.op(id).name().to_string(),
                    deaths: self.deaths[id as usize],
                }));
                return Ok(());
            }
        }
        let n = plan.len() as u32;
        let mut rerun = Vec::new();
        for id in 0..n {
            match self.state[id as usize] {
                State::Running(s) if s == slot => rerun.push(id),
                State::Done(s) if s == slot => {
                    self.state[id as usize] = State::Gone;
                    if self.cache.contains_key(&id) {
                        continue;
                    }
                    // Dependents that have not started count it as missing again.
                    for &m in plan.dependents(id) {
                        match self.state[m as usize] {
                            State::Waiting => self.waiting[m as usize] += 1,
                            State::Ready => {
                                self.state[m as usize] = State::Waiting;
                                self.waiting[m as usize] = 1;
                            }
                            _ => {}
                        }
                    }
                    if self.pending[id as usize] > 0 || plan.is_output(id) {
                        self.requeue_result(id);
                    }
                }
                _ => {}
            }
        }
        // Fetches from the dead worker will never answer; those outputs are recomputed.
        let states = &self.state;
        self.fetching.retain(|d| states[*d as usize] != State::Gone);
        for id in rerun {
            self.restart(id);
        }
        Ok(())
    }

    /// Task `id`, which had started but not finished, must run again (its inputs are still
    /// counted as needed by it; those that were lost are recomputed).
    fn restart(&mut self, id: u32) {
        let plan = self.plan;
        self.state[id as usize] = State::Waiting;
        for &d in plan.dependencies(id) {
            if self.location(d).is_none() {
                self.requeue_result(d);
            }
        }
        self.recount(id);
    }

    /// Result `id` is gone but needed: compute it again (and whatever of its inputs is gone).
    fn requeue_result(&mut self, id: u32) {
        if self.state[id as usize] != State::Gone {
            return; // available, or already coming
        }
        self.state[id as usize] = State::Waiting;
        for &d in self.plan.dependencies(id) {
            self.pending[d as usize] += 1;
            if self.location(d).is_none() {
                self.requeue_result(d);
            }
        }
        self.recount(id);
    }

    /// Sets how many inputs `id` waits for; makes it ready when none.
    fn recount(&mut self, id: u32) {
        let missing = self
            .plan
            .dependencies(id)
            .iter()
            .filter(|d| self.location(**d).is_none())
            .count() as u32;
        self.waiting[id as usize] = missing;
        if missing == 0 {
            self.state[id as usize] = State::Ready;
            self.ready.push(Reverse(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rask_graph::Plan;
    use rask_graph::ops::{AddConst, Sum};

    #[test]
    fn a_shared_op_is_encoded_once() {
        // 1,000 leaves sharing one op, and their sum: two distinct ops.
        let (g, key) = rask_testing::independent(1000, Arc::new(AddConst(1)), Arc::new(Sum));
        let plan = Plan::lower(&g, &[key]).unwrap();
        let ops = super::encode_ops(&plan).unwrap();
        assert_eq!(ops.unique.len(), 2);
        assert_eq!(ops.of_task.len(), 1001);
        let leaf = ops.of_task[0];
        assert_eq!(ops.of_task.iter().filter(|o| **o == leaf).count(), 1000);
    }
}
