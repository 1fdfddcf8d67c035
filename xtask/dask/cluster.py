"""Dask's distributed scheduler on a 2-worker LocalCluster, mirroring
schedulers/distributed/benches/cluster.rs.

Workloads:
  trivial    N trivial tasks ``inc(i)`` and one ``sum`` over them, via ``client.get``
             (N = 10,000; 1,000 with --small): microseconds per task end to end.
  histogram  the seed's histogram of 2e8 normals in 1e6 chunks, 100 bins on [-5, 5].
  fancy      ``(x * x[::-1, ::-1]).mean()`` over ones((200000, 4000)) in 1000² chunks.
  transfer   a 100 MB array made on one worker and read on the other, minus read in place.

Usage: python distributed.py [--small]
Prints one JSON line: the figures, and the peak RSS of the largest worker per workload.
"""

import json
import resource
import sys
import time

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster


def inc(x):
    return x + 1


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make(n):
    return np.ones(n)


def length(*xs):
    return sum(len(x) for x in xs)


def best(f, repeat=3):
    return min(f() for _ in range(repeat))


def main():
    small = "--small" in sys.argv
    n = 1_000 if small else 10_000
    rows, normals = (2_000, 2_000_000) if small else (200_000, 200_000_000)
    out = {"workload": "distributed-dask"}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        dsk = {f"inc-{i}": (inc, i) for i in range(n)}
        dsk["total"] = (sum, [f"inc-{i}" for i in range(n)])

        def trivial():
            t = time.perf_counter()
            r = client.get(dsk, "total")
            assert r == n * (n + 1) // 2
            return time.perf_counter() - t

        client.get({"w": (inc, 1)}, "w")
        s = best(trivial)
        out["trivial_tasks"] = n + 1
        out["trivial_seconds"] = s
        out["us_per_task"] = s * 1e6 / (n + 1)

        def histogram():
            t = time.perf_counter()
            x = da.random.normal(0, 1, size=normals, chunks=1_000_000)
            h, _ = da.histogram(x, bins=100, range=[-5, 5])
            assert h.sum().compute() > normals * 99 // 100
            return time.perf_counter() - t

        out["histogram_seconds"] = best(histogram)

        def fancy():
            t = time.perf_counter()
            x = da.ones((rows, 4000), chunks=(1000, 1000))
            r = (x * x[::-1, ::-1]).mean().compute()
            assert r == 1.0
            return time.perf_counter() - t

        out["fancy_seconds"] = best(fancy)
        workers = list(client.scheduler_info()["workers"])

        def transfer(together):
            t = time.perf_counter()
            a = client.submit(make, 12_500_000, workers=[workers[0]], pure=False)
            b = client.submit(make, 12_500_000, workers=[workers[1]], pure=False)
            if together:
                r = client.submit(length, a, b, workers=[workers[1]], pure=False).result()
            else:
                r = client.submit(length, a, workers=[workers[0]], pure=False).result()
                r += client.submit(length, b, workers=[workers[1]], pure=False).result()
            assert r == 25_000_000
            return time.perf_counter() - t

        moved = max(best(lambda: transfer(True)) - best(lambda: transfer(False)), 1e-9)
        out["transfer_seconds"] = moved
        out["transfer_gb_per_s"] = 0.1 / moved
        out["worker_peak_rss_bytes"] = max(client.run(peak_rss).values())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
