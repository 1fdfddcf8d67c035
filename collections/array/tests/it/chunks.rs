//! Chunk normalization, with vectors ported from Dask's test_array_core.py (facts: inputs and
//! the chunks Dask 2026.8 gives for them).

use rask_array::{Array, ArrayError, AxisChunks as A, ChunkSpec, Chunks, DType};

fn norm(
    spec: impl Into<ChunkSpec>,
    shape: &[usize],
    dtype: DType,
    limit: Option<usize>,
) -> Result<Vec<Vec<usize>>, ArrayError> {
    let c = match limit {
        Some(l) => Chunks::normalize_with_limit(spec, shape, dtype, l),
        None => Chunks::normalize(spec, shape, dtype),
    }?;
    Ok(c.axes().to_vec())
}

fn axes(v: Vec<A>) -> ChunkSpec {
    ChunkSpec::Axes(v)
}

/// A spec, a shape, a dtype, a byte limit for `auto`, and the chunks Dask gives.
type Case = (ChunkSpec, Vec<usize>, DType, Option<usize>, Vec<Vec<usize>>);

#[test]
fn dask_vectors() {
    use DType::*;
    let cases: Vec<Case> = vec![
        (
            3.into(),
            vec![4, 6],
            I64,
            None,
            vec![vec![3, 1], vec![3, 3]],
        ),
        (
            vec![vec![3, 3], vec![8]].into(),
            vec![6, 8],
            I64,
            None,
            vec![vec![3, 3], vec![8]],
        ),
        (
            vec![vec![4, 5]].into(),
            vec![9],
            I64,
            None,
            vec![vec![4, 5]],
        ),
        (
            [4, 5].into(),
            vec![9, 9],
            I64,
            None,
            vec![vec![4, 4, 1], vec![5, 4]],
        ),
        (
            axes(vec![A::Whole, A::Whole]),
            vec![5, 5],
            I64,
            None,
            vec![vec![5], vec![5]],
        ),
        (
            axes(vec![A::Size(3), A::Whole]),
            vec![5, 5],
            I64,
            None,
            vec![vec![3, 2], vec![5]],
        ),
        (
            [2, 3].into(),
            vec![6, 6],
            I64,
            None,
            vec![vec![2, 2, 2], vec![3, 3]],
        ),
        (
            10.into(),
            vec![30, 5],
            I64,
            None,
            vec![vec![10, 10, 10], vec![5]],
        ),
        (
            axes(vec![A::Whole, A::Whole]),
            vec![0, 0],
            I64,
            None,
            vec![vec![0], vec![0]],
        ),
        (
            axes(vec![A::Whole, A::Whole]),
            vec![0, 3],
            I64,
            None,
            vec![vec![0], vec![3]],
        ),
        (ChunkSpec::Auto, vec![20], U8, Some(5), vec![vec![5; 4]]),
        (
            axes(vec![A::Auto, A::Whole]),
            vec![5, 5],
            I64,
            None,
            vec![vec![5], vec![5]],
        ),
        (
            ChunkSpec::Auto,
            vec![24],
            U8,
            Some(5),
            vec![vec![5, 5, 5, 5, 4]],
        ),
        (
            ChunkSpec::Auto,
            vec![23],
            U8,
            Some(5),
            vec![vec![5, 5, 5, 5, 3]],
        ),
        (
            ChunkSpec::Auto,
            vec![1000],
            U8,
            Some(167),
            vec![vec![167, 167, 167, 167, 167, 165]],
        ),
        (
            axes(vec![A::Auto, A::Size(2)]),
            vec![20, 20],
            U8,
            Some(20),
            vec![vec![10, 10], vec![2; 10]],
        ),
        (
            axes(vec![A::Auto, A::Explicit(vec![2, 2, 2, 2, 2, 5, 5])]),
            vec![20, 20],
            U8,
            Some(20),
            vec![vec![4; 5], vec![2, 2, 2, 2, 2, 5, 5]],
        ),
        (
            ChunkSpec::Auto,
            vec![1, 20],
            U8,
            Some(10),
            vec![vec![1], vec![10, 10]],
        ),
        (
            axes(vec![A::Auto, A::Auto, A::Size(2)]),
            vec![20, 20, 20],
            U8,
            Some(200),
            vec![vec![10, 10], vec![10, 10], vec![2; 10]],
        ),
        (
            ChunkSpec::Auto,
            vec![20, 20, 20],
            U8,
            Some(8),
            vec![vec![2; 10], vec![2; 10], vec![2; 10]],
        ),
        (
            axes(vec![A::Explicit(vec![2, 3, 5]), A::Auto]),
            vec![10, 10],
            U8,
            Some(10),
            vec![vec![2, 3, 5], vec![2; 5]],
        ),
        (
            axes(vec![A::Size(10), A::Auto]),
            vec![20, 20],
            F64,
            None,
            vec![vec![10, 10], vec![20]],
        ),
        (
            axes(vec![A::Size(10), A::Whole, A::Auto]),
            vec![100, 100, 100],
            F64,
            Some(131072),
            vec![vec![10; 10], vec![100], vec![16, 16, 16, 16, 16, 16, 4]],
        ),
        ([4].into(), vec![9], I64, None, vec![vec![4, 4, 1]]),
        (10.into(), vec![5], I64, None, vec![vec![5]]),
        (
            ChunkSpec::Auto,
            vec![20, 20],
            U8,
            Some(10),
            vec![vec![3, 3, 3, 3, 3, 3, 2], vec![3, 3, 3, 3, 3, 3, 2]],
        ),
        (
            ChunkSpec::Auto,
            vec![10, 20, 30],
            F64,
            Some(1800),
            vec![vec![6, 4], vec![6, 6, 6, 2], vec![6; 5]],
        ),
        (
            ChunkSpec::Auto,
            vec![30, 30, 30],
            U8,
            Some(1000),
            vec![vec![9, 9, 9, 3]; 3],
        ),
        (
            ChunkSpec::Auto,
            vec![2, 50, 50],
            U8,
            Some(100),
            vec![
                vec![2],
                vec![7, 7, 7, 7, 7, 7, 7, 1],
                vec![7, 7, 7, 7, 7, 7, 7, 1],
            ],
        ),
        (
            axes(vec![A::Whole, A::Auto, A::Auto]),
            vec![4, 100, 100],
            U8,
            Some(4000),
            vec![vec![4], vec![31, 31, 31, 7], vec![31, 31, 31, 7]],
        ),
        (
            axes(vec![A::Explicit(vec![5, 5]), A::Auto, A::Whole]),
            vec![10, 30, 4],
            F32,
            Some(800),
            vec![vec![5, 5], vec![10, 10, 10], vec![4]],
        ),
        (
            ChunkSpec::Auto,
            vec![3, 3],
            F64,
            Some(4),
            vec![vec![1, 1, 1], vec![1, 1, 1]],
        ),
        (
            ChunkSpec::Auto,
            vec![10000, 10000],
            F64,
            None,
            vec![vec![4096, 4096, 1808], vec![4096, 4096, 1808]],
        ),
        (
            ChunkSpec::Auto,
            vec![1000, 1000, 1000],
            F32,
            None,
            vec![vec![322, 322, 322, 34]; 3],
        ),
        (ChunkSpec::Auto, vec![0], U8, Some(10), vec![vec![0]]),
    ];
    for (spec, shape, dtype, limit, expected) in cases {
        let got = norm(spec.clone(), &shape, dtype, limit);
        assert_eq!(
            got.as_ref().ok(),
            Some(&expected),
            "{spec:?} on {shape:?} ({dtype}, limit {limit:?}): {got:?}"
        );
    }
}

#[test]
fn bad_specs_are_typed_errors() {
    let err = norm(vec![vec![10]], &[11], DType::F64, None).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"chunks [10] on axis 0 add up to 10, but the axis has length 11");
    let err = norm(vec![vec![5], vec![5]], &[5], DType::F64, None).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"chunks ((5,), (5,)) have 2 axes but the shape [5] has 1");
    let err = norm([2, 2], &[5], DType::F64, None).unwrap_err();
    assert!(matches!(err, ArrayError::ChunkRank { .. }));
    let err = norm(0, &[5], DType::F64, None).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"a chunk size of 0 on axis 0, whose length is 5");
    // Too many blocks, or too many elements: refused before any block list is made.
    let err = Array::<u8>::ones(&[1 << 20, 1 << 20], 32usize).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"chunks 32 cut the shape [1048576, 1048576] into 1073741824 blocks, more than the 67108864 a graph can hold; use bigger chunks");
    // Exactly the most blocks is fine (the chunks only; its graph would be huge).
    assert!(norm(1, &[1 << 20, 1 << 6], DType::U8, None).is_ok());
    assert!(norm(1, &[1 << 20, (1 << 6) + 1], DType::U8, None).is_err());
    let err = Array::<u8>::ones(&[1 << 40, 1 << 40], 1usize << 40).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"chunks: the shape [1099511627776, 1099511627776] has more elements than can be addressed");
    // An empty axis means no elements, however long the others are.
    let whole = || axes(vec![A::Whole, A::Whole, A::Whole]);
    assert!(norm(whole(), &[0, usize::MAX, 2], DType::F64, None).is_ok());
    assert!(norm(whole(), &[usize::MAX, 2, 0], DType::F64, None).is_ok());
    assert!(norm(whole(), &[usize::MAX, 2, 1], DType::F64, None).is_err());
    // Elements that fit, bytes that do not.
    assert!(norm(1 << 62, &[1 << 62], DType::F64, None).is_err());
}

#[test]
fn block_geometry() {
    let c = Chunks::normalize([3, 2], &[7, 4], DType::F64).unwrap();
    assert_eq!(c.numblocks(), vec![3, 2]);
    assert_eq!(c.npartitions(), 6);
    assert_eq!(c.block_shape(&[2, 1]), vec![1, 2]);
    assert_eq!(c.block_ranges(&[1, 1]), vec![3..6, 2..4]);
    assert_eq!(c.blocks()[..3], [vec![0, 0], vec![0, 1], vec![1, 0]]);
}

#[test]
fn reprs() {
    use rask_array::Array;
    let x = Array::<f64>::ones(&[1000, 4000], [1000, 1000]).unwrap();
    insta::assert_snapshot!(x.to_string(), @"rask.Array<ones, shape=(1000, 4000), dtype=f64, chunksize=(1000, 1000), chunktype=ndarray>");
    let y = Array::<i32>::zeros(&[10], 3usize).unwrap();
    insta::assert_snapshot!(y.to_string(), @"rask.Array<zeros, shape=(10,), dtype=i32, chunksize=(3,), chunktype=ndarray>");
    insta::assert_snapshot!(y.to_html(), @r#"<table><tr><td><table style="border-collapse:collapse"><thead><tr><td></td><th>Array</th><th>Chunk</th></tr></thead><tbody><tr><th>Bytes</th><td>40 B</td><td>12 B</td></tr><tr><th>Shape</th><td>(10,)</td><td>(3,)</td></tr><tr><th>Dask graph</th><td colspan="2">4 chunks in 1 graph layer</td></tr><tr><th>Data type</th><td colspan="2">i32</td></tr></tbody></table></td><td><svg width="140" height="45" style="stroke:rgb(0,0,0);stroke-width:1"><line x1="10" y1="10.0" x2="130.0" y2="10.0"/><line x1="10" y1="35.0" x2="130.0" y2="35.0"/><line x1="10.0" y1="10" x2="10.0" y2="35.0"/><line x1="46.0" y1="10" x2="46.0" y2="35.0"/><line x1="82.0" y1="10" x2="82.0" y2="35.0"/><line x1="118.0" y1="10" x2="118.0" y2="35.0"/><line x1="130.0" y1="10" x2="130.0" y2="35.0"/><polygon points="10,10 130.0,10 130.0,35.0 10,35.0" style="fill:#ECB172A0;stroke-width:0"/></svg></td></tr></table>"#);
}

/// Block sizes whose sum overflows `usize` and wraps around to the axis length are refused,
/// with their true sum (issue 12, item 11): they were accepted, and `compute` panicked.
#[test]
fn chunk_sums_do_not_overflow() {
    let err = Array::<f64>::ones(&[10], axes(vec![A::Explicit(vec![usize::MAX, 11])])).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"chunks [18446744073709551615, 11] on axis 0 add up to 18446744073709551626, but the axis has length 10");
    assert!(matches!(err, ArrayError::ChunkSum { sum, .. } if sum == usize::MAX as u128 + 11));
}

/// Where each block starts, from running sums made once: an array of 2 million blocks is
/// built in linear time (issue 12, item 2), and every block's place is right.
#[test]
fn block_ranges_from_running_sums() {
    let c = Chunks::normalize(
        axes(vec![A::Explicit(vec![2, 0, 3]), A::Size(4)]),
        &[5, 10],
        DType::F64,
    )
    .unwrap();
    assert_eq!(c.starts(), &[vec![0, 2, 2, 5], vec![0, 4, 8, 10]]);
    assert_eq!(c.block_ranges(&[2, 2]), vec![2..5, 8..10]);
    assert_eq!(c.block_ranges(&[1, 0]), vec![2..2, 0..4]);
    assert_eq!(c.shape(), vec![5, 10]);
    let built = rask_testing::within(60, || {
        Array::<f64>::ones(&[2_000_000], 1usize).map(|x| x.npartitions())
    });
    assert_eq!(built.unwrap(), 2_000_000);
}
