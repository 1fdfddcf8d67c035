//! rask-bag's integration tests: every operation against the same operation on the whole
//! `Vec`, on the sync, threaded and process schedulers; files; errors.

mod distributed;
mod io;
mod ops;

use std::sync::OnceLock;

use rask_graph::{Collection, ComputeError, Scheduler};
use rask_local::{SyncScheduler, ThreadedScheduler};
use rask_multiprocess::ProcessScheduler;

/// The three schedulers every result is checked on (the pool is shared: starting one per
/// case would cost more than the cases).
pub fn schedulers() -> [(&'static str, &'static dyn Scheduler); 3] {
    static THREADED: OnceLock<ThreadedScheduler> = OnceLock::new();
    static POOL: OnceLock<ProcessScheduler> = OnceLock::new();
    let threaded =
        THREADED.get_or_init(|| ThreadedScheduler::builder().num_workers(3).build().unwrap());
    let pool = POOL.get_or_init(|| ProcessScheduler::builder().num_workers(2).build().unwrap());
    [
        ("sync", &SyncScheduler),
        ("threaded", threaded),
        ("processes", pool),
    ]
}

/// `c` computed on every scheduler: the same result on each, returned.
pub fn everywhere<C: Collection>(c: &C) -> C::Output
where
    C::Output: PartialEq + std::fmt::Debug,
{
    let [(_, sync), rest @ ..] = schedulers();
    let want = c.compute_with(sync).expect("sync");
    for (name, s) in rest {
        let got = c.compute_with(s).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name} differs from sync");
    }
    want
}

/// `c` (which may hold closures) computed on the in-process schedulers: the same result on
/// both, returned.
pub fn everywhere_here<C: Collection>(c: &C) -> C::Output
where
    C::Output: PartialEq + std::fmt::Debug,
{
    let [(_, sync), (_, threaded), _] = schedulers();
    let want = c.compute_with(sync).expect("sync");
    assert_eq!(
        c.compute_with(threaded).expect("threaded"),
        want,
        "threaded differs from sync"
    );
    want
}

/// A unique scratch folder, removed on drop.
#[derive(Debug)]
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    /// A new folder named after `what`.
    pub fn new(what: &str) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rask-bag-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes a file; its path.
    pub fn file(&self, name: &str, contents: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// A pattern in the folder.
    pub fn glob(&self, pattern: &str) -> String {
        format!("{}/{pattern}", self.0.display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The message of a failed compute.
pub fn message(r: Result<impl std::fmt::Debug, ComputeError>) -> String {
    r.expect_err("expected an error").to_string()
}
