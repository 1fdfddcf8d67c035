//! # rask — Dask's model in Rust
//!
//! Build a big calculation lazily, call [`compute()`](Collection::compute), get the result back —
//! on one core, every core, or (soon) a cluster, without changing the calculation.
//!
//! - [`array`]: chunked n-dimensional arrays (`rask::array::Array`), Dask's `dask.array`.
//! - [`bag`]: bags of records (`rask::bag::Bag`) for logs, JSON and text, Dask's `dask.bag`.
//! - [`graph`]: the task graph and the traits ([`rask_graph`]).
//! - [`delayed`]: lazy calls over closures and values.
//! - [`schedulers`] — [`SyncScheduler`](schedulers::SyncScheduler),
//!   [`ThreadedScheduler`](schedulers::ThreadedScheduler) (the default) and
//!   [`ProcessScheduler`](schedulers::ProcessScheduler) (worker processes started from the
//!   current executable; ops must be registered).
//! - [`diagnostics`]: [`ProgressBar`](diagnostics::ProgressBar), the profilers and their HTML
//!   report.
//! - [`config`]: the default scheduler and callbacks, set for a scope (like
//!   `dask.config.set(scheduler=...)`), held by a scheduler object while it lives, or set for
//!   the process. With `rask` linked, the default is the threaded scheduler.
//! - [`visualize`]: graph pictures, `visualize()` on every collection.
//!
//! ```
//! use rask::prelude::*;
//!
//! let x = rask::delayed::value(1i64);
//! let y = x.map("inc", |x| x + 1);
//! let z = y.zip_with(&x, "add", |a, b| a + b);
//! assert_eq!(z.compute()?, 3);
//!
//! // The same calculation on another scheduler.
//! assert_eq!(z.compute_with(&rask::schedulers::SyncScheduler)?, 3);
//! # Ok::<(), rask::ComputeError>(())
//! ```
//!
//! ## Feature flags
//! - `otel`: `rask::diagnostics::otel` — a span per computation and per task through
//!   OpenTelemetry, and an OTLP/HTTP exporter.
//! - `dataframe`: `rask::dataframe` — partitioned Polars dataframes (Polars takes minutes to
//!   build, so it is not built unless asked for).
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

pub use rask_array as array;
pub use rask_bag as bag;
#[cfg(feature = "dataframe")]
pub use rask_dataframe as dataframe;
pub use rask_diagnostics as diagnostics;
/// The distributed scheduler: [`LocalCluster`](distributed::LocalCluster),
/// [`Client`](distributed::Client), `rask scheduler` / `rask worker`.
pub use rask_distributed as distributed;
pub use rask_graph as graph;
pub use rask_graph::{
    Callback, Collection, ComputeError, Delayed, GraphError, Scheduler, compute_all,
    compute_all_with,
};
pub use rask_graph::{config, delayed};
pub use rask_visualize as visualize;

/// Registers a plain function by its path so that tasks calling it run on worker processes
/// (and, later, hosts): `delayed` calls, `map_blocks`, … recognise it where they take a
/// closure. See [`graph::named`].
pub use rask_macros::named;

/// The schedulers that ship with rask.
pub mod schedulers {
    pub use rask_distributed::{Client, DistributedError, LocalCluster};
    pub use rask_local::{
        BuildError, LocalError, SyncScheduler, ThreadedScheduler, ThreadedSchedulerBuilder,
    };
    pub use rask_multiprocess::{ProcessError, ProcessScheduler, ProcessSchedulerBuilder};
}

/// What most programs need: `use rask::prelude::*;` — `compute()`, `persist()` and
/// `visualize()` on every collection (and, with the `dataframe` feature, a bag's
/// `to_dataframe()`).
pub mod prelude {
    pub use rask_array::prelude::*;
    /// `bag.to_dataframe(schema)`.
    #[cfg(feature = "dataframe")]
    pub use rask_dataframe::ToDataFrame;
    pub use rask_graph::{Collection, Delayed};
    pub use rask_visualize::Visualize;
}

// The facade picks the defaults: with rask linked, `compute()` runs on the threaded scheduler
// unless a scheduler is set (see `config`).
rask_graph::register_default_scheduler!(0, || std::sync::Arc::new(
    rask_local::ThreadedScheduler::default()
));

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
