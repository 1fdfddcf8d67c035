//! # rask-dataframe — partitioned Polars dataframes
//!
//! Dask's `dask.dataframe` in Rust, with Polars as the engine inside each partition: rask
//! plans the partitions, Polars plans inside them. A [`DataFrame`] is a list of partitions
//! (each a Polars `DataFrame`, crossing processes as Arrow IPC) made from a Polars frame,
//! Parquet files or CSV files; per-partition steps (`select`, `filter`, `with_columns`,
//! `rename`, `drop`) become one Polars lazy plan per partition — one task per partition for
//! the whole run of them, with Polars' projection and predicate pushdown into the readers;
//! reductions (`sum`, `min`, `max`, `count`) are chunk → combine → aggregate trees.
//!
//! Polars runs its own thread pool inside each task; set `POLARS_MAX_THREADS` before the first
//! Polars call to keep it from oversubscribing the scheduler's workers.
//!
//! This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

mod agg;
mod dataframe;
mod error;
mod frame;
mod groupby;
mod join;
mod shuffle;
mod write;

pub use agg::Agg;
pub use dataframe::{DataFrame, Reduced};
pub use error::FrameError;
pub use frame::Frame;
pub use groupby::GroupBy;
pub use join::{How, Merge};
/// The Polars this crate is built on (its expressions build steps).
pub use polars;
pub use shuffle::Buckets;
pub use write::Written;
