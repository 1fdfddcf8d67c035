//! `Bag<T>`: the collection, its sources and its transformations.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use rask_graph::delayed::Delayed;
use rask_graph::files::Staging;
use rask_graph::layers::{TreeLevel, reduction_tree};
use rask_graph::tokenize::{Tokenizer, key_name};
use rask_graph::{Arg, Collection, ComputeError, Graph, Key, Layer, Scheduler, Task, Value};

use crate::error::BagError;
use crate::func::{Field, Func, Stage, StrOp};
use crate::item::{
    GroupVtables, HashVtables, Item, ItemVtables, KeyedVtables, NumVtables, Number, OrdVtables,
    PairVtables, Partition, Ty,
};
use crate::json::{JsonValue, Pluck};
use crate::ops::{Moments, Pipeline, Sink};
use crate::source::{BadLines, Compression, Lines, Source};

/// How a bag's partitions are made: a source per partition (with the task arguments it
/// reads) and the stages every item goes through. Transformations add stages; the graph
/// holds one task per partition for the whole chain.
#[derive(Debug, Clone)]
struct Chain {
    /// The graph of what the sources read.
    base: Graph,
    sources: Arc<[(Source, Vec<Arg>)]>,
    stages: Arc<[Stage]>,
    /// Names the chain so far (equal chains have equal tokens).
    token: String,
}

/// A lazy bag of items of type `T` in partitions: Dask's `dask.bag`.
///
/// ```
/// use rask_bag::Bag;
/// use rask_graph::Collection;
/// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
/// let b = Bag::from_sequence((1..=10u64).collect(), 3);
/// let evens = b.filter(|x| x % 2 == 0).map(|x| x * 10);
/// assert_eq!(evens.compute()?, [20, 40, 60, 80, 100]);
/// assert_eq!(evens.sum().compute()?, 300);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a bag is lazy: compute it"]
pub struct Bag<T> {
    chain: Chain,
    graph: Graph,
    name: Arc<str>,
    label: &'static str,
    /// How many partial results each level of a reduction tree combines.
    split_every: usize,
    /// A folder to remove if computing this bag fails (`to_textfiles`' temporary files).
    cleanup: Option<Arc<Staging>>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Bag<T> {
    fn clone(&self) -> Self {
        Bag {
            chain: self.chain.clone(),
            graph: self.graph.clone(),
            name: Arc::clone(&self.name),
            label: self.label,
            split_every: self.split_every,
            cleanup: self.cleanup.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Bag<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Dask's repr: `rask.bag<map, npartitions=4>`.
impl<T> fmt::Display for Bag<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rask.bag<{}, npartitions={}>",
            self.label,
            self.chain.sources.len()
        )
    }
}

fn token_of(parts: &[&str]) -> String {
    let mut t = Tokenizer::new();
    for p in parts {
        t.write_str(p);
    }
    t.finish()
}

impl<T> Bag<T> {
    /// How many partitions.
    pub fn npartitions(&self) -> usize {
        self.chain.sources.len()
    }
}

impl<T: Item> Bag<T> {
    fn from_chain(chain: Chain, label: &'static str) -> Self {
        let sink = Sink::Collect {
            item: Ty(&<T as ItemVtables>::FNS),
            limit: None,
        };
        let name: Arc<str> = key_name(label, &chain.token).into();
        let mut graph = chain.base.clone();
        graph.add_layer(layer(&chain, &name, label, |_| sink.clone(), &[]));
        Bag {
            chain,
            graph,
            name,
            label,
            split_every: SPLIT_EVERY,
            cleanup: None,
            _t: PhantomData,
        }
    }

    /// A bag over the partitions of layer `name` (already in `graph`), `n` of them.
    fn over(graph: Graph, name: &Arc<str>, n: usize, label: &'static str) -> Self {
        let t = Ty(&<T as ItemVtables>::FNS);
        let sources = (0..n as u32)
            .map(|i| {
                (
                    Source::Partitions(t),
                    vec![Arg::Key(Key::with_name(name, [i]))],
                )
            })
            .collect();
        Bag::from_chain(
            Chain {
                base: graph,
                sources,
                stages: Arc::from([]),
                token: token_of(&[name, "over"]),
            },
            label,
        )
    }

    /// `items` in `npartitions` near-equal partitions (at least one; none empty unless
    /// `items` is). Equal items give equal keys.
    ///
    /// ```
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let b = rask_bag::Bag::from_sequence(vec!["a".to_string(), "b".into(), "c".into()], 2);
    /// assert_eq!(b.npartitions(), 2);
    /// assert_eq!(b.compute()?, ["a", "b", "c"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_sequence(items: Vec<T>, npartitions: usize) -> Self {
        let n = npartitions.clamp(1, items.len().max(1));
        let token = Tokenizer::new()
            .write_str("from_sequence")
            .write(&items)
            .write(&n)
            .finish();
        let (base, extra) = (items.len() / n, items.len() % n);
        let sizes = (0..n).map(|i| base + usize::from(i < extra));
        Bag::from_parts(items, sizes, token)
    }

    /// `items` in partitions of `partition_size` items each (at least one item), the last
    /// holding what is left: Dask's `from_sequence(seq, partition_size=…)`. An empty `items`
    /// is one empty partition.
    ///
    /// ```
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let b = rask_bag::Bag::from_sequence_by_size((0..10i64).collect(), 4);
    /// assert_eq!(b.npartitions(), 3); // 4 + 4 + 2
    /// assert_eq!(b.compute()?, (0..10).collect::<Vec<_>>());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_sequence_by_size(items: Vec<T>, partition_size: usize) -> Self {
        let size = partition_size.max(1);
        let token = Tokenizer::new()
            .write_str("from_sequence_by_size")
            .write(&items)
            .write(&size)
            .finish();
        let n = items.len().div_ceil(size).max(1);
        // Each part takes up to `size` of what is left.
        Bag::from_parts(items, std::iter::repeat_n(size, n), token)
    }

    /// A bag whose partitions are `items` cut in turn into parts of `sizes` (a part takes at
    /// most what is left).
    fn from_parts(items: Vec<T>, sizes: impl Iterator<Item = usize>, token: String) -> Self {
        let mut rest = items.into_iter();
        let t = Ty(&<T as ItemVtables>::FNS);
        let sources = sizes
            .map(|size| {
                let part: Vec<T> = rest.by_ref().take(size).collect();
                (
                    Source::Partitions(t),
                    vec![Arg::Value(Value::new(Partition(part)))],
                )
            })
            .collect();
        Bag::from_chain(
            Chain {
                base: Graph::new(),
                sources,
                stages: Arc::from([]),
                token,
            },
            "from_sequence",
        )
    }

    /// The key of partition `i`.
    fn key(&self, i: usize) -> Key {
        Key::with_name(&self.name, [i as u32])
    }

    fn then<U: Item>(&self, stage: Stage, what: &str, label: &'static str) -> Bag<U> {
        let mut stages = self.chain.stages.to_vec();
        stages.push(stage);
        let chain = Chain {
            base: self.chain.base.clone(),
            sources: Arc::clone(&self.chain.sources),
            stages: stages.into(),
            token: token_of(&[&self.chain.token, label, what]),
        };
        Bag {
            split_every: self.split_every,
            ..Bag::from_chain(chain, label)
        }
    }

    fn with_func<U: Item>(&self, f: Func, stage: impl FnOnce(Func) -> Stage) -> Bag<U> {
        let what = f.token().to_owned();
        let label = f.label();
        self.then(stage(f), &what, label)
    }

    /// `f` applied to every item. A function marked `#[rask::named]` runs on worker
    /// processes too (the task names it); a closure only in this process.
    pub fn map<U: Item, F>(&self, f: F) -> Bag<U>
    where
        F: Fn(&T) -> U + Send + Sync + 'static,
    {
        self.with_func(Func::map(f), Stage::Map)
    }

    /// `f` applied to every item, where `f` may fail: an `Err` fails the partition's task
    /// with its message (and the task's key), as a panic would, but without one.
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// #[rask_macros::named(crate = rask_graph)]
    /// fn parse(s: &String) -> Result<i64, std::num::ParseIntError> {
    ///     s.parse()
    /// }
    /// let good = Bag::from_sequence(vec!["1".to_string(), "22".into()], 2);
    /// assert_eq!(good.try_map(parse).compute()?, [1, 22]);
    /// let bad = Bag::from_sequence(vec!["1".to_string(), "x".into()], 2);
    /// assert!(bad.try_map(parse).compute().unwrap_err().to_string().contains("invalid digit"));
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn try_map<U: Item, E: fmt::Display, F>(&self, f: F) -> Bag<U>
    where
        F: Fn(&T) -> Result<U, E> + Send + Sync + 'static,
    {
        self.with_func(Func::try_map(f), Stage::Map)
    }

    /// The items for which `f` is true.
    pub fn filter<F>(&self, f: F) -> Bag<T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        self.with_func(Func::map(f), |f| Stage::Filter { f, keep: true })
    }

    /// The items for which `f` is false (Dask's `remove`).
    pub fn remove<F>(&self, f: F) -> Bag<T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        self.with_func(Func::map(f), |f| Stage::Filter { f, keep: false })
    }

    /// Every element of `f(item)` for every item, in order.
    pub fn flat_map<U: Item, I, F>(&self, f: F) -> Bag<U>
    where
        F: Fn(&T) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = U> + 'static,
    {
        self.with_func(Func::flat(f), Stage::FlatMap)
    }

    /// `sink` on each partition, in tasks named `name`.
    fn partials_named(
        &self,
        sink: Sink,
        name: &str,
        label: &'static str,
        extra: &[Arg],
        more: &str,
    ) -> (Graph, Arc<str>) {
        let token = token_of(&[
            &self.chain.token,
            label,
            &format!("{sink:?}{extra:?}"),
            more,
        ]);
        let name: Arc<str> = key_name(name, &token).into();
        let mut graph = self.chain.base.clone();
        graph.add_layer(layer(&self.chain, &name, label, |_| sink.clone(), extra));
        (graph, name)
    }

    /// A reduction: `sink` on each partition (with `extra` arguments after its own), then
    /// tree levels `split_every` at a time, to one partition; `merge(depth)` gives a level's
    /// sink (on partitions of `merged` items) and an argument its tasks take after their
    /// inputs (an initial value).
    fn reduce(
        &self,
        sink: Sink,
        extra: &[Arg],
        merged: Ty<crate::item::ItemFns>,
        label: &'static str,
        keepdims: bool,
        merge: impl Fn(usize) -> (Sink, Option<Arg>),
    ) -> (Graph, Arc<str>) {
        // What the levels above do, and the extra arguments (initial values), name them too.
        let above = format!("{:?}{:?}{extra:?}", merge(0), merge(1));
        let (mut graph, partials) =
            self.partials_named(sink, &format!("{label}-part"), label, extra, &above);
        let token = format!("{partials}-{}", self.split_every);
        let last = reduction_tree(
            &mut graph,
            partials,
            &[self.npartitions()],
            &[0],
            self.split_every,
            keepdims,
            |l| {
                let (sink, arg) = merge(l.depth);
                let name = key_name(
                    &format!("{label}-{}", if l.last { "aggregate" } else { "combine" }),
                    &format!("{token}-{}", l.depth),
                );
                let op: Arc<dyn rask_graph::Op> = Arc::new(Pipeline {
                    source: Source::Partitions(merged),
                    stages: Arc::from([]),
                    sink,
                    label: label.into(),
                });
                TreeLevel::new(name, move |_, mut inputs| {
                    inputs.extend(arg.clone());
                    Task::from_arc(Arc::clone(&op), inputs)
                })
            },
        );
        (graph, last)
    }

    /// A reduction to one partition, as a bag.
    fn reduce_to_bag<U: Item>(&self, sink: Sink, merge: Sink, label: &'static str) -> Bag<U> {
        let merged = Ty(&<U as ItemVtables>::FNS);
        let (graph, last) = self.reduce(sink, &[], merged, label, true, |_| (merge.clone(), None));
        Bag::over(graph, &last, 1, label)
    }

    /// A reduction to one value, computed by `finish` from the last partition.
    fn reduce_to<R>(
        &self,
        sink: Sink,
        merge: Sink,
        merged: Ty<crate::item::ItemFns>,
        label: &'static str,
        finish: fn(Value) -> Result<R, rask_graph::TaskError>,
    ) -> Scalar<R> {
        let (graph, last) = self.reduce(sink, &[], merged, label, false, |_| (merge.clone(), None));
        Scalar {
            graph,
            key: Key::with_name(&last, []),
            finish,
            _r: PhantomData,
        }
    }

    /// How many items.
    pub fn count(&self) -> Scalar<u64> {
        self.reduce_to(
            Sink::Count,
            Sink::Sum(Ty(&<u64 as NumVtables>::NUM)),
            Ty(&<u64 as ItemVtables>::FNS),
            "count",
            only::<u64>,
        )
    }

    /// `binop` folded over each partition's items from `initial`, then the partitions'
    /// results folded with `combine` (from `combine_initial`, Dask's `fold`).
    pub fn fold<A: Item, B, C>(&self, initial: A, binop: B, combine: C) -> Scalar<A>
    where
        B: Fn(A, &T) -> A + Send + Sync + 'static,
        C: Fn(A, &A) -> A + Send + Sync + 'static,
    {
        let acc = Ty(&<A as ItemVtables>::FNS);
        let init = Arg::Value(Value::new(Partition(vec![initial])));
        let sink = Sink::Fold {
            acc,
            binop: Func::binop(binop),
            initial: true,
        };
        let merge = Sink::Fold {
            acc,
            binop: Func::binop(combine),
            initial: false,
        };
        let (graph, last) =
            self.reduce(sink, &[init], acc, "fold", false, |_| (merge.clone(), None));
        Scalar {
            graph,
            key: Key::with_name(&last, []),
            finish: only::<A>,
            _r: PhantomData,
        }
    }

    /// Items folded by key (Dask's `foldby`): in each partition, the items of each key
    /// `key(item)` folded with `binop` from `initial`; then the partitions' accumulators of
    /// each key folded with `combine` from `combine_initial`. A bag of `(key, value)` pairs
    /// in one partition, keys in first-seen order.
    pub fn foldby<K, A, KF, B, C>(
        &self,
        key: KF,
        binop: B,
        initial: A,
        combine: C,
        combine_initial: A,
    ) -> Bag<(K, A)>
    where
        K: Item + Hash + Eq,
        A: Item,
        KF: Fn(&T) -> K + Send + Sync + 'static,
        B: Fn(A, &T) -> A + Send + Sync + 'static,
        C: Fn(A, &A) -> A + Send + Sync + 'static,
    {
        let pair = Ty(&<(K, A) as KeyedVtables>::KEYED);
        let merged = Ty(&<(K, A) as ItemVtables>::FNS);
        let sink = Sink::FoldBy {
            pair,
            key: Func::map(key),
            binop: Func::binop(binop),
            initial: true,
        };
        let initial = Arg::Value(Value::new(Partition(vec![initial])));
        let combine = Func::binop(combine);
        let init = Arg::Value(Value::new(Partition(vec![combine_initial])));
        // Only the first level starts from `combine_initial`; later levels merge
        // accumulators that already include it.
        let (graph, last) = self.reduce(sink, &[initial], merged, "foldby", true, |depth| {
            let sink = Sink::MergeBy {
                pair,
                combine: combine.clone(),
                initial: depth == 0,
            };
            (sink, (depth == 0).then(|| init.clone()))
        });
        Bag::over(graph, &last, 1, "foldby")
    }

    /// The `k` items with the largest `key(item)`, largest first, in one partition (ties:
    /// first seen first; items whose key does not compare with itself, such as NaN, are
    /// passed over). Dask's `topk(k, key=...)`.
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// #[rask_macros::named(crate = rask_graph)]
    /// fn count(p: &(String, u64)) -> u64 {
    ///     p.1
    /// }
    /// let words = Bag::from_sequence(vec!["b".to_string(), "a".into(), "b".into()], 2);
    /// let top = words.frequencies().topk_by(1, count);
    /// assert_eq!(top.compute()?, vec![("b".to_string(), 2)]);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn topk_by<K: Item + PartialOrd, F>(&self, k: usize, key: F) -> Bag<T>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.top_by(k, key, true)
    }

    /// The `k` items with the smallest `key(item)`, smallest first.
    pub fn bottomk_by<K: Item + PartialOrd, F>(&self, k: usize, key: F) -> Bag<T>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.top_by(k, key, false)
    }

    fn top_by<K: Item + PartialOrd, F>(&self, k: usize, key: F, largest: bool) -> Bag<T>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let sink = Sink::TopKBy {
            item: Ty(&<T as ItemVtables>::FNS),
            key_ord: Ty(&<K as OrdVtables>::ORD),
            key: Func::map(key),
            k: k as u64,
            largest,
        };
        self.reduce_to_bag(sink.clone(), sink, "topk")
    }

    /// `f` applied to each whole partition (Dask's `map_partitions`): the elements of
    /// `f(&items)` make the new partition. The partition is collected first, so this is the
    /// place for work that needs all of it (sorting, batching); item by item, `map` and
    /// `flat_map` stream.
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// #[rask_macros::named(crate = rask_graph)]
    /// fn sorted(items: &Vec<i64>) -> Vec<i64> {
    ///     let mut v = items.clone();
    ///     v.sort();
    ///     v
    /// }
    /// let b = Bag::from_sequence(vec![3i64, 1, 2, 9, 7, 8], 2);
    /// assert_eq!(b.map_partitions(sorted).compute()?, [1, 2, 3, 7, 8, 9]);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn map_partitions<U: Item, I, F>(&self, f: F) -> Bag<U>
    where
        F: Fn(&Vec<T>) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = U> + 'static,
    {
        let f = Func::flat::<Vec<T>, I, F>(f);
        let label = f.label();
        let sink = Sink::Apply {
            input: Ty(&<T as ItemVtables>::FNS),
            f,
            output: Ty(&<U as ItemVtables>::FNS),
        };
        let (graph, name) = self.partials_named(sink, label, "map_partitions", &[], "");
        Bag::over(graph, &name, self.npartitions(), label)
    }

    /// A reduction of whole partitions (Dask's `reduction`): `perpartition(&items)` for each
    /// partition, then `aggregate(&results)` over groups of those results, in a tree, to one.
    /// `aggregate` must accept its own results (counts: `len` per partition, `sum` to
    /// aggregate).
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let b = Bag::from_sequence((1..=100u64).collect(), 7);
    /// let longest = b.reduction(|p| p.len() as u64, |counts| counts.iter().copied().max().unwrap_or(0));
    /// assert_eq!(longest.compute()?, 15);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn reduction<A: Item, P, G>(&self, perpartition: P, aggregate: G) -> Scalar<A>
    where
        P: Fn(&Vec<T>) -> A + Send + Sync + 'static,
        G: Fn(&Vec<A>) -> A + Send + Sync + 'static,
    {
        let acc = Ty(&<A as ItemVtables>::FNS);
        let sink = Sink::Apply {
            input: Ty(&<T as ItemVtables>::FNS),
            f: Func::map(perpartition),
            output: acc,
        };
        let merge = Sink::Apply {
            input: acc,
            f: Func::map(aggregate),
            output: acc,
        };
        self.reduce_to(sink, merge, acc, "reduction", only::<A>)
    }

    /// The same items in `n` partitions (at least one), in order (Dask's
    /// `repartition(npartitions=n)`): fewer partitions concatenate neighbours, more split each
    /// partition into near-equal parts.
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let b = Bag::from_sequence((0..10u64).collect(), 2);
    /// let more = b.repartition(5);
    /// assert_eq!(more.npartitions(), 5);
    /// assert_eq!(more.compute()?, (0..10).collect::<Vec<u64>>());
    /// assert_eq!(b.repartition(1).npartitions(), 1);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn repartition(&self, n: usize) -> Bag<T> {
        let n = n.max(1);
        let np = self.npartitions();
        let t = Ty(&<T as ItemVtables>::FNS);
        let sources: Arc<[(Source, Vec<Arg>)]> = if n <= np {
            // Output g concatenates inputs g·np/n up to (g+1)·np/n.
            (0..n)
                .map(|g| {
                    let inputs = (g * np / n..(g + 1) * np / n)
                        .map(|i| Arg::Key(self.key(i)))
                        .collect();
                    (Source::Partitions(t), inputs)
                })
                .collect()
        } else {
            // Input j splits into n/np parts, the first n % np inputs into one more.
            (0..np)
                .flat_map(|j| {
                    let of = n / np + usize::from(j < n % np);
                    (0..of).map(move |index| (j, index, of))
                })
                .map(|(j, index, of)| {
                    let source = Source::Part {
                        item: t,
                        index: index as u64,
                        of: of as u64,
                    };
                    (source, vec![Arg::Key(self.key(j))])
                })
                .collect()
        };
        Bag::from_chain(
            Chain {
                base: self.graph.clone(),
                sources,
                stages: Arc::from([]),
                token: token_of(&[&self.name, "repartition", &n.to_string()]),
            },
            "repartition",
        )
    }

    /// Pairs of this bag's items and `other`'s, element by element (Dask's `zip`). The bags
    /// must have as many partitions (an error otherwise), and partition for partition as many
    /// items (an error naming both lengths when computed).
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let names = Bag::from_sequence(vec!["a".to_string(), "b".into(), "c".into()], 2);
    /// let pairs = names.zip(&Bag::from_sequence(vec![1i64, 2, 3], 2))?;
    /// assert_eq!(pairs.compute()?, [("a".to_string(), 1), ("b".into(), 2), ("c".into(), 3)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn zip<U: Item>(&self, other: &Bag<U>) -> Result<Bag<(T, U)>, BagError> {
        let (left, right) = (self.npartitions(), other.npartitions());
        if left != right {
            return Err(BagError::Partitions { left, right });
        }
        Ok(self.pairs(other, true))
    }

    /// Every item of this bag with every item of `other` (Dask's `product`): a partition for
    /// each pair of partitions, `self`'s partition `i` with `other`'s `j` at `i·m + j`.
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let xs = Bag::from_sequence(vec![1i64, 2], 2);
    /// let pairs = xs.product(&Bag::from_sequence(vec![10i64, 20], 1));
    /// assert_eq!(pairs.npartitions(), 2);
    /// assert_eq!(pairs.compute()?, [(1, 10), (1, 20), (2, 10), (2, 20)]);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn product<U: Item>(&self, other: &Bag<U>) -> Bag<(T, U)> {
        self.pairs(other, false)
    }

    fn pairs<U: Item>(&self, other: &Bag<U>, zip: bool) -> Bag<(T, U)> {
        let pair = Ty(&<(T, U) as PairVtables>::PAIR);
        let source = Source::Pairs { pair, zip };
        let sources: Arc<[(Source, Vec<Arg>)]> = if zip {
            (0..self.npartitions())
                .map(|i| {
                    (
                        source.clone(),
                        vec![Arg::Key(self.key(i)), Arg::Key(other.key(i))],
                    )
                })
                .collect()
        } else {
            (0..self.npartitions())
                .flat_map(|i| (0..other.npartitions()).map(move |j| (i, j)))
                .map(|(i, j)| {
                    (
                        source.clone(),
                        vec![Arg::Key(self.key(i)), Arg::Key(other.key(j))],
                    )
                })
                .collect()
        };
        let what = if zip { "zip" } else { "product" };
        Bag::from_chain(
            Chain {
                base: Graph::merged([&self.graph, &other.graph]),
                sources,
                stages: Arc::from([]),
                token: token_of(&[&self.name, what, &other.name]),
            },
            what,
        )
    }

    /// Each partition as a delayed value (Dask's `to_delayed`), to compute with
    /// [`rask_graph::delayed`] functions or hand to another collection.
    ///
    /// ```
    /// use rask_bag::{Bag, Partition};
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let parts = Bag::from_sequence((1..=6u64).collect(), 3).to_delayed();
    /// assert_eq!(parts.len(), 3);
    /// assert_eq!(parts[1].compute()?, Partition(vec![3, 4]));
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn to_delayed(&self) -> Vec<Delayed<Partition<T>>> {
        (0..self.npartitions())
            .map(|i| Delayed::from_key(self.graph.clone(), self.key(i)))
            .collect()
    }

    /// Each partition as JSON lines, one text per partition (one line per item, each ending in
    /// a newline), as delayed values: what a reader of JSON lines takes, as
    /// `rask::dataframe`'s `to_dataframe` does. The pipeline writes each item as it comes; no
    /// partition of items is made.
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let b = Bag::from_sequence(vec![(String::from("a"), 1i64), ("b".into(), 2)], 2);
    /// let parts = b.to_json_lines();
    /// assert_eq!(parts[1].compute()?, "[\"b\",2]\n");
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn to_json_lines(&self) -> Vec<Delayed<String>> {
        let name: Arc<str> =
            key_name("json-lines", &token_of(&[&self.name, "to_json_lines"])).into();
        let mut graph = self.chain.base.clone();
        let t = Ty(&<T as ItemVtables>::FNS);
        graph.add_layer(layer(
            &self.chain,
            &name,
            "to_json_lines",
            |_| Sink::JsonLines(t),
            &[],
        ));
        (0..self.npartitions() as u32)
            .map(|i| Delayed::from_key(graph.clone(), Key::with_name(&name, [i])))
            .collect()
    }

    /// A bag whose partitions are delayed values (Dask's `from_delayed`): what a user's own
    /// tasks produce, or what [`to_delayed`](Self::to_delayed) gave.
    ///
    /// ```
    /// use rask_bag::{Bag, Partition};
    /// use rask_graph::{Collection, delayed};
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let parts = [delayed::value(Partition(vec![1u64, 2])), delayed::value(Partition(vec![3]))];
    /// let b = Bag::from_delayed(&parts);
    /// assert_eq!((b.npartitions(), b.sum().compute()?), (2, 6));
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn from_delayed(parts: &[Delayed<Partition<T>>]) -> Bag<T> {
        let t = Ty(&<T as ItemVtables>::FNS);
        Bag::from_inputs(parts, Source::Partitions(t), "from_delayed")
    }

    /// A bag of a partition per delayed value, each read by `source`; `what` names the
    /// layer and the token.
    fn from_inputs<P>(parts: &[Delayed<P>], source: Source, what: &'static str) -> Bag<T> {
        let sources: Arc<[(Source, Vec<Arg>)]> = (parts.iter())
            .map(|d| (source.clone(), vec![Arg::Key(d.key().clone())]))
            .collect();
        let keys: Vec<String> = parts.iter().map(|d| d.key().to_string()).collect();
        let mut parts_token: Vec<&str> = vec![what];
        parts_token.extend(keys.iter().map(String::as_str));
        let chain = Chain {
            base: Graph::merged(parts.iter().map(|d| d.graph())),
            sources,
            stages: Arc::from([]),
            token: token_of(&parts_token),
        };
        if parts.is_empty() {
            // No partition at all: one empty one, as an empty sequence has.
            return Bag::from_sequence(Vec::new(), 1);
        }
        Bag::from_chain(chain, what)
    }

    /// A bag of the items of JSON-lines texts, a partition per text, each line parsed as a `T`
    /// (with serde; blank lines passed over): the inverse of
    /// [`to_json_lines`](Self::to_json_lines), and what `rask::dataframe`'s `to_bag` makes of
    /// a dataframe's rows. A line that is not JSON of `T` fails its task, naming the line and
    /// the type.
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::{Collection, delayed};
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let texts = [delayed::value(String::from("[1, 2]\n[3, 4]\n")), delayed::value(String::new())];
    /// let b = Bag::<(u64, u64)>::from_json_lines(&texts);
    /// assert_eq!(b.npartitions(), 2);
    /// assert_eq!(b.compute()?, [(1, 2), (3, 4)]);
    /// let bad = Bag::<(u64, u64)>::from_json_lines(&[delayed::value(String::from("[1, 2]\n[3]\n"))]);
    /// assert!(bad.compute().unwrap_err().to_string().contains("line 2"));
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn from_json_lines(parts: &[Delayed<String>]) -> Bag<T> {
        let t = Ty(&<T as ItemVtables>::FNS);
        Bag::from_inputs(parts, Source::JsonText(t), "from_json_lines")
    }

    /// The same bag, whose reductions (`sum`, `frequencies`, `foldby`, …) combine `n` partial
    /// results at each level of their trees (Dask's `split_every`; 8 unless set, at least 2):
    /// fewer levels with a larger `n`, smaller tasks with a smaller one.
    ///
    /// ```
    /// use rask_bag::range;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let b = range(1000, 16);
    /// let wide = b.split_every(16).sum();
    /// let narrow = b.split_every(2).sum();
    /// assert!(wide.graph().len() < narrow.graph().len());
    /// assert_eq!((wide.compute()?, narrow.compute()?), (499_500, 499_500));
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn split_every(&self, n: usize) -> Bag<T> {
        Bag {
            split_every: n.max(2),
            ..self.clone()
        }
    }

    /// The items grouped by `key(item)` (Dask's `groupby`, by a full shuffle): `(key, items)`
    /// pairs, each key in exactly one partition, its items in their order in the bag. As many
    /// partitions as this bag; [`groupby_to`](Self::groupby_to) chooses. Every item moves, so
    /// where a fold per key will do, [`foldby`](Self::foldby) is far cheaper (as Dask's docs
    /// say).
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let words = Bag::from_sequence(vec!["apple".to_string(), "bee".into(), "avocado".into()], 2);
    /// let mut groups = words.groupby(|w| w.chars().next().unwrap_or(' ')).compute()?;
    /// groups.sort();
    /// assert_eq!(groups, [('a', vec!["apple".to_string(), "avocado".into()]), ('b', vec!["bee".into()])]);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn groupby<K: Item + Hash + Eq, F>(&self, key: F) -> Bag<(K, Vec<T>)>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.groupby_to(key, self.npartitions())
    }

    /// [`groupby`](Self::groupby) into `npartitions` partitions (at least one).
    pub fn groupby_to<K: Item + Hash + Eq, F>(&self, key: F, npartitions: usize) -> Bag<(K, Vec<T>)>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.groupby_with(
            key,
            Shuffle {
                npartitions: Some(npartitions),
                ..Shuffle::default()
            },
        )
    }

    /// [`groupby`](Self::groupby) with the shuffle's options: how many partitions, and the
    /// memory each partition's split may hold before it goes to disk.
    ///
    /// The shuffle is three layers of tasks: each partition put in bucket order (a bucket is
    /// the hash of the key modulo `npartitions`), each bucket of each partition taken out (a
    /// task per pair, so that a process scheduler moves only the bucket), and each output
    /// partition grouping its buckets. With a `memory_budget`, a split that holds more writes
    /// its buckets to a file in `spill_dir` (on this machine: for the local schedulers), read
    /// back bucket by bucket and removed when the last bucket is taken; the groups of an
    /// output partition are still made in memory, so more output partitions make smaller
    /// ones.
    ///
    /// ```
    /// use rask_bag::{Shuffle, range};
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let shuffle = Shuffle { npartitions: Some(4), memory_budget: Some(4096), ..Shuffle::default() };
    /// let groups = range(10_000, 3).groupby_with(|x| x % 7, shuffle);
    /// let sizes: u64 = groups.compute()?.iter().map(|(_, g)| g.len() as u64).sum();
    /// assert_eq!(sizes, 10_000);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn groupby_with<K: Item + Hash + Eq, F>(&self, key: F, shuffle: Shuffle) -> Bag<(K, Vec<T>)>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let npartitions = shuffle.npartitions.unwrap_or(self.npartitions());
        let spill = shuffle.memory_budget.map(|budget| crate::ops::Spill {
            budget,
            dir: shuffle
                .spill_dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("rask-spill")),
        });
        let n_out = npartitions.max(1);
        let n_in = self.npartitions();
        let item = Ty(&<T as ItemVtables>::FNS);
        let key_hash = Ty(&<K as HashVtables>::HASH);
        let key = Func::map(key);
        let token = token_of(&[
            &self.chain.token,
            "groupby",
            key.token(),
            &n_out.to_string(),
            &format!("{spill:?}"),
        ]);
        // Each partition in bucket order.
        let split: Arc<str> = key_name("groupby-split", &token).into();
        let mut graph = self.chain.base.clone();
        let sink = Sink::Split {
            item,
            key: key.clone(),
            key_hash,
            of: n_out as u64,
            spill,
        };
        graph.add_layer(layer(&self.chain, &split, "groupby", |_| sink.clone(), &[]));
        // Bucket j of partition i, at i·n_out + j.
        let buckets: Arc<str> = key_name("groupby-bucket", &token).into();
        let label: Arc<str> = "groupby".into();
        graph.add_layer(Layer::per_partition(
            Arc::clone(&buckets),
            n_in * n_out,
            |ij| {
                let (i, j) = (ij as usize / n_out, ij as usize % n_out);
                Task::new(
                    Pipeline {
                        source: Source::Bucket {
                            item,
                            key: key.clone(),
                            key_hash,
                            bucket: j as u64,
                            of: n_out as u64,
                        },
                        stages: Arc::from([]),
                        sink: Sink::Collect { item, limit: None },
                        label: Arc::clone(&label),
                    },
                    [Arg::Key(Key::with_name(&split, [i as u32]))],
                )
            },
        ));
        // Output partition j: its buckets, grouped.
        let grouped: Arc<str> = key_name("groupby", &token).into();
        let group: Arc<dyn rask_graph::Op> = Arc::new(Pipeline {
            source: Source::Partitions(item),
            stages: Arc::from([]),
            sink: Sink::Group {
                pair: Ty(&<(K, Vec<T>) as GroupVtables>::GROUP),
                key,
            },
            label: Arc::clone(&label),
        });
        graph.add_layer(Layer::per_partition(Arc::clone(&grouped), n_out, |j| {
            let inputs = (0..n_in)
                .map(|i| Arg::Key(Key::with_name(&buckets, [(i * n_out) as u32 + j])))
                .collect::<Vec<_>>();
            Task::from_arc(Arc::clone(&group), inputs)
        }));
        Bag::over(graph, &grouped, n_out, "groupby")
    }

    /// The first `n` items, computing the first partition, then the next, only as far as
    /// needed (Dask's `take` with `npartitions=-1`, computed at once), on the default
    /// scheduler.
    pub fn take(&self, n: usize) -> Result<Vec<T>, ComputeError> {
        self.take_with(n, &*rask_graph::config::scheduler())
    }

    /// [`take`](Self::take) on `scheduler`.
    ///
    /// ```
    /// use rask_bag::Bag;
    /// let b = Bag::from_sequence((0..10u64).collect(), 4);
    /// assert_eq!(b.take_with(4, &rask_local::SyncScheduler)?, [0, 1, 2, 3]);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn take_with(&self, n: usize, scheduler: &dyn Scheduler) -> Result<Vec<T>, ComputeError> {
        let mut out = Vec::new();
        for i in 0..self.npartitions() {
            if out.len() >= n {
                break;
            }
            let name: Arc<str> = key_name(
                "take",
                &token_of(&[&self.name, &i.to_string(), &(n - out.len()).to_string()]),
            )
            .into();
            let mut graph = self.chain.base.clone();
            let (source, args) = &self.chain.sources[i];
            graph.add_layer(Layer::per_partition(Arc::clone(&name), 1, |_| {
                Task::new(
                    Pipeline {
                        source: source.clone(),
                        stages: Arc::clone(&self.chain.stages),
                        sink: Sink::Collect {
                            item: Ty(&<T as ItemVtables>::FNS),
                            limit: Some((n - out.len()) as u64),
                        },
                        label: "take".into(),
                    },
                    args.clone(),
                )
            }));
            let part = Bag::<T> {
                chain: self.chain.clone(),
                graph,
                name,
                label: "take",
                split_every: self.split_every,
                cleanup: None,
                _t: PhantomData,
            };
            let key = part.key(0);
            let values = scheduler.get(&part.graph, std::slice::from_ref(&key), &[])?;
            out.extend(concat_values(&[key], values)?);
        }
        out.truncate(n);
        Ok(out)
    }
}

fn concat_values<T: Item>(keys: &[Key], values: Vec<Value>) -> Result<Vec<T>, ComputeError> {
    let mut out = Vec::new();
    for (key, v) in keys.iter().zip(values) {
        match v.try_take::<Partition<T>>() {
            Ok(Ok(p)) => out.extend(p.0),
            Ok(Err(shared)) => out.extend_from_slice(&shared),
            Err(v) => {
                return Err(ComputeError::ResultType {
                    key: key.clone(),
                    expected: std::any::type_name::<Partition<T>>(),
                    found: v.type_name(),
                });
            }
        }
    }
    Ok(out)
}

/// How many partials a tree level combines.
const SPLIT_EVERY: usize = 8;

/// The layer of a chain ending in `sink`: one task per partition, `extra` arguments after
/// each source's own.
/// The chain's tasks, one per partition, partition `i` ending in `sink(i)`.
fn layer(
    chain: &Chain,
    name: &Arc<str>,
    label: &str,
    sink: impl Fn(u32) -> Sink,
    extra: &[Arg],
) -> Layer {
    let label: Arc<str> = label.into();
    Layer::per_partition(Arc::clone(name), chain.sources.len(), |i| {
        let (source, args) = &chain.sources[i as usize];
        Task::new(
            Pipeline {
                source: source.clone(),
                stages: Arc::clone(&chain.stages),
                sink: sink(i),
                label: Arc::clone(&label),
            },
            args.iter().chain(extra).cloned(),
        )
    })
}

/// The one item of a one-item partition.
fn only<R: Item>(v: Value) -> Result<R, rask_graph::TaskError> {
    let p = v.get::<Partition<R>>()?;
    match p.as_slice() {
        [x] => Ok(x.clone()),
        [] => Err(rask_graph::TaskError::new("the bag is empty")),
        _ => Err(rask_graph::TaskError::new(format!(
            "expected one result, got {}",
            p.len()
        ))),
    }
}

impl<T: Number> Bag<T> {
    /// The sum of the items (zero for an empty bag).
    pub fn sum(&self) -> Scalar<T> {
        let num = Ty(&<T as NumVtables>::NUM);
        self.reduce_to(
            Sink::Sum(num),
            Sink::Sum(num),
            Ty(&<T as ItemVtables>::FNS),
            "sum",
            only::<T>,
        )
    }

    fn moments<R>(
        &self,
        label: &'static str,
        finish: fn(Value) -> Result<R, rask_graph::TaskError>,
    ) -> Scalar<R> {
        self.reduce_to(
            Sink::Moments(Ty(&<T as NumVtables>::NUM)),
            Sink::MergeMoments,
            Ty(&<Moments as ItemVtables>::FNS),
            label,
            finish,
        )
    }

    /// The mean of the items (an error for an empty bag).
    pub fn mean(&self) -> Scalar<f64> {
        self.moments("mean", |v| {
            let m: Moments = only(v)?;
            if m.n == 0 {
                return Err(rask_graph::TaskError::new("the mean of an empty bag"));
            }
            Ok(m.mean)
        })
    }

    /// The population variance (`ddof` 0, as Dask's default).
    pub fn var(&self) -> Scalar<f64> {
        self.moments("var", |v| variance(only(v)?))
    }

    /// The population standard deviation.
    pub fn std(&self) -> Scalar<f64> {
        self.moments("std", |v| variance(only(v)?).map(f64::sqrt))
    }
}

fn variance(m: Moments) -> Result<f64, rask_graph::TaskError> {
    if m.n == 0 {
        return Err(rask_graph::TaskError::new("the variance of an empty bag"));
    }
    Ok(m.m2 / m.n as f64)
}

impl<T: Item + PartialOrd> Bag<T> {
    /// The `k` largest items, largest first, in one partition (ties: first seen first).
    pub fn topk(&self, k: usize) -> Bag<T> {
        self.top(k, true)
    }

    /// The `k` smallest items, smallest first.
    pub fn bottomk(&self, k: usize) -> Bag<T> {
        self.top(k, false)
    }

    fn top(&self, k: usize, largest: bool) -> Bag<T> {
        let sink = Sink::TopK {
            item: Ty(&<T as OrdVtables>::ORD),
            k: k as u64,
            largest,
        };
        self.reduce_to_bag(sink.clone(), sink, "topk")
    }

    fn extreme(&self, largest: bool, label: &'static str) -> Scalar<T> {
        let sink = Sink::TopK {
            item: Ty(&<T as OrdVtables>::ORD),
            k: 1,
            largest,
        };
        self.reduce_to(
            sink.clone(),
            sink,
            Ty(&<T as ItemVtables>::FNS),
            label,
            only::<T>,
        )
    }

    /// The largest item (an error for an empty bag; NaNs are passed over).
    pub fn max(&self) -> Scalar<T> {
        self.extreme(true, "max")
    }

    /// The smallest item.
    pub fn min(&self) -> Scalar<T> {
        self.extreme(false, "min")
    }
}

impl<T: Item + Hash + Eq> Bag<T> {
    /// Each distinct item with how many times it occurs, in one partition (first-seen order).
    pub fn frequencies(&self) -> Bag<(T, u64)> {
        let t = Ty(&<T as HashVtables>::HASH);
        // Words of split lines are counted where the lines are split: no item per word.
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<String>()
            && let [.., Stage::Str(StrOp::Split { sep, flat: true })] = &*self.chain.stages
        {
            let mut stages = self.chain.stages.to_vec();
            stages.pop();
            let lines = Bag::<String>::from_chain(
                Chain {
                    stages: stages.into(),
                    ..self.chain.clone()
                },
                "frequencies",
            );
            let sink = Sink::WordFrequencies { sep: sep.clone() };
            return lines.reduce_to_bag(sink, Sink::MergeFrequencies(t), "frequencies");
        }
        self.reduce_to_bag(
            Sink::Frequencies(t),
            Sink::MergeFrequencies(t),
            "frequencies",
        )
    }

    /// About how many distinct items there are (HyperLogLog, [`hll`](crate::hll): a relative
    /// standard error of 0.8%, nearly exact below some thousands; 16 KiB per partition
    /// whatever the count, where [`distinct`](Self::distinct) holds every item).
    ///
    /// ```
    /// use rask_bag::range;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let n = range(100_000, 4).map(|x| x % 5_000).count_distinct_approx().compute()?;
    /// assert!((n as f64 - 5_000.0).abs() < 150.0, "{n}");
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn count_distinct_approx(&self) -> Scalar<u64> {
        self.reduce_to(
            Sink::Sketch(Ty(&<T as HashVtables>::HASH)),
            Sink::MergeSketches,
            Ty(&<crate::hll::Sketch as ItemVtables>::FNS),
            "count_distinct_approx",
            |v| Ok(only::<crate::hll::Sketch>(v)?.estimate()),
        )
    }

    /// The distinct items, in one partition (first-seen order).
    pub fn distinct(&self) -> Bag<T> {
        let t = Ty(&<T as HashVtables>::HASH);
        self.reduce_to_bag(Sink::Distinct(t), Sink::Distinct(t), "distinct")
    }
}

impl Bag<bool> {
    /// Whether every item is true (true for an empty bag).
    pub fn all(&self) -> Scalar<bool> {
        self.reduce_to(
            Sink::AllAny(true),
            Sink::AllAny(true),
            Ty(&<bool as ItemVtables>::FNS),
            "all",
            only::<bool>,
        )
    }

    /// Whether any item is true.
    pub fn any(&self) -> Scalar<bool> {
        self.reduce_to(
            Sink::AllAny(false),
            Sink::AllAny(false),
            Ty(&<bool as ItemVtables>::FNS),
            "any",
            only::<bool>,
        )
    }
}

impl<U: Item> Bag<Vec<U>> {
    /// The elements of every item.
    pub fn flatten(&self) -> Bag<U> {
        let mut bag = self.then(
            Stage::Flatten(Ty(&<U as ItemVtables>::FNS)),
            "flatten",
            "flatten",
        );
        // A string split then flattened hands on its pieces without making the `Vec`s.
        if let [
            ..,
            Stage::Str(StrOp::Split { sep, flat: false }),
            Stage::Flatten(_),
        ] = &*bag.chain.stages
        {
            let mut stages = bag.chain.stages.to_vec();
            stages.pop();
            let sep = sep.clone();
            if let Some(last) = stages.last_mut() {
                *last = Stage::Str(StrOp::Split { sep, flat: true });
            }
            bag = Bag::from_chain(
                Chain {
                    stages: stages.into(),
                    ..bag.chain
                },
                "flatten",
            );
        }
        bag
    }
}

impl Bag<String> {
    /// String methods on every item, as Dask's `.str` accessor (Python's `str` methods).
    ///
    /// ```
    /// use rask_bag::Bag;
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let lines = Bag::from_sequence(vec![" The cat ".to_string(), "the  DOG".into()], 2);
    /// let words = lines.str().lower().str().split(None).flatten();
    /// assert_eq!(words.compute()?, ["the", "cat", "the", "dog"]);
    /// assert_eq!(lines.str().strip().compute()?, ["The cat", "the  DOG"]);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    pub fn str(&self) -> StrMethods<'_> {
        StrMethods(self)
    }
}

impl Bag<String> {
    /// Writes each partition to a text file, one item per line (Dask's `to_textfiles`):
    /// `path` holds one `*` in its file name, replaced by the partition's number
    /// (`out/*.json.gz`), or names a folder, which gets `0.part`, `1.part`, …. Files are
    /// compressed as their extension says (`.gz`, `.bz2`, `.zst`). Each partition is written
    /// to a hidden folder beside the files, and every file is moved into place only once
    /// all are written: a computation that fails leaves none of them. Lazy: the bag of the
    /// written paths, in one partition, writes them when it is computed.
    ///
    /// ```
    /// use rask_bag::{Bag, read_text};
    /// use rask_graph::Collection;
    /// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
    /// let dir = std::env::temp_dir().join(format!("rask-doc-textfiles-{}", std::process::id()));
    /// let lines = Bag::from_sequence(vec!["a".to_string(), "b".into(), "c".into()], 2);
    /// let written = lines.to_textfiles(&format!("{}/*.txt.gz", dir.display()))?.compute()?;
    /// assert_eq!(written.len(), 2);
    /// let back = read_text(&[&format!("{}/*.txt.gz", dir.display())], Default::default())?;
    /// assert_eq!(back.compute()?, ["a", "b", "c"]);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_textfiles(&self, path: &str) -> Result<Bag<String>, BagError> {
        let (dir, finals) =
            rask_graph::files::outputs(path, self.npartitions(), |i| format!("{i}.part"))?;
        let token = token_of(&[
            &self.chain.token,
            "to_textfiles",
            &dir.to_string_lossy(),
            path,
        ]);
        let staging = Staging::new(&dir, &token);
        let write: Arc<str> = key_name("write-textfiles", &token).into();
        let mut graph = self.chain.base.clone();
        graph.add_layer(layer(
            &self.chain,
            &write,
            "to_textfiles",
            |i| Sink::WriteText {
                path: finals[i as usize].clone(),
                staging: staging.clone(),
            },
            &[],
        ));
        let commit: Arc<str> = key_name("to_textfiles", &token).into();
        let op: Arc<dyn rask_graph::Op> = Arc::new(Pipeline {
            source: Source::Partitions(Ty(&<String as ItemVtables>::FNS)),
            stages: Arc::from([]),
            sink: Sink::MoveIntoPlace {
                staging: staging.clone(),
            },
            label: "to_textfiles".into(),
        });
        let inputs: Vec<Arg> = (0..self.npartitions() as u32)
            .map(|i| Arg::Key(Key::with_name(&write, [i])))
            .collect();
        graph.add_layer(Layer::per_partition(Arc::clone(&commit), 1, |_| {
            Task::from_arc(Arc::clone(&op), inputs.clone())
        }));
        Ok(Bag {
            cleanup: Some(Arc::new(staging)),
            ..Bag::over(graph, &commit, 1, "to_textfiles")
        })
    }
}

/// String methods on a bag of `String`s: [`Bag::str`].
#[derive(Debug, Clone, Copy)]
pub struct StrMethods<'a>(&'a Bag<String>);

impl StrMethods<'_> {
    fn op<U: Item>(&self, op: StrOp, label: &'static str) -> Bag<U> {
        let what = format!("{op:?}");
        self.0.then(Stage::Str(op), &what, label)
    }

    /// Each string split at `sep`, or at runs of whitespace when `None` (no empty pieces
    /// then), as Python's `str.split`. Followed by [`flatten`](Bag::flatten), the pieces
    /// stream without a `Vec` per item.
    pub fn split(&self, sep: Option<&str>) -> Bag<Vec<String>> {
        let sep = sep.map(str::to_owned);
        self.op(StrOp::Split { sep, flat: false }, "split")
    }

    /// Each string in lower case.
    pub fn lower(&self) -> Bag<String> {
        self.op(StrOp::Lower, "lower")
    }

    /// Each string in upper case.
    pub fn upper(&self) -> Bag<String> {
        self.op(StrOp::Upper, "upper")
    }

    /// Each string without leading and trailing whitespace.
    pub fn strip(&self) -> Bag<String> {
        self.op(StrOp::Strip, "strip")
    }
}

impl<A: Item, B: Item> Bag<(A, B)> {
    /// `f(&a, &b)` for every pair (Dask's `starmap`).
    pub fn starmap<U: Item, F>(&self, f: F) -> Bag<U>
    where
        F: Fn(&A, &B) -> U + Send + Sync + 'static,
    {
        self.with_func(Func::star(f), Stage::Map)
    }
}

impl<J: JsonValue> Bag<J> {
    /// The member `field` of every JSON value (an object's member by name, an array's element
    /// by index); a value without it fails the task, naming the field.
    pub fn pluck(&self, field: impl Into<Field>) -> Bag<J> {
        self.pluck_stage(J::pluck(field.into(), None))
    }

    /// The member `field` of every value, or `default` where there is none.
    pub fn pluck_or(&self, field: impl Into<Field>, default: J) -> Bag<J> {
        self.pluck_stage(J::pluck(field.into(), Some(default)))
    }

    fn pluck_stage(&self, pluck: Pluck) -> Bag<J> {
        let what = format!("{pluck:?}");
        self.then(Stage::Pluck(pluck), &what, "pluck")
    }
}

impl<T: Item> Collection for Bag<T> {
    type Output = Vec<T>;

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn output_keys(&self) -> Vec<Key> {
        (0..self.npartitions()).map(|i| self.key(i)).collect()
    }

    fn finalize(&self, values: Vec<Value>) -> Result<Vec<T>, ComputeError> {
        concat_values(&self.output_keys(), values)
    }

    fn on_failure(&self, _error: &ComputeError) {
        // A failed `to_textfiles` leaves none of its parts behind.
        if let Some(staging) = &self.cleanup {
            staging.abandon();
        }
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Bag {
            graph,
            ..self.clone()
        }
    }
}

/// A lazy single value computed from a bag (`count`, `sum`, `fold`, …).
#[must_use = "a scalar is lazy: compute it"]
pub struct Scalar<R> {
    graph: Graph,
    key: Key,
    finish: fn(Value) -> Result<R, rask_graph::TaskError>,
    _r: PhantomData<fn() -> R>,
}

impl<R> Clone for Scalar<R> {
    fn clone(&self) -> Self {
        Scalar {
            graph: self.graph.clone(),
            key: self.key.clone(),
            finish: self.finish,
            _r: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Scalar<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rask.bag.Item<{}>", self.key.name())
    }
}

impl<R: 'static> Collection for Scalar<R> {
    type Output = R;

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn output_keys(&self) -> Vec<Key> {
        vec![self.key.clone()]
    }

    fn finalize(&self, values: Vec<Value>) -> Result<R, ComputeError> {
        let v = values.into_iter().next().ok_or(ComputeError::ResultCount {
            expected: 1,
            found: 0,
        })?;
        (self.finish)(v).map_err(|e| ComputeError::Task {
            key: self.key.clone(),
            op: "finalize".into(),
            cause: e,
        })
    }

    fn rebuild(&self, graph: Graph) -> Self {
        Scalar {
            graph,
            ..self.clone()
        }
    }
}

/// How a shuffle ([`Bag::groupby_with`]) runs.
#[derive(Debug, Clone, Default)]
pub struct Shuffle {
    /// Partitions out (the input's number when `None`).
    pub npartitions: Option<usize>,
    /// The bytes (estimated) one partition's split may hold before it writes its buckets to
    /// disk (all in memory when `None`).
    pub memory_budget: Option<u64>,
    /// Where spilled buckets go (`rask-spill` in the system's temporary folder when `None`).
    pub spill_dir: Option<PathBuf>,
}

/// Options of [`read_text`] and [`read_json_lines`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Split uncompressed files into parts of about this many bytes (at line boundaries); a
    /// compressed file is always one partition.
    pub blocksize: Option<u64>,
    /// What a JSON-lines reader does with a line that is not JSON of the item type.
    pub bad_lines: BadLines,
}

/// The parts of each file: byte ranges of uncompressed files when `blocksize` is given.
fn parts(paths: &[PathBuf], blocksize: Option<u64>) -> Result<Vec<Lines>, BagError> {
    let mut out = Vec::new();
    for path in paths {
        let compression = Compression::of(path);
        let size = std::fs::metadata(path)
            .map_err(|source| BagError::Io {
                path: path.clone(),
                source,
            })?
            .len();
        match blocksize {
            Some(b) if compression == Compression::None && b > 0 && size > b => {
                let mut start = 0;
                while start < size {
                    let end = (start + b).min(size);
                    out.push(Lines {
                        path: path.clone(),
                        start,
                        end: Some(end),
                        compression,
                    });
                    start = end;
                }
            }
            _ => out.push(Lines {
                path: path.clone(),
                start: 0,
                end: None,
                compression,
            }),
        }
    }
    Ok(out)
}

fn read_token(what: &str, lines: &[Lines]) -> String {
    let mut t = Tokenizer::new();
    t.write_str(what);
    for l in lines {
        let modified = std::fs::metadata(&l.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        t.write_str(&l.path.to_string_lossy())
            .write(&(l.start, l.end, modified));
    }
    t.finish()
}

/// The lines of text files (without their line endings), a partition per file — or per
/// `blocksize` bytes of an uncompressed file. `.gz`, `.bz2` and `.zst` files are
/// decompressed (each one partition).
///
/// ```
/// use rask_graph::Collection;
/// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
/// let dir = std::env::temp_dir().join(format!("rask-bag-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("a.txt"), "one\ntwo\n")?;
/// std::fs::write(dir.join("b.txt"), "three\n")?;
/// let lines = rask_bag::read_text(&[&format!("{}/*.txt", dir.display())], Default::default())?;
/// assert_eq!(lines.npartitions(), 2);
/// assert_eq!(lines.compute()?, ["one", "two", "three"]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_text(patterns: &[&str], options: ReadOptions) -> Result<Bag<String>, BagError> {
    let lines = parts(&rask_graph::files::expand(patterns)?, options.blocksize)?;
    let token = read_token("read_text", &lines);
    let sources = lines
        .into_iter()
        .map(|l| (Source::Text(l), vec![]))
        .collect();
    Ok(Bag::from_chain(
        Chain {
            base: Graph::new(),
            sources,
            stages: Arc::from([]),
            token,
        },
        "read_text",
    ))
}

/// Each line of JSON-lines files parsed as a `T` (with serde), a partition per file or per
/// `blocksize` bytes. Blank lines are passed over; a bad line fails its task naming the file
/// and line, unless `bad_lines` says to skip it.
///
/// For records of any shape, read [`sonic_rs::Value`](crate::sonic_rs::Value)s (parsed by
/// sonic-rs, about three times faster than `serde_json::Value`s; see [`JsonValue`]) or
/// `serde_json::Value`s; a struct of the fields a query reads is faster still.
///
/// ```
/// use rask_bag::sonic_rs::{self, JsonValueTrait};
/// use rask_graph::Collection;
/// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
/// let dir = std::env::temp_dir().join(format!("rask-bag-doc-json-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("a.jsonl"), "{\"city\": \"Oslo\", \"n\": 2}\n{\"city\": \"Lima\"}\n")?;
/// let glob = format!("{}/*.jsonl", dir.display());
/// let records = rask_bag::read_json_lines::<sonic_rs::Value>(&[&glob], Default::default())?;
/// let n = records.pluck_or("n", sonic_rs::json!(0)).map(|v| v.as_u64().unwrap_or(0));
/// assert_eq!(n.compute()?, [2, 0]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_json_lines<T: Item>(
    patterns: &[&str],
    options: ReadOptions,
) -> Result<Bag<T>, BagError> {
    let lines = parts(&rask_graph::files::expand(patterns)?, options.blocksize)?;
    let token = read_token(
        &format!(
            "read_json_lines-{:?}-{}",
            options.bad_lines,
            std::any::type_name::<T>()
        ),
        &lines,
    );
    let item = Ty(&<T as ItemVtables>::FNS);
    let sources = lines
        .into_iter()
        .map(|lines| {
            (
                Source::Json {
                    lines,
                    item,
                    bad: options.bad_lines,
                },
                vec![],
            )
        })
        .collect();
    Ok(Bag::from_chain(
        Chain {
            base: Graph::new(),
            sources,
            stages: Arc::from([]),
            token,
        },
        "read_json_lines",
    ))
}

impl<T: Item> Bag<T> {
    /// How many lines of the JSON-lines files this bag reads were not JSON of `T` (what
    /// `BadLines::Skip` passed over). Zero for a bag that does not read JSON lines.
    pub fn count_bad_lines(&self) -> Scalar<u64> {
        let sources: Vec<(Source, Vec<Arg>)> = (self.chain.sources.iter())
            .filter_map(|(s, _)| match s {
                Source::Json { lines, item, .. } => Some((
                    Source::Json {
                        lines: lines.clone(),
                        item: *item,
                        bad: BadLines::OnlyBad,
                    },
                    vec![],
                )),
                _ => None,
            })
            .collect();
        let chain = Chain {
            base: Graph::new(),
            sources: sources.into(),
            stages: Arc::from([]),
            token: token_of(&[&self.chain.token, "bad-lines"]),
        };
        Bag::<()>::from_chain(chain, "bad_lines").count()
    }
}

/// The integers `0..n` in `npartitions` near-equal partitions (Dask's `bag.range`).
pub fn range(n: u64, npartitions: usize) -> Bag<u64> {
    let parts = (npartitions as u64).clamp(1, n.max(1));
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    let sources = (0..parts)
        .map(|i| {
            let end = start + base + u64::from(i < extra);
            let s = (Source::Range { start, end }, vec![]);
            start = end;
            s
        })
        .collect();
    Bag::from_chain(
        Chain {
            base: Graph::new(),
            sources,
            stages: Arc::from([]),
            token: token_of(&["range", &n.to_string(), &parts.to_string()]),
        },
        "range",
    )
}
