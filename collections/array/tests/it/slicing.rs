//! Slicing against ndarray's own `slice` on the whole array: steps of every sign, indices,
//! new axes, uneven chunks; and the errors.

use ndarray::{ArrayD, IxDyn, NewAxis, SliceInfoElem, s};
use proptest::prelude::*;
use rask_array::Array;
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
