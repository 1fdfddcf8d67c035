//! The worker side: a process started from the scheduler's own executable.
//!
//! A constructor that runs before `main` (the `ctor` crate) looks for [`WORKER_ENV`]; when it
//! is set, this process is a worker: it serves tasks over the socket on its standard input and
//! exits, so `main` — a test harness, an example, a user's program — never runs in it.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rask_graph::{Args, Value, panic_message, registry};

use crate::protocol::{
    Failure, FromWorker, PROTOCOL, RawRef, ToWorker, WireArg, build_id, decode, read_frame,
    write_frame,
};

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
    };
    if write_frame(&mut writer, &hello)
        .and_then(|()| writer.flush())
        .is_err()
    {
        return 2;
    }
    let mut stored: HashMap<u32, Value> = HashMap::new();
    loop {
        let frame = match read_frame(&mut reader) {
            Ok(Some(f)) => f,
            // The scheduler is gone: nothing left to do.
            Ok(None) | Err(_) => return 0,
        };
        let Ok(msg) = decode::<ToWorker<'_>>(&frame) else {
            return 3; // garbage from the scheduler: a bug, not something to serve through
        };
        let encoded;
        let reply = match msg {
            ToWorker::Run { id, op, args } => Some(run(id, op, args, &mut stored)),
            ToWorker::Fetch { id } => Some(match stored.get(&id).map(registry::encode_value) {
                Some(Some(Ok((name, bytes)))) => {
                    encoded = bytes;
                    FromWorker::Value {
                        id,
                        value: RawRef {
                            name,
                            bytes: &encoded,
                        },
                    }
                }
                Some(Some(Err(message))) => FromWorker::NotSent { id, message },
                Some(None) => FromWorker::NotSent {
                    id,
                    message: format!(
                        "its type {} is not registered for serialization; register it with \
                         rask_graph::register_value!",
                        stored.get(&id).map_or("?", |v| v.type_name())
                    ),
                },
                None => FromWorker::NotSent {
                    id,
                    message: format!("this worker holds no result for task {id}"),
                },
            }),
            ToWorker::Release { ids } => {
                for id in ids {
                    stored.remove(&id);
                }
                None
            }
            ToWorker::Reset => {
                stored.clear();
                None
            }
            ToWorker::Shutdown => return 0,
        };
        if let Some(reply) = reply
            && write_frame(&mut writer, &reply).is_err()
        {
            return 0;
        }
        // Batch replies while more work is already waiting.
        if reader.buffer().is_empty() && writer.flush().is_err() {
            return 0;
        }
    }
}

fn run(
    id: u32,
    op: RawRef<'_>,
    args: Vec<WireArg<'_>>,
    stored: &mut HashMap<u32, Value>,
) -> FromWorker<'static> {
    let setup = |message: String| FromWorker::Failed {
        id,
        failure: Failure::Setup(message),
    };
    let op = match registry::decode_op(op.name, op.bytes) {
        Ok(op) => op,
        Err(e) => return setup(e.to_string()),
    };
    let mut values = Args::new();
    for a in args {
        match a {
            WireArg::Stored(d) => match stored.get(&d) {
                Some(v) => values.push(v.clone()),
                None => return setup(format!("this worker holds no result for task {d}")),
            },
            WireArg::Value(raw) => match raw.to_value() {
                Ok(v) => values.push(v),
                Err(e) => return setup(e.to_string()),
            },
        }
    }
    match catch_unwind(AssertUnwindSafe(|| op.run(values))) {
        Ok(Ok(v)) => {
            let nbytes = v.nbytes() as u64;
            stored.insert(id, v);
            FromWorker::Done { id, nbytes }
        }
        Ok(Err(e)) => FromWorker::Failed {
            id,
            failure: Failure::Error(e),
        },
        Err(payload) => FromWorker::Failed {
            id,
            failure: Failure::Panic(panic_message(&*payload)),
        },
    }
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
