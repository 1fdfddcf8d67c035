//! The threaded scheduler.
//!
//! The plan's ids are in priority order. Ready tasks come from three places, cheapest first:
//! the worker's own `next` (the lowest newly ready dependent of the task it just ran: finish
//! what you started), the worker's run of the tasks ready at the start, claimed from a shared
//! cursor, and a shared min-heap of tasks that became ready later. Dependency counts are atomic;
//! each result sits in its own slot, taken out by its last reader. Idle workers sleep on a
//! condition variable that is only signalled when someone sleeps.
//!
//! A run is one task while tasks are slow, and doubles up to 64 while runs finish fast, so that
//! workers on tiny tasks work on separate parts of the graph: the siblings under one reader run
//! on one thread (their results are made and freed there, and their slots and counts are not
//! written by two cores at once). A worker that finds the cursor at its end takes the back half
//! of another's run, so no worker waits while another holds tasks it has not started.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use rask_graph::exec::{self, TaskEvents};
use rask_graph::{
    Args, Callback, Callbacks, ComputeError, ComputeFinish, ComputeStart, Graph, Key, Plan,
    PlanArg, Scheduler, Value, WorkerId,
};
use smallvec::SmallVec;

use crate::pool::Pool;
use crate::sync::{
    AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering,
};

/// Why a scheduler could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `num_workers(0)`.
    #[error("a scheduler needs at least one worker; num_workers was 0")]
    ZeroWorkers,
}

/// How the threaded scheduler itself failed (task failures are
/// [`ComputeError::Task`] / [`ComputeError::Panic`]); the source of
/// [`ComputeError::Scheduler`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The operating system would not start a worker thread.
    #[error("cannot start worker thread {worker}")]
    Spawn {
        /// The worker's number.
        worker: usize,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A worker thread failed outside any task (a bug in the scheduler, not in a task).
    #[error("worker thread {worker} failed: {message}")]
    WorkerPanicked {
        /// The worker's number.
        worker: usize,
        /// The panic's message.
        message: String,
    },
}

/// Runs tasks on a pool of threads; the default scheduler. Build it with
/// [`ThreadedScheduler::builder`].
///
/// ```
/// use rask_local::ThreadedScheduler;
///
/// let s = ThreadedScheduler::builder().num_workers(4).build()?;
/// assert_eq!(s.num_workers(), 4);
/// assert!(ThreadedScheduler::builder().num_workers(0).build().is_err());
/// # Ok::<(), rask_local::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ThreadedScheduler {
    num_workers: usize,
    /// `"threaded-{i}"`, as callback events name the workers.
    ids: Arc<[WorkerId]>,
    /// The helper threads, started by the first computation that needs them and kept until
    /// the last clone of the scheduler drops (then they are stopped and joined).
    pool: Arc<std::sync::Mutex<Option<Arc<Pool>>>>,
}

/// Configures a [`ThreadedScheduler`].
#[derive(Debug, Clone, Default)]
pub struct ThreadedSchedulerBuilder {
    num_workers: Option<usize>,
}

impl ThreadedSchedulerBuilder {
    /// The number of worker threads (the calling thread is one of them). Default: the
    /// available cores.
    pub fn num_workers(mut self, n: usize) -> Self {
        self.num_workers = Some(n);
        self
    }

    /// Builds the scheduler.
    pub fn build(self) -> Result<ThreadedScheduler, BuildError> {
        let num_workers = match self.num_workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        Ok(ThreadedScheduler::with_workers(num_workers))
    }
}

impl ThreadedScheduler {
    fn with_workers(num_workers: usize) -> Self {
        Self {
            num_workers,
            // Workers `num_workers..` are the spares (see `Op::waits`).
            ids: WorkerId::numbered("threaded", 2 * num_workers).into(),
            pool: Arc::default(),
        }
    }

    /// The helper pool, started on first use. A thread that will not start is an error (and
    /// the next computation tries again).
    fn pool(&self) -> Result<Arc<Pool>, ComputeError> {
        let mut slot = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = &*slot {
            return Ok(Arc::clone(p));
        }
        let pool = Pool::start(self.num_workers - 1).map_err(|(worker, source)| {
            ComputeError::scheduler("threaded", LocalError::Spawn { worker, source })
        })?;
        let pool = Arc::new(pool);
        *slot = Some(Arc::clone(&pool));
        Ok(pool)
    }

    /// A builder.
    pub fn builder() -> ThreadedSchedulerBuilder {
        ThreadedSchedulerBuilder::default()
    }

    /// The number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.num_workers
    }
}

impl Default for ThreadedScheduler {
    fn default() -> Self {
        Self::builder()
            .build()
            .unwrap_or_else(|_| ThreadedScheduler::with_workers(1))
    }
}

impl Scheduler for ThreadedScheduler {
    fn get(
        &self,
        graph: &Graph,
        keys: &[Key],
        callbacks: &[&dyn Callback],
    ) -> Result<Vec<Value>, ComputeError> {
        let plan = Plan::lower(graph, keys)?;
        let cbs = Callbacks::new(callbacks);
        let workers = self.num_workers.min(plan.len().max(1));
        if workers == 1 {
            return exec::run_plan(&plan, &cbs, &self.ids[0]);
        }
        let pool = self.pool()?;
        // Spare workers, for plans with tasks that wait on other threads.
        let spares = if plan.waits() {
            pool.start_spares(workers).map_err(|(worker, source)| {
                ComputeError::scheduler("threaded", LocalError::Spawn { worker, source })
            })?;
            workers
        } else {
            0
        };
        let state = State::new(&plan, &cbs, &self.ids, workers, spares > 0);
        if !cbs.is_empty() {
            cbs.compute_start(&ComputeStart {
                keys: plan.output_keys().into(),
                tasks: plan.len(),
                workers,
            });
        }
        // This thread is worker 0 and can finish alone; helpers that are free join it.
        pool.run(workers - 1, spares, &|w| state.guarded_work(w));
        let error = state.error.into_inner().unwrap_or_else(|p| p.into_inner());
        let done = state.done.load(Ordering::Acquire);
        if !cbs.is_empty() {
            cbs.compute_finish(&ComputeFinish {
                tasks_done: done,
                error: error.as_ref().map(|e| e.to_string()),
            });
        }
        if let Some(e) = error {
            return Err(e);
        }
        let slots = state.slots;
        Ok(plan
            .outputs()
            .iter()
            .map(|o| {
                lock(&slots[*o as usize])
                    .clone()
                    .unwrap_or_else(|| unreachable!("outputs are kept"))
            })
            .collect())
    }

    fn name(&self) -> &str {
        "threaded"
    }
}

/// How long a worker's next run is (its tasks are in [`State::runs`]).
#[derive(Default)]
struct Run {
    /// How many tasks the last run claimed (0 before the first).
    size: usize,
    /// When the last run was claimed.
    claimed: Option<std::time::Instant>,
}

/// A worker's run, `initial[next..end]`, as one word (`next` high, `end` low) so that its
/// owner taking the next task and another worker taking the back half are each one
/// compare-and-swap. Alone on its cache line.
#[repr(align(64))]
struct Shared(AtomicU64);

fn pack(next: usize, end: usize) -> u64 {
    // Plans hold fewer than 2^32 tasks.
    ((next as u64) << 32) | end as u64
}

fn unpack(word: u64) -> (usize, usize) {
    ((word >> 32) as usize, (word & 0xffff_ffff) as usize)
}

impl Run {
    /// The longest run claimed.
    const MAX: usize = 64;
    /// A run that took less than this (its tasks and the dependents they made ready) lets the
    /// next one be twice as long; a slower one makes the next a single task again. So a
    /// worker holds back at most about this much work from the others.
    const FAST: std::time::Duration = std::time::Duration::from_micros(200);

    /// The length of the next run.
    fn adapt(&mut self) -> usize {
        let now = std::time::Instant::now();
        // Under the model checker every run is fast: its explorations must not depend on
        // the clock (and runs longer than one are what it should explore).
        let fast = self
            .claimed
            .is_some_and(|t| cfg!(loom) || now - t < Self::FAST);
        self.size = if fast {
            (self.size * 2).min(Self::MAX)
        } else {
            1
        };
        self.claimed = Some(now);
        self.size
    }
}

struct State<'a> {
    plan: &'a Plan,
    cbs: &'a Callbacks<'a>,
    ids: &'a [WorkerId],
    waiting_on: Vec<AtomicU32>,
    uses: Vec<AtomicU32>,
    slots: Vec<Mutex<Option<Value>>>,
    initial: Vec<u32>,
    cursor: AtomicUsize,
    /// Per worker, its run of `initial`.
    runs: Vec<Shared>,
    heap: Mutex<BinaryHeap<Reverse<u32>>>,
    heap_len: AtomicUsize,
    wake: Condvar,
    sleeping: AtomicUsize,
    done: AtomicUsize,
    stopped: AtomicBool,
    error: Mutex<Option<ComputeError>>,
    /// Workers below this number always run tasks; those above are spares, which run one
    /// only while fewer spares run than tasks wait ([`Op::waits`](rask_graph::Op::waits)).
    spares_from: usize,
    /// Whether this computation has spares (its plan has tasks that wait).
    spares: bool,
    /// Tasks running now whose op waits.
    waiting: AtomicUsize,
    /// Spares running (or looking for) a task now.
    spares_running: AtomicUsize,
    /// Idle spares wait here for a task that waits.
    spare_lock: Mutex<()>,
    spare_wake: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'a> State<'a> {
    fn new(
        plan: &'a Plan,
        cbs: &'a Callbacks<'a>,
        ids: &'a [WorkerId],
        workers: usize,
        spares: bool,
    ) -> Self {
        let n = plan.len();
        Self {
            plan,
            cbs,
            ids,
            waiting_on: (0..n as u32)
                .map(|i| AtomicU32::new(plan.dependencies(i).len() as u32))
                .collect(),
            uses: (0..n as u32)
                .map(|i| AtomicU32::new(plan.uses(i)))
                .collect(),
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
            initial: plan.initial_ready(),
            cursor: AtomicUsize::new(0),
            runs: ids.iter().map(|_| Shared(AtomicU64::new(0))).collect(),
            heap: Mutex::new(BinaryHeap::new()),
            heap_len: AtomicUsize::new(0),
            wake: Condvar::new(),
            sleeping: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            error: Mutex::new(None),
            spares_from: workers,
            spares,
            waiting: AtomicUsize::new(0),
            spares_running: AtomicUsize::new(0),
            spare_lock: Mutex::new(()),
            spare_wake: Condvar::new(),
        }
    }

    /// Stops everyone: no new task starts; sleepers wake and leave.
    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        let guard = lock(&self.heap);
        self.wake.notify_all();
        drop(guard);
        let _guard = lock(&self.spare_lock);
        self.spare_wake.notify_all();
    }

    /// Whether a spare may run a task now (counted in `spares_running` if so), waiting until
    /// it may; false once the computation stops.
    fn spare_turn(&self) -> bool {
        loop {
            if self.stopped.load(Ordering::Acquire) {
                return false;
            }
            let running = self.spares_running.load(Ordering::Acquire);
            if self.spare_wanted(running) {
                let took = self.spares_running.compare_exchange(
                    running,
                    running + 1,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if took.is_ok() {
                    return true;
                }
                continue;
            }
            let guard = lock(&self.spare_lock);
            // Looked at again under the lock, which a waiting task's start takes to wake us.
            if self.stopped.load(Ordering::Acquire)
                || self.spare_wanted(self.spares_running.load(Ordering::Acquire))
            {
                continue;
            }
            drop(
                self.spare_wake
                    .wait(guard)
                    .unwrap_or_else(|p| p.into_inner()),
            );
        }
    }

    /// Whether another spare may run beside `running` ones: fewer spares run than tasks wait.
    fn spare_wanted(&self, running: usize) -> bool {
        running < self.waiting.load(Ordering::Acquire)
    }

    /// Hands what `worker` holds back to everyone — the task it made ready, `next`, and the
    /// rest of its run — when a spare's turn is over: a spare that waits for its turn must
    /// not sit on tasks while the other workers sleep.
    fn hand_back(&self, worker: usize, next: Option<u32>) {
        let mine = &self.runs[worker].0;
        let run = loop {
            let word = mine.load(Ordering::Acquire);
            let (n, e) = unpack(word);
            if n >= e {
                break n..n;
            }
            let taken =
                mine.compare_exchange(word, pack(e, e), Ordering::AcqRel, Ordering::Acquire);
            if taken.is_ok() {
                break n..e;
            }
        };
        let tasks = next.into_iter().chain(self.initial[run].iter().copied());
        let mut heap = lock(&self.heap);
        let before = heap.len();
        heap.extend(tasks.map(Reverse));
        let added = heap.len() - before;
        if added > 0 {
            self.heap_len.fetch_add(added, Ordering::Release);
            if self.sleeping.load(Ordering::Relaxed) > 0 {
                self.wake.notify_all();
            }
        }
    }

    /// [`work`](Self::work), and should the scheduler itself fail (a bug, not a task: task
    /// panics are caught where they run), the failure stops everyone instead of leaving
    /// the other workers waiting for tasks that will never be ready.
    fn guarded_work(&self, worker: usize) {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.work(worker)));
        if let Err(panic) = run {
            let message = rask_graph::panic_message(&*panic);
            rask_graph::exec::drop_panic_payload(panic);
            self.fail(ComputeError::scheduler(
                "threaded",
                LocalError::WorkerPanicked { worker, message },
            ));
        }
    }

    /// Records the computation's first error and stops every worker.
    fn fail(&self, e: ComputeError) {
        let mut slot = lock(&self.error);
        if slot.is_none() {
            *slot = Some(e);
        }
        drop(slot);
        self.stop();
    }

    fn work(&self, worker: usize) {
        let spare = worker >= self.spares_from;
        let mut next: Option<u32> = None;
        let mut run = Run::default();
        loop {
            if spare {
                // A spare runs only while tasks wait: else what it holds goes to the
                // others, and it waits for its turn.
                if !self.spare_wanted(self.spares_running.load(Ordering::Acquire)) {
                    self.hand_back(worker, next.take());
                }
                if !self.spare_turn() {
                    return;
                }
            }
            let claimed = next.take().or_else(|| self.claim(worker, &mut run));
            let Some(id) = claimed else {
                if spare {
                    self.spares_running.fetch_sub(1, Ordering::AcqRel);
                }
                return;
            };
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            let ran = self.run(id, worker);
            if spare {
                self.spares_running.fetch_sub(1, Ordering::AcqRel);
            }
            match ran {
                Ok(()) => {}
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
            if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.plan.len() {
                self.stop();
                return;
            }
            let mut ready: SmallVec<[u32; 8]> = SmallVec::new();
            for &d in self.plan.dependents(id) {
                if self.waiting_on[d as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                    ready.push(d);
                }
            }
            // Dependents are ascending: run the first here, share the rest.
            if let Some((first, rest)) = ready.as_slice().split_first() {
                next = Some(*first);
                if !rest.is_empty() {
                    let mut heap = lock(&self.heap);
                    heap.extend(rest.iter().map(|d| Reverse(*d)));
                    self.heap_len.fetch_add(rest.len(), Ordering::Release);
                    if self.sleeping.load(Ordering::Relaxed) > 0 {
                        if rest.len() == 1 {
                            self.wake.notify_one();
                        } else {
                            self.wake.notify_all();
                        }
                    }
                }
            }
        }
    }

    fn run(&self, id: u32, worker: usize) -> Result<(), ComputeError> {
        let plan = self.plan;
        let events = TaskEvents::new(plan, self.cbs, &self.ids[worker]);
        let args: Args = plan
            .args(id)
            .iter()
            .map(|a| match a {
                PlanArg::Value(v) => v.clone(),
                PlanArg::Task(d) => {
                    let d = *d as usize;
                    // Count this use under the slot's lock: a reader that decided to clone
                    // must have cloned before the last reader takes the value away.
                    let mut slot = lock(&self.slots[d]);
                    let left = self.uses[d].fetch_sub(1, Ordering::AcqRel) - 1;
                    let released = left == 0 && !plan.is_output(d as u32);
                    let v = if released { slot.take() } else { slot.clone() };
                    drop(slot);
                    let v = v
                        .unwrap_or_else(|| unreachable!("a dependency runs before its dependents"));
                    if released {
                        events.release(d as u32, &v);
                    }
                    v
                }
            })
            .collect();
        events.start(id);
        let waits = self.spares && plan.op(id).waits();
        if waits {
            self.waiting.fetch_add(1, Ordering::AcqRel);
            let _guard = lock(&self.spare_lock);
            self.spare_wake.notify_one();
        }
        let result = exec::run_task(plan, id, args);
        if waits {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        events.finish(id, &result);
        *lock(&self.slots[id as usize]) = Some(result?);
        Ok(())
    }

    /// A task from another worker's run: the first of its back half (the rest of which becomes
    /// this worker's run), or its last task.
    fn steal(&self, worker: usize) -> Option<u32> {
        for (w, other) in self.runs.iter().enumerate() {
            if w == worker {
                continue;
            }
            loop {
                let word = other.0.load(Ordering::Acquire);
                let (n, e) = unpack(word);
                if n >= e {
                    break;
                }
                // One left: take it as its owner would; else the back half.
                let mid = n + (e - n) / 2;
                let (theirs, take) = if mid == n {
                    (pack(n + 1, e), n)
                } else {
                    (pack(n, mid), mid)
                };
                let stolen =
                    other
                        .0
                        .compare_exchange(word, theirs, Ordering::AcqRel, Ordering::Acquire);
                if stolen.is_ok() {
                    if take != n {
                        self.runs[worker]
                            .0
                            .store(pack(take + 1, e), Ordering::Release);
                    }
                    return self.initial.get(take).copied();
                }
            }
        }
        None
    }

    /// The next task to run, by priority, or `None` when the computation is over.
    fn claim(&self, worker: usize, run: &mut Run) -> Option<u32> {
        let mine = &self.runs[worker].0;
        loop {
            if self.stopped.load(Ordering::Acquire) {
                return None;
            }
            let word = mine.load(Ordering::Acquire);
            let (n, e) = unpack(word);
            let first = if n < e {
                self.initial.get(n).copied()
            } else {
                self.initial
                    .get(self.cursor.load(Ordering::Relaxed))
                    .copied()
            };
            if self.heap_len.load(Ordering::Acquire) > 0 {
                let mut heap = lock(&self.heap);
                if let Some(&Reverse(top)) = heap.peek()
                    && first.is_none_or(|f| top < f)
                {
                    heap.pop();
                    self.heap_len.fetch_sub(1, Ordering::Release);
                    return Some(top);
                }
            }
            if n < e {
                let taken = mine.compare_exchange(
                    word,
                    pack(n + 1, e),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if taken.is_ok() {
                    return first;
                }
                // Another worker took part of the run: look again.
                continue;
            }
            if first.is_some() {
                let size = run.adapt();
                let c = self.cursor.fetch_add(size, Ordering::Relaxed);
                if let Some(id) = self.initial.get(c) {
                    let end = c.saturating_add(size).min(self.initial.len());
                    mine.store(pack(c + 1, end), Ordering::Release);
                    return Some(*id);
                }
                continue;
            }
            if let Some(id) = self.steal(worker) {
                return Some(id);
            }
            let heap = lock(&self.heap);
            if !heap.is_empty() {
                continue;
            }
            if self.stopped.load(Ordering::Acquire) {
                return None;
            }
            self.sleeping.fetch_add(1, Ordering::Relaxed);
            let heap = self.wake.wait(heap).unwrap_or_else(|p| p.into_inner());
            self.sleeping.fetch_sub(1, Ordering::Relaxed);
            drop(heap);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rask_graph::{Callbacks, Plan, WorkerId};

    use super::{LocalError, Ordering, Run, State, pack, unpack};

    /// A worker with nothing left in the cursor takes the back half of another's run, or its
    /// last task; its owner goes on with the front half; nothing is run twice or lost.
    #[test]
    fn an_idle_worker_takes_the_back_half_of_a_run() {
        let (g, key) = rask_testing::independent(
            8,
            Arc::new(rask_graph::ops::AddConst(1)),
            Arc::new(rask_graph::ops::Sum),
        );
        let plan = Plan::lower(&g, &[key]).unwrap();
        let cbs = Callbacks::new(&[]);
        let ids: Vec<WorkerId> = (0..2).map(|i| WorkerId::new(format!("w{i}"))).collect();
        let state = State::new(&plan, &cbs, &ids, 2, false);
        let leaves = state.initial.clone();
        assert_eq!(leaves.len(), 8);
        // Worker 0 holds all eight leaves; the cursor is at its end.
        state.cursor.store(8, Ordering::Relaxed);
        state.runs[0].0.store(pack(0, 8), Ordering::Relaxed);
        let mut run = Run::default();
        assert_eq!(state.claim(1, &mut run), Some(leaves[4]));
        assert_eq!(unpack(state.runs[0].0.load(Ordering::Relaxed)), (0, 4));
        assert_eq!(unpack(state.runs[1].0.load(Ordering::Relaxed)), (5, 8));
        let mut claimed = vec![leaves[4]];
        // Both go on: worker 1 with its half, worker 0 with its own, then whatever is left.
        for _ in 0..3 {
            claimed.push(state.claim(1, &mut run).unwrap());
        }
        claimed.push(state.claim(0, &mut run).unwrap());
        // Worker 1's run is empty: of worker 0's three left, it takes the back two.
        assert_eq!(state.claim(1, &mut run), Some(leaves[2]));
        assert_eq!(unpack(state.runs[0].0.load(Ordering::Relaxed)), (1, 2));
        assert_eq!(unpack(state.runs[1].0.load(Ordering::Relaxed)), (3, 4));
        assert_eq!(state.claim(1, &mut run), Some(leaves[3]));
        // One left, in worker 0's run: worker 1 takes it as its owner would.
        assert_eq!(state.claim(1, &mut run), Some(leaves[1]));
        assert_eq!(unpack(state.runs[0].0.load(Ordering::Relaxed)), (2, 2));
        claimed.extend([leaves[2], leaves[3], leaves[1]]);
        claimed.sort_unstable();
        let mut want = leaves.clone();
        want.sort_unstable();
        assert_eq!(claimed, want);
    }

    /// A spare whose turn is over hands back the task it made ready and the rest of its run:
    /// the other workers (asleep, perhaps) get them from the heap, and nothing is lost.
    #[test]
    fn a_spare_out_of_turn_hands_back_what_it_holds() {
        let (g, key) = rask_testing::independent(
            8,
            Arc::new(rask_graph::ops::AddConst(1)),
            Arc::new(rask_graph::ops::Sum),
        );
        let plan = Plan::lower(&g, &[key]).unwrap();
        let cbs = Callbacks::new(&[]);
        let ids: Vec<WorkerId> = (0..4).map(|i| WorkerId::new(format!("w{i}"))).collect();
        // Workers 0 and 1, spares 2 and 3; spare 2 holds leaves 3..8, and the sum as made
        // ready (as if it had just run a leaf).
        let state = State::new(&plan, &cbs, &ids, 2, true);
        let leaves = state.initial.clone();
        state.cursor.store(8, Ordering::Relaxed);
        state.runs[2].0.store(pack(3, 8), Ordering::Relaxed);
        let total = plan.outputs()[0];
        state.hand_back(2, Some(total));
        assert_eq!(unpack(state.runs[2].0.load(Ordering::Relaxed)), (8, 8));
        assert_eq!(state.heap_len.load(Ordering::Relaxed), 6);
        // Worker 0 takes them all, in priority order (its own run and the cursor are empty).
        let mut run = Run::default();
        let mut got: Vec<u32> = (0..6).map(|_| state.claim(0, &mut run).unwrap()).collect();
        let mut want: Vec<u32> = leaves[3..].iter().copied().chain([total]).collect();
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn messages() {
        let spawn = LocalError::Spawn {
            worker: 3,
            source: std::io::Error::other("out of threads"),
        };
        let e = rask_graph::ComputeError::scheduler("threaded", spawn);
        insta::assert_snapshot!(e.to_string(), @"the threaded scheduler failed: cannot start worker thread 3");
        // The cause is the source, for error reporters that walk the chain.
        let source = std::error::Error::source(&e).unwrap();
        insta::assert_snapshot!(std::error::Error::source(source).unwrap().to_string(), @"out of threads");
        insta::assert_snapshot!(LocalError::WorkerPanicked { worker: 1, message: "index out of bounds".into() }.to_string(), @"worker thread 1 failed: index out of bounds");
    }
}
