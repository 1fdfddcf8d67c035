//! Futures on a LocalCluster: submit, map, scatter, gather, wait, as_completed, cancel,
//! results that stay on the cluster while held and are released when dropped.

use std::time::{Duration, Instant};

use rask_distributed::{Client, FutureStatus, LocalCluster, as_completed};
use rask_graph::{Arg, ComputeError, Delayed, Value, ops::AddConst};

use crate::{Fail, Slow};

#[rask_macros::named(crate = rask_graph)]
fn square(x: &i64) -> i64 {
    x * x
}

fn slow(ms: u64, v: i64) -> Delayed<i64> {
    Delayed::from_op(Slow(ms), vec![Arg::Value(Value::new(v))], &[])
}

/// The scheduler's `/api/status`.
fn status(cluster: &LocalCluster) -> serde_json::Value {
    let (_, body) = crate::cluster::http_get(&cluster.dashboard_address().unwrap(), "/api/status");
    serde_json::from_str(&body).unwrap()
}

/// How many results the scheduler holds now.
fn held(cluster: &LocalCluster) -> u64 {
    status(cluster)["tasks"]["memory"].as_u64().unwrap()
}

use rask_testing::eventually;

#[test]
fn submit_map_scatter_gather_and_release() {
    rask_testing::within(120, || {
        let cluster = LocalCluster::builder().n_workers(2).build().unwrap();
        let client = Client::new(&cluster).unwrap();
        // submit: a future, finished later, its result brought here, still held there.
        let x: Delayed<i64> =
            Delayed::from_op(AddConst(1), vec![Arg::Value(Value::new(41i64))], &[]);
        let f = client.submit(&x).unwrap();
        assert_eq!(f.result().unwrap(), 42);
        assert_eq!(f.status(), FutureStatus::Finished);
        assert!(f.done());
        assert_eq!(
            format!("{f:?}"),
            format!("<Future: finished, key: {}>", f.key())
        );
        assert_eq!(held(&cluster), 1);
        // A clone shares the hold: dropping one keeps it; dropping both releases it.
        let g = f.clone();
        drop(f);
        assert_eq!(g.result().unwrap(), 42);
        drop(g);
        assert!(
            eventually(|| held(&cluster) == 0),
            "released when the last future went"
        );
        // map with a named function; gather in order.
        let squares = client.map("square", square, 0..20i64).unwrap();
        let got = client.gather(&squares).unwrap();
        assert_eq!(got, (0..20i64).map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(held(&cluster), 20);
        drop(squares);
        assert!(eventually(|| held(&cluster) == 0));
        // scatter: values placed on the workers, held there.
        let fs = client
            .scatter([String::from("a"), String::from("bc")])
            .unwrap();
        client.wait(&fs);
        assert_eq!(client.gather(&fs).unwrap(), ["a", "bc"]);
    });
}

#[test]
fn as_completed_yields_in_finishing_order_and_failures_are_futures_too() {
    rask_testing::within(120, || {
        let cluster = LocalCluster::builder().n_workers(2).build().unwrap();
        let client = Client::new(&cluster).unwrap();
        let slow_one = client.submit(&slow(1500, 1)).unwrap();
        let fast_one = client.submit(&slow(10, 2)).unwrap();
        let order: Vec<i64> = as_completed(vec![slow_one, fast_one])
            .map(|f| f.result().unwrap())
            .collect();
        assert_eq!(order, [2, 1]);
        // A failing task: the future is in error, its result names the task.
        let bad: Delayed<i64> = Delayed::from_op(Fail { panic: false }, vec![], &[]);
        let f = client.submit(&bad).unwrap();
        f.wait();
        assert_eq!(f.status(), FutureStatus::Error);
        let e = f.result().unwrap_err();
        assert!(matches!(e, ComputeError::Task { .. }), "{e}");
        assert!(e.to_string().contains("worker-side error"), "{e}");
    });
}

#[test]
fn a_cancelled_future_is_not_waited_for() {
    rask_testing::within(120, || {
        let cluster = LocalCluster::builder().n_workers(1).build().unwrap();
        let client = Client::new(&cluster).unwrap();
        // A long task occupies the worker; three more are queued behind it, then cancelled.
        let busy = client.submit(&slow(800, 0)).unwrap();
        let queued: Vec<_> = (1..4)
            .map(|i| client.submit(&slow(800, i)).unwrap())
            .collect();
        let t = Instant::now();
        client.cancel(queued);
        assert_eq!(busy.result().unwrap(), 0);
        // The cancelled ones did not run after it: the worker is free well before 4 × 0.8 s.
        let after = client.submit(&slow(10, 9)).unwrap();
        assert_eq!(after.result().unwrap(), 9);
        assert!(
            t.elapsed() < Duration::from_millis(2500),
            "{:?}",
            t.elapsed()
        );
    });
}

/// Counts task starts.
#[derive(Debug, Default)]
struct Starts(std::sync::atomic::AtomicUsize);

impl rask_graph::Callback for Starts {
    fn on_task_start(&self, _: &rask_graph::TaskStart) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_persisted_collection_stays_on_the_cluster_and_is_reused() {
    use rask_array::{Array, Reduction};
    use rask_graph::Collection;
    rask_testing::within(120, || {
        let cluster = LocalCluster::builder().n_workers(2).build().unwrap();
        let client = Client::new(&cluster).unwrap();
        let s = client.scheduler();
        let x = Array::<f64>::ones(&[100, 60], [25, 20]).unwrap();
        let y = (&x * 2.0).persist_with(&s).unwrap();
        // 12 blocks held on the cluster; the persisted graph is 12 references.
        assert_eq!(held(&cluster), 12);
        assert_eq!(y.graph().len(), 12);
        // A later computation reuses them: only the new tasks run.
        let starts = Starts::default();
        let total = y
            .sum(Reduction::all())
            .unwrap()
            .compute_on(&s, &[&starts])
            .unwrap();
        assert_eq!(total.iter().next().copied(), Some(12_000.0));
        let ran = starts.0.load(std::sync::atomic::Ordering::SeqCst);
        assert!(ran > 0 && ran < 12 + 12, "{ran} tasks ran");
        // In this process (the threaded scheduler), the references fetch the blocks.
        let local = y
            .compute_with(&rask_local::ThreadedScheduler::default())
            .unwrap();
        assert!(local.iter().all(|v| *v == 2.0));
        assert_eq!(local.shape(), [100, 60]);
        // Dropped: released on the cluster.
        drop(y);
        assert!(eventually(|| held(&cluster) == 0), "{}", held(&cluster));
    });
}

/// Files under `dir`, at any depth.
fn files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn past_the_memory_target_results_spill_to_disk_and_the_answer_is_right() {
    use rask_array::Reduction;
    use rask_array::random::Generator;
    use rask_graph::Collection;
    let dir = std::env::temp_dir().join(format!("rask-spill-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.clone();
    rask_testing::within(300, move || {
        // 512 MB of random numbers in 32 blocks of 16 MB, held on 2 workers of 400 MB: past
        // the 60% target (240 MB each), some go to disk.
        let cluster = LocalCluster::builder()
            .n_workers(2)
            .memory_limit(400 << 20)
            .local_directory(&d)
            .build()
            .unwrap();
        let client = Client::new(&cluster).unwrap();
        let s = client.scheduler();
        let x = Generator::new(7)
            .uniform(0.0, 1.0, &[32 * 2048, 1024], [2048, 1024])
            .unwrap();
        let held_x = x.persist_with(&s).unwrap();
        assert!(files(&d) > 0, "nothing was spilled");
        let total = held_x
            .sum(Reduction::all())
            .unwrap()
            .compute_with(&s)
            .unwrap();
        let expected = x
            .sum(Reduction::all())
            .unwrap()
            .compute_with(&rask_local::ThreadedScheduler::default())
            .unwrap();
        let (t, e) = (
            total.iter().next().copied().unwrap(),
            expected.iter().next().copied().unwrap(),
        );
        assert!((t - e).abs() <= 1e-9 * e.abs(), "{t} vs {e}");
        // Released: the files leave too.
        drop(held_x);
        assert!(eventually(|| files(&d) == 0), "{} files left", files(&d));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// How many tasks the scheduler holds now, in any state.
fn tasks_held(cluster: &LocalCluster) -> u64 {
    let j = status(cluster);
    let t = &j["tasks"];
    [
        "released",
        "waiting",
        "queued",
        "processing",
        "memory",
        "erred",
    ]
    .iter()
    .map(|k| t[*k].as_u64().unwrap())
    .sum()
}

#[test]
fn a_client_that_disconnects_lets_go_of_its_work() {
    rask_testing::within(120, || {
        let cluster = LocalCluster::builder().n_workers(1).build().unwrap();
        // A client submits 30 slow tasks and goes away before they are done.
        let client = Client::new(&cluster).unwrap();
        let futures: Vec<_> = (0..30)
            .map(|i| client.submit(&slow(300, i)).unwrap())
            .collect();
        client.close(); // the connection goes, with its futures
        drop(futures);
        // The scheduler forgets them; the worker is free for another client long before
        // 30 × 0.3 s.
        assert!(
            eventually(|| tasks_held(&cluster) == 0),
            "{}",
            tasks_held(&cluster)
        );
        let other = Client::new(&cluster).unwrap();
        let t = Instant::now();
        assert_eq!(other.submit(&slow(10, 7)).unwrap().result().unwrap(), 7);
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    });
}
