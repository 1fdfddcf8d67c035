//! Shape operations that move blocks, not data: `transpose` and its kin, `squeeze`,
//! `expand_dims`, `broadcast_to`, `flip`, `concatenate`, `stack`, `block`, `roll` and `pad`.
//! Each output block is one input block reshaped (a stride change where it can be), or the
//! input block itself.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn};
use rask_graph::ops::Identity;
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Args, Graph, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, ConstChunk, block_view, take_array};
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::Element;
use crate::error::ArrayError;

/// How a block's shape changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Reshape {
    /// Axes reordered: output axis `i` is input axis `perm[i]`.
    Permute(Vec<usize>),
    /// A new axis of length 1 at this position.
    Insert(usize),
    /// These axes (each of length 1) removed.
    Remove(Vec<usize>),
    /// Broadcast to this block shape (NumPy's rules).
    Broadcast(Vec<usize>),
    /// The same elements in this shape, in C order.
    To(Vec<usize>),
}

/// Changes one block's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShapeBlock<T> {
    how: Reshape,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T> ShapeBlock<T> {
    /// How it changes shapes.
    pub(crate) fn how(&self) -> &Reshape {
        &self.how
    }

    /// A block op that changes shapes `how`.
    pub(crate) fn new(how: Reshape) -> Self {
        Self {
            how,
            _t: std::marker::PhantomData,
        }
    }
}

impl Reshape {
    /// The block shape this gives a block of `shape`, or why it cannot.
    fn shape(&self, shape: &[usize]) -> Result<Vec<usize>, String> {
        match self {
            Reshape::Permute(perm) => {
                if perm.len() != shape.len() {
                    return Err(format!("axes {perm:?} for a block of shape {shape:?}"));
                }
                Ok(perm.iter().map(|&p| shape[p]).collect())
            }
            Reshape::Insert(at) => {
                let mut s = shape.to_vec();
                if *at > s.len() {
                    return Err(format!("axis {at} for a block of shape {shape:?}"));
                }
                s.insert(*at, 1);
                Ok(s)
            }
            Reshape::Remove(axes) => {
                if axes.iter().any(|a| shape.get(*a) != Some(&1)) {
                    return Err(format!("axes {axes:?} are not all 1 in {shape:?}"));
                }
                Ok(shape
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, d)| *d)
                    .collect())
            }
            Reshape::Broadcast(to) => Ok(to.clone()),
            Reshape::To(to) => {
                if to.iter().product::<usize>() != shape.iter().product::<usize>() {
                    return Err(format!("a block of shape {shape:?} cannot become {to:?}"));
                }
                Ok(to.clone())
            }
        }
    }

    fn apply<T: Element>(&self, a: ArrayD<T>) -> Result<ArrayD<T>, String> {
        Ok(match self {
            Reshape::Permute(perm) => a.permuted_axes(IxDyn(perm)),
            Reshape::Insert(at) => a.insert_axis(Axis(*at)),
            Reshape::Remove(axes) => {
                let mut a = a;
                let mut sorted = axes.clone();
                sorted.sort_unstable();
                for ax in sorted.into_iter().rev() {
                    a = a.index_axis_move(Axis(ax), 0);
                }
                a
            }
            Reshape::Broadcast(to) => a
                .broadcast(IxDyn(to))
                .ok_or_else(|| {
                    format!(
                        "a block of shape {:?} does not broadcast to {to:?}",
                        a.shape()
                    )
                })?
                .to_owned(),
            Reshape::To(to) => {
                let a = if a.is_standard_layout() {
                    a
                } else {
                    a.as_standard_layout().into_owned()
                };
                a.into_shape_with_order(IxDyn(to))
                    .map_err(|e| e.to_string())?
            }
        })
    }
}

impl<T: Element> Op for ShapeBlock<T> {
    fn name(&self) -> &str {
        match self.how {
            Reshape::Permute(_) => "transpose",
            Reshape::Insert(_) => "expand-dims",
            Reshape::Remove(_) => "squeeze",
            Reshape::Broadcast(_) => "broadcast-to",
            Reshape::To(_) => "reshape",
        }
    }

    fn run(&self, mut args: Args) -> Result<Value, TaskError> {
        let input = args.pop().ok_or_else(|| TaskError::new("no block"))?;
        let shape = block_view::<T>(&input)?.shape().to_vec();
        let out_shape = self.how.shape(&shape).map_err(TaskError::new)?;
        if let Some(c) = input.downcast_ref::<ConstChunk<T>>() {
            if let Reshape::Broadcast(_) = self.how
                && block_view::<T>(&input)?
                    .broadcast(IxDyn(&out_shape))
                    .is_none()
            {
                return Err(TaskError::new(format!(
                    "a block of shape {shape:?} does not broadcast to {out_shape:?}"
                )));
            }
            return Ok(Value::new(ConstChunk::new(out_shape, c.value())));
        }
        let a = take_array::<T>(input)?;
        Ok(Value::new(Chunk(
            self.how.apply(a).map_err(TaskError::new)?,
        )))
    }
}

macro_rules! register_shape {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(ShapeBlock<$t>, concat!("rask.array.shape-block<", stringify!($t), ">"));
    )*};
}
register_shape!(f64, f32, i64, i32, u64, u32, u8, bool);

fn error(what: &str, message: String) -> ArrayError {
    ArrayError::Shape {
        what: what.into(),
        message,
    }
}

/// `axis` of `ndim` axes, counted from the end when negative (NumPy's `normalize_axis_index`).
pub(crate) fn axis_index(axis: isize, ndim: usize, what: &str) -> Result<usize, ArrayError> {
    let a = if axis < 0 { axis + ndim as isize } else { axis };
    if a < 0 || a as usize >= ndim {
        return Err(ArrayError::Axis {
            what: what.into(),
            axis,
            ndim,
        });
    }
    Ok(a as usize)
}

/// A selection of `start..end` by `step` along axis `ax` (of `ndim`), everything on the others.
pub(crate) fn along(
    ndim: usize,
    ax: usize,
    start: isize,
    end: Option<isize>,
    step: isize,
) -> Vec<ndarray::SliceInfoElem> {
    (0..ndim)
        .map(|k| {
            if k == ax {
                ndarray::SliceInfoElem::Slice { start, end, step }
            } else {
                ndarray::SliceInfoElem::Slice {
                    start: 0,
                    end: None,
                    step: 1,
                }
            }
        })
        .collect()
}

impl<T: Element> Array<T> {
    /// One task per output block: block `index` of the output comes from input block
    /// `source(index)` through `op(index)`.
    pub(crate) fn per_block<U: Element>(
        &self,
        label: &str,
        token: &str,
        out: Chunks,
        task: impl FnMut(&[u32]) -> Task,
    ) -> Array<U> {
        let layer = Layer::per_block(key_name(label, token), &out.numblocks(), task);
        let name = Arc::clone(layer.name());
        let mut graph = self.graph().clone();
        graph.add_layer(layer);
        Array::from_graph(graph, name, out, label)
    }

    fn shape_op(&self, how: Reshape) -> Arc<dyn Op> {
        Arc::new(ShapeBlock::<T>::new(how))
    }

    /// The axes reordered: output axis `i` is input axis `axes[i]` (NumPy's `transpose`).
    ///
    /// ```
    /// use rask_array::Array;
    /// let x = Array::<f64>::ones(&[2, 3, 4], [1, 3, 2]).unwrap();
    /// let y = x.transpose(&[2, 0, 1]).unwrap();
    /// assert_eq!(y.shape(), vec![4, 2, 3]);
    /// assert_eq!(y.chunks().axes(), &[vec![2, 2], vec![1, 1], vec![3]]);
    /// ```
    pub fn transpose(&self, axes: &[usize]) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let n = self.ndim();
        let mut seen = vec![false; n];
        if axes.len() != n
            || axes
                .iter()
                .any(|a| *a >= n || std::mem::replace(&mut seen[*a], true))
        {
            return Err(error(
                "transpose",
                format!("axes {axes:?} are not a permutation of the {n} axes"),
            ));
        }
        if axes.iter().enumerate().all(|(i, a)| i == *a) {
            return Ok(self.clone());
        }
        let out = Chunks::from_axes(
            axes.iter()
                .map(|a| self.chunks().axes()[*a].clone())
                .collect(),
        );
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&axes.to_vec())
            .finish();
        let op = self.shape_op(Reshape::Permute(axes.to_vec()));
        Ok(self.per_block("transpose", &token, out, |index| {
            let mut src = vec![0u32; n];
            for (i, a) in axes.iter().enumerate() {
                src[*a] = index[i];
            }
            Task::from_arc(Arc::clone(&op), [Arg::Key(self.key(&src))])
        }))
    }

    /// The axes in reverse order (`x.T`).
    pub fn t(&self) -> Result<Array<T>, ArrayError> {
        let axes: Vec<usize> = (0..self.ndim()).rev().collect();
        self.transpose(&axes)
    }

    /// Axes `a` and `b` swapped (negative counts from the end).
    pub fn swapaxes(&self, a: isize, b: isize) -> Result<Array<T>, ArrayError> {
        let n = self.ndim();
        let (a, b) = (axis_index(a, n, "swapaxes")?, axis_index(b, n, "swapaxes")?);
        let mut axes: Vec<usize> = (0..n).collect();
        axes.swap(a, b);
        self.transpose(&axes)
    }

    /// Axis `source` moved to position `destination`, the others keeping their order.
    ///
    /// ```
    /// use rask_array::Array;
    /// let x = Array::<f64>::ones(&[3, 4, 5], 2usize).unwrap();
    /// assert_eq!(x.moveaxis(0, -1).unwrap().shape(), vec![4, 5, 3]);
    /// ```
    pub fn moveaxis(&self, source: isize, destination: isize) -> Result<Array<T>, ArrayError> {
        let n = self.ndim();
        let (s, d) = (
            axis_index(source, n, "moveaxis")?,
            axis_index(destination, n, "moveaxis")?,
        );
        let mut axes: Vec<usize> = (0..n).filter(|a| *a != s).collect();
        axes.insert(d, s);
        self.transpose(&axes)
    }

    /// Length-1 axes removed: `axes`, or all of them when `None` (NumPy's `squeeze`).
    pub fn squeeze(&self, axes: Option<&[isize]>) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let shape = self.shape();
        let n = shape.len();
        let axes: Vec<usize> = match axes {
            None => (0..n).filter(|a| shape[*a] == 1).collect(),
            Some(list) => {
                let mut v = Vec::with_capacity(list.len());
                for a in list {
                    let a = axis_index(*a, n, "squeeze")?;
                    if shape[a] != 1 {
                        return Err(error(
                            "squeeze",
                            format!(
                                "cannot select axis {a} to squeeze out: it has length {}, not 1",
                                shape[a]
                            ),
                        ));
                    }
                    if !v.contains(&a) {
                        v.push(a);
                    }
                }
                v
            }
        };
        if axes.is_empty() {
            return Ok(self.clone());
        }
        let out = Chunks::from_axes(
            (0..n)
                .filter(|a| !axes.contains(a))
                .map(|a| self.chunks().axes()[a].clone())
                .collect(),
        );
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&axes)
            .finish();
        let op = self.shape_op(Reshape::Remove(axes.clone()));
        Ok(self.per_block("squeeze", &token, out, |index| {
            let mut it = index.iter();
            let src: Vec<u32> = (0..n)
                .map(|a| {
                    if axes.contains(&a) {
                        0
                    } else {
                        *it.next().unwrap_or(&0)
                    }
                })
                .collect();
            Task::from_arc(Arc::clone(&op), [Arg::Key(self.key(&src))])
        }))
    }

    /// A new axis of length 1 at position `axis` (0 ..= ndim; negative counts from the end).
    pub fn expand_dims(&self, axis: isize) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let n = self.ndim();
        let at = axis_index(axis, n + 1, "expand_dims")?;
        let mut axes = self.chunks().axes().to_vec();
        axes.insert(at, vec![1]);
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&(at as u64))
            .finish();
        let op = self.shape_op(Reshape::Insert(at));
        Ok(
            self.per_block("expand-dims", &token, Chunks::from_axes(axes), |index| {
                let mut src = index.to_vec();
                src.remove(at);
                Task::from_arc(Arc::clone(&op), [Arg::Key(self.key(&src))])
            }),
        )
    }

    /// The array broadcast to `shape` by NumPy's rules. New leading axes and stretched
    /// length-1 axes are one block each (as Dask's `broadcast_to`).
    ///
    /// ```
    /// use rask_array::Array;
    /// let x = Array::<f64>::ones(&[3, 1], [2, 1]).unwrap();
    /// let y = x.broadcast_to(&[2, 3, 5]).unwrap();
    /// assert_eq!(y.chunks().axes(), &[vec![2], vec![2, 1], vec![5]]);
    /// assert!(x.broadcast_to(&[4, 5]).is_err());
    /// ```
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let mine = self.shape();
        let lead = shape.len().checked_sub(mine.len());
        let fits = lead.is_some_and(|lead| {
            mine.iter()
                .zip(&shape[lead..])
                .all(|(a, b)| a == b || *a == 1)
        });
        let Some(lead) = lead.filter(|_| fits) else {
            return Err(ArrayError::Broadcast {
                left: mine,
                right: shape.to_vec(),
            });
        };
        if lead == 0 && mine == shape {
            return Ok(self.clone());
        }
        crate::chunks::checked_size("broadcast_to", shape, T::DTYPE.itemsize())?;
        let stretched = |k: usize| mine[k] == 1 && shape[lead + k] != 1;
        let axes: Vec<Vec<usize>> = (0..shape.len())
            .map(|i| match i.checked_sub(lead) {
                None => vec![shape[i]],
                Some(k) if stretched(k) => vec![shape[i]],
                Some(k) => self.chunks().axes()[k].clone(),
            })
            .collect();
        let out = Chunks::from_axes(axes);
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&shape.to_vec())
            .finish();
        Ok(
            self.per_block("broadcast-to", &token, out.clone(), |index| {
                let src: Vec<u32> = (0..mine.len())
                    .map(|k| if stretched(k) { 0 } else { index[lead + k] })
                    .collect();
                let op = ShapeBlock::<T>::new(Reshape::Broadcast(out.block_shape(index)));
                Task::new(op, [Arg::Key(self.key(&src))])
            }),
        )
    }

    /// The elements in reverse order along `axis` (NumPy's `flip`; `x[..., ::-1, ...]`).
    pub fn flip(&self, axis: isize) -> Result<Array<T>, ArrayError> {
        let a = axis_index(axis, self.ndim(), "flip")?;
        self.slice(along(self.ndim(), a, 0, None, -1))
    }

    /// The arrays joined along `axis` (NumPy's `concatenate`). Their other axes are cut to
    /// common blocks; the blocks are not copied.
    ///
    /// ```
    /// use rask_array::Array;
    /// let a = Array::<f64>::ones(&[2, 4], [1, 2]).unwrap();
    /// let b = Array::<f64>::zeros(&[3, 4], [3, 3]).unwrap();
    /// let c = Array::concatenate(&[a, b], 0).unwrap();
    /// assert_eq!(c.chunks().axes(), &[vec![1, 1, 3], vec![2, 1, 1]]);
    /// ```
    pub fn concatenate(arrays: &[Array<T>], axis: isize) -> Result<Array<T>, ArrayError> {
        let first = arrays
            .first()
            .ok_or_else(|| error("concatenate", "needs at least one array".into()))?;
        let n = first.ndim();
        let ax = axis_index(axis, n, "concatenate")?;
        for a in arrays {
            a.check()?;
            let (s, f) = (a.shape(), first.shape());
            let same = s.len() == n && (0..n).all(|i| i == ax || s[i] == f[i]);
            if !same {
                return Err(error(
                    "concatenate",
                    format!("shapes {f:?} and {s:?} differ on an axis other than {ax}"),
                ));
            }
        }
        // Empty pieces add nothing (unless all are empty).
        let mut parts: Vec<&Array<T>> = arrays.iter().filter(|a| a.shape()[ax] > 0).collect();
        if parts.is_empty() {
            parts = arrays.iter().collect();
        }
        if parts.len() == 1 {
            return Ok(parts[0].clone());
        }
        // The other axes: the common refinement of every part's blocks.
        let common: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                parts
                    .iter()
                    .map(|p| p.chunks().axes()[i].clone())
                    .reduce(|x, y| crate::elementwise::refine(&x, &y))
                    .unwrap_or_default()
            })
            .collect();
        let cut: Vec<Array<T>> = parts
            .iter()
            .map(|p| {
                let mut axes = common.clone();
                axes[ax] = p.chunks().axes()[ax].clone();
                p.split_to(&Chunks::from_axes(axes))
            })
            .collect();
        let mut out_axes = common;
        out_axes[ax] = cut
            .iter()
            .flat_map(|c| c.chunks().axes()[ax].clone())
            .collect();
        let out = Chunks::from_axes(out_axes);
        let mut tok = Tokenizer::new();
        tok.write(&(ax as u64));
        for c in &cut {
            tok.write_str(c.name());
        }
        let token = tok.finish();
        // Output block j along the axis: part p's block j - offset[p].
        let mut owner: Vec<(usize, u32)> = Vec::new();
        for (p, c) in cut.iter().enumerate() {
            for j in 0..c.numblocks()[ax] {
                owner.push((p, j as u32));
            }
        }
        let identity: Arc<dyn Op> = Arc::new(Identity);
        let mut layer = Layer::with_capacity(key_name("concatenate", &token), out.npartitions());
        for index in out.blocks() {
            let (p, j) = owner[index[ax] as usize];
            let mut src = index.clone();
            src[ax] = j;
            layer.insert(
                index,
                Task::from_arc(Arc::clone(&identity), [Arg::Key(cut[p].key(&src))]),
            );
        }
        let name = Arc::clone(layer.name());
        let mut graph = Graph::merged(cut.iter().map(|c| c.graph()));
        graph.add_layer(layer);
        Ok(Array::from_graph(graph, name, out, "concatenate"))
    }

    /// Arrays of one shape stacked along a new axis at `axis` (NumPy's `stack`).
    pub fn stack(arrays: &[Array<T>], axis: isize) -> Result<Array<T>, ArrayError> {
        let first = arrays
            .first()
            .ok_or_else(|| error("stack", "needs at least one array".into()))?;
        if let Some(bad) = arrays.iter().find(|a| a.shape() != first.shape()) {
            return Err(error(
                "stack",
                format!(
                    "all arrays need one shape, got {:?} and {:?}",
                    first.shape(),
                    bad.shape()
                ),
            ));
        }
        let at = axis_index(axis, first.ndim() + 1, "stack")?;
        let expanded = arrays
            .iter()
            .map(|a| a.expand_dims(at as isize))
            .collect::<Result<Vec<_>, _>>()?;
        Array::concatenate(&expanded, at as isize)
    }

    /// Arrays assembled from a grid (NumPy's `block` with two levels of nesting): each row is
    /// joined along the last axis, then the rows along the one before. Arrays of fewer than
    /// two dimensions get leading axes of length 1 first.
    ///
    /// ```
    /// use rask_array::Array;
    /// let a = Array::<f64>::ones(&[2, 2], 1usize).unwrap();
    /// let b = Array::<f64>::zeros(&[2, 3], 3usize).unwrap();
    /// let c = Array::<f64>::zeros(&[1, 5], 5usize).unwrap();
    /// let m = Array::block(&[vec![a, b], vec![c]]).unwrap();
    /// assert_eq!(m.shape(), vec![3, 5]);
    /// ```
    pub fn block(rows: &[Vec<Array<T>>]) -> Result<Array<T>, ArrayError> {
        let ndim = rows
            .iter()
            .flatten()
            .map(|a| a.ndim())
            .max()
            .unwrap_or(0)
            .max(2);
        let promote = |a: &Array<T>| -> Result<Array<T>, ArrayError> {
            let mut a = a.clone();
            while a.ndim() < ndim {
                a = a.expand_dims(0)?;
            }
            Ok(a)
        };
        let joined = rows
            .iter()
            .map(|row| {
                let row = row.iter().map(promote).collect::<Result<Vec<_>, _>>()?;
                Array::concatenate(&row, -1)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Array::concatenate(&joined, -2)
    }

    /// The elements shifted by `shift` along `axis`, those past the end coming back at the
    /// start (NumPy's `roll`).
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[0, 1, 2, 3, 4]).into_dyn(), 2usize).unwrap();
    /// let y = x.roll(2, 0).unwrap().compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(y.as_slice().unwrap(), &[3, 4, 0, 1, 2]);
    /// ```
    pub fn roll(&self, shift: isize, axis: isize) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let ax = axis_index(axis, self.ndim(), "roll")?;
        let n = self.shape()[ax] as isize;
        if n == 0 {
            return Ok(self.clone());
        }
        let s = shift.rem_euclid(n);
        if s == 0 {
            return Ok(self.clone());
        }
        let tail = self.slice(along(self.ndim(), ax, n - s, Some(n), 1))?;
        let head = self.slice(along(self.ndim(), ax, 0, Some(n - s), 1))?;
        Array::concatenate(&[tail, head], ax as isize)
    }

    /// The array padded with `widths[axis] = (before, after)` elements on each axis
    /// (NumPy's `pad`): the pads are blocks of their own.
    ///
    /// ```
    /// use rask_array::{Array, PadMode};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr1(&[1, 2, 3]).into_dyn(), 2usize).unwrap();
    /// let s = rask_local::SyncScheduler;
    /// let c = x.pad(&[(2, 1)], PadMode::Constant(0)).unwrap();
    /// assert_eq!(c.compute_on(&s, &[]).unwrap().as_slice().unwrap(), &[0, 0, 1, 2, 3, 0]);
    /// let e = x.pad(&[(1, 2)], PadMode::Edge).unwrap();
    /// assert_eq!(e.compute_on(&s, &[]).unwrap().as_slice().unwrap(), &[1, 1, 2, 3, 3, 3]);
    /// ```
    pub fn pad(&self, widths: &[(usize, usize)], mode: PadMode<T>) -> Result<Array<T>, ArrayError> {
        self.check()?;
        if widths.len() != self.ndim() {
            return Err(error(
                "pad",
                format!(
                    "{} widths for an array of {} dimensions",
                    widths.len(),
                    self.ndim()
                ),
            ));
        }
        let mut x = self.clone();
        for (ax, &(before, after)) in widths.iter().enumerate() {
            if before == 0 && after == 0 {
                continue;
            }
            let n = x.shape()[ax];
            let side = |width: usize, at_end: bool| -> Result<Array<T>, ArrayError> {
                let mut shape = x.shape();
                shape[ax] = width;
                match mode {
                    PadMode::Constant(v) => {
                        let mut axes = x.chunks().axes().to_vec();
                        axes[ax] = vec![width];
                        Array::full(&shape, ChunkSpec::from(axes), v)
                    }
                    PadMode::Edge => {
                        if n == 0 {
                            return Err(error(
                                "pad",
                                format!("cannot pad axis {ax} of length 0 with its edge values"),
                            ));
                        }
                        let i = if at_end { n - 1 } else { 0 } as isize;
                        x.slice(along(x.ndim(), ax, i, Some(i + 1), 1))?
                            .broadcast_to(&shape)
                    }
                }
            };
            let mut parts = Vec::with_capacity(3);
            if before > 0 {
                parts.push(side(before, false)?);
            }
            parts.push(x.clone());
            if after > 0 {
                parts.push(side(after, true)?);
            }
            x = Array::concatenate(&parts, ax as isize)?;
        }
        Ok(x)
    }
}

/// What [`Array::pad`] fills with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadMode<T> {
    /// This value.
    Constant(T),
    /// The edge value of each axis, repeated.
    Edge,
}

/// Picks elements along an axis by index: NumPy's `take` on one block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TakeBlock<T> {
    axis: usize,
    indices: Vec<usize>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for TakeBlock<T> {
    fn name(&self) -> &str {
        "take"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let a = block_view::<T>(&args[0])?;
        let len = a.shape().get(self.axis).copied().unwrap_or(0);
        if let Some(bad) = self.indices.iter().find(|i| **i >= len) {
            return Err(TaskError::new(format!(
                "index {bad} past a block of {len} on axis {}",
                self.axis
            )));
        }
        Ok(Value::new(Chunk(a.select(Axis(self.axis), &self.indices))))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

macro_rules! register_take {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(TakeBlock<$t>, concat!("rask.array.take-block<", stringify!($t), ">"));
    )*};
}
register_take!(f64, f32, i64, i32, u64, u32, u8, bool);

impl<T: Element> Array<T> {
    /// The elements at `indices` along `axis`, in that order, repeats allowed; negative
    /// indices count from the end (NumPy's `take`, Dask's `x[..., [i, j, k], ...]`). Output
    /// blocks follow Dask: a new block starts wherever the next index lies in another input
    /// block.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::Array1::from_iter(0..80i64).into_dyn(), 20usize).unwrap();
    /// let y = x.take(&[5, 1, 47, 3], 0).unwrap();
    /// assert_eq!(y.chunks().axes(), &[vec![2, 1, 1]]);
    /// assert_eq!(y.compute_on(&rask_local::SyncScheduler, &[]).unwrap().as_slice().unwrap(), &[5, 1, 47, 3]);
    /// ```
    pub fn take(&self, indices: &[isize], axis: isize) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let ax = axis_index(axis, self.ndim(), "take")?;
        let n = self.shape()[ax] as isize;
        let blocks = &self.chunks().axes()[ax];
        let mut starts = Vec::with_capacity(blocks.len());
        let mut s = 0;
        for b in blocks {
            starts.push(s);
            s += b;
        }
        // (input block, its local indices) per output block.
        let mut groups: Vec<(u32, Vec<usize>)> = Vec::new();
        for &i in indices {
            let r = if i < 0 { i + n } else { i };
            if r < 0 || r >= n {
                return Err(error(
                    "take",
                    format!("index {i} is out of range for axis {ax} of length {n}"),
                ));
            }
            let r = r as usize;
            let b = starts.partition_point(|s| *s <= r) - 1;
            let b = (b..blocks.len())
                .find(|k| blocks[*k] > 0 && r < starts[*k] + blocks[*k])
                .unwrap_or(b);
            match groups.last_mut() {
                Some((g, v)) if *g as usize == b => v.push(r - starts[b]),
                _ => groups.push((b as u32, vec![r - starts[b]])),
            }
        }
        let mut axes = self.chunks().axes().to_vec();
        if groups.is_empty() {
            axes[ax] = vec![0];
            let mut shape = self.shape();
            shape[ax] = 0;
            return Array::zeros(&shape, ChunkSpec::from(axes));
        }
        axes[ax] = groups.iter().map(|(_, v)| v.len()).collect();
        let out = Chunks::from_axes(axes);
        let token = rask_graph::tokenize::Tokenizer::new()
            .write_str(self.name())
            .write(&(ax as u64, indices.to_vec()))
            .finish();
        Ok(self.per_block("take", &token, out, |index| {
            let (b, local) = &groups[index[ax] as usize];
            let mut src = index.to_vec();
            src[ax] = *b;
            let op = TakeBlock::<T> {
                axis: ax,
                indices: local.clone(),
                _t: std::marker::PhantomData,
            };
            Task::new(op, [Arg::Key(self.key(&src))])
        }))
    }
}
