//! The task graph: layers of tasks, merged, culled and fused.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use crate::fuse::Fused;
use crate::{GraphError, Key, KeyIndex, Task};

/// A map keyed by task keys, with the fast (Fx) hasher the graph uses: what rewriting passes
/// build over every task.
pub type KeyMap<V> = FxHashMap<Key, V>;

/// A set of task keys, with the fast (Fx) hasher the graph uses.
pub type KeySet = FxHashSet<Key>;

/// The tasks that one collection operation adds, all sharing one key name.
///
/// Building layer by layer (Dask's `HighLevelGraph`) keeps merging cheap: graphs share layers
/// by `Arc`, and a layer is copied only when an optimization changes it.
///
/// ```
/// use rask_graph::{ops::AddConst, Arg, Layer, Task, Value};
///
/// let mut layer = Layer::new("inc-0001");
/// for i in 0..3 {
///     layer.insert([i], Task::new(AddConst(1), [Arg::Value(Value::new(i as i64))]));
/// }
/// assert_eq!(layer.len(), 3);
/// assert_eq!(layer.key([2]).to_string(), "('inc-0001', 2)");
/// ```
#[derive(Clone)]
pub struct Layer {
    name: Arc<str>,
    tasks: IndexMap<KeyIndex, Task, FxBuildHasher>,
    dependencies: Vec<Arc<str>>,
}

impl Layer {
    /// An empty layer whose keys will all be named `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            tasks: IndexMap::default(),
            dependencies: Vec::new(),
        }
    }

    /// An empty layer with room for `n` tasks.
    pub fn with_capacity(name: impl Into<Arc<str>>, n: usize) -> Self {
        let mut l = Self::new(name);
        l.tasks.reserve(n);
        l
    }

    /// Adds (or replaces) the task at a block index.
    pub fn insert(&mut self, index: impl IntoIterator<Item = u32>, task: Task) {
        for dep in task.dependencies() {
            let name = dep.name_arc();
            if **name != *self.name && !self.dependencies.iter().any(|d| d == name) {
                self.dependencies.push(Arc::clone(name));
            }
        }
        self.tasks.insert(index.into_iter().collect(), task);
    }

    /// The layer's key name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The key of the task at `index`.
    pub fn key(&self, index: impl IntoIterator<Item = u32>) -> Key {
        Key::with_name(&self.name, index)
    }

    /// The task at `index`.
    pub fn get(&self, index: &[u32]) -> Option<&Task> {
        self.tasks.get(index)
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the layer has no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The names of the other layers this one depends on.
    pub fn dependencies(&self) -> &[Arc<str>] {
        &self.dependencies
    }

    /// The tasks with their keys, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &Task)> + '_ {
        self.tasks
            .iter()
            .map(|(i, t)| (Key::with_name(&self.name, i.iter().copied()), t))
    }

    /// The block indices and tasks, in insertion order.
    pub fn entries(&self) -> impl Iterator<Item = (&[u32], &Task)> + '_ {
        self.tasks.iter().map(|(i, t)| (i.as_slice(), t))
    }

    pub(crate) fn position(&self, index: &[u32]) -> Option<usize> {
        self.tasks.get_index_of(index)
    }

    pub(crate) fn task_at(&self, pos: usize) -> &Task {
        &self.tasks[pos]
    }

    pub(crate) fn key_at(&self, pos: usize) -> Key {
        let (index, _) = self
            .tasks
            .get_index(pos)
            .unwrap_or_else(|| unreachable!("position from this layer"));
        Key::with_name(&self.name, index.iter().copied())
    }
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layer")
            .field("name", &self.name)
            .field("tasks", &self.tasks.len())
            .field("dependencies", &self.dependencies)
            .finish()
    }
}

/// A task graph: layers of tasks keyed by name. Cheap to clone and merge (layers are shared).
///
/// ```
/// use rask_graph::{ops::Sum, Arg, Graph, Key, Layer, Task, Value};
///
/// let mut g = Graph::new();
/// let mut x = Layer::new("x");
/// x.insert([0], Task::literal(Value::new(1i64)));
/// x.insert([1], Task::literal(Value::new(2i64)));
/// g.add_layer(x);
/// let mut total = Layer::new("total");
/// total.insert([], Task::new(Sum, [Arg::Key(Key::new("x", [0])), Arg::Key(Key::new("x", [1]))]));
/// g.add_layer(total);
///
/// assert_eq!(g.len(), 3);
/// let culled = g.cull(&[Key::new("x", [1])]).unwrap();
/// assert_eq!(culled.len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct Graph {
    layers: IndexMap<Arc<str>, Arc<Layer>, FxBuildHasher>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer. A layer of the same name already present is kept — names are tokens of
    /// what a layer computes, so the same name means the same tasks — and gets the tasks of
    /// the new one that it lacks (culled graphs may each hold a part of one layer).
    pub fn add_layer(&mut self, layer: impl Into<Arc<Layer>>) {
        let layer = layer.into();
        match self.layers.entry(Arc::clone(&layer.name)) {
            indexmap::map::Entry::Vacant(v) => {
                v.insert(layer);
            }
            indexmap::map::Entry::Occupied(mut o) => {
                if Arc::ptr_eq(o.get(), &layer) {
                    return;
                }
                let have = o.get();
                if layer.tasks.keys().all(|i| have.tasks.contains_key(i)) {
                    return;
                }
                let mine = Arc::make_mut(o.get_mut());
                for (index, task) in &layer.tasks {
                    if !mine.tasks.contains_key(index) {
                        mine.insert(index.iter().copied(), task.clone());
                    }
                }
            }
        }
    }

    /// Adds every layer of `other` that this graph lacks.
    pub fn merge(&mut self, other: &Graph) {
        for layer in other.layers.values() {
            self.add_layer(Arc::clone(layer));
        }
    }

    /// The union of several graphs.
    pub fn merged<'a>(graphs: impl IntoIterator<Item = &'a Graph>) -> Graph {
        let mut g = Graph::new();
        for other in graphs {
            g.merge(other);
        }
        g
    }

    /// The task that produces `key`.
    pub fn get(&self, key: &Key) -> Option<&Task> {
        self.layers.get(key.name())?.get(key.index())
    }

    /// Whether a task produces `key`.
    pub fn contains(&self, key: &Key) -> bool {
        self.get(key).is_some()
    }

    /// The layer named `name`.
    pub fn layer(&self, name: &str) -> Option<&Arc<Layer>> {
        self.layers.get(name)
    }

    /// The layers, in the order they were added.
    pub fn layers(&self) -> impl Iterator<Item = &Arc<Layer>> {
        self.layers.values()
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.layers.values().map(|l| l.len()).sum()
    }

    /// Whether the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.layers.values().all(|l| l.is_empty())
    }

    /// Every task with its key, layer by layer.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &Task)> + '_ {
        self.layers.values().flat_map(|l| l.iter())
    }

    /// How many tasks read each key; a task that reads a key twice counts once.
    ///
    /// ```
    /// use rask_graph::{Arg, Graph, Key, Layer, Task, Value, ops::Sum};
    /// let mut g = Graph::new();
    /// let mut x = Layer::new("x");
    /// x.insert([0], Task::literal(Value::new(1u64)));
    /// g.add_layer(x);
    /// let mut y = Layer::new("y");
    /// let k = Arg::Key(Key::new("x", [0]));
    /// y.insert([0], Task::new(Sum, [k.clone(), k]));
    /// g.add_layer(y);
    /// assert_eq!(g.reader_counts()[&Key::new("x", [0])], 1);
    /// ```
    pub fn reader_counts(&self) -> KeyMap<u32> {
        let mut readers = KeyMap::with_capacity_and_hasher(self.len(), FxBuildHasher);
        for (_, task) in self.iter() {
            for d in distinct_dependencies(task) {
                *readers.entry(d.clone()).or_default() += 1;
            }
        }
        readers
    }

    /// A copy with the tasks at the keys of `replaced` swapped for the new ones and the keys
    /// in `removed` dropped (an emptied layer goes too). Untouched layers are shared, not copied:
    /// the shape of a graph-rewriting pass.
    ///
    /// ```
    /// use rask_graph::{Graph, Key, KeyMap, KeySet, Layer, Task, Value};
    /// let mut g = Graph::new();
    /// let mut x = Layer::new("x");
    /// x.insert([0], Task::literal(Value::new(1u64)));
    /// x.insert([1], Task::literal(Value::new(2u64)));
    /// g.add_layer(x);
    /// let mut new = KeyMap::default();
    /// new.insert(Key::new("x", [0]), Task::literal(Value::new(5u64)));
    /// let removed: KeySet = [Key::new("x", [1])].into_iter().collect();
    /// let g = g.replace_tasks(new, &removed);
    /// assert_eq!(g.len(), 1);
    /// ```
    pub fn replace_tasks(&self, mut replaced: KeyMap<Task>, removed: &KeySet) -> Graph {
        if replaced.is_empty() && removed.is_empty() {
            return self.clone();
        }
        // Only the layers named by a replaced or removed key are rebuilt.
        let touched: FxHashSet<Arc<str>> = replaced
            .keys()
            .chain(removed.iter())
            .map(|k| Arc::clone(k.name_arc()))
            .collect();
        let mut out = Graph::new();
        for layer in self.layers() {
            if !touched.contains(&**layer.name()) {
                out.add_layer(Arc::clone(layer));
                continue;
            }
            let mut l = Layer::with_capacity(Arc::clone(layer.name()), layer.len());
            for (index, task) in layer.entries() {
                let key = layer.key(index.iter().copied());
                if removed.contains(&key) {
                    continue;
                }
                let task = replaced.remove(&key).unwrap_or_else(|| task.clone());
                l.insert(index.iter().copied(), task);
            }
            if !l.is_empty() {
                out.add_layer(l);
            }
        }
        out
    }

    /// The part of the graph that `keys` need: their tasks and everything those depend on.
    ///
    /// Errors if a key is not in the graph or a needed task depends on a missing key.
    pub fn cull(&self, keys: &[Key]) -> Result<Graph, GraphError> {
        let index = DenseIndex::new(self);
        let mut needed = vec![false; index.total];
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for key in keys {
            let (li, pos) = index
                .find(key)
                .ok_or_else(|| GraphError::MissingKey { key: key.clone() })?;
            if !std::mem::replace(&mut needed[index.id(li, pos)], true) {
                stack.push((li, pos));
            }
        }
        while let Some((li, pos)) = stack.pop() {
            let layer = &self.layers[li];
            for dep in layer.task_at(pos).dependencies() {
                let Some((dli, dpos)) = index.find(dep) else {
                    return Err(GraphError::MissingDependency {
                        key: layer.key_at(pos),
                        dependency: dep.clone(),
                    });
                };
                if !std::mem::replace(&mut needed[index.id(dli, dpos)], true) {
                    stack.push((dli, dpos));
                }
            }
        }
        Ok(index.rebuild(|id| needed[id], &FxHashMap::default()))
    }

    /// Fuses linear chains: a task whose result has exactly one dependent, which depends on
    /// nothing else, is merged into that dependent, so the chain runs as one task. Keys in
    /// `keep` are never fused away (they are results someone asked for).
    ///
    /// ```
    /// use rask_graph::{ops::AddConst, Arg, Graph, Key, Layer, Task, Value};
    ///
    /// let mut g = Graph::new();
    /// let mut prev: Option<Key> = None;
    /// for i in 0..4u32 {
    ///     let mut l = Layer::new(format!("step{i}"));
    ///     let arg = match &prev {
    ///         Some(k) => Arg::Key(k.clone()),
    ///         None => Arg::Value(Value::new(0i64)),
    ///     };
    ///     l.insert([], Task::new(AddConst(1), [arg]));
    ///     prev = Some(l.key([]));
    ///     g.add_layer(l);
    /// }
    /// let last = prev.unwrap();
    /// let fused = g.fuse_linear(std::slice::from_ref(&last));
    /// assert_eq!(fused.len(), 1);
    /// assert!(fused.contains(&last));
    /// ```
    pub fn fuse_linear<'k>(&self, keep: impl IntoIterator<Item = &'k Key>) -> Graph {
        const NONE: usize = usize::MAX;
        let index = DenseIndex::new(self);
        // Per task: its only distinct dependency (if it has exactly one), and how many distinct
        // tasks depend on it.
        let mut single = vec![NONE; index.total];
        let mut dependents = vec![0u32; index.total];
        let mut kept = vec![false; index.total];
        for key in keep {
            if let Some((li, pos)) = index.find(key) {
                kept[index.id(li, pos)] = true;
            }
        }
        for (li, layer) in self.layers.values().enumerate() {
            for (pos, task) in layer.tasks.values().enumerate() {
                let ids: smallvec::SmallVec<[usize; 4]> = distinct_dependencies(task)
                    .iter()
                    .map(|dep| index.find(dep).map_or(NONE, |(l, p)| index.id(l, p)))
                    .collect();
                for d in ids.iter().filter(|d| **d != NONE) {
                    dependents[*d] += 1;
                }
                if let [d] = ids[..] {
                    single[index.id(li, pos)] = d;
                }
            }
        }
        // `a` is absorbed into its dependent `b` when b's only dependency is a, and a's only
        // dependent is b.
        let mut absorbed = vec![false; index.total];
        for &a in &single {
            if a != NONE && dependents[a] == 1 && !kept[a] {
                absorbed[a] = true;
            }
        }
        let mut replaced: FxHashMap<usize, Task> = FxHashMap::default();
        for (li, layer) in self.layers.values().enumerate() {
            for pos in 0..layer.len() {
                let top = index.id(li, pos);
                if absorbed[top] || single[top] == NONE || !absorbed[single[top]] {
                    continue;
                }
                // Walk down the chain from its top, then fuse it bottom first.
                let mut chain: Vec<(usize, usize)> = vec![(li, pos)];
                let mut cur = top;
                while single[cur] != NONE && absorbed[single[cur]] {
                    cur = single[cur];
                    chain.push(index.position(cur));
                }
                chain.reverse();
                let keys: Vec<Key> = chain
                    .iter()
                    .map(|(l, p)| self.layers[*l].key_at(*p))
                    .collect();
                let tasks: Vec<(&Key, &Task)> = chain
                    .iter()
                    .zip(&keys)
                    .map(|((l, p), k)| (k, self.layers[*l].task_at(*p)))
                    .collect();
                replaced.insert(top, Fused::chain(&tasks));
            }
        }
        if replaced.is_empty() {
            return self.clone();
        }
        index.rebuild(|id| !absorbed[id], &replaced)
    }
}

/// Dense ids for every task of a graph: a layer's tasks are consecutive, in insertion order.
struct DenseIndex<'g> {
    graph: &'g Graph,
    offsets: Vec<usize>,
    total: usize,
}

impl<'g> DenseIndex<'g> {
    fn new(graph: &'g Graph) -> Self {
        let mut offsets = Vec::with_capacity(graph.layers.len());
        let mut total = 0;
        for l in graph.layers.values() {
            offsets.push(total);
            total += l.len();
        }
        Self {
            graph,
            offsets,
            total,
        }
    }

    /// The layer position and task position of a key.
    fn find(&self, key: &Key) -> Option<(usize, usize)> {
        let (li, _, layer) = self.graph.layers.get_full(key.name())?;
        Some((li, layer.position(key.index())?))
    }

    fn id(&self, li: usize, pos: usize) -> usize {
        self.offsets[li] + pos
    }

    fn position(&self, id: usize) -> (usize, usize) {
        let li = self.offsets.partition_point(|o| *o <= id) - 1;
        (li, id - self.offsets[li])
    }

    /// The graph with only the tasks `keep` accepts, some replaced; untouched layers are shared.
    fn rebuild(&self, keep: impl Fn(usize) -> bool, replaced: &FxHashMap<usize, Task>) -> Graph {
        let mut out = Graph::new();
        out.layers.reserve(self.graph.layers.len());
        for (li, layer) in self.graph.layers.values().enumerate() {
            let ids = self.offsets[li]..self.offsets[li] + layer.len();
            let count = ids.clone().filter(|id| keep(*id)).count();
            if count == 0 {
                continue;
            }
            if count == layer.len() && !ids.clone().any(|id| replaced.contains_key(&id)) {
                out.layers
                    .insert(Arc::clone(&layer.name), Arc::clone(layer));
                continue;
            }
            let mut l = Layer::with_capacity(Arc::clone(&layer.name), count);
            for ((index, task), id) in layer.tasks.iter().zip(ids) {
                if keep(id) {
                    let task = replaced.get(&id).unwrap_or(task).clone();
                    l.insert(index.iter().copied(), task);
                }
            }
            out.layers.insert(Arc::clone(&layer.name), Arc::new(l));
        }
        out
    }
}

impl Graph {
    /// Copies each task that has no dependencies and a [cheap](crate::Op::cheap) op into every
    /// task that reads it, so that no reader waits on a shared result that must then be kept
    /// for all of them. Keys in `keep` stay as they are. Afterwards each copy has one reader,
    /// so [`fuse_linear`](Graph::fuse_linear) can run it inside its reader.
    ///
    /// ```
    /// use rask_graph::{Arg, Args, Graph, Key, Layer, Op, Task, TaskError, Value, ops::Sum};
    ///
    /// /// Makes the number 1: cheaper to make again than to keep.
    /// #[derive(Debug)]
    /// struct One;
    /// impl Op for One {
    ///     fn name(&self) -> &str { "one" }
    ///     fn run(&self, _: Args) -> Result<Value, TaskError> { Ok(Value::new(1i64)) }
    ///     fn cheap(&self) -> bool { true }
    /// }
    ///
    /// let mut g = Graph::new();
    /// let mut one = Layer::new("one");
    /// one.insert([], Task::new(One, []));
    /// g.add_layer(one);
    /// let mut readers = Layer::new("r");
    /// for i in 0..3 {
    ///     readers.insert([i], Task::new(Sum, [Arg::Key(Key::new("one", []))]));
    /// }
    /// g.add_layer(readers);
    /// let keys: Vec<Key> = (0..3).map(|i| Key::new("r", [i])).collect();
    /// let inlined = g.inline_cheap(&keys);
    /// assert_eq!(inlined.len(), 6); // each reader has its own `one`
    /// assert!(!inlined.contains(&Key::new("one", [])));
    /// assert_eq!(inlined.fuse_linear(&keys).len(), 3); // and runs it inside
    /// ```
    pub fn inline_cheap<'k>(&self, keep: impl IntoIterator<Item = &'k Key>) -> Graph {
        let keep: FxHashSet<&Key> = keep.into_iter().collect();
        // The cheap sources read by more than one task.
        let mut readers: FxHashMap<Key, u32> = FxHashMap::default();
        for layer in self.layers.values() {
            for (_, task) in &layer.tasks {
                for dep in distinct_dependencies(task) {
                    if let Some(t) = self.get(dep)
                        && t.dependencies().next().is_none()
                        && t.op().cheap()
                    {
                        *readers.entry(dep.clone()).or_default() += 1;
                    }
                }
            }
        }
        readers.retain(|k, n| *n > 1 && !keep.contains(k));
        if readers.is_empty() {
            return self.clone();
        }
        let mut out = Graph::new();
        let mut copies: FxHashMap<Arc<str>, Layer> = FxHashMap::default();
        for layer in self.layers.values() {
            let touched = layer
                .tasks
                .values()
                .any(|t| t.dependencies().any(|d| readers.contains_key(d)));
            let drops = layer
                .tasks
                .keys()
                .any(|i| readers.contains_key(&Key::with_name(&layer.name, i.iter().copied())));
            if !touched && !drops {
                out.add_layer(Arc::clone(layer));
                continue;
            }
            let mut l = Layer::with_capacity(Arc::clone(&layer.name), layer.len());
            for (index, task) in &layer.tasks {
                let key = Key::with_name(&layer.name, index.iter().copied());
                if readers.contains_key(&key) {
                    continue;
                }
                if !task.dependencies().any(|d| readers.contains_key(d)) {
                    l.insert(index.iter().copied(), task.clone());
                    continue;
                }
                let args: Vec<crate::Arg> = task
                    .args()
                    .iter()
                    .map(|a| match a {
                        crate::Arg::Key(d) if readers.contains_key(d) => {
                            // This reader's own copy: named after the source and the reader.
                            let name: Arc<str> = format!("{}~{}", d.name(), layer.name).into();
                            let mut copy_index: Vec<u32> = d.index().to_vec();
                            copy_index.extend(index.iter().copied());
                            let src = self
                                .get(d)
                                .cloned()
                                .unwrap_or_else(|| unreachable!("counted above"));
                            copies
                                .entry(Arc::clone(&name))
                                .or_insert_with(|| Layer::new(Arc::clone(&name)))
                                .insert(copy_index.iter().copied(), src);
                            crate::Arg::Key(Key::new(name, copy_index))
                        }
                        other => other.clone(),
                    })
                    .collect();
                l.insert(
                    index.iter().copied(),
                    Task::from_arc(Arc::clone(task.op_arc()), args),
                );
            }
            if !l.is_empty() {
                out.add_layer(l);
            }
        }
        for (_, l) in copies {
            out.add_layer(l);
        }
        out
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("layers", &self.layers.len())
            .field("tasks", &self.len())
            .finish()
    }
}

/// The distinct dependency keys of a task, in first-use order.
pub(crate) fn distinct_dependencies(task: &Task) -> smallvec::SmallVec<[&Key; 4]> {
    let mut out = smallvec::SmallVec::new();
    let args = task.args();
    if args.len() <= 16 {
        for k in task.dependencies() {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    } else {
        let mut seen = FxHashSet::default();
        out.extend(task.dependencies().filter(|k| seen.insert(*k)));
    }
    out
}
