//! The errors of rask-graph: building, validating, lowering, serializing and computing graphs.

use serde::{Deserialize, Serialize};

use crate::Key;

/// What went wrong with a graph: its shape, its keys, or its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// The graph has a cycle; the keys on it are listed in order.
    #[error("the graph has a cycle (each key depends on the next): {}", fmt_cycle(.keys))]
    Cycle {
        /// The keys on the cycle, each depending on the next, the last on the first.
        keys: Vec<Key>,
    },
    /// A task depends on a key that no task in the graph produces.
    #[error("task {key} depends on {dependency}, which is not in the graph")]
    MissingDependency {
        /// The task with the dangling dependency.
        key: Key,
        /// The key that is missing.
        dependency: Key,
    },
    /// A key was requested that no task in the graph produces.
    #[error("key {key} is not in the graph")]
    MissingKey {
        /// The requested key.
        key: Key,
    },
    /// A task's op is not registered, so the task cannot leave this process.
    #[error(
        "task {key} uses op `{op}` ({type_name}), which is not registered for serialization; \
         register it with rask_graph::register_op! to send it to other processes"
    )]
    UnregisteredOp {
        /// The task holding the op.
        key: Key,
        /// The op's display name.
        op: String,
        /// The op's Rust type.
        type_name: String,
    },
    /// A literal value's type is not registered, so the task cannot leave this process.
    #[error(
        "task {key} holds a literal of type {type_name}, which is not registered for \
         serialization; register it with rask_graph::register_value!"
    )]
    UnregisteredValue {
        /// The task holding the value (or the result key).
        key: Key,
        /// The value's Rust type.
        type_name: String,
    },
    /// Decoding met an op name that this binary has not registered.
    #[error("cannot decode op `{name}`: no op of that name is registered in this binary")]
    UnknownOp {
        /// The registered name found in the bytes.
        name: String,
    },
    /// Decoding met a value type name that this binary has not registered.
    #[error(
        "cannot decode value of type `{name}`: no value type of that name is registered in this binary"
    )]
    UnknownValueType {
        /// The registered name found in the bytes.
        name: String,
    },
    /// The bytes are not a valid encoding.
    #[error("corrupt graph bytes: {message}")]
    Corrupt {
        /// What the decoder found wrong.
        message: String,
    },
    /// Encoding failed.
    #[error("cannot encode {what}: {message}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// Why it failed.
        message: String,
    },
}

fn fmt_cycle(keys: &[Key]) -> String {
    let mut s = String::new();
    for k in keys {
        s.push_str(&k.to_string());
        s.push_str(" -> ");
    }
    if let Some(first) = keys.first() {
        s.push_str(&first.to_string());
    }
    s
}

/// The error an op returns from [`Op::run`](crate::Op::run): a message, serializable so that it
/// can cross a process boundary.
///
/// ```
/// use rask_graph::TaskError;
///
/// let e = TaskError::new("file data.csv not found");
/// assert_eq!(e.to_string(), "file data.csv not found");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct TaskError {
    message: String,
}

impl TaskError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// An error from any `std::error::Error`, keeping its chain of causes in the message.
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Self { message }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a computation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComputeError {
    /// The graph could not be lowered: a cycle, a missing key, ….
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A task returned an error; nothing new was started after it.
    #[error("task {key} (op `{op}`) failed: {cause}")]
    Task {
        /// The failed task.
        key: Key,
        /// Its op's name.
        op: String,
        /// What the op said.
        #[source]
        cause: TaskError,
    },
    /// A task panicked; the panic was caught and nothing new was started after it.
    #[error("task {key} (op `{op}`) panicked: {message}")]
    Panic {
        /// The task that panicked.
        key: Key,
        /// Its op's name.
        op: String,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// A result did not have the type its collection expected.
    #[error("result {key} has type {found}, expected {expected}")]
    ResultType {
        /// The output key.
        key: Key,
        /// The type the collection expected.
        expected: &'static str,
        /// The type the value has.
        found: &'static str,
    },
    /// A task's worker died while running it, as many times as a scheduler allows (Dask's
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
    /// A worker process is another build of the program than the one asking it to work.
    #[error(
        "a worker runs another build of this program (build id {theirs:016x}, ours          {ours:016x}); it was refused: restart it from the same binary"
    )]
    BuildMismatch {
        /// Our build id.
        ours: u64,
        /// The worker's.
        theirs: u64,
    },
    /// The collection could not be built (an error kept until compute time by an operator that
    /// cannot return one, such as `a + b` on shapes that do not broadcast).
    #[error("{0}")]
    Collection(String),
    /// The scheduler itself failed (a worker could not start, a channel closed).
    #[error("scheduler failure: {0}")]
    Scheduler(String),
}

impl ComputeError {
    /// The key of the task at fault, if the error is about one task.
    pub fn key(&self) -> Option<&Key> {
        match self {
            ComputeError::Task { key, .. }
            | ComputeError::Panic { key, .. }
            | ComputeError::ResultType { key, .. }
            | ComputeError::WorkerKilled { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Turns a caught panic payload into its message.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}
