//! The threaded scheduler agrees with the sync oracle on random DAGs.

use std::sync::Arc;

use proptest::prelude::*;
use rask_graph::{
    Arg, Graph, Key, Layer, Scheduler, Task, Value, ops::AddConst, ops::Identity, ops::Sum,
};
use rask_local::{SyncScheduler, ThreadedScheduler};

/// A random DAG: task i depends on a few of the tasks before it (so no cycles), some literals.
fn dag(n: usize, edges: &[(usize, usize)], lits: &[i64]) -> (Graph, Vec<Key>) {
    let mut layer = Layer::new("t");
    for i in 0..n {
        let mut args: Vec<Arg> = edges
            .iter()
            .filter(|(a, _)| *a == i)
            .map(|(_, b)| Arg::Key(Key::new("t", [*b as u32])))
            .collect();
        args.push(Arg::Value(Value::new(lits[i % lits.len()])));
        layer.insert([i as u32], Task::new(Sum, args));
    }
    let mut g = Graph::new();
    g.add_layer(layer);
    (g, (0..n as u32).map(|i| Key::new("t", [i])).collect())
}

fn values(vs: Vec<Value>) -> Vec<i64> {
    vs.iter().map(|v| *v.get::<i64>().unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn threaded_equals_sync(
        n in 1usize..60,
        raw_edges in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..150),
        lits in proptest::collection::vec(-1000i64..1000, 1..10),
        workers in 1usize..5,
        pick in proptest::collection::vec(any::<prop::sample::Index>(), 1..6),
    ) {
        // Edges point from a later task to an earlier one (a DAG); repeats allowed.
        let edges: Vec<(usize, usize)> = raw_edges
            .iter()
            .filter_map(|(a, b)| {
                let (a, b) = (a.index(n), b.index(n));
                (a != b).then(|| (a.max(b), a.min(b)))
            })
            .collect();
        let (g, all) = dag(n, &edges, &lits);
        let keys: Vec<Key> = pick.iter().map(|i| all[i.index(n)].clone()).collect();
        let expected = values(SyncScheduler.get(&g, &keys, &[]).unwrap());
        let threaded = ThreadedScheduler::builder().num_workers(workers).build().unwrap();
        prop_assert_eq!(values(threaded.get(&g, &keys, &[]).unwrap()), expected.clone());
        // Fusing chains changes nothing.
        let fused = g.cull(&keys).unwrap().fuse_linear(&keys);
        prop_assert_eq!(values(threaded.get(&fused, &keys, &[]).unwrap()), expected);
    }
}

#[test]
fn wide_chain_and_tree_workloads() {
    let threaded = ThreadedScheduler::builder().num_workers(4).build().unwrap();
    // 10,000 independent tasks and a sum.
    let (g, total) = rask_testing::independent(10_000, Arc::new(AddConst(1)), Arc::new(Sum));
    let keys = [total];
    let expected: i64 = (1..=10_000).sum();
    assert_eq!(values(threaded.get(&g, &keys, &[]).unwrap()), [expected]);
    assert_eq!(
        values(SyncScheduler.get(&g, &keys, &[]).unwrap()),
        [expected]
    );
    // A chain of 10,000.
    let (g, last) = rask_testing::chain(10_000, Arc::new(AddConst(1)));
    assert_eq!(values(threaded.get(&g, &[last], &[]).unwrap()), [10_000]);
}

/// Two readers of one result that run at once: the one that will release it must not take it
/// before the other has its copy. (This raced: the release was decided before the slot was
/// locked, and the other reader found the slot empty.) Each source `s_i` is read by an output
/// and by a task that is not one; many small rounds give the race its chances.
#[test]
fn concurrent_readers_of_one_result() {
    let s = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    let n = 16u32;
    let mut g = Graph::new();
    let mut src = Layer::new("s");
    for i in 0..n {
        src.insert([i], Task::literal(Value::new(i as i64)));
    }
    g.add_layer(src);
    let mut a = Layer::new("a");
    let mut b = Layer::new("b");
    for i in 0..n {
        a.insert([i], Task::new(Identity, [Arg::Key(Key::new("s", [i]))]));
        b.insert([i], Task::new(AddConst(1), [Arg::Key(Key::new("s", [i]))]));
    }
    g.add_layer(a);
    g.add_layer(b);
    let mut c = Layer::new("c");
    for i in 0..n {
        c.insert([i], Task::new(Identity, [Arg::Key(Key::new("b", [i]))]));
    }
    g.add_layer(c);
    let keys: Vec<Key> = (0..n)
        .flat_map(|i| [Key::new("a", [i]), Key::new("c", [i])])
        .collect();
    for round in 0..5000 {
        let got = values(
            s.get(&g, &keys, &[])
                .unwrap_or_else(|e| panic!("round {round}: {e}")),
        );
        let want: Vec<i64> = (0..n as i64).flat_map(|i| [i, i + 1]).collect();
        assert_eq!(got, want, "round {round}");
    }
}
