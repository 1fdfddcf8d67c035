//! A cluster on this machine: a scheduler in this process, workers as child processes of the
//! current executable (Dask's `LocalCluster`).

use std::fmt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::DistributedError;
use crate::client::memory_text;
use crate::server::{SchedulerHandle, SchedulerOptions};
use crate::worker::WORKER_ENV;

/// A scheduler and workers on this machine. The workers are the current executable started
/// again (any binary that links rask serves as its own worker, as with the process
/// scheduler); they exit when the cluster is dropped, or when this process ends.
///
/// ```no_run
/// use rask_distributed::LocalCluster;
/// let cluster = LocalCluster::builder().n_workers(2).threads_per_worker(1).build()?;
/// println!("{cluster}");
/// # Ok::<(), rask_distributed::DistributedError>(())
/// ```
pub struct LocalCluster {
    scheduler: SchedulerHandle,
    workers: Vec<Child>,
    threads_per_worker: u32,
    memory_limit: u64,
    token: Option<String>,
}

impl fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCluster")
            .field("address", &self.address())
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
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
            memory_limit: 0,
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

    /// Each worker's memory limit in bytes (default: none).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
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
    pub fn build(self) -> Result<LocalCluster, DistributedError> {
        // Keep the worker hook linked into every binary that starts a cluster.
        let _ = crate::worker::hook_linked();
        let mut options = self.options.clone();
        options.token.clone_from(&self.token);
        let scheduler = SchedulerHandle::start("127.0.0.1:0", options)
            .map_err(DistributedError::io("start the scheduler"))?;
        let mut cluster = LocalCluster {
            scheduler,
            workers: Vec::new(),
            threads_per_worker: self.threads_per_worker,
            memory_limit: self.memory_limit,
            token: self.token.clone(),
        };
        let exe = std::env::current_exe().map_err(DistributedError::io("find this program"))?;
        for i in 0..self.n_workers {
            let mut cmd = Command::new(&exe);
            cmd.env(WORKER_ENV, cluster.address())
                .env(
                    "RASK_DISTRIBUTED_NTHREADS",
                    self.threads_per_worker.to_string(),
                )
                .env(
                    "RASK_DISTRIBUTED_MEMORY_LIMIT",
                    self.memory_limit.to_string(),
                )
                .env("RASK_DISTRIBUTED_NAME", format!("worker-{i}"))
                .stdin(Stdio::null());
            if let Some(t) = &self.token {
                cmd.env("RASK_DISTRIBUTED_TOKEN", t);
            }
            for (k, v) in &self.env {
                cmd.env(k, v);
            }
            let child = cmd
                .spawn()
                .map_err(DistributedError::io("start a worker"))?;
            cluster.workers.push(child);
        }
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
        format!("tcp://{}", self.scheduler.address())
    }

    /// The shared token, if the cluster has one.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The workers' process ids.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers.iter().map(Child::id).collect()
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
        let n = self.workers.len();
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
        for w in &mut self.workers {
            let _ = w.kill();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for w in &mut self.workers {
            while Instant::now() < deadline {
                if !matches!(w.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::yield_now();
            }
        }
    }
}
