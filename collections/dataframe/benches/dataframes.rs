//! DataFrame workloads, each timed (best of 5) in its own process: `cargo bench -p
//! rask-dataframe --bench dataframes -- WORKLOAD DATA_DIR [--small]`. Prints one JSON line:
//! seconds, the answer (to be checked against Dask's, Polars' and DuckDB's), and the peak
//! resident memory of this process.
//!
//! - `generate DATA_DIR [--small]`: writes the data every side reads, seeded, if it is not
//!   there yet — `groupby/`: 20M rows in 20 Parquet files (1M with `--small`), columns `id100`
//!   and `id1m` (integer keys with 100 and 1M distinct values), `x` (a float in [0, 1)) and `y`
//!   (an integer in 0..1000).
//! - `groupby-100` / `groupby-1m`: `read_parquet → groupby(id).agg(mean x, sum y)`.
//!
//! - `polars-100` / `polars-1m`: the same query on this crate's Polars alone, in one process.
//!
//! `RASK_SPLIT_OUT=N` sets the groupby's `split_out` (unset, it is chosen from a sample).
//! The bench binary uses mimalloc, as Python Polars uses jemalloc: Polars allocates a great
//! deal, and the system allocator costs it a fifth of its time here.
//! `cargo xtask bench dataframes [--dask] [--small]` runs them all, beside Dask, Polars and
//! DuckDB.

use std::path::Path;
use std::time::Instant;

use polars::prelude::*;
use rask_dataframe::DataFrame;
use rask_graph::Collection;
use rask_local::ThreadedScheduler;
use rask_testing::bench::{Rng, peak_rss_of};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FILES: usize = 20;

fn generate(dir: &Path, small: bool) {
    let groupby = dir.join("groupby");
    if groupby.join("done").exists() {
        return;
    }
    std::fs::create_dir_all(&groupby).unwrap_or_else(|e| panic!("{}: {e}", groupby.display()));
    let rows = if small { 50_000 } else { 1_000_000 };
    let mut rng = Rng(2026);
    for f in 0..FILES {
        let mut id100 = Vec::with_capacity(rows);
        let mut id1m = Vec::with_capacity(rows);
        let mut x = Vec::with_capacity(rows);
        let mut y = Vec::with_capacity(rows);
        for _ in 0..rows {
            id100.push(rng.below(100) as i64);
            id1m.push(rng.below(1_000_000) as i64);
            x.push(rng.unit());
            y.push(rng.below(1000) as i64);
        }
        let mut df = df!("id100" => id100, "id1m" => id1m, "x" => x, "y" => y)
            .unwrap_or_else(|e| panic!("{e}"));
        let path = groupby.join(format!("part-{f:02}.parquet"));
        let file =
            std::fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        ParquetWriter::new(file)
            .finish(&mut df)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    std::fs::write(groupby.join("done"), b"").unwrap_or_else(|e| panic!("{e}"));
}

/// Groups, the sum of `y` over them and the sum of the means of `x`: what every side must agree on.
fn groupby_answer(df: &polars::prelude::DataFrame) -> String {
    let sum_y: i64 = df
        .column("y")
        .and_then(|c| c.i64().map(|c| c.sum().unwrap_or(0)))
        .unwrap_or(-1);
    let sum_mean_x: f64 = df
        .column("x")
        .and_then(|c| c.f64().map(|c| c.sum().unwrap_or(0.0)))
        .unwrap_or(-1.0);
    format!(
        "{{\"groups\": {}, \"sum_y\": {sum_y}, \"sum_mean_x\": {sum_mean_x}}}",
        df.height()
    )
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let small = args.iter().any(|a| a == "--small");
    let rest: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let [workload, dir] = rest[..] else {
        eprintln!("usage: dataframes generate|groupby-100|groupby-1m DATA_DIR [--small]");
        std::process::exit(2);
    };
    let dir = Path::new(dir);
    if workload == "generate" {
        generate(dir, small);
        return;
    }
    let s = ThreadedScheduler::builder()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let files = format!("{}/groupby/*.parquet", dir.display());
    let run = || -> String {
        match workload {
            "groupby-100" | "groupby-1m" => {
                let id = if workload == "groupby-100" {
                    "id100"
                } else {
                    "id1m"
                };
                let df = DataFrame::read_parquet(&files)
                    .and_then(|d| {
                        let g = d.groupby([id])?;
                        let g = match std::env::var("RASK_SPLIT_OUT")
                            .ok()
                            .and_then(|v| v.parse().ok())
                        {
                            Some(n) => g.split_out(n),
                            None => g,
                        };
                        g.agg([col("x").mean(), col("y").sum()])
                    })
                    .unwrap_or_else(|e| panic!("{e}"));
                groupby_answer(&df.compute_with(&s).unwrap_or_else(|e| panic!("{e}")))
            }
            // Polars alone (this crate's Polars, in this process), for comparison.
            "polars-100" | "polars-1m" => {
                let id = if workload == "polars-100" {
                    "id100"
                } else {
                    "id1m"
                };
                let path =
                    PlRefPath::try_from_path(Path::new(&files)).unwrap_or_else(|e| panic!("{e}"));
                let df = LazyFrame::scan_parquet(path, ScanArgsParquet::default())
                    .and_then(|lf| {
                        lf.group_by([col(id)])
                            .agg([col("x").mean(), col("y").sum()])
                            .collect()
                    })
                    .unwrap_or_else(|e| panic!("{e}"));
                groupby_answer(&df)
            }
            other => {
                eprintln!("unknown workload {other}");
                std::process::exit(2);
            }
        }
    };
    let mut best = f64::INFINITY;
    let mut answer = String::new();
    for _ in 0..5 {
        let t = Instant::now();
        answer = run();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{{\"workload\": \"{workload}\", \"seconds\": {best:.4}, \"answer\": {answer}, \"peak_rss_bytes\": {}}}",
        peak_rss_of("self")
    );
}
