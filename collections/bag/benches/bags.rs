//! Bag workloads, each timed (best of 3) in its own process: `cargo bench -p rask-bag --bench
//! bags -- WORKLOAD DATA_DIR [--processes]`. Prints one JSON line: seconds, the answer (to be
//! checked against Dask's), and the peak resident memory of this process.
//!
//! - `generate DATA_DIR [--small]`: writes the data both sides read, seeded, if it is not there
//!   yet — `text/` (1 GiB of words in 32 files; 32 MiB with `--small`) and `json/` (1M records
//!   of 10 fields in 8 files; 50k with `--small`).
//! - `wordcount`: `read_text → str().split(None) → flatten → frequencies → topk_by(20, count)`.
//! - `json`: `read_json_lines` of untyped `sonic_rs::Value`s (rask-bag's fastest JSON value)
//!   → `filter(active)` → `pluck("city")` → `foldby(city, count)`.
//! - `json-serde`: the same query on `serde_json::Value`s.
//! - `json-typed`: the same query on records read through serde into a struct.
//!
//! `--processes` runs on 2 worker processes instead of the threaded scheduler.
//! `cargo xtask bench bags [--dask] [--small]` runs them all, beside Dask.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use rask_bag::sonic_rs::{self, JsonValueTrait};
use rask_bag::{ReadOptions, read_json_lines, read_text};
use rask_graph::{Collection, Scheduler};
use rask_local::ThreadedScheduler;
use rask_macros::named;
use rask_multiprocess::ProcessScheduler;
use rask_testing::bench::{Rng, tree_peak_rss_of};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[named(crate = rask_graph)]
fn count_of(p: &(String, u64)) -> u64 {
    p.1
}

#[named(crate = rask_graph)]
fn active(r: &sonic_rs::Value) -> bool {
    r["active"].as_bool().unwrap_or(false)
}

#[named(crate = rask_graph)]
fn city_name(v: &sonic_rs::Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

#[named(crate = rask_graph)]
fn one_more(n: u64, _v: &sonic_rs::Value) -> u64 {
    n + 1
}

#[named(crate = rask_graph)]
fn serde_active(r: &Value) -> bool {
    r["active"].as_bool().unwrap_or(false)
}

#[named(crate = rask_graph)]
fn serde_city_name(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

#[named(crate = rask_graph)]
fn serde_one_more(n: u64, _v: &Value) -> u64 {
    n + 1
}

#[named(crate = rask_graph)]
fn add(a: u64, b: &u64) -> u64 {
    a + b
}

/// One JSON record as the typed query reads it (the fields it does not use are skipped).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    city: String,
    active: bool,
    amount: f64,
}

rask_bag::register_item!(Record, "bench.record");

#[named(crate = rask_graph)]
fn record_active(r: &Record) -> bool {
    r.active
}

#[named(crate = rask_graph)]
fn record_city(r: &Record) -> String {
    r.city.clone()
}

#[named(crate = rask_graph)]
fn one_more_record(n: u64, _r: &Record) -> u64 {
    n + 1
}

const CITIES: [&str; 16] = [
    "Amsterdam",
    "Berlin",
    "Cairo",
    "Delhi",
    "Edinburgh",
    "Florence",
    "Geneva",
    "Havana",
    "Istanbul",
    "Jakarta",
    "Kyoto",
    "Lima",
    "Madrid",
    "Nairobi",
    "Oslo",
    "Paris",
];

fn generate(dir: &Path, small: bool) -> std::io::Result<()> {
    let done = dir.join("complete");
    if done.exists() {
        return Ok(());
    }
    let text = dir.join("text");
    let json = dir.join("json");
    std::fs::create_dir_all(&text)?;
    std::fs::create_dir_all(&json)?;
    let mut rng = Rng(2026);
    // 20,000 words of 2–11 letters, drawn with Zipf's law (s = 1), as in prose.
    let vocabulary: Vec<String> = (0..20_000)
        .map(|_| {
            let len = 2 + rng.below(10);
            (0..len)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect()
        })
        .collect();
    let mut cumulative = Vec::with_capacity(vocabulary.len());
    let mut total = 0.0;
    for r in 0..vocabulary.len() {
        total += 1.0 / (r + 1) as f64;
        cumulative.push(total);
    }
    let file_bytes: usize = if small { 1 << 20 } else { 32 << 20 };
    for f in 0..32 {
        let mut out = BufWriter::new(std::fs::File::create(text.join(format!("{f:02}.txt")))?);
        let mut written = 0;
        while written < file_bytes {
            let n = 8 + rng.below(9);
            let mut line = String::new();
            for i in 0..n {
                let u = rng.unit() * total;
                let w = cumulative
                    .partition_point(|c| *c < u)
                    .min(vocabulary.len() - 1);
                if i > 0 {
                    line.push(' ');
                }
                line.push_str(&vocabulary[w]);
            }
            line.push('\n');
            written += line.len();
            out.write_all(line.as_bytes())?;
        }
        out.flush()?;
    }
    let records: u64 = if small { 50_000 } else { 1_000_000 };
    let per_file = records / 8;
    for f in 0..8 {
        let mut out = BufWriter::new(std::fs::File::create(json.join(format!("{f}.jsonl")))?);
        for i in f * per_file..(f + 1) * per_file {
            let city = CITIES[rng.below(CITIES.len() as u64) as usize];
            let tags: Vec<&str> = (0..rng.below(4))
                .map(|_| CITIES[rng.below(16) as usize])
                .collect();
            let record = serde_json::json!({
                "id": i,
                "name": format!("user{i}"),
                "city": city,
                "age": 18 + rng.below(70),
                "score": rng.unit(),
                "active": rng.below(3) != 0,
                "tags": tags,
                "email": format!("user{i}@example.com"),
                "amount": (rng.unit() * 100_000.0).round() / 100.0,
                "ts": 1_700_000_000 + rng.below(100_000_000),
            });
            serde_json::to_writer(&mut out, &record)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    std::fs::write(done, b"")
}

fn glob(dir: &Path, sub: &str, pattern: &str) -> String {
    dir.join(sub).join(pattern).to_string_lossy().into_owned()
}

/// The per-city counts as one canonical string (sorted by city).
fn by_city(mut counts: Vec<(String, u64)>) -> String {
    counts.sort();
    let parts: Vec<String> = counts.iter().map(|(c, n)| format!("{c}={n}")).collect();
    parts.join(",")
}

fn main() {
    let (workload, dir, flags) = rask_testing::bench::args(
        "usage: bags generate|wordcount|json|json-serde|json-typed DATA_DIR [--small] [--processes]",
    );
    let workload = workload.as_str();
    let small = flags.iter().any(|a| a == "--small");
    let processes = flags.iter().any(|a| a == "--processes");
    if workload == "generate" {
        generate(&dir, small).unwrap_or_else(|e| panic!("generating {}: {e}", dir.display()));
        return;
    }
    let s: Box<dyn Scheduler> = if processes {
        Box::new(
            ProcessScheduler::builder()
                .num_workers(2)
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        )
    } else {
        Box::new(ThreadedScheduler::builder().build().unwrap_or_default())
    };
    let mut answer = String::new();
    let mut run = || -> f64 {
        let t = Instant::now();
        answer = match workload {
            "wordcount" => {
                let b = read_text(&[&glob(&dir, "text", "*.txt")], ReadOptions::default())
                    .unwrap_or_else(|e| panic!("{e}"));
                // Dask's `b.str.split().flatten().frequencies().topk(20, key=1)`.
                let top = b
                    .str()
                    .split(None)
                    .flatten()
                    .frequencies()
                    .topk_by(20, count_of);
                let top = top
                    .compute_with(s.as_ref())
                    .unwrap_or_else(|e| panic!("{e}"));
                let parts: Vec<String> = top.iter().map(|(w, n)| format!("{w}={n}")).collect();
                parts.join(",")
            }
            "json" => {
                let b = read_json_lines::<sonic_rs::Value>(
                    &[&glob(&dir, "json", "*.jsonl")],
                    ReadOptions::default(),
                )
                .unwrap_or_else(|e| panic!("{e}"));
                let counts = b
                    .filter(active)
                    .pluck("city")
                    .foldby(city_name, one_more, 0, add, 0);
                by_city(
                    counts
                        .compute_with(s.as_ref())
                        .unwrap_or_else(|e| panic!("{e}")),
                )
            }
            "json-serde" => {
                let b = read_json_lines::<Value>(
                    &[&glob(&dir, "json", "*.jsonl")],
                    ReadOptions::default(),
                )
                .unwrap_or_else(|e| panic!("{e}"));
                let counts = b.filter(serde_active).pluck("city").foldby(
                    serde_city_name,
                    serde_one_more,
                    0,
                    add,
                    0,
                );
                by_city(
                    counts
                        .compute_with(s.as_ref())
                        .unwrap_or_else(|e| panic!("{e}")),
                )
            }
            "json-typed" => {
                let b = read_json_lines::<Record>(
                    &[&glob(&dir, "json", "*.jsonl")],
                    ReadOptions::default(),
                )
                .unwrap_or_else(|e| panic!("{e}"));
                let counts =
                    b.filter(record_active)
                        .foldby(record_city, one_more_record, 0, add, 0);
                by_city(
                    counts
                        .compute_with(s.as_ref())
                        .unwrap_or_else(|e| panic!("{e}")),
                )
            }
            other => {
                eprintln!("unknown workload {other}");
                std::process::exit(2);
            }
        };
        t.elapsed().as_secs_f64()
    };
    let best = (0..3).map(|_| run()).fold(f64::INFINITY, f64::min);
    println!(
        "{}",
        serde_json::json!({
            "workload": workload,
            "scheduler": if processes { "processes" } else { "threaded" },
            "seconds": best,
            "answer": answer,
            "peak_rss_bytes": tree_peak_rss_of("self"),
        })
    );
}
