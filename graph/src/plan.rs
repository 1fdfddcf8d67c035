//! Lowering: a graph and the keys wanted from it become an execution plan on dense `u32` ids.
//!
//! Lowering culls (only what the keys need is indexed), checks (missing keys, cycles), orders
//! (a static priority per task, see [`order`](self#ordering)) and renumbers, so that task id
//! order *is* priority order: a scheduler runs the smallest ready id first.
//!
//! # Ordering
//! The order is a depth-first post-order from the outputs, after dask.order's aims: finish a
//! branch before opening another, and free inputs early.
//! - Among a task's dependencies, the one with the most (transitive) work under it is visited
//!   first, so long branches go first and short ones run right before the task that needs them.
//! - When a task's result has exactly one dependent and that dependent is ready, it is
//!   numbered at once: chains run straight through.
//! - Ties keep argument order, so reductions consume their inputs in order.

use std::sync::Arc;

use crate::graph::Graph;
use crate::{Arg, GraphError, Key, Op, Value};

/// One argument of a planned task: another task's result, by id, or a literal.
#[derive(Debug, Clone)]
pub enum PlanArg {
    /// The result of the task with this id.
    Task(u32),
    /// A literal value.
    Value(Value),
}

/// An execution plan: tasks on dense ids in priority order, with dependency and dependent
/// lists. Schedulers run on this, never on keys.
///
/// ```
/// use rask_graph::{ops::{AddConst, Sum}, Arg, Graph, Key, Layer, Plan, Task, Value};
///
/// let mut g = Graph::new();
/// let mut x = Layer::new("x");
/// for i in 0..4 {
///     x.insert([i], Task::new(AddConst(1), [Arg::Value(Value::new(i as i64))]));
/// }
/// g.add_layer(x);
/// let mut s = Layer::new("s");
/// s.insert([], Task::new(Sum, (0..4).map(|i| Arg::Key(Key::new("x", [i])))));
/// g.add_layer(s);
///
/// let plan = Plan::lower(&g, &[Key::new("s", [])]).unwrap();
/// assert_eq!(plan.len(), 5);
/// assert_eq!(plan.outputs(), &[4]); // the sum runs last
/// assert_eq!(plan.dependencies(4), &[0, 1, 2, 3]);
/// ```
#[derive(Debug)]
pub struct Plan {
    keys: Vec<Key>,
    ops: Vec<Arc<dyn Op>>,
    args: Vec<PlanArg>,
    args_start: Vec<u32>,
    deps: Vec<u32>,
    deps_start: Vec<u32>,
    dependents: Vec<u32>,
    dependents_start: Vec<u32>,
    uses: Vec<u32>,
    outputs: Vec<u32>,
    is_output: Vec<bool>,
    /// Whether any task's op [waits](Op::waits).
    waits: bool,
}

const NONE: u32 = u32::MAX;

/// Appends row `c` of (`rows`, `starts`) to (`out`, `out_starts`), its ids renumbered by
/// `prio` and sorted, in place (no vector per row).
fn push_renumbered(
    out: &mut Vec<u32>,
    out_starts: &mut Vec<u32>,
    rows: &[u32],
    starts: &[u32],
    c: usize,
    prio: &[u32],
) {
    let from = out.len();
    out.extend(
        rows[starts[c] as usize..starts[c + 1] as usize]
            .iter()
            .map(|d| prio[*d as usize]),
    );
    out[from..].sort_unstable();
    out_starts.push(out.len() as u32);
}

impl Plan {
    /// Culls, checks, orders and lowers `graph` for `keys`.
    pub fn lower(graph: &Graph, keys: &[Key]) -> Result<Plan, GraphError> {
        let layers: Vec<_> = graph.layers().collect();
        let recent = crate::graph::RecentLayers::default();
        let mut offsets = Vec::with_capacity(layers.len() + 1);
        let mut total = 0usize;
        for l in &layers {
            offsets.push(total);
            total += l.len();
        }
        if total >= NONE as usize {
            return Err(GraphError::Encode {
                what: "graph".into(),
                message: format!("{total} tasks is more than a plan can hold"),
            });
        }
        let resolve = |key: &Key| -> Option<(u32, u32)> {
            let li = recent.layer(graph, key)?;
            let pos = layers[li].position(key.index())?;
            Some((li as u32, pos as u32))
        };
        // 1. Index what the keys need, breadth first, on compact ids.
        let mut compact_of = vec![NONE; total];
        let mut nodes: Vec<(u32, u32)> = Vec::new();
        let mut outputs = Vec::with_capacity(keys.len());
        for key in keys {
            let (li, pos) =
                resolve(key).ok_or_else(|| GraphError::MissingKey { key: key.clone() })?;
            let t = offsets[li as usize] + pos as usize;
            if compact_of[t] == NONE {
                compact_of[t] = nodes.len() as u32;
                nodes.push((li, pos));
            }
            outputs.push(compact_of[t]);
        }
        let mut deps: Vec<u32> = Vec::new();
        let mut deps_start: Vec<u32> = vec![0];
        let mut refs: Vec<u32> = Vec::new();
        let mut stamp: Vec<u32> = Vec::new();
        let mut cursor = 0;
        while cursor < nodes.len() {
            let (li, pos) = nodes[cursor];
            let task = layers[li as usize].task_at(pos as usize);
            for dep in task.dependencies() {
                let Some((dli, dpos)) = resolve(dep) else {
                    return Err(GraphError::MissingDependency {
                        key: layers[li as usize].key_at(pos as usize),
                        dependency: dep.clone(),
                    });
                };
                let t = offsets[dli as usize] + dpos as usize;
                let c = if compact_of[t] == NONE {
                    compact_of[t] = nodes.len() as u32;
                    nodes.push((dli, dpos));
                    compact_of[t]
                } else {
                    compact_of[t]
                };
                refs.push(c);
                if stamp.len() <= c as usize {
                    stamp.resize(nodes.len().max(c as usize + 1), NONE);
                }
                if stamp[c as usize] != cursor as u32 {
                    stamp[c as usize] = cursor as u32;
                    deps.push(c);
                }
            }
            deps_start.push(deps.len() as u32);
            cursor += 1;
        }
        drop(stamp);
        drop(compact_of);
        let n = nodes.len();

        // 2. Dependents, and a check for cycles while computing the work under each task.
        let (dependents, dependents_start) = invert(&deps, &deps_start, n);
        let weight = weigh(&deps, &deps_start, &outputs, |c| {
            let (li, pos) = nodes[c as usize];
            layers[li as usize].key_at(pos as usize)
        })?;

        // 3. Order: sort each dependency row by weight, heaviest first (stable: ties keep
        // argument order), then number tasks in a depth-first post-order from the outputs.
        for i in 0..n {
            let row = &mut deps[deps_start[i] as usize..deps_start[i + 1] as usize];
            if row.len() > 1 {
                row.sort_by(|a, b| weight[*b as usize].cmp(&weight[*a as usize]));
            }
        }
        let prio = order(
            &deps,
            &deps_start,
            &dependents,
            &dependents_start,
            &outputs,
            &weight,
        );
        // (Freed before the plan is filled: the plan's dependents are its dependencies
        // inverted, at the end.)
        drop((weight, dependents, dependents_start));

        // 4. Renumber by priority.
        let mut by_prio = vec![0u32; n];
        for (c, p) in prio.iter().enumerate() {
            by_prio[*p as usize] = c as u32;
        }
        let mut plan = Plan {
            keys: Vec::with_capacity(n),
            ops: Vec::with_capacity(n),
            args: Vec::with_capacity(refs.len() + n),
            args_start: Vec::with_capacity(n + 1),
            deps: Vec::with_capacity(deps.len()),
            deps_start: Vec::with_capacity(n + 1),
            dependents: Vec::new(),
            dependents_start: Vec::new(),
            uses: vec![0; n],
            outputs: outputs.iter().map(|c| prio[*c as usize]).collect(),
            is_output: vec![false; n],
            waits: false,
        };
        // Each compact node's slice of `refs`.
        let mut refs_start = vec![0u32; n + 1];
        {
            let mut r = 0u32;
            for (c, &(li, pos)) in nodes.iter().enumerate() {
                refs_start[c] = r;
                r += layers[li as usize]
                    .task_at(pos as usize)
                    .dependencies()
                    .count() as u32;
            }
            refs_start[n] = r;
        }
        plan.args_start.push(0);
        plan.deps_start.push(0);
        for &c in &by_prio {
            let c = c as usize;
            let (li, pos) = nodes[c];
            let layer = layers[li as usize];
            let task = layer.task_at(pos as usize);
            plan.keys.push(layer.key_at(pos as usize));
            plan.waits |= task.op().waits();
            plan.ops.push(Arc::clone(task.op_arc()));
            let mut r = refs_start[c] as usize;
            for a in task.args() {
                match a {
                    Arg::Value(v) => plan.args.push(PlanArg::Value(v.clone())),
                    Arg::Key(_) => {
                        let p = prio[refs[r] as usize];
                        plan.uses[p as usize] += 1;
                        plan.args.push(PlanArg::Task(p));
                        r += 1;
                    }
                }
            }
            plan.args_start.push(plan.args.len() as u32);
            push_renumbered(
                &mut plan.deps,
                &mut plan.deps_start,
                &deps,
                &deps_start,
                c,
                &prio,
            );
        }
        drop((nodes, deps, deps_start, refs, refs_start, prio, by_prio));
        (plan.dependents, plan.dependents_start) = invert(&plan.deps, &plan.deps_start, n);
        for &o in &plan.outputs {
            plan.is_output[o as usize] = true;
        }
        Ok(plan)
    }

    /// [`lower`](Plan::lower) where the keys in `held` already have values elsewhere (a
    /// remote scheduler's workers hold them): their tasks become [`Held`](crate::ops::Held)
    /// tasks of `holder`, with no dependencies, so nothing that only they needed is planned.
    /// A scheduler supplies their values ([`Plan::held`] lists them) instead of running them.
    ///
    /// ```
    /// use rask_graph::{ops::AddConst, Arg, Graph, Key, KeySet, Layer, Plan, Task, Value};
    ///
    /// // x = 1 + 1, y = x + 1, z = y + 1; y is held elsewhere.
    /// let mut g = Graph::new();
    /// for (name, dep) in [("x", None), ("y", Some("x")), ("z", Some("y"))] {
    ///     let mut l = Layer::new(name);
    ///     let arg = dep.map_or(Arg::Value(Value::new(1i64)), |d| Arg::Key(Key::new(d, [])));
    ///     l.insert([], Task::new(AddConst(1), [arg]));
    ///     g.add_layer(l);
    /// }
    /// let held: KeySet = [Key::new("y", [])].into_iter().collect();
    /// let plan = Plan::lower_with_held(&g, &[Key::new("z", [])], &held, "cluster").unwrap();
    /// assert_eq!(plan.len(), 2); // y (held) and z: x is not needed
    /// assert_eq!(plan.held().iter().map(|i| plan.key(*i).clone()).collect::<Vec<_>>(), [Key::new("y", [])]);
    /// ```
    pub fn lower_with_held(
        graph: &Graph,
        keys: &[Key],
        held: &crate::KeySet,
        holder: &str,
    ) -> Result<Plan, GraphError> {
        let op: Arc<dyn Op> = Arc::new(crate::ops::Held::new(holder));
        let replaced: crate::KeyMap<crate::Task> = (held.iter())
            .filter(|k| graph.contains(k))
            .map(|k| (k.clone(), crate::Task::from_arc(Arc::clone(&op), [])))
            .collect();
        let graph = graph.replace_tasks(replaced, &crate::KeySet::default());
        Plan::lower(&graph, keys)
    }

    /// The tasks whose values are held elsewhere ([`Held`](crate::ops::Held) tasks), ascending.
    pub fn held(&self) -> Vec<u32> {
        (0..self.len() as u32)
            .filter(|i| crate::downcast_op::<crate::ops::Held>(self.op(*i)).is_some())
            .collect()
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the plan has no task.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key of task `id`.
    pub fn key(&self, id: u32) -> &Key {
        &self.keys[id as usize]
    }

    /// All keys, by id.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Whether any task's op [waits](Op::waits) on work outside the scheduler's threads.
    pub fn waits(&self) -> bool {
        self.waits
    }

    /// The op of task `id`.
    pub fn op(&self, id: u32) -> &dyn Op {
        &*self.ops[id as usize]
    }

    /// The requested keys, in request order: what a [`ComputeStart`](crate::ComputeStart)
    /// event lists.
    pub fn output_keys(&self) -> Vec<Key> {
        self.outputs.iter().map(|o| self.key(*o).clone()).collect()
    }

    /// The arguments of task `id`, in order.
    pub fn args(&self, id: u32) -> &[PlanArg] {
        &self.args[self.args_start[id as usize] as usize..self.args_start[id as usize + 1] as usize]
    }

    /// The distinct tasks that `id` depends on, ascending.
    pub fn dependencies(&self, id: u32) -> &[u32] {
        &self.deps[self.deps_start[id as usize] as usize..self.deps_start[id as usize + 1] as usize]
    }

    /// The distinct tasks that depend on `id`, ascending.
    pub fn dependents(&self, id: u32) -> &[u32] {
        &self.dependents[self.dependents_start[id as usize] as usize
            ..self.dependents_start[id as usize + 1] as usize]
    }

    /// How many arguments (of all dependents, repeats counted) read the result of `id`: when
    /// that many have been handed out, the result can be dropped (unless it is an output).
    pub fn uses(&self, id: u32) -> u32 {
        self.uses[id as usize]
    }

    /// The ids of the requested keys, in request order (a key requested twice appears twice).
    pub fn outputs(&self) -> &[u32] {
        &self.outputs
    }

    /// Whether task `id`'s result was requested.
    pub fn is_output(&self, id: u32) -> bool {
        self.is_output[id as usize]
    }

    /// The tasks with no dependencies, ascending: what is ready at the start.
    pub fn initial_ready(&self) -> Vec<u32> {
        (0..self.len() as u32)
            .filter(|i| self.dependencies(*i).is_empty())
            .collect()
    }

    /// Approximate heap bytes held by the plan (not counting the ops and literals it shares).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.keys.capacity() * size_of::<Key>()
            + self.ops.capacity() * size_of::<Arc<dyn Op>>()
            + self.args.capacity() * size_of::<PlanArg>()
            + (self.args_start.capacity()
                + self.deps.capacity()
                + self.deps_start.capacity()
                + self.dependents.capacity()
                + self.dependents_start.capacity()
                + self.uses.capacity()
                + self.outputs.capacity())
                * 4
            + self.is_output.capacity()
    }
}

/// Inverts a CSR adjacency.
fn invert(deps: &[u32], start: &[u32], n: usize) -> (Vec<u32>, Vec<u32>) {
    let mut counts = vec![0u32; n + 1];
    for d in deps {
        counts[*d as usize + 1] += 1;
    }
    for i in 0..n {
        counts[i + 1] += counts[i];
    }
    let out_start = counts.clone();
    let mut out = vec![0u32; deps.len()];
    for i in 0..n {
        for d in &deps[start[i] as usize..start[i + 1] as usize] {
            let slot = &mut counts[*d as usize];
            out[*slot as usize] = i as u32;
            *slot += 1;
        }
    }
    (out, out_start)
}

/// The work under each task (1 + the work under its dependencies, shared ones counted again,
/// saturating), by an iterative post-order; errors on a cycle, naming its keys.
fn weigh(
    deps: &[u32],
    start: &[u32],
    roots: &[u32],
    key_of: impl Fn(u32) -> Key,
) -> Result<Vec<u64>, GraphError> {
    const NEW: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let n = start.len() - 1;
    let mut state = vec![NEW; n];
    let mut weight = vec![0u64; n];
    let mut stack: Vec<(u32, u32)> = Vec::new();
    for &root in roots {
        if state[root as usize] != NEW {
            continue;
        }
        state[root as usize] = OPEN;
        stack.push((root, start[root as usize]));
        while let Some(&mut (node, ref mut cur)) = stack.last_mut() {
            let end = start[node as usize + 1];
            if *cur < end {
                let d = deps[*cur as usize];
                *cur += 1;
                match state[d as usize] {
                    NEW => {
                        state[d as usize] = OPEN;
                        stack.push((d, start[d as usize]));
                    }
                    OPEN => {
                        let from = stack.iter().position(|(x, _)| *x == d).unwrap_or(0);
                        let keys = stack[from..].iter().map(|(x, _)| key_of(*x)).collect();
                        return Err(GraphError::Cycle { keys });
                    }
                    _ => {}
                }
            } else {
                let w = deps[start[node as usize] as usize..end as usize]
                    .iter()
                    .fold(1u64, |w, d| w.saturating_add(weight[*d as usize]));
                weight[node as usize] = w;
                state[node as usize] = DONE;
                stack.pop();
            }
        }
    }
    Ok(weight)
}

/// Numbers the tasks: a depth-first post-order from the outputs (heaviest first) over rows
/// already sorted by preference, with two rules that finish work early:
/// - a task whose result has exactly one dependent numbers that dependent at once when it
///   becomes ready (chains run straight through);
/// - a ready task off the current path whose single-dependent chain ends in an output is
///   numbered before the path opens a new branch (it frees its inputs and costs nothing later);
/// - so is a ready task off the path whose running (with the single-dependent chain it
///   completes) lets more inputs go than it makes results. (`x * x[::-1]` reads every block
///   twice, once mirrored; without this rule each block waits in memory for its mirror's
///   turn: half the array at once.)
fn order(
    deps: &[u32],
    deps_start: &[u32],
    dependents: &[u32],
    dependents_start: &[u32],
    outputs: &[u32],
    weight: &[u64],
) -> Vec<u32> {
    let n = deps_start.len() - 1;
    let mut o = Orderer {
        deps,
        deps_start,
        dependents,
        dependents_start,
        prio: vec![NONE; n],
        remaining: (0..n).map(|i| deps_start[i + 1] - deps_start[i]).collect(),
        readers: (0..n)
            .map(|i| dependents_start[i + 1] - dependents_start[i])
            .collect(),
        on_stack: vec![false; n],
        runnable: Vec::new(),
        next: 0,
    };
    let mut roots: Vec<u32> = outputs.to_vec();
    roots.sort_by(|a, b| weight[*b as usize].cmp(&weight[*a as usize]));
    let mut stack: Vec<(u32, u32)> = Vec::new();
    for root in roots {
        if o.prio[root as usize] != NONE {
            continue;
        }
        o.on_stack[root as usize] = true;
        stack.push((root, deps_start[root as usize]));
        while let Some(&mut (node, ref mut cur)) = stack.last_mut() {
            if o.prio[node as usize] != NONE {
                o.on_stack[node as usize] = false;
                stack.pop();
                continue;
            }
            let end = deps_start[node as usize + 1];
            while *cur < end && o.prio[deps[*cur as usize] as usize] != NONE {
                *cur += 1;
            }
            if *cur < end {
                let d = deps[*cur as usize];
                *cur += 1;
                o.flush();
                if o.prio[d as usize] == NONE {
                    o.on_stack[d as usize] = true;
                    stack.push((d, deps_start[d as usize]));
                }
            } else {
                o.on_stack[node as usize] = false;
                stack.pop();
                o.number(node);
            }
        }
        o.flush();
    }
    o.prio
}

struct Orderer<'a> {
    deps: &'a [u32],
    deps_start: &'a [u32],
    dependents: &'a [u32],
    dependents_start: &'a [u32],
    prio: Vec<u32>,
    /// Per task, its dependencies not numbered yet: 0 when it is ready.
    remaining: Vec<u32>,
    /// Per task, its dependents not numbered yet: 0 when its result can go.
    readers: Vec<u32>,
    on_stack: Vec<bool>,
    runnable: Vec<u32>,
    next: u32,
}

impl Orderer<'_> {
    fn dependents(&self, i: u32) -> &[u32] {
        &self.dependents[self.dependents_start[i as usize] as usize
            ..self.dependents_start[i as usize + 1] as usize]
    }

    fn deps(&self, i: u32) -> &[u32] {
        &self.deps[self.deps_start[i as usize] as usize..self.deps_start[i as usize + 1] as usize]
    }

    /// Whether running ready task `x`, then the chain of single dependents each completes,
    /// holds fewer results at some point than now: every task makes one result and lets go
    /// each input it is the last reader of.
    fn frees_memory(&self, mut x: u32) -> bool {
        let mut net: i64 = 0;
        loop {
            net -= 1;
            net += self
                .deps(x)
                .iter()
                .filter(|q| self.readers[**q as usize] == 1)
                .count() as i64;
            if net > 0 {
                return true;
            }
            match self.dependents(x) {
                [m] if self.remaining[*m as usize] == 1 => x = *m,
                _ => return false,
            }
        }
    }

    fn number(&mut self, start: u32) {
        let mut node = start;
        loop {
            self.prio[node as usize] = self.next;
            self.next += 1;
            // An input now read by one task only: that task, if ready, lets it go.
            for k in self.deps_start[node as usize]..self.deps_start[node as usize + 1] {
                let p = self.deps[k as usize];
                self.readers[p as usize] -= 1;
                if self.readers[p as usize] == 1
                    && let Some(&u) = self
                        .dependents(p)
                        .iter()
                        .find(|u| self.prio[**u as usize] == NONE && **u != node)
                    && self.remaining[u as usize] == 0
                    && !self.on_stack[u as usize]
                    && self.frees_memory(u)
                {
                    self.runnable.push(u);
                }
            }
            let (a, b) = (
                self.dependents_start[node as usize] as usize,
                self.dependents_start[node as usize + 1] as usize,
            );
            for i in a..b {
                let d = self.dependents[i];
                self.remaining[d as usize] -= 1;
                if self.remaining[d as usize] == 0
                    && b - a > 1
                    && !self.on_stack[d as usize]
                    && (self.ends_in_output(d) || self.frees_memory(d))
                {
                    self.runnable.push(d);
                }
            }
            match self.dependents(node) {
                [m] if self.remaining[*m as usize] == 0 && self.prio[*m as usize] == NONE => {
                    node = *m
                }
                _ => break,
            }
        }
    }

    /// Whether following single dependents from `x`, each completed by the one before, ends
    /// in a task nothing depends on.
    fn ends_in_output(&self, mut x: u32) -> bool {
        loop {
            match self.dependents(x) {
                [] => return true,
                [m] if self.remaining[*m as usize] == 1 => x = *m,
                _ => return false,
            }
        }
    }

    fn flush(&mut self) {
        while !self.runnable.is_empty() {
            for r in std::mem::take(&mut self.runnable) {
                if self.prio[r as usize] == NONE {
                    self.number(r);
                }
            }
        }
    }
}
