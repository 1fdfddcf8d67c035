//! Creation functions against ndarray's own.

use ndarray::{Array1, Array2, ArrayD, IxDyn};
use rask_array::Array;
use rask_graph::{Collection, ComputeError};
use rask_local::SyncScheduler;

#[test]
fn arange_linspace_eye_like_numpy() {
    let s = SyncScheduler;
    for (start, stop, step, chunks) in [
        (0.0, 10.0, 1.0, 3usize),
        (2.0, 11.0, 3.0, 1),
        (5.0, -4.0, -2.0, 2),
        (0.0, 1.0, 0.1, 4),
        (3.0, 3.0, 1.0, 2),
    ] {
        let got = Array::<f64>::arange(start, stop, step, chunks)
            .unwrap()
            .compute_on(&s, &[])
            .unwrap();
        let n = ((stop - start) / step).ceil().max(0.0) as usize;
        let want: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        assert_eq!(
            got.as_slice().unwrap(),
            want.as_slice(),
            "arange({start}, {stop}, {step})"
        );
    }
    let got = Array::<i64>::arange(0.0, 7.0, 2.0, 2usize)
        .unwrap()
        .compute_on(&s, &[])
        .unwrap();
    assert_eq!(got.as_slice().unwrap(), &[0, 2, 4, 6]);
    for (a, b, n) in [
        (0.0, 1.0, 5usize),
        (-3.0, 7.5, 11),
        (2.0, 2.0, 1),
        (0.0, 1.0, 0),
    ] {
        let got = Array::<f64>::linspace(a, b, n, 3usize)
            .unwrap()
            .compute_on(&s, &[])
            .unwrap();
        let want = Array1::linspace(a, b, n);
        assert_eq!(
            got.as_slice().unwrap(),
            want.as_slice().unwrap(),
            "linspace({a}, {b}, {n})"
        );
    }
    let got = Array::<f64>::eye(7, [3, 2])
        .unwrap()
        .compute_on(&s, &[])
        .unwrap();
    assert_eq!(got, Array2::<f64>::eye(7).into_dyn());
    let x = Array::<u8>::zeros(&[5, 3], [2, 2]).unwrap();
    let o = Array::<f64>::ones_like(&x).unwrap();
    assert_eq!(o.chunks(), x.chunks());
    assert_eq!(
        o.compute_on(&s, &[]).unwrap(),
        ArrayD::from_elem(IxDyn(&[5, 3]), 1.0)
    );
    assert_eq!(
        Array::<i32>::full_like(&x, 7)
            .unwrap()
            .compute_on(&s, &[])
            .unwrap(),
        ArrayD::from_elem(IxDyn(&[5, 3]), 7)
    );
    insta::assert_snapshot!(Array::<f64>::arange(0.0, 1.0, 0.0, 2usize).unwrap_err().to_string(), @"arange: needs finite bounds and a non-zero step, got 0, 1, 0");
}

#[test]
fn from_fn_builds_blocks_and_checks_their_shapes() {
    let s = SyncScheduler;
    let x = Array::<i64>::from_fn(&[5, 4], [2, 3], |r| {
        ArrayD::from_shape_fn(IxDyn(&[r[0].len(), r[1].len()]), |i| {
            ((r[0].start + i[0]) * 10 + r[1].start + i[1]) as i64
        })
    })
    .unwrap();
    let got = x.compute_on(&s, &[]).unwrap();
    assert_eq!(
        got,
        ArrayD::from_shape_fn(IxDyn(&[5, 4]), |i| (i[0] * 10 + i[1]) as i64)
    );
    let bad = Array::<i64>::from_fn(&[5], 2usize, |_| ArrayD::zeros(IxDyn(&[3]))).unwrap();
    let err = bad.compute_on(&s, &[]).unwrap_err();
    assert!(matches!(err, ComputeError::Task { .. }), "{err}");
    assert!(err.to_string().contains("shape [3]"), "{err}");
}

/// A block too big for memory is an error naming its size when it must be made, not an
/// aborted process (issue 12): a constant terabyte block costs nothing until then, and its
/// sum is still O(1).
#[test]
fn a_block_too_big_for_memory_is_an_error() {
    let n = 1usize << 40; // 8 TiB of f64
    let x = Array::<f64>::ones(&[n], n).unwrap();
    assert_eq!(
        x.sum(rask_array::Reduction::all())
            .unwrap()
            .compute_on(&rask_local::SyncScheduler, &[])
            .unwrap()
            .into_raw_vec_and_offset()
            .0,
        vec![n as f64]
    );
    let err = x.compute_on(&rask_local::SyncScheduler, &[]).unwrap_err();
    assert!(err.to_string().contains("not enough memory"), "{err}");
    let two = Array::<f64>::ones(&[2 * n], n).unwrap();
    let err = two.compute_on(&rask_local::SyncScheduler, &[]).unwrap_err();
    assert!(err.to_string().contains("not enough memory"), "{err}");
    let r = rask_array::random::Generator::new(0)
        .uniform(0.0, 1.0, &[n], n)
        .unwrap();
    let err = r.compute_on(&rask_local::SyncScheduler, &[]).unwrap_err();
    assert!(err.to_string().contains("not enough memory"), "{err}");
}
