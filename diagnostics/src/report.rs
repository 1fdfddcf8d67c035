//! One self-contained HTML page with the task stream and the resource and cache curves.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::{CacheProfiler, Profiler, ResourceProfiler, TaskRecord};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The file could not be written.
    #[error("cannot write the report to {}: {source}", path.display())]
    Write {
        /// Where it was to go.
        path: PathBuf,
        /// Why it could not.
        #[source]
        source: std::io::Error,
    },
}

/// The profilers' pictures on one page, on one time axis: the task stream (a bar per task, a
/// row per worker, coloured by op) above the CPU, memory and cache curves — Dask's
/// `visualize([prof, rprof, cprof])`. Self-contained: inline SVG, no script, no network.
///
/// ```
/// use rask_diagnostics::{CacheProfiler, Profiler, Report};
/// let (prof, cprof) = (Profiler::new(), CacheProfiler::new());
/// let html = Report::new().title("empty").tasks(&prof).cache(&cprof).to_html();
/// assert!(html.starts_with("<!DOCTYPE html>"));
/// ```
#[derive(Debug, Default)]
pub struct Report<'a> {
    title: Option<String>,
    tasks: Option<&'a Profiler>,
    resources: Option<&'a ResourceProfiler>,
    cache: Option<&'a CacheProfiler>,
}

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const MAX_BARS: usize = 200_000;
const PALETTE: [&str; 12] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939",
];

impl<'a> Report<'a> {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// The page's title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Shows the task stream of a [`Profiler`].
    pub fn tasks(mut self, p: &'a Profiler) -> Self {
        self.tasks = Some(p);
        self
    }

    /// Shows the CPU and memory curves of a [`ResourceProfiler`].
    pub fn resources(mut self, p: &'a ResourceProfiler) -> Self {
        self.resources = Some(p);
        self
    }

    /// Shows the cache curve of a [`CacheProfiler`].
    pub fn cache(mut self, p: &'a CacheProfiler) -> Self {
        self.cache = Some(p);
        self
    }

    /// Writes the page to `path`.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<PathBuf, ReportError> {
        let path = path.as_ref().to_path_buf();
        std::fs::write(&path, self.to_html()).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// The page.
    pub fn to_html(&self) -> String {
        let tasks = self.tasks.map(Profiler::records).unwrap_or_default();
        let resources = self
            .resources
            .map(ResourceProfiler::samples)
            .unwrap_or_default();
        let cache = self.cache.map(CacheProfiler::samples).unwrap_or_default();
        let times = tasks
            .iter()
            .flat_map(|r| [r.start, r.end])
            .chain(resources.iter().map(|s| s.time))
            .chain(cache.iter().map(|s| s.time));
        let (t0, t1) = times.fold(
            (None, None),
            |(lo, hi): (Option<Instant>, Option<Instant>), t| {
                (
                    Some(lo.map_or(t, |l| l.min(t))),
                    Some(hi.map_or(t, |h| h.max(t))),
                )
            },
        );
        let axis = Axis {
            t0: t0.unwrap_or_else(Instant::now),
            span: match (t0, t1) {
                (Some(a), Some(b)) => b.duration_since(a).as_secs_f64().max(1e-6),
                _ => 1.0,
            },
        };
        let title = self.title.as_deref().unwrap_or("rask profile");
        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
             <style>body{{font-family:sans-serif;margin:20px}}h2{{font-size:15px;margin:14px 0 4px}}\
             svg text{{font-size:11px;fill:#333}}</style></head><body><h1>{t}</h1>\n",
            t = esc(title)
        );
        if self.tasks.is_some() {
            html.push_str(&task_stream(&tasks, &axis));
        }
        if self.resources.is_some() {
            let cpu: Vec<(Instant, f64)> = resources
                .iter()
                .map(|s| (s.time, s.cpu_percent as f64))
                .collect();
            let mem: Vec<(Instant, f64)> = resources
                .iter()
                .map(|s| (s.time, s.rss_bytes as f64 / 1e6))
                .collect();
            html.push_str(&curve("CPU", "%", &cpu, &axis, false));
            html.push_str(&curve("Memory", "MB", &mem, &axis, false));
        }
        if self.cache.is_some() {
            let c: Vec<(Instant, f64)> = cache
                .iter()
                .map(|s| (s.time, s.bytes as f64 / 1e6))
                .collect();
            html.push_str(&curve("Cache", "MB", &c, &axis, true));
        }
        html.push_str("</body></html>\n");
        html
    }
}

struct Axis {
    t0: Instant,
    span: f64,
}

impl Axis {
    fn x(&self, t: Instant) -> f64 {
        let s = t.saturating_duration_since(self.t0).as_secs_f64();
        LEFT + s / self.span * (WIDTH - LEFT - RIGHT)
    }

    /// Time ticks along the bottom of a panel at height `y`.
    fn ticks(&self, y: f64) -> String {
        let mut s = format!(
            "<line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#999\"/>",
            WIDTH - RIGHT
        );
        for i in 0..=5 {
            let frac = i as f64 / 5.0;
            let x = LEFT + frac * (WIDTH - LEFT - RIGHT);
            let _ = write!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.3} s</text>",
                y + 14.0,
                frac * self.span
            );
        }
        s
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Sorts worker names with their trailing numbers as numbers: `threaded-2` before `threaded-10`.
fn natural_key(name: &str) -> (&str, u64, &str) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = name.split_at(name.len() - digits);
    (stem, number.parse().unwrap_or(0), name)
}

fn task_stream(tasks: &[TaskRecord], axis: &Axis) -> String {
    let mut workers: Vec<&str> = tasks.iter().map(|r| r.worker.as_str()).collect();
    workers.sort_unstable_by_key(|w| natural_key(w));
    workers.dedup();
    let row = (360.0 / workers.len().max(1) as f64).clamp(4.0, 24.0);
    let height = row * workers.len().max(1) as f64 + 30.0;
    let mut colors: FxHashMap<&str, &str> = FxHashMap::default();
    let mut order: Vec<&str> = Vec::new();
    for r in tasks {
        if !colors.contains_key(&*r.op) {
            colors.insert(&r.op, PALETTE[order.len() % PALETTE.len()]);
            order.push(&r.op);
        }
    }
    let mut s = format!(
        "<h2>Task stream ({} tasks, {} workers)</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{WIDTH}\" height=\"{height}\">",
        tasks.len(),
        workers.len()
    );
    for (i, w) in workers.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            i as f64 * row + row * 0.7,
            esc(w)
        );
    }
    for r in tasks.iter().take(MAX_BARS) {
        let i = (workers.binary_search_by_key(&natural_key(r.worker.as_str()), |w| natural_key(w)))
            .unwrap_or(0);
        let x = axis.x(r.start);
        let w = (axis.x(r.end) - x).max(0.5);
        let _ = write!(
            s,
            "<rect x=\"{x:.2}\" y=\"{:.1}\" width=\"{w:.2}\" height=\"{:.1}\" fill=\"{}\"{}>\
             <title>{} {} {:.3} ms</title></rect>",
            i as f64 * row + 1.0,
            (row - 2.0).max(1.0),
            colors[&*r.op],
            if r.failed { " stroke=\"red\"" } else { "" },
            esc(&r.key.to_string()),
            esc(&r.op),
            r.duration().as_secs_f64() * 1e3
        );
    }
    s.push_str(&axis.ticks(height - 28.0));
    s.push_str("</svg>\n<div>");
    for op in &order {
        let _ = write!(
            s,
            "<span style=\"display:inline-block;margin-right:12px\"><span style=\"display:\
             inline-block;width:10px;height:10px;background:{}\"></span> {}</span>",
            colors[op],
            esc(op)
        );
    }
    if tasks.len() > MAX_BARS {
        let _ = write!(
            s,
            "<p>showing the first {MAX_BARS} of {} tasks</p>",
            tasks.len()
        );
    }
    s.push_str("</div>\n");
    s
}

fn curve(name: &str, unit: &str, points: &[(Instant, f64)], axis: &Axis, steps: bool) -> String {
    let height = 140.0;
    let plot = height - 34.0;
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-9);
    let mut s = format!(
        "<h2>{} (max {max:.1} {})</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{WIDTH}\" height=\"{height}\"><text x=\"{:.1}\" y=\"12\" \
         text-anchor=\"end\">{max:.1} {}</text><text x=\"{:.1}\" y=\"{plot:.1}\" \
         text-anchor=\"end\">0</text>",
        esc(name),
        esc(unit),
        LEFT - 6.0,
        esc(unit),
        LEFT - 6.0
    );
    let y = |v: f64| 4.0 + (1.0 - v / max) * (plot - 4.0);
    let mut path = String::new();
    let mut prev: Option<f64> = None;
    for (t, v) in points {
        let x = axis.x(*t);
        if steps && let Some(p) = prev {
            let _ = write!(path, "{x:.2},{:.2} ", y(p));
        }
        let _ = write!(path, "{x:.2},{:.2} ", y(*v));
        prev = Some(*v);
    }
    let _ = write!(
        s,
        "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{path}\"/>"
    );
    s.push_str(&axis.ticks(plot + 2.0));
    s.push_str("</svg>\n");
    s
}
