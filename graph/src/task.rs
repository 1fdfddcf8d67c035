//! Tasks: an op applied to arguments.

use std::fmt;
use std::sync::Arc;

use crate::{Key, Op, Value};

/// One argument of a task: the result of another task, or an inline literal value.
#[derive(Clone)]
pub enum Arg {
    /// The result of the task with this key.
    Key(Key),
    /// A literal value, carried in the task itself.
    Value(Value),
}

impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Key(k) => write!(f, "{k}"),
            Arg::Value(v) => write!(f, "{v:?}"),
        }
    }
}

impl From<Key> for Arg {
    fn from(k: Key) -> Self {
        Arg::Key(k)
    }
}

impl From<Value> for Arg {
    fn from(v: Value) -> Self {
        Arg::Value(v)
    }
}

/// An op applied to arguments.
///
/// ```
/// use rask_graph::{ops::Sum, Arg, Key, Task, Value};
///
/// let t = Task::new(Sum, [Arg::Key(Key::new("x", [0])), Arg::Value(Value::new(1i64))]);
/// assert_eq!(t.dependencies().count(), 1);
/// assert_eq!(t.op().name(), "sum");
/// ```
#[derive(Clone)]
pub struct Task {
    op: Arc<dyn Op>,
    args: Box<[Arg]>,
}

impl Task {
    /// A task from an op and its arguments.
    pub fn new(op: impl Op, args: impl IntoIterator<Item = Arg>) -> Self {
        Self::from_arc(Arc::new(op), args)
    }

    /// A task from a shared op (the tasks of one layer usually share one).
    pub fn from_arc(op: Arc<dyn Op>, args: impl IntoIterator<Item = Arg>) -> Self {
        Self {
            op,
            args: args.into_iter().collect(),
        }
    }

    /// A task that holds a ready value.
    pub fn literal(value: Value) -> Self {
        Self::new(crate::op::Identity, [Arg::Value(value)])
    }

    /// The op.
    pub fn op(&self) -> &dyn Op {
        &*self.op
    }

    /// The shared op.
    pub fn op_arc(&self) -> &Arc<dyn Op> {
        &self.op
    }

    /// The arguments, in order.
    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    /// The keys this task depends on, in argument order (repeats included).
    pub fn dependencies(&self) -> impl Iterator<Item = &Key> {
        self.args.iter().filter_map(|a| match a {
            Arg::Key(k) => Some(k),
            Arg::Value(_) => None,
        })
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.op.name())?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a:?}")?;
        }
        f.write_str(")")
    }
}
