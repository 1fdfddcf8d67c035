//! `histogram` (NumPy's and `da.histogram`'s semantics) and `bincount`.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Args, Key, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::chunks::Chunks;
use crate::element::Element;
use crate::error::ArrayError;
use crate::reduce::{Combine, ReduceKind};

/// NumPy's `linspace(lo, hi, n + 1)`: the bin edges.
fn edges(lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let step = (hi - lo) / bins as f64;
    let mut e: Vec<f64> = (0..=bins).map(|i| lo + i as f64 * step).collect();
    if let Some(last) = e.last_mut() {
        *last = hi;
    }
    e
}

/// Counts one block's values into `bins` equal bins over `[lo, hi]` (the last bin closed;
/// values outside and NaN ignored), as NumPy does, edge corrections included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistogramBlock<T> {
    bins: usize,
    lo: f64,
    hi: f64,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for HistogramBlock<T> {
    fn name(&self) -> &str {
        "histogram-chunk"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let block = block_view::<T>(&args[0])?;
        let e = edges(self.lo, self.hi, self.bins);
        let norm = self.bins as f64 / (self.hi - self.lo);
        let mut counts = vec![0u64; self.bins];
        for x in block.iter() {
            let x = x.to_f64();
            if !(x >= self.lo && x <= self.hi) {
                continue;
            }
            let mut i = (((x - self.lo) * norm) as usize).min(self.bins - 1);
            // The float division can land one bin off an edge: check against the edges.
            if x < e[i] {
                i = i.saturating_sub(1);
            } else if i + 1 < self.bins && x >= e[i + 1] {
                i += 1;
            }
            counts[i] += 1;
        }
        Ok(Value::new(Chunk(
            ArrayD::from_shape_vec(IxDyn(&[self.bins]), counts)
                .map_err(|e| TaskError::new(e.to_string()))?,
        )))
    }
}

/// Counts one block's values `v` in `0..length` (NumPy's `bincount`); a negative value or
/// one past `length` is an error naming it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BincountBlock<T> {
    length: usize,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for BincountBlock<T> {
    fn name(&self) -> &str {
        "bincount-chunk"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let block = block_view::<T>(&args[0])?;
        let mut counts = vec![0u64; self.length];
        for x in block.iter() {
            let v = x
                .as_int()
                .ok_or_else(|| TaskError::new("bincount counts integers"))?;
            if v < 0 || v >= self.length as i128 {
                return Err(TaskError::new(format!(
                    "bincount: value {v} is outside 0..{}",
                    self.length
                )));
            }
            counts[v as usize] += 1;
        }
        Ok(Value::new(Chunk(
            ArrayD::from_shape_vec(IxDyn(&[self.length]), counts)
                .map_err(|e| TaskError::new(e.to_string()))?,
        )))
    }
}

macro_rules! register_hist {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(HistogramBlock<$t>, concat!("rask.array.histogram-block<", stringify!($t), ">"));
        rask_graph::register_op!(BincountBlock<$t>, concat!("rask.array.bincount-block<", stringify!($t), ">"));
    )*};
}
register_hist!(f64, f32, i64, i32, u64, u32, u8, bool);

impl<T: Element> Array<T> {
    /// The histogram of all elements: `bins` equal bins over `range` (NumPy's and
    /// `da.histogram`'s semantics: the last bin includes its right edge; values outside the
    /// range and NaN are not counted). Returns the lazy counts and the `bins + 1` edges.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    ///
    /// let x = Array::from_array(&ndarray::arr1(&[0.0, 0.5, 1.0, 1.5, 2.0, 9.0]).into_dyn(), 2usize).unwrap();
    /// let (counts, edges) = x.histogram(4, (0.0, 2.0)).unwrap();
    /// assert_eq!(edges, vec![0.0, 0.5, 1.0, 1.5, 2.0]);
    /// let c = counts.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(c.as_slice().unwrap(), &[1, 1, 1, 2]);
    /// ```
    pub fn histogram(
        &self,
        bins: usize,
        range: (f64, f64),
    ) -> Result<(Array<u64>, Vec<f64>), ArrayError> {
        self.check()?;
        let (lo, hi) = range;
        if bins == 0 || lo >= hi || !lo.is_finite() || !hi.is_finite() {
            return Err(ArrayError::Shape {
                what: "histogram".into(),
                message: format!(
                    "needs at least one bin and a finite range lo < hi, got {bins} bins on [{lo}, {hi}]"
                ),
            });
        }
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&(bins as u64, lo, hi))
            .finish();
        let op: Arc<dyn Op> = Arc::new(HistogramBlock::<T> {
            bins,
            lo,
            hi,
            _t: std::marker::PhantomData,
        });
        let counts = self.counts_tree("histogram", &token, bins, op);
        Ok((counts, edges(lo, hi, bins)))
    }

    /// The counts of the values in `0..length` (NumPy's `bincount` with `minlength = length`;
    /// every value must lie in that range, or the computation fails naming it).
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[0i64, 1, 1, 3, 1]).into_dyn(), 2usize).unwrap();
    /// let c = x.bincount(5).unwrap().compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(c.as_slice().unwrap(), &[1, 3, 0, 1, 0]);
    /// ```
    pub fn bincount(&self, length: usize) -> Result<Array<u64>, ArrayError> {
        self.check()?;
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&(length as u64))
            .finish();
        let op: Arc<dyn Op> = Arc::new(BincountBlock::<T> {
            length,
            _t: std::marker::PhantomData,
        });
        Ok(self.counts_tree("bincount", &token, length, op))
    }

    /// Per-block counts from `op`, summed in a tree 8 at a time, as a 1-d array of `len`.
    fn counts_tree(&self, label: &str, token: &str, len: usize, op: Arc<dyn Op>) -> Array<u64> {
        let mut graph = self.graph().clone();
        let mut layer = Layer::with_capacity(
            key_name(&format!("{label}-chunk"), token),
            self.npartitions(),
        );
        let blocks = self.chunks().blocks();
        for (n, index) in blocks.iter().enumerate() {
            layer.insert(
                [n as u32],
                Task::from_arc(Arc::clone(&op), [Arg::Key(self.key(index))]),
            );
        }
        let mut name = Arc::clone(layer.name());
        let mut count = blocks.len();
        graph.add_layer(layer);
        let combine: Arc<dyn Op> = Arc::new(Combine::<u64>::sum());
        let mut level = 0u64;
        loop {
            let next = count.div_ceil(8).max(1);
            let last = next == 1;
            let prefix = if last {
                label.to_string()
            } else {
                format!("{label}-partial")
            };
            let mut l = Layer::new(key_name(
                &prefix,
                &Tokenizer::new().write_str(token).write(&level).finish(),
            ));
            for j in 0..next {
                let inputs = (j * 8..((j + 1) * 8).min(count))
                    .map(|i| Arg::Key(Key::with_name(&name, [i as u32])));
                l.insert([j as u32], Task::from_arc(Arc::clone(&combine), inputs));
            }
            name = Arc::clone(l.name());
            graph.add_layer(l);
            count = next;
            level += 1;
            if last {
                break;
            }
        }
        Array::from_graph(graph, name, Chunks::from_axes(vec![vec![len]]), label)
    }
}

/// Used by the tests: the counts of `values` the plain way (edges searched, not computed).
#[doc(hidden)]
pub fn histogram_direct(
    values: impl IntoIterator<Item = f64>,
    bins: usize,
    range: (f64, f64),
) -> Vec<u64> {
    let e = edges(range.0, range.1, bins);
    let mut counts = vec![0u64; bins];
    for x in values {
        if !(x >= range.0 && x <= range.1) {
            continue;
        }
        let i = e
            .partition_point(|edge| *edge <= x)
            .saturating_sub(1)
            .min(bins - 1);
        counts[i] += 1;
    }
    counts
}

impl Combine<u64> {
    /// Elementwise sums of partial results.
    pub(crate) fn sum() -> Self {
        Combine::new(ReduceKind::Sum, Vec::new())
    }
}
