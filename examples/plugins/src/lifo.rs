//! A scheduler of one's own: lowest priority first, every task logged.

use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use rask::graph::exec::{self, TaskEvents};
use rask::graph::{Callbacks, ComputeFinish, ComputeStart, Plan, PlanArg, WorkerId};
use rask::graph::{Graph, Key, Value};
use rask::{Callback, ComputeError, Scheduler};

/// Runs tasks on the calling thread, choosing among the ready ones the one the plan ranks
/// *last* (the opposite of every built-in scheduler), and logs `"start <key>"` for each. The
/// answers are the same — only the order and the memory held differ — which is what makes it
/// a good test of a plan's dependencies.
///
/// ```
/// use rask::prelude::*;
/// let lifo = rask_plugins::LifoScheduler::default();
/// let x = rask::delayed::value(1i64).map("inc", |x| x + 1);
/// assert_eq!(x.compute_with(&lifo)?, 2);
/// assert_eq!(lifo.log().len(), 2);
/// # Ok::<(), rask::ComputeError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct LifoScheduler {
    log: Arc<Mutex<Vec<String>>>,
}

impl LifoScheduler {
    /// What it has run so far, one line per task.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Scheduler for LifoScheduler {
    fn get(
        &self,
        graph: &Graph,
        keys: &[Key],
        callbacks: &[&dyn Callback],
    ) -> Result<Vec<Value>, ComputeError> {
        let plan = Plan::lower(graph, keys)?;
        let cbs = Callbacks::new(callbacks);
        let me = WorkerId::new("lifo");
        let events = TaskEvents::new(&plan, &cbs, &me);
        let n = plan.len();
        cbs.compute_start(&ComputeStart {
            keys: std::borrow::Cow::Borrowed(keys),
            tasks: n,
            workers: 1,
        });
        let mut waiting: Vec<usize> = (0..n as u32).map(|i| plan.dependencies(i).len()).collect();
        let mut uses: Vec<u32> = (0..n as u32).map(|i| plan.uses(i)).collect();
        let mut slots: Vec<Option<Value>> = vec![None; n];
        // A max-heap of ids: the lowest priority (the highest id) first.
        let mut ready: BinaryHeap<u32> = plan.initial_ready().into_iter().collect();
        let mut done = 0;
        while let Some(id) = ready.pop() {
            self.log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("start {}", plan.key(id)));
            let mut args = rask::graph::Args::new();
            for a in plan.args(id) {
                args.push(match a {
                    PlanArg::Value(v) => v.clone(),
                    PlanArg::Task(d) => {
                        let d = *d as usize;
                        uses[d] -= 1;
                        let last = uses[d] == 0 && !plan.is_output(d as u32);
                        let v = if last {
                            slots[d].take()
                        } else {
                            slots[d].clone()
                        };
                        let v = v.ok_or_else(|| {
                            ComputeError::scheduler(
                                "lifo",
                                MissingInput(plan.key(d as u32).clone()),
                            )
                        })?;
                        if last {
                            events.release(d as u32, &v);
                        }
                        v
                    }
                });
            }
            events.start(id);
            // The kit's guarded run: arity checked, errors and panics named.
            let result = exec::run_task(&plan, id, args);
            events.finish(id, &result);
            let value = match result {
                Ok(v) => v,
                Err(e) => {
                    cbs.compute_finish(&ComputeFinish {
                        tasks_done: done,
                        error: Some(e.to_string()),
                    });
                    return Err(e);
                }
            };
            slots[id as usize] = Some(value);
            done += 1;
            for &m in plan.dependents(id) {
                waiting[m as usize] -= 1;
                if waiting[m as usize] == 0 {
                    ready.push(m);
                }
            }
        }
        cbs.compute_finish(&ComputeFinish {
            tasks_done: done,
            error: None,
        });
        plan.outputs()
            .iter()
            .map(|o| {
                slots[*o as usize].clone().ok_or_else(|| {
                    ComputeError::scheduler("lifo", MissingInput(plan.key(*o).clone()))
                })
            })
            .collect()
    }

    fn name(&self) -> &str {
        "lifo"
    }
}

/// A result that was not there when it was needed: a bug in this scheduler, reported as its
/// own error type (the source of `ComputeError::Scheduler`).
#[derive(Debug, thiserror::Error)]
#[error("the result of {0} was not there when needed")]
pub struct MissingInput(Key);
