//! The task graph: layers of tasks, merged, culled and fused.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use crate::fuse::Fused;
use crate::indices::Indices;
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
    /// The block indices, in insertion order; `tasks[i]` is the task at the `i`-th. Not stored
    /// while they are a grid in C order (24 bytes a task saved, in every layer of blocks).
    indices: Indices,
    tasks: Vec<Task>,
    /// Whether the indices were inserted in strictly increasing (lexicographic) order, as
    /// every layer built block by block is: then an insert needs no lookup to know its index
    /// is new.
    increasing: bool,
    /// How an index is found, made on first use: by arithmetic for a layer that is a whole
    /// grid in C order (no hashing at all), else through a hash map.
    lookup: std::sync::OnceLock<Lookup>,
    dependencies: Vec<Arc<str>>,
    /// The types of the ops inserted (a task replaced may leave one that is no longer there):
    /// what a pass's trigger asks of the layer, known without walking its tasks.
    op_types: smallvec::SmallVec<[std::any::TypeId; 2]>,
    /// The address of the op inserted last: a layer's tasks mostly share one op, whose type
    /// is then asked once.
    last_op: usize,
}

/// How a layer finds the position of an index.
#[derive(Clone, Debug)]
enum Lookup {
    /// Every index of the box from `start` (inclusive) with `counts` per axis, in C order
    /// (a whole grid, or the part of one a cull kept): the position is the index raveled.
    Grid { start: Vec<u32>, counts: Vec<u32> },
    /// Any indices.
    Map(FxHashMap<KeyIndex, u32>),
}

impl Lookup {
    /// The lookup for these indices.
    fn of(indices: &[KeyIndex], increasing: bool) -> Lookup {
        if increasing && let Some((start, counts)) = grid_box(indices) {
            return Lookup::Grid { start, counts };
        }
        let mut map = FxHashMap::with_capacity_and_hasher(indices.len(), FxBuildHasher);
        for (pos, index) in indices.iter().enumerate() {
            map.insert(index.clone(), pos as u32);
        }
        Lookup::Map(map)
    }

    fn position(&self, index: &[u32]) -> Option<usize> {
        match self {
            Lookup::Grid { start, counts } => {
                if index.len() != counts.len() {
                    return None;
                }
                let mut pos = 0usize;
                for ((i, s), n) in index.iter().zip(start).zip(counts) {
                    let i = i.checked_sub(*s)?;
                    if i >= *n {
                        return None;
                    }
                    pos = pos * (*n as usize) + i as usize;
                }
                Some(pos)
            }
            Lookup::Map(map) => map.get(index).map(|p| *p as usize),
        }
    }
}

/// The box (start and counts per axis) that `indices` (strictly increasing) cover in C order,
/// if they cover a whole box.
fn grid_box(indices: &[KeyIndex]) -> Option<(Vec<u32>, Vec<u32>)> {
    let (first, last) = (indices.first()?, indices.last()?);
    if first.len() != last.len() {
        return None;
    }
    let start: Vec<u32> = first.to_vec();
    let counts: Vec<u32> = (last.iter().zip(&start))
        .map(|(l, s)| l.checked_sub(*s)?.checked_add(1))
        .collect::<Option<_>>()?;
    let total = counts
        .iter()
        .try_fold(1usize, |a, n| a.checked_mul(*n as usize))?;
    // Strictly increasing, as many as the box holds, each inside it: exactly the box.
    let inside = |i: &KeyIndex| {
        i.len() == counts.len()
            && (i.iter().zip(&start).zip(&counts)).all(|((i, s), n)| *i >= *s && i - s < *n)
    };
    (total == indices.len() && indices.iter().all(inside)).then_some((start, counts))
}

impl Layer {
    /// An empty layer whose keys will all be named `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            indices: Indices::default(),
            tasks: Vec::new(),
            increasing: true,
            lookup: std::sync::OnceLock::new(),
            dependencies: Vec::new(),
            op_types: smallvec::SmallVec::new(),
            last_op: 0,
        }
    }

    /// An empty layer with room for `n` tasks.
    pub fn with_capacity(name: impl Into<Arc<str>>, n: usize) -> Self {
        let mut l = Self::new(name);
        l.tasks.reserve(n);
        l
    }

    /// Adds (or replaces) the task at a block index. Indices added in increasing order (as a
    /// layer is built block by block) cost no hashing.
    pub fn insert(&mut self, index: impl IntoIterator<Item = u32>, task: Task) {
        let op = Arc::as_ptr(task.op_arc()).cast::<()>() as usize;
        if op != self.last_op {
            self.last_op = op;
            let any: &dyn std::any::Any = task.op();
            let t = any.type_id();
            if !self.op_types.contains(&t) {
                self.op_types.push(t);
            }
        }
        for dep in task.dependencies() {
            let name = dep.name_arc();
            // Keys of one layer usually share its name's allocation: compared by address
            // first, by contents only when that differs.
            let known = |d: &Arc<str>| Arc::ptr_eq(d, name) || d == name;
            if !known(&self.name) && !self.dependencies.iter().any(known) {
                self.dependencies.push(Arc::clone(name));
            }
        }
        let index: KeyIndex = index.into_iter().collect();
        if let Indices::Grid(g) = &mut self.indices {
            if g.push(&index) {
                self.tasks.push(task);
                return;
            }
            if let Some(pos) = g.position(&index) {
                self.tasks[pos] = task;
                return;
            }
            // No longer a grid: its indices written out (in C order, so still increasing; a
            // grid never has a lookup made).
            self.indices.written_out();
        }
        let after_last = self.listed().last().is_none_or(|l| index[..] > l[..]);
        if self.increasing && after_last {
            // New for sure; a lookup made before no longer covers every index.
            if let Some(Lookup::Map(map)) = self.lookup.get_mut() {
                map.insert(index.clone(), self.tasks.len() as u32);
            } else {
                self.lookup = std::sync::OnceLock::new();
            }
            self.indices.written_out().push(index);
            self.tasks.push(task);
            return;
        }
        match self.position(&index) {
            Some(pos) => self.tasks[pos] = task,
            None => {
                self.increasing = false;
                let pos = self.tasks.len();
                // The lookup becomes (or stays) a map, kept up to date.
                if !matches!(self.lookup.get(), Some(Lookup::Map(_))) {
                    self.lookup = std::sync::OnceLock::from(Lookup::of(self.listed(), false));
                }
                if let Some(Lookup::Map(map)) = self.lookup.get_mut() {
                    map.insert(index.clone(), pos as u32);
                }
                self.indices.written_out().push(index);
                self.tasks.push(task);
            }
        }
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
        self.position(index).map(|p| &self.tasks[p])
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
        self.indices
            .iter()
            .zip(&self.tasks)
            .map(|(i, t)| (Key::with_index(&self.name, i), t))
    }

    /// The block indices and tasks, in insertion order.
    ///
    /// ```
    /// use rask_graph::{Layer, Task, Value};
    /// let mut l = Layer::new("x");
    /// for i in 0..2u32 {
    ///     for j in 0..3u32 {
    ///         l.insert([i, j], Task::literal(Value::new(i * 3 + j)));
    ///     }
    /// }
    /// let indices: Vec<Vec<u32>> = l.entries().map(|(i, _)| i.to_vec()).collect();
    /// assert_eq!(indices[4], [1, 1]);
    /// assert_eq!(indices.len(), 6);
    /// ```
    pub fn entries(&self) -> impl Iterator<Item = (KeyIndex, &Task)> + '_ {
        self.indices.iter().zip(&self.tasks)
    }

    /// The indices, written out (a layer no longer a grid stores them).
    fn listed(&self) -> &[KeyIndex] {
        match &self.indices {
            Indices::Listed(l) => l,
            Indices::Grid(_) => &[],
        }
    }

    /// Where the task at `index` is in insertion order: by arithmetic in a grid; through the
    /// lookup if it is made; in a layer still being built in increasing order, by binary
    /// search (so that building and looking up in turns stays linear); else through a lookup
    /// made now.
    pub(crate) fn position(&self, index: &[u32]) -> Option<usize> {
        if let Indices::Grid(g) = &self.indices {
            return g.position(index);
        }
        if let Some(lookup) = self.lookup.get() {
            return lookup.position(index);
        }
        if self.increasing {
            return self.listed().binary_search_by(|i| i[..].cmp(index)).ok();
        }
        self.prepared().and_then(|l| l.position(index))
    }

    /// The lookup of listed indices, made now if it is not yet (a layer is complete once it
    /// is in a graph); a grid needs none.
    fn prepared(&self) -> Option<&Lookup> {
        match self.indices {
            Indices::Grid(_) => None,
            Indices::Listed(ref l) => {
                Some(self.lookup.get_or_init(|| Lookup::of(l, self.increasing)))
            }
        }
    }

    pub(crate) fn task_at(&self, pos: usize) -> &Task {
        &self.tasks[pos]
    }

    pub(crate) fn key_at(&self, pos: usize) -> Key {
        Key::with_index(&self.name, self.indices.get(pos))
    }

    /// The types of the layer's ops (perhaps with one no task has any more).
    pub(crate) fn op_types(&self) -> &[std::any::TypeId] {
        &self.op_types
    }

    /// The tasks, in insertion order.
    pub(crate) fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// A copy in which `each(position, task)` keeps, replaces or (`None`) drops every task, its
    /// lookup made; `None` when nothing is left. Room for `capacity` tasks.
    fn rewritten(
        &self,
        capacity: usize,
        mut each: impl FnMut(usize, &Task) -> Option<Task>,
    ) -> Option<Layer> {
        let mut l = Layer::with_capacity(Arc::clone(&self.name), capacity);
        for (pos, (index, task)) in self.entries().enumerate() {
            if let Some(task) = each(pos, task) {
                l.insert(index, task);
            }
        }
        if l.is_empty() {
            return None;
        }
        let _ = l.prepared();
        Some(l)
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
    hints: Hints,
}

/// Where keys' layers were last found, by the address of the key's shared name: a pass
/// over millions of tasks looks up the keys of a few layers over and over, and a layer's
/// keys share its name, so most lookups neither hash the name nor read its bytes. A hint is
/// only trusted when the graph's own name at that place is the key's name allocation, so a
/// stale or shared hint is merely a miss. A name is looked for first in the slot its address
/// picks, then in every slot: two layers read in turn whose names' addresses pick the same
/// slot would otherwise evict each other on every lookup, and hash their names each time
/// (whether they do depends on where the allocator put the names, so it came and went with
/// the graph's size). Relaxed atomics: a graph is shared between threads.
#[derive(Default)]
struct Hints {
    slots: [std::sync::atomic::AtomicU32; 8],
    /// The slot a name found by hashing takes when its own slot is in use (round robin).
    next: std::sync::atomic::AtomicU32,
}

impl Clone for Hints {
    fn clone(&self) -> Self {
        Self::default()
    }
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
        // Complete now: its lookup is made once, for every later search.
        let _ = layer.prepared();
        match self.layers.entry(Arc::clone(&layer.name)) {
            indexmap::map::Entry::Vacant(v) => {
                v.insert(layer);
            }
            indexmap::map::Entry::Occupied(mut o) => {
                if Arc::ptr_eq(o.get(), &layer) {
                    return;
                }
                let have = o.get();
                // The tasks this layer lacks, found first, then added (a search between
                // inserts would remake the lookup each time).
                let missing: Vec<(KeyIndex, &Task)> = layer
                    .entries()
                    .filter(|(i, _)| have.position(i).is_none())
                    .collect();
                if missing.is_empty() {
                    return;
                }
                let mine = Arc::make_mut(o.get_mut());
                for (index, task) in missing {
                    mine.insert(index, task.clone());
                }
                let _ = mine.prepared();
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
        self.layers[self.layer_of(key)?].get(key.index())
    }

    /// The position of `key`'s layer, found through the hints when the key shares the
    /// layer's name allocation.
    fn layer_of(&self, key: &Key) -> Option<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        let name = key.name_arc();
        let slots = &self.hints.slots;
        let own = (Arc::as_ptr(name).cast::<u8>() as usize >> 4) % slots.len();
        let names_it = |slot: &std::sync::atomic::AtomicU32| {
            let hint = (slot.load(Relaxed) as usize).wrapping_sub(1);
            let (n, _) = self.layers.get_index(hint)?;
            Arc::ptr_eq(n, name).then_some(hint)
        };
        // Its own slot first, then the others, each once.
        let found = (0..slots.len()).find_map(|i| names_it(&slots[(own + i) % slots.len()]));
        if found.is_some() {
            return found;
        }
        let li = self.layers.get_index_of(key.name())?;
        if let Ok(v) = u32::try_from(li + 1) {
            let slot = if slots[own].load(Relaxed) == 0 {
                own
            } else {
                self.hints.next.fetch_add(1, Relaxed) as usize % slots.len()
            };
            slots[slot].store(v, Relaxed);
        }
        Some(li)
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

    /// How many tasks read each key; a task that reads a key twice counts once. Dense: one
    /// count per task, found by position (no key is hashed for a layer built block by block),
    /// so counting a graph of millions of tasks is linear.
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
    /// let readers = g.reader_counts();
    /// assert_eq!(readers.get(&Key::new("x", [0])), 1);
    /// assert_eq!(readers.get(&Key::new("y", [0])), 0);
    /// ```
    pub fn reader_counts(&self) -> ReaderCounts<'_> {
        let mut outside = KeyMap::default();
        let recent = RecentLayers::default();
        let counts = self.count_readers(
            |_| true,
            self.layers.values().map(|l| &**l),
            &recent,
            |d| *outside.entry(d.clone()).or_default() += 1,
        );
        ReaderCounts {
            graph: self,
            counts,
            outside,
            recent,
        }
    }

    /// Per task of the layers that `counted` accepts (by layer number; an empty row for the
    /// others), how many distinct tasks of the `readers` layers read it, counted densely (no
    /// key hashed); a key read that is not in the graph is given to `outside`.
    fn count_readers<'a>(
        &self,
        counted: impl Fn(usize) -> bool,
        readers: impl Iterator<Item = &'a Layer>,
        recent: &RecentLayers,
        mut outside: impl FnMut(&Key),
    ) -> Vec<Vec<u32>> {
        let mut counts: Vec<Vec<u32>> = (self.layers.values().enumerate())
            .map(|(li, l)| {
                if counted(li) {
                    vec![0; l.len()]
                } else {
                    Vec::new()
                }
            })
            .collect();
        for layer in readers {
            for task in layer.tasks() {
                for d in distinct_dependencies(task) {
                    match self.locate(recent, d) {
                        Some((li, pos)) if counted(li) => counts[li][pos] += 1,
                        Some(_) => {}
                        None => outside(d),
                    }
                }
            }
        }
        counts
    }

    /// The layer number and position of a key's task.
    fn locate(&self, recent: &RecentLayers, key: &Key) -> Option<(usize, usize)> {
        let li = recent.layer(self, key)?;
        Some((li, self.layers[li].position(key.index())?))
    }

    /// A rewrite of this graph: tasks replaced and removed by key, then
    /// [`finish`](Rewrite::finish)ed into a new graph in which untouched layers are shared.
    /// Dense, like [`reader_counts`](Graph::reader_counts): the shape of a graph-rewriting
    /// pass over millions of tasks.
    ///
    /// ```
    /// use rask_graph::{Graph, Key, Layer, Task, Value};
    /// let mut g = Graph::new();
    /// let mut x = Layer::new("x");
    /// x.insert([0], Task::literal(Value::new(1u64)));
    /// x.insert([1], Task::literal(Value::new(2u64)));
    /// g.add_layer(x);
    /// let mut r = g.rewrite();
    /// assert!(r.replace(&Key::new("x", [0]), Task::literal(Value::new(5u64))));
    /// assert!(r.remove(&Key::new("x", [1])));
    /// assert!(!r.remove(&Key::new("x", [7])), "not in the graph");
    /// let g = r.finish();
    /// assert_eq!(g.len(), 1);
    /// ```
    pub fn rewrite(&self) -> Rewrite<'_> {
        Rewrite {
            graph: self,
            changes: FxHashMap::default(),
            recent: RecentLayers::default(),
        }
    }

    /// A copy with the tasks at the keys of `replaced` swapped for the new ones and the keys
    /// in `removed` dropped (an emptied layer goes too). Untouched layers are shared, not copied.
    /// (A [`rewrite`](Graph::rewrite) without the maps.)
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
    pub fn replace_tasks(&self, replaced: KeyMap<Task>, removed: &KeySet) -> Graph {
        let mut r = self.rewrite();
        for (key, task) in replaced {
            r.replace(&key, task);
        }
        for key in removed {
            r.remove(key);
        }
        r.finish()
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
        Ok(index.rebuild(|id| needed[id], Vec::new()))
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
        const NONE: u32 = u32::MAX;
        let index = DenseIndex::new(self);
        if index.total >= NONE as usize {
            // Ids are u32: a graph this large is left as it is (a plan could not hold it).
            return self.clone();
        }
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
            for (pos, task) in layer.tasks().iter().enumerate() {
                // A pinned task keeps its key: never absorbed (its result lives elsewhere).
                if task.op().pinned() {
                    kept[index.id(li, pos)] = true;
                }
                let ids: smallvec::SmallVec<[u32; 4]> = distinct_dependencies(task)
                    .iter()
                    .map(|dep| index.find(dep).map_or(NONE, |(l, p)| index.id(l, p) as u32))
                    .collect();
                for d in ids.iter().filter(|d| **d != NONE) {
                    dependents[*d as usize] += 1;
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
            if a != NONE && dependents[a as usize] == 1 && !kept[a as usize] {
                absorbed[a as usize] = true;
            }
        }
        // By task id, ascending: the fused chain that replaces it.
        let mut replaced: Vec<(u32, Task)> = Vec::new();
        let mut chain: Vec<(usize, usize)> = Vec::new();
        let mut tasks: Vec<&Task> = Vec::new();
        let mut signature: Vec<usize> = Vec::new();
        let mut last_fused: Option<(Vec<usize>, Arc<dyn crate::Op>)> = None;
        for (li, layer) in self.layers.values().enumerate() {
            for pos in 0..layer.len() {
                let top = index.id(li, pos);
                if absorbed[top] || single[top] == NONE || !absorbed[single[top] as usize] {
                    continue;
                }
                // Walk down the chain from its top, then fuse it bottom first (the buffers are
                // reused from chain to chain: a graph may hold millions of short chains).
                chain.clear();
                chain.push((li, pos));
                let mut cur = top;
                while single[cur] != NONE && absorbed[single[cur] as usize] {
                    cur = single[cur] as usize;
                    chain.push(index.position(cur));
                }
                chain.reverse();
                tasks.clear();
                tasks.extend(chain.iter().map(|(l, p)| self.layers[*l].task_at(*p)));
                // Chains of the same ops (shared, as a layer's tasks share theirs) and the
                // same literals after the first step make the same fused op: made once (and
                // only then are the chain's keys made).
                signature.clear();
                for (i, t) in tasks.iter().enumerate() {
                    signature.push(Arc::as_ptr(t.op_arc()).cast::<()>() as usize);
                    for a in t.args().iter().filter(|_| i > 0) {
                        signature.push(match a {
                            crate::Arg::Key(_) => 0,
                            crate::Arg::Value(v) => {
                                std::ptr::from_ref(v.datum()).cast::<()>() as usize
                            }
                        });
                    }
                }
                let first = tasks[0];
                let task = match &last_fused {
                    Some((sig, op)) if *sig == signature => {
                        Task::from_arc(Arc::clone(op), first.args().iter().cloned())
                    }
                    _ => {
                        let keys: Vec<Key> = chain
                            .iter()
                            .map(|(l, p)| self.layers[*l].key_at(*p))
                            .collect();
                        let steps: Vec<(&Key, &Task)> =
                            keys.iter().zip(&tasks).map(|(k, t)| (k, *t)).collect();
                        let task = Fused::chain(&steps);
                        last_fused = Some((signature.clone(), Arc::clone(task.op_arc())));
                        task
                    }
                };
                replaced.push((top as u32, task));
            }
        }
        if replaced.is_empty() {
            return self.clone();
        }
        index.rebuild(|id| !absorbed[id], replaced)
    }
}

/// Dense ids for every task of a graph: a layer's tasks are consecutive, in insertion order.
struct DenseIndex<'g> {
    graph: &'g Graph,
    offsets: Vec<usize>,
    total: usize,
    recent: RecentLayers,
}

/// The last few layers a pass found, by the address of the key's shared name: a pass over
/// millions of tasks looks up the keys of a few layers over and over, and a layer's keys share
/// its name, so most lookups neither hash a name nor read its bytes (at millions of keys, each
/// name's bytes are a cache miss of their own). A name is held while it is remembered, so its
/// address cannot be reused by another.
#[derive(Debug, Default)]
pub(crate) struct RecentLayers {
    names: std::cell::RefCell<[Option<Remembered>; 4]>,
    next: std::cell::Cell<usize>,
}

/// A layer's name, held, and its position in the graph.
type Remembered = (Arc<str>, usize);

impl RecentLayers {
    /// The position of `key`'s layer in `graph` (in [`Graph::layers`]' order).
    pub(crate) fn layer(&self, graph: &Graph, key: &Key) -> Option<usize> {
        let name = key.name_arc();
        if let Some((_, li)) = self
            .names
            .borrow()
            .iter()
            .flatten()
            .find(|(n, _)| Arc::ptr_eq(n, name))
        {
            return Some(*li);
        }
        let li = graph.layers.get_index_of(key.name())?;
        let slot = self.next.get();
        self.names.borrow_mut()[slot] = Some((Arc::clone(name), li));
        self.next.set((slot + 1) % 4);
        Some(li)
    }
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
            recent: RecentLayers::default(),
        }
    }

    /// The layer position and task position of a key.
    fn find(&self, key: &Key) -> Option<(usize, usize)> {
        self.graph.locate(&self.recent, key)
    }

    fn id(&self, li: usize, pos: usize) -> usize {
        self.offsets[li] + pos
    }

    fn position(&self, id: usize) -> (usize, usize) {
        let li = self.offsets.partition_point(|o| *o <= id) - 1;
        (li, id - self.offsets[li])
    }

    /// The graph with only the tasks `keep` accepts, some replaced (by task id, ascending;
    /// empty for none); untouched layers are shared.
    fn rebuild(&self, keep: impl Fn(usize) -> bool, replaced: Vec<(u32, Task)>) -> Graph {
        let mut out = Graph::new();
        out.layers.reserve(self.graph.layers.len());
        let mut replaced = replaced.into_iter().peekable();
        for (li, layer) in self.graph.layers.values().enumerate() {
            let ids = self.offsets[li]..self.offsets[li] + layer.len();
            let count = ids.clone().filter(|id| keep(*id)).count();
            let replaces_here = replaced
                .peek()
                .is_some_and(|(id, _)| (*id as usize) < ids.end);
            if count == 0 {
                while replaced
                    .next_if(|(id, _)| (*id as usize) < ids.end)
                    .is_some()
                {}
                continue;
            }
            if count == layer.len() && !replaces_here {
                out.layers
                    .insert(Arc::clone(&layer.name), Arc::clone(layer));
                continue;
            }
            let first = ids.start;
            let l = layer.rewritten(count, |pos, task| {
                let id = first + pos;
                let new = replaced.next_if(|(r, _)| *r as usize == id).map(|(_, t)| t);
                keep(id).then(|| new.unwrap_or_else(|| task.clone()))
            });
            if let Some(l) = l {
                out.layers.insert(Arc::clone(&layer.name), Arc::new(l));
            }
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
        // A cheap task of no dependencies (cheapness asked first: it reads no arguments).
        let cheap_source = |t: &Task| t.op().cheap() && t.dependencies().next().is_none();
        // The layers that hold cheap sources.
        let sources: Vec<bool> = (self.layers.values())
            .map(|l| l.tasks().iter().any(cheap_source))
            .collect();
        if !sources.contains(&true) {
            return self.clone();
        }
        // Their readers, counted densely (most tasks are read once, and no key is hashed for
        // them), in those layers and the layers that read them only.
        let reads_sources = |l: &Layer| {
            (l.dependencies().iter())
                .any(|d| self.layers.get_index_of(&**d).is_some_and(|i| sources[i]))
        };
        let readers_of = (self.layers.values().enumerate())
            .filter(|(li, l)| sources[*li] || reads_sources(l))
            .map(|(_, l)| &**l);
        let counts = self.count_readers(
            |li| sources[li],
            readers_of,
            &RecentLayers::default(),
            |_| {},
        );
        let mut readers: FxHashMap<Key, u32> = FxHashMap::default();
        for (li, layer) in self
            .layers
            .values()
            .enumerate()
            .filter(|(li, _)| sources[*li])
        {
            for (pos, task) in layer.tasks().iter().enumerate() {
                let n = counts[li][pos];
                if n > 1 && cheap_source(task) {
                    let key = layer.key_at(pos);
                    if !keep.contains(&key) {
                        readers.insert(key, n);
                    }
                }
            }
        }
        if readers.is_empty() {
            return self.clone();
        }
        let mut out = Graph::new();
        let mut copies: FxHashMap<Arc<str>, Layer> = FxHashMap::default();
        for layer in self.layers.values() {
            let touched = layer
                .tasks()
                .iter()
                .any(|t| t.dependencies().any(|d| readers.contains_key(d)));
            let drops = layer
                .indices
                .iter()
                .any(|i| readers.contains_key(&Key::with_name(&layer.name, i.iter().copied())));
            if !touched && !drops {
                out.add_layer(Arc::clone(layer));
                continue;
            }
            let mut l = Layer::with_capacity(Arc::clone(&layer.name), layer.len());
            for (index, task) in layer.entries() {
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

/// How many tasks read each task of a graph ([`Graph::reader_counts`]).
#[derive(Debug)]
pub struct ReaderCounts<'g> {
    graph: &'g Graph,
    /// Per layer (in the graph's order), per task position.
    counts: Vec<Vec<u32>>,
    /// Keys read but not in the graph.
    outside: KeyMap<u32>,
    recent: RecentLayers,
}

impl ReaderCounts<'_> {
    /// How many distinct tasks read `key` (0 for a key nothing reads).
    pub fn get(&self, key: &Key) -> u32 {
        match self.graph.locate(&self.recent, key) {
            Some((li, pos)) => self.counts[li][pos],
            None => self.outside.get(key).copied().unwrap_or(0),
        }
    }

    /// Whether a key's task may be fused into the task that reads it: exactly one task reads
    /// it, and it is not among `keep` (results someone asked for; compared one by one when
    /// they are few, as a reduction's are, which is cheaper than hashing every key a pass
    /// looks at).
    ///
    /// ```
    /// use rask_graph::{ops::AddConst, Arg, Graph, Key, KeySet, Layer, Task, Value};
    ///
    /// // y = x + 1 and z = x + 1 read x; w = y + 1 reads y.
    /// let mut g = Graph::new();
    /// let arg = |name: &str| Arg::Key(Key::new(name, []));
    /// let mut x = Layer::new("x");
    /// x.insert([], Task::literal(Value::new(1i64)));
    /// g.add_layer(x);
    /// for (name, reads) in [("y", "x"), ("z", "x"), ("w", "y")] {
    ///     let mut l = Layer::new(name);
    ///     l.insert([], Task::new(AddConst(1), [arg(reads)]));
    ///     g.add_layer(l);
    /// }
    /// let readers = g.reader_counts();
    /// let keep: KeySet = [Key::new("w", [])].into_iter().collect();
    /// let fusable = readers.fusable(&keep);
    /// assert!(fusable(&Key::new("y", [])));
    /// assert!(!fusable(&Key::new("x", [])), "two readers");
    /// assert!(!fusable(&Key::new("w", [])), "kept, and read by none");
    /// ```
    pub fn fusable<'a>(&'a self, keep: &'a KeySet) -> impl Fn(&Key) -> bool + 'a {
        let few: Option<Vec<&Key>> = (keep.len() <= 8).then(|| keep.iter().collect());
        move |k| {
            let kept = match &few {
                Some(few) => few.contains(&k),
                None => keep.contains(k),
            };
            self.get(k) == 1 && !kept
        }
    }
}

/// A rewrite of a graph under way ([`Graph::rewrite`]).
#[derive(Debug)]
pub struct Rewrite<'g> {
    graph: &'g Graph,
    /// Per touched layer, its changes.
    changes: FxHashMap<usize, Changes>,
    recent: RecentLayers,
}

/// The changes to one layer: sparse, so that a pass touching millions of tasks writes a few
/// bytes per task (a bit per task removed, one entry per task replaced), not a slot per task
/// of every layer it touches.
#[derive(Debug, Default)]
struct Changes {
    /// One bit per task position: set when the last change at that position was a removal.
    removed: Vec<u64>,
    /// The replacements, by position, in the order they were made (the last one at a
    /// position wins).
    replaced: Vec<(u32, Task)>,
}

impl Changes {
    fn set_removed(&mut self, len: usize, pos: usize, removed: bool) {
        if self.removed.is_empty() {
            if !removed {
                return;
            }
            self.removed = vec![0; len.div_ceil(64)];
        }
        let (word, bit) = (pos / 64, 1u64 << (pos % 64));
        if removed {
            self.removed[word] |= bit;
        } else {
            self.removed[word] &= !bit;
        }
    }

    fn is_removed(&self, pos: usize) -> bool {
        self.removed
            .get(pos / 64)
            .is_some_and(|w| w & (1u64 << (pos % 64)) != 0)
    }

    fn removed_count(&self) -> usize {
        self.removed.iter().map(|w| w.count_ones() as usize).sum()
    }
}

impl Rewrite<'_> {
    /// The layer length, position and changes of `key`'s task.
    fn changes(&mut self, key: &Key) -> Option<(usize, usize, &mut Changes)> {
        let (li, pos) = self.graph.locate(&self.recent, key)?;
        let len = self.graph.layers[li].len();
        Some((len, pos, self.changes.entry(li).or_default()))
    }

    /// Puts `task` in place of the task at `key`; false if the graph has no such key.
    pub fn replace(&mut self, key: &Key, task: Task) -> bool {
        let Some((len, pos, c)) = self.changes(key) else {
            return false;
        };
        c.set_removed(len, pos, false);
        c.replaced.push((pos as u32, task));
        true
    }

    /// Drops the task at `key`; false if the graph has no such key.
    pub fn remove(&mut self, key: &Key) -> bool {
        let Some((len, pos, c)) = self.changes(key) else {
            return false;
        };
        c.set_removed(len, pos, true);
        true
    }

    /// The rewritten graph: untouched layers shared, touched ones rebuilt (an emptied layer
    /// goes).
    pub fn finish(mut self) -> Graph {
        if self.changes.is_empty() {
            return self.graph.clone();
        }
        let mut out = Graph::new();
        out.layers.reserve(self.graph.layers.len());
        for (li, layer) in self.graph.layers.values().enumerate() {
            let Some(mut changes) = self.changes.remove(&li) else {
                out.layers
                    .insert(Arc::clone(&layer.name), Arc::clone(layer));
                continue;
            };
            let count = layer.len() - changes.removed_count();
            if count == 0 {
                continue;
            }
            // Stable, so that of two replacements at one position the later stays later (and
            // linear on the ascending lists a pass walking a layer makes).
            let mut replaced = std::mem::take(&mut changes.replaced);
            replaced.sort_by_key(|(p, _)| *p);
            let mut replaced = replaced.into_iter().peekable();
            let l = layer.rewritten(count, |pos, task| {
                // The last replacement at this position, if any (earlier ones are dropped).
                let mut new = None;
                while let Some((_, t)) = replaced.next_if(|(p, _)| *p as usize == pos) {
                    new = Some(t);
                }
                if changes.is_removed(pos) {
                    return None;
                }
                Some(new.unwrap_or_else(|| task.clone()))
            });
            if let Some(l) = l {
                out.layers.insert(Arc::clone(&layer.name), Arc::new(l));
            }
        }
        out
    }
}
