//! Linear algebra: `matmul`/`dot`/`tensordot` as blockwise products summed over the
//! contracted blocks, and `linalg::{qr, svd, norm}` for tall-and-skinny arrays (TSQR, as
//! `dask.array.linalg` does). Block kernels come from faer (products of floats, QR, SVD;
//! feature `faer`, on by default) and ndarray (products of integers, and of floats without
//! faer).

use std::sync::Arc;

use ndarray::{ArrayD, Ix2, IxDyn};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Args, Graph, Key, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, block_view, take_array};
use crate::chunks::{ChunkSpec, Chunks};
use crate::elementwise::Numeric;
use crate::error::ArrayError;

#[cfg(feature = "faer")]
mod tsqr;
#[cfg(feature = "faer")]
pub use tsqr::{QrBlock, QrPair, QrPart, Svd, SvdBlock, qr, svd};

/// Element types with a block matrix product.
pub trait Matmul: Numeric {
    /// `a @ b` for 2-d blocks.
    fn matmul(
        a: ndarray::ArrayView2<'_, Self>,
        b: ndarray::ArrayView2<'_, Self>,
    ) -> ndarray::Array2<Self>;
}

#[cfg(feature = "faer")]
macro_rules! faer_matmul {
    ($($t:ty),*) => {$(
        impl Matmul for $t {
            fn matmul(a: ndarray::ArrayView2<'_, Self>, b: ndarray::ArrayView2<'_, Self>) -> ndarray::Array2<Self> {
                let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
                let a = a.as_standard_layout();
                let b = b.as_standard_layout();
                let mut out = vec![0 as $t; m * n];
                if let (Some(sa), Some(sb)) = (a.as_slice(), b.as_slice()) {
                    let fa = faer::MatRef::from_row_major_slice(sa, m, k);
                    let fb = faer::MatRef::from_row_major_slice(sb, k, n);
                    let fo = faer::MatMut::from_row_major_slice_mut(&mut out, m, n);
                    faer::linalg::matmul::matmul(fo, faer::Accum::Replace, fa, fb, 1 as $t, faer::Par::Seq);
                }
                ndarray::Array2::from_shape_vec((m, n), out).unwrap_or_else(|_| ndarray::Array2::zeros((m, n)))
            }
        }
    )*};
}
#[cfg(feature = "faer")]
faer_matmul!(f64, f32);

/// Without faer, float products go through ndarray's (matrixmultiply's) GEMM.
#[cfg(not(feature = "faer"))]
macro_rules! gemm_matmul {
    ($($t:ty),*) => {$(
        impl Matmul for $t {
            fn matmul(a: ndarray::ArrayView2<'_, Self>, b: ndarray::ArrayView2<'_, Self>) -> ndarray::Array2<Self> {
                let mut out = ndarray::Array2::<$t>::zeros((a.nrows(), b.ncols()));
                ndarray::linalg::general_mat_mul(1 as $t, &a, &b, 0 as $t, &mut out);
                out
            }
        }
    )*};
}
#[cfg(not(feature = "faer"))]
gemm_matmul!(f64, f32);

macro_rules! ndarray_matmul {
    ($($t:ty),*) => {$(
        impl Matmul for $t {
            fn matmul(a: ndarray::ArrayView2<'_, Self>, b: ndarray::ArrayView2<'_, Self>) -> ndarray::Array2<Self> {
                // Wrapping, as NumPy's fixed-width integer products.
                let (m, n) = (a.nrows(), b.ncols());
                let mut out = ndarray::Array2::<$t>::zeros((m, n));
                for i in 0..m {
                    for (p, x) in a.row(i).iter().enumerate() {
                        let row = b.row(p);
                        out.row_mut(i).zip_mut_with(&row, |o, y| *o = o.wrapping_add(x.wrapping_mul(*y)));
                    }
                }
                out
            }
        }
    )*};
}
ndarray_matmul!(i64, i32, u64, u32, u8);

/// The product of one block of the left operand and one of the right, each read transposed
/// when its flag says so (a transpose taken in by [`fuse_transposes`]: no copy is made).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatmulBlock<T> {
    transposed: (bool, bool),
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T> MatmulBlock<T> {
    fn plain() -> Self {
        Self {
            transposed: (false, false),
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Matmul> Op for MatmulBlock<T> {
    fn name(&self) -> &str {
        "matmul"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let (a, b) = (block_view::<T>(&args[0])?, block_view::<T>(&args[1])?);
        if a.ndim() != b.ndim() || a.ndim() < 2 {
            return Err(TaskError::new(format!(
                "matmul needs blocks of one rank, at least 2: {:?} and {:?}",
                a.shape(),
                b.shape()
            )));
        }
        fn two<T>(
            v: ndarray::ArrayViewD<'_, T>,
            t: bool,
        ) -> Result<ndarray::ArrayView2<'_, T>, TaskError> {
            let v = v
                .into_dimensionality::<Ix2>()
                .map_err(|e| TaskError::new(e.to_string()))?;
            Ok(if t { v.reversed_axes() } else { v })
        }
        let product = |a: ndarray::ArrayView2<'_, T>, b: ndarray::ArrayView2<'_, T>| {
            if a.ncols() != b.nrows() {
                return Err(TaskError::new(format!(
                    "blocks of shapes {:?} and {:?} do not multiply",
                    a.shape(),
                    b.shape()
                )));
            }
            Ok(T::matmul(a, b))
        };
        if a.ndim() == 2 {
            let c = product(two(a, self.transposed.0)?, two(b, self.transposed.1)?)?;
            return Ok(Value::new(Chunk(c.into_dyn())));
        }
        // Leading batch axes: one product per batch position (the blocks' batch shapes match).
        let nb = a.ndim() - 2;
        if a.shape()[..nb] != b.shape()[..nb] {
            return Err(TaskError::new(format!(
                "batch shapes {:?} and {:?} differ",
                &a.shape()[..nb],
                &b.shape()[..nb]
            )));
        }
        let batch: Vec<usize> = a.shape()[..nb].to_vec();
        let (m, n) = (a.shape()[nb], b.shape()[nb + 1]);
        let mut out_shape = batch.clone();
        out_shape.extend([m, n]);
        let mut data: Vec<T> = Vec::with_capacity(out_shape.iter().product());
        for pos in ndarray::indices(IxDyn(&batch)) {
            let (mut x, mut y) = (a.view(), b.view());
            for d in 0..nb {
                x.index_axis_inplace(ndarray::Axis(0), pos[d]);
                y.index_axis_inplace(ndarray::Axis(0), pos[d]);
            }
            data.extend(product(two(x, false)?, two(y, false)?)?.iter().copied());
        }
        let c = ArrayD::from_shape_vec(IxDyn(&out_shape), data)
            .map_err(|e| TaskError::new(e.to_string()))?;
        Ok(Value::new(Chunk(c)))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(2)
    }
}

/// The elementwise sum of its blocks (all of one shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SumBlocks<T> {
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Numeric> Op for SumBlocks<T> {
    fn name(&self) -> &str {
        "sum-blocks"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut it = args.into_iter();
        let first = it.next().ok_or_else(|| TaskError::new("nothing to sum"))?;
        let mut acc = take_array::<T>(first)?;
        for v in it {
            let b = block_view::<T>(&v)?;
            if b.shape() != acc.shape() {
                return Err(TaskError::new(format!(
                    "blocks of shapes {:?} and {:?} do not add",
                    acc.shape(),
                    b.shape()
                )));
            }
            acc.zip_mut_with(&b, |x, y| {
                *x = T::binary(crate::elementwise::BinOp::Add, *x, *y)
            });
        }
        Ok(Value::new(Chunk(acc)))
    }
}

macro_rules! register_linalg {
    ($($t:ty),*) => {$(
        rask_graph::register_op!(MatmulBlock<$t>, concat!("rask.array.matmul-block<", stringify!($t), ">"));
        rask_graph::register_op!(SumBlocks<$t>, concat!("rask.array.sum-blocks<", stringify!($t), ">"));
    )*};
}
register_linalg!(f64, f32, i64, i32, u64, u32, u8);

fn shape_error(what: &str, message: String) -> ArrayError {
    ArrayError::Shape {
        what: what.into(),
        message,
    }
}

impl<T: Matmul> Array<T> {
    /// The matrix product (`x @ y`, NumPy's `matmul`): of 2-d arrays, or of stacks of them
    /// whose leading (batch) axes broadcast together. Each output block sums, in a tree, the
    /// products of the blocks along the contracted axis (cut to common blocks first).
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::<f64>::ones(&[6, 4], [4, 3]).unwrap();
    /// let y = x.t().unwrap();
    /// let p = x.matmul(&y).unwrap().compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert!(p.iter().all(|v| *v == 4.0));
    /// assert!(x.matmul(&x).is_err());
    /// ```
    pub fn matmul(&self, other: &Array<T>) -> Result<Array<T>, ArrayError> {
        self.check()?;
        other.check()?;
        let (a, b) = (self.shape(), other.shape());
        let (na, nb_) = (a.len(), b.len());
        if na < 2 || nb_ < 2 || a[na - 1] != b[nb_ - 2] {
            return Err(shape_error(
                "matmul",
                format!(
                    "shapes {a:?} and {b:?} do not multiply (need (..., m, k) and (..., k, n))"
                ),
            ));
        }
        // Leading batch axes broadcast together (NumPy's matmul), then cut to common blocks.
        let batch = crate::elementwise::broadcast_shapes(&a[..na - 2], &b[..nb_ - 2])?;
        let nb = batch.len();
        let widen = |x: &Array<T>, s: &[usize]| -> Result<Array<T>, ArrayError> {
            let mut to = batch.clone();
            to.extend_from_slice(&s[s.len() - 2..]);
            x.broadcast_to(&to)
        };
        let (x0, y0) = (widen(self, &a)?, widen(other, &b)?);
        let k = crate::elementwise::refine(&x0.chunks().axes()[nb + 1], &y0.chunks().axes()[nb]);
        let batch_chunks: Vec<Vec<usize>> = (0..nb)
            .map(|d| crate::elementwise::refine(&x0.chunks().axes()[d], &y0.chunks().axes()[d]))
            .collect();
        let mut xs = batch_chunks.clone();
        xs.extend([x0.chunks().axes()[nb].clone(), k.clone()]);
        let mut ys = batch_chunks.clone();
        ys.extend([k.clone(), y0.chunks().axes()[nb + 1].clone()]);
        let x = x0.rechunk(ChunkSpec::from(xs))?;
        let y = y0.rechunk(ChunkSpec::from(ys))?;
        let token = Tokenizer::new()
            .write_str(x.name())
            .write_str(y.name())
            .finish();
        let mut out_axes = batch_chunks;
        out_axes.extend([
            x.chunks().axes()[nb].clone(),
            y.chunks().axes()[nb + 1].clone(),
        ]);
        let out = Chunks::from_axes(out_axes);
        let nk = k.len();
        let product: Arc<dyn Op> = Arc::new(MatmulBlock::<T>::plain());
        let sum: Arc<dyn Op> = Arc::new(SumBlocks::<T> {
            _t: std::marker::PhantomData,
        });
        let mut partial = Layer::new(key_name("matmul-partial", &token));
        let mut graph = Graph::merged([x.graph(), y.graph()]);
        let mut final_layer = Layer::with_capacity(key_name("matmul", &token), out.npartitions());
        let mut levels: Vec<Layer> = Vec::new();
        for index in out.blocks() {
            let (pre, i, j) = (&index[..nb], index[nb], index[nb + 1]);
            let at = |a: u32, b: u32| -> Vec<u32> { pre.iter().copied().chain([a, b]).collect() };
            if nk == 1 {
                final_layer.insert(
                    index.clone(),
                    Task::from_arc(
                        Arc::clone(&product),
                        [Arg::Key(x.key(&at(i, 0))), Arg::Key(y.key(&at(0, j)))],
                    ),
                );
                continue;
            }
            let mut keys: Vec<Key> = (0..nk as u32)
                .map(|p| {
                    let mut pidx = index.clone();
                    pidx.push(p);
                    partial.insert(
                        pidx.clone(),
                        Task::from_arc(
                            Arc::clone(&product),
                            [Arg::Key(x.key(&at(i, p))), Arg::Key(y.key(&at(p, j)))],
                        ),
                    );
                    partial.key(pidx)
                })
                .collect();
            // Summed four at a time, level by level.
            let mut level = 0usize;
            while keys.len() > 4 {
                if levels.len() <= level {
                    levels.push(Layer::new(key_name(&format!("matmul-sum-{level}"), &token)));
                }
                let l = &mut levels[level];
                keys = keys
                    .chunks(4)
                    .enumerate()
                    .map(|(g, part)| {
                        let mut gidx = index.clone();
                        gidx.push(g as u32);
                        l.insert(
                            gidx.clone(),
                            Task::from_arc(Arc::clone(&sum), part.iter().cloned().map(Arg::Key)),
                        );
                        l.key(gidx)
                    })
                    .collect();
                level += 1;
            }
            final_layer.insert(
                index,
                Task::from_arc(Arc::clone(&sum), keys.into_iter().map(Arg::Key)),
            );
        }
        if !partial.is_empty() {
            graph.add_layer(partial);
        }
        for l in levels {
            graph.add_layer(l);
        }
        let name = Arc::clone(final_layer.name());
        graph.add_layer(final_layer);
        Ok(Array::from_graph(graph, name, out, "matmul"))
    }

    /// NumPy's `dot`: the inner product of 1-d arrays (a 0-d result), the matrix product of
    /// 2-d ones, and a matrix-vector product for 2-d with 1-d.
    pub fn dot(&self, other: &Array<T>) -> Result<Array<T>, ArrayError> {
        match (self.ndim(), other.ndim()) {
            (2, 2) => self.matmul(other),
            (1, 1) => self
                .expand_dims(0)?
                .matmul(&other.expand_dims(1)?)?
                .reshape(&[]),
            (2, 1) => self.matmul(&other.expand_dims(1)?)?.squeeze(Some(&[1])),
            (1, 2) => self.expand_dims(0)?.matmul(other)?.squeeze(Some(&[0])),
            (a, b) => self.tensordot(
                other,
                &[a as isize - 1],
                &[if b >= 2 { b as isize - 2 } else { 0 }],
            ),
        }
    }

    /// NumPy's `tensordot`: the sum over `self`'s axes `a` against `other`'s axes `b` (as
    /// many, of matching lengths). The free axes of `self` come first in the result, then
    /// those of `other`.
    ///
    /// ```
    /// use rask_array::Array;
    /// let x = Array::<f64>::ones(&[2, 3, 4], 2usize).unwrap();
    /// let y = Array::<f64>::ones(&[4, 3, 5], 2usize).unwrap();
    /// assert_eq!(x.tensordot(&y, &[1, 2], &[1, 0]).unwrap().shape(), vec![2, 5]);
    /// ```
    pub fn tensordot(
        &self,
        other: &Array<T>,
        a: &[isize],
        b: &[isize],
    ) -> Result<Array<T>, ArrayError> {
        let (sa, sb) = (self.shape(), other.shape());
        let norm = |axes: &[isize], n: usize| -> Result<Vec<usize>, ArrayError> {
            axes.iter()
                .map(|x| crate::shape::axis_index(*x, n, "tensordot"))
                .collect()
        };
        let (ax, bx) = (norm(a, sa.len())?, norm(b, sb.len())?);
        if ax.len() != bx.len() || ax.iter().zip(&bx).any(|(i, j)| sa[*i] != sb[*j]) {
            return Err(shape_error(
                "tensordot",
                format!("axes {a:?} of {sa:?} and {b:?} of {sb:?} do not match"),
            ));
        }
        let free_a: Vec<usize> = (0..sa.len()).filter(|i| !ax.contains(i)).collect();
        let free_b: Vec<usize> = (0..sb.len()).filter(|i| !bx.contains(i)).collect();
        let k: usize = ax.iter().map(|i| sa[*i]).product();
        let m: usize = free_a.iter().map(|i| sa[*i]).product();
        let n: usize = free_b.iter().map(|i| sb[*i]).product();
        let left = self
            .transpose(&[free_a.clone(), ax].concat())?
            .reshape(&[m as isize, k as isize])?;
        let right = other
            .transpose(&[bx, free_b.clone()].concat())?
            .reshape(&[k as isize, n as isize])?;
        let shape: Vec<isize> = free_a
            .iter()
            .map(|i| sa[*i] as isize)
            .chain(free_b.iter().map(|i| sb[*i] as isize))
            .collect();
        left.matmul(&right)?.reshape(&shape)
    }
}

// Block products read transposed blocks where they lie.
rask_graph::register_pass!(
    "array",
    20,
    "fuse-transposes-f64",
    MatmulBlock<f64>,
    fuse_transposes::<f64>
);
rask_graph::register_pass!(
    "array",
    20,
    "fuse-transposes-f32",
    MatmulBlock<f32>,
    fuse_transposes::<f32>
);

/// Takes 2-d transposes read only by block products into those products, which read the
/// untransposed block instead (`x @ x.T` makes no copy of `x.T`'s blocks).
pub(crate) fn fuse_transposes<T: Matmul>(graph: &Graph, keep: &rask_graph::KeySet) -> Graph {
    use crate::shape::{Reshape, ShapeBlock};
    use rask_graph::downcast_op;
    let is_t = |k: &Key| -> Option<Arg> {
        let task = graph.get(k)?;
        let op = downcast_op::<ShapeBlock<T>>(task.op())?;
        match (op.how(), task.args()) {
            (Reshape::Permute(p), [inner @ Arg::Key(_)]) if p == &[1, 0] => Some(inner.clone()),
            _ => None,
        }
    };
    // A transpose is taken in only where every reader is a block product.
    let mut readers: rask_graph::KeyMap<(u32, u32)> = rask_graph::KeyMap::default();
    for (_, task) in graph.iter() {
        let is_mm = downcast_op::<MatmulBlock<T>>(task.op()).is_some();
        for d in task.dependencies() {
            let e = readers.entry(d.clone()).or_default();
            e.0 += 1;
            if is_mm {
                e.1 += 1;
            }
        }
    }
    let mut replaced = rask_graph::KeyMap::default();
    let mut removed = rask_graph::KeySet::default();
    for (key, task) in graph.iter() {
        let Some(mm) = downcast_op::<MatmulBlock<T>>(task.op()) else {
            continue;
        };
        let mut args = task.args().to_vec();
        let mut flags = [mm.transposed.0, mm.transposed.1];
        let mut changed = false;
        for (i, arg) in args.iter_mut().enumerate().take(2) {
            if let Arg::Key(k) = arg
                && !keep.contains(k)
                && readers.get(k).is_some_and(|(all, mms)| all == mms)
                && let Some(inner) = is_t(k)
            {
                removed.insert(k.clone());
                *arg = inner;
                flags[i] = !flags[i];
                changed = true;
            }
        }
        if changed {
            let op = MatmulBlock::<T> {
                transposed: (flags[0], flags[1]),
                _t: std::marker::PhantomData,
            };
            replaced.insert(key, Task::new(op, args));
        }
    }
    graph.replace_tasks(replaced, &removed)
}

/// Which norm [`norm`] computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Norm {
    /// The square root of the sum of squares (the 2-norm of a vector, Frobenius of a matrix).
    Fro,
    /// Vectors: the sum of absolute values. Matrices: the largest column sum.
    L1,
    /// Vectors: the largest absolute value. Matrices: the largest row sum.
    Inf,
}

/// `linalg::norm(a, ord)` of a 1-d or 2-d array, as a 0-d array.
///
/// ```
/// use rask_array::{Array, IntoScalar, linalg::{self, Norm}};
/// use rask_graph::Collection;
/// let x = Array::from_array(&ndarray::arr1(&[3.0, -4.0]).into_dyn(), 1usize).unwrap();
/// let s = rask_local::SyncScheduler;
/// assert_eq!(linalg::norm(&x, Norm::Fro).unwrap().compute_on(&s, &[]).unwrap().into_scalar().unwrap(), 5.0);
/// assert_eq!(linalg::norm(&x, Norm::Inf).unwrap().compute_on(&s, &[]).unwrap().into_scalar().unwrap(), 4.0);
/// ```
pub fn norm(a: &Array<f64>, ord: Norm) -> Result<Array<f64>, ArrayError> {
    use crate::reduce::Reduction;
    match (a.ndim(), ord) {
        (1 | 2, Norm::Fro) => Ok(a.powi(2).sum(Reduction::all())?.sqrt()),
        (1, Norm::L1) => a.abs().sum(Reduction::all()),
        (1, Norm::Inf) => a.abs().max(Reduction::all()),
        (2, Norm::L1) => a.abs().sum(Reduction::axis(0))?.max(Reduction::all()),
        (2, Norm::Inf) => a.abs().sum(Reduction::axis(1))?.max(Reduction::all()),
        (n, _) => Err(shape_error(
            "norm",
            format!("needs a 1-d or 2-d array, got {n} dimensions"),
        )),
    }
}
