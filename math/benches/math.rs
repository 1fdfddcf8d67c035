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

/// The SplitMix64 stream's uniform and normal draws per level, beside rand's `SmallRng`
/// (xoshiro256++) with its `Uniform` and ziggurat `StandardNormal`.
fn random(c: &mut Criterion) {
    use rand::SeedableRng;
    use rand_distr::Distribution;
    use rask_math::random::{Draw, SplitMix};
    let n = 4096;
    let mut y = vec![0.0; n];
    let p = SplitMix::new(1);
    for (name, draw) in [
        (
            "uniform",
            Draw::Uniform {
                low: 0.0,
                high: 1.0,
            },
        ),
        (
            "normal",
            Draw::Normal {
                loc: 0.0,
                scale: 1.0,
            },
        ),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(n as u64));
        for level in Level::supported().into_iter().skip(1) {
            g.bench_with_input(BenchmarkId::new("splitmix", level), &level, |b, l| {
                b.iter(|| p.fill_at(*l, draw, 0, &mut y).unwrap())
            });
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        g.bench_function("rand-smallrng", |b| {
            b.iter(|| match draw {
                Draw::Uniform { .. } => {
                    let d = rand_distr::Uniform::new(0.0, 1.0).unwrap();
                    y.iter_mut().for_each(|v| *v = d.sample(&mut rng))
                }
                Draw::Normal { .. } => y
                    .iter_mut()
                    .for_each(|v| *v = rand_distr::StandardNormal.sample(&mut rng)),
            })
        });
        g.finish();
    }
}

criterion_group!(benches, functions, random);
criterion_main!(benches);
