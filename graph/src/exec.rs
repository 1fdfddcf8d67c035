//! The scheduler author's kit for running tasks: what every scheduler does per task, done once.
//!
//! - [`run_op`] / [`run_task`]: the guarded run. The op's [`Arity`](crate::Arity) is checked
//!   first, then the op runs under `catch_unwind`: an error becomes [`ComputeError::Task`], a
//!   panic [`ComputeError::Panic`], both naming the task's key and op. Nothing escapes.
//! - [`run_plan`]: a whole plan on the calling thread, in priority order, with callbacks and
//!   results released by their last reader — the reference every scheduler is compared with,
//!   and what a scheduler with one worker can call.
//! - [`run_in_order`]: lowering plus [`run_plan`], the smallest complete [`Scheduler`] body.
//!
//! ```
//! use rask_graph::{delayed, exec, Callback, Collection, ComputeError, Graph, Key, Scheduler, Value};
//!
//! /// The whole of a scheduler that runs everything on the calling thread.
//! #[derive(Debug)]
//! struct Inline;
//!
//! impl Scheduler for Inline {
//!     fn get(&self, g: &Graph, keys: &[Key], cbs: &[&dyn Callback]) -> Result<Vec<Value>, ComputeError> {
//!         exec::run_in_order(g, keys, cbs)
//!     }
//! }
//!
//! let x = delayed::value(20i64).map("inc", |x| x + 1);
//! assert_eq!(x.compute_with(&Inline).unwrap(), 21);
//! ```
//!
//! [`Scheduler`]: crate::Scheduler

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::{
    Args, Callback, Callbacks, ComputeError, ComputeFinish, ComputeStart, Graph, Key, Op, Plan,
    PlanArg, ResultReleased, TaskError, TaskFinish, TaskStart, Value, WorkerId, panic_message,
};

/// How an op failed, before it is tied to a key: what a worker that knows tasks only by
/// number reports, and turns into a [`ComputeError`] with [`OpFailure::named`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OpFailure {
    /// The op returned an error (a wrong argument count included).
    Error(TaskError),
    /// The op panicked; the panic's message.
    Panic(String),
}

impl OpFailure {
    /// The [`ComputeError`] of task `key` whose op is named `op`.
    pub fn named(self, key: &Key, op: &str) -> ComputeError {
        match self {
            OpFailure::Error(cause) => ComputeError::Task {
                key: key.clone(),
                op: op.to_string(),
                cause,
            },
            OpFailure::Panic(message) => ComputeError::Panic {
                key: key.clone(),
                op: op.to_string(),
                message,
            },
        }
    }
}

/// Runs `op` on `args`: the argument count is checked against the op's
/// [`arity`](Op::arity), then the op runs with its panics caught.
///
/// ```
/// use rask_graph::{exec::{self, OpFailure}, ops::Identity, TaskError};
///
/// let err = exec::run_guarded(&Identity, Default::default()).unwrap_err();
/// assert_eq!(err, OpFailure::Error(TaskError::new("op `identity` takes 1 argument, got 0")));
/// ```
#[inline]
pub fn run_guarded(op: &dyn Op, args: Args) -> Result<Value, OpFailure> {
    if !op.arity().accepts(args.len()) {
        return Err(OpFailure::Error(TaskError::arity(op, args.len())));
    }
    match catch_unwind(AssertUnwindSafe(|| op.run(args))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(cause)) => Err(OpFailure::Error(cause)),
        Err(payload) => {
            let message = panic_message(&*payload);
            drop_panic_payload(payload);
            Err(OpFailure::Panic(message))
        }
    }
}

/// Drops a caught panic's payload, whose own `Drop` may panic (a payload that panics when
/// dropped would otherwise escape the `catch_unwind` that caught it): such a second panic is
/// caught too, and its payload leaked rather than dropped (that could panic again). For
/// scheduler authors: every payload a scheduler catches should go here.
///
/// ```
/// struct Bomb;
/// impl Drop for Bomb {
///     fn drop(&mut self) {
///         panic!("boom on drop");
///     }
/// }
/// let caught = std::panic::catch_unwind(|| std::panic::panic_any(Bomb)).unwrap_err();
/// rask_graph::exec::drop_panic_payload(caught); // returns; nothing escapes
/// ```
pub fn drop_panic_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// [`run_guarded`] as the task `key`: an error or a panic becomes a [`ComputeError`] naming
/// the key and the op.
///
/// ```
/// use rask_graph::{exec, ops::Identity, Key};
///
/// let err = exec::run_op(&Key::new("x", [0]), &Identity, Default::default()).unwrap_err();
/// assert_eq!(err.to_string(), "task ('x', 0) (op `identity`) failed: op `identity` takes 1 argument, got 0");
/// ```
#[inline]
pub fn run_op(key: &Key, op: &dyn Op, args: Args) -> Result<Value, ComputeError> {
    run_guarded(op, args).map_err(|f| f.named(key, op.name()))
}

/// [`run_op`] for task `id` of `plan`.
#[inline]
pub fn run_task(plan: &Plan, id: u32, args: Args) -> Result<Value, ComputeError> {
    run_op(plan.key(id), plan.op(id), args)
}

/// What a [`TaskFinish`] event says of a failed task: the op's message, or the panic's.
pub fn failure_message(e: &ComputeError) -> String {
    match e {
        ComputeError::Task { cause, .. } => cause.to_string(),
        ComputeError::Panic { message, .. } => format!("panicked: {message}"),
        other => other.to_string(),
    }
}

/// Callback events for one task, built only when someone listens.
#[derive(Debug)]
pub struct TaskEvents<'a> {
    plan: &'a Plan,
    cbs: &'a Callbacks<'a>,
    worker: &'a WorkerId,
}

impl<'a> TaskEvents<'a> {
    /// Events of tasks of `plan` run by `worker`, told to `cbs`.
    pub fn new(plan: &'a Plan, cbs: &'a Callbacks<'a>, worker: &'a WorkerId) -> Self {
        Self { plan, cbs, worker }
    }

    /// Task `id` starts.
    #[inline]
    pub fn start(&self, id: u32) {
        if !self.cbs.is_empty() {
            self.cbs.task_start(&TaskStart {
                id,
                key: Cow::Borrowed(self.plan.key(id)),
                op: Cow::Borrowed(self.plan.op(id).name()),
                worker: Cow::Borrowed(self.worker),
            });
        }
    }

    /// Task `id` finished with `result`.
    #[inline]
    pub fn finish(&self, id: u32, result: &Result<Value, ComputeError>) {
        if !self.cbs.is_empty() {
            match result {
                Ok(v) => self.finished(id, v.nbytes(), None),
                Err(e) => self.finished(id, 0, Some(&failure_message(e))),
            }
        }
    }

    /// Task `id` finished with a result of `nbytes`, or failed (`error`): for a scheduler that
    /// sees a result's size and not the value (the results stay in another process).
    #[inline]
    pub fn finished(&self, id: u32, nbytes: usize, error: Option<&str>) {
        if !self.cbs.is_empty() {
            self.cbs.task_finish(&TaskFinish {
                id,
                key: Cow::Borrowed(self.plan.key(id)),
                op: Cow::Borrowed(self.plan.op(id).name()),
                worker: Cow::Borrowed(self.worker),
                nbytes,
                error: error.map(str::to_string),
            });
        }
    }

    /// The result of task `id` (`nbytes` long) was dropped by its last reader.
    #[inline]
    pub fn release(&self, id: u32, value: &Value) {
        self.released(id, value.nbytes());
    }

    /// The result of task `id`, of `nbytes`, was dropped (wherever it was held).
    #[inline]
    pub fn released(&self, id: u32, nbytes: usize) {
        if !self.cbs.is_empty() {
            self.cbs.release(&ResultReleased {
                id,
                key: Cow::Borrowed(self.plan.key(id)),
                nbytes,
            });
        }
    }
}

/// Runs every task of `plan` on the calling thread in id (priority) order, as `worker`,
/// telling `cbs` (start and finish included); each result is dropped when its last reader has
/// taken it. Returns the outputs' values, or the first failure.
pub fn run_plan(
    plan: &Plan,
    cbs: &Callbacks<'_>,
    worker: &WorkerId,
) -> Result<Vec<Value>, ComputeError> {
    let n = plan.len();
    if !cbs.is_empty() {
        cbs.compute_start(&ComputeStart {
            keys: plan.output_keys().into(),
            tasks: n,
            workers: 1,
        });
    }
    let events = TaskEvents::new(plan, cbs, worker);
    let mut slots: Vec<Option<Value>> = vec![None; n];
    let mut uses: Vec<u32> = (0..n as u32).map(|i| plan.uses(i)).collect();
    for id in 0..n as u32 {
        let args: Args = plan
            .args(id)
            .iter()
            .map(|a| match a {
                PlanArg::Value(v) => v.clone(),
                PlanArg::Task(d) => {
                    let d = *d as usize;
                    uses[d] -= 1;
                    let slot = &mut slots[d];
                    let released = uses[d] == 0 && !plan.is_output(d as u32);
                    let v = if released { slot.take() } else { slot.clone() };
                    let v = v
                        .unwrap_or_else(|| unreachable!("a dependency runs before its dependents"));
                    if released {
                        events.release(d as u32, &v);
                    }
                    v
                }
            })
            .collect();
        events.start(id);
        let result = run_task(plan, id, args);
        events.finish(id, &result);
        match result {
            Ok(v) => slots[id as usize] = Some(v),
            Err(e) => {
                if !cbs.is_empty() {
                    cbs.compute_finish(&ComputeFinish {
                        tasks_done: id as usize,
                        error: Some(e.to_string()),
                    });
                }
                return Err(e);
            }
        }
    }
    if !cbs.is_empty() {
        cbs.compute_finish(&ComputeFinish {
            tasks_done: n,
            error: None,
        });
    }
    Ok(plan
        .outputs()
        .iter()
        .map(|o| {
            slots[*o as usize]
                .clone()
                .unwrap_or_else(|| unreachable!("outputs are kept"))
        })
        .collect())
}

/// Lowers `graph` for `keys` and [runs the plan](run_plan) on the calling thread, as worker
/// `"main"`.
pub fn run_in_order(
    graph: &Graph,
    keys: &[Key],
    callbacks: &[&dyn Callback],
) -> Result<Vec<Value>, ComputeError> {
    static MAIN: std::sync::OnceLock<WorkerId> = std::sync::OnceLock::new();
    let plan = Plan::lower(graph, keys)?;
    let worker = MAIN.get_or_init(|| WorkerId::new("main"));
    run_plan(&plan, &Callbacks::new(callbacks), worker)
}
