"""The bag workloads with Dask bag on its default scheduler for bags (processes, 2 workers).

Usage: python bags.py wordcount|json DATA_DIR
Prints one JSON line: workload, best-of-3 seconds, the answer (checked against rask's), and
the peak resident bytes of the process tree (this process and its pool's live workers, added).
Mirrors collections/bag/benches/bags.rs; the data is what its `generate` wrote.
"""

import json
import operator
import os
import sys
import time

import dask
import dask.bag as db


def active(r):
    return bool(r.get("active"))


def count(acc, _):
    return acc + 1


def tree_peak_rss(pid="self"):
    """The peaks of this process and of every live descendant (the pool's workers), added."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    total += tree_peak_rss(child)
    except OSError:
        pass
    return total


def main():
    workload, data = sys.argv[1], sys.argv[2]
    dask.config.set(scheduler="processes", num_workers=2)

    def run():
        t = time.perf_counter()
        if workload == "wordcount":
            b = db.read_text(os.path.join(data, "text", "*.txt"))
            top = b.str.split().flatten().frequencies().topk(20, key=1).compute()
            answer = ",".join(f"{w}={n}" for w, n in top)
        elif workload == "json":
            b = db.read_text(os.path.join(data, "json", "*.jsonl")).map(json.loads)
            counts = (
                b.filter(active)
                .pluck("city")
                .foldby(lambda c: c, count, 0, operator.add, 0)
                .compute()
            )
            answer = ",".join(f"{c}={n}" for c, n in sorted(counts))
        else:
            raise SystemExit(f"unknown workload {workload}")
        return time.perf_counter() - t, answer

    runs = [run() for _ in range(3)]
    best = min(s for s, _ in runs)
    rss = tree_peak_rss()
    print(json.dumps({"workload": workload, "seconds": round(best, 4), "answer": runs[0][1],
                      "peak_rss_bytes": rss, "dask_version": dask.__version__}))


if __name__ == "__main__":
    main()
