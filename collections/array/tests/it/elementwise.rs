//! Elementwise operations against plain ndarray: broadcasting, different chunkings, scalars,
//! unary math, NumPy's integer corner cases, errors kept by operators, fusion.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rask_array::{Array, BinOp, Reduction};
use rask_graph::{Collection, ComputeError};
use rask_local::{SyncScheduler, ThreadedScheduler};

use crate::steps::{Step, agree};

fn data(shape: &[usize], seed: usize) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n)
            .map(|i| (((i + seed) * 7919) % 97) as f64 / 7.0 - 6.0)
            .collect(),
    )
    .unwrap()
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()))
}

#[test]
fn arithmetic_with_arrays_and_scalars() {
    let (a, b) = (data(&[7, 5], 1), data(&[7, 5], 2));
    let x = Array::from_array(&a, [3, 2]).unwrap();
    let y = Array::from_array(&b, [2, 5]).unwrap();
    let s = SyncScheduler;
    let r = ((&x + &y) * 2.0 - &x / 3.0).compute_on(&s, &[]).unwrap();
    assert!(close(&r, &((&a + &b) * 2.0 - &a / 3.0)));
    let r = (1.0 - &x).compute_on(&s, &[]).unwrap();
    assert!(close(&r, &a.mapv(|v| 1.0 - v)));
    let r = (-&x).abs().compute_on(&s, &[]).unwrap();
    assert!(close(&r, &a.mapv(f64::abs)));
    let r = (&x % 2.5).compute_on(&s, &[]).unwrap();
    // NumPy's mod takes the divisor's sign.
    assert!(close(&r, &a.mapv(|v| v.rem_euclid(2.5))));
    let r = x
        .cos()
        .powi(2)
        .compute_on(
            &ThreadedScheduler::builder().num_workers(2).build().unwrap(),
            &[],
        )
        .unwrap();
    assert!(close(&r, &a.mapv(|v| v.cos().powi(2))));
    let r = x.abs().sqrt().exp().log().compute_on(&s, &[]).unwrap();
    assert!(close(&r, &a.mapv(|v| v.abs().sqrt())));
}

#[test]
fn integer_corner_cases_are_numpys() {
    let a = ArrayD::from_shape_vec(IxDyn(&[4]), vec![7i64, -7, 0, 3]).unwrap();
    let x = Array::from_array(&a, 3usize).unwrap();
    let zeros = Array::<i64>::zeros(&[4], 2usize).unwrap();
    let r = (&x / &zeros).compute_on(&SyncScheduler, &[]).unwrap();
    assert_eq!(r.as_slice().unwrap(), &[0, 0, 0, 0]);
    let r = (&x / 2).compute_on(&SyncScheduler, &[]).unwrap();
    assert_eq!(r.as_slice().unwrap(), &[3, -3, 0, 1]);
    let u = Array::<u8>::full(&[3], 2usize, 250).unwrap();
    let r = (&u + 10u8).compute_on(&SyncScheduler, &[]).unwrap();
    assert_eq!(r.as_slice().unwrap(), &[4, 4, 4], "wraps, as NumPy's uint8");
}

#[test]
fn operators_keep_their_errors_until_compute() {
    let x = Array::<f64>::ones(&[4, 3], 2usize).unwrap();
    let y = Array::<f64>::ones(&[5], 5usize).unwrap();
    let bad = &x + &y;
    assert!(bad.error().is_some());
    let worse = (bad * 2.0).sum(Reduction::all());
    let err = worse.unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"shapes [4, 3] and [5] do not broadcast together");
    let err = (&x - &y).compute_on(&SyncScheduler, &[]).unwrap_err();
    assert!(matches!(err, ComputeError::Collection(_)));
    assert_eq!(
        x.binary(BinOp::Add, &y).unwrap_err().to_string(),
        err.to_string()
    );
}

#[test]
fn chains_fuse_into_one_task_per_block() {
    let x = Array::<f64>::ones(&[40, 40], [10, 10]).unwrap();
    let y = x.cos().powi(2) * 3.0;
    let g = y.optimized_graph().unwrap();
    assert_eq!(g.len(), 16, "ones, cos, pow, mul fused per block");
    let r = y.compute_on(&SyncScheduler, &[]).unwrap();
    assert!(
        r.iter()
            .all(|v| (v - 3.0 * 1f64.cos().powi(2)).abs() < 1e-12)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 80, ..ProptestConfig::default() })]

    #[test]
    fn broadcasting_matches_ndarray(
        shape in proptest::collection::vec(1usize..6, 1..4),
        ones_mask in 0u8..8,
        drop_leading in 0usize..2,
        ca in proptest::collection::vec(1usize..4, 3),
        cb in proptest::collection::vec(1usize..4, 3),
    ) {
        // b broadcasts against a: some axes of length 1, maybe fewer axes.
        let sb: Vec<usize> = shape
            .iter()
            .enumerate()
            .map(|(i, n)| if ones_mask & (1 << i) != 0 { 1 } else { *n })
            .collect();
        let sb = sb[drop_leading.min(sb.len() - 1)..].to_vec();
        let (a, b) = (data(&shape, 3), data(&sb, 5));
        let x = Array::from_array(&a, &ca[..shape.len()]).unwrap();
        let y = Array::from_array(&b, &cb[..sb.len()]).unwrap();
        let got = (&x * &y + &y).compute_on(&SyncScheduler, &[]).unwrap();
        let want = &a * &b + &b;
        prop_assert!(close(&got, &want), "{:?} vs {:?}", got.shape(), want.shape());
        let got = (&y - &x).compute_on(&SyncScheduler, &[]).unwrap();
        prop_assert!(close(&got, &(&b - &a)));
    }
}

#[test]
fn comparisons_clip_and_casts() {
    use rask_array::CmpOp;
    let a = data(&[6, 4], 1);
    let b = data(&[4], 9);
    let x = Array::from_array(&a, [4, 3]).unwrap();
    let y = Array::from_array(&b, 3usize).unwrap();
    let s = SyncScheduler;
    let got = x
        .compare(CmpOp::Lt, &y)
        .unwrap()
        .compute_on(&s, &[])
        .unwrap();
    let want = ndarray::Zip::from(&a)
        .and_broadcast(&b)
        .map_collect(|p, q| p < q);
    assert_eq!(got, want.into_dyn());
    let got = x
        .compare_scalar(CmpOp::Ge, 0.0)
        .compute_on(&s, &[])
        .unwrap();
    assert_eq!(got, a.mapv(|v| v >= 0.0));
    // Booleans sum as integers.
    let count = x
        .compare_scalar(CmpOp::Eq, a[[0, 0]])
        .sum(Reduction::all())
        .unwrap();
    let n = a.iter().filter(|v| **v == a[[0, 0]]).count() as i64;
    assert_eq!(
        count
            .compute_on(&s, &[])
            .unwrap()
            .into_dyn()
            .iter()
            .next()
            .copied(),
        Some(n)
    );
    let got = x.clip(-1.0, 2.0).compute_on(&s, &[]).unwrap();
    assert_eq!(got, a.mapv(|v| v.clamp(-1.0, 2.0)));
    let nan = Array::from_array(
        &ArrayD::from_shape_vec(IxDyn(&[2]), vec![f64::NAN, 5.0]).unwrap(),
        1usize,
    )
    .unwrap();
    let got = nan.clip(0.0, 1.0).compute_on(&s, &[]).unwrap();
    assert!(got[0].is_nan() && got[1] == 1.0);
    // Casts as Rust's `as`: wrapping between integers, truncation from floats.
    let i = Array::from_array(
        &ArrayD::from_shape_vec(IxDyn(&[4]), vec![-1i64, 300, 7, i64::MAX]).unwrap(),
        2usize,
    )
    .unwrap();
    assert_eq!(
        i.astype::<u64>()
            .compute_on(&s, &[])
            .unwrap()
            .as_slice()
            .unwrap(),
        &[u64::MAX, 300, 7, i64::MAX as u64]
    );
    assert_eq!(
        i.astype::<u8>()
            .compute_on(&s, &[])
            .unwrap()
            .as_slice()
            .unwrap(),
        &[255, 44, 7, 255]
    );
    assert_eq!(
        i.astype::<bool>()
            .compute_on(&s, &[])
            .unwrap()
            .as_slice()
            .unwrap(),
        &[true, true, true, true]
    );
    let f = Array::from_array(
        &ArrayD::from_shape_vec(IxDyn(&[3]), vec![-2.7, 0.5, 3.9]).unwrap(),
        2usize,
    )
    .unwrap();
    assert_eq!(
        f.astype::<i32>()
            .compute_on(&s, &[])
            .unwrap()
            .as_slice()
            .unwrap(),
        &[-2, 0, 3]
    );
    let mean = x
        .compare_scalar(CmpOp::Gt, 0.0)
        .mean(Reduction::all())
        .unwrap();
    let frac = a.iter().filter(|v| **v > 0.0).count() as f64 / a.len() as f64;
    assert!(
        (mean
            .compute_on(&s, &[])
            .unwrap()
            .iter()
            .next()
            .copied()
            .unwrap()
            - frac)
            .abs()
            < 1e-12
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn where_matches_ndarray(
        shape in proptest::collection::vec(1usize..6, 1..3),
        ca in proptest::collection::vec(1usize..4, 2),
        cb in proptest::collection::vec(1usize..4, 2),
    ) {
        use rask_array::CmpOp;
        let a = data(&shape, 1);
        let b = data(&shape, 4);
        let x = Array::from_array(&a, &ca[..shape.len()]).unwrap();
        let y = Array::from_array(&b, &cb[..shape.len()]).unwrap();
        let cond = x.compare(CmpOp::Gt, &y).unwrap();
        let got = Array::where_(&cond, &x, &(&y * 2.0)).unwrap().compute_on(&SyncScheduler, &[]).unwrap();
        let want = ndarray::Zip::from(&a).and(&b).map_collect(|p, q| if p > q { *p } else { q * 2.0 });
        prop_assert!(close(&got, &want));
    }
}

fn ints(v: &[i64], chunk: usize) -> Array<i64> {
    Array::from_array(&ndarray::Array1::from(v.to_vec()).into_dyn(), chunk).unwrap()
}

/// NumPy's integer `%`, `//` and `/` corner cases (issue 12, item 15): the remainder takes the
/// divisor's sign, the floor quotient rounds down, by zero gives 0, and `MIN / -1` wraps.
#[test]
fn integer_division_follows_numpy() {
    let run = |a: &Array<i64>| {
        a.compute_on(&SyncScheduler, &[])
            .unwrap()
            .into_raw_vec_and_offset()
            .0
    };
    let x = ints(&[-7, 7, -7, 7, 5, i64::MIN, i64::MIN], 3);
    let y = ints(&[2, 2, -2, -2, 0, -1, 1], 3);
    assert_eq!(run(&(&x % &y)), vec![1, 1, -1, -1, 0, 0, 0]);
    assert_eq!(
        run(&x.floor_divide(&y).unwrap()),
        vec![-4, 3, 3, -4, 0, i64::MIN, i64::MIN]
    );
    assert_eq!(run(&(&x / &y)), vec![-3, 3, 3, -3, 0, i64::MIN, i64::MIN]);
    assert_eq!(run(&(&ints(&[-7, 7], 1) % 2)), vec![1, 1]);
    assert_eq!(
        run(&ints(&[-7, 7], 1).scalar(BinOp::FloorDiv, 2)),
        vec![-4, 3]
    );
    // Floats: the remainder's sign rule, and floor division.
    let f = Array::from_array(&ndarray::arr1(&[-7.5f64, 7.5]).into_dyn(), 1usize).unwrap();
    let r = f
        .scalar(BinOp::Rem, 2.0)
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    assert_eq!(r.as_slice().unwrap(), &[0.5, 1.5]);
    let q = f
        .scalar(BinOp::FloorDiv, 2.0)
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    assert_eq!(q.as_slice().unwrap(), &[-4.0, 3.0]);
    // NumPy's floor division of floats goes with its `%`: 1.0 // 0.1 is 9.0 (0.1 is a
    // little more than a tenth), and a == (a // b) * b + a % b.
    let vals = [1.0f64, -1.0, 7.5, -0.0];
    let g = Array::from_array(&ndarray::arr1(&vals).into_dyn(), 2usize).unwrap();
    let q = g
        .scalar(BinOp::FloorDiv, 0.1)
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    assert_eq!(q.as_slice().unwrap(), &[9.0, -10.0, 74.0, -0.0]); // as Python: 7.5 // 0.1 == 74.0
    let r = g
        .scalar(BinOp::Rem, 0.1)
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    for ((a, q), r) in vals.iter().zip(q.iter()).zip(r.iter()) {
        assert!((q * 0.1 + r - a).abs() < 1e-12, "{a} {q} {r}");
    }
}

proptest! {
    /// `a == (a // b) * b + a % b`, with `a // b` the floor of the real quotient, for every
    /// pair with a non-zero divisor (checked against exact floating-point floors).
    #[test]
    fn floor_division_and_remainder_agree(
        pairs in prop::collection::vec((-1000i64..1000, -50i64..50), 1..40),
        chunk in 1usize..5,
    ) {
        let a: Vec<i64> = pairs.iter().map(|p| p.0).collect();
        let b: Vec<i64> = pairs.iter().map(|p| if p.1 == 0 { 1 } else { p.1 }).collect();
        let (x, y) = (ints(&a, chunk), ints(&b, chunk));
        let q = x.floor_divide(&y).unwrap().compute_on(&SyncScheduler, &[]).unwrap();
        let r = (&x % &y).compute_on(&SyncScheduler, &[]).unwrap();
        for i in 0..a.len() {
            let want_q = (a[i] as f64 / b[i] as f64).floor() as i64;
            prop_assert_eq!(q[[i]], want_q);
            prop_assert_eq!(r[[i]], a[i] - want_q * b[i]);
        }
    }
}

/// A vectorized function, and the array methods that compute it on f64 and f32.
type UnaryCase = (
    rask_math::Func,
    fn(&Array<f64>) -> Array<f64>,
    fn(&Array<f32>) -> Array<f32>,
);

/// sin, cos, tan, exp, log, sqrt and tanh run rask-math's vectorized kernels on blocks, on
/// lanes fused into a reduction, and on f32: each within its documented ulps of libm's, on
/// an odd shape with uneven last chunks, with NaN, ±∞, ±0 and huge values among the data.
#[test]
fn vectorized_unary_math_is_within_its_ulps_of_libm() {
    use rask_math::Func;
    let shape = [37, 29];
    let mut a = data(&shape, 3).mapv(|v| v * 1.7);
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1e300,
        -3e7,
        5e-324,
    ];
    for (v, s) in a.iter_mut().zip(specials) {
        *v = s;
    }
    let threaded = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    let x = Array::from_array(&a, [8, 5]).unwrap();
    let ops: [UnaryCase; 7] = [
        (Func::Sin, Array::sin, Array::sin),
        (Func::Cos, Array::cos, Array::cos),
        (Func::Tan, Array::tan, Array::tan),
        (Func::Exp, Array::exp, Array::exp),
        (Func::Log, Array::log, Array::log),
        (Func::Sqrt, Array::sqrt, Array::sqrt),
        (Func::Tanh, Array::tanh, Array::tanh),
    ];
    for (f, op, op32) in ops {
        let want = a.mapv(|v| f.libm(v));
        for s in [&SyncScheduler as &dyn rask_graph::Scheduler, &threaded] {
            let got = op(&x).compute_on(s, &[]).unwrap();
            assert_eq!(got.shape(), &shape);
            for ((g, w), v) in got.iter().zip(&want).zip(&a) {
                assert!(
                    rask_math::ulp_distance(*g, *w) <= f.max_ulp() as u64,
                    "{f:?}({v:e}): {g:e}, libm {w:e}"
                );
            }
        }
        // Fused into a sum (lane by lane), on the finite values only.
        let finite = a.mapv(|v| if f.libm(v).is_finite() { v } else { 1.0 });
        let y = Array::from_array(&finite, [8, 5]).unwrap();
        let got = op(&y)
            .sum(Reduction::axis(1))
            .unwrap()
            .compute_on(&SyncScheduler, &[])
            .unwrap();
        let want = finite.mapv(|v| f.libm(v)).sum_axis(ndarray::Axis(1));
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
                "{f:?} summed: {g} vs {w}"
            );
        }
        // f32, computed through f64 and rounded once: within one f32 unit.
        let a32 = a.mapv(|v| v as f32);
        let got = op32(&Array::from_array(&a32, [8, 5]).unwrap())
            .compute_on(&SyncScheduler, &[])
            .unwrap();
        for (g, v) in got.iter().zip(&a32) {
            let w = f.libm(*v as f64) as f32;
            assert!(
                rask_math::ulp_distance_f32(*g, w) <= 1,
                "{f:?}({v:e}) as f32: {g:e}, libm {w:e}"
            );
        }
    }
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Double),
        Just(Step::Square),
        Just(Step::TimesX),
        Just(Step::XOver),
        Just(Step::Sin),
        (-3i8..4).prop_map(Step::Shift),
        (-3i8..4).prop_map(Step::Scale),
    ]
}

/// A slice of every axis: start, stop and a step that may be negative.
fn slice_strategy() -> impl Strategy<Value = (usize, usize, isize)> {
    (
        0usize..3,
        0usize..3,
        prop_oneof![Just(1isize), Just(2), Just(-1), Just(-2), Just(3)],
    )
}

/// The fused expression tasks (`ExprBlock`) of an array's graph after the array passes but
/// the last (fuse-linear, which would wrap them with the chains below them).
fn fused_tasks(x: &Array<f64>) -> usize {
    let keep: rask_graph::KeySet = x.output_keys().into_iter().collect();
    let mut g = x.graph().clone();
    for pass in rask_graph::optimize::registered("array") {
        if pass.name != "fuse-linear" {
            g = (pass.run)(&g, &keep);
        }
    }
    g.iter()
        .filter(|(_, t)| {
            rask_graph::downcast_op::<rask_array::ops::ExprBlock<f64>>(t.op()).is_some()
        })
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random elementwise expressions made into arrays, not reduced — whole, and sliced (the
    /// slice pushed down into the fused tasks) — against ndarray step by step, on the sync and
    /// threaded schedulers. The expression runs as fused tasks, one per block.
    #[test]
    fn fused_expressions_match_the_unfused_graph(
        shape in prop::collection::vec(1usize..7, 1..=3),
        chunk in 1usize..4,
        steps in prop::collection::vec(step_strategy(), 2..10),
        cut in prop::collection::vec(slice_strategy(), 3),
    ) {
        let a = data(&shape, 5).mapv(|v| v / 7.0 + 0.5);
        let x = Array::from_array(&a, chunk).unwrap();
        let y2 = x.slice(ndarray::s![..;-1]).unwrap();
        let a2 = a.slice_axis(ndarray::Axis(0), ndarray::Slice::new(0, None, -1)).to_owned();
        // The second input is the first reversed along axis 0: a slice read in place.
        let (mut y, mut want) = (&x + &y2, &a + &a2);
        for step in &steps {
            (y, want) = step.apply((y, want), &x, &a);
        }
        let same = |g: &ArrayD<f64>, w: &ArrayD<f64>| {
            g.shape() == w.shape()
                && g.iter().zip(w.iter()).all(|(g, w)| agree(*g, *w))
        };
        let threaded = ThreadedScheduler::builder().num_workers(2).build().unwrap();
        prop_assert_eq!(fused_tasks(&y), y.npartitions());
        for s in [&SyncScheduler as &dyn rask_graph::Scheduler, &threaded] {
            let got = y.compute_on(s, &[]).unwrap();
            prop_assert!(same(&got, &want), "{:?}: {} vs {}", steps, got, want);
        }
        // A slice of the expression: only the kept elements are computed.
        let n = shape.len();
        let info: Vec<ndarray::SliceInfoElem> = cut[..n]
            .iter()
            .zip(&shape)
            .map(|((lo, hi, step), len)| {
                let lo = (*lo).min(*len);
                let hi = len.saturating_sub(*hi).max(lo);
                ndarray::SliceInfoElem::Slice { start: lo as isize, end: Some(hi as isize), step: *step }
            })
            .collect();
        let z = y.slice(info.as_slice()).unwrap();
        let want_z = want.slice(info.as_slice()).to_owned();
        for s in [&SyncScheduler as &dyn rask_graph::Scheduler, &threaded] {
            let got = z.compute_on(s, &[]).unwrap();
            prop_assert!(same(&got, &want_z), "{:?} sliced: {} vs {}", steps, got, want_z);
        }
    }
}

/// `(x * y)[::2]` computes only the selected elements: the slice goes into the fused task,
/// and no block of the whole product is made.
#[test]
fn slices_push_down_into_elementwise_expressions() {
    let (a, b) = (data(&[40, 30], 1), data(&[40, 30], 2));
    let x = Array::from_array(&a, [10, 10]).unwrap();
    let y = Array::from_array(&b, [10, 10]).unwrap();
    let z = (&x * &y).slice(ndarray::s![..;2, ..;-3]).unwrap();
    // Every task left is a fused expression reading the input blocks (no `mul` of whole
    // blocks, no `getitem` of them).
    assert_eq!(fused_tasks(&z), z.npartitions());
    let g = z.optimized_graph().unwrap();
    assert!(
        g.iter()
            .all(|(_, t)| t.op().name() != "mul" && t.op().name() != "getitem")
    );
    let got = z.compute_on(&SyncScheduler, &[]).unwrap();
    let want = (&a * &b)
        .slice(ndarray::s![..;2, ..;-3])
        .to_owned()
        .into_dyn();
    assert!(close(&got, &want));
}

/// `y = y + y`, 40 times, made into an array (no reduction): one fused task per block, each
/// step worked out once per tile — 2^40 would never finish.
#[test]
fn shared_subexpressions_fuse_when_materialized() {
    let a = data(&[9, 7], 3);
    let x = Array::from_array(&a, [4, 3]).unwrap();
    let mut y = x.clone();
    for _ in 0..40 {
        y = &y + &y;
    }
    assert_eq!(fused_tasks(&y), x.npartitions());
    let got = y.compute_on(&SyncScheduler, &[]).unwrap();
    assert!(close(&got, &a.mapv(|v| v * 2f64.powi(40))));
}

/// `x ** p` for float exponents runs rask-math's vectorized pow: within its documented ulps of
/// libm's `powf`, libm's answer for negative and special values, and `x ** 0.5` exactly sqrt.
#[test]
fn vectorized_powf_is_within_its_ulps_of_libm() {
    let shape = [31, 17];
    let mut a = data(&shape, 4).mapv(|v| (v + 6.5) * 3.7);
    let specials = [f64::NAN, f64::INFINITY, 0.0, -0.0, -2.0, 1e300, 5e-324];
    for (v, s) in a.iter_mut().zip(specials) {
        *v = s;
    }
    let x = Array::from_array(&a, [8, 5]).unwrap();
    for p in [0.5, 2.5, -1.7, 3.0, 1.0 / 3.0, 40.25] {
        let got = x.powf(p).compute_on(&SyncScheduler, &[]).unwrap();
        for (g, v) in got.iter().zip(&a) {
            let w = v.powf(p);
            assert!(
                rask_math::ulp_distance(*g, w) <= rask_math::POW_MAX_ULP as u64,
                "{v:e} ** {p}: {g:e}, libm {w:e}"
            );
            if p == 0.5 && *v > 0.0 {
                assert_eq!(g.to_bits(), v.sqrt().to_bits(), "{v:e} ** 0.5");
            }
        }
    }
}

/// A slice of an expression read by a reduction is pushed down into the fused reduction too:
/// `(x * y)[::2, ::-3].sum(…)` multiplies only the elements it keeps, and no `mul` or
/// `getitem` task is left — over every axis, one axis, and with uneven blocks.
#[test]
fn slices_push_down_into_reduced_expressions() {
    let (a, b) = (data(&[41, 30], 1), data(&[41, 30], 2));
    let x = Array::from_array(&a, [10, 7]).unwrap();
    let y = Array::from_array(&b, [10, 7]).unwrap();
    let sliced = || (&x * &y).slice(ndarray::s![..;2, ..;-3]).unwrap();
    let want = (&a * &b).slice(ndarray::s![..;2, ..;-3]).to_owned();
    let cases: [(Reduction, ArrayD<f64>); 3] = [
        (Reduction::all(), ndarray::arr0(want.sum()).into_dyn()),
        (
            Reduction::axis(0),
            want.sum_axis(ndarray::Axis(0)).into_dyn(),
        ),
        (
            Reduction::axis(1),
            want.sum_axis(ndarray::Axis(1)).into_dyn(),
        ),
    ];
    for (how, want) in cases {
        let z = sliced().sum(how).unwrap();
        let keep: rask_graph::KeySet = z.output_keys().into_iter().collect();
        let mut g = z.graph().clone();
        for pass in rask_graph::optimize::registered("array") {
            if pass.name != "fuse-linear" {
                g = (pass.run)(&g, &keep);
            }
        }
        let names: Vec<&str> = g.iter().map(|(_, t)| t.op().name()).collect();
        assert!(
            !names.iter().any(|n| *n == "mul" || *n == "getitem"),
            "{names:?}"
        );
        let reduced = g
            .iter()
            .filter(|(_, t)| {
                rask_graph::downcast_op::<rask_array::ops::ExprReduce<f64>>(t.op()).is_some()
            })
            .count();
        assert_eq!(reduced, sliced().npartitions());
        for got in [
            z.compute_on(&SyncScheduler, &[]).unwrap(),
            z.compute_on(&ThreadedScheduler::default(), &[]).unwrap(),
        ] {
            assert!(close(&got, &want), "{got} vs {want}");
        }
    }
}
