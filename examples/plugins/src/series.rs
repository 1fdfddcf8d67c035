//! A collection of one's own: a 1-d series in `Vec<T>` partitions.

use std::marker::PhantomData;
use std::sync::Arc;

use rask::graph::delayed::ClosureOp;
use rask::graph::layers::{TreeLevel, reduction_tree};
use rask::graph::named::{self, NamedFn};
use rask::graph::tokenize::{Tokenizer, key_name};
use rask::graph::{Arg, Args, Arity, Datum, Graph, Key, Layer, Op, Task, TaskError, Value};
use rask::{Collection, ComputeError};

/// What a [`Series`] may hold: a value type whose `Vec` is one too (`i64` and `f64` here),
/// and that sums.
pub trait SeriesItem: Datum + Clone + Copy + serde::Serialize + std::fmt::Debug {
    /// The sum of a partition.
    fn total(items: &[Self]) -> Self;
}

impl SeriesItem for i64 {
    fn total(items: &[i64]) -> i64 {
        items.iter().sum()
    }
}

impl SeriesItem for f64 {
    fn total(items: &[f64]) -> f64 {
        items.iter().sum()
    }
}

/// A lazy 1-d series of `T` in partitions (each a `Vec<T>`), computed to a `Vec<T>`.
#[derive(Debug, Clone)]
#[must_use = "a series is lazy: compute it"]
pub struct Series<T> {
    graph: Graph,
    name: Arc<str>,
    npartitions: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T: SeriesItem> Series<T>
where
    Vec<T>: Datum,
{
    /// `data` in `npartitions` near-equal partitions (at least one, at most one per item).
    /// Equal data gives equal keys.
    pub fn from_vec(label: &str, data: Vec<T>, npartitions: usize) -> Self {
        let n = npartitions.clamp(1, data.len().max(1));
        let token = Tokenizer::new()
            .write_str(label)
            .write(&data)
            .write(&n)
            .finish();
        let (base, extra) = (data.len() / n, data.len() % n);
        let mut rest = data.as_slice();
        let layer = Layer::per_partition(key_name(label, &token), n, |i| {
            let len = base + usize::from((i as usize) < extra);
            let (part, tail) = rest.split_at(len);
            rest = tail;
            Task::literal(Value::new(part.to_vec()))
        });
        let mut graph = Graph::new();
        let name = Arc::clone(layer.name());
        graph.add_layer(layer);
        Series {
            graph,
            name,
            npartitions: n,
            _t: PhantomData,
        }
    }

    /// How many partitions.
    pub fn npartitions(&self) -> usize {
        self.npartitions
    }

    fn key(&self, i: u32) -> Key {
        Key::with_name(&self.name, [i])
    }

    /// `f` applied to every item. A function marked `#[rask::named]` runs on worker processes
    /// too (the task names it); a closure only in this process.
    pub fn map<U: SeriesItem, F>(&self, label: &str, f: F) -> Series<U>
    where
        F: Fn(&T) -> U + Send + Sync + 'static,
        Vec<U>: Datum,
        MapPartition<T, U>: Op,
    {
        let named = named::pointer_of::<ItemFn<T, U>, _>(&f);
        let op: Arc<dyn Op> = match named {
            Some((function, f)) => Arc::new(MapPartition { function, f }),
            None => Arc::new(ClosureOp::new(label, move |args: Args| {
                let part = args[0].get::<Vec<T>>()?;
                Ok(Value::new(part.iter().map(&f).collect::<Vec<U>>()))
            })),
        };
        let token = match named {
            Some((function, _)) => Tokenizer::new()
                .write_str(&self.name)
                .write_str(function.path)
                .finish(),
            None => rask::graph::tokenize::unique_token(),
        };
        let layer = Layer::per_partition(key_name(label, &token), self.npartitions, |i| {
            Task::from_arc(Arc::clone(&op), [Arg::Key(self.key(i))])
        });
        let mut graph = self.graph.clone();
        let name = Arc::clone(layer.name());
        graph.add_layer(layer);
        Series {
            graph,
            name,
            npartitions: self.npartitions,
            _t: PhantomData,
        }
    }

    /// The sum of every item: each partition's sum, then a tree adding four at a time
    /// (the collection kit's `reduction_tree`).
    pub fn sum(&self) -> Total<T>
    where
        PartitionSum<T>: Op,
    {
        let token = Tokenizer::new()
            .write_str(&self.name)
            .write_str("sum")
            .finish();
        let mut graph = self.graph.clone();
        let partial = Layer::per_partition(key_name("sum-chunk", &token), self.npartitions, |i| {
            Task::new(PartitionSum::<T>(PhantomData), [Arg::Key(self.key(i))])
        });
        let first = Arc::clone(partial.name());
        graph.add_layer(partial);
        let last = reduction_tree(
            &mut graph,
            first,
            &[self.npartitions],
            &[0],
            4,
            false,
            |l| {
                let label = if l.last {
                    "sum-aggregate"
                } else {
                    "sum-combine"
                };
                TreeLevel::new(
                    key_name(label, &format!("{token}-{}", l.depth)),
                    |_, inputs| Task::new(rask::graph::ops::Sum, inputs),
                )
            },
        );
        Total {
            graph,
            key: Key::with_name(&last, []),
            _t: PhantomData,
        }
    }
}

impl<T: SeriesItem> Collection for Series<T>
where
    Vec<T>: Datum,
{
    type Output = Vec<T>;

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn output_keys(&self) -> Vec<Key> {
        (0..self.npartitions as u32).map(|i| self.key(i)).collect()
    }

    fn finalize(&self, values: Vec<Value>) -> Result<Vec<T>, ComputeError> {
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let part = v.get::<Vec<T>>().map_err(|_| ComputeError::ResultType {
                key: self.key(i as u32),
                expected: std::any::type_name::<Vec<T>>(),
                found: v.type_name(),
            })?;
            out.extend_from_slice(part);
        }
        Ok(out)
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Series {
            graph,
            ..self.clone()
        }
    }
}

/// A series' sum, computed to a `T`.
#[derive(Debug, Clone)]
#[must_use = "a total is lazy: compute it"]
pub struct Total<T> {
    graph: Graph,
    key: Key,
    _t: PhantomData<fn() -> T>,
}

impl<T: SeriesItem> Collection for Total<T> {
    type Output = T;

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn output_keys(&self) -> Vec<Key> {
        vec![self.key.clone()]
    }

    fn finalize(&self, values: Vec<Value>) -> Result<T, ComputeError> {
        let v = values.first().ok_or(ComputeError::ResultCount {
            expected: 1,
            found: 0,
        })?;
        v.get::<T>().copied().map_err(|_| ComputeError::ResultType {
            key: self.key.clone(),
            expected: std::any::type_name::<T>(),
            found: v.type_name(),
        })
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Total {
            graph,
            ..self.clone()
        }
    }
}

/// A named item function as its canonical pointer.
type ItemFn<T, U> = fn(&T) -> Result<U, TaskError>;

/// A named function applied to every item of a partition; serializable as its path.
pub struct MapPartition<T, U> {
    function: &'static NamedFn,
    f: ItemFn<T, U>,
}

impl<T, U> std::fmt::Debug for MapPartition<T, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MapPartition({})", self.function.path)
    }
}

impl<T: SeriesItem, U: SeriesItem> Op for MapPartition<T, U>
where
    Vec<T>: Datum,
    Vec<U>: Datum,
{
    fn name(&self) -> &str {
        self.function.name()
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let part = args[0].get::<Vec<T>>()?;
        let out = part.iter().map(self.f).collect::<Result<Vec<U>, _>>()?;
        Ok(Value::new(out))
    }

    fn arity(&self) -> Arity {
        Arity::Exact(1)
    }
}

impl<T, U> serde::Serialize for MapPartition<T, U> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.function.path)
    }
}

impl<'de, T: 'static, U: 'static> serde::Deserialize<'de> for MapPartition<T, U> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let path = String::deserialize(d)?;
        let (function, f) =
            named::resolve_pointer::<ItemFn<T, U>, D::Error>(&path, || "an item function".into())?;
        Ok(MapPartition { function, f })
    }
}

/// A partition's sum.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PartitionSum<T>(PhantomData<fn() -> T>);

impl<T: SeriesItem> Op for PartitionSum<T>
where
    Vec<T>: Datum,
{
    fn name(&self) -> &str {
        "sum-chunk"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        Ok(Value::new(T::total(args[0].get::<Vec<T>>()?)))
    }

    fn arity(&self) -> Arity {
        Arity::Exact(1)
    }
}

// Registered by stable names, so series tasks cross process boundaries.
rask::graph::register_op!(MapPartition<i64, i64>, "rask-plugins.map.i64.i64");
rask::graph::register_op!(MapPartition<f64, f64>, "rask-plugins.map.f64.f64");
rask::graph::register_op!(MapPartition<i64, f64>, "rask-plugins.map.i64.f64");
rask::graph::register_op!(PartitionSum<i64>, "rask-plugins.sum.i64");
rask::graph::register_op!(PartitionSum<f64>, "rask-plugins.sum.f64");
