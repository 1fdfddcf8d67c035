//! What crosses between the scheduler and its workers: length-prefixed postcard frames.
//!
//! A frame is a little-endian `u32` length and that many bytes of one postcard message. Ops
//! and values travel as their registered name and encoded bytes. Messages borrow those bytes,
//! both when written (straight from where they lie, no frame buffer) and when read (from the
//! frame just received): a relayed value is copied by the kernel, never by the scheduler.

use std::io::{self, Read, Write};
use std::sync::OnceLock;

use bytes::Bytes;
use rask_graph::{GraphError, Value, registry};
use serde::{Deserialize, Serialize};

/// Bumped whenever a message changes.
pub(crate) const PROTOCOL: u32 = 8;

/// The largest frame there can be (a `u32` length). Values never need one: they follow
/// their message's frame as raw bytes.
pub(crate) const MAX_FRAME: usize = u32::MAX as usize;

/// The environment variable that lowers the largest message a worker writes (for tests of
/// what happens past it; the scheduler's own limit is its builder's `max_message_bytes`).
pub(crate) const MAX_FRAME_ENV: &str = "RASK_MULTIPROCESS_MAX_MESSAGE";

/// The largest message this process writes: [`MAX_FRAME`], or less by [`MAX_FRAME_ENV`].
pub(crate) fn max_frame() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var(MAX_FRAME_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(MAX_FRAME, |n: usize| n.min(MAX_FRAME))
    })
}

/// An op or value by registered name, still encoded; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub name: String,
    pub bytes: Bytes,
}

impl Raw {
    pub(crate) fn as_ref(&self) -> RawRef<'_> {
        RawRef {
            name: &self.name,
            bytes: &self.bytes,
        }
    }
}

/// An op or value by registered name, borrowed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct RawRef<'a> {
    pub name: &'a str,
    #[serde(with = "serde_bytes")]
    pub bytes: &'a [u8],
}

impl RawRef<'_> {
    pub(crate) fn to_value(self) -> Result<Value, GraphError> {
        registry::decode_value(self.name, self.bytes)
    }
}

/// One argument of a task sent to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum WireArg<'a> {
    /// A result this worker holds.
    Stored(u32),
    /// A value sent along.
    #[serde(borrow)]
    Value(RawRef<'a>),
    /// A result held by another worker, fetched from it directly at its data address.
    Remote { id: u32, from: &'a str },
}

/// Scheduler to worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker<'a> {
    /// Op number `index` of this computation (sent once per worker, before the first task
    /// that uses it; the tasks of a layer usually share one op).
    Op {
        index: u32,
        #[serde(borrow)]
        op: RawRef<'a>,
    },
    /// Run task `id`, whose op is number `op`, and keep its result.
    Run {
        id: u32,
        op: u32,
        #[serde(borrow)]
        args: Vec<WireArg<'a>>,
    },
    /// Send the result of `id`.
    Fetch { id: u32 },
    /// Drop these results.
    Release { ids: Vec<u32> },
    /// A new computation: drop every result and op.
    Reset,
    /// Exit.
    Shutdown,
}

/// Why a task failed on a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Failure {
    /// The op failed or panicked (the kit's guarded run said so).
    Op(rask_graph::exec::OpFailure),
    /// The task could not even start: its op or arguments did not decode.
    Setup(String),
    /// An input could not be fetched from the worker that held it (which is dying, probably).
    InputLost {
        dep: u32,
        /// The data address it was fetched from.
        from: String,
        message: String,
    },
    /// An input cannot leave the worker that holds it: its type is not registered, or its
    /// encoding failed. Running the task again would not help.
    InputUnsendable { dep: u32, message: String },
}

/// Worker to scheduler.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker<'a> {
    Hello {
        protocol: u32,
        build_id: u64,
        pid: u32,
        /// Where other workers fetch this one's results.
        data: &'a str,
    },
    Done {
        id: u32,
        nbytes: u64,
        /// How long the op ran.
        seconds: f32,
    },
    Failed {
        id: u32,
        failure: Failure,
    },
    /// The result of `id`, of registered type `name`, whose `len` encoded bytes follow the
    /// frame (outside it, so that a value may be larger than a frame).
    Value {
        id: u32,
        name: &'a str,
        len: u64,
    },
    NotSent {
        id: u32,
        message: String,
    },
    /// Task `id` was not run: the computation was cancelled (another task failed).
    Cancelled {
        id: u32,
    },
}

/// Worker to worker: send me these results, in this order.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DataRequest {
    pub ids: Vec<u32>,
}

/// Worker to worker: the answer, followed (for a value) by its `len` encoded bytes, outside the
/// frame, so that the reader can put them straight where they belong.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum DataReply<'a> {
    Value {
        name: &'a str,
        len: u64,
    },
    /// The worker holds no such result.
    Missing {
        message: String,
    },
    /// The worker holds it but cannot send it (unregistered type, failed encoding).
    Unsendable {
        message: String,
    },
}

/// The socket address of a data address string (an abstract name on Linux, a path elsewhere).
pub(crate) fn data_addr(name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::os::unix::net::SocketAddr::from_pathname(std::env::temp_dir().join(name))
    }
}

/// Writes one frame, serializing straight into `w`; a message larger than [`max_frame`] is
/// refused before anything is written.
pub(crate) fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    write_frame_within(w, msg, max_frame())
}

/// A message larger than a frame may be: nothing was written.
#[derive(Debug)]
pub(crate) struct TooLarge {
    pub len: usize,
    pub max: usize,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a message of {} bytes is larger than a message may be ({} bytes)",
            self.len, self.max
        )
    }
}

impl std::error::Error for TooLarge {}

/// Writes one frame of at most `max` bytes (else a [`TooLarge`] error, nothing written).
pub(crate) fn write_frame_within<T: Serialize>(
    w: &mut impl Write,
    msg: &T,
    max: usize,
) -> io::Result<()> {
    /// Counts what would be written.
    struct Count(usize);
    impl Write for Count {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let len = postcard::to_io(msg, Count(0)).map_err(io::Error::other)?.0;
    let max = max.min(MAX_FRAME);
    if len > max {
        return Err(io::Error::other(TooLarge { len, max }));
    }
    w.write_all(&(len as u32).to_le_bytes())?;
    postcard::to_io(msg, &mut *w).map_err(io::Error::other)?;
    Ok(())
}

/// Reads one frame's bytes; `Ok(None)` at a clean end of stream.
pub(crate) fn read_frame(r: &mut impl Read) -> io::Result<Option<Bytes>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).map_err(io::Error::other)?;
    r.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(Bytes::from(buf)))
}

/// Decodes a message borrowed from a frame.
pub(crate) fn decode<'a, T: Deserialize<'a>>(frame: &'a [u8]) -> io::Result<T> {
    postcard::from_bytes(frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A hash of this process's executable: workers of another build are refused.
pub(crate) fn build_id() -> u64 {
    static ID: OnceLock<u64> = OnceLock::new();
    *ID.get_or_init(|| {
        let bytes = std::env::current_exe()
            .and_then(std::fs::read)
            .unwrap_or_default();
        xxhash_rust::xxh3::xxh3_64(&bytes)
    })
}
