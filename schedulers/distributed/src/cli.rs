//! The command line: `rask scheduler` and `rask worker ADDRESS`, as Dask's `dask scheduler`
//! and `dask worker`.
//!
//! The stock `rask` binary calls [`main`]; a program with ops of its own can call it too, to
//! be a worker (or a scheduler) that has them.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::server::{SchedulerHandle, SchedulerOptions};
use crate::worker::{WorkerOptions, run_worker};

/// The command line's definition (its `--help` is what a Dask user knows).
pub fn command() -> Command {
    Command::new("rask")
        .about("rask's distributed scheduler and workers")
        .subcommand_required(true)
        .subcommand(
            Command::new("scheduler")
                .about("Start a rask scheduler, which workers and clients connect to")
                .arg(
                    Arg::new("host")
                        .long("host")
                        .value_name("TEXT")
                        .default_value("0.0.0.0")
                        .help("URI, IP or hostname of this server"),
                )
                .arg(
                    Arg::new("port")
                        .long("port")
                        .value_name("INTEGER")
                        .default_value("8786")
                        .value_parser(clap::value_parser!(u16))
                        .help("Serving port"),
                )
                .arg(
                    Arg::new("dashboard-port")
                        .long("dashboard-port")
                        .value_name("INTEGER")
                        .default_value("8787")
                        .value_parser(clap::value_parser!(u16))
                        .help("Port of the metrics and status endpoints"),
                )
                .arg(
                    Arg::new("token")
                        .long("token")
                        .value_name("TEXT")
                        .env("RASK_TOKEN")
                        .help("A shared token every worker and client must present"),
                )
                .arg(
                    Arg::new("worker-ttl")
                        .long("worker-ttl")
                        .value_name("SECONDS")
                        .default_value("10")
                        .value_parser(clap::value_parser!(u64))
                        .help("Time to live for workers: one silent this long is removed"),
                )
                .args(tls_args()),
        )
        .subcommand(
            Command::new("ops").about(
                "List the ops this binary has (what its workers can run), by registered name",
            ),
        )
        .subcommand(
            Command::new("worker")
                .about("Start a rask worker attached to an existing scheduler")
                .arg(
                    Arg::new("scheduler")
                        .value_name("SCHEDULER")
                        .required(true)
                        .help("The scheduler's address, e.g. tcp://127.0.0.1:8786"),
                )
                .arg(
                    Arg::new("nthreads")
                        .long("nthreads")
                        .value_name("INTEGER")
                        .value_parser(clap::value_parser!(u32))
                        .help("Number of threads per process [default: one per core]"),
                )
                .arg(
                    Arg::new("memory-limit")
                        .long("memory-limit")
                        .value_name("TEXT")
                        .default_value("auto")
                        .help(
                            "Bytes of memory per process that the worker can use. This can be \
                             an integer (bytes), a float (fraction of total system memory), a \
                             string (like 5GB or 5000M), 'auto', or zero for no memory \
                             management",
                        ),
                )
                .arg(
                    Arg::new("local-directory")
                        .long("local-directory")
                        .value_name("TEXT")
                        .help("Directory to place worker files"),
                )
                .arg(
                    Arg::new("name")
                        .long("name")
                        .value_name("TEXT")
                        .help("A unique name for this worker like 'worker-1'"),
                )
                .arg(
                    Arg::new("token")
                        .long("token")
                        .value_name("TEXT")
                        .env("RASK_TOKEN")
                        .help("The cluster's shared token"),
                )
                .arg(
                    Arg::new("heartbeat")
                        .long("heartbeat")
                        .value_name("MILLISECONDS")
                        .default_value("1000")
                        .value_parser(clap::value_parser!(u64))
                        .action(ArgAction::Set)
                        .help("How often the worker tells the scheduler it is alive"),
                )
                .args(tls_args()),
        )
}

/// `--tls-ca-file --tls-cert --tls-key`, all three or none (Dask's names).
fn tls_args() -> [Arg; 3] {
    let arg = |name: &'static str, what: &'static str, others: [&'static str; 2]| {
        Arg::new(name)
            .long(name)
            .value_name("TEXT")
            .requires_all(others)
            .help(what)
    };
    [
        arg(
            "tls-ca-file",
            "CA cert(s) file for TLS (in PEM format)",
            ["tls-cert", "tls-key"],
        ),
        arg(
            "tls-cert",
            "Certificate file for TLS (in PEM format)",
            ["tls-ca-file", "tls-key"],
        ),
        arg(
            "tls-key",
            "Private key file for TLS (in PEM format)",
            ["tls-ca-file", "tls-cert"],
        ),
    ]
}

/// Runs the command line of this process: `rask scheduler …` or `rask worker …`.
pub fn main() -> ExitCode {
    run(command().get_matches())
}

fn run(m: ArgMatches) -> ExitCode {
    let result = match m.subcommand() {
        Some(("scheduler", m)) => scheduler(m),
        Some(("worker", m)) => worker(m),
        Some(("ops", _)) => {
            let mut out = std::io::stdout().lock();
            for name in rask_graph::registry::op_names() {
                if writeln!(out, "{name}").is_err() {
                    break; // `rask ops | head`
                }
            }
            Ok(())
        }
        _ => Err("a subcommand is required".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn scheduler(m: &ArgMatches) -> Result<(), String> {
    let host = m
        .get_one::<String>("host")
        .map_or("0.0.0.0", String::as_str);
    let port = m.get_one::<u16>("port").copied().unwrap_or(8786);
    let options = SchedulerOptions {
        token: m.get_one::<String>("token").cloned(),
        tls: tls(m)?,
        dashboard: Some(format!(
            "{host}:{}",
            m.get_one::<u16>("dashboard-port").copied().unwrap_or(8787)
        )),
        worker_ttl: Duration::from_secs(m.get_one::<u64>("worker-ttl").copied().unwrap_or(10)),
        ..SchedulerOptions::default()
    };
    let handle = SchedulerHandle::start(&format!("{host}:{port}"), options)
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let scheme = if m.contains_id("tls-ca-file") {
        "tls"
    } else {
        "tcp"
    };
    // A closed standard output (a reader that went away) does not stop the scheduler.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "Scheduler at:   {scheme}://{}", handle.address());
    if let Some(d) = handle.dashboard_address() {
        let _ = writeln!(out, "Metrics at:     http://{d}/metrics");
    }
    let _ = out.flush();
    handle.wait();
    Ok(())
}

fn worker(m: &ArgMatches) -> Result<(), String> {
    let address = m
        .get_one::<String>("scheduler")
        .ok_or("the scheduler's address is required")?;
    let mut o = WorkerOptions::new(address);
    if let Some(n) = m.get_one::<u32>("nthreads") {
        o = o.nthreads(*n);
    }
    let limit = m
        .get_one::<String>("memory-limit")
        .map_or("auto", String::as_str);
    let limit = parse_memory_limit(limit, total_memory(), o.threads())?;
    o = o.memory_limit(limit);
    if let Some(d) = m.get_one::<String>("local-directory") {
        o = o.local_directory(d);
    }
    if let Some(n) = m.get_one::<String>("name") {
        o = o.name(n);
    }
    if let Some(t) = m.get_one::<String>("token") {
        o = o.token(t);
    }
    if let Some(ms) = m.get_one::<u64>("heartbeat") {
        o = o.heartbeat(Duration::from_millis(*ms));
    }
    if let Some(t) = tls(m)? {
        o = o.tls(t);
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "Waiting to connect to: {}", o.scheduler_address());
    let _ = writeln!(out, "Threads: {}", o.threads());
    let _ = writeln!(out, "Memory: {}", crate::client::memory_text(limit));
    let _ = out.flush();
    crate::memory::return_freed_memory();
    run_worker(o).map_err(|e| e.to_string())
}

/// The TLS of `--tls-ca-file --tls-cert --tls-key`, if given.
fn tls(m: &ArgMatches) -> Result<Option<crate::TlsConfig>, String> {
    let get = |k: &str| m.get_one::<String>(k);
    match (get("tls-ca-file"), get("tls-cert"), get("tls-key")) {
        (Some(ca), Some(cert), Some(key)) => crate::TlsConfig::from_files(ca, cert, key)
            .map(Some)
            .map_err(|e| e.to_string()),
        _ => Ok(None),
    }
}

/// The machine's memory in bytes (`/proc/meminfo`), or 0 when it cannot be read.
pub(crate) fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

/// Dask's `--memory-limit`: bytes (`4000000000`), a fraction of the machine (`0.5`), a size
/// (`5GB`, `5000M`, `2GiB`), `auto` (the machine's memory shared by its cores, times this
/// worker's threads), or `0` (none).
///
/// ```
/// use rask_distributed::cli::parse_memory_limit;
/// let gib = 1u64 << 30;
/// assert_eq!(parse_memory_limit("5GB", 16 * gib, 1), Ok(5_000_000_000));
/// assert_eq!(parse_memory_limit("2GiB", 16 * gib, 1), Ok(2 * gib));
/// assert_eq!(parse_memory_limit("0.25", 16 * gib, 1), Ok(4 * gib));
/// assert_eq!(parse_memory_limit("0", 16 * gib, 1), Ok(0));
/// assert!(parse_memory_limit("lots", 16 * gib, 1).is_err());
/// ```
pub fn parse_memory_limit(text: &str, total: u64, threads: u32) -> Result<u64, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("auto") {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        return Ok((total / cores.max(1))
            .saturating_mul(u64::from(threads))
            .min(total));
    }
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    if let Ok(f) = t.parse::<f64>()
        && (0.0..=1.0).contains(&f)
    {
        return Ok((total as f64 * f) as u64);
    }
    let split = t
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("memory limit `{text}` is not a size"))?;
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("memory limit `{text}` is not a size"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        _ => return Err(format!("memory limit `{text}` has an unknown unit")),
    };
    Ok((number * factor) as u64)
}
