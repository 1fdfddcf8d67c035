//! Chunks: how an array is cut into blocks — one list of block sizes per axis, as Dask's
//! `.chunks` — and the normalization of the ways a user may say it (Dask's
//! `normalize_chunks`).

use std::ops::Range;

use crate::element::DType;
use crate::error::ArrayError;

/// The byte target of an `auto` chunk, as Dask's `array.chunk-size` (128 MiB).
pub const DEFAULT_CHUNK_BYTES: usize = 128 * 1024 * 1024;

/// Block sizes per axis: `[[1000], [1000, 1000, 1000, 1000]]` for a 1000×4000 array in
/// 1000×1000 blocks.
///
/// ```
/// use rask_array::{Chunks, ChunkSpec, DType};
///
/// let c = Chunks::normalize(ChunkSpec::from([1000, 1000]), &[1000, 4000], DType::F64).unwrap();
/// assert_eq!(c.axes(), &[vec![1000], vec![1000; 4]]);
/// assert_eq!(c.numblocks(), vec![1, 4]);
/// assert_eq!(c.chunksize(), vec![1000, 1000]);
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(from = "Vec<Vec<usize>>", into = "Vec<Vec<usize>>")]
pub struct Chunks {
    sizes: Vec<Vec<usize>>,
    /// Per axis, where each block starts, and the axis length last: the running sums, made
    /// once, so that finding a block is O(1) (building an array of n blocks is O(n)).
    starts: Vec<Vec<usize>>,
}

impl PartialEq for Chunks {
    fn eq(&self, other: &Self) -> bool {
        self.sizes == other.sizes
    }
}

impl Eq for Chunks {}

impl std::hash::Hash for Chunks {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.sizes.hash(h);
    }
}

impl From<Vec<Vec<usize>>> for Chunks {
    /// Block sizes taken as they are (sums past `usize::MAX` saturate: bytes from elsewhere
    /// are checked where they are used).
    fn from(sizes: Vec<Vec<usize>>) -> Chunks {
        let starts = sizes
            .iter()
            .map(|axis| {
                let mut at = 0usize;
                let mut v = Vec::with_capacity(axis.len() + 1);
                v.push(0);
                for b in axis {
                    at = at.saturating_add(*b);
                    v.push(at);
                }
                v
            })
            .collect();
        Chunks { sizes, starts }
    }
}

impl From<Chunks> for Vec<Vec<usize>> {
    fn from(c: Chunks) -> Self {
        c.sizes
    }
}

/// How one axis is to be cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AxisChunks {
    /// Blocks of this size (the last one smaller if it must).
    Size(usize),
    /// One block for the whole axis (Dask's `-1`).
    Whole,
    /// The blocks the axis has now: in [`rechunk`](crate::Array::rechunk), Dask's `None`.
    /// Where there are no blocks yet, the whole axis.
    Keep,
    /// As large as the byte target allows (Dask's `"auto"`).
    Auto,
    /// These block sizes, which must add up to the axis length.
    Explicit(Vec<usize>),
}

/// How an array is to be cut, in any of the forms Dask accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkSpec {
    /// The same block size on every axis (`chunks=1000`).
    Size(usize),
    /// Every axis as large as the byte target allows (`chunks="auto"`).
    Auto,
    /// One rule per axis (`chunks=(1000, -1)`, `chunks=((2, 3), "auto")`).
    Axes(Vec<AxisChunks>),
}

impl std::fmt::Display for ChunkSpec {
    /// As Dask would write it: `1000`, `auto`, `(1000, -1)`, `((2, 3), auto)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn tuple(items: &[String]) -> String {
            match items {
                [one] => format!("({one},)"),
                _ => format!("({})", items.join(", ")),
            }
        }
        match self {
            ChunkSpec::Size(n) => write!(f, "{n}"),
            ChunkSpec::Auto => f.write_str("auto"),
            ChunkSpec::Axes(axes) => {
                let items: Vec<String> = axes
                    .iter()
                    .map(|a| match a {
                        AxisChunks::Size(n) => n.to_string(),
                        AxisChunks::Whole => "-1".to_string(),
                        AxisChunks::Keep => "None".to_string(),
                        AxisChunks::Auto => "auto".to_string(),
                        AxisChunks::Explicit(v) => {
                            tuple(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>())
                        }
                    })
                    .collect();
                f.write_str(&tuple(&items))
            }
        }
    }
}

impl From<usize> for ChunkSpec {
    fn from(n: usize) -> Self {
        ChunkSpec::Size(n)
    }
}

impl<const N: usize> From<[usize; N]> for ChunkSpec {
    fn from(shape: [usize; N]) -> Self {
        ChunkSpec::Axes(shape.into_iter().map(AxisChunks::Size).collect())
    }
}

impl From<&[usize]> for ChunkSpec {
    fn from(shape: &[usize]) -> Self {
        ChunkSpec::Axes(shape.iter().copied().map(AxisChunks::Size).collect())
    }
}

impl From<Vec<Vec<usize>>> for ChunkSpec {
    fn from(explicit: Vec<Vec<usize>>) -> Self {
        ChunkSpec::Axes(explicit.into_iter().map(AxisChunks::Explicit).collect())
    }
}

impl From<Vec<AxisChunks>> for ChunkSpec {
    fn from(axes: Vec<AxisChunks>) -> Self {
        ChunkSpec::Axes(axes)
    }
}

impl From<Chunks> for ChunkSpec {
    fn from(c: Chunks) -> Self {
        ChunkSpec::from(c.sizes)
    }
}

/// The most blocks an array may have: 2²⁶, some 67 million, whose tasks alone would take
/// gigabytes (Dask's graphs stop being practical long before).
pub const MAX_BLOCKS: usize = 1 << 26;

/// The number of elements of `shape`, checked: the one size rule of every constructor. An
/// array whose elements (or their bytes, at `itemsize` each) overflow `usize` is an
/// [`ArrayError::Overflow`] naming `what` was built; an empty axis makes it empty whatever the
/// others are.
pub(crate) fn checked_size(
    what: &'static str,
    shape: &[usize],
    itemsize: usize,
) -> Result<usize, ArrayError> {
    if shape.contains(&0) {
        return Ok(0);
    }
    let elements = shape.iter().try_fold(1usize, |a, d| a.checked_mul(*d));
    match elements {
        Some(n) if n.checked_mul(itemsize.max(1)).is_some() => Ok(n),
        _ => Err(ArrayError::Overflow {
            what,
            shape: shape.to_vec(),
        }),
    }
}

/// Cuts `len` into blocks of `size`: `(size, size, …, rest)`; an empty axis is one empty block.
fn blocks_of(len: usize, size: usize) -> Vec<usize> {
    if len == 0 {
        return vec![0];
    }
    let mut v = vec![size; len / size];
    if !len.is_multiple_of(size) {
        v.push(len % size);
    }
    v
}

impl Chunks {
    /// Chunks from explicit block sizes (checked by [`normalize`](Chunks::normalize)).
    pub fn normalize(
        spec: impl Into<ChunkSpec>,
        shape: &[usize],
        dtype: DType,
    ) -> Result<Chunks, ArrayError> {
        Self::normalize_with_limit(spec, shape, dtype, DEFAULT_CHUNK_BYTES)
    }

    /// [`normalize`](Chunks::normalize) with a byte target for `auto` axes.
    pub fn normalize_with_limit(
        spec: impl Into<ChunkSpec>,
        shape: &[usize],
        dtype: DType,
        limit: usize,
    ) -> Result<Chunks, ArrayError> {
        let spec = spec.into();
        let axes: Vec<AxisChunks> = match &spec {
            ChunkSpec::Size(n) => vec![AxisChunks::Size(*n); shape.len()],
            ChunkSpec::Auto => vec![AxisChunks::Auto; shape.len()],
            ChunkSpec::Axes(a) => a.clone(),
        };
        if axes.len() != shape.len() {
            return Err(ArrayError::ChunkRank {
                spec: spec.to_string(),
                spec_ndim: axes.len(),
                shape: shape.to_vec(),
                ndim: shape.len(),
            });
        }
        let auto = auto_sizes(&axes, shape, dtype.itemsize(), limit);
        // Counted before any block list is made: a huge shape in small chunks (a zarr header,
        // say) must be an error, not an allocation that never ends.
        let blocks: u128 = axes
            .iter()
            .zip(shape)
            .enumerate()
            .map(|(axis, (rule, &len))| match rule {
                AxisChunks::Size(n) if *n > 0 => len.div_ceil(*n).max(1) as u128,
                AxisChunks::Auto => len.div_ceil(auto[axis].max(1)).max(1) as u128,
                AxisChunks::Explicit(v) => v.len().max(1) as u128,
                _ => 1,
            })
            .fold(1u128, |a, b| a.saturating_mul(b));
        checked_size("chunks", shape, dtype.itemsize())?;
        if blocks > MAX_BLOCKS as u128 {
            return Err(ArrayError::TooManyBlocks {
                spec: spec.to_string(),
                shape: shape.to_vec(),
                blocks,
                max: MAX_BLOCKS,
            });
        }
        let mut out = Vec::with_capacity(shape.len());
        for (axis, (rule, &len)) in axes.iter().zip(shape).enumerate() {
            out.push(match rule {
                AxisChunks::Whole | AxisChunks::Keep => vec![len],
                AxisChunks::Size(0) if len > 0 => return Err(ArrayError::ZeroChunk { axis, len }),
                AxisChunks::Size(n) => blocks_of(len, (*n).max(1)),
                AxisChunks::Auto => blocks_of(len, auto[axis].max(1)),
                AxisChunks::Explicit(v) => {
                    // Summed without overflow: sizes that wrap around to the length are wrong.
                    let sum: u128 = v.iter().map(|b| *b as u128).sum();
                    if sum != len as u128 || v.is_empty() {
                        return Err(ArrayError::ChunkSum {
                            axis,
                            chunks: v.clone(),
                            sum,
                            len,
                        });
                    }
                    // Dask allows empty blocks inside an explicit list; so do we.
                    v.clone()
                }
            });
        }
        Ok(Chunks::from(out))
    }

    /// Chunks from block sizes known to be valid (built by the crate itself).
    pub(crate) fn from_axes(axes: Vec<Vec<usize>>) -> Chunks {
        Chunks::from(axes)
    }

    /// Block sizes per axis.
    pub fn axes(&self) -> &[Vec<usize>] {
        &self.sizes
    }

    /// Per axis, where each block starts, and the axis length last (one more entry than
    /// blocks).
    ///
    /// ```
    /// use rask_array::{Chunks, ChunkSpec, DType};
    ///
    /// let c = Chunks::normalize(ChunkSpec::from([3]), &[8], DType::F64).unwrap();
    /// assert_eq!(c.starts(), &[vec![0, 3, 6, 8]]);
    /// ```
    pub fn starts(&self) -> &[Vec<usize>] {
        &self.starts
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.sizes.len()
    }

    /// The array's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.starts
            .iter()
            .map(|s| s.last().copied().unwrap_or(0))
            .collect()
    }

    /// Blocks per axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.sizes.iter().map(Vec::len).collect()
    }

    /// The largest block size per axis (Dask's `chunksize`).
    pub fn chunksize(&self) -> Vec<usize> {
        self.sizes
            .iter()
            .map(|a| a.iter().copied().max().unwrap_or(0))
            .collect()
    }

    /// Whether every axis is cut into equal blocks but a smaller last one (zarr's chunk grid).
    pub fn is_regular(&self) -> bool {
        self.sizes.iter().all(|c| match c.split_last() {
            Some((last, rest)) => rest.iter().all(|b| *b == c[0]) && *last <= c[0],
            None => true,
        })
    }

    /// The number of blocks.
    pub fn npartitions(&self) -> usize {
        self.sizes.iter().map(Vec::len).product()
    }

    /// The shape of the block at `index`.
    pub fn block_shape(&self, index: &[u32]) -> Vec<usize> {
        self.sizes
            .iter()
            .zip(index)
            .map(|(a, i)| a[*i as usize])
            .collect()
    }

    /// Where the block at `index` lies in the array, per axis (O(1) per axis).
    pub fn block_ranges(&self, index: &[u32]) -> Vec<Range<usize>> {
        self.starts
            .iter()
            .zip(index)
            .map(|(s, i)| s[*i as usize]..s[*i as usize + 1])
            .collect()
    }

    /// Every block index, in C order (the last axis fastest).
    pub fn blocks(&self) -> Vec<Vec<u32>> {
        rask_graph::layers::grid(&self.numblocks())
            .map(|i| i.to_vec())
            .collect()
    }
}

/// The elements of the largest block over the axes that are not `auto` (those count 1): what
/// an `auto` axis's block size is budgeted against.
pub(crate) fn fixed_block_elements(axes: &[AxisChunks], shape: &[usize]) -> f64 {
    axes.iter()
        .zip(shape)
        .map(|(a, &len)| match a {
            AxisChunks::Size(n) => *n as f64,
            AxisChunks::Whole | AxisChunks::Keep => len as f64,
            AxisChunks::Explicit(v) => v.iter().copied().max().unwrap_or(0) as f64,
            AxisChunks::Auto => 1.0,
        })
        .product()
}

/// Block sizes for the `auto` axes, as Dask's `auto_chunks` (without previous chunks): the
/// byte budget divided by the other axes' largest blocks (plain sizes counted as written), its
/// n-th root shared by the `n` auto axes; an auto axis shorter than that share is taken whole and
/// the rest share again; each remaining axis gets `max(1, floor(share))`.
fn auto_sizes(axes: &[AxisChunks], shape: &[usize], itemsize: usize, limit: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = shape.to_vec();
    let mut open: Vec<usize> = (0..axes.len())
        .filter(|i| axes[*i] == AxisChunks::Auto)
        .collect();
    if open.is_empty() {
        return sizes;
    }
    let mut largest = fixed_block_elements(axes, shape);
    let budget = limit.max(1) as f64 / itemsize.max(1) as f64;
    while !open.is_empty() {
        let share = (budget / largest).powf(1.0 / open.len() as f64);
        let (short, long): (Vec<usize>, Vec<usize>) =
            open.iter().partition(|i| (shape[**i] as f64) < share);
        if short.is_empty() {
            for i in &long {
                sizes[*i] = (share.floor() as usize).max(1);
            }
            break;
        }
        for i in &short {
            sizes[*i] = shape[*i];
            largest *= shape[*i] as f64;
        }
        open = long;
    }
    sizes
}
