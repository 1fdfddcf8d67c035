//! A page of memory shared by the scheduler and one worker: which task the worker is running
//! and which it finished last (written by the worker, read by the scheduler when the worker
//! dies — exact even when the worker's last replies died with it in a buffer), and whether
//! the computation was cancelled (written by the scheduler, read by the worker before each
//! task, so that queued tasks are skipped at once after a failure).
//!
//! The page is a small file (in `/dev/shm` where there is one) that both processes map; the
//! scheduler removes the file once the worker has greeted it, so nothing is left behind.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

/// The environment variable giving a worker the path of its control page.
pub(crate) const CONTROL_ENV: &str = "RASK_MULTIPROCESS_CONTROL";

/// The cells of the page, in order.
const RUNNING: usize = 0;
const LAST_DONE: usize = 1;
const CANCELLED: usize = 2;
const CELLS: usize = 3;

/// One worker's control page.
#[derive(Debug)]
pub(crate) struct Control {
    map: MmapMut,
}

impl Control {
    /// Makes a new page file and maps it; returns the page and the file's path (for the
    /// worker, which opens it before greeting).
    pub(crate) fn create() -> io::Result<(Control, PathBuf)> {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!(
            "rask-mp-control-{}-{}",
            std::process::id(),
            rask_graph::tokenize::unique_token()
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let control = Control::map(&file).inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })?;
        Ok((control, path))
    }

    /// Maps the page made by [`create`](Control::create) (in the worker).
    pub(crate) fn open(path: &Path) -> io::Result<Control> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Control::map(&file)
    }

    fn map(file: &File) -> io::Result<Control> {
        file.set_len((CELLS * 8) as u64)?;
        // SAFETY: the file is private to this scheduler and its worker (a fresh name, removed
        // once both have mapped it); its contents are only ever accessed through the atomics
        // of `cell`, by both processes.
        let map = unsafe { MmapMut::map_mut(file)? };
        Ok(Control { map })
    }

    fn cell(&self, i: usize) -> &AtomicU64 {
        assert!(i < CELLS && self.map.len() >= CELLS * 8);
        // SAFETY: the mapping is page-aligned and at least CELLS * 8 bytes long (checked
        // above), so cell `i` is an aligned u64 inside it; it lives as long as `self`, and is
        // only accessed atomically (by this process and by the other one).
        unsafe { &*self.map.as_ptr().cast::<AtomicU64>().add(i) }
    }

    /// A new computation: nothing running, nothing done, not cancelled (the worker is idle).
    pub(crate) fn reset(&self) {
        for i in 0..CELLS {
            self.cell(i).store(0, Ordering::Release);
        }
    }

    /// The worker starts task `id`.
    pub(crate) fn start(&self, id: u32) {
        self.cell(RUNNING)
            .store(u64::from(id) + 1, Ordering::Release);
    }

    /// The worker finished task `id` (and runs nothing now).
    pub(crate) fn finish(&self, id: u32) {
        self.cell(LAST_DONE)
            .store(u64::from(id) + 1, Ordering::Release);
        self.cell(RUNNING).store(0, Ordering::Release);
    }

    /// The task the worker is running, if any.
    pub(crate) fn running(&self) -> Option<u32> {
        Self::id(self.cell(RUNNING).load(Ordering::Acquire))
    }

    /// The task the worker finished last in this computation, if any.
    pub(crate) fn last_done(&self) -> Option<u32> {
        Self::id(self.cell(LAST_DONE).load(Ordering::Acquire))
    }

    fn id(cell: u64) -> Option<u32> {
        cell.checked_sub(1).and_then(|id| u32::try_from(id).ok())
    }

    /// The scheduler cancels what the worker has queued: it starts no task until reset.
    pub(crate) fn cancel(&self) {
        self.cell(CANCELLED).store(1, Ordering::Release);
    }

    /// Whether the computation was cancelled.
    pub(crate) fn cancelled(&self) -> bool {
        self.cell(CANCELLED).load(Ordering::Acquire) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::Control;

    #[test]
    fn both_mappings_see_the_same_cells() {
        let (a, path) = Control::create().unwrap();
        let b = Control::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            (b.running(), b.last_done(), b.cancelled()),
            (None, None, false)
        );
        a.start(7);
        assert_eq!(b.running(), Some(7));
        a.finish(7);
        assert_eq!((b.running(), b.last_done()), (None, Some(7)));
        b.cancel();
        assert!(a.cancelled());
        a.reset();
        assert_eq!(
            (b.running(), b.last_done(), b.cancelled()),
            (None, None, false)
        );
    }
}
