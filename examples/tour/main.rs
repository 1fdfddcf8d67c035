//! The rask tour: the Dask tutorial (`intro-to-dask-notebook`), step by step, in Rust.
//!
//! `cargo run --release --example tour` runs it at full size; `-- --small` (or the
//! `RASK_TOUR_SMALL` environment variable) runs a reduced version in a second. It writes its
//! pictures (graphs as PNG with their DOT, and the two plots) into a folder that it names at
//! the end.
//!
//! It covers 10.2 (arrays, chunks, compute, graphs), 10.2.1 (chunk shapes), 10.2.2 (the big
//! calculation, with a progress bar), 10.2.3 (reductions, and the line plot), 10.3 (a
//! `LocalCluster` of worker processes, its `Client` and summary, and the histogram of normal
//! samples computed on it), and `delayed` for graphs that are not arrays.

mod plots;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rask::delayed;
use rask::prelude::*;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Runs the tour, writing pictures into `out`. Returns the big calculation's result, for tests.
pub fn run(small: bool, out: &Path) -> Result<f64, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    let (shape, chunk_shape, bigshape): ([usize; 2], [usize; 2], [usize; 2]) = if small {
        ([100, 400], [100, 100], [2000, 400])
    } else {
        ([1000, 4000], [1000, 1000], [200_000, 4000])
    };

    println!("# 10.2 Dask Arrays");
    let ones_np = ndarray::Array2::<f64>::ones(shape);
    println!(
        "A NumPy-like array of ones, {shape:?}: {} MiB",
        mib(ones_np.len() * 8)
    );
    let ones = Array::<f64>::ones(&shape, ChunkAll(&shape))?;
    println!("ones = {ones}");

    println!("\n# 10.2.1 Specifying Chunks");
    let ones = Array::<f64>::ones(&shape, chunk_shape)?;
    println!("ones = {ones}");
    println!("chunks = {:?}", ones.chunks().axes());
    let computed = ones.compute()?;
    println!(
        "ones.compute() -> ndarray of shape {:?}, all ones: {}",
        computed.shape(),
        computed.iter().all(|v| *v == 1.0)
    );
    ones.visualize(out.join("ones.png"))?;
    let sum_of_ones = ones.sum(Reduction::all())?;
    sum_of_ones.visualize(out.join("sum_of_ones.png"))?;
    println!(
        "sum_of_ones = {sum_of_ones} -> {}",
        sum_of_ones.compute()?.into_scalar()?
    );
    let fancy_calculation = (&ones * &ones.slice(s![..;-1, ..;-1])?).mean(Reduction::all())?;
    fancy_calculation.visualize(out.join("fancy_calculation.png"))?;
    println!(
        "fancy_calculation = {fancy_calculation} -> {}",
        fancy_calculation.compute()?.into_scalar()?
    );

    println!("\n# 10.2.2 A Bigger Calculation");
    let big_ones = Array::<f64>::ones(&bigshape, chunk_shape)?;
    println!("big_ones = {big_ones}");
    println!("big_ones.nbytes / 2**20 = {}", mib(big_ones.nbytes()));
    if let Err(e) = big_ones.visualize(out.join("big_ones.png")) {
        println!("Do not try to .visualize() this array! ({e})");
    }
    let big_calc = (&big_ones * &big_ones.slice(s![..;-1, ..;-1])?).mean(Reduction::all())?;
    let result = {
        // `with ProgressBar():`
        let _bar = rask::config::add_callback(Arc::new(rask::diagnostics::ProgressBar::new()));
        let t = Instant::now();
        let r = big_calc.compute()?.into_scalar()?;
        println!("result = {r} in {:.2} s", t.elapsed().as_secs_f64());
        r
    };

    println!("\n# 10.2.3 Reduction");
    let big_ones_reduce = big_ones.cos().powi(2).mean(Reduction::axis(0))?;
    println!("big_ones_reduce = {big_ones_reduce}");
    let reduced = {
        let _bar = rask::config::add_callback(Arc::new(rask::diagnostics::ProgressBar::new()));
        let t = Instant::now();
        let r = big_ones_reduce.compute()?;
        println!("computed in {:.2} s", t.elapsed().as_secs_f64());
        r
    };
    let reduced: Vec<f64> = reduced.iter().copied().collect();
    println!(
        "big_ones_reduce[:3] = {:?}, … ({} values; cos(1)**2 = {})",
        &reduced[..3],
        reduced.len(),
        1f64.cos().powi(2)
    );
    // `plt.plot(big_ones_reduce)`
    plots::line(
        &out.join("big_ones_reduce.png"),
        "(cos(big_ones)**2).mean(axis=0)",
        &reduced,
    )?;

    println!("\n# 10.3.1 Local Cluster");
    // `cluster = LocalCluster(); client = Client(cluster)`: one worker process per core (this
    // program, started again), and a client that is the default scheduler while it lives.
    let cluster = rask::distributed::LocalCluster::builder().build()?;
    let client = rask::distributed::Client::new(&cluster)?;
    println!("{client}");
    println!("{}", client.summary()?);

    println!("\n# 10.3 Another bigger calculation: a histogram of normal samples (on the cluster)");
    let n = if small { 2_000_000 } else { 200_000_000 };
    let random_values =
        rask::array::random::Generator::new(0).normal(0.0, 1.0, &[n], 1_000_000usize)?;
    println!("random_values = {random_values}");
    let (hist, bins) = random_values.histogram(100, (-5.0, 5.0))?;
    println!("hist = {hist}");
    let counts = {
        // `hist_c = hist.compute()`
        let _bar = rask::config::add_callback(Arc::new(rask::diagnostics::ProgressBar::new()));
        let t = Instant::now();
        let c = hist.compute()?;
        println!(
            "histogram of {n} samples in {:.2} s",
            t.elapsed().as_secs_f64()
        );
        c
    };
    // `x = 0.5 * (bins[1:] + bins[:-1]); width = np.diff(bins); plt.bar(x, hist_c, width)`
    let counts_vec: Vec<u64> = counts.iter().copied().collect();
    plots::bars(
        &out.join("histogram.png"),
        &format!("histogram of {n} normal samples, 100 bins on [-5, 5]"),
        &bins,
        &counts_vec,
    )?;
    drop(client);
    drop(cluster);
    let peak = counts.iter().copied().max().unwrap_or(0);
    let mid = counts.iter().position(|c| *c == peak).unwrap_or(0);
    println!(
        "bins[:-1] from {} to {}; the fullest bin is [{:.1}, {:.1}) with {peak} samples; total {}",
        bins[0],
        bins[bins.len() - 2],
        bins[mid],
        bins[mid + 1],
        counts.sum()
    );

    println!("\n# Beyond arrays: delayed");
    let x = delayed::value(1.0f64).map("inc", |x| x + 1.0);
    let y = delayed::value(2.0f64).map("inc", |x| x + 1.0);
    let z = x.zip_with(&y, "add", |a, b| a + b);
    println!("z = {z} -> {}", z.compute()?);
    let bad = delayed::value(-1.0f64).try_map("checked-sqrt", |x: &f64| {
        if *x < 0.0 {
            Err(format!("cannot take the square root of {x}"))
        } else {
            Ok(x.sqrt())
        }
    });
    if let Err(e) = bad.compute() {
        println!("errors name the task at fault: {e}");
    }

    z.visualize(out.join("z.png"))?;
    println!(
        "\nPictures (graphs as PNG and DOT, and the plots) are in {}",
        out.display()
    );
    Ok(result)
}

/// One chunk for the whole array (what Dask's `da.ones(shape)` does for a small array).
struct ChunkAll<'a>(&'a [usize]);

impl From<ChunkAll<'_>> for rask::array::ChunkSpec {
    fn from(c: ChunkAll<'_>) -> Self {
        rask::array::ChunkSpec::from(c.0)
    }
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let small =
        std::env::args().any(|a| a == "--small") || std::env::var_os("RASK_TOUR_SMALL").is_some();
    let out = PathBuf::from("tour-output");
    run(small, &out)?;
    Ok(())
}
