//! The collection author's kit: partition layers, reduction trees and the pass runner.

use std::sync::Arc;

use rask_graph::layers::{LevelInfo, TreeLevel, grid, reduction_tree};
use rask_graph::ops::{AddConst, Identity, Sum};
use rask_graph::optimize::{Census, Passes};
use rask_graph::{Arg, Graph, Key, KeySet, Layer, Plan, Task, Value};

fn leaves(counts: &[usize]) -> Graph {
    let mut g = Graph::new();
    g.add_layer(Layer::per_block("x", counts, |i| {
        // Each block's value: its flat position + 1.
        let flat = i
            .iter()
            .zip(counts)
            .fold(0usize, |acc, (v, n)| acc * n + *v as usize);
        Task::new(AddConst(1), [Arg::Value(Value::new(flat as i64))])
    }));
    g
}

fn run(g: &Graph, key: Key) -> i64 {
    let plan = Plan::lower(g, &[key]).unwrap();
    let v = rask_graph::exec::run_plan(
        &plan,
        &rask_graph::Callbacks::new(&[]),
        &rask_graph::WorkerId::new("t"),
    )
    .unwrap();
    *v[0].get::<i64>().unwrap()
}

#[test]
fn a_tree_over_every_split_sums_everything() {
    for n in [0usize, 1, 2, 3, 7, 16, 17] {
        for split in [0usize, 1, 2, 3, 4, 8, 100] {
            let mut g = leaves(&[n]);
            let mut depths = Vec::new();
            let last = reduction_tree(
                &mut g,
                "x".into(),
                &[n],
                &[0],
                split,
                false,
                |l: LevelInfo| {
                    depths.push(l);
                    TreeLevel::new(format!("s-{}", l.depth), |_, inputs| Task::new(Sum, inputs))
                },
            );
            // One final level, and each level combines at most max(split, 2) inputs.
            assert_eq!(depths.iter().filter(|l| l.last).count(), 1);
            assert!(depths.last().unwrap().last);
            let width = split.max(2);
            assert!(g.iter().all(|(_, t)| t.args().len() <= width.max(1)));
            assert_eq!(
                run(&g, Key::with_name(&last, [])),
                (1..=n as i64).sum::<i64>(),
                "n={n} split={split}"
            );
        }
    }
}

#[test]
fn a_tree_along_one_axis_keeps_the_other() {
    // A 5 × 3 grid reduced along axis 0 in pairs: 3 results, indexed by the kept axis.
    let mut g = leaves(&[5, 3]);
    let seen = std::cell::RefCell::new(Vec::new());
    let last = reduction_tree(&mut g, "x".into(), &[5, 3], &[0], 2, false, |l| {
        TreeLevel::new(
            format!("s-{}", l.depth),
            |ranges: &[std::ops::Range<u32>], inputs| {
                seen.borrow_mut().push(ranges.to_vec());
                Task::new(Sum, inputs)
            },
        )
    });
    for j in 0..3u32 {
        let want: i64 = (0..5).map(|i| (i * 3 + j as i64) + 1).sum();
        assert_eq!(run(&g, Key::with_name(&last, [j])), want);
    }
    // The first level's groups cover rows 0-1, 2-3 and 4 of each column.
    assert!(seen.borrow().contains(&vec![4..5, 2..3]));
    // keepdims keeps the reduced axis, of one block.
    let mut g = leaves(&[5, 3]);
    let last = reduction_tree(&mut g, "x".into(), &[5, 3], &[0], 4, true, |l| {
        TreeLevel::new(format!("k-{}", l.depth), |_, inputs| Task::new(Sum, inputs))
    });
    assert!(g.contains(&Key::with_name(&last, [0, 2])));
}

#[test]
fn grids_and_partitions() {
    assert_eq!(grid(&[2, 0, 3]).count(), 0);
    assert_eq!(grid(&[3, 1, 2]).count(), 6);
    let l = Layer::per_partition("p", 4, |i| Task::literal(Value::new(i as i64)));
    assert_eq!(l.len(), 4);
    assert!(l.get(&[3]).is_some() && l.get(&[4]).is_none());
}

/// `g` with a layer `name` added: how a test pass marks that it ran. Its task's op is of a
/// type no pass here waits for (the census is retaken after each pass).
fn mark(g: &Graph, name: &str) -> Graph {
    let mut g = g.clone();
    let mut l = Layer::new(name);
    l.insert([], Task::new(Sum, [Arg::Value(Value::new(0i64))]));
    g.add_layer(l);
    g
}

/// Layer `x` of two `AddConst` tasks, and their keys.
fn two_add_consts() -> (Graph, [Key; 2]) {
    let mut g = Graph::new();
    g.add_layer(Layer::per_partition("x", 2, |i| {
        Task::new(AddConst(1), [Arg::Value(Value::new(i as i64))])
    }));
    (g, [Key::new("x", [0]), Key::new("x", [1])])
}

fn count_pass(g: &Graph, _keep: &KeySet) -> Graph {
    let n = g.layers().filter(|l| l.name().starts_with("ran-")).count();
    mark(g, &format!("ran-{n}"))
}

#[test]
fn passes_run_in_order_and_only_when_their_op_is_there() {
    let (g, keys) = two_add_consts();
    let census = Census::of(&g);
    assert!(census.contains::<AddConst>() && !census.contains::<Identity>());
    let passes = Passes::new()
        .when::<AddConst>("first", count_pass)
        .when::<Identity>("skipped", count_pass)
        .always("always", count_pass);
    assert_eq!(passes.names(), ["first", "skipped", "always"]);
    let out = passes.run(&g, &keys).unwrap();
    // Two passes ran (the Identity one did not), in order.
    assert!(out.layer("ran-0").is_some() && out.layer("ran-1").is_some());
    assert!(out.layer("ran-2").is_none());
    // The runner culls first.
    let out = Passes::new().run(&g, &keys[..1]).unwrap();
    assert_eq!(out.len(), 1);
    let _ = Arc::new(Sum);
}

/// Rewrites every `AddConst` task of layer `x` as an `Identity` of its argument.
fn to_identity(g: &Graph, _keep: &KeySet) -> Graph {
    let mut rw = g.rewrite();
    let x = g.layer("x").unwrap();
    for (i, t) in x.entries() {
        rw.replace(
            &x.key(i.iter().copied()),
            Task::new(Identity, t.args().to_vec()),
        );
    }
    rw.finish()
}

/// The census follows the passes: a pass whose op type an earlier pass rewrote away does not
/// run, and one whose op type an earlier pass made does.
#[test]
fn the_census_is_retaken_after_each_pass() {
    let (g, keys) = two_add_consts();
    let passes = Passes::new()
        .when::<AddConst>("rewrite", to_identity)
        .when::<AddConst>("gone", |g, _| mark(g, "ran-gone"))
        .when::<Identity>("made", |g, _| mark(g, "ran-made"));
    let out = passes.run(&g, &keys).unwrap();
    // Only the Identity pass ran after the rewrite.
    assert!(
        out.layer("ran-gone").is_none(),
        "a pass with nothing to do ran"
    );
    assert!(
        out.layer("ran-made").is_some(),
        "the pass for the new op type did not run"
    );
    assert!(Census::of(&out).contains::<Identity>() && !Census::of(&out).contains::<AddConst>());
}
