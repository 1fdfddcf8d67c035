//! Single scenarios, step by step.

use rask_graph::Key;
use rask_scheduling::{
    Command, Failure, NewTask, SchedulerState, StateConfig, TaskStatus, UpdateError, WorkerSpec,
};

type State = SchedulerState<u32, String>;

fn task(name: &str, deps: &[&str], order: u64) -> NewTask<u32> {
    NewTask {
        key: Key::new(name, []),
        dependencies: deps.iter().map(|d| Key::new(*d, []).into()).collect(),
        op: "op".into(),
        order,
        payload: order as u32,
    }
}

fn key(name: &str) -> Key {
    Key::new(name, [])
}

fn runs(cmds: &[Command<String>]) -> usize {
    cmds.iter()
        .filter(|c| matches!(c, Command::Run { .. }))
        .count()
}

#[test]
fn root_tasks_are_withheld_until_workers_have_room() {
    // 100 roots, one sum: a worker of capacity 2 is sent 2 roots, not 100.
    let mut s = State::new(StateConfig::default());
    let w = s.add_worker(WorkerSpec::new("w", 1).capacity(2));
    let c = s.add_client();
    let mut tasks: Vec<NewTask<u32>> = (0..100).map(|i| task(&format!("r{i}"), &[], i)).collect();
    let names: Vec<String> = (0..100).map(|i| format!("r{i}")).collect();
    let deps: Vec<&str> = names.iter().map(String::as_str).collect();
    tasks.push(task("sum", &deps, 100));
    s.update_graph(c, tasks, &[key("sum")]).unwrap();
    let cmds = s.take_commands();
    assert_eq!(runs(&cmds), 2);
    assert_eq!(s.counts()[2], 98, "the rest wait in the queue");
    // Each answer frees room for one more, in priority order.
    let Command::Run { task: first, .. } = cmds[0] else {
        panic!()
    };
    assert_eq!(s.key(first), Some(&key("r0")));
    s.task_finished(w, first, 8, None);
    let cmds = s.take_commands();
    assert_eq!(runs(&cmds), 1);
    assert!(matches!(cmds[0], Command::Run { task, .. } if s.key(task) == Some(&key("r2"))));
}

#[test]
fn a_task_no_worker_can_run_is_an_error_naming_its_op() {
    let mut s = State::new(StateConfig::default());
    s.add_worker(WorkerSpec::new("w", 1).ops(["other"]));
    let c = s.add_client();
    s.update_graph(
        c,
        vec![task("a", &[], 0), task("b", &["a"], 1)],
        &[key("b")],
    )
    .unwrap();
    let cmds = s.take_commands();
    let [Command::Erred { failure, .. }] = &cmds[..] else {
        panic!("{cmds:?}")
    };
    assert_eq!(
        failure.to_string(),
        "its input 'a' failed: no worker can run task 'a': none of them has op `op`"
    );
    assert!(matches!(failure.root(), Failure::NoWorker { .. }));
}

#[test]
fn no_worker_yet_means_waiting_not_failing() {
    let mut s = State::new(StateConfig::default());
    let c = s.add_client();
    s.update_graph(c, vec![task("a", &[], 0)], &[key("a")])
        .unwrap();
    assert!(s.take_commands().is_empty());
    let w = s.add_worker(WorkerSpec::new("late", 1));
    let cmds = s.take_commands();
    assert!(matches!(cmds[..], [Command::Run { worker, .. }] if worker == w));
}

#[test]
fn placement_follows_the_bytes() {
    // `big` (1 GB) on w1, `small` on w0: their reader goes to w1.
    let mut s = State::new(StateConfig::default());
    let w0 = s.add_worker(WorkerSpec::new("w0", 1).capacity(4));
    let w1 = s.add_worker(WorkerSpec::new("w1", 1).capacity(4));
    let c = s.add_client();
    s.update_graph(
        c,
        vec![
            task("small", &[], 0),
            task("big", &[], 1),
            task("r", &["small", "big"], 2),
        ],
        &[key("r")],
    )
    .unwrap();
    let cmds = s.take_commands();
    assert_eq!(runs(&cmds), 2);
    for cmd in cmds {
        let Command::Run { task, worker } = cmd else {
            continue;
        };
        // Put `big` on w1 whatever the state chose: answer from the chosen worker, then
        // check the reader's placement against where the bytes are.
        let nbytes = if s.key(task) == Some(&key("big")) {
            1 << 30
        } else {
            8
        };
        s.task_finished(worker, task, nbytes, Some(1e-3));
    }
    let big_on = s.who_has(s.task_of(&key("big")).unwrap())[0];
    let cmds = s.take_commands();
    assert!(
        matches!(cmds[..], [Command::Run { worker, .. }] if worker == big_on),
        "{cmds:?}"
    );
    let _ = (w0, w1);
}

#[test]
fn a_task_that_kills_three_workers_is_marked_bad() {
    let mut s = State::new(StateConfig::default());
    let c = s.add_client();
    s.update_graph(c, vec![task("bomb", &[], 0)], &[key("bomb")])
        .unwrap();
    let t = s.task_of(&key("bomb")).unwrap();
    for i in 0..3 {
        let w = s.add_worker(WorkerSpec::new(format!("w{i}"), 1));
        let cmds = s.take_commands();
        assert!(
            matches!(cmds[..], [Command::Run { task, .. }] if task == t),
            "{cmds:?}"
        );
        s.remove_worker(w, &[t]);
    }
    let cmds = s.take_commands();
    let [Command::Erred { failure, .. }] = &cmds[..] else {
        panic!("{cmds:?}")
    };
    assert_eq!(failure.to_string(), "task 'bomb' killed 3 workers");
    assert_eq!(s.status(t), Some(TaskStatus::Erred));
}

#[test]
fn innocent_tasks_queued_behind_a_death_are_not_blamed() {
    // 2 roots on one worker that dies three times while running `bomb`: `calm` was queued
    // behind it every time and still finishes.
    let mut s = State::new(StateConfig::default());
    let c = s.add_client();
    s.update_graph(
        c,
        vec![task("bomb", &[], 0), task("calm", &[], 1)],
        &[key("bomb"), key("calm")],
    )
    .unwrap();
    let bomb = s.task_of(&key("bomb")).unwrap();
    let calm = s.task_of(&key("calm")).unwrap();
    for i in 0..3 {
        let w = s.add_worker(WorkerSpec::new(format!("w{i}"), 1).capacity(4));
        assert_eq!(runs(&s.take_commands()), 2, "both sent again");
        s.remove_worker(w, &[bomb]);
    }
    let cmds = s.take_commands();
    assert!(
        matches!(&cmds[..], [Command::Erred { task, .. }] if *task == bomb),
        "{cmds:?}"
    );
    let w = s.add_worker(WorkerSpec::new("last", 1).capacity(4));
    let cmds = s.take_commands();
    assert!(
        matches!(cmds[..], [Command::Run { task, .. }] if task == calm),
        "{cmds:?}"
    );
    s.task_finished(w, calm, 8, None);
    assert!(matches!(s.take_commands()[..], [Command::InMemory { task, .. }] if task == calm));
}

#[test]
fn a_long_lost_chain_is_recomputed_without_recursion() {
    // A chain of 200,000 tasks, each result released once its reader finishes; the last
    // one's worker dies after the chain is done, with a reader of it still to run: the
    // whole chain comes back, iteratively (a recursive walk would overflow the stack).
    let n = 200_000u64;
    let mut s = State::new(StateConfig::default());
    let w = s.add_worker(WorkerSpec::new("w", 1));
    let c = s.add_client();
    let mut tasks = vec![task("c0", &[], 0)];
    let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    for i in 1..n as usize {
        tasks.push(task(&names[i], &[&names[i - 1]], i as u64));
    }
    tasks.push(task("end", &[&names[n as usize - 1]], n));
    s.update_graph(c, tasks, &[key("end")]).unwrap();
    let w = (0..n).fold(w, |w, _| {
        let cmds = s.take_commands();
        let Some(Command::Run { task, .. }) =
            cmds.iter().find(|c| matches!(c, Command::Run { .. }))
        else {
            panic!("{cmds:?}")
        };
        let task = *task;
        if s.key(task) == Some(&key("end")) {
            return w;
        }
        s.task_finished(w, task, 8, None);
        w
    });
    // `end` is processing on w; w dies holding the chain's last result.
    let end = s.task_of(&key("end")).unwrap();
    assert_eq!(s.status(end), Some(TaskStatus::Processing(w)));
    s.take_commands();
    s.remove_worker(w, &[]);
    let w2 = s.add_worker(WorkerSpec::new("w2", 1));
    let mut reruns = 0u64;
    loop {
        let cmds = s.take_commands();
        let ran: Vec<_> = (cmds.iter())
            .filter_map(|c| match c {
                Command::Run { task, worker } => Some((*task, *worker)),
                _ => None,
            })
            .collect();
        if ran.is_empty() {
            break;
        }
        for (task, worker) in ran {
            assert_eq!(worker, w2);
            reruns += 1;
            s.task_finished(w2, task, 8, None);
        }
    }
    assert_eq!(reruns, n + 1, "the whole chain, then `end`");
    assert_eq!(
        s.status(s.task_of(&key("end")).unwrap()),
        Some(TaskStatus::Memory)
    );
}

#[test]
fn refused_updates_change_nothing() {
    let mut s = State::new(StateConfig::default());
    let c = s.add_client();
    let e = s
        .update_graph(c, vec![task("a", &["ghost"], 0)], &[key("a")])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "task 'a' depends on 'ghost', which is neither in the graph nor known"
    );
    let e = s
        .update_graph(c, vec![task("a", &["b"], 0), task("b", &["a"], 1)], &[])
        .unwrap_err();
    assert!(matches!(e, UpdateError::Cycle { .. }), "{e}");
    let e = s
        .update_graph(c, vec![task("a", &[], 0), task("a", &[], 1)], &[])
        .unwrap_err();
    assert!(matches!(e, UpdateError::DuplicateKey { .. }));
    let e = s.update_graph(c, vec![], &[key("nothing")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "key 'nothing' was asked for, but no task makes it"
    );
    assert_eq!(s.len(), 0);
}

#[test]
fn a_key_computed_once_serves_a_second_client() {
    let mut s = State::new(StateConfig::default());
    let w = s.add_worker(WorkerSpec::new("w", 1));
    let (a, b) = (s.add_client(), s.add_client());
    s.update_graph(a, vec![task("x", &[], 0)], &[key("x")])
        .unwrap();
    let x = s.task_of(&key("x")).unwrap();
    s.take_commands();
    s.task_finished(w, x, 8, None);
    s.take_commands();
    s.update_graph(b, vec![task("x", &[], 0)], &[key("x")])
        .unwrap();
    let cmds = s.take_commands();
    assert!(
        matches!(cmds[..], [Command::InMemory { client, .. }] if client == b),
        "{cmds:?}"
    );
    s.remove_client(a);
    assert!(s.take_commands().is_empty(), "b still wants x");
    s.remove_client(b);
    assert!(matches!(s.take_commands()[..], [Command::Release { .. }]));
    assert!(s.is_empty());
}

#[test]
fn stale_answers_are_ignored() {
    let mut s = State::new(StateConfig::default());
    let w = s.add_worker(WorkerSpec::new("w", 1));
    let c = s.add_client();
    s.update_graph(c, vec![task("x", &[], 0)], &[key("x")])
        .unwrap();
    let x = s.task_of(&key("x")).unwrap();
    s.take_commands();
    // From a worker that never had it, about a task never sent, twice: nothing happens.
    let other = s.add_worker(WorkerSpec::new("other", 1));
    assert!(!s.task_finished(other, x, 8, None));
    assert!(!s.task_erred(other, x, "no".into()));
    assert!(s.task_finished(w, x, 8, None));
    assert!(!s.task_finished(w, x, 8, None), "answered once");
}

#[test]
fn a_task_released_while_running_and_wanted_again_is_not_sent_twice() {
    // x runs on w; the only client that wants it lets go (Cancel), then wants it again
    // before w answers: w's one answer serves, and no second run is sent.
    let mut s = State::new(StateConfig::default());
    let w = s.add_worker(WorkerSpec::new("w", 1).capacity(4));
    let c = s.add_client();
    s.update_graph(c, vec![task("x", &[], 0)], &[key("x")])
        .unwrap();
    let x = s.task_of(&key("x")).unwrap();
    assert_eq!(runs(&s.take_commands()), 1);
    s.release_keys(c, &[key("x")]);
    assert!(matches!(s.take_commands()[..], [Command::Cancel { task, .. }] if task == x));
    assert!(s.is_empty(), "forgotten");
    // Wanted again: a new task of the same key (the old id is stale).
    s.update_graph(c, vec![task("x", &[], 0)], &[key("x")])
        .unwrap();
    let x2 = s.task_of(&key("x")).unwrap();
    assert_eq!(runs(&s.take_commands()), 1, "a new task, a new run");
    // The old run is answered (stale: released on the worker); the new one counts.
    assert!(!s.task_finished(w, x, 8, None));
    assert!(matches!(s.take_commands()[..], [Command::Release { task, .. }] if task == x));
    assert!(s.task_finished(w, x2, 8, None));
    assert_eq!(s.in_flight(w), 0);
    assert!(s.quiet());
}

#[test]
fn the_same_task_is_never_in_flight_twice_on_one_worker() {
    // z = f(x) keeps x's record alive while x is released; x is sent, cancelled and sent
    // again to the same worker before it answers: one run in flight, one answer.
    let mut s = State::new(StateConfig::default());
    let w = s.add_worker(WorkerSpec::new("w", 1).capacity(8));
    let (c1, c2) = (s.add_client(), s.add_client());
    s.update_graph(
        c2,
        vec![task("x", &[], 0), task("z", &["x"], 1)],
        &[key("z")],
    )
    .unwrap();
    let (x, z) = (s.task_of(&key("x")).unwrap(), s.task_of(&key("z")).unwrap());
    s.take_commands();
    s.task_finished(w, x, 8, None);
    s.take_commands();
    s.task_finished(w, z, 8, None);
    s.take_commands();
    assert_eq!(s.status(x), Some(TaskStatus::Released));
    s.update_graph(c1, vec![task("y", &["x"], 0)], &[key("y")])
        .unwrap();
    assert_eq!(runs(&s.take_commands()), 1, "x again");
    s.release_keys(c1, &[key("y")]);
    assert!(
        s.take_commands()
            .iter()
            .any(|c| matches!(c, Command::Cancel { task, .. } if *task == x))
    );
    s.update_graph(c1, vec![task("y", &["x"], 0)], &[key("y")])
        .unwrap();
    assert_eq!(runs(&s.take_commands()), 0, "the run in flight serves");
    assert_eq!(s.in_flight(w), 1);
    // The worker ignored the cancel and finished: y runs next.
    assert!(s.task_finished(w, x, 8, None));
    assert_eq!(runs(&s.take_commands()), 1);
}

#[test]
fn a_cancelled_task_waits_again_for_inputs_lost_meanwhile() {
    // a runs on w0; b = f(a) can only run on w1. w0 dies while b runs on w1 (a is
    // recomputed); w1 then answers b cancelled: b must wait for a again, not be sent with an
    // input that is nowhere.
    let mut s = State::new(StateConfig::default());
    let with_op = |name: &str, deps: &[&str], order, op: &str| NewTask {
        op: op.into(),
        ..task(name, deps, order)
    };
    let w0 = s.add_worker(WorkerSpec::new("w0", 1).ops(["opa"]));
    let c = s.add_client();
    s.update_graph(
        c,
        vec![with_op("a", &[], 0, "opa"), with_op("b", &["a"], 1, "opb")],
        &[key("b")],
    )
    .unwrap();
    let (a, b) = (s.task_of(&key("a")).unwrap(), s.task_of(&key("b")).unwrap());
    assert_eq!(runs(&s.take_commands()), 1);
    let w1 = s.add_worker(WorkerSpec::new("w1", 1).capacity(4).ops(["opa", "opb"]));
    s.task_finished(w0, a, 8, None);
    let cmds = s.take_commands();
    assert!(matches!(cmds[..], [Command::Run { worker, task }] if worker == w1 && task == b));
    s.remove_worker(w0, &[]);
    let cmds = s.take_commands();
    assert!(matches!(cmds[..], [Command::Run { worker, task }] if worker == w1 && task == a));
    assert!(s.task_cancelled(w1, b));
    let cmds = s.take_commands();
    assert!(cmds.is_empty(), "b sent before a is back: {cmds:?}");
    assert_eq!(s.status(b), Some(TaskStatus::Waiting));
    s.task_finished(w1, a, 8, None);
    let cmds = s.take_commands();
    assert!(matches!(cmds[..], [Command::Run { worker, task }] if worker == w1 && task == b));
}

#[test]
fn a_failed_task_is_not_cancelled_on_the_worker_that_reported_it() {
    let mut s = State::new(StateConfig::default());
    let w = s.add_worker(WorkerSpec::new("w", 1));
    let c = s.add_client();
    s.update_graph(c, vec![task("x", &[], 0)], &[key("x")])
        .unwrap();
    let x = s.task_of(&key("x")).unwrap();
    s.take_commands();
    assert!(s.task_erred(w, x, "boom".into()));
    let cmds = s.take_commands();
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::Cancel { .. })),
        "{cmds:?}"
    );
    assert!(cmds.iter().any(|c| matches!(c, Command::Erred { .. })));
}

#[test]
fn an_idle_worker_steals_the_last_queued_task_of_a_busy_one() {
    let mut config = StateConfig::default();
    config.work_stealing = true;
    let mut s = State::new(config);
    let w0 = s.add_worker(WorkerSpec::new("w0", 1).capacity(10));
    let c = s.add_client();
    let tasks: Vec<NewTask<u32>> = (0..6).map(|i| task(&format!("t{i}"), &[], i)).collect();
    let keys: Vec<Key> = (0..6).map(|i| key(&format!("t{i}"))).collect();
    s.update_graph(c, tasks, &keys).unwrap();
    assert_eq!(runs(&s.take_commands()), 6, "all on the only worker");
    // A second worker joins, idle: it asks w0 for the task w0 would start last.
    let w1 = s.add_worker(WorkerSpec::new("w1", 1).capacity(10));
    let cmds = s.take_commands();
    let last = s.task_of(&key("t5")).unwrap();
    assert!(
        matches!(cmds[..], [Command::Steal { victim, task, thief }] if victim == w0 && task == last && thief == w1),
        "{cmds:?}"
    );
    // Not asked twice while the answer is out.
    s.task_finished(w0, s.task_of(&key("t0")).unwrap(), 8, Some(0.1));
    assert!(
        !s.take_commands()
            .iter()
            .any(|c| matches!(c, Command::Steal { task, .. } if *task == last))
    );
    // w0 had not started it: it goes to w1.
    s.steal_response(w0, last, true);
    let cmds = s.take_commands();
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Run { worker, task } if *worker == w1 && *task == last)),
        "{cmds:?}"
    );
    assert_eq!(s.status(last), Some(TaskStatus::Processing(w1)));
    // A late answer from w0 about it is stale.
    assert!(!s.task_finished(w0, last, 8, None));
    // A refused steal changes nothing.
    let t4 = s.task_of(&key("t4")).unwrap();
    s.steal_response(w0, t4, false);
    assert_eq!(s.status(t4), Some(TaskStatus::Processing(w0)));
}

#[test]
fn a_run_undone_before_the_driver_takes_it_is_never_handed_out() {
    // The client leaves between the decision to run `a` and the driver taking the commands:
    // no run (its key could no longer be looked up), no cancel, and the worker has room.
    let mut s = State::new(StateConfig::default());
    let w = s.add_worker(WorkerSpec::new("w", 1).capacity(1));
    let (c, d) = (s.add_client(), s.add_client());
    s.update_graph(c, vec![task("a", &[], 0)], &[key("a")])
        .unwrap();
    s.remove_client(c);
    let cmds = s.take_commands();
    assert!(cmds.is_empty(), "{cmds:?}");
    assert_eq!(s.len(), 0);
    // The room it held is free: the next task is sent at once.
    s.update_graph(d, vec![task("b", &[], 1)], &[key("b")])
        .unwrap();
    let cmds = s.take_commands();
    assert!(
        matches!(cmds[..], [Command::Run { worker, task }] if worker == w && s.key(task) == Some(&key("b"))),
        "{cmds:?}"
    );
}
