//! The stock `rask` binary: `rask scheduler [--host --port]` and `rask worker SCHEDULER
//! [--nthreads --memory-limit --local-directory --name]`. It links every crate of rask, so
//! its workers have every op that ships with rask (arrays, and the rest as they come); a
//! program with ops of its own calls [`rask::distributed::cli::main`] from its own `main` to
//! be a worker that has them.

use std::process::ExitCode;

fn main() -> ExitCode {
    rask::distributed::cli::main()
}
