//! Shuffles past a memory budget: a split whose buckets would take this process's buckets in
//! memory past the budget writes them to a file instead (each bucket an Arrow IPC stream),
//! and its readers read their bucket from there. The file goes when its last reader is done.
//!
//! The budget is the process's: `set_shuffle_memory_budget`, or the environment variable
//! `RASK_SHUFFLE_MEMORY_BUDGET` (bytes) — which worker processes inherit from the program
//! that starts them — and the files go to `RASK_SPILL_DIR` (the system's temporary folder by
//! default).
//!
//! A spill file belongs to the process that wrote it and goes when that process's last
//! handle to it does. A handle never crosses processes: sent to another worker, spilled
//! buckets travel as their bytes (read from the file, as buckets in memory travel) and are
//! held there under that process's budget; a spilled bucket arrives as a frame.

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use polars::prelude::{
    DataFrame as PlFrame, IpcStreamReader, IpcStreamWriter, SerReader, SerWriter,
};
use rask_graph::{Datum, TaskError, Value};

use crate::frame::Frame;
use crate::shuffle::Buckets;

/// No budget set.
const UNSET: u64 = u64::MAX;

/// The budget set in this process (`UNSET` for the environment's).
static BUDGET: AtomicU64 = AtomicU64::new(UNSET);

/// Bytes of buckets this process holds in memory.
static HELD: AtomicU64 = AtomicU64::new(0);

/// Bytes this process has written to spill files.
static SPILLED: AtomicU64 = AtomicU64::new(0);

/// How many bytes of shuffle buckets this process has written to spill files so far.
///
/// ```
/// assert!(rask_dataframe::spilled_bytes() < u64::MAX);
/// ```
pub fn spilled_bytes() -> u64 {
    SPILLED.load(Ordering::Relaxed)
}

/// Sets the bytes of shuffle buckets this process keeps in memory before writing them to
/// disk (`None`: no limit), for shuffles that run from now on (hash shuffles, merges,
/// `sort_values`, `set_index`, grouping shuffles), and returns the setting before. Without a
/// call, the budget is `RASK_SHUFFLE_MEMORY_BUDGET` (bytes) if set — the way to give one to
/// worker processes, which inherit it — and there is none otherwise.
///
/// ```
/// let before = rask_dataframe::set_shuffle_memory_budget(Some(1 << 30));
/// assert_eq!(rask_dataframe::shuffle_memory_budget(), Some(1 << 30));
/// rask_dataframe::set_shuffle_memory_budget(before);
/// ```
pub fn set_shuffle_memory_budget(budget: Option<u64>) -> Option<u64> {
    let before = shuffle_memory_budget();
    BUDGET.store(budget.unwrap_or(UNSET - 1), Ordering::Relaxed);
    before
}

/// The budget in force: see [`set_shuffle_memory_budget`].
pub fn shuffle_memory_budget() -> Option<u64> {
    match BUDGET.load(Ordering::Relaxed) {
        UNSET => {
            static ENV: OnceLock<Option<u64>> = OnceLock::new();
            *ENV.get_or_init(|| {
                std::env::var("RASK_SHUFFLE_MEMORY_BUDGET")
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
            })
        }
        b if b == UNSET - 1 => None,
        b => Some(b),
    }
}

/// The folder spill files go to.
fn spill_dir() -> PathBuf {
    std::env::var_os("RASK_SPILL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// A reservation of bytes in memory, given back when dropped.
#[derive(Debug, Default)]
pub(crate) struct Held(u64);

impl Drop for Held {
    fn drop(&mut self) {
        HELD.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// The value a split gives: its buckets in memory, or written to a file when holding them
/// would pass the budget.
pub(crate) fn hold(frames: Vec<PlFrame>) -> Result<Value, TaskError> {
    let bytes: u64 = frames.iter().map(|f| f.estimated_size() as u64).sum();
    if let Some(budget) = shuffle_memory_budget() {
        let held = HELD.fetch_add(bytes, Ordering::Relaxed);
        if held.saturating_add(bytes) > budget {
            HELD.fetch_sub(bytes, Ordering::Relaxed);
            return Ok(Value::new(SpilledBuckets::write(&spill_dir(), frames)?));
        }
        return Ok(Value::new(Buckets::held(frames, Held(bytes))));
    }
    Ok(Value::new(Buckets::held(frames, Held(0))))
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> TaskError {
    TaskError::new(format!("spilling to {}: {e}", path.display()))
}

/// A spill file of this process, removed when the last handle to it goes.
#[derive(Debug)]
struct SpillFile {
    path: PathBuf,
}

impl SpillFile {
    /// The `len` bytes at `offset`.
    fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, TaskError> {
        let path = &self.path;
        let mut f = File::open(path).map_err(|e| io_error(path, e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(path, e))?;
        let mut buf = vec![0; usize::try_from(len).map_err(|e| io_error(path, e))?];
        f.read_exact(&mut buf).map_err(|e| io_error(path, e))?;
        Ok(buf)
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A split's buckets in a file: per bucket, its bytes' offset and length.
#[derive(Debug)]
pub(crate) struct SpilledBuckets {
    file: Arc<SpillFile>,
    segments: Vec<(u64, u64)>,
}

impl SpilledBuckets {
    fn write(dir: &Path, frames: Vec<PlFrame>) -> Result<Self, TaskError> {
        static N: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("rask-frames-{}-{n}.spill", std::process::id()));
        let file = Arc::new(SpillFile { path: path.clone() });
        let mut out = std::io::BufWriter::new(File::create(&path).map_err(|e| io_error(&path, e))?);
        let (mut segments, mut at) = (Vec::with_capacity(frames.len()), 0u64);
        for mut f in frames {
            let mut buf = Vec::new();
            IpcStreamWriter::new(&mut buf)
                .finish(&mut f)
                .map_err(|e| io_error(&path, e))?;
            out.write_all(&buf).map_err(|e| io_error(&path, e))?;
            segments.push((at, buf.len() as u64));
            at += buf.len() as u64;
        }
        out.flush().map_err(|e| io_error(&path, e))?;
        SPILLED.fetch_add(at, Ordering::Relaxed);
        Ok(SpilledBuckets { file, segments })
    }

    /// How many buckets.
    pub(crate) fn len(&self) -> usize {
        self.segments.len()
    }

    /// Bucket `index`, still in the file.
    pub(crate) fn part(&self, index: usize) -> Option<SpilledFrame> {
        let &(offset, len) = self.segments.get(index)?;
        Some(SpilledFrame {
            file: Arc::clone(&self.file),
            offset,
            len,
        })
    }
}

impl Datum for SpilledBuckets {
    fn nbytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.segments.len() * 16
    }
}

/// One bucket in a spill file: what a reader of the bucket gets instead of the frame.
#[derive(Debug)]
pub(crate) struct SpilledFrame {
    file: Arc<SpillFile>,
    offset: u64,
    len: u64,
}

impl Datum for SpilledFrame {}

impl SpilledFrame {
    fn read(&self) -> Result<PlFrame, TaskError> {
        let buf = self.file.read(self.offset, self.len)?;
        IpcStreamReader::new(Cursor::new(buf))
            .finish()
            .map_err(|e| io_error(&self.file.path, e))
    }
}

/// The frame a task's argument holds: a partition, or a bucket still in its spill file.
pub(crate) fn frame_of(v: &Value) -> Result<PlFrame, TaskError> {
    if let Some(s) = v.downcast_ref::<SpilledFrame>() {
        return s.read();
    }
    Ok(v.get::<Frame>()?.0.clone())
}

/// Spilled buckets cross processes as buckets in memory do (each bucket's length and its
/// Arrow IPC stream, copied from the file as written), and are held on the other side as
/// that process's budget allows.
fn encode_buckets(datum: &dyn Datum) -> Result<Vec<u8>, String> {
    let b = (datum as &dyn std::any::Any)
        .downcast_ref::<SpilledBuckets>()
        .ok_or("not spilled buckets")?;
    let mut out = Vec::new();
    for &(offset, len) in &b.segments {
        let bytes = b.file.read(offset, len).map_err(|e| e.to_string())?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

fn decode_buckets(bytes: &[u8]) -> Result<Value, String> {
    hold(crate::shuffle::frames_of(bytes)?).map_err(|e| e.to_string())
}

/// A spilled bucket crosses processes as a frame does (its Arrow IPC stream, copied from the
/// file), and arrives as a frame.
fn encode_frame(datum: &dyn Datum) -> Result<Vec<u8>, String> {
    let f = (datum as &dyn std::any::Any)
        .downcast_ref::<SpilledFrame>()
        .ok_or("not a spilled frame")?;
    f.file.read(f.offset, f.len).map_err(|e| e.to_string())
}

fn decode_frame(bytes: &[u8]) -> Result<Value, String> {
    let df = IpcStreamReader::new(Cursor::new(bytes))
        .finish()
        .map_err(|e| e.to_string())?;
    Ok(Value::new(Frame(df)))
}

rask_graph::register_value!(
    SpilledBuckets,
    "rask-dataframe.spilled-buckets",
    encode_buckets,
    decode_buckets
);
rask_graph::register_value!(
    SpilledFrame,
    "rask-dataframe.spilled-frame",
    encode_frame,
    decode_frame
);

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::df;

    #[test]
    fn spilled_buckets_read_back_whole_and_their_file_goes_with_the_last_reader() {
        let dir = std::env::temp_dir().join(format!("rask-spill-unit-{}", std::process::id()));
        let frames = vec![
            df!("a" => [1i64, 2], "b" => ["x", "y"]).unwrap(),
            df!("a" => Vec::<i64>::new(), "b" => Vec::<&str>::new()).unwrap(),
            df!("a" => [3i64], "b" => ["z"]).unwrap(),
        ];
        let spilled = SpilledBuckets::write(&dir, frames.clone()).unwrap();
        let path = spilled.file.path.clone();
        let parts: Vec<SpilledFrame> = (0..3).map(|i| spilled.part(i).unwrap()).collect();
        assert!(spilled.part(3).is_none());
        drop(spilled);
        for (part, want) in parts.iter().zip(&frames) {
            assert!(part.read().unwrap().equals(want));
        }
        assert!(path.exists());
        drop(parts);
        assert!(!path.exists(), "{} is left", path.display());
        // Sent to another process: the bytes go, read as buckets (or a frame) there, and
        // the file stays this process's, going with its last handle.
        let spilled = SpilledBuckets::write(&dir, frames.clone()).unwrap();
        let path = spilled.file.path.clone();
        let bytes = encode_buckets(&spilled).unwrap();
        let frame = encode_frame(&spilled.part(2).unwrap()).unwrap();
        drop(spilled);
        assert!(!path.exists(), "{} is left", path.display());
        let back = decode_buckets(&bytes).unwrap();
        let back = &back.get::<Buckets>().unwrap().0;
        assert_eq!(back.len(), 3);
        for (got, want) in back.iter().zip(&frames) {
            assert!(got.equals(want));
        }
        let one = decode_frame(&frame).unwrap();
        assert!(one.get::<Frame>().unwrap().0.equals(&frames[2]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
