//! What the state machine asks its driver to do, and why a task failed.

use std::fmt;
use std::sync::Arc;

use rask_graph::Key;

use crate::{ClientId, TaskId, WorkerRef};

/// A command for the driver (the process pool's loop, the distributed scheduler's server):
/// the state has already moved on; the driver makes it true on the workers and clients.
#[derive(Debug)]
pub enum Command<E> {
    /// Run `task` on `worker`. Its inputs are all in memory: where, says
    /// [`SchedulerState::who_has`](crate::SchedulerState::who_has).
    Run {
        /// The worker.
        worker: WorkerRef,
        /// The task.
        task: TaskId,
    },
    /// `task`, sent to `worker`, is no longer needed: do not start it if it has not started.
    /// The worker still answers it (finished, failed or cancelled).
    Cancel {
        /// The worker.
        worker: WorkerRef,
        /// The task.
        task: TaskId,
    },
    /// Ask `victim` to give up `task` if it has not started it, for `thief` (work stealing);
    /// its answer goes to [`SchedulerState::steal_response`](crate::SchedulerState::steal_response).
    Steal {
        /// The worker it was sent to.
        victim: WorkerRef,
        /// The task.
        task: TaskId,
        /// The idle worker that would run it.
        thief: WorkerRef,
    },
    /// `worker` drops its result of `task`.
    Release {
        /// The worker.
        worker: WorkerRef,
        /// The task.
        task: TaskId,
        /// Its size, as reported.
        nbytes: u64,
    },
    /// `task`, which `client` wants, is in memory (on the workers of
    /// [`SchedulerState::who_has`](crate::SchedulerState::who_has)).
    InMemory {
        /// The client.
        client: ClientId,
        /// The task.
        task: TaskId,
    },
    /// `task`, which `client` wants, failed.
    Erred {
        /// The client.
        client: ClientId,
        /// The task.
        task: TaskId,
        /// Why.
        failure: Arc<Failure<E>>,
    },
}

/// Why a task failed. `E` is the driver's own error, reported with
/// [`SchedulerState::task_erred`](crate::SchedulerState::task_erred).
#[derive(Debug)]
pub enum Failure<E> {
    /// The task itself failed on its worker.
    Task(E),
    /// Workers died while running it (or right after finishing it) this many times: it is
    /// marked bad (Dask's `KilledWorker`).
    KilledWorkers {
        /// The task's key.
        key: Key,
        /// How many.
        deaths: u32,
    },
    /// Workers are connected, but none of them has the task's op.
    NoWorker {
        /// The task's key.
        key: Key,
        /// The op's registered name.
        op: Arc<str>,
    },
    /// One of its inputs could not be fetched, too many times.
    InputLost {
        /// The task's key.
        key: Key,
        /// The input's key.
        input: Key,
        /// How many tries.
        tries: u32,
    },
    /// A task it depends on failed.
    Dependency {
        /// The key of the task that failed first.
        key: Key,
        /// Why that one failed (never itself a `Dependency`).
        cause: Arc<Failure<E>>,
    },
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Task(e) => write!(f, "{e}"),
            Failure::KilledWorkers { key, deaths } => {
                write!(f, "task {key} killed {deaths} workers")
            }
            Failure::NoWorker { key, op } => {
                write!(
                    f,
                    "no worker can run task {key}: none of them has op `{op}`"
                )
            }
            Failure::InputLost { key, input, tries } => write!(
                f,
                "an input of task {key}, {input}, could not be fetched ({tries} tries)"
            ),
            Failure::Dependency { key, cause } => write!(f, "its input {key} failed: {cause}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Failure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Task(e) => Some(e),
            Failure::Dependency { cause, .. } => Some(&**cause),
            _ => None,
        }
    }
}

impl<E> Failure<E> {
    /// The failure that started it: itself, or what a `Dependency` points to.
    pub fn root(&self) -> &Failure<E> {
        match self {
            Failure::Dependency { cause, .. } => cause,
            other => other,
        }
    }
}

/// Why a graph update was refused (nothing of it was applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// A task depends on a key neither in the update nor already known.
    #[error("task {key} depends on {dependency}, which is neither in the graph nor known")]
    UnknownDependency {
        /// The task.
        key: Key,
        /// The missing dependency.
        dependency: Key,
    },
    /// A key asked for is neither in the update nor already known.
    #[error("key {key} was asked for, but no task makes it")]
    UnknownKey {
        /// The key.
        key: Key,
    },
    /// A task names an input by its place in the update, and there is no such place.
    #[error("task {key} reads task {index} of the update, which has {len}")]
    BadIndex {
        /// The task.
        key: Key,
        /// The place it names.
        index: u32,
        /// How many tasks the update has.
        len: usize,
    },
    /// The same key twice in one update.
    #[error("task {key} is in the graph twice")]
    DuplicateKey {
        /// The key.
        key: Key,
    },
    /// The new tasks depend on each other in a cycle.
    #[error("the graph has a cycle through task {key}")]
    Cycle {
        /// A key on the cycle.
        key: Key,
    },
    /// The client is not connected.
    #[error("client {0} is not connected")]
    UnknownClient(u32),
}
