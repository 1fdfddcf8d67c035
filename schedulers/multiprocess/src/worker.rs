//! The worker side: a process started from the scheduler's own executable.
//!
//! A constructor that runs before `main` (the `ctor` crate) looks for [`WORKER_ENV`]; when it
//! is set, this process is a worker: it serves tasks over the socket on its standard input and
//! exits, so `main` — a test harness, an example, a user's program — never runs in it.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::FromRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex, PoisonError};

use rask_graph::{Args, Op, Value, registry};

use crate::control::{CONTROL_ENV, Control};
use crate::protocol::{
    DataReply, DataRequest, Failure, FromWorker, PROTOCOL, ToWorker, WireArg, build_id, data_addr,
    decode, read_frame, write_frame,
};

/// The results this worker holds, shared with its data server.
type Store = Arc<Mutex<HashMap<u32, Value>>>;

fn lock(store: &Store) -> std::sync::MutexGuard<'_, HashMap<u32, Value>> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The environment variable that makes a process a rask worker.
pub const WORKER_ENV: &str = "RASK_MULTIPROCESS_WORKER";

/// For tests of the handshake: a worker reports this build id instead of its own.
pub const FAKE_BUILD_ID_ENV: &str = "RASK_MULTIPROCESS_FAKE_BUILD_ID";

#[ctor::ctor(unsafe)]
fn worker_hook() {
    if std::env::var_os(WORKER_ENV).is_some() {
        // SAFETY of running before main: only std facilities that need no runtime set-up from
        // `main` are used (environment, files, sockets, threads), and the process exits here.
        let code = serve();
        std::process::exit(code);
    }
}

/// Referenced by the scheduler so that the linker keeps this module (and its constructor).
#[inline(never)]
pub(crate) fn hook_linked() -> bool {
    std::hint::black_box(worker_hook as fn()) as usize != 0
}

fn serve() -> i32 {
    // Our standard input is one end of a socket pair made by the scheduler.
    // SAFETY: fd 0 was set up by the scheduler as that socket and is owned by nothing else
    // here; this process uses it for nothing else.
    let stream = unsafe { UnixStream::from_raw_fd(0) };
    let Ok(write_half) = stream.try_clone() else {
        return 2;
    };
    watch_parent();
    let Some(control) = std::env::var_os(CONTROL_ENV)
        .and_then(|path| Control::open(std::path::Path::new(&path)).ok())
    else {
        return 2;
    };
    let stored: Store = Arc::default();
    let Ok(data) = serve_data(Arc::clone(&stored)) else {
        return 2;
    };
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut writer = BufWriter::with_capacity(1 << 16, write_half);
    let build = std::env::var(FAKE_BUILD_ID_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(build_id);
    let hello = FromWorker::Hello {
        protocol: PROTOCOL,
        build_id: build,
        pid: std::process::id(),
        data: &data,
    };
    if write_frame(&mut writer, &hello)
        .and_then(|()| writer.flush())
        .is_err()
    {
        return 2;
    }
    let mut peers: HashMap<String, Peer> = HashMap::new();
    // This computation's ops, decoded once each (or why they would not decode).
    let mut ops: HashMap<u32, Result<Arc<dyn Op>, String>> = HashMap::new();
    loop {
        let frame = match read_frame(&mut reader) {
            Ok(Some(f)) => f,
            // The scheduler is gone: nothing left to do.
            Ok(None) | Err(_) => return 0,
        };
        let Ok(msg) = decode::<ToWorker<'_>>(&frame) else {
            return 3; // garbage from the scheduler: a bug, not something to serve through
        };
        let reply = match msg {
            ToWorker::Op { index, op } => {
                ops.insert(
                    index,
                    registry::decode_op(op.name, op.bytes).map_err(|e| e.to_string()),
                );
                None
            }
            ToWorker::Run { id, op, args } => {
                if control.cancelled() {
                    // Another task failed: what is queued does not start.
                    Some(FromWorker::Cancelled { id })
                } else {
                    let op = match ops.get(&op) {
                        Some(Ok(op)) => Ok(Arc::clone(op)),
                        Some(Err(e)) => Err(e.clone()),
                        None => Err(format!("op {op} was never sent")),
                    };
                    control.start(id);
                    let reply = run(id, op, args, &stored, &mut peers);
                    control.finish(id);
                    Some(reply)
                }
            }
            ToWorker::Fetch { id } => {
                // The value is taken out of the store first: the lock is not held while it is
                // encoded and written.
                let value = lock(&stored).get(&id).cloned();
                match value {
                    Some(v) => {
                        if send_result(&mut writer, id, &v).is_err() {
                            return 0;
                        }
                        None
                    }
                    None => Some(FromWorker::NotSent {
                        id,
                        message: format!("this worker holds no result for task {id}"),
                    }),
                }
            }
            ToWorker::Release { ids } => {
                let mut s = lock(&stored);
                for id in ids {
                    s.remove(&id);
                }
                None
            }
            ToWorker::Reset => {
                lock(&stored).clear();
                ops.clear();
                None
            }
            ToWorker::Shutdown => return 0,
        };
        if let Some(reply) = reply
            && let Err(e) = write_frame(&mut writer, &reply)
        {
            // A reply too large for a message (a huge error message) is sent shortened;
            // any other failure means the scheduler is gone.
            let Some(short) = e
                .get_ref()
                .and_then(|e| e.downcast_ref::<crate::protocol::TooLarge>())
                .and_then(|too_large| shortened(&reply, too_large))
            else {
                return 0;
            };
            if write_frame(&mut writer, &short).is_err() {
                return 0;
            }
        }
        // Batch replies while more work is already waiting.
        if reader.buffer().is_empty() && writer.flush().is_err() {
            return 0;
        }
    }
}

/// A reply in place of `reply`, which was too large for a message: the same answer, its
/// message replaced by one saying so.
fn shortened(
    reply: &FromWorker<'_>,
    too_large: &crate::protocol::TooLarge,
) -> Option<FromWorker<'static>> {
    let message = format!("its reply ({too_large}) was too large to send");
    Some(match reply {
        FromWorker::Failed { id, .. } => FromWorker::Failed {
            id: *id,
            failure: Failure::Setup(message),
        },
        FromWorker::NotSent { id, .. } => FromWorker::NotSent { id: *id, message },
        _ => return None,
    })
}

fn run(
    id: u32,
    op: Result<Arc<dyn Op>, String>,
    args: Vec<WireArg<'_>>,
    stored: &Store,
    peers: &mut HashMap<String, Peer>,
) -> FromWorker<'static> {
    let setup = |message: String| FromWorker::Failed {
        id,
        failure: Failure::Setup(message),
    };
    let op = match op {
        Ok(op) => op,
        Err(e) => return setup(e),
    };
    // Inputs held by other workers: one request per worker, all fetched before anything runs.
    let mut by_peer: HashMap<&str, Vec<u32>> = HashMap::new();
    for a in &args {
        if let WireArg::Remote { id: d, from } = a {
            by_peer.entry(from).or_default().push(*d);
        }
    }
    let mut remote: HashMap<u32, Value> = HashMap::new();
    for (from, ids) in by_peer {
        match fetch(peers, from, &ids) {
            Ok(vs) => remote.extend(ids.into_iter().zip(vs)),
            Err((dep, lost)) => {
                let failure = match lost {
                    Lost::Gone(message) => Failure::InputLost {
                        dep,
                        from: from.to_string(),
                        message,
                    },
                    Lost::Unsendable(message) => Failure::InputUnsendable { dep, message },
                };
                return FromWorker::Failed { id, failure };
            }
        }
    }
    let mut values = Args::new();
    for a in args {
        match a {
            WireArg::Stored(d) => match lock(stored).get(&d) {
                Some(v) => values.push(v.clone()),
                None => return setup(format!("this worker holds no result for task {d}")),
            },
            WireArg::Remote { id: d, .. } => match remote.get(&d) {
                Some(v) => values.push(v.clone()),
                None => return setup(format!("input {d} was not fetched")),
            },
            WireArg::Value(raw) => match raw.to_value() {
                Ok(v) => values.push(v),
                Err(e) => return setup(e.to_string()),
            },
        }
    }
    drop(remote);
    let started = std::time::Instant::now();
    match rask_graph::exec::run_guarded(&*op, values) {
        Ok(v) => {
            let seconds = started.elapsed().as_secs_f32();
            let nbytes = v.nbytes() as u64;
            lock(stored).insert(id, v);
            FromWorker::Done {
                id,
                nbytes,
                seconds,
            }
        }
        Err(failure) => FromWorker::Failed {
            id,
            failure: Failure::Op(failure),
        },
    }
}

/// A connection to another worker's data server.
struct Peer {
    reader: BufReader<UnixStream>,
    writer: BufWriter<UnixStream>,
}

/// Why an input could not be fetched from another worker.
enum Lost {
    /// The worker is unreachable, hung up, or holds no such result: it is going away.
    Gone(String),
    /// The worker holds it but cannot send it: no retry would help.
    Unsendable(String),
}

/// Fetches results `ids` from the worker at data address `from`, in one round trip; on
/// failure, the first input that could not be had and why.
fn fetch(
    peers: &mut HashMap<String, Peer>,
    from: &str,
    ids: &[u32],
) -> Result<Vec<Value>, (u32, Lost)> {
    let first = ids.first().copied().unwrap_or(0);
    let gone = |d: u32, e: &dyn std::fmt::Display| (d, Lost::Gone(e.to_string()));
    if !peers.contains_key(from) {
        let stream = data_addr(from)
            .and_then(|a| UnixStream::connect_addr(&a))
            .map_err(|e| gone(first, &format!("cannot reach the worker at {from}: {e}")))?;
        let writer = stream.try_clone().map_err(|e| gone(first, &e))?;
        peers.insert(
            from.to_string(),
            Peer {
                reader: BufReader::with_capacity(1 << 16, stream),
                writer: BufWriter::new(writer),
            },
        );
    }
    let result = (|| -> Result<Vec<Value>, (u32, Lost)> {
        let peer = peers
            .get_mut(from)
            .ok_or_else(|| gone(first, &"no connection"))?;
        write_frame(&mut peer.writer, &DataRequest { ids: ids.to_vec() })
            .and_then(|()| peer.writer.flush())
            .map_err(|e| gone(first, &e))?;
        let mut out = Vec::with_capacity(ids.len());
        for &d in ids {
            let frame = read_frame(&mut peer.reader)
                .map_err(|e| gone(d, &e))?
                .ok_or_else(|| gone(d, &"the worker hung up"))?;
            match decode::<DataReply<'_>>(&frame).map_err(|e| gone(d, &e))? {
                DataReply::Value { name, len } => out.push(
                    registry::read_value(name, len as usize, &mut peer.reader)
                        .map_err(|e| gone(d, &e))?,
                ),
                DataReply::Missing { message } => return Err((d, Lost::Gone(message))),
                DataReply::Unsendable { message } => return Err((d, Lost::Unsendable(message))),
            }
        }
        Ok(out)
    })();
    if result.is_err() {
        peers.remove(from);
    }
    result
}

/// Serves this worker's results to other workers, one thread per connection; returns the
/// address to give them.
fn serve_data(store: Store) -> std::io::Result<String> {
    let name = format!(
        "rask-mp-{}-{}",
        std::process::id(),
        rask_graph::tokenize::unique_token()
    );
    let listener = UnixListener::bind_addr(&data_addr(&name)?)?;
    std::thread::Builder::new()
        .name("rask-data-server".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let store = Arc::clone(&store);
                let _ = std::thread::Builder::new()
                    .name("rask-data-peer".into())
                    .spawn(move || serve_peer(conn, &store));
            }
        })?;
    Ok(name)
}

fn serve_peer(conn: UnixStream, store: &Store) {
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let mut writer = BufWriter::with_capacity(1 << 16, write_half);
    while let Ok(Some(frame)) = read_frame(&mut reader) {
        let Ok(DataRequest { ids }) = decode::<DataRequest>(&frame) else {
            return;
        };
        for id in ids {
            if serve_one(&mut writer, store, id).is_err() {
                return;
            }
        }
        if writer.flush().is_err() {
            return;
        }
    }
}

fn serve_one(writer: &mut impl Write, store: &Store, id: u32) -> std::io::Result<()> {
    let missing = |message: String| DataReply::Missing { message };
    let Some(v) = lock(store).get(&id).cloned() else {
        return write_frame(
            writer,
            &missing(format!("the worker holds no result for task {id}")),
        );
    };
    match value_bytes(&v) {
        Ok((name, bytes)) => {
            let len = bytes.len() as u64;
            send_value(writer, &DataReply::Value { name, len }, &bytes)
        }
        Err(message) => write_frame(writer, &DataReply::Unsendable { message }),
    }
}

/// A value's registered name and encoded bytes — borrowed where the type allows, encoded
/// otherwise — or why it cannot leave this process.
fn value_bytes(v: &Value) -> Result<(&'static str, std::borrow::Cow<'_, [u8]>), String> {
    if let Some((name, bytes)) = registry::value_view(v) {
        return Ok((name, bytes.into()));
    }
    match registry::encode_value(v) {
        Some(Ok((name, bytes))) => Ok((name, bytes.into())),
        Some(Err(message)) => Err(message),
        None => Err(format!(
            "its type {} is not registered for serialization; register it with \
             rask_graph::register_value!",
            v.type_name()
        )),
    }
}

/// Sends result `id` to the scheduler: a `Value` frame, then the encoded bytes (or why it
/// cannot be sent).
fn send_result(w: &mut impl Write, id: u32, v: &Value) -> std::io::Result<()> {
    match value_bytes(v) {
        Ok((name, bytes)) => {
            let len = bytes.len() as u64;
            send_value(w, &FromWorker::Value { id, name, len }, &bytes)
        }
        Err(message) => write_frame(w, &FromWorker::NotSent { id, message }),
    }
}

/// A value's header frame, then its bytes (outside the frame).
fn send_value(
    w: &mut impl Write,
    header: &impl serde::Serialize,
    bytes: &[u8],
) -> std::io::Result<()> {
    write_frame(w, header)?;
    w.write_all(bytes)
}

/// Exits when the parent process is gone, even in the middle of a long task.
fn watch_parent() {
    let parent = std::os::unix::process::parent_id();
    let _ = std::thread::Builder::new()
        .name("rask-parent-watch".into())
        .spawn(move || {
            loop {
                #[allow(clippy::disallowed_methods)] // a poll with nothing to wait on
                std::thread::sleep(std::time::Duration::from_millis(200));
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(0);
                }
            }
        });
}
