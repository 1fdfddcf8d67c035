//! The threaded scheduler keeps its worker threads between computations, shares them among
//! computations running at once, and survives failures.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use rask_graph::delayed::ClosureOp;
use rask_graph::{Collection, ComputeError, Graph, Key, Scheduler, TaskError, Value, ops::Sum};
use rask_local::ThreadedScheduler;

/// `n` slow-ish leaves that record the thread they ran on, summed.
fn recording(n: u32, seen: Arc<Mutex<HashSet<ThreadId>>>) -> (Graph, Key) {
    let op = ClosureOp::new("record", move |args| {
        seen.lock().unwrap().insert(std::thread::current().id());
        // Busy for a while, so that helpers find work too.
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_micros(200) {
            std::hint::spin_loop();
        }
        Ok(Value::new(*args[0].get::<i64>()?))
    });
    rask_testing::independent(n, Arc::new(op), Arc::new(Sum))
}

#[test]
fn workers_live_across_computes() {
    let s = ThreadedScheduler::builder().num_workers(4).build().unwrap();
    let first = Arc::new(Mutex::new(HashSet::new()));
    let (g, key) = recording(200, Arc::clone(&first));
    s.get(&g, std::slice::from_ref(&key), &[]).unwrap();
    let second = Arc::new(Mutex::new(HashSet::new()));
    let (g2, key2) = recording(200, Arc::clone(&second));
    s.get(&g2, &[key2], &[]).unwrap();
    let me = std::thread::current().id();
    let first = first.lock().unwrap();
    let second = second.lock().unwrap();
    // Helpers did work, and the second computation ran on the same threads as the first.
    assert!(first.iter().any(|t| *t != me), "no helper ran a task");
    assert!(second.is_subset(&first), "{second:?} not within {first:?}");
}

#[test]
fn concurrent_computes_share_one_pool() {
    let s = ThreadedScheduler::builder().num_workers(3).build().unwrap();
    std::thread::scope(|scope| {
        for t in 0..12i64 {
            let s = &s;
            scope.spawn(move || {
                for round in 0..40i64 {
                    let x = rask_graph::delayed::value(t * 1000 + round);
                    let y = x.map("inc", |x| x + 1);
                    let z = y.zip_with(&x, "add", |a, b| a + b);
                    assert_eq!(z.compute_on(s, &[]).unwrap(), 2 * (t * 1000 + round) + 1);
                }
                let (g, key) =
                    rask_testing::tree(300, Arc::new(rask_graph::ops::AddConst(1)), Arc::new(Sum));
                let v = s.get(&g, &[key], &[]).unwrap();
                assert_eq!(*v[0].get::<i64>().unwrap(), (1..=300).sum::<i64>());
            });
        }
    });
}

#[test]
fn a_failure_leaves_the_pool_usable_and_clones_share_it() {
    let s = ThreadedScheduler::builder().num_workers(4).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let op = ClosureOp::new("flaky", move |args| {
        let i = *args[0].get::<i64>()?;
        r.fetch_add(1, Ordering::SeqCst);
        match i {
            7 => panic!("boom at 7"),
            9 => Err(TaskError::new("bad 9")),
            _ => Ok(Value::new(i)),
        }
    });
    let (g, key) = rask_testing::independent(100, Arc::new(op), Arc::new(Sum));
    for _ in 0..20 {
        let err = s.get(&g, std::slice::from_ref(&key), &[]).unwrap_err();
        assert!(
            matches!(err, ComputeError::Panic { .. } | ComputeError::Task { .. }),
            "{err}"
        );
    }
    let clone = s.clone();
    drop(s);
    let (g, key) = rask_testing::tree(500, Arc::new(rask_graph::ops::AddConst(1)), Arc::new(Sum));
    let v = clone.get(&g, &[key], &[]).unwrap();
    assert_eq!(*v[0].get::<i64>().unwrap(), (1..=500).sum::<i64>());
    // Dropping the last clone stops and joins the helpers (and returns).
    drop(clone);
}
