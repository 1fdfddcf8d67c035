//! The scheduler author's kit: the guarded run checks arity and names what failed.

use rask_graph::exec::{self, OpFailure};
use rask_graph::{Args, Arity, ComputeError, Key, Op, TaskError, Value};

/// Indexes its arguments without looking: a wrong arity would panic on `args[1]`.
#[derive(Debug)]
struct Pair;

impl Op for Pair {
    fn name(&self) -> &str {
        "pair"
    }
    fn run(&self, args: Args) -> Result<Value, TaskError> {
        Ok(Value::new(*args[0].get::<i64>()? + *args[1].get::<i64>()?))
    }
    fn arity(&self) -> Arity {
        Arity::Exact(2)
    }
}

#[derive(Debug)]
struct Boom;

impl Op for Boom {
    fn name(&self) -> &str {
        "boom"
    }
    fn run(&self, _: Args) -> Result<Value, TaskError> {
        panic!("boom at {}", 42)
    }
}

fn args(n: i64) -> Args {
    (0..n).map(Value::new).collect()
}

#[test]
fn wrong_arity_is_an_error_not_a_panic() {
    let key = Key::new("pair", [1]);
    let err = exec::run_op(&key, &Pair, args(1)).unwrap_err();
    assert!(matches!(&err, ComputeError::Task { .. }));
    insta::assert_snapshot!(err.to_string(), @"task ('pair', 1) (op `pair`) failed: op `pair` takes 2 arguments, got 1");
    assert_eq!(
        *exec::run_op(&key, &Pair, args(2))
            .unwrap()
            .get::<i64>()
            .unwrap(),
        1
    );
    let err = exec::run_guarded(&Pair, args(3)).unwrap_err();
    assert_eq!(
        err,
        OpFailure::Error(TaskError::new("op `pair` takes 2 arguments, got 3"))
    );
}

#[test]
fn a_panic_is_caught_and_named() {
    let err = exec::run_op(&Key::new("b", []), &Boom, args(0)).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"task 'b' (op `boom`) panicked: boom at 42");
    assert_eq!(err.key(), Some(&Key::new("b", [])));
}

#[test]
fn at_least_arity() {
    assert!(Arity::AtLeast(2).accepts(5));
    assert!(!Arity::AtLeast(2).accepts(1));
    insta::assert_snapshot!(Arity::AtLeast(1).to_string(), @"at least 1 argument");
    insta::assert_snapshot!(Arity::Any.to_string(), @"any number of arguments");
}
