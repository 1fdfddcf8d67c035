//! User kernels: map_blocks, overlap / map_overlap with every boundary mode, blockwise.

use ndarray::{ArrayD, Axis, Ix2, IxDyn, Slice};
use proptest::prelude::*;
use rask_array::{Array, Boundary};
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};

fn data(shape: &[usize]) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|i| ((i * 37) % 23) as f64).collect(),
    )
    .unwrap()
}

fn both(x: &Array<f64>) -> ArrayD<f64> {
    let a = x.compute_on(&SyncScheduler, &[]).unwrap();
    let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    assert_eq!(a, x.compute_on(&t as &dyn Scheduler, &[]).unwrap());
    a
}

/// NumPy's `pad` of `a` by `d` on every axis with Dask's boundary semantics.
fn padded(a: &ArrayD<f64>, d: &[usize], b: Boundary<f64>) -> ArrayD<f64> {
    let pads: Vec<(usize, usize)> = d.iter().map(|d| (*d, *d)).collect();
    padded_axes(a, &pads, &vec![b; d.len()])
}

/// `a` padded by `pads[axis] = (before, after)` with boundary `b[axis]` on each axis.
fn padded_axes(a: &ArrayD<f64>, pads: &[(usize, usize)], b: &[Boundary<f64>]) -> ArrayD<f64> {
    let shape: Vec<usize> = a
        .shape()
        .iter()
        .zip(pads)
        .map(|(n, (lo, hi))| n + lo + hi)
        .collect();
    ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
        let mut src = Vec::with_capacity(shape.len());
        for k in 0..shape.len() {
            let n = a.shape()[k] as isize;
            let i = ix[k] as isize - pads[k].0 as isize;
            let j = match b[k] {
                Boundary::Periodic => i.rem_euclid(n),
                Boundary::Nearest => i.clamp(0, n - 1),
                Boundary::Reflect => {
                    if i < 0 {
                        -i - 1
                    } else if i >= n {
                        2 * n - i - 1
                    } else {
                        i
                    }
                }
                Boundary::Constant(v) => {
                    if i < 0 || i >= n {
                        return v;
                    }
                    i
                }
                Boundary::None => i,
            };
            src.push(j as usize);
        }
        a[IxDyn(&src)]
    })
}

/// A box sum of radius `d` on every axis, on an array already padded by `d`: the inner part.
fn box_sum(p: &ArrayD<f64>, d: &[usize]) -> ArrayD<f64> {
    let inner: Vec<usize> = p.shape().iter().zip(d).map(|(n, d)| n - 2 * d).collect();
    ArrayD::from_shape_fn(IxDyn(&inner), |ix| {
        let mut w = p.view();
        for k in 0..inner.len() {
            w.slice_axis_inplace(Axis(k), Slice::from(ix[k]..ix[k] + 2 * d[k] + 1));
        }
        w.sum()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A box filter through map_overlap equals the filter on the whole padded array.
    #[test]
    fn map_overlap_matches_a_whole_array_filter(
        shape in proptest::collection::vec(1usize..9, 1..3),
        chunks in proptest::collection::vec(1usize..5, 2),
        depth in proptest::collection::vec(0usize..3, 2),
        mode in 0usize..4,
    ) {
        let n = shape.len();
        let d: Vec<usize> = depth[..n].iter().zip(&shape).map(|(d, s)| *d.min(s)).collect();
        let b = [Boundary::Reflect, Boundary::Periodic, Boundary::Nearest, Boundary::Constant(-1.0)][mode];
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..n]).unwrap();
        let dd = d.clone();
        let y = x.map_overlap("box", &d, b, move |blk, _| {
            let p = blk.to_owned();
            // The box sum where the whole window lies inside the grown block; the rest is trimmed.
            let mut out = p.clone();
            let inner = box_sum(&p, &dd);
            let mut mid = out.view_mut();
            for (k, d) in dd.iter().enumerate() {
                mid.slice_axis_inplace(Axis(k), Slice::from(*d..p.shape()[k] - d));
            }
            mid.assign(&inner);
            Ok(out)
        }).unwrap();
        prop_assert_eq!(y.chunks(), x.chunks());
        prop_assert_eq!(both(&y), box_sum(&padded(&a, &d, b), &d));
    }

    /// `overlap` with no boundary: each block is the original grown inwards only.
    #[test]
    fn overlap_blocks_are_the_grown_slices(
        shape in proptest::collection::vec(1usize..9, 1..3),
        chunks in proptest::collection::vec(1usize..5, 2),
        depth in proptest::collection::vec(0usize..4, 2),
    ) {
        let n = shape.len();
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..n]).unwrap();
        let o = x.overlap(&depth[..n], Boundary::None).unwrap();
        for index in x.chunks().blocks() {
            let r = x.chunks().block_ranges(&index);
            let mut want = a.view();
            for k in 0..n {
                let lo = r[k].start.saturating_sub(depth[k]);
                let hi = (r[k].end + depth[k]).min(shape[k]);
                want.slice_axis_inplace(Axis(k), Slice::from(lo..hi));
            }
            let got = o.slice_blocks_for_test(&index);
            prop_assert_eq!(got, want.to_owned());
        }
    }

    /// Depths of their own before and after the block, with a boundary per axis: every grown
    /// block is its window of the padded array, and trimming gives the array back (a depth
    /// past the edge included, where there is no boundary: the trim must cut only what grew).
    #[test]
    fn asymmetric_overlaps_are_windows_of_the_padded_array(
        shape in proptest::collection::vec(1usize..9, 1..3),
        chunks in proptest::collection::vec(1usize..5, 2),
        lo in proptest::collection::vec(0usize..4, 2),
        hi in proptest::collection::vec(0usize..4, 2),
        modes in proptest::collection::vec(0usize..5, 2),
    ) {
        let n = shape.len();
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..n]).unwrap();
        let all = [Boundary::None, Boundary::Reflect, Boundary::Periodic, Boundary::Nearest, Boundary::Constant(-1.0)];
        let b: Vec<Boundary<f64>> = modes[..n].iter().map(|m| all[*m]).collect();
        let depth: Vec<(usize, usize)> = (0..n)
            .map(|k| match b[k] {
                Boundary::Reflect | Boundary::Periodic => (lo[k].min(shape[k]), hi[k].min(shape[k])),
                _ => (lo[k], hi[k]),
            })
            .collect();
        let pads: Vec<(usize, usize)> = (0..n).map(|k| if b[k] == Boundary::None { (0, 0) } else { depth[k] }).collect();
        let p = padded_axes(&a, &pads, &b);
        let o = x.overlap_asymmetric(&depth, b.clone()).unwrap();
        for index in x.chunks().blocks() {
            let r = x.chunks().block_ranges(&index);
            let mut want = p.view();
            for k in 0..n {
                let start = (r[k].start + pads[k].0).saturating_sub(depth[k].0);
                let end = (r[k].end + pads[k].0 + depth[k].1).min(p.shape()[k]);
                want.slice_axis_inplace(Axis(k), Slice::from(start..end));
            }
            prop_assert_eq!(o.slice_blocks_for_test(&index), want.to_owned());
        }
        let y = x.map_overlap_asymmetric("ident", &depth, b, |blk, _| Ok(blk.to_owned())).unwrap();
        prop_assert_eq!(y.chunks(), x.chunks());
        prop_assert_eq!(both(&y), a);
    }
}

trait BlockOf {
    fn slice_blocks_for_test(&self, index: &[u32]) -> ArrayD<f64>;
}

impl BlockOf for Array<f64> {
    /// One block, computed alone.
    fn slice_blocks_for_test(&self, index: &[u32]) -> ArrayD<f64> {
        let key = self.key(index);
        let g = self.graph().cull(std::slice::from_ref(&key)).unwrap();
        let v = rask_graph::Scheduler::get(&SyncScheduler, &g, &[key], &[]).unwrap();
        let c = v[0].get::<rask_array::Chunk<f64>>().unwrap();
        c.0.clone()
    }
}

#[test]
fn map_blocks_sees_where_blocks_are_and_checks_shapes() {
    let a = data(&[5, 7]);
    let x = Array::from_array(&a, [2, 3]).unwrap();
    let y = x
        .map_blocks("offset", |b, info| {
            Ok(b.mapv(|v| {
                v + (info.index[0] * 100 + info.index[1]) as f64 + 0.0 * info.shape[0] as f64
            }))
        })
        .unwrap();
    let got = both(&y);
    for ((i, j), v) in a
        .clone()
        .into_dimensionality::<Ix2>()
        .unwrap()
        .indexed_iter()
    {
        assert_eq!(got[[i, j]], v + ((i / 2) * 100 + j / 3) as f64);
    }
    // A kernel error names the block's key; a wrong shape is caught.
    let bad = x
        .map_blocks::<f64>("fails", |_, info| {
            Err(format!("no good at {:?}", info.index).into())
        })
        .unwrap();
    let e = bad.compute_on(&SyncScheduler, &[]).unwrap_err().to_string();
    assert!(e.contains("fails") && e.contains("no good at"), "{e}");
    let wrong = x
        .map_blocks::<f64>("wrong", |b, _| Ok(b.to_owned().insert_axis(Axis(0))))
        .unwrap();
    let e = wrong
        .compute_on(&SyncScheduler, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("declared chunks"), "{e}");
    insta::assert_snapshot!(x.map_blocks_with::<f64>("n", vec![vec![1]], |b, _| Ok(b.to_owned())).unwrap_err().to_string(), @"map_blocks: output chunks [[1]] have [1] blocks per axis; the input has [3, 3]");
}

#[test]
fn blockwise_aligns_and_contracts() {
    let a = data(&[6, 4]);
    let b = data(&[4, 5]).mapv(|v| v - 3.0);
    let x = Array::from_array(&a, [4, 3]).unwrap();
    let y = Array::from_array(&b, [2, 2]).unwrap();
    let c = Array::blockwise("matmul", "ij", &[(&x, "ik"), (&y, "kj")], |bl| {
        let p = bl[0]
            .clone()
            .into_dimensionality::<Ix2>()
            .map_err(|e| e.to_string())?;
        let q = bl[1]
            .clone()
            .into_dimensionality::<Ix2>()
            .map_err(|e| e.to_string())?;
        Ok(p.dot(&q).into_dyn())
    })
    .unwrap();
    let want = a
        .clone()
        .into_dimensionality::<Ix2>()
        .unwrap()
        .dot(&b.clone().into_dimensionality::<Ix2>().unwrap());
    assert_eq!(both(&c), want.into_dyn());
    // Elementwise over different chunkings: blocks cut to common ones.
    let z = Array::from_array(&a, [3, 1]).unwrap();
    let s = Array::blockwise("add", "ij", &[(&x, "ij"), (&z, "ij")], |bl| {
        Ok(&bl[0] + &bl[1])
    })
    .unwrap();
    assert_eq!(s.chunks().axes(), &[vec![3, 1, 2], vec![1, 1, 1, 1]]);
    assert_eq!(both(&s), &a + &a);
    // Transposition by index order.
    let t = Array::blockwise("t", "ji", &[(&x, "ij")], |bl| Ok(bl[0].t().to_owned())).unwrap();
    assert_eq!(both(&t), a.t().to_owned());
    insta::assert_snapshot!(Array::blockwise::<f64>("m", "ij", &[(&x, "ik"), (&x, "kj")], |bl| Ok(bl[0].to_owned())).unwrap_err().to_string(), @"blockwise: index 'k' has length 4 in one input and 6 in another");
    insta::assert_snapshot!(Array::blockwise::<f64>("m", "iz", &[(&x, "ik")], |bl| Ok(bl[0].to_owned())).unwrap_err().to_string(), @"blockwise: output index 'z' is in no input");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A user reduction (sums of squares, partials kept per reduced axis) over any axes,
    /// tree widths and keepdims equals ndarray's.
    #[test]
    fn user_reductions_match_ndarray(
        shape in proptest::collection::vec(1usize..7, 1..4),
        chunks in proptest::collection::vec(1usize..4, 3),
        mask in 1u8..8,
        split in 2usize..5,
        keepdims in any::<bool>(),
    ) {
        let n = shape.len();
        let axes: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
        prop_assume!(!axes.is_empty());
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..n]).unwrap();
        let squares = |b: ndarray::ArrayViewD<'_, f64>, axes: &[usize]| -> Result<ArrayD<f64>, rask_array::KernelError> {
            let mut s = b.mapv(|v| v * v);
            for ax in axes { s = s.sum_axis(Axis(*ax)).insert_axis(Axis(*ax)); }
            Ok(s)
        };
        let sum = |b: ndarray::ArrayViewD<'_, f64>, axes: &[usize]| -> Result<ArrayD<f64>, rask_array::KernelError> {
            let mut s = b.to_owned();
            for ax in axes { s = s.sum_axis(Axis(*ax)).insert_axis(Axis(*ax)); }
            Ok(s)
        };
        let how = rask_array::Reduction::axes(axes.clone()).keepdims(keepdims).split_every(split);
        let got = x.reduction("sumsq", how, squares, sum, sum).unwrap();
        let mut want = a.mapv(|v| v * v);
        for ax in axes.iter().rev() {
            want = want.sum_axis(Axis(*ax));
            if keepdims { want = want.insert_axis(Axis(*ax)); }
        }
        let g = both(&got);
        prop_assert_eq!(g.shape(), want.shape());
        prop_assert!(g.iter().zip(want.iter()).all(|(p, q)| (p - q).abs() < 1e-9));
    }
}

#[test]
fn map_blocks_that_drop_and_add_axes() {
    let a = data(&[6, 4, 3]);
    let x = Array::from_array(&a, [4, 2, 3]).unwrap();
    // Sum over axis 2 (one block), then add a leading axis of 1.
    let y = x
        .map_blocks_axes("sum-last", &[2], &[(0, 1)], |b, _| {
            Ok(b.sum_axis(Axis(2)).insert_axis(Axis(0)))
        })
        .unwrap();
    assert_eq!(y.chunks().axes(), &[vec![1], vec![4, 2], vec![2, 2]]);
    assert_eq!(both(&y), a.sum_axis(Axis(2)).insert_axis(Axis(0)));
    insta::assert_snapshot!(x.map_blocks_axes::<f64>("d", &[0], &[], |b, _| Ok(b.to_owned())).unwrap_err().to_string(), @"map_blocks: drop_axis 0 has 2 blocks; rechunk it to one block first");
    insta::assert_snapshot!(x.map_blocks_axes::<f64>("d", &[5], &[], |b, _| Ok(b.to_owned())).unwrap_err().to_string(), @"map_blocks drop_axis: axis 5 is out of bounds for an array of 3 dimensions");
    insta::assert_snapshot!(x.map_blocks_axes::<f64>("d", &[], &[(9, 2)], |b, _| Ok(b.to_owned())).unwrap_err().to_string(), @"map_blocks: new_axis at 9 is past the 3 axes of the output");
}

fn arange(shape: &[usize]) -> ArrayD<i64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n as i64).collect()).unwrap()
}

fn row(a: &ArrayD<i64>, i: usize) -> Vec<i64> {
    a.index_axis(Axis(0), i).iter().copied().collect()
}

fn i2(rows: &[&[i64]]) -> ArrayD<i64> {
    let cols = rows[0].len();
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    ArrayD::from_shape_vec(IxDyn(&[rows.len(), cols]), flat).unwrap()
}

/// The vectors of Dask's test_overlap.py. Dask's `boundaries` (the array with only its
/// boundary added) is our `overlap` of an array in one block.
#[test]
fn dasks_overlap_vectors() {
    let sync = |x: &Array<i64>| x.compute_on(&SyncScheduler, &[]).unwrap();
    let a = arange(&[8, 8]);
    // test_overlap: depth {0: 2, 1: 1}, boundary {0: 100, 1: 'reflect'}.
    let d = Array::from_array(&a, 4usize).unwrap();
    let g = d
        .overlap(&[2, 1], [Boundary::Constant(100), Boundary::Reflect])
        .unwrap();
    assert_eq!(g.chunks().axes(), &[vec![8, 8], vec![6, 6]]);
    let h = [100i64; 12];
    let wrow = |r: usize| -> Vec<i64> {
        let x = |j: usize| (r * 8 + j) as i64;
        vec![
            x(0),
            x(0),
            x(1),
            x(2),
            x(3),
            x(4),
            x(3),
            x(4),
            x(5),
            x(6),
            x(7),
            x(7),
        ]
    };
    let mut want: Vec<Vec<i64>> = vec![h.to_vec(), h.to_vec()];
    want.extend((0..6).map(wrow));
    want.extend((2..8).map(wrow));
    want.extend([h.to_vec(), h.to_vec()]);
    let want_refs: Vec<&[i64]> = want.iter().map(|r| &r[..]).collect();
    assert_eq!(sync(&g), i2(&want_refs));
    // The same with {1: 'none'}: 16×10, chunks ((8, 8), (5, 5)).
    let g = d
        .overlap(&[2, 1], [Boundary::Constant(100), Boundary::None])
        .unwrap();
    assert_eq!(g.chunks().axes(), &[vec![8, 8], vec![5, 5]]);
    let got = sync(&g);
    assert_eq!(got.shape(), &[16, 10]);
    assert_eq!(row(&got, 2), vec![0, 1, 2, 3, 4, 3, 4, 5, 6, 7]);
    assert_eq!(row(&got, 8), vec![16, 17, 18, 19, 20, 19, 20, 21, 22, 23]);
    assert!(row(&got, 15).iter().all(|v| *v == 100));

    // test_boundaries: depth {0: 2, 1: 1}, boundary {0: 0, 1: 'periodic'}.
    let one = Array::from_array(&a, 8usize).unwrap();
    let b = sync(
        &one.overlap(&[2, 1], [Boundary::Constant(0), Boundary::Periodic])
            .unwrap(),
    );
    let z = [0i64; 10];
    let mut want = vec![z.to_vec(), z.to_vec()];
    for r in 0..8i64 {
        let mut v = vec![r * 8 + 7];
        v.extend((0..8).map(|j| r * 8 + j));
        v.push(r * 8);
        want.push(v);
    }
    want.extend([z.to_vec(), z.to_vec()]);
    let want_refs: Vec<&[i64]> = want.iter().map(|r| &r[..]).collect();
    assert_eq!(b, i2(&want_refs));

    // test_reflect and test_nearest: arange(10), depth 2 and 1.
    let x = Array::from_array(&arange(&[10]), 10usize).unwrap();
    let v = |b: Boundary<i64>, d: usize| {
        sync(&x.overlap(&[d], b).unwrap())
            .iter()
            .copied()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        v(Boundary::Reflect, 2),
        [1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 8]
    );
    assert_eq!(
        v(Boundary::Reflect, 1),
        [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]
    );
    assert_eq!(
        v(Boundary::Nearest, 2),
        [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9]
    );
    assert_eq!(
        v(Boundary::Nearest, 1),
        [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]
    );

    // test_periodic and test_constant: rows wrapped, or filled with 10.
    let p = sync(&one.overlap(&[2, 0], Boundary::Periodic).unwrap());
    assert_eq!(p.shape(), &[12, 8]);
    assert_eq!(row(&p, 1), row(&a, 7));
    assert_eq!(row(&p, 0), row(&a, 6));
    let c = sync(&one.overlap(&[2, 0], Boundary::Constant(10)).unwrap());
    assert!(
        row(&c, 1)
            .iter()
            .chain(row(&c, 11).iter())
            .all(|v| *v == 10)
    );

    // test_none_boundaries: depth 2, boundary {0: 'none', 1: 33} on a 4×4 array.
    let y = Array::from_array(&arange(&[4, 4]), 4usize).unwrap();
    let n = sync(
        &y.overlap(&[2, 2], [Boundary::None, Boundary::Constant(33)])
            .unwrap(),
    );
    assert_eq!(
        n,
        i2(&[
            &[33, 33, 0, 1, 2, 3, 33, 33],
            &[33, 33, 4, 5, 6, 7, 33, 33],
            &[33, 33, 8, 9, 10, 11, 33, 33],
            &[33, 33, 12, 13, 14, 15, 33, 33],
        ])
    );

    // test_map_overlap: each block sees its grown size.
    let plus_size = |b: ndarray::ArrayViewD<'_, i64>, _: &rask_array::BlockInfo| {
        Ok(b.mapv(|v| v + b.len() as i64))
    };
    let x = Array::from_array(&arange(&[10]), 5usize).unwrap();
    let y = x
        .map_overlap("plus", &[2], Boundary::Reflect, plus_size)
        .unwrap();
    assert_eq!(sync(&y), arange(&[10]).mapv(|v| v + 5 + 2 + 2));
    let x4 = arange(&[4, 4]);
    let d = Array::from_array(&x4, 2usize).unwrap();
    let run = |depth: &[usize], b: Vec<Boundary<i64>>| {
        sync(&d.map_overlap("plus", depth, b, plus_size).unwrap())
    };
    let r = Boundary::Reflect;
    assert_eq!(run(&[1, 1], vec![r, r]), x4.mapv(|v| v + 16));
    assert_eq!(run(&[1, 1], vec![r, Boundary::None]), x4.mapv(|v| v + 12));
    assert_eq!(run(&[0, 1], vec![r, r]), x4.mapv(|v| v + 8));

    // test_map_overlap_no_depth, test_0_depth, test_depth_equals_boundary_length,
    // test_nearest_overlap: trimming gives the array back, whatever the boundary.
    let e = arange(&[10, 10]);
    let ident = |b: ndarray::ArrayViewD<'_, i64>, _: &rask_array::BlockInfo| Ok(b.to_owned());
    for (chunks, depth) in [
        ([5, 2], [0, 0]),
        ([5, 5], [4, 0]),
        ([5, 5], [5, 5]),
        ([6, 6], [5, 5]),
    ] {
        let x = Array::from_array(&e, chunks).unwrap();
        for b in [
            Boundary::Reflect,
            Boundary::Nearest,
            Boundary::Periodic,
            Boundary::Constant(42),
            Boundary::None,
        ] {
            let y = x.map_overlap("ident", &depth, b, ident).unwrap();
            assert_eq!(sync(&y), e, "{chunks:?} {depth:?} {b:?}");
        }
    }
    // test_bad_depth_raises: Dask refuses a depth past the smallest block (12 in blocks of
    // 5, 5, 2, depth 4); here halos gather from as many neighbours as they cover.
    let e = arange(&[12, 12]);
    let x = Array::from_array(&e, 5usize).unwrap();
    let y = x
        .map_overlap("ident", &[4, 2], Boundary::Constant(1), ident)
        .unwrap();
    assert_eq!(sync(&y), e);
    // test_overlap_internal_asymmetric: depth {0: (2, 0), 1: (1, 0)}, no boundary. (Old
    // Dask asserted chunks ((6, 4), (5, 4)) beside this very array; Dask 2026.8 gives these.)
    let d = Array::from_array(&a, 4usize).unwrap();
    let g = d
        .overlap_asymmetric(&[(2, 0), (1, 0)], Boundary::None)
        .unwrap();
    assert_eq!(g.chunks().axes(), &[vec![4, 6], vec![4, 5]]);
    let row = |r: i64| -> Vec<i64> {
        let x = |j: i64| r * 8 + j;
        vec![x(0), x(1), x(2), x(3), x(3), x(4), x(5), x(6), x(7)]
    };
    let mut want: Vec<Vec<i64>> = (0..4).map(row).collect();
    want.extend((2..8).map(row));
    let want_refs: Vec<&[i64]> = want.iter().map(|r| &r[..]).collect();
    assert_eq!(sync(&g), i2(&want_refs));
    // test_overlap_internal_asymmetric_small: 2×16 in (2, 4) blocks, depth {1: (1, 1)}.
    let small = Array::from_array(&arange(&[2, 16]), [2, 4]).unwrap();
    let g = small
        .overlap_asymmetric(&[(0, 0), (1, 1)], Boundary::None)
        .unwrap();
    assert_eq!(g.chunks().axes(), &[vec![2], vec![5, 6, 6, 5]]);
    let r0: Vec<i64> = [0..5, 3..9, 7..13, 11..16].into_iter().flatten().collect();
    let r1: Vec<i64> = r0.iter().map(|v| v + 16).collect();
    assert_eq!(sync(&g), i2(&[&r0, &r1]));
    // test_map_overlap's exp4: depth {1: (1, 0)}, no boundary: the right blocks grow to 2×3.
    let d4 = Array::from_array(&x4, 2usize).unwrap();
    let e4 = d4
        .map_overlap_asymmetric("plus", &[(0, 0), (1, 0)], Boundary::None, plus_size)
        .unwrap();
    let want = ArrayD::from_shape_fn(IxDyn(&[4, 4]), |ix| {
        x4[[ix[0], ix[1]]] + if ix[1] < 2 { 4 } else { 6 }
    });
    assert_eq!(sync(&e4), want);
    // The wrong number of boundaries is a typed error.
    let err = x.overlap(&[1, 1], vec![Boundary::Nearest]).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"overlap: 1 boundaries for an array of 2 dimensions");
}

#[test]
fn named_function_ops_are_registered_for_every_element_pair() {
    let names = rask_graph::registry::op_names();
    for name in [
        "rask.array.named-kernel.f64.f64",
        "rask.array.named-kernel.bool.u8",
        "rask.array.named-blockwise.i32.f32",
        "rask.array.named-reduction-chunk.u64.i64",
        "rask.array.named-reduction-step.u8",
    ] {
        assert!(names.contains(&name), "{name} is not registered");
    }
    let pairs = names
        .iter()
        .filter(|n| n.starts_with("rask.array.named-kernel."))
        .count();
    assert_eq!(pairs, 64);
}
