//! # rask — Dask's model in Rust
//!
//! Build a big calculation lazily, call [`compute()`](Compute::compute), get the result back —
//! on one core, every core, or (soon) a cluster, without changing the calculation.
//!
//! - [`array`]: chunked n-dimensional arrays (`rask::array::Array`), Dask's `dask.array`.
//! - [`graph`]: the task graph and the traits ([`rask_graph`]).
//! - [`delayed`]: lazy calls over closures and values.
//! - [`schedulers`] — [`SyncScheduler`](schedulers::SyncScheduler),
//!   [`ThreadedScheduler`](schedulers::ThreadedScheduler) (the default) and
//!   [`ProcessScheduler`](schedulers::ProcessScheduler) (worker processes started from the
//!   current executable; ops must be registered).
//! - [`diagnostics`]: [`ProgressBar`](diagnostics::ProgressBar), the profilers and their HTML
//!   report.
//! - [`config`]: the default scheduler and callbacks, set for a scope (like
//!   `dask.config.set(scheduler=...)`) or for the process.
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
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

pub mod config;

pub use rask_array as array;
pub use rask_diagnostics as diagnostics;
pub use rask_graph as graph;
pub use rask_graph::delayed;
pub use rask_graph::{Callback, Collection, ComputeError, Delayed, GraphError, Scheduler};

/// The schedulers that ship with rask.
pub mod schedulers {
    pub use rask_local::{BuildError, SyncScheduler, ThreadedScheduler, ThreadedSchedulerBuilder};
    pub use rask_multiprocess::{ProcessScheduler, ProcessSchedulerBuilder};
}

/// What most programs need: `use rask::prelude::*;`.
pub mod prelude {
    pub use crate::{Compute, ComputeChunkSizes};
    pub use rask_graph::{Collection, Delayed};
}

/// `compute()`, `compute_with()` and `persist()` for every collection, on the default scheduler
/// and callbacks of [`config`].
pub trait Compute: Collection + Sized {
    /// Computes on the current default scheduler (see [`config`]), with the current callbacks.
    fn compute(&self) -> Result<Self::Output, ComputeError> {
        let scheduler = config::scheduler();
        self.compute_with(&*scheduler)
    }

    /// Computes on `scheduler`, with the current callbacks.
    ///
    /// ```
    /// use rask::prelude::*;
    /// use rask::schedulers::ThreadedScheduler;
    ///
    /// let s = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    /// let x = rask::delayed::value(2.0f64).map("double", |x| x * 2.0);
    /// assert_eq!(x.compute_with(&s).unwrap(), 4.0);
    /// ```
    fn compute_with(&self, scheduler: &dyn Scheduler) -> Result<Self::Output, ComputeError> {
        let callbacks = config::callbacks();
        let refs: Vec<&dyn Callback> = callbacks.iter().map(|c| &**c).collect();
        self.compute_on(scheduler, &refs)
    }

    /// Computes on the default scheduler and returns the same collection, now backed by its
    /// ready results: later computations start from them.
    ///
    /// ```
    /// use rask::prelude::*;
    ///
    /// let x = rask::delayed::value(3i64).map("cube", |x| x * x * x);
    /// let p = x.persist().unwrap();
    /// assert_eq!(p.graph().len(), 1);
    /// assert_eq!(p.compute().unwrap(), 27);
    /// ```
    fn persist(&self) -> Result<Self, ComputeError> {
        let scheduler = config::scheduler();
        let callbacks = config::callbacks();
        let refs: Vec<&dyn Callback> = callbacks.iter().map(|c| &**c).collect();
        self.persist_on(&*scheduler, &refs)
    }

    /// Draws the collection's task graph into `path` — SVG or PNG, by its extension — with the
    /// DOT beside it (Dask's `.visualize(filename)`), without a system graphviz. Refuses past
    /// [`array::VISUALIZE_LIMIT`] tasks, as a picture that big is unreadable; an array's own
    /// `visualize_forced` draws anyway.
    ///
    /// ```
    /// use rask::prelude::*;
    ///
    /// let x = rask::delayed::value(1i64).map("inc", |x| x + 1);
    /// let z = x.zip_with(&x, "add", |a, b| a + b);
    /// let dir = std::env::temp_dir().join(format!("rask-doc-viz-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let png = z.visualize(dir.join("z.png")).unwrap();
    /// assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    /// assert!(std::fs::read_to_string(dir.join("z.dot")).unwrap().contains("add"));
    /// ```
    fn visualize(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<std::path::PathBuf, array::ArrayError> {
        let graph = self.graph();
        if graph.len() > array::VISUALIZE_LIMIT {
            return Err(array::ArrayError::Visualize(format!(
                "the graph has {} tasks, more than {} can be drawn legibly",
                graph.len(),
                array::VISUALIZE_LIMIT
            )));
        }
        array::write_graph(graph, path)
    }
}

impl<C: Collection> Compute for C {}

/// Dask's `compute_chunk_sizes()` on the default scheduler: an array of unknown block lengths
/// (what a mask, `nonzero` or `unique` make) becomes an ordinary [`array::Array`].
///
/// ```
/// use rask::array::{Array, CmpOp};
/// use rask::prelude::*;
///
/// let x = Array::from_array(&rask::array::ndarray::arr1(&[3, -1, 4, -1, 5]).into_dyn(), 2usize)?;
/// let pos = x.mask(&x.compare_scalar(CmpOp::Gt, 0))?;
/// let known = pos.compute_chunk_sizes()?;
/// assert_eq!(known.chunks().axes(), &[vec![1, 1, 1]]);
/// assert_eq!(known.compute()?.as_slice().unwrap(), &[3, 4, 5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ComputeChunkSizes<T: array::Element> {
    /// Works the block lengths out on the current default scheduler (see [`config`]).
    fn compute_chunk_sizes(&self) -> Result<array::Array<T>, ComputeError>;
}

impl<T: array::Element> ComputeChunkSizes<T> for array::Unsized<T> {
    fn compute_chunk_sizes(&self) -> Result<array::Array<T>, ComputeError> {
        self.compute_chunk_sizes_on(&*config::scheduler())
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
