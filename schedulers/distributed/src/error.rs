//! How the distributed scheduler fails.

/// What went wrong with the cluster (a task's own error or panic is
/// [`ComputeError::Task`](rask_graph::ComputeError::Task) /
/// [`ComputeError::Panic`](rask_graph::ComputeError::Panic)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistributedError {
    /// A socket, a process or a runtime failed.
    #[error("could not {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// TLS could not be set up (a certificate, a key or a CA that does not load).
    #[error("TLS: {0}")]
    Tls(String),
    /// The scheduler refused this peer (wrong token, another protocol version).
    #[error("the scheduler refused the connection: {0}")]
    Refused(String),
    /// The scheduler refused a graph (a dependency no task makes, a cycle, …).
    #[error("the scheduler refused the graph: {0}")]
    GraphRefused(String),
    /// The connection to the scheduler was lost.
    #[error("the connection to the scheduler was lost")]
    Disconnected,
    /// A result could not be fetched from the worker that held it.
    #[error("the result of {key} could not be fetched from {from}: {message}")]
    Gather {
        /// The key.
        key: rask_graph::Key,
        /// The worker's data address.
        from: String,
        /// Why.
        message: String,
    },
    /// The scheduler's own verdict on a task (it killed workers, no worker has its op, …).
    #[error("task {key} failed: {message}")]
    Scheduler {
        /// The task.
        key: rask_graph::Key,
        /// The verdict.
        message: String,
    },
    /// Workers did not join in time.
    #[error("{joined} of {wanted} workers joined within {seconds} s")]
    WorkersLate {
        /// How many joined.
        joined: usize,
        /// How many were started.
        wanted: usize,
        /// How long was waited.
        seconds: u64,
    },
}

impl DistributedError {
    /// A maker of `Io` errors for `what`.
    pub(crate) fn io(what: &str) -> impl Fn(std::io::Error) -> Self + '_ {
        move |source| DistributedError::Io {
            what: what.to_string(),
            source,
        }
    }

    /// A maker of `Io` errors for `what` at `addr`.
    pub(crate) fn io_at<'a>(what: &'a str, addr: &'a str) -> impl Fn(std::io::Error) -> Self + 'a {
        move |source| DistributedError::Io {
            what: format!("{what} at {addr}"),
            source,
        }
    }
}

/// `e` as the error of a computation on the `"distributed"` scheduler.
pub(crate) fn failed(e: DistributedError) -> rask_graph::ComputeError {
    rask_graph::ComputeError::scheduler("distributed", e)
}
