//! User kernels: `map_blocks` (a closure per block), `blockwise` (Dask's index notation for
//! aligning the blocks of several arrays), `map_overlap` (blocks with halos from their
//! neighbours, and boundary modes at the array's edges) and `reduction` (user chunk,
//! combine and aggregate functions in a tree).
//!
//! Closures run in-process: graphs holding them are refused, with a named error, by the
//! process-based schedulers, as `delayed` closures are.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD};
use rask_graph::delayed::ClosureOp;
use rask_graph::named::NamedFn;
use rask_graph::tokenize::{key_name, unique_token};
use rask_graph::{Arg, Graph, Layer, Op, Task, TaskError, Value};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::Element;
use crate::error::ArrayError;
use crate::rechunk::Assemble;
use crate::shape::PadMode;

/// Where a block sits, for kernels that need to know (Dask's `block_info`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockInfo {
    /// The block's index in the grid of blocks.
    pub index: Vec<u32>,
    /// The elements it covers, per axis.
    pub location: Vec<Range<usize>>,
    /// Blocks per axis.
    pub num_blocks: Vec<usize>,
    /// The whole array's shape.
    pub shape: Vec<usize>,
}

fn kernel_error(what: &str, message: String) -> ArrayError {
    ArrayError::Shape {
        what: what.into(),
        message,
    }
}

/// Checks a kernel's block against the shape it was declared to have.
fn checked<U: Element>(
    name: &str,
    out: Result<ArrayD<U>, String>,
    want: &[usize],
) -> Result<Value, TaskError> {
    let block = out.map_err(|e| TaskError::new(format!("{name}: {e}")))?;
    if block.shape() != want {
        return Err(TaskError::new(format!(
            "{name} made a block of shape {:?} where the declared chunks say {want:?}",
            block.shape()
        )));
    }
    Ok(Value::new(Chunk(block)))
}

impl<T: Element> Array<T> {
    /// `f` applied to every block, which it maps to a block of the same shape (Dask's
    /// `map_blocks` with the default chunks). `f` sees the block and where it sits; an error
    /// it returns fails the computation, naming the block's key.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::<f64>::ones(&[4, 6], [2, 3]).unwrap();
    /// // Each element becomes its block's first row index.
    /// let y = x.map_blocks("block-row", |b, info| Ok(b.mapv(|_| info.location[0].start as f64))).unwrap();
    /// let a = y.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(a[[3, 5]], 2.0);
    /// ```
    pub fn map_blocks<U: Element>(
        &self,
        name: &str,
        f: impl Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, String> + Send + Sync + 'static,
    ) -> Result<Array<U>, ArrayError> {
        self.map_blocks_with(name, self.chunks().axes().to_vec(), f)
    }

    /// [`map_blocks`](Array::map_blocks) where the output blocks have other sizes: `chunks`
    /// gives them, with as many axes and blocks per axis as the input.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::<f64>::ones(&[4, 6], [2, 3]).unwrap();
    /// // Each block becomes its row sums, as a column.
    /// let y = x
    ///     .map_blocks_with("row-sums", vec![vec![2, 2], vec![1, 1]], |b, _| {
    ///         Ok(b.sum_axis(ndarray::Axis(1)).insert_axis(ndarray::Axis(1)))
    ///     })
    ///     .unwrap();
    /// assert_eq!(y.shape(), vec![4, 2]);
    /// assert!(y.compute_on(&rask_local::SyncScheduler, &[]).unwrap().iter().all(|v| *v == 3.0));
    /// ```
    pub fn map_blocks_with<U: Element>(
        &self,
        name: &str,
        chunks: Vec<Vec<usize>>,
        f: impl Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, String> + Send + Sync + 'static,
    ) -> Result<Array<U>, ArrayError> {
        self.check()?;
        let counts: Vec<usize> = chunks.iter().map(Vec::len).collect();
        if counts != self.numblocks() {
            return Err(kernel_error(
                "map_blocks",
                format!(
                    "output chunks {chunks:?} have {counts:?} blocks per axis; the input has {:?}",
                    self.numblocks()
                ),
            ));
        }
        Ok(
            self.kernel_blocks(name, Chunks::from_axes(chunks), KernelFn::new(f), |index| {
                index.to_vec()
            }),
        )
    }

    /// One task per block of `out` applying the kernel `f` to the input block `source(index)`
    /// (which it sees with its [`BlockInfo`]), its result checked against `out`'s block shape.
    fn kernel_blocks<U: Element>(
        &self,
        name: &str,
        out: Chunks,
        f: KernelFn<T, U>,
        source: impl Fn(&[u32]) -> Vec<u32>,
    ) -> Array<U> {
        let (num_blocks, shape) = (self.numblocks(), self.shape());
        let shapes = out.clone();
        self.per_block(name, &unique_token(), out, |index| {
            let src = source(index);
            let info = BlockInfo {
                index: src.clone(),
                location: self.chunks().block_ranges(&src),
                num_blocks: num_blocks.clone(),
                shape: shape.clone(),
            };
            let want = shapes.block_shape(index);
            Task::from_arc(f.op(name, info, want), [Arg::Key(self.key(&src))])
        })
    }

    /// [`map_blocks`](Array::map_blocks) where `f` removes some axes and adds others (Dask's
    /// `drop_axis` and `new_axis`): `drop_axis` are input axes that `f` reduces away (each
    /// must be one block: rechunk first), `new_axis` are (position in the output, length) of
    /// the axes it adds, one block each. Other axes keep their blocks.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::<f64>::ones(&[6, 4], [2, 4]).unwrap();
    /// // Row sums (axis 1 dropped), then each as a pair (a new axis of 2 at the end).
    /// let y = x
    ///     .map_blocks_axes("pairs", &[1], &[(1, 2)], |b, _| {
    ///         let s = b.sum_axis(ndarray::Axis(1));
    ///         Ok(ndarray::stack(ndarray::Axis(1), &[s.view(), s.view()]).map_err(|e| e.to_string())?)
    ///     })
    ///     .unwrap();
    /// assert_eq!(y.chunks().axes(), &[vec![2, 2, 2], vec![2]]);
    /// assert!(y.compute_on(&rask_local::SyncScheduler, &[]).unwrap().iter().all(|v| *v == 4.0));
    /// ```
    pub fn map_blocks_axes<U: Element>(
        &self,
        name: &str,
        drop_axis: &[usize],
        new_axis: &[(usize, usize)],
        f: impl Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, String> + Send + Sync + 'static,
    ) -> Result<Array<U>, ArrayError> {
        self.check()?;
        let n = self.ndim();
        for &a in drop_axis {
            if a >= n {
                return Err(kernel_error(
                    "map_blocks",
                    format!("drop_axis {a} is out of bounds for an array of {n} dimensions"),
                ));
            }
            if self.numblocks()[a] != 1 {
                return Err(kernel_error(
                    "map_blocks",
                    format!(
                        "drop_axis {a} has {} blocks; rechunk it to one block first",
                        self.numblocks()[a]
                    ),
                ));
            }
        }
        let mut axes: Vec<Vec<usize>> = (0..n)
            .filter(|a| !drop_axis.contains(a))
            .map(|a| self.chunks().axes()[a].clone())
            .collect();
        let mut new_sorted = new_axis.to_vec();
        new_sorted.sort_unstable();
        for &(pos, len) in &new_sorted {
            if pos > axes.len() {
                return Err(kernel_error(
                    "map_blocks",
                    format!(
                        "new_axis at {pos} is past the {} axes of the output",
                        axes.len()
                    ),
                ));
            }
            axes.insert(pos, vec![len]);
        }
        let out = Chunks::from_axes(axes);
        let kept: Vec<usize> = (0..n).filter(|a| !drop_axis.contains(a)).collect();
        let is_new: Vec<bool> = (0..out.ndim())
            .map(|p| new_sorted.iter().any(|(q, _)| *q == p))
            .collect();
        // The input block: the output's index on kept axes, 0 on dropped ones.
        let source = |index: &[u32]| {
            let mut src = vec![0u32; n];
            let mut k = 0;
            for (p, i) in index.iter().enumerate() {
                if !is_new[p] {
                    src[kept[k]] = *i;
                    k += 1;
                }
            }
            src
        };
        Ok(self.kernel_blocks(name, out, KernelFn::new(f), source))
    }

    /// `f` applied to each block together with its neighbours' edges: every block is grown by
    /// `depth[axis]` elements on each side (from its neighbours, or by `boundary` at the
    /// array's edges), `f` maps it to a block of the same grown shape, and the growth is
    /// trimmed away again (Dask's `map_overlap`). A halo may reach past the next block: it
    /// is gathered from as many neighbours as it covers.
    ///
    /// ```
    /// use rask_array::{Array, Boundary};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1.0, 2.0, 4.0, 7.0, 11.0]).into_dyn(), 2usize).unwrap();
    /// // A centred difference, with the edge values repeated past the ends.
    /// let d = x
    ///     .map_overlap("diff", &[1], Boundary::Nearest, |b, _| {
    ///         let mut out = b.to_owned();
    ///         for i in 1..b.len() - 1 {
    ///             out[[i]] = (b[[i + 1]] - b[[i - 1]]) / 2.0;
    ///         }
    ///         Ok(out)
    ///     })
    ///     .unwrap();
    /// let a = d.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(a.as_slice().unwrap(), &[0.5, 1.5, 2.5, 3.5, 2.0]);
    /// ```
    pub fn map_overlap(
        &self,
        name: &str,
        depth: &[usize],
        boundary: impl Into<Boundaries<T>>,
        f: impl Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<T>, String> + Send + Sync + 'static,
    ) -> Result<Array<T>, ArrayError> {
        let depth: Vec<(usize, usize)> = depth.iter().map(|d| (*d, *d)).collect();
        self.map_overlap_asymmetric(name, &depth, boundary, f)
    }

    /// [`map_overlap`](Array::map_overlap) with a depth of its own before and after the block
    /// on each axis (Dask's `depth={1: (1, 0)}`), for every boundary mode.
    ///
    /// ```
    /// use rask_array::{Array, Boundary};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1, 2, 4, 7, 11]).into_dyn(), 2usize).unwrap();
    /// // A backward difference: one element from before the block, none from after.
    /// let d = x
    ///     .map_overlap_asymmetric("diff", &[(1, 0)], Boundary::Constant(0), |b, _| {
    ///         let mut out = b.to_owned();
    ///         for i in 1..b.len() {
    ///             out[[i]] = b[[i]] - b[[i - 1]];
    ///         }
    ///         Ok(out)
    ///     })
    ///     .unwrap();
    /// let a = d.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(a.as_slice().unwrap(), &[1, 1, 2, 3, 4]);
    /// ```
    pub fn map_overlap_asymmetric(
        &self,
        name: &str,
        depth: &[(usize, usize)],
        boundary: impl Into<Boundaries<T>>,
        f: impl Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<T>, String> + Send + Sync + 'static,
    ) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let boundary = self.boundaries(boundary.into())?;
        let grown = self.overlap_asymmetric(depth, Boundaries::PerAxis(boundary.clone()))?;
        let mapped = grown.map_blocks(name, f)?;
        mapped.trim_overlap(self.chunks(), depth, &boundary)
    }

    /// One boundary per axis.
    fn boundaries(&self, b: Boundaries<T>) -> Result<Vec<Boundary<T>>, ArrayError> {
        match b {
            Boundaries::All(b) => Ok(vec![b; self.ndim()]),
            Boundaries::PerAxis(v) if v.len() == self.ndim() => Ok(v),
            Boundaries::PerAxis(v) => Err(kernel_error(
                "overlap",
                format!(
                    "{} boundaries for an array of {} dimensions",
                    v.len(),
                    self.ndim()
                ),
            )),
        }
    }

    /// Every block grown by `depth[axis]` elements on each side, from its neighbours or by
    /// `boundary` at the array's edges (Dask's `overlap`): one [`Boundary`] for every axis,
    /// or one per axis (Dask's `boundary={0: 100, 1: "reflect"}`). Along an axis with
    /// [`Boundary::None`] the blocks at the edges are not grown outwards.
    ///
    /// ```
    /// use rask_array::{Array, Boundary};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr2(&[[1, 2, 3], [4, 5, 6]]).into_dyn(), 3usize).unwrap();
    /// // Rows padded with 0, columns wrapped around.
    /// let o = x.overlap(&[1, 1], vec![Boundary::Constant(0), Boundary::Periodic]).unwrap();
    /// let a = o.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(
    ///     a,
    ///     ndarray::arr2(&[[0, 0, 0, 0, 0], [3, 1, 2, 3, 1], [6, 4, 5, 6, 4], [0, 0, 0, 0, 0]]).into_dyn()
    /// );
    /// ```
    pub fn overlap(
        &self,
        depth: &[usize],
        boundary: impl Into<Boundaries<T>>,
    ) -> Result<Array<T>, ArrayError> {
        let depth: Vec<(usize, usize)> = depth.iter().map(|d| (*d, *d)).collect();
        self.overlap_asymmetric(&depth, boundary)
    }

    /// [`overlap`](Array::overlap) with a depth of its own before and after the block on each
    /// axis: `(before, after)`.
    ///
    /// ```
    /// use rask_array::{Array, Boundary};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[0, 1, 2, 3, 4, 5, 6, 7]).into_dyn(), 4usize).unwrap();
    /// // Dask's test_overlap_internal_asymmetric, one axis: two before, none after.
    /// let o = x.overlap_asymmetric(&[(2, 0)], Boundary::None).unwrap();
    /// assert_eq!(o.chunks().axes(), &[vec![4, 6]]);
    /// let a = o.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(a.as_slice().unwrap(), &[0, 1, 2, 3, 2, 3, 4, 5, 6, 7]);
    /// ```
    pub fn overlap_asymmetric(
        &self,
        depth: &[(usize, usize)],
        boundary: impl Into<Boundaries<T>>,
    ) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let boundary = self.boundaries(boundary.into())?;
        let n = self.ndim();
        if depth.len() != n {
            return Err(kernel_error(
                "overlap",
                format!("{} depths for an array of {n} dimensions", depth.len()),
            ));
        }
        for (ax, &(lo, hi)) in depth.iter().enumerate() {
            let d = lo.max(hi);
            if matches!(boundary[ax], Boundary::Periodic | Boundary::Reflect)
                && d > self.shape()[ax]
            {
                return Err(kernel_error(
                    "overlap",
                    format!(
                        "a depth of {d} on axis {ax} is more than its length {}",
                        self.shape()[ax]
                    ),
                ));
            }
        }
        // The array with its boundary around it (nothing for `None`).
        let pads: Vec<(usize, usize)> = depth
            .iter()
            .zip(&boundary)
            .map(|(d, b)| if *b == Boundary::None { (0, 0) } else { *d })
            .collect();
        let before: Vec<usize> = pads.iter().map(|p| p.0).collect();
        let padded = self.with_boundary(&pads, &boundary)?;
        // Output block i along an axis covers [start - d, end + d) of the original, clipped
        // where there is no boundary; in padded coordinates that is shifted by `before`.
        let old = padded.chunks().axes().to_vec();
        let axes_out: Vec<Vec<(usize, usize)>> = (0..n)
            .map(|ax| {
                let c = &self.chunks().axes()[ax];
                let total: usize = old[ax].iter().sum();
                let mut start = 0;
                c.iter()
                    .map(|b| {
                        let (s, e) = (start + before[ax], start + before[ax] + b);
                        start += b;
                        (s.saturating_sub(depth[ax].0), (e + depth[ax].1).min(total))
                    })
                    .collect()
            })
            .collect();
        let out = Chunks::from_axes(
            axes_out
                .iter()
                .map(|a| a.iter().map(|(s, e)| e - s).collect())
                .collect(),
        );
        // Per axis and output block: the padded blocks its range touches, with the part of
        // each (as `old_to_new` gives for a rechunk; here the ranges overlap).
        let pieces: Vec<crate::rechunk::AxisPieces> = (0..n)
            .map(|ax| {
                let mut starts = Vec::with_capacity(old[ax].len());
                let mut s = 0;
                for len in &old[ax] {
                    starts.push(s);
                    s += len;
                }
                axes_out[ax]
                    .iter()
                    .map(|&(lo, hi)| {
                        old[ax]
                            .iter()
                            .enumerate()
                            .filter_map(|(k, len)| {
                                let (s, e) = (starts[k], starts[k] + len);
                                let (a, b) = (s.max(lo), e.min(hi));
                                (a < b || (lo == hi && k == 0)).then(|| (k, a - s..b.max(a) - s))
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let token = unique_token();
        Ok(padded.per_block("overlap", &token, out, |index| {
            let (grid, parts) = crate::rechunk::piece_grid(index, &pieces);
            let (args, ranges): (Vec<Arg>, Vec<_>) = parts
                .into_iter()
                .map(|(src, r)| (Arg::Key(padded.key(&src)), Some(r)))
                .unzip();
            Task::new(Assemble::<T>::from_parts(grid, ranges), args)
        }))
    }

    /// The array with `pads[axis] = (before, after)` elements of `boundary` around it.
    fn with_boundary(
        &self,
        pads: &[(usize, usize)],
        boundary: &[Boundary<T>],
    ) -> Result<Array<T>, ArrayError> {
        let mut x = self.clone();
        for (ax, &(lo, hi)) in pads.iter().enumerate() {
            if lo == 0 && hi == 0 {
                continue;
            }
            let n = x.shape()[ax] as isize;
            let ndim = x.ndim();
            let along = |start: isize, end: isize, step: isize| {
                crate::shape::along(ndim, ax, start, Some(end), step)
            };
            // A constant or the edge value is a pad; the other modes copy parts of the array.
            let pad = match boundary[ax] {
                Boundary::Constant(v) => Some(PadMode::Constant(v)),
                Boundary::Nearest => Some(PadMode::Edge),
                _ => None,
            };
            if let Some(mode) = pad {
                let widths: Vec<(usize, usize)> = (0..x.ndim())
                    .map(|k| if k == ax { (lo, hi) } else { (0, 0) })
                    .collect();
                x = x.pad(&widths, mode)?;
                continue;
            }
            let (left, right) = match boundary[ax] {
                Boundary::Constant(_) | Boundary::Nearest | Boundary::None => continue,
                Boundary::Periodic => (
                    x.slice(along(n - lo as isize, n, 1))?,
                    x.slice(along(0, hi as isize, 1))?,
                ),
                Boundary::Reflect => (
                    x.slice(along(0, lo as isize, -1))?,
                    x.slice(along(n - hi as isize, n, -1))?,
                ),
            };
            x = Array::concatenate(&[left, x.clone(), right], ax as isize)?;
        }
        Ok(x)
    }

    /// Cuts the growth of [`overlap`](Array::overlap) off each block again.
    /// `original` is the chunking before the growth.
    fn trim_overlap(
        &self,
        original: &Chunks,
        depth: &[(usize, usize)],
        boundary: &[Boundary<T>],
    ) -> Result<Array<T>, ArrayError> {
        // Per axis and block: what to cut at the start. Without a boundary a block grew only
        // as far as the array goes, which may be less than the depth; what is left after the
        // cut is the original block.
        let cuts: Vec<Vec<usize>> = original
            .axes()
            .iter()
            .enumerate()
            .map(|(ax, sizes)| {
                let mut start = 0;
                sizes
                    .iter()
                    .map(|len| {
                        let lo = depth[ax].0;
                        let cut = if boundary[ax] == Boundary::None {
                            lo.min(start)
                        } else {
                            lo
                        };
                        start += len;
                        cut
                    })
                    .collect()
            })
            .collect();
        let token = unique_token();
        Ok(self.per_block("trim", &token, original.clone(), |index| {
            let ranges: Vec<(usize, usize)> = index
                .iter()
                .enumerate()
                .map(|(ax, i)| {
                    let (cut, len) = (cuts[ax][*i as usize], original.axes()[ax][*i as usize]);
                    (cut, cut + len)
                })
                .collect();
            Task::new(
                crate::elementwise::SubBlock::<T>::new(ranges),
                [Arg::Key(self.key(index))],
            )
        }))
    }

    /// Dask's `blockwise`: `f` applied to aligned blocks of several arrays, the alignment given
    /// by index letters. `out` names the output's axes; each input names its own. A letter
    /// shared by several inputs aligns their blocks on it (cut to common blocks first); a
    /// letter not in `out` is contracted: the blocks along it are joined into one before `f`
    /// sees them. `f` must return the block of the output's shape at that position.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let a = Array::from_array(&ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]).into_dyn(), 1usize).unwrap();
    /// let b = Array::from_array(&ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0]]).into_dyn(), 1usize).unwrap();
    /// // A matrix product: "ij" from "ik" and "kj".
    /// let c = Array::blockwise("matmul", "ij", &[(&a, "ik"), (&b, "kj")], |blocks| {
    ///     let x = blocks[0].clone().into_dimensionality::<ndarray::Ix2>().map_err(|e| e.to_string())?;
    ///     let y = blocks[1].clone().into_dimensionality::<ndarray::Ix2>().map_err(|e| e.to_string())?;
    ///     Ok(x.dot(&y).into_dyn())
    /// })
    /// .unwrap();
    /// assert_eq!(c.compute_on(&rask_local::SyncScheduler, &[]).unwrap(), ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]).into_dyn());
    /// ```
    pub fn blockwise<U: Element>(
        name: &str,
        out: &str,
        inputs: &[(&Array<T>, &str)],
        f: impl Fn(&[ArrayViewD<'_, T>]) -> Result<ArrayD<U>, String> + Send + Sync + 'static,
    ) -> Result<Array<U>, ArrayError> {
        let bad = |m: String| kernel_error("blockwise", m);
        // Letter -> (length, common blocks).
        let mut dims: HashMap<char, (usize, Vec<usize>)> = HashMap::new();
        for (a, ind) in inputs {
            a.check()?;
            let letters: Vec<char> = ind.chars().collect();
            if letters.len() != a.ndim() {
                return Err(bad(format!(
                    "index {ind:?} has {} letters for an array of {} dimensions",
                    letters.len(),
                    a.ndim()
                )));
            }
            for (ax, l) in letters.iter().enumerate() {
                let (len, c) = (a.shape()[ax], a.chunks().axes()[ax].clone());
                match dims.get_mut(l) {
                    None => {
                        dims.insert(*l, (len, c));
                    }
                    Some((n, common)) => {
                        if *n != len {
                            return Err(bad(format!(
                                "index {l:?} has length {n} in one input and {len} in another"
                            )));
                        }
                        *common = crate::elementwise::refine(common, &c);
                    }
                }
            }
        }
        let out_letters: Vec<char> = out.chars().collect();
        if let Some(l) = out_letters.iter().find(|l| !dims.contains_key(l)) {
            return Err(bad(format!("output index {l:?} is in no input")));
        }
        // Inputs cut to the common blocks, contracted letters joined into one block.
        let prepared: Vec<(Array<T>, Vec<char>)> = inputs
            .iter()
            .map(|(a, ind)| {
                let letters: Vec<char> = ind.chars().collect();
                let target: Vec<Vec<usize>> = letters
                    .iter()
                    .map(|l| {
                        let (len, common) = &dims[l];
                        if out_letters.contains(l) {
                            common.clone()
                        } else {
                            vec![*len]
                        }
                    })
                    .collect();
                Ok((a.rechunk(ChunkSpec::from(target))?, letters))
            })
            .collect::<Result<_, ArrayError>>()?;
        let out_chunks = Chunks::from_axes(out_letters.iter().map(|l| dims[l].1.clone()).collect());
        let f = Arc::new(f);
        let mut layer =
            Layer::with_capacity(key_name(name, &unique_token()), out_chunks.npartitions());
        for index in out_chunks.blocks() {
            let at: HashMap<char, u32> = out_letters
                .iter()
                .copied()
                .zip(index.iter().copied())
                .collect();
            let args: Vec<Arg> = prepared
                .iter()
                .map(|(a, letters)| {
                    let src: Vec<u32> = letters
                        .iter()
                        .map(|l| at.get(l).copied().unwrap_or(0))
                        .collect();
                    Arg::Key(a.key(&src))
                })
                .collect();
            let want = out_chunks.block_shape(&index);
            let (f, label) = (Arc::clone(&f), name.to_string());
            let op = ClosureOp::new(name, move |args| {
                let views = args
                    .iter()
                    .map(block_view::<T>)
                    .collect::<Result<Vec<_>, _>>()?;
                checked(&label, f(&views), &want)
            });
            layer.insert(index, Task::new(op, args));
        }
        let layer_name = Arc::clone(layer.name());
        let mut graph = Graph::merged(prepared.iter().map(|(a, _)| a.graph()));
        graph.add_layer(layer);
        Ok(Array::from_graph(graph, layer_name, out_chunks, name))
    }
}

/// A user kernel: a block, and where it sits, to a block.
type Kernel<T, U> =
    Arc<dyn Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, String> + Send + Sync>;

/// A kernel that is a [named](rask_graph::named) function, as its canonical pointer.
type KernelPtr<T, U> = fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, TaskError>;

/// A kernel as a task can hold it: a closure (this process only) or a named function (any
/// process that links it).
enum KernelFn<T, U> {
    Closure(Kernel<T, U>),
    Named(&'static NamedFn, KernelPtr<T, U>),
}

impl<T: Element, U: Element> KernelFn<T, U> {
    fn new<F>(f: F) -> Self
    where
        F: Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, String> + Send + Sync + 'static,
    {
        if let Some(named) = rask_graph::named::of(&f)
            && let Some(p) = named.pointer::<KernelPtr<T, U>>()
        {
            return KernelFn::Named(named, p);
        }
        KernelFn::Closure(Arc::new(f))
    }

    /// The op of the task that applies the kernel to one block.
    fn op(&self, label: &str, info: BlockInfo, want: Vec<usize>) -> Arc<dyn Op> {
        match self {
            KernelFn::Closure(f) => {
                let (f, label) = (Arc::clone(f), label.to_string());
                Arc::new(ClosureOp::new(&label.clone(), move |args| {
                    let view = block_view::<T>(&args[0])?;
                    checked(&label, f(view, &info), &want)
                }))
            }
            KernelFn::Named(function, f) => Arc::new(NamedKernel::<T, U> {
                function,
                f: *f,
                label: label.to_string(),
                info,
                want,
            }),
        }
    }
}

/// A named kernel applied to one block: serializable, as the function's path.
pub(crate) struct NamedKernel<T, U> {
    function: &'static NamedFn,
    f: KernelPtr<T, U>,
    label: String,
    info: BlockInfo,
    want: Vec<usize>,
}

impl<T, U> std::fmt::Debug for NamedKernel<T, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedKernel")
            .field("function", &self.function.path)
            .field("index", &self.info.index)
            .finish_non_exhaustive()
    }
}

impl<T: Element, U: Element> Op for NamedKernel<T, U> {
    fn name(&self) -> &str {
        &self.label
    }

    fn run(&self, args: rask_graph::Args) -> Result<Value, TaskError> {
        let view = block_view::<T>(&args[0])?;
        let out = (self.f)(view, &self.info).map_err(|e| e.to_string());
        checked(&self.label, out, &self.want)
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::Exact(1)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct NamedKernelWire<'a> {
    path: std::borrow::Cow<'a, str>,
    label: std::borrow::Cow<'a, str>,
    info: BlockInfo,
    want: Vec<usize>,
}

impl<T, U> serde::Serialize for NamedKernel<T, U> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        NamedKernelWire {
            path: self.function.path.into(),
            label: self.label.as_str().into(),
            info: self.info.clone(),
            want: self.want.clone(),
        }
        .serialize(s)
    }
}

impl<'de, T: Element, U: Element> serde::Deserialize<'de> for NamedKernel<T, U> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = NamedKernelWire::deserialize(d)?;
        let function =
            rask_graph::named::resolve(&w.path).map_err(rask_graph::registry::de_error)?;
        let f = function.pointer::<KernelPtr<T, U>>().ok_or_else(|| {
            rask_graph::registry::de_error(format!(
                "function `{}` is {}, not a kernel from {} blocks to {} blocks",
                function.path,
                (function.signature)(),
                T::DTYPE,
                U::DTYPE
            ))
        })?;
        Ok(NamedKernel {
            function,
            f,
            label: w.label.into_owned(),
            info: w.info,
            want: w.want,
        })
    }
}

macro_rules! register_named_kernels {
    ($($t:ty),*) => { register_named_kernels!(@outer [$($t),*] [$($t),*]); };
    (@outer [$($t:ty),*] $us:tt) => { $( register_named_kernels!(@inner $t $us); )* };
    (@inner $t:ty [$($u:ty),*]) => {$(
        rask_graph::register_op!(
            NamedKernel<$t, $u>,
            concat!("rask.array.named-kernel.", stringify!($t), ".", stringify!($u))
        );
    )*};
}
register_named_kernels!(f64, f32, i64, i32, u64, u32, u8, bool);

/// A user reduction step: partials (and where they sit) to a partial.
type Step<A> = Arc<dyn Fn(ArrayViewD<'_, A>, &[usize]) -> Result<ArrayD<A>, String> + Send + Sync>;

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
    /// let biggest = |b: ndarray::ArrayViewD<'_, f64>, _: &[usize]| -> Result<ndarray::ArrayD<f64>, String> {
    ///     Ok(ndarray::arr1(&[b.iter().fold(0.0f64, |m, v| m.max(v.abs()))]).into_dyn())
    /// };
    /// let r = x.reduction("absmax", Reduction::all(), biggest, biggest, biggest).unwrap();
    /// assert_eq!(r.compute_on(&rask_local::SyncScheduler, &[]).unwrap().into_scalar().unwrap(), 7.0);
    /// ```
    pub fn reduction<A: Element>(
        &self,
        name: &str,
        how: crate::reduce::Reduction,
        chunk: impl Fn(ArrayViewD<'_, T>, &[usize]) -> Result<ArrayD<A>, String> + Send + Sync + 'static,
        combine: impl Fn(ArrayViewD<'_, A>, &[usize]) -> Result<ArrayD<A>, String>
        + Send
        + Sync
        + 'static,
        aggregate: impl Fn(ArrayViewD<'_, A>, &[usize]) -> Result<ArrayD<A>, String>
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

/// What [`Array::map_overlap`] puts past the array's edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Boundary<T> {
    /// The elements mirrored, the edge included (`x[d-1], …, x[0] | x[0], …`: NumPy's
    /// `symmetric`, Dask's `reflect`).
    Reflect,
    /// The elements from the other end (`… x[n-1] | x[0] …`).
    Periodic,
    /// The edge element repeated.
    Nearest,
    /// This value.
    Constant(T),
    /// Nothing: the blocks at the edges are not grown outwards.
    None,
}

/// The boundaries of [`Array::overlap`] and [`Array::map_overlap`]: one for every axis (from a
/// [`Boundary`]) or one per axis (from a `Vec` or an array of them).
///
/// ```
/// use rask_array::{Boundaries, Boundary};
/// assert_eq!(Boundaries::from(Boundary::<f64>::Nearest), Boundaries::All(Boundary::Nearest));
/// let per_axis: Boundaries<f64> = [Boundary::Constant(0.0), Boundary::Periodic].into();
/// assert_eq!(per_axis, Boundaries::PerAxis(vec![Boundary::Constant(0.0), Boundary::Periodic]));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Boundaries<T> {
    /// The same on every axis.
    All(Boundary<T>),
    /// One per axis, in order.
    PerAxis(Vec<Boundary<T>>),
}

impl<T> From<Boundary<T>> for Boundaries<T> {
    fn from(b: Boundary<T>) -> Self {
        Boundaries::All(b)
    }
}

impl<T> From<Vec<Boundary<T>>> for Boundaries<T> {
    fn from(v: Vec<Boundary<T>>) -> Self {
        Boundaries::PerAxis(v)
    }
}

impl<T, const N: usize> From<[Boundary<T>; N]> for Boundaries<T> {
    fn from(v: [Boundary<T>; N]) -> Self {
        Boundaries::PerAxis(v.into())
    }
}
