//! compute, compute_with, persist and the scoped defaults.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask::graph::{TaskFinish, TaskStart};
use rask::prelude::*;
use rask::schedulers::{SyncScheduler, ThreadedScheduler};
use rask::{Callback, ComputeError, Scheduler, delayed};

#[derive(Debug, Default)]
struct Count(AtomicUsize, AtomicUsize);

impl Callback for Count {
    fn on_task_start(&self, _: &TaskStart) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn on_task_finish(&self, e: &TaskFinish) {
        if e.error.is_none() {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn calc() -> Delayed<i64> {
    let xs: Vec<Delayed<i64>> = (0..10)
        .map(|i| delayed::value(i).map("inc", |x| x + 1))
        .collect();
    delayed::join("sum", &xs, |v| v.iter().copied().sum())
}

#[test]
fn compute_on_every_scheduler_agrees() {
    let c = calc();
    assert_eq!(c.compute().unwrap(), 55);
    assert_eq!(c.compute_with(&SyncScheduler).unwrap(), 55);
    for w in 1..5 {
        let s = ThreadedScheduler::builder().num_workers(w).build().unwrap();
        assert_eq!(c.compute_with(&s).unwrap(), 55);
    }
}

#[test]
fn scoped_scheduler_and_callbacks() {
    let count = Arc::new(Count::default());
    {
        let _s = rask::config::set_scheduler(SyncScheduler);
        let _c = rask::config::add_callback(Arc::<Count>::clone(&count) as Arc<dyn Callback>);
        assert_eq!(rask::config::scheduler().name(), "sync");
        assert_eq!(calc().compute().unwrap(), 55);
    }
    // 10 values, 10 incs, one sum.
    let started = count.0.load(Ordering::SeqCst);
    assert_eq!(started, 21);
    assert_eq!(count.1.load(Ordering::SeqCst), 21);
    assert_eq!(rask::config::scheduler().name(), "threaded");
    assert_eq!(calc().compute().unwrap(), 55);
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        started,
        "the guard detached the callback"
    );
}

#[test]
fn persist_keeps_results() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let x = delayed::value(6i64).map("counted", move |x| {
        r.fetch_add(1, Ordering::SeqCst);
        x * 7
    });
    let p = x.persist().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(p.key(), x.key());
    assert_eq!(p.graph().len(), 1);
    let y = p.map("inc", |v| v + 1);
    assert_eq!(y.compute().unwrap(), 43);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "persisted values are not recomputed"
    );
}

#[test]
fn errors_name_the_task() {
    let bad = delayed::value(0i64).try_map("div", |x: &i64| {
        10i64.checked_div(*x).ok_or("division by zero")
    });
    let err = bad.compute().unwrap_err();
    assert_eq!(err.key(), Some(bad.key()));
    let msg = err.to_string().replace(bad.key().name(), "div-<token>");
    insta::assert_snapshot!(msg, @"task 'div-<token>' (op `div`) failed: division by zero");
    // Fused, the chain keeps the name of the op that does something.
    let fused = bad.graph().fuse_linear(&[bad.key().clone()]);
    let err = rask::schedulers::SyncScheduler
        .get(&fused, &[bad.key().clone()], &[])
        .unwrap_err();
    assert!(err.to_string().contains("(op `div`)"), "{err}");
    let panicky = delayed::value(1i64).map("explode", |_| -> i64 { panic!("kaboom") });
    let err = panicky.compute().unwrap_err();
    assert!(matches!(err, ComputeError::Panic { .. }));
}

#[test]
fn wrong_result_type_is_an_error_not_a_panic() {
    use rask::graph::{Arg, Delayed as D, ops::Sum};
    // Sum of f64 literals claimed as an i64 result.
    let lie: D<i64> = D::from_op(Sum, vec![Arg::Value(rask::graph::Value::new(1.5f64))], &[]);
    let err = lie.compute().unwrap_err();
    insta::assert_snapshot!(err.to_string().replace(lie.key().name(), "sum-<token>"), @"result 'sum-<token>' has type f64, expected i64");
}

#[test]
fn compute_all_of_collections_that_need_different_blocks_of_one_layer() {
    use rask::array::{Array, s};
    // Each slice's optimized graph is culled to the blocks it needs: merged, the layer they
    // share must keep both halves.
    let x = Array::<f64>::from_array(
        &rask::array::ndarray::Array1::from_iter((0..10).map(f64::from)).into_dyn(),
        5usize,
    )
    .unwrap();
    let a = x.slice(s![..5]).unwrap();
    let b = x.slice(s![5..]).unwrap();
    let (ra, rb) = rask::compute_all_with((&a, &b), &rask::schedulers::SyncScheduler).unwrap();
    assert_eq!(ra.as_slice().unwrap(), &[0.0, 1.0, 2.0, 3.0, 4.0]);
    assert_eq!(rb.as_slice().unwrap(), &[5.0, 6.0, 7.0, 8.0, 9.0]);
}
