//! The process scheduler: a single-threaded loop in the caller that hands ready tasks to
//! worker processes, keeps results where they were made, moves them only when another worker
//! needs them, and recomputes what a dead worker took with it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use rask_graph::{
    Callback, Callbacks, ComputeError, ComputeFinish, ComputeStart, Graph, GraphError, Key, Plan,
    PlanArg, Scheduler, TaskError, Value, WorkerId, registry,
};

use rask_graph::exec::TaskEvents;
use rask_scheduling::{
    ClientId, Command, Dependency, Failure, NewTask, SchedulerState, StateConfig, TaskId,
    WorkerRef, WorkerSpec,
};

use crate::error::{ProcessError, failed};
use crate::pool::{Event, Pool, Reply};
use crate::protocol::{Failure as WorkerFailure, MAX_FRAME, Raw, ToWorker, TooLarge, WireArg};

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
const MAX_IN_FLIGHT: u32 = 64;

/// How many times a task may find an input gone from the worker that held it before the
/// computation fails (that worker's death, reported separately, normally explains it; a
/// worker that stays alive without the result would otherwise send the task round forever).
const MAX_INPUT_LOSSES: u32 = 50;

/// The scheduling state of one computation: plan ids as payloads; a failure's error is kept
/// by the driver (the first one wins), so the state's error type is `()`.
type State = SchedulerState<u32, ()>;

/// One computation on the pool: the loop that carries out what the scheduling state
/// ([`rask_scheduling`]) decides and feeds it what the workers answer.
struct Run<'a> {
    plan: &'a Plan,
    ops: &'a Ops,
    /// Per worker: which ops it has been sent in this computation.
    sent_ops: Vec<Vec<bool>>,
    pool: &'a mut Pool,
    cbs: &'a Callbacks<'a>,
    /// `"process-{slot}"`, as callback events name the workers.
    ids: Vec<WorkerId>,
    state: State,
    /// The state's commands being carried out (one buffer, reused).
    commands: Vec<Command<()>>,
    client: ClientId,
    /// Per pool slot: its worker in the state.
    workers: Vec<WorkerRef>,
    /// Per plan id: its task in the state.
    tasks: Vec<TaskId>,

    /// The outputs brought here.
    cache: HashMap<u32, Value>,
    /// Outputs being fetched, from which worker.
    fetching: HashMap<u32, usize>,
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
        let mut config = StateConfig::default();
        config.allowed_failures = allowed_failures;
        config.max_input_losses = MAX_INPUT_LOSSES;
        let mut state = State::new(config);
        let client = state.add_client();
        Run {
            plan,
            ops,
            sent_ops: vec![vec![false; ops.unique.len()]; workers],
            pool,
            cbs,
            ids: WorkerId::numbered("process", workers),
            state,
            commands: Vec::new(),
            client,
            workers: Vec::with_capacity(workers),
            tasks: Vec::with_capacity(n),

            cache: HashMap::new(),
            fetching: HashMap::new(),
            releases: vec![Vec::new(); workers],
            error: None,
            cancelled: false,
            done: 0,
        }
    }

    fn worker_spec(&self, slot: usize) -> WorkerSpec {
        WorkerSpec::new(self.ids[slot].as_str(), 1).capacity(MAX_IN_FLIGHT)
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
            let spec = self.worker_spec(slot);
            let w = self.state.add_worker(spec);
            self.workers.push(w);
        }
        if !self.cbs.is_empty() {
            self.cbs.compute_start(&ComputeStart {
                keys: self.plan.output_keys().into(),
                tasks: self.plan.len(),
                workers: self.pool.workers.len(),
            });
        }
        self.submit()?;
        loop {
            self.apply();
            self.flush();
            // Nothing may stay in flight when the computation returns: its reply would reach
            // the next one (fetches included). Tasks still queued once the outputs are in
            // (runs repeated after a death, no longer needed) are cancelled, and answered.
            let quiet = self.state.quiet() && self.fetching.is_empty();
            let outputs_in = self.error.is_none() && self.outputs_ready();
            if outputs_in && !quiet && !self.cancelled {
                // Nothing more is wanted (a lost output is not recomputed), and what is
                // queued on the workers does not start.
                self.state.remove_client(self.client);
                self.cancel_all();
                continue;
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

    /// Hands the plan to the state, the outputs wanted.
    fn submit(&mut self) -> Result<(), ComputeError> {
        let plan = self.plan;
        let names: Vec<Arc<str>> = (self.ops.unique.iter())
            .map(|raw| Arc::from(raw.name.as_str()))
            .collect();
        let tasks = (0..plan.len() as u32)
            .map(|id| NewTask {
                key: plan.key(id).clone(),
                dependencies: (plan.dependencies(id).iter())
                    .map(|d| Dependency::InUpdate(*d))
                    .collect(),
                op: Arc::clone(&names[self.ops.of_task[id as usize] as usize]),
                order: u64::from(id),
                payload: id,
            })
            .collect();
        let outputs = plan.output_keys();
        self.tasks = (self.state.update_graph(self.client, tasks, &outputs))
            .map_err(|e| failed(ProcessError::Schedule(e)))?;
        debug_assert!(
            (self.tasks.iter().enumerate()).all(|(i, t)| t.slot() as usize == i),
            "a fresh state numbers tasks as the plan does"
        );
        Ok(())
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

    /// The pool slot of worker `w`.
    fn slot(&self, w: WorkerRef) -> Option<usize> {
        self.workers.iter().position(|x| *x == w)
    }

    /// The plan id of task `t`.
    fn plan_id(&self, t: TaskId) -> Option<u32> {
        // The state was fresh: task slots are plan ids (checked in `submit`), even once a
        // task is forgotten.
        (t.slot() < self.plan.len() as u32).then_some(t.slot())
    }

    /// Carries out what the state decided.
    fn apply(&mut self) {
        let mut commands = std::mem::take(&mut self.commands);
        // Carrying out commands may decide more (a failure releases everything): until
        // none is left.
        loop {
            self.state.drain_commands_into(&mut commands);
            if commands.is_empty() {
                break;
            }
            for cmd in commands.drain(..) {
                self.carry_out(cmd);
            }
        }
        self.commands = commands;
    }

    fn carry_out(&mut self, cmd: Command<()>) {
        {
            match cmd {
                Command::Run { worker, task } => {
                    match (self.slot(worker), self.plan_id(task)) {
                        (Some(slot), Some(id)) if self.state.key(task).is_some() => {
                            self.start(id, slot);
                        }
                        // Forgotten in this same batch (a failure released everything): it
                        // will never be answered, so it is not waited for.
                        _ => {
                            self.state.task_cancelled(worker, task);
                        }
                    }
                }
                // A task no longer needed runs to its end (the workers cancel by computation,
                // through their shared page, not by task); its result is released then.
                Command::Cancel { .. } => {}
                // The pool does not steal (its state is built without): never sent, and
                // answered "not stolen" if it were.
                Command::Steal { victim, task, .. } => {
                    self.state.steal_response(victim, task, false);
                }
                Command::Release {
                    worker,
                    task,
                    nbytes,
                } => {
                    let (Some(slot), Some(id)) = (self.slot(worker), self.plan_id(task)) else {
                        return;
                    };
                    self.events(slot).released(id, nbytes as usize);
                    self.releases[slot].push(id);
                }
                Command::InMemory { task, .. } => {
                    let holder = self.state.who_has(task).first().copied();
                    if let (Some(slot), Some(id)) =
                        (holder.and_then(|w| self.slot(w)), self.plan_id(task))
                        && !self.cache.contains_key(&id)
                        && !self.fetching.contains_key(&id)
                    {
                        self.fetching.insert(id, slot);
                        let _ = self.pool.send(slot, &ToWorker::Fetch { id });
                    }
                }
                Command::Erred { failure, .. } => {
                    let e = match failure.root() {
                        // The worker's error, kept when it came.
                        Failure::Task(()) => return,
                        Failure::KilledWorkers { key, deaths } => {
                            failed(ProcessError::WorkerKilled {
                                key: key.clone(),
                                op: self.op_name(key),
                                deaths: *deaths,
                            })
                        }
                        Failure::InputLost { key, input, tries } => ComputeError::Task {
                            key: key.clone(),
                            op: self.op_name(key),
                            cause: TaskError::new(format!(
                                "its input {input} could not be fetched ({tries} tries)"
                            )),
                        },
                        Failure::NoWorker { key, op } => ComputeError::Task {
                            key: key.clone(),
                            op: op.to_string(),
                            cause: TaskError::new("no worker has its op"),
                        },
                        // `root` never is one.
                        Failure::Dependency { .. } => return,
                    };
                    self.fail(e);
                }
            }
        }
    }

    fn op_name(&self, key: &Key) -> String {
        (self.state.task_of(key))
            .and_then(|t| self.plan_id(t))
            .map_or_else(String::new, |id| self.plan.op(id).name().to_string())
    }

    fn start(&mut self, id: u32, slot: usize) {
        let plan = self.plan;
        // Literals are encoded first, so that the message can borrow them.
        let mut along = Vec::new();
        for a in plan.args(id) {
            if let PlanArg::Value(v) = a {
                match registry::encode_task_literal(plan.key(id), v) {
                    Ok((name, bytes)) => along.push(Raw {
                        name: name.to_string(),
                        bytes: bytes.into(),
                    }),
                    Err(e) => {
                        self.refuse(id, slot, ComputeError::Graph(e));
                        return;
                    }
                }
            }
        }
        // Where each input is: here, or on another worker (fetched from it directly).
        let holder = |d: u32| {
            let w = self.state.who_has(self.tasks[d as usize]).first().copied();
            w.and_then(|w| self.slot(w)).unwrap_or(slot)
        };
        // Per argument, the worker it is on (literals: here).
        let at: Vec<usize> = (plan.args(id).iter())
            .map(|a| match a {
                PlanArg::Task(d) => holder(*d),
                PlanArg::Value(_) => slot,
            })
            .collect();
        let remote = at.iter().any(|h| *h != slot);
        let addresses: Vec<String> = if remote {
            self.pool.workers.iter().map(|w| w.data.clone()).collect()
        } else {
            Vec::new()
        };
        let mut along_iter = along.iter();
        let mut args = Vec::with_capacity(plan.args(id).len());
        for (a, &at) in plan.args(id).iter().zip(&at) {
            args.push(match a {
                PlanArg::Task(d) => {
                    if at == slot {
                        WireArg::Stored(*d)
                    } else {
                        WireArg::Remote {
                            id: *d,
                            from: &addresses[at],
                        }
                    }
                }
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
            if self.refused(id, slot, sent) {
                return;
            }
            self.sent_ops[slot][op as usize] = true;
        }
        let msg = ToWorker::Run { id, op, args };
        let sent = self.pool.send(slot, &msg);
        if self.refused(id, slot, sent) {
            return;
        }
        self.events(slot).start(id);
    }

    /// Task `id`, assigned to worker `slot`, cannot be sent: the computation fails.
    fn refuse(&mut self, id: u32, slot: usize, e: ComputeError) {
        self.fail(e);
        self.state
            .task_erred(self.workers[slot], self.tasks[id as usize], ());
    }

    /// Whether a message for task `id` could not be sent because it is too large (then the
    /// computation fails, naming the task). Any other failure is a broken stream, which shows
    /// up as a lost worker from its reader thread.
    fn refused(&mut self, id: u32, slot: usize, sent: std::io::Result<()>) -> bool {
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
        self.refuse(id, slot, failed(e));
        true
    }

    /// The callback events of tasks on worker `slot`.
    fn events(&self, slot: usize) -> TaskEvents<'_> {
        TaskEvents::new(self.plan, self.cbs, &self.ids[slot])
    }

    /// The first failure is the computation's: nothing more is wanted, and what the workers
    /// have queued does not start (what runs, finishes).
    fn fail(&mut self, e: ComputeError) {
        if self.error.is_none() {
            self.error = Some(e);
            self.state.remove_client(self.client);
            self.cancel_all();
        }
    }

    fn cancel_all(&mut self) {
        self.cancelled = true;
        for w in &self.pool.workers {
            w.control.cancel();
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
    /// computation (the state knows: every answer it is given takes the run off). A reply
    /// that answers nothing — a stale or out-of-range id — is ignored.
    fn answered(&self, id: u32, slot: usize) -> bool {
        (self.tasks.get(id as usize)).is_some_and(|t| self.state.is_sent(self.workers[slot], *t))
    }

    fn message(&mut self, slot: usize, msg: Reply) {
        let plan = self.plan;
        let w = self.workers[slot];
        match msg {
            Reply::Done {
                id,
                nbytes,
                seconds,
            } => {
                if !self.answered(id, slot) {
                    return;
                }
                let t = self.tasks[id as usize];
                if self
                    .state
                    .task_finished(w, t, nbytes, Some(f64::from(seconds)))
                {
                    self.done += 1;
                    self.events(slot).finished(id, nbytes as usize, None);
                }
            }
            Reply::Failed { id, failure } => {
                if !self.answered(id, slot) {
                    return;
                }
                let t = self.tasks[id as usize];
                let key = plan.key(id).clone();
                let op = plan.op(id).name().to_string();
                // An input id from a worker is checked before it is used.
                let dep_task = |dep: u32| self.tasks.get(dep as usize).copied();
                let e = match failure {
                    WorkerFailure::InputLost { dep, from, .. } => {
                        // The holder it was fetched from (not whoever holds it now).
                        let holder = (self.pool.workers.iter())
                            .position(|w| w.data == from)
                            .map(|s| self.workers[s]);
                        match dep_task(dep) {
                            Some(input) => {
                                self.state.missing_data(w, t, input, holder);
                            }
                            None => {
                                self.state.task_cancelled(w, t);
                            }
                        }
                        return;
                    }
                    WorkerFailure::InputUnsendable { dep, message } => {
                        let Some(input) = dep_task(dep) else {
                            self.state.task_cancelled(w, t);
                            return;
                        };
                        let holder = (self.state.who_has(input).first())
                            .and_then(|h| self.slot(*h))
                            .unwrap_or(slot);
                        failed(ProcessError::NotSent {
                            key: plan.key(dep).clone(),
                            slot: holder,
                            message,
                        })
                    }
                    WorkerFailure::Op(failure) => failure.named(&key, &op),
                    WorkerFailure::Setup(message) => ComputeError::Task {
                        key,
                        op,
                        cause: TaskError::new(format!(
                            "could not start on worker {slot}: {message}"
                        )),
                    },
                };
                if !self.state.task_erred(w, t, ()) {
                    return; // no longer needed: its failure does not matter
                }
                if !self.cbs.is_empty() {
                    let message = rask_graph::exec::failure_message(&e);
                    self.events(slot).finished(id, 0, Some(&message));
                }
                self.fail(e);
            }
            Reply::Value { id, value } => {
                if self.fetching.remove(&id).is_none() {
                    return; // not asked for in this computation
                }
                if plan.is_output(id) {
                    self.cache.insert(id, value);
                }
            }
            Reply::NotSent { id, message } => {
                if self.fetching.remove(&id).is_none() {
                    return;
                }
                self.fail(failed(ProcessError::NotSent {
                    key: plan.key(id).clone(),
                    slot,
                    message,
                }));
            }
            Reply::Cancelled { id } => {
                if !self.answered(id, slot) {
                    return;
                }
                self.state.task_cancelled(w, self.tasks[id as usize]);
                self.events(slot).finished(id, 0, Some(CANCELLED));
            }
        }
    }

    /// A worker died: a new one takes its place, and the state reruns its tasks, recomputes
    /// its results where still needed, and blames one task — the one it was running, or
    /// else the one it finished last (a task that breaks its worker on the way out), never
    /// the tasks queued behind them (Dask counts the tasks processing on the worker).
    fn lost(&mut self, slot: usize, why: &str) -> Result<(), ComputeError> {
        let control = &self.pool.workers[slot].control;
        let suspect = (control.running())
            .or_else(|| control.last_done())
            .and_then(|id| self.tasks.get(id as usize).copied());
        self.releases[slot].clear();
        // The new worker knows none of this computation's ops yet.
        self.sent_ops[slot].fill(false);
        // Fetches from the dead worker will never answer (those outputs are recomputed).
        self.fetching.retain(|_, s| *s != slot);
        self.pool.replace(slot).map_err(|cause| {
            failed(ProcessError::Replace {
                slot,
                why: why.to_string(),
                cause: Box::new(cause),
            })
        })?;
        self.state
            .remove_worker(self.workers[slot], suspect.as_slice());
        let spec = self.worker_spec(slot);
        self.workers[slot] = self.state.add_worker(spec);
        Ok(())
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
