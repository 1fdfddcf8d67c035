//! The process scheduler computes what the sync oracle computes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask_graph::{
    Arg, Callback, Graph, Key, Layer, Scheduler, Task, TaskFinish, TaskStart, Value, ops::AddConst,
    ops::Sum,
};
use rask_local::SyncScheduler;

use crate::{Scale, scheduler};

fn ints(vs: Vec<Value>) -> Vec<i64> {
    vs.iter().map(|v| *v.get::<i64>().unwrap()).collect()
}

#[test]
fn workloads_match_the_oracle() {
    let s = scheduler(2);
    let inc: Arc<dyn rask_graph::Op> = Arc::new(AddConst(1));
    let sum: Arc<dyn rask_graph::Op> = Arc::new(Sum);
    for (g, key) in [
        rask_testing::independent(500, Arc::clone(&inc), Arc::clone(&sum)),
        rask_testing::chain(300, Arc::clone(&inc)),
        rask_testing::tree(257, Arc::clone(&inc), Arc::clone(&sum)),
    ] {
        let keys = [key];
        assert_eq!(
            ints(s.get(&g, &keys, &[]).unwrap()),
            ints(SyncScheduler.get(&g, &keys, &[]).unwrap())
        );
    }
    // The workers are kept between computations.
    let pids = s.worker_pids();
    assert_eq!(pids.len(), 2);
    let (g, key) = rask_testing::chain(10, inc);
    s.get(&g, &[key], &[]).unwrap();
    assert_eq!(s.worker_pids(), pids);
}

#[test]
fn user_op_from_this_crate_runs_on_workers() {
    let s = scheduler(2);
    let mut l = Layer::new("scaled");
    for i in 0..20u32 {
        l.insert([i], Task::new(Scale(3), [Arg::Value(Value::new(i as i64))]));
    }
    let mut g = Graph::new();
    g.add_layer(l);
    let keys: Vec<Key> = (0..20).map(|i| Key::new("scaled", [i])).collect();
    assert_eq!(
        ints(s.get(&g, &keys, &[]).unwrap()),
        (0..20).map(|i| 3 * i).collect::<Vec<_>>()
    );
}

#[derive(Debug, Default)]
struct Count(AtomicUsize, AtomicUsize);

impl Callback for Count {
    fn on_task_start(&self, _: &TaskStart) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn on_task_finish(&self, e: &TaskFinish) {
        assert!(e.error.is_none());
        assert_eq!(e.nbytes, 8);
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn callbacks_fire_in_the_parent() {
    let s = scheduler(2);
    let (g, key) = rask_testing::independent(100, Arc::new(AddConst(1)), Arc::new(Sum));
    let c = Count::default();
    let v = s.get(&g, &[key], &[&c]).unwrap();
    assert_eq!(ints(v), [(1..=100).sum::<i64>()]);
    assert_eq!(c.0.load(Ordering::SeqCst), 101);
    assert_eq!(c.1.load(Ordering::SeqCst), 101);
}

#[test]
fn processes_equal_sync() {
    // One scheduler for every case (workers are kept between computations), dropped at the end
    // so that no worker outlives the test.
    let s = scheduler(2);
    rask_testing::random_dags_agree(&SyncScheduler, &s, 24);
}

#[test]
fn vectors_move_between_workers_intact() {
    // 20 vectors made on both workers, summed by one task: half of them move, raw.
    let s = scheduler(2);
    let mut l = Layer::new("vec");
    for i in 0..20u32 {
        let v: Vec<f64> = (0..10_000).map(|j| (i * 10_000 + j) as f64 * 0.5).collect();
        l.insert([i], Task::literal(Value::new(v)));
    }
    let mut total = Layer::new("total");
    total.insert(
        [],
        Task::new(Sum, (0..20).map(|i| Arg::Key(Key::new("vec", [i])))),
    );
    let mut g = Graph::new();
    g.add_layer(l);
    g.add_layer(total);
    let keys = [Key::new("total", [])];
    let got = *s.get(&g, &keys, &[]).unwrap()[0].get::<f64>().unwrap();
    let expected = *SyncScheduler.get(&g, &keys, &[]).unwrap()[0]
        .get::<f64>()
        .unwrap();
    assert_eq!(got, expected);
    assert_eq!(
        expected,
        (0..200_000u64).map(|x| x as f64 * 0.5).sum::<f64>()
    );
    // Whole vectors come back too.
    let keys: Vec<Key> = (0..20).map(|i| Key::new("vec", [i])).collect();
    let back = s.get(&g, &keys, &[]).unwrap();
    assert_eq!(
        back[7].get::<Vec<f64>>().unwrap()[3],
        (7 * 10_000 + 3) as f64 * 0.5
    );
}
