//! Keys, tokens, layers, merging, culling, fusion, lowering and DOT.

use rask_graph::tokenize::{Tokenizer, tokenize};
use rask_graph::{
    Arg, Fused, Graph, Key, Layer, Plan, Task, Value, delayed, downcast_op, ops::AddConst, ops::Sum,
};

use crate::common::{graph, run_i64};

#[test]
fn keys_display_like_dask() {
    assert_eq!(
        Key::new("ones-3f9a", [2, 0]).to_string(),
        "('ones-3f9a', 2, 0)"
    );
    assert_eq!(Key::new("x", [0]).to_string(), "('x', 0)");
    assert_eq!(Key::new("x", []).to_string(), "'x'");
    assert_eq!(Key::from(("a", 1, 2)), Key::new("a", [1, 2]));
}

#[test]
fn keys_are_equal_by_name_and_index_whatever_their_names_allocation() {
    use std::hash::BuildHasher;
    let shared: std::sync::Arc<str> = "x-01".into();
    let a = Key::with_name(&shared, [1, 2]);
    // The same name in its own allocation.
    let b = Key::new(String::from("x-01"), [1, 2]);
    assert_eq!(a, b);
    let h = std::hash::RandomState::new();
    assert_eq!(h.hash_one(&a), h.hash_one(&b));
    assert_ne!(a, Key::with_name(&shared, [1, 3]));
    assert_ne!(a, Key::new("x-02", [1, 2]));
    assert_ne!(Key::new("x", [1]), Key::new("x", [1, 0]));
    // Order is by name first, then index.
    assert!(Key::new("a", [9]) < Key::new("b", [0]));
    assert!(Key::new("a", [0, 5]) < Key::new("a", [1]));
}

#[test]
fn tokens_are_deterministic_and_sensitive() {
    let a = Tokenizer::new()
        .write_op(&AddConst(1))
        .write_key(&Key::new("x", [0]))
        .finish();
    let b = Tokenizer::new()
        .write_op(&AddConst(1))
        .write_key(&Key::new("x", [0]))
        .finish();
    let c = Tokenizer::new()
        .write_op(&AddConst(2))
        .write_key(&Key::new("x", [0]))
        .finish();
    let d = Tokenizer::new()
        .write_op(&AddConst(1))
        .write_key(&Key::new("x", [1]))
        .finish();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, d);
    // Pinned, so that a change of hash (which would change every key name) is seen.
    assert_eq!(tokenize(&(1000u64, 4000u64)), tokenize(&(1000u64, 4000u64)));
    insta::assert_snapshot!(tokenize("rask"), @"bfc0c7073e80f06050f77db804d42729");
}

#[test]
fn registered_ops_make_deterministic_delayed_keys() {
    let x = delayed::value(3i64);
    let a: rask_graph::Delayed<i64> =
        rask_graph::Delayed::from_op(AddConst(1), vec![Arg::Key(x.key().clone())], &[x.graph()]);
    let b: rask_graph::Delayed<i64> =
        rask_graph::Delayed::from_op(AddConst(1), vec![Arg::Key(x.key().clone())], &[x.graph()]);
    assert_eq!(a.key(), b.key());
    assert!(a.key().name().starts_with("add-const-"));
    // Closures are opaque: each call gets a fresh key.
    assert_ne!(x.map("inc", |v| v + 1).key(), x.map("inc", |v| v + 1).key());
}

#[test]
fn merge_shares_layers_and_keeps_first() {
    let g1 = graph(&[("a", &[]), ("b", &["a"])]);
    let g2 = graph(&[("a", &[]), ("c", &["a"])]);
    let m = Graph::merged([&g1, &g2]);
    assert_eq!(m.len(), 3);
    assert!(std::sync::Arc::ptr_eq(
        m.layer("a").unwrap(),
        g1.layer("a").unwrap()
    ));
    assert_eq!(run_i64(&m, &[Key::new("b", []), Key::new("c", [])]), [2, 2]);
}

#[test]
fn cull_keeps_what_keys_need() {
    let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b"])]);
    let c = g.cull(&[Key::new("d", [])]).unwrap();
    let mut names: Vec<_> = c.iter().map(|(k, _)| k.name().to_string()).collect();
    names.sort();
    assert_eq!(names, ["a", "b", "d"]);
    // Partial layers are trimmed, whole ones shared.
    let mut g = Graph::new();
    let mut x = Layer::new("x");
    for i in 0..10 {
        x.insert([i], Task::literal(Value::new(i as i64)));
    }
    g.add_layer(x);
    let c = g.cull(&[Key::new("x", [3]), Key::new("x", [7])]).unwrap();
    assert_eq!(c.len(), 2);
    let c = g
        .cull(&(0..10).map(|i| Key::new("x", [i])).collect::<Vec<_>>())
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(
        c.layer("x").unwrap(),
        g.layer("x").unwrap()
    ));
}

#[test]
fn fuse_linear_chains() {
    // a -> b -> c -> d, and e depends on b too: b has two dependents, so only c-d fuse... and a-b.
    let g = graph(&[
        ("a", &[]),
        ("b", &["a"]),
        ("c", &["b"]),
        ("d", &["c"]),
        ("e", &["b"]),
    ]);
    let keys = [Key::new("d", []), Key::new("e", [])];
    let f = g.fuse_linear(&keys);
    assert_eq!(
        f.len(),
        3,
        "{:?}",
        f.iter()
            .map(|(k, t)| format!("{k}={t:?}"))
            .collect::<Vec<_>>()
    );
    assert!(f.contains(&Key::new("b", [])));
    assert!(!f.contains(&Key::new("a", [])));
    assert!(!f.contains(&Key::new("c", [])));
    let fused = downcast_op::<Fused>(f.get(&Key::new("d", [])).unwrap().op()).unwrap();
    assert_eq!(fused.len(), 2);
    assert_eq!(run_i64(&f, &keys), run_i64(&g, &keys));
    assert_eq!(run_i64(&f, &keys), [4, 3]);
    // A kept key is not fused away.
    let f = g.fuse_linear(&[Key::new("d", []), Key::new("c", [])]);
    assert!(f.contains(&Key::new("c", [])));
}

/// A source whose result is held elsewhere (as a cluster's persisted results are).
#[derive(Debug)]
struct Elsewhere;

impl rask_graph::Op for Elsewhere {
    fn name(&self) -> &str {
        "elsewhere"
    }
    fn run(&self, _: rask_graph::Args) -> Result<Value, rask_graph::TaskError> {
        Ok(Value::new(1i64))
    }
    fn pinned(&self) -> bool {
        true
    }
}

#[test]
fn a_pinned_task_is_never_fused_into_its_reader() {
    let mut src = Layer::new("held");
    src.insert([], Task::new(Elsewhere, []));
    let mut step = Layer::new("step");
    step.insert([], Task::new(AddConst(1), [Arg::Key(Key::new("held", []))]));
    let mut g = Graph::new();
    g.add_layer(src);
    g.add_layer(step);
    let keys = [Key::new("step", [])];
    let f = g.fuse_linear(&keys);
    assert!(
        f.contains(&Key::new("held", [])),
        "the pinned task keeps its key"
    );
    assert_eq!(f.len(), 2);
    assert_eq!(run_i64(&f, &keys), [2]);
}

#[test]
fn fused_graphs_survive_the_wire() {
    let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    let keys = [Key::new("c", [])];
    let f = g.fuse_linear(&keys);
    assert_eq!(f.len(), 1);
    let back = Graph::from_bytes(&f.to_bytes().unwrap()).unwrap();
    assert_eq!(run_i64(&back, &keys), [3]);
}

#[test]
fn lowering_assigns_dense_ids_and_counts_uses() {
    // x + x reads x twice: two uses, one distinct dependency.
    let mut g = Graph::new();
    let mut x = Layer::new("x");
    x.insert([], Task::literal(Value::new(5i64)));
    g.add_layer(x);
    let mut s = Layer::new("s");
    s.insert(
        [],
        Task::new(
            Sum,
            [Arg::Key(Key::new("x", [])), Arg::Key(Key::new("x", []))],
        ),
    );
    g.add_layer(s);
    let keys = [Key::new("s", []), Key::new("s", [])];
    let plan = Plan::lower(&g, &keys).unwrap();
    assert_eq!(plan.len(), 2);
    assert_eq!(plan.uses(0), 2);
    assert_eq!(plan.dependencies(1), &[0]);
    assert_eq!(plan.dependents(0), &[1]);
    assert_eq!(plan.outputs(), &[1, 1]);
    assert_eq!(plan.initial_ready(), vec![0]);
    assert_eq!(run_i64(&g, &keys), [10, 10]);
}

#[test]
fn empty_requests_and_graphs() {
    let plan = Plan::lower(&Graph::new(), &[]).unwrap();
    assert!(plan.is_empty());
    assert!(Graph::new().is_empty());
}

#[test]
fn dot_of_a_small_reduction() {
    let mut g = Graph::new();
    let mut x = Layer::new("ones-0123456789abcdef0123456789abcdef");
    for i in 0..2 {
        x.insert([i], Task::literal(Value::new(1i64)));
    }
    g.add_layer(x);
    let mut s = Layer::new("sum-aggregate-0123456789abcdef0123456789abcdef");
    s.insert(
        [],
        Task::new(
            Sum,
            (0..2).map(|i| Arg::Key(Key::new("ones-0123456789abcdef0123456789abcdef", [i]))),
        ),
    );
    g.add_layer(s);
    insta::assert_snapshot!(rask_graph::dot::to_dot(&g), @r#"
    digraph {
        rankdir=BT;
        0 [label="identity (0,)", shape=circle];
        1 [label="(0,)", shape=box];
        2 [label="identity (1,)", shape=circle];
        3 [label="(1,)", shape=box];
        4 [label="sum", shape=circle];
        5 [label="sum-aggregate", shape=box];
        0 -> 1;
        2 -> 3;
        4 -> 5;
        1 -> 4;
        3 -> 4;
    }
    "#);
}

#[test]
fn merging_culled_parts_of_one_layer_keeps_both() {
    let mut g = Graph::new();
    g.add_layer(Layer::per_partition("x", 4, |i| {
        Task::new(AddConst(1), [Arg::Value(Value::new(i as i64))])
    }));
    let first = g.cull(&[Key::new("x", [0])]).unwrap();
    let last = g.cull(&[Key::new("x", [3])]).unwrap();
    let merged = Graph::merged([&first, &last]);
    assert_eq!(merged.len(), 2);
    assert!(merged.contains(&Key::new("x", [0])) && merged.contains(&Key::new("x", [3])));
    // The same layer merged twice is shared, not copied.
    let again = Graph::merged([&g, &g]);
    assert!(std::sync::Arc::ptr_eq(
        again.layer("x").unwrap(),
        g.layer("x").unwrap()
    ));
}

/// Every key that can be built is encoded and decoded: a key of 65 (or 300) dimensions
/// round-trips through the wire format (issue 12, item 20: it was written, then refused).
#[test]
fn keys_of_many_dimensions_survive_the_wire() {
    for dims in [65usize, 300] {
        let mut g = Graph::new();
        let mut l = Layer::new("deep");
        l.insert(vec![1u32; dims], Task::literal(Value::new(7i64)));
        g.add_layer(l);
        let key = Key::new("deep", vec![1u32; dims]);
        let back = Graph::from_bytes(&g.to_bytes().unwrap()).unwrap();
        assert!(back.contains(&key), "{dims} dimensions");
        assert_eq!(run_i64(&back, std::slice::from_ref(&key)), [7]);
    }
}

/// Culled halves of one big layer merge back in linear time (a lookup remade between inserts
/// would make it quadratic), and lookups find every task, in or out of order.
#[test]
fn merging_culled_halves_of_a_big_layer_is_linear() {
    let n = 200_000u32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut l = Layer::with_capacity("big", n as usize);
        for i in 0..n {
            l.insert([i], Task::literal(Value::new(i as i64)));
        }
        let mut g = Graph::new();
        g.add_layer(l);
        let low: Vec<Key> = (0..n / 2).map(|i| Key::new("big", [i])).collect();
        let high: Vec<Key> = (n / 2..n).map(|i| Key::new("big", [i])).collect();
        let (a, b) = (g.cull(&low).unwrap(), g.cull(&high).unwrap());
        // Both orders: appending after the last index, and inserting before the first.
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        let _ = tx.send((ab, ba));
    });
    let (ab, ba) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("merged in linear time");
    for g in [&ab, &ba] {
        assert_eq!(g.len(), n as usize);
        for i in [0, 1, n / 2 - 1, n / 2, n - 1] {
            assert!(g.contains(&Key::new("big", [i])), "{i}");
        }
        assert!(!g.contains(&Key::new("big", [n])));
    }
    // A layer filled out of order, with a replacement: every index found.
    let mut l = Layer::new("odd");
    for i in [5u32, 1, 9, 1, 0] {
        l.insert([i], Task::literal(Value::new(i as i64)));
    }
    assert_eq!(l.len(), 4);
    for i in [0u32, 1, 5, 9] {
        assert!(l.get(&[i]).is_some(), "{i}");
    }
    assert!(l.get(&[2]).is_none());
}

/// A layer that covers a box of a grid (what a cull keeps of a slice) finds each task by
/// arithmetic, and nothing outside the box.
#[test]
fn boxes_of_grids_are_found_by_position() {
    let mut g = Graph::new();
    let mut l = Layer::new("grid");
    for i in 0..5u32 {
        for j in 0..4u32 {
            l.insert([i, j], Task::literal(Value::new((i * 10 + j) as i64)));
        }
    }
    g.add_layer(l);
    let keep: Vec<Key> = (2..4u32)
        .flat_map(|i| (1..3u32).map(move |j| Key::new("grid", [i, j])))
        .collect();
    let culled = g.cull(&keep).unwrap();
    let layer = culled.layer("grid").unwrap();
    assert_eq!(layer.len(), 4);
    for i in 0..5u32 {
        for j in 0..4u32 {
            let inside = (2..4).contains(&i) && (1..3).contains(&j);
            assert_eq!(layer.get(&[i, j]).is_some(), inside, "({i}, {j})");
        }
    }
    assert!(layer.get(&[2]).is_none() && layer.get(&[2, 1, 0]).is_none());
    assert_eq!(run_i64(&culled, &[Key::new("grid", [3, 2])]), [32]);
}

/// The literal `i64` a task holds, if it is one.
fn literal_of(task: &Task) -> Option<i64> {
    match task.args() {
        [Arg::Value(v)] => v.downcast_ref::<i64>().copied(),
        _ => None,
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 400, ..Default::default() })]

    /// A rewrite is the same as applying its replacements and removals one after another to a
    /// map of every key (the last change at a key wins), in any order, with keys outside the
    /// graph refused; untouched layers are shared and emptied ones go. Keys are looked up both
    /// through the layer's own name and through a copy of it.
    #[test]
    fn rewrites_match_changes_applied_in_turn(
        sizes in (1usize..150, 1usize..150),
        changes in proptest::collection::vec((0usize..3, 0usize..160, proptest::option::of(0i64..1000), proptest::bool::ANY), 0..400),
    ) {
        use std::collections::BTreeMap;
        let names = ["a", "b", "c"];
        let lens = [sizes.0, sizes.1, 70];
        let mut g = Graph::new();
        let mut model: BTreeMap<Key, i64> = BTreeMap::new();
        for (name, len) in names.iter().zip(lens) {
            let mut l = Layer::new(*name);
            for i in 0..len as u32 {
                l.insert([i], Task::literal(Value::new(i64::from(i))));
                model.insert(Key::new(*name, [i]), i64::from(i));
            }
            g.add_layer(l);
        }
        let mut r = g.rewrite();
        for (layer, pos, value, own_name) in &changes {
            // Layer "c" is never touched: it must come out shared.
            let layer = layer % 2;
            let key = if *own_name {
                g.layer(names[layer]).unwrap().key([*pos as u32])
            } else {
                Key::new(String::from(names[layer]), [*pos as u32])
            };
            let inside = *pos < lens[layer];
            let done = match value {
                Some(v) => r.replace(&key, Task::literal(Value::new(*v))),
                None => r.remove(&key),
            };
            proptest::prop_assert_eq!(done, inside);
            if inside {
                match value {
                    Some(v) => model.insert(key, *v),
                    None => model.remove(&key),
                };
            }
        }
        let out = r.finish();
        proptest::prop_assert_eq!(out.len(), model.len());
        for (key, v) in &model {
            proptest::prop_assert_eq!(out.get(key).and_then(literal_of), Some(*v));
        }
        for name in names {
            let left = model.keys().filter(|k| k.name() == name).count();
            proptest::prop_assert_eq!(out.layer(name).is_some(), left > 0);
        }
        proptest::prop_assert!(std::sync::Arc::ptr_eq(
            out.layer("c").unwrap(),
            g.layer("c").unwrap()
        ));
    }
}

/// The indices of a box from `start` with `counts` per axis, in C order.
fn box_indices(start: &[u32], counts: &[u32]) -> Vec<Vec<u32>> {
    let mut out = vec![start.to_vec()];
    for (axis, n) in counts.iter().enumerate() {
        out = out
            .iter()
            .flat_map(|i| {
                (0..*n).map(move |k| {
                    let mut j = i.clone();
                    j[axis] += k;
                    j
                })
            })
            .collect();
    }
    out.sort();
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 400, ..Default::default() })]

    /// A layer finds, lists and keys its tasks as a list of (index, task) with replacement
    /// would: whether its indices are a whole grid in C order (kept as a box, not stored), the
    /// first part of one, or a grid that stops being one (an index out of order, a hole, a
    /// different rank, a replacement, a row begun before the last one ended) — including boxes
    /// that end at `u32::MAX`.
    #[test]
    fn layers_find_their_tasks_grid_or_not(
        start in proptest::collection::vec(
            proptest::prop_oneof![0u32..3, (u32::MAX - 3)..=u32::MAX], 0..4),
        counts in proptest::collection::vec(1u32..4, 4),
        take in 0usize..70,
        extras in proptest::collection::vec(
            (0usize..70, proptest::collection::vec(0u32..4, 0..4)), 0..3),
        from_grid in proptest::collection::vec((0usize..70, 0usize..70), 0..3),
        carry in proptest::option::of(0usize..4),
        probes in proptest::collection::vec(proptest::collection::vec(0u32..5, 0..4), 0..6),
    ) {
        let counts: Vec<u32> = start
            .iter()
            .zip(&counts)
            .map(|(s, n)| u64::from(*n).min(u64::from(u32::MAX - s) + 1) as u32)
            .collect();
        let grid = box_indices(&start, &counts);
        let mut seq: Vec<Vec<u32>> = grid[..take % (grid.len() + 1)].to_vec();
        // The first index of the next row of an axis, whether the row before is whole or not.
        if let Some(axis) = carry.filter(|_| !start.is_empty()) {
            let mut next = start.clone();
            let a = axis % start.len();
            if let Some(v) = next[a].checked_add(1) {
                next[a] = v;
                seq.push(next);
            }
        }
        for (at, index) in &extras {
            seq.insert((*at).min(seq.len()), index.clone());
        }
        // Indices of the box out of their turn: an early carry into the next row, a repeat.
        for (at, k) in &from_grid {
            seq.insert((*at).min(seq.len()), grid[*k % grid.len()].clone());
        }
        let mut layer = Layer::new("x");
        let mut model: Vec<(Vec<u32>, i64)> = Vec::new();
        for (tag, index) in seq.iter().enumerate() {
            layer.insert(index.iter().copied(), Task::literal(Value::new(tag as i64)));
            match model.iter_mut().find(|(i, _)| i == index) {
                Some(slot) => slot.1 = tag as i64,
                None => model.push((index.clone(), tag as i64)),
            }
        }
        let tag = |t: &Task| match &t.args()[0] {
            Arg::Value(v) => *v.downcast_ref::<i64>().unwrap(),
            Arg::Key(k) => panic!("a key {k}"),
        };
        proptest::prop_assert_eq!(layer.len(), model.len());
        let listed: Vec<(Vec<u32>, i64)> = layer.entries().map(|(i, t)| (i.to_vec(), tag(t))).collect();
        proptest::prop_assert_eq!(&listed, &model);
        let keys: Vec<Key> = layer.iter().map(|(k, _)| k).collect();
        let want: Vec<Key> = model.iter().map(|(i, _)| Key::new("x", i.iter().copied())).collect();
        proptest::prop_assert_eq!(keys, want);
        for (index, t) in &model {
            proptest::prop_assert_eq!(layer.get(index).map(tag), Some(*t));
        }
        for probe in probes.iter().chain(grid.iter()) {
            let want = model.iter().find(|(i, _)| i == probe).map(|(_, t)| *t);
            proptest::prop_assert_eq!(layer.get(probe).map(tag), want, "probe {:?}", probe);
        }
        // In a graph, found by key too.
        let mut g = Graph::new();
        g.add_layer(layer);
        for (index, t) in &model {
            let key = Key::new("x", index.iter().copied());
            proptest::prop_assert_eq!(g.get(&key).map(tag), Some(*t));
        }
    }
}

/// A row begun before the one above it ended is not a grid's next row: (0, 1, 0) is row 1 of
/// 2 along the last axis, so (1, 0, 0) cannot close the middle axis.
#[test]
fn a_row_begun_early_leaves_the_grid() {
    let mut layer = Layer::new("x");
    let seq = [[0u32, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 0, 1]];
    for (tag, index) in seq.iter().enumerate() {
        layer.insert(*index, Task::literal(Value::new(tag as i64)));
    }
    let listed: Vec<Vec<u32>> = layer.entries().map(|(i, _)| i.to_vec()).collect();
    assert_eq!(listed, seq.map(|i| i.to_vec()));
    for index in &seq {
        assert!(layer.get(index).is_some(), "{index:?}");
    }
    assert!(layer.get(&[0, 1, 1]).is_none());
}

/// A cheap source read twice from within its own layer is copied into each reader, as one
/// read from other layers is (a layer does not list itself among its dependencies).
#[test]
fn cheap_sources_read_within_their_own_layer_are_inlined() {
    use rask_graph::{Args, Op, TaskError};
    #[derive(Debug)]
    struct One;
    impl Op for One {
        fn name(&self) -> &str {
            "one"
        }
        fn run(&self, _: Args) -> Result<Value, TaskError> {
            Ok(Value::new(1i64))
        }
        fn cheap(&self) -> bool {
            true
        }
    }
    let mut g = Graph::new();
    let mut x = Layer::new("x");
    x.insert([0], Task::new(One, []));
    for i in 1..3 {
        x.insert([i], Task::new(Sum, [Arg::Key(Key::new("x", [0]))]));
    }
    g.add_layer(x);
    let keys = [Key::new("x", [1]), Key::new("x", [2])];
    let inlined = g.inline_cheap(&keys);
    assert!(!inlined.contains(&Key::new("x", [0])));
    assert_eq!(inlined.len(), 4);
    assert_eq!(run_i64(&inlined, &keys), [1, 1]);
}

#[test]
fn layers_are_found_whatever_their_names_addresses() {
    // More layers than the graph keeps hints for, read in turn and out of turn, by keys that
    // share the layers' names and by keys with names of their own: every lookup finds the
    // task it names, on the graph and on a clone of it (whose hints start empty).
    let mut g = Graph::new();
    let mut shared = Vec::new();
    for l in 0..20i64 {
        let mut layer = Layer::new(format!("layer-{l}"));
        for j in 0..3u32 {
            layer.insert([j], Task::literal(Value::new(l * 10 + i64::from(j))));
        }
        shared.push(std::sync::Arc::clone(layer.key([0]).name_arc()));
        g.add_layer(layer);
    }
    let expect = |l: usize, j: u32| Some(l as i64 * 10 + i64::from(j));
    for graph in [g.clone(), g] {
        for round in 0..3 {
            let order: Vec<usize> = match round {
                0 => (0..20).collect(),
                1 => (0..20).rev().collect(),
                _ => (0..20).map(|l| (l * 7) % 20).collect(),
            };
            for &l in &order {
                for j in 0..3u32 {
                    let by_shared = Key::with_name(&shared[l], [j]);
                    let by_own = Key::new(format!("layer-{l}"), [j]);
                    assert_eq!(graph.get(&by_shared).and_then(literal_of), expect(l, j));
                    assert_eq!(graph.get(&by_own).and_then(literal_of), expect(l, j));
                    // Two layers in turn, as a pass reading a task and its input does.
                    let other = (l + 8) % 20;
                    let k = Key::with_name(&shared[other], [j]);
                    assert_eq!(graph.get(&k).and_then(literal_of), expect(other, j));
                }
            }
        }
        assert!(graph.get(&Key::new("layer-20", [0])).is_none());
        assert!(graph.get(&Key::with_name(&shared[3], [3])).is_none());
    }
}
