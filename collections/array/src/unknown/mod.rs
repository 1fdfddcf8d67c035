//! Arrays whose block lengths are not known until computed (Dask's NaN chunks): what a
//! boolean mask, `nonzero` or `unique` make. In Rust they are their own type, [`Unsized`], so
//! nothing can use block lengths that are not there; `compute` works as for any collection,
//! and [`Unsized::compute_chunk_sizes_on`] turns one into an ordinary [`Array`] by working the
//! lengths out (Dask's `compute_chunk_sizes`).

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{
    Arg, Args, Collection, ComputeError, Graph, Key, Layer, Op, Scheduler, Task, TaskError, Value,
};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::chunks::Chunks;
use crate::element::Element;
use crate::error::ArrayError;

mod ops;

/// One `per` task for each of `inputs` (layer `{label}-chunk`), then one `total` task over
/// all of them (layer `label`, at index `at`): the graph grown from `graph`, and the last
/// layer's name.
///
/// The first layer has one task per input block ([`Layer::per_partition`]).
fn per_block_then_all(
    graph: &Graph,
    inputs: &[Key],
    label: &str,
    token: &str,
    per: impl Op + Clone,
    total: impl Op,
    at: &[u32],
) -> (Graph, Arc<str>) {
    let layer = Layer::per_partition(
        key_name(&format!("{label}-chunk"), token),
        inputs.len(),
        |i| Task::new(per.clone(), [Arg::Key(inputs[i as usize].clone())]),
    );
    let mut last = Layer::new(key_name(label, token));
    let args: Vec<Arg> = (0..inputs.len() as u32)
        .map(|i| Arg::Key(layer.key([i])))
        .collect();
    last.insert(at.iter().copied(), Task::new(total, args));
    let name = Arc::clone(last.name());
    let mut graph = graph.clone();
    graph.add_layer(layer);
    graph.add_layer(last);
    (graph, name)
}

/// A 1-d array of known blocks but unknown block lengths.
#[derive(Clone)]
#[must_use = "arrays are lazy: nothing runs until one is computed"]
pub struct Unsized<T: Element> {
    graph: Graph,
    name: Arc<str>,
    blocks: usize,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> std::fmt::Display for Unsized<T> {
    /// Dask's repr with its NaN sizes: `rask.Array<getitem, shape=(nan,), dtype=f64, chunksize=(nan,), chunktype=ndarray>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = self.name.rsplit_once('-').map_or(&*self.name, |(l, _)| l);
        write!(
            f,
            "rask.Array<{label}, shape=(nan,), dtype={}, chunksize=(nan,), chunktype=ndarray>",
            T::DTYPE
        )
    }
}

impl<T: Element> std::fmt::Debug for Unsized<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl<T: Element> Unsized<T> {
    /// How many blocks (their lengths are what is unknown).
    pub fn npartitions(&self) -> usize {
        self.blocks
    }

    fn key(&self, i: usize) -> Key {
        Key::with_name(&self.name, [i as u32])
    }

    /// The unknown-length array whose blocks are `layer`'s `blocks` tasks, added to `graph`.
    fn from_layer(mut graph: Graph, layer: Layer, blocks: usize) -> Self {
        let name = Arc::clone(layer.name());
        graph.add_layer(layer);
        Unsized {
            graph,
            name,
            blocks,
            _t: std::marker::PhantomData,
        }
    }

    /// The same array with known block lengths, worked out on the default scheduler (Dask's
    /// `compute_chunk_sizes()`; see [`rask_graph::config`]).
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[3, -1, 4, -1, 5]).into_dyn(), 2usize).unwrap();
    /// let _default = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let pos = x.mask(&x.compare_scalar(rask_array::CmpOp::Gt, 0)).unwrap();
    /// let known = pos.compute_chunk_sizes().unwrap();
    /// assert_eq!(known.chunks().axes(), &[vec![1, 1, 1]]);
    /// assert_eq!(known.compute().unwrap().as_slice().unwrap(), &[3, 4, 5]);
    /// ```
    pub fn compute_chunk_sizes(&self) -> Result<Array<T>, ComputeError> {
        self.compute_chunk_sizes_on(&*rask_graph::config::scheduler())
    }

    /// The same array with known block lengths, worked out on `scheduler` (Dask's
    /// `compute_chunk_sizes`). The blocks themselves are computed again when the array is.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1.0, -2.0, 3.0, -4.0, 5.0]).into_dyn(), 2usize).unwrap();
    /// let pos = x.mask(&x.compare_scalar(rask_array::CmpOp::Gt, 0.0)).unwrap();
    /// let s = rask_local::SyncScheduler;
    /// let known = pos.compute_chunk_sizes_on(&s).unwrap();
    /// assert_eq!(known.chunks().axes(), &[vec![1, 1, 1]]);
    /// assert_eq!(known.compute_on(&s, &[]).unwrap().as_slice().unwrap(), &[1.0, 3.0, 5.0]);
    /// ```
    pub fn compute_chunk_sizes_on(
        &self,
        scheduler: &dyn Scheduler,
    ) -> Result<Array<T>, ComputeError> {
        let token = Tokenizer::new()
            .write_str(&self.name)
            .write_str("sizes")
            .finish();
        let layer = Layer::per_partition(key_name("chunk-sizes", &token), self.blocks, |i| {
            let i = i as usize;
            Task::new(BlockLen::<T>::default(), [Arg::Key(self.key(i))])
        });
        let keys: Vec<Key> = (0..self.blocks).map(|i| layer.key([i as u32])).collect();
        let mut graph = self.graph.clone();
        graph.add_layer(layer);
        let values = scheduler.get(&graph, &keys, &[])?;
        let lengths = (values.iter().zip(&keys))
            .map(|(v, key)| {
                v.get::<u64>()
                    .map(|n| *n as usize)
                    .map_err(|_| ComputeError::ResultType {
                        key: key.clone(),
                        expected: "u64",
                        found: v.type_name(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Array::from_graph(
            self.graph.clone(),
            Arc::clone(&self.name),
            Chunks::from_axes(vec![lengths]),
            "chunk-sizes",
        ))
    }
}

impl<T: Element> Unsized<T> {
    /// The blocks as an [`Array`] with stand-in lengths (1 each), for whole-array reductions
    /// and block-by-block operations, which never read lengths. Not to be let out: wrap the
    /// result back with [`same_blocks`](Unsized::same_blocks).
    pub(crate) fn as_blocks(&self) -> Array<T> {
        Array::from_graph(
            self.graph.clone(),
            Arc::clone(&self.name),
            Chunks::from_axes(vec![vec![1; self.blocks]]),
            "unsized",
        )
    }

    /// A block-by-block result of [`as_blocks`](Unsized::as_blocks): its blocks have unknown
    /// lengths again.
    pub(crate) fn same_blocks<U: Element>(&self, a: &Array<U>) -> Unsized<U> {
        Unsized {
            graph: a.graph().clone(),
            name: Arc::from(a.name()),
            blocks: self.blocks,
            _t: std::marker::PhantomData,
        }
    }

    /// The sum of all elements, without working out the block lengths (as Dask reduces NaN
    /// chunks).
    ///
    /// ```
    /// use rask_array::{Array, CmpOp, IntoScalar};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1.0, -2.0, 3.0, -4.0, 5.0]).into_dyn(), 2usize).unwrap();
    /// let pos = x.mask(&x.compare_scalar(CmpOp::Gt, 0.0)).unwrap();
    /// let s = rask_local::SyncScheduler;
    /// assert_eq!(pos.sum().unwrap().compute_on(&s, &[]).unwrap().into_scalar().unwrap(), 9.0);
    /// assert_eq!(pos.mean().unwrap().compute_on(&s, &[]).unwrap().into_scalar().unwrap(), 3.0);
    /// assert_eq!(pos.count().unwrap().compute_on(&s, &[]).unwrap().into_scalar().unwrap(), 3);
    /// ```
    pub fn sum(&self) -> Result<Array<T::Acc>, ArrayError> {
        self.as_blocks().sum(crate::reduce::Reduction::all())
    }

    /// The smallest element; blocks the mask left empty are skipped, and an error at compute
    /// time says so if there is no element at all (as NumPy's `min` of nothing).
    pub fn min(&self) -> Result<Array<T>, ArrayError> {
        self.extreme(false)
    }

    /// The largest element (see [`min`](Unsized::min)).
    pub fn max(&self) -> Result<Array<T>, ArrayError> {
        self.extreme(true)
    }

    fn extreme(&self, max: bool) -> Result<Array<T>, ArrayError> {
        let label = if max { "max" } else { "min" };
        let token = Tokenizer::new()
            .write_str(&self.name)
            .write_str(label)
            .finish();
        let op = |partial| Extreme::<T> {
            max,
            partial,
            _t: std::marker::PhantomData,
        };
        let inputs = self.output_keys();
        let (graph, name) = per_block_then_all(
            &self.graph,
            &inputs,
            label,
            &token,
            op(true),
            op(false),
            &[],
        );
        // The per-block partials are 0- or 1-element; the final task makes a 0-d block.
        Ok(Array::from_graph(
            graph,
            name,
            Chunks::from_axes(vec![]),
            label,
        ))
    }

    /// How many elements there are, as a 0-d array.
    pub fn count(&self) -> Result<Array<u64>, ArrayError> {
        let token = Tokenizer::new()
            .write_str(&self.name)
            .write_str("count")
            .finish();
        let inputs = self.output_keys();
        let (graph, name) = per_block_then_all(
            &self.graph,
            &inputs,
            "count",
            &token,
            BlockLen::<T>::default(),
            CountSum,
            &[],
        );
        Ok(Array::from_graph(
            graph,
            name,
            Chunks::from_axes(vec![]),
            "count",
        ))
    }

    /// The mean of all elements (NaN if there is none, as NumPy's).
    pub fn mean(&self) -> Result<Array<f64>, ArrayError> {
        let (sum, count) = (self.sum()?, self.count()?);
        let token = Tokenizer::new()
            .write_str(sum.name())
            .write_str(count.name())
            .finish();
        let mut layer = Layer::new(key_name("mean", &token));
        layer.insert(
            [],
            Task::new(
                MeanOf::<T::Acc>::default(),
                [Arg::Key(sum.key(&[])), Arg::Key(count.key(&[]))],
            ),
        );
        let name = Arc::clone(layer.name());
        let mut graph = Graph::merged([sum.graph(), count.graph()]);
        graph.add_layer(layer);
        Ok(Array::from_graph(
            graph,
            name,
            Chunks::from_axes(vec![]),
            "mean",
        ))
    }
}

/// The smallest or largest element of its blocks, skipping empty ones (NaN wins, as in
/// NumPy): a partial (0 or 1 elements) per block, or the 0-d result from the partials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Extreme<T> {
    max: bool,
    partial: bool,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for Extreme<T> {
    fn name(&self) -> &str {
        if self.max { "max" } else { "min" }
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let nan = |x: T| x.partial_cmp(&x).is_none();
        let mut best: Option<T> = None;
        for a in args.iter() {
            for &x in block_view::<T>(a)?.iter() {
                best = Some(match best {
                    None => x,
                    Some(b) if nan(b) => b,
                    Some(_) if nan(x) => x,
                    Some(b) if (self.max && x > b) || (!self.max && x < b) => x,
                    Some(b) => b,
                });
            }
        }
        match (best, self.partial) {
            (Some(b), true) => Ok(Value::new(Chunk(ArrayD::from_elem(IxDyn(&[1]), b)))),
            (None, true) => Ok(Value::new(Chunk(
                ArrayD::<T>::from_shape_vec(IxDyn(&[0]), vec![])
                    .map_err(|e| TaskError::new(e.to_string()))?,
            ))),
            (Some(b), false) => Ok(Value::new(Chunk(ArrayD::from_elem(IxDyn(&[]), b)))),
            (None, false) => Err(TaskError::new(format!(
                "zero-size array to reduction operation {} which has no identity",
                self.name()
            ))),
        }
    }
}

/// The sum of block lengths, as a 0-d block.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct CountSum;

impl Op for CountSum {
    fn name(&self) -> &str {
        "count"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut n = 0u64;
        for a in args.iter() {
            n += *a.get::<u64>()?;
        }
        Ok(Value::new(Chunk(ArrayD::from_elem(IxDyn(&[]), n))))
    }
}

/// A sum divided by a count, as a 0-d `f64` block.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct MeanOf<A> {
    _t: std::marker::PhantomData<fn() -> A>,
}

impl<A: Element> Op for MeanOf<A> {
    fn name(&self) -> &str {
        "mean"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let s = block_view::<A>(&args[0])?
            .iter()
            .next()
            .copied()
            .unwrap_or_default()
            .to_f64();
        let n = block_view::<u64>(&args[1])?
            .iter()
            .next()
            .copied()
            .unwrap_or(0);
        Ok(Value::new(Chunk(ArrayD::from_elem(
            IxDyn(&[]),
            s / n as f64,
        ))))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(2)
    }
}

rask_graph::register_op!(CountSum, "rask.array.count-sum");
rask_graph::register_op!(MeanOf<f64>, "rask.array.mean-of<f64>");
rask_graph::register_op!(MeanOf<f32>, "rask.array.mean-of<f32>");
rask_graph::register_op!(MeanOf<i64>, "rask.array.mean-of<i64>");
rask_graph::register_op!(MeanOf<u64>, "rask.array.mean-of<u64>");

impl<T: Element> Collection for Unsized<T> {
    type Output = ArrayD<T>;

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn output_keys(&self) -> Vec<Key> {
        (0..self.blocks).map(|i| self.key(i)).collect()
    }

    /// An array's optimizations (fused elementwise chains and reductions): its blocks are
    /// block-by-block work like any array's, lengths unread.
    fn optimized_graph(&self) -> Result<Graph, ComputeError> {
        self.as_blocks().optimized_graph()
    }

    fn finalize(&self, values: Vec<Value>) -> Result<ArrayD<T>, ComputeError> {
        let mut out: Vec<T> = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let b = block_view::<T>(v).map_err(|_| ComputeError::ResultType {
                key: self.key(i),
                expected: std::any::type_name::<crate::chunk::Chunk<T>>(),
                found: v.type_name(),
            })?;
            out.extend(b.iter().copied());
        }
        Ok(ndarray::Array1::from(out).into_dyn())
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Self {
            graph,
            ..self.clone()
        }
    }
}

/// The length of a 1-d block, as a `u64`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct BlockLen<T> {
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for BlockLen<T> {
    fn name(&self) -> &str {
        "chunk-size"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        Ok(Value::new(block_view::<T>(&args[0])?.len() as u64))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

/// The elements of a block where the condition block is true, in C order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct MaskBlock<T> {
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for MaskBlock<T> {
    fn name(&self) -> &str {
        "getitem-mask"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let x = block_view::<T>(&args[0])?;
        let c = block_view::<bool>(&args[1])?;
        if x.shape() != c.shape() {
            return Err(TaskError::new(format!(
                "a mask block of shape {:?} for a block of shape {:?}",
                c.shape(),
                x.shape()
            )));
        }
        let v: Vec<T> = x
            .iter()
            .zip(c.iter())
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .collect();
        let n = v.len();
        Ok(Value::new(Chunk(
            ArrayD::from_shape_vec(IxDyn(&[n]), v).map_err(|e| TaskError::new(e.to_string()))?,
        )))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(2)
    }
}

/// The indices along one axis of the non-zero (true) elements of a block of the raveled
/// array, which starts at flat position `offset` of an array of `shape`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NonzeroBlock<T> {
    axis: usize,
    offset: usize,
    shape: Vec<usize>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for NonzeroBlock<T> {
    fn name(&self) -> &str {
        "nonzero"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let x = block_view::<T>(&args[0])?;
        // The flat position's coordinate along the axis.
        let inner: usize = self.shape[self.axis + 1..].iter().product();
        let len = self.shape[self.axis].max(1);
        let v: Vec<i64> = x
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != T::zero())
            .map(|(i, _)| ((i + self.offset) / inner.max(1) % len) as i64)
            .collect();
        let n = v.len();
        Ok(Value::new(Chunk(
            ArrayD::from_shape_vec(IxDyn(&[n]), v).map_err(|e| TaskError::new(e.to_string()))?,
        )))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

/// The sorted distinct values of its blocks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct UniqueBlock<T> {
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for UniqueBlock<T> {
    fn name(&self) -> &str {
        "unique"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut v: Vec<T> = Vec::new();
        for a in args.iter() {
            v.extend(block_view::<T>(a)?.iter().copied());
        }
        // NumPy's order: NaN last (equal NaNs kept once).
        v.sort_by(|a, b| {
            a.partial_cmp(b).unwrap_or_else(|| {
                let (an, bn) = (a.partial_cmp(a).is_none(), b.partial_cmp(b).is_none());
                an.cmp(&bn)
            })
        });
        let nan = |x: T| x.partial_cmp(&x).is_none();
        v.dedup_by(|a, b| *a == *b || (nan(*a) && nan(*b)));
        let n = v.len();
        Ok(Value::new(Chunk(
            ArrayD::from_shape_vec(IxDyn(&[n]), v).map_err(|e| TaskError::new(e.to_string()))?,
        )))
    }
}

macro_rules! register_unsized {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(BlockLen<$t>, concat!("rask.array.block-len<", stringify!($t), ">"));
        rask_graph::register_op!(MaskBlock<$t>, concat!("rask.array.mask-block<", stringify!($t), ">"));
        rask_graph::register_op!(NonzeroBlock<$t>, concat!("rask.array.nonzero-block<", stringify!($t), ">"));
        rask_graph::register_op!(UniqueBlock<$t>, concat!("rask.array.unique-block<", stringify!($t), ">"));
        rask_graph::register_op!(Extreme<$t>, concat!("rask.array.extreme<", stringify!($t), ">"));
    )*};
}
register_unsized!(f64, f32, i64, i32, u64, u32, u8, bool);

impl<T: Element> Array<T> {
    /// The elements where `cond` is true, in C order, as a 1-d array whose block lengths
    /// are unknown until computed (Dask's `x[cond]`). `cond` must have this array's shape.
    /// Both are raveled first (which may rechunk, as `reshape` does) so that the result is
    /// in NumPy's order.
    pub fn mask(&self, cond: &Array<bool>) -> Result<Unsized<T>, ArrayError> {
        self.check()?;
        cond.check()?;
        if cond.shape() != self.shape() {
            return Err(ArrayError::Shape {
                what: "mask".into(),
                message: format!(
                    "a mask of shape {:?} for an array of shape {:?}",
                    cond.shape(),
                    self.shape()
                ),
            });
        }
        // Both raveled first, so that block order is C order (as NumPy's result is).
        let (x, c) = (self.ravel()?, cond.ravel()?);
        let common = Chunks::from_axes(vec![crate::elementwise::refine(
            &x.chunks().axes()[0],
            &c.chunks().axes()[0],
        )]);
        let (x, c) = (x.split_to(&common), c.split_to(&common));
        let token = Tokenizer::new()
            .write_str(x.name())
            .write_str(c.name())
            .finish();
        let blocks = common.blocks();
        let layer = Layer::per_partition(key_name("getitem-mask", &token), blocks.len(), |i| {
            let i = i as usize;
            Task::new(
                MaskBlock::<T>::default(),
                [Arg::Key(x.key(&blocks[i])), Arg::Key(c.key(&blocks[i]))],
            )
        });
        let graph = Graph::merged([x.graph(), c.graph()]);
        Ok(Unsized::from_layer(graph, layer, blocks.len()))
    }

    /// The indices of the non-zero elements, one array per axis (NumPy's `nonzero`), in
    /// C order; their lengths are unknown until computed.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr2(&[[0, 3], [4, 0]]).into_dyn(), 1usize).unwrap();
    /// let nz = x.nonzero().unwrap();
    /// let s = rask_local::SyncScheduler;
    /// assert_eq!(nz[0].compute_on(&s, &[]).unwrap().as_slice().unwrap(), &[0, 1]);
    /// assert_eq!(nz[1].compute_on(&s, &[]).unwrap().as_slice().unwrap(), &[1, 0]);
    /// ```
    pub fn nonzero(&self) -> Result<Vec<Unsized<i64>>, ArrayError> {
        self.check()?;
        // Raveled, so that block order is C order, as NumPy's result is.
        let flat = self.ravel()?;
        let shape = self.shape();
        let blocks = flat.chunks().blocks();
        // Where each block starts in the raveled array.
        let offsets: Vec<usize> = flat.chunks().axes()[0]
            .iter()
            .scan(0, |start, len| {
                let at = *start;
                *start += len;
                Some(at)
            })
            .collect();
        (0..self.ndim())
            .map(|axis| {
                let token = Tokenizer::new()
                    .write_str(flat.name())
                    .write(&(axis as u64))
                    .finish();
                let layer = Layer::per_partition(key_name("nonzero", &token), blocks.len(), |i| {
                    let i = i as usize;
                    let op = NonzeroBlock::<T> {
                        axis,
                        offset: offsets[i],
                        shape: shape.clone(),
                        _t: std::marker::PhantomData,
                    };
                    Task::new(op, [Arg::Key(flat.key(&blocks[i]))])
                });
                Ok(Unsized::from_layer(
                    flat.graph().clone(),
                    layer,
                    blocks.len(),
                ))
            })
            .collect()
    }

    /// The sorted distinct elements (NumPy's `unique`; NaN last): each block's, then all
    /// merged into one block of unknown length.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[3, 1, 3, 2, 1, 5]).into_dyn(), 2usize).unwrap();
    /// let u = x.unique().unwrap().compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(u.as_slice().unwrap(), &[1, 2, 3, 5]);
    /// ```
    pub fn unique(&self) -> Result<Unsized<T>, ArrayError> {
        self.check()?;
        let token = Tokenizer::new()
            .write_str(self.name())
            .write_str("unique")
            .finish();
        let inputs = self.output_keys();
        let (graph, name) = per_block_then_all(
            self.graph(),
            &inputs,
            "unique",
            &token,
            UniqueBlock::<T>::default(),
            UniqueBlock::<T>::default(),
            &[0],
        );
        Ok(Unsized {
            graph,
            name,
            blocks: 1,
            _t: std::marker::PhantomData,
        })
    }
}
