//! The worker: connects to a scheduler, runs the tasks it is sent on a pool of compute
//! threads (highest priority first), keeps the results, and serves them to other workers and
//! to clients on a data port of its own.

use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rask_graph::{Args, Op, Value, registry};
use rustc_hash::FxHashSet;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::DistributedError;
use crate::protocol::{
    DataHello, DataReply, DataRequest, FromWorker, Hello, PROTOCOL, Peer, RunArg, RunTask,
    ToWorker, Welcome, WireFailure, WorkerHello, read_message, write_frame,
};
use crate::tls::SyncIo;

/// How a worker runs: `rask worker tcp://HOST:PORT --nthreads N --memory-limit BYTES
/// --local-directory DIR --name NAME`.
///
/// ```
/// let w = rask_distributed::WorkerOptions::new("tcp://127.0.0.1:8786").nthreads(4);
/// assert_eq!(w.scheduler_address(), "127.0.0.1:8786");
/// ```
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    scheduler: String,
    name: Option<String>,
    nthreads: u32,
    memory_limit: u64,
    local_directory: PathBuf,
    token: Option<String>,
    heartbeat: Duration,
    tls: Option<crate::TlsConfig>,
    thresholds: crate::MemoryThresholds,
}

impl WorkerOptions {
    /// A worker of the scheduler at `address` (`tcp://HOST:PORT` or `HOST:PORT`), with one
    /// thread per core and no memory limit.
    pub fn new(address: &str) -> Self {
        Self {
            scheduler: crate::tls::host_port(address).to_string(),
            name: None,
            nthreads: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            memory_limit: 0,
            local_directory: std::env::temp_dir(),
            token: None,
            heartbeat: Duration::from_secs(1),
            tls: None,
            thresholds: crate::MemoryThresholds::default(),
        }
    }

    /// How many tasks it runs at once.
    pub fn threads(&self) -> u32 {
        self.nthreads
    }

    /// The scheduler's `HOST:PORT`.
    pub fn scheduler_address(&self) -> &str {
        &self.scheduler
    }

    /// How many tasks it runs at once (at least 1).
    pub fn nthreads(mut self, n: u32) -> Self {
        self.nthreads = n.max(1);
        self
    }

    /// Its name (default: its data address).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Its memory limit in bytes (0: none).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Where it keeps files.
    pub fn local_directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.local_directory = dir.into();
        self
    }

    /// The cluster's shared token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// TLS for its connections (the cluster's CA, its certificate and key).
    pub fn tls(mut self, tls: crate::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The fractions of its memory limit at which it spills, pauses and exits.
    pub fn memory_thresholds(mut self, t: crate::MemoryThresholds) -> Self {
        self.thresholds = t;
        self
    }

    /// How often it tells the scheduler it is alive.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }
}

/// How long a worker keeps trying to reach its scheduler.
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);

/// The results a worker holds, shared by its compute threads and its data server.
type Store = Arc<crate::memory::Store>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs a worker until its scheduler closes the connection (or goes away).
pub fn run_worker(options: WorkerOptions) -> Result<(), DistributedError> {
    let runtime = crate::server::runtime("rask-worker-io")
        .map_err(DistributedError::io("start the worker's runtime"))?;
    let result = runtime.block_on(work(options));
    runtime.shutdown_background();
    result
}

async fn work(options: WorkerOptions) -> Result<(), DistributedError> {
    // A scheduler that is not listening yet (started at the same time) is tried again, as a
    // Dask worker does, for up to `CONNECT_PATIENCE`.
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    let (stream, local) = loop {
        match crate::tls::dial(&options.scheduler, options.tls.as_ref()).await {
            Ok(s) => break s,
            Err(e) if started.elapsed() >= CONNECT_PATIENCE => {
                return Err(DistributedError::io_at(
                    "connect to the scheduler",
                    &options.scheduler,
                )(e));
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    };
    let here = local.ip();
    let data_listener = TcpListener::bind((here, 0))
        .await
        .map_err(DistributedError::io("open the data port"))?;
    let data = data_listener
        .local_addr()
        .map_err(DistributedError::io("read the data port"))?
        .to_string();
    let (read, write) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(1 << 16, read);
    let mut writer = BufWriter::with_capacity(1 << 16, write);
    let hello = Hello {
        protocol: PROTOCOL,
        token: options.token.clone(),
        peer: Peer::Worker(WorkerHello {
            name: options
                .name
                .clone()
                .unwrap_or_else(|| format!("tcp://{data}")),
            nthreads: options.nthreads,
            memory_limit: options.memory_limit,
            data: data.clone(),
            pid: std::process::id(),
            local_directory: options.local_directory.display().to_string(),
            ops: advertised_ops(),
        }),
    };
    let mut buf = Vec::new();
    write_frame(&mut writer, &hello)
        .await
        .map_err(DistributedError::io("greet the scheduler"))?;
    writer
        .flush()
        .await
        .map_err(DistributedError::io("greet the scheduler"))?;
    match read_message::<_, Welcome>(&mut reader, &mut buf).await {
        Ok(Some(Welcome::Accepted { .. })) => {}
        Ok(Some(Welcome::Refused { reason })) => return Err(DistributedError::Refused(reason)),
        Ok(None) | Err(_) => {
            return Err(DistributedError::Refused(
                "the scheduler hung up during the handshake".into(),
            ));
        }
    }
    // Results past the target fraction of the limit are spilled to this worker's own folder.
    let limit = options.memory_limit;
    let thresholds = options.thresholds;
    let target = (limit as f64 * thresholds.target) as u64;
    let spill_dir = options.local_directory.join(format!(
        "rask-worker-{}-{}",
        std::process::id(),
        data.replace([':', '.'], "-")
    ));
    let store: Store = Arc::new(crate::memory::Store::new(target, spill_dir));
    tokio::spawn(serve_data(
        data_listener,
        Arc::clone(&store),
        options.token.clone(),
        options.tls.clone(),
    ));
    let (out, out_rx) = unbounded_channel::<FromWorker>();
    tokio::spawn(crate::server::write_loop(writer, out_rx));
    let pool = Pool::start(options.nthreads, Arc::clone(&store), out.clone());
    let beat = out.clone();
    let beat_store = Arc::clone(&store);
    let every = options.heartbeat;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let (held, spilled) = beat_store.bytes();
            if beat.send(FromWorker::Heartbeat { held, spilled }).is_err() {
                return;
            }
        }
    });
    if limit > 0 {
        // Resident memory, watched: pause past `pause`, exit past `terminate`.
        let (pool, out, dir) = (Arc::clone(&pool), out.clone(), store.dir().to_path_buf());
        let store_w = Arc::clone(&store);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let mut rss = crate::memory::rss() as f64;
                // Memory kept for reuse (spare block buffers) goes first, before results.
                if rss > thresholds.spill * limit as f64
                    && rask_graph::registry::release_caches() > 0
                {
                    rss = crate::memory::rss() as f64;
                }
                if rss > thresholds.terminate * limit as f64 {
                    eprintln!(
                        "rask worker: {} resident, past {:.0}% of its memory limit ({}): restarting",
                        crate::client::memory_text(rss as u64),
                        thresholds.terminate * 100.0,
                        crate::client::memory_text(limit)
                    );
                    let _ = std::fs::remove_dir_all(&dir);
                    std::process::exit(3);
                }
                if rss > thresholds.spill * limit as f64 {
                    // Resident memory past what the results' sizes say: spill a tenth.
                    let (held, _) = store_w.bytes();
                    store_w.spill_some(held / 10 + 1);
                }
                let paused = rss > thresholds.pause * limit as f64;
                if pool.set_paused(paused) && out.send(FromWorker::Paused { paused }).is_err() {
                    return;
                }
            }
        });
    }
    let peers = Peers {
        idle: Arc::default(),
        token: options.token.clone(),
        tls: options.tls.clone(),
    };
    let mut ops: HashMap<u32, Result<Arc<dyn Op>, String>> = HashMap::new();
    loop {
        let msg = match read_message::<_, ToWorker>(&mut reader, &mut buf).await {
            Ok(Some(msg)) => msg,
            Ok(None) | Err(_) => break,
        };
        match msg {
            ToWorker::Compute { ops: defs, tasks } => {
                for (i, op) in defs {
                    let decoded = registry::decode_op(&op.name, &op.bytes)
                        .map_err(|e| format!("op `{}` did not decode here: {e}", op.name));
                    ops.insert(i, decoded);
                }
                for task in tasks {
                    let op = match ops.get(&task.op) {
                        Some(Ok(op)) => Arc::clone(op),
                        Some(Err(e)) => {
                            fail_setup(&out, task.id, e.clone());
                            continue;
                        }
                        None => {
                            fail_setup(&out, task.id, format!("op {} was never defined", task.op));
                            continue;
                        }
                    };
                    let remote = task.args.iter().any(|a| matches!(a, RunArg::Remote { .. }));
                    if remote {
                        let (store, out, pool, peers, here) = (
                            Arc::clone(&store),
                            out.clone(),
                            Arc::clone(&pool),
                            peers.clone(),
                            data.clone(),
                        );
                        tokio::spawn(async move {
                            if let Some(args) = gather(&task, &store, &peers, &out, &here).await {
                                pool.push(task, op, args);
                            }
                        });
                    } else if let Some(args) = gather(&task, &store, &peers, &out, &data).await {
                        pool.push(task, op, args);
                    }
                }
            }
            ToWorker::Release { ids } => {
                for id in ids {
                    store.remove(id);
                }
            }
            ToWorker::Cancel { ids } => pool.cancel(&ids),
            ToWorker::Steal { ids } => pool.steal(&ids),
            ToWorker::Close => break,
        }
    }
    pool.stop();
    store.clean_up();
    Ok(())
}

/// The ops this worker has, as `name@version`. For tests of a mixed cluster,
/// [`FAKE_OP_VERSION_ENV`] makes every version this one.
fn advertised_ops() -> Vec<String> {
    let fake = std::env::var(FAKE_OP_VERSION_ENV).ok();
    (registry::op_names().into_iter())
        .map(|n| {
            let v = fake.as_deref().or(registry::op_version(n)).unwrap_or("");
            format!("{n}@{v}")
        })
        .collect()
}

/// For tests: a worker advertises every op at this version instead of its own.
#[doc(hidden)]
pub const FAKE_OP_VERSION_ENV: &str = "RASK_DISTRIBUTED_FAKE_OP_VERSION";

fn fail_setup(out: &UnboundedSender<FromWorker>, id: u64, message: String) {
    let _ = out.send(FromWorker::Failed {
        id,
        failure: WireFailure::Setup(message),
    });
}

/// Task `task`'s argument values: held here, literals, or fetched from other workers. `None`
/// when one could not be had (already reported to the scheduler).
async fn gather(
    task: &RunTask,
    store: &Store,
    peers: &Peers,
    out: &UnboundedSender<FromWorker>,
    here: &str,
) -> Option<Args> {
    // Inputs held elsewhere: one request per worker.
    let mut by_peer: HashMap<&str, Vec<u64>> = HashMap::new();
    for a in &task.args {
        if let RunArg::Remote { id, from } = a {
            match from.first() {
                Some(addr) => by_peer.entry(addr.as_str()).or_default().push(*id),
                None => {
                    fail_setup(out, task.id, format!("no worker holds input {id}"));
                    return None;
                }
            }
        }
    }
    let mut fetched: HashMap<u64, Value> = HashMap::new();
    for (addr, ids) in by_peer {
        match peers.fetch(addr, &ids).await {
            Ok(values) => fetched.extend(ids.into_iter().zip(values)),
            Err(Fetch::Missing(input)) => {
                let _ = out.send(FromWorker::Missing {
                    id: task.id,
                    input,
                    holder: addr.to_string(),
                });
                return None;
            }
            Err(Fetch::Failed(message)) => {
                fail_setup(
                    out,
                    task.id,
                    format!("an input could not be fetched from {addr}: {message}"),
                );
                return None;
            }
        }
    }
    let mut args = Args::new();
    for a in &task.args {
        args.push(match a {
            RunArg::Held(id) => match store.get(*id) {
                Some(v) => v,
                None => {
                    let _ = out.send(FromWorker::Missing {
                        id: task.id,
                        input: *id,
                        holder: here.to_string(),
                    });
                    return None;
                }
            },
            RunArg::Remote { id, .. } => fetched.get(id).cloned()?,
            RunArg::Literal(v) => match registry::decode_value(&v.name, &v.bytes) {
                Ok(v) => v,
                Err(e) => {
                    fail_setup(out, task.id, format!("a literal did not decode: {e}"));
                    return None;
                }
            },
        });
    }
    Some(args)
}

/// Why inputs could not be fetched.
pub(crate) enum Fetch {
    /// The peer does not hold this one (or is gone).
    Missing(u64),
    /// The peer holds it but cannot send it, or sent something that does not decode.
    Failed(String),
}

/// Open connections to other workers' data ports, reused. Fetches run on blocking threads
/// with plain sockets: a value is read straight into its own memory (one copy, from the
/// kernel), which an async read into a buffer cannot do.
#[derive(Clone)]
struct Peers {
    idle: Arc<Mutex<Idle>>,
    token: Option<String>,
    tls: Option<crate::TlsConfig>,
}

impl Peers {
    async fn fetch(&self, addr: &str, ids: &[u64]) -> Result<Vec<Value>, Fetch> {
        let (pool, addr, ids) = (self.clone(), addr.to_string(), ids.to_vec());
        let first = ids[0];
        tokio::task::spawn_blocking(move || {
            let idle = lock(&pool.idle).get_mut(&addr).and_then(Vec::pop);
            let mut stream = match idle {
                Some(s) => s,
                None => connect(&addr, pool.token.as_deref(), pool.tls.as_ref())
                    .map_err(|_| Fetch::Missing(first))?,
            };
            let values = fetch_blocking(&mut *stream, &ids)?;
            lock(&pool.idle).entry(addr).or_default().push(stream);
            Ok(values)
        })
        .await
        .unwrap_or(Err(Fetch::Missing(first)))
    }
}

/// Idle connections to data ports, by address.
type Idle = HashMap<String, Vec<Box<dyn SyncIo>>>;

/// A plain socket to a data port, greeted with the cluster's token.
pub(crate) fn connect(
    addr: &str,
    token: Option<&str>,
    tls: Option<&crate::TlsConfig>,
) -> std::io::Result<Box<dyn SyncIo>> {
    use std::io::Write;
    let mut s = crate::tls::dial_blocking(addr, tls)?;
    let hello = DataHello {
        protocol: PROTOCOL,
        token: token.map(str::to_string),
    };
    let bytes = postcard::to_stdvec(&hello).map_err(std::io::Error::other)?;
    let mut frame = (bytes.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&bytes);
    s.write_all(&frame)?;
    s.flush()?;
    Ok(s)
}

/// Asks the data port on `stream` for `ids` and reads the values (blocking).
pub(crate) fn fetch_blocking(stream: &mut dyn SyncIo, ids: &[u64]) -> Result<Vec<Value>, Fetch> {
    use std::io::Read;
    let lost = |_| Fetch::Missing(ids[0]);
    let request = postcard::to_stdvec(&DataRequest::Get { ids: ids.to_vec() })
        .map_err(|e| Fetch::Failed(e.to_string()))?;
    let mut frame = (request.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&request);
    stream.write_all(&frame).map_err(lost)?;
    stream.flush().map_err(lost)?;
    let mut reader = std::io::BufReader::with_capacity(
        1 << 16,
        Watched {
            stream,
            broke: false,
        },
    );
    let mut buf = Vec::new();
    let mut values = Vec::with_capacity(ids.len());
    for &id in ids {
        let mut len = [0u8; 4];
        reader
            .read_exact(&mut len)
            .map_err(|_| Fetch::Missing(id))?;
        let len = u32::from_le_bytes(len) as usize;
        if len > crate::protocol::MAX_FRAME {
            return Err(Fetch::Failed(format!("a reply frame of {len} bytes")));
        }
        buf.resize(len, 0);
        reader
            .read_exact(&mut buf)
            .map_err(|_| Fetch::Missing(id))?;
        match crate::protocol::decode::<DataReply>(&buf) {
            Ok(DataReply::Value { name, len, .. }) => {
                let len = usize::try_from(len)
                    .map_err(|_| Fetch::Failed(format!("a value of {len} bytes")))?;
                let v = registry::read_value(&name, len, &mut reader).map_err(|e| {
                    // Cut short (the peer died or its connection broke as it sent): the peer
                    // is lost, and the value is made again elsewhere. All of it arrived and
                    // did not decode: an error.
                    if reader.get_ref().broke {
                        Fetch::Missing(id)
                    } else {
                        Fetch::Failed(format!("input {id} did not decode: {e}"))
                    }
                })?;
                values.push(v);
            }
            Ok(DataReply::Missing { .. }) | Err(_) => return Err(Fetch::Missing(id)),
            Ok(DataReply::Unsendable { message, .. }) => return Err(Fetch::Failed(message)),
        }
    }
    Ok(values)
}

/// A peer's stream that remembers whether it broke or ended while a reply was read: a value
/// cut short is a lost peer, not a corrupt value.
struct Watched<'a> {
    stream: &'a mut dyn SyncIo,
    broke: bool,
}

impl std::io::Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.stream.read(buf);
        match &read {
            Ok(0) if !buf.is_empty() => self.broke = true,
            Err(e) if e.kind() != std::io::ErrorKind::Interrupted => self.broke = true,
            _ => {}
        }
        read
    }
}

/// Serves the results in `store` to whoever asks (other workers, clients).
async fn serve_data(
    listener: TcpListener,
    store: Store,
    token: Option<String>,
    tls: Option<crate::TlsConfig>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (store, token, tls) = (Arc::clone(&store), token.clone(), tls.clone());
        tokio::spawn(async move {
            if let Ok(io) = crate::tls::accept(stream, tls.as_ref()).await {
                serve_peer(io, store, token).await;
            }
        });
    }
}

async fn serve_peer(stream: Box<dyn crate::tls::Io>, store: Store, token: Option<String>) {
    let (read, write) = tokio::io::split(stream);
    let mut reader = BufReader::new(read);
    let mut writer = BufWriter::with_capacity(1 << 16, write);
    let mut buf = Vec::new();
    // Nothing is served to a peer of another cluster (or another protocol).
    let hello = tokio::time::timeout(
        Duration::from_secs(10),
        crate::protocol::read_message_within::<_, DataHello>(
            &mut reader,
            &mut buf,
            crate::protocol::MAX_HELLO,
        ),
    )
    .await;
    match hello {
        Ok(Ok(Some(h))) if h.protocol == PROTOCOL && h.token == token => {}
        _ => return,
    }
    while let Ok(Some(DataRequest::Get { ids })) = read_message(&mut reader, &mut buf).await {
        for id in ids {
            let value = store.get(id);
            let Some(value) = value else {
                if write_frame(&mut writer, &DataReply::Missing { id })
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            };
            // A raw view when the value has one (no copy), else its encoding.
            let sent = if let Some((name, bytes)) = registry::value_view(&value) {
                send_value(&mut writer, id, name, bytes).await
            } else {
                match registry::encode_value(&value) {
                    Some(Ok((name, bytes))) => send_value(&mut writer, id, name, &bytes).await,
                    Some(Err(message)) => {
                        write_frame(&mut writer, &DataReply::Unsendable { id, message }).await
                    }
                    None => {
                        let message = format!(
                            "its type `{}` is not registered (register_value!)",
                            value.type_name()
                        );
                        write_frame(&mut writer, &DataReply::Unsendable { id, message }).await
                    }
                }
            };
            if sent.is_err() {
                return;
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
}

async fn send_value<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    id: u64,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let header = DataReply::Value {
        id,
        name: name.to_string(),
        len: bytes.len() as u64,
    };
    write_frame(w, &header).await?;
    w.write_all(bytes).await
}

/// A task ready to run: its inputs are here.
struct Ready {
    priority: u64,
    task: RunTask,
    op: Arc<dyn Op>,
    args: Args,
}

impl PartialEq for Ready {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.task.id) == (other.priority, other.task.id)
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ready {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // A max-heap: the lowest priority number first.
        (other.priority, other.task.id).cmp(&(self.priority, self.task.id))
    }
}

#[derive(Default)]
struct Queue {
    ready: BinaryHeap<Ready>,
    /// Tasks cancelled while their inputs were being fetched.
    cancelled: FxHashSet<u64>,
    stopped: bool,
    /// Past the pause threshold: no new task starts.
    paused: bool,
}

/// Takes the tasks of `ids` that wait in the queue out of it (they will not start here);
/// their ids.
fn take_ready(q: &mut Queue, ids: &[u64]) -> FxHashSet<u64> {
    let wanted: FxHashSet<u64> = ids.iter().copied().collect();
    let mut taken = FxHashSet::default();
    q.ready.retain(|r| {
        let take = wanted.contains(&r.task.id);
        if take {
            taken.insert(r.task.id);
        }
        !take
    });
    taken
}

/// The compute threads.
struct Pool {
    queue: Mutex<Queue>,
    wake: Condvar,
    out: UnboundedSender<FromWorker>,
    store: Store,
}

impl Pool {
    fn start(nthreads: u32, store: Store, out: UnboundedSender<FromWorker>) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            out,
            store,
        });
        for i in 0..nthreads {
            let p = Arc::clone(&pool);
            let _ = std::thread::Builder::new()
                .name(format!("rask-compute-{i}"))
                .spawn(move || p.compute());
        }
        pool
    }

    fn push(&self, task: RunTask, op: Arc<dyn Op>, args: Args) {
        let mut q = lock(&self.queue);
        if q.cancelled.remove(&task.id) {
            let _ = self.out.send(FromWorker::Cancelled { id: task.id });
            return;
        }
        q.ready.push(Ready {
            priority: task.priority,
            task,
            op,
            args,
        });
        drop(q);
        self.wake.notify_one();
    }

    /// Tasks not started are answered `Cancelled`; those still gathering inputs will be.
    fn cancel(&self, ids: &[u64]) {
        let mut q = lock(&self.queue);
        let taken = take_ready(&mut q, ids);
        for id in ids {
            if taken.contains(id) {
                let _ = self.out.send(FromWorker::Cancelled { id: *id });
            } else {
                q.cancelled.insert(*id);
            }
        }
    }

    /// Gives up the tasks of `ids` that have not started (each answered).
    fn steal(&self, ids: &[u64]) {
        let mut q = lock(&self.queue);
        let taken = take_ready(&mut q, ids);
        for id in ids {
            let stolen = taken.contains(id);
            let _ = self.out.send(FromWorker::StealResponse { id: *id, stolen });
        }
    }

    fn stop(&self) {
        lock(&self.queue).stopped = true;
        self.wake.notify_all();
    }

    /// Pauses (no new task starts) or resumes; whether that changed anything.
    fn set_paused(&self, paused: bool) -> bool {
        let mut q = lock(&self.queue);
        let changed = q.paused != paused;
        q.paused = paused;
        drop(q);
        self.wake.notify_all();
        changed
    }

    fn compute(&self) {
        loop {
            let next = {
                let mut q = lock(&self.queue);
                loop {
                    if q.stopped {
                        return;
                    }
                    if !q.paused
                        && let Some(r) = q.ready.pop()
                    {
                        break r;
                    }
                    q = self.wake.wait(q).unwrap_or_else(PoisonError::into_inner);
                }
            };
            let id = next.task.id;
            let _ = self.out.send(FromWorker::Started { ids: vec![id] });
            let started = Instant::now();
            match rask_graph::exec::run_guarded(&*next.op, next.args) {
                Ok(v) => {
                    let seconds = started.elapsed().as_secs_f32();
                    let nbytes = v.nbytes() as u64;
                    self.store.insert(id, v);
                    let _ = self.out.send(FromWorker::Done {
                        id,
                        nbytes,
                        seconds,
                    });
                }
                Err(failure) => {
                    let _ = self.out.send(FromWorker::Failed {
                        id,
                        failure: WireFailure::Op(failure),
                    });
                }
            }
        }
    }
}

/// A worker's options from the environment of a process started by [`LocalCluster`]
/// (`None` when this process is not such a worker).
///
/// [`LocalCluster`]: crate::LocalCluster
pub(crate) fn options_from_env() -> Option<WorkerOptions> {
    let address = std::env::var(WORKER_ENV).ok()?;
    let mut o = WorkerOptions::new(&address);
    if let Some(n) = std::env::var("RASK_DISTRIBUTED_NTHREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        o = o.nthreads(n);
    }
    if let Some(n) = std::env::var("RASK_DISTRIBUTED_MEMORY_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        o = o.memory_limit(n);
    }
    if let Ok(name) = std::env::var("RASK_DISTRIBUTED_NAME") {
        o = o.name(name);
    }
    if let Ok(token) = std::env::var("RASK_DISTRIBUTED_TOKEN") {
        o = o.token(token);
    }
    if let Ok(dir) = std::env::var("RASK_DISTRIBUTED_LOCAL_DIRECTORY") {
        o = o.local_directory(dir);
    }
    match crate::TlsConfig::from_env() {
        Some(Ok(tls)) => o = o.tls(tls),
        Some(Err(e)) => {
            eprintln!("rask worker: {e}");
            std::process::exit(2);
        }
        None => {}
    }
    Some(o)
}

/// The environment variable that makes a process a worker of the scheduler it names.
pub const WORKER_ENV: &str = "RASK_DISTRIBUTED_WORKER";

#[ctor::ctor(unsafe)]
fn worker_hook() {
    if let Some(options) = options_from_env() {
        // SAFETY of running before main: only std facilities and a tokio runtime of our own
        // are used, and the process exits here.
        watch_parent();
        crate::memory::return_freed_memory();
        let code = match run_worker(options) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("rask worker: {e}");
                1
            }
        };
        std::process::exit(code);
    }
}

/// Referenced by the cluster so that the linker keeps this module (and its constructor).
#[inline(never)]
pub(crate) fn hook_linked() -> bool {
    std::hint::black_box(worker_hook as fn()) as usize != 0
}

/// A worker started by a cluster exits when the process that started it does.
fn watch_parent() {
    let parent = std::os::unix::process::parent_id();
    let _ = std::thread::Builder::new()
        .name("rask-parent-watch".into())
        .spawn(move || {
            loop {
                #[allow(clippy::disallowed_methods)] // a poll with nothing to wait on
                std::thread::sleep(Duration::from_millis(200));
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(0);
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::{DataReply, Fetch, fetch_blocking};

    /// Serves one fetch: a reply promising a value of `promised` bytes of type `name`, then
    /// `sent`, then the connection closed.
    fn fetch_from(name: &'static str, promised: u64, sent: Vec<u8>) -> Result<usize, Fetch> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut len = [0u8; 4];
            s.read_exact(&mut len).unwrap();
            let mut request = vec![0u8; u32::from_le_bytes(len) as usize];
            s.read_exact(&mut request).unwrap();
            let reply = postcard::to_stdvec(&DataReply::Value {
                id: 7,
                name: name.into(),
                len: promised,
            })
            .unwrap();
            s.write_all(&(reply.len() as u32).to_le_bytes()).unwrap();
            s.write_all(&reply).unwrap();
            s.write_all(&sent).unwrap();
        });
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let got = fetch_blocking(&mut stream, &[7]).map(|v| v.len());
        peer.join().unwrap();
        got
    }

    /// A peer that dies while it sends a value (the reply promises 8000 bytes; 100 come, then
    /// the connection closes) is a lost peer, whose results are made again — not a value that
    /// did not decode. A value that arrives whole but does not decode is an error.
    #[test]
    fn a_value_cut_short_is_a_lost_peer_and_a_whole_bad_one_an_error() {
        // Read through a buffer (a string) and straight into the value (f64s).
        for name in ["string", "vec<f64>"] {
            match fetch_from(name, 8000, vec![1; 100]) {
                Err(Fetch::Missing(7)) => {}
                Err(Fetch::Missing(other)) => panic!("{name}: input {other} missing"),
                Err(Fetch::Failed(m)) => panic!("{name}: a failure, not a lost peer: {m}"),
                Ok(n) => panic!("{name}: {n} values from 100 of 8000 bytes"),
            }
        }
        // Whole, but not a string (a length of 2, then bytes that are not UTF-8).
        match fetch_from("string", 3, vec![2, 0xff, 0xfe]) {
            Err(Fetch::Failed(m)) => assert!(m.contains("did not decode"), "{m}"),
            Err(Fetch::Missing(_)) => panic!("a whole value that does not decode is no lost peer"),
            Ok(n) => panic!("{n} values from bytes that are not a string"),
        }
        // And a whole value is read.
        assert_eq!(fetch_from("string", 3, vec![2, b'o', b'k']).ok(), Some(1));
    }
}
