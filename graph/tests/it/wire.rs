//! The graph is data: round trips through bytes, and the decoder never panics.

use proptest::prelude::*;
use rask_graph::{Arg, Graph, Key, Layer, Task, Value, ops::AddConst};

use crate::common::{graph, run_i64};

#[test]
fn round_trip_computes_the_same() {
    let g = graph(&[
        ("a", &[]),
        ("b", &["a"]),
        ("c", &["a", "b"]),
        ("d", &["c", "c", "a"]),
    ]);
    let bytes = g.to_bytes().unwrap();
    let back = Graph::from_bytes(&bytes).unwrap();
    assert_eq!(back.len(), g.len());
    let keys = [Key::new("d", [])];
    assert_eq!(run_i64(&back, &keys), run_i64(&g, &keys));
    // Re-encoding gives the same bytes.
    assert_eq!(back.to_bytes().unwrap(), bytes);
}

#[test]
fn literals_of_every_builtin_type_round_trip() {
    let values = [
        Value::new(1.5f64),
        Value::new(-3i64),
        Value::new(7u64),
        Value::new(true),
        Value::new("text".to_string()),
        Value::new(vec![1.0f64, 2.0]),
        Value::new(vec!["a".to_string()]),
    ];
    let mut l = Layer::new("lits");
    for (i, v) in values.iter().enumerate() {
        l.insert([i as u32], Task::literal(v.clone()));
    }
    let mut g = Graph::new();
    g.add_layer(l);
    let back = Graph::from_bytes(&g.to_bytes().unwrap()).unwrap();
    for (i, v) in values.iter().enumerate() {
        let t = back.get(&Key::new("lits", [i as u32])).unwrap();
        let Arg::Value(w) = &t.args()[0] else {
            panic!("literal expected")
        };
        assert_eq!(format!("{v:?}"), format!("{w:?}"));
        assert_eq!(v.type_name(), w.type_name());
    }
}

#[test]
fn no_duplicate_registrations() {
    assert!(rask_graph::registry::duplicate_names().is_empty());
    assert!(rask_graph::registry::op_names().contains(&"rask.fused"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Graph::from_bytes(&bytes);
    }

    #[test]
    fn decoding_corrupted_graphs_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut l = Layer::new("x");
        for i in 0..4u32 {
            l.insert([i], Task::new(AddConst(i as i64), [Arg::Value(Value::new(i as i64))]));
        }
        let mut g = Graph::new();
        g.add_layer(l);
        let g = g.fuse_linear(&[]);
        let mut bytes = g.to_bytes().unwrap();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= b;
        }
        let end = cut.index(bytes.len() + 1);
        let _ = Graph::from_bytes(&bytes[..end]);
    }
}

#[test]
fn huge_length_prefixes_are_refused_without_reserving() {
    // version 1, one layer named "x", one task whose index claims 2^32 - 1 dimensions.
    let mut bytes = vec![1u8, 1, 1, b'x', 1];
    bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
    bytes.extend([0u8; 64]);
    let err = Graph::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(err, rask_graph::GraphError::Corrupt { .. }),
        "{err}"
    );
}

#[test]
fn an_op_shared_by_a_layer_is_encoded_once() {
    // One op, shared by every task of its layer.
    let op: std::sync::Arc<dyn rask_graph::Op> = std::sync::Arc::new(AddConst(7));
    let mut g = Graph::new();
    g.add_layer(rask_graph::Layer::per_partition("x", 1000, |i| {
        Task::from_arc(
            std::sync::Arc::clone(&op),
            [Arg::Value(Value::new(i as i64))],
        )
    }));
    let bytes = g.to_bytes().unwrap();
    // Each task costs its index, an op number and a literal: far less than an op name each.
    assert!(
        bytes.len() < 1000 * "rask.add-const".len(),
        "{} bytes",
        bytes.len()
    );
    let back = Graph::from_bytes(&bytes).unwrap();
    let a = back.get(&Key::new("x", [0])).unwrap().op_arc();
    let b = back.get(&Key::new("x", [999])).unwrap().op_arc();
    assert!(
        std::sync::Arc::ptr_eq(a, b),
        "decoded once, shared by the layer's tasks"
    );
}

/// A value whose serde attributes leave a field out: postcard writes it and cannot read it
/// back.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Sparse {
    a: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    b: Option<u32>,
}
impl rask_graph::Datum for Sparse {}
rask_graph::register_value!(Sparse, "rask-graph-tests.sparse");

#[test]
fn a_value_that_cannot_be_read_back_says_why() {
    let (name, bytes) = rask_graph::registry::encode_value(&Value::new(Sparse { a: 1, b: None }))
        .unwrap()
        .unwrap();
    let e = rask_graph::registry::decode_value(name, &bytes)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rask-graph-tests.sparse"), "{e}");
    assert!(e.contains("skip_serializing_if"), "{e}");
    // With the field there, it round-trips.
    let v = Value::new(Sparse { a: 1, b: Some(2) });
    let (name, bytes) = rask_graph::registry::encode_value(&v).unwrap().unwrap();
    let back = rask_graph::registry::decode_value(name, &bytes).unwrap();
    assert_eq!(back.get::<Sparse>().unwrap().b, Some(2));
}
