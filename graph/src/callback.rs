//! Callbacks: what schedulers tell observers (progress bars, profilers, tracers).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::Key;

/// A computation starts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ComputeStart<'a> {
    /// The keys requested.
    pub keys: &'a [Key],
    /// The number of tasks that will run.
    pub tasks: usize,
    /// The number of workers running them.
    pub workers: usize,
}

/// A task starts on a worker.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TaskStart<'a> {
    /// The task's id in the plan.
    pub id: u32,
    /// Its key.
    pub key: &'a Key,
    /// Its op's name.
    pub op: &'a str,
    /// The worker running it (0-based).
    pub worker: usize,
}

/// A task finished, successfully or not.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TaskFinish<'a> {
    /// The task's id in the plan.
    pub id: u32,
    /// Its key.
    pub key: &'a Key,
    /// Its op's name.
    pub op: &'a str,
    /// The worker that ran it.
    pub worker: usize,
    /// The size of its result, 0 when it failed.
    pub nbytes: usize,
    /// Why it failed, if it did.
    pub error: Option<&'a str>,
}

/// A scheduler dropped a result: every task that reads it has it (outputs are never released).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ResultReleased<'a> {
    /// The task whose result it was.
    pub id: u32,
    /// Its key.
    pub key: &'a Key,
    /// The result's size.
    pub nbytes: usize,
}

/// A computation finished.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ComputeFinish<'a> {
    /// How many tasks ran to completion.
    pub tasks_done: usize,
    /// Why the computation failed, if it did.
    pub error: Option<&'a str>,
}

/// An observer of computations. Every method has a no-op default: implement only what you need.
/// Task events arrive on worker threads, concurrently; keep them cheap.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use rask_graph::{Callback, TaskFinish};
///
/// #[derive(Debug, Default)]
/// struct Counter(AtomicUsize);
///
/// impl Callback for Counter {
///     fn on_task_finish(&self, _event: &TaskFinish<'_>) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let counter = Counter::default();
/// assert_eq!(counter.0.load(Ordering::Relaxed), 0);
/// ```
pub trait Callback: Send + Sync + fmt::Debug {
    /// Before the first task.
    fn on_compute_start(&self, _event: &ComputeStart<'_>) {}
    /// Before a task runs.
    fn on_task_start(&self, _event: &TaskStart<'_>) {}
    /// After a task ran.
    fn on_task_finish(&self, _event: &TaskFinish<'_>) {}
    /// When a result is dropped (what a cache profiler counts).
    fn on_release(&self, _event: &ResultReleased<'_>) {}
    /// After the last task (or the first failure).
    fn on_compute_finish(&self, _event: &ComputeFinish<'_>) {}
}

/// The callbacks of one computation, as schedulers call them: a callback that panics is
/// reported once on stderr and detached; the computation goes on.
pub struct Callbacks<'a> {
    list: &'a [&'a dyn Callback],
    detached: Vec<AtomicBool>,
}

impl<'a> Callbacks<'a> {
    /// Wraps a list of callbacks.
    pub fn new(list: &'a [&'a dyn Callback]) -> Self {
        Self {
            list,
            detached: list.iter().map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Whether there are none (schedulers skip building events then).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn each(&self, what: &str, f: impl Fn(&dyn Callback)) {
        for (cb, off) in self.list.iter().zip(&self.detached) {
            if off.load(Ordering::Relaxed) {
                continue;
            }
            if catch_unwind(AssertUnwindSafe(|| f(*cb))).is_err()
                && !off.swap(true, Ordering::Relaxed)
            {
                eprintln!(
                    "rask: callback {cb:?} panicked in {what}; it is detached from this computation"
                );
            }
        }
    }

    /// Calls every `on_compute_start`.
    pub fn compute_start(&self, e: &ComputeStart<'_>) {
        self.each("on_compute_start", |c| c.on_compute_start(e));
    }

    /// Calls every `on_task_start`.
    #[inline]
    pub fn task_start(&self, e: &TaskStart<'_>) {
        self.each("on_task_start", |c| c.on_task_start(e));
    }

    /// Calls every `on_task_finish`.
    #[inline]
    pub fn task_finish(&self, e: &TaskFinish<'_>) {
        self.each("on_task_finish", |c| c.on_task_finish(e));
    }

    /// Calls every `on_release`.
    #[inline]
    pub fn release(&self, e: &ResultReleased<'_>) {
        self.each("on_release", |c| c.on_release(e));
    }

    /// Calls every `on_compute_finish`.
    pub fn compute_finish(&self, e: &ComputeFinish<'_>) {
        self.each("on_compute_finish", |c| c.on_compute_finish(e));
    }
}

impl fmt::Debug for Callbacks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.list).finish()
    }
}
