//! rask-dataframe's tests: every operation against the same Polars operation on the whole
//! frame, on the sync, threaded and process schedulers; files; errors.

use std::sync::OnceLock;

mod distributed;
mod props;

use polars::prelude::*;
use rask_dataframe::{Compression, DataFrame, FrameError, How, Merge};
use rask_graph::files::FilesError;
use rask_graph::{Collection, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};
use rask_multiprocess::ProcessScheduler;

fn schedulers() -> [(&'static str, &'static dyn Scheduler); 3] {
    static THREADED: OnceLock<ThreadedScheduler> = OnceLock::new();
    static POOL: OnceLock<ProcessScheduler> = OnceLock::new();
    let threaded =
        THREADED.get_or_init(|| ThreadedScheduler::builder().num_workers(3).build().unwrap());
    let pool = POOL.get_or_init(|| ProcessScheduler::builder().num_workers(2).build().unwrap());
    [
        ("sync", &SyncScheduler),
        ("threaded", threaded),
        ("processes", pool),
    ]
}

/// `c` on every scheduler, each result equal to `want`.
fn check<C: Collection<Output = polars::prelude::DataFrame>>(
    c: &C,
    want: &polars::prelude::DataFrame,
) {
    for (name, s) in schedulers() {
        let got = c.compute_with(s).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got.equals_missing(want), "{name}:\n{got}\nwanted\n{want}");
    }
}

/// `c` on every scheduler, each result made comparable by `canon` and then close to `want`
/// (floats within 1e-9 relative, everything else equal).
fn check_close<C: Collection<Output = polars::prelude::DataFrame>>(
    what: &str,
    c: &C,
    want: &polars::prelude::DataFrame,
    canon: impl Fn(polars::prelude::DataFrame) -> polars::prelude::DataFrame,
) {
    for (name, s) in schedulers() {
        let got = c
            .compute_with(s)
            .unwrap_or_else(|e| panic!("{what}, {name}: {e}"));
        assert_close(&format!("{what}, {name}"), &canon(got), want);
    }
}

fn sample(n: usize) -> polars::prelude::DataFrame {
    let k: Vec<&str> = (0..n).map(|i| ["a", "b", "c"][i % 3]).collect();
    let x: Vec<i64> = (0..n as i64).map(|i| (i * 37) % 101 - 50).collect();
    let y: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 7 != 0).then_some(i as f64 / 4.0))
        .collect();
    df!("k" => k, "x" => x, "y" => y).unwrap()
}

fn whole(
    df: &polars::prelude::DataFrame,
    f: impl FnOnce(LazyFrame) -> LazyFrame,
) -> polars::prelude::DataFrame {
    f(df.clone().lazy()).collect().unwrap()
}

#[test]
fn per_partition_steps_match_polars_on_the_whole_frame() {
    for (rows, parts) in [(0, 1), (1, 3), (10, 3), (101, 4)] {
        let pl = sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        assert_eq!(ddf.npartitions(), parts.min(rows.max(1)));
        check(&ddf, &pl);
        let steps = ddf
            .filter(col("x").gt(lit(0)))
            .unwrap()
            .with_columns([
                (col("x") * lit(2)).alias("x2"),
                col("k").str().to_uppercase().alias("K"),
            ])
            .unwrap()
            .rename(&[("y", "why")])
            .unwrap()
            .drop(&["k"])
            .unwrap();
        let want = whole(&pl, |lf| {
            lf.filter(col("x").gt(lit(0)))
                .with_columns([
                    (col("x") * lit(2)).alias("x2"),
                    col("k").str().to_uppercase().alias("K"),
                ])
                .rename(["y"], ["why"], true)
                .drop(cols(["k"]))
        });
        check(&steps, &want);
        assert_eq!(steps.columns(), ["x", "why", "x2", "K"]);
        // The whole run of steps is one task per partition.
        assert_eq!(steps.graph().len(), ddf.npartitions());
        let sel = ddf
            .select([col("y"), (col("x") + lit(1)).alias("x1")])
            .unwrap();
        check(
            &sel,
            &whole(&pl, |lf| {
                lf.select([col("y"), (col("x") + lit(1)).alias("x1")])
            }),
        );
    }
}

#[test]
fn astype_fillna_dropna_match_polars() {
    for (rows, parts) in [(0, 1), (10, 3), (101, 4)] {
        let pl = grouped_sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        check(
            &ddf.astype(&[("x", DataType::Float64), ("g", DataType::Int32)])
                .unwrap(),
            &whole(&pl, |lf| {
                lf.with_columns([
                    col("x").cast(DataType::Float64),
                    col("g").cast(DataType::Int32),
                ])
            }),
        );
        check(
            &ddf.fillna(lit(0)).unwrap(),
            &whole(&pl, |lf| lf.fill_null(lit(0))),
        );
        check(
            &ddf.dropna(&[]).unwrap(),
            &whole(&pl, |lf| lf.drop_nulls(None)),
        );
        check(
            &ddf.dropna(&["g"]).unwrap(),
            &whole(&pl, |lf| lf.drop_nulls(Some(cols(["g"])))),
        );
    }
    let ddf = DataFrame::from_polars(grouped_sample(5), 2);
    let e = ddf.astype(&[("xx", DataType::Int8)]).unwrap_err();
    assert_eq!(e.to_string(), r#"no column "xx" (did you mean "x"?)"#);
    let e = ddf.dropna(&["why"]).unwrap_err();
    assert!(matches!(e, FrameError::Column { .. }), "{e}");
}

#[test]
fn explain_shows_the_layers_and_the_pushed_down_polars_plan() {
    let dir = std::env::temp_dir().join(format!("rask-dataframe-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut pl = grouped_sample(20);
    ParquetWriter::new(std::fs::File::create(dir.join("a.parquet")).unwrap())
        .finish(&mut pl)
        .unwrap();
    let ddf = DataFrame::read_parquet(dir.join("a.parquet").to_str().unwrap()).unwrap();
    let plan = ddf
        .filter(col("x").gt(lit(0)))
        .unwrap()
        .select([col("k")])
        .unwrap()
        .explain()
        .unwrap();
    assert!(
        plan.starts_with("rask.DataFrame<npartitions=1>\nlayers:\n  frame-"),
        "{plan}"
    );
    assert!(plan.contains("partition 0, in Polars:"), "{plan}");
    // The filter and the projection are pushed into the Parquet scan.
    assert!(
        plan.contains("Parquet SCAN") && plan.contains("PROJECT"),
        "{plan}"
    );
    let g = DataFrame::from_polars(pl, 3)
        .groupby(["k"])
        .unwrap()
        .split_out(2)
        .sum()
        .unwrap();
    let plan = g.explain().unwrap();
    assert!(
        plan.contains("groupby-aggregate-") && plan.contains("(2 tasks)"),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[rask_macros::named(crate = rask_graph)]
fn with_total(df: &polars::prelude::DataFrame) -> PolarsResult<polars::prelude::DataFrame> {
    df.clone()
        .lazy()
        .with_columns([(col("x") + col("x").sum()).alias("x_plus_total")])
        .collect()
}

#[test]
fn map_partitions_runs_a_named_function_anywhere_and_a_closure_in_process() {
    let pl = sample(40);
    let ddf = DataFrame::from_polars(pl.clone(), 3);
    let mapped = ddf
        .filter(col("x").gt(lit(-20)))
        .unwrap()
        .map_partitions(with_total)
        .unwrap();
    assert_eq!(mapped.columns(), ["k", "x", "y", "x_plus_total"]);
    // Per partition: each partition's own total.
    let mut want: Option<polars::prelude::DataFrame> = None;
    for (offset, len) in [(0, 14), (14, 13), (27, 13)] {
        let part = pl
            .slice(offset, len)
            .lazy()
            .filter(col("x").gt(lit(-20)))
            .collect()
            .unwrap();
        let part = with_total(&part).unwrap();
        want = Some(match want {
            None => part,
            Some(mut w) => {
                w.vstack_mut(&part).unwrap();
                w
            }
        });
    }
    check(&mapped, &want.unwrap());
    // Steps after it fuse into the next layer.
    check(
        &mapped.select([col("x_plus_total")]).unwrap().sum().unwrap(),
        &mapped
            .compute_with(&SyncScheduler)
            .unwrap()
            .lazy()
            .select([col("x_plus_total").sum()])
            .collect()
            .unwrap(),
    );
    // A closure: in process, yes; across processes, an error naming its task.
    let doubled = ddf
        .map_partitions(|df| {
            df.clone()
                .lazy()
                .with_columns([col("x") * lit(2)])
                .collect()
        })
        .unwrap();
    let want = whole(&pl, |lf| lf.with_columns([col("x") * lit(2)]));
    for (name, s) in schedulers() {
        match (name, doubled.compute_with(s)) {
            ("processes", Err(e)) => assert!(e.to_string().contains("closure"), "{e}"),
            (_, Ok(got)) => assert!(got.equals_missing(&want), "{name}"),
            (_, Err(e)) => panic!("{name}: {e}"),
        }
    }
    // A function that fails on an empty frame cannot give a schema.
    let e = ddf
        .map_partitions(|df| {
            df.column("x")?
                .as_materialized_series()
                .get(0)
                .map(|_| df.clone())
        })
        .unwrap_err();
    assert!(
        matches!(e, FrameError::Plan { .. }) && e.to_string().contains("map_partitions"),
        "{e}"
    );
}

#[test]
fn shuffle_drop_duplicates_nunique_value_counts_and_top_rows_match_polars() {
    for (rows, parts) in [(0, 1), (1, 2), (10, 3), (200, 5)] {
        let pl = grouped_sample(rows);
        let all = ["k", "g", "x", "y"];
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        // A shuffle keeps every row, and puts each key in one partition.
        let sh = ddf.shuffle(["k"], 3).unwrap();
        assert_eq!(sh.npartitions(), 3);
        check_close("shuffle", &sh, &sorted(pl.clone(), &all), |d| {
            sorted(d, &all)
        });
        let values = SyncScheduler
            .get(sh.graph(), &sh.output_keys(), &[])
            .unwrap();
        let mut home = std::collections::HashMap::new();
        for (j, v) in values.iter().enumerate() {
            let part = &v.get::<rask_dataframe::Frame>().unwrap().0;
            for k in part.column("k").unwrap().str().unwrap().iter().flatten() {
                assert_eq!(
                    *home.entry(k.to_string()).or_insert(j),
                    j,
                    "key {k} in two partitions"
                );
            }
        }
        let dd = ddf
            .select([col("k"), col("g")])
            .unwrap()
            .drop_duplicates(&[])
            .unwrap();
        let want = sorted(
            whole(&pl, |lf| {
                lf.select([col("k"), col("g")])
                    .unique(None, UniqueKeepStrategy::Any)
            }),
            &["k", "g"],
        );
        check_close("drop_duplicates", &dd, &want, |d| sorted(d, &["k", "g"]));
        let by_k = ddf
            .drop_duplicates(&["k"])
            .unwrap()
            .compute_with(&SyncScheduler)
            .unwrap();
        assert_eq!(
            by_k.height(),
            whole(&pl, |lf| lf
                .select([col("k")])
                .unique(None, UniqueKeepStrategy::Any))
            .height()
        );
        let n = ddf
            .nunique("g")
            .unwrap()
            .compute_with(&SyncScheduler)
            .unwrap();
        let want_n = whole(&pl, |lf| lf.select([col("g").drop_nulls().n_unique()]));
        assert_eq!(
            n.column("g").unwrap().get(0).unwrap().extract::<u64>(),
            want_n.column("g").unwrap().get(0).unwrap().extract::<u64>(),
            "{rows}"
        );
        let vc = ddf.value_counts("g").unwrap();
        let want = whole(&pl, |lf| {
            lf.drop_nulls(Some(cols(["g"])))
                .group_by([col("g")])
                .agg([len().alias("count")])
                .sort(
                    ["count", "g"],
                    SortMultipleOptions::default().with_order_descending_multi([true, false]),
                )
        });
        for (name, s) in schedulers() {
            let got = vc.compute_with(s).unwrap();
            // Most frequent first; ties in any order.
            let counts: Vec<u32> = got
                .column("count")
                .unwrap()
                .u32()
                .unwrap()
                .into_no_null_iter()
                .collect();
            assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{name}: {got}");
            assert_close(
                name,
                &sorted(got, &["count", "g"]),
                &sorted(want.clone(), &["count", "g"]),
            );
        }
        for n in [0, 1, 3, 500] {
            let desc = SortMultipleOptions::default()
                .with_order_descending(true)
                .with_nulls_last(true)
                .with_maintain_order(true);
            let asc = SortMultipleOptions::default()
                .with_nulls_last(true)
                .with_maintain_order(true);
            check(
                &ddf.nlargest(n, "y").unwrap(),
                &whole(&pl, |lf| lf.sort(["y"], desc).limit(n as IdxSize)),
            );
            check(
                &ddf.nsmallest(n, "x").unwrap(),
                &whole(&pl, |lf| lf.sort(["x"], asc).limit(n as IdxSize)),
            );
        }
    }
    let e = DataFrame::from_polars(grouped_sample(5), 2)
        .nlargest(2, "z")
        .unwrap_err();
    assert!(matches!(e, FrameError::Column { .. }), "{e}");
}

#[test]
fn sort_values_is_a_stable_sort_of_the_whole_frame() {
    for (rows, parts) in [(0, 1), (1, 3), (10, 3), (500, 7)] {
        let pl = grouped_sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        for (by, descending) in [("x", false), ("y", true), ("g", false), ("k", true)] {
            let sorted_dd = ddf.sort_values(by, descending).unwrap();
            assert_eq!(sorted_dd.npartitions(), parts.min(rows.max(1)));
            let order = SortMultipleOptions::default()
                .with_order_descending(descending)
                .with_nulls_last(true)
                .with_maintain_order(true);
            let want = whole(&pl, |lf| lf.sort([by], order));
            for (name, s) in schedulers() {
                let got = sorted_dd
                    .compute_with(s)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                // Row for row: ties stay in their order, as a stable sort of the whole.
                assert!(
                    got.equals_missing(&want),
                    "{name} {by} {descending} {rows}:\n{got}\nwanted\n{want}"
                );
            }
        }
    }
    let e = DataFrame::from_polars(grouped_sample(5), 2)
        .sort_values("q", false)
        .unwrap_err();
    assert!(matches!(e, FrameError::Column { .. }), "{e}");
}

#[test]
fn repartition_keeps_the_rows_in_order() {
    for (rows, parts) in [(0, 1), (1, 3), (10, 3), (101, 4)] {
        let pl = sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts)
            .filter(col("x").gt(lit(-40)))
            .unwrap();
        let want = whole(&pl, |lf| lf.filter(col("x").gt(lit(-40))));
        for n in [1, 2, 3, 7, 12] {
            let r = ddf.repartition(n);
            assert_eq!(r.npartitions(), n, "{rows} rows, {parts} to {n}");
            check(&r, &want);
            // Cutting spreads the rows evenly: no part more than one row longer than another.
            if n > ddf.npartitions() && ddf.npartitions() == 1 {
                let values = SyncScheduler.get(r.graph(), &r.output_keys(), &[]).unwrap();
                let lens: Vec<usize> = values
                    .iter()
                    .map(|v| v.get::<rask_dataframe::Frame>().unwrap().0.height())
                    .collect();
                let (lo, hi) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                assert!(hi - lo <= 1, "{lens:?}");
            }
        }
    }
}

#[test]
fn reductions_match_polars() {
    for (rows, parts) in [(0, 1), (5, 2), (101, 4), (300, 17)] {
        let pl = sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        let num = [col("x"), col("y")];
        check(
            &ddf.sum().unwrap(),
            &whole(&pl, |lf| lf.select([col("x").sum(), col("y").sum()])),
        );
        check(
            &ddf.min().unwrap(),
            &whole(&pl, |lf| lf.select(num.clone().map(|c| c.min()))),
        );
        check(
            &ddf.max().unwrap(),
            &whole(&pl, |lf| lf.select(num.clone().map(|c| c.max()))),
        );
        let counts = whole(&pl, |lf| {
            lf.select([col("k"), col("x"), col("y")].map(|c| c.count()))
        });
        check(&ddf.count().unwrap(), &counts);
        // Means: a sum and a count per partition, divided at the end (within rounding).
        let want = whole(&pl, |lf| lf.select([col("x").mean(), col("y").mean()]));
        for (name, s) in schedulers() {
            let got = ddf.mean().unwrap().compute_with(s).unwrap();
            assert_eq!(got.get_column_names(), want.get_column_names(), "{name}");
            for c in ["x", "y"] {
                let (g, w) = (
                    got.column(c).unwrap().f64().unwrap().get(0),
                    want.column(c).unwrap().f64().unwrap().get(0),
                );
                match (g, w) {
                    (Some(g), Some(w)) => assert!(
                        (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                        "{name} {c}: {g} vs {w}"
                    ),
                    _ => assert_eq!(g, w, "{name} {c}: rows {rows}"),
                }
            }
        }
        // After steps too.
        let pos = ddf.filter(col("x").gt(lit(0))).unwrap();
        check(
            &pos.sum().unwrap(),
            &whole(&pl, |lf| {
                lf.filter(col("x").gt(lit(0)))
                    .select([col("x").sum(), col("y").sum()])
            }),
        );
    }
}

/// `got` equal to `want` but for float rounding (relative 1e-9).
fn assert_close(what: &str, got: &polars::prelude::DataFrame, want: &polars::prelude::DataFrame) {
    assert_eq!(
        got.schema(),
        want.schema(),
        "{what}:\n{got}\nwanted\n{want}"
    );
    assert_eq!(
        got.height(),
        want.height(),
        "{what}:\n{got}\nwanted\n{want}"
    );
    for (g, w) in got.columns().iter().zip(want.columns()) {
        if let (Ok(g), Ok(w)) = (g.f64(), w.f64()) {
            for (i, (a, b)) in g.iter().zip(w.iter()).enumerate() {
                let ok = match (a, b) {
                    (Some(a), Some(b)) => {
                        (a - b).abs() <= 1e-9 * b.abs().max(1.0) || (a.is_nan() && b.is_nan())
                    }
                    (a, b) => a == b,
                };
                assert!(ok, "{what}: {} row {i}: {a:?} vs {b:?}", g.name());
            }
        } else {
            assert!(
                g.equals_missing(w),
                "{what}: {}:\n{got}\nwanted\n{want}",
                g.name()
            );
        }
    }
}

/// The names of `df`'s columns (to sort rows by all of them).
fn column_names(df: &polars::prelude::DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect()
}

/// Groups sorted by their keys (a shuffle's come out in hash order).
fn sorted<S: AsRef<str>>(df: polars::prelude::DataFrame, keys: &[S]) -> polars::prelude::DataFrame {
    df.lazy()
        .sort(
            keys.iter().map(AsRef::as_ref),
            SortMultipleOptions::default().with_nulls_last(false),
        )
        .collect()
        .unwrap()
}

/// A frame with string and integer keys (some null) and values with nulls.
fn grouped_sample(n: usize) -> polars::prelude::DataFrame {
    let k: Vec<&str> = (0..n).map(|i| ["a", "b", "c", "d"][(i * 7) % 4]).collect();
    let g: Vec<Option<i64>> = (0..n)
        .map(|i| (i % 11 != 3).then_some((i % 5) as i64))
        .collect();
    let x: Vec<i64> = (0..n as i64).map(|i| (i * 37) % 101 - 50).collect();
    let y: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 7 != 0).then_some((i as f64).sin() * 100.0))
        .collect();
    df!("k" => k, "g" => g, "x" => x, "y" => y).unwrap()
}

/// One of each aggregation a grouping splits across partitions, of `x` (integers) and `y`
/// (floats with nulls).
fn every_aggregation() -> [Expr; 8] {
    [
        col("x").sum(),
        col("y").mean(),
        col("x").min().alias("x_min"),
        col("y").max().alias("y_max"),
        col("y").count().alias("y_count"),
        col("x").len().alias("n"),
        col("y").var(1).alias("y_var"),
        col("x").std(0).alias("x_std"),
    ]
}

#[test]
fn groupby_agg_matches_polars_as_a_tree_and_as_a_shuffle() {
    let aggs = every_aggregation();
    for (rows, parts) in [(0, 1), (1, 3), (10, 3), (101, 4), (500, 9)] {
        let pl = grouped_sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        for keys in [&["k"][..], &["k", "g"]] {
            let want = sorted(
                whole(&pl, |lf| {
                    lf.group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
                        .agg(aggs.clone())
                }),
                keys,
            );
            for split_out in [1, 3] {
                let g = ddf
                    .groupby(keys)
                    .unwrap()
                    .split_out(split_out)
                    .split_every(2);
                let got = g.agg(aggs.clone()).unwrap();
                assert_eq!(got.npartitions(), split_out);
                assert_eq!(got.schema(), &**want.schema());
                for (name, s) in schedulers() {
                    let what = format!(
                        "{rows} rows, {parts} parts, {keys:?}, split_out {split_out}, {name}"
                    );
                    let have = got
                        .compute_with(s)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    let have = if split_out == 1 {
                        have
                    } else {
                        sorted(have, keys)
                    };
                    assert_close(&what, &have, &want);
                }
            }
        }
    }
}

#[test]
fn groupby_of_mostly_distinct_keys_shuffles_rows_and_matches_polars() {
    // Keys mostly distinct (some repeated, some null): the sample says partial aggregates
    // would not halve the rows, so the rows themselves are shuffled.
    let n = 12_000usize;
    let id: Vec<Option<i64>> = (0..n)
        .map(|i| (i % 97 != 0).then_some((i % 10_000) as i64))
        .collect();
    let x: Vec<i64> = (0..n as i64).map(|i| (i * 37) % 101 - 50).collect();
    let y: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 7 != 0).then_some((i as f64).cos()))
        .collect();
    let pl = df!("id" => id, "x" => x, "y" => y).unwrap();
    let aggs = every_aggregation();
    let want = sorted(
        whole(&pl, |lf| lf.group_by([col("id")]).agg(aggs.clone())),
        &["id"],
    );
    let ddf = DataFrame::from_polars(pl, 6);
    for split_out in [None, Some(4)] {
        let mut g = ddf.groupby(["id"]).unwrap();
        if let Some(n) = split_out {
            g = g.split_out(n);
        }
        let got = g.agg(aggs.clone()).unwrap();
        assert!(got.npartitions() > 1);
        assert!(
            got.explain().unwrap().contains("split-"),
            "rows are split, not partials"
        );
        check_close(&format!("{split_out:?}"), &got, &want, |d| {
            sorted(d, &["id"])
        });
    }
}

#[test]
fn groupby_shorthands_aggregate_every_other_column() {
    let pl = grouped_sample(200);
    let ddf = DataFrame::from_polars(pl.clone(), 5);
    let g = ddf.groupby(["k"]).unwrap();
    let by_k = |aggs: Vec<Expr>| sorted(whole(&pl, |lf| lf.group_by([col("k")]).agg(aggs)), &["k"]);
    let num = || [col("g"), col("x"), col("y")];
    let sync = |d: DataFrame| d.compute_with(&SyncScheduler).unwrap();
    type Shorthand = fn(&rask_dataframe::GroupBy) -> Result<DataFrame, FrameError>;
    type Case = (&'static str, Shorthand, fn(Expr) -> Expr);
    let cases: [Case; 7] = [
        ("sum", |g| g.sum(), |c| c.sum()),
        ("mean", |g| g.mean(), |c| c.mean()),
        ("min", |g| g.min(), |c| c.min()),
        ("max", |g| g.max(), |c| c.max()),
        ("count", |g| g.count(), |c| c.count()),
        ("var", |g| g.var(1), |c| c.var(1)),
        ("std", |g| g.std(1), |c| c.std(1)),
    ];
    for (name, ours, polars) in cases {
        assert_close(
            name,
            &sync(ours(&g).unwrap()),
            &by_k(num().map(polars).into()),
        );
    }
    assert_close(
        "size",
        &sync(g.size().unwrap()),
        &by_k(vec![len().alias("size")]),
    );
    // Dates take minima and maxima too, as the whole frame's do; sums pass them over.
    let dated = whole(&pl, |lf| {
        lf.with_column(col("x").cast(DataType::Date).alias("d"))
    });
    let g = DataFrame::from_polars(dated.clone(), 5)
        .groupby(["k"])
        .unwrap();
    let all = || [col("g"), col("x"), col("y"), col("d")];
    let by_k = |aggs: Vec<Expr>| {
        sorted(
            whole(&dated, |lf| lf.group_by([col("k")]).agg(aggs)),
            &["k"],
        )
    };
    let by_key = |d| sorted(d, &["k"]);
    check_close(
        "dated min",
        &g.min().unwrap(),
        &by_k(all().map(|c| c.min()).into()),
        by_key,
    );
    check_close(
        "dated max",
        &g.max().unwrap(),
        &by_k(all().map(|c| c.max()).into()),
        by_key,
    );
    check_close(
        "dated sum",
        &g.sum().unwrap(),
        &by_k(num().map(|c| c.sum()).into()),
        by_key,
    );
    // After steps, with the groups that a filter leaves.
    let f = ddf
        .filter(col("x").gt(lit(10)))
        .unwrap()
        .groupby(["g"])
        .unwrap()
        .sum()
        .unwrap();
    let want = sorted(
        whole(&pl, |lf| {
            lf.filter(col("x").gt(lit(10)))
                .group_by([col("g")])
                .agg([col("x").sum(), col("y").sum()])
        }),
        &["g"],
    );
    check_close("filtered groupby", &f, &want, |d| d);
}

#[test]
fn whole_frame_variance_merges_partitions_exactly() {
    for (rows, parts) in [(0, 1), (1, 1), (2, 2), (101, 4), (300, 17)] {
        let pl = grouped_sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        for ddof in [0, 1] {
            let want = whole(&pl, |lf| {
                lf.select([col("g").var(ddof), col("x").var(ddof), col("y").var(ddof)])
            });
            let got = ddf.var(ddof).unwrap().compute_with(&SyncScheduler).unwrap();
            assert_close(&format!("var {rows} {parts} {ddof}"), &got, &want);
            let want = whole(&pl, |lf| {
                lf.select([col("g").std(ddof), col("x").std(ddof), col("y").std(ddof)])
            });
            let got = ddf.std(ddof).unwrap().compute_with(&SyncScheduler).unwrap();
            assert_close(&format!("std {rows} {parts} {ddof}"), &got, &want);
        }
    }
    // Large values with a small spread: a sum of squares would lose every digit.
    let x: Vec<f64> = (0..1000).map(|i| 1e9 + f64::from(i % 10)).collect();
    let pl = df!("x" => x).unwrap();
    let got = DataFrame::from_polars(pl.clone(), 7)
        .var(1)
        .unwrap()
        .compute_with(&SyncScheduler)
        .unwrap();
    assert_close(
        "offset variance",
        &got,
        &whole(&pl, |lf| lf.select([col("x").var(1)])),
    );
}

#[test]
fn groupby_picks_a_shuffle_when_most_keys_are_distinct() {
    let n = 20_000i64;
    let pl = df!("id" => (0..n).collect::<Vec<_>>(), "few" => (0..n).map(|i| i % 10).collect::<Vec<_>>(), "v" => vec![1i64; n as usize]).unwrap();
    let ddf = DataFrame::from_polars(pl.clone(), 8);
    let many = ddf.groupby(["id"]).unwrap().sum().unwrap();
    assert!(many.npartitions() > 1, "{many}");
    let got = sorted(many.compute_with(&SyncScheduler).unwrap(), &["id"]);
    assert_eq!(got.height(), n as usize);
    check(
        &ddf.groupby(["few"]).unwrap().split_out(1).sum().unwrap(),
        &sorted(
            whole(&pl, |lf| {
                lf.group_by([col("few")])
                    .agg([col("id").sum(), col("v").sum()])
            }),
            &["few"],
        ),
    );
    assert_eq!(
        ddf.groupby(["few"]).unwrap().sum().unwrap().npartitions(),
        1
    );
    // Every group in exactly one output partition.
    let parts = many.compute_with(&SyncScheduler).unwrap();
    assert_eq!(
        parts
            .column("v")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .filter(|v| *v != 1)
            .count(),
        0
    );
}

#[test]
fn groupby_errors_name_the_column_and_the_nearest() {
    let ddf = DataFrame::from_polars(grouped_sample(10), 2);
    let e = ddf.groupby(["kk"]).unwrap_err();
    assert_eq!(e.to_string(), r#"no column "kk" (did you mean "k"?)"#);
    let e = ddf.groupby(["zzzzzz"]).unwrap_err();
    assert_eq!(e.to_string(), r#"no column "zzzzzz""#);
    let g = ddf.groupby(["k"]).unwrap();
    let e = g.agg([col("yy").sum()]).unwrap_err();
    assert!(
        matches!(&e, FrameError::Column { name, nearest: Some(n) } if name == "yy" && n == "y"),
        "{e}"
    );
    let e = g.agg([col("x").median()]).unwrap_err();
    assert!(
        matches!(e, FrameError::Plan { .. }) && e.to_string().contains("not an aggregation"),
        "{e}"
    );
    let e = g.agg([col("x").sum(), col("x").mean()]).unwrap_err();
    assert!(e.to_string().contains("named twice"), "{e}");
    let e = g.agg([col("k").sum()]).unwrap_err();
    assert!(e.to_string().contains("named twice"), "{e}");
    let e = ddf.groupby(Vec::<String>::new()).unwrap_err();
    assert!(e.to_string().contains("no key"), "{e}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any frame, any partitioning, any tree width or shuffle width: the groups and their
    /// integer aggregates are Polars' exactly.
    #[test]
    fn groupby_matches_polars_for_any_frame(
        rows in proptest::collection::vec(
            (proptest::option::weighted(0.9, 0i64..6), proptest::option::weighted(0.8, -1000i64..1000)),
            0..200,
        ),
        parts in 1usize..9,
        split_out in 1usize..5,
        split_every in 2usize..5,
    ) {
        let (k, v): (Vec<Option<i64>>, Vec<Option<i64>>) = rows.into_iter().unzip();
        let pl = df!("k" => k, "v" => v).unwrap();
        let aggs = [
            col("v").sum(),
            col("v").min().alias("min"),
            col("v").max().alias("max"),
            col("v").count().alias("count"),
            col("v").len().alias("len"),
        ];
        let grouped = DataFrame::from_polars(pl.clone(), parts)
            .groupby(["k"])
            .unwrap()
            .split_out(split_out)
            .split_every(split_every)
            .agg(aggs.clone())
            .unwrap();
        let want = sorted(whole(&pl, |lf| lf.group_by([col("k")]).agg(aggs)), &["k"]);
        for (name, s) in schedulers() {
            let got = sorted(grouped.compute_with(s).unwrap(), &["k"]);
            proptest::prop_assert!(got.equals_missing(&want), "{name}: {got}\nwanted\n{want}");
        }
    }
}

#[test]
fn head_computes_only_the_partitions_it_needs() {
    let pl = sample(100);
    let ddf = DataFrame::from_polars(pl.clone(), 10);
    for (name, s) in schedulers() {
        for n in [0, 3, 10, 25, 200] {
            let got = ddf.head_with(n, s).unwrap();
            assert!(got.equals_missing(&pl.head(Some(n))), "{name}, {n}: {got}");
        }
    }
}

#[test]
fn parquet_and_csv_files_are_partitions() {
    let dir = std::env::temp_dir().join(format!("rask-dataframe-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pl = sample(90);
    for i in 0..3 {
        let mut part = pl.slice(i * 30, 30);
        ParquetWriter::new(std::fs::File::create(dir.join(format!("p{i}.parquet"))).unwrap())
            .finish(&mut part)
            .unwrap();
        CsvWriter::new(std::fs::File::create(dir.join(format!("c{i}.csv"))).unwrap())
            .finish(&mut part)
            .unwrap();
    }
    let pq = DataFrame::read_parquet(&format!("{}/p*.parquet", dir.display())).unwrap();
    assert_eq!(pq.npartitions(), 3);
    check(&pq, &pl);
    let q = pq
        .filter(col("k").eq(lit("b")))
        .unwrap()
        .select([col("x")])
        .unwrap();
    check(
        &q,
        &whole(&pl, |lf| {
            lf.filter(col("k").eq(lit("b"))).select([col("x")])
        }),
    );
    check(
        &q.sum().unwrap(),
        &whole(&pl, |lf| {
            lf.filter(col("k").eq(lit("b"))).select([col("x").sum()])
        }),
    );
    let csv = DataFrame::read_csv(&format!("{}/c*.csv", dir.display())).unwrap();
    assert_eq!(csv.columns(), ["k", "x", "y"]);
    check(&csv, &pl);
    // Files whose columns differ, where the metadata tells: an error when the dataframe is
    // built, naming the file and the difference.
    let write_pq = |name: &str, mut df: polars::prelude::DataFrame| {
        ParquetWriter::new(std::fs::File::create(dir.join(name)).unwrap())
            .finish(&mut df)
            .unwrap();
    };
    for (other, difference) in [
        (df!("k" => ["a"], "x" => [1i64]).unwrap(), "no column \"y\""),
        (
            df!("k" => ["a"], "x" => [1i64], "y" => [1.0], "z" => [1]).unwrap(),
            "an extra column \"z\"",
        ),
        (
            df!("k" => ["a"], "y" => [1.0], "x" => [1i64]).unwrap(),
            "another order",
        ),
        (
            df!("k" => ["a"], "x" => [1.5], "y" => [1.0]).unwrap(),
            "column \"x\" is f64, not i64",
        ),
    ] {
        write_pq("s0.parquet", pl.slice(0, 5));
        write_pq("s1.parquet", other);
        let e = DataFrame::read_parquet(&format!("{}/s*.parquet", dir.display())).unwrap_err();
        assert!(matches!(e, FrameError::Schemas { .. }), "{e}");
        let e = e.to_string();
        assert!(
            e.contains("s1.parquet: its columns differ from those of") && e.contains(difference),
            "{e}"
        );
    }
    std::fs::write(dir.join("h0.csv"), "k,x\na,1\n").unwrap();
    std::fs::write(dir.join("h1.csv"), "k,w\nb,2\n").unwrap();
    let e = DataFrame::read_csv(&format!("{}/h*.csv", dir.display()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("h1.csv: its columns differ") && e.contains("no column \"x\""),
        "{e}"
    );
    // A later file whose values do not fit the first file's types: an error naming it.
    std::fs::write(dir.join("m0.csv"), "k,x\na,1\nb,2\n").unwrap();
    std::fs::write(dir.join("m1.csv"), "k,x\nc,1.5\n").unwrap();
    let mixed = DataFrame::read_csv(&format!("{}/m*.csv", dir.display())).unwrap();
    for (name, s) in schedulers() {
        let err = mixed.compute_with(s).unwrap_err().to_string();
        assert!(err.contains("m1.csv"), "{name}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Polars' `Nearest` quantile of column `c` as `f64`s.
fn nearest(pl: &polars::prelude::DataFrame, c: &str, q: f64) -> Option<f64> {
    let s = pl
        .column(c)
        .unwrap()
        .as_materialized_series()
        .cast(&DataType::Float64)
        .unwrap();
    s.f64()
        .unwrap()
        .quantile(q, QuantileMethod::Nearest)
        .unwrap()
}

#[test]
fn quantiles_are_exact_on_small_partitions_and_near_on_large_ones() {
    let qs = [0.0, 0.1, 0.25, 0.5, 0.9, 1.0];
    for (rows, parts) in [(0, 1), (1, 1), (10, 3), (101, 4), (3000, 5)] {
        let pl = sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        let want = df!(
            "quantile" => qs,
            "x" => qs.iter().map(|q| nearest(&pl, "x", *q)).collect::<Vec<_>>(),
            "y" => qs.iter().map(|q| nearest(&pl, "y", *q)).collect::<Vec<_>>()
        )
        .unwrap();
        check(&ddf.quantile(&qs).unwrap(), &want);
    }
    // 400k distinct values in 40 partitions of 10k: two levels of merged summaries. The
    // rank of each value found is within 1% of the rank asked for.
    let n = 400_000i64;
    let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 400_009) as f64).collect();
    let mut sorted_x = x.clone();
    sorted_x.sort_by(f64::total_cmp);
    let ddf = DataFrame::from_polars(df!("x" => x).unwrap(), 40);
    for (name, s) in schedulers() {
        let got = ddf.quantile(&qs).unwrap().compute_with(s).unwrap();
        for (q, v) in qs
            .iter()
            .zip(got.column("x").unwrap().f64().unwrap().iter())
        {
            let rank = sorted_x.partition_point(|a| *a < v.unwrap()) as f64;
            let want = q * (n - 1) as f64;
            assert!(
                (rank - want).abs() <= 0.01 * n as f64,
                "{name}: q {q}: rank {rank}, wanted {want}"
            );
        }
    }
    let e = DataFrame::from_polars(sample(3), 1)
        .quantile(&[-0.1])
        .unwrap_err();
    assert!(e.to_string().contains("-0.1"), "{e}");
    // A numeric column named as the column of quantiles: refused as a frame, summarized as a
    // series.
    let named = DataFrame::from_polars(df!("quantile" => [3.0, 1.0, 2.0]).unwrap(), 2);
    insta::assert_snapshot!(named.quantile(&[0.5]).unwrap_err(), @r#"quantile: the numeric column "quantile" has the name of the column of quantiles: rename it first"#);
    let q = named
        .series("quantile")
        .unwrap()
        .quantile(&[0.0, 0.5])
        .unwrap();
    for (name, s) in schedulers() {
        let got = q.compute_with(s).unwrap();
        assert_eq!(got.name().as_str(), "quantile", "{name}");
        assert_eq!(
            got.f64().unwrap().to_vec(),
            [Some(1.0), Some(2.0)],
            "{name}"
        );
    }
}

#[test]
fn describe_matches_a_direct_computation() {
    for (rows, parts) in [(1, 1), (101, 4)] {
        let pl = sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        let stat = |c: &str| -> Vec<Option<f64>> {
            let s = pl
                .column(c)
                .unwrap()
                .as_materialized_series()
                .cast(&DataType::Float64)
                .unwrap();
            let s = s.f64().unwrap();
            vec![
                Some(s.len() as f64 - s.null_count() as f64),
                s.mean(),
                s.std(1),
                s.min(),
                nearest(&pl, c, 0.25),
                nearest(&pl, c, 0.5),
                nearest(&pl, c, 0.75),
                s.max(),
            ]
        };
        let want = df!(
            "statistic" => ["count", "mean", "std", "min", "25%", "50%", "75%", "max"],
            "x" => stat("x"),
            "y" => stat("y")
        )
        .unwrap();
        check_close(
            &format!("{rows} rows"),
            &ddf.describe().unwrap(),
            &want,
            |d| d,
        );
    }
}

#[test]
fn approximate_distinct_counts_are_near_the_exact_ones() {
    // Few values: linear counting, exact for a few, within 1% for hundreds.
    let pl = sample(1000);
    let ddf = DataFrame::from_polars(pl.clone(), 4);
    for (c, want) in [("k", 3u64), ("x", 101)] {
        check(&ddf.nunique_approx(c).unwrap(), &df!(c => [want]).unwrap());
    }
    let exact = pl.column("y").unwrap().drop_nulls().n_unique().unwrap() as f64;
    assert_eq!(exact, 857.0);
    let got = ddf
        .nunique_approx("y")
        .unwrap()
        .compute_with(&SyncScheduler)
        .unwrap();
    let got = got.column("y").unwrap().u64().unwrap().get(0).unwrap() as f64;
    assert!((got / exact - 1.0).abs() < 0.01, "{got}");
    // Many: within 3% (the standard error is 0.8%).
    let n = 300_000i64;
    let many = DataFrame::from_polars(
        df!("v" => (0..n).map(|i| (i * 31) % 200_000).collect::<Vec<_>>()).unwrap(),
        6,
    );
    for (name, s) in schedulers() {
        let got = many.nunique_approx("v").unwrap().compute_with(s).unwrap();
        let got = got.column("v").unwrap().u64().unwrap().get(0).unwrap() as f64;
        assert!((got / 200_000.0 - 1.0).abs() < 0.03, "{name}: {got}");
    }
    let e = ddf.nunique_approx("kk").unwrap_err();
    assert!(matches!(e, FrameError::Column { .. }), "{e}");
}

#[test]
fn csv_files_split_into_blocks_at_line_boundaries() {
    let dir = std::env::temp_dir().join(format!("rask-dataframe-blocks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pl = sample(1000);
    for (i, rows) in [(0, 0..700), (1, 700..1000)] {
        let mut part = pl.slice(rows.start as i64, rows.len());
        CsvWriter::new(std::fs::File::create(dir.join(format!("c{i}.csv"))).unwrap())
            .finish(&mut part)
            .unwrap();
    }
    let pattern = format!("{}/c*.csv", dir.display());
    let size = |i: usize| {
        std::fs::metadata(dir.join(format!("c{i}.csv")))
            .unwrap()
            .len()
    };
    // Blocks of every size, from a few bytes (many blocks hold no line start) to more than
    // a file.
    for blocksize in [7, 100, 1000, 4096, size(0) - 1, size(0), 1 << 30] {
        let options = rask_dataframe::CsvOptions {
            blocksize: Some(blocksize),
            ..Default::default()
        };
        let ddf = DataFrame::read_csv_with(&pattern, options).unwrap();
        let want_parts: u64 = (0..2).map(|i| size(i).div_ceil(blocksize).max(1)).sum();
        assert_eq!(
            ddf.npartitions() as u64,
            want_parts,
            "blocksize {blocksize}"
        );
        assert_eq!(ddf.columns(), ["k", "x", "y"]);
        check(&ddf, &pl);
    }
    let whole = DataFrame::read_csv_with(
        &pattern,
        rask_dataframe::CsvOptions {
            blocksize: None,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(whole.npartitions(), 2);
    check(
        &whole.filter(col("x").gt(lit(3))).unwrap(),
        &whole_of(&pl, col("x").gt(lit(3))),
    );
    // A bad value in a later block names the file and the block's bytes.
    let mut text = std::fs::read_to_string(dir.join("c1.csv")).unwrap();
    text.push_str("a,not-a-number,1.0\n");
    std::fs::write(dir.join("c1.csv"), &text).unwrap();
    let options = rask_dataframe::CsvOptions {
        blocksize: Some(1000),
        ..Default::default()
    };
    let bad = DataFrame::read_csv_with(&pattern, options).unwrap();
    for (name, s) in schedulers() {
        let err = bad.compute_with(s).unwrap_err().to_string();
        assert!(err.contains("c1.csv:302: could not parse"), "{name}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_csv_records_are_named_or_skipped_and_listed() {
    use rask_dataframe::{BadLines, CsvOptions};
    let dir = std::env::temp_dir().join(format!("rask-dataframe-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pl = sample(500);
    // The files, with bad records inserted after these data lines (each file's schema
    // is the first file's, inferred from its first 100 rows, which are clean).
    type Inserts<'a> = &'a [(usize, &'a str)];
    let bad: [(&str, std::ops::Range<i64>, Inserts); 2] = [
        (
            "c0.csv",
            0..300,
            &[
                (150, "a,oops,1.0"),
                (151, "b,1,2.0,extra"),
                (300, "c,1.5,x"),
            ],
        ),
        (
            "c1.csv",
            300..500,
            &[(0, "d,,"), (0, "e,2,"), (77, "f,g,h")],
        ),
    ];
    let mut want_lines = Vec::new();
    for (file, rows, inserts) in bad {
        let mut part = pl.slice(rows.start, (rows.end - rows.start) as usize);
        let mut text = Vec::new();
        CsvWriter::new(&mut text).finish(&mut part).unwrap();
        let mut lines: Vec<String> = String::from_utf8(text)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        for (after, line) in inserts.iter().rev() {
            lines.insert(after + 1, line.to_string());
        }
        for (i, line) in lines.iter().enumerate() {
            let good = ["d,,", "e,2,"].contains(&line.as_str());
            if inserts.iter().any(|(_, l)| l == line) && !good {
                want_lines.push((file.to_string(), i as u64 + 1));
            }
        }
        std::fs::write(dir.join(file), lines.join("\n") + "\n").unwrap();
    }
    // "d,," and "e,2," are good records, with empty (null) fields.
    let extra =
        df!("k" => ["d", "e"], "x" => [None, Some(2i64)], "y" => [None::<f64>, None]).unwrap();
    let mut want = pl.slice(0, 300);
    want.vstack_mut(&extra).unwrap();
    want.vstack_mut(&pl.slice(300, 200)).unwrap();
    let pattern = format!("{}/c*.csv", dir.display());
    for blocksize in [None, Some(1000), Some(97)] {
        let skip = CsvOptions {
            blocksize,
            bad_lines: BadLines::Skip,
        };
        let ddf = DataFrame::read_csv_with(&pattern, skip.clone()).unwrap();
        check(&ddf, &want);
        check(
            &ddf.filter(col("x").gt(lit(3))).unwrap(),
            &whole_of(&want, col("x").gt(lit(3))),
        );
        let listed = DataFrame::read_csv_bad_lines(&pattern, skip).unwrap();
        assert_eq!(listed.columns(), ["path", "line", "error"]);
        for (name, s) in schedulers() {
            let got = listed.compute_with(s).unwrap();
            let paths = got.column("path").unwrap().str().unwrap();
            let lines = got.column("line").unwrap().u64().unwrap();
            let found: Vec<(String, u64)> = (paths.iter().zip(lines.iter()))
                .map(|(p, l)| {
                    let p = std::path::Path::new(p.unwrap());
                    let file = p.file_name().unwrap().to_string_lossy().into_owned();
                    (file, l.unwrap())
                })
                .collect();
            assert_eq!(found, want_lines, "{name}, blocksize {blocksize:?}");
            let errors = got.column("error").unwrap().str().unwrap();
            let first = errors.get(0).unwrap();
            assert!(first.contains("`oops`") && first.contains("'x'"), "{first}");
        }
        // Without the policy: the first bad record fails the computation, named by file,
        // line and (in Polars' words) value and column.
        let strict = CsvOptions {
            blocksize,
            bad_lines: BadLines::Error,
        };
        // (Which failing block is found first depends on the scheduler when there are more.)
        let one = DataFrame::read_csv_with(&format!("{}/c0.csv", dir.display()), strict).unwrap();
        for (name, s) in schedulers() {
            let err = one.compute_with(s).unwrap_err().to_string();
            let first = "c0.csv:152: could not parse `oops` as dtype `i64` at column 'x'";
            let any = [
                "c0.csv:154: found more fields",
                "c0.csv:304: could not parse `1.5`",
            ];
            assert!(
                err.contains(first) || (blocksize.is_some() && any.iter().any(|a| err.contains(a))),
                "{name}, blocksize {blocksize:?}: {err}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn whole_of(df: &polars::prelude::DataFrame, predicate: Expr) -> polars::prelude::DataFrame {
    whole(df, |lf| lf.filter(predicate))
}

/// Each partition of `ddf`, computed on the sync scheduler.
fn partitions(ddf: &DataFrame) -> Vec<polars::prelude::DataFrame> {
    let values = SyncScheduler
        .get(ddf.graph(), &ddf.output_keys(), &[])
        .unwrap();
    values
        .iter()
        .map(|v| v.get::<rask_dataframe::Frame>().unwrap().0.clone())
        .collect()
}

#[test]
fn set_index_sorts_into_known_divisions_and_loc_reads_only_what_it_needs() {
    for (rows, parts, by) in [(1, 1, "x"), (50, 3, "x"), (300, 7, "x"), (300, 5, "y")] {
        let pl = sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts)
            .set_index(by)
            .unwrap();
        assert_eq!((ddf.index(), ddf.npartitions()), (Some(by), parts));
        // Sorted as Polars sorts (stable, nulls last), in partitions within the divisions.
        let want = whole(&pl, |lf| {
            lf.sort(
                [by],
                SortMultipleOptions::default()
                    .with_nulls_last(true)
                    .with_maintain_order(true),
            )
        });
        check(&ddf, &want);
        let d = ddf.divisions().unwrap().cast(&DataType::Float64).unwrap();
        let d: Vec<f64> = d.f64().unwrap().into_no_null_iter().collect();
        assert_eq!(d.len(), parts + 1);
        let values = |f: &polars::prelude::DataFrame| -> Vec<f64> {
            let c = f.column(by).unwrap().cast(&DataType::Float64).unwrap();
            c.f64().unwrap().iter().flatten().collect()
        };
        let all = values(&want);
        assert_eq!((d[0], d[parts]), (all[0], all[all.len() - 1]));
        for (j, part) in partitions(&ddf).iter().enumerate() {
            for v in values(part) {
                let upper_ok = if j + 1 == parts {
                    v <= d[j + 1]
                } else {
                    v < d[j + 1]
                };
                assert!(d[j] <= v && upper_ok, "{by}: {v} in partition {j} of {d:?}");
            }
        }
        // loc against a filter of the whole frame, for every kind of bound.
        let (lo, hi) = (
            d[0] + (d[parts] - d[0]) / 3.0,
            d[0] + (d[parts] - d[0]) * 0.6,
        );
        let (lo, hi) = (lo.round() as i64, hi.round() as i64);
        let c = || col(by).cast(DataType::Float64);
        let cases: Vec<(DataFrame, Expr)> = vec![
            (
                ddf.loc(lo..=hi).unwrap(),
                c().gt_eq(lit(lo)).and(c().lt_eq(lit(hi))),
            ),
            (
                ddf.loc(lo..hi).unwrap(),
                c().gt_eq(lit(lo)).and(c().lt(lit(hi))),
            ),
            (ddf.loc(..hi).unwrap(), c().lt(lit(hi))),
            (ddf.loc(lo..).unwrap(), c().gt_eq(lit(lo))),
            // Everything, null index included (as pandas' `loc[:]`).
            (ddf.loc::<i64>(..).unwrap(), lit(true)),
            (ddf.loc(1000..).unwrap(), c().gt_eq(lit(1000))),
            (
                ddf.loc((std::ops::Bound::Excluded(lo), std::ops::Bound::Included(hi)))
                    .unwrap(),
                c().gt(lit(lo)).and(c().lt_eq(lit(hi))),
            ),
        ];
        for (i, (got, predicate)) in cases.iter().enumerate() {
            assert!(got.npartitions() <= parts, "case {i}");
            check(got, &whole(&want, |lf| lf.filter(predicate.clone())));
        }
        if parts > 3 {
            assert!(
                cases[0].0.npartitions() < parts,
                "{by}: loc read every partition"
            );
        }
        // The index survives a filter, not a step that may rewrite it.
        assert_eq!(ddf.filter(col("k").eq(lit("a"))).unwrap().index(), Some(by));
        let rewritten = ddf.with_columns([(col(by) * lit(-1)).alias(by)]).unwrap();
        assert_eq!(rewritten.index(), None);
        assert!(matches!(rewritten.loc(0..1), Err(FrameError::Plan { .. })));
    }
    let indexed = DataFrame::from_polars(sample(10), 2)
        .set_index("x")
        .unwrap();
    insta::assert_snapshot!(indexed.to_string(), @r"
    rask.DataFrame<npartitions=2>
      k: str
      x: i64
      y: f64
      index x: divisions [-50, -3, 44]
    ");
}

#[test]
fn rolling_windows_cross_partitions_whole() {
    // Partitions of 1 to 4 rows against windows of up to 6: some borrow from several
    // partitions back.
    let pl = sample(23);
    let values = |c: &str| -> Vec<Option<f64>> {
        let s = pl.column(c).unwrap().cast(&DataType::Float64).unwrap();
        s.f64().unwrap().iter().collect()
    };
    for (parts, w) in [(1, 3), (6, 1), (6, 4), (9, 6), (23, 2)] {
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        let r = ddf.rolling(w).unwrap();
        type Stat = fn(&[f64]) -> f64;
        let mean: Stat = |v| v.iter().sum::<f64>() / v.len() as f64;
        let cases: [(&str, DataFrame, Stat); 5] = [
            ("sum", r.sum().unwrap(), |v| v.iter().sum()),
            ("mean", r.mean().unwrap(), mean),
            ("min", r.min().unwrap(), |v| {
                v.iter().copied().fold(f64::INFINITY, f64::min)
            }),
            ("max", r.max().unwrap(), |v| {
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            }),
            ("std", r.std(1).unwrap(), |v| {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt()
            }),
        ];
        for (what, got, f) in cases {
            let rolled = |c: &str| -> Vec<Option<f64>> {
                let v = values(c);
                (0..v.len())
                    .map(|i| {
                        let win: Option<Vec<f64>> =
                            (i + 1 >= w).then(|| v[i + 1 - w..=i].iter().copied().collect())?;
                        win.filter(|_| !(what == "std" && w == 1))
                            .map(|win| f(&win))
                    })
                    .collect()
            };
            let want = df!("k" => pl.column("k").unwrap().as_materialized_series().clone(), "x" => rolled("x"), "y" => rolled("y")).unwrap();
            assert_eq!(got.npartitions(), ddf.npartitions());
            for (name, s) in schedulers() {
                let g = got
                    .compute_with(s)
                    .unwrap_or_else(|e| panic!("{what} {parts}/{w} {name}: {e}"));
                assert_close(
                    &format!("{what} window {w} in {parts} partitions on {name}"),
                    &g,
                    &want,
                );
            }
        }
    }
    assert!(DataFrame::from_polars(sample(3), 1).rolling(0).is_err());
}

#[test]
fn time_windows_over_a_datetime_index_cross_partitions_whole() {
    // Times in microseconds with ties and gaps (some longer than the window), out of order
    // before set_index sorts them.
    let n = 60;
    let micros: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 61 * 250_000).collect();
    let x: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 9 != 4).then_some(((i * 37) % 23) as f64 - 11.0))
        .collect();
    let t = Series::new("t".into(), micros)
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
        .unwrap();
    let pl =
        polars::prelude::DataFrame::new(n, vec![t.into(), Column::new("x".into(), x)]).unwrap();
    for (parts, window, nanos) in [
        (1, "1s", 1_000_000_000i64),
        (7, "1s", 1_000_000_000),
        (12, "2500ms", 2_500_000_000),
        (20, "250ms", 250_000_000),
    ] {
        let indexed = DataFrame::from_polars(pl.clone(), parts)
            .set_index("t")
            .unwrap();
        // The windows computed directly on the sorted rows: the rows up to each whose time
        // is after its time less the window.
        let rows = indexed.compute_with(&SyncScheduler).unwrap();
        let ts: Vec<i64> = rows
            .column("t")
            .unwrap()
            .cast(&DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let xs: Vec<Option<f64>> = rows.column("x").unwrap().f64().unwrap().to_vec();
        let direct = |f: &dyn Fn(&[f64]) -> Option<f64>| -> Vec<Option<f64>> {
            (0..ts.len())
                .map(|i| {
                    let win: Vec<f64> = (0..=i)
                        .filter(|&j| ts[j] * 1000 > ts[i] * 1000 - nanos)
                        .filter_map(|j| xs[j])
                        .collect();
                    f(&win)
                })
                .collect()
        };
        let r = indexed.rolling_time(window).unwrap();
        type Direct = fn(&[f64]) -> Option<f64>;
        let cases: [(&str, DataFrame, Direct); 5] = [
            ("sum", r.sum().unwrap(), |v| {
                (!v.is_empty()).then(|| v.iter().sum())
            }),
            ("count", r.count().unwrap(), |v| Some(v.len() as f64)),
            ("max", r.max().unwrap(), |v| {
                v.iter().copied().reduce(f64::max)
            }),
            ("mean", r.mean().unwrap(), |v| {
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            }),
            ("var", r.var(1).unwrap(), |v| {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                (v.len() > 1).then(|| {
                    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)
                })
            }),
        ];
        for (what, got, f) in cases {
            assert_eq!(got.index(), Some("t"));
            let want = polars::prelude::DataFrame::new(
                n,
                vec![
                    rows.column("t").unwrap().clone(),
                    Column::new("x".into(), direct(&f)),
                ],
            )
            .unwrap();
            for (name, s) in schedulers() {
                let g = got
                    .compute_with(s)
                    .unwrap_or_else(|e| panic!("{what} {name}: {e}"));
                assert_close(
                    &format!("{what} over {window} in {parts} partitions on {name}"),
                    &g,
                    &want,
                );
            }
        }
    }
    // Errors, named: no index, an index that is not time, a window that is not a fixed span.
    let plain = DataFrame::from_polars(pl.clone(), 2);
    let e = plain.rolling_time("1s").unwrap_err().to_string();
    assert!(e.contains("set_index"), "{e}");
    let by_x = plain.dropna(&["x"]).unwrap().set_index("x").unwrap();
    let e = by_x.rolling_time("1s").unwrap_err().to_string();
    assert!(e.contains("\"x\" is f64, not a date or datetime"), "{e}");
    let indexed = plain.set_index("t").unwrap();
    for bad in ["1mo", "soon", "0s", "-2s"] {
        let e = indexed.rolling_time(bad).unwrap_err().to_string();
        assert!(e.starts_with("rolling_time: window"), "{bad}: {e}");
    }
}

#[test]
fn numeric_columns_become_an_array_and_an_array_becomes_columns() {
    use rask_array::ndarray::{Array2, ArrayD, Axis};
    for (rows, parts) in [(0, 1), (1, 1), (10, 3), (101, 4)] {
        let pl = sample(rows);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        let a = ddf.to_array().unwrap();
        assert_eq!(a.shape(), [rows, 2]);
        // The direct computation: x and y as f64, nulls as NaN.
        let mut want = Array2::<f64>::zeros((rows, 2));
        for (j, c) in ["x", "y"].iter().enumerate() {
            let c = pl.column(c).unwrap().cast(&DataType::Float64).unwrap();
            for (r, v) in c.f64().unwrap().iter().enumerate() {
                want[[r, j]] = v.unwrap_or(f64::NAN);
            }
        }
        let want = want.into_dyn();
        for (name, s) in schedulers() {
            let got: ArrayD<f64> = a.compute_with(s).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got.shape(), want.shape(), "{name}");
            let same = got
                .iter()
                .zip(want.iter())
                .all(|(g, w)| g == w || (g.is_nan() && w.is_nan()));
            assert!(same, "{name}: {got} vs {want}");
        }
        // And back: an array of uneven blocks across rows and columns.
        if rows == 0 {
            continue;
        }
        let row_blocks: Vec<usize> = (std::iter::repeat_n(3, rows / 3).chain([rows % 3]))
            .filter(|n| *n > 0)
            .collect();
        let array = rask_array::Array::from_array(&want, vec![row_blocks, vec![1, 1]]).unwrap();
        let back = DataFrame::from_array(&array, &["x", "y"]).unwrap();
        let want = df!(
            "x" => want.index_axis(Axis(1), 0).iter().copied().collect::<Vec<f64>>(),
            "y" => want.index_axis(Axis(1), 1).iter().copied().collect::<Vec<f64>>()
        )
        .unwrap();
        for (name, s) in schedulers() {
            let got = back
                .compute_with(s)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_close(&format!("from_array on {name}"), &got, &want);
        }
    }
    // A 1-d array is one column; names that do not fit are an error.
    let v = rask_array::Array::<f64>::from_array(
        &rask_array::ndarray::arr1(&[1.0, 2.0, 3.0]).into_dyn(),
        vec![vec![2, 1]],
    )
    .unwrap();
    check(
        &DataFrame::from_array(&v, &["v"]).unwrap(),
        &df!("v" => [1.0, 2.0, 3.0]).unwrap(),
    );
    let e = DataFrame::from_array(&v, &["a", "b"]).unwrap_err();
    assert!(
        e.to_string()
            .contains("2 column names for an array of 1 columns"),
        "{e}"
    );
}

/// Whether `plan` (an `explain`) holds a hash shuffle's layers.
fn hash_shuffles(plan: &str) -> bool {
    plan.lines()
        .any(|l| l.starts_with("  split-") || l.starts_with("  bucket-"))
}

#[test]
fn merges_on_an_index_line_partitions_up_instead_of_hash_shuffling() {
    let (left, right) = merge_sides(97, 60);
    let l = DataFrame::from_polars(left.clone(), 4)
        .set_index("id")
        .unwrap();
    let l_plain = DataFrame::from_polars(left.clone(), 4);
    let r_plain = DataFrame::from_polars(right.clone(), 3);
    let r = r_plain.set_index("rid").unwrap();
    let hows = [
        (How::Inner, JoinType::Inner),
        (How::Left, JoinType::Left),
        (How::Right, JoinType::Right),
        (How::Outer, JoinType::Full),
    ];
    for (how, jt) in hows {
        let args = JoinArgs::new(jt).with_coalesce(JoinCoalesce::CoalesceColumns);
        let want = (left.clone().lazy())
            .join(right.clone().lazy(), [col("id")], [col("rid")], args)
            .collect()
            .unwrap();
        let names = column_names(&want);
        let want = sorted(want, &names);
        let spec = || Merge::left_right(how, ["id"], ["rid"]);
        for (what, merged) in [
            ("both indexed", l.merge(&r, spec()).unwrap()),
            ("left indexed", l.merge(&r_plain, spec()).unwrap()),
            ("right indexed", l_plain.merge(&r, spec()).unwrap()),
        ] {
            let plan = merged.explain().unwrap();
            assert!(!hash_shuffles(&plan), "{how:?} {what}:\n{plan}");
            for (name, s) in schedulers() {
                let got = merged
                    .compute_with(s)
                    .unwrap_or_else(|e| panic!("{what} {name}: {e}"));
                assert_close(
                    &format!("{how:?} {what} on {name}"),
                    &sorted(got, &names),
                    &want,
                );
            }
        }
        // Without an index on either side: a hash shuffle, as before.
        let plan = l_plain.merge(&r_plain, spec()).unwrap().explain().unwrap();
        assert!(hash_shuffles(&plan), "{how:?}:\n{plan}");
    }
    // The same divisions on both sides: the result keeps them, and a projection after it
    // (pushed into the sides) keeps the alignment.
    let selfjoin = l.merge(&l, Merge::on(How::Inner, ["id"])).unwrap();
    assert_eq!(selfjoin.index(), Some("id"));
    assert!(selfjoin.divisions().unwrap().equals(l.divisions().unwrap()));
    let projected = selfjoin.select([col("id"), col("v_right")]).unwrap();
    assert!(!hash_shuffles(&projected.explain().unwrap()));
    let want = whole(&left, |lf| {
        lf.clone()
            .join(
                lf,
                [col("id")],
                [col("id")],
                JoinArgs::new(JoinType::Inner).with_coalesce(JoinCoalesce::CoalesceColumns),
            )
            .select([col("id"), col("v_right")])
    });
    for (name, s) in schedulers() {
        let got = projected.compute_with(s).unwrap();
        assert_close(
            name,
            &sorted(got, &["id", "v_right"]),
            &sorted(want.clone(), &["id", "v_right"]),
        );
    }
}

#[test]
fn repartition_by_divisions_keeps_the_rows_in_their_ranges() {
    let pl = sample(200);
    let ddf = DataFrame::from_polars(pl.clone(), 5)
        .set_index("x")
        .unwrap();
    let divisions = Series::new("x".into(), [-50i64, -20, 0, 1, 30, 50]);
    let re = ddf.repartition_divisions(&divisions).unwrap();
    assert_eq!(re.npartitions(), 5);
    assert!(re.divisions().unwrap().equals(&divisions));
    let want = whole(&pl, |lf| {
        lf.sort(
            ["x"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
    });
    check(&re, &want);
    let d: Vec<i64> = divisions.i64().unwrap().into_no_null_iter().collect();
    for (j, part) in partitions(&re).iter().enumerate() {
        for v in part.column("x").unwrap().i64().unwrap().into_no_null_iter() {
            let upper_ok = if j == 4 { v <= d[j + 1] } else { v < d[j + 1] };
            assert!(d[j] <= v && upper_ok, "{v} in partition {j}");
        }
    }
    check(
        &re.loc(0i64..=0).unwrap(),
        &whole(&pl, |lf| lf.filter(col("x").eq(lit(0)))),
    );
    // Divisions that do not cover the data, unsorted ones, and a frame without an index.
    for bad in [vec![-10i64, 50], vec![-50, 10, 5, 50], vec![0]] {
        let e = ddf
            .repartition_divisions(&Series::new("x".into(), bad))
            .unwrap_err();
        assert!(matches!(e, FrameError::Plan { .. }), "{e}");
    }
    assert!(
        DataFrame::from_polars(pl, 2)
            .repartition_divisions(&divisions)
            .is_err()
    );
}

#[test]
fn the_html_repr_shows_the_structure_and_the_divisions() {
    let plain = DataFrame::from_polars(sample(10), 2);
    let name = plain.graph().layers().next().unwrap().name().to_string();
    insta::assert_snapshot!(plain.to_html().replace(&name, "NAME"), @r#"<div><strong>rask DataFrame Structure:</strong></div><table border="1" class="dataframe"><thead><tr style="text-align: right;"><th></th><th>k</th><th>x</th><th>y</th></tr><tr><th>npartitions=2</th><th></th><th></th><th></th></tr></thead><tbody><tr><th></th><td>str</td><td>i64</td><td>f64</td></tr><tr><th></th><td>...</td><td>...</td><td>...</td></tr><tr><th></th><td>...</td><td>...</td><td>...</td></tr></tbody></table><div>rask Name: NAME, 1 graph layer</div>"#);
    let indexed = plain.set_index("x").unwrap();
    let html = indexed.to_html();
    assert!(
        html.contains("<tr><th>-50</th><td>str</td><td>i64</td><td>f64</td></tr>"),
        "{html}"
    );
    assert!(html.contains("<tr><th>44</th><td>...</td>"), "{html}");
    // Many partitions: the first and last five divisions, and a row of dots between.
    let many = DataFrame::from_polars(sample(100), 30);
    assert_eq!(many.to_html().matches("<tr><th>...</th>").count(), 1);
    assert_eq!(many.to_html().matches("<tr><th></th>").count(), 10);
}

#[test]
fn shuffles_past_the_memory_budget_spill_to_disk_and_give_the_same_rows() {
    // A budget of nothing: every split in this process spills (other tests running now too:
    // spilling changes no result). The process pool's workers keep their own budget (none).
    let before = rask_dataframe::set_shuffle_memory_budget(Some(0));
    let spilled = rask_dataframe::spilled_bytes();
    let pl = sample(300);
    let ddf = DataFrame::from_polars(pl.clone(), 5);
    let (left, right) = merge_sides(97, 60);
    let (l, r) = (
        DataFrame::from_polars(left.clone(), 4),
        DataFrame::from_polars(right.clone(), 3),
    );
    let sorted_x = whole(&pl, |lf| {
        lf.sort(
            ["x"],
            SortMultipleOptions::default()
                .with_nulls_last(true)
                .with_maintain_order(true),
        )
    });
    check(&ddf.sort_values("x", false).unwrap(), &sorted_x);
    check(&ddf.set_index("x").unwrap(), &sorted_x);
    let shuffled = ddf.shuffle(["k"], 3).unwrap();
    for (name, s) in schedulers() {
        let got = shuffled.compute_with(s).unwrap();
        assert_close(
            name,
            &sorted(got, &["k", "x", "y"]),
            &sorted(pl.clone(), &["k", "x", "y"]),
        );
        let merged = l
            .merge(
                &r,
                Merge::left_right(How::Inner, ["id"], ["rid"]).broadcast(false),
            )
            .unwrap();
        let want = left
            .clone()
            .lazy()
            .join(
                right.clone().lazy(),
                [col("id")],
                [col("rid")],
                JoinArgs::new(JoinType::Inner).with_coalesce(JoinCoalesce::CoalesceColumns),
            )
            .collect()
            .unwrap();
        let names = column_names(&want);
        assert_close(
            name,
            &sorted(merged.compute_with(s).unwrap(), &names),
            &sorted(want, &names),
        );
    }
    assert!(rask_dataframe::spilled_bytes() > spilled, "nothing spilled");
    rask_dataframe::set_shuffle_memory_budget(before);
}

#[test]
fn json_lines_files_are_partitions() {
    let dir = std::env::temp_dir().join(format!("rask-dataframe-json-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pl = sample(90);
    for i in 0..3 {
        let mut part = pl.slice(i * 30, 30);
        JsonWriter::new(std::fs::File::create(dir.join(format!("j{i}.jsonl"))).unwrap())
            .with_json_format(JsonFormat::JsonLines)
            .finish(&mut part)
            .unwrap();
    }
    let js = DataFrame::read_json(&format!("{}/j*.jsonl", dir.display())).unwrap();
    assert_eq!(
        (js.npartitions(), js.columns()),
        (3, vec!["k".to_string(), "x".into(), "y".into()])
    );
    check(&js, &pl);
    let q = js
        .filter(col("x").gt(lit(10)))
        .unwrap()
        .select([col("y"), col("k")])
        .unwrap();
    check(
        &q,
        &whole(&pl, |lf| {
            lf.filter(col("x").gt(lit(10))).select([col("y"), col("k")])
        }),
    );
    // A field later files have and the first has not is left out; a missing field is null.
    std::fs::write(dir.join("f0.jsonl"), "{\"a\": 1, \"b\": \"x\"}\n").unwrap();
    std::fs::write(
        dir.join("f1.jsonl"),
        "{\"a\": 2, \"c\": 1}\n{\"b\": \"y\", \"a\": 3}\n",
    )
    .unwrap();
    let f = DataFrame::read_json(&format!("{}/f*.jsonl", dir.display())).unwrap();
    check(
        &f,
        &df!("a" => [1i64, 2, 3], "b" => [Some("x"), None, Some("y")]).unwrap(),
    );
    // A line that is not JSON, in a later file: an error naming the file.
    std::fs::write(dir.join("m0.jsonl"), "{\"a\": 1}\n").unwrap();
    std::fs::write(dir.join("m1.jsonl"), "{\"a\": 2}\n{\"a\": \n").unwrap();
    let bad = DataFrame::read_json(&format!("{}/m*.jsonl", dir.display())).unwrap();
    for (name, s) in schedulers() {
        let err = bad.compute_with(s).unwrap_err().to_string();
        assert!(err.contains("m1.jsonl"), "{name}: {err}");
    }
    let e = DataFrame::read_json(&format!("{}/none*.jsonl", dir.display())).unwrap_err();
    assert!(
        matches!(e, FrameError::Files(FilesError::NoFiles { .. })),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A record of `sample`, as a bag holds it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Record {
    k: String,
    x: i64,
    // Not `skip_serializing_if`: postcard, which carries items between processes, cannot
    // read what it leaves out.
    y: Option<f64>,
}
rask_bag::register_item!(Record, "rask-dataframe-tests.record");

/// The rows of a `sample` frame as records.
fn records_of(pl: &polars::prelude::DataFrame) -> Vec<Record> {
    (0..pl.height())
        .map(|i| {
            let row = pl.get_row(i).unwrap().0;
            Record {
                k: row[0].get_str().unwrap().to_string(),
                x: row[1].extract().unwrap(),
                y: row[2].extract(),
            }
        })
        .collect()
}

#[test]
fn a_bag_of_records_becomes_a_dataframe() {
    use rask_dataframe::ToDataFrame;
    for (rows, parts) in [(2, 1), (10, 3), (101, 4)] {
        let pl = sample(rows);
        let records = records_of(&pl);
        // The same records as untyped JSON values read from text (sonic-rs's, rask-bag's
        // fastest): the columns in the text's order.
        let values: Vec<rask_bag::sonic_rs::Value> = (records.iter())
            .map(|r| rask_bag::sonic_rs::from_str(&serde_json::to_string(r).unwrap()).unwrap())
            .collect();
        let untyped = rask_bag::Bag::from_sequence(values, parts).to_dataframe(None);
        check(&untyped.unwrap(), &pl);
        let bag = rask_bag::Bag::from_sequence(records, parts);
        // The columns inferred from the first records (the first `y` is null).
        let ddf = bag.to_dataframe(None).unwrap();
        assert_eq!(ddf.npartitions(), parts.min(rows));
        assert_eq!(ddf.columns(), ["k", "x", "y"], "{rows} rows");
        check(&ddf, &pl);
        check(
            &ddf.groupby(["k"]).unwrap().sum().unwrap(),
            &sorted(
                whole(&pl, |lf| {
                    lf.group_by([col("k")])
                        .agg([col("x").sum(), col("y").sum()])
                }),
                &["k"],
            ),
        );
        // A schema picks and orders the columns and sets their types.
        let schema = Schema::from_iter([
            Field::new("y".into(), DataType::Float64),
            Field::new("x".into(), DataType::Float64),
        ]);
        let picked = bag.to_dataframe(Some(schema)).unwrap();
        check(
            &picked,
            &whole(&pl, |lf| {
                lf.select([col("y"), col("x").cast(DataType::Float64)])
            }),
        );
    }
    // Items that are not records, and an empty bag without a schema: errors saying so.
    let e = rask_bag::Bag::from_sequence(vec![1i64, 2], 1)
        .to_dataframe(None)
        .unwrap_err();
    assert!(
        matches!(e, FrameError::Plan { .. }) && e.to_string().contains("not records"),
        "{e}"
    );
    let e = rask_bag::Bag::<Record>::from_sequence(vec![], 1)
        .to_dataframe(None)
        .unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let schema = Schema::from_iter([Field::new("k".into(), DataType::String)]);
    let empty = rask_bag::Bag::<Record>::from_sequence(vec![], 1)
        .to_dataframe(Some(schema.clone()))
        .unwrap();
    check(
        &empty,
        &polars::prelude::DataFrame::empty_with_schema(&schema),
    );
}

/// A row of `sample` read by position.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Row(String, i64, Option<f64>);
rask_bag::register_item!(Row, "rask-dataframe-tests.row");

#[test]
fn a_dataframe_becomes_a_bag_of_its_rows() {
    use rask_dataframe::Rows;
    for (rows, parts) in [(0, 1), (2, 1), (10, 3), (101, 4)] {
        let pl = sample(rows);
        let records = records_of(&pl);
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        let by_name = ddf.to_bag::<Record>(Rows::Records);
        let by_place = ddf.to_bag::<Row>(Rows::Tuples);
        assert_eq!(by_name.npartitions(), ddf.npartitions());
        // After the frame's steps, and before the bag's.
        let kept = ddf.filter(col("x").gt(lit(0))).unwrap();
        let xs = kept.to_bag::<Record>(Rows::Records).map(|r| r.x);
        for (name, s) in schedulers() {
            let what = format!("{rows} rows in {parts}, {name}");
            assert_eq!(by_name.compute_with(s).unwrap(), records, "{what}");
            let tuples: Vec<Record> = (by_place.compute_with(s).unwrap().into_iter())
                .map(|Row(k, x, y)| Record { k, x, y })
                .collect();
            assert_eq!(tuples, records, "{what}");
            if name != "processes" {
                let want: Vec<i64> = records.iter().map(|r| r.x).filter(|x| *x > 0).collect();
                assert_eq!(xs.compute_with(s).unwrap(), want, "{what}");
            }
        }
    }
    // Dates as ISO text, untyped records as JSON values.
    let dates = DataFrame::from_polars(
        df!("d" => [Some(19_000i32), None])
            .unwrap()
            .lazy()
            .select([col("d").cast(DataType::Date)])
            .collect()
            .unwrap(),
        2,
    );
    let values = dates.to_bag::<serde_json::Value>(Rows::Records);
    assert_eq!(
        values.compute_with(&SyncScheduler).unwrap(),
        [
            serde_json::json!({"d": "2022-01-08"}),
            serde_json::json!({"d": null})
        ]
    );
    // Rows that are not JSON of the item type: an error naming the line and the type.
    let wrong = DataFrame::from_polars(sample(5), 2).to_bag::<(i64, i64)>(Rows::Tuples);
    for (name, s) in schedulers() {
        let e = wrong.compute_with(s).unwrap_err().to_string();
        assert!(
            e.contains("line 1") && e.contains("(i64, i64)"),
            "{name}: {e}"
        );
    }
}

/// A left side with repeated and null keys, and a right side that matches some of them.
fn merge_sides(n: usize, m: usize) -> (polars::prelude::DataFrame, polars::prelude::DataFrame) {
    let id: Vec<Option<i64>> = (0..n)
        .map(|i| (i % 9 != 4).then_some((i * 7 % 13) as i64))
        .collect();
    let k: Vec<&str> = (0..n).map(|i| ["a", "b"][i % 2]).collect();
    let v: Vec<i64> = (0..n as i64).collect();
    let left = df!("id" => id, "k" => k, "v" => v).unwrap();
    let rid: Vec<Option<i64>> = (0..m)
        .map(|i| (i % 6 != 5).then_some((i * 3 % 17) as i64))
        .collect();
    let rk: Vec<&str> = (0..m).map(|i| ["a", "b", "c"][i % 3]).collect();
    let w: Vec<f64> = (0..m).map(|i| i as f64 / 2.0).collect();
    let v2: Vec<i64> = (0..m as i64).map(|i| -i).collect();
    let right = df!("rid" => rid, "k" => rk, "w" => w, "v" => v2).unwrap();
    (left, right)
}

#[test]
fn merge_matches_polars_broadcast_and_shuffled() {
    let hows = [
        (How::Inner, JoinType::Inner),
        (How::Left, JoinType::Left),
        (How::Right, JoinType::Right),
        (How::Outer, JoinType::Full),
    ];
    for (n, m, lp, rp) in [
        (0, 5, 1, 2),
        (30, 0, 3, 1),
        (40, 25, 4, 1),
        (40, 25, 1, 3),
        (97, 60, 5, 3),
        (97, 60, 9, 9),
    ] {
        let (left, right) = merge_sides(n, m);
        let (l, r) = (
            DataFrame::from_polars(left.clone(), lp),
            DataFrame::from_polars(right.clone(), rp),
        );
        for (how, jt) in hows.clone() {
            for (lon, ron) in [(&["id"][..], &["rid"][..]), (&["id", "k"], &["rid", "k"])] {
                let args = JoinArgs::new(jt.clone()).with_coalesce(JoinCoalesce::CoalesceColumns);
                let on = |keys: &[&str]| keys.iter().map(|k| col(*k)).collect::<Vec<_>>();
                let want = left
                    .clone()
                    .lazy()
                    .join(right.clone().lazy(), on(lon), on(ron), args)
                    .collect()
                    .unwrap();
                let all = column_names(&want);
                let want = sorted(want, &all);
                for broadcast in [None, Some(false), Some(true)] {
                    let mut spec = Merge::left_right(how, lon, ron);
                    if let Some(b) = broadcast {
                        spec = spec.broadcast(b);
                    }
                    let merged = match l.merge(&r, spec) {
                        Ok(d) => d,
                        Err(e) => {
                            assert!(
                                broadcast == Some(true) && how == How::Outer,
                                "{how:?} {broadcast:?}: {e}"
                            );
                            continue;
                        }
                    };
                    for (name, s) in schedulers() {
                        let what = format!(
                            "{how:?} {lon:?} {n}x{m} {lp}/{rp} broadcast {broadcast:?} on {name}"
                        );
                        let got = merged
                            .compute_with(s)
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        assert_close(&what, &sorted(got, &all), &want);
                    }
                }
            }
        }
    }
}

/// A step on a Polars frame, and the same step on a dataframe.
type PolarsStep = Box<dyn Fn(LazyFrame) -> LazyFrame>;
type FrameStep = Box<dyn Fn(&DataFrame) -> DataFrame>;

#[test]
fn a_projection_after_a_merge_reads_only_the_columns_it_needs() {
    let (left, right) = merge_sides(97, 60);
    let (l, r) = (
        DataFrame::from_polars(left.clone(), 5),
        DataFrame::from_polars(right.clone(), 3),
    );
    let steps: Vec<(&str, PolarsStep, FrameStep)> = vec![
        (
            "w",
            Box::new(|lf| lf.select([col("w")])),
            Box::new(|d| d.select([col("w")]).unwrap()),
        ),
        // A suffixed column: the left `v` stays, or the right one would lose its suffix.
        (
            "v_right, id",
            Box::new(|lf| lf.select([col("v_right"), col("id")])),
            Box::new(|d| d.select([col("v_right"), col("id")]).unwrap()),
        ),
        (
            "all",
            Box::new(|lf| lf.select([all().as_expr()])),
            Box::new(|d| d.select([all().as_expr()]).unwrap()),
        ),
        (
            "drop",
            Box::new(|lf| lf.drop(cols(["w", "v"]))),
            Box::new(|d| d.drop(&["w", "v"]).unwrap()),
        ),
        (
            "sum",
            Box::new(|lf| lf.select([(col("w") * lit(2.0)).sum().alias("s")])),
            Box::new(|d| d.select([(col("w") * lit(2.0)).sum().alias("s")]).unwrap()),
        ),
    ];
    for (how, jt) in [
        (How::Inner, JoinType::Inner),
        (How::Left, JoinType::Left),
        (How::Outer, JoinType::Full),
    ] {
        let merged = l
            .merge(&r, Merge::left_right(how, ["id"], ["rid"]))
            .unwrap();
        let args = JoinArgs::new(jt).with_coalesce(JoinCoalesce::CoalesceColumns);
        let joined =
            left.clone()
                .lazy()
                .join(right.clone().lazy(), [col("id")], [col("rid")], args);
        for (what, pl_step, step) in &steps {
            let want = pl_step(joined.clone()).collect().unwrap();
            let names = column_names(&want);
            let got = step(&merged);
            assert_eq!(got.columns(), names, "{how:?} {what}");
            for (name, s) in schedulers() {
                let g = got
                    .compute_with(s)
                    .unwrap_or_else(|e| panic!("{how:?} {what} {name}: {e}"));
                if *what == "sum" {
                    // A sum per partition (a step runs on each): their total is the sum.
                    let total = g.column("s").unwrap().f64().unwrap().sum();
                    assert_eq!(
                        total,
                        want.column("s").unwrap().f64().unwrap().get(0),
                        "{name}"
                    );
                } else {
                    assert_close(
                        &format!("{how:?} {what} {name}"),
                        &sorted(g, &names),
                        &sorted(want.clone(), &names),
                    );
                }
            }
        }
    }
    // The sides read only what the projection needs: `w` and the keys.
    let merged = l
        .merge(&r, Merge::left_right(How::Inner, ["id"], ["rid"]))
        .unwrap();
    let plan = merged.select([col("w")]).unwrap().explain().unwrap();
    // Each partition joins the sides itself, and they hold the keys and `w` alone (not `k`,
    // `v` and the right `k`, `v`): no merge layer runs apart.
    assert!(plan.contains("JOIN"), "{plan}");
    assert!(plan.contains(r#"DF ["id"]"#), "{plan}");
    assert!(plan.contains(r#"DF ["rid", "w"]"#), "{plan}");
    assert!(!plan.contains("  merge-"), "{plan}");
}

/// The tasks of `c`'s graph as it will run whose op is a merge of its own.
fn merge_tasks(c: &impl Collection) -> usize {
    let g = c.optimized_graph().unwrap();
    (g.layers())
        .flat_map(|l| l.entries().map(|(_, t)| t.op().name() == "merge"))
        .filter(|m| *m)
        .count()
}

#[test]
fn a_merge_read_once_is_planned_with_its_reader() {
    let (left, right) = merge_sides(97, 60);
    let (l, r) = (
        DataFrame::from_polars(left.clone(), 5),
        DataFrame::from_polars(right.clone(), 3),
    );
    let joined = left.lazy().join(
        right.lazy(),
        [col("id")],
        [col("rid")],
        JoinArgs::new(JoinType::Inner).with_coalesce(JoinCoalesce::CoalesceColumns),
    );
    let want = (joined.clone())
        .select([col("w").sum(), col("v").sum()])
        .collect()
        .unwrap();
    for broadcast in [false, true] {
        let spec = Merge::left_right(How::Inner, ["id"], ["rid"]).broadcast(broadcast);
        let merged = l.merge(&r, spec).unwrap();
        // A reduction: each partition task joins its frames and sums, with no merge task.
        let sums = merged.select([col("w"), col("v")]).unwrap().sum().unwrap();
        assert_eq!(merge_tasks(&sums), 0, "broadcast {broadcast}");
        // The merged frame itself, and a frame whose partitions two tasks read (a sort
        // samples each partition, then splits it): there the merge stays a task (shared).
        assert_eq!(merge_tasks(&merged), 0);
        let sorted_by_v = merged.sort_values("v", false).unwrap();
        assert!(merge_tasks(&sorted_by_v) > 0, "broadcast {broadcast}");
        let want_sorted = (joined.clone())
            .sort(
                ["v"],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .collect()
            .unwrap();
        for (name, s) in schedulers() {
            let what = format!("broadcast {broadcast} on {name}");
            let got = sums
                .compute_with(s)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_close(&what, &got, &want);
            let got = merged
                .compute_with(s)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let names = column_names(&want_sorted);
            assert_close(
                &what,
                &sorted(got, &names),
                &sorted(want_sorted.clone(), &names),
            );
            let got = (sorted_by_v.compute_with(s)).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                got.column("v").unwrap(),
                want_sorted.column("v").unwrap(),
                "{what}"
            );
        }
    }
}

#[test]
fn merge_errors_name_the_keys() {
    let (left, right) = merge_sides(10, 10);
    let (l, r) = (
        DataFrame::from_polars(left, 2),
        DataFrame::from_polars(right, 2),
    );
    let e = l.merge(&r, Merge::on(How::Inner, ["id"])).unwrap_err();
    assert_eq!(e.to_string(), r#"no column "id" (did you mean "rid"?)"#);
    let e = l
        .merge(&r, Merge::left_right(How::Inner, ["id"], ["w"]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"merge keys of different types: "id" is i64 on the left, "w" is f64 on the right"#
    );
    let e = l
        .merge(&r, Merge::left_right(How::Inner, ["id", "k"], ["rid"]))
        .unwrap_err();
    assert!(e.to_string().contains("same number"), "{e}");
    let e = l
        .merge(&r, Merge::on(How::Outer, ["k"]).broadcast(true))
        .unwrap_err();
    assert!(e.to_string().contains("cannot broadcast"), "{e}");
}

#[test]
fn to_parquet_and_to_csv_write_a_file_per_partition_or_none() {
    let dir = std::env::temp_dir().join(format!("rask-dataframe-write-{}", std::process::id()));
    let pl = sample(50);
    let ddf = DataFrame::from_polars(pl.clone(), 3);
    for (name, s) in schedulers() {
        let _ = std::fs::remove_dir_all(&dir);
        let pq = dir.join("pq");
        let files = ddf
            .to_parquet(pq.to_str().unwrap())
            .unwrap()
            .compute_with(s)
            .unwrap();
        assert_eq!(
            files,
            (0..3)
                .map(|i| pq.join(format!("part.{i}.parquet")))
                .collect::<Vec<_>>(),
            "{name}"
        );
        let back = DataFrame::read_parquet(&format!("{}/*.parquet", pq.display())).unwrap();
        check(&back, &pl);
        // Every compression reads back; compressed files of repetitive rows are smaller.
        let repetitive = DataFrame::from_polars(sample(20_000), 1);
        let mut sizes = Vec::new();
        for c in [
            Compression::Uncompressed,
            Compression::Snappy,
            Compression::Zstd,
            Compression::Lz4,
        ] {
            let out = dir.join(format!("{c:?}"));
            let files = (repetitive.to_parquet_with(out.to_str().unwrap(), c))
                .unwrap()
                .compute_with(s)
                .unwrap();
            sizes.push(std::fs::metadata(&files[0]).unwrap().len());
            let back = DataFrame::read_parquet(&format!("{}/*.parquet", out.display())).unwrap();
            check(&back, &sample(20_000));
        }
        assert!(
            sizes[1..].iter().all(|&z| z < sizes[0]),
            "{name}: {sizes:?}"
        );
        let csv = format!("{}/out-*.csv", dir.display());
        let files = ddf.to_csv(&csv).unwrap().compute_with(s).unwrap();
        assert_eq!(files[2], dir.join("out-2.csv"), "{name}");
        check(&DataFrame::read_csv(&csv).unwrap(), &pl);
        // A partition that fails: no file and no staging folder is left.
        let bad = ddf
            .with_columns([col("k").strict_cast(DataType::Int64)])
            .unwrap();
        let out = dir.join("bad");
        let e = bad
            .to_parquet(out.to_str().unwrap())
            .unwrap()
            .compute_with(s)
            .unwrap_err();
        assert!(e.to_string().contains("conversion"), "{name}: {e}");
        let left: Vec<_> = std::fs::read_dir(&out)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{name}: left {left:?}");
    }
    let e = ddf.to_csv("/tmp/*/x-*.csv").unwrap_err();
    assert!(
        matches!(e, FrameError::Files(FilesError::Pattern { .. })),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_a_typed_error_naming_what_was_wrong() {
    let ddf = DataFrame::from_polars(sample(10), 2);
    let e = ddf.select([col("nope")]).unwrap_err();
    assert!(matches!(e, FrameError::Plan { .. }), "{e}");
    assert!(e.to_string().contains("nope"), "{e}");
    let e = ddf.filter(col("missing").gt(lit(1))).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    let e = DataFrame::read_parquet("/nonexistent/x.parquet").unwrap_err();
    assert!(
        matches!(e, FrameError::Files(FilesError::Missing { .. })),
        "{e}"
    );
    let e = DataFrame::read_csv("/nonexistent/*.csv").unwrap_err();
    assert!(
        matches!(e, FrameError::Files(FilesError::NoFiles { .. })),
        "{e}"
    );
    // A file that is not Parquet names itself.
    let bad =
        std::env::temp_dir().join(format!("rask-dataframe-bad-{}.parquet", std::process::id()));
    std::fs::write(&bad, b"not parquet").unwrap();
    let e = DataFrame::read_parquet(bad.to_str().unwrap()).unwrap_err();
    assert!(e.to_string().contains(bad.to_str().unwrap()), "{e}");
    let _ = std::fs::remove_file(&bad);
}

#[test]
fn the_repr_names_columns_types_and_partitions() {
    let ddf = DataFrame::from_polars(sample(10), 3);
    assert_eq!(
        ddf.to_string(),
        "rask.DataFrame<npartitions=3>\n  k: str\n  x: i64\n  y: f64\n"
    );
}

/// A frame of `(key, value)` rows, the key nullable.
fn keyed(rows: Vec<(Option<i64>, i64)>, key: &str, value: &str) -> polars::prelude::DataFrame {
    let (k, v): (Vec<Option<i64>>, Vec<i64>) = rows.into_iter().unzip();
    df!(key => k, value => v).unwrap()
}

fn keyed_rows(max: usize) -> impl proptest::strategy::Strategy<Value = Vec<(Option<i64>, i64)>> {
    proptest::collection::vec(
        (proptest::option::weighted(0.85, -4i64..8), -1000i64..1000),
        0..max,
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(40))]

    /// Any two frames, any partitionings, any join kind, broadcast or shuffled into any
    /// number of outputs: Polars' join of the whole frames, row for row once sorted.
    #[test]
    fn merge_matches_polars_for_any_frames(
        left in keyed_rows(120),
        right in keyed_rows(60),
        lp in 1usize..7,
        rp in 1usize..5,
        how in 0usize..4,
        broadcast in proptest::option::of(proptest::bool::ANY),
        out in proptest::option::of(1usize..6),
    ) {
        let (left, right) = (keyed(left, "id", "v"), keyed(right, "rid", "w"));
        let (how, jt) = [
            (How::Inner, JoinType::Inner),
            (How::Left, JoinType::Left),
            (How::Right, JoinType::Right),
            (How::Outer, JoinType::Full),
        ][how].clone();
        let args = JoinArgs::new(jt).with_coalesce(JoinCoalesce::CoalesceColumns);
        let want = left.clone().lazy()
            .join(right.clone().lazy(), [col("id")], [col("rid")], args)
            .collect()
            .unwrap();
        // (A right join keeps the right side's key name.)
        let names = column_names(&want);
        let want = sorted(want, &names);
        let mut spec = Merge::left_right(how, ["id"], ["rid"]);
        if let Some(b) = broadcast {
            spec = spec.broadcast(b);
        }
        if let Some(n) = out {
            spec = spec.npartitions(n);
        }
        let l = DataFrame::from_polars(left, lp);
        let r = DataFrame::from_polars(right, rp);
        match l.merge(&r, spec) {
            Ok(merged) => {
                for (name, s) in schedulers() {
                    let got = sorted(merged.compute_with(s).unwrap(), &names);
                    proptest::prop_assert!(got.equals_missing(&want), "{name}: {got}\nwanted\n{want}");
                }
            }
            // The one refusal: broadcasting an outer join.
            Err(e) => proptest::prop_assert!(broadcast == Some(true) && how == How::Outer, "{e}"),
        }
    }

    /// Any frame, any partitioning, either direction: a stable sort of the whole frame, nulls
    /// last, row for row; and `set_index` gives the same rows with divisions that hold them.
    #[test]
    fn sort_values_and_set_index_match_polars_for_any_frame(
        rows in keyed_rows(300),
        parts in 1usize..9,
        descending in proptest::bool::ANY,
    ) {
        let pl = keyed(rows, "k", "v");
        let ddf = DataFrame::from_polars(pl.clone(), parts);
        let order = SortMultipleOptions::default()
            .with_order_descending(descending)
            .with_nulls_last(true)
            .with_maintain_order(true);
        let want = whole(&pl, |lf| lf.sort(["k"], order));
        let by_k = ddf.sort_values("k", descending).unwrap();
        for (name, s) in schedulers() {
            let got = by_k.compute_with(s).unwrap();
            proptest::prop_assert!(got.equals_missing(&want), "{name}: {got}\nwanted\n{want}");
        }

        // set_index drops nothing and keeps each partition inside its divisions.
        let indexed = ddf.dropna(&["k"]).unwrap().set_index("k").unwrap();
        // (Unknown for a frame without values.)
        let Some(divisions) = indexed.divisions() else {
            proptest::prop_assert_eq!(pl.column("k").unwrap().null_count(), pl.height());
            return Ok(());
        };
        let divisions = divisions.i64().unwrap().to_vec();
        proptest::prop_assert_eq!(divisions.len(), indexed.npartitions() + 1);
        let want = sorted(pl.clone().lazy().drop_nulls(None).collect().unwrap(), &["k", "v"]);
        for (name, s) in schedulers() {
            let got = sorted(indexed.compute_with(s).unwrap(), &["k", "v"]);
            proptest::prop_assert!(got.equals_missing(&want), "{name}: {got}\nwanted\n{want}");
        }
        let last = indexed.npartitions() - 1;
        for (j, part) in partitions(&indexed).iter().enumerate() {
            let (lo, hi) = (divisions[j].unwrap(), divisions[j + 1].unwrap());
            for k in part.column("k").unwrap().i64().unwrap().iter().flatten() {
                proptest::prop_assert!(lo <= k && (k < hi || (j == last && k == hi)),
                    "{k} in partition {j} of {divisions:?}");
            }
        }
    }
}

#[test]
fn a_series_names_what_is_wrong_and_shows_its_structure() {
    let ddf = DataFrame::from_polars(sample(10), 3);
    let e = ddf.series("xx").unwrap_err();
    insta::assert_snapshot!(e, @r#"no column "xx" (did you mean "x"?)"#);
    let k = ddf.series("k").unwrap();
    insta::assert_snapshot!(k.sum().unwrap_err(), @r#"sum: the series "k" is str, not numeric"#);
    insta::assert_snapshot!(k.quantile(&[0.5]).unwrap_err(), @r#"quantile: the series "k" is str, not numeric"#);
    assert!(k.min().is_err() && k.var(1).is_err());
    insta::assert_snapshot!(k, @r"
    rask.Series<npartitions=3>
      k: str
    ");
    // The index's divisions, when the series is the sorted index.
    let indexed = ddf.set_index("x").unwrap();
    let x = indexed.series("x").unwrap();
    assert_eq!(x.divisions(), indexed.divisions());
    assert!(x.to_string().contains("index x: divisions ["), "{x}");
    assert!(indexed.series("y").unwrap().divisions().is_none());
    // A step of a series joins its frame's run of steps: one task per partition.
    let y = ddf
        .filter(col("x").gt(lit(0)))
        .unwrap()
        .series("y")
        .unwrap()
        .map(|y| y * lit(2))
        .unwrap();
    assert_eq!(y.graph().len(), ddf.npartitions());
    assert_eq!(
        y.to_frame().compute_with(&SyncScheduler).unwrap(),
        whole(&sample(10), |lf| lf
            .filter(col("x").gt(lit(0)))
            .select([col("y") * lit(2)]))
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Floats of every kind (NaN, both zeros, infinities, nulls) sort across partitions as
    /// Polars sorts the whole frame, row for row, either direction: the ranges a row is sent
    /// to and each partition's sort order the values alike.
    #[test]
    fn sort_values_orders_every_kind_of_float_as_polars(
        values in proptest::collection::vec(
            proptest::option::weighted(0.9, proptest::prop_oneof![
                -3.0f64..3.0,
                proptest::sample::select(vec![
                    f64::NAN, -0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY, 1.0, -1.0,
                ]),
            ]),
            0..200,
        ),
        parts in 1usize..9,
        descending in proptest::bool::ANY,
    ) {
        let row: Vec<i64> = (0..values.len() as i64).collect();
        let pl = df!("f" => values, "row" => row).unwrap();
        let order = SortMultipleOptions::default()
            .with_order_descending(descending)
            .with_nulls_last(true)
            .with_maintain_order(true);
        let want = whole(&pl, |lf| lf.sort(["f"], order));
        let by_f = DataFrame::from_polars(pl, parts).sort_values("f", descending).unwrap();
        for (name, s) in schedulers() {
            let got = by_f.compute_with(s).unwrap();
            // The rows' order says it all: NaN and -0.0 compare unequal to themselves.
            proptest::prop_assert_eq!(
                got.column("row").unwrap().i64().unwrap().to_vec(),
                want.column("row").unwrap().i64().unwrap().to_vec(),
                "{}", name
            );
        }
    }
}
