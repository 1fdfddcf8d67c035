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
//! - A worker that dies mid-task is replaced and what it held is recomputed; a task that has
//!   killed `allowed_failures` (3) workers fails the computation, naming it. A worker exits when
//!   its parent does. Callbacks fire in the parent for every task.
//!
//! Unix only. This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]
#![cfg(unix)]

mod error;
mod pool;
mod protocol;
mod scheduler;
mod worker;

pub use error::ProcessError;
pub use scheduler::{BuildError, ProcessScheduler, ProcessSchedulerBuilder};
pub use worker::{FAKE_BUILD_ID_ENV, WORKER_ENV};
