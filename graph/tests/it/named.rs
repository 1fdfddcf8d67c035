//! Named functions: registered by path, recognised where a closure could be, sent as names.

use rask_graph::named::{self, NamedCall};
use rask_graph::{Collection, Graph, GraphError, Op, TaskError, Value, delayed, exec, registry};
use rask_macros::named;

#[named(crate = rask_graph)]
fn inc(x: &i64) -> i64 {
    x + 1
}

#[named(crate = rask_graph)]
fn add(a: &i64, b: &i64) -> i64 {
    a + b
}

#[named(crate = rask_graph)]
fn checked_half(x: &i64) -> Result<i64, String> {
    if x % 2 == 0 {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

#[named(crate = rask_graph)]
fn owned_len(v: Vec<f64>) -> u64 {
    v.len() as u64
}

/// Not a value type: no task can hold it.
#[derive(Debug)]
pub struct Opaque(i32);

#[named(crate = rask_graph)]
fn opaque(o: &Opaque) -> i64 {
    o.0 as i64
}

#[derive(Debug)]
struct Inline;

impl rask_graph::Scheduler for Inline {
    fn get(
        &self,
        g: &Graph,
        k: &[rask_graph::Key],
        c: &[&dyn rask_graph::Callback],
    ) -> Result<Vec<Value>, rask_graph::ComputeError> {
        exec::run_in_order(g, k, c)
    }
}

/// Through bytes and back, as a worker would receive it.
fn wire(g: &Graph) -> Result<Graph, GraphError> {
    Graph::from_bytes(&g.to_bytes()?)
}

#[test]
fn registered_by_path() {
    let f = named::by_path("it::named::inc").expect("inc is registered under its path");
    assert_eq!(f.name(), "inc");
    assert_eq!(f.arity, 1);
    assert!(std::ptr::eq(named::of(&inc).unwrap(), f));
    // A closure is not named.
    assert!(named::of(&|x: &i64| x + 1).is_none());
    // Its canonical pointer, checked by type.
    let p: fn(&i64) -> Result<i64, TaskError> = f.pointer().unwrap();
    assert_eq!(p(&41).unwrap(), 42);
    assert!(f.pointer::<fn(&i64) -> Result<f64, TaskError>>().is_none());
    let half: fn(&i64) -> Result<i64, TaskError> =
        named::of(&checked_half).unwrap().pointer().unwrap();
    assert_eq!(half(&3).unwrap_err().to_string(), "3 is odd");
}

#[test]
fn delayed_calls_cross_the_wire() {
    let x = delayed::value(20i64);
    let y = x.map("inc", inc);
    let z = y.zip_with(&y, "add", add);
    let h = z.try_map("half", checked_half);
    // Every task is data now: the graph survives bytes and computes the same.
    let back = wire(h.graph()).unwrap();
    assert_eq!(h.rebuild(back).compute_with(&Inline).unwrap(), 21);
    assert_eq!(h.compute_with(&Inline).unwrap(), 21);
    // The same call twice is the same key.
    assert_eq!(x.map("inc", inc).key(), y.key());
    // A closure is still refused by the encoder, naming its task.
    let c = x.map("inc", |x| x + 1);
    assert!(matches!(
        c.graph().to_bytes(),
        Err(GraphError::UnregisteredOp { .. })
    ));
}

#[test]
fn errors_name_the_function() {
    let h = delayed::value(3i64).try_map("half", checked_half);
    let err = h.compute_with(&Inline).unwrap_err();
    insta::assert_snapshot!(
        err.to_string().replace(&h.key().to_string(), "KEY"),
        @"task KEY (op `checked_half`) failed: 3 is odd"
    );
}

#[test]
fn owned_arguments_are_cloned() {
    let v = delayed::value(vec![1.0f64, 2.0, 3.0]);
    let n = v.map("len", |v: &Vec<f64>| v.len() as u64);
    assert_eq!(n.compute_with(&Inline).unwrap(), 3);
    let call = NamedCall::new(named::of(&owned_len).unwrap()).unwrap();
    let out = call
        .run([Value::new(vec![1.0f64; 4])].into_iter().collect())
        .unwrap();
    assert_eq!(*out.get::<u64>().unwrap(), 4);
}

#[test]
fn functions_of_other_types_are_not_value_calls() {
    let f = named::of(&opaque).unwrap();
    assert!(!(f.values_ok)());
    insta::assert_snapshot!(NamedCall::new(f).unwrap_err().to_string(), @"function `it::named::opaque` (fn(&'_ it::named::Opaque) -> core::result::Result<i64, rask_graph::error::TaskError>) takes or returns something a task value cannot hold");
    assert_eq!(opaque(&Opaque(2)), 2);
}

#[test]
fn unknown_names_are_errors_on_decode() {
    insta::assert_snapshot!(named::resolve("nope::f").unwrap_err().to_string(), @"no function `nope::f` is registered in this binary (is it marked #[named], and does this worker link the crate that defines it?)");
    let bytes = postcard::to_stdvec(&"nope::f").unwrap();
    let err = registry::decode_op("rask.named-call", &bytes).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"corrupt graph bytes: op `rask.named-call`: no function `nope::f` is registered in this binary (is it marked #[named], and does this worker link the crate that defines it?)");
    // The wrong number of arguments is an error, not a panic.
    let call = NamedCall::new(named::of(&add).unwrap()).unwrap();
    let err = exec::run_op(
        &rask_graph::Key::new("a", []),
        &call,
        [Value::new(1i64)].into_iter().collect(),
    )
    .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"task 'a' (op `add`) failed: op `add` takes 2 arguments, got 1");
}

fn twin_a() -> Option<&'static named::NamedFn> {
    #[named(crate = rask_graph)]
    fn twin(x: &i64) -> i64 {
        x + 1
    }
    named::of(&twin)
}

fn twin_b() -> Option<&'static named::NamedFn> {
    #[named(crate = rask_graph)]
    fn twin(x: &i64) -> i64 {
        x + 2
    }
    named::of(&twin)
}

#[test]
fn one_path_for_two_functions_is_refused() {
    // Both are registered as `it::named::twin`: a worker could not tell them apart, so no
    // task names either (they stay closures here), and decoding the path says why.
    assert!(twin_a().is_none() && twin_b().is_none());
    insta::assert_snapshot!(named::resolve("it::named::twin").unwrap_err().to_string(), @"`it::named::twin` names two #[named] functions (of one name in one module, inside other functions?): give them different names");
}

#[test]
fn resolving_a_pointer_of_another_signature_says_what_was_expected() {
    type Wrong = fn(&f64) -> Result<f64, TaskError>;
    let err = named::resolve_pointer::<Wrong, serde::de::value::Error>("it::named::inc", || {
        "a function of f64".into()
    })
    .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"function `it::named::inc` is fn(&'_ i64) -> core::result::Result<i64, rask_graph::error::TaskError>, not a function of f64");
    let (f, p) = named::resolve_pointer::<
        fn(&i64) -> Result<i64, TaskError>,
        serde::de::value::Error,
    >("it::named::inc", || unreachable!())
    .unwrap();
    assert_eq!((f.name(), p(&1).unwrap()), ("inc", 2));
}
