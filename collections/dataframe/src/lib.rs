//! # rask-dataframe — partitioned Polars dataframes
//!
//! Dask's `dask.dataframe` in Rust, with Polars as the engine inside each partition: rask
//! plans the partitions, Polars plans inside them. A [`DataFrame`] is a list of partitions
//! (each a Polars `DataFrame`, crossing processes as Arrow IPC) made from a Polars frame,
//! Parquet, CSV (split into blocks of `blocksize` bytes at line boundaries) or JSON-lines
//! files, or a bag of records ([`ToDataFrame`]). A CSV record that does not fit the schema
//! is an error naming its file, line and column, or is skipped ([`BadLines`]) and listed by
//! [`DataFrame::read_csv_bad_lines`].
//!
//! - A column is a [`Series`] (`ddf.series("x")`, Dask's `ddf["x"]`), computing to a Polars
//!   `Series`; its reductions are [`Scalar`]s.
//! - Per-partition steps (`select`, `filter`, `with_columns`, `rename`, `drop`, `astype`,
//!   `fillna`, `dropna`) become one Polars lazy plan per partition — one task per partition
//!   for the whole run of them, with Polars' projection and predicate pushdown into the
//!   readers ([`DataFrame::explain`] shows it).
//! - Reductions (`sum`, `min`, `max`, `count`, `mean`, `var`, `std`) are chunk → combine →
//!   aggregate trees; so are the approximate ones — `quantile` (merged weighted samples, as
//!   Dask's), `nunique_approx` (HyperLogLog) — and `describe`.
//! - [`GroupBy`]: a tree when the groups are few, a hash shuffle when they are many.
//! - [`Merge`]: inner, left, right and outer joins, broadcast or hash-shuffled.
//! - [`Rolling`] windows of rows (`rolling(w).mean()`, …) across partitions, each partition
//!   borrowing the rows its first windows need from the ones before it.
//! - `set_index` sorts by a column into **known divisions**, so `loc` reads only the
//!   partitions a range needs; `sort_values` sorts by range partitioning.
//! - Bridges: a bag of records becomes a dataframe ([`ToDataFrame`]) and a dataframe's rows a
//!   bag of records or tuples ([`DataFrame::to_bag`]); numeric columns become a rask-array
//!   ([`DataFrame::to_array`]) and an array becomes columns ([`DataFrame::from_array`]).
//! - Shuffles (hash and range: merges, `shuffle`, `sort_values`, `set_index`, grouping)
//!   keep their buckets in memory up to a budget per process
//!   ([`set_shuffle_memory_budget`], or `RASK_SHUFFLE_MEMORY_BUDGET`), then write them to
//!   spill files that go when their last reader is done.
//! - `to_parquet` / `to_csv` write a file per partition, staged so that a failed computation
//!   leaves nothing half-written.
//!
//! Every partition runs on Polars' streaming engine, in Polars' one global thread pool (sized
//! to the machine, `POLARS_MAX_THREADS`), which every scheduler worker of a process shares:
//! the workers do not multiply Polars' threads. (Capping that pool at one thread halves the
//! groupby bench's speed: the workers then queue for the one thread.)
//!
//! This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

mod agg;
mod bridge;
mod csv;
mod dataframe;
mod error;
mod fast;
mod frame;
mod groupby;
mod hashjoin;
mod join;
mod map;
mod rolling;
mod series;
mod shuffle;
mod sort;
mod spill;
mod summary;
mod write;

pub use agg::Agg;
pub use bridge::{Rows, ToDataFrame};
pub use csv::BadLines;
pub use dataframe::{CsvOptions, DataFrame, Reduced};
pub use error::FrameError;
pub use frame::Frame;
pub use groupby::GroupBy;
pub use join::{How, Merge};
/// The Polars this crate is built on (its expressions build steps).
pub use polars;
pub use rolling::Rolling;
pub use series::{Scalar, Series};
pub use shuffle::Buckets;
pub use spill::{set_shuffle_memory_budget, shuffle_memory_budget, spilled_bytes};
pub use write::{Compression, Written};
