//! The profilers: tasks, resources, cache.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rask_graph::{
    Callback, ComputeFinish, ComputeStart, Key, ResultReleased, TaskFinish, TaskStart, WorkerId,
};

use rustc_hash::FxHashMap;

use crate::ticker::Ticker;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One task as the [`Profiler`] saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// The task's key.
    pub key: Key,
    /// Its op's name.
    pub op: Arc<str>,
    /// When it started.
    pub start: Instant,
    /// When it finished.
    pub end: Instant,
    /// The worker that ran it.
    pub worker: WorkerId,
    /// The size of its result (0 if it failed).
    pub nbytes: usize,
    /// Whether it failed.
    pub failed: bool,
}

impl TaskRecord {
    /// How long it ran.
    pub fn duration(&self) -> Duration {
        self.end.saturating_duration_since(self.start)
    }
}

/// How many per-worker logs a profiler keeps (workers beyond share them).
const LOGS: usize = 64;

/// One worker's log, on its own cache lines so that workers never contend.
#[repr(align(128))]
#[derive(Default)]
struct WorkerLog(Mutex<Log>);

#[derive(Default)]
struct Log {
    running: Vec<(u32, Instant)>,
    records: Vec<TaskRecord>,
    last_op: Option<(usize, usize, Arc<str>)>,
    ops: FxHashMap<String, Arc<str>>,
}

impl Log {
    /// The op name as a shared string, without allocating for a name seen before.
    fn op(&mut self, name: &str) -> Arc<str> {
        let id = (name.as_ptr() as usize, name.len());
        if let Some((p, l, op)) = &self.last_op
            && (*p, *l) == id
        {
            return Arc::clone(op);
        }
        let op = match self.ops.get(name) {
            Some(op) => Arc::clone(op),
            None => {
                let op: Arc<str> = name.into();
                self.ops.insert(name.to_string(), Arc::clone(&op));
                op
            }
        };
        self.last_op = Some((id.0, id.1, Arc::clone(&op)));
        op
    }
}

/// Records every task: key, op, start, end, worker — Dask's `Profiler`. Each worker writes to
/// its own log, so recording costs no contended lock. Records accumulate over computations.
///
/// ```
/// use rask_graph::{Collection, delayed};
/// use rask_diagnostics::Profiler;
///
/// let prof = Profiler::new();
/// let x = delayed::value(2i64).map("square", |x| x * x);
/// x.compute_on(&rask_local::SyncScheduler, &[&prof]).unwrap();
/// let ops: Vec<String> = prof.records().iter().map(|r| r.op.to_string()).collect();
/// assert_eq!(ops, ["identity", "square"]);
/// ```
pub struct Profiler {
    logs: Box<[WorkerLog]>,
}

impl std::fmt::Debug for Profiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiler").finish_non_exhaustive()
    }
}

impl Default for Profiler {
    fn default() -> Self {
        Self::new()
    }
}

impl Profiler {
    /// An empty profiler.
    pub fn new() -> Self {
        Self {
            logs: (0..LOGS).map(|_| WorkerLog::default()).collect(),
        }
    }

    /// Every task recorded so far, by start time.
    pub fn records(&self) -> Vec<TaskRecord> {
        let mut all: Vec<TaskRecord> = self
            .logs
            .iter()
            .flat_map(|l| lock(&l.0).records.clone())
            .collect();
        all.sort_by_key(|r| r.start);
        all
    }

    /// Forgets every record.
    pub fn clear(&self) {
        for l in self.logs.iter() {
            let mut log = lock(&l.0);
            log.records.clear();
            log.running.clear();
        }
    }

    fn log(&self, worker: &WorkerId) -> MutexGuard<'_, Log> {
        lock(&self.logs[worker.shard() % LOGS].0)
    }
}

impl Callback for Profiler {
    #[inline]
    fn on_task_start(&self, e: &TaskStart) {
        let now = Instant::now();
        self.log(&e.worker).running.push((e.id, now));
    }

    #[inline]
    fn on_task_finish(&self, e: &TaskFinish) {
        let end = Instant::now();
        let mut log = self.log(&e.worker);
        let start = match log.running.iter().rposition(|(id, _)| *id == e.id) {
            Some(i) => log.running.swap_remove(i).1,
            None => end,
        };
        let op = log.op(&e.op);
        log.records.push(TaskRecord {
            key: e.key.clone().into_owned(),
            op,
            start,
            end,
            worker: e.worker.clone().into_owned(),
            nbytes: e.nbytes,
            failed: e.error.is_some(),
        });
    }
}

/// One sample of the [`ResourceProfiler`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResourceSample {
    /// When it was taken.
    pub time: Instant,
    /// The process's CPU use since the sample before, in percent of one core.
    pub cpu_percent: f32,
    /// The process's resident memory.
    pub rss_bytes: u64,
}

/// Samples the process's CPU use and resident memory every `dt` while a computation runs,
/// on a background thread — Dask's `ResourceProfiler`.
///
/// ```
/// use std::time::Duration;
/// use rask_graph::{Collection, delayed};
/// use rask_diagnostics::ResourceProfiler;
///
/// let rprof = ResourceProfiler::new(Duration::from_millis(10));
/// let x = delayed::value(2i64).map("square", |x| x * x);
/// x.compute_on(&rask_local::SyncScheduler, &[&rprof]).unwrap();
/// assert!(rprof.samples().iter().all(|s| s.rss_bytes > 0));
/// ```
#[derive(Debug)]
pub struct ResourceProfiler {
    dt: Duration,
    samples: Arc<Mutex<Vec<ResourceSample>>>,
    sampler: Arc<Mutex<Sampler>>,
    ticker: Mutex<Option<Ticker>>,
}

/// The process reader.
#[derive(Debug)]
struct Sampler {
    system: Option<sysinfo::System>,
    pid: Option<sysinfo::Pid>,
    /// The last reading of CPU time (ms) and when it was taken.
    last: Option<(u64, Instant)>,
}

impl Sampler {
    fn sample(&mut self) -> Option<ResourceSample> {
        let (system, pid) = (self.system.as_mut()?, self.pid?);
        system.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::Some(&[pid]),
            false,
            sysinfo::ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory(),
        );
        let p = system.process(pid)?;
        let now = Instant::now();
        // CPU use from the process's accumulated CPU time, so that any `dt` works.
        let cpu_ms = p.accumulated_cpu_time();
        let cpu_percent = match self.last {
            Some((ms, t)) if now > t => {
                (cpu_ms.saturating_sub(ms) as f64 / now.duration_since(t).as_secs_f64() / 10.0)
                    as f32
            }
            _ => 0.0,
        };
        self.last = Some((cpu_ms, now));
        Some(ResourceSample {
            time: now,
            cpu_percent,
            rss_bytes: p.memory(),
        })
    }
}

impl Default for ResourceProfiler {
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

impl ResourceProfiler {
    /// A profiler sampling every `dt` (Dask's default is 1 s).
    pub fn new(dt: Duration) -> Self {
        Self {
            dt,
            samples: Arc::default(),
            sampler: Arc::new(Mutex::new(Sampler {
                system: sysinfo::System::new().ok(),
                pid: sysinfo::get_current_pid().ok(),
                last: None,
            })),
            ticker: Mutex::new(None),
        }
    }

    /// Every sample so far, in time order.
    pub fn samples(&self) -> Vec<ResourceSample> {
        lock(&self.samples).clone()
    }

    fn take_sample(sampler: &Mutex<Sampler>, samples: &Mutex<Vec<ResourceSample>>) {
        if let Some(s) = lock(sampler).sample() {
            lock(samples).push(s);
        }
    }
}

impl Callback for ResourceProfiler {
    fn on_compute_start(&self, _: &ComputeStart) {
        Self::take_sample(&self.sampler, &self.samples);
        let (sampler, samples) = (Arc::clone(&self.sampler), Arc::clone(&self.samples));
        let t = Ticker::start("rask-resources", self.dt, move || {
            Self::take_sample(&sampler, &samples)
        });
        *lock(&self.ticker) = Some(t);
    }

    fn on_compute_finish(&self, _: &ComputeFinish) {
        if let Some(t) = lock(&self.ticker).take() {
            t.stop();
        }
        Self::take_sample(&self.sampler, &self.samples);
    }
}

/// One step of the [`CacheProfiler`]'s curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSample {
    /// When the amount changed.
    pub time: Instant,
    /// The bytes of results held then.
    pub bytes: u64,
}

/// The bytes of results held by the scheduler over time (each result counts from the moment
/// its task finishes until it is released) — what Dask's `CacheProfiler` shows.
///
/// ```
/// use rask_graph::{Collection, delayed};
/// use rask_diagnostics::CacheProfiler;
///
/// let cprof = CacheProfiler::new();
/// let x = delayed::value(vec![0u64; 1000]).map("len", |v| v.len() as u64);
/// x.compute_on(&rask_local::SyncScheduler, &[&cprof]).unwrap();
/// assert!(cprof.peak_bytes() >= 8000);
/// ```
#[derive(Debug, Default)]
pub struct CacheProfiler {
    changes: Mutex<Vec<(Instant, i64)>>,
    live: AtomicI64,
}

impl CacheProfiler {
    /// An empty profiler.
    pub fn new() -> Self {
        Self::default()
    }

    /// The curve: bytes held after each change, in time order.
    pub fn samples(&self) -> Vec<CacheSample> {
        let mut changes = lock(&self.changes).clone();
        changes.sort_by_key(|(t, _)| *t);
        let mut bytes = 0i64;
        changes
            .into_iter()
            .map(|(time, d)| {
                bytes = (bytes + d).max(0);
                CacheSample {
                    time,
                    bytes: bytes as u64,
                }
            })
            .collect()
    }

    /// The most bytes held at once.
    pub fn peak_bytes(&self) -> u64 {
        self.samples().iter().map(|s| s.bytes).max().unwrap_or(0)
    }

    /// The bytes held now (results not yet released, outputs included).
    pub fn live_bytes(&self) -> u64 {
        self.live.load(Ordering::Relaxed).max(0) as u64
    }
}

impl Callback for CacheProfiler {
    fn on_task_finish(&self, e: &TaskFinish) {
        if e.error.is_none() {
            self.live.fetch_add(e.nbytes as i64, Ordering::Relaxed);
            lock(&self.changes).push((Instant::now(), e.nbytes as i64));
        }
    }

    fn on_release(&self, e: &ResultReleased) {
        self.live.fetch_sub(e.nbytes as i64, Ordering::Relaxed);
        lock(&self.changes).push((Instant::now(), -(e.nbytes as i64)));
    }

    fn on_compute_finish(&self, _: &ComputeFinish) {
        // The outputs go to the caller: the scheduler holds nothing any more.
        let held = self.live.swap(0, Ordering::Relaxed);
        lock(&self.changes).push((Instant::now(), -held));
    }
}
