//! Callbacks see every start and finish; a panicking callback is detached, not fatal.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask_graph::{
    Callback, ComputeFinish, ComputeStart, Graph, Key, Scheduler, TaskFinish, TaskStart,
    ops::AddConst, ops::Sum,
};
use rask_local::{SyncScheduler, ThreadedScheduler};

#[derive(Debug, Default)]
struct Recorder {
    starts: AtomicUsize,
    finishes: Mutex<Vec<(Key, usize)>>,
    computes: AtomicUsize,
    finished: AtomicUsize,
    workers: Mutex<HashSet<rask_graph::WorkerId>>,
}

impl Callback for Recorder {
    fn on_compute_start(&self, e: &ComputeStart) {
        assert_eq!(self.starts.load(Ordering::SeqCst), 0);
        self.computes.fetch_add(e.tasks, Ordering::SeqCst);
    }
    fn on_task_start(&self, e: &TaskStart) {
        self.starts.fetch_add(1, Ordering::SeqCst);
        self.workers
            .lock()
            .unwrap()
            .insert(e.worker.clone().into_owned());
    }
    fn on_task_finish(&self, e: &TaskFinish) {
        assert!(e.error.is_none());
        self.finishes
            .lock()
            .unwrap()
            .push((e.key.clone().into_owned(), e.nbytes));
    }
    fn on_compute_finish(&self, e: &ComputeFinish) {
        assert!(e.error.is_none());
        self.finished.fetch_add(e.tasks_done, Ordering::SeqCst);
    }
}

#[derive(Debug)]
struct Panicky;

impl Callback for Panicky {
    fn on_task_start(&self, _: &TaskStart) {
        panic!("callback bug");
    }
}

fn graph(n: u32) -> (Graph, Vec<Key>) {
    let (g, key) = rask_testing::independent(n, Arc::new(AddConst(1)), Arc::new(Sum));
    (g, vec![key])
}

#[test]
fn every_task_is_seen() {
    let schedulers: Vec<Box<dyn Scheduler>> = vec![
        Box::new(SyncScheduler),
        Box::new(ThreadedScheduler::builder().num_workers(3).build().unwrap()),
    ];
    for s in schedulers {
        let rec = Recorder::default();
        let (g, keys) = graph(500);
        s.get(&g, &keys, &[&rec]).unwrap();
        assert_eq!(rec.starts.load(Ordering::SeqCst), 501);
        assert_eq!(rec.computes.load(Ordering::SeqCst), 501);
        assert_eq!(rec.finished.load(Ordering::SeqCst), 501);
        let finishes = rec.finishes.lock().unwrap();
        let distinct: HashSet<_> = finishes.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(distinct.len(), 501);
        assert!(finishes.iter().all(|(_, nbytes)| *nbytes == 8));
        // Workers are named, as events forwarded from elsewhere will be.
        let workers = rec.workers.lock().unwrap();
        let allowed: HashSet<&str> = match s.name() {
            "sync" => ["main"].into(),
            _ => ["threaded-0", "threaded-1", "threaded-2"].into(),
        };
        assert!(!workers.is_empty());
        assert!(
            workers.iter().all(|w| allowed.contains(w.as_str())),
            "{workers:?}"
        );
    }
}

#[test]
fn panicking_callback_is_detached() {
    for s in [
        Box::new(SyncScheduler) as Box<dyn Scheduler>,
        Box::new(ThreadedScheduler::builder().num_workers(2).build().unwrap()),
    ] {
        let rec = Recorder::default();
        let (g, keys) = graph(100);
        let v = s.get(&g, &keys, &[&Panicky, &rec]).unwrap();
        assert_eq!(*v[0].get::<i64>().unwrap(), (1..=100).sum::<i64>());
        assert_eq!(rec.starts.load(Ordering::SeqCst), 101);
    }
}
