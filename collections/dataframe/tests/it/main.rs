//! rask-dataframe's tests: every operation against the same Polars operation on the whole
//! frame, on the sync, threaded and process schedulers; files; errors.

use std::sync::OnceLock;

use polars::prelude::*;
use rask_dataframe::{DataFrame, FrameError};
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
            lf.select([col("k"), col("x"), col("y")].map(|c| c.count().cast(DataType::UInt64)))
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

#[test]
fn bad_input_is_a_typed_error_naming_what_was_wrong() {
    let ddf = DataFrame::from_polars(sample(10), 2);
    let e = ddf.select([col("nope")]).unwrap_err();
    assert!(matches!(e, FrameError::Plan { .. }), "{e}");
    assert!(e.to_string().contains("nope"), "{e}");
    let e = ddf.filter(col("missing").gt(lit(1))).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    let e = DataFrame::read_parquet("/nonexistent/x.parquet").unwrap_err();
    assert!(matches!(e, FrameError::Missing { .. }), "{e}");
    let e = DataFrame::read_csv("/nonexistent/*.csv").unwrap_err();
    assert!(matches!(e, FrameError::NoFiles { .. }), "{e}");
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
