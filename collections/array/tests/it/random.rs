//! Random arrays and histograms: the same seed gives the same numbers everywhere; histograms
//! match a direct count.

use rask_array::random::Generator;
use rask_array::{Array, ArrayError, IntoScalar, MAX_BINS, Reduction};
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};

fn schedulers() -> Vec<Box<dyn Scheduler>> {
    vec![
        Box::new(SyncScheduler),
        Box::new(ThreadedScheduler::builder().num_workers(3).build().unwrap()),
    ]
}

#[test]
fn same_seed_same_numbers_on_every_scheduler() {
    let g = Generator::new(7);
    let x = g.normal(1.0, 2.0, &[300, 40], [70, 17]).unwrap();
    let first = x.compute_on(&SyncScheduler, &[]).unwrap();
    for s in schedulers() {
        assert_eq!(x.compute_on(&*s, &[]).unwrap(), first);
    }
    assert_eq!(
        Generator::new(7)
            .normal(1.0, 2.0, &[300, 40], [70, 17])
            .unwrap()
            .compute_on(&SyncScheduler, &[])
            .unwrap(),
        first
    );
    assert_ne!(
        Generator::new(8)
            .normal(1.0, 2.0, &[300, 40], [70, 17])
            .unwrap()
            .compute_on(&SyncScheduler, &[])
            .unwrap(),
        first
    );
    let n = first.len() as f64;
    let mean = first.sum() / n;
    let var = first.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    assert!((mean - 1.0).abs() < 0.1, "{mean}");
    assert!((var.sqrt() - 2.0).abs() < 0.1, "{var}");
    let u = g
        .uniform(-1.0, 3.0, &[5000], 999usize)
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    assert!(u.iter().all(|v| (-1.0..3.0).contains(v)));
    let i = g
        .integers(-3, 4, &[5000], 999usize)
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap();
    assert!(i.iter().all(|v| (-3..4).contains(v)));
    assert!((-3..4).all(|k| i.iter().any(|v| *v == k)));
}

#[test]
fn histograms_match_a_direct_count() {
    let g = Generator::new(3);
    let x = g.standard_normal(&[20_000], 3_001usize).unwrap();
    let data = x.compute_on(&SyncScheduler, &[]).unwrap();
    for (bins, range) in [(100, (-5.0, 5.0)), (7, (-1.0, 0.5)), (1, (0.0, 1.0))] {
        let (counts, edges) = x.histogram(bins, range).unwrap();
        assert_eq!(edges.len(), bins + 1);
        assert_eq!((edges[0], edges[bins]), range);
        let want = histogram_direct(data.iter().copied(), bins, range);
        for s in schedulers() {
            let got = counts.compute_on(&*s, &[]).unwrap();
            assert_eq!(
                got.as_slice().unwrap(),
                want.as_slice(),
                "{bins} bins on {range:?}"
            );
        }
    }
    // Every sample within [-5, 5] is counted once.
    let (counts, _) = x.histogram(100, (-5.0, 5.0)).unwrap();
    let total = counts
        .sum(Reduction::all())
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap()
        .into_scalar()
        .unwrap();
    assert_eq!(total, data.iter().filter(|v| v.abs() <= 5.0).count() as u64);
}

#[test]
fn histograms_of_random_blocks_count_samples_as_drawn() {
    let g = Generator::new(11);
    let draws = [
        g.normal(2.0, 0.5, &[10_007], 1_000usize).unwrap(),
        g.uniform(-1.0, 1.0, &[10_007], 1_000usize).unwrap(),
        g.standard_normal(&[5_000], 5_000usize).unwrap(),
    ];
    for x in draws {
        let (counts, _) = x.histogram(13, (-1.0, 2.5)).unwrap();
        // The optimized graph never makes the random blocks.
        let graph = counts.optimized_graph().unwrap();
        let ops: Vec<String> = graph
            .iter()
            .map(|(_, t)| t.op().name().to_string())
            .collect();
        assert!(
            ops.iter().any(|n| n.contains("random-histogram-chunk")),
            "{ops:?}"
        );
        assert!(
            !ops.iter()
                .any(|n| n.contains("normal") || n.contains("uniform")),
            "{ops:?}"
        );
        let data = x.compute_on(&SyncScheduler, &[]).unwrap();
        let want = histogram_direct(data.iter().copied(), 13, (-1.0, 2.5));
        for s in schedulers() {
            let got = counts.compute_on(&*s, &[]).unwrap();
            assert_eq!(got.as_slice().unwrap(), want.as_slice());
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Values on and next to the bin edges land where NumPy puts them.
    #[test]
    fn histogram_edges_match_a_search(
        bins in 1usize..40,
        lo in -10.0f64..10.0,
        width in 0.001f64..50.0,
        picks in proptest::collection::vec((0usize..41, -2i32..3), 0..300),
        chunk in 1usize..64,
    ) {
        let hi = lo + width;
        let step = width / bins as f64;
        // Edges, their neighbours one ulp away, and values outside the range.
        let values: Vec<f64> = picks
            .iter()
            .map(|(k, d)| {
                let e = lo + (*k).min(bins + 1) as f64 * step;
                let e = if *k == bins { hi } else { e };
                match d {
                    -2 => lo - 1.0,
                    -1 => f64::from_bits(e.to_bits().wrapping_sub(1)),
                    1 => f64::from_bits(e.to_bits() + 1),
                    _ => e,
                }
            })
            .collect();
        let a = ndarray::Array1::from(values.clone()).into_dyn();
        let x = Array::from_array(&a, chunk).unwrap();
        let (counts, _) = x.histogram(bins, (lo, hi)).unwrap();
        let got = counts.compute_on(&SyncScheduler, &[]).unwrap();
        let want = histogram_direct(values.iter().copied(), bins, (lo, hi));
        proptest::prop_assert_eq!(got.as_slice().unwrap(), want.as_slice());
    }
}

#[test]
fn bad_parameters_are_errors() {
    let g = Generator::new(1);
    insta::assert_snapshot!(g.normal(0.0, -1.0, &[3], 3usize).unwrap_err().to_string(), @"normal: scale must be finite and at least 0, got -1");
    insta::assert_snapshot!(g.uniform(2.0, 1.0, &[3], 3usize).unwrap_err().to_string(), @"uniform: needs finite low < high, got [2, 1)");
    let x = g.standard_normal(&[10], 5usize).unwrap();
    insta::assert_snapshot!(x.histogram(0, (0.0, 1.0)).unwrap_err().to_string(), @"histogram: needs at least one bin and a finite range lo < hi, got 0 bins on [0, 1]");
}

#[test]
fn bincount_matches_a_direct_count() {
    let g = Generator::new(5);
    let x = g.integers(0, 17, &[10_000], 1_234usize).unwrap();
    let data = x.compute_on(&SyncScheduler, &[]).unwrap();
    let mut want = vec![0u64; 20];
    for v in data.iter() {
        want[*v as usize] += 1;
    }
    for s in schedulers() {
        let got = x.bincount(20).unwrap().compute_on(&*s, &[]).unwrap();
        assert_eq!(got.as_slice().unwrap(), want.as_slice());
    }
    let err = x
        .bincount(5)
        .unwrap()
        .compute_on(&SyncScheduler, &[])
        .unwrap_err();
    assert!(err.to_string().contains("outside 0..5"), "{err}");
    let neg = g.integers(-2, 2, &[100], 50usize).unwrap();
    assert!(
        neg.bincount(4)
            .unwrap()
            .compute_on(&SyncScheduler, &[])
            .is_err()
    );
}

/// The oracle: counts of `values` the plain way — NumPy's edges (`linspace`, the last edge
/// exactly `hi`), each value's bin found by searching them, the last bin closed.
fn histogram_direct(
    values: impl IntoIterator<Item = f64>,
    bins: usize,
    range: (f64, f64),
) -> Vec<u64> {
    let (lo, hi) = range;
    let step = (hi - lo) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| lo + i as f64 * step).collect();
    edges[bins] = hi;
    let mut counts = vec![0u64; bins];
    for x in values {
        if !(x >= lo && x <= hi) {
            continue;
        }
        let i = edges
            .partition_point(|e| *e <= x)
            .saturating_sub(1)
            .min(bins - 1);
        counts[i] += 1;
    }
    counts
}

/// Bins past what a task's counts may hold are refused when the graph is built, before
/// anything is allocated (issue 12, item 12: a capacity-overflow panic, an 8 TiB allocation).
#[test]
fn huge_bin_counts_are_typed_errors() {
    let x = Array::from_array(&ndarray::arr1(&[1.0f64, 2.0]).into_dyn(), 1usize).unwrap();
    for bins in [usize::MAX, 1 << 40, MAX_BINS + 1] {
        let err = x.histogram(bins, (0.0, 1.0)).unwrap_err();
        assert!(
            matches!(
                err,
                ArrayError::TooManyBins {
                    what: "histogram",
                    ..
                }
            ),
            "{err}"
        );
    }
    let err = x.histogram(1 << 40, (0.0, 1.0)).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"histogram: 1099511627776 bins are more than the 134217728 one task's counts may hold");
    let i = Array::from_array(&ndarray::arr1(&[1i64, 2]).into_dyn(), 1usize).unwrap();
    let err = i.bincount(1 << 40).unwrap_err();
    assert!(
        matches!(
            err,
            ArrayError::TooManyBins {
                what: "bincount",
                ..
            }
        ),
        "{err}"
    );
}

/// A range wider than the largest float has finite edges and right counts; a range too narrow
/// for its bins is refused, as NumPy refuses it (issue 12, item 16).
#[test]
fn histogram_ranges_at_the_float_limits() {
    let x = Array::from_array(
        &ndarray::arr1(&[2.0f64, 2.0, -1e308, 1e308]).into_dyn(),
        2usize,
    )
    .unwrap();
    let (counts, edges) = x.histogram(2, (-1e308, 1e308)).unwrap();
    assert_eq!(edges, vec![-1e308, 0.0, 1e308]);
    let c = counts.compute_on(&SyncScheduler, &[]).unwrap();
    assert_eq!(c.as_slice().unwrap(), &[1, 3]);
    let (counts, edges) = x.histogram(4, (-f64::MAX, f64::MAX)).unwrap();
    assert!(edges.iter().all(|e| e.is_finite()), "{edges:?}");
    let c = counts.compute_on(&SyncScheduler, &[]).unwrap();
    assert_eq!(c.as_slice().unwrap(), &[1, 0, 2, 1]);
    // NumPy: "Too many bins for data range".
    let err = x.histogram(100, (1.0, 1.0 + 1e-15)).unwrap_err();
    assert!(
        matches!(err, ArrayError::BinsTooNarrow { bins: 100, .. }),
        "{err}"
    );
    assert!(x.histogram(10, (0.0, 1e-320)).is_err());
}

/// Random blocks read only by an elementwise expression are drawn where they are read (tile
/// by tile or lane by lane, never made whole): the same numbers as the blocks made first —
/// for stored and reduced expressions, with other inputs broadcast or reversed (which draw
/// lane by lane, or make the block when its shape differs), on both local schedulers.
#[test]
fn random_blocks_drawn_where_read_give_the_blocks_numbers() {
    let g = Generator::new(9);
    let x = g.uniform(-1.0, 1.0, &[37, 23], [10, 7]).unwrap();
    let z = g.standard_normal(&[37, 23], [10, 7]).unwrap();
    let (a, c) = (
        x.compute_on(&SyncScheduler, &[]).unwrap(),
        z.compute_on(&SyncScheduler, &[]).unwrap(),
    );
    let row = ndarray::Array::from_shape_fn((1, 23), |(_, j)| j as f64 - 11.0).into_dyn();
    let r = Array::from_array(&row, [1, 7]).unwrap();
    let rev = Array::from_array(&a, [10, 7])
        .unwrap()
        .slice(ndarray::s![..;-1, ..])
        .unwrap();
    let a_rev = a.slice(ndarray::s![..;-1, ..]).to_owned();
    let same = |got: &ndarray::ArrayD<f64>, want: &ndarray::ArrayD<f64>| {
        assert_eq!(got.shape(), want.shape());
        assert!(
            got.iter()
                .zip(want.iter())
                .all(|(g, w)| (g - w).abs() <= 1e-12 * w.abs().max(1.0)),
            "{got} vs {want}"
        );
    };
    // (expression, what it gives, whether every random block is drawn where read: not the
    // last, whose reversed operand has other block boundaries, so x is rechunked first).
    let cases: Vec<(Array<f64>, ndarray::ArrayD<f64>, bool)> = vec![
        (
            (&x * &z).abs().sqrt(),
            (&a * &c).mapv(|v| v.abs().sqrt()),
            true,
        ),
        (x.cos(), a.mapv(f64::cos), true),
        (&(&x * &r) + &z, &(&a * &row) + &c, true),
        (&x * &rev, &a * &a_rev, false),
    ];
    for (expr, want, drawn) in &cases {
        let g = expr.optimized_graph().unwrap();
        assert!(
            !drawn
                || g.iter()
                    .all(|(_, t)| t.op().name() != "uniform" && t.op().name() != "normal"),
            "a random block is still made: {:?}",
            g.iter()
                .map(|(_, t)| t.op().name().to_string())
                .collect::<std::collections::BTreeSet<_>>()
        );
        for s in schedulers() {
            same(&expr.compute_on(&*s, &[]).unwrap(), want);
            let sum = expr
                .sum(Reduction::axis(1))
                .unwrap()
                .compute_on(&*s, &[])
                .unwrap();
            same(&sum, &want.sum_axis(ndarray::Axis(1)).into_dyn());
        }
    }
}
