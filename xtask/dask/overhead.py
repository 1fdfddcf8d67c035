"""Measure Dask's per-task scheduler overhead on raw task graphs.

Baseline figures for rask (the Rust re-implementation of Dask). Graphs are
plain dicts of tuples with trivial top-level functions, so nearly all of the
measured time is scheduler bookkeeping rather than user work.

Schedulers:
  sync       dask.local.get_sync (what ``dask.get`` is)
  threaded   dask.threaded.get (default thread pool, one thread per core)
  processes  dask.multiprocessing.get with a 2-process pool; only with
             ``--processes``, only for the "independent" workload, with 50,000
             tasks. The pool is created once, outside the timed region, and
             ``optimize_graph=False`` so ``fuse`` does not rewrite the graph.

Workloads (N = --n, default 100_000):
  independent  N tasks ``inc(i)`` plus one ``sum`` over all of them  (N+1 tasks)
  chain        ``inc(prev)`` N times, starting from ``inc(0)``        (N tasks)
  tree         N leaves ``inc(i)`` reduced pairwise with ``add``; an odd
               leftover is carried up to the next level               (2N-1 tasks)

For each (scheduler, workload): one warm-up run on a small (1,000-leaf) graph
of the same shape, then the full ``get(dsk, key)`` call is timed best-of-R with
time.perf_counter (graph construction is not timed). The result is checked.

Usage: python overhead.py [--n N] [--processes] [--repeat R]
Prints a single JSON object on stdout; progress goes to stderr.
"""

import argparse
import json
import multiprocessing
import sys
import time
from operator import add

import dask
import dask.local
import dask.multiprocessing
import dask.threaded


def inc(x):
    return x + 1


def independent(n):
    dsk = {f"inc-{i}": (inc, i) for i in range(n)}
    dsk["total"] = (sum, [f"inc-{i}" for i in range(n)])
    return dsk, "total", n * (n + 1) // 2


def chain(n):
    dsk = {"chain-0": (inc, 0)}
    for i in range(1, n):
        dsk[f"chain-{i}"] = (inc, f"chain-{i - 1}")
    return dsk, f"chain-{n - 1}", n


def tree(n):
    dsk = {f"leaf-{i}": (inc, i) for i in range(n)}
    level, keys = 0, [f"leaf-{i}" for i in range(n)]
    while len(keys) > 1:
        level += 1
        nxt = []
        for j in range(0, len(keys) - 1, 2):
            k = f"add-{level}-{j // 2}"
            dsk[k] = (add, keys[j], keys[j + 1])
            nxt.append(k)
        if len(keys) % 2:  # odd leftover is carried up unchanged
            nxt.append(keys[-1])
        keys = nxt
    return dsk, keys[0], n * (n + 1) // 2


WORKLOADS = {"independent": independent, "chain": chain, "tree": tree}


def bench(get, build, n, repeat):
    wdsk, wkey, wexpected = build(min(n, 1000))
    assert get(wdsk, wkey) == wexpected
    dsk, key, expected = build(n)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = get(dsk, key)
        best = min(best, time.perf_counter() - t0)
        assert result == expected, (result, expected)
    return {"tasks": len(dsk), "seconds": best, "us_per_task": best / len(dsk) * 1e6}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--processes", action="store_true")
    args = p.parse_args()
    # Neither get_sync nor the threaded scheduler recursed on a 100k chain with
    # dask 2026.8.0 at the default limit; the limit is raised anyway as a cheap
    # guard for older/newer versions whose graph conversion/ordering recurses.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * args.n + 1000))

    runs = [(s, w, g, args.n) for s, g in (("sync", dask.local.get_sync),
                                           ("threaded", dask.threaded.get))
            for w in WORKLOADS]
    pool = None
    if args.processes:
        ctx = multiprocessing.get_context(dask.config.get("multiprocessing.context", "spawn"))
        pool = ctx.Pool(2)

        def mp_get(dsk, key):
            return dask.multiprocessing.get(dsk, key, pool=pool, optimize_graph=False)

        runs.append(("processes", "independent", mp_get, 50_000))

    results = []
    for sched, wl, get, n in runs:
        print(f"{sched:>9} {wl:<11} n={n} ...", end=" ", file=sys.stderr, flush=True)
        r = {"scheduler": sched, "workload": wl, **bench(get, WORKLOADS[wl], n, args.repeat)}
        print(f"{r['seconds']:.3f}s  {r['us_per_task']:.2f} us/task", file=sys.stderr)
        results.append(r)
    if pool is not None:
        pool.close()
        pool.join()
    json.dump({"dask_version": dask.__version__, "python": sys.version.split()[0],
               "results": results}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
