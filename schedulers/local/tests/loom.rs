//! Model checks of the threaded scheduler's claim / wake / stop protocol and of its helper
//! pool: every interleaving loom explores (four preemptions at most, so CI stays fast) computes the
//! right answer, stops after a failure, and leaves no thread behind.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p rask-local --test loom --release`
//! (`.ci/run` does, in a target directory of its own).
#![cfg(loom)]

use std::sync::Arc;

use rask_graph::{ComputeError, Scheduler, TaskError, Value, delayed::ClosureOp, ops::Sum};
use rask_local::ThreadedScheduler;

/// Runs `f` under every interleaving loom explores with at most `preemptions` preemptions, and
/// returns how many it explored.
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) -> usize {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let before = RUNS.load(std::sync::atomic::Ordering::SeqCst);
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.check(move || {
        RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f()
    });
    let n = RUNS.load(std::sync::atomic::Ordering::SeqCst) - before;
    eprintln!("loom explored {n} interleavings");
    n
}

#[test]
fn two_workers_finish_a_fan_in() {
    let explored = model(4, || {
        let s = ThreadedScheduler::builder().num_workers(2).build().unwrap();
        // Two leaves and their sum: ready at the start, ready later, and the last one.
        let (g, key) =
            rask_testing::independent(2, Arc::new(rask_graph::ops::AddConst(1)), Arc::new(Sum));
        let v = s.get(&g, &[key], &[]).unwrap();
        assert_eq!(*v[0].get::<i64>().unwrap(), 1 + 2);
    });
    // The helper joins before, during and after the caller's work: many orders, not one.
    assert!(explored > 10, "only {explored} interleavings");
}

#[test]
fn a_failure_stops_both_workers() {
    model(4, || {
        let s = ThreadedScheduler::builder().num_workers(2).build().unwrap();
        let op = ClosureOp::new("fail-first", |args| {
            let i = *args[0].get::<i64>()?;
            if i == 0 {
                return Err(TaskError::new("no"));
            }
            Ok(Value::new(i))
        });
        let (g, key) = rask_testing::independent(2, Arc::new(op), Arc::new(Sum));
        let err = s.get(&g, &[key], &[]).unwrap_err();
        assert!(matches!(err, ComputeError::Task { .. }), "{err}");
    });
}

#[test]
fn runs_of_leaves_are_claimed_and_taken_over_without_loss() {
    model(3, || {
        let s = ThreadedScheduler::builder().num_workers(2).build().unwrap();
        // Six leaves: runs of one, then two, then three while they are fast, and the idle
        // worker takes the back half of the other's run. Each leaf runs exactly once.
        let (g, key) =
            rask_testing::independent(6, Arc::new(rask_graph::ops::AddConst(1)), Arc::new(Sum));
        let v = s.get(&g, &[key], &[]).unwrap();
        assert_eq!(*v[0].get::<i64>().unwrap(), (1..=6).sum::<i64>());
    });
}

#[test]
fn a_chain_wakes_the_sleeping_helper() {
    model(4, || {
        let s = ThreadedScheduler::builder().num_workers(2).build().unwrap();
        // A chain: one task ready at a time, so the other worker sleeps and must be woken
        // (or told to stop) — a lost wake-up would hang here, and loom would say so.
        let (g, key) = rask_testing::chain(3, Arc::new(rask_graph::ops::AddConst(1)));
        let v = s.get(&g, &[key], &[]).unwrap();
        assert_eq!(*v[0].get::<i64>().unwrap(), 3);
    });
}

#[test]
fn two_computations_at_once_share_the_helper() {
    // Three threads: three preemptions keep this to a few seconds.
    model(3, || {
        let s = Arc::new(ThreadedScheduler::builder().num_workers(2).build().unwrap());
        // Two callers share one helper: whoever it joins, both finish.
        let other = {
            let s = Arc::clone(&s);
            loom::thread::spawn(move || {
                let (g, key) = rask_testing::chain(2, Arc::new(rask_graph::ops::AddConst(1)));
                *s.get(&g, &[key], &[]).unwrap()[0].get::<i64>().unwrap()
            })
        };
        let (g, key) = rask_testing::chain(2, Arc::new(rask_graph::ops::AddConst(2)));
        assert_eq!(*s.get(&g, &[key], &[]).unwrap()[0].get::<i64>().unwrap(), 4);
        assert_eq!(other.join().unwrap(), 2);
    });
}
