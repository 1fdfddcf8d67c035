//! The process scheduler's per-task overhead (100,000 trivial tasks and one reading them all,
//! on 2 workers) and the speed at which a 100 MB result moves between two workers.
//! `cargo xtask bench overhead` runs this beside the thread benchmarks (and Dask with `--dask`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rask_graph::{
    Arg, Args, Graph, Key, Layer, Op, Scheduler, Task, TaskError, Value, ops::AddConst, ops::Sum,
};
use rask_multiprocess::ProcessScheduler;
use serde::{Deserialize, Serialize};

/// Makes `len` f64s.
#[derive(Debug, Serialize, Deserialize)]
struct Make(usize);

impl Op for Make {
    fn name(&self) -> &str {
        "make"
    }
    fn run(&self, _: Args) -> Result<Value, TaskError> {
        Ok(Value::new(vec![1.0f64; self.0]))
    }
}
rask_graph::register_op!(Make, "rask-bench.make");

/// The total length of its `Vec<f64>` arguments.
#[derive(Debug, Serialize, Deserialize)]
struct Len;

impl Op for Len {
    fn name(&self) -> &str {
        "len"
    }
    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut n = 0u64;
        for a in args.iter() {
            n += a.get::<Vec<f64>>()?.len() as u64;
        }
        Ok(Value::new(n))
    }
}
rask_graph::register_op!(Len, "rask-bench.len");

/// 100 MB of f64s.
pub const CHUNK: usize = 100_000_000 / 8;

/// Two 100 MB chunks made on the two workers; with `together`, one task reads both (one chunk
/// must move), else each is read where it was made.
pub fn chunks(together: bool) -> (Graph, Vec<Key>) {
    let mut make = Layer::new("make");
    make.insert([0], Task::new(Make(CHUNK), []));
    make.insert([1], Task::new(Make(CHUNK), []));
    let mut read = Layer::new("read");
    if together {
        read.insert(
            [0],
            Task::new(Len, [Arg::Key(make.key([0])), Arg::Key(make.key([1]))]),
        );
    } else {
        read.insert([0], Task::new(Len, [Arg::Key(make.key([0]))]));
        read.insert([1], Task::new(Len, [Arg::Key(make.key([1]))]));
    }
    let keys = read
        .entries()
        .map(|(i, _)| read.key(i.iter().copied()))
        .collect();
    let mut g = Graph::new();
    g.add_layer(make);
    g.add_layer(read);
    (g, keys)
}

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
        let (g, keys) = chunks(together);
        group.bench_function(name, |b| {
            b.iter(|| black_box(s.get(&g, &keys, &[]).unwrap_or_else(|e| panic!("{e}"))))
        });
    }
    group.finish();
}

criterion_group!(benches, processes);
criterion_main!(benches);
