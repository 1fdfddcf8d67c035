//! Delayed: lazy function calls over values and closures, the Rust-shaped `dask.delayed`.
//!
//! ```
//! use rask_graph::delayed;
//!
//! let x = delayed::value(1i64);
//! let y = delayed::value(2i64);
//! let inc = x.map("inc", |x| x + 1);
//! let total = inc.zip_with(&y, "add", |a, b| a + b);
//! let many = delayed::join("sum", &[total.clone(), inc], |xs| xs.iter().copied().sum::<i64>());
//! assert_eq!(many.graph().len(), 5);
//! assert!(many.key().name().starts_with("sum-"));
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::tokenize::{Tokenizer, key_name, unique_token};
use crate::{
    Arg, Args, Collection, ComputeError, Datum, Graph, Key, Layer, Op, Task, TaskError, Value,
};

type BoxedFn = dyn Fn(Args) -> Result<Value, TaskError> + Send + Sync;

/// An op made from a closure: it runs on the in-process schedulers; it cannot be serialized.
#[derive(Clone)]
pub struct ClosureOp {
    name: Arc<str>,
    f: Arc<BoxedFn>,
}

impl ClosureOp {
    /// An op named `name` that runs `f`.
    pub fn new(
        name: &str,
        f: impl Fn(Args) -> Result<Value, TaskError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            f: Arc::new(f),
        }
    }
}

impl fmt::Debug for ClosureOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClosureOp({})", self.name)
    }
}

impl Op for ClosureOp {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        (self.f)(args)
    }
}

/// A lazy value of type `T`: a key in a graph. Cheap to clone.
#[must_use = "delayed values are lazy: nothing runs until one is computed"]
pub struct Delayed<T> {
    graph: Graph,
    key: Key,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Delayed<T> {
    fn clone(&self) -> Self {
        Self {
            graph: self.graph.clone(),
            key: self.key.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Delayed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Delayed({})", self.key)
    }
}

impl<T> fmt::Display for Delayed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Delayed({})", self.key)
    }
}

/// A ready value as a delayed one. Registered value types get a deterministic key.
pub fn value<T: Datum>(v: T) -> Delayed<T> {
    let v = Value::new(v);
    let token = Tokenizer::new().write_value(&v).finish();
    Delayed::from_task(&key_name("value", &token), Task::literal(v), &[])
}

/// Calls `f` on the values of all `items` at once.
pub fn join<T: Datum, R: Datum>(
    name: &str,
    items: &[Delayed<T>],
    f: impl Fn(&[&T]) -> R + Send + Sync + 'static,
) -> Delayed<R> {
    let op = ClosureOp::new(name, move |args| {
        let refs = args
            .iter()
            .map(|a| a.get::<T>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::new(f(&refs)))
    });
    let graphs: Vec<&Graph> = items.iter().map(|d| &d.graph).collect();
    let args = items.iter().map(|d| Arg::Key(d.key.clone()));
    Delayed::from_closure(name, op, args, &graphs)
}

impl<T> Delayed<T> {
    /// A delayed value from a task; `name` is its full key name. The graphs of its
    /// dependencies are merged in.
    pub fn from_task(name: &str, task: Task, graphs: &[&Graph]) -> Self {
        let mut graph = Graph::merged(graphs.iter().copied());
        let mut layer = Layer::new(name);
        let key = layer.key([]);
        layer.insert([], task);
        graph.add_layer(layer);
        Self {
            graph,
            key,
            _t: PhantomData,
        }
    }

    /// A delayed call of a (registered) op on arguments, with a deterministic key: the same op
    /// on the same arguments gives the same key.
    pub fn from_op(op: impl Op, args: Vec<Arg>, graphs: &[&Graph]) -> Self {
        let token = Tokenizer::new().write_op(&op).write_args(&args).finish();
        let name = key_name(op.name(), &token);
        Self::from_task(&name, Task::new(op, args), graphs)
    }

    /// A call of `f` on `args`, if `f` is a [named](crate::named) function that takes and
    /// returns values: a task that names it (and so crosses process boundaries), with a
    /// deterministic key.
    fn from_named<F: 'static>(
        prefix: &str,
        f: &F,
        args: Vec<Arg>,
        graphs: &[&Graph],
    ) -> Option<Self> {
        let call = crate::named::NamedCall::new(crate::named::of(f)?).ok()?;
        let token = Tokenizer::new()
            .write_str(call.function().path)
            .write_args(&args)
            .finish();
        Some(Self::from_task(
            &key_name(prefix, &token),
            Task::new(call, args),
            graphs,
        ))
    }

    fn from_closure(
        prefix: &str,
        op: ClosureOp,
        args: impl IntoIterator<Item = Arg>,
        graphs: &[&Graph],
    ) -> Self {
        Self::from_task(
            &key_name(prefix, &unique_token()),
            Task::new(op, args),
            graphs,
        )
    }

    /// The value of `key`, which `graph` computes, as a delayed value: how a collection hands
    /// out its partitions (`to_delayed`). `T` must be the type of the key's value (computing
    /// it as another type is an error naming both).
    ///
    /// ```
    /// use rask_graph::delayed::{self, Delayed};
    /// let x = delayed::value(2i64);
    /// let again: Delayed<i64> = Delayed::from_key(x.graph().clone(), x.key().clone());
    /// assert_eq!(again.key(), x.key());
    /// ```
    pub fn from_key(graph: Graph, key: Key) -> Self {
        Self {
            graph,
            key,
            _t: PhantomData,
        }
    }

    /// The key of this value.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The graph that computes it.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

impl<T: Datum> Delayed<T> {
    /// Applies `f` lazily; `name` prefixes the key and labels the task in pictures. A
    /// [named](crate::named) function runs on worker processes too; a closure only in this one.
    pub fn map<R: Datum, F: Fn(&T) -> R + Send + Sync + 'static>(
        &self,
        name: &str,
        f: F,
    ) -> Delayed<R> {
        let args = vec![Arg::Key(self.key.clone())];
        if let Some(d) = Delayed::from_named(name, &f, args, &[&self.graph]) {
            return d;
        }
        self.try_map(name, move |t| Ok::<R, TaskError>(f(t)))
    }

    /// Applies a fallible `f` lazily: its error fails the computation, naming this task.
    pub fn try_map<R: Datum, E: fmt::Display, F>(&self, name: &str, f: F) -> Delayed<R>
    where
        F: Fn(&T) -> Result<R, E> + Send + Sync + 'static,
    {
        let args = vec![Arg::Key(self.key.clone())];
        if let Some(d) = Delayed::from_named(name, &f, args, &[&self.graph]) {
            return d;
        }
        let op = ClosureOp::new(name, move |args| {
            f(args[0].get::<T>()?)
                .map(Value::new)
                .map_err(|e| TaskError::new(e.to_string()))
        });
        Delayed::from_closure(name, op, [Arg::Key(self.key.clone())], &[&self.graph])
    }

    /// Combines with another delayed value lazily.
    pub fn zip_with<U: Datum, R: Datum, F: Fn(&T, &U) -> R + Send + Sync + 'static>(
        &self,
        other: &Delayed<U>,
        name: &str,
        f: F,
    ) -> Delayed<R> {
        let args = vec![Arg::Key(self.key.clone()), Arg::Key(other.key.clone())];
        if let Some(d) = Delayed::from_named(name, &f, args, &[&self.graph, &other.graph]) {
            return d;
        }
        let op = ClosureOp::new(name, move |args| {
            Ok(Value::new(f(args[0].get::<T>()?, args[1].get::<U>()?)))
        });
        Delayed::from_closure(
            name,
            op,
            [Arg::Key(self.key.clone()), Arg::Key(other.key.clone())],
            &[&self.graph, &other.graph],
        )
    }
}

impl<T: Datum + Clone> Collection for Delayed<T> {
    type Output = T;

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn output_keys(&self) -> Vec<Key> {
        vec![self.key.clone()]
    }

    fn finalize(&self, values: Vec<Value>) -> Result<T, ComputeError> {
        let v = values.into_iter().next().ok_or(ComputeError::ResultCount {
            expected: 1,
            found: 0,
        })?;
        let found = v.type_name();
        v.into_owned::<T>().map_err(|_| ComputeError::ResultType {
            key: self.key.clone(),
            expected: std::any::type_name::<T>(),
            found,
        })
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Self {
            graph,
            key: self.key.clone(),
            _t: PhantomData,
        }
    }
}
