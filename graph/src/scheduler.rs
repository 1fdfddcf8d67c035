//! The scheduler and collection traits.

use std::fmt;

use crate::{Callback, ComputeError, Graph, Key, Value};

/// Runs graphs. One required method: compute `keys` from `graph` and return their values in
/// order, telling `callbacks` what happens.
///
/// ```
/// use rask_graph::{Callback, ComputeError, Graph, Key, Plan, Scheduler, Value, PlanArg};
///
/// /// Runs tasks one after another in plan order, keeping every result (`rask_graph::exec`
/// /// has the pieces that do this well).
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
///             // Arity checked, errors and panics caught and named.
///             results.push(rask_graph::exec::run_task(&plan, id, args)?);
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

    /// Computes `keys` and returns a graph that holds them ready, for
    /// [`Collection::persist`]. The default computes them with [`get`](Scheduler::get) and
    /// returns a graph of the values themselves ([`graph_of_values`]); a scheduler whose results
    /// live elsewhere (on a cluster's workers) overrides it to keep them there and return a
    /// graph of references to them.
    fn persist(
        &self,
        graph: &Graph,
        keys: &[Key],
        callbacks: &[&dyn Callback],
    ) -> Result<Graph, ComputeError> {
        let values = self.get(graph, keys, callbacks)?;
        one_value_per_key(keys, &values)?;
        Ok(graph_of_values(keys, values))
    }
}

/// A lazy collection: a graph, the keys that make up its result, and how to assemble them.
///
/// Collections never name a concrete scheduler; computing goes through [`Scheduler`]:
/// [`compute`](Collection::compute) and [`persist`](Collection::persist) on the default one
/// (see [`config`](crate::config)), the `…_with` forms on a given one.
pub trait Collection {
    /// What computing the collection gives.
    type Output;

    /// The graph (it may hold more than the collection needs; it is culled before running).
    fn graph(&self) -> &Graph;

    /// The keys whose values make up the result.
    fn output_keys(&self) -> Vec<Key>;

    /// Assembles the result from the values of [`output_keys`](Collection::output_keys).
    fn finalize(&self, values: Vec<Value>) -> Result<Self::Output, ComputeError>;

    /// An error kept from building the collection, if there is one (an operator that cannot
    /// return an error, such as `a + b` on shapes that do not broadcast, keeps it until
    /// compute time). Computing and drawing return it. By default, none.
    fn check(&self) -> Result<(), ComputeError> {
        Ok(())
    }

    /// Called when computing the collection failed (its scheduler returned an error; no task
    /// of it runs any more): a collection whose tasks leave something behind when they do not
    /// all finish — a partial file — cleans it up here. By default, nothing.
    fn on_failure(&self, _error: &ComputeError) {}

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

    /// Computes on the current default scheduler (see [`config`](crate::config)), telling the
    /// current callbacks.
    ///
    /// ```
    /// use rask_graph::{config, delayed, exec, Collection};
    /// # #[derive(Debug)] struct Inline;
    /// # impl rask_graph::Scheduler for Inline {
    /// #     fn get(&self, g: &rask_graph::Graph, k: &[rask_graph::Key], c: &[&dyn rask_graph::Callback])
    /// #         -> Result<Vec<rask_graph::Value>, rask_graph::ComputeError> { exec::run_in_order(g, k, c) }
    /// # }
    /// let _default = config::set_scheduler(Inline);
    /// let x = delayed::value(2i64).map("double", |x| x * 2);
    /// assert_eq!(x.compute()?, 4);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    fn compute(&self) -> Result<Self::Output, ComputeError> {
        self.compute_with(&*crate::config::scheduler())
    }

    /// Computes on `scheduler`, telling the current callbacks.
    fn compute_with(&self, scheduler: &dyn Scheduler) -> Result<Self::Output, ComputeError> {
        crate::config::with_callbacks(|cbs| self.compute_on(scheduler, cbs))
    }

    /// Computes on `scheduler`, telling `callbacks` (and not the current ones).
    fn compute_on(
        &self,
        scheduler: &dyn Scheduler,
        callbacks: &[&dyn Callback],
    ) -> Result<Self::Output, ComputeError> {
        self.check()?;
        let keys = self.output_keys();
        let graph = self.optimized_graph()?;
        let values = scheduler
            .get(&graph, &keys, callbacks)
            .inspect_err(|e| self.on_failure(e))?;
        one_value_per_key(&keys, &values)?;
        self.finalize(values)
    }

    /// Computes on the default scheduler and returns the same collection backed by its ready
    /// results, so later computations start from them (Dask's `persist`). Where the results
    /// stay is the scheduler's choice ([`Scheduler::persist`]): the local ones keep them in
    /// this process.
    ///
    /// ```
    /// use rask_graph::{config, delayed, exec, Collection};
    /// # #[derive(Debug)] struct Inline;
    /// # impl rask_graph::Scheduler for Inline {
    /// #     fn get(&self, g: &rask_graph::Graph, k: &[rask_graph::Key], c: &[&dyn rask_graph::Callback])
    /// #         -> Result<Vec<rask_graph::Value>, rask_graph::ComputeError> { exec::run_in_order(g, k, c) }
    /// # }
    /// let _default = config::set_scheduler(Inline);
    /// let x = delayed::value(3i64).map("cube", |x| x * x * x);
    /// let p = x.persist()?;
    /// assert_eq!(p.graph().len(), 1);
    /// assert_eq!(p.compute()?, 27);
    /// # Ok::<(), rask_graph::ComputeError>(())
    /// ```
    fn persist(&self) -> Result<Self, ComputeError>
    where
        Self: Sized,
    {
        self.persist_with(&*crate::config::scheduler())
    }

    /// [`persist`](Collection::persist) on `scheduler`, telling the current callbacks.
    fn persist_with(&self, scheduler: &dyn Scheduler) -> Result<Self, ComputeError>
    where
        Self: Sized,
    {
        crate::config::with_callbacks(|cbs| self.persist_on(scheduler, cbs))
    }

    /// [`persist`](Collection::persist) on `scheduler`, telling `callbacks`.
    fn persist_on(
        &self,
        scheduler: &dyn Scheduler,
        callbacks: &[&dyn Callback],
    ) -> Result<Self, ComputeError>
    where
        Self: Sized,
    {
        self.check()?;
        let keys = self.output_keys();
        let graph = self.optimized_graph()?;
        let held = scheduler
            .persist(&graph, &keys, callbacks)
            .inspect_err(|e| self.on_failure(e))?;
        Ok(self.rebuild(held))
    }
}

/// What a scheduler returned has one value per key asked for, or it is an error.
pub(crate) fn one_value_per_key(keys: &[Key], values: &[Value]) -> Result<(), ComputeError> {
    if values.len() == keys.len() {
        Ok(())
    } else {
        Err(ComputeError::ResultCount {
            expected: keys.len(),
            found: values.len(),
        })
    }
}

/// A graph in which each key is a ready value.
pub fn graph_of_values(keys: &[Key], values: Vec<Value>) -> Graph {
    graph_of_tasks(
        keys.iter()
            .zip(values.into_iter().map(crate::Task::literal)),
    )
}

/// A graph of these keys' tasks, one layer per key name (what a scheduler's
/// [`persist`](Scheduler::persist) returns: ready values, or references to results held
/// elsewhere).
///
/// ```
/// use rask_graph::{Key, Task, Value, graph_of_tasks};
/// let (a, b) = (Key::new("x", [0]), Key::new("x", [1]));
/// let g = graph_of_tasks([(&a, Task::literal(Value::new(1i64))), (&b, Task::literal(Value::new(2i64)))]);
/// assert_eq!(g.len(), 2);
/// ```
pub fn graph_of_tasks<'k>(tasks: impl IntoIterator<Item = (&'k Key, crate::Task)>) -> Graph {
    let mut layers: indexmap::IndexMap<&str, crate::Layer, rustc_hash::FxBuildHasher> =
        indexmap::IndexMap::default();
    for (key, task) in tasks {
        layers
            .entry(key.name())
            .or_insert_with(|| crate::Layer::new(std::sync::Arc::clone(key.name_arc())))
            .insert(key.index().iter().copied(), task);
    }
    let mut g = Graph::new();
    for (_, l) in layers {
        g.add_layer(l);
    }
    g
}
