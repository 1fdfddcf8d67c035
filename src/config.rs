//! The default scheduler and callbacks.
//!
//! Like `tracing`'s dispatchers: [`set_scheduler`] and [`add_callback`] change the defaults for
//! the current thread until the returned guard drops (Dask's `with dask.config.set(...)` and
//! `with ProgressBar():`); [`set_global_scheduler`] and [`add_global_callback`] change them for
//! the whole process. Scoped settings win over global ones.
//!
//! ```
//! use rask::prelude::*;
//! use rask::schedulers::SyncScheduler;
//!
//! assert_eq!(rask::config::scheduler().name(), "threaded");
//! {
//!     let _guard = rask::config::set_scheduler(SyncScheduler);
//!     assert_eq!(rask::config::scheduler().name(), "sync");
//!     let x = rask::delayed::value(1i64).map("inc", |x| x + 1);
//!     assert_eq!(x.compute().unwrap(), 2); // runs on the sync scheduler
//! }
//! assert_eq!(rask::config::scheduler().name(), "threaded");
//! ```

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock, RwLock};

use rask_graph::{Callback, Scheduler};
use rask_local::ThreadedScheduler;

thread_local! {
    static SCOPED_SCHEDULERS: RefCell<Vec<Arc<dyn Scheduler>>> = const { RefCell::new(Vec::new()) };
    static SCOPED_CALLBACKS: RefCell<Vec<Arc<dyn Callback>>> = const { RefCell::new(Vec::new()) };
}

fn global_scheduler() -> &'static RwLock<Option<Arc<dyn Scheduler>>> {
    static G: OnceLock<RwLock<Option<Arc<dyn Scheduler>>>> = OnceLock::new();
    G.get_or_init(|| RwLock::new(None))
}

fn global_callbacks() -> &'static RwLock<Vec<Arc<dyn Callback>>> {
    static G: OnceLock<RwLock<Vec<Arc<dyn Callback>>>> = OnceLock::new();
    G.get_or_init(|| RwLock::new(Vec::new()))
}

fn default_scheduler() -> Arc<dyn Scheduler> {
    static D: OnceLock<Arc<dyn Scheduler>> = OnceLock::new();
    Arc::clone(D.get_or_init(|| Arc::new(ThreadedScheduler::default())))
}

/// The scheduler `compute()` uses now: the innermost scoped one, else the global one, else a
/// [`ThreadedScheduler`] on all cores.
pub fn scheduler() -> Arc<dyn Scheduler> {
    if let Some(s) = SCOPED_SCHEDULERS.with(|s| s.borrow().last().cloned()) {
        return s;
    }
    let global = global_scheduler()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    global.unwrap_or_else(default_scheduler)
}

/// The callbacks `compute()` passes now: the global ones, then the scoped ones.
pub fn callbacks() -> Vec<Arc<dyn Callback>> {
    let mut all = global_callbacks()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    SCOPED_CALLBACKS.with(|s| all.extend(s.borrow().iter().cloned()));
    all
}

/// Restores the previous default scheduler when dropped. Not `Send`: it belongs to the thread
/// that made it.
#[must_use = "the scheduler is only set until the guard drops"]
#[derive(Debug)]
pub struct SchedulerGuard {
    _not_send: PhantomData<*const ()>,
}

impl Drop for SchedulerGuard {
    fn drop(&mut self) {
        SCOPED_SCHEDULERS.with(|s| s.borrow_mut().pop());
    }
}

/// Makes `scheduler` the default on this thread until the guard drops.
pub fn set_scheduler(scheduler: impl Scheduler + 'static) -> SchedulerGuard {
    set_scheduler_arc(Arc::new(scheduler))
}

/// [`set_scheduler`] for a shared scheduler.
pub fn set_scheduler_arc(scheduler: Arc<dyn Scheduler>) -> SchedulerGuard {
    SCOPED_SCHEDULERS.with(|s| s.borrow_mut().push(scheduler));
    SchedulerGuard {
        _not_send: PhantomData,
    }
}

/// Makes `scheduler` the default for the whole process (scoped settings still win).
pub fn set_global_scheduler(scheduler: impl Scheduler + 'static) {
    *global_scheduler()
        .write()
        .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(scheduler));
}

/// Removes a callback added by [`add_callback`] when dropped.
#[must_use = "the callback is only attached until the guard drops"]
#[derive(Debug)]
pub struct CallbackGuard {
    callback: Arc<dyn Callback>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for CallbackGuard {
    fn drop(&mut self) {
        SCOPED_CALLBACKS.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|c| Arc::ptr_eq(c, &self.callback)) {
                s.remove(i);
            }
        });
    }
}

/// Attaches `callback` to every computation started on this thread until the guard drops.
pub fn add_callback(callback: Arc<dyn Callback>) -> CallbackGuard {
    SCOPED_CALLBACKS.with(|s| s.borrow_mut().push(Arc::clone(&callback)));
    CallbackGuard {
        callback,
        _not_send: PhantomData,
    }
}

/// Attaches `callback` to every computation in the process.
pub fn add_global_callback(callback: Arc<dyn Callback>) {
    global_callbacks()
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .push(callback);
}
