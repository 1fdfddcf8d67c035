//! Assembling new blocks from pieces of old ones; [`Mosaic`]s for intermediate steps.

use ndarray::{ArrayD, IxDyn, Slice};
use rask_graph::{Args, Datum, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::chunk::{Chunk, ConstChunk, block_view, take_array};
use crate::element::Element;

/// Assembles one block from a grid of pieces, given in C order: each argument is an old
/// block, of which the piece is the part `ranges[i]` (the whole block when `None`). Pieces are
/// read where they lie. An eager assembly copies them into the new block; a lazy one (a
/// rechunk's intermediate step) returns a [`Mosaic`] that only records them, so the data is
/// copied once, by the last step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assemble<T> {
    pub(super) grid: Vec<usize>,
    pub(super) ranges: Vec<Option<Vec<(usize, usize)>>>,
    #[serde(default)]
    pub(super) lazy: bool,
    pub(super) _t: std::marker::PhantomData<fn() -> T>,
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
        let mut data = crate::chunk::big_vec(len)?;
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

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::AtLeast(1)
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
