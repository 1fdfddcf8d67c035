//! Scheduler CPU per task: the state machine alone, driven by simulated workers that answer
//! at once, on a 1,000,000-task graph (a tree reduction over 999,000 leaves, and chains of
//! 10 with a final reduction), with 100 workers of 2 threads. Prints one JSON line per
//! shape; `cargo xtask bench distributed` shows it. `--small`: 100,000 tasks.

use std::collections::VecDeque;
use std::time::Instant;

use rask_graph::Key;
use rask_scheduling::{Command, NewTask, SchedulerState, StateConfig, WorkerRef, WorkerSpec};

type State = SchedulerState<(), String>;

/// A tree reduction: `leaves` roots, combined 32 at a time to one.
fn tree(leaves: usize) -> (Vec<NewTask<()>>, Key) {
    let mut tasks = Vec::new();
    let mut level: Vec<Key> = (0..leaves).map(|i| Key::new("leaf", [i as u32])).collect();
    for k in &level {
        tasks.push(task(k.clone(), Vec::new(), "leaf"));
    }
    let mut depth = 0u32;
    while level.len() > 1 {
        depth += 1;
        let next: Vec<Key> = (level.chunks(32).enumerate())
            .map(|(i, group)| {
                let k = Key::new(format!("sum-{depth}"), [i as u32]);
                tasks.push(task(k.clone(), group.to_vec(), "sum"));
                k
            })
            .collect();
        level = next;
    }
    (tasks, level.remove(0))
}

/// `chains` chains of `len` tasks, each chain's end summed into one.
fn chains(chains: usize, len: usize) -> (Vec<NewTask<()>>, Key) {
    let mut tasks = Vec::new();
    let mut ends = Vec::new();
    for c in 0..chains {
        let mut prev: Option<Key> = None;
        for i in 0..len {
            let k = Key::new("step", [c as u32, i as u32]);
            tasks.push(task(k.clone(), prev.iter().cloned().collect(), "step"));
            prev = Some(k);
        }
        ends.extend(prev);
    }
    let total = Key::new("total", []);
    tasks.push(task(total.clone(), ends, "sum"));
    (tasks, total)
}

fn task(key: Key, dependencies: Vec<Key>, op: &str) -> NewTask<()> {
    NewTask {
        key,
        dependencies: dependencies.into_iter().map(Into::into).collect(),
        op: op.into(),
        order: 0,
        payload: (),
    }
}

/// Seconds of state-machine time for the whole graph: update, every answer, the release.
fn drive(tasks: Vec<NewTask<()>>, out: Key, workers: usize) -> (f64, usize) {
    let n = tasks.len();
    let mut tasks = tasks;
    for (i, t) in tasks.iter_mut().enumerate() {
        t.order = i as u64;
    }
    let t0 = Instant::now();
    let mut s = State::new(StateConfig::default());
    let ws: Vec<WorkerRef> = (0..workers)
        .map(|i| s.add_worker(WorkerSpec::new(format!("w{i}"), 2).capacity(4)))
        .collect();
    let c = s.add_client();
    s.update_graph(c, tasks, &[out])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut queue = VecDeque::new();
    let mut done = false;
    let mut answered = 0;
    loop {
        for cmd in s.take_commands() {
            match cmd {
                Command::Run { worker, task } => queue.push_back((worker, task)),
                Command::InMemory { .. } => done = true,
                _ => {}
            }
        }
        let Some((w, t)) = queue.pop_front() else {
            break;
        };
        s.task_finished(w, t, 8, Some(1e-4));
        answered += 1;
    }
    assert!(done, "the output came");
    s.remove_client(c);
    s.take_commands();
    assert!(s.is_empty());
    let _ = ws;
    (t0.elapsed().as_secs_f64(), answered.max(n))
}

fn main() {
    let small = std::env::args().any(|a| a == "--small");
    let scale = if small { 10 } else { 1 };
    for (name, (tasks, out)) in [
        ("tree", tree(969_000 / scale)),
        ("chains", chains(100_000 / scale, 10)),
    ] {
        let n = tasks.len();
        let (secs, _) = drive(tasks, out, 100);
        println!(
            "{{\"workload\": \"state-{name}\", \"tasks\": {n}, \"workers\": 100, \"seconds\": {secs:.3}, \"us_per_task\": {:.3}}}",
            secs * 1e6 / n as f64
        );
    }
}
