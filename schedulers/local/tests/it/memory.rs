//! An intermediate is dropped the moment its last reader has it: a streaming reduction holds a
//! few chunks per worker, not all of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask_graph::delayed::ClosureOp;
use rask_graph::{Datum, Graph, Key, Scheduler, Value};
use rask_local::{SyncScheduler, ThreadedScheduler};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A chunk that counts how many of its kind are alive.
#[derive(Debug)]
struct Chunk(i64);

impl Chunk {
    fn new(v: i64) -> Self {
        let live = LIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(live, Ordering::SeqCst);
        Chunk(v)
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Datum for Chunk {}

/// A tree reduction over `n` chunks, pairwise.
fn tree(n: u32) -> (Graph, Key) {
    let make: Arc<dyn rask_graph::Op> = Arc::new(ClosureOp::new("make", |a| {
        Ok(Value::new(Chunk::new(*a[0].get::<i64>()?)))
    }));
    let add: Arc<dyn rask_graph::Op> = Arc::new(ClosureOp::new("add", |a| {
        let mut s = 0;
        for v in a.iter() {
            s += v.get::<Chunk>()?.0;
        }
        Ok(Value::new(Chunk::new(s)))
    }));
    rask_testing::tree(n, make, add)
}

#[test]
fn streaming_reduction_holds_few_chunks() {
    // One test function, so the global counters are not shared with a concurrent test.
    let n = 4096u32;
    for (name, s, bound) in [
        ("sync", Box::new(SyncScheduler) as Box<dyn Scheduler>, 14),
        (
            "threaded-2",
            Box::new(ThreadedScheduler::builder().num_workers(2).build().unwrap()),
            40,
        ),
        (
            "threaded-4",
            Box::new(ThreadedScheduler::builder().num_workers(4).build().unwrap()),
            80,
        ),
    ] {
        let (g, root) = tree(n);
        PEAK.store(0, Ordering::SeqCst);
        let v = s.get(&g, &[root], &[]).unwrap();
        assert_eq!(v[0].get::<Chunk>().unwrap().0, (0..n as i64).sum::<i64>());
        drop(v);
        drop(g);
        let peak = PEAK.load(Ordering::SeqCst);
        assert!(
            peak <= bound,
            "{name}: {peak} chunks alive at once (bound {bound})"
        );
        assert_eq!(LIVE.load(Ordering::SeqCst), 0, "{name}: chunks leaked");
    }
}
