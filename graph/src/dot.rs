//! DOT export, for `visualize()`.

use std::fmt::Write as _;

use petgraph::graph::{DiGraph, NodeIndex};
use rustc_hash::FxHashMap;

use crate::{Graph, Key};

/// A DOT picture of a graph, as Dask draws them: each task a circle labelled with its op and
/// block index, each result a box labelled with its block index, an edge from every input
/// result to the task that reads it. Nodes come in layer order, so the text is stable.
///
/// ```
/// use rask_graph::{ops::Sum, Arg, Graph, Key, Layer, Task, Value};
///
/// let mut g = Graph::new();
/// let mut x = Layer::new("x-0123456789abcdef");
/// x.insert([0], Task::literal(Value::new(1i64)));
/// g.add_layer(x);
/// let mut s = Layer::new("sum-0123456789abcdef");
/// s.insert([], Task::new(Sum, [Arg::Key(Key::new("x-0123456789abcdef", [0]))]));
/// g.add_layer(s);
/// let dot = rask_graph::dot::to_dot(&g);
/// assert!(dot.starts_with("digraph {"));
/// assert!(dot.contains("sum"));
/// ```
pub fn to_dot(graph: &Graph) -> String {
    let mut g: DiGraph<(String, &'static str), ()> = DiGraph::new();
    let mut data: FxHashMap<Key, NodeIndex> = FxHashMap::default();
    let mut data_node = |g: &mut DiGraph<(String, &'static str), ()>, key: &Key| {
        *data
            .entry(key.clone())
            .or_insert_with(|| g.add_node((index_label(key), "box")))
    };
    for (key, task) in graph.iter() {
        let label = if key.index().is_empty() {
            task.op().name().to_string()
        } else {
            format!("{} {}", task.op().name(), index_label(&key))
        };
        let t = g.add_node((label, "circle"));
        let out = data_node(&mut g, &key);
        g.add_edge(t, out, ());
        for dep in crate::graph::distinct_dependencies(task) {
            let d = data_node(&mut g, dep);
            g.add_edge(d, t, ());
        }
    }
    let mut s = String::from("digraph {\n    rankdir=BT;\n");
    for i in g.node_indices() {
        let (label, shape) = &g[i];
        let _ = writeln!(
            s,
            "    {} [label=\"{}\", shape={shape}];",
            i.index(),
            label.replace('"', "\\\"")
        );
    }
    for e in g.edge_indices() {
        if let Some((a, b)) = g.edge_endpoints(e) {
            let _ = writeln!(s, "    {} -> {};", a.index(), b.index());
        }
    }
    s.push_str("}\n");
    s
}

fn index_label(key: &Key) -> String {
    let idx = key.index();
    match idx {
        [] => key.prefix().to_string(),
        [i] => format!("({i},)"),
        _ => format!(
            "({})",
            idx.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
