//! `histogram` (NumPy's and `da.histogram`'s semantics) and `bincount`.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rask_graph::layers::{TreeLevel, reduction_tree};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{
    Arg, Args, Graph, KeyMap, KeySet, Layer, Op, Task, TaskError, Value, downcast_op,
};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::chunks::Chunks;
use crate::element::Element;
use crate::error::ArrayError;
use crate::random::RandomBlock;
use crate::reduce::{Combine, ReduceKind};

/// The most bins a histogram (or values a bincount) may have: 2^27, whose counts take 1 GiB
/// per task. More is refused before anything is allocated.
pub const MAX_BINS: usize = 1 << 27;

/// Refuses a bin count past [`MAX_BINS`].
fn check_bins(what: &'static str, bins: usize) -> Result<(), ArrayError> {
    if bins > MAX_BINS {
        return Err(ArrayError::TooManyBins {
            what,
            bins,
            max: MAX_BINS,
        });
    }
    Ok(())
}

/// How values and edges are scaled so that `hi - lo` does not overflow — 1, or ½ for a range
/// wider than the largest float (`(-1e308, 1e308)`) — and the range's width at that scale.
fn scaled_range(lo: f64, hi: f64) -> (f64, f64) {
    let scale = if (hi - lo).is_finite() { 1.0 } else { 0.5 };
    (scale, hi * scale - lo * scale)
}

/// NumPy's `linspace(lo, hi, n + 1)`: the bin edges (computed at half scale when the range is
/// wider than the largest float).
fn edges(lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let (scale, _) = scaled_range(lo, hi);
    (0..=bins)
        .map(|i| edge_at(lo, hi, scale, bins, i))
        .collect()
}

/// Edge `i` of `bins` equal bins on `[lo, hi]` at `scale` (the last edge is `hi` itself).
fn edge_at(lo: f64, hi: f64, scale: f64, bins: usize, i: usize) -> f64 {
    if i == bins {
        return hi;
    }
    Edges::new(lo, hi, scale, bins).at(i as f64)
}

/// The inner edges of `bins` equal bins on `[lo, hi]` at `scale`: one formula for the edge
/// table and for the binning loop, which works edges out rather than load them (a gather per
/// value, which kept the loop scalar).
#[derive(Clone, Copy)]
struct Edges {
    /// `lo`, scaled.
    lo: f64,
    step: f64,
    /// `/ scale` as `* (1 / scale)`: the same value, scales being powers of two.
    unscale: f64,
}

impl Edges {
    fn new(lo: f64, hi: f64, scale: f64, bins: usize) -> Self {
        Self {
            lo: lo * scale,
            step: (hi * scale - lo * scale) / bins as f64,
            unscale: 1.0 / scale,
        }
    }

    /// Edge `i` (below the last), given as a float.
    #[inline(always)]
    fn at(self, i: f64) -> f64 {
        (self.lo + i * self.step) * self.unscale
    }
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

impl<T> HistogramBlock<T> {
    /// A counter for this histogram's bins (an op decoded from elsewhere may say anything:
    /// its bins are checked before they are allocated).
    fn counter(&self) -> Result<BinCounter, TaskError> {
        if self.bins > MAX_BINS
            || self.bins == 0
            || self.lo.partial_cmp(&self.hi) != Some(std::cmp::Ordering::Less)
        {
            return Err(TaskError::new(format!(
                "histogram: {} bins on [{}, {}] (at most {MAX_BINS}, and lo < hi)",
                self.bins, self.lo, self.hi
            )));
        }
        Ok(BinCounter::new(self.bins, self.lo, self.hi))
    }
}

/// Counts values into equal bins. Four tables take turns, so that a run of values in the
/// same bin (the middle of a normal sample) does not wait on one counter's last increment.
/// [`BinCounter::add_tiles`] as work compiled for each vector level.
struct Add<'a> {
    counter: &'a mut BinCounter,
    values: &'a [f64],
}

impl rask_math::Vectorized for Add<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        self.counter.add_tiles(self.values)
    }
}

struct BinCounter {
    lo: f64,
    hi: f64,
    /// 1, or ½ when `hi - lo` overflows: values are binned at this scale.
    scale: f64,
    norm: f64,
    bins: usize,
    tables: [Vec<u64>; 4],
}

impl BinCounter {
    fn new(bins: usize, lo: f64, hi: f64) -> Self {
        let (scale, width) = scaled_range(lo, hi);
        Self {
            lo,
            hi,
            scale,
            norm: bins as f64 / width,
            bins,
            // One spare bin past the last, for the values outside the range.
            tables: std::array::from_fn(|_| vec![0u64; bins + 1]),
        }
    }

    /// Counts `values`, with loops compiled for the CPU's vector level.
    fn add(&mut self, values: &[f64]) {
        rask_math::vectorized(Add {
            counter: self,
            values,
        });
    }

    /// Counts `values`: a tile's bins worked out first, in a loop without branches (which
    /// vectorizes: values outside the range go to a spare bin past the last), then counted
    /// into four tables in turn (so that runs of one bin do not wait on each other's stores).
    #[inline(always)]
    fn add_tiles(&mut self, values: &[f64]) {
        const TILE: usize = 256;
        let (lo, hi, norm, scale) = (self.lo, self.hi, self.norm, self.scale);
        let last = self.bins - 1;
        let spare = last as u32 + 1;
        let edge = Edges::new(lo, hi, scale, last + 1);
        let last_f = last as f64;
        // Adding 2^52 to a float in [0, 2^52) rounds it to an integer, which its low bits then
        // hold: integer parts and conversions without `as` (whose saturating conversion of a
        // float LLVM does lane by lane) or `floor` (a library call where SSE2 is all there is).
        const ROUND: f64 = 4_503_599_627_370_496.0;
        let [t0, t1, t2, t3] = &mut self.tables;
        let mut bins = [0u32; TILE];
        for tile in values.chunks(TILE) {
            let bins = &mut bins[..tile.len()];
            for (b, x) in bins.iter_mut().zip(tile) {
                let inside = *x >= lo && *x <= hi;
                let x = if inside { *x } else { lo };
                // In range, the product lies in [0, bins]. The float division can land one
                // bin off an edge: the edges correct it.
                let v = ((x * scale - edge.lo) * norm).min(last_f);
                let near = (v + ROUND) - ROUND;
                let t = if near > v { near - 1.0 } else { near };
                let i = ((t + ROUND).to_bits() - ROUND.to_bits()) as usize;
                let below = x < edge.at(t);
                let above = (i < last) & (x >= edge.at(t + 1.0));
                let i = (i + usize::from(above)).saturating_sub(usize::from(below));
                *b = if inside { i as u32 } else { spare };
            }
            let quads = bins.chunks_exact(4);
            let rest = quads.remainder();
            for q in quads {
                t0[q[0] as usize] += 1;
                t1[q[1] as usize] += 1;
                t2[q[2] as usize] += 1;
                t3[q[3] as usize] += 1;
            }
            for b in rest {
                t0[*b as usize] += 1;
            }
        }
    }

    /// Counts values of any element type, converted a batch at a time.
    fn add_iter<T: Element>(&mut self, values: impl Iterator<Item = T>) {
        let mut buf = [0.0f64; 1024];
        let mut n = 0;
        for x in values {
            buf[n] = x.to_f64();
            n += 1;
            if n == buf.len() {
                self.add(&buf);
                n = 0;
            }
        }
        self.add(&buf[..n]);
    }

    fn finish(self) -> Result<Value, TaskError> {
        let [mut a, b, c, d] = self.tables;
        for t in [b, c, d] {
            a.iter_mut().zip(t).for_each(|(x, y)| *x += y);
        }
        a.pop();
        let n = a.len();
        Ok(Value::new(Chunk(
            ArrayD::from_shape_vec(IxDyn(&[n]), a).map_err(|e| TaskError::new(e.to_string()))?,
        )))
    }
}

impl<T: Element> Op for HistogramBlock<T> {
    fn name(&self) -> &str {
        "histogram-chunk"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let block = block_view::<T>(&args[0])?;
        let mut counter = self.counter()?;
        match block.as_slice_memory_order() {
            Some(values) => counter.add_iter(values.iter().copied()),
            None => counter.add_iter(block.iter().copied()),
        }
        counter.finish()
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

/// A random block's values counted as they are drawn: the block is never made. What
/// [`fuse_random_histograms`] puts in place of a histogram reading a random block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RandomHistogram {
    random: RandomBlock,
    hist: HistogramBlock<f64>,
}

impl Op for RandomHistogram {
    fn name(&self) -> &str {
        "random-histogram-chunk"
    }

    fn run(&self, _: Args) -> Result<Value, TaskError> {
        let mut counter = self.hist.counter()?;
        self.random.stream_f64(&mut |xs| counter.add(xs))?;
        counter.finish()
    }
}

rask_graph::register_op!(RandomHistogram, "rask.array.random-histogram");

// A histogram of random samples counts them as they are drawn.
rask_graph::register_pass!(
    "array",
    30,
    "fuse-random-histograms",
    HistogramBlock<f64>,
    fuse_random_histograms
);

/// Replaces every histogram block reading a floating-point random block that nothing else
/// reads with a [`RandomHistogram`]: the samples are counted in batches as they are drawn, the
/// same numbers as the block would hold. Keys in `keep` are never fused away.
pub(crate) fn fuse_random_histograms(graph: &Graph, keep: &KeySet) -> Graph {
    let readers = graph.reader_counts();
    let mut replaced: KeyMap<Task> = KeyMap::default();
    let mut absorbed = KeySet::default();
    for (key, task) in graph.iter() {
        let Some(hist) = downcast_op::<HistogramBlock<f64>>(task.op()) else {
            continue;
        };
        let [Arg::Key(src)] = task.args() else {
            continue;
        };
        if readers.get(src) != 1 || keep.contains(src) {
            continue;
        }
        let Some(random) = graph
            .get(src)
            .and_then(|t| downcast_op::<RandomBlock>(t.op()))
            .filter(|r| r.draws_f64())
        else {
            continue;
        };
        absorbed.insert(src.clone());
        let op = RandomHistogram {
            random: random.clone(),
            hist: hist.clone(),
        };
        replaced.insert(key, Task::new(op, []));
    }
    graph.replace_tasks(replaced, &absorbed)
}

/// Counts one block's values `v` in `0..length` (NumPy's `bincount`); a negative value or
/// one past `length` is an error naming it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BincountBlock<T> {
    length: usize,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for BincountBlock<T> {
    fn name(&self) -> &str {
        "bincount-chunk"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let block = block_view::<T>(&args[0])?;
        if self.length > MAX_BINS {
            return Err(TaskError::new(format!(
                "bincount: {} bins are more than the {MAX_BINS} a task's counts may hold",
                self.length
            )));
        }
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

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
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
        check_bins("histogram", bins)?;
        let edges = edges(lo, hi, bins);
        // As NumPy: every bin must have a positive width. And the bins per unit of range must
        // be finite, so that values find their bins (subnormal widths do not).
        let norm = bins as f64 / scaled_range(lo, hi).1;
        if edges.windows(2).any(|w| w[0] >= w[1]) || !norm.is_finite() {
            return Err(ArrayError::BinsTooNarrow { bins, lo, hi });
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
        Ok((counts, edges))
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
        check_bins("bincount", length)?;
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
        let blocks = self.chunks().blocks();
        let layer = Layer::per_partition(
            key_name(&format!("{label}-chunk"), token),
            blocks.len(),
            |n| Task::from_arc(Arc::clone(&op), [Arg::Key(self.key(&blocks[n as usize]))]),
        );
        let first = Arc::clone(layer.name());
        graph.add_layer(layer);
        let combine: Arc<dyn Op> = Arc::new(Combine::<u64>::sum());
        // The collection kit's tree, keeping its one axis: the result is block [0].
        let name = reduction_tree(&mut graph, first, &[blocks.len()], &[0], 8, true, |level| {
            let prefix = if level.last {
                label.to_string()
            } else {
                format!("{label}-partial")
            };
            let t = Tokenizer::new()
                .write_str(token)
                .write(&(level.depth as u64))
                .finish();
            let combine = Arc::clone(&combine);
            TreeLevel::new(key_name(&prefix, &t), move |_, inputs| {
                Task::from_arc(Arc::clone(&combine), inputs)
            })
        });
        Array::from_graph(graph, name, Chunks::from_axes(vec![vec![len]]), label)
    }
}

impl Combine<u64> {
    /// Elementwise sums of partial results.
    pub(crate) fn sum() -> Self {
        Combine::new(ReduceKind::Sum, Vec::new())
    }
}
