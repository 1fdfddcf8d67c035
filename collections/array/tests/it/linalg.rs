//! Linear algebra against ndarray: products on random shapes and chunkings, and the
//! factorizations by reconstruction (Q·R = A, QᵀQ = I, U·S·Vᵀ = A).

use ndarray::{Array2, ArrayD, Ix2, IxDyn};
use proptest::prelude::*;
use rask_array::linalg::{self, Norm};
use rask_array::{Array, IntoScalar};
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};

fn data(shape: &[usize], seed: usize) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n)
            .map(|i| (((i + seed) * 7919) % 101) as f64 / 10.0 - 5.0)
            .collect(),
    )
    .unwrap()
}

fn both(x: &Array<f64>) -> ArrayD<f64> {
    let a = x.compute_on(&SyncScheduler, &[]).unwrap();
    let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    let b = x.compute_on(&t as &dyn Scheduler, &[]).unwrap();
    assert!(a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() < 1e-9));
    a
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>, tol: f64) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
}

fn m2(a: &ArrayD<f64>) -> Array2<f64> {
    a.clone().into_dimensionality::<Ix2>().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn products_match_ndarray(
        m in 1usize..9, k in 1usize..12, n in 1usize..9,
        c in proptest::collection::vec(1usize..5, 4),
    ) {
        let (a, b) = (data(&[m, k], 1), data(&[k, n], 2));
        let x = Array::from_array(&a, [c[0], c[1]]).unwrap();
        let y = Array::from_array(&b, [c[2], c[3]]).unwrap();
        let want = m2(&a).dot(&m2(&b)).into_dyn();
        prop_assert!(close(&both(&x.matmul(&y).unwrap()), &want, 1e-12));
        // Integers wrap like NumPy's.
        let ai = a.mapv(|v| (v * 10.0) as i64);
        let bi = b.mapv(|v| (v * 10.0) as i64);
        let xi = Array::from_array(&ai, [c[0], c[1]]).unwrap();
        let yi = Array::from_array(&bi, [c[2], c[3]]).unwrap();
        let wi = ai.clone().into_dimensionality::<Ix2>().unwrap().dot(&bi.clone().into_dimensionality::<Ix2>().unwrap()).into_dyn();
        prop_assert_eq!(xi.matmul(&yi).unwrap().compute_on(&SyncScheduler, &[]).unwrap(), wi);
        // dot of vectors and matrix-vector.
        let v = data(&[k], 3);
        let xv = Array::from_array(&v, c[1]).unwrap();
        let want_mv = m2(&a).dot(&v.clone().into_dimensionality::<ndarray::Ix1>().unwrap()).into_dyn();
        prop_assert!(close(&both(&x.dot(&xv).unwrap()), &want_mv, 1e-12));
        let inner: f64 = v.iter().map(|x| x * x).sum();
        prop_assert!((xv.dot(&xv).unwrap().compute_on(&SyncScheduler, &[]).unwrap().into_scalar().unwrap() - inner).abs() < 1e-9);
    }

    #[cfg(feature = "faer")]
    #[test]
    fn tall_skinny_factorizations_reconstruct(
        rows in proptest::collection::vec(1usize..12, 1..6),
        n in 1usize..5,
    ) {
        let m: usize = rows.iter().sum();
        let a = data(&[m, n], 5);
        let x = Array::from_array(&a, rask_array::ChunkSpec::from(vec![rows.clone(), vec![n]])).unwrap();
        let (q, r) = linalg::qr(&x).unwrap();
        let qv = both(&q);
        let rv = both(&r);
        prop_assert!(close(&m2(&qv).dot(&m2(&rv)).into_dyn(), &a, 1e-9), "Q R != A");
        let k = qv.shape()[1];
        let qtq = m2(&qv).t().dot(&m2(&qv));
        // Q's columns are orthonormal where A has full column rank: QᵀQ = I.
        if m >= n {
            prop_assert!(close(&qtq.into_dyn(), &Array2::eye(k).into_dyn(), 1e-9), "QᵀQ != I");
        }
        // R is upper triangular.
        prop_assert!(m2(&rv).indexed_iter().all(|((i, j), v)| i <= j || v.abs() < 1e-9));
        let (u, s, vt) = linalg::svd(&x).unwrap();
        let (u, s, vt) = (both(&u), both(&s), both(&vt));
        let us = m2(&u) * &s.clone().into_dimensionality::<ndarray::Ix1>().unwrap();
        prop_assert!(close(&us.dot(&m2(&vt)).into_dyn(), &a, 1e-9), "U S Vᵀ != A");
        prop_assert!(s.iter().zip(s.iter().skip(1)).all(|(a, b)| a >= b), "singular values descend");
    }
}

#[test]
fn tensordot_and_norms() {
    let (a, b) = (data(&[2, 3, 4], 1), data(&[4, 3, 5], 2));
    let x = Array::from_array(&a, 2usize).unwrap();
    let y = Array::from_array(&b, 2usize).unwrap();
    let got = both(&x.tensordot(&y, &[1, 2], &[1, 0]).unwrap());
    let want = ArrayD::from_shape_fn(IxDyn(&[2, 5]), |ix| {
        let mut s = 0.0;
        for j in 0..3 {
            for k in 0..4 {
                s += a[[ix[0], j, k]] * b[[k, j, ix[1]]];
            }
        }
        s
    });
    assert!(close(&got, &want, 1e-12));
    let m = data(&[5, 4], 3);
    let xm = Array::from_array(&m, [2, 3]).unwrap();
    let s = SyncScheduler;
    let norm = |o| {
        linalg::norm(&xm, o)
            .unwrap()
            .compute_on(&s, &[])
            .unwrap()
            .into_scalar()
            .unwrap()
    };
    assert!((norm(Norm::Fro) - m.iter().map(|v| v * v).sum::<f64>().sqrt()).abs() < 1e-9);
    let col = (0..4)
        .map(|j| (0..5).map(|i| m[[i, j]].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let row = (0..5)
        .map(|i| (0..4).map(|j| m[[i, j]].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    assert!((norm(Norm::L1) - col).abs() < 1e-9);
    assert!((norm(Norm::Inf) - row).abs() < 1e-9);
}

#[test]
fn bad_shapes_are_errors() {
    let x = Array::<f64>::ones(&[4, 3], 2usize).unwrap();
    insta::assert_snapshot!(x.matmul(&x).unwrap_err().to_string(), @"matmul: shapes [4, 3] and [4, 3] do not multiply (need (..., m, k) and (..., k, n))");
    #[cfg(feature = "faer")]
    insta::assert_snapshot!(linalg::qr(&x).unwrap_err().to_string(), @"qr: needs a tall-and-skinny 2-d array in one block of columns; got shape [4, 3] in chunks [[2, 2], [2, 1]] (rechunk the columns to one block)");
    insta::assert_snapshot!(x.tensordot(&x, &[0], &[1]).unwrap_err().to_string(), @"tensordot: axes [0] of [4, 3] and [1] of [4, 3] do not match");
}

#[test]
fn transposes_are_read_in_place_by_products() {
    let a = data(&[7, 5], 4);
    let x = Array::from_array(&a, [3, 2]).unwrap();
    let p = x.matmul(&x.t().unwrap()).unwrap();
    let g = p.optimized_graph().unwrap();
    assert!(
        g.iter().all(|(_, t)| !t.op().name().contains("transpose")),
        "the transposes are taken in"
    );
    let want = m2(&a).dot(&m2(&a).t()).into_dyn();
    assert!(close(&both(&p), &want, 1e-12));
    // x.T @ x: the left operand transposed.
    let q = x.t().unwrap().matmul(&x).unwrap();
    assert!(close(&both(&q), &m2(&a).t().dot(&m2(&a)).into_dyn(), 1e-12));
    // A transpose that is also an output is kept.
    let t = x.t().unwrap();
    assert!(close(&both(&t), &a.t().to_owned(), 0.0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Stacks of matrices, batch axes broadcast (one side may lack them or have length 1).
    #[test]
    fn batched_products_match_per_matrix_products(
        b0 in 1usize..4, b1 in 1usize..3, m in 1usize..5, k in 1usize..6, n in 1usize..5,
        one in any::<bool>(),
        c in proptest::collection::vec(1usize..4, 4),
    ) {
        let a = data(&[b0, b1, m, k], 1);
        let bshape = if one { vec![1, k, n] } else { vec![b1, k, n] };
        let b = data(&bshape, 2);
        let x = Array::from_array(&a, [c[0], c[1], c[2], c[3]]).unwrap();
        let y = Array::from_array(&b, [c[1], c[3], c[2]]).unwrap();
        let got = both(&x.matmul(&y).unwrap());
        prop_assert_eq!(got.shape(), &[b0, b1, m, n]);
        for i in 0..b0 {
            for j in 0..b1 {
                let am = a.slice(ndarray::s![i, j, .., ..]).to_owned();
                let bm = if one { b.slice(ndarray::s![0, .., ..]).to_owned() } else { b.slice(ndarray::s![j, .., ..]).to_owned() };
                let want = am.dot(&bm).into_dyn();
                let g = got.slice(ndarray::s![i, j, .., ..]).to_owned().into_dyn();
                prop_assert!(close(&g, &want, 1e-12));
            }
        }
    }
}
