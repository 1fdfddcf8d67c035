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
struct Link {
    address: String,
    requests: UnboundedSender<Request>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("address", &self.address)
            .finish_non_exhaustive()
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
enum Reply {
    Events(Vec<WireEvent>),
    Done(Outcome),
}

enum Request {
    Compute {
        ops: Vec<Encoded>,
        labels: Vec<String>,
        tasks: Vec<WireTask>,
        wanted: Vec<Key>,
        /// Whether the computation has callbacks (then its tasks' events are forwarded).
        events: bool,
        reply: std_mpsc::Sender<Reply>,
    },
    Info {
        reply: std_mpsc::Sender<Info>,
    },
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rask-client")
            .enable_all()
            .build()
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
        let (tx, rx) = std_mpsc::channel();
        (self.link.requests)
            .send(Request::Info { reply: tx })
            .map_err(|_| DistributedError::Disconnected)?;
        rx.recv().map_err(|_| DistributedError::Disconnected)
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

    /// This client as a scheduler to hand to `compute_with` (it is the default already).
    pub fn scheduler(&self) -> impl Scheduler + 'static {
        Shared(Arc::clone(&self.link))
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
        let (ops, labels, tasks) = encode(&plan)?;
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
            ops,
            labels,
            tasks,
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
fn encode(plan: &Plan) -> Result<Encoding, ComputeError> {
    let mut table = registry::OpTable::default();
    let mut labels: Vec<String> = Vec::new();
    let mut tasks = Vec::with_capacity(plan.len());
    for id in 0..plan.len() as u32 {
        let key = plan.key(id);
        let op = table.index(key, plan.op(id))?;
        if op as usize == labels.len() {
            labels.push(plan.op(id).name().to_string());
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
    Ok((ops, labels, tasks))
}

/// A plan as the wire carries it: the distinct ops, their names, the tasks.
type Encoding = (Vec<Encoded>, Vec<String>, Vec<WireTask>);

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
        compute: u64,
        key: Key,
        value: Result<Value, DistributedError>,
    },
    Lost,
}

/// A computation waiting for its keys.
struct Pending {
    wanted: Vec<Key>,
    got: HashMap<Key, Value>,
    /// The keys whose events it is told (all its tasks', when it has callbacks).
    watched: Vec<Key>,
    reply: std_mpsc::Sender<Reply>,
}

/// Owns the socket: sends requests, routes what the scheduler reports to the computations
/// that wait for it, gathers results from the workers.
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
        while let Ok(Some(msg)) = read_message::<_, ToClient>(&mut reader, &mut buf).await {
            if from_scheduler.send(Event::FromScheduler(msg)).is_err() {
                return;
            }
        }
        let _ = from_scheduler.send(Event::Lost);
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
    let mut next = 0u64;
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut waiting: HashMap<Key, Vec<u64>> = HashMap::new();
    let mut watching: HashMap<Key, Vec<u64>> = HashMap::new();
    let mut info: Vec<std_mpsc::Sender<Info>> = Vec::new();
    // Updates in the order sent: a refusal answers the oldest one not yet answered.
    let mut unanswered: std::collections::VecDeque<u64> = Default::default();
    while let Some(event) = rx.recv().await {
        match event {
            Event::Request(Request::Compute {
                ops,
                labels,
                tasks,
                wanted,
                events,
                reply,
            }) => {
                next += 1;
                for k in &wanted {
                    waiting.entry(k.clone()).or_default().push(next);
                }
                let watched: Vec<Key> = if events {
                    tasks.iter().map(|t| t.key.clone()).collect()
                } else {
                    Vec::new()
                };
                for k in &watched {
                    watching.entry(k.clone()).or_default().push(next);
                }
                pending.insert(
                    next,
                    Pending {
                        wanted: wanted.clone(),
                        got: HashMap::new(),
                        watched,
                        reply,
                    },
                );
                unanswered.push_back(next);
                let _ = out.send(FromClient::UpdateGraph {
                    ops,
                    labels,
                    events,
                    tasks,
                    wanted,
                });
            }
            Event::Request(Request::Info { reply }) => {
                info.push(reply);
                let _ = out.send(FromClient::Info);
            }
            Event::FromScheduler(ToClient::InMemory {
                key, id, who_has, ..
            }) => {
                let Some(computes) = waiting.get(&key) else {
                    continue;
                };
                for &c in computes {
                    unanswered.retain(|u| *u != c);
                    let (events, key, who_has) = (events.clone(), key.clone(), who_has.clone());
                    let (token, tls) = (token.clone(), tls.clone());
                    tokio::spawn(async move {
                        let value = gather(&key, id, &who_has, token, tls).await;
                        let _ = events.send(Event::Gathered {
                            compute: c,
                            key,
                            value,
                        });
                    });
                }
            }
            Event::FromScheduler(ToClient::Erred {
                key,
                failed,
                op,
                failure,
            }) => {
                let Some(computes) = waiting.get(&key).cloned() else {
                    continue;
                };
                for c in computes {
                    unanswered.retain(|u| *u != c);
                    let e = error_of(&failed, &op, failure.clone());
                    finish(c, Err(e), &mut pending, &mut waiting, &mut watching, &out);
                }
            }
            Event::FromScheduler(ToClient::Refused { reason }) => {
                if let Some(c) = unanswered.pop_front() {
                    let e = failed(DistributedError::GraphRefused(reason));
                    finish(c, Err(e), &mut pending, &mut waiting, &mut watching, &out);
                }
            }
            Event::FromScheduler(ToClient::Events(events)) => {
                let mut per: HashMap<u64, Vec<WireEvent>> = HashMap::new();
                for e in events {
                    let key = match &e {
                        WireEvent::Start { key, .. }
                        | WireEvent::Finish { key, .. }
                        | WireEvent::Released { key, .. } => key,
                    };
                    if let Some(cs) = watching.get(key) {
                        for c in cs {
                            per.entry(*c).or_default().push(e.clone());
                        }
                    }
                }
                for (c, events) in per {
                    if let Some(p) = pending.get(&c) {
                        let _ = p.reply.send(Reply::Events(events));
                    }
                }
            }
            Event::FromScheduler(ToClient::Info {
                address,
                dashboard,
                workers,
            }) => {
                if !info.is_empty() {
                    let _ = info.remove(0).send((address, dashboard, workers));
                }
            }
            Event::Gathered {
                compute,
                key,
                value,
            } => {
                let Some(p) = pending.get_mut(&compute) else {
                    continue;
                };
                match value {
                    Ok(v) => {
                        p.got.insert(key, v);
                        if p.got.len() == p.wanted.len() {
                            let got = std::mem::take(&mut p.got);
                            finish(
                                compute,
                                Ok(got),
                                &mut pending,
                                &mut waiting,
                                &mut watching,
                                &out,
                            );
                        }
                    }
                    Err(e) => finish(
                        compute,
                        Err(failed(e)),
                        &mut pending,
                        &mut waiting,
                        &mut watching,
                        &out,
                    ),
                }
            }
            Event::Lost => {
                for (_, p) in pending.drain() {
                    let _ = p
                        .reply
                        .send(Reply::Done(Err(failed(DistributedError::Disconnected))));
                }
                waiting.clear();
                watching.clear();
                info.clear();
            }
        }
    }
}

/// Answers computation `c` and releases what it wanted.
fn finish(
    c: u64,
    outcome: Outcome,
    pending: &mut HashMap<u64, Pending>,
    waiting: &mut HashMap<Key, Vec<u64>>,
    watching: &mut HashMap<Key, Vec<u64>>,
    out: &UnboundedSender<FromClient>,
) {
    let Some(p) = pending.remove(&c) else {
        return;
    };
    for (keys, map) in [(&p.wanted, &mut *waiting), (&p.watched, &mut *watching)] {
        for k in keys {
            if let Some(v) = map.get_mut(k) {
                v.retain(|x| *x != c);
                if v.is_empty() {
                    map.remove(k);
                }
            }
        }
    }
    let _ = out.send(FromClient::Release { keys: p.wanted });
    let _ = p.reply.send(Reply::Done(outcome));
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
