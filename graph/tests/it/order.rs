//! The ordering pass, with cases ported from dask/tests/test_order.py (their graphs and the
//! properties they assert).

use std::sync::Arc;

use rask_graph::{Arg, Graph, Key, Layer, Plan, Task, Value, ops::Identity, ops::Sum};

use crate::common::{check_topological, order, peak_live};

#[test]
fn keeps_groups_together() {
    let o = order(&[
        ("a0", &[]),
        ("a1", &[]),
        ("a2", &[]),
        ("a3", &[]),
        ("b0", &["a0", "a1"]),
        ("b1", &["a2", "a3"]),
    ]);
    assert_eq!(o["a0"].abs_diff(o["a1"]), 1);
    assert_eq!(o["a2"].abs_diff(o["a3"]), 1);
    let o = order(&[
        ("a0", &[]),
        ("a1", &[]),
        ("a2", &[]),
        ("a3", &[]),
        ("b0", &["a0", "a2"]),
        ("b1", &["a1", "a3"]),
    ]);
    assert_eq!(o["a0"].abs_diff(o["a2"]), 1);
    assert_eq!(o["a1"].abs_diff(o["a3"]), 1);
}

#[test]
fn base_of_reduce_preferred() {
    let o = order(&[
        ("c", &[]),
        ("b0", &["c"]),
        ("b1", &["c"]),
        ("b2", &["c"]),
        ("b3", &["c"]),
        ("a0", &["b0"]),
        ("a1", &["a0", "b1"]),
        ("a2", &["a1", "b2"]),
        ("a3", &["a2", "b3"]),
    ]);
    assert!(o["b0"] <= 1, "{o:?}");
    assert!(o["b1"] <= 3, "{o:?}");
}

#[test]
fn avoid_upwards_branching() {
    let o = order(&[
        ("a1", &["a2"]),
        ("a2", &["a3"]),
        ("a3", &["b1", "c1"]),
        ("b1", &["b2"]),
        ("b2", &[]),
        ("c1", &["c2"]),
        ("c2", &["c3"]),
        ("c3", &[]),
        ("d1", &["c1"]),
    ]);
    assert!(o["d1"] < o["b1"], "{o:?}");
}

#[test]
fn deep_bases_win_over_dependents() {
    let o = order(&[
        ("a", &["b", "c", "d"]),
        ("b", &["d", "e"]),
        ("c", &["d"]),
        ("d", &[]),
        ("e", &[]),
    ]);
    assert!(o["b"] < o["c"], "{o:?}");
}

#[test]
fn prefer_deep() {
    // Whichever way the outputs are requested, the longer chain goes first.
    let spec: &[(&str, &[&str])] = &[
        ("a", &[]),
        ("b", &["a"]),
        ("c", &["b"]),
        ("d", &[]),
        ("e", &["d"]),
    ];
    for keys in [["c", "e"], ["e", "c"]] {
        let keys: Vec<Key> = keys.iter().map(|k| Key::new(*k, [])).collect();
        let plan = Plan::lower(&crate::common::graph(spec), &keys).unwrap();
        let o = |n: &str| {
            (0..plan.len() as u32)
                .find(|i| plan.key(*i).name() == n)
                .unwrap()
        };
        assert!(o("a") < o("d") && o("b") < o("d"));
    }
}

#[test]
fn favor_longest_critical_path() {
    let o = order(&[
        ("c", &[]),
        ("b", &["c"]),
        ("a", &["b"]),
        ("d", &["c"]),
        ("e", &["c"]),
    ]);
    assert!(o["b"] < o["d"] && o["b"] < o["e"], "{o:?}");
}

#[test]
fn local_parents_of_reduction() {
    let o = order(&[
        ("a3", &[]),
        ("a2", &["a3"]),
        ("a1", &["a2"]),
        ("b3", &[]),
        ("b2", &["b3", "a2"]),
        ("b1", &["b2"]),
        ("c3", &[]),
        ("c2", &["c3", "b2"]),
        ("c1", &["c2"]),
    ]);
    let mut seq: Vec<_> = o.iter().collect();
    seq.sort_by_key(|(_, p)| **p);
    let seq: Vec<&str> = seq.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(seq, ["a3", "a2", "a1", "b3", "b2", "b1", "c3", "c2", "c1"]);
}

#[test]
fn dont_run_all_dependents_too_early() {
    let mut spec: Vec<(String, Vec<String>)> = vec![
        ("a0".into(), vec![]),
        ("b0".into(), vec![]),
        ("c0".into(), vec![]),
        ("d0".into(), vec!["a0".into(), "b0".into(), "c0".into()]),
    ];
    for i in 1..10 {
        spec.push((format!("b{i}"), vec!["b0".into()]));
        spec.push((format!("c{i}"), vec!["c0".into()]));
        spec.push((
            format!("d{i}"),
            vec![format!("d{}", i - 1), format!("b{i}"), format!("c{i}")],
        ));
    }
    let deps: Vec<Vec<&str>> = spec
        .iter()
        .map(|(_, d)| d.iter().map(String::as_str).collect())
        .collect();
    let spec: Vec<(&str, &[&str])> = spec
        .iter()
        .zip(&deps)
        .map(|((n, _), d)| (n.as_str(), d.as_slice()))
        .collect();
    let o = order(&spec);
    let mut ds: Vec<u32> = (0..10).map(|i| o[&format!("d{i}")]).collect();
    ds.sort_unstable();
    assert_eq!(ds, (1..=10).map(|i| 3 * i).collect::<Vec<_>>());
}

#[test]
fn terminal_node_backtrack() {
    let o = order(&[
        ("a0", &[]),
        ("a1", &[]),
        ("a2", &[]),
        ("b0", &["a0", "a1"]),
        ("b1", &["a1", "a2"]),
        ("s00", &["b0"]),
        ("s10", &["b1"]),
        ("a3", &[]),
        ("a4", &[]),
        ("a5", &[]),
        ("b2", &["a3", "a4"]),
        ("b3", &["a4", "a5"]),
        ("s01", &["b2"]),
        ("s11", &["b3"]),
        ("store", &["s00", "s10", "s01", "s11"]),
    ]);
    assert!(o["a2"] < o["a3"], "{o:?}");
}

/// A binary tree reduction over `n` leaves.
fn tree(n: u32) -> (Graph, Key) {
    rask_testing::tree(n, Arc::new(Identity), Arc::new(Sum))
}

#[test]
fn tree_reduction_keeps_memory_logarithmic() {
    for n in [1, 2, 3, 7, 64, 1000] {
        let (g, root) = tree(n);
        let plan = Plan::lower(&g, &[root]).unwrap();
        check_topological(&plan);
        let bound = (n as f64).log2().ceil() as usize + 2;
        assert!(
            peak_live(&plan) <= bound,
            "n={n}: peak {} > {bound}",
            peak_live(&plan)
        );
    }
}

#[test]
fn independent_tasks_run_in_argument_order() {
    let (g, total) = rask_testing::independent(100, Arc::new(Identity), Arc::new(Sum));
    let plan = Plan::lower(&g, &[total]).unwrap();
    for i in 0..100u32 {
        assert_eq!(plan.key(i), &Key::new("x", [i]));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

    /// On any DAG, lowering numbers every needed task exactly once, dependencies first, and
    /// the outputs are the requested keys.
    #[test]
    fn order_is_a_topological_permutation(
        n in 1usize..80,
        raw in proptest::collection::vec((0usize..80, 0usize..80), 0..200),
        want in proptest::collection::vec(0usize..80, 1..5),
    ) {
        let mut layer = Layer::new("t");
        for i in 0..n {
            let deps = raw.iter().filter(|(a, b)| a % n == i && b % n < i).map(|(_, b)| b % n);
            let mut args: Vec<Arg> = deps.map(|d| Arg::Key(Key::new("t", [d as u32]))).collect();
            args.push(Arg::Value(Value::new(1i64)));
            layer.insert([i as u32], Task::new(Sum, args));
        }
        let mut g = Graph::new();
        g.add_layer(layer);
        let keys: Vec<Key> = want.iter().map(|w| Key::new("t", [(w % n) as u32])).collect();
        let plan = Plan::lower(&g, &keys).unwrap();
        check_topological(&plan);
        let culled = g.cull(&keys).unwrap();
        proptest::prop_assert_eq!(plan.len(), culled.len());
        let mut seen: Vec<&Key> = plan.keys().iter().collect();
        seen.sort();
        seen.dedup();
        proptest::prop_assert_eq!(seen.len(), plan.len());
        for (o, k) in plan.outputs().iter().zip(&keys) {
            proptest::prop_assert_eq!(plan.key(*o), k);
        }
    }
}

/// `(x * x[::-1]).sum()` block by block: product `i` (a block's sum: small) reads block `i` and
/// (through a reversing slice) block `n - 1 - i`, and the products are summed in a tree. Each
/// block waits for its mirror's product; ordering the mirror's work as soon as it frees memory
/// keeps a handful of blocks alive, not half of them.
#[test]
fn mirrored_pairs_free_their_blocks() {
    for n in [8usize, 9, 64, 201] {
        let mut spec: Vec<(String, Vec<String>)> = Vec::new();
        for i in 0..n {
            spec.push((format!("x{i}"), vec![]));
        }
        for i in 0..n {
            spec.push((format!("s{i}"), vec![format!("x{}", n - 1 - i)]));
            spec.push((format!("p{i}"), vec![format!("x{i}"), format!("s{i}")]));
        }
        // A tree of sums, four at a time.
        let mut level: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let mut depth = 0;
        while level.len() > 1 {
            let next: Vec<String> = level
                .chunks(4)
                .enumerate()
                .map(|(j, part)| {
                    let name = format!("t{depth}-{j}");
                    spec.push((name.clone(), part.to_vec()));
                    name
                })
                .collect();
            level = next;
            depth += 1;
        }
        let deps: Vec<Vec<&str>> = spec
            .iter()
            .map(|(_, d)| d.iter().map(String::as_str).collect())
            .collect();
        let spec: Vec<(&str, &[&str])> = spec
            .iter()
            .zip(&deps)
            .map(|((n, _), d)| (n.as_str(), d.as_slice()))
            .collect();
        let g = crate::common::graph(&spec);
        let plan = Plan::lower(&g, &crate::common::terminals(&spec)).unwrap();
        check_topological(&plan);
        // The blocks (x) and slices (s) alive at once; the products are small.
        let big = |i: u32| matches!(plan.key(i).name().as_bytes()[0], b'x' | b's');
        let mut left: Vec<usize> = (0..plan.len() as u32)
            .map(|i| plan.dependents(i).len())
            .collect();
        let (mut live, mut peak) = (0usize, 0usize);
        for i in 0..plan.len() as u32 {
            if big(i) {
                live += 1;
            }
            peak = peak.max(live);
            for d in plan.dependencies(i) {
                left[*d as usize] -= 1;
                if left[*d as usize] == 0 && big(*d) {
                    live -= 1;
                }
            }
        }
        assert!(peak <= 4, "{n} blocks: {peak} blocks alive at once");
    }
}
