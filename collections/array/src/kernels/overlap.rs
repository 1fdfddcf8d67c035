//! `overlap` / `map_overlap`: blocks grown by their neighbours' edges, and boundary modes.

use ndarray::{ArrayD, ArrayViewD};
use rask_graph::tokenize::unique_token;
use rask_graph::{Arg, Task};

use crate::array::Array;
use crate::chunks::Chunks;
use crate::element::Element;
use crate::error::{ArrayError, KernelError};
use crate::rechunk::Assemble;
use crate::shape::PadMode;

use super::{BlockInfo, kernel_error};

impl<T: Element> Array<T> {
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
        f: impl Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<T>, KernelError>
        + Send
        + Sync
        + 'static,
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
        f: impl Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<T>, KernelError>
        + Send
        + Sync
        + 'static,
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
