//! Futures: results that stay on the cluster while a [`Future`] of them lives (Dask's
//! `client.submit`, `map`, `scatter`, `compute`, `gather`, `wait`, `as_completed`,
//! `cancel`). A future is a handle on keys held by the client; the last clone dropped lets
//! them go, and the scheduler releases what nothing else needs.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use rask_graph::{Collection, ComputeError, Datum, Delayed, Key, Plan, Value, delayed};

use crate::DistributedError;
use crate::client::{Client, Link, Request, encode};
use crate::error::failed;

/// Sends `keys` of `graph` to be computed and held on the cluster (not waited for): the hold
/// on them, each distinct key once.
fn submit(
    link: &Arc<Link>,
    graph: &rask_graph::Graph,
    keys: &[Key],
) -> Result<Arc<Held>, ComputeError> {
    let plan = Plan::lower(graph, keys)?;
    let enc = encode(&plan)?;
    let mut wanted = keys.to_vec();
    wanted.sort();
    wanted.dedup();
    (link.requests)
        .send(Request::Submit {
            enc,
            wanted: wanted.clone(),
        })
        .map_err(|_| failed(DistributedError::Disconnected))?;
    Ok(Arc::new(Held {
        keys: wanted,
        link: Arc::clone(link),
    }))
}

/// Waits until each of `keys` (held) is in memory or failed.
fn wait_for(link: &Link, keys: &[Key]) {
    for k in keys {
        let _ = link.ask(|reply| Request::Done {
            key: k.clone(),
            reply,
        });
    }
}

/// The value of held key `key`, brought here when it is in memory; its error if it failed.
fn value_of(link: &Link, key: &Key) -> Result<Value, ComputeError> {
    (link.ask(|reply| Request::Value {
        key: key.clone(),
        reply,
    }))
    .unwrap_or_else(|| Err(failed(DistributedError::Disconnected)))
}

/// Where a future stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FutureStatus {
    /// Not computed yet.
    Pending,
    /// Its result is in memory on the cluster.
    Finished,
    /// It failed (or an input did).
    Error,
    /// No longer held (cancelled).
    Released,
}

/// Turns the values of a future's keys into its result.
type Finalize<T> = Arc<dyn Fn(Vec<Value>) -> Result<T, ComputeError> + Send + Sync>;

/// A result held on the cluster (Dask's `Future`): [`result`](Future::result) waits for it
/// and brings it here; while any clone lives, the cluster keeps it.
///
/// ```no_run
/// use rask_distributed::{Client, LocalCluster};
/// use rask_graph::{Arg, Delayed, Value, ops::AddConst};
///
/// let cluster = LocalCluster::builder().n_workers(2).build()?;
/// let client = Client::new(&cluster)?;
/// let x: Delayed<i64> = Delayed::from_op(AddConst(1), vec![Arg::Value(Value::new(41i64))], &[]);
/// let f = client.submit(&x)?;
/// assert_eq!(f.result()?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Future<T> {
    keys: Arc<Held>,
    finalize: Finalize<T>,
    _t: PhantomData<fn() -> T>,
}

/// The keys of a future, released when the last clone goes.
pub(crate) struct Held {
    keys: Vec<Key>,
    link: Arc<Link>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = (self.link.requests).send(Request::Release {
            keys: std::mem::take(&mut self.keys),
        });
    }
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Self {
            keys: Arc::clone(&self.keys),
            finalize: Arc::clone(&self.finalize),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Future: {}, key: ", self.status_text())?;
        match &self.keys.keys[..] {
            [k] => write!(f, "{k}>"),
            ks => write!(f, "{} keys>", ks.len()),
        }
    }
}

impl<T> Future<T> {
    /// Its key (the first of them, for a collection's).
    pub fn key(&self) -> &Key {
        &self.keys.keys[0]
    }

    /// Where it stands: pending, finished, error.
    pub fn status(&self) -> FutureStatus {
        let mut worst = FutureStatus::Finished;
        for k in &self.keys.keys {
            let s = (self.keys.link)
                .ask(|reply| Request::Status {
                    key: k.clone(),
                    reply,
                })
                .unwrap_or(FutureStatus::Released);
            if s != FutureStatus::Finished {
                worst = s;
                if s != FutureStatus::Pending {
                    break;
                }
            }
        }
        worst
    }

    fn status_text(&self) -> &'static str {
        match self.status() {
            FutureStatus::Pending => "pending",
            FutureStatus::Finished => "finished",
            FutureStatus::Error => "error",
            FutureStatus::Released => "released",
        }
    }

    /// Whether it is finished or failed.
    pub fn done(&self) -> bool {
        self.status() != FutureStatus::Pending
    }

    /// Waits until it is finished or failed.
    pub fn wait(&self) {
        wait_for(&self.keys.link, &self.keys.keys);
    }

    /// Waits for its result and brings it here (it stays on the cluster too).
    pub fn result(&self) -> Result<T, ComputeError> {
        let mut values = Vec::with_capacity(self.keys.keys.len());
        for k in &self.keys.keys {
            values.push(value_of(&self.keys.link, k)?);
        }
        (self.finalize)(values)
    }

    /// Lets its result go (Dask's `cancel`): not computed if nothing else needs it, released
    /// if it was.
    pub fn cancel(self) {
        drop(self);
    }
}

impl Client {
    /// Starts computing `collection` on the cluster and returns at once (Dask's
    /// `client.compute`): a future of its result.
    pub fn compute_future<C>(&self, collection: &C) -> Result<Future<C::Output>, ComputeError>
    where
        C: Collection + Clone + Send + Sync + 'static,
    {
        collection.check()?;
        let keys = collection.output_keys();
        let graph = collection.optimized_graph()?;
        let held = submit(self.link(), &graph, &keys)?;
        let wanted = held.keys.clone();
        let c = collection.clone();
        // The values come back per distinct key; the collection wants them per output.
        let finalize: Finalize<C::Output> = Arc::new(move |values: Vec<Value>| {
            let by_key: std::collections::HashMap<&Key, &Value> =
                wanted.iter().zip(values.iter()).collect();
            let ordered = (keys.iter())
                .map(|k| by_key.get(k).map(|v| (*v).clone()))
                .collect::<Option<Vec<Value>>>()
                .ok_or(ComputeError::ResultCount {
                    expected: keys.len(),
                    found: values.len(),
                })?;
            c.finalize(ordered)
        });
        Ok(Future {
            keys: held,
            finalize,
            _t: PhantomData,
        })
    }

    /// A future of a delayed value (Dask's `client.submit`): computed on the cluster,
    /// held there while the future lives.
    pub fn submit<T: Datum + Clone>(&self, d: &Delayed<T>) -> Result<Future<T>, ComputeError> {
        self.compute_future(d)
    }

    /// `f` over every item, on the cluster (Dask's `client.map`): a future per item. `f`
    /// must be a `#[named]` function (a closure cannot leave this process).
    pub fn map<A, R, F>(
        &self,
        name: &str,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<Future<R>>, ComputeError>
    where
        A: Datum,
        R: Datum + Clone,
        F: Fn(&A) -> R + Clone + Send + Sync + 'static,
    {
        (items.into_iter())
            .map(|a| self.submit(&delayed::value(a).map(name, f.clone())))
            .collect()
    }

    /// Places values on the workers (Dask's `client.scatter`): a future per value, for
    /// later tasks to read where it lies. Their types must be registered.
    pub fn scatter<T: Datum + Clone>(
        &self,
        values: impl IntoIterator<Item = T>,
    ) -> Result<Vec<Future<T>>, ComputeError> {
        (values.into_iter())
            .map(|v| self.submit(&delayed::value(v)))
            .collect()
    }

    /// The results of `futures`, in order (Dask's `client.gather`).
    pub fn gather<T>(&self, futures: &[Future<T>]) -> Result<Vec<T>, ComputeError> {
        futures.iter().map(Future::result).collect()
    }

    /// Waits until every future is finished or failed (Dask's `wait`).
    pub fn wait<T>(&self, futures: &[Future<T>]) {
        for f in futures {
            f.wait();
        }
    }

    /// Lets `futures` go (Dask's `client.cancel`).
    pub fn cancel<T>(&self, futures: Vec<Future<T>>) {
        drop(futures);
    }
}

/// `futures` in the order they finish (Dask's `as_completed`).
///
/// ```no_run
/// # use rask_distributed::{Client, LocalCluster, as_completed};
/// # let cluster = LocalCluster::builder().n_workers(2).build()?;
/// # let client = Client::new(&cluster)?;
/// let futures = client.scatter([1i64, 2, 3])?;
/// for f in as_completed(futures) {
///     println!("{}", f.result()?);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn as_completed<T>(futures: Vec<Future<T>>) -> AsCompleted<T> {
    let (tx, rx) = std_mpsc::channel();
    let n = futures.len();
    for (i, f) in futures.iter().enumerate() {
        // One waiter per future: told when each of its keys is settled.
        let (tx, keys, link) = (tx.clone(), f.keys.keys.clone(), Arc::clone(&f.keys.link));
        std::thread::spawn(move || {
            wait_for(&link, &keys);
            let _ = tx.send(i);
        });
    }
    AsCompleted {
        futures: futures.into_iter().map(Some).collect(),
        rx,
        left: n,
    }
}

/// The iterator of [`as_completed`].
pub struct AsCompleted<T> {
    futures: Vec<Option<Future<T>>>,
    rx: std_mpsc::Receiver<usize>,
    left: usize,
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Future<T>;

    fn next(&mut self) -> Option<Future<T>> {
        if self.left == 0 {
            return None;
        }
        let i = self.rx.recv().ok()?;
        self.left -= 1;
        self.futures.get_mut(i)?.take()
    }
}

/// A result held on the cluster, as a task of a persisted collection's graph: a later
/// computation on the cluster finds its key already in memory there (the scheduler keeps a
/// known key's task), and one in this process fetches it. The keys stay held while any graph
/// holding this op lives.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Remote {
    key: Key,
    /// Not sent anywhere: only the process that persisted holds the keys.
    #[serde(skip)]
    hold: Option<Arc<Held>>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Remote({})", self.key)
    }
}

impl rask_graph::Op for Remote {
    fn name(&self) -> &str {
        "remote"
    }

    fn arity(&self) -> rask_graph::Arity {
        rask_graph::Arity::Exact(0)
    }

    fn pinned(&self) -> bool {
        true
    }

    fn run(&self, _: rask_graph::Args) -> Result<Value, rask_graph::TaskError> {
        let Some(hold) = &self.hold else {
            return Err(rask_graph::TaskError::new(format!(
                "{} was persisted on a cluster and is no longer held there",
                self.key
            )));
        };
        value_of(&hold.link, &self.key).map_err(|e| rask_graph::TaskError::new(e.to_string()))
    }
}
rask_graph::register_op!(Remote, "rask-distributed.remote");

/// Computes `keys` of `graph` on the cluster, keeps them there, and returns a graph of
/// [`Remote`] tasks holding them (what `persist` gives on a cluster).
pub(crate) fn persist(
    link: &Arc<Link>,
    graph: &rask_graph::Graph,
    keys: &[Key],
) -> Result<rask_graph::Graph, ComputeError> {
    let hold = submit(link, graph, keys)?;
    let wanted = &hold.keys;
    // Failures are reported now, as a local persist would (the value of a failed key is its
    // error; a finished one is not brought here).
    wait_for(link, wanted);
    for k in wanted.iter() {
        let status = link.ask(|reply| Request::Status {
            key: k.clone(),
            reply,
        });
        if status != Some(FutureStatus::Finished) {
            value_of(link, k)?;
            return Err(failed(DistributedError::Disconnected));
        }
    }
    let references = wanted.iter().map(|k| {
        let op = Remote {
            key: k.clone(),
            hold: Some(Arc::clone(&hold)),
        };
        (k, rask_graph::Task::new(op, []))
    });
    Ok(rask_graph::graph_of_tasks(references))
}
