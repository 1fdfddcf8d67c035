//! A shuffle's buckets on disk: a partition's split that outgrows its memory budget writes
//! its buckets to a file of its own, in segments (each a partition value encoded as the
//! registry encodes it for other processes); the handle that names the file removes it when
//! the last reader is done with it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rask_graph::{Datum, TaskError, Value};
use serde::{Deserialize, Serialize};

fn io_error(path: &Path, e: std::io::Error) -> TaskError {
    TaskError::new(format!("spilling to {}: {e}", path.display()))
}

/// Where a split's buckets are: a file, and per bucket its segments (offset, length).
#[derive(Debug, Deserialize)]
pub struct SpilledBuckets {
    path: PathBuf,
    /// The registered name of the segments' partition values.
    value: String,
    segments: Vec<Vec<(u64, u64)>>,
    /// Whether this handle removes the file when dropped: the one the split made, until it
    /// is encoded (sent to another process, or written out by a worker's memory manager,
    /// which then drops it): from then on the file outlives every handle rather than go
    /// while a copy still needs it.
    #[serde(skip)]
    owner: AtomicBool,
}

impl Serialize for SpilledBuckets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        self.owner.store(false, Ordering::Relaxed);
        let mut st = s.serialize_struct("SpilledBuckets", 3)?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("value", &self.value)?;
        st.serialize_field("segments", &self.segments)?;
        st.end()
    }
}

impl Datum for SpilledBuckets {}

rask_graph::register_value!(SpilledBuckets, "rask-bag.spilled-buckets");

impl Drop for SpilledBuckets {
    fn drop(&mut self) {
        if self.owner.load(Ordering::Relaxed) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl SpilledBuckets {
    /// The partition values of bucket `bucket`, in order, to `each`.
    pub(crate) fn read(
        &self,
        bucket: usize,
        each: &mut dyn FnMut(Value) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let Some(segments) = self.segments.get(bucket) else {
            return Err(TaskError::new(format!(
                "no bucket {bucket} in {}",
                self.path.display()
            )));
        };
        if segments.is_empty() {
            return Ok(());
        }
        let mut file = File::open(&self.path).map_err(|e| io_error(&self.path, e))?;
        let mut buf = Vec::new();
        for &(offset, len) in segments {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| io_error(&self.path, e))?;
            buf.resize(len as usize, 0);
            file.read_exact(&mut buf)
                .map_err(|e| io_error(&self.path, e))?;
            let v = rask_graph::registry::decode_value(&self.value, &buf)
                .map_err(|e| TaskError::new(format!("reading {}: {e}", self.path.display())))?;
            each(v)?;
        }
        Ok(())
    }
}

/// A split's file being written.
pub(crate) struct SpillFile {
    handle: SpilledBuckets,
    file: File,
    written: u64,
}

impl SpillFile {
    /// A new file in `dir` for `buckets` buckets.
    pub(crate) fn create(dir: &Path, buckets: usize) -> Result<Self, TaskError> {
        static N: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("rask-shuffle-{}-{n}.spill", std::process::id()));
        let file = File::create(&path).map_err(|e| io_error(&path, e))?;
        Ok(SpillFile {
            handle: SpilledBuckets {
                path,
                value: String::new(),
                segments: vec![Vec::new(); buckets],
                owner: AtomicBool::new(true),
            },
            file,
            written: 0,
        })
    }

    /// Appends partition value `v` to bucket `bucket`.
    pub(crate) fn append(&mut self, bucket: usize, v: &Value) -> Result<(), TaskError> {
        let path = &self.handle.path;
        let (name, bytes) = rask_graph::registry::encode_value(v)
            .ok_or_else(|| {
                TaskError::new(format!(
                    "cannot spill a partition of {}: register its item type (register_item!)",
                    v.type_name()
                ))
            })?
            .map_err(|e| TaskError::new(format!("spilling to {}: {e}", path.display())))?;
        self.file.write_all(&bytes).map_err(|e| io_error(path, e))?;
        self.handle.value = name.to_string();
        self.handle.segments[bucket].push((self.written, bytes.len() as u64));
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// The handle to the written file.
    pub(crate) fn finish(mut self) -> Result<SpilledBuckets, TaskError> {
        self.file
            .flush()
            .map_err(|e| io_error(&self.handle.path, e))?;
        Ok(self.handle)
    }
}
