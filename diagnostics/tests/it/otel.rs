//! OpenTelemetry end to end: spans into the in-memory exporter, over OTLP/HTTP to a receiver
//! started here (its protobuf decoded and checked), under a `tracing` span, and to an endpoint
//! that is not there.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use prost::Message;
use rask_diagnostics::otel::{OtelCallback, otlp_provider};
use rask_graph::delayed::ClosureOp;
use rask_graph::{
    Arg, Graph, Key, Layer, Scheduler, Task, TaskError, Value, ops::AddConst, ops::Sum,
};
use rask_local::{SyncScheduler, ThreadedScheduler};

fn in_memory() -> (InMemorySpanExporter, SdkTracerProvider) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (exporter, provider)
}

#[test]
fn a_span_per_compute_and_a_child_per_task() {
    let (exporter, provider) = in_memory();
    let otel = OtelCallback::from_provider(&provider);
    let (g, key) = rask_testing::tree(8, Arc::new(AddConst(1)), Arc::new(Sum));
    let s = ThreadedScheduler::builder().num_workers(2).build().unwrap();
    s.get(&g, &[key], &[&otel]).unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 16);
    let compute: Vec<_> = spans.iter().filter(|s| s.name == "rask.compute").collect();
    assert_eq!(compute.len(), 1);
    let root = compute[0];
    assert_eq!(root.parent_span_id, SpanId::INVALID);
    let tasks: Vec<_> = spans.iter().filter(|s| s.name != "rask.compute").collect();
    assert!(
        tasks
            .iter()
            .all(|t| t.parent_span_id == root.span_context.span_id())
    );
    assert!(
        tasks
            .iter()
            .all(|t| t.span_context.trace_id() == root.span_context.trace_id())
    );
    let attr = |s: &opentelemetry_sdk::trace::SpanData, k: &str| {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(tasks.iter().filter(|t| t.name == "add-const").count(), 8);
    assert_eq!(tasks.iter().filter(|t| t.name == "sum").count(), 7);
    for t in &tasks {
        assert!(attr(t, "rask.key").is_some_and(|k| k.starts_with("('")));
        assert_eq!(attr(t, "rask.op").as_deref(), Some(&*t.name));
        assert!(attr(t, "rask.worker").is_some_and(|w| w == "threaded-0" || w == "threaded-1"));
        assert_eq!(attr(t, "rask.nbytes").as_deref(), Some("8"));
    }
    assert_eq!(attr(root, "rask.tasks").as_deref(), Some("15"));
}

#[test]
fn a_failed_task_has_an_error_status() {
    let (exporter, provider) = in_memory();
    let otel = OtelCallback::from_provider(&provider);
    let mut l = Layer::new("bad");
    l.insert(
        [],
        Task::new(
            ClosureOp::new("explode", |_| Err(TaskError::new("no good"))),
            [Arg::Value(Value::new(1i64))],
        ),
    );
    let mut g = Graph::new();
    g.add_layer(l);
    assert!(
        SyncScheduler
            .get(&g, &[Key::new("bad", [])], &[&otel])
            .is_err()
    );
    let spans = exporter.get_finished_spans().unwrap();
    let task = spans.iter().find(|s| s.name == "explode").unwrap();
    assert!(
        matches!(&task.status, opentelemetry::trace::Status::Error { description } if description.contains("no good"))
    );
    let compute = spans.iter().find(|s| s.name == "rask.compute").unwrap();
    assert!(matches!(
        compute.status,
        opentelemetry::trace::Status::Error { .. }
    ));
}

/// A minimal OTLP/HTTP receiver: answers 200 to every POST and hands over the bodies.
fn receiver() -> (String, Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut headers = HashMap::new();
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                    }
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    assert_eq!(
                        headers.get("content-type").map(String::as_str),
                        Some("application/x-protobuf")
                    );
                    let _ = tx.send(body);
                    conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n").unwrap();
                }
            });
        }
    });
    (url, rx)
}

#[test]
fn spans_reach_an_otlp_receiver() {
    let (url, bodies) = receiver();
    let provider = otlp_provider(&url).unwrap();
    let otel = OtelCallback::from_provider(&provider);
    let (g, key) = rask_testing::chain(5, Arc::new(AddConst(1)));
    SyncScheduler.get(&g, &[key], &[&otel]).unwrap();
    provider.force_flush().unwrap();
    let mut spans = Vec::new();
    while spans.len() < 6 {
        let body = bodies
            .recv_timeout(Duration::from_secs(10))
            .expect("an export within 10 s");
        let req = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                assert_eq!(ss.scope.as_ref().map(|s| s.name.as_str()), Some("rask"));
                spans.extend(ss.spans);
            }
        }
    }
    assert_eq!(spans.len(), 6);
    let root = spans.iter().find(|s| s.name == "rask.compute").unwrap();
    assert!(root.parent_span_id.is_empty());
    let tasks: Vec<_> = spans.iter().filter(|s| s.name == "add-const").collect();
    assert_eq!(tasks.len(), 5);
    for t in &tasks {
        assert_eq!(t.parent_span_id, root.span_id);
        assert_eq!(t.trace_id, root.trace_id);
        let key = t.attributes.iter().find(|a| a.key == "rask.key").unwrap();
        let Some(AnyValue::StringValue(k)) = key.value.as_ref().and_then(|v| v.value.clone())
        else {
            panic!("rask.key is a string")
        };
        assert!(k.starts_with("('chain', "), "{k}");
        assert!(t.end_time_unix_nano >= t.start_time_unix_nano);
    }
    provider.shutdown().unwrap();
}

#[test]
fn an_unreachable_endpoint_does_not_affect_the_result() {
    // Nothing listens on port 9 of the loopback.
    let provider = otlp_provider("http://127.0.0.1:9/v1/traces").unwrap();
    let otel = OtelCallback::from_provider(&provider);
    let (g, key) = rask_testing::chain(50, Arc::new(AddConst(1)));
    let v = SyncScheduler.get(&g, &[key], &[&otel]).unwrap();
    assert_eq!(*v[0].get::<i64>().unwrap(), 50);
    let started = std::time::Instant::now();
    assert!(
        provider.force_flush().is_err(),
        "the export failed, and said so"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = provider.shutdown();
}

#[test]
fn compute_spans_nest_under_a_tracing_span() {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;
    let (exporter, provider) = in_memory();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("app")));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("pipeline");
        let _entered = span.enter();
        let otel = OtelCallback::from_provider(&provider).with_parent(span.context());
        let (g, key) = rask_testing::chain(3, Arc::new(AddConst(1)));
        SyncScheduler.get(&g, &[key], &[&otel]).unwrap();
    });
    let spans = exporter.get_finished_spans().unwrap();
    let pipeline = spans.iter().find(|s| s.name == "pipeline").unwrap();
    let compute = spans.iter().find(|s| s.name == "rask.compute").unwrap();
    assert_eq!(compute.parent_span_id, pipeline.span_context.span_id());
    assert_eq!(
        compute.span_context.trace_id(),
        pipeline.span_context.trace_id()
    );
}
