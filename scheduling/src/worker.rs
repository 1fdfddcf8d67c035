//! What the state knows of a worker, and what a worker says of itself when it joins.

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::TaskId;

/// A worker joining: its name, how many tasks it runs at once, how many it may have queued,
/// and which ops it has.
///
/// ```
/// use rask_scheduling::WorkerSpec;
/// let w = WorkerSpec::new("tcp://10.0.0.2:40123", 4).capacity(16).ops(["sum", "ones"]);
/// assert_eq!(w.nthreads(), 4);
/// assert!(w.has_op("sum") && !w.has_op("cos"));
/// assert!(WorkerSpec::new("process-0", 1).has_op("anything"));
/// ```
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub(crate) name: Arc<str>,
    pub(crate) nthreads: u32,
    pub(crate) capacity: u32,
    pub(crate) ops: Option<FxHashSet<Arc<str>>>,
}

impl WorkerSpec {
    /// A worker named `name` that runs `nthreads` tasks at once (at least 1). By default it
    /// has every op, and may have twice its threads in tasks sent to it and not answered
    /// (the rest wait in the scheduler's queue: root tasks are not over-produced).
    pub fn new(name: impl Into<Arc<str>>, nthreads: u32) -> Self {
        let nthreads = nthreads.max(1);
        Self {
            name: name.into(),
            nthreads,
            capacity: nthreads.saturating_mul(2),
            ops: None,
        }
    }

    /// How many tasks may be sent to it and not answered yet (at least its threads: a
    /// deeper queue hides the round trip of small tasks).
    pub fn capacity(mut self, n: u32) -> Self {
        self.capacity = n.max(1);
        self
    }

    /// The ops it has (by registered name); without this, every op.
    pub fn ops<S: Into<Arc<str>>>(mut self, ops: impl IntoIterator<Item = S>) -> Self {
        self.ops = Some(ops.into_iter().map(Into::into).collect());
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many tasks it runs at once.
    pub fn nthreads(&self) -> u32 {
        self.nthreads
    }

    /// Whether it has op `name`.
    pub fn has_op(&self, name: &str) -> bool {
        self.ops.as_ref().is_none_or(|ops| ops.contains(name))
    }
}

/// A worker as the state sees it.
#[derive(Debug)]
pub(crate) struct WorkerRecord {
    pub(crate) spec: WorkerSpec,
    /// Tasks sent to it and not answered yet, with the duration estimated for each.
    pub(crate) outstanding: FxHashMap<TaskId, f64>,
    /// Task slots whose results it holds.
    pub(crate) has_what: FxHashSet<u32>,
    /// The estimated seconds of work sent to it and not answered.
    pub(crate) occupancy: f64,
    /// Bytes of results it holds.
    pub(crate) nbytes: u64,
    /// Per interned op: whether it has it.
    pub(crate) can: Vec<bool>,
    /// Its memory is past its pause threshold: no new task.
    pub(crate) paused: bool,
    /// Steal requests sent to it and not answered.
    pub(crate) stealing: u32,
}

impl WorkerRecord {
    pub(crate) fn new(spec: WorkerSpec) -> Self {
        Self {
            spec,
            outstanding: FxHashMap::default(),
            has_what: FxHashSet::default(),
            occupancy: 0.0,
            nbytes: 0,
            can: Vec::new(),
            paused: false,
            stealing: 0,
        }
    }

    pub(crate) fn has_room(&self) -> bool {
        !self.paused && self.outstanding.len() < self.spec.capacity as usize
    }
}
