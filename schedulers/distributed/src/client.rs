//! The client: a [`Scheduler`] that sends graphs to a scheduler process and gathers the
//! results from the workers that hold them.

use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use rask_graph::exec::TaskEvents;
use rask_graph::{
    Callback, Callbacks, ComputeError, ComputeFinish, ComputeStart, Graph, Key, Plan, PlanArg,
    Scheduler, TaskError, Value, WorkerId, config, registry,
};
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::error::failed;

/// The halves of a connection to the scheduler (plain or TLS).
type ReadHalf = tokio::io::ReadHalf<Box<dyn crate::tls::Io>>;
type WriteHalf = tokio::io::WriteHalf<Box<dyn crate::tls::Io>>;
use crate::futures::FutureStatus;
use crate::protocol::{
    Encoded, FromClient, Hello, PROTOCOL, Peer, TaskArg, ToClient, Welcome, WireEvent, WireFailure,
    WireTask, WorkerInfo, read_message, write_frame,
};
use crate::{DistributedError, LocalCluster};

/// A connection to a scheduler: computes collections on its cluster (Dask's `Client`).
/// While a `Client` lives, it is the default scheduler of this process
/// ([`compute`](rask_graph::Collection::compute) runs on the cluster).
///
/// ```no_run
/// use rask_distributed::{Client, LocalCluster};
/// use rask_graph::{Arg, Collection, Delayed, Value, ops::AddConst};
///
/// let cluster = LocalCluster::builder().n_workers(2).build()?;
/// let client = Client::new(&cluster)?;
/// println!("{client}");
/// // Registered ops run on the workers; `compute` uses the client while it lives.
/// let x: Delayed<i64> = Delayed::from_op(AddConst(41), vec![Arg::Value(Value::new(1i64))], &[]);
/// assert_eq!(x.compute()?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    link: Arc<Link>,
    _default: Option<config::GlobalSchedulerGuard>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.link.address)
            .finish_non_exhaustive()
    }
}

/// The client's side of the connection: a runtime of its own, and a channel to the task
/// that owns the socket.
pub(crate) struct Link {
    address: String,
    pub(crate) requests: UnboundedSender<Request>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Sends the request `make(reply)` to the connection task and waits for its one answer;
    /// `None` when that task is gone.
    pub(crate) fn ask<T>(&self, make: impl FnOnce(std_mpsc::Sender<T>) -> Request) -> Option<T> {
        let (tx, rx) = std_mpsc::channel();
        self.requests.send(make(tx)).ok()?;
        rx.recv().ok()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let runtime = (self.runtime.lock().unwrap_or_else(PoisonError::into_inner)).take();
        if let Some(rt) = runtime {
            rt.shutdown_background();
        }
    }
}

/// The scheduler's summary: its address, its observability port, its workers.
type Info = (String, Option<String>, Vec<WorkerInfo>);

/// What a computation gets back: per wanted key, its value or why not.
type Outcome = Result<HashMap<Key, Value>, ComputeError>;

/// What the connection task tells a computation: its tasks' events, then its outcome.
pub(crate) enum Reply {
    Events(Vec<WireEvent>),
    Done(Outcome),
}

pub(crate) enum Request {
    Compute {
        enc: Encoding,
        wanted: Vec<Key>,
        /// Whether the computation has callbacks (then its tasks' events are forwarded).
        events: bool,
        reply: std_mpsc::Sender<Reply>,
    },
    Info {
        reply: std_mpsc::Sender<Info>,
    },
    /// Futures: an update whose keys are held until released.
    Submit {
        enc: Encoding,
        wanted: Vec<Key>,
    },
    /// A held key's value, when it is in memory.
    Value {
        key: Key,
        reply: std_mpsc::Sender<Result<Value, ComputeError>>,
    },
    /// Told when a held key is in memory or failed.
    Done {
        key: Key,
        reply: std_mpsc::Sender<()>,
    },
    Status {
        key: Key,
        reply: std_mpsc::Sender<FutureStatus>,
    },
    /// One holder fewer of these keys (a future dropped).
    Release {
        keys: Vec<Key>,
    },
    /// The client goes: the connection closes.
    Close,
}

impl Client {
    /// Connects to the scheduler at `address` (`tcp://HOST:PORT` or `HOST:PORT`).
    pub fn connect(address: &str) -> Result<Client, DistributedError> {
        Self::connect_with(address, None)
    }

    /// Connects to the scheduler at `address`, presenting `token`.
    pub fn connect_with(address: &str, token: Option<&str>) -> Result<Client, DistributedError> {
        Self::connect_tls(address, token, None)
    }

    /// Connects to the scheduler at `address` (`tls://HOST:PORT`), presenting `token`, over
    /// `tls` when given.
    pub fn connect_tls(
        address: &str,
        token: Option<&str>,
        tls: Option<&crate::TlsConfig>,
    ) -> Result<Client, DistributedError> {
        let addr = crate::tls::host_port(address).to_string();
        let tls = tls.cloned();
        let runtime = crate::server::runtime("rask-client")
            .map_err(DistributedError::io("start the client's runtime"))?;
        let token = token.map(str::to_string);
        let (stream, reader, buf) =
            runtime.block_on(handshake(&addr, token.clone(), tls.as_ref()))?;
        let (requests, rx) = unbounded_channel();
        let scheme = if tls.is_some() { "tls" } else { "tcp" };
        runtime.spawn(serve(stream, reader, buf, rx, token, tls));
        let link = Arc::new(Link {
            address: format!("{scheme}://{addr}"),
            requests,
            runtime: Mutex::new(Some(runtime)),
        });
        let default = config::hold_global_scheduler(Arc::new(Shared(Arc::clone(&link))));
        Ok(Client {
            link,
            _default: Some(default),
        })
    }

    /// A client of `cluster`.
    pub fn new(cluster: &LocalCluster) -> Result<Client, DistributedError> {
        Self::connect_tls(&cluster.address(), cluster.token(), cluster.tls())
    }

    /// The scheduler's address.
    pub fn address(&self) -> &str {
        &self.link.address
    }

    fn info(&self) -> Result<Info, DistributedError> {
        (self.link)
            .ask(|reply| Request::Info { reply })
            .ok_or(DistributedError::Disconnected)
    }

    /// The workers connected now.
    pub fn workers(&self) -> Result<Vec<WorkerSummary>, DistributedError> {
        let (_, _, workers) = self.info()?;
        Ok(workers.into_iter().map(WorkerSummary::from).collect())
    }

    /// Where the scheduler serves `/metrics` and `/api/status` (`http://HOST:PORT`), if it
    /// does.
    pub fn dashboard_address(&self) -> Result<Option<String>, DistributedError> {
        Ok(self.info()?.1)
    }

    /// Waits until at least `n` workers are connected (Dask's `wait_for_workers`), at most
    /// `timeout`; the workers then.
    pub fn wait_for_workers(
        &self,
        n: usize,
        timeout: std::time::Duration,
    ) -> Result<Vec<WorkerSummary>, DistributedError> {
        let start = std::time::Instant::now();
        loop {
            let workers = self.workers()?;
            if workers.len() >= n {
                return Ok(workers);
            }
            if start.elapsed() >= timeout {
                return Err(DistributedError::WorkersLate {
                    joined: workers.len(),
                    wanted: n,
                    seconds: timeout.as_secs(),
                });
            }
            // Asking again is the wait: the scheduler does not push joins to clients.
            std::thread::park_timeout(std::time::Duration::from_millis(20));
        }
    }

    /// Dask's summary of the cluster: the scheduler, the workers, threads and memory in all,
    /// then each worker.
    pub fn summary(&self) -> Result<String, DistributedError> {
        let (_, dashboard, workers) = self.info()?;
        let mut workers: Vec<WorkerSummary> =
            workers.into_iter().map(WorkerSummary::from).collect();
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        let threads: u32 = workers.iter().map(|w| w.nthreads).sum();
        let memory: u64 = workers.iter().map(|w| w.memory_limit).sum();
        let mut s = format!(
            "Client\nConnection method: Direct  Scheduler: {}\nMetrics: {}\nScheduler Info\n  Comm: {}  Workers: {}\n  Total threads: {threads}  Total memory: {}\nWorkers\n",
            self.address(),
            dashboard.map_or_else(|| "none".to_string(), |d| format!("{d}/metrics")),
            self.address(),
            workers.len(),
            memory_text(memory)
        );
        for w in &workers {
            s.push_str(&format!(
                "  Worker: {}\n    Comm: tcp://{}  Total threads: {}\n    Memory: {}  Local directory: {}\n",
                w.name,
                w.address,
                w.nthreads,
                memory_text(w.memory_limit),
                w.local_directory
            ));
        }
        Ok(s)
    }

    pub(crate) fn link(&self) -> &Arc<Link> {
        &self.link
    }

    /// Closes the connection (Dask's `client.close()`; dropping the client does too): the
    /// scheduler releases what this client wanted, and its futures can no longer be
    /// resolved.
    pub fn close(self) {}

    /// This client as a scheduler to hand to `compute_with` (it is the default already).
    pub fn scheduler(&self) -> impl Scheduler + 'static {
        Shared(Arc::clone(&self.link))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.link.requests.send(Request::Close);
    }
}

impl fmt::Display for Client {
    /// Dask's one-line repr: `<Client: 'tcp://…' processes=2 threads=4, memory=8.00 GiB>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.workers() {
            Ok(workers) => {
                let threads: u32 = workers.iter().map(|w| w.nthreads).sum();
                let memory: u64 = workers.iter().map(|w| w.memory_limit).sum();
                write!(
                    f,
                    "<Client: '{}' processes={} threads={threads}, memory={}>",
                    self.address(),
                    workers.len(),
                    memory_text(memory)
                )
            }
            Err(_) => write!(f, "<Client: '{}' (disconnected)>", self.address()),
        }
    }
}

/// Bytes as Dask prints them (`16.00 GiB`); `unlimited` for 0.
pub(crate) fn memory_text(bytes: u64) -> String {
    if bytes == 0 {
        return "unlimited".into();
    }
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2} {}", units[u])
}

/// One worker, as the scheduler describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Its name.
    pub name: String,
    /// Its data address (`HOST:PORT`).
    pub address: String,
    /// How many tasks it runs at once.
    pub nthreads: u32,
    /// Its memory limit in bytes (0: none).
    pub memory_limit: u64,
    /// Where it keeps files.
    pub local_directory: String,
    /// Its process id.
    pub pid: u32,
}

impl From<WorkerInfo> for WorkerSummary {
    fn from(w: WorkerInfo) -> Self {
        Self {
            name: w.name,
            address: w.data,
            nthreads: w.nthreads,
            memory_limit: w.memory_limit,
            local_directory: w.local_directory,
            pid: w.pid,
        }
    }
}

/// The client as a scheduler (shared with the default-scheduler registry).
#[derive(Debug)]
struct Shared(Arc<Link>);

impl Scheduler for Shared {
    fn get(
        &self,
        graph: &Graph,
        keys: &[Key],
        callbacks: &[&dyn Callback],
    ) -> Result<Vec<Value>, ComputeError> {
        let plan = Plan::lower(graph, keys)?;
        let enc = encode(&plan)?;
        let mut wanted = plan.output_keys();
        wanted.sort();
        wanted.dedup();
        let cbs = Callbacks::new(callbacks);
        if !cbs.is_empty() {
            cbs.compute_start(&ComputeStart {
                keys: plan.output_keys().into(),
                tasks: plan.len(),
                workers: 0,
            });
        }
        let (tx, rx) = std_mpsc::channel();
        let sent = self.0.requests.send(Request::Compute {
            enc,
            wanted,
            events: !cbs.is_empty(),
            reply: tx,
        });
        let mut replay = Replay::new(&plan, &cbs);
        let outcome = match sent {
            Ok(()) => loop {
                match rx.recv() {
                    Ok(Reply::Events(events)) => replay.events(events),
                    Ok(Reply::Done(outcome)) => break outcome,
                    Err(_) => break Err(failed(DistributedError::Disconnected)),
                }
            },
            Err(_) => Err(failed(DistributedError::Disconnected)),
        };
        if !cbs.is_empty() {
            cbs.compute_finish(&ComputeFinish {
                tasks_done: replay.done,
                error: outcome.as_ref().err().map(ToString::to_string),
            });
        }
        let mut values = outcome?;
        let mut out = Vec::with_capacity(plan.outputs().len());
        for &o in plan.outputs() {
            let key = plan.key(o);
            match values.get(key) {
                Some(v) => out.push(v.clone()),
                None => {
                    return Err(ComputeError::ResultCount {
                        expected: plan.outputs().len(),
                        found: out.len(),
                    });
                }
            }
        }
        values.clear();
        Ok(out)
    }

    fn name(&self) -> &str {
        "distributed"
    }

    /// Keeps the results on the cluster: the collection persisted is a graph of references
    /// to them, held there while it lives (Dask's `persist` on a distributed client).
    fn persist(
        &self,
        graph: &Graph,
        keys: &[Key],
        callbacks: &[&dyn Callback],
    ) -> Result<Graph, ComputeError> {
        let cbs = Callbacks::new(callbacks);
        if !cbs.is_empty() {
            cbs.compute_start(&ComputeStart {
                keys: keys.into(),
                tasks: graph.len(),
                workers: 0,
            });
        }
        let result = crate::futures::persist(&self.0, graph, keys);
        if !cbs.is_empty() {
            cbs.compute_finish(&ComputeFinish {
                tasks_done: 0,
                error: result.as_ref().err().map(ToString::to_string),
            });
        }
        result
    }
}

/// Tells a computation's callbacks what its tasks did on the cluster, as the workers
/// reported it (ids are the plan's, workers are named as they joined).
struct Replay<'a> {
    plan: &'a Plan,
    cbs: &'a Callbacks<'a>,
    ids: HashMap<&'a Key, u32>,
    workers: HashMap<String, WorkerId>,
    done: usize,
}

impl<'a> Replay<'a> {
    fn new(plan: &'a Plan, cbs: &'a Callbacks<'a>) -> Self {
        let ids = if cbs.is_empty() {
            HashMap::new()
        } else {
            (plan.keys().iter().enumerate())
                .map(|(i, k)| (k, i as u32))
                .collect()
        };
        Self {
            plan,
            cbs,
            ids,
            workers: HashMap::new(),
            done: 0,
        }
    }

    fn worker(&mut self, name: String) -> WorkerId {
        self.workers
            .entry(name)
            .or_insert_with_key(|n| WorkerId::new(n.as_str()))
            .clone()
    }

    fn events(&mut self, events: Vec<WireEvent>) {
        for e in events {
            match e {
                WireEvent::Start { key, worker } => {
                    let Some(&id) = self.ids.get(&key) else {
                        continue;
                    };
                    let worker = self.worker(worker);
                    TaskEvents::new(self.plan, self.cbs, &worker).start(id);
                }
                WireEvent::Finish {
                    key,
                    worker,
                    nbytes,
                    error,
                } => {
                    let Some(&id) = self.ids.get(&key) else {
                        continue;
                    };
                    let worker = self.worker(worker);
                    if error.is_none() {
                        self.done += 1;
                    }
                    TaskEvents::new(self.plan, self.cbs, &worker).finished(
                        id,
                        nbytes as usize,
                        error.as_deref(),
                    );
                }
                WireEvent::Released { key, nbytes } => {
                    let Some(&id) = self.ids.get(&key) else {
                        continue;
                    };
                    let worker = self.worker(String::new());
                    TaskEvents::new(self.plan, self.cbs, &worker).released(id, nbytes as usize);
                }
            }
        }
    }
}

/// The plan's ops (each distinct one encoded once) and tasks, as the wire carries them; an
/// unregistered op or literal is an error naming its task, before anything is sent.
pub(crate) fn encode(plan: &Plan) -> Result<Encoding, ComputeError> {
    let mut table = registry::OpTable::default();
    let mut labels: Vec<String> = Vec::new();
    let mut versions: Vec<String> = Vec::new();
    let mut tasks = Vec::with_capacity(plan.len());
    for id in 0..plan.len() as u32 {
        let key = plan.key(id);
        let op = table.index(key, plan.op(id))?;
        if op as usize == labels.len() {
            labels.push(plan.op(id).name().to_string());
            let name = registry::op_type_name(plan.op(id)).unwrap_or("");
            versions.push(registry::op_version(name).unwrap_or("").to_string());
        }
        let deps = plan.dependencies(id);
        let mut args = Vec::with_capacity(plan.args(id).len());
        for a in plan.args(id) {
            args.push(match a {
                PlanArg::Task(d) => {
                    let i = deps.iter().position(|x| x == d).unwrap_or(0);
                    TaskArg::Dep(i as u32)
                }
                PlanArg::Value(v) => {
                    let (name, bytes) = registry::encode_task_literal(key, v)?;
                    TaskArg::Literal(Encoded {
                        name: name.to_string(),
                        bytes,
                    })
                }
            });
        }
        tasks.push(WireTask {
            key: key.clone(),
            op,
            args,
            deps: deps.to_vec(),
        });
    }
    let ops = (table.into_ops().into_iter())
        .map(|(name, bytes)| Encoded {
            name: name.to_string(),
            bytes,
        })
        .collect();
    Ok(Encoding {
        ops,
        labels,
        versions,
        tasks,
    })
}

/// A plan as the wire carries it: the distinct ops, their names, the tasks.
pub(crate) struct Encoding {
    pub ops: Vec<Encoded>,
    pub labels: Vec<String>,
    pub versions: Vec<String>,
    pub tasks: Vec<WireTask>,
}

async fn handshake(
    addr: &str,
    token: Option<String>,
    tls: Option<&crate::TlsConfig>,
) -> Result<(WriteHalf, BufReader<ReadHalf>, Vec<u8>), DistributedError> {
    let (stream, _) = crate::tls::dial(addr, tls)
        .await
        .map_err(DistributedError::io_at("connect to the scheduler", addr))?;
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(1 << 16, read);
    let hello = Hello {
        protocol: PROTOCOL,
        token,
        peer: Peer::Client {
            name: format!("client-{}", std::process::id()),
        },
    };
    let mut w = BufWriter::new(&mut write);
    write_frame(&mut w, &hello)
        .await
        .map_err(DistributedError::io("greet the scheduler"))?;
    w.flush()
        .await
        .map_err(DistributedError::io("greet the scheduler"))?;
    drop(w);
    let mut buf = Vec::new();
    match read_message::<_, Welcome>(&mut reader, &mut buf).await {
        Ok(Some(Welcome::Accepted { .. })) => Ok((write, reader, buf)),
        Ok(Some(Welcome::Refused { reason })) => Err(DistributedError::Refused(reason)),
        Ok(None) | Err(_) => Err(DistributedError::Refused(
            "the scheduler hung up during the handshake".into(),
        )),
    }
}

/// What the client's connection task hears.
enum Event {
    Request(Request),
    FromScheduler(ToClient),
    Gathered {
        waiter: Waiter,
        key: Key,
        value: Result<Value, DistributedError>,
    },
    Lost,
}

/// Who waits for a key's value.
enum Waiter {
    /// A computation (by number).
    Compute(u64),
    /// A future's `result`.
    Future(std_mpsc::Sender<Result<Value, ComputeError>>),
}

/// A computation waiting for its keys.
struct Pending {
    wanted: Vec<Key>,
    got: HashMap<Key, Value>,
    /// The keys whose events it is told (all its tasks', when it has callbacks).
    watched: Vec<Key>,
    reply: std_mpsc::Sender<Reply>,
}

/// Where a key the client holds stands.
#[derive(Clone)]
enum KeyState {
    Pending,
    Memory {
        id: u64,
        who_has: Vec<String>,
    },
    /// It failed: the error, kept to answer everyone who asks.
    Erred(ComputeError),
}

/// A key the client holds: how many holders (computations and futures), where it stands, and
/// who waits.
struct Entry {
    holders: usize,
    state: KeyState,
    values: Vec<Waiter>,
    done: Vec<std_mpsc::Sender<()>>,
}

/// The connection task's tables.
struct Conn {
    out: UnboundedSender<FromClient>,
    events: UnboundedSender<Event>,
    token: Option<String>,
    tls: Option<crate::TlsConfig>,
    keys: HashMap<Key, Entry>,
    pending: HashMap<u64, Pending>,
    watching: HashMap<Key, Vec<u64>>,
    /// Updates not known to be accepted yet: their keys (a refusal names its update).
    updates: HashMap<u64, Vec<Key>>,
    info: Vec<std_mpsc::Sender<Info>>,
    next: u64,
}

impl Conn {
    /// Sends an update wanting `wanted`, each held once more.
    fn update(&mut self, enc: Encoding, wanted: Vec<Key>, events: bool) -> u64 {
        self.next += 1;
        for k in &wanted {
            let e = self.keys.entry(k.clone()).or_insert_with(|| Entry {
                holders: 0,
                state: KeyState::Pending,
                values: Vec::new(),
                done: Vec::new(),
            });
            e.holders += 1;
            if matches!(e.state, KeyState::Erred(_)) {
                e.state = KeyState::Pending; // submitted again: tried again
            }
        }
        self.updates.insert(self.next, wanted.clone());
        let _ = self.out.send(FromClient::UpdateGraph {
            id: self.next,
            ops: enc.ops,
            labels: enc.labels,
            versions: enc.versions,
            events,
            tasks: enc.tasks,
            wanted,
        });
        self.next
    }

    /// One holder fewer of each of `keys`; the scheduler is told of those no one holds.
    fn release(&mut self, keys: &[Key]) {
        let mut gone = Vec::new();
        for k in keys {
            if let Some(e) = self.keys.get_mut(k) {
                e.holders = e.holders.saturating_sub(1);
                if e.holders == 0 {
                    self.keys.remove(k);
                    gone.push(k.clone());
                }
            }
        }
        if !gone.is_empty() {
            let _ = self.out.send(FromClient::Release { keys: gone });
        }
    }

    /// Fetches `key` from its workers for `waiter`.
    fn gather_for(&self, waiter: Waiter, key: &Key, id: u64, who_has: &[String]) {
        let (events, key, who_has) = (self.events.clone(), key.clone(), who_has.to_vec());
        let (token, tls) = (self.token.clone(), self.tls.clone());
        tokio::spawn(async move {
            let value = gather(&key, id, &who_has, token, tls).await;
            let _ = events.send(Event::Gathered { waiter, key, value });
        });
    }

    /// Gives `waiter` the value of `key`, or its error, or waits for it.
    fn want_value(&mut self, waiter: Waiter, key: &Key) {
        let Some(e) = self.keys.get_mut(key) else {
            let e = failed(DistributedError::GraphRefused(format!("{key} is not held")));
            self.answer(waiter, key, Err(e));
            return;
        };
        match e.state.clone() {
            KeyState::Pending => e.values.push(waiter),
            KeyState::Memory { id, who_has } => self.gather_for(waiter, key, id, &who_has),
            KeyState::Erred(err) => self.answer(waiter, key, Err(err)),
        }
    }

    fn answer(&mut self, waiter: Waiter, key: &Key, value: Result<Value, ComputeError>) {
        match waiter {
            Waiter::Future(tx) => {
                let _ = tx.send(value);
            }
            Waiter::Compute(c) => match value {
                Ok(v) => {
                    let Some(p) = self.pending.get_mut(&c) else {
                        return;
                    };
                    p.got.insert(key.clone(), v);
                    if p.got.len() == p.wanted.len() {
                        let got = std::mem::take(&mut p.got);
                        self.finish(c, Ok(got));
                    }
                }
                Err(e) => self.finish(c, Err(e)),
            },
        }
    }

    /// `key` is settled (in memory or failed): its waiters are answered or sent to gather.
    fn settle(&mut self, key: &Key, state: KeyState) {
        let Some(e) = self.keys.get_mut(key) else {
            return;
        };
        e.state = state.clone();
        let waiters = std::mem::take(&mut e.values);
        for d in e.done.drain(..) {
            let _ = d.send(());
        }
        for w in waiters {
            match &state {
                KeyState::Memory { id, who_has } => self.gather_for(w, key, *id, who_has),
                KeyState::Erred(err) => self.answer(w, key, Err(err.clone())),
                KeyState::Pending => {}
            }
        }
    }

    /// Answers computation `c` and lets go of what it held.
    fn finish(&mut self, c: u64, outcome: Outcome) {
        let Some(p) = self.pending.remove(&c) else {
            return;
        };
        for k in &p.watched {
            if let Some(v) = self.watching.get_mut(k) {
                v.retain(|x| *x != c);
                if v.is_empty() {
                    self.watching.remove(k);
                }
            }
        }
        self.release(&p.wanted);
        let _ = p.reply.send(Reply::Done(outcome));
    }

    fn request(&mut self, r: Request) {
        match r {
            Request::Compute {
                enc,
                wanted,
                events,
                reply,
            } => {
                let watched: Vec<Key> = if events {
                    enc.tasks.iter().map(|t| t.key.clone()).collect()
                } else {
                    Vec::new()
                };
                let c = self.update(enc, wanted.clone(), events);
                for k in &watched {
                    self.watching.entry(k.clone()).or_default().push(c);
                }
                self.pending.insert(
                    c,
                    Pending {
                        wanted: wanted.clone(),
                        got: HashMap::new(),
                        watched,
                        reply,
                    },
                );
                for k in &wanted {
                    self.want_value(Waiter::Compute(c), k);
                }
            }
            Request::Submit { enc, wanted } => {
                self.update(enc, wanted, false);
            }
            Request::Value { key, reply } => self.want_value(Waiter::Future(reply), &key),
            Request::Done { key, reply } => match self.keys.get_mut(&key) {
                Some(e) if matches!(e.state, KeyState::Pending) => e.done.push(reply),
                _ => {
                    let _ = reply.send(());
                }
            },
            Request::Status { key, reply } => {
                let status = match self.keys.get(&key).map(|e| &e.state) {
                    Some(KeyState::Pending) => FutureStatus::Pending,
                    Some(KeyState::Memory { .. }) => FutureStatus::Finished,
                    Some(KeyState::Erred(_)) => FutureStatus::Error,
                    None => FutureStatus::Released,
                };
                let _ = reply.send(status);
            }
            Request::Release { keys } => self.release(&keys),
            Request::Info { reply } => {
                self.info.push(reply);
                let _ = self.out.send(FromClient::Info);
            }
            Request::Close => {
                // The writer's channel goes: it flushes, shuts the socket, and the scheduler
                // releases what this client wanted.
                self.out = unbounded_channel().0;
                self.lost();
            }
        }
    }

    fn scheduler_said(&mut self, msg: ToClient) {
        match msg {
            ToClient::InMemory {
                key, id, who_has, ..
            } => {
                self.updates.retain(|_, keys| !keys.contains(&key));
                self.settle(&key, KeyState::Memory { id, who_has });
            }
            ToClient::Erred {
                key,
                failed,
                op,
                failure,
            } => {
                self.updates.retain(|_, keys| !keys.contains(&key));
                self.settle(&key, KeyState::Erred(error_of(&failed, &op, failure)));
            }
            ToClient::Refused { id, reason } => {
                for key in self.updates.remove(&id).unwrap_or_default() {
                    let e = failed(DistributedError::GraphRefused(reason.clone()));
                    self.settle(&key, KeyState::Erred(e));
                }
            }
            ToClient::Events(events) => {
                let mut per: HashMap<u64, Vec<WireEvent>> = HashMap::new();
                for e in events {
                    let key = match &e {
                        WireEvent::Start { key, .. }
                        | WireEvent::Finish { key, .. }
                        | WireEvent::Released { key, .. } => key,
                    };
                    if let Some(cs) = self.watching.get(key) {
                        for c in cs {
                            per.entry(*c).or_default().push(e.clone());
                        }
                    }
                }
                for (c, events) in per {
                    if let Some(p) = self.pending.get(&c) {
                        let _ = p.reply.send(Reply::Events(events));
                    }
                }
            }
            ToClient::Info {
                address,
                dashboard,
                workers,
            } => {
                if !self.info.is_empty() {
                    let _ = self.info.remove(0).send((address, dashboard, workers));
                }
            }
        }
    }

    fn lost(&mut self) {
        let keys: Vec<Key> = self.keys.keys().cloned().collect();
        for k in keys {
            self.settle(&k, KeyState::Erred(failed(DistributedError::Disconnected)));
        }
        for (_, p) in self.pending.drain() {
            let _ = p
                .reply
                .send(Reply::Done(Err(failed(DistributedError::Disconnected))));
        }
        self.watching.clear();
        self.info.clear();
    }
}

/// Owns the socket: sends requests, routes what the scheduler reports to the computations
/// and futures that wait for it, gathers results from the workers.
async fn serve(
    write: WriteHalf,
    mut reader: BufReader<ReadHalf>,
    mut buf: Vec<u8>,
    mut requests: UnboundedReceiver<Request>,
    token: Option<String>,
    tls: Option<crate::TlsConfig>,
) {
    let (events, mut rx) = unbounded_channel::<Event>();
    let from_scheduler = events.clone();
    tokio::spawn(async move {
        let listened =
            crate::server::read_loop(&mut reader, &mut buf, &from_scheduler, Event::FromScheduler)
                .await;
        if listened {
            let _ = from_scheduler.send(Event::Lost);
        }
    });
    let forward = events.clone();
    tokio::spawn(async move {
        while let Some(r) = requests.recv().await {
            if forward.send(Event::Request(r)).is_err() {
                return;
            }
        }
    });
    let (out, out_rx) = unbounded_channel::<FromClient>();
    tokio::spawn(crate::server::write_loop(
        BufWriter::with_capacity(1 << 16, write),
        out_rx,
    ));
    let mut conn = Conn {
        out,
        events,
        token,
        tls,
        keys: HashMap::new(),
        pending: HashMap::new(),
        watching: HashMap::new(),
        updates: HashMap::new(),
        info: Vec::new(),
        next: 0,
    };
    while let Some(event) = rx.recv().await {
        match event {
            Event::Request(r) => conn.request(r),
            Event::FromScheduler(msg) => conn.scheduler_said(msg),
            Event::Gathered { waiter, key, value } => {
                conn.answer(waiter, &key, value.map_err(failed));
            }
            Event::Lost => conn.lost(),
        }
    }
}

/// The value of `key` (task `id`), fetched from the first worker of `who_has` that has it
/// (on a blocking thread: the value is read straight into its own memory).
async fn gather(
    key: &Key,
    id: u64,
    who_has: &[String],
    token: Option<String>,
    tls: Option<crate::TlsConfig>,
) -> Result<Value, DistributedError> {
    let (k, addrs) = (key.clone(), who_has.to_vec());
    tokio::task::spawn_blocking(move || {
        let mut last = String::from("no worker holds it");
        for addr in &addrs {
            let mut stream = match crate::worker::connect(addr, token.as_deref(), tls.as_ref()) {
                Ok(s) => s,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            match crate::worker::fetch_blocking(&mut *stream, &[id]) {
                Ok(mut values) => {
                    if let Some(v) = values.pop() {
                        return Ok(v);
                    }
                }
                Err(crate::worker::Fetch::Missing(_)) => last = "it is no longer there".into(),
                Err(crate::worker::Fetch::Failed(message)) => last = message,
            }
        }
        Err(DistributedError::Gather {
            key: k,
            from: addrs.join(", "),
            message: last,
        })
    })
    .await
    .unwrap_or_else(|e| {
        Err(DistributedError::Gather {
            key: key.clone(),
            from: who_has.join(", "),
            message: e.to_string(),
        })
    })
}

/// The computation's error for a key that failed: the task that failed first, by name.
fn error_of(failed_key: &Key, op: &str, failure: WireFailure) -> ComputeError {
    match failure {
        WireFailure::Op(f) => f.named(failed_key, op),
        WireFailure::Setup(message) => ComputeError::Task {
            key: failed_key.clone(),
            op: op.to_string(),
            cause: TaskError::new(format!("could not start on its worker: {message}")),
        },
        WireFailure::Scheduler(message) => failed(DistributedError::Scheduler {
            key: failed_key.clone(),
            message,
        }),
    }
}
