//! Reductions against plain ndarray: odd shapes, uneven last chunks, size-1 chunks, one chunk,
//! chosen axes, keepdims, split_every, both schedulers.

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use rask_array::{Array, IntoScalar, Reduction};
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};
use rask_testing::within;

use crate::steps::{Step, agree};

fn data(shape: &[usize]) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|i| ((i * 7919) % 101) as f64 - 50.0).collect(),
    )
    .unwrap()
}

fn schedulers() -> Vec<Box<dyn Scheduler>> {
    vec![
        Box::new(SyncScheduler),
        Box::new(ThreadedScheduler::builder().num_workers(3).build().unwrap()),
    ]
}

#[test]
fn the_tutorials_sums() {
    let ones = Array::<f64>::ones(&[1000, 4000], [1000, 1000]).unwrap();
    let s = ones.sum(Reduction::all()).unwrap();
    assert_eq!(
        s.to_string(),
        "rask.Array<sum-aggregate, shape=(), dtype=f64, chunksize=(), chunktype=ndarray>"
    );
    for sch in schedulers() {
        assert_eq!(
            s.compute_on(&*sch, &[]).unwrap().into_scalar().unwrap(),
            4e6
        );
        assert_eq!(
            ones.mean(Reduction::all())
                .unwrap()
                .compute_on(&*sch, &[])
                .unwrap()
                .into_scalar()
                .unwrap(),
            1.0
        );
    }
}

#[test]
fn axis_reductions_match_ndarray() {
    let a = data(&[7, 5, 3]);
    let x = Array::from_array(&a, [3, 2, 2]).unwrap();
    for sch in schedulers() {
        for axis in 0..3 {
            let got = x
                .sum(Reduction::axis(axis))
                .unwrap()
                .compute_on(&*sch, &[])
                .unwrap();
            assert_eq!(got, a.sum_axis(Axis(axis)), "sum axis {axis}");
            let got = x
                .max(Reduction::axis(axis).keepdims(true))
                .unwrap()
                .compute_on(&*sch, &[])
                .unwrap();
            let want = a
                .fold_axis(Axis(axis), f64::MIN, |m, v| m.max(*v))
                .insert_axis(Axis(axis));
            assert_eq!(got, want, "max axis {axis}");
            let got = x
                .mean(Reduction::axis(axis))
                .unwrap()
                .compute_on(&*sch, &[])
                .unwrap();
            let want = a.mean_axis(Axis(axis)).unwrap();
            assert!(
                got.iter()
                    .zip(want.iter())
                    .all(|(g, w)| (g - w).abs() < 1e-12)
            );
        }
        let got = x
            .min(Reduction::axes([0, 2]))
            .unwrap()
            .compute_on(&*sch, &[])
            .unwrap();
        let want = a.fold_axis(Axis(2), f64::MAX, |m, v| m.min(*v)).fold_axis(
            Axis(0),
            f64::MAX,
            |m, v| m.min(*v),
        );
        assert_eq!(got, want);
    }
}

#[test]
fn integer_sums_widen_and_means_are_f64() {
    let a = ArrayD::from_shape_vec(IxDyn(&[300]), vec![200u8; 300]).unwrap();
    let x = Array::from_array(&a, 7usize).unwrap();
    let s = x
        .sum(Reduction::all())
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    assert_eq!(s.into_scalar().unwrap(), 60_000u64);
    let m = x
        .mean(Reduction::all())
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    assert_eq!(m.into_scalar().unwrap(), 200.0);
    // min and max keep the element type, as NumPy's do, along an axis too.
    let b = ArrayD::from_shape_fn(IxDyn(&[5, 7]), |ix| ((ix[0] * 37 + ix[1] * 11) % 256) as u8);
    let y = Array::from_array(&b, [2, 3]).unwrap();
    for axis in 0..2 {
        let lo: ArrayD<u8> = y
            .min(Reduction::axis(axis))
            .unwrap()
            .compute_on(&SyncScheduler, &[])
            .unwrap();
        let hi: ArrayD<u8> = y
            .max(Reduction::axis(axis))
            .unwrap()
            .compute_on(&SyncScheduler, &[])
            .unwrap();
        assert_eq!(lo, b.map_axis(Axis(axis), |l| *l.iter().min().unwrap()));
        assert_eq!(hi, b.map_axis(Axis(axis), |l| *l.iter().max().unwrap()));
    }
}

#[test]
fn reducing_an_empty_axis() {
    let x = Array::<f64>::ones(&[0, 4], [1, 2]).unwrap();
    let s = x
        .sum(Reduction::all())
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    assert_eq!(s.into_scalar().unwrap(), 0.0);
    let err = x
        .max(Reduction::all())
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap_err();
    assert!(err.to_string().contains("zero-size"), "{err}");
    let err = x.sum(Reduction::axis(5)).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"reduction: axis 5 is out of bounds for an array of 2 dimensions");
    // NumPy: any of nothing is false, all of nothing is true (issue 12, item 14).
    let run = |a: rask_array::Array<bool>| a.compute_on(&SyncScheduler, &[]).unwrap();
    assert!(!run(x.any(Reduction::all()).unwrap()).into_scalar().unwrap());
    assert!(run(x.all(Reduction::all()).unwrap()).into_scalar().unwrap());
    let per_column = run(x.any(Reduction::axis(0)).unwrap());
    assert_eq!(per_column.as_slice().unwrap(), &[false; 4]);
    let per_column = run(x.all(Reduction::axis(0)).unwrap());
    assert_eq!(per_column.as_slice().unwrap(), &[true; 4]);
    let e = Array::<i64>::ones(&[0], 3usize).unwrap();
    assert!(!run(e.any(Reduction::all()).unwrap()).into_scalar().unwrap());
    assert!(run(e.all(Reduction::all()).unwrap()).into_scalar().unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]

    #[test]
    fn sums_over_any_axes_and_chunking(
        shape in proptest::collection::vec(1usize..9, 1..4),
        chunk in proptest::collection::vec(1usize..5, 3),
        mask in 0u8..8,
        keepdims in any::<bool>(),
        split in 2usize..5,
    ) {
        let a = data(&shape);
        let chunks: Vec<usize> = chunk[..shape.len()].to_vec();
        let x = Array::from_array(&a, chunks.as_slice()).unwrap();
        let axes: Vec<usize> = (0..shape.len()).filter(|i| mask & (1 << i) != 0).collect();
        if axes.is_empty() { return Ok(()); }
        let how = Reduction::axes(axes.clone()).keepdims(keepdims).split_every(split);
        let got = x.sum(how).unwrap().compute_on(&SyncScheduler, &[]).unwrap();
        let mut want = a.clone();
        for ax in axes.iter().rev() {
            want = want.sum_axis(Axis(*ax));
            if keepdims { want = want.insert_axis(Axis(*ax)); }
        }
        prop_assert_eq!(got.shape(), want.shape());
        prop_assert!(got.iter().zip(want.iter()).all(|(g, w)| (g - w).abs() < 1e-9));
    }
}

#[test]
fn nan_and_inf_follow_numpy() {
    let a = ArrayD::from_shape_vec(
        IxDyn(&[6]),
        vec![1.0, f64::NAN, 3.0, f64::INFINITY, -2.0, 0.0],
    )
    .unwrap();
    let x = Array::from_array(&a, 2usize).unwrap();
    let run = |r: Array<f64>| {
        r.compute_on(&SyncScheduler, &[])
            .unwrap()
            .into_scalar()
            .unwrap()
    };
    assert!(run(x.max(Reduction::all()).unwrap()).is_nan());
    assert!(run(x.min(Reduction::all()).unwrap()).is_nan());
    assert!(run(x.sum(Reduction::all()).unwrap()).is_nan());
    let b = ArrayD::from_shape_vec(IxDyn(&[4]), vec![1.0, f64::INFINITY, -2.0, 0.0]).unwrap();
    let y = Array::from_array(&b, 3usize).unwrap();
    assert_eq!(run(y.max(Reduction::all()).unwrap()), f64::INFINITY);
    assert_eq!(run(y.min(Reduction::all()).unwrap()), -2.0);
    assert_eq!(run(y.sum(Reduction::all()).unwrap()), f64::INFINITY);
}

/// Elementwise chains feeding a reduction run fused, lane by lane: same answers as ndarray.
#[test]
fn fused_chains_into_reductions() {
    let a = data(&[9, 7]);
    let b = data(&[7]).mapv(|v| v * 0.5 + 1.0);
    let x = Array::from_array(&a, [4, 3]).unwrap();
    let y = Array::from_array(&b, 2usize).unwrap();
    let expr = (&x * &y + 2.0).cos().powi(2);
    let want_full = (&a * &b + 2.0).mapv(|v| v.cos().powi(2));
    // The reduction reads the chain directly: no task makes the block-sized product.
    let s = expr.sum(Reduction::all()).unwrap();
    let g = s.optimized_graph().unwrap();
    let names: Vec<String> = g.iter().map(|(_, t)| t.op().name().to_string()).collect();
    assert!(
        names
            .iter()
            .any(|n| n.contains("cos") && n.ends_with("sum-chunk")),
        "one op runs the chain and the block sum: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n == "cos" || n == "pow"),
        "no task makes a block of the chain: {names:?}"
    );
    for sch in schedulers() {
        let got = s.compute_on(&*sch, &[]).unwrap().into_scalar().unwrap();
        assert!((got - want_full.sum()).abs() < 1e-9);
        for axis in 0..2 {
            let got = expr
                .mean(Reduction::axis(axis))
                .unwrap()
                .compute_on(&*sch, &[])
                .unwrap();
            let want = want_full.mean_axis(Axis(axis)).unwrap();
            assert!(
                got.iter()
                    .zip(want.iter())
                    .all(|(g, w)| (g - w).abs() < 1e-12),
                "axis {axis}"
            );
        }
        let got = expr
            .max(Reduction::axis(0).keepdims(true))
            .unwrap()
            .compute_on(&*sch, &[])
            .unwrap();
        let want = want_full
            .fold_axis(Axis(0), f64::MIN, |m, v| m.max(*v))
            .insert_axis(Axis(0));
        assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]

    #[test]
    fn fused_reductions_match_ndarray(
        shape in proptest::collection::vec(1usize..7, 1..4),
        chunk in proptest::collection::vec(1usize..4, 3),
        mask in 1u8..8,
        keepdims in any::<bool>(),
    ) {
        let a = data(&shape);
        let x = Array::from_array(&a, &chunk[..shape.len()]).unwrap();
        let ones = Array::<f64>::ones(&shape, &chunk[..shape.len()]).unwrap();
        let axes: Vec<usize> = (0..shape.len()).filter(|i| mask & (1 << i) != 0).collect();
        prop_assume!(!axes.is_empty());
        let expr = (&x * 3.0 - &ones).abs();
        let got = expr.sum(Reduction::axes(axes.clone()).keepdims(keepdims)).unwrap().compute_on(&SyncScheduler, &[]).unwrap();
        let mut want = a.mapv(|v| (v * 3.0 - 1.0).abs());
        for ax in axes.iter().rev() {
            want = want.sum_axis(Axis(*ax));
            if keepdims { want = want.insert_axis(Axis(*ax)); }
        }
        prop_assert_eq!(got.shape(), want.shape());
        prop_assert!(got.iter().zip(want.iter()).all(|(g, w)| (g - w).abs() < 1e-9));
    }

    /// Chains over constant blocks fold a whole lane at once; the results are NumPy's.
    #[test]
    fn constant_lanes_reduce_like_ndarray(
        shape in proptest::collection::vec(0usize..9, 1..4),
        chunk in proptest::collection::vec(1usize..5, 3),
        c in -3.0f64..3.0,
        all in any::<bool>(),
    ) {
        let chunk = &chunk[..shape.len()];
        let x = Array::<f64>::full(&shape, chunk, c).unwrap();
        let y = Array::<f64>::ones(&shape, chunk).unwrap();
        let rev = vec![ndarray::SliceInfoElem::Slice { start: 0, end: None, step: -1 }; shape.len()];
        let expr = &(&x * &y.slice(&rev[..]).unwrap()) + 0.25;
        let want_full = ndarray::ArrayD::from_elem(ndarray::IxDyn(&shape), c * 1.0 + 0.25);
        let axes = if all { Reduction::all() } else { Reduction::axis(0) };
        let close = |g: &ndarray::ArrayD<f64>, w: ndarray::ArrayD<f64>| {
            g.shape() == w.shape() && g.iter().zip(w.iter()).all(|(g, w)| (g - w).abs() <= 1e-9 * w.abs().max(1.0))
        };
        let want_sum = if all { ndarray::arr0(want_full.sum()).into_dyn() } else { want_full.sum_axis(Axis(0)) };
        let got = expr.sum(axes.clone()).unwrap().compute_on(&SyncScheduler, &[]).unwrap();
        prop_assert!(close(&got, want_sum.clone()), "sum {got} {want_sum}");
        let want_prod = if all { ndarray::arr0(want_full.product()).into_dyn() } else { want_full.map_axis(Axis(0), |l| l.product()) };
        let got = expr.prod(axes.clone()).unwrap().compute_on(&SyncScheduler, &[]).unwrap();
        prop_assert!(close(&got, want_prod.clone()), "prod {got} {want_prod}");
        if !want_full.is_empty() {
            let v = c * 1.0 + 0.25;
            let want = if all { ndarray::arr0(v).into_dyn() } else { want_full.map_axis(Axis(0), |_| v) };
            if shape[0] > 0 {
                let got = expr.max(axes.clone()).unwrap().compute_on(&SyncScheduler, &[]).unwrap();
                prop_assert!(close(&got, want.clone()), "max {got}");
                let got = expr.min(axes).unwrap().compute_on(&SyncScheduler, &[]).unwrap();
                prop_assert!(close(&got, want), "min {got}");
            }
        }
    }
}

#[test]
fn var_std_nan_any_all() {
    let a = data(&[8, 5]);
    let x = Array::from_array(&a, [3, 2]).unwrap();
    let s = SyncScheduler;
    for ddof in [0usize, 1] {
        for axis in 0..2 {
            let got = x
                .var(Reduction::axis(axis), ddof)
                .unwrap()
                .compute_on(&s, &[])
                .unwrap();
            let want = a.var_axis(Axis(axis), ddof as f64);
            assert!(
                got.iter()
                    .zip(want.iter())
                    .all(|(g, w)| (g - w).abs() < 1e-9),
                "var axis {axis} ddof {ddof}"
            );
            let got = x
                .std(Reduction::axis(axis), ddof)
                .unwrap()
                .compute_on(&s, &[])
                .unwrap();
            let want = a.std_axis(Axis(axis), ddof as f64);
            assert!(
                got.iter()
                    .zip(want.iter())
                    .all(|(g, w)| (g - w).abs() < 1e-9)
            );
        }
        let got = x
            .var(Reduction::all(), ddof)
            .unwrap()
            .compute_on(&s, &[])
            .unwrap()
            .into_scalar()
            .unwrap();
        assert!((got - a.var(ddof as f64)).abs() < 1e-9);
    }
    let mut b = a.clone();
    b[[1, 1]] = f64::NAN;
    b[[4, 0]] = f64::NAN;
    let y = Array::from_array(&b, [3, 2]).unwrap();
    let finite: Vec<f64> = b.iter().copied().filter(|v| !v.is_nan()).collect();
    let got = y
        .nansum(Reduction::all())
        .unwrap()
        .compute_on(&s, &[])
        .unwrap()
        .into_scalar()
        .unwrap();
    assert!((got - finite.iter().sum::<f64>()).abs() < 1e-9);
    let got = y
        .nanmean(Reduction::all())
        .unwrap()
        .compute_on(&s, &[])
        .unwrap()
        .into_scalar()
        .unwrap();
    assert!((got - finite.iter().sum::<f64>() / finite.len() as f64).abs() < 1e-12);
    assert!(
        y.mean(Reduction::all())
            .unwrap()
            .compute_on(&s, &[])
            .unwrap()
            .into_scalar()
            .unwrap()
            .is_nan()
    );
    let z = Array::<f64>::zeros(&[4, 4], 2usize).unwrap();
    assert!(
        !z.any(Reduction::all())
            .unwrap()
            .compute_on(&s, &[])
            .unwrap()
            .into_scalar()
            .unwrap()
    );
    assert!(
        x.any(Reduction::all())
            .unwrap()
            .compute_on(&s, &[])
            .unwrap()
            .into_scalar()
            .unwrap()
    );
    let all_rows = x
        .all(Reduction::axis(1))
        .unwrap()
        .compute_on(&s, &[])
        .unwrap();
    let want: Vec<bool> = a
        .outer_iter()
        .map(|r| r.iter().all(|v| *v != 0.0))
        .collect();
    assert_eq!(all_rows.iter().copied().collect::<Vec<_>>(), want);
}

#[test]
fn argmin_argmax_match_ndarray() {
    let mut a = data(&[7, 6]);
    a[[3, 2]] = -1000.0;
    a[[5, 4]] = 1000.0;
    a[[1, 1]] = 1000.0; // a tie: the first wins
    let x = Array::from_array(&a, [3, 4]).unwrap();
    let s = SyncScheduler;
    assert_eq!(
        x.argmin(None)
            .unwrap()
            .compute_on(&s, &[])
            .unwrap()
            .into_scalar()
            .unwrap(),
        (3 * 6 + 2) as i64
    );
    assert_eq!(
        x.argmax(None)
            .unwrap()
            .compute_on(&s, &[])
            .unwrap()
            .into_scalar()
            .unwrap(),
        (6 + 1) as i64
    );
    for axis in 0..2 {
        for max in [false, true] {
            let got = if max {
                x.argmax(Some(axis))
            } else {
                x.argmin(Some(axis))
            }
            .unwrap()
            .compute_on(&s, &[])
            .unwrap();
            let want: Vec<i64> = a
                .lanes(Axis(axis))
                .into_iter()
                .map(|lane| {
                    let mut best = 0;
                    for (i, v) in lane.iter().enumerate() {
                        if (max && *v > lane[best]) || (!max && *v < lane[best]) {
                            best = i;
                        }
                    }
                    best as i64
                })
                .collect();
            assert_eq!(
                got.iter().copied().collect::<Vec<_>>(),
                want,
                "axis {axis} max {max}"
            );
        }
    }
    let mut b = a.clone();
    b[[2, 3]] = f64::NAN;
    let y = Array::from_array(&b, [3, 4]).unwrap();
    assert_eq!(
        y.argmax(None)
            .unwrap()
            .compute_on(&s, &[])
            .unwrap()
            .into_scalar()
            .unwrap(),
        (2 * 6 + 3) as i64,
        "NaN wins, as NumPy"
    );
    assert!(
        Array::<f64>::ones(&[0], 1usize)
            .unwrap()
            .argmin(None)
            .is_err()
    );
}

/// NumPy's arg-extremum of a lane: the first best, or the first NaN.
fn arg_direct(lane: &[f64], max: bool) -> i64 {
    if let Some(i) = lane.iter().position(|v| v.is_nan()) {
        return i as i64;
    }
    let mut best = 0;
    for (i, v) in lane.iter().enumerate() {
        if (max && *v > lane[best]) || (!max && *v < lane[best]) {
            best = i;
        }
    }
    best as i64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Trees of any width give NumPy's answer, ties (few distinct values) and NaN included.
    #[test]
    fn arg_trees_match_numpy(
        shape in proptest::collection::vec(1usize..9, 1..4),
        chunk in proptest::collection::vec(1usize..4, 3),
        split in 2usize..5,
        seed in 0u64..1000,
        nan in any::<bool>(),
    ) {
        let n: usize = shape.iter().product();
        let mut values: Vec<f64> = (0..n as u64).map(|i| ((i * 7919 + seed) % 5) as f64).collect();
        if nan && n > 2 {
            values[n / 2] = f64::NAN;
        }
        let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), values).unwrap();
        let x = Array::from_array(&a, &chunk[..shape.len()]).unwrap();
        for max in [false, true] {
            let flat: Vec<f64> = a.iter().copied().collect();
            let got = if max { x.argmax_split_every(None, split) } else { x.argmin_split_every(None, split) }
                .unwrap().compute_on(&SyncScheduler, &[]).unwrap().into_scalar().unwrap();
            prop_assert_eq!(got, arg_direct(&flat, max));
            for axis in 0..shape.len() {
                let got = if max { x.argmax_split_every(Some(axis), split) } else { x.argmin_split_every(Some(axis), split) }
                    .unwrap().compute_on(&SyncScheduler, &[]).unwrap();
                let want = a.map_axis(Axis(axis), |lane| arg_direct(&lane.to_vec(), max));
                prop_assert_eq!(got, want);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// `(x * x[rev]).sum(axes)` with reversed and strided slices read in place by the fused
    /// reduction (odd block counts make a block its own mirror).
    #[test]
    fn sliced_inputs_fuse_into_reductions(
        shape in proptest::collection::vec(1usize..8, 2),
        chunk in proptest::collection::vec(1usize..4, 2),
        step in prop_oneof![Just(-1isize), Just(-2), Just(2)],
        all in any::<bool>(),
    ) {
        let a = data(&shape);
        let x = Array::from_array(&a, &chunk[..]).unwrap();
        let y = x.slice(ndarray::s![..;-1, ..;-1]).unwrap();
        let info = ndarray::s![..;step, ..];
        let want_y = a.slice(ndarray::s![..;-1, ..;-1]).to_owned();
        // x[::step] * (x * x[::-1, ::-1])[::step] — a slice under and over the product.
        let prod = &x * &y;
        let xs = x.slice(info).unwrap();
        let expr = &xs * &prod.slice(info).unwrap();
        let want_full = &a.slice(info) * &(&a * &want_y).slice(info);
        let how = if all { Reduction::all() } else { Reduction::axis(1) };
        let sum = expr.sum(how).unwrap();
        // The slices that feed the product directly are read in place, not made.
        let getitems = |g: &rask_graph::Graph| g.iter().filter(|(_, t)| t.op().name() == "getitem").count();
        let before = getitems(sum.graph());
        let after = getitems(&sum.optimized_graph().unwrap());
        prop_assert!(after + xs.npartitions() <= before, "{before} getitem tasks, {after} after fusion");
        let got = sum.compute_on(&SyncScheduler, &[]).unwrap();
        let want = if all { ndarray::arr0(want_full.sum()).into_dyn() } else { want_full.sum_axis(Axis(1)).into_dyn() };
        prop_assert_eq!(got.shape(), want.shape());
        prop_assert!(got.iter().zip(want.iter()).all(|(g, w)| (g - w).abs() < 1e-6 * w.abs().max(1.0)), "{got} vs {want}");
    }
}

#[test]
fn array_passes_are_registered_in_order() {
    // Registered where each pass is written; the runner orders them.
    let names: Vec<&str> = rask_graph::optimize::registered("array")
        .iter()
        .map(|p| p.name)
        .collect();
    insta::assert_snapshot!(names.join("\n"), @r"
    inline-cheap
    fuse-reductions-f32
    fuse-reductions-f64
    fuse-reductions-i32
    fuse-reductions-i64
    fuse-reductions-u32
    fuse-reductions-u64
    fuse-reductions-u8
    fuse-transposes-f32
    fuse-transposes-f64
    fuse-random-histograms
    fuse-elementwise-binary-f32
    fuse-elementwise-binary-f64
    fuse-elementwise-binary-i32
    fuse-elementwise-binary-i64
    fuse-elementwise-binary-u32
    fuse-elementwise-binary-u64
    fuse-elementwise-binary-u8
    fuse-elementwise-unary-f32
    fuse-elementwise-unary-f64
    fuse-elementwise-unary-i32
    fuse-elementwise-unary-i64
    fuse-elementwise-unary-u32
    fuse-elementwise-unary-u64
    fuse-elementwise-unary-u8
    fuse-elementwise-scalar-f32
    fuse-elementwise-scalar-f64
    fuse-elementwise-scalar-i32
    fuse-elementwise-scalar-i64
    fuse-elementwise-scalar-u32
    fuse-elementwise-scalar-u64
    fuse-elementwise-scalar-u8
    fuse-linear
    ");
}

/// `y = y + y`, 40 times, summed: a task read twice by its reader is one node of the fused
/// expression, evaluated once per lane — 41 nodes, not 2^40 (issue 12, item 1).
#[test]
fn shared_subexpressions_fuse_into_a_dag() {
    let a = data(&[9, 7]);
    let (got, encoded) = within(60, move || {
        let x = Array::from_array(&data(&[9, 7]), [4, 3]).unwrap();
        let mut y = x.clone();
        for _ in 0..40 {
            y = &y + &y;
        }
        let s = y.sum(Reduction::all()).unwrap();
        let g = s.optimized_graph().unwrap();
        let encoded = g.to_bytes().unwrap().len();
        let got = s
            .compute_on(&SyncScheduler, &[])
            .unwrap()
            .into_scalar()
            .unwrap();
        (got, encoded)
    });
    assert_eq!(got, a.sum() * 2f64.powi(40));
    // 9 blocks, each a fused expression of 41 nodes, and the tree above them.
    assert!(encoded < 20_000, "{encoded} bytes");
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Double),
        Just(Step::Square),
        Just(Step::TimesX),
        Just(Step::XOver),
        Just(Step::Abs),
        (-3i8..3).prop_map(Step::Shift),
        Just(Step::Cos),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Random chains with shared subexpressions (`y + y`, `y * y`), inputs read again
    /// further down (`y * x`, `x / y`) and constants, fused into a sum or an axis max: the
    /// same answers as ndarray, step by step.
    #[test]
    fn fused_dags_match_ndarray(
        shape in prop::collection::vec(1usize..6, 1..=3),
        chunk in 1usize..4,
        steps in prop::collection::vec(step_strategy(), 1..12),
        axis_max in any::<bool>(),
    ) {
        let a = data(&shape).mapv(|v| v / 25.0 + 0.01);
        let x = Array::from_array(&a, chunk).unwrap();
        let (mut y, mut want) = (x.clone(), a.clone());
        for step in &steps {
            (y, want) = step.apply((y, want), &x, &a);
        }
        if axis_max {
            let got = y.max(Reduction::axis(0)).unwrap().compute_on(&SyncScheduler, &[]).unwrap();
            let want = want.fold_axis(Axis(0), f64::NEG_INFINITY, |m, v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.max(*v) });
            prop_assert_eq!(got.shape(), want.shape());
            for (g, w) in got.iter().zip(want.iter()) {
                prop_assert!(agree(*g, *w), "{} vs {}", g, w);
            }
        } else {
            let got = y.sum(Reduction::all()).unwrap().compute_on(&SyncScheduler, &[]).unwrap().into_scalar().unwrap();
            let w = want.sum();
            prop_assert!(agree(got, w) || (got - w).abs() <= 1e-9 * want.mapv(f64::abs).sum(), "{} vs {}", got, w);
        }
    }
}

/// A constant block's sum, product, extremes, mean and any/all cost O(1), not one step per
/// element: 2^34 ones in 16 blocks reduce at once (issue 12's figures: 7.7 s before).
#[test]
fn constant_blocks_reduce_in_constant_time() {
    let got = within(60, || {
        let x = Array::<f64>::ones(&[1 << 34], 1usize << 30).unwrap();
        let two = Array::<f64>::full(&[1 << 34], 1usize << 30, 2.0).unwrap();
        let ints = Array::<i64>::full(&[1 << 34], 1usize << 30, 3).unwrap();
        let f = |a: Array<f64>| {
            a.compute_on(&SyncScheduler, &[])
                .unwrap()
                .into_scalar()
                .unwrap()
        };
        let i = |a: Array<i64>| {
            a.compute_on(&SyncScheduler, &[])
                .unwrap()
                .into_scalar()
                .unwrap()
        };
        let b = |a: Array<bool>| {
            a.compute_on(&SyncScheduler, &[])
                .unwrap()
                .into_scalar()
                .unwrap()
        };
        let third = two.slice(rask_array::s![..(1isize << 33);3]).unwrap();
        (
            [
                f(x.sum(Reduction::all()).unwrap()),
                f(x.mean(Reduction::all()).unwrap()),
                f(two.max(Reduction::all()).unwrap()),
                f(two.min(Reduction::all()).unwrap()),
                f(third.sum(Reduction::all()).unwrap()),
            ],
            [
                i(ints.sum(Reduction::all()).unwrap()),
                i(ints.prod(Reduction::all()).unwrap()),
            ],
            [
                b(two.any(Reduction::all()).unwrap()),
                b(x.all(Reduction::all()).unwrap()),
            ],
        )
    });
    let third = (1u64 << 33).div_ceil(3) as f64;
    assert_eq!(got.0, [2f64.powi(34), 1.0, 2.0, 2.0, 2.0 * third]);
    assert_eq!(
        got.1,
        [3 << 34, 3i64.wrapping_pow(1 << 30).wrapping_pow(16)]
    );
    assert_eq!(got.2, [true, true]);
}

/// Blocks share a fused op only when they compute the same thing, constants compared bit for
/// bit: `x / 0.0` and `x / -0.0` are different expressions (review finding).
#[test]
fn fused_ops_are_shared_only_between_equal_expressions() {
    let x = Array::from_array(&data(&[4]).mapv(|v| v.abs() + 1.0), 2usize).unwrap();
    let a = (&x / 0.0).sum(Reduction::all()).unwrap();
    let b = (&x / -0.0).sum(Reduction::all()).unwrap();
    // One graph holding both reductions, optimized in one pass: inf + -inf is NaN.
    let both = (&a + &b).compute_on(&SyncScheduler, &[]).unwrap();
    assert!(both.into_scalar().unwrap().is_nan());
    let (a, b) = rask_graph::compute_all_with((&a, &b), &SyncScheduler).unwrap();
    assert_eq!(a.into_scalar().unwrap(), f64::INFINITY);
    assert_eq!(b.into_scalar().unwrap(), f64::NEG_INFINITY);
}
