//! The ops of array graphs, registered so that array graphs cross process boundaries: what a
//! tool that inspects or rewrites array graphs downcasts to. Programs that build and compute
//! arrays never need them.

pub use crate::argreduce::{ArgBlock, ArgCombine, ArgPartial};
pub use crate::compare::{Cast, Clip, Compare, Select};
pub use crate::creation::{EyeBlock, RangeBlock};
pub use crate::elementwise::{Binary, SubBlock, Unary, WithScalar};
pub use crate::expr::{Expr, ExprBlock, ExprReduce, Node};
pub use crate::histogram::HistogramBlock;
pub use crate::reduce::{Combine, DivideBy, ReduceBlock};
pub use crate::slicing::{Keep, SliceBlock};

use rask_graph::{Args, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::chunk::ConstChunk;
use crate::element::Element;

/// A block of `shape` filled with `value`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub struct Full<T: Element> {
    /// The block's shape.
    pub shape: Vec<usize>,
    /// The value.
    pub value: T,
}

impl<T: Element> Op for Full<T> {
    fn name(&self) -> &str {
        "full"
    }

    fn run(&self, _: Args) -> Result<Value, TaskError> {
        Ok(Value::new(ConstChunk::new(&self.shape[..], self.value)))
    }

    fn cheap(&self) -> bool {
        true
    }
}

macro_rules! register_generic_op {
    ($op:ident, $prefix:literal, $($t:ty),*) => {
        $(rask_graph::register_op!($op<$t>, concat!($prefix, "<", stringify!($t), ">"));)*
    };
}
register_generic_op!(
    Full,
    "rask.array.full",
    f64,
    f32,
    i64,
    i32,
    u64,
    u32,
    u8,
    bool
);
