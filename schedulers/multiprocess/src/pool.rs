//! The worker processes: started, greeted, read by one thread each, replaced, shut down.

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rask_graph::{Value, registry};

use crate::control::{CONTROL_ENV, Control};
use crate::error::ProcessError;
use crate::protocol::{
    FromWorker, MAX_FRAME_ENV, PROTOCOL, ToWorker, build_id, decode, read_frame, write_frame,
    write_frame_within,
};
use crate::worker::WORKER_ENV;

/// What the reader threads report.
#[derive(Debug)]
pub(crate) enum Event {
    /// A message from the worker in `slot`, of `generation`.
    Message(usize, u64, Reply),
    /// The worker in `slot` of `generation` is gone (exit, crash, broken stream).
    Lost(usize, u64, String),
}

/// A worker's message, owned (a value's bytes still lie in the frame they came in).
#[derive(Debug)]
pub(crate) enum Reply {
    Done {
        id: u32,
        nbytes: u64,
        seconds: f32,
    },
    Failed {
        id: u32,
        failure: crate::protocol::Failure,
    },
    Value {
        id: u32,
        value: Value,
    },
    NotSent {
        id: u32,
        message: String,
    },
    Cancelled {
        id: u32,
    },
}

impl Reply {
    /// The reply in `frame`, reading what follows it from `r` (a value's bytes).
    fn read(frame: &[u8], r: &mut impl Read) -> std::io::Result<Option<Reply>> {
        Ok(match decode::<FromWorker<'_>>(frame)? {
            FromWorker::Hello { .. } => None,
            FromWorker::Done {
                id,
                nbytes,
                seconds,
            } => Some(Reply::Done {
                id,
                nbytes,
                seconds,
            }),
            FromWorker::Failed { id, failure } => Some(Reply::Failed { id, failure }),
            FromWorker::Value { id, name, len } => {
                // Straight into the value; a value that does not decode is skipped to its end,
                // so that the stream stays in step.
                let mut bytes = r.take(len);
                let value = registry::read_value(name, len as usize, &mut bytes);
                std::io::copy(&mut bytes, &mut std::io::sink())?;
                if bytes.limit() > 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                Some(match value {
                    Ok(value) => Reply::Value { id, value },
                    Err(e) => Reply::NotSent {
                        id,
                        message: format!("its {len} bytes did not decode: {e}"),
                    },
                })
            }
            FromWorker::NotSent { id, message } => Some(Reply::NotSent { id, message }),
            FromWorker::Cancelled { id } => Some(Reply::Cancelled { id }),
        })
    }
}

/// One worker process.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Shared with the reader thread, which reaps the process as soon as its stream ends.
    child: Arc<Mutex<Child>>,
    pub writer: BufWriter<UnixStream>,
    /// What the worker is running and whether it should start anything (shared memory).
    pub control: Control,
    pub generation: u64,
    pub pid: u32,
    /// Where other workers fetch this one's results.
    pub data: String,
}

/// The worker processes of one scheduler, kept between computations.
#[derive(Debug)]
pub(crate) struct Pool {
    pub workers: Vec<Worker>,
    pub events: Receiver<Event>,
    tx: Sender<Event>,
    generations: u64,
    /// Extra environment for new workers (tests use it to fake a stale build).
    env: Vec<(String, String)>,
    /// The largest message either side writes.
    max_message: usize,
}

/// Kills (if still running) and reaps a worker process. Safe to repeat: once reaped, the
/// process is never signalled again (its pid may belong to another process by then).
fn reap(child: &Mutex<Child>) {
    let mut child = child.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = child.kill();
    let _ = child.wait();
}

/// How long a new worker has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(20);

impl Pool {
    pub(crate) fn start(
        n: usize,
        env: Vec<(String, String)>,
        max_message: usize,
    ) -> Result<Pool, ProcessError> {
        let (tx, events) = channel();
        let mut pool = Pool {
            workers: Vec::with_capacity(n),
            events,
            tx,
            generations: 0,
            env,
            max_message,
        };
        for slot in 0..n {
            let w = pool.spawn(slot)?;
            pool.workers.push(w);
        }
        Ok(pool)
    }

    /// Starts a worker for `slot`, greets it and starts its reader thread.
    pub(crate) fn spawn(&mut self, slot: usize) -> Result<Worker, ProcessError> {
        let fail = |message: String| ProcessError::StartWorker { message };
        let exe =
            std::env::current_exe().map_err(|e| fail(format!("no current executable: {e}")))?;
        let (ours, theirs) = UnixStream::pair().map_err(|e| fail(e.to_string()))?;
        let (control, control_path) =
            Control::create().map_err(|e| fail(format!("no control page: {e}")))?;
        // The worker maps the page before greeting; then the file is no longer needed.
        struct RemoveOnDrop(std::path::PathBuf);
        impl Drop for RemoveOnDrop {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let control_file = RemoveOnDrop(control_path);
        let mut cmd = Command::new(&exe);
        cmd.env(WORKER_ENV, "1")
            .env(CONTROL_ENV, &control_file.0)
            .env(MAX_FRAME_ENV, self.max_message.to_string())
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("{}: {e}", exe.display())))?;
        let hello = (|| -> Result<(u64, u32, String), ProcessError> {
            ours.set_read_timeout(Some(HELLO_TIMEOUT))
                .map_err(|e| fail(e.to_string()))?;
            let mut r = &ours;
            let frame = read_frame(&mut r).map_err(|e| {
                fail(format!(
                    "no greeting from {} within {HELLO_TIMEOUT:?}: {e}",
                    exe.display()
                ))
            })?;
            let hello: Option<FromWorker<'_>> = match &frame {
                Some(f) => Some(decode(f).map_err(|e| fail(format!("a garbled greeting: {e}")))?),
                None => None,
            };
            match hello {
                Some(FromWorker::Hello {
                    protocol,
                    build_id: theirs,
                    pid,
                    data,
                }) => {
                    if protocol != PROTOCOL {
                        return Err(fail(format!(
                            "the worker speaks protocol {protocol}, we speak {PROTOCOL}"
                        )));
                    }
                    Ok((theirs, pid, data.to_string()))
                }
                Some(other) => Err(fail(format!("unexpected first message {other:?}"))),
                None => Err(fail(format!(
                    "{} exited before greeting (does it link rask-multiprocess?)",
                    exe.display()
                ))),
            }
        })();
        drop(control_file);
        let (theirs, pid, data) = match hello {
            Ok(h) => h,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let ours_id = build_id();
        if theirs != ours_id {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ProcessError::BuildMismatch {
                ours: ours_id,
                theirs,
            });
        }
        ours.set_read_timeout(None)
            .map_err(|e| fail(e.to_string()))?;
        let read_half = ours.try_clone().map_err(|e| fail(e.to_string()))?;
        self.generations += 1;
        let generation = self.generations;
        let tx = self.tx.clone();
        let child = Arc::new(Mutex::new(child));
        let reaper = Arc::clone(&child);
        let spawned = std::thread::Builder::new()
            .name(format!("rask-mp-reader-{slot}"))
            .spawn(move || {
                let mut r = BufReader::with_capacity(1 << 16, read_half);
                loop {
                    let reply = read_frame(&mut r).and_then(|f| match f {
                        Some(f) => Reply::read(&f, &mut r).map(Some),
                        None => Ok(None),
                    });
                    let why = match reply {
                        Ok(Some(Some(m))) => {
                            if tx.send(Event::Message(slot, generation, m)).is_err() {
                                return;
                            }
                            continue;
                        }
                        Ok(Some(None)) => continue,
                        Ok(None) => "it exited".to_string(),
                        Err(e) => e.to_string(),
                    };
                    // A worker whose stream ended is of no more use: reap it now, not when
                    // the next computation notices (no zombie while the pool is idle).
                    reap(&reaper);
                    let _ = tx.send(Event::Lost(slot, generation, why));
                    return;
                }
            });
        if let Err(e) = spawned {
            reap(&child);
            return Err(fail(e.to_string()));
        }
        Ok(Worker {
            child,
            control,
            writer: BufWriter::with_capacity(1 << 16, ours),
            generation,
            pid,
            data,
        })
    }

    /// Replaces the worker in `slot` (which died): reaps it and starts another.
    pub(crate) fn replace(&mut self, slot: usize) -> Result<(), ProcessError> {
        reap(&self.workers[slot].child);
        let w = self.spawn(slot)?;
        self.workers[slot] = w;
        Ok(())
    }

    /// Sends a message to a worker (buffered; see [`flush`](Pool::flush)).
    pub(crate) fn send(&mut self, slot: usize, msg: &ToWorker<'_>) -> std::io::Result<()> {
        write_frame_within(&mut self.workers[slot].writer, msg, self.max_message)
    }

    /// Flushes every worker's buffered messages; a failure shows up as a lost worker.
    pub(crate) fn flush(&mut self) {
        for w in &mut self.workers {
            let _ = w.writer.flush();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = write_frame(&mut w.writer, &ToWorker::Shutdown);
            let _ = w.writer.flush();
        }
        for w in &mut self.workers {
            // A worker in the middle of a long task would finish it first: don't wait for it.
            let _ = w.writer.get_ref().shutdown(std::net::Shutdown::Both);
            reap(&w.child);
        }
    }
}
