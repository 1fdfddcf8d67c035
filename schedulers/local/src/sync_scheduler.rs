//! The synchronous scheduler.

use rask_graph::{
    Args, Callback, Callbacks, ComputeError, ComputeFinish, ComputeStart, Graph, Key, Plan,
    PlanArg, ResultReleased, Scheduler, TaskFinish, TaskStart, Value,
};

use crate::exec::{message, run_task};

/// Runs every task on the calling thread, in priority order: the reference oracle.
///
/// ```
/// use rask_graph::{delayed, Collection};
/// use rask_local::SyncScheduler;
///
/// let x = delayed::value(2.0f64).map("square", |x| x * x);
/// assert_eq!(x.compute_on(&SyncScheduler, &[]).unwrap(), 4.0);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncScheduler;

impl Scheduler for SyncScheduler {
    fn get(
        &self,
        graph: &Graph,
        keys: &[Key],
        callbacks: &[&dyn Callback],
    ) -> Result<Vec<Value>, ComputeError> {
        let plan = Plan::lower(graph, keys)?;
        run_plan(&plan, &Callbacks::new(callbacks))
    }

    fn name(&self) -> &str {
        "sync"
    }
}

/// Runs a lowered plan on this thread.
pub(crate) fn run_plan(plan: &Plan, cbs: &Callbacks<'_>) -> Result<Vec<Value>, ComputeError> {
    let n = plan.len();
    if !cbs.is_empty() {
        cbs.compute_start(&ComputeStart {
            keys: plan.keys(),
            tasks: n,
            workers: 1,
        });
    }
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
                    if released && !cbs.is_empty() {
                        cbs.release(&ResultReleased {
                            id: d as u32,
                            key: plan.key(d as u32),
                            nbytes: v.nbytes(),
                        });
                    }
                    v
                }
            })
            .collect();
        if !cbs.is_empty() {
            cbs.task_start(&TaskStart {
                id,
                key: plan.key(id),
                op: plan.op(id).name(),
                worker: 0,
            });
        }
        let result = run_task(plan, id, args);
        if !cbs.is_empty() {
            let msg = result.as_ref().err().map(message);
            cbs.task_finish(&TaskFinish {
                id,
                key: plan.key(id),
                op: plan.op(id).name(),
                worker: 0,
                nbytes: result.as_ref().map_or(0, |v| v.nbytes()),
                error: msg.as_deref(),
            });
        }
        match result {
            Ok(v) => slots[id as usize] = Some(v),
            Err(e) => {
                if !cbs.is_empty() {
                    cbs.compute_finish(&ComputeFinish {
                        tasks_done: id as usize,
                        error: Some(&e.to_string()),
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
