//! Slicing against ndarray's own `slice` on the whole array: steps of every sign, indices,
//! new axes, uneven chunks; and the errors.

use ndarray::{ArrayD, IxDyn, NewAxis, SliceInfoElem, s};
use proptest::prelude::*;
use rask_array::{Array, ChunkSpec, IntoScalar};
use rask_graph::Collection;
use rask_local::SyncScheduler;

fn data(shape: &[usize]) -> ArrayD<i64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n as i64).collect()).unwrap()
}

fn check(a: &ArrayD<i64>, chunks: &[usize], elems: Vec<SliceInfoElem>) {
    let x = Array::from_array(a, chunks).unwrap();
    let info =
        ndarray::SliceInfo::<Vec<SliceInfoElem>, IxDyn, IxDyn>::try_from(elems.clone()).unwrap();
    let want = a.slice(&info).to_owned();
    let y = x.slice(&elems).unwrap();
    assert_eq!(y.shape(), want.shape().to_vec(), "{elems:?}");
    let got = y.compute_on(&SyncScheduler, &[]).unwrap();
    assert_eq!(got, want, "{elems:?} on {:?} in {chunks:?}", a.shape());
}

#[test]
fn the_tutorials_reversal() {
    let a = data(&[10, 12]);
    let x = Array::from_array(&a, [4, 5]).unwrap();
    let y = x.slice(s![..;-1, ..;-1]).unwrap();
    // Blocks keep their structure, in reverse.
    assert_eq!(y.chunks().axes(), &[vec![2, 4, 4], vec![2, 5, 5]]);
    let got = y.compute_on(&SyncScheduler, &[]).unwrap();
    assert_eq!(got, a.slice(s![..;-1, ..;-1]).to_owned().into_dyn());
}

#[test]
fn indices_and_new_axes() {
    let a = data(&[5, 7]);
    check(&a, &[2, 3], s![2, ..].as_ref().to_vec());
    check(&a, &[2, 3], s![-1, 1..;2].as_ref().to_vec());
    check(
        &a,
        &[2, 3],
        s![NewAxis, 1..4, NewAxis, -3].as_ref().to_vec(),
    );
    check(&a, &[2, 3], s![1..1, ..].as_ref().to_vec());
    check(&a, &[5, 7], s![..;3, ..;-2].as_ref().to_vec());
}

#[test]
fn bad_slices_are_errors() {
    let x = Array::from_array(&data(&[5, 7]), [2, 3]).unwrap();
    // (ndarray's own `s![]` refuses a zero step, so build it by hand.)
    let zero_step = [
        SliceInfoElem::Slice {
            start: 0,
            end: None,
            step: 1,
        },
        SliceInfoElem::Slice {
            start: 0,
            end: None,
            step: 0,
        },
    ];
    let err = x.slice(zero_step).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"slice: a step of 0 on axis 1");
    let err = x.slice(s![7, ..]).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"slice: index 7 is out of range for axis 0 of length 5");
    let err = x.slice(s![.., 2..9]).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"slice: end 9 is out of range for axis 1 of length 7");
}

fn elem() -> impl Strategy<Value = SliceInfoElem> {
    prop_oneof![
        (
            -7isize..7,
            proptest::option::of(-7isize..8),
            prop_oneof![-3isize..0, 1isize..4]
        )
            .prop_map(|(start, end, step)| SliceInfoElem::Slice { start, end, step }),
        (-5isize..5).prop_map(SliceInfoElem::Index),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn slicing_matches_ndarray(
        shape in proptest::collection::vec(1usize..8, 1..4),
        chunks in proptest::collection::vec(1usize..4, 3),
        elems in proptest::collection::vec(elem(), 0..3),
    ) {
        let a = data(&shape);
        let mut elems: Vec<SliceInfoElem> = elems.into_iter().take(shape.len()).collect();
        // Keep only selections ndarray itself accepts on this shape.
        let ok = elems.iter().zip(&shape).all(|(e, &n)| {
            let n = n as isize;
            let fix = |i: isize| if i < 0 { n + i } else { i };
            match *e {
                SliceInfoElem::Index(i) => (0..n).contains(&fix(i)),
                SliceInfoElem::Slice { start, end, .. } => {
                    let (s, e) = (fix(start), end.map(fix).unwrap_or(n));
                    (0..=n).contains(&s) && (0..=n).contains(&e)
                }
                SliceInfoElem::NewAxis => true,
            }
        });
        prop_assume!(ok);
        while elems.len() < shape.len() {
            elems.push(SliceInfoElem::Slice { start: 0, end: None, step: 1 });
        }
        check(&a, &chunks[..shape.len()], elems);
    }
}

#[test]
fn the_tutorials_fancy_calculation() {
    use rask_array::{IntoScalar, Reduction};
    let ones = Array::<f64>::ones(&[1000, 4000], [1000, 1000]).unwrap();
    let fancy = (&ones * &ones.slice(s![..;-1, ..;-1]).unwrap())
        .mean(Reduction::all())
        .unwrap();
    let v = fancy
        .compute_on(&SyncScheduler, &[])
        .unwrap()
        .into_scalar()
        .unwrap();
    assert_eq!(v, 1.0);
    // And on a non-constant array, against ndarray.
    let a = data(&[9, 14]).mapv(|v| v as f64);
    let x = Array::from_array(&a, [4, 5]).unwrap();
    let got = (&x * &x.slice(s![..;-1, ..;-1]).unwrap())
        .mean(Reduction::all())
        .unwrap();
    let want = (&a * &a.slice(s![..;-1, ..;-1])).mean().unwrap();
    assert_eq!(
        got.compute_on(&SyncScheduler, &[])
            .unwrap()
            .into_scalar()
            .unwrap(),
        want
    );
}

/// A NumPy slice `start:stop:step` on an axis of length `n`, as ndarray's `s![]` element:
/// NumPy's negative steps start at `start` and walk down; ndarray's take the range and walk it
/// from its end.
fn numpy_slice(
    n: usize,
    start: Option<isize>,
    stop: Option<isize>,
    step: Option<isize>,
) -> SliceInfoElem {
    let n = n as isize;
    let step = step.unwrap_or(1);
    let clamp = |v: isize, lo: isize, hi: isize| v.clamp(lo, hi);
    let norm = |v: isize| if v < 0 { v + n } else { v };
    if step > 0 {
        let a = start.map_or(0, |s| clamp(norm(s), 0, n));
        let b = stop.map_or(n, |s| clamp(norm(s), 0, n)).max(a);
        SliceInfoElem::Slice {
            start: a,
            end: Some(b),
            step,
        }
    } else {
        // NumPy's first element and exclusive lower bound.
        let first = start.map_or(n - 1, |s| clamp(norm(s), -1, n - 1));
        let below = stop.map_or(-1, |s| clamp(norm(s), -1, n - 1));
        let (a, b) = if first > below {
            (below + 1, first + 1)
        } else {
            (0, 0)
        };
        SliceInfoElem::Slice {
            start: a,
            end: Some(b),
            step,
        }
    }
}

/// The input blocks each output block of a 1-d slice reads, and the output chunks.
fn plan(y: &Array<i64>) -> Vec<(u32, usize)> {
    let chunks = &y.chunks().axes()[0];
    (0..chunks.len())
        .map(|i| {
            let task = y.graph().get(&y.key(&[i as u32])).unwrap();
            let deps: Vec<_> = task.dependencies().collect();
            assert_eq!(deps.len(), 1, "output block {i} reads one input block");
            (deps[0].index()[0], chunks[i])
        })
        .collect()
}

type Vector = (
    usize,
    Vec<usize>,
    (Option<isize>, Option<isize>, Option<isize>),
    Vec<(u32, usize)>,
);

/// dask/array/tests/test_slicing.py: test_slice_1d, test_slice_array_1d, test_uneven_chunks,
/// test_slicing_with_negative_step_flops_keys. Each: the axis length, its blocks, the NumPy
/// slice, and (input block, elements taken) in output order — Dask's `_slice_1d` plan.
#[test]
fn dasks_1d_slicing_plans() {
    let vectors: Vec<Vector> = vec![
        (
            100,
            vec![25, 25, 25, 25],
            (Some(10), Some(51), None),
            vec![(0, 15), (1, 25), (2, 1)],
        ),
        (
            100,
            vec![20; 5],
            (Some(100), Some(12), Some(-3)),
            vec![(4, 7), (3, 7), (2, 6), (1, 7), (0, 2)],
        ),
        (
            100,
            vec![20; 5],
            (Some(102), None, Some(-3)),
            vec![(4, 7), (3, 7), (2, 6), (1, 7), (0, 7)],
        ),
        (
            100,
            vec![20; 5],
            (None, None, Some(-4)),
            vec![(4, 5), (3, 5), (2, 5), (1, 5), (0, 5)],
        ),
        (
            100,
            vec![20; 5],
            (None, None, Some(-7)),
            vec![(4, 3), (3, 3), (2, 3), (1, 3), (0, 3)],
        ),
        (
            115,
            vec![23; 5],
            (None, None, Some(-7)),
            vec![(4, 4), (3, 3), (2, 3), (1, 4), (0, 3)],
        ),
        (
            100,
            vec![20; 5],
            (Some(79), None, Some(-3)),
            vec![(3, 7), (2, 7), (1, 6), (0, 7)],
        ),
        (
            100,
            vec![20; 5],
            (Some(-1), Some(92), Some(-1)),
            vec![(4, 7)],
        ),
        (
            100,
            vec![20; 5],
            (Some(20), Some(0), Some(-1)),
            vec![(1, 1), (0, 19)],
        ),
        (
            99,
            vec![20, 20, 20, 19, 20],
            (Some(100), None, Some(-3)),
            vec![(4, 7), (3, 6), (2, 7), (1, 7), (0, 6)],
        ),
        (
            104,
            vec![20, 23, 27, 13, 21],
            (None, None, Some(-3)),
            vec![(4, 7), (3, 5), (2, 9), (1, 7), (0, 7)],
        ),
        (
            104,
            vec![20, 23, 27, 13, 21],
            (None, Some(27), Some(-3)),
            vec![(4, 7), (3, 5), (2, 9), (1, 5)],
        ),
        (
            104,
            vec![20, 23, 27, 13, 21],
            (Some(100), Some(27), Some(-3)),
            vec![(4, 6), (3, 5), (2, 9), (1, 5)],
        ),
        (
            100,
            vec![25; 4],
            (Some(24), None, Some(2)),
            vec![(0, 1), (1, 12), (2, 13), (3, 12)],
        ),
        (
            100,
            vec![25; 4],
            (Some(26), None, Some(2)),
            vec![(1, 12), (2, 13), (3, 12)],
        ),
        (
            20,
            vec![5; 4],
            (None, None, Some(2)),
            vec![(0, 3), (1, 2), (2, 3), (3, 2)],
        ),
        (
            10,
            vec![5, 5],
            (None, Some(1), Some(-1)),
            vec![(1, 5), (0, 3)],
        ),
    ];
    for (n, blocks, (start, stop, step), want) in vectors {
        let a = data(&[n]);
        let x = Array::from_array(&a, ChunkSpec::from(vec![blocks.clone()])).unwrap();
        let elem = numpy_slice(n, start, stop, step);
        let y = x.slice([elem]).unwrap();
        assert_eq!(
            plan(&y),
            want,
            "x[{start:?}:{stop:?}:{step:?}] over {blocks:?}"
        );
        // And the values are NumPy's.
        let got = y.compute_on(&SyncScheduler, &[]).unwrap();
        let (s0, s1, st) = (
            start.unwrap_or(if step.unwrap_or(1) > 0 {
                0
            } else {
                n as isize - 1
            }),
            stop,
            step.unwrap_or(1),
        );
        let mut numpy = Vec::new();
        let norm = |v: isize| if v < 0 { v + n as isize } else { v };
        let mut i = if st > 0 {
            norm(s0).clamp(0, n as isize)
        } else {
            norm(s0).clamp(-1, n as isize - 1)
        };
        let end = s1.map(|e| {
            if st > 0 {
                norm(e).clamp(0, n as isize)
            } else {
                norm(e).clamp(-1, n as isize - 1)
            }
        });
        let end = end.unwrap_or(if st > 0 { n as isize } else { -1 });
        while (st > 0 && i < end) || (st < 0 && i > end) {
            numpy.push(i as i64);
            i += st;
        }
        assert_eq!(got.iter().copied().collect::<Vec<_>>(), numpy);
    }
}

/// test_slicing_and_chunks, test_slicing_with_newaxis, test_slicing_chunks,
/// test_slicing_with_singleton_indices, test_slice_stop_0, test_empty_slice and
/// test_slice_singleton_value_on_boundary: the chunks (and blocks read) of n-d slices.
#[test]
#[allow(
    clippy::reversed_empty_ranges,
    reason = "s![4..-4] counts from the end, as NumPy's 4:-4"
)]
fn dasks_nd_slicing_chunks() {
    let chunked = |shape: &[usize], chunks: Vec<Vec<usize>>| {
        Array::from_array(&data(shape), ChunkSpec::from(chunks)).unwrap()
    };
    let o = chunked(&[24, 16], vec![vec![4, 8, 8, 4], vec![2, 6, 6, 2]]);
    assert_eq!(
        o.slice(s![4..-4, 2..-2]).unwrap().chunks().axes(),
        &[vec![8, 8], vec![6, 6]]
    );

    let x = chunked(&[10, 10], vec![vec![5, 5], vec![5, 5]]);
    let y = x.slice(s![0..3, NewAxis, ..]).unwrap();
    assert_eq!(y.chunks().axes(), &[vec![3], vec![1], vec![5, 5]]);
    assert_eq!(x.slice(s![0..7, 1]).unwrap().chunks().axes(), &[vec![5, 2]]);
    // x[0:5, 8] reads block (0, 1) only, at column 3.
    let y = x.slice(s![0..5, 8]).unwrap();
    assert_eq!(y.chunks().axes(), &[vec![5]]);
    let task = y.graph().get(&y.key(&[0])).unwrap();
    let deps: Vec<_> = task.dependencies().map(|k| k.index().to_vec()).collect();
    assert_eq!(deps, vec![vec![0, 1]]);
    assert_eq!(
        y.compute_on(&SyncScheduler, &[]).unwrap(),
        data(&[10, 10]).slice(s![0..5, 8]).to_owned().into_dyn()
    );

    let ones = Array::<f64>::ones(&[10], 10usize).unwrap();
    let empty = ones.slice(s![..0]).unwrap();
    assert_eq!(empty.shape(), vec![0]);
    assert_eq!(empty.compute_on(&SyncScheduler, &[]).unwrap().len(), 0);
    let x = Array::<i32>::ones(&[5, 5], 2usize).unwrap();
    let y = x.slice(s![..0, ..]).unwrap();
    assert_eq!(y.shape(), vec![0, 5]);
    assert_eq!(y.compute_on(&SyncScheduler, &[]).unwrap().shape(), &[0, 5]);

    // A single value on a block boundary comes from the next block, at its start.
    for (n, blocks) in [(15, vec![5, 5, 5]), (30, vec![5; 6])] {
        let x = chunked(&[n], vec![blocks]);
        let y = x.slice(s![10]).unwrap();
        let task = y.graph().get(&y.key(&[])).unwrap();
        let deps: Vec<_> = task.dependencies().map(|k| k.index().to_vec()).collect();
        assert_eq!(deps, vec![vec![2]]);
        assert_eq!(
            y.compute_on(&SyncScheduler, &[])
                .unwrap()
                .into_scalar()
                .unwrap(),
            10
        );
    }
}

/// test_slicing_identities: slices that select everything, in order, are the array itself.
#[test]
fn full_slices_are_the_same_array() {
    let a = Array::from_array(
        &data(&[24, 16]),
        ChunkSpec::from(vec![vec![4, 8, 8, 4], vec![2, 6, 6, 2]]),
    )
    .unwrap();
    for y in [
        a.slice(s![.., ..]).unwrap(),
        a.slice(s![0.., ..]).unwrap(),
        a.slice(s![..;1, ..]).unwrap(),
        a.slice(s![0..24, ..]).unwrap(),
        a.slice(s![0..24;1, 0..]).unwrap(),
        a.slice(s![..]).unwrap(),
    ] {
        assert_eq!(y.name(), a.name());
        assert_eq!(y.graph().len(), a.graph().len());
    }
}

/// Steps as long as an `isize` can be select one element, computed without overflow
/// (issue 12, item 19): NumPy's `x[::isize::MIN]` is `[x[-1]]`.
#[test]
fn extreme_steps_select_one_element() {
    let a = ndarray::Array1::from((0..10i64).collect::<Vec<_>>()).into_dyn();
    let x = Array::from_array(&a, 3usize).unwrap();
    let run = |info: &[ndarray::SliceInfoElem]| {
        x.slice(info)
            .unwrap()
            .compute_on(&SyncScheduler, &[])
            .unwrap()
            .into_raw_vec_and_offset()
            .0
    };
    let step = |start: Option<isize>, step: isize| {
        [ndarray::SliceInfoElem::Slice {
            start: start.unwrap_or(0),
            end: None,
            step,
        }]
    };
    assert_eq!(run(&step(None, isize::MIN)), vec![9]);
    assert_eq!(run(&step(None, isize::MAX)), vec![0]);
    assert_eq!(run(&step(Some(4), isize::MIN)), vec![9]);
    assert_eq!(run(&step(Some(4), isize::MAX)), vec![4]);
    assert_eq!(run(&step(None, -10)), vec![9]);
    assert_eq!(run(&step(None, 11)), vec![0]);
}
