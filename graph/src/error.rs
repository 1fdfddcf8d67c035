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
    /// A task's op is not registered, so the task cannot leave this process. A closure is
    /// such an op: pass a function marked `#[rask::named]` instead, or register an op type.
    #[error(
        "task {key} uses op `{op}` ({type_name}), which cannot be sent to another process: \
         pass a function marked #[rask::named] instead of a closure, or register the op type \
         with rask_graph::register_op!"
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

    /// The error of an op handed the wrong number of arguments.
    ///
    /// ```
    /// use rask_graph::{ops::Identity, TaskError};
    /// assert_eq!(
    ///     TaskError::arity(&Identity, 3).to_string(),
    ///     "op `identity` takes 1 argument, got 3"
    /// );
    /// ```
    pub fn arity(op: &dyn crate::Op, got: usize) -> Self {
        Self::new(format!(
            "op `{}` takes {}, got {got}",
            op.name(),
            op.arity()
        ))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A shared, typed error kept as the source of a [`ComputeError`]: the failure types of
/// schedulers and collections cross into `ComputeError` with their source intact.
pub type SharedError = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a computation failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ComputeError {
    /// The graph could not be lowered: a cycle, a missing key, ….
    Graph(GraphError),
    /// A task returned an error; nothing new was started after it.
    Task {
        /// The failed task.
        key: Key,
        /// Its op's name.
        op: String,
        /// What the op said.
        cause: TaskError,
    },
    /// A task panicked; the panic was caught and nothing new was started after it.
    Panic {
        /// The task that panicked.
        key: Key,
        /// Its op's name.
        op: String,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// A result did not have the type its collection expected.
    ResultType {
        /// The output key.
        key: Key,
        /// The type the collection expected.
        expected: &'static str,
        /// The type the value has.
        found: &'static str,
    },
    /// A scheduler returned another number of values than keys were asked of it.
    ResultCount {
        /// How many keys were asked for.
        expected: usize,
        /// How many values came back.
        found: usize,
    },
    /// The collection could not be built, or its results could not be assembled (an error kept
    /// until compute time by an operator that cannot return one, such as `a + b` on shapes that
    /// do not broadcast). The collection's own error is the source.
    Collection(SharedError),
    /// The scheduler itself failed (a worker could not start, a connection was lost, a worker
    /// runs another build); its own error type is the source.
    Scheduler {
        /// The scheduler's [`name`](crate::Scheduler::name).
        scheduler: String,
        /// What went wrong, as the scheduler's own error type.
        source: SharedError,
    },
    /// `compute()` found no scheduler: none was set in [`config`](crate::config) and no linked
    /// crate registered a fallback (the `rask` facade registers the threaded scheduler).
    NoDefaultScheduler,
}

impl From<GraphError> for ComputeError {
    fn from(e: GraphError) -> Self {
        ComputeError::Graph(e)
    }
}

impl std::fmt::Display for ComputeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComputeError::Graph(e) => e.fmt(f),
            ComputeError::Task { key, op, cause } => {
                write!(f, "task {key} (op `{op}`) failed: {cause}")
            }
            ComputeError::Panic { key, op, message } => {
                write!(f, "task {key} (op `{op}`) panicked: {message}")
            }
            ComputeError::ResultType {
                key,
                expected,
                found,
            } => write!(f, "result {key} has type {found}, expected {expected}"),
            ComputeError::ResultCount { expected, found } => {
                write!(
                    f,
                    "the scheduler returned {found} values for {expected} keys"
                )
            }
            ComputeError::Collection(e) => e.fmt(f),
            ComputeError::Scheduler { scheduler, source } => {
                write!(f, "the {scheduler} scheduler failed: {source}")
            }
            ComputeError::NoDefaultScheduler => f.write_str(
                "no default scheduler: set one with rask_graph::config::set_scheduler, or compute \
                 with an explicit scheduler (the `rask` crate makes the threaded scheduler the \
                 default)",
            ),
        }
    }
}

/// The source is the collection's or scheduler's own error itself (not the `Arc` around it),
/// so `source().downcast_ref::<TheirError>()` finds it; a graph error is transparent.
impl std::error::Error for ComputeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ComputeError::Graph(e) => e.source(),
            ComputeError::Task { cause, .. } => Some(cause),
            ComputeError::Collection(e) | ComputeError::Scheduler { source: e, .. } => {
                Some(&**e as &(dyn std::error::Error + 'static))
            }
            _ => None,
        }
    }
}

impl ComputeError {
    /// The key of the task at fault, if the error is about one task.
    pub fn key(&self) -> Option<&Key> {
        match self {
            ComputeError::Task { key, .. }
            | ComputeError::Panic { key, .. }
            | ComputeError::ResultType { key, .. } => Some(key),
            _ => None,
        }
    }

    /// A collection's error, kept as the source.
    ///
    /// ```
    /// use rask_graph::ComputeError;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("shapes (2,) and (3,) do not broadcast")]
    /// struct Broadcast;
    ///
    /// let e = ComputeError::collection(Broadcast);
    /// assert_eq!(e.to_string(), "shapes (2,) and (3,) do not broadcast");
    /// assert!(std::error::Error::source(&e).unwrap().is::<Broadcast>());
    /// ```
    pub fn collection(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ComputeError::Collection(std::sync::Arc::new(error))
    }

    /// A scheduler's failure, kept as the source.
    pub fn scheduler(
        scheduler: impl Into<String>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ComputeError::Scheduler {
            scheduler: scheduler.into(),
            source: std::sync::Arc::new(error),
        }
    }

    /// The scheduler's or collection's own error, if it is of type `E`.
    ///
    /// ```
    /// use rask_graph::ComputeError;
    /// let e = ComputeError::scheduler("mine", std::io::Error::other("socket closed"));
    /// assert_eq!(e.downcast_ref::<std::io::Error>().unwrap().to_string(), "socket closed");
    /// assert_eq!(e.to_string(), "the mine scheduler failed: socket closed");
    /// ```
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            ComputeError::Scheduler { source, .. } | ComputeError::Collection(source) => {
                source.downcast_ref::<E>()
            }
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
