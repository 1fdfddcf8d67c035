//! Integration tests of rask-multiprocess: real worker processes started from this binary.

mod basics;
mod failures;
mod hardening;

use rask_graph::{Args, Op, TaskError, Value};
use rask_multiprocess::ProcessScheduler;
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

/// Returns its argument after `ms` milliseconds (long enough to kill its worker meanwhile).
#[derive(Debug, Serialize, Deserialize)]
pub struct Slow(pub u64);

impl Op for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn run(&self, args: Args) -> Result<Value, TaskError> {
        #[allow(clippy::disallowed_methods)] // stands for real work
        std::thread::sleep(std::time::Duration::from_millis(self.0));
        Ok(args[0].clone())
    }
}
rask_graph::register_op!(Slow, "rask-multiprocess-tests.slow");

/// Aborts its process the first time it runs for a marker path (creating the marker), then
/// returns its argument; with `always`, aborts every time.
#[derive(Debug, Serialize, Deserialize)]
pub struct Crash {
    /// The file whose absence makes it crash.
    pub marker: String,
    /// Crash every time.
    pub always: bool,
}

impl Op for Crash {
    fn name(&self) -> &str {
        "crash"
    }
    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let p = std::path::Path::new(&self.marker);
        if self.always || !p.exists() {
            std::fs::write(p, b"x").map_err(|e| TaskError::from_error(&e))?;
            std::process::abort();
        }
        Ok(args[0].clone())
    }
}
rask_graph::register_op!(Crash, "rask-multiprocess-tests.crash");

/// Fails or panics on request.
#[derive(Debug, Serialize, Deserialize)]
pub struct Fail {
    /// Panic instead of returning an error.
    pub panic: bool,
}

impl Op for Fail {
    fn name(&self) -> &str {
        "fail"
    }
    fn run(&self, _: Args) -> Result<Value, TaskError> {
        if self.panic {
            panic!("worker-side panic");
        }
        Err(TaskError::new("worker-side error"))
    }
}
rask_graph::register_op!(Fail, "rask-multiprocess-tests.fail");

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
