//! Ops that tests of process-based schedulers share: registered, so worker processes (the
//! test binary started again) run them.

use rask_graph::{Args, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

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
rask_graph::register_op!(Slow, "rask-testing.slow");

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
rask_graph::register_op!(Crash, "rask-testing.crash");

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
rask_graph::register_op!(Fail, "rask-testing.fail");

/// Makes `len` f64s (ones).
#[derive(Debug, Serialize, Deserialize)]
pub struct Make(pub usize);

impl Op for Make {
    fn name(&self) -> &str {
        "make"
    }
    fn run(&self, _: Args) -> Result<Value, TaskError> {
        Ok(Value::new(vec![1.0f64; self.0]))
    }
}
rask_graph::register_op!(Make, "rask-testing.make");

/// The total length of its `Vec<f64>` arguments.
#[derive(Debug, Serialize, Deserialize)]
pub struct Len;

impl Op for Len {
    fn name(&self) -> &str {
        "len"
    }
    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut n = 0u64;
        for a in args.iter() {
            n += a.get::<Vec<f64>>()?.len() as u64;
        }
        Ok(Value::new(n))
    }
}
rask_graph::register_op!(Len, "rask-testing.len");
