//! Rechunk planning: Dask's "tasks" method, intersections, and `auto` sizes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::ops::Range;

use crate::chunks::{AxisChunks, DEFAULT_CHUNK_BYTES};

/// How many times the blocks of the old and new chunkings together a direct rechunk may cost
/// in tasks before intermediate steps are planned (Dask's `array.rechunk.threshold`).
pub const DEFAULT_THRESHOLD: f64 = 4.0;

/// The pieces of old blocks that make each new block along one axis: per new block, a list of
/// (old block, range within it).
pub type AxisPieces = Vec<Vec<(usize, Range<usize>)>>;

/// The pieces of the old blocks that make each new block, axis by axis (Dask's
/// `old_to_new`). Zero-size new blocks get one empty piece.
///
/// ```
/// use rask_array::rechunk::old_to_new;
/// let p = old_to_new(&[vec![10, 10, 10, 10, 10]], &[vec![25, 5, 20]]);
/// assert_eq!(p[0][0], vec![(0, 0..10), (1, 0..10), (2, 0..5)]);
/// assert_eq!(p[0][1], vec![(2, 5..10)]);
/// ```
pub fn old_to_new(old: &[Vec<usize>], new: &[Vec<usize>]) -> Vec<AxisPieces> {
    old.iter()
        .zip(new)
        .map(|(o, n)| intersect_1d(o, n))
        .collect()
}

/// One axis: the breakpoints of both cuttings in order (old before new at equal positions),
/// walked interval by interval.
fn intersect_1d(old: &[usize], new: &[usize]) -> AxisPieces {
    let cum = |v: &[usize], label: bool| -> Vec<(usize, bool)> {
        let mut s = 0;
        let mut out = vec![(0, label)];
        for c in v {
            s += c;
            out.push((s, label));
        }
        out
    };
    // `false` = old, `true` = new; a stable sort by position keeps old first at ties.
    let mut breaks = cum(old, false);
    breaks.extend(cum(new, true));
    breaks.sort_by_key(|(p, _)| *p);
    let last_old_chunk = old.len().saturating_sub(1);
    let last_old_pos: usize = old.iter().sum();
    let (mut last_end, mut old_idx, mut last_o_end) = (0usize, 0usize, 0usize);
    let mut ret: AxisPieces = Vec::new();
    let mut cur: Vec<(usize, Range<usize>)> = Vec::new();
    for k in 1..breaks.len() {
        let (br, is_new) = breaks[k];
        let (pbr, p_is_new) = breaks[k - 1];
        let start = if p_is_new {
            if !cur.is_empty() {
                ret.push(std::mem::take(&mut cur));
            }
            last_end
        } else {
            0
        };
        let end = br - pbr + start;
        last_end = end;
        if br == pbr {
            if !is_new {
                old_idx += 1;
                last_o_end = end;
            }
            if is_new && p_is_new {
                // A zero-size new block: one empty piece.
                if br == last_old_pos {
                    cur.push((last_old_chunk, last_o_end..last_o_end));
                    continue;
                }
            } else {
                continue;
            }
        }
        cur.push((old_idx, start..end));
        if !is_new {
            old_idx += 1;
            last_o_end = end;
        }
    }
    if !cur.is_empty() {
        ret.push(cur);
    }
    ret
}

fn nblocks(c: &[Vec<usize>]) -> f64 {
    c.iter().map(|a| a.len() as f64).product()
}

fn largest_block(c: &[Vec<usize>]) -> f64 {
    c.iter()
        .map(|a| a.iter().copied().max().unwrap_or(0) as f64)
        .product()
}

/// Dask's estimate of the tasks a direct rechunk from `old` to `new` makes.
fn estimate_graph_size(old: &[Vec<usize>], new: &[Vec<usize>]) -> f64 {
    old.iter()
        .zip(new)
        .map(|(o, n)| {
            if o == n {
                o.len() as f64
            } else {
                (o.len() + n.len()) as f64 - 1.0
            }
        })
        .product()
}

/// Splits each size into the fewest near-equal parts no wider than `max_width`, smaller parts
/// first (Dask's `divide_to_width`); sizes of 0 vanish.
///
/// ```
/// use rask_array::rechunk::divide_to_width;
/// assert_eq!(divide_to_width(&[8, 2, 9, 10, 11, 12], 4), vec![4, 4, 2, 3, 3, 3, 3, 3, 4, 3, 4, 4, 4, 4, 4]);
/// ```
pub fn divide_to_width(desired: &[usize], max_width: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for &c in desired {
        let n = (c as f64 / max_width.max(1) as f64).ceil() as usize;
        if n > 0 {
            out.extend(even_parts(c, n));
        }
    }
    out
}

/// `n` (at least 1) near-equal parts of `e`, the smaller first.
pub(crate) fn even_parts(e: usize, n: usize) -> Vec<usize> {
    let q = e.div_ceil(n);
    let mut v = vec![q; n];
    for x in v.iter_mut().take(q * n - e) {
        *x -= 1;
    }
    v
}

/// Merges neighbouring sizes until at most `max_number` remain, always the adjacent pair
/// with the smallest sum, the leftmost on ties (Dask's `merge_to_number`).
///
/// ```
/// use rask_array::rechunk::merge_to_number;
/// assert_eq!(merge_to_number(&[5, 1, 1, 15, 10], 3), vec![7, 15, 10]);
/// assert_eq!(merge_to_number(&[10; 10], 3), vec![40, 30, 30]);
/// ```
pub fn merge_to_number(desired: &[usize], max_number: usize) -> Vec<usize> {
    let max_number = max_number.max(1);
    if desired.len() <= max_number {
        return desired.to_vec();
    }
    let w = desired[0];
    if w > 0 && desired.iter().all(|d| *d == w) {
        let total = desired.len() * w;
        let dw = total / max_number;
        let width = w * (dw / w);
        let adjust = (total - max_number * width) / w;
        let mut out = vec![width + w; adjust];
        out.extend(std::iter::repeat_n(width, max_number - adjust));
        return out;
    }
    let mut chunks = desired.to_vec();
    let mut nmerges = desired.len() - max_number;
    let mut heap: BinaryHeap<Reverse<(usize, usize, usize)>> = (0..chunks.len() - 1)
        .map(|i| Reverse((chunks[i] + chunks[i + 1], i, i + 1)))
        .collect();
    while nmerges > 0 {
        let Some(Reverse((w, i, mut j))) = heap.pop() else {
            break;
        };
        if chunks[j] == 0 {
            // `j` was merged into a later block: pair `i` with the next one still there.
            while j < chunks.len() && chunks[j] == 0 {
                j += 1;
            }
            if j < chunks.len() {
                heap.push(Reverse((chunks[i] + chunks[j], i, j)));
            }
            continue;
        } else if chunks[i] + chunks[j] != w {
            heap.push(Reverse((chunks[i] + chunks[j], i, j)));
            continue;
        }
        chunks[i] = 0;
        chunks[j] = w;
        nmerges -= 1;
    }
    chunks.into_iter().filter(|c| *c != 0).collect()
}

/// Merges blocks of `old` towards `new` on the axes where that shrinks the graph most per
/// growth of block size, within `limit` elements per block. Returns the chunks and whether
/// the limit stopped it.
fn find_merge_rechunk(
    old: &[Vec<usize>],
    new: &[Vec<usize>],
    limit: f64,
) -> (Vec<Vec<usize>>, bool) {
    let ndim = old.len();
    let ow: Vec<usize> = old
        .iter()
        .map(|a| a.iter().copied().max().unwrap_or(0))
        .collect();
    let nw: Vec<usize> = new
        .iter()
        .map(|a| a.iter().copied().max().unwrap_or(0))
        .collect();
    let gse: Vec<f64> = (0..ndim)
        .map(|d| new[d].len() as f64 / old[d].len() as f64)
        .collect();
    let bse: Vec<f64> = (0..ndim)
        .map(|d| nw[d] as f64 / if ow[d] != 0 { ow[d] as f64 } else { 1.0 })
        .collect();
    let key = |d: usize| -> f64 {
        let mut b = bse[d];
        if b == 1.0 {
            b = 1.0 + 1e-9;
        }
        if b > 0.0 { gse[d].ln() / b.ln() } else { 0.0 }
    };
    let mut order: Vec<usize> = (0..ndim).filter(|d| gse[*d] <= 1.0).collect();
    order.sort_by(|a, b| key(*a).total_cmp(&key(*b)));
    let mut lbs: u128 = ow.iter().map(|w| *w as u128).product();
    let mut chunks = old.to_vec();
    let mut hit = false;
    for d in order {
        let div = if ow[d] != 0 { ow[d] as u128 } else { 1 };
        let new_lbs = lbs * nw[d] as u128 / div;
        if new_lbs as f64 <= limit {
            chunks[d] = new[d].clone();
            lbs = new_lbs;
        } else {
            let width = (limit * ow[d] as f64 / lbs as f64) as usize;
            let c = divide_to_width(&new[d], width);
            if c.len() <= old[d].len() {
                let m = c.iter().copied().max().unwrap_or(0) as u128;
                lbs = lbs * m / div;
                chunks[d] = c;
            }
            hit = true;
        }
    }
    (chunks, hit)
}

/// Splits blocks of `old` towards `new` where that keeps the graph within `graph_limit`.
fn find_split_rechunk(old: &[Vec<usize>], new: &[Vec<usize>], graph_limit: f64) -> Vec<Vec<usize>> {
    let mut chunks = old.to_vec();
    for d in 0..old.len() {
        let g = estimate_graph_size(&chunks, new);
        if g > graph_limit {
            break;
        }
        if old[d].len() > new[d].len() {
            continue;
        }
        let max_number = (old[d].len() as f64 * graph_limit / g) as usize;
        let c = merge_to_number(&new[d], max_number);
        let max_c = c.iter().copied().max().unwrap_or(0);
        let max_o = old[d].iter().copied().max().unwrap_or(0);
        if c.len() >= old[d].len() && max_c <= max_o {
            chunks[d] = c;
        }
    }
    chunks
}

/// The chunkings a rechunk from `old` to `new` goes through, ending with `new` (Dask's
/// `plan_rechunk`): `itemsize` bytes per element, `threshold` (default 4) bounding the tasks
/// of a step against the blocks of both ends, `block_size_limit` (bytes, default 128 MiB)
/// bounding the blocks of the intermediate steps.
///
/// ```
/// use rask_array::rechunk::plan_rechunk;
/// let (c, f) = (vec![20, 20], vec![2; 20]);
/// let steps = plan_rechunk(&[f.clone(), c.clone()], &[c.clone(), f.clone()], 1, None, Some(1e7));
/// assert_eq!(steps, vec![vec![c.clone(), c.clone()], vec![c, f]]);
/// ```
pub fn plan_rechunk(
    old: &[Vec<usize>],
    new: &[Vec<usize>],
    itemsize: usize,
    threshold: Option<f64>,
    block_size_limit: Option<f64>,
) -> Vec<Vec<Vec<usize>>> {
    let threshold = threshold.filter(|t| *t > 0.0).unwrap_or(DEFAULT_THRESHOLD);
    let bsl_bytes = block_size_limit
        .filter(|b| *b > 0.0)
        .unwrap_or(DEFAULT_CHUNK_BYTES as f64);
    if new.len() <= 1 || new.iter().any(|a| a.is_empty()) {
        return vec![new.to_vec()];
    }
    let limit = (bsl_bytes / itemsize.max(1) as f64)
        .max(largest_block(old))
        .max(largest_block(new));
    let graph_threshold = threshold * (nblocks(old) + nblocks(new));
    let mut current = old.to_vec();
    let mut first = true;
    let mut steps: Vec<Vec<Vec<usize>>> = Vec::new();
    loop {
        let gs = estimate_graph_size(&current, new);
        if gs < graph_threshold {
            break;
        }
        let cand = if first {
            current.clone()
        } else {
            find_split_rechunk(&current, new, gs * threshold)
        };
        let (cand, hit) = find_merge_rechunk(&cand, new, limit);
        if (cand == current && !first) || cand == new {
            break;
        }
        if cand != current {
            steps.push(cand.clone());
        }
        current = cand;
        if !hit {
            break;
        }
        first = false;
    }
    steps.push(new.to_vec());
    steps
}

/// One piece of a new block: the old block's index, and the range of it on each axis.
pub(crate) type Piece = (Vec<u32>, Vec<(usize, usize)>);

/// The pieces that make the new block at `index`, given per axis and new block as (old
/// block, range within it), e.g. by [`old_to_new`]: the grid's shape, and for each piece in C
/// order the old block's index and the piece's range on each axis.
pub(crate) fn piece_grid(index: &[u32], pieces: &[AxisPieces]) -> (Vec<usize>, Vec<Piece>) {
    let per_axis: Vec<&Vec<(usize, Range<usize>)>> = index
        .iter()
        .enumerate()
        .map(|(d, i)| &pieces[d][*i as usize])
        .collect();
    let grid: Vec<usize> = per_axis.iter().map(|p| p.len()).collect();
    let parts = rask_graph::layers::grid(&grid)
        .map(|combo| {
            combo
                .iter()
                .enumerate()
                .map(|(d, k)| {
                    let (o, r) = &per_axis[d][*k as usize];
                    (*o as u32, (r.start, r.end))
                })
                .unzip()
        })
        .collect();
    (grid, parts)
}

/// A value in Dask's `auto_chunks` bookkeeping: a size (maybe fractional) or a block list.
#[derive(Debug, Clone, PartialEq)]
enum Auto {
    Num(f64),
    Tuple(Vec<usize>),
}

/// Dask's `round_to`: `c` rounded down to a multiple of `s` if it exceeds `s`, else to an
/// integer of at least 1.
fn round_to(c: f64, s: f64) -> f64 {
    if c <= s {
        (c.trunc()).max(1.0)
    } else {
        (c / s).floor() * s
    }
}

fn median(v: &[usize]) -> f64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    let n = s.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        s[n / 2] as f64
    } else {
        (s[n / 2 - 1] as f64 + s[n / 2] as f64) / 2.0
    }
}

/// Dask's `auto_chunks` with previous chunks: `auto` axes sized from the blocks they have,
/// scaled together so a block holds about `limit` bytes.
pub(super) fn auto_from_previous(
    mut axes: Vec<AxisChunks>,
    shape: &[usize],
    previous: &[Vec<usize>],
    itemsize: usize,
    limit: usize,
) -> Vec<AxisChunks> {
    let limit = limit.max(1) as f64;
    let itemsize = itemsize.max(1) as f64;
    let tol = 1.25f64;
    let mut autos: Vec<usize> = (0..axes.len())
        .filter(|a| axes[*a] == AxisChunks::Auto)
        .collect();
    let mut largest = crate::chunks::fixed_block_elements(&axes, shape);
    // `median` and `result`; in the reducing case they are one map, as in Dask.
    let mut median_map: HashMap<usize, Auto> = autos
        .iter()
        .map(|a| (*a, Auto::Num(median(&previous[*a]))))
        .collect();
    let mult = |median_map: &HashMap<usize, Auto>, largest: f64| -> f64 {
        let p: f64 = median_map
            .values()
            .filter_map(|v| match v {
                Auto::Num(x) if *x != 0.0 => Some(*x),
                Auto::Tuple(t) if !t.is_empty() => t.iter().copied().max().map(|m| m as f64),
                _ => None,
            })
            .product();
        limit / itemsize / largest / p
    };
    let mut multiplier = mult(&median_map, largest);
    let reduce_case = multiplier < 1.0;
    let mut result: HashMap<usize, Auto> = HashMap::new();
    // Per `auto` axis, the size to round to: its most frequent block size (the first on ties)
    // if that is above 1 and at least half the blocks have it, else the axis length.
    let ideal: HashMap<usize, f64> = autos
        .iter()
        .map(|&i| {
            let prev = &previous[i];
            // size -> (count, first position)
            let mut seen: HashMap<usize, (usize, usize)> = HashMap::new();
            for (k, v) in prev.iter().enumerate() {
                seen.entry(*v).or_insert((0, k)).0 += 1;
            }
            let best = seen
                .into_iter()
                .max_by_key(|(_, (count, first))| (*count, Reverse(*first)));
            let size = match best {
                Some((mode, (count, _))) if mode > 1 && count as f64 >= prev.len() as f64 / 2.0 => {
                    mode as f64
                }
                _ => shape[i] as f64,
            };
            (i, size)
        })
        .collect();
    let mut remaining = true;
    let mut guard = 0;
    while remaining && guard < 1000 {
        guard += 1;
        remaining = false;
        let k = autos.len() as f64;
        // Per round: the multiplier's share for each axis, and the tolerance's.
        let (m_a, tol_a) = (multiplier.powf(1.0 / k), tol.powf(1.0 / k));
        // `autos` is in axis order (made so, and only ever filtered).
        for a in autos.clone() {
            let med = match median_map.get(&a) {
                Some(Auto::Num(x)) => *x,
                Some(Auto::Tuple(t)) => t.iter().copied().max().unwrap_or(0) as f64,
                None => continue,
            };
            let proposed = med * m_a;
            let max_size = proposed * tol_a;
            let prev_max = previous[a].iter().copied().max().unwrap_or(0) as f64;
            let put = |result: &mut HashMap<usize, Auto>,
                       median_map: &mut HashMap<usize, Auto>,
                       v: Auto| {
                if reduce_case {
                    median_map.insert(a, v);
                } else {
                    result.insert(a, v);
                }
            };
            if proposed > shape[a] as f64 {
                axes[a] = AxisChunks::Size(shape[a]);
                autos.retain(|x| *x != a);
                median_map.remove(&a);
                remaining = true;
                largest *= shape[a] as f64;
                put(&mut result, &mut median_map, Auto::Tuple(vec![shape[a]]));
                continue;
            } else if reduce_case || prev_max > max_size {
                put(
                    &mut result,
                    &mut median_map,
                    Auto::Num(round_to(proposed, ideal[&a])),
                );
                if proposed < 1.0 {
                    remaining = true;
                    autos.retain(|x| *x != a);
                }
                continue;
            } else {
                let mut out = Vec::new();
                let mut acc = 0usize;
                for &c in &previous[a] {
                    if (c + acc) as f64 <= proposed {
                        acc += c;
                    } else {
                        if acc > 0 {
                            out.push(acc);
                        }
                        acc = c;
                    }
                }
                if acc > 0 {
                    out.push(acc);
                }
                put(&mut result, &mut median_map, Auto::Tuple(out));
            }
        }
        if remaining || reduce_case {
            let last = multiplier;
            multiplier = mult(&median_map, largest);
            if multiplier != last {
                remaining = true;
            }
        }
    }
    let result = if reduce_case { median_map } else { result };
    for (a, v) in result {
        axes[a] = match v {
            Auto::Num(x) if x != 0.0 => AxisChunks::Size(x as usize),
            Auto::Tuple(t) if !t.is_empty() => AxisChunks::Explicit(t),
            _ => AxisChunks::Size(0),
        };
    }
    axes
}
