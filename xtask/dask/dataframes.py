"""The dataframe workloads with Dask (dask-expr, its default threaded scheduler), Polars and
DuckDB, each on the same Parquet files.

Usage: python dataframes.py ENGINE WORKLOAD DATA_DIR, ENGINE one of dask|polars|duckdb.
Prints one JSON line: engine, workload, best-of-5 seconds, the answer (checked against
rask's), and the peak resident bytes of this process.
Mirrors collections/dataframe/benches/dataframes.rs; the data is what its `generate` wrote.
"""

import json
import os
import sys
import time


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def answer(groups, sum_y, sum_mean_x):
    return {"groups": int(groups), "sum_y": int(sum_y), "sum_mean_x": float(sum_mean_x)}


def groupby(engine, files, key):
    if engine == "dask":
        import dask.dataframe as dd

        df = dd.read_parquet(files).groupby(key).agg({"x": "mean", "y": "sum"}).compute()
        return answer(len(df), df["y"].sum(), df["x"].sum())
    if engine == "polars":
        import polars as pl

        df = pl.scan_parquet(files).group_by(key).agg(pl.col("x").mean(), pl.col("y").sum()).collect()
        return answer(df.height, df["y"].sum(), df["x"].sum())
    if engine == "duckdb":
        import duckdb

        q = f"SELECT {key}, avg(x) AS x, sum(y) AS y FROM read_parquet('{files}') GROUP BY {key}"
        n, y, x = duckdb.sql(f"SELECT count(*), sum(y), sum(x) FROM ({q})").fetchall()[0]
        return answer(n, y, x)
    raise SystemExit(f"unknown engine {engine}")


def main():
    engine, workload, data = sys.argv[1], sys.argv[2], sys.argv[3]
    files = os.path.join(data, "groupby", "*.parquet")
    if workload in ("groupby-100", "groupby-1m"):
        key = "id100" if workload == "groupby-100" else "id1m"

        def run():
            return groupby(engine, files, key)
    else:
        raise SystemExit(f"unknown workload {workload}")
    best, out = float("inf"), None
    for _ in range(5):
        t = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t)
    print(
        json.dumps(
            {
                "engine": engine,
                "workload": workload,
                "seconds": best,
                "answer": out,
                "peak_rss_bytes": peak_rss(),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
