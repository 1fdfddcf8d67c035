//! The distributed scheduler end to end on a 2-worker LocalCluster: per-task overhead
//! (100,000 trivial tasks and one reading them all), the seed's histogram of 2e8 normals and
//! the fancy mean, and a 100 MB value moved between two workers; the workers' peak RSS.
//! Prints one JSON line; `cargo xtask bench distributed [--dask]` shows it beside Dask's
//! (`xtask/dask/cluster.py`). `--small`: a tenth, or less, of each.

use std::sync::Arc;
use std::time::Instant;

use rask_array::random::Generator;
use rask_array::{Array, Reduction};
use rask_distributed::{Client, LocalCluster};
use rask_graph::Collection;
use rask_graph::Scheduler;

const CHUNK: usize = 100_000_000 / 8;

fn best_of(n: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..n).map(|_| f()).fold(f64::INFINITY, f64::min)
}

fn main() {
    let small = std::env::args().any(|a| a == "--small");
    let n: u32 = if small { 10_000 } else { 100_000 };
    let (rows, normals) = if small {
        (2_000, 2_000_000)
    } else {
        (200_000, 200_000_000)
    };
    let cluster = LocalCluster::builder()
        .n_workers(2)
        .threads_per_worker(1)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let client = Client::new(&cluster).unwrap_or_else(|e| panic!("{e}"));
    let s = client.scheduler();
    let (g, key) = rask_testing::independent(
        n,
        Arc::new(rask_graph::ops::AddConst(1)),
        Arc::new(rask_graph::ops::Sum),
    );
    let keys = [key];
    let trivial = best_of(3, || {
        let t = Instant::now();
        let v = s.get(&g, &keys, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            *v[0].get::<i64>().unwrap_or(&0),
            (1..=i64::from(n)).sum::<i64>()
        );
        t.elapsed().as_secs_f64()
    });
    let time = |together: bool| {
        let (g, keys) = rask_testing::two_chunks(CHUNK, together);
        best_of(3, || {
            let t = Instant::now();
            s.get(&g, &keys, &[]).unwrap_or_else(|e| panic!("{e}"));
            t.elapsed().as_secs_f64()
        })
    };
    let apart = time(false);
    let together = time(true);
    let moved = (together - apart).max(1e-9);
    // The seed's histogram and the fancy mean, on the cluster.
    let histogram = best_of(3, || {
        let t = Instant::now();
        let x = Generator::new(0)
            .normal(0.0, 1.0, &[normals], 1_000_000usize)
            .unwrap_or_else(|e| panic!("{e}"));
        let (h, _) = x
            .histogram(100, (-5.0, 5.0))
            .unwrap_or_else(|e| panic!("{e}"));
        let r = h.compute_with(&s).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.sum() > (normals as u64) * 99 / 100);
        t.elapsed().as_secs_f64()
    });
    let fancy = best_of(3, || {
        let t = Instant::now();
        let x = Array::<f64>::ones(&[rows, 4000], [1000, 1000]).unwrap_or_else(|e| panic!("{e}"));
        let y = x
            .slice(ndarray::s![..;-1, ..;-1])
            .unwrap_or_else(|e| panic!("{e}"));
        let m = (&x * &y)
            .mean(Reduction::all())
            .unwrap_or_else(|e| panic!("{e}"));
        let r = m.compute_with(&s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.iter().next().copied(), Some(1.0));
        t.elapsed().as_secs_f64()
    });
    let worker_rss = cluster
        .worker_pids()
        .into_iter()
        .map(|pid| rask_testing::bench::peak_rss_of(&pid.to_string()))
        .max()
        .unwrap_or(0);
    println!(
        "{{\"workload\": \"distributed\", \"tasks\": {}, \"seconds\": {trivial:.4}, \"us_per_task\": {:.3}, \"histogram_seconds\": {histogram:.4}, \"fancy_seconds\": {fancy:.4}, \"transfer_seconds\": {moved:.4}, \"transfer_gb_per_s\": {:.3}, \"worker_peak_rss_bytes\": {worker_rss}}}",
        n + 1,
        trivial * 1e6 / f64::from(n + 1),
        0.1 / moved
    );
}
