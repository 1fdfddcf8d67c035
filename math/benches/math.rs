//! Nanoseconds per element of each function on each level this CPU runs, over 4096 values
//! (in L1): `cargo bench -p rask-math`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rask_math::{Func, Level, map_at};

fn functions(c: &mut Criterion) {
    let n = 4096;
    let x: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64 * 3.0).collect();
    let x32: Vec<f32> = x.iter().map(|v| *v as f32).collect();
    let mut y = vec![0.0; n];
    let mut y32 = vec![0.0f32; n];
    for f in Func::ALL {
        let mut g = c.benchmark_group(format!("{f:?}"));
        g.throughput(Throughput::Elements(n as u64));
        for level in Level::supported() {
            g.bench_with_input(BenchmarkId::new("f64", level), &level, |b, l| {
                b.iter(|| map_at(*l, f, &x, &mut y).unwrap())
            });
            g.bench_with_input(BenchmarkId::new("f32", level), &level, |b, l| {
                b.iter(|| map_at(*l, f, &x32, &mut y32).unwrap())
            });
        }
        g.finish();
    }
}

criterion_group!(benches, functions);
criterion_main!(benches);
