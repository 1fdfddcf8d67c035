//! A cluster on this machine: a scheduler in this process, workers as child processes of the
//! current executable (Dask's `LocalCluster`).

use std::fmt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::DistributedError;
use crate::client::memory_text;
use crate::server::{SchedulerHandle, SchedulerOptions};
use crate::worker::WORKER_ENV;

/// A scheduler and workers on this machine. The workers are the current executable started
/// again (any binary that links rask serves as its own worker, as with the process
/// scheduler); a worker that dies is started again (Dask's nanny), and they all exit when the
/// cluster is dropped, or when this process ends.
///
/// ```no_run
/// use rask_distributed::LocalCluster;
/// let cluster = LocalCluster::builder().n_workers(2).threads_per_worker(1).build()?;
/// println!("{cluster}");
/// # Ok::<(), rask_distributed::DistributedError>(())
/// ```
pub struct LocalCluster {
    scheduler: SchedulerHandle,
    nanny: Arc<Nanny>,
    monitor: Option<std::thread::JoinHandle<()>>,
    threads_per_worker: u32,
    memory_limit: u64,
    token: Option<String>,
    tls: Option<crate::TlsConfig>,
}

impl fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCluster")
            .field("address", &self.address())
            .field("workers", &self.worker_pids().len())
            .finish_non_exhaustive()
    }
}

/// Keeps the worker processes running: one that exits is started again.
struct Nanny {
    /// How each worker is started: the program and its environment.
    specs: Vec<Vec<(String, String)>>,
    exe: std::path::PathBuf,
    children: Mutex<Vec<Option<Child>>>,
    stopped: Mutex<bool>,
    wake: Condvar,
    restarts: AtomicUsize,
}

impl Nanny {
    fn spawn(&self, i: usize) -> std::io::Result<Child> {
        let mut cmd = Command::new(&self.exe);
        cmd.stdin(Stdio::null());
        for (k, v) in &self.specs[i] {
            cmd.env(k, v);
        }
        cmd.spawn()
    }

    /// Restarts the workers that exit, until stopped.
    fn watch(&self) {
        let mut stopped = lock(&self.stopped);
        while !*stopped {
            (stopped, _) = self
                .wake
                .wait_timeout(stopped, Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner);
            if *stopped {
                break;
            }
            let mut children = lock(&self.children);
            for (i, slot) in children.iter_mut().enumerate() {
                let exited = slot
                    .as_mut()
                    .is_none_or(|c| !matches!(c.try_wait(), Ok(None)));
                if exited && let Ok(child) = self.spawn(i) {
                    *slot = Some(child);
                    self.restarts.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn stop(&self) {
        *lock(&self.stopped) = true;
        self.wake.notify_all();
        let mut children = lock(&self.children);
        for c in children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Configures a [`LocalCluster`].
#[derive(Debug, Clone)]
pub struct LocalClusterBuilder {
    n_workers: usize,
    threads_per_worker: u32,
    memory_limit: u64,
    token: Option<String>,
    options: SchedulerOptions,
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl Default for LocalClusterBuilder {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            n_workers: cores,
            threads_per_worker: 1,
            memory_limit: u64::MAX,
            token: None,
            options: SchedulerOptions::default(),
            env: Vec::new(),
            timeout: Duration::from_secs(60),
        }
    }
}

impl LocalClusterBuilder {
    /// How many worker processes (default: one per core).
    pub fn n_workers(mut self, n: usize) -> Self {
        self.n_workers = n;
        self
    }

    /// How many tasks each worker runs at once (default 1).
    pub fn threads_per_worker(mut self, n: u32) -> Self {
        self.threads_per_worker = n.max(1);
        self
    }

    /// Each worker's memory limit in bytes (0: none; default: the machine's memory shared
    /// by the workers, as Dask's `auto`).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// TLS for every connection: the cluster's CA, and the certificate and key its
    /// scheduler, workers and clients present (one for all of them, as a LocalCluster's
    /// processes are one program).
    pub fn tls(mut self, tls: crate::TlsConfig) -> Self {
        self.options.tls = Some(tls);
        self
    }

    /// Where the workers keep their files (spilled results), default the system's
    /// temporary directory; each worker uses a folder of its own inside it.
    pub fn local_directory(self, dir: impl AsRef<std::path::Path>) -> Self {
        self.worker_env(
            "RASK_DISTRIBUTED_LOCAL_DIRECTORY",
            dir.as_ref().display().to_string(),
        )
    }

    /// A shared token every worker and client must present.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How long a worker may stay silent before it is taken for dead (default 10 s).
    pub fn worker_ttl(mut self, ttl: Duration) -> Self {
        self.options.worker_ttl = ttl;
        self
    }

    /// An environment variable set in every worker.
    pub fn worker_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Starts the scheduler and the workers, and waits until every worker has joined.
    pub fn build(mut self) -> Result<LocalCluster, DistributedError> {
        // Keep the worker hook linked into every binary that starts a cluster.
        let _ = crate::worker::hook_linked();
        if self.memory_limit == u64::MAX {
            self.memory_limit = crate::cli::total_memory() / self.n_workers.max(1) as u64;
        }
        let mut options = self.options.clone();
        options.token.clone_from(&self.token);
        if options.dashboard.is_none() {
            // Dask's LocalCluster serves its dashboard too; on any free port here.
            options.dashboard = Some("127.0.0.1:0".into());
        }
        let scheduler = SchedulerHandle::start("127.0.0.1:0", options)
            .map_err(DistributedError::io("start the scheduler"))?;
        let exe = std::env::current_exe().map_err(DistributedError::io("find this program"))?;
        let scheme = if self.options.tls.is_some() {
            "tls"
        } else {
            "tcp"
        };
        let address = format!("{scheme}://{}", scheduler.address());
        let specs = (0..self.n_workers)
            .map(|i| {
                let mut env = vec![
                    (WORKER_ENV.to_string(), address.clone()),
                    (
                        "RASK_DISTRIBUTED_NTHREADS".into(),
                        self.threads_per_worker.to_string(),
                    ),
                    (
                        "RASK_DISTRIBUTED_MEMORY_LIMIT".into(),
                        self.memory_limit.to_string(),
                    ),
                    ("RASK_DISTRIBUTED_NAME".into(), format!("worker-{i}")),
                ];
                if let Some(t) = &self.token {
                    env.push(("RASK_DISTRIBUTED_TOKEN".into(), t.clone()));
                }
                if let Some(tls) = &self.options.tls {
                    env.extend(tls.env().into_iter().map(|(k, v)| (k.to_string(), v)));
                }
                env.extend(self.env.iter().cloned());
                env
            })
            .collect();
        let nanny = Arc::new(Nanny {
            specs,
            exe,
            children: Mutex::new(Vec::new()),
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            restarts: AtomicUsize::new(0),
        });
        for i in 0..self.n_workers {
            let child = nanny
                .spawn(i)
                .map_err(DistributedError::io("start a worker"))?;
            lock(&nanny.children).push(Some(child));
        }
        let watcher = Arc::clone(&nanny);
        let monitor = std::thread::Builder::new()
            .name("rask-nanny".into())
            .spawn(move || watcher.watch())
            .map_err(DistributedError::io("start the nanny"))?;
        let cluster = LocalCluster {
            scheduler,
            nanny,
            monitor: Some(monitor),
            threads_per_worker: self.threads_per_worker,
            memory_limit: self.memory_limit,
            token: self.token.clone(),
            tls: self.options.tls.clone(),
        };
        let joined = cluster
            .scheduler
            .wait_for_workers(self.n_workers, self.timeout);
        if joined < self.n_workers {
            return Err(DistributedError::WorkersLate {
                joined,
                wanted: self.n_workers,
                seconds: self.timeout.as_secs(),
            });
        }
        Ok(cluster)
    }
}

impl LocalCluster {
    /// A builder.
    pub fn builder() -> LocalClusterBuilder {
        LocalClusterBuilder::default()
    }

    /// The scheduler's address, `tcp://127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "tcp" };
        format!("{scheme}://{}", self.scheduler.address())
    }

    /// Where the scheduler serves `/metrics` and `/api/status`, `http://127.0.0.1:PORT`.
    pub fn dashboard_address(&self) -> Option<String> {
        (self.scheduler.dashboard_address()).map(|a| format!("http://{a}"))
    }

    /// The cluster's TLS, if it has it.
    pub fn tls(&self) -> Option<&crate::TlsConfig> {
        self.tls.as_ref()
    }

    /// The shared token, if the cluster has one.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The workers' process ids.
    pub fn worker_pids(&self) -> Vec<u32> {
        lock(&self.nanny.children)
            .iter()
            .flatten()
            .map(Child::id)
            .collect()
    }

    /// How many times a worker that exited was started again.
    pub fn restarts(&self) -> usize {
        self.nanny.restarts.load(Ordering::SeqCst)
    }

    /// How many workers are connected to the scheduler now.
    pub fn live_workers(&self) -> usize {
        self.scheduler.workers()
    }

    /// Waits until at least `n` workers are connected (at most `timeout`); how many are.
    pub fn wait_for_workers(&self, n: usize, timeout: Duration) -> usize {
        self.scheduler.wait_for_workers(n, timeout)
    }
}

impl fmt::Display for LocalCluster {
    /// Dask's repr: `LocalCluster('tcp://127.0.0.1:PORT', workers=2, threads=2, memory=…)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanny.specs.len();
        write!(
            f,
            "LocalCluster('{}', workers={n}, threads={}, memory={})",
            self.address(),
            n as u32 * self.threads_per_worker,
            memory_text(self.memory_limit * n as u64)
        )
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.nanny.stop();
        if let Some(m) = self.monitor.take() {
            let _ = m.join();
        }
    }
}
