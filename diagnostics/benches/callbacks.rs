//! What the progress bar and the profiler cost per task: 100,000 trivial tasks and one reading
//! them all, on the threaded scheduler, with and without them. `cargo xtask bench overhead`
//! prints the difference.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rask_diagnostics::{Profiler, ProgressBar};
use rask_graph::{Callback, Scheduler, ops::AddConst, ops::Sum};
use rask_local::ThreadedScheduler;

fn callbacks(c: &mut Criterion) {
    let s = ThreadedScheduler::builder().build().unwrap_or_default();
    let (g, key) = rask_testing::independent(100_000, Arc::new(AddConst(1)), Arc::new(Sum));
    let keys = [key];
    let mut group = c.benchmark_group("callbacks");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("none", |b| {
        b.iter(|| black_box(s.get(&g, &keys, &[]).unwrap_or_default()))
    });
    group.bench_function("progress-profiler", |b| {
        b.iter(|| {
            // Fresh each time, so the profiler's records do not pile up across iterations.
            let bar = ProgressBar::builder().writer(std::io::sink()).build();
            let prof = Profiler::new();
            let cbs: [&dyn Callback; 2] = [&bar, &prof];
            black_box(s.get(&g, &keys, &cbs).unwrap_or_default())
        })
    });
    group.finish();
}

criterion_group!(benches, callbacks);
criterion_main!(benches);
