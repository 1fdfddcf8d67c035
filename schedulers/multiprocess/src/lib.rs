//! # rask-multiprocess — a process-pool scheduler
//!
//! [`ProcessScheduler`] runs tasks in worker processes started from the **current executable**
//! (re-executed with an environment marker, as Python's `spawn` does): any binary that links
//! this crate — test binaries and examples included — serves as its own worker, with no worker
//! `main` to write. A constructor that runs before `main` turns such a process into a worker.
//!
//! - A handshake carries a build id (a hash of the executable): a worker of another build is
//!   refused with [`ProcessError::BuildMismatch`].
//! - Tasks and values cross as length-delimited postcard frames over a Unix socket pair (the
//!   worker's standard input; its standard output and error are the parent's). Ops and values
//!   travel by their registered names ([`register_op!`](rask_graph::register_op)); a graph
//!   holding an unregistered op (a closure) is refused before anything runs, naming the task.
//! - Results stay in the worker that made them and move only when another worker needs them —
//!   directly, worker to worker (each worker serves its results on a socket of its own); the
//!   requested results come back to the caller.
//! - A worker that dies is replaced (and reaped at once, even while the pool is idle) and what
//!   it held is recomputed. The death is blamed on one task: the one it was running, or else
//!   the one it finished last (a task that breaks its worker on the way out) — never the tasks
//!   queued behind it. The worker says which through a page of memory it shares with the
//!   scheduler, exact even when its last replies die with it. A task blamed for
//!   `allowed_failures` (3) deaths fails the computation, naming it. A worker exits when its
//!   parent does.
//! - After a task fails, nothing else starts: the tasks queued on the workers are cancelled
//!   (the shared page again), and the running ones finish.
//! - A value that cannot leave its worker (an unregistered type) is an error naming its key and
//!   type, whether it is an output or read on another worker. Results of any size come back
//!   (a value follows its message as raw bytes); a task whose message would be larger than a
//!   frame (a literal over 4 GiB) is refused, naming it.
//! - A callback may compute on the scheduler that is running it: the nested computation gets
//!   workers of its own. Callbacks fire in the parent for every task.
//!
//! Unix only. This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]
#![cfg(unix)]

mod control;
mod error;
mod pool;
mod protocol;
mod scheduler;
mod worker;

pub use error::ProcessError;
pub use scheduler::{BuildError, ProcessScheduler, ProcessSchedulerBuilder};
pub use worker::{FAKE_BUILD_ID_ENV, WORKER_ENV};
