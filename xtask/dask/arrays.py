"""The tutorial's three big computations and the part-two workloads with Dask, one per process (for its peak RSS).

Usage: python arrays.py fancy|cosmean|histogram|fancy-random|cosmean-random|hypot-npy|doubling|rechunk|matmul [--small]
Prints one JSON line: workload, best-of-3 seconds, peak resident bytes (ru_maxrss).
Mirrors collections/array/benches/tutorial.rs.
"""

import json
import resource
import sys
import time

import dask
import dask.array as da


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    small = "--small" in sys.argv
    workload = args[0]
    rows, n = (2_000, 2_000_000) if small else (200_000, 200_000_000)

    def run():
        t = time.perf_counter()
        if workload == "fancy":
            x = da.ones((rows, 4000), chunks=(1000, 1000))
            r = (x * x[::-1, ::-1]).mean().compute()
            assert r == 1.0
        elif workload == "fancy-random":
            x = da.random.default_rng(0).random((rows, 4000), chunks=(1000, 1000))
            r = (x * x[::-1, ::-1]).mean().compute()
            assert abs(r - 0.25) < 0.01
        elif workload == "cosmean-random":
            x = da.random.default_rng(0).random((rows, 4000), chunks=(1000, 1000))
            r = (da.cos(x) ** 2).mean(axis=0).compute()
            assert abs(r[0] - 0.7273243567064205) < 0.02
        elif workload == "matmul":
            m = 2000 if small else 20_000
            x = da.random.default_rng(0).random((m, 1000), chunks=(1000, 1000))
            r = (x @ x.T).sum().compute()
            assert abs(r / (m * m) - 250.0) < 5.0
        elif workload == "rechunk":
            m = 2000 if small else 20_000
            x = da.random.default_rng(0).random((m, m), chunks=(m, m // 200))
            r = x.rechunk((m // 200, m)).sum().compute()
            assert abs(r / (m * m) - 0.5) < 0.01
        elif workload == "hypot-npy":
            import os
            import shutil
            import tempfile
            import numpy as np
            m = 2000 if small else 20_000
            x = da.random.default_rng(0).random((m, m), chunks=(1000, 1000))
            y = da.random.default_rng(1).random((m, m), chunks=(1000, 1000))
            h = da.sqrt(x**2 + y**2)
            d = tempfile.mkdtemp(prefix="dask-bench-npy-")
            try:
                out = np.lib.format.open_memmap(os.path.join(d, "h.npy"), mode="w+", dtype="f8", shape=(m, m))
                da.store(h, out)
                out.flush()
                del out
            finally:
                shutil.rmtree(d)
        elif workload == "doubling":
            m = 2000 if small else 20_000
            y = da.random.default_rng(0).random((m, m), chunks=(1000, 1000))
            for _ in range(40):
                y = y + y
            r = y.sum().compute()
            assert abs(r / (m * m) / 2**40 - 0.5) < 0.01
        elif workload == "cosmean":
            x = da.ones((rows, 4000), chunks=(1000, 1000))
            r = (da.cos(x) ** 2).mean(axis=0).compute()
            assert abs(r[0] - 0.2919265817264289) < 1e-9
        elif workload == "histogram":
            x = da.random.normal(0, 1, size=n, chunks=1_000_000)
            h, bins = da.histogram(x, bins=100, range=[-5, 5])
            assert h.sum().compute() > n * 99 // 100
        else:
            raise SystemExit(f"unknown workload {workload}")
        return time.perf_counter() - t

    best = min(run() for _ in range(3))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"workload": workload, "seconds": round(best, 4), "peak_rss_bytes": rss,
                      "dask_version": dask.__version__}))


if __name__ == "__main__":
    main()
