//! The task graph: layers of tasks, merged, culled and fused.

use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use crate::fuse::Fused;
use crate::{GraphError, Key, KeyIndex, Task};

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

    fn remove(&mut self, index: &[u32]) {
        self.tasks.shift_remove(index);
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

    /// Adds a layer. A layer of the same name already present is kept: names are tokens of
    /// what a layer computes, so the same name means the same tasks.
    pub fn add_layer(&mut self, layer: impl Into<Arc<Layer>>) {
        let layer = layer.into();
        if let indexmap::map::Entry::Vacant(v) = self.layers.entry(Arc::clone(&layer.name)) {
            v.insert(layer);
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

    /// The part of the graph that `keys` need: their tasks and everything those depend on.
    ///
    /// Errors if a key is not in the graph or a needed task depends on a missing key.
    pub fn cull(&self, keys: &[Key]) -> Result<Graph, GraphError> {
        // One flag per task, by layer position and task position: no hashing beyond the two
        // lookups that find a key.
        let mut needed: Vec<Vec<bool>> = self.layers.values().map(|_| Vec::new()).collect();
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let mark = |needed: &mut Vec<Vec<bool>>, li: usize, pos: usize| -> bool {
            let flags = &mut needed[li];
            if flags.is_empty() {
                flags.resize(self.layers[li].len(), false);
            }
            !std::mem::replace(&mut flags[pos], true)
        };
        let find = |key: &Key| -> Option<(usize, usize)> {
            let (li, _, layer) = self.layers.get_full(key.name())?;
            Some((li, layer.position(key.index())?))
        };
        for key in keys {
            let (li, pos) = find(key).ok_or_else(|| GraphError::MissingKey { key: key.clone() })?;
            if mark(&mut needed, li, pos) {
                stack.push((li, pos));
            }
        }
        while let Some((li, pos)) = stack.pop() {
            let layer = &self.layers[li];
            for dep in layer.task_at(pos).dependencies() {
                let Some((dli, dpos)) = find(dep) else {
                    return Err(GraphError::MissingDependency {
                        key: layer.key_at(pos),
                        dependency: dep.clone(),
                    });
                };
                if mark(&mut needed, dli, dpos) {
                    stack.push((dli, dpos));
                }
            }
        }
        let mut out = Graph::new();
        for (layer, flags) in self.layers.values().zip(&needed) {
            let count = flags.iter().filter(|f| **f).count();
            if count == 0 {
                continue;
            }
            if count == layer.len() {
                out.add_layer(Arc::clone(layer));
            } else {
                let mut l = Layer::with_capacity(Arc::clone(&layer.name), count);
                for ((index, task), keep) in layer.tasks.iter().zip(flags) {
                    if *keep {
                        l.insert(index.iter().copied(), task.clone());
                    }
                }
                out.add_layer(l);
            }
        }
        Ok(out)
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
    pub fn fuse_linear(&self, keep: &[Key]) -> Graph {
        // How many distinct tasks depend on each key.
        let mut dependents: FxHashMap<&Key, u32> = FxHashMap::default();
        let mut single_dep: FxHashMap<Key, &Key> = FxHashMap::default();
        for layer in self.layers.values() {
            for (index, task) in &layer.tasks {
                let deps = distinct_dependencies(task);
                for dep in &deps {
                    *dependents.entry(*dep).or_default() += 1;
                }
                if let [dep] = deps[..] {
                    single_dep.insert(Key::with_name(&layer.name, index.iter().copied()), dep);
                }
            }
        }
        let keep: FxHashSet<&Key> = keep.iter().collect();
        // `a` is absorbed into its dependent `b` when b's only dependency is a, and a's only
        // dependent is b.
        let absorbed: FxHashSet<&Key> = single_dep
            .values()
            .copied()
            .filter(|a| dependents.get(a) == Some(&1) && !keep.contains(a) && self.contains(a))
            .collect();
        if absorbed.is_empty() {
            return self.clone();
        }
        let mut out = self.clone();
        let mut touched: FxHashMap<Arc<str>, Layer> = FxHashMap::default();
        for root in single_dep.keys() {
            if absorbed.contains(root) {
                continue;
            }
            // Walk down the chain from its top.
            let mut chain: Vec<Key> = vec![root.clone()];
            let mut cur = root;
            while let Some(dep) = single_dep.get(cur) {
                if !absorbed.contains(dep) {
                    break;
                }
                chain.push((*dep).clone());
                cur = dep;
            }
            if chain.len() < 2 {
                continue;
            }
            chain.reverse();
            let tasks: Vec<(&Key, &Task)> = chain
                .iter()
                .map(|k| {
                    (
                        k,
                        self.get(k)
                            .unwrap_or_else(|| unreachable!("chain keys exist")),
                    )
                })
                .collect();
            let fused = Fused::chain(&tasks);
            for k in &chain[..chain.len() - 1] {
                layer_mut(&mut touched, &out, k.name_arc()).remove(k.index());
            }
            layer_mut(&mut touched, &out, root.name_arc()).tasks[root.index()] = fused;
        }
        for (name, layer) in touched {
            if let Some(slot) = out.layers.get_mut(&name) {
                *slot = Arc::new(layer);
            }
        }
        out.layers.retain(|_, l| !l.is_empty());
        out
    }
}

fn layer_mut<'a>(
    touched: &'a mut FxHashMap<Arc<str>, Layer>,
    graph: &Graph,
    name: &Arc<str>,
) -> &'a mut Layer {
    match touched.entry(Arc::clone(name)) {
        Entry::Occupied(o) => o.into_mut(),
        Entry::Vacant(v) => v.insert((*graph.layers[name]).clone()),
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
