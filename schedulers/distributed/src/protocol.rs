//! What crosses the network: length-prefixed postcard frames.
//!
//! A frame is a little-endian `u32` length and that many bytes of one postcard message. The
//! first frame on every connection to the scheduler is a [`Hello`]: the protocol version, the
//! shared token, and who is calling; the scheduler answers [`Welcome`] or refuses, before it
//! reads anything else. Values never travel inside a frame: a value's header frame is
//! followed by its raw encoded bytes (so a value may be larger than a frame, and is written
//! straight from where it lies).

use std::io;

use rask_graph::Key;
use rask_graph::exec::OpFailure;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bumped whenever a message changes.
pub const PROTOCOL: u32 = 1;

/// The largest frame read: a peer that announces more is refused (a value is never in a
/// frame; a graph update of millions of tasks fits).
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// The first message on a connection to the scheduler.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub protocol: u32,
    /// The cluster's shared token, if it has one.
    pub token: Option<String>,
    pub peer: Peer,
}

/// Who is calling.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Peer {
    Worker(WorkerHello),
    Client { name: String },
}

/// What a worker says of itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkerHello {
    pub name: String,
    pub nthreads: u32,
    /// Bytes; 0 for no limit.
    pub memory_limit: u64,
    /// Where its results are fetched (`host:port`).
    pub data: String,
    pub pid: u32,
    pub local_directory: String,
    /// The ops it can run: `registered-name@crate-version`.
    pub ops: Vec<String>,
}

/// The scheduler's answer to a [`Hello`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Welcome {
    Accepted { id: u32 },
    Refused { reason: String },
}

/// An op or a value by registered name, encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Encoded {
    pub name: String,
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// An argument of a task in a client's graph.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum TaskArg {
    /// The result of its `i`-th dependency.
    Dep(u32),
    /// A literal.
    Literal(Encoded),
}

/// A task in a client's graph update.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireTask {
    pub key: Key,
    /// Its op: an index into the update's op table.
    pub op: u32,
    pub args: Vec<TaskArg>,
    /// Its dependencies: indices of other tasks of the update.
    pub deps: Vec<u32>,
}

/// Client to scheduler.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromClient {
    /// Tasks in priority order (their order in the update), and the keys wanted.
    UpdateGraph {
        /// The client's number for this update (a refusal names it).
        id: u64,
        ops: Vec<Encoded>,
        /// Per op: the name it goes by in errors (`Op::name`).
        labels: Vec<String>,
        /// Per op: the version of the crate that registered it here (a worker must have the
        /// same).
        versions: Vec<String>,
        /// Whether the client wants its tasks' events (it has callbacks).
        events: bool,
        tasks: Vec<WireTask>,
        wanted: Vec<Key>,
    },
    /// The client no longer wants these keys.
    Release { keys: Vec<Key> },
    /// Asks for the cluster's summary.
    Info,
}

/// Why a task failed, as the scheduler tells a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum WireFailure {
    /// The op failed or panicked.
    Op(OpFailure),
    /// The task could not start on its worker (its op or an argument did not decode).
    Setup(String),
    /// The scheduler's own verdict (killed workers, no worker with its op, …).
    Scheduler(String),
}

/// A worker as the scheduler describes it to clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkerInfo {
    pub name: String,
    pub data: String,
    pub nthreads: u32,
    pub memory_limit: u64,
    pub local_directory: String,
    pub pid: u32,
}

/// Scheduler to client.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToClient {
    /// A wanted key is in memory, on the workers at these data addresses, as task `id`.
    InMemory {
        key: Key,
        id: u64,
        nbytes: u64,
        who_has: Vec<String>,
    },
    /// A wanted key failed: `failed` is the task that failed first (the key itself, or one of
    /// its inputs), with its op's name.
    Erred {
        key: Key,
        failed: Key,
        op: String,
        failure: WireFailure,
    },
    /// Update `id` was refused (nothing of it applied).
    Refused { id: u64, reason: String },
    /// The cluster's summary.
    Info {
        address: String,
        /// Where `/metrics` and `/api/status` are served, if anywhere.
        dashboard: Option<String>,
        workers: Vec<WorkerInfo>,
    },
    /// What happened to tasks this client submitted with events wanted.
    Events(Vec<WireEvent>),
}

/// A task event forwarded to the client whose graph holds the task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum WireEvent {
    Start {
        key: Key,
        worker: String,
    },
    Finish {
        key: Key,
        worker: String,
        nbytes: u64,
        error: Option<String>,
    },
    Released {
        key: Key,
        nbytes: u64,
    },
}

/// An argument of a task sent to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum RunArg {
    /// A result this worker holds.
    Held(u64),
    /// A result held by other workers, fetched from one of these data addresses.
    Remote { id: u64, from: Vec<String> },
    /// A literal.
    Literal(Encoded),
}

/// A task sent to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunTask {
    pub id: u64,
    pub key: Key,
    /// The scheduler's op number (defined earlier on this connection).
    pub op: u32,
    pub args: Vec<RunArg>,
    /// Lower runs first.
    pub priority: u64,
}

/// Scheduler to worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// New op definitions (each sent once per worker), then tasks to run.
    Compute {
        ops: Vec<(u32, Encoded)>,
        tasks: Vec<RunTask>,
    },
    /// Drop these results.
    Release { ids: Vec<u64> },
    /// Do not start these tasks if they have not started (each is answered).
    Cancel { ids: Vec<u64> },
    /// Give up these tasks if they have not started, for another worker (each is answered
    /// with `StealResponse`).
    Steal { ids: Vec<u64> },
    /// Finish up and exit.
    Close,
}

/// Worker to scheduler.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    Done {
        id: u64,
        nbytes: u64,
        seconds: f32,
    },
    Failed {
        id: u64,
        failure: WireFailure,
    },
    /// Input `input` of task `id` could not be fetched from the worker at `holder`.
    Missing {
        id: u64,
        input: u64,
        holder: String,
    },
    Cancelled {
        id: u64,
    },
    /// The answer to a `Steal`: whether task `id` was taken off the queue unstarted.
    StealResponse {
        id: u64,
        stolen: bool,
    },
    /// These tasks started running (blamed if the worker dies before answering them).
    Started {
        ids: Vec<u64>,
    },
    Heartbeat {
        /// Bytes of results held in memory.
        held: u64,
        /// Bytes of results spilled to disk.
        spilled: u64,
    },
    /// Past (or back under) the pause threshold: it takes no new task (or does again).
    Paused {
        paused: bool,
    },
}

/// The first message on a connection to a worker's data port: results are served only to
/// peers of the same cluster (same protocol, same token).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DataHello {
    pub protocol: u32,
    pub token: Option<String>,
}

/// A request to a worker's data port.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum DataRequest {
    Get { ids: Vec<u64> },
}

/// One answer of a worker's data port (per id asked, in order).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum DataReply {
    /// The value of `id`, of registered type `name`: `len` bytes follow the frame.
    Value { id: u64, name: String, len: u64 },
    /// This worker does not hold it.
    Missing { id: u64 },
    /// It holds it but cannot send it (an unregistered type, a failed encoding).
    Unsendable { id: u64, message: String },
}

/// Writes `msg` as one frame (not flushed).
pub(crate) async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> io::Result<()> {
    let bytes = postcard::to_stdvec(msg).map_err(io::Error::other)?;
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::other(format!("a message of {} bytes", bytes.len())))?;
    w.write_all(&len.to_le_bytes()).await?;
    w.write_all(&bytes).await
}

/// The largest hello: what a peer may send before it is accepted.
pub(crate) const MAX_HELLO: usize = 1 << 20;

/// Reads one frame's bytes (at most `max`); `None` at a clean end of stream. Memory grows
/// with the bytes that arrive, not with the length a peer announces.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<()>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes (at most {max})"),
        ));
    }
    buf.clear();
    let got = r.take(len as u64).read_to_end(buf).await?;
    if got < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(()))
}

/// Reads one message; `None` at a clean end of stream.
pub(crate) async fn read_message<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> io::Result<Option<T>> {
    read_message_within(r, buf, MAX_FRAME).await
}

/// [`read_message`] of a frame of at most `max` bytes.
pub(crate) async fn read_message_within<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<T>> {
    if read_frame(r, buf, max).await?.is_none() {
        return Ok(None);
    }
    decode(buf).map(Some)
}

/// One message from a frame's bytes.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl std::fmt::Display for WireFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireFailure::Op(OpFailure::Error(e)) => write!(f, "{e}"),
            WireFailure::Op(OpFailure::Panic(m)) => write!(f, "panicked: {m}"),
            WireFailure::Setup(m) => write!(f, "could not start: {m}"),
            WireFailure::Scheduler(m) => write!(f, "{m}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Decodes `bytes` as a stream of messages of type `T` until it ends or is refused.
    fn drain<T: DeserializeOwned>(bytes: &[u8], max: usize) -> usize {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let mut r = bytes;
            let mut buf = Vec::new();
            let mut n = 0;
            while let Ok(Some(_)) = read_message_within::<_, T>(&mut r, &mut buf, max).await {
                n += 1;
            }
            n
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes, as any message a scheduler or a worker reads: no panic, and memory
        /// bounded by what arrived (the 4 GiB lengths that random bytes announce are refused
        /// or cut short, never allocated).
        #[test]
        fn a_fuzzed_stream_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            drain::<Hello>(&bytes, MAX_HELLO);
            drain::<FromClient>(&bytes, MAX_FRAME);
            drain::<FromWorker>(&bytes, MAX_FRAME);
            drain::<ToWorker>(&bytes, MAX_FRAME);
            drain::<ToClient>(&bytes, MAX_FRAME);
            drain::<DataRequest>(&bytes, MAX_FRAME);
            drain::<DataHello>(&bytes, MAX_HELLO);
            drain::<DataReply>(&bytes, MAX_FRAME);
        }

        /// Valid frames with their bytes mutated: no panic.
        #[test]
        fn a_mutated_update_never_panics(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let msg = FromClient::UpdateGraph {
                id: 7,
                ops: vec![Encoded { name: "rask-graph.add-const".into(), bytes: vec![2] }],
                labels: vec!["add-const".into()],
                versions: vec!["0.1.0".into()],
                events: true,
                tasks: vec![WireTask {
                    key: Key::new("x", [1, 2]),
                    op: 0,
                    args: vec![TaskArg::Dep(0), TaskArg::Literal(Encoded { name: "i64".into(), bytes: vec![4] })],
                    deps: vec![0],
                }],
                wanted: vec![Key::new("x", [1, 2])],
            };
            let mut bytes = postcard::to_stdvec(&msg).expect("encodes");
            let mut framed = (bytes.len() as u32).to_le_bytes().to_vec();
            for (at, b) in flips {
                let i = at % bytes.len();
                bytes[i] = b;
            }
            framed.extend_from_slice(&bytes);
            drain::<FromClient>(&framed, MAX_FRAME);
        }
    }

    #[test]
    fn an_announced_length_is_not_allocated_before_its_bytes_arrive() {
        // A header announcing 1 GiB, then 10 bytes: refused once the stream ends, with a
        // buffer no larger than what came.
        let mut bytes = ((1u32 << 30) - 1).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[7; 10]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let (result, cap) = rt.block_on(async {
            let mut r = &bytes[..];
            let mut buf = Vec::new();
            let result = read_frame(&mut r, &mut buf, MAX_FRAME).await;
            (result.is_err(), buf.capacity())
        });
        assert!(result);
        assert!(cap < 1 << 16, "{cap} bytes reserved");
        // A hello of more than a MiB is refused outright.
        let bytes = ((MAX_HELLO + 1) as u32).to_le_bytes();
        let refused = rt.block_on(async {
            let mut r = &bytes[..];
            read_frame(&mut r, &mut Vec::new(), MAX_HELLO).await
        });
        assert!(refused.unwrap_err().to_string().contains("at most 1048576"));
    }
}
