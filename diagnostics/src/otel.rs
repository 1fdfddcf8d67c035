//! OpenTelemetry: a span per computation and a child span per task, exported by any
//! OpenTelemetry pipeline — OTLP over HTTP/protobuf with [`otlp_provider`] or
//! [`install_otlp`], or the user's own, `tracing` users' included (see
//! [`OtelCallback::with_parent`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::trace::{Span, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use rask_graph::{Callback, ComputeFinish, ComputeStart, TaskFinish, TaskStart, WorkerId};
use rustc_hash::FxHashMap;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many shards the open task spans are kept in (by worker).
const SHARDS: usize = 64;

/// Makes one span per computation (`rask.compute`, with the number of tasks and workers) and a
/// child span per task, named after its op, with the attributes `rask.key`, `rask.op`,
/// `rask.worker`, `rask.nbytes` and, when it failed, `rask.error` and an error status.
///
/// ```
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use rask_diagnostics::otel::OtelCallback;
/// use rask_graph::{Collection, delayed};
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// let otel = OtelCallback::from_provider(&provider);
/// let x = delayed::value(20i64).map("inc", |x| x + 1);
/// x.compute_on(&rask_local::SyncScheduler, &[&otel]).unwrap();
/// let names: Vec<String> = exporter.get_finished_spans().unwrap().iter().map(|s| s.name.to_string()).collect();
/// assert_eq!(names, ["identity", "inc", "rask.compute"]);
/// ```
pub struct OtelCallback {
    tracer: BoxedTracer,
    parent: Option<Context>,
    compute: Mutex<Option<Context>>,
    tasks: Box<[Mutex<FxHashMap<u32, BoxedSpan>>]>,
}

impl std::fmt::Debug for OtelCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelCallback").finish_non_exhaustive()
    }
}

impl OtelCallback {
    /// Spans from `tracer`.
    pub fn new(tracer: BoxedTracer) -> Self {
        Self {
            tracer,
            parent: None,
            compute: Mutex::new(None),
            tasks: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Spans from the global tracer provider (see [`install_otlp`]).
    pub fn global() -> Self {
        Self::new(opentelemetry::global::tracer("rask"))
    }

    /// Spans from a tracer provider.
    pub fn from_provider(provider: &SdkTracerProvider) -> Self {
        Self::new(BoxedTracer::new(Box::new(provider.tracer("rask"))))
    }

    /// Computation spans become children of `parent`, e.g. a `tracing` span's context through
    /// `tracing_opentelemetry::OpenTelemetrySpanExt::context`.
    pub fn with_parent(mut self, parent: Context) -> Self {
        self.parent = Some(parent);
        self
    }

    fn shard(&self, worker: &WorkerId) -> MutexGuard<'_, FxHashMap<u32, BoxedSpan>> {
        lock(&self.tasks[worker.shard() % SHARDS])
    }
}

impl Callback for OtelCallback {
    fn on_compute_start(&self, e: &ComputeStart) {
        let parent = self.parent.clone().unwrap_or_else(Context::current);
        let mut span = self.tracer.start_with_context("rask.compute", &parent);
        span.set_attribute(KeyValue::new("rask.tasks", e.tasks as i64));
        span.set_attribute(KeyValue::new("rask.workers", e.workers as i64));
        span.set_attribute(KeyValue::new("rask.keys", e.keys.len() as i64));
        *lock(&self.compute) = Some(parent.with_span(span));
    }

    fn on_task_start(&self, e: &TaskStart) {
        let Some(cx) = lock(&self.compute).clone() else {
            return;
        };
        let mut span = self.tracer.start_with_context(e.op.to_string(), &cx);
        span.set_attribute(KeyValue::new("rask.key", e.key.to_string()));
        span.set_attribute(KeyValue::new("rask.op", e.op.to_string()));
        span.set_attribute(KeyValue::new("rask.worker", e.worker.to_string()));
        self.shard(&e.worker).insert(e.id, span);
    }

    fn on_task_finish(&self, e: &TaskFinish) {
        let Some(mut span) = self.shard(&e.worker).remove(&e.id) else {
            return;
        };
        span.set_attribute(KeyValue::new("rask.nbytes", e.nbytes as i64));
        if let Some(err) = &e.error {
            span.set_attribute(KeyValue::new("rask.error", err.clone()));
            span.set_status(Status::error(err.clone()));
        }
        span.end();
    }

    fn on_compute_finish(&self, e: &ComputeFinish) {
        // Tasks still open (a failed computation stops without finishing them) end here.
        for shard in self.tasks.iter() {
            for (_, mut span) in lock(shard).drain() {
                span.set_status(Status::error("not finished: the computation stopped"));
                span.end();
            }
        }
        let Some(cx) = lock(&self.compute).take() else {
            return;
        };
        let span = cx.span();
        span.set_attribute(KeyValue::new("rask.tasks_done", e.tasks_done as i64));
        if let Some(err) = &e.error {
            span.set_status(Status::error(err.clone()));
        }
        span.end();
    }
}

/// Why the OTLP exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP exporter for {endpoint}: {message}")]
pub struct OtelError {
    endpoint: String,
    message: String,
}

/// A tracer provider that exports spans in batches over OTLP (HTTP/protobuf) to `endpoint`,
/// the collector's traces URL (e.g. `http://localhost:4318/v1/traces`). When the endpoint
/// cannot be reached the spans are dropped with one warning on stderr; computations are not
/// affected. Call `force_flush` or `shutdown` on it before exiting.
pub fn otlp_provider(endpoint: &str) -> Result<SdkTracerProvider, OtelError> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| OtelError {
            endpoint: endpoint.to_string(),
            message: e.to_string(),
        })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(WarnOnce {
            inner: exporter,
            endpoint: endpoint.to_string(),
            warned: AtomicBool::new(false),
        })
        .build())
}

/// [`otlp_provider`], made the global provider (so that [`OtelCallback::global`] uses it).
pub fn install_otlp(endpoint: &str) -> Result<SdkTracerProvider, OtelError> {
    let provider = otlp_provider(endpoint)?;
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}

/// An exporter that says once, on stderr, that its spans could not be delivered.
#[derive(Debug)]
struct WarnOnce<E> {
    inner: E,
    endpoint: String,
    warned: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for WarnOnce<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        if let Err(e) = &result
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "rask: cannot export spans to {}: {e}; spans are dropped (said once)",
                self.endpoint
            );
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
}
