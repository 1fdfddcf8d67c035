//! Integration tests of rask-diagnostics: real computations on the local schedulers.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rask_diagnostics::{CacheProfiler, Profiler, ProgressBar, Report, ResourceProfiler};
use rask_graph::delayed::ClosureOp;
use rask_graph::{Key, Scheduler, Value, ops::AddConst, ops::Sum};
use rask_local::{SyncScheduler, ThreadedScheduler};

mod otel;

/// A writer whose bytes a test can read.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A task that takes about `ms` milliseconds.
fn busy(ms: u64) -> Arc<dyn rask_graph::Op> {
    Arc::new(ClosureOp::new("busy", move |a| {
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(ms) {
            std::hint::spin_loop();
        }
        Ok(a[0].clone())
    }))
}

fn threaded(n: usize) -> ThreadedScheduler {
    ThreadedScheduler::builder().num_workers(n).build().unwrap()
}

/// Replaces the seconds figure, which varies.
fn normalize(s: &str) -> String {
    let mut out = String::new();
    for line in s.split_inclusive(['\r', '\n']) {
        match line.rfind("| ") {
            Some(i) if line.contains(" s") => {
                out.push_str(&line[..i]);
                out.push_str("| <t> s");
                out.push_str(&line[line.len() - 1..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[test]
fn progress_bar_writes_one_final_line_when_not_a_terminal() {
    let cap = Capture::default();
    let bar = ProgressBar::builder().writer(cap.clone()).build();
    let (g, key) = rask_testing::independent(1000, Arc::new(AddConst(1)), Arc::new(Sum));
    threaded(2).get(&g, &[key], &[&bar]).unwrap();
    insta::assert_snapshot!(normalize(&cap.text()), @"[########################################] | 100% Completed | <t> s");
}

#[test]
fn progress_bar_redraws_in_place_on_a_terminal() {
    let cap = Capture::default();
    let bar = ProgressBar::builder()
        .writer(cap.clone())
        .terminal(true)
        .interval(Duration::from_millis(5))
        .build();
    let (g, key) = rask_testing::chain(40, busy(2));
    SyncScheduler.get(&g, &[key], &[&bar]).unwrap();
    let text = cap.text();
    assert!(text.matches('\r').count() >= 3, "{text:?}");
    assert!(text.ends_with(" s\n"), "{text:?}");
    let last = text.rsplit('\r').next().unwrap();
    assert!(last.starts_with("[########################################] | 100% Completed | "));
    // Partial progress was shown on the way.
    assert!(
        text.split('\r')
            .any(|l| l.contains("%") && !l.contains("100%") && !l.is_empty())
    );
}

#[test]
fn profiler_records_every_task_once() {
    let prof = Profiler::new();
    let (g, key) = rask_testing::tree(500, Arc::new(AddConst(1)), Arc::new(Sum));
    threaded(3).get(&g, &[key], &[&prof]).unwrap();
    let records = prof.records();
    assert_eq!(records.len(), 999);
    let mut keys: Vec<&Key> = records.iter().map(|r| &r.key).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 999);
    assert!(records.iter().all(|r| r.start <= r.end
        && !r.failed
        && ["threaded-0", "threaded-1", "threaded-2"].contains(&r.worker.as_str())));
    assert!(
        records
            .iter()
            .all(|r| &*r.op == "add-const" || &*r.op == "sum")
    );
    assert!(records.windows(2).all(|w| w[0].start <= w[1].start));
    prof.clear();
    assert!(prof.records().is_empty());
}

#[test]
fn resource_profiler_samples_while_running() {
    let rprof = ResourceProfiler::new(Duration::from_millis(10));
    let (g, key) = rask_testing::chain(40, busy(5));
    SyncScheduler.get(&g, &[key], &[&rprof]).unwrap();
    let samples = rprof.samples();
    assert!(samples.len() >= 5, "{} samples", samples.len());
    assert!(samples.iter().all(|s| s.rss_bytes > 1_000_000));
    assert!(samples.windows(2).all(|w| w[0].time <= w[1].time));
    // A busy loop on one core shows up as CPU use.
    assert!(samples.iter().any(|s| s.cpu_percent > 20.0), "{samples:?}");
}

#[test]
fn cache_profiler_follows_live_results() {
    // A tree over 256 chunks of 8 KiB: the sync scheduler holds a few at a time.
    let make: Arc<dyn rask_graph::Op> =
        Arc::new(ClosureOp::new("make", |_| Ok(Value::new(vec![1u64; 1024]))));
    let add: Arc<dyn rask_graph::Op> = Arc::new(ClosureOp::new("add", |a| {
        let mut out = a[0].get::<Vec<u64>>()?.clone();
        for v in a.iter().skip(1) {
            for (o, x) in out.iter_mut().zip(v.get::<Vec<u64>>()?) {
                *o += x;
            }
        }
        Ok(Value::new(out))
    }));
    let cprof = CacheProfiler::new();
    let (g, key) = rask_testing::tree(256, make, add);
    let v = SyncScheduler.get(&g, &[key], &[&cprof]).unwrap();
    assert_eq!(v[0].get::<Vec<u64>>().unwrap()[0], 256);
    let chunk = Value::new(vec![1u64; 1024]).nbytes() as u64;
    assert!(cprof.peak_bytes() >= 2 * chunk);
    assert!(
        cprof.peak_bytes() <= 12 * chunk,
        "peak {} chunks",
        cprof.peak_bytes() / chunk
    );
    assert_eq!(cprof.samples().last().unwrap().bytes, 0);
    assert_eq!(cprof.live_bytes(), 0);
}

#[test]
fn report_shows_everything_on_one_page() {
    let (prof, rprof, cprof) = (
        Profiler::new(),
        ResourceProfiler::new(Duration::from_millis(5)),
        CacheProfiler::new(),
    );
    let (g, key) = rask_testing::tree(64, busy(1), Arc::new(Sum));
    threaded(2)
        .get(&g, &[key], &[&prof, &rprof, &cprof])
        .unwrap();
    let dir = std::env::temp_dir().join(format!("rask-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = Report::new()
        .title("tree <reduction>")
        .tasks(&prof)
        .resources(&rprof)
        .cache(&cprof)
        .write(dir.join("profile.html"))
        .unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.contains("<title>tree &lt;reduction&gt;</title>"));
    assert!(html.contains("Task stream (127 tasks, 2 workers)"));
    assert_eq!(html.matches("<rect").count(), 127);
    for panel in ["<h2>CPU", "<h2>Memory", "<h2>Cache"] {
        assert!(html.contains(panel), "{panel}");
    }
    assert!(html.contains("> busy</span>") && html.contains("> sum</span>"));
    // Self-contained: nothing is loaded from anywhere (the SVG namespace is only a name).
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("url("));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_report_that_cannot_be_written_is_an_error() {
    let prof = Profiler::new();
    let err = Report::new()
        .tasks(&prof)
        .write("/nonexistent-dir/profile.html")
        .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"cannot write the report to /nonexistent-dir/profile.html: No such file or directory (os error 2)");
}
