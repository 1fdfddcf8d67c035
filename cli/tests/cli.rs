//! The stock `rask` binary, started for real: a scheduler, two workers, a client in this
//! test that computes an array on them (the workers have every op that ships with rask).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rask::array::{Array, Reduction};
use rask::distributed::Client;
use rask::prelude::*;

/// Kills its processes when dropped (a failing test leaves none behind).
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Held by each test that connects a client: while a client lives it is this process's
/// default scheduler, so a test's `compute()` would otherwise go to another test's cluster
/// — and fail with `Disconnected` when that test ends and kills it.
static ONE_CLIENT: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rask"))
}

/// Starts `rask scheduler` on any free port: its address, and its standard output (kept
/// open for as long as the test runs).
fn scheduler(procs: &mut Procs) -> (String, BufReader<std::process::ChildStdout>) {
    let mut scheduler = rask()
        .args([
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-port",
            "0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(scheduler.stdout.take().unwrap());
    procs.0.push(scheduler);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("Scheduler at:")
        .unwrap_or_else(|| panic!("{line}"))
        .trim()
        .to_string();
    (address, out)
}

#[test]
fn a_scheduler_and_two_stock_workers_compute_an_array() {
    let _one = ONE_CLIENT.lock().unwrap_or_else(|e| e.into_inner());
    let mut procs = Procs(Vec::new());
    let (address, _out) = scheduler(&mut procs);
    assert!(address.starts_with("tcp://127.0.0.1:"), "{address}");
    for i in 0..2 {
        let name = format!("stock-{i}");
        let w = rask()
            .args([
                "worker",
                &address,
                "--nthreads",
                "1",
                "--memory-limit",
                "2GiB",
                "--name",
                &name,
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        procs.0.push(w);
    }
    let client = Client::connect(&address).unwrap();
    let workers = client.wait_for_workers(2, Duration::from_secs(60)).unwrap();
    let mut names: Vec<&str> = workers.iter().map(|w| w.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["stock-0", "stock-1"]);
    assert!(
        workers
            .iter()
            .all(|w| w.memory_limit == 2 << 30 && w.nthreads == 1)
    );
    // The client is the default scheduler: `compute` runs on the stock workers.
    assert_eq!(rask::config::scheduler().name(), "distributed");
    let x = Array::<f64>::ones(&[1000, 30], [100, 7]).unwrap();
    let y = (&x * 3.0).sum(Reduction::axis(0)).unwrap();
    let got = y.compute().unwrap();
    assert_eq!(got.shape(), [30]);
    assert!(got.iter().all(|v| *v == 3000.0), "{got}");
    drop(client);
}

#[test]
fn help_reads_as_dask_s() {
    let out = rask().args(["worker", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Usage: rask worker [OPTIONS] <SCHEDULER>",
        "--nthreads <INTEGER>",
        "--memory-limit <TEXT>",
        "--local-directory <TEXT>",
        "--name <TEXT>",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let out = rask().args(["scheduler", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--host <TEXT>",
        "--port <INTEGER>",
        "[default: 8786]",
        "--dashboard-port",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    // A scheduler that cannot listen says so and fails.
    let out = rask()
        .args(["scheduler", "--host", "256.0.0.1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on 256.0.0.1:8786"));
}

/// An op only this test binary has (the stock workers do not).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Triple;

impl rask::graph::Op for Triple {
    fn name(&self) -> &str {
        "triple"
    }
    fn run(&self, args: rask::graph::Args) -> Result<rask::graph::Value, rask::graph::TaskError> {
        Ok(rask::graph::Value::new(args[0].get::<i64>()? * 3))
    }
}
rask::graph::register_op!(Triple, "rask-cli-tests.triple");

#[test]
fn a_task_no_worker_can_run_is_an_error_naming_its_op_and_a_mixed_cluster_places_it() {
    use rask::graph::{Arg, Delayed, Value};
    let _one = ONE_CLIENT.lock().unwrap_or_else(|e| e.into_inner());
    let mut procs = Procs(Vec::new());
    let (address, _out) = scheduler(&mut procs);
    procs.0.push(
        rask()
            .args(["worker", &address, "--nthreads", "1", "--name", "stock"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = Client::connect(&address).unwrap();
    client.wait_for_workers(1, Duration::from_secs(60)).unwrap();
    let x: Delayed<i64> = Delayed::from_op(Triple, vec![Arg::Value(Value::new(14i64))], &[]);
    let err = x.compute_with(&client.scheduler()).unwrap_err();
    let text = err.to_string();
    // The op by registered name and the version of the crate that registered it.
    let want = format!(
        "none of them has op `rask-cli-tests.triple@{}`",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&want), "{text}");
    // This test binary as a second worker: it has the op, and the task goes to it.
    procs.0.push(
        Command::new(std::env::current_exe().unwrap())
            .env(rask::distributed::WORKER_ENV, &address)
            .env("RASK_DISTRIBUTED_NAME", "custom")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    client.wait_for_workers(2, Duration::from_secs(60)).unwrap();
    assert_eq!(x.compute_with(&client.scheduler()).unwrap(), 42);
}
