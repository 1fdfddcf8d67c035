//! The optimization-pass runner: a collection's rewriting passes, registered where they are
//! written (DataFusion's optimizer-rule list), run in order over a culled graph, each only when
//! the op type it rewrites is in the graph.
//!
//! A pass is a function `fn(&Graph, &KeySet) -> Graph` (the set holds the output keys, which no
//! pass may remove). Register it for a collection with
//! [`register_pass!`](crate::register_pass) — no start-up code, like the op registry — and
//! the collection's `optimized_graph` calls [`optimize`] with its name. Or build a
//! [`Passes`] list by hand.
//!
//! ```
//! use rask_graph::optimize::{optimize, Passes};
//! use rask_graph::{ops::AddConst, Graph, Key, KeySet, Layer, Task, Arg, Value};
//!
//! /// A pass that changes nothing (a real one rewrites the tasks it finds).
//! fn fold_constants(g: &Graph, _keep: &KeySet) -> Graph { g.clone() }
//!
//! let mut g = Graph::new();
//! g.add_layer(Layer::per_partition("x", 3, |i| Task::new(AddConst(1), [Arg::Value(Value::new(i as i64))])));
//! let keys = [Key::new("x", [0])];
//! let passes = Passes::new().when::<AddConst>("fold-constants", fold_constants);
//! let out = passes.run(&g, &keys)?;
//! assert_eq!(out.len(), 1); // culled to what the key needs
//!
//! // Passes registered for a collection named "doc-example" (none here): just the cull.
//! assert_eq!(optimize("doc-example", &g, &keys)?.len(), 1);
//! # Ok::<(), rask_graph::GraphError>(())
//! ```

use std::any::TypeId;

use rustc_hash::FxHashSet;

use crate::{Graph, GraphError, Key, KeySet, Op};

/// A rewriting pass: the graph (culled to the outputs) and the output keys in, a graph out.
pub type PassFn = fn(&Graph, &KeySet) -> Graph;

/// A pass registered for a collection; see [`register_pass!`](crate::register_pass).
#[derive(Debug)]
pub struct Pass {
    /// The collection it belongs to (`"array"`, `"bag"`, …).
    pub collection: &'static str,
    /// Passes run by ascending order (ties by name).
    pub order: i32,
    /// A name for messages and tests.
    pub name: &'static str,
    /// The op type the pass rewrites: when no task of the graph has it, the pass is skipped.
    /// `None` runs it always.
    pub trigger: Option<fn() -> TypeId>,
    /// The pass.
    pub run: PassFn,
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static PASSES: [Pass];

/// Registers an optimization pass for a collection, where the pass is written.
///
/// ```
/// use rask_graph::{Graph, KeySet};
///
/// fn nothing(g: &Graph, _keep: &KeySet) -> Graph { g.clone() }
///
/// // Runs for "mycoll" only when a task's op is a `Sum`, after passes of lower order.
/// rask_graph::register_pass!("mycoll", 10, "nothing", rask_graph::ops::Sum, nothing);
/// // Runs always.
/// rask_graph::register_pass!("mycoll", 20, "nothing-always", nothing);
///
/// let names: Vec<&str> = rask_graph::optimize::registered("mycoll").iter().map(|p| p.name).collect();
/// assert_eq!(names, ["nothing", "nothing-always"]);
/// ```
#[macro_export]
macro_rules! register_pass {
    ($collection:expr, $order:expr, $name:expr, $trigger:ty, $run:expr) => {
        $crate::register_pass!(@ $collection, $order, $name,
            Some(|| ::std::any::TypeId::of::<$trigger>()), $run);
    };
    ($collection:expr, $order:expr, $name:expr, $run:expr) => {
        $crate::register_pass!(@ $collection, $order, $name, None, $run);
    };
    (@ $collection:expr, $order:expr, $name:expr, $trigger:expr, $run:expr) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::optimize::PASSES)]
            #[linkme(crate = $crate::__private::linkme)]
            static PASS: $crate::optimize::Pass = $crate::optimize::Pass {
                collection: $collection,
                order: $order,
                name: $name,
                trigger: $trigger,
                run: $run,
            };
        };
    };
}

/// The passes registered for `collection`, in the order they run.
pub fn registered(collection: &str) -> Vec<&'static Pass> {
    let mut list: Vec<&'static Pass> = PASSES
        .iter()
        .filter(|p| p.collection == collection)
        .collect();
    list.sort_by_key(|p| (p.order, p.name));
    list
}

/// The op types present in a graph: what decides which passes run.
#[derive(Debug, Default)]
pub struct Census(FxHashSet<TypeId>);

impl Census {
    /// Every op type of `graph`'s tasks.
    pub fn of(graph: &Graph) -> Self {
        let mut types = FxHashSet::default();
        for layer in graph.layers() {
            types.extend(layer.op_types().iter().copied());
        }
        Self(types)
    }

    /// Whether a task's op has type `O`.
    pub fn contains<O: Op>(&self) -> bool {
        self.0.contains(&TypeId::of::<O>())
    }

    /// Whether a task's op has this type.
    pub fn contains_id(&self, id: TypeId) -> bool {
        self.0.contains(&id)
    }
}

/// A list of passes, run in the order they were added.
#[derive(Debug, Default, Clone)]
pub struct Passes {
    list: Vec<(&'static str, Option<TypeId>, PassFn)>,
}

impl Passes {
    /// No passes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The passes registered for `collection`, in their order.
    pub fn registered(collection: &str) -> Self {
        Self {
            list: registered(collection)
                .into_iter()
                .map(|p| (p.name, p.trigger.map(|t| t()), p.run))
                .collect(),
        }
    }

    /// Adds a pass that always runs.
    pub fn always(mut self, name: &'static str, run: PassFn) -> Self {
        self.list.push((name, None, run));
        self
    }

    /// Adds a pass that runs only when a task's op has type `O`.
    pub fn when<O: Op>(mut self, name: &'static str, run: PassFn) -> Self {
        self.list.push((name, Some(TypeId::of::<O>()), run));
        self
    }

    /// The passes' names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(|(n, _, _)| *n).collect()
    }

    /// Culls `graph` to what `keys` need and runs each pass whose op type is among the op
    /// types of the graph it would be given. The census is retaken after each pass that ran
    /// (from what each layer recorded of its ops as they were inserted): a pass whose tasks an
    /// earlier pass fused away is skipped (it would walk millions of tasks to find nothing),
    /// and a pass may rewrite an op type an earlier one made.
    pub fn run(&self, graph: &Graph, keys: &[Key]) -> Result<Graph, GraphError> {
        let mut g = graph.cull(keys)?;
        if self.list.is_empty() {
            return Ok(g);
        }
        // Each layer knows its op types: a census costs one step per layer, not per task.
        let mut census = Census::of(&g);
        let keep: KeySet = keys.iter().cloned().collect();
        for (_, trigger, run) in &self.list {
            if trigger.is_none_or(|t| census.contains_id(t)) {
                g = run(&g, &keep);
                census = Census::of(&g);
            }
        }
        Ok(g)
    }
}

/// Culls `graph` to `keys` and runs the passes registered for `collection` over it.
pub fn optimize(collection: &str, graph: &Graph, keys: &[Key]) -> Result<Graph, GraphError> {
    Passes::registered(collection).run(graph, keys)
}
