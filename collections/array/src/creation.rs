//! More ways to make arrays: `arange`, `linspace`, `eye`, `from_fn`, `*_like`.

use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rask_graph::delayed::ClosureOp;
use rask_graph::tokenize::{Tokenizer, key_name, unique_token};
use rask_graph::{Args, Graph, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::Chunk;
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::Element;
use crate::error::ArrayError;

/// `start + i * step` for `i` in `0..len`, as `T`; with `last`, the final element is exactly it
/// (linspace's endpoint).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RangeBlock<T> {
    first: u64,
    len: usize,
    start: f64,
    step: f64,
    last: Option<(u64, f64)>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for RangeBlock<T> {
    fn name(&self) -> &str {
        "arange"
    }

    fn run(&self, _: Args) -> Result<Value, TaskError> {
        let v: Vec<T> = (0..self.len as u64)
            .map(|i| {
                let k = self.first + i;
                match self.last {
                    Some((at, value)) if k == at => T::from_f64(value),
                    _ => T::from_f64(self.start + k as f64 * self.step),
                }
            })
            .collect();
        Ok(Value::new(Chunk(
            ArrayD::from_shape_vec(IxDyn(&[self.len]), v)
                .map_err(|e| TaskError::new(e.to_string()))?,
        )))
    }
}

/// A block of the identity matrix: ones where the global row equals the global column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EyeBlock<T> {
    rows: Range<usize>,
    cols: Range<usize>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for EyeBlock<T> {
    fn name(&self) -> &str {
        "eye"
    }

    fn run(&self, _: Args) -> Result<Value, TaskError> {
        let mut a = ArrayD::from_elem(IxDyn(&[self.rows.len(), self.cols.len()]), T::zero());
        for r in self.rows.clone() {
            if self.cols.contains(&r) {
                a[[r - self.rows.start, r - self.cols.start]] = T::one();
            }
        }
        Ok(Value::new(Chunk(a)))
    }
}

macro_rules! register_creation {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(RangeBlock<$t>, concat!("rask.array.range-block<", stringify!($t), ">"));
        rask_graph::register_op!(EyeBlock<$t>, concat!("rask.array.eye-block<", stringify!($t), ">"));
    )*};
}
register_creation!(f64, f32, i64, i32, u64, u32, u8, bool);

impl<T: Element> Array<T> {
    /// An array with one task per block, made by `task(block index, its ranges)`.
    pub(crate) fn from_tasks(
        label: &str,
        token: &str,
        chunks: Chunks,
        task: impl Fn(&[u32], &[Range<usize>]) -> Task,
    ) -> Self {
        let mut layer = Layer::with_capacity(key_name(label, token), chunks.npartitions());
        // Walked lazily, with one buffer for the ranges: no allocation per block but its task.
        let starts = chunks.starts();
        let mut ranges: Vec<Range<usize>> = Vec::with_capacity(starts.len());
        for index in rask_graph::layers::grid(&chunks.numblocks()) {
            ranges.clear();
            ranges.extend(
                (starts.iter().zip(&index)).map(|(s, i)| s[*i as usize]..s[*i as usize + 1]),
            );
            let t = task(&index, &ranges);
            layer.insert(index, t);
        }
        let name = Arc::clone(layer.name());
        let mut graph = Graph::new();
        graph.add_layer(layer);
        Array::from_graph(graph, name, chunks, label)
    }

    /// `start, start + step, …` below `stop` (NumPy's `arange`; `step` may be negative).
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::<i64>::arange(2.0, 11.0, 3.0, 2usize).unwrap();
    /// assert_eq!(x.compute_on(&rask_local::SyncScheduler, &[]).unwrap().as_slice().unwrap(), &[2, 5, 8]);
    /// ```
    pub fn arange(
        start: f64,
        stop: f64,
        step: f64,
        chunks: impl Into<ChunkSpec>,
    ) -> Result<Self, ArrayError> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !stop.is_finite() {
            return Err(ArrayError::Shape {
                what: "arange".into(),
                message: format!(
                    "needs finite bounds and a non-zero step, got {start}, {stop}, {step}"
                ),
            });
        }
        let len = ((stop - start) / step).ceil().max(0.0) as usize;
        Self::range("arange", len, start, step, None, chunks)
    }

    /// `num` evenly spaced values from `start` to `stop`, both included (NumPy's `linspace`).
    pub fn linspace(
        start: f64,
        stop: f64,
        num: usize,
        chunks: impl Into<ChunkSpec>,
    ) -> Result<Self, ArrayError> {
        let step = if num > 1 {
            (stop - start) / (num - 1) as f64
        } else {
            0.0
        };
        let last = (num > 1).then(|| ((num - 1) as u64, stop));
        Self::range("linspace", num, start, step, last, chunks)
    }

    fn range(
        label: &str,
        len: usize,
        start: f64,
        step: f64,
        last: Option<(u64, f64)>,
        chunks: impl Into<ChunkSpec>,
    ) -> Result<Self, ArrayError> {
        let chunks = Chunks::normalize(chunks, &[len], T::DTYPE)?;
        let token = Tokenizer::new()
            .write_str(label)
            .write(&(len as u64, start, step, last, T::DTYPE.name()))
            .write(&chunks)
            .finish();
        Ok(Self::from_tasks(label, &token, chunks, |_, r| {
            Task::new(
                RangeBlock::<T> {
                    first: r[0].start as u64,
                    len: r[0].len(),
                    start,
                    step,
                    last,
                    _t: std::marker::PhantomData,
                },
                [],
            )
        }))
    }

    /// The `n × n` identity matrix.
    pub fn eye(n: usize, chunks: impl Into<ChunkSpec>) -> Result<Self, ArrayError> {
        let chunks = Chunks::normalize(chunks, &[n, n], T::DTYPE)?;
        let token = Tokenizer::new()
            .write_str("eye")
            .write(&(n as u64, T::DTYPE.name()))
            .write(&chunks)
            .finish();
        Ok(Self::from_tasks("eye", &token, chunks, |_, r| {
            Task::new(
                EyeBlock::<T> {
                    rows: r[0].clone(),
                    cols: r[1].clone(),
                    _t: std::marker::PhantomData,
                },
                [],
            )
        }))
    }

    /// An array whose blocks `f` makes, given each block's ranges in the array; a block of the
    /// wrong shape fails its task with an error naming both shapes. (`f` runs on the local
    /// schedulers; it cannot be sent to other processes.)
    pub fn from_fn(
        shape: &[usize],
        chunks: impl Into<ChunkSpec>,
        f: impl Fn(&[Range<usize>]) -> ArrayD<T> + Send + Sync + 'static,
    ) -> Result<Self, ArrayError> {
        let chunks = Chunks::normalize(chunks, shape, T::DTYPE)?;
        let f = Arc::new(f);
        Ok(Self::from_tasks(
            "from-fn",
            &unique_token(),
            chunks,
            |_, r| {
                let (f, ranges) = (Arc::clone(&f), r.to_vec());
                let op = ClosureOp::new("from-fn", move |_| {
                    let block = f(&ranges);
                    let want: Vec<usize> = ranges.iter().map(Range::len).collect();
                    if block.shape() != want.as_slice() {
                        return Err(TaskError::new(format!(
                            "from_fn made a block of shape {:?} for ranges {ranges:?} (shape {want:?})",
                            block.shape()
                        )));
                    }
                    Ok(Value::new(Chunk(block)))
                });
                Task::new(op, [])
            },
        ))
    }

    /// Ones in the shape and chunks of `other`.
    pub fn ones_like<U: Element>(other: &Array<U>) -> Result<Self, ArrayError> {
        Self::ones(&other.shape(), other.chunks().clone())
    }

    /// Zeros in the shape and chunks of `other`.
    pub fn zeros_like<U: Element>(other: &Array<U>) -> Result<Self, ArrayError> {
        Self::zeros(&other.shape(), other.chunks().clone())
    }

    /// `value` in the shape and chunks of `other`.
    pub fn full_like<U: Element>(other: &Array<U>, value: T) -> Result<Self, ArrayError> {
        Self::full(&other.shape(), other.chunks().clone(), value)
    }

    /// Like [`empty`](Array::empty), in the shape and chunks of `other`.
    pub fn empty_like<U: Element>(other: &Array<U>) -> Result<Self, ArrayError> {
        Self::empty(&other.shape(), other.chunks().clone())
    }
}
