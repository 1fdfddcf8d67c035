//! # rask-array — chunked n-dimensional arrays
//!
//! Dask's `dask.array` in Rust: an [`Array<T>`] is a grid of `ndarray::ArrayD<T>` blocks
//! described by a task graph; operations add layers to the graph and nothing runs until the
//! array is computed on a scheduler.
//!
//! - [`Chunks`] and [`ChunkSpec`]: block sizes per axis, normalized as Dask's
//!   `normalize_chunks` does.
//! - [`Element`] / [`DType`]: f64, f32, i64, i32, u64, u32, u8 and bool.
//! - [`Chunk`]: a block as a task value, registered for every element type.
//! - [`prelude`]: what array programs `use` (re-exported by `rask::prelude`); [`ops`]: the op
//!   structs, for tools that inspect array graphs.
//! - User kernels (`map_blocks`, `map_overlap`, `blockwise`, `reduction`) take closures, or
//!   functions marked `#[rask::named]`, which also run on worker processes; they fail with a
//!   [`KernelError`].
//!
//! ```
//! use rask_array::Array;
//! use rask_graph::Collection;
//!
//! let x = Array::<f64>::ones(&[4, 6], [2, 3]).unwrap();
//! let a = x.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
//! assert_eq!(a.sum(), 24.0);
//! ```
//!
//! ## Feature flags
//! - `zarr` (default): zarr stores, [`Array::from_zarr`] and [`Array::to_zarr`], through zarrs.
//! - `faer` (default): `linalg::{qr, svd}`, and float block products through faer's GEMM
//!   (without it, ndarray's).
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(clippy::clone_on_ref_ptr)]
#![doc(test(attr(deny(warnings))))]

mod argreduce;
mod array;
mod chunk;
mod chunks;
mod compare;
mod creation;
mod cumulative;
mod element;
mod elementwise;
mod error;
mod expr;
mod histogram;
mod html;
pub mod io;
mod kernels;
pub mod linalg;
mod operators;
pub mod ops;
mod pool;
pub mod random;
pub mod rechunk;
mod reduce;
pub mod reshape;
mod shape;
mod slicing;
mod stats;
mod unknown;

pub use array::{Array, IntoScalar};
pub use chunk::{Chunk, ConstChunk, block_view};
pub use chunks::{AxisChunks, ChunkSpec, Chunks, DEFAULT_CHUNK_BYTES, MAX_BLOCKS};
pub use compare::CmpOp;
pub use element::{DType, Element};
pub use elementwise::{BinOp, Numeric, UnaryOp, broadcast_shapes};
pub use error::{ArrayError, KernelError};
pub use histogram::MAX_BINS;
pub use kernels::{BlockInfo, Boundaries, Boundary};
/// The `ndarray` crate that blocks and results are made of, and its `s![]` slicing macro.
pub use ndarray::{self, s};
pub use reduce::{ReduceKind, Reduction};
pub use shape::PadMode;
pub use unknown::Unsized;

/// What array programs need: `use rask_array::prelude::*;` (in `rask::prelude` too).
pub mod prelude {
    pub use crate::{
        Array, BinOp, BlockInfo, Boundary, ChunkSpec, CmpOp, Element, IntoScalar, KernelError,
        Reduction, UnaryOp, Unsized, ndarray, s,
    };
}
