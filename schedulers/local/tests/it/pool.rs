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

/// A leaf that counts the leaves running at once (and the most ever), and stays until
/// `until` of them have been at once (or 5 s have passed), as a task waiting on another pool
/// would.
#[derive(Debug)]
struct Waiting {
    running: Arc<(Mutex<usize>, std::sync::Condvar)>,
    most: Arc<AtomicUsize>,
    until: usize,
    waits: bool,
}

impl rask_graph::Op for Waiting {
    fn name(&self) -> &str {
        "waiting"
    }

    fn run(&self, args: rask_graph::Args) -> Result<Value, TaskError> {
        let (running, changed) = &*self.running;
        let mut now = running.lock().unwrap();
        *now += 1;
        self.most.fetch_max(*now, Ordering::SeqCst);
        changed.notify_all();
        let (mut now, _) = changed
            .wait_timeout_while(now, std::time::Duration::from_secs(5), |_| {
                self.most.load(Ordering::SeqCst) < self.until
            })
            .unwrap();
        *now -= 1;
        Ok(Value::new(*args[0].get::<i64>()?))
    }

    fn waits(&self) -> bool {
        self.waits
    }
}

/// The most leaves that ran at once, of 12 summed on 2 workers.
fn most_at_once(waits: bool, until: usize) -> usize {
    let s = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    let most = Arc::new(AtomicUsize::new(0));
    let op = Waiting {
        running: Arc::default(),
        most: Arc::clone(&most),
        until,
        waits,
    };
    let (g, key) = rask_testing::independent(12, Arc::new(op), Arc::new(Sum));
    let v = s.get(&g, &[key], &[]).unwrap();
    assert_eq!(*v[0].get::<i64>().unwrap(), (0..12).sum::<i64>());
    most.load(Ordering::SeqCst)
}

#[test]
fn tasks_that_wait_run_beside_others_on_spare_threads() {
    // While tasks wait, as many more run on spares: 2 workers run 4 at once, never more.
    assert_eq!(most_at_once(true, 4), 4);
    // Tasks that compute never outnumber the workers.
    assert_eq!(most_at_once(false, 2), 2);
}
