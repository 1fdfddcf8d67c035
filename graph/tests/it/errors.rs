//! Bad input gets typed errors whose messages a user understands (pinned by snapshots).

use rask_graph::{
    Arg, Graph, GraphError, Key, Layer, Op, Plan, Task, TaskError, Value, delayed, registry,
};

use crate::common::graph;

#[test]
fn cycle_names_its_keys() {
    let g = graph(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"]), ("d", &["c"])]);
    let err = Plan::lower(&g, &[Key::new("d", [])]).unwrap_err();
    let GraphError::Cycle { keys } = &err else {
        panic!("{err}")
    };
    assert_eq!(keys.len(), 3);
    insta::assert_snapshot!(err.to_string(), @"the graph has a cycle (each key depends on the next): 'c' -> 'b' -> 'a' -> 'c'");
}

#[test]
fn self_cycle() {
    let g = graph(&[("a", &["a"])]);
    let err = Plan::lower(&g, &[Key::new("a", [])]).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"the graph has a cycle (each key depends on the next): 'a' -> 'a'");
}

#[test]
fn missing_dependency() {
    let g = graph(&[("b", &["a"])]);
    let err = Plan::lower(&g, &[Key::new("b", [])]).unwrap_err();
    assert!(matches!(err, GraphError::MissingDependency { .. }));
    insta::assert_snapshot!(err.to_string(), @"task 'b' depends on 'a', which is not in the graph");
    assert_eq!(g.cull(&[Key::new("b", [])]).unwrap_err(), err);
}

#[test]
fn missing_requested_key() {
    let g = graph(&[("a", &[])]);
    let err = Plan::lower(&g, &[Key::new("a", [3])]).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"key ('a', 3) is not in the graph");
    assert_eq!(g.cull(&[Key::new("a", [3])]).unwrap_err(), err);
}

#[test]
fn unregistered_closure_cannot_be_encoded() {
    let x = delayed::value(1i64).map("inc", |x| x + 1);
    let err = x.graph().to_bytes().unwrap_err();
    let GraphError::UnregisteredOp { key, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(key, x.key());
    let msg = err.to_string().replace(x.key().name(), "inc-<token>");
    insta::assert_snapshot!(msg, @"task 'inc-<token>' uses op `inc` (rask_graph::delayed::ClosureOp), which cannot be sent to another process: pass a function marked #[rask::named] instead of a closure, or register the op type with rask_graph::register_op!");
}

#[derive(Debug)]
struct Opaque;
impl rask_graph::Datum for Opaque {}

#[test]
fn unregistered_literal_cannot_be_encoded() {
    let mut l = Layer::new("x");
    l.insert([], Task::literal(Value::new(Opaque)));
    let mut g = Graph::new();
    g.add_layer(l);
    insta::assert_snapshot!(g.to_bytes().unwrap_err().to_string(), @"task 'x' holds a literal of type it::errors::Opaque, which is not registered for serialization; register it with rask_graph::register_value!");
}

#[test]
fn unknown_names_on_decode() {
    insta::assert_snapshot!(registry::decode_op("nope.op", &[]).unwrap_err().to_string(), @"cannot decode op `nope.op`: no op of that name is registered in this binary");
    insta::assert_snapshot!(registry::decode_value("nope.value", &[]).unwrap_err().to_string(), @"cannot decode value of type `nope.value`: no value type of that name is registered in this binary");
    insta::assert_snapshot!(Graph::from_bytes(&[1, 2, 3]).unwrap_err().to_string(), @"corrupt graph bytes: Hit the end of buffer, expected more data");
}

#[test]
fn wrong_argument_type() {
    let op = rask_graph::ops::AddConst(1);
    let err = op
        .run([Value::new(1.0f64)].into_iter().collect())
        .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"expected i64, found f64");
    let _: &dyn std::error::Error = &TaskError::new("x");
    let _ = Arg::Value(Value::new(()));
}
