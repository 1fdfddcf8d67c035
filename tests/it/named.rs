//! Named functions on worker processes: `#[rask::named]` functions in `delayed` calls and
//! `map_blocks` run there; a capturing closure is refused with an error saying what to write.

use rask::array::ndarray::{ArrayD, ArrayViewD, IxDyn};
use rask::array::{Array, BlockInfo, IntoScalar, KernelError, Reduction};
use rask::prelude::*;
use rask::schedulers::{ProcessScheduler, SyncScheduler};

#[rask::named]
fn square(x: &f64) -> f64 {
    x * x
}

#[rask::named]
fn hypot(a: &f64, b: &f64) -> f64 {
    (a * a + b * b).sqrt()
}

#[rask::named]
fn strictly_positive(x: &f64) -> Result<f64, String> {
    if *x > 0.0 {
        Ok(*x)
    } else {
        Err(format!("{x} is not positive"))
    }
}

/// Each element times its block's first row index plus one.
#[rask::named]
fn scale_by_row(b: ArrayViewD<f64>, info: &BlockInfo) -> Result<ArrayD<f64>, KernelError> {
    let k = info.location[0].start as f64 + 1.0;
    Ok(b.mapv(|v| v * k))
}

fn processes() -> ProcessScheduler {
    ProcessScheduler::builder().num_workers(2).build().unwrap()
}

#[test]
fn delayed_named_functions_run_on_workers() {
    let s = processes();
    let x = rask::delayed::value(3.0f64);
    let y = rask::delayed::value(4.0f64);
    let h =
        x.map("square", square)
            .zip_with(&y.map("square", square), "hypot", |a: &f64, b: &f64| a + b);
    // The last step is a closure: refused, and the message says what to write instead.
    let err = h.compute_with(&s).unwrap_err();
    let msg = err.to_string().replace(&h.key().to_string(), "KEY");
    insta::assert_snapshot!(msg, @"task KEY uses op `hypot` (rask_graph::delayed::ClosureOp), which cannot be sent to another process: pass a function marked #[rask::named] instead of a closure, or register the op type with rask_graph::register_op!");
    // Named all the way: runs on the workers, same answer as the oracle.
    let h = x.zip_with(&y, "hypot", hypot);
    assert_eq!(h.compute_with(&s).unwrap(), 5.0);
    assert_eq!(h.compute_with(&SyncScheduler).unwrap(), 5.0);
    // A named function's error names the task, from the worker.
    let bad = rask::delayed::value(-1.0f64).try_map("positive", strictly_positive);
    let err = bad.compute_with(&s).unwrap_err();
    assert_eq!(err.key(), Some(bad.key()));
    assert!(
        err.to_string().ends_with("failed: -1 is not positive"),
        "{err}"
    );
}

#[test]
fn map_blocks_with_a_named_kernel_runs_on_workers() {
    let a = ArrayD::from_shape_fn(IxDyn(&[7, 5]), |i| (i[0] * 5 + i[1]) as f64);
    let x = Array::from_array(&a, [3, 2]).unwrap();
    let y = x.map_blocks("scale", scale_by_row).unwrap();
    // The direct computation: rows 0-2 times 1, 3-5 times 4, 6 times 7.
    let want = ArrayD::from_shape_fn(IxDyn(&[7, 5]), |i| {
        a[[i[0], i[1]]] * ((i[0] / 3) * 3 + 1) as f64
    });
    assert_eq!(y.compute_with(&processes()).unwrap(), want);
    assert_eq!(y.compute_with(&SyncScheduler).unwrap(), want);
    // The same kernel as a closure works here, and is refused by the workers.
    let c = x
        .map_blocks("scale", |b, info: &BlockInfo| scale_by_row(b, info))
        .unwrap();
    assert_eq!(c.compute_with(&SyncScheduler).unwrap(), want);
    assert!(c.compute_with(&processes()).is_err());
}

/// The largest absolute value along the reduced axes, which keep length 1.
#[rask::named]
fn absmax(b: ArrayViewD<f64>, axes: &[usize]) -> Result<ArrayD<f64>, KernelError> {
    let mut out = b.mapv(f64::abs);
    for &a in axes {
        out = out
            .fold_axis(rask::array::ndarray::Axis(a), 0.0, |m: &f64, v: &f64| {
                m.max(*v)
            })
            .insert_axis(rask::array::ndarray::Axis(a));
    }
    Ok(out)
}

#[test]
fn user_reductions_with_named_steps_run_on_workers() {
    let a = ArrayD::from_shape_fn(IxDyn(&[9, 7]), |i| {
        (i[0] as f64 - 4.0) * (i[1] as f64 - 3.5)
    });
    let x = Array::from_array(&a, [2, 3]).unwrap();
    let s = processes();
    // Over everything, two at a time: several combining levels, all named.
    let all = x
        .reduction(
            "absmax",
            Reduction::all().split_every(2),
            absmax,
            absmax,
            absmax,
        )
        .unwrap();
    let want = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert_eq!(all.compute_with(&s).unwrap().into_scalar().unwrap(), want);
    // Along one axis.
    let cols = x
        .reduction("absmax", Reduction::axis(0), absmax, absmax, absmax)
        .unwrap();
    let want_cols = a.map_axis(rask::array::ndarray::Axis(0), |c| {
        c.iter().fold(0.0f64, |m, v| m.max(v.abs()))
    });
    assert_eq!(cols.compute_with(&s).unwrap(), want_cols);
    assert_eq!(cols.compute_with(&SyncScheduler).unwrap(), want_cols);
}

/// Each block of `a` times the matching block of `b`, plus the block of `c` (aligned by
/// index letters).
#[rask::named]
fn fma(blocks: &[ArrayViewD<f64>]) -> Result<ArrayD<f64>, KernelError> {
    let [a, b, c] = blocks else {
        return Err(format!("three blocks, not {}", blocks.len()).into());
    };
    Ok(&(a * b) + c)
}

#[test]
fn blockwise_and_map_overlap_with_named_functions_run_on_workers() {
    let s = processes();
    let a = ArrayD::from_shape_fn(IxDyn(&[6, 5]), |i| (i[0] * 5 + i[1]) as f64);
    let x = Array::from_array(&a, [4, 2]).unwrap();
    let y = Array::from_array(&a, [3, 3]).unwrap();
    let z =
        Array::<f64>::blockwise("fma", "ij", &[(&x, "ij"), (&y, "ij"), (&x, "ij")], fma).unwrap();
    let want = &(&a * &a) + &a;
    assert_eq!(z.compute_with(&s).unwrap(), want);
    // map_overlap goes through map_blocks: a named kernel runs there too.
    let grown = x
        .map_overlap(
            "scale",
            &[1, 1],
            rask::array::Boundary::Nearest,
            scale_by_row,
        )
        .unwrap();
    assert_eq!(
        grown.compute_with(&s).unwrap(),
        grown.compute_with(&SyncScheduler).unwrap()
    );
}
