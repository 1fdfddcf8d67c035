//! The default scheduler and callbacks: what [`Collection::compute`](crate::Collection::compute)
//! runs on when it is not told.
//!
//! The model is tracing-core's dispatcher. From strongest to weakest:
//! 1. **Scoped, on this thread**: [`set_scheduler`] and [`add_callback`] return a guard; the
//!    setting holds on the calling thread until the guard drops (Dask's
//!    `with dask.config.set(scheduler=...)` and `with ProgressBar():`).
//! 2. **Held, process-wide**: [`hold_global_scheduler`] returns a [`GlobalSchedulerGuard`] that is
//!    `Send + Sync`: a scheduler object keeps it for as long as it lives and is the default
//!    everywhere meanwhile (as a dask.distributed `Client` is).
//! 3. **Process-wide**: [`set_global_scheduler`] and [`add_global_callback`], for good.
//! 4. **The fallback**: a scheduler registered with
//!    [`register_default_scheduler!`](crate::register_default_scheduler) by a crate linked into
//!    the program (the `rask` facade registers the threaded scheduler). With none,
//!    computing returns [`ComputeError::NoDefaultScheduler`].
//!
//! Guards may drop in any order: each removes its own setting, wherever it sits, and the
//! newest setting still in place is the one in force. A scoped guard is not `Send`, so it is
//! dropped on the thread that made it; a held guard may drop on any thread.
//!
//! ```
//! use rask_graph::{config, delayed, Collection};
//! # #[derive(Debug)] struct Named(&'static str);
//! # impl rask_graph::Scheduler for Named {
//! #     fn get(&self, g: &rask_graph::Graph, k: &[rask_graph::Key], c: &[&dyn rask_graph::Callback])
//! #         -> Result<Vec<rask_graph::Value>, rask_graph::ComputeError> { rask_graph::exec::run_in_order(g, k, c) }
//! #     fn name(&self) -> &str { self.0 }
//! # }
//! let before = config::scheduler().name().to_string();
//! {
//!     let _guard = config::set_scheduler(Named("mine"));
//!     assert_eq!(config::scheduler().name(), "mine");
//!     let x = delayed::value(1i64).map("inc", |x| x + 1);
//!     assert_eq!(x.compute().unwrap(), 2); // runs on `Named("mine")`
//! }
//! assert_eq!(config::scheduler().name(), before);
//! ```

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use crate::{Callback, ComputeError, Graph, Key, Scheduler, Value};

/// A scheduler a linked crate offers as the fallback default; see
/// [`register_default_scheduler!`](crate::register_default_scheduler).
#[derive(Debug)]
pub struct DefaultScheduler {
    /// Among several fallbacks, the highest rank wins (ties: the first found).
    pub rank: i32,
    /// Makes the scheduler, once, the first time a default is needed.
    pub make: fn() -> Arc<dyn Scheduler>,
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static DEFAULT_SCHEDULERS: [DefaultScheduler];

/// Offers a scheduler as the fallback default of every program that links the calling crate,
/// with no start-up code (a `linkme` distributed slice, like the op registry). The `rask`
/// facade offers the threaded scheduler this way; a program with no fallback gets
/// [`ComputeError::NoDefaultScheduler`] from `compute()` until it sets one.
///
/// ```
/// use std::sync::Arc;
/// # #[derive(Debug)] struct Mine;
/// # impl rask_graph::Scheduler for Mine {
/// #     fn get(&self, g: &rask_graph::Graph, k: &[rask_graph::Key], c: &[&dyn rask_graph::Callback])
/// #         -> Result<Vec<rask_graph::Value>, rask_graph::ComputeError> { rask_graph::exec::run_in_order(g, k, c) }
/// # }
/// // Rank 0 is what the facade uses; a higher rank wins over it.
/// rask_graph::register_default_scheduler!(10, || Arc::new(Mine));
/// ```
#[macro_export]
macro_rules! register_default_scheduler {
    ($rank:expr, $make:expr) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::config::DEFAULT_SCHEDULERS)]
            #[linkme(crate = $crate::__private::linkme)]
            static DEFAULT: $crate::config::DefaultScheduler = $crate::config::DefaultScheduler {
                rank: $rank,
                make: $make,
            };
        };
    };
}

/// Stands in when no scheduler is set or registered: every computation fails with
/// [`ComputeError::NoDefaultScheduler`].
#[derive(Debug, Clone, Copy)]
struct NoScheduler;

impl Scheduler for NoScheduler {
    fn get(&self, _: &Graph, _: &[Key], _: &[&dyn Callback]) -> Result<Vec<Value>, ComputeError> {
        Err(ComputeError::NoDefaultScheduler)
    }

    fn name(&self) -> &str {
        "none"
    }
}

/// A setting and the id of the guard that removes it.
type Entry<T> = (u64, T);

thread_local! {
    static SCOPED_SCHEDULERS: RefCell<Vec<Entry<Arc<dyn Scheduler>>>> = const { RefCell::new(Vec::new()) };
    static SCOPED_CALLBACKS: RefCell<Vec<Entry<Arc<dyn Callback>>>> = const { RefCell::new(Vec::new()) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

#[derive(Default)]
struct Globals {
    /// Held by [`GlobalSchedulerGuard`]s, newest last.
    held: Vec<Entry<Arc<dyn Scheduler>>>,
    /// Set by [`set_global_scheduler`].
    set: Option<Arc<dyn Scheduler>>,
    callbacks: Vec<Arc<dyn Callback>>,
}

fn globals() -> &'static RwLock<Globals> {
    static G: OnceLock<RwLock<Globals>> = OnceLock::new();
    G.get_or_init(RwLock::default)
}

fn read_globals() -> std::sync::RwLockReadGuard<'static, Globals> {
    globals().read().unwrap_or_else(|p| p.into_inner())
}

fn write_globals() -> std::sync::RwLockWriteGuard<'static, Globals> {
    globals().write().unwrap_or_else(|p| p.into_inner())
}

fn fallback() -> Arc<dyn Scheduler> {
    static F: OnceLock<Arc<dyn Scheduler>> = OnceLock::new();
    let made = F.get_or_init(|| {
        let mut best: Option<&DefaultScheduler> = None;
        for d in DEFAULT_SCHEDULERS.iter() {
            if best.is_none_or(|b| d.rank > b.rank) {
                best = Some(d);
            }
        }
        match best {
            Some(d) => (d.make)(),
            None => Arc::new(NoScheduler),
        }
    });
    Arc::clone(made)
}

/// The scheduler `compute()` uses now: the newest scoped one on this thread, else the newest
/// held one, else the one set for the process, else the registered fallback.
pub fn scheduler() -> Arc<dyn Scheduler> {
    if let Some(s) = SCOPED_SCHEDULERS.with(|s| s.borrow().last().map(|(_, s)| Arc::clone(s))) {
        return s;
    }
    let g = read_globals();
    if let Some((_, s)) = g.held.last() {
        return Arc::clone(s);
    }
    if let Some(s) = &g.set {
        return Arc::clone(s);
    }
    drop(g);
    fallback()
}

/// The callbacks `compute()` passes now: the process-wide ones, then this thread's scoped ones.
pub fn callbacks() -> Vec<Arc<dyn Callback>> {
    let mut all = read_globals().callbacks.clone();
    SCOPED_CALLBACKS.with(|s| all.extend(s.borrow().iter().map(|(_, c)| Arc::clone(c))));
    all
}

/// Calls `f` with the current [`callbacks`], as the list a [`Scheduler`] takes.
pub fn with_callbacks<R>(f: impl FnOnce(&[&dyn Callback]) -> R) -> R {
    let callbacks = callbacks();
    let refs: Vec<&dyn Callback> = callbacks.iter().map(|c| &**c).collect();
    f(&refs)
}

/// Takes the entry of guard `id` out of `list`. The caller drops it after releasing the lock
/// or borrow: dropping a scheduler may drop a guard of its own, which takes them again.
fn remove_entry<T>(list: &mut Vec<Entry<T>>, id: u64) -> Option<Entry<T>> {
    let i = list.iter().rposition(|(e, _)| *e == id)?;
    Some(list.remove(i))
}

/// Removes guard `id`'s entry from this thread's `list` and drops it once the borrow is over.
/// `try_with`: a guard dropped while the thread's locals are torn down has nothing to do.
fn drop_scoped<T: 'static>(list: &'static std::thread::LocalKey<RefCell<Vec<Entry<T>>>>, id: u64) {
    let removed = list
        .try_with(|s| remove_entry(&mut s.borrow_mut(), id))
        .ok()
        .flatten();
    drop(removed);
}

/// Removes a scheduler set by [`set_scheduler`] when dropped. Not `Send`: it belongs to the
/// thread that made it.
#[must_use = "the scheduler is only set until the guard drops"]
#[derive(Debug)]
pub struct SchedulerGuard {
    id: u64,
    _not_send: PhantomData<*const ()>,
}

impl Drop for SchedulerGuard {
    fn drop(&mut self) {
        drop_scoped(&SCOPED_SCHEDULERS, self.id);
    }
}

/// Makes `scheduler` the default on this thread until the guard drops.
pub fn set_scheduler(scheduler: impl Scheduler + 'static) -> SchedulerGuard {
    set_scheduler_arc(Arc::new(scheduler))
}

/// [`set_scheduler`] for a shared scheduler.
pub fn set_scheduler_arc(scheduler: Arc<dyn Scheduler>) -> SchedulerGuard {
    let id = next_id();
    SCOPED_SCHEDULERS.with(|s| s.borrow_mut().push((id, scheduler)));
    SchedulerGuard {
        id,
        _not_send: PhantomData,
    }
}

/// Keeps a scheduler the default of the whole process (scoped settings still win) until it
/// drops, on whichever thread. What a scheduler object holds for its lifetime: a distributed
/// client, say, is the default while it lives.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::config;
/// # #[derive(Debug)] struct Cluster;
/// # impl rask_graph::Scheduler for Cluster {
/// #     fn get(&self, g: &rask_graph::Graph, k: &[rask_graph::Key], c: &[&dyn rask_graph::Callback])
/// #         -> Result<Vec<rask_graph::Value>, rask_graph::ComputeError> { rask_graph::exec::run_in_order(g, k, c) }
/// #     fn name(&self) -> &str { "cluster" }
/// # }
///
/// /// A client that is the default scheduler while it lives.
/// struct Client {
///     _default: config::GlobalSchedulerGuard,
/// }
///
/// let client = Client { _default: config::hold_global_scheduler(Arc::new(Cluster)) };
/// // Another thread sees it too.
/// std::thread::spawn(|| assert_eq!(config::scheduler().name(), "cluster")).join().unwrap();
/// drop(client);
/// assert_ne!(config::scheduler().name(), "cluster");
/// ```
#[must_use = "the scheduler is only the default until the guard drops"]
#[derive(Debug)]
pub struct GlobalSchedulerGuard {
    id: u64,
}

impl Drop for GlobalSchedulerGuard {
    fn drop(&mut self) {
        let removed = remove_entry(&mut write_globals().held, self.id);
        drop(removed);
    }
}

/// Makes `scheduler` the default of every thread (scoped settings still win) until the guard
/// drops.
pub fn hold_global_scheduler(scheduler: Arc<dyn Scheduler>) -> GlobalSchedulerGuard {
    let id = next_id();
    write_globals().held.push((id, scheduler));
    GlobalSchedulerGuard { id }
}

/// Makes `scheduler` the default of the whole process for good (scoped and held settings still
/// win). A later call replaces it.
pub fn set_global_scheduler(scheduler: impl Scheduler + 'static) {
    let scheduler: Arc<dyn Scheduler> = Arc::new(scheduler);
    let old = write_globals().set.replace(scheduler);
    // Dropped with the lock released: it may hold a guard of its own.
    drop(old);
}

/// Removes a callback added by [`add_callback`] when dropped. Not `Send`.
#[must_use = "the callback is only attached until the guard drops"]
#[derive(Debug)]
pub struct CallbackGuard {
    id: u64,
    _not_send: PhantomData<*const ()>,
}

impl Drop for CallbackGuard {
    fn drop(&mut self) {
        drop_scoped(&SCOPED_CALLBACKS, self.id);
    }
}

/// Attaches `callback` to every computation started on this thread until the guard drops.
pub fn add_callback(callback: Arc<dyn Callback>) -> CallbackGuard {
    let id = next_id();
    SCOPED_CALLBACKS.with(|s| s.borrow_mut().push((id, callback)));
    CallbackGuard {
        id,
        _not_send: PhantomData,
    }
}

/// Attaches `callback` to every computation in the process, for good.
pub fn add_global_callback(callback: Arc<dyn Callback>) {
    write_globals().callbacks.push(callback);
}
