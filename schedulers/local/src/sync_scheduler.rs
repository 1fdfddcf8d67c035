//! The synchronous scheduler.

use rask_graph::{Callback, ComputeError, Graph, Key, Scheduler, Value, exec};

/// Runs every task on the calling thread, in priority order: the reference oracle.
///
/// ```
/// use rask_graph::{delayed, Collection};
/// use rask_local::SyncScheduler;
///
/// let x = delayed::value(2.0f64).map("square", |x| x * x);
/// assert_eq!(x.compute_on(&SyncScheduler, &[]).unwrap(), 4.0);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncScheduler;

impl Scheduler for SyncScheduler {
    fn get(
        &self,
        graph: &Graph,
        keys: &[Key],
        callbacks: &[&dyn Callback],
    ) -> Result<Vec<Value>, ComputeError> {
        exec::run_in_order(graph, keys, callbacks)
    }

    fn name(&self) -> &str {
        "sync"
    }
}
