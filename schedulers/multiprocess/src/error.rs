//! How the process scheduler fails: the source of
//! [`ComputeError::Scheduler`](rask_graph::ComputeError::Scheduler) for scheduler `"processes"`.

use rask_graph::Key;

/// What went wrong with the worker processes (a task's own error or panic is
/// [`ComputeError::Task`](rask_graph::ComputeError::Task) /
/// [`ComputeError::Panic`](rask_graph::ComputeError::Panic)). Find it with
/// [`ComputeError::downcast_ref`](rask_graph::ComputeError::downcast_ref).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// A worker process could not be started or greeted.
    #[error("cannot start a worker: {message}")]
    StartWorker {
        /// What went wrong.
        message: String,
    },
    /// A worker process is another build of the program than the one asking it to work.
    #[error(
        "a worker runs another build of this program (build id {theirs:016x}, ours {ours:016x}); \
         it was refused: restart it from the same binary"
    )]
    BuildMismatch {
        /// Our build id.
        ours: u64,
        /// The worker's.
        theirs: u64,
    },
    /// A task's worker died while running it, as many times as the scheduler allows (Dask's
    /// `allowed-failures`): the task is taken to be what kills them.
    #[error("task {key} (op `{op}`) killed {deaths} workers; it is marked bad")]
    WorkerKilled {
        /// The task.
        key: Key,
        /// Its op's name.
        op: String,
        /// How many workers died running it.
        deaths: u32,
    },
    /// The plan was refused by the scheduling state (a plan lowered from a graph never is).
    #[error("the plan could not be scheduled: {0}")]
    Schedule(#[from] rask_scheduling::UpdateError),
    /// A worker died and no new one could take its place.
    #[error("worker {slot} died ({why}) and could not be replaced: {cause}")]
    Replace {
        /// The worker's slot.
        slot: usize,
        /// How it died.
        why: String,
        /// Why the replacement failed.
        cause: Box<ProcessError>,
    },
    /// A result could not be sent out of the worker holding it.
    #[error("cannot move the result of task {key} out of worker {slot}: {message}")]
    NotSent {
        /// The result's key.
        key: Key,
        /// The worker holding it.
        slot: usize,
        /// What the worker said.
        message: String,
    },
    /// A task's message to a worker (its op and the values sent along with it) is larger than
    /// a message may be.
    #[error(
        "task {key} cannot be sent to a worker: its message is {bytes} bytes, more than a \
         message may be ({max} bytes); pass data that large as a chunked collection or a file, \
         not as one literal"
    )]
    TooLarge {
        /// The task.
        key: Key,
        /// The message's size.
        bytes: usize,
        /// The largest a message may be.
        max: usize,
    },
    /// Every thread reading from the workers stopped.
    #[error("every worker reader stopped")]
    ReadersStopped,
}

impl ProcessError {
    /// Whether the pool itself may be broken (so the next computation starts new workers).
    pub(crate) fn breaks_pool(&self) -> bool {
        !matches!(
            self,
            ProcessError::WorkerKilled { .. }
                | ProcessError::NotSent { .. }
                | ProcessError::TooLarge { .. }
        )
    }
}

/// The [`ComputeError`](rask_graph::ComputeError) of a process scheduler failure.
pub(crate) fn failed(e: ProcessError) -> rask_graph::ComputeError {
    rask_graph::ComputeError::scheduler("processes", e)
}

#[cfg(test)]
mod tests {
    use super::ProcessError;
    use rask_graph::Key;

    #[test]
    fn messages() {
        let start = ProcessError::StartWorker {
            message: "/bin/app: permission denied".into(),
        };
        insta::assert_snapshot!(super::failed(start.clone()).to_string(), @"the processes scheduler failed: cannot start a worker: /bin/app: permission denied");
        insta::assert_snapshot!(ProcessError::Replace { slot: 1, why: "it exited".into(), cause: Box::new(start) }.to_string(), @"worker 1 died (it exited) and could not be replaced: cannot start a worker: /bin/app: permission denied");
        insta::assert_snapshot!(ProcessError::NotSent { key: Key::new("x", [2]), slot: 0, message: "its type is not registered".into() }.to_string(), @"cannot move the result of task ('x', 2) out of worker 0: its type is not registered");
        insta::assert_snapshot!(ProcessError::ReadersStopped.to_string(), @"every worker reader stopped");
        insta::assert_snapshot!(ProcessError::BuildMismatch { ours: 1, theirs: 2 }.to_string(), @"a worker runs another build of this program (build id 0000000000000002, ours 0000000000000001); it was refused: restart it from the same binary");
    }
}
