//! User kernels: `map_blocks` (a closure per block), `blockwise` (Dask's index notation for
//! aligning the blocks of several arrays), `map_overlap` (blocks with halos from their
//! neighbours, and boundary modes at the array's edges) and `reduction` (user chunk,
//! combine and aggregate functions in a tree).
//!
//! Closures run in-process: graphs holding them are refused, with a named error, by the
//! process-based schedulers, as `delayed` closures are.
//!
//! - `map_blocks.rs`: `map_blocks` and its forms, and kernels that are named functions;
//! - `overlap.rs`: `overlap` / `map_overlap` and the boundary modes;
//! - `blockwise.rs`: index notation over several arrays;
//! - `reduction.rs`: user reductions in a `split_every` tree.

use std::ops::Range;

use ndarray::ArrayD;
use rask_graph::{TaskError, Value};

use crate::chunk::Chunk;
use crate::element::Element;
use crate::error::ArrayError;

/// Registers `$op<T, U>` for every pair of element types, as `{prefix}{T}.{U}`: the named-
/// function ops, whose functions map blocks of one element type to another.
macro_rules! register_element_pairs {
    ($op:ident, $prefix:literal) => {
        $crate::kernels::register_element_pairs!(@each $op, $prefix,
            [f64, f32, i64, i32, u64, u32, u8, bool] [f64, f32, i64, i32, u64, u32, u8, bool]);
    };
    (@each $op:ident, $prefix:literal, [$($t:ty),*] $us:tt) => {
        $( $crate::kernels::register_element_pairs!(@one $op, $prefix, $t, $us); )*
    };
    (@one $op:ident, $prefix:literal, $t:ty, [$($u:ty),*]) => {$(
        rask_graph::register_op!($op<$t, $u>, concat!($prefix, stringify!($t), ".", stringify!($u)));
    )*};
}
pub(crate) use register_element_pairs;

mod blockwise;
mod map_blocks;
mod overlap;
mod reduction;

pub use overlap::{Boundaries, Boundary};

/// Where a block sits, for kernels that need to know (Dask's `block_info`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockInfo {
    /// The block's index in the grid of blocks.
    pub index: Vec<u32>,
    /// The elements it covers, per axis.
    pub location: Vec<Range<usize>>,
    /// Blocks per axis.
    pub num_blocks: Vec<usize>,
    /// The whole array's shape.
    pub shape: Vec<usize>,
}

fn kernel_error(name: &str, message: String) -> ArrayError {
    ArrayError::Kernel {
        name: name.into(),
        message,
    }
}

/// Checks a kernel's block against the shape it was declared to have.
fn checked<U: Element, E: std::fmt::Display>(
    name: &str,
    out: Result<ArrayD<U>, E>,
    want: &[usize],
) -> Result<Value, TaskError> {
    let block = out.map_err(|e| TaskError::new(format!("{name}: {e}")))?;
    if block.shape() != want {
        return Err(TaskError::new(format!(
            "{name} made a block of shape {:?} where the declared chunks say {want:?}",
            block.shape()
        )));
    }
    Ok(Value::new(Chunk(block)))
}
