//! `rechunk`: Dask's intersections, planning and results (dask/array/tests/test_rechunk.py),
//! and values against the original on random chunkings.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rask_array::rechunk::{
    RechunkOptions, divide_to_width, merge_to_number, old_to_new, plan_rechunk,
};
use rask_array::{Array, AxisChunks, ChunkSpec};
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};

fn data(shape: &[usize]) -> ArrayD<i64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n as i64).collect()).unwrap()
}

fn rep(v: usize, k: usize) -> Vec<usize> {
    vec![v; k]
}

fn cat(parts: &[&[usize]]) -> Vec<usize> {
    parts.concat()
}

#[test]
fn intersections() {
    // test_rechunk_internals_1: a new total past the old one reads an imaginary block.
    let p = old_to_new(&[vec![4], rep(1, 5)], &[vec![1, 1, 2], vec![1, 5, 1]]);
    assert_eq!(
        p[0],
        vec![vec![(0, 0..1)], vec![(0, 1..2)], vec![(0, 2..4)]]
    );
    assert_eq!(
        p[1],
        vec![
            vec![(0, 0..1)],
            vec![(1, 0..1), (2, 0..1), (3, 0..1), (4, 0..1), (5, 0..1)],
            vec![(5, 1..2)]
        ]
    );
    let p = old_to_new(&[rep(1, 5)], &[vec![1, 5, 1, 0]]);
    assert_eq!(p[0][3], vec![(5, 2..2)]);
    // test_intersect_1 / _2 / test_old_to_new_known
    let p = old_to_new(&[rep(10, 5)], &[vec![25, 5, 20]]);
    assert_eq!(
        p[0],
        vec![
            vec![(0, 0..10), (1, 0..10), (2, 0..5)],
            vec![(2, 5..10)],
            vec![(3, 0..10), (4, 0..10)]
        ]
    );
    let p = old_to_new(&[rep(20, 5)], &[vec![58, 4, 20, 18]]);
    assert_eq!(
        p[0],
        vec![
            vec![(0, 0..20), (1, 0..20), (2, 0..18)],
            vec![(2, 18..20), (3, 0..2)],
            vec![(3, 2..20), (4, 0..2)],
            vec![(4, 2..20)]
        ]
    );
    // test_old_to_new_with_zero and test_intersect_chunks_with_zero
    assert_eq!(
        old_to_new(&[vec![4, 4]], &[vec![4, 0, 4]])[0],
        vec![vec![(0, 0..4)], vec![(1, 0..0)], vec![(1, 0..4)]]
    );
    assert_eq!(
        old_to_new(&[vec![4]], &[vec![4, 0]])[0],
        vec![vec![(0, 0..4)], vec![(0, 4..4)]]
    );
    assert_eq!(
        old_to_new(&[vec![4, 0, 4]], &[vec![4, 0, 2, 2]])[0],
        vec![
            vec![(0, 0..4)],
            vec![(2, 0..0)],
            vec![(2, 0..2)],
            vec![(2, 2..4)]
        ]
    );
    assert_eq!(
        old_to_new(&[vec![4, 4]], &[vec![4, 0, 0, 4]])[0],
        vec![
            vec![(0, 0..4)],
            vec![(1, 0..0)],
            vec![(1, 0..0)],
            vec![(1, 0..4)]
        ]
    );
    assert_eq!(
        old_to_new(&[vec![4, 0, 0, 4]], &[vec![4, 4]])[0],
        vec![vec![(0, 0..4)], vec![(3, 0..4)]]
    );
    assert_eq!(
        old_to_new(&[vec![4, 4]], &[vec![2, 0, 0, 2, 4]])[0],
        vec![
            vec![(0, 0..2)],
            vec![(0, 2..2)],
            vec![(0, 2..2)],
            vec![(0, 2..4)],
            vec![(1, 0..4)]
        ]
    );
    assert_eq!(
        old_to_new(&[vec![4, 4]], &[vec![0, 0, 4, 4]])[0],
        vec![
            vec![(0, 0..0)],
            vec![(0, 0..0)],
            vec![(0, 0..4)],
            vec![(1, 0..4)]
        ]
    );
}

#[test]
fn widths_and_merges() {
    assert_eq!(divide_to_width(&[8, 9, 10], 10), vec![8, 9, 10]);
    assert_eq!(
        divide_to_width(&[8, 2, 9, 10, 11, 12], 4),
        vec![4, 4, 2, 3, 3, 3, 3, 3, 4, 3, 4, 4, 4, 4, 4]
    );
    for (m, want) in [
        (5, vec![10, 10, 10, 10]),
        (4, vec![10, 10, 10, 10]),
        (3, vec![20, 10, 10]),
        (2, vec![20, 20]),
        (1, vec![40]),
    ] {
        assert_eq!(merge_to_number(&rep(10, 4), m), want, "m = {m}");
    }
    assert_eq!(merge_to_number(&rep(10, 10), 2), vec![50, 50]);
    assert_eq!(merge_to_number(&rep(10, 10), 3), vec![40, 30, 30]);
    for (m, want) in [
        (4, vec![5, 2, 15, 10]),
        (3, vec![7, 15, 10]),
        (2, vec![22, 10]),
        (1, vec![32]),
    ] {
        assert_eq!(merge_to_number(&[5, 1, 1, 15, 10], m), want, "m = {m}");
    }
    for (m, want) in [
        (6, vec![2, 1, 1, 3, 1, 1]),
        (5, vec![2, 2, 3, 1, 1]),
        (4, vec![2, 2, 3, 2]),
        (3, vec![4, 3, 2]),
        (2, vec![4, 5]),
        (1, vec![9]),
    ] {
        assert_eq!(merge_to_number(&[1, 1, 1, 1, 3, 1, 1], m), want, "m = {m}");
    }
    // Zeros count and vanish, as in Dask's heap procedure.
    assert_eq!(
        merge_to_number(&[1, 2, 1, 2, 2, 8, 5, 0, 3], 7),
        vec![3, 3, 2, 8, 5, 3]
    );
}

type Plan = Vec<Vec<Vec<usize>>>;

fn plan(
    old: &[Vec<usize>],
    new: &[Vec<usize>],
    itemsize: usize,
    limit: f64,
    threshold: Option<f64>,
) -> Plan {
    plan_rechunk(old, new, itemsize, threshold, Some(limit))
}

#[test]
fn dasks_plans() {
    let (c, f) = (rep(20, 2), rep(2, 20));
    let p = |o: &[Vec<usize>], n: &[Vec<usize>]| plan(o, n, 1, 1e7, None);
    let one = |v: &Vec<usize>| vec![v.clone()];
    assert_eq!(p(&one(&c), &one(&f)), vec![one(&f)]);
    assert_eq!(p(&one(&f), &one(&c)), vec![one(&c)]);
    assert_eq!(
        p(&[c.clone(), c.clone()], &[f.clone(), f.clone()]),
        vec![vec![f.clone(), f.clone()]]
    );
    assert_eq!(
        p(&[f.clone(), f.clone()], &[c.clone(), c.clone()]),
        vec![vec![c.clone(), c.clone()]]
    );
    assert_eq!(
        p(&[f.clone(), c.clone()], &[c.clone(), c.clone()]),
        vec![vec![c.clone(), c.clone()]]
    );
    let four = |a: &Vec<usize>, b: &Vec<usize>| vec![a.clone(), b.clone(), a.clone(), a.clone()];
    assert_eq!(p(&four(&c, &c), &four(&c, &f)), vec![four(&c, &f)]);
    assert_eq!(
        p(&[f.clone(), c.clone()], &[c.clone(), f.clone()]),
        vec![vec![c.clone(), c.clone()], vec![c.clone(), f.clone()]]
    );
    let cc = cat(&[&c, &c]);
    let cf = cat(&[&c, &f]);
    let ff = cat(&[&f, &f]);
    assert_eq!(
        p(&[cc.clone(), cf.clone()], &[ff.clone(), cc.clone()]),
        vec![vec![cc.clone(), cc.clone()], vec![ff.clone(), cc.clone()]]
    );
    assert_eq!(
        plan(
            &[c.clone(), c.clone()],
            &[f.clone(), f.clone()],
            1,
            1e7,
            Some(1.0)
        ),
        vec![vec![f.clone(), f.clone()]]
    );
    // At the memory limit, and just under it: a partial merge.
    let m = rep(10, 4);
    assert_eq!(
        plan(
            &[f.clone(), c.clone()],
            &[c.clone(), f.clone()],
            1,
            400.0,
            None
        ),
        vec![vec![c.clone(), c.clone()], vec![c.clone(), f.clone()]]
    );
    assert_eq!(
        plan(
            &[f.clone(), c.clone()],
            &[c.clone(), f.clone()],
            1,
            399.0,
            None
        ),
        vec![vec![m.clone(), c.clone()], vec![c.clone(), f.clone()]]
    );
    assert_eq!(
        plan(
            &[f.clone(), c.clone()],
            &[c.clone(), f.clone()],
            10,
            3999.0,
            None
        ),
        vec![vec![m, c.clone()], vec![c.clone(), f.clone()]]
    );
    // A larger problem: three steps.
    let (c, f) = (rep(1000, 2), rep(2, 1000));
    let steps = plan(
        &[f.clone(), c.clone()],
        &[c.clone(), f.clone()],
        1,
        99999.0,
        None,
    );
    let s1 = cat(&[&[90], &rep(91, 10), &[90], &rep(91, 10)]);
    let s2 = cat(&[&rep(333, 2), &[334], &rep(333, 2), &[334]]);
    assert_eq!(
        steps,
        vec![vec![s1, c.clone()], vec![s2, rep(250, 8)], vec![c, f]]
    );
}

#[test]
fn dasks_5d_heterogeneous_and_asymmetric_plans() {
    let (c, f) = (vec![10], rep(1, 10));
    let p = |o: Vec<&Vec<usize>>, n: Vec<&Vec<usize>>, limit: f64| {
        let o: Vec<Vec<usize>> = o.into_iter().cloned().collect();
        let n: Vec<Vec<usize>> = n.into_iter().cloned().collect();
        plan(&o, &n, 1, limit, None)
    };
    let own = |v: Vec<&Vec<usize>>| -> Vec<Vec<usize>> { v.into_iter().cloned().collect() };
    assert_eq!(
        p(vec![&c, &c, &c, &c, &c], vec![&f, &f, &f, &f, &f], 1e7),
        vec![own(vec![&f, &f, &f, &f, &f])]
    );
    assert_eq!(
        p(vec![&f, &f, &f, &f, &c], vec![&c, &c, &c, &f, &f], 1e7),
        vec![own(vec![&c, &c, &c, &f, &c]), own(vec![&c, &c, &c, &f, &f])]
    );
    assert_eq!(
        p(vec![&c, &c, &f, &f, &c], vec![&c, &c, &c, &f, &f], 2e4),
        vec![own(vec![&c, &c, &c, &f, &c]), own(vec![&c, &c, &c, &f, &f])]
    );
    let (cf, cc, ff, fc) = (
        cat(&[&c, &f]),
        cat(&[&c, &c]),
        cat(&[&f, &f]),
        cat(&[&f, &c]),
    );
    assert_eq!(
        p(vec![&cc, &cf], vec![&ff, &ff], 1e7),
        vec![own(vec![&ff, &ff])]
    );
    assert_eq!(
        p(vec![&cf, &fc], vec![&ff, &cf], 1e7),
        vec![own(vec![&ff, &cf])]
    );
    assert_eq!(
        p(vec![&cc, &cf], vec![&ff, &cc], 1e7),
        vec![own(vec![&cc, &cc]), own(vec![&ff, &cc])]
    );
    assert_eq!(
        p(vec![&cc, &cf, &cc], vec![&ff, &cc, &cf], 1e7),
        vec![own(vec![&cc, &cc, &cc]), own(vec![&ff, &cc, &cf])]
    );
    assert_eq!(
        p(vec![&cc, &ff, &cf], vec![&ff, &cf, &cc], 100.0),
        vec![own(vec![&cc, &ff, &cc]), own(vec![&ff, &cf, &cc])]
    );
    // test_plan_rechunk_asymmetric, with the default threshold and limit: five steps.
    let steps = plan_rechunk(
        &[rep(1, 1000), vec![80_000_000]],
        &[vec![1000], rep(80_000, 1000)],
        8,
        None,
        None,
    );
    assert_eq!(steps.len(), 5);
    assert_eq!(steps[0], vec![rep(4, 250), rep(20_000_000, 4)]);
    assert_eq!(
        steps[1],
        vec![
            cat(&[&rep(14, 5), &rep(15, 62)]),
            cat(&[&rep(5_040_000, 8), &rep(4_960_000, 8)])
        ]
    );
    assert_eq!(
        steps[3],
        vec![rep(250, 4), cat(&[&rep(320_000, 232), &rep(240_000, 24)])]
    );
}

fn both(x: &Array<i64>) -> ArrayD<i64> {
    let a = x.compute_on(&SyncScheduler, &[]).unwrap();
    let t = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    assert_eq!(a, x.compute_on(&t as &dyn Scheduler, &[]).unwrap());
    a
}

#[test]
fn dasks_array_rechunks() {
    let check = |shape: &[usize], old: ChunkSpec, spec: ChunkSpec, want: Vec<Vec<usize>>| {
        let a = data(shape);
        let x = Array::from_array(&a, old).unwrap();
        let y = x.rechunk(spec.clone()).unwrap();
        assert_eq!(y.chunks().axes(), &want[..], "{spec} on {shape:?}");
        assert_eq!(both(&y), a, "{spec} on {shape:?}");
    };
    check(
        &[30],
        ChunkSpec::from(10usize),
        ChunkSpec::from(vec![rep(5, 6)]),
        vec![rep(5, 6)],
    );
    check(
        &[10, 30],
        ChunkSpec::from(vec![vec![1, 2, 3, 4], rep(5, 6)]),
        ChunkSpec::from(vec![vec![5, 5], vec![15, 15]]),
        vec![vec![5, 5], vec![15, 15]],
    );
    check(
        &[10, 10, 10, 10],
        ChunkSpec::from(5usize),
        ChunkSpec::from(10usize),
        vec![vec![10]; 4],
    );
    check(
        &[10, 10],
        ChunkSpec::from(5usize),
        ChunkSpec::from(vec![vec![3, 3, 3, 1]; 2]),
        vec![vec![3, 3, 3, 1]; 2],
    );
    check(
        &[10, 10, 10, 10],
        ChunkSpec::from(vec![vec![5, 2, 3]; 4]),
        ChunkSpec::from(vec![vec![3, 3, 3, 1]; 4]),
        vec![vec![3, 3, 3, 1]; 4],
    );
    check(
        &[24, 24],
        ChunkSpec::from([4, 8]),
        ChunkSpec::from(vec![AxisChunks::Size(12), AxisChunks::Keep]),
        vec![vec![12, 12], vec![8, 8, 8]],
    );
    check(
        &[24, 24],
        ChunkSpec::from([4, 8]),
        ChunkSpec::from(vec![AxisChunks::Whole, AxisChunks::Keep]),
        vec![vec![24], vec![8, 8, 8]],
    );
    check(
        &[24, 24],
        ChunkSpec::from([4, 8]),
        ChunkSpec::from(vec![AxisChunks::Keep, AxisChunks::Size(4)]),
        vec![rep(4, 6), rep(4, 6)],
    );
    check(
        &[24, 24],
        ChunkSpec::from([4, 8]),
        ChunkSpec::from(vec![AxisChunks::Keep, AxisChunks::Auto]),
        vec![rep(4, 6), vec![24]],
    );
    check(
        &[5],
        ChunkSpec::from(4usize),
        ChunkSpec::from(3usize),
        vec![vec![3, 2]],
    );
    check(
        &[0, 10],
        ChunkSpec::from(5usize),
        ChunkSpec::from(2usize),
        vec![vec![0], rep(2, 5)],
    );
    check(
        &[4, 0],
        ChunkSpec::from(3usize),
        ChunkSpec::from(vec![AxisChunks::Size(4), AxisChunks::Keep]),
        vec![vec![4], vec![0]],
    );
    check(
        &[4, 0, 6, 10],
        ChunkSpec::from(3usize),
        ChunkSpec::from(vec![
            AxisChunks::Size(4),
            AxisChunks::Keep,
            AxisChunks::Size(2),
            AxisChunks::Keep,
        ]),
        vec![vec![4], vec![0], vec![2, 2, 2], vec![3, 3, 3, 1]],
    );
    check(
        &[24, 24],
        ChunkSpec::from(vec![vec![12, 12], vec![12, 12]]),
        ChunkSpec::from(vec![vec![12, 12], vec![24, 0]]),
        vec![vec![12, 12], vec![24, 0]],
    );
    check(
        &[24, 24],
        ChunkSpec::from([4, 8]),
        ChunkSpec::from(vec![AxisChunks::Whole, AxisChunks::Size(8)]),
        vec![vec![24], vec![8, 8, 8]],
    );
    check(
        &[7, 24],
        ChunkSpec::from(vec![vec![7], vec![10, 0, 0, 9, 0, 5]]),
        ChunkSpec::from([2, 3]),
        vec![vec![2, 2, 2, 1], rep(3, 8)],
    );
    check(
        &[8, 8],
        ChunkSpec::from(vec![vec![4, 4], vec![4, 0, 0, 4]]),
        ChunkSpec::from([4, 4]),
        vec![vec![4, 4], vec![4, 4]],
    );
    check(
        &[2, 3, 4],
        ChunkSpec::from(1usize),
        ChunkSpec::from(vec![
            AxisChunks::Keep,
            AxisChunks::Keep,
            AxisChunks::Size(4),
        ]),
        vec![vec![1, 1], vec![1, 1, 1], vec![4]],
    );
    // The same chunks: the array itself.
    let x = Array::from_array(&data(&[24, 24]), [4, 8]).unwrap();
    assert_eq!(
        x.rechunk(ChunkSpec::from(x.chunks().clone()))
            .unwrap()
            .name(),
        x.name()
    );
    assert_eq!(x.rechunk(ChunkSpec::from([4, 8])).unwrap().name(), x.name());
    // Errors.
    insta::assert_snapshot!(x.rechunk(ChunkSpec::from(vec![vec![10, 10], vec![24]])).unwrap_err().to_string(), @"chunks [10, 10] on axis 0 add up to 20, but the axis has length 24");
    insta::assert_snapshot!(x.rechunk(ChunkSpec::from([4])).unwrap_err().to_string(), @"chunks (4,) have 1 axes but the shape [24, 24] has 2");
}

#[test]
fn dasks_auto_rechunks() {
    // test_rechunk_auto_1d: {0: "auto"} with a limit of bs elements of 8 bytes.
    let cases: Vec<(usize, Vec<usize>, usize, Vec<usize>)> = vec![
        (100, vec![1; 100], 10, rep(10, 10)),
        (100, rep(50, 2), 10, rep(10, 10)),
        (100, vec![100], 10, rep(10, 10)),
        (20, vec![7, 7, 6], 10, vec![7, 7, 6]),
        (20, vec![1, 1, 1, 1, 6, 2, 1, 7], 5, rep(5, 4)),
        (21, vec![1; 21], 10, vec![10, 10, 1]),
        (30, rep(3, 10), 7, rep(6, 5)),
        (20, vec![2, 2, 2, 9, 1, 2, 2], 5, rep(4, 5)),
        (20, vec![10, 10], 4, rep(4, 5)),
        (21, vec![10, 11], 4, vec![4, 4, 4, 4, 4, 1]),
        (20, vec![1, 18, 1], 5, rep(5, 4)),
        (38, vec![10, 18, 10], 5, vec![5, 5, 5, 5, 5, 5, 5, 3]),
    ];
    for (n, chunks, bs, want) in cases {
        let x = Array::<f64>::ones(&[n], ChunkSpec::from(vec![chunks.clone()])).unwrap();
        let opts = RechunkOptions {
            block_size_limit: Some(bs * 8),
            ..Default::default()
        };
        let y = x.rechunk_with(ChunkSpec::Auto, opts).unwrap();
        assert_eq!(y.chunks().axes(), &[want], "{n} in {chunks:?}, limit {bs}");
    }
    // test_rechunk_auto_2d and _3d
    let limit = |n: usize| RechunkOptions {
        block_size_limit: Some(n * 8),
        ..Default::default()
    };
    let x = Array::<f64>::ones(&[20, 20], [2, 2]).unwrap();
    let y = x
        .rechunk_with(vec![AxisChunks::Whole, AxisChunks::Auto], limit(20))
        .unwrap();
    assert_eq!(y.chunks().axes(), &[vec![20], vec![1; 20]]);
    let y = x
        .rechunk_with(vec![AxisChunks::Whole, AxisChunks::Auto], limit(80))
        .unwrap();
    assert_eq!(y.chunks().axes(), &[vec![20], rep(4, 5)]);
    let y = x
        .rechunk_with(vec![AxisChunks::Auto, AxisChunks::Keep], limit(20))
        .unwrap();
    assert_eq!(y.chunks().axes(), &[vec![10, 10], rep(2, 10)]);
    let x = Array::<f64>::ones(
        &[20, 20],
        ChunkSpec::from(vec![rep(2, 10), vec![2, 2, 2, 2, 2, 5, 5]]),
    )
    .unwrap();
    let y = x
        .rechunk_with(vec![AxisChunks::Auto, AxisChunks::Keep], limit(20))
        .unwrap();
    assert_eq!(y.chunks().axes()[0], rep(4, 5));
    let x = Array::<f64>::ones(&[20, 20, 20], [2, 2, 2]).unwrap();
    let y = x
        .rechunk_with(
            vec![AxisChunks::Auto, AxisChunks::Auto, AxisChunks::Keep],
            limit(200),
        )
        .unwrap();
    assert_eq!(y.chunks().axes(), &[vec![10, 10], vec![10, 10], rep(2, 10)]);
    // test_rechunk_auto_image_stack and test_rechunk_down (u8 images, MiB limits)
    let mib = |n: usize| RechunkOptions {
        block_size_limit: Some(n << 20),
        ..Default::default()
    };
    for n in [100usize, 1000] {
        let x = Array::<u8>::ones(&[n, 1000, 1000], [1, 1000, 1000]).unwrap();
        let y = x.rechunk_with(ChunkSpec::Auto, mib(10)).unwrap();
        assert_eq!(
            y.chunks().axes(),
            &[rep(10, n / 10), vec![1000], vec![1000]]
        );
        assert_eq!(
            y.rechunk_with(ChunkSpec::Auto, mib(10)).unwrap().name(),
            y.name()
        );
        let y = x.rechunk_with(ChunkSpec::Auto, mib(7)).unwrap();
        let want = if n == 100 {
            cat(&[&rep(7, 14), &[2]])
        } else {
            cat(&[&rep(7, 142), &[6]])
        };
        assert_eq!(y.chunks().axes()[0], want);
        let z = Array::<f64>::ones(&[n, 1000, 1000], [1, 1000, 1000]).unwrap();
        let z = z.rechunk_with(ChunkSpec::Auto, mib(1)).unwrap();
        assert_eq!(
            z.chunks().axes(),
            &[vec![1; n], vec![362, 362, 276], vec![362, 362, 276]]
        );
    }
    let x = Array::<u8>::ones(&[100, 1000, 1000], [1, 1000, 1000]).unwrap();
    let y = x.rechunk_with(ChunkSpec::Auto, mib(10)).unwrap();
    assert_eq!(
        y.rechunk_with(ChunkSpec::Auto, mib(1))
            .unwrap()
            .chunks()
            .axes(),
        &[rep(4, 25), vec![511, 489], vec![511, 489]]
    );
    assert_eq!(
        y.rechunk_with(
            vec![AxisChunks::Auto, AxisChunks::Keep, AxisChunks::Keep],
            mib(1)
        )
        .unwrap()
        .chunks()
        .axes()[0],
        vec![1; 100]
    );
    assert_eq!(
        y.rechunk_with(
            vec![AxisChunks::Keep, AxisChunks::Auto, AxisChunks::Keep],
            mib(1)
        )
        .unwrap()
        .chunks()
        .axes()[1],
        cat(&[&rep(104, 9), &[64]])
    );
}

#[test]
fn dasks_task_counts() {
    // test_rechunk_avoid_needless_chunking: 8 blocks + 2 merges, no splits.
    let x = Array::<f64>::ones(&[16], 2usize).unwrap();
    assert_eq!(x.rechunk(8usize).unwrap().graph().len(), 10);
    // test_rechunk_intermediates: (10, 1) -> (1, 10) goes through one (10, 10) block: 10
    // blocks, one assembled block, 10 rows cut out of it. (Dask counts 31: its getitems and
    // their aliases are separate tasks.)
    let x = Array::from_array(&data(&[10, 10]), [10, 1]).unwrap();
    let y = x.rechunk([1, 10]).unwrap();
    assert_eq!(y.graph().len(), 21);
    assert_eq!(both(&y), data(&[10, 10]));
    // test_dont_concatenate_single_chunks
    for (shape, chunks) in [
        (vec![4], vec![2]),
        (vec![4, 4], vec![2, 2]),
        (vec![4, 4], vec![4, 2]),
    ] {
        let x = Array::<f64>::ones(&shape, ChunkSpec::from(&shape[..])).unwrap();
        let y = x.rechunk(ChunkSpec::from(&chunks[..])).unwrap();
        assert!(
            y.graph()
                .iter()
                .all(|(_, t)| t.op().name() != "rechunk-merge")
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any chunking to any other, directly or through intermediate steps (a tiny memory limit
    /// forces them): the values do not change.
    #[test]
    fn rechunks_keep_values(
        shape in proptest::collection::vec(0usize..9, 1..4),
        from in proptest::collection::vec(1usize..5, 3),
        to in proptest::collection::vec(1usize..5, 3),
        tiny in any::<bool>(),
    ) {
        let a = data(&shape);
        let n = shape.len();
        let x = Array::from_array(&a, &from[..n]).unwrap();
        let opts = RechunkOptions { block_size_limit: tiny.then_some(8), threshold: tiny.then_some(1.0) };
        let y = x.rechunk_with(ChunkSpec::from(&to[..n]), opts).unwrap();
        let want: Vec<Vec<usize>> = shape.iter().zip(&to).map(|(d, c)| {
            if *d == 0 { vec![0] } else { let mut v = vec![*c; d / c]; if d % c > 0 { v.push(d % c); } v }
        }).collect();
        if shape.iter().any(|d| *d > 0) {
            prop_assert_eq!(y.chunks().axes(), &want[..]);
        }
        prop_assert_eq!(both(&y), a);
    }
}

/// A rechunk's intermediate step (whose blocks are mosaics) and a direct rechunk to the same
/// chunks are other computations: they must not share keys, whichever graph is merged first.
#[test]
fn intermediate_steps_do_not_share_keys_with_direct_rechunks() {
    let a = data(&[40, 40]);
    let x = Array::from_array(&a, [2, 20]).unwrap();
    let target = vec![vec![20, 20], rep(2, 20)];
    let steps = plan_rechunk(x.chunks().axes(), &target, 8, None, None);
    assert_eq!(steps.len(), 2, "{steps:?}");
    let y = x.rechunk(ChunkSpec::from(target)).unwrap();
    let z = x.rechunk(ChunkSpec::from(steps[0].clone())).unwrap();
    let want = &a + &a;
    assert_eq!(both(&(&y + &z)), want);
    assert_eq!(both(&(&z + &y)), want);
    assert_eq!(both(&z), a);
}
