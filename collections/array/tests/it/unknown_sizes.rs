//! Masks, nonzero and unique: results of unknown length, against direct computations, and
//! `compute_chunk_sizes`.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rask_array::{Array, BinOp, CmpOp};
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};

fn data(shape: &[usize], seed: i64) -> ArrayD<i64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n as i64).map(|i| (i * 7 + seed) % 5 - 2).collect(),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn masks_nonzero_unique_match_direct(
        shape in proptest::collection::vec(0usize..6, 1..4),
        c1 in proptest::collection::vec(1usize..4, 3),
        c2 in proptest::collection::vec(1usize..4, 3),
        seed in 0i64..50,
    ) {
        let n = shape.len();
        let a = data(&shape, seed);
        let x = Array::from_array(&a, &c1[..n]).unwrap();
        let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
        // The mask in other blocks than the array: cut to common ones.
        let cond_arr = a.mapv(|v| v > 0);
        let cond = Array::from_array(&cond_arr, &c2[..n]).unwrap();
        let m = x.mask(&cond).unwrap();
        let want: Vec<i64> = a.iter().zip(cond_arr.iter()).filter(|(_, c)| **c).map(|(v, _)| *v).collect();
        prop_assert_eq!(m.compute_on(&SyncScheduler, &[]).unwrap().iter().copied().collect::<Vec<_>>(), want.clone());
        prop_assert_eq!(m.compute_on(&t as &dyn Scheduler, &[]).unwrap().iter().copied().collect::<Vec<_>>(), want.clone());
        // Reduced without its sizes.
        let one = |a: ArrayD<i64>| a.iter().next().copied();
        prop_assert_eq!(one(m.sum().unwrap().compute_on(&t as &dyn Scheduler, &[]).unwrap()), Some(want.iter().sum::<i64>()));
        prop_assert_eq!(m.count().unwrap().compute_on(&SyncScheduler, &[]).unwrap().iter().next().copied(), Some(want.len() as u64));
        if let Some(mx) = want.iter().max() {
            prop_assert_eq!(one(m.max().unwrap().compute_on(&SyncScheduler, &[]).unwrap()), Some(*mx));
            prop_assert_eq!(one(m.min().unwrap().compute_on(&t as &dyn Scheduler, &[]).unwrap()), want.iter().min().copied());
            let mean = m.mean().unwrap().compute_on(&SyncScheduler, &[]).unwrap().iter().next().copied().unwrap();
            prop_assert!((mean - want.iter().sum::<i64>() as f64 / want.len() as f64).abs() < 1e-12);
        } else {
            let e = m.max().unwrap().compute_on(&SyncScheduler, &[]).unwrap_err().to_string();
            prop_assert!(e.contains("zero-size array to reduction operation max"), "{}", e);
        }
        // With its sizes worked out, it is an ordinary array.
        let known = m.compute_chunk_sizes_on(&SyncScheduler).unwrap();
        prop_assert_eq!(known.shape(), vec![want.len()]);
        prop_assert_eq!(known.compute_on(&SyncScheduler, &[]).unwrap().iter().copied().collect::<Vec<_>>(), want.clone());
        let s: i64 = want.iter().sum();
        prop_assert_eq!(known.sum(rask_array::Reduction::all()).unwrap().compute_on(&SyncScheduler, &[]).unwrap().iter().next().copied(), Some(s));
        // nonzero: per axis, the indices of the non-zero elements in C order.
        let nz = x.nonzero().unwrap();
        for (axis, idx) in nz.iter().enumerate() {
            let want: Vec<i64> = a.indexed_iter().filter(|(_, v)| **v != 0).map(|(ix, _)| ix[axis] as i64).collect();
            prop_assert_eq!(idx.compute_on(&SyncScheduler, &[]).unwrap().iter().copied().collect::<Vec<_>>(), want);
        }
        // unique: sorted, distinct.
        let mut u: Vec<i64> = a.iter().copied().collect();
        u.sort_unstable();
        u.dedup();
        prop_assert_eq!(x.unique().unwrap().compute_on(&t as &dyn Scheduler, &[]).unwrap().iter().copied().collect::<Vec<_>>(), u);
    }
}

/// Arrays of different element types never share a name, even with the same bytes (this let
/// a mask's blocks be taken for the array's when both were empty).
#[test]
fn names_depend_on_the_element_type() {
    let u = Array::from_array(&ndarray::arr1(&[1u8]).into_dyn(), 1usize).unwrap();
    let b = Array::from_array(&ndarray::arr1(&[true]).into_dyn(), 1usize).unwrap();
    assert_ne!(u.name(), b.name());
    let e1 = Array::<f64>::from_array(&ArrayD::zeros(IxDyn(&[0, 3])), 1usize).unwrap();
    let e2 = Array::<i64>::from_array(&ArrayD::zeros(IxDyn(&[0, 3])), 1usize).unwrap();
    assert_ne!(e1.name(), e2.name());
}

#[test]
fn unique_puts_nan_last_and_reprs_say_nan() {
    let f = ndarray::arr1(&[2.0, f64::NAN, 1.0, 2.0, f64::NAN]).into_dyn();
    let x = Array::from_array(&f, 2usize).unwrap();
    let u = x.unique().unwrap().compute_on(&SyncScheduler, &[]).unwrap();
    assert_eq!(u.len(), 3);
    assert_eq!((u[0], u[1]), (1.0, 2.0));
    assert!(u[2].is_nan());
    let m = x.mask(&x.compare_scalar(CmpOp::Gt, 1.0)).unwrap();
    insta::assert_snapshot!(m.to_string(), @"rask.Array<getitem-mask, shape=(nan,), dtype=f64, chunksize=(nan,), chunktype=ndarray>");
    let bad = Array::<bool>::ones(&[4], 2usize).unwrap();
    insta::assert_snapshot!(x.mask(&bad).unwrap_err().to_string(), @"mask: a mask of shape [4] for an array of shape [5]");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Elementwise operations on a masked array, without its sizes: scalars, unary functions,
    /// itself block by block, its own mean, comparisons and a second mask, casts and clips,
    /// then reductions (which fuse the expression), against the direct computation.
    #[test]
    fn elementwise_on_unknown_lengths_match_direct(
        shape in proptest::collection::vec(0usize..7, 1..3),
        c1 in proptest::collection::vec(1usize..4, 2),
        seed in 0i64..50,
    ) {
        let n = shape.len();
        let a = data(&shape, seed).mapv(|v| v as f64 * 1.5);
        let x = Array::from_array(&a, &c1[..n]).unwrap();
        let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
        let both = |y: &rask_array::Unsized<f64>| {
            let s = y.compute_on(&SyncScheduler, &[]).unwrap().iter().copied().collect::<Vec<_>>();
            assert_eq!(y.compute_on(&t as &dyn Scheduler, &[]).unwrap().iter().copied().collect::<Vec<_>>(), s);
            s
        };
        let pos: Vec<f64> = a.iter().copied().filter(|v| *v > -2.0).collect();
        let m = x.mask(&x.compare_scalar(CmpOp::Gt, -2.0)).unwrap();
        // (m * 2 + 1)² via operators and unary ops, and 10 - m.
        let e = (&m * 2.0 + 1.0).powi(2);
        // Its elementwise chain runs as one task per block, as an array's does.
        prop_assert!(e.optimized_graph().unwrap().len() + 3 * e.npartitions() <= e.graph().len());
        prop_assert_eq!(both(&e), pos.iter().map(|v| (v * 2.0 + 1.0).powi(2)).collect::<Vec<_>>());
        prop_assert_eq!(both(&m.scalar_first(BinOp::Sub, 10.0)), pos.iter().map(|v| 10.0 - v).collect::<Vec<_>>());
        prop_assert_eq!(both(&(-&m).abs()), pos.iter().map(|v| v.abs()).collect::<Vec<_>>());
        // Block by block with itself and with something made from it.
        let prod = m.binary(BinOp::Mul, &e).unwrap();
        prop_assert_eq!(both(&prod), pos.iter().map(|v| v * (v * 2.0 + 1.0).powi(2)).collect::<Vec<_>>());
        // Centred on its own mean (a 0-d array), as Dask's `y - y.mean()`.
        if !pos.is_empty() {
            let mean = pos.iter().sum::<f64>() / pos.len() as f64;
            let c = m.binary_0d(BinOp::Sub, &m.mean().unwrap()).unwrap();
            let got = both(&c);
            prop_assert_eq!(got.len(), pos.len());
            for (g, v) in got.iter().zip(&pos) {
                prop_assert!((g - (v - mean)).abs() < 1e-9);
            }
        }
        // A second mask, from a comparison of the masked array with another made from it.
        let gt = m.compare(CmpOp::Gt, &m.scalar(BinOp::Mul, 0.5)).unwrap();
        let mm = m.mask(&gt).unwrap();
        prop_assert_eq!(both(&mm), pos.iter().copied().filter(|v| *v > v * 0.5).collect::<Vec<_>>());
        let big = m.mask(&m.compare_scalar(CmpOp::Ge, 1.0)).unwrap();
        prop_assert_eq!(both(&big), pos.iter().copied().filter(|v| *v >= 1.0).collect::<Vec<_>>());
        prop_assert_eq!(both(&m.clip(-1.0, 1.0)), pos.iter().map(|v| v.clamp(-1.0, 1.0)).collect::<Vec<_>>());
        let ints = m.astype::<i64>().compute_on(&SyncScheduler, &[]).unwrap();
        prop_assert_eq!(ints.iter().copied().collect::<Vec<_>>(), pos.iter().map(|v| *v as i64).collect::<Vec<_>>());
        // Reduced, with the expression fused into the reduction.
        let s = e.sum().unwrap().compute_on(&t as &dyn Scheduler, &[]).unwrap();
        let want: f64 = pos.iter().map(|v| (v * 2.0 + 1.0).powi(2)).sum();
        prop_assert!((s.iter().next().copied().unwrap() - want).abs() < 1e-6 * want.abs().max(1.0));
        prop_assert_eq!(e.count().unwrap().compute_on(&SyncScheduler, &[]).unwrap().iter().next().copied(), Some(pos.len() as u64));
    }
}

#[test]
fn unknown_lengths_that_do_not_line_up_are_errors() {
    let a = ndarray::arr1(&[1.0, -2.0, 3.0, -4.0, 5.0, 6.0]).into_dyn();
    let x = Array::from_array(&a, 2usize).unwrap();
    let pos = x.mask(&x.compare_scalar(CmpOp::Gt, 0.0)).unwrap();
    let neg = x.mask(&x.compare_scalar(CmpOp::Lt, 0.0)).unwrap();
    // Other block counts: refused when built.
    let y = Array::from_array(&a, 3usize).unwrap();
    let other = y.mask(&y.compare_scalar(CmpOp::Gt, 0.0)).unwrap();
    insta::assert_snapshot!(pos.binary(BinOp::Add, &other).unwrap_err().to_string(), @"add: arrays of unknown length are combined block by block, and these have 3 and 2 blocks; call compute_chunk_sizes_on first to align them");
    insta::assert_snapshot!(pos.mask(&other.compare_scalar(CmpOp::Gt, 2.0)).unwrap_err().to_string(), @"mask: a mask of unknown length is applied block by block, and it has 2 blocks for an array of 3");
    // An array with axes has known lengths: it cannot line up with unknown ones.
    insta::assert_snapshot!(pos.binary_0d(BinOp::Add, &x).unwrap_err().to_string(), @"add: an array of unknown length combines with scalars and 0-d arrays, not with an array of shape [6]; call compute_chunk_sizes_on first");
    // As many blocks but other lengths (pos has 1, 1, 2; neg 1, 1, 0): an error naming the
    // block, when computed, on both schedulers.
    let sum = pos.binary(BinOp::Add, &neg).unwrap();
    let e = sum.compute_on(&SyncScheduler, &[]).unwrap_err().to_string();
    insta::assert_snapshot!(e.replace(sum.output_keys()[2].name(), "NAME"), @"task ('NAME', 2) (op `add`) failed: blocks of shapes [2] and [0]: arrays of unknown length are combined block by block, so their blocks must have the same length");
    let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    let e = pos
        .compare(CmpOp::Lt, &neg)
        .unwrap()
        .compute_on(&t as &dyn Scheduler, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("blocks of shapes [2] and [0]"), "{e}");
}
