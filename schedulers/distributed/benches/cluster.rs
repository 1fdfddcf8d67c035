//! The distributed scheduler end to end on a 2-worker LocalCluster: per-task overhead
//! (100,000 trivial tasks and one reading them all), and a 100 MB value moved between two
//! workers. Prints one JSON line; `cargo xtask bench distributed` shows it.

use std::sync::Arc;
use std::time::Instant;

use rask_distributed::{Client, LocalCluster};
use rask_graph::{Arg, Args, Graph, Key, Layer, Op, Scheduler, Task, TaskError, Value};
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
rask_graph::register_op!(Make, "rask-bench-distributed.make");

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
rask_graph::register_op!(Len, "rask-bench-distributed.len");

const CHUNK: usize = 100_000_000 / 8;

/// Two 100 MB chunks made on the two workers; with `together`, one task reads both.
fn chunks(together: bool) -> (Graph, Vec<Key>) {
    let mut make = Layer::new("make");
    make.insert([0], Task::new(Make(CHUNK), []));
    make.insert([1], Task::new(Make(CHUNK), []));
    let mut read = Layer::new("read");
    if together {
        read.insert(
            [0],
            Task::new(
                Len,
                [
                    Arg::Key(Key::new("make", [0])),
                    Arg::Key(Key::new("make", [1])),
                ],
            ),
        );
    } else {
        read.insert([0], Task::new(Len, [Arg::Key(Key::new("make", [0]))]));
        read.insert([1], Task::new(Len, [Arg::Key(Key::new("make", [1]))]));
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

fn best_of(n: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..n).map(|_| f()).fold(f64::INFINITY, f64::min)
}

fn main() {
    let small = std::env::args().any(|a| a == "--small");
    let n: u32 = if small { 10_000 } else { 100_000 };
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
        let (g, keys) = chunks(together);
        best_of(3, || {
            let t = Instant::now();
            s.get(&g, &keys, &[]).unwrap_or_else(|e| panic!("{e}"));
            t.elapsed().as_secs_f64()
        })
    };
    let apart = time(false);
    let together = time(true);
    let moved = (together - apart).max(1e-9);
    println!(
        "{{\"workload\": \"distributed\", \"tasks\": {}, \"seconds\": {trivial:.4}, \"us_per_task\": {:.3}, \"transfer_seconds\": {moved:.4}, \"transfer_gb_per_s\": {:.3}}}",
        n + 1,
        trivial * 1e6 / f64::from(n + 1),
        0.1 / moved
    );
}
