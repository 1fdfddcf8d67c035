//! rask extended from outside, through its public API only: a scheduler and a collection of
//! one's own, computed on every scheduler, with named functions on worker processes.

use rask::array::ndarray::{ArrayD, ArrayViewD, IxDyn};
use rask::array::{Array, BlockInfo, KernelError, Reduction, s};
use rask::prelude::*;
use rask::schedulers::{ProcessScheduler, SyncScheduler, ThreadedScheduler};
use rask::{Scheduler, compute_all_with};
use rask_plugins::{LifoScheduler, Series};

#[rask::named]
fn triple(x: &i64) -> i64 {
    3 * x
}

#[rask::named]
fn halve(x: &i64) -> f64 {
    *x as f64 / 2.0
}

#[rask::named]
fn plus_index(b: ArrayViewD<f64>, info: &BlockInfo) -> Result<ArrayD<f64>, KernelError> {
    Ok(b.mapv(|v| v + info.index[0] as f64))
}

fn schedulers() -> Vec<Box<dyn Scheduler>> {
    vec![
        Box::new(SyncScheduler),
        Box::new(ThreadedScheduler::builder().num_workers(3).build().unwrap()),
        Box::new(ProcessScheduler::builder().num_workers(2).build().unwrap()),
        Box::new(LifoScheduler::default()),
    ]
}

/// The tour's fancy calculation: `(ones * ones[::-1, ::-1]).mean()`.
fn fancy() -> Array<f64> {
    let ones = Array::<f64>::ones(&[15, 15], [5, 5]).unwrap();
    (&ones * &ones.slice(s![..;-1, ..;-1]).unwrap())
        .mean(Reduction::all())
        .unwrap()
}

#[test]
fn a_custom_scheduler_is_the_default_under_a_guard() {
    let lifo = LifoScheduler::default();
    {
        let _default = rask::config::set_scheduler(lifo.clone());
        assert_eq!(rask::config::scheduler().name(), "lifo");
        assert_eq!(fancy().compute().unwrap().into_scalar_f64(), 1.0);
    }
    let log = lifo.log();
    assert!(!log.is_empty());
    // Lowest priority first: it starts where the sync scheduler (the oracle) ends among the
    // tasks ready at the start, so the two orders differ.
    let x = Series::from_vec("x", (0..40).collect::<Vec<i64>>(), 8)
        .map("triple", triple)
        .sum();
    let lifo = LifoScheduler::default();
    assert_eq!(x.compute_with(&lifo).unwrap(), 3 * (0..40).sum::<i64>());
    let order = lifo.log();
    let profiler = rask::diagnostics::Profiler::new();
    x.compute_on(&SyncScheduler, &[&profiler]).unwrap();
    let sync_order: Vec<String> = profiler
        .records()
        .iter()
        .map(|r| format!("start {}", r.key))
        .collect();
    assert_eq!(order.len(), sync_order.len());
    assert_ne!(order, sync_order);
    // Held by an object for its lifetime: the default on every thread meanwhile.
    let held = rask::config::hold_global_scheduler(std::sync::Arc::new(LifoScheduler::default()));
    let name = std::thread::spawn(|| rask::config::scheduler().name().to_string())
        .join()
        .unwrap();
    assert_eq!(name, "lifo");
    drop(held);
}

trait Scalar {
    fn into_scalar_f64(self) -> f64;
}

impl Scalar for ArrayD<f64> {
    fn into_scalar_f64(self) -> f64 {
        *self.first().unwrap()
    }
}

#[test]
fn a_custom_collection_computes_the_same_everywhere() {
    let data: Vec<i64> = (0..103).map(|i| i * 7 % 31 - 9).collect();
    let want: Vec<f64> = data.iter().map(|x| *x as f64 / 2.0).collect();
    let x = Series::from_vec("x", data.clone(), 9);
    let halves = x.map("halve", halve);
    let total = x.map("triple", triple).sum();
    for s in schedulers() {
        assert_eq!(halves.compute_with(&*s).unwrap(), want, "{}", s.name());
        assert_eq!(
            total.compute_with(&*s).unwrap(),
            3 * data.iter().sum::<i64>(),
            "{}",
            s.name()
        );
        // Persisted: later computations start from the held partitions.
        let p = halves.persist_with(&*s).unwrap();
        assert_eq!(p.graph().len(), 9);
        assert_eq!(p.compute_with(&SyncScheduler).unwrap(), want);
    }
    // A closure works here, and the process pool refuses it with a message saying what to do.
    let closure = x.map("triple", |v: &i64| 3 * v);
    assert_eq!(
        closure.compute_with(&SyncScheduler).unwrap(),
        data.iter().map(|v| 3 * v).collect::<Vec<_>>()
    );
    let err = closure
        .compute_with(&ProcessScheduler::builder().num_workers(1).build().unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("#[rask::named]"), "{err}");
    // Edge cases: no data, more partitions than items.
    assert_eq!(
        Series::<i64>::from_vec("e", vec![], 4)
            .sum()
            .compute_with(&SyncScheduler)
            .unwrap(),
        0
    );
    assert_eq!(Series::from_vec("t", vec![1i64, 2], 10).npartitions(), 2);
}

#[test]
fn a_series_and_an_array_in_one_compute() {
    let x = Series::from_vec("x", (1..=20).collect::<Vec<i64>>(), 4).map("triple", triple);
    let a = ArrayD::from_shape_fn(IxDyn(&[6, 4]), |i| (i[0] * 4 + i[1]) as f64);
    let arr = Array::from_array(&a, [4, 3])
        .unwrap()
        .map_blocks("plus-index", plus_index)
        .unwrap();
    let want_arr = ArrayD::from_shape_fn(IxDyn(&[6, 4]), |i| a[[i[0], i[1]]] + (i[0] / 4) as f64);
    for s in schedulers() {
        let (series, total, array) = compute_all_with((&x, &x.sum(), &arr), &*s).unwrap();
        assert_eq!(
            series,
            (1..=20).map(|v| 3 * v).collect::<Vec<_>>(),
            "{}",
            s.name()
        );
        assert_eq!(total, 3 * 210);
        assert_eq!(array, want_arr);
    }
}

#[test]
fn named_functions_in_delayed_and_map_blocks_on_processes() {
    let s = ProcessScheduler::builder().num_workers(2).build().unwrap();
    let d = rask::delayed::value(14i64)
        .map("triple", triple)
        .map("halve", halve);
    assert_eq!(d.compute_with(&s).unwrap(), 21.0);
    let a = ArrayD::from_elem(IxDyn(&[5, 5]), 1.0f64);
    let y = Array::from_array(&a, [2, 5])
        .unwrap()
        .map_blocks("plus-index", plus_index)
        .unwrap();
    let got = y.compute_with(&s).unwrap();
    assert_eq!(got[[4, 0]], 3.0);
    assert_eq!(got[[0, 4]], 1.0);
}
