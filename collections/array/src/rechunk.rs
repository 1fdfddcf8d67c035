//! `rechunk`: the same array cut into other blocks, with Dask's planning ("tasks" method):
//! when going straight from the old blocks to the new would make too many tasks (every new
//! block gathering pieces of many old ones), it goes through intermediate chunkings whose
//! blocks stay under a memory limit. Each step assembles each new block from pieces of the
//! old ones (`rechunk-merge`), read where they lie. An intermediate step copies nothing: its
//! blocks are [`Mosaic`]s, records of which regions of the original blocks they hold, so the
//! last step copies every element once, straight from the original blocks into the final
//! ones. A new block that is a whole old block is that block; one that is part of an old block
//! is cut out.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};
use rask_graph::ops::Identity;
use rask_graph::tokenize::Tokenizer;
use rask_graph::{Arg, Args, Datum, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, ConstChunk, block_view, take_array};
use crate::chunks::{AxisChunks, ChunkSpec, Chunks, DEFAULT_CHUNK_BYTES};
use crate::element::Element;
use crate::elementwise::SubBlock;
use crate::error::ArrayError;

/// How many times the blocks of the old and new chunkings together a direct rechunk may cost
/// in tasks before intermediate steps are planned (Dask's `array.rechunk.threshold`).
pub const DEFAULT_THRESHOLD: f64 = 4.0;

/// The pieces of old blocks that make each new block along one axis: per new block, a list of
/// (old block, range within it).
pub type AxisPieces = Vec<Vec<(usize, Range<usize>)>>;

/// The pieces of the old blocks that make each new block, axis by axis (Dask's
/// `old_to_new`). Zero-size new blocks get one empty piece.
///
/// ```
/// use rask_array::rechunk::old_to_new;
/// let p = old_to_new(&[vec![10, 10, 10, 10, 10]], &[vec![25, 5, 20]]);
/// assert_eq!(p[0][0], vec![(0, 0..10), (1, 0..10), (2, 0..5)]);
/// assert_eq!(p[0][1], vec![(2, 5..10)]);
/// ```
pub fn old_to_new(old: &[Vec<usize>], new: &[Vec<usize>]) -> Vec<AxisPieces> {
    old.iter()
        .zip(new)
        .map(|(o, n)| intersect_1d(o, n))
        .collect()
}

/// One axis: the breakpoints of both cuttings in order (old before new at equal positions),
/// walked interval by interval.
fn intersect_1d(old: &[usize], new: &[usize]) -> AxisPieces {
    let cum = |v: &[usize], label: bool| -> Vec<(usize, bool)> {
        let mut s = 0;
        let mut out = vec![(0, label)];
        for c in v {
            s += c;
            out.push((s, label));
        }
        out
    };
    // `false` = old, `true` = new; a stable sort by position keeps old first at ties.
    let mut breaks = cum(old, false);
    breaks.extend(cum(new, true));
    breaks.sort_by_key(|(p, _)| *p);
    let last_old_chunk = old.len().saturating_sub(1);
    let last_old_pos: usize = old.iter().sum();
    let (mut last_end, mut old_idx, mut last_o_end) = (0usize, 0usize, 0usize);
    let mut ret: AxisPieces = Vec::new();
    let mut cur: Vec<(usize, Range<usize>)> = Vec::new();
    for k in 1..breaks.len() {
        let (br, is_new) = breaks[k];
        let (pbr, p_is_new) = breaks[k - 1];
        let start = if p_is_new {
            if !cur.is_empty() {
                ret.push(std::mem::take(&mut cur));
            }
            last_end
        } else {
            0
        };
        let end = br - pbr + start;
        last_end = end;
        if br == pbr {
            if !is_new {
                old_idx += 1;
                last_o_end = end;
            }
            if is_new && p_is_new {
                // A zero-size new block: one empty piece.
                if br == last_old_pos {
                    cur.push((last_old_chunk, last_o_end..last_o_end));
                    continue;
                }
            } else {
                continue;
            }
        }
        cur.push((old_idx, start..end));
        if !is_new {
            old_idx += 1;
            last_o_end = end;
        }
    }
    if !cur.is_empty() {
        ret.push(cur);
    }
    ret
}

fn nblocks(c: &[Vec<usize>]) -> f64 {
    c.iter().map(|a| a.len() as f64).product()
}

fn largest_block(c: &[Vec<usize>]) -> f64 {
    c.iter()
        .map(|a| a.iter().copied().max().unwrap_or(0) as f64)
        .product()
}

/// Dask's estimate of the tasks a direct rechunk from `old` to `new` makes.
fn estimate_graph_size(old: &[Vec<usize>], new: &[Vec<usize>]) -> f64 {
    old.iter()
        .zip(new)
        .map(|(o, n)| {
            if o == n {
                o.len() as f64
            } else {
                (o.len() + n.len()) as f64 - 1.0
            }
        })
        .product()
}

/// Splits each size into the fewest near-equal parts no wider than `max_width`, smaller parts
/// first (Dask's `divide_to_width`); sizes of 0 vanish.
///
/// ```
/// use rask_array::rechunk::divide_to_width;
/// assert_eq!(divide_to_width(&[8, 2, 9, 10, 11, 12], 4), vec![4, 4, 2, 3, 3, 3, 3, 3, 4, 3, 4, 4, 4, 4, 4]);
/// ```
pub fn divide_to_width(desired: &[usize], max_width: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for &c in desired {
        let n = (c as f64 / max_width.max(1) as f64).ceil() as usize;
        if n > 0 {
            out.extend(even_parts(c, n));
        }
    }
    out
}

/// `n` (at least 1) near-equal parts of `e`, the smaller first.
pub(crate) fn even_parts(e: usize, n: usize) -> Vec<usize> {
    let q = e.div_ceil(n);
    let mut v = vec![q; n];
    for x in v.iter_mut().take(q * n - e) {
        *x -= 1;
    }
    v
}

/// Merges neighbouring sizes until at most `max_number` remain, always the adjacent pair
/// with the smallest sum, the leftmost on ties (Dask's `merge_to_number`).
///
/// ```
/// use rask_array::rechunk::merge_to_number;
/// assert_eq!(merge_to_number(&[5, 1, 1, 15, 10], 3), vec![7, 15, 10]);
/// assert_eq!(merge_to_number(&[10; 10], 3), vec![40, 30, 30]);
/// ```
pub fn merge_to_number(desired: &[usize], max_number: usize) -> Vec<usize> {
    let max_number = max_number.max(1);
    if desired.len() <= max_number {
        return desired.to_vec();
    }
    let w = desired[0];
    if w > 0 && desired.iter().all(|d| *d == w) {
        let total = desired.len() * w;
        let dw = total / max_number;
        let width = w * (dw / w);
        let adjust = (total - max_number * width) / w;
        let mut out = vec![width + w; adjust];
        out.extend(std::iter::repeat_n(width, max_number - adjust));
        return out;
    }
    let mut chunks = desired.to_vec();
    let mut nmerges = desired.len() - max_number;
    let mut heap: BinaryHeap<Reverse<(usize, usize, usize)>> = (0..chunks.len() - 1)
        .map(|i| Reverse((chunks[i] + chunks[i + 1], i, i + 1)))
        .collect();
    while nmerges > 0 {
        let Some(Reverse((w, i, mut j))) = heap.pop() else {
            break;
        };
        if chunks[j] == 0 {
            // `j` was merged into a later block: pair `i` with the next one still there.
            while j < chunks.len() && chunks[j] == 0 {
                j += 1;
            }
            if j < chunks.len() {
                heap.push(Reverse((chunks[i] + chunks[j], i, j)));
            }
            continue;
        } else if chunks[i] + chunks[j] != w {
            heap.push(Reverse((chunks[i] + chunks[j], i, j)));
            continue;
        }
        chunks[i] = 0;
        chunks[j] = w;
        nmerges -= 1;
    }
    chunks.into_iter().filter(|c| *c != 0).collect()
}

/// Merges blocks of `old` towards `new` on the axes where that shrinks the graph most per
/// growth of block size, within `limit` elements per block. Returns the chunks and whether
/// the limit stopped it.
fn find_merge_rechunk(
    old: &[Vec<usize>],
    new: &[Vec<usize>],
    limit: f64,
) -> (Vec<Vec<usize>>, bool) {
    let ndim = old.len();
    let ow: Vec<usize> = old
        .iter()
        .map(|a| a.iter().copied().max().unwrap_or(0))
        .collect();
    let nw: Vec<usize> = new
        .iter()
        .map(|a| a.iter().copied().max().unwrap_or(0))
        .collect();
    let gse: Vec<f64> = (0..ndim)
        .map(|d| new[d].len() as f64 / old[d].len() as f64)
        .collect();
    let bse: Vec<f64> = (0..ndim)
        .map(|d| nw[d] as f64 / if ow[d] != 0 { ow[d] as f64 } else { 1.0 })
        .collect();
    let key = |d: usize| -> f64 {
        let mut b = bse[d];
        if b == 1.0 {
            b = 1.0 + 1e-9;
        }
        if b > 0.0 { gse[d].ln() / b.ln() } else { 0.0 }
    };
    let mut order: Vec<usize> = (0..ndim).filter(|d| gse[*d] <= 1.0).collect();
    order.sort_by(|a, b| key(*a).total_cmp(&key(*b)));
    let mut lbs: u128 = ow.iter().map(|w| *w as u128).product();
    let mut chunks = old.to_vec();
    let mut hit = false;
    for d in order {
        let div = if ow[d] != 0 { ow[d] as u128 } else { 1 };
        let new_lbs = lbs * nw[d] as u128 / div;
        if new_lbs as f64 <= limit {
            chunks[d] = new[d].clone();
            lbs = new_lbs;
        } else {
            let width = (limit * ow[d] as f64 / lbs as f64) as usize;
            let c = divide_to_width(&new[d], width);
            if c.len() <= old[d].len() {
                let m = c.iter().copied().max().unwrap_or(0) as u128;
                lbs = lbs * m / div;
                chunks[d] = c;
            }
            hit = true;
        }
    }
    (chunks, hit)
}

/// Splits blocks of `old` towards `new` where that keeps the graph within `graph_limit`.
fn find_split_rechunk(old: &[Vec<usize>], new: &[Vec<usize>], graph_limit: f64) -> Vec<Vec<usize>> {
    let mut chunks = old.to_vec();
    for d in 0..old.len() {
        let g = estimate_graph_size(&chunks, new);
        if g > graph_limit {
            break;
        }
        if old[d].len() > new[d].len() {
            continue;
        }
        let max_number = (old[d].len() as f64 * graph_limit / g) as usize;
        let c = merge_to_number(&new[d], max_number);
        let max_c = c.iter().copied().max().unwrap_or(0);
        let max_o = old[d].iter().copied().max().unwrap_or(0);
        if c.len() >= old[d].len() && max_c <= max_o {
            chunks[d] = c;
        }
    }
    chunks
}

/// The chunkings a rechunk from `old` to `new` goes through, ending with `new` (Dask's
/// `plan_rechunk`): `itemsize` bytes per element, `threshold` (default 4) bounding the tasks
/// of a step against the blocks of both ends, `block_size_limit` (bytes, default 128 MiB)
/// bounding the blocks of the intermediate steps.
///
/// ```
/// use rask_array::rechunk::plan_rechunk;
/// let (c, f) = (vec![20, 20], vec![2; 20]);
/// let steps = plan_rechunk(&[f.clone(), c.clone()], &[c.clone(), f.clone()], 1, None, Some(1e7));
/// assert_eq!(steps, vec![vec![c.clone(), c.clone()], vec![c, f]]);
/// ```
pub fn plan_rechunk(
    old: &[Vec<usize>],
    new: &[Vec<usize>],
    itemsize: usize,
    threshold: Option<f64>,
    block_size_limit: Option<f64>,
) -> Vec<Vec<Vec<usize>>> {
    let threshold = threshold.filter(|t| *t > 0.0).unwrap_or(DEFAULT_THRESHOLD);
    let bsl_bytes = block_size_limit
        .filter(|b| *b > 0.0)
        .unwrap_or(DEFAULT_CHUNK_BYTES as f64);
    if new.len() <= 1 || new.iter().any(|a| a.is_empty()) {
        return vec![new.to_vec()];
    }
    let limit = (bsl_bytes / itemsize.max(1) as f64)
        .max(largest_block(old))
        .max(largest_block(new));
    let graph_threshold = threshold * (nblocks(old) + nblocks(new));
    let mut current = old.to_vec();
    let mut first = true;
    let mut steps: Vec<Vec<Vec<usize>>> = Vec::new();
    loop {
        let gs = estimate_graph_size(&current, new);
        if gs < graph_threshold {
            break;
        }
        let cand = if first {
            current.clone()
        } else {
            find_split_rechunk(&current, new, gs * threshold)
        };
        let (cand, hit) = find_merge_rechunk(&cand, new, limit);
        if (cand == current && !first) || cand == new {
            break;
        }
        if cand != current {
            steps.push(cand.clone());
        }
        current = cand;
        if !hit {
            break;
        }
        first = false;
    }
    steps.push(new.to_vec());
    steps
}

/// One piece of a new block: the old block's index, and the range of it on each axis.
pub(crate) type Piece = (Vec<u32>, Vec<(usize, usize)>);

/// The pieces that make the new block at `index`, given per axis and new block as (old
/// block, range within it), e.g. by [`old_to_new`]: the grid's shape, and for each piece in C
/// order the old block's index and the piece's range on each axis.
pub(crate) fn piece_grid(index: &[u32], pieces: &[AxisPieces]) -> (Vec<usize>, Vec<Piece>) {
    let per_axis: Vec<&Vec<(usize, Range<usize>)>> = index
        .iter()
        .enumerate()
        .map(|(d, i)| &pieces[d][*i as usize])
        .collect();
    let grid: Vec<usize> = per_axis.iter().map(|p| p.len()).collect();
    let parts = rask_graph::layers::grid(&grid)
        .map(|combo| {
            combo
                .iter()
                .enumerate()
                .map(|(d, k)| {
                    let (o, r) = &per_axis[d][*k as usize];
                    (*o as u32, (r.start, r.end))
                })
                .unzip()
        })
        .collect();
    (grid, parts)
}

/// Assembles one block from a grid of pieces, given in C order: each argument is an old
/// block, of which the piece is the part `ranges[i]` (the whole block when `None`). Pieces are
/// read where they lie. An eager assembly copies them into the new block; a lazy one (a
/// rechunk's intermediate step) returns a [`Mosaic`] that only records them, so the data is
/// copied once, by the last step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assemble<T> {
    grid: Vec<usize>,
    ranges: Vec<Option<Vec<(usize, usize)>>>,
    #[serde(default)]
    lazy: bool,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T> Assemble<T> {
    /// Assembles a grid of `grid` pieces, piece `i` being `ranges[i]` of argument `i`.
    pub(crate) fn from_parts(grid: Vec<usize>, ranges: Vec<Option<Vec<(usize, usize)>>>) -> Self {
        Self {
            grid,
            ranges,
            lazy: false,
            _t: std::marker::PhantomData,
        }
    }
}

/// A block not put together yet: the regions of other blocks it is made of, and where each
/// goes. A rechunk's intermediate steps make these instead of copying, so every element is
/// copied once, into a block of the final chunking. A mosaic's parts are always ordinary
/// blocks (a mosaic of mosaics is flattened when it is made).
///
/// Sent to another process, a mosaic travels as the block it stands for.
#[derive(Debug)]
pub struct Mosaic<T: Element> {
    shape: Vec<usize>,
    parts: Vec<Part>,
    _t: std::marker::PhantomData<fn() -> T>,
}

/// One region of a block, and its place in a mosaic.
#[derive(Debug, Clone)]
struct Part {
    block: Value,
    src: Vec<(usize, usize)>,
    at: Vec<usize>,
}

impl<T: Element> Datum for Mosaic<T> {
    /// The bookkeeping only: the regions' data belongs to the blocks they are parts of.
    fn nbytes(&self) -> usize {
        size_of::<Self>()
            + self.shape.len() * size_of::<usize>()
            + self
                .parts
                .iter()
                .map(|p| size_of::<Part>() + p.src.len() * 3 * size_of::<usize>())
                .sum::<usize>()
    }
}

impl<T: Element> Mosaic<T> {
    /// The block's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The one value of parts that are all constant blocks of that value.
    fn constant(&self) -> Option<T> {
        let mut values = self
            .parts
            .iter()
            .map(|p| p.block.downcast_ref::<ConstChunk<T>>().map(|c| c.value()));
        let first = values.next()??;
        values.all(|v| v == Some(first)).then_some(first)
    }

    /// The parts put together: a constant block if they are all the same constant, else a
    /// new block in memory.
    fn materialize(&self) -> Result<Value, TaskError> {
        if let Some(v) = self.constant() {
            return Ok(Value::new(ConstChunk::new(self.shape.clone(), v)));
        }
        let len = self.shape.iter().product();
        let mut data = crate::chunk::big_vec(len);
        data.resize(len, T::default());
        let mut out = ArrayD::from_shape_vec(IxDyn(&self.shape), data)
            .map_err(|e| TaskError::new(e.to_string()))?;
        for p in &self.parts {
            let block = block_view::<T>(&p.block)?;
            let src = block.slice_each_axis(|ax| {
                let (s, e) = p.src[ax.axis.index()];
                Slice::from(s..e)
            });
            out.slice_each_axis_mut(|ax| {
                let d = ax.axis.index();
                let (s, e) = p.src[d];
                Slice::from(p.at[d]..p.at[d] + e - s)
            })
            .assign(&src);
        }
        Ok(Value::new(Chunk(out)))
    }
}

/// A mosaic is sent as the block it stands for; it arrives as that block.
fn encode_mosaic<T: Element>(datum: &dyn Datum) -> Result<Vec<u8>, String> {
    let any: &dyn std::any::Any = datum;
    let m = any
        .downcast_ref::<Mosaic<T>>()
        .ok_or_else(|| "value type does not match its registration".to_string())?;
    let v = m.materialize().map_err(|e| e.to_string())?;
    let block = take_array::<T>(v).map_err(|e| e.to_string())?;
    crate::chunk::encode::<T>(&Chunk(block))
}

/// The shape of a block argument, ordinary or mosaic.
pub(crate) fn block_shape<T: Element>(v: &Value) -> Result<Vec<usize>, TaskError> {
    match v.downcast_ref::<Mosaic<T>>() {
        Some(m) => Ok(m.shape.clone()),
        None => Ok(block_view::<T>(v)?.shape().to_vec()),
    }
}

impl<T: Element> Op for Assemble<T> {
    fn name(&self) -> &str {
        "rechunk-merge"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let n: usize = self.grid.iter().product();
        if args.len() != n || n == 0 {
            return Err(TaskError::new(format!(
                "a grid of {:?} pieces needs {n}, got {}",
                self.grid,
                args.len()
            )));
        }
        let ndim = self.grid.len();
        // One whole ordinary block: it is the new block (an earlier step passed it on whole).
        if n == 1
            && self.ranges.first().is_none_or(Option::is_none)
            && args[0].downcast_ref::<Mosaic<T>>().is_none()
        {
            block_view::<T>(&args[0])?;
            return Ok(args[0].clone());
        }
        // Each piece's region (within its argument).
        let regions = args
            .iter()
            .zip(self.ranges.iter().chain(std::iter::repeat(&None)))
            .map(|(a, r)| {
                let shape = block_shape::<T>(a)?;
                match r {
                    None => Ok(shape.iter().map(|n| (0, *n)).collect::<Vec<_>>()),
                    Some(r) => {
                        let fits = r.len() == shape.len()
                            && r.iter().zip(&shape).all(|((s, e), n)| s <= e && e <= n);
                        if !fits {
                            return Err(TaskError::new(format!(
                                "ranges {r:?} do not fit a block of shape {shape:?}"
                            )));
                        }
                        Ok(r.clone())
                    }
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if regions.iter().any(|r| r.len() != ndim) {
            return Err(TaskError::new(format!(
                "pieces do not make a grid of {:?}",
                self.grid
            )));
        }
        // Where each grid row and column starts in the new block.
        let stride = |d: usize| self.grid[d + 1..].iter().product::<usize>();
        let offsets: Vec<Vec<usize>> = (0..ndim)
            .map(|d| {
                let mut off = vec![0];
                for g in 0..self.grid[d] {
                    let (s, e) = regions[g * stride(d)][d];
                    off.push(off[g] + e - s);
                }
                off
            })
            .collect();
        let shape: Vec<usize> = offsets
            .iter()
            .map(|o| o.last().copied().unwrap_or(0))
            .collect();
        let mut parts = Vec::with_capacity(n);
        for (flat, (arg, region)) in args.iter().zip(&regions).enumerate() {
            let pos: Vec<usize> = (0..ndim).map(|d| flat / stride(d) % self.grid[d]).collect();
            let at: Vec<usize> = (0..ndim).map(|d| offsets[d][pos[d]]).collect();
            let fits = (0..ndim).all(|d| {
                let (s, e) = region[d];
                offsets[d][pos[d]] + e - s == offsets[d][pos[d] + 1]
            });
            if !fits {
                return Err(TaskError::new(format!(
                    "piece {flat} of shape {:?} does not fit its place in a grid of {:?}",
                    region.iter().map(|(s, e)| e - s).collect::<Vec<_>>(),
                    self.grid
                )));
            }
            match arg.downcast_ref::<Mosaic<T>>() {
                // The mosaic's parts that the region covers, cut to it.
                Some(m) => {
                    for p in &m.parts {
                        let mut src = Vec::with_capacity(ndim);
                        let mut to = Vec::with_capacity(ndim);
                        for d in 0..ndim {
                            let (ps, pe) = p.src[d];
                            let lo = p.at[d].max(region[d].0);
                            let hi = (p.at[d] + pe - ps).min(region[d].1);
                            if lo >= hi {
                                break;
                            }
                            src.push((ps + lo - p.at[d], ps + hi - p.at[d]));
                            to.push(at[d] + lo - region[d].0);
                        }
                        if src.len() == ndim {
                            parts.push(Part {
                                block: p.block.clone(),
                                src,
                                at: to,
                            });
                        }
                    }
                }
                None => parts.push(Part {
                    block: arg.clone(),
                    src: region.clone(),
                    at,
                }),
            }
        }
        let mosaic = Mosaic::<T> {
            shape,
            parts,
            _t: std::marker::PhantomData,
        };
        match (self.lazy, mosaic.constant()) {
            (false, _) => mosaic.materialize(),
            // Parts of one constant make a constant block even in a mosaic: that costs nothing.
            (true, Some(v)) => Ok(Value::new(ConstChunk::new(mosaic.shape, v))),
            (true, None) => Ok(Value::new(mosaic)),
        }
    }
}

macro_rules! register_rechunk {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(Assemble<$t>, concat!("rask.array.assemble<", stringify!($t), ">"));
        rask_graph::register_value!(
            Mosaic<$t>,
            concat!("rask.array.mosaic<", stringify!($t), ">"),
            encode_mosaic::<$t>,
            crate::chunk::decode::<$t>
        );
    )*};
}
register_rechunk!(f64, f32, i64, i32, u64, u32, u8, bool);

/// Options of [`Array::rechunk_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RechunkOptions {
    /// Tasks a step may cost, as a multiple of the blocks at both ends (default 4).
    pub threshold: Option<f64>,
    /// Bytes an intermediate (or `auto`) block may hold (default 128 MiB).
    pub block_size_limit: Option<usize>,
}

impl<T: Element> Array<T> {
    /// The same array cut into other blocks (Dask's `rechunk`). Any [`ChunkSpec`]: a block
    /// shape, explicit sizes, `Whole` (`-1`), `Auto` (sized from the current blocks, within
    /// 128 MiB), or [`AxisChunks::Keep`] to leave an axis as it is. Big reshuffles go through
    /// intermediate chunkings (Dask's plan), which keep the graph small; their blocks are
    /// [`Mosaic`]s, so the data is copied once, into the final blocks.
    ///
    /// ```
    /// use rask_array::{Array, AxisChunks};
    /// use rask_graph::Collection;
    /// let x = Array::<f64>::ones(&[24, 24], [4, 8]).unwrap();
    /// let y = x.rechunk(vec![AxisChunks::Size(12), AxisChunks::Keep]).unwrap();
    /// assert_eq!(y.chunks().axes(), &[vec![12, 12], vec![8, 8, 8]]);
    /// assert_eq!(y.compute_on(&rask_local::SyncScheduler, &[]).unwrap().sum(), 576.0);
    /// ```
    pub fn rechunk(&self, chunks: impl Into<ChunkSpec>) -> Result<Array<T>, ArrayError> {
        self.rechunk_with(chunks, RechunkOptions::default())
    }

    /// [`rechunk`](Array::rechunk) with a threshold and block size limit of one's own.
    pub fn rechunk_with(
        &self,
        chunks: impl Into<ChunkSpec>,
        options: RechunkOptions,
    ) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let shape = self.shape();
        if !shape.is_empty() && shape.iter().all(|d| *d == 0) {
            return Ok(self.clone());
        }
        let limit = options.block_size_limit.unwrap_or(DEFAULT_CHUNK_BYTES);
        let target = self.target_chunks(chunks.into(), limit)?;
        if target == *self.chunks() {
            return Ok(self.clone());
        }
        let steps = plan_rechunk(
            self.chunks().axes(),
            target.axes(),
            T::DTYPE.itemsize(),
            options.threshold,
            Some(limit as f64),
        );
        // Intermediate steps make mosaics; the last one copies.
        let mut x = self.clone();
        let last = steps.len().saturating_sub(1);
        for (i, step) in steps.into_iter().enumerate() {
            x = x.rechunk_step(Chunks::from_axes(step), i > 0, i < last);
        }
        Ok(x)
    }

    /// The chunks a spec asks for, given the current ones.
    fn target_chunks(&self, spec: ChunkSpec, limit: usize) -> Result<Chunks, ArrayError> {
        let ndim = self.ndim();
        let mut axes: Vec<AxisChunks> = match spec {
            ChunkSpec::Size(n) => vec![AxisChunks::Size(n); ndim],
            ChunkSpec::Auto => vec![AxisChunks::Auto; ndim],
            ChunkSpec::Axes(a) => a,
        };
        if axes.len() != ndim {
            return Err(ArrayError::ChunkRank {
                spec: ChunkSpec::Axes(axes.clone()).to_string(),
                spec_ndim: axes.len(),
                shape: self.shape(),
                ndim,
            });
        }
        for (a, rule) in axes.iter_mut().enumerate() {
            if *rule == AxisChunks::Keep {
                *rule = AxisChunks::Explicit(self.chunks().axes()[a].clone());
            }
        }
        if axes.contains(&AxisChunks::Auto) {
            axes = auto_from_previous(
                axes,
                &self.shape(),
                self.chunks().axes(),
                T::DTYPE.itemsize(),
                limit,
            );
        }
        Chunks::normalize(ChunkSpec::Axes(axes), &self.shape(), T::DTYPE)
    }

    /// One step: each new block assembled from pieces of the old ones. `mosaics_in`: the old
    /// blocks may be mosaics (an earlier step's); `mosaics_out`: make mosaics, not blocks.
    fn rechunk_step(&self, new: Chunks, mosaics_in: bool, mosaics_out: bool) -> Array<T> {
        let old = self.chunks().axes();
        // A step that makes mosaics, or reads them, is another computation than a direct
        // rechunk to the same chunks, whose blocks anyone may read: its keys must differ.
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&new)
            .write(&(mosaics_in, mosaics_out))
            .finish();
        let pieces = old_to_new(old, new.axes());
        let label = if mosaics_out {
            "rechunk-mosaic"
        } else {
            "rechunk-merge"
        };
        let identity: Arc<dyn Op> = Arc::new(Identity);
        self.per_block(label, &token, new, |index| {
            let (grid, parts) = piece_grid(index, &pieces);
            let n = parts.len();
            let (mut args, mut ranges) = (Vec::with_capacity(n), Vec::with_capacity(n));
            for (old_index, r) in parts {
                let full = r
                    .iter()
                    .enumerate()
                    .all(|(d, (s, e))| *s == 0 && *e == old[d][old_index[d] as usize]);
                args.push(Arg::Key(self.key(&old_index)));
                ranges.push((!full).then_some(r));
            }
            match (n, ranges.first()) {
                // One whole old block: the new block is that block (put together, if it is a
                // mosaic and this is the last step).
                (1, Some(None)) if mosaics_out || !mosaics_in => {
                    Task::from_arc(Arc::clone(&identity), args)
                }
                // One part of an old block: cut it out.
                (1, Some(Some(r))) if !mosaics_out && !mosaics_in => {
                    Task::new(SubBlock::<T>::new(r.clone()), args)
                }
                _ => Task::new(
                    Assemble::<T> {
                        grid,
                        ranges,
                        lazy: mosaics_out,
                        _t: std::marker::PhantomData,
                    },
                    args,
                ),
            }
        })
    }
}

/// A value in Dask's `auto_chunks` bookkeeping: a size (maybe fractional) or a block list.
#[derive(Debug, Clone, PartialEq)]
enum Auto {
    Num(f64),
    Tuple(Vec<usize>),
}

/// Dask's `round_to`: `c` rounded down to a multiple of `s` if it exceeds `s`, else to an
/// integer of at least 1.
fn round_to(c: f64, s: f64) -> f64 {
    if c <= s {
        (c.trunc()).max(1.0)
    } else {
        (c / s).floor() * s
    }
}

fn median(v: &[usize]) -> f64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    let n = s.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        s[n / 2] as f64
    } else {
        (s[n / 2 - 1] as f64 + s[n / 2] as f64) / 2.0
    }
}

/// Dask's `auto_chunks` with previous chunks: `auto` axes sized from the blocks they have,
/// scaled together so a block holds about `limit` bytes.
fn auto_from_previous(
    mut axes: Vec<AxisChunks>,
    shape: &[usize],
    previous: &[Vec<usize>],
    itemsize: usize,
    limit: usize,
) -> Vec<AxisChunks> {
    let limit = limit.max(1) as f64;
    let itemsize = itemsize.max(1) as f64;
    let tol = 1.25f64;
    let mut autos: Vec<usize> = (0..axes.len())
        .filter(|a| axes[*a] == AxisChunks::Auto)
        .collect();
    let mut largest = crate::chunks::fixed_block_elements(&axes, shape);
    // `median` and `result`; in the reducing case they are one map, as in Dask.
    let mut median_map: HashMap<usize, Auto> = autos
        .iter()
        .map(|a| (*a, Auto::Num(median(&previous[*a]))))
        .collect();
    let mult = |median_map: &HashMap<usize, Auto>, largest: f64| -> f64 {
        let p: f64 = median_map
            .values()
            .filter_map(|v| match v {
                Auto::Num(x) if *x != 0.0 => Some(*x),
                Auto::Tuple(t) if !t.is_empty() => t.iter().copied().max().map(|m| m as f64),
                _ => None,
            })
            .product();
        limit / itemsize / largest / p
    };
    let mut multiplier = mult(&median_map, largest);
    let reduce_case = multiplier < 1.0;
    let mut result: HashMap<usize, Auto> = HashMap::new();
    // Per `auto` axis, the size to round to: its most frequent block size (the first on ties)
    // if that is above 1 and at least half the blocks have it, else the axis length.
    let ideal: HashMap<usize, f64> = autos
        .iter()
        .map(|&i| {
            let prev = &previous[i];
            // size -> (count, first position)
            let mut seen: HashMap<usize, (usize, usize)> = HashMap::new();
            for (k, v) in prev.iter().enumerate() {
                seen.entry(*v).or_insert((0, k)).0 += 1;
            }
            let best = seen
                .into_iter()
                .max_by_key(|(_, (count, first))| (*count, Reverse(*first)));
            let size = match best {
                Some((mode, (count, _))) if mode > 1 && count as f64 >= prev.len() as f64 / 2.0 => {
                    mode as f64
                }
                _ => shape[i] as f64,
            };
            (i, size)
        })
        .collect();
    let mut remaining = true;
    let mut guard = 0;
    while remaining && guard < 1000 {
        guard += 1;
        remaining = false;
        let k = autos.len() as f64;
        // Per round: the multiplier's share for each axis, and the tolerance's.
        let (m_a, tol_a) = (multiplier.powf(1.0 / k), tol.powf(1.0 / k));
        // `autos` is in axis order (made so, and only ever filtered).
        for a in autos.clone() {
            let med = match median_map.get(&a) {
                Some(Auto::Num(x)) => *x,
                Some(Auto::Tuple(t)) => t.iter().copied().max().unwrap_or(0) as f64,
                None => continue,
            };
            let proposed = med * m_a;
            let max_size = proposed * tol_a;
            let prev_max = previous[a].iter().copied().max().unwrap_or(0) as f64;
            let put = |result: &mut HashMap<usize, Auto>,
                       median_map: &mut HashMap<usize, Auto>,
                       v: Auto| {
                if reduce_case {
                    median_map.insert(a, v);
                } else {
                    result.insert(a, v);
                }
            };
            if proposed > shape[a] as f64 {
                axes[a] = AxisChunks::Size(shape[a]);
                autos.retain(|x| *x != a);
                median_map.remove(&a);
                remaining = true;
                largest *= shape[a] as f64;
                put(&mut result, &mut median_map, Auto::Tuple(vec![shape[a]]));
                continue;
            } else if reduce_case || prev_max > max_size {
                put(
                    &mut result,
                    &mut median_map,
                    Auto::Num(round_to(proposed, ideal[&a])),
                );
                if proposed < 1.0 {
                    remaining = true;
                    autos.retain(|x| *x != a);
                }
                continue;
            } else {
                let mut out = Vec::new();
                let mut acc = 0usize;
                for &c in &previous[a] {
                    if (c + acc) as f64 <= proposed {
                        acc += c;
                    } else {
                        if acc > 0 {
                            out.push(acc);
                        }
                        acc = c;
                    }
                }
                if acc > 0 {
                    out.push(acc);
                }
                put(&mut result, &mut median_map, Auto::Tuple(out));
            }
        }
        if remaining || reduce_case {
            let last = multiplier;
            multiplier = mult(&median_map, largest);
            if multiplier != last {
                remaining = true;
            }
        }
    }
    let result = if reduce_case { median_map } else { result };
    for (a, v) in result {
        axes[a] = match v {
            Auto::Num(x) if x != 0.0 => AxisChunks::Size(x as usize),
            Auto::Tuple(t) if !t.is_empty() => AxisChunks::Explicit(t),
            _ => AxisChunks::Size(0),
        };
    }
    axes
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};
    use rask_graph::registry::{decode_value, encode_value};

    fn block(a: &Array2<i64>) -> Value {
        Value::new(Chunk(a.clone().into_dyn()))
    }

    fn lazy(grid: Vec<usize>, ranges: Vec<Option<Vec<(usize, usize)>>>) -> Assemble<i64> {
        Assemble {
            lazy: true,
            ..Assemble::from_parts(grid, ranges)
        }
    }

    #[test]
    fn mosaics_copy_nothing_until_the_last_step() {
        let a = Array2::from_shape_fn((40, 5), |(i, j)| (i * 10 + j) as i64);
        let b = Array2::from_shape_fn((40, 3), |(i, j)| (100 + i * 10 + j) as i64);
        let whole = ndarray::concatenate![ndarray::Axis(1), a, b];
        // Rows 1..40 of a and of b, side by side, as a mosaic: no data of its own.
        let m = lazy(
            vec![1, 2],
            vec![Some(vec![(1, 40), (0, 5)]), Some(vec![(1, 40), (0, 3)])],
        )
        .run(Args::from_iter([block(&a), block(&b)]))
        .unwrap();
        let mosaic = m.downcast_ref::<Mosaic<i64>>().unwrap();
        assert_eq!(mosaic.shape(), &[39, 8]);
        assert!(m.nbytes() < 39 * 8 * 8 / 4);
        // A mosaic of a mosaic is flattened: its parts are still the two blocks.
        let m2 = lazy(vec![1, 1], vec![Some(vec![(1, 3), (4, 7)])])
            .run(Args::from_iter([m.clone()]))
            .unwrap();
        let m2m = m2.downcast_ref::<Mosaic<i64>>().unwrap();
        assert_eq!(m2m.parts.len(), 2);
        assert_eq!(m2m.parts[0].src, vec![(2, 4), (4, 5)]);
        assert_eq!(m2m.parts[1].src, vec![(2, 4), (0, 2)]);
        // The last step copies: the same values as slicing the whole.
        let got = Assemble::<i64>::from_parts(vec![1, 1], vec![None])
            .run(Args::from_iter([m2.clone()]))
            .unwrap();
        let got = got.downcast_ref::<Chunk<i64>>().unwrap();
        assert_eq!(got.0, whole.slice(s![2..4, 4..7]).into_dyn());
        // Sent to another process, a mosaic arrives as the block it stands for.
        let (name, bytes) = encode_value(&m).unwrap().unwrap();
        let back = decode_value(name, &bytes).unwrap();
        assert_eq!(
            back.downcast_ref::<Chunk<i64>>().unwrap().0,
            whole.slice(s![1..40, ..]).into_dyn()
        );
    }

    #[test]
    fn mosaics_of_one_constant_stay_constant() {
        let c = Value::new(ConstChunk::new(vec![4, 4], 2.5f64));
        let m = Assemble::<f64> {
            lazy: true,
            ..Assemble::from_parts(vec![2, 1], vec![None, Some(vec![(0, 1), (0, 4)])])
        }
        .run(Args::from_iter([c.clone(), c]))
        .unwrap();
        let k = m.downcast_ref::<ConstChunk<f64>>().unwrap();
        assert_eq!((k.shape(), k.value()), (&[5, 4][..], 2.5));
    }
}
