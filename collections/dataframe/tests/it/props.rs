//! Every operation on random frames — random lengths (empty included), null patterns and
//! partition counts — against the same Polars operation on the whole frame, on the sync,
//! threaded and process schedulers (each case on all three).

use polars::prelude::*;
use proptest::prelude::*;
use rask_dataframe::DataFrame;
use rask_graph::Collection;

use crate::{check, check_close, schedulers, sorted, whole};

/// A row: an integer key in a narrow range, an integer, a float (quarters, so that every
/// sum is exact whatever the order) and a short string, each null at times.
type Row = (Option<i64>, Option<i64>, Option<f64>, Option<&'static str>);

fn rows(max: usize) -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(
        (
            proptest::option::weighted(0.85, -3i64..5),
            proptest::option::weighted(0.8, -50i64..50),
            proptest::option::weighted(0.8, (-400i64..400).prop_map(|q| q as f64 / 4.0)),
            proptest::option::weighted(0.9, proptest::sample::select(vec!["a", "b", "cc", "Dd"])),
        ),
        0..max,
    )
}

fn frame(rows: Vec<Row>) -> polars::prelude::DataFrame {
    let mut k = Vec::new();
    let mut x = Vec::new();
    let mut f = Vec::new();
    let mut s = Vec::new();
    for (a, b, c, d) in rows {
        k.push(a);
        x.push(b);
        f.push(c);
        s.push(d);
    }
    df!("k" => k, "x" => x, "f" => f, "s" => s).unwrap()
}

/// How many distinct values (not null) column `c` of `pl` holds.
fn distinct_count(pl: &polars::prelude::DataFrame, c: &str) -> u64 {
    let d = whole(pl, |lf| lf.select([col(c).drop_nulls().n_unique()]));
    d.column(c)
        .unwrap()
        .get(0)
        .unwrap()
        .extract::<u64>()
        .unwrap()
}

/// A HyperLogLog estimate `got` of `want` distinct values: within 2% and two values (two
/// of a few values may share a register, 1 in 450 for 9 of them).
fn near_count(got: u64, want: u64) -> bool {
    got.abs_diff(want) <= 2 + want / 50
}

/// Column `c` of `df` as `f64`s (nulls as NaN).
fn f64s(df: &polars::prelude::DataFrame, c: &str) -> Vec<f64> {
    let c = df.column(c).unwrap().cast(&DataType::Float64).unwrap();
    c.f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A run of per-partition steps — filter, with_columns (arithmetic across columns with
    /// nulls, a string expression), rename, drop, astype, dropna, fillna, select — is Polars'
    /// on the whole frame, row for row.
    #[test]
    fn per_partition_steps_match_polars_for_any_frame(
        rows in rows(150),
        parts in 1usize..9,
        t in -50i64..50,
        subset in 0usize..3,
    ) {
        let pl = frame(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        check(&ddf, &pl);
        let derived = [
            (col("x") * lit(2) + col("k")).alias("z"),
            col("s").str().to_uppercase().alias("S"),
        ];
        let steps = ddf
            .filter(col("x").gt(lit(t)).or(col("f").is_null()))
            .unwrap()
            .with_columns(derived.clone())
            .unwrap()
            .rename(&[("f", "g")])
            .unwrap()
            .drop(&["s"])
            .unwrap()
            .astype(&[("k", DataType::Float64), ("x", DataType::Int32)])
            .unwrap();
        let want = whole(&pl, |lf| {
            lf.filter(col("x").gt(lit(t)).or(col("f").is_null()))
                .with_columns(derived)
                .rename(["f"], ["g"], true)
                .drop(cols(["s"]))
                .with_columns([
                    col("k").cast(DataType::Float64),
                    col("x").cast(DataType::Int32),
                ])
        });
        check(&steps, &want);
        let subset: &[&str] = [&[][..], &["k"][..], &["x", "S"][..]][subset];
        let cleaned = steps
            .dropna(subset)
            .unwrap()
            .select([col("k"), col("x"), col("z"), col("g")])
            .unwrap()
            .fillna(lit(0))
            .unwrap();
        let want = whole(&want, |lf| {
            let lf = if subset.is_empty() {
                lf.drop_nulls(None)
            } else {
                lf.drop_nulls(Some(cols(subset.iter().copied())))
            };
            lf.select([col("k"), col("x"), col("z"), col("g")])
                .fill_null(lit(0))
        });
        check(&cleaned, &want);
    }

    /// Whole-frame reductions: sum, min, max and count exactly, mean, var and std (both
    /// ddofs) within rounding, exact and approximate distinct counts, and quantiles (exact
    /// here: no partition holds more than 1024 values).
    #[test]
    fn reductions_match_polars_for_any_frame(
        rows in rows(200),
        parts in 1usize..9,
        ddof in 0u8..2,
    ) {
        let pl = frame(rows);
        let nums = pl.select(["k", "x", "f"]).unwrap();
        let ddf = DataFrame::from_polars(nums.clone(), parts);
        let each = |f: fn(Expr) -> Expr| [f(col("k")), f(col("x")), f(col("f"))];
        let id = |d: polars::prelude::DataFrame| d;
        for (what, got, want) in [
            ("sum", ddf.sum().unwrap(), each(|c| c.sum())),
            ("min", ddf.min().unwrap(), each(|c| c.min())),
            ("max", ddf.max().unwrap(), each(|c| c.max())),
            ("count", ddf.count().unwrap(), each(|c| c.count())),
            ("mean", ddf.mean().unwrap(), each(|c| c.mean())),
        ] {
            check_close(what, &got, &whole(&nums, |lf| lf.select(want)), id);
        }
        let var = [col("k").var(ddof), col("x").var(ddof), col("f").var(ddof)];
        check_close("var", &ddf.var(ddof).unwrap(), &whole(&nums, |lf| lf.select(var)), id);
        let std = [col("k").std(ddof), col("x").std(ddof), col("f").std(ddof)];
        check_close("std", &ddf.std(ddof).unwrap(), &whole(&nums, |lf| lf.select(std)), id);

        let full = DataFrame::from_polars(pl.clone(), parts);
        for c in ["k", "s"] {
            let want = distinct_count(&pl, c);
            for (name, s) in schedulers() {
                let got = full.nunique(c).unwrap().compute_with(s).unwrap();
                prop_assert_eq!(got.column(c).unwrap().get(0).unwrap().extract::<u64>(), Some(want), "{} {}", c, name);
                let got = full.nunique_approx(c).unwrap().compute_with(s).unwrap();
                let got = got.column(c).unwrap().u64().unwrap().get(0).unwrap();
                prop_assert!(near_count(got, want), "approx {} {}: {} vs {}", c, name, got, want);
            }
        }

        let qs = [0.0, 0.1, 0.25, 0.5, 0.9, 1.0];
        let q = ddf.quantile(&qs).unwrap();
        for (name, s) in schedulers() {
            let got = q.compute_with(s).unwrap();
            prop_assert_eq!(f64s(&got, "quantile"), qs.to_vec());
            for c in ["k", "x", "f"] {
                let want: Vec<f64> = qs
                    .iter()
                    .map(|&p| {
                        let w = whole(&nums, |lf| {
                            lf.select([col(c)
                                .cast(DataType::Float64)
                                .quantile(lit(p), QuantileMethod::Nearest)])
                        });
                        f64s(&w, c)[0]
                    })
                    .collect();
                let got = f64s(&got, c);
                let same = got.iter().zip(&want).all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
                prop_assert!(same, "{} {}: {:?} vs {:?}", c, name, got, want);
            }
        }
    }

    /// Operations that move rows between partitions: drop_duplicates (whole rows and by a
    /// key), value_counts, nlargest / nsmallest, repartition and head are Polars' on the
    /// whole frame.
    #[test]
    fn row_moving_operations_match_polars_for_any_frame(
        rows in rows(150),
        parts in 1usize..9,
        n in 0usize..20,
        to in 1usize..7,
    ) {
        let pl = frame(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        let all = ["k", "x", "f", "s"];

        let want = sorted(whole(&pl, |lf| lf.unique(None, UniqueKeepStrategy::Any)), &all);
        check_close("drop_duplicates", &ddf.drop_duplicates(&[]).unwrap(), &want, |d| sorted(d, &all));
        // By a key: one row per key (which one is not specified), each a row of the frame.
        let keys = sorted(whole(&pl, |lf| lf.select([col("k")]).unique(None, UniqueKeepStrategy::Any)), &["k"]);
        let by_k = ddf.drop_duplicates(&["k"]).unwrap();
        for (name, s) in schedulers() {
            let got = by_k.compute_with(s).unwrap();
            let got_keys = sorted(got.select(["k"]).unwrap(), &["k"]);
            prop_assert!(got_keys.equals_missing(&keys), "{}: {}", name, got);
            // Adding its rows to the frame's adds no distinct row.
            let distinct = |d: polars::prelude::DataFrame| whole(&d, |lf| lf.unique(None, UniqueKeepStrategy::Any)).height();
            let mut both = pl.clone();
            both.vstack_mut(&got).unwrap();
            prop_assert_eq!(distinct(both), distinct(pl.clone()), "{}: {}", name, got);
        }

        let want = sorted(
            whole(&pl, |lf| {
                lf.drop_nulls(Some(cols(["s"])))
                    .group_by([col("s")])
                    .agg([len().alias("count")])
            }),
            &["s"],
        );
        check_close("value_counts", &ddf.value_counts("s").unwrap(), &want, |d| {
            let counts: Vec<u32> = d.column("count").unwrap().u32().unwrap().into_no_null_iter().collect();
            assert!(counts.windows(2).all(|w| w[0] >= w[1]), "most frequent first: {d}");
            sorted(d, &["s"])
        });

        let order = |descending| SortMultipleOptions::default()
            .with_order_descending(descending)
            .with_nulls_last(true)
            .with_maintain_order(true);
        check(&ddf.nlargest(n, "x").unwrap(), &whole(&pl, |lf| lf.sort(["x"], order(true)).limit(n as IdxSize)));
        check(&ddf.nsmallest(n, "f").unwrap(), &whole(&pl, |lf| lf.sort(["f"], order(false)).limit(n as IdxSize)));

        let r = ddf.repartition(to);
        prop_assert_eq!(r.npartitions(), to);
        check(&r, &pl);
        for (name, s) in schedulers() {
            let got = ddf.head_with(n, s).unwrap();
            prop_assert!(got.equals_missing(&pl.head(Some(n))), "{}: {}", name, got);
        }
    }
}

/// `c` computed on every scheduler, each with its scheduler's name.
fn on_all<C: Collection>(c: &C) -> Vec<(&'static str, C::Output)> {
    schedulers()
        .into_iter()
        .map(|(name, s)| {
            (
                name,
                c.compute_with(s).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        })
        .collect()
}

/// Two values equal, floats within 1e-9 relative.
fn same_value(a: &AnyValue, b: &AnyValue) -> bool {
    match (a.extract::<f64>(), b.extract::<f64>()) {
        (Some(x), Some(y)) if a.dtype().is_float() => (x - y).abs() <= 1e-9 * y.abs().max(1.0),
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A column as a series: per-partition steps, reductions to scalars (type and value),
    /// quantiles, unique values, the top values, a sort, value counts and the head are
    /// Polars' on the whole column.
    #[test]
    fn series_match_polars_for_any_frame(
        rows in rows(150),
        parts in 1usize..9,
        t in -50i64..50,
        n in 0usize..12,
    ) {
        let pl = frame(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        let column = |df: polars::prelude::DataFrame, c: &str| df.column(c).unwrap().as_materialized_series().clone();
        let same = |what: &str, got: &polars::prelude::Series, want: &polars::prelude::Series| {
            assert!(got.equals_missing(want), "{what}: {got}\nwanted\n{want}");
        };

        let x = ddf.series("x").unwrap();
        prop_assert_eq!((x.name(), x.dtype(), x.npartitions()), ("x", &DataType::Int64, ddf.npartitions()));
        let steps = x
            .map(|x| x * lit(3) - lit(1))
            .unwrap()
            .filter(|x| x.gt(lit(t)))
            .unwrap()
            .astype(DataType::Float64)
            .unwrap()
            .fillna(lit(0.5))
            .unwrap()
            .rename("y")
            .unwrap();
        let want = column(
            whole(&pl, |lf| {
                lf.select([(col("x") * lit(3) - lit(1)).alias("x")])
                    .filter(col("x").gt(lit(t)))
                    .select([col("x").cast(DataType::Float64).fill_null(lit(0.5)).alias("y")])
            }),
            "y",
        );
        for (name, got) in on_all(&steps) {
            same(name, &got, &want);
        }
        let upper = ddf.series("s").unwrap().map(|s| s.str().to_uppercase()).unwrap().dropna().unwrap();
        let want = column(whole(&pl, |lf| lf.select([col("s").str().to_uppercase()]).drop_nulls(None)), "s");
        for (name, got) in on_all(&upper) {
            same(name, &got, &want);
        }

        for c in ["x", "f"] {
            let s = ddf.series(c).unwrap();
            let reductions = [
                ("sum", s.sum().unwrap(), col(c).sum()),
                ("min", s.min().unwrap(), col(c).min()),
                ("max", s.max().unwrap(), col(c).max()),
                ("count", s.count().unwrap(), col(c).count()),
                ("mean", s.mean().unwrap(), col(c).mean()),
                ("var", s.var(1).unwrap(), col(c).var(1)),
                ("std", s.std(0).unwrap(), col(c).std(0)),
                ("nunique", s.nunique().unwrap(), col(c).drop_nulls().n_unique().cast(IDX_DTYPE)),
            ];
            for (what, scalar, expr) in reductions {
                let want = whole(&pl, |lf| lf.select([expr]));
                let want = want.column(c).unwrap();
                let want_value = want.get(0).unwrap();
                for (name, got) in on_all(&scalar) {
                    prop_assert_eq!(got.dtype(), want.dtype(), "{} {} {}", c, what, name);
                    prop_assert!(same_value(got.value(), &want_value), "{} {} {}: {:?} vs {:?}", c, what, name, got.value(), want_value);
                }
            }
            let want = distinct_count(&pl, c);
            for (name, got) in on_all(&s.nunique_approx().unwrap()) {
                let got = got.value().extract::<u64>().unwrap();
                prop_assert!(near_count(got, want), "{} nunique_approx {}: {} vs {}", c, name, got, want);
            }
            let qs = [0.0, 0.3, 0.5, 1.0];
            let want: Vec<Option<f64>> = qs.iter().map(|&q| {
                let w = whole(&pl, |lf| lf.select([col(c).cast(DataType::Float64).quantile(lit(q), QuantileMethod::Nearest)]));
                w.column(c).unwrap().f64().unwrap().get(0)
            }).collect();
            for (name, got) in on_all(&s.quantile(&qs).unwrap()) {
                prop_assert_eq!(got.f64().unwrap().to_vec(), want.clone(), "{} quantile {}", c, name);
            }

            let sorted_values = |s: polars::prelude::Series| s.sort(SortOptions::default()).unwrap();
            let want = sorted_values(column(whole(&pl, |lf| lf.select([col(c)]).unique(None, UniqueKeepStrategy::Any)), c));
            for (name, got) in on_all(&s.unique().unwrap()) {
                same(name, &sorted_values(got), &want);
            }
            let order = |descending| SortMultipleOptions::default()
                .with_order_descending(descending)
                .with_nulls_last(true)
                .with_maintain_order(true);
            for descending in [false, true] {
                let want = column(whole(&pl, |lf| lf.select([col(c)]).sort([c], order(descending))), c);
                for (name, got) in on_all(&s.sort_values(descending).unwrap()) {
                    same(name, &got, &want);
                }
                let top = if descending { s.nlargest(n) } else { s.nsmallest(n) }.unwrap();
                for (name, got) in on_all(&top) {
                    same(name, &got, &want.head(Some(n)));
                }
            }
            for (name, s2) in schedulers() {
                same(name, &s.head_with(n, s2).unwrap(), &column(pl.head(Some(n)), c));
            }
            for (name, got) in on_all(&s.repartition(n + 1)) {
                same(name, &got, &column(pl.clone(), c));
            }
            let counts = s.value_counts().unwrap();
            let want = sorted(whole(&pl, |lf| lf.drop_nulls(Some(cols([c]))).group_by([col(c)]).agg([len().alias("count")])), &[c]);
            check_close("value_counts", &counts, &want, |d| sorted(d, &[c]));
        }
    }
}
