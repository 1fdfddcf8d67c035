//! Graphs from adjacency lists, for tests.

use rask_graph::{Arg, Graph, Key, Layer, Plan, Task, Value, ops::Sum};

/// A graph where each `name: [deps]` task sums its dependencies plus one (so a leaf is 1).
/// Every key is a layer of its own with an empty index.
pub fn graph(spec: &[(&str, &[&str])]) -> Graph {
    let mut g = Graph::new();
    for (name, deps) in spec {
        let mut l = Layer::new(*name);
        let mut args: Vec<Arg> = deps.iter().map(|d| Arg::Key(Key::new(*d, []))).collect();
        args.push(Arg::Value(Value::new(1i64)));
        l.insert([], Task::new(Sum, args));
        g.add_layer(l);
    }
    g
}

/// The keys nothing depends on.
pub fn terminals(spec: &[(&str, &[&str])]) -> Vec<Key> {
    spec.iter()
        .filter(|(n, _)| !spec.iter().any(|(_, ds)| ds.contains(n)))
        .map(|(n, _)| Key::new(*n, []))
        .collect()
}

/// The priority of every task when all terminals are requested, by name.
pub fn order(spec: &[(&str, &[&str])]) -> std::collections::HashMap<String, u32> {
    let g = graph(spec);
    let plan = Plan::lower(&g, &terminals(spec)).unwrap();
    check_topological(&plan);
    (0..plan.len() as u32)
        .map(|i| (plan.key(i).name().to_string(), i))
        .collect()
}

/// Every dependency has a smaller id than its dependents.
pub fn check_topological(plan: &Plan) {
    for i in 0..plan.len() as u32 {
        for d in plan.dependencies(i) {
            assert!(
                *d < i,
                "{} runs before its dependency {}",
                plan.key(i),
                plan.key(*d)
            );
        }
    }
}

/// The most results alive at once when running in plan order (a result lives from its task
/// until its last dependent; outputs are not counted).
pub fn peak_live(plan: &Plan) -> usize {
    let mut live = 0usize;
    let mut peak = 0usize;
    let mut left: Vec<usize> = (0..plan.len() as u32)
        .map(|i| plan.dependents(i).len())
        .collect();
    for i in 0..plan.len() as u32 {
        for d in plan.dependencies(i) {
            left[*d as usize] -= 1;
            if left[*d as usize] == 0 {
                live -= 1;
            }
        }
        if !plan.dependents(i).is_empty() {
            live += 1;
        }
        peak = peak.max(live);
    }
    peak
}

/// Runs a graph the simplest way: plan order, every result kept.
pub fn run(g: &Graph, keys: &[Key]) -> Result<Vec<Value>, rask_graph::ComputeError> {
    let plan = Plan::lower(g, keys)?;
    let mut results: Vec<Value> = Vec::with_capacity(plan.len());
    for id in 0..plan.len() as u32 {
        let args = plan
            .args(id)
            .iter()
            .map(|a| match a {
                rask_graph::PlanArg::Task(t) => results[*t as usize].clone(),
                rask_graph::PlanArg::Value(v) => v.clone(),
            })
            .collect();
        let v = plan
            .op(id)
            .run(args)
            .map_err(|cause| rask_graph::ComputeError::Task {
                key: plan.key(id).clone(),
                op: plan.op(id).name().to_string(),
                cause,
            })?;
        results.push(v);
    }
    Ok(plan
        .outputs()
        .iter()
        .map(|o| results[*o as usize].clone())
        .collect())
}

/// The i64 results of `keys`.
pub fn run_i64(g: &Graph, keys: &[Key]) -> Vec<i64> {
    run(g, keys)
        .unwrap()
        .iter()
        .map(|v| *v.get::<i64>().unwrap())
        .collect()
}
