//! Ops: what a task does, as data.

use std::any::Any;
use std::fmt;

use smallvec::SmallVec;

use crate::{TaskError, Value};

/// The arguments an op receives, in the order its task lists them. Values are owned: an op that
/// holds the only reference to an input may reuse its buffer.
pub type Args = SmallVec<[Value; 4]>;

/// What a task does: a pure function of its arguments, carrying its parameters as data.
///
/// Ops may run more than once (a retry, a recomputation after a lost worker), on any thread. To
/// cross a process boundary an op type must be registered by a stable name with
/// [`register_op!`](crate::register_op) (which needs `Serialize + Deserialize`); an unregistered
/// op — a closure, say — still runs on the in-process schedulers.
///
/// ```
/// use rask_graph::{Args, Op, TaskError, Value, register_op};
/// use serde::{Deserialize, Serialize};
///
/// /// Multiplies its one f64 argument.
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Scale { by: f64 }
///
/// impl Op for Scale {
///     fn name(&self) -> &str { "scale" }
///     fn run(&self, args: Args) -> Result<Value, TaskError> {
///         Ok(Value::new(args[0].get::<f64>()? * self.by))
///     }
/// }
/// register_op!(Scale, "doc.scale");
///
/// let out = Scale { by: 2.0 }.run([Value::new(21.0f64)].into_iter().collect()).unwrap();
/// assert_eq!(*out.get::<f64>().unwrap(), 42.0);
/// ```
pub trait Op: Any + Send + Sync + fmt::Debug {
    /// A short display name, used in key prefixes, graph pictures and error messages.
    fn name(&self) -> &str;

    /// Runs the op on its arguments.
    fn run(&self, args: Args) -> Result<Value, TaskError>;

    /// The Rust type's name, for error messages.
    fn type_name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }

    /// Whether a task of this op with no dependencies is cheaper to run again for each reader
    /// than to keep its result for all of them (filling a block with a constant, say). Such
    /// tasks are copied into each reader by [`Graph::inline_cheap`](crate::Graph::inline_cheap),
    /// as Dask's blockwise fusion does with array creation functions.
    fn cheap(&self) -> bool {
        false
    }

    /// Whether a task of this op spends most of its time waiting on work done outside the
    /// scheduler's threads — another thread pool (Polars' executor, say) or IO — rather than
    /// computing on the thread that runs it. A scheduler may then run another task beside it,
    /// as Dask's `secede` lets a waiting task give up its thread: the threaded scheduler runs
    /// up to as many extra tasks as tasks of such ops are running, on spare threads.
    fn waits(&self) -> bool {
        false
    }

    /// Whether its result lives somewhere else (a cluster holds it: a persisted collection's
    /// references) and must stay a task of its own, by its key: optimizations never fuse it
    /// into its reader ([`Graph::fuse_linear`](crate::Graph::fuse_linear) leaves it alone).
    fn pinned(&self) -> bool {
        false
    }

    /// How many arguments the op takes. Schedulers check it before running the op
    /// ([`exec::run_op`](crate::exec::run_op)), so a task built with the wrong number of
    /// arguments fails with a [`TaskError`] naming both numbers instead of panicking on an
    /// index. The default, [`Arity::Any`], checks nothing.
    fn arity(&self) -> Arity {
        Arity::Any
    }
}

/// How many arguments an [`Op`] takes.
///
/// ```
/// use rask_graph::Arity;
/// assert!(Arity::Exact(2).accepts(2));
/// assert!(!Arity::AtLeast(1).accepts(0));
/// assert_eq!(Arity::Exact(2).to_string(), "2 arguments");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Arity {
    /// Exactly this many.
    Exact(usize),
    /// This many or more.
    AtLeast(usize),
    /// Any number.
    Any,
}

impl Arity {
    /// Whether `n` arguments are acceptable.
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exact(k) => n == k,
            Arity::AtLeast(k) => n >= k,
            Arity::Any => true,
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |k: usize| if k == 1 { "" } else { "s" };
        match *self {
            Arity::Exact(k) => write!(f, "{k} argument{}", plural(k)),
            Arity::AtLeast(k) => write!(f, "at least {k} argument{}", plural(k)),
            Arity::Any => f.write_str("any number of arguments"),
        }
    }
}

/// Returns its single argument: the op of a task that holds a ready value.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Identity;

impl Op for Identity {
    fn name(&self) -> &str {
        "identity"
    }

    fn run(&self, mut args: Args) -> Result<Value, TaskError> {
        if args.len() != 1 {
            return Err(TaskError::arity(self, args.len()));
        }
        Ok(args.swap_remove(0))
    }

    fn arity(&self) -> Arity {
        Arity::Exact(1)
    }
}

/// Sums its arguments, all `i64` or all `f64` scalars (or `Vec`s of them, summed whole).
///
/// ```
/// use rask_graph::{ops::Sum, Op, Value};
/// let v = Sum.run([Value::new(1i64), Value::new(vec![2i64, 3])].into_iter().collect()).unwrap();
/// assert_eq!(*v.get::<i64>().unwrap(), 6);
/// ```
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Sum;

impl Op for Sum {
    fn name(&self) -> &str {
        "sum"
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let is_float = args.first().is_some_and(|a| {
            a.downcast_ref::<f64>().is_some() || a.downcast_ref::<Vec<f64>>().is_some()
        });
        if is_float {
            let mut total = 0.0f64;
            for a in &args {
                total += match a.downcast_ref::<Vec<f64>>() {
                    Some(v) => v.iter().sum(),
                    None => *a.get::<f64>()?,
                };
            }
            Ok(Value::new(total))
        } else {
            let mut total = 0i64;
            for a in &args {
                let part = match a.downcast_ref::<Vec<i64>>() {
                    Some(v) => v.iter().try_fold(0i64, |s, x| s.checked_add(*x)),
                    None => Some(*a.get::<i64>()?),
                };
                total = part
                    .and_then(|p| total.checked_add(p))
                    .ok_or_else(|| TaskError::new("i64 overflow in sum"))?;
            }
            Ok(Value::new(total))
        }
    }
}

/// Adds a constant to its one `i64` argument: the trivial task of benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct AddConst(pub i64);

impl Op for AddConst {
    fn name(&self) -> &str {
        "add-const"
    }

    fn arity(&self) -> Arity {
        Arity::Exact(1)
    }

    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let [a] = args.as_slice() else {
            return Err(TaskError::arity(self, args.len()));
        };
        let x = *a.get::<i64>()?;
        x.checked_add(self.0)
            .map(Value::new)
            .ok_or_else(|| TaskError::new(format!("i64 overflow adding {} to {x}", self.0)))
    }
}

/// The op of a key whose value is held elsewhere — by a scheduler that persisted it on its
/// workers, say: what a graph of references is made of ([`Scheduler::persist`] of a remote
/// scheduler returns one; [`Plan::lower_with_held`] makes such tasks). A scheduler that
/// knows where the value is supplies it instead of running the task; any other one fails
/// with an error naming the holder.
///
/// [`Scheduler::persist`]: crate::Scheduler::persist
/// [`Plan::lower_with_held`]: crate::Plan::lower_with_held
///
/// ```
/// use rask_graph::{ops::Held, Op};
/// let err = Held::new("cluster").run(Default::default()).unwrap_err();
/// assert_eq!(err.to_string(), "the value is held by cluster; compute with that scheduler");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Held {
    /// Who holds the value (a scheduler's name or address).
    pub holder: String,
}

impl Held {
    /// A value held by `holder`.
    pub fn new(holder: impl Into<String>) -> Self {
        Self {
            holder: holder.into(),
        }
    }
}

impl Op for Held {
    fn name(&self) -> &str {
        "held"
    }

    fn run(&self, _args: Args) -> Result<Value, TaskError> {
        Err(TaskError::new(format!(
            "the value is held by {}; compute with that scheduler",
            self.holder
        )))
    }

    fn arity(&self) -> Arity {
        Arity::Exact(0)
    }
}

/// A panic-free downcast of an op to its concrete type.
pub fn downcast_op<T: Op>(op: &dyn Op) -> Option<&T> {
    let any: &dyn Any = op;
    any.downcast_ref::<T>()
}
