//! # rask-diagnostics — watching and profiling computations
//!
//! Callbacks ([`rask_graph::Callback`]) that attach to one computation or to all of them:
//!
//! - [`ProgressBar`]: Dask's `[####    ] | 45% Completed | 1.2 s` on stderr, redrawn at most
//!   every 100 ms from a ticker thread; a task costs one atomic increment. When stderr is not a
//!   terminal only the final line is printed.
//! - [`Profiler`]: per task its key, op, start, end and worker.
//! - [`ResourceProfiler`]: the process's CPU % and resident memory, sampled every `dt` (1 s)
//!   on a background thread while a computation runs.
//! - [`CacheProfiler`]: the bytes of live intermediate results over time.
//! - `otel::OtelCallback` (feature `otel`): a span per computation and per task, exported over
//!   OTLP.
//! - [`Report`]: one self-contained HTML page (inline SVG, opens offline) with the task stream
//!   above the CPU, memory and cache curves on one time axis — Dask's
//!   `visualize([prof, rprof, cprof])`.
//!
//! ```
//! use rask_graph::{Collection, delayed};
//! use rask_diagnostics::{Profiler, ProgressBar, Report};
//!
//! let bar = ProgressBar::builder().writer(std::io::sink()).build();
//! let prof = Profiler::new();
//! let x = delayed::value(1i64).map("inc", |x| x + 1);
//! assert_eq!(x.compute_on(&rask_local::SyncScheduler, &[&bar, &prof])?, 2);
//! assert_eq!(prof.records().len(), 2);
//! let html = Report::new().tasks(&prof).to_html();
//! assert!(html.contains("<svg"));
//! # Ok::<(), rask_graph::ComputeError>(())
//! ```
//!
//! ## Feature flags
//! - `otel`: the [`otel`] module — OpenTelemetry spans for computations and tasks, and the
//!   OTLP/HTTP exporter (off by default: it brings an HTTP client).
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

#[cfg(feature = "otel")]
pub mod otel;
mod profile;
mod progress;
mod report;
mod ticker;

pub use profile::{
    CacheProfiler, CacheSample, Profiler, ResourceProfiler, ResourceSample, TaskRecord,
};
pub use progress::{ProgressBar, ProgressBarBuilder};
pub use report::{Report, ReportError};
