//! `argmin` / `argmax`: where the smallest / largest element is (NumPy's semantics: the first
//! one on ties; the first NaN if there is one).

use std::sync::Arc;

use ndarray::{ArrayD, Axis, Dimension, IxDyn};
use rask_graph::layers::{TreeLevel, reduction_tree};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Args, Datum, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::{Chunk, block_view};
use crate::chunks::Chunks;
use crate::element::Element;
use crate::error::ArrayError;

/// The best value found so far at each position, and where it was (a global index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub struct ArgPartial<T: Element> {
    shape: Vec<usize>,
    values: Vec<T>,
    index: Vec<i64>,
}

impl<T: Element> Datum for ArgPartial<T> {
    fn nbytes(&self) -> usize {
        self.values.len() * (size_of::<T>() + 8)
    }
}

fn is_nan<T: PartialOrd>(x: T) -> bool {
    x.partial_cmp(&x).is_none()
}

/// Whether `(b, ib)` beats `(a, ia)`: a NaN wins, then the better value, then the lower index.
fn beats<T: Element>(max: bool, a: T, ia: i64, b: T, ib: i64) -> bool {
    match (is_nan(a), is_nan(b)) {
        (true, true) => ib < ia,
        (true, false) => false,
        (false, true) => true,
        _ => {
            if a == b {
                ib < ia
            } else if max {
                b > a
            } else {
                b < a
            }
        }
    }
}

/// Reduces one block along `axis` (or over all axes, by flat index, when `None`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArgBlock<T> {
    max: bool,
    axis: Option<usize>,
    /// The block's first position in the array, per axis.
    offsets: Vec<usize>,
    /// The array's shape (for flat indices).
    shape: Vec<usize>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for ArgBlock<T> {
    fn name(&self) -> &str {
        if self.max {
            "argmax-chunk"
        } else {
            "argmin-chunk"
        }
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let block = block_view::<T>(&args[0])?;
        if block.is_empty() {
            return Err(TaskError::new("an empty block has no arg-extremum"));
        }
        let flat = |local: &[usize]| -> i64 {
            let mut f = 0i64;
            for (k, (l, o)) in local.iter().zip(&self.offsets).enumerate() {
                f = f * self.shape[k] as i64 + (l + o) as i64;
            }
            f
        };
        let (shape, values, index) = match self.axis {
            None => {
                let mut best: Option<(T, i64)> = None;
                for (pos, x) in block.indexed_iter() {
                    let i = flat(pos.slice());
                    if best.is_none_or(|(b, ib)| beats(self.max, b, ib, *x, i)) {
                        best = Some((*x, i));
                    }
                }
                let (v, i) = best.unwrap_or_else(|| unreachable!("non-empty"));
                (vec![], vec![v], vec![i])
            }
            Some(ax) => {
                let mut shape = block.shape().to_vec();
                shape[ax] = 1;
                let n: usize = shape.iter().product();
                let mut values = vec![T::default(); n];
                let mut index = vec![-1i64; n];
                let out_shape = shape.clone();
                for (pos, x) in block.indexed_iter() {
                    let mut p = pos.slice().to_vec();
                    let i = (p[ax] + self.offsets[ax]) as i64;
                    p[ax] = 0;
                    let mut slot = 0;
                    for (k, v) in p.iter().enumerate() {
                        slot = slot * out_shape[k] + v;
                    }
                    if index[slot] < 0 || beats(self.max, values[slot], index[slot], *x, i) {
                        values[slot] = *x;
                        index[slot] = i;
                    }
                }
                (shape, values, index)
            }
        };
        Ok(Value::new(ArgPartial {
            shape,
            values,
            index,
        }))
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
    }
}

/// Combines partial results; the last one gives the indices (`finish`), dropping the axis.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArgCombine<T> {
    max: bool,
    finish: Option<Option<usize>>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for ArgCombine<T> {
    fn name(&self) -> &str {
        if self.max {
            "argmax-aggregate"
        } else {
            "argmin-aggregate"
        }
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut it = args.iter();
        let first = it
            .next()
            .ok_or_else(|| TaskError::new("nothing to combine"))?;
        let mut acc = first.get::<ArgPartial<T>>()?.clone();
        for v in it {
            let p = v.get::<ArgPartial<T>>()?;
            if p.shape != acc.shape {
                return Err(TaskError::new("partial results of different shapes"));
            }
            for k in 0..acc.values.len() {
                if beats(
                    self.max,
                    acc.values[k],
                    acc.index[k],
                    p.values[k],
                    p.index[k],
                ) {
                    acc.values[k] = p.values[k];
                    acc.index[k] = p.index[k];
                }
            }
        }
        match self.finish {
            None => Ok(Value::new(acc)),
            Some(axis) => {
                let mut a = ArrayD::from_shape_vec(IxDyn(&acc.shape), acc.index)
                    .map_err(|e| TaskError::new(e.to_string()))?;
                if let Some(ax) = axis {
                    a = a.index_axis_move(Axis(ax), 0);
                }
                Ok(Value::new(Chunk(a)))
            }
        }
    }
}

macro_rules! register_arg {
    ($($t:ty),*) => {$(
        rask_graph::register_value!(ArgPartial<$t>, concat!("rask.array.arg-partial<", stringify!($t), ">"));
        rask_graph::register_op!(ArgBlock<$t>, concat!("rask.array.arg-block<", stringify!($t), ">"));
        rask_graph::register_op!(ArgCombine<$t>, concat!("rask.array.arg-combine<", stringify!($t), ">"));
    )*};
}
register_arg!(f64, f32, i64, i32, u64, u32, u8, bool);

impl<T: Element> Array<T> {
    fn arg(
        &self,
        max: bool,
        axis: Option<usize>,
        split_every: Option<usize>,
    ) -> Result<Array<i64>, ArrayError> {
        let split_every = split_every
            .unwrap_or(crate::reduce::DEFAULT_SPLIT_EVERY)
            .max(2);
        self.check()?;
        let shape = self.shape();
        if let Some(ax) = axis
            && ax >= shape.len()
        {
            return Err(ArrayError::Axis {
                what: if max { "argmax" } else { "argmin" }.into(),
                axis: ax as isize,
                ndim: shape.len(),
            });
        }
        if self.size() == 0 {
            return Err(ArrayError::Shape {
                what: if max { "argmax" } else { "argmin" }.into(),
                message: "an empty array has no arg-extremum".into(),
            });
        }
        let label = if max { "argmax" } else { "argmin" };
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&(max, axis.map(|a| a as u64), split_every as u64))
            .finish();
        let mut graph = self.graph().clone();
        let mut chunk_layer = Layer::with_capacity(
            key_name(&format!("{label}-chunk"), &token),
            self.npartitions(),
        );
        for index in rask_graph::layers::grid(&self.numblocks()) {
            let offsets = self
                .chunks()
                .block_ranges(&index)
                .iter()
                .map(|r| r.start)
                .collect();
            let op = ArgBlock::<T> {
                max,
                axis,
                offsets,
                shape: shape.clone(),
                _t: std::marker::PhantomData,
            };
            chunk_layer.insert(index.clone(), Task::new(op, [Arg::Key(self.key(&index))]));
        }
        let chunk_name = Arc::clone(chunk_layer.name());
        graph.add_layer(chunk_layer);
        // Per output block, the partial results of every block along the reduced axis (or all
        // blocks) are combined `split_every` at a time, in a tree.
        let partial: Arc<dyn Op> = Arc::new(ArgCombine::<T> {
            max,
            finish: None,
            _t: std::marker::PhantomData,
        });
        let finish: Arc<dyn Op> = Arc::new(ArgCombine::<T> {
            max,
            finish: Some(axis),
            _t: std::marker::PhantomData,
        });
        // Per output block, the partial results of every block along the reduced axis (or of
        // all blocks) are combined `split_every` at a time, in a tree (the collection kit's).
        let (out_chunks, reduced): (Chunks, Vec<usize>) = match axis {
            None => (Chunks::from_axes(vec![]), (0..self.ndim()).collect()),
            Some(ax) => {
                let mut axes = self.chunks().axes().to_vec();
                axes.remove(ax);
                (Chunks::from_axes(axes), vec![ax])
            }
        };
        let name = reduction_tree(
            &mut graph,
            chunk_name,
            &self.numblocks(),
            &reduced,
            split_every,
            false,
            |level| {
                let (layer, op) = if level.last {
                    (key_name(label, &token), Arc::clone(&finish))
                } else {
                    let t = Tokenizer::new()
                        .write_str(&token)
                        .write(&(level.depth as u64))
                        .finish();
                    (
                        key_name(&format!("{label}-partial"), &t),
                        Arc::clone(&partial),
                    )
                };
                TreeLevel::new(layer, move |_, inputs| {
                    Task::from_arc(Arc::clone(&op), inputs)
                })
            },
        );
        Ok(Array::from_graph(graph, name, out_chunks, label))
    }

    /// Where the smallest element is: a flat C-order index over all axes (`axis = None`), or
    /// the index along `axis` for every other position (NumPy's `argmin`).
    ///
    /// ```
    /// use rask_array::{Array, IntoScalar};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr2(&[[3, 1, 4], [1, 5, 0]]).into_dyn(), 1usize).unwrap();
    /// let s = rask_local::SyncScheduler;
    /// assert_eq!(x.argmin(None).unwrap().compute_on(&s, &[]).unwrap().into_scalar().unwrap(), 5);
    /// assert_eq!(x.argmax(Some(1)).unwrap().compute_on(&s, &[]).unwrap().as_slice().unwrap(), &[2, 1]);
    /// ```
    pub fn argmin(&self, axis: Option<usize>) -> Result<Array<i64>, ArrayError> {
        self.arg(false, axis, None)
    }

    /// Where the largest element is (see [`argmin`](Array::argmin)).
    pub fn argmax(&self, axis: Option<usize>) -> Result<Array<i64>, ArrayError> {
        self.arg(true, axis, None)
    }

    /// [`argmin`](Array::argmin), its partial results combined `split_every` at a time
    /// (Dask's `split_every`; at least 2, default 4).
    ///
    /// ```
    /// use rask_array::{Array, IntoScalar};
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::Array1::from_iter((0..100).map(|i| (i * 37 % 101) as f64)).into_dyn(), 3usize).unwrap();
    /// let m = x.argmin_split_every(None, 2).unwrap();
    /// assert_eq!(m.compute_on(&rask_local::SyncScheduler, &[]).unwrap().into_scalar().unwrap(), 0);
    /// ```
    pub fn argmin_split_every(
        &self,
        axis: Option<usize>,
        split_every: usize,
    ) -> Result<Array<i64>, ArrayError> {
        self.arg(false, axis, Some(split_every))
    }

    /// [`argmax`](Array::argmax), its partial results combined `split_every` at a time.
    pub fn argmax_split_every(
        &self,
        axis: Option<usize>,
        split_every: usize,
    ) -> Result<Array<i64>, ArrayError> {
        self.arg(true, axis, Some(split_every))
    }
}
