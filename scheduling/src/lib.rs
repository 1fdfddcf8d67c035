//! # rask-scheduling — the scheduling state machine
//!
//! [`SchedulerState`] decides what runs where, for the process pool and for the distributed
//! scheduler alike (Dask's `SchedulerState`). It is sans-IO, as quinn-proto and h2 are: the
//! driver feeds it events — a worker joined or was lost, a client wants or releases keys, a
//! task finished, failed, was cancelled or could not fetch an input — and carries out the
//! [`Command`]s it returns (run, cancel, release, report to a client). It never blocks, reads
//! a clock or touches a socket, so it is tested without processes or a network, and one core
//! serves every transport.
//!
//! - Tasks are keyed ([`rask_graph::Key`]) and outlive a computation; a [`TaskId`] is a slot
//!   with a generation, so stale replies are recognised.
//! - Workers come and go ([`WorkerSpec`]: threads, queue depth, the ops they have).
//! - Ready tasks wait in one priority queue until a worker has room: root tasks are released
//!   as workers free up, not all at once (no over-production, dask/distributed#5223).
//! - Placement weighs the bytes of inputs to move against the work queued on each worker;
//!   a task goes only to a worker that has its op, and is an error naming the op when no
//!   connected worker has it.
//! - A lost worker's tasks are rerun and its results recomputed where still needed,
//!   iteratively; a task blamed for `allowed_failures` deaths fails ([`Failure`]).
//!
//! ```
//! use rask_graph::Key;
//! use rask_scheduling::{Command, NewTask, SchedulerState, StateConfig, WorkerSpec};
//!
//! let mut s: SchedulerState<&str, String> = SchedulerState::new(StateConfig::default());
//! s.add_worker(WorkerSpec::new("w0", 2));
//! let c = s.add_client();
//! let x = Key::new("x", []);
//! let t = NewTask { key: x.clone(), dependencies: vec![], op: "one".into(), order: 0, payload: "x" };
//! s.update_graph(c, vec![t], &[x.clone()])?;
//! for cmd in s.take_commands() {
//!     if let Command::Run { worker, task } = cmd {
//!         assert_eq!(s.payload(task), Some(&"x"));
//!         s.task_finished(worker, task, 8, Some(1e-6));
//!     }
//! }
//! assert!(matches!(s.take_commands()[..], [Command::InMemory { .. }]));
//! # Ok::<(), rask_scheduling::UpdateError>(())
//! ```
//!
//! This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

mod command;
mod ids;
mod state;
mod worker;

pub use command::{Command, Failure, UpdateError};
pub use ids::{ClientId, TaskId, WorkerRef};
pub use state::{Dependency, NewTask, SchedulerState, StateConfig, TaskStatus, WorkerLoad};
pub use worker::WorkerSpec;
