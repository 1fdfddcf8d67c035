//! The rask tour: Dask's model, step by step, in Rust.
//!
//! `cargo run --release --example tour` runs it at full size; `-- --small` (or the
//! `RASK_TOUR_SMALL` environment variable) runs a reduced version in a second. It writes its
//! pictures (graphs as DOT) into a folder that it names at the end.
//!
//! Until the array collection lands, the tour follows the tutorial's ideas with `delayed`:
//! lazy values, a graph you can look at, a reduction designed for you, a bigger calculation on
//! every core, persisting, and errors that name the task at fault.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rask::delayed::{self, Delayed};
use rask::prelude::*;
use rask::schedulers::{SyncScheduler, ThreadedScheduler};

/// Sums delayed numbers with a tree of `split_every`-wide partial sums, as Dask's reductions do.
fn tree_sum(mut level: Vec<Delayed<f64>>, split_every: usize) -> Delayed<f64> {
    let mut depth = 0;
    while level.len() > 1 {
        let name = if level.len() <= split_every {
            "sum-aggregate".to_string()
        } else {
            format!("sum-partial-{depth}")
        };
        level = level
            .chunks(split_every)
            .map(|group| delayed::join(&name, group, |xs| xs.iter().copied().sum::<f64>()))
            .collect();
        depth += 1;
    }
    level.pop().unwrap_or_else(|| delayed::value(0.0))
}

/// Runs the tour, writing pictures into `out`. Returns the final answer, for tests.
pub fn run(small: bool, out: &Path) -> Result<f64, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    println!("# 1. Lazy values");
    println!("A rask value doesn't hold data: it describes how to compute it.");
    let x = delayed::value(1.0f64).map("inc", |x| x + 1.0);
    let y = delayed::value(2.0f64).map("inc", |x| x + 1.0);
    let z = x.zip_with(&y, "add", |a, b| a + b);
    println!("z = {z}");
    println!("its graph has {} tasks", z.graph().len());
    std::fs::write(out.join("z.dot"), rask::graph::dot::to_dot(z.graph()))?;
    println!("z.compute() = {}", z.compute()?);

    println!("\n# 2. A reduction designed for you");
    let chunks: Vec<Delayed<f64>> = (0..8)
        .map(|i| delayed::value(i as f64).map("ones", |_| 1000.0 * 1000.0))
        .collect();
    let sum_of_ones = tree_sum(chunks, 4);
    println!(
        "sum_of_ones = {sum_of_ones} ({} tasks)",
        sum_of_ones.graph().len()
    );
    std::fs::write(
        out.join("sum_of_ones.dot"),
        rask::graph::dot::to_dot(sum_of_ones.graph()),
    )?;
    println!("sum_of_ones.compute() = {}", sum_of_ones.compute()?);

    println!("\n# 3. A bigger calculation");
    let n: usize = if small { 2_000 } else { 200_000 };
    let blocks: Vec<Delayed<f64>> = (0..n)
        .map(|i| delayed::value(i as f64).map("square", |x| x * x))
        .collect();
    let big = tree_sum(blocks, 32);
    println!(
        "big = {big} ({} tasks — do not try to draw this one!)",
        big.graph().len()
    );
    let expected: f64 = (0..n).map(|i| (i as f64) * (i as f64)).sum();
    // Watch the big computations, as `with ProgressBar():` does.
    let progress =
        rask::config::add_callback(std::sync::Arc::new(rask::diagnostics::ProgressBar::new()));
    for (name, scheduler) in [
        ("sync", Box::new(SyncScheduler) as Box<dyn rask::Scheduler>),
        ("threaded", Box::new(ThreadedScheduler::builder().build()?)),
    ] {
        let t = Instant::now();
        let v = big.compute_with(&*scheduler)?;
        println!(
            "{name:>8}: {v:.6e} in {:.1} ms ({:.2} µs per task)",
            t.elapsed().as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e6 / big.graph().len() as f64
        );
        assert!((v - expected).abs() <= 1e-9 * expected.abs());
    }

    drop(progress);

    println!("\n# 4. Persist: compute once, reuse");
    let persisted = big.persist()?;
    println!("persisted graph: {} task(s)", persisted.graph().len());
    let again = persisted.map("sqrt", |v| v.sqrt());
    println!("sqrt(big) = {:.6e}", again.compute()?);

    println!("\n# 5. Errors name the task at fault");
    let bad = delayed::value(-1.0f64).try_map("checked-sqrt", |x: &f64| {
        if *x < 0.0 {
            Err(format!("cannot take the square root of {x}"))
        } else {
            Ok(x.sqrt())
        }
    });
    match bad.compute() {
        Ok(v) => println!("unexpected: {v}"),
        Err(e) => println!("error: {e}"),
    }

    println!("\nPictures (DOT) are in {}", out.display());
    Ok(again.compute()?)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let small =
        std::env::args().any(|a| a == "--small") || std::env::var_os("RASK_TOUR_SMALL").is_some();
    let out = PathBuf::from("tour-output");
    run(small, &out)?;
    Ok(())
}
