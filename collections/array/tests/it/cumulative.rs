//! cumsum / cumprod against ndarray's running sums, on random shapes, chunkings and axes.

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use rask_array::Array;
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn running_totals_match_ndarray(
        shape in proptest::collection::vec(0usize..7, 1..4),
        chunks in proptest::collection::vec(1usize..4, 3),
        axis in 0usize..3,
        seed in 0i64..100,
    ) {
        let n: usize = shape.iter().product();
        let a = ArrayD::from_shape_vec(IxDyn(&shape), (0..n as i64).map(|i| (i * 7 + seed) % 5 - 2).collect()).unwrap();
        let ax = axis % shape.len();
        let x = Array::from_array(&a, &chunks[..shape.len()]).unwrap();
        let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
        let mut want = a.clone();
        want.accumulate_axis_inplace(Axis(ax), |p, c| *c += *p);
        let s = x.cumsum(ax as isize).unwrap();
        prop_assert_eq!(s.compute_on(&SyncScheduler, &[]).unwrap(), want.clone());
        prop_assert_eq!(s.compute_on(&t as &dyn Scheduler, &[]).unwrap(), want);
        let f = a.mapv(|v| v as f64 * 0.5 + 1.0);
        let xf = Array::from_array(&f, &chunks[..shape.len()]).unwrap();
        let mut wantp = f.clone();
        wantp.accumulate_axis_inplace(Axis(ax), |p, c| *c *= *p);
        let got = xf.cumprod(-(shape.len() as isize) + ax as isize).unwrap().compute_on(&SyncScheduler, &[]).unwrap();
        prop_assert!(got.iter().zip(wantp.iter()).all(|(g, w)| (g - w).abs() <= 1e-9 * w.abs().max(1.0)));
    }
}

#[test]
fn bad_axis() {
    let x = Array::<f64>::ones(&[3, 4], 2usize).unwrap();
    insta::assert_snapshot!(x.cumsum(2).unwrap_err().to_string(), @"cumsum: axis 2 is out of bounds for an array of 2 dimensions");
}
