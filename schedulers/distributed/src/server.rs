//! The scheduler process: accepts workers and clients over TCP and drives the scheduling state
//! machine ([`rask_scheduling::SchedulerState`]) with what they say.
//!
//! One task owns the state; each connection has a reader task that turns frames into events
//! for it, and a writer task that sends what it decides. Events that arrive together are
//! handled together, and what they decide goes out as one batch per peer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rask_graph::Key;
use rask_scheduling::{
    ClientId, Command, Dependency, Failure, NewTask, SchedulerState, StateConfig, TaskId,
    WorkerRef, WorkerSpec,
};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::protocol::{
    Encoded, FromClient, FromWorker, Hello, MAX_HELLO, PROTOCOL, Peer, RunArg, RunTask, TaskArg,
    ToClient, ToWorker, Welcome, WireEvent, WireFailure, WorkerHello, WorkerInfo, read_message,
    read_message_within, write_frame,
};
use crate::status::{ClusterStatus, TaskCounts, WorkerStatus};

/// How a scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The token every peer must present; `None` accepts any.
    pub token: Option<String>,
    /// A worker silent this long is taken for dead.
    pub worker_ttl: Duration,
    /// How the state places and retries tasks.
    pub state: StateConfig,
    /// How many tasks a worker may have queued beyond its threads.
    pub queue_depth: u32,
    /// TLS for every connection (mutual, by the cluster's CA), or plain TCP.
    pub tls: Option<crate::TlsConfig>,
    /// Where `/metrics` and `/api/status` are served (`HOST:PORT`; port 0 for any free
    /// one), or nowhere.
    pub dashboard: Option<String>,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            token: None,
            worker_ttl: Duration::from_secs(10),
            state: {
                let mut state = StateConfig::default();
                state.work_stealing = true;
                state
            },
            queue_depth: 16,
            tls: None,
            dashboard: None,
        }
    }
}

/// How many workers are connected, for those who wait for them.
#[derive(Debug, Default)]
pub(crate) struct Count {
    n: Mutex<usize>,
    changed: Condvar,
}

impl Count {
    fn set(&self, n: usize) {
        *self.n.lock().unwrap_or_else(PoisonError::into_inner) = n;
        self.changed.notify_all();
    }

    fn get(&self) -> usize {
        *self.n.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let guard = self.n.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |have| *have < n)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// What the state task hears.
enum Event {
    WorkerJoined {
        conn: u64,
        hello: WorkerHello,
        tx: UnboundedSender<ToWorker>,
    },
    FromWorker(u64, FromWorker),
    WorkerGone(u64),
    ClientJoined {
        conn: u64,
        tx: UnboundedSender<ToClient>,
    },
    FromClient(u64, FromClient),
    ClientGone(u64),
    Tick,
    /// The observability port asks for the cluster's status.
    Status(tokio::sync::oneshot::Sender<ClusterStatus>),
    /// The observability port's address (told to clients).
    Dashboard(Option<String>),
}

/// A task as the scheduler keeps it: its op (an index into the op table) and its arguments,
/// still encoded — the scheduler never decodes an op, so one stock binary schedules for any
/// program.
#[derive(Debug)]
struct Spec {
    op: u32,
    args: Vec<TaskArg>,
    /// The client told of its events, if one asked.
    report: Option<ClientId>,
}

type State = SchedulerState<Spec, WireFailure>;

/// What one worker is sent at once: op definitions, then tasks.
type Batch = (Vec<(u32, Encoded)>, Vec<RunTask>);

struct WorkerConn {
    w: WorkerRef,
    tx: UnboundedSender<ToWorker>,
    hello: WorkerHello,
    last_seen: Instant,
    /// Ops already defined on this connection.
    sent_ops: FxHashSet<u32>,
    /// Tasks it said it started and has not answered (blamed if it dies).
    running: FxHashSet<u64>,
    /// Bytes of results it holds in memory and on disk, by its last heartbeat.
    held: u64,
    spilled: u64,
}

struct Server {
    state: State,
    options: SchedulerOptions,
    address: String,
    workers: FxHashMap<u64, WorkerConn>,
    worker_of: FxHashMap<WorkerRef, u64>,
    by_data: HashMap<String, WorkerRef>,
    clients: FxHashMap<u64, (ClientId, UnboundedSender<ToClient>)>,
    ops: Vec<Encoded>,
    /// Per op: the name errors give it.
    labels: Vec<String>,
    /// Per op: `name@version`, what workers are matched on.
    identities: Vec<Arc<str>>,
    op_ids: HashMap<Encoded, u32>,
    live_workers: Arc<Count>,
    commands: Vec<Command<WireFailure>>,
    /// Task events to forward, per client, sent with the next batch.
    events: FxHashMap<ClientId, Vec<WireEvent>>,
    /// Inputs sent to be fetched from another worker, since the start.
    transfers: u64,
    /// Where the observability port is.
    dashboard: Option<String>,
}

/// Serves the scheduler on `listener` until the process ends. `live_workers` counts the
/// workers connected.
pub(crate) async fn serve(
    listener: TcpListener,
    dashboard: Option<TcpListener>,
    options: SchedulerOptions,
    live_workers: Arc<Count>,
) {
    let scheme = if options.tls.is_some() { "tls" } else { "tcp" };
    let address = listener
        .local_addr()
        .map_or_else(|_| "?".into(), |a| format!("{scheme}://{a}"));
    let (tx, rx) = unbounded_channel();
    let ttl = options.worker_ttl;
    let server = Server {
        state: State::new(options.state.clone()),
        options,
        address,
        workers: FxHashMap::default(),
        worker_of: FxHashMap::default(),
        by_data: HashMap::new(),
        clients: FxHashMap::default(),
        ops: Vec::new(),
        labels: Vec::new(),
        identities: Vec::new(),
        op_ids: HashMap::new(),
        live_workers,
        commands: Vec::new(),
        events: FxHashMap::default(),
        transfers: 0,
        dashboard: None,
    };
    let token = server.options.token.clone();
    let tls = server.options.tls.clone();
    tokio::spawn(server.run(rx));
    if let Some(d) = dashboard {
        let dashboard_address = d.local_addr().ok().map(|a| format!("http://{a}"));
        let (ask, mut asks) = unbounded_channel::<tokio::sync::oneshot::Sender<ClusterStatus>>();
        let events = tx.clone();
        tokio::spawn(async move {
            while let Some(reply) = asks.recv().await {
                if events.send(Event::Status(reply)).is_err() {
                    return;
                }
            }
        });
        tokio::spawn(crate::status::serve(d, ask));
        let _ = tx.send(Event::Dashboard(dashboard_address));
    }
    let ticker = tx.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(ttl / 4);
        loop {
            every.tick().await;
            if ticker.send(Event::Tick).is_err() {
                return;
            }
        }
    });
    let mut next_conn = 0u64;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        next_conn += 1;
        let (events, token, tls) = (tx.clone(), token.clone(), tls.clone());
        tokio::spawn(async move {
            // A peer that fails the TLS handshake is dropped before a frame is read.
            if let Ok(io) = crate::tls::accept(stream, tls.as_ref()).await {
                connection(io, next_conn, events, token).await;
            }
        });
    }
}

/// One peer: the handshake, then its frames as events until it hangs up.
async fn connection(
    stream: Box<dyn crate::tls::Io>,
    conn: u64,
    events: UnboundedSender<Event>,
    token: Option<String>,
) {
    let (read, write) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(1 << 16, read);
    let mut writer = BufWriter::with_capacity(1 << 16, write);
    let mut buf = Vec::new();
    // Nothing but the hello is read before the peer is accepted.
    let hello: Hello = match tokio::time::timeout(
        HELLO_TIMEOUT,
        read_message_within(&mut reader, &mut buf, MAX_HELLO),
    )
    .await
    {
        Ok(Ok(Some(h))) => h,
        _ => return,
    };
    let refusal = if hello.protocol != PROTOCOL {
        Some(format!(
            "protocol {} is not this scheduler's ({PROTOCOL})",
            hello.protocol
        ))
    } else if token.is_some() && hello.token != token {
        Some("wrong or missing token".to_string())
    } else {
        None
    };
    if let Some(reason) = refusal {
        let _ = write_frame(&mut writer, &Welcome::Refused { reason }).await;
        let _ = writer.flush().await;
        return;
    }
    if write_frame(&mut writer, &Welcome::Accepted { id: conn as u32 })
        .await
        .is_err()
        || writer.flush().await.is_err()
    {
        return;
    }
    match hello.peer {
        Peer::Worker(hello) => {
            let (tx, rx) = unbounded_channel();
            if events
                .send(Event::WorkerJoined { conn, hello, tx })
                .is_err()
            {
                return;
            }
            tokio::spawn(write_loop(writer, rx));
            if read_loop(&mut reader, &mut buf, &events, |m| {
                Event::FromWorker(conn, m)
            })
            .await
            {
                let _ = events.send(Event::WorkerGone(conn));
            }
        }
        Peer::Client { .. } => {
            let (tx, rx) = unbounded_channel();
            if events.send(Event::ClientJoined { conn, tx }).is_err() {
                return;
            }
            tokio::spawn(write_loop(writer, rx));
            if read_loop(&mut reader, &mut buf, &events, |m| {
                Event::FromClient(conn, m)
            })
            .await
            {
                let _ = events.send(Event::ClientGone(conn));
            }
        }
    }
}

/// How long a peer has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// A runtime of one I/O thread named `name` (with timers): what the scheduler, each worker
/// and each client run their sockets on.
pub(crate) fn runtime(name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
}

/// Reads messages until the peer hangs up (or sends what does not decode), each handed to
/// `events` as `wrap(message)`. Whether `events` is still listened to.
pub(crate) async fn read_loop<R, T, E>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    events: &UnboundedSender<E>,
    wrap: impl Fn(T) -> E,
) -> bool
where
    R: tokio::io::AsyncRead + Unpin,
    T: serde::de::DeserializeOwned,
{
    while let Ok(Some(msg)) = read_message::<_, T>(reader, buf).await {
        if events.send(wrap(msg)).is_err() {
            return false;
        }
    }
    true
}

/// Writes what the state task sends, flushing once per batch; ends when the sender is
/// dropped or the peer is gone.
pub(crate) async fn write_loop<W, T>(mut writer: BufWriter<W>, mut rx: UnboundedReceiver<T>)
where
    W: tokio::io::AsyncWrite + Unpin,
    T: serde::Serialize,
{
    while let Some(msg) = rx.recv().await {
        if write_frame(&mut writer, &msg).await.is_err() {
            return;
        }
        while let Ok(msg) = rx.try_recv() {
            if write_frame(&mut writer, &msg).await.is_err() {
                return;
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

impl Server {
    async fn run(mut self, mut rx: UnboundedReceiver<Event>) {
        while let Some(event) = rx.recv().await {
            self.handle(event);
            // Whatever else has arrived is handled before anything is sent: one batch.
            while let Ok(event) = rx.try_recv() {
                self.handle(event);
            }
            self.carry_out();
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::WorkerJoined { conn, hello, tx } => {
                let spec = WorkerSpec::new(hello.name.clone(), hello.nthreads)
                    .capacity(hello.nthreads + self.options.queue_depth)
                    .ops(hello.ops.iter().map(String::as_str));
                let w = self.state.add_worker(spec);
                self.worker_of.insert(w, conn);
                self.by_data.insert(hello.data.clone(), w);
                self.workers.insert(
                    conn,
                    WorkerConn {
                        w,
                        tx,
                        hello,
                        last_seen: Instant::now(),
                        sent_ops: FxHashSet::default(),
                        running: FxHashSet::default(),
                        held: 0,
                        spilled: 0,
                    },
                );
                self.live_workers.set(self.workers.len());
            }
            Event::FromWorker(conn, msg) => self.worker_said(conn, msg),
            Event::WorkerGone(conn) => self.worker_gone(conn),
            Event::ClientJoined { conn, tx } => {
                let c = self.state.add_client();
                self.clients.insert(conn, (c, tx));
            }
            Event::FromClient(conn, msg) => self.client_said(conn, msg),
            Event::ClientGone(conn) => {
                if let Some((c, _)) = self.clients.remove(&conn) {
                    // What only it wanted is released.
                    self.state.remove_client(c);
                }
            }
            Event::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Event::Dashboard(address) => self.dashboard = address,
            Event::Tick => {
                let ttl = self.options.worker_ttl;
                let silent: Vec<u64> = (self.workers.iter())
                    .filter(|(_, w)| w.last_seen.elapsed() > ttl)
                    .map(|(c, _)| *c)
                    .collect();
                for conn in silent {
                    self.worker_gone(conn);
                }
            }
        }
    }

    fn worker_gone(&mut self, conn: u64) {
        let Some(worker) = self.workers.remove(&conn) else {
            return;
        };
        // Closing its channel ends its writer; a silent worker that wakes up is refused
        // nothing, but every reply it sends is stale.
        let _ = worker.tx.send(ToWorker::Close);
        self.worker_of.remove(&worker.w);
        self.by_data.remove(&worker.hello.data);
        // Blamed: the tasks it said it started and had not answered; if its last words were
        // lost with it (a task that aborts at once), the ones it would have been running —
        // its highest-priority unanswered tasks, one per thread — never those queued behind.
        let mut suspects: Vec<TaskId> = (worker.running.iter())
            .map(|id| TaskId::from_bits(*id))
            .collect();
        if suspects.is_empty() {
            let threads = worker.hello.nthreads.max(1) as usize;
            suspects = self
                .state
                .sent_to(worker.w)
                .into_iter()
                .take(threads)
                .collect();
        }
        self.state.remove_worker(worker.w, &suspects);
        self.live_workers.set(self.workers.len());
    }

    fn worker_said(&mut self, conn: u64, msg: FromWorker) {
        let Some(worker) = self.workers.get_mut(&conn) else {
            return;
        };
        worker.last_seen = Instant::now();
        let w = worker.w;
        match msg {
            FromWorker::Done {
                id,
                nbytes,
                seconds,
            } => {
                worker.running.remove(&id);
                let t = TaskId::from_bits(id);
                if self
                    .state
                    .task_finished(w, t, nbytes, Some(f64::from(seconds)))
                {
                    self.event(t, conn, |key, worker| WireEvent::Finish {
                        key,
                        worker: worker.to_string(),
                        nbytes,
                        error: None,
                    });
                }
            }
            FromWorker::Failed { id, failure } => {
                worker.running.remove(&id);
                let t = TaskId::from_bits(id);
                let message = failure.to_string();
                if self.state.task_erred(w, t, failure) {
                    self.event(t, conn, |key, worker| WireEvent::Finish {
                        key,
                        worker: worker.to_string(),
                        nbytes: 0,
                        error: Some(message),
                    });
                }
            }
            FromWorker::Missing { id, input, holder } => {
                worker.running.remove(&id);
                let holder = self.by_data.get(&holder).copied();
                self.state
                    .missing_data(w, TaskId::from_bits(id), TaskId::from_bits(input), holder);
            }
            FromWorker::StealResponse { id, stolen } => {
                self.state.steal_response(w, TaskId::from_bits(id), stolen);
            }
            FromWorker::Cancelled { id } => {
                worker.running.remove(&id);
                self.state.task_cancelled(w, TaskId::from_bits(id));
            }
            FromWorker::Started { ids } => {
                worker.running.extend(ids.iter().copied());
                for id in ids {
                    self.event(TaskId::from_bits(id), conn, |key, worker| {
                        WireEvent::Start {
                            key,
                            worker: worker.to_string(),
                        }
                    });
                }
            }
            FromWorker::Heartbeat { held, spilled } => {
                worker.held = held;
                worker.spilled = spilled;
            }
            FromWorker::Paused { paused } => self.state.set_paused(w, paused),
        }
    }

    /// Queues an event about task `t`, on the worker of connection `conn`, for the client
    /// that asked for its events.
    fn event(&mut self, t: TaskId, conn: u64, make: impl FnOnce(Key, &str) -> WireEvent) {
        let Some(client) = self.state.payload(t).and_then(|s| s.report) else {
            return;
        };
        let (Some(key), Some(worker)) = (self.state.key(t), self.workers.get(&conn)) else {
            return;
        };
        let e = make(key.clone(), &worker.hello.name);
        self.events.entry(client).or_default().push(e);
    }

    fn client_said(&mut self, conn: u64, msg: FromClient) {
        let Some((c, tx)) = self.clients.get(&conn) else {
            return;
        };
        let (c, tx) = (*c, tx.clone());
        match msg {
            FromClient::UpdateGraph {
                id,
                ops,
                labels,
                versions,
                events,
                tasks,
                wanted,
            } => match self.update_graph(
                c,
                (ops, labels, versions),
                tasks,
                &wanted,
                events.then_some(c),
            ) {
                Ok(()) => {}
                Err(reason) => {
                    let _ = tx.send(ToClient::Refused { id, reason });
                }
            },
            FromClient::Release { keys } => self.state.release_keys(c, &keys),
            FromClient::Info => {
                let workers = (self.workers.values())
                    .map(|w| WorkerInfo {
                        name: w.hello.name.clone(),
                        data: w.hello.data.clone(),
                        nthreads: w.hello.nthreads,
                        memory_limit: w.hello.memory_limit,
                        local_directory: w.hello.local_directory.clone(),
                        pid: w.hello.pid,
                    })
                    .collect();
                let _ = tx.send(ToClient::Info {
                    address: self.address.clone(),
                    dashboard: self.dashboard.clone(),
                    workers,
                });
            }
        }
    }

    fn update_graph(
        &mut self,
        c: ClientId,
        (ops, labels, versions): (Vec<Encoded>, Vec<String>, Vec<String>),
        tasks: Vec<crate::protocol::WireTask>,
        wanted: &[Key],
        report: Option<ClientId>,
    ) -> Result<(), String> {
        // The client's op table, in the scheduler's numbering.
        let mut ids = Vec::with_capacity(ops.len());
        for (i, op) in ops.into_iter().enumerate() {
            let next = self.ops.len() as u32;
            let id = *self.op_ids.entry(op.clone()).or_insert(next);
            if id == next {
                // Placed by name and version: only a worker with the same build of the op.
                let version = versions.get(i).map_or("", String::as_str);
                self.identities
                    .push(format!("{}@{version}", op.name).into());
                self.ops.push(op);
                let label = labels.get(i).cloned();
                self.labels
                    .push(label.unwrap_or_else(|| self.ops[id as usize].name.clone()));
            }
            ids.push(id);
        }
        let n = tasks.len();
        let mut news = Vec::with_capacity(n);
        for (i, t) in tasks.into_iter().enumerate() {
            let Some(&op) = ids.get(t.op as usize) else {
                return Err(format!(
                    "task {} names op {}, of {}",
                    t.key,
                    t.op,
                    ids.len()
                ));
            };
            for a in &t.args {
                if let TaskArg::Dep(d) = a
                    && *d as usize >= t.deps.len()
                {
                    return Err(format!(
                        "task {} reads its input {d}, of {}",
                        t.key,
                        t.deps.len()
                    ));
                }
            }
            news.push(NewTask {
                key: t.key,
                dependencies: t.deps.into_iter().map(Dependency::InUpdate).collect(),
                op: Arc::clone(&self.identities[op as usize]),
                order: i as u64,
                payload: Spec {
                    op,
                    args: t.args,
                    report,
                },
            });
        }
        self.state
            .update_graph(c, news, wanted)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Sends what the state decided: one batch per peer.
    fn carry_out(&mut self) {
        let mut commands = std::mem::take(&mut self.commands);
        let mut compute: FxHashMap<u64, Batch> = FxHashMap::default();
        let mut releases: FxHashMap<u64, Vec<u64>> = FxHashMap::default();
        let mut cancels: FxHashMap<u64, Vec<u64>> = FxHashMap::default();
        let mut steals: FxHashMap<u64, Vec<u64>> = FxHashMap::default();
        // Answering a command here (a steal to a worker gone) may decide more: until none
        // is left.
        loop {
            self.state.drain_commands_into(&mut commands);
            if commands.is_empty() {
                break;
            }
            for cmd in commands.drain(..) {
                match cmd {
                    Command::Run { worker, task } => {
                        let Some(&conn) = self.worker_of.get(&worker) else {
                            continue;
                        };
                        let Some(run) = self.run_task(worker, task) else {
                            continue;
                        };
                        self.transfers += (run.args.iter())
                            .filter(|a| matches!(a, RunArg::Remote { .. }))
                            .count() as u64;
                        let batch = compute.entry(conn).or_default();
                        if let Some(w) = self.workers.get_mut(&conn)
                            && w.sent_ops.insert(run.op)
                        {
                            batch.0.push((run.op, self.ops[run.op as usize].clone()));
                        }
                        batch.1.push(run);
                    }
                    Command::Cancel { worker, task } => {
                        if let Some(&conn) = self.worker_of.get(&worker) {
                            cancels.entry(conn).or_default().push(task.to_bits());
                        }
                    }
                    Command::Steal { victim, task, .. } => match self.worker_of.get(&victim) {
                        Some(&conn) => steals.entry(conn).or_default().push(task.to_bits()),
                        None => self.state.steal_response(victim, task, false),
                    },
                    Command::Release {
                        worker,
                        task,
                        nbytes,
                    } => {
                        if let Some(&conn) = self.worker_of.get(&worker) {
                            releases.entry(conn).or_default().push(task.to_bits());
                        }
                        if let (Some(client), Some(key)) = (
                            self.state.payload(task).and_then(|s| s.report),
                            self.state.key(task),
                        ) {
                            let e = WireEvent::Released {
                                key: key.clone(),
                                nbytes,
                            };
                            self.events.entry(client).or_default().push(e);
                        }
                    }
                    Command::InMemory { client, task } => self.report_memory(client, task),
                    Command::Erred {
                        client,
                        task,
                        failure,
                    } => self.report_error(client, task, &failure),
                }
            }
        }
        self.commands = commands;
        for (conn, (ops, tasks)) in compute {
            if let Some(w) = self.workers.get(&conn) {
                let _ = w.tx.send(ToWorker::Compute { ops, tasks });
            }
        }
        for (conn, ids) in cancels {
            if let Some(w) = self.workers.get(&conn) {
                let _ = w.tx.send(ToWorker::Cancel { ids });
            }
        }
        for (conn, ids) in steals {
            if let Some(w) = self.workers.get(&conn) {
                let _ = w.tx.send(ToWorker::Steal { ids });
            }
        }
        for (conn, ids) in releases {
            if let Some(w) = self.workers.get(&conn) {
                let _ = w.tx.send(ToWorker::Release { ids });
            }
        }
        for (client, events) in std::mem::take(&mut self.events) {
            if let Some(tx) = self.client_tx(client) {
                let _ = tx.send(ToClient::Events(events));
            }
        }
    }

    /// Task `task` as worker `worker` runs it: each input held there, or where to fetch it.
    fn run_task(&self, worker: WorkerRef, task: TaskId) -> Option<RunTask> {
        let spec = self.state.payload(task)?;
        let deps: Vec<TaskId> = self.state.dependencies(task).collect();
        let args = (spec.args.iter())
            .map(|a| match a {
                TaskArg::Dep(i) => {
                    let d = deps[*i as usize];
                    let holders = self.state.who_has(d);
                    if holders.contains(&worker) {
                        RunArg::Held(d.to_bits())
                    } else {
                        let from = (holders.iter())
                            .filter_map(|h| self.worker_of.get(h))
                            .filter_map(|c| self.workers.get(c))
                            .map(|w| w.hello.data.clone())
                            .collect();
                        RunArg::Remote {
                            id: d.to_bits(),
                            from,
                        }
                    }
                }
                TaskArg::Literal(v) => RunArg::Literal(v.clone()),
            })
            .collect();
        Some(RunTask {
            id: task.to_bits(),
            key: self.state.key(task)?.clone(),
            op: spec.op,
            args,
            priority: self.state.priority(task)?,
        })
    }

    /// The cluster as it is now, for the observability port.
    fn status(&self) -> ClusterStatus {
        let mut workers: Vec<WorkerStatus> = (self.workers.values())
            .map(|w| {
                let load = self.state.worker_load(w.w).unwrap_or_default();
                WorkerStatus {
                    name: w.hello.name.clone(),
                    address: w.hello.data.clone(),
                    nthreads: w.hello.nthreads,
                    memory_limit: w.hello.memory_limit,
                    bytes_in_memory: w.held,
                    bytes_spilled: w.spilled,
                    results: load.results,
                    processing: load.in_flight,
                }
            })
            .collect();
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        let [released, waiting, queued, processing, memory, erred] = self.state.counts();
        ClusterStatus {
            address: self.address.clone(),
            workers,
            tasks: TaskCounts {
                released,
                waiting,
                queued,
                processing,
                memory,
                erred,
            },
            transfers: self.transfers,
        }
    }

    fn client_tx(&self, client: ClientId) -> Option<&UnboundedSender<ToClient>> {
        (self.clients.values())
            .find(|(c, _)| *c == client)
            .map(|(_, tx)| tx)
    }

    fn report_memory(&self, client: ClientId, task: TaskId) {
        let (Some(tx), Some(key)) = (self.client_tx(client), self.state.key(task)) else {
            return;
        };
        let who_has = (self.state.who_has(task).iter())
            .filter_map(|h| self.worker_of.get(h))
            .filter_map(|c| self.workers.get(c))
            .map(|w| w.hello.data.clone())
            .collect();
        let _ = tx.send(ToClient::InMemory {
            key: key.clone(),
            id: task.to_bits(),
            nbytes: self.state.nbytes(task),
            who_has,
        });
    }

    fn report_error(&self, client: ClientId, task: TaskId, failure: &Failure<WireFailure>) {
        let (Some(tx), Some(key)) = (self.client_tx(client), self.state.key(task)) else {
            return;
        };
        let (failed, root) = match failure {
            Failure::Dependency { key, cause } => (key.clone(), &**cause),
            other => (key.clone(), other),
        };
        let op = (self.state.task_of(&failed))
            .and_then(|t| self.state.payload(t))
            .map_or_else(String::new, |s| self.labels[s.op as usize].clone());
        let failure = match root {
            Failure::Task(f) => f.clone(),
            other => WireFailure::Scheduler(other.to_string()),
        };
        let _ = tx.send(ToClient::Erred {
            key: key.clone(),
            failed,
            op,
            failure,
        });
    }
}

/// A scheduler serving in this process, on its own thread: what [`LocalCluster`] runs, and
/// what `rask scheduler` runs in the foreground.
///
/// [`LocalCluster`]: crate::LocalCluster
#[derive(Debug)]
pub struct SchedulerHandle {
    address: SocketAddr,
    live_workers: Arc<Count>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dashboard: Option<SocketAddr>,
}

impl SchedulerHandle {
    /// Starts a scheduler listening on `addr` (`"127.0.0.1:0"` for any free port).
    pub fn start(addr: &str, options: SchedulerOptions) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let dashboard = match &options.dashboard {
            Some(d) => {
                let l = std::net::TcpListener::bind(d)?;
                l.set_nonblocking(true)?;
                Some(l)
            }
            None => None,
        };
        let dashboard_address = dashboard.as_ref().and_then(|l| l.local_addr().ok());
        let live_workers = Arc::new(Count::default());
        let live = Arc::clone(&live_workers);
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let runtime = runtime("rask-scheduler")?;
        let thread = std::thread::Builder::new()
            .name("rask-scheduler".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    let dashboard = dashboard.and_then(|d| TcpListener::from_std(d).ok());
                    tokio::select! {
                        () = serve(listener, dashboard, options, live) => {}
                        _ = stop => {}
                    }
                });
                runtime.shutdown_background();
            })?;
        Ok(Self {
            address,
            dashboard: dashboard_address,
            live_workers,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Blocks until the scheduler stops (it serves until the process ends).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where `/metrics` and `/api/status` are served, if anywhere.
    pub fn dashboard_address(&self) -> Option<SocketAddr> {
        self.dashboard
    }

    /// How many workers are connected.
    pub fn workers(&self) -> usize {
        self.live_workers.get()
    }

    /// Waits until at least `n` workers are connected (at most `timeout`); how many are.
    pub fn wait_for_workers(&self, n: usize, timeout: Duration) -> usize {
        self.live_workers.wait_for(n, timeout)
    }
}

impl Drop for SchedulerHandle {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
