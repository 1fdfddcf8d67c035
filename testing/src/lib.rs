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

pub mod bench;
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

/// Waits until `f` holds, checking every 20 ms for at most 10 s: whether it came to hold.
/// For what another thread or process does after the call that causes it returns (a worker
/// releasing a value, a file removed).
///
/// ```
/// let start = std::time::Instant::now();
/// assert!(rask_testing::eventually(|| start.elapsed().as_millis() > 30));
/// ```
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(10) {
        if f() {
            return true;
        }
        std::thread::park_timeout(std::time::Duration::from_millis(20));
    }
    false
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

/// `n` leaves, `('leaf', i)` made by `leaf(i)`, read by one task `total`: the graph and the
/// key `('total',)`.
///
/// ```
/// use rask_graph::{Arg, Task, Value, ops::{Identity, Sum}};
/// let (g, key) = rask_testing::leaves_and_total(
///     3,
///     |i| Task::new(Identity, [Arg::Value(Value::new(i64::from(i)))]),
///     Sum,
/// );
/// assert_eq!((g.len(), key.name()), (4, "total"));
/// ```
pub fn leaves_and_total(n: u32, leaf: impl Fn(u32) -> Task, total: impl Op) -> (Graph, Key) {
    let mut l = Layer::new("leaf");
    for i in 0..n {
        l.insert([i], leaf(i));
    }
    let mut t = Layer::new("total");
    t.insert(
        [],
        Task::new(total, (0..n).map(|i| Arg::Key(Key::new("leaf", [i])))),
    );
    let mut g = Graph::new();
    g.add_layer(l);
    g.add_layer(t);
    (g, Key::new("total", []))
}

/// Checks that `s` computes what `oracle` computes on `cases` random DAGs
/// ([`random_dag`], up to 40 tasks, 1 to 3 of them asked for); panics with proptest's
/// minimal failing case otherwise.
pub fn random_dags_agree(
    oracle: &dyn rask_graph::Scheduler,
    s: &dyn rask_graph::Scheduler,
    cases: u32,
) {
    use proptest::prelude::*;
    let ints = |vs: Vec<Value>| -> Vec<i64> {
        vs.iter()
            .map(|v| v.get::<i64>().copied().unwrap_or(i64::MIN))
            .collect()
    };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let strategy = (
        1usize..40,
        proptest::collection::vec((0usize..40, 0usize..40), 0..80),
        proptest::collection::vec(0usize..40, 1..4),
    );
    runner
        .run(&strategy, |(n, edges, want)| {
            let g = random_dag(n, &edges);
            let keys: Vec<Key> = (want.iter())
                .map(|w| Key::new("t", [(w % n) as u32]))
                .collect();
            let expected = oracle.get(&g, &keys, &[]).map(ints);
            let got = s.get(&g, &keys, &[]).map(ints);
            prop_assert_eq!(
                got.map_err(|e| e.to_string()),
                expected.map_err(|e| e.to_string())
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Two `len`-element `Vec<f64>` made by two tasks (one per worker of a pool of two); with
/// `together`, one task reads both (one must move between workers), else each is read
/// where it was made: the graph and the keys to compute. What the transfer benchmarks time.
pub fn two_chunks(len: usize, together: bool) -> (Graph, Vec<Key>) {
    use crate::ops::{Len, Make};
    let mut make = Layer::new("make");
    make.insert([0], Task::new(Make(len), []));
    make.insert([1], Task::new(Make(len), []));
    let mut read = Layer::new("read");
    if together {
        read.insert(
            [0],
            Task::new(Len, [Arg::Key(make.key([0])), Arg::Key(make.key([1]))]),
        );
    } else {
        read.insert([0], Task::new(Len, [Arg::Key(make.key([0]))]));
        read.insert([1], Task::new(Len, [Arg::Key(make.key([1]))]));
    }
    let keys = (read.entries())
        .map(|(i, _)| read.key(i.iter().copied()))
        .collect();
    let mut g = Graph::new();
    g.add_layer(make);
    g.add_layer(read);
    (g, keys)
}
