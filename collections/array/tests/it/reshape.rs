//! `reshape`: Dask's `reshape_rechunk` vectors (dask/array/tests/test_reshape.py and the
//! reshape cases of test_array_core.py), and values against ndarray.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rask_array::reshape::{contract_tuple, expand_tuple, reshape_rechunk};
use rask_array::{Array, ChunkSpec};
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};

fn data(shape: &[usize]) -> ArrayD<i64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n as i64).collect()).unwrap()
}

fn rep(v: usize, k: usize) -> Vec<usize> {
    vec![v; k]
}

fn both(x: &Array<i64>) -> ArrayD<i64> {
    let a = x.compute_on(&SyncScheduler, &[]).unwrap();
    let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    assert_eq!(a, x.compute_on(&t as &dyn Scheduler, &[]).unwrap());
    a
}

#[test]
fn helpers() {
    assert_eq!(expand_tuple(&[2, 4], 2), vec![1, 1, 2, 2]);
    assert_eq!(expand_tuple(&[2, 4], 3), vec![1, 1, 1, 1, 2]);
    assert_eq!(expand_tuple(&[3, 4], 2), vec![1, 2, 2, 2]);
    assert_eq!(expand_tuple(&[7, 4], 3), vec![2, 2, 3, 1, 1, 2]);
    assert_eq!(contract_tuple(&[2, 2, 8, 4], 4), vec![4, 8, 4]);
    assert_eq!(contract_tuple(&[1, 1, 2, 3, 1], 2), vec![2, 2, 2, 2]);
    assert_eq!(contract_tuple(&[1, 1, 2, 5, 1], 2), vec![2, 2, 4, 2]);
    assert_eq!(contract_tuple(&[2, 4], 2), vec![2, 4]);
    assert_eq!(contract_tuple(&[2, 4], 3), vec![6]);
}

type V = Vec<Vec<usize>>;
/// In shape, out shape, input chunks, expected input chunks, expected output chunks.
type RechunkVector = (Vec<usize>, Vec<usize>, V, V, V);
/// Shape, chunks, new shape, merge_chunks, expected chunks.
type ArrayVector = (Vec<usize>, V, Vec<isize>, bool, V);

#[test]
fn dasks_reshape_rechunk_vectors() {
    let cases: Vec<RechunkVector> = vec![
        (
            vec![4],
            vec![4],
            vec![vec![2, 2]],
            vec![vec![2, 2]],
            vec![vec![2, 2]],
        ),
        (
            vec![4],
            vec![2, 2],
            vec![vec![2, 2]],
            vec![vec![2, 2]],
            vec![vec![1, 1], vec![2]],
        ),
        (
            vec![4],
            vec![4, 1],
            vec![vec![2, 2]],
            vec![vec![2, 2]],
            vec![vec![2, 2], vec![1]],
        ),
        (
            vec![4],
            vec![1, 4],
            vec![vec![2, 2]],
            vec![vec![2, 2]],
            vec![vec![1], vec![2, 2]],
        ),
        (
            vec![1, 4],
            vec![4],
            vec![vec![1], vec![2, 2]],
            vec![vec![1], vec![2, 2]],
            vec![vec![2, 2]],
        ),
        (
            vec![4, 1],
            vec![4],
            vec![vec![2, 2], vec![1]],
            vec![vec![2, 2], vec![1]],
            vec![vec![2, 2]],
        ),
        (
            vec![4, 1, 4],
            vec![4, 4],
            vec![vec![2, 2], vec![1], vec![2, 2]],
            vec![vec![2, 2], vec![1], vec![2, 2]],
            vec![vec![2, 2], vec![2, 2]],
        ),
        (
            vec![4, 4],
            vec![4, 1, 4],
            vec![vec![2, 2], vec![2, 2]],
            vec![vec![2, 2], vec![2, 2]],
            vec![vec![2, 2], vec![1], vec![2, 2]],
        ),
        (
            vec![2, 2],
            vec![4],
            vec![vec![2], vec![2]],
            vec![vec![2], vec![2]],
            vec![vec![4]],
        ),
        (
            vec![2, 2],
            vec![4],
            vec![vec![1, 1], vec![2]],
            vec![vec![1, 1], vec![2]],
            vec![vec![2, 2]],
        ),
        (
            vec![2, 2],
            vec![4],
            vec![vec![2], vec![1, 1]],
            vec![vec![1, 1], vec![2]],
            vec![vec![2, 2]],
        ),
        (
            vec![64],
            vec![4, 4, 4],
            vec![rep(8, 8)],
            vec![rep(8, 8)],
            vec![vec![1, 1, 1, 1], vec![2, 2], vec![4]],
        ),
        (
            vec![64],
            vec![4, 4, 4],
            vec![vec![32, 32]],
            vec![vec![32, 32]],
            vec![vec![2, 2], vec![4], vec![4]],
        ),
        (
            vec![64],
            vec![4, 4, 4],
            vec![vec![16, 48]],
            vec![vec![16, 48]],
            vec![vec![1, 3], vec![4], vec![4]],
        ),
        (
            vec![64],
            vec![4, 4, 4],
            vec![vec![20, 44]],
            vec![vec![16, 16, 32]],
            vec![vec![1, 1, 2], vec![4], vec![4]],
        ),
        (
            vec![64, 4],
            vec![8, 8, 4],
            vec![rep(16, 4), vec![2, 2]],
            vec![rep(16, 4), vec![2, 2]],
            vec![rep(2, 4), vec![8], vec![2, 2]],
        ),
    ];
    for (i, (inshape, outshape, pre, want_in, want_out)) in cases.into_iter().enumerate() {
        let (got_in, got_out) = reshape_rechunk(&inshape, &outshape, &pre).unwrap();
        assert_eq!((got_in, got_out), (want_in, want_out), "vector {}", i + 1);
    }
}

#[test]
fn dasks_array_reshapes() {
    let cases: Vec<ArrayVector> = vec![
        (
            vec![2, 3, 4],
            vec![vec![1, 1], vec![1, 2], vec![2, 2]],
            vec![6, 4],
            true,
            vec![vec![1, 2, 1, 2], vec![2, 2]],
        ),
        (
            vec![1, 2, 3, 4],
            vec![vec![1], vec![1, 1], vec![1, 2], vec![2, 2]],
            vec![6, 4],
            true,
            vec![vec![1, 2, 1, 2], vec![2, 2]],
        ),
        (
            vec![2, 2, 3, 4],
            vec![vec![1, 1], vec![1, 1], vec![1, 2], vec![2, 2]],
            vec![12, 4],
            true,
            vec![vec![1, 2, 1, 2, 1, 2, 1, 2], vec![2, 2]],
        ),
        (
            vec![2, 2, 3, 4],
            vec![vec![1, 1], vec![1, 1], vec![1, 2], vec![2, 2]],
            vec![4, 3, 4],
            true,
            vec![vec![1, 1, 1, 1], vec![1, 2], vec![2, 2]],
        ),
        (
            vec![2, 2, 3, 4],
            vec![vec![1, 1], vec![2], vec![1, 2], vec![4]],
            vec![4, 3, 4],
            true,
            vec![vec![2, 2], vec![1, 2], vec![4]],
        ),
        (
            vec![2, 3, 4],
            vec![vec![1, 1], vec![1, 1, 1], vec![2, 2]],
            vec![24],
            true,
            vec![rep(2, 12)],
        ),
        (
            vec![2, 3, 4],
            vec![vec![1, 1], vec![1, 1, 1], vec![4]],
            vec![2, 12],
            true,
            vec![vec![1, 1], vec![4, 4, 4]],
        ),
        (
            vec![2, 3, 4],
            vec![vec![1, 1], vec![1, 2], vec![2, 2]],
            vec![24],
            true,
            vec![rep(4, 6)],
        ),
        (
            vec![2, 3, 4],
            vec![vec![2], vec![1, 2], vec![2, 2]],
            vec![6, 4],
            false,
            vec![vec![1, 2, 1, 2], vec![2, 2]],
        ),
        (
            vec![2, 3, 4],
            vec![vec![2], vec![1, 2], vec![2, 2]],
            vec![6, 4],
            true,
            vec![vec![3, 3], vec![2, 2]],
        ),
        (
            vec![2, 2, 3, 4],
            vec![vec![2], vec![2], vec![1, 2], vec![2, 2]],
            vec![12, 4],
            false,
            vec![vec![1, 2, 1, 2, 1, 2, 1, 2], vec![2, 2]],
        ),
        (
            vec![2, 2, 3, 4],
            vec![vec![2], vec![2], vec![1, 2], vec![2, 2]],
            vec![12, 4],
            true,
            vec![vec![6, 6], vec![2, 2]],
        ),
        (
            vec![2, 2, 3, 4],
            vec![vec![2], vec![2], vec![1, 2], vec![4]],
            vec![4, 3, 4],
            false,
            vec![vec![2, 2], vec![1, 2], vec![4]],
        ),
        (
            vec![2, 2, 3, 4],
            vec![vec![2], vec![2], vec![1, 2], vec![4]],
            vec![4, 3, 4],
            true,
            vec![vec![4], vec![1, 2], vec![4]],
        ),
        (
            vec![30, 10, 20],
            vec![vec![30], rep(2, 5), rep(1, 20)],
            vec![30, 200],
            true,
            vec![vec![30], rep(2, 100)],
        ),
        (
            vec![10, 400],
            vec![vec![5, 5], [rep(20, 19), vec![19, 1]].concat()],
            vec![10, 2, 2, 100],
            true,
            vec![vec![5, 5], vec![1, 1], vec![1, 1], rep(20, 5)],
        ),
        (
            vec![10, 400],
            vec![vec![5, 5], [rep(20, 19), vec![19, 1]].concat()],
            vec![10, 2, 200],
            true,
            vec![vec![5, 5], vec![1, 1], rep(20, 10)],
        ),
        (
            vec![10, 400],
            vec![vec![5, 5], [rep(20, 19), vec![19, 1]].concat()],
            vec![10, 10, 10, 4],
            true,
            vec![vec![5, 5], rep(1, 10), vec![5, 5], vec![4]],
        ),
        (
            vec![10, 400],
            vec![vec![5, 5], [rep(20, 19), vec![19, 1]].concat()],
            vec![10, 2, 25, 8],
            true,
            vec![
                vec![5, 5],
                vec![1, 1],
                [rep(2, 5), rep(3, 5)].concat(),
                vec![8],
            ],
        ),
        (
            vec![20, 20, 5],
            vec![vec![10, 10], vec![10, 10], vec![5]],
            vec![400, 5],
            true,
            vec![rep(100, 4), vec![5]],
        ),
        (
            vec![10, 6, 6],
            vec![vec![5, 5], vec![2, 2, 2], vec![3, 3]],
            vec![60, -1],
            true,
            vec![vec![6, 6, 6, 12, 6, 6, 6, 12], vec![3, 3]],
        ),
        (
            vec![5, 5],
            vec![vec![2, 2, 1], vec![2, 2, 1]],
            vec![25],
            true,
            vec![vec![2, 3, 2, 3, 2, 3, 2, 3, 2, 3]],
        ),
        (
            vec![6, 5, 4],
            vec![vec![3, 3], vec![2, 2, 1], vec![2, 2]],
            vec![3, 2, 5, 4],
            true,
            vec![vec![1, 1, 1], vec![2], vec![2, 2, 1], vec![2, 2]],
        ),
        (
            vec![6, 5, 4],
            vec![vec![3, 3], vec![2, 2, 1], vec![2, 2]],
            vec![30, 4],
            true,
            vec![rep(5, 6), vec![2, 2]],
        ),
        (
            vec![10],
            vec![vec![5, 5]],
            vec![10, 1, 1],
            true,
            vec![vec![5, 5], vec![1], vec![1]],
        ),
        (
            vec![24],
            vec![vec![6, 12, 6]],
            vec![4, 6],
            true,
            vec![vec![1, 2, 1], vec![6]],
        ),
        (
            vec![4, 8, 4, 2],
            vec![vec![2, 2], vec![4, 4], vec![2, 2], vec![2]],
            vec![2, 1, 2, 32, 2],
            true,
            vec![vec![1, 1], vec![1], vec![2], rep(8, 4), vec![2]],
        ),
        (
            vec![4, 1, 4],
            vec![vec![2, 2], vec![1], vec![2, 2]],
            vec![4, 4],
            false,
            vec![vec![1, 1, 1, 1], vec![2, 2]],
        ),
        (
            vec![4, 4, 1],
            vec![vec![2, 2], vec![2, 2], vec![1]],
            vec![4, 4],
            false,
            vec![vec![1, 1, 1, 1], vec![2, 2]],
        ),
        (
            vec![2, 3, 4],
            vec![vec![1, 1], vec![3], vec![4]],
            vec![24],
            false,
            vec![rep(4, 6)],
        ),
    ];
    for (shape, chunks, new, merge, want) in cases {
        let a = data(&shape);
        let x = Array::from_array(&a, ChunkSpec::from(chunks.clone())).unwrap();
        let y = x.reshape_with(&new, merge).unwrap();
        assert_eq!(
            y.chunks().axes(),
            &want[..],
            "{shape:?} in {chunks:?} -> {new:?} (merge {merge})"
        );
        let to: Vec<usize> = y.shape();
        assert_eq!(
            both(&y),
            a.to_shape(IxDyn(&to)).unwrap().to_owned(),
            "{shape:?} -> {new:?}"
        );
    }
    // Same shape, one block, and `-1` on 1-d: the array itself or one task.
    let x = Array::from_array(&data(&[24]), 24usize).unwrap();
    assert_eq!(x.reshape(&[-1]).unwrap().name(), x.name());
    assert_eq!(
        x.reshape(&[2, -1]).unwrap().chunks().axes(),
        &[vec![2], vec![12]]
    );
    assert_eq!(
        x.reshape(&[-1, 3, 4]).unwrap().chunks().axes(),
        &[vec![2], vec![3], vec![4]]
    );
    let z = Array::from_array(&data(&[2, 0, 2]), 1usize).unwrap();
    assert_eq!(z.reshape(&[0]).unwrap().shape(), vec![0]);
}

#[test]
fn bad_reshapes_are_errors() {
    let x = Array::from_array(&data(&[5]), 2usize).unwrap();
    insta::assert_snapshot!(x.reshape(&[100]).unwrap_err().to_string(), @"reshape: total size of new array must be unchanged: [5] has 5 elements, [100] would have 100");
    let y = Array::from_array(&data(&[4, 5, 6]), [2, 2, 3]).unwrap();
    for new in [[2isize, 10, 6], [5, 4, 6], [6, 5, 4]] {
        assert!(
            y.reshape(&new)
                .unwrap_err()
                .to_string()
                .contains("merge or split existing dimensions evenly"),
            "{new:?}"
        );
    }
    insta::assert_snapshot!(y.reshape(&[-1, -1]).unwrap_err().to_string(), @"reshape: can only specify one unknown dimension");
    let z = Array::from_array(&data(&[24]), 5usize).unwrap();
    insta::assert_snapshot!(z.reshape(&[5, -1]).unwrap_err().to_string(), @"reshape: cannot reshape an array of size 24 into [5, -1]");
    insta::assert_snapshot!(z.reshape(&[-2, -12]).unwrap_err().to_string(), @"reshape: negative dimension -2 in [-2, -12]");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any reshape that Dask supports gives NumPy's C-order values.
    #[test]
    fn reshapes_match_ndarray(
        shape in proptest::collection::vec(1usize..5, 1..4),
        chunks in proptest::collection::vec(1usize..4, 3),
        cut in proptest::collection::vec(1usize..4, 0..3),
        merge in any::<bool>(),
    ) {
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..shape.len()]).unwrap();
        // A new shape: the size factored by `cut` where it divides.
        let mut rest: usize = shape.iter().product();
        let mut new: Vec<isize> = Vec::new();
        for c in &cut {
            if rest.is_multiple_of(*c) { new.push(*c as isize); rest /= c; }
        }
        new.push(rest as isize);
        match x.reshape_with(&new, merge) {
            Ok(y) => {
                let to: Vec<usize> = new.iter().map(|d| *d as usize).collect();
                prop_assert_eq!(y.shape(), to.clone());
                prop_assert_eq!(both(&y), a.to_shape(IxDyn(&to)).unwrap().to_owned());
                // And back.
                let back: Vec<isize> = shape.iter().map(|d| *d as isize).collect();
                if let Ok(z) = y.reshape(&back) {
                    prop_assert_eq!(both(&z), a.clone());
                }
            }
            Err(e) => prop_assert!(e.to_string().contains("evenly"), "{e}"),
        }
        prop_assert_eq!(both(&x.ravel().unwrap()), a.to_shape(IxDyn(&[a.len()])).unwrap().to_owned());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// `roll` with no axis: NumPy's, over the flattened array.
    #[test]
    fn flat_rolls_match_numpy(
        shape in proptest::collection::vec(1usize..5, 1..4),
        chunks in proptest::collection::vec(1usize..4, 3),
        shift in -30isize..30,
    ) {
        let a = data(&shape);
        let x = Array::from_array(&a, &chunks[..shape.len()]).unwrap();
        let n = a.len() as isize;
        let flat: Vec<i64> = a.iter().copied().collect();
        let rolled: Vec<i64> = (0..n).map(|i| flat[(i - shift).rem_euclid(n) as usize]).collect();
        let want = ArrayD::from_shape_vec(IxDyn(&shape), rolled).unwrap();
        prop_assert_eq!(both(&x.roll_flat(shift).unwrap()), want);
    }
}
