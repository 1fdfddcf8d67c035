//! The threaded scheduler's helper threads, kept between computations.
//!
//! A computation runs on the calling thread (worker 0) plus up to `n - 1` helpers. The caller
//! posts a *job* — a borrowed `Fn(worker)` living on its stack — and works on it itself; idle
//! helpers take the oldest job that still wants helpers, each under the next worker number.
//! When the caller's own share returns it withdraws the job (no helper joins any more) and
//! waits until every helper that joined has left it: only then does the borrowed closure go out
//! of scope. That wait is what makes handing a non-`'static` closure to long-lived threads
//! sound, as in rayon's scopes.
//!
//! Several computations may run at once on one scheduler: each has its own job, helpers serve
//! the oldest first, and a caller always works on its own job, so a computation finishes even
//! when every helper is busy elsewhere.

use std::sync::Arc;

use crate::sync::{Condvar, Mutex, MutexGuard, thread};

/// A job's closure with its lifetime erased; see the module docs for why this is sound.
#[derive(Clone, Copy)]
struct Erased(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the closure is `Sync`, and `run` keeps it alive while any helper may call it.
unsafe impl Send for Erased {}

struct Job {
    id: u64,
    f: Erased,
    /// Helpers still wanted, by role (helpers, spares; 0 once the caller withdraws the job).
    wanted: [usize; 2],
    /// The next worker number to hand out, by role (the caller is 0; spares follow helpers).
    next_worker: [usize; 2],
    /// Helpers working on it now.
    active: usize,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    next_id: u64,
    shutdown: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Helpers wait here for jobs.
    work: Condvar,
    /// Callers wait here for their helpers to leave.
    left: Condvar,
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Helper threads that live as long as the pool.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    threads: Vec<thread::JoinHandle<()>>,
    /// Spare helpers (which join only jobs that want spares), started when first wanted.
    spares: std::sync::Mutex<Vec<thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("helpers", &self.threads.len())
            .finish()
    }
}

impl Pool {
    /// Starts `helpers` threads. A thread the system will not start is an error naming it;
    /// those already started are stopped again.
    pub(crate) fn start(helpers: usize) -> Result<Pool, (usize, std::io::Error)> {
        let mut pool = Pool {
            shared: Arc::new(Shared::default()),
            threads: Vec::with_capacity(helpers),
            spares: Default::default(),
        };
        for i in 1..=helpers {
            pool.threads.push(pool.spawn(i, HELPER)?);
        }
        Ok(pool)
    }

    /// Starts spare helpers until there are `n` (a thread the system will not start is an
    /// error naming it; those started stay).
    pub(crate) fn start_spares(&self, n: usize) -> Result<(), (usize, std::io::Error)> {
        let mut spares = self.spares.lock().unwrap_or_else(|p| p.into_inner());
        while spares.len() < n {
            let i = self.threads.len() + spares.len() + 1;
            spares.push(self.spawn(i, SPARE)?);
        }
        Ok(())
    }

    /// Thread `i` (from 1), a helper in `role`.
    fn spawn(
        &self,
        i: usize,
        role: usize,
    ) -> Result<thread::JoinHandle<()>, (usize, std::io::Error)> {
        let shared = Arc::clone(&self.shared);
        thread::Builder::new()
            .name(format!("rask-worker-{i}"))
            .spawn(move || helper(&shared, role))
            .map_err(|e| (i, e))
    }

    /// The number of helper threads.
    pub(crate) fn helpers(&self) -> usize {
        self.threads.len()
    }

    /// The number of spare helper threads started.
    fn spare_count(&self) -> usize {
        self.spares.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Runs `f(0)` on this thread and `f(1)`, `f(2)`, … up to `f(helpers)` on helpers that are
    /// free to join, and `f(helpers + 1)` … up to `f(helpers + spares)` on spare helpers that
    /// are (see [`start_spares`](Self::start_spares)); returns when this thread's call has
    /// returned and every helper that joined has left. `f` must finish the whole job by itself
    /// if no helper joins.
    pub(crate) fn run(&self, helpers: usize, spares: usize, f: &(dyn Fn(usize) + Sync)) {
        // SAFETY: only the lifetime is erased; `Withdraw` (below, also on unwinding) waits
        // until no helper can call `f` any more before this frame, and `f`, go away.
        let erased = Erased(unsafe {
            std::mem::transmute::<
                *const (dyn Fn(usize) + Sync + '_),
                *const (dyn Fn(usize) + Sync + 'static),
            >(f)
        });
        let id = {
            let mut q = lock(&self.shared.queue);
            let id = q.next_id;
            q.next_id += 1;
            q.jobs.push(Job {
                id,
                f: erased,
                // (The spares' lock is taken only by computations that want spares.)
                wanted: [
                    helpers.min(self.helpers()),
                    if spares > 0 {
                        spares.min(self.spare_count())
                    } else {
                        0
                    },
                ],
                next_worker: [1, helpers + 1],
                active: 0,
            });
            id
        };
        // From here on the job is withdrawn and waited out however this frame is left.
        let _withdraw = Withdraw {
            shared: &self.shared,
            id,
        };
        if helpers > 0 || spares > 0 {
            self.shared.work.notify_all();
        }
        f(0);
    }
}

/// Withdraws a job and waits for its helpers to leave, when the caller's share is over (or
/// unwinds).
struct Withdraw<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        let mut q = lock(&self.shared.queue);
        loop {
            let Some(i) = q.jobs.iter().position(|j| j.id == self.id) else {
                return;
            };
            q.jobs[i].wanted = [0, 0];
            if q.jobs[i].active == 0 {
                q.jobs.remove(i);
                return;
            }
            q = self.shared.left.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        lock(&self.shared.queue).shutdown = true;
        self.shared.work.notify_all();
        let spares = std::mem::take(self.spares.get_mut().unwrap_or_else(|p| p.into_inner()));
        for t in self.threads.drain(..).chain(spares) {
            let _ = t.join();
        }
    }
}

/// A helper's role: a job's helpers, or its spares (see [`Pool::start_spares`]).
const HELPER: usize = 0;
const SPARE: usize = 1;

/// A helper's life: take the oldest job that wants help in its `role`, work on it, leave it,
/// repeat.
fn helper(shared: &Shared, role: usize) {
    let mut q = lock(&shared.queue);
    loop {
        if q.shutdown {
            return;
        }
        let Some(job) = q.jobs.iter_mut().find(|j| j.wanted[role] > 0) else {
            q = shared.work.wait(q).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        job.wanted[role] -= 1;
        job.active += 1;
        let (id, f, worker) = (job.id, job.f, job.next_worker[role]);
        job.next_worker[role] += 1;
        drop(q);
        {
            // Leave the job even if `f` unwinds (the scheduler catches panics inside `f`;
            // this is the last line of defence against a hung caller).
            let _leave = Leave { shared, id };
            // SAFETY: the job is in the queue with `active` counted, so its caller is still
            // waiting in `Withdraw` and the closure is alive.
            let f = unsafe { &*f.0 };
            if let Err(payload) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(worker)))
            {
                rask_graph::exec::drop_panic_payload(payload);
            }
        }
        q = lock(&shared.queue);
    }
}

struct Leave<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut q = lock(&self.shared.queue);
        if let Some(j) = q.jobs.iter_mut().find(|j| j.id == self.id) {
            j.active -= 1;
            if j.active == 0 {
                drop(q);
                self.shared.left.notify_all();
            }
        }
    }
}
