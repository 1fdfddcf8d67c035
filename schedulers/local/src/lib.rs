//! # rask-local — the in-process schedulers
//!
//! - [`SyncScheduler`]: one thread, tasks in priority order. The reference oracle every other
//!   scheduler is tested against; also the one to use under a debugger.
//! - [`ThreadedScheduler`]: the default. Worker threads take ready tasks by priority, run a
//!   finished task's newly ready dependent next on the same thread (finish what you started), and
//!   drop an intermediate value the moment its last reader has taken it.
//!
//! Both catch a task's error or panic, stop starting new tasks, and return an error naming the
//! task's key and op; neither leaves a thread blocked.
//!
//! ```
//! use rask_graph::{delayed, Collection};
//! use rask_local::{SyncScheduler, ThreadedScheduler};
//!
//! let x = delayed::value(20i64).map("inc", |x| x + 1);
//! let y = x.zip_with(&x, "add", |a, b| a + b);
//! assert_eq!(y.compute_on(&SyncScheduler, &[]).unwrap(), 42);
//! let threaded = ThreadedScheduler::builder().num_workers(2).build().unwrap();
//! assert_eq!(y.compute_on(&threaded, &[]).unwrap(), 42);
//! ```
//!
//! This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

mod pool;
mod sync;
mod sync_scheduler;
mod threaded;

pub use sync_scheduler::SyncScheduler;
pub use threaded::{BuildError, LocalError, ThreadedScheduler, ThreadedSchedulerBuilder};
