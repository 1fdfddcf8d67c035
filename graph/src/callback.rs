//! Callbacks: what schedulers tell observers (progress bars, profilers, tracers).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Key;

/// The name of a worker: a thread (`"threaded-3"`), a process (`"process-1 (pid 4242)"`), a
/// host (`"tcp://10.0.0.7:4040"`). A string, not a slot number, so that events forwarded from
/// other processes and hosts still say where a task ran. Cloning is an `Arc` increment.
///
/// ```
/// use rask_graph::WorkerId;
/// let w = WorkerId::new("threaded-0");
/// assert_eq!(w.as_str(), "threaded-0");
/// assert_eq!(w.to_string(), "threaded-0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkerId(Arc<str>);

impl WorkerId {
    /// A worker named `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self(name.into())
    }

    /// `"{prefix}-{i}"` for `i` in `0..n`: the ids of a pool's workers.
    pub fn numbered(prefix: &str, n: usize) -> Vec<WorkerId> {
        (0..n)
            .map(|i| WorkerId::new(format!("{prefix}-{i}")))
            .collect()
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A number derived from the name (the same for equal names, in every process), for
    /// callbacks that shard their state by worker.
    pub fn shard(&self) -> usize {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(&*self.0) as usize
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A computation starts.
///
/// Events borrow what the scheduler has at hand (a [`Cow`] is free to make), and
/// [`into_owned`](ComputeStart::into_owned) — or serde — makes them `'static`: what a worker
/// process or host forwards to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeStart<'a> {
    /// The keys requested.
    pub keys: Cow<'a, [Key]>,
    /// The number of tasks that will run.
    pub tasks: usize,
    /// The number of workers running them.
    pub workers: usize,
}

/// A task starts on a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStart<'a> {
    /// The task's id in this computation's plan.
    pub id: u32,
    /// Its key.
    pub key: Cow<'a, Key>,
    /// Its op's name.
    pub op: Cow<'a, str>,
    /// The worker running it.
    pub worker: Cow<'a, WorkerId>,
}

/// A task finished, successfully or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFinish<'a> {
    /// The task's id in this computation's plan.
    pub id: u32,
    /// Its key.
    pub key: Cow<'a, Key>,
    /// Its op's name.
    pub op: Cow<'a, str>,
    /// The worker that ran it.
    pub worker: Cow<'a, WorkerId>,
    /// The size of its result, 0 when it failed.
    pub nbytes: usize,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// A scheduler dropped a result: every task that reads it has it (outputs are never released).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultReleased<'a> {
    /// The task whose result it was.
    pub id: u32,
    /// Its key.
    pub key: Cow<'a, Key>,
    /// The result's size.
    pub nbytes: usize,
}

/// A computation finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeFinish {
    /// How many tasks ran to completion.
    pub tasks_done: usize,
    /// Why the computation failed, if it did.
    pub error: Option<String>,
}

impl ComputeStart<'_> {
    /// The event, owning what it borrowed.
    pub fn into_owned(self) -> ComputeStart<'static> {
        ComputeStart {
            keys: Cow::Owned(self.keys.into_owned()),
            tasks: self.tasks,
            workers: self.workers,
        }
    }
}

impl TaskStart<'_> {
    /// The event, owning what it borrowed.
    pub fn into_owned(self) -> TaskStart<'static> {
        TaskStart {
            id: self.id,
            key: Cow::Owned(self.key.into_owned()),
            op: Cow::Owned(self.op.into_owned()),
            worker: Cow::Owned(self.worker.into_owned()),
        }
    }
}

impl TaskFinish<'_> {
    /// The event, owning what it borrowed.
    pub fn into_owned(self) -> TaskFinish<'static> {
        TaskFinish {
            id: self.id,
            key: Cow::Owned(self.key.into_owned()),
            op: Cow::Owned(self.op.into_owned()),
            worker: Cow::Owned(self.worker.into_owned()),
            nbytes: self.nbytes,
            error: self.error,
        }
    }
}

impl ResultReleased<'_> {
    /// The event, owning what it borrowed.
    pub fn into_owned(self) -> ResultReleased<'static> {
        ResultReleased {
            id: self.id,
            key: Cow::Owned(self.key.into_owned()),
            nbytes: self.nbytes,
        }
    }
}

/// Any callback event, serializable: what a worker process or host forwards to the client
/// that started the computation (as `Event<'static>`), which replays it with
/// [`Callbacks::dispatch`].
///
/// ```
/// use std::borrow::Cow;
/// use rask_graph::{Event, Key, TaskStart, WorkerId};
///
/// let key = Key::new("x", [3]);
/// let worker = WorkerId::new("w-1");
/// // Borrowed where it is made...
/// let e = Event::TaskStart(TaskStart {
///     id: 3, key: Cow::Borrowed(&key), op: Cow::Borrowed("inc"), worker: Cow::Borrowed(&worker),
/// });
/// // ...owned where it arrives.
/// let bytes = postcard::to_stdvec(&e).unwrap();
/// let back: Event<'static> = postcard::from_bytes(&bytes).unwrap();
/// assert_eq!(back, e);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event<'a> {
    /// See [`Callback::on_compute_start`].
    ComputeStart(ComputeStart<'a>),
    /// See [`Callback::on_task_start`].
    TaskStart(TaskStart<'a>),
    /// See [`Callback::on_task_finish`].
    TaskFinish(TaskFinish<'a>),
    /// See [`Callback::on_release`].
    Release(ResultReleased<'a>),
    /// See [`Callback::on_compute_finish`].
    ComputeFinish(ComputeFinish),
}

impl Event<'_> {
    /// The event, owning what it borrowed.
    pub fn into_owned(self) -> Event<'static> {
        match self {
            Event::ComputeStart(e) => Event::ComputeStart(e.into_owned()),
            Event::TaskStart(e) => Event::TaskStart(e.into_owned()),
            Event::TaskFinish(e) => Event::TaskFinish(e.into_owned()),
            Event::Release(e) => Event::Release(e.into_owned()),
            Event::ComputeFinish(e) => Event::ComputeFinish(e),
        }
    }
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
    fn on_compute_finish(&self, _event: &ComputeFinish) {}
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
            let failed = match catch_unwind(AssertUnwindSafe(|| f(*cb))) {
                Ok(()) => false,
                Err(payload) => {
                    crate::exec::drop_panic_payload(payload);
                    true
                }
            };
            if failed && !off.swap(true, Ordering::Relaxed) {
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
    pub fn compute_finish(&self, e: &ComputeFinish) {
        self.each("on_compute_finish", |c| c.on_compute_finish(e));
    }

    /// Calls the method for `event`: how a scheduler replays events forwarded from elsewhere.
    pub fn dispatch(&self, event: &Event<'_>) {
        match event {
            Event::ComputeStart(e) => self.compute_start(e),
            Event::TaskStart(e) => self.task_start(e),
            Event::TaskFinish(e) => self.task_finish(e),
            Event::Release(e) => self.release(e),
            Event::ComputeFinish(e) => self.compute_finish(e),
        }
    }
}

impl fmt::Debug for Callbacks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_list().entries(self.list).finish()
    }
}
