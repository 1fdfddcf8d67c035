//! What crosses between the scheduler and its workers: length-prefixed postcard frames.
//!
//! A frame is a little-endian `u32` length and that many bytes of one postcard message. Ops
//! and values travel as their registered name and postcard bytes ([`Raw`]); the scheduler
//! never decodes a value it only relays.

use std::io::{self, Read, Write};
use std::sync::OnceLock;

use rask_graph::{GraphError, TaskError, Value, registry};
use serde::{Deserialize, Serialize};

/// Bumped whenever a message changes.
pub(crate) const PROTOCOL: u32 = 1;

/// The largest frame either side accepts (a value is a frame): 16 GiB less one byte fits a u32
/// length only up to 4 GiB, so values above that are refused with an error.
pub(crate) const MAX_FRAME: u64 = u32::MAX as u64;

/// An op or value by registered name, still encoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Raw {
    pub name: String,
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

impl Raw {
    pub(crate) fn of_value(v: &Value) -> Result<Raw, String> {
        match registry::encode_value(v) {
            Some(Ok((name, bytes))) => Ok(Raw {
                name: name.to_string(),
                bytes,
            }),
            Some(Err(e)) => Err(e),
            None => Err(format!(
                "a value of type {} is not registered for serialization; register it with \
                 rask_graph::register_value!",
                v.type_name()
            )),
        }
    }

    pub(crate) fn to_value(&self) -> Result<Value, GraphError> {
        registry::decode_value(&self.name, &self.bytes)
    }
}

/// One argument of a task sent to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum WireArg {
    /// A result this worker holds.
    Stored(u32),
    /// A value sent along.
    Value(Raw),
}

/// Scheduler to worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// Run task `id` and keep its result.
    Run {
        id: u32,
        op: Raw,
        args: Vec<WireArg>,
    },
    /// Send the result of `id`.
    Fetch { id: u32 },
    /// Drop these results.
    Release { ids: Vec<u32> },
    /// A new computation: drop every result.
    Reset,
    /// Exit.
    Shutdown,
}

/// Why a task failed on a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Failure {
    Error(TaskError),
    Panic(String),
    /// The task could not even start: its op or arguments did not decode.
    Setup(String),
}

/// Worker to scheduler.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    Hello {
        protocol: u32,
        build_id: u64,
        pid: u32,
    },
    Done {
        id: u32,
        nbytes: u64,
    },
    Failed {
        id: u32,
        failure: Failure,
    },
    Value {
        id: u32,
        value: Raw,
    },
    NotSent {
        id: u32,
        message: String,
    },
}

/// Writes one frame.
pub(crate) fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    let bytes = postcard::to_allocvec(msg).map_err(io::Error::other)?;
    if bytes.len() as u64 > MAX_FRAME {
        return Err(io::Error::other(format!(
            "a message of {} bytes is larger than a frame may be ({MAX_FRAME})",
            bytes.len()
        )));
    }
    w.write_all(&(bytes.len() as u32).to_le_bytes())?;
    w.write_all(&bytes)
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub(crate) fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> io::Result<Option<T>> {
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
    postcard::from_bytes(&buf)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
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
