//! `reshape` and `ravel`, with Dask's rules: the input is first rechunked so that each block
//! holds, in C order, exactly the elements of one output block (`reshape_rechunk`), then each
//! block is reshaped on its own.

use rask_graph::tokenize::Tokenizer;
use rask_graph::{Arg, Task};

use crate::array::Array;
use crate::chunks::{ChunkSpec, Chunks};
use crate::element::Element;
use crate::error::ArrayError;
use crate::rechunk::even_parts;
use crate::shape::{Reshape, ShapeBlock};

/// Dask's message for a reshape that does not merge or split axes evenly.
const UNEVEN: &str = "reshape only supports operations that merge or split existing dimensions \
evenly, as (6, 5, 4) -> (3, 2, 5, 4) or (30, 4); (6, 5, 4) -> (4, 5, 6) is not. Reshape in \
several passes, or compute first";

/// Block sizes, axis by axis.
pub type BlockSizes = Vec<Vec<usize>>;

fn prod(v: &[usize]) -> usize {
    v.iter().product()
}

/// Splits each block into about `f` parts (Dask's `expand_tuple`).
///
/// ```
/// use rask_array::reshape::expand_tuple;
/// assert_eq!(expand_tuple(&[7, 4], 3), vec![2, 2, 3, 1, 1, 2]);
/// ```
pub fn expand_tuple(chunks: &[usize], f: usize) -> Vec<usize> {
    if f <= 1 {
        return chunks.to_vec();
    }
    let mut out = Vec::new();
    for &c in chunks {
        if c <= f {
            out.extend(std::iter::repeat_n(1, c));
        } else {
            let p = c / f;
            let mut x = c;
            while x * f >= 2 * c {
                out.push(p);
                x -= p;
            }
            if x > 0 {
                out.push(x);
            }
        }
    }
    out
}

/// Merges blocks so that each is a multiple of `f` (Dask's `contract_tuple`).
///
/// ```
/// use rask_array::reshape::contract_tuple;
/// assert_eq!(contract_tuple(&[1, 1, 2, 5, 1], 2), vec![2, 2, 4, 2]);
/// ```
pub fn contract_tuple(chunks: &[usize], f: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut r = 0;
    for &c in chunks {
        let c = c + r;
        let d = c / f;
        r = c % f;
        if d * f != 0 {
            out.push(d * f);
        }
    }
    out
}

fn max_block(ch: &[Vec<usize>], a: usize, b: usize) -> usize {
    (a..=b)
        .map(|k| ch[k].iter().copied().max().unwrap_or(0))
        .product()
}

fn cross_products(ch: &[Vec<usize>], a: usize, b: usize) -> Vec<usize> {
    let mut out = vec![1usize];
    for axis in &ch[a..=b] {
        out = out
            .iter()
            .flat_map(|p| axis.iter().map(move |c| p * c))
            .collect();
    }
    out
}

/// Splits one axis of the group `lo..=hi` so its largest block (in elements) comes back to
/// `target`, keeping the axes before it all-ones (Dask's `_smooth_chunks`).
fn smooth(lo: usize, hi: usize, target: usize, ch: &mut [Vec<usize>]) {
    let cur = max_block(ch, lo, hi);
    if cur == target || target == 0 {
        return;
    }
    let mut k = lo;
    while k <= hi && ch[k].iter().all(|c| *c == 1) {
        k += 1;
    }
    if k > hi {
        return;
    }
    if ch[k].len() == 1 {
        let e = ch[k][0];
        let n = cur.div_ceil(target).min(e).max(1);
        let new = even_parts(e, n);
        let ones = new.iter().all(|c| *c == 1);
        ch[k] = new;
        if ones && k < hi {
            smooth(lo, hi, target, ch);
        }
    } else {
        let other = cur / ch[k].iter().copied().max().unwrap_or(1).max(1);
        let mut res = Vec::new();
        for &e in &ch[k] {
            if e * other <= target {
                res.push(e);
                continue;
            }
            let n = (e * other).div_ceil(target);
            res.extend(even_parts(e, n));
        }
        ch[k] = res;
    }
}

/// The chunks the input must have, and those the output gets, for a reshape from `inshape`
/// to `outshape` (Dask's `reshape_rechunk`).
///
/// ```
/// use rask_array::reshape::reshape_rechunk;
/// let (inc, outc) = reshape_rechunk(&[64, 4], &[8, 8, 4], &[vec![16; 4], vec![2, 2]]).unwrap();
/// assert_eq!(inc, vec![vec![16; 4], vec![2, 2]]);
/// assert_eq!(outc, vec![vec![2; 4], vec![8], vec![2, 2]]);
/// ```
pub fn reshape_rechunk(
    inshape: &[usize],
    outshape: &[usize],
    inchunks: &[Vec<usize>],
) -> Result<(BlockSizes, BlockSizes), ArrayError> {
    let uneven = || ArrayError::Shape {
        what: "reshape".into(),
        message: UNEVEN.into(),
    };
    let mut ri: Vec<Option<Vec<usize>>> = vec![None; inshape.len()];
    let mut ro: Vec<Option<Vec<usize>>> = vec![None; outshape.len()];
    let mut ii = inshape.len() as isize - 1;
    let mut oi = outshape.len() as isize - 1;
    while ii >= 0 && oi >= 0 {
        let (i, o) = (ii as usize, oi as usize);
        let (din, dout) = (inshape[i], outshape[o]);
        if din == dout {
            ri[i] = Some(inchunks[i].clone());
            ro[o] = Some(inchunks[i].clone());
            ii -= 1;
            oi -= 1;
        } else if din == 1 {
            ri[i] = Some(vec![1]);
            ii -= 1;
        } else if dout == 1 {
            ro[o] = Some(vec![1]);
            oi -= 1;
        } else if din < dout {
            // Merge input axes ileft..=i into output axis o.
            let mut ileft = i as isize - 1;
            while ileft >= 0 && prod(&inshape[ileft as usize..=i]) < dout {
                ileft -= 1;
            }
            if ileft < 0 || prod(&inshape[ileft as usize..=i]) != dout {
                return Err(uneven());
            }
            let ileft = ileft as usize;
            if (0..i).all(|k| inchunks[k].len() == inshape[k]) {
                // Every earlier axis is in blocks of 1: blocks just move.
                for k in 0..=i {
                    ri[k] = Some(inchunks[k].clone());
                }
                let n: usize = (ileft..i).map(|k| inchunks[k].len()).product();
                ro[o] = Some(inchunks[i].repeat(n));
            } else {
                let mut ch: Vec<Vec<usize>> = inchunks.to_vec();
                for k in ileft + 1..=i {
                    ch[k] = vec![inshape[k]];
                }
                let f: usize = (ileft + 1..=i).map(|k| inchunks[k].len()).product();
                ch[ileft] = expand_tuple(&inchunks[ileft], f);
                let target = max_block(inchunks, ileft, i);
                smooth(ileft, i, target, &mut ch);
                ro[o] = Some(cross_products(&ch, ileft, i));
                for k in ileft..=i {
                    ri[k] = Some(ch[k].clone());
                }
            }
            oi -= 1;
            ii = ileft as isize - 1;
        } else {
            // Split input axis i into output axes oleft..=o.
            let mut oleft = o as isize - 1;
            while oleft >= 0 && prod(&outshape[oleft as usize..=o]) < din {
                oleft -= 1;
            }
            if oleft < 0 || prod(&outshape[oleft as usize..=o]) != din {
                return Err(uneven());
            }
            let oleft = oleft as usize;
            let cs = prod(&outshape[oleft + 1..=o]);
            let c = contract_tuple(&inchunks[i], cs);
            let mut ch: Vec<Vec<usize>> = outshape.iter().map(|d| vec![*d]).collect();
            ch[oleft] = c.iter().map(|x| x / cs).collect();
            let target = inchunks[i].iter().copied().max().unwrap_or(0);
            smooth(oleft, o, target, &mut ch);
            ri[i] = Some(cross_products(&ch, oleft, o));
            for k in oleft..=o {
                ro[k] = Some(ch[k].clone());
            }
            oi = oleft as isize - 1;
            ii -= 1;
        }
    }
    // What is left on either side is axes of length 1.
    let fill = |v: Vec<Option<Vec<usize>>>| {
        v.into_iter()
            .map(|c| c.unwrap_or_else(|| vec![1]))
            .collect()
    };
    Ok((fill(ri), fill(ro)))
}

impl<T: Element> Array<T> {
    /// The same elements in another shape, in C order (NumPy's and Dask's `reshape`). One
    /// entry may be `-1`: it is worked out from the others.
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::<f64>::ones(&[6, 5, 4], [3, 2, 2]).unwrap();
    /// let y = x.reshape(&[30, -1]).unwrap();
    /// assert_eq!(y.chunks().axes(), &[vec![5; 6], vec![2, 2]]);
    /// assert_eq!(y.compute_on(&rask_local::SyncScheduler, &[]).unwrap().shape(), &[30, 4]);
    /// assert!(x.reshape(&[4, 5, 6]).is_err()); // 6 and 5 do not split evenly into 4, 5, 6
    /// ```
    pub fn reshape(&self, shape: &[isize]) -> Result<Array<T>, ArrayError> {
        self.reshape_with(shape, true)
    }

    /// [`reshape`](Array::reshape); with `merge_chunks` false, when axes are merged away the
    /// leading input axes are first cut into blocks of 1 instead of merging blocks (Dask's
    /// `merge_chunks=False`).
    pub fn reshape_with(
        &self,
        shape: &[isize],
        merge_chunks: bool,
    ) -> Result<Array<T>, ArrayError> {
        self.check()?;
        let err = |message: String| ArrayError::Shape {
            what: "reshape".into(),
            message,
        };
        let unknown = shape.iter().filter(|s| **s == -1).count();
        if unknown > 1 {
            return Err(err("can only specify one unknown dimension".into()));
        }
        if let Some(bad) = shape.iter().find(|s| **s < -1) {
            return Err(err(format!("negative dimension {bad} in {shape:?}")));
        }
        if unknown == 1 && shape.len() == 1 && self.ndim() == 1 {
            return Ok(self.clone());
        }
        let size = self.size();
        // The known dimensions' product, checked: one that overflows cannot be the size.
        let known_dims: Vec<usize> = shape
            .iter()
            .filter(|s| **s >= 0)
            .map(|s| *s as usize)
            .collect();
        let known = crate::chunks::checked_size("reshape", &known_dims, T::DTYPE.itemsize())?;
        let new: Vec<usize> = if unknown == 1 {
            if known == 0 || !size.is_multiple_of(known) {
                return Err(err(format!(
                    "cannot reshape an array of size {size} into {shape:?}"
                )));
            }
            shape
                .iter()
                .map(|s| if *s == -1 { size / known } else { *s as usize })
                .collect()
        } else {
            shape.iter().map(|s| *s as usize).collect()
        };
        crate::chunks::checked_size("reshape", &new, T::DTYPE.itemsize())?;
        if prod(&new) != size {
            return Err(err(format!(
                "total size of new array must be unchanged: {:?} has {size} elements, {new:?} would have {}",
                self.shape(),
                prod(&new)
            )));
        }
        if new == self.shape() {
            return Ok(self.clone());
        }
        if size == 0 {
            // No elements to move: an empty array of the new shape.
            return Array::zeros(&new, ChunkSpec::from(&new[..]));
        }
        let token = Tokenizer::new().write_str(self.name()).write(&new).finish();
        let block_op = |to: Vec<usize>| ShapeBlock::<T>::new(Reshape::To(to));
        if self.npartitions() == 1 {
            let out = Chunks::from_axes(new.iter().map(|d| vec![*d]).collect());
            let src = self.key(&vec![0; self.ndim()]);
            return Ok(self.per_block("reshape", &token, out, |_| {
                Task::new(block_op(new.clone()), [Arg::Key(src.clone())])
            }));
        }
        let mut x = self.clone();
        if !merge_chunks && x.ndim() > new.len() {
            let k = x.ndim() - new.len();
            let axes: Vec<Vec<usize>> = x
                .chunks()
                .axes()
                .iter()
                .enumerate()
                .map(|(a, c)| {
                    if a < k {
                        vec![1; x.shape()[a]]
                    } else {
                        c.clone()
                    }
                })
                .collect();
            x = x.rechunk(ChunkSpec::from(axes))?;
        }
        let (inchunks, outchunks) = reshape_rechunk(&x.shape(), &new, x.chunks().axes())?;
        let x = x.rechunk(ChunkSpec::from(inchunks))?;
        let out = Chunks::from_axes(outchunks);
        // The k-th input block (C order) holds the k-th output block's elements.
        let sources = x.chunks().blocks();
        let nb = out.numblocks();
        let shapes = out.clone();
        Ok(x.per_block("reshape", &token, out, |index| {
            let k = index
                .iter()
                .zip(&nb)
                .fold(0, |k, (i, n)| k * n + *i as usize);
            Task::new(
                block_op(shapes.block_shape(index)),
                [Arg::Key(x.key(&sources[k]))],
            )
        }))
    }

    /// The elements as one axis, in C order (`reshape(-1)`).
    pub fn ravel(&self) -> Result<Array<T>, ArrayError> {
        self.reshape(&[-1])
    }

    /// NumPy's `roll` with no axis: the elements shifted in C order over the whole array,
    /// the shape kept (ravel, roll, reshape back).
    ///
    /// ```
    /// use rask_array::Array;
    /// use rask_graph::Collection;
    /// let x = Array::from_array(&ndarray::arr2(&[[0, 1, 2], [3, 4, 5]]).into_dyn(), 1usize).unwrap();
    /// let y = x.roll_flat(2).unwrap().compute_on(&rask_local::SyncScheduler, &[]).unwrap();
    /// assert_eq!(y, ndarray::arr2(&[[4, 5, 0], [1, 2, 3]]).into_dyn());
    /// ```
    pub fn roll_flat(&self, shift: isize) -> Result<Array<T>, ArrayError> {
        let shape: Vec<isize> = self.shape().iter().map(|d| *d as isize).collect();
        self.ravel()?.roll(shift, 0)?.reshape(&shape)
    }
}
