//! A worker's results under a memory limit (Dask's worker memory management): past the
//! *target* fraction of the limit, the least recently used results are spilled to files in
//! the worker's local directory and read back when a task or a peer asks for them; past the
//! *pause* fraction of the process's resident memory the worker takes no new task; past the
//! *terminate* fraction it exits (its nanny starts it again, the scheduler recomputes what it
//! held).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rask_graph::{Value, registry};

/// The fractions of a worker's memory limit at which it acts (Dask's
/// `distributed.worker.memory.{target,spill,pause,terminate}`: 0.6, 0.7, 0.8, 0.95).
///
/// ```
/// let t = rask_distributed::MemoryThresholds::default();
/// assert_eq!((t.target, t.spill, t.pause, t.terminate), (0.6, 0.7, 0.8, 0.95));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryThresholds {
    /// Results past this fraction (by their sizes) are spilled to disk.
    pub target: f64,
    /// Past this fraction of the process's resident memory, results are spilled too (what
    /// their sizes do not account for).
    pub spill: f64,
    /// Past this fraction of the process's resident memory, no new task starts.
    pub pause: f64,
    /// Past this fraction of the process's resident memory, the worker exits.
    pub terminate: f64,
}

impl Default for MemoryThresholds {
    fn default() -> Self {
        Self {
            target: 0.6,
            spill: 0.7,
            pause: 0.8,
            terminate: 0.95,
        }
    }
}

/// A result written to disk.
#[derive(Debug)]
struct Spilled {
    path: PathBuf,
    name: String,
    len: usize,
    nbytes: u64,
}

/// A result in memory.
#[derive(Debug)]
struct Held {
    value: Value,
    nbytes: u64,
    last_use: u64,
    /// It cannot be written (an unregistered type): never chosen again.
    stays: bool,
}

#[derive(Debug, Default)]
struct Inner {
    mem: HashMap<u64, Held>,
    disk: HashMap<u64, Spilled>,
    bytes_mem: u64,
    bytes_disk: u64,
    clock: u64,
}

/// The results a worker holds, shared by its compute threads and its data server.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    /// Bytes past which results are spilled (0: never).
    target: u64,
    dir: PathBuf,
}

impl Store {
    /// A store spilling past `target` bytes into `dir` (made if missing).
    pub(crate) fn new(target: u64, dir: PathBuf) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            target,
            dir,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps result `id`; spills others (or it) if that passes the target.
    pub(crate) fn insert(&self, id: u64, value: Value) {
        let nbytes = value.nbytes() as u64;
        let mut s = self.lock();
        s.clock += 1;
        let last_use = s.clock;
        if let Some(old) = s.mem.insert(
            id,
            Held {
                value,
                nbytes,
                last_use,
                stays: false,
            },
        ) {
            s.bytes_mem -= old.nbytes;
        }
        s.bytes_mem += nbytes;
        self.spill(&mut s);
    }

    /// Result `id`, read back from disk if it was spilled (and then kept in memory).
    pub(crate) fn get(&self, id: u64) -> Option<Value> {
        let mut s = self.lock();
        s.clock += 1;
        let now = s.clock;
        if let Some(h) = s.mem.get_mut(&id) {
            h.last_use = now;
            return Some(h.value.clone());
        }
        let spilled = s.disk.remove(&id)?;
        s.bytes_disk -= spilled.nbytes;
        let value = std::fs::File::open(&spilled.path)
            .ok()
            .and_then(|mut f| registry::read_value(&spilled.name, spilled.len, &mut f).ok());
        let _ = std::fs::remove_file(&spilled.path);
        let value = value?;
        let nbytes = value.nbytes() as u64;
        s.mem.insert(
            id,
            Held {
                value: value.clone(),
                nbytes,
                last_use: now,
                stays: false,
            },
        );
        s.bytes_mem += nbytes;
        self.spill(&mut s);
        Some(value)
    }

    /// Drops result `id`, in memory or on disk.
    pub(crate) fn remove(&self, id: u64) {
        let mut s = self.lock();
        if let Some(h) = s.mem.remove(&id) {
            s.bytes_mem -= h.nbytes;
        }
        if let Some(d) = s.disk.remove(&id) {
            s.bytes_disk -= d.nbytes;
            let _ = std::fs::remove_file(&d.path);
        }
    }

    /// Bytes in memory, bytes on disk.
    pub(crate) fn bytes(&self) -> (u64, u64) {
        let s = self.lock();
        (s.bytes_mem, s.bytes_disk)
    }

    /// Writes the least recently used results to disk until the rest fit the target.
    fn spill(&self, s: &mut Inner) {
        if self.target == 0 {
            return;
        }
        self.spill_to(s, self.target);
    }

    fn spill_to(&self, s: &mut Inner, target: u64) {
        while s.bytes_mem > target {
            let Some(id) = (s.mem.iter())
                .filter(|(_, h)| !h.stays)
                .min_by_key(|(_, h)| h.last_use)
                .map(|(id, _)| *id)
            else {
                return; // nothing left that can be written
            };
            let Some(h) = s.mem.get(&id) else { return };
            match self.write(id, &h.value) {
                Some((name, len)) => {
                    let nbytes = h.nbytes;
                    s.mem.remove(&id);
                    s.bytes_mem -= nbytes;
                    s.bytes_disk += nbytes;
                    s.disk.insert(
                        id,
                        Spilled {
                            path: self.path(id),
                            name,
                            len,
                            nbytes,
                        },
                    );
                }
                None => {
                    if let Some(h) = s.mem.get_mut(&id) {
                        h.stays = true;
                    }
                }
            }
        }
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016x}.bin"))
    }

    /// Writes `value` to its file: its registered name and length, or `None` when it cannot
    /// be written (an unregistered type, a full disk).
    fn write(&self, id: u64, value: &Value) -> Option<(String, usize)> {
        use std::io::Write;
        let owned;
        let (name, bytes): (&str, &[u8]) = match registry::value_view(value) {
            Some(view) => view,
            None => {
                owned = registry::encode_value(value)?.ok()?;
                (owned.0, &owned.1)
            }
        };
        let _ = std::fs::create_dir_all(&self.dir);
        let mut f = std::fs::File::create(self.path(id)).ok()?;
        if f.write_all(bytes).is_err() {
            let _ = std::fs::remove_file(self.path(id));
            return None;
        }
        Some((name.to_string(), bytes.len()))
    }

    /// Removes the spill directory (the worker is leaving).
    pub(crate) fn clean_up(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// The spill directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Makes freed blocks go back to the system at once (glibc keeps freed heap memory, so a
/// worker's resident memory would not fall as it spills): allocations of 1 MiB and more are
/// their own mappings. Dask's nanny does the same with `MALLOC_TRIM_THRESHOLD_`.
pub(crate) fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt(3) with glibc's M_MMAP_THRESHOLD (-3), before the worker holds
        // anything; it only changes how later allocations are served.
        unsafe {
            libc::mallopt(-3, 1 << 20);
        }
    }
}

impl Store {
    /// Spills results (least recently used first) until `bytes` more are on disk, or nothing
    /// more can be: resident memory is past the spill threshold.
    pub(crate) fn spill_some(&self, bytes: u64) {
        let mut s = self.lock();
        let goal = s.bytes_mem.saturating_sub(bytes);
        self.spill_to(&mut s, goal);
    }
}

/// This process's resident memory in bytes (`/proc/self/statm`), 0 if unknown.
pub(crate) fn rss() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_target_the_least_recently_used_go_to_disk_and_come_back() {
        let dir = std::env::temp_dir().join(format!("rask-store-test-{}", std::process::id()));
        let each = Value::new(vec![0f64; 125]).nbytes() as u64;
        let store = Store::new(2 * each + each / 2, dir.clone());
        for id in 0..4u64 {
            store.insert(id, Value::new(vec![id as f64; 125]));
        }
        let (mem, disk) = store.bytes();
        assert!(
            mem <= 2 * each + each / 2 && mem + disk == 4 * each,
            "{mem} {disk}"
        );
        // The oldest went first.
        assert!(dir.join(format!("{:016x}.bin", 0)).exists());
        assert!(!dir.join(format!("{:016x}.bin", 3)).exists());
        // Read back, intact (and another goes out to make room).
        let v = store.get(0).unwrap();
        assert_eq!(v.get::<Vec<f64>>().unwrap(), &vec![0.0; 125]);
        assert!(!dir.join(format!("{:016x}.bin", 0)).exists());
        assert_eq!(store.bytes().0 + store.bytes().1, 4 * each);
        // Removing a spilled one deletes its file.
        for id in 0..4 {
            store.remove(id);
        }
        assert_eq!(store.bytes(), (0, 0));
        assert_eq!(std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0), 0);
        store.clean_up();
        assert!(!dir.exists());
    }

    #[test]
    fn a_value_that_cannot_be_written_stays_in_memory() {
        #[derive(Debug)]
        struct Opaque;
        impl rask_graph::Datum for Opaque {
            fn nbytes(&self) -> usize {
                100
            }
        }
        let dir = std::env::temp_dir().join(format!("rask-store-test-o-{}", std::process::id()));
        let store = Store::new(1, dir);
        store.insert(1, Value::new(Opaque));
        store.insert(2, Value::new(Opaque));
        assert!(store.get(1).is_some());
        assert_eq!(store.bytes().1, 0);
        store.clean_up();
    }
}
