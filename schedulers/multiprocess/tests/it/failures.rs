//! Errors, panics, dead workers, stale builds, unregistered closures, and no process left
//! behind.

use std::sync::Arc;

use rask_graph::delayed::ClosureOp;
use rask_graph::{Arg, ComputeError, Graph, Key, Layer, Scheduler, Task, Value, ops::Sum};
use rask_multiprocess::{FAKE_BUILD_ID_ENV, ProcessError, ProcessScheduler};

use crate::{Crash, Fail, Slow, alive, scheduler};

/// Signals once, when the first task starts on worker slot `.1`.
#[derive(Debug)]
struct StartSignal(
    std::sync::Mutex<Option<std::sync::mpsc::SyncSender<()>>>,
    usize,
);

impl rask_graph::Callback for StartSignal {
    fn on_task_start(&self, e: &rask_graph::TaskStart) {
        if e.worker.as_str() == format!("process-{}", self.1)
            && let Some(tx) = self.0.lock().unwrap().take()
        {
            let _ = tx.send(());
        }
    }
}

fn one(task: Task) -> (Graph, Key) {
    let mut l = Layer::new("job");
    l.insert([], task);
    let mut g = Graph::new();
    g.add_layer(l);
    (g, Key::new("job", []))
}

fn marker(name: &str) -> String {
    let p = std::env::temp_dir().join(format!("rask-mp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p.to_string_lossy().into_owned()
}

#[test]
fn unregistered_closure_is_refused_before_running() {
    let s = scheduler(1);
    let (g, key) = one(Task::new(
        ClosureOp::new("mystery", |a| Ok(a[0].clone())),
        [Arg::Value(Value::new(1i64))],
    ));
    let err = s.get(&g, &[key], &[]).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"task 'job' uses op `mystery` (rask_graph::delayed::ClosureOp), which cannot be sent to another process: pass a function marked #[rask::named] instead of a closure, or register the op type with rask_graph::register_op!");
    assert!(s.worker_pids().is_empty(), "no worker was started");
}

#[test]
fn task_errors_and_panics_name_the_task() {
    let s = scheduler(2);
    let (g, key) = one(Task::new(Fail { panic: false }, []));
    let err = s.get(&g, &[key], &[]).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"task 'job' (op `fail`) failed: worker-side error");
    let (g, key) = one(Task::new(Fail { panic: true }, []));
    let err = s.get(&g, &[key], &[]).unwrap_err();
    assert!(matches!(err, ComputeError::Panic { .. }), "{err}");
    insta::assert_snapshot!(err.to_string(), @"task 'job' (op `fail`) panicked: worker-side panic");
    // Still usable.
    let (g, key) = rask_testing::chain(5, Arc::new(rask_graph::ops::AddConst(2)));
    assert_eq!(
        *s.get(&g, &[key], &[]).unwrap()[0].get::<i64>().unwrap(),
        10
    );
}

#[test]
fn a_worker_that_dies_mid_task_is_replaced_and_the_answer_is_right() {
    let s = scheduler(2);
    let m = marker("die-once");
    // 20 leaves, one of which kills its worker the first time; the others' results, held by
    // both workers, are summed.
    let mut l = Layer::new("leaf");
    for i in 0..20u32 {
        let task = if i == 7 {
            Task::new(
                Crash {
                    marker: m.clone(),
                    always: false,
                },
                [Arg::Value(Value::new(i as i64))],
            )
        } else {
            Task::literal(Value::new(i as i64))
        };
        l.insert([i], task);
    }
    let mut total = Layer::new("total");
    total.insert(
        [],
        Task::new(Sum, (0..20).map(|i| Arg::Key(Key::new("leaf", [i])))),
    );
    let mut g = Graph::new();
    g.add_layer(l);
    g.add_layer(total);
    let v = s.get(&g, &[Key::new("total", [])], &[]).unwrap();
    assert_eq!(*v[0].get::<i64>().unwrap(), (0..20).sum::<i64>());
    let _ = std::fs::remove_file(&m);
}

#[test]
fn kill_dash_nine_during_a_compute() {
    let s = scheduler(2);
    // Start the workers, then run slow tasks and kill one worker while they run.
    let (g, key) = rask_testing::chain(2, Arc::new(rask_graph::ops::AddConst(1)));
    s.get(&g, &[key], &[]).unwrap();
    let victim = s.worker_pids()[0];
    let mut l = Layer::new("slow");
    for i in 0..8u32 {
        l.insert(
            [i],
            Task::new(Slow(300), [Arg::Value(Value::new(i as i64))]),
        );
    }
    let mut total = Layer::new("total");
    total.insert(
        [],
        Task::new(Sum, (0..8).map(|i| Arg::Key(Key::new("slow", [i])))),
    );
    let mut g = Graph::new();
    g.add_layer(l);
    g.add_layer(total);
    // Kill the victim as soon as a task has started on it (the tasks take 4 rounds of 300 ms).
    let (started, on_start) = std::sync::mpsc::sync_channel::<()>(1);
    let signal = StartSignal(std::sync::Mutex::new(Some(started)), 0);
    let killer = std::thread::spawn(move || {
        on_start.recv().ok();
        std::process::Command::new("kill")
            .args(["-9", &victim.to_string()])
            .status()
    });
    let v = s.get(&g, &[Key::new("total", [])], &[&signal]).unwrap();
    assert_eq!(*v[0].get::<i64>().unwrap(), (0..8).sum::<i64>());
    assert!(killer.join().unwrap().unwrap().success());
    assert!(!alive(victim), "the killed worker was reaped");
    assert!(!s.worker_pids().contains(&victim), "and replaced");
    assert_eq!(s.worker_pids().len(), 2);
}

#[test]
fn a_task_that_kills_three_workers_is_marked_bad() {
    let s = scheduler(2);
    let m = marker("die-always");
    let (g, key) = one(Task::new(
        Crash {
            marker: m.clone(),
            always: true,
        },
        [Arg::Value(Value::new(1i64))],
    ));
    let err = s.get(&g, &[key], &[]).unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<ProcessError>(),
            Some(ProcessError::WorkerKilled { deaths: 3, .. })
        ),
        "{err}"
    );
    insta::assert_snapshot!(err.to_string(), @"the processes scheduler failed: task 'job' (op `crash`) killed 3 workers; it is marked bad");
    let _ = std::fs::remove_file(&m);
}

#[test]
fn a_worker_of_another_build_is_refused() {
    let s = ProcessScheduler::builder()
        .num_workers(1)
        .worker_env(FAKE_BUILD_ID_ENV, "12345")
        .build()
        .unwrap();
    let (g, key) = rask_testing::chain(2, Arc::new(rask_graph::ops::AddConst(1)));
    let err = s.get(&g, &[key], &[]).unwrap_err();
    let Some(ProcessError::BuildMismatch { theirs, .. }) = err.downcast_ref::<ProcessError>()
    else {
        panic!("{err}")
    };
    assert_eq!(*theirs, 12345);
    insta::assert_snapshot!(
        err.to_string().replace(&format!("{:016x}", rask_multiprocess_build_id(&err)), "OURS"),
        @"the processes scheduler failed: a worker runs another build of this program (build id 0000000000003039, ours OURS); it was refused: restart it from the same binary"
    );
}

/// Our build id, as the mismatch error tells it.
fn rask_multiprocess_build_id(err: &ComputeError) -> u64 {
    match err.downcast_ref::<ProcessError>() {
        Some(ProcessError::BuildMismatch { ours, .. }) => *ours,
        _ => panic!("{err}"),
    }
}

#[test]
fn no_worker_outlives_its_scheduler() {
    let s = scheduler(2);
    let (g, key) = rask_testing::chain(3, Arc::new(rask_graph::ops::AddConst(1)));
    s.get(&g, &[key], &[]).unwrap();
    let pids = s.worker_pids();
    assert!(pids.iter().all(|p| alive(*p)));
    drop(s);
    assert!(pids.iter().all(|p| !alive(*p)), "workers gone and reaped");
}

#[test]
fn zero_workers_is_an_error() {
    let err = ProcessScheduler::builder()
        .num_workers(0)
        .build()
        .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"a scheduler needs at least one worker; num_workers was 0");
}

#[test]
#[ignore = "run in a child process by workers_exit_when_their_parent_dies"]
fn child_starts_workers_then_dies() {
    use std::io::Write;
    let s = scheduler(2);
    let (g, key) = rask_testing::chain(3, Arc::new(rask_graph::ops::AddConst(1)));
    s.get(&g, &[key], &[]).unwrap();
    println!("PIDS {:?}", s.worker_pids());
    std::io::stdout().flush().unwrap();
    // Die without dropping the scheduler: the workers are orphaned.
    std::process::abort();
}

#[test]
fn workers_exit_when_their_parent_dies() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "failures::child_starts_workers_then_dies",
            "--ignored",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("PIDS "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let pids: Vec<u32> = line["PIDS ".len()..]
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) && std::time::Instant::now() < deadline {
        #[allow(clippy::disallowed_methods)] // polling another process's exit
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(pids.iter().all(|p| !alive(*p)), "orphaned workers exited");
}
