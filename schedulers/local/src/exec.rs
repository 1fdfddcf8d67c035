//! What both schedulers do per task: run an op, catching its error or panic.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rask_graph::{Args, ComputeError, Plan, Value, panic_message};

/// Runs task `id` of `plan` on `args`; an error or a panic becomes a [`ComputeError`] naming
/// the task.
#[inline]
pub(crate) fn run_task(plan: &Plan, id: u32, args: Args) -> Result<Value, ComputeError> {
    let op = plan.op(id);
    match catch_unwind(AssertUnwindSafe(|| op.run(args))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(cause)) => Err(ComputeError::Task {
            key: plan.key(id).clone(),
            op: op.name().to_string(),
            cause,
        }),
        Err(payload) => Err(ComputeError::Panic {
            key: plan.key(id).clone(),
            op: op.name().to_string(),
            message: panic_message(&*payload),
        }),
    }
}

/// The message of an error, for `TaskFinish` events.
pub(crate) fn message(e: &ComputeError) -> String {
    match e {
        ComputeError::Task { cause, .. } => cause.to_string(),
        ComputeError::Panic { message, .. } => format!("panicked: {message}"),
        other => other.to_string(),
    }
}
