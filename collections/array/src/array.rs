//! The chunked array.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, Slice};
use rask_graph::tokenize::Tokenizer;
use rask_graph::{Collection, ComputeError, Graph, Key, KeySet, Task, Value};

use crate::chunk::Chunk;
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::{DType, Element};
use crate::error::ArrayError;
use crate::ops::Full;

/// A lazy n-dimensional array of `T`, cut into blocks that are `ndarray::ArrayD<T>` — Dask's
/// `dask.array.Array`. Nothing is computed until [`compute`](Collection::compute_on) asks.
///
/// ```
/// use rask_array::Array;
/// use rask_graph::Collection;
///
/// let ones = Array::<f64>::ones(&[1000, 4000], [1000, 1000]).unwrap();
/// assert_eq!(ones.to_string(),
///     "rask.Array<ones, shape=(1000, 4000), dtype=f64, chunksize=(1000, 1000), chunktype=ndarray>");
/// assert_eq!(ones.npartitions(), 4);
/// assert_eq!(ones.nbytes() as f64 / (1024.0 * 1024.0), 30.517578125);
/// let a = ones.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
/// assert_eq!(a.shape(), &[1000, 4000]);
/// ```
#[must_use = "arrays are lazy: nothing runs until one is computed"]
pub struct Array<T: Element> {
    graph: Graph,
    name: Arc<str>,
    chunks: Chunks,
    label: String,
    /// An error an operator could not return (`a + b` on shapes that do not broadcast): kept,
    /// passed on by every later operation, and returned by `compute`.
    error: Option<ArrayError>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element> Clone for Array<T> {
    fn clone(&self) -> Self {
        Self {
            graph: self.graph.clone(),
            name: Arc::clone(&self.name),
            chunks: self.chunks.clone(),
            label: self.label.clone(),
            error: self.error.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Element> Array<T> {
    /// An array from a graph whose layer `name` holds one task per block of `chunks`.
    pub fn from_graph(
        graph: Graph,
        name: impl Into<Arc<str>>,
        chunks: Chunks,
        label: &str,
    ) -> Self {
        Self {
            graph,
            name: name.into(),
            chunks,
            label: label.to_string(),
            error: None,
            _t: PhantomData,
        }
    }

    /// An array that is only an error (what an operator returns when it cannot build its
    /// result); computing it returns the error.
    pub fn from_error(error: ArrayError) -> Self {
        Self {
            graph: Graph::new(),
            name: "error".into(),
            chunks: Chunks::from_axes(Vec::new()),
            label: "error".into(),
            error: Some(error),
            _t: PhantomData,
        }
    }

    /// The error this array carries, if an operator could not build it.
    pub fn error(&self) -> Option<&ArrayError> {
        self.error.as_ref()
    }

    /// `Err` with the carried error, or `Ok`.
    pub fn check(&self) -> Result<(), ArrayError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// An array of `value` everywhere.
    pub fn full(
        shape: &[usize],
        chunks: impl Into<ChunkSpec>,
        value: T,
    ) -> Result<Self, ArrayError> {
        Self::filled("full", shape, chunks, value)
    }

    /// An array of ones.
    pub fn ones(shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Self, ArrayError> {
        Self::filled("ones", shape, chunks, T::one())
    }

    /// An array of zeros.
    pub fn zeros(shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Self, ArrayError> {
        Self::filled("zeros", shape, chunks, T::zero())
    }

    /// An array whose elements are not to be relied on (zeros here, but do not count on it).
    pub fn empty(shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Self, ArrayError> {
        Self::filled("empty", shape, chunks, T::zero())
    }

    fn filled(
        label: &str,
        shape: &[usize],
        chunks: impl Into<ChunkSpec>,
        value: T,
    ) -> Result<Self, ArrayError> {
        let chunks = Chunks::normalize(chunks, shape, T::DTYPE)?;
        let token = Tokenizer::new()
            .write_str(label)
            .write(&chunks)
            .write(&value)
            .write_str(T::DTYPE.name())
            .finish();
        // Blocks of one shape (all but the last along each axis, usually) share one op.
        /// A block shape and the op that fills a block of it.
        type ShapedOp = (Vec<usize>, Arc<dyn rask_graph::Op>);
        let last: std::cell::RefCell<Option<ShapedOp>> = std::cell::RefCell::new(None);
        Ok(Self::from_tasks(label, &token, chunks, |_, ranges| {
            let mut last = last.borrow_mut();
            let same = last.as_ref().filter(|(shape, _)| {
                shape.len() == ranges.len() && shape.iter().zip(ranges).all(|(d, r)| *d == r.len())
            });
            let op = match same {
                Some((_, op)) => Arc::clone(op),
                None => {
                    let shape: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                    let op: Arc<dyn rask_graph::Op> = Arc::new(Full {
                        shape: shape.clone(),
                        value,
                    });
                    *last = Some((shape, Arc::clone(&op)));
                    op
                }
            };
            Task::from_arc(op, [])
        }))
    }

    /// An array cut from an in-memory `ndarray` (Dask's `from_array`).
    pub fn from_array(a: &ArrayD<T>, chunks: impl Into<ChunkSpec>) -> Result<Self, ArrayError> {
        let chunks = Chunks::normalize(chunks, a.shape(), T::DTYPE)?;
        let mut tok = Tokenizer::new();
        // The element type is part of the name: an empty f64 array and an empty i64 one (or
        // u8 [1] and bool [true]) have the same bytes, but are not the same array.
        tok.write_str("array")
            .write_str(T::DTYPE.name())
            .write(&chunks);
        let mut bytes = Vec::with_capacity(a.len() * T::DTYPE.itemsize());
        for x in a.iter() {
            x.put(&mut bytes);
        }
        tok.write_bytes(&bytes);
        drop(bytes);
        Ok(Self::from_tasks(
            "array",
            &tok.finish(),
            chunks,
            |_, ranges| {
                let block = a
                    .slice_each_axis(|ax| {
                        let r = &ranges[ax.axis.index()];
                        Slice::from(r.start..r.end)
                    })
                    .to_owned();
                Task::literal(Value::new(Chunk(block)))
            },
        ))
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.chunks.shape()
    }

    /// Block sizes per axis (Dask's `.chunks`).
    pub fn chunks(&self) -> &Chunks {
        &self.chunks
    }

    /// The largest block size per axis.
    pub fn chunksize(&self) -> Vec<usize> {
        self.chunks.chunksize()
    }

    /// Blocks per axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.chunks.numblocks()
    }

    /// The number of blocks.
    pub fn npartitions(&self) -> usize {
        self.chunks.npartitions()
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.chunks.ndim()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        T::DTYPE
    }

    /// The number of elements.
    pub fn size(&self) -> usize {
        self.shape().iter().product()
    }

    /// The bytes the whole array would take.
    pub fn nbytes(&self) -> usize {
        self.size() * T::DTYPE.itemsize()
    }

    /// The layer name of its blocks.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key of the block at `index`.
    pub fn key(&self, index: &[u32]) -> Key {
        Key::with_name(&self.name, index.iter().copied())
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

/// A shape as Python writes a tuple: `(3,)`, `(1000, 4000)`, `()`.
pub(crate) fn py_tuple(v: &[usize]) -> String {
    match v {
        [x] => format!("({x},)"),
        _ => format!(
            "({})",
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl<T: Element> fmt::Display for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rask.Array<{}, shape={}, dtype={}, chunksize={}, chunktype=ndarray>",
            self.label,
            py_tuple(&self.shape()),
            T::DTYPE,
            py_tuple(&self.chunksize())
        )
    }
}

impl<T: Element> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Cheap sources (constant blocks) copied into their readers, first.
fn inline_cheap(g: &Graph, keep: &KeySet) -> Graph {
    g.inline_cheap(keep)
}
rask_graph::register_pass!("array", 0, "inline-cheap", inline_cheap);

/// Chains of blockwise operations run as one task per block, last.
fn fuse_linear(g: &Graph, keep: &KeySet) -> Graph {
    g.fuse_linear(keep)
}
rask_graph::register_pass!("array", 1000, "fuse-linear", fuse_linear);

impl<T: Element> Collection for Array<T> {
    type Output = ArrayD<T>;

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn output_keys(&self) -> Vec<Key> {
        rask_graph::layers::grid(&self.chunks.numblocks())
            .map(|i| self.key(&i))
            .collect()
    }

    fn finalize(&self, values: Vec<Value>) -> Result<ArrayD<T>, ComputeError> {
        let blocks = self.chunks.blocks();
        if blocks.len() == 1 {
            let block = take_block::<T>(&self.key(&blocks[0]), values.into_iter().next())?;
            // Blocks may be views with any strides (a reversal is one); results are in C order.
            return Ok(if block.is_standard_layout() {
                block
            } else {
                block.as_standard_layout().into_owned()
            });
        }
        let mut out =
            crate::chunk::filled(&self.shape(), T::default()).map_err(|e| assembly_error(&e))?;
        for (index, value) in blocks.iter().zip(values) {
            let ranges = self.chunks.block_ranges(index);
            let block = take_block::<T>(&self.key(index), Some(value))?;
            out.slice_each_axis_mut(|ax| {
                let r = &ranges[ax.axis.index()];
                Slice::from(r.start..r.end)
            })
            .assign(&block);
        }
        Ok(out)
    }

    /// Array tasks are heavy: the passes registered for `"array"` (elementwise chains fused
    /// into the reductions that read them, transposes into products, random samples into
    /// histograms, then linear chains) run over the culled graph, each only when its op type is
    /// there.
    fn optimized_graph(&self) -> Result<Graph, ComputeError> {
        Collection::check(self)?;
        Ok(rask_graph::optimize::optimize(
            "array",
            &self.graph,
            &self.output_keys(),
        )?)
    }

    fn check(&self) -> Result<(), ComputeError> {
        Array::check(self).map_err(ComputeError::collection)
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Self {
            graph,
            ..self.clone()
        }
    }
}

fn take_block<T: Element>(key: &Key, value: Option<Value>) -> Result<ArrayD<T>, ComputeError> {
    let value = value.ok_or(ComputeError::ResultCount {
        expected: 1,
        found: 0,
    })?;
    if crate::chunk::block_view::<T>(&value).is_err() {
        return Err(ComputeError::ResultType {
            key: key.clone(),
            expected: std::any::type_name::<Chunk<T>>(),
            found: value.type_name(),
        });
    }
    // A constant block is made in memory here: that can fail for want of memory.
    crate::chunk::take_array::<T>(value).map_err(|e| assembly_error(&e))
}

/// The error of a result that cannot be made in memory.
fn assembly_error(e: &rask_graph::TaskError) -> ComputeError {
    ComputeError::collection(ArrayError::Shape {
        what: "compute".into(),
        message: format!("the result cannot be assembled: {e}"),
    })
}

/// The scalar of a 0-d result (a full reduction), from the `ArrayD` that `compute` returns.
///
/// ```
/// use rask_array::{Array, IntoScalar, Reduction};
/// use rask_graph::Collection;
///
/// let s = Array::<i64>::ones(&[10], 3usize).unwrap().sum(Reduction::all()).unwrap();
/// assert_eq!(s.compute_on(&rask_local::SyncScheduler, &[]).unwrap().into_scalar().unwrap(), 10);
/// ```
pub trait IntoScalar<T> {
    /// The single element of a 0-d array, or an error naming the shape.
    fn into_scalar(self) -> Result<T, ArrayError>;
}

impl<T: Clone> IntoScalar<T> for ArrayD<T> {
    fn into_scalar(self) -> Result<T, ArrayError> {
        if self.ndim() != 0 {
            return Err(ArrayError::Shape {
                what: "into_scalar".into(),
                message: format!("an array of shape {:?} is not a scalar", self.shape()),
            });
        }
        self.iter()
            .next()
            .cloned()
            .ok_or_else(|| ArrayError::Shape {
                what: "into_scalar".into(),
                message: "an empty 0-d array".into(),
            })
    }
}
