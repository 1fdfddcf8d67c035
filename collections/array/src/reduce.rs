//! Reductions: per-block partial results combined in a tree, `split_every` at a time.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn};
use rask_graph::layers::{LevelInfo, TreeLevel, reduction_tree};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Args, Graph, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::Chunk;
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::{Arith, Element};
use crate::error::ArrayError;

/// What a reduction computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReduceKind {
    /// The sum.
    Sum,
    /// The product.
    Prod,
    /// The smallest element.
    Min,
    /// The largest element.
    Max,
}

impl ReduceKind {
    pub(crate) fn chunk_name(self) -> &'static str {
        match self {
            ReduceKind::Sum => "sum-chunk",
            ReduceKind::Prod => "prod-chunk",
            ReduceKind::Min => "min-chunk",
            ReduceKind::Max => "max-chunk",
        }
    }

    fn name(self) -> &'static str {
        match self {
            ReduceKind::Sum => "sum",
            ReduceKind::Prod => "prod",
            ReduceKind::Min => "min",
            ReduceKind::Max => "max",
        }
    }
}

/// How many partial results a reduction tree combines at a time unless told (Dask's
/// `split_every` default).
pub(crate) const DEFAULT_SPLIT_EVERY: usize = 4;

/// Which axes a reduction runs over and how.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reduction {
    axes: Option<Vec<usize>>,
    keepdims: bool,
    split_every: Option<usize>,
}

impl Reduction {
    /// Over every axis (the default).
    pub fn all() -> Self {
        Self::default()
    }

    /// Over these axes.
    pub fn axes(axes: impl Into<Vec<usize>>) -> Self {
        Self {
            axes: Some(axes.into()),
            ..Self::default()
        }
    }

    /// The reduced axes for an array of `ndim` axes, sorted, or an error naming a bad one.
    pub fn resolved_axes(&self, ndim: usize) -> Result<Vec<usize>, ArrayError> {
        let mut axes = self.axes.clone().unwrap_or_else(|| (0..ndim).collect());
        axes.sort_unstable();
        axes.dedup();
        if let Some(&bad) = axes.iter().find(|a| **a >= ndim) {
            return Err(ArrayError::Axis {
                what: "reduction".into(),
                axis: bad as isize,
                ndim,
            });
        }
        Ok(axes)
    }

    /// Over one axis.
    pub fn axis(axis: usize) -> Self {
        Self::axes(vec![axis])
    }

    /// Keep the reduced axes, with length 1.
    pub fn keepdims(mut self, yes: bool) -> Self {
        self.keepdims = yes;
        self
    }

    /// How many partial results each tree node combines, per reduced axis (default 4, as Dask).
    pub fn split_every(mut self, n: usize) -> Self {
        self.split_every = Some(n.max(2));
        self
    }

    /// The tree's width: the one set, or [`DEFAULT_SPLIT_EVERY`].
    pub(crate) fn tree_width(&self) -> usize {
        self.split_every.unwrap_or(DEFAULT_SPLIT_EVERY)
    }

    /// Whether the reduced axes stay (with length 1).
    pub(crate) fn keeps_dims(&self) -> bool {
        self.keepdims
    }
}

/// Reduces one block over `axes`, keeping them with length 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReduceBlock<T> {
    kind: ReduceKind,
    axes: Vec<usize>,
    _t: std::marker::PhantomData<fn() -> T>,
}

/// Whether `x` is not equal to itself (a NaN), for any element type.
fn is_nan<A: PartialOrd>(x: A) -> bool {
    x.partial_cmp(&x).is_none()
}

pub(crate) fn fold<A: Element + Arith>(kind: ReduceKind, a: A, b: A) -> A {
    match kind {
        ReduceKind::Sum => a.add(b),
        ReduceKind::Prod => a.mul(b),
        // NaN wins, as in NumPy's min and max.
        ReduceKind::Min => {
            if is_nan(a) || (!is_nan(b) && a <= b) {
                a
            } else {
                b
            }
        }
        ReduceKind::Max => {
            if is_nan(a) || (!is_nan(b) && a >= b) {
                a
            } else {
                b
            }
        }
    }
}

/// `c` folded with itself `n` (≥ 1) times: `c * n` for a sum, `c^n` for a product (by
/// squaring), `c` for a minimum or maximum — O(log n) at most, for constant blocks and lanes.
pub(crate) fn fold_repeated<A: Element + Arith>(kind: ReduceKind, c: A, n: usize) -> A {
    match kind {
        ReduceKind::Sum => c.mul(A::cast_from(n as u64)),
        ReduceKind::Prod => {
            let (mut base, mut n, mut out) = (c, n, A::one());
            while n > 0 {
                if n & 1 == 1 {
                    out = out.mul(base);
                }
                base = base.mul(base);
                n >>= 1;
            }
            out
        }
        ReduceKind::Min | ReduceKind::Max => c,
    }
}

impl<T: Element> ReduceBlock<T> {
    pub(crate) fn new(kind: ReduceKind, axes: Vec<usize>) -> Self {
        Self {
            kind,
            axes,
            _t: std::marker::PhantomData,
        }
    }

    pub(crate) fn kind(&self) -> ReduceKind {
        self.kind
    }

    pub(crate) fn axes(&self) -> &[usize] {
        &self.axes
    }

    pub(crate) fn apply(
        &self,
        block: &ndarray::ArrayViewD<'_, T>,
    ) -> Result<ArrayD<T::Acc>, TaskError> {
        // A constant block (ones, zeros, full, and slices of them): O(1), not one step per
        // element.
        let constant = block
            .strides()
            .iter()
            .zip(block.shape())
            .all(|(s, d)| *s == 0 || *d == 1);
        if constant && let Some(c) = block.iter().next() {
            let n: usize = self.axes.iter().map(|a| block.shape()[*a]).product();
            let mut shape = block.shape().to_vec();
            for a in &self.axes {
                shape[*a] = 1;
            }
            let v = fold_repeated(self.kind, c.acc(), n);
            return Ok(ArrayD::from_elem(IxDyn(&shape), v));
        }
        // Every axis of a non-empty block: one pass, no copy.
        if self.axes.len() == block.ndim() && !block.is_empty() {
            let kind = self.kind;
            let mut it = block.iter();
            let first = it.next().map(|x| x.acc()).unwrap_or_default();
            let v = it.fold(first, |a, x| fold(kind, a, x.acc()));
            return Ok(ArrayD::from_elem(IxDyn(&vec![1; block.ndim()]), v));
        }
        let mut out: ArrayD<T::Acc> = block.mapv(Element::acc);
        for &ax in &self.axes {
            let len = out.shape()[ax];
            if len == 0 {
                // For booleans, max is `any` (identity false) and min is `all` (identity
                // true), as NumPy's `any` / `all` of nothing.
                let boolean = T::DTYPE == crate::element::DType::Bool;
                if matches!(self.kind, ReduceKind::Min | ReduceKind::Max) && !boolean {
                    return Err(TaskError::new(format!(
                        "zero-size block along axis {ax}: {} has no identity",
                        self.kind.name()
                    )));
                }
                let mut shape = out.shape().to_vec();
                shape[ax] = 1;
                let identity = match self.kind {
                    ReduceKind::Prod | ReduceKind::Min => <T::Acc as Element>::one(),
                    _ => <T::Acc as Element>::zero(),
                };
                out = ArrayD::from_elem(IxDyn(&shape), identity);
                continue;
            }
            let kind = self.kind;
            out = out
                .fold_axis(Axis(ax), None::<T::Acc>, |acc, x| {
                    Some(acc.map_or(*x, |a| fold(kind, a, *x)))
                })
                .mapv(|v| v.unwrap_or_default())
                .insert_axis(Axis(ax));
        }
        Ok(out)
    }
}

impl<T: Element> Op for ReduceBlock<T> {
    fn name(&self) -> &str {
        match self.kind {
            ReduceKind::Sum => "sum-chunk",
            ReduceKind::Prod => "prod-chunk",
            ReduceKind::Min => "min-chunk",
            ReduceKind::Max => "max-chunk",
        }
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let block = crate::chunk::block_view::<T>(&args[0])?;
        Ok(Value::new(Chunk(self.apply(&block)?)))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

/// Combines partial results elementwise (they all have length 1 along the reduced axes);
/// the last level can also drop those axes and scale (for the mean).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Combine<A> {
    kind: ReduceKind,
    drop_axes: Vec<usize>,
    _t: std::marker::PhantomData<fn() -> A>,
}

impl<A> Combine<A> {
    pub(crate) fn new(kind: ReduceKind, drop_axes: Vec<usize>) -> Self {
        Self {
            kind,
            drop_axes,
            _t: std::marker::PhantomData,
        }
    }
}

impl<A: Element + Arith> Op for Combine<A> {
    fn name(&self) -> &str {
        match self.kind {
            ReduceKind::Sum => "sum-aggregate",
            ReduceKind::Prod => "prod-aggregate",
            ReduceKind::Min => "min-aggregate",
            ReduceKind::Max => "max-aggregate",
        }
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut it = args.iter();
        let first = it
            .next()
            .ok_or_else(|| TaskError::new("nothing to combine"))?;
        let mut out = first.get::<Chunk<A>>()?.0.clone();
        for v in it {
            let b = &v.get::<Chunk<A>>()?.0;
            if b.shape() != out.shape() {
                return Err(TaskError::new(format!(
                    "partial results of shapes {:?} and {:?}",
                    out.shape(),
                    b.shape()
                )));
            }
            out.zip_mut_with(b, |a, x| *a = fold(self.kind, *a, *x));
        }
        let mut drop = self.drop_axes.clone();
        drop.sort_unstable();
        for ax in drop.into_iter().rev() {
            out = out.index_axis_move(Axis(ax), 0);
        }
        Ok(Value::new(Chunk(out)))
    }
}

/// Divides its `Chunk<A>` by `n` into a `Chunk<f64>` (the last step of a mean).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DivideBy<A> {
    n: f64,
    _t: std::marker::PhantomData<fn() -> A>,
}

impl<A: Element> Op for DivideBy<A> {
    fn name(&self) -> &str {
        "mean-aggregate"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let a = &args[0].get::<Chunk<A>>()?.0;
        Ok(Value::new(Chunk(a.mapv(|x| x.to_f64() / self.n))))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

macro_rules! register_reductions {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(ReduceBlock<$t>, concat!("rask.array.reduce-block<", stringify!($t), ">"));
        rask_graph::register_op!(Combine<$t>, concat!("rask.array.combine<", stringify!($t), ">"));
        rask_graph::register_op!(DivideBy<$t>, concat!("rask.array.divide-by<", stringify!($t), ">"));
    )*};
}
register_reductions!(f64, f32, i64, i32, u64, u32, u8, bool);

/// The blocks of a reduction's result: the reduced `axes` of length 1, or gone.
pub(crate) fn reduced_chunks(chunks: &Chunks, axes: &[usize], keepdims: bool) -> Vec<Vec<usize>> {
    chunks
        .axes()
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            if axes.contains(&i) {
                keepdims.then(|| vec![1])
            } else {
                Some(c.clone())
            }
        })
        .collect()
}

impl<T: Element> Array<T> {
    fn reduce_axes(&self, how: &Reduction) -> Result<Vec<usize>, ArrayError> {
        self.check()?;
        how.resolved_axes(self.ndim())
    }

    /// The tree of partial results; returns the final layer's array (keeping dims) before the
    /// last step.
    fn tree(
        &self,
        kind: ReduceKind,
        how: &Reduction,
        finish: &str,
    ) -> Result<(Graph, Arc<str>, Chunks, Vec<usize>), ArrayError> {
        let axes = self.reduce_axes(how)?;
        let split = how.tree_width();
        let tok = |step: &str, level: usize| {
            Tokenizer::new()
                .write_str(self.name())
                .write_str(step)
                .write(&(kind, &axes, how.keepdims, split, level))
                .finish()
        };
        let mut graph = self.graph().clone();
        // Partial results per block, length 1 along the reduced axes.
        let mut layer = Layer::with_capacity(
            key_name(&format!("{}-chunk", kind.name()), &tok("chunk", 0)),
            self.npartitions(),
        );
        let op: Arc<dyn Op> = Arc::new(ReduceBlock::<T> {
            kind,
            axes: axes.clone(),
            _t: std::marker::PhantomData,
        });
        for index in rask_graph::layers::grid(&self.numblocks()) {
            layer.insert(
                index.clone(),
                Task::from_arc(Arc::clone(&op), [Arg::Key(self.key(&index))]),
            );
        }
        let first = Arc::clone(layer.name());
        graph.add_layer(layer);
        let name = reduction_tree(
            &mut graph,
            first,
            &self.numblocks(),
            &axes,
            split,
            how.keepdims,
            |LevelInfo { depth: level, last }| {
                let drop_axes = if last && !how.keepdims {
                    axes.clone()
                } else {
                    Vec::new()
                };
                let prefix = if last {
                    finish.to_string()
                } else {
                    format!("{}-partial", kind.name())
                };
                let op: Arc<dyn Op> = Arc::new(Combine::<T::Acc> {
                    kind,
                    drop_axes,
                    _t: std::marker::PhantomData,
                });
                TreeLevel::new(
                    key_name(&prefix, &tok("combine", level + 1)),
                    move |_, inputs| Task::from_arc(Arc::clone(&op), inputs),
                )
            },
        );
        // The result's chunks.
        let axes_chunks = reduced_chunks(self.chunks(), &axes, how.keepdims);
        let chunks = Chunks::normalize(
            ChunkSpec::from(axes_chunks.clone()),
            &axes_chunks
                .iter()
                .map(|c| c.iter().sum())
                .collect::<Vec<_>>(),
            T::DTYPE,
        )?;
        Ok((graph, name, chunks, axes))
    }

    fn kind_reduction(
        &self,
        kind: ReduceKind,
        how: Reduction,
    ) -> Result<Array<T::Acc>, ArrayError> {
        let (graph, name, chunks, _) =
            self.tree(kind, &how, &format!("{}-aggregate", kind.name()))?;
        Ok(Array::from_graph(
            graph,
            name,
            chunks,
            &format!("{}-aggregate", kind.name()),
        ))
    }

    /// The sum (in `T::Acc`: floats stay, integers widen to 64 bits).
    ///
    /// ```
    /// use rask_array::{Array, IntoScalar, Reduction};
    /// use rask_graph::Collection;
    ///
    /// let x = Array::<f64>::ones(&[1000, 4000], [1000, 1000]).unwrap();
    /// let s = x.sum(Reduction::all()).unwrap();
    /// assert_eq!(s.compute_on(&rask_local::SyncScheduler, &[]).unwrap().into_scalar().unwrap(), 4e6);
    /// ```
    pub fn sum(&self, how: Reduction) -> Result<Array<T::Acc>, ArrayError> {
        self.kind_reduction(ReduceKind::Sum, how)
    }

    /// The product.
    pub fn prod(&self, how: Reduction) -> Result<Array<T::Acc>, ArrayError> {
        self.kind_reduction(ReduceKind::Prod, how)
    }

    /// The smallest element, of the array's own type as NumPy's (an error at compute time
    /// for an empty array, as NumPy's).
    ///
    /// ```
    /// use rask_array::{Array, IntoScalar, Reduction};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[3i32, -7, 5]).into_dyn(), 2usize).unwrap();
    /// let m: Array<i32> = x.min(Reduction::all()).unwrap();
    /// assert_eq!(m.compute_on(&rask_local::SyncScheduler, &[]).unwrap().into_scalar().unwrap(), -7);
    /// ```
    pub fn min(&self, how: Reduction) -> Result<Array<T>, ArrayError> {
        Ok(self.as_own_type(self.kind_reduction(ReduceKind::Min, how)?, "min"))
    }

    /// The largest element, of the array's own type.
    pub fn max(&self, how: Reduction) -> Result<Array<T>, ArrayError> {
        Ok(self.as_own_type(self.kind_reduction(ReduceKind::Max, how)?, "max"))
    }

    /// A min or max, folded in the accumulator type, as the element type again: the same
    /// blocks when the two types are one (floats, 64-bit integers), else a cast (exact, as
    /// every value came from the array).
    fn as_own_type(&self, m: Array<T::Acc>, label: &str) -> Array<T> {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<T::Acc>() {
            Array::from_graph(m.graph().clone(), m.name(), m.chunks().clone(), label)
        } else {
            m.astype::<T>()
        }
    }

    /// The mean, as `f64` (integer means too).
    pub fn mean(&self, how: Reduction) -> Result<Array<f64>, ArrayError> {
        let (mut graph, name, chunks, axes) = self.tree(ReduceKind::Sum, &how, "sum-aggregate")?;
        let shape = self.shape();
        let n: usize = axes.iter().map(|a| shape[*a]).product();
        let mut layer = Layer::new(key_name(
            "mean-aggregate",
            &Tokenizer::new().write_str(&name).finish(),
        ));
        let op: Arc<dyn Op> = Arc::new(DivideBy::<T::Acc> {
            n: n as f64,
            _t: std::marker::PhantomData,
        });
        for index in rask_graph::layers::grid(&chunks.numblocks()) {
            layer.insert(
                index.clone(),
                Task::from_arc(
                    Arc::clone(&op),
                    [Arg::Key(rask_graph::Key::with_name(&name, index))],
                ),
            );
        }
        let out = Arc::clone(layer.name());
        graph.add_layer(layer);
        Ok(Array::from_graph(graph, out, chunks, "mean-aggregate"))
    }
}
