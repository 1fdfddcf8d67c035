//! What a careless or hostile user found (issue 12): each of these hung, looped or blamed the
//! wrong task before it was fixed. Every computation runs under a watchdog, so that a
//! regression fails the test instead of hanging it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rask_graph::{
    Arg, Args, Callback, ComputeError, Graph, Key, Layer, Op, Scheduler, Task, TaskError,
    TaskFinish, Value, ops::Sum,
};
use rask_multiprocess::{ProcessError, ProcessScheduler};
use serde::{Deserialize, Serialize};

use rask_testing::within;

use crate::{Crash, Fail, Slow, alive, scheduler};

/// A value type that is not registered: it cannot leave the worker that made it.
#[derive(Debug, Clone)]
pub struct Opaque(i64);

impl rask_graph::Datum for Opaque {}

/// Makes an [`Opaque`].
#[derive(Debug, Serialize, Deserialize)]
pub struct MakeOpaque(pub i64);

impl Op for MakeOpaque {
    fn name(&self) -> &str {
        "make-opaque"
    }
    fn run(&self, _: Args) -> Result<Value, TaskError> {
        Ok(Value::new(Opaque(self.0)))
    }
}
rask_graph::register_op!(MakeOpaque, "rask-multiprocess-tests.make-opaque");

/// Sums [`Opaque`]s into an `i64`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SumOpaque;

impl Op for SumOpaque {
    fn name(&self) -> &str {
        "sum-opaque"
    }
    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut total = 0;
        for a in args.iter() {
            total += a.get::<Opaque>()?.0;
        }
        Ok(Value::new(total))
    }
}
rask_graph::register_op!(SumOpaque, "rask-multiprocess-tests.sum-opaque");

/// Shuts the reading side of its worker's protocol socket (standard input), then returns its
/// argument: the worker reports `Done`, finds the stream ended and exits right after.
#[derive(Debug, Serialize, Deserialize)]
pub struct CloseSocket;

impl Op for CloseSocket {
    fn name(&self) -> &str {
        "close-socket"
    }
    fn run(&self, args: Args) -> Result<Value, TaskError> {
        use std::os::fd::FromRawFd;
        // SAFETY: fd 0 is the worker's protocol socket; it is borrowed here (never closed).
        let socket =
            std::mem::ManuallyDrop::new(unsafe { std::os::unix::net::UnixStream::from_raw_fd(0) });
        socket
            .shutdown(std::net::Shutdown::Read)
            .map_err(|e| TaskError::from_error(&e))?;
        Ok(args[0].clone())
    }
}
rask_graph::register_op!(CloseSocket, "rask-multiprocess-tests.close-socket");

/// A string of `n` bytes.
#[derive(Debug, Serialize, Deserialize)]
pub struct Bytes(pub usize);

impl Op for Bytes {
    fn name(&self) -> &str {
        "bytes"
    }
    fn run(&self, _: Args) -> Result<Value, TaskError> {
        Ok(Value::new("x".repeat(self.0)))
    }
}
rask_graph::register_op!(Bytes, "rask-multiprocess-tests.bytes");

/// Concatenates strings.
#[derive(Debug, Serialize, Deserialize)]
pub struct Concat;

impl Op for Concat {
    fn name(&self) -> &str {
        "concat"
    }
    fn run(&self, args: Args) -> Result<Value, TaskError> {
        let mut out = String::new();
        for a in args.iter() {
            out.push_str(a.get::<String>()?);
        }
        Ok(Value::new(out))
    }
}
rask_graph::register_op!(Concat, "rask-multiprocess-tests.concat");

fn one(name: &str, task: Task) -> (Graph, Key) {
    let mut l = Layer::new(name);
    l.insert([], task);
    let mut g = Graph::new();
    g.add_layer(l);
    (g, Key::new(name, []))
}

fn marker(name: &str) -> String {
    let p = std::env::temp_dir().join(format!("rask-mp-hard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p.to_string_lossy().into_owned()
}

#[test]
fn an_unregistered_intermediate_read_on_another_worker_is_an_error_at_once() {
    // Two leaves land on the two workers; their reader has one input on the other worker.
    let err = within(60, || {
        let s = scheduler(2);
        let (g, total) =
            rask_testing::leaves_and_total(2, |i| Task::new(MakeOpaque(i as i64), []), SumOpaque);
        s.get(&g, &[total], &[]).unwrap_err()
    });
    let Some(ProcessError::NotSent { key, message, .. }) = err.downcast_ref::<ProcessError>()
    else {
        panic!("{err}")
    };
    assert_eq!(key.name(), "leaf", "{err}");
    assert!(message.contains("hardening::Opaque"), "{message}");
    assert!(message.contains("not registered"), "{message}");
}

#[test]
fn an_unregistered_output_is_an_error_naming_it() {
    let err = within(60, || {
        let s = scheduler(1);
        let (g, key) = one("opaque", Task::new(MakeOpaque(3), []));
        let err = s.get(&g, &[key], &[]).unwrap_err();
        // The pool is still usable.
        let (g, key) = rask_testing::chain(3, Arc::new(rask_graph::ops::AddConst(1)));
        assert_eq!(*s.get(&g, &[key], &[]).unwrap()[0].get::<i64>().unwrap(), 3);
        err
    });
    insta::assert_snapshot!(err.to_string(), @"the processes scheduler failed: cannot move the result of task 'opaque' out of worker 0: its type it::hardening::Opaque is not registered for serialization; register it with rask_graph::register_value!");
}

#[test]
fn a_task_that_kills_its_worker_after_reporting_done_is_marked_bad() {
    let err = within(120, || {
        let s = scheduler(1);
        let (g, key) = one(
            "closer",
            Task::new(CloseSocket, [Arg::Value(Value::new(1i64))]),
        );
        s.get(&g, &[key], &[]).unwrap_err()
    });
    insta::assert_snapshot!(err.to_string(), @"the processes scheduler failed: task 'closer' (op `close-socket`) killed 3 workers; it is marked bad");
}

#[test]
fn only_the_task_running_when_a_worker_dies_is_blamed() {
    // 30 leaves on 2 workers; 4 different leaves each abort their worker once. Every death
    // leaves up to 64 queued tasks behind it: none of them is to blame.
    let markers: Vec<String> = (0..4).map(|i| marker(&format!("blame-{i}"))).collect();
    let crashing = [3u32, 11, 19, 27];
    let m = markers.clone();
    let total = within(120, move || {
        let s = scheduler(2);
        let (g, total) = rask_testing::leaves_and_total(
            30,
            |i| match crashing.iter().position(|c| *c == i) {
                Some(k) => Task::new(
                    Crash {
                        marker: m[k].clone(),
                        always: false,
                    },
                    [Arg::Value(Value::new(i as i64))],
                ),
                None => Task::literal(Value::new(i as i64)),
            },
            Sum,
        );
        let total = s.get(&g, &[total], &[]);
        // Nothing of that computation reaches the next ones, smaller as they are (a reply
        // left in flight would name a task that does not exist in them).
        for n in 1..4u32 {
            let (g, key) = rask_testing::chain(n, Arc::new(rask_graph::ops::AddConst(1)));
            let v = s.get(&g, &[key], &[]).unwrap();
            assert_eq!(*v[0].get::<i64>().unwrap(), n as i64);
        }
        total
    });
    let total = total.map_err(|e| e.to_string());
    assert_eq!(
        total.map(|v| *v[0].get::<i64>().unwrap()),
        Ok((0..30).sum::<i64>())
    );
    for m in &markers {
        assert!(std::path::Path::new(m).exists(), "every crash happened");
        let _ = std::fs::remove_file(m);
    }
}

/// Counts the tasks that finished without error.
#[derive(Debug, Default)]
struct Finished(AtomicUsize);

impl Callback for Finished {
    fn on_task_finish(&self, e: &TaskFinish) {
        if e.error.is_none() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn after_a_failure_no_queued_task_starts() {
    // 24 slow tasks on 2 workers (all queued at once), the second of which fails: the
    // workers finish what they are running and start nothing else.
    let (finished, err) = within(120, || {
        let s = scheduler(2);
        let mut l = Layer::new("slow");
        for i in 0..24u32 {
            let task = if i == 1 {
                Task::new(Fail { panic: true }, [])
            } else {
                Task::new(Slow(200), [Arg::Value(Value::new(i as i64))])
            };
            l.insert([i], task);
        }
        let mut g = Graph::new();
        g.add_layer(l);
        let keys: Vec<Key> = (0..24u32).map(|i| Key::new("slow", [i])).collect();
        let finished = Finished::default();
        let err = s.get(&g, &keys, &[&finished]).unwrap_err();
        (finished.0.load(Ordering::Relaxed), err)
    });
    assert!(matches!(err, ComputeError::Panic { .. }), "{err}");
    // At most the task running on the other worker, and one that started as the failure
    // was being reported.
    assert!(finished <= 3, "{finished} slow tasks ran after the failure");
}

#[test]
fn results_larger_than_a_message_come_back_and_literals_that_large_are_refused() {
    let (value, err) = within(60, || {
        let s = ProcessScheduler::builder()
            .num_workers(2)
            .max_message_bytes(64 << 10)
            .build()
            .unwrap();
        // A 1 MB result (16 messages' worth) comes back whole, moved between workers first.
        let (g, total) = rask_testing::leaves_and_total(
            2,
            |i| match i {
                0 => Task::new(Bytes(1 << 20), []),
                _ => Task::literal(Value::new(String::from("!"))),
            },
            Concat,
        );
        let v = s.get(&g, &[total], &[]).unwrap();
        let value = v[0].get::<String>().unwrap().len();
        // A literal of 1 MB cannot be sent in a message.
        let (g, key) = one(
            "big",
            Task::new(
                rask_graph::ops::Identity,
                [Arg::Value(Value::new("y".repeat(1 << 20)))],
            ),
        );
        (value, s.get(&g, &[key], &[]).unwrap_err())
    });
    assert_eq!(value, (1 << 20) + 1);
    let Some(ProcessError::TooLarge { key, bytes, max }) = err.downcast_ref::<ProcessError>()
    else {
        panic!("{err}")
    };
    assert_eq!((key.name(), *max), ("big", 64 << 10));
    assert!(*bytes > 1 << 20, "{bytes}");
}

/// Computes on the scheduler running the computation, from its first task-finish callback.
#[derive(Debug)]
struct ComputeInside<'a> {
    s: &'a ProcessScheduler,
    got: Mutex<Option<Result<i64, String>>>,
}

impl Callback for ComputeInside<'_> {
    fn on_task_finish(&self, _: &TaskFinish) {
        let mut got = self.got.lock().unwrap();
        if got.is_none() {
            let (g, key) = rask_testing::chain(4, Arc::new(rask_graph::ops::AddConst(10)));
            *got = Some(
                (self.s.get(&g, &[key], &[]))
                    .map(|v| *v[0].get::<i64>().unwrap())
                    .map_err(|e| e.to_string()),
            );
        }
    }
}

#[test]
fn a_callback_may_compute_on_the_same_scheduler() {
    let (outer, inner) = within(120, || {
        let s = scheduler(2);
        let inside = ComputeInside {
            s: &s,
            got: Mutex::new(None),
        };
        let (g, key) = rask_testing::chain(3, Arc::new(rask_graph::ops::AddConst(1)));
        let outer = *s.get(&g, &[key], &[&inside]).unwrap()[0]
            .get::<i64>()
            .unwrap();
        (outer, inside.got.into_inner().unwrap())
    });
    assert_eq!(outer, 3);
    assert_eq!(inner, Some(Ok(40)));
}

#[test]
fn a_worker_killed_while_the_pool_is_idle_is_reaped_at_once() {
    let s = scheduler(1);
    let (g, key) = rask_testing::chain(2, Arc::new(rask_graph::ops::AddConst(1)));
    s.get(&g, &[key], &[]).unwrap();
    let victim = s.worker_pids()[0];
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &victim.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // No computation follows: the pool is idle, and nothing but its reader can reap it.
    let proc = format!("/proc/{victim}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&proc).exists() && std::time::Instant::now() < deadline {
        std::hint::spin_loop();
    }
    assert!(!alive(victim));
    assert!(
        !std::path::Path::new(&proc).exists(),
        "the killed worker was reaped (no zombie left)"
    );
}

/// Fails with an error message of `n` bytes.
#[derive(Debug, Serialize, Deserialize)]
pub struct LongError(pub usize);

impl Op for LongError {
    fn name(&self) -> &str {
        "long-error"
    }
    fn run(&self, _: Args) -> Result<Value, TaskError> {
        Err(TaskError::new("e".repeat(self.0)))
    }
}
rask_graph::register_op!(LongError, "rask-multiprocess-tests.long-error");

#[test]
fn a_refused_task_among_others_fails_the_compute_without_a_hang() {
    // Ten leaves sent in one batch; the first is refused (its literal is larger than a
    // message): the computation fails naming it, and the runs decided beside it are not
    // waited for forever.
    let err = within(60, || {
        let s = ProcessScheduler::builder()
            .num_workers(2)
            .max_message_bytes(64 << 10)
            .build()
            .unwrap();
        let (g, total) = rask_testing::leaves_and_total(
            10,
            |i| match i {
                0 => Task::new(
                    rask_graph::ops::Identity,
                    [Arg::Value(Value::new("y".repeat(1 << 20)))],
                ),
                _ => Task::literal(Value::new(String::from("!"))),
            },
            Concat,
        );
        s.get(&g, &[total], &[]).unwrap_err()
    });
    let Some(ProcessError::TooLarge { key, .. }) = err.downcast_ref::<ProcessError>() else {
        panic!("{err}")
    };
    assert_eq!(key.name(), "leaf");
}

#[test]
fn a_reply_too_large_for_a_message_is_sent_shortened() {
    let err = within(60, || {
        let s = ProcessScheduler::builder()
            .num_workers(1)
            .max_message_bytes(4096)
            .build()
            .unwrap();
        let (g, key) = one("loud", Task::new(LongError(10_000), []));
        s.get(&g, &[key], &[]).unwrap_err()
    });
    let text = err.to_string();
    assert!(text.starts_with("task 'loud' (op `long-error`) failed: could not start on worker 0: its reply (a message of"), "{text}");
    assert!(text.ends_with("was too large to send"), "{text}");
}
