//! The scheduler and collection traits.

use std::fmt;

use crate::{Callback, ComputeError, Graph, Key, Value};

/// Runs graphs. One required method: compute `keys` from `graph` and return their values in
/// order, telling `callbacks` what happens.
///
/// ```
/// use rask_graph::{Callback, ComputeError, Graph, Key, Plan, Scheduler, Value, PlanArg};
///
/// /// Runs tasks one after another in plan order, keeping every result.
/// #[derive(Debug)]
/// struct Naive;
///
/// impl Scheduler for Naive {
///     fn get(&self, graph: &Graph, keys: &[Key], _cb: &[&dyn Callback]) -> Result<Vec<Value>, ComputeError> {
///         let plan = Plan::lower(graph, keys)?;
///         let mut results: Vec<Value> = Vec::with_capacity(plan.len());
///         for id in 0..plan.len() as u32 {
///             let args = plan.args(id).iter().map(|a| match a {
///                 PlanArg::Task(t) => results[*t as usize].clone(),
///                 PlanArg::Value(v) => v.clone(),
///             }).collect();
///             let v = plan.op(id).run(args).map_err(|cause| ComputeError::Task {
///                 key: plan.key(id).clone(), op: plan.op(id).name().to_string(), cause,
///             })?;
///             results.push(v);
///         }
///         Ok(plan.outputs().iter().map(|o| results[*o as usize].clone()).collect())
///     }
/// }
///
/// let x = rask_graph::delayed::value(2i64).map("inc", |x| x + 1);
/// use rask_graph::Collection;
/// assert_eq!(x.compute_on(&Naive, &[]).unwrap(), 3);
/// ```
pub trait Scheduler: Send + Sync + fmt::Debug {
    /// Computes `keys`.
    fn get(
        &self,
        graph: &Graph,
        keys: &[Key],
        callbacks: &[&dyn Callback],
    ) -> Result<Vec<Value>, ComputeError>;

    /// A short name for messages (`"sync"`, `"threaded"`, …).
    fn name(&self) -> &str {
        "custom"
    }
}

/// A lazy collection: a graph, the keys that make up its result, and how to assemble them.
///
/// Collections never name a concrete scheduler; computing goes through [`Scheduler`].
pub trait Collection {
    /// What computing the collection gives.
    type Output;

    /// The graph (it may hold more than the collection needs; it is culled before running).
    fn graph(&self) -> &Graph;

    /// The keys whose values make up the result.
    fn output_keys(&self) -> Vec<Key>;

    /// Assembles the result from the values of [`output_keys`](Collection::output_keys).
    fn finalize(&self, values: Vec<Value>) -> Result<Self::Output, ComputeError>;

    /// The same collection over another graph holding the same keys (used by `persist`).
    fn rebuild(&self, graph: Graph) -> Self
    where
        Self: Sized;

    /// The graph as it will run. By default the graph itself: lowering culls it to what the
    /// output keys need, and on the in-process schedulers a task costs less than fusing it
    /// away would ([`Graph::fuse_linear`] is there for schedulers and collections that gain
    /// from it). Collections override this with their own optimizations.
    fn optimized_graph(&self) -> Result<Graph, ComputeError> {
        Ok(self.graph().clone())
    }

    /// Computes on `scheduler`, telling `callbacks`.
    fn compute_on(
        &self,
        scheduler: &dyn Scheduler,
        callbacks: &[&dyn Callback],
    ) -> Result<Self::Output, ComputeError> {
        let keys = self.output_keys();
        let graph = self.optimized_graph()?;
        let values = scheduler.get(&graph, &keys, callbacks)?;
        self.finalize(values)
    }

    /// Computes on `scheduler` and returns the same collection backed by the ready values.
    fn persist_on(
        &self,
        scheduler: &dyn Scheduler,
        callbacks: &[&dyn Callback],
    ) -> Result<Self, ComputeError>
    where
        Self: Sized,
    {
        let keys = self.output_keys();
        let graph = self.optimized_graph()?;
        let values = scheduler.get(&graph, &keys, callbacks)?;
        Ok(self.rebuild(crate::graph_of_values(&keys, values)))
    }
}

/// A graph in which each key is a ready value.
pub fn graph_of_values(keys: &[Key], values: Vec<Value>) -> Graph {
    let mut layers: indexmap::IndexMap<&str, crate::Layer, rustc_hash::FxBuildHasher> =
        indexmap::IndexMap::default();
    for (key, value) in keys.iter().zip(values) {
        layers
            .entry(key.name())
            .or_insert_with(|| crate::Layer::new(std::sync::Arc::clone(key.name_arc())))
            .insert(key.index().iter().copied(), crate::Task::literal(value));
    }
    let mut g = Graph::new();
    for (_, l) in layers {
        g.add_layer(l);
    }
    g
}
