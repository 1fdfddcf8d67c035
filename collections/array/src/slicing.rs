//! Slicing with the semantics of ndarray's `s![]`: ranges with steps (negative steps walk
//! from the end), integer indices (dropping an axis) and new axes. The result keeps the
//! block structure: each input block contributes the elements it holds, as Dask's slicing does.

use std::sync::Arc;

use ndarray::IxDyn;
use ndarray::{SliceInfo, SliceInfoElem};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Args, Layer, Op, Task, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::chunk::Chunk;
use crate::chunks::Chunks;
use crate::element::Element;
use crate::error::ArrayError;

/// What one block keeps along one axis (in the block's own coordinates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Keep {
    /// Elements `start..end` by `step` (a negative step walks from `end - 1` down).
    Range {
        /// First index (inclusive).
        start: usize,
        /// Last index (exclusive).
        end: usize,
        /// Step, never 0.
        step: isize,
    },
    /// One element; the axis goes.
    Index(usize),
    /// A new axis of length 1.
    NewAxis,
}

/// Slices one block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SliceBlock<T> {
    keep: Vec<Keep>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> Op for SliceBlock<T> {
    fn name(&self) -> &str {
        "getitem"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let input = args
            .into_iter()
            .next()
            .ok_or_else(|| TaskError::new("no block"))?;
        let info = info(&self.keep, crate::chunk::block_view::<T>(&input)?.shape())?;
        if let Some(c) = input.downcast_ref::<crate::chunk::ConstChunk<T>>() {
            // A slice of a constant block is a constant block.
            let shape = c.view().slice(&info).shape().to_vec();
            return Ok(Value::new(crate::chunk::ConstChunk::new(shape, c.value())));
        }
        // A block that is ours alone is sliced where it lies: no copy (a reversal only
        // changes strides).
        match input.try_take::<Chunk<T>>() {
            Ok(Ok(owned)) => Ok(Value::new(Chunk(owned.into_inner().slice_move(&info)))),
            Ok(Err(shared)) => Ok(Value::new(Chunk(shared.0.slice(&info).to_owned()))),
            Err(v) => Err(TaskError::new(format!(
                "expected a block, found {}",
                v.type_name()
            ))),
        }
    }
}

impl<T> SliceBlock<T> {
    /// What each axis keeps.
    pub(crate) fn keep(&self) -> &[Keep] {
        &self.keep
    }
}

/// `keep` as ndarray's slice info for a block of `shape`; an error if it does not fit.
fn info(
    keep: &[Keep],
    shape: &[usize],
) -> Result<SliceInfo<Vec<SliceInfoElem>, ndarray::IxDyn, ndarray::IxDyn>, TaskError> {
    let elems: Vec<SliceInfoElem> = keep
        .iter()
        .map(|k| match *k {
            Keep::Range { start, end, step } => SliceInfoElem::Slice {
                start: start as isize,
                end: Some(end as isize),
                step,
            },
            Keep::Index(i) => SliceInfoElem::Index(i as isize),
            Keep::NewAxis => SliceInfoElem::NewAxis,
        })
        .collect();
    let axes_in = keep.iter().filter(|k| !matches!(k, Keep::NewAxis)).count();
    let fits = axes_in == shape.len()
        && keep
            .iter()
            .filter(|k| !matches!(k, Keep::NewAxis))
            .zip(shape)
            .all(|(k, &n)| match *k {
                Keep::Range { start, end, step } => start <= end && end <= n && step != 0,
                Keep::Index(i) => i < n,
                Keep::NewAxis => true,
            });
    if !fits {
        return Err(TaskError::new(format!(
            "selection {keep:?} does not fit a block of shape {shape:?}"
        )));
    }
    SliceInfo::try_from(elems).map_err(|e| TaskError::new(e.to_string()))
}

/// The shape of the part of a block of `shape` that `keep` selects (an error if it does not
/// fit).
pub(crate) fn sliced_shape(keep: &[Keep], shape: &[usize]) -> Result<Vec<usize>, TaskError> {
    // A view of nothing but the shape: zero strides over one element.
    let one = [0u8];
    let v = ndarray::ArrayViewD::from_shape(
        ndarray::ShapeBuilder::strides(IxDyn(shape), IxDyn(&vec![0; shape.len()])),
        &one,
    )
    .map_err(|e| TaskError::new(e.to_string()))?;
    Ok(select(keep, v)?.shape().to_vec())
}

/// The part of a block view that `keep` selects, as a view: no copy.
pub(crate) fn select<'a, T>(
    keep: &[Keep],
    block: ndarray::ArrayViewD<'a, T>,
) -> Result<ndarray::ArrayViewD<'a, T>, TaskError> {
    let info = info(keep, block.shape())?;
    Ok(block.slice_move(&info))
}

rask_graph::register_op!(SliceBlock<f64>, "rask.array.slice-block<f64>");
rask_graph::register_op!(SliceBlock<f32>, "rask.array.slice-block<f32>");
rask_graph::register_op!(SliceBlock<i64>, "rask.array.slice-block<i64>");
rask_graph::register_op!(SliceBlock<i32>, "rask.array.slice-block<i32>");
rask_graph::register_op!(SliceBlock<u64>, "rask.array.slice-block<u64>");
rask_graph::register_op!(SliceBlock<u32>, "rask.array.slice-block<u32>");
rask_graph::register_op!(SliceBlock<u8>, "rask.array.slice-block<u8>");
rask_graph::register_op!(SliceBlock<bool>, "rask.array.slice-block<bool>");

/// One output position along an input axis: which input block, what it keeps, how many.
#[derive(Debug, Clone)]
enum Piece {
    /// A range piece: (input block, keep, count).
    Part(u32, Keep, usize),
    /// An index: (input block, keep).
    Index(u32, Keep),
    /// A new axis.
    New,
}

fn resolve(i: isize, n: usize, what: &str, axis: usize) -> Result<usize, ArrayError> {
    let r = if i < 0 { n as isize + i } else { i };
    if r < 0 || r as usize > n {
        return Err(ArrayError::Shape {
            what: "slice".into(),
            message: format!("{what} {i} is out of range for axis {axis} of length {n}"),
        });
    }
    Ok(r as usize)
}

/// The pieces one slice element takes from an axis cut into `blocks`.
fn pieces(elem: &SliceInfoElem, axis: usize, blocks: &[usize]) -> Result<Vec<Piece>, ArrayError> {
    let n: usize = blocks.iter().sum();
    let starts: Vec<usize> = blocks
        .iter()
        .scan(0, |s, b| {
            let v = *s;
            *s += b;
            Some(v)
        })
        .collect();
    match *elem {
        SliceInfoElem::NewAxis => Ok(vec![Piece::New]),
        SliceInfoElem::Index(i) => {
            let r = resolve(i, n, "index", axis)?;
            if r >= n {
                return Err(ArrayError::Shape {
                    what: "slice".into(),
                    message: format!("index {i} is out of range for axis {axis} of length {n}"),
                });
            }
            let b = (0..blocks.len())
                .find(|k| starts[*k] <= r && r < starts[*k] + blocks[*k])
                .unwrap_or(0);
            Ok(vec![Piece::Index(b as u32, Keep::Index(r - starts[b]))])
        }
        SliceInfoElem::Slice { start, end, step } => {
            if step == 0 {
                return Err(ArrayError::Shape {
                    what: "slice".into(),
                    message: format!("a step of 0 on axis {axis}"),
                });
            }
            let s = resolve(start, n, "start", axis)?;
            let e = match end {
                Some(e) => resolve(e, n, "end", axis)?,
                None => n,
            };
            let e = e.max(s);
            // A step longer than the axis selects one element, as a step of the axis length
            // does: the same selection, with no overflow (`isize::MIN` has no absolute value).
            let longest = n.max(1);
            let step = if step.unsigned_abs() > longest {
                if step > 0 {
                    longest as isize
                } else {
                    -(longest as isize)
                }
            } else {
                step
            };
            let k = step.unsigned_abs();
            let mut out = Vec::new();
            if e > s {
                // The selected indices are the values in [s, e) congruent to `base` modulo k,
                // taken upwards (step > 0) or downwards (step < 0).
                let base = if step > 0 { s } else { e - 1 } as isize;
                let ki = k as isize;
                let modk = |x: isize| ((x % ki) + ki) % ki;
                let order: Vec<usize> = if step > 0 {
                    (0..blocks.len()).collect()
                } else {
                    (0..blocks.len()).rev().collect()
                };
                for b in order {
                    let (b0, b1) = (starts[b], starts[b] + blocks[b]);
                    let (lo, hi) = (b0.max(s), b1.min(e));
                    if lo >= hi {
                        continue;
                    }
                    let lowest = lo as isize + modk(base - lo as isize);
                    let highest = (hi - 1) as isize - modk((hi - 1) as isize - base);
                    if lowest >= hi as isize || highest < lowest {
                        continue;
                    }
                    let (lowest, highest) = (lowest as usize, highest as usize);
                    out.push(Piece::Part(
                        b as u32,
                        Keep::Range {
                            start: lowest - b0,
                            end: highest - b0 + 1,
                            step,
                        },
                        (highest - lowest) / k + 1,
                    ));
                }
            }
            if out.is_empty() {
                out.push(Piece::Part(
                    0,
                    Keep::Range {
                        start: 0,
                        end: 0,
                        step: 1,
                    },
                    0,
                ));
            }
            Ok(out)
        }
    }
}

impl<T: Element> Array<T> {
    /// The elements `info` selects, with ndarray's `s![]` semantics.
    ///
    /// ```
    /// use ndarray::s;
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    ///
    /// let x = Array::<i64>::from_array(&ndarray::ArrayD::from_shape_vec(vec![2, 3], vec![0, 1, 2, 3, 4, 5]).unwrap(), 2usize).unwrap();
    /// let y = x.slice(s![..;-1, ..;-1]).unwrap();
    /// let a = y.compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(a.as_slice().unwrap(), &[5, 4, 3, 2, 1, 0]);
    /// ```
    pub fn slice(&self, info: impl AsRef<[SliceInfoElem]>) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let mut elems: Vec<SliceInfoElem> = info.as_ref().to_vec();
        let consumed = elems
            .iter()
            .filter(|e| !matches!(e, SliceInfoElem::NewAxis))
            .count();
        if consumed > self.ndim() {
            return Err(ArrayError::Shape {
                what: "slice".into(),
                message: format!(
                    "{consumed} indices for an array of {} dimensions",
                    self.ndim()
                ),
            });
        }
        for _ in consumed..self.ndim() {
            elems.push(SliceInfoElem::Slice {
                start: 0,
                end: None,
                step: 1,
            });
        }
        // Everything, in order, on every axis: the array itself (Dask: `a is a[:]`).
        let everything = elems.iter().zip(self.shape()).all(|(e, n)| match *e {
            SliceInfoElem::Slice { start, end, step } => {
                step == 1
                    && (start == 0 || (n > 0 && start == -(n as isize)))
                    && end.is_none_or(|e| e == n as isize)
            }
            _ => false,
        });
        if everything && elems.len() == self.ndim() {
            return Ok(self.clone());
        }
        // Per element, its pieces, and the output axes.
        let mut axis = 0;
        let mut per_elem: Vec<Vec<Piece>> = Vec::with_capacity(elems.len());
        for e in &elems {
            if matches!(e, SliceInfoElem::NewAxis) {
                per_elem.push(pieces(e, axis, &[1])?);
            } else {
                per_elem.push(pieces(e, axis, &self.chunks().axes()[axis])?);
                axis += 1;
            }
        }
        let out_axes: Vec<Vec<usize>> = per_elem
            .iter()
            .filter(|p| !matches!(p.first(), Some(Piece::Index(..))))
            .map(|p| {
                p.iter()
                    .map(|piece| match piece {
                        Piece::Part(_, _, c) => *c,
                        _ => 1,
                    })
                    .collect()
            })
            .collect();
        let out_chunks = Chunks::from_axes(out_axes);
        let token = Tokenizer::new()
            .write_str(self.name())
            .write(&format!("{elems:?}"))
            .finish();
        let mut layer = Layer::with_capacity(key_name("getitem", &token), out_chunks.npartitions());
        // Walk every combination of pieces: the output index skips index elements.
        let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
        for p in &per_elem {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    (0..p.len()).map(move |i| {
                        let mut c = c.clone();
                        c.push(i);
                        c
                    })
                })
                .collect();
        }
        for combo in combos {
            let mut in_index = Vec::new();
            let mut out_index = Vec::new();
            let mut keep = Vec::new();
            for (p, &i) in per_elem.iter().zip(&combo) {
                match &p[i] {
                    Piece::Part(b, k, _) => {
                        in_index.push(*b);
                        out_index.push(i as u32);
                        keep.push(*k);
                    }
                    Piece::Index(b, k) => {
                        in_index.push(*b);
                        keep.push(*k);
                    }
                    Piece::New => {
                        out_index.push(0);
                        keep.push(Keep::NewAxis);
                    }
                }
            }
            let op = SliceBlock::<T> {
                keep,
                _t: std::marker::PhantomData,
            };
            layer.insert(out_index, Task::new(op, [Arg::Key(self.key(&in_index))]));
        }
        let name = Arc::clone(layer.name());
        let mut graph = self.graph().clone();
        graph.add_layer(layer);
        Ok(Array::from_graph(graph, name, out_chunks, "getitem"))
    }
}
