//! A simulated cluster: workers that hold results, run what they are told in random order,
//! and die at random. The state must only run tasks whose inputs are really held, release
//! only what is held, report every wanted key, and forget everything once no client wants
//! anything.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rask_graph::Key;
use rask_scheduling::{
    ClientId, Command, Dependency, NewTask, SchedulerState, StateConfig, TaskId, TaskStatus,
    WorkerRef, WorkerSpec,
};

type State = SchedulerState<usize, String>;

#[derive(Default)]
struct SimWorker {
    /// Runs sent and not answered, in arrival order.
    queue: Vec<TaskId>,
    /// Results held.
    held: HashSet<TaskId>,
    /// Cancelled before they started.
    cancelled: HashSet<TaskId>,
}

struct Sim {
    s: State,
    rng: SmallRng,
    workers: HashMap<WorkerRef, SimWorker>,
    /// What each client wants, and what it has been told.
    wants: HashMap<ClientId, HashSet<Key>>,
    told: HashMap<ClientId, HashMap<Key, bool>>,
    /// Tasks that fail when run (by key index).
    failing: HashSet<usize>,
    runs: usize,
}

impl Sim {
    fn new(seed: u64, workers: usize, capacity: u32) -> Self {
        let mut config = StateConfig::default();
        // Half the runs steal.
        config.work_stealing = seed.is_multiple_of(2);
        let mut s = State::new(config);
        let mut map = HashMap::new();
        for i in 0..workers {
            let w = s.add_worker(WorkerSpec::new(format!("w{i}"), 1).capacity(capacity));
            map.insert(w, SimWorker::default());
        }
        Sim {
            s,
            rng: SmallRng::seed_from_u64(seed),
            workers: map,
            wants: HashMap::new(),
            told: HashMap::new(),
            failing: HashSet::new(),
            runs: 0,
        }
    }

    /// Carries out the state's commands, checking each against the simulated workers.
    fn apply(&mut self) {
        for cmd in self.s.take_commands() {
            match cmd {
                Command::Run { worker, task } => {
                    let key = self.s.key(task).expect("a run names a live task").clone();
                    for d in self.s.dependencies(task).collect::<Vec<_>>() {
                        let dk = self.s.key(d).expect("an input is live").clone();
                        let holders = self.s.who_has(d);
                        assert!(!holders.is_empty(), "{key} sent with {dk} held nowhere");
                        for h in holders {
                            assert!(
                                self.workers[h].held.contains(&d),
                                "{key} sent; {dk} said to be on {h:?}, which does not hold it"
                            );
                        }
                    }
                    let w = self
                        .workers
                        .get_mut(&worker)
                        .expect("a run goes to a live worker");
                    w.queue.push(task);
                    self.runs += 1;
                }
                Command::Steal { victim, task, .. } => {
                    // The victim gives it up if it has not started it (and, at random, not).
                    let give = self.rng.random_bool(0.7);
                    let v = self
                        .workers
                        .get_mut(&victim)
                        .expect("a steal asks a live worker");
                    let stolen = match v.queue.iter().position(|t| *t == task) {
                        Some(i) if give && !v.cancelled.contains(&task) => {
                            v.queue.remove(i);
                            true
                        }
                        _ => false,
                    };
                    self.s.steal_response(victim, task, stolen);
                }
                Command::Cancel { worker, task } => {
                    let started = self.rng.random_bool(0.3);
                    let w = self
                        .workers
                        .get_mut(&worker)
                        .expect("cancel to a live worker");
                    if w.queue.contains(&task) && !started {
                        w.cancelled.insert(task);
                    }
                }
                Command::Release { worker, task, .. } => {
                    let w = self
                        .workers
                        .get_mut(&worker)
                        .expect("release on a live worker");
                    assert!(
                        w.held.remove(&task),
                        "{worker:?} told to release {task:?}, not held"
                    );
                }
                Command::InMemory { client, task } => {
                    let key = self.s.key(task).expect("reported task is live").clone();
                    assert!(
                        self.wants[&client].contains(&key),
                        "{key} reported, not wanted"
                    );
                    assert_eq!(self.s.status(task), Some(TaskStatus::Memory));
                    self.told.entry(client).or_default().insert(key, true);
                }
                Command::Erred { client, task, .. } => {
                    let key = self.s.key(task).expect("reported task is live").clone();
                    assert!(self.wants[&client].contains(&key));
                    self.told.entry(client).or_default().insert(key, false);
                }
            }
        }
    }

    /// One random event: a worker answers its oldest or a random run, or dies, or a worker
    /// joins. Returns false when nothing was in flight.
    fn step(&mut self, death_odds: f64) -> bool {
        let busy: Vec<WorkerRef> = (self.workers.iter())
            .filter(|(_, w)| !w.queue.is_empty())
            .map(|(r, _)| *r)
            .collect();
        if busy.is_empty() {
            return false;
        }
        let mut busy = busy;
        busy.sort();
        let w = busy[self.rng.random_range(0..busy.len())];
        if self.rng.random_bool(death_odds) {
            let worker = self.workers.remove(&w).unwrap();
            let suspect = worker.queue.first().copied();
            self.s.remove_worker(w, suspect.as_slice());
            let n = self.workers.len();
            let fresh = self
                .s
                .add_worker(WorkerSpec::new(format!("w{n}+"), 1).capacity(4));
            self.workers.insert(fresh, SimWorker::default());
            self.apply();
            return true;
        }
        let sw = self.workers.get_mut(&w).unwrap();
        let i = if self.rng.random_bool(0.5) {
            0
        } else {
            self.rng.random_range(0..sw.queue.len())
        };
        let t = sw.queue.remove(i);
        if sw.cancelled.remove(&t) {
            self.s.task_cancelled(w, t);
        } else {
            let fails = self.s.payload(t).is_some_and(|p| self.failing.contains(p));
            if fails {
                self.s.task_erred(w, t, format!("{t:?} failed"));
            } else {
                // Held until the state says to release it (at once, if no longer needed).
                self.workers.get_mut(&w).unwrap().held.insert(t);
                self.s.task_finished(w, t, 8, Some(1e-4));
            }
        }
        self.apply();
        true
    }

    fn run_until_quiet(&mut self, death_odds: f64) {
        let mut steps = 0;
        while self.step(death_odds) {
            steps += 1;
            assert!(steps < 1_000_000, "no end in sight");
        }
    }
}

/// A random DAG: task i reads up to 3 earlier tasks.
fn dag(n: usize, rng: &mut SmallRng, prefix: &str) -> Vec<NewTask<usize>> {
    (0..n)
        .map(|i| {
            let mut deps: Vec<Key> = Vec::new();
            if i > 0 {
                for _ in 0..rng.random_range(0..=3usize) {
                    let d = Key::new(prefix, [rng.random_range(0..i) as u32]);
                    if !deps.contains(&d) {
                        deps.push(d);
                    }
                }
            }
            NewTask {
                key: Key::new(prefix, [i as u32]),
                // Inputs by key, or (every other one) by their place in the update.
                dependencies: (deps.into_iter())
                    .map(|d| match d.index()[0] {
                        j if j % 2 == 1 => Dependency::InUpdate(j),
                        _ => Dependency::Key(d),
                    })
                    .collect(),
                op: if i % 2 == 0 {
                    "even".into()
                } else {
                    "odd".into()
                },
                order: i as u64,
                payload: i,
            }
        })
        .collect()
}

fn check_told_everything(sim: &Sim) {
    for (c, keys) in &sim.wants {
        for k in keys {
            assert!(
                sim.told.get(c).is_some_and(|t| t.contains_key(k)),
                "client {c:?} never heard of {k}"
            );
        }
    }
}

fn check_all_released(sim: &mut Sim) {
    let clients: Vec<ClientId> = sim.wants.keys().copied().collect();
    for c in clients {
        sim.s.remove_client(c);
    }
    sim.apply();
    sim.run_until_quiet(0.0);
    assert!(sim.s.quiet());
    assert_eq!(
        sim.s.len(),
        0,
        "tasks left after every client left: {:?}",
        sim.s.counts()
    );
    for (w, sw) in &sim.workers {
        assert!(sw.held.is_empty(), "{w:?} still holds {:?}", sw.held);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every wanted key is reported in memory, with or without deaths; everything is
    /// released and forgotten once the client leaves.
    #[test]
    fn random_graphs_finish_and_leave_nothing(
        seed in any::<u64>(), n in 1usize..120, workers in 1usize..5, deaths in prop::bool::ANY,
    ) {
        let mut sim = Sim::new(seed, workers, 3);
        let tasks = dag(n, &mut sim.rng, "t");
        let wanted: Vec<Key> = (0..n).filter(|i| i % 7 == 0 || *i == n - 1)
            .map(|i| Key::new("t", [i as u32])).collect();
        let c = sim.s.add_client();
        sim.wants.insert(c, wanted.iter().cloned().collect());
        sim.s.update_graph(c, tasks, &wanted).unwrap();
        sim.apply();
        sim.run_until_quiet(if deaths { 0.02 } else { 0.0 });
        check_told_everything(&sim);
        for k in &wanted {
            let t = sim.s.task_of(k).unwrap();
            // A death may mark a task bad (three strikes); otherwise, in memory.
            let st = sim.s.status(t).unwrap();
            prop_assert!(st == TaskStatus::Memory || (deaths && st == TaskStatus::Erred), "{k}: {st:?}");
        }
        check_all_released(&mut sim);
    }

    /// Two clients share keys; one leaves midway; the other still gets everything.
    #[test]
    fn shared_keys_survive_a_client_leaving(seed in any::<u64>(), n in 2usize..80) {
        let mut sim = Sim::new(seed, 3, 2);
        let tasks = dag(n, &mut sim.rng, "s");
        let all: Vec<Key> = (0..n).map(|i| Key::new("s", [i as u32])).collect();
        let (a, b) = (sim.s.add_client(), sim.s.add_client());
        let half: Vec<Key> = all.iter().step_by(2).cloned().collect();
        sim.wants.insert(a, all.iter().cloned().collect());
        sim.wants.insert(b, half.iter().cloned().collect());
        sim.s.update_graph(a, tasks.clone(), &all).unwrap();
        sim.s.update_graph(b, tasks, &half).unwrap();
        sim.apply();
        for _ in 0..n / 2 {
            sim.step(0.0);
        }
        sim.s.remove_client(a);
        sim.wants.remove(&a);
        sim.told.remove(&a);
        sim.apply();
        sim.run_until_quiet(0.0);
        check_told_everything(&sim);
        check_all_released(&mut sim);
    }

    /// A failing task fails what depends on it, reported to the client; the rest finishes.
    #[test]
    fn failures_reach_the_clients_that_want_them(seed in any::<u64>(), n in 2usize..80) {
        let mut sim = Sim::new(seed, 2, 2);
        let tasks = dag(n, &mut sim.rng, "f");
        let deps: HashMap<usize, Vec<usize>> = tasks.iter().map(|t| {
            let index = |d: &Dependency| match d {
                Dependency::Key(k) => k.index()[0] as usize,
                Dependency::InUpdate(j) => *j as usize,
            };
            (t.payload, t.dependencies.iter().map(index).collect())
        }).collect();
        let bad = sim.rng.random_range(0..n);
        sim.failing.insert(bad);
        let all: Vec<Key> = (0..n).map(|i| Key::new("f", [i as u32])).collect();
        let c = sim.s.add_client();
        sim.wants.insert(c, all.iter().cloned().collect());
        sim.s.update_graph(c, tasks, &all).unwrap();
        sim.apply();
        sim.run_until_quiet(0.0);
        check_told_everything(&sim);
        // Exactly the tasks downstream of `bad` erred.
        let mut down = HashSet::from([bad]);
        for i in 0..n {
            if deps[&i].iter().any(|d| down.contains(d)) {
                down.insert(i);
            }
        }
        for (i, k) in all.iter().enumerate() {
            prop_assert_eq!(sim.told[&c][k], !down.contains(&i), "{}", k);
        }
        check_all_released(&mut sim);
    }
}
