//! Project automation, run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask ci` — what CI runs: `cargo fmt --check`, clippy with `-D warnings`, the tests.
//! - `cargo xtask deps` — checks that dependencies point inward (STYLE.md 2).
//! - `cargo xtask bench arrays [--dask] [--small]` — the tutorial's three big array
//!   computations (fancy, cos-mean, histogram), the first two on random data, matmul, rechunk,
//!   and (rask only) a zarr round trip and graph optimization: time and peak RSS, each in its
//!   own process, beside Dask's.
//! - `cargo xtask bench overhead [--dask]` — per-task scheduler overhead (sync, threaded and
//!   2 worker processes), the speed of moving a 100 MB result between workers, and the cost of
//!   lowering a 1,000,000-task graph; with `--dask`, Dask 2026.8 runs the same workloads in a
//!   venv made on first use, and a table gives the ratios.
//! - `cargo xtask bench bags [--dask] [--small]` — word count over 1 GiB of text in 32 files and
//!   a count by city over 1M JSON records (as `sonic_rs::Value`s, as `serde_json::Value`s and
//!   as a typed struct), on the threaded scheduler and on 2 worker processes, beside Dask bag
//!   (processes): time, the answers (checked to agree) and the peak RSS of the process tree.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use serde_json::Value as Json;

const DASK_VERSION: &str = "2026.8.0";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["ci"] => ci(),
        ["deps"] => deps(),
        ["bench", "overhead", rest @ ..] => bench_overhead(rest),
        ["bench", "arrays", rest @ ..] => bench_arrays(rest),
        ["bench", "distributed", rest @ ..] => bench_distributed(rest),
        ["bench", "bags", rest @ ..] => bench_bags(rest),
        ["bench", "dataframes", rest @ ..] => bench_dataframes(rest),
        _ => Err(
            "usage: cargo xtask ci | deps | bench overhead [--dask] [--quick] | bench arrays [--dask] [--small] | bench distributed [--dask] [--small] | bench bags [--dask] [--small] | bench dataframes [--dask] [--small]"
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    // `cargo run` sets the manifest dir for the run: that of this clone, even when the binary
    // in a shared target dir was last linked from another clone (the compile-time one).
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A cargo command run at the workspace root, without the variables `cargo run` set for this
/// xtask (`CARGO_PKG_NAME=xtask`, `CARGO_MANIFEST_DIR`, …). Build scripts that rerun when
/// such a variable changes (ring's does) would otherwise be rebuilt, with all that depends on
/// them (Polars), each time a build alternates between `cargo xtask bench` and `cargo bench`.
fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    for (name, _) in std::env::vars_os() {
        let set_by_cargo_run = name.to_str().is_some_and(|n| {
            n.starts_with("CARGO_PKG_")
                || n.starts_with("CARGO_MANIFEST_")
                || matches!(
                    n,
                    "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
                )
        });
        if set_by_cargo_run {
            c.env_remove(name);
        }
    }
    c
}

fn run(mut c: Command) -> Result<(), String> {
    let status = c.status().map_err(|e| format!("cannot run {c:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{c:?} failed: {status}"))
    }
}

fn ci() -> Result<(), String> {
    let status = Command::new("bash")
        .arg(root().join(".ci/run"))
        .current_dir(root())
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(".ci/run failed: {status}"))
    }
}

/// The first line of a program's output that is a JSON value.
fn json_line(stdout: &[u8], what: &str) -> Result<Json, String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("{what} printed no JSON"))
}

/// Runs `c` (its standard error shown) and returns its standard output; an error naming
/// `what` if it fails.
fn stdout_of(mut c: Command, what: &str) -> Result<Vec<u8>, String> {
    let out = c
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed: {}", out.status));
    }
    Ok(out.stdout)
}

fn metadata() -> Result<Json, String> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))
}

/// Collections, schedulers, diagnostics and pictures depend on rask-graph, never on each other
/// (but for the bridges between collections that `BRIDGES` allows).
fn deps() -> Result<(), String> {
    let meta = metadata()?;
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let role = |manifest: &str| -> Option<&'static str> {
        let m = manifest.replace('\\', "/");
        [
            "/collections/",
            "/schedulers/",
            "/diagnostics/",
            "/visualize/",
        ]
        .into_iter()
        .find(|r| m.contains(r))
    };
    let mut inner: Vec<String> = Vec::new();
    for p in &packages {
        if role(p["manifest_path"].as_str().unwrap_or("")).is_some() {
            inner.push(p["name"].as_str().unwrap_or("").to_string());
        }
    }
    // The cores: rask-graph, and the scheduling state machine the schedulers share (which
    // itself depends on rask-graph alone).
    const CORES: [&str; 2] = ["rask-graph", "rask-scheduling"];
    // Bridges between collections (DESIGN.md §2): the collection that builds Polars may
    // depend on the light ones, never the other way round, so a bag or an array never
    // builds Polars.
    const BRIDGES: [(&str, &str); 2] = [
        ("rask-dataframe", "rask-bag"),
        ("rask-dataframe", "rask-array"),
    ];
    let mut bad = Vec::new();
    for p in &packages {
        let name = p["name"].as_str().unwrap_or("");
        let is_inner = inner.iter().any(|n| n == name);
        if !is_inner && name != "rask-scheduling" {
            continue;
        }
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or("");
            let dev = d["kind"].as_str() == Some("dev");
            let outward = dep == "rask"
                || inner.iter().any(|n| n == dep)
                || (name == "rask-scheduling" && dep.starts_with("rask-") && dep != "rask-graph");
            let bridge = BRIDGES.contains(&(name, dep));
            if outward && !dev && !bridge {
                bad.push(format!("{name} depends on {dep}"));
            }
        }
    }
    if bad.is_empty() {
        println!(
            "deps: ok ({} inner crates depend only on the cores, {}, and the bridges {:?})",
            inner.len(),
            CORES.join(" and "),
            BRIDGES
        );
        Ok(())
    } else {
        Err(format!(
            "dependencies must point inward: {}",
            bad.join(", ")
        ))
    }
}

fn target_dir() -> Result<PathBuf, String> {
    if let Ok(d) = std::env::var("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(d));
    }
    metadata()?["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata has no target_directory".into())
}

const WORKLOADS: [(&str, f64); 3] = [
    ("independent", 100_001.0),
    ("chain", 100_000.0),
    ("tree", 199_999.0),
];

fn bench_overhead(flags: &[&str]) -> Result<(), String> {
    let with_dask = flags.contains(&"--dask");
    for (krate, bench) in [
        ("rask-local", "overhead"),
        ("rask-multiprocess", "processes"),
        ("rask-diagnostics", "callbacks"),
    ] {
        let mut c = cargo();
        c.args(["bench", "-p", krate, "--bench", bench]);
        if flags.contains(&"--quick") {
            c.args(["--", "--quick"]);
        }
        run(c)?;
    }
    let mut c = cargo();
    c.args(["bench", "-p", "rask-local", "--bench", "overhead"])
        .env("RASK_BENCH_MEMORY", "1")
        .stderr(Stdio::null());
    let out = c.output().map_err(|e| e.to_string())?;
    let memory = json_line(&out.stdout, "the memory report")?;

    let criterion = target_dir()?.join("criterion");
    let mean_s = |group: &str, id: &str| -> Result<f64, String> {
        let path = criterion.join(group).join(id).join("new/estimates.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let j: Json = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        j["mean"]["point_estimate"]
            .as_f64()
            .map(|ns| ns / 1e9)
            .ok_or_else(|| format!("{}: no mean", path.display()))
    };

    let dask = if with_dask {
        Some(dask_overhead()?)
    } else {
        None
    };
    let dask_us = |sched: &str, work: &str| -> Option<f64> {
        dask.as_ref()?["results"].as_array()?.iter().find_map(|r| {
            (r["scheduler"] == sched && r["workload"] == work).then(|| r["us_per_task"].as_f64())?
        })
    };

    println!();
    println!("per-task overhead, trivial tasks (rask: criterion mean; dask: best of 3)");
    println!(
        "{:<12} {:<9} {:>13} {:>13} {:>10}",
        "workload", "scheduler", "rask µs/task", "dask µs/task", "dask/rask"
    );
    for (work, tasks) in WORKLOADS {
        for sched in ["sync", "threaded"] {
            let rask = mean_s("overhead", &format!("{sched}_{work}"))? * 1e6 / tasks;
            let (d, ratio) = match dask_us(sched, work) {
                Some(d) => (format!("{d:.2}"), format!("{:.0}×", d / rask)),
                None => ("-".into(), "-".into()),
            };
            println!("{work:<12} {sched:<9} {rask:>13.3} {d:>13} {ratio:>10}");
        }
    }
    let procs = mean_s("processes", "independent")? * 1e6 / 100_001.0;
    let (d, ratio) = match dask_us("processes", "independent") {
        Some(d) => (format!("{d:.2}"), format!("{:.0}×", d / procs)),
        None => ("-".into(), "-".into()),
    };
    println!(
        "{:<12} {:<9} {procs:>13.3} {d:>13} {ratio:>10}",
        "independent", "processes"
    );
    println!("(processes: 2 workers; rask 100,000 tasks, dask 50,000 tasks)");
    let moved = mean_s("processes", "chunks-together")? - mean_s("processes", "chunks-apart")?;
    println!();
    println!(
        "a 100 MB result moved between two workers: {:.0} ms, {:.2} GB/s (two chunks read \
         together minus read apart)",
        moved * 1e3,
        0.1 / moved
    );
    let plain = mean_s("callbacks", "none")?;
    let watched = mean_s("callbacks", "progress-profiler")?;
    println!(
        "ProgressBar + Profiler on the threaded scheduler: {:+.3} µs/task ({:.3} → {:.3})",
        (watched - plain) * 1e6 / 100_001.0,
        plain * 1e6 / 100_001.0,
        watched * 1e6 / 100_001.0
    );
    let one = mean_s("latency", "threaded_one-task")?;
    let nine = mean_s("latency", "threaded_nine-tasks")?;
    let compute = mean_s("latency", "threaded_compute-one-task")?;
    println!();
    println!(
        "latency on the threaded scheduler (2 workers): one task {:.2} µs, compute() of one \
         task {:.2} µs, nine tasks (helpers woken) {:.2} µs",
        one * 1e6,
        compute * 1e6,
        nine * 1e6
    );
    let lower = mean_s("graph", "build-cull-order-lower-1m")?;
    println!();
    println!(
        "1,000,000-task graph: built, culled, ordered and lowered in {lower:.3} s (criterion mean)"
    );
    println!(
        "memory: graph {} B/task, graph + plan {} B/task (resident, measured by the kernel)",
        memory["graph_bytes_per_task"], memory["graph_and_plan_bytes_per_task"]
    );
    if let Some(d) = &dask {
        println!("dask {} on python {}", d["dask_version"], d["python"]);
    }
    Ok(())
}

fn venv_dir() -> PathBuf {
    std::env::var_os("RASK_DASK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into()))
                .join(".cache/rask-dask-venv")
        })
}

/// A venv with Dask, made on first use.
fn dask_python() -> Result<PathBuf, String> {
    let venv = venv_dir();
    let python = venv.join("bin/python");
    let check =
        format!("import dask, distributed, sys; sys.exit(dask.__version__ != '{DASK_VERSION}')");
    let ok = python.exists()
        && Command::new(&python)
            .args(["-c", &check])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "xtask: setting up {} with dask=={DASK_VERSION}",
            venv.display()
        );
        let mut c = Command::new("python3");
        c.args(["-m", "venv"]).arg(&venv);
        run(c)?;
        let mut c = Command::new(venv.join("bin/pip"));
        c.args([
            "install",
            "--quiet",
            &format!("dask[array]=={DASK_VERSION}"),
            &format!("distributed=={DASK_VERSION}"),
            "numpy",
        ]);
        run(c)?;
    }
    Ok(python)
}

fn dask_overhead() -> Result<Json, String> {
    let python = dask_python()?;
    eprintln!("xtask: running the Dask workloads (a minute or two)");
    let mut c = Command::new(python);
    c.arg(root().join("xtask/dask/overhead.py"))
        .arg("--processes");
    let out = stdout_of(c, "overhead.py")?;
    serde_json::from_slice(&out).map_err(|e| format!("overhead.py output: {e}"))
}

/// The distributed scheduler: the state machine's CPU per task (100 simulated workers, a
/// 1M-task graph), then a 2-worker LocalCluster end to end, beside Dask's with `--dask`.
fn bench_distributed(flags: &[&str]) -> Result<(), String> {
    let small = flags.contains(&"--small");
    let run_bench = |krate: &str, bench: &str| -> Result<Vec<Json>, String> {
        let mut c = cargo();
        c.args(["bench", "-p", krate, "--bench", bench]);
        if small {
            c.args(["--", "--small"]);
        }
        let out = stdout_of(c, &format!("the {bench} bench"))?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    };
    let state = run_bench("rask-scheduling", "state")?;
    let cluster = run_bench("rask-distributed", "cluster")?;
    let rask = cluster
        .first()
        .cloned()
        .ok_or("the cluster bench printed no JSON")?;
    let dask = if flags.contains(&"--dask") {
        let python = dask_python()?;
        eprintln!("xtask: running the distributed workloads with Dask (a few minutes)");
        let mut c = Command::new(python);
        c.arg(root().join("xtask/dask/cluster.py"));
        if small {
            c.arg("--small");
        }
        Some(json_line(&stdout_of(c, "cluster.py")?, "cluster.py")?)
    } else {
        None
    };
    println!();
    println!("the scheduling state machine alone (100 simulated workers, answers at once)");
    for s in &state {
        println!(
            "{:<14} {:>9} tasks {:>8.3} s {:>8.3} µs/task",
            s["workload"].as_str().unwrap_or("?"),
            s["tasks"].as_u64().unwrap_or(0),
            s["seconds"].as_f64().unwrap_or(0.0),
            s["us_per_task"].as_f64().unwrap_or(0.0)
        );
    }
    println!();
    println!("a 2-worker LocalCluster, 1 thread each (best of 3)");
    println!(
        "{:<22} {:>12} {:>12} {:>9}",
        "workload", "rask", "dask", "dask/rask"
    );
    let f = |j: &Json, k: &str| j[k].as_f64().unwrap_or(0.0);
    let row = |name: &str, key: &str, unit: &str, scale: f64, higher_better: bool| {
        let r = f(&rask, key) * scale;
        let (d, ratio) = match &dask {
            Some(d) => {
                let dv = f(d, key) * scale;
                let ratio = if higher_better { r / dv } else { dv / r };
                (format!("{dv:.3} {unit}"), format!("{ratio:.1}×"))
            }
            None => ("-".into(), "-".into()),
        };
        println!(
            "{name:<22} {:>12} {d:>12} {ratio:>9}",
            format!("{r:.3} {unit}")
        );
    };
    row("trivial tasks", "us_per_task", "µs", 1.0, false);
    row("histogram of normals", "histogram_seconds", "s", 1.0, false);
    row("fancy mean", "fancy_seconds", "s", 1.0, false);
    row(
        "100 MB worker→worker",
        "transfer_gb_per_s",
        "GB/s",
        1.0,
        true,
    );
    row(
        "worker peak RSS",
        "worker_peak_rss_bytes",
        "MB",
        1e-6,
        false,
    );
    println!(
        "(rask: {} trivial tasks; dask: {})",
        rask["tasks"].as_u64().unwrap_or(0),
        dask.as_ref()
            .and_then(|d| d["trivial_tasks"].as_u64())
            .map_or("-".to_string(), |n| n.to_string())
    );
    Ok(())
}

/// The tutorial's array workloads, each in its own process (for its own peak RSS).
fn bench_arrays(flags: &[&str]) -> Result<(), String> {
    let small = flags.contains(&"--small");
    // The tutorial's three, then the first two on random data (no constant lanes to fold),
    // then the arrays-part-two figures: x @ x.T, a 20000² rechunk, an 8 GB zarr round trip, and
    // building and optimizing a 3M-task graph (the last two rask only).
    let workloads = [
        "fancy",
        "cosmean",
        "histogram",
        "fancy-random",
        "cosmean-random",
        "hypot-npy",
        "doubling",
        "matmul",
        "rechunk",
        "zarr",
        "optimize",
        "blocks",
    ];
    let mut rask = Vec::new();
    for w in workloads {
        let mut c = cargo();
        c.args(["bench", "-p", "rask-array", "--bench", "tutorial", "--", w]);
        if small {
            c.arg("--small");
        }
        let what = format!("the {w} bench");
        rask.push(json_line(&stdout_of(c, &what)?, &what)?);
    }
    // Per workload, Dask's figures; the zarr round trip and the graph optimization have no
    // Dask side.
    let mut dask: Vec<Option<Json>> = vec![None; workloads.len()];
    if flags.contains(&"--dask") {
        let python = dask_python()?;
        for (i, w) in workloads.iter().enumerate() {
            if ["zarr", "optimize", "blocks"].contains(w) {
                continue;
            }
            eprintln!("xtask: running {w} with Dask");
            let mut c = Command::new(&python);
            c.arg(root().join("xtask/dask/arrays.py")).arg(w);
            if small {
                c.arg("--small");
            }
            let what = format!("arrays.py {w}");
            dask[i] = Some(json_line(&stdout_of(c, &what)?, &what)?);
        }
    }
    let mb = |j: &Json| j["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1e6;
    println!();
    println!("the tutorial's array computations (best of 3; peak RSS of the whole process)");
    println!(
        "{:<15} {:>9} {:>10} {:>9} {:>10} {:>8}",
        "workload", "rask s", "rask MB", "dask s", "dask MB", "speedup"
    );
    for (i, w) in workloads.iter().enumerate() {
        let rs = rask[i]["seconds"].as_f64().unwrap_or(0.0);
        let rm = mb(&rask[i]);
        let (ds, dm, sp) = match &dask[i] {
            Some(d) => {
                let ds = d["seconds"].as_f64().unwrap_or(0.0);
                (
                    format!("{ds:.3}"),
                    format!("{:.0}", mb(d)),
                    format!("{:.1}×", ds / rs),
                )
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!("{w:<15} {rs:>9.3} {rm:>10.0} {ds:>9} {dm:>10} {sp:>8}");
    }
    // The product's rate beside the block kernel's own on large products.
    if let Some(m) = workloads.iter().position(|w| *w == "matmul") {
        let f = |k: &str| rask[m][k].as_f64().unwrap_or(0.0);
        println!(
            "x @ x.T: {:.1} GFLOP/s, {:.0}% of the {:.1} GFLOP/s the block kernel reaches on large products (one per core)",
            f("gflops"),
            100.0 * f("gflops") / f("gemm_gflops").max(1e-9),
            f("gemm_gflops")
        );
    }
    // Building, optimizing and computing n one-element blocks: linear in n, or not.
    if let Some(b) = workloads.iter().position(|w| *w == "blocks") {
        let f = |k: &str| rask[b][k].as_f64().unwrap_or(0.0);
        let (n1, n5) = if small {
            ("100k", "500k")
        } else {
            ("1M", "5M")
        };
        // Best over best, then the median of each round's own ratio (runs made one after
        // the other, under the same drift of the machine's speed).
        for (dims, one, five, median) in [
            (
                "1-d",
                f("seconds_1m"),
                f("seconds_5m"),
                f("median_ratio_1d"),
            ),
            (
                "2-d",
                f("seconds_1m_2d"),
                f("seconds_5m_2d"),
                f("median_ratio_2d"),
            ),
        ] {
            println!(
                "blocks {dims}: {n1} in {one:.2} s, {n5} in {five:.2} s: {:.2}× the time for 5× the blocks (median of the rounds' ratios {median:.2}×)",
                five / one
            );
        }
        // The yardstick: plain Rust doing to memory per block what the blocks do, no rask.
        println!(
            "plain Rust with the blocks' memory per block (no rask): {n1} in {:.2} s ({:.0} MB), {n5} in {:.2} s ({:.0} MB): {:.2}× (median of the rounds' ratios {:.2}×)",
            f("reference_1m"),
            f("reference_1m_rss") / 1e6,
            f("reference_5m"),
            f("reference_5m_rss") / 1e6,
            f("reference_5m") / f("reference_1m").max(1e-9),
            f("median_ratio_reference")
        );
        println!(
            "y = y + y, n times, summed (1000² random, 250² chunks): n = 10 in {:.3} s, 20 in {:.3} s, 40 in {:.3} s",
            f("doubling_10"),
            f("doubling_20"),
            f("doubling_40")
        );
    }
    Ok(())
}

/// The bag workloads, each in its own process, on data generated (seeded) on first use.
fn bench_bags(flags: &[&str]) -> Result<(), String> {
    let small = flags.contains(&"--small");
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let data = home
        .join(".cache/rask-bench-data")
        .join(if small { "bags-small" } else { "bags" });
    let data_arg = data.to_string_lossy().into_owned();
    let bench = |args: &[&str]| {
        let mut c = cargo();
        c.args(["bench", "-p", "rask-bag", "--bench", "bags", "--"]);
        c.args(args).arg(&data_arg);
        if small {
            c.arg("--small");
        }
        c
    };
    eprintln!("xtask: generating the data in {data_arg} (once)");
    run(bench(&["generate"]))?;
    let runs: [(&str, &str); 7] = [
        ("wordcount", "threaded"),
        ("wordcount", "processes"),
        ("json", "threaded"),
        ("json", "processes"),
        ("json-serde", "threaded"),
        ("json-serde", "processes"),
        ("json-typed", "threaded"),
    ];
    let mut rask = Vec::new();
    for (w, sched) in runs {
        let mut c = bench(&[w]);
        if sched == "processes" {
            c.arg("--processes");
        }
        let what = format!("the {w} bench ({sched})");
        eprintln!("xtask: {what}");
        rask.push(json_line(&stdout_of(c, &what)?, &what)?);
    }
    // Dask's side: its bag's default scheduler (processes), the same files.
    let mut dask: Vec<(&str, Json)> = Vec::new();
    if flags.contains(&"--dask") {
        let python = dask_python()?;
        for w in ["wordcount", "json"] {
            eprintln!("xtask: running {w} with Dask");
            let mut c = Command::new(&python);
            c.arg(root().join("xtask/dask/bags.py"))
                .arg(w)
                .arg(&data_arg);
            let what = format!("bags.py {w}");
            dask.push((w, json_line(&stdout_of(c, &what)?, &what)?));
        }
    }
    let mb = |j: &Json| j["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1e6;
    let dask_of = |w: &str| {
        let w = if w.starts_with("json") { "json" } else { w };
        dask.iter().find(|(d, _)| *d == w).map(|(_, j)| j)
    };
    println!();
    println!("bags (best of 3; peak RSS of the process tree; Dask bag on 2 processes)");
    println!(
        "{:<11} {:<10} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "workload", "rask on", "rask s", "rask MB", "dask s", "dask MB", "speedup"
    );
    let mut disagree = Vec::new();
    for (i, (w, sched)) in runs.iter().enumerate() {
        let r = &rask[i];
        let rs = r["seconds"].as_f64().unwrap_or(0.0);
        let (ds, dm, sp) = match dask_of(w) {
            Some(d) => {
                let ds = d["seconds"].as_f64().unwrap_or(0.0);
                if d["answer"] != r["answer"] {
                    disagree.push(format!(
                        "{w} ({sched}): rask {} / dask {}",
                        r["answer"], d["answer"]
                    ));
                }
                (
                    format!("{ds:.3}"),
                    format!("{:.0}", mb(d)),
                    format!("{:.1}×", ds / rs),
                )
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{w:<11} {sched:<10} {rs:>8.3} {:>8.0} {ds:>8} {dm:>8} {sp:>8}",
            mb(r)
        );
    }
    // Every rask run of a workload gives the same answer, and Dask's.
    for (i, (w, sched)) in runs.iter().enumerate() {
        if let Some(j) = runs.iter().position(|(v, _)| v == w)
            && rask[j]["answer"] != rask[i]["answer"]
        {
            disagree.push(format!("{w}: threaded and {sched} differ"));
        }
    }
    if disagree.is_empty() {
        Ok(())
    } else {
        Err(format!("answers differ: {}", disagree.join("; ")))
    }
}

/// The bench venv with Dask's dataframes, Polars and DuckDB added, on first use.
fn dataframe_python() -> Result<PathBuf, String> {
    let python = dask_python()?;
    let ok = Command::new(&python)
        .args(["-c", "import dask.dataframe, pyarrow, polars, duckdb"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("xtask: adding dask[dataframe], polars and duckdb to the bench venv");
        let mut c = Command::new(python.with_file_name("pip"));
        c.args([
            "install",
            "--quiet",
            &format!("dask[dataframe]=={DASK_VERSION}"),
            "polars",
            "duckdb",
        ]);
        run(c)?;
    }
    Ok(python)
}

/// Two answers agree: the same groups and integer sums, float sums within rounding.
fn answers_agree(a: &Json, b: &Json) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    a.len() == b.len()
        && a.iter().all(
            |(k, x)| match (x.as_f64(), b.get(k).and_then(Json::as_f64)) {
                (Some(x), Some(y)) if x.fract() != 0.0 || y.fract() != 0.0 => {
                    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
                }
                _ => b.get(k) == Some(x),
            },
        )
}

/// The dataframe workloads, each in its own process, on Parquet data generated (seeded) on
/// first use; with `--dask`, Dask, Polars and DuckDB on the same files.
fn bench_dataframes(flags: &[&str]) -> Result<(), String> {
    let small = flags.contains(&"--small");
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let data = home.join(".cache/rask-bench-data").join(if small {
        "dataframes-small"
    } else {
        "dataframes"
    });
    let data_arg = data.to_string_lossy().into_owned();
    let bench = |args: &[&str]| {
        let mut c = cargo();
        c.args([
            "bench",
            "-p",
            "rask-dataframe",
            "--bench",
            "dataframes",
            "--",
        ]);
        c.args(args).arg(&data_arg);
        if small {
            c.arg("--small");
        }
        c
    };
    eprintln!("xtask: generating the data in {data_arg} (once)");
    run(bench(&["generate"]))?;
    let workloads = ["groupby-100", "groupby-1m", "q1", "q6", "join", "sort"];
    let mut rask = Vec::new();
    for w in workloads {
        let what = format!("the {w} bench");
        eprintln!("xtask: {what}");
        rask.push(json_line(&stdout_of(bench(&[w]), &what)?, &what)?);
    }
    // The sort again with the shuffle's buckets held in memory limited to half the data's
    // size in memory (50M rows of 16 bytes): the rest spills to disk.
    let budget: u64 = if small { 8 << 20 } else { 400 << 20 };
    let what = "the sort bench with a memory budget";
    eprintln!("xtask: {what}");
    let mut c = bench(&["sort"]);
    c.env("RASK_SHUFFLE_MEMORY_BUDGET", budget.to_string());
    let budgeted = json_line(&stdout_of(c, what)?, what)?;
    let engines = ["dask", "polars", "duckdb"];
    let mut others: Vec<(&str, &str, Json)> = Vec::new();
    if flags.contains(&"--dask") {
        let python = dataframe_python()?;
        for w in workloads {
            for e in engines {
                eprintln!("xtask: {w} with {e}");
                let mut c = Command::new(&python);
                c.arg(root().join("xtask/dask/dataframes.py"))
                    .args([e, w])
                    .arg(&data_arg);
                let what = format!("dataframes.py {e} {w}");
                others.push((e, w, json_line(&stdout_of(c, &what)?, &what)?));
            }
        }
    }
    let mb = |j: &Json| j["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1e6;
    println!();
    println!("dataframes (best of 5, seconds; peak RSS in MB; rask on the threaded scheduler)");
    print!("{:<12} {:>7} {:>7}", "workload", "rask", "MB");
    for e in engines {
        print!(" {e:>7} {:>7}", "MB");
    }
    println!(" {:>8} {:>9} {:>9}", "vs dask", "vs polars", "vs duckdb");
    let mut disagree = Vec::new();
    for (i, w) in workloads.iter().enumerate() {
        let r = &rask[i];
        let rs = r["seconds"].as_f64().unwrap_or(0.0);
        print!("{w:<12} {rs:>7.3} {:>7.0}", mb(r));
        let mut secs = std::collections::HashMap::new();
        for e in engines {
            match others.iter().find(|(oe, ow, _)| oe == &e && ow == w) {
                Some((_, _, j)) => {
                    let s = j["seconds"].as_f64().unwrap_or(0.0);
                    secs.insert(e, s);
                    print!(" {s:>7.3} {:>7.0}", mb(j));
                    if !answers_agree(&j["answer"], &r["answer"]) {
                        disagree.push(format!("{w}: rask {} / {e} {}", r["answer"], j["answer"]));
                    }
                }
                None => print!(" {:>7} {:>7}", "-", "-"),
            }
        }
        let ratio = |e: &str| {
            secs.get(e)
                .map_or_else(|| "-".to_string(), |s| format!("{:.2}×", s / rs))
        };
        println!(
            " {:>8} {:>9} {:>9}",
            ratio("dask"),
            ratio("polars"),
            ratio("duckdb")
        );
    }
    println!(
        "sort with the shuffle's buckets in memory limited to {} MB: {:.3} s, {:.0} MB peak",
        budget >> 20,
        budgeted["seconds"].as_f64().unwrap_or(0.0),
        mb(&budgeted)
    );
    if budgeted["answer"] != rask[workloads.len() - 1]["answer"] {
        disagree.push(format!("sort with a budget: {}", budgeted["answer"]));
    }
    if disagree.is_empty() {
        Ok(())
    } else {
        Err(format!("answers differ: {}", disagree.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    /// `cargo test` sets the package's variables as `cargo run` does for `cargo xtask`: the
    /// cargo commands the xtask runs must not pass them on (a build script that reruns when
    /// one changes would rebuild Polars).
    #[test]
    fn cargo_commands_drop_the_variables_cargo_set_for_the_xtask() {
        assert_eq!(std::env::var("CARGO_PKG_NAME").as_deref(), Ok("xtask"));
        let c = super::cargo();
        let removed: Vec<_> = (c.get_envs())
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_VERSION_MAJOR",
        ] {
            assert!(removed.iter().any(|r| r == name), "{name} in {removed:?}");
        }
        assert!(
            !removed
                .iter()
                .any(|r| r == "CARGO_TARGET_DIR" || r == "CARGO_HOME")
        );
    }
}
