//! User reductions: chunk, combine and aggregate functions in a `split_every` tree.

use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD};
use rask_graph::delayed::ClosureOp;
use rask_graph::named::NamedFn;
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

/// A reduction step that is a [named](rask_graph::named) function, as its canonical pointer.
type StepPtr<I, A> = fn(ArrayViewD<'_, I>, &[usize]) -> Result<ArrayD<A>, TaskError>;

/// A block's partial: `f` of the block, checked to keep the array's dimensions.
fn run_chunk<T: Element, A: Element>(
    label: &str,
    axes: &[usize],
    ndim: usize,
    args: &[Value],
    f: impl Fn(ArrayViewD<'_, T>, &[usize]) -> Result<ArrayD<A>, String>,
) -> Result<Value, TaskError> {
    let [block] = args else {
        return Err(TaskError::new(format!(
            "{label}: takes one block, got {}",
            args.len()
        )));
    };
    let p =
        f(block_view::<T>(block)?, axes).map_err(|e| TaskError::new(format!("{label}: {e}")))?;
    if p.ndim() != ndim {
        return Err(TaskError::new(format!(
            "{label}: a partial of {} dimensions, not {ndim}",
            p.ndim()
        )));
    }
    Ok(Value::new(Chunk(p)))
}

/// Where a combining step sits in the tree: what it needs besides its function.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StepShape {
    label: String,
    axes: Vec<usize>,
    /// The partials it joins, per axis.
    grid: Vec<usize>,
    /// Whether it makes the final result (whose reduced axes must be of length 1).
    last: bool,
    keepdims: bool,
}

impl StepShape {
    /// Joins the partials along the reduced axes, applies `f`, and (last) checks and drops
    /// the reduced axes.
    fn run<A: Element>(
        &self,
        args: rask_graph::Args,
        f: impl Fn(ArrayViewD<'_, A>, &[usize]) -> Result<ArrayD<A>, String>,
    ) -> Result<Value, TaskError> {
        let join = Assemble::<A>::from_parts(self.grid.clone(), vec![None; args.len()]);
        let joined = rask_graph::Op::run(&join, args)?;
        let who = &self.label;
        let mut p = f(block_view::<A>(&joined)?, &self.axes)
            .map_err(|e| TaskError::new(format!("{who}: {e}")))?;
        if self.last {
            if self.axes.iter().any(|a| p.shape().get(*a) != Some(&1)) {
                return Err(TaskError::new(format!(
                    "{who} made a block of shape {:?}; the reduced axes {:?} must have length 1",
                    p.shape(),
                    self.axes
                )));
            }
            if !self.keepdims {
                for a in self.axes.iter().rev() {
                    p = p.index_axis_move(ndarray::Axis(*a), 0);
                }
            }
        }
        Ok(Value::new(Chunk(p)))
    }
}

/// A named function's partial of one block; serializable as the function's path.
struct NamedChunk<T, A> {
    function: &'static NamedFn,
    f: StepPtr<T, A>,
    label: String,
    axes: Vec<usize>,
    ndim: usize,
}

/// A named function's combining step; serializable as the function's path.
struct NamedStep<A> {
    function: &'static NamedFn,
    f: StepPtr<A, A>,
    shape: StepShape,
}

impl<T, A> std::fmt::Debug for NamedChunk<T, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamedChunk({})", self.function.path)
    }
}

impl<A> std::fmt::Debug for NamedStep<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamedStep({})", self.function.path)
    }
}

impl<T: Element, A: Element> rask_graph::Op for NamedChunk<T, A> {
    fn name(&self) -> &str {
        self.function.name()
    }

    fn run(&self, args: rask_graph::Args) -> Result<Value, TaskError> {
        run_chunk(&self.label, &self.axes, self.ndim, &args, |v, a| {
            (self.f)(v, a).map_err(|e| e.to_string())
        })
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::Exact(1)
    }
}

impl<A: Element> rask_graph::Op for NamedStep<A> {
    fn name(&self) -> &str {
        self.function.name()
    }

    fn run(&self, args: rask_graph::Args) -> Result<Value, TaskError> {
        self.shape
            .run(args, |v, a| (self.f)(v, a).map_err(|e| e.to_string()))
    }
}

/// The function of a named step, resolved by path on the receiving side.
fn resolve_step<I: Element, A: Element, E: serde::de::Error>(
    path: &str,
) -> Result<(&'static NamedFn, StepPtr<I, A>), E> {
    rask_graph::named::resolve_pointer(path, || {
        format!("a reduction step from {} to {}", I::DTYPE, A::DTYPE)
    })
}

impl<T, A> serde::Serialize for NamedChunk<T, A> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.function.path, &self.label, &self.axes, self.ndim).serialize(s)
    }
}

impl<'de, T: Element, A: Element> serde::Deserialize<'de> for NamedChunk<T, A> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (path, label, axes, ndim) = <(String, String, Vec<usize>, usize)>::deserialize(d)?;
        let (function, f) = resolve_step::<T, A, D::Error>(&path)?;
        Ok(NamedChunk {
            function,
            f,
            label,
            axes,
            ndim,
        })
    }
}

impl<A> serde::Serialize for NamedStep<A> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.function.path, &self.shape).serialize(s)
    }
}

impl<'de, A: Element> serde::Deserialize<'de> for NamedStep<A> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (path, shape) = <(String, StepShape)>::deserialize(d)?;
        let (function, f) = resolve_step::<A, A, D::Error>(&path)?;
        Ok(NamedStep { function, f, shape })
    }
}

super::register_element_pairs!(NamedChunk, "rask.array.named-reduction-chunk.");
macro_rules! register_named_steps {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(
            NamedStep<$t>,
            concat!("rask.array.named-reduction-step.", stringify!($t))
        );
    )*};
}
register_named_steps!(f64, f32, i64, i32, u64, u32, u8, bool);

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
        // One op for every block's partial: a named function's (any process) or a closure's.
        let chunk_op: Arc<dyn rask_graph::Op> =
            match rask_graph::named::pointer_of::<StepPtr<T, A>, _>(&chunk) {
                Some((function, f)) => Arc::new(NamedChunk {
                    function,
                    f,
                    label: name.to_string(),
                    axes: axes.clone(),
                    ndim,
                }),
                None => {
                    let (axes2, label) = (axes.clone(), name.to_string());
                    Arc::new(ClosureOp::new(&format!("{name}-chunk"), move |args| {
                        run_chunk(&label, &axes2, ndim, &args, |v, a| {
                            chunk(v, a).map_err(|e| e.to_string())
                        })
                    }))
                }
            };
        for index in rask_graph::layers::grid(&self.numblocks()) {
            let task = Task::from_arc(Arc::clone(&chunk_op), [Arg::Key(self.key(&index))]);
            layer.insert(index, task);
        }
        let first = Arc::clone(layer.name());
        graph.add_layer(layer);
        let named_combine = rask_graph::named::pointer_of::<StepPtr<A, A>, _>(&combine);
        let named_aggregate = rask_graph::named::pointer_of::<StepPtr<A, A>, _>(&aggregate);
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
                let named = if last { named_aggregate } else { named_combine };
                let task = move |ranges: &[Range<u32>], inputs: Vec<Arg>| {
                    let shape = StepShape {
                        label: label.clone(),
                        axes: axes.clone(),
                        grid: ranges.iter().map(|r| r.len()).collect(),
                        last,
                        keepdims,
                    };
                    if let Some((function, f)) = named {
                        return Task::new(NamedStep::<A> { function, f, shape }, inputs);
                    }
                    let f = Arc::clone(&step);
                    let op = ClosureOp::new(&label, move |args| {
                        shape.run(args, |v, a| f(v, a).map_err(|e| e.to_string()))
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
