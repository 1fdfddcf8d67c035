//! # rask-testing — graphs that tests and benchmarks share
//!
//! The standard workloads of the foundation benchmarks, built from the ops you choose:
//! [`independent`] tasks and one task reading them all, a [`chain`], and a binary [`tree`]
//! reduction. Each returns the graph and the key to compute.
//!
//! ```
//! use std::sync::Arc;
//! use rask_graph::ops::{AddConst, Sum};
//!
//! let (g, key) = rask_testing::tree(5, Arc::new(AddConst(1)), Arc::new(Sum));
//! assert_eq!(g.len(), 9);
//! assert!(g.contains(&key));
//! ```
//!
//! This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]

pub mod ops;

use std::sync::Arc;

use rask_graph::{Arg, Graph, Key, Layer, Op, Task, Value};

/// `n` tasks `leaf(i)` (the literal `i` as an `i64`) and one task `combine(all of them)`.
pub fn independent(n: u32, leaf: Arc<dyn Op>, combine: Arc<dyn Op>) -> (Graph, Key) {
    let mut g = Graph::new();
    let mut x = Layer::with_capacity("x", n as usize);
    for i in 0..n {
        x.insert(
            [i],
            Task::from_arc(Arc::clone(&leaf), [Arg::Value(Value::new(i as i64))]),
        );
    }
    let mut s = Layer::new("total");
    s.insert(
        [],
        Task::from_arc(combine, (0..n).map(|i| Arg::Key(x.key([i])))),
    );
    g.add_layer(x);
    let key = s.key([]);
    g.add_layer(s);
    (g, key)
}

/// A chain of `n` tasks (`n ≥ 1`): `step(0)`, then `step(previous)`.
pub fn chain(n: u32, step: Arc<dyn Op>) -> (Graph, Key) {
    let mut c = Layer::with_capacity("chain", n as usize);
    c.insert(
        [0],
        Task::from_arc(Arc::clone(&step), [Arg::Value(Value::new(0i64))]),
    );
    for i in 1..n {
        c.insert(
            [i],
            Task::from_arc(Arc::clone(&step), [Arg::Key(c.key([i - 1]))]),
        );
    }
    let key = c.key([n.saturating_sub(1)]);
    let mut g = Graph::new();
    g.add_layer(c);
    (g, key)
}

/// A binary tree reduction: `n` leaves `leaf(i)`, combined pairwise by `combine` level by level
/// (an odd one out is carried up to the next level); `2n - 1` tasks for `n ≥ 1`, as in the
/// Dask workload it is compared with.
pub fn tree(n: u32, leaf: Arc<dyn Op>, combine: Arc<dyn Op>) -> (Graph, Key) {
    let mut g = Graph::new();
    let mut leaves = Layer::with_capacity("leaf", n as usize);
    for i in 0..n {
        leaves.insert(
            [i],
            Task::from_arc(Arc::clone(&leaf), [Arg::Value(Value::new(i as i64))]),
        );
    }
    let mut level: Vec<Key> = (0..n).map(|i| leaves.key([i])).collect();
    g.add_layer(leaves);
    let mut depth = 0;
    while level.len() > 1 {
        let mut l = Layer::with_capacity(format!("combine{depth}"), level.len() / 2 + 1);
        let mut next = Vec::with_capacity(level.len() / 2 + 1);
        for (j, pair) in level.chunks(2).enumerate() {
            if let [single] = pair {
                next.push(single.clone());
                continue;
            }
            l.insert(
                [j as u32],
                Task::from_arc(Arc::clone(&combine), pair.iter().cloned().map(Arg::Key)),
            );
            next.push(l.key([j as u32]));
        }
        g.add_layer(l);
        level = next;
        depth += 1;
    }
    let key = level.pop().unwrap_or_else(|| Key::new("leaf", [0]));
    (g, key)
}

/// Runs `f` on another thread and returns what it returns; panics if it has not returned
/// within `secs` seconds. For tests of what used to hang: a regression fails the test instead
/// of stalling the run.
///
/// ```
/// assert_eq!(rask_testing::within(10, || 6 * 7), 42);
/// ```
pub fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(v) => v,
        // `f` panicked (its sender is gone): the same panic here, at once.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => panic!("the thread ended without an answer"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("no answer within {secs} s: it hangs")
        }
    }
}

/// A random DAG of `n` tasks named `('t', i)` for scheduler-equivalence tests: task `i` sums
/// its index and the earlier tasks that `edges` (taken modulo `n`) point from it to; an input
/// may be read twice.
///
/// ```
/// let g = rask_testing::random_dag(3, &[(2, 0), (2, 1), (1, 0)]);
/// assert_eq!(g.len(), 3);
/// ```
pub fn random_dag(n: usize, edges: &[(usize, usize)]) -> Graph {
    let mut layer = Layer::new("t");
    for i in 0..n {
        let mut args: Vec<Arg> = edges
            .iter()
            .filter(|(a, b)| a % n == i && b % n < i)
            .map(|(_, b)| Arg::Key(Key::new("t", [(b % n) as u32])))
            .collect();
        args.push(Arg::Value(rask_graph::Value::new(i as i64)));
        layer.insert([i as u32], Task::new(rask_graph::ops::Sum, args));
    }
    let mut g = Graph::new();
    g.add_layer(layer);
    g
}
