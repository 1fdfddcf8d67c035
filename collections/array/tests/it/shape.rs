//! Shape operations against ndarray (or a direct computation) on random shapes and chunkings.

use ndarray::{ArrayD, Axis, IxDyn, Slice};
use proptest::prelude::*;
use rask_array::{Array, ChunkSpec, PadMode};
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};

fn data(shape: &[usize]) -> ArrayD<i64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n as i64).collect()).unwrap()
}

fn both(x: &Array<i64>) -> ArrayD<i64> {
    let a = x.compute_on(&SyncScheduler, &[]).unwrap();
    let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    let b = x.compute_on(&t as &dyn Scheduler, &[]).unwrap();
    assert_eq!(a, b, "the schedulers disagree");
    a
}

fn shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    proptest::collection::vec(0usize..6, 1..4).prop_flat_map(|shape| {
        let n = shape.len();
        (Just(shape), proptest::collection::vec(1usize..4, n))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn axis_moves_match_ndarray((shape, chunks) in shape_and_chunks(), seed in 0usize..1000) {
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..]).unwrap();
        let n = shape.len();
        // A permutation from the seed.
        let mut perm: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            perm.swap(i, (seed / (i + 1)) % (i + 1));
        }
        let y = x.transpose(&perm).unwrap();
        prop_assert_eq!(y.shape(), a.view().permuted_axes(IxDyn(&perm)).shape().to_vec());
        prop_assert_eq!(both(&y), a.view().permuted_axes(IxDyn(&perm)).to_owned());
        prop_assert_eq!(both(&x.t().unwrap()), a.t().to_owned());
        let (i, j) = (seed % n, (seed / 7) % n);
        let mut sw = a.clone();
        sw.swap_axes(i, j);
        prop_assert_eq!(both(&x.swapaxes(i as isize, j as isize).unwrap()), sw);
        let mut order: Vec<usize> = (0..n).filter(|k| *k != i).collect();
        order.insert(j, i);
        prop_assert_eq!(both(&x.moveaxis(i as isize, j as isize).unwrap()), a.view().permuted_axes(IxDyn(&order)).to_owned());
        // flip
        prop_assert_eq!(both(&x.flip(i as isize).unwrap()), a.slice_axis(Axis(i), Slice::new(0, None, -1)).to_owned());
    }

    #[test]
    fn new_and_removed_axes((shape, chunks) in shape_and_chunks(), at in 0usize..4) {
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..]).unwrap();
        let at = at.min(shape.len());
        let e = x.expand_dims(at as isize).unwrap();
        prop_assert_eq!(both(&e), a.clone().insert_axis(Axis(at)));
        prop_assert_eq!(e.chunks().axes()[at].clone(), vec![1]);
        let back = e.squeeze(Some(&[at as isize])).unwrap();
        prop_assert_eq!(both(&back), a.clone());
        // Squeezing everything of length 1.
        let ones: Vec<usize> = (0..shape.len()).filter(|k| shape[*k] == 1).collect();
        let mut want = a.clone();
        for k in ones.iter().rev() { want = want.index_axis_move(Axis(*k), 0); }
        prop_assert_eq!(both(&x.squeeze(None).unwrap()), want);
    }

    #[test]
    fn broadcasts_match_ndarray((shape, chunks) in shape_and_chunks(), lead in 0usize..3, stretch in 1usize..4) {
        // Make some axes length 1 to stretch.
        let shape: Vec<usize> = shape.iter().enumerate().map(|(i, d)| if i % 2 == 0 { 1 } else { *d }).collect();
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..]).unwrap();
        let mut to: Vec<usize> = vec![2; lead];
        to.extend(shape.iter().map(|d| if *d == 1 { stretch } else { *d }));
        let y = x.broadcast_to(&to).unwrap();
        prop_assert_eq!(both(&y), a.broadcast(IxDyn(&to)).unwrap().to_owned());
    }

    #[test]
    fn concatenation_matches_ndarray(
        (shape, chunks) in shape_and_chunks(),
        extra in proptest::collection::vec((0usize..5, 1usize..4), 1..3),
        axis in 0usize..3,
    ) {
        let ax = axis.min(shape.len() - 1);
        let a = data(&shape);
        let mut parts = vec![Array::from_array(&a, &chunks[..]).unwrap()];
        let mut want = vec![a.clone()];
        for (k, (len, c)) in extra.iter().enumerate() {
            let mut s = shape.clone();
            s[ax] = *len;
            let b = data(&s).mapv(|v| v + 1000 * (k as i64 + 1));
            // Other axes cut differently, to be unified.
            let cs: Vec<usize> = (0..s.len()).map(|i| if i == ax { *c } else { chunks[i] % 3 + 1 }).collect();
            parts.push(Array::from_array(&b, &cs[..]).unwrap());
            want.push(b);
        }
        let views: Vec<_> = want.iter().map(|w| w.view()).collect();
        let want = ndarray::concatenate(Axis(ax), &views).unwrap();
        let got = Array::concatenate(&parts, ax as isize).unwrap();
        prop_assert_eq!(got.shape(), want.shape().to_vec());
        prop_assert_eq!(both(&got), want);
        // Stack: equal shapes.
        let same: Vec<Array<i64>> = (0..3).map(|k| Array::from_array(&a.mapv(|v| v * 10 + k), &chunks[..]).unwrap()).collect();
        let views: Vec<ArrayD<i64>> = (0..3).map(|k| a.mapv(|v| v * 10 + k)).collect();
        let vv: Vec<_> = views.iter().map(|w| w.view()).collect();
        let at = axis.min(shape.len());
        prop_assert_eq!(both(&Array::stack(&same, at as isize).unwrap()), ndarray::stack(Axis(at), &vv).unwrap());
    }

    #[test]
    fn rolls_and_pads_match_numpy((shape, chunks) in shape_and_chunks(), shift in -9isize..9, w in proptest::collection::vec((0usize..3, 0usize..3), 3)) {
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..]).unwrap();
        for (ax, &len) in shape.iter().enumerate() {
            let n = len as isize;
            let got = both(&x.roll(shift, ax as isize).unwrap());
            let want = if n == 0 { a.clone() } else {
                let mut w = a.clone();
                for (i, mut lane) in w.axis_iter_mut(Axis(ax)).enumerate() {
                    let src = (i as isize - shift).rem_euclid(n) as usize;
                    lane.assign(&a.index_axis(Axis(ax), src));
                }
                w
            };
            prop_assert_eq!(got, want);
        }
        let widths: Vec<(usize, usize)> = w[..shape.len()].to_vec();
        // The padded array, element by element: constant outside, clamped index for edge.
        let out_shape: Vec<usize> = shape.iter().zip(&widths).map(|(d, (b, e))| d + b + e).collect();
        let constant = both(&x.pad(&widths, PadMode::Constant(-1)).unwrap());
        let want_c = ArrayD::from_shape_fn(IxDyn(&out_shape), |ix| {
            let src: Option<Vec<usize>> = (0..shape.len()).map(|k| ix[k].checked_sub(widths[k].0).filter(|i| *i < shape[k])).collect();
            src.map_or(-1, |s| a[IxDyn(&s)])
        });
        prop_assert_eq!(constant, want_c);
        if shape.iter().all(|d| *d > 0) {
            let edge = both(&x.pad(&widths, PadMode::Edge).unwrap());
            let want_e = ArrayD::from_shape_fn(IxDyn(&out_shape), |ix| {
                let s: Vec<usize> = (0..shape.len()).map(|k| (ix[k] as isize - widths[k].0 as isize).clamp(0, shape[k] as isize - 1) as usize).collect();
                a[IxDyn(&s)]
            });
            prop_assert_eq!(edge, want_e);
        }
    }
}

#[test]
fn block_assembles_a_grid() {
    let a = data(&[2, 2]);
    let b = data(&[2, 3]).mapv(|v| v + 100);
    let c = data(&[1, 5]).mapv(|v| v + 200);
    let m = Array::block(&[
        vec![
            Array::from_array(&a, 1usize).unwrap(),
            Array::from_array(&b, 2usize).unwrap(),
        ],
        vec![Array::from_array(&c, 3usize).unwrap()],
    ])
    .unwrap();
    let top = ndarray::concatenate(Axis(1), &[a.view(), b.view()]).unwrap();
    let want = ndarray::concatenate(Axis(0), &[top.view(), c.view()]).unwrap();
    assert_eq!(both(&m), want);
}

#[test]
fn concatenate_keeps_blocks_and_chunks() {
    // Dask's test_concatenate: chunks along the axis are the parts' chunks in order.
    let a = Array::<f64>::ones(&[4, 6], ChunkSpec::from(vec![vec![2, 2], vec![3, 3]])).unwrap();
    let b = Array::<f64>::ones(&[4, 6], ChunkSpec::from(vec![vec![2, 2], vec![3, 3]])).unwrap();
    let c = Array::<f64>::ones(&[4, 6], ChunkSpec::from(vec![vec![2, 2], vec![3, 3]])).unwrap();
    let x = Array::concatenate(&[a.clone(), b.clone(), c.clone()], 0).unwrap();
    assert_eq!(x.chunks().axes(), &[vec![2, 2, 2, 2, 2, 2], vec![3, 3]]);
    let y = Array::concatenate(&[a, b, c], 1).unwrap();
    assert_eq!(y.chunks().axes(), &[vec![2, 2], vec![3, 3, 3, 3, 3, 3]]);
}

#[test]
fn bad_shapes_are_errors() {
    let x = Array::<f64>::ones(&[2, 3], 1usize).unwrap();
    let y = Array::<f64>::ones(&[3, 3], 1usize).unwrap();
    insta::assert_snapshot!(x.transpose(&[0, 0]).unwrap_err().to_string(), @"transpose: axes [0, 0] are not a permutation of the 2 axes");
    insta::assert_snapshot!(x.squeeze(Some(&[0])).unwrap_err().to_string(), @"squeeze: cannot select axis 0 to squeeze out: it has length 2, not 1");
    insta::assert_snapshot!(x.swapaxes(0, 2).unwrap_err().to_string(), @"swapaxes: axis 2 is out of bounds for an array of 2 dimensions");
    insta::assert_snapshot!(Array::concatenate(&[x.clone(), y.clone()], 1).unwrap_err().to_string(), @"concatenate: shapes [2, 3] and [3, 3] differ on an axis other than 1");
    insta::assert_snapshot!(Array::stack(&[x.clone(), y], 0).unwrap_err().to_string(), @"stack: all arrays need one shape, got [2, 3] and [3, 3]");
    insta::assert_snapshot!(x.broadcast_to(&[3, 3]).unwrap_err().to_string(), @"shapes [2, 3] and [3, 3] do not broadcast together");
    insta::assert_snapshot!(x.pad(&[(1, 1)], PadMode::Edge).unwrap_err().to_string(), @"pad: 1 widths for an array of 2 dimensions");
    let e = Array::<f64>::ones(&[0, 3], 1usize).unwrap();
    insta::assert_snapshot!(e.pad(&[(1, 0), (0, 0)], PadMode::Edge).unwrap_err().to_string(), @"pad: cannot pad axis 0 of length 0 with its edge values");
}

/// test_take / test_take_sorted from dask/array/tests/test_slicing.py: the output chunks.
#[test]
fn dasks_take_chunks() {
    let x = Array::from_array(&data(&[80]), 20usize).unwrap();
    let y = x.take(&[5, 1, 47, 3], 0).unwrap();
    assert_eq!(y.chunks().axes(), &[vec![2, 1, 1]]);
    assert_eq!(both(&y).as_slice().unwrap(), &[5, 1, 47, 3]);
    let x2 = Array::from_array(&data(&[80, 40]), [20, 20]).unwrap();
    assert_eq!(
        x2.take(&[5, 1, 47, 3], 0).unwrap().chunks().axes(),
        &[vec![2, 1, 1], vec![20, 20]]
    );
    assert_eq!(
        x.take(&[1, 3, 5, 47], 0).unwrap().chunks().axes(),
        &[vec![3, 1]]
    );
    let t = x2.take(&[1, 3, 5, 37], 1).unwrap();
    assert_eq!(t.chunks().axes(), &[vec![20; 4], vec![3, 1]]);
    assert_eq!(both(&t), data(&[80, 40]).select(Axis(1), &[1, 3, 5, 37]));
    // Empty, negative and repeated indices.
    assert_eq!(x.take(&[], 0).unwrap().shape(), vec![0]);
    assert_eq!(
        both(&x.take(&[-1, -1, 0], 0).unwrap()).as_slice().unwrap(),
        &[79, 79, 0]
    );
    insta::assert_snapshot!(x.take(&[80], 0).unwrap_err().to_string(), @"take: index 80 is out of range for axis 0 of length 80");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn take_matches_ndarray((shape, chunks) in shape_and_chunks(), picks in proptest::collection::vec(0usize..100, 0..12), axis in 0usize..3) {
        let ax = axis % shape.len();
        prop_assume!(shape[ax] > 0);
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..]).unwrap();
        let idx: Vec<usize> = picks.iter().map(|p| p % shape[ax]).collect();
        let signed: Vec<isize> = idx.iter().map(|i| *i as isize).collect();
        prop_assert_eq!(both(&x.take(&signed, ax as isize).unwrap()), a.select(Axis(ax), &idx));
    }
}

/// One overflow-checked size rule for every constructor (issue 12, items 17 and 18): a
/// broadcast or a reshape to a shape whose element count overflows is refused, as `ones` of
/// that shape is.
#[test]
fn sizes_that_overflow_are_refused_everywhere() {
    let x = Array::<f64>::ones(&[3], 3usize).unwrap();
    let huge = [1usize << 40, 1 << 40, 3];
    let err = x.broadcast_to(&huge).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"broadcast_to: the shape [1099511627776, 1099511627776, 3] has more elements than can be addressed");
    let err = Array::<f64>::ones(&huge, 1usize << 30).unwrap_err();
    assert!(
        matches!(err, rask_array::ArrayError::Overflow { what: "chunks", .. }),
        "{err}"
    );
    // Shapes whose products overflow, one of them wrapping around to exactly the 6 elements
    // there are: 2 * 3 * (2^61 + 1) * (3 * 2^61 + 1) is 6 modulo 2^64.
    let y = Array::<f64>::ones(&[6], 2usize).unwrap();
    let wraps = [2, 3, (1 << 61) + 1, 3 * (1 << 61) + 1];
    for shape in [&[1 << 62, 4, 3][..], &[1 << 62, 4, -1], &wraps] {
        let err = y.reshape(shape).unwrap_err();
        assert!(
            matches!(
                err,
                rask_array::ArrayError::Overflow {
                    what: "reshape",
                    ..
                }
            ),
            "{shape:?}: {err}"
        );
    }
    // What fits still works.
    assert_eq!(y.reshape(&[2, -1]).unwrap().shape(), vec![2, 3]);
    assert_eq!(x.broadcast_to(&[4, 3]).unwrap().size(), 12);
}
