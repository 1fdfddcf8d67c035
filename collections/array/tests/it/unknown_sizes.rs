//! Masks, nonzero and unique: results of unknown length, against direct computations, and
//! `compute_chunk_sizes`.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rask_array::{Array, CmpOp};
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
