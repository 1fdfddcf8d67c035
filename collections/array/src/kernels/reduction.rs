//! User reductions: chunk, combine and aggregate functions in a `split_every` tree.

use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD};
use rask_graph::delayed::ClosureOp;
use rask_graph::tokenize::{key_name, unique_token};
use rask_graph::{Arg, Layer, Task, TaskError, Value};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::chunks::Chunks;
use crate::element::Element;
use crate::error::{ArrayError, KernelError};
use crate::rechunk::Assemble;

/// A user reduction step: partials (and where they sit) to a partial.
type Step<A> =
    Arc<dyn Fn(ArrayViewD<'_, A>, &[usize]) -> Result<ArrayD<A>, KernelError> + Send + Sync>;

impl<T: Element> Array<T> {
    /// A reduction of one's own (Dask's `da.reduction`): `chunk` reduces each block along the
    /// reduced `axes` (it gets them) to a partial result, keeping those axes (of any length);
    /// `combine` reduces partials joined along those axes, `split_every` at a time, in a
    /// tree; `aggregate` makes the final result from the last joined partials, of length 1
    /// along the axes (which go unless `keepdims`).
    ///
    /// ```
    /// use rask_array::{Array, IntoScalar, Reduction};
    /// use rask_graph::Collection;
    /// // The largest absolute value.
    /// let x = Array::from_array(&ndarray::arr1(&[3.0, -7.0, 2.0, 5.0, -1.0]).into_dyn(), 2usize).unwrap();
    /// let biggest = |b: ndarray::ArrayViewD<'_, f64>, _: &[usize]| -> Result<ndarray::ArrayD<f64>, rask_array::KernelError> {
    ///     Ok(ndarray::arr1(&[b.iter().fold(0.0f64, |m, v| m.max(v.abs()))]).into_dyn())
    /// };
    /// let r = x.reduction("absmax", Reduction::all(), biggest, biggest, biggest).unwrap();
    /// assert_eq!(r.compute_on(&rask_local::SyncScheduler, &[]).unwrap().into_scalar().unwrap(), 7.0);
    /// ```
    pub fn reduction<A: Element>(
        &self,
        name: &str,
        how: crate::reduce::Reduction,
        chunk: impl Fn(ArrayViewD<'_, T>, &[usize]) -> Result<ArrayD<A>, KernelError>
        + Send
        + Sync
        + 'static,
        combine: impl Fn(ArrayViewD<'_, A>, &[usize]) -> Result<ArrayD<A>, KernelError>
        + Send
        + Sync
        + 'static,
        aggregate: impl Fn(ArrayViewD<'_, A>, &[usize]) -> Result<ArrayD<A>, KernelError>
        + Send
        + Sync
        + 'static,
    ) -> Result<Array<A>, ArrayError> {
        self.check()?;
        let axes = how.resolved_axes(self.ndim())?;
        let split = how.tree_width();
        let keepdims = how.keeps_dims();
        let ndim = self.ndim();
        let token = unique_token();
        let mut graph = self.graph().clone();
        let mut layer = Layer::with_capacity(
            key_name(&format!("{name}-chunk"), &token),
            self.npartitions(),
        );
        // One op for every block's partial.
        let (axes2, label) = (axes.clone(), name.to_string());
        let chunk_op: Arc<dyn rask_graph::Op> =
            Arc::new(ClosureOp::new(&format!("{name}-chunk"), move |args| {
                let v = block_view::<T>(&args[0])?;
                let p = chunk(v, &axes2).map_err(|e| TaskError::new(format!("{label}: {e}")))?;
                if p.ndim() != ndim {
                    return Err(TaskError::new(format!(
                        "{label}: a partial of {} dimensions, not {ndim}",
                        p.ndim()
                    )));
                }
                Ok(Value::new(Chunk(p)))
            }));
        for index in self.chunks().blocks() {
            let task = Task::from_arc(Arc::clone(&chunk_op), [Arg::Key(self.key(&index))]);
            layer.insert(index, task);
        }
        let first = Arc::clone(layer.name());
        graph.add_layer(layer);
        let combine: Step<A> = Arc::new(combine);
        let aggregate: Step<A> = Arc::new(aggregate);
        let name_now = rask_graph::layers::reduction_tree(
            &mut graph,
            first,
            &self.numblocks(),
            &axes,
            split,
            keepdims,
            |rask_graph::layers::LevelInfo { depth: level, last }| {
                let step = if last {
                    Arc::clone(&aggregate)
                } else {
                    Arc::clone(&combine)
                };
                let label = if last {
                    format!("{name}-aggregate")
                } else {
                    format!("{name}-combine")
                };
                let layer_name = key_name(&label, &format!("{token}-{level}"));
                let axes = axes.clone();
                let task = move |ranges: &[Range<u32>], inputs: Vec<Arg>| {
                    let grid: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                    let (f, axes2, who) = (Arc::clone(&step), axes.clone(), label.clone());
                    let join = Assemble::<A>::from_parts(grid, vec![None; inputs.len()]);
                    let op = ClosureOp::new(&label, move |args| {
                        let joined = rask_graph::Op::run(&join, args)?;
                        let mut p = f(block_view::<A>(&joined)?, &axes2)
                            .map_err(|e| TaskError::new(format!("{who}: {e}")))?;
                        if last {
                            if axes2.iter().any(|a| p.shape().get(*a) != Some(&1)) {
                                return Err(TaskError::new(format!(
                                    "{who} made a block of shape {:?}; the reduced axes {axes2:?} must have length 1",
                                    p.shape()
                                )));
                            }
                            if !keepdims {
                                for a in axes2.iter().rev() {
                                    p = p.index_axis_move(ndarray::Axis(*a), 0);
                                }
                            }
                        }
                        Ok(Value::new(Chunk(p)))
                    });
                    Task::new(op, inputs)
                };
                rask_graph::layers::TreeLevel::new(layer_name, task)
            },
        );
        let out_axes = crate::reduce::reduced_chunks(self.chunks(), &axes, keepdims);
        Ok(Array::from_graph(
            graph,
            name_now,
            Chunks::from_axes(out_axes),
            name,
        ))
    }
}
