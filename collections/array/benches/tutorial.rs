//! The tutorial's three big computations and the arrays-part-two workloads, each timed (best of 3) in its own process so that
//! its peak resident memory is its own: `cargo bench -p rask-array --bench tutorial -- fancy`
//! (or `cosmean`, `histogram`; add `--small` for a quick run). Prints one JSON line.
//! `fancy-random` and `cosmean-random` run the same expressions on uniform random data
//! instead of ones, where no lane is constant.
//! `matmul`, `rechunk`, `zarr` and `optimize` are the part-two figures; `blocks` times building,
//! optimizing and computing 1M and 5M one-element blocks (linear in blocks, or not).
//! `cargo xtask bench arrays [--dask]` runs them all, beside Dask where Dask has a twin.

use std::time::Instant;

use rask_array::random::Generator;
use rask_array::{Array, Reduction, s};
use rask_graph::Collection;
use rask_local::ThreadedScheduler;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let small = args.iter().any(|a| a == "--small");
    let Some(workload) = args.iter().skip(1).find(|a| !a.starts_with("--")) else {
        eprintln!(
            "usage: tutorial fancy|cosmean|histogram|fancy-random|cosmean-random|hypot-npy|doubling|rechunk|matmul|zarr|optimize|blocks [--small]"
        );
        std::process::exit(2);
    };
    let s = ThreadedScheduler::builder().build().unwrap_or_default();
    let (rows, n) = if small {
        (2_000, 2_000_000)
    } else {
        (200_000, 200_000_000)
    };
    // The tutorial's `rows`×4000 array in 1000² blocks: ones, or uniform random numbers.
    let ones = || Array::<f64>::ones(&[rows, 4000], [1000, 1000]).unwrap_or_else(|e| panic!("{e}"));
    let uniform = || {
        Generator::new(0)
            .uniform(0.0, 1.0, &[rows, 4000], [1000, 1000])
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let run = || -> f64 {
        let t = Instant::now();
        match workload.as_str() {
            "fancy" => {
                let r = fancy(&ones(), &s);
                assert_eq!(r.iter().next().copied(), Some(1.0));
            }
            "fancy-random" => {
                let r = fancy(&uniform(), &s);
                // E[x * y] for independent uniforms is 1/4.
                assert!((r.iter().next().copied().unwrap_or(0.0) - 0.25).abs() < 0.01);
            }
            "cosmean-random" => {
                let r = cosmean(&uniform(), &s);
                // E[cos(u)**2] for u uniform on [0, 1) is 1/2 + sin(2)/4.
                assert!((r[[0]] - (0.5 + 2f64.sin() / 4.0)).abs() < 0.02);
            }
            "matmul" => {
                // x @ x.T for 20000×1000 f64 in 1000×1000 chunks, summed.
                let n = if small { 2000 } else { 20_000 };
                let x = Generator::new(0)
                    .uniform(0.0, 1.0, &[n, 1000], [1000, 1000])
                    .unwrap_or_else(|e| panic!("{e}"));
                let t = x.t().unwrap_or_else(|e| panic!("{e}"));
                let p = x.matmul(&t).unwrap_or_else(|e| panic!("{e}"));
                let m = p.sum(Reduction::all()).unwrap_or_else(|e| panic!("{e}"));
                let r = m.compute_on(&s, &[]).unwrap_or_else(|e| panic!("{e}"));
                // Each entry sums 1000 products of uniforms: about 250.
                let mean = r.iter().next().copied().unwrap_or(0.0) / (n * n) as f64;
                assert!((mean - 250.0).abs() < 5.0, "{mean}");
            }
            "hypot-npy" => {
                // sqrt(x**2 + y**2) over two 20000² uniform arrays in 1000² blocks, written to
                // one .npy file (3.2 GB): an elementwise expression that is stored, not reduced.
                let n = if small { 2000 } else { 20_000 };
                let g = Generator::new(0);
                let x = g
                    .uniform(0.0, 1.0, &[n, n], [1000, 1000])
                    .unwrap_or_else(|e| panic!("{e}"));
                let y = Generator::new(1)
                    .uniform(0.0, 1.0, &[n, n], [1000, 1000])
                    .unwrap_or_else(|e| panic!("{e}"));
                let h = (x.powi(2) + y.powi(2)).sqrt();
                let dir =
                    std::env::temp_dir().join(format!("rask-bench-npy-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
                let path = dir.join("h.npy");
                let written = h
                    .to_npy(&path)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .compute_on(&s, &[])
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(written as usize, (n / 1000) * (n / 1000));
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                assert!(len >= (n * n * 8) as u64);
                let _ = std::fs::remove_dir_all(&dir);
            }
            "doubling" => {
                // y = y + y, 40 times, summed, over 20000² uniform numbers in 1000² blocks.
                let n = if small { 2000 } else { 20_000 };
                let x = Generator::new(0)
                    .uniform(0.0, 1.0, &[n, n], [1000, 1000])
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut y = x.clone();
                for _ in 0..40 {
                    y = &y + &y;
                }
                let m = y.sum(Reduction::all()).unwrap_or_else(|e| panic!("{e}"));
                let r = m.compute_on(&s, &[]).unwrap_or_else(|e| panic!("{e}"));
                let mean = r.iter().next().copied().unwrap_or(0.0) / (n * n) as f64 / 2f64.powi(40);
                assert!((mean - 0.5).abs() < 0.01, "{mean}");
            }
            "zarr" => {
                // An 8 GB array (1e9 f64) written to zarr and read back, in 80 MB blocks.
                let rows = if small { 1000 } else { 100_000 };
                let dir =
                    std::env::temp_dir().join(format!("rask-bench-zarr-{}", std::process::id()));
                let path = dir.join("x.zarr");
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
                let x = Generator::new(0)
                    .uniform(0.0, 1.0, &[rows, 10_000], [1000, 10_000])
                    .unwrap_or_else(|e| panic!("{e}"));
                let written = x
                    .to_zarr(&path)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .compute_on(&s, &[])
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(written as usize, rows / 1000);
                let y = Array::<f64>::from_zarr(&path, None).unwrap_or_else(|e| panic!("{e}"));
                let m = y.sum(Reduction::all()).unwrap_or_else(|e| panic!("{e}"));
                let r = m.compute_on(&s, &[]).unwrap_or_else(|e| panic!("{e}"));
                let mean = r.iter().next().copied().unwrap_or(0.0) / (rows * 10_000) as f64;
                assert!((mean - 0.5).abs() < 0.01);
                let _ = std::fs::remove_dir_all(&dir);
            }
            "optimize" => {
                // Building and optimizing a big graph: (ones + 1).sum() over 1M blocks (3M
                // tasks before optimization); nothing is computed.
                let n = if small { 100 } else { 1000 };
                let x = Array::<f64>::ones(&[n, n], 1usize).unwrap_or_else(|e| panic!("{e}"));
                let y = (&x + 1.0)
                    .sum(Reduction::all())
                    .unwrap_or_else(|e| panic!("{e}"));
                let g = y.optimized_graph().unwrap_or_else(|e| panic!("{e}"));
                assert!(g.len() > n * n);
            }
            "rechunk" => {
                // 20000×20000 f64 (3.2 GB) from column panels to row panels.
                let n = if small { 2000 } else { 20_000 };
                let x = Generator::new(0)
                    .uniform(0.0, 1.0, &[n, n], [n, n / 200])
                    .unwrap_or_else(|e| panic!("{e}"));
                let y = x.rechunk([n / 200, n]).unwrap_or_else(|e| panic!("{e}"));
                let m = y.sum(Reduction::all()).unwrap_or_else(|e| panic!("{e}"));
                let r = m.compute_on(&s, &[]).unwrap_or_else(|e| panic!("{e}"));
                let mean = r.iter().next().copied().unwrap_or(0.0) / (n * n) as f64;
                assert!((mean - 0.5).abs() < 0.01);
            }
            "cosmean" => {
                let r = cosmean(&ones(), &s);
                assert!((r[[0]] - 1f64.cos().powi(2)).abs() < 1e-9);
            }
            "histogram" => {
                let x = Generator::new(0)
                    .normal(0.0, 1.0, &[n], 1_000_000usize)
                    .unwrap_or_else(|e| panic!("{e}"));
                let (h, _) = x
                    .histogram(100, (-5.0, 5.0))
                    .unwrap_or_else(|e| panic!("{e}"));
                let r = h.compute_on(&s, &[]).unwrap_or_else(|e| panic!("{e}"));
                assert!(r.sum() > (n as u64) * 99 / 100);
            }
            other => {
                eprintln!("unknown workload {other}");
                std::process::exit(2);
            }
        }
        t.elapsed().as_secs_f64()
    };
    if workload == "blocks" {
        blocks(&s, small);
        return;
    }
    if workload == "blocks-one" {
        let shape = args.iter().skip(1).filter(|a| !a.starts_with("--")).nth(1);
        blocks_one(&s, shape.map_or("1000000", |a| a.as_str()));
        return;
    }
    if workload == "blocks-reference" {
        let n = args.iter().skip(1).filter(|a| !a.starts_with("--")).nth(1);
        let n = n.map_or(Ok(1_000_000), |n| n.parse());
        blocks_reference(n.unwrap_or_else(|e| panic!("blocks-reference N: {e}")));
        return;
    }
    let best = (0..3).map(|_| run()).fold(f64::INFINITY, f64::min);
    if workload == "matmul" {
        // The rate of the whole product, and of the same kernel on large products alone.
        let n = if small { 2000 } else { 20_000 };
        let gflops = 2.0 * (n * n) as f64 * 1000.0 / best / 1e9;
        // The workload's own peak, before the reference's matrices.
        let rss = rask_testing::bench::peak_rss_of("self");
        let gemm = gemm_rate(if small { 1000 } else { 4000 });
        println!(
            "{{\"workload\": \"{workload}\", \"seconds\": {best:.4}, \"gflops\": {gflops:.1}, \"gemm_gflops\": {gemm:.1}, \"peak_rss_bytes\": {rss}}}"
        );
        return;
    }
    println!(
        "{{\"workload\": \"{workload}\", \"seconds\": {best:.4}, \"peak_rss_bytes\": {}}}",
        rask_testing::bench::peak_rss_of("self")
    );
}

/// The GEMM rate (GFLOP/s) the block kernel — faer's, one product per thread, as the
/// blocks' tasks run it — reaches on large products: one `m`³ product per core at once, best
/// of 3.
fn gemm_rate(m: usize) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let a: Vec<f64> = (0..m * m).map(|i| (i % 1009) as f64 / 1009.0).collect();
    let once = || {
        let t = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..cores {
                scope.spawn(|| {
                    let mut out = vec![0.0f64; m * m];
                    let fa = faer::MatRef::from_row_major_slice(&a, m, m);
                    let fo = faer::MatMut::from_row_major_slice_mut(&mut out, m, m);
                    faer::linalg::matmul::matmul(
                        fo,
                        faer::Accum::Replace,
                        fa,
                        fa,
                        1.0,
                        faer::Par::Seq,
                    );
                    std::hint::black_box(&out);
                });
            }
        });
        t.elapsed().as_secs_f64()
    };
    let best = (0..3).map(|_| once()).fold(f64::INFINITY, f64::min);
    cores as f64 * 2.0 * (m as f64).powi(3) / best / 1e9
}

/// Building, optimizing and computing `(ones + 1).sum()` in one-element blocks: 1M and 5M
/// blocks, 1-d and 2-d (3 tasks per block before optimization). Linear in blocks: the 5M
/// figure is at most 5× the 1M one. Beside them, the same two counts through
/// [`blocks_reference`], plain Rust with about as much memory per block: what a linear
/// program's ratio is on this machine. Then `y = y + y` 10, 20 and 40 times, summed: linear in the
/// depth. Prints one JSON line.
///
/// Each block count is timed once per fresh process (`tutorial blocks-one SHAPE`,
/// `tutorial blocks-reference N`), the six runs in turn, 7 rounds: a run in a process that
/// has already run a bigger graph reuses the heap that graph grew (glibc keeps freed chunks
/// under 32 MB for reuse and unmaps bigger ones), which flatters whichever shape runs after a
/// bigger one. Two figures per ratio: the best 5M time over the best 1M time, and the median
/// over rounds of each round's own 5M/1M ratio. On a machine whose speed drifts by ±20% over
/// seconds, the best of several 3 s runs is likelier to fall in a quiet spell than the best of
/// as many 15 s runs, which flatters the 1M side of the first figure; the second compares runs
/// made one after the other, under the same drift.
fn blocks(s: &ThreadedScheduler, small: bool) {
    let scale = if small { 10 } else { 1 };
    let (side1, side5) = if small { (316, 707) } else { (1000, 2236) };
    // Each run: the subcommand and its argument. The last two are the plain-Rust yardstick.
    let runs = [
        ("blocks-one", (1_000_000 / scale).to_string()),
        ("blocks-one", (5_000_000 / scale).to_string()),
        ("blocks-one", format!("{side1}x{side1}")),
        ("blocks-one", format!("{side5}x{side5}")),
        ("blocks-reference", (1_000_000 / scale).to_string()),
        ("blocks-reference", (5_000_000 / scale).to_string()),
    ];
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut best = [f64::INFINITY; 6];
    let mut peaks = [0u64; 6];
    // Per pair of runs (1-d, 2-d, yardstick), each round's 5M/1M ratio.
    let mut ratios: [Vec<f64>; 3] = Default::default();
    for _ in 0..7 {
        let mut times = [0.0f64; 6];
        for ((command, arg), ((best, peak), time)) in runs
            .iter()
            .zip(best.iter_mut().zip(&mut peaks).zip(&mut times))
        {
            let out = std::process::Command::new(&exe)
                .args([command, arg.as_str()])
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                out.status.success(),
                "{command} {arg}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let mut fields = text.split_whitespace();
            let mut next = || {
                fields
                    .next()
                    .unwrap_or_else(|| panic!("{command} {arg}: {text}"))
            };
            let seconds: f64 = next().parse().unwrap_or_else(|e| panic!("{e}"));
            let rss: u64 = next().parse().unwrap_or_else(|e| panic!("{e}"));
            *best = best.min(seconds);
            *peak = (*peak).max(rss);
            *time = seconds;
        }
        for (pair, ratios) in times.chunks_exact(2).zip(&mut ratios) {
            ratios.push(pair[1] / pair[0]);
        }
    }
    let [m1, m5, m1_2d, m5_2d, r1, r5] = best;
    let [q1, q2, qr] = ratios.map(median);
    let peak = peaks[..4].iter().copied().max().unwrap_or(0);
    // Shared subexpressions: `y = y + y` n times, summed, over random data (no constant lane
    // to fold): optimizing and computing is linear in n (a fused DAG, not a tree of 2^n).
    let x = Generator::new(1)
        .uniform(0.0, 1.0, &[1000, 1000], [250, 250])
        .unwrap_or_else(|e| panic!("{e}"));
    let doubling = |depth: usize| {
        let run = || {
            let t = Instant::now();
            let mut y = x.clone();
            for _ in 0..depth {
                y = &y + &y;
            }
            let r = y
                .sum(Reduction::all())
                .unwrap_or_else(|e| panic!("{e}"))
                .compute_on(s, &[])
                .unwrap_or_else(|e| panic!("{e}"));
            let mean = r.iter().next().copied().unwrap_or(0.0) / 1e6 / 2f64.powi(depth as i32);
            assert!((mean - 0.5).abs() < 0.01, "{mean}");
            t.elapsed().as_secs_f64()
        };
        (0..3).map(|_| run()).fold(f64::INFINITY, f64::min)
    };
    let (d10, d20, d40) = (doubling(10), doubling(20), doubling(40));
    println!(
        "{{\"workload\": \"blocks\", \"seconds\": {m5:.4}, \"seconds_1m\": {m1:.4}, \"seconds_5m\": {m5:.4}, \"seconds_1m_2d\": {m1_2d:.4}, \"seconds_5m_2d\": {m5_2d:.4}, \"doubling_10\": {d10:.4}, \"doubling_20\": {d20:.4}, \"doubling_40\": {d40:.4}, \"reference_1m\": {r1:.4}, \"reference_5m\": {r5:.4}, \"reference_1m_rss\": {}, \"reference_5m_rss\": {}, \"median_ratio_1d\": {q1:.4}, \"median_ratio_2d\": {q2:.4}, \"median_ratio_reference\": {qr:.4}, \"peak_rss_bytes\": {}}}",
        peaks[4],
        peaks[5],
        peak.max(rask_testing::bench::peak_rss_of("self"))
    );
}

/// The median of `values` (the mean of the middle two for an even count; NaN for none).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The yardstick of `blocks`: plain Rust, no rask, doing per block what building,
/// optimizing and computing one block does to memory — four layers of one task per block,
/// each task with its own boxed argument (a key), a layer of tasks reading 32 blocks each,
/// per-task dependency lists and counts, everything walked in order and dropped: about 570
/// bytes a block at the peak (rask's blocks take about 500). Linear by construction, so its
/// 5M/1M time ratio is what this machine's caches, TLB and page faults make of a linear
/// program of that size; the blocks' ratio is read beside it. Prints its seconds and this
/// process's peak resident bytes.
fn blocks_reference(n: usize) {
    use std::hint::black_box;
    use std::sync::Arc;
    struct Key {
        name: Arc<str>,
        index: [u32; 4],
    }
    struct Task {
        op: usize,
        args: Box<[Key]>,
    }
    let t = Instant::now();
    const LAYERS: usize = 4;
    let names: Vec<Arc<str>> = (0..LAYERS)
        .map(|l| Arc::from(format!("layer-{l}")))
        .collect();
    let key = |layer: usize, i: usize| Key {
        name: Arc::clone(&names[layer]),
        index: [i as u32, 0, 0, 0],
    };
    // Each layer's tasks read the same block of the layer before.
    let mut layers: Vec<Vec<Task>> = Vec::new();
    for layer in 0..LAYERS {
        let tasks = (0..n).map(|i| Task {
            op: layer,
            args: Box::new([key(layer, i)]),
        });
        layers.push(tasks.collect());
    }
    let reduce: Vec<Task> = (0..n.div_ceil(32))
        .map(|j| Task {
            op: LAYERS,
            args: (32 * j..(32 * j + 32).min(n))
                .map(|i| key(LAYERS - 1, i))
                .collect(),
        })
        .collect();
    // A plan: per task, its dependencies' ids, and a count of them, found by position.
    let mut deps: Vec<Vec<u32>> = Vec::with_capacity(LAYERS * n + reduce.len());
    // Layer 0 reads nothing; a task of layer `l` reads blocks of layer `l - 1`.
    deps.extend((0..n).map(|_| Vec::new()));
    let reads = |l: usize, task: &Task| -> Vec<u32> {
        let first = ((l - 1) * n) as u32;
        task.args.iter().map(|k| first + k.index[0]).collect()
    };
    for (l, layer) in layers.iter().enumerate().skip(1) {
        deps.extend(layer.iter().map(|task| reads(l, task)));
    }
    deps.extend(reduce.iter().map(|task| reads(LAYERS, task)));
    // How many tasks read each one, then every task run in order on its inputs' results.
    let mut readers = vec![0u32; deps.len()];
    for dep in deps.iter().flatten() {
        readers[*dep as usize] += 1;
    }
    let mut results = vec![0.0f64; deps.len()];
    for (id, d) in deps.iter().enumerate() {
        let inputs: f64 = d.iter().map(|dep| results[*dep as usize]).sum();
        results[id] = black_box(1.0) + inputs;
    }
    let total: f64 = results[LAYERS * n..].iter().sum();
    assert_eq!(total, (LAYERS * n + reduce.len()) as f64);
    assert_eq!(
        readers.iter().map(|r| *r as usize).sum::<usize>(),
        LAYERS * n
    );
    let tasks = layers.iter().flatten().chain(&reduce);
    let read: usize = tasks
        .map(|t| t.op + t.args.iter().map(|k| k.name.len()).sum::<usize>())
        .sum();
    black_box(read);
    drop((layers, reduce, deps, readers, results));
    let seconds = t.elapsed().as_secs_f64();
    println!("{seconds:.4} {}", rask_testing::bench::peak_rss_of("self"));
}

/// One timed `(ones + 1).sum()` over one-element blocks of `shape` (`1000x1000`), in this
/// fresh process: prints its seconds and this process's peak resident bytes.
fn blocks_one(s: &ThreadedScheduler, shape: &str) {
    let shape: Vec<usize> = shape
        .split('x')
        .map(|d| d.parse().unwrap_or_else(|e| panic!("shape {shape}: {e}")))
        .collect();
    let t = Instant::now();
    let x = Array::<f64>::ones(&shape, 1usize).unwrap_or_else(|e| panic!("{e}"));
    let y = (&x + 1.0)
        .sum(Reduction::all())
        .unwrap_or_else(|e| panic!("{e}"));
    let r = y.compute_on(s, &[]).unwrap_or_else(|e| panic!("{e}"));
    let n: usize = shape.iter().product();
    assert_eq!(r.iter().next().copied(), Some(2.0 * n as f64));
    let seconds = t.elapsed().as_secs_f64();
    println!("{seconds:.4} {}", rask_testing::bench::peak_rss_of("self"));
}

/// The fancy calculation: `(x * x[::-1, ::-1]).mean()`.
fn fancy(x: &Array<f64>, s: &ThreadedScheduler) -> ndarray::ArrayD<f64> {
    let y = x.slice(s![..;-1, ..;-1]).unwrap_or_else(|e| panic!("{e}"));
    let m = (x * &y)
        .mean(Reduction::all())
        .unwrap_or_else(|e| panic!("{e}"));
    m.compute_on(s, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// The cos-mean: `(cos(x) ** 2).mean(axis=0)`.
fn cosmean(x: &Array<f64>, s: &ThreadedScheduler) -> ndarray::ArrayD<f64> {
    let m = x
        .cos()
        .powi(2)
        .mean(Reduction::axis(0))
        .unwrap_or_else(|e| panic!("{e}"));
    m.compute_on(s, &[]).unwrap_or_else(|e| panic!("{e}"))
}
