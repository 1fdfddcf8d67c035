//! The scheduler's observability port: `/metrics` in Prometheus' text format and
//! `/api/status` as JSON — the same facts, per worker. The live dashboard is built on these.

use std::fmt::Write as _;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

/// The cluster as the scheduler sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterStatus {
    /// The scheduler's address.
    pub address: String,
    /// The connected workers.
    pub workers: Vec<WorkerStatus>,
    /// Tasks by state.
    pub tasks: TaskCounts,
    /// Inputs moved between workers, since the scheduler started.
    pub transfers: u64,
}

/// One worker.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerStatus {
    /// Its name.
    pub name: String,
    /// Its data address.
    pub address: String,
    /// How many tasks it runs at once.
    pub nthreads: u32,
    /// Its memory limit in bytes (0: none).
    pub memory_limit: u64,
    /// Bytes of results it holds in memory (its last heartbeat).
    pub bytes_in_memory: u64,
    /// Bytes of results it has spilled to disk (its last heartbeat).
    pub bytes_spilled: u64,
    /// Results it holds.
    pub results: usize,
    /// Tasks sent to it and not answered.
    pub processing: usize,
}

/// Tasks by state.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct TaskCounts {
    /// Known, not needed now.
    pub released: usize,
    /// Waiting for inputs.
    pub waiting: usize,
    /// Ready, waiting for a worker with room.
    pub queued: usize,
    /// Sent to a worker.
    pub processing: usize,
    /// Results held by workers.
    pub memory: usize,
    /// Failed.
    pub erred: usize,
}

impl ClusterStatus {
    /// The status in Prometheus' text exposition format.
    ///
    /// ```
    /// use rask_distributed::{ClusterStatus, TaskCounts};
    /// let s = ClusterStatus { address: "tcp://h:1".into(), workers: vec![], tasks: TaskCounts::default(), transfers: 3 };
    /// assert!(s.prometheus().contains("rask_scheduler_workers 0\n"));
    /// assert!(s.prometheus().contains("rask_scheduler_transfers_total 3\n"));
    /// ```
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, rows: &[(String, String)]| {
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} {kind}");
            for (labels, value) in rows {
                let _ = writeln!(s, "{name}{labels} {value}");
            }
        };
        gauge(
            "rask_scheduler_workers",
            "Workers connected to the scheduler.",
            "gauge",
            &[(String::new(), self.workers.len().to_string())],
        );
        let t = &self.tasks;
        let states = [
            ("released", t.released),
            ("waiting", t.waiting),
            ("queued", t.queued),
            ("processing", t.processing),
            ("memory", t.memory),
            ("erred", t.erred),
        ];
        gauge(
            "rask_scheduler_tasks",
            "Tasks the scheduler holds, by state.",
            "gauge",
            &states.map(|(k, v)| (format!("{{state=\"{k}\"}}"), v.to_string())),
        );
        gauge(
            "rask_scheduler_transfers_total",
            "Inputs moved between workers.",
            "counter",
            &[(String::new(), self.transfers.to_string())],
        );
        let per = |f: &dyn Fn(&WorkerStatus) -> String| -> Vec<(String, String)> {
            (self.workers.iter())
                .map(|w| (format!("{{worker=\"{}\"}}", escape(&w.name)), f(w)))
                .collect()
        };
        gauge(
            "rask_worker_memory_bytes",
            "Bytes of results a worker holds in memory.",
            "gauge",
            &per(&|w| w.bytes_in_memory.to_string()),
        );
        gauge(
            "rask_worker_spilled_bytes",
            "Bytes of results a worker has spilled to disk.",
            "gauge",
            &per(&|w| w.bytes_spilled.to_string()),
        );
        gauge(
            "rask_worker_memory_limit_bytes",
            "A worker's memory limit (0: none).",
            "gauge",
            &per(&|w| w.memory_limit.to_string()),
        );
        gauge(
            "rask_worker_threads",
            "Tasks a worker runs at once.",
            "gauge",
            &per(&|w| w.nthreads.to_string()),
        );
        gauge(
            "rask_worker_processing",
            "Tasks sent to a worker and not answered.",
            "gauge",
            &per(&|w| w.processing.to_string()),
        );
        s
    }
}

/// A label value as Prometheus quotes it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Asks the scheduler's state task for its status.
pub(crate) type StatusAsk = UnboundedSender<oneshot::Sender<ClusterStatus>>;

async fn status(ask: &StatusAsk) -> Option<ClusterStatus> {
    let (tx, rx) = oneshot::channel();
    ask.send(tx).ok()?;
    rx.await.ok()
}

/// Serves `/metrics` and `/api/status` on `listener`.
pub(crate) async fn serve(listener: TcpListener, ask: StatusAsk) {
    let metrics = {
        let ask = ask.clone();
        move || async move {
            match status(&ask).await {
                Some(s) => (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    s.prometheus(),
                )
                    .into_response(),
                None => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        }
    };
    let api = move || async move {
        match status(&ask).await.map(|s| serde_json::to_string(&s)) {
            Some(Ok(json)) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
            _ => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/status", get(api));
    let _ = axum::serve(listener, app).await;
}
