//! Integration tests of rask-multiprocess: real worker processes started from this binary.

mod basics;
mod failures;
mod hardening;

use rask_graph::{Args, Op, TaskError, Value};
use rask_multiprocess::ProcessScheduler;
pub use rask_testing::ops::{Crash, Fail, Slow};
use serde::{Deserialize, Serialize};

/// A user op defined in this test crate: workers run it because they are this binary.
#[derive(Debug, Serialize, Deserialize)]
pub struct Scale(pub i64);

impl Op for Scale {
    fn name(&self) -> &str {
        "scale"
    }
    fn run(&self, args: Args) -> Result<Value, TaskError> {
        Ok(Value::new(args[0].get::<i64>()? * self.0))
    }
}
rask_graph::register_op!(Scale, "rask-multiprocess-tests.scale");

/// A process scheduler with `n` workers.
pub fn scheduler(n: usize) -> ProcessScheduler {
    ProcessScheduler::builder().num_workers(n).build().unwrap()
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
