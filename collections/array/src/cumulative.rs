//! `cumsum` and `cumprod` along an axis (Dask's `cumreduction`): each block is scanned on its
//! own, and each block after the first along the axis adds (or multiplies by) the running
//! total carried from the blocks before it.

use std::sync::Arc;

use ndarray::Axis;
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Args, Graph, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, take_array};
use crate::elementwise::{BinOp, Binary, Numeric, SubBlock};
use crate::error::ArrayError;
use crate::shape::axis_index;

/// Scans one block along an axis: running sums or products.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Scan<T> {
    axis: usize,
    /// `Add` for running sums, `Mul` for running products.
    op: BinOp,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Numeric> Op for Scan<T> {
    fn name(&self) -> &str {
        if self.op == BinOp::Mul {
            "cumprod-chunk"
        } else {
            "cumsum-chunk"
        }
    }

    fn run(&self, mut args: Args) -> Result<Value, TaskError> {
        let input = args.pop().ok_or_else(|| TaskError::new("no block"))?;
        let mut a = take_array::<T>(input)?;
        if self.axis >= a.ndim() {
            return Err(TaskError::new(format!(
                "axis {} of a block of {} dimensions",
                self.axis,
                a.ndim()
            )));
        }
        let op = self.op;
        a.accumulate_axis_inplace(Axis(self.axis), |prev, cur| {
            *cur = T::binary(op, *prev, *cur)
        });
        Ok(Value::new(Chunk(a)))
    }
}

macro_rules! register_scan {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(Scan<$t>, concat!("rask.array.scan<", stringify!($t), ">"));
    )*};
}
register_scan!(f64, f32, i64, i32, u64, u32, u8);

impl<T: Numeric> Array<T> {
    fn cumulative(&self, axis: isize, prod: bool) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let label = if prod { "cumprod" } else { "cumsum" };
        let ax = axis_index(axis, self.ndim(), label)?;
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&(ax as u64, prod))
            .finish();
        let chunks = self.chunks().clone();
        let blocks = chunks.blocks();
        let name = |part: &str| key_name(&format!("{label}-{part}"), &token);
        let op = if prod { BinOp::Mul } else { BinOp::Add };
        // Each block scanned on its own, then the totals carried from block to block.
        let scan_op: Arc<dyn Op> = Arc::new(Scan::<T> {
            axis: ax,
            op,
            _t: std::marker::PhantomData,
        });
        let scan: Array<T> =
            self.per_block(&format!("{label}-chunk"), &token, chunks.clone(), |index| {
                Task::from_arc(Arc::clone(&scan_op), [Arg::Key(self.key(index))])
            });
        let combine: Arc<dyn Op> = Arc::new(Binary::<T>::new(op));
        let identity: Arc<dyn Op> = Arc::new(rask_graph::ops::Identity);
        let mut last = Layer::new(name("last"));
        let mut carry = Layer::new(name("carry"));
        let mut out = Layer::with_capacity(name("out"), blocks.len());
        for index in &blocks {
            let i = index[ax];
            let scanned = scan.key(index);
            if i == 0 {
                out.insert(
                    index.clone(),
                    Task::from_arc(Arc::clone(&identity), [Arg::Key(scanned)]),
                );
                continue;
            }
            // The totals of block i - 1: its last slice along the axis.
            let mut prev = index.clone();
            prev[ax] = i - 1;
            let shape = chunks.block_shape(&prev);
            let ranges: Vec<(usize, usize)> = shape
                .iter()
                .enumerate()
                .map(|(d, n)| if d == ax { (n - 1, *n) } else { (0, *n) })
                .collect();
            let last_key = last.key(prev.iter().copied());
            last.insert(
                prev.clone(),
                Task::new(SubBlock::<T>::new(ranges), [Arg::Key(scan.key(&prev))]),
            );
            // The carry into block i: the carry into block i - 1 combined with its totals.
            let carry_key = carry.key(index.iter().copied());
            let task = if i == 1 {
                Task::from_arc(Arc::clone(&identity), [Arg::Key(last_key)])
            } else {
                Task::from_arc(
                    Arc::clone(&combine),
                    [
                        Arg::Key(carry.key(prev.iter().copied())),
                        Arg::Key(last_key),
                    ],
                )
            };
            carry.insert(index.clone(), task);
            out.insert(
                index.clone(),
                Task::from_arc(
                    Arc::clone(&combine),
                    [Arg::Key(scanned), Arg::Key(carry_key)],
                ),
            );
        }
        let out_name = Arc::clone(out.name());
        let mut graph: Graph = scan.graph().clone();
        if !last.is_empty() {
            graph.add_layer(last);
            graph.add_layer(carry);
        }
        graph.add_layer(out);
        Ok(Array::from_graph(graph, out_name, chunks, label))
    }

    /// Running sums along `axis` (NumPy's `cumsum`; negative counts from the end), in the
    /// array's own element type (NumPy widens small integers to i64; cast first with
    /// `astype` for that). Integer sums wrap.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1, 2, 3, 4, 5]).into_dyn(), 2usize).unwrap();
    /// let c = x.cumsum(0).unwrap().compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(c.as_slice().unwrap(), &[1, 3, 6, 10, 15]);
    /// ```
    pub fn cumsum(&self, axis: isize) -> Result<Array<T>, ArrayError> {
        self.cumulative(axis, false)
    }

    /// Running products along `axis` (NumPy's `cumprod`).
    pub fn cumprod(&self, axis: isize) -> Result<Array<T>, ArrayError> {
        self.cumulative(axis, true)
    }
}
