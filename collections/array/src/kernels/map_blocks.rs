//! `map_blocks`: a kernel per block, a closure or a named function.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD};
use rask_graph::delayed::ClosureOp;
use rask_graph::named::NamedFn;
use rask_graph::tokenize::unique_token;
use rask_graph::{Arg, Op, Task, TaskError, Value};

use crate::array::Array;
use crate::chunk::block_view;
use crate::chunks::Chunks;
use crate::element::Element;
use crate::error::{ArrayError, KernelError};

use super::{BlockInfo, checked, kernel_error};

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
        f: impl Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, KernelError>
        + Send
        + Sync
        + 'static,
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
        f: impl Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, KernelError>
        + Send
        + Sync
        + 'static,
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
        f: impl Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, KernelError>
        + Send
        + Sync
        + 'static,
    ) -> Result<Array<U>, ArrayError> {
        self.check()?;
        let n = self.ndim();
        for &a in drop_axis {
            if a >= n {
                return Err(ArrayError::Axis {
                    what: "map_blocks drop_axis".into(),
                    axis: a as isize,
                    ndim: n,
                });
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
}

/// A user kernel: a block, and where it sits, to a block.
type Kernel<T, U> =
    Arc<dyn Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, KernelError> + Send + Sync>;

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
        F: Fn(ArrayViewD<'_, T>, &BlockInfo) -> Result<ArrayD<U>, KernelError>
            + Send
            + Sync
            + 'static,
    {
        if let Some((named, p)) = rask_graph::named::pointer_of::<KernelPtr<T, U>, _>(&f) {
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
        checked(&self.label, (self.f)(view, &self.info), &self.want)
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
        let (function, f) =
            rask_graph::named::resolve_pointer::<KernelPtr<T, U>, D::Error>(&w.path, || {
                format!("a kernel from {} blocks to {} blocks", T::DTYPE, U::DTYPE)
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

super::register_element_pairs!(NamedKernel, "rask.array.named-kernel.");
