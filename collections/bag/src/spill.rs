//! A shuffle's buckets on disk: a partition's split that outgrows its memory budget writes
//! its buckets to a file of its own, in segments (each a partition value encoded as the
//! registry encodes it for other processes); the handle that names the file removes it when
//! the last reader is done with it.
//!
//! A file belongs to the process that wrote it: a handle never crosses processes. Sent to
//! another process (or written out by a worker's memory manager), spilled buckets travel as
//! their file's bytes, and the receiving process writes them to a file of its own, next to
//! the first if it can (in its temporary folder otherwise), which its handle removes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rask_graph::{Datum, TaskError, Value};
use serde::{Deserialize, Serialize};

fn io_error(path: &Path, e: std::io::Error) -> TaskError {
    TaskError::new(format!("spilling to {}: {e}", path.display()))
}

/// Where a split's buckets are: a file of this process, removed when this handle goes, and
/// per bucket its segments (offset, length).
#[derive(Debug)]
pub struct SpilledBuckets {
    path: PathBuf,
    /// The registered name of the segments' partition values.
    value: String,
    segments: Vec<Vec<(u64, u64)>>,
}

impl Datum for SpilledBuckets {}

/// What a handle's copy in another process is made from: its file's bytes after this
/// header (postcard, its length first, 8 bytes little-endian).
#[derive(Serialize, Deserialize)]
struct Header {
    /// The folder the file was in.
    dir: PathBuf,
    value: String,
    segments: Vec<Vec<(u64, u64)>>,
}

fn encode(datum: &dyn Datum) -> Result<Vec<u8>, String> {
    let b = (datum as &dyn std::any::Any)
        .downcast_ref::<SpilledBuckets>()
        .ok_or("not spilled buckets")?;
    let header = Header {
        dir: b.path.parent().map(Path::to_path_buf).unwrap_or_default(),
        value: b.value.clone(),
        segments: b.segments.clone(),
    };
    let header = postcard::to_allocvec(&header).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(8 + header.len());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    File::open(&b.path)
        .and_then(|mut f| f.read_to_end(&mut out))
        .map_err(|e| io_error(&b.path, e).to_string())?;
    Ok(out)
}

fn decode(bytes: &[u8]) -> Result<Value, String> {
    let (len, rest) = bytes.split_at_checked(8).ok_or("a truncated header")?;
    let len = u64::from_le_bytes(len.try_into().map_err(|_| "a bad header length")?);
    let (header, file) = rest
        .split_at_checked(usize::try_from(len).map_err(|e| e.to_string())?)
        .ok_or("a truncated header")?;
    let header: Header = postcard::from_bytes(header).map_err(|e| e.to_string())?;
    let mut spill = SpillFile::create(&header.dir, 0)
        .or_else(|_| SpillFile::create(&std::env::temp_dir(), 0))
        .map_err(|e| e.to_string())?;
    spill
        .file
        .write_all(file)
        .map_err(|e| io_error(&spill.handle.path, e).to_string())?;
    spill.handle.value = header.value;
    spill.handle.segments = header.segments;
    Ok(Value::new(spill.finish().map_err(|e| e.to_string())?))
}

rask_graph::register_value!(SpilledBuckets, "rask-bag.spilled-buckets", encode, decode);

impl Drop for SpilledBuckets {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_for_another_process_is_a_file_of_its_own() {
        let dir = std::env::temp_dir().join(format!("rask-bag-spill-unit-{}", std::process::id()));
        let mut file = SpillFile::create(&dir, 2).unwrap();
        for (bucket, v) in [(0, 1i64), (1, 2), (1, 3)] {
            file.append(bucket, &Value::new(v)).unwrap();
        }
        let spilled = file.finish().unwrap();
        let path = spilled.path.clone();
        let bytes = encode(&spilled).unwrap();
        // The writer's handle goes: so does its file, whatever copies were sent.
        drop(spilled);
        assert!(!path.exists(), "{} is left", path.display());
        let copy = decode(&bytes).unwrap();
        let copy_path = copy.get::<SpilledBuckets>().unwrap().path.clone();
        assert_ne!(copy_path, path);
        let mut got = Vec::new();
        (copy.get::<SpilledBuckets>().unwrap())
            .read(1, &mut |v| {
                got.push(*v.get::<i64>()?);
                Ok(())
            })
            .unwrap();
        assert_eq!(got, [2, 3]);
        drop(copy);
        assert!(!copy_path.exists(), "{} is left", copy_path.display());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
