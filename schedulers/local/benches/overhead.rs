//! Per-task scheduling overhead of the sync and threaded schedulers on trivial tasks, and the
//! cost of lowering a 1,000,000-task graph. `cargo xtask bench overhead` runs this and prints
//! µs per task (optionally beside Dask: `--dask`).
//!
//! Workloads (N = 100,000, as in the foundation issue):
//! - `independent`: N independent trivial tasks plus one task depending on all of them;
//! - `chain`: a chain of N tasks;
//! - `tree`: a binary tree reduction over N leaves (2N - 1 tasks).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use std::sync::Arc;

use rask_graph::{
    Arg, Graph, Key, Layer, Op, Plan, Scheduler, Task, Value, ops::AddConst, ops::Sum,
};
use rask_local::{SyncScheduler, ThreadedScheduler};

const N: u32 = 100_000;

/// The workloads: name, graph, requested key, number of tasks.
pub fn workloads(n: u32) -> Vec<(&'static str, Graph, Key, usize)> {
    let inc: Arc<dyn Op> = Arc::new(AddConst(1));
    let sum: Arc<dyn Op> = Arc::new(Sum);
    let (a, a_key) = rask_testing::independent(n, Arc::clone(&inc), Arc::clone(&sum));
    let (b, b_key) = rask_testing::chain(n, Arc::clone(&inc));
    let (c, c_key) = rask_testing::tree(n, inc, sum);
    vec![
        ("independent", a, a_key, n as usize + 1),
        ("chain", b, b_key, n as usize),
        ("tree", c, c_key, 2 * n as usize - 1),
    ]
}

/// A 1,000,000-task graph: 500,000 leaves and 500,000 tasks reading two neighbours each.
pub fn million() -> (Graph, Vec<Key>) {
    let half = 500_000u32;
    let op = Arc::new(AddConst(1)) as Arc<dyn Op>;
    let sum = Arc::new(Sum) as Arc<dyn Op>;
    let mut x = Layer::with_capacity("x-0123456789abcdef0123456789abcdef", half as usize);
    for i in 0..half {
        x.insert(
            [i / 1000, i % 1000],
            Task::from_arc(Arc::clone(&op), [Arg::Value(Value::new(1i64))]),
        );
    }
    let xname = Arc::clone(x.name());
    let mut y = Layer::with_capacity("y-0123456789abcdef0123456789abcdef", half as usize);
    for i in 0..half {
        let j = (i + 1) % half;
        y.insert(
            [i / 1000, i % 1000],
            Task::from_arc(
                Arc::clone(&sum),
                [
                    Arg::Key(Key::with_name(&xname, [i / 1000, i % 1000])),
                    Arg::Key(Key::with_name(&xname, [j / 1000, j % 1000])),
                ],
            ),
        );
    }
    let keys = (0..half).map(|i| y.key([i / 1000, i % 1000])).collect();
    let mut g = Graph::new();
    g.add_layer(x);
    g.add_layer(y);
    (g, keys)
}

fn overhead(c: &mut Criterion) {
    let threaded = ThreadedScheduler::builder().build().unwrap_or_default();
    let schedulers: [(&str, &dyn Scheduler); 2] =
        [("sync", &SyncScheduler), ("threaded", &threaded)];
    let mut group = c.benchmark_group("overhead");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, graph, key, _tasks) in workloads(N) {
        let keys = [key];
        for (sname, s) in schedulers {
            group.bench_function(format!("{sname}/{name}"), |b| {
                b.iter(|| black_box(s.get(&graph, &keys, &[]).unwrap_or_default()))
            });
        }
    }
    group.finish();
}

/// What one `compute()` costs beyond its tasks: a one-task graph (run on the calling thread),
/// and eight tasks and their sum (which wake the threaded scheduler's helpers).
fn latency(c: &mut Criterion) {
    let threaded = ThreadedScheduler::builder()
        .num_workers(2)
        .build()
        .unwrap_or_default();
    let mut group = c.benchmark_group("latency");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let (one, one_key) = rask_testing::chain(1, Arc::new(AddConst(1)));
    let one_key = [one_key];
    group.bench_function("threaded/one-task", |b| {
        b.iter(|| black_box(threaded.get(&one, &one_key, &[]).unwrap_or_default()))
    });
    let (nine, nine_key) = rask_testing::independent(8, Arc::new(AddConst(1)), Arc::new(Sum));
    let nine_key = [nine_key];
    group.bench_function("threaded/nine-tasks", |b| {
        b.iter(|| black_box(threaded.get(&nine, &nine_key, &[]).unwrap_or_default()))
    });
    // The whole `compute()`: the default scheduler and callbacks looked up, the result typed.
    let x = rask_graph::delayed::value(1i64);
    let _default = rask_graph::config::set_scheduler(threaded.clone());
    group.bench_function("threaded/compute-one-task", |b| {
        b.iter(|| black_box(rask_graph::Collection::compute(&x).unwrap_or_default()))
    });
    group.finish();
}

fn lowering(c: &mut Criterion) {
    let mut group = c.benchmark_group("graph");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("build-cull-order-lower-1m", |b| {
        b.iter(|| {
            let (g, keys) = million();
            let culled = g.cull(&keys).unwrap_or_default();
            black_box(Plan::lower(&culled, &keys).map(|p| p.len()).unwrap_or(0))
        })
    });
    group.finish();
}

/// Resident memory of the 1,000,000-task graph and of its plan, from the kernel's own count.
fn memory_report() {
    fn rss_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }
    let before = rss_kib();
    let start = std::time::Instant::now();
    let (g, keys) = million();
    let built = start.elapsed();
    let after_graph = rss_kib();
    let culled = g.cull(&keys).unwrap_or_default();
    let plan = Plan::lower(&culled, &keys).unwrap_or_else(|e| panic!("{e}"));
    let lowered = start.elapsed();
    let after_plan = rss_kib();
    let n = plan.len() as f64;
    println!(
        "{{\"tasks\": {}, \"graph_bytes_per_task\": {:.0}, \"graph_and_plan_bytes_per_task\": {:.0}, \"build_s\": {:.3}, \"build_cull_order_lower_s\": {:.3}}}",
        plan.len(),
        (after_graph - before) as f64 * 1024.0 / n,
        (after_plan - before) as f64 * 1024.0 / n,
        built.as_secs_f64(),
        lowered.as_secs_f64(),
    );
    black_box((g, culled, keys, plan));
}

criterion_group!(benches, overhead, latency, lowering);

fn main() {
    if std::env::var_os("RASK_BENCH_MEMORY").is_some() {
        memory_report();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
