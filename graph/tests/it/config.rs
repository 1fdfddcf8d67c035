//! The defaults in the core: scoped, held and process-wide schedulers and callbacks, guards
//! dropped in any order or on other threads, and what happens with no default at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask_graph::{
    Callback, Collection, ComputeError, Graph, Key, Scheduler, TaskFinish, Value, config, delayed,
    exec,
};

/// A scheduler that runs in order and counts its computations.
#[derive(Debug, Default)]
struct Named(&'static str, AtomicUsize);

impl Named {
    fn new(name: &'static str) -> Arc<Named> {
        Arc::new(Named(name, AtomicUsize::new(0)))
    }
}

impl Scheduler for Named {
    fn get(
        &self,
        g: &Graph,
        keys: &[Key],
        cbs: &[&dyn Callback],
    ) -> Result<Vec<Value>, ComputeError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        exec::run_in_order(g, keys, cbs)
    }

    fn name(&self) -> &str {
        self.0
    }
}

fn inc() -> rask_graph::Delayed<i64> {
    delayed::value(1i64).map("inc", |x| x + 1)
}

#[derive(Debug, Default)]
struct Count(AtomicUsize);

impl Callback for Count {
    fn on_task_finish(&self, _: &TaskFinish) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn scoped_guards_drop_in_any_order() {
    // A thread of its own: no other test's scoped settings are here.
    std::thread::spawn(|| {
        let a = Named::new("a");
        let b = Named::new("b");
        let ga = config::set_scheduler_arc(Arc::clone(&a) as Arc<dyn Scheduler>);
        let gb = config::set_scheduler_arc(Arc::clone(&b) as Arc<dyn Scheduler>);
        assert_eq!(config::scheduler().name(), "b");
        // The outer guard first: the inner setting stays in force.
        drop(ga);
        assert_eq!(config::scheduler().name(), "b");
        assert_eq!(inc().compute().unwrap(), 2);
        assert_eq!(b.1.load(Ordering::SeqCst), 1);
        assert_eq!(a.1.load(Ordering::SeqCst), 0);
        drop(gb);
        assert_ne!(config::scheduler().name(), "b");
    })
    .join()
    .unwrap();
}

#[test]
fn scoped_settings_stay_on_their_thread() {
    let _g = config::set_scheduler_arc(Named::new("here"));
    assert_eq!(config::scheduler().name(), "here");
    let elsewhere = std::thread::spawn(|| config::scheduler().name().to_string())
        .join()
        .unwrap();
    assert_ne!(elsewhere, "here");
}

#[test]
fn callback_guards_drop_in_any_order() {
    std::thread::spawn(|| {
        let s = Named::new("s");
        let _g = config::set_scheduler_arc(s);
        let (c1, c2) = (Arc::new(Count::default()), Arc::new(Count::default()));
        let g1 = config::add_callback(Arc::clone(&c1) as Arc<dyn Callback>);
        let g2 = config::add_callback(Arc::clone(&c2) as Arc<dyn Callback>);
        inc().compute().unwrap();
        drop(g1);
        inc().compute().unwrap();
        drop(g2);
        inc().compute().unwrap();
        // Two tasks a computation (the literal and the call).
        assert_eq!(c1.0.load(Ordering::SeqCst), 2);
        assert_eq!(c2.0.load(Ordering::SeqCst), 4);
        assert!(config::callbacks().is_empty());
    })
    .join()
    .unwrap();
}

/// Everything process-wide, in one test, as tests share the process.
#[test]
fn held_and_global_defaults() {
    // This test binary links no scheduler crate: no fallback is registered.
    let err = std::thread::spawn(|| inc().compute().unwrap_err())
        .join()
        .unwrap();
    assert!(matches!(err, ComputeError::NoDefaultScheduler), "{err}");
    insta::assert_snapshot!(err.to_string(), @"no default scheduler: set one with rask_graph::config::set_scheduler, or compute with an explicit scheduler (the `rask` crate makes the threaded scheduler the default)");

    // A held guard is the default on every thread, and may drop on another thread.
    let held = Named::new("held");
    let guard = config::hold_global_scheduler(Arc::clone(&held) as Arc<dyn Scheduler>);
    let seen = std::thread::spawn(|| {
        assert_eq!(inc().compute().unwrap(), 2);
        config::scheduler().name().to_string()
    })
    .join()
    .unwrap();
    assert_eq!(seen, "held");
    assert_eq!(held.1.load(Ordering::SeqCst), 1);
    // Two held guards, the older dropped first (on another thread): the newer stays.
    let newer = config::hold_global_scheduler(Named::new("newer"));
    std::thread::spawn(move || drop(guard)).join().unwrap();
    assert_eq!(
        std::thread::spawn(|| config::scheduler().name().to_string())
            .join()
            .unwrap(),
        "newer"
    );
    // Scoped beats held.
    std::thread::spawn(|| {
        let _s = config::set_scheduler_arc(Named::new("scoped"));
        assert_eq!(config::scheduler().name(), "scoped");
    })
    .join()
    .unwrap();
    drop(newer);

    // A scheduler that holds a guard of its own (as a client does), replaced: it is dropped
    // with the lock released, so its guard can take the lock again (no deadlock).
    #[derive(Debug)]
    struct Owning(#[allow(dead_code)] config::GlobalSchedulerGuard);
    impl Scheduler for Owning {
        fn get(
            &self,
            g: &Graph,
            k: &[Key],
            c: &[&dyn Callback],
        ) -> Result<Vec<Value>, ComputeError> {
            exec::run_in_order(g, k, c)
        }
    }
    config::set_global_scheduler(Owning(config::hold_global_scheduler(Named::new("inner"))));
    // Set for good; a held one still wins while it lives.
    config::set_global_scheduler(Named("global", AtomicUsize::new(0)));
    assert_eq!(
        std::thread::spawn(|| config::scheduler().name().to_string())
            .join()
            .unwrap(),
        "global"
    );
    let g = config::hold_global_scheduler(Named::new("held-again"));
    assert_eq!(config::scheduler().name(), "held-again");
    drop(g);
    assert_eq!(
        std::thread::spawn(|| config::scheduler().name().to_string())
            .join()
            .unwrap(),
        "global"
    );

    // Process-wide callbacks see computations on every thread.
    let c = Arc::new(Count::default());
    config::add_global_callback(Arc::clone(&c) as Arc<dyn Callback>);
    std::thread::spawn(|| inc().compute().unwrap())
        .join()
        .unwrap();
    assert!(c.0.load(Ordering::SeqCst) >= 2);
}

#[test]
fn persist_goes_through_the_scheduler() {
    use std::sync::Mutex;

    /// Keeps what it persists to itself and hands out a graph of references (`Held` tasks),
    /// as a cluster's client would; later computations get the held values from it.
    #[derive(Debug, Default)]
    struct Keeper(Mutex<rask_graph::KeyMap<Value>>);
    impl Scheduler for Keeper {
        fn get(
            &self,
            g: &Graph,
            k: &[Key],
            c: &[&dyn Callback],
        ) -> Result<Vec<Value>, ComputeError> {
            let kept = self.0.lock().unwrap();
            let held: rask_graph::KeySet = kept.keys().cloned().collect();
            let plan = rask_graph::Plan::lower_with_held(g, k, &held, "keeper")?;
            // Held values are supplied; only the rest runs.
            let supplied: rask_graph::KeyMap<rask_graph::Task> = (plan.held().iter())
                .map(|i| {
                    let key = plan.key(*i).clone();
                    let task = rask_graph::Task::literal(kept[&key].clone());
                    (key, task)
                })
                .collect();
            exec::run_in_order(
                &g.replace_tasks(supplied, &rask_graph::KeySet::default()),
                k,
                c,
            )
        }
        fn name(&self) -> &str {
            "keeper"
        }
        fn persist(
            &self,
            g: &Graph,
            keys: &[Key],
            c: &[&dyn Callback],
        ) -> Result<Graph, ComputeError> {
            let values = self.get(g, keys, c)?;
            let mut kept = self.0.lock().unwrap();
            for (k, v) in keys.iter().zip(values) {
                kept.insert(k.clone(), v);
            }
            let held = rask_graph::ops::Held::new("keeper");
            let mut out = Graph::new();
            for k in keys {
                let mut l = rask_graph::Layer::new(std::sync::Arc::clone(k.name_arc()));
                l.insert(
                    k.index().iter().copied(),
                    rask_graph::Task::new(held.clone(), []),
                );
                out.add_layer(l);
            }
            Ok(out)
        }
    }
    let keeper = Keeper::default();
    let x = inc();
    let p = x.persist_with(&keeper).unwrap();
    // A graph of references: the value stayed with the keeper.
    assert!(p.graph().iter().all(|(_, t)| t.op().name() == "held"));
    assert_eq!(p.compute_with(&keeper).unwrap(), 2);
    assert_eq!(p.map("double", |v| v * 2).compute_with(&keeper).unwrap(), 4);
    // Any other scheduler says who holds it.
    let err = p
        .compute_with(&Named("n", AtomicUsize::new(0)))
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("the value is held by keeper; compute with that scheduler"),
        "{err}"
    );
    // The default hook keeps the values themselves.
    let p = x.persist_with(&Named("n", AtomicUsize::new(0))).unwrap();
    assert_eq!(p.graph().len(), 1);
    assert_eq!(p.compute_with(&keeper).unwrap(), 2);
}
