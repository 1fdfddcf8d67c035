//! Several collections computed in one go: Dask's `dask.compute(a, b)`.

use crate::{Collection, ComputeError, Graph, Key, Scheduler, Value};

/// A tuple of collections (by reference) that compute together: their optimized graphs are
/// merged, so a task they share runs once, and one scheduler call computes every output.
///
/// ```
/// use rask_graph::{compute_all_with, delayed, exec, Callback, ComputeError, Graph, Key, Scheduler, Value};
/// # #[derive(Debug)] struct Inline;
/// # impl Scheduler for Inline {
/// #     fn get(&self, g: &Graph, k: &[Key], c: &[&dyn Callback]) -> Result<Vec<Value>, ComputeError> { exec::run_in_order(g, k, c) }
/// # }
/// let x = delayed::value(2i64).map("double", |x| x * 2);
/// let y = x.map("inc", |x| x + 1);
/// let (a, b) = compute_all_with((&x, &y), &Inline)?;
/// assert_eq!((a, b), (4, 5));
/// # Ok::<(), ComputeError>(())
/// ```
pub trait Together {
    /// The tuple of results.
    type Output;

    /// Each collection's optimized graph and output keys, in order.
    fn parts(&self) -> Result<Vec<(Graph, Vec<Key>)>, ComputeError>;

    /// Each collection's result from its values, in order.
    fn finish(&self, values: Vec<Vec<Value>>) -> Result<Self::Output, ComputeError>;

    /// Tells every collection that computing them failed ([`Collection::on_failure`]).
    fn failed(&self, error: &ComputeError);
}

macro_rules! together {
    ($($c:ident $i:tt),+) => {
        impl<$($c: Collection),+> Together for ($(&$c,)+) {
            type Output = ($($c::Output,)+);

            fn parts(&self) -> Result<Vec<(Graph, Vec<Key>)>, ComputeError> {
                Ok(vec![$({
                    self.$i.check()?;
                    (self.$i.optimized_graph()?, self.$i.output_keys())
                }),+])
            }

            fn finish(&self, values: Vec<Vec<Value>>) -> Result<Self::Output, ComputeError> {
                let mut values = values.into_iter();
                Ok(($(self.$i.finalize(values.next().unwrap_or_default())?,)+))
            }

            fn failed(&self, error: &ComputeError) {
                $(self.$i.on_failure(error);)+
            }
        }
    };
}

together!(A 0);
together!(A 0, B 1);
together!(A 0, B 1, C 2);
together!(A 0, B 1, C 2, D 3);

/// Computes several collections in one go on `scheduler`, telling the current callbacks.
pub fn compute_all_with<T: Together>(
    collections: T,
    scheduler: &dyn Scheduler,
) -> Result<T::Output, ComputeError> {
    let parts = collections.parts()?;
    let graph = Graph::merged(parts.iter().map(|(g, _)| g));
    let keys: Vec<Key> = parts.iter().flat_map(|(_, k)| k.iter().cloned()).collect();
    let values = crate::config::with_callbacks(|cbs| scheduler.get(&graph, &keys, cbs))
        .inspect_err(|e| collections.failed(e))?;
    crate::scheduler::one_value_per_key(&keys, &values)?;
    let mut values = values.into_iter();
    let split = parts
        .iter()
        .map(|(_, k)| values.by_ref().take(k.len()).collect())
        .collect();
    collections.finish(split)
}

/// Computes several collections in one go on the default scheduler (Dask's
/// `dask.compute(a, b)`); see [`Together`].
pub fn compute_all<T: Together>(collections: T) -> Result<T::Output, ComputeError> {
    compute_all_with(collections, &*crate::config::scheduler())
}
