//! The process scheduler's per-task overhead (100,000 trivial tasks and one reading them all,
//! on 2 workers) and the speed at which a 100 MB result moves between two workers.
//! `cargo xtask bench overhead` runs this beside the thread benchmarks (and Dask with `--dask`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rask_graph::{Scheduler, ops::AddConst, ops::Sum};
use rask_multiprocess::ProcessScheduler;

/// 100 MB of f64s.
pub const CHUNK: usize = 100_000_000 / 8;

fn processes(c: &mut Criterion) {
    let s = ProcessScheduler::builder()
        .num_workers(2)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("processes");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    let (g, key) = rask_testing::independent(100_000, Arc::new(AddConst(1)), Arc::new(Sum));
    let keys = [key];
    group.bench_function("independent", |b| {
        b.iter(|| black_box(s.get(&g, &keys, &[]).unwrap_or_default()))
    });
    for (name, together) in [("chunks-apart", false), ("chunks-together", true)] {
        let (g, keys) = rask_testing::two_chunks(CHUNK, together);
        group.bench_function(name, |b| {
            b.iter(|| black_box(s.get(&g, &keys, &[]).unwrap_or_else(|e| panic!("{e}"))))
        });
    }
    group.finish();
}

criterion_group!(benches, processes);
criterion_main!(benches);
