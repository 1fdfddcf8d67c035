//! A task that errors or panics ends the run with an error naming it; nothing hangs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask_graph::delayed::ClosureOp;
use rask_graph::{
    Arg, ComputeError, Graph, Key, Layer, Scheduler, Task, TaskError, Value, ops::Sum,
};
use rask_local::{BuildError, SyncScheduler, ThreadedScheduler};

/// 200 independent tasks, one of which (`bad`) fails, and a sum; counts the tasks that ran.
/// The others after it are busy for 200 µs each, so that the whole run takes far longer than
/// the failure takes to stop it, even on a loaded machine.
fn graph_with_failure(bad: u32, panic: bool, ran: Arc<AtomicUsize>) -> (Graph, Vec<Key>) {
    let op = ClosureOp::new("work", move |args| {
        let i = *args[0].get::<i64>()?;
        ran.fetch_add(1, Ordering::SeqCst);
        if i == bad as i64 {
            if panic {
                panic!("boom at {i}");
            }
            return Err(TaskError::new(format!("bad input {i}")));
        }
        if i > bad as i64 {
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_micros(200) {
                std::hint::spin_loop();
            }
        }
        Ok(Value::new(i))
    });
    let (g, total) = rask_testing::independent(200, Arc::new(op), Arc::new(Sum));
    (g, vec![total])
}

fn schedulers() -> Vec<Box<dyn Scheduler>> {
    vec![
        Box::new(SyncScheduler),
        Box::new(ThreadedScheduler::builder().num_workers(1).build().unwrap()),
        Box::new(ThreadedScheduler::builder().num_workers(2).build().unwrap()),
        Box::new(ThreadedScheduler::builder().num_workers(8).build().unwrap()),
    ]
}

#[test]
fn task_error_names_key_and_op() {
    for s in schedulers() {
        let ran = Arc::new(AtomicUsize::new(0));
        let (g, keys) = graph_with_failure(2, false, Arc::clone(&ran));
        let err = s.get(&g, &keys, &[]).unwrap_err();
        assert_eq!(err.key(), Some(&Key::new("x", [2])), "{}", s.name());
        insta::allow_duplicates! { insta::assert_snapshot!(err.to_string(), @"task ('x', 2) (op `work`) failed: bad input 2"); }
        // Nothing new starts after the failure (a few already running may finish).
        assert!(ran.load(Ordering::SeqCst) < 200, "{}", s.name());
    }
}

#[test]
fn panic_becomes_an_error() {
    for s in schedulers() {
        let ran = Arc::new(AtomicUsize::new(0));
        let (g, keys) = graph_with_failure(3, true, ran);
        let err = s.get(&g, &keys, &[]).unwrap_err();
        assert!(
            matches!(err, ComputeError::Panic { .. }),
            "{}: {err}",
            s.name()
        );
        insta::allow_duplicates! { insta::assert_snapshot!(err.to_string(), @"task ('x', 3) (op `work`) panicked: boom at 3"); }
        // The scheduler is still usable afterwards.
        let (g, keys) = graph_with_failure(1000, false, Arc::new(AtomicUsize::new(0)));
        let v = s.get(&g, &keys, &[]).unwrap();
        assert_eq!(*v[0].get::<i64>().unwrap(), (0..200).sum::<i64>());
    }
}

#[test]
fn graph_errors_come_before_running() {
    for s in schedulers() {
        let (g, _) = graph_with_failure(0, false, Arc::new(AtomicUsize::new(0)));
        let err = s.get(&g, &[Key::new("nope", [])], &[]).unwrap_err();
        insta::allow_duplicates! { insta::assert_snapshot!(err.to_string(), @"key 'nope' is not in the graph"); }
    }
}

#[test]
fn zero_workers_is_an_error() {
    let err = ThreadedScheduler::builder()
        .num_workers(0)
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::ZeroWorkers);
    insta::assert_snapshot!(err.to_string(), @"a scheduler needs at least one worker; num_workers was 0");
}

#[test]
fn failures_deep_in_a_chain_stop_everything() {
    let op = ClosureOp::new("step", |args| {
        let i = *args[0].get::<i64>()?;
        if i == 500 {
            return Err(TaskError::new("step 500 fails"));
        }
        Ok(Value::new(i + 1))
    });
    let op: Arc<dyn rask_graph::Op> = Arc::new(op);
    let mut c = Layer::new("c");
    c.insert(
        [0],
        Task::from_arc(Arc::clone(&op), [Arg::Value(Value::new(0i64))]),
    );
    for i in 1..1000u32 {
        c.insert(
            [i],
            Task::from_arc(Arc::clone(&op), [Arg::Key(Key::new("c", [i - 1]))]),
        );
    }
    let mut g = Graph::new();
    g.add_layer(c);
    for s in schedulers() {
        let err = s.get(&g, &[Key::new("c", [999])], &[]).unwrap_err();
        assert_eq!(err.key(), Some(&Key::new("c", [500])));
    }
}

/// A panic payload that itself panics when dropped: the task's panic is still an error naming
/// it, on both schedulers (issue 12, item 13: it escaped the sync scheduler, and the threaded
/// one lost the task's name).
#[test]
fn a_panic_payload_that_panics_on_drop_is_contained() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("the payload's drop panicked too");
        }
    }
    let op = ClosureOp::new("bomb", |_| std::panic::panic_any(Bomb));
    let mut l = Layer::new("bomber");
    l.insert([], Task::new(op, [Arg::Value(Value::new(1i64))]));
    let mut g = Graph::new();
    g.add_layer(l);
    for s in [
        Box::new(SyncScheduler) as Box<dyn Scheduler>,
        Box::new(ThreadedScheduler::builder().num_workers(2).build().unwrap()),
    ] {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.get(&g, &[Key::new("bomber", [])], &[])
        }))
        .unwrap_or_else(|_| panic!("a panic escaped the {} scheduler", s.name()))
        .unwrap_err();
        assert!(
            matches!(err, ComputeError::Panic { .. }),
            "{}: {err}",
            s.name()
        );
        assert_eq!(
            err.to_string(),
            "task 'bomber' (op `bomb`) panicked: a non-string panic payload",
            "{}",
            s.name()
        );
    }
}
